//! Card numbers: 16 digits = a 5-digit prefix, the member's 10-digit customer number and a Luhn
//! check digit [ours: PAYBACK's real scheme is not public]. The bare 10-digit customer number is
//! accepted wherever a card number is, because the POS help and the Computop field both speak of
//! "the number".

/// A number as the till sent it, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardRef {
    /// A full 16-digit card number (check digit verified).
    Card(String),
    /// A 10-digit customer number.
    Customer(String),
}

/// Why a number was refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardProblem {
    /// Not 10 or 16 digits.
    Format,
    /// 16 digits whose Luhn check digit is wrong.
    CheckDigit,
}

/// The Luhn check digit for `digits` (the digits before the check digit).
pub fn luhn_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// The card number for a prefix and customer number.
pub fn card_number(prefix: &str, customer_number: &str) -> String {
    let body = format!("{prefix}{customer_number}");
    let check = luhn_digit(&body);
    format!("{body}{check}")
}

/// Classifies a number; spaces are ignored (printed cards group digits).
pub fn parse(number: &str) -> Result<CardRef, CardProblem> {
    let digits: String = number.chars().filter(|c| *c != ' ').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardProblem::Format);
    }
    match digits.len() {
        10 => Ok(CardRef::Customer(digits)),
        16 => {
            let (body, check) = digits.split_at(15);
            if luhn_digit(body) == check.as_bytes()[0] - b'0' {
                Ok(CardRef::Card(digits))
            } else {
                Err(CardProblem::CheckDigit)
            }
        }
        _ => Err(CardProblem::Format),
    }
}

/// A card number as receipts show it: the last four digits.
pub fn mask(number: &str) -> String {
    let visible = &number[number.len().saturating_sub(4)..];
    format!("{}{visible}", "*".repeat(number.len().saturating_sub(4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_matches_the_textbook_example() {
        // The standard Luhn example number 7992739871 has check digit 3.
        assert_eq!(luhn_digit("7992739871"), 3);
        // A well-known test card number passes: 4111 1111 1111 1111.
        assert_eq!(luhn_digit("411111111111111"), 1);
    }

    #[test]
    fn numbers_are_classified() {
        assert_eq!(parse("9876543210"), Ok(CardRef::Customer("9876543210".into())));
        let card = card_number("99999", "9876543210");
        assert_eq!(card.len(), 16);
        assert_eq!(parse(&card), Ok(CardRef::Card(card.clone())));
        let spaced = format!("{} {} {} {}", &card[..4], &card[4..8], &card[8..12], &card[12..]);
        assert_eq!(parse(&spaced), Ok(CardRef::Card(card.clone())));
        let mut wrong = card.clone().into_bytes();
        wrong[15] = if wrong[15] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            parse(std::str::from_utf8(&wrong).unwrap()),
            Err(CardProblem::CheckDigit)
        );
        assert_eq!(parse("12345"), Err(CardProblem::Format));
        assert_eq!(parse("98765432x0"), Err(CardProblem::Format));
        assert_eq!(mask(&card), format!("************{}", &card[12..]));
    }
}

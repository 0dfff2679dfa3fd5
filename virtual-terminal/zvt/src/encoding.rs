//! Primitive field encodings used inside ZVT data blocks: packed BCD numbers, nibble digit strings
//! (PANs with masked `E` digits and `F` padding), BCD amounts, and the `F`-nibble length prefixes of
//! LLVAR/LLLVAR fields.
//!
//! Everything here is byte-level and stateless; the BMP layer (`crate::bmp`) decides which encoding a
//! field uses. Sources: PA00P015 §1.2/§13 (field formats) and PA00P016 §5.2.8 (LLVAR/LLLVAR).

use std::fmt;

use thiserror::Error;

/// How tolerant decoders are towards inputs that real terminals or cash registers send but the
/// specification does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecodeMode {
    /// Reject anything the specification does not allow.
    #[default]
    Strict,
    /// Accept known real-world deviations and report each one as a [`Deviation`].
    Lenient,
}

/// A departure from the specification that a lenient decoder accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deviation {
    /// An LLVAR/LLLVAR length prefix used plain digit bytes (`01 02`) instead of `F1 F2`.
    /// The crates.io `zvt` 0.1.0 serializer does this.
    VarLengthWithoutFNibble {
        /// BMP number of the field whose prefix was malformed.
        bmp: u8,
    },
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deviation::VarLengthWithoutFNibble { bmp } => write!(
                f,
                "BMP {bmp:02X}: variable-length prefix without F nibbles (accepted leniently)"
            ),
        }
    }
}

/// Errors of the primitive encodings.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodingError {
    /// A packed-BCD field contained a nibble outside 0–9.
    #[error("invalid BCD byte {byte:#04x}")]
    InvalidBcd {
        /// The offending byte.
        byte: u8,
    },
    /// A number does not fit into the number of BCD digits available.
    #[error("value {value} does not fit into {digits} BCD digits")]
    ValueTooLarge {
        /// The value that was to be encoded.
        value: u64,
        /// The number of digits the field has.
        digits: usize,
    },
    /// A digit string contained a character that has no nibble representation.
    #[error("invalid digit character {0:?}")]
    InvalidDigitChar(char),
    /// A nibble-digit field had a nibble that is not allowed at its position (e.g. `F` not at the end).
    #[error("invalid nibble {nibble:#x} in digit field")]
    InvalidNibble {
        /// The offending nibble.
        nibble: u8,
    },
    /// An LLVAR/LLLVAR length prefix byte was not of the form `Fd` (d = 0–9).
    #[error("invalid variable-length prefix byte {byte:#04x}")]
    InvalidVarLength {
        /// The offending byte.
        byte: u8,
    },
    /// Data too long for an LLVAR (99 bytes) or LLLVAR (999 bytes) field.
    #[error("{len} bytes do not fit a field with {digits} length digits")]
    VarTooLong {
        /// Actual payload length.
        len: usize,
        /// Number of length digits (2 = LLVAR, 3 = LLLVAR).
        digits: usize,
    },
    /// Input ended before the field was complete.
    #[error("truncated field: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were available.
        available: usize,
    },
}

/// Encodes `value` as packed BCD into exactly `bytes` bytes (two digits per byte, most significant first).
pub fn bcd_encode(value: u64, bytes: usize) -> Result<Vec<u8>, EncodingError> {
    let digits = bytes * 2;
    let mut out = vec![0u8; bytes];
    let mut rest = value;
    for slot in out.iter_mut().rev() {
        let lo = (rest % 10) as u8;
        rest /= 10;
        let hi = (rest % 10) as u8;
        rest /= 10;
        *slot = (hi << 4) | lo;
    }
    if rest != 0 {
        return Err(EncodingError::ValueTooLarge { value, digits });
    }
    Ok(out)
}

/// Decodes packed BCD (every nibble 0–9) into a number. Inputs longer than 9 bytes would overflow
/// `u64` and are rejected as too large.
pub fn bcd_decode(bytes: &[u8]) -> Result<u64, EncodingError> {
    let mut value: u64 = 0;
    for &byte in bytes {
        let (hi, lo) = (byte >> 4, byte & 0x0F);
        if hi > 9 || lo > 9 {
            return Err(EncodingError::InvalidBcd { byte });
        }
        value = value
            .checked_mul(100)
            .and_then(|v| v.checked_add(u64::from(hi * 10 + lo)))
            .ok_or(EncodingError::ValueTooLarge {
                value: u64::MAX,
                digits: bytes.len() * 2,
            })?;
    }
    Ok(value)
}

/// Decodes packed BCD into pairs of decimal digits (one `u8` 0–99 per byte), used for dates/times.
pub fn bcd_pairs(bytes: &[u8]) -> Result<Vec<u8>, EncodingError> {
    bytes
        .iter()
        .map(|&byte| {
            let (hi, lo) = (byte >> 4, byte & 0x0F);
            if hi > 9 || lo > 9 {
                Err(EncodingError::InvalidBcd { byte })
            } else {
                Ok(hi * 10 + lo)
            }
        })
        .collect()
}

/// Encodes values 0–99 as one packed-BCD byte each.
pub fn bcd_from_pairs(pairs: &[u8]) -> Result<Vec<u8>, EncodingError> {
    pairs
        .iter()
        .map(|&p| {
            if p > 99 {
                Err(EncodingError::ValueTooLarge {
                    value: u64::from(p),
                    digits: 2,
                })
            } else {
                Ok(((p / 10) << 4) | (p % 10))
            }
        })
        .collect()
}

/// The largest amount a 6-byte BCD field can carry (12 digits of minor units).
pub const MAX_AMOUNT: u64 = 999_999_999_999;

/// A monetary amount in minor currency units (cents for EUR), carried as 6-byte packed BCD (BMP 04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub u64);

impl Amount {
    /// Encodes the amount as the 6 BCD bytes of BMP 04.
    pub fn to_bcd(self) -> Result<[u8; 6], EncodingError> {
        let v = bcd_encode(self.0, 6)?;
        let mut out = [0u8; 6];
        out.copy_from_slice(&v);
        Ok(out)
    }

    /// Decodes the 6 BCD bytes of BMP 04.
    pub fn from_bcd(bytes: &[u8]) -> Result<Self, EncodingError> {
        if bytes.len() != 6 {
            return Err(EncodingError::Truncated {
                needed: 6,
                available: bytes.len(),
            });
        }
        bcd_decode(bytes).map(Amount)
    }
}

impl fmt::Display for Amount {
    /// Shows the amount with two decimals, which is right for EUR and most currencies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// A string of nibble "digits" as used for PANs (BMP 22) and similar BCD-coded fields.
///
/// Characters: `0`–`9`, `D` (separator, allowed in PAN/EF_ID per PA00P015 §3.1.1) and `E` (a masked
/// digit). On the wire an odd number of digits is right-padded with an `F` nibble; the padding is
/// not part of the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Digits(String);

impl Digits {
    /// Builds a digit string, checking that every character is `0`–`9`, `D` or `E`.
    pub fn new(s: impl Into<String>) -> Result<Self, EncodingError> {
        let s = s.into();
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_digit() || *c == 'D' || *c == 'E')) {
            return Err(EncodingError::InvalidDigitChar(c));
        }
        Ok(Digits(s))
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of digits (without padding).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no digits.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Packs the digits two per byte, padding an odd count with a trailing `F` nibble.
    pub fn to_bytes(&self) -> Vec<u8> {
        let nibbles: Vec<u8> = self
            .0
            .bytes()
            .map(|c| match c {
                b'0'..=b'9' => c - b'0',
                b'D' => 0xD,
                _ => 0xE,
            })
            .collect();
        nibbles
            .chunks(2)
            .map(|pair| (pair[0] << 4) | pair.get(1).copied().unwrap_or(0xF))
            .collect()
    }

    /// Unpacks nibble digits. An `F` nibble is only accepted as the very last nibble (padding);
    /// `A`–`C` never occur in ZVT digit fields and are rejected.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let total = bytes.len() * 2;
        let mut s = String::with_capacity(total);
        for (i, nibble) in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]).enumerate() {
            match nibble {
                0..=9 => s.push(char::from(b'0' + nibble)),
                0xD => s.push('D'),
                0xE => s.push('E'),
                0xF if i + 1 == total => {}
                _ => return Err(EncodingError::InvalidNibble { nibble }),
            }
        }
        Ok(Digits(s))
    }
}

impl fmt::Display for Digits {
    /// Masked digits are shown as `*`, which is how receipts show them too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().map(|c| if c == 'E' { '*' } else { c }).collect();
        f.write_str(&shown)
    }
}

/// Writes an LLVAR (`digits` = 2) or LLLVAR (`digits` = 3) length prefix: one `Fd` byte per decimal
/// digit of `len`, most significant first (`12` → `F1 F2`).
pub fn encode_var_len(len: usize, digits: usize) -> Result<Vec<u8>, EncodingError> {
    let max = 10usize.pow(digits as u32) - 1;
    if len > max {
        return Err(EncodingError::VarTooLong { len, digits });
    }
    let mut out = vec![0u8; digits];
    let mut rest = len;
    for slot in out.iter_mut().rev() {
        *slot = 0xF0 | (rest % 10) as u8;
        rest /= 10;
    }
    Ok(out)
}

/// Reads an LLVAR/LLLVAR length prefix from the start of `input`.
///
/// Returns the length and whether the prefix deviated from the `Fd` form. In strict mode only `Fd`
/// bytes are accepted; in lenient mode `0d` bytes (digits without the `F` nibble) are accepted as
/// well and flagged.
pub fn decode_var_len(input: &[u8], digits: usize, mode: DecodeMode) -> Result<(usize, bool), EncodingError> {
    if input.len() < digits {
        return Err(EncodingError::Truncated {
            needed: digits,
            available: input.len(),
        });
    }
    let mut len = 0usize;
    let mut deviated = false;
    for &byte in &input[..digits] {
        let (hi, lo) = (byte >> 4, byte & 0x0F);
        let ok_hi = hi == 0xF || (hi == 0 && mode == DecodeMode::Lenient);
        if !ok_hi || lo > 9 {
            return Err(EncodingError::InvalidVarLength { byte });
        }
        deviated |= hi == 0;
        len = len * 10 + usize::from(lo);
    }
    Ok((len, deviated))
}

/// Renders bytes as upper-case hex separated by spaces (`"06 01 0A"`).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Parses hex text, ignoring whitespace, `:` and `-` separators; useful for CLI input and tests.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b':' && *c != b'-')
        .collect();
    if cleaned.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    cleaned
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            u8::from_str_radix(s, 16).map_err(|_| format!("invalid hex {s:?}"))
        })
        .collect()
}

/// Renders text bytes for humans: printable ASCII as is, everything else as `\xNN`.
///
/// ZVT text is CP437 or a negotiated ISO 8859 set (PA00P015 §9.4.2 tag 14/27); without knowing
/// which, escaping non-ASCII bytes is the only lossless choice.
pub fn escape_text(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7E => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02X}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_amount_examples_from_notes() {
        // 12.50 EUR is 00 00 00 00 12 50 (PA00P015 §13 BMP 04, notes §1.7).
        assert_eq!(Amount(1250).to_bcd().unwrap(), [0x00, 0x00, 0x00, 0x00, 0x12, 0x50]);
        assert_eq!(Amount::from_bcd(&[0, 0, 0, 0, 0x10, 0x00]).unwrap(), Amount(1000));
        assert_eq!(Amount(1000).to_string(), "10.00");
        assert!(Amount(MAX_AMOUNT + 1).to_bcd().is_err());
    }

    #[test]
    fn bcd_rejects_non_digits() {
        assert_eq!(bcd_decode(&[0x12, 0x3A]), Err(EncodingError::InvalidBcd { byte: 0x3A }));
        assert_eq!(bcd_decode(&[0x09, 0x78]).unwrap(), 978);
        assert_eq!(bcd_encode(123456, 3).unwrap(), vec![0x12, 0x34, 0x56]);
        assert!(bcd_encode(1_000_000, 3).is_err());
    }

    #[test]
    fn llvar_prefix_examples_from_p16() {
        // PA00P016 §5.2.8: F1 F2 = 12 bytes; F0 F0 F3 = 3 bytes.
        assert_eq!(encode_var_len(12, 2).unwrap(), vec![0xF1, 0xF2]);
        assert_eq!(encode_var_len(3, 3).unwrap(), vec![0xF0, 0xF0, 0xF3]);
        assert_eq!(
            decode_var_len(&[0xF1, 0xF2], 2, DecodeMode::Strict).unwrap(),
            (12, false)
        );
        assert!(decode_var_len(&[0x01, 0x02], 2, DecodeMode::Strict).is_err());
        assert_eq!(
            decode_var_len(&[0x01, 0x02], 2, DecodeMode::Lenient).unwrap(),
            (12, true)
        );
        assert!(encode_var_len(100, 2).is_err());
    }

    #[test]
    fn masked_pan_from_real_status_information() {
        // Portalum simulator 04 0F: 22 F0 F8 EE EE EE EE EE EE 47 71.
        let d = Digits::from_bytes(&[0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0x47, 0x71]).unwrap();
        assert_eq!(d.as_str(), "EEEEEEEEEEEE4771");
        assert_eq!(d.to_string(), "************4771");
        // Odd digit count gets an F pad nibble.
        let odd = Digits::new("12345").unwrap();
        assert_eq!(odd.to_bytes(), vec![0x12, 0x34, 0x5F]);
        assert_eq!(Digits::from_bytes(&[0x12, 0x34, 0x5F]).unwrap(), odd);
        // F anywhere but last is invalid.
        assert!(Digits::from_bytes(&[0x1F, 0x34]).is_err());
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(parse_hex("06 01-0a:FF").unwrap(), vec![6, 1, 10, 255]);
        assert_eq!(hex(&[6, 1, 10]), "06 01 0A");
        assert!(parse_hex("0").is_err());
        assert_eq!(escape_text(b"a\"\x00"), "a\\\"\\x00");
    }
}

//! Money, points and validity arithmetic, in integers.
//!
//! The seed says 1 point = 1 cent, amounts are "double with two decimals" and points expire at
//! the end of the third calendar year after they were earned. Everything is computed in cents and
//! whole points so no rounding error can create or lose a point; floats appear only at the JSON
//! edge, where `33` stays `33` and `30.87` stays `30.87` as in the seed's examples.

use possim_engine::clock::Millis;
use serde_json::Value;
use time::{Date, Month, OffsetDateTime};

/// An amount of money in cents (EUR).
pub type Cents = i64;

/// Largest amount accepted (10 million EUR): beyond any till, far below overflow.
pub const MAX_CENTS: Cents = 1_000_000_000;

/// Why a JSON number is not an acceptable amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountProblem {
    /// Not a JSON number (e.g. the string `"33"`).
    NotANumber,
    /// Below zero.
    Negative,
    /// More than two decimals.
    TooManyDecimals,
    /// Above [`MAX_CENTS`].
    TooLarge,
}

/// Converts a JSON number with at most two decimals into cents.
///
/// This sees the parsed `f64`, in which float noise such as `10.000000000000002` is within a
/// millionth of a cent and `1e-400` is already `0`; requests are therefore checked on the
/// number as written with [`cents_from_text`], and this is the fallback for values that were
/// never text.
pub fn cents_from_json(value: &Value) -> Result<Cents, AmountProblem> {
    let Some(x) = value.as_f64() else {
        return Err(AmountProblem::NotANumber);
    };
    if x < 0.0 || (x == 0.0 && x.is_sign_negative()) {
        return Err(AmountProblem::Negative);
    }
    let scaled = x * 100.0;
    if scaled > MAX_CENTS as f64 {
        return Err(AmountProblem::TooLarge);
    }
    let cents = scaled.round();
    // 30.87 * 100 is 3086.9999999999995 in binary floating point; anything no further from a
    // whole cent than a millionth of a cent is that cent.
    if (scaled - cents).abs() > 1e-6 {
        return Err(AmountProblem::TooManyDecimals);
    }
    Ok(cents as Cents)
}

/// Converts a JSON number **as written** into cents, exactly: its value may have at most two
/// decimals ("double mit zwei Dezimalstellen", seed 001). `30.87`, `33`, `30.870` and `3.3e1`
/// are fine; float noise (`19.990000000000002`, what `1999.0 * 0.01` is in binary floating
/// point), `1e-400` (not zero, though a float makes it zero) and any sign (`-0.0`
/// included) are refused, as a till that sends them has a bug a real server may book.
pub fn cents_from_text(text: &str) -> Result<Cents, AmountProblem> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(AmountProblem::Negative);
    }
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        None => (text, 0_i64),
        Some(at) => {
            let written = &text[at + 1..];
            let exponent = written.parse::<i64>().map_err(|_| {
                // Too many exponent digits for an i64: either astronomically large or small.
                if written.starts_with('-') {
                    AmountProblem::TooManyDecimals
                } else {
                    AmountProblem::TooLarge
                }
            })?;
            (&text[..at], exponent)
        }
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(AmountProblem::NotANumber);
    }
    // The value is `digits × 10^-scale`.
    let mut digits = format!("{whole}{fraction}");
    let mut scale = i64::try_from(fraction.len())
        .unwrap_or(i64::MAX)
        .saturating_sub(exponent);
    // Trailing zeros change nothing but the places: `30.870` has two, `1000e-3` none. (A helper
    // of its own, so that .ci/mutants-equivalent can name its one equivalent mutant: dropping
    // a zero more than needed is harmless.)
    scale = drop_trailing_zeros(&mut digits, scale);
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    if scale > 2 {
        return Err(AmountProblem::TooManyDecimals);
    }
    let shift = 2 - scale;
    // MAX_CENTS has ten digits: anything longer is too large, and the parse cannot overflow.
    if i64::try_from(digits.len()).unwrap_or(i64::MAX).saturating_add(shift) > 10 {
        return Err(AmountProblem::TooLarge);
    }
    let cents =
        digits.parse::<i64>().map_err(|_| AmountProblem::TooLarge)? * 10_i64.pow(u32::try_from(shift).unwrap_or(0));
    if cents > MAX_CENTS {
        return Err(AmountProblem::TooLarge);
    }
    Ok(cents)
}

/// Renders cents as the seed does: whole euros as integers (`33`), others with decimals (`30.87`).
pub fn cents_to_json(cents: Cents) -> Value {
    if cents % 100 == 0 {
        Value::from(cents / 100)
    } else {
        Value::from(cents as f64 / 100.0)
    }
}

/// A percentage such as `0.02` as parts per million, so bonus computation is exact integer work.
pub fn ppm(fraction: f64) -> i64 {
    (fraction * 1_000_000.0).round() as i64
}

/// `cents * ppm / 1e6`, rounded half up: 3087 cents at 2 % give 61.74, so 62 points as in the
/// seed's example.
pub fn percent_of(cents: Cents, ppm: i64) -> i64 {
    let product = i128::from(cents) * i128::from(ppm);
    ((product + 500_000) / 1_000_000) as i64
}

/// End of validity for points earned (or a coupon activated) at `now`: the end of the third
/// calendar year after the year of `now`, in German time (CET at New Year, UTC+1).
///
/// Earned 2019-10-29 → valid until 2023-01-01T00:00 CET = 2022-12-31T23:00Z = 1672527600000, the
/// value of every `validUntil`/`obtainedPointsValidUntil` in the seed.
pub fn valid_until(now: Millis) -> Millis {
    const CET_OFFSET_MS: i64 = 3_600_000;
    // Only the year matters, and at New Year Germany is always on UTC+1, so adding one hour
    // gives the German calendar year exactly.
    let local_seconds = (now + CET_OFFSET_MS).div_euclid(1000);
    let year = OffsetDateTime::from_unix_timestamp(local_seconds)
        .map(|t| t.year())
        .unwrap_or(1970);
    let end = Date::from_calendar_date(year + 4, Month::January, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
        .unwrap_or(i64::MAX / 2);
    end - CET_OFFSET_MS
}

/// Drops trailing zeros of `digits` while the value `digits × 10^-scale` has decimal places,
/// and returns the new scale; the value stays the same.
fn drop_trailing_zeros(digits: &mut String, mut scale: i64) -> i64 {
    while scale > 0 && digits.ends_with('0') {
        digits.pop();
        scale -= 1;
    }
    scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_from_the_seed() {
        assert_eq!(cents_from_json(&json!(33)), Ok(3300));
        assert_eq!(cents_from_json(&json!(30.87)), Ok(3087));
        assert_eq!(cents_from_json(&json!(47.87)), Ok(4787));
        assert_eq!(cents_from_json(&json!(0.1)), Ok(10));
        assert_eq!(cents_from_json(&json!("33")), Err(AmountProblem::NotANumber));
        assert_eq!(cents_from_json(&json!(-1)), Err(AmountProblem::Negative));
        assert_eq!(cents_from_json(&json!(1.005)), Err(AmountProblem::TooManyDecimals));
        assert_eq!(cents_from_json(&json!(1e12)), Err(AmountProblem::TooLarge));
    }

    /// The edges of the float fallback: zero is an amount (not a negative one), the largest
    /// amount itself is accepted, and a millionth of a cent is the tolerance for float noise.
    #[test]
    fn float_amounts_at_their_edges() {
        assert_eq!(cents_from_json(&json!(0)), Ok(0));
        assert_eq!(cents_from_json(&json!(0.0)), Ok(0));
        assert_eq!(cents_from_json(&json!(10_000_000)), Ok(MAX_CENTS));
        assert_eq!(cents_from_json(&json!(10_000_000.01)), Err(AmountProblem::TooLarge));
        // 1e-8 EUR is exactly a millionth of a cent (1e-8 × 100 is the double 1e-6), 2e-8 twice that.
        assert_eq!(cents_from_json(&json!(1e-8)), Ok(0));
        assert_eq!(cents_from_json(&json!(2e-8)), Err(AmountProblem::TooManyDecimals));
        assert_eq!(cents_from_json(&json!(-0.01)), Err(AmountProblem::Negative));
        assert_eq!(cents_from_json(&json!(null)), Err(AmountProblem::NotANumber));
    }

    /// Written amounts at the edges: the largest one, the length limit, exponents that move the
    /// decimal point either way, and what is not a number at all.
    #[test]
    fn written_amounts_at_their_edges() {
        use AmountProblem::*;
        for (text, expected) in [
            ("9999999.99", Ok(999_999_999)),
            ("10000000.00", Ok(MAX_CENTS)),
            ("1e7", Ok(MAX_CENTS)),
            ("0.1e8", Ok(MAX_CENTS)),
            ("100000000e-1", Ok(MAX_CENTS)),
            ("10000001", Err(TooLarge)),
            ("99999999999", Err(TooLarge)),
            ("0000000033.00", Ok(3300)),
            ("12.5e-1", Ok(125)),
            ("1000e-3", Ok(100)),
            ("1.000", Ok(100)),
            ("125e-3", Err(TooManyDecimals)),
            (" 33 ", Ok(3300)),
            ("+33", Err(NotANumber)),
            (".5", Err(NotANumber)),
            ("", Err(NotANumber)),
            ("1.2.3", Err(NotANumber)),
        ] {
            assert_eq!(cents_from_text(text), expected, "{text}");
        }
    }

    #[test]
    fn amounts_as_written_have_at_most_two_decimals() {
        use AmountProblem::*;
        for (text, cents) in [
            ("33", 3300),
            ("30.87", 3087),
            ("19.99", 1999),
            ("0.01", 1),
            ("1234.56", 123_456),
            ("30.870", 3087),
            ("3.3e1", 3300),
            ("1999E-2", 1999),
            ("0", 0),
            ("0.000", 0),
            ("0e-400", 0),
            ("10000000", MAX_CENTS),
        ] {
            assert_eq!(cents_from_text(text), Ok(cents), "{text}");
        }
        for (text, problem) in [
            ("10.000000000000002", TooManyDecimals),
            ("19.990000000000002", TooManyDecimals),
            ("1e-400", TooManyDecimals),
            ("1.005", TooManyDecimals),
            ("0.001", TooManyDecimals),
            ("1e-99999999999999999999", TooManyDecimals),
            ("-0.0", Negative),
            ("-0", Negative),
            ("-19.99", Negative),
            ("10000000.01", TooLarge),
            ("1e300", TooLarge),
            ("1e99999999999999999999", TooLarge),
            ("\"33\"", NotANumber),
        ] {
            assert_eq!(cents_from_text(text), Err(problem), "{text}");
        }
        // The parsed float cannot tell these apart from a correct amount: why requests are checked
        // as written.
        assert_eq!(cents_from_json(&json!(10.000000000000002)), Ok(1000));
        assert_eq!(cents_from_json(&json!(-0.0)), Err(Negative));
    }

    #[test]
    fn amounts_render_like_the_seed() {
        assert_eq!(cents_to_json(3300).to_string(), "33");
        assert_eq!(cents_to_json(3087).to_string(), "30.87");
        assert_eq!(cents_to_json(4787).to_string(), "47.87");
        assert_eq!(cents_to_json(0).to_string(), "0");
        assert_eq!(cents_to_json(1).to_string(), "0.01");
    }

    #[test]
    fn bonus_of_the_seed_examples() {
        // 30.87 EUR paid in money at 2 % → 62 points; 33 EUR → 66 points.
        assert_eq!(percent_of(3087, ppm(0.02)), 62);
        assert_eq!(percent_of(3300, ppm(0.02)), 66);
        assert_eq!(percent_of(25, ppm(0.02)), 1); // 0.5 rounds half up
        assert_eq!(percent_of(24, ppm(0.02)), 0);
    }

    /// Half up on both sides of .5, computed by hand: x.49 and x.48 down, x.5 and x.52 up; a
    /// ceiling, a floor or rounding half to even each breaks one of these.
    #[test]
    fn bonus_rounds_half_up_on_both_sides_of_one_half() {
        for (cents, percent_ppm, points) in [
            (74, 20_000, 1),    // 1.48
            (75, 20_000, 2),    // 1.5 (half to even would give 2 too: see 125)
            (76, 20_000, 2),    // 1.52
            (125, 20_000, 3),   // 2.5 (half to even: 2)
            (124, 20_000, 2),   // 2.48
            (49, 10_000, 0),    // 0.49
            (50, 10_000, 1),    // 0.5
            (149, 10_000, 1),   // 1.49
            (3087, 20_000, 62), // 61.74
            (3075, 20_000, 62), // 61.5
            (3074, 20_000, 61), // 61.48
            (0, 20_000, 0),
            (3300, 0, 0),
            (1, 1_000_000, 1), // 100 %: every cent a point
            (1, 499_999, 0),   // 0.499999
            (1, 500_000, 1),   // 0.5
        ] {
            assert_eq!(
                percent_of(cents, percent_ppm),
                points,
                "{cents} cents at {percent_ppm} ppm"
            );
        }
        // The largest amount does not overflow (i128 inside).
        assert_eq!(percent_of(MAX_CENTS, 1_000_000), MAX_CENTS);
    }

    #[test]
    fn percentages_become_exact_parts_per_million() {
        assert_eq!(ppm(0.02), 20_000);
        assert_eq!(ppm(0.035), 35_000);
        assert_eq!(ppm(1.0), 1_000_000);
        assert_eq!(ppm(0.0), 0);
        // 0.0157 × 1e6 is 15699.999999999998 in binary floating point: rounded, not truncated.
        assert_eq!(ppm(0.0157), 15_700);
        assert_eq!(ppm(0.000_000_5), 1);
        assert_eq!(ppm(0.000_000_4), 0);
    }

    #[test]
    fn validity_is_end_of_third_year_in_german_time() {
        // 2019-10-29T12:24:04Z, the seed's transactionTime.
        assert_eq!(valid_until(1_572_351_844_000), 1_672_527_600_000);
        // 2019-12-31T23:30Z is already 2020 in Germany: valid until end of 2023 (CET).
        assert_eq!(valid_until(1_577_835_000_000), 1_704_063_600_000);
        // 2019-12-31T22:59:59Z is still 2019 in Germany.
        assert_eq!(valid_until(1_577_833_199_000), 1_672_527_600_000);
    }

    /// Points earned in the last years the calendar can express (9996–9999: the end of the
    /// third year after is beyond year 9999) never expire before they are earned.
    #[test]
    fn validity_at_the_end_of_the_calendar_is_in_the_future() {
        // 9995-06-01T00:00Z: valid until 9999-01-01 CET = 9998-12-31T23:00Z.
        assert_eq!(valid_until(253_257_580_800_000), 253_370_761_200_000);
        // 9998-06-01T00:00Z.
        let now = 253_352_275_200_000;
        assert!(valid_until(now) > now);
    }
}

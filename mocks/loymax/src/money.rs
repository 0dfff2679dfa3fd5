//! Exact decimal arithmetic: money in kopecks (two places, as every observed answer shows),
//! quantities in thousandths (three places), percentages in hundredths of a percent, and the
//! protocol's date-times.
//!
//! No floating point anywhere: a till compares the amounts it gets with what it printed, so a
//! rounding difference of one kopeck is a visible defect.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Money (and bonus points, 1 point = 1 unit of the project currency) in hundredths.
pub type Kopecks = i64;
/// Quantity in thousandths (`2.000` = 2000).
pub type Milli = i64;
/// A percentage in hundredths of a percent (`30` % = 3000).
pub type Basis = i64;

/// Largest absolute amount accepted: keeps every product and sum far from `i64` overflow.
pub const MAX_AMOUNT: Kopecks = 1_000_000_000_000; // 10 billion in kopecks

fn parse_fixed(text: &str, places: u32, max: i64) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Extra places are accepted only when they are zeros (`200.000`): they change nothing.
    let (kept, dropped) = frac.split_at(frac.len().min(places as usize));
    if !dropped.bytes().all(|b| b == b'0') || int.len() > 15 {
        return None;
    }
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut frac_value: i64 = if kept.is_empty() { 0 } else { kept.parse().ok()? };
    frac_value *= 10_i64.pow(places - kept.len() as u32);
    let value = int.checked_mul(10_i64.pow(places))?.checked_add(frac_value)?;
    if value > max {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// Parses a money amount as tills send it: `3999`, `2398.5`, `200.00`.
pub fn parse_money(text: &str) -> Option<Kopecks> {
    parse_fixed(text, 2, MAX_AMOUNT)
}

/// Parses a quantity: `1`, `2.000`, `0.375`.
pub fn parse_quantity(text: &str) -> Option<Milli> {
    parse_fixed(text, 3, MAX_AMOUNT)
}

/// Parses a percentage such as `30` or `2.5` into hundredths of a percent.
pub fn parse_percent(text: &str) -> Option<Basis> {
    parse_fixed(text, 2, 10_000)
}

fn format_fixed(value: i64, places: u32) -> String {
    let scale = 10_i64.pow(places);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let scale = scale as u64;
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = places as usize)
}

/// Two decimals, as in `12405.67`.
pub fn format_money(value: Kopecks) -> String {
    format_fixed(value, 2)
}

/// Three decimals, as in `2.000`.
pub fn format_quantity(value: Milli) -> String {
    format_fixed(value, 3)
}

/// Results of multiplications are kept within this bound, so sums and differences of a few of
/// them never overflow, whatever a till sends.
const BOUND: i128 = (i64::MAX / 8) as i128;

fn bounded(value: i128) -> Kopecks {
    value.clamp(-BOUND, BOUND) as Kopecks
}

/// `value × basis / 10000`, rounded half away from zero to a kopeck.
pub fn percent_of(value: Kopecks, basis: Basis) -> Kopecks {
    let product = i128::from(value) * i128::from(basis);
    let q = product / 10_000;
    let r = product % 10_000;
    let rounded = if r.abs() * 2 >= 10_000 { q + r.signum() } else { q };
    bounded(rounded)
}

/// `value × numerator / denominator` rounded half away from zero (denominator > 0).
pub fn scale(value: Kopecks, numerator: i64, denominator: i64) -> Kopecks {
    if denominator <= 0 {
        return 0;
    }
    let product = i128::from(value) * i128::from(numerator);
    let d = i128::from(denominator);
    let q = product / d;
    let r = product % d;
    let rounded = if r.abs() * 2 >= d { q + r.signum() } else { q };
    bounded(rounded)
}

/// Splits `total` over `weights` proportionally, largest remainder first, so the parts add up
/// to `total` exactly (a write-off spread over cheque lines must not lose a kopeck).
pub fn allocate(total: Kopecks, weights: &[Kopecks]) -> Vec<Kopecks> {
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if sum == 0 || weights.is_empty() {
        let mut parts = vec![0; weights.len()];
        if let Some(first) = parts.first_mut() {
            *first = total;
        }
        return parts;
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let product = i128::from(total) * i128::from((*w).max(0));
        parts.push((product / sum) as Kopecks);
        remainders.push((product % sum, i));
    }
    let mut left = total - parts.iter().sum::<Kopecks>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        parts[i] += left.signum();
        left -= left.signum();
    }
    parts
}

/// Parses the protocol's date-times: ISO 8601 with or without milliseconds, with an offset
/// (`2018-10-02T13:32:02.107+03:00`) or without one (`2024-02-29T13:47:16`, then in
/// `local_offset`, the project's local time: the FAQ says tills need not send a time zone).
/// Returns epoch milliseconds.
pub fn parse_datetime(text: &str, local_offset: UtcOffset) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    let t = PrimitiveDateTime::parse(text, format).ok()?;
    Some((t.assume_offset(local_offset).unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Formats epoch milliseconds as local time with offset, without fractions
/// (`2024-03-31T23:59:59+03:00`), the form of the 2024 client.
pub fn format_datetime(ms: i64, offset: UtcOffset) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_as_tills_send_it() {
        assert_eq!(parse_money("3999"), Some(399_900));
        assert_eq!(parse_money("2398.5"), Some(239_850));
        assert_eq!(parse_money("200.00"), Some(20_000));
        assert_eq!(parse_money("12405.67"), Some(1_240_567));
        assert_eq!(parse_money("0.010"), Some(1));
        assert_eq!(parse_money("-5"), Some(-500));
        assert_eq!(parse_money(".5"), Some(50));
        for bad in [
            "",
            "-",
            ".",
            "1.005",
            "1,5",
            "1e3",
            "abc",
            " 1 2",
            "99999999999999999999",
            "+1",
        ] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
        assert_eq!(format_money(1_240_567), "12405.67");
        assert_eq!(format_money(239_850), "2398.50");
        assert_eq!(format_money(-5), "-0.05");
        assert_eq!(format_money(0), "0.00");
    }

    #[test]
    fn quantities_have_three_places() {
        assert_eq!(parse_quantity("2.000"), Some(2000));
        assert_eq!(parse_quantity("1"), Some(1000));
        assert_eq!(parse_quantity("0.375"), Some(375));
        assert_eq!(parse_quantity("0.3755"), None);
        assert_eq!(format_quantity(2000), "2.000");
    }

    #[test]
    fn percentages_round_half_away_from_zero() {
        // 30 % of 2398.50 = 719.55 exactly.
        assert_eq!(percent_of(239_850, 3000), 71_955);
        // 5 % of 0.10 = 0.005 → 0.01.
        assert_eq!(percent_of(10, 500), 1);
        assert_eq!(percent_of(-10, 500), -1);
        assert_eq!(scale(MAX_AMOUNT, MAX_AMOUNT, 1), (i64::MAX / 8));
        assert_eq!(parse_percent("2.5"), Some(250));
        assert_eq!(parse_percent("101"), None);
    }

    /// The accepted range, at its edges: the largest amount and percentage themselves, one unit
    /// more, and integer parts of at most 15 digits (leading zeros count).
    #[test]
    fn parsing_limits() {
        assert_eq!(parse_money("10000000000"), Some(MAX_AMOUNT));
        assert_eq!(parse_money("-10000000000.00"), Some(-MAX_AMOUNT));
        assert_eq!(parse_money("10000000000.01"), None);
        assert_eq!(parse_quantity("1000000000"), Some(MAX_AMOUNT));
        assert_eq!(parse_quantity("1000000000.001"), None);
        assert_eq!(parse_percent("100"), Some(10_000));
        assert_eq!(parse_percent("100.00"), Some(10_000));
        assert_eq!(parse_percent("100.01"), None);
        assert_eq!(parse_percent("0.01"), Some(1));
        assert_eq!(parse_money("000000000000005"), Some(500));
        assert_eq!(parse_money("0000000000000005"), None);
        assert_eq!(parse_money(" 12.30 "), Some(1230));
        assert_eq!(parse_money("5."), Some(500));
        assert_eq!(parse_money("-.5"), Some(-50));
        assert_eq!(parse_money("--5"), None);
        assert_eq!(parse_money("1.2.3"), None);
        assert_eq!(parse_money("9223372036854775807"), None);
    }

    #[test]
    fn formatting_pads_the_fraction() {
        assert_eq!(format_money(5), "0.05");
        assert_eq!(format_money(-239_850), "-2398.50");
        assert_eq!(format_money(-100), "-1.00");
        assert_eq!(format_money(MAX_AMOUNT), "10000000000.00");
        assert_eq!(format_quantity(375), "0.375");
        assert_eq!(format_quantity(-1), "-0.001");
        assert_eq!(format_quantity(0), "0.000");
        // i64::MIN has no positive counterpart; formatting must not overflow.
        assert_eq!(format_money(i64::MIN), "-92233720368547758.08");
    }

    /// Half away from zero on both sides of .5, in kopecks, for both signs; a cap of 30 % of a
    /// cheque as a write-off limit.
    #[test]
    fn percent_rounding_on_both_sides_of_one_half() {
        for (value, basis, expected) in [
            (4_999, 1, 0),                  // 0.4999
            (5_000, 1, 1),                  // 0.5
            (5_001, 1, 1),                  // 0.5001
            (14_999, 1, 1),                 // 1.4999
            (15_000, 1, 2),                 // 1.5
            (-4_999, 1, 0),                 // -0.4999
            (-5_000, 1, -1),                // -0.5
            (-15_000, 1, -2),               // -1.5
            (-15_001, 1, -2),               // -1.5001
            (100_000, 3000, 30_000),        // 30 % of 1000.00 = 300.00
            (333, 3000, 100),               // 30 % of 3.33 = 0.999
            (335, 3000, 101),               // 30 % of 3.35 = 1.005
            (1_234_567, 10_000, 1_234_567), // 100 %
            (1_234_567, 0, 0),
        ] {
            assert_eq!(percent_of(value, basis), expected, "{value} × {basis}");
        }
        // The largest amount at 100 %: no overflow, no clamping.
        assert_eq!(percent_of(MAX_AMOUNT, 10_000), MAX_AMOUNT);
        assert_eq!(percent_of(-MAX_AMOUNT, 10_000), -MAX_AMOUNT);
    }

    /// `scale` is what turns a per-unit amount into a line amount (quantity in thousandths):
    /// the same rounding, with other denominators.
    #[test]
    fn scaling_rounds_half_away_from_zero() {
        for (value, numerator, denominator, expected) in [
            (10, 1, 4, 3),            // 2.5
            (9, 1, 4, 2),             // 2.25
            (11, 1, 4, 3),            // 2.75
            (-10, 1, 4, -3),          // -2.5
            (-9, 1, 4, -2),           // -2.25
            (7, 2, 3, 5),             // 4.667
            (1000, 1, 3, 333),        // 333.33
            (1999, 375, 1000, 750),   // 19.99 × 0.375 = 7.49625
            (1999, 2500, 1000, 4998), // 19.99 × 2.5 = 49.975
            (100, 7, 7, 100),
        ] {
            assert_eq!(
                scale(value, numerator, denominator),
                expected,
                "{value} × {numerator} / {denominator}"
            );
        }
        assert_eq!(scale(100, 1, 0), 0);
        assert_eq!(scale(100, 1, -1), 0);
        assert_eq!(scale(-MAX_AMOUNT, MAX_AMOUNT, 1), -(i64::MAX / 8));
    }

    /// Exact parts, worked out by hand: floors first, the kopecks left over to the largest
    /// remainders (ties to the earlier line).
    #[test]
    fn allocation_gives_the_rest_to_the_largest_remainders() {
        // 10 over 1:5 = 1.667 + 8.333: the first line has the larger remainder.
        assert_eq!(allocate(10, &[1, 5]), vec![2, 8]);
        // 11 over thirds = 3.667 each: two kopecks left, to the first two lines.
        assert_eq!(allocate(11, &[1, 1, 1]), vec![4, 4, 3]);
        assert_eq!(allocate(2, &[1, 1, 1]), vec![1, 1, 0]);
        // Negative weights count as zero.
        assert_eq!(allocate(10, &[-5, 1, 1]), vec![0, 5, 5]);
        assert_eq!(allocate(-100, &[1, 1, 1]), vec![-34, -33, -33]);
        assert_eq!(allocate(5, &[]), Vec::<Kopecks>::new());
        assert_eq!(allocate(MAX_AMOUNT, &[MAX_AMOUNT, MAX_AMOUNT]), vec![MAX_AMOUNT / 2; 2]);
    }

    #[test]
    fn allocation_keeps_every_kopeck() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(1000, &[20_000, 0]), vec![1000, 0]);
        assert_eq!(allocate(7, &[0, 0]), vec![7, 0]);
        let parts = allocate(12_345, &[333, 667, 1]);
        assert_eq!(parts.iter().sum::<i64>(), 12_345);
    }

    #[test]
    fn dates_with_and_without_offset() {
        let moscow = UtcOffset::from_hms(3, 0, 0).unwrap();
        // 2018-10-02T10:32:02.107Z
        assert_eq!(
            parse_datetime("2018-10-02T13:32:02.107+03:00", moscow),
            Some(1_538_476_322_107)
        );
        assert_eq!(
            parse_datetime("2018-10-02T13:32:02.107", moscow),
            Some(1_538_476_322_107)
        );
        assert_eq!(parse_datetime("2018-10-02T13:32:02", moscow), Some(1_538_476_322_000));
        assert_eq!(parse_datetime("yesterday", moscow), None);
        assert_eq!(format_datetime(1_538_476_322_107, moscow), "2018-10-02T13:32:02+03:00");
    }
}

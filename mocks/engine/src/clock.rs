//! The engine clock: the one source of "now" for every mock.
//!
//! Providers stamp transactions, compute expiry dates and judge validity with this clock, never
//! with the system clock, so a data set or a test can freeze time (`2019-10-29T12:24:04Z` for the
//! TYRIOS seed examples) and the admin API can move it forward to make points or coupons expire.
//!
//! Two modes: *real* (system time plus an offset that `advance` grows) and *frozen* (a fixed
//! instant that only `set`/`advance` change).
//!
//! Whoever waits for engine time (the Computop Paygate's retry schedule) subscribes to
//! [`Clock::changes`] instead of polling: every freeze, unfreeze or advance wakes it, so it can
//! sleep exactly as long as the time left and still see a jump of the clock at once.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use crate::error::EngineError;

/// Milliseconds since the Unix epoch, the unit every provider in the seeds uses.
pub type Millis = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// System time shifted by `offset_ms`.
    Real { offset_ms: i64 },
    /// A fixed instant.
    Frozen { at_ms: Millis },
}

/// Shared, thread-safe clock. Cheap to read (one uncontended mutex).
#[derive(Debug)]
pub struct Clock {
    mode: Mutex<Mode>,
    /// Counts the changes made through `freeze_at`, `unfreeze` and `advance`; receivers from
    /// [`Clock::changes`] wake on every one.
    changes: watch::Sender<u64>,
}

/// What the admin API shows about the clock.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ClockStatus {
    /// Current engine time in milliseconds since the epoch.
    pub now: Millis,
    /// The same instant as RFC 3339 (UTC).
    pub iso: String,
    /// Whether time stands still.
    pub frozen: bool,
}

impl Default for Clock {
    fn default() -> Self {
        Self::real()
    }
}

/// The earliest time the engine clock shows: 1970-01-01T00:00:00Z.
pub const EARLIEST_MS: Millis = 0;
/// The latest time the engine clock shows: 9999-12-31T23:59:59.999Z. Dates beyond four-digit
/// years are not representable in the providers' formats, and keeping the clock inside this range
/// means no provider's date arithmetic can overflow.
pub const LATEST_MS: Millis = 253_402_300_799_999;

impl Clock {
    /// A clock that follows the system time.
    pub fn real() -> Self {
        Self::with_mode(Mode::Real { offset_ms: 0 })
    }

    /// A clock frozen at `at_ms`.
    pub fn frozen(at_ms: Millis) -> Self {
        Self::with_mode(Mode::Frozen { at_ms })
    }

    fn with_mode(mode: Mode) -> Self {
        Self {
            mode: Mutex::new(mode),
            changes: watch::channel(0).0,
        }
    }

    /// A receiver that wakes (`changed().await`) whenever the clock is frozen, unfrozen or
    /// advanced after this call. Time passing on its own is not a change: a waiter sleeps for the
    /// time it needs and listens for changes meanwhile.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Whether `at_ms` lies in the range the clock can show ([`EARLIEST_MS`], [`LATEST_MS`]).
    pub fn in_range(at_ms: Millis) -> bool {
        (EARLIEST_MS..=LATEST_MS).contains(&at_ms)
    }

    /// Current engine time in milliseconds since the epoch.
    pub fn now_ms(&self) -> Millis {
        match *self.lock() {
            Mode::Real { offset_ms } => system_now_ms().saturating_add(offset_ms).clamp(EARLIEST_MS, LATEST_MS),
            Mode::Frozen { at_ms } => at_ms,
        }
    }

    /// Freezes the clock at `at_ms`.
    pub fn freeze_at(&self, at_ms: Millis) {
        *self.lock() = Mode::Frozen {
            at_ms: at_ms.clamp(EARLIEST_MS, LATEST_MS),
        };
        self.changed();
    }

    /// Lets the clock run with the system time again, without offset.
    pub fn unfreeze(&self) {
        *self.lock() = Mode::Real { offset_ms: 0 };
        self.changed();
    }

    /// Moves the clock forward (or back, with a negative delta) in either mode.
    pub fn advance(&self, delta_ms: i64) {
        let mut mode = self.lock();
        *mode = match *mode {
            Mode::Real { offset_ms } => Mode::Real {
                offset_ms: offset_ms.saturating_add(delta_ms),
            },
            Mode::Frozen { at_ms } => Mode::Frozen {
                at_ms: at_ms.saturating_add(delta_ms).clamp(EARLIEST_MS, LATEST_MS),
            },
        };
        drop(mode);
        self.changed();
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        matches!(*self.lock(), Mode::Frozen { .. })
    }

    /// Snapshot for the admin API.
    pub fn status(&self) -> ClockStatus {
        let now = self.now_ms();
        ClockStatus {
            now,
            iso: format_rfc3339(now),
            frozen: self.is_frozen(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mode> {
        // A poisoned clock still holds a valid `Mode` (it is a plain value), so keep going.
        self.mode.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[allow(clippy::disallowed_methods)] // The single place that reads the system clock.
fn system_now_ms() -> Millis {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as Millis,
        Err(e) => -(e.duration().as_millis() as Millis),
    }
}

/// Parses an RFC 3339 instant (`2019-10-29T12:24:04Z`) into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Result<Millis, EngineError> {
    let parsed = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|e| {
        EngineError::InvalidInput(format!(
            "invalid time {text:?}: {e} (expected RFC 3339, e.g. 2019-10-29T12:24:04Z)"
        ))
    })?;
    Ok((parsed.unix_timestamp_nanos() / 1_000_000) as Millis)
}

/// Formats epoch milliseconds as RFC 3339 in UTC, with milliseconds only when they are not zero.
pub fn format_rfc3339(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => t.format(&Rfc3339).unwrap_or_else(|_| ms.to_string()),
        Err(_) => ms.to_string(),
    }
}

/// Parses a duration such as `90s`, `15m`, `2h`, `3d`, `500ms` or a plain number of milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, EngineError> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let split = body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len());
    let (digits, unit) = body.split_at(split);
    let value: i64 = digits.parse().map_err(|_| {
        EngineError::InvalidInput(format!(
            "invalid duration {text:?} (expected e.g. 500ms, 90s, 15m, 2h, 3d)"
        ))
    })?;
    let factor = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(EngineError::InvalidInput(format!(
                "invalid duration unit {unit:?} in {text:?} (use ms, s, m, h or d)"
            )));
        }
    };
    let ms = value
        .checked_mul(factor)
        .ok_or_else(|| EngineError::InvalidInput(format!("duration {text:?} is out of range")))?;
    Ok(if negative { -ms } else { ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_stands_still_and_advances_on_request() {
        // 2019-10-29T12:24:04Z is the transactionTime of the TYRIOS seed examples.
        let clock = Clock::frozen(1_572_351_844_000);
        assert_eq!(clock.now_ms(), 1_572_351_844_000);
        clock.advance(86_400_000);
        assert_eq!(clock.now_ms(), 1_572_438_244_000);
        assert!(clock.is_frozen());
    }

    #[test]
    fn rfc3339_round_trip_matches_the_seed_timestamp() {
        assert_eq!(parse_rfc3339("2019-10-29T12:24:04Z").unwrap(), 1_572_351_844_000);
        assert_eq!(format_rfc3339(1_572_351_844_000), "2019-10-29T12:24:04Z");
        // The seed's coupon validity: 2022-12-31T23:00:00Z.
        assert_eq!(parse_rfc3339("2022-12-31T23:00:00Z").unwrap(), 1_672_527_600_000);
        assert!(parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_ms("500").unwrap(), 500);
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("3d").unwrap(), 259_200_000);
        assert_eq!(parse_duration_ms("-2h").unwrap(), -7_200_000);
        assert!(parse_duration_ms("3 weeks").is_err());
    }

    #[test]
    fn every_change_wakes_a_subscriber_and_reading_does_not() {
        let clock = Clock::frozen(1_000);
        let mut changes = clock.changes();
        assert!(!changes.has_changed().unwrap());
        clock.now_ms();
        assert!(!changes.has_changed().unwrap(), "reading the clock is not a change");
        clock.advance(5);
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        clock.unfreeze();
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        clock.freeze_at(7);
        assert!(changes.has_changed().unwrap());
    }

    #[test]
    fn real_clock_offset_moves_with_advance() {
        let clock = Clock::real();
        let before = clock.now_ms();
        clock.advance(10 * 86_400_000);
        assert!(clock.now_ms() >= before + 10 * 86_400_000);
        assert!(!clock.is_frozen());
    }
}

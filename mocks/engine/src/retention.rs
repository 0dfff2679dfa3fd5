//! Retention: how much history a provider keeps, so a long soak test against `possim serve`
//! runs in flat memory.
//!
//! Balances, point lots and coupons are state a till relies on and are kept exactly; what grows
//! with traffic is the *history* (committed transactions, finished purchases, idempotency
//! records). A provider keeps the newest [`Retention::transactions`] of them per owner (company,
//! merchant, device — each provider's README says which) and folds older ones into a summary.
//!
//! The setting comes from the data set's `possim.toml` (`[retention]`) and can be overridden for
//! the whole process (`possim serve --retain-transactions N`, `[retention]` in the config file);
//! the engine writes the override into the data set's settings, so providers read one value.

use serde::{Deserialize, Serialize};

/// Newest transactions kept per owner when nothing else is configured: enough for every
/// overview page and scenario, small enough that a full-speed soak stays flat (a TYRIOS record
/// is about 1 KiB with its user snapshot, so about 1 MiB per company).
pub const DEFAULT_TRANSACTIONS: usize = 1_000;

/// `[retention]` of a data set's `possim.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retention {
    /// Newest committed transactions kept per owner; older ones are summarised. At least 1:
    /// with none kept, a till could not even reverse or replay the transaction it just made.
    #[serde(default = "default_transactions", deserialize_with = "at_least_one")]
    pub transactions: usize,
}

fn default_transactions() -> usize {
    DEFAULT_TRANSACTIONS
}

fn at_least_one<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(deserializer)?;
    if n == 0 {
        return Err(serde::de::Error::custom(
            "transactions must be at least 1 (with none kept, no transaction could be reversed or replayed)",
        ));
    }
    Ok(n)
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            transactions: DEFAULT_TRANSACTIONS,
        }
    }
}

/// When a history is trimmed next. A provider trims once its history holds well beyond its
/// allowance (the work amortised over many requests); what may not be forgotten yet (open
/// purchases, payments in their flow) can keep it above that threshold, and trimming at every
/// request would then walk all of it each time. After a trim, the next one waits until as many
/// entries as the allowance have come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NextTrim {
    past: usize,
}

impl NextTrim {
    /// Whether a history of `len` entries is due, with the provider's `threshold`.
    pub fn due(&self, len: usize, threshold: usize) -> bool {
        len > threshold.max(self.past)
    }

    /// A trim left `len` entries: the next is due `allowance` entries later.
    pub fn trimmed(&mut self, len: usize, allowance: usize) {
        self.past = len.saturating_add(allowance);
    }
}

#[cfg(test)]
mod tests {
    use super::NextTrim;

    #[test]
    fn the_next_trim_waits_for_the_allowance_after_the_last() {
        let mut next = NextTrim::default();
        assert!(!next.due(20, 20) && next.due(21, 20), "first: past the threshold");
        // 25 entries that may not go yet, 2 more kept: 27 after the trim.
        next.trimmed(27, 2);
        assert!(!next.due(28, 20) && !next.due(29, 20) && next.due(30, 20));
        // Once what stays shrinks, the threshold rules again.
        next.trimmed(10, 2);
        assert!(!next.due(20, 20) && next.due(21, 20));
    }

    use super::*;

    #[test]
    fn an_empty_table_keeps_the_default() {
        let r: Retention = toml::from_str("").unwrap();
        assert_eq!(r, Retention::default());
        let r: Retention = toml::from_str("transactions = 5").unwrap();
        assert_eq!(r.transactions, 5);
        assert!(toml::from_str::<Retention>("transaction = 5").is_err());
        let zero = toml::from_str::<Retention>("transactions = 0").unwrap_err().to_string();
        assert!(zero.contains("transactions must be at least 1"), "{zero}");
    }
}

//! The state cell of a stateful provider: one `std::sync::Mutex` around the whole state, the
//! engine clock beside it, and loading, checking and snapshotting a data set built on them.
//!
//! **Invariant:** the lock is the provider's one consistency boundary and is never held across
//! an `.await` (clippy's `await_holding_lock` is denied workspace-wide), so a std mutex is the
//! right tool; an operation checks everything and changes the state under one guard.
//!
//! A provider whose state is built from its data set file implements [`ProviderState`] and
//! keeps a `StateCell<State>`; `Provider::load`, `check` and `snapshot` then become one line each.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::{Clock, Millis};
use crate::dataset::DataSet;
use crate::error::EngineError;

/// A provider state that a data set defines completely.
pub trait ProviderState: Sized + Send + 'static {
    /// The state the data set describes; an error names what in the data set is wrong.
    fn from_data_set(data: &DataSet) -> Result<Self, EngineError>;
}

/// One provider's state under one lock, with the engine clock.
#[derive(Debug)]
pub struct StateCell<S> {
    state: Mutex<S>,
    clock: Arc<Clock>,
}

impl<S> StateCell<S> {
    /// A cell holding `initial`, reading time from `clock`.
    pub fn new(initial: S, clock: Arc<Clock>) -> Self {
        Self {
            state: Mutex::new(initial),
            clock,
        }
    }

    /// Locks the state. A panic while it was held leaves the state as the last complete
    /// operation left it (operations check before they change), so a poisoned lock is used on.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The engine clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Engine time now, and the state locked: what a read-only view (the admin snapshot) needs.
    /// The clock is read first, so the lock is not held while the clock's own lock is taken.
    pub fn read<T>(&self, view: impl FnOnce(&S, Millis) -> T) -> T {
        let now = self.clock.now_ms();
        view(&self.lock(), now)
    }
}

impl<S: ProviderState> StateCell<S> {
    /// Replaces the whole state with the data set's. The new state is built before the lock is
    /// taken, so a refused data set leaves the old state in place and requests wait only for
    /// the swap.
    pub fn load(&self, data: &DataSet) -> Result<(), EngineError> {
        let fresh = S::from_data_set(data)?;
        *self.lock() = fresh;
        Ok(())
    }

    /// Whether [`StateCell::load`] would accept the data set, changing nothing.
    pub fn check(&self, data: &DataSet) -> Result<(), EngineError> {
        S::from_data_set(data).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state that is the number in `n.toml`, refusing a negative one.
    #[derive(Debug, PartialEq)]
    struct Number(i64);

    impl ProviderState for Number {
        fn from_data_set(data: &DataSet) -> Result<Self, EngineError> {
            let n: i64 = data.file("n.toml").unwrap_or("0").trim().parse().unwrap_or(0);
            if n < 0 {
                return Err(EngineError::InvalidInput("n must not be negative".into()));
            }
            Ok(Number(n))
        }
    }

    fn set(n: &str) -> DataSet {
        DataSet::from_files("t", [("n.toml", n)]).unwrap()
    }

    #[test]
    fn load_replaces_check_changes_nothing_and_a_refused_set_keeps_the_old_state() {
        let cell = StateCell::new(Number(0), Arc::new(Clock::frozen(42)));
        cell.load(&set("2")).unwrap();
        assert_eq!(*cell.lock(), Number(2));
        cell.check(&set("5")).unwrap();
        assert_eq!(*cell.lock(), Number(2));
        assert!(cell.check(&set("-1")).is_err());
        assert!(cell.load(&set("-1")).is_err());
        assert_eq!(*cell.lock(), Number(2));
        assert_eq!(cell.read(|n, now| (n.0, now)), (2, 42));
    }
}

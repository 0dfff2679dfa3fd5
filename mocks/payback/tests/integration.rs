//! The PAYBACK mock's end-to-end tests (`tests/payback.rs` at the repository root: lookup, PIN
//! and lock-out, purchases with coupons, every redemption rule and its error code, replays,
//! reversals, coupons, geolocation), in process: the same file, compiled here a second time with
//! `util::Possim` standing for the mock behind its axum router (`tests/in_process_harness.rs`:
//! `oneshot`, no sockets, no process). Named like the end-to-end binary, as the harness asks.

use std::sync::Arc;

use possim_engine::clock::Clock;
use possim_engine::provider::Provider;
use possim_payback::PaybackMock;

#[path = "../../../tests/documented.rs"]
mod documented;
#[path = "../../../tests/payback.rs"]
mod payback;
#[path = "../../../tests/in_process_harness.rs"]
mod util;

/// The mock the harness runs.
fn provider(clock: Arc<Clock>) -> (&'static str, Box<dyn Provider>) {
    ("payback", Box::new(PaybackMock::new(clock)))
}

/// The built-in data set's `payback.toml`.
fn data_file(set: &str) -> (&'static str, &'static str) {
    let text = match set {
        "default" => include_str!("../../datasets/default/payback.toml"),
        "seed-examples" => include_str!("../../datasets/seed-examples/payback.toml"),
        other => panic!("no built-in data set {other:?}"),
    };
    ("payback.toml", text)
}

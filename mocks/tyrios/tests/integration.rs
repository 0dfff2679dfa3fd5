//! The TYRIOS seed's examples and the error table, in process: the very test files the
//! end-to-end binary runs against `possim serve` (`tests/tyrios_seed.rs`, `tests/tyrios_errors.rs`
//! at the repository root), compiled here a second time with `util::Possim` standing for the mock
//! behind its axum router (`tests/in_process_harness.rs`: `oneshot`, no sockets, no process). One
//! text, two ways to reach the mock: the expected values stay the seed's, and a domain mistake
//! fails here in a fraction of a second, before the end-to-end run.
//!
//! The file is named like the end-to-end binary (`integration`) so that the root's insta
//! snapshot (`tests/snapshots/integration__tyrios_seed__…`) is the one checked here too.

use std::sync::Arc;

use possim_engine::clock::Clock;
use possim_engine::provider::Provider;
use possim_tyrios::TyriosMock;

#[path = "../../../tests/documented.rs"]
mod documented;
#[path = "../../../tests/tyrios_errors.rs"]
mod tyrios_errors;
#[path = "../../../tests/tyrios_seed.rs"]
mod tyrios_seed;
#[path = "../../../tests/in_process_harness.rs"]
mod util;

/// The mock the harness runs.
fn provider(clock: Arc<Clock>) -> (&'static str, Box<dyn Provider>) {
    ("tyrios", Box::new(TyriosMock::new(clock)))
}

/// The built-in data set's `tyrios.toml`.
fn data_file(set: &str) -> (&'static str, &'static str) {
    let text = match set {
        "default" => include_str!("../../datasets/default/tyrios.toml"),
        "seed-examples" => include_str!("../../datasets/seed-examples/tyrios.toml"),
        other => panic!("no built-in data set {other:?}"),
    };
    ("tyrios.toml", text)
}

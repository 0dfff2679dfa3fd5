//! An independent Loymax till — `tests/clients/loymax_client.py`, written in Python with the
//! standard library only from the protocol notes (`shared/specs/loymax-tyrios.md`) and the mock's
//! published contract, not from our Rust code — drives the mock over the wire: the 2018 log's
//! exchange, a purchase calculate → payment → discount → confirm with a replayed and a reused
//! OperationID, a cancel that restores the balance, a confirm of an unknown purchase, malformed
//! XML, wrong credentials, and signed requests with the answers' signatures verified (its RSA is
//! plain integer arithmetic, cross-checked against openssl when it was written).
//!
//! Needs `python3`; without it the test fails, never skips.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::util::Possim;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/loymax_client.py");
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/mocks/loymax/keys");

/// Runs one check of the client; panics with its whole output when it fails.
async fn client(url: &str, args: &[&str]) -> String {
    let run = Command::new(crate::util::python3())
        .arg(SCRIPT)
        .args(["--url", url])
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A bound for the whole run (each HTTP call has its own 15 s time-out), not a sync sleep.
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the Python client finishes within 120 s")
        .expect("python3 starts (it is needed for this test)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python client failed {args:?} ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(!stdout.contains("FAILED"), "{stdout}");
    stdout
}

#[tokio::test]
async fn an_independent_python_till_replays_the_log_and_completes_purchases() {
    let p = Possim::start("seed-examples", &[]).await;
    let log = client(&p.loymax, &["--check", "seed-log"]).await;
    assert_eq!(log.matches("ok: ").count(), 2, "{log}");
    let purchase = client(
        &p.loymax,
        &["--check", "purchase", "--card", "8690003", "--pay", "50.00"],
    )
    .await;
    assert_eq!(purchase.matches("ok: ").count(), 6, "{purchase}");
    let errors = client(&p.loymax, &["--check", "errors"]).await;
    assert_eq!(errors.matches("ok: ").count(), 2, "{errors}");
}

#[tokio::test]
async fn an_independent_python_till_signs_its_requests_and_verifies_the_answers() {
    let p = Possim::start("default", &[]).await;
    let sign_key = format!("{KEYS}/kassa-2.key.pem");
    let verify_key = format!("{KEYS}/processing.pub.pem");
    let out = client(
        &p.loymax,
        &[
            "--check",
            "signature",
            "--device",
            "kassa-2",
            "--sign-key",
            &sign_key,
            "--verify-key",
            &verify_key,
        ],
    )
    .await;
    assert_eq!(out.matches("ok: ").count(), 3, "{out}");
}

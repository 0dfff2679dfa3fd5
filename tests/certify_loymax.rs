//! The Loymax suite end to end: the reference till (`possim pos loymax`) is certified at every
//! level, and the detection matrix (`--defects`) is the pinned one — every planted defect caught,
//! each by exactly the scenarios that reach its code path. Kept apart from `certify.rs` so the
//! suites' pins do not collide.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

/// Which Loymax scenarios each planted defect of the reference till fails.
// Derived from what each scenario exercises (conformance/loymax/DEFECTS.md), not from a run.
const LOYMAX_DETECTION: &[(&str, &[&str])] = &[
    // Only a lost *answer* (the request was booked) tells a retry with the same OperationID
    // from one with a new id; where processing never got the request both book the same.
    (
        "new-operation-id-on-retry",
        &["confirm-answer-lost", "payment-answer-lost"],
    ),
    ("lost-answer-cancels", &["confirm-answer-lost", "payment-answer-lost"]),
    // Every flow that completes a purchase online (offline uploads confirm on their own path).
    ("no-confirm", COMPLETED_ONLINE),
    ("confirm-without-discount", COMPLETED_ONLINE),
    // Both offline flows: the plain one forbids the Payment, the one inside a declared outage
    // gets the processing's PaymentException, which this till ignores (reports 100.00 written off).
    ("pay-points-offline", &["offline-outage-upload", "offline-upload"]),
    // The message scenario pins what the till shows and prints; the others pin figures.
    ("ignore-messages", &["purchase-discount-accrual"]),
    ("unrounded-amounts", &["weighed-goods"]),
    ("confirm-old-cheque", &["recalculated-cheque"]),
    (
        "no-cancel",
        &["payment-unreachable", "points-spent-meanwhile", "purchase-abandoned"],
    ),
    ("ignore-write-off-cap", &["purchase-write-off-above-cap"]),
    ("phone-plus-seven", &["balance-phone"]),
    ("no-signature", &["signature-required"]),
    ("cancel-after-confirm", &["void-after-confirm"]),
    ("ignore-payment-error", &["points-spent-meanwhile"]),
];

/// The scenarios in which the till completes (discount + confirm) at least one purchase online.
const COMPLETED_ONLINE: &[&str] = &[
    "confirm-answer-lost",
    "coupon-with-card",
    "issued-coupon",
    "line-attributes",
    "payment-answer-lost",
    "purchase-discount-accrual",
    "purchase-magstripe",
    "purchase-without-card",
    "purchase-write-off",
    "purchase-write-off-above-cap",
    "recalculated-cheque",
    "refund",
    "signature-required",
    "void-after-confirm",
    "weighed-goods",
];

#[tokio::test]
async fn the_loymax_suite_certifies_the_reference_till_and_catches_every_planted_defect() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("possim-e2e-{}-audit-loymax", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        // Six defect runs at a time, each against its own in-process possim.
        .args(["certify", "loymax", "--defects", "--jobs", "6", "--out"])
        .arg(&out)
        .args(["--", "possim", "pos", "loymax"])
        .current_dir(&repo)
        .env("CI", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A bound on 15 whole suite runs (clean + 14 defects), not a synchronisation sleep.
    let run = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the audit finished")
        .expect("possim ran");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("Loymax cash-register integration (protocol 3.2) — CERTIFIED"),
        "{stdout}"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    // The clean run: every scenario of every level passes (the seed's three levels).
    assert_eq!(json["summary"]["verdict"], "pass");
    let levels: Vec<(String, u64, u64)> = json["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_owned(),
                l["passed"].as_u64().unwrap(),
                l["failed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        [
            ("minimum".to_owned(), 15, 0),
            ("medium".to_owned(), 8, 0),
            ("maximum".to_owned(), 4, 0)
        ]
    );
    let detection = &json["detection"];
    let planted = <possim_pos::loymax::Defect as possim_pos::PlantableDefect>::names();
    assert_eq!(detection["cleanCertified"], true);
    crate::certify::assert_detection_matrix(detection, &stdout, "loymax/", &planted, LOYMAX_DETECTION);
    let _ = std::fs::remove_dir_all(&out);
}

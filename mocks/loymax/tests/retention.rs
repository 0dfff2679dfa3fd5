//! Retention (bounded memory): a mock that keeps two finished purchases per till and one that
//! keeps a thousand agree on every answer and every balance through a long series of purchases,
//! while the first one's history stays bounded.

mod common;

use std::sync::Arc;

use common::{Answer, cheque, ident, post};
use possim_engine::clock::{Clock, parse_rfc3339};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_loymax::LoymaxMock;

const DATA: &str = r#"
[[projects]]
name = "possim"
purchaseTimeout = "10m"
[[devices]]
project = "possim"
login = "till-a"
password = "demo"
[[customers]]
project = "possim"
id = "c"
name = "Тест"
[[cards]]
project = "possim"
number = "1000"
customer = "c"
cardType = "T"
balance = "500.00"
[[offers]]
project = "possim"
id = 1
name = "10 %"
accrualPercent = "10"
"#;

fn keeping(retain: usize) -> LoymaxMock {
    let clock = Arc::new(Clock::frozen(parse_rfc3339("2026-12-01T12:00:00Z").unwrap()));
    let mock = LoymaxMock::new(clock);
    let settings = format!("[retention]\ntransactions = {retain}\n");
    let set = DataSet::from_files("test", [("loymax.toml", DATA), ("possim.toml", settings.as_str())]).unwrap();
    mock.load(&set).unwrap();
    mock
}

fn body(command: &str, attrs: &str, inner: &str) -> String {
    format!(
        "<XMLRequest><Version>3.2</Version><{command}s><{command}Request {attrs}>{inner}</{command}Request></{command}s></XMLRequest>"
    )
}

fn ok(answer: &Answer) -> bool {
    answer.envelope_code() == "0" && answer.code() == "0"
}

fn card(mock: &LoymaxMock) -> String {
    mock.snapshot()["projects"][0]["cards"][0].to_string()
}

#[tokio::test]
async fn forgetting_finished_purchases_changes_no_answer_and_no_balance() {
    let (small, full) = (keeping(2), keeping(1000));
    let lines = cheque(&[("1", "g", "100", "2", "200")]);
    for n in 0..60 {
        let purchase = format!("P{n}");
        // Pay 10 points of 200 rubles, then book or release: the card's balance moves by
        // +19 − 10 on a confirm (10 % of the 190 paid in money) and not at all on a cancel.
        let last = if n % 3 == 0 {
            "CancelPurchase"
        } else {
            "ConfirmPurchase"
        };
        let steps = [
            ("Calculate", r#" "#.to_owned(), format!("{lines}{}", ident("1000"))),
            ("Payment", r#" Amount="10""#.to_owned(), ident("1000")),
            ("Discount", r#" "#.to_owned(), format!("{lines}{}", ident("1000"))),
            (last, r#" "#.to_owned(), String::new()),
        ];
        for (i, (command, extra, inner)) in steps.iter().enumerate() {
            let attrs = format!(r#"OperationID="op-{n}-{i}" PurchaseID="{purchase}"{extra}"#);
            let request = body(command, &attrs, inner);
            let (a, b) = (
                post(&small, "till-a", &request, None).await,
                post(&full, "till-a", &request, None).await,
            );
            assert!(ok(&a), "{command} {n}: {}", a.text());
            assert_eq!(a.text(), b.text(), "{command} {n}");
        }
        assert_eq!(card(&small), card(&full), "after purchase {n}");
    }
    // 40 confirmed purchases: 500 + 40 × (19 − 10) rubles.
    let snapshot = small.snapshot();
    assert_eq!(snapshot["projects"][0]["cards"][0]["balance"], "860.00");
    // The history is bounded: at most twice the allowance plus slack before a trim.
    let project = &snapshot["projects"][0];
    let kept = project["purchases"].as_array().unwrap().len();
    assert!(kept <= 2 * 2 + 16, "{kept} purchases kept");
    assert_eq!(project["summarisedPurchases"].as_u64().unwrap() as usize + kept, 60);
    assert!(project["answeredOperations"].as_u64().unwrap() <= 2 * 4 * 2 + 64);
    assert_eq!(
        full.snapshot()["projects"][0]["purchases"].as_array().unwrap().len(),
        60
    );
    // A replay of a forgotten operation is evaluated anew (see the README, "Retention"): the
    // purchase is gone, so the confirm is refused instead of replayed.
    let replay = body("ConfirmPurchase", r#"OperationID="op-1-3" PurchaseID="P1""#, "");
    let (a, b) = (
        post(&small, "till-a", &replay, None).await,
        post(&full, "till-a", &replay, None).await,
    );
    assert!(ok(&b), "kept: replayed");
    assert!(!ok(&a), "forgotten: {}", a.text());
}

/// Open purchases are never trimmed, so with more of them than the threshold (2 × 2 + 16 = 20
/// here) the project stays above it; the retention then trims again only once as many
/// purchases as it keeps (2) have come, instead of walking every purchase at every exchange.
#[tokio::test]
async fn with_many_open_purchases_the_history_is_trimmed_in_steps() {
    let mock = keeping(2);
    let lines = cheque(&[("1", "g", "100", "2", "200")]);
    let calculate = |n: usize| {
        body(
            "Calculate",
            &format!(r#"OperationID="c{n}" PurchaseID="P{n}""#),
            &format!("{lines}{}", ident("1000")),
        )
    };
    for n in 0..25 {
        assert!(ok(&post(&mock, "till-a", &calculate(n), None).await));
    }
    for n in 25..55 {
        assert!(ok(&post(&mock, "till-a", &calculate(n), None).await));
        let cancel = body(
            "CancelPurchase",
            &format!(r#"OperationID="x{n}" PurchaseID="P{n}""#),
            "",
        );
        assert!(ok(&post(&mock, "till-a", &cancel, None).await));
    }
    // Worked through by hand: the trims after the exchanges that bring the project above
    // max(20, last size after a trim + 2) forget 26 of the 30 cancelled purchases and keep 4
    // (trimming at every exchange would have kept 2 and forgotten 28). The 25 open stay.
    let project = &mock.snapshot()["projects"][0];
    assert_eq!(project["summarisedPurchases"], 26);
    let purchases = project["purchases"].as_array().unwrap();
    assert_eq!(purchases.len(), 29);
    let states: Vec<&str> = purchases.iter().map(|p| p["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "Calculated").count(), 25, "{states:?}");
}

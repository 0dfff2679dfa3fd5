//! Bounded memory over the wire (issue 13): the journal stays within its byte budget under a
//! header bomb, journal pages and the export return every entry exactly once, and TYRIOS keeps
//! only the newest transactions without changing a balance, and so does PAYBACK.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::util::Possim;

const BASE: &str = "/BonusPointManagement/BonusPointTransaction";

#[tokio::test]
async fn a_header_bomb_series_keeps_the_journal_under_its_byte_budget() {
    const BUDGET: u64 = 1024 * 1024;
    let possim = Possim::start("seed-examples", &["--journal-max-bytes", &BUDGET.to_string()]).await;
    // Issue 13's bomb: 95 headers of 3.9 KB per request (about 370 KiB each, 22 MiB in all).
    let filler = "b".repeat(3900);
    for _ in 0..60 {
        let mut req = possim
            .client()
            .get(format!(
                "{}/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
                possim.tyrios
            ))
            .basic_auth("demo", Some("demo"));
        for i in 0..95 {
            req = req.header(format!("x-bomb-{i}"), &filler);
        }
        let resp = req.send().await.expect("answered");
        assert_eq!(resp.status(), 200);
    }
    let listing = possim
        .client()
        .get(format!("{}/__admin/journal", possim.admin))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // The listing is about what the journal holds, not what was sent.
    assert!(
        listing.len() < 2 * BUDGET as usize,
        "listing of {} bytes",
        listing.len()
    );
    let journal: Value = serde_json::from_slice(&listing).unwrap();
    let budget = &journal["budget"];
    assert_eq!(budget["maxBytes"], BUDGET);
    assert!(budget["bytes"].as_u64().unwrap() <= BUDGET, "{budget}");
    let entries = journal["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    // Every entry that is kept says its headers were cut; none holds more than 16 KiB of them.
    for entry in entries {
        let headers = entry["request"]["headers"].as_array().unwrap();
        let (name, value) = (&headers.last().unwrap()[0], &headers.last().unwrap()[1]);
        assert_eq!(name, "x-possim-journal-cut", "{headers:?}");
        assert!(value.as_str().unwrap().ends_with("not recorded"), "{value}");
        let held: usize = headers
            .iter()
            .map(|h| h[0].as_str().unwrap().len() + h[1].as_str().unwrap().len())
            .sum();
        assert!(held < 17 * 1024, "{held} bytes of headers");
    }
    let stats = &journal["stats"];
    assert_eq!(
        stats["len"].as_u64().unwrap() + stats["dropped"].as_u64().unwrap(),
        60,
        "{stats}"
    );
}

#[tokio::test]
async fn journal_pages_and_the_export_return_every_entry_exactly_once() {
    let possim = Possim::start("seed-examples", &[]).await;
    for i in 0..40 {
        let (status, _) = possim
            .tyrios(
                "GET",
                &format!("/BonusPointManagement/UserData/UQBUFDJALK4WXYC?n={i}"),
                None,
            )
            .await;
        assert_eq!(status, 200);
    }
    // Everything in one default page: the shape a reader without paging knows.
    let (_, whole) = possim.admin("GET", "/__admin/journal", None).await;
    assert!(whole.get("next").is_none(), "one page holds 40 small entries");
    let all: Vec<u64> = whole["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(all.len(), 40);
    // Small pages, continued from `next`, give the same ids once each, in order.
    let mut paged = Vec::new();
    let mut since = 0;
    let mut pages = 0;
    loop {
        let (status, page) = possim
            .admin("GET", &format!("/__admin/journal?since={since}&pageBytes=3000"), None)
            .await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        assert!(pages <= 40, "paging does not end");
        paged.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_u64().unwrap()),
        );
        match page.get("next").and_then(Value::as_u64) {
            Some(next) => since = next,
            None => break,
        }
    }
    assert!(pages > 2, "3,000 bytes hold a few entries only ({pages} pages)");
    assert_eq!(paged, all);
    assert_eq!(paged.iter().collect::<BTreeSet<_>>().len(), paged.len());
    // The streamed export has the same entries, one per line.
    let export = possim
        .client()
        .get(format!("{}/__admin/journal/export", possim.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: Vec<u64> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_u64().unwrap())
        .collect();
    assert_eq!(exported, all);
}

#[tokio::test]
async fn tyrios_keeps_the_newest_transactions_and_every_point() {
    let possim = Possim::start("seed-examples", &["--retain-transactions", "3"]).await;
    let body = r#"{"UserData":"UQBUFDJALK4WXYC","enablePointRedemption":false,"productGroup":"Hose","totalAmount":10,"userMode":"HASH"}"#;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (status, tx) = possim.tyrios("POST", &format!("{BASE}/pos"), Some(body)).await;
        assert_eq!(status, 200, "{tx}");
        // The seed's company grants 2 % of 10.00 EUR: 20 points; redemption is switched off.
        assert_eq!(
            (tx["obtainedPoints"].clone(), tx["redeemedPoints"].clone()),
            (json!(20), json!(0))
        );
        ids.push(tx["id"].as_u64().unwrap());
    }
    // The seed's 213 points plus ten times 20: summarising history changed no point.
    let (_, user) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(user["currentBonusPoints"], 213 + 200);
    let (_, overview) = possim.tyrios("GET", &format!("{BASE}?limit=10"), None).await;
    assert_eq!(overview["total"], 3);
    let listed: Vec<u64> = overview["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[9], ids[8], ids[7]]);
    // A summarised transaction is not found any more (the mock's 400 for unknown ids); a kept
    // one is.
    let (status, gone) = possim.tyrios("GET", &format!("{BASE}/{}", ids[0]), None).await;
    assert_eq!(status, 400);
    assert_eq!(
        gone["message"],
        format!("Die Transaktion {} wurde nicht gefunden.", ids[0])
    );
    let (status, kept) = possim.tyrios("GET", &format!("{BASE}/{}", ids[9]), None).await;
    assert_eq!((status, kept["availableObtainedPoints"].clone()), (200, json!(20)));
    let state = possim.tyrios_state().await;
    let summary = &state["retention"]["summarised"]["6"];
    assert_eq!(state["retention"]["transactions"], 3);
    assert_eq!(
        (
            summary["transactions"].clone(),
            summary["obtainedPoints"].clone(),
            summary["totalCents"].clone()
        ),
        (json!(7), json!(140), json!(7000)),
        "{state}"
    );
    // The state snapshot pages its lists on request and says what it left out.
    let (_, page) = possim
        .admin("GET", "/__admin/state/tyrios?offset=1&limit=1", None)
        .await;
    assert_eq!(page["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(page["transactions"][0]["id"], ids[8]);
    assert_eq!(page["page"]["totals"]["transactions"], 3);
}

#[tokio::test]
async fn payback_keeps_the_newest_purchases_and_every_point() {
    let possim = Possim::start("", &["--clock", "2026-11-25T12:00:00Z", "--retain-transactions", "2"]).await;
    let purchase = |tx: String| {
        possim
            .client()
            .post(format!("{}/purchases", possim.payback))
            .basic_auth("possim", Some("demo"))
            .header("partnerShortName", "possim-optik")
            .json(
                &json!({"transactionId": tx, "cardNumber": "9876543210", "receiptNumber": "B-1",
                "totalAmountCents": 1000}),
            )
            .send()
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        let resp = purchase(format!("mem-{i}")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let booked: Value = resp.json().await.unwrap();
        // 10.00 EUR at 200 cents per point (the default set's partner): 5 points.
        assert_eq!(booked["totalPoints"], 5, "{booked}");
        ids.push(booked["purchaseId"].as_str().unwrap().to_owned());
    }
    let (_, state) = possim.admin("GET", "/__admin/state/payback", None).await;
    let max = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customerNumber"] == "9876543210")
        .unwrap();
    // The default set's 300 + 5000 points plus five purchases of 5.
    assert_eq!(max["balance"], 5300 + 25);
    let summary = &state["retention"]["summarised"]["possim-optik"];
    assert_eq!(
        (summary["purchases"].clone(), summary["purchasePoints"].clone()),
        (json!(3), json!(15)),
        "{state}"
    );
    assert_eq!(state["purchases"].as_array().unwrap().len(), 2);
    // A forgotten purchase is refused like an unknown one (README, "Retention").
    let resp = possim
        .client()
        .post(format!("{}/purchases/{}/reversal", possim.payback, ids[0]))
        .basic_auth("possim", Some("demo"))
        .header("partnerShortName", "possim-optik")
        .json(&json!({"transactionId": "mem-reversal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(refused["code"], "REFERENCE_NOT_FOUND");
}

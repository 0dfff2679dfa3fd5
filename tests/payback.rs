//! The PAYBACK loyalty mock over the wire: partner authentication, lookup, PIN with lock-out,
//! collecting with action coupons, redemption rules, idempotent replays, reversals, coupons,
//! geolocation. Expected figures are computed here from the programme rules in the test comments.
//!
//! The same file also runs in process, through the mock's router: `mocks/payback/tests/integration.rs`
//! (only what `tests/in_process_harness.rs` offers may be used here).

use serde_json::{Value, json};

use crate::util::Possim;

/// Max Mustermann's main card: prefix 99999 + customer number 9876543210 + Luhn digit 8 (computed
/// by hand: the doubled-digit sum of 999999876543210 is 82, 10 − 2 = 8).
pub(crate) const MAX_CARD: &str = "9999998765432108";
/// His second card: prefix 99998, check digit 0.
const MAX_SECOND: &str = "9999898765432100";
const ERIKA: &str = "1234567890";

pub(crate) async fn start() -> Possim {
    // A fixed day: Max holds 300 (earned 2024, valid to 2027-09-30) + 5000 (earned 2026) points.
    Possim::start("", &["--clock", "2026-11-25T12:00:00Z"]).await
}

async fn call_as(p: &Possim, user: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = p
        .client()
        .post(format!("{}{path}", p.payback))
        .basic_auth(user, Some("demo"))
        .header("partnerShortName", "possim-optik")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

pub(crate) async fn call(p: &Possim, path: &str, body: Value) -> (u16, Value) {
    call_as(p, "possim", path, body).await
}

async fn max_balance(p: &Possim) -> i64 {
    let state = p.admin("GET", "/__admin/state/payback", None).await.1;
    state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customerNumber"] == "9876543210")
        .unwrap()["balance"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn partner_authentication_and_connection_test() {
    let p = start().await;
    let (status, body) = call(&p, "/auth/test", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "OK");
    assert_eq!(body["branches"][0]["id"], "1010");
    let (status, body) = call_as(&p, "someone", "/auth/test", json!({})).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("PARTNER_NOT_AUTHORISED")));
    // `/health` needs no credentials and answers `{"status": "UP"}` (mocks/payback/README.md).
    let resp = p.client().get(format!("{}/health", p.payback)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let health: Value = resp.json().await.unwrap();
    assert_eq!(health, json!({"status": "UP"}));
}

#[tokio::test]
async fn lookup_by_card_or_customer_number_shows_no_balance() {
    let p = start().await;
    for number in [MAX_CARD, MAX_SECOND, "9876543210", "9999 9987 6543 2108"] {
        let (status, body) = call(&p, "/members/lookup", json!({"cardNumber": number})).await;
        assert_eq!(status, 200, "{number}: {body}");
        assert_eq!(body["customerNumber"], "9876543210");
        assert_eq!(body["maskedName"], "M. M.");
        assert!(body.get("balance").is_none());
    }
    let (status, body) = call(&p, "/members/lookup", json!({"cardNumber": "9999998765432109"})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("CARD_INVALID_CHECKDIGIT")));
    let (status, body) = call(&p, "/members/lookup", json!({"cardNumber": "1111111111"})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("CARD_UNKNOWN")));
    let (status, body) = call(&p, "/members/lookup", json!({"cardNumber": "5555555555"})).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("CARD_BLOCKED")));
    let (status, body) = call(&p, "/members/lookup", json!({"card": 1})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_REQUEST")));
}

#[tokio::test]
async fn the_third_wrong_pin_locks() {
    let p = start().await;
    let wrong = json!({"cardNumber": MAX_CARD, "pin": "0000"});
    let (status, body) = call(&p, "/members/authenticate", wrong.clone()).await;
    assert_eq!(
        (status, body["code"].as_str(), body["remainingTries"].as_u64()),
        (422, Some("PIN_INVALID"), Some(2))
    );
    let (_, body) = call(&p, "/members/authenticate", wrong.clone()).await;
    assert_eq!(body["remainingTries"], 1);
    let (_, body) = call(&p, "/members/authenticate", wrong).await;
    assert_eq!(body["code"], "PIN_LOCKED");
    let (_, body) = call(
        &p,
        "/members/authenticate",
        json!({"cardNumber": MAX_CARD, "pin": "1234"}),
    )
    .await;
    assert_eq!(body["code"], "PIN_LOCKED", "the right PIN does not unlock");
}

#[tokio::test]
async fn collect_redeem_and_reverse() {
    let p = start().await;
    let (status, auth) = call(
        &p,
        "/members/authenticate",
        json!({"cardNumber": MAX_CARD, "pin": "1234"}),
    )
    .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["balance"], 5300);
    assert_eq!(auth["redeemableBalance"], 5300);

    // 123.45 EUR at 1 point per 2.00 EUR: 61 base points; 10FACH adds 9 × 61 = 549; EXTRA500 adds
    // 500; 20FACH needs activation (Max has it): 19 × 61 = 1159. Total 61 + 549 + 500 + 1159 = 2269.
    let purchase = json!({"transactionId": "T-1", "cardNumber": MAX_CARD, "receiptNumber": "R1", "branchId": "1010",
        "totalAmountCents": 12345, "coupons": ["10fach", "EXTRA500", "APP20FACH", "ABGELAUFEN", "NURANDERE"]});
    let (status, bought) = call(&p, "/purchases", purchase.clone()).await;
    assert_eq!(status, 200, "{bought}");
    assert_eq!(bought["basePoints"], 61);
    assert_eq!(bought["totalPoints"], 2269);
    assert_eq!(bought["newBalance"], 5300 + 2269);
    let reasons: Vec<(String, Value)> = bought["couponPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_owned(),
                c.get("points").cloned().unwrap_or(c["reason"].clone()),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("10FACH".to_owned(), json!(549)),
            ("EXTRA500".to_owned(), json!(500)),
            ("APP20FACH".to_owned(), json!(1159)),
            ("ABGELAUFEN".to_owned(), json!("COUPON_EXPIRED")),
            ("NURANDERE".to_owned(), json!("COUPON_NOT_FOR_PARTNER")),
        ]
    );
    // The same request again: the original answer, nothing booked twice.
    let (status, replay) = call(&p, "/purchases", purchase.clone()).await;
    assert_eq!((status, &replay), (200, &bought));
    assert_eq!(max_balance(&p).await, 7569);
    let mut changed = purchase.clone();
    changed["totalAmountCents"] = json!(1);
    let (status, body) = call(&p, "/purchases", changed).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("DUPLICATE_TRANSACTION")));

    // Redemption rules.
    let token = auth["pinToken"].as_str().unwrap();
    let redeem = |tx: &str, points: i64, basket: i64| json!({"transactionId": tx, "pinToken": token, "points": points, "basketTotalCents": basket, "receiptNumber": "R2"});
    let (status, body) = call(&p, "/redemptions", redeem("T-2", 199, 10_000)).await;
    assert_eq!(
        (status, body["code"].as_str(), body["minimum"].as_i64()),
        (422, Some("BELOW_MIN_REDEMPTION"), Some(200))
    );
    let (_, body) = call(&p, "/redemptions", redeem("T-2", 100_000, 1_000_000)).await;
    assert_eq!(
        (body["code"].as_str(), body["balance"].as_i64()),
        (Some("INSUFFICIENT_POINTS"), Some(7569))
    );
    let (_, body) = call(&p, "/redemptions", redeem("T-2", 600, 500)).await;
    assert_eq!(body["code"], "AMOUNT_EXCEEDS_BASKET");
    // A refusal is not stored: the same id may be used once the request is right.
    let (status, redeemed) = call(&p, "/redemptions", redeem("T-2", 400, 500)).await;
    assert_eq!(status, 200, "{redeemed}");
    assert_eq!(
        (redeemed["redeemedPoints"].as_i64(), redeemed["amountCents"].as_i64()),
        (Some(400), Some(400))
    );
    assert_eq!(redeemed["newBalance"], 7169);
    // Oldest points go first: the 300 from 2024 are gone, 100 came from the 2026 lot.
    let state = p.admin("GET", "/__admin/state/payback", None).await.1;
    let max = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customerNumber"] == "9876543210")
        .unwrap();
    assert_eq!(max["lots"][0]["points"], 4900);

    // Reversals.
    let rid = redeemed["redemptionId"].as_str().unwrap();
    let (status, back) = call(
        &p,
        &format!("/redemptions/{rid}/reversal"),
        json!({"transactionId": "T-3", "points": 100}),
    )
    .await;
    assert_eq!(
        (status, back["rebookedPoints"].as_i64(), back["newBalance"].as_i64()),
        (200, Some(100), Some(7269))
    );
    let (_, back) = call(
        &p,
        &format!("/redemptions/{rid}/reversal"),
        json!({"transactionId": "T-4", "points": 400}),
    )
    .await;
    assert_eq!(
        (back["code"].as_str(), back["left"].as_i64()),
        (Some("REVERSAL_EXCEEDS_ORIGINAL"), Some(300))
    );
    let (_, back) = call(
        &p,
        &format!("/redemptions/{rid}/reversal"),
        json!({"transactionId": "T-5"}),
    )
    .await;
    assert_eq!(back["rebookedPoints"], 300);
    let (_, back) = call(
        &p,
        &format!("/redemptions/{rid}/reversal"),
        json!({"transactionId": "T-6"}),
    )
    .await;
    assert_eq!(back["code"], "ALREADY_REVERSED");
    // The 300 points from 2024 are back in their own lot, with their own expiry.
    let state = p.admin("GET", "/__admin/state/payback", None).await.1;
    let max = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customerNumber"] == "9876543210")
        .unwrap();
    assert_eq!(max["nextExpiry"], json!({"at": "2027-09-30T22:00:00Z", "points": 300}));

    // Goods returned: 45.45 EUR of 123.45. What is left (78.00 EUR) is worth 39 base points,
    // 9 × 39 + 19 × 39 = 1092 from the multipliers and the 500 extra: 1631. Reversed: 2269 − 1631 = 638.
    let pid = bought["purchaseId"].as_str().unwrap();
    let (status, rev) = call(
        &p,
        &format!("/purchases/{pid}/reversal"),
        json!({"transactionId": "T-7", "amountCents": 4545}),
    )
    .await;
    assert_eq!((status, rev["reversedPoints"].as_i64()), (200, Some(638)), "{rev}");
    let (_, rev) = call(
        &p,
        &format!("/purchases/{pid}/reversal"),
        json!({"transactionId": "T-8"}),
    )
    .await;
    assert_eq!(
        (rev["reversedPoints"].as_i64(), rev["fullyReversed"].as_bool()),
        (Some(1631), Some(true))
    );
    assert_eq!(max_balance(&p).await, 5300, "everything undone");
}

#[tokio::test]
async fn who_may_redeem() {
    let p = start().await;
    let body = |card: &str, pin: &str| {
        json!({"transactionId": format!("T-{card}"), "cardNumber": card, "pin": pin, "points": 200,
            "basketTotalCents": 1000, "receiptNumber": "R"})
    };
    let (status, b) = call(&p, "/redemptions", body(ERIKA, "4321")).await;
    assert_eq!((status, b["code"].as_str()), (422, Some("MEMBER_NOT_REGISTERED")));
    // Erika's second card (prefix 99998 + 1234567890 + Luhn digit 0) is blocked.
    let (status, b) = call(&p, "/redemptions", body("9999812345678900", "4321")).await;
    assert_eq!((status, b["code"].as_str()), (403, Some("CARD_BLOCKED")));
    let (_, b) = call(&p, "/redemptions", body("3333333333", "9999")).await;
    assert_eq!(b["code"], "PIN_LOCKED");
    let (_, b) = call(
        &p,
        "/members/authenticate",
        json!({"cardNumber": "2222222222", "pin": "0000"}),
    )
    .await;
    assert_eq!(
        (b["balance"].as_i64(), b["redeemableBalance"].as_i64()),
        (Some(150), Some(0))
    );
    let (_, b) = call(
        &p,
        "/redemptions",
        json!({"transactionId": "T-x", "pinToken": "PT-999", "points": 200, "basketTotalCents": 1000, "receiptNumber": "R"}),
    )
    .await;
    assert_eq!(b["code"], "PIN_TOKEN_INVALID");
}

#[tokio::test]
async fn coupons_and_geolocation() {
    let p = start().await;
    let (_, v) = call(
        &p,
        "/coupons/validate",
        json!({"cardNumber": "2222222222", "code": "APP20FACH"}),
    )
    .await;
    assert_eq!(
        (v["valid"].as_bool(), v["reason"].as_str()),
        (Some(false), Some("COUPON_NOT_ACTIVATED"))
    );
    let (status, _) = call(
        &p,
        "/coupons/activate",
        json!({"cardNumber": "2222222222", "code": "APP20FACH"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, v) = call(
        &p,
        "/coupons/validate",
        json!({"cardNumber": "2222222222", "code": "app20fach"}),
    )
    .await;
    assert_eq!((v["valid"].as_bool(), v["value"].as_i64()), (Some(true), Some(20)));
    let (_, v) = call(
        &p,
        "/coupons/validate",
        json!({"cardNumber": "2222222222", "code": "NOPE"}),
    )
    .await;
    assert_eq!(v["reason"], "COUPON_UNKNOWN");

    let (status, g) = call(
        &p,
        "/branches/4020/geolocation",
        json!({"latitude": 48.3069, "longitude": 14.2858}),
    )
    .await;
    assert_eq!((status, g["branchId"].as_str()), (200, Some("4020")));
    let (status, g) = call(
        &p,
        "/branches/4020/geolocation",
        json!({"latitude": 91, "longitude": 0}),
    )
    .await;
    assert_eq!((status, g["code"].as_str()), (400, Some("INVALID_REQUEST")));
    let (status, _) = call(&p, "/branches/9999/geolocation", json!({"latitude": 1, "longitude": 1})).await;
    assert_eq!(status, 401);
    let state = p.admin("GET", "/__admin/state/payback", None).await.1;
    assert_eq!(state["partners"][1]["branches"][1]["latitude"], 48.3069);
}

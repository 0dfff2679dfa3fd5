//! The exact bytes of every PAYBACK answer a till sees, and the answers the mock stores for
//! idempotent replays (the admin snapshot's `transactions`), over one session on the default data
//! set: lookup, PIN, a purchase with accepted and refused coupons, a redemption and its replay,
//! both reversals, coupon checks, the geolocation update and refusals.
//!
//! The snapshot was taken from the answers as the domain first wrote them (`json!` objects); the
//! typed answer structs must reproduce it byte for byte, key order included.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use possim_engine::clock::{Clock, parse_rfc3339};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_payback::PaybackMock;
use tower::ServiceExt;

fn mock() -> PaybackMock {
    let clock = Arc::new(Clock::frozen(parse_rfc3339("2026-11-25T12:00:00Z").unwrap()));
    let mock = PaybackMock::new(clock);
    let set = DataSet::from_files(
        "default",
        [("payback.toml", include_str!("../../datasets/default/payback.toml"))],
    )
    .unwrap();
    mock.load(&set).unwrap();
    mock
}

/// `possim:demo`, the partner login of seed 000's POS configuration.
const LOGIN: &str = "Basic cG9zc2ltOmRlbW8=";

async fn call(mock: &PaybackMock, path: &str, body: &str) -> String {
    let request = Request::post(path)
        .header("partnerShortName", "possim-optik")
        .header("authorization", LOGIN)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = mock.router().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    format!("POST {path} {body}\n→ {status} {}\n", String::from_utf8_lossy(&bytes))
}

#[tokio::test]
async fn answers_byte_for_byte() {
    let mock = mock();
    let mut transcript = String::new();
    let steps: &[(&str, &str)] = &[
        ("/members/lookup", r#"{"cardNumber":"9999998765432108"}"#),
        ("/members/lookup", r#"{"customerNumber":"1234567890"}"#),
        ("/members/authenticate", r#"{"cardNumber":"9876543210","pin":"1234"}"#),
        ("/members/authenticate", r#"{"cardNumber":"2222222222","pin":"0000"}"#),
        ("/members/authenticate", r#"{"cardNumber":"9876543210","pin":"1111"}"#),
        (
            "/purchases",
            r#"{"transactionId":"T1","cardNumber":"9876543210","receiptNumber":"R1","branchId":"1010","totalAmountCents":12345,"coupons":["10fach","EXTRA500","ABGELAUFEN","10FACH","APP20FACH"]}"#,
        ),
        (
            "/purchases",
            r#"{"transactionId":"T2","cardNumber":"9876543210","receiptNumber":"R2","totalAmountCents":4000,"eligibleAmountCents":3000}"#,
        ),
        (
            "/redemptions",
            r#"{"transactionId":"T3","pinToken":"PT-1","points":500,"basketTotalCents":2000,"receiptNumber":"R3"}"#,
        ),
        (
            "/redemptions",
            r#"{"transactionId":"T3","pinToken":"PT-1","points":500,"basketTotalCents":2000,"receiptNumber":"R3"}"#,
        ),
        (
            "/redemptions",
            r#"{"transactionId":"T4","cardNumber":"9876543210","pin":"1234","amountCents":300,"basketTotalCents":300,"receiptNumber":"R4"}"#,
        ),
        (
            "/redemptions",
            r#"{"transactionId":"T4","cardNumber":"9876543210","pin":"1234","amountCents":301,"basketTotalCents":300,"receiptNumber":"R4"}"#,
        ),
        (
            "/purchases/P-3/reversal",
            r#"{"transactionId":"T5","amountCents":1000}"#,
        ),
        ("/purchases/P-4/reversal", r#"{"transactionId":"T9"}"#),
        ("/purchases/P-3/reversal", r#"{"transactionId":"T6"}"#),
        ("/redemptions/R-6/reversal", r#"{"transactionId":"T7","points":200}"#),
        ("/redemptions/R-6/reversal", r#"{"transactionId":"T8"}"#),
        ("/coupons/validate", r#"{"cardNumber":"9876543210","code":"extra500"}"#),
        ("/coupons/validate", r#"{"cardNumber":"9876543210","code":"NURANDERE"}"#),
        (
            "/coupons/validate",
            r#"{"cardNumber":"9876543210","code":"GIBTSNICHT"}"#,
        ),
        ("/coupons/validate", r#"{"cardNumber":"2222222222","code":" 10fach "}"#),
        ("/coupons/activate", r#"{"cardNumber":"1234567890","code":"APP20FACH"}"#),
        (
            "/branches/4020/geolocation",
            r#"{"latitude":48.30639,"longitude":14.28611}"#,
        ),
        ("/auth/test", ""),
    ];
    for (path, body) in steps {
        transcript.push_str(&call(&mock, path, body).await);
    }
    insta::assert_snapshot!(transcript);
    let snapshot = mock.snapshot();
    insta::assert_json_snapshot!("stored_answers", snapshot["transactions"]);
}

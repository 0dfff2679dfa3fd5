//! The Paygate through its axum router, in process (no sockets): the seed's sample sale and its
//! notifies, credits, inquiries, ReqID replays, and every refusal of the code table in
//! `mocks/computop/README.md`.
//!
//! Expected values come from outside the code: the seed's samples (seed 003, `UrlNotify - …`),
//! the README's code table (Computop's 8-character structure, our module and parameter numbers),
//! and MACs computed here with the `hmac` crate over the documented field order. Requests are
//! written field by field here, not with the crate's `client`; only sealing and opening `Data`
//! use the crate's Blowfish/AES, which `tests/crypto_vectors.rs` pins to Computop's vectors.
//!
//! A sale starts the asynchronous flow (notifies over HTTP, `tests/computop.rs` covers it end to
//! end). Here the customer's decision is applied as the flow applies it
//! (`paygate::apply_decision`), and the final notify is built as the flow builds it; the callback
//! URLs point at a closed loopback port, so a flow task that runs anyway reaches nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use possim_computop::ComputopMock;
use possim_computop::client::Account;
use possim_computop::crypto::Cipher;
use possim_computop::form::Fields;
use possim_computop::paygate;
use possim_engine::clock::{Clock, parse_rfc3339};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use tower::ServiceExt;

const DEFAULT: &str = include_str!("../../datasets/default/computop.toml");
const SEED_EXAMPLES: &str = include_str!("../../datasets/seed-examples/computop.toml");

/// Callbacks on a closed loopback port: nothing listens, nothing leaves the machine.
const SHOP: &str = "http://127.0.0.1:1";

/// Seed 003, "UrlNotify - Authorize_request" (its MAC has 63 characters: recomputed, see README).
const SEED_AUTHORIZE: &str = "mid=your_merchant_id&PayID=e750aaf2b0b34ab5bc5027b098b17b00&XID=6c92cadeae574d7c82f5c2ce41ba7cf5&TransID=TID-1708346969344-077409836028&refnr=ygbvb06293amohs08348xjtlq&Type=PaybackPay&TimeStamp=19.02.2024 14:08:32.148&redirecturl=https://www.tst1.pb-nonprod.de/site-demo/payauthorization?ecomid=65775a20-abc5-4a96-882a-59694a6d09e2&Amount=5500&Currency=EUR&TransactionID=65775a20-abc5-4a96-882a-59694a6d09e2&Code=0&Status=AUTHORIZE_REQUEST&Description=SUCCESS&MAC=4C2422A7FD3F7CF3917CA0AF147E32A14CED8FCE223279C81A40C147FEC33EF";

/// Seed 003, "UrlNotify - Success, fully paid with SEPA".
const SEED_PAID_SEPA: &str = "mid=your_merchant_id&PayID=e750aaf2b0b34ab5bc5027b098b17b00&TransID=TID-1708346969344-077409836028&XID=6c92cadeae574d7c82f5c2ce41ba7cf5&Code=00000000&refnr=ygbvb06293amohs08348xjtlq&Status=OK&Description=success&Type=PaybackPay&TimeStamp=19.02.2024 14:08:32&paymentmethodtype=0&paymentmethod=Sepa&redemptionfactor=0.01&pointsredeemed=0&payamount=5500&pointamount=0&accountid=9876543210&customerid=9530c279-f13d-41db-b6a4-19488541bee9&isbound=True&customergroup=KNOWN&Amount=5500&MAC=FD5B5EC4002110525A5C907A758E998C2472A9347DBD90F3160862109933DFBA";

/// Seed 003, "UriNotify - Success, fully paid with Payback Points (5500)".
const SEED_PAID_POINTS: &str = "mid=your_merchant_id&PayID=83eb6cf794714bcd8febc383a43e641b&TransID=TID-1708349169009-006207053003&XID=79ff6c94eaa843fd8fb285e27ec763d2&Code=00000000&refnr=psphu0pnltq060sjxtp0295ix&Status=OK&Description=success&Type=PaybackPay&TimeStamp=19.02.2024 14:26:19&paymentmethodtype=0&paymentmethod=0&redemptionfactor=0.01&pointsredeemed=5500&payamount=0&pointamount=0&accountid=9876543210&customerid=9530c279-f13d-41db-b6a4-19488541bee9&isbound=True&customergroup=KNOWN&Amount=5500&MAC=6DA6EF6FEEEE00D066BBD92AC364E425A573C747666999A6CF7025CEf920C8EFd";

/// Seed 003, "UrlNotify - Success, partially paid with SEPA (50,00 EUR) and Payback Points (500)".
const SEED_PAID_MIXED: &str = "mid=your_merchant_id&PayID=fc4190702e1c40dc9e72aa4ab19eb16e&TransID=TID-1708349488037-083700247017&XID=3314ec645dec489e2fe88cc06f1f8d0&Code=00000000&refnr=offcc0821rbqrb01415wpsge0&Status=OK&Description=success&Type=PaybackPay&TimeStamp=19.02.2024 14:31:42&paymentmethodtype=0&paymentmethod=Sepa&redemptionfactor=0.01&pointsredeemed=500&payamount=5000&pointamount=0&accountid=9876543210&customerid=9530c279-f13d-41db-b6a4-19488541bee9&isbound=True&customergroup=KNOWN&Amount=5500&MAC=09C22AAFC783A38C90DFAB6A95AA8920568AAA6013DFFFB70CAF47F0A7AE9D1";

const SAMPLE_MEMBER: &str = "9876543210";
const SAMPLE_CUSTOMER: &str = "9530c279-f13d-41db-b6a4-19488541bee9";

fn mock_with(toml: &str, at: &str) -> (ComputopMock, Arc<Clock>) {
    let clock = Arc::new(Clock::frozen(parse_rfc3339(at).unwrap()));
    let mock = ComputopMock::new(Arc::clone(&clock));
    let set = DataSet::from_files("test", [("computop.toml", toml)]).unwrap();
    mock.load(&set).unwrap();
    (mock, clock)
}

fn default_mock() -> ComputopMock {
    mock_with(DEFAULT, "2026-03-02T10:00:00Z").0
}

/// The default set's Blowfish merchant (README: `your_merchant_id`, `mySecret`, `16CharKeyLength!`).
fn blowfish_shop() -> Account {
    Account {
        merchant_id: "your_merchant_id".into(),
        hmac_password: "mySecret".into(),
        crypt_password: "16CharKeyLength!".into(),
        cipher: Cipher::Blowfish,
    }
}

/// The default set's AES merchant.
fn aes_shop() -> Account {
    Account {
        merchant_id: "possim_aes_shop".into(),
        hmac_password: "possimHmacSecret".into(),
        crypt_password: "0123456789abcdef0123456789abcdef".into(),
        cipher: Cipher::Aes,
    }
}

/// Uppercase HMAC-SHA256 over the values joined by `*` (spec §1.6), computed here.
fn hmac_upper(password: &str, values: &[&str]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(values.join("*").as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

/// The MAC a Paygate message must carry: over `PayID*TransID*mid*Status*Code`.
fn answer_mac(password: &str, f: &Fields) -> String {
    let get = |k: &str| f.get(k).unwrap_or("").to_owned();
    hmac_upper(
        password,
        &[
            &get("PayID"),
            &get("TransID"),
            &get("mid"),
            &get("Status"),
            &get("Code"),
        ],
    )
}

/// A seed sample with its MAC replaced by the correct one (the samples' MACs are malformed).
fn seed_sample(line: &str, password: &str) -> Vec<(String, String)> {
    let mut fields = Fields::parse(line, false);
    let mac = answer_mac(password, &fields);
    fields.set("MAC", mac);
    pairs(&fields)
}

fn pairs(f: &Fields) -> Vec<(String, String)> {
    f.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn b64(v: serde_json::Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

/// Every mandatory field of seed 003's sale table, for `amount` cents of one article at 19 %
/// (VAT 878 of 5500: 5500 − 5500 / 1.19, rounded), the MAC over
/// `PayID*TransID*MerchantID*Amount*Currency` with an empty PayID.
fn sale(shop: &Account, trans_id: &str, amount: i64, extra: &[(&str, &str)]) -> Fields {
    let vat = amount - (amount as f64 / 1.19).round() as i64;
    let mut f = Fields::default();
    f.push("MerchantID", shop.merchant_id.clone());
    f.push("TransID", trans_id);
    f.push("Amount", amount.to_string());
    f.push("Currency", "EUR");
    f.push("URLSuccess", format!("{SHOP}/success"));
    f.push("URLFailure", format!("{SHOP}/failure"));
    f.push("URLNotify", format!("{SHOP}/notify"));
    f.push("Response", "encrypt");
    f.push(
        "VatList",
        b64(serde_json::json!({"items": [{"rate": 19, "amount": vat}]})),
    );
    f.push(
        "ArticleList",
        b64(
            serde_json::json!({"items": [{"itemReference": "1", "id": "ORDER", "name": "Order",
            "quantity": "1", "amount": amount, "vatAmount": vat, "vatPercent": 19, "type": "GOODS"}]}),
        ),
    );
    f.push("AccountID", SAMPLE_MEMBER);
    f.push("CustomerID", SAMPLE_CUSTOMER);
    f.push("IsBound", "True");
    f.push("CustomerGroup", "KNOWN");
    f.push("sdCountryCode", "DE");
    for (k, v) in extra {
        f.set(*k, *v);
    }
    sign_request(shop, &mut f);
    f
}

/// (Re)computes the request MAC of `f` over `PayID*TransID*MerchantID*Amount*Currency`.
fn sign_request(shop: &Account, f: &mut Fields) {
    let get = |k: &str| f.get(k).unwrap_or("").to_owned();
    let mac = hmac_upper(
        &shop.hmac_password,
        &[
            &get("PayID"),
            &get("TransID"),
            &shop.merchant_id,
            &get("Amount"),
            &get("Currency"),
        ],
    );
    f.set("MAC", mac);
}

/// A credit of `amount` on `pay_id` (seed 003, "Gutschrift mit Referenz").
fn credit(shop: &Account, pay_id: &str, trans_id: &str, amount: i64, extra: &[(&str, &str)]) -> Fields {
    let mut f = Fields::default();
    f.push("MerchantID", shop.merchant_id.clone());
    f.push("PayID", pay_id);
    f.push("TransID", trans_id);
    f.push("Amount", amount.to_string());
    f.push("Currency", "EUR");
    for (k, v) in extra {
        f.set(*k, *v);
    }
    sign_request(shop, &mut f);
    f
}

/// An inquiry: the MAC leaves Amount and Currency empty (README, "MAC").
fn inquiry(shop: &Account, pay_id: &str, trans_id: &str) -> Fields {
    let mut f = Fields::default();
    f.push("MerchantID", shop.merchant_id.clone());
    f.push("PayID", pay_id);
    f.push("TransID", trans_id);
    f.push(
        "MAC",
        hmac_upper(&shop.hmac_password, &[pay_id, trans_id, &shop.merchant_id, "", ""]),
    );
    f
}

async fn call(mock: &ComputopMock, method: &str, uri: &str, body: String) -> (u16, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let response = mock.router().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// POSTs `fields` sealed for `shop` to `page` and opens the encrypted answer; the answer must
/// be `Len=…&Data=…`, HTTP 200, and carry a MAC that verifies.
async fn post(mock: &ComputopMock, shop: &Account, page: &str, fields: &Fields) -> Fields {
    let (status, body) = call(mock, "POST", page, shop.seal(fields).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    open(shop, &body)
}

fn open(shop: &Account, body: &str) -> Fields {
    assert!(
        body.starts_with("Len="),
        "README: encrypted answers start with Len: {body}"
    );
    let outer = Fields::parse(body, false);
    let fields = shop.open(&outer).unwrap();
    assert_eq!(
        fields.get("MAC"),
        Some(answer_mac(&shop.hmac_password, &fields).as_str()),
        "the answer's MAC: {fields:?}"
    );
    fields
}

/// The plain answer when the envelope is unusable (README: `mid=…&Status=FAILED&Description=…&Code=…`).
async fn post_plain(mock: &ComputopMock, page: &str, body: String) -> Fields {
    let (status, body) = call(mock, "POST", page, body).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("mid="), "a plain failure: {body}");
    let fields = Fields::from_urlencoded(&body);
    assert_eq!(fields.get("Status"), Some("FAILED"), "{body}");
    fields
}

fn code(f: &Fields) -> &str {
    f.get("Code").unwrap_or("")
}

/// Applies the customer's decision queued for `pay_id` as the flow does, and builds the final
/// notify (signed) as the flow sends it.
fn decide_and_notify(mock: &ComputopMock, shop: &Account, pay_id: &str) -> Fields {
    let inner = mock.inner();
    let mut state = inner.lock();
    let decision = state.payments[pay_id].decision.clone();
    assert_eq!(
        paygate::apply_decision(&mut state, pay_id, &decision),
        paygate::Applied::Paid
    );
    let mut fields = paygate::final_fields(&state.payments[pay_id], inner.clock().now_ms());
    drop(state);
    let merchant = inner.lock().merchants[&shop.merchant_id].clone();
    paygate::sign(&merchant, &mut fields);
    fields
}

fn set_clock(clock: &Clock, at: &str) {
    clock.freeze_at(parse_rfc3339(at).unwrap());
}

#[tokio::test]
async fn the_seed_sample_sales_answer_and_notify_as_the_seed_shows() {
    let (mock, clock) = mock_with(SEED_EXAMPLES, "2024-02-19T13:08:32.148Z");
    let shop = blowfish_shop();

    // Sample 1: the synchronous answer is the AUTHORIZE_REQUEST message, field for field.
    let trans_id = "TID-1708346969344-077409836028";
    let request = sale(&shop, trans_id, 5500, &[("refnr", "ygbvb06293amohs08348xjtlq")]);
    let answer = post(&mock, &shop, "/PaybackPay.aspx", &request).await;
    assert_eq!(pairs(&answer), seed_sample(SEED_AUTHORIZE, "mySecret"));
    // Code "0" is not success (README: only 00000000 is).
    assert_ne!(code(&answer), "00000000");
    let notify = decide_and_notify(&mock, &shop, "e750aaf2b0b34ab5bc5027b098b17b00");
    assert_eq!(pairs(&notify), seed_sample(SEED_PAID_SEPA, "mySecret"));

    // Sample 2 at its own time: 5500 points, nothing charged (`paymentmethod=0`).
    set_clock(&clock, "2024-02-19T13:26:19Z");
    let request = sale(
        &shop,
        "TID-1708349169009-006207053003",
        5500,
        &[("refnr", "psphu0pnltq060sjxtp0295ix")],
    );
    let answer = post(&mock, &shop, "/PaybackPay.aspx", &request).await;
    assert_eq!(answer.get("Status"), Some("AUTHORIZE_REQUEST"));
    let notify = decide_and_notify(&mock, &shop, "83eb6cf794714bcd8febc383a43e641b");
    assert_eq!(pairs(&notify), seed_sample(SEED_PAID_POINTS, "mySecret"));

    // Sample 3: 500 points and 50.00 EUR by SEPA.
    set_clock(&clock, "2024-02-19T13:31:42Z");
    let request = sale(
        &shop,
        "TID-1708349488037-083700247017",
        5500,
        &[("refnr", "offcc0821rbqrb01415wpsge0")],
    );
    post(&mock, &shop, "/PaybackPay.aspx", &request).await;
    let notify = decide_and_notify(&mock, &shop, "fc4190702e1c40dc9e72aa4ab19eb16e");
    assert_eq!(pairs(&notify), seed_sample(SEED_PAID_MIXED, "mySecret"));

    // The member had 6000 points (seed-examples set): 0 + 5500 + 500 spent.
    assert_eq!(mock.inner().lock().members[SAMPLE_MEMBER].points, 0);
}

#[tokio::test]
async fn credits_inquiries_and_replays() {
    let mock = default_mock();
    let shop = blowfish_shop();
    let sold = post(&mock, &shop, "/PaybackPay.aspx", &sale(&shop, "order-1", 5500, &[])).await;
    let pay_id = sold.get("PayID").unwrap().to_owned();
    // README: PayID and XID are 32 hex characters.
    assert_eq!(pay_id.len(), 32);
    assert!(pay_id.bytes().all(|b| b.is_ascii_hexdigit()), "{pay_id}");

    // Waiting for the customer: nothing captured, and nothing to credit yet (29509005).
    let asked = post(&mock, &shop, "/inquire.aspx", &inquiry(&shop, &pay_id, "order-1")).await;
    assert_eq!(code(&asked), "00000000");
    assert_eq!(asked.get("LastStatus"), Some("AUTHORIZE_REQUEST"));
    assert_eq!(asked.get("AmountCap"), Some("0"));
    let early = post(
        &mock,
        &shop,
        "/credit.aspx",
        &credit(&shop, &pay_id, "refund-0", 100, &[]),
    )
    .await;
    assert_eq!((early.get("Status"), code(&early)), (Some("FAILED"), "29509005"));

    // The default customer approves with no points: 55.00 EUR by the member's SEPA.
    decide_and_notify(&mock, &shop, &pay_id);
    let asked = post(&mock, &shop, "/inquire.aspx", &inquiry(&shop, &pay_id, "order-1")).await;
    let amounts = ["LastStatus", "AmountAuth", "AmountCap", "AmountCred", "Currency"].map(|k| asked.get(k));
    assert_eq!(
        amounts,
        [Some("OK"), Some("5500"), Some("5500"), Some("0"), Some("EUR")]
    );

    // A partial credit with a ReqID: the money part comes back negative (seed: `payamount`
    // "z. B. -5500"), no points (none were redeemed), redemption factor 0.01.
    let first = credit(&shop, &pay_id, "refund-1", 2000, &[("ReqID", "r-1")]);
    let (_, body) = call(&mock, "POST", "/credit.aspx", shop.seal(&first).unwrap()).await;
    let refunded = open(&shop, &body);
    let want = [
        ("Status", "OK"),
        ("Code", "00000000"),
        ("Amount", "2000"),
        ("Currency", "EUR"),
        ("paymentmethod", "Sepa"),
        ("payamount", "-2000"),
        ("pointsredeemed", "0"),
        ("RedemptionFactor", "0.01"),
        ("PayID", pay_id.as_str()),
        ("TransID", "refund-1"),
    ];
    for (key, value) in want {
        assert_eq!(refunded.get(key), Some(value), "{key} in {refunded:?}");
    }
    // The same ReqID again: the original answer byte for byte, nothing booked twice (seed: "gibt
    // nur den Status der ursprünglichen Transaktion … zurück").
    let (_, replayed) = call(&mock, "POST", "/credit.aspx", shop.seal(&first).unwrap()).await;
    assert_eq!(replayed, body);
    let asked = post(&mock, &shop, "/inquire.aspx", &inquiry(&shop, &pay_id, "order-1")).await;
    assert_eq!(asked.get("AmountCred"), Some("2000"));

    // Seed: a credit is limited to the booking. 3500 are left; 3501 is refused (29509003).
    let over = post(
        &mock,
        &shop,
        "/credit.aspx",
        &credit(&shop, &pay_id, "refund-2", 3501, &[]),
    )
    .await;
    assert_eq!((over.get("Status"), code(&over)), (Some("FAILED"), "29509003"));
    let rest = post(
        &mock,
        &shop,
        "/credit.aspx",
        &credit(&shop, &pay_id, "refund-3", 3500, &[]),
    )
    .await;
    assert_eq!((code(&rest), rest.get("payamount")), ("00000000", Some("-3500")));
    let asked = post(&mock, &shop, "/inquire.aspx", &inquiry(&shop, &pay_id, "order-1")).await;
    assert_eq!(asked.get("AmountCred"), Some("5500"));

    // An inquiry MAC with Amount 0 (Computop's SDK) is accepted too (README).
    let mut sdk = inquiry(&shop, &pay_id, "order-1");
    sdk.set(
        "MAC",
        hmac_upper("mySecret", &[&pay_id, "order-1", "your_merchant_id", "0", ""]),
    );
    assert_eq!(code(&post(&mock, &shop, "/inquire.aspx", &sdk).await), "00000000");
}

#[tokio::test]
async fn a_mixed_payment_is_credited_money_first() {
    // README: a partial credit gives the money back first, then the points.
    let toml = format!("{DEFAULT}\n[[customer.next]]\ndecision = \"approve\"\npoints = 500\n");
    let (mock, _) = mock_with(&toml, "2026-03-02T10:00:00Z");
    let shop = blowfish_shop();
    let sold = post(&mock, &shop, "/PaybackPay.aspx", &sale(&shop, "order-2", 5500, &[])).await;
    let pay_id = sold.get("PayID").unwrap().to_owned();
    let notify = decide_and_notify(&mock, &shop, &pay_id);
    assert_eq!(
        (notify.get("pointsredeemed"), notify.get("payamount")),
        (Some("500"), Some("5000"))
    );
    // 6500 − 500 points.
    assert_eq!(mock.inner().lock().members[SAMPLE_MEMBER].points, 6000);
    // 5200 = all 5000 of the money, then 200 points.
    let refunded = post(&mock, &shop, "/credit.aspx", &credit(&shop, &pay_id, "r", 5200, &[])).await;
    assert_eq!(
        (
            code(&refunded),
            refunded.get("payamount"),
            refunded.get("pointsredeemed")
        ),
        ("00000000", Some("-5000"), Some("200"))
    );
    assert_eq!(mock.inner().lock().members[SAMPLE_MEMBER].points, 6200);
}

#[tokio::test]
async fn the_aes_merchant_is_answered_in_aes() {
    let mock = default_mock();
    let shop = aes_shop();
    let (status, body) = call(
        &mock,
        "POST",
        "/PaybackPay.aspx",
        shop.seal(&sale(&shop, "aes-1", 1000, &[])).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let data = Fields::parse(&body, false).get("Data").unwrap().to_owned();
    // README: `hex(iv)-hex(ciphertext)`, uppercase; a 16-byte IV is 32 hex digits.
    let (iv, ciphertext) = data.split_once('-').expect("AES Data has a dash");
    assert_eq!(iv.len(), 32);
    assert_eq!(ciphertext.len() % 32, 0);
    assert!(!data.chars().any(|c| c.is_ascii_lowercase()), "{data}");
    let answer = open(&shop, &body);
    assert_eq!(answer.get("Status"), Some("AUTHORIZE_REQUEST"));
    // A Blowfish Data for the AES merchant is refused (a merchant is one or the other): 20010035.
    let mut wrong = blowfish_shop();
    wrong.merchant_id = shop.merchant_id.clone();
    wrong.hmac_password = shop.hmac_password.clone();
    let refused = post_plain(
        &mock,
        "/PaybackPay.aspx",
        wrong.seal(&sale(&shop, "aes-2", 1000, &[])).unwrap(),
    )
    .await;
    assert_eq!(code(&refused), "20010035");
}

#[tokio::test]
async fn pages_take_get_and_post_in_any_case_and_nothing_else() {
    let mock = default_mock();
    let shop = blowfish_shop();
    let sealed = shop.seal(&sale(&shop, "get-1", 1000, &[])).unwrap();
    // GET with a query string (FATCHIP's OXID library) and the page name in another case.
    let (status, body) = call(&mock, "GET", &format!("/paybackpay.ASPX?{sealed}"), String::new()).await;
    assert_eq!(status, 200);
    assert_eq!(open(&shop, &body).get("Status"), Some("AUTHORIZE_REQUEST"));

    let (status, body) = call(&mock, "PUT", "/PaybackPay.aspx", sealed.clone()).await;
    assert_eq!((status, body.as_str()), (405, "PaybackPay.aspx takes GET or POST"));
    let (status, body) = call(&mock, "POST", "/capture.aspx", sealed).await;
    assert_eq!(status, 404);
    assert!(body.starts_with("/capture.aspx is not a Paygate page"), "{body}");
}

/// The envelope refusals, answered in plain text (README, "Answers and codes").
#[tokio::test]
async fn an_unusable_envelope_is_refused_in_plain_text() {
    let mock = default_mock();
    let shop = blowfish_shop();
    let sealed = shop.seal(&sale(&shop, "env-1", 1000, &[])).unwrap();
    let outer = Fields::from_urlencoded(&sealed);
    let (len, data) = (outer.get("Len").unwrap(), outer.get("Data").unwrap());
    let cases = [
        // Missing parameters are fatal (kind 4), module 010, then the parameter's number.
        (format!("Len={len}&Data={data}"), "40100001", ""),
        (
            format!("MerchantID=your_merchant_id&Len={len}"),
            "40100035",
            "your_merchant_id",
        ),
        (
            format!("MerchantID=your_merchant_id&Data={data}"),
            "40100034",
            "your_merchant_id",
        ),
        // Invalid (012) MerchantID 0001.
        (format!("MerchantID=nobody&Len={len}&Data={data}"), "20120001", "nobody"),
        // Format (011) of Len 0034.
        (
            format!("MerchantID=your_merchant_id&Len=ten&Data={data}"),
            "20110034",
            "your_merchant_id",
        ),
        // Crypto (001) of Data 0035: not hex, a Len beyond the text, the wrong key.
        (
            format!("MerchantID=your_merchant_id&Len={len}&Data=XYZ"),
            "20010035",
            "your_merchant_id",
        ),
        (
            format!("MerchantID=your_merchant_id&Len=100000&Data={data}"),
            "20010035",
            "your_merchant_id",
        ),
        (
            {
                let mut other = blowfish_shop();
                other.crypt_password = "another Blowfish key".into();
                other.seal(&sale(&shop, "env-1", 1000, &[])).unwrap()
            },
            "20010035",
            "your_merchant_id",
        ),
    ];
    for (body, want, mid) in cases {
        let answer = post_plain(&mock, "/PaybackPay.aspx", body.clone()).await;
        assert_eq!((code(&answer), answer.get("mid")), (want, Some(mid)), "{body}");
    }
    assert!(mock.inner().lock().payments.is_empty());
}

/// Refusals after decryption: encrypted, signed, `Status=FAILED`, and no payment opened.
#[tokio::test]
async fn every_refusal_of_a_sale_has_its_documented_code() {
    let mock = default_mock();
    let shop = blowfish_shop();
    let bad_vat = b64(serde_json::json!({"items": [{"rate": 19, "amount": 0}]}));
    let cases: Vec<(&str, Fields, &str)> = vec![
        (
            "a MAC over other values",
            {
                let mut f = sale(&shop, "e-1", 1000, &[]);
                f.set(
                    "MAC",
                    hmac_upper("mySecret", &["", "e-1", "your_merchant_id", "1001", "EUR"]),
                );
                f
            },
            "20120005",
        ),
        (
            "a MAC with another password",
            {
                let mut f = sale(&shop, "e-2", 1000, &[]);
                f.set(
                    "MAC",
                    hmac_upper("notMySecret", &["", "e-2", "your_merchant_id", "1000", "EUR"]),
                );
                f
            },
            "20120005",
        ),
        (
            "MerchantID in Data differs",
            sale(&shop, "e-3", 1000, &[("MerchantID", "possim_aes_shop")]),
            "20120001",
        ),
        (
            "AccountID missing",
            {
                let mut f = Fields::default();
                for (k, v) in sale(&shop, "e-4", 1000, &[]).iter().filter(|(k, _)| *k != "AccountID") {
                    f.push(k, v);
                }
                f
            },
            "40100020",
        ),
        (
            "TransID missing",
            {
                let mut f = Fields::default();
                for (k, v) in sale(&shop, "", 1000, &[]).iter().filter(|(k, _)| *k != "TransID") {
                    f.push(k, v);
                }
                sign_request(&shop, &mut f);
                f
            },
            "40100002",
        ),
        (
            "Amount not n..10",
            sale(&shop, "e-5", 1000, &[("Amount", "10.00")]),
            "20110003",
        ),
        (
            "Amount over 10 digits",
            sale(&shop, "e-6", 1000, &[("Amount", "12345678901")]),
            "20110003",
        ),
        (
            "Currency not a3",
            sale(&shop, "e-7", 1000, &[("Currency", "EURO")]),
            "20110004",
        ),
        (
            "Currency not EUR",
            sale(&shop, "e-8", 1000, &[("Currency", "USD")]),
            "20120004",
        ),
        (
            "AccountID not n10",
            sale(&shop, "e-9", 1000, &[("AccountID", "987654321")]),
            "20110020",
        ),
        (
            "IsBound not a bool",
            sale(&shop, "e-10", 1000, &[("IsBound", "yes")]),
            "20110022",
        ),
        (
            "CustomerGroup not an enum value",
            sale(&shop, "e-11", 1000, &[("CustomerGroup", "VIP")]),
            "20110023",
        ),
        ("TransID over 64", sale(&shop, &"T".repeat(65), 1000, &[]), "20110002"),
        (
            "URLNotify over 256",
            sale(
                &shop,
                "e-12",
                1000,
                &[("URLNotify", &format!("{SHOP}/{}", "n".repeat(256)))],
            ),
            "20110008",
        ),
        (
            "VatList amount 0",
            sale(&shop, "e-13", 1000, &[("VatList", &bad_vat)]),
            "20110017",
        ),
        (
            "VatList not Base64",
            sale(&shop, "e-14", 1000, &[("VatList", "%%%")]),
            "20110017",
        ),
        ("Amount below 100", sale(&shop, "e-15", 99, &[]), "29509007"),
        (
            "IsBound=True without CustomerID",
            {
                let mut f = Fields::default();
                for (k, v) in sale(&shop, "e-16", 1000, &[])
                    .iter()
                    .filter(|(k, _)| *k != "CustomerID")
                {
                    f.push(k, v);
                }
                f
            },
            "40100021",
        ),
        (
            "AccountID not a member",
            sale(&shop, "e-17", 1000, &[("AccountID", "1111111111")]),
            "29509006",
        ),
        (
            "simulation Test:0305",
            sale(&shop, "e-18", 1000, &[("OrderDesc", "Test:0305")]),
            "29500305",
        ),
    ];
    for (what, request, want) in cases {
        let answer = post(&mock, &shop, "/PaybackPay.aspx", &request).await;
        assert_eq!(
            (answer.get("Status"), code(&answer)),
            (Some("FAILED"), want),
            "{what}: {answer:?}"
        );
        assert_eq!(answer.get("mid"), Some("your_merchant_id"), "{what}");
    }
    // Only the simulated failure opened a payment (FAILED at once); no refusal did.
    let state = mock.inner().lock();
    let opened: Vec<_> = state.payments.values().map(|p| p.trans_id.as_str()).collect();
    assert_eq!(opened, ["e-18"]);
}

#[tokio::test]
async fn strict_callbacks_refuse_what_the_seed_forbids() {
    // Seed: callbacks only over port 443, without parameters.
    let (mock, _) = mock_with(
        &DEFAULT.replace("strictCallbacks = false", "strictCallbacks = true"),
        "2026-03-02T10:00:00Z",
    );
    let shop = blowfish_shop();
    for (key, want) in [
        ("URLSuccess", "20110006"),
        ("URLFailure", "20110007"),
        ("URLNotify", "20110008"),
    ] {
        let request = sale(&shop, "s-1", 1000, &[(key, "https://shop.example/cb?order=1")]);
        let mut request = request;
        // The others follow the rule, so only `key` can be the reason.
        for other in ["URLSuccess", "URLFailure", "URLNotify"]
            .into_iter()
            .filter(|k| *k != key)
        {
            request.set(other, "https://shop.example/cb");
        }
        sign_request(&shop, &mut request);
        let answer = post(&mock, &shop, "/PaybackPay.aspx", &request).await;
        assert_eq!((answer.get("Status"), code(&answer)), (Some("FAILED"), want), "{key}");
        assert!(
            answer
                .get("Description")
                .unwrap()
                .starts_with(&format!("{key} format error: ")),
            "README: `<key> format error: …`: {answer:?}"
        );
    }
    // Plain HTTP (our loopback shop) is refused in strict mode too; the lenient default takes it.
    let answer = post(&mock, &shop, "/PaybackPay.aspx", &sale(&shop, "s-2", 1000, &[])).await;
    assert_eq!(code(&answer), "20110006");
    let lenient = default_mock();
    let answer = post(&lenient, &shop, "/PaybackPay.aspx", &sale(&shop, "s-2", 1000, &[])).await;
    assert_eq!(answer.get("Status"), Some("AUTHORIZE_REQUEST"));
}

#[tokio::test]
async fn credit_and_inquiry_refusals() {
    let mock = default_mock();
    let shop = blowfish_shop();
    let unknown = "0123456789abcdef0123456789abcdef";
    let answer = post(&mock, &shop, "/credit.aspx", &credit(&shop, unknown, "c-1", 100, &[])).await;
    assert_eq!(code(&answer), "29509004");
    let answer = post(&mock, &shop, "/inquire.aspx", &inquiry(&shop, unknown, "c-1")).await;
    assert_eq!(code(&answer), "29509004");
    // PayID is an32: 31 characters are a format error (0033).
    let answer = post(
        &mock,
        &shop,
        "/credit.aspx",
        &credit(&shop, &unknown[1..], "c-2", 100, &[]),
    )
    .await;
    assert_eq!(code(&answer), "20110033");
    // The credit MAC must include PayID (pretix's bug, spec §4): without it, 20120005.
    let mut no_pay_id = credit(&shop, unknown, "c-3", 100, &[]);
    no_pay_id.set(
        "MAC",
        hmac_upper("mySecret", &["", "c-3", "your_merchant_id", "100", "EUR"]),
    );
    let answer = post(&mock, &shop, "/credit.aspx", &no_pay_id).await;
    assert_eq!(code(&answer), "20120005");
    // A payment of another merchant is not found for this one.
    let aes = aes_shop();
    let sold = post(&mock, &aes, "/PaybackPay.aspx", &sale(&aes, "aes-9", 1000, &[])).await;
    let foreign = sold.get("PayID").unwrap();
    let answer = post(&mock, &shop, "/inquire.aspx", &inquiry(&shop, foreign, "c-4")).await;
    assert_eq!(code(&answer), "29509004");
    // Inquiry: PayID missing is fatal (40100033).
    let mut f = inquiry(&shop, "", "c-5");
    f = Fields::from_iter(f.iter().filter(|(k, _)| *k != "PayID"));
    let answer = post(&mock, &shop, "/inquire.aspx", &f).await;
    assert_eq!(code(&answer), "40100033");
}

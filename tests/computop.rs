//! The Computop Paygate mock over the wire: the seed's sample notifies reproduced field for
//! field, format and MAC errors with their codes, notify retries on the n³ schedule, ReqID
//! replays. A small shop runs inside the test and records what the Paygate sends it.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::routing::any;
use possim_computop::client::{self, Account};
use possim_computop::crypto::{self, Cipher};
use possim_computop::form::{self, Fields};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::util::Possim;

const MID: &str = "your_merchant_id";
const HMAC: &str = "mySecret";
const BLOWFISH: &str = "16CharKeyLength!";

/// The seed's sample merchant, as the default and seed-examples data sets hold it.
fn account() -> Account {
    Account {
        merchant_id: MID.into(),
        hmac_password: HMAC.into(),
        crypt_password: BLOWFISH.into(),
        cipher: Cipher::Blowfish,
    }
}

/// What the Paygate sent the shop: the path and the outer pairs (body or query).
#[derive(Debug)]
struct Received {
    path: String,
    outer: Fields,
}

#[derive(Clone)]
struct Shop {
    tx: mpsc::UnboundedSender<Received>,
    /// Status codes to answer notifies with, in order; 200 once used up.
    answers: std::sync::Arc<std::sync::Mutex<Vec<u16>>>,
}

async fn shop_handler(State(shop): State<Shop>, uri: Uri, RawQuery(query): RawQuery, body: Bytes) -> StatusCode {
    let mut outer = Fields::from_urlencoded(query.as_deref().unwrap_or(""));
    outer.extend(Fields::from_urlencoded(&form::latin1_decode(&body)));
    let _ = shop.tx.send(Received {
        path: uri.path().to_owned(),
        outer,
    });
    let mut answers = shop.answers.lock().unwrap();
    if uri.path() == "/notify" && !answers.is_empty() {
        StatusCode::from_u16(answers.remove(0)).unwrap()
    } else {
        StatusCode::OK
    }
}

/// Starts the shop; returns its base URL and the channel of received messages.
async fn start_shop(notify_answers: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shop = Shop {
        tx,
        answers: std::sync::Arc::new(std::sync::Mutex::new(notify_answers)),
    };
    let app = Router::new().fallback(any(shop_handler)).with_state(shop);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

/// The next message the shop received (bounded wait, not a sleep).
async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("the Paygate sends within 20 s")
        .expect("shop channel open")
}

/// Decrypts a received message: the raw plain text (to compare with the seed's samples) and its
/// fields.
fn open(received: &Received) -> (String, Fields) {
    let get = |k: &str| received.outer.get(k).unwrap_or_else(|| panic!("{k} in {received:?}"));
    let len: usize = get("Len").parse().unwrap();
    let plain = crypto::decrypt(Cipher::Blowfish, BLOWFISH, len, get("Data"))
        .unwrap()
        .plain;
    let fields = Fields::parse(&plain, false);
    (plain, fields)
}

/// A complete sale request for the seed's sample member (bound account), MAC included.
fn sale_fields(shop: &str, trans_id: &str, amount: i64) -> Fields {
    client::sale_request(
        &account(),
        trans_id,
        amount,
        shop,
        "9876543210",
        Some("9530c279-f13d-41db-b6a4-19488541bee9"),
    )
}

/// `fields` with a MAC for what they say now (after a test changed a field).
fn with_mac(mut f: Fields) -> Fields {
    let mac = account().request_mac(&f);
    f.set("MAC", mac);
    f
}

/// POSTs `fields` encrypted to `page`; returns the raw body.
async fn call(possim: &Possim, page: &str, fields: &Fields) -> String {
    possim
        .client()
        .post(format!("{}/{page}", possim.computop))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(account().seal(fields).unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn open_answer(body: &str) -> Fields {
    account().open(&Fields::from_urlencoded(body)).unwrap()
}

/// The seed's sample plain texts, up to (not including) the MAC: the samples' MAC literals are
/// not valid HMAC-SHA256 output (63 and 65 characters), so the MAC is checked by recomputing it.
fn without_mac(plain: &str) -> &str {
    plain.rsplit_once("&MAC=").map_or(plain, |(head, _)| head)
}

async fn set_clock(possim: &Possim, iso: &str) {
    let (status, _) = possim.admin("PUT", "/__admin/clock", Some(json!({"time": iso}))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_seeds_three_sample_sales_produce_the_seeds_notifies() {
    let possim = Possim::start("seed-examples", &[]).await;
    let (shop, mut rx) = start_shop(vec![]).await;
    // (TransID, refnr, clock of the sale in UTC, the seed's AUTHORIZE_REQUEST or None, final notify)
    let samples = [
        (
            "TID-1708346969344-077409836028",
            "ygbvb06293amohs08348xjtlq",
            "2024-02-19T13:08:32.148Z",
            Some(
                "mid=your_merchant_id&PayID=e750aaf2b0b34ab5bc5027b098b17b00&XID=6c92cadeae574d7c82f5c2ce41ba7cf5&TransID=TID-1708346969344-077409836028&refnr=ygbvb06293amohs08348xjtlq&Type=PaybackPay&TimeStamp=19.02.2024 14:08:32.148&redirecturl=https://www.tst1.pb-nonprod.de/site-demo/payauthorization?ecomid=65775a20-abc5-4a96-882a-59694a6d09e2&Amount=5500&Currency=EUR&TransactionID=65775a20-abc5-4a96-882a-59694a6d09e2&Code=0&Status=AUTHORIZE_REQUEST&Description=SUCCESS",
            ),
            "mid=your_merchant_id&PayID=e750aaf2b0b34ab5bc5027b098b17b00&TransID=TID-1708346969344-077409836028&XID=6c92cadeae574d7c82f5c2ce41ba7cf5&Code=00000000&refnr=ygbvb06293amohs08348xjtlq&Status=OK&Description=success&Type=PaybackPay&TimeStamp=19.02.2024 14:08:32&paymentmethodtype=0&paymentmethod=Sepa&redemptionfactor=0.01&pointsredeemed=0&payamount=5500&pointamount=0&accountid=9876543210&customerid=9530c279-f13d-41db-b6a4-19488541bee9&isbound=True&customergroup=KNOWN&Amount=5500",
        ),
        (
            "TID-1708349169009-006207053003",
            "psphu0pnltq060sjxtp0295ix",
            "2024-02-19T13:26:19Z",
            None,
            "mid=your_merchant_id&PayID=83eb6cf794714bcd8febc383a43e641b&TransID=TID-1708349169009-006207053003&XID=79ff6c94eaa843fd8fb285e27ec763d2&Code=00000000&refnr=psphu0pnltq060sjxtp0295ix&Status=OK&Description=success&Type=PaybackPay&TimeStamp=19.02.2024 14:26:19&paymentmethodtype=0&paymentmethod=0&redemptionfactor=0.01&pointsredeemed=5500&payamount=0&pointamount=0&accountid=9876543210&customerid=9530c279-f13d-41db-b6a4-19488541bee9&isbound=True&customergroup=KNOWN&Amount=5500",
        ),
        (
            "TID-1708349488037-083700247017",
            "offcc0821rbqrb01415wpsge0",
            "2024-02-19T13:31:42Z",
            None,
            "mid=your_merchant_id&PayID=fc4190702e1c40dc9e72aa4ab19eb16e&TransID=TID-1708349488037-083700247017&XID=3314ec645dec489e2fe88cc06f1f8d0&Code=00000000&refnr=offcc0821rbqrb01415wpsge0&Status=OK&Description=success&Type=PaybackPay&TimeStamp=19.02.2024 14:31:42&paymentmethodtype=0&paymentmethod=Sepa&redemptionfactor=0.01&pointsredeemed=500&payamount=5000&pointamount=0&accountid=9876543210&customerid=9530c279-f13d-41db-b6a4-19488541bee9&isbound=True&customergroup=KNOWN&Amount=5500",
        ),
    ];
    for (trans_id, refnr, clock, authorize, final_notify) in samples {
        set_clock(&possim, clock).await;
        let mut fields = sale_fields(&shop, trans_id, 5500);
        fields.push("refnr", refnr);
        let answer = open_answer(&call(&possim, "PaybackPay.aspx", &with_mac(fields)).await);
        assert_eq!(answer.get("Status"), Some("AUTHORIZE_REQUEST"));
        assert_eq!(answer.get("Code"), Some("0"));

        let first = next(&mut rx).await;
        assert_eq!(first.path, "/notify");
        let (plain, f) = open(&first);
        if let Some(seed) = authorize {
            assert_eq!(without_mac(&plain), seed);
        }
        assert_eq!(f.get("Status"), Some("AUTHORIZE_REQUEST"));
        let second = next(&mut rx).await;
        assert_eq!(second.path, "/notify");
        let (plain, f) = open(&second);
        assert_eq!(without_mac(&plain), final_notify);
        // The notify MAC is HMAC-SHA256 over PayID*TransID*mid*Status*Code (Computop's rule).
        let expected = crypto::mac(HMAC, &[f.get("PayID").unwrap(), trans_id, MID, "OK", "00000000"]);
        assert_eq!(f.get("MAC"), Some(expected.as_str()));
        let back = next(&mut rx).await;
        assert_eq!(
            back.path, "/success",
            "the browser returns to URLSuccess after the notify"
        );
        assert_eq!(open(&back).1.get("Status"), Some("OK"));
    }
    // 6000 points − 0 − 5500 − 500.
    let (_, state) = possim.admin("GET", "/__admin/state/computop", None).await;
    assert_eq!(state["members"][0]["points"], 0);
}

#[tokio::test]
async fn format_and_mac_errors_answer_with_structured_codes() {
    let possim = Possim::start("default", &[]).await;
    let (shop, _rx) = start_shop(vec![]).await;
    let sale = |f: Fields| with_mac(f);

    let mut wrong_mac = sale_fields(&shop, "T-1", 5500);
    wrong_mac.set("MAC", crypto::mac("not mySecret", &["", "T-1", MID, "5500", "EUR"]));
    let a = open_answer(&call(&possim, "PaybackPay.aspx", &wrong_mac).await);
    assert_eq!((a.get("Status"), a.get("Code")), (Some("FAILED"), Some("20120005")));

    // Amount in euros instead of cents: n..10 is digits only.
    let mut euros = Fields::default();
    for (k, v) in sale_fields(&shop, "T-2", 5500).iter() {
        euros.push(k, if k == "Amount" { "55.00" } else { v });
    }
    let a = open_answer(&call(&possim, "PaybackPay.aspx", &sale(euros)).await);
    assert_eq!(a.get("Code"), Some("20110003"));

    // AccountID is mandatory: code 4 (fatal), module 010 (missing), parameter 0020.
    let mut no_account = Fields::default();
    for (k, v) in sale_fields(&shop, "T-3", 5500)
        .iter()
        .filter(|(k, _)| *k != "AccountID")
    {
        no_account.push(k, v);
    }
    let a = open_answer(&call(&possim, "PaybackPay.aspx", &sale(no_account)).await);
    assert_eq!(a.get("Code"), Some("40100020"));

    // PAYBACK PAY takes EUR only.
    let mut usd = Fields::default();
    for (k, v) in sale_fields(&shop, "T-4", 5500).iter() {
        usd.push(k, if k == "Currency" { "USD" } else { v });
    }
    let a = open_answer(&call(&possim, "PaybackPay.aspx", &sale(usd)).await);
    assert_eq!(a.get("Code"), Some("20120004"));

    // Data that is not hex cannot be decrypted: a plain answer the shop can read without keys.
    let body = possim
        .client()
        .post(format!("{}/paybackpay.aspx", possim.computop))
        .body(format!("MerchantID={MID}&Len=10&Data=not-hex"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let plain: Vec<(String, String)> = form::parse_urlencoded(&body);
    let code = plain.iter().find(|(k, _)| k == "Code").map(|(_, v)| v.as_str());
    assert_eq!(code, Some("20010035"), "{body}");

    // An unknown merchant.
    let body = possim
        .client()
        .get(format!(
            "{}/PaybackPay.aspx?MerchantID=nobody&Len=8&Data=0011223344556677",
            possim.computop
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Code=20120001"), "{body}");
}

#[tokio::test]
async fn a_refused_notify_is_retried_on_the_cubic_schedule_and_a_req_id_replay_sends_nothing() {
    let dir = std::env::temp_dir().join(format!("possim-computop-retry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let default = include_str!("../mocks/datasets/default/computop.toml");
    // A minute of the schedule in a millisecond.
    std::fs::write(
        dir.join("computop.toml"),
        default.replace("timeScale = 1.0", "timeScale = 60000.0"),
    )
    .unwrap();
    let possim = Possim::start(dir.to_str().unwrap(), &[]).await;
    // The shop answers the final notify with 500 twice, then 200.
    let (shop, mut rx) = start_shop(vec![200, 500, 500]).await;
    let mut fields = sale_fields(&shop, "T-RETRY", 5500);
    fields.push("ReqID", "REQ-1");
    let fields = with_mac(fields);
    let first_answer = call(&possim, "PaybackPay.aspx", &fields).await;
    let opened = open_answer(&first_answer);
    assert_eq!(opened.get("Status"), Some("AUTHORIZE_REQUEST"), "{opened:?}");
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|(p, s): &&(String, String)| p == "/notify" && s == "OK")
        .count()
        < 3
        || !seen.iter().any(|(p, _)| p == "/success")
    {
        let r = next(&mut rx).await;
        let status = open(&r).1.get("Status").unwrap_or("").to_owned();
        seen.push((r.path, status));
    }
    // An attempt's journal entry is completed once the shop's answer is in, which can be just
    // after the shop saw the request: wait (bounded) until the Paygate has nothing in flight.
    let notify_attempts = |journal: &Value| -> Vec<(u64, i64)> {
        journal["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| {
                e["transport"] == "outbound" && e["purpose"] == "notify" && e["view"]["request"]["Status"] == "OK"
            })
            .map(|e| {
                (
                    e["attempt"].as_u64().unwrap(),
                    e["response"]["status"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    };
    settled(&possim).await;
    let (_, journal) = possim.admin("GET", "/__admin/journal?provider=computop", None).await;
    assert_eq!(notify_attempts(&journal), vec![(1, 500), (2, 500), (3, 200)]);

    // The payment is final: the same ReqID gets the original answer, byte for byte, and starts
    // nothing (a replay never reaches the flow that sends notifies, so counting is exact).
    let outbound = |journal: &Value| {
        journal["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["transport"] == "outbound")
            .count()
    };
    let before = outbound(&journal);
    let replay = call(&possim, "PaybackPay.aspx", &fields).await;
    assert_eq!(replay, first_answer);
    let (_, state) = possim.admin("GET", "/__admin/state/computop", None).await;
    assert_eq!(state["payments"].as_array().unwrap().len(), 1);
    let (_, journal) = possim.admin("GET", "/__admin/journal?provider=computop", None).await;
    assert_eq!(outbound(&journal), before, "a replay sends no notify");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits (bounded, failing with a message) until the Paygate has nothing in flight: an
/// attempt's journal entry is completed once the shop's answer is in, which can be just after the
/// shop saw the request.
async fn settled(possim: &Possim) {
    for _ in 0..500 {
        let (_, health) = possim.admin("GET", "/__admin/health", None).await;
        if health["outboundInFlight"] == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the Paygate still had requests in flight after 500 looks");
}

/// The n³ schedule measured, not assumed: on a frozen engine clock nothing happens until the
/// clock moves, so each retry's journal time is exactly the previous attempt's plus the wait the
/// README documents (1, then 8 minutes). Advancing 7 minutes and then 1 shows that the second
/// wait is 8 minutes and not less: a shorter one would have sent before the last minute.
#[tokio::test]
async fn notify_retries_wait_one_then_eight_minutes_of_engine_time() {
    let possim = Possim::start("", &["--clock", "2026-11-25T12:00:00Z"]).await;
    // The AUTHORIZE_REQUEST notify is accepted; the final one refused twice.
    let (shop, mut rx) = start_shop(vec![200, 500, 500]).await;
    let fields = with_mac(sale_fields(&shop, "T-CUBIC", 5500));
    let answer = open_answer(&call(&possim, "PaybackPay.aspx", &fields).await);
    assert_eq!(answer.get("Status"), Some("AUTHORIZE_REQUEST"), "{answer:?}");
    // The final notify's attempts, as the shop sees them.
    let mut final_notify = async || loop {
        let r = next(&mut rx).await;
        if r.path == "/notify" && open(&r).1.get("Status") == Some("OK") {
            return;
        }
    };
    let attempt_times = async || {
        settled(&possim).await;
        let (_, journal) = possim.admin("GET", "/__admin/journal?provider=computop", None).await;
        journal["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| {
                e["transport"] == "outbound" && e["purpose"] == "notify" && e["view"]["request"]["Status"] == "OK"
            })
            .map(|e| (e["attempt"].as_u64().unwrap(), e["at"].as_i64().unwrap()))
            .collect::<Vec<_>>()
    };
    let advance = async |ms: i64| {
        let (status, body) = possim
            .admin("POST", "/__admin/clock/advance", Some(json!({"by": ms})))
            .await;
        assert!(status < 300, "{body}");
    };
    const MINUTE: i64 = 60_000;

    final_notify().await;
    let times = attempt_times().await;
    assert_eq!(times.len(), 1, "{times:?}");
    let first = times[0].1;

    advance(MINUTE).await;
    final_notify().await;
    assert_eq!(attempt_times().await, vec![(1, first), (2, first + MINUTE)]);

    advance(7 * MINUTE).await;
    advance(MINUTE).await;
    final_notify().await;
    assert_eq!(
        attempt_times().await,
        vec![(1, first), (2, first + MINUTE), (3, first + 9 * MINUTE)]
    );
}

#[tokio::test]
async fn strict_mode_enforces_the_seeds_callback_rule() {
    let (shop, _rx) = start_shop(vec![]).await;
    // Lenient (the default): a plain-HTTP loopback shop is accepted.
    let lenient = Possim::start("default", &[]).await;
    let a = open_answer(&call(&lenient, "PaybackPay.aspx", &with_mac(sale_fields(&shop, "T-L", 5500))).await);
    assert_eq!(a.get("Status"), Some("AUTHORIZE_REQUEST"));
    // --strict: only https on port 443 (seed: "Die URL darf nur über Port 443 aufgerufen werden");
    // URLSuccess is the first callback checked, so its format code (2011, parameter 0006) answers.
    let strict = Possim::start("default", &["--strict"]).await;
    let a = open_answer(&call(&strict, "PaybackPay.aspx", &with_mac(sale_fields(&shop, "T-S", 5500))).await);
    assert_eq!((a.get("Status"), a.get("Code")), (Some("FAILED"), Some("20110006")));
    // A reset reloads the data set and keeps the command line's strictness.
    let (status, _) = strict.admin("POST", "/__admin/reset", None).await;
    assert_eq!(status, 200);
    let a = open_answer(&call(&strict, "PaybackPay.aspx", &with_mac(sale_fields(&shop, "T-S2", 5500))).await);
    assert_eq!(a.get("Code"), Some("20110006"));
}

/// Issue 13: a sale whose URLNotify points at the admin API would make the Paygate POST to
/// `/__admin/reset`. It is refused like a malformed URL, journalled, and nothing is reset.
#[tokio::test]
async fn a_notify_aimed_at_possim_itself_is_refused_and_nothing_is_reset() {
    let (shop, _rx) = start_shop(vec![]).await;
    let possim = Possim::start("default", &[]).await;
    let (status, _) = possim
        .admin(
            "POST",
            "/__admin/faults",
            Some(json!({"name": "kept", "provider": "tyrios", "delayMs": 1})),
        )
        .await;
    assert_eq!(status, 201);
    // The admin API spelt as a client might: its printed address, localhost, 0.0.0.0.
    let port = possim.admin.rsplit(':').next().unwrap().to_owned();
    for (n, target) in [
        format!("{}/__admin/reset", possim.admin),
        format!("http://localhost:{port}/__admin/reset"),
        format!("http://0.0.0.0:{port}/__admin/reset"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut fields = sale_fields(&shop, &format!("T-SELF-{n}"), 5500);
        fields.set("URLNotify", target.clone());
        let a = open_answer(&call(&possim, "PaybackPay.aspx", &with_mac(fields)).await);
        // Computop's format error for the 8th parameter (URLNotify): 2 011 0008.
        assert_eq!(
            (a.get("Status"), a.get("Code")),
            (Some("FAILED"), Some("20110008")),
            "{target}"
        );
        assert!(
            a.get("Description").unwrap().contains("points at possim itself"),
            "{a:?}"
        );
    }
    // Nothing was reset: the rule is armed, the refusals are in the journal with their note.
    let faults = possim.admin("GET", "/__admin/faults", None).await.1;
    assert_eq!(faults[0]["name"], "kept", "{faults}");
    let journal = possim.admin("GET", "/__admin/journal?provider=computop", None).await.1;
    let notes: Vec<String> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["view"]["notes"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        notes.iter().filter(|n| n.starts_with("refused: URLNotify")).count(),
        3,
        "{notes:?}"
    );
    assert_eq!(
        possim.admin("GET", "/__admin/health", None).await.1["outboundInFlight"],
        0
    );

    // --allow-self-calls lets it through (here aimed at the harmless health endpoint).
    let allowed = Possim::start("default", &["--allow-self-calls"]).await;
    let mut fields = sale_fields(&shop, "T-SELF-OK", 5500);
    fields.set("URLNotify", format!("{}/__admin/health", allowed.admin));
    let a = open_answer(&call(&allowed, "PaybackPay.aspx", &with_mac(fields)).await);
    assert_eq!(a.get("Status"), Some("AUTHORIZE_REQUEST"));
}

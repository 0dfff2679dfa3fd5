//! Bounded history (issue 13): forgetting old payments, credits and ReqID answers never changes
//! a member's points or an answer about what is still held; a credit against a forgotten
//! payment and a replayed ReqID answer as the README's "Retention" says; the admin state shows
//! the summary.

use std::sync::Arc;

use possim_computop::ComputopMock;
use possim_computop::client::{self, Account};
use possim_computop::crypto::Cipher;
use possim_computop::form::Fields;
use possim_computop::model::{Decision, DecisionKind, PointsChoice, State};
use possim_computop::paygate::{self, Endpoint};
use possim_computop::retention;
use possim_engine::clock::Clock;
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use proptest::prelude::*;
use serde_json::Value;

const DATA: &str = include_str!("../../datasets/default/computop.toml");
const MEMBER: &str = "9876543210";
const NOW: i64 = 1_708_348_112_148;
const SALT: u64 = 7;

fn data_set(retain: usize) -> DataSet {
    let settings = format!("[retention]\ntransactions = {retain}\n");
    DataSet::from_files(
        "retention",
        [("computop.toml", DATA), ("possim.toml", settings.as_str())],
    )
    .unwrap()
}

fn state(retain: usize) -> State {
    State::from_data_set(&data_set(retain)).unwrap()
}

/// The default set's Blowfish merchant (the seed's sample credentials).
fn account() -> Account {
    Account {
        merchant_id: "your_merchant_id".into(),
        hmac_password: "mySecret".into(),
        crypt_password: "16CharKeyLength!".into(),
        cipher: Cipher::Blowfish,
    }
}

fn envelope(fields: &Fields) -> Fields {
    Fields::parse(&account().seal(fields).unwrap(), false)
}

fn points(s: &State) -> i64 {
    s.members[MEMBER].points
}

/// A sale the customer approves at once, redeeming `redeem` points; its flow ends. Returns the
/// PayID (None when refused) and the answer's fields.
fn sale(s: &mut State, trans_id: &str, amount: i64, redeem: i64, req_id: Option<&str>) -> (Option<String>, Value) {
    sale_as(&account(), s, trans_id, amount, redeem, req_id)
}

/// [`sale`] by `merchant`.
fn sale_as(
    merchant: &Account,
    s: &mut State,
    trans_id: &str,
    amount: i64,
    redeem: i64,
    req_id: Option<&str>,
) -> (Option<String>, Value) {
    let mut f = client::sale_request(merchant, trans_id, amount, "https://shop.example", MEMBER, None);
    if let Some(id) = req_id {
        f.push("ReqID", id);
    }
    let sealed = Fields::parse(&merchant.seal(&f).unwrap(), false);
    let answer = paygate::handle(s, Endpoint::Sale, &sealed, NOW, SALT);
    let response = answer.view["response"].clone();
    let Some(pay_id) = answer.started else {
        return (None, response);
    };
    let decision = Decision {
        decision: DecisionKind::Approve,
        points: PointsChoice::Number(redeem),
        payment_method: None,
        after_ms: 0,
    };
    paygate::apply_decision(s, &pay_id, &decision);
    retention::flow_ended(s, &pay_id);
    (Some(pay_id), response)
}

fn credit(s: &mut State, pay_id: &str, trans_id: &str, amount: i64) -> Value {
    let mut f = Fields::default();
    f.push("MerchantID", "your_merchant_id");
    f.push("PayID", pay_id);
    f.push("TransID", trans_id);
    f.push("Amount", amount.to_string());
    f.push("Currency", "EUR");
    f.push("MAC", account().request_mac(&f));
    paygate::handle(s, Endpoint::Credit, &envelope(&f), NOW, SALT).view["response"].clone()
}

#[derive(Debug, Clone)]
enum Op {
    Sale { amount: i64, redeem: i64 },
    Credit { pick: usize, amount: i64 },
    Replay { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (100i64..5_000, 0i64..2_000).prop_map(|(amount, redeem)| Op::Sale { amount, redeem }),
        2 => (any::<usize>(), 100i64..3_000).prop_map(|(pick, amount)| Op::Credit { pick, amount }),
        1 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
    ]
}

fn newest<T: Clone>(list: &[T], window: usize, pick: usize) -> Option<T> {
    let window = window.min(list.len());
    (window > 0).then(|| list[list.len() - window + pick % window].clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A Paygate that keeps almost nothing and one that keeps everything answer every request
    /// about the newest payments alike, and the member's points agree after each.
    #[test]
    fn forgetting_history_never_changes_points_or_an_answer(
        ops in prop::collection::vec(op(), 1..80),
        retain in 1usize..4,
    ) {
        let mut small = state(retain);
        let mut full = state(1_000_000);
        let mut paid: Vec<String> = Vec::new();
        let mut req_ids: Vec<String> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let (a, b) = match op {
                Op::Sale { amount, redeem } => {
                    let req = format!("R{i}");
                    let (id, a) = sale(&mut small, &format!("T{i}"), *amount, *redeem, Some(&req));
                    let (_, b) = sale(&mut full, &format!("T{i}"), *amount, *redeem, Some(&req));
                    paid.extend(id);
                    req_ids.push(req);
                    (a, b)
                }
                Op::Credit { pick, amount } => {
                    let Some(id) = newest(&paid, retain, *pick) else { continue };
                    (credit(&mut small, &id, &format!("C{i}"), *amount), credit(&mut full, &id, &format!("C{i}"), *amount))
                }
                Op::Replay { pick } => {
                    // Stored answers outlive their payments (4 per payment kept): the newest
                    // `retain` ReqIDs are always still stored.
                    let Some(req) = newest(&req_ids, retain, *pick) else { continue };
                    let trans = format!("T{}", &req[1..]);
                    let (_, a) = sale(&mut small, &trans, 100, 0, Some(&req));
                    let (_, b) = sale(&mut full, &trans, 100, 0, Some(&req));
                    (a, b)
                }
            };
            prop_assert_eq!(&a, &b, "op {} {:?}", i, op);
            prop_assert_eq!(points(&small), points(&full));
            prop_assert!(small.payments.len() <= 2 * 2 * retain + 16 + 1);
        }
        let summary = small.summarised.get("your_merchant_id").cloned().unwrap_or_default();
        prop_assert_eq!(summary.payments as usize + small.payments.len(), full.payments.len());
        prop_assert_eq!(summary.credits as usize + small.credits.len(), full.credits.len());
    }
}

#[test]
fn a_forgotten_payment_and_req_id_answer_as_the_readme_says() {
    let mut s = state(1);
    let start = points(&s);
    let (first, answer) = sale(&mut s, "T-first", 1000, 300, Some("REQ-first"));
    let first = first.expect("the sale is accepted");
    assert_eq!(answer["Code"], "0", "AUTHORIZE_REQUEST: {answer}");
    assert_eq!(points(&s), start - 300);
    // 2 merchants × 1 kept: a trim runs above 2 × 2 + 16 payments.
    for i in 0..25 {
        sale(&mut s, &format!("T-{i}"), 500, 0, None);
    }
    assert!(!s.payments.contains_key(&first), "forgotten");
    // The README's code for an unknown PayID (29509004), for a forgotten one too.
    let refused = credit(&mut s, &first, "C-1", 500);
    assert_eq!(
        (refused["Status"].as_str(), refused["Code"].as_str()),
        (Some("FAILED"), Some("29509004"))
    );
    assert_eq!(points(&s), start - 300, "nothing credited");
    // The sale's ReqID answer is still stored: the replay is the original answer, no new sale.
    let payments = s.payments.len();
    let (_, replay) = sale(&mut s, "T-first", 1000, 300, Some("REQ-first"));
    assert_eq!(
        (replay["PayID"].as_str(), replay["Code"].as_str()),
        (Some(first.as_str()), Some("0"))
    );
    assert_eq!(s.payments.len(), payments);
    assert_eq!(points(&s), start - 300);
    // Once 2 × 4 × 2 + 64 answers are stored the oldest are forgotten: the same request is a
    // new sale.
    for i in 0..90 {
        sale(&mut s, &format!("T-r{i}"), 500, 0, Some(&format!("REQ-{i}")));
    }
    let (again, _) = sale(&mut s, "T-first", 1000, 300, Some("REQ-first"));
    assert_ne!(again.as_deref(), Some(first.as_str()));
    assert_eq!(points(&s), start - 600, "booked again, as a new sale");
    // Members' points are state: never summarised.
    let summary = &s.summarised["your_merchant_id"];
    assert!(summary.payments >= 100, "{summary:?}");
    assert!(summary.req_ids >= 1);
    assert_eq!(summary.points_redeemed, 300, "the first sale's points, in the summary");
}

#[test]
fn the_admin_state_shows_what_was_summarised() {
    let mock = ComputopMock::new(Arc::new(Clock::frozen(NOW)));
    mock.load(&data_set(1)).unwrap();
    {
        let mut s = mock.inner().lock();
        // A trim runs above 20 payments (twice one kept per merchant, 2 merchants, plus 16).
        for i in 0..21 {
            sale(&mut s, &format!("T-{i}"), 1_000, 0, None);
        }
    }
    let snapshot = mock.snapshot();
    assert_eq!(snapshot["retention"]["transactions"], 1);
    // The trim ran when the 21st sale arrived: its flow was still running, so it is held, and
    // of the finished ones the newest stays.
    let summary = &snapshot["retention"]["summarised"]["your_merchant_id"];
    assert_eq!(summary["payments"], 19, "{snapshot}");
    assert_eq!(summary["paid"], 19);
    assert_eq!(summary["paidCents"], 19_000);
    let held: Vec<&str> = snapshot["payments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["transId"].as_str())
        .collect();
    assert_eq!(held, ["T-19", "T-20"]);
}

/// The default set's AES merchant.
fn aes_account() -> Account {
    Account {
        merchant_id: "possim_aes_shop".into(),
        hmac_password: "possimHmacSecret".into(),
        crypt_password: "0123456789abcdef0123456789abcdef".into(),
        cipher: Cipher::Aes,
    }
}

fn stored_req_ids(s: &State, merchant: &str) -> usize {
    s.req_ids.keys().filter(|k| k.0 == merchant).count()
}

#[test]
fn a_busy_merchant_does_not_push_out_a_quiet_ones_req_ids() {
    let mut s = state(1);
    let aes = aes_account();
    let (paid, first) = sale_as(&aes, &mut s, "Q-1", 700, 0, Some("QUIET-1"));
    assert!(paid.is_some(), "{first}");
    assert_eq!(stored_req_ids(&s, "possim_aes_shop"), 1, "{first}");
    // 4 answers kept per merchant (1 payment × 4), 2 merchants: the trim runs above
    // 2 × 8 + 64 = 80 answers, i.e. at the busy merchant's 80th, and keeps its newest 4.
    for i in 0..100 {
        sale(&mut s, &format!("B-{i}"), 100, 0, Some(&format!("BUSY-{i}")));
    }
    assert_eq!(
        stored_req_ids(&s, "possim_aes_shop"),
        1,
        "the quiet merchant's answer stays"
    );
    assert_eq!(stored_req_ids(&s, "your_merchant_id"), 4 + 20);
    assert_eq!(s.summarised["your_merchant_id"].req_ids, 76);
    assert!(!s.summarised.contains_key("possim_aes_shop"));
    // The quiet merchant's ReqID still replays its stored answer (its payment is finished).
    let (again, replayed) = sale_as(&aes, &mut s, "Q-1", 700, 0, Some("QUIET-1"));
    assert_eq!(replayed, first);
    assert_eq!(again, None, "a replay starts no payment");
}

/// Payments whose flow still runs are never forgotten, so with more of them than the threshold
/// (2 × 1 × 2 merchants + 16 = 20 here) the state stays above it; the retention then walks the
/// payments again only once as many as it keeps (one per merchant: 2) have come, instead of at
/// every request.
#[test]
fn with_many_payments_in_their_flow_the_history_is_trimmed_in_steps() {
    let mut s = state(1);
    for n in 0..25 {
        let f = client::sale_request(
            &account(),
            &format!("open-{n}"),
            100,
            "https://shop.example",
            MEMBER,
            None,
        );
        let sealed = Fields::parse(&account().seal(&f).unwrap(), false);
        assert!(
            paygate::handle(&mut s, Endpoint::Sale, &sealed, NOW, SALT)
                .started
                .is_some()
        );
    }
    for n in 0..10 {
        assert!(sale(&mut s, &format!("done-{n}"), 100, 0, None).0.is_some());
    }
    // Worked through by hand: a trim runs when a sale brings the state above max(20, its size
    // after the last trim + 2), and keeps the newest finished payment. Over the ten finished
    // sales that forgets 6 and holds 29 (trimming at every request would forget 8, hold 27).
    assert_eq!(s.summarised["your_merchant_id"].payments, 6);
    assert_eq!(s.order.len(), 29);
    assert_eq!(s.in_flow.len(), 25);
}

/// A preset gives its PayID to the first sale with its TransID only: once that payment is
/// forgotten, another sale with the TransID gets fresh ids, never the forgotten payment's PayID
/// (a credit naming it would otherwise reach the wrong payment).
#[test]
fn a_preset_pay_id_is_given_once_even_after_its_payment_is_forgotten() {
    let settings = "[retention]\ntransactions = 1\n";
    let seed = include_str!("../../datasets/seed-examples/computop.toml");
    let set = DataSet::from_files("presets", [("computop.toml", seed), ("possim.toml", settings)]).unwrap();
    let mut s = State::from_data_set(&set).unwrap();
    // The seed's first sample sale (seed-examples/computop.toml, first [[presets]]).
    let trans_id = "TID-1708346969344-077409836028";
    let preset = "e750aaf2b0b34ab5bc5027b098b17b00";
    assert_eq!(sale(&mut s, trans_id, 100, 0, None).0.as_deref(), Some(preset));
    // Enough later sales that the first is forgotten (one kept; a trim past 2 × 1 + 16).
    for n in 0..40 {
        assert!(sale(&mut s, &format!("later-{n}"), 100, 0, None).0.is_some());
    }
    assert!(!s.payments.contains_key(preset), "forgotten");
    let again = sale(&mut s, trans_id, 100, 0, None).0.unwrap();
    assert_ne!(again, preset);
    assert_eq!(again.len(), 32);
}

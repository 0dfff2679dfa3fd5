//! Bounded history (issue 13): forgetting old purchases, redemptions, stored answers and PIN
//! tokens never changes a balance, an expiry, a coupon or an answer about what is still held;
//! forgotten ids answer as the README's "Retention" says; the admin state shows the summary.

use std::collections::BTreeMap;
use std::sync::Arc;

use possim_engine::clock::{Clock, parse_rfc3339};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_payback::PaybackMock;
use possim_payback::domain::{self, AuthRequest, PurchaseRequest, RedemptionRequest};
use possim_payback::model::{State, expires_at};
use possim_payback::retention::MIN_PIN_TOKENS;
use proptest::prelude::*;
use serde_json::{Value, json};

const PARTNER: &str = "possim-optik";
const MAX: &str = "9876543210";
const DATA: &str = include_str!("../../datasets/default/payback.toml");

fn now() -> i64 {
    parse_rfc3339("2026-11-25T12:00:00Z").unwrap()
}

fn data_set(retain: usize) -> DataSet {
    let settings = format!("[retention]\ntransactions = {retain}\n");
    DataSet::from_files(
        "retention",
        [("payback.toml", DATA), ("possim.toml", settings.as_str())],
    )
    .unwrap()
}

fn state(retain: usize) -> State {
    let s = State::from_data_set(&data_set(retain)).unwrap();
    assert_eq!(s.retain, retain);
    s
}

#[derive(Debug, Clone)]
enum Op {
    Purchase { cents: i64, coupons: Vec<&'static str> },
    Redeem { points: i64, basket: i64, with_token: bool },
    ReversePurchase { pick: usize, cents: Option<i64> },
    ReverseRedemption { pick: usize, points: Option<i64> },
    Replay { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (
            0i64..100_000,
            prop::sample::subsequence(vec!["10FACH", "EXTRA500", "APP20FACH", "ABGELAUFEN"], 0..3)
        )
            .prop_map(|(cents, coupons)| Op::Purchase { cents, coupons }),
        2 => (1i64..3_000, 0i64..10_000, any::<bool>())
            .prop_map(|(points, basket, with_token)| Op::Redeem { points, basket, with_token }),
        1 => (any::<usize>(), prop::option::of(0i64..50_000)).prop_map(|(pick, cents)| Op::ReversePurchase { pick, cents }),
        1 => (any::<usize>(), prop::option::of(1i64..3_000))
            .prop_map(|(pick, points)| Op::ReverseRedemption { pick, points }),
        1 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
    ]
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// An answer as JSON, or the refusal's stable code.
fn outcome<A: serde::Serialize>(r: Result<A, possim_payback::errors::PaybackError>) -> Value {
    match r {
        Ok(a) => serde_json::to_value(a).unwrap(),
        Err(e) => json!({"refused": e.code()}),
    }
}

/// What a till can observe of the books: balance, expired points and points per expiry of each
/// member, and who used each coupon.
fn books(s: &State, at: i64) -> Vec<String> {
    let members = s.members.values().map(|m| {
        let mut per_expiry = BTreeMap::new();
        for lot in &m.lots {
            *per_expiry.entry(expires_at(lot.earned_at)).or_insert(0) += lot.points;
        }
        format!(
            "{} balance {} expired {} lots {per_expiry:?}",
            m.customer_number,
            m.balance(at),
            m.expired_points
        )
    });
    let coupons = s.coupons.values().map(|c| {
        let mut used = c.used_by.clone();
        used.sort();
        format!("{} used by {used:?}", c.code)
    });
    members.chain(coupons).collect()
}

/// Runs `op` as request number `i` on one state. `purchases`, `redemptions` and `stored` (the
/// requests whose answers were stored, for replays) are what the till booked, oldest first;
/// reversals and replays pick among the newest `window` of them.
struct Till {
    purchases: Vec<String>,
    redemptions: Vec<String>,
    stored: Vec<(&'static str, Value)>,
}

fn pick<T: Clone>(list: &[T], window: usize, pick: usize) -> Option<T> {
    let window = window.min(list.len());
    (window > 0).then(|| list[list.len() - window + pick % window].clone())
}

fn run(s: &mut State, till: &mut Till, i: usize, op: &Op, window: usize) -> Value {
    let now = now();
    let tx = format!("T-{i}");
    let (kind, raw): (&'static str, Value) = match op {
        Op::Purchase { cents, coupons } => (
            "purchase",
            json!({"transactionId": tx, "cardNumber": MAX, "receiptNumber": "R",
                "totalAmountCents": cents, "coupons": coupons}),
        ),
        Op::Redeem {
            points,
            basket,
            with_token,
        } => {
            let mut raw = json!({"transactionId": tx, "points": points, "basketTotalCents": basket,
                "receiptNumber": "R"});
            if *with_token {
                let auth: AuthRequest = serde_json::from_value(json!({"cardNumber": MAX, "pin": "1234"})).unwrap();
                let token = domain::authenticate(s, PARTNER, &auth, now).unwrap().pin_token;
                raw["pinToken"] = json!(token);
            } else {
                raw["cardNumber"] = json!(MAX);
                raw["pin"] = json!("1234");
            }
            ("redemption", raw)
        }
        Op::ReversePurchase { pick: p, cents } => {
            let Some(id) = pick(&till.purchases, window, *p) else {
                return Value::Null;
            };
            let mut raw = json!({"transactionId": tx});
            if let Some(c) = cents {
                raw["amountCents"] = json!(c);
            }
            let (req, raw) = domain::parse(&body(&raw)).unwrap();
            let r = domain::reverse_purchase(s, PARTNER, &id, &req, &raw, now);
            if r.is_ok() {
                till.stored.push(("other", raw));
            }
            return outcome(r);
        }
        Op::ReverseRedemption { pick: p, points } => {
            let Some(id) = pick(&till.redemptions, window, *p) else {
                return Value::Null;
            };
            let mut raw = json!({"transactionId": tx});
            if let Some(p) = points {
                raw["points"] = json!(p);
            }
            let (req, raw) = domain::parse(&body(&raw)).unwrap();
            let r = domain::reverse_redemption(s, PARTNER, &id, &req, &raw, now);
            if r.is_ok() {
                till.stored.push(("other", raw));
            }
            return outcome(r);
        }
        Op::Replay { pick: p } => match pick(&till.stored, window, *p) {
            Some((kind @ ("purchase" | "redemption"), raw)) => (kind, raw),
            _ => return Value::Null,
        },
    };
    let replay = matches!(op, Op::Replay { .. });
    let bytes = body(&raw);
    if kind == "purchase" {
        let (req, raw): (PurchaseRequest, Value) = domain::parse(&bytes).unwrap();
        let r = domain::purchase(s, PARTNER, &req, &raw, now);
        if let (Ok(a), false) = (&r, replay) {
            till.purchases.push(a.purchase_id.clone());
            till.stored.push(("purchase", raw));
        }
        outcome(r)
    } else {
        let (req, raw): (RedemptionRequest, Value) = domain::parse(&bytes).unwrap();
        let r = domain::redeem(s, PARTNER, &req, &raw, now);
        if let (Ok(a), false) = (&r, replay) {
            till.redemptions.push(a.redemption_id.clone());
            till.stored.push(("redemption", raw));
        }
        outcome(r)
    }
}

fn till() -> Till {
    Till {
        purchases: Vec::new(),
        redemptions: Vec::new(),
        stored: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A state that keeps almost nothing and one that keeps everything give the same answers to
    /// every request about what the small one still holds, and the same books after each.
    #[test]
    fn forgetting_history_never_changes_a_balance_or_an_answer(
        ops in prop::collection::vec(op(), 1..40),
        retain in 1usize..5,
    ) {
        let mut small = state(retain);
        let mut full = state(1_000_000);
        let (mut small_till, mut full_till) = (till(), till());
        let later = parse_rfc3339("2029-10-01T00:00:00Z").unwrap();
        for (i, op) in ops.iter().enumerate() {
            // Reversals and replays refer only to the newest `retain` of each kind, which the
            // small state must still hold. A reversal also stores an answer, so the newest
            // stored answers may be fewer than `retain` purchases: replays pick among the
            // stored answers the small state still holds.
            let a = run(&mut small, &mut small_till, i, op, retain);
            let b = run(&mut full, &mut full_till, i, op, retain);
            prop_assert_eq!(&a, &b, "op {} {:?}", i, op);
            prop_assert_eq!(books(&small, now()), books(&full, now()));
            prop_assert_eq!(books(&small, later), books(&full, later), "expiry unchanged");
            prop_assert!(small.purchases.len() <= retain && small.redemptions.len() <= retain);
            prop_assert!(small.idempotency.len() <= retain);
            prop_assert!(small.pin_tokens.len() <= retain.max(MIN_PIN_TOKENS));
        }
        // What was forgotten is counted.
        let summary = small.history.summarised.get(PARTNER).cloned().unwrap_or_default();
        prop_assert_eq!(summary.purchases as usize + small.purchases.len(), full.purchases.len());
        prop_assert_eq!(summary.redemptions as usize + small.redemptions.len(), full.redemptions.len());
        prop_assert_eq!(summary.answers as usize + small.idempotency.len(), full.idempotency.len());
        let booked: i64 = full.purchases.values().filter(|p| !small.purchases.contains_key(&p.purchase_id))
            .map(|p| p.total_points - p.reversed_points).sum();
        prop_assert_eq!(summary.purchase_points, booked);
    }
}

fn purchase(s: &mut State, tx: &str, cents: i64, coupons: &[&str]) -> Value {
    let raw = json!({"transactionId": tx, "cardNumber": MAX, "receiptNumber": "R",
        "totalAmountCents": cents, "coupons": coupons});
    let (req, raw): (PurchaseRequest, Value) = domain::parse(&body(&raw)).unwrap();
    outcome(domain::purchase(s, PARTNER, &req, &raw, now()))
}

#[test]
fn forgotten_ids_answer_as_the_readme_says() {
    let mut s = state(1);
    let balance = |s: &State| s.members[MAX].balance(now());
    let start = balance(&s);
    // EXTRA500 adds 500 points to 10 EUR's 5 base points (README, "Programme rules").
    let first = purchase(&mut s, "T-1", 1000, &["EXTRA500"]);
    assert_eq!(first["totalPoints"], 505, "{first}");
    let second = purchase(&mut s, "T-2", 1000, &[]);
    assert_eq!(second["totalPoints"], 5);
    assert_eq!(balance(&s), start + 510);
    // The first purchase is forgotten: its reversal is refused like an unknown id …
    let (req, raw) = domain::parse(&body(&json!({"transactionId": "T-3"}))).unwrap();
    let id = first["purchaseId"].as_str().unwrap();
    let reversal = outcome(domain::reverse_purchase(&mut s, PARTNER, id, &req, &raw, now()));
    assert_eq!(reversal, json!({"refused": "REFERENCE_NOT_FOUND"}));
    // … its coupon stays spent: a member's coupon is state, not history …
    let again = purchase(&mut s, "T-4", 1000, &["EXTRA500"]);
    assert_eq!(again["couponPoints"][0]["reason"], "COUPON_ALREADY_USED", "{again}");
    assert_eq!(again["totalPoints"], 5);
    // … and its transactionId is no longer remembered: the same request is a new purchase.
    let replay = purchase(&mut s, "T-1", 1000, &["EXTRA500"]);
    assert_ne!(replay["purchaseId"], first["purchaseId"]);
    assert_eq!(replay["totalPoints"], 5, "the coupon is not granted twice: {replay}");
    assert_eq!(balance(&s), start + 520);
    // The newest purchase's transactionId still replays its answer and books nothing.
    let kept = purchase(&mut s, "T-1", 1000, &["EXTRA500"]);
    assert_eq!(kept, replay);
    assert_eq!(balance(&s), start + 520);
    // A forgotten PIN token is refused like an expired one; the newest works. The clock stands
    // still, so none expires: at least MIN_PIN_TOKENS are kept whatever the retention.
    let auth: AuthRequest = serde_json::from_value(json!({"cardNumber": MAX, "pin": "1234"})).unwrap();
    let old = domain::authenticate(&mut s, PARTNER, &auth, now()).unwrap().pin_token;
    let mut new = String::new();
    for _ in 0..MIN_PIN_TOKENS {
        new = domain::authenticate(&mut s, PARTNER, &auth, now()).unwrap().pin_token;
    }
    assert_eq!(s.pin_tokens.len(), MIN_PIN_TOKENS);
    let redeem = |s: &mut State, tx: &str, token: &str| {
        let raw = json!({"transactionId": tx, "pinToken": token, "points": 200, "basketTotalCents": 1000,
            "receiptNumber": "R"});
        let (req, raw): (RedemptionRequest, Value) = domain::parse(&body(&raw)).unwrap();
        outcome(domain::redeem(s, PARTNER, &req, &raw, now()))
    };
    assert_eq!(redeem(&mut s, "T-5", &old), json!({"refused": "PIN_TOKEN_INVALID"}));
    assert_eq!(redeem(&mut s, "T-6", &new)["redeemedPoints"], 200);
    assert_eq!(balance(&s), start + 320);
}

#[test]
fn the_admin_state_shows_what_was_summarised() {
    let mock = PaybackMock::new(Arc::new(Clock::frozen(now())));
    mock.load(&data_set(2)).unwrap();
    let start = mock.inner().lock().members[MAX].balance(now());
    let mut ids = Vec::new();
    {
        let mut s = mock.inner().lock();
        // 4.00 EUR at 200 cents per point: 2 points each.
        for i in 0..5 {
            ids.push(purchase(&mut s, &format!("T-{i}"), 400, &[])["purchaseId"].clone());
        }
    }
    let snapshot = mock.snapshot();
    assert_eq!(snapshot["retention"]["transactions"], 2);
    let summary = &snapshot["retention"]["summarised"][PARTNER];
    assert_eq!(summary["purchases"], 3, "{snapshot}");
    assert_eq!(summary["purchasePoints"], 6);
    assert_eq!(summary["eligibleCents"], 1200);
    assert_eq!(summary["lastPurchaseId"], ids[2]);
    assert_eq!(summary["answers"], 3);
    let held: Vec<&Value> = snapshot["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["purchaseId"])
        .collect();
    assert_eq!(held, vec![&ids[3], &ids[4]]);
    assert_eq!(snapshot["transactions"].as_array().unwrap().len(), 2);
    let max = snapshot["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customerNumber"] == MAX)
        .unwrap();
    assert_eq!(max["balance"], start + 10);
}

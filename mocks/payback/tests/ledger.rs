//! "Points are never created or lost": any sequence of purchases, redemptions, reversals and
//! replays leaves every balance equal to what the answers say was booked, never negative, and a
//! replay never books twice.

use possim_engine::clock::parse_rfc3339;
use possim_engine::dataset::DataSet;
use possim_payback::domain::{self, PurchaseRequest, RedemptionRequest};
use possim_payback::model::State;
use proptest::prelude::*;
use serde_json::{Value, json};

const PARTNER: &str = "possim-optik";
const MAX: &str = "9876543210";

fn state() -> State {
    let set = DataSet::from_files(
        "default",
        [("payback.toml", include_str!("../../datasets/default/payback.toml"))],
    )
    .unwrap();
    State::from_data_set(&set).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Purchase { cents: i64, coupons: Vec<&'static str> },
    Redeem { points: i64, basket: i64 },
    ReversePurchase { pick: usize, cents: Option<i64> },
    ReverseRedemption { pick: usize, points: Option<i64> },
    ReplayLast,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0i64..100_000,
            prop::sample::subsequence(vec!["10FACH", "EXTRA500", "APP20FACH", "ABGELAUFEN"], 0..3)
        )
            .prop_map(|(cents, coupons)| Op::Purchase { cents, coupons }),
        (1i64..8_000, 0i64..10_000).prop_map(|(points, basket)| Op::Redeem { points, basket }),
        (any::<usize>(), prop::option::of(0i64..50_000)).prop_map(|(pick, cents)| Op::ReversePurchase { pick, cents }),
        (any::<usize>(), prop::option::of(1i64..3_000))
            .prop_map(|(pick, points)| Op::ReverseRedemption { pick, points }),
        Just(Op::ReplayLast),
    ]
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

proptest! {
    #[test]
    fn balances_follow_the_bookings(ops in prop::collection::vec(op(), 1..40)) {
        let now = parse_rfc3339("2026-11-25T12:00:00Z").unwrap();
        let mut s = state();
        let balance = |s: &State| s.members[MAX].balance(now);
        let mut expected = balance(&s);
        let mut purchases: Vec<String> = Vec::new();
        let mut redemptions: Vec<String> = Vec::new();
        let mut last: Option<(String, Value)> = None;
        for (i, op) in ops.into_iter().enumerate() {
            let tx = format!("T-{i}");
            match op {
                Op::Purchase { cents, coupons } => {
                    let raw = json!({"transactionId": tx, "cardNumber": MAX, "receiptNumber": "R",
                        "totalAmountCents": cents, "coupons": coupons});
                    let (req, raw): (PurchaseRequest, Value) = domain::parse(&body(&raw)).unwrap();
                    if let Ok(a) = domain::purchase(&mut s, PARTNER, &req, &raw, now) {
                        expected += a.total_points;
                        purchases.push(a.purchase_id);
                        last = Some(("purchase".into(), raw));
                    }
                }
                Op::Redeem { points, basket } => {
                    let raw = json!({"transactionId": tx, "cardNumber": MAX, "pin": "1234", "points": points,
                        "basketTotalCents": basket, "receiptNumber": "R"});
                    let (req, raw): (RedemptionRequest, Value) = domain::parse(&body(&raw)).unwrap();
                    let before = balance(&s);
                    match domain::redeem(&mut s, PARTNER, &req, &raw, now) {
                        Ok(a) => {
                            prop_assert!(points >= 200 && points <= before && points <= basket);
                            expected -= a.redeemed_points;
                            redemptions.push(a.redemption_id);
                            last = Some(("redemption".into(), raw));
                        }
                        Err(_) => prop_assert!(points < 200 || points > before || points > basket),
                    }
                }
                Op::ReversePurchase { pick, cents } if !purchases.is_empty() => {
                    let id = purchases[pick % purchases.len()].clone();
                    let mut raw = json!({"transactionId": tx});
                    if let Some(c) = cents { raw["amountCents"] = json!(c); }
                    let (req, raw) = domain::parse(&body(&raw)).unwrap();
                    if let Ok(a) = domain::reverse_purchase(&mut s, PARTNER, &id, &req, &raw, now) {
                        expected -= a.reversed_points;
                    }
                }
                Op::ReverseRedemption { pick, points } if !redemptions.is_empty() => {
                    let id = redemptions[pick % redemptions.len()].clone();
                    let mut raw = json!({"transactionId": tx});
                    if let Some(p) = points { raw["points"] = json!(p); }
                    let (req, raw) = domain::parse(&body(&raw)).unwrap();
                    if let Ok(a) = domain::reverse_redemption(&mut s, PARTNER, &id, &req, &raw, now) {
                        expected += a.rebooked_points;
                    }
                }
                Op::ReplayLast => {
                    if let Some((kind, raw)) = &last {
                        let before = balance(&s);
                        let bytes = body(raw);
                        let replayed = if kind == "purchase" {
                            let (req, raw): (PurchaseRequest, Value) = domain::parse(&bytes).unwrap();
                            domain::purchase(&mut s, PARTNER, &req, &raw, now).map(drop)
                        } else {
                            let (req, raw): (RedemptionRequest, Value) = domain::parse(&bytes).unwrap();
                            domain::redeem(&mut s, PARTNER, &req, &raw, now).map(drop)
                        };
                        prop_assert!(replayed.is_ok(), "a replay answers like the original");
                        prop_assert_eq!(balance(&s), before, "a replay books nothing");
                    }
                }
                _ => {}
            }
            prop_assert_eq!(balance(&s), expected);
            prop_assert!(balance(&s) >= 0);
            let lots_sum: i64 = s.members[MAX].lots.iter().map(|l| l.points).sum();
            prop_assert_eq!(lots_sum, expected, "no lot is negative or hidden");
            prop_assert!(s.members[MAX].lots.iter().all(|l| l.points > 0));
        }
    }
}

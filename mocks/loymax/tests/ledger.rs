//! Property: points are never created or lost, whatever the interleaving of purchases,
//! payments, cancels, refunds and expiries from several tills on one card.
//!
//! The test keeps its own ledger, computed from the requests alone (the offer is a flat 10 %
//! accrual on what is paid in money, so every figure is exact), predicts whether the mock must
//! accept each request, and after every step compares balance, holds and availability with the
//! mock's snapshot.

mod common;

use common::{Answer, card, cheque, ident, mock_with, post};
use proptest::prelude::*;

const DATA: &str = r#"
[[projects]]
name = "possim"
purchaseTimeout = "10m"
[[devices]]
project = "possim"
login = "till-a"
password = "demo"
[[devices]]
project = "possim"
login = "till-b"
password = "demo"
[[devices]]
project = "possim"
login = "till-c"
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

const TILLS: [&str; 3] = ["till-a", "till-b", "till-c"];

#[derive(Debug, Clone)]
enum Step {
    /// Calculate a new purchase of two units at `price` rubles each.
    Start {
        till: usize,
        price: i64,
    },
    Pay {
        purchase: usize,
        rubles: i64,
    },
    Discount {
        purchase: usize,
    },
    Confirm {
        purchase: usize,
    },
    Cancel {
        purchase: usize,
    },
    /// Return one unit (or both) of a confirmed purchase.
    Refund {
        purchase: usize,
        both: bool,
    },
    /// Move the clock on by this many minutes (purchases expire after 10).
    Wait {
        minutes: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize, 1..40i64).prop_map(|(till, tens)| Step::Start { till, price: tens * 10 }),
        (0..8usize, 1..400i64).prop_map(|(purchase, rubles)| Step::Pay { purchase, rubles }),
        (0..8usize).prop_map(|purchase| Step::Discount { purchase }),
        (0..8usize).prop_map(|purchase| Step::Confirm { purchase }),
        (0..8usize).prop_map(|purchase| Step::Cancel { purchase }),
        (0..8usize, any::<bool>()).prop_map(|(purchase, both)| Step::Refund { purchase, both }),
        (1..12i64).prop_map(|minutes| Step::Wait { minutes }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Calculated,
    Discounted,
    Confirmed,
    Closed,
}

/// The test's own view of one purchase (amounts in kopecks).
#[derive(Debug, Clone)]
struct Model {
    till: &'static str,
    id: String,
    amount: i64,
    paid: i64,
    accrual: i64,
    phase: Phase,
    expires: i64,
    /// For refunds: (units returned so far, points given back, accrual taken back).
    returned: (i64, i64, i64),
    /// A refund purchase: (original index, units, points back, accrual back).
    refund: Option<(usize, i64, i64, i64)>,
}

#[derive(Debug, Default)]
struct Ledger {
    balance: i64,
    purchases: Vec<Model>,
    now_min: i64,
    op: u64,
}

impl Ledger {
    fn held(&self) -> i64 {
        self.purchases
            .iter()
            .filter(|p| matches!(p.phase, Phase::Calculated | Phase::Discounted))
            .map(|p| match p.refund {
                Some((_, _, _, cash)) => cash,
                None => p.paid,
            })
            .sum()
    }

    fn expire(&mut self) {
        let now = self.now_min;
        for i in 0..self.purchases.len() {
            let p = &self.purchases[i];
            if matches!(p.phase, Phase::Calculated | Phase::Discounted) && p.expires <= now {
                self.release(i);
            }
        }
    }

    fn release(&mut self, i: usize) {
        self.purchases[i].phase = Phase::Closed;
        if let Some((original, units, pay, cash)) = self.purchases[i].refund {
            let o = &mut self.purchases[original].returned;
            o.0 -= units;
            o.1 -= pay;
            o.2 -= cash;
        }
    }

    fn next_op(&mut self) -> String {
        self.op += 1;
        format!("op-{}", self.op)
    }
}

fn body(command: &str, attrs: &str, inner: &str) -> String {
    format!(
        "<XMLRequest><Version>3.2</Version><{command}s><{command}Request {attrs}>{inner}</{command}Request></{command}s></XMLRequest>"
    )
}

fn ok(answer: &Answer) -> bool {
    answer.envelope_code() == "0" && answer.code() == "0"
}

fn kopecks(text: &str) -> i64 {
    possim_loymax::money::parse_money(text).unwrap()
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let (mock, clock) = mock_with(DATA, "2026-12-01T12:00:00Z");
    let mut ledger = Ledger {
        balance: 50_000,
        ..Ledger::default()
    };
    for step in steps {
        ledger.expire();
        match step {
            Step::Start { till, price } => {
                let id = format!("P{}", ledger.purchases.len());
                let op = ledger.next_op();
                let lines = cheque(&[("1", "g", &price.to_string(), "2", &(2 * price).to_string())]);
                let a = post(
                    &mock,
                    TILLS[till],
                    &body(
                        "Calculate",
                        &format!(r#"OperationID="{op}" PurchaseID="{id}""#),
                        &format!("{lines}{}", ident("1000")),
                    ),
                    None,
                )
                .await;
                prop_assert!(ok(&a), "{}", a.text());
                ledger.purchases.push(Model {
                    till: TILLS[till],
                    id,
                    amount: 2 * price * 100,
                    paid: 0,
                    accrual: 0,
                    phase: Phase::Calculated,
                    expires: ledger.now_min + 10,
                    returned: (0, 0, 0),
                    refund: None,
                });
            }
            Step::Pay { purchase, rubles } => {
                let Some(p) = ledger.purchases.get(purchase).cloned() else {
                    continue;
                };
                if p.refund.is_some() {
                    continue;
                }
                let points = rubles * 100;
                let available = ledger.balance - ledger.held();
                let expect = p.phase == Phase::Calculated && points <= available && p.paid + points <= p.amount;
                let op = ledger.next_op();
                let a = post(
                    &mock,
                    p.till,
                    &body(
                        "Payment",
                        &format!(r#"OperationID="{op}" PurchaseID="{}" Amount="{rubles}""#, p.id),
                        &ident("1000"),
                    ),
                    None,
                )
                .await;
                prop_assert_eq!(ok(&a), expect, "pay {} on {:?}: {}", rubles, p, a.text());
                if expect {
                    ledger.purchases[purchase].paid += points;
                }
            }
            Step::Discount { purchase } => {
                let Some(p) = ledger.purchases.get(purchase).cloned() else {
                    continue;
                };
                if p.refund.is_some() {
                    continue;
                }
                let op = ledger.next_op();
                let price = p.amount / 200;
                let lines = cheque(&[("1", "g", &price.to_string(), "2", &(2 * price).to_string())]);
                let a = post(
                    &mock,
                    p.till,
                    &body(
                        "Discount",
                        &format!(r#"OperationID="{op}" PurchaseID="{}""#, p.id),
                        &format!("{lines}{}", ident("1000")),
                    ),
                    None,
                )
                .await;
                let expect = p.phase == Phase::Calculated;
                prop_assert_eq!(ok(&a), expect, "discount {:?}: {}", p, a.text());
                if expect {
                    // 10 % of what is paid in money; whole rubles, so exact in kopecks.
                    let accrual = (p.amount - p.paid) / 10;
                    prop_assert_eq!(kopecks(&a.attr("BonusAmount")), accrual);
                    let m = &mut ledger.purchases[purchase];
                    m.accrual = accrual;
                    m.phase = Phase::Discounted;
                }
            }
            Step::Confirm { purchase } => {
                let Some(p) = ledger.purchases.get(purchase).cloned() else {
                    continue;
                };
                let op = ledger.next_op();
                let a = post(
                    &mock,
                    p.till,
                    &body(
                        "ConfirmPurchase",
                        &format!(r#"OperationID="{op}" PurchaseID="{}""#, p.id),
                        "",
                    ),
                    None,
                )
                .await;
                let expect = p.phase == Phase::Discounted;
                prop_assert_eq!(ok(&a), expect, "confirm {:?}: {}", p, a.text());
                if expect {
                    ledger.balance += match p.refund {
                        Some((_, _, pay, cash)) => pay - cash,
                        None => p.accrual - p.paid,
                    };
                    ledger.purchases[purchase].phase = Phase::Confirmed;
                }
            }
            Step::Cancel { purchase } => {
                let Some(p) = ledger.purchases.get(purchase).cloned() else {
                    continue;
                };
                let op = ledger.next_op();
                let a = post(
                    &mock,
                    p.till,
                    &body(
                        "CancelPurchase",
                        &format!(r#"OperationID="{op}" PurchaseID="{}""#, p.id),
                        "",
                    ),
                    None,
                )
                .await;
                let expect = matches!(p.phase, Phase::Calculated | Phase::Discounted);
                prop_assert_eq!(ok(&a), expect, "cancel {:?}: {}", p, a.text());
                if expect {
                    ledger.release(purchase);
                }
            }
            Step::Refund { purchase, both } => {
                let Some(p) = ledger.purchases.get(purchase).cloned() else {
                    continue;
                };
                if p.refund.is_some() {
                    continue;
                }
                let units = if both { 2 } else { 1 };
                let expect = p.phase == Phase::Confirmed && p.returned.0 + units <= 2;
                let (pay, cash) = if p.returned.0 + units == 2 {
                    (p.paid - p.returned.1, p.accrual - p.returned.2)
                } else {
                    // Half of whole rubles and of multiples of 10 kopecks: exact.
                    (p.paid / 2, p.accrual / 2)
                };
                let id = format!("R{}", ledger.purchases.len());
                let op = ledger.next_op();
                let price = p.amount / 200;
                let lines = cheque(&[(
                    "1",
                    "g",
                    &price.to_string(),
                    &units.to_string(),
                    &(units * price).to_string(),
                )]);
                let a = post(
                    &mock,
                    p.till,
                    &body(
                        "Refund",
                        &format!(r#"OperationID="{op}" PurchaseID="{id}" RefundPurchaseID="{}""#, p.id),
                        &lines,
                    ),
                    None,
                )
                .await;
                prop_assert_eq!(ok(&a), expect, "refund {:?}: {}", p, a.text());
                if expect {
                    prop_assert_eq!(kopecks(&a.attr("BonusAmount")), pay - cash);
                    let r = &mut ledger.purchases[purchase].returned;
                    r.0 += units;
                    r.1 += pay;
                    r.2 += cash;
                    ledger.purchases.push(Model {
                        till: p.till,
                        id,
                        amount: 0,
                        paid: 0,
                        accrual: 0,
                        phase: Phase::Discounted,
                        expires: ledger.now_min + 10,
                        returned: (0, 0, 0),
                        refund: Some((purchase, units, pay, cash)),
                    });
                }
            }
            Step::Wait { minutes } => {
                clock.advance(minutes * 60_000);
                ledger.now_min += minutes;
            }
        }
        ledger.expire();
        let (balance, held, available) = card(&mock, "1000");
        prop_assert_eq!(kopecks(&balance), ledger.balance);
        prop_assert_eq!(kopecks(&held), ledger.held());
        prop_assert_eq!(kopecks(&available), ledger.balance - ledger.held());
        prop_assert!(ledger.balance - ledger.held() >= 0 || ledger.purchases.iter().any(|p| p.refund.is_some()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn points_are_never_created_or_lost(steps in prop::collection::vec(step(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(run(steps))?;
    }
}

#[test]
fn the_model_is_not_trivial() {
    // A fixed interleaving: two tills, a payment, an expiry, a confirm and a refund.
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime
        .block_on(run(vec![
            Step::Start { till: 0, price: 100 },
            Step::Start { till: 1, price: 50 },
            Step::Pay {
                purchase: 0,
                rubles: 150,
            },
            Step::Pay {
                purchase: 1,
                rubles: 100,
            },
            Step::Discount { purchase: 0 },
            Step::Wait { minutes: 11 },
            Step::Confirm { purchase: 1 },
            Step::Start { till: 2, price: 100 },
            Step::Pay {
                purchase: 2,
                rubles: 40,
            },
            Step::Discount { purchase: 2 },
            Step::Confirm { purchase: 2 },
            Step::Refund {
                purchase: 2,
                both: false,
            },
            Step::Confirm { purchase: 3 },
            Step::Refund {
                purchase: 2,
                both: false,
            },
        ]))
        .unwrap();
}

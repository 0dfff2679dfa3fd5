//! Property tests of the TYRIOS ledger.
//!
//! 1. Under random concurrent transactions from several tills (real threads), points and coupon
//!    value change only by what the committed transactions say (obtained − redeemed), no balance
//!    or coupon ever goes negative, and drafts change nothing.
//! 2. A draft and the final that follows it with nothing in between compute the same numbers.
//! 3. Summarising old transactions (the retention of bounded memory) never changes a balance, an
//!    expiry, a coupon or an answer: a mock that keeps almost no history and one that keeps all
//!    of it agree after every transaction.

use std::sync::Arc;

use possim_engine::clock::Clock;
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_tyrios::TyriosMock;
use possim_tyrios::domain;
use possim_tyrios::model::{CouponState, State};
use possim_tyrios::wire::{TxKind, parse_tx_request};
use proptest::prelude::*;
use serde_json::{Value, json};

const NOW: i64 = 1_572_351_844_000;
const DATA: &str = r#"
nextUserId = 10
[[companies]]
id = 6
companyName = "Test"
bonusPointMode = "percentage"
bonusPointPercentage = 0.02
couponEnvironment = "fully-digital"
analogCouponPattern = "^AN"
[[credentials]]
login = "demo"
password = "demo"
company = 6
[[users]]
id = 1
uniqueUserHash = "UQBUFDJALK4WXYC"
points = 213
pointsValidUntil = 1672527600000
[[users]]
id = 2
uniqueUserHash = "AAAAAAAAAAAAAA2"
lots = [{ points = 500, validUntil = 1600000000000 }, { points = 40, validUntil = 1672527600000 }]
[[users]]
id = 3
uniqueUserHash = "AAAAAAAAAAAAAA3"
[[coupons]]
id = 1
couponCode = "AB4DEFGH"
couponValue = 50.0
state = "active"
[[coupons]]
id = 2
couponCode = "AN000001"
couponValue = 10.0
state = "active"
[[coupons]]
id = 3
couponCode = "AB4DEFGJ"
couponValue = 25.0
state = "registered"
[[coupons]]
id = 4
couponCode = "SMALL001"
couponValue = 3.5
state = "active"
"#;

const USERS: [&str; 3] = ["UQBUFDJALK4WXYC", "AAAAAAAAAAAAAA2", "AAAAAAAAAAAAAA3"];
const CODES: [&str; 6] = ["AB4DEFGH", "AN000001", "AB4DEFGJ", "SMALL001", "NEWCODE1", "NEWCODE2"];
const KINDS: [TxKind; 5] = [
    TxKind::Pos,
    TxKind::Coupon,
    TxKind::CouponActivation,
    TxKind::Cash,
    TxKind::SpecialPoints,
];

#[derive(Debug, Clone)]
struct Op {
    kind: TxKind,
    user: Option<usize>,
    /// (code, spelling): 0 as stored, 1 lower case, 2 with a trailing space.
    coupons: Vec<(usize, u8)>,
    cents: i64,
    redeem: Option<i64>,
    enable: bool,
    draft: bool,
    points: i64,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..KINDS.len(),
        prop::option::weighted(0.8, 0..USERS.len()),
        prop::collection::vec((0..CODES.len(), 0u8..3), 0..3),
        0i64..8000,
        prop::option::weighted(0.3, 0i64..600),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.3),
        1i64..500,
    )
        .prop_map(|(k, user, coupons, cents, redeem, enable, draft, points)| Op {
            kind: KINDS[k],
            user,
            coupons,
            cents,
            redeem,
            enable,
            draft,
            points,
        })
}

/// Spellings a till might send for one code; all of them name the same coupon.
fn spell(code: &str, spelling: u8) -> String {
    match spelling {
        0 => code.to_owned(),
        1 => code.to_ascii_lowercase(),
        _ => format!("{code} "),
    }
}

fn body(op: &Op) -> Vec<u8> {
    let mut b = json!({
        "userMode": "HASH",
        "productGroup": "Test",
        "totalAmount": op.cents as f64 / 100.0,
        "enablePointRedemption": op.enable,
        "obtainedPoints": op.points,
        "BonusPointCouponData": op.coupons.iter().map(|&(c, spelling)| json!({"couponCode": spell(CODES[c], spelling), "couponValue": 20})).collect::<Vec<_>>(),
    });
    if let Some(u) = op.user {
        b["UserData"] = json!(USERS[u]);
    }
    if let Some(r) = op.redeem {
        b["redeemedPoints"] = json!(r);
    }
    serde_json::to_vec(&b).unwrap()
}

fn mock() -> TyriosMock {
    let mock = TyriosMock::new(Arc::new(Clock::frozen(NOW)));
    mock.load(&DataSet::from_files("ledger", [("tyrios.toml", DATA)]).unwrap())
        .unwrap();
    mock
}

/// A mock that keeps only the newest `retain` transactions of each company.
fn mock_keeping(retain: usize) -> TyriosMock {
    let mock = TyriosMock::new(Arc::new(Clock::frozen(NOW)));
    let settings = format!("[retention]\ntransactions = {retain}\n");
    mock.load(&DataSet::from_files("ledger", [("tyrios.toml", DATA), ("possim.toml", settings.as_str())]).unwrap())
        .unwrap();
    mock
}

/// After user 2's older lot expired (1600000000000), before the others do.
const LATER: i64 = 1_600_000_000_001;

/// Everything a till can observe of the books at `at`: each user's balance, expired points and
/// lots' (points, validity), and each coupon.
fn books(state: &State, at: i64) -> Vec<String> {
    let users = state.users.values().map(|u| {
        let mut u = u.clone();
        u.expire(at);
        let lots: Vec<(i64, i64)> = u.lots.iter().map(|l| (l.points, l.valid_until)).collect();
        // Lots merged by the retention are one lot instead of several: compare per validity.
        let mut by_validity = std::collections::BTreeMap::new();
        for (points, valid_until) in lots {
            *by_validity.entry(valid_until).or_insert(0) += points;
        }
        format!(
            "user {} balance {} expired {} lots {by_validity:?}",
            u.id,
            u.balance(at),
            u.expired_points
        )
    });
    let coupons = state
        .coupons
        .values()
        .map(|c| format!("coupon {} {} {:?}", c.coupon_code, c.value, c.state));
    users.chain(coupons).collect()
}

/// Points on accounts plus the value of sold coupons (1 point = 1 cent).
fn ledger(state: &State) -> i64 {
    let users: i64 = state.users.values().map(|u| u.balance(NOW)).sum();
    let coupons: i64 = state
        .coupons
        .values()
        .filter(|c| c.state == CouponState::Active)
        .map(|c| c.value)
        .sum();
    users + coupons
}

fn assert_nothing_negative(state: &State) {
    for u in state.users.values() {
        assert!(u.lots.iter().all(|l| l.points >= 0), "user {} has a negative lot", u.id);
    }
    for c in state.coupons.values() {
        assert!(c.value >= 0, "coupon {} is negative", c.coupon_code);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn concurrent_tills_never_create_or_lose_points(tills in prop::collection::vec(prop::collection::vec(op(), 1..25), 2..4)) {
        let mock = mock();
        let before = ledger(&mock.inner().lock());
        let results: Vec<Vec<(Op, Option<Value>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = tills
                .iter()
                .map(|ops| {
                    let mock = &mock;
                    scope.spawn(move || {
                        ops.iter()
                            .map(|op| {
                                let req = parse_tx_request(&body(op)).expect("generated bodies parse");
                                let mut state = mock.inner().lock();
                                let result = domain::execute(&mut state, 6, op.kind, &req, op.draft, NOW);
                                let answer = result.ok().map(|rec| {
                                    let company = state.companies[&6].clone();
                                    domain::transaction_json(&rec, &company, rec.available_obtained)
                                });
                                (op.clone(), answer)
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let state = mock.inner().lock();
        let mut expected_delta = 0;
        let mut committed = 0;
        for (op, answer) in results.iter().flatten() {
            let Some(answer) = answer else { continue };
            for field in ["redeemedPoints", "obtainedPoints", "resultingPoints", "startPoints"] {
                prop_assert!(answer[field].as_i64().unwrap() >= 0, "{field} < 0 in {answer}");
            }
            prop_assert!(answer["remainingAmount"].as_f64().unwrap() >= 0.0);
            if !op.draft {
                committed += 1;
                expected_delta += answer["obtainedPoints"].as_i64().unwrap() - answer["redeemedPoints"].as_i64().unwrap();
            }
        }
        prop_assert_eq!(ledger(&state) - before, expected_delta);
        prop_assert_eq!(state.transactions.len(), committed, "drafts persist nothing");
        assert_nothing_negative(&state);
    }

    #[test]
    fn summarising_history_never_changes_a_balance(ops in prop::collection::vec(op(), 1..40), retain in 1usize..5) {
        let (full, small) = (mock(), mock_keeping(retain));
        let half = ops.len() / 2;
        let mut committed = 0;
        for (i, op) in ops.iter().enumerate() {
            // The second half runs after an expiry, so merged lots must keep their validity.
            let at = if i < half { NOW } else { LATER };
            let req = parse_tx_request(&body(op)).unwrap();
            let numbers = |mock: &TyriosMock| {
                let mut state = mock.inner().lock();
                domain::execute(&mut state, 6, op.kind, &req, op.draft, at).map(|r| {
                    (r.id, r.redeemed, r.obtained, r.remaining, r.resulting, r.start, r.coupon_points, r.available_obtained)
                })
            };
            let (a, b) = (numbers(&full), numbers(&small));
            prop_assert_eq!(&a, &b);
            if a.is_ok() && !op.draft {
                committed += 1;
            }
            prop_assert_eq!(books(&full.inner().lock(), at), books(&small.inner().lock(), at));
        }
        let full = full.inner().lock();
        let small = small.inner().lock();
        prop_assert_eq!(full.transactions.len(), committed);
        prop_assert_eq!(small.transactions.len(), committed.min(retain));
        let summary = small.summaries.get(&6).copied().unwrap_or_default();
        prop_assert_eq!(summary.transactions as usize, committed - committed.min(retain));
        // The summary adds up exactly what was let go.
        let gone = || full.transactions.iter().take(committed - committed.min(retain));
        prop_assert_eq!(summary.obtained_points, gone().map(|t| t.obtained).sum::<i64>());
        prop_assert_eq!(summary.redeemed_points, gone().map(|t| t.redeemed).sum::<i64>());
        prop_assert_eq!(summary.total_cents, gone().map(|t| t.total).sum::<i64>());
        // Kept transactions still know their live availableObtainedPoints.
        for (kept, same) in small.transactions.iter().zip(full.transactions.iter().skip(committed - small.transactions.len())) {
            prop_assert_eq!(kept.id, same.id);
            prop_assert_eq!(
                domain::available_obtained_now(&small, kept, LATER),
                domain::available_obtained_now(&full, same, LATER)
            );
        }
        assert_nothing_negative(&small);
    }

    #[test]
    fn draft_and_final_agree(ops in prop::collection::vec(op(), 1..20)) {
        let mock = mock();
        for op in ops {
            let req = parse_tx_request(&body(&op)).unwrap();
            let mut state = mock.inner().lock();
            let draft = domain::execute(&mut state, 6, op.kind, &req, true, NOW);
            let final_ = domain::execute(&mut state, 6, op.kind, &req, false, NOW);
            match (draft, final_) {
                (Ok(d), Ok(f)) => {
                    prop_assert_eq!((d.redeemed, d.obtained, d.remaining, d.resulting, d.start, d.coupon_points),
                        (f.redeemed, f.obtained, f.remaining, f.resulting, f.start, f.coupon_points));
                    prop_assert_eq!(d.id, None);
                    prop_assert!(f.id.is_some());
                }
                (Err(d), Err(f)) => prop_assert_eq!(d, f),
                (d, f) => prop_assert!(false, "draft {:?} but final {:?}", d, f),
            }
        }
    }
}

#[test]
fn expired_lots_are_not_spent_and_oldest_points_go_first() {
    let mock = mock();
    let mut state = mock.inner().lock();
    // User 2 has 500 points valid until 2020-09-13 and 40 until the end of 2022. At NOW (2019)
    // both are valid; spending 520 takes the older lot first and leaves 20 of the newer one.
    let req =
        parse_tx_request(br#"{"UserData":"AAAAAAAAAAAAAA2","productGroup":"x","totalAmount":5.2,"userMode":"HASH"}"#)
            .unwrap();
    let rec = domain::execute(&mut state, 6, TxKind::Pos, &req, false, NOW).unwrap();
    assert_eq!(rec.redeemed, 520);
    let user = &state.users[&2];
    assert_eq!(
        user.lots.iter().map(|l| (l.points, l.valid_until)).collect::<Vec<_>>(),
        vec![(20, 1_672_527_600_000)]
    );
    // After the remaining lot's validity nothing is left to spend.
    assert_eq!(user.balance(1_672_527_600_000), 0);
}

/// One till's request for the router property: a kind whose outcome follows from the request
/// alone (every one succeeds, whatever the order the tills' requests interleave in).
#[derive(Debug, Clone)]
enum Call {
    /// `pos` for a user, paying `cents` and redeeming `redeem` (≤ cents; 0: as many as
    /// possible) of the user's points.
    Pos {
        user: usize,
        cents: i64,
        redeem: i64,
        draft: bool,
    },
    /// `cash`: `cents` paid in become points.
    Cash { user: usize, cents: i64, draft: bool },
    /// `specialPoints`: `points` granted.
    Special { user: usize, points: i64, draft: bool },
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        3 => (0..3usize, 0i64..8000, 0i64..8000, prop::bool::weighted(0.2)).prop_map(|(user, cents, redeem, draft)| Call::Pos {
            user,
            cents,
            redeem: redeem.min(cents),
            draft
        }),
        1 => (0..3usize, 1i64..5000, prop::bool::weighted(0.2)).prop_map(|(user, cents, draft)| Call::Cash { user, cents, draft }),
        1 => (0..3usize, 1i64..500, prop::bool::weighted(0.2)).prop_map(|(user, points, draft)| Call::Special { user, points, draft }),
    ]
}

/// Three users with more points than any run can redeem (4 tills × 25 calls × 80 EUR), at 2 %.
const RICH: &str = r#"
nextUserId = 10
[[companies]]
id = 6
companyName = "Test"
bonusPointMode = "percentage"
bonusPointPercentage = 0.02
couponEnvironment = "fully-digital"
[[credentials]]
login = "demo"
password = "demo"
company = 6
[[users]]
id = 1
uniqueUserHash = "AAAAAAAAAAAAAA1"
points = 1000000
pointsValidUntil = 1672527600000
[[users]]
id = 2
uniqueUserHash = "AAAAAAAAAAAAAA2"
points = 1000000
pointsValidUntil = 1672527600000
[[users]]
id = 3
uniqueUserHash = "AAAAAAAAAAAAAA3"
points = 1000000
pointsValidUntil = 1672527600000
"#;

const RICH_USERS: [&str; 3] = ["AAAAAAAAAAAAAA1", "AAAAAAAAAAAAAA2", "AAAAAAAAAAAAAA3"];

impl Call {
    /// The path and body the till sends.
    fn request(&self) -> (String, Value) {
        let (segment, draft, body) = match *self {
            Call::Pos {
                user,
                cents,
                redeem,
                draft,
            } => (
                "pos",
                draft,
                json!({"userMode": "HASH", "UserData": RICH_USERS[user], "productGroup": "Test",
                    "totalAmount": cents as f64 / 100.0, "enablePointRedemption": true, "redeemedPoints": redeem}),
            ),
            Call::Cash { user, cents, draft } => (
                "cash",
                draft,
                json!({"userMode": "HASH", "UserData": RICH_USERS[user], "productGroup": "Test", "totalAmount": cents as f64 / 100.0}),
            ),
            Call::Special { user, points, draft } => (
                "special",
                draft,
                json!({"userMode": "HASH", "UserData": RICH_USERS[user], "productGroup": "Test", "obtainedPoints": points}),
            ),
        };
        let segment = if segment == "special" { "specialPoints" } else { segment };
        let query = if draft { "?draft=true" } else { "" };
        (
            format!("/BonusPointManagement/BonusPointTransaction/{segment}{query}"),
            body,
        )
    }

    /// What the call changes on its user's account, from the request and the seed's rules: 2 %
    /// of the money paid (the amount less the redeemed points, 1 point = 1 cent), rounded half
    /// up, minus what is redeemed; cash one point per cent; drafts nothing.
    fn expected_change(&self) -> (usize, i64) {
        match *self {
            Call::Pos { user, draft: true, .. }
            | Call::Cash { user, draft: true, .. }
            | Call::Special { user, draft: true, .. } => (user, 0),
            Call::Pos {
                user, cents, redeem, ..
            } => {
                // `redeemedPoints` 0 means as many as possible (README, "Redeeming exactly what
                // the draft promised"): the whole amount, as every user has more points.
                let redeem = if redeem == 0 { cents } else { redeem };
                let paid = cents - redeem;
                // paid × 2 / 100, half up: (paid × 2 + 50) / 100 in integers.
                (user, (paid * 2 + 50) / 100 - redeem)
            }
            Call::Cash { user, cents, .. } => (user, cents),
            Call::Special { user, points, .. } => (user, points),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Tills call the mock's own router at the same time, as the HTTP server does (no lock taken
    /// here): every call succeeds, and each account changes by exactly what its calls asked for,
    /// computed from the requests. A handler that read and wrote under separate locks would lose
    /// updates here.
    #[test]
    fn concurrent_tills_through_the_router_change_each_account_by_what_they_asked(
        tills in prop::collection::vec(prop::collection::vec(call(), 1..25), 2..5)
    ) {
        use tower::ServiceExt;

        let mock = TyriosMock::new(Arc::new(Clock::frozen(NOW)));
        mock.load(&DataSet::from_files("rich", [("tyrios.toml", RICH)]).unwrap()).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_time().build().unwrap();
        let statuses: Vec<(u16, String)> = runtime.block_on(async {
            let tasks: Vec<_> = tills
                .iter()
                .cloned()
                .map(|calls| {
                    let router = mock.router();
                    tokio::spawn(async move {
                        let mut out = Vec::new();
                        for call in calls {
                            let (path, body) = call.request();
                            let request = axum::http::Request::post(path)
                                // demo:demo
                                .header("authorization", "Basic ZGVtbzpkZW1v")
                                .header("content-type", "application/json")
                                .body(axum::body::Body::from(body.to_string()))
                                .unwrap();
                            let response = router.clone().oneshot(request).await.unwrap();
                            let status = response.status().as_u16();
                            let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
                            out.push((status, String::from_utf8_lossy(&bytes).into_owned()));
                        }
                        out
                    })
                })
                .collect();
            let mut all = Vec::new();
            for task in tasks {
                let done = tokio::time::timeout(std::time::Duration::from_secs(60), task)
                    .await
                    .expect("a till finished within 60 s")
                    .unwrap();
                all.extend(done);
            }
            all
        });
        for (status, body) in &statuses {
            prop_assert_eq!(*status, 200, "{}", body);
        }
        let mut expected = [1_000_000_i64; 3];
        for call in tills.iter().flatten() {
            let (user, change) = call.expected_change();
            expected[user] += change;
        }
        let state = mock.inner().lock();
        let mut got = [0_i64; 3];
        for user in state.users.values() {
            if let Some(i) = RICH_USERS.iter().position(|h| *h == user.unique_user_hash) {
                got[i] = user.balance(NOW);
            }
        }
        prop_assert_eq!(got, expected);
        let finals = tills.iter().flatten().filter(|c| !matches!(c, Call::Pos { draft: true, .. } | Call::Cash { draft: true, .. } | Call::Special { draft: true, .. })).count();
        prop_assert_eq!(state.transactions.len(), finals, "drafts persist nothing");
        assert_nothing_negative(&state);
    }
}

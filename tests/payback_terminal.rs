//! PAYBACK redemption through the virtual ZVT terminal (Austria, seed 000; the terminal side is
//! our design) with the real binary: the reference ECR sends the basket over TCP, the scripted
//! customer types the PIN and picks the points at the terminal, which books them at the
//! in-process PAYBACK mock. Expected figures follow from the member's balance as the data set
//! loads it and the programme rules: 1 point = 1 cent, at most the basket and the balance.

use possim_terminal::ecr::{Ecr, EcrError, Outcome};
use serde_json::{Value, json};

use crate::util::Possim;

const MEMBER: &str = "9876543210";
/// The card type the terminal reads as PAYBACK (zvt.toml `[payback] cardType`, default 202).
const PAYBACK: u8 = possim_terminal::config::CardKind::Payback.card_type_id();

async fn start() -> Possim {
    Possim::start("", &["--clock", "2026-11-25T12:00:00Z"]).await
}

async fn ecr(p: &Possim) -> Ecr {
    let mut ecr = Ecr::connect(&p.zvt, 0).await.expect("terminal reachable");
    assert_eq!(ecr.register(0xBE).await.unwrap().outcome, Outcome::Completed);
    ecr
}

async fn script(p: &Possim, customer: Value) {
    let (status, body) = p.admin("POST", "/__admin/zvt/customer", Some(customer)).await;
    assert_eq!(status, 204, "{body}");
}

async fn fault(p: &Possim, rule: Value) {
    let (status, body) = p.admin("POST", "/__admin/faults", Some(json!([rule]))).await;
    assert!(status < 300, "{body}");
}

async fn member(p: &Possim) -> Value {
    let state = p.admin("GET", "/__admin/state/payback", None).await.1;
    state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customerNumber"] == MEMBER)
        .cloned()
        .expect("the member of the data set")
}

async fn balance(p: &Possim) -> u64 {
    member(p).await["balance"].as_u64().unwrap()
}

async fn redemptions(p: &Possim) -> Vec<Value> {
    let state = p.admin("GET", "/__admin/state/payback", None).await.1;
    state["redemptions"].as_array().unwrap().clone()
}

async fn stored(p: &Possim) -> Vec<Value> {
    let state = p.admin("GET", "/__admin/state/zvt", None).await.1;
    state["transactions"].as_array().unwrap().clone()
}

/// The member's balance as the default data set defines it: the sum of its point lots. The test
/// clock (2026-11-25) lies before the first lot's expiry (points earned from 1 October 2023 on
/// expire on 30 September 2027 at the earliest), so every lot counts.
fn data_set_balance() -> u64 {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/mocks/datasets/default/payback.toml");
    let data: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let member = data["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customerNumber"].as_str() == Some(MEMBER))
        .expect("the member in the data set");
    member["lots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lot| {
            let earned = lot["earnedAt"].as_str().unwrap();
            assert!(
                earned >= "2023-10-01",
                "lot {earned} may have expired by the test clock"
            );
            u64::try_from(lot["points"].as_integer().unwrap()).unwrap()
        })
        .sum()
}

/// What the customer's points are worth for this basket (programme rules), or `None` when below
/// the 200-point minimum.
fn redeemable(balance: u64, basket: u64) -> Option<u64> {
    Some(balance.min(basket)).filter(|p| *p >= 200)
}

#[tokio::test]
async fn the_terminal_redeems_for_the_basket_returns_the_euro_value_and_reverses_by_receipt() {
    let p = start().await;
    let before = balance(&p).await;
    let mut ecr = ecr(&p).await;

    let basket = 2500;
    let expected = redeemable(before, basket).expect("the data set's member can redeem");
    let t = ecr.payback_redeem(basket, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed, "{:?}", t.messages);
    assert_eq!((t.result_code, t.amount), (Some(0), Some(expected)));
    let bonus = t.bonus.expect("E1 bonus points in the Status-Information");
    assert_eq!(
        (bonus.points, bonus.remaining),
        (Some(expected), Some(before - expected))
    );
    // The balance was shown (04 FF 11) and the receipt names points and new balance.
    assert!(
        t.messages
            .iter()
            .any(|m| m.starts_with("04 FF") && m.contains("status: 11")),
        "{:?}",
        t.messages
    );
    let text = t.messages.join("\n");
    assert!(text.contains(&format!("Punkte eingeloest {expected}")), "{text}");
    assert!(
        text.contains(&format!("Neuer Punktestand {}", before - expected)),
        "{text}"
    );
    assert_eq!(balance(&p).await, before - expected);
    let booked = redemptions(&p).await;
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0]["points"], expected);
    let on_terminal = stored(&p).await;
    assert_eq!(on_terminal[0]["kind"], "payback-redemption");
    assert_eq!(on_terminal[0]["amount"], expected);

    // Reversal 06 30 by the receipt number gives every point back, once.
    let receipt = t.receipt.expect("a receipt number");
    let r = ecr.reverse(receipt).await.unwrap();
    assert_eq!(r.outcome, Outcome::Completed, "{:?}", r.messages);
    assert_eq!(balance(&p).await, before);
    assert_eq!(redemptions(&p).await[0]["reversedPoints"], expected);
    assert_eq!(stored(&p).await[0]["reversed"], true);
    let again = ecr.reverse(receipt).await.unwrap();
    assert_eq!(again.outcome, Outcome::Aborted { result_code: 0xB4 });
    assert_eq!(balance(&p).await, before);

    // A basket worth more than the balance takes every point; the rest is paid otherwise.
    let big = before + 1000;
    let t = ecr.payback_redeem(big, PAYBACK).await.unwrap();
    assert_eq!(t.amount, redeemable(before, big));
    assert_eq!(balance(&p).await, 0);
}

#[tokio::test]
async fn a_wrong_pin_is_asked_again_and_three_lock_the_pin_without_booking() {
    let p = start().await;
    let before = balance(&p).await;
    let mut ecr = ecr(&p).await;

    script(&p, json!({"pins": ["1111", "1234"], "redeemPoints": 300})).await;
    let t = ecr.payback_redeem(1000, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed, "{:?}", t.messages);
    // 04 FF 15 incorrect PIN (PA00P015 table 17), then the right one; the 300 points picked.
    assert!(
        t.messages
            .iter()
            .any(|m| m.starts_with("04 FF") && m.contains("status: 15"))
    );
    assert_eq!(t.amount, Some(300));
    assert_eq!(balance(&p).await, before - 300);
    assert_eq!(member(&p).await["pinLocked"], false);

    script(&p, json!({"wrongPins": 3})).await;
    let t = ecr.payback_redeem(1000, PAYBACK).await.unwrap();
    // 04 FF 18 PIN try limit exceeded, then 06 1E with host code 75.
    assert!(
        t.messages
            .iter()
            .any(|m| m.starts_with("04 FF") && m.contains("status: 18"))
    );
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 75 });
    assert_eq!(balance(&p).await, before - 300);
    assert_eq!(member(&p).await["pinLocked"], true);
    assert_eq!(redemptions(&p).await.len(), 1);
}

#[tokio::test]
async fn abort_time_out_and_an_unreachable_host_book_nothing() {
    let p = start().await;
    let before = balance(&p).await;
    let mut ecr = ecr(&p).await;

    script(&p, json!({"outcome": {"type": "customer-abort"}})).await;
    let t = ecr.payback_redeem(2500, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 0x6C });

    // PAYBACK accepts the PIN but cannot be reached for the booking: A3 (no connection).
    fault(
        &p,
        json!({"provider": "payback", "method": "POST", "path": "^/redemptions$", "times": 1, "action": {"type": "close"}}),
    )
    .await;
    let t = ecr.payback_redeem(2500, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 0xA3 });

    // The terminal's customer time-out: a data set with a short one, the customer walks away.
    let dir = std::env::temp_dir().join(format!("possim-payback-terminal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/mocks/datasets/default");
    std::fs::copy(format!("{default}/payback.toml"), dir.join("payback.toml")).unwrap();
    let zvt = std::fs::read_to_string(format!("{default}/zvt.toml")).unwrap();
    std::fs::write(
        dir.join("zvt.toml"),
        zvt.replace("customerTimeoutMs = 60000", "customerTimeoutMs = 300"),
    )
    .unwrap();
    let (status, body) = p
        .admin("POST", "/__admin/dataset", Some(json!({"path": dir.to_str().unwrap()})))
        .await;
    assert!(status < 300, "{body}");
    let mut ecr = self::ecr(&p).await;
    script(&p, json!({"outcome": {"type": "pin-timeout"}})).await;
    let t = ecr.payback_redeem(2500, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 0x6C });
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(balance(&p).await, before);
    assert!(redemptions(&p).await.is_empty());
    assert!(stored(&p).await.is_empty());
}

#[tokio::test]
async fn an_answer_lost_after_the_booking_is_reversed_by_the_terminal_or_the_till() {
    let p = start().await;
    let before = balance(&p).await;
    let basket = 2500;
    let expected = redeemable(before, basket).unwrap();

    // The link breaks instead of the Status-Information: never acknowledged, so the terminal
    // reverses the redemption at PAYBACK itself (automatic reversal).
    fault(
        &p,
        json!({"provider": "zvt", "method": "ZVT-PT", "path": "^04 0F$", "times": 1, "action": {"type": "close"}}),
    )
    .await;
    let mut first = ecr(&p).await;
    let lost = first.payback_redeem(basket, PAYBACK).await;
    assert!(matches!(lost, Err(EcrError::Closed)), "{lost:?}");
    assert!(first.last_status.is_none());
    assert_eq!(balance(&p).await, before);
    assert_eq!(redemptions(&p).await[0]["reversedPoints"], expected);
    assert!(stored(&p).await.is_empty());

    // The link breaks after the acknowledged Status-Information, instead of the completion: the
    // redemption stands at PAYBACK and on the terminal until the till reverses the receipt it saw.
    fault(
        &p,
        json!({"provider": "zvt", "method": "ZVT-PT", "path": "^06 0F$", "body": "^060F00$", "times": 1, "action": {"type": "close"}}),
    )
    .await;
    let mut second = ecr(&p).await;
    let lost = second.payback_redeem(basket, PAYBACK).await;
    assert!(matches!(lost, Err(EcrError::Closed)), "{lost:?}");
    let seen = second.last_status.clone().expect("the Status-Information arrived");
    assert_eq!((seen.result_code, seen.amount), (Some(0), Some(expected)));
    assert_eq!(balance(&p).await, before - expected);
    let receipt = seen.receipt.unwrap();
    let mut third = ecr(&p).await;
    assert_eq!(third.reverse(receipt).await.unwrap().outcome, Outcome::Completed);
    assert_eq!(balance(&p).await, before);
    let stored = stored(&p).await;
    assert_eq!((stored.len(), &stored[0]["reversed"]), (1, &json!(true)));
}

#[tokio::test]
async fn a_link_lost_at_the_remove_card_status_after_the_booking_gives_the_points_back() {
    let p = start().await;
    let before = data_set_balance();
    let basket = 2500;
    let expected = redeemable(before, basket).unwrap();

    // PAYBACK has booked when the terminal sends 04 FF 0B (remove card), which comes before the
    // Status-Information and commits nothing: the link breaks right there.
    fault(
        &p,
        json!({"provider": "zvt", "method": "ZVT-PT", "path": "^04 FF$", "body": "^04FF010B$", "times": 1, "action": {"type": "close"}}),
    )
    .await;
    let mut ecr = ecr(&p).await;
    let lost = ecr.payback_redeem(basket, PAYBACK).await;
    assert!(matches!(lost, Err(EcrError::Closed)), "{lost:?}");
    assert!(ecr.last_status.is_none());
    assert_eq!(balance(&p).await, before);
    let booked = redemptions(&p).await;
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0]["reversedPoints"], expected);
    assert!(stored(&p).await.is_empty());
}

#[tokio::test]
async fn payback_fault_rules_mean_for_the_terminal_what_they_mean_over_http() {
    let p = start().await;
    let before = data_set_balance();
    let basket = 2500;
    let expected = redeemable(before, basket).unwrap();
    let mut ecr = ecr(&p).await;

    // Served, the answer lost on the way back: booked at PAYBACK. The terminal asks again with
    // the same transaction id (a replay, nothing booked twice), reverses it and aborts with A3.
    for (n, action) in ["truncate", "malform"].into_iter().enumerate() {
        fault(
            &p,
            json!({"provider": "payback", "method": "POST", "path": "^/redemptions$", "times": 1, "action": {"type": action}}),
        )
        .await;
        let t = ecr.payback_redeem(basket, PAYBACK).await.unwrap();
        assert_eq!(t.outcome, Outcome::Aborted { result_code: 0xA3 }, "{action}");
        assert_eq!(balance(&p).await, before, "{action}");
        let booked = redemptions(&p).await;
        assert_eq!(
            booked.len(),
            n + 1,
            "{action}: one booking per attempt, the repeat replayed"
        );
        assert!(booked.iter().all(|r| r["reversedPoints"] == expected), "{booked:?}");
    }

    // A fixed answer with an error code is that refusal: 51 for INSUFFICIENT_POINTS.
    fault(
        &p,
        json!({"provider": "payback", "method": "POST", "path": "^/redemptions$", "times": 1,
            "action": {"type": "respond", "status": 422, "body": {"code": "INSUFFICIENT_POINTS", "message": "not enough"}}}),
    )
    .await;
    let t = ecr.payback_redeem(basket, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 51 });
    assert_eq!(balance(&p).await, before);
    assert_eq!(redemptions(&p).await.len(), 2);

    // Another till spends 1000 points between the PIN and the booking: the change is applied,
    // then the terminal's booking is served — for every point shown, now more than the balance.
    fault(
        &p,
        json!({"provider": "payback", "method": "POST", "path": "^/redemptions$", "times": 1,
            "action": {"type": "competingChange", "change": {"type": "redemption", "body": {
                "transactionId": "OTHER-TILL", "cardNumber": MEMBER, "pin": "1234", "points": 1000,
                "basketTotalCents": 1000, "receiptNumber": "X"}}}}),
    )
    .await;
    let t = ecr.payback_redeem(before, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 51 });
    assert_eq!(balance(&p).await, before - 1000);
    assert!(stored(&p).await.is_empty());
}

#[tokio::test]
async fn a_lost_reversal_answer_is_asked_again_and_the_receipt_reversed() {
    let p = start().await;
    let before = data_set_balance();
    let mut ecr = ecr(&p).await;
    let t = ecr.payback_redeem(2500, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed, "{:?}", t.messages);

    // PAYBACK reverses, the answer is lost: the repeat with the same transaction id replays it.
    fault(
        &p,
        json!({"provider": "payback", "method": "POST", "path": "^/redemptions/.+/reversal$", "times": 1, "action": {"type": "truncate"}}),
    )
    .await;
    let r = ecr.reverse(t.receipt.unwrap()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Completed, "{:?}", r.messages);
    assert_eq!(balance(&p).await, before);
    assert_eq!(stored(&p).await[0]["reversed"], true);
}

/// Each PAYBACK refusal reaches the ECR as the result code `virtual-terminal/README.md`
/// documents ("PAYBACK redemption": below the minimum C8, more than the basket C3, more than the
/// balance 51, card unknown 7A, card blocked 6E, anything else 05), each from a real refusal of
/// the PAYBACK mock: the members and cards of the default data set, the terminal given one more
/// PAYBACK card per case (numbers: prefix + customer number + Luhn digit, computed by hand).
#[tokio::test]
async fn every_payback_refusal_ends_the_redemption_with_its_documented_result_code() {
    let p = start().await;
    let dir = std::env::temp_dir().join(format!("possim-payback-codes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/mocks/datasets/default");
    std::fs::copy(format!("{default}/payback.toml"), dir.join("payback.toml")).unwrap();
    let mut zvt = std::fs::read_to_string(format!("{default}/zvt.toml")).unwrap();
    for (name, pan, pin) in [
        // Erika Musterfrau, unregistered: may not redeem.
        ("erika", "9999912345678908", "4321"),
        // Her second card, blocked.
        ("erika-second", "9999812345678900", "4321"),
        // A well-formed card number no member has.
        ("nobody", "9999900000000013", "1234"),
        // Max's main card with a wrong check digit (…08 is right).
        ("max-typo", "9999998765432109", "1234"),
    ] {
        zvt.push_str(&format!(
            "\n[[cards]]\nname = \"{name}\"\nkind = \"payback\"\npan = \"{pan}\"\nexpiry = \"3012\"\npin = \"{pin}\"\n"
        ));
    }
    std::fs::write(dir.join("zvt.toml"), zvt).unwrap();
    let (status, body) = p
        .admin("POST", "/__admin/dataset", Some(json!({"path": dir.to_str().unwrap()})))
        .await;
    assert!(status < 300, "{body}");
    let before = data_set_balance();
    let mut ecr = ecr(&p).await;

    let basket = 2500;
    for (customer, expected, why) in [
        (json!({"redeemPoints": 100}), 0xC8, "below the 200-point minimum"),
        (
            json!({"redeemPoints": basket + 100}),
            0xC3,
            "worth more than the basket",
        ),
        (json!({"redeemPoints": before + 100}), 51, "more than the balance"),
        (json!({"card": "nobody"}), 0x7A, "no member has the card"),
        (json!({"card": "max-typo"}), 0x7A, "wrong check digit"),
        (json!({"card": "erika-second"}), 0x6E, "a blocked card"),
        (json!({"card": "erika", "redeemPoints": 300}), 0x05, "not registered"),
    ] {
        script(&p, customer).await;
        let t = ecr.payback_redeem(basket, PAYBACK).await.unwrap();
        assert_eq!(t.outcome, Outcome::Aborted { result_code: expected }, "{why}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(balance(&p).await, before, "nothing booked");
    assert!(redemptions(&p).await.is_empty());
    assert!(stored(&p).await.is_empty());
}

/// Refund 06 31 with E1 C1 "MW" (PA00P015 §9.4.3.1, credit bonus points) and C2 = the points
/// (8 bytes BCD): the terminal credits them at the PAYBACK mock against the redemption it
/// booked (a partial redemption reversal, [ours]); Reversal 06 30 of that redemption later gives
/// back only what is left.
#[tokio::test]
async fn a_refund_crediting_points_gives_part_of_the_redemption_back_at_payback() {
    let p = start().await;
    let before = balance(&p).await;
    let mut ecr = ecr(&p).await;
    let basket = 2500;
    let redeemed = redeemable(before, basket).expect("the data set's member can redeem");
    let t = ecr.payback_redeem(basket, PAYBACK).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed, "{:?}", t.messages);
    let credit = 500;
    assert!(credit < redeemed);

    let tag = |v: u32| possim_zvt::Tag::new(v).unwrap();
    let refund = possim_zvt::Message::Refund(possim_zvt::messages::Refund {
        password: possim_zvt::messages::Password(0),
        tlv: Some(possim_zvt::TlvContainer::new(vec![possim_zvt::Tlv::constructed(
            tag(0xE1),
            vec![
                possim_zvt::Tlv::primitive(tag(0xC1), b"MW".to_vec()),
                possim_zvt::Tlv::primitive(tag(0xC2), vec![0, 0, 0, 0, 0, 0, 0x05, 0x00]),
            ],
        )])),
        ..possim_zvt::messages::Refund::default()
    });
    let r = ecr.run(&refund).await.unwrap();
    assert_eq!(r.outcome, Outcome::Completed, "{:?}", r.messages);
    assert_eq!((r.result_code, r.amount), (Some(0), Some(credit)));
    let bonus = r.bonus.expect("E1 bonus points in the Status-Information");
    let after = before - redeemed + credit;
    assert_eq!((bonus.points, bonus.remaining), (Some(credit), Some(after)));
    assert!(
        r.messages
            .join("\n")
            .contains(&format!("Punkte gutgeschrieben {credit}")),
        "{:?}",
        r.messages
    );
    assert_eq!(balance(&p).await, after);
    assert_eq!(redemptions(&p).await[0]["reversedPoints"], credit);

    // The redemption's own reversal gives back the rest only.
    let receipt = t.receipt.expect("a receipt number");
    let back = ecr.reverse(receipt).await.unwrap();
    assert_eq!(back.outcome, Outcome::Completed, "{:?}", back.messages);
    assert_eq!(balance(&p).await, before);
    assert_eq!(redemptions(&p).await[0]["reversedPoints"], redeemed);
}

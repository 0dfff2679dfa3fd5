//! The virtual ZVT terminal over TCP with the real binary: a PIN payment, a decline, an abort
//! during PIN entry, wrong PINs, a lost acknowledgement (automatic reversal), reversal and
//! End-of-Day, fragmented and coalesced APDUs. Expected bytes come from PA00P015 (cited inline).

use std::time::Duration;

use possim_terminal::ecr::{Ecr, Outcome};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::Possim;

/// Intermediate status 04 FF 01, "PIN entry" (PA00P015 table 17): the customer is at the PIN pad.
const PIN_ENTRY: u8 = 0x01;

async fn ecr(p: &Possim) -> Ecr {
    let mut ecr = Ecr::connect(&p.zvt, 0).await.expect("terminal reachable");
    // BE: receipts via ECR as print lines (80|02|04), intermediate status (08), ECR controls (10|20).
    let t = ecr.register(0xBE).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    ecr
}

async fn script(p: &Possim, customer: Value) {
    let (status, body) = p.admin("POST", "/__admin/zvt/customer", Some(customer)).await;
    assert_eq!(status, 204, "{body}");
}

/// The amounts of the terminal's stored transactions, in order.
async fn stored_amounts(p: &Possim) -> Vec<Value> {
    state(p).await["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].clone())
        .collect()
}

async fn state(p: &Possim) -> Value {
    p.admin("GET", "/__admin/state/zvt", None).await.1
}

#[tokio::test]
async fn a_pin_payment_is_stored_when_the_ecr_acknowledges_the_status_information() {
    let p = Possim::start("", &[]).await;
    let mut ecr = ecr(&p).await;
    let t = ecr.pay(1250).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    assert_eq!((t.result_code, t.amount, t.receipt), (Some(0), Some(1250), Some(1)));
    // With config bit 08 the PT reports: insert card (0A), PIN entry (01), waiting for the host
    // (04), remove card (0B) — PA00P015 table 17.
    let statuses: Vec<&String> = t.messages.iter().filter(|m| m.starts_with("04 FF")).collect();
    assert_eq!(statuses.len(), 4, "{:?}", t.messages);
    for (m, code) in statuses.iter().zip(["0A", "01", "04", "0B"]) {
        assert!(m.contains(&format!("status: {code}")), "{m}");
    }
    // Merchant and customer receipt as 06 D1 lines (config bit 80 with 02), then 06 0F.
    assert!(t.messages.iter().filter(|m| m.starts_with("06 D1")).count() >= 2);
    assert!(t.messages.last().unwrap().starts_with("06 0F"));
    let s = state(&p).await;
    assert_eq!(s["transactions"][0]["amount"], 1250);
    assert_eq!(s["transactions"][0]["receipt"], 1);
    assert_eq!(s["total"], 1250);
}

#[tokio::test]
async fn declines_aborts_and_wrong_pins() {
    let p = Possim::start("", &[]).await;
    let mut ecr = ecr(&p).await;
    script(&p, json!({"outcome": {"type": "decline", "code": 5}})).await;
    let t = ecr.pay(2000).await.unwrap();
    // Host code 05 in the 04 0F and in 06 1E: a failure, never a payment.
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 5 });
    assert_eq!(t.result_code, Some(5));

    // Two wrong PINs, then the right one: 04 FF 15 (incorrect PIN) twice, then approved.
    script(&p, json!({"wrongPins": 2})).await;
    let t = ecr.pay(300).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    assert_eq!(t.messages.iter().filter(|m| m.contains("status: 15")).count(), 2);

    // Three wrong PINs: the try limit (04 FF 18) and host code 75.
    script(&p, json!({"wrongPins": 3})).await;
    let t = ecr.pay(300).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 75 });
    assert!(t.messages.iter().any(|m| m.contains("status: 18")));

    // A card over its limit is declined with 51 (insufficient funds).
    script(&p, json!({"card": "visa-low-limit"})).await;
    let t = ecr.pay(5001).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 51 });

    // The customer walks away from the PIN pad; the ECR aborts with 06 B0 → 06 1E 6C.
    script(&p, json!({"outcome": {"type": "pin-timeout"}})).await;
    let t = ecr.pay_then_abort_at_status(1000, PIN_ENTRY).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 0x6C });

    // A Status Enquiry on the same link is processed after the acknowledgement of that 06 1E,
    // so the terminal is idle again when it answers.
    assert_eq!(ecr.status().await.unwrap().outcome, Outcome::Completed);
    // Only the approved payment is stored.
    let s = state(&p).await;
    let amounts: Vec<i64> = s["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .collect();
    // (No `busy` check here: the ECR's acknowledgement of the last 06 0F may still be in flight
    // on the TCP link while this HTTP request is answered; the answered Status Enquiry above is
    // the proof that the abort left the terminal idle.)
    assert_eq!(amounts, [300]);
}

#[tokio::test]
async fn a_missing_acknowledgement_reverses_the_payment() {
    let p = Possim::start("", &[]).await;
    // No registration first: a second connection's command could overtake the first
    // connection's final acknowledgement and be refused as "busy", as on a real terminal.
    let mut raw = TcpStream::connect(&p.zvt).await.unwrap();
    // 06 01 0A 04 <12.50> 49 09 78: Authorisation of 12.50 EUR (PA00P015 §2.2).
    raw.write_all(&[0x06, 0x01, 0x0A, 0x04, 0, 0, 0, 0, 0x12, 0x50, 0x49, 0x09, 0x78])
        .await
        .unwrap();
    // Acknowledge every command of the terminal (one 80 00 00 per APDU, however TCP groups
    // them) until the Status-Information 04 0F arrives, then vanish without acknowledging it.
    let mut stream = possim_zvt::ApduStream::new();
    let mut buf = [0u8; 1024];
    'link: loop {
        let n = raw.read(&mut buf).await.unwrap();
        assert!(n > 0, "terminal closed early");
        stream.push(&buf[..n]);
        while let Some(apdu) = stream.next_apdu() {
            let apdu = apdu.unwrap();
            match (apdu.class(), apdu.instr()) {
                (0x04, 0x0F) => break 'link,
                (0x80, _) | (0x84, _) => {}
                _ => raw.write_all(&[0x80, 0x00, 0x00]).await.unwrap(),
            }
        }
    }
    drop(raw);
    // The journal says why, and nothing was stored. The terminal notices the closed link on its
    // own schedule: wait for the note (bounded), not for a fixed time.
    let mut note = String::new();
    for _ in 0..500 {
        let (_, j) = p.admin("GET", "/__admin/journal?provider=zvt", None).await;
        if let Some(n) =
            j["entries"].as_array().unwrap().iter().find(|e| {
                e["direction"] == "note" && e["text"].as_str().unwrap_or("").starts_with("automatic reversal")
            })
        {
            note = n["text"].as_str().unwrap().to_owned();
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(note.contains("before acknowledging the status information"), "{note}");
    assert_eq!(state(&p).await["transactions"], json!([]));
}

#[tokio::test]
async fn reversal_and_end_of_day_totals() {
    let p = Possim::start("", &[]).await;
    let mut ecr = ecr(&p).await;
    assert_eq!(ecr.pay(1000).await.unwrap().receipt, Some(1));
    script(&p, json!({"card": "visa"})).await;
    assert_eq!(ecr.pay(2550).await.unwrap().receipt, Some(2));
    let t = ecr.reverse(1).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    // Reversing twice: B4 "already reversed" (PA00P015 chapter 10).
    assert_eq!(
        ecr.reverse(1).await.unwrap().outcome,
        Outcome::Aborted { result_code: 0xB4 }
    );
    assert_eq!(
        ecr.reverse(77).await.unwrap().outcome,
        Outcome::Aborted { result_code: 0xB5 }
    );
    let t = ecr.end_of_day().await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    // Total: only the VISA payment is left, 25.50 EUR.
    assert_eq!(t.amount, Some(2550));
    let eod = t.messages.iter().find(|m| m.starts_with("04 0F")).unwrap();
    assert!(eod.contains("BMP 60"), "{eod}");
    assert_eq!(state(&p).await["transactions"], json!([]));
    // Status enquiry answers with the software version and "ready".
    let t = ecr.status().await.unwrap();
    assert!(t.messages.last().unwrap().contains("terminal status: 00"));
}

#[tokio::test]
async fn fragmented_and_coalesced_apdus_and_unknown_commands() {
    let p = Possim::start("", &[]).await;
    let mut raw = TcpStream::connect(&p.zvt).await.unwrap();
    raw.set_nodelay(true).unwrap();
    // Status Enquiry 05 01 03 00 00 00, sent one byte at a time.
    for b in [0x05u8, 0x01, 0x03, 0x00, 0x00, 0x00] {
        raw.write_all(&[b]).await.unwrap();
        raw.flush().await.unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(2).any(|w| w == [0x06, 0x0F]) {
        let n = raw.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&got[..3], &[0x80, 0x00, 0x00]);
    // The acknowledgement of the completion and an unknown command (06 99) in one segment: the
    // unknown command gets 84 83 00 (PA00P015 §13: command not supported).
    raw.write_all(&[0x80, 0x00, 0x00, 0x06, 0x99, 0x00]).await.unwrap();
    let n = raw.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], &[0x84, 0x83, 0x00]);
}

async fn arm(p: &Possim, rule: Value) {
    let (status, body) = p.admin("POST", "/__admin/faults", Some(rule)).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn link_faults_close_mid_transaction_and_send_an_extra_status() {
    let p = Possim::start("", &[]).await;
    let mut ecr = ecr(&p).await;
    // The ECR acknowledges the first intermediate status of the payment; the terminal closes
    // the connection instead of going on. No payment may be stored.
    arm(&p, json!({"name": "cable pulled", "provider": "zvt", "method": "ZVT", "path": "^80 00$", "times": 1, "action": {"type": "close"}})).await;
    let err = ecr.pay(990).await.unwrap_err();
    assert!(matches!(err, possim_terminal::ecr::EcrError::Closed), "{err}");
    assert_eq!(state(&p).await["transactions"], json!([]));
    let (_, j) = p.admin("GET", "/__admin/journal?provider=zvt", None).await;
    assert!(
        j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["text"].as_str().unwrap_or("").contains("cable pulled")),
        "{j}"
    );

    // An unexpected extra status (04 FF 0A, "insert card") in the middle of the next payment:
    // a correct ECR acknowledges it and the payment still completes and is stored once.
    let mut ecr = ecr_again(&p).await;
    arm(
        &p,
        json!({"name": "extra status", "provider": "zvt", "method": "ZVT", "path": "^80 00$", "nth": 2, "times": 1,
               "action": {"type": "respond", "status": 200, "body": "04 FF 01 0A"}}),
    )
    .await;
    let t = ecr.pay(1990).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    assert_eq!(
        t.messages.iter().filter(|m| m.contains("status: 0A")).count(),
        2,
        "{:?}",
        t.messages
    );
    let amounts = stored_amounts(&p).await;
    assert_eq!(amounts, [json!(1990)]);
}

/// A fresh connection (the previous one was closed by a fault).
async fn ecr_again(p: &Possim) -> Ecr {
    Ecr::connect(&p.zvt, 0).await.expect("terminal reachable")
}

/// 06 01 with amount 5.00 and a PAN (BMP 22) whose LLVAR length is `00 02` instead of `F0 F2`,
/// as the crates.io `zvt` 0.1.0 serializer writes it (our notes, shared/specs/zvt.md).
/// Data: 04 + 6 amount bytes, 22 + 2 length bytes + 2 PAN bytes = 12 (0x0C).
const PAN_WITHOUT_F_NIBBLES: [u8; 15] = [
    0x06, 0x01, 0x0C, 0x04, 0, 0, 0, 0, 0x05, 0x00, 0x22, 0x00, 0x02, 0x12, 0x34,
];

async fn first_answer(p: &Possim, apdu: &[u8]) -> Vec<u8> {
    let mut raw = TcpStream::connect(&p.zvt).await.unwrap();
    raw.write_all(apdu).await.unwrap();
    let mut buf = [0u8; 3];
    tokio::time::timeout(Duration::from_secs(10), raw.read_exact(&mut buf))
        .await
        .expect("the terminal answers")
        .unwrap();
    buf.to_vec()
}

async fn findings(p: &Possim) -> Vec<String> {
    let (_, j) = p.admin("GET", "/__admin/journal?provider=zvt", None).await;
    j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["text"].as_str())
        .filter(|t| t.starts_with("finding"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn lenient_accepts_a_known_deviation_and_strict_refuses_it_both_with_a_finding() {
    let apdu = &PAN_WITHOUT_F_NIBBLES;
    let p = Possim::start("", &[]).await;
    assert_eq!(first_answer(&p, apdu).await, [0x80, 0x00, 0x00]);
    let found = findings(&p).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("lenient") && found[0].contains("BMP 22"), "{found:?}");

    let dir = std::env::temp_dir().join(format!("possim-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let default =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/mocks/datasets/default/zvt.toml")).unwrap();
    std::fs::write(dir.join("zvt.toml"), format!("mode = \"strict\"\n{default}")).unwrap();
    let p = Possim::start(dir.to_str().unwrap(), &[]).await;
    // 84 9A 00: protocol error (PA00P015 chapter 10), nothing started.
    assert_eq!(first_answer(&p, apdu).await, [0x84, 0x9A, 0x00]);
    let found = findings(&p).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("strict"), "{found:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn an_ecr_that_permits_06_d3_gets_its_receipts_as_text_blocks() {
    let p = Possim::start("", &[]).await;
    let mut ecr = Ecr::connect(&p.zvt, 0).await.unwrap();
    // TLV 26 (permitted commands) with 0A 02 06 D3, as in PA00P015 §5.1's registration example;
    // config 8E: receipts via print commands (80|02|04), intermediate status (08).
    let tlv = possim_zvt::TlvContainer::decode(&[0x26, 0x04, 0x0A, 0x02, 0x06, 0xD3]).unwrap();
    assert_eq!(
        ecr.register_with(0x8E, Some(tlv)).await.unwrap().outcome,
        Outcome::Completed
    );
    let t = ecr.pay(1250).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    let blocks: Vec<&String> = t.messages.iter().filter(|m| m.starts_with("06 D3")).collect();
    // One block per copy (merchant, customer), and no print lines.
    assert_eq!(blocks.len(), 2, "{:?}", t.messages);
    assert!(!t.messages.iter().any(|m| m.starts_with("06 D1")));
    assert!(
        blocks[0].contains("Haendlerbeleg") && blocks[1].contains("Kundenbeleg"),
        "{blocks:?}"
    );
}

/// TLV 1F1F holding `receipt` as a big-endian binary number (empty: the ECR knows none).
fn sync_tlv(receipt: Option<u16>) -> Option<possim_zvt::TlvContainer> {
    let mut bytes = vec![0x1F, 0x1F];
    match receipt {
        Some(r) => bytes.extend([0x02, (r >> 8) as u8, r as u8]),
        None => bytes.push(0x00),
    }
    Some(possim_zvt::TlvContainer::decode(&bytes).unwrap())
}

#[tokio::test]
async fn tlv_1f1f_resynchronises_an_ecr_that_lost_a_result() {
    let p = Possim::start("", &[]).await;
    let mut ecr = ecr(&p).await;
    // A new installation: 1F1F empty (PA00P015 §4.2: never "0"); the answer mirrors receipt 1.
    let t = ecr.pay_with(1000, sync_tlv(None)).await.unwrap();
    assert_eq!(t.receipt, Some(1));
    assert!(
        t.messages.iter().any(|m| m.starts_with("04 0F") && m.contains("1F1F")),
        "{:?}",
        t.messages
    );
    // Receipt 2 completes at the terminal, but the ECR (say it crashed) never learns it.
    assert_eq!(ecr.pay(2000).await.unwrap().receipt, Some(2));
    // Its next payment mirrors receipt 1 = last - 1: the terminal reverses receipt 2 implicitly
    // and reuses its number for the new payment.
    let t = ecr.pay_with(500, sync_tlv(Some(1))).await.unwrap();
    assert_eq!((t.outcome.clone(), t.receipt), (Outcome::Completed, Some(2)));
    let amounts = stored_amounts(&p).await;
    assert_eq!(amounts, [json!(1000), json!(500)]);
    // In sync (2 = last): nothing is reversed; an unknown number (77) is ignored.
    assert_eq!(ecr.pay_with(700, sync_tlv(Some(2))).await.unwrap().receipt, Some(3));
    assert_eq!(ecr.pay_with(800, sync_tlv(Some(77))).await.unwrap().receipt, Some(4));
    let amounts = stored_amounts(&p).await;
    assert_eq!(amounts, [json!(1000), json!(500), json!(700), json!(800)]);
    let (_, j) = p.admin("GET", "/__admin/journal?provider=zvt", None).await;
    let notes: Vec<&str> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["text"].as_str())
        .filter(|t| t.starts_with("1F1F"))
        .collect();
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert!(
        notes[1].contains("reversed implicitly") && notes[2].contains("in sync") && notes[3].contains("ignored"),
        "{notes:?}"
    );
}

/// The result of a spawned ECR command, bounded: a terminal that never ends the transaction
/// fails the test with `what` instead of hanging it (the ECR's own T4 is three minutes).
async fn finished<T>(task: tokio::task::JoinHandle<T>, what: &str) -> T {
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within 30 s"))
        .expect("the ECR task panicked")
}

/// Sends an operator action, retrying while the terminal is not yet waiting for the customer
/// (409) — bounded, so a terminal that never waits fails the test instead of hanging it.
async fn operator(p: &Possim, action: Value) {
    for _ in 0..500 {
        let (status, body) = p.admin("POST", "/__admin/zvt/operator", Some(action.clone())).await;
        match status {
            204 => return,
            409 => tokio::time::sleep(Duration::from_millis(10)).await,
            other => panic!("{other}: {body}"),
        }
    }
    panic!("the terminal never waited for the customer ({action})");
}

#[tokio::test]
async fn an_operator_inserts_the_card_and_types_the_pin() {
    let p = Possim::start("", &[]).await;
    let (status, _) = p.admin("PUT", "/__admin/zvt/operator", Some(json!({"on": true}))).await;
    assert_eq!(status, 200);
    let mut ecr = ecr(&p).await;
    let paying = tokio::spawn(async move {
        let t = ecr.pay(3300).await;
        (ecr, t)
    });
    operator(&p, json!({"insert": "visa"})).await;
    operator(&p, json!({"pin": "9999"})).await;
    operator(&p, json!({"pin": "0000"})).await;
    let (mut ecr, t) = finished(paying, "the operator's payment").await;
    let t = t.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    assert_eq!(
        t.messages.iter().filter(|m| m.contains("status: 15")).count(),
        1,
        "{:?}",
        t.messages
    );
    let s = state(&p).await;
    assert_eq!(
        (
            s["transactions"][0]["amount"].clone(),
            s["transactions"][0]["card"].clone()
        ),
        (json!(3300), json!("visa"))
    );

    // The next customer inserts a card and presses abort: 06 1E 6C, nothing stored.
    let paying = tokio::spawn(async move { ecr.pay(1200).await });
    operator(&p, json!({"insert": "girocard"})).await;
    operator(&p, json!("abort")).await;
    assert_eq!(
        finished(paying, "the aborted payment").await.unwrap().outcome,
        Outcome::Aborted { result_code: 0x6C }
    );
    assert_eq!(state(&p).await["transactions"].as_array().unwrap().len(), 1);
    // Nothing waits now: an action is refused with the reason.
    let (status, body) = p
        .admin("POST", "/__admin/zvt/operator", Some(json!({"pin": "1234"})))
        .await;
    assert_eq!(status, 409);
    assert!(body["error"].as_str().unwrap().contains("no transaction"), "{body}");
}

#[tokio::test]
async fn an_abort_from_a_second_connection_ends_the_waiting_payment() {
    let p = Possim::start("", &[]).await;
    script(&p, json!({"outcome": {"type": "no-card"}})).await;
    let mut till = ecr(&p).await;
    let paying = tokio::spawn(async move { till.pay(5000).await });
    // The second ECR (say `possim zvt abort` in another shell) may come before the payment
    // waits: an idle terminal acknowledges an abort with nothing to end, and one still finishing
    // the registration refuses it (84 83). Retry until the payment is the one that ended
    // (bounded).
    let mut other = Ecr::connect(&p.zvt, 0).await.unwrap();
    for _ in 0..500 {
        let outcome = other.abort().await.unwrap().outcome;
        assert!(
            matches!(outcome, Outcome::Completed | Outcome::Refused { code: 0x83 }),
            "{outcome:?}"
        );
        if paying.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = finished(paying, "the aborted payment").await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 0x6C });
    assert_eq!(state(&p).await["transactions"], json!([]));
}

#[tokio::test]
async fn reprint_receipts_sends_the_copies_of_a_receipt_range() {
    let p = Possim::start("", &[]).await;
    let mut ecr = ecr(&p).await;
    for cents in [1000, 2000, 3000] {
        assert_eq!(ecr.pay(cents).await.unwrap().outcome, Outcome::Completed);
    }
    // 06 12 <000000> <0001> <0002> (PA00P015 §2.19): receipts 1 and 2, merchant and customer
    // copy each, as print lines (config BE), then 06 0F.
    let t = ecr.reprint(1, 2).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    let titles: Vec<&String> = t
        .messages
        .iter()
        .filter(|m| m.contains("Kartenzahlung (Kopie)"))
        .collect();
    assert_eq!(titles.len(), 4, "{:?}", t.messages);
    assert!(t.messages.iter().any(|m| m.contains("Betrag EUR 20.00")));
    assert!(!t.messages.iter().any(|m| m.contains("Betrag EUR 30.00")));
}

/// ZVT journal entries carry the direction as before and the control field on its own: the
/// runner matches commands by it without slicing the hex.
#[tokio::test]
async fn journal_entries_carry_the_control_field() {
    let p = Possim::start("", &[]).await;
    let _ecr = ecr(&p).await;
    let (_, j) = p.admin("GET", "/__admin/journal?provider=zvt", None).await;
    let entries = j["entries"].as_array().unwrap();
    // Registration (06 00, PA00P015 §2.1) from the ECR, acknowledged by the terminal with 80 00.
    let registration = entries
        .iter()
        .find(|e| e["direction"] == "ecr-to-pt")
        .expect("the registration is journalled");
    assert_eq!(registration["control"], "06 00");
    assert!(registration["hex"].as_str().unwrap().starts_with("06 00"));
    let answer = entries
        .iter()
        .find(|e| e["direction"] == "pt-to-ecr")
        .expect("the terminal's answer is journalled");
    assert_eq!(answer["control"], "80 00");
    for note in entries.iter().filter(|e| e["direction"] == "note") {
        assert!(note.get("control").is_none(), "{note}");
    }
}

//! The virtual ZVT terminal over its pseudo-terminal, as an ECR on a COM port sees it: every APDU
//! in DLE STX … DLE ETX frames with CRC-16/KERMIT, each frame acknowledged with ACK 06, a broken
//! frame answered with NAK 15 (PA00P016 §3). The flows of the TCP tests run here with the serial
//! framing: a PIN payment of 10.00 € (whose BCD amount contains the DLE byte 0x10), a decline,
//! an abort during PIN entry and an End-of-Day.

use std::time::Duration;

use possim_terminal::ecr::{Ecr, Outcome};
use possim_terminal::link::{LinkTimers, SerialQuirks};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::Possim;

/// Intermediate status 04 FF 01, "PIN entry" (PA00P015 table 17): the customer is at the PIN pad.
const PIN_ENTRY: u8 = 0x01;

fn serial_path(p: &Possim) -> &str {
    p.zvt_serial.as_deref().expect("possim serve printed zvt-serial")
}

async fn script(p: &Possim, customer: Value) {
    let (status, body) = p.admin("POST", "/__admin/zvt/customer", Some(customer)).await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test]
async fn payment_decline_abort_and_end_of_day_over_the_serial_line() {
    let p = Possim::start("", &[]).await;
    let mut ecr = Ecr::open_serial(serial_path(&p), 0, LinkTimers::default(), SerialQuirks::default()).unwrap();
    assert_eq!(ecr.register(0xBE).await.unwrap().outcome, Outcome::Completed);

    // 10.00 EUR: the amount BMP 04 is 00 00 00 00 10 00, so the frame must double the 0x10.
    let t = ecr.pay(1000).await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    assert_eq!((t.result_code, t.amount, t.receipt), (Some(0), Some(1000), Some(1)));

    script(&p, json!({"outcome": {"type": "decline", "code": 5}})).await;
    assert_eq!(
        ecr.pay(2000).await.unwrap().outcome,
        Outcome::Aborted { result_code: 5 }
    );

    script(&p, json!({"outcome": {"type": "pin-timeout"}})).await;
    let t = ecr.pay_then_abort_at_status(700, PIN_ENTRY).await.unwrap();
    assert_eq!(t.outcome, Outcome::Aborted { result_code: 0x6C });

    let t = ecr.end_of_day().await.unwrap();
    assert_eq!(t.outcome, Outcome::Completed);
    assert_eq!(t.amount, Some(1000), "only the approved payment is in the total");

    // The journal records the traffic as serial.
    let (_, j) = p.admin("GET", "/__admin/journal?provider=zvt", None).await;
    let entries = j["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["link"] == "serial"), "{entries:?}");
}

/// The terminal's journal notes (link events, faults, decisions), oldest first.
async fn terminal_notes(p: &Possim) -> Vec<String> {
    let (_, j) = p.admin("GET", "/__admin/journal?provider=zvt", None).await;
    j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["direction"] == "note")
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect()
}

/// Reads until `n` bytes arrived (bounded: a hang is a failure, not a wait).
async fn read_n(port: &mut (impl AsyncReadExt + Unpin), n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(10), port.read_exact(&mut got))
        .await
        .expect("the terminal answered in time")
        .unwrap();
    got
}

#[tokio::test]
async fn a_frame_with_a_bad_crc_gets_nak_and_its_repeat_gets_ack() {
    let p = Possim::start("", &[]).await;
    let mut port = possim_terminal::serve::open_device(serial_path(&p)).unwrap();
    // Status Enquiry 05 01 00 framed by hand: 10 02 05 01 00 10 03 CRClo CRChi, where the CRC is
    // CRC-16/KERMIT over 05 01 00 03, low byte first. The CRC is a literal, not the codec's
    // function: 10 06, computed with the bitwise definition of shared/specs/zvt.md (which gives
    // that file's trace vectors, e.g. 80 00 00 → F5 1F below). Its low byte is DLE, sent raw.
    let good = [0x10, 0x02, 0x05, 0x01, 0x00, 0x10, 0x03, 0x10, 0x06];
    let mut bad = good;
    bad[7] ^= 0x5A;
    port.write_all(&bad).await.unwrap();
    assert_eq!(read_n(&mut port, 1).await, [0x15], "NAK for the bad CRC");
    port.write_all(&good).await.unwrap();
    assert_eq!(read_n(&mut port, 1).await, [0x06], "ACK for the good frame");
    // Then the terminal's 80 00 00, itself framed: 10 02 80 00 00 10 03 F5 1F, the CRC of the
    // Ingenico i5310 trace quoted in shared/specs/zvt.md.
    let ack = read_n(&mut port, 9).await;
    assert_eq!(ack, [0x10, 0x02, 0x80, 0x00, 0x00, 0x10, 0x03, 0xF5, 0x1F]);
    port.write_all(&[0x06]).await.unwrap();
    let notes = terminal_notes(&p).await;
    assert!(notes.iter().any(|n| n.contains("bad CRC")), "{notes:?}");
}

#[tokio::test]
async fn a_status_information_with_a_bad_crc_is_naked_by_the_ecr_and_repeated() {
    let p = Possim::start("", &[]).await;
    let (status, body) = p
        .admin(
            "POST",
            "/__admin/faults",
            Some(json!({"name": "noisy line", "provider": "zvt", "method": "ZVT-PT", "path": "^04 0F$", "times": 1, "action": {"type": "malform"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut ecr = Ecr::open_serial(serial_path(&p), 0, LinkTimers::default(), SerialQuirks::default()).unwrap();
    let t = ecr.pay(4200).await.unwrap();
    assert_eq!((t.outcome, t.amount), (Outcome::Completed, Some(4200)));
    let notes = terminal_notes(&p).await;
    // The terminal spoilt the first attempt, the ECR answered NAK, the repeat went through.
    let spoilt = notes
        .iter()
        .position(|n| n.contains("wrong CRC"))
        .expect("the fault fired");
    let nak = notes
        .iter()
        .position(|n| n.contains("answered NAK"))
        .expect("the ECR said NAK");
    let repeat = notes
        .iter()
        .position(|n| n.contains("repeating the frame"))
        .expect("the terminal repeated");
    assert!(spoilt < nak && nak < repeat, "{notes:?}");
    let s = p.admin("GET", "/__admin/state/zvt", None).await.1;
    assert_eq!(s["transactions"][0]["amount"], 4200);
}

#[tokio::test]
async fn a_frame_with_a_valid_crc_and_a_lying_length_gets_ack_and_84_9a_00() {
    let p = Possim::start("", &[]).await;
    let mut port = possim_terminal::serve::open_device(serial_path(&p)).unwrap();
    // Status Enquiry 05 01 announcing 3 data bytes but carrying none; the CRC (CRC-16/KERMIT over
    // 05 01 03 03, low byte first) is right, so the line delivered the frame intact.
    let crc = possim_zvt::serial::crc16_kermit(&[0x05, 0x01, 0x03, 0x03]);
    let lying = [0x10, 0x02, 0x05, 0x01, 0x03, 0x10, 0x03, crc as u8, (crc >> 8) as u8];
    port.write_all(&lying).await.unwrap();
    assert_eq!(read_n(&mut port, 1).await, [0x06], "ACK: the frame itself is intact");
    // The README's answer to an APDU that does not decode: 84 9A 00, framed.
    let crc = possim_zvt::serial::crc16_kermit(&[0x84, 0x9A, 0x00, 0x03]);
    assert_eq!(
        read_n(&mut port, 9).await,
        [0x10, 0x02, 0x84, 0x9A, 0x00, 0x10, 0x03, crc as u8, (crc >> 8) as u8]
    );
    port.write_all(&[0x06]).await.unwrap();
}

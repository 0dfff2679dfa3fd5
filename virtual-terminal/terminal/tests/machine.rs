//! The PT state machine without sockets, clock or transcripts: each test sends ECR commands
//! written as hex from the ZVT specification (PA00P015; `shared/specs/zvt.md` §1.13–§1.15 in our
//! words) and asserts the terminal's answers with the values the specification (or, where it
//! leaves room, `virtual-terminal/README.md`) gives: `80 00 00` within the command, intermediate
//! statuses `04 FF`, the Status-Information `04 0F` with result code BMP 27 first, `06 0F`
//! completions, `06 1E <rc>` aborts and `84 xx 00` refusals.
//!
//! The transcripts (`tests/transcripts/`) show whole dialogues and are checked with insta; these
//! tests pin single facts with literal bytes, so a wrong constant shows as a failing assertion.

use possim_engine::dataset::DataSet;
use possim_terminal::config::TerminalConfig;
use possim_terminal::customer::{CustomerScript, Outcome};
use possim_terminal::machine::{Action, BookingKind, ConnectionId, Output, Terminal};
use possim_zvt::Message;
use possim_zvt::bmp::ReceiptNo;
use possim_zvt::messages::StatusInformation;

const ZVT_TOML: &str = include_str!("../../../mocks/datasets/default/zvt.toml");

const A: ConnectionId = 1;
const B: ConnectionId = 2;
const C: ConnectionId = 3;

const ACK: [u8; 3] = [0x80, 0x00, 0x00];
/// PA00P015 §2.66 / zvt.md §1.11: "command not possible".
const NOT_POSSIBLE: [u8; 3] = [0x84, 0x83, 0x00];

/// Registration, password 000000, config byte BE (receipts and intermediate status to the ECR),
/// EUR (09 78): zvt.md §1.14.
const REGISTER: &str = "06 00 06 00 00 00 BE 09 78";
/// Authorisation of 12.50 EUR: zvt.md §1.15 A.1.
const PAY_12_50: &str = "06 01 0A 04 00 00 00 00 12 50 49 09 78";
/// End-of-Day with password 000000.
const END_OF_DAY: &str = "06 50 03 00 00 00";

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect()
}

fn terminal() -> Terminal {
    let data = DataSet::from_files("default", [("zvt.toml", ZVT_TOML)]).expect("the default data set");
    Terminal::new(TerminalConfig::from_data_set(&data).expect("the default zvt.toml"))
}

/// What the terminal sends `to` among `outputs`.
fn sent_to(outputs: &[Output], to: ConnectionId) -> Vec<Vec<u8>> {
    outputs
        .iter()
        .filter(|o| o.connection == to)
        .filter_map(|o| match &o.action {
            Action::Send(apdu) => Some(apdu.encode()),
            _ => None,
        })
        .collect()
}

/// The timer the outputs arm for `to`, if any.
fn armed(outputs: &[Output], to: ConnectionId) -> Option<u64> {
    outputs.iter().rev().find_map(|o| match o.action {
        Action::Arm(ms) if o.connection == to => Some(ms),
        _ => None,
    })
}

/// Connection `from` sends `command` and acknowledges every message the terminal sends it until
/// the terminal sends none; every APDU sent to `from`, in order. Bounded: 200 messages.
fn exchange(t: &mut Terminal, from: ConnectionId, command: &[u8]) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    let mut out = t.on_apdu(from, command, 0);
    for _ in 0..200 {
        let sent = sent_to(&out, from);
        let Some(last) = sent.last().cloned() else {
            return all;
        };
        all.extend(sent);
        if last == ACK || last.starts_with(&[0x84]) {
            // The terminal acknowledged or refused and sent nothing after it: nothing to answer.
            return all;
        }
        out = t.on_apdu(from, &ACK, 0);
    }
    panic!("the terminal never stopped sending: {all:02X?}");
}

fn status_information(sent: &[Vec<u8>]) -> StatusInformation {
    let apdu = sent
        .iter()
        .find(|a| a.starts_with(&[0x04, 0x0F]))
        .unwrap_or_else(|| panic!("no 04 0F in {sent:02X?}"));
    match Message::decode(apdu).expect("a Status-Information the codec reads") {
        Message::StatusInformation(s) => s,
        other => panic!("{other:?}"),
    }
}

/// The receipt number (BMP 87) of the Status-Information in `sent`.
fn receipt_of(sent: &[Vec<u8>]) -> u16 {
    match status_information(sent).receipt {
        Some(ReceiptNo::Number(n)) => n,
        other => panic!("no receipt number: {other:?}"),
    }
}

/// The intermediate status codes (04 FF <len> <status>) in order.
fn intermediate(sent: &[Vec<u8>]) -> Vec<u8> {
    sent.iter()
        .filter(|a| a.starts_with(&[0x04, 0xFF]) && a.len() >= 4)
        .map(|a| a[3])
        .collect()
}

fn registered() -> Terminal {
    let mut t = terminal();
    let sent = exchange(&mut t, A, &hex(REGISTER));
    // §2.1: 80 00 00, then the Completion 06 0F.
    assert_eq!(sent[0], ACK);
    assert!(sent.last().unwrap().starts_with(&[0x06, 0x0F]), "{sent:02X?}");
    t
}

fn script(t: &mut Terminal, outcome: Outcome) {
    t.script_next(CustomerScript {
        outcome,
        ..CustomerScript::default()
    })
    .unwrap();
}

#[test]
fn registration_keeps_the_config_byte_and_refuses_a_wrong_password() {
    let mut t = terminal();
    assert_eq!(t.registration(), None);
    exchange(&mut t, A, &hex(REGISTER));
    assert_eq!(t.registration(), Some(0xBE));
    // A wrong password (123456): 84 83 00 (README "Commands"), the registration unchanged.
    let sent = exchange(&mut t, A, &hex("06 00 06 12 34 56 08 09 78"));
    assert_eq!(sent, vec![NOT_POSSIBLE.to_vec()]);
    assert_eq!(t.registration(), Some(0xBE));
    // Another currency (USD 840): 84 1E with result code 6F "wrong currency" (§2.1, zvt.md §1.13).
    let sent = exchange(&mut t, A, &hex("06 00 06 00 00 00 BE 08 40"));
    assert_eq!(sent.len(), 1, "{sent:02X?}");
    assert_eq!(&sent[0][..2], &[0x84, 0x1E]);
    assert!(sent[0][2..].contains(&0x6F), "{:02X?}", sent[0]);
    // Log-Off 06 02: acknowledged, the registration ends.
    let sent = exchange(&mut t, A, &hex("06 02 00"));
    assert_eq!(sent[0], ACK);
    assert_eq!(t.registration(), None);
}

#[test]
fn an_approved_payment_follows_sequence_a() {
    let mut t = registered();
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    // 1. 80 00 00 first; 2. insert card (0A) and PIN (01) shown (config bit 08).
    assert_eq!(sent[0], ACK);
    let statuses = intermediate(&sent);
    assert_eq!(statuses.first(), Some(&0x0A), "insert card first: {statuses:02X?}");
    assert!(statuses.contains(&0x01), "watch PIN-pad: {statuses:02X?}");
    // 3. the Status-Information: result code 00 as its first BMP, the amount, the currency.
    let info_apdu = sent.iter().find(|a| a.starts_with(&[0x04, 0x0F])).unwrap();
    assert_eq!(&info_apdu[3..5], &[0x27, 0x00], "BMP 27 first (zvt.md §1.15 A.7)");
    let info = status_information(&sent);
    assert_eq!(info.result_code, Some(0x00));
    assert_eq!(info.amount.map(|a| a.0), Some(1250));
    assert_eq!(info.currency, Some(978));
    assert_eq!(info.terminal_id, Some(52_000_001));
    // 4. receipts as print lines (config bits 80 + 02), then 06 0F 00 ends it.
    assert!(sent.iter().any(|a| a.starts_with(&[0x06, 0xD1])), "print lines");
    assert_eq!(sent.last().unwrap(), &vec![0x06, 0x0F, 0x00]);
    assert!(!t.busy());
    let booked = &t.batch()[0];
    assert_eq!(
        (booked.kind, booked.amount, booked.reversed),
        (BookingKind::Payment, 1250, false)
    );
}

#[test]
fn a_decline_ends_with_the_hosts_code() {
    let mut t = registered();
    // Sequence B: 04 0F with 27 05 (host code 05, declined), then 06 1E 01 05.
    script(&mut t, Outcome::Decline { code: 5 });
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    assert_eq!(status_information(&sent).result_code, Some(0x05));
    assert_eq!(sent.last().unwrap(), &hex("06 1E 01 05"));
    assert!(t.batch().is_empty());
    // The host unreachable: A3 "no connection".
    script(&mut t, Outcome::HostUnreachable);
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    assert_eq!(sent.last().unwrap(), &hex("06 1E 01 A3"));
    // The card unreadable: 64.
    script(&mut t, Outcome::CardUnreadable);
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    assert_eq!(sent.last().unwrap(), &hex("06 1E 01 64"));
    assert!(t.batch().is_empty());
}

#[test]
fn customer_abort_and_time_outs_end_with_6c() {
    // Sequence C: the customer cancels at the PIN pad.
    let mut t = registered();
    script(&mut t, Outcome::CustomerAbort);
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    assert_eq!(sent.last().unwrap(), &hex("06 1E 01 6C"));

    // No card: the terminal waits with the customer time-out (customerTimeoutMs 60000) armed,
    // and its expiry ends the payment with 6C.
    for outcome in [Outcome::NoCard, Outcome::PinTimeout] {
        script(&mut t, outcome);
        let mut out = t.on_apdu(A, &hex(PAY_12_50), 0);
        let mut last_arm = armed(&out, A);
        for _ in 0..20 {
            if sent_to(&out, A).is_empty() {
                break;
            }
            out = t.on_apdu(A, &ACK, 0);
            last_arm = armed(&out, A).or(last_arm);
        }
        assert!(t.busy(), "{outcome:?}: waiting for the customer");
        assert_eq!(last_arm, Some(60_000), "{outcome:?}");
        let out = t.on_timer(A, 60_000);
        assert_eq!(sent_to(&out, A), vec![hex("06 1E 01 6C")], "{outcome:?}");
        t.on_apdu(A, &ACK, 60_000);
        assert!(!t.busy());
    }
    assert!(t.batch().is_empty());
}

#[test]
fn the_ecrs_abort_while_waiting_for_the_card() {
    // Sequence D: 06 B0 00 → 80 00 00, then 06 1E 01 6C ends the running payment.
    let mut t = registered();
    script(&mut t, Outcome::NoCard);
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    assert_eq!(intermediate(&sent), vec![0x0A], "waiting for the card");
    let out = t.on_apdu(A, &hex("06 B0 00"), 0);
    assert_eq!(sent_to(&out, A), vec![ACK.to_vec(), hex("06 1E 01 6C")]);
    t.on_apdu(A, &ACK, 0);
    assert!(!t.busy());
    // From another connection (README): 80 00 00 to it, 06 1E 6C to the paying one.
    script(&mut t, Outcome::NoCard);
    exchange(&mut t, A, &hex(PAY_12_50));
    let out = t.on_apdu(B, &hex("06 B0 00"), 0);
    assert_eq!(sent_to(&out, B), vec![ACK.to_vec()]);
    assert_eq!(sent_to(&out, A), vec![hex("06 1E 01 6C")]);
}

#[test]
fn wrong_pins_are_shown_and_the_try_limit_ends_the_payment() {
    let mut t = registered();
    // One wrong PIN: 15 "PIN incorrect", asked again (01), then approved.
    t.script_next(CustomerScript {
        wrong_pins: 1,
        ..CustomerScript::default()
    })
    .unwrap();
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    let statuses = intermediate(&sent);
    let wrong = statuses.iter().position(|s| *s == 0x15).expect("15 shown");
    assert_eq!(statuses.get(wrong + 1), Some(&0x01), "asked again: {statuses:02X?}");
    assert_eq!(status_information(&sent).result_code, Some(0x00));
    // Three wrong PINs (pinTries 3): 18 "PIN try limit exceeded" shown, nothing booked.
    t.script_next(CustomerScript {
        wrong_pins: 3,
        ..CustomerScript::default()
    })
    .unwrap();
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    assert!(intermediate(&sent).contains(&0x18), "{sent:02X?}");
    assert!(sent.last().unwrap().starts_with(&[0x06, 0x1E]), "{sent:02X?}");
    assert_eq!(t.batch().len(), 1, "only the first payment");
}

#[test]
fn reversal_by_receipt_number_once() {
    let mut t = registered();
    let sent = exchange(&mut t, A, &hex(PAY_12_50));
    let receipt = receipt_of(&sent);
    let digits = format!("{receipt:04}");
    // Reversal 06 30: password, BMP 87 with the receipt number (2 bytes BCD).
    let reversal = hex(&format!("06 30 06 00 00 00 87 {} {}", &digits[..2], &digits[2..]));
    let sent = exchange(&mut t, A, &reversal);
    let info = status_information(&sent);
    assert_eq!((info.result_code, info.amount.map(|a| a.0)), (Some(0x00), Some(1250)));
    assert_eq!(sent.last().unwrap(), &vec![0x06, 0x0F, 0x00]);
    assert!(t.batch()[0].reversed);
    // Again: B4 "already reversed". An unknown receipt: B5 "reversal not possible".
    let sent = exchange(&mut t, A, &reversal);
    assert_eq!(sent.last().unwrap(), &hex("06 1E 01 B4"));
    let sent = exchange(&mut t, A, &hex("06 30 06 00 00 00 87 99 99"));
    assert_eq!(sent.last().unwrap(), &hex("06 1E 01 B5"));
}

#[test]
fn end_of_day_sends_the_totals_per_card_type_and_clears_the_batch() {
    let mut t = registered();
    let first = exchange(&mut t, A, &hex(PAY_12_50));
    let start = receipt_of(&first);
    // 20.00 EUR by VISA; 5.00 EUR by girocard, reversed (left out of the totals).
    t.script_next(CustomerScript {
        card: Some("visa".into()),
        ..CustomerScript::default()
    })
    .unwrap();
    exchange(&mut t, A, &hex("06 01 0A 04 00 00 00 00 20 00 49 09 78"));
    let third = exchange(&mut t, A, &hex("06 01 0A 04 00 00 00 00 05 00 49 09 78"));
    let end = receipt_of(&third);
    let digits = format!("{end:04}");
    exchange(
        &mut t,
        A,
        &hex(&format!("06 30 06 00 00 00 87 {} {}", &digits[..2], &digits[2..])),
    );

    let sent = exchange(&mut t, A, &hex(END_OF_DAY));
    let info = status_information(&sent);
    assert_eq!(info.result_code, Some(0x00));
    // BMP 04: the total, 12.50 + 20.00.
    assert_eq!(info.amount.map(|a| a.0), Some(3250));
    // BMP 60 (PA00P015 §3.1.3): receipt numbers from/to (BCD), then count (binary) and total
    // (6 bytes BCD) for girocard, JCB, Eurocard, Amex, VISA, Diners, others.
    let bcd2 = |n: u16| {
        let d = format!("{n:04}");
        hex(&format!("{} {}", &d[..2], &d[2..]))
    };
    let totals = info.individual_totals.expect("BMP 60");
    assert_eq!(&totals[..2], &bcd2(start)[..], "receipt number start");
    let last: u16 = format!("{:02X}{:02X}", totals[2], totals[3]).parse().expect("BCD");
    assert!(last >= end, "receipt number end {last} covers the last payment {end}");
    assert_eq!(totals.len(), 4 + 7 * 7);
    let per_type: Vec<(u8, Vec<u8>)> = totals[4..].chunks(7).map(|c| (c[0], c[1..].to_vec())).collect();
    let none = (0, vec![0; 6]);
    assert_eq!(
        per_type,
        vec![
            (1, hex("00 00 00 00 12 50")),
            none.clone(),
            none.clone(),
            none.clone(),
            (1, hex("00 00 00 00 20 00")),
            none.clone(),
            none,
        ]
    );
    assert_eq!(sent.last().unwrap().get(..2), Some(&[0x06, 0x0F][..]));
    assert!(t.batch().is_empty(), "the batch is cleared");
    // Nothing booked since: the next End-of-Day totals 0.
    let sent = exchange(&mut t, A, &hex(END_OF_DAY));
    assert_eq!(status_information(&sent).amount.map(|a| a.0), Some(0));
}

/// The `ingenico-update` quirk profile (README "Quirk profiles") answers Authorisation `84 83 00`
/// without reading it: a well-formed one and one whose amount is cut short get the same "not
/// supported", where the spec terminal tells them apart (06 1E / 84 9A 00).
#[test]
fn an_unsupported_command_is_refused_before_its_fields_are_read() {
    let mut config = TerminalConfig::from_data_set(
        &DataSet::from_files("default", [("zvt.toml", ZVT_TOML)]).expect("the default data set"),
    )
    .expect("the default zvt.toml");
    config.terminal.profile = possim_terminal::profile::Profile::IngenicoUpdate;
    let mut t = Terminal::new(config);
    let sent = exchange(&mut t, A, &hex(REGISTER));
    assert!(sent.last().unwrap().starts_with(&[0x06, 0x0F]), "{sent:02X?}");
    assert_eq!(exchange(&mut t, A, &hex(PAY_12_50)), vec![NOT_POSSIBLE.to_vec()]);
    assert_eq!(
        exchange(&mut t, A, &hex("06 01 03 04 00 00")),
        vec![NOT_POSSIBLE.to_vec()]
    );
    // The spec terminal refuses the cut-short one as a protocol error.
    let mut spec = registered();
    assert_eq!(exchange(&mut spec, A, &hex("06 01 03 04 00 00")), vec![hex("84 9A 00")]);
}

#[test]
fn commands_in_the_wrong_state_are_refused_with_84() {
    let mut t = registered();
    // An unknown command: 84 83 00. An APDU that does not decode (its length byte says 10
    // bytes, 3 follow): 84 9A 00, "ZVT protocol error" (README "Commands", zvt.md §1.13).
    assert_eq!(exchange(&mut t, A, &hex("06 42 00")), vec![NOT_POSSIBLE.to_vec()]);
    assert_eq!(exchange(&mut t, A, &hex("06 01 0A 04 00 00")), vec![hex("84 9A 00")]);
    // A complete APDU whose amount field (BMP 04, six bytes) is cut short after two: the same
    // protocol error, not "command not possible".
    assert_eq!(exchange(&mut t, A, &hex("06 01 03 04 00 00")), vec![hex("84 9A 00")]);
    // While A's payment waits for the card, B's command: 84 83 00 to B, A's payment unharmed.
    script(&mut t, Outcome::NoCard);
    exchange(&mut t, A, &hex(PAY_12_50));
    let out = t.on_apdu(B, &hex(PAY_12_50), 0);
    assert_eq!(sent_to(&out, B), vec![NOT_POSSIBLE.to_vec()]);
    assert!(sent_to(&out, A).is_empty());
    assert_eq!(t.owner(), Some(A));
    // An acknowledgement reaching the idle terminal is a late one: no answer at all.
    let mut idle = registered();
    assert!(sent_to(&idle.on_apdu(A, &ACK, 0), A).is_empty());
    // End-of-Day while a pre-authorisation is open: 06 1E B8 (README "Commands").
    let sent = exchange(&mut idle, A, &hex("06 22 0A 04 00 00 00 00 30 00 49 09 78"));
    assert_eq!(status_information(&sent).result_code, Some(0x00));
    let sent = exchange(&mut idle, A, &hex(END_OF_DAY));
    assert!(sent.last().unwrap().starts_with(&[0x06, 0x1E]), "{sent:02X?}");
    assert_eq!(sent.last().unwrap()[3], 0xB8, "{sent:02X?}");
}

#[test]
fn a_command_during_the_last_acknowledgement_is_held_then_run() {
    // README: while the owner's transaction only waits for the acknowledgement of its last
    // message (06 0F), another connection's command is held, not refused; it runs once that
    // acknowledgement arrives. A third one meanwhile gets 84 83 00.
    let mut t = registered();
    let mut out = t.on_apdu(A, &hex(PAY_12_50), 0);
    for _ in 0..200 {
        if sent_to(&out, A).last().is_some_and(|m| m.starts_with(&[0x06, 0x0F])) {
            break;
        }
        out = t.on_apdu(A, &ACK, 0);
    }
    assert_eq!(sent_to(&out, A).last(), Some(&vec![0x06, 0x0F, 0x00]));
    let held = t.on_apdu(B, &hex(END_OF_DAY), 0);
    assert!(sent_to(&held, B).is_empty(), "held, not refused: {held:?}");
    let third = t.on_apdu(C, &hex("05 01 03 00 00 00"), 0);
    assert_eq!(sent_to(&third, C), vec![NOT_POSSIBLE.to_vec()]);
    // A's acknowledgement ends the payment; B's End-of-Day starts: 80 00 00 to B.
    let out = t.on_apdu(A, &ACK, 0);
    assert_eq!(sent_to(&out, B).first(), Some(&ACK.to_vec()), "{out:?}");
    assert_eq!(t.owner(), Some(B));
    assert_eq!(t.batch().len(), 1, "A's payment stored by its acknowledgement");
}

#[test]
fn the_status_information_acknowledgement_commits() {
    // zvt.md §1.15 A.7 / PA00P015 §2.2.8: no acknowledgement of the 04 0F (a negative one or a
    // time-out) and the payment is never stored.
    for answer in [Some(hex("84 66 00")), None] {
        let mut t = registered();
        let mut out = t.on_apdu(A, &hex(PAY_12_50), 0);
        for _ in 0..200 {
            if sent_to(&out, A).iter().any(|m| m.starts_with(&[0x04, 0x0F])) {
                break;
            }
            out = t.on_apdu(A, &ACK, 0);
        }
        assert_eq!(armed(&out, A), Some(5000), "T3 for the acknowledgement (ackTimeoutMs)");
        let mut out = match &answer {
            Some(nack) => t.on_apdu(A, nack, 0),
            None => t.on_timer(A, 5000),
        };
        for _ in 0..200 {
            let sent = sent_to(&out, A);
            if sent.is_empty() || !t.busy() {
                break;
            }
            out = t.on_apdu(A, &ACK, 0);
        }
        assert!(t.batch().is_empty(), "{answer:?}: {:?}", t.batch());
    }
}

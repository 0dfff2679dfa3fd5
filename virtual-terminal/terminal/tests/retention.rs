//! Bounded batch (issue 13): a terminal that keeps only the newest bookings until End-of-Day
//! answers every command about them exactly as one that keeps all, and its End-of-Day totals
//! (BMP 60 and the total amount) are the same byte for byte; a forgotten receipt answers as the
//! README says; the admin state shows the summary.

use possim_engine::provider::Provider;
use possim_terminal::config::TerminalConfig;
use possim_terminal::machine::{BookingKind, ConnectionId, Terminal};
use possim_zvt::bmp::ReceiptNo;
use possim_zvt::messages::{
    Authorisation, EndOfDay, Password, PreAuthReversal, PreAuthorisation, Refund, Registration, Reversal,
};
use possim_zvt::{Amount, Message};
use proptest::prelude::*;

const ECR: ConnectionId = 1;

fn terminal(retain: usize) -> Terminal {
    let mut t = Terminal::new(TerminalConfig {
        retain,
        ..TerminalConfig::default()
    });
    let registration = Message::Registration(Registration {
        password: Password(0),
        config: 0xBE,
        currency: Some(978),
        ..Registration::default()
    });
    run(&mut t, &registration.encode().unwrap());
    t
}

/// Sends a command and acknowledges every message until the terminal is done; returns the
/// terminal's messages.
fn run(t: &mut Terminal, command: &[u8]) -> Vec<Vec<u8>> {
    possim_terminal::test_driver::run_acknowledged(t, ECR, command)
}

fn pay(amount: u64) -> Vec<u8> {
    Message::Authorisation(Authorisation {
        amount: Some(Amount(amount)),
        currency: Some(978),
        ..Authorisation::default()
    })
    .encode()
    .unwrap()
}

fn refund(amount: u64) -> Vec<u8> {
    Message::Refund(Refund {
        password: Password(0),
        amount: Some(Amount(amount)),
        currency: Some(978),
        ..Refund::default()
    })
    .encode()
    .unwrap()
}

fn reverse(receipt: u16) -> Vec<u8> {
    Message::Reversal(Reversal {
        password: Password(0),
        receipt: Some(ReceiptNo::Number(receipt)),
        ..Reversal::default()
    })
    .encode()
    .unwrap()
}

fn pre_authorise(amount: u64) -> Vec<u8> {
    Message::PreAuthorisation(PreAuthorisation {
        amount: Some(Amount(amount)),
        currency: Some(978),
        ..PreAuthorisation::default()
    })
    .encode()
    .unwrap()
}

/// Pre-Auth Reversal 06 25 of the pre-authorisation with this receipt number.
fn release(receipt: u16) -> Vec<u8> {
    Message::PreAuthReversal(PreAuthReversal {
        receipt: Some(ReceiptNo::Number(receipt)),
        currency: Some(978),
        ..PreAuthReversal::default()
    })
    .encode()
    .unwrap()
}

fn end_of_day() -> Vec<u8> {
    Message::EndOfDay(EndOfDay {
        password: Password(0),
        ..EndOfDay::default()
    })
    .encode()
    .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Pay(u64),
    Refund(u64),
    Reverse(usize),
    EndOfDay,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..50_000).prop_map(Op::Pay),
        2 => (1u64..80_000).prop_map(Op::Refund),
        2 => any::<usize>().prop_map(Op::Reverse),
        1 => Just(Op::EndOfDay),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn forgetting_bookings_never_changes_the_end_of_day_totals(
        ops in prop::collection::vec(op(), 1..40),
        retain in 0usize..4,
    ) {
        let mut small = terminal(retain);
        let mut full = terminal(1_000_000);
        for (i, op) in ops.iter().enumerate() {
            let command = match op {
                Op::Pay(amount) => pay(*amount),
                Op::Refund(amount) => refund(*amount),
                // A payment among the newest `retain` bookings: the ones both terminals hold.
                Op::Reverse(pick) => {
                    let batch = full.batch();
                    let held = &batch[batch.len() - retain.min(batch.len())..];
                    let payments: Vec<u16> = held.iter().filter(|b| b.kind == BookingKind::Payment).map(|b| b.receipt).collect();
                    if payments.is_empty() {
                        continue;
                    }
                    reverse(payments[pick % payments.len()])
                }
                Op::EndOfDay => end_of_day(),
            };
            let (a, b) = (run(&mut small, &command), run(&mut full, &command));
            // The messages carry the same receipt, trace and totals (the End-of-Day's BMP 60).
            prop_assert_eq!(a, b, "op {} {:?}", i, op);
            prop_assert_eq!(small.totals(), full.totals());
            let batch = full.batch();
            prop_assert_eq!(small.batch(), &batch[batch.len() - retain.min(batch.len())..]);
            prop_assert_eq!(small.forgotten().bookings as usize + small.batch().len(), batch.len());
        }
        let (a, b) = (run(&mut small, &end_of_day()), run(&mut full, &end_of_day()));
        prop_assert_eq!(a, b);
        prop_assert!(small.batch().is_empty() && small.forgotten().bookings == 0);
    }
}

#[test]
fn a_forgotten_receipt_cannot_be_reversed_and_still_counts() {
    let mut t = terminal(1);
    run(&mut t, &pay(1_000));
    run(&mut t, &pay(2_000));
    let first = t.forgotten().receipts.expect("the first payment was forgotten").0;
    assert_eq!(t.batch().len(), 1);
    // Reversal 06 30 of a receipt the batch does not hold: 06 1E with B5 "reversal not
    // possible", as for an unknown receipt.
    let sent = run(&mut t, &reverse(first));
    let abort = sent.iter().find(|a| a.starts_with(&[0x06, 0x1E])).expect("an abort");
    assert_eq!(abort[3], 0xB5, "{sent:02X?}");
    // Both payments are in the totals: 30.00 EUR, girocard group, two payments.
    let (groups, total, from, to) = t.totals();
    assert_eq!((total, groups[0], from, to), (3_000, (2, 3_000), first, first + 1));
}

#[test]
fn the_admin_state_shows_what_was_summarised() {
    let zvt = possim_terminal::ZvtTerminal::new();
    let settings = "[retention]\ntransactions = 1\n";
    let data = possim_engine::dataset::DataSet::from_files("retention", [("possim.toml", settings)]).unwrap();
    zvt.load(&data).unwrap();
    {
        let mut shared = zvt.lock();
        let t = &mut shared.terminal;
        let registration = Message::Registration(Registration {
            password: Password(0),
            config: 0xBE,
            currency: Some(978),
            ..Registration::default()
        });
        run(t, &registration.encode().unwrap());
        run(t, &pay(1_000));
        run(t, &pay(2_500));
    }
    let state = zvt.snapshot();
    assert_eq!(state["retention"]["transactions"], 1);
    let summary = &state["retention"]["summarised"];
    assert_eq!(summary["bookings"], 1, "{state}");
    assert_eq!(summary["total"], 1_000);
    assert_eq!(state["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(state["total"], 3_500);
}

#[test]
fn a_receipt_number_used_twice_names_the_newest_booking() {
    // Receipt numbers are four BCD digits: the 10,000th payment of a batch kept that long
    // (retention above 9999, no End-of-Day) is receipt 1 again.
    let mut t = terminal(20_000);
    for _ in 0..9_999 {
        run(&mut t, &pay(100));
    }
    run(&mut t, &pay(777));
    let batch = t.batch();
    assert_eq!(batch.len(), 10_000);
    assert_eq!((batch[0].receipt, batch[0].amount), (1, 100));
    assert_eq!((batch[9_999].receipt, batch[9_999].amount), (1, 777));

    // A reversal of receipt 1 reverses the payment the ECR has just seen: 7.77 EUR back (BMP
    // 04 of the Status-Information), the first payment stays booked.
    let sent = run(&mut t, &reverse(1));
    let status = sent
        .iter()
        .find(|m| m.starts_with(&[0x04, 0x0F]))
        .expect("a Status-Information");
    match Message::decode(status).expect("a Status-Information the codec reads") {
        Message::StatusInformation(s) => assert_eq!(s.amount, Some(Amount(777))),
        other => panic!("{other:?}"),
    }
    assert!(!t.batch()[0].reversed && t.batch()[9_999].reversed);
    let (_, total, _, _) = t.totals();
    assert_eq!(total, 9_999 * 100);
}

#[test]
fn a_pre_authorisation_number_used_twice_releases_the_newest() {
    let mut t = terminal(20_000);
    run(&mut t, &pre_authorise(500));
    for _ in 0..9_998 {
        run(&mut t, &pay(100));
    }
    run(&mut t, &pre_authorise(900));
    let open: Vec<(u16, u64)> = t.pre_auths().iter().map(|p| (p.receipt, p.amount)).collect();
    assert_eq!(open, [(1, 500), (1, 900)]);

    run(&mut t, &release(1));
    let open: Vec<(u16, u64)> = t.pre_auths().iter().map(|p| (p.receipt, p.amount)).collect();
    assert_eq!(open, [(1, 500)], "the pre-authorisation just made is the one released");
}

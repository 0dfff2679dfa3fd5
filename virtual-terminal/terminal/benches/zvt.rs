//! Throughput of the ZVT stack without I/O:
//!
//! 1. codec + serial link layer: an Authorisation encoded, framed (DLE stuffing, CRC), decoded
//!    from the line and parsed back into a typed message — APDUs per second.
//! 2. the terminal's own processing per payment with zero simulated delays: the Authorisation
//!    and the ECR's acknowledgements in, every terminal message out (intermediate status, status
//!    information, receipt lines, completion) — target well under 1 ms.
//!
//! `cargo bench -p possim-terminal --bench zvt`; `POSSIM_BENCH_N` sets the iterations
//! (default 200 000 APDUs and 50 000 payments).

use std::hint::black_box;
use std::time::Instant;

use possim_terminal::config::TerminalConfig;
use possim_terminal::machine::{Action, ConnectionId, Terminal};
use possim_zvt::messages::{Authorisation, EndOfDay, Registration};
use possim_zvt::serial::{FrameDecoder, FrameEvent, encode_frame};
use possim_zvt::{Amount, Message};

const NOW: i64 = 1_764_680_000_000;

/// The one ECR connection.
const ECR: ConnectionId = 1;

fn encode(message: &Message) -> Vec<u8> {
    message.encode().expect("encodable")
}

fn codec_and_link(n: usize) -> f64 {
    let payment = Message::Authorisation(Authorisation {
        // 10.00 EUR: the 0x10 in the amount exercises DLE doubling.
        amount: Some(Amount(1000)),
        currency: Some(978),
        ..Authorisation::default()
    });
    let mut decoder = FrameDecoder::new();
    let started = Instant::now();
    for _ in 0..n {
        let frame = encode_frame(&encode(black_box(&payment)));
        for event in decoder.feed(&frame) {
            let FrameEvent::Frame(apdu) = event else {
                panic!("the frame must decode: {event:?}")
            };
            black_box(Message::decode(&apdu.encode()).expect("parses"));
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Feeds `command`, then acknowledges every terminal message until the transaction ends.
/// Returns how many messages the terminal sent. Each is encoded for the wire, as a link does.
fn run(terminal: &mut Terminal, command: &[u8]) -> usize {
    let mut sent = 0;
    let mut outputs = terminal.on_apdu(ECR, command, NOW);
    loop {
        let mut answered = false;
        for output in outputs {
            if let Action::Send(apdu) = output.action {
                sent += 1;
                black_box(apdu.encode());
                if !matches!(apdu.class(), 0x80 | 0x84) {
                    answered = true;
                }
            }
        }
        if !terminal.busy() {
            return sent;
        }
        assert!(answered, "the terminal waits for nothing but an acknowledgement");
        outputs = terminal.on_apdu(ECR, &[0x80, 0x00, 0x00], NOW);
    }
}

fn payments(n: usize) -> (f64, usize) {
    let mut terminal = Terminal::new(TerminalConfig::default());
    // BE: intermediate status and receipt lines to the ECR — the most messages per payment.
    let registration = encode(&Message::Registration(Registration {
        config: 0xBE,
        currency: Some(978),
        ..Registration::default()
    }));
    run(&mut terminal, &registration);
    let payment = encode(&Message::Authorisation(Authorisation {
        amount: Some(Amount(1250)),
        currency: Some(978),
        ..Authorisation::default()
    }));
    let end_of_day = encode(&Message::EndOfDay(EndOfDay::default()));
    let mut messages = 0;
    let mut busy = std::time::Duration::ZERO;
    for i in 0..n {
        let started = Instant::now();
        messages = run(&mut terminal, black_box(&payment));
        busy += started.elapsed();
        // Close the day now and then, as a shop does; not timed.
        if i % 1000 == 999 {
            run(&mut terminal, &end_of_day);
        }
    }
    (busy.as_secs_f64() * 1e6 / n as f64, messages)
}

fn main() {
    let n: usize = std::env::var("POSSIM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rate = codec_and_link(n);
    println!(
        "codec + serial link: {rate:.0} APDUs/s (Authorisation of 10.00 EUR: encode, frame, deframe, parse; {n} APDUs)"
    );
    let payments_n = (n / 4).max(1);
    let (micros, messages) = payments(payments_n);
    println!(
        "terminal: {micros:.1} µs per PIN payment with zero delays ({messages} terminal messages each, {payments_n} payments)"
    );
}

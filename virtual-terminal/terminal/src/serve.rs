//! Serving the terminal on a link: the TCP listener (PA00P016 §2.2, §4: raw APDUs back to back;
//! fragmented and coalesced segments both work), the same inside TLS (`serve_tls`) and the loop that runs the state machine on any
//! [`ApduLink`], serial ones included. Several ECRs may connect one after another (or at once);
//! the machine decides which of them owns a running transaction and addresses each output to a
//! connection (`machine::session`); the loop here only routes. Every APDU in both directions and
//! every note of the terminal goes into the engine's journal.

use std::sync::Arc;
use std::time::Duration;

use possim_engine::Engine;
use possim_engine::fault::{FaultAction, FiredFault};
use possim_engine::journal::{Exchange, JournalEntry, ZvtDirection};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::ZvtTerminal;
use crate::link::{ApduLink, FrameVerdict, LinkError, LinkTimers, SerialLink, Spoil, StreamLink};
use crate::machine::Action;

fn record(engine: &Engine, connection: u64, link: &str, direction: ZvtDirection, bytes: &[u8], text: String) {
    let journal = engine.journal();
    if !journal.is_enabled() {
        return;
    }
    journal.record(JournalEntry {
        view: None,
        id: 0,
        provider: "zvt".into(),
        connection,
        at: engine.clock().now_ms(),
        duration_micros: 0,
        fault: None,
        exchange: Exchange::Zvt {
            direction,
            link: link.into(),
            // Class and instruction byte: what the conformance judge matches a command by.
            control: bytes.get(..2).map(possim_zvt::encoding::hex),
            hex: possim_zvt::encoding::hex(bytes),
            text,
        },
    });
}

/// Serves the terminal on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    terminal: ZvtTerminal,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_stream(listener, None, engine, terminal, shutdown).await;
}

/// Serves the terminal over TLS on `listener` until `shutdown` completes: each connection's
/// handshake first (bounded by T3; a failed one is a journal note), then the same link loop,
/// fault rules and journal as on plain TCP (link `tls`).
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: crate::tls::TlsAcceptor,
    engine: Arc<Engine>,
    terminal: ZvtTerminal,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_stream(listener, Some(acceptor), engine, terminal, shutdown).await;
}

/// How long a TLS client may take for its handshake.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(5);

async fn serve_stream(
    listener: TcpListener,
    tls: Option<crate::tls::TlsAcceptor>,
    engine: Arc<Engine>,
    terminal: ZvtTerminal,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let id = engine.next_connection_id();
                    let (engine, terminal) = (Arc::clone(&engine), terminal.clone());
                    match tls.clone() {
                        None => connections.spawn(run_link(StreamLink::new(stream), engine, terminal, id, FaultFeed::Evaluate)),
                        Some(acceptor) => connections.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => {
                                    run_link(StreamLink::tls(stream), engine, terminal, id, FaultFeed::Evaluate).await
                                }
                                Ok(Err(e)) => record(&engine, id, "tls", ZvtDirection::Note, &[], format!("TLS handshake failed: {e}")),
                                Err(_) => record(&engine, id, "tls", ZvtDirection::Note, &[], format!("TLS handshake not done within {HANDSHAKE_LIMIT:?}")),
                            }
                        }),
                    };
                }
                Err(e) => {
                    tracing::warn!("zvt: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Carries out the terminal's actions for this link: sends, the timer, journal notes.
async fn perform<L: ApduLink>(
    actions: Vec<Action>,
    link: &mut L,
    engine: &Engine,
    id: u64,
    deadline: &mut Option<Instant>,
) -> Result<(), LinkError> {
    for action in actions {
        match action {
            Action::Send(apdu) => {
                let bytes = apdu.encode();
                if let Some(fired) = pt_fault(engine, &bytes)
                    && let FaultEffect::Close = apply_pt_fault(&fired, link, engine, id).await
                {
                    return Err(LinkError::Io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "closed by a fault rule",
                    )));
                }
                record(
                    engine,
                    id,
                    link.kind(),
                    ZvtDirection::PtToEcr,
                    &bytes,
                    possim_zvt::describe(&bytes),
                );
                let sent = link.send(&bytes).await;
                record_notes(engine, id, link);
                sent?;
            }
            Action::Arm(ms) => *deadline = Some(Instant::now() + Duration::from_millis(ms)),
            Action::Disarm => *deadline = None,
            Action::Note(text) => record(engine, id, link.kind(), ZvtDirection::Note, &[], text),
        }
    }
    Ok(())
}

fn record_notes<L: ApduLink>(engine: &Engine, id: u64, link: &mut L) {
    for note in link.take_notes() {
        record(engine, id, link.kind(), ZvtDirection::Note, &[], note);
    }
}

/// The fault rule that fired for each frame the serial link accepted, in order.
type FaultQueue = Arc<std::sync::Mutex<std::collections::VecDeque<Option<FiredFault>>>>;

/// Where `run_link` learns which fault rule fired for a received command.
#[derive(Debug)]
pub enum FaultFeed {
    /// Ask the engine's rules (TCP).
    Evaluate,
    /// The serial link asked already; one entry per accepted frame.
    Queue(FaultQueue),
}

/// The fault rule for a ZVT message: provider `zvt`; method `ZVT` for what the ECR sent,
/// `ZVT-PT` for what the terminal sends; path = the control field (`06 01`); body = the APDU in
/// upper-case hex.
fn zvt_rule(engine: &Engine, method: &str, apdu: &[u8]) -> Option<FiredFault> {
    if apdu.len() < 2 {
        return None;
    }
    let path = format!("{:02X} {:02X}", apdu[0], apdu[1]);
    let hex = possim_zvt::encoding::hex(apdu).replace(' ', "");
    engine.faults().evaluate(&possim_engine::fault::RequestView {
        provider: "zvt",
        method,
        path: &path,
        query: "",
        body: hex.as_bytes(),
    })
}

fn zvt_fault(engine: &Engine, apdu: &[u8]) -> Option<FiredFault> {
    zvt_rule(engine, "ZVT", apdu)
}

fn pt_fault(engine: &Engine, apdu: &[u8]) -> Option<FiredFault> {
    zvt_rule(engine, "ZVT-PT", apdu)
}

/// Carries out a rule on a message the terminal is about to send: `delayMs` sends it late;
/// `malform` sends its first serial attempt with a wrong CRC, `close` loses the first serial
/// attempt (the terminal repeats after T2) or, on TCP, closes the connection instead.
async fn apply_pt_fault<L: ApduLink>(fired: &FiredFault, link: &mut L, engine: &Engine, id: u64) -> FaultEffect {
    let name = fault_name(fired);
    let kind = link.kind();
    let note = |text: String| record(engine, id, kind, ZvtDirection::Note, &[], text);
    if let Some(ms) = fired.delay_ms {
        note(format!("fault {name}: the terminal's message goes out {ms} ms late"));
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    match &fired.action {
        FaultAction::Malform if link.spoil_next_frame(Spoil::BadCrc) => {
            note(format!("fault {name}: wrong CRC on the first attempt"))
        }
        FaultAction::Close if link.spoil_next_frame(Spoil::Drop) => {
            note(format!("fault {name}: first attempt lost on the line"))
        }
        FaultAction::Close => {
            note(format!("fault {name}: closing the link instead of sending"));
            return FaultEffect::Close;
        }
        FaultAction::Delay => {}
        other => note(format!(
            "fault {name}: `{}` has no meaning for the terminal's messages here",
            other.kind()
        )),
    }
    FaultEffect::Process
}

fn fault_name(fired: &FiredFault) -> String {
    fired.name.clone().unwrap_or_else(|| format!("rule {}", fired.rule))
}

/// What a fired rule makes the terminal do with the command it matched.
enum FaultEffect {
    /// Process it (after the rule's delay and extra message, if any).
    Process,
    /// Do not process it; on TCP close the connection.
    Close,
}

/// Carries out a fired rule before the command is processed: `delayMs` holds it back (the
/// acknowledgement comes late), `respond` with a hex string `body` sends that APDU first (an
/// unexpected extra message), `close` drops the command (TCP: closes the connection).
async fn apply_fault<L: ApduLink>(fired: &FiredFault, link: &mut L, engine: &Engine, id: u64) -> FaultEffect {
    let name = fault_name(fired);
    let kind = link.kind();
    let note = |text: String| record(engine, id, kind, ZvtDirection::Note, &[], text);
    if let Some(ms) = fired.delay_ms {
        note(format!("fault {name}: holding the command back {ms} ms"));
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    match &fired.action {
        FaultAction::Close => {
            note(format!("fault {name}: dropping the command and closing the link"));
            return FaultEffect::Close;
        }
        FaultAction::Respond { body, .. } => {
            let bytes = body
                .as_ref()
                .and_then(serde_json::Value::as_str)
                .and_then(|text| possim_zvt::encoding::parse_hex(text).ok());
            match bytes {
                Some(bytes) => {
                    note(format!("fault {name}: an unexpected message first"));
                    record(
                        engine,
                        id,
                        kind,
                        ZvtDirection::PtToEcr,
                        &bytes,
                        possim_zvt::describe(&bytes),
                    );
                    let _ = link.send(&bytes).await;
                    // The ECR acknowledges the extra message; that acknowledgement belongs to the
                    // fault, not to the transaction (T3 bounds the wait).
                    match tokio::time::timeout(Duration::from_secs(5), link.recv()).await {
                        Ok(Ok(Some(answer))) => {
                            record(
                                engine,
                                id,
                                kind,
                                ZvtDirection::EcrToPt,
                                &answer,
                                possim_zvt::describe(&answer),
                            );
                            if !matches!(answer.first(), Some(0x80 | 0x84)) {
                                note(format!(
                                    "fault {name}: the ECR answered the extra message with a command; dropped"
                                ));
                            }
                        }
                        _ => note(format!("fault {name}: no acknowledgement of the extra message")),
                    }
                }
                None => note(format!(
                    "fault {name}: `respond` needs `body` = an APDU as a hex string"
                )),
            }
        }
        FaultAction::Delay => {}
        other => note(format!(
            "fault {name}: `{}` has no meaning for this ZVT link",
            other.kind()
        )),
    }
    FaultEffect::Process
}

/// Serves the terminal on one link until the peer closes it (TCP) or the link fails. A serial
/// link whose peer stops acknowledging is not closed: the transaction is abandoned (and an
/// unacknowledged payment reversed), and the terminal waits for the next command.
pub async fn run_link<L: ApduLink>(
    mut link: L,
    engine: Arc<Engine>,
    terminal: ZvtTerminal,
    id: u64,
    faults: FaultFeed,
) {
    let mut deadline: Option<Instant> = None;
    let wake = terminal.clone();
    // A quirk profile's connect banner (the Yomani's): before any ZVT, on TCP and TLS only.
    let banner = terminal.lock().terminal.connect_banner();
    if let Some(banner) = banner.filter(|_| link.kind() != "serial") {
        let text = format!(
            "connect banner (quirk profile): {}",
            possim_zvt::encoding::escape_text(banner.get(4..).unwrap_or_default())
        );
        record(&engine, id, link.kind(), ZvtDirection::PtToEcr, &banner, text);
        if link.send(&banner).await.is_err() {
            return;
        }
    }
    loop {
        // Registered before the pending check, so an operator action between the two still
        // wakes this loop.
        let woken = wake.wake().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let (pending, dle_ack) = {
            let mut shared = terminal.lock();
            (shared.take_pending(id), shared.terminal.quirks().dle_ack)
        };
        link.set_dle_ack(dle_ack);
        if !pending.is_empty() {
            if perform(pending, &mut link, &engine, id, &mut deadline).await.is_err() {
                break;
            }
            continue;
        }
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let outputs = tokio::select! {
            () = &mut woken => Vec::new(),
            received = link.recv() => {
                record_notes(&engine, id, &mut link);
                let bytes = match received {
                    Ok(Some(bytes)) => bytes,
                    Ok(None) => break,
                    Err(e) => {
                        // On TCP there are no frame markers: after a bad length nothing can be
                        // trusted, so the connection ends.
                        record(&engine, id, link.kind(), ZvtDirection::Note, &[], format!("closing: {e}"));
                        break;
                    }
                };
                record(&engine, id, link.kind(), ZvtDirection::EcrToPt, &bytes, possim_zvt::describe(&bytes));
                let fired = match &faults {
                    FaultFeed::Evaluate => zvt_fault(&engine, &bytes),
                    FaultFeed::Queue(queue) => queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front().flatten(),
                };
                if let Some(fired) = fired
                    && let FaultEffect::Close = apply_fault(&fired, &mut link, &engine, id).await
                {
                    if link.kind() != "serial" {
                        break;
                    }
                    continue;
                }
                // The machine decides who owns the terminal and whom each answer is for (an
                // abort from a second ECR ends the owner's transaction); this loop only routes.
                let now = engine.clock().now_ms();
                let mut shared = terminal.lock();
                let outputs = shared.terminal.on_apdu(id, &bytes, now);
                let (mine, posted) = shared.route(outputs, Some(id));
                drop(shared);
                if posted {
                    terminal.wake().notify_waiters();
                }
                mine
            }
            () = timer => {
                deadline = None;
                let now = engine.clock().now_ms();
                let mut shared = terminal.lock();
                let outputs = shared.terminal.on_timer(id, now);
                shared.route(outputs, Some(id)).0
            }
        };
        match perform(outputs, &mut link, &engine, id, &mut deadline).await {
            Ok(()) => {}
            Err(LinkError::NoAck { attempts }) => {
                record(
                    &engine,
                    id,
                    link.kind(),
                    ZvtDirection::Note,
                    &[],
                    format!("transmission error: no ACK after {attempts} attempts"),
                );
                deadline = None;
                for text in terminal_disconnect(&terminal, id) {
                    record(&engine, id, link.kind(), ZvtDirection::Note, &[], text);
                }
            }
            Err(_) => break,
        }
    }
    for text in terminal_disconnect(&terminal, id) {
        record(&engine, id, link.kind(), ZvtDirection::Note, &[], text);
    }
    // Nothing will carry out what still waits for this link.
    terminal.lock().take_pending(id);
}

/// The link of connection `id` is gone (or abandoned its transaction): the machine's notes.
fn terminal_disconnect(terminal: &ZvtTerminal, id: u64) -> Vec<String> {
    let mut shared = terminal.lock();
    let outputs = shared.terminal.disconnected(id);
    // A command another ECR sent meanwhile may run now: its answers go to its own link.
    let (mine, posted) = shared.route(outputs, Some(id));
    drop(shared);
    if posted {
        terminal.wake().notify_waiters();
    }
    mine.into_iter()
        .filter_map(|action| match action {
            Action::Note(text) => Some(text),
            _ => None,
        })
        .collect()
}

/// Serves the terminal on a serial byte stream — the pseudo-terminal's master side or a real
/// device — until `shutdown` completes or the device fails.
pub async fn serve_serial<S>(
    io: S,
    timers: LinkTimers,
    engine: Arc<Engine>,
    terminal: ZvtTerminal,
    shutdown: impl std::future::Future<Output = ()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let id = engine.next_connection_id();
    // The rules are asked once per frame, in the link layer (a `malform` must turn into a NAK
    // before the ACK goes out); every other decision travels to `run_link` in frame order.
    let queue = FaultQueue::default();
    let (faults_engine, frames) = (Arc::clone(&engine), Arc::clone(&queue));
    let link = SerialLink::new(io, timers).with_frame_fault(Box::new(move |apdu: &[u8]| {
        let fired = zvt_fault(&faults_engine, apdu);
        let verdict = match &fired {
            Some(f) if f.action == FaultAction::Malform => return FrameVerdict::Nak(fault_name(f)),
            // On the serial line a delay holds the ACK back (past T2 the ECR repeats the frame).
            Some(f) if f.action == FaultAction::Delay && f.delay_ms.is_some() => {
                FrameVerdict::DelayAck(f.delay_ms.unwrap_or(0), fault_name(f))
            }
            _ => FrameVerdict::Accept,
        };
        let forwarded = if matches!(verdict, FrameVerdict::DelayAck(..)) {
            None
        } else {
            fired
        };
        frames.lock().unwrap_or_else(|p| p.into_inner()).push_back(forwarded);
        verdict
    }));
    tokio::select! {
        () = run_link(link, engine, terminal, id, FaultFeed::Queue(queue)) => tracing::warn!("zvt: the serial link ended"),
        () = shutdown => {}
    }
}

/// Opens a real serial device for the terminal: 9600 baud, 8 data bits, no parity, 2 stop bits
/// (PA00P016 §3.1), no flow control.
pub fn open_device(path: &str) -> std::io::Result<tokio_serial::SerialStream> {
    let port = tokio_serial::new(path, 9600)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::Two)
        .flow_control(tokio_serial::FlowControl::None);
    tokio_serial::SerialStream::open(&port).map_err(std::io::Error::from)
}

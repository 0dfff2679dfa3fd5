//! The TCP link (PA00P016 §2.2, §4): raw APDUs back to back, no framing. Reads are fed to an
//! [`ApduStream`], so fragmented and coalesced segments both work. Several ECRs may connect one
//! after another (or at once); only the one that started a transaction talks to it until it ends,
//! as on a real terminal. Every APDU in both directions and every note of the terminal goes into
//! the engine's journal.

use std::sync::Arc;
use std::time::Duration;

use possim_engine::Engine;
use possim_engine::journal::{Exchange, JournalEntry};
use possim_zvt::ApduStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::ZvtTerminal;
use crate::machine::Output;

fn record(engine: &Engine, connection: u64, direction: &str, bytes: &[u8], text: String) {
    let journal = engine.journal();
    if !journal.is_enabled() {
        return;
    }
    journal.record(JournalEntry {
        id: 0,
        provider: "zvt".into(),
        connection,
        at: engine.clock().now_ms(),
        duration_micros: 0,
        fault: None,
        exchange: Exchange::Zvt {
            direction: direction.into(),
            link: "tcp".into(),
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
    let mut shutdown = std::pin::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let id = engine.next_connection_id();
                    connections.spawn(connection(stream, Arc::clone(&engine), terminal.clone(), id));
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

/// Runs the terminal's outputs: writes, the timer, journal notes.
async fn perform(
    outputs: Vec<Output>,
    stream: &mut TcpStream,
    engine: &Engine,
    id: u64,
    deadline: &mut Option<Instant>,
) -> std::io::Result<()> {
    for output in outputs {
        match output {
            Output::Send(bytes) => {
                record(engine, id, "pt-to-ecr", &bytes, possim_zvt::describe(&bytes));
                stream.write_all(&bytes).await?;
            }
            Output::Arm(ms) => *deadline = Some(Instant::now() + Duration::from_millis(ms)),
            Output::Disarm => *deadline = None,
            Output::Note(text) => record(engine, id, "note", &[], text),
        }
    }
    Ok(())
}

async fn connection(mut stream: TcpStream, engine: Arc<Engine>, terminal: ZvtTerminal, id: u64) {
    let mut decoder = ApduStream::new();
    let mut buf = [0u8; 4096];
    let mut deadline: Option<Instant> = None;
    loop {
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let outputs = tokio::select! {
            read = stream.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                decoder.push(&buf[..n]);
                let mut outputs = Vec::new();
                while let Some(next) = decoder.next_apdu() {
                    let apdu = match next {
                        Ok(apdu) => apdu,
                        Err(e) => {
                            // No frame markers on TCP: after a bad length nothing can be trusted.
                            record(&engine, id, "note", &[], format!("closing: {e}"));
                            let _ = perform(terminal_disconnect(&terminal, id), &mut stream, &engine, id, &mut deadline).await;
                            return;
                        }
                    };
                    let bytes = apdu.encode();
                    record(&engine, id, "ecr-to-pt", &bytes, possim_zvt::describe(&bytes));
                    let now = engine.clock().now_ms();
                    let mut shared = terminal.lock();
                    match shared.owner {
                        Some(owner) if owner != id && shared.terminal.busy() => {
                            // Another ECR's transaction is running: one at a time.
                            outputs.push(Output::Note("refused: another ECR's transaction is running".into()));
                            outputs.push(Output::Send(vec![0x84, crate::machine::rc::NOT_POSSIBLE, 0x00]));
                        }
                        _ => {
                            let produced = shared.terminal.on_apdu(&bytes, now);
                            shared.owner = shared.terminal.busy().then_some(id);
                            outputs.extend(produced);
                        }
                    }
                }
                outputs
            }
            () = timer => {
                deadline = None;
                let now = engine.clock().now_ms();
                let mut shared = terminal.lock();
                if shared.owner == Some(id) {
                    let produced = shared.terminal.on_timer(now);
                    if !shared.terminal.busy() {
                        shared.owner = None;
                    }
                    produced
                } else {
                    Vec::new()
                }
            }
        };
        if perform(outputs, &mut stream, &engine, id, &mut deadline).await.is_err() {
            break;
        }
    }
    let outputs = terminal_disconnect(&terminal, id);
    for output in outputs {
        if let Output::Note(text) = output {
            record(&engine, id, "note", &[], text);
        }
    }
}

fn terminal_disconnect(terminal: &ZvtTerminal, id: u64) -> Vec<Output> {
    let mut shared = terminal.lock();
    if shared.owner == Some(id) {
        shared.owner = None;
        shared.terminal.disconnected()
    } else {
        Vec::new()
    }
}

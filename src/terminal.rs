//! The virtual ZVT terminal's registry entry. The terminal is more than an HTTP mock: it serves
//! APDUs on TCP (printed as `zvt-tcp host:port`, announced as `zvt` → `tcp://host:port`), on a
//! serial link (a pseudo-terminal or a real device, `zvt-serial <path>`), optionally over TLS
//! (`--zvt-tls`, printed as `zvt-tls host:port`, announced as `zvt-tls` → `tls://host:port`, with
//! the test certificate of `mocks/datasets/zvt-tls/`), and it books Austrian PAYBACK redemptions
//! at the PAYBACK mock through `src/payback_host.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::registry::{Build, Listening, Mount, Serving};

/// Where the terminal's serial link is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZvtSerial {
    /// No serial link.
    Off,
    /// A new pseudo-terminal; its slave path is printed and, if given, linked at `link`.
    Pty {
        /// A symlink kept pointing at the slave path (e.g. `./possim-zvt.tty`).
        link: Option<PathBuf>,
    },
    /// A real serial device, e.g. `/dev/ttyUSB0`.
    Device(String),
}

/// The test CA of the TLS listener (`mocks/datasets/zvt-tls/`, regenerated with its `gen.sh`):
/// the reference ECR trusts it by default, and client certificates it signed are accepted.
pub const TEST_CA_PEM: &str = include_str!("../mocks/datasets/zvt-tls/ca.pem");
/// The terminal's server certificate (localhost, 127.0.0.1, ::1), signed by the test CA.
const SERVER_PEM: &str = include_str!("../mocks/datasets/zvt-tls/server.pem");
const SERVER_KEY_PEM: &str = include_str!("../mocks/datasets/zvt-tls/server.key");

/// The registry's factory: the terminal, wired to the PAYBACK mock when one was built before it.
pub fn build(b: &mut Build<'_>) -> anyhow::Result<Mount> {
    let terminal = possim_terminal::ZvtTerminal::with_clock(b.engine.clock());
    if let Some(payback) = b.shared.get::<possim_payback::PaybackMock>() {
        // The terminal books PAYBACK redemptions (Austria) at the PAYBACK mock, in-process.
        terminal.set_payback_host(Arc::new(crate::payback_host::MockHost::new(
            payback.clone(),
            Arc::clone(b.engine),
        )));
    }
    b.register(Arc::new(terminal.clone()))?;
    // Bound here, beside the plain listener the registry binds, so a taken port fails the start.
    let tls = match b.options.zvt_tls {
        Some(addr) => {
            let listener = std::net::TcpListener::bind(addr).with_context(|| {
                format!("zvt-tls: cannot listen on {addr} (use --zvt-tls 127.0.0.1:0 for a free port)")
            })?;
            listener.set_nonblocking(true)?;
            let acceptor = possim_terminal::tls::acceptor(SERVER_PEM, SERVER_KEY_PEM, TEST_CA_PEM)
                .context("zvt-tls: the built-in test certificate")?;
            Some((listener, acceptor))
        }
        None => None,
    };
    Ok(Mount::Custom(Box::new(Terminal {
        terminal,
        serial: b.options.zvt_serial.clone(),
        tls,
    })))
}

/// The built terminal, waiting for its TCP listener.
struct Terminal {
    terminal: possim_terminal::ZvtTerminal,
    serial: ZvtSerial,
    tls: Option<(std::net::TcpListener, possim_terminal::tls::TlsAcceptor)>,
}

impl std::fmt::Debug for Terminal {
    // The TLS acceptor has no Debug; its listener's address says enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("terminal", &self.terminal)
            .field("serial", &self.serial)
            .field(
                "tls",
                &self.tls.as_ref().map(|(listener, _)| listener.local_addr().ok()),
            )
            .finish()
    }
}

impl Listening for Terminal {
    fn start(self: Box<Self>, listener: TcpListener, serving: &mut Serving<'_>) -> anyhow::Result<()> {
        let Terminal { terminal, serial, tls } = *self;
        let engine = Arc::clone(serving.engine);
        let addr = listener.local_addr()?.to_string();
        serving.announce("zvt", &format!("tcp://{addr}"), "zvt-tcp", &addr);
        let stopped = serving.stopped();
        serving.tasks.spawn(possim_terminal::serve::serve(
            listener,
            Arc::clone(&engine),
            terminal.clone(),
            stopped,
        ));
        if let Some((listener, acceptor)) = tls {
            let listener = TcpListener::from_std(listener)?;
            let addr = listener.local_addr()?.to_string();
            serving.announce("zvt-tls", &format!("tls://{addr}"), "zvt-tls", &addr);
            serving.tasks.spawn(possim_terminal::serve::serve_tls(
                listener,
                acceptor,
                Arc::clone(&engine),
                terminal.clone(),
                serving.stopped(),
            ));
        }
        let timers = possim_terminal::link::LinkTimers::default();
        match serial {
            ZvtSerial::Off => {}
            ZvtSerial::Pty { link } => {
                // A machine without pseudo-terminals (some containers) still gets every other mock
                // and the TCP terminal; only an explicitly named device is worth failing for.
                let pty = match possim_terminal::pty::Pty::open() {
                    Ok(pty) => pty,
                    Err(e) => {
                        eprintln!("possim: warning: zvt: no pseudo-terminal ({e}); the terminal serves TCP only");
                        return Ok(());
                    }
                };
                let path = pty.slave_path().to_owned();
                if let Some(link) = &link {
                    replace_symlink(link, &path)?;
                }
                let shown = path.display().to_string();
                serving.announce("zvt-serial", &shown, "zvt-serial", &shown);
                let (master, slave) = pty.into_master();
                let stop = serving.stopped();
                serving.tasks.spawn(async move {
                    possim_terminal::serve::serve_serial(master, timers, engine, terminal, stop).await;
                    drop(slave);
                    // Leave no dangling link behind, but never remove one a newer run re-pointed.
                    if let Some(link) = link
                        && std::fs::read_link(&link).is_ok_and(|t| t == path)
                    {
                        let _ = std::fs::remove_file(&link);
                    }
                });
            }
            ZvtSerial::Device(device) => {
                let port = possim_terminal::serve::open_device(&device)
                    .with_context(|| format!("zvt: opening the serial device {device}"))?;
                serving.announce("zvt-serial", &device, "zvt-serial", &device);
                let stop = serving.stopped();
                serving.tasks.spawn(possim_terminal::serve::serve_serial(
                    port, timers, engine, terminal, stop,
                ));
            }
        }
        Ok(())
    }
}

/// Points `link` at `target`, replacing an earlier symlink (from a previous run) but never a
/// regular file.
fn replace_symlink(link: &Path, target: &Path) -> anyhow::Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(link) {
        if !meta.file_type().is_symlink() {
            anyhow::bail!("zvt: {} exists and is not a symlink; not replacing it", link.display());
        }
        std::fs::remove_file(link).with_context(|| format!("zvt: removing the old {}", link.display()))?;
    }
    std::os::unix::fs::symlink(target, link).with_context(|| format!("zvt: creating the symlink {}", link.display()))
}

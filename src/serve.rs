//! Starting the mocks: the engine, every provider and the admin API on their listeners. Used by
//! `possim serve` (which prints the endpoints and waits for a signal) and by `possim certify` and
//! `possim record` (which start everything in-process on free ports and stop it afterwards).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use possim_engine::dataset::DataSet;
use possim_engine::fault::FaultSpec;
use possim_engine::journal::DEFAULT_CAPACITY;
use possim_engine::provider::Provider;
use possim_engine::{Engine, EngineConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{DEFAULT_ADMIN, DEFAULT_COMPUTOP, DEFAULT_PAYBACK, DEFAULT_TYRIOS, DEFAULT_ZVT};
use crate::datasets;

/// What to start.
#[derive(Debug)]
pub struct LaunchOptions {
    /// Data set loaded at start and on every reset.
    pub data: DataSet,
    /// Frozen clock, epoch milliseconds.
    pub clock_override: Option<i64>,
    /// Admin API address.
    pub admin: SocketAddr,
    /// TYRIOS eCash address.
    pub tyrios: SocketAddr,
    /// Computop Paygate address.
    pub computop: SocketAddr,
    /// PAYBACK loyalty address.
    pub payback: SocketAddr,
    /// ZVT terminal TCP address.
    pub zvt: SocketAddr,
    /// ZVT terminal serial link.
    pub zvt_serial: ZvtSerial,
    /// Faults armed at start.
    pub faults: Vec<FaultSpec>,
    /// Journal ring size.
    pub journal_capacity: usize,
    /// Journal on from the start.
    pub journal_enabled: bool,
    /// `--strict`: the Computop mock enforces the seed's callback rule.
    pub strict: bool,
}

impl LaunchOptions {
    /// Everything on 127.0.0.1 with free ports and the `default` data set: the in-process mocks
    /// of `possim certify` and `possim record`.
    pub fn ephemeral() -> anyhow::Result<Self> {
        let free = |mut addr: SocketAddr| {
            addr.set_port(0);
            addr
        };
        Ok(Self {
            data: datasets::resolve("default")?,
            clock_override: None,
            admin: free(DEFAULT_ADMIN),
            tyrios: free(DEFAULT_TYRIOS),
            computop: free(DEFAULT_COMPUTOP),
            payback: free(DEFAULT_PAYBACK),
            zvt: free(DEFAULT_ZVT),
            // A pty without a symlink: the serial scenarios of the zvt-ecr suite need the line,
            // and parallel runs must not fight over one ./possim-zvt.tty.
            zvt_serial: ZvtSerial::Pty { link: None },
            faults: Vec::new(),
            journal_capacity: DEFAULT_CAPACITY,
            journal_enabled: true,
            strict: false,
        })
    }
}

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

/// The running mocks.
#[derive(Debug)]
pub struct Running {
    /// Admin API base URL.
    pub admin_url: String,
    /// Provider endpoints by the names the admin API announces them under (`zvt` is
    /// `tcp://host:port`, `zvt-serial` the pty path): what drivers hand to a POS.
    pub provider_urls: std::collections::BTreeMap<String, String>,
    /// `(name, base URL)` of every provider endpoint, in start order.
    pub endpoints: Vec<(String, String)>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Running {
    /// Stops every listener and waits until their tasks ended.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn bind(addr: SocketAddr, service: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{service}: cannot listen on {addr} (is another possim running? use --{service} 127.0.0.1:0 for a free port)"))
}

/// Builds the engine, binds every listener and starts serving.
pub async fn launch(options: LaunchOptions) -> anyhow::Result<Running> {
    let engine = Engine::new(EngineConfig {
        data: options.data,
        clock_override: options.clock_override,
        journal_capacity: options.journal_capacity,
        journal_enabled: options.journal_enabled,
        resolver: Box::new(datasets::resolve),
    })?;
    let tyrios: Arc<dyn Provider> = Arc::new(possim_tyrios::TyriosMock::new(engine.clock()));
    engine
        .add_provider(Arc::clone(&tyrios))
        .context("loading the data set into the TYRIOS mock")?;
    let computop_mock = possim_computop::ComputopMock::new(engine.clock());
    computop_mock.attach(&engine);
    computop_mock.set_strict_callbacks(options.strict);
    let computop: Arc<dyn Provider> = Arc::new(computop_mock);
    engine
        .add_provider(Arc::clone(&computop))
        .context("loading the data set into the Computop mock")?;
    let payback_mock = possim_payback::PaybackMock::new(engine.clock());
    let payback: Arc<dyn Provider> = Arc::new(payback_mock.clone());
    engine
        .add_provider(Arc::clone(&payback))
        .context("loading the data set into the PAYBACK mock")?;
    let terminal = possim_terminal::ZvtTerminal::with_clock(engine.clock());
    // The terminal books PAYBACK redemptions (Austria) at the PAYBACK mock, in-process.
    terminal.set_payback_host(Arc::new(crate::payback_host::MockHost::new(
        payback_mock,
        Arc::clone(&engine),
    )));
    engine
        .add_provider(Arc::new(terminal.clone()))
        .context("loading the data set into the ZVT terminal")?;
    engine.faults().arm_all(options.faults).context("arming the faults")?;

    let admin_listener = bind(options.admin, "admin").await?;
    let tyrios_listener = bind(options.tyrios, "tyrios").await?;
    let computop_listener = bind(options.computop, "computop").await?;
    let payback_listener = bind(options.payback, "payback").await?;
    let zvt_listener = bind(options.zvt, "zvt").await?;
    let (stop, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let mut tasks = tokio::task::JoinSet::new();
    let admin_url = format!("http://{}", admin_listener.local_addr()?);
    let tyrios_url = format!("http://{}", tyrios_listener.local_addr()?);
    let computop_url = format!("http://{}", computop_listener.local_addr()?);
    let payback_url = format!("http://{}", payback_listener.local_addr()?);
    engine.set_endpoint("computop", &computop_url);
    engine.set_endpoint("tyrios", &tyrios_url);
    engine.set_endpoint("payback", &payback_url);
    let zvt_addr = zvt_listener.local_addr()?.to_string();
    engine.set_endpoint("zvt", &format!("tcp://{zvt_addr}"));
    // The web console lives beside the admin API, at `/` (possim-console).
    let admin_router = possim_engine::admin::router(Arc::clone(&engine))
        .merge(possim_console::router(Arc::clone(&engine), stop_rx.clone()));
    let admin_stop = stopped(stop_rx.clone());
    tasks.spawn(async move {
        if let Err(e) = axum::serve(admin_listener, admin_router)
            .with_graceful_shutdown(admin_stop)
            .await
        {
            tracing::error!("admin API stopped: {e}");
        }
    });
    tasks.spawn(possim_engine::http::serve_provider(
        tyrios_listener,
        Arc::clone(&engine),
        tyrios,
        stopped(stop_rx.clone()),
    ));
    tasks.spawn(possim_engine::http::serve_provider(
        computop_listener,
        Arc::clone(&engine),
        computop,
        stopped(stop_rx.clone()),
    ));
    tasks.spawn(possim_engine::http::serve_provider(
        payback_listener,
        Arc::clone(&engine),
        payback,
        stopped(stop_rx.clone()),
    ));
    tasks.spawn(possim_terminal::serve::serve(
        zvt_listener,
        Arc::clone(&engine),
        terminal.clone(),
        stopped(stop_rx.clone()),
    ));
    let mut endpoints = vec![
        ("tyrios".to_owned(), tyrios_url),
        ("computop".to_owned(), computop_url),
        ("payback".to_owned(), payback_url),
        ("zvt-tcp".to_owned(), zvt_addr),
    ];
    let timers = possim_terminal::link::LinkTimers::default();
    match options.zvt_serial {
        ZvtSerial::Off => {}
        ZvtSerial::Pty { link } => 'pty: {
            // A machine without pseudo-terminals (some containers) still gets every other mock
            // and the TCP terminal; only an explicitly named device is worth failing for.
            let pty = match possim_terminal::pty::Pty::open() {
                Ok(pty) => pty,
                Err(e) => {
                    eprintln!("possim: warning: zvt: no pseudo-terminal ({e}); the terminal serves TCP only");
                    break 'pty;
                }
            };
            let path = pty.slave_path().to_owned();
            if let Some(link) = &link {
                replace_symlink(link, &path)?;
            }
            engine.set_endpoint("zvt-serial", &path.display().to_string());
            endpoints.push(("zvt-serial".to_owned(), path.display().to_string()));
            let (master, slave) = pty.into_master();
            let (engine, terminal, stop) = (Arc::clone(&engine), terminal.clone(), stopped(stop_rx.clone()));
            tasks.spawn(async move {
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
            engine.set_endpoint("zvt-serial", &device);
            endpoints.push(("zvt-serial".to_owned(), device));
            tasks.spawn(possim_terminal::serve::serve_serial(
                port,
                timers,
                Arc::clone(&engine),
                terminal.clone(),
                stopped(stop_rx.clone()),
            ));
        }
    }
    Ok(Running {
        admin_url,
        provider_urls: engine.endpoints(),
        endpoints,
        stop,
        tasks,
    })
}

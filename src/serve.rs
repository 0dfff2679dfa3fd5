//! Starting the mocks: the engine, every provider and the admin API on their listeners. Used by
//! `possim serve` (which prints the endpoints and waits for a signal) and by `possim certify` and
//! `possim record` (which start everything in-process on free ports and stop it afterwards).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use possim_engine::dataset::DataSet;
use possim_engine::fault::FaultSpec;
use possim_engine::journal::{DEFAULT_CAPACITY, DEFAULT_MAX_BYTES};
use possim_engine::{Engine, EngineConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::DEFAULT_ADMIN;
use crate::datasets;
use crate::registry::{self, Build, PROVIDERS, Serving};
pub use crate::terminal::ZvtSerial;

/// What to start.
#[derive(Debug)]
pub struct LaunchOptions {
    /// Data set loaded at start and on every reset.
    pub data: DataSet,
    /// Frozen clock, epoch milliseconds.
    pub clock_override: Option<i64>,
    /// Admin API address.
    pub admin: SocketAddr,
    /// Listen address by provider name (the registry's names); a provider not named listens at
    /// its `default_listen`.
    pub listen: BTreeMap<String, SocketAddr>,
    /// ZVT terminal serial link.
    pub zvt_serial: ZvtSerial,
    /// ZVT terminal TLS listener beside the plain one (`--zvt-tls`), off when `None`.
    pub zvt_tls: Option<SocketAddr>,
    /// Faults armed at start.
    pub faults: Vec<FaultSpec>,
    /// Journal ring size.
    pub journal_capacity: usize,
    /// Journal on from the start.
    pub journal_enabled: bool,
    /// Journal byte budget.
    pub journal_max_bytes: usize,
    /// Replaces the data sets' `[retention]`.
    pub retention: Option<possim_engine::retention::Retention>,
    /// `--strict`: the Computop mock enforces the seed's callback rule; every Loymax device
    /// enforces the schema order.
    pub strict: bool,
    /// `--admin-token`: the bearer token the admin API requires; mandatory when the admin API
    /// listens on anything but loopback.
    pub admin_token: Option<String>,
    /// `--allow-self-calls`: providers may call out to possim's own listeners.
    pub allow_self_calls: bool,
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
            listen: PROVIDERS
                .iter()
                .map(|p| (p.name.to_owned(), free(p.default_listen)))
                .collect(),
            // A pty without a symlink: the serial scenarios of the zvt-ecr suite need the line,
            // and parallel runs must not fight over one ./possim-zvt.tty.
            zvt_serial: ZvtSerial::Pty { link: None },
            zvt_tls: None,
            faults: Vec::new(),
            journal_capacity: DEFAULT_CAPACITY,
            journal_enabled: true,
            journal_max_bytes: DEFAULT_MAX_BYTES,
            retention: None,
            strict: false,
            admin_token: None,
            allow_self_calls: false,
        })
    }

    /// Where `name` listens.
    fn listen_addr(&self, spec: &registry::ProviderSpec) -> SocketAddr {
        self.listen.get(spec.name).copied().unwrap_or(spec.default_listen)
    }
}

/// The running mocks.
#[derive(Debug)]
pub struct Running {
    /// Admin API base URL.
    pub admin_url: String,
    /// Provider endpoints by the names the admin API announces them under (`zvt` is
    /// `tcp://host:port`, `zvt-serial` the pty path): what drivers hand to a POS.
    pub provider_urls: BTreeMap<String, String>,
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

/// The admin API can reset, reload and re-arm everything: off loopback it needs a token.
fn check_admin_access(admin: SocketAddr, token: Option<&str>) -> anyhow::Result<()> {
    match token {
        Some(t) if t.trim().is_empty() => anyhow::bail!("--admin-token: the token must not be empty"),
        Some(_) => Ok(()),
        None if admin.ip().is_loopback() => Ok(()),
        None => anyhow::bail!(
            "the admin API would listen on {admin}, which is not loopback: give --admin-token TOKEN \
             (or [admin] token in the config file); see README, \"Running possim as a shared service\""
        ),
    }
}

/// Builds the engine, builds every provider of the registry on it, binds every listener and
/// starts serving.
pub async fn launch(options: LaunchOptions) -> anyhow::Result<Running> {
    if let Some(unknown) = options
        .listen
        .keys()
        .find(|name| !registry::names().contains(&name.as_str()))
    {
        anyhow::bail!(
            "no provider named {unknown:?} to listen for (known: {})",
            registry::names().join(", ")
        );
    }
    check_admin_access(options.admin, options.admin_token.as_deref())?;
    let engine = Engine::new(EngineConfig {
        data: options.data.clone(),
        clock_override: options.clock_override,
        journal_capacity: options.journal_capacity,
        journal_enabled: options.journal_enabled,
        journal_max_bytes: options.journal_max_bytes,
        retention: options.retention,
        resolver: Box::new(datasets::resolve),
    })?;
    let mut mounts = Vec::with_capacity(PROVIDERS.len());
    let mut build = Build::new(&engine, &options);
    for spec in PROVIDERS {
        mounts.push((spec, registry::build(spec, &mut build)?));
    }
    drop(build);
    engine
        .faults()
        .arm_all(options.faults.clone())
        .context("arming the faults")?;

    let admin_listener = bind(options.admin, "admin").await?;
    let mut listeners = Vec::with_capacity(mounts.len());
    for (spec, _) in &mounts {
        listeners.push(bind(options.listen_addr(spec), spec.name).await?);
    }
    // Outbound calls (Computop's notifies) must not reach any of these.
    engine.self_calls().set_allowed(options.allow_self_calls);
    for listener in std::iter::once(&admin_listener).chain(&listeners) {
        engine.self_calls().add_listener(listener.local_addr()?);
    }
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let admin_url = format!("http://{}", admin_listener.local_addr()?);
    // The web console lives beside the admin API, at `/` (possim-console).
    let admin_router = possim_engine::admin::router_with(Arc::clone(&engine), vec![possim_console::openapi()])
        .merge(possim_console::router(Arc::clone(&engine), stop_rx.clone()));
    let mut admin_stop = stop_rx.clone();
    let admin_token = options.admin_token.clone();
    tasks.spawn(async move {
        let stopped = async move {
            let _ = admin_stop.wait_for(|stop| *stop).await;
        };
        // The same front as the provider ports: time-outs, limits, JSON refusals.
        let access = possim_engine::front::AdminAccess { token: admin_token };
        possim_engine::front::serve_admin(admin_listener, admin_router, access, stopped).await;
    });
    let mut endpoints = Vec::new();
    let mut serving = Serving::new(&engine, &mut tasks, stop_rx, &mut endpoints);
    for ((spec, mount), listener) in mounts.into_iter().zip(listeners) {
        serving.start(spec, mount, listener)?;
    }
    drop(serving);
    Ok(Running {
        admin_url,
        provider_urls: engine.endpoints(),
        endpoints,
        stop,
        tasks,
    })
}

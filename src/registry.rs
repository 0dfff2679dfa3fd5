//! The provider registry: the one list of the mocks `possim` runs. `serve` builds and starts
//! them from it, `certify`/`record` launch them from it, the command line gets a `--<name> ADDR`
//! flag and the config file a `[listen] <name> = "ADDR"` key per entry, the built-in data sets
//! compile in each entry's data file, and the conformance runner accepts golden flows naming
//! exactly these providers.
//!
//! Adding a provider: its crate, one [`ProviderSpec`] in [`PROVIDERS`], its data file in
//! [`data_files!`] and in every built-in set under `mocks/datasets/`, its docs page.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use possim_engine::Engine;
use possim_engine::provider::Provider;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::serve::LaunchOptions;

/// One provider mock as `possim` runs it.
#[derive(Debug)]
pub struct ProviderSpec {
    /// The provider's name: in URLs, the journal, fault rules, golden flows, the `--<name>`
    /// flag and the `[listen]` key (`tyrios`).
    pub name: &'static str,
    /// What people call it, for help texts and error messages (`TYRIOS eCash`).
    pub title: &'static str,
    /// Where it listens unless told otherwise.
    pub default_listen: SocketAddr,
    /// Its file in a data set directory (`tyrios.toml`); also listed in [`data_files!`].
    pub data_file: &'static str,
    /// Builds the provider on the engine (registering it, which loads the data set) and says
    /// how its TCP listener is served.
    pub build: fn(&mut Build<'_>) -> anyhow::Result<Mount>,
}

/// Loopback with `port`.
const fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// Every provider, in start order (also the order of the printed endpoints and of
/// `GET /__admin/health`). A factory may use what an earlier one left in [`Build::shared`].
pub const PROVIDERS: &[ProviderSpec] = &[
    ProviderSpec {
        name: "tyrios",
        title: "TYRIOS eCash",
        default_listen: loopback(7101),
        data_file: "tyrios.toml",
        build: |b| {
            let mock = possim_tyrios::TyriosMock::new(b.engine.clock());
            b.http(Arc::new(mock))
        },
    },
    ProviderSpec {
        name: "computop",
        title: "Computop Paygate (PAYBACK PAY)",
        default_listen: loopback(7102),
        data_file: "computop.toml",
        build: |b| {
            let mock = possim_computop::ComputopMock::new(b.engine.clock());
            mock.attach(b.engine);
            mock.set_strict_callbacks(b.options.strict);
            b.http(Arc::new(mock))
        },
    },
    ProviderSpec {
        name: "payback",
        title: "PAYBACK loyalty",
        default_listen: loopback(7103),
        data_file: "payback.toml",
        build: |b| {
            let mock = possim_payback::PaybackMock::new(b.engine.clock());
            // The terminal books Austrian PAYBACK redemptions on this mock (src/payback_host.rs).
            b.shared.insert(mock.clone());
            b.http(Arc::new(mock))
        },
    },
    ProviderSpec {
        name: "loymax",
        title: "Loymax processing",
        default_listen: loopback(7104),
        data_file: "loymax.toml",
        build: |b| {
            let mock = possim_loymax::LoymaxMock::new(b.engine.clock());
            mock.set_strict(b.options.strict);
            b.http(Arc::new(mock))
        },
    },
    ProviderSpec {
        name: "zvt",
        title: "Virtual ZVT terminal, TCP",
        // The protocol's default port.
        default_listen: loopback(20007),
        data_file: "zvt.toml",
        build: crate::terminal::build,
    },
];

/// Calls `$callback!` with every provider's data file name as a literal (for `include_str!` in
/// `datasets.rs`, which cannot take a `const`). Must list exactly the [`ProviderSpec::data_file`]s
/// (a test checks).
macro_rules! data_files {
    ($callback:ident ! ($($args:tt)*)) => {
        $callback!($($args)* "tyrios.toml", "computop.toml", "payback.toml", "loymax.toml", "zvt.toml")
    };
}
pub(crate) use data_files;

/// [`names`], computed once (the scenario loader borrows it).
pub static NAMES: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(names);

/// Names of every provider, in registry order.
pub fn names() -> Vec<&'static str> {
    PROVIDERS.iter().map(|p| p.name).collect()
}

/// What a factory gets: the engine, the launch options, and what earlier factories shared.
#[derive(Debug)]
pub struct Build<'a> {
    /// The engine the provider is registered with.
    pub engine: &'a Arc<Engine>,
    /// The whole launch configuration (provider switches such as `strict` and `zvt_serial`).
    pub options: &'a LaunchOptions,
    /// Values one factory leaves for a later one, by type (the PAYBACK mock for the terminal's
    /// PAYBACK host). Keeps the factories from knowing each other's crates' internals beyond
    /// the one meeting point they are written for.
    pub shared: axum::http::Extensions,
    /// The name of the provider being built, for error messages.
    name: &'static str,
}

impl<'a> Build<'a> {
    pub(crate) fn new(engine: &'a Arc<Engine>, options: &'a LaunchOptions) -> Self {
        Self {
            engine,
            options,
            shared: axum::http::Extensions::new(),
            name: "",
        }
    }

    /// Registers `provider` with the engine, which loads the data set into it.
    pub fn register(&self, provider: Arc<dyn Provider>) -> anyhow::Result<()> {
        self.engine
            .add_provider(provider)
            .with_context(|| format!("loading the data set into the {} mock", self.name))
    }

    /// Registers an HTTP provider served by the engine's instrumented transport
    /// (`engine::http`), announced and printed as `<name> http://<addr>`.
    pub fn http(&self, provider: Arc<dyn Provider>) -> anyhow::Result<Mount> {
        self.register(Arc::clone(&provider))?;
        Ok(Mount::Http(provider))
    }
}

/// How a built provider serves its bound TCP listener.
#[derive(Debug)]
pub enum Mount {
    /// On the engine's HTTP transport (faults, journal, classification).
    Http(Arc<dyn Provider>),
    /// Its own way (the terminal: APDUs on TCP, plus a serial link).
    Custom(Box<dyn Listening>),
}

/// A provider that serves its listener itself and announces its own endpoints.
pub trait Listening: Send + std::fmt::Debug {
    /// Starts serving `listener` (spawning onto `serving`) and announces every endpoint.
    fn start(self: Box<Self>, listener: TcpListener, serving: &mut Serving<'_>) -> anyhow::Result<()>;
}

/// Where started providers put their tasks and announce their endpoints.
#[derive(Debug)]
pub struct Serving<'a> {
    /// The engine.
    pub engine: &'a Arc<Engine>,
    /// The serving tasks, stopped together.
    pub tasks: &'a mut tokio::task::JoinSet<()>,
    stop: watch::Receiver<bool>,
    endpoints: &'a mut Vec<(String, String)>,
}

impl<'a> Serving<'a> {
    pub(crate) fn new(
        engine: &'a Arc<Engine>,
        tasks: &'a mut tokio::task::JoinSet<()>,
        stop: watch::Receiver<bool>,
        endpoints: &'a mut Vec<(String, String)>,
    ) -> Self {
        Self {
            engine,
            tasks,
            stop,
            endpoints,
        }
    }

    /// Completes when the mocks are told to stop.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// Announces an endpoint to the admin API (`GET /__admin/health`, `name → url`) and prints
    /// it at start-up as the line `<printed_name> <printed_value>`.
    pub fn announce(&mut self, name: &str, url: &str, printed_name: &str, printed_value: &str) {
        self.engine.set_endpoint(name, url);
        self.endpoints.push((printed_name.to_owned(), printed_value.to_owned()));
    }

    /// Starts `spec`'s mount on its bound listener.
    pub(crate) fn start(&mut self, spec: &ProviderSpec, mount: Mount, listener: TcpListener) -> anyhow::Result<()> {
        match mount {
            Mount::Http(provider) => {
                let url = format!("http://{}", listener.local_addr()?);
                self.announce(spec.name, &url, spec.name, &url);
                let task =
                    possim_engine::http::serve_provider(listener, Arc::clone(self.engine), provider, self.stopped());
                self.tasks.spawn(task);
                Ok(())
            }
            Mount::Custom(listening) => listening.start(listener, self),
        }
    }
}

/// Builds `spec` on the engine.
pub(crate) fn build(spec: &ProviderSpec, build: &mut Build<'_>) -> anyhow::Result<Mount> {
    build.name = spec.name;
    (spec.build)(build)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! list {
        ($($file:literal),*) => {
            [$($file),*]
        };
    }

    #[test]
    fn the_data_file_list_is_the_registrys() {
        let listed: Vec<&str> = data_files!(list!()).to_vec();
        let registry: Vec<&str> = PROVIDERS.iter().map(|p| p.data_file).collect();
        assert_eq!(listed, registry);
    }

    #[test]
    fn names_addresses_and_data_files_are_unique() {
        for (i, a) in PROVIDERS.iter().enumerate() {
            for b in &PROVIDERS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.default_listen, b.default_listen);
                assert_ne!(a.data_file, b.data_file);
            }
            // The name is a flag and a config key next to `admin`, `zvt-serial`, `zvt-tty-link`.
            assert!(!["admin", "zvt-serial", "zvt-tty-link", "config", "data"].contains(&a.name));
            assert!(a.name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        }
    }
}

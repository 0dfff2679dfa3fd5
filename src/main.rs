//! `possim`: the protocol simulator and conformance harness for POS payment and loyalty
//! integrations. This binary parses the command line, wires the engine and the provider mocks
//! together, binds the listeners (port 0 picks a free one), prints each endpoint and runs until
//! Ctrl-C or SIGTERM.

mod certify;
mod config;
mod conventions;
mod datasets;
mod payback_host;
mod pos;
mod record_attach;
mod registry;
mod serve;
mod shard;
mod suites;
mod terminal;
mod zvt_cli;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use possim_engine::clock::parse_rfc3339;
use possim_engine::fault::parse_fault_file;
use possim_engine::journal::DEFAULT_CAPACITY;

use crate::config::{DEFAULT_ADMIN, DEFAULT_ZVT_TTY_LINK, FileConfig, parse_addr};

/// The mocks allocate and free many small objects per exchange (XML and JSON trees, journal
/// views); glibc's allocator spent ~40 % of a loaded server's CPU on them (`perf`, the Loymax
/// load bench), mimalloc's thread-local free lists far less (ARCHITECTURE.md, "Measured figures").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "possim",
    version,
    about = "Protocol simulator and conformance harness for POS payment and loyalty integrations",
    after_long_help = conventions::EXIT_CODES_AND_ENVIRONMENT
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the admin API and every provider mock.
    Serve(ServeArgs),
    /// Certify a POS against golden flows: suites, scenario files or directories.
    Certify(certify::CertifyArgs),
    /// Record a golden flow from a POS run (or a running possim's journal).
    Record(certify::RecordArgs),
    /// Reference POS clients (the exec driver's contract: action on stdin, result on stdout).
    #[command(subcommand)]
    Pos(pos::PosCommand),
    /// List the built-in data sets.
    Datasets,
    /// List the built-in conformance suites, or export one (`possim suites export tyrios DIR`).
    Suites {
        #[command(subcommand)]
        command: Option<SuitesCommand>,
    },
    /// Work with run reports: merge the reports of `certify --shard` jobs into one.
    #[command(subcommand)]
    Report(ReportCommand),
    /// ZVT tools: decode APDUs, and act as a cash register towards a terminal.
    Zvt(ZvtArgs),
    /// Print a shell completion script (e.g. `possim completions bash > possim.bash`).
    Completions {
        /// The shell.
        shell: conventions::Shell,
    },
    /// Print the man page (roff), e.g. `possim man > possim.1 && man ./possim.1`.
    Man,
    /// Print a JSON Schema: golden flow files, the driver's action, the POS's result line.
    Schema {
        /// Which file or line.
        kind: conventions::SchemaKind,
    },
}

#[derive(Debug, Subcommand)]
enum SuitesCommand {
    /// Write a built-in suite (suite.toml, its flows and their data) into DIR, to read or extend.
    Export {
        /// Built-in suite name (`possim suites` lists them).
        name: String,
        /// Target directory (created; must not hold a suite.toml yet).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Merge the report directories of every `possim certify --shard K/N` job into one verdict,
    /// junit.xml, report.json and HTML report; exit 0 certified, 1 not, 2 shards missing or not
    /// of one run.
    Merge {
        /// The shards' report directories (or their report.json files).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Where the merged reports go.
        #[arg(long, value_name = "DIR", default_value = "possim-report")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ZvtCommand {
    /// Print an APDU, several APDUs or a serial frame (DLE STX ...) in human-readable form.
    Decode {
        /// Hex bytes; spaces, colons and a 0x prefix are ignored. Reads standard input when absent.
        hex: Vec<String>,
    },
    /// Play the customer at the virtual terminal: insert a card, type the PIN, press abort.
    Console(zvt_cli::ConsoleArgs),
    /// Act as a cash register towards a terminal (the virtual one by default).
    #[command(flatten)]
    Ecr(zvt_cli::EcrCommand),
}

/// `possim zvt …`.
#[derive(Debug, clap::Args)]
struct ZvtArgs {
    #[command(flatten)]
    link: zvt_cli::Link,
    #[command(subcommand)]
    command: ZvtCommand,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Config file (TOML); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data set: a built-in name (default, seed-examples) or a directory.
    #[arg(long, value_name = "NAME|PATH")]
    data: Option<String>,
    /// Freeze the clock at this instant (RFC 3339), e.g. 2019-10-29T12:24:04Z.
    #[arg(long, value_name = "TIME")]
    clock: Option<String>,
    /// Admin API address [default: 127.0.0.1:7100].
    #[arg(long, value_name = "ADDR")]
    admin: Option<String>,
    /// `--<provider> ADDR` for every provider of the registry.
    #[command(flatten)]
    listen: ListenArgs,
    /// Virtual ZVT terminal, serial link: `pty` (a new pseudo-terminal), `off`, or a device such
    /// as /dev/ttyUSB0 [default: pty].
    #[arg(long, value_name = "pty|off|DEVICE")]
    zvt_serial: Option<String>,
    /// Symlink kept pointing at the pseudo-terminal, `none` for no link [default: possim-zvt.tty].
    #[arg(long, value_name = "PATH|none")]
    zvt_tty_link: Option<String>,
    /// Virtual ZVT terminal, TLS listener beside the plain one (0 = a free port), with the test
    /// certificate of mocks/datasets/zvt-tls [default: off].
    #[arg(long, value_name = "ADDR")]
    zvt_tls: Option<String>,
    /// Faults file (JSON array of rules) armed at start.
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Journal ring size [default: 10000].
    #[arg(long, value_name = "N")]
    journal_capacity: Option<usize>,
    /// Start with the journal off (turn it on via the admin API).
    #[arg(long)]
    no_journal: bool,
    /// Journal byte budget: the oldest entries go when the entries held would exceed it
    /// [default: 33554432 (32 MiB)].
    #[arg(long, value_name = "BYTES")]
    journal_max_bytes: Option<usize>,
    /// Newest transactions each provider keeps per company/merchant/device (older ones are
    /// summarised; balances stay exact); replaces the data set's `[retention] transactions`
    /// [default: the data set's, else 1000].
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    retain_transactions: Option<usize>,
    /// Enforce the Computop seed's callback rule (https on port 443, no query string) whatever
    /// the data set says, and make every Loymax device check the schema order and refuse
    /// unknown children; by default plain-HTTP loopback callbacks are accepted and reported.
    #[arg(long)]
    strict: bool,
    /// Bearer token the admin API (and the console) requires; mandatory when --admin is not a
    /// loopback address. Clients send `Authorization: Bearer TOKEN` or `?access_token=TOKEN`.
    #[arg(long, value_name = "TOKEN", env = "POSSIM_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Let providers call out to possim's own listeners (a Computop notify to the admin API is
    /// refused otherwise).
    #[arg(long)]
    allow_self_calls: bool,
    /// Seconds a client may take to send a request head (also the idle time-out of a kept-alive
    /// connection; an unfinished head has its connection closed) and then its body (else 408),
    /// on every HTTP listener (1–3600) [default: 30].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    http_read_timeout: Option<u64>,
}

/// One `--<name> ADDR` flag per provider of the registry (`--tyrios 127.0.0.1:0`), added to the
/// derived `serve` arguments with clap's builder API.
#[derive(Debug, Default)]
struct ListenArgs(BTreeMap<String, String>);

impl clap::FromArgMatches for ListenArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut listen = Self::default();
        listen.update_from_arg_matches(matches)?;
        Ok(listen)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for spec in registry::PROVIDERS {
            if let Some(addr) = matches.get_one::<String>(spec.name) {
                self.0.insert(spec.name.to_owned(), addr.clone());
            }
        }
        Ok(())
    }
}

impl clap::Args for ListenArgs {
    fn augment_args(mut command: clap::Command) -> clap::Command {
        for spec in registry::PROVIDERS {
            command = command.arg(
                clap::Arg::new(spec.name)
                    .long(spec.name)
                    .value_name("ADDR")
                    .help(format!("{} address [default: {}]", spec.title, spec.default_listen)),
            );
        }
        command
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&cli_command().get_matches()).unwrap_or_else(|e| e.exit());
    // certify: 0 certified, 1 a required scenario did not pass, 2 usage or configuration error.
    let config_error_code = match cli.command {
        Command::Certify(_) | Command::Record(_) | Command::Pos(_) | Command::Report(_) => 2,
        _ => 1,
    };
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            // One readable line with the whole cause chain, whatever RUST_BACKTRACE says.
            eprintln!("possim: error: {e:#}");
            ExitCode::from(config_error_code)
        }
    }
}

/// The command line, derived from [`Cli`] and tidied (`conventions::command`).
fn cli_command() -> clap::Command {
    conventions::command(<Cli as clap::CommandFactory>::command())
}

/// A runtime for the client-side commands; one worker is plenty for one POS at a time.
fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs a command; `Ok(false)` means "ran fine, verdict negative" (certify).
fn run(cli: Cli) -> anyhow::Result<bool> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Completions { shell } => {
            conventions::completions(cli_command(), shell, &mut std::io::stdout()).map(|()| true)
        }
        Command::Man => conventions::man(cli_command(), &mut std::io::stdout()).map(|()| true),
        Command::Schema { kind } => conventions::schema(kind, &mut std::io::stdout()).map(|()| true),
        Command::Datasets => {
            for name in datasets::builtin_names() {
                let set = datasets::resolve(name)?;
                println!("{name:15} {}", set.settings.description.unwrap_or_default());
            }
            Ok(true)
        }
        Command::Suites { command: None } => {
            print!("{}", suites::list()?);
            Ok(true)
        }
        Command::Suites {
            command: Some(SuitesCommand::Export { name, dir }),
        } => {
            let count = suites::export(&name, &dir)?;
            eprintln!("possim: wrote suite {name} ({count} files) into {}", dir.display());
            Ok(true)
        }
        Command::Report(ReportCommand::Merge { dirs, out }) => shard::merge_command(&dirs, &out),
        Command::Zvt(ZvtArgs {
            command: ZvtCommand::Decode { hex },
            ..
        }) => {
            let text = if hex.is_empty() {
                std::io::read_to_string(std::io::stdin()).context("reading hex from standard input")?
            } else {
                hex.join(" ")
            };
            let bytes = parse_hex(&text)?;
            print!("{}", possim_zvt::describe::describe(&bytes));
            Ok(true)
        }
        Command::Zvt(ZvtArgs {
            command: ZvtCommand::Console(args),
            ..
        }) => client_runtime()?.block_on(zvt_cli::console(args)),
        Command::Zvt(ZvtArgs {
            link,
            command: ZvtCommand::Ecr(command),
        }) => client_runtime()?.block_on(zvt_cli::run(link, command)),
        Command::Serve(args) => {
            // Two workers match the target machines; more would only add idle memory.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(serve(args)).map(|()| true)
        }
        Command::Certify(args) => client_runtime()?.block_on(certify::certify(args)),
        Command::Record(args) => client_runtime()?.block_on(certify::record(args)).map(|()| true),
        Command::Pos(command) => client_runtime()?.block_on(pos::run(command)).map(|()| true),
    }
}

/// Hex digits in any common spelling (`06 01 07`, `06:01:07`, `0x060107`) to bytes.
fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: String = text
        .split_whitespace()
        .map(|w| w.trim_start_matches("0x").trim_start_matches("0X"))
        .collect::<String>()
        .chars()
        .filter(|c| !matches!(c, ':' | ',' | '-'))
        .collect();
    if digits.is_empty() {
        anyhow::bail!("no hex bytes given (e.g. possim zvt decode 06 01 07 04 00 00 00 10 00 00)");
    }
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        anyhow::bail!("{bad:?} is not a hex digit");
    }
    if digits.len() % 2 != 0 {
        anyhow::bail!("odd number of hex digits ({}): every byte needs two", digits.len());
    }
    Ok((0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap_or(0))
        .collect())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let data_name = args.data.or(file.data).unwrap_or_else(|| "default".into());
    let data = datasets::resolve(&data_name).context("loading the data set")?;
    let clock_override = match args.clock.or(file.clock) {
        Some(text) => Some(parse_rfc3339(&text).context("--clock")?),
        None => None,
    };
    let admin = match args.admin.or(file.listen.admin) {
        Some(a) => parse_addr(&a, "--admin")?,
        None => DEFAULT_ADMIN,
    };
    // Flag over config file; a bad address names the flag either way.
    let mut listen = BTreeMap::new();
    for spec in registry::PROVIDERS {
        let given = args.listen.0.get(spec.name).or(file.listen.providers.get(spec.name));
        if let Some(text) = given {
            listen.insert(spec.name.to_owned(), parse_addr(text, &format!("--{}", spec.name))?);
        }
    }
    let zvt_serial = match args.zvt_serial.or(file.listen.zvt_serial).as_deref() {
        None | Some("pty") => {
            let link = match args.zvt_tty_link.or(file.listen.zvt_tty_link).as_deref() {
                None => Some(PathBuf::from(DEFAULT_ZVT_TTY_LINK)),
                Some("none") => None,
                Some("") => anyhow::bail!("--zvt-tty-link: give a path or `none`"),
                Some(path) => Some(PathBuf::from(path)),
            };
            serve::ZvtSerial::Pty { link }
        }
        Some("off") => serve::ZvtSerial::Off,
        Some("") => anyhow::bail!("--zvt-serial: give `pty`, `off` or a device path"),
        Some(device) => serve::ZvtSerial::Device(device.to_owned()),
    };
    let zvt_tls = match args.zvt_tls.or(file.listen.zvt_tls) {
        Some(text) => Some(parse_addr(&text, "--zvt-tls")?),
        None => None,
    };
    let read_timeout = match args.http_read_timeout.or(file.http.read_timeout) {
        Some(secs) if !(1..=3600).contains(&secs) => {
            anyhow::bail!("[http] read-timeout: {secs} is not within 1–3600 seconds")
        }
        Some(secs) => secs,
        None => possim_engine::front::DEFAULT_READ_TIMEOUT.as_secs(),
    };
    // Before any listener exists: every connection of this process reads under it.
    possim_engine::front::set_read_timeout(read_timeout);
    let faults = match args.faults.or(file.faults) {
        Some(path) => {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading faults file {}", path.display()))?;
            parse_fault_file(&text).with_context(|| format!("faults file {}", path.display()))?
        }
        None => Vec::new(),
    };
    // Signal handlers exist before the ready lines are printed, so a supervisor that stops possim
    // right after start-up gets a clean shutdown rather than the default "killed by signal".
    let shutdown = shutdown_signal()?;
    let running = serve::launch(serve::LaunchOptions {
        data,
        clock_override,
        admin,
        listen,
        zvt_serial,
        zvt_tls,
        faults,
        journal_capacity: args
            .journal_capacity
            .or(file.journal.capacity)
            .unwrap_or(DEFAULT_CAPACITY),
        journal_enabled: !args.no_journal && file.journal.enabled.unwrap_or(true),
        journal_max_bytes: args
            .journal_max_bytes
            .or(file.journal.max_bytes)
            .unwrap_or(possim_engine::journal::DEFAULT_MAX_BYTES),
        retention: args
            .retain_transactions
            .map(|transactions| possim_engine::retention::Retention { transactions })
            .or(file.retention),
        strict: args.strict,
        admin_token: args.admin_token.or(file.admin.token),
        allow_self_calls: args.allow_self_calls,
    })
    .await?;

    // Printed only once every listener is bound: tools wait for these lines as the ready signal.
    println!("admin {}", running.admin_url);
    println!("console {}/", running.admin_url);
    for (name, url) in &running.endpoints {
        println!("{name} {url}");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    shutdown.await;
    eprintln!("possim: shutting down");
    running.shutdown().await;
    Ok(())
}

/// Registers SIGINT and SIGTERM now and returns a future that completes on either.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Ctrl-C elsewhere.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

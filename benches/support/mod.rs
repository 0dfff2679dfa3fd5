//! What the load benchmarks share: knobs from the environment, the release `possim serve` on free
//! loopback ports, memory readings from `/proc`, and latency percentiles.

// Each bench is its own crate; the soak bench keeps hyper's client.
#[allow(dead_code)]
pub mod client;

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// A numeric knob from the environment.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) the process `pid` has used so far, in microseconds: a figure of the
/// server's own cost that a busy machine does not inflate the way it inflates wall time.
pub fn cpu_micros(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are
    // fixed: utime and stime are the 12th and 13th of them, in clock ticks.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks * 1_000_000 / clock_ticks_per_second()
}

/// `getconf CLK_TCK` (100 on Linux unless configured otherwise).
fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// A running `possim serve` (journal on), killed on drop.
pub struct Server {
    pub child: Child,
    pub pid: u32,
    /// `host:port` of the provider the benchmark drives.
    pub addr: String,
    /// `host:port` of the admin API (the console streams of `tyrios_load` read from it; each
    /// bench is its own crate, so the others never read it).
    #[allow(dead_code)]
    pub admin: String,
    /// From spawn to the endpoints printed.
    pub ready: Duration,
    /// RSS after start-up, before any load.
    pub idle_kib: u64,
}

/// Starts `possim serve --data <data>` with every port free and waits for `<provider> http://…`.
// Each bench is its own crate; the soak bench starts with arguments only.
#[allow(dead_code)]
pub async fn start(data: &str, provider: &str) -> Server {
    // `POSSIM_BENCH_ARGS`: extra `possim serve` arguments, e.g. `--no-journal` to see what
    // recording costs.
    let extra = std::env::var("POSSIM_BENCH_ARGS").unwrap_or_default();
    start_with(data, provider, extra.split_whitespace()).await
}

/// [`start`] with extra `possim serve` arguments.
pub async fn start_with<'a>(data: &str, provider: &str, extra: impl IntoIterator<Item = &'a str>) -> Server {
    let started = Instant::now();
    // `POSSIM_BENCH_BIN`: another build of possim to drive, so two builds are compared side by
    // side on a machine whose speed drifts (run them alternately).
    let binary = std::env::var_os("POSSIM_BENCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_possim").into());
    let mut child = tokio::process::Command::new(binary)
        .args([
            "serve",
            "--data",
            data,
            "--admin",
            "127.0.0.1:0",
            "--zvt-tty-link",
            "none",
        ])
        .args([
            "--tyrios",
            "127.0.0.1:0",
            "--computop",
            "127.0.0.1:0",
            "--payback",
            "127.0.0.1:0",
        ])
        .args(["--loymax", "127.0.0.1:0", "--zvt", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("possim starts");
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let prefix = format!("{provider} http://");
    let (mut addr, mut admin) = (None, None);
    while addr.is_none() || admin.is_none() {
        let line = lines.next_line().await.unwrap().expect("possim printed its endpoints");
        if let Some(url) = line.strip_prefix(&prefix) {
            addr = Some(url.to_owned());
        } else if let Some(url) = line.strip_prefix("admin http://") {
            admin = Some(url.to_owned());
        }
    }
    let (addr, admin) = (addr.unwrap(), admin.unwrap());
    let ready = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the process settle before reading idle memory
    let idle_kib = memory_kib(pid, "VmRSS:");
    Server {
        child,
        pid,
        addr,
        admin,
        ready,
        idle_kib,
    }
}

/// The latency at percentile `p` (0..=1) of sorted microseconds, in milliseconds.
// Each bench is its own crate; the soak bench measures throughput only.
#[allow(dead_code)]
pub fn percentile_ms(sorted_micros: &[u32], p: f64) -> f64 {
    let i = ((sorted_micros.len() as f64 * p) as usize).min(sorted_micros.len().saturating_sub(1));
    sorted_micros.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

//! Soak benchmark of bounded memory (a bench binary, not a test:
//! `cargo bench --bench tyrios_soak`).
//!
//! Starts the release `possim serve --data seed-examples` (journal on, default retention and
//! journal budget) and drives final TYRIOS `pos` transactions at full speed over keep-alive
//! connections for `POSSIM_SOAK_SECS` (default 300). Redemption is off, so every transaction
//! adds a point lot and a transaction record: without retention both would grow without end.
//! Every `POSSIM_SOAK_SAMPLE_SECS` (default: a twentieth of the run) it samples the server's
//! RSS, the throughput of the interval, the load average of the machine, and reads the whole
//! TYRIOS admin state once (what a dashboard would do), then prints the curve.
//!
//! Pass criteria (issue 13): RSS stays under 100 MB; the throughput of the last quarter is at
//! least 80 % of the first quarter's (on a shared machine compare with the load average).
//! Knobs: `POSSIM_SOAK_SECS`, `POSSIM_SOAK_SAMPLE_SECS`, `POSSIM_BENCH_CONNECTIONS` (default 32),
//! `POSSIM_SOAK_ARGS` (extra `possim serve` arguments, e.g. `--retain-transactions 100000`),
//! `POSSIM_SOAK_PROVIDER=payback`: the same soak against PAYBACK (`--data default`, purchases of
//! 33.00 EUR for member 9876543210 at partner `possim-optik`, each with a fresh `transactionId`,
//! so every one adds a purchase, a stored answer and a point lot; the PAYBACK state is read at
//! every sample).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use support::{cpu_micros, env_or, memory_kib};

const BODY: &str = r#"{"UserData":"UQBUFDJALK4WXYC","enablePointRedemption":false,"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#;

async fn connect(addr: &str) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// The provider the soak drives.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Provider {
    Tyrios,
    Payback,
}

impl Provider {
    fn from_env() -> Self {
        match std::env::var("POSSIM_SOAK_PROVIDER").as_deref() {
            Ok("payback") => Self::Payback,
            Ok("tyrios") | Err(_) => Self::Tyrios,
            Ok(other) => panic!("POSSIM_SOAK_PROVIDER={other}: tyrios or payback"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Tyrios => "tyrios",
            Self::Payback => "payback",
        }
    }

    fn data_set(self) -> &'static str {
        match self {
            Self::Tyrios => "seed-examples",
            Self::Payback => "default",
        }
    }

    /// The `n`th booking request.
    fn request(self, addr: &str, n: u64) -> hyper::Request<Full<Bytes>> {
        let builder = hyper::Request::post(match self {
            Self::Tyrios => "/service/BonusPointManagement/BonusPointTransaction/pos",
            Self::Payback => "/purchases",
        })
        .header("host", addr)
        .header("content-type", "application/json");
        match self {
            Self::Tyrios => builder
                .header("authorization", "Basic ZGVtbzpkZW1v")
                .body(Full::new(Bytes::from_static(BODY.as_bytes()))),
            // possim:demo, the default set's partner.
            Self::Payback => builder
                .header("authorization", "Basic cG9zc2ltOmRlbW8=")
                .header("partnerShortName", "possim-optik")
                .body(Full::new(Bytes::from(format!(
                    r#"{{"transactionId":"soak-{n}","cardNumber":"9876543210","receiptNumber":"B-{n}","totalAmountCents":3300}}"#
                )))),
        }
        .unwrap()
    }
}

async fn drive(provider: Provider, addr: String, deadline: Instant, done: Arc<AtomicU64>, sequence: Arc<AtomicU64>) {
    let mut sender = connect(&addr).await;
    while Instant::now() < deadline {
        let req = provider.request(&addr, sequence.fetch_add(1, Ordering::Relaxed));
        let resp = sender.send_request(req).await.expect("answer");
        assert_eq!(resp.status(), 200, "the booking succeeds");
        resp.into_body().collect().await.expect("body");
        done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads the provider's whole state snapshot once; returns its size in bytes.
async fn read_state(admin: &str, provider: Provider) -> usize {
    let mut sender = connect(admin).await;
    let req = hyper::Request::get(format!("/__admin/state/{}", provider.name()))
        .header("host", admin)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.expect("state");
    resp.into_body().collect().await.expect("body").to_bytes().len()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

struct Sample {
    at: f64,
    rss_mb: f64,
    per_sec: f64,
    total: u64,
    state_kib: usize,
    load: String,
}

fn main() {
    let secs = env_or("POSSIM_SOAK_SECS", 300);
    let sample_secs = env_or("POSSIM_SOAK_SAMPLE_SECS", (secs / 20).max(1));
    let connections = env_or("POSSIM_BENCH_CONNECTIONS", 32) as usize;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = Provider::from_env();
    runtime.block_on(async {
        let extra = std::env::var("POSSIM_SOAK_ARGS").unwrap_or_default();
        let mut server = support::start_with(provider.data_set(), provider.name(), extra.split_whitespace()).await;
        let done = Arc::new(AtomicU64::new(0));
        let sequence = Arc::new(AtomicU64::new(0));
        let cpu_before = cpu_micros(server.pid);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                tokio::spawn(drive(
                    provider,
                    server.addr.clone(),
                    deadline,
                    Arc::clone(&done),
                    Arc::clone(&sequence),
                ))
            })
            .collect();
        let mut samples = Vec::new();
        let mut last = (start, 0u64);
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(sample_secs),
            Duration::from_secs(sample_secs),
        );
        while Instant::now() + Duration::from_millis(100) < deadline {
            tick.tick().await;
            let now = Instant::now();
            let total = done.load(Ordering::Relaxed);
            let per_sec = (total - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            last = (now, total);
            let rss_mb = memory_kib(server.pid, "VmRSS:") as f64 / 1024.0;
            let state_kib = read_state(&server.admin, provider).await / 1024;
            let sample = Sample {
                at: now.duration_since(start).as_secs_f64(),
                rss_mb,
                per_sec,
                total,
                state_kib,
                load: load_average(),
            };
            eprintln!(
                "  {:>6.0} s  {:>7.1} MB RSS  {:>7.0} tx/s  {:>9} tx  state {:>5} KiB  load {}",
                sample.at, sample.rss_mb, sample.per_sec, sample.total, sample.state_kib, sample.load
            );
            samples.push(sample);
        }
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = start.elapsed().as_secs_f64();
        let total = done.load(Ordering::Relaxed);
        let server_cpu = cpu_micros(server.pid).saturating_sub(cpu_before);
        let peak_mb = memory_kib(server.pid, "VmHWM:") as f64 / 1024.0;
        let rss_mb = memory_kib(server.pid, "VmRSS:") as f64 / 1024.0;
        match provider {
            Provider::Tyrios => println!(
                "possim TYRIOS soak (final pos transactions, redemption off, journal on, {connections} connections)"
            ),
            Provider::Payback => {
                println!(
                    "possim PAYBACK soak (purchases with fresh transactionIds, journal on, {connections} connections)"
                )
            }
        }
        println!("  time s    RSS MB     tx/s   state KiB  load");
        for s in &samples {
            println!(
                "  {:>6.0}  {:>8.1}  {:>7.0}  {:>10}  {}",
                s.at, s.rss_mb, s.per_sec, s.state_kib, s.load
            );
        }
        let quarter = (samples.len() / 4).max(1);
        let mean = |s: &[Sample]| s.iter().map(|s| s.per_sec).sum::<f64>() / s.len().max(1) as f64;
        let (first, last) = (
            mean(&samples[..quarter.min(samples.len())]),
            mean(&samples[samples.len().saturating_sub(quarter)..]),
        );
        let max_rss = samples.iter().map(|s| s.rss_mb).fold(rss_mb, f64::max);
        println!("  ready after       {:.0} ms", server.ready.as_secs_f64() * 1000.0);
        println!(
            "  transactions      {total} in {elapsed:.0} s ({:.0} tx/s)",
            total as f64 / elapsed
        );
        println!(
            "  server CPU        {:.1} µs per transaction",
            server_cpu as f64 / total.max(1) as f64
        );
        println!(
            "  memory            idle {:.1} MB, end {rss_mb:.1} MB, peak {peak_mb:.1} MB RSS",
            server.idle_kib as f64 / 1024.0
        );
        println!(
            "  throughput        first quarter {first:.0} tx/s, last quarter {last:.0} tx/s ({:.0} %)",
            100.0 * last / first.max(1.0)
        );
        println!(
            "  verdict           RSS < 100 MB: {}; throughput held (≥ 80 %): {}",
            if max_rss.max(peak_mb) < 100.0 { "yes" } else { "NO" },
            if last >= 0.8 * first { "yes" } else { "NO" }
        );
        let _ = server.child.kill().await;
    });
}

//! Load benchmark of the TYRIOS mock (a bench binary, not a test: `cargo bench --bench tyrios_load`).
//!
//! Starts the release `possim serve --data seed-examples` on a free loopback port with the journal
//! on, measures how long it takes until it prints its endpoints, its idle memory, then drives final
//! `pos` transactions (the seed's 33.00 EUR purchase by UQBUFDJALK4WXYC) over keep-alive
//! connections for a fixed time and reports requests/s, p50/p99 latency and peak memory.
//!
//! Knobs: `POSSIM_BENCH_SECS` (default 5), `POSSIM_BENCH_CONNECTIONS` (default 32).
//! Targets on the 2-core reference machine, load generator included: ≥ 50,000 req/s,
//! p99 < 5 ms, ready < 100 ms, < 30 MB idle.

use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

const BODY: &str = r#"{"UserData":"UQBUFDJALK4WXYC","enablePointRedemption":true,"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn drive(addr: String, deadline: Instant) -> Vec<u32> {
    let stream = TcpStream::connect(&addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let body = Bytes::from_static(BODY.as_bytes());
    let mut latencies = Vec::with_capacity(200_000);
    while Instant::now() < deadline {
        let req = hyper::Request::post("/service/BonusPointManagement/BonusPointTransaction/pos")
            .header("host", addr.as_str())
            .header("authorization", "Basic ZGVtbzpkZW1v")
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap();
        let start = Instant::now();
        let resp = sender.send_request(req).await.expect("answer");
        assert_eq!(resp.status(), 200, "final pos transaction succeeds");
        resp.into_body().collect().await.expect("body");
        latencies.push(start.elapsed().as_micros() as u32);
    }
    latencies
}

fn main() {
    let secs = env_or("POSSIM_BENCH_SECS", 5);
    let connections = env_or("POSSIM_BENCH_CONNECTIONS", 32) as usize;
    // The load generator gets one thread; the server keeps its own two workers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
            .args([
                "serve",
                "--data",
                "seed-examples",
                "--admin",
                "127.0.0.1:0",
                "--tyrios",
                "127.0.0.1:0",
                "--payback",
                "127.0.0.1:0",
                "--loymax",
                "127.0.0.1:0",
                "--zvt",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("possim starts");
        let pid = child.id().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut tyrios = None;
        while tyrios.is_none() {
            let line = lines.next_line().await.unwrap().expect("possim printed its endpoints");
            if let Some(url) = line.strip_prefix("tyrios http://") {
                tyrios = Some(url.to_owned());
            }
        }
        let ready = started.elapsed();
        let addr = tyrios.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await; // let the process settle before reading idle memory
        let idle_kib = memory_kib(pid, "VmRSS:");

        let deadline = Instant::now() + Duration::from_secs(secs);
        let load_start = Instant::now();
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(drive(addr.clone(), deadline)))
            .collect();
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let elapsed = load_start.elapsed().as_secs_f64();
        let peak_kib = memory_kib(pid, "VmHWM:");
        latencies.sort_unstable();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)] as f64 / 1000.0;
        println!(
            "possim TYRIOS load benchmark (final pos transactions, journal on, {connections} connections, {secs} s)"
        );
        println!("  requests          {}", latencies.len());
        println!("  throughput        {:.0} req/s", latencies.len() as f64 / elapsed);
        println!("  latency p50       {:.3} ms", pct(0.50));
        println!("  latency p99       {:.3} ms", pct(0.99));
        println!("  latency max       {:.3} ms", pct(1.0));
        println!(
            "  ready after       {:.1} ms (spawn to endpoints printed)",
            ready.as_secs_f64() * 1000.0
        );
        println!("  memory idle       {:.1} MB RSS", idle_kib as f64 / 1024.0);
        println!(
            "  memory peak       {:.1} MB RSS (includes every committed transaction)",
            peak_kib as f64 / 1024.0
        );
        let _ = child.kill().await;
    });
}

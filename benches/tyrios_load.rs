//! Load benchmark of the TYRIOS mock (a bench binary, not a test: `cargo bench --bench tyrios_load`).
//!
//! Starts the release `possim serve --data seed-examples` on a free loopback port with the journal
//! on, measures how long it takes until it prints its endpoints, its idle memory, then drives final
//! `pos` transactions (the seed's 33.00 EUR purchase by UQBUFDJALK4WXYC) over keep-alive
//! connections for a fixed time and reports requests/s, p50/p99 latency and peak memory.
//!
//! Knobs: `POSSIM_BENCH_SECS` (default 5), `POSSIM_BENCH_CONNECTIONS` (default 32),
//! `POSSIM_BENCH_CONSOLES` (default 0): that many web-console event streams
//! (`/__admin/console/events`) read along on a thread of their own, as open browser tabs would,
//! to measure what watching costs the mocks.
//! Targets on the 2-core reference machine, load generator included: ≥ 50,000 req/s,
//! p99 < 5 ms, ready < 100 ms, < 30 MB idle.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use support::client::Connection;
use support::{cpu_micros, env_or, memory_kib, percentile_ms};

const BODY: &str = r#"{"UserData":"UQBUFDJALK4WXYC","enablePointRedemption":true,"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#;

async fn drive(addr: String, deadline: Instant) -> Vec<u32> {
    let mut pos = Connection::open(
        &addr,
        "/service/BonusPointManagement/BonusPointTransaction/pos",
        &[
            ("authorization", "Basic ZGVtbzpkZW1v"),
            ("content-type", "application/json"),
        ],
    )
    .await;
    let mut latencies = Vec::with_capacity(200_000);
    while Instant::now() < deadline {
        let start = Instant::now();
        let (status, answer) = pos.post(BODY.as_bytes()).await;
        assert_eq!(
            status,
            200,
            "final pos transaction succeeds: {}",
            String::from_utf8_lossy(answer)
        );
        latencies.push(start.elapsed().as_micros() as u32);
    }
    latencies
}

/// What the console streams received: bytes, and entries they were told they missed.
#[derive(Default)]
struct Watched {
    bytes: u64,
    missed: u64,
}

/// Reads one console event stream until `stop`.
async fn watch_console(admin: String, stop: tokio::sync::watch::Receiver<bool>) -> Watched {
    let mut seen = Watched::default();
    let stream = TcpStream::connect(&admin).await.expect("connect to the admin listener");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::get("/__admin/console/events")
        .header("host", admin.as_str())
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut body = sender.send_request(req).await.expect("the event stream").into_body();
    let mut stop = stop;
    let mut tail = String::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            frame = body.frame() => {
                let Some(Ok(frame)) = frame else { break };
                if let Some(data) = frame.data_ref() {
                    seen.bytes += data.len() as u64;
                    tail.push_str(&String::from_utf8_lossy(data));
                    while let Some(end) = tail.find("\n\n") {
                        let event: String = tail.drain(..end + 2).collect();
                        if let Some(n) = event.strip_prefix("event: missed\ndata: ") {
                            seen.missed += n.trim().parse::<u64>().unwrap_or(0);
                        }
                    }
                }
            }
        }
    }
    seen
}

fn main() {
    let secs = env_or("POSSIM_BENCH_SECS", 5);
    let connections = env_or("POSSIM_BENCH_CONNECTIONS", 32) as usize;
    let consoles = env_or("POSSIM_BENCH_CONSOLES", 0) as usize;
    // The load generator gets one thread; the server keeps its own two workers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut server = support::start("seed-examples", "tyrios").await;
        let (pid, addr, ready, idle_kib) = (server.pid, server.addr.clone(), server.ready, server.idle_kib);
        let admin = server.admin.clone();

        // The consoles read on a thread of their own, like browser tabs in other processes.
        let (stop_consoles, stop_rx) = tokio::sync::watch::channel(false);
        let watchers = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let streams: Vec<_> = (0..consoles)
                        .map(|_| tokio::spawn(watch_console(admin.clone(), stop_rx.clone())))
                        .collect();
                    let mut all = Vec::new();
                    for s in streams {
                        all.push(s.await.unwrap());
                    }
                    all
                })
        });

        let deadline = Instant::now() + Duration::from_secs(secs);
        let load_start = Instant::now();
        let cpu_before = cpu_micros(pid);
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(drive(addr.clone(), deadline)))
            .collect();
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let elapsed = load_start.elapsed().as_secs_f64();
        let cpu_used = cpu_micros(pid).saturating_sub(cpu_before);
        let _ = stop_consoles.send(true);
        let watched = watchers.join().expect("the console readers");
        let peak_kib = memory_kib(pid, "VmHWM:");
        latencies.sort_unstable();
        let pct = |p: f64| percentile_ms(&latencies, p);
        println!(
            "possim TYRIOS load benchmark (final pos transactions, journal on, {connections} connections, {secs} s)"
        );
        if consoles > 0 {
            println!(
                "  console streams   {consoles}: {:.1} MB received each (mean), {} entries skipped in all",
                watched.iter().map(|w| w.bytes).sum::<u64>() as f64 / consoles as f64 / 1e6,
                watched.iter().map(|w| w.missed).sum::<u64>()
            );
        }
        println!("  requests          {}", latencies.len());
        println!("  throughput        {:.0} req/s", latencies.len() as f64 / elapsed);
        // Less sensitive to other load on the machine than throughput: what one request costs
        // the server.
        println!(
            "  server CPU        {:.1} µs per request ({:.2} cores busy)",
            cpu_used as f64 / latencies.len().max(1) as f64,
            cpu_used as f64 / 1e6 / elapsed
        );
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
        let _ = server.child.kill().await;
    });
}

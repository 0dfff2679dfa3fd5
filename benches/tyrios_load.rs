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

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use support::{env_or, memory_kib, percentile_ms};

const BODY: &str = r#"{"UserData":"UQBUFDJALK4WXYC","enablePointRedemption":true,"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#;

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
        let mut server = support::start("seed-examples", "tyrios").await;
        let (pid, addr, ready, idle_kib) = (server.pid, server.addr.clone(), server.ready, server.idle_kib);

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
        let pct = |p: f64| percentile_ms(&latencies, p);
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
        let _ = server.child.kill().await;
    });
}

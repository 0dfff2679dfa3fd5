//! Load benchmark of the Loymax mock (a bench binary, not a test: `cargo bench --bench loymax_load`).
//!
//! Starts the release `possim serve --data seed-examples` with the journal on and drives purchases
//! on the 2018 log's card over keep-alive connections: a CalculateRequest, a PaymentRequest of one
//! point, then a CancelPurchaseRequest that gives the point back (so the card never runs dry).
//! Reports Calculate and Payment round trips per second, their p50/p99 latency, and memory.
//!
//! Knobs: `POSSIM_BENCH_SECS` (default 5), `POSSIM_BENCH_CONNECTIONS` (default 32),
//! `POSSIM_BENCH_OPS` (run until this many Calculate + Payment operations instead of for a time;
//! e.g. 1000000 for the memory figure after a million operations), `POSSIM_BENCH_ARGS` (extra
//! `possim serve` arguments, e.g. `--no-journal` to see what recording costs).
//! Measured figures, with the load average of the shared machine: ARCHITECTURE.md, "Measured
//! figures".
//! Targets on the 2-core reference machine, load generator included: ≥ 30,000 req/s, p99 < 5 ms.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use support::client::Connection;
use support::{cpu_micros, env_or, memory_kib, percentile_ms};

const PATH: &str = "/XmlExchange/possim/kassa-1/";
/// `kassa-1:demo`.
const AUTH: &str = "Basic a2Fzc2EtMTpkZW1v";

fn document(wrapper: &str, element: &str, attributes: &str, children: &str) -> Bytes {
    Bytes::from(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><XMLRequest><Version>3.2</Version><{wrapper}><{element} ElementID="1" OperationDate="2018-10-02T13:32:05+03:00" {attributes}>{children}</{element}></{wrapper}></XMLRequest>"#
    ))
}

const CHEQUE: &str = r#"<Cheque ChequeDate="2018-10-02T13:32:01+03:00"><ChequeLine PosID="1" GoodsId="146001" Name="Товар" Price="100.00" Quantity="2.000" Amount="200.00"/></Cheque><Identifier Type="Auto" Value="8690003"/>"#;

struct Stop {
    deadline: Option<Instant>,
    ops_left: AtomicU64,
}

impl Stop {
    fn go_on(&self) -> bool {
        match self.deadline {
            Some(deadline) => Instant::now() < deadline,
            None => self
                .ops_left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(2))
                .is_ok(),
        }
    }
}

async fn send(connection: &mut Connection, body: Bytes) -> (u32, bool) {
    let start = Instant::now();
    let (status, answer) = connection.post(&body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(answer));
    let accepted = answer.windows(13).any(|w| w == b"ErrorCode=\"0\"");
    (start.elapsed().as_micros() as u32, accepted)
}

async fn drive(addr: String, connection: usize, stop: Arc<Stop>) -> (Vec<u32>, Vec<u32>) {
    let mut till = Connection::open(
        &addr,
        PATH,
        &[("authorization", AUTH), ("content-type", "application/xml")],
    )
    .await;
    let (mut calculate, mut payment) = (Vec::with_capacity(100_000), Vec::with_capacity(100_000));
    let mut n = 0u64;
    while stop.go_on() {
        n += 1;
        let purchase = format!(r#"PurchaseID="{connection:04}{n:016}" Cashier="bench""#);
        let op = |kind: u8| format!(r#"OperationID="{connection:08x}{kind:08x}{n:016x}""#);
        let (micros, accepted) = send(
            &mut till,
            document(
                "Calculates",
                "CalculateRequest",
                &format!("{purchase} {}", op(1)),
                CHEQUE,
            ),
        )
        .await;
        assert!(accepted, "calculate refused");
        calculate.push(micros);
        let (micros, accepted) = send(
            &mut till,
            document(
                "Payments",
                "PaymentRequest",
                &format!(r#"{purchase} {} Amount="1""#, op(2)),
                CHEQUE,
            ),
        )
        .await;
        assert!(accepted, "payment refused");
        payment.push(micros);
        let (_, accepted) = send(
            &mut till,
            document(
                "CancelPurchases",
                "CancelPurchaseRequest",
                &format!("{purchase} {}", op(3)),
                "",
            ),
        )
        .await;
        assert!(accepted, "cancel refused");
    }
    (calculate, payment)
}

fn main() {
    let secs = env_or("POSSIM_BENCH_SECS", 5);
    let connections = env_or("POSSIM_BENCH_CONNECTIONS", 32) as usize;
    let ops = env_or("POSSIM_BENCH_OPS", 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut server = support::start("seed-examples", "loymax").await;
        let stop = Arc::new(Stop {
            deadline: (ops == 0).then(|| Instant::now() + Duration::from_secs(secs)),
            ops_left: AtomicU64::new(ops),
        });
        let cpu_before = cpu_micros(server.pid);
        let load_start = Instant::now();
        let tasks: Vec<_> = (0..connections)
            .map(|c| tokio::spawn(drive(server.addr.clone(), c, Arc::clone(&stop))))
            .collect();
        let (mut calculate, mut payment) = (Vec::new(), Vec::new());
        for t in tasks {
            let (c, p) = t.await.unwrap();
            calculate.extend(c);
            payment.extend(p);
        }
        let elapsed = load_start.elapsed().as_secs_f64();
        let server_cpu = cpu_micros(server.pid).saturating_sub(cpu_before);
        let rss_kib = memory_kib(server.pid, "VmRSS:");
        let peak_kib = memory_kib(server.pid, "VmHWM:");
        calculate.sort_unstable();
        payment.sort_unstable();
        let operations = calculate.len() + payment.len();
        println!(
            "possim Loymax load benchmark (Calculate + Payment, then Cancel; journal on, {connections} connections)"
        );
        println!(
            "  operations        {operations} in {elapsed:.1} s (+ {} cancels)",
            payment.len()
        );
        println!(
            "  throughput        {:.0} Calculate+Payment/s",
            operations as f64 / elapsed
        );
        println!(
            "  all requests      {:.0} req/s",
            (operations + payment.len()) as f64 / elapsed
        );
        println!(
            "  server CPU        {:.0} µs per request (Cancel included; {:.2} cores busy)",
            server_cpu as f64 / (operations + payment.len()).max(1) as f64,
            server_cpu as f64 / 1e6 / elapsed
        );
        for (name, sorted) in [("Calculate", &calculate), ("Payment", &payment)] {
            println!(
                "  {name:<10} p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
                percentile_ms(sorted, 0.50),
                percentile_ms(sorted, 0.99),
                percentile_ms(sorted, 1.0)
            );
        }
        println!("  ready after       {:.1} ms", server.ready.as_secs_f64() * 1000.0);
        println!("  memory idle       {:.1} MB RSS", server.idle_kib as f64 / 1024.0);
        println!(
            "  memory after load {:.1} MB RSS (peak {:.1} MB)",
            rss_kib as f64 / 1024.0,
            peak_kib as f64 / 1024.0
        );
        let _ = server.child.kill().await;
    });
}

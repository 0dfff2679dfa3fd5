//! Load benchmark of the Loymax mock (a bench binary, not a test: `cargo bench --bench loymax_load`).
//!
//! Starts the release `possim serve --data seed-examples` with the journal on and drives purchases
//! on the 2018 log's card over keep-alive connections: a CalculateRequest, then a PaymentRequest
//! of one point. Every [`CANCEL_BATCH`] purchases a connection gives the points back with one
//! CancelPurchases document holding a CancelPurchaseRequest per purchase (the protocol's batch:
//! answered element by element), so the card never runs dry and the figure is the Calculate and
//! Payment round trips the target speaks of; the cancels' work is in the server CPU figure (their
//! documents' latencies are not in the percentiles, and the journal holds one of them per 50
//! purchases: its memory is not comparable with runs from before the batching).
//! Reports Calculate and Payment round trips per second, their p50/p99 latency, and memory.
//!
//! Knobs: `POSSIM_BENCH_SECS` (default 5), `POSSIM_BENCH_CONNECTIONS` (default 32),
//! `POSSIM_BENCH_OPS` (run until this many Calculate + Payment operations instead of for a time;
//! e.g. 1000000 for the memory figure after a million operations), `POSSIM_BENCH_ARGS` (extra
//! `possim serve` arguments, e.g. `--no-journal` to see what recording costs),
//! `POSSIM_BENCH_BIN` (another build's `possim` to drive instead: compare two builds by running
//! them alternately, the shared machine's speed drifts by tens of percent within minutes).
//! Measured figures, with the load average of the shared machine: ARCHITECTURE.md, "Measured
//! figures".
//! Targets on the 2-core reference machine, load generator included: ≥ 30,000 Calculate and
//! Payment round trips per second, p99 < 5 ms.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::client::Connection;
use support::{cpu_micros, env_or, memory_kib, percentile_ms};

const PATH: &str = "/XmlExchange/possim/kassa-1/";
/// `kassa-1:demo`.
const AUTH: &str = "Basic a2Fzc2EtMTpkZW1v";

/// Purchases a connection leaves open before it cancels them in one document (at most
/// `MAX_BATCH`, 100, singular requests fit in one). Fewer with many connections: each open
/// purchase holds a point of the card's 12,405.
const CANCEL_BATCH: usize = 50;
/// Points the open purchases of all connections may hold at once.
const POINTS_TO_HOLD: usize = 12_000;

fn document(wrapper: &str, element: &str, attributes: &str, children: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><XMLRequest><Version>3.2</Version><{wrapper}><{element} ElementID="1" OperationDate="2018-10-02T13:32:05+03:00" {attributes}>{children}</{element}></{wrapper}></XMLRequest>"#
    )
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

async fn send(connection: &mut Connection, body: String) -> (u32, bool) {
    let start = Instant::now();
    let (status, answer) = connection.post(body.as_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(answer));
    let accepted = answer.windows(13).any(|w| w == b"ErrorCode=\"0\"");
    (start.elapsed().as_micros() as u32, accepted)
}

/// Calculate and Payment latencies (µs), and how many cancel documents were sent.
async fn drive(addr: String, connection: usize, batch: usize, stop: Arc<Stop>) -> (Vec<u32>, Vec<u32>, usize) {
    let mut till = Connection::open(
        &addr,
        PATH,
        &[("authorization", AUTH), ("content-type", "application/xml")],
    )
    .await;
    let (mut calculate, mut payment) = (Vec::with_capacity(100_000), Vec::with_capacity(100_000));
    let mut open = Vec::with_capacity(batch);
    let (mut n, mut cancel_documents) = (0u64, 0);
    loop {
        let go_on = stop.go_on();
        if open.len() == batch || (!go_on && !open.is_empty()) {
            cancel(&mut till, connection, &open).await;
            open.clear();
            cancel_documents += 1;
        }
        if !go_on {
            break;
        }
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
        open.push(n);
    }
    (calculate, payment, cancel_documents)
}

/// Cancels the purchases `open` of this connection in one CancelPurchases document.
async fn cancel(till: &mut Connection, connection: usize, open: &[u64]) {
    let mut body =
        String::from(r#"<?xml version="1.0" encoding="UTF-8"?><XMLRequest><Version>3.2</Version><CancelPurchases>"#);
    for (i, n) in open.iter().enumerate() {
        body.push_str(&format!(
            r#"<CancelPurchaseRequest ElementID="{}" OperationDate="2018-10-02T13:32:05+03:00" PurchaseID="{connection:04}{n:016}" Cashier="bench" OperationID="{connection:08x}{:08x}{n:016x}"/>"#,
            i + 1,
            3
        ));
    }
    body.push_str("</CancelPurchases></XMLRequest>");
    let (status, answer) = till.post(body.as_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(answer));
    let accepted = answer.windows(13).filter(|w| *w == b"ErrorCode=\"0\"").count();
    assert_eq!(
        accepted,
        open.len(),
        "every cancel accepted: {}",
        String::from_utf8_lossy(answer)
    );
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
        let batch = (POINTS_TO_HOLD / connections.max(1)).clamp(1, CANCEL_BATCH);
        let cpu_before = cpu_micros(server.pid);
        let load_start = Instant::now();
        let tasks: Vec<_> = (0..connections)
            .map(|c| tokio::spawn(drive(server.addr.clone(), c, batch, Arc::clone(&stop))))
            .collect();
        let (mut calculate, mut payment, mut cancel_documents) = (Vec::new(), Vec::new(), 0);
        for t in tasks {
            let (c, p, d) = t.await.unwrap();
            calculate.extend(c);
            payment.extend(p);
            cancel_documents += d;
        }
        let elapsed = load_start.elapsed().as_secs_f64();
        let server_cpu = cpu_micros(server.pid).saturating_sub(cpu_before);
        let rss_kib = memory_kib(server.pid, "VmRSS:");
        let peak_kib = memory_kib(server.pid, "VmHWM:");
        calculate.sort_unstable();
        payment.sort_unstable();
        let operations = calculate.len() + payment.len();
        let requests = operations + cancel_documents;
        println!(
            "possim Loymax load benchmark (Calculate + Payment, cancels batched by {batch}; journal on, {connections} connections)"
        );
        println!(
            "  operations        {operations} in {elapsed:.1} s (+ {} purchases cancelled in {cancel_documents} documents)",
            payment.len()
        );
        println!(
            "  throughput        {:.0} Calculate+Payment/s",
            operations as f64 / elapsed
        );
        println!("  HTTP requests     {:.0} req/s", requests as f64 / elapsed);
        println!(
            "  server CPU        {:.0} µs per Calculate or Payment (the cancels' share included; {:.2} cores busy)",
            server_cpu as f64 / operations.max(1) as f64,
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

//! What one exchange costs inside the Loymax mock, without HTTP, the journal or the machine's
//! noise: time per command and the memory the state keeps, for the load bench's purchase
//! (Calculate, Payment of one point, Cancel) on the seed examples' card.
//!
//! Each exchange is timed by the monotonic clock (a vDSO read; reading the thread's CPU time
//! from `/proc` per call cost more than a Payment and was counted in). The thread's CPU time over
//! the whole run is printed beside the wall time: when they differ, the machine was busy and the
//! figures are not to be trusted.
//!
//! `cargo run --profile bench -p possim-loymax --example exchange_cost [purchases]` (default
//! 200,000; the bench profile reuses what `cargo bench` built). Figures: ARCHITECTURE.md,
//! "Measured figures".
//! The HTTP figures are the load bench's (`cargo bench --bench loymax_load`); this one tells
//! whether a change to the mock's own work paid off.

use std::sync::Arc;
use std::time::Instant;

use possim_engine::clock::{Clock, parse_rfc3339};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_loymax::{Incoming, LoymaxMock};

/// The `possim` binary's allocator: allocation is a good part of an exchange, and glibc's costs
/// differently.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn thread_cpu() -> std::time::Duration {
    // utime + stime come in clock ticks (100 Hz); schedstat has the thread's run time in
    // nanoseconds.
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
    std::time::Duration::from_nanos(ns)
}

const CHEQUE: &str = r#"<Cheque ChequeDate="2018-10-02T13:32:01+03:00"><ChequeLine PosID="1" GoodsId="146001" Name="Товар" Price="100.00" Quantity="2.000" Amount="200.00"/></Cheque><Identifier Type="Auto" Value="8690003"/>"#;

fn document(wrapper: &str, element: &str, attributes: &str, children: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><XMLRequest><Version>3.2</Version><{wrapper}><{element} ElementID="1" OperationDate="2018-10-02T13:32:05+03:00" {attributes}>{children}</{element}></{wrapper}></XMLRequest>"#
    )
    .into_bytes()
}

fn main() {
    let purchases: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/seed-examples");
    let set = DataSet::from_dir(&dir).expect("seed examples");
    let clock = Arc::new(Clock::frozen(parse_rfc3339("2026-12-01T12:00:00Z").unwrap()));
    let mock = LoymaxMock::new(clock);
    mock.load(&set).expect("loads");
    let inner = mock.inner();
    let rss_before = rss_kib();
    let exchange = |body: &[u8]| {
        let out = inner.exchange(Incoming {
            project: "possim",
            device: "kassa-1",
            credentials: Some(("kassa-1", "demo")),
            signature: None,
            body,
        });
        assert!(
            out.body.windows(13).any(|w| w == b"ErrorCode=\"0\""),
            "refused: {}",
            String::from_utf8_lossy(&out.body)
        );
        std::hint::black_box(out);
    };
    let mut spent = [std::time::Duration::ZERO; 3];
    let cpu_start = thread_cpu();
    let wall = Instant::now();
    for n in 0..purchases {
        let purchase = format!(r#"PurchaseID="{n:016}" Cashier="bench""#);
        let op = |kind: u8| format!(r#"OperationID="{kind:08x}{n:016x}""#);
        let bodies = [
            document(
                "Calculates",
                "CalculateRequest",
                &format!("{purchase} {}", op(1)),
                CHEQUE,
            ),
            document(
                "Payments",
                "PaymentRequest",
                &format!(r#"{purchase} {} Amount="1""#, op(2)),
                CHEQUE,
            ),
            document(
                "CancelPurchases",
                "CancelPurchaseRequest",
                &format!("{purchase} {}", op(3)),
                "",
            ),
        ];
        for (i, body) in bodies.iter().enumerate() {
            let t = Instant::now();
            exchange(body);
            spent[i] += t.elapsed();
        }
    }
    let n = purchases as f64;
    let (wall, cpu) = (wall.elapsed(), thread_cpu() - cpu_start);
    println!(
        "{purchases} purchases in {:.1} s ({:.1} s of it on the CPU)",
        wall.as_secs_f64(),
        cpu.as_secs_f64()
    );
    for (i, name) in ["Calculate", "Payment", "Cancel"].iter().enumerate() {
        println!("  {name:<10} {:>7.2} µs", spent[i].as_secs_f64() * 1e6 / n);
    }
    println!(
        "  RSS         {:.1} MB after loading, {:.1} MB after the run",
        rss_before as f64 / 1024.0,
        rss_kib() as f64 / 1024.0
    );
    println!(
        "  snapshot answeredOperations {}",
        mock.snapshot()["projects"][0]["answeredOperations"]
    );
}

//! Paygate figures: sale throughput (the shop encrypts and signs, the Paygate decrypts, checks
//! every format and the MAC, books and seals its answer, the shop decrypts it) for a Blowfish and
//! an AES merchant, and notify latency (from sending the sale to the final notify arriving at a
//! shop on loopback, through the real HTTP server, the customer approving at once).
//!
//! `cargo bench -p possim-computop --bench paygate`; `POSSIM_BENCH_SALES` sets the number of
//! in-process sales per cipher (default 20000), `POSSIM_BENCH_NOTIFIES` the number of notify
//! round trips (default 300).

use std::sync::Arc;
use std::time::{Duration, Instant};

use possim_computop::client::{self, Account};
use possim_computop::crypto::Cipher;
use possim_computop::form::{self, Fields};
use possim_computop::model::State;
use possim_computop::paygate::{self, Endpoint};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_engine::{Engine, EngineConfig, EngineError};

const DATA: &str = include_str!("../../datasets/default/computop.toml");

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn account(cipher: Cipher, mid: &str, hmac: &str, password: &str) -> Account {
    Account {
        merchant_id: mid.into(),
        hmac_password: hmac.into(),
        crypt_password: password.into(),
        cipher,
    }
}

fn throughput(account: &Account, sales: usize) {
    let data = DataSet::from_files("bench", [("computop.toml", DATA)]).expect("data set");
    let mut state = State::from_data_set(&data).expect("state");
    let started = Instant::now();
    for i in 0..sales {
        let sale = client::sale_request(
            account,
            &format!("T-{i}"),
            5500,
            "http://127.0.0.1:9",
            "9876543210",
            None,
        );
        let envelope = Fields::from_urlencoded(&account.seal(&sale).expect("seal"));
        let answer = paygate::handle(&mut state, Endpoint::Sale, &envelope, 0, 1);
        let opened = account.open(&Fields::from_urlencoded(&answer.body)).expect("open");
        assert_eq!(opened.get("Status"), Some("AUTHORIZE_REQUEST"), "{opened:?}");
        // Keep the state from growing without bound over the run: the figure is per request.
        if state.payments.len() > 1000 {
            state.payments.clear();
            state.order.clear();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sale round trip, {}: {:.0} requests/s ({:.1} µs per sale: shop encrypt + Paygate decrypt, checks, MAC, seal + shop decrypt), {sales} sales",
        account.cipher,
        sales as f64 / secs,
        secs * 1e6 / sales as f64
    );
}

async fn notify_latency(blowfish: &Account, rounds: usize) {
    let data = DataSet::from_files("bench", [("computop.toml", DATA)]).expect("data set");
    let engine = Engine::new(EngineConfig {
        data,
        clock_override: None,
        journal_capacity: 10_000,
        journal_enabled: true,
        journal_max_bytes: possim_engine::journal::DEFAULT_MAX_BYTES,
        retention: None,
        resolver: Box::new(|name| Err(EngineError::NotFound(name.to_owned()))),
    })
    .expect("engine");
    let mock = possim_computop::ComputopMock::new(engine.clock());
    mock.attach(&engine);
    let provider: Arc<dyn Provider> = Arc::new(mock);
    engine.add_provider(Arc::clone(&provider)).expect("load");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let paygate = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(possim_engine::http::serve_provider(
        listener,
        Arc::clone(&engine),
        provider,
        std::future::pending(),
    ));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let shop_account = blowfish.clone();
    let shop_app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let (tx, account) = (tx.clone(), shop_account.clone());
        async move {
            // The final notify is the only notify that says OK.
            let outer = Fields::from_urlencoded(&form::latin1_decode(&body));
            if account.open(&outer).is_ok_and(|f| f.get("Status") == Some("OK")) {
                let _ = tx.send(Instant::now());
            }
            "[accepted]"
        }
    });
    let shop_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let shop = format!("http://{}", shop_listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(shop_listener, shop_app).await });
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let sale = client::sale_request(blowfish, &format!("N-{i}"), 5500, &shop, "9876543210", None);
        let body = blowfish.seal(&sale).expect("seal");
        let sent = Instant::now();
        client
            .post(format!("{paygate}/PaybackPay.aspx"))
            .body(body)
            .send()
            .await
            .expect("sale answered");
        let arrived = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("final notify within 10 s")
            .expect("channel");
        latencies.push(arrived.duration_since(sent).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "sale to final notify on loopback (AUTHORIZE_REQUEST notify first, customer approves at once): median {:.2} ms, p99 {:.2} ms, max {:.2} ms over {rounds} sales",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}

fn main() {
    let blowfish = account(Cipher::Blowfish, "your_merchant_id", "mySecret", "16CharKeyLength!");
    let aes = account(
        Cipher::Aes,
        "possim_aes_shop",
        "possimHmacSecret",
        "0123456789abcdef0123456789abcdef",
    );
    let sales = env_count("POSSIM_BENCH_SALES", 20_000);
    throughput(&blowfish, sales);
    throughput(&aes, sales);
    let rounds = env_count("POSSIM_BENCH_NOTIFIES", 300);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(notify_latency(&blowfish, rounds));
}

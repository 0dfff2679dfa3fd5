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

use base64::Engine as _;
use possim_computop::crypto::{self, Cipher, Padding};
use possim_computop::form::{self, Fields};
use possim_computop::model::State;
use possim_computop::paygate::{self, Endpoint};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_engine::{Engine, EngineConfig, EngineError};
use serde_json::json;

const DATA: &str = include_str!("../../datasets/default/computop.toml");

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn sale_plain(mid: &str, hmac: &str, trans_id: &str, shop: &str) -> String {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::STANDARD.encode(v.to_string());
    let mut f = Fields::default();
    f.push("MerchantID", mid);
    f.push("TransID", trans_id);
    f.push("Amount", "5500");
    f.push("Currency", "EUR");
    f.push("URLSuccess", format!("{shop}/success"));
    f.push("URLFailure", format!("{shop}/failure"));
    f.push("URLNotify", format!("{shop}/notify"));
    f.push("Response", "encrypt");
    f.push("VatList", b64(json!({"items": [{"rate": 19, "amount": 878}]})));
    f.push(
        "ArticleList",
        b64(
            json!({"items": [{"itemReference": "1", "id": "A1", "name": "Shirt", "quantity": "1",
            "amount": 5500, "vatAmount": 878, "vatPercent": 19, "type": "GOODS"}]}),
        ),
    );
    f.push("AccountID", "9876543210");
    f.push("CustomerID", "9530c279-f13d-41db-b6a4-19488541bee9");
    f.push("IsBound", "True");
    f.push("CustomerGroup", "KNOWN");
    f.push("sdCountryCode", "DE");
    f.push("MAC", crypto::mac(hmac, &["", trans_id, mid, "5500", "EUR"]));
    f.encode()
}

fn throughput(cipher: Cipher, mid: &str, hmac: &str, password: &str, sales: usize) {
    let data = DataSet::from_files("bench", [("computop.toml", DATA)]).expect("data set");
    let mut state = State::from_data_set(&data).expect("state");
    let started = Instant::now();
    for i in 0..sales {
        let plain = sale_plain(mid, hmac, &format!("T-{i}"), "http://127.0.0.1:9");
        let (len, data) = crypto::encrypt(cipher, password, &plain, Padding::Nul).expect("encrypt");
        let envelope = vec![
            ("MerchantID".to_owned(), mid.to_owned()),
            ("Len".to_owned(), len.to_string()),
            ("Data".to_owned(), data),
        ];
        let answer = paygate::handle(&mut state, Endpoint::Sale, &envelope, 0, 1);
        let pairs = form::parse_urlencoded(&answer.body);
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .expect("Len/Data")
        };
        let opened =
            crypto::decrypt(cipher, password, get("Len").parse().expect("Len"), &get("Data")).expect("decrypt");
        assert!(opened.plain.contains("Status=AUTHORIZE_REQUEST"), "{}", opened.plain);
        // Keep the state from growing without bound over the run: the figure is per request.
        if state.payments.len() > 1000 {
            state.payments.clear();
            state.order.clear();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sale round trip, {cipher}: {:.0} requests/s ({:.1} µs per sale: shop encrypt + Paygate decrypt, checks, MAC, seal + shop decrypt), {sales} sales",
        sales as f64 / secs,
        secs * 1e6 / sales as f64
    );
}

async fn notify_latency(rounds: usize) {
    let data = DataSet::from_files("bench", [("computop.toml", DATA)]).expect("data set");
    let engine = Engine::new(EngineConfig {
        data,
        clock_override: None,
        journal_capacity: 10_000,
        journal_enabled: true,
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
    let shop_app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let tx = tx.clone();
        async move {
            // The final notify is the only notify that says OK.
            let text = form::latin1_decode(&body);
            let pairs = form::parse_urlencoded(&text);
            let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            if let (Some(len), Some(data)) = (get("Len"), get("Data")) {
                let plain = crypto::decrypt(Cipher::Blowfish, "16CharKeyLength!", len.parse().unwrap_or(0), &data)
                    .map(|d| d.plain)
                    .unwrap_or_default();
                if plain.contains("Status=OK") {
                    let _ = tx.send(Instant::now());
                }
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
        let plain = sale_plain("your_merchant_id", "mySecret", &format!("N-{i}"), &shop);
        let (len, data) = crypto::encrypt(Cipher::Blowfish, "16CharKeyLength!", &plain, Padding::Nul).expect("encrypt");
        let sent = Instant::now();
        client
            .post(format!("{paygate}/PaybackPay.aspx"))
            .body(format!("MerchantID=your_merchant_id&Len={len}&Data={data}"))
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
    let sales = env_count("POSSIM_BENCH_SALES", 20_000);
    throughput(
        Cipher::Blowfish,
        "your_merchant_id",
        "mySecret",
        "16CharKeyLength!",
        sales,
    );
    throughput(
        Cipher::Aes,
        "possim_aes_shop",
        "possimHmacSecret",
        "0123456789abcdef0123456789abcdef",
        sales,
    );
    let rounds = env_count("POSSIM_BENCH_NOTIFIES", 300);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(notify_latency(rounds));
}

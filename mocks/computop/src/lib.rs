//! The Computop Paygate mock for PAYBACK PAY (seed `003_86c66a49ba2f88b7.txt`):
//! `PaybackPay.aspx` (sale), `credit.aspx` (full and partial credits), `inquire.aspx`, with
//! Blowfish or AES `Data`, HMAC `MAC`, Computop's 8-character codes, ReqID idempotency, the
//! simulation mode `OrderDesc=Test:nnnn`, the customer in the PAYBACK app, notifies with retries
//! and the browser return. `mocks/computop/README.md` marks what is Computop's documented
//! behaviour and what is our design.
//!
//! Layout: `client` (the shop's side, for possim's own clients), `crypto` (Blowfish/AES `Data`, HMAC `MAC`; pure), `form` (the `Key=Value&…` plain
//! text; pure), `codes` (the `Code` table), `validate` (the seed's format column), `model`
//! (state, `computop.toml`), `paygate` (request processing, pure), `flow` (notifies, the
//! customer, the browser; async), `handlers` (axum routes and the admin API).

pub mod client;
pub mod codes;
pub mod crypto;
pub mod flow;
pub mod form;
pub mod handlers;
pub mod model;
pub mod operations;
pub mod paygate;
pub mod refusal;
pub mod retention;
pub mod validate;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use possim_engine::clock::Clock;
use possim_engine::dataset::DataSet;
use possim_engine::journal::{HttpRequestRecord, HttpResponseRecord};
use possim_engine::provider::Provider;
use possim_engine::{Engine, EngineError};
use serde_json::{Value, json};

use crate::form::Fields;
use crate::model::State;

/// Shared state: one lock, never held across an `.await`.
#[derive(Debug)]
pub struct Inner {
    state: Mutex<State>,
    clock: Arc<Clock>,
    engine: OnceLock<Weak<Engine>>,
    strict_callbacks: std::sync::atomic::AtomicBool,
    client: reqwest::Client,
    salt: u64,
    /// Bumped when a waiting flow must look at the state again (see `flow`).
    flows: tokio::sync::watch::Sender<u64>,
}

impl Inner {
    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The engine (for the journal and fault rules of outgoing messages), once attached.
    pub fn engine(&self) -> Option<Arc<Engine>> {
        self.engine.get().and_then(Weak::upgrade)
    }

    /// The engine clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Salt for generated ids.
    pub fn salt(&self) -> u64 {
        self.salt
    }

    /// Wakes every waiting flow to look at the state again: call after a change a flow waits
    /// for other than time (a reload, the customer's decision).
    pub fn wake_flows(&self) {
        self.flows.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that wakes on every [`Inner::wake_flows`] after this call.
    pub fn flow_wakeups(&self) -> tokio::sync::watch::Receiver<u64> {
        self.flows.subscribe()
    }
}

/// The Computop provider.
#[derive(Debug, Clone)]
pub struct ComputopMock {
    inner: Arc<Inner>,
}

impl ComputopMock {
    /// A mock with empty state; the engine loads the data set into it. Call [`attach`] once the
    /// engine exists so outgoing notifies are journaled and can be shaped by fault rules.
    ///
    /// [`attach`]: ComputopMock::attach
    pub fn new(clock: Arc<Clock>) -> Self {
        let mut seed = [0u8; 8];
        // Ids only need to differ between processes; a fixed salt is fine if the OS has no
        // randomness to give.
        let _ = getrandom::fill(&mut seed);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                clock,
                engine: OnceLock::new(),
                strict_callbacks: std::sync::atomic::AtomicBool::new(false),
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
                salt: u64::from_le_bytes(seed),
                flows: tokio::sync::watch::channel(0).0,
            }),
        }
    }

    /// Connects the mock to its engine (a weak link: the engine owns its providers).
    pub fn attach(&self, engine: &Arc<Engine>) {
        let _ = self.inner.engine.set(Arc::downgrade(engine));
    }

    /// `possim serve --strict`: callback URLs must follow the seed's rule whatever the data set
    /// says (applies from the next load; the engine loads at registration and on every reset).
    pub fn set_strict_callbacks(&self, strict: bool) {
        self.inner
            .strict_callbacks
            .store(strict, std::sync::atomic::Ordering::Relaxed);
        if strict {
            self.inner.lock().settings.strict_callbacks = true;
        }
    }

    /// Direct access for tests.
    pub fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

fn body_text(bytes: &possim_engine::journal::RecordedBody) -> String {
    bytes.text.clone().unwrap_or_default()
}

impl Provider for ComputopMock {
    fn name(&self) -> &'static str {
        "computop"
    }

    fn refusal(&self, status: axum::http::StatusCode, message: &str) -> axum::http::Response<axum::body::Bytes> {
        refusal::answer(status, message)
    }

    fn router(&self) -> axum::Router {
        handlers::router(Arc::clone(&self.inner))
    }

    fn load(&self, data: &DataSet) -> Result<(), EngineError> {
        let mut fresh = State::from_data_set(data)?;
        let mut state = self.inner.lock();
        fresh.generation = state.generation + 1;
        if self.inner.strict_callbacks.load(std::sync::atomic::Ordering::Relaxed) {
            fresh.settings.strict_callbacks = true;
        }
        // Ids stay unique across resets of one process.
        fresh.id_counter = state.id_counter;
        *state = fresh;
        drop(state);
        // Flows of the old generation stop now rather than at their next timer.
        self.inner.wake_flows();
        Ok(())
    }

    fn check(&self, data: &DataSet) -> Result<(), EngineError> {
        State::from_data_set(data).map(drop)
    }

    fn snapshot(&self) -> Value {
        let state = self.inner.lock();
        json!({
            "settings": state.settings,
            "merchants": state.merchants.values().map(|m| json!({
                "merchantId": m.merchant_id, "cipher": m.cipher, "smallAmounts": m.small_amounts,
            })).collect::<Vec<_>>(),
            "members": state.members.values().collect::<Vec<_>>(),
            "payments": state.order.iter().filter_map(|id| state.payments.get(id)).collect::<Vec<_>>(),
            "credits": state.credits,
            "reqIds": state.req_ids.keys().map(|(m, page, id)| json!({"merchantId": m, "page": page, "reqId": id})).collect::<Vec<_>>(),
            "nextDecisions": state.next_decisions,
            "retention": {"transactions": state.retain, "summarised": state.summarised},
        })
    }

    /// `{"type": "spendPoints", "accountId": "…", "points": n}`: the member spends points
    /// elsewhere (another shop, the app) between the sale and the customer's decision.
    fn apply_change(&self, change: &Value) -> Result<Value, String> {
        let kind = change.get("type").and_then(Value::as_str).unwrap_or("");
        if kind != "spendPoints" {
            return Err(format!(
                "computop competing change: unknown type {kind:?} (spendPoints)"
            ));
        }
        let account = change.get("accountId").and_then(Value::as_str).unwrap_or("");
        let points = change.get("points").and_then(Value::as_i64).unwrap_or(0);
        let mut state = self.inner.lock();
        let member = state
            .members
            .get_mut(account)
            .ok_or_else(|| format!("computop competing change: no member {account:?}"))?;
        if points < 0 || points > member.points {
            return Err(format!(
                "computop competing change: cannot spend {points} of {} points",
                member.points
            ));
        }
        member.points -= points;
        Ok(json!({"accountId": account, "spent": points, "balance": member.points}))
    }

    fn describe(&self, request: &HttpRequestRecord, response: Option<&HttpResponseRecord>) -> Option<Value> {
        let envelope = handlers::envelope(request.query.as_deref(), body_text(&request.body).as_bytes());
        let state = self.inner.lock();
        let merchant = state.merchants.get(envelope.get("MerchantID")?)?;
        let open = |outer: &Fields| -> Option<Value> {
            let len = outer.get("Len")?.trim().parse().ok()?;
            let plain = crypto::decrypt(merchant.cipher, &merchant.crypt_password, len, outer.get("Data")?).ok()?;
            Some(Fields::parse(&plain.plain, state.settings.percent_decode).to_json())
        };
        // An answer that is not Len/Data (a plain error) is shown as it is.
        let response_view = response.map(|r| {
            let outer = Fields::from_urlencoded(&body_text(&r.body));
            open(&outer).unwrap_or_else(|| outer.to_json())
        });
        Some(json!({"request": open(&envelope)?, "response": response_view, "notes": []}))
    }

    fn admin_router(&self) -> Option<axum::Router> {
        Some(handlers::admin_router(Arc::clone(&self.inner)))
    }

    fn admin_openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(<handlers::AdminApi as utoipa::OpenApi>::openapi())
    }

    fn classify(
        &self,
        request: &possim_engine::journal::HttpRequestRecord,
    ) -> Option<possim_engine::journal::Operation> {
        Some(operations::classify(request))
    }
}

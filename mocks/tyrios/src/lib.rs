//! The TYRIOS eCash mock: bonus points, coupons and users over the JSON REST API of seed
//! `001_110a1f62d74be6b1.txt` ("TYRIOS eCash – Kassenintegration leicht gemacht").
//!
//! Layout:
//! - `money`: cents, points and validity arithmetic.
//! - `errors`: the provider's error answers in German and English.
//! - `model`: state, point lots, coupons, and the data set file `tyrios.toml`.
//! - `wire`: request parsing and answer rendering.
//! - `domain`: users, coupons and the five transaction kinds (pure, no I/O).
//! - `handlers`: the axum routes.
//! - `operations`: what each request asks for, for the journal.
//! - `retention`: the newest transactions kept, older ones summarised (bounded memory).
//!
//! The provider's behaviour, including every choice made where the seed is silent, is documented
//! in `mocks/tyrios/README.md`.

pub mod domain;
pub mod errors;
pub mod handlers;
pub mod model;
pub mod money;
pub mod operations;
pub mod refusal;
pub mod retention;
pub mod wire;

use std::sync::Arc;

use possim_engine::EngineError;
use possim_engine::clock::Clock;
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_engine::state::StateCell;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::model::State;
use crate::wire::{TxKind, parse_tx_request};

/// Shared state of the mock: one lock is the one consistency boundary of the provider.
pub type Inner = StateCell<State>;

/// The TYRIOS provider.
#[derive(Debug, Clone)]
pub struct TyriosMock {
    inner: Arc<Inner>,
}

impl TyriosMock {
    /// A mock with empty state using `clock`; the engine loads the data set into it.
    pub fn new(clock: Arc<Clock>) -> Self {
        let empty = DataSet::from_files("empty", []).expect("an empty data set is valid");
        let state = State::from_data_set(&empty).expect("an empty state is valid");
        Self {
            inner: Arc::new(Inner::new(state, clock)),
        }
    }

    /// Direct access for tests and benchmarks that bypass HTTP.
    pub fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

/// A competing change: a transaction another till runs right before the matched request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompetingTransaction {
    /// Endpoint name: pos, coupon, couponActivation, cash, specialPoints.
    r#type: String,
    /// Company; the first company of the data set when absent.
    #[serde(default)]
    company: Option<u64>,
    /// The transaction body, as a till would send it.
    body: Value,
}

impl Provider for TyriosMock {
    fn name(&self) -> &'static str {
        "tyrios"
    }

    fn refusal(&self, status: axum::http::StatusCode, message: &str) -> axum::http::Response<axum::body::Bytes> {
        refusal::answer(status, message)
    }

    fn router(&self) -> axum::Router {
        handlers::router(Arc::clone(&self.inner))
    }

    fn load(&self, data: &DataSet) -> Result<(), EngineError> {
        self.inner.load(data)
    }

    fn check(&self, data: &DataSet) -> Result<(), EngineError> {
        self.inner.check(data)
    }

    fn snapshot(&self) -> Value {
        let now = self.inner.clock().now_ms();
        let state = self.inner.lock();
        let users: Vec<Value> = state
            .users
            .values()
            .map(|u| {
                json!({
                    "id": u.id, "preName": u.pre_name, "name": u.name, "eMail": u.e_mail,
                    "birthday": u.birthday, "uniqueUserHash": u.unique_user_hash,
                    "currentBonusPoints": u.balance(now), "expiredPoints": u.expired_points, "lots": u.lots,
                })
            })
            .collect();
        let coupons: Vec<Value> = state
            .coupons
            .values()
            .map(|c| {
                json!({
                    "id": c.id, "couponCode": c.coupon_code, "couponValue": money::cents_to_json(c.value),
                    "originalValue": money::cents_to_json(c.original_value), "state": c.state, "kind": c.kind,
                    "validUntil": c.valid_until,
                })
            })
            .collect();
        let transactions: Vec<Value> = state
            .transactions
            .iter()
            .filter_map(|t| {
                let company = state.companies.get(&t.company)?;
                Some(domain::transaction_json(
                    t,
                    company,
                    domain::available_obtained_now(&state, t, now),
                ))
            })
            .collect();
        json!({
            "companies": state.companies.values().collect::<Vec<_>>(),
            "users": users,
            "coupons": coupons,
            "transactions": transactions,
            "outbox": state.outbox,
            "retention": {"transactions": state.retain, "summarised": state.summaries},
            "nextUserId": state.next_user_id,
            "nextTransactionId": state.next_transaction_id,
        })
    }

    fn apply_change(&self, change: &Value) -> Result<Value, String> {
        let change: CompetingTransaction = serde_json::from_value(change.clone())
            .map_err(|e| format!("tyrios competing change: {e} (expected {{\"type\": \"pos\", \"body\": {{...}}}})"))?;
        let kind = TxKind::from_segment(&change.r#type)
            .ok_or_else(|| format!("tyrios competing change: unknown transaction type {:?}", change.r#type))?;
        let body = serde_json::to_vec(&change.body).map_err(|e| e.to_string())?;
        let req = parse_tx_request(&body).map_err(|e| e.to_string())?;
        let now = self.inner.clock().now_ms();
        let mut state = self.inner.lock();
        let company = match change.company {
            Some(c) => c,
            None => *state
                .companies
                .keys()
                .next()
                .ok_or("tyrios competing change: no company in the data set")?,
        };
        let rec = domain::execute(&mut state, company, kind, &req, false, now).map_err(|e| e.to_string())?;
        let company = &state.companies[&company];
        Ok(domain::transaction_json(&rec, company, rec.available_obtained))
    }

    fn admin_router(&self) -> Option<axum::Router> {
        Some(
            axum::Router::new()
                .route("/outbox", axum::routing::get(outbox))
                .with_state(Arc::clone(&self.inner)),
        )
    }

    fn admin_openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(<AdminApi as utoipa::OpenApi>::openapi())
    }

    fn classify(
        &self,
        request: &possim_engine::journal::HttpRequestRecord,
    ) -> Option<possim_engine::journal::Operation> {
        Some(operations::classify(request))
    }
}

/// The description of the admin routes, relative to `/__admin/tyrios`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(outbox), tags((name = "tyrios", description = "what TYRIOS sent besides its answers")))]
struct AdminApi;

/// `GET /__admin/tyrios/outbox`: the registration mails TYRIOS would have sent.
#[utoipa::path(get, path = "/outbox", tag = "tyrios",
    responses((status = 200, description = "`{\"outbox\": [mail, …]}`", content_type = "application/json")))]
async fn outbox(axum::extract::State(inner): axum::extract::State<Arc<Inner>>) -> axum::Json<Value> {
    axum::Json(json!({"outbox": inner.lock().outbox}))
}

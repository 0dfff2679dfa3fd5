//! The PAYBACK loyalty mock: the partner interface behind the POS configuration of seed
//! `000_8b0971b69cb37f40.txt` (partner short name, host, user, password, "test connection",
//! "update geolocation") — member lookup, PIN authentication, collecting points with action
//! coupons, redemption, reversals, coupon validation.
//!
//! PAYBACK's partner API is not public. Everything here follows the design in
//! `shared/specs/computop-payback.md` §3.3 and the public programme rules it cites (1 point =
//! 1 cent, at least 200 points per redemption, 4-digit PIN locked after three wrong entries,
//! 36-month validity ending on 30 September, two cards per account); `mocks/payback/README.md`
//! marks each behaviour [DOC] or [ours].
//!
//! Layout: `answers` (the typed answers), `card` (numbers, Luhn), `errors` (stable codes), `model` (state, `payback.toml`),
//! `domain` (the operations, pure), `handlers` (axum routes), `retention` (the newest bookings
//! kept per partner, older ones summarised).

pub mod answers;
pub mod card;
pub mod domain;
pub mod errors;
pub mod handlers;
pub mod model;
pub mod operations;
pub mod refusal;
pub mod retention;

use std::sync::Arc;

use possim_engine::EngineError;
use possim_engine::clock::Clock;
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_engine::state::StateCell;
use serde_json::{Value, json};

use crate::model::State;

/// Shared state: one lock, never held across an `.await`.
pub type Inner = StateCell<State>;

/// The PAYBACK provider.
#[derive(Debug, Clone)]
pub struct PaybackMock {
    inner: Arc<Inner>,
}

impl PaybackMock {
    /// A mock with empty state; the engine loads the data set into it.
    pub fn new(clock: Arc<Clock>) -> Self {
        Self {
            inner: Arc::new(Inner::new(State::default(), clock)),
        }
    }

    /// Direct access for tests.
    pub fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl Provider for PaybackMock {
    fn name(&self) -> &'static str {
        "payback"
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
        let members: Vec<Value> = state
            .members
            .values()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
                v["balance"] = json!(m.balance(now));
                v["pinLocked"] = json!(m.pin_failures >= model::PIN_TRIES);
                if let Some((at, points)) = domain::next_expiry(m, now) {
                    v["nextExpiry"] = json!({"at": possim_engine::clock::format_rfc3339(at), "points": points});
                }
                v
            })
            .collect();
        json!({
            "partners": state.partners.values().collect::<Vec<_>>(),
            "members": members,
            "coupons": state.coupons.values().collect::<Vec<_>>(),
            "purchases": state.purchases.values().collect::<Vec<_>>(),
            "redemptions": state.redemptions.values().collect::<Vec<_>>(),
            "transactions": state.idempotency.iter().map(|((partner, id), i)| json!({
                "partner": partner, "transactionId": id, "operation": i.operation, "answer": i.answer,
            })).collect::<Vec<_>>(),
            "retention": {"transactions": state.retain, "summarised": state.history.summarised},
        })
    }

    /// Another till acts between two requests of the till under test: `{"type": "redemption",
    /// "partner": …, "body": {…}}` or `{"type": "purchase", …}` run the operation as that till
    /// would; `{"type": "useCoupon", "code": …, "customerNumber": …}` spends a coupon.
    fn apply_change(&self, change: &Value) -> Result<Value, String> {
        let kind = change.get("type").and_then(Value::as_str).unwrap_or("");
        let now = self.inner.clock().now_ms();
        let mut state = self.inner.lock();
        let partner = match change.get("partner").and_then(Value::as_str) {
            Some(p) => p.to_owned(),
            None => state
                .partners
                .keys()
                .next()
                .cloned()
                .ok_or("payback competing change: no partner in the data set")?,
        };
        let body = change.get("body").cloned().unwrap_or(Value::Null);
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let result = match kind {
            "redemption" => domain::parse(&bytes)
                .and_then(|(req, raw)| domain::redeem(&mut state, &partner, &req, &raw, now))
                .map(|booked| answers::to_json(&booked)),
            "purchase" => domain::parse(&bytes)
                .and_then(|(req, raw)| domain::purchase(&mut state, &partner, &req, &raw, now))
                .map(|booked| answers::to_json(&booked)),
            "useCoupon" => {
                let code = change
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_uppercase();
                let customer = change
                    .get("customerNumber")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                match state.coupons.get_mut(&code) {
                    Some(c) => {
                        // A member is in `usedBy` once: spending again changes nothing.
                        if !c.used_by.contains(&customer) {
                            c.used_by.push(customer);
                        }
                        Ok(json!({"code": code, "used": true}))
                    }
                    None => Err(errors::PaybackError::Coupon {
                        code: "COUPON_UNKNOWN",
                        reason: "unknown coupon".into(),
                    }),
                }
            }
            other => {
                return Err(format!(
                    "payback competing change: unknown type {other:?} (redemption, purchase, useCoupon)"
                ));
            }
        };
        result.map_err(|e| format!("{}: {e}", e.code()))
    }

    fn classify(
        &self,
        request: &possim_engine::journal::HttpRequestRecord,
    ) -> Option<possim_engine::journal::Operation> {
        Some(operations::classify(request))
    }
}

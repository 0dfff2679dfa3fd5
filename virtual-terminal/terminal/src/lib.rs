//! The virtual ZVT card terminal (PT) a cash register (ECR) talks to over TCP or a serial line,
//! as if it were a real terminal on the counter.
//!
//! Layout:
//! - `config`: `zvt.toml` — identity, password, currency, virtual cards, delays.
//! - `customer`: what the customer (and the host) do in the next transaction.
//! - `machine`: the PT state machine, without I/O, in rooms (session and arbitration, payment,
//!   pre-authorisation, admin, receipts, PAYBACK): APDUs and timer events of each connection in,
//!   typed APDUs, timers and notes addressed to connections out.
//! - `tls`: the TLS configurations of the terminal's TLS listener and of the reference ECR.
//! - `link`: the TCP link (raw APDUs, also inside TLS) and the serial link (frames, ACK/NAK, T1/T2, repeats).
//! - `pty`: the pseudo-terminal pair that stands in for the RS-232 port.
//! - `serve`: runs the state machine on a link — TCP listener, pty or serial device — with the
//!   journal and the timer, and routes each output to the link of its connection.
//! - `profile`: quirk profiles — the documented deviations of real terminal models, as data.
//! - `payback`: the PAYBACK host the terminal books redemptions at (Austria, seed 000) [ours].
//! - `ecr`: a correct ECR client — the reference POS for the terminal and `possim zvt` commands.
//! - `fake_payback` (tests and the `test-support` feature): a PAYBACK host without the mock.
//! - `test_driver` (tests and the `test-support` feature): runs a command to its end, every
//!   message acknowledged.
//!
//! Behaviour, and every choice where the specification leaves room: `virtual-terminal/README.md`.

pub mod config;
pub mod customer;
pub mod ecr;
#[cfg(any(test, feature = "test-support"))]
pub mod fake_payback;
pub mod link;
pub mod machine;
pub mod payback;
pub mod profile;
#[cfg(unix)]
pub mod pty;
pub mod serve;
#[cfg(any(test, feature = "test-support"))]
pub mod test_driver;
pub mod tls;

use axum::response::IntoResponse;
use std::sync::{Arc, Mutex, MutexGuard};

use possim_engine::EngineError;
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use serde_json::{Value, json};

use crate::config::TerminalConfig;
use crate::customer::{CustomerScript, OperatorEvent};
use crate::machine::{Action, ConnectionId, Output, Terminal};

/// The terminal, and the outputs waiting for the link of the connection they are addressed to.
#[derive(Debug)]
pub struct Shared {
    /// The state machine; it decides which connection owns it and whom each output is for.
    pub terminal: Terminal,
    /// Outputs for another link than the one that produced them (the abort of a second ECR, the
    /// operator at the console): each link takes its own; `wake` tells them they are there.
    pending: Vec<Output>,
}

impl Shared {
    /// Routes the machine's outputs: those for `here` are returned in order, the others wait
    /// in `pending` for their link. Returns whether any was left there.
    pub(crate) fn route(&mut self, outputs: Vec<Output>, here: Option<ConnectionId>) -> (Vec<Action>, bool) {
        let mut mine = Vec::new();
        let mut posted = false;
        for output in outputs {
            if Some(output.connection) == here {
                mine.push(output.action);
            } else {
                self.pending.push(output);
                posted = true;
            }
        }
        (mine, posted)
    }

    /// The outputs waiting for `connection`, in order.
    pub(crate) fn take_pending(&mut self, connection: ConnectionId) -> Vec<Action> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let (mine, others) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|o| o.connection == connection);
        self.pending = others;
        mine.into_iter().map(|o: Output| o.action).collect()
    }
}

/// The terminal as an engine provider: reset and data sets reach it like every mock, its state
/// shows in `/__admin/state/zvt`, and `/__admin/zvt/customer` scripts the next customer.
#[derive(Debug, Clone)]
pub struct ZvtTerminal {
    inner: Arc<Mutex<Shared>>,
    wake: Arc<tokio::sync::Notify>,
    /// Engine time for actions that come through the admin API (the operator).
    clock: Option<Arc<possim_engine::clock::Clock>>,
}

impl Default for ZvtTerminal {
    fn default() -> Self {
        Self::new()
    }
}

impl ZvtTerminal {
    /// A terminal with the built-in configuration until a data set is loaded.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Shared {
                terminal: Terminal::new(TerminalConfig::default()),
                pending: Vec::new(),
            })),
            wake: Arc::new(tokio::sync::Notify::new()),
            clock: None,
        }
    }

    /// A terminal that reads engine time for admin-API actions.
    pub fn with_clock(clock: Arc<possim_engine::clock::Clock>) -> Self {
        Self {
            clock: Some(clock),
            ..Self::new()
        }
    }

    /// Woken when outputs wait for a link ([`Shared::take_pending`]).
    pub fn wake(&self) -> &tokio::sync::Notify {
        &self.wake
    }

    /// The operator's action at the PIN pad; its outputs go to the link that runs the
    /// transaction.
    pub fn operator_event(&self, event: OperatorEvent, now: i64) -> Result<(), String> {
        let mut shared = self.lock();
        let outputs = shared.terminal.operator_event(event, now)?;
        shared.route(outputs, None);
        drop(shared);
        self.wake.notify_waiters();
        Ok(())
    }

    /// Connects the PAYBACK host for redemptions through the terminal (kept across data sets).
    pub fn set_payback_host(&self, host: Arc<dyn payback::PaybackHost>) {
        self.lock().terminal.set_payback_host(Some(host));
    }

    /// Locks the terminal; never held across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Provider for ZvtTerminal {
    fn name(&self) -> &'static str {
        "zvt"
    }

    /// The terminal speaks ZVT on its own link, not HTTP.
    fn router(&self) -> axum::Router {
        axum::Router::new()
    }

    fn check(&self, data: &DataSet) -> Result<(), EngineError> {
        TerminalConfig::from_data_set(data).map(drop)
    }

    fn load(&self, data: &DataSet) -> Result<(), EngineError> {
        let config = TerminalConfig::from_data_set(data)?;
        let mut shared = self.lock();
        let operator_mode = shared.terminal.operator_mode();
        let payback_host = shared.terminal.payback_host();
        shared.terminal = Terminal::new(config);
        // So does the PAYBACK host (it lives as long as the process).
        shared.terminal.set_payback_host(payback_host);
        // The console stays attached across resets.
        shared.terminal.set_operator_mode(operator_mode);
        shared.pending.clear();
        Ok(())
    }

    fn snapshot(&self) -> Value {
        let shared = self.lock();
        let t = &shared.terminal;
        let (groups, total, _, _) = t.totals();
        json!({
            "terminalId": t.config().terminal_id,
            "registered": t.registration().map(|c| format!("{c:02X}")),
            "busy": t.busy(),
            "operatorMode": t.operator_mode(),
            "transactions": t.batch(),
            "preAuthorisations": t.pre_auths(),
            "total": total,
            "totalsByGroup": groups.iter().map(|(count, sum)| json!({"count": count, "total": sum})).collect::<Vec<_>>(),
            "retention": {"transactions": t.config().retain, "summarised": t.forgotten()},
        })
    }

    fn apply_change(&self, _change: &Value) -> Result<Value, String> {
        Err("the ZVT terminal has no competing changes; script the customer via /__admin/zvt/customer".into())
    }

    fn admin_router(&self) -> Option<axum::Router> {
        Some(
            axum::Router::new()
                .route("/operator", axum::routing::post(operator_action).put(operator_mode))
                .route("/customer", axum::routing::post(script_customer))
                .with_state(self.clone()),
        )
    }

    fn admin_openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(<AdminApi as utoipa::OpenApi>::openapi())
    }
}

/// The description of the admin routes, relative to `/__admin/zvt`.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(operator_action, operator_mode, script_customer),
    tags((name = "zvt", description = "the people at the card terminal"))
)]
struct AdminApi;

/// `POST /__admin/zvt/operator`: what the person at the terminal does now.
#[utoipa::path(post, path = "/operator", tag = "zvt",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "`{\"insert\": \"<card>\"}`, `{\"pin\": \"1234\"}` or `\"abort\"`"),
    responses(
        (status = 204, description = "done"),
        (status = 409, description = "not possible now, or not understood: `{\"error\": \"…\"}`")))]
async fn operator_action(
    axum::extract::State(operator): axum::extract::State<ZvtTerminal>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let event: Result<OperatorEvent, String> = serde_json::from_slice(&body).map_err(|e| {
        format!("invalid operator action: {e} (give {{\"insert\": \"<card>\"}}, {{\"pin\": \"1234\"}} or \"abort\")")
    });
    let now = operator.clock.as_ref().map_or(0, |c| c.now_ms());
    match event.and_then(|e| operator.operator_event(e, now)) {
        Ok(()) => no_content(),
        Err(e) => (axum::http::StatusCode::CONFLICT, axum::Json(json!({"error": e}))).into_response(),
    }
}

/// `PUT /__admin/zvt/operator`: operator mode on or off (a person at the terminal, or nobody).
#[utoipa::path(put, path = "/operator", tag = "zvt",
    request_body(content = serde_json::Value, content_type = "application/json", description = "`{\"on\": true|false}`"),
    responses(
        (status = 200, description = "`{\"on\": …}` as set", content_type = "application/json"),
        (status = 400, description = "invalid body: `{\"error\": \"…\"}`")))]
async fn operator_mode(
    axum::extract::State(mode): axum::extract::State<ZvtTerminal>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Mode {
        on: bool,
    }
    match serde_json::from_slice::<Mode>(&body) {
        Ok(m) => {
            mode.lock().terminal.set_operator_mode(m.on);
            (axum::http::StatusCode::OK, axum::Json(json!({"on": m.on}))).into_response()
        }
        Err(e) => (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": format!("give {{\"on\": true|false}}: {e}")})),
        )
            .into_response(),
    }
}

/// `POST /__admin/zvt/customer`: what the next customer does (card, PIN, decline, …).
#[utoipa::path(post, path = "/customer", tag = "zvt",
    request_body(content = serde_json::Value, content_type = "application/json", description = "a customer script"),
    responses(
        (status = 204, description = "scripted"),
        (status = 400, description = "invalid script: `{\"error\": \"…\"}`")))]
async fn script_customer(
    axum::extract::State(me): axum::extract::State<ZvtTerminal>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let script: Result<CustomerScript, String> =
        serde_json::from_slice(&body).map_err(|e| format!("invalid customer script: {e}"));
    match script.and_then(|s| me.lock().terminal.script_next(s)) {
        Ok(()) => no_content(),
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": e}))).into_response(),
    }
}

/// A 204 without a body: `Json(null)` would send `null` with `content-length: 4`, which a 204
/// must not carry.
fn no_content() -> axum::response::Response {
    axum::http::StatusCode::NO_CONTENT.into_response()
}

//! HTTP: the Paygate pages (GET and POST, page names case-insensitive as IIS serves them) and the
//! admin endpoints under `/__admin/computop/`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use possim_engine::journal::View;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Inner;
use crate::crypto;
use crate::flow;
use crate::form::{self, Fields};
use crate::model::{self, Decision};
use crate::paygate::{self, Endpoint};

/// The largest request body the pages read (a form with Len/Data; VatList and ArticleList make
/// it grow, but 1 MiB is far beyond any real sale).
const MAX_BODY: usize = 1 << 20;

/// The Paygate pages: every path goes through one handler that picks the page by name.
pub fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(page).with_state(inner)
}

/// The outer parameters of a request: the query string, then a form body.
pub fn envelope(query: Option<&str>, body: &[u8]) -> Fields {
    let mut fields = Fields::from_urlencoded(query.unwrap_or(""));
    if !body.is_empty() {
        // The Paygate works in ISO-8859-1; a UTF-8 body of ASCII (Len/Data are hex) reads the same.
        let text = match std::str::from_utf8(body) {
            Ok(text) => text.to_owned(),
            Err(_) => form::latin1_decode(body),
        };
        fields.extend(Fields::from_urlencoded(&text));
    }
    fields
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn page(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(endpoint) = Endpoint::from_path(parts.uri.path()) else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "{} is not a Paygate page of this mock (PaybackPay.aspx, credit.aspx, inquire.aspx)",
                parts.uri.path()
            ),
        );
    };
    if parts.method != Method::GET && parts.method != Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} takes GET or POST", endpoint.page()),
        );
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY} bytes"),
        );
    };
    let pairs = envelope(parts.uri.query(), &body);
    let now = inner.clock().now_ms();
    let engine = inner.engine();
    let self_call = |url: &str| engine.as_ref().and_then(|e| e.self_calls().check_url(url));
    let answer = paygate::handle_with(&mut inner.lock(), endpoint, &pairs, now, inner.salt(), &self_call);
    if let Some(pay_id) = answer.started.clone() {
        flow::start(Arc::clone(&inner), pay_id);
    }
    let mut response = text(StatusCode::OK, answer.body);
    response.extensions_mut().insert(View(answer.view));
    response
}

/// Admin endpoints (mounted under `/__admin/computop`).
pub fn admin_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/decision", post(decide))
        .route("/next-decisions", post(queue_decision))
        .route("/payments", get(payments))
        .route("/seal", post(seal))
        .route("/open", post(open))
        .with_state(inner)
}

/// The description of [`admin_router`]'s routes, relative to `/__admin/computop`.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(decide, queue_decision, payments, seal, open),
    tags((name = "computop", description = "the Computop app customer and developer helpers"))
)]
pub struct AdminApi;

fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(admin_error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}"))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecideBody {
    #[serde(default)]
    pay_id: Option<String>,
    #[serde(default)]
    trans_id: Option<String>,
    #[serde(flatten)]
    decision: Decision,
}

/// The customer decides now, in the app, for a payment waiting for them.
#[utoipa::path(post, path = "/decision", tag = "computop",
    request_body(content = serde_json::Value, content_type = "application/json", description = "the decision (as in `next-decisions`), optionally with `payId` or `transId` of the waiting payment"),
    responses((status = 200, description = "`{\"payId\": …, \"accepted\": true}`", content_type = "application/json"), (status = 400, description = "invalid JSON body: `{\"error\": \"…\"}`"), (status = 404, description = "nothing to act on: `{\"error\": \"…\"}`")))]
async fn decide(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let body: DecideBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if let Err(e) = model::check_decision(&body.decision) {
        return admin_error(StatusCode::BAD_REQUEST, e);
    }
    let mut state = inner.lock();
    let waiting = state
        .order
        .iter()
        .rev()
        .filter_map(|id| state.payments.get(id))
        .find(|p| {
            p.status == model::PaymentStatus::AuthorizeRequest
                && body.pay_id.as_ref().is_none_or(|id| *id == p.pay_id)
                && body.trans_id.as_ref().is_none_or(|id| *id == p.trans_id)
        })
        .map(|p| p.pay_id.clone());
    let Some(pay_id) = waiting else {
        return admin_error(
            StatusCode::NOT_FOUND,
            "no payment waiting for the customer's decision matches (payId/transId)",
        );
    };
    state.manual.insert(pay_id.clone(), body.decision);
    drop(state);
    inner.wake_flows();
    axum::Json(json!({"payId": pay_id, "accepted": true})).into_response()
}

/// Queues a decision for the next sale.
#[utoipa::path(post, path = "/next-decisions", tag = "computop",
    request_body(content = serde_json::Value, content_type = "application/json", description = "the customer's decision for the next sale waiting in the app"),
    responses((status = 200, description = "`{\"queued\": n}`", content_type = "application/json"), (status = 400, description = "invalid JSON body: `{\"error\": \"…\"}`")))]
async fn queue_decision(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let decision: Decision = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if let Err(e) = model::check_decision(&decision) {
        return admin_error(StatusCode::BAD_REQUEST, e);
    }
    let mut state = inner.lock();
    state.next_decisions.push_back(decision);
    axum::Json(json!({"queued": state.next_decisions.len()})).into_response()
}

/// Every payment, oldest first.
#[utoipa::path(get, path = "/payments", tag = "computop",
    responses((status = 200, description = "the payments as JSON array", content_type = "application/json")))]
async fn payments(State(inner): State<Arc<Inner>>) -> Response {
    let state = inner.lock();
    let list: Vec<&model::Payment> = state.order.iter().filter_map(|id| state.payments.get(id)).collect();
    axum::Json(json!(list)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SealBody {
    merchant_id: String,
    plain: String,
}

/// A developer's helper: encrypts a plain text for a merchant as the Paygate does.
#[utoipa::path(post, path = "/seal", tag = "computop",
    request_body(content = serde_json::Value, content_type = "application/json", description = "`{\"merchantId\": …, \"plain\": \"a=b&c=d\"}`"),
    responses((status = 200, description = "`{\"Len\": n, \"Data\": \"…\"}`", content_type = "application/json"), (status = 400, description = "invalid JSON body: `{\"error\": \"…\"}`"), (status = 404, description = "nothing to act on: `{\"error\": \"…\"}`")))]
async fn seal(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let body: SealBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let state = inner.lock();
    let Some(merchant) = state.merchants.get(&body.merchant_id) else {
        return admin_error(StatusCode::NOT_FOUND, format!("no merchant {:?}", body.merchant_id));
    };
    match crypto::encrypt(
        merchant.cipher,
        &merchant.crypt_password,
        &body.plain,
        state.settings.padding,
    ) {
        Ok((len, data)) => axum::Json(json!({"Len": len, "Data": data})).into_response(),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    #[serde(rename = "merchantId")]
    merchant_id: String,
    #[serde(rename = "Len")]
    len: usize,
    #[serde(rename = "Data")]
    data: String,
}

/// A developer's helper: decrypts `Len`/`Data` of a merchant and lists the fields.
#[utoipa::path(post, path = "/open", tag = "computop",
    request_body(content = serde_json::Value, content_type = "application/json", description = "`{\"merchantId\": …, \"Len\": n, \"Data\": \"…\"}`"),
    responses((status = 200, description = "`{\"plain\": …, \"fields\": {…}, \"notes\": […]}`", content_type = "application/json"), (status = 400, description = "invalid JSON body: `{\"error\": \"…\"}`"), (status = 404, description = "nothing to act on: `{\"error\": \"…\"}`")))]
async fn open(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let body: OpenBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let state = inner.lock();
    let Some(merchant) = state.merchants.get(&body.merchant_id) else {
        return admin_error(StatusCode::NOT_FOUND, format!("no merchant {:?}", body.merchant_id));
    };
    match crypto::decrypt(merchant.cipher, &merchant.crypt_password, body.len, &body.data) {
        Ok(d) => {
            let fields = Fields::parse(&d.plain, state.settings.percent_decode);
            let value: Value = fields.to_json();
            axum::Json(json!({"plain": d.plain, "fields": value, "notes": d.notes})).into_response()
        }
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

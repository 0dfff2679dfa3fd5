//! HTTP: the one exchange route `POST /XmlExchange/{project}/{deviceLogin}/` and the admin
//! routes under `/__admin/loymax/` (dynamic QR codes as the mobile app would show them).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine as _;
use possim_engine::journal::{MAX_RECORDED_BODY, View, ViewLater};
use serde::Deserialize;
use serde_json::json;

use crate::{Incoming, Inner, sign};

/// Builds the exchange router.
pub fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/XmlExchange/{project}/{device}/", any(exchange))
        .route("/XmlExchange/{project}/{device}", any(exchange))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(inner)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, password) = text.split_once(':')?;
    Some((login.to_owned(), password.to_owned()))
}

async fn exchange(
    State(inner): State<Arc<Inner>>,
    Path((project, device)): Path<(String, String)>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != axum::http::Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    }
    let credentials = basic_credentials(&headers);
    let signature = headers.get(sign::HEADER).and_then(|v| v.to_str().ok());
    let out = inner
        .exchange_yielding(Incoming {
            project: &project,
            device: &device,
            credentials: credentials.as_ref().map(|(l, p)| (l.as_str(), p.as_str())),
            signature,
            body: &body,
        })
        .await;
    // The journal keeps only the start of a long body, so its view is decoded now; otherwise
    // the request and answer trees are decoded from the recorded bytes when the journal is
    // read (under load, that decoding would be most of what recording costs).
    let decode_now = body.len() > MAX_RECORDED_BODY || out.body.len() > MAX_RECORDED_BODY;
    let view_now = decode_now.then(|| View(out.view(&body)));
    let mut response = if out.status == 401 {
        // Our design: Loymax does not document the status; 401 with an empty body.
        StatusCode::UNAUTHORIZED.into_response()
    } else {
        let mut r = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            out.body,
        )
            .into_response();
        if let Some(sig) = out.signature
            && let Ok(value) = axum::http::HeaderValue::from_str(&sig)
        {
            r.headers_mut().insert(sign::HEADER, value);
        }
        r
    };
    let extensions = response.extensions_mut();
    match view_now {
        Some(view) => {
            extensions.insert(view);
        }
        None => {
            extensions.insert(ViewLater(json!({ "notes": out.notes })));
        }
    }
    response
}

/// Admin routes (mounted under `/__admin/loymax`).
pub fn admin_router(inner: Arc<Inner>) -> Router {
    Router::new().route("/qr", post(issue_qr)).with_state(inner)
}

/// The description of [`admin_router`]'s routes, relative to `/__admin/loymax`.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(issue_qr), tags((name = "loymax", description = "the customer's mobile app")))]
pub struct AdminApi;

/// Whose code to show.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct QrRequest {
    /// The project (the first one when absent).
    #[serde(default)]
    project: Option<String>,
    /// The card number.
    card: String,
}

/// `POST /__admin/loymax/qr {"card": "..."}`: the code the customer's app would show now.
#[utoipa::path(post, path = "/qr", tag = "loymax", request_body = QrRequest,
    responses(
        (status = 200, description = "`{\"payload\": \"…\", \"validTo\": \"RFC 3339\"}`", content_type = "application/json"),
        (status = 400, description = "invalid body: `{\"error\": \"…\"}`"),
        (status = 404, description = "no such project or card: `{\"error\": \"…\"}`")))]
async fn issue_qr(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let request: QrRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e.to_string()}))).into_response(),
    };
    let now = inner.clock().now_ms();
    let mut state = inner.lock();
    let project = match &request.project {
        Some(name) => state.projects.get_mut(name),
        None => state.projects.values_mut().next(),
    };
    let Some(project) = project else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "no such project"}))).into_response();
    };
    match crate::domain::issue_qr(project, &request.card, now) {
        Ok((payload, until)) => axum::Json(json!({
            "payload": payload,
            "validTo": possim_engine::clock::format_rfc3339(until),
        }))
        .into_response(),
        Err(e) => (StatusCode::NOT_FOUND, axum::Json(json!({"error": e}))).into_response(),
    }
}

//! HTTP handlers: authenticate the partner (Basic credentials plus the `partnerShortName`
//! header, as the POS configuration of seed 000 holds them), parse, run the domain function under
//! the state lock, answer JSON.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use possim_engine::auth::basic_credentials;
use serde_json::json;

use crate::Inner;
use crate::domain::{self, parse};
use crate::errors::PaybackError;

type Shared = State<Arc<Inner>>;

/// The routes.
pub fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/health", get(|| async { axum::Json(json!({"status": "UP"})) }))
        .route("/auth/test", post(auth_test))
        .route("/members/lookup", post(lookup))
        .route("/members/authenticate", post(authenticate))
        .route("/purchases", post(purchase))
        .route("/purchases/{id}/reversal", post(reverse_purchase))
        .route("/redemptions", post(redeem))
        .route("/redemptions/{id}/reversal", post(reverse_redemption))
        .route("/coupons/validate", post(validate_coupon))
        .route("/coupons/activate", post(activate_coupon))
        .route("/branches/{id}/geolocation", post(geolocation))
        .fallback(|| async { PaybackError::NotFound.into_response() })
        .method_not_allowed_fallback(|| async {
            let body = json!({"code": "METHOD_NOT_ALLOWED", "message": "this endpoint does not take this method"});
            (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
        })
        .with_state(inner)
}

/// The authenticated partner.
struct Partner(String);

impl FromRequestParts<Arc<Inner>> for Partner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, inner: &Arc<Inner>) -> Result<Self, Response> {
        let refuse = |why: &str| PaybackError::PartnerNotAuthorised(why.to_owned()).into_response();
        let Some(short_name) = parts.headers.get("partnershortname").and_then(|v| v.to_str().ok()) else {
            return Err(refuse("the partnerShortName header is missing"));
        };
        let Some(login) = basic_credentials(&parts.headers) else {
            return Err(refuse("Basic credentials are missing"));
        };
        let state = inner.lock();
        match state.partners.get(short_name) {
            Some(p) if p.user == login.user && p.password == login.password => Ok(Partner(short_name.to_owned())),
            _ => Err(refuse("unknown partner or wrong user or password")),
        }
    }
}

fn answer<A: serde::Serialize>(result: Result<A, PaybackError>) -> Response {
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn auth_test(State(inner): Shared, Partner(partner): Partner) -> Response {
    let state = inner.lock();
    let p = &state.partners[&partner];
    answer(Ok(json!({
        "status": "OK",
        "partnerShortName": p.short_name,
        "country": p.country,
        "branches": p.branches,
    })))
}

async fn lookup(State(inner): Shared, Partner(_): Partner, body: Bytes) -> Response {
    answer(parse(&body).and_then(|(req, _)| domain::lookup(&inner.lock(), &req)))
}

async fn authenticate(State(inner): Shared, Partner(partner): Partner, body: Bytes) -> Response {
    let now = inner.clock().now_ms();
    answer(parse(&body).and_then(|(req, _)| domain::authenticate(&mut inner.lock(), &partner, &req, now)))
}

async fn purchase(State(inner): Shared, Partner(partner): Partner, body: Bytes) -> Response {
    let now = inner.clock().now_ms();
    answer(parse(&body).and_then(|(req, raw)| domain::purchase(&mut inner.lock(), &partner, &req, &raw, now)))
}

async fn redeem(State(inner): Shared, Partner(partner): Partner, body: Bytes) -> Response {
    let now = inner.clock().now_ms();
    answer(parse(&body).and_then(|(req, raw)| domain::redeem(&mut inner.lock(), &partner, &req, &raw, now)))
}

async fn reverse_purchase(
    State(inner): Shared,
    Partner(partner): Partner,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = inner.clock().now_ms();
    answer(
        parse(&body).and_then(|(req, raw)| domain::reverse_purchase(&mut inner.lock(), &partner, &id, &req, &raw, now)),
    )
}

async fn reverse_redemption(
    State(inner): Shared,
    Partner(partner): Partner,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = inner.clock().now_ms();
    answer(
        parse(&body)
            .and_then(|(req, raw)| domain::reverse_redemption(&mut inner.lock(), &partner, &id, &req, &raw, now)),
    )
}

async fn validate_coupon(State(inner): Shared, Partner(partner): Partner, body: Bytes) -> Response {
    let now = inner.clock().now_ms();
    answer(parse(&body).and_then(|(req, _)| domain::validate_coupon(&inner.lock(), &partner, &req, now)))
}

async fn activate_coupon(State(inner): Shared, Partner(_): Partner, body: Bytes) -> Response {
    answer(parse(&body).and_then(|(req, _)| domain::activate_coupon(&mut inner.lock(), &req)))
}

async fn geolocation(State(inner): Shared, Partner(partner): Partner, Path(id): Path<String>, body: Bytes) -> Response {
    let now = inner.clock().now_ms();
    answer(parse(&body).and_then(|(req, _)| domain::update_geolocation(&mut inner.lock(), &partner, &id, &req, now)))
}

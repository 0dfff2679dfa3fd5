//! HTTP handlers of the TYRIOS REST API: authenticate, parse, call the domain under the store
//! lock, render. Both path prefixes of the seed (`/service/BonusPointManagement/...` and
//! `/BonusPointManagement/...`) are served.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use possim_engine::auth::basic_credentials;
use possim_engine::http::query_param;
use serde_json::json;

use crate::Inner;
use crate::domain::{self, OverviewQuery};
use crate::errors::{Expected, Lang, TyriosError};
use crate::wire::{TxKind, parse_object, parse_tx_request, parse_user_object};

/// The seed's two spellings of the API root.
pub const PREFIXES: [&str; 2] = ["/service/BonusPointManagement", "/BonusPointManagement"];

/// Overview pages hold at most this many transactions.
pub const MAX_PAGE: usize = 500;

type Shared = State<Arc<Inner>>;

/// Builds the router for both prefixes.
pub fn router(inner: Arc<Inner>) -> Router {
    let mut router = Router::new();
    for p in PREFIXES {
        router = router
            .route(&format!("{p}/UserData"), get(search_users).post(create_user))
            .route(&format!("{p}/UserData/"), get(search_users).post(create_user))
            .route(&format!("{p}/UserData/eMail"), get(email_in_use))
            .route(&format!("{p}/UserData/{{hash}}"), get(lookup_user))
            .route(
                &format!("{p}/UserData/{{hash}}/BonusPointTransaction"),
                get(user_overview),
            )
            .route(&format!("{p}/BonusPointTransaction"), get(company_overview))
            .route(&format!("{p}/BonusPointTransaction/"), get(company_overview))
            .route(
                &format!("{p}/BonusPointTransaction/{{segment}}"),
                get(transaction_by_id).post(transaction),
            );
    }
    router
        .fallback(|| async { TyriosError::UnknownEndpoint.into_response_in(Lang::De) })
        .method_not_allowed_fallback(|| async {
            let body =
                json!({"error": "Exception", "message": "Die HTTP-Methode ist für diesen Endpunkt nicht erlaubt."});
            (axum::http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
        })
        .with_state(inner)
}

/// The authenticated caller: an extractor, so every handler is authenticated before it runs and
/// a missing or wrong login answers 401 in the provider's format.
struct Caller {
    company: u64,
    lang: Lang,
}

fn lang_from_accept(headers: &HeaderMap) -> Lang {
    match headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) {
        Some(v) if v.trim_start().to_ascii_lowercase().starts_with("en") => Lang::En,
        _ => Lang::De,
    }
}

impl FromRequestParts<Arc<Inner>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, inner: &Arc<Inner>) -> Result<Self, Response> {
        let found = basic_credentials(&parts.headers).and_then(|login| {
            let state = inner.lock();
            state.authenticate(&login.user, &login.password).map(|c| Caller {
                company: c.company,
                lang: c.language,
            })
        });
        found.ok_or_else(|| TyriosError::Unauthorized.into_response_in(lang_from_accept(&parts.headers)))
    }
}

fn answer<T: serde::Serialize>(lang: Lang, result: Result<T, TyriosError>) -> Response {
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(e) => e.into_response_in(lang),
    }
}

async fn lookup_user(State(inner): Shared, caller: Caller, Path(hash): Path<String>) -> Response {
    let now = inner.clock().now_ms();
    let hash = possim_engine::http::percent_decode(&hash);
    answer(caller.lang, domain::lookup_user(&inner.lock(), &hash, now))
}

async fn search_users(State(inner): Shared, caller: Caller, uri: Uri) -> Response {
    let result = match query_param(uri.query(), "query").filter(|q| !q.trim().is_empty()) {
        None => Err(TyriosError::MissingParameter("query")),
        Some(q) => {
            let now = inner.clock().now_ms();
            Ok(json!({"suggestions": domain::search_users(&inner.lock(), &q, now)}))
        }
    };
    answer(caller.lang, result)
}

async fn email_in_use(State(inner): Shared, caller: Caller, uri: Uri) -> Response {
    let result = match query_param(uri.query(), "email").filter(|q| !q.trim().is_empty()) {
        None => Err(TyriosError::MissingParameter("email")),
        Some(email) => domain::email_in_use(&inner.lock(), &email).map(|used| json!({"emailInUse": used})),
    };
    answer(caller.lang, result)
}

async fn create_user(State(inner): Shared, caller: Caller, body: Bytes) -> Response {
    let result = parse_object(&body)
        .and_then(|obj| parse_user_object(&obj, ""))
        .and_then(|user| {
            let now = inner.clock().now_ms();
            domain::create_user(&mut inner.lock(), &user, now)
        });
    answer(caller.lang, result)
}

fn draft_flag(uri: &Uri) -> Result<bool, TyriosError> {
    match query_param(uri.query(), "draft").as_deref() {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(TyriosError::InvalidParameter("draft", Expected::TrueOrFalse)),
    }
}

async fn transaction(
    State(inner): Shared,
    caller: Caller,
    Path(segment): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Some(kind) = TxKind::from_segment(&segment) else {
        return TyriosError::UnknownEndpoint.into_response_in(caller.lang);
    };
    let result = draft_flag(&uri).and_then(|draft| {
        let req = parse_tx_request(&body)?;
        let now = inner.clock().now_ms();
        let mut state = inner.lock();
        let rec = domain::execute(&mut state, caller.company, kind, &req, draft, now)?;
        let company = &state.companies[&caller.company];
        let body = serde_json::to_vec(&domain::transaction_answer(&rec, company, rec.available_obtained))
            .map_err(|e| TyriosError::MalformedJson(e.to_string()))?;
        Ok(body)
    });
    match result {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => e.into_response_in(caller.lang),
    }
}

async fn transaction_by_id(State(inner): Shared, caller: Caller, Path(segment): Path<String>) -> Response {
    let Ok(id) = segment.parse::<u64>() else {
        return TyriosError::UnknownEndpoint.into_response_in(caller.lang);
    };
    let now = inner.clock().now_ms();
    answer(
        caller.lang,
        domain::transaction_by_id(&inner.lock(), caller.company, id, now),
    )
}

fn overview_query(uri: &Uri) -> Result<OverviewQuery, TyriosError> {
    let number = |name: &'static str| -> Result<Option<i64>, TyriosError> {
        query_param(uri.query(), name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| TyriosError::InvalidParameter(name, Expected::Count))
            })
            .transpose()
    };
    let limit = number("limit")?.unwrap_or(50);
    let offset = number("offset")?.unwrap_or(0);
    if !(1..=MAX_PAGE as i64).contains(&limit) {
        return Err(TyriosError::InvalidParameter("limit", Expected::PositiveCount));
    }
    if offset < 0 {
        return Err(TyriosError::InvalidParameter("offset", Expected::Count));
    }
    Ok(OverviewQuery {
        user_id: None,
        from: number("from")?,
        to: number("to")?,
        limit: limit as usize,
        offset: offset as usize,
    })
}

async fn company_overview(State(inner): Shared, caller: Caller, uri: Uri) -> Response {
    let result = overview_query(&uri).and_then(|mut q| {
        let state = inner.lock();
        if let Some(hash) = query_param(uri.query(), "userHash") {
            let user = domain::lookup_user(&state, &hash, 0)?;
            q.user_id = user.id;
        }
        Ok(domain::overview(&state, caller.company, &q, inner.clock().now_ms()))
    });
    answer(caller.lang, result)
}

async fn user_overview(State(inner): Shared, caller: Caller, Path(hash): Path<String>, uri: Uri) -> Response {
    let result = overview_query(&uri).and_then(|mut q| {
        let state = inner.lock();
        q.user_id = domain::lookup_user(&state, &hash, 0)?.id;
        Ok(domain::overview(&state, caller.company, &q, inner.clock().now_ms()))
    });
    answer(caller.lang, result)
}

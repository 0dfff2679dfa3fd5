//! The admin API (`/__admin/...`), served on its own listener so provider endpoints stay
//! byte-faithful to the provider.
//!
//! Everything a test, a CI job or the conformance runner needs to steer a running possim: health,
//! reset, data sets, state snapshots, the clock, fault rules and the journal. Errors are JSON
//! `{"error": "<what is wrong>"}` with 400 (bad input) or 404 (unknown thing).
//!
//! No answer is one unbounded buffer: journal listings come in pages of at most
//! [`DEFAULT_PAGE_BYTES`] (`pageBytes`), continued with `since=<next>`; the export is streamed;
//! state snapshots are bounded by the providers' retention and can be paged (`offset`, `limit`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Engine;
use crate::clock::{parse_duration_ms, parse_rfc3339};
use crate::error::EngineError;
use crate::fault::{FaultSpec, parse_fault_file};
use crate::journal::JournalFilter;

/// An admin error as JSON.
#[derive(Debug)]
pub struct AdminError(StatusCode, String);

impl From<EngineError> for AdminError {
    fn from(e: EngineError) -> Self {
        let status = match e {
            EngineError::NotFound(_) => StatusCode::NOT_FOUND,
            EngineError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self(status, e.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

type AdminResult = Result<Response, AdminError>;

/// Parses a JSON body with a message that names the problem (axum's default is plain text).
fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, AdminError> {
    if body.is_empty() {
        return Err(AdminError(StatusCode::BAD_REQUEST, "a JSON body is required".into()));
    }
    serde_json::from_slice(body).map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn parse_query<T: DeserializeOwned + Default>(query: Option<&str>) -> Result<T, AdminError> {
    match query {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded_like(q),
    }
}

/// Query strings here are flat `key=value` pairs; turn them into a JSON object so serde can check
/// names and types (numbers are tried as numbers first).
fn serde_urlencoded_like<T: DeserializeOwned>(query: &str) -> Result<T, AdminError> {
    let mut map = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let value = v
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(v.into_owned()));
        map.insert(k.into_owned(), value);
    }
    serde_json::from_value(Value::Object(map))
        .map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("invalid query: {e}")))
}

/// Builds the admin router for `engine`.
pub fn router(engine: Arc<Engine>) -> Router {
    let mut router: Router = Router::new()
        .route("/__admin/health", get(health))
        .route("/__admin/reset", post(reset))
        .route("/__admin/dataset", get(get_dataset).post(load_dataset))
        .route("/__admin/state", get(state_all))
        .route("/__admin/state/{provider}", get(state_one))
        .route("/__admin/clock", get(get_clock).put(set_clock))
        .route("/__admin/clock/advance", post(advance_clock))
        .route(
            "/__admin/faults",
            get(list_faults).post(arm_faults).delete(clear_faults),
        )
        .route("/__admin/faults/{id}", get(get_fault).delete(disarm_fault))
        .route(
            "/__admin/journal",
            get(list_journal).delete(clear_journal).put(set_journal),
        )
        .route("/__admin/journal/export", get(export_journal))
        .with_state(Arc::clone(&engine));
    for provider in engine.providers() {
        if let Some(extra) = provider.admin_router() {
            router = router.nest(&format!("/__admin/{}", provider.name()), extra);
        }
    }
    router.fallback(|| async {
        AdminError(
            StatusCode::NOT_FOUND,
            "no such admin endpoint; see README.md, section \"Admin API\"".into(),
        )
    })
}

async fn health(State(engine): State<Arc<Engine>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "providers": engine.provider_names(),
        "endpoints": engine.endpoints(),
        "dataset": engine.data().name,
        "clock": engine.clock().status(),
        "outboundInFlight": engine.outbound_in_flight(),
    }))
}

async fn reset(State(engine): State<Arc<Engine>>) -> AdminResult {
    engine.reset()?;
    Ok(Json(json!({"reset": true, "dataset": engine.data().name})).into_response())
}

async fn get_dataset(State(engine): State<Arc<Engine>>) -> Json<Value> {
    let data = engine.data();
    Json(json!({"name": data.name, "description": data.settings.description, "clock": data.settings.clock}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadDataset {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

async fn load_dataset(State(engine): State<Arc<Engine>>, body: Bytes) -> AdminResult {
    let req: LoadDataset = parse_json(&body)?;
    let target = match (req.name, req.path) {
        (Some(n), None) => n,
        (None, Some(p)) => p,
        _ => {
            return Err(AdminError(
                StatusCode::BAD_REQUEST,
                "give exactly one of \"name\" or \"path\"".into(),
            ));
        }
    };
    engine.load_data(&target)?;
    Ok(Json(json!({"loaded": engine.data().name})).into_response())
}

/// `?offset=&limit=` of the state snapshots: every list at the top of a provider's snapshot
/// (transactions, users, purchases …) is cut to `limit` items from `offset`; the snapshot then
/// says so in `page`. Without them the snapshot is whole.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatePage {
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

impl StatePage {
    fn apply(&self, snapshot: Value) -> Value {
        if self.offset.is_none() && self.limit.is_none() {
            return snapshot;
        }
        let Value::Object(mut fields) = snapshot else {
            return snapshot;
        };
        let (offset, limit) = (self.offset.unwrap_or(0), self.limit.unwrap_or(usize::MAX));
        let mut totals = serde_json::Map::new();
        for (name, value) in fields.iter_mut() {
            if let Value::Array(items) = value {
                totals.insert(name.clone(), json!(items.len()));
                let page: Vec<Value> = items.drain(..).skip(offset).take(limit).collect();
                *items = page;
            }
        }
        fields.insert(
            "page".into(),
            json!({"offset": offset, "limit": self.limit, "totals": totals}),
        );
        Value::Object(fields)
    }
}

async fn state_all(State(engine): State<Arc<Engine>>, uri: axum::http::Uri) -> AdminResult {
    let page: StatePage = parse_query(uri.query())?;
    let mut map = serde_json::Map::new();
    for provider in engine.providers() {
        map.insert(provider.name().to_owned(), page.apply(provider.snapshot()));
    }
    Ok(Json(Value::Object(map)).into_response())
}

async fn state_one(State(engine): State<Arc<Engine>>, Path(name): Path<String>, uri: axum::http::Uri) -> AdminResult {
    let page: StatePage = parse_query(uri.query())?;
    Ok(Json(page.apply(engine.provider(&name)?.snapshot())).into_response())
}

async fn get_clock(State(engine): State<Arc<Engine>>) -> Json<Value> {
    Json(json!(engine.clock().status()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClock {
    /// RFC 3339 instant, or epoch milliseconds.
    #[serde(default)]
    time: Option<Value>,
    /// Freeze (default when a time is given) or let it run.
    #[serde(default)]
    frozen: Option<bool>,
}

async fn set_clock(State(engine): State<Arc<Engine>>, body: Bytes) -> AdminResult {
    let req: SetClock = parse_json(&body)?;
    let clock = engine.clock();
    let at = match &req.time {
        None => None,
        Some(Value::String(s)) => Some(parse_rfc3339(s)?),
        Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| {
            AdminError(
                StatusCode::BAD_REQUEST,
                "time in milliseconds must be an integer".into(),
            )
        })?),
        Some(_) => {
            return Err(AdminError(
                StatusCode::BAD_REQUEST,
                "time must be an RFC 3339 string or epoch milliseconds".into(),
            ));
        }
    };
    if let Some(at) = at {
        check_clock_range(at)?;
    }
    match (at, req.frozen) {
        (Some(at), Some(true) | None) => clock.freeze_at(at),
        (Some(at), Some(false)) => {
            clock.unfreeze();
            clock.advance(at.saturating_sub(clock.now_ms()));
        }
        (None, Some(true)) => clock.freeze_at(clock.now_ms()),
        (None, Some(false)) => {
            let now = clock.now_ms();
            clock.unfreeze();
            clock.advance(now.saturating_sub(clock.now_ms()));
        }
        (None, None) => {
            return Err(AdminError(
                StatusCode::BAD_REQUEST,
                "give \"time\" and/or \"frozen\"".into(),
            ));
        }
    }
    Ok(Json(json!(clock.status())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    /// A duration such as `3d`, `90s`, `500ms`, or a number of milliseconds.
    by: Value,
}

/// Times outside 1970–9999 are refused rather than clamped: a test that asks for them has a bug.
fn check_clock_range(at: crate::clock::Millis) -> Result<(), AdminError> {
    if crate::clock::Clock::in_range(at) {
        return Ok(());
    }
    Err(AdminError(
        StatusCode::BAD_REQUEST,
        format!(
            "time {at} ms is out of range: the clock runs from {} to {}",
            crate::clock::format_rfc3339(crate::clock::EARLIEST_MS),
            crate::clock::format_rfc3339(crate::clock::LATEST_MS)
        ),
    ))
}

async fn advance_clock(State(engine): State<Arc<Engine>>, body: Bytes) -> AdminResult {
    let req: Advance = parse_json(&body)?;
    let ms = match &req.by {
        Value::String(s) => parse_duration_ms(s)?,
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            AdminError(
                StatusCode::BAD_REQUEST,
                "\"by\" in milliseconds must be an integer".into(),
            )
        })?,
        _ => {
            return Err(AdminError(
                StatusCode::BAD_REQUEST,
                "\"by\" must be a duration like \"3d\" or milliseconds".into(),
            ));
        }
    };
    let clock = engine.clock();
    check_clock_range(clock.now_ms().saturating_add(ms))?;
    clock.advance(ms);
    Ok(Json(json!(clock.status())).into_response())
}

async fn list_faults(State(engine): State<Arc<Engine>>) -> Json<Value> {
    Json(json!(engine.faults().list()))
}

/// Accepts one rule or an array of rules (armed all or none).
async fn arm_faults(State(engine): State<Arc<Engine>>, body: Bytes) -> AdminResult {
    let value: Value = parse_json(&body)?;
    if value.is_array() {
        let specs = parse_fault_file(&value.to_string())?;
        let ids = engine.faults().arm_all(specs)?;
        let armed: Vec<_> = ids.iter().filter_map(|id| engine.faults().get(*id).ok()).collect();
        return Ok((StatusCode::CREATED, Json(json!(armed))).into_response());
    }
    let spec: FaultSpec = serde_json::from_value(value)
        .map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("invalid fault rule: {e}")))?;
    let id = engine.faults().arm(spec)?;
    Ok((StatusCode::CREATED, Json(json!(engine.faults().get(id)?))).into_response())
}

async fn clear_faults(State(engine): State<Arc<Engine>>) -> StatusCode {
    engine.faults().clear();
    StatusCode::NO_CONTENT
}

async fn get_fault(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> AdminResult {
    let id = parse_id(&id)?;
    Ok(Json(json!(engine.faults().get(id)?)).into_response())
}

async fn disarm_fault(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> AdminResult {
    let id = parse_id(&id)?;
    engine.faults().disarm(id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn parse_id(id: &str) -> Result<u64, AdminError> {
    id.parse().map_err(|_| {
        AdminError(
            StatusCode::BAD_REQUEST,
            format!("fault id must be a number, got {id:?}"),
        )
    })
}

/// The most JSON one journal page holds unless `pageBytes` says otherwise.
pub const DEFAULT_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// `{"stats": …, "budget": …, "entries": […], "next": <id>}`: the matching entries, oldest
/// first, until the page holds `pageBytes` of JSON (at least one entry). `next` is there only
/// when entries were left out: ask again with `since=<next>`.
async fn list_journal(State(engine): State<Arc<Engine>>, uri: axum::http::Uri) -> AdminResult {
    let filter: JournalFilter = parse_query(uri.query())?;
    let page_bytes = filter.page_bytes.unwrap_or(DEFAULT_PAGE_BYTES);
    let journal = engine.journal();
    // Only `Arc`s are copied here; the page is serialised entry by entry into one bounded buffer.
    let entries = journal.list(&filter);
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"stats\":");
    serde_json::to_writer(&mut out, &journal.stats()).map_err(internal)?;
    out.extend_from_slice(b",\"budget\":");
    serde_json::to_writer(&mut out, &journal.budget()).map_err(internal)?;
    out.extend_from_slice(b",\"entries\":[");
    let mut next = None;
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            if out.len() >= page_bytes {
                next = Some(entries[i - 1].id);
                break;
            }
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &**entry).map_err(internal)?;
    }
    out.push(b']');
    if let Some(next) = next {
        out.extend_from_slice(format!(",\"next\":{next}").as_bytes());
    }
    out.push(b'}');
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

fn internal(e: serde_json::Error) -> AdminError {
    AdminError(StatusCode::INTERNAL_SERVER_ERROR, format!("serialising: {e}"))
}

/// JSON lines, one entry per line, oldest first: easy to `grep`, `jq` and archive from CI.
/// Streamed in chunks, so the export never sits in memory as a whole.
async fn export_journal(State(engine): State<Arc<Engine>>, uri: axum::http::Uri) -> AdminResult {
    const CHUNK: usize = 64;
    let filter: JournalFilter = parse_query(uri.query())?;
    let entries = engine.journal().list(&filter);
    let chunks = (0..entries.len()).step_by(CHUNK).map(move |start| {
        let mut out = Vec::new();
        for entry in &entries[start..(start + CHUNK).min(entries.len())] {
            if serde_json::to_writer(&mut out, &**entry).is_ok() {
                out.push(b'\n');
            }
        }
        Ok::<_, std::convert::Infallible>(Bytes::from(out))
    });
    let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

async fn clear_journal(State(engine): State<Arc<Engine>>) -> StatusCode {
    engine.journal().clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetJournal {
    enabled: bool,
}

async fn set_journal(State(engine): State<Arc<Engine>>, body: Bytes) -> AdminResult {
    let req: SetJournal = parse_json(&body)?;
    engine.journal().set_enabled(req.enabled);
    Ok(Json(json!(engine.journal().stats())).into_response())
}

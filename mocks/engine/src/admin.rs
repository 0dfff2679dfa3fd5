//! The admin API (`/__admin/...`), served on its own listener so provider endpoints stay
//! byte-faithful to the provider.
//!
//! Everything a test, a CI job or the conformance runner needs to steer a running possim: health,
//! reset, data sets, state snapshots, the clock, fault rules and the journal. Errors are JSON
//! `{"error": "<what is wrong>"}` with 400 (bad input) or 404 (unknown thing).
//!
//! Every handler carries its `#[utoipa::path]` beside it, and the bodies it reads and writes are
//! typed (`ToSchema`), so `GET /__admin/openapi.json` (OpenAPI 3.1, [`crate::openapi`]) is
//! generated from the code that serves the API rather than typed by hand.
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
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Engine;
use crate::clock::{parse_duration_ms, parse_rfc3339};
use crate::error::EngineError;
use crate::fault::FaultStatus;
use crate::fault::{FaultSpec, parse_fault_file};
use crate::journal::JournalFilter;

/// `POST /__admin/faults` takes one rule or an array of them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Exists for its schema: the handler reads the body as JSON first.
pub(crate) enum FaultRules {
    /// One rule.
    One(Box<FaultSpec>),
    /// Rules armed all or none.
    Many(Vec<FaultSpec>),
}

/// What `POST /__admin/faults` answers: the shape of what it was given.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Exists for its schema: the handler answers the JSON of `FaultStatus`es.
pub(crate) enum ArmedFaults {
    /// The rule armed.
    One(Box<FaultStatus>),
    /// The rules armed.
    Many(Vec<FaultStatus>),
}

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

/// The body of every admin error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What is wrong, in one sentence.
    error: String,
}

/// The OpenAPI description of this API.
#[utoipa::path(get, path = "/__admin/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 description of the admin API", content_type = "application/json")))]
async fn openapi(engine: Arc<Engine>, extra: Arc<Vec<utoipa::openapi::OpenApi>>) -> Response {
    let doc = crate::openapi::document_with(&engine.providers(), &extra);
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_pretty_json().unwrap_or_default(),
    )
        .into_response()
}

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
    router_with(engine, Vec::new())
}

/// [`router`] for a caller that merges more admin routes into it (the web console): `extra`
/// describes those (absolute paths) and joins `GET /__admin/openapi.json`.
pub fn router_with(engine: Arc<Engine>, extra: Vec<utoipa::openapi::OpenApi>) -> Router {
    let extra = Arc::new(extra);
    let described = Arc::clone(&engine);
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
        .route(
            "/__admin/openapi.json",
            get(move || openapi(Arc::clone(&described), Arc::clone(&extra))),
        )
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

/// `GET /__admin/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Health {
    /// Always `ok` when possim answers.
    status: &'static str,
    /// possim's version.
    version: &'static str,
    /// The providers mocked, in registry order.
    providers: Vec<&'static str>,
    /// Endpoint name (`tyrios`, `zvt-tcp`, …) → URL or address, as `possim serve` prints them.
    endpoints: std::collections::BTreeMap<String, String>,
    /// The data set loaded.
    dataset: String,
    /// The engine clock.
    clock: crate::clock::ClockStatus,
    /// Outbound calls (notifies) a provider is still making.
    outbound_in_flight: usize,
}

#[utoipa::path(get, path = "/__admin/health", tag = "engine",
    responses((status = 200, description = "possim is up", body = Health)))]
async fn health(State(engine): State<Arc<Engine>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        providers: engine.provider_names(),
        endpoints: engine.endpoints(),
        dataset: engine.data().name.clone(),
        clock: engine.clock().status(),
        outbound_in_flight: engine.outbound_in_flight(),
    })
}

/// `POST /__admin/reset`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ResetDone {
    /// Always true.
    reset: bool,
    /// The data set everything went back to.
    dataset: String,
}

#[utoipa::path(post, path = "/__admin/reset", tag = "engine",
    responses((status = 200, description = "every provider back to the data set, clock back, journal cleared, faults disarmed", body = ResetDone),
        (status = 400, description = "the data set no longer loads", body = ErrorBody)))]
async fn reset(State(engine): State<Arc<Engine>>) -> AdminResult {
    engine.reset()?;
    Ok(Json(ResetDone {
        reset: true,
        dataset: engine.data().name.clone(),
    })
    .into_response())
}

/// `GET /__admin/dataset`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DataSetInfo {
    /// Built-in name or directory.
    name: String,
    /// What the set is for.
    description: Option<String>,
    /// The frozen clock the set starts with (RFC 3339), if any.
    clock: Option<String>,
}

#[utoipa::path(get, path = "/__admin/dataset", tag = "engine",
    responses((status = 200, description = "the data set loaded", body = DataSetInfo)))]
async fn get_dataset(State(engine): State<Arc<Engine>>) -> Json<DataSetInfo> {
    let data = engine.data();
    Json(DataSetInfo {
        name: data.name.clone(),
        description: data.settings.description.clone(),
        clock: data.settings.clock.clone(),
    })
}

/// `POST /__admin/dataset`: exactly one of `name` and `path`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadDataset {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

/// `POST /__admin/dataset`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DataSetLoaded {
    /// The data set now loaded.
    loaded: String,
}

#[utoipa::path(post, path = "/__admin/dataset", tag = "engine", request_body = LoadDataset,
    responses((status = 200, description = "loaded (and every provider reset)", body = DataSetLoaded),
        (status = 400, description = "the set does not load; the old one stays", body = ErrorBody),
        (status = 404, description = "no such built-in set", body = ErrorBody)))]
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
    // Reading and parsing files is blocking I/O: off the async workers, so a slow disk never
    // stalls the mocks.
    let loader = Arc::clone(&engine);
    tokio::task::spawn_blocking(move || loader.load_data(&target))
        .await
        .map_err(|e| {
            AdminError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("loading the data set failed: {e}"),
            )
        })??;
    Ok(Json(DataSetLoaded {
        loaded: engine.data().name.clone(),
    })
    .into_response())
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

#[utoipa::path(get, path = "/__admin/state", tag = "engine",
    params(("offset" = Option<usize>, Query, description = "page: skip this many items of every top-level list"),
        ("limit" = Option<usize>, Query, description = "page: at most this many items of every top-level list")),
    responses((status = 200, description = "provider name → its state snapshot (with `page` when paged)", body = Object),
        (status = 400, description = "an unknown or malformed parameter", body = ErrorBody)))]
async fn state_all(State(engine): State<Arc<Engine>>, uri: axum::http::Uri) -> AdminResult {
    let page: StatePage = parse_query(uri.query())?;
    let mut map = serde_json::Map::new();
    for provider in engine.providers() {
        map.insert(provider.name().to_owned(), page.apply(provider.snapshot()));
    }
    Ok(Json(Value::Object(map)).into_response())
}

#[utoipa::path(get, path = "/__admin/state/{provider}", tag = "engine",
    params(("provider" = String, Path, description = "provider name (`tyrios`, …)"),
        ("offset" = Option<usize>, Query, description = "page: skip this many items of every top-level list"),
        ("limit" = Option<usize>, Query, description = "page: at most this many items of every top-level list")),
    responses((status = 200, description = "the provider's state snapshot (with `page` when paged)", body = Object),
        (status = 400, description = "an unknown or malformed parameter", body = ErrorBody),
        (status = 404, description = "no such provider", body = ErrorBody)))]
async fn state_one(State(engine): State<Arc<Engine>>, Path(name): Path<String>, uri: axum::http::Uri) -> AdminResult {
    let page: StatePage = parse_query(uri.query())?;
    Ok(Json(page.apply(engine.provider(&name)?.snapshot())).into_response())
}

#[utoipa::path(get, path = "/__admin/clock", tag = "clock",
    responses((status = 200, description = "the engine clock", body = crate::clock::ClockStatus)))]
async fn get_clock(State(engine): State<Arc<Engine>>) -> Json<Value> {
    Json(json!(engine.clock().status()))
}

/// `PUT /__admin/clock`: `time` and/or `frozen`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetClock {
    /// RFC 3339 instant, or epoch milliseconds.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    time: Option<Value>,
    /// Freeze (default when a time is given) or let it run.
    #[serde(default)]
    frozen: Option<bool>,
}

#[utoipa::path(put, path = "/__admin/clock", tag = "clock", request_body = SetClock,
    responses((status = 200, description = "the clock as set", body = crate::clock::ClockStatus),
        (status = 400, description = "no time, a bad time or one outside 1970–9999", body = ErrorBody)))]
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

/// `POST /__admin/clock/advance`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Advance {
    /// A duration such as `3d`, `90s`, `500ms`, or a number of milliseconds.
    #[schema(value_type = String)]
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

#[utoipa::path(post, path = "/__admin/clock/advance", tag = "clock", request_body = Advance,
    responses((status = 200, description = "the clock moved (frozen or running)", body = crate::clock::ClockStatus),
        (status = 400, description = "not a duration, or beyond 9999", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/__admin/faults", tag = "faults",
    responses((status = 200, description = "the armed rules with their counters", body = Vec<FaultStatus>)))]
async fn list_faults(State(engine): State<Arc<Engine>>) -> Json<Value> {
    Json(json!(engine.faults().list()))
}

/// Accepts one rule or an array of rules (armed all or none).
#[utoipa::path(post, path = "/__admin/faults", tag = "faults",
    request_body(content = FaultRules, description = "one rule, or an array of rules armed all or none"),
    responses((status = 201, description = "armed: the rule, or the array of rules, as listed", body = ArmedFaults),
        (status = 400, description = "a rule does not parse (nothing armed)", body = ErrorBody)))]
async fn arm_faults(State(engine): State<Arc<Engine>>, body: Bytes) -> AdminResult {
    let value: Value = parse_json(&body)?;
    if value.is_array() {
        let specs = parse_fault_file(&value.to_string())?;
        let ids: std::collections::HashSet<u64> = engine.faults().arm_all(specs)?.into_iter().collect();
        // One pass over the armed set, in its order: a lookup per id would be quadratic.
        let mut armed: Vec<_> = engine
            .faults()
            .list()
            .into_iter()
            .filter(|r| ids.contains(&r.id))
            .collect();
        armed.sort_by_key(|r| r.id);
        return Ok((StatusCode::CREATED, Json(json!(armed))).into_response());
    }
    let spec: FaultSpec = serde_json::from_value(value)
        .map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("invalid fault rule: {e}")))?;
    let id = engine.faults().arm(spec)?;
    Ok((StatusCode::CREATED, Json(json!(engine.faults().get(id)?))).into_response())
}

#[utoipa::path(delete, path = "/__admin/faults", tag = "faults",
    responses((status = 204, description = "every rule disarmed")))]
async fn clear_faults(State(engine): State<Arc<Engine>>) -> StatusCode {
    engine.faults().clear();
    StatusCode::NO_CONTENT
}

#[utoipa::path(get, path = "/__admin/faults/{id}", tag = "faults",
    params(("id" = u64, Path, description = "the id given when armed")),
    responses((status = 200, description = "the rule", body = FaultStatus),
        (status = 400, description = "not a number", body = ErrorBody),
        (status = 404, description = "no such rule", body = ErrorBody)))]
async fn get_fault(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> AdminResult {
    let id = parse_id(&id)?;
    Ok(Json(json!(engine.faults().get(id)?)).into_response())
}

#[utoipa::path(delete, path = "/__admin/faults/{id}", tag = "faults",
    params(("id" = u64, Path, description = "the id given when armed")),
    responses((status = 204, description = "disarmed"),
        (status = 400, description = "not a number", body = ErrorBody),
        (status = 404, description = "no such rule", body = ErrorBody)))]
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
/// `GET /__admin/journal`, as described in the OpenAPI document. The handler writes the same
/// shape entry by entry into one bounded buffer instead of building this value.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct JournalPage {
    /// Counters.
    stats: crate::journal::JournalStats,
    /// The byte budget and what it holds now.
    #[schema(value_type = Object)]
    budget: crate::journal::JournalBudget,
    /// The entries the filter selects, oldest first, as many as fit in `pageBytes`.
    entries: Vec<crate::journal::JournalEntry>,
    /// Present when entries were left out: ask again with `since=<next>`.
    next: Option<u64>,
}

#[utoipa::path(get, path = "/__admin/journal", tag = "journal", params(JournalFilter),
    responses((status = 200, description = "recorded exchanges, oldest first, with counters, paged by bytes", body = JournalPage),
        (status = 400, description = "an unknown or malformed filter", body = ErrorBody)))]
async fn list_journal(State(engine): State<Arc<Engine>>, uri: axum::http::Uri) -> AdminResult {
    let filter: JournalFilter = parse_query(uri.query())?;
    let page_bytes = filter.page_bytes.unwrap_or(DEFAULT_PAGE_BYTES);
    let journal = engine.journal();
    // Only `Arc`s are copied here; the page is serialised entry by entry into one bounded buffer,
    // and only the entries on it get their views built.
    let entries = journal.select(&filter);
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
                next = Some(entries[i - 1].id());
                break;
            }
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &*entry.read()).map_err(internal)?;
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
#[utoipa::path(get, path = "/__admin/journal/export", tag = "journal", params(JournalFilter),
    responses((status = 200, description = "one journal entry (JSON) per line, oldest first", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "an unknown or malformed filter", body = ErrorBody)))]
async fn export_journal(State(engine): State<Arc<Engine>>, uri: axum::http::Uri) -> AdminResult {
    const CHUNK: usize = 64;
    let filter: JournalFilter = parse_query(uri.query())?;
    // Views are built chunk by chunk as the export streams.
    let entries = engine.journal().select(&filter);
    let chunks = (0..entries.len()).step_by(CHUNK).map(move |start| {
        let mut out = Vec::new();
        for entry in &entries[start..(start + CHUNK).min(entries.len())] {
            if serde_json::to_writer(&mut out, &*entry.read()).is_ok() {
                out.push(b'\n');
            }
        }
        Ok::<_, std::convert::Infallible>(Bytes::from(out))
    });
    let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

#[utoipa::path(delete, path = "/__admin/journal", tag = "journal",
    responses((status = 204, description = "cleared")))]
async fn clear_journal(State(engine): State<Arc<Engine>>) -> StatusCode {
    engine.journal().clear();
    StatusCode::NO_CONTENT
}

/// `PUT /__admin/journal`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetJournal {
    /// Record exchanges or not.
    enabled: bool,
}

#[utoipa::path(put, path = "/__admin/journal", tag = "journal", request_body = SetJournal,
    responses((status = 200, description = "recording switched", body = crate::journal::JournalStats),
        (status = 400, description = "no `enabled`", body = ErrorBody)))]
async fn set_journal(State(engine): State<Arc<Engine>>, body: Bytes) -> AdminResult {
    let req: SetJournal = parse_json(&body)?;
    engine.journal().set_enabled(req.enabled);
    Ok(Json(json!(engine.journal().stats())).into_response())
}

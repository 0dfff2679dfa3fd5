//! The live web console: possim in a browser, served by `possim serve` on the admin listener at `/`.
//!
//! The page (plain HTML, CSS and JavaScript in `assets/`, compiled into the binary, no build step
//! and nothing fetched from elsewhere) shows every exchange as it happens, the providers' state,
//! the fault rules, the clock and the data set, the virtual terminal's face (display, card slot,
//! PIN pad) and a certification run attached to this possim. It steers everything through the
//! admin API the tests and the runner use; this module adds only what a browser needs on top:
//!
//! - `GET /__admin/console/events`: a server-sent event stream fed from the journal's bounded
//!   live channel ([`possim_engine::journal::Journal::subscribe`]). Entries go out as compact
//!   summaries in batches; a browser that falls behind skips entries and gets a `missed` event
//!   with the count, so a slow or stalled tab never makes the mocks buffer or wait.
//! - `GET /__admin/console/entries?limit=N`, `GET /__admin/console/entry/{id}`,
//!   `GET /__admin/console/export?ids=1,2`: summaries for the first paint, one whole entry for the
//!   detail view, the selection as JSON lines.
//! - `GET /__admin/console/cards`: the data set's terminal cards, for the card slot.
//! - `POST /__admin/console/run`, `GET /__admin/console/runs`,
//!   `GET /__admin/console/reports/{n}`: progress events of a certification run (posted by
//!   `possim certify`, kept in a small bounded log and passed on live) and its finished HTML
//!   report.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use possim_engine::Engine;
use possim_engine::journal::{Exchange, JournalEntry, JournalEvent, JournalFilter};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// How long the stream gathers entries after the first one before it sends them: one wake-up
/// and one message per interval, however busy the mocks are.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Most entries sent per interval (the newest); the others are reported as missed.
const MAX_PER_FLUSH: usize = 200;
/// Run events kept for a page opened in the middle of a run.
const RUN_EVENTS_KEPT: usize = 500;
/// Finished reports kept (self-contained HTML each).
const REPORTS_KEPT: usize = 5;
/// A finished report may be this large.
const MAX_RUN_EVENT: usize = 32 * 1024 * 1024;
/// How often the stream carries the engine clock (so the page's clock follows changes made by
/// others, such as the runner, without asking).
const CLOCK_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct RunLog {
    events: VecDeque<Value>,
    reports: VecDeque<(u64, String)>,
    next_report: u64,
}

#[derive(Debug)]
struct Console {
    engine: Arc<Engine>,
    runs: Mutex<RunLog>,
    run_events: broadcast::Sender<Value>,
    stop: watch::Receiver<bool>,
}

impl Console {
    fn runs(&self) -> std::sync::MutexGuard<'_, RunLog> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The description of the console's `/__admin/console/` routes, for
/// `possim_engine::admin::router_with` (the page and its assets are not part of the API).
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ConsoleApi as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(events, entries, entry, export, cards, post_run, runs, report),
    tags((name = "console", description = "helpers of the web console"))
)]
struct ConsoleApi;

/// The console's routes: the page at `/`, its assets under `/console/`, its helpers under
/// `/__admin/console/`. Merge it into the admin router. Event streams end when `stop` turns
/// true, so a graceful shutdown does not wait for open browsers.
pub fn router(engine: Arc<Engine>, stop: watch::Receiver<bool>) -> Router {
    let console = Arc::new(Console {
        engine,
        runs: Mutex::new(RunLog::default()),
        run_events: broadcast::channel(256).0,
        stop,
    });
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/__admin/console/events", get(events))
        .route("/__admin/console/entries", get(entries))
        .route("/__admin/console/entry/{id}", get(entry))
        .route("/__admin/console/export", get(export))
        .route("/__admin/console/cards", get(cards))
        .route(
            "/__admin/console/run",
            axum::routing::post(post_run).layer(DefaultBodyLimit::max(MAX_RUN_EVENT)),
        )
        .route("/__admin/console/runs", get(runs))
        .route("/__admin/console/reports/{n}", get(report))
        .with_state(console)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// The line of the list for one entry: what a person scans for, without bodies and headers.
pub fn summary(entry: &JournalEntry) -> Value {
    let mut out = json!({
        "id": entry.id,
        "provider": entry.provider,
        "at": entry.at,
        "micros": entry.duration_micros,
        "connection": entry.connection,
    });
    let fields = out.as_object_mut().expect("an object literal");
    match &entry.exchange {
        Exchange::Http {
            request,
            response,
            outcome,
            operation,
        } => {
            fields.insert("transport".into(), "http".into());
            fields.insert("operation".into(), json!(operation));
            fields.insert("method".into(), request.method.clone().into());
            fields.insert("path".into(), request.path.clone().into());
            fields.insert("query".into(), json!(request.query));
            fields.insert("status".into(), json!(response.as_ref().map(|r| r.status)));
            fields.insert("outcome".into(), json!(outcome));
        }
        Exchange::Outbound {
            purpose,
            url,
            attempt,
            request,
            response,
            error,
        } => {
            fields.insert("transport".into(), "outbound".into());
            fields.insert("method".into(), request.method.clone().into());
            fields.insert("path".into(), url.clone().into());
            fields.insert("purpose".into(), purpose.clone().into());
            fields.insert("attempt".into(), (*attempt).into());
            fields.insert("status".into(), json!(response.as_ref().map(|r| r.status)));
            fields.insert("error".into(), json!(error));
        }
        Exchange::Zvt {
            direction,
            link,
            hex,
            text,
            control,
        } => {
            fields.insert("transport".into(), "zvt".into());
            fields.insert("method".into(), "ZVT".into());
            fields.insert("direction".into(), direction.as_str().into());
            fields.insert("control".into(), json!(control));
            fields.insert("link".into(), link.clone().into());
            fields.insert("bytes".into(), (hex.len() / 2).into());
            // The first line names the message ("06 01 Authorisation (ECR -> PT), …") or is the
            // note; the amount line helps the terminal's face.
            fields.insert("path".into(), text.lines().next().unwrap_or("").into());
            if let Some(amount) = text.lines().find(|l| l.trim_start().starts_with("BMP 04 amount:")) {
                fields.insert("amount".into(), amount.trim().into());
            }
            if let Some(result) = text.lines().find(|l| l.trim_start().starts_with("BMP 27 result code:")) {
                fields.insert("result".into(), result.trim().into());
            }
        }
        // A transport added later still gets a line.
        _ => {
            fields.insert("transport".into(), "other".into());
        }
    }
    if let Some(fault) = &entry.fault {
        fields.insert(
            "fault".into(),
            json!({"rule": fault.rule, "name": fault.name, "action": fault.action}),
        );
    }
    if entry.view.is_some() {
        fields.insert("view".into(), true.into());
    }
    out
}

#[derive(Debug, Default)]
struct Stream {
    journal: Option<broadcast::Receiver<JournalEvent>>,
    runs: Option<broadcast::Receiver<Value>>,
    stop: Option<watch::Receiver<bool>>,
    ready: VecDeque<Event>,
}

fn data_event(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// Turns a first journal event plus everything else already waiting into events for the browser:
/// `cleared` when the journal was cleared, `missed` with how many entries this watcher skips (it
/// fell behind the live channel, or more arrived in one interval than [`MAX_PER_FLUSH`]), then
/// the newest entries as one `entries` batch. A person cannot read more than that anyway, and
/// the skipped ones are in the journal.
fn drain(first: Result<JournalEvent, broadcast::error::RecvError>, stream: &mut Stream) -> bool {
    let mut newest: VecDeque<Arc<JournalEntry>> = VecDeque::new();
    let mut missed: u64 = 0;
    let mut next = Some(first);
    while let Some(received) = next.take() {
        match received {
            Ok(JournalEvent::Recorded(e) | JournalEvent::Completed(e)) => {
                newest.push_back(e);
                if newest.len() > MAX_PER_FLUSH {
                    newest.pop_front();
                    missed += 1;
                }
            }
            Ok(JournalEvent::Cleared) => {
                newest.clear();
                missed = 0;
                stream.ready.push_back(Event::default().event("cleared").data("{}"));
            }
            Err(broadcast::error::RecvError::Lagged(n)) => missed += n,
            Err(broadcast::error::RecvError::Closed) => return false,
        }
        if let Some(journal) = stream.journal.as_mut() {
            next = match journal.try_recv() {
                Ok(event) => Some(Ok(event)),
                Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Err(broadcast::error::RecvError::Lagged(n))),
                Err(_) => None,
            };
        }
    }
    if missed > 0 {
        stream
            .ready
            .push_back(Event::default().event("missed").data(missed.to_string()));
    }
    if !newest.is_empty() {
        let batch: Vec<Value> = newest.iter().map(|e| summary(e)).collect();
        stream.ready.push_back(data_event("entries", &Value::Array(batch)));
    }
    true
}

#[utoipa::path(get, path = "/__admin/console/events", tag = "console",
    responses((status = 200, description = "server-sent events from the journal and certification runs", content_type = "text/event-stream")))]
async fn events(State(console): State<Arc<Console>>) -> impl IntoResponse {
    let journal = console.engine.journal();
    let mut stream = Stream {
        journal: Some(journal.subscribe()),
        runs: Some(console.run_events.subscribe()),
        stop: Some(console.stop.clone()),
        ready: VecDeque::new(),
    };
    // Subscribed first, so the page's listing (fetched after `hello`) and the stream overlap
    // rather than leave a gap; the page merges by id.
    stream.ready.push_back(data_event(
        "hello",
        &json!({"journal": journal.stats(), "clock": console.engine.clock().status()}),
    ));
    let engine = Arc::clone(&console.engine);
    let mut clock_tick = tokio::time::interval(CLOCK_EVERY);
    clock_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let body = futures_util::stream::unfold((stream, clock_tick), move |(mut s, mut tick)| {
        let engine = Arc::clone(&engine);
        async move {
            loop {
                if let Some(event) = s.ready.pop_front() {
                    return Some((Ok::<_, Infallible>(event), (s, tick)));
                }
                let (Some(journal), Some(runs), Some(stop)) = (s.journal.as_mut(), s.runs.as_mut(), s.stop.as_mut())
                else {
                    return None;
                };
                enum Woke {
                    Stop,
                    Journal(Result<JournalEvent, broadcast::error::RecvError>),
                    Run(Result<Value, broadcast::error::RecvError>),
                    Tick,
                }
                let woke = tokio::select! {
                    _ = stop.wait_for(|stopped| *stopped) => Woke::Stop,
                    received = journal.recv() => Woke::Journal(received),
                    received = runs.recv() => Woke::Run(received),
                    _ = tick.tick() => Woke::Tick,
                };
                match woke {
                    Woke::Stop | Woke::Run(Err(broadcast::error::RecvError::Closed)) => return None,
                    Woke::Journal(received) => {
                        let stop = s.stop.as_mut()?;
                        tokio::select! {
                            _ = tokio::time::sleep(FLUSH_EVERY) => {}
                            _ = stop.wait_for(|stopped| *stopped) => return None,
                        }
                        if !drain(received, &mut s) {
                            return None;
                        }
                    }
                    Woke::Run(Ok(run)) => s.ready.push_back(data_event("run", &run)),
                    Woke::Run(Err(broadcast::error::RecvError::Lagged(n))) => {
                        s.ready
                            .push_back(data_event("run", &json!({"type": "missed", "count": n})));
                    }
                    Woke::Tick => s.ready.push_back(data_event("clock", &json!(engine.clock().status()))),
                }
            }
        }
    });
    Sse::new(body).keep_alive(KeepAlive::default())
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/__admin/console/entries", tag = "console",
    params(("limit" = Option<usize>, Query, description = "at most this many, the newest")),
    responses((status = 200, description = "journal entry summaries", content_type = "application/json")))]
async fn entries(State(console): State<Arc<Console>>, Query(q): Query<Limit>) -> Response {
    let filter = JournalFilter {
        limit: Some(q.limit.unwrap_or(500).min(5000)),
        ..Default::default()
    };
    let list: Vec<Value> = console
        .engine
        .journal()
        .select(&filter)
        .iter()
        .map(|e| summary(e.recorded()))
        .collect();
    axum::Json(json!({"stats": console.engine.journal().stats(), "entries": list})).into_response()
}

fn find(console: &Console, id: u64) -> Option<Arc<JournalEntry>> {
    let filter = JournalFilter {
        since: Some(id.saturating_sub(1)),
        limit: None,
        ..Default::default()
    };
    // Only the entry asked for gets its view built.
    console
        .engine
        .journal()
        .select(&filter)
        .into_iter()
        .find(|e| e.id() == id)
        .map(|e| e.read())
}

#[utoipa::path(get, path = "/__admin/console/entry/{id}", tag = "console",
    params(("id" = String, Path, description = "the journal entry id")),
    responses((status = 200, description = "the whole journal entry", content_type = "application/json"), (status = 404, description = "no such entry")))]
async fn entry(State(console): State<Arc<Console>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("entry id must be a number, got {id:?}"),
        );
    };
    match find(&console, id) {
        Some(entry) => axum::Json(&*entry).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("entry {id} is no longer in the journal (cleared, or pushed out of the ring)"),
        ),
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Ids {
    #[serde(default)]
    ids: String,
}

/// The entries with these ids that are still in the journal, oldest first, one JSON per line.
#[utoipa::path(get, path = "/__admin/console/export", tag = "console",
    params(("ids" = String, Query, description = "comma-separated entry ids")),
    responses((status = 200, description = "the entries, one JSON per line", content_type = "application/x-ndjson")))]
async fn export(State(console): State<Arc<Console>>, Query(q): Query<Ids>) -> Response {
    let wanted: std::collections::BTreeSet<u64> = q.ids.split(',').filter_map(|id| id.trim().parse().ok()).collect();
    let Some(first) = wanted.first() else {
        return error(StatusCode::BAD_REQUEST, "give ids=1,2,3");
    };
    let filter = JournalFilter {
        since: Some(first.saturating_sub(1)),
        ..Default::default()
    };
    let mut out = String::new();
    for entry in console.engine.journal().select(&filter) {
        if wanted.contains(&entry.id()) {
            out.push_str(&serde_json::to_string(&*entry.read()).unwrap_or_default());
            out.push('\n');
        }
    }
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"possim-journal.jsonl\"",
            ),
        ],
        out,
    )
        .into_response()
}

/// The cards of the data set's `zvt.toml` (name, kind, PIN, limit): what the card slot offers.
#[utoipa::path(get, path = "/__admin/console/cards", tag = "console",
    responses((status = 200, description = "`{\"dataset\": …, \"cards\": […]}`", content_type = "application/json")))]
async fn cards(State(console): State<Arc<Console>>) -> Response {
    let data = console.engine.data();
    let parsed: Option<toml::Value> = data.parse_file("zvt.toml").ok().flatten();
    let cards: Vec<Value> = parsed
        .as_ref()
        .and_then(|t| t.get("cards"))
        .and_then(toml::Value::as_array)
        .map(|cards| {
            cards
                .iter()
                .map(|c| {
                    json!({
                        "name": c.get("name").and_then(toml::Value::as_str),
                        "kind": c.get("kind").and_then(toml::Value::as_str),
                        "pin": c.get("pin").and_then(toml::Value::as_str),
                        "limitCents": c.get("limitCents").and_then(toml::Value::as_integer),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({"dataset": data.name, "cards": cards})).into_response()
}

/// A progress event of a certification run: `{"type": "run" | "scenario" | "step" | "verdict" |
/// "finished", …}`. A `reportHtml` string is kept apart and replaced by a `report` link.
#[utoipa::path(post, path = "/__admin/console/run", tag = "console",
    request_body(content = serde_json::Value, content_type = "application/json", description = "a progress event of a certification run"),
    responses((status = 201, description = "the event as kept", content_type = "application/json"), (status = 400, description = "not a progress event")))]
async fn post_run(State(console): State<Arc<Console>>, body: Bytes) -> Response {
    let mut event: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) if map.get("type").is_some_and(Value::is_string) => Value::Object(map),
        Ok(_) => return error(StatusCode::BAD_REQUEST, "a run event is a JSON object with a \"type\""),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    {
        let mut log = console.runs();
        if let Some(Value::String(html)) = event.as_object_mut().and_then(|m| m.remove("reportHtml")) {
            log.next_report += 1;
            let n = log.next_report;
            log.reports.push_back((n, html));
            while log.reports.len() > REPORTS_KEPT {
                log.reports.pop_front();
            }
            event["report"] = format!("/__admin/console/reports/{n}").into();
        }
        log.events.push_back(event.clone());
        while log.events.len() > RUN_EVENTS_KEPT {
            log.events.pop_front();
        }
    }
    let _ = console.run_events.send(event.clone());
    (StatusCode::CREATED, axum::Json(event)).into_response()
}

#[utoipa::path(get, path = "/__admin/console/runs", tag = "console",
    responses((status = 200, description = "`{\"events\": […]}` of the kept runs", content_type = "application/json")))]
async fn runs(State(console): State<Arc<Console>>) -> Response {
    let events: Vec<Value> = console.runs().events.iter().cloned().collect();
    axum::Json(json!({"events": events})).into_response()
}

#[utoipa::path(get, path = "/__admin/console/reports/{n}", tag = "console",
    params(("n" = String, Path, description = "the report number")),
    responses((status = 200, description = "an HTML certification report", content_type = "text/html"), (status = 404, description = "no such report")))]
async fn report(State(console): State<Arc<Console>>, Path(n): Path<String>) -> Response {
    let log = console.runs();
    match log.reports.iter().find(|(k, _)| k.to_string() == n) {
        Some((_, html)) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no report {n:?} (the console keeps the last {REPORTS_KEPT})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_engine::journal::{HttpRequestRecord, HttpResponseRecord, Outcome, RecordedBody};

    fn http(status: u16) -> JournalEntry {
        JournalEntry {
            id: 3,
            provider: "tyrios".into(),
            connection: 1,
            at: 1_000,
            duration_micros: 42,
            fault: None,
            view: None,
            exchange: Exchange::Http {
                request: HttpRequestRecord {
                    method: "POST".into(),
                    path: "/service/BonusPointManagement/BonusPointTransaction/pos".into(),
                    query: Some("draft=true".into()),
                    headers: vec![("authorization".into(), "Basic ZGVtbzpkZW1v".into())],
                    body: RecordedBody::from_bytes(b"{\"secret\":1}"),
                },
                response: Some(HttpResponseRecord {
                    status,
                    headers: vec![],
                    body: RecordedBody::from_bytes(b"{}"),
                }),
                outcome: Outcome::Answered,
                operation: None,
            },
        }
    }

    #[test]
    fn a_summary_names_the_exchange_without_bodies_or_headers() {
        let s = summary(&http(400));
        assert_eq!(s["method"], "POST");
        assert_eq!(s["status"], 400);
        assert_eq!(s["query"], "draft=true");
        let text = s.to_string();
        assert!(!text.contains("secret") && !text.contains("Basic"), "{text}");
    }

    #[test]
    fn a_zvt_summary_carries_the_message_name_and_amount() {
        let mut entry = http(200);
        entry.exchange = Exchange::Zvt {
            direction: possim_engine::journal::ZvtDirection::EcrToPt,
            link: "tcp".into(),
            control: Some("06 01".into()),
            hex: "0601070400000012500000".into(),
            text: "06 01 Authorisation (ECR -> PT), 7 data bytes\n  BMP 04 amount: 12.50 (00 00 00 00 12 50)\n".into(),
        };
        let s = summary(&entry);
        assert_eq!(s["path"], "06 01 Authorisation (ECR -> PT), 7 data bytes");
        assert_eq!(s["amount"], "BMP 04 amount: 12.50 (00 00 00 00 12 50)");
        assert_eq!(s["bytes"], 11);
    }

    #[test]
    fn a_stalled_watcher_is_told_how_many_it_missed() {
        let journal = possim_engine::journal::Journal::new(10);
        let mut stream = Stream {
            journal: Some(journal.subscribe()),
            ..Stream::default()
        };
        for _ in 0..possim_engine::journal::LIVE_CAPACITY + 3 {
            journal.record(http(200));
        }
        let first = match stream.journal.as_mut().map(|j| j.try_recv()) {
            Some(Err(broadcast::error::TryRecvError::Lagged(n))) => Err(broadcast::error::RecvError::Lagged(n)),
            other => panic!("the watcher lagged, got {other:?}"),
        };
        assert!(drain(first, &mut stream));
        let events: Vec<String> = stream.ready.drain(..).map(|e| format!("{e:?}")).collect();
        assert_eq!(events.len(), 2, "{events:?}");
        // 3 pushed out of the live channel, and all but the newest MAX_PER_FLUSH of the rest.
        let missed = 3 + possim_engine::journal::LIVE_CAPACITY - MAX_PER_FLUSH;
        assert!(
            events[0].contains("event: missed") && events[0].contains(&format!("data: {missed}\\n")),
            "{}",
            events[0]
        );
        assert_eq!(events[1].matches("\\\"provider\\\"").count(), MAX_PER_FLUSH);
        // The next entry goes out on its own.
        journal.record(http(200));
        let next = stream.journal.as_mut().map(|j| j.try_recv()).expect("subscribed");
        assert!(drain(
            next.map_err(|_| broadcast::error::RecvError::Closed),
            &mut stream
        ));
        assert_eq!(stream.ready.len(), 1);
    }
}

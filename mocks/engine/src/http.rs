//! The instrumented HTTP/1.1 transport shared by every HTTP provider mock.
//!
//! Each accepted connection is served by hyper with one service that: reads the whole request,
//! asks the fault rules what to do, applies the fault (delay, fixed answer, competing change,
//! closing the connection, cutting or mangling the body), lets the provider's axum router answer
//! otherwise, and records the exchange in the journal with the operation the provider names
//! (`Provider::classify`). Each step is its own function; `handle` calls them in order.
//!
//! Connections are accepted and limited by the shared front ([`crate::front`]), which also
//! reads the body and refuses oversized or slow requests before the service runs.
//!
//! hyper is used directly rather than `axum::serve` because two faults need control below the
//! router: "close without an answer" (the service returns an error, so hyper drops the
//! connection) and "truncated body" (a body that fails midway after a full Content-Length).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::Engine;
use crate::fault::{FaultAction, RequestView};
use crate::front;
use crate::journal::{
    Describer, Exchange, FaultHit, HttpRequestRecord, HttpResponseRecord, JournalEntry, Outcome, RecordedBody, View,
    ViewLater,
};
use crate::provider::Provider;

/// Requests with a larger body are refused with 413; no provider in the seeds sends more.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// How long shutdown waits for in-flight exchanges before dropping connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

type ResponseBody = BoxBody<Bytes, std::io::Error>;

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug)]
struct CloseWithoutAnswer;

impl std::fmt::Display for CloseWithoutAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault rule")
    }
}

impl std::error::Error for CloseWithoutAnswer {}

/// A body that yields its first chunk and then fails, so hyper aborts the connection.
///
/// Between the two it reports `Pending` once (waking itself at once): hyper flushes what it has
/// buffered while the body is pending, so the client really receives the headers and the first
/// half before the connection is cut, instead of nothing at all.
#[derive(Debug)]
struct CutBody {
    first: Option<Bytes>,
    flushed: bool,
}

impl Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(chunk) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if !self.flushed {
            self.flushed = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "body truncated by fault rule",
        ))))
    }
}

fn full(bytes: Bytes) -> ResponseBody {
    Full::new(bytes).map_err(|never: Infallible| match never {}).boxed()
}

/// What one connection's service needs.
struct Ctx {
    engine: Arc<Engine>,
    provider: Arc<dyn Provider>,
    /// The provider's `describe`, for views the journal builds when it is read.
    describer: Describer,
    /// The provider's refusal format.
    refuse: front::ErrorFormat,
    router: axum::Router,
    connection: u64,
}

/// Serves `provider` on `listener` behind the shared front ([`crate::front`]) until `shutdown`
/// completes, then lets in-flight exchanges finish (up to [`SHUTDOWN_GRACE`]).
pub async fn serve_provider(
    listener: TcpListener,
    engine: Arc<Engine>,
    provider: Arc<dyn Provider>,
    shutdown: impl Future<Output = ()>,
) {
    let router = provider.router();
    let name = provider.name();
    let refuse = provider_format(&provider);
    let describer: Describer = {
        let provider = Arc::clone(&provider);
        Arc::new(move |request, response| provider.describe(request, response))
    };
    let make = |slot: Arc<front::RefusalSlot>| {
        let ctx = Arc::new(Ctx {
            engine: Arc::clone(&engine),
            provider: Arc::clone(&provider),
            describer: Arc::clone(&describer),
            refuse: Arc::clone(&refuse),
            router: router.clone(),
            connection: engine.next_connection_id(),
        });
        hyper::service::service_fn(move |req| {
            // Taken before the first await: the refusal belongs to this request (see
            // `front::serve`).
            let refused = slot.take();
            handle(Arc::clone(&ctx), req, refused)
        })
    };
    front::serve(listener, name, make, Arc::clone(&refuse), shutdown, SHUTDOWN_GRACE).await;
}

/// The provider's refusal format ([`Provider::refusal`]) as the front's [`front::ErrorFormat`].
pub fn provider_format(provider: &Arc<dyn Provider>) -> front::ErrorFormat {
    let provider = Arc::clone(provider);
    Arc::new(move |status, message| provider.refusal(status, message))
}

/// The engine's generic refusal, `{"error": "Exception", "message": "…"}` (JSON): the default of
/// [`Provider::refusal`].
pub fn generic_refusal(status: StatusCode, message: &str) -> Response<Bytes> {
    simple_json(status, serde_json::json!({"error": "Exception", "message": message}))
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn simple_json(status: StatusCode, body: serde_json::Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn fixed_answer(status: u16, body: &Option<serde_json::Value>, headers: &[(String, String)]) -> Response<Bytes> {
    let (bytes, is_json) = match body {
        None => (Bytes::new(), false),
        Some(serde_json::Value::String(s)) => (Bytes::from(s.clone()), false),
        Some(v) => (Bytes::from(v.to_string()), true),
    };
    let mut resp = Response::new(bytes);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if is_json {
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            resp.headers_mut().insert(n, v);
        }
    }
    resp
}

/// The journal entry's `view`: built now, or left to the provider's `describe` when the
/// journal is read (the handler attached a [`ViewLater`]).
enum EntryView {
    Now(Option<serde_json::Value>),
    Later(serde_json::Value),
}

/// One exchange on its way through [`handle`]: what the journal entry needs besides the
/// response.
struct Exchanging<'a> {
    ctx: &'a Ctx,
    parts: &'a http::request::Parts,
    /// Engine time the request was complete.
    at: crate::clock::Millis,
    started: Instant,
    /// Whether the journal records; nothing is copied for it otherwise.
    recording: bool,
}

impl Exchanging<'_> {
    fn request_record(&self, body: &[u8]) -> HttpRequestRecord {
        HttpRequestRecord {
            method: self.parts.method.as_str().to_owned(),
            path: self.parts.uri.path().to_owned(),
            query: self.parts.uri.query().map(str::to_owned),
            headers: header_pairs(&self.parts.headers),
            body: RecordedBody::from_bytes(body),
        }
    }

    /// Records the exchange with the provider's name for its operation (asked whoever answered).
    fn record(
        &self,
        request: HttpRequestRecord,
        response: Option<HttpResponseRecord>,
        outcome: Outcome,
        fault: Option<FaultHit>,
        view: EntryView,
    ) {
        let operation = self.ctx.provider.classify(&request);
        let (view, describe_later) = match view {
            EntryView::Now(view) => (view, None),
            EntryView::Later(partial) => (Some(partial), Some(Arc::clone(&self.ctx.describer))),
        };
        let entry = JournalEntry {
            view,
            id: 0,
            provider: self.ctx.provider.name().to_owned(),
            connection: self.ctx.connection,
            at: self.at,
            duration_micros: self.started.elapsed().as_micros() as u64,
            fault,
            exchange: Exchange::Http {
                request,
                response,
                outcome,
                operation,
            },
        };
        let journal = self.ctx.engine.journal();
        match describe_later {
            Some(describe) => journal.record_described_later(entry, describe),
            None => journal.record(entry),
        };
    }
}

/// Serves one request: read it whole, ask the fault rules, let the router (or the fault) answer,
/// shape the answer on the wire, record the exchange. `refused`: the front's guard refused the
/// head, and `req` is only its stand-in.
async fn handle(
    ctx: Arc<Ctx>,
    req: Request<Incoming>,
    refused: Option<front::HeadRefusal>,
) -> Result<Response<ResponseBody>, CloseWithoutAnswer> {
    let (mut parts, body) = req.into_parts();
    let body = match refused {
        Some(head) => {
            parts = refused_parts(&head);
            Err(head.refusal)
        }
        None => match front::check_head(&parts) {
            Ok(()) => front::read_body(body, MAX_REQUEST_BODY).await,
            Err(refusal) => Err(refusal),
        },
    };
    let exchanging = Exchanging {
        ctx: &ctx,
        parts: &parts,
        at: ctx.engine.clock().now_ms(),
        started: Instant::now(),
        recording: ctx.engine.journal().is_enabled(),
    };
    let body = match body {
        Ok(bytes) => bytes,
        Err(e) => return Ok(refuse_body(&exchanging, e)),
    };
    let (action, hit) = apply_fault(&ctx, &parts, &body).await;
    if matches!(action, FaultAction::Close) {
        if exchanging.recording {
            let request = exchanging.request_record(&body);
            let view = ctx.provider.describe(&request, None);
            exchanging.record(request, None, Outcome::ConnectionClosed, hit, EntryView::Now(view));
        }
        return Err(CloseWithoutAnswer);
    }
    let response = match &action {
        FaultAction::Respond { status, body, headers } => fixed_answer(*status, body, headers),
        _ => route(&ctx, &parts, body.clone()).await,
    };
    Ok(send(&exchanging, &body, response, action, hit))
}

/// What the journal shows of a request whose head the guard refused: its method and target as
/// far as they could be read (else `GET` and `/`), no header fields.
fn refused_parts(head: &front::HeadRefusal) -> http::request::Parts {
    let mut parts = Request::new(()).into_parts().0;
    parts.method = head
        .method
        .as_deref()
        .and_then(|m| http::Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or(http::Method::GET);
    parts.uri = head
        .target
        .as_deref()
        .and_then(|t| http::Uri::try_from(t).ok())
        .unwrap_or_else(|| http::Uri::from_static("/"));
    parts
}

/// A request the front refused (unreadable or oversized head or body, slow body): answers in
/// the provider's format and records what arrived.
fn refuse_body(exchanging: &Exchanging<'_>, refusal: front::Refusal) -> Response<ResponseBody> {
    let resp = front::refusal_response(&exchanging.ctx.refuse, &refusal);
    if exchanging.recording {
        let response = HttpResponseRecord {
            status: resp.status().as_u16(),
            headers: header_pairs(resp.headers()),
            body: RecordedBody::from_bytes(resp.body()),
        };
        exchanging.record(
            exchanging.request_record(b""),
            Some(response),
            Outcome::Answered,
            None,
            EntryView::Now(None),
        );
    }
    resp.map(full)
}

/// Asks the fault rules about the request and carries out what happens before an answer: the
/// delay, a competing change, the note on a quirk that cannot apply. Returns the action left to
/// do (none: [`FaultAction::default`]) and the journal's record of the rule.
async fn apply_fault(ctx: &Ctx, parts: &http::request::Parts, body: &Bytes) -> (FaultAction, Option<FaultHit>) {
    let view = RequestView {
        provider: ctx.provider.name(),
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        body,
    };
    let fired = ctx.engine.faults().evaluate(&view);
    let mut hit = fired.as_ref().map(|f| FaultHit {
        rule: f.rule,
        name: f.name.clone(),
        action: f.action.kind().to_owned(),
        note: None,
    });
    if let Some(delay) = fired.as_ref().and_then(|f| f.delay_ms) {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let action = fired.map(|f| f.action).unwrap_or_default();
    if let FaultAction::CompetingChange { change } = &action {
        let note = match ctx.provider.apply_change(change) {
            Ok(applied) => serde_json::json!({"applied": applied}),
            Err(error) => serde_json::json!({"error": error}),
        };
        if let Some(hit) = hit.as_mut() {
            hit.note = Some(note);
        }
    }
    if let (FaultAction::Quirk { quirk }, Some(hit)) = (&action, hit.as_mut()) {
        // Quirks shape what a provider sends on its own (notifies); say so instead of failing
        // silently when a rule matched a request to the provider.
        hit.note = Some(serde_json::json!({
            "ignored": format!("quirk {quirk:?} applies to messages the provider sends, not to requests it answers")
        }));
    }
    (action, hit)
}

/// The provider's router answers the request; its whole body is collected.
async fn route(ctx: &Ctx, parts: &http::request::Parts, body: Bytes) -> Response<Bytes> {
    let mut request = Request::new(axum::body::Body::from(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    let Ok(resp) = ctx.router.clone().oneshot(request).await;
    let (resp_parts, resp_body) = resp.into_parts();
    match resp_body.collect().await {
        Ok(collected) => Response::from_parts(resp_parts, collected.to_bytes()),
        Err(e) => simple_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": "Exception", "message": format!("response body failed: {e}")}),
        ),
    }
}

/// Shapes the answer as the fault says (cut after the headers, half a body) and records the
/// exchange as it went out on the wire.
fn send(
    exchanging: &Exchanging<'_>,
    request_body: &[u8],
    response: Response<Bytes>,
    action: FaultAction,
    hit: Option<FaultHit>,
) -> Response<ResponseBody> {
    let (mut resp_parts, resp_bytes) = response.into_parts();
    let handler_view = match resp_parts.extensions.remove::<View>() {
        Some(View(view)) => Some(EntryView::Now(Some(view))),
        None => resp_parts
            .extensions
            .remove::<ViewLater>()
            .map(|ViewLater(partial)| EntryView::Later(partial)),
    };
    let (outcome, wire_body) = match action {
        FaultAction::Truncate => {
            resp_parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(resp_bytes.len()));
            let half = resp_bytes.slice(..resp_bytes.len() / 2);
            (
                Outcome::Truncated,
                CutBody {
                    first: Some(half),
                    flushed: false,
                }
                .boxed(),
            )
        }
        FaultAction::Malform => {
            let half = resp_bytes.slice(..resp_bytes.len() / 2);
            resp_parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(half.len()));
            (Outcome::Answered, full(half))
        }
        _ => (Outcome::Answered, full(resp_bytes.clone())),
    };
    if exchanging.recording {
        let sent = if matches!(outcome, Outcome::Answered) && resp_parts.headers.get(CONTENT_LENGTH).is_some() {
            // For a malformed answer the journal shows what was actually sent.
            let len = resp_parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(resp_bytes.len());
            resp_bytes.slice(..len.min(resp_bytes.len()))
        } else {
            resp_bytes.clone()
        };
        let response = HttpResponseRecord {
            status: resp_parts.status.as_u16(),
            headers: header_pairs(&resp_parts.headers),
            body: RecordedBody::from_bytes(&sent),
        };
        let request = exchanging.request_record(request_body);
        let view = match handler_view {
            Some(view) => view,
            None => EntryView::Now(exchanging.ctx.provider.describe(&request, Some(&response))),
        };
        exchanging.record(request, Some(response), outcome, hit, view);
    }
    Response::from_parts(resp_parts, wire_body)
}

/// Decodes `%XX` escapes and `+` (as a space) in a query component; an invalid escape is kept
/// as it is rather than refused, as lenient servers do, and bytes that are not UTF-8 become
/// U+FFFD. The same decoding as [`form_urlencoded::parse`] applies to each name and value.
pub fn percent_decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The first value of `name` in a raw query string, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("Max%20Mustermann"), "Max Mustermann");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("M%C3%BCller"), "Müller");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%"), "%zz%");
        assert_eq!(percent_decode("%Ä"), "%Ä");
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param(Some("draft=true&x=1"), "draft").as_deref(), Some("true"));
        assert_eq!(
            query_param(Some("query=Max+M%C3%BCller"), "query").as_deref(),
            Some("Max Müller")
        );
        assert_eq!(query_param(Some("flag"), "flag").as_deref(), Some(""));
        assert_eq!(query_param(None, "x"), None);
    }

    #[test]
    fn plus_is_a_space_only_when_not_escaped_and_bad_utf8_is_replaced() {
        assert_eq!(percent_decode("a+%2B+b"), "a + b");
        assert_eq!(percent_decode("%FFok"), "\u{FFFD}ok");
        assert_eq!(query_param(Some("&&a=1&&b=x%3Dy=z&a=2"), "b").as_deref(), Some("x=y=z"));
        assert_eq!(query_param(Some("a%3D=v"), "a="), Some("v".into()));
    }
}

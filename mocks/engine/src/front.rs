//! The one HTTP front every possim listener stands behind: the provider ports ([`crate::http`])
//! and the admin API ([`serve_admin`]).
//!
//! It owns what a listener must do before any handler sees a request, the same for all: the
//! accept loop with a connection limit, hyper's HTTP/1.1 settings (header read time-out, which
//! is also the idle time-out of a kept-alive connection), the request-head limits, and reading
//! the body within a size limit and a time-out. Each listener answers these refusals in its own
//! error format ([`ErrorFormat`]): a provider port in the provider's
//! ([`crate::provider::Provider::refusal`]), the admin API in its documented `{"error": "…"}`.
//!
//! Every request head passes the [`guard`] before hyper parses it: it enforces
//! [`MAX_URI_BYTES`], [`MAX_HEADERS`] and [`MAX_HEAD_BYTES`] and refuses whatever hyper's own
//! parser would refuse (a bad request line, invalid header bytes, a broken Content-Length or
//! Transfer-Encoding, a request target beyond hyper's 65,534 bytes, more fields than hyper's
//! [`HYPER_MAX_HEADERS`]), so hyper's own answers — an empty 400/414/431, or a dropped
//! connection — never reach a client. The refusal is answered by the listener's service, in
//! the listener's format, with `Connection: close`. A body whose chunked framing is broken is
//! refused by the service when reading it (400, same format).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The default of [`read_timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// [`read_timeout`] in milliseconds. One process-wide setting, not one per listener: every
/// listener of one possim stands behind the same front, and `possim serve` sets it once, before
/// any listener starts.
static READ_TIMEOUT_MS: AtomicU64 = AtomicU64::new(DEFAULT_READ_TIMEOUT.as_millis() as u64);

/// How long a client may take to send a request head — a kept-alive connection waiting for its
/// next request is waiting for a head too, so this is also the idle time-out — and, once the
/// head is in, how long it may take to send the body. [`DEFAULT_READ_TIMEOUT`] unless
/// [`set_read_timeout`] changed it (`possim serve --http-read-timeout`).
pub fn read_timeout() -> Duration {
    Duration::from_millis(READ_TIMEOUT_MS.load(Ordering::Relaxed))
}

/// Sets [`read_timeout`], in whole seconds (at least one), for the connections accepted and
/// bodies read from now on.
pub fn set_read_timeout(seconds: u64) {
    READ_TIMEOUT_MS.store(seconds.max(1).saturating_mul(1000), Ordering::Relaxed);
}
/// Connections one listener serves at once; the next one is answered 503 and closed, so a
/// flood on one port cannot take every file descriptor of the process.
pub const MAX_CONNECTIONS: usize = 1024;
/// Longest request target (path and query) answered; longer is a 414.
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// Most header fields in a request; more is a 431.
pub const MAX_HEADERS: usize = 100;
/// Largest request head (request line and header fields); larger is a 431. hyper's default
/// buffer, so no request that was served before is refused now.
pub const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// hyper's own header count limit, above [`MAX_HEADERS`]; the guard refuses more first.
pub const HYPER_MAX_HEADERS: usize = 128;
/// hyper's own head buffer limit, above [`MAX_HEAD_BYTES`]; the guard refuses larger first.
pub const HYPER_MAX_HEAD_BYTES: usize = 512 * 1024;

pub mod guard;

pub use guard::{HeadRefusal, RefusalSlot};

/// Builds a listener's error answer from a status and a message.
pub type ErrorFormat = Arc<dyn Fn(StatusCode, &str) -> Response<Bytes> + Send + Sync>;

/// A request the front refuses before the handler, with its status and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 408, 413, 414, 431 or 400.
    pub status: StatusCode,
    /// Readable reason.
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: String) -> Self {
        Self { status, message }
    }
}

/// Checks the request head against [`MAX_URI_BYTES`], [`MAX_HEADERS`] and [`MAX_HEAD_BYTES`].
pub fn check_head(parts: &http::request::Parts) -> Result<(), Refusal> {
    let target = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(Refusal::new(
            StatusCode::URI_TOO_LONG,
            format!("request target of {target} bytes exceeds {MAX_URI_BYTES}"),
        ));
    }
    if parts.headers.len() > MAX_HEADERS {
        return Err(Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("{} header fields exceed {MAX_HEADERS}", parts.headers.len()),
        ));
    }
    // Each field costs its name, value and ": \r\n" on the wire.
    let head = target
        + parts
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head > MAX_HEAD_BYTES {
        return Err(Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request head of {head} bytes exceeds {MAX_HEAD_BYTES}"),
        ));
    }
    Ok(())
}

/// The whole request body, within `max` bytes and [`read_timeout`]. A body whose
/// Content-Length already says it is too large is refused without being kept: what the client
/// sends of it is read and thrown away within the guard's linger bounds first, so the client can
/// finish writing and read the 413 rather than meet a reset on a closed connection.
pub async fn read_body(body: Incoming, max: usize) -> Result<Bytes, Refusal> {
    if hyper::body::Body::size_hint(&body).lower() > max as u64 {
        discard(body).await;
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {max} bytes"),
        ));
    }
    let timeout = read_timeout();
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {max} bytes"),
        )),
        Ok(Err(e)) => {
            // hyper's error says "error reading a body"; its source says what was wrong (a
            // broken chunk size line, the connection closed early).
            let detail = match std::error::Error::source(&*e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            };
            Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("request body could not be read: {detail}"),
            ))
        }
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not complete within {} s", timeout.as_secs()),
        )),
    }
}

/// A refusal's answer, marked `Connection: close`: the refused request's body may be unread, so
/// the connection cannot carry another request. Said explicitly, a client does not put the
/// connection back into its pool and lose its next request on it.
pub fn refusal_response(format: &ErrorFormat, refusal: &Refusal) -> Response<Bytes> {
    let mut resp = format(refusal.status, &refusal.message);
    resp.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Reads and drops `body` until it ends, [`guard::LINGER_BYTES`] are read or
/// [`guard::LINGER_TIME`] has passed, whichever comes first.
async fn discard(mut body: Incoming) {
    let _ = tokio::time::timeout(guard::LINGER_TIME, async {
        let mut read = 0usize;
        while read < guard::LINGER_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |data| data.len()),
                _ => break,
            }
        }
    })
    .await;
}

/// A JSON answer.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The admin API's documented error format, `{"error": "…"}`.
pub fn admin_error(status: StatusCode, message: &str) -> Response<Bytes> {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// [`admin_error`] as an [`ErrorFormat`].
pub fn admin_format() -> ErrorFormat {
    Arc::new(admin_error)
}

/// Accepts connections on `listener` until `shutdown` completes and serves each with the
/// service `make_service` builds for it, under the front's limits; then lets in-flight
/// exchanges finish for up to `grace`. `name` is for logs; `refuse` writes the 503 of a
/// connection over [`MAX_CONNECTIONS`].
///
/// `make_service` gets the connection's [`RefusalSlot`]: when hyper hands the service a request,
/// the service takes the slot first (in `call`, before any await); a refusal found there is the
/// head the [`guard`] refused, and the request is only its stand-in.
pub async fn serve<F, S, B>(
    listener: TcpListener,
    name: &str,
    mut make_service: F,
    refuse: ErrorFormat,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    F: FnMut(Arc<RefusalSlot>) -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let mut stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Typically EMFILE under overload; back off briefly instead of spinning.
                        tracing::warn!(listener = name, "accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    let answer = over_limit(&refuse);
                    tokio::spawn(async move {
                        // A bounded write: a peer that does not read gets dropped.
                        let _ = tokio::time::timeout(read_timeout(), async {
                            let _ = stream.write_all(&answer).await;
                            let _ = stream.shutdown().await;
                        })
                        .await;
                    });
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let refusals = Arc::new(RefusalSlot::default());
                let io = guard::GuardedIo::new(stream, Arc::clone(&refusals));
                let conn = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(read_timeout())
                    .max_headers(HYPER_MAX_HEADERS)
                    .max_buf_size(HYPER_MAX_HEAD_BYTES)
                    .serve_connection(TokioIo::new(io), make_service(refusals));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("connection ended: {e}");
                    }
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(listener = name, "connections still open after shutdown grace");
    }
}

/// The raw 503 answer of a connection over the limit, in the listener's format.
fn over_limit(refuse: &ErrorFormat) -> Vec<u8> {
    let resp = refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("this listener already serves {MAX_CONNECTIONS} connections; try again later"),
    );
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: {}\r\n",
        resp.body().len()
    );
    for (name, value) in resp.headers() {
        out.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes())));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(resp.body());
    bytes
}

/// Largest admin request body: axum's default body limit, which the admin API had before it
/// moved onto the front (fault files of thousands of rules fit).
pub const ADMIN_MAX_BODY: usize = 2 * 1024 * 1024;

/// Who may use the admin API.
#[derive(Clone, Default)]
pub struct AdminAccess {
    /// The bearer token every request must carry (`--admin-token`); none: open (loopback).
    pub token: Option<String>,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// The query parameter that carries the token where a header cannot (the console's event
/// stream, a link opened in a browser); RFC 6750's name.
pub const TOKEN_QUERY_PARAM: &str = "access_token";

impl AdminAccess {
    /// Whether the request may pass: one outside `/__admin/` (the console's static page, which
    /// holds no state), or one that carries the token (always, when none is set):
    /// `Authorization: Bearer <token>` or `?access_token=<token>`.
    pub fn allows(&self, parts: &http::request::Parts) -> bool {
        let Some(token) = &self.token else { return true };
        if !parts.uri.path().starts_with("/__admin") {
            return true;
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, given)| given.trim().to_owned());
        let query = crate::http::query_param(parts.uri.query(), TOKEN_QUERY_PARAM);
        [header, query]
            .into_iter()
            .flatten()
            .any(|given| same_secret(given.as_bytes(), token.as_bytes()))
    }
}

/// Compares without stopping at the first difference, so timing tells nothing about the token.
fn same_secret(given: &[u8], token: &[u8]) -> bool {
    given.len() == token.len() && given.iter().zip(token).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Serves the admin API's `router` (with whatever is merged into it, the console) on `listener`
/// behind the front: head limits, body limit and time-out, the token when one is set, errors in
/// the admin format. Answers stream (the console's event stream).
pub async fn serve_admin(
    listener: TcpListener,
    router: axum::Router,
    access: AdminAccess,
    shutdown: impl Future<Output = ()>,
) {
    let access = Arc::new(access);
    let make = |slot: Arc<RefusalSlot>| {
        let router = router.clone();
        let access = Arc::clone(&access);
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let router = router.clone();
            let access = Arc::clone(&access);
            let refused = slot.take();
            async move {
                Ok::<_, Infallible>(match refused {
                    Some(head) => refusal_response(&admin_format(), &head.refusal).map(axum::body::Body::from),
                    None => admin_exchange(&router, &access, req).await,
                })
            }
        })
    };
    serve(
        listener,
        "admin",
        make,
        admin_format(),
        shutdown,
        crate::http::SHUTDOWN_GRACE,
    )
    .await;
}

async fn admin_exchange(
    router: &axum::Router,
    access: &AdminAccess,
    req: Request<Incoming>,
) -> Response<axum::body::Body> {
    let (parts, body) = req.into_parts();
    let refused = |r: Refusal| refusal_response(&admin_format(), &r).map(axum::body::Body::from);
    if let Err(r) = check_head(&parts) {
        return refused(r);
    }
    if !access.allows(&parts) {
        let mut resp = admin_error(
            StatusCode::UNAUTHORIZED,
            "the admin API needs the token possim was started with: Authorization: Bearer <token> \
             or ?access_token=<token> (see README, \"Running possim as a shared service\")",
        );
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"possim admin\""),
        );
        return resp.map(axum::body::Body::from);
    }
    let bytes = match read_body(body, ADMIN_MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(r) => return refused(r),
    };
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let Ok(resp) = router.clone().oneshot(request).await;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's "a request head must arrive within 30 s": no test of this crate changes
    /// the process-wide setting, so it is the default here.
    #[test]
    fn the_read_timeout_is_thirty_seconds_unless_set() {
        assert_eq!(read_timeout(), Duration::from_secs(30));
    }

    fn parts(req: Request<()>) -> http::request::Parts {
        req.into_parts().0
    }

    #[test]
    fn head_limits_name_what_is_too_large() {
        let ok = parts(Request::get("/x?a=1").body(()).unwrap());
        assert_eq!(check_head(&ok), Ok(()));
        let long = parts(
            Request::get(format!("/{}", "a".repeat(MAX_URI_BYTES)))
                .body(())
                .unwrap(),
        );
        assert_eq!(check_head(&long).unwrap_err().status, StatusCode::URI_TOO_LONG);
        let mut many = Request::get("/").body(()).unwrap();
        for i in 0..=MAX_HEADERS {
            many.headers_mut().insert(
                http::HeaderName::try_from(format!("x-{i}")).unwrap(),
                HeaderValue::from_static("1"),
            );
        }
        let refusal = check_head(&parts(many)).unwrap_err();
        assert_eq!(refusal.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert!(refusal.message.contains("101 header fields"), "{}", refusal.message);
        let mut big = Request::get("/").body(()).unwrap();
        for i in 0..5 {
            big.headers_mut().insert(
                http::HeaderName::try_from(format!("x-{i}")).unwrap(),
                HeaderValue::try_from("v".repeat(90_000)).unwrap(),
            );
        }
        let refusal = check_head(&parts(big)).unwrap_err();
        assert_eq!(refusal.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[test]
    fn the_token_comes_as_bearer_or_query_parameter_and_nothing_else() {
        let access = AdminAccess {
            token: Some("s3cret".into()),
        };
        let bearer = parts(
            Request::get("/__admin/health")
                .header("authorization", "bearer s3cret")
                .body(())
                .unwrap(),
        );
        assert!(access.allows(&bearer));
        let query = parts(Request::get("/__admin/health?access_token=s3cret").body(()).unwrap());
        assert!(access.allows(&query));
        for refused in [
            Request::get("/__admin/health").body(()).unwrap(),
            Request::get("/__admin/health?access_token=s3cre").body(()).unwrap(),
            Request::get("/__admin/x")
                .header("authorization", "Basic s3cret")
                .body(())
                .unwrap(),
            Request::get("/__admin")
                .header("authorization", "Bearer s3cret2")
                .body(())
                .unwrap(),
        ] {
            assert!(!access.allows(&parts(refused)));
        }
        assert!(AdminAccess::default().allows(&parts(Request::get("/__admin/reset").body(()).unwrap())));
        // The console's static page holds no state: it loads without the token, then uses it.
        assert!(access.allows(&parts(Request::get("/console/app.js").body(()).unwrap())));
    }

    #[test]
    fn the_over_limit_answer_is_a_complete_http_message_in_the_listeners_format() {
        let raw = String::from_utf8(over_limit(&admin_format())).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(json["error"].as_str().unwrap().contains("1024 connections"), "{json}");
    }
}

//! TYRIOS's answer to a request possim's HTTP front refuses before the router sees it (too
//! large, too slow, unreadable; see `possim_engine::front`): the seed's error body,
//! `{"error": "Exception", "message": "…"}`, with the front's status instead of the 400 the seed
//! shows for its errors — the request was never read, so no TYRIOS error applies. The message is
//! the front's English reason: the credential, and with it the language, is not known yet.

use axum::body::Bytes;
use axum::http::{HeaderValue, Response, StatusCode, header};

/// The refusal in TYRIOS's error format.
pub fn answer(status: StatusCode, message: &str) -> Response<Bytes> {
    let body = serde_json::json!({"error": "Exception", "message": message});
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

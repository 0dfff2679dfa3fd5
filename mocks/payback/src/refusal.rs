//! PAYBACK's answer to a request possim's HTTP front refuses before the router sees it (too
//! large, too slow, unreadable; see `possim_engine::front`): the mock's error format,
//! `{"code": "<CODE>", "message": "…"}` (see `errors`), with the front's status and a code
//! for each kind of refusal. The codes are ours, listed in `mocks/payback/README.md`.

use axum::body::Bytes;
use axum::http::{HeaderValue, Response, StatusCode, header};

/// The stable code of a front refusal with `status`.
pub fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::REQUEST_TIMEOUT => "REQUEST_TIMEOUT",
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::URI_TOO_LONG | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "REQUEST_TOO_LARGE"
        }
        StatusCode::SERVICE_UNAVAILABLE => "SERVICE_UNAVAILABLE",
        _ => "INVALID_REQUEST",
    }
}

/// The refusal in PAYBACK's error format.
pub fn answer(status: StatusCode, message: &str) -> Response<Bytes> {
    let body = serde_json::json!({"code": code(status), "message": message});
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of `mocks/payback/README.md` ("Errors"), front refusals.
    #[test]
    fn every_front_refusal_has_its_readme_code() {
        for (status, expected) in [
            (400, "INVALID_REQUEST"),
            (408, "REQUEST_TIMEOUT"),
            (413, "REQUEST_TOO_LARGE"),
            (414, "REQUEST_TOO_LARGE"),
            (431, "REQUEST_TOO_LARGE"),
            (503, "SERVICE_UNAVAILABLE"),
        ] {
            let resp = answer(StatusCode::from_u16(status).unwrap(), "why");
            assert_eq!(resp.status().as_u16(), status);
            let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
            assert_eq!(body, serde_json::json!({"code": expected, "message": "why"}));
        }
    }
}

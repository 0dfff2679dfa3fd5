//! Loymax's answer to a request possim's HTTP front refuses before the router sees it (too
//! large, too slow, unreadable; see `possim_engine::front`): an `XMLResponse` envelope with an
//! envelope-level `ErrorCode` and `ErrorMessage` and no wrapper, as for a document that cannot
//! be processed, with the front's status — the request never reached the XML layer, whose
//! answers are HTTP 200. The request's envelope variant is unknown (its body was not read), so
//! the answer has the 2024 form (`Version` first), as for any request that is not clearly 2018.
//!
//! The codes: `ParseError` for a document that did not arrive whole (413 over the size limit,
//! 408 too slow), `FormatException` for a request that is not a readable HTTP request (400,
//! 414, 431), `SystemError` for a listener that is full (503). Ours, listed in
//! `mocks/loymax/README.md`.

use axum::body::Bytes;
use axum::http::{HeaderValue, Response, StatusCode, header};

use crate::codes::{Code, Failure};
use crate::protocol::{self, Variant};
use crate::xml;

/// The envelope-level code of a front refusal with `status`.
pub fn code(status: StatusCode) -> Code {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT => Code::ParseError,
        StatusCode::SERVICE_UNAVAILABLE => Code::SystemError,
        _ => Code::FormatException,
    }
}

/// The refusal as a Loymax error envelope.
pub fn answer(status: StatusCode, message: &str) -> Response<Bytes> {
    let failure = Failure {
        code: code(status),
        message: message.to_owned(),
    };
    let root = protocol::response_root(Variant::Y2024, Some(&failure), None);
    let mut resp = Response::new(Bytes::from(xml::write(&root, protocol::standalone(Variant::Y2024))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mocks/loymax/README.md` ("Errors"): the envelope code of each front refusal.
    #[test]
    fn every_front_refusal_has_its_readme_code() {
        for (status, expected) in [
            (400, Code::FormatException),
            (408, Code::ParseError),
            (413, Code::ParseError),
            (414, Code::FormatException),
            (431, Code::FormatException),
            (503, Code::SystemError),
        ] {
            assert_eq!(code(StatusCode::from_u16(status).unwrap()), expected, "{status}");
        }
        let resp = answer(StatusCode::SERVICE_UNAVAILABLE, "a < b");
        assert_eq!(
            std::str::from_utf8(resp.body()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XMLResponse><Version>3.2</Version>\
             <ErrorCode>1</ErrorCode><ErrorMessage>a &lt; b</ErrorMessage></XMLResponse>"
        );
    }
}

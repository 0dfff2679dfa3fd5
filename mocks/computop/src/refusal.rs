//! The Paygate's answer to a request possim's HTTP front refuses before the router sees it (too
//! large, too slow, unreadable; see `possim_engine::front`): the plain failure a shop gets when
//! the envelope itself is unusable, `mid=&Status=FAILED&Description=…&Code=…` (text, as
//! `paygate` answers a missing `MerchantID`), with the front's status — the request was never
//! read, so there is no merchant to encrypt for and no `MerchantID` to echo.
//!
//! `Code` keeps Computop's structure (kind `2`, module, four digits): the module `000` and its
//! details — the HTTP status — are ours, listed in `mocks/computop/README.md`.

use axum::body::Bytes;
use axum::http::{HeaderValue, Response, StatusCode, header};

use crate::form::Fields;

/// The 8-character `Code` of a front refusal with `status`: `2000` and the status.
pub fn code(status: StatusCode) -> String {
    format!("2000{:04}", status.as_u16())
}

/// The refusal as a Paygate plain failure.
pub fn answer(status: StatusCode, message: &str) -> Response<Bytes> {
    let mut fields = Fields::default();
    fields.push("mid", "");
    fields.push("Status", "FAILED");
    // The answer is not percent-encoded (as the Paygate's): keep the separators out of the text.
    fields.push("Description", message.replace(['&', '='], " "));
    fields.push("Code", code(status));
    let mut resp = Response::new(Bytes::from(fields.encode()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mocks/computop/README.md` ("Answers and codes"): `2000` and the status; the separators
    /// of the unencoded answer never come from the text.
    #[test]
    fn the_code_carries_the_status_and_the_text_cannot_split_the_answer() {
        let resp = answer(StatusCode::SERVICE_UNAVAILABLE, "full & busy = sorry");
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            &resp.body()[..],
            b"mid=&Status=FAILED&Description=full   busy   sorry&Code=20000503"
        );
        assert_eq!(code(StatusCode::REQUEST_TIMEOUT), "20000408");
    }
}

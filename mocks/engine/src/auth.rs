//! HTTP Basic authentication (RFC 7617) for provider endpoints: reading the credentials of a
//! request, and the bare `401` a provider without an error format of its own answers.
//!
//! Every provider that logs its callers in with Basic credentials reads them here, so the
//! parsing rules are the same everywhere; what a provider answers to a wrong or missing login
//! (TYRIOS's bilingual error, PAYBACK's `PARTNER_NOT_AUTHORISED`) stays the provider's own.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// A user and password from an `Authorization: Basic …` header.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The part before the first `:`.
    pub user: String,
    /// Everything after the first `:` (a password may contain `:`).
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    // Passwords stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The Basic credentials of a request, if it carries readable ones.
///
/// The scheme name is matched without regard to case and surrounding blanks are ignored, as
/// clients differ there; anything else that is not `base64(user ":" password)` in UTF-8 counts
/// as no credentials at all.
pub fn basic_credentials(headers: &HeaderMap) -> Option<BasicCredentials> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(BasicCredentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// `401 Unauthorized` with an empty body and a `WWW-Authenticate: Basic` challenge for `realm`:
/// the answer for a provider that documents no error body for a refused login.
pub fn unauthorized(realm: &str) -> Response {
    let challenge = format!("Basic realm=\"{}\"", realm.replace(['"', '\\'], ""));
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        h
    }

    fn creds(user: &str, password: &str) -> Option<BasicCredentials> {
        Some(BasicCredentials {
            user: user.into(),
            password: password.into(),
        })
    }

    #[test]
    fn reads_user_and_password() {
        // RFC 7617 §2's example: "Aladdin:open sesame".
        assert_eq!(
            basic_credentials(&headers("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")),
            creds("Aladdin", "open sesame")
        );
        // The TYRIOS seed's demo login, scheme in another case, blanks around.
        assert_eq!(
            basic_credentials(&headers("  bAsIc ZGVtbzpkZW1v ")),
            creds("demo", "demo")
        );
        // "u:p:q": the password keeps its colon.
        assert_eq!(basic_credentials(&headers("Basic dTpwOnE=")), creds("u", "p:q"));
    }

    #[test]
    fn anything_else_is_no_credentials() {
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
        for bad in [
            "Bearer ZGVtbzpkZW1v",
            "Basic",
            "Basic not-base64!",
            // "demo" without a colon.
            "Basic ZGVtbw==",
            // 0xff 0x3a 0x61: not UTF-8.
            "Basic /zph",
        ] {
            assert_eq!(basic_credentials(&headers(bad)), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn unauthorized_is_401_with_a_challenge_and_no_body() {
        let response = unauthorized("possim \"x\"");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"possim x\"");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty());
    }
}

//! What a TYRIOS request asks for, named for the journal (`Provider::classify`): the conformance
//! judge tells the requests a till may repeat at will from those that book something by it.
//!
//! Every request that is not a GET (or HEAD) writes, except a transaction draft
//! (`?draft=true`), which simulates and persists nothing. Names follow the API's resources:
//! `user.search`, `user.create`, `user.email-in-use`, `user.lookup`, `user.transactions`,
//! `transactions.overview`, `transaction.show`, and `<kind>.draft` / `<kind>.final` for the five
//! transaction kinds (`pos.final`, `couponActivation.draft`, …); anything else is `unknown`.

use possim_engine::http::query_param;
use possim_engine::journal::{HttpRequestRecord, Operation};

use crate::handlers::PREFIXES;

/// The operation of a request to the TYRIOS mock.
pub fn classify(request: &HttpRequestRecord) -> Operation {
    let read_method = request.method.eq_ignore_ascii_case("GET") || request.method.eq_ignore_ascii_case("HEAD");
    let draft = query_param(request.query.as_deref(), "draft").as_deref() == Some("true");
    let rest = PREFIXES
        .iter()
        .find_map(|prefix| request.path.strip_prefix(prefix))
        .filter(|rest| rest.is_empty() || rest.starts_with('/'));
    let segments: Vec<&str> = rest
        .map(|rest| rest.split('/').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let name = match (read_method, segments.as_slice()) {
        _ if rest.is_none() => "unknown".to_owned(),
        (true, ["UserData"]) => "user.search".to_owned(),
        (false, ["UserData"]) => "user.create".to_owned(),
        (true, ["UserData", "eMail"]) => "user.email-in-use".to_owned(),
        (true, ["UserData", _]) => "user.lookup".to_owned(),
        (true, ["UserData", _, "BonusPointTransaction"]) => "user.transactions".to_owned(),
        (true, ["BonusPointTransaction"]) => "transactions.overview".to_owned(),
        (true, ["BonusPointTransaction", _]) => "transaction.show".to_owned(),
        (false, ["BonusPointTransaction", kind]) if draft => format!("{kind}.draft"),
        (false, ["BonusPointTransaction", kind]) => format!("{kind}.final"),
        _ => "unknown".to_owned(),
    };
    Operation {
        name,
        write: !read_method && !draft,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_engine::journal::RecordedBody;

    fn request(method: &str, target: &str) -> HttpRequestRecord {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (target, None),
        };
        HttpRequestRecord {
            method: method.into(),
            path: path.into(),
            query,
            headers: Vec::new(),
            body: RecordedBody::from_bytes(b""),
        }
    }

    fn op(method: &str, target: &str) -> (String, bool) {
        let operation = classify(&request(method, target));
        (operation.name, operation.write)
    }

    #[test]
    fn drafts_are_reads_and_finals_write() {
        let pos = "/BonusPointManagement/BonusPointTransaction/pos";
        assert_eq!(op("POST", &format!("{pos}?draft=true")), ("pos.draft".into(), false));
        assert_eq!(op("POST", pos), ("pos.final".into(), true));
        // `draft=false` is a final; the seed's only draft switch is `true`.
        assert_eq!(op("POST", &format!("{pos}?draft=false")), ("pos.final".into(), true));
        assert_eq!(
            op(
                "POST",
                "/service/BonusPointManagement/BonusPointTransaction/couponActivation?draft=true"
            ),
            ("couponActivation.draft".into(), false)
        );
    }

    #[test]
    fn both_roots_and_a_trailing_slash_name_the_same_operation() {
        for path in [
            "/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
            "/service/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
            "/service/BonusPointManagement/UserData/UQBUFDJALK4WXYC/",
        ] {
            assert_eq!(op("GET", path), ("user.lookup".into(), false), "{path}");
        }
        assert_eq!(
            op("GET", "/BonusPointManagement/UserData/"),
            ("user.search".into(), false)
        );
        assert_eq!(
            op("POST", "/BonusPointManagement/UserData/"),
            ("user.create".into(), true)
        );
    }

    #[test]
    fn reads_by_resource() {
        assert_eq!(
            op("GET", "/BonusPointManagement/UserData/eMail?eMail=a%40b.de"),
            ("user.email-in-use".into(), false)
        );
        assert_eq!(
            op("GET", "/BonusPointManagement/UserData/X/BonusPointTransaction"),
            ("user.transactions".into(), false)
        );
        assert_eq!(
            op("GET", "/BonusPointManagement/BonusPointTransaction"),
            ("transactions.overview".into(), false)
        );
        assert_eq!(
            op("GET", "/BonusPointManagement/BonusPointTransaction/1000"),
            ("transaction.show".into(), false)
        );
    }

    #[test]
    fn unknown_requests_write_unless_they_read() {
        assert_eq!(op("POST", "/elsewhere"), ("unknown".into(), true));
        assert_eq!(op("GET", "/BonusPointManagementX/UserData"), ("unknown".into(), false));
        assert_eq!(
            op("DELETE", "/BonusPointManagement/UserData/X"),
            ("unknown".into(), true)
        );
    }
}

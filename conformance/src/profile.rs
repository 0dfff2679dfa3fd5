//! What the runner and the recorder know about each provider's wire conventions: which paths are
//! the same endpoint, which requests change state, and which recorded values are volatile.
//!
//! Kept in one place so a new provider is one `match` arm here, not special cases in the judge.

use serde_json::{Map, Value};

/// The path as the judge compares it. TYRIOS serves every endpoint under `/service/...` and
/// without it, with or without a trailing slash (both spellings appear in the seed), so a till
/// may use either.
pub fn normalize_path(provider: &str, path: &str) -> String {
    match provider {
        "tyrios" => {
            let path = path.strip_prefix("/service").unwrap_or(path);
            let trimmed = path.trim_end_matches('/');
            if trimmed.is_empty() {
                "/".to_owned()
            } else {
                trimmed.to_owned()
            }
        }
        _ => path.to_owned(),
    }
}

/// Whether a request may change provider state. Reads may be repeated by a till at will; writes
/// may not. A TYRIOS draft (`?draft=true`) simulates and persists nothing, so it is a read.
pub fn is_write(provider: &str, method: &str, query: &[(String, String)]) -> bool {
    let read_method = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
    if read_method {
        return false;
    }
    match provider {
        "tyrios" => !query.iter().any(|(k, v)| k == "draft" && v == "true"),
        _ => true,
    }
}

/// Generalises a recorded request body into what any correct till must send: fields with a
/// documented default become `{"$absentOr": default}`, and an echoed search result is reduced to
/// the `id` the provider actually uses.
pub fn generalize_request_body(provider: &str, body: Value) -> Value {
    let Value::Object(mut map) = body else { return body };
    if provider == "tyrios" {
        // The seed: enablePointRedemption defaults to true, so a till may leave it out.
        if map.get("enablePointRedemption") == Some(&Value::Bool(true)) {
            map.insert("enablePointRedemption".into(), absent_or(Value::Bool(true)));
        }
        let mode = map.get("userMode").and_then(Value::as_str).map(str::to_owned);
        if mode.as_deref() == Some("SEARCH")
            && let Some(Value::Object(user)) = map.get("UserData")
            && let Some(id) = user.get("id").cloned()
        {
            map.insert(
                "UserData".into(),
                Value::Object(Map::from_iter([("id".to_owned(), id)])),
            );
        }
        // `redeemedPoints` in a final request pins the draft's figure; without it the provider
        // redeems as much as possible. Both are correct, so the recording accepts both.
        if let Some(points) = map.get("redeemedPoints").cloned()
            && points.as_u64().is_some_and(|p| p > 0)
        {
            map.insert("redeemedPoints".into(), absent_or(points));
        }
    }
    Value::Object(map)
}

/// The answer fields that define a TYRIOS flow: the figures of a transaction, the identity and
/// balance of a user, the error. Everything else is the mock's business and pinned by its own
/// tests, not by every golden flow.
const TYRIOS_FIGURES: &[&str] = &[
    "id",
    "transactionType",
    "totalAmount",
    "startPoints",
    "couponPoints",
    "redeemedPoints",
    "remainingAmount",
    "obtainedPoints",
    "resultingPoints",
    "currentBonusPoints",
    "uniqueUserHashPart",
    "emailInUse",
    "total",
    "error",
    "message",
];

/// Keeps what a golden flow should pin of a recorded answer: the provider's defining figures
/// (all top-level scalars for providers without a list), with volatile ones replaced by
/// matchers. Nested objects and lists are left to the state checks so flows stay readable.
pub fn summarize_response_body(provider: &str, body: Value) -> Option<Value> {
    match body {
        Value::Object(map) => {
            let mut kept = Map::new();
            for (key, value) in map {
                let wanted = match provider {
                    "tyrios" => TYRIOS_FIGURES.contains(&key.as_str()),
                    _ => true,
                };
                match &value {
                    // Nulls are noise in a review; containers belong to state checks.
                    Value::Object(_) | Value::Array(_) | Value::Null => continue,
                    Value::String(s) if s == "$null" => continue,
                    _ if !wanted => continue,
                    _ => {}
                }
                kept.insert(key, value);
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(_) => Some(Value::String("$array".into())),
        _ => None,
    }
}

fn absent_or(value: Value) -> Value {
    Value::Object(Map::from_iter([("$absentOr".to_owned(), value)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tyrios_paths_with_and_without_service_root_are_one_endpoint() {
        assert_eq!(
            normalize_path("tyrios", "/service/BonusPointManagement/UserData/"),
            normalize_path("tyrios", "/BonusPointManagement/UserData")
        );
    }

    #[test]
    fn drafts_are_reads() {
        let draft = vec![("draft".to_owned(), "true".to_owned())];
        assert!(!is_write("tyrios", "POST", &draft));
        assert!(is_write("tyrios", "POST", &[]));
        assert!(!is_write("tyrios", "GET", &[]));
    }

    #[test]
    fn request_generalisation() {
        let body = json!({"UserData": {"id": 241, "preName": "Max"}, "userMode": "SEARCH",
            "enablePointRedemption": true, "redeemedPoints": 50, "totalAmount": 33});
        assert_eq!(
            generalize_request_body("tyrios", body),
            json!({"UserData": {"id": 241}, "userMode": "SEARCH",
                "enablePointRedemption": {"$absentOr": true}, "redeemedPoints": {"$absentOr": 50}, "totalAmount": 33})
        );
    }

    #[test]
    fn response_summary_keeps_scalars() {
        let body = json!({"UserData": {"id": 1}, "id": 1000, "transactionTime": 1, "remainingAmount": 30.87,
            "couponPoints": null});
        assert_eq!(
            summarize_response_body("tyrios", body),
            Some(json!({"id": 1000, "remainingAmount": 30.87}))
        );
    }
}

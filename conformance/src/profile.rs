//! What the runner and the recorder still know about each provider's wire conventions: which
//! paths are the same endpoint, and how a recording is generalised (which request fields have
//! documented defaults, which answer fields are volatile or define a flow).
//!
//! Which requests change state is not here: every provider names the operation of each request
//! it answers, and the journal entry carries it (`operation.write`, see `Observed::is_write`).
//! Kept in one place so a new provider's recording conventions are one `match` arm here, not
//! special cases in the judge.

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
        // IIS serves the Paygate's pages case-insensitively; the documented spelling stands for all.
        "computop" => {
            let name = path.trim_start_matches('/');
            ["PaybackPay.aspx", "credit.aspx", "inquire.aspx"]
                .iter()
                .find(|page| page.eq_ignore_ascii_case(name))
                .map_or_else(|| path.to_owned(), |page| format!("/{page}"))
        }
        // One URL per till, with or without the trailing slash (spec loymax-tyrios.md 1.2).
        "loymax" => {
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

/// Whether a provider takes every command at one URL, so a recorded step names the operation
/// the provider classified the request as (`operation`) instead of relying on method and path.
pub fn operation_names_request(provider: &str) -> bool {
    provider == "loymax"
}

/// Loymax request attributes a till generates per run: any string will do. `ElementID` is `1`
/// for a single request (both observed sources) and `DeviceLogicalID` is optional (the 2018 log
/// has none), so both may be left out.
fn loymax_request(value: Value, device: Option<&str>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| !key.starts_with("@xmlns"))
                .map(|(key, value)| {
                    let value = match key.as_str() {
                        "@OperationID" | "@PurchaseID" | "@RefundPurchaseID" | "@CanceledOperationID" => {
                            Value::String("$string".into())
                        }
                        // Sent by both observed tills, but nothing says the processing needs them.
                        "@OperationDate" | "@ChequeDate" | "@ChequeNumber" | "@Cashier" | "@Name" => {
                            absent_or(Value::String("$string".into()))
                        }
                        // Money and quantities: `3999`, `2398.5` and `200.00` are one value (spec 1.3).
                        "@Price" | "@Amount" | "@Quantity" | "@MinPrice" | "@LocalDiscount" => decimal_matcher(value),
                        // Only `Auto` is observed; the explicit kinds are inferred (spec 1.4).
                        "@Type" if value.as_str().is_some_and(|t| t != "Auto" && !t.starts_with('$')) => {
                            Value::Object(Map::from_iter([(
                                "$oneOf".to_owned(),
                                Value::Array(vec![Value::String("Auto".into()), value]),
                            )]))
                        }
                        "@ElementID" => absent_or(value),
                        "@DeviceLogicalID" => absent_or(device.map_or(value, |d| Value::String(d.to_owned()))),
                        "PaymentRequest" | "DiscountRequest" => {
                            loymax_optional_children(&key, loymax_request(value, device))
                        }
                        _ => loymax_request(value, device),
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| loymax_request(v, device)).collect()),
        other => other,
    }
}

/// The children of a Payment or Discount a till may leave out because the Calculate already
/// told them (spec 1.6/1.7): the card, the coupons and, on a Payment, the cheque. How the rest is
/// paid (`Pays`) is the till's business.
fn loymax_optional_children(request: &str, value: Value) -> Value {
    let Value::Object(map) = value else { return value };
    Value::Object(
        map.into_iter()
            .map(|(key, value)| {
                let value = match (request, key.as_str()) {
                    (_, "Pays") => Value::String("$ignore".into()),
                    (_, "Identifier" | "Card" | "Coupons") | ("PaymentRequest", "Cheque") => absent_or(value),
                    _ => value,
                };
                (key, value)
            })
            .collect(),
    )
}

/// A decimal text as a matcher for every spelling of the same value: `60.00` also matches `60`
/// and `60.0`; `0.355` only itself (trailing zeros of the fraction may go, nothing else).
fn decimal_matcher(value: Value) -> Value {
    let Some(text) = value.as_str() else { return value };
    let Some((whole, fraction)) = text.split_once('.') else {
        if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
            return Value::String(format!("$regex:^{text}(\\.0*)?$"));
        }
        return value;
    };
    if whole.is_empty() || !(whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit()) {
        return value;
    }
    let kept = fraction.trim_end_matches('0');
    let pattern = if kept.is_empty() {
        format!("$regex:^{whole}(\\.0*)?$")
    } else {
        format!("$regex:^{whole}\\.{kept}0*$")
    };
    Value::String(pattern)
}

/// What defines a Loymax answer: the envelope's and each singular answer's attributes (figures,
/// `ErrorCode`) and the messages for cashier and receipt; ids the processing generates become
/// `$string`. Lines, offers and identifier data are left to the result and state checks.
fn loymax_response(map: Map<String, Value>, depth: usize) -> Map<String, Value> {
    map.into_iter()
        .filter_map(|(key, value)| {
            let value = match (key.as_str(), value) {
                ("@OperationID" | "@TransactionID" | "@AuthCode", Value::String(_)) => Value::String("$string".into()),
                // Echoed only when the till sent them / in the 2024 envelope (spec 1.3).
                ("@DeviceLogicalID" | "@ElementID", v) => absent_or(v),
                ("Version", v) if depth == 1 => absent_or(v),
                (k, v @ Value::String(_)) if k.starts_with('@') || depth <= 1 => v,
                ("ChequeMessage" | "CashierMessage" | "ErrorMessage", v) => v,
                // XMLResponse → wrapper → singular answer: keep descending.
                (_, Value::Object(inner)) if depth < 3 => Value::Object(loymax_response(inner, depth + 1)),
                _ => return None,
            };
            Some((key, value))
        })
        .collect()
}

/// The Computop fields a golden flow pins (decrypted requests, answers and notifies), and how:
/// `None` keeps the recorded value, `Some(matcher)` replaces a value generated per run (ids, the
/// shop's TransID and ReqID, MACs). Everything else (time stamps, the app's redirect URL, the
/// shop's article list and callback URLs) is left free.
const COMPUTOP_FIELDS: &[(&str, Option<&str>)] = &[
    ("MerchantID", None),
    ("mid", None),
    ("PayID", Some("$regex:^[0-9a-fA-F]{32}$")),
    ("XID", Some("$regex:^[0-9a-fA-F]{31,32}$")),
    ("TransID", Some("$string")),
    ("ReqID", Some("$string")),
    ("MAC", Some("$regex:^[0-9a-fA-F]{64}$")),
    ("Amount", None),
    ("Currency", None),
    ("AccountID", None),
    ("Status", None),
    ("Code", None),
    ("pointsredeemed", None),
    ("payamount", None),
    ("paymentmethod", None),
];

fn computop_figures(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter_map(|(key, value)| {
            let (_, replace) = COMPUTOP_FIELDS.iter().find(|(name, _)| *name == key)?;
            let value = match (replace, &value) {
                (Some(_), Value::String(s)) if s.is_empty() => value,
                (Some(m), _) => Value::String((*m).to_owned()),
                (None, _) => value,
            };
            Some((key, value))
        })
        .collect()
}

/// Generalises a recorded request body into what any correct till must send: fields with a
/// documented default become `{"$absentOr": default}`, and an echoed search result is reduced to
/// the `id` the provider actually uses.
pub fn generalize_request_body(provider: &str, body: Value) -> Value {
    let Value::Object(mut map) = body else { return body };
    match provider {
        "tyrios" => {
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
            // `redeemedPoints` in a final request pins the draft's figure; without it the
            // provider redeems as much as possible. Both are correct, so the recording accepts both.
            if let Some(points) = map.get("redeemedPoints").cloned()
                && points.as_u64().is_some_and(|p| p > 0)
            {
                map.insert("redeemedPoints".into(), absent_or(points));
            }
        }
        "payback" => {
            // Generated by the till (transactionId) or by PAYBACK (pinToken): any string will do.
            for key in ["transactionId", "pinToken"] {
                if map.get(key).is_some_and(Value::is_string) {
                    map.insert(key.into(), Value::String("$string".into()));
                }
            }
        }
        "computop" => return Value::Object(computop_figures(map)),
        "loymax" => return loymax_request(Value::Object(map), None),
        _ => {}
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
    let body = match (provider, body) {
        ("computop", Value::Object(map)) => Value::Object(computop_figures(map)),
        ("loymax", Value::Object(map)) => return Some(Value::Object(loymax_response(map, 0))),
        (_, body) => body,
    };
    match body {
        Value::Object(map) => {
            let mut kept = Map::new();
            for (key, value) in map {
                let wanted = match provider {
                    "tyrios" => TYRIOS_FIGURES.contains(&key.as_str()),
                    _ => true,
                };
                // Generated by PAYBACK per call: a till that authenticates once more shifts them.
                let value = match (provider, key.as_str()) {
                    ("payback", "pinToken" | "expiresAt" | "purchaseId" | "redemptionId" | "reversalId") => {
                        Value::String("$string".into())
                    }
                    _ => value,
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
    fn loymax_decimals_match_every_spelling_of_their_value() {
        let m = |text: &str| decimal_matcher(json!(text));
        assert_eq!(m("60.00"), json!("$regex:^60(\\.0*)?$"));
        assert_eq!(m("59.90"), json!("$regex:^59\\.90*$"));
        assert_eq!(m("0.355"), json!("$regex:^0\\.3550*$"));
        assert_eq!(m("2"), json!("$regex:^2(\\.0*)?$"));
        assert_eq!(m("$string"), json!("$string"));
        for (pattern, text, expected) in [
            ("60.00", "60", true),
            ("60.00", "60.0", true),
            ("60.00", "60.01", false),
            ("59.90", "59.9", true),
            ("2.000", "2", true),
            ("2.000", "20", false),
        ] {
            let matcher = m(pattern);
            assert_eq!(
                crate::matcher::matches(&matcher, Some(&json!(text))),
                expected,
                "{pattern} vs {text}"
            );
        }
    }

    #[test]
    fn tyrios_paths_with_and_without_service_root_are_one_endpoint() {
        assert_eq!(
            normalize_path("tyrios", "/service/BonusPointManagement/UserData/"),
            normalize_path("tyrios", "/BonusPointManagement/UserData")
        );
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

//! Matchers: how a golden flow says what a value must be, and the comparison that turns a
//! mismatch into a precise [`Diff`] (path, expected, got).
//!
//! An expected value is plain JSON (compared exactly; numbers numerically, so `33` equals `33.0`
//! but never the string `"33"`), or a matcher for what may vary:
//!
//! | matcher | accepts |
//! |---|---|
//! | `"$any"` | any value, `null` included, but not an absent field |
//! | `"$ignore"` | anything, also absence |
//! | `"$absent"` | the field is missing |
//! | `"$null"` | JSON `null` (TOML has no null) |
//! | `"$string"`, `"$number"`, `"$integer"`, `"$bool"`, `"$object"`, `"$array"` | any value of that type |
//! | `"$timestamp"` | a non-negative integer (epoch milliseconds) |
//! | `"$regex:<pattern>"` | a string the pattern matches (unanchored unless it says `^…$`) |
//! | `{"$absentOr" = <expected>}` | absent, or matching `<expected>` (an optional field with a default) |
//! | `{"$oneOf" = [<expected>, …]}` | matching any of the alternatives |
//! | `"$$text"` | the literal string `$text` |
//!
//! Objects match when every key of the expected object matches (extra keys in the actual value
//! are allowed; say `"$absent"` to forbid one). Arrays match element by element and in length.

use regex::Regex;
use serde_json::Value;

use possim_reports::Diff;

/// A problem in a golden flow's matcher, found when the scenario is loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct MatcherError {
    /// Where in the scenario.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

enum Special<'a> {
    Any,
    Ignore,
    Absent,
    Null,
    Type(&'static str),
    Timestamp,
    Regex(&'a str),
    Literal(&'a str),
}

fn special(text: &str) -> Option<Result<Special<'_>, String>> {
    let rest = text.strip_prefix('$')?;
    if let Some(literal) = rest.strip_prefix('$') {
        return Some(Ok(Special::Literal(literal)));
    }
    if let Some(pattern) = rest.strip_prefix("regex:") {
        return Some(Ok(Special::Regex(pattern)));
    }
    Some(match rest {
        "any" => Ok(Special::Any),
        "ignore" => Ok(Special::Ignore),
        "absent" => Ok(Special::Absent),
        "null" => Ok(Special::Null),
        "string" => Ok(Special::Type("string")),
        "number" => Ok(Special::Type("number")),
        "integer" => Ok(Special::Type("integer")),
        "bool" => Ok(Special::Type("bool")),
        "object" => Ok(Special::Type("object")),
        "array" => Ok(Special::Type("array")),
        "timestamp" => Ok(Special::Timestamp),
        other => Err(format!(
            "unknown matcher \"${other}\" (known: $any $ignore $absent $null $string $number $integer $bool $object $array $timestamp $regex:… $$literal)"
        )),
    })
}

/// The single `$` key of an object-form matcher, if `value` is one.
fn object_matcher(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (key, inner) = map.iter().next()?;
    key.starts_with('$').then_some((key.as_str(), inner))
}

/// Checks every matcher inside `expected` (unknown names, invalid regexes) so a broken golden
/// flow is reported when it is loaded, not as a confusing failure of the POS.
pub fn validate(expected: &Value, path: &str) -> Result<(), MatcherError> {
    let fail = |message: String| MatcherError {
        path: path.to_owned(),
        message,
    };
    match expected {
        Value::String(text) => match special(text) {
            Some(Err(message)) => Err(fail(message)),
            Some(Ok(Special::Regex(pattern))) => Regex::new(pattern)
                .map(drop)
                .map_err(|e| fail(format!("invalid regex: {e}"))),
            _ => Ok(()),
        },
        Value::Object(map) => {
            if let Some((key, inner)) = object_matcher(expected) {
                return match key {
                    "$absentOr" => validate(inner, path),
                    "$oneOf" => match inner {
                        Value::Array(options) if !options.is_empty() => {
                            for (i, option) in options.iter().enumerate() {
                                validate(option, &format!("{path}.$oneOf[{i}]"))?;
                            }
                            Ok(())
                        }
                        _ => Err(fail("$oneOf needs a non-empty array of alternatives".into())),
                    },
                    other => Err(fail(format!(
                        "unknown matcher key {other:?} (known: $absentOr, $oneOf)"
                    ))),
                };
            }
            for (key, value) in map {
                validate(value, &join(path, key))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                validate(item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `a.b`, or `b` when `a` is empty.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A value as a diff shows it: JSON text, or `absent`.
pub fn show(value: Option<&Value>) -> String {
    match value {
        None => "absent".to_owned(),
        Some(v) => {
            let text = v.to_string();
            if text.len() > 300 {
                let cut: String = text.chars().take(300).collect();
                format!("{cut}…")
            } else {
                text
            }
        }
    }
}

/// What an expected value means, in a diff.
fn describe(expected: &Value) -> String {
    if let Value::String(text) = expected
        && let Some(Ok(special)) = special(text)
    {
        return match special {
            Special::Any => "any value".into(),
            Special::Ignore => "anything".into(),
            Special::Absent => "absent".into(),
            Special::Null => "null".into(),
            Special::Type(t) => format!("any {t}"),
            Special::Timestamp => "a timestamp (integer ≥ 0)".into(),
            Special::Regex(p) => format!("a string matching /{p}/"),
            Special::Literal(l) => Value::String(format!("${l}")).to_string(),
        };
    }
    if let Some((key, inner)) = object_matcher(expected) {
        return match key {
            "$absentOr" => format!("absent or {}", describe(inner)),
            "$oneOf" => {
                let options: Vec<String> = inner.as_array().into_iter().flatten().map(describe).collect();
                format!("one of {}", options.join(" | "))
            }
            _ => expected.to_string(),
        };
    }
    show(Some(expected))
}

/// Whether `got` satisfies `expected`, without collecting differences.
pub fn matches(expected: &Value, got: Option<&Value>) -> bool {
    let mut diffs = Vec::new();
    compare(expected, got, "", "", &mut diffs);
    diffs.is_empty()
}

/// Compares `got` with `expected` and appends one [`Diff`] per mismatch, naming `step` and the
/// path below `path`. Containers are compared field by field so a diff points at the one field
/// that differs, not at the whole body.
pub fn compare(expected: &Value, got: Option<&Value>, step: &str, path: &str, diffs: &mut Vec<Diff>) {
    let mut differ = |expected_text: String| {
        diffs.push(Diff {
            step: step.to_owned(),
            path: if path.is_empty() {
                "(value)".to_owned()
            } else {
                path.to_owned()
            },
            expected: expected_text,
            got: show(got),
        });
    };
    if let Value::String(text) = expected
        && let Some(parsed) = special(text)
    {
        let ok = match parsed {
            // An unknown matcher was refused by `validate`; treat it as never matching here.
            Err(_) => false,
            Ok(Special::Any) => got.is_some(),
            Ok(Special::Ignore) => true,
            Ok(Special::Absent) => got.is_none(),
            Ok(Special::Null) => got == Some(&Value::Null),
            Ok(Special::Type(kind)) => got.is_some_and(|g| type_is(g, kind)),
            Ok(Special::Timestamp) => got.and_then(Value::as_u64).is_some(),
            Ok(Special::Regex(pattern)) => match (Regex::new(pattern), got.and_then(Value::as_str)) {
                (Ok(re), Some(s)) => re.is_match(s),
                _ => false,
            },
            Ok(Special::Literal(literal)) => got.and_then(Value::as_str) == Some(&format!("${literal}")),
        };
        if !ok {
            differ(describe(expected));
        }
        return;
    }
    if let Some((key, inner)) = object_matcher(expected) {
        match key {
            "$absentOr" => {
                if got.is_some() {
                    compare(inner, got, step, path, diffs);
                }
            }
            "$oneOf" => {
                let any = inner
                    .as_array()
                    .is_some_and(|options| options.iter().any(|option| matches(option, got)));
                if !any {
                    differ(describe(expected));
                }
            }
            _ => differ(describe(expected)),
        }
        return;
    }
    let Some(got_value) = got else {
        differ(describe(expected));
        return;
    };
    match (expected, got_value) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                compare(value, have.get(key), step, &join(path, key), diffs);
            }
        }
        (Value::Array(want), Value::Array(have)) => {
            if want.len() != have.len() {
                differ(format!("{} element(s): {}", want.len(), describe(expected)));
                return;
            }
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                compare(w, Some(h), step, &format!("{path}[{i}]"), diffs);
            }
        }
        (Value::Number(want), Value::Number(have)) => {
            let equal = match (want.as_i64(), have.as_i64()) {
                (Some(a), Some(b)) => a == b,
                _ => want
                    .as_f64()
                    .zip(have.as_f64())
                    .is_some_and(|(a, b)| (a - b).abs() <= 1e-9 * a.abs().max(1.0)),
            };
            if !equal {
                differ(describe(expected));
            }
        }
        (want, have) => {
            if want != have {
                differ(describe(expected));
            }
        }
    }
}

fn type_is(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "bool" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diffs(expected: Value, got: Value) -> Vec<Diff> {
        let mut out = Vec::new();
        compare(&expected, Some(&got), "step", "body", &mut out);
        out
    }

    #[test]
    fn numbers_compare_numerically_but_never_equal_strings() {
        assert!(diffs(json!(33), json!(33.0)).is_empty());
        let d = diffs(json!({"totalAmount": 33}), json!({"totalAmount": "33"}));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "body.totalAmount");
        assert_eq!(d[0].expected, "33");
        assert_eq!(d[0].got, "\"33\"");
    }

    #[test]
    fn objects_allow_extra_keys_unless_absent_is_demanded() {
        assert!(diffs(json!({"a": 1}), json!({"a": 1, "b": 2})).is_empty());
        let d = diffs(json!({"a": 1, "b": "$absent"}), json!({"a": 1, "b": 2}));
        assert_eq!(
            (d[0].path.as_str(), d[0].expected.as_str(), d[0].got.as_str()),
            ("body.b", "absent", "2")
        );
    }

    #[test]
    fn missing_field_is_reported_as_absent() {
        let d = diffs(json!({"userMode": "HASH"}), json!({}));
        assert_eq!((d[0].expected.as_str(), d[0].got.as_str()), ("\"HASH\"", "absent"));
    }

    #[test]
    fn type_and_regex_matchers() {
        assert!(
            diffs(
                json!({"id": "$integer", "t": "$timestamp", "h": "$regex:^[A-Z0-9]{15}$"}),
                json!({"id": 7, "t": 1572351844000u64, "h": "UQBUFDJALK4WXYC"})
            )
            .is_empty()
        );
        let d = diffs(json!({"id": "$integer"}), json!({"id": 7.5}));
        assert_eq!(d[0].expected, "any integer");
        let d = diffs(json!({"h": "$regex:^[A-Z]+$"}), json!({"h": "abc"}));
        assert_eq!(d[0].expected, "a string matching /^[A-Z]+$/");
    }

    #[test]
    fn any_rejects_absence_ignore_accepts_it() {
        let mut out = Vec::new();
        compare(&json!("$any"), None, "s", "x", &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        compare(&json!("$ignore"), None, "s", "x", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn absent_or_and_one_of() {
        let m = json!({"enablePointRedemption": {"$absentOr": true}});
        assert!(diffs(m.clone(), json!({})).is_empty());
        assert!(diffs(m.clone(), json!({"enablePointRedemption": true})).is_empty());
        assert_eq!(diffs(m, json!({"enablePointRedemption": false})).len(), 1);
        let m = json!({"status": {"$oneOf": ["refused", "error"]}});
        assert!(diffs(m.clone(), json!({"status": "error"})).is_empty());
        let d = diffs(m, json!({"status": "completed"}));
        assert_eq!(d[0].expected, "one of \"refused\" | \"error\"");
    }

    #[test]
    fn arrays_compare_length_then_elements() {
        assert_eq!(diffs(json!([1, 2]), json!([1])).len(), 1);
        let d = diffs(json!([{"c": "A"}, {"c": "B"}]), json!([{"c": "A"}, {"c": "X"}]));
        assert_eq!(d[0].path, "body[1].c");
    }

    #[test]
    fn literal_dollar_strings() {
        assert!(diffs(json!("$$any"), json!("$any")).is_empty());
        assert_eq!(diffs(json!("$$any"), json!("x")).len(), 1);
    }

    #[test]
    fn validation_names_the_broken_matcher() {
        let err = validate(&json!({"a": {"b": "$anything"}}), "request.body").unwrap_err();
        assert_eq!(err.path, "request.body.a.b");
        assert!(err.message.contains("unknown matcher \"$anything\""));
        assert!(validate(&json!("$regex:("), "x").is_err());
        assert!(validate(&json!({"$oneOf": []}), "x").is_err());
        assert!(validate(&json!({"$regex": "x"}), "x").is_err());
        assert!(validate(&json!({"a": [1, "$string", {"$absentOr": "$integer"}]}), "x").is_ok());
    }
}

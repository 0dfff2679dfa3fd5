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
                    .is_some_and(|(a, b)| same_decimal(a, b)),
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

/// Whether two floats are the same decimal reached by different float arithmetic: they may
/// differ by the rounding a sum of a few hundred terms collects (256 units in the last place),
/// never by a cent, also on amounts in the billions (a relative tolerance such as 1e-9 would
/// call 10,000,000.00 and 10,000,000.01 equal).
fn same_decimal(a: f64, b: f64) -> bool {
    const NOISE: f64 = 256.0 * f64::EPSILON;
    (a - b).abs() <= (NOISE * a.abs().max(b.abs())).max(1e-12)
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

    // The matcher table of scenarios/README.md, row by row: what each matcher accepts and what it
    // refuses (absent is `None`), so a matcher that says yes too often fails as surely as one that
    // says no. `matches` and `compare` must agree on every case.

    /// `Some(diff)` for a mismatch (at path `x`, step `s`), `None` for a match.
    fn judged(expected: &Value, got: Option<Value>) -> Option<Diff> {
        let mut out = Vec::new();
        compare(expected, got.as_ref(), "s", "x", &mut out);
        assert_eq!(
            matches(expected, got.as_ref()),
            out.is_empty(),
            "{expected} against {got:?}"
        );
        assert!(out.len() <= 1, "a scalar is at most one difference: {out:?}");
        out.pop()
    }

    fn accepts(expected: Value, got: Option<Value>) -> bool {
        judged(&expected, got).is_none()
    }

    #[test]
    fn any_ignore_absent_and_null() {
        assert!(accepts(json!("$any"), Some(json!(null))));
        assert!(accepts(json!("$any"), Some(json!({"a": 1}))));
        assert!(!accepts(json!("$any"), None));
        assert!(accepts(json!("$ignore"), None));
        assert!(accepts(json!("$ignore"), Some(json!(null))));
        assert!(accepts(json!("$ignore"), Some(json!("x"))));
        assert!(accepts(json!("$absent"), None));
        assert!(!accepts(json!("$absent"), Some(json!(null))), "null is not absence");
        assert!(!accepts(json!("$absent"), Some(json!(0))));
        assert!(accepts(json!("$null"), Some(json!(null))));
        assert!(!accepts(json!("$null"), None), "absence is not null");
        assert!(!accepts(json!("$null"), Some(json!(0))));
        assert!(!accepts(json!("$null"), Some(json!("null"))));
    }

    #[test]
    fn each_type_matcher_accepts_its_type_only() {
        let samples = [
            json!("7"),
            json!(7),
            json!(-7),
            json!(u64::MAX),
            json!(7.5),
            json!(true),
            json!({"a": 1}),
            json!([1]),
            json!(null),
        ];
        // Which samples each type matcher accepts, by index into `samples`.
        let accepted: [(&str, &[usize]); 6] = [
            ("$string", &[0]),
            ("$number", &[1, 2, 3, 4]),
            ("$integer", &[1, 2, 3]),
            ("$bool", &[5]),
            ("$object", &[6]),
            ("$array", &[7]),
        ];
        for (matcher, which) in accepted {
            for (i, sample) in samples.iter().enumerate() {
                assert_eq!(
                    accepts(json!(matcher), Some(sample.clone())),
                    which.contains(&i),
                    "{matcher} against {sample}"
                );
            }
            assert!(!accepts(json!(matcher), None), "{matcher} against absent");
        }
    }

    #[test]
    fn timestamps_are_non_negative_integers() {
        assert!(accepts(json!("$timestamp"), Some(json!(0))));
        assert!(accepts(json!("$timestamp"), Some(json!(1_572_351_844_000u64))));
        assert!(!accepts(json!("$timestamp"), Some(json!(-1))));
        assert!(!accepts(json!("$timestamp"), Some(json!(1.5))));
        assert!(!accepts(json!("$timestamp"), Some(json!("1572351844000"))));
        assert!(!accepts(json!("$timestamp"), None));
    }

    #[test]
    fn regexes_find_unless_anchored_and_want_a_string() {
        assert!(accepts(json!("$regex:ABC"), Some(json!("xxABCxx"))));
        assert!(!accepts(json!("$regex:^ABC$"), Some(json!("xxABCxx"))));
        assert!(accepts(json!("$regex:^ABC$"), Some(json!("ABC"))));
        assert!(
            !accepts(json!("$regex:^[0-9]+$"), Some(json!(123))),
            "a number is not a string"
        );
        assert!(!accepts(json!("$regex:"), None));
        // A pattern `validate` refuses never matches.
        assert!(!accepts(json!("$regex:("), Some(json!("("))));
    }

    #[test]
    fn double_dollar_is_the_literal_string() {
        assert!(accepts(json!("$$any"), Some(json!("$any"))));
        assert!(!accepts(json!("$$any"), Some(json!("$$any"))));
        assert!(!accepts(json!("$$any"), Some(json!(5))));
        assert!(!accepts(json!("$$any"), None));
        assert!(accepts(json!("$$"), Some(json!("$"))));
    }

    #[test]
    fn an_unknown_matcher_never_matches() {
        assert!(!accepts(json!("$anything"), Some(json!("$anything"))));
        assert!(!accepts(json!({"$regex": "x"}), Some(json!({"$regex": "x"}))));
        assert!(!accepts(json!({"$regex": "x"}), None));
    }

    #[test]
    fn absent_or_and_one_of_on_every_side() {
        let optional = json!({"$absentOr": 5});
        assert!(accepts(optional.clone(), None));
        assert!(accepts(optional.clone(), Some(json!(5.0))));
        assert!(!accepts(optional.clone(), Some(json!(6))));
        assert!(!accepts(optional, Some(json!(null))), "null is present");
        let either = json!({"$oneOf": [1, "$string"]});
        assert!(accepts(either.clone(), Some(json!(1))));
        assert!(accepts(either.clone(), Some(json!("x"))));
        assert!(!accepts(either.clone(), Some(json!(2))));
        assert!(!accepts(either, None));
        assert!(accepts(json!({"$oneOf": [1, "$absent"]}), None));
        // Two keys are a plain object, not a matcher.
        let plain = json!({"$absentOr": 1, "b": 2});
        assert!(accepts(plain.clone(), Some(plain.clone())));
        assert!(!accepts(plain, None));
        // Neither is a one-key object whose key has no `$`.
        assert!(accepts(json!({"a": 1}), Some(json!({"a": 1}))));
        assert!(!accepts(json!({"a": 1}), Some(json!({"a": 2}))));
    }

    #[test]
    fn plain_values_compare_exactly() {
        assert!(accepts(json!(null), Some(json!(null))));
        assert!(!accepts(json!(null), None));
        assert!(!accepts(json!(null), Some(json!(false))));
        assert!(accepts(json!(true), Some(json!(true))));
        assert!(!accepts(json!(true), Some(json!(false))));
        assert!(!accepts(json!("HASH"), Some(json!("hash"))));
        assert!(!accepts(json!("33"), Some(json!(33))));
        assert!(!accepts(json!(33), Some(json!("33"))));
        assert!(!accepts(json!(33), None));
        assert!(accepts(json!({}), Some(json!({"any": "object"}))));
        assert!(!accepts(json!({}), Some(json!([]))));
        assert!(!accepts(json!([]), Some(json!({}))));
        assert!(!accepts(json!({"a": 1}), Some(json!("{\"a\":1}"))));
    }

    #[test]
    fn numbers_compare_by_value_within_float_noise() {
        assert!(accepts(json!(33), Some(json!(33))));
        assert!(!accepts(json!(33), Some(json!(34))));
        assert!(!accepts(json!(-33), Some(json!(33))));
        assert!(accepts(json!(i64::MIN), Some(json!(i64::MIN))));
        assert!(accepts(json!(33.0), Some(json!(33))));
        assert!(accepts(json!(30.87), Some(json!(30.87))));
        // A cent, or a millionth, is a different amount.
        assert!(!accepts(json!(30.87), Some(json!(30.88))));
        assert!(!accepts(json!(30.87), Some(json!(30.870_001))));
        assert!(!accepts(json!(0.5), Some(json!(-0.5))));
        // The same decimal reached by another float computation is the same number: 0.1 + 0.2
        // is 0.30000000000000004, and at 1.2 million a float is only good to ~2e-10.
        assert!(accepts(json!(0.3), Some(json!(0.1 + 0.2))));
        let amount = 1_234_567.89_f64;
        assert!(accepts(
            json!(amount),
            Some(json!(amount + 2.0 * f64::EPSILON * amount))
        ));
        assert!(accepts(
            json!(-amount),
            Some(json!(-amount - 2.0 * f64::EPSILON * amount))
        ));
        assert!(!accepts(json!(amount), Some(json!(amount + 0.01))));
        // A cent is a cent at ten million and at a billion too.
        assert!(!accepts(json!(10_000_000.00), Some(json!(10_000_000.01))));
        assert!(!accepts(json!(1_000_000_000.01), Some(json!(1_000_000_000.00))));
        // A till that sums a hundred lines of 0.10 in floats sends 9.99999999999998.
        let summed: f64 = std::iter::repeat_n(0.1_f64, 100).sum();
        assert_ne!(summed, 10.0);
        assert!(accepts(json!(10.0), Some(json!(summed))));
        // Near zero the noise floor is absolute.
        assert!(accepts(json!(0.0), Some(json!(1e-13))));
        assert!(!accepts(json!(0.0), Some(json!(0.001))));
        // Integers compare exactly, also beyond a float's 53 bits: two PAYBACK card numbers that
        // differ in the last digit are two cards (as floats they are the same number).
        assert!(!accepts(
            json!(9_999_998_765_432_108_i64),
            Some(json!(9_999_998_765_432_109_i64))
        ));
        assert!(accepts(
            json!(9_999_998_765_432_108_i64),
            Some(json!(9_999_998_765_432_108_i64))
        ));
    }

    #[test]
    fn arrays_match_in_order_and_length() {
        assert!(accepts(json!([1, 2]), Some(json!([1, 2]))));
        assert!(accepts(json!([]), Some(json!([]))));
        assert!(!accepts(json!([]), Some(json!([null]))));
        let mut out = Vec::new();
        compare(&json!([1, 2]), Some(&json!([2, 1])), "s", "items", &mut out);
        let paths: Vec<&str> = out.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["items[0]", "items[1]"], "order matters");
        out.clear();
        compare(&json!([1]), Some(&json!([1, 2])), "s", "items", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].path.as_str(), out[0].got.as_str()), ("items", "[1,2]"));
        assert!(out[0].expected.starts_with("1 element(s)"), "{}", out[0].expected);
    }

    #[test]
    fn every_differing_field_of_an_object_is_its_own_difference() {
        let mut out = Vec::new();
        compare(
            &json!({"a": 1, "b": {"c": "x", "d": "$absent"}, "e": "$string"}),
            Some(&json!({"a": 2, "b": {"c": "y", "d": null}, "e": 5})),
            "sale",
            "request.body",
            &mut out,
        );
        let got: Vec<(&str, &str, &str, &str)> = out
            .iter()
            .map(|d| (d.step.as_str(), d.path.as_str(), d.expected.as_str(), d.got.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("sale", "request.body.a", "1", "2"),
                ("sale", "request.body.b.c", "\"x\"", "\"y\""),
                ("sale", "request.body.b.d", "absent", "null"),
                ("sale", "request.body.e", "any string", "5"),
            ]
        );
    }

    #[test]
    fn a_difference_says_what_was_expected_in_words() {
        let expected_text = |expected: Value, got: Option<Value>| judged(&expected, got).unwrap().expected;
        assert_eq!(expected_text(json!("$any"), None), "any value");
        assert_eq!(expected_text(json!("$absent"), Some(json!(1))), "absent");
        assert_eq!(expected_text(json!("$null"), Some(json!(1))), "null");
        assert_eq!(expected_text(json!("$bool"), Some(json!(1))), "any bool");
        assert_eq!(
            expected_text(json!("$timestamp"), Some(json!(-1))),
            "a timestamp (integer ≥ 0)"
        );
        assert_eq!(
            expected_text(json!("$regex:^a"), Some(json!("b"))),
            "a string matching /^a/"
        );
        assert_eq!(expected_text(json!("$$any"), Some(json!("x"))), "\"$any\"");
        assert!(
            accepts(json!({"$oneOf": [1, "$ignore"]}), None),
            "$ignore accepts, even absence"
        );
    }

    #[test]
    fn object_matchers_and_plain_values_are_described_too() {
        let d = judged(&json!({"$oneOf": [{"$absentOr": 1}, "$integer"]}), Some(json!("x"))).unwrap();
        assert_eq!(d.expected, "one of absent or 1 | any integer");
        let d = judged(&json!({"$regex": "x"}), Some(json!("x"))).unwrap();
        assert_eq!(d.expected, "{\"$regex\":\"x\"}");
        let d = judged(&json!({"a": [1]}), None).unwrap();
        assert_eq!((d.expected.as_str(), d.got.as_str()), ("{\"a\":[1]}", "absent"));
    }

    #[test]
    fn a_difference_of_the_whole_value_has_a_path_too() {
        let mut out = Vec::new();
        compare(&json!("completed"), Some(&json!("refused")), "result", "", &mut out);
        assert_eq!(out[0].path, "(value)");
        assert_eq!(out[0].step, "result");
    }

    #[test]
    fn long_values_are_cut_to_300_characters() {
        assert_eq!(show(None), "absent");
        // A string of n letters shows as n + 2 characters (the quotes).
        let exactly = json!("a".repeat(298));
        assert_eq!(show(Some(&exactly)), format!("\"{}\"", "a".repeat(298)));
        let longer = json!("a".repeat(299));
        assert_eq!(show(Some(&longer)), format!("\"{}…", "a".repeat(299)));
    }

    #[test]
    fn paths_join_with_a_dot_below_the_root() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("request.body", "a"), "request.body.a");
    }

    #[test]
    fn validation_walks_every_container_and_matcher() {
        let path_of = |expected: Value| validate(&expected, "x").unwrap_err().path;
        assert_eq!(path_of(json!([1, 2, "$nope"])), "x[2]");
        assert_eq!(path_of(json!({"a": [{"b": "$regex:("}]})), "x.a[0].b");
        assert_eq!(path_of(json!({"$oneOf": [1, "$nope"]})), "x.$oneOf[1]");
        assert_eq!(path_of(json!({"$absentOr": "$nope"})), "x");
        assert!(validate(&json!({"$absentOr": "$regex:^[0-9]+$"}), "x").is_ok());
        assert!(validate(&json!({"$oneOf": [1, "$regex:^a"]}), "x").is_ok());
        assert!(validate(&json!({"$oneOf": "x"}), "x").is_err());
        assert!(validate(&json!("$$anything"), "x").is_ok());
        for known in [
            "$any",
            "$ignore",
            "$absent",
            "$null",
            "$string",
            "$number",
            "$integer",
            "$bool",
            "$object",
            "$array",
            "$timestamp",
            "$regex:a",
        ] {
            assert!(validate(&json!(known), "x").is_ok(), "{known}");
        }
        let err = validate(&json!({"$nope": 1}), "x").unwrap_err();
        assert!(err.message.contains("$nope"), "{}", err.message);
        assert_eq!(err.to_string(), format!("x: {}", err.message));
    }
}

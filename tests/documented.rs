//! `assert_documented`: an answer against a seed's example answer. Shared by the end-to-end
//! tests and the provider crates' in-process runs of the same seed examples
//! (`mocks/tyrios/tests/in_process.rs`).

use serde_json::Value;

/// Asserts that every field of `documented` (the seed's example answer) is in `actual` with the
/// same value; `actual` may carry more fields (the seed abridges its examples).
#[track_caller]
pub fn assert_documented(actual: &Value, documented: &Value) {
    fn walk(path: &str, actual: &Value, documented: &Value, problems: &mut Vec<String>) {
        match (documented, actual) {
            (Value::Object(exp), Value::Object(act)) => {
                for (k, v) in exp {
                    match act.get(k) {
                        Some(a) => walk(&format!("{path}.{k}"), a, v, problems),
                        None => problems.push(format!("{path}.{k}: missing, expected {v}")),
                    }
                }
            }
            (Value::Array(exp), Value::Array(act)) if exp.len() == act.len() => {
                for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                    walk(&format!("{path}[{i}]"), a, e, problems);
                }
            }
            (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() && e.is_f64() == a.is_f64() => {}
            (e, a) if e == a => {}
            (e, a) => problems.push(format!("{path}: expected {e}, got {a}")),
        }
    }
    let mut problems = Vec::new();
    walk("$", actual, documented, &mut problems);
    assert!(
        problems.is_empty(),
        "answer differs from the seed:\n{}\nanswer: {actual}",
        problems.join("\n")
    );
}

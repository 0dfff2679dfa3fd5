//! The judge: compares what a POS did (its traffic in the journal, its answer, the provider state
//! afterwards) with a golden flow and lists every difference. Pure: no I/O, no clock.
//!
//! Matching walks the expected steps in order. A step claims the first not-yet-claimed exchange,
//! after the previous step's, whose provider, method, path, query and operation (when the step
//! names one) match; its headers, body and answer are then compared field by field. A required step nobody matches is a difference;
//! an optional one is skipped. Exchanges no step claimed are checked against the `forbid` list
//! (with its reason) and otherwise judged by the scenario's [`UnexpectedPolicy`].

use serde_json::Value;

use possim_engine::http::percent_decode;
use possim_engine::journal::{
    Exchange, HttpRequestRecord, HttpResponseRecord, JournalEntry, Operation, Outcome, RecordedBody, ZvtDirection,
};
use possim_reports::{Diff, ExchangeView};

use crate::matcher::{self, compare, join};
use crate::profile;
use crate::scenario::{ExpectedExchange, RequestMatcher, Scenario, UnexpectedPolicy};

/// An HTTP exchange in the shape the judge compares.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Journal id.
    pub id: u64,
    /// Provider.
    pub provider: String,
    /// Method.
    pub method: String,
    /// Path as sent.
    pub path: String,
    /// Raw query.
    pub raw_query: Option<String>,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Request body text.
    pub request_body: Option<String>,
    /// Status, when answered.
    pub status: Option<u16>,
    /// Response body text.
    pub response_body: Option<String>,
    /// Fault rule name or id that shaped it.
    pub fault: Option<String>,
    /// Sent by the provider to the shop (a Computop notify or browser return), not by the shop:
    /// a golden flow may expect it, but it is never the shop's unexpected request.
    pub outbound: bool,
    /// What the request asked for, as the provider named it in the journal.
    pub operation: Option<Operation>,
    /// A fault cut the answer off (`truncate`): the POS got only part of `response_body`.
    pub cut_off: bool,
}

fn body_text(body: &RecordedBody) -> Option<String> {
    match (&body.text, &body.base64) {
        (Some(text), _) if body.length > 0 => Some(text.clone()),
        (_, Some(b64)) => Some(format!("(binary, base64) {b64}")),
        _ => None,
    }
}

/// The protocol findings the scenario's providers noted (the ZVT terminal's "finding …" notes).
pub fn findings(entries: &[JournalEntry], providers: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| providers.contains(&e.provider))
        .filter_map(|e| match &e.exchange {
            Exchange::Zvt {
                direction: ZvtDirection::Note,
                text,
                ..
            } if text.starts_with("finding") => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// A command of the ECR on the ZVT link as an exchange: method `ZVT`, the control field as the
/// path (`06 01`), and as body `{"hex": "<the whole APDU>", "text": "<decoded>"}`. The ECR's
/// acknowledgements (80/84) and the terminal's messages are left out: a till is judged by what it
/// asked for, by what it reports and by the terminal's state.
fn zvt_command(
    entry: &JournalEntry,
    direction: ZvtDirection,
    control: Option<&str>,
    hex: &str,
    text: &str,
) -> Option<Observed> {
    let control = control?.to_ascii_uppercase();
    let acknowledgement = control.starts_with("80") || control.starts_with("84");
    if direction != ZvtDirection::EcrToPt || acknowledgement {
        return None;
    }
    let compact: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    Some(Observed {
        id: entry.id,
        provider: entry.provider.clone(),
        method: "ZVT".into(),
        path: control,
        request_body: Some(serde_json::json!({"hex": compact.to_ascii_uppercase(), "text": text}).to_string()),
        ..Observed::default()
    })
}

/// The decrypted fields of an opaque exchange (`entry.view.request` / `.response`) as JSON text,
/// so golden flows compare `MerchantID`, `Amount`, `Status`, `Code` instead of ciphertext.
fn view_part(entry: &JournalEntry, part: &str) -> Option<String> {
    entry
        .view
        .as_ref()
        .and_then(|v| v.get(part))
        .filter(|v| !v.is_null())
        .map(Value::to_string)
}

fn fault_text(entry: &JournalEntry) -> Option<String> {
    entry.fault.as_ref().map(|f| {
        format!(
            "{} ({})",
            f.name.clone().unwrap_or_else(|| format!("rule {}", f.rule)),
            f.action
        )
    })
}

/// A message the provider sent to the shop: method `NOTIFY` (a Paygate notify) or `RETURN` (the
/// customer's browser coming back to URLSuccess/URLFailure), the path of the shop's URL, the
/// decrypted fields as body, and the shop's answer (no status when none came).
fn outbound(
    entry: &JournalEntry,
    purpose: &str,
    request: &HttpRequestRecord,
    response: Option<&HttpResponseRecord>,
) -> Observed {
    Observed {
        id: entry.id,
        provider: entry.provider.clone(),
        method: if purpose == "notify" { "NOTIFY" } else { "RETURN" }.into(),
        path: request.path.clone(),
        headers: request.headers.clone(),
        request_body: view_part(entry, "request").or_else(|| body_text(&request.body)),
        status: response.map(|r| r.status),
        response_body: response.and_then(|r| body_text(&r.body)),
        fault: fault_text(entry),
        outbound: true,
        ..Observed::default()
    }
}

impl Observed {
    /// The HTTP exchanges of `entries`, in journal order.
    pub fn from_journal(entries: &[JournalEntry]) -> Vec<Observed> {
        let mut list: Vec<Observed> = entries
            .iter()
            .filter_map(|entry| {
                if let Exchange::Zvt {
                    direction,
                    control,
                    hex,
                    text,
                    ..
                } = &entry.exchange
                {
                    return zvt_command(entry, *direction, control.as_deref(), hex, text);
                }
                if let Exchange::Outbound {
                    purpose,
                    request,
                    response,
                    ..
                } = &entry.exchange
                {
                    return Some(outbound(entry, purpose, request, response.as_ref()));
                }
                let Exchange::Http {
                    request,
                    response,
                    outcome,
                    operation,
                } = &entry.exchange
                else {
                    return None;
                };
                let query = request
                    .query
                    .as_deref()
                    .unwrap_or("")
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        (percent_decode(k), percent_decode(v))
                    })
                    .collect();
                let answered = !matches!(outcome, Outcome::ConnectionClosed);
                Some(Observed {
                    id: entry.id,
                    provider: entry.provider.clone(),
                    method: request.method.clone(),
                    path: request.path.clone(),
                    raw_query: request.query.clone(),
                    query,
                    headers: request.headers.clone(),
                    request_body: view_part(entry, "request").or_else(|| body_text(&request.body)),
                    status: response.as_ref().filter(|_| answered).map(|r| r.status),
                    response_body: view_part(entry, "response")
                        .filter(|_| response.is_some())
                        .or_else(|| response.as_ref().and_then(|r| body_text(&r.body))),
                    fault: fault_text(entry),
                    outbound: false,
                    operation: operation.clone(),
                    cut_off: matches!(outcome, Outcome::Truncated),
                })
            })
            .collect();
        list.sort_by_key(|o| o.id);
        list
    }

    fn target(&self) -> String {
        match &self.raw_query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// Whether the request may have changed provider state: as the provider classified it, or,
    /// for an exchange without an operation (an older journal, a provider that does not
    /// classify, the terminal), every method but GET and HEAD.
    pub fn is_write(&self) -> bool {
        match &self.operation {
            Some(operation) => operation.write,
            None => !(self.method.eq_ignore_ascii_case("GET") || self.method.eq_ignore_ascii_case("HEAD")),
        }
    }

    /// The request body as JSON, when it is JSON.
    pub fn request_json(&self) -> Option<Value> {
        self.request_body.as_deref().and_then(|t| serde_json::from_str(t).ok())
    }

    fn response_json(&self) -> Option<Value> {
        self.response_body.as_deref().and_then(|t| serde_json::from_str(t).ok())
    }
}

/// The verdict material for one scenario.
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    /// Every difference.
    pub diffs: Vec<Diff>,
    /// The traffic, annotated with the step each exchange matched.
    pub exchanges: Vec<ExchangeView>,
    /// Required steps still unmatched (the runner waits for them with live drivers).
    pub missing_required: usize,
}

/// A request line field of a step (method, path): `$…` is a matcher, anything else is compared
/// by `literal`.
fn line_field_matches(expected: &str, got: &str, literal: impl FnOnce(&str, &str) -> bool) -> bool {
    if expected.starts_with('$') {
        matcher::matches(
            &Value::String(expected.to_owned()),
            Some(&Value::String(got.to_owned())),
        )
    } else {
        literal(expected, got)
    }
}

/// Whether `observed` is the request `m` describes (provider, method, path, query).
fn request_line_matches(m: &RequestMatcher, provider: &str, observed: &Observed) -> bool {
    let method_ok = line_field_matches(&m.method, &observed.method, |e, g| g.eq_ignore_ascii_case(e));
    if observed.provider != provider || !method_ok {
        return false;
    }
    if let Some(operation) = &m.operation
        && observed.operation.as_ref().is_none_or(|o| &o.name != operation)
    {
        return false;
    }
    let path = profile::normalize_path(provider, &observed.path);
    let path_ok = line_field_matches(&m.path, &path, |e, g| profile::normalize_path(provider, e) == g);
    path_ok
        && m.query.iter().all(|(name, expected)| {
            let got = observed
                .query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Value::String(v.clone()));
            matcher::matches(expected, got.as_ref())
        })
}

fn describe_request(m: &RequestMatcher) -> String {
    let mut text = format!("{} {}", m.method, m.path);
    if let Some(operation) = &m.operation {
        text.push_str(&format!(" ({operation})"));
    }
    if !m.query.is_empty() {
        let q: Vec<String> = m
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", matcher::show(Some(v))))
            .collect();
        text.push_str(&format!(" with query {}", q.join(", ")));
    }
    text
}

/// Compares headers, body and answer of a claimed exchange.
fn compare_step(step: &ExpectedExchange, observed: &Observed, diffs: &mut Vec<Diff>) {
    let name = step.name.as_str();
    for (header, expected) in &step.request.headers {
        let got = observed
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(header))
            .map(|(_, v)| Value::String(v.clone()));
        compare(expected, got.as_ref(), name, &join("request.headers", header), diffs);
    }
    if let Some(expected) = &step.request.body {
        compare_body(
            expected,
            observed.request_body.as_deref(),
            observed.request_json(),
            name,
            "request.body",
            diffs,
        );
    }
    if let Some(response) = &step.response {
        if let Some(status) = response.status {
            let got = observed.status.unwrap_or(0);
            if got != status {
                let detail = observed
                    .response_json()
                    .and_then(|b| b.get("message").and_then(Value::as_str).map(|m| format!(": {m}")))
                    .unwrap_or_default();
                diffs.push(Diff {
                    step: name.to_owned(),
                    path: "response.status".into(),
                    expected: status_text(status),
                    got: format!("{}{detail}", status_text(got)),
                });
                // A different status means a different answer; listing every field of it would
                // bury the one difference that matters.
                return;
            }
        }
        if let Some(expected) = &response.body {
            compare_body(
                expected,
                observed.response_body.as_deref(),
                observed.response_json(),
                name,
                "response.body",
                diffs,
            );
        }
    }
}

fn status_text(status: u16) -> String {
    if status == 0 {
        "no answer (connection closed)".into()
    } else {
        status.to_string()
    }
}

fn compare_body(
    expected: &Value,
    text: Option<&str>,
    json: Option<Value>,
    step: &str,
    path: &str,
    diffs: &mut Vec<Diff>,
) {
    match (expected, json) {
        // A plain string (not a matcher) compares the raw text, e.g. a form body.
        (Value::String(want), _) if !want.starts_with('$') || want.starts_with("$$") => {
            let want = want.strip_prefix('$').filter(|w| w.starts_with('$')).unwrap_or(want);
            if text != Some(want) {
                diffs.push(Diff {
                    step: step.to_owned(),
                    path: path.to_owned(),
                    expected: Value::String(want.to_owned()).to_string(),
                    got: text.map_or_else(|| "absent".into(), |t| Value::String(t.to_owned()).to_string()),
                });
            }
        }
        (_, Some(json)) => compare(expected, Some(&json), step, path, diffs),
        (_, None) => match text {
            None => compare(expected, None, step, path, diffs),
            // A matcher for the whole body (`"$regex:…"`, `"$string"`) reads a body that is not
            // JSON, e.g. a form, as its text.
            Some(text) if expected.is_string() => {
                compare(expected, Some(&Value::String(text.to_owned())), step, path, diffs)
            }
            Some(text) => diffs.push(Diff {
                step: step.to_owned(),
                path: path.to_owned(),
                expected: "a JSON body".into(),
                got: matcher::show(Some(&Value::String(text.to_owned()))),
            }),
        },
    }
}

/// Whether `observed`'s request body is the one `expected` describes, compared as a step's body
/// is (a plain string against the raw text, e.g. a form), so a `forbid` rule reads bodies the way
/// the steps do.
fn body_matches(expected: &Value, observed: &Observed) -> bool {
    let mut diffs = Vec::new();
    compare_body(
        expected,
        observed.request_body.as_deref(),
        observed.request_json(),
        "",
        "",
        &mut diffs,
    );
    diffs.is_empty()
}

/// The judge's working notes on the traffic of one scenario: which step claimed each exchange,
/// which a `forbid` entry hit, which showed a problem.
struct Verdicts<'a> {
    relevant: Vec<&'a Observed>,
    claimed: Vec<Option<&'a str>>,
    forbidden_hit: Vec<bool>,
    problem: Vec<bool>,
    diffs: Vec<Diff>,
    missing_required: usize,
}

/// Judges the traffic of a scenario; `result` and `state` checks are separate (see
/// [`judge_result`] and [`judge_state`]) because live drivers judge traffic repeatedly while
/// waiting.
pub fn judge_traffic(scenario: &Scenario, observed: &[Observed]) -> Judgement {
    let relevant: Vec<&Observed> = observed
        .iter()
        .filter(|o| scenario.providers.contains(&o.provider))
        .collect();
    let mut verdicts = Verdicts {
        claimed: vec![None; relevant.len()],
        forbidden_hit: vec![false; relevant.len()],
        problem: vec![false; relevant.len()],
        relevant,
        diffs: Vec::new(),
        missing_required: 0,
    };
    claim_steps(scenario, &mut verdicts);
    // `forbid` is checked before the unexpected-exchange policy so its reason is the one reported.
    check_forbidden(scenario, &mut verdicts);
    check_unexpected(scenario, &mut verdicts);
    verdicts.into_judgement()
}

/// Walks the steps in order: each claims the first unclaimed matching exchange after the
/// previous step's, and its headers, body and answer are compared.
fn claim_steps<'a>(scenario: &'a Scenario, v: &mut Verdicts<'a>) {
    let mut cursor = 0;
    for step in &scenario.exchanges {
        let provider = step.provider.as_deref().unwrap_or(scenario.default_provider());
        let found = (cursor..v.relevant.len())
            .find(|&i| v.claimed[i].is_none() && request_line_matches(&step.request, provider, v.relevant[i]));
        match found {
            Some(i) => {
                v.claimed[i] = Some(step.name.as_str());
                let before = v.diffs.len();
                compare_step(step, v.relevant[i], &mut v.diffs);
                v.problem[i] = v.diffs.len() > before;
                cursor = i + 1;
            }
            None if step.optional => {}
            None => {
                v.missing_required += 1;
                v.diffs.push(Diff {
                    step: step.name.clone(),
                    path: "request".into(),
                    expected: describe_request(&step.request),
                    got: "not sent (at this point of the flow)".into(),
                });
            }
        }
    }
}

/// `forbid` names exchanges that must not happen beyond what the steps account for (a second
/// final call, a retry).
fn check_forbidden(scenario: &Scenario, v: &mut Verdicts<'_>) {
    for forbidden in &scenario.forbidden {
        let provider = forbidden.provider.as_deref().unwrap_or(scenario.default_provider());
        for (i, o) in v.relevant.iter().enumerate() {
            if v.claimed[i].is_none()
                && request_line_matches(&forbidden.request, provider, o)
                && forbidden.request.body.as_ref().is_none_or(|b| body_matches(b, o))
            {
                v.problem[i] = true;
                v.forbidden_hit[i] = true;
                v.diffs.push(Diff {
                    step: "forbidden".into(),
                    path: format!("exchange #{}", i + 1),
                    expected: forbidden.name.clone(),
                    got: format!("{} {}", o.method, o.target()),
                });
            }
        }
    }
}

/// Exchanges no step claimed and no `forbid` hit, judged by the scenario's policy; whether one
/// is a write is what its provider said in the journal.
fn check_unexpected(scenario: &Scenario, v: &mut Verdicts<'_>) {
    for (i, o) in v.relevant.iter().enumerate() {
        // The provider's own messages (notifies, their retries, the browser return) are not the
        // shop's doing; only the steps that expect them judge them.
        if v.claimed[i].is_some() || v.forbidden_hit[i] || o.outbound {
            continue;
        }
        let write = o.is_write();
        let fails = match scenario.unexpected {
            UnexpectedPolicy::Allow => false,
            UnexpectedPolicy::Fail => true,
            UnexpectedPolicy::FailWrites => write,
        };
        if fails {
            v.problem[i] = true;
            v.diffs.push(Diff {
                step: "unexpected".into(),
                path: format!("exchange #{}", i + 1),
                expected: if write {
                    "no further state-changing request".into()
                } else {
                    "no further request".into()
                },
                got: format!(
                    "{} {}{}",
                    o.method,
                    o.target(),
                    o.status.map_or(String::new(), |s| format!(" → {s}"))
                ),
            });
        }
    }
}

impl Verdicts<'_> {
    /// The traffic annotated with the step (or `forbidden`, `unexpected`) each exchange got.
    fn into_judgement(self) -> Judgement {
        let exchanges = self
            .relevant
            .iter()
            .enumerate()
            .map(|(i, o)| ExchangeView {
                id: o.id,
                number: i + 1,
                provider: o.provider.clone(),
                method: o.method.clone(),
                target: o.target(),
                status: o.status,
                step: self.claimed[i].map(str::to_owned).or_else(|| {
                    if self.forbidden_hit[i] {
                        Some("forbidden".to_owned())
                    } else {
                        self.problem[i].then(|| "unexpected".to_owned())
                    }
                }),
                fault: o.fault.clone(),
                request_body: o.request_body.clone(),
                response_body: o.response_body.clone(),
                problem: self.problem[i],
                cut_off: o.cut_off,
            })
            .collect();
        Judgement {
            diffs: self.diffs,
            exchanges,
            missing_required: self.missing_required,
        }
    }
}

/// Compares what the POS reported with the scenario's `result` matcher.
pub fn judge_result(scenario: &Scenario, result: Option<&Value>) -> Vec<Diff> {
    let mut diffs = Vec::new();
    if let Some(expected) = &scenario.result {
        compare(expected, result, "result", "", &mut diffs);
        for diff in &mut diffs {
            if diff.path == "(value)" {
                diff.path = "(the whole answer)".into();
            }
        }
    }
    diffs
}

/// Runs the state checks against provider snapshots (`provider name → snapshot`).
pub fn judge_state(scenario: &Scenario, snapshot: impl Fn(&str) -> Option<Value>) -> Vec<Diff> {
    let mut diffs = Vec::new();
    for check in &scenario.state {
        let provider = check.provider.as_deref().unwrap_or(scenario.default_provider());
        let step = format!("state: {}", check.name);
        let Some(state) = snapshot(provider) else {
            diffs.push(Diff {
                step,
                path: provider.to_owned(),
                expected: "a state snapshot".into(),
                got: "none (provider not running)".into(),
            });
            continue;
        };
        let Some(items) = state.get(&check.collection).and_then(Value::as_array) else {
            diffs.push(Diff {
                step,
                path: check.collection.clone(),
                expected: "a list in the provider state".into(),
                got: "absent".into(),
            });
            continue;
        };
        let selected: Vec<&Value> = items
            .iter()
            .filter(|item| check.filter.as_ref().is_none_or(|f| matcher::matches(f, Some(item))))
            .collect();
        let filter = check
            .filter
            .as_ref()
            .map_or_else(String::new, |f| format!(" where {f}"));
        let path = format!("{}{filter}", check.collection);
        if let Some(count) = check.count
            && selected.len() != count
        {
            diffs.push(Diff {
                step: step.clone(),
                path: path.clone(),
                expected: format!("{count} element(s)"),
                got: format!("{} element(s)", selected.len()),
            });
        }
        if let Some(expected) = &check.expect {
            if selected.is_empty() && check.count.is_none() {
                diffs.push(Diff {
                    step: step.clone(),
                    path: path.clone(),
                    expected: "at least one element".into(),
                    got: "none".into(),
                });
            }
            for (i, item) in selected.iter().enumerate() {
                let at = if selected.len() == 1 {
                    path.clone()
                } else {
                    format!("{path}[{i}]")
                };
                compare(expected, Some(item), &step, &at, &mut diffs);
            }
        }
    }
    diffs
}

#[cfg(test)]
mod tests;

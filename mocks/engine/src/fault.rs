//! Fault injection: rules that make a mock misbehave on purpose, armed by the admin API or a file.
//!
//! A rule says *where* (provider, method, path/query/body patterns), *when* (the nth matching
//! call, at most `times` calls, or with a seeded probability, so a flaky run can be replayed) and
//! *what* (delay, a fixed answer, closing the connection without an answer, a truncated or
//! malformed body, or a competing change applied to the provider's state just before the request
//! is processed — the "draft succeeded, final fails" race on demand).
//!
//! Rules are checked in `priority` order (lower first, then by id); every matching rule counts the
//! match, and the first one whose trigger fires wins. The engine only selects; the transport
//! carries the action out, and the provider interprets competing changes.

use std::sync::RwLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// A rule as written by a user (admin API body or an element of a faults file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// A name for reports and the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only requests to this provider (`tyrios`, ...); any provider when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Only this HTTP method (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Regular expression that must match somewhere in the request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Regular expression that must match somewhere in the raw query string (empty when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Regular expression that must NOT match the raw query string, e.g. `draft=true` to hit only
    /// final transactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_not: Option<String>,
    /// Regular expression that must match somewhere in the request body (as UTF-8, lossy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Fire only on the nth matching call (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// Fire at most this many times; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Fire with this probability (0.0–1.0) per matching call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Seed for `probability`; the same seed gives the same sequence of decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Lower runs first; default 5 (as wiremock's priorities).
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Wait this long before acting (and before answering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// What to do; a bare delay when absent.
    #[serde(default)]
    pub action: FaultAction,
}

fn default_priority() -> u8 {
    5
}

/// What a fired rule does to the exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum FaultAction {
    /// Only the rule's delay; the request is then served normally.
    #[default]
    Delay,
    /// Answer with this status, body and headers instead of the provider.
    #[serde(rename_all = "camelCase")]
    Respond {
        /// HTTP status code.
        status: u16,
        /// Body text; a JSON value is sent as compact JSON.
        #[serde(default)]
        body: Option<serde_json::Value>,
        /// Extra headers; `content-type` defaults to JSON when the body is JSON.
        #[serde(default)]
        headers: Vec<(String, String)>,
    },
    /// Close the connection without sending anything.
    Close,
    /// Serve normally, but cut the connection after half of the body (Content-Length promises
    /// the whole body).
    Truncate,
    /// Serve normally, but send only the first half of the body with a matching Content-Length,
    /// so the client receives a complete HTTP message whose body does not parse.
    Malform,
    /// A provider-specific misbehaviour by name, for what the provider itself sends (Computop:
    /// `duplicate`, `forgedMac`, `replayFailure`, `randomKeyCase`, `unencrypted`; see the
    /// provider's README).
    #[serde(rename_all = "camelCase")]
    Quirk {
        /// The misbehaviour.
        quirk: String,
    },
    /// Apply a state change (provider-specific JSON) right before the request is processed, as if
    /// another till had acted in between; then serve normally.
    #[serde(rename_all = "camelCase")]
    CompetingChange {
        /// Handed to the provider's `apply_change`.
        change: serde_json::Value,
    },
}

impl FaultAction {
    /// A short word for the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Delay => "delay",
            Self::Respond { .. } => "respond",
            Self::Close => "close",
            Self::Truncate => "truncate",
            Self::Malform => "malform",
            Self::CompetingChange { .. } => "competingChange",
            Self::Quirk { .. } => "quirk",
        }
    }
}

/// The parts of a request that rules look at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Provider serving the request.
    pub provider: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Path without query.
    pub path: &'a str,
    /// Raw query string (empty when none).
    pub query: &'a str,
    /// Raw body.
    pub body: &'a [u8],
}

/// An armed rule with its compiled patterns and counters.
#[derive(Debug)]
struct ArmedRule {
    id: u64,
    spec: FaultSpec,
    path: Option<Regex>,
    query: Option<Regex>,
    query_not: Option<Regex>,
    body: Option<Regex>,
    matched: u64,
    fired: u64,
    rng: u64,
}

/// An armed rule as the admin API lists it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultStatus {
    /// Id assigned when armed.
    pub id: u64,
    /// Matching calls seen so far.
    pub matched: u64,
    /// Times the rule fired.
    pub fired: u64,
    /// The rule as armed.
    #[serde(flatten)]
    pub spec: FaultSpec,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct FiredFault {
    /// Id of the rule.
    pub rule: u64,
    /// Name of the rule.
    pub name: Option<String>,
    /// Delay before acting.
    pub delay_ms: Option<u64>,
    /// The action.
    pub action: FaultAction,
}

/// The set of armed rules.
#[derive(Debug, Default)]
pub struct Faults {
    inner: RwLock<FaultSet>,
}

#[derive(Debug, Default)]
struct FaultSet {
    rules: Vec<ArmedRule>,
    next_id: u64,
}

fn compile(field: &str, pattern: &Option<String>) -> Result<Option<Regex>, EngineError> {
    pattern
        .as_deref()
        .map(|p| {
            Regex::new(p).map_err(|e| {
                EngineError::InvalidInput(format!("fault rule: invalid regular expression in {field}: {e}"))
            })
        })
        .transpose()
}

impl FaultSpec {
    fn validate(&self) -> Result<(), EngineError> {
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(EngineError::InvalidInput(format!(
                "fault rule: probability must be between 0 and 1, got {p}"
            )));
        }
        if self.nth == Some(0) {
            return Err(EngineError::InvalidInput("fault rule: nth counts from 1".into()));
        }
        // 1xx would be an interim answer, not an answer; above 599 no client knows the class.
        if let FaultAction::Respond { status, .. } = &self.action
            && !(200..=599).contains(status)
        {
            return Err(EngineError::InvalidInput(format!(
                "fault rule: status must be an HTTP status from 200 to 599, got {status}"
            )));
        }
        if let Some(ms) = self.delay_ms
            && ms > MAX_DELAY_MS
        {
            return Err(EngineError::InvalidInput(format!(
                "fault rule: delayMs is at most {MAX_DELAY_MS} (10 minutes), got {ms}"
            )));
        }
        Ok(())
    }
}

/// The longest delay a rule may ask for. Longer would only park connections until shutdown;
/// every client time-out we know of is far shorter.
pub const MAX_DELAY_MS: u64 = 600_000;

/// splitmix64: a tiny, well-distributed generator; enough for seeded fault decisions.
fn next_random(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl ArmedRule {
    fn matches(&self, req: &RequestView<'_>) -> bool {
        let spec = &self.spec;
        if spec.provider.as_deref().is_some_and(|p| p != req.provider) {
            return false;
        }
        if spec
            .method
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case(req.method))
        {
            return false;
        }
        if self.path.as_ref().is_some_and(|re| !re.is_match(req.path)) {
            return false;
        }
        if self.query.as_ref().is_some_and(|re| !re.is_match(req.query)) {
            return false;
        }
        if self.query_not.as_ref().is_some_and(|re| re.is_match(req.query)) {
            return false;
        }
        if let Some(re) = &self.body
            && !re.is_match(&String::from_utf8_lossy(req.body))
        {
            return false;
        }
        true
    }
}

/// The most rules armed at once. Every request is matched against every rule, so a set far
/// beyond what any test needs would only slow the mocks down; arming past it is a 400.
pub const MAX_RULES: usize = 20_000;

/// A rule checked and its patterns compiled, ready to arm.
struct Compiled {
    spec: FaultSpec,
    path: Option<Regex>,
    query: Option<Regex>,
    query_not: Option<Regex>,
    body: Option<Regex>,
}

/// Compiled patterns of one batch by source text: a file of many rules usually repeats its
/// patterns, and a `Regex` clone shares the compiled program.
type PatternCache = std::collections::HashMap<String, Regex>;

impl Compiled {
    fn new(spec: FaultSpec, cache: &mut PatternCache) -> Result<Self, EngineError> {
        spec.validate()?;
        let mut compile = |field: &str, pattern: &Option<String>| -> Result<Option<Regex>, EngineError> {
            let Some(p) = pattern else { return Ok(None) };
            if let Some(re) = cache.get(p) {
                return Ok(Some(re.clone()));
            }
            let re = compile(field, pattern)?;
            if let Some(re) = &re {
                cache.insert(p.clone(), re.clone());
            }
            Ok(re)
        };
        Ok(Self {
            path: compile("path", &spec.path)?,
            query: compile("query", &spec.query)?,
            query_not: compile("queryNot", &spec.query_not)?,
            body: compile("body", &spec.body)?,
            spec,
        })
    }
}

impl Faults {
    /// Arms a rule and returns its id.
    pub fn arm(&self, spec: FaultSpec) -> Result<u64, EngineError> {
        let ids = self.arm_compiled(vec![Compiled::new(spec, &mut PatternCache::new())?])?;
        Ok(ids[0])
    }

    /// Arms every rule or none: a bad rule in a file must not leave half of it armed. Each
    /// pattern is compiled once and the set sorted once, so a large file arms in linear time.
    pub fn arm_all(&self, specs: Vec<FaultSpec>) -> Result<Vec<u64>, EngineError> {
        if specs.len() > MAX_RULES {
            return Err(EngineError::InvalidInput(format!(
                "{} fault rules given; at most {MAX_RULES} can be armed at once",
                specs.len()
            )));
        }
        let mut cache = PatternCache::new();
        let compiled = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                Compiled::new(spec, &mut cache).map_err(|e| EngineError::InvalidInput(format!("rule #{}: {e}", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.arm_compiled(compiled)
    }

    fn arm_compiled(&self, compiled: Vec<Compiled>) -> Result<Vec<u64>, EngineError> {
        let mut set = self.write();
        if set.rules.len() + compiled.len() > MAX_RULES {
            return Err(EngineError::InvalidInput(format!(
                "{} fault rules are armed and {} more given; at most {MAX_RULES} can be armed at once",
                set.rules.len(),
                compiled.len()
            )));
        }
        let mut ids = Vec::with_capacity(compiled.len());
        for c in compiled {
            set.next_id += 1;
            let id = set.next_id;
            let rng = c.spec.seed.unwrap_or(id);
            set.rules.push(ArmedRule {
                id,
                spec: c.spec,
                path: c.path,
                query: c.query,
                query_not: c.query_not,
                body: c.body,
                matched: 0,
                fired: 0,
                rng,
            });
            ids.push(id);
        }
        // Stable sort keeps arming order among equal priorities.
        set.rules.sort_by_key(|r| (r.spec.priority, r.id));
        Ok(ids)
    }

    /// Disarms one rule.
    pub fn disarm(&self, id: u64) -> Result<(), EngineError> {
        let mut set = self.write();
        let before = set.rules.len();
        set.rules.retain(|r| r.id != id);
        if set.rules.len() == before {
            return Err(EngineError::NotFound(format!("no fault rule with id {id}")));
        }
        Ok(())
    }

    /// Disarms every rule.
    pub fn clear(&self) {
        self.write().rules.clear();
    }

    /// The armed rules with their counters.
    pub fn list(&self) -> Vec<FaultStatus> {
        self.read()
            .rules
            .iter()
            .map(|r| FaultStatus {
                id: r.id,
                matched: r.matched,
                fired: r.fired,
                spec: r.spec.clone(),
            })
            .collect()
    }

    /// One armed rule.
    pub fn get(&self, id: u64) -> Result<FaultStatus, EngineError> {
        self.read()
            .rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| FaultStatus {
                id: r.id,
                matched: r.matched,
                fired: r.fired,
                spec: r.spec.clone(),
            })
            .ok_or_else(|| EngineError::NotFound(format!("no fault rule with id {id}")))
    }

    /// Counts the request against every matching rule and returns the fault to apply, if any.
    pub fn evaluate(&self, req: &RequestView<'_>) -> Option<FiredFault> {
        // Fast path without the write lock: the common case in benchmarks and plain serving.
        if self.read().rules.is_empty() {
            return None;
        }
        let mut set = self.write();
        let mut fired = None;
        for rule in set.rules.iter_mut() {
            if !rule.matches(req) {
                continue;
            }
            rule.matched += 1;
            if fired.is_some() {
                continue;
            }
            if rule.spec.nth.is_some_and(|n| n != rule.matched) {
                continue;
            }
            if rule.spec.times.is_some_and(|t| rule.fired >= t) {
                continue;
            }
            if let Some(p) = rule.spec.probability
                && next_random(&mut rule.rng) >= p
            {
                continue;
            }
            rule.fired += 1;
            fired = Some(FiredFault {
                rule: rule.id,
                name: rule.spec.name.clone(),
                delay_ms: rule.spec.delay_ms,
                action: rule.spec.action.clone(),
            });
        }
        fired
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FaultSet> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FaultSet> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Parses a faults file: a JSON array of rules, or an object `{"faults": [...]}`.
pub fn parse_fault_file(text: &str) -> Result<Vec<FaultSpec>, EngineError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrapped {
        faults: Vec<FaultSpec>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum File {
        List(Vec<FaultSpec>),
        Wrapped(Wrapped),
    }
    // Parse twice only on failure, to give the user the precise message of the list form.
    match serde_json::from_str::<File>(text) {
        Ok(File::List(l)) => Ok(l),
        Ok(File::Wrapped(w)) => Ok(w.faults),
        Err(_) => serde_json::from_str::<Vec<FaultSpec>>(text)
            .map_err(|e| EngineError::InvalidInput(format!("faults file: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> FaultSpec {
        serde_json::from_value(json).unwrap()
    }

    fn req<'a>(path: &'a str, query: &'a str) -> RequestView<'a> {
        RequestView {
            provider: "tyrios",
            method: "POST",
            path,
            query,
            body: b"{}",
        }
    }

    #[test]
    fn query_not_selects_final_transactions_only() {
        let faults = Faults::default();
        faults
            .arm(spec(serde_json::json!({
                "path": "/BonusPointTransaction/pos$", "queryNot": "draft=true",
                "action": {"type": "respond", "status": 503}
            })))
            .unwrap();
        assert_eq!(
            faults.evaluate(&req("/BonusPointManagement/BonusPointTransaction/pos", "draft=true")),
            None
        );
        let fired = faults
            .evaluate(&req("/BonusPointManagement/BonusPointTransaction/pos", ""))
            .unwrap();
        assert_eq!(
            fired.action,
            FaultAction::Respond {
                status: 503,
                body: None,
                headers: vec![]
            }
        );
    }

    #[test]
    fn nth_and_times_count_matching_calls_only() {
        let faults = Faults::default();
        let id = faults
            .arm(spec(
                serde_json::json!({"path": "pos", "nth": 2, "action": {"type": "close"}}),
            ))
            .unwrap();
        assert!(faults.evaluate(&req("/other", "")).is_none());
        assert!(faults.evaluate(&req("/pos", "")).is_none());
        assert!(faults.evaluate(&req("/pos", "")).is_some());
        assert!(faults.evaluate(&req("/pos", "")).is_none());
        let status = faults.get(id).unwrap();
        assert_eq!((status.matched, status.fired), (3, 1));

        let faults = Faults::default();
        faults
            .arm(spec(serde_json::json!({"times": 2, "action": {"type": "close"}})))
            .unwrap();
        let fired: Vec<bool> = (0..4).map(|_| faults.evaluate(&req("/x", "")).is_some()).collect();
        assert_eq!(fired, vec![true, true, false, false]);
    }

    #[test]
    fn priority_decides_and_lower_rules_still_count() {
        let faults = Faults::default();
        let low = faults
            .arm(spec(serde_json::json!({"priority": 9, "action": {"type": "close"}})))
            .unwrap();
        let high = faults
            .arm(spec(serde_json::json!({"priority": 1, "action": {"type": "truncate"}})))
            .unwrap();
        let fired = faults.evaluate(&req("/x", "")).unwrap();
        assert_eq!(fired.rule, high);
        assert_eq!(faults.get(low).unwrap().matched, 1);
        assert_eq!(faults.get(low).unwrap().fired, 0);
    }

    #[test]
    fn seeded_probability_is_reproducible_and_roughly_right() {
        let run = || {
            let faults = Faults::default();
            faults
                .arm(spec(
                    serde_json::json!({"probability": 0.25, "seed": 42, "action": {"type": "close"}}),
                ))
                .unwrap();
            (0..2000)
                .map(|_| faults.evaluate(&req("/x", "")).is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|h| **h).count();
        // Binomial(2000, 0.25): mean 500, sd ~19; 6 sd either way.
        assert!((385..=615).contains(&hits), "hits = {hits}");
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason_and_files_arm_all_or_nothing() {
        let faults = Faults::default();
        let err = faults
            .arm(spec(serde_json::json!({"path": "(", "action": {"type": "close"}})))
            .unwrap_err();
        assert!(err.to_string().contains("invalid regular expression in path"), "{err}");
        let err = faults.arm(spec(serde_json::json!({"probability": 2.0}))).unwrap_err();
        assert!(err.to_string().contains("between 0 and 1"));
        let rules = parse_fault_file(r#"[{"action":{"type":"close"}},{"path":"["}]"#).unwrap();
        assert!(faults.arm_all(rules).is_err());
        assert!(faults.list().is_empty());
        let err = parse_fault_file(r#"[{"acton":{"type":"close"}}]"#).unwrap_err();
        assert!(err.to_string().contains("acton"), "{err}");
    }

    #[test]
    fn disarm_reports_unknown_ids() {
        let faults = Faults::default();
        let id = faults
            .arm(FaultSpec {
                action: FaultAction::Close,
                ..spec(serde_json::json!({}))
            })
            .unwrap();
        faults.disarm(id).unwrap();
        assert!(matches!(faults.disarm(id), Err(EngineError::NotFound(_))));
    }

    #[test]
    fn at_most_max_rules_are_armed_and_a_refused_batch_arms_nothing() {
        let faults = Faults::default();
        let rule = || spec(serde_json::json!({"provider": "tyrios", "path": "^/x$", "action": {"type": "close"}}));
        let ids = faults.arm_all((0..MAX_RULES).map(|_| rule()).collect()).unwrap();
        assert_eq!(ids.len(), MAX_RULES);
        assert_eq!(ids.first(), Some(&1));
        assert_eq!(ids.last(), Some(&(MAX_RULES as u64)));
        let err = faults.arm(rule()).unwrap_err().to_string();
        assert!(err.contains(&format!("at most {MAX_RULES}")), "{err}");
        faults.clear();
        let err = faults
            .arm_all((0..=MAX_RULES).map(|_| rule()).collect())
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("{} fault rules given", MAX_RULES + 1)), "{err}");
        assert!(faults.list().is_empty());
    }
}

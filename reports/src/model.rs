//! The result of a conformance run: what every renderer reads and what `report.json` contains.
//!
//! The JSON form is a published interface (schema [`SCHEMA`], documented in `reports/README.md`):
//! CI scripts and dashboards read it, so fields are only ever added, never renamed or removed,
//! within one schema version.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Schema tag written into every JSON report.
pub const SCHEMA: &str = "possim-report/1";

/// One run of `possim certify`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// What was certified, e.g. `TYRIOS eCash POS integration`.
    pub title: String,
    /// Wall-clock start of the run, RFC 3339 UTC.
    pub started_at: String,
    /// Wall-clock duration of the whole run.
    pub duration_ms: u64,
    /// Where and with what the run happened.
    pub environment: Environment,
    /// Counts over all scenarios and the overall verdict.
    pub summary: Summary,
    /// Counts per level, in the suite's level order.
    pub levels: Vec<LevelSummary>,
    /// Every scenario in run order.
    pub scenarios: Vec<ScenarioReport>,
    /// With `possim certify --defects`: which scenarios each planted defect fails (the run
    /// above is the clean one); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detection>,
    /// With `possim certify --shard K/N`: which slice of which selection this run is (what
    /// `possim report merge` needs to put the shards back together); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

/// One shard of a run split with `possim certify --shard K/N`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Shard {
    /// K, from 1.
    pub index: usize,
    /// N.
    pub total: usize,
    /// The ids of every selected scenario of the whole run (all shards), in run order.
    pub plan: Vec<String>,
}

/// A suite's detection matrix: the POS run clean (the report's scenarios) and once per planted
/// defect; a defect is caught when the suite refuses to certify the POS that has it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// Defects planted, one run each.
    pub planted: usize,
    /// Defects the suite caught (their run was not certified).
    pub caught: usize,
    /// Whether the clean POS was certified; an audit only counts when it was.
    pub clean_certified: bool,
    /// One entry per defect, in the order they were planted.
    pub defects: Vec<DefectRun>,
}

/// One defect's run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DefectRun {
    /// The defect's name (`skip-draft`).
    pub defect: String,
    /// The POS command with the defect planted.
    pub pos: String,
    /// Whether the suite refused to certify it.
    pub caught: bool,
    /// Counts of this run.
    pub summary: Summary,
    /// The scenarios that did not pass, in run order.
    pub scenarios: Vec<DefectScenario>,
}

/// A scenario that did not pass with a defect planted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DefectScenario {
    /// Scenario id.
    pub id: String,
    /// `fail`, `error` or `skipped`.
    pub verdict: Verdict,
    /// Whether the scenario is required.
    pub required: bool,
    /// The first difference (or the error), in one line.
    pub reason: String,
}

/// A defect run in which every scenario is an error (none passed, none failed on a difference):
/// the POS command did not work with the defect's words at all — typically a till refusing a
/// defect name it does not know. Such a defect was not planted, so it never counts as caught.
fn not_planted(run: &RunReport) -> bool {
    !run.scenarios.is_empty() && run.scenarios.iter().all(|s| s.verdict == Verdict::Error)
}

impl Detection {
    /// Builds the matrix from the clean run and one run per defect (name, POS, report).
    pub fn of(clean: &RunReport, runs: &[(String, String, RunReport)]) -> Self {
        let defects: Vec<DefectRun> = runs
            .iter()
            .map(|(defect, pos, run)| DefectRun {
                defect: defect.clone(),
                pos: pos.clone(),
                caught: run.summary.verdict != Verdict::Pass && !not_planted(run),
                summary: run.summary.clone(),
                scenarios: run
                    .scenarios
                    .iter()
                    .filter(|s| s.verdict != Verdict::Pass)
                    .map(|s| DefectScenario {
                        id: s.id.clone(),
                        verdict: s.verdict,
                        required: s.required,
                        reason: s.first_reason(),
                    })
                    .collect(),
            })
            .collect();
        Detection {
            planted: defects.len(),
            caught: defects.iter().filter(|d| d.caught).count(),
            clean_certified: clean.summary.verdict == Verdict::Pass,
            defects,
        }
    }

    /// The suite passes its audit: the clean POS certified, every defect caught.
    pub fn complete(&self) -> bool {
        self.clean_certified && self.caught == self.planted
    }

    /// `caught/planted (NN %)`.
    pub fn score(&self) -> String {
        // No defect planted: nothing to miss.
        let percent = (self.caught * 100).checked_div(self.planted).unwrap_or(100);
        format!("{}/{} defects caught ({percent} %)", self.caught, self.planted)
    }
}

impl ScenarioReport {
    /// Why the scenario did not pass, in one line: its first difference in full, else its
    /// message.
    pub fn first_reason(&self) -> String {
        match self.diffs.first() {
            Some(diff) => {
                let more = match self.diffs.len() - 1 {
                    0 => String::new(),
                    1 => " (and 1 more difference)".to_owned(),
                    n => format!(" (and {n} more differences)"),
                };
                format!(
                    "[{}] {}: expected {}, got {}{more}",
                    diff.step, diff.path, diff.expected, diff.got
                )
                .replace('\n', " ")
            }
            None => self
                .message
                .clone()
                .unwrap_or_else(|| self.verdict.label().to_ascii_lowercase())
                .replace('\n', " "),
        }
    }
}

/// The circumstances of a run, so a certificate can be reproduced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// `possim` version.
    pub possim_version: String,
    /// Operating system and architecture of the machine that ran possim.
    pub platform: String,
    /// Driver name: `exec`, `http` or `manual`.
    pub driver: String,
    /// The POS under test as the driver reaches it (command line or adapter URL).
    pub pos: String,
    /// `in-process` or the admin URL of the attached possim.
    pub target: String,
    /// Suites run, by name.
    pub suites: Vec<String>,
    /// The mock endpoints the POS talked to.
    pub providers: Vec<ProviderEndpoint>,
}

/// A mock endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProviderEndpoint {
    /// Provider name (`tyrios`).
    pub name: String,
    /// Base URL.
    pub url: String,
}

/// Outcome of one scenario.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The POS behaved as the golden flow says.
    #[default]
    Pass,
    /// The POS's traffic, answer or the provider state differ from the golden flow.
    Fail,
    /// The scenario could not be judged (the POS crashed, timed out, or the set-up failed).
    Error,
    /// Not run (an operator skipped it).
    Skipped,
}

impl Verdict {
    /// Upper-case label for text reports.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Skipped => "SKIPPED",
        }
    }
}

/// Counts over a set of scenarios.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Scenarios in the run.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Errored.
    pub errored: usize,
    /// Skipped.
    pub skipped: usize,
    /// Required scenarios that did not pass (failed, errored or skipped): 0 means certified.
    pub required_not_passed: usize,
    /// `pass` when every required scenario passed, else `fail`.
    pub verdict: Verdict,
}

/// Counts for one level of a suite.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LevelSummary {
    /// Suite the level belongs to.
    pub suite: String,
    /// Level name (`minimum`, `full`).
    pub name: String,
    /// What the level certifies.
    pub description: String,
    /// Counts.
    #[serde(flatten)]
    pub counts: Summary,
}

/// One scenario's verdict with the evidence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioReport {
    /// Scenario id (`tyrios/sale-card-points`).
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Suite name.
    pub suite: String,
    /// Level within the suite.
    pub level: String,
    /// Whether the level verdict depends on it.
    pub required: bool,
    /// Tags of the golden flow.
    pub tags: Vec<String>,
    /// Where the golden flow's expected values come from (seed section, spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// Time from reset to verdict.
    pub duration_ms: u64,
    /// The business action handed to the POS.
    pub action: Value,
    /// What the POS reported back, when it reported anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why the scenario errored or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Every difference between the golden flow and what happened.
    pub diffs: Vec<Diff>,
    /// The POS's traffic as the mocks saw it.
    pub exchanges: Vec<ExchangeView>,
    /// The POS's diagnostic output (stderr of the `exec` driver), cut to a few kilobytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Deviations from the protocol a mock noticed in the POS's traffic (the ZVT terminal's
    /// lenient/strict findings); reported, and failing only where the mock refused them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

/// One difference: where, what the golden flow expected, what happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    /// The step it concerns: an exchange's name, `result`, `state`, `unexpected` or `forbidden`.
    pub step: String,
    /// Path inside the step, e.g. `request.body.totalAmount`.
    pub path: String,
    /// What the golden flow expected, in words or as JSON.
    pub expected: String,
    /// What happened.
    pub got: String,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}\n    expected: {}\n    got:      {}",
            self.step, self.path, self.expected, self.got
        )
    }
}

/// An exchange as shown in reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeView {
    /// Journal id.
    pub id: u64,
    /// Position in the scenario's traffic, from 1: what differences call `exchange #N`.
    #[serde(default)]
    pub number: usize,
    /// Provider that served it.
    pub provider: String,
    /// HTTP method.
    pub method: String,
    /// Path with query.
    pub target: String,
    /// Response status; absent when the connection was closed without an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The golden-flow step it was matched to, `unexpected`, or absent when tolerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The fault rule that shaped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Request body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// Response body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// True when a difference concerns this exchange.
    pub problem: bool,
    /// A fault cut the answer off (`truncate`): the POS received only part of the response body
    /// shown, then the connection closed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_off: bool,
}

impl ScenarioReport {
    /// Where a difference is, as a reader looks for it: the exchange's number in the scenario's
    /// traffic and the golden flow's step name before the path
    /// (`exchange 3 "execute the pos transaction" response.body.redeemedPoints`), an exchange no
    /// step accounts for by number (`exchange 16 (unexpected)`), a step that was never sent by
    /// name (`"simulate the sale" request`), the POS's answer and the provider state as they are
    /// (`result status`).
    pub fn locate(&self, diff: &Diff) -> String {
        if let Some(number) = diff.path.strip_prefix("exchange #") {
            return format!("exchange {number} ({})", diff.step);
        }
        let tail = if diff.path.is_empty() {
            String::new()
        } else {
            format!(" {}", diff.path)
        };
        if let Some(exchange) = self
            .exchanges
            .iter()
            .find(|x| x.step.as_deref() == Some(diff.step.as_str()))
        {
            return format!("exchange {} \"{}\"{tail}", exchange.number, diff.step);
        }
        match diff.step.as_str() {
            "result" | "state" => format!("{}{tail}", diff.step),
            step => format!("\"{step}\"{tail}"),
        }
    }
}

impl Summary {
    /// Counts `scenarios`.
    pub fn of<'a>(scenarios: impl IntoIterator<Item = &'a ScenarioReport>) -> Self {
        let mut summary = Summary {
            verdict: Verdict::Pass,
            ..Summary::default()
        };
        for scenario in scenarios {
            summary.total += 1;
            match scenario.verdict {
                Verdict::Pass => summary.passed += 1,
                Verdict::Fail => summary.failed += 1,
                Verdict::Error => summary.errored += 1,
                Verdict::Skipped => summary.skipped += 1,
            }
            if scenario.required && scenario.verdict != Verdict::Pass {
                summary.required_not_passed += 1;
            }
        }
        if summary.required_not_passed > 0 {
            summary.verdict = Verdict::Fail;
        }
        summary
    }
}

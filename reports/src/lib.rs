//! Reports of a conformance run, for the three audiences of `possim certify`:
//!
//! - CI gates read **JUnit XML** (`junit.xml`): one testcase per scenario, the diff as failure text.
//! - Scripts and dashboards read **JSON** (`report.json`, schema [`model::SCHEMA`]).
//! - Certification teams read the self-contained **HTML** report (`report.html`) and the short
//!   **Markdown** summary (`summary.md`, also printed on stdout).
//!
//! Rendering is pure (a [`model::RunReport`] in, text out); [`write_all`] is the only I/O.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod model;

use std::path::{Path, PathBuf};

pub use model::{
    DefectRun, DefectScenario, Detection, Diff, Environment, ExchangeView, LevelSummary, ProviderEndpoint, RunReport,
    ScenarioReport, Shard, Summary, Verdict,
};

/// The JSON report, pretty-printed with a final newline.
pub fn json(report: &RunReport) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Writes `junit.xml`, `report.json`, `report.html` and `summary.md` into `dir` (created when
/// missing) and returns the paths written.
pub fn write_all(report: &RunReport, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files = [
        ("junit.xml", junit::render(report)),
        ("report.json", json(report)),
        ("report.html", html::render(report)),
        ("summary.md", markdown::render(report)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// Seconds with millisecond precision, as JUnit and the text reports show durations.
pub(crate) fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

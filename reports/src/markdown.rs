//! The short Markdown summary: printed on stdout after a run and written as `summary.md`, so it
//! also reads well pasted into a merge request or a CI job summary.

use crate::model::{RunReport, Verdict};
use crate::seconds;

/// At most this many differences are listed per scenario; the full list is in the other reports.
const MAX_DIFFS_SHOWN: usize = 5;

/// Renders the summary.
pub fn render(report: &RunReport) -> String {
    let s = &report.summary;
    let required_total = report.scenarios.iter().filter(|x| x.required).count();
    let mut out = format!(
        "## {} — {}\n\n{} of {} required scenarios passed ({} scenarios in all: {} passed, {} failed, {} errors, {} skipped) in {} s.\n\n",
        report.title,
        if s.verdict == Verdict::Pass {
            "CERTIFIED"
        } else {
            "NOT CERTIFIED"
        },
        required_total - s.required_not_passed,
        required_total,
        s.total,
        s.passed,
        s.failed,
        s.errored,
        s.skipped,
        seconds(report.duration_ms),
    );
    out.push_str("| suite | level | passed | failed | errors | skipped |\n|---|---|---:|---:|---:|---:|\n");
    for level in &report.levels {
        let c = &level.counts;
        out.push_str(&format!(
            "| {} | {} | {}/{} | {} | {} | {} |\n",
            level.suite, level.name, c.passed, c.total, c.failed, c.errored, c.skipped
        ));
    }
    let problems: Vec<_> = report.scenarios.iter().filter(|x| x.verdict != Verdict::Pass).collect();
    if !problems.is_empty() {
        out.push_str("\n### Not passed\n\n");
        for scenario in problems {
            out.push_str(&format!(
                "- **{}** {} — {}{}\n",
                scenario.verdict.label(),
                scenario.id,
                scenario.title,
                if scenario.required { "" } else { " (optional)" }
            ));
            if let Some(message) = &scenario.message {
                out.push_str(&format!("  - {}\n", message.replace('\n', " ")));
            }
            for diff in scenario.diffs.iter().take(MAX_DIFFS_SHOWN) {
                out.push_str(&format!(
                    "  - `[{}] {}`: expected {}, got {}\n",
                    diff.step, diff.path, diff.expected, diff.got
                ));
            }
            if scenario.diffs.len() > MAX_DIFFS_SHOWN {
                out.push_str(&format!(
                    "  - … and {} more (see report.html)\n",
                    scenario.diffs.len() - MAX_DIFFS_SHOWN
                ));
            }
        }
    }
    let with_findings: Vec<_> = report.scenarios.iter().filter(|x| !x.findings.is_empty()).collect();
    if !with_findings.is_empty() {
        out.push_str("\n### Protocol findings\n\n");
        for scenario in with_findings {
            for finding in &scenario.findings {
                out.push_str(&format!("- {}: {}\n", scenario.id, finding.replace('\n', " ")));
            }
        }
    }
    out
}

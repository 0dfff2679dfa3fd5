//! The short Markdown summary: printed on stdout after a run and written as `summary.md`, so it
//! also reads well pasted into a merge request or a CI job summary.

use crate::model::{Detection, RunReport, Verdict};
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
                    "  - `{}`: expected {}, got {}\n",
                    scenario.locate(diff),
                    diff.expected,
                    diff.got
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
    if let Some(detection) = &report.detection {
        detection_section(&mut out, detection);
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

/// The detection matrix: per planted defect, whether the suite caught it and where.
fn detection_section(out: &mut String, detection: &Detection) {
    out.push_str(&format!(
        "\n### Detection matrix — {}{}\n\n",
        detection.score(),
        if detection.clean_certified {
            ""
        } else {
            "; the clean POS was NOT certified, so the matrix proves nothing"
        }
    ));
    out.push_str("| defect | caught | scenarios that fail it |\n|---|---|---|\n");
    for run in &detection.defects {
        let scenarios: Vec<String> = run
            .scenarios
            .iter()
            .map(|s| match s.verdict {
                Verdict::Fail => s.id.clone(),
                other => format!("{} ({})", s.id, other.label().to_ascii_lowercase()),
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            run.defect,
            if run.caught { "yes" } else { "**NO**" },
            if scenarios.is_empty() {
                "—".to_owned()
            } else {
                scenarios.join(", ")
            }
        ));
    }
}

//! JUnit XML in the dialect Jenkins, GitLab and GitHub test reporters read: one `<testsuite>` per
//! suite level, one `<testcase>` per scenario, the diff as the failure's text.
//!
//! Optional scenarios that do not pass are reported as failures too (the truth), but with
//! `type="optional"`; only required ones decide possim's exit code.

use quick_xml::escape::escape;

use crate::model::{RunReport, ScenarioReport, Summary, Verdict};
use crate::seconds;

/// Renders the whole run.
pub fn render(report: &RunReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let s = &report.summary;
    out.push_str(&format!(
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">\n",
        escape(report.title.as_str()),
        s.total,
        s.failed,
        s.errored,
        s.skipped,
        seconds(report.duration_ms),
        escape(report.started_at.as_str()),
    ));
    // Group by suite/level in first-appearance order, as the run executed them.
    let mut groups: Vec<(String, Vec<&ScenarioReport>)> = Vec::new();
    for scenario in &report.scenarios {
        let key = format!("{}/{}", scenario.suite, scenario.level);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(scenario),
            None => groups.push((key, vec![scenario])),
        }
    }
    for (name, scenarios) in groups {
        let counts = Summary::of(scenarios.iter().copied());
        let time: u64 = scenarios.iter().map(|s| s.duration_ms).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">\n",
            escape(name.as_str()),
            counts.total,
            counts.failed,
            counts.errored,
            counts.skipped,
            seconds(time)
        ));
        for scenario in scenarios {
            testcase(&mut out, &name, scenario);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase(out: &mut String, classname: &str, scenario: &ScenarioReport) {
    let name = if scenario.required {
        format!("{}: {}", scenario.id, scenario.title)
    } else {
        format!("{}: {} (optional)", scenario.id, scenario.title)
    };
    out.push_str(&format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        escape(classname.replace('/', ".").as_str()),
        escape(name.as_str()),
        seconds(scenario.duration_ms)
    ));
    let kind = if scenario.required { "required" } else { "optional" };
    match scenario.verdict {
        Verdict::Pass if scenario.findings.is_empty() => {
            out.push_str("/>\n");
            return;
        }
        Verdict::Pass => out.push_str(">\n"),
        Verdict::Fail => {
            let text: Vec<String> = scenario.diffs.iter().map(|d| d.to_string()).collect();
            // The first difference in full: a CI summary often shows nothing else.
            let message = scenario.first_reason();
            out.push_str(&format!(
                ">\n      <failure type=\"{kind}\" message=\"{}\">{}</failure>\n",
                escape(message.as_str()),
                escape(text.join("\n").as_str())
            ));
        }
        Verdict::Error => {
            let message = scenario.message.clone().unwrap_or_else(|| "error".into());
            out.push_str(&format!(
                ">\n      <error type=\"{kind}\" message=\"{}\">{}</error>\n",
                escape(message.as_str()),
                escape(message.as_str())
            ));
        }
        Verdict::Skipped => {
            let message = scenario.message.clone().unwrap_or_else(|| "skipped".into());
            out.push_str(&format!(
                ">\n      <skipped message=\"{}\"/>\n",
                escape(message.as_str())
            ));
        }
    }
    if !scenario.findings.is_empty() {
        out.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            escape(scenario.findings.join("\n").as_str())
        ));
    }
    if let Some(log) = &scenario.log {
        out.push_str(&format!("      <system-err>{}</system-err>\n", escape(log.as_str())));
    }
    out.push_str("    </testcase>\n");
}

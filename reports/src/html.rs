//! The HTML report for certification teams: one self-contained file (inline CSS, no scripts, no
//! external resources) that can be archived with a certificate and opened years later.
//!
//! Layout: the verdict, a table per level, the environment, then one section per scenario with
//! the action, the POS's answer, the differences, and the exchanges with the rows that a
//! difference concerns highlighted. Failed scenarios are expanded, passed ones collapsed; inside,
//! every body is folded to its first line (a provider's full answer can be pages long), and an
//! answer a fault cut off says so.

use quick_xml::escape::escape;

use crate::model::{Detection, RunReport, ScenarioReport, Verdict};
use crate::seconds;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:2rem}h3{font-size:1rem;display:inline}
table{border-collapse:collapse;width:100%;margin:.5rem 0}table.exchanges{table-layout:fixed}td code{word-break:break-all}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right}code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:24rem;margin:.2rem 0;white-space:pre-wrap;word-break:break-all}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.8rem;font-weight:600;font-size:.8rem;color:#fff}
.pass{background:#1a7f37}.fail{background:#cf222e}.error{background:#9a6700}.skipped{background:#6e7781}
.verdict{font-size:1.1rem;padding:.2rem .8rem}
tr.problem td{background:#ffebe9}details{border:1px solid #d0d7de;border-radius:6px;margin:.6rem 0;padding:.4rem .8rem}
th.defect{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}td.hit{background:#ffebe9;text-align:center;font-weight:600}
details.body{border:0;margin:.1rem 0;padding:0}details.body summary{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.cut{color:#cf222e;font-weight:600}
summary{cursor:pointer}.muted{color:#57606a}.diff td:nth-child(3){color:#1a7f37}.diff td:nth-child(4){color:#cf222e}
";

fn badge(verdict: Verdict) -> String {
    let class = match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    };
    format!("<span class=\"badge {class}\">{}</span>", verdict.label())
}

fn e(text: &str) -> String {
    escape(text).into_owned()
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Pretty-prints a body when it is JSON, otherwise returns it as it is.
fn body_text(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) if value.is_object() || value.is_array() => pretty(&value),
        _ => text.to_owned(),
    }
}

/// How much of a body its folded summary shows.
const BODY_PREVIEW_CHARS: usize = 100;

/// A body folded: its first line (shortened) and size as the summary, the whole text inside.
fn folded_body(label: &str, text: &str) -> String {
    let full = body_text(text);
    let first_line = text.lines().next().unwrap_or("");
    let preview: String = first_line.chars().take(BODY_PREVIEW_CHARS).collect();
    let more = if preview.len() < text.len() { " …" } else { "" };
    format!(
        "<details class=\"body\"><summary><code>{} {}{more}</code> <span class=\"muted\">({} bytes)</span></summary><pre>{}</pre></details>",
        e(label),
        e(&preview),
        text.len(),
        e(&full)
    )
}

/// Renders the whole report.
pub fn render(report: &RunReport) -> String {
    let s = &report.summary;
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!("<title>{} — possim report</title>\n", e(&report.title)));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&format!(
        "<p class=\"muted\">possim conformance report</p>\n<h1>{}</h1>\n<p><span class=\"badge verdict {}\">{}</span> {} of {} scenarios passed; {} required scenario(s) not passed. Started {}, took {} s.</p>\n",
        e(&report.title),
        if s.verdict == Verdict::Pass { "pass" } else { "fail" },
        if s.verdict == Verdict::Pass { "CERTIFIED" } else { "NOT CERTIFIED" },
        s.passed,
        s.total,
        s.required_not_passed,
        e(&report.started_at),
        seconds(report.duration_ms)
    ));

    out.push_str("<h2>Levels</h2>\n<table>\n<tr><th>suite</th><th>level</th><th>what it certifies</th><th>passed</th><th>failed</th><th>errors</th><th>skipped</th><th>verdict</th></tr>\n");
    for level in &report.levels {
        let c = &level.counts;
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}/{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
            e(&level.suite),
            e(&level.name),
            e(&level.description),
            c.passed,
            c.total,
            c.failed,
            c.errored,
            c.skipped,
            badge(c.verdict)
        ));
    }
    out.push_str("</table>\n");

    if let Some(detection) = &report.detection {
        detection_section(&mut out, report, detection);
    }

    let env = &report.environment;
    out.push_str("<h2>Environment</h2>\n<table>\n");
    let providers: Vec<String> = env.providers.iter().map(|p| format!("{} {}", p.name, p.url)).collect();
    for (key, value) in [
        ("possim", env.possim_version.clone()),
        ("platform", env.platform.clone()),
        ("driver", env.driver.clone()),
        ("POS under test", env.pos.clone()),
        ("mocks", env.target.clone()),
        ("suites", env.suites.join(", ")),
        ("endpoints", providers.join(", ")),
    ] {
        out.push_str(&format!("<tr><th>{key}</th><td><code>{}</code></td></tr>\n", e(&value)));
    }
    out.push_str("</table>\n");

    out.push_str("<h2>Scenarios</h2>\n");
    for scenario in &report.scenarios {
        scenario_section(&mut out, scenario);
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The detection matrix: a row per scenario of the clean run, a column per planted defect, a
/// mark where the defect made the scenario fail (✗) or error (E); the last row says whether the
/// suite caught the defect.
fn detection_section(out: &mut String, report: &RunReport, detection: &Detection) {
    out.push_str(&format!(
        "<h2>Detection matrix</h2>\n<p><span class=\"badge verdict {}\">{}</span> {}.{}</p>\n",
        if detection.complete() { "pass" } else { "fail" },
        if detection.complete() {
            "EVERY DEFECT CAUGHT"
        } else {
            "INCOMPLETE"
        },
        e(&detection.score()),
        if detection.clean_certified {
            ""
        } else {
            " The clean POS was not certified, so the matrix proves nothing."
        }
    ));
    out.push_str("<table class=\"matrix\">\n<tr><th>scenario</th>");
    for run in &detection.defects {
        out.push_str(&format!("<th class=\"defect\">{}</th>", e(&run.defect)));
    }
    out.push_str("</tr>\n");
    for scenario in &report.scenarios {
        out.push_str(&format!("<tr><td><code>{}</code></td>", e(&scenario.id)));
        for run in &detection.defects {
            match run.scenarios.iter().find(|s| s.id == scenario.id) {
                Some(hit) => out.push_str(&format!(
                    "<td class=\"hit\" title=\"{}\">{}</td>",
                    e(&hit.reason),
                    if hit.verdict == Verdict::Fail { "✗" } else { "E" }
                )),
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("<tr><th>caught</th>");
    for run in &detection.defects {
        out.push_str(if run.caught {
            "<th><span class=\"badge pass\">yes</span></th>"
        } else {
            "<th><span class=\"badge fail\">NO</span></th>"
        });
    }
    out.push_str("</tr>\n</table>\n");
}

fn scenario_section(out: &mut String, scenario: &ScenarioReport) {
    let open = if scenario.verdict == Verdict::Pass { "" } else { " open" };
    out.push_str(&format!(
        "<details id=\"{}\"{open}>\n<summary>{} <h3>{}</h3> — {} <span class=\"muted\">({} / {}{}, {} ms)</span></summary>\n",
        e(&scenario.id),
        badge(scenario.verdict),
        e(&scenario.id),
        e(&scenario.title),
        e(&scenario.suite),
        e(&scenario.level),
        if scenario.required { "" } else { ", optional" },
        scenario.duration_ms
    ));
    if let Some(message) = &scenario.message {
        out.push_str(&format!("<p><strong>{}</strong></p>\n", e(message)));
    }
    if let Some(source) = &scenario.source {
        out.push_str(&format!("<p class=\"muted\">Expected values from: {}</p>\n", e(source)));
    }
    if !scenario.findings.is_empty() {
        out.push_str("<p>Protocol findings:</p>\n<ul>\n");
        for finding in &scenario.findings {
            out.push_str(&format!("<li>{}</li>\n", e(finding)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str(&format!(
        "<p>Action handed to the POS:</p>\n<pre>{}</pre>\n",
        e(&pretty(&scenario.action))
    ));
    match &scenario.result {
        Some(result) => out.push_str(&format!(
            "<p>The POS reported:</p>\n<pre>{}</pre>\n",
            e(&pretty(result))
        )),
        None => out.push_str("<p class=\"muted\">The POS reported nothing.</p>\n"),
    }
    if !scenario.diffs.is_empty() {
        out.push_str("<table class=\"diff\">\n<tr><th>where</th><th>expected</th><th>got</th></tr>\n");
        for diff in &scenario.diffs {
            out.push_str(&format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>\n",
                e(&scenario.locate(diff)),
                e(&diff.expected),
                e(&diff.got)
            ));
        }
        out.push_str("</table>\n");
    }
    if scenario.exchanges.is_empty() {
        out.push_str("<p class=\"muted\">No traffic reached the mocks.</p>\n");
    } else {
        out.push_str("<table class=\"exchanges\">\n<colgroup><col style=\"width:3rem\"><col style=\"width:14rem\"><col style=\"width:24%\"><col style=\"width:5rem\"><col></colgroup>\n<tr><th>#</th><th>step</th><th>request</th><th>status</th><th>request and answer bodies</th></tr>\n");
        for x in &scenario.exchanges {
            let status = match x.status {
                None => "no answer".to_owned(),
                Some(s) if x.cut_off => format!("{s}, cut off"),
                Some(s) => s.to_string(),
            };
            let mut bodies = String::new();
            if let Some(body) = &x.request_body {
                bodies.push_str(&folded_body("→ sent", body));
            }
            if x.cut_off {
                bodies.push_str(
                    "<p class=\"cut\">The answer was cut off by a fault: the POS received only part of the body below, then the connection closed.</p>",
                );
            }
            if let Some(body) = &x.response_body {
                let label = if x.cut_off {
                    "← would have answered"
                } else {
                    "← answered"
                };
                bodies.push_str(&folded_body(label, body));
            }
            let fault = x
                .fault
                .as_ref()
                .map(|f| format!("<br><span class=\"muted\">fault: {}</span>", e(f)))
                .unwrap_or_default();
            out.push_str(&format!(
                "<tr{}><td class=\"n\">{}</td><td>{}</td><td><code>{} {} {}</code>{fault}</td><td>{}</td><td>{bodies}</td></tr>\n",
                if x.problem { " class=\"problem\"" } else { "" },
                x.number,
                e(x.step.as_deref().unwrap_or("—")),
                e(&x.provider),
                e(&x.method),
                e(&x.target),
                e(&status)
            ));
        }
        out.push_str("</table>\n");
    }
    if let Some(log) = &scenario.log {
        out.push_str(&format!("<p>POS output:</p>\n<pre>{}</pre>\n", e(log)));
    }
    out.push_str("</details>\n");
}

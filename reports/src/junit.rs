//! JUnit XML in the dialect Jenkins, GitLab and GitHub test reporters read: one `<testsuite>` per
//! suite level, one `<testcase>` per scenario, the diff as the failure's text.
//!
//! Optional scenarios that do not pass are reported as failures too (the truth), but with
//! `type="optional"`; only required ones decide possim's exit code.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use crate::model::{RunReport, ScenarioReport, Summary, Verdict};
use crate::seconds;

/// Renders the whole run: two spaces of indentation per level, text content unindented (it is
/// the message), a final newline.
pub fn render(report: &RunReport) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    let _ = write_run(&mut writer, report);
    // Every piece written is a `&str` or escaped ASCII, so the bytes are UTF-8.
    let mut xml = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    xml.push('\n');
    xml
}

fn write_run(w: &mut Writer<Vec<u8>>, report: &RunReport) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let s = &report.summary;
    // Group by suite/level in first-appearance order, as the run executed them.
    let mut groups: Vec<(String, Vec<&ScenarioReport>)> = Vec::new();
    for scenario in &report.scenarios {
        let key = format!("{}/{}", scenario.suite, scenario.level);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(scenario),
            None => groups.push((key, vec![scenario])),
        }
    }
    w.create_element("testsuites")
        .with_attributes([
            ("name", report.title.as_str()),
            ("tests", s.total.to_string().as_str()),
            ("failures", s.failed.to_string().as_str()),
            ("errors", s.errored.to_string().as_str()),
            ("skipped", s.skipped.to_string().as_str()),
            ("time", seconds(report.duration_ms).as_str()),
            ("timestamp", report.started_at.as_str()),
        ])
        .write_inner_content(|w| {
            for (name, scenarios) in &groups {
                let counts = Summary::of(scenarios.iter().copied());
                let time: u64 = scenarios.iter().map(|s| s.duration_ms).sum();
                w.create_element("testsuite")
                    .with_attributes([
                        ("name", name.as_str()),
                        ("tests", counts.total.to_string().as_str()),
                        ("failures", counts.failed.to_string().as_str()),
                        ("errors", counts.errored.to_string().as_str()),
                        ("skipped", counts.skipped.to_string().as_str()),
                        ("time", seconds(time).as_str()),
                    ])
                    .write_inner_content(|w| {
                        for scenario in scenarios {
                            testcase(w, name, scenario)?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    Ok(())
}

fn testcase(w: &mut Writer<Vec<u8>>, classname: &str, scenario: &ScenarioReport) -> io::Result<()> {
    let name = if scenario.required {
        format!("{}: {}", scenario.id, scenario.title)
    } else {
        format!("{}: {} (optional)", scenario.id, scenario.title)
    };
    let element = w.create_element("testcase").with_attributes([
        ("classname", classname.replace('/', ".").as_str()),
        ("name", name.as_str()),
        ("time", seconds(scenario.duration_ms).as_str()),
    ]);
    if scenario.verdict == Verdict::Pass && scenario.findings.is_empty() {
        element.write_empty()?;
        return Ok(());
    }
    let kind = if scenario.required { "required" } else { "optional" };
    element.write_inner_content(|w| {
        match scenario.verdict {
            Verdict::Pass => {}
            Verdict::Fail => {
                let text: Vec<String> = scenario.diffs.iter().map(|d| d.to_string()).collect();
                // The first difference in full: a CI summary often shows nothing else.
                let message = scenario.first_reason();
                w.create_element("failure")
                    .with_attributes([("type", kind), ("message", message.as_str())])
                    .write_text_content(BytesText::new(&text.join("\n")))?;
            }
            Verdict::Error => {
                let message = scenario.message.clone().unwrap_or_else(|| "error".into());
                w.create_element("error")
                    .with_attributes([("type", kind), ("message", message.as_str())])
                    .write_text_content(BytesText::new(&message))?;
            }
            Verdict::Skipped => {
                let message = scenario.message.clone().unwrap_or_else(|| "skipped".into());
                w.create_element("skipped")
                    .with_attribute(("message", message.as_str()))
                    .write_empty()?;
            }
        }
        if !scenario.findings.is_empty() {
            w.create_element("system-out")
                .write_text_content(BytesText::new(&scenario.findings.join("\n")))?;
        }
        if let Some(log) = &scenario.log {
            w.create_element("system-err").write_text_content(BytesText::new(log))?;
        }
        Ok(())
    })?;
    Ok(())
}

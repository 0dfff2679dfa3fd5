//! Pins every report format on one fixed run: a passing scenario, a failing one with diffs and a
//! highlighted exchange, an errored optional one, and text that needs escaping in XML and HTML.

use possim_reports::model::SCHEMA;
use possim_reports::{
    Detection, Diff, Environment, ExchangeView, LevelSummary, ProviderEndpoint, RunReport, ScenarioReport, Summary,
    Verdict,
};
use serde_json::json;

fn scenario(id: &str, level: &str, verdict: Verdict, required: bool) -> ScenarioReport {
    ScenarioReport {
        id: id.into(),
        title: format!("Title of {id}"),
        suite: "tyrios".into(),
        level: level.into(),
        required,
        tags: vec!["sale".into()],
        source: Some("seed 001, \"Standardtransaktion mit Benutzer-Hash\"".into()),
        verdict,
        duration_ms: 12,
        action: json!({"type": "sale", "amount": "33.00", "productGroup": "Hose"}),
        result: Some(json!({"status": "completed"})),
        message: None,
        diffs: Vec::new(),
        exchanges: Vec::new(),
        log: None,
        findings: Vec::new(),
    }
}

fn fixture() -> RunReport {
    let mut pass = scenario("tyrios/sale-card-points", "minimum", Verdict::Pass, true);
    pass.findings = vec!["finding (lenient, accepted): BMP 22: variable-length prefix <without> F nibbles".into()];
    let mut fail = scenario("tyrios/sale-draft-ok-final-refused", "full", Verdict::Fail, true);
    fail.diffs = vec![
        Diff {
            step: "result".into(),
            path: "status".into(),
            expected: "\"refused\"".into(),
            got: "\"completed\"".into(),
        },
        Diff {
            step: "forbidden".into(),
            path: "exchange #2".into(),
            expected: "no second final <pos> & no retry".into(),
            got: "POST /BonusPointManagement/BonusPointTransaction/pos".into(),
        },
    ];
    fail.exchanges = vec![
        ExchangeView {
            id: 6,
            number: 1,
            provider: "tyrios".into(),
            method: "POST".into(),
            target: "/BonusPointManagement/BonusPointTransaction/pos".into(),
            status: Some(400),
            step: Some("execute the pos transaction".into()),
            fault: Some("another till (competingChange)".into()),
            request_body: Some(r#"{"UserData":"UQBUFDJALK4WXYC","totalAmount":33}"#.into()),
            response_body: Some(r#"{"error":"Exception","message":"Nicht genügend Punkte"}"#.into()),
            problem: false,
            cut_off: false,
        },
        ExchangeView {
            id: 7,
            number: 2,
            provider: "tyrios".into(),
            method: "POST".into(),
            target: "/BonusPointManagement/BonusPointTransaction/pos".into(),
            status: None,
            step: Some("forbidden".into()),
            fault: None,
            request_body: None,
            response_body: None,
            problem: true,
            cut_off: false,
        },
    ];
    fail.log = Some("tyrios POST /BonusPointTransaction/pos → 400".into());
    let mut error = scenario("tyrios/show-transactions", "full", Verdict::Error, false);
    error.result = None;
    error.message = Some("the POS did not finish within 15000 ms (killed)".into());
    let scenarios = vec![pass, fail, error];
    let level = |name: &str, description: &str| LevelSummary {
        suite: "tyrios".into(),
        name: name.into(),
        description: description.into(),
        counts: Summary::of(scenarios.iter().filter(|s| s.level == name)),
    };
    RunReport {
        schema: SCHEMA.into(),
        title: "TYRIOS eCash POS integration".into(),
        started_at: "2026-11-25T06:00:00.000Z".into(),
        duration_ms: 1234,
        environment: Environment {
            possim_version: "0.1.0".into(),
            platform: "linux-x86_64".into(),
            driver: "exec".into(),
            pos: "possim pos tyrios".into(),
            target: "in-process".into(),
            suites: vec!["tyrios".into()],
            providers: vec![ProviderEndpoint {
                name: "tyrios".into(),
                url: "http://127.0.0.1:40001".into(),
            }],
        },
        summary: Summary::of(&scenarios),
        levels: vec![
            level("minimum", "Creating transactions"),
            level("full", "Everything & more"),
        ],
        scenarios,
        detection: None,
        shard: None,
    }
}

/// The fixture as the clean run of an audit: one defect caught by two scenarios (a failure and
/// an error), one caught by none.
fn audit_fixture() -> RunReport {
    let clean = fixture();
    let mut caught = fixture();
    caught.scenarios[0].verdict = Verdict::Fail;
    caught.scenarios[0].diffs = vec![Diff {
        step: "simulate the pos transaction (draft)".into(),
        path: "request.body.totalAmount".into(),
        expected: "33".into(),
        got: "\"33.00\"".into(),
    }];
    caught.summary = Summary::of(&caught.scenarios);
    let mut missed = fixture();
    missed.scenarios[1].verdict = Verdict::Pass;
    missed.scenarios[1].diffs.clear();
    missed.scenarios[2].verdict = Verdict::Pass;
    missed.summary = Summary::of(&missed.scenarios);
    let runs = vec![
        (
            "amount-as-string".to_owned(),
            "possim pos tyrios --defect amount-as-string".to_owned(),
            caught,
        ),
        (
            "skip-draft".to_owned(),
            "possim pos tyrios --defect skip-draft".to_owned(),
            missed,
        ),
    ];
    let mut report = clean;
    // The fixture's clean run is not certified; an audit's report says the matrix proves nothing.
    report.detection = Some(Detection::of(&report, &runs));
    report
}

#[test]
fn detection_counts_a_defect_caught_when_its_run_is_not_certified() {
    let detection = audit_fixture().detection.unwrap();
    assert_eq!((detection.planted, detection.caught), (2, 1));
    assert!(
        !detection.clean_certified,
        "the fixture's clean run fails a required scenario"
    );
    assert!(!detection.complete());
    assert_eq!(detection.score(), "1/2 defects caught (50 %)");
    let caught = &detection.defects[0];
    let ids: Vec<&str> = caught.scenarios.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tyrios/sale-card-points",
            "tyrios/sale-draft-ok-final-refused",
            "tyrios/show-transactions"
        ]
    );
    assert_eq!(
        caught.scenarios[0].reason,
        "[simulate the pos transaction (draft)] request.body.totalAmount: expected 33, got \"33.00\""
    );
    assert!(!detection.defects[1].caught);
}

#[test]
fn a_defect_whose_every_scenario_errs_was_not_planted_and_is_not_caught() {
    // What a till does with a defect name it does not know: exit non-zero in every scenario.
    let clean = fixture();
    let mut refused = fixture();
    for s in &mut refused.scenarios {
        s.verdict = Verdict::Error;
        s.diffs.clear();
        s.message = Some("the POS exited with status 2".into());
    }
    refused.summary = Summary::of(&refused.scenarios);
    let runs = vec![(
        "no-such-defect".to_owned(),
        "till --defect no-such-defect".to_owned(),
        refused,
    )];
    let detection = Detection::of(&clean, &runs);
    assert_eq!((detection.planted, detection.caught), (1, 0));
    assert!(!detection.defects[0].caught);
}

#[test]
fn detection_markdown() {
    insta::assert_snapshot!(possim_reports::markdown::render(&audit_fixture()));
}

#[test]
fn detection_html() {
    insta::assert_snapshot!(possim_reports::html::render(&audit_fixture()));
}

#[test]
fn detection_json_round_trips() {
    let report = audit_fixture();
    let text = possim_reports::json(&report);
    let back: RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    insta::assert_snapshot!(text);
}

#[test]
fn summary_counts_required_scenarios_only_for_the_verdict() {
    let report = fixture();
    assert_eq!(report.summary.total, 3);
    assert_eq!(report.summary.passed, 1);
    assert_eq!(report.summary.failed, 1);
    assert_eq!(report.summary.errored, 1);
    // The errored scenario is optional: one required scenario did not pass.
    assert_eq!(report.summary.required_not_passed, 1);
    assert_eq!(report.summary.verdict, Verdict::Fail);
}

#[test]
fn junit() {
    insta::assert_snapshot!(possim_reports::junit::render(&fixture()));
}

#[test]
fn json_round_trips() {
    let report = fixture();
    let text = possim_reports::json(&report);
    let back: RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    insta::assert_snapshot!(text);
}

#[test]
fn markdown() {
    insta::assert_snapshot!(possim_reports::markdown::render(&fixture()));
}

#[test]
fn html() {
    insta::assert_snapshot!(possim_reports::html::render(&fixture()));
}

#[test]
fn junit_is_well_formed_xml() {
    let text = possim_reports::junit::render(&fixture());
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut depth = 0i32;
    let mut testcases = 0;
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) => {
                depth += 1;
                if e.name().as_ref() == b"testcase" {
                    testcases += 1;
                }
            }
            quick_xml::events::Event::Empty(e) if e.name().as_ref() == b"testcase" => testcases += 1,
            quick_xml::events::Event::End(_) => depth -= 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0);
    assert_eq!(testcases, 3);
}

#[test]
fn write_all_creates_the_four_files() {
    let dir = std::env::temp_dir().join(format!("possim-reports-test-{}", std::process::id()));
    let written = possim_reports::write_all(&fixture(), &dir).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["junit.xml", "report.json", "report.html", "summary.md"]);
    for path in &written {
        assert!(std::fs::metadata(path).unwrap().len() > 100, "{}", path.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Differences say where: the exchange's number and step name before the path, an unclaimed
/// exchange by number, the answer and a step never sent by name.
#[test]
fn differences_name_the_exchange_number_and_step() {
    let mut report = fixture();
    let fail = &mut report.scenarios[1];
    fail.diffs.push(Diff {
        step: "execute the pos transaction".into(),
        path: "response.body.redeemedPoints".into(),
        expected: "213".into(),
        got: "0".into(),
    });
    fail.diffs.push(Diff {
        step: "simulate the pos transaction (draft)".into(),
        path: "request".into(),
        expected: "POST …/pos?draft=true".into(),
        got: "not sent (at this point of the flow)".into(),
    });
    let fail = &report.scenarios[1];
    let located: Vec<String> = fail.diffs.iter().map(|d| fail.locate(d)).collect();
    assert_eq!(
        located,
        [
            "result status",
            "exchange 2 (forbidden)",
            "exchange 1 \"execute the pos transaction\" response.body.redeemedPoints",
            "\"simulate the pos transaction (draft)\" request",
        ]
    );
    let markdown = possim_reports::markdown::render(&report);
    assert!(
        markdown.contains(
            "- `exchange 1 \"execute the pos transaction\" response.body.redeemedPoints`: expected 213, got 0"
        ),
        "{markdown}"
    );
    let html = possim_reports::html::render(&report);
    assert!(
        html.contains(
            "<td><code>exchange 1 &quot;execute the pos transaction&quot; response.body.redeemedPoints</code></td>"
        ),
        "{html}"
    );
}

/// Bodies are folded to a one-line preview, and an answer a fault cut off says so.
#[test]
fn html_folds_bodies_and_marks_an_answer_cut_off() {
    let mut report = fixture();
    let long_answer = format!("{{\"transactions\":[{}]}}", vec!["{\"id\":1}"; 400].join(","));
    let exchange = &mut report.scenarios[1].exchanges[0];
    exchange.status = Some(200);
    exchange.response_body = Some(long_answer.clone());
    exchange.cut_off = true;
    let html = possim_reports::html::render(&report);
    // Folded: a closed <details> whose summary shows the start of the body and its size.
    assert!(
        html.contains("<details class=\"body\"><summary><code>← would have answered {&quot;transactions&quot;:[{&quot;id&quot;:1},"),
        "{html}"
    );
    assert!(html.contains(&format!("({} bytes)", long_answer.len())), "{html}");
    assert!(
        !html.contains("<details class=\"body\" open"),
        "bodies are folded by default"
    );
    assert!(html.contains("<td>200, cut off</td>"), "{html}");
    assert!(html.contains("The answer was cut off by a fault"), "{html}");
    // report.json carries it, and leaves it out where nothing was cut.
    let json = possim_reports::json(&report);
    assert_eq!(json.matches("\"cutOff\": true").count(), 1, "{json}");
    assert!(!json.contains("\"cutOff\": false"));
}

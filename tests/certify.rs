//! `possim certify` and `possim record` end to end: the real binary runs the TYRIOS suite against
//! the reference POS through each driver, each planted defect fails exactly the scenarios that
//! test its behaviour, reports land on disk, and configuration errors exit with 2.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::util::Possim;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one test's reports or files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("possim-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn possim(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(args)
        .current_dir(repo())
        // CI=1: no progress lines, as in a pipeline.
        .env("CI", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A bound on a whole suite run (an audit is one run per defect), not a synchronisation
    // sleep: generous, because the tests share two cores with the suites other tests run.
    tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("possim finished within 5 minutes")
        .expect("possim ran")
}

/// `possim certify <targets and options> --out <out> -- possim pos <pos>`.
async fn certify(options: &[&str], out: &Path, pos: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    let mut args = vec!["certify"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--out", out, "--", "possim", "pos"]);
    args.extend_from_slice(pos);
    possim(&args).await
}

/// How many suite runs of a per-defect loop run at once. Each run has its own possim on free
/// ports and most of a run is waiting (the till's and the terminal's time-outs, process starts),
/// so a few at a time overlap well on two cores.
const DEFECT_RUNS_AT_ONCE: usize = 6;

/// `certify <suite> -- possim pos <till> --defect <d>` once per defect, a few at a time; the
/// report directories and outputs in the order of `defects`.
async fn certify_each_defect(suite: &str, till: &str, defects: &[&str]) -> Vec<(PathBuf, Output)> {
    certify_each_defect_at_once(suite, till, defects, DEFECT_RUNS_AT_ONCE).await
}

/// [`certify_each_defect`] with `at_once` runs at a time.
async fn certify_each_defect_at_once(
    suite: &str,
    till: &str,
    defects: &[&str],
    at_once: usize,
) -> Vec<(PathBuf, Output)> {
    futures::stream::iter(defects.iter().map(|defect| async move {
        let out = scratch(&format!("{suite}-{defect}"));
        let run = certify(&[suite], &out, &[till, "--defect", defect]).await;
        (out, run)
    }))
    .buffered(at_once)
    .collect()
    .await
}

fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn not_passed(report: &Value) -> BTreeSet<String> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] != "pass")
        .map(|s| s["id"].as_str().unwrap().trim_start_matches("tyrios/").to_owned())
        .collect()
}

pub(crate) fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Checks a `--defects` run's `detection` against the pins: every planted defect (in the till's
/// order) caught, failing exactly its pinned scenarios (ids without the `suite_prefix`), and the
/// Markdown summary announcing a 100 % score.
pub(crate) fn assert_detection_matrix(
    detection: &Value,
    stdout: &str,
    suite_prefix: &str,
    planted: &[String],
    pins: &[(&str, &[&str])],
) {
    assert_eq!(detection["planted"], planted.len());
    assert_eq!(detection["caught"], planted.len(), "the suite scores 100 %");
    let matrix: Vec<(String, BTreeSet<String>)> = detection["defects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["caught"], true, "{}", d["defect"]);
            let failed = d["scenarios"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().trim_start_matches(suite_prefix).to_owned())
                .collect();
            (d["defect"].as_str().unwrap().to_owned(), failed)
        })
        .collect();
    let names: Vec<&str> = matrix.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(names, planted, "every defect of the till, in its order");
    for (defect, failed) in &matrix {
        let pinned = pins
            .iter()
            .find(|(d, _)| d == defect)
            .unwrap_or_else(|| panic!("{defect} has no pinned expectation"));
        assert_eq!(failed, &set(pinned.1), "scenarios failed by {defect}");
    }
    assert!(
        stdout.contains(&format!(
            "### Detection matrix — {n}/{n} defects caught (100 %)",
            n = planted.len()
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_reference_pos_passes_the_whole_tyrios_suite() {
    let out = scratch("reference");
    let run = certify(&["tyrios"], &out, &["tyrios"]).await;
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("TYRIOS eCash POS integration — CERTIFIED"), "{stdout}");
    let json = report(&out);
    assert_eq!(json["schema"], "possim-report/1");
    assert_eq!(json["summary"]["verdict"], "pass");
    // The suite: 15 minimum scenarios (the seed's minimum requirement, amounts with cents and
    // refused credentials), 12 more at full level.
    let levels: Vec<(String, u64)> = json["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_owned(), l["passed"].as_u64().unwrap()))
        .collect();
    assert_eq!(levels, [("minimum".to_owned(), 15), ("full".to_owned(), 12)]);
    assert_eq!(not_passed(&json), set(&[]));
    for file in ["junit.xml", "report.html", "summary.md"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 27);
    assert!(!junit.contains("<failure"));
    // The other formats carry the same run (reports/README.md): every scenario of report.json
    // is a JUnit test case named by its id and a section of the HTML report with its verdict,
    // and the Markdown summary has the verdict and each level's passed/total.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let scenarios = json["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 27);
    for scenario in scenarios {
        let id = scenario["id"].as_str().unwrap();
        assert_eq!(scenario["verdict"], "pass", "{id}");
        assert!(junit.contains(&format!("name=\"{id}: ")), "{id} in junit.xml");
        let section = html
            .split("<details id=")
            .find(|s| s.starts_with(&format!("\"{id}\"")))
            .unwrap_or_else(|| panic!("{id} has no section in report.html"));
        let summary_line = section.lines().find(|l| l.starts_with("<summary>")).unwrap_or("");
        assert!(summary_line.contains(">PASS<"), "{id}: {summary_line}");
    }
    assert!(
        summary.starts_with("## ") && summary.contains(" — CERTIFIED"),
        "{summary}"
    );
    assert!(!summary.contains("NOT CERTIFIED"), "{summary}");
    for (level, passed) in [("minimum", 15), ("full", 12)] {
        assert!(
            summary.contains(&format!("| tyrios | {level} | {passed}/{passed} | 0 | 0 | 0 |")),
            "{level} in {summary}"
        );
    }
}

/// Which TYRIOS scenarios each planted defect of the reference till fails.
// Derived from what each scenario exercises, not from a run: a defect must fail every
// scenario whose flow reaches the buggy code path, and only those.
const TYRIOS_DETECTION: &[(&str, &[&str])] = &[
    // Drafts are required at full level (the seed's recommended workflow), optional in minimum.
    (
        "skip-draft",
        &[
            "book-coupons",
            "buy-points",
            "grant-points",
            "sale-draft-ok-final-refused",
            "sale-draft-then-final",
            "sale-new-user",
            "sale-search-user",
        ],
    ),
    // Only two flows have a failing final call: the refused one and the one whose answer is lost.
    (
        "ignore-final-error",
        &["sale-draft-ok-final-refused", "sale-final-answer-lost"],
    ),
    // Every flow that sends totalAmount; coupon sales, coupon booking, special points and a sale
    // refused at identification send none.
    (
        "amount-as-string",
        &[
            "buy-points",
            "sale-card-and-coupon",
            "sale-card-keep-points",
            "sale-card-points",
            "sale-cents-keep-points",
            "sale-cents-with-points",
            "sale-coupon-not-sold",
            "sale-coupon-only",
            "sale-draft-ok-final-refused",
            "sale-draft-then-final",
            "sale-final-answer-lost",
            "sale-new-user",
            "sale-one-cent",
            "sale-search-user",
        ],
    ),
    // Only SEARCH and CREATE flows send a user object.
    ("wrong-user-mode", &["sale-new-user", "sale-search-user"]),
    (
        "blind-retry",
        &["sale-draft-ok-final-refused", "sale-final-answer-lost"],
    ),
    // `cents * 0.01` is noise only where a float cannot hold the product: of the amounts sent,
    // 19.99 (1999 * 0.01 = 19.990000000000002), as a total and as a coupon value; 0.01,
    // 1234.56 and whole euros come out exact.
    ("float-cents", &["sale-cents-keep-points", "sell-coupon-cents"]),
    // Every amount with cents the till sends.
    (
        "drop-cents",
        &[
            "sale-cents-keep-points",
            "sale-cents-with-points",
            "sale-one-cent",
            "sell-coupon-cents",
        ],
    ),
    // Only the refused credentials.
    (
        "auth-as-refused",
        &["sale-credentials-forbidden", "sale-credentials-refused"],
    ),
    // Truncating `remainingAmount * 100` loses a cent only where the float lies below the
    // amount: 19.99 (1998.9999999999998); 30.87, 47.87, 1232.43 and whole euros are exact.
    ("float-amount-due", &["sale-cents-keep-points", "sell-coupon-cents"]),
    // Every completed flow whose result pins an amount due that points or coupons reduced.
    (
        "amount-due-from-total",
        &[
            "sale-card-and-coupon",
            "sale-card-points",
            "sale-cents-with-points",
            "sale-coupon-only",
            "sale-draft-then-final",
            "sale-one-cent",
            "sale-search-user",
            "sell-coupon-with-points",
        ],
    ),
    // Only one final answer is lost.
    ("lost-answer-as-refused", &["sale-final-answer-lost"]),
    // Every flow that sends exactly one coupon (the v2 fields hold one).
    (
        "legacy-coupon-field",
        &[
            "book-coupons",
            "sale-card-and-coupon",
            "sale-coupon-not-sold",
            "sale-coupon-only",
            "sell-coupon",
            "sell-coupon-cents",
            "sell-coupon-with-points",
        ],
    ),
    // Only the sales in which the customer keeps the points.
    (
        "ignore-keep-points",
        &["sale-card-keep-points", "sale-cents-keep-points"],
    ),
];

#[tokio::test]
async fn each_planted_defect_fails_the_scenarios_that_test_its_behaviour() {
    let expected = TYRIOS_DETECTION;
    let defects: Vec<&str> = expected.iter().map(|(defect, _)| *defect).collect();
    let runs = certify_each_defect("tyrios", "tyrios", &defects).await;
    for ((defect, scenarios), (out, run)) in expected.iter().zip(runs) {
        assert_eq!(run.status.code(), Some(1), "{defect} must fail the suite");
        let json = report(&out);
        assert_eq!(json["summary"]["verdict"], "fail");
        assert_eq!(not_passed(&json), set(scenarios), "scenarios failed by {defect}");
        // Every failure carries a precise diff, never an error of the harness.
        for s in json["scenarios"].as_array().unwrap() {
            if s["verdict"] != "pass" {
                assert_eq!(s["verdict"], "fail", "{defect}: {}", s["id"]);
                assert!(!s["diffs"].as_array().unwrap().is_empty(), "{defect}: {}", s["id"]);
            }
        }
    }
}

#[tokio::test]
async fn a_defect_report_points_at_the_field() {
    let out = scratch("amount-diff");
    certify(
        &["scenarios/tyrios/sale-card-points.toml"],
        &out,
        &["tyrios", "--defect", "amount-as-string"],
    )
    .await;
    let json = report(&out);
    let first = &json["scenarios"][0]["diffs"][0];
    assert_eq!(first["step"], "simulate the pos transaction (draft)");
    assert_eq!(first["path"], "request.body.totalAmount");
    assert_eq!(first["expected"], "33");
    assert_eq!(first["got"], "\"33.00\"");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<tr class=\"problem\">"),
        "the offending exchange is highlighted"
    );
}

#[tokio::test]
async fn levels_tags_and_only_select_scenarios() {
    let out = scratch("minimum");
    let run = certify(
        &["tyrios", "--level", "minimum"],
        &out,
        &["tyrios", "--defect", "skip-draft"],
    )
    .await;
    // skip-draft only fails full-level scenarios: the minimum level certifies it.
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(report(&out)["summary"]["total"], 15);
    let run = certify(&["tyrios", "--tag", "race"], &out, &["tyrios"]).await;
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(report(&out)["scenarios"][0]["id"], "tyrios/sale-draft-ok-final-refused");
    assert_eq!(report(&out)["summary"]["total"], 1);
    let run = possim(&["certify", "tyrios", "--level", "minimum", "--list"]).await;
    assert_eq!(run.status.code(), Some(0));
    let listing = String::from_utf8_lossy(&run.stdout);
    assert_eq!(listing.lines().count(), 15, "{listing}");
    assert!(
        listing
            .lines()
            .all(|l| l.contains(" minimum ") && l.contains(" required ")),
        "{listing}"
    );
}

#[tokio::test]
async fn configuration_errors_exit_with_2_and_say_what_is_wrong() {
    let run = possim(&["certify", "conformance/nope", "--", "possim", "pos", "tyrios"]).await;
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("conformance/nope: no such suite"), "{stderr}");

    let run = possim(&["certify", "tyrios"]).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("needs the POS command after --"));

    let run = possim(&["certify", "tyrios", "--level", "gold", "--", "true"]).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("has no level \"gold\" (levels: minimum, full)"));

    let dir = scratch("broken");
    let broken = dir.join("broken.toml");
    std::fs::write(
        &broken,
        "id = \"tyrios/x\"\ntitle = \"x\"\nproviders = [\"tyrios\"]\nlevel = \"minimum\"\naction = { type = \"sale\", amount = \"1.00\", productGroup = \"x\" }\nresult = { status = \"$completed\" }\n",
    )
    .unwrap();
    let run = possim(&["certify", broken.to_str().unwrap(), "--", "true"]).await;
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("broken.toml") && stderr.contains("result.status: unknown matcher \"$completed\""),
        "{stderr}"
    );

    let run = possim(&[
        "certify",
        "tyrios",
        "--defects",
        "--jobs",
        "2",
        "--attach",
        "http://127.0.0.1:9",
        "--",
        "possim",
        "pos",
        "tyrios",
    ])
    .await;
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--jobs") && stderr.contains("--attach"), "{stderr}");

    let run = possim(&["certify", "tyrios", "--driver", "warp"]).await;
    assert_eq!(run.status.code(), Some(2), "clap's own usage errors exit with 2 too");
}

#[tokio::test]
async fn a_broken_terminal_customer_script_is_a_configuration_error_before_any_scenario_runs() {
    let golden = std::fs::read_to_string(repo().join("scenarios/payback/terminal-redeem-pin-locked.toml")).unwrap();
    assert!(
        golden.contains("zvtCustomer = { wrongPins = 3 }"),
        "the golden flow changed"
    );
    let dir = scratch("broken-customer");
    let broken = dir.join("broken-customer.toml");
    std::fs::write(
        &broken,
        golden.replace(
            "zvtCustomer = { wrongPins = 3 }",
            "zvtCustomer = { wrongPins = \"three\" }",
        ),
    )
    .unwrap();
    let out = dir.join("out");
    // `false` as the POS: had the scenario run, it would be an error verdict (exit 1).
    let run = possim(&[
        "certify",
        broken.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--",
        "false",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("broken-customer.toml") && stderr.contains("setup.zvtCustomer"),
        "{stderr}"
    );
    assert!(!out.join("report.json").exists(), "no scenario ran");
}

#[tokio::test]
async fn a_pos_that_crashes_or_hangs_is_an_error_not_a_pass() {
    let out = scratch("crash");
    let run = possim(&[
        "certify",
        "scenarios/tyrios/lookup-card.toml",
        "--out",
        out.to_str().unwrap(),
        "--",
        "false",
    ])
    .await;
    assert_eq!(run.status.code(), Some(1));
    let json = report(&out);
    assert_eq!(json["scenarios"][0]["verdict"], "error");
    assert!(
        json["scenarios"][0]["message"]
            .as_str()
            .unwrap()
            .contains("exited with")
    );

    let run = possim(&[
        "certify",
        "scenarios/tyrios/lookup-card.toml",
        "--timeout-ms",
        "300",
        "--out",
        out.to_str().unwrap(),
        "--",
        "sleep",
        "30",
    ])
    .await;
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        report(&out)["scenarios"][0]["message"],
        "the POS did not finish within 300 ms (killed)"
    );
}

#[tokio::test]
async fn attach_runs_against_a_running_possim() {
    // Started without the journal: the runner turns it on, the journal is its evidence.
    let server = Possim::start("", &["--no-journal"]).await;
    let (_, health) = server.admin("GET", "/__admin/health", None).await;
    assert_eq!(health["endpoints"]["tyrios"], server.tyrios.as_str());
    let out = scratch("attach");
    let run = certify(
        &["scenarios/tyrios/sale-card-points.toml", "--attach", &server.admin],
        &out,
        &["tyrios"],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    let json = report(&out);
    assert_eq!(json["environment"]["target"], server.admin.as_str());
    // The scenario's data set was loaded into the running possim.
    let (_, dataset) = server.admin("GET", "/__admin/dataset", None).await;
    assert_eq!(dataset["name"], "seed-examples");
}

/// A POS vendor's test adapter: takes the envelope, drives the (reference) till, answers the result.
async fn adapter() -> String {
    use axum::Json;
    use axum::routing::post;
    async fn act(Json(envelope): Json<Value>) -> Json<Value> {
        let tyrios = &envelope["providers"]["tyrios"];
        let pos = possim_pos::tyrios::TyriosPos {
            url: tyrios["url"].as_str().unwrap().to_owned(),
            login: tyrios["login"].as_str().unwrap_or("demo").to_owned(),
            password: tyrios["password"].as_str().unwrap_or("demo").to_owned(),
            defects: Vec::new(),
        };
        Json(pos.perform(&envelope["action"]).await)
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/possim", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route("/possim", post(act)))
            .await
            .unwrap();
    });
    url
}

#[tokio::test]
async fn the_http_driver_certifies_a_till_behind_a_test_adapter() {
    let url = adapter().await;
    let out = scratch("http");
    let run = possim(&[
        "certify",
        "tyrios",
        "--driver",
        "http",
        "--url",
        &url,
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    assert_eq!(report(&out)["summary"]["passed"], 27);
    assert_eq!(report(&out)["environment"]["driver"], "http");
}

#[tokio::test]
async fn the_manual_driver_guides_an_operator_and_waits_for_the_traffic() {
    let out = scratch("manual");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args([
            "certify",
            "scenarios/tyrios/sale-card-points.toml",
            "--driver",
            "manual",
            "--out",
        ])
        .arg(&out)
        .current_dir(repo())
        .env("CI", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let operator = async {
        let mut instructions = Vec::new();
        let mut url = None;
        // Read the instructions, play the till, then wait for possim to see the traffic.
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.trim().strip_prefix("The till must use tyrios at ") {
                url = Some(rest.split_whitespace().next().unwrap().to_owned());
            }
            if line.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
                instructions.push(line.trim().to_owned());
            }
            if line.contains("Then type what the till reported") {
                let pos = possim_pos::tyrios::TyriosPos {
                    url: url.clone().expect("the URL comes first"),
                    login: "demo".into(),
                    password: "demo".into(),
                    defects: Vec::new(),
                };
                let action: Value = serde_json::json!({"type": "sale", "customer": {"card": "UQBUFDJALK4WXYC"},
                    "amount": "33.00", "productGroup": "Hose", "usePoints": true});
                assert_eq!(pos.perform(&action).await["status"], "completed");
            }
            if line.contains("All expected exchanges arrived") {
                stdin.write_all(b"c\n").await.unwrap();
                break;
            }
        }
        instructions
    };
    let instructions = tokio::time::timeout(Duration::from_secs(60), operator)
        .await
        .expect("operator done");
    assert_eq!(
        instructions,
        [
            "1. Scan the customer card UQBUFDJALK4WXYC",
            "2. Sell 33.00 € in product group \"Hose\"",
            "3. Pay with the customer's points",
            "4. Complete the sale and note what the till shows",
        ]
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(report(&out)["scenarios"][0]["verdict"], "pass");
}

#[tokio::test]
async fn record_writes_a_golden_flow_that_certifies_its_own_till() {
    let dir = scratch("record");
    let action = dir.join("action.json");
    std::fs::write(
        &action,
        r#"{"type": "sale", "customer": {"card": "UQBUFDJALK4WXYC"}, "amount": "33.00", "productGroup": "Hose"}"#,
    )
    .unwrap();
    let flow = dir.join("flow.toml");
    let run = possim(&[
        "record",
        "--action",
        action.to_str().unwrap(),
        "--id",
        "tyrios/recorded",
        "--title",
        "recorded sale",
        "--data",
        "seed-examples",
        "--clock",
        "2019-10-29T12:24:04Z",
        "--out",
        flow.to_str().unwrap(),
        "--",
        "possim",
        "pos",
        "tyrios",
    ])
    .await;
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(&flow).unwrap();
    // The seed's figures for this sale, and the volatile and defaulted fields marked.
    for expected in [
        "amountDue = \"30.87\"",
        "redeemedPoints = 213",
        "obtainedPoints = 62",
        "query = { draft = \"true\" }",
        "query = { draft = { \"$absentOr\" = \"false\" } }",
        "enablePointRedemption = { \"$absentOr\" = true }",
        "redeemedPoints = { \"$absentOr\" = 213 }",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    let out = dir.join("report");
    let run = certify(&[flow.to_str().unwrap()], &out, &["tyrios"]).await;
    assert_eq!(run.status.code(), Some(0));
    let run = certify(
        &[flow.to_str().unwrap()],
        &out,
        &["tyrios", "--defect", "amount-as-string"],
    )
    .await;
    assert_eq!(run.status.code(), Some(1));
}

#[tokio::test]
async fn the_payback_suite_passes_the_reference_till_and_fails_each_defect_where_it_should() {
    let out = scratch("payback");
    let run = certify(&["payback"], &out, &["payback"]).await;
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    // minimum 9 (4 + amounts with cents, the eligible amount, refused credentials) + full 5 +
    // austria 6 (the redemption through the card terminal).
    assert_eq!(report(&out)["summary"]["passed"], 20);
    let expected: &[(&str, &[&str])] = &[
        // Only the scenario whose customer keeps typing after the lock reaches this bug.
        ("pin-retry-past-lock", &["redeem-pin-locked"]),
        // Only the lost answer makes the till retry.
        ("new-id-on-retry", &["collect-answer-lost"]),
        // Only there does PAYBACK refuse a redemption the till asked for.
        ("ignore-redeem-error", &["redeem-balance-gone"]),
        // Exactly the terminal redemptions that end with an abort: the lock after three wrong
        // PINs, the customer's abort, PAYBACK unreachable. (The lost answer is no abort: the
        // till sees a broken link, not 06 1E.)
        (
            "book-aborted-redemption",
            &[
                "terminal-redeem-pin-locked",
                "terminal-redeem-customer-abort",
                "terminal-redeem-host-unreachable",
            ],
        ),
        // A float truncates 19.99 × 100 to 1998; 123.45, 1234.56, 60.49, 20.99 and whole euros
        // come out exact.
        ("float-cents", &["collect-cents", "redeem-basket-cents"]),
        // Every amount with cents the till sends.
        (
            "drop-cents",
            &[
                "collect-cents",
                "collect-tobacco-and-deposit",
                "collect-with-coupons",
                "redeem-basket-cents",
                "redeem-cents",
            ],
        ),
        // Only one purchase has goods that earn no points.
        ("no-eligible-amount", &["collect-tobacco-and-deposit"]),
        ("auth-as-refused", &["collect-credentials-refused"]),
        // Every completed redemption (each result pins the voucher).
        (
            "points-as-euros",
            &[
                "redeem-basket-cents",
                "redeem-cents",
                "redeem-second-pin-try",
                "redeem-whole-basket",
                "terminal-redeem-second-pin",
                "terminal-redeem-whole-basket",
            ],
        ),
        // Every completed redemption whose result pins the amount due (the second PIN at the
        // till pins none).
        (
            "amount-due-unreduced",
            &[
                "redeem-basket-cents",
                "redeem-cents",
                "redeem-whole-basket",
                "terminal-redeem-second-pin",
                "terminal-redeem-whole-basket",
            ],
        ),
        // Every booking PAYBACK refuses (the PIN checks are no bookings).
        (
            "retry-on-refusal",
            &[
                "collect-credentials-refused",
                "collect-unknown-card",
                "redeem-balance-gone",
            ],
        ),
        // Only one purchase carries coupons.
        ("coupons-dropped", &["collect-with-coupons"]),
    ];
    let defects: Vec<&str> = expected.iter().map(|(defect, _)| *defect).collect();
    let runs = certify_each_defect("payback", "payback", &defects).await;
    for ((defect, scenarios), (out, run)) in expected.iter().zip(runs) {
        assert_eq!(run.status.code(), Some(1), "{defect}");
        let failed = not_passed(&report(&out));
        let want: Vec<String> = scenarios.iter().map(|s| format!("payback/{s}")).collect();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        assert_eq!(failed, set(&want), "{defect}");
    }
}

#[tokio::test]
async fn the_zvt_ecr_suite_passes_the_reference_ecr_and_fails_each_defect_where_it_should() {
    let out = scratch("zvt-ecr");
    // From what each scenario exercises: every completed payment or reservation must be
    // acknowledged (a reservation left unacknowledged cannot be booked); only the slow host
    // outlasts a one-second patience; only the decline and the customer's abort end with 06 1E;
    // every Authorisation carries a BCD amount (the reservation is a Pre-Authorisation, not
    // bent by this bug) — except 0.01 EUR, whose binary and BCD bytes are both 00 … 01; only
    // the serial scenarios see frames (10.00 EUR contains a DLE byte, the CRC is on every
    // frame); only one scenario NAKs; only the display text is longer than 254 bytes.
    // Amounts: 19.99 is the one action amount whose float × 100 falls below the cent (1998.99…;
    // 12.50, 0.01, 1234.56 and the whole euros come out exact or just above); dropping cents
    // bends every payment amount with cents (12.50, 19.99, 0.01, 1234.56), the aborted 12.50
    // included; only the partial approval approves less than asked; only the reservation books;
    // only the decline and the abort report a result code.
    // Issue of goods: an ECR that never answers the Status-Information reports a payment the
    // terminal then reverses (or drops when the link goes); a one-second patience fails wherever
    // the terminal pauses 2 s before a repeat or waits <timeout> (3 s); the not-issued, limit and
    // silent machines end with 06 1E and a result code; their Authorisations carry BCD amounts
    // too. Only the "not yet" scenarios see a repeated Status-Information, only the partial issue
    // a second amount. Of their amounts 3.50, 12.50 and 7.50 have cents (all exact in a float);
    // the partial issue books less than was asked.
    // Quirk profiles: the banner and the DLE ACK scenarios are payments of 5.00 EUR (BCD 05 00,
    // binary 01 F4; whole euros), the second over the serial line, where neither the APDUs nor
    // their CRC-16/KERMIT (0x2D4A, 0xAA3C, 0x1FF5) hold a DLE byte; the "not supported" one is
    // refused before any amount is read, so only a till that takes the refusal for success fails it.
    let payments_with_cents = [
        "pay-approved",
        "pay-cents",
        "pay-one-cent",
        "pay-large-amount",
        "pay-customer-abort",
        "goods-later",
        "goods-partial",
        "goods-silent",
    ];
    let expected: &[(&str, &[&str])] = &[
        (
            "no-status-ack",
            &[
                "pay-approved",
                "pay-cents",
                "pay-one-cent",
                "pay-large-amount",
                "pay-partial-approval",
                "slow-host",
                "serial-pay",
                "serial-nak-repeat",
                "pre-auth-book-total",
                "goods-later",
                "goods-partial",
                "goods-not-issued",
                "goods-limit",
                "goods-silent",
                "quirk-yomani-banner",
                "quirk-dle-ack",
            ],
        ),
        (
            "early-give-up",
            &["slow-host", "goods-later", "goods-limit", "goods-silent"],
        ),
        (
            "abort-as-success",
            &[
                "pay-declined",
                "pay-customer-abort",
                "goods-not-issued",
                "goods-limit",
                "goods-silent",
            ],
        ),
        (
            "binary-amount",
            &[
                "pay-approved",
                "pay-cents",
                "pay-large-amount",
                "pay-partial-approval",
                "pay-declined",
                "pay-customer-abort",
                "slow-host",
                "serial-pay",
                "serial-nak-repeat",
                "goods-later",
                "goods-partial",
                "goods-not-issued",
                "goods-limit",
                "goods-silent",
                "quirk-yomani-banner",
                "quirk-dle-ack",
            ],
        ),
        ("no-dle-doubling", &["serial-pay"]),
        ("wrong-crc", &["serial-pay", "serial-nak-repeat", "quirk-dle-ack"]),
        ("ignore-nak", &["serial-nak-repeat"]),
        ("big-endian-length", &["display-text-long"]),
        ("float-amount", &["pay-cents"]),
        ("cents-dropped", &payments_with_cents),
        ("requested-amount-reported", &["pay-partial-approval", "goods-partial"]),
        ("book-reserved-amount", &["pre-auth-book-total"]),
        (
            "decline-as-error",
            &[
                "pay-declined",
                "pay-customer-abort",
                "goods-not-issued",
                "goods-limit",
                "goods-silent",
            ],
        ),
        ("repeated-status-as-error", &["goods-later", "goods-limit"]),
        ("books-requested-amount", &["goods-partial"]),
        ("no-banner-skip", &["quirk-yomani-banner"]),
        ("bare-ack-only", &["quirk-dle-ack"]),
        ("refusal-as-success", &["quirk-not-supported"]),
    ];
    let defects: Vec<&str> = expected.iter().map(|(defect, _)| *defect).collect();
    // The clean run and every defect run at once: a run of this suite is mostly waiting (the
    // terminal's pauses, <timeout>, the slow host, the ECR's patience: about 11 of its 13 s)
    // and costs well under a second of CPU, so they overlap nearly for free on two cores.
    let (run, runs) = tokio::join!(
        certify(&["zvt-ecr"], &out, &["zvt"]),
        certify_each_defect_at_once("zvt-ecr", "zvt", &defects, defects.len()),
    );
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    assert_eq!(report(&out)["summary"]["passed"], 21);
    for ((defect, scenarios), (out, run)) in expected.iter().zip(runs) {
        assert_eq!(run.status.code(), Some(1), "{defect}");
        let failed = not_passed(&report(&out));
        let want: Vec<String> = scenarios.iter().map(|s| format!("zvt-ecr/{s}")).collect();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        assert_eq!(failed, set(&want), "{defect}");
    }
}

#[tokio::test]
async fn the_computop_suite_passes_the_reference_shop_and_fails_each_defect_where_it_should() {
    let out = scratch("computop");
    let run = certify(&["computop-payback-pay"], &out, &["computop"]).await;
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    assert_eq!(report(&out)["summary"]["passed"], 15);
    // From what each scenario exercises: only the forged notify tests the MAC check; every sale
    // starts with AUTHORIZE_REQUEST (Code 0), which a shop reading Code as a number takes for
    // paid at once — that shows wherever the customer then does anything but pay it all by SEPA
    // (points, a refusal, a pending debit) and wherever the shop credits at once a payment that
    // is not paid yet; only the pending payment has a Code starting with 6; only the two credits
    // send a credit MAC, and only the lost credit answer makes the shop ask again; every paid
    // sale sends a paid notify and a paid browser return (the duplicate one notify more).
    // Only the forged return tests the return's MAC (the notify-MAC defect trusts both); only
    // one pending payment ends paid (a FATCHIP shop is right there by luck); 19.99 is the one
    // amount whose float × 100 falls below the cent; four scenarios credit; the order's money
    // part differs from its total wherever points are redeemed (500 points in approve-points
    // and pending-ok). The credit of 0.29 € (refused: below 100 cents) is a fourth credit, a
    // paid sale, and 0.29 × 100 = 28.999… is cut to 28 by a float.
    let paid = [
        "sale-sepa",
        "sale-cents",
        "sale-points-and-sepa",
        "sale-pending-then-ok",
        "credit-with-payid",
        "credit-cents",
        "credit-small-refused",
        "return-before-notify",
        "notify-duplicate",
        "credit-answer-lost",
    ];
    let not_all_sepa = [
        "sale-points-and-sepa",
        "sale-declined",
        "credit-with-payid",
        "sale-pending-then-declined",
        "sale-pending-then-ok",
        "notify-forged",
        "return-forged",
        "return-failure-replayed",
        "credit-answer-lost",
    ];
    let credits = [
        "credit-with-payid",
        "credit-answer-lost",
        "credit-cents",
        "credit-small-refused",
    ];
    let points = [
        "sale-points-and-sepa",
        "sale-pending-then-ok",
        "credit-with-payid",
        "credit-answer-lost",
    ];
    let expected: &[(&str, &[&str])] = &[
        ("notify-mac-unchecked", &["notify-forged", "return-forged"]),
        ("code-zero-as-paid", &not_all_sepa),
        ("first-digit-only", &["sale-pending-then-declined"]),
        ("refund-mac-without-payid", &credits),
        ("new-reqid-on-retry", &["credit-answer-lost"]),
        ("book-on-notify-and-return", &paid),
        ("return-mac-unchecked", &["return-forged"]),
        ("pending-as-failure", &["sale-pending-then-ok"]),
        ("no-retry-on-lost-answer", &["credit-answer-lost"]),
        ("float-amount", &["sale-cents", "credit-small-refused"]),
        ("credit-amount-in-euros", &credits),
        ("pay-amount-ignored", &points),
    ];
    let defects: Vec<&str> = expected.iter().map(|(defect, _)| *defect).collect();
    let runs = certify_each_defect("computop-payback-pay", "computop", &defects).await;
    for ((defect, scenarios), (out, run)) in expected.iter().zip(runs) {
        assert_eq!(run.status.code(), Some(1), "{defect}");
        let json = report(&out);
        let want: Vec<String> = scenarios.iter().map(|s| format!("computop-payback-pay/{s}")).collect();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        assert_eq!(not_passed(&json), set(&want), "{defect}");
        for s in json["scenarios"].as_array().unwrap() {
            if s["verdict"] != "pass" {
                assert_eq!(s["verdict"], "fail", "{defect}: {}", s["id"]);
            }
        }
    }
}

#[tokio::test]
async fn the_detection_matrix_of_the_tyrios_suite_is_the_pinned_one() {
    let out = scratch("audit-tyrios");
    // Several defect runs at a time (each against its own possim); the vendor audit below
    // keeps the one-at-a-time path.
    let run = certify(&["tyrios", "--defects", "--jobs", "6"], &out, &["tyrios"]).await;
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json = report(&out);
    // The clean run is the report's scenarios.
    assert_eq!(json["summary"]["verdict"], "pass");
    let detection = &json["detection"];
    assert_eq!(detection["cleanCertified"], true);
    let planted = <possim_pos::tyrios::Defect as possim_pos::PlantableDefect>::names();
    assert_detection_matrix(detection, &stdout, "tyrios/", &planted, TYRIOS_DETECTION);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Detection matrix</h2>") && html.contains("EVERY DEFECT CAUGHT"));
}

/// A certification team's own till: a wrapper that plants defects through its own flag, and one
/// "defect" it does not act on — the audit names it and fails.
#[tokio::test]
async fn an_audit_of_a_vendor_till_uses_the_defect_template_and_fails_on_a_defect_not_caught() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch("audit-vendor");
    let till = dir.join("till.sh");
    std::fs::write(
        &till,
        format!(
            "#!/bin/sh\nif [ \"$1\" = \"--plant=harmless\" ]; then shift; fi\ncase \"$1\" in --plant=*) set -- --defect \"${{1#--plant=}}\";; esac\nexec {} pos tyrios \"$@\"\n",
            env!("CARGO_BIN_EXE_possim")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&till, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.join("out");
    let run = possim(&[
        "certify",
        "scenarios/tyrios/sale-card-points.toml",
        "--defects",
        "--defect-list",
        "amount-as-string,harmless",
        // `=`: the template starts with a dash.
        "--defect-template=--plant={defect}",
        "--out",
        out.to_str().unwrap(),
        "--",
        till.to_str().unwrap(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let detection = report(&out)["detection"].clone();
    assert_eq!(
        (detection["planted"].as_u64(), detection["caught"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(detection["defects"][0]["defect"], "amount-as-string");
    assert_eq!(detection["defects"][0]["caught"], true);
    assert_eq!(
        detection["defects"][0]["pos"],
        format!("{} --plant=amount-as-string", till.display())
    );
    assert_eq!(detection["defects"][1]["caught"], false);
    assert!(stdout.contains("| harmless | **NO** | — |"), "{stdout}");

    // Without a list, only possim's own tills have known defects.
    let run = possim(&["certify", "tyrios", "--defects", "--", till.to_str().unwrap()]).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--defects needs --defect-list"));
}

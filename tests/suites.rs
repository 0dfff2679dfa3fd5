//! possim as an installed tool: the built-in suites used from a directory that is not the
//! repository, a user's suite that includes built-in ones, `certify --shard` with
//! `report merge` giving the unsharded run's verdicts, and `record --attach` writing a flow that
//! replays green. The real binary throughout, with its working directory outside the checkout.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::Possim;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory outside the checkout.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("possim-suites-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs possim in `cwd` with `env` added.
async fn possim_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(args)
        .current_dir(cwd)
        .env("CI", "1")
        .env_remove("CI_NODE_INDEX")
        .env_remove("CI_NODE_TOTAL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A bound on a whole suite run, not a synchronisation sleep.
    tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("possim finished")
        .expect("possim ran")
}

fn stderr(run: &Output) -> String {
    String::from_utf8_lossy(&run.stderr).into_owned()
}

fn stdout(run: &Output) -> String {
    String::from_utf8_lossy(&run.stdout).into_owned()
}

fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// The ids `certify --list` prints, in order.
fn listed(run: &Output) -> Vec<String> {
    stdout(run)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The golden flow files of a suite directory in the checkout, counted on disk.
fn flows_on_disk(dir: &str) -> usize {
    std::fs::read_dir(repo().join("scenarios").join(dir))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "toml"))
        .count()
}

#[tokio::test]
async fn built_in_suites_work_from_any_directory() {
    let cwd = scratch("anywhere");
    let run = possim_in(&cwd, &["suites"], &[]).await;
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let listing = stdout(&run);
    for suite in ["tyrios", "payback", "zvt-ecr", "computop-payback-pay"] {
        let line = listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(suite))
            .unwrap_or_else(|| panic!("{suite} listed: {listing}"));
        assert!(line.contains(&format!("{} scenarios", flows_on_disk(suite))), "{line}");
    }
    assert!(listing.contains("levels: minimum,full"), "{listing}");

    let run = possim_in(
        &cwd,
        &[
            "certify", "tyrios", "--level", "minimum", "--", "possim", "pos", "tyrios",
        ],
        &[],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{}{}", stdout(&run), stderr(&run));
    let json = report(&cwd.join("possim-report"));
    assert_eq!(json["summary"]["verdict"], "pass");
    assert!(json["summary"]["total"].as_u64().unwrap() > 5, "{}", json["summary"]);

    // A single built-in flow by its id.
    let run = possim_in(&cwd, &["certify", "tyrios/sale-one-cent", "--list"], &[]).await;
    assert_eq!(listed(&run), vec!["tyrios/sale-one-cent"], "{}", stderr(&run));

    // Exported, the suite lists the same flows from its own directory, data directories included.
    let run = possim_in(&cwd, &["suites", "export", "computop-payback-pay", "mine"], &[]).await;
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(cwd.join("mine/suite.toml").is_file());
    assert!(cwd.join("mine/DEFECTS.md").is_file());
    assert!(cwd.join("mine/scenarios/data/decline/computop.toml").is_file());
    let exported = possim_in(&cwd, &["certify", "mine", "--list"], &[]).await;
    let builtin = possim_in(&cwd, &["certify", "computop-payback-pay", "--list"], &[]).await;
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    assert_eq!(listed(&exported), listed(&builtin));
    assert_eq!(listed(&exported).len(), flows_on_disk("computop-payback-pay"));
    // A second export into the same place would overwrite a suite: refused.
    let again = possim_in(&cwd, &["suites", "export", "tyrios", "mine"], &[]).await;
    assert_ne!(again.status.code(), Some(0));
    assert!(
        stderr(&again).contains("already holds a suite.toml"),
        "{}",
        stderr(&again)
    );

    let run = possim_in(&cwd, &["certify", "nope", "--list"], &[]).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("built-in suites: "), "{}", stderr(&run));
}

#[tokio::test]
async fn a_user_suite_includes_built_in_suites_and_flows_beside_its_own() {
    let cwd = scratch("user-suite");
    std::fs::create_dir_all(cwd.join("my-suite/flows")).unwrap();
    std::fs::write(
        cwd.join("my-suite/suite.toml"),
        r#"name = "my-till"
title = "My till"
scenarios = "flows"
include = ["tyrios", "payback/collect-cents"]
[[levels]]
name = "minimum"
description = "the basics"
[[levels]]
name = "full"
description = "everything"
"#,
    )
    .unwrap();
    // The user's own flow: a built-in one under the user's id.
    let own = std::fs::read_to_string(repo().join("scenarios/tyrios/sale-one-cent.toml"))
        .unwrap()
        .replace("id = \"tyrios/sale-one-cent\"", "id = \"my-till/one-cent\"");
    assert!(own.contains("my-till/one-cent"));
    std::fs::write(cwd.join("my-suite/flows/one-cent.toml"), own).unwrap();

    let run = possim_in(&cwd, &["certify", "my-suite", "--list"], &[]).await;
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let ids = listed(&run);
    assert_eq!(ids.len(), flows_on_disk("tyrios") + 2, "{ids:?}");
    assert!(ids.contains(&"my-till/one-cent".to_owned()));
    assert!(ids.contains(&"payback/collect-cents".to_owned()));
    assert!(ids.contains(&"tyrios/sale-draft-then-final".to_owned()));
    // Level order across own and included flows: every minimum flow before any full one.
    let levels: Vec<String> = stdout(&run)
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
        .collect();
    let first_full = levels.iter().position(|l| l == "full").unwrap();
    assert!(levels[first_full..].iter().all(|l| l == "full"), "{levels:?}");

    // The user's flows and the included ones run as one suite.
    let run = possim_in(
        &cwd,
        &[
            "certify", "my-suite", "--only", "one-cent", "--", "possim", "pos", "tyrios",
        ],
        &[],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{}{}", stdout(&run), stderr(&run));
    let json = report(&cwd.join("possim-report"));
    let ids: Vec<&str> = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    // Within a level the suite's own flows come first, then the included ones in include order.
    assert_eq!(ids, ["my-till/one-cent", "tyrios/sale-one-cent"]);
    assert!(
        json["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["suite"] == "my-till")
    );

    // An included flow of a level the suite does not declare, and an include naming nothing.
    let suite = std::fs::read_to_string(cwd.join("my-suite/suite.toml")).unwrap();
    std::fs::write(
        cwd.join("my-suite/suite.toml"),
        suite.replace("\"payback/collect-cents\"", "\"zvt-ecr/pay-approved\""),
    )
    .unwrap();
    let run = possim_in(&cwd, &["certify", "my-suite", "--list"], &[]).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("zvt-ecr/pay-approved has level"),
        "{}",
        stderr(&run)
    );
    std::fs::write(
        cwd.join("my-suite/suite.toml"),
        suite.replace("\"tyrios\"", "\"tyrios/nope\""),
    )
    .unwrap();
    let run = possim_in(&cwd, &["certify", "my-suite", "--list"], &[]).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("include \"tyrios/nope\""), "{}", stderr(&run));
}

#[tokio::test]
async fn record_refuses_to_write_into_the_built_in_suites() {
    let target = repo().join("scenarios/tyrios/my-unreviewed-sale.toml");
    let cwd = scratch("record-refused");
    std::fs::write(
        cwd.join("sale.json"),
        r#"{"type":"sale","amount":"1.00","productGroup":"Hose"}"#,
    )
    .unwrap();
    let run = possim_in(
        &cwd,
        &[
            "record",
            "--action",
            "sale.json",
            "--id",
            "tyrios/x",
            "--title",
            "x",
            "--out",
            target.to_str().unwrap(),
            "--",
            "possim",
            "pos",
            "tyrios",
        ],
        &[],
    )
    .await;
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("inside possim's built-in suites"),
        "{}",
        stderr(&run)
    );
    assert!(!target.exists());
}

/// The fields that make a verdict: id, suite, level, verdict, in run order.
fn verdicts(json: &Value) -> Vec<(String, String, String, String)> {
    json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let field = |k: &str| s[k].as_str().unwrap().to_owned();
            (field("id"), field("suite"), field("level"), field("verdict"))
        })
        .collect()
}

#[tokio::test]
async fn shards_merged_equal_one_unsharded_run() {
    let cwd = scratch("shards");
    // A till with a planted defect, so the run has failures as well as passes; two suites.
    let targets = ["tyrios", "zvt-ecr/pay-approved"];
    let pos = ["--", "possim", "pos", "tyrios", "--defect", "amount-as-string"];
    let run_with = |out: &str, extra: &[&str]| {
        let mut args = vec!["certify"];
        args.extend_from_slice(&targets);
        args.extend_from_slice(&["--level", "minimum", "--out", out]);
        args.extend_from_slice(extra);
        args.extend_from_slice(&pos);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let args = run_with("whole", &[]);
    let whole = possim_in(&cwd, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await;
    assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
    let whole_json = report(&cwd.join("whole"));
    assert!(verdicts(&whole_json).iter().any(|v| v.3 == "pass"));
    assert!(verdicts(&whole_json).iter().any(|v| v.3 == "fail"));

    // Three shards balanced by the whole run's durations; the third through GitLab's variables.
    let mut dirs = Vec::new();
    let mut sizes = Vec::new();
    for k in 1..=3 {
        let out = format!("shard-{k}");
        let shard = format!("{k}/3");
        let extra: Vec<&str> = if k < 3 {
            vec!["--shard", &shard, "--durations", "whole/report.json"]
        } else {
            vec!["--durations", "whole"]
        };
        let args = run_with(&out, &extra);
        let env: &[(&str, &str)] = if k < 3 {
            &[]
        } else {
            &[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "3")]
        };
        let run = possim_in(&cwd, &args.iter().map(String::as_str).collect::<Vec<_>>(), env).await;
        assert!(matches!(run.status.code(), Some(0 | 1)), "shard {k}: {}", stderr(&run));
        let json = report(&cwd.join(&out));
        assert_eq!(json["shard"]["index"], k);
        assert_eq!(json["shard"]["total"], 3);
        sizes.push(json["scenarios"].as_array().unwrap().len());
        dirs.push(out);
    }
    assert!(sizes.iter().all(|n| *n > 0), "every shard has work: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), verdicts(&whole_json).len());

    let mut args = vec!["report", "merge"];
    args.extend(dirs.iter().rev().map(String::as_str));
    args.extend_from_slice(&["--out", "merged"]);
    let merged = possim_in(&cwd, &args, &[]).await;
    assert_eq!(merged.status.code(), whole.status.code(), "{}", stderr(&merged));
    let merged_json = report(&cwd.join("merged"));
    assert_eq!(verdicts(&merged_json), verdicts(&whole_json));
    assert_eq!(merged_json["summary"], whole_json["summary"]);
    let levels = |json: &Value| -> Vec<Value> {
        json["levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| serde_json::json!([l["suite"], l["name"], l["total"], l["passed"], l["verdict"]]))
            .collect()
    };
    assert_eq!(levels(&merged_json), levels(&whole_json));
    for file in ["junit.xml", "report.html", "summary.md"] {
        assert!(cwd.join("merged").join(file).is_file(), "{file}");
    }
    let junit = std::fs::read_to_string(cwd.join("merged/junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), verdicts(&whole_json).len());

    // A missing shard is a configuration error, not a verdict.
    let run = possim_in(
        &cwd,
        &["report", "merge", "shard-1", "shard-3", "--out", "partial"],
        &[],
    )
    .await;
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("shards [2] of 3 are missing"), "{}", stderr(&run));
}

#[tokio::test]
async fn a_flow_recorded_with_attach_replays_green() {
    let possim = Possim::start("seed-examples", &["--clock", "2019-10-29T12:24:04Z"]).await;
    let cwd = scratch("attach");
    std::fs::write(
        cwd.join("sale.json"),
        r#"{"type":"sale","customer":{"card":"UQBUFDJALK4WXYC"},"amount":"33.00","productGroup":"Hose","usePoints":true}"#,
    )
    .unwrap();
    // The till under test talks to the running possim; its result is what it printed.
    let till = possim_in(
        &cwd,
        &["pos", "tyrios", "--url", &possim.tyrios, "--action", "sale.json"],
        &[],
    )
    .await;
    assert_eq!(till.status.code(), Some(0), "{}", stderr(&till));
    std::fs::write(cwd.join("result.json"), &till.stdout).unwrap();
    let record = |extra: &[&str]| {
        let mut args = vec![
            "record",
            "--attach",
            &possim.admin,
            "--action",
            "sale.json",
            "--id",
            "my-till/sale",
            "--title",
            "A sale recorded from a running possim",
            "--provider",
            "tyrios",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };

    // Without the POS's result (and no terminal to ask on) the recording is refused.
    let args = record(&["--out", "flow.toml"]);
    let run = possim_in(&cwd, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("--result FILE"), "{}", stderr(&run));
    assert!(!cwd.join("flow.toml").exists());

    let args = record(&["--result", "result.json", "--out", "flow.toml"]);
    let run = possim_in(&cwd, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await;
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let flow = std::fs::read_to_string(cwd.join("flow.toml")).unwrap();
    assert!(flow.contains("data = \"seed-examples\""), "{flow}");
    assert!(flow.contains("clock = \"2019-10-29T12:24:04"), "{flow}");
    assert!(flow.contains("login = \"demo\""), "{flow}");
    assert!(flow.contains("[result]"), "{flow}");

    // Replayed in-process from a fresh data set: the reference till passes it.
    let run = possim_in(&cwd, &["certify", "flow.toml", "--", "possim", "pos", "tyrios"], &[]).await;
    assert_eq!(run.status.code(), Some(0), "{}{}\n{flow}", stdout(&run), stderr(&run));

    // Recording only the later part of a journal whose earlier part booked: refused.
    let (_, journal) = possim.admin("GET", "/__admin/journal", None).await;
    let last = journal["entries"]
        .as_array()
        .map_or(0, |e| e.last().map_or(0, |l| l["id"].as_u64().unwrap()));
    let since = last.to_string();
    let args = record(&["--result", "result.json", "--since", &since]);
    let run = possim_in(&cwd, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await;
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("booked"), "{}", stderr(&run));
}

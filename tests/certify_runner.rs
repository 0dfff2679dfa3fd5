//! The runner never blames the till for the set-up's fault: a POS command that cannot start is
//! one line and exit 2, a POS past its time limit dies with its helpers, a closed stdout ends
//! `certify` quietly with its verdict. The tills here are small shell scripts in a temp dir.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("possim-runner-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a shell script with the given mode.
fn script(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn command(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"));
    command
        .args(args)
        .current_dir(repo())
        .env("CI", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn possim(args: &[&str]) -> Output {
    // A bound on a whole run, not a synchronisation sleep.
    tokio::time::timeout(Duration::from_secs(120), command(args).output())
        .await
        .expect("possim finished")
        .expect("possim ran")
}

/// The lookup scenario: its one exchange is optional, so a till that only prints the right
/// result passes it.
const LOOKUP: &str = "scenarios/tyrios/lookup-card.toml";
const LOOKUP_RESULT: &str = r#"{"status":"completed","customer":{"points":213}}"#;

fn stderr(run: &Output) -> String {
    String::from_utf8_lossy(&run.stderr).into_owned()
}

#[tokio::test]
async fn a_pos_command_that_cannot_start_is_one_line_and_exit_2() {
    let dir = scratch("cannot-start");
    let out = dir.join("out");
    let not_executable = script(&dir, "till.sh", "#!/bin/sh\necho '{}'\n", 0o644);
    let bad_interpreter = script(&dir, "till2.sh", "#!/nonexistent/shell\necho '{}'\n", 0o755);
    let missing = dir.join("missing-till");
    let cases = [
        (missing.to_str().unwrap(), "was not found"),
        ("possim-no-such-till-on-path", "was not found"),
        (not_executable.to_str().unwrap(), "is not executable"),
        (bad_interpreter.to_str().unwrap(), "interpreter"),
    ];
    for (till, says) in cases {
        let run = possim(&["certify", "tyrios", "--out", out.to_str().unwrap(), "--", till]).await;
        let text = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{till}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "one line for {till}: {text}");
        assert!(
            text.starts_with("possim: error: ") && text.contains(says),
            "{till}: {text}"
        );
        assert!(!out.join("report.json").exists(), "{till}: no scenario was judged");
    }
}

/// Whether `pid` is gone (or only a zombie waiting for its new parent to reap it).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

#[tokio::test]
async fn a_pos_past_its_time_limit_is_killed_with_its_helpers() {
    let dir = scratch("time-limit");
    let pid_file = dir.join("helper.pid");
    // The helper holds the till's stdout open and would outlive a till killed alone.
    let till = script(
        &dir,
        "till.sh",
        &format!("#!/bin/sh\nsleep 300 &\necho $! > {}\nwait\n", pid_file.display()),
        0o755,
    );
    let out = dir.join("out");
    let run = possim(&[
        "certify",
        LOOKUP,
        "--timeout-ms",
        "500",
        "--out",
        out.to_str().unwrap(),
        "--",
        till.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["scenarios"][0]["verdict"], "error");
    assert_eq!(
        report["scenarios"][0]["message"],
        "the POS did not finish within 500 ms (killed)"
    );
    let helper: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(dead(helper), "the till's helper {helper} outlived the scenario");
}

#[tokio::test]
async fn a_helper_left_behind_by_a_finished_pos_neither_outlives_nor_delays_the_scenario() {
    let dir = scratch("left-behind");
    let pid_file = dir.join("helper.pid");
    let till = script(
        &dir,
        "till.sh",
        &format!(
            "#!/bin/sh\nsleep 300 &\necho $! > {}\necho '{LOOKUP_RESULT}'\n",
            pid_file.display()
        ),
        0o755,
    );
    let out = dir.join("out");
    // The limit is far beyond what the scenario needs: had the runner waited for the helper's
    // end of stdout, this would be a time-out error, not a pass.
    let run = possim(&[
        "certify",
        LOOKUP,
        "--timeout-ms",
        "20000",
        "--out",
        out.to_str().unwrap(),
        "--",
        till.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    let helper: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(dead(helper), "the till's helper {helper} outlived the scenario");
}

#[tokio::test]
async fn a_closed_stdout_ends_certify_quietly_with_its_verdict() {
    let dir = scratch("closed-stdout");
    let good = script(&dir, "good.sh", &format!("#!/bin/sh\necho '{LOOKUP_RESULT}'\n"), 0o755);
    let bad = script(
        &dir,
        "bad.sh",
        "#!/bin/sh\necho '{\"status\":\"refused\",\"customer\":{\"points\":213}}'\n",
        0o755,
    );
    for (till, code) in [(&good, 0), (&bad, 1)] {
        let out = dir.join(format!("out-{code}"));
        let mut child = command(&[
            "certify",
            LOOKUP,
            "--out",
            out.to_str().unwrap(),
            "--",
            till.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        // `possim certify … | head -0`: the reader is gone before anything is written.
        drop(child.stdout.take());
        let run = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("possim finished")
            .unwrap();
        let text = stderr(&run);
        assert_eq!(run.status.code(), Some(code), "{text}");
        assert!(
            !text.contains("panicked") && !text.contains("failed printing"),
            "{text}"
        );
        assert!(out.join("report.json").is_file());
        if code == 1 {
            // JUnit's message names the first difference itself.
            let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
            assert!(
                junit.contains("message=\"[result] status: expected &quot;completed&quot;, got &quot;refused&quot;\">"),
                "{junit}"
            );
        }
    }
    // The listing too.
    let mut child = command(&["certify", "tyrios", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let run = child.wait_with_output().await.unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
}

/// A defect name the till does not know is never counted as caught: possim's own tills refuse
/// it before any run (exit 2, the known defects named); another till that errs in every scenario
/// with it did not plant it, and the audit says not caught.
#[tokio::test]
async fn an_unknown_defect_in_the_defect_list_is_refused_or_not_caught_never_caught() {
    let dir = scratch("unknown-defect");
    let out = dir.join("out");
    let run = possim(&[
        "certify",
        LOOKUP,
        "--defects",
        "--defect-list",
        "amount-as-string,no-such-defect",
        "--out",
        out.to_str().unwrap(),
        "--",
        "possim",
        "pos",
        "tyrios",
    ])
    .await;
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let says = stderr(&run);
    assert!(
        says.contains("possim pos tyrios has no defect \"no-such-defect\" (known: skip-draft,")
            && says.contains("ignore-keep-points)"),
        "{says}"
    );
    assert_eq!(says.trim().lines().count(), 1, "{says}");
    assert!(!out.join("report.json").exists(), "no scenario ran");

    // A vendor's till: answers the lookup, refuses any defect flag it does not know.
    let till = script(
        &dir,
        "till.sh",
        &format!(
            "#!/bin/sh\ncase \"$1\" in --plant=*) echo \"unknown defect ${{1#--plant=}}\" >&2; exit 2;; esac\necho '{LOOKUP_RESULT}'\n"
        ),
        0o755,
    );
    let run = possim(&[
        "certify",
        LOOKUP,
        "--defects",
        "--defect-list",
        "no-such-defect",
        "--defect-template=--plant={defect}",
        "--out",
        out.to_str().unwrap(),
        "--",
        till.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let detection = &report["detection"];
    assert_eq!(detection["cleanCertified"], true);
    assert_eq!(
        (detection["planted"].as_u64(), detection["caught"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(detection["defects"][0]["caught"], false);
    assert_eq!(detection["defects"][0]["scenarios"][0]["verdict"], "error");
}

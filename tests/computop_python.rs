//! An independent Computop client — `tests/clients/computop_client.py`, written in Python on
//! pycryptodome from the protocol notes, not from our Rust code — completes a PAYBACK PAY sale
//! (Blowfish and AES), verifies the notifies' and the browser return's MACs, inquires, credits
//! in parts (money first, then points), is refused a credit over the captured total, replays a
//! credit by ReqID and is refused requests with a wrong MAC. It also checks its own crypto
//! against the published vectors, so a disagreement points at the mock.
//!
//! Needs `python3`; pycryptodome is installed into the target directory when missing. Without
//! them the test fails, never skips.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::util::Possim;

const INSTALL: &str = "python3 with pycryptodome is needed: pip install pycryptodome";

/// Where the test installs pycryptodome when the machine lacks it, so `cargo test --workspace`
/// stays the one test command on a fresh machine (PyPI is reachable there, as crates.io is).
fn private_site() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pydeps")
}

async fn imports(pythonpath: &std::path::Path) -> Result<(), String> {
    let probe = Command::new(crate::util::python3())
        .args(["-c", "from Crypto.Cipher import AES, Blowfish"])
        .env("PYTHONPATH", pythonpath)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("python3 does not start: {e}"))?;
    if probe.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&probe.stderr).trim().to_owned())
    }
}

/// Makes pycryptodome importable (installing it into the target directory if need be); fails,
/// never skips, when that is impossible.
pub(crate) async fn require_pycryptodome() -> std::path::PathBuf {
    let site = private_site();
    if imports(&site).await.is_ok() {
        return site;
    }
    let install = Command::new(crate::util::python3())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&site)
        .arg("pycryptodome")
        .stdin(Stdio::null())
        .output()
        .await;
    if let Ok(out) = &install
        && !out.status.success()
    {
        panic!(
            "{INSTALL} (pip failed: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    match imports(&site).await {
        Ok(()) => site,
        Err(e) => panic!("{INSTALL} (import failed: {e})"),
    }
}

#[tokio::test]
async fn an_independent_python_client_completes_sales_notifies_and_credits() {
    let site = require_pycryptodome().await;
    let p = Possim::start("default", &[]).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/computop_client.py");
    let run = Command::new(crate::util::python3())
        .arg(script)
        .args(["--paygate", &p.computop, "--admin", &p.admin])
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONPATH", &site)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A bound for the whole client run (it waits at most 20 s per callback), not a sync sleep.
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the Python client finishes within 180 s")
        .expect("python3 starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python client failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("all checks passed"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    println!("{stdout}");
}

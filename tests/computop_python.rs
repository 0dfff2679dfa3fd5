//! An independent Computop client — `tests/clients/computop_client.py`, written in Python on
//! pycryptodome from the protocol notes, not from our Rust code — completes a PAYBACK PAY sale
//! (Blowfish and AES), verifies the notifies' and the browser return's MACs, inquires, credits
//! in parts (money first, then points), is refused a credit over the captured total, replays a
//! credit by ReqID and is refused requests with a wrong MAC. It also checks its own crypto
//! against the published vectors, so a disagreement points at the mock.
//!
//! Needs `python3` with pycryptodome; without them the test fails (CI installs it).

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::util::Possim;

const INSTALL: &str = "python3 with pycryptodome is needed: pip install pycryptodome";

/// Fails (never skips) when python3 or pycryptodome is missing.
async fn require_pycryptodome() {
    let probe = Command::new("python3")
        .args(["-c", "from Crypto.Cipher import AES, Blowfish"])
        .stdin(Stdio::null())
        .output()
        .await;
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "{INSTALL} (import failed: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("{INSTALL} (python3 does not start: {e})"),
    }
}

#[tokio::test]
async fn an_independent_python_client_completes_sales_notifies_and_credits() {
    require_pycryptodome().await;
    let p = Possim::start("default", &[]).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/computop_client.py");
    let run = Command::new("python3")
        .arg(script)
        .args(["--paygate", &p.computop, "--admin", &p.admin])
        .env("PYTHONUNBUFFERED", "1")
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

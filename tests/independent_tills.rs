//! The strongest check of a suite: a correct till built only from the published contract
//! certifies. The tills in `tests/clients/` (`tyrios_till.py`, `payback_till.py` with its ZVT
//! half `payback_terminal.py`, the cash register `zvt_ecr.py`, the web shop `computop_shop.py`,
//! the Loymax till `loymax_till.py`) are small Python programs (standard library; the shop adds
//! pycryptodome) written from `conformance/README.md` (the exec contract, actions and results),
//! the suites' and mocks' READMEs, the terminal's README, the provider seeds and (for Loymax) the
//! protocol notes `shared/specs/loymax-tyrios.md` — not from `possim-pos` — and are certified
//! through `--driver exec` at every level. Where one could not be written from the documents, the
//! documents were fixed.
//!
//! Needs `python3`; the shop's pycryptodome is installed into the target directory when missing
//! (as `computop_python` does). Without them the tests fail, never skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `possim certify <suite> --driver exec --out <tmp> -- python3 tests/clients/<till>`; the report.
async fn certify_python_till(suite: &str, till: &str) -> Value {
    certify_python_till_with(suite, till, None).await
}

/// The same, with `PYTHONPATH` set (the Computop shop's pycryptodome).
async fn certify_python_till_with(suite: &str, till: &str, pythonpath: Option<&Path>) -> Value {
    let out = std::env::temp_dir().join(format!("possim-e2e-{}-independent-{till}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"));
    if let Some(path) = pythonpath {
        command.env("PYTHONPATH", path);
    }
    let run = command
        .args(["certify", suite, "--driver", "exec", "--out"])
        .arg(&out)
        .args(["--", crate::util::python3(), &format!("tests/clients/{till}")])
        .current_dir(repo())
        .env("CI", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A bound on a whole suite run (one Python start per scenario), not a synchronisation sleep.
    let run = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("possim certify finished within 5 minutes")
        .expect("possim ran");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{till} must certify:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// Every level of the suite ran and passed in full: `(level, passed)`.
fn levels_all_passed(report: &Value) -> Vec<(String, u64)> {
    assert_eq!(report["summary"]["verdict"], "pass");
    report["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let name = l["name"].as_str().unwrap().to_owned();
            for count in ["failed", "errored", "skipped"] {
                assert_eq!(l[count], 0, "{name}: {count}");
            }
            assert_eq!(l["passed"], l["total"], "{name}");
            (name, l["passed"].as_u64().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_tyrios_till_written_from_the_documents_certifies_at_every_level() {
    let report = certify_python_till("tyrios", "tyrios_till.py").await;
    assert_eq!(
        levels_all_passed(&report),
        [("minimum".to_owned(), 15), ("full".to_owned(), 12)]
    );
}

#[tokio::test]
async fn a_payback_till_written_from_the_documents_certifies_at_every_level() {
    let report = certify_python_till("payback", "payback_till.py").await;
    assert_eq!(
        levels_all_passed(&report),
        [
            ("minimum".to_owned(), 9),
            ("full".to_owned(), 5),
            ("austria".to_owned(), 6)
        ]
    );
}

#[tokio::test]
async fn a_zvt_cash_register_written_from_the_documents_certifies_at_every_level() {
    let report = certify_python_till("zvt-ecr", "zvt_ecr.py").await;
    assert_eq!(
        levels_all_passed(&report),
        [
            ("basic".to_owned(), 5),
            ("errors".to_owned(), 4),
            ("pre-auth-and-end-of-day".to_owned(), 2),
            ("serial".to_owned(), 2),
            ("issue-of-goods".to_owned(), 5),
            ("quirk-profiles".to_owned(), 3)
        ]
    );
}

#[tokio::test]
async fn a_computop_web_shop_written_from_the_documents_certifies_at_every_level() {
    let site = crate::computop_python::require_pycryptodome().await;
    let report = certify_python_till_with("computop-payback-pay", "computop_shop.py", Some(&site)).await;
    assert_eq!(
        levels_all_passed(&report),
        [("minimum".to_owned(), 5), ("full".to_owned(), 10)]
    );
}

#[tokio::test]
async fn a_loymax_till_written_from_the_documents_certifies_at_every_level() {
    let report = certify_python_till("loymax", "loymax_till.py").await;
    assert_eq!(
        levels_all_passed(&report),
        [
            ("minimum".to_owned(), 15),
            ("medium".to_owned(), 8),
            ("maximum".to_owned(), 4)
        ]
    );
}

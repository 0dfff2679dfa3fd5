//! The terminal's TLS listener (`--zvt-tls`) with the real binary: an independent client —
//! `tests/clients/zvt_tls_client.py` on Python's standard `ssl` module — verifies the chain up to
//! the committed test CA and the host name, and pays; the reference ECR (`possim zvt --tls`)
//! pays with a client certificate; fault rules and the journal work as on plain TCP.
//!
//! Needs `python3` (standard library only); without it the test fails, never skips.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::util::Possim;

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("mocks/datasets/zvt-tls")
        .join(name)
}

async fn journal(p: &Possim) -> Vec<Value> {
    let (_, j) = p.admin("GET", "/__admin/journal?provider=zvt", None).await;
    j["entries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_independent_tls_client_checks_the_chain_and_pays() {
    let p = Possim::start("", &["--zvt-tls", "127.0.0.1:0"]).await;
    let addr = p.zvt_tls.clone().expect("possim printed zvt-tls");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/zvt_tls_client.py");
    let run = Command::new(crate::util::python3())
        .arg(&script)
        .args([host, port])
        .arg(tls_file("ca.pem"))
        // The certificate names localhost and 127.0.0.1; the name is checked against it.
        .arg("localhost")
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the Python client finishes within a minute")
        .expect("python3 starts (it is needed for this test)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    // Python's default trust store does not know possim's test CA: verification really happens.
    let refused = result["refusedWithoutCa"].as_str().unwrap_or_default();
    assert!(refused.contains("certificate"), "{result}");
    assert!(result["version"].as_str().unwrap().starts_with("TLSv1."), "{result}");
    assert_eq!(result["peer"]["commonName"], "possim virtual terminal");
    // Registration: 80 00 00, then Completion 06 0F (PA00P015 §2.1).
    let registration: Vec<&str> = result["registration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(registration.first(), Some(&"800000"), "{result}");
    assert!(registration.last().unwrap().starts_with("060f"), "{result}");
    // Authorisation: acknowledged, a Status-Information 04 0F with BMP 04 = 12.50 in BCD, 06 0F.
    let payment: Vec<&str> = result["payment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(payment.first(), Some(&"800000"), "{result}");
    assert!(
        payment
            .iter()
            .any(|m| m.starts_with("040f") && m.contains("04000000001250")),
        "{result}"
    );
    assert!(payment.last().unwrap().starts_with("060f"), "{result}");
    let (_, state) = p.admin("GET", "/__admin/state/zvt", None).await;
    assert_eq!(state["transactions"][0]["amount"], 1250, "{state}");
    // Journalled like plain TCP, on link `tls`; the failed handshake without the CA is a note.
    let entries = journal(&p).await;
    assert!(
        entries.iter().any(|e| e["control"] == "06 01" && e["link"] == "tls"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["text"].as_str().unwrap_or("").starts_with("TLS handshake failed")),
        "{entries:?}"
    );
    // The TLS endpoint is announced beside the plain one.
    let (_, health) = p.admin("GET", "/__admin/health", None).await;
    assert_eq!(
        health["endpoints"]["zvt-tls"],
        json!(format!("tls://{addr}")),
        "{health}"
    );
}

async fn possim_zvt(addr: &str, args: &[&str]) -> std::process::Output {
    let run = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["zvt", "--tcp", addr, "--tls"])
        .args(args)
        .stdin(Stdio::null())
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("possim zvt finishes within a minute")
        .expect("possim zvt starts")
}

#[tokio::test]
async fn the_reference_ecr_pays_over_tls_and_fault_rules_apply() {
    let p = Possim::start("", &["--zvt-tls", "127.0.0.1:0"]).await;
    let addr = p.zvt_tls.clone().unwrap();
    let cert = tls_file("client.pem");
    let key = tls_file("client.key");
    // With a client certificate signed by the test CA (optional, verified when given).
    let out = possim_zvt(
        &addr,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "pay",
            "4.20",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last line is the result the driver contract documents (status, amount, receipt).
    let result: serde_json::Value = serde_json::from_str(stdout.trim_end().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("last line is the JSON result ({e}):\n{stdout}"));
    assert_eq!(result["status"], "completed", "{stdout}");
    assert_eq!(result["amount"], "4.20", "{stdout}");
    // The ECR's last acknowledgement of that payment (of its Completion) may still be on its way
    // into the terminal when `possim zvt` has exited; a rule armed before the terminal has read
    // it would be spent on it. So first that acknowledgement in the journal (the terminal
    // evaluates the rules right after journalling a message, without waiting in between).
    let completion_acknowledged = async {
        loop {
            let entries = journal(&p).await;
            let completion = entries
                .iter()
                .position(|e| e["direction"] == "pt-to-ecr" && e["control"] == "06 0F");
            if let Some(at) = completion
                && entries[at..]
                    .iter()
                    .any(|e| e["direction"] == "ecr-to-pt" && e["control"] == "80 00")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), completion_acknowledged)
        .await
        .expect("the terminal journals the ECR's acknowledgement of the first Completion within 10 s");

    // The same rule as on TCP: the cable is pulled at the first acknowledgement; nothing stored.
    let (status, body) = p
        .admin(
            "POST",
            "/__admin/faults",
            Some(json!({"name": "tls cable pulled", "provider": "zvt", "method": "ZVT", "path": "^80 00$", "times": 1, "action": {"type": "close"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let out = possim_zvt(&addr, &["pay", "9.90"]).await;
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, state) = p.admin("GET", "/__admin/state/zvt", None).await;
    let amounts: Vec<&Value> = state["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["amount"])
        .collect();
    assert_eq!(amounts, [&json!(420)], "{state}");
    let entries = journal(&p).await;
    assert!(
        entries
            .iter()
            .any(|e| e["link"] == "tls" && e["text"].as_str().unwrap_or("").contains("tls cable pulled")),
        "{entries:?}"
    );

    // A wrong CA: the ECR refuses the terminal.
    let out = possim_zvt(&addr, &["--tls-ca", cert.to_str().unwrap(), "status"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("over TLS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

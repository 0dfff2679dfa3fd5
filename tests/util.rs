//! Starts the real binary with every port 0, reads the printed endpoints as the readiness
//! signal, and kills the process when the handle is dropped.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

pub use crate::documented::assert_documented;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `possim serve`.
pub struct Possim {
    child: Child,
    pub admin: String,
    pub tyrios: String,
    pub payback: String,
    /// Computop Paygate base URL.
    pub computop: String,
    /// Loymax processing base URL.
    pub loymax: String,
    /// `host:port` of the virtual ZVT terminal.
    pub zvt: String,
    /// Slave path of the terminal's pseudo-terminal (the ECR's "COM port").
    pub zvt_serial: Option<String>,
    /// `host:port` of the terminal's TLS listener (with `--zvt-tls`).
    pub zvt_tls: Option<String>,
    client: reqwest::Client,
}

impl Possim {
    /// Starts `possim serve --data <data>` with extra arguments (no `--data` when `data` is empty).
    pub async fn start(data: &str, extra: &[&str]) -> Self {
        let data_args: &[&str] = if data.is_empty() { &[] } else { &["--data", data] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_possim"))
            .args([
                "serve",
                "--admin",
                "127.0.0.1:0",
                "--tyrios",
                "127.0.0.1:0",
                "--payback",
                "127.0.0.1:0",
                "--computop",
                "127.0.0.1:0",
                "--loymax",
                "127.0.0.1:0",
                "--zvt",
                "127.0.0.1:0",
            ])
            // Tests run in parallel: no shared ./possim-zvt.tty (a test may name its own).
            .args(if extra.contains(&"--zvt-tty-link") {
                &[][..]
            } else {
                &["--zvt-tty-link", "none"][..]
            })
            .args(data_args)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("possim binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let (mut admin, mut tyrios, mut payback, mut zvt) = (None, None, None, None);
        let mut computop = None;
        let mut loymax = None;
        let mut zvt_serial = None;
        let serial_wanted = !extra.contains(&"--zvt-serial");
        let tls_wanted = extra.contains(&"--zvt-tls");
        let mut zvt_tls = None;
        let read = async {
            while admin.is_none()
                || tyrios.is_none()
                || payback.is_none()
                || computop.is_none()
                || loymax.is_none()
                || zvt.is_none()
                || (serial_wanted && zvt_serial.is_none())
                || (tls_wanted && zvt_tls.is_none())
            {
                let line = lines
                    .next_line()
                    .await
                    .expect("read stdout")
                    .expect("possim exited before it was ready");
                match line.split_once(' ') {
                    Some(("admin", url)) => admin = Some(url.to_owned()),
                    Some(("tyrios", url)) => tyrios = Some(url.to_owned()),
                    Some(("payback", url)) => payback = Some(url.to_owned()),
                    Some(("computop", url)) => computop = Some(url.to_owned()),
                    Some(("loymax", url)) => loymax = Some(url.to_owned()),
                    Some(("zvt-tcp", addr)) => zvt = Some(addr.to_owned()),
                    Some(("zvt-serial", path)) => zvt_serial = Some(path.to_owned()),
                    Some(("zvt-tls", addr)) => zvt_tls = Some(addr.to_owned()),
                    _ => {}
                }
            }
        };
        // A bound on how long start-up may take, not a synchronisation sleep.
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("possim printed its endpoints");
        Self {
            child,
            admin: admin.unwrap(),
            tyrios: tyrios.unwrap(),
            payback: payback.unwrap(),
            computop: computop.unwrap(),
            loymax: loymax.unwrap(),
            zvt: zvt.unwrap(),
            zvt_serial,
            zvt_tls,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// Sends a TYRIOS request with Basic credentials; returns status and JSON body.
    pub async fn tyrios_as(&self, login: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.tyrios);
        let mut req = self
            .client
            .request(method.parse().unwrap(), url)
            .basic_auth(login, Some("demo"));
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_owned());
        }
        let resp = req.send().await.expect("request is answered");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer is JSON ({e}): {text}")),
        )
    }

    /// `tyrios_as` with the seed's `demo` login.
    pub async fn tyrios(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.tyrios_as("demo", method, path, body).await
    }

    /// Sends an admin request; returns status and JSON body (null for an empty body).
    /// The newest journal entry of `provider` (`GET /__admin/journal?provider=…`).
    pub async fn last_journal_entry(&self, provider: &str) -> Value {
        let journal = self
            .admin("GET", &format!("/__admin/journal?provider={provider}"), None)
            .await
            .1;
        journal["entries"]
            .as_array()
            .and_then(|e| e.last())
            .unwrap_or_else(|| panic!("no {provider} entry in {journal}"))
            .clone()
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.admin));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// The raw client, for tests that need to look below JSON.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The TYRIOS state snapshot.
    pub async fn tyrios_state(&self) -> Value {
        self.admin("GET", "/__admin/state/tyrios", None).await.1
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running");
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap()
    }
}

/// The interpreter `python3` names, asked once (`sys.executable`). A version manager's shim
/// (pyenv's) starts several shell processes before Python on every call — about 0.2 s — and
/// the independent tills start Python once per scenario; the interpreter itself is the same.
/// Where `python3` cannot answer, plain `python3`, so the caller's own message says what is
/// missing.
pub fn python3() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|path| path.trim().to_owned())
            .filter(|path| !path.is_empty())
            .unwrap_or_else(|| "python3".to_owned())
    })
}

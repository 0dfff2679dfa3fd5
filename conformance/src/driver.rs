//! Drivers hand a scenario's business action to the POS under test and collect its answer.
//!
//! - `exec` runs a command per scenario: the action as JSON on stdin and in `POSSIM_ACTION`, the
//!   mocks' URLs and the POS's credentials in `POSSIM_<PROVIDER>_URL/_LOGIN/_PASSWORD`; the POS
//!   prints its result as one JSON object on stdout and exits 0.
//! - `http` POSTs the same envelope to the POS's test adapter and reads the result from the answer.
//! - `manual` prints plain-language steps for an operator at a real till, shows the traffic live
//!   and asks the operator what the till reported.
//!
//! The contract (envelope, result vocabulary) is documented in `conformance/README.md`.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scenario::Credentials;

/// How the POS is reached.
#[derive(Debug, Clone)]
pub enum Driver {
    /// Run this command (program and arguments; `{action_file}` and `{scenario}` are replaced).
    Exec(Vec<String>),
    /// POST to this test adapter URL.
    Http(String),
    /// An operator at a real till.
    Manual,
}

impl Driver {
    /// `exec`, `http` or `manual`.
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Exec(_) => "exec",
            Driver::Http(_) => "http",
            Driver::Manual => "manual",
        }
    }

    /// The POS as a report shows it.
    pub fn describe(&self) -> String {
        match self {
            Driver::Exec(cmd) => cmd.join(" "),
            Driver::Http(url) => url.clone(),
            Driver::Manual => "operator at a till".into(),
        }
    }

    /// How long a POS may take per scenario unless the scenario says otherwise.
    pub fn default_timeout(&self) -> Duration {
        match self {
            Driver::Manual => Duration::from_secs(600),
            _ => Duration::from_secs(15),
        }
    }
}

/// Everything a driver hands over for one scenario.
#[derive(Debug, Clone)]
pub struct ActionContext {
    /// Scenario id.
    pub scenario: String,
    /// The action (`type` and fields).
    pub action: Value,
    /// Provider name → base URL.
    pub providers: BTreeMap<String, String>,
    /// Provider name → credentials the POS uses.
    pub credentials: BTreeMap<String, Credentials>,
    /// The admin API of the mocks.
    pub admin_url: String,
    /// Time limit.
    pub timeout: Duration,
}

impl ActionContext {
    /// The JSON envelope of the `http` driver (and the documented shape of the contract).
    pub fn envelope(&self) -> Value {
        let providers: serde_json::Map<String, Value> = self
            .providers
            .iter()
            .map(|(name, url)| {
                let mut entry = json!({"url": url});
                if let Some(c) = self.credentials.get(name) {
                    entry["login"] = json!(c.login);
                    entry["password"] = json!(c.password);
                    if let Some(partner) = &c.partner {
                        entry["partner"] = json!(partner);
                    }
                    if name == "computop" {
                        entry["merchantId"] = json!(c.login);
                        entry["hmacPassword"] = json!(c.password);
                        entry["cryptPassword"] = json!(c.crypt_password);
                        entry["cipher"] = json!(c.cipher.as_deref().unwrap_or("blowfish"));
                    }
                }
                (name.clone(), entry)
            })
            .collect();
        json!({"scenario": self.scenario, "action": self.action, "providers": providers})
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("POSSIM_SCENARIO".to_owned(), self.scenario.clone()),
            ("POSSIM_ACTION".to_owned(), self.action.to_string()),
            (
                "POSSIM_ACTION_TYPE".to_owned(),
                self.action.get("type").and_then(Value::as_str).unwrap_or("").to_owned(),
            ),
            ("POSSIM_ADMIN_URL".to_owned(), self.admin_url.clone()),
        ];
        for (name, url) in &self.providers {
            let upper = name.to_ascii_uppercase().replace('-', "_");
            env.push((format!("POSSIM_{upper}_URL"), url.clone()));
            if let Some(c) = self.credentials.get(name) {
                env.push((format!("POSSIM_{upper}_LOGIN"), c.login.clone()));
                env.push((format!("POSSIM_{upper}_PASSWORD"), c.password.clone()));
                if let Some(partner) = &c.partner {
                    env.push((format!("POSSIM_{upper}_PARTNER"), partner.clone()));
                }
                // The Computop Paygate's three secrets under their own names: the MerchantID
                // (login), the HMAC password (password) and the Blowfish/AES password.
                if name == "computop" {
                    env.push(("POSSIM_COMPUTOP_MERCHANT_ID".to_owned(), c.login.clone()));
                    env.push(("POSSIM_COMPUTOP_HMAC_PASSWORD".to_owned(), c.password.clone()));
                    if let Some(crypt) = &c.crypt_password {
                        env.push(("POSSIM_COMPUTOP_CRYPT_PASSWORD".to_owned(), crypt.clone()));
                    }
                    env.push((
                        "POSSIM_COMPUTOP_CIPHER".to_owned(),
                        c.cipher.clone().unwrap_or_else(|| "blowfish".to_owned()),
                    ));
                }
            }
        }
        env
    }
}

/// What came back from the POS.
#[derive(Debug, Clone, Default)]
pub struct DriverOutcome {
    /// The POS's result object.
    pub result: Option<Value>,
    /// Diagnostic output (stderr), cut.
    pub log: Option<String>,
    /// Why no verdict on the POS is possible (crash, time-out, no result).
    pub error: Option<String>,
    /// The POS command could not be started at all (not found, not executable): the set-up's
    /// fault, the same for every scenario, so the run stops instead of judging the POS.
    pub cannot_start: Option<String>,
}

/// Keeps the last `MAX_LOG` bytes of diagnostic output: the end is where the error is.
const MAX_LOG: usize = 8 * 1024;

fn tail(text: &str) -> Option<String> {
    let text = text.trim_end();
    if text.is_empty() {
        return None;
    }
    if text.len() <= MAX_LOG {
        return Some(text.to_owned());
    }
    let mut start = text.len() - MAX_LOG;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    Some(format!("…{}", &text[start..]))
}

/// The last line of `stdout` that is a JSON object, or the whole output if it is one.
pub fn parse_result(stdout: &str) -> Option<Value> {
    if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(stdout.trim()) {
        return Some(value);
    }
    stdout.lines().rev().filter(|l| !l.trim().is_empty()).find_map(|line| {
        match serde_json::from_str::<Value>(line.trim()) {
            Ok(value @ Value::Object(_)) => Some(value),
            _ => None,
        }
    })
}

/// Finds `program` on `PATH`. A bare `possim` that is not installed means this very binary, so
/// `-- possim pos tyrios` works from a fresh clone with `cargo run`.
pub fn resolve_program(program: &str) -> PathBuf {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    if program.contains(std::path::MAIN_SEPARATOR) {
        return PathBuf::from(program);
    }
    if let Some(found) = on_path(program) {
        return found;
    }
    if program == "possim"
        && let Ok(me) = std::env::current_exe()
    {
        return me;
    }
    PathBuf::from(program)
}

/// Runs the `exec` driver once.
pub async fn run_exec(command: &[String], ctx: &ActionContext) -> DriverOutcome {
    let Some((program, args)) = command.split_first() else {
        return DriverOutcome {
            error: Some("the exec driver needs a command after --".into()),
            ..DriverOutcome::default()
        };
    };
    // The action also goes to a file for POS commands that take a path argument.
    let action_text = serde_json::to_string_pretty(&ctx.action).unwrap_or_default();
    let action_file = std::env::temp_dir().join(format!(
        "possim-action-{}-{}.json",
        std::process::id(),
        ctx.scenario.replace(['/', '\\'], "_")
    ));
    let uses_file = args.iter().any(|a| a.contains("{action_file}"));
    if uses_file && let Err(e) = std::fs::write(&action_file, &action_text) {
        return DriverOutcome {
            error: Some(format!("cannot write {}: {e}", action_file.display())),
            ..DriverOutcome::default()
        };
    }
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("{action_file}", &action_file.to_string_lossy())
                .replace("{scenario}", &ctx.scenario)
        })
        .collect();
    let outcome = exec_inner(program, &args, ctx, &action_text).await;
    if uses_file {
        let _ = std::fs::remove_file(&action_file);
    }
    outcome
}

/// How long the pipes of a finished (or killed) POS may take to reach their end: a helper that
/// left the process group can hold them open, and the verdict must not wait for it.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

async fn exec_inner(program: &str, args: &[String], ctx: &ActionContext, action_text: &str) -> DriverOutcome {
    let resolved = resolve_program(program);
    let mut command = tokio::process::Command::new(&resolved);
    command
        .args(args)
        .envs(ctx.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The POS gets a process group of its own, so its helper processes can be ended with it.
    #[cfg(unix)]
    command.process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return DriverOutcome {
                cannot_start: Some(cannot_start(program, &resolved, &e)),
                ..DriverOutcome::default()
            };
        }
    };
    let group = child.id();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    // A POS that never reads stdin must not block us: write, then close, ignoring EPIPE.
    let input = action_text.to_owned();
    tokio::spawn(async move {
        if let Some(mut pipe) = stdin {
            let _ = pipe.write_all(input.as_bytes()).await;
            let _ = pipe.write_all(b"\n").await;
        }
    });
    let read_out = tokio::spawn(read_all(stdout));
    let read_err = tokio::spawn(read_all(stderr));
    let waited = tokio::time::timeout(ctx.timeout, child.wait()).await;
    // Whatever the POS left behind (helpers, a daemon) ends with the scenario.
    kill_group(group);
    let status = match waited {
        Ok(status) => status,
        Err(_) => {
            let _ = child.kill().await;
            let log = drain(read_err).await.as_deref().and_then(tail);
            return DriverOutcome {
                error: Some(format!(
                    "the POS did not finish within {} ms (killed)",
                    ctx.timeout.as_millis()
                )),
                log,
                ..DriverOutcome::default()
            };
        }
    };
    let out = drain(read_out).await.unwrap_or_default();
    let err = drain(read_err).await.unwrap_or_default();
    let log = tail(&err);
    let result = parse_result(&out);
    let error = match status {
        Err(e) => Some(format!("waiting for the POS failed: {e}")),
        Ok(s) if !s.success() => Some(format!("the POS command exited with {s}")),
        Ok(_) if result.is_none() => Some(format!(
            "the POS printed no JSON result object on stdout (got {:?})",
            out.chars().take(200).collect::<String>()
        )),
        Ok(_) => None,
    };
    DriverOutcome {
        result,
        log,
        error,
        ..DriverOutcome::default()
    }
}

async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes).await;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What a pipe reader got, waiting at most [`DRAIN_LIMIT`] for its end.
async fn drain(reader: tokio::task::JoinHandle<String>) -> Option<String> {
    let abort = reader.abort_handle();
    match tokio::time::timeout(DRAIN_LIMIT, reader).await {
        Ok(Ok(text)) => Some(text),
        _ => {
            abort.abort();
            None
        }
    }
}

/// Sends SIGKILL to the POS's process group (its id is the POS's pid); a group that is already
/// gone is fine.
#[cfg(unix)]
fn kill_group(group: Option<u32>) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if let Some(id) = group.and_then(|id| i32::try_from(id).ok()) {
        let _ = killpg(Pid::from_raw(id), Signal::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_group: Option<u32>) {}

/// The one line that says why the POS command cannot run at all.
fn cannot_start(program: &str, resolved: &std::path::Path, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound if resolved.exists() => format!(
            "the POS command {} cannot be started: its interpreter (#! line) or a library it needs was not found",
            resolved.display()
        ),
        std::io::ErrorKind::NotFound => {
            format!("the POS command {program:?} was not found (not a file, not on PATH)")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!(
                "the POS command {} is not executable (permission denied)",
                resolved.display()
            )
        }
        _ => format!("the POS command {} cannot be started: {error}", resolved.display()),
    }
}

/// Checks before any scenario runs that the exec driver's command can be started: it exists
/// (as a path or on `PATH`) and is an executable file. `Err` is the one line to show.
pub fn check_command(command: &[String]) -> Result<PathBuf, String> {
    let Some(program) = command.first() else {
        return Err("the exec driver needs the POS command after --".into());
    };
    let resolved = resolve_program(program);
    let Ok(meta) = std::fs::metadata(&resolved) else {
        return Err(format!(
            "the POS command {program:?} was not found (not a file, not on PATH)"
        ));
    };
    if !meta.is_file() {
        return Err(format!("the POS command {} is not a file", resolved.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(format!(
                "the POS command {} is not executable (chmod +x?)",
                resolved.display()
            ));
        }
    }
    Ok(resolved)
}

/// Runs the `http` driver once.
pub async fn run_http(url: &str, ctx: &ActionContext) -> DriverOutcome {
    let client = match reqwest::Client::builder().no_proxy().timeout(ctx.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            return DriverOutcome {
                error: Some(format!("HTTP client: {e}")),
                ..DriverOutcome::default()
            };
        }
    };
    let response = match client.post(url).json(&ctx.envelope()).send().await {
        Ok(r) => r,
        Err(e) => {
            return DriverOutcome {
                error: Some(format!("the POS adapter at {url} did not answer: {e}")),
                ..DriverOutcome::default()
            };
        }
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let result = parse_result(&text);
    let error = if !status.is_success() {
        Some(format!(
            "the POS adapter answered {status}: {}",
            text.chars().take(300).collect::<String>()
        ))
    } else if result.is_none() {
        Some("the POS adapter's answer is not a JSON object".into())
    } else {
        None
    };
    DriverOutcome {
        result,
        log: None,
        error,
        ..DriverOutcome::default()
    }
}

/// Whether progress lines should be drawn (a terminal, not CI).
pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_is_the_last_json_object_line() {
        assert_eq!(
            parse_result("log line\n{\"status\":\"completed\"}\n\n"),
            Some(json!({"status": "completed"}))
        );
        assert_eq!(
            parse_result("{\n  \"status\": \"refused\"\n}\n"),
            Some(json!({"status": "refused"}))
        );
        assert_eq!(parse_result("[1]\nnot json"), None);
    }

    #[test]
    fn long_logs_keep_their_end() {
        let text = "x".repeat(MAX_LOG) + "the error";
        let kept = tail(&text).unwrap();
        assert!(kept.ends_with("the error"));
        assert!(kept.len() <= MAX_LOG + 4);
    }

    #[test]
    fn env_names_providers_in_upper_case() {
        let ctx = ActionContext {
            scenario: "tyrios/x".into(),
            action: json!({"type": "sale"}),
            providers: BTreeMap::from([("tyrios".to_owned(), "http://127.0.0.1:1".to_owned())]),
            credentials: BTreeMap::from([(
                "tyrios".to_owned(),
                Credentials {
                    login: "demo".into(),
                    password: "pw".into(),
                    partner: None,
                    crypt_password: None,
                    cipher: None,
                },
            )]),
            admin_url: "http://127.0.0.1:2".into(),
            timeout: Duration::from_secs(1),
        };
        let env = ctx.env();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("POSSIM_TYRIOS_URL"), Some("http://127.0.0.1:1"));
        assert_eq!(get("POSSIM_TYRIOS_LOGIN"), Some("demo"));
        assert_eq!(get("POSSIM_TYRIOS_PASSWORD"), Some("pw"));
        assert_eq!(get("POSSIM_ACTION_TYPE"), Some("sale"));
        assert_eq!(ctx.envelope()["providers"]["tyrios"]["login"], "demo");
    }
}

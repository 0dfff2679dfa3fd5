//! The runner: for each scenario, set the mocks to its start condition, hand its action to the POS
//! through a driver, collect the traffic, the POS's answer and the provider state, and judge them.
//!
//! The runner steers the mocks only through the admin API ([`AdminClient`]), so a run against
//! mocks started in-process and a run attached to a `possim serve` elsewhere behave the same.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use possim_reports::{Diff, Environment, LevelSummary, ProviderEndpoint, RunReport, ScenarioReport, Summary, Verdict};

use crate::admin::AdminClient;
use crate::driver::{ActionContext, Driver, DriverOutcome, run_exec, run_http};
use crate::judge::{Observed, judge_result, judge_state, judge_traffic};
use crate::scenario::{LevelDef, Scenario, Setup};

/// One scenario to run, with where it came from.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Suite name (`tyrios`, or `scenarios` for loose files).
    pub suite: String,
    /// The golden flow.
    pub scenario: Scenario,
    /// Its file.
    pub path: PathBuf,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The POS.
    pub driver: Driver,
    /// Report title.
    pub title: String,
    /// Suites with their levels, in order (for the per-level summary).
    pub suites: Vec<(String, Vec<LevelDef>)>,
    /// `in-process` or the attached admin URL.
    pub target: String,
    /// Print a line per scenario on stderr.
    pub progress: bool,
    /// Override of every scenario's time limit.
    pub timeout: Option<Duration>,
}

/// Why a run stopped before judging the POS: the set-up, not the POS, is at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunAborted(pub String);

/// Runs every planned scenario in order and builds the report. A POS command that cannot be
/// started at all stops the run with [`RunAborted`]: every scenario would fail the same way,
/// and none of it would be the POS's doing.
pub async fn run(
    client: &AdminClient,
    providers: &BTreeMap<String, String>,
    plan: &[Planned],
    config: &RunConfig,
) -> Result<RunReport, RunAborted> {
    let started = Instant::now();
    let started_at = possim_engine::clock::format_rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    );
    let mut operator = matches!(config.driver, Driver::Manual).then(Operator::start);
    let mut scenarios = Vec::new();
    for (index, planned) in plan.iter().enumerate() {
        if config.progress {
            eprint!("[{}/{}] {} … ", index + 1, plan.len(), planned.scenario.id);
            let _ = std::io::stderr().flush();
        }
        client
            .announce(json!({"type": "scenario", "index": index + 1, "total": plan.len(), "id": planned.scenario.id}))
            .await;
        let report = match run_scenario(client, providers, planned, config, operator.as_mut()).await {
            Ok(report) => report,
            Err(aborted) => {
                if config.progress {
                    eprintln!("not run");
                }
                return Err(aborted);
            }
        };
        client
            .announce(json!({"type": "verdict", "id": report.id, "verdict": report.verdict,
                "durationMs": report.duration_ms, "message": report.message, "diffs": report.diffs.len()}))
            .await;
        if config.progress {
            eprintln!("{} ({} ms)", report.verdict.label(), report.duration_ms);
        }
        scenarios.push(report);
    }
    let mut levels = Vec::new();
    for (suite, defs) in &config.suites {
        for def in defs {
            let members: Vec<&ScenarioReport> = scenarios
                .iter()
                .filter(|s| &s.suite == suite && s.level == def.name)
                .collect();
            if members.is_empty() {
                continue;
            }
            levels.push(LevelSummary {
                suite: suite.clone(),
                name: def.name.clone(),
                description: def.description.clone(),
                counts: Summary::of(members),
            });
        }
    }
    Ok(RunReport {
        schema: possim_reports::model::SCHEMA.to_owned(),
        title: config.title.clone(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        environment: Environment {
            possim_version: env!("CARGO_PKG_VERSION").to_owned(),
            platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            driver: config.driver.name().to_owned(),
            pos: config.driver.describe(),
            target: config.target.clone(),
            suites: config.suites.iter().map(|(name, _)| name.clone()).collect(),
            providers: providers
                .iter()
                .map(|(name, url)| ProviderEndpoint {
                    name: name.clone(),
                    url: url.clone(),
                })
                .collect(),
        },
        summary: Summary::of(&scenarios),
        levels,
        scenarios,
        detection: None,
        shard: None,
    })
}

/// A data set given as a relative directory is relative to `base` (the scenario file's directory).
fn data_target(base: &Path, data: &str) -> (String, bool) {
    let looks_like_path = data.contains('/') || data.contains('\\') || data.starts_with('.');
    if !looks_like_path {
        return (data.to_owned(), false);
    }
    let path = if Path::new(data).is_absolute() {
        PathBuf::from(data)
    } else {
        base.join(data)
    };
    (path.to_string_lossy().into_owned(), true)
}

/// Brings the mocks to a scenario's start condition (`setup`): data set, clock, fault rules, the
/// terminal's customer script, an empty journal. A data set given as a relative directory is
/// relative to `base` (the scenario file's directory). `possim record` prepares the same way.
pub async fn prepare(client: &AdminClient, setup: &Setup, base: &Path) -> Result<(), String> {
    let (data, is_path) = data_target(base, setup.data.as_deref().unwrap_or("default"));
    client
        .load_data(&data, is_path)
        .await
        .map_err(|e| format!("set-up: data set {data:?}: {e}"))?;
    if let Some(clock) = &setup.clock {
        client
            .set_clock(clock)
            .await
            .map_err(|e| format!("set-up: clock: {e}"))?;
    }
    client
        .arm_faults(&setup.faults)
        .await
        .map_err(|e| format!("set-up: faults: {e}"))?;
    if let Some(customer) = &setup.zvt_customer {
        client
            .zvt_customer(customer.clone())
            .await
            .map_err(|e| format!("set-up: zvtCustomer: {e}"))?;
    }
    // The journal is the evidence: an attached possim may have been started without it.
    client
        .enable_journal()
        .await
        .map_err(|e| format!("set-up: journal: {e}"))?;
    client
        .clear_journal()
        .await
        .map_err(|e| format!("set-up: journal: {e}"))
}

async fn run_scenario(
    client: &AdminClient,
    providers: &BTreeMap<String, String>,
    planned: &Planned,
    config: &RunConfig,
    operator: Option<&mut Operator>,
) -> Result<ScenarioReport, RunAborted> {
    let started = Instant::now();
    let scenario = &planned.scenario;
    let mut report = ScenarioReport {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        suite: planned.suite.clone(),
        level: scenario.level.clone(),
        required: scenario.required,
        tags: scenario.tags.clone(),
        source: scenario.source.clone(),
        verdict: Verdict::Pass,
        duration_ms: 0,
        action: scenario.action.clone(),
        result: None,
        message: None,
        diffs: Vec::new(),
        exchanges: Vec::new(),
        log: None,
        findings: Vec::new(),
    };
    let finish = |mut report: ScenarioReport| -> Result<ScenarioReport, RunAborted> {
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    };
    for provider in &scenario.providers {
        if !providers.contains_key(provider) {
            report.verdict = Verdict::Error;
            report.message = Some(format!("the mocks do not run provider {provider:?}"));
            return finish(report);
        }
    }
    let base = planned.path.parent().unwrap_or(Path::new("."));
    if let Err(message) = prepare(client, &scenario.setup, base).await {
        report.verdict = Verdict::Error;
        report.message = Some(message);
        return finish(report);
    }
    let ctx = ActionContext {
        scenario: scenario.id.clone(),
        action: scenario.action.clone(),
        // A provider's further endpoints come along (`zvt-serial` beside `zvt`).
        providers: providers
            .iter()
            .filter(|(name, _)| {
                scenario
                    .providers
                    .iter()
                    .any(|p| *name == p || name.strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('-')))
            })
            .map(|(name, url)| (name.clone(), url.clone()))
            .collect(),
        credentials: scenario.setup.credentials.clone(),
        admin_url: client.base().to_owned(),
        timeout: config
            .timeout
            .or(scenario.timeout_ms.map(Duration::from_millis))
            .unwrap_or_else(|| config.driver.default_timeout()),
    };
    client
        .announce(json!({"type": "step", "id": scenario.id, "step": "action"}))
        .await;
    let outcome = match (&config.driver, operator) {
        (Driver::Exec(command), _) => run_exec(command, &ctx).await,
        (Driver::Http(url), _) => run_http(url, &ctx).await,
        (Driver::Manual, Some(operator)) => operator.perform(client, planned, &ctx).await,
        (Driver::Manual, None) => DriverOutcome {
            error: Some("manual driver without an operator".into()),
            ..DriverOutcome::default()
        },
    };
    if let Some(reason) = outcome.cannot_start {
        return Err(RunAborted(reason));
    }
    report.result = outcome.result.clone();
    report.log = outcome.log;
    client
        .announce(json!({"type": "step", "id": scenario.id, "step": "judge"}))
        .await;
    // Every exchange is in the journal once its answer left the mock, and a finished POS has
    // received all its answers; what the mocks sent on their own (notifies) completes when the
    // POS's answer is in, so wait until none is in flight. Then one read sees the whole traffic.
    if let Err(e) = client.outbound_idle(std::time::Duration::from_secs(5)).await {
        report.verdict = Verdict::Error;
        report.message = Some(format!("reading the journal: {e}"));
        return finish(report);
    }
    let observed = match client.journal(0).await {
        Ok(entries) => {
            report.findings = crate::judge::findings(&entries, &scenario.providers);
            Observed::from_journal(&entries)
        }
        Err(e) => {
            report.verdict = Verdict::Error;
            report.message = Some(format!("reading the journal: {e}"));
            return finish(report);
        }
    };
    let traffic = judge_traffic(scenario, &observed);
    report.exchanges = traffic.exchanges;
    if outcome
        .result
        .as_ref()
        .and_then(|r| r.get("status"))
        .and_then(Value::as_str)
        == Some("skipped")
    {
        report.verdict = Verdict::Skipped;
        report.message = Some("skipped by the operator".into());
        return finish(report);
    }
    if let Some(error) = outcome.error {
        report.verdict = Verdict::Error;
        report.message = Some(error);
        report.diffs = traffic.diffs;
        return finish(report);
    }
    let mut diffs: Vec<Diff> = traffic.diffs;
    let manual = matches!(config.driver, Driver::Manual);
    diffs.extend(if manual {
        judge_result(&status_only(scenario), outcome.result.as_ref())
    } else {
        judge_result(scenario, outcome.result.as_ref())
    });
    if !scenario.state.is_empty() {
        let mut snapshots = BTreeMap::new();
        for provider in &scenario.providers {
            match client.state(provider).await {
                Ok(state) => {
                    snapshots.insert(provider.clone(), state);
                }
                Err(e) => {
                    report.verdict = Verdict::Error;
                    report.message = Some(format!("reading the {provider} state: {e}"));
                    report.diffs = diffs;
                    return finish(report);
                }
            }
        }
        diffs.extend(judge_state(scenario, |p| snapshots.get(p).cloned()));
    }
    report.verdict = if diffs.is_empty() { Verdict::Pass } else { Verdict::Fail };
    report.diffs = diffs;
    finish(report)
}

/// An operator can only tell what the till showed in words; only `status` is compared.
fn status_only(scenario: &Scenario) -> Scenario {
    fn keep_status(value: &Value) -> Value {
        match value {
            Value::Object(map) if map.contains_key("$oneOf") => {
                let options: Vec<Value> = map["$oneOf"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(keep_status)
                    .collect();
                json!({"$oneOf": options})
            }
            Value::Object(map) => match map.get("status") {
                Some(status) => json!({"status": status}),
                None => json!({}),
            },
            other => other.clone(),
        }
    }
    let mut copy = scenario.clone();
    copy.result = scenario.result.as_ref().map(keep_status);
    copy
}

/// The manual driver's side: instructions out, live traffic, the operator's answer in.
#[derive(Debug)]
struct Operator {
    lines: mpsc::UnboundedReceiver<String>,
}

impl Operator {
    fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut line = String::new();
            while stdin.read_line(&mut line).is_ok_and(|n| n > 0) {
                if tx.send(line.trim().to_owned()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        Self { lines: rx }
    }

    async fn perform(&mut self, client: &AdminClient, planned: &Planned, ctx: &ActionContext) -> DriverOutcome {
        let scenario = &planned.scenario;
        eprintln!("\n── {} — {}", scenario.id, scenario.title);
        for (provider, url) in &ctx.providers {
            let credentials = ctx.credentials.get(provider).map_or_else(String::new, |c| {
                format!(" (login {} / password {})", c.login, c.password)
            });
            eprintln!("   The till must use {provider} at {url}{credentials}.");
        }
        for (i, step) in crate::action::instructions(&ctx.action).iter().enumerate() {
            eprintln!("   {}. {step}", i + 1);
        }
        eprintln!(
            "   Then type what the till reported: c = completed, r = refused, e = error, s = skip this scenario."
        );
        let deadline = tokio::time::Instant::now() + ctx.timeout;
        let mut seen = 0u64;
        let mut announced = false;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                line = self.lines.recv() => {
                    let Some(line) = line else {
                        return DriverOutcome { error: Some("standard input closed before the operator answered".into()), ..DriverOutcome::default() };
                    };
                    let status = match line.to_ascii_lowercase().as_str() {
                        "c" | "completed" => "completed",
                        "r" | "refused" => "refused",
                        "e" | "error" => "error",
                        "s" | "skip" => "skipped",
                        _ => { eprintln!("   Please type c, r, e or s."); continue; }
                    };
                    return DriverOutcome { result: Some(json!({"status": status})), ..DriverOutcome::default() };
                }
                _ = tick.tick() => {
                    if tokio::time::Instant::now() >= deadline {
                        return DriverOutcome { error: Some(format!("no answer from the operator within {} s", ctx.timeout.as_secs())), ..DriverOutcome::default() };
                    }
                    let Ok(entries) = client.journal(seen).await else { continue };
                    for o in Observed::from_journal(&entries) {
                        seen = seen.max(o.id);
                        let status = o.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string());
                        eprintln!("   ← {} {} {} → {status}", o.provider, o.method, o.path);
                    }
                    if !announced && let Ok(all) = client.journal(0).await {
                        let traffic = judge_traffic(scenario, &Observed::from_journal(&all));
                        if traffic.missing_required == 0 && !all.is_empty() {
                            announced = true;
                            eprintln!("   All expected exchanges arrived. What did the till report? [c/r/e/s]");
                        }
                    }
                }
            }
        }
    }
}

//! `possim certify` and `possim record`: the command-line side of the conformance runner. Finds
//! the golden flows, starts the mocks in-process (or attaches to a running possim), runs the
//! driver, writes the reports and turns the verdict into the exit code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use possim_conformance::admin::AdminClient;
use possim_conformance::driver::{ActionContext, Driver, interactive, run_exec};
use possim_conformance::judge::Observed;
use possim_conformance::record::{self, RecordMeta};
use possim_conformance::runner::{self, Planned, RunConfig};
use possim_conformance::scenario::{self, Credentials, LevelDef, Scenario, Setup};
use possim_reports::{Detection, Verdict};
use serde_json::Value;

use crate::serve;

/// `possim certify` arguments.
#[derive(Debug, clap::Args)]
pub struct CertifyArgs {
    /// Suites (a directory with suite.toml, or the file; or the name of a built-in suite, see
    /// `possim suites`), golden flow files, directories of golden flows, or ids of built-in flows.
    #[arg(required = true, value_name = "SUITE|SCENARIO")]
    pub targets: Vec<PathBuf>,
    /// How the POS is reached: exec (run the command after --), http (POST to --url), manual
    /// (an operator at a till).
    #[arg(long, value_enum, default_value = "exec")]
    pub driver: DriverKind,
    /// The POS's test adapter URL (http driver).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Use a running possim (its admin URL) instead of starting the mocks in-process.
    #[arg(long, value_name = "ADMIN_URL")]
    pub attach: Option<String>,
    /// Run only this level and the levels before it.
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,
    /// Run only scenarios with this tag (repeatable; any of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Run only scenarios whose id contains this text.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    /// Report directory.
    #[arg(long, value_name = "DIR", default_value = "possim-report")]
    pub out: PathBuf,
    /// Time limit per scenario in milliseconds (default: the scenario's, else 15 s; manual 10 min).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// No progress lines, even on a terminal.
    #[arg(long)]
    pub quiet: bool,
    /// List the selected scenarios (id, level, required, title) and exit without running them.
    #[arg(long)]
    pub list: bool,
    /// Audit the suite instead of one POS: run the POS clean and once per planted defect, and
    /// report which scenarios each defect fails and the suite's score (defects caught /
    /// planted). Exit 0 only when the clean POS is certified and every defect is caught.
    /// Exec driver only; with `-- possim pos <till>` the defects are that till's.
    #[arg(long)]
    pub defects: bool,
    /// With --defects: the defects to plant (comma-separated), for a POS command other than
    /// possim's reference tills.
    #[arg(long, value_name = "NAME,…", value_delimiter = ',', requires = "defects")]
    pub defect_list: Vec<String>,
    /// With --defects: the words appended to the POS command to plant one defect; `{defect}` is
    /// replaced by its name.
    #[arg(
        long,
        value_name = "WORDS",
        default_value = "--defect {defect}",
        requires = "defects"
    )]
    pub defect_template: String,
    /// With --defects: how many defect runs at once, each against its own in-process possim on
    /// free ports (most of a run is waiting for the till and the mocks' time-outs). Not with
    /// --attach: one possim serves one run at a time.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "defects",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Run only shard K of N of the selected scenarios (K from 1), balanced by --durations;
    /// without it, GitLab's CI_NODE_INDEX/CI_NODE_TOTAL when both are set. Merge the shards'
    /// report directories with `possim report merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::shard::Shard>,
    /// With sharding: an earlier run's report.json (or its directory) whose scenario durations
    /// balance the shards. Every shard must be given the same file.
    #[arg(long, value_name = "REPORT")]
    pub durations: Option<PathBuf>,
    /// The POS command for the exec driver (`{action_file}` and `{scenario}` are replaced).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Driver names on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DriverKind {
    /// Run a command per scenario.
    Exec,
    /// POST to a test adapter.
    Http,
    /// Instructions for an operator.
    Manual,
}

struct Plan {
    planned: Vec<Planned>,
    suites: Vec<(String, Vec<LevelDef>, String)>,
}

/// The golden-flow loader with the check the runner cannot make itself: `setup.zvtCustomer` must
/// be a customer script of the virtual terminal this binary links, so a broken one is a
/// configuration error (exit 2) before any scenario runs.
pub(crate) fn golden_flows() -> scenario::Loader<'static> {
    scenario::Loader {
        providers: crate::registry::NAMES.as_slice(),
        zvt_customer: Some(|script| {
            serde_json::from_value::<possim_terminal::customer::CustomerScript>(script.clone())
                .map(drop)
                .map_err(|e| e.to_string())
        }),
    }
}

/// Expands the command line's targets into scenarios.
fn plan(args: &CertifyArgs, builtin: &crate::suites::Builtin) -> anyhow::Result<Plan> {
    let mut planned = Vec::new();
    let mut suites: Vec<(String, Vec<LevelDef>, String)> = Vec::new();
    let loose_levels = |scenarios: &[(PathBuf, Scenario)]| {
        let mut levels: Vec<LevelDef> = Vec::new();
        for (_, s) in scenarios {
            if !levels.iter().any(|l| l.name == s.level) {
                levels.push(LevelDef {
                    name: s.level.clone(),
                    description: String::new(),
                });
            }
        }
        levels
    };
    for target in &args.targets {
        // A name that is no file here is a built-in suite or flow (`possim certify tyrios`).
        let builtin_dir = match target.to_str() {
            Some(name) if !target.exists() => builtin.suite_dir(name)?,
            _ => None,
        };
        let target = builtin_dir.as_ref().unwrap_or(target);
        if !target.exists()
            && let Some((path, flow, _)) = target.to_str().map(|id| builtin.scenario(id)).transpose()?.flatten()
        {
            add_loose(&mut planned, &mut suites, vec![(path, flow)], loose_levels);
            continue;
        }
        let is_suite = target.is_dir() && target.join("suite.toml").is_file()
            || target.file_name().is_some_and(|n| n == "suite.toml");
        if is_suite {
            let mut suite = golden_flows().load_suite(target)?;
            crate::suites::expand_includes(&mut suite, builtin)?;
            let levels = match &args.level {
                Some(level) => {
                    let Some(last) = suite.def.levels.iter().position(|l| &l.name == level) else {
                        let names: Vec<&str> = suite.def.levels.iter().map(|l| l.name.as_str()).collect();
                        bail!(
                            "suite {} has no level {level:?} (levels: {})",
                            suite.def.name,
                            names.join(", ")
                        );
                    };
                    suite.def.levels[..=last].to_vec()
                }
                None => suite.def.levels.clone(),
            };
            for (path, s) in suite.scenarios {
                if levels.iter().any(|l| l.name == s.level) {
                    planned.push(Planned {
                        suite: suite.def.name.clone(),
                        scenario: s,
                        path,
                    });
                }
            }
            suites.push((suite.def.name.clone(), levels, suite.def.title.clone()));
        } else if target.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(target)
                .with_context(|| format!("reading {}", target.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            let mut loaded = Vec::new();
            for file in files {
                loaded.push((file.clone(), golden_flows().load(&file)?));
            }
            add_loose(&mut planned, &mut suites, loaded, loose_levels);
        } else if target.is_file() {
            let loaded = vec![(target.clone(), golden_flows().load(target)?)];
            add_loose(&mut planned, &mut suites, loaded, loose_levels);
        } else {
            bail!(
                "{}: no such suite, scenario file or directory (built-in suites: {})",
                target.display(),
                crate::suites::names().join(", ")
            );
        }
    }
    scenario::check_unique(planned.iter().map(|p| (p.path.as_path(), &p.scenario)))?;
    planned.retain(|p| {
        (args.tags.is_empty() || p.scenario.tags.iter().any(|t| args.tags.contains(t)))
            && args.only.as_ref().is_none_or(|o| p.scenario.id.contains(o.as_str()))
    });
    if planned.is_empty() {
        bail!("no scenario selected (check the targets, --level, --tag and --only)");
    }
    Ok(Plan { planned, suites })
}

fn add_loose(
    planned: &mut Vec<Planned>,
    suites: &mut Vec<(String, Vec<LevelDef>, String)>,
    loaded: Vec<(PathBuf, Scenario)>,
    levels: impl Fn(&[(PathBuf, Scenario)]) -> Vec<LevelDef>,
) {
    let name = "scenarios".to_owned();
    let new_levels = levels(&loaded);
    match suites.iter_mut().find(|(n, _, _)| *n == name) {
        Some((_, existing, _)) => {
            for level in new_levels {
                if !existing.iter().any(|l| l.name == level.name) {
                    existing.push(level);
                }
            }
        }
        None => suites.push((name.clone(), new_levels, "Golden flows".into())),
    }
    for (path, s) in loaded {
        planned.push(Planned {
            suite: name.clone(),
            scenario: s,
            path,
        });
    }
}

fn driver(args: &CertifyArgs) -> anyhow::Result<Driver> {
    Ok(match args.driver {
        DriverKind::Exec => {
            if args.command.is_empty() {
                bail!("the exec driver needs the POS command after --, e.g. -- possim pos tyrios");
            }
            // A command that cannot start is the set-up's fault: one line, exit 2, before any
            // mock starts — not a failed scenario each.
            possim_conformance::driver::check_command(&args.command).map_err(anyhow::Error::msg)?;
            Driver::Exec(args.command.clone())
        }
        DriverKind::Http => match &args.url {
            Some(url) => Driver::Http(url.clone()),
            None => bail!("the http driver needs --url of the POS's test adapter"),
        },
        DriverKind::Manual => Driver::Manual,
    })
}

/// With `--defects`: the POS command once per defect, `(defect, command)`.
fn defect_commands(args: &CertifyArgs) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    if !matches!(args.driver, DriverKind::Exec) {
        bail!("--defects plants each defect through the POS command: it needs --driver exec");
    }
    let names = if args.defect_list.is_empty() {
        reference_till(&args.command)
            .and_then(crate::pos::defect_names)
            .context(
                "--defects needs --defect-list NAME,… (the POS command is not one of possim's reference tills, `possim pos <till>`)",
            )?
    } else {
        // A reference till refuses a defect it does not know, which would fail every scenario
        // and count as caught: refuse the name here instead.
        if let Some((till, known)) =
            reference_till(&args.command).and_then(|till| Some((till, crate::pos::defect_names(till)?)))
            && let Some(unknown) = args.defect_list.iter().find(|n| !known.contains(n))
        {
            bail!(
                "--defect-list: possim pos {till} has no defect {unknown:?} (known: {})",
                known.join(", ")
            );
        }
        args.defect_list.clone()
    };
    if names.iter().any(|n| n.trim().is_empty()) {
        bail!("--defect-list: an empty defect name");
    }
    if names.is_empty() {
        bail!("--defects: the till has no planted defects");
    }
    if !args.defect_template.contains("{defect}") {
        bail!(
            "--defect-template {:?} does not contain {{defect}}",
            args.defect_template
        );
    }
    Ok(names
        .into_iter()
        .map(|name| {
            let mut command = args.command.clone();
            command.extend(
                args.defect_template
                    .split_whitespace()
                    .map(|word| word.replace("{defect}", &name)),
            );
            (name, command)
        })
        .collect())
}

/// `--defects --jobs N`: the run per defect, `jobs` at a time, each against mocks of its own
/// (in-process, free ports), so no run sees another's state; the runs in the order of `commands`.
async fn defect_runs_apart(
    commands: Vec<(String, Vec<String>)>,
    planned: &[Planned],
    config: &RunConfig,
    jobs: usize,
) -> anyhow::Result<Vec<(String, String, possim_reports::RunReport)>> {
    use futures_util::StreamExt as _;
    let runs: Vec<anyhow::Result<_>> =
        futures_util::stream::iter(commands.into_iter().map(|(defect, command)| async move {
            let (mocks, client, endpoints, _) = mocks(None).await?;
            if config.progress {
                eprintln!("possim: with defect {defect}");
            }
            let config = RunConfig {
                driver: Driver::Exec(command),
                ..config.clone()
            };
            let run = runner::run(&client, &endpoints, planned, &config).await;
            mocks.stop().await;
            let run = run.map_err(|aborted| anyhow::Error::new(aborted).context(format!("with defect {defect}")))?;
            Ok((defect, config.driver.describe(), run))
        }))
        .buffered(jobs)
        .collect()
        .await;
    runs.into_iter().collect()
}

/// `possim pos <till>` (this binary's reference tills): the till's name.
fn reference_till(command: &[String]) -> Option<&str> {
    match command {
        [program, pos, till, ..]
            if pos == "pos" && Path::new(program).file_stem().is_some_and(|stem| stem == "possim") =>
        {
            Some(till.as_str())
        }
        _ => None,
    }
}

/// Writes to stdout; a reader that went away (`| head`) is no error, the run's verdict stands.
pub(crate) fn print_out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// The mocks the runner talks to: started here, or attached.
enum Mocks {
    InProcess(serve::Running),
    Attached,
}

async fn mocks(attach: Option<&str>) -> anyhow::Result<(Mocks, AdminClient, BTreeMap<String, String>, String)> {
    match attach {
        Some(url) => {
            let client = AdminClient::new(url);
            let endpoints = client.endpoints().await?;
            if endpoints.is_empty() {
                bail!("the possim at {url} announces no provider endpoints (is it older than this one?)");
            }
            Ok((Mocks::Attached, client, endpoints, url.to_owned()))
        }
        None => {
            let running = serve::launch(serve::LaunchOptions::ephemeral()?).await?;
            let client = AdminClient::new(&running.admin_url);
            let endpoints = running.provider_urls.clone();
            Ok((Mocks::InProcess(running), client, endpoints, "in-process".to_owned()))
        }
    }
}

impl Mocks {
    async fn stop(self) {
        if let Mocks::InProcess(running) = self {
            running.shutdown().await;
        }
    }
}

/// Runs `possim certify`; `Ok(true)` when every required scenario passed. An error is a
/// configuration problem (exit code 2), never a verdict on the POS.
pub async fn certify(args: CertifyArgs) -> anyhow::Result<bool> {
    let builtin = crate::suites::Builtin::new();
    let mut plan = plan(&args, &builtin)?;
    let shard_info = crate::shard::apply(&args, &mut plan.planned)?;
    if args.list {
        let mut listing = String::new();
        for p in &plan.planned {
            let s = &p.scenario;
            let required = if s.required { "required" } else { "optional" };
            listing.push_str(&format!("{:45} {:10} {required:9} {}\n", s.id, s.level, s.title));
        }
        print_out(&listing);
        return Ok(true);
    }
    let driver = driver(&args)?;
    let audit = if args.defects {
        Some(defect_commands(&args)?)
    } else {
        None
    };
    if args.jobs > 1 && args.attach.is_some() {
        bail!("--jobs runs each defect against its own in-process possim: it cannot be used with --attach");
    }
    let (mocks, client, endpoints, target) = mocks(args.attach.as_deref()).await?;
    let title = match plan.suites.as_slice() {
        [(_, _, title)] => title.clone(),
        many => many.iter().map(|(_, _, t)| t.as_str()).collect::<Vec<_>>().join(" + "),
    };
    let mut config = RunConfig {
        driver,
        title,
        suites: plan.suites.iter().map(|(n, l, _)| (n.clone(), l.clone())).collect(),
        target,
        progress: !args.quiet && interactive(),
        timeout: args.timeout_ms.map(Duration::from_millis),
    };
    client
        .announce(
            serde_json::json!({"type": "run", "title": config.title, "target": config.target,
            "total": plan.planned.len()}),
        )
        .await;
    let mut report = match runner::run(&client, &endpoints, &plan.planned, &config).await {
        Ok(report) => report,
        Err(aborted) => {
            mocks.stop().await;
            return Err(aborted.into());
        }
    };
    if let Some(commands) = audit {
        let runs = if args.jobs > 1 {
            match defect_runs_apart(commands, &plan.planned, &config, args.jobs.into()).await {
                Ok(runs) => runs,
                Err(aborted) => {
                    mocks.stop().await;
                    return Err(aborted);
                }
            }
        } else {
            let mut runs = Vec::new();
            for (defect, command) in commands {
                if config.progress {
                    eprintln!("possim: with defect {defect}");
                }
                config.driver = Driver::Exec(command);
                match runner::run(&client, &endpoints, &plan.planned, &config).await {
                    Ok(run) => runs.push((defect, config.driver.describe(), run)),
                    Err(aborted) => {
                        mocks.stop().await;
                        return Err(anyhow::Error::new(aborted).context(format!("with defect {defect}")));
                    }
                }
            }
            runs
        };
        report.detection = Some(Detection::of(&report, &runs));
    }
    report.shard = shard_info;
    // The console of an attached possim links to the finished report.
    client
        .announce(
            serde_json::json!({"type": "finished", "verdict": report.summary.verdict,
            "passed": report.summary.passed, "failed": report.summary.failed,
            "errors": report.summary.errored, "reportHtml": possim_reports::html::render(&report)}),
        )
        .await;
    mocks.stop().await;
    let written = possim_reports::write_all(&report, &args.out)
        .with_context(|| format!("writing the reports to {}", args.out.display()))?;
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    let mut summary = possim_reports::markdown::render(&report);
    if crate::conventions::colour_stdout() {
        summary = crate::conventions::paint_verdict(&summary);
    }
    print_out(&format!("{summary}\nReports: {}\n", names.join(", ")));
    Ok(match &report.detection {
        Some(detection) => detection.complete(),
        None => report.summary.verdict == Verdict::Pass,
    })
}

/// `possim record` arguments.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The action (JSON or TOML file; `-` reads JSON from standard input).
    #[arg(long, value_name = "FILE")]
    pub action: PathBuf,
    /// Scenario id, e.g. tyrios/sale-card-points.
    #[arg(long)]
    pub id: String,
    /// Scenario title.
    #[arg(long)]
    pub title: String,
    /// Level.
    #[arg(long, default_value = "minimum")]
    pub level: String,
    /// Providers whose traffic is recorded.
    #[arg(long = "provider", default_value = "tyrios")]
    pub providers: Vec<String>,
    /// Data set (name or directory).
    #[arg(long)]
    pub data: Option<String>,
    /// Frozen clock, RFC 3339.
    #[arg(long)]
    pub clock: Option<String>,
    /// Fault rules to arm (JSON array file).
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// The virtual terminal's customer script to set (JSON object file, `setup.zvtCustomer`).
    #[arg(long, value_name = "FILE")]
    pub zvt_customer: Option<PathBuf>,
    /// Credentials the POS uses: PROVIDER=LOGIN:PASSWORD[:PARTNER] (repeatable).
    #[arg(long = "credentials", value_name = "P=L:PW[:PARTNER]")]
    pub credentials: Vec<String>,
    /// Record the journal of a running possim (its admin URL) instead of running a POS.
    #[arg(long, value_name = "ADMIN_URL")]
    pub attach: Option<String>,
    /// With --attach: only journal entries with an id above this.
    #[arg(long, default_value_t = 0)]
    pub since: u64,
    /// With --attach: the POS's result for the action (a JSON file, what the POS reported);
    /// asked for on a terminal when not given.
    #[arg(long, value_name = "FILE", requires = "attach", conflicts_with = "no_result")]
    pub result: Option<PathBuf>,
    /// With --attach: record no result (the flow does not judge what the POS reports).
    #[arg(long, requires = "attach")]
    pub no_result: bool,
    /// Write the golden flow here instead of standard output (into your own suite: a file
    /// inside a possim checkout's built-in suites is refused).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Allow --out inside possim's own built-in suites (for possim maintainers adding a
    /// reviewed flow).
    #[arg(long)]
    pub into_builtin: bool,
    /// The POS command to run (exec driver contract).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn read_action(path: &Path) -> anyhow::Result<Value> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading the action from standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let value: Value = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?
    } else {
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?
    };
    possim_conformance::action::validate(&value).map_err(|e| anyhow::anyhow!("action: {e}"))?;
    Ok(value)
}

fn parse_credentials(list: &[String]) -> anyhow::Result<BTreeMap<String, Credentials>> {
    let mut map = BTreeMap::new();
    for item in list {
        let Some((provider, rest)) = item.split_once('=') else {
            bail!("--credentials {item:?}: expected PROVIDER=LOGIN:PASSWORD[:PARTNER]");
        };
        let Some((login, rest)) = rest.split_once(':') else {
            bail!("--credentials {item:?}: expected PROVIDER=LOGIN:PASSWORD[:PARTNER]");
        };
        let (password, partner) = match rest.split_once(':') {
            Some((password, partner)) => (password, Some(partner)),
            None => (rest, None),
        };
        map.insert(
            provider.to_owned(),
            Credentials {
                login: login.to_owned(),
                password: password.to_owned(),
                partner: partner.map(str::to_owned),
                crypt_password: None,
                cipher: None,
            },
        );
    }
    Ok(map)
}

/// Runs `possim record`.
pub async fn record(args: RecordArgs) -> anyhow::Result<()> {
    if let Some(out) = &args.out {
        crate::suites::check_record_target(out, args.into_builtin)?;
    }
    let action = read_action(&args.action)?;
    let mut credentials = parse_credentials(&args.credentials)?;
    let faults: Vec<Value> = match &args.faults {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not a JSON array of rules", path.display()))?
        }
        None => Vec::new(),
    };
    let zvt_customer: Option<Value> = match &args.zvt_customer {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?)
        }
        None => None,
    };
    let (mocks, client, endpoints, _) = mocks(args.attach.as_deref()).await?;
    let mut result = None;
    if args.attach.is_none() {
        if args.command.is_empty() {
            bail!("give the POS command after -- (or --attach to record a running possim's journal)");
        }
        // The runner's set-up, so a recording starts where its replay will. A bare name that is
        // a directory here is that directory (relative ones resolve against the working one).
        let data = args.data.clone().map(|d| {
            if !d.contains('/') && Path::new(&d).is_dir() {
                format!("./{d}")
            } else {
                d
            }
        });
        let setup = Setup {
            data,
            clock: args.clock.clone(),
            faults: faults.clone(),
            credentials: credentials.clone(),
            zvt_customer: zvt_customer.clone(),
        };
        if let Err(e) = runner::prepare(&client, &setup, Path::new(".")).await {
            mocks.stop().await;
            bail!("{e}");
        }
        let ctx = ActionContext {
            scenario: args.id.clone(),
            action: action.clone(),
            providers: endpoints.clone(),
            credentials: credentials.clone(),
            admin_url: client.base().to_owned(),
            timeout: Duration::from_secs(30),
        };
        let outcome = run_exec(&args.command, &ctx).await;
        if let Some(error) = outcome.cannot_start.or(outcome.error) {
            mocks.stop().await;
            bail!(
                "the POS run failed: {error}{}",
                outcome.log.map(|l| format!("\n{l}")).unwrap_or_default()
            );
        }
        result = outcome.result;
    }
    let entries = client.journal(args.since).await?;
    let (mut data, mut clock) = (args.data.clone(), args.clock.clone());
    if args.attach.is_some() {
        let captured = crate::record_attach::capture(&client, &args, &Observed::from_journal(&entries)).await?;
        (data, clock, result) = (captured.data, captured.clock, captured.result);
        for (provider, found) in captured.credentials {
            credentials.entry(provider).or_insert(found);
        }
    }
    let mut snapshots = BTreeMap::new();
    for provider in &args.providers {
        if endpoints.contains_key(provider) {
            snapshots.insert(provider.clone(), client.state(provider).await?);
        }
    }
    mocks.stop().await;
    let meta = RecordMeta {
        id: args.id,
        title: args.title,
        level: args.level,
        providers: args.providers,
        data,
        clock,
        faults,
        zvt_customer,
        credentials,
        action,
        result,
        snapshots,
    };
    let scenario = record::build(&meta, &Observed::from_journal(&entries));
    let text = record::to_toml(&scenario).map_err(|e| anyhow::anyhow!("writing TOML: {e}"))?;
    // What we write must load again: a recording that the runner refuses helps nobody.
    golden_flows()
        .parse(&text, Path::new("(recording)"))
        .context("the recording does not load back")?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "possim: recorded {} exchange(s) into {}",
                scenario.exchanges.len(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

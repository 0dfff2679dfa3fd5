//! Golden flows and suites: the data files under `scenarios/` and `conformance/<suite>/`, their
//! types, loading and validation. The format is documented in `scenarios/README.md`.
//!
//! Everything is validated when loaded (unknown keys, unknown matchers, broken regexes, unknown
//! providers, duplicate ids), so a typo in a golden flow is a clear configuration error (exit 2)
//! and never a misleading verdict about the POS. Which providers exist is not this crate's
//! knowledge: the loaders take the names (the `possim` binary passes its provider registry's).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::matcher::{self, MatcherError};

/// A problem with a scenario or suite file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown/missing keys.
    #[error("{path}: {message}")]
    Format {
        /// File.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// The content is inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A matcher is broken.
    #[error("{path}: {source}")]
    Matcher {
        /// File.
        path: PathBuf,
        /// Which matcher and why.
        source: MatcherError,
    },
}

/// One golden flow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique id, `<provider>/<name>`.
    pub id: String,
    /// One line saying what the POS must do.
    pub title: String,
    /// Longer explanation for the report and the code review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the expected values come from (seed section, spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Providers whose traffic is judged.
    pub providers: Vec<String>,
    /// Suite level (`minimum`, `full`); the suite decides the order of levels.
    pub level: String,
    /// Whether certification depends on it (default true).
    #[serde(default = "yes")]
    pub required: bool,
    /// Free tags for filtering (`--tag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Start condition.
    #[serde(default)]
    pub setup: Setup,
    /// The business action handed to the POS (`type` plus its fields; see conformance/README.md).
    pub action: Value,
    /// Matcher for what the POS reports back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The exchanges, in order.
    #[serde(default, rename = "exchange", skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<ExpectedExchange>,
    /// What to do with exchanges that no step accounts for.
    #[serde(default)]
    pub unexpected: UnexpectedPolicy,
    /// Exchanges that must not happen at all.
    #[serde(default, rename = "forbid", skip_serializing_if = "Vec::is_empty")]
    pub forbidden: Vec<Forbidden>,
    /// Checks on the provider state afterwards.
    #[serde(default, rename = "state", skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<StateCheck>,
    /// How long the POS may take, in milliseconds (default: the driver's).
    #[serde(default, rename = "timeoutMs", skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// The start condition of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Data set name or directory (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Frozen clock, RFC 3339 (default: the data set's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
    /// Fault rules armed before the action (the engine's fault rule format).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Value>,
    /// Credentials the POS is configured with, per provider (`login`, `password`), handed to it
    /// by the driver.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, Credentials>,
    /// What the customer at the virtual ZVT terminal does in the scenario's first transaction
    /// (the terminal's customer script, `POST /__admin/zvt/customer`): the card, the PINs typed,
    /// the points picked, the outcome.
    #[serde(default, rename = "zvtCustomer", skip_serializing_if = "Option::is_none")]
    pub zvt_customer: Option<Value>,
}

/// A POS's credentials at a provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Login.
    pub login: String,
    /// Password.
    pub password: String,
    /// Partner or merchant id where the provider needs one beside the login (PAYBACK's
    /// `partnerShortName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// The password of the message encryption where a provider has one beside the login's
    /// (Computop: the Blowfish/AES password; `login` is the MerchantID, `password` the HMAC
    /// password).
    #[serde(default, rename = "cryptPassword", skip_serializing_if = "Option::is_none")]
    pub crypt_password: Option<String>,
    /// The cipher of that encryption (Computop: `blowfish` or `aes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
}

/// One expected exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedExchange {
    /// Step name shown in diffs (`simulate the sale (draft)`).
    pub name: String,
    /// Provider (default: the scenario's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A till may leave this step out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The request.
    pub request: RequestMatcher,
    /// The answer the mock must have given (checks the flow went as recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseMatcher>,
}

/// What identifies and checks a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestMatcher {
    /// HTTP method (`NOTIFY`/`RETURN` for what a provider sends to the shop), or a `$regex:`
    /// matcher where a provider takes more than one (the Computop Paygate: GET or POST).
    pub method: String,
    /// Path (compared after the provider's path normalisation) or a `$regex:` matcher.
    pub path: String,
    /// The operation the provider named the request by in the journal (`operation.name`), for
    /// providers that take every command at one URL (Loymax: `calculate`, `payment`, …). When
    /// given, a request of another operation is not this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Query parameters (decoded) by name; parameters not named are free.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, Value>,
    /// Headers by lower-case name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Value>,
    /// The body, parsed as JSON (a string matcher compares the raw text instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// What the answer must have been.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseMatcher {
    /// Status code; `0` means "no answer" (connection closed by a fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The body, parsed as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// Policy for exchanges no step accounts for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UnexpectedPolicy {
    /// Extra reads (GET, HEAD) are fine; any other extra request fails the scenario (default:
    /// a till may look things up more often, but must not book more).
    #[default]
    FailWrites,
    /// Every extra exchange fails the scenario.
    Fail,
    /// Extra exchanges are tolerated.
    Allow,
}

/// An exchange that must not happen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Forbidden {
    /// Why it must not happen (shown in the diff).
    pub name: String,
    /// Provider (default: the scenario's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The request it describes.
    pub request: RequestMatcher,
}

/// A check on the provider state (`GET /__admin/state/<provider>`) after the action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateCheck {
    /// What the check means (shown in the diff).
    pub name: String,
    /// Provider (default: the scenario's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Top-level collection of the snapshot (`users`, `coupons`, `transactions`).
    pub collection: String,
    /// Selects elements whose fields match (matchers allowed).
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// How many elements must be selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// What every selected element must look like (then at least one must be selected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Value>,
}

/// A suite: scenarios grouped by level (`conformance/<suite>/suite.toml`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Short name (`tyrios`).
    pub name: String,
    /// Title for reports.
    pub title: String,
    /// Directory of the golden flows, relative to the suite file (optional when `include`
    /// names every flow).
    #[serde(default)]
    pub scenarios: Option<String>,
    /// Golden flows from elsewhere: names of built-in suites (`tyrios`) or ids of single
    /// built-in flows (`zvt-ecr/pay-approved`). Resolved by the caller that has built-in
    /// suites (the `possim` binary); this loader only reads the list.
    #[serde(default)]
    pub include: Vec<String>,
    /// Levels from the most basic; a level includes the ones before it.
    pub levels: Vec<LevelDef>,
}

/// A level of a suite.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LevelDef {
    /// Name (`minimum`).
    pub name: String,
    /// What passing it certifies.
    pub description: String,
}

/// A loaded suite with its scenarios in level order, then file-name order.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The suite definition.
    pub def: SuiteFile,
    /// Its directory.
    pub dir: PathBuf,
    /// Scenarios with their files.
    pub scenarios: Vec<(PathBuf, Scenario)>,
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A check of a set-up value whose format belongs to a component the runner does not link;
/// `Err` says what is wrong.
pub type SetupCheck = fn(&Value) -> Result<(), String>;

/// Loads and validates golden flows and suites, with what only the caller knows: the providers a
/// flow may use (the mocks `possim serve` starts, from the binary's registry) and the checks that
/// need the simulated components.
///
/// The runner reaches the mocks through the admin API only, so it does not link the virtual
/// terminal and cannot tell a valid customer script from a broken one by itself. The `possim`
/// binary, which links the terminal, hands that check in, so a broken golden flow is still a
/// configuration error found at load time, before any scenario runs. [`parse_scenario`],
/// [`load_scenario`] and [`load_suite`] are this loader without outside checks.
#[derive(Debug, Clone, Copy)]
pub struct Loader<'a> {
    /// The provider names a flow may use.
    pub providers: &'a [&'a str],
    /// Validates `setup.zvtCustomer` (the virtual terminal's customer script). Without it the
    /// script is checked only when a run sets it up through the admin API.
    pub zvt_customer: Option<SetupCheck>,
}

impl<'a> Loader<'a> {
    /// A loader without outside checks.
    pub fn new(providers: &'a [&'a str]) -> Self {
        Self {
            providers,
            zvt_customer: None,
        }
    }

    /// Parses and validates one golden flow.
    pub fn parse(&self, text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Format {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        scenario.validate(path, self)?;
        Ok(scenario)
    }

    /// Reads one golden flow file.
    pub fn load(&self, path: &Path) -> Result<Scenario, ScenarioError> {
        self.parse(&read(path)?, path)
    }

    /// Loads a suite directory (or its `suite.toml`) with every golden flow it points at.
    pub fn load_suite(&self, path: &Path) -> Result<Suite, ScenarioError> {
        load_suite_with(self, path)
    }
}

/// Parses and validates one golden flow (without outside checks, see [`Loader`]); `providers` are
/// the names a flow may use.
pub fn parse_scenario(text: &str, path: &Path, providers: &[&str]) -> Result<Scenario, ScenarioError> {
    Loader::new(providers).parse(text, path)
}

/// Reads one golden flow file (without outside checks, see [`Loader`]).
pub fn load_scenario(path: &Path, providers: &[&str]) -> Result<Scenario, ScenarioError> {
    Loader::new(providers).load(path)
}

impl Scenario {
    /// The provider a step without `provider` belongs to.
    pub fn default_provider(&self) -> &str {
        self.providers.first().map_or("tyrios", String::as_str)
    }

    /// The action's `type`.
    pub fn action_type(&self) -> &str {
        self.action.get("type").and_then(Value::as_str).unwrap_or("")
    }

    fn validate(&self, path: &Path, loader: &Loader<'_>) -> Result<(), ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_owned(),
            message,
        };
        let check = |value: &Value, at: String| {
            matcher::validate(value, &at).map_err(|source| ScenarioError::Matcher {
                path: path.to_owned(),
                source,
            })
        };
        if self.id.trim().is_empty() || self.id.contains(char::is_whitespace) {
            return Err(invalid(format!(
                "id {:?} must be a non-empty word like tyrios/sale",
                self.id
            )));
        }
        if self.providers.is_empty() {
            return Err(invalid("providers must name at least one provider".into()));
        }
        for p in &self.providers {
            if !loader.providers.contains(&p.as_str()) {
                return Err(invalid(format!(
                    "unknown provider {p:?} (known: {})",
                    loader.providers.join(", ")
                )));
            }
        }
        let def = crate::action::validate(&self.action)
            .map_err(|e| invalid(format!("action: {e} (see conformance/README.md)")))?;
        if !self.providers.iter().any(|p| p == def.provider) {
            return Err(invalid(format!(
                "action {:?} belongs to provider {:?}, which the scenario does not list",
                def.name, def.provider
            )));
        }
        if let Some(clock) = &self.setup.clock {
            possim_engine::clock::parse_rfc3339(clock).map_err(|e| invalid(format!("setup.clock: {e}")))?;
        }
        if let (Some(customer), Some(check)) = (&self.setup.zvt_customer, loader.zvt_customer) {
            check(customer).map_err(|e| invalid(format!("setup.zvtCustomer: {e}")))?;
        }
        for (i, rule) in self.setup.faults.iter().enumerate() {
            serde_json::from_value::<possim_engine::fault::FaultSpec>(rule.clone())
                .map_err(|e| invalid(format!("setup.faults[{i}]: {e}")))?;
        }
        if let Some(result) = &self.result {
            check(result, "result".into())?;
        }
        let step_provider = |p: &Option<String>, at: &str| match p {
            Some(p) if !self.providers.contains(p) => Err(invalid(format!(
                "{at}: provider {p:?} is not in the scenario's providers"
            ))),
            _ => Ok(()),
        };
        let mut names = std::collections::HashSet::new();
        for (i, step) in self.exchanges.iter().enumerate() {
            let at = format!("exchange[{i}] ({})", step.name);
            if !names.insert(step.name.as_str()) {
                return Err(invalid(format!("{at}: two steps have the same name")));
            }
            step_provider(&step.provider, &at)?;
            step.request.validate(&at).map_err(|source| ScenarioError::Matcher {
                path: path.to_owned(),
                source,
            })?;
            if let Some(response) = &step.response
                && let Some(body) = &response.body
            {
                check(body, format!("{at}.response.body"))?;
            }
        }
        for (i, forbidden) in self.forbidden.iter().enumerate() {
            let at = format!("forbid[{i}] ({})", forbidden.name);
            step_provider(&forbidden.provider, &at)?;
            forbidden
                .request
                .validate(&at)
                .map_err(|source| ScenarioError::Matcher {
                    path: path.to_owned(),
                    source,
                })?;
        }
        for (i, state) in self.state.iter().enumerate() {
            let at = format!("state[{i}] ({})", state.name);
            step_provider(&state.provider, &at)?;
            if state.count.is_none() && state.expect.is_none() {
                return Err(invalid(format!("{at}: give count, expect or both")));
            }
            if let Some(filter) = &state.filter {
                check(filter, format!("{at}.where"))?;
            }
            if let Some(expect) = &state.expect {
                check(expect, format!("{at}.expect"))?;
            }
        }
        Ok(())
    }
}

impl RequestMatcher {
    fn validate(&self, at: &str) -> Result<(), MatcherError> {
        matcher::validate(&Value::String(self.path.clone()), &format!("{at}.request.path"))?;
        matcher::validate(&Value::String(self.method.clone()), &format!("{at}.request.method"))?;
        for (name, value) in &self.query {
            matcher::validate(value, &format!("{at}.request.query.{name}"))?;
        }
        for (name, value) in &self.headers {
            matcher::validate(value, &format!("{at}.request.headers.{name}"))?;
        }
        if let Some(body) = &self.body {
            matcher::validate(body, &format!("{at}.request.body"))?;
        }
        Ok(())
    }
}

/// Loads a suite directory (or its `suite.toml`) with every golden flow it points at (without
/// outside checks, see [`Loader`]).
pub fn load_suite(path: &Path, providers: &[&str]) -> Result<Suite, ScenarioError> {
    Loader::new(providers).load_suite(path)
}

fn load_suite_with(loader: &Loader<'_>, path: &Path) -> Result<Suite, ScenarioError> {
    let file = if path.is_dir() {
        path.join("suite.toml")
    } else {
        path.to_owned()
    };
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let def: SuiteFile = toml::from_str(&read(&file)?).map_err(|e| ScenarioError::Format {
        path: file.clone(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    if def.levels.is_empty() {
        return Err(ScenarioError::Invalid {
            path: file,
            message: "a suite needs at least one level".into(),
        });
    }
    let mut files: Vec<PathBuf> = match &def.scenarios {
        Some(scenarios) => {
            let scenario_dir = dir.join(scenarios);
            std::fs::read_dir(&scenario_dir)
                .map_err(|source| ScenarioError::Io {
                    path: scenario_dir.clone(),
                    source,
                })?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        }
        None if def.include.is_empty() => {
            return Err(ScenarioError::Invalid {
                path: file,
                message: "a suite needs `scenarios` (its flows' directory), `include` or both".into(),
            });
        }
        None => Vec::new(),
    };
    files.sort();
    let mut scenarios = Vec::new();
    for file in files {
        let scenario = loader.load(&file)?;
        if !def.levels.iter().any(|l| l.name == scenario.level) {
            let names: Vec<&str> = def.levels.iter().map(|l| l.name.as_str()).collect();
            return Err(ScenarioError::Invalid {
                path: file,
                message: format!(
                    "level {:?} is not a level of suite {:?} ({})",
                    scenario.level,
                    def.name,
                    names.join(", ")
                ),
            });
        }
        scenarios.push((file, scenario));
    }
    let rank = |level: &str| def.levels.iter().position(|l| l.name == level).unwrap_or(usize::MAX);
    scenarios.sort_by_key(|(_, s)| rank(&s.level));
    check_unique(scenarios.iter().map(|(p, s)| (p.as_path(), s)))?;
    Ok(Suite { def, dir, scenarios })
}

/// Refuses two scenarios with the same id.
pub fn check_unique<'a>(scenarios: impl Iterator<Item = (&'a Path, &'a Scenario)>) -> Result<(), ScenarioError> {
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for (path, scenario) in scenarios {
        if let Some(first) = seen.insert(&scenario.id, path) {
            return Err(ScenarioError::Invalid {
                path: path.to_owned(),
                message: format!("id {:?} is already used by {}", scenario.id, first.display()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The providers `possim serve` starts today.
    const PROVIDERS: &[&str] = &["tyrios", "payback", "zvt", "computop"];

    const MINIMAL: &str = r#"
id = "tyrios/x"
title = "t"
providers = ["tyrios"]
level = "minimum"
action = { type = "sale", amount = "1.00", productGroup = "x" }
"#;

    #[test]
    fn minimal_scenario_loads_with_defaults() {
        let s = parse_scenario(MINIMAL, Path::new("x.toml"), PROVIDERS).unwrap();
        assert!(s.required);
        assert_eq!(s.unexpected, UnexpectedPolicy::FailWrites);
        assert_eq!(s.action_type(), "sale");
    }

    #[test]
    fn typos_are_configuration_errors_naming_the_place() {
        let err = parse_scenario(&format!("{MINIMAL}\nlevle = 1\n"), Path::new("x.toml"), PROVIDERS).unwrap_err();
        assert!(err.to_string().contains("unknown field `levle`"), "{err}");
        let bad = format!(
            "{MINIMAL}\n[[exchange]]\nname = \"a\"\nrequest = {{ method = \"GET\", path = \"/x\", body = {{ a = \"$nope\" }} }}\n"
        );
        let err = parse_scenario(&bad, Path::new("x.toml"), PROVIDERS).unwrap_err();
        assert!(err.to_string().contains("exchange[0] (a).request.body.a"), "{err}");
        let err = parse_scenario(&MINIMAL.replace("tyrios\"]", "nope\"]"), Path::new("x.toml"), PROVIDERS).unwrap_err();
        assert!(err.to_string().contains("unknown provider \"nope\""), "{err}");
        let err = parse_scenario(
            &format!("{MINIMAL}\n[setup]\nclock = \"yesterday\"\n"),
            Path::new("x.toml"),
            PROVIDERS,
        )
        .unwrap_err();
        assert!(err.to_string().contains("setup.clock"), "{err}");
    }

    #[test]
    fn the_customer_script_is_checked_by_the_check_handed_in() {
        let flow = format!("{MINIMAL}\n[setup]\nzvtCustomer = {{ card = 7 }}\n");
        let refuse_numbers: SetupCheck = |script| match script.get("card") {
            Some(Value::String(_)) | None => Ok(()),
            Some(other) => Err(format!("card {other} is not a card name")),
        };
        let loader = Loader {
            providers: PROVIDERS,
            zvt_customer: Some(refuse_numbers),
        };
        let err = loader.parse(&flow, Path::new("x.toml")).unwrap_err();
        assert_eq!(err.to_string(), "x.toml: setup.zvtCustomer: card 7 is not a card name");
        let fine = flow.replace("card = 7", "card = \"girocard\"");
        assert!(loader.parse(&fine, Path::new("x.toml")).is_ok());
        // Without a check the script's content is left to the terminal at set-up time.
        assert!(parse_scenario(&flow, Path::new("x.toml"), PROVIDERS).is_ok());
    }
}

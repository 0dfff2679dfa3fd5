//! `possim record`: turns observed traffic into a golden flow file, so new flows are recorded
//! from a correct till (the reference POS or a certified one) and reviewed, not hand-typed.
//!
//! The recording pins what a correct till must do and marks what may vary: volatile answer
//! fields become matchers, request fields with documented defaults become `$absentOr`, and each
//! step gets a readable name. The author then reviews the file, trims what does not matter and
//! adds the `forbid` and `state` checks that express the scenario's point.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::judge::Observed;
use crate::profile;
use crate::scenario::{
    Credentials, ExpectedExchange, RequestMatcher, ResponseMatcher, Scenario, Setup, StateCheck, UnexpectedPolicy,
};

/// What the recording is about (the parts traffic cannot tell).
#[derive(Debug, Clone)]
pub struct RecordMeta {
    /// Scenario id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Level.
    pub level: String,
    /// Providers whose traffic is recorded.
    pub providers: Vec<String>,
    /// Data set.
    pub data: Option<String>,
    /// Clock.
    pub clock: Option<String>,
    /// Faults that were armed.
    pub faults: Vec<Value>,
    /// The terminal's customer script that was set (`setup.zvtCustomer`).
    pub zvt_customer: Option<Value>,
    /// Credentials the POS used.
    pub credentials: BTreeMap<String, Credentials>,
    /// The action.
    pub action: Value,
    /// What the POS answered.
    pub result: Option<Value>,
    /// Provider state snapshots after the action, for the transaction count checks.
    pub snapshots: BTreeMap<String, Value>,
}

/// A readable step name for a recorded request.
fn step_name(o: &Observed) -> String {
    let path = profile::normalize_path(&o.provider, &o.path);
    let draft = o.query.iter().any(|(k, v)| k == "draft" && v == "true");
    if o.provider == "tyrios" {
        let rest = path.strip_prefix("/BonusPointManagement").unwrap_or(&path);
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let name = match (o.method.as_str(), segments.as_slice()) {
            ("GET", ["UserData", "eMail"]) => "check the e-mail address".to_owned(),
            ("GET", ["UserData"]) => "search the customer".to_owned(),
            ("GET", ["UserData", _, "BonusPointTransaction"]) => "show the customer's transactions".to_owned(),
            ("GET", ["UserData", _]) => "look up the customer".to_owned(),
            ("POST", ["UserData"]) => "register the customer".to_owned(),
            ("GET", ["BonusPointTransaction", ..]) => "show the transactions".to_owned(),
            ("POST", ["BonusPointTransaction", kind]) if draft => format!("simulate the {kind} transaction (draft)"),
            ("POST", ["BonusPointTransaction", kind]) => format!("execute the {kind} transaction"),
            _ => format!("{} {path}", o.method),
        };
        return name;
    }
    if o.provider == "payback" {
        let name = match path.as_str() {
            "/members/lookup" => "look up the member",
            "/members/authenticate" => "check the PIN",
            "/purchases" => "collect points",
            "/redemptions" => "redeem points",
            "/coupons/validate" => "validate a coupon",
            "/auth/test" => "test the connection",
            p if p.starts_with("/purchases/") => "reverse the purchase",
            p if p.starts_with("/redemptions/") => "reverse the redemption",
            _ => "",
        };
        if !name.is_empty() {
            return name.to_owned();
        }
    }
    if o.provider == "loymax"
        && let Some(operation) = &o.operation
    {
        let name = match operation.name.as_str() {
            "balance" => "ask the balance",
            "calculate" => "calculate the purchase",
            "available-amount" => "ask the allowed write-off",
            "payment" => "write off points (payment)",
            "discount" => "send the final cheque (discount)",
            "confirm-purchase" => "confirm the purchase",
            "cancel-purchase" => "cancel the purchase",
            "refund" => "refund",
            "cancel-operation" => "cancel one operation",
            "card-replace" => "replace the card",
            other => other,
        };
        return name.to_owned();
    }
    if o.provider == "computop" {
        let status = o
            .request_json()
            .and_then(|b| b.get("Status").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let name = match (o.method.as_str(), path.as_str()) {
            ("NOTIFY", _) => format!("notify {status}"),
            ("RETURN", _) => format!("browser return {status}"),
            (_, "/PaybackPay.aspx") => "start the PAYBACK PAY sale".to_owned(),
            (_, "/credit.aspx") => "credit".to_owned(),
            (_, "/inquire.aspx") => "inquire".to_owned(),
            _ => String::new(),
        };
        if !name.is_empty() {
            return name;
        }
    }
    format!("{} {path}", o.method)
}

/// JSON `null` cannot be written in TOML (the matcher `$null` means the same), and a recorded
/// string that starts with `$` must not be read as a matcher. Applied to recorded values before
/// any matcher is added.
fn toml_safe(value: Value) -> Value {
    match value {
        Value::Null => Value::String("$null".into()),
        Value::String(s) if s.starts_with('$') => Value::String(format!("${s}")),
        Value::Array(items) => Value::Array(items.into_iter().map(toml_safe).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, toml_safe(v))).collect()),
        other => other,
    }
}

/// Builds the golden flow from the traffic of one run.
pub fn build(meta: &RecordMeta, observed: &[Observed]) -> Scenario {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut exchanges = Vec::new();
    for o in observed.iter().filter(|o| meta.providers.contains(&o.provider)) {
        let mut name = step_name(o);
        let n = names.entry(name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            name = format!("{name} #{n}");
        }
        let mut query: BTreeMap<String, Value> = o
            .query
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        // A final TYRIOS transaction must not be matched by its draft, and vice versa; a final
        // may say `draft=false`, which the provider documents as executing too.
        if o.provider == "tyrios" && o.method == "POST" && o.path.contains("BonusPointTransaction") {
            query
                .entry("draft".into())
                .or_insert_with(|| serde_json::json!({"$absentOr": "false"}));
        }
        let body = o
            .request_body
            .as_deref()
            .map(|text| match serde_json::from_str::<Value>(text) {
                // A plain string in a golden flow means "this exact text"; a JSON string body is
                // therefore recorded as its raw text, quotes included.
                Ok(Value::String(_)) | Err(_) if text.starts_with('$') => Value::String(format!("${text}")),
                Ok(Value::String(_)) | Err(_) => Value::String(text.to_owned()),
                Ok(json) => profile::generalize_request_body(&o.provider, toml_safe(json)),
            });
        let response_body = o
            .response_body
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|b| profile::summarize_response_body(&o.provider, toml_safe(b)));
        exchanges.push(ExpectedExchange {
            name,
            provider: (meta.providers.len() > 1).then(|| o.provider.clone()),
            optional: false,
            request: RequestMatcher {
                // The Paygate takes its pages by GET or POST (FATCHIP's library sends GETs).
                method: if o.provider == "computop" && !o.outbound {
                    "$regex:^(GET|POST)$".to_owned()
                } else {
                    o.method.clone()
                },
                // What a provider sends to the shop goes to the shop's own URLs, whatever their path.
                path: if o.outbound {
                    "$string".to_owned()
                } else {
                    profile::normalize_path(&o.provider, &o.path)
                },
                operation: profile::operation_names_request(&o.provider)
                    .then(|| o.operation.as_ref().map(|op| op.name.clone()))
                    .flatten(),
                query,
                headers: BTreeMap::new(),
                body,
            },
            response: Some(ResponseMatcher {
                status: Some(o.status.unwrap_or(0)),
                body: response_body,
            }),
        });
    }
    let state = meta
        .snapshots
        .iter()
        .filter_map(|(provider, snapshot)| {
            let count = snapshot.get("transactions")?.as_array()?.len();
            Some(StateCheck {
                name: "transactions booked".into(),
                provider: (meta.providers.len() > 1).then(|| provider.clone()),
                collection: "transactions".into(),
                filter: None,
                count: Some(count),
                expect: None,
            })
        })
        .collect();
    Scenario {
        id: meta.id.clone(),
        title: meta.title.clone(),
        description: None,
        source: Some("recorded with possim record; reviewed by: (name)".into()),
        providers: meta.providers.clone(),
        level: meta.level.clone(),
        required: true,
        tags: Vec::new(),
        setup: Setup {
            data: meta.data.clone(),
            clock: meta.clock.clone(),
            faults: meta.faults.clone(),
            credentials: meta.credentials.clone(),
            zvt_customer: meta.zvt_customer.clone(),
        },
        action: meta.action.clone(),
        result: meta.result.clone().map(toml_safe),
        exchanges,
        unexpected: UnexpectedPolicy::FailWrites,
        forbidden: Vec::new(),
        state,
        timeout_ms: None,
    }
}

/// The golden flow as a TOML file with a header saying how it came about.
pub fn to_toml(scenario: &Scenario) -> Result<String, String> {
    let mut value = serde_json::to_value(scenario).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut value {
        // Plain keys first, tables and lists of tables after: TOML needs that order and readers
        // expect the metadata at the top.
        let order = [
            "id",
            "title",
            "description",
            "source",
            "providers",
            "level",
            "required",
            "tags",
            "unexpected",
            "timeoutMs",
            "setup",
            "action",
            "result",
            "exchange",
            "forbid",
            "state",
        ];
        let mut sorted = Map::new();
        for key in order {
            if let Some(v) = map.remove(key) {
                sorted.insert(key.to_owned(), v);
            }
        }
        sorted.extend(std::mem::take(map));
        *map = sorted;
    }
    let text = toml::to_string_pretty(&value).map_err(|e| e.to_string())?;
    let text = inline_small_tables(&text)?;
    Ok(format!(
        "# Golden flow recorded by `possim record`. Review it: trim what does not matter, mark what may\n\
         # vary with matchers, add the forbid/state checks that say what the scenario is about.\n\
         # Format: scenarios/README.md.\n\n{text}"
    ))
}

/// Tables this short (as one line) read better inline: `request = { method = "GET", path = … }`.
const INLINE_WIDTH: usize = 90;

/// Rewrites small sub-tables (matchers such as `{"$absentOr" = true}`, a customer, a query) as
/// inline tables so a golden flow reads like the request it describes.
fn inline_small_tables(text: &str) -> Result<String, String> {
    fn walk(table: &mut toml_edit::Table) {
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_owned()).collect();
        for key in keys {
            let Some(item) = table.get_mut(&key) else { continue };
            match item {
                toml_edit::Item::Table(sub) => {
                    walk(sub);
                    let nested = sub.iter().any(|(_, v)| v.is_table() || v.is_array_of_tables());
                    if !nested {
                        let inline = sub.clone().into_inline_table();
                        if inline.to_string().len() + key.len() <= INLINE_WIDTH {
                            *item = toml_edit::Item::Value(toml_edit::Value::InlineTable(inline));
                            // The key kept the decoration of its former `[header]`; reset it so
                            // it renders as `key = { … }`.
                            if let Some(mut k) = table.key_mut(&key) {
                                k.leaf_decor_mut().clear();
                            }
                        }
                    }
                }
                toml_edit::Item::ArrayOfTables(list) => {
                    for sub in list.iter_mut() {
                        walk(sub);
                    }
                }
                _ => {}
            }
        }
    }
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    // Top-level sections stay sections; only what is inside them is folded.
    for (_, item) in doc.as_table_mut().iter_mut() {
        match item {
            toml_edit::Item::Table(sub) => walk(sub),
            toml_edit::Item::ArrayOfTables(list) => {
                for sub in list.iter_mut() {
                    walk(sub);
                }
            }
            _ => {}
        }
    }
    Ok(doc.to_string())
}

//! `possim record --attach`: what a flow recorded from a running possim's journal needs to
//! replay — the data set, the clock, the credentials the POS used and the POS's result — taken
//! from that possim where it can tell (admin API, the recorded requests), from flags, or asked
//! for; when something cannot be known the recording is refused with what is missing, rather
//! than written as a flow that fails on its first replay.

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context, bail};
use possim_conformance::admin::AdminClient;
use possim_conformance::judge::Observed;
use possim_conformance::scenario::Credentials;
use serde_json::Value;

use crate::certify::RecordArgs;

/// The set-up and result of an attached recording.
#[derive(Debug)]
pub struct Captured {
    /// Data set name (or the directory given with `--data`).
    pub data: Option<String>,
    /// Frozen clock, RFC 3339.
    pub clock: Option<String>,
    /// Credentials read from the recorded requests (flags override them).
    pub credentials: BTreeMap<String, Credentials>,
    /// The POS's result.
    pub result: Option<Value>,
}

/// Reads what the replay needs from the attached possim; `recorded` are the journal entries
/// the flow is made of (ids above `args.since`).
pub async fn capture(client: &AdminClient, args: &RecordArgs, recorded: &[Observed]) -> anyhow::Result<Captured> {
    // A replay starts from a freshly loaded data set: state booked before the recorded
    // exchanges would make the recorded answers (transaction ids, balances) unreproducible.
    let before: Vec<Observed> = Observed::from_journal(&client.journal(0).await?)
        .into_iter()
        .filter(|o| o.id <= args.since && o.is_write() && !o.outbound)
        .collect();
    if let Some(first) = before.first() {
        bail!(
            "the possim booked {} exchange(s) before the recorded ones (e.g. journal #{} {} {} {}), so the recorded answers depend on state a replay does not have. \
             Reset it (POST {}/__admin/reset) or reload its data set before the POS run, then record with --since 0",
            before.len(),
            first.id,
            first.provider,
            first.method,
            first.path,
            client.base()
        );
    }
    let dataset = client.dataset().await?;
    let data = match &args.data {
        Some(data) => data.clone(),
        None => {
            let name = dataset.get("name").and_then(Value::as_str).unwrap_or_default();
            if !crate::datasets::builtin_names().contains(&name) {
                bail!(
                    "the possim runs data set {name:?}, which is not built in, so the flow cannot name it: give --data with the directory it was loaded from (relative to the flow file)"
                );
            }
            name.to_owned()
        }
    };
    let clock = match &args.clock {
        Some(clock) => Some(clock.clone()),
        None => {
            let status = client.clock().await?;
            if status.get("frozen") == Some(&Value::Bool(true)) {
                status.get("iso").and_then(Value::as_str).map(str::to_owned)
            } else {
                if dataset.get("clock").is_none_or(Value::is_null) {
                    eprintln!(
                        "possim: note: the clock runs in real time, so the flow replays in real time too; freeze it (serve --clock, or record --clock) if answers carry dates"
                    );
                }
                None
            }
        }
    };
    let result = match (&args.result, args.no_result) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(parse_result(&text).with_context(|| format!("--result {}", path.display()))?)
        }
        (None, true) => None,
        (None, false) if std::io::stdin().is_terminal() => ask_result()?,
        (None, false) => bail!(
            "an attached recording cannot see what the POS reported: give --result FILE (the POS's result, the JSON the exec driver contract has it print) or --no-result when the flow should not judge it"
        ),
    };
    Ok(Captured {
        data: Some(data),
        clock,
        credentials: basic_credentials(recorded, &args.providers),
        result,
    })
}

/// The POS's result: one JSON object.
fn parse_result(text: &str) -> anyhow::Result<Value> {
    let value: Value = serde_json::from_str(text.trim()).context("not JSON")?;
    if !value.is_object() {
        bail!("the POS's result is a JSON object, e.g. {{\"status\": \"ok\"}}");
    }
    Ok(value)
}

/// Asks the person at the terminal for the POS's result.
fn ask_result() -> anyhow::Result<Option<Value>> {
    eprint!("possim: the POS's result for this action, as one JSON line (empty: do not judge it): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the result")?;
    if line.trim().is_empty() {
        return Ok(None);
    }
    parse_result(&line).map(Some)
}

/// The HTTP Basic credentials the POS sent to each recorded provider (the first request that
/// carried them). Other schemes (Computop's MerchantID and HMAC, a PAYBACK partner) are not in
/// the requests in a form that gives the secret back: `--credentials` gives them.
fn basic_credentials(recorded: &[Observed], providers: &[String]) -> BTreeMap<String, Credentials> {
    let mut found = BTreeMap::new();
    for o in recorded {
        if found.contains_key(&o.provider) || !providers.contains(&o.provider) {
            continue;
        }
        let mut headers = axum::http::HeaderMap::new();
        for (name, value) in &o.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::try_from(name.as_str()),
                axum::http::HeaderValue::try_from(value.as_str()),
            ) {
                headers.append(name, value);
            }
        }
        if let Some(basic) = possim_engine::auth::basic_credentials(&headers) {
            found.insert(
                o.provider.clone(),
                Credentials {
                    login: basic.user,
                    password: basic.password,
                    partner: None,
                    crypt_password: None,
                    cipher: None,
                },
            );
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_a_json_object() {
        assert_eq!(parse_result(" {\"status\":\"ok\"}\n").unwrap()["status"], "ok");
        assert!(parse_result("ok").is_err());
        assert!(parse_result("[1]").is_err());
    }

    #[test]
    fn basic_credentials_come_from_the_recorded_requests() {
        let entry = |provider: &str, auth: Option<&str>| {
            let mut o = observed(provider);
            if let Some(auth) = auth {
                o.headers.push(("authorization".into(), auth.into()));
            }
            o
        };
        // "demo:se:cret" in base64: the password keeps its colon.
        let recorded = [
            entry("tyrios", None),
            entry("tyrios", Some("Basic ZGVtbzpzZTpjcmV0")),
            entry("payback", Some("Basic eDp5")),
        ];
        let found = basic_credentials(&recorded, &["tyrios".to_owned()]);
        assert_eq!(found.len(), 1);
        assert_eq!(found["tyrios"].login, "demo");
        assert_eq!(found["tyrios"].password, "se:cret");
    }

    fn observed(provider: &str) -> Observed {
        Observed {
            id: 1,
            provider: provider.into(),
            method: "GET".into(),
            path: "/".into(),
            raw_query: None,
            query: vec![],
            headers: vec![],
            request_body: None,
            status: Some(200),
            response_body: None,
            fault: None,
            outbound: false,
            cut_off: false,
            operation: None,
        }
    }
}

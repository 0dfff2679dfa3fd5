//! A client for a running possim's admin API: the only way the runner steers the mocks, so
//! in-process runs and `--attach` runs behave the same.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use possim_engine::journal::JournalEntry;

/// A failed admin call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// possim could not be reached.
    #[error("cannot reach possim's admin API at {url}: {message}")]
    Unreachable {
        /// URL.
        url: String,
        /// Cause.
        message: String,
    },
    /// possim refused the call.
    #[error("possim refused {what}: {message}")]
    Refused {
        /// The call.
        what: String,
        /// possim's error text.
        message: String,
    },
}

/// The environment variable with the admin token (`possim serve --admin-token`).
pub const TOKEN_VARIABLE: &str = "POSSIM_ADMIN_TOKEN";

/// Talks to `/__admin/...`.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for the admin API at `base` (`http://127.0.0.1:7100`). When the environment
    /// holds `POSSIM_ADMIN_TOKEN` (the token a shared possim was started with), every call
    /// carries it as a bearer token.
    pub fn new(base: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = std::env::var(TOKEN_VARIABLE)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .and_then(|t| reqwest::header::HeaderValue::try_from(format!("Bearer {}", t.trim())).ok())
        {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .no_proxy()
                .default_headers(headers)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The admin base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, AdminError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| AdminError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| AdminError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned);
            return Err(AdminError::Refused {
                what: format!("{method} {path}"),
                message,
            });
        }
        Ok(value)
    }

    /// An action of the person playing the customer at the virtual terminal
    /// (`{"insert": "<card>"}`, `{"pin": "1234"}`, `"abort"`).
    pub async fn zvt_operator(&self, action: Value) -> Result<(), AdminError> {
        self.call(reqwest::Method::POST, "/__admin/zvt/operator", Some(action))
            .await
            .map(drop)
    }

    /// Scripts the customer of the virtual terminal's next transaction.
    pub async fn zvt_customer(&self, script: Value) -> Result<(), AdminError> {
        self.call(reqwest::Method::POST, "/__admin/zvt/customer", Some(script))
            .await
            .map(drop)
    }

    /// Lets the operator play every unscripted customer of the virtual terminal (or stops it).
    pub async fn zvt_operator_mode(&self, on: bool) -> Result<(), AdminError> {
        self.call(reqwest::Method::PUT, "/__admin/zvt/operator", Some(json!({"on": on})))
            .await
            .map(drop)
    }

    /// Tells the web console of the possim this client steers how a certification run goes
    /// (`{"type": "scenario" | "step" | "verdict" | …}`). Only for people watching: a possim
    /// without a console (older versions) or any other failure is ignored.
    pub async fn announce(&self, event: Value) {
        let _ = self
            .call(reqwest::Method::POST, "/__admin/console/run", Some(event))
            .await;
    }

    /// Health, version, providers and their endpoints.
    pub async fn health(&self) -> Result<Value, AdminError> {
        self.call(reqwest::Method::GET, "/__admin/health", None).await
    }

    /// Waits (bounded by `limit`) until no provider is sending a request of its own (a Paygate
    /// notify): their journal entries complete when the shop's answer is in, which can be just
    /// after a POS that got everything it waited for has finished.
    pub async fn outbound_idle(&self, limit: std::time::Duration) -> Result<(), AdminError> {
        let until = std::time::Instant::now() + limit;
        loop {
            let busy = self
                .health()
                .await?
                .get("outboundInFlight")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if busy == 0 || std::time::Instant::now() >= until {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Provider name → base URL, as the running possim announces them.
    pub async fn endpoints(&self) -> Result<BTreeMap<String, String>, AdminError> {
        let health = self.health().await?;
        Ok(health
            .get("endpoints")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Loads a data set by built-in name or directory path; resets state, clock, journal, faults.
    pub async fn load_data(&self, name_or_path: &str, is_path: bool) -> Result<(), AdminError> {
        let body = if is_path {
            json!({"path": name_or_path})
        } else {
            json!({"name": name_or_path})
        };
        self.call(reqwest::Method::POST, "/__admin/dataset", Some(body))
            .await
            .map(drop)
    }

    /// The loaded data set (`GET /__admin/dataset`: `name`, `description`, `clock`).
    pub async fn dataset(&self) -> Result<Value, AdminError> {
        self.call(reqwest::Method::GET, "/__admin/dataset", None).await
    }

    /// The engine clock (`GET /__admin/clock`: `now`, `iso`, `frozen`).
    pub async fn clock(&self) -> Result<Value, AdminError> {
        self.call(reqwest::Method::GET, "/__admin/clock", None).await
    }

    /// Freezes the clock at an RFC 3339 instant.
    pub async fn set_clock(&self, rfc3339: &str) -> Result<(), AdminError> {
        self.call(reqwest::Method::PUT, "/__admin/clock", Some(json!({"time": rfc3339})))
            .await
            .map(drop)
    }

    /// Arms fault rules (engine format).
    pub async fn arm_faults(&self, rules: &[Value]) -> Result<(), AdminError> {
        if rules.is_empty() {
            return Ok(());
        }
        self.call(
            reqwest::Method::POST,
            "/__admin/faults",
            Some(Value::Array(rules.to_vec())),
        )
        .await
        .map(drop)
    }

    /// Turns recording on (a `possim serve --no-journal` records nothing until told to).
    pub async fn enable_journal(&self) -> Result<(), AdminError> {
        self.call(reqwest::Method::PUT, "/__admin/journal", Some(json!({"enabled": true})))
            .await
            .map(drop)
    }

    /// Empties the journal.
    pub async fn clear_journal(&self) -> Result<(), AdminError> {
        self.call(reqwest::Method::DELETE, "/__admin/journal", None)
            .await
            .map(drop)
    }

    /// Journal entries with an id above `since` (all when 0), oldest first.
    /// The listing comes in pages (`next` names the last id of a page that left entries out).
    pub async fn journal(&self, since: u64) -> Result<Vec<JournalEntry>, AdminError> {
        let mut entries: Vec<JournalEntry> = Vec::new();
        let mut since = since;
        loop {
            let mut value = self
                .call(reqwest::Method::GET, &format!("/__admin/journal?since={since}"), None)
                .await?;
            let page = value
                .get_mut("entries")
                .map(Value::take)
                .unwrap_or(Value::Array(Vec::new()));
            let page: Vec<JournalEntry> = serde_json::from_value(page).map_err(|e| AdminError::Refused {
                what: "GET /__admin/journal".into(),
                message: format!("unreadable journal: {e}"),
            })?;
            entries.extend(page);
            match value.get("next").and_then(Value::as_u64) {
                // A page always holds at least one entry, so `next` moves forward.
                Some(next) if next > since => since = next,
                _ => break,
            }
        }
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    /// A provider's state snapshot.
    pub async fn state(&self, provider: &str) -> Result<Value, AdminError> {
        self.call(reqwest::Method::GET, &format!("/__admin/state/{provider}"), None)
            .await
    }
}

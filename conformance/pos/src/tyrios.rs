//! `possim pos tyrios`: a correct till-side TYRIOS eCash client, the reference POS of the TYRIOS
//! suite. It follows the seed's recommended three steps — identify the customer, simulate with
//! `?draft=true`, execute — and handles a final call that fails after a successful draft by
//! reporting the refusal, never the draft's figures.
//!
//! [`Defect`]s plant the integration bugs tills really have, so tests can prove the suite catches
//! each of them.

use std::time::Duration;

use serde_json::{Map, Value, json};

/// A planted integration bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Defect {
    /// Goes straight to the final call, without the draft.
    SkipDraft,
    /// Reports success with the draft's figures although the final call was refused.
    IgnoreFinalError,
    /// Sends `totalAmount` as a JSON string.
    AmountAsString,
    /// Always sends `userMode: "HASH"`, whatever `UserData` holds.
    WrongUserMode,
    /// Repeats a failed final call unchanged (twice).
    BlindRetry,
    /// Converts cents to the JSON amount as `cents * 0.01` in floating point, so 19.99 goes out
    /// as `19.990000000000002`.
    FloatCents,
    /// Drops the cents of every amount it sends (19.99 → 19), as a till that keeps whole euros.
    DropCents,
    /// Shows credentials TYRIOS refused (401/403) as a refusal of the customer's card, not as a
    /// configuration error.
    AuthAsRefused,
    /// Reads the amount due by truncating `remainingAmount * 100` in floating point (30.87 →
    /// 30.86).
    FloatAmountDue,
    /// Tells the cashier to charge the total, ignoring what points and coupons paid.
    AmountDueFromTotal,
    /// Reports a final call whose answer was lost as refused (nothing booked), though it may
    /// have been booked.
    LostAnswerAsRefused,
    /// Sends coupons in the version-2 fields `couponCode`/`couponValue` instead of the array
    /// `BonusPointCouponData` of version 3.0.
    LegacyCouponField,
    /// Always sends `enablePointRedemption: true`, also when the customer keeps the points.
    IgnoreKeepPoints,
}

impl crate::PlantableDefect for Defect {}

/// Where and as whom the till talks to TYRIOS.
#[derive(Debug, Clone)]
pub struct TyriosPos {
    /// Base URL of the TYRIOS instance (without `/BonusPointManagement`).
    pub url: String,
    /// Login.
    pub login: String,
    /// Password.
    pub password: String,
    /// Planted bugs.
    pub defects: Vec<Defect>,
}

/// A TYRIOS answer.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn message(&self) -> String {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| format!("HTTP {}", self.status), str::to_owned)
    }
}

/// The till could not get an answer at all.
struct NoAnswer(String);

fn refused(stage: &str, message: String) -> Value {
    json!({"status": "refused", "stage": stage, "message": message})
}

fn unreachable(stage: &str, e: NoAnswer) -> Value {
    let note = if stage == "final" {
        " — the outcome of the transaction is unknown; check the transaction overview before retrying"
    } else {
        ""
    };
    json!({"status": "error", "stage": stage, "message": format!("TYRIOS did not answer: {}{note}", e.0)})
}

/// An amount in cents from the action's decimal text (`"33.00"`, `"30.87"`, `"50"`).
fn parse_cents(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac = format!("{frac:0<2}");
    Some(whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

/// What the till reports when TYRIOS refuses its credentials (401) or their rights (403): the
/// set-up is wrong, not the customer's card — an `error` the contract marks as `configuration`.
fn configuration_error(stage: &str, answer: &Answer) -> Value {
    json!({
        "status": "error",
        "reason": "configuration",
        "stage": stage,
        "message": format!("TYRIOS refused the till's credentials (HTTP {}): {} — check login and password", answer.status, answer.message()),
    })
}

/// Cents as the JSON number TYRIOS expects: `33`, `30.87`.
fn cents_json(cents: i64) -> Value {
    if cents % 100 == 0 {
        json!(cents / 100)
    } else {
        json!(cents as f64 / 100.0)
    }
}

/// A TYRIOS amount (JSON number) as the result vocabulary's decimal text.
fn amount_text(value: Option<&Value>) -> Value {
    match value.and_then(Value::as_f64) {
        Some(euros) => {
            let cents = (euros * 100.0).round() as i64;
            json!(format!("{}.{:02}", cents / 100, cents % 100))
        }
        None => Value::Null,
    }
}

impl TyriosPos {
    fn has(&self, defect: Defect) -> bool {
        self.defects.contains(&defect)
    }

    /// A non-200 answer: the provider refused the request — or, for 401/403, the till's set-up.
    fn rejected(&self, stage: &str, answer: &Answer) -> Value {
        if matches!(answer.status, 401 | 403) && !self.has(Defect::AuthAsRefused) {
            return configuration_error(stage, answer);
        }
        if matches!(answer.status, 401 | 403) {
            return refused(stage, "Karte abgelehnt / card refused".into());
        }
        refused(stage, answer.message())
    }

    /// An amount of the action as the JSON number the till sends (the planted arithmetic bugs
    /// live here).
    fn amount_json(&self, cents: i64) -> Value {
        let cents = if self.has(Defect::DropCents) {
            cents - cents % 100
        } else {
            cents
        };
        if self.has(Defect::FloatCents) {
            #[allow(clippy::cast_precision_loss)]
            let euros = cents as f64 * 0.01;
            return json!(euros);
        }
        cents_json(cents)
    }

    /// The result of a booked transaction, from TYRIOS's answer.
    fn completed(&self, answer: &Value) -> Value {
        let mut result = completed(answer);
        if self.has(Defect::FloatAmountDue)
            && let Some(euros) = answer.get("remainingAmount").and_then(Value::as_f64)
        {
            #[allow(clippy::cast_possible_truncation)]
            let cents = (euros * 100.0) as i64;
            result["amountDue"] = json!(format!("{}.{:02}", cents / 100, cents % 100));
        }
        if self.has(Defect::AmountDueFromTotal) {
            result["amountDue"] = amount_text(answer.get("totalAmount"));
        }
        result
    }

    async fn call(&self, method: &str, path_and_query: &str, body: Option<&Value>) -> Result<Answer, NoAnswer> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| NoAnswer(e.to_string()))?;
        let url = format!(
            "{}/BonusPointManagement{path_and_query}",
            self.url.trim_end_matches('/')
        );
        let method: reqwest::Method = method.parse().map_err(|_| NoAnswer(format!("bad method {method}")))?;
        let mut request = client
            .request(method.clone(), &url)
            .basic_auth(&self.login, Some(&self.password));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| NoAnswer(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| NoAnswer(e.to_string()))?;
        eprintln!("tyrios {method} {path_and_query} → {status}");
        let body = serde_json::from_str(&text).map_err(|e| NoAnswer(format!("unreadable answer ({e}): {text}")))?;
        Ok(Answer { status, body })
    }

    /// Runs one action and returns the result object (never fails: problems become
    /// `status: "error"` results).
    pub async fn perform(&self, action: &Value) -> Value {
        let kind = action.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "lookup-customer" => self.lookup(action).await,
            "search-customer" => self.search(action).await,
            "register-customer" => self.register(action).await,
            "sale" | "book-coupons" | "sell-coupons" | "buy-points" | "grant-points" => {
                self.transaction(kind, action).await
            }
            "show-transactions" => self.overview(action).await,
            other => json!({"status": "error", "message": format!("this till does not support the action {other:?}")}),
        }
    }

    async fn lookup(&self, action: &Value) -> Value {
        let Some(card) = action.pointer("/customer/card").and_then(Value::as_str) else {
            return json!({"status": "error", "message": "lookup-customer needs customer.card"});
        };
        match self.call("GET", &format!("/UserData/{card}"), None).await {
            Err(e) => unreachable("lookup", e),
            Ok(a) if a.status != 200 => self.rejected("lookup", &a),
            Ok(a) => json!({"status": "completed", "customer": customer_summary(&a.body)}),
        }
    }

    async fn search(&self, action: &Value) -> Value {
        let query = action.get("query").and_then(Value::as_str).unwrap_or("");
        match self
            .call("GET", &format!("/UserData/?query={}", encode(query)), None)
            .await
        {
            Err(e) => unreachable("search", e),
            Ok(a) if a.status != 200 => self.rejected("search", &a),
            Ok(a) => {
                let list: Vec<Value> = a
                    .body
                    .get("suggestions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(customer_summary)
                    .collect();
                json!({"status": "completed", "customers": list})
            }
        }
    }

    async fn register(&self, action: &Value) -> Value {
        let Some(new) = action.pointer("/customer/new").and_then(Value::as_object) else {
            return json!({"status": "error", "message": "register-customer needs customer.new"});
        };
        if let Some(email) = new.get("eMail").and_then(Value::as_str) {
            match self
                .call("GET", &format!("/UserData/eMail?email={}", encode(email)), None)
                .await
            {
                Err(e) => return unreachable("validate", e),
                Ok(a) if a.status != 200 => return self.rejected("validate", &a),
                Ok(a) if a.body.get("emailInUse") == Some(&Value::Bool(true)) => {
                    return refused("validate", format!("the e-mail address {email} is already registered"));
                }
                Ok(_) => {}
            }
        }
        let body = Value::Object(new.clone());
        match self.call("POST", "/UserData/", Some(&body)).await {
            Err(e) => unreachable("register", e),
            Ok(a) if a.status != 200 => self.rejected("register", &a),
            Ok(a) => json!({"status": "completed", "customer": customer_summary(&a.body)}),
        }
    }

    async fn overview(&self, action: &Value) -> Value {
        let path = match action.pointer("/customer/card").and_then(Value::as_str) {
            Some(card) => format!("/UserData/{card}/BonusPointTransaction"),
            None => "/BonusPointTransaction".to_owned(),
        };
        match self.call("GET", &path, None).await {
            Err(e) => unreachable("overview", e),
            Ok(a) if a.status != 200 => self.rejected("overview", &a),
            Ok(a) => {
                let list: Vec<Value> = a
                    .body
                    .get("transactions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        json!({"transactionId": t.get("id"), "transactionType": t.get("transactionType"),
                            "totalAmount": amount_text(t.get("totalAmount")), "obtainedPoints": t.get("obtainedPoints"),
                            "redeemedPoints": t.get("redeemedPoints")})
                    })
                    .collect();
                json!({"status": "completed", "total": a.body.get("total"), "transactions": list})
            }
        }
    }

    /// Identifies the customer (step 1) and returns `UserData` and `userMode`, or a result that
    /// ends the action.
    async fn identify(&self, customer: Option<&Value>) -> Result<Option<(Value, &'static str)>, Value> {
        let Some(customer) = customer else { return Ok(None) };
        if let Some(card) = customer.get("card").and_then(Value::as_str) {
            return match self.call("GET", &format!("/UserData/{card}"), None).await {
                Err(e) => Err(unreachable("identify", e)),
                Ok(a) if a.status != 200 => Err(self.rejected("identify", &a)),
                Ok(_) => Ok(Some((json!(card), "HASH"))),
            };
        }
        if let Some(query) = customer.get("search").and_then(Value::as_str) {
            let answer = match self
                .call("GET", &format!("/UserData/?query={}", encode(query)), None)
                .await
            {
                Err(e) => return Err(unreachable("identify", e)),
                Ok(a) if a.status != 200 => return Err(self.rejected("identify", &a)),
                Ok(a) => a,
            };
            let list = answer
                .body
                .get("suggestions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let wanted = customer.get("eMail").and_then(Value::as_str);
            let pick = list
                .into_iter()
                .find(|u| wanted.is_none_or(|m| u.get("eMail").and_then(Value::as_str) == Some(m)));
            return match pick {
                Some(user) => Ok(Some((user, "SEARCH"))),
                None => Err(refused("identify", format!("no customer found for {query:?}"))),
            };
        }
        if let Some(new) = customer.get("new") {
            return Ok(Some((new.clone(), "CREATE")));
        }
        Err(json!({"status": "error", "message": "customer must have card, search or new"}))
    }

    async fn transaction(&self, kind: &str, action: &Value) -> Value {
        let user = match self.identify(action.get("customer")).await {
            Ok(user) => user,
            Err(result) => return result,
        };
        let endpoint = match kind {
            "sale" => "pos",
            "book-coupons" => "coupon",
            "sell-coupons" => "couponActivation",
            "buy-points" => "cash",
            _ => "specialPoints",
        };
        let mut body = Map::new();
        if let Some((data, mode)) = user {
            let mode = if self.has(Defect::WrongUserMode) { "HASH" } else { mode };
            body.insert("UserData".into(), data);
            body.insert("userMode".into(), json!(mode));
        } else {
            // The seed's coupon-only examples still name a mode; HASH without UserData is what
            // the TYRIOS terminal sends.
            body.insert("userMode".into(), json!("HASH"));
        }
        body.insert(
            "productGroup".into(),
            action
                .get("productGroup")
                .cloned()
                .unwrap_or_else(|| json!("Gutschein")),
        );
        if let Some(amount) = action.get("amount").and_then(Value::as_str) {
            let Some(cents) = parse_cents(amount) else {
                return json!({"status": "error", "message": format!("amount {amount:?} is not a decimal like 33.00")});
            };
            let value = if self.has(Defect::AmountAsString) {
                json!(amount)
            } else {
                self.amount_json(cents)
            };
            body.insert("totalAmount".into(), value);
        }
        if let Some(points) = action.get("points") {
            body.insert("obtainedPoints".into(), points.clone());
        }
        if kind == "sale" || kind == "sell-coupons" {
            let use_points = action
                .get("usePoints")
                .and_then(Value::as_bool)
                .unwrap_or(kind == "sale");
            let use_points = use_points || self.has(Defect::IgnoreKeepPoints);
            body.insert("enablePointRedemption".into(), json!(use_points));
        }
        if let Some(coupons) = action.get("coupons").and_then(Value::as_array) {
            let mut list = Vec::new();
            for c in coupons {
                let entry = match c {
                    Value::String(code) => json!({"couponCode": code}),
                    other => {
                        let mut entry = json!({"couponCode": other.get("code")});
                        if let Some(value) = other.get("value").and_then(Value::as_str) {
                            match parse_cents(value) {
                                Some(cents) => entry["couponValue"] = self.amount_json(cents),
                                None => {
                                    return json!({"status": "error", "message": format!("coupon value {value:?} is not a decimal")});
                                }
                            }
                        }
                        entry
                    }
                };
                list.push(entry);
            }
            match list.as_slice() {
                [single] if self.has(Defect::LegacyCouponField) => {
                    for key in ["couponCode", "couponValue"] {
                        if let Some(value) = single.get(key) {
                            body.insert(key.into(), value.clone());
                        }
                    }
                }
                _ => {
                    body.insert("BonusPointCouponData".into(), Value::Array(list));
                }
            }
        }
        let mut body = Value::Object(body);

        // Step 2: simulate.
        let mut draft = None;
        if !self.has(Defect::SkipDraft) {
            match self
                .call(
                    "POST",
                    &format!("/BonusPointTransaction/{endpoint}?draft=true"),
                    Some(&body),
                )
                .await
            {
                Err(e) => return unreachable("draft", e),
                Ok(a) if a.status != 200 => return self.rejected("draft", &a),
                Ok(a) => {
                    // Pin the simulated redemption: if the points are gone by the final call,
                    // TYRIOS refuses it instead of silently redeeming less.
                    if let Some(points) = a.body.get("redeemedPoints").and_then(Value::as_i64)
                        && points > 0
                    {
                        body["redeemedPoints"] = json!(points);
                    }
                    draft = Some(a.body);
                }
            }
        }

        // Step 3: execute.
        let path = format!("/BonusPointTransaction/{endpoint}");
        let attempts = if self.has(Defect::BlindRetry) { 3 } else { 1 };
        let mut last = self.call("POST", &path, Some(&body)).await;
        for _ in 1..attempts {
            match &last {
                Ok(a) if a.status == 200 => break,
                _ => last = self.call("POST", &path, Some(&body)).await,
            }
        }
        match last {
            Ok(a) if a.status == 200 => self.completed(&a.body),
            failed if self.has(Defect::IgnoreFinalError) && draft.is_some() => {
                drop(failed);
                self.completed(draft.as_ref().unwrap_or(&Value::Null))
            }
            Ok(a) => self.rejected("final", &a),
            Err(e) if self.has(Defect::LostAnswerAsRefused) => {
                refused("final", format!("TYRIOS did not answer ({}); nothing booked", e.0))
            }
            Err(e) => unreachable("final", e),
        }
    }
}

/// The result of a booked transaction, from TYRIOS's answer.
fn completed(answer: &Value) -> Value {
    let mut result = json!({
        "status": "completed",
        "transactionId": answer.get("id"),
        "amountDue": amount_text(answer.get("remainingAmount")),
        "redeemedPoints": answer.get("redeemedPoints"),
        "obtainedPoints": answer.get("obtainedPoints"),
        "resultingPoints": answer.get("resultingPoints"),
    });
    if let Some(coupons) = answer.get("BonusPointCouponData").and_then(Value::as_array) {
        result["coupons"] = coupons
            .iter()
            .map(|c| json!({"code": c.get("couponCode"), "value": amount_text(c.get("couponValue"))}))
            .collect();
    }
    result
}

fn customer_summary(user: &Value) -> Value {
    json!({
        "id": user.get("id"),
        "preName": user.get("preName"),
        "name": user.get("name"),
        "eMail": user.get("eMail"),
        "points": user.get("currentBonusPoints"),
        "card": user.get("uniqueUserHash").or_else(|| user.get("uniqueUserHashPart")),
    })
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlantableDefect;

    /// The `--defect` names are a command-line contract (scripts and CI jobs plant them by name).
    #[test]
    fn defect_names_are_stable() {
        assert_eq!(
            Defect::names(),
            [
                "skip-draft",
                "ignore-final-error",
                "amount-as-string",
                "wrong-user-mode",
                "blind-retry",
                "float-cents",
                "drop-cents",
                "auth-as-refused",
                "float-amount-due",
                "amount-due-from-total",
                "lost-answer-as-refused",
                "legacy-coupon-field",
                "ignore-keep-points"
            ]
        );
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_cents("33.00"), Some(3300));
        assert_eq!(parse_cents("30.87"), Some(3087));
        assert_eq!(parse_cents("50"), Some(5000));
        assert_eq!(parse_cents("0.5"), Some(50));
        assert_eq!(parse_cents("1.234"), None);
        assert_eq!(parse_cents("-1"), None);
        assert_eq!(cents_json(3300), json!(33));
        assert_eq!(cents_json(3087), json!(30.87));
        assert_eq!(amount_text(Some(&json!(30.87))), json!("30.87"));
        assert_eq!(amount_text(Some(&json!(0))), json!("0.00"));
    }

    #[test]
    fn defect_names() {
        assert_eq!(Defect::parse("blind-retry"), Ok(Defect::BlindRetry));
        assert!(Defect::parse("typo").unwrap_err().contains("skip-draft"));
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode("Max Mustermann"), "Max%20Mustermann");
        assert_eq!(encode("ä"), "%C3%A4");
    }
}

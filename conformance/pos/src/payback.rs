//! `possim pos payback`: a correct till-side PAYBACK loyalty client. It collects points with a
//! `transactionId` it keeps for retries, asks for the PIN until the customer gets it right or
//! PAYBACK locks it (never past the lock), redeems at most the basket, and reports only what
//! PAYBACK booked. A request whose answer was lost is retried once with the same `transactionId`
//! (PAYBACK replays the booking instead of booking twice).
//!
//! The Austrian redemption through the card terminal (seed 000, `payback-terminal-redeem`): the
//! till sends the basket total to the ZVT terminal as a PAYBACK redemption, the customer does
//! the rest there, and the till books the EUR value of the terminal's completed answer as a
//! voucher — nothing when the terminal aborted. When the answer is lost after the terminal
//! reported a booking, the till reverses that receipt through the terminal and reports `error`.

use std::time::Duration;

use serde_json::{Value, json};

/// A planted integration bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Defect {
    /// Keeps asking for the PIN after PAYBACK answered `PIN_LOCKED`.
    PinRetryPastLock,
    /// Retries a request whose answer was lost with a new `transactionId`.
    NewIdOnRetry,
    /// Reports a redemption as booked although PAYBACK refused it.
    IgnoreRedeemError,
    /// Books a voucher for the basket although the terminal aborted the redemption.
    BookAbortedRedemption,
    /// Converts euros to cents as `(euros * 100.0) as i64` in floating point, so 19.99 becomes
    /// 1998.
    FloatCents,
    /// Drops the cents of every amount it sends (19.99 → 1900), as a till that keeps whole
    /// euros.
    DropCents,
    /// Never sends `eligibleAmountCents`, so goods that earn no points (tobacco, deposit) earn
    /// them.
    NoEligibleAmount,
    /// Shows credentials PAYBACK refused (401) as a refusal of the customer's card, not as a
    /// configuration error.
    AuthAsRefused,
    /// Reports the redeemed points as euros (1 point = 1 €) instead of cents.
    PointsAsEuros,
    /// Tells the cashier to charge the whole basket, ignoring the redeemed voucher.
    AmountDueUnreduced,
    /// Sends a refused booking once more, as if a refusal were a network error.
    RetryOnRefusal,
    /// Never sends the action coupons the cashier scanned.
    CouponsDropped,
}

impl crate::PlantableDefect for Defect {}

/// Where and as whom the till talks to PAYBACK.
#[derive(Debug, Clone)]
pub struct PaybackPos {
    /// Base URL.
    pub url: String,
    /// Partner short name.
    pub partner: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
    /// Planted bugs.
    pub defects: Vec<Defect>,
    /// The ZVT terminal (`host:port`, `tcp://` optional) for redemptions through the terminal.
    pub zvt: String,
    /// The terminal's password.
    pub zvt_password: u32,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }

    fn message(&self) -> String {
        let text = self.body.get("message").and_then(Value::as_str).unwrap_or("");
        format!("{}: {text}", self.code())
    }
}

fn cents(text: &str) -> Option<i64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(whole.parse::<i64>().ok()? * 100 + format!("{frac:0<2}").parse::<i64>().ok()?)
}

/// Euros to cents through a float, truncating: the planted `float-cents` arithmetic.
fn float_cents(text: &str) -> Option<i64> {
    let euros: f64 = text.trim().parse().ok()?;
    #[allow(clippy::cast_possible_truncation)]
    Some((euros * 100.0) as i64)
}

fn euros(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

impl PaybackPos {
    fn has(&self, defect: Defect) -> bool {
        self.defects.contains(&defect)
    }

    /// An amount of the action in cents, as the till computes it (the planted arithmetic bugs
    /// live here).
    fn cents(&self, text: &str) -> Option<i64> {
        let exact = cents(text)?;
        let cents = if self.has(Defect::FloatCents) {
            float_cents(text)?
        } else {
            exact
        };
        Some(if self.has(Defect::DropCents) {
            cents - cents % 100
        } else {
            cents
        })
    }

    /// A refused request: PAYBACK refused the business request (`refused`), or, for 401, the
    /// till's credentials — a configuration error the cashier cannot fix by another card.
    fn rejected(&self, answer: &Answer) -> Value {
        if answer.status == 401 && !self.has(Defect::AuthAsRefused) {
            return json!({
                "status": "error",
                "reason": "configuration",
                "message": format!("PAYBACK refused the till's credentials (HTTP 401, {}) — check partner, user and password", answer.message()),
            });
        }
        if answer.status == 401 {
            return json!({"status": "refused", "message": "card refused"});
        }
        json!({"status": "refused", "message": answer.message()})
    }

    /// The amounts of a redemption as the till reports them to the cashier.
    fn redeemed(&self, basket: i64, redeemed_cents: i64) -> (String, String) {
        let voucher = if self.has(Defect::PointsAsEuros) {
            redeemed_cents * 100
        } else {
            redeemed_cents
        };
        let due = if self.has(Defect::AmountDueUnreduced) {
            basket
        } else {
            basket - redeemed_cents
        };
        (euros(voucher), euros(due))
    }

    async fn call(&self, path: &str, body: &Value) -> Result<Answer, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .post(format!("{}{path}", self.url.trim_end_matches('/')))
            .basic_auth(&self.user, Some(&self.password))
            .header("partnerShortName", &self.partner)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        eprintln!("payback POST {path} → {status}");
        let body = serde_json::from_str(&text).map_err(|e| format!("unreadable answer ({e})"))?;
        Ok(Answer { status, body })
    }

    /// Sends a booking; when the answer is lost, sends it once more — with the same
    /// `transactionId`, so PAYBACK replays instead of booking twice.
    async fn book(&self, path: &str, mut body: Value) -> Result<Answer, String> {
        match self.call(path, &body).await {
            Ok(answer) if answer.status != 200 && self.has(Defect::RetryOnRefusal) => {
                eprintln!("payback: refused ({}); retrying", answer.status);
                self.call(path, &body).await
            }
            Ok(answer) => Ok(answer),
            Err(first) => {
                eprintln!("payback: no answer ({first}); retrying");
                if self.has(Defect::NewIdOnRetry) {
                    let id = body["transactionId"].as_str().unwrap_or("").to_owned();
                    body["transactionId"] = json!(format!("{id}-retry"));
                }
                self.call(path, &body).await
            }
        }
    }

    /// Runs one action and returns the result object.
    pub async fn perform(&self, action: &Value) -> Value {
        let kind = action.get("type").and_then(Value::as_str).unwrap_or("");
        let outcome = match kind {
            "payback-collect" => self.collect(action).await,
            "payback-redeem" => self.redeem(action).await,
            "payback-terminal-redeem" => self.terminal_redeem(action).await,
            other => {
                Err(json!({"status": "error", "message": format!("this till does not support the action {other:?}")}))
            }
        };
        outcome.unwrap_or_else(|result| result)
    }

    fn card(action: &Value) -> Result<String, Value> {
        action
            .pointer("/customer/card")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| json!({"status": "error", "message": "the action needs customer.card"}))
    }

    fn transaction_id(action: &Value, what: &str) -> String {
        let receipt = action.get("receipt").and_then(Value::as_str).unwrap_or("0");
        format!("{what}-{receipt}")
    }

    async fn collect(&self, action: &Value) -> Result<Value, Value> {
        let card = Self::card(action)?;
        let amount = action
            .get("amount")
            .and_then(Value::as_str)
            .and_then(|text| self.cents(text))
            .ok_or_else(|| json!({"status": "error", "message": "amount must be a decimal like 12.50"}))?;
        let mut body = json!({
            "transactionId": Self::transaction_id(action, "collect"),
            "cardNumber": card,
            "receiptNumber": action.get("receipt").cloned().unwrap_or(json!("0")),
            "totalAmountCents": amount,
        });
        if let Some(coupons) = action.get("coupons").filter(|_| !self.has(Defect::CouponsDropped)) {
            body["coupons"] = coupons.clone();
        }
        if let Some(eligible) = action
            .get("eligibleAmount")
            .and_then(Value::as_str)
            .and_then(|text| self.cents(text))
            .filter(|_| !self.has(Defect::NoEligibleAmount))
        {
            body["eligibleAmountCents"] = json!(eligible);
        }
        let answer = self
            .book("/purchases", body)
            .await
            .map_err(|e| json!({"status": "error", "message": format!("PAYBACK did not answer: {e}")}))?;
        if answer.status != 200 {
            return Err(self.rejected(&answer));
        }
        Ok(json!({
            "status": "completed",
            "points": answer.body.get("totalPoints"),
            "newBalance": answer.body.get("newBalance"),
        }))
    }

    /// Redemption through the card terminal: the terminal asks for the PIN, shows the balance,
    /// lets the customer pick the points and books them; its completed answer carries the EUR
    /// value, which the till books as a voucher ("Gutscheineinlösung").
    async fn terminal_redeem(&self, action: &Value) -> Result<Value, Value> {
        use possim_terminal::ecr::{Ecr, Outcome};
        let error = |message: String| json!({"status": "error", "message": message});
        // The cashier scanned the card (seed 000), but the 06 01 of our design carries no card
        // number: the terminal reads the PAYBACK card itself. A given customer is only checked.
        if action.get("customer").is_some() {
            Self::card(action)?;
        }
        let basket = action
            .get("basket")
            .and_then(Value::as_str)
            .and_then(|text| self.cents(text))
            .ok_or_else(|| error("basket must be a decimal like 12.50".into()))?;
        let addr = self.zvt.trim_start_matches("tcp://").to_owned();
        let connect = || async {
            let mut ecr = Ecr::connect(&addr, self.zvt_password)
                .await
                .map_err(|e| error(format!("terminal at {addr}: {e}")))?;
            match ecr.register(0xBE).await {
                Ok(t) if t.outcome == Outcome::Completed => Ok(ecr),
                Ok(t) => Err(error(format!("terminal registration: {:?}", t.outcome))),
                Err(e) => Err(error(format!("terminal registration: {e}"))),
            }
        };
        let mut ecr = connect().await?;
        let basket_cents = u64::try_from(basket).unwrap_or(0);
        let card_type = possim_terminal::config::PaybackSettings::default().card_type;
        let done = ecr.payback_redeem(basket_cents, card_type).await;
        let voucher = |redeemed: i64, points: Option<u64>| {
            let (voucher, due) = self.redeemed(basket, redeemed);
            json!({
                "status": "completed",
                "redeemedPoints": points.map_or(redeemed, |p| i64::try_from(p).unwrap_or(redeemed)),
                "voucherAmount": voucher,
                "amountDue": due,
            })
        };
        match done {
            Ok(t) => match t.outcome {
                Outcome::Completed => {
                    let redeemed = t.amount.and_then(|a| i64::try_from(a).ok()).unwrap_or(0);
                    let mut result = voucher(redeemed, t.bonus.and_then(|b| b.points));
                    if let Some(balance) = t.bonus.and_then(|b| b.remaining) {
                        result["newBalance"] = json!(balance);
                    }
                    if let Some(receipt) = t.receipt {
                        result["receipt"] = json!(receipt);
                    }
                    Ok(result)
                }
                Outcome::Aborted { result_code } if self.has(Defect::BookAbortedRedemption) => {
                    eprintln!("terminal aborted ({result_code:02X}); booking the voucher anyway (planted defect)");
                    let amount = t.amount.and_then(|a| i64::try_from(a).ok()).unwrap_or(basket);
                    Ok(voucher(amount, None))
                }
                Outcome::Aborted { result_code } => Err(json!({
                    "status": "refused",
                    "resultCode": result_code,
                    "message": format!("the terminal ended the redemption with result code {result_code:02X}"),
                })),
                Outcome::Refused { code } => Err(json!({
                    "status": "refused",
                    "resultCode": code,
                    "message": format!("the terminal refused the command ({code:02X})"),
                })),
            },
            Err(e) => {
                // The answer was lost. If the terminal had reported a booking (a Status-
                // Information with result 00 and a receipt), the outcome at PAYBACK is "booked"
                // but the till cannot trust the rest: reverse that receipt through the terminal.
                let booked = ecr
                    .last_status
                    .as_ref()
                    .filter(|s| s.result_code == Some(0))
                    .and_then(|s| s.receipt);
                let Some(receipt) = booked else {
                    return Err(error(format!(
                        "the terminal's answer was lost ({e}); nothing was reported booked"
                    )));
                };
                drop(ecr);
                let reversed = match connect().await {
                    Ok(mut again) => again
                        .reverse(receipt)
                        .await
                        .ok()
                        .filter(|t| t.outcome == Outcome::Completed),
                    Err(_) => None,
                };
                Err(error(match reversed {
                    Some(_) => format!(
                        "the terminal's answer was lost ({e}) after it booked receipt {receipt}; reversed it, no voucher booked"
                    ),
                    None => format!(
                        "the terminal's answer was lost ({e}) after it booked receipt {receipt}; the reversal failed — reconcile by hand"
                    ),
                }))
            }
        }
    }

    async fn redeem(&self, action: &Value) -> Result<Value, Value> {
        let card = Self::card(action)?;
        let basket = action
            .get("basket")
            .and_then(Value::as_str)
            .and_then(|text| self.cents(text))
            .ok_or_else(|| json!({"status": "error", "message": "basket must be a decimal like 12.50"}))?;
        let entries = possim_conformance::action::strings(action, "pinEntries");
        // Step 1: the PIN, as often as the customer tries — but never past the lock.
        let mut auth = None;
        for pin in &entries {
            let answer = self
                .call("/members/authenticate", &json!({"cardNumber": card, "pin": pin}))
                .await
                .map_err(|e| json!({"status": "error", "message": format!("PAYBACK did not answer: {e}")}))?;
            match (answer.status, answer.code()) {
                (200, _) => {
                    auth = Some(answer.body);
                    break;
                }
                (_, "PIN_INVALID") => continue,
                (_, "PIN_LOCKED") if self.has(Defect::PinRetryPastLock) => continue,
                _ => return Err(self.rejected(&answer)),
            }
        }
        let Some(auth) = auth else {
            return Err(json!({"status": "refused", "message": "the customer did not enter the right PIN"}));
        };
        // Step 2: what to redeem: all points, capped at the basket (the rest is paid otherwise).
        let balance = auth.get("redeemableBalance").and_then(Value::as_i64).unwrap_or(0);
        if balance == 0 && action.get("points").is_none() {
            // Unregistered, or below the 200-point minimum: nothing to offer the customer.
            return Err(json!({"status": "refused", "message": "no redeemable points (unregistered or below 200)"}));
        }
        let wanted = match action.get("points") {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            _ => balance.min(basket),
        };
        let body = json!({
            "transactionId": Self::transaction_id(action, "redeem"),
            "pinToken": auth.get("pinToken"),
            "points": wanted,
            "basketTotalCents": basket,
            "receiptNumber": action.get("receipt").cloned().unwrap_or(json!("0")),
        });
        let answer = self
            .book("/redemptions", body)
            .await
            .map_err(|e| json!({"status": "error", "message": format!("PAYBACK did not answer: {e}")}))?;
        if answer.status != 200 {
            if self.has(Defect::IgnoreRedeemError) {
                let (voucher, due) = self.redeemed(basket, wanted);
                return Ok(
                    json!({"status": "completed", "redeemedPoints": wanted, "voucherAmount": voucher, "amountDue": due}),
                );
            }
            return Err(self.rejected(&answer));
        }
        let redeemed = answer.body.get("amountCents").and_then(Value::as_i64).unwrap_or(0);
        let (voucher, due) = self.redeemed(basket, redeemed);
        Ok(json!({
            "status": "completed",
            "redeemedPoints": answer.body.get("redeemedPoints"),
            "voucherAmount": voucher,
            "amountDue": due,
        }))
    }
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
                "pin-retry-past-lock",
                "new-id-on-retry",
                "ignore-redeem-error",
                "book-aborted-redemption",
                "float-cents",
                "drop-cents",
                "no-eligible-amount",
                "auth-as-refused",
                "points-as-euros",
                "amount-due-unreduced",
                "retry-on-refusal",
                "coupons-dropped"
            ]
        );
    }

    #[test]
    fn amounts_and_defects() {
        assert_eq!(cents("123.45"), Some(12345));
        assert_eq!(cents("5"), Some(500));
        assert_eq!(cents("1.234"), None);
        assert_eq!(euros(250), "2.50");
        // The planted float arithmetic really loses a cent where a float cannot hold the amount.
        assert_eq!(float_cents("19.99"), Some(1998));
        assert_eq!(float_cents("25.00"), Some(2500));
        assert_eq!(Defect::parse("new-id-on-retry"), Ok(Defect::NewIdOnRetry));
        assert!(Defect::parse("x").unwrap_err().contains("pin-retry-past-lock"));
    }
}

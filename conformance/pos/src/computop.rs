//! `possim pos computop`: a correct web shop paying with PAYBACK PAY through the Computop
//! Paygate (seed 003, spec `computop-payback.md` §1). It runs its own listener for URLNotify,
//! URLSuccess and URLFailure, sends the sale encrypted (Blowfish or AES) with a ReqID kept for a
//! retry, checks the MAC of every notify and return, ignores the intermediate
//! `AUTHORIZE_REQUEST` (Code `0`), counts only Code `00000000` as paid and `6…` as pending, books
//! the order exactly once however the notify and the browser return race, and credits with a MAC
//! that includes the PayID. An answer lost on the way is asked for once more with the same ReqID,
//! so the Paygate replays instead of acting twice.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use possim_computop::client::{self, Account};
use possim_computop::crypto::Cipher;
use possim_computop::form::{self, Fields};
use serde_json::{Value, json};

/// A planted integration bug (issue 5: each one seen in a real client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Defect {
    /// Takes notifies and returns without checking their MAC (FATCHIP's notify controllers).
    NotifyMacUnchecked,
    /// Reads `Code` as a number: `0` (the `AUTHORIZE_REQUEST` notify) equals `00000000`.
    CodeZeroAsPaid,
    /// Looks at the first character only and counts `0` and `6` (pending) as success (FATCHIP).
    FirstDigitOnly,
    /// Leaves the PayID out of the credit's MAC (pretix's first refund).
    RefundMacWithoutPayid,
    /// Retries a request whose answer was lost with a new ReqID (Spryker's `time()`/`rand()`).
    NewReqidOnRetry,
    /// Books the order on the notify and again on the browser return (no lock, no dedupe).
    BookOnNotifyAndReturn,
    /// Checks the MAC of notifies but trusts the browser return (it came from the customer's
    /// own browser, so it "must" be genuine) — the seed says returns carry a MAC too.
    ReturnMacUnchecked,
    /// Takes a pending Code (6…) as the final failure and cancels the order.
    PendingAsFailure,
    /// Reports an error when an answer is lost instead of asking again with the same ReqID.
    NoRetryOnLostAnswer,
    /// Computes Amount through floating point and cuts: 19.99 × 100 = 1998.999… → 1998.
    FloatAmount,
    /// Sends the credit's Amount in euros with a decimal point (`10.00`), not in cents.
    CreditAmountInEuros,
    /// Tells the cashier the whole order was paid in money, ignoring the redeemed points
    /// (`payamount`).
    PayAmountIgnored,
}

impl crate::PlantableDefect for Defect {}

/// The shop's Paygate account.
#[derive(Debug, Clone)]
pub struct ComputopPos {
    /// Paygate base URL (the pages are `PaybackPay.aspx`, `credit.aspx`).
    pub url: String,
    /// MerchantID and the two passwords.
    pub account: Account,
    /// How long the shop waits for the payment's final status.
    pub wait: Duration,
    /// Planted bugs.
    pub defects: Vec<Defect>,
}

/// Parses `blowfish` / `aes`.
pub fn parse_cipher(name: &str) -> Result<Cipher, String> {
    match name.to_ascii_lowercase().as_str() {
        "blowfish" | "" => Ok(Cipher::Blowfish),
        "aes" => Ok(Cipher::Aes),
        other => Err(format!("unknown cipher {other:?} (blowfish, aes)")),
    }
}

/// What a Paygate message says about the payment, as this shop reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The intermediate notify: the customer is asked in the app.
    Ignore,
    Pending,
    Paid,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Open,
    Pending,
    Paid,
    Failed,
}

#[derive(Debug)]
struct Order {
    outcome: Outcome,
    /// How often the order was booked (a correct shop: once).
    booked: u32,
    pay_id: Option<String>,
    points: i64,
    pay_amount: i64,
    description: String,
    /// A notify with a final `Status` (OK or FAILED) arrived.
    final_notify: bool,
    /// The customer's browser came back (to URLSuccess or URLFailure).
    returned: bool,
}

impl Order {
    fn new() -> Self {
        Self {
            outcome: Outcome::Open,
            booked: 0,
            pay_id: None,
            points: 0,
            pay_amount: 0,
            description: String::new(),
            final_notify: false,
            returned: false,
        }
    }
}

struct Shop {
    pos: ComputopPos,
    trans_id: String,
    amount: i64,
    order: Mutex<Order>,
    /// Woken by every message the shop takes in.
    changed: tokio::sync::Notify,
}

impl Shop {
    fn lock(&self) -> MutexGuard<'_, Order> {
        self.order.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn has(&self, defect: Defect) -> bool {
        self.pos.defects.contains(&defect)
    }

    fn classify(&self, status: &str, code: &str) -> Class {
        if self.has(Defect::CodeZeroAsPaid) {
            if code.trim().parse::<i64>() == Ok(0) {
                return Class::Paid;
            }
            if status.eq_ignore_ascii_case("AUTHORIZE_REQUEST") {
                return Class::Ignore;
            }
            return if code.starts_with('6') {
                Class::Pending
            } else {
                Class::Failed
            };
        }
        if status.eq_ignore_ascii_case("AUTHORIZE_REQUEST") {
            return Class::Ignore;
        }
        if self.has(Defect::FirstDigitOnly) {
            return if code.starts_with(['0', '6']) {
                Class::Paid
            } else {
                Class::Failed
            };
        }
        // Seed 003: only 00000000 is success; never read the Description.
        if code == "00000000" {
            Class::Paid
        } else if code.starts_with('6') && !self.has(Defect::PendingAsFailure) {
            Class::Pending
        } else {
            Class::Failed
        }
    }

    /// Takes a message about the payment (the sale's answer, a notify, a return). The decision
    /// and the booking happen under one lock: a notify and a return arriving together book once.
    fn take(&self, fields: &Fields, source: &str) {
        let get = |k: &str| fields.get(k).unwrap_or("").to_owned();
        let class = self.classify(&get("Status"), &get("Code"));
        let mut order = self.lock();
        if order.pay_id.is_none() && !get("PayID").is_empty() {
            order.pay_id = Some(get("PayID"));
        }
        eprintln!(
            "computop shop: {source}: Status={} Code={} → {class:?}",
            get("Status"),
            get("Code")
        );
        match class {
            Class::Ignore => {}
            Class::Pending => {
                if order.outcome == Outcome::Open {
                    order.outcome = Outcome::Pending;
                }
            }
            Class::Paid => {
                let first = matches!(order.outcome, Outcome::Open | Outcome::Pending);
                if first {
                    order.outcome = Outcome::Paid;
                    order.points = get("pointsredeemed").parse().unwrap_or(0);
                    order.pay_amount = get("payamount").parse().unwrap_or(self.amount - order.points);
                    if self.has(Defect::PayAmountIgnored) {
                        order.pay_amount = self.amount;
                    }
                }
                if (first && order.booked == 0) || self.has(Defect::BookOnNotifyAndReturn) {
                    order.booked += 1;
                    eprintln!("computop shop: order booked ({}×)", order.booked);
                }
            }
            Class::Failed => {
                if matches!(order.outcome, Outcome::Open | Outcome::Pending) {
                    order.outcome = Outcome::Failed;
                    order.description = format!("{} ({})", get("Description"), get("Code"));
                }
            }
        }
    }

    /// Waits until `done` holds for the order (woken by each message), or until `deadline`.
    async fn wait_until(&self, deadline: Instant, done: impl Fn(&Order) -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done(&self.lock()) {
                return;
            }
            if tokio::time::timeout_at(deadline.into(), changed).await.is_err() {
                return;
            }
        }
    }

    /// A notify or a browser return: open it, check who sent it, take it.
    fn callback(&self, text: &str, source: &str) -> (StatusCode, String) {
        let answer = self.answer_callback(text, source);
        self.changed.notify_waiters();
        answer
    }

    fn answer_callback(&self, text: &str, source: &str) -> (StatusCode, String) {
        let fields = match self.pos.account.open(&Fields::from_urlencoded(text)) {
            Ok(fields) => fields,
            Err(e) => {
                eprintln!("computop shop: {source}: cannot read it: {e}");
                return (StatusCode::BAD_REQUEST, "[unreadable]".into());
            }
        };
        let get = |k: &str| fields.get(k).unwrap_or("");
        // Whatever the shop makes of it, the Paygate has now said its last word on this channel.
        {
            let mut order = self.lock();
            if source == "notify" && matches!(get("Status"), "OK" | "FAILED") {
                order.final_notify = true;
            }
            if source.starts_with("return") {
                order.returned = true;
            }
        }
        let trusted = self.has(Defect::NotifyMacUnchecked)
            || (self.has(Defect::ReturnMacUnchecked) && source.starts_with("return"));
        if !trusted && !self.pos.account.verify(&fields) {
            eprintln!("computop shop: {source}: MAC invalid, ignored");
            return (StatusCode::BAD_REQUEST, "[MAC invalid]".into());
        }
        if get("TransID") != self.trans_id {
            eprintln!(
                "computop shop: {source}: TransID {} is not this order's",
                get("TransID")
            );
            return (StatusCode::BAD_REQUEST, "[unknown TransID]".into());
        }
        self.take(&fields, source);
        (StatusCode::OK, "[accepted]".into())
    }
}

async fn notify(State(shop): State<Arc<Shop>>, body: Bytes) -> (StatusCode, String) {
    shop.callback(&form::latin1_decode(&body), "notify")
}

async fn success(State(shop): State<Arc<Shop>>, RawQuery(query): RawQuery, body: Bytes) -> (StatusCode, String) {
    browser(&shop, query, &body, "return to URLSuccess")
}

async fn failure(State(shop): State<Arc<Shop>>, RawQuery(query): RawQuery, body: Bytes) -> (StatusCode, String) {
    browser(&shop, query, &body, "return to URLFailure")
}

/// The browser comes back by GET (query) or POST (form): what counts is the content, not the
/// URL it came to — a fraudster can replay a failure's Data to URLSuccess (seed 003).
fn browser(shop: &Shop, query: Option<String>, body: &[u8], source: &str) -> (StatusCode, String) {
    let mut text = query.unwrap_or_default();
    if !body.is_empty() {
        text.push('&');
        text.push_str(&form::latin1_decode(body));
    }
    let (status, _) = shop.callback(&text, source);
    let page = if status == StatusCode::OK {
        "Thank you"
    } else {
        "Invalid return"
    };
    (status, page.into())
}

fn cents(text: &str) -> Option<i64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(whole.parse::<i64>().ok()? * 100 + format!("{frac:0<2}").parse::<i64>().ok()?)
}

fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// A fresh id: process, time and a counter (ans..32 for a ReqID).
fn fresh_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{:x}{n}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

fn error(message: impl Into<String>) -> Value {
    json!({"status": "error", "message": message.into()})
}

/// No answer (connection lost, cut body) versus an answer.
enum Call {
    Answer(Fields),
    Lost(String),
}

impl ComputopPos {
    fn has(&self, defect: Defect) -> bool {
        self.defects.contains(&defect)
    }

    /// The action's decimal amount in cents, as this shop (with its planted bugs) reads it.
    fn amount(&self, action: &Value, key: &str) -> Option<i64> {
        let text = action.get(key).and_then(Value::as_str)?;
        let exact = cents(text)?;
        if self.has(Defect::FloatAmount) {
            let euros: f64 = text.trim().parse().ok()?;
            // The bug: truncating instead of rounding the binary fraction.
            return Some((euros * 100.0) as i64);
        }
        Some(exact)
    }

    async fn post(&self, page: &str, fields: &Fields) -> Result<Call, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let body = self.account.seal(fields).map_err(|e| e.to_string())?;
        let url = format!("{}/{page}", self.url.trim_end_matches('/'));
        let response = match client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Ok(Call::Lost(e.to_string())),
        };
        let status = response.status().as_u16();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Ok(Call::Lost(format!("the answer broke off: {e}"))),
        };
        eprintln!("computop shop: POST {page} → {status}");
        match self.account.open(&Fields::from_urlencoded(&text)) {
            Ok(fields) if fields.get("Status").is_some() => Ok(Call::Answer(fields)),
            Ok(_) | Err(_) => Ok(Call::Lost(format!("unreadable answer {status}: {text:.100}"))),
        }
    }

    /// Sends a request; when its answer is lost, once more with the same ReqID (the Paygate then
    /// answers from its store instead of acting twice).
    async fn send(&self, page: &str, mut fields: Fields) -> Result<Fields, String> {
        match self.post(page, &fields).await? {
            Call::Answer(answer) => Ok(answer),
            Call::Lost(why) if self.has(Defect::NoRetryOnLostAnswer) => Err(format!("{page}: no answer ({why})")),
            Call::Lost(why) => {
                eprintln!("computop shop: {page}: no answer ({why}); asking again");
                if self.has(Defect::NewReqidOnRetry) {
                    fields.set("ReqID", fresh_id("r"));
                }
                match self.post(page, &fields).await? {
                    Call::Answer(answer) => Ok(answer),
                    Call::Lost(why) => Err(format!("{page}: no answer twice ({why})")),
                }
            }
        }
    }

    /// Runs one action and returns the result object.
    pub async fn perform(&self, action: &Value) -> Value {
        let kind = action.get("type").and_then(Value::as_str).unwrap_or("");
        let amount_key = match kind {
            "computop-sale" => "amount",
            "computop-refund" => "saleAmount",
            other => return error(format!("this shop does not support the action {other:?}")),
        };
        let Some(amount) = self.amount(action, amount_key) else {
            return error(format!("{amount_key} must be a decimal like 55.00"));
        };
        let account = action.get("accountId").and_then(Value::as_str).unwrap_or("").to_owned();
        let shop = Arc::new(Shop {
            pos: self.clone(),
            trans_id: fresh_id("possim-"),
            amount,
            order: Mutex::new(Order::new()),
            changed: tokio::sync::Notify::new(),
        });
        let deadline = Instant::now() + self.wait;
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => return error(format!("the shop cannot listen: {e}")),
        };
        let base = match listener.local_addr() {
            Ok(a) => format!("http://{a}"),
            Err(e) => return error(format!("the shop cannot listen: {e}")),
        };
        let app = Router::new()
            .route("/notify", post(notify))
            .route("/success", get(success).post(success))
            .route("/failure", get(failure).post(failure))
            .with_state(Arc::clone(&shop));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut result = self.sale(&shop, &base, &account, action, deadline).await;
        // A shop keeps running: however early it made up its mind (rightly or, with a defect,
        // wrongly), it answers the Paygate until the payment's final notify and the customer's
        // browser have both arrived — what the Paygate sends for a payment ends with them. A
        // refund is a later business step: it comes after the checkout is over.
        shop.wait_until(deadline, |o| o.final_notify && o.returned).await;
        if result.get("status").and_then(Value::as_str) == Some("completed") && kind == "computop-refund" {
            result = self.refund(&shop, action, result).await;
        }
        server.abort();
        if let Some(map) = result.as_object_mut() {
            map.insert("orders".into(), json!(shop.lock().booked));
        }
        result
    }

    async fn sale(&self, shop: &Shop, base: &str, account: &str, action: &Value, deadline: Instant) -> Value {
        let mut f = client::sale_request(&self.account, &shop.trans_id, shop.amount, base, account, None);
        f.push("ReqID", fresh_id("s"));
        f.push("Language", "de");
        let desc = action
            .get("orderDesc")
            .and_then(Value::as_str)
            .map_or_else(|| format!("Order {}", shop.trans_id), str::to_owned);
        f.push("OrderDesc", desc);
        let answer = match self.send("PaybackPay.aspx", f).await {
            Ok(a) => a,
            Err(e) => return error(format!("the Paygate did not answer the sale: {e}")),
        };
        shop.take(&answer, "sale answer");
        // Wait (bounded) for the final status: the customer decides in the app.
        shop.wait_until(deadline, |o| matches!(o.outcome, Outcome::Paid | Outcome::Failed))
            .await;
        let order = shop.lock();
        let pay_id = order.pay_id.clone().unwrap_or_default();
        match order.outcome {
            Outcome::Paid => json!({
                "status": "completed",
                "payId": pay_id,
                "pointsRedeemed": order.points,
                "payAmount": euros(order.pay_amount),
            }),
            Outcome::Failed => json!({"status": "refused", "payId": pay_id, "message": order.description}),
            Outcome::Open | Outcome::Pending => error(format!("no final status within {} ms", self.wait.as_millis())),
        }
    }

    async fn refund(&self, shop: &Shop, action: &Value, mut result: Value) -> Value {
        let Some(amount) = self.amount(action, "amount") else {
            return error("amount must be a decimal like 10.00");
        };
        let pay_id = result["payId"].as_str().unwrap_or("").to_owned();
        let amount_text = if self.has(Defect::CreditAmountInEuros) {
            euros(amount)
        } else {
            amount.to_string()
        };
        let mut f = Fields::default();
        f.push("MerchantID", self.account.merchant_id.clone());
        f.push("PayID", pay_id.clone());
        f.push("TransID", shop.trans_id.clone());
        f.push("ReqID", fresh_id("c"));
        f.push("Amount", amount_text);
        f.push("Currency", "EUR");
        let mac = if self.has(Defect::RefundMacWithoutPayid) {
            let mut without = f.clone();
            without.set("PayID", "");
            self.account.request_mac(&without)
        } else {
            self.account.request_mac(&f)
        };
        f.push("MAC", mac);
        let answer = match self.send("credit.aspx", f).await {
            Ok(a) => a,
            Err(e) => return error(format!("the credit's outcome is unknown: {e}")),
        };
        let get = |k: &str| answer.get(k).unwrap_or("").to_owned();
        if get("Code") != "00000000" {
            return json!({"status": "refused", "payId": pay_id,
                "message": format!("credit refused: {} ({})", get("Description"), get("Code"))});
        }
        let credited: i64 = get("Amount").parse().unwrap_or(amount);
        result["credited"] = json!(euros(credited));
        result
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
                "notify-mac-unchecked",
                "code-zero-as-paid",
                "first-digit-only",
                "refund-mac-without-payid",
                "new-reqid-on-retry",
                "book-on-notify-and-return",
                "return-mac-unchecked",
                "pending-as-failure",
                "no-retry-on-lost-answer",
                "float-amount",
                "credit-amount-in-euros",
                "pay-amount-ignored"
            ]
        );
    }

    fn shop(defects: Vec<Defect>) -> Shop {
        Shop {
            pos: ComputopPos {
                url: String::new(),
                account: Account {
                    merchant_id: "m".into(),
                    hmac_password: "h".into(),
                    crypt_password: "16CharKeyLength!".into(),
                    cipher: Cipher::Blowfish,
                },
                wait: Duration::from_secs(1),
                defects,
            },
            trans_id: "t".into(),
            amount: 100,
            order: Mutex::new(Order::new()),
            changed: tokio::sync::Notify::new(),
        }
    }

    #[test]
    fn codes_as_the_seed_says_and_as_the_defects_misread_them() {
        let good = shop(vec![]);
        assert_eq!(good.classify("AUTHORIZE_REQUEST", "0"), Class::Ignore);
        assert_eq!(good.classify("OK", "00000000"), Class::Paid);
        assert_eq!(good.classify("PENDING", "69509008"), Class::Pending);
        assert_eq!(good.classify("FAILED", "29509001"), Class::Failed);
        assert_eq!(
            shop(vec![Defect::CodeZeroAsPaid]).classify("AUTHORIZE_REQUEST", "0"),
            Class::Paid
        );
        let fatchip = shop(vec![Defect::FirstDigitOnly]);
        assert_eq!(fatchip.classify("AUTHORIZE_REQUEST", "0"), Class::Ignore);
        assert_eq!(fatchip.classify("PENDING", "69509008"), Class::Paid);
        assert_eq!(
            shop(vec![Defect::PendingAsFailure]).classify("PENDING", "69509008"),
            Class::Failed
        );
    }

    #[test]
    fn amounts_in_cents_exactly_and_as_the_float_defect_cuts_them() {
        let action = |a: &str| json!({ "amount": a });
        let exact = shop(vec![]).pos;
        let float = shop(vec![Defect::FloatAmount]).pos;
        // Seed 003: Amount in the smallest currency unit; 19.99 € = 1999.
        for (text, want) in [("19.99", 1999), ("0.01", 1), ("1234.56", 123_456), ("55", 5500)] {
            assert_eq!(exact.amount(&action(text), "amount"), Some(want), "{text}");
        }
        assert_eq!(exact.amount(&action("1.234"), "amount"), None);
        // 19.99 is 19.989999… in binary; × 100 and cut gives one cent less.
        assert_eq!(float.amount(&action("19.99"), "amount"), Some(1998));
    }

    #[test]
    fn amounts_and_defects() {
        assert_eq!(cents("55.00"), Some(5500));
        assert_eq!(euros(-1000), "-10.00");
        assert_eq!(Defect::parse("code-zero-as-paid"), Ok(Defect::CodeZeroAsPaid));
        assert!(Defect::parse("x").unwrap_err().contains("notify-mac-unchecked"));
        assert_eq!(parse_cipher("AES"), Ok(Cipher::Aes));
    }
}

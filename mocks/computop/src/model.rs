//! The Paygate's state and its data-set file `computop.toml`: merchants with their three
//! secrets, PAYBACK members with their points, the simulated customer's decisions, the
//! settings a developer turns (callback strictness, padding, notify time scale), and the
//! payments, credits and ReqIDs booked since the last reset.

use std::collections::{BTreeMap, HashMap, VecDeque};

use possim_engine::EngineError;
use possim_engine::clock::Millis;
use possim_engine::dataset::DataSet;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Cipher, Padding};

/// The data-set file name.
pub const FILE: &str = "computop.toml";

/// `computop.toml`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataFile {
    /// Behaviour switches.
    #[serde(default)]
    pub paygate: Settings,
    /// Merchants.
    #[serde(default)]
    pub merchants: Vec<Merchant>,
    /// PAYBACK members known to PAYBACK PAY.
    #[serde(default)]
    pub members: Vec<Member>,
    /// What the customer does in the PAYBACK app.
    #[serde(default)]
    pub customer: CustomerScript,
    /// Fixed ids for sales with a given TransID (to replay the seed's samples verbatim).
    #[serde(default)]
    pub presets: Vec<Preset>,
}

/// How the Paygate behaves where the documents leave a choice.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// Enforce the seed's callback rule (https, port 443, no query). Off: plain-HTTP loopback
    /// URLs and query strings are accepted and noted as findings.
    pub strict_callbacks: bool,
    /// Let callback URLs point at possim's own listeners (the admin API, a provider port).
    /// Off: such a sale is refused like a malformed URL, and a notify is never sent there.
    pub allow_self_callbacks: bool,
    /// Percent-decode values of the decrypted plain text (pretix encodes them).
    pub percent_decode: bool,
    /// Padding of Blowfish answers.
    pub padding: Padding,
    /// How much faster than real time the Paygate's waits run — the notify retry schedule, the
    /// customer's decision delay and time-out, a pending payment (60000: a minute in a
    /// millisecond). Advancing the engine clock moves them on as well.
    pub time_scale: f64,
    /// Per-attempt time limit for a notify or browser return, milliseconds.
    pub callback_timeout_ms: u64,
    /// Minutes the customer has to confirm in the app before the payment fails.
    pub customer_timeout_minutes: u64,
    /// Whether the browser return comes after the final notify (`after-notify`) or before it
    /// (`before-notify`), or not at all (`none`).
    pub browser_return: ReturnTiming,
    /// Whether a credit refunds the money part first (`money-first`) or the points first.
    pub credit_order: CreditOrder,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            strict_callbacks: false,
            allow_self_callbacks: false,
            percent_decode: false,
            padding: Padding::Space,
            time_scale: 1.0,
            callback_timeout_ms: 10_000,
            customer_timeout_minutes: 15,
            browser_return: ReturnTiming::AfterNotify,
            credit_order: CreditOrder::MoneyFirst,
        }
    }
}

/// When the simulated browser returns to URLSuccess/URLFailure.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReturnTiming {
    /// After the final notify was delivered (or gave up its first attempt).
    AfterNotify,
    /// Before the final notify.
    BeforeNotify,
    /// Never (the customer closed the browser).
    None,
}

/// How a partial credit splits between money and points.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CreditOrder {
    /// Refund the SEPA/card part first, then points.
    MoneyFirst,
    /// Refund points first, then money.
    PointsFirst,
}

/// A merchant and its secrets.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Merchant {
    /// MerchantID (ans..30).
    pub merchant_id: String,
    /// The HMAC password (MAC).
    pub hmac_password: String,
    /// Blowfish or AES.
    #[serde(default = "default_cipher")]
    pub cipher: Cipher,
    /// The Blowfish or AES password (Data).
    pub crypt_password: String,
    /// Amounts below 100 minor units are enabled (the helpdesk did it).
    #[serde(default)]
    pub small_amounts: bool,
}

fn default_cipher() -> Cipher {
    Cipher::Blowfish
}

/// A PAYBACK member as PAYBACK PAY sees it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Member {
    /// The 10-digit customer number (`AccountID`).
    pub account_id: String,
    /// The PAYBACK member id (`customerid`, a UUID).
    pub customer_id: String,
    /// Points available for mobile redemption.
    pub points: i64,
    /// Payment instrument the app pays the rest with: `Sepa`, `VISA` or `MasterCard`.
    #[serde(default = "default_method")]
    pub payment_method: String,
}

fn default_method() -> String {
    "Sepa".into()
}

/// What the customer does in the app.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    /// Confirms, redeeming `points` and paying the rest.
    Approve,
    /// Presses "Zahlung abbrechen".
    Decline,
    /// Never answers; the payment fails after the customer time-out.
    Abandon,
    /// Confirms, but the rest's SEPA/card payment is pending first and then goes through.
    PendingThenOk,
    /// Confirms, the rest's payment is pending and then declined.
    PendingThenDeclined,
    /// Waits for a decision through the admin API.
    Manual,
}

/// How many points the customer redeems.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum PointsChoice {
    /// A number (capped at the balance and the amount).
    Number(i64),
    /// `"all"`: as many as the balance and the amount allow.
    Word(String),
}

impl Default for PointsChoice {
    fn default() -> Self {
        PointsChoice::Number(0)
    }
}

/// One decision.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Decision {
    /// What the customer does.
    pub decision: DecisionKind,
    /// Points to redeem on approval.
    #[serde(default)]
    pub points: PointsChoice,
    /// `Sepa`, `VISA`, `MasterCard`; the member's default when absent.
    #[serde(default)]
    pub payment_method: Option<String>,
    /// Engine milliseconds between the sale request and the decision.
    #[serde(default)]
    pub after_ms: u64,
}

impl Default for Decision {
    fn default() -> Self {
        Self {
            decision: DecisionKind::Approve,
            points: PointsChoice::Number(0),
            payment_method: None,
            after_ms: 0,
        }
    }
}

/// `[customer]`: the default decision and a queue taken first, one per sale.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerScript {
    /// What every customer does when the queue is empty.
    #[serde(default, flatten)]
    pub default: Decision,
    /// Decisions for the next sales, in order.
    #[serde(default)]
    pub next: Vec<Decision>,
}

/// Fixed ids for a sale with this TransID.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Preset {
    /// The TransID the preset applies to.
    pub trans_id: String,
    /// PayID.
    pub pay_id: String,
    /// XID of the sale.
    pub xid: String,
    /// PAYBACK's TransactionID.
    pub transaction_id: String,
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Waiting for the customer in the app.
    AuthorizeRequest,
    /// Confirmed; the rest's payment is pending.
    Pending,
    /// Paid.
    Ok,
    /// Failed (declined, cancelled, timed out, simulation).
    Failed,
}

impl PaymentStatus {
    /// The `Status` value on the wire.
    pub fn wire(self) -> &'static str {
        match self {
            PaymentStatus::AuthorizeRequest => "AUTHORIZE_REQUEST",
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Ok => "OK",
            PaymentStatus::Failed => "FAILED",
        }
    }

    /// Whether ReqID replays answer from the store (a final status).
    pub fn is_final(self) -> bool {
        matches!(self, PaymentStatus::Ok | PaymentStatus::Failed)
    }
}

/// A PAYBACK PAY sale.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// PayID (32 hex).
    pub pay_id: String,
    /// XID of the sale.
    pub xid: String,
    /// MerchantID.
    pub merchant_id: String,
    /// The shop's TransID.
    pub trans_id: String,
    /// refnr, when given.
    pub refnr: Option<String>,
    /// Amount in cents.
    pub amount: i64,
    /// Currency (EUR).
    pub currency: String,
    /// PAYBACK's TransactionID (UUID).
    pub transaction_id: String,
    /// Customer number.
    pub account_id: String,
    /// Member id, as sent.
    pub customer_id: String,
    /// `True`/`False` as sent.
    pub is_bound: String,
    /// `KNOWN`/`UNKNOWN` as sent.
    pub customer_group: String,
    /// Callback URLs.
    pub url_success: String,
    /// URLFailure.
    pub url_failure: String,
    /// URLNotify.
    pub url_notify: String,
    /// Echoed fields (UserData, Plain, Custom).
    pub echo: Echo,
    /// Status.
    pub status: PaymentStatus,
    /// The final Code.
    pub code: String,
    /// Description for the shop.
    pub description: String,
    /// Points redeemed.
    pub points_redeemed: i64,
    /// Paid by SEPA/card.
    pub pay_amount: i64,
    /// `Sepa`, `VISA`, `MasterCard`.
    pub payment_method: String,
    /// Credited so far, money part.
    pub credited_money: i64,
    /// Credited so far, points part.
    pub credited_points: i64,
    /// Engine time the sale arrived.
    pub created_at: Millis,
    /// ReqID of the sale.
    pub req_id: Option<String>,
    /// The customer's decision for this sale.
    pub decision: Decision,
    /// Whether the answer was decrypted with `Response=encrypt` asked for.
    pub response_encrypt: bool,
}

impl Payment {
    /// Everything credited.
    pub fn credited(&self) -> i64 {
        self.credited_money + self.credited_points
    }
}

/// `UserData`, `Plain` and `Custom` as the shop sent them.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Echo {
    /// UserData (returned encrypted).
    pub user_data: Option<String>,
    /// Plain (returned unencrypted).
    pub plain: Option<String>,
    /// Custom (returned unencrypted, `|` → `&`).
    pub custom: Option<String>,
}

/// A credit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Credit {
    /// XID of the credit.
    pub xid: String,
    /// PayID of the payment.
    pub pay_id: String,
    /// The shop's TransID of the credit.
    pub trans_id: String,
    /// Amount.
    pub amount: i64,
    /// Money part.
    pub money: i64,
    /// Points part.
    pub points: i64,
    /// Engine time.
    pub at: Millis,
}

/// A stored answer for ReqID replays.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    /// The response body, byte for byte.
    pub body: String,
    /// The decrypted answer, for the journal's view of a replay.
    pub fields: serde_json::Value,
    /// When it was stored (a ReqID lives 12 months).
    pub at: Millis,
    /// The payment it belongs to (its status decides whether a replay is answered from here).
    pub pay_id: Option<String>,
}

/// The whole mutable state.
#[derive(Debug, Default)]
pub struct State {
    /// Settings.
    pub settings: Settings,
    /// Merchants by MerchantID.
    pub merchants: BTreeMap<String, Merchant>,
    /// Members by AccountID.
    pub members: BTreeMap<String, Member>,
    /// The default decision.
    pub default_decision: Decision,
    /// Decisions for the next sales.
    pub next_decisions: VecDeque<Decision>,
    /// Presets by TransID.
    pub presets: HashMap<String, Preset>,
    /// TransIDs whose preset was given to a payment: a preset serves once, so a later sale with
    /// that TransID (after the first payment was forgotten, say) gets fresh ids, never the
    /// first one's PayID again.
    pub presets_used: std::collections::HashSet<String>,
    /// Payments by PayID, in arrival order.
    pub payments: BTreeMap<String, Payment>,
    /// Arrival order of payments.
    pub order: Vec<String>,
    /// (MerchantID, TransID) of every sale, to notice a TransID used twice.
    pub trans_ids: std::collections::HashSet<(String, String)>,
    /// Credits.
    pub credits: Vec<Credit>,
    /// ReqID store: (MerchantID, endpoint, ReqID).
    pub req_ids: HashMap<(String, String, String), StoredAnswer>,
    /// Counter for generated ids (deterministic per reset, distinct across resets).
    pub id_counter: u64,
    /// Changes whenever the data set is (re)loaded: callbacks of an older generation stop.
    pub generation: u64,
    /// Decisions given through the admin API for payments waiting in the app, by PayID.
    pub manual: HashMap<String, Decision>,
    /// Newest finished payments kept per merchant (`[retention]`).
    pub retain: usize,
    /// ReqID keys in the order they were first stored, to forget the oldest.
    pub req_order: VecDeque<(String, String, String)>,
    /// What was forgotten, per MerchantID.
    pub summarised: BTreeMap<String, crate::retention::Summary>,
    /// Payments whose flow (notifies, the customer, the browser return) still runs: never
    /// forgotten, whatever their status.
    pub in_flow: std::collections::HashSet<String>,
    /// When the retention walks the payments next.
    pub next_trim: possim_engine::retention::NextTrim,
}

/// A ReqID lives this long (12 months of 365 days).
pub const REQ_ID_LIFETIME_MS: Millis = 365 * 24 * 3600 * 1000;

fn invalid(message: String) -> EngineError {
    EngineError::DataSet {
        name: FILE.into(),
        message,
    }
}

impl State {
    /// Builds the state from a data set (an absent `computop.toml` means no merchants).
    pub fn from_data_set(data: &DataSet) -> Result<Self, EngineError> {
        let file: DataFile = data.parse_file(FILE)?.unwrap_or_default();
        let mut state = State {
            settings: file.paygate.clone(),
            default_decision: file.customer.default.clone(),
            next_decisions: file.customer.next.iter().cloned().collect(),
            retain: data.settings.retention.transactions,
            ..State::default()
        };
        if !(file.paygate.time_scale.is_finite() && file.paygate.time_scale >= 1.0) {
            return Err(invalid(format!(
                "paygate.timeScale must be a number ≥ 1 (got {})",
                file.paygate.time_scale
            )));
        }
        if file.paygate.callback_timeout_ms == 0 || file.paygate.callback_timeout_ms > 600_000 {
            return Err(invalid("paygate.callbackTimeoutMs must be 1..=600000".into()));
        }
        for merchant in file.merchants {
            if merchant.merchant_id.is_empty() || merchant.merchant_id.chars().count() > 30 {
                return Err(invalid(format!(
                    "merchant {:?}: merchantId must have 1 to 30 characters (ans..30)",
                    merchant.merchant_id
                )));
            }
            crypto::check_key(merchant.cipher, &merchant.crypt_password)
                .map_err(|e| invalid(format!("merchant {}: cryptPassword: {e}", merchant.merchant_id)))?;
            if merchant.hmac_password.is_empty() {
                return Err(invalid(format!(
                    "merchant {}: hmacPassword is empty",
                    merchant.merchant_id
                )));
            }
            let id = merchant.merchant_id.clone();
            if state.merchants.insert(id.clone(), merchant).is_some() {
                return Err(invalid(format!("merchant {id} is listed twice")));
            }
        }
        for member in file.members {
            if member.account_id.len() != 10 || !member.account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!(
                    "member {:?}: accountId must be 10 digits (n10)",
                    member.account_id
                )));
            }
            if !(0..=9_999_999_999).contains(&member.points) {
                return Err(invalid(format!(
                    "member {}: points must be 0..=9999999999 (n..10)",
                    member.account_id
                )));
            }
            if !matches!(member.payment_method.as_str(), "Sepa" | "VISA" | "MasterCard") {
                return Err(invalid(format!(
                    "member {}: paymentMethod must be Sepa, VISA or MasterCard",
                    member.account_id
                )));
            }
            let id = member.account_id.clone();
            if state.members.insert(id.clone(), member).is_some() {
                return Err(invalid(format!("member {id} is listed twice")));
            }
        }
        for decision in std::iter::once(&state.default_decision).chain(state.next_decisions.iter()) {
            check_decision(decision).map_err(invalid)?;
        }
        for preset in file.presets {
            let hex32 = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
            // The seed's partial-payment sample has a 31-character XID; presets may reproduce it.
            let hex31_32 = |s: &str| (31..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex32(&preset.pay_id) || !hex31_32(&preset.xid) {
                return Err(invalid(format!(
                    "preset {}: payId must be 32 hex characters, xid 31 or 32",
                    preset.trans_id
                )));
            }
            state.presets.insert(preset.trans_id.clone(), preset);
        }
        Ok(state)
    }

    /// Next fresh 32-hex id, derived from a counter and a per-process salt so ids differ
    /// across resets but stay unique.
    pub fn fresh_id(&mut self, salt: u64) -> String {
        self.id_counter += 1;
        let a = splitmix(salt ^ self.id_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let b = splitmix(a ^ self.id_counter);
        format!("{a:016x}{b:016x}")
    }

    /// A fresh UUID-shaped id (PAYBACK's TransactionID).
    pub fn fresh_uuid(&mut self, salt: u64) -> String {
        let hex = self.fresh_id(salt);
        format!(
            "{}-{}-4{}-a{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }

    /// Takes the decision for the next sale.
    pub fn take_decision(&mut self) -> Decision {
        self.next_decisions
            .pop_front()
            .unwrap_or_else(|| self.default_decision.clone())
    }
}

/// Checks a decision's fields.
pub fn check_decision(decision: &Decision) -> Result<(), String> {
    if let PointsChoice::Word(word) = &decision.points
        && word != "all"
    {
        return Err(format!(
            "customer decision: points must be a number or \"all\" (got {word:?})"
        ));
    }
    if let PointsChoice::Number(n) = decision.points
        && n < 0
    {
        return Err("customer decision: points must not be negative".into());
    }
    if let Some(method) = &decision.payment_method
        && !matches!(method.as_str(), "Sepa" | "VISA" | "MasterCard")
    {
        return Err(format!(
            "customer decision: paymentMethod must be Sepa, VISA or MasterCard (got {method:?})"
        ));
    }
    if decision.after_ms > 24 * 3600 * 1000 {
        return Err("customer decision: afterMs must be at most a day".into());
    }
    Ok(())
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

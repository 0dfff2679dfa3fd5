//! `possim pos loymax`: a correct till-side Loymax client (cash-register XML exchange protocol
//! 3.2), the reference POS of the Loymax suite, written from `shared/specs/loymax-tyrios.md` part
//! 1 and the mock's page (`mocks/loymax/README.md`).
//!
//! What makes it correct, and what its planted [`Defect`]s get wrong:
//! - the two-phase purchase: Calculate (again when the cheque changes) → Payment (points, at most
//!   the `AvailableAmount` the processing allows) → Discount with the final cheque → Confirm; every
//!   purchase that fails or is abandoned after Calculate is cancelled;
//! - a lost answer is retried once with the **same bytes** (same `OperationID`: the processing
//!   answers a replay from its store and books nothing twice);
//! - amounts in kopecks, sent with at most two places; phones normalised to `7XXXXXXXXXX`;
//! - without processing (no answer to Calculate) the receipt is sold offline — no discount, no
//!   write-off — and uploaded afterwards (Discount + Confirm with the original dates);
//! - a confirmed purchase is voided by a refund, never by a cancel;
//! - requests are signed (`X-Signature`, our design of spec 1.9) when the device has a key, and
//!   signed answers are verified.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use possim_loymax::sign::{RsaSha256, SignatureScheme, private_key_from_pem, public_key_from_pem, test_keys};
use possim_loymax::xml::{self, Element};
use serde_json::{Value, json};

/// A planted integration bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Defect {
    /// Retries a request whose answer was lost with a new `OperationID` (the processing books
    /// it a second time).
    NewOperationIdOnRetry,
    /// On a lost answer to Payment or Confirm cancels the purchase at once instead of asking
    /// again with the same `OperationID`.
    LostAnswerCancels,
    /// Never sends ConfirmPurchase: the purchase stays open until the processing expires it.
    NoConfirm,
    /// Confirms right after the Payment, without the Discount that records the final cheque.
    ConfirmWithoutDiscount,
    /// Offline, lets the customer pay with points and uploads the write-off later.
    PayPointsOffline,
    /// Shows and prints none of the processing's cashier and receipt messages.
    IgnoreMessages,
    /// Sends line amounts as price × quantity unrounded (59.90 × 0.355 = 21.2645).
    UnroundedAmounts,
    /// After recalculating a changed cheque sends the first cheque in the Discount.
    ConfirmOldCheque,
    /// Never cancels: a failed or abandoned purchase is left open with its points held.
    NoCancel,
    /// Asks to write off what the customer wants, not at most the `AvailableAmount`.
    IgnoreWriteOffCap,
    /// Normalises a phone by putting `7` before all its digits (8 903 … → 789 03 …).
    PhonePlusSeven,
    /// Never signs its requests.
    NoSignature,
    /// Voids a confirmed purchase with CancelPurchase instead of a refund.
    CancelAfterConfirm,
    /// Goes on after a refused Payment as if the points were written off.
    IgnorePaymentError,
}

impl crate::PlantableDefect for Defect {}

/// Where and as which device the till talks to Loymax processing.
#[derive(Debug, Clone)]
pub struct LoymaxPos {
    /// Base URL of the processing (without `/XmlExchange`).
    pub url: String,
    /// Project (the URL's `{project}`).
    pub project: String,
    /// Device login (the URL's `{deviceLogin}`, Basic user, `DeviceLogicalID`).
    pub login: String,
    /// Device password.
    pub password: String,
    /// The device's private key (PEM) when it signs its requests.
    pub key: Option<String>,
    /// The processing's public key (PEM) that signed answers are checked with.
    pub processing_key: Option<String>,
    /// Planted bugs.
    pub defects: Vec<Defect>,
}

impl LoymaxPos {
    /// The device key possim's data sets expect: `kassa-2` signs with the committed test key
    /// (`mocks/loymax/keys/`), every other device only when given a key.
    pub fn default_key(login: &str) -> Option<String> {
        (login == "kassa-2").then(|| test_keys::KASSA_2_PRIVATE.to_owned())
    }

    /// The processing key of possim's data sets.
    pub fn default_processing_key() -> String {
        test_keys::PROCESSING_PUBLIC.to_owned()
    }
}

/// Business error names by number: spec 1.8's hypothesis (201 upwards in declaration order).
const BUSINESS_ERRORS: &[&str] = &[
    "CardNotFound",
    "DeviceNotFound",
    "LargePaymentAmount",
    "NotEnoughMoney",
    "CardBlocked",
    "DeviceBlocked",
    "NotUniqueOperationID",
    "OperationNotFound",
    "OperationIsConfirmed",
    "OperationIsCanceled",
    "WrongPin",
    "CashierNotFound",
    "CardHolderNotFound",
    "CardNotActivated",
    "DiscountException",
    "PurchaseNotFound",
    "DifferentCheque",
    "IncorrectOperationOrder",
    "CardExtraPayment",
    "ConfirmedPurchaseOperation",
    "PurchaseExtraPayment",
    "LimitGained",
    "PaymentException",
    "DifferentPurchase",
    "CouponsException",
    "BusinessError",
    "ApplicationDeviceGrant",
    "NotUniquePurchaseID",
    "UnspecifiedLoyaltyProgram",
    "DivisibilityError",
    "DifferentLegals",
    "Created",
    "PayTypeIsNotExist",
    "PayTypeIsArchived",
    "CardExpired",
    "GiftCertificateError",
    "PurchaseOperationConflict",
];

/// The protocol errors at their enum positions 1–8 (spec 1.8, our numbering).
const PROTOCOL_ERRORS: &[&str] = &[
    "SystemError",
    "VersionError",
    "ParseError",
    "FormatException",
    "RequereFieldException",
    "SignatureError",
    "SignatureNotFound",
    "CertificateError",
];

fn error_name(code: &str) -> String {
    let name = code.parse::<usize>().ok().and_then(|n| match n {
        1..=8 => PROTOCOL_ERRORS.get(n - 1),
        201.. => BUSINESS_ERRORS.get(n - 201),
        _ => None,
    });
    name.map_or_else(|| format!("code {code}"), |n| (*n).to_owned())
}

/// An amount in kopecks from decimal text (`"59.90"`, `"880"`, `"-1.5"` refused).
fn parse_kopecks(text: &str) -> Option<i64> {
    parse_fixed(text, 2)
}

/// A non-negative decimal with at most `places` places, scaled by 10^places.
fn parse_fixed(text: &str, places: usize) -> Option<i64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > places
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let scale = 10_i64.pow(u32::try_from(places).ok()?);
    let frac = format!("{frac:0<places$}");
    let frac = if places == 0 { 0 } else { frac.parse::<i64>().ok()? };
    Some(whole.parse::<i64>().ok()?.checked_mul(scale)? + frac)
}

/// Kopecks as the protocol's money text: `2398.50`.
fn money(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let k = kopecks.abs();
    format!("{sign}{}.{:02}", k / 100, k % 100)
}

/// Thousandths as a quantity: `0.355`, `2.000`.
fn quantity_text(milli: i64) -> String {
    format!("{}.{:03}", milli / 1000, milli % 1000)
}

/// A money attribute of an answer in kopecks (0 when absent or unreadable).
fn answer_kopecks(element: &Element, name: &str) -> i64 {
    let text = element.get(name).unwrap_or("0");
    let negative = text.starts_with('-');
    let value = parse_kopecks(text.trim_start_matches('-')).unwrap_or(0);
    if negative { -value } else { value }
}

/// Phone digits as Loymax stores them: `7` and ten digits. `8…` (trunk prefix) and ten-digit
/// forms are Russian numbers (the spec's 7/8 rule, 1.11).
fn normalise_phone(typed: &str) -> String {
    let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
    match digits.len() {
        10 => format!("7{digits}"),
        11 if digits.starts_with('8') => format!("7{}", &digits[1..]),
        _ => digits,
    }
}

/// A fresh 32-hex id (a dash-less GUID as both observed clients send).
fn new_id() -> String {
    let mut out = String::with_capacity(32);
    for salt in 0..2u64 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// One line of the action's cheque.
#[derive(Debug, Clone)]
struct Line {
    pos_id: String,
    goods_id: String,
    name: Option<String>,
    price: i64,
    quantity: i64,
    local_discount: i64,
    promo: bool,
    min_price: Option<i64>,
}

impl Line {
    fn from_action(value: &Value) -> Result<Line, String> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let number = |key: &str, places: usize| -> Result<Option<i64>, String> {
            match value.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => parse_fixed(s, places)
                    .map(Some)
                    .ok_or_else(|| format!("cheque line {key} {s:?} is not a decimal")),
                Some(Value::Number(n)) => parse_fixed(&n.to_string(), places)
                    .map(Some)
                    .ok_or_else(|| format!("cheque line {key} {n} is not a decimal")),
                Some(other) => Err(format!("cheque line {key} {other} is not a decimal")),
            }
        };
        Ok(Line {
            pos_id: text("posId").ok_or("a cheque line needs posId")?,
            goods_id: text("goodsId").ok_or("a cheque line needs goodsId")?,
            name: text("name"),
            price: number("price", 2)?.ok_or("a cheque line needs price")?,
            quantity: number("quantity", 3)?.unwrap_or(1000),
            local_discount: number("localDiscount", 2)?.unwrap_or(0),
            promo: value.get("promo").and_then(Value::as_bool).unwrap_or(false),
            min_price: number("minPrice", 2)?,
        })
    }

    /// Price × quantity in kopecks, rounded half up (the kopecks a till prints).
    fn gross(&self) -> i64 {
        (self.price * self.quantity + 500) / 1000
    }

    /// The line total after the till's own discount, as sent.
    fn amount(&self) -> i64 {
        self.gross() - self.local_discount
    }
}

/// What the till got back from one exchange.
enum Reply {
    /// The singular answer (its `ErrorCode` may be a business refusal).
    Answer(Element),
    /// The whole document was refused (envelope `ErrorCode`), or HTTP 401: the set-up's fault.
    Configuration(String),
    /// No (complete) answer: the outcome is unknown.
    Lost(String),
}

/// A purchase's running figures, for the result.
#[derive(Default)]
struct Figures {
    discount: i64,
    written_off: i64,
    accrued: i64,
    balance: Option<String>,
    cheque_messages: Vec<String>,
    cashier_messages: Vec<String>,
    coupons: Vec<Value>,
    issued: Vec<Value>,
}

impl Figures {
    /// The cashier sees every answer's message as it comes; the receipt gets the messages of the
    /// answers that fix the figures (`receipt`: Payment, Discount, Refund, Balance), not the
    /// Calculate's forecast.
    fn messages_from(&mut self, answer: &Element, receipt: bool) {
        let add = |list: &mut Vec<String>, name: &str| {
            for m in answer.all(name) {
                if !m.text.is_empty() && !list.contains(&m.text) {
                    list.push(m.text.clone());
                }
            }
        };
        add(&mut self.cashier_messages, "CashierMessage");
        if receipt {
            add(&mut self.cheque_messages, "ChequeMessage");
        }
    }
}

fn refused(stage: &str, answer: &Element) -> Value {
    let code = answer.get("ErrorCode").unwrap_or("?");
    json!({
        "status": "refused",
        "stage": stage,
        "code": code,
        "error": error_name(code),
        "message": answer.get("ErrorMessage").map(str::to_owned)
            .or_else(|| answer.first("ErrorMessage").map(|e| e.text.clone()))
            .unwrap_or_default(),
    })
}

fn configuration(stage: &str, message: String) -> Value {
    json!({"status": "error", "reason": "configuration", "stage": stage, "message": message})
}

fn lost(stage: &str, message: &str) -> Value {
    json!({"status": "error", "stage": stage, "message": format!("Loymax processing did not answer: {message}")})
}

fn ok(answer: &Element) -> bool {
    answer.get("ErrorCode") == Some("0")
}

/// The request's identifier and what the cashier entered.
fn identifier_element(identifier: &Value, phone_plus_seven: bool) -> Result<Element, String> {
    let kind = identifier.get("kind").and_then(Value::as_str).unwrap_or("card");
    let value = identifier
        .get("value")
        .and_then(Value::as_str)
        .ok_or("identifier needs a value")?;
    let (type_, value) = match kind {
        "card" => ("CardNumber", value.trim().to_owned()),
        "barcode" => ("CardBarCode", value.trim().to_owned()),
        // A swipe gives the raw tracks; track 2 holds the card number on every card we know, and
        // the processing strips the sentinels (spec 1.11).
        "track" => {
            let track2 = value.split_inclusive('?').find(|t| t.trim_start().starts_with(';'));
            match track2 {
                Some(t) => ("CardTrack2", t.trim().to_owned()),
                None => ("CardTrack1", value.trim().to_owned()),
            }
        }
        "phone" if phone_plus_seven => (
            "Phone",
            format!("7{}", value.chars().filter(char::is_ascii_digit).collect::<String>()),
        ),
        "phone" => ("Phone", normalise_phone(value)),
        "qr" => ("QrCode", value.trim().to_owned()),
        "auto" => ("Auto", value.trim().to_owned()),
        other => {
            return Err(format!(
                "unknown identifier kind {other:?} (card, barcode, track, phone, qr, auto)"
            ));
        }
    };
    Ok(Element::new("Identifier").attr("Type", type_).attr("Value", value))
}

impl LoymaxPos {
    fn has(&self, defect: Defect) -> bool {
        self.defects.contains(&defect)
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/XmlExchange/{}/{}/",
            self.url.trim_end_matches('/'),
            self.project,
            self.login
        )
    }

    /// The document for one singular request.
    fn document(&self, command: &str, request: Element) -> Vec<u8> {
        let root = Element::new("XMLRequest")
            .child(Element::new("Version").text("3.2"))
            .child(Element::new(format!("{command}s")).child(request));
        xml::write(&root, None)
    }

    /// The common attributes: ElementID, OperationID, OperationDate, DeviceLogicalID.
    fn request(&self, command: &str, operation_id: &str, date: &str) -> Element {
        Element::new(format!("{command}Request"))
            .attr("ElementID", "1")
            .attr("OperationID", operation_id)
            .attr("OperationDate", date)
            .attr("DeviceLogicalID", self.login.as_str())
    }

    /// Sends one document, once.
    async fn post(&self, body: &[u8]) -> Result<(u16, Option<String>, Vec<u8>), String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client
            .post(self.endpoint())
            .basic_auth(&self.login, Some(&self.password))
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(body.to_vec());
        if !self.has(Defect::NoSignature)
            && let Some(pem) = &self.key
        {
            let key = private_key_from_pem(pem).map_err(|e| format!("the device key: {e}"))?;
            request = request.header(possim_loymax::sign::HEADER, RsaSha256.sign(&key, body));
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let signature = response
            .headers()
            .get(possim_loymax::sign::HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, signature, bytes.to_vec()))
    }

    /// Sends one document and reads the singular answer; a lost answer is asked again once with
    /// the same bytes (same `OperationID`), unless a defect changes that.
    async fn exchange(&self, command: &str, request: Element) -> Reply {
        let body = self.document(command, request.clone());
        match self.exchange_once(command, &body).await {
            Reply::Lost(first) => {
                if self.has(Defect::LostAnswerCancels) && matches!(command, "Payment" | "ConfirmPurchase") {
                    return Reply::Lost(first);
                }
                let body = if self.has(Defect::NewOperationIdOnRetry) {
                    let mut again = request;
                    for (name, value) in &mut again.attrs {
                        if name == "OperationID" {
                            *value = new_id();
                        }
                    }
                    self.document(command, again)
                } else {
                    body
                };
                eprintln!("loymax {command}: no answer ({first}), asking again");
                self.exchange_once(command, &body).await
            }
            other => other,
        }
    }

    async fn exchange_once(&self, command: &str, body: &[u8]) -> Reply {
        let (status, signature, bytes) = match self.post(body).await {
            Ok(answer) => answer,
            Err(e) => return Reply::Lost(e),
        };
        eprintln!("loymax {command} → {status}");
        if status == 401 {
            return Reply::Configuration(
                "processing refused the device's credentials (HTTP 401): check project, device login and password"
                    .into(),
            );
        }
        if status != 200 {
            return Reply::Lost(format!("HTTP {status}"));
        }
        if let Some(signature) = signature
            && let Some(pem) = &self.processing_key
        {
            let checked = public_key_from_pem(pem)
                .map_err(|e| e.to_string())
                .and_then(|key| RsaSha256.verify(&key, &bytes, &signature).map_err(|e| e.to_string()));
            if let Err(e) = checked {
                return Reply::Configuration(format!("the answer's signature does not verify: {e}"));
            }
        }
        let Ok(document) = xml::parse(&bytes) else {
            // A cut answer: treat as lost, the retry gets the stored one.
            return Reply::Lost(format!("unreadable answer ({} bytes)", bytes.len()));
        };
        let root = document.root;
        let envelope = root.first("ErrorCode").map_or("", |e| e.text.as_str());
        if envelope != "0" {
            let message = root.first("ErrorMessage").map_or("", |e| e.text.as_str());
            return Reply::Configuration(format!(
                "processing refused the document: {} ({envelope}) {message}",
                error_name(envelope)
            ));
        }
        let answer = root
            .first(&format!("{command}s"))
            .and_then(|w| w.children.first())
            .cloned();
        match answer {
            Some(answer) => Reply::Answer(answer),
            None => Reply::Lost("an answer without its element".into()),
        }
    }

    /// Runs one action and returns the result object (never fails: problems become `error`
    /// results).
    pub async fn perform(&self, action: &Value) -> Value {
        match action.get("type").and_then(Value::as_str).unwrap_or("") {
            "loymax-balance" => self.balance(action).await,
            "loymax-purchase" => self.purchase_action(action).await,
            "loymax-refund" => self.refund_action(action).await,
            "loymax-card-replace" => self.card_replace(action).await,
            other => json!({"status": "error", "message": format!("this till does not support the action {other:?}")}),
        }
    }

    fn identifier(&self, action: &Value) -> Result<Option<Element>, Value> {
        action
            .get("identifier")
            .map(|i| identifier_element(i, self.has(Defect::PhonePlusSeven)))
            .transpose()
            .map_err(|m| json!({"status": "error", "message": m}))
    }

    async fn balance(&self, action: &Value) -> Value {
        let identifier = match self.identifier(action) {
            Ok(Some(i)) => i,
            Ok(None) => return json!({"status": "error", "message": "loymax-balance needs an identifier"}),
            Err(e) => return e,
        };
        let request = self.request("Balance", &new_id(), &at(action)).child(identifier);
        match self.exchange("Balance", request).await {
            Reply::Answer(a) if ok(&a) => {
                let mut figures = Figures::default();
                figures.messages_from(&a, true);
                let mut result = json!({
                    "status": "completed",
                    "balance": a.get("BonusAmount"),
                    "currency": a.get("Currency"),
                    "customer": identifier_data(&a),
                });
                self.messages_into(&mut result, &figures);
                result
            }
            Reply::Answer(a) => refused("balance", &a),
            Reply::Configuration(m) => configuration("balance", m),
            Reply::Lost(m) => lost("balance", &m),
        }
    }

    fn messages_into(&self, result: &mut Value, figures: &Figures) {
        if self.has(Defect::IgnoreMessages) {
            return;
        }
        if !figures.cheque_messages.is_empty() {
            result["chequeMessages"] = json!(figures.cheque_messages);
        }
        if !figures.cashier_messages.is_empty() {
            result["cashierMessages"] = json!(figures.cashier_messages);
        }
    }

    fn cheque_element(&self, lines: &[Line], date: &str) -> Element {
        let mut cheque = Element::new("Cheque").attr("ChequeDate", date);
        for line in lines {
            let amount = if self.has(Defect::UnroundedAmounts) {
                // price (kopecks) × quantity (thousandths): five places, printed without rounding.
                let exact = line.price * line.quantity - line.local_discount * 1000;
                let text = format!("{}.{:05}", exact / 100_000, exact % 100_000);
                text.trim_end_matches('0').trim_end_matches('.').to_owned()
            } else {
                money(line.amount())
            };
            let mut element = Element::new("ChequeLine")
                .attr("PosID", line.pos_id.as_str())
                .attr("GoodsId", line.goods_id.as_str())
                .attr_opt("Name", line.name.clone())
                .attr("Price", money(line.price))
                .attr("Quantity", quantity_text(line.quantity))
                .attr("Amount", amount);
            // The seed's line attributes (promo flag, minimum price, local discount); their names
            // are possim's (the official page is not public).
            if line.promo {
                element = element.attr("IsPromo", "true");
            }
            if let Some(min) = line.min_price {
                element = element.attr("MinPrice", money(min));
            }
            if line.local_discount > 0 {
                element = element.attr("LocalDiscount", money(line.local_discount));
            }
            cheque = cheque.child(element);
        }
        cheque
    }

    fn coupons_element(coupons: &[String]) -> Option<Element> {
        (!coupons.is_empty()).then(|| {
            coupons.iter().fold(Element::new("Coupons"), |c, n| {
                c.child(Element::new("Coupon").attr("Number", n.as_str()))
            })
        })
    }

    async fn purchase_action(&self, action: &Value) -> Value {
        let sale = match Sale::from_action(action, self) {
            Ok(sale) => sale,
            Err(e) => return e,
        };
        let mut result = self.purchase(&sale).await;
        let then = action.get("then").and_then(Value::as_str).unwrap_or("");
        if then == "void" && result["status"] == "completed" {
            result = self.void(&sale, result).await;
        }
        result
    }

    /// One purchase, start to end.
    async fn purchase(&self, sale: &Sale) -> Value {
        let purchase_id = new_id();
        let mut figures = Figures::default();
        // Step 1: calculate (and again when the cashier changed the cheque).
        let mut calculated = None;
        let cheques: Vec<&Vec<Line>> = std::iter::once(&sale.lines).chain(sale.recalculate.as_ref()).collect();
        for lines in &cheques {
            let request = self
                .purchase_request("Calculate", &purchase_id, &sale.date)
                .child(self.cheque_element(lines, &sale.date));
            let request = with(request, sale.identifier.clone());
            let request = with(request, Self::coupons_element(&sale.coupons));
            match self.exchange("Calculate", request).await {
                Reply::Answer(a) if ok(&a) => calculated = Some(a),
                Reply::Answer(a) => return refused("calculate", &a),
                Reply::Configuration(m) => return configuration("calculate", m),
                Reply::Lost(m) => {
                    eprintln!("loymax: processing unreachable ({m}), selling offline");
                    return self.offline(sale, &purchase_id).await;
                }
            }
        }
        let calculated = calculated.unwrap_or_default();
        let final_lines = if self.has(Defect::ConfirmOldCheque) {
            &sale.lines
        } else {
            cheques.last().copied().unwrap_or(&sale.lines)
        };
        figures.discount = calculated
            .first("Cheque")
            .map_or(0, |c| c.all("ChequeLine").map(|l| answer_kopecks(l, "Discount")).sum());
        figures.messages_from(&calculated, false);
        figures.coupons = calculated
            .first("Coupons")
            .map(|c| {
                c.all("Coupon")
                    .map(|c| json!({"number": c.get("Number"), "applied": c.get("Applied") == Some("true")}))
                    .collect()
            })
            .unwrap_or_default();
        let total: i64 = cheques.last().map_or(0, |l| l.iter().map(Line::amount).sum());

        // Step 2: write off points, at most what the processing allows for this cheque.
        let available = answer_kopecks(&calculated, "AvailableAmount");
        let wanted = match sale.write_off.as_deref() {
            None => 0,
            Some("max") => available,
            Some(text) => parse_kopecks(text).unwrap_or(0),
        };
        let write_off = if self.has(Defect::IgnoreWriteOffCap) {
            wanted
        } else {
            wanted.min(available)
        };
        if write_off > 0 {
            let mut request = self
                .purchase_request("Payment", &purchase_id, &sale.date)
                .attr("Amount", money(write_off));
            if let Some(pin) = &sale.pin {
                request = request.attr("PinCode", pin.as_str());
            }
            let request = request.child(self.cheque_element(final_lines, &sale.date));
            let request = with(request, sale.identifier.clone());
            let request = with(request, Self::coupons_element(&sale.coupons));
            match self.exchange("Payment", request).await {
                Reply::Answer(a) if ok(&a) => {
                    figures.written_off = answer_kopecks(&a, "Amount");
                    figures.messages_from(&a, true);
                }
                Reply::Answer(_) if self.has(Defect::IgnorePaymentError) => figures.written_off = write_off,
                Reply::Answer(a) => return self.cancel_and(&purchase_id, &sale.date, refused("payment", &a)).await,
                Reply::Configuration(m) => {
                    return self
                        .cancel_and(&purchase_id, &sale.date, configuration("payment", m))
                        .await;
                }
                Reply::Lost(m) => return self.cancel_and(&purchase_id, &sale.date, lost("payment", &m)).await,
            }
        }
        if sale.abandon {
            // The customer left: the cashier drops the receipt, the points come back.
            return self
                .cancel_and(
                    &purchase_id,
                    &sale.date,
                    json!({"status": "cancelled", "message": "the receipt was dropped; the purchase is cancelled"}),
                )
                .await;
        }

        // Step 3: the final cheque and how it is paid.
        let to_pay = total - figures.discount - figures.written_off;
        if !self.has(Defect::ConfirmWithoutDiscount) {
            let request = self
                .purchase_request("Discount", &purchase_id, &sale.date)
                .child(self.cheque_element(final_lines, &sale.date));
            let request = with(request, sale.identifier.clone());
            let request = with(request, Self::coupons_element(&sale.coupons));
            let request = request.child(
                Element::new("Pays").child(Element::new("Pay").attr("Type", "Cash").attr("Amount", money(to_pay))),
            );
            match self.exchange("Discount", request).await {
                Reply::Answer(a) if ok(&a) => {
                    figures.accrued = answer_kopecks(&a, "BonusAmount");
                    figures.balance = a.get("Balance").map(str::to_owned);
                    figures.messages_from(&a, true);
                    figures.issued = issued_coupons(&a);
                }
                Reply::Answer(a) => return self.cancel_and(&purchase_id, &sale.date, refused("discount", &a)).await,
                Reply::Configuration(m) => {
                    return self
                        .cancel_and(&purchase_id, &sale.date, configuration("discount", m))
                        .await;
                }
                Reply::Lost(m) => return self.cancel_and(&purchase_id, &sale.date, lost("discount", &m)).await,
            }
        }

        // Step 4: confirm.
        if !self.has(Defect::NoConfirm) {
            let request = self.purchase_request("ConfirmPurchase", &purchase_id, &sale.date);
            match self.exchange("ConfirmPurchase", request).await {
                Reply::Answer(a) if ok(&a) => {}
                Reply::Answer(a) => return self.cancel_and(&purchase_id, &sale.date, refused("confirm", &a)).await,
                Reply::Configuration(m) => return configuration("confirm", m),
                Reply::Lost(m) if self.has(Defect::LostAnswerCancels) => {
                    return self.cancel_and(&purchase_id, &sale.date, lost("confirm", &m)).await;
                }
                Reply::Lost(m) => {
                    return json!({"status": "error", "stage": "confirm",
                        "message": format!("Loymax processing did not answer the confirmation ({m}); the outcome is unknown — check the purchase {purchase_id} in the back office")});
                }
            }
        }
        let mut result = json!({
            "status": "completed",
            "purchaseId": purchase_id,
            "total": money(total),
            "discount": money(figures.discount),
            "writtenOff": money(figures.written_off),
            "toPay": money(to_pay),
            "accrued": money(figures.accrued),
        });
        if let Some(balance) = &figures.balance {
            result["balance"] = json!(balance);
        }
        if !figures.coupons.is_empty() {
            result["coupons"] = json!(figures.coupons);
        }
        if !figures.issued.is_empty() {
            result["issuedCoupons"] = json!(figures.issued);
        }
        self.messages_into(&mut result, &figures);
        result
    }

    fn purchase_request(&self, command: &str, purchase_id: &str, date: &str) -> Element {
        self.request(command, &new_id(), date)
            .attr("PurchaseID", purchase_id)
            .attr("Cashier", "possim")
    }

    /// Cancels the purchase (two-phase rule: what was started is confirmed or cancelled) and
    /// reports `result`.
    async fn cancel_and(&self, purchase_id: &str, date: &str, mut result: Value) -> Value {
        if self.has(Defect::NoCancel) {
            return result;
        }
        let request = self.purchase_request("CancelPurchase", purchase_id, date);
        match self.exchange("CancelPurchase", request).await {
            Reply::Answer(a) if ok(&a) => result["cancelled"] = json!(true),
            Reply::Answer(a) => {
                result["cancelled"] = json!(false);
                result["cancelError"] = json!(error_name(a.get("ErrorCode").unwrap_or("?")));
            }
            Reply::Configuration(m) | Reply::Lost(m) => {
                result["cancelled"] = json!(false);
                result["cancelError"] = json!(m);
            }
        }
        result
    }

    /// Processing unreachable at Calculate: the receipt is sold without loyalty (no discount,
    /// no points — spec 1.10: "offline, bonus points cannot be written off"), stored, and
    /// uploaded once processing answers again, with its original dates.
    async fn offline(&self, sale: &Sale, purchase_id: &str) -> Value {
        let total: i64 = sale.lines.iter().map(Line::amount).sum();
        let mut written_off = 0;
        let mut result = json!({"status": "completed", "offline": true, "total": money(total), "discount": "0.00"});
        // Upload (Offline_commands, our design): the stored receipt's operations, replayed.
        if self.has(Defect::PayPointsOffline)
            && let Some(wanted) = sale.write_off.as_deref().and_then(parse_kopecks)
        {
            written_off = wanted;
            let request = self
                .purchase_request("Payment", purchase_id, &sale.date)
                .attr("Amount", money(wanted))
                .child(self.cheque_element(&sale.lines, &sale.date));
            let request = with(request, sale.identifier.clone());
            let _ = self.exchange("Payment", request).await;
        }
        let request = self
            .purchase_request("Discount", purchase_id, &sale.date)
            .child(self.cheque_element(&sale.lines, &sale.date));
        let request = with(request, sale.identifier.clone());
        let request = request.child(
            Element::new("Pays").child(
                Element::new("Pay")
                    .attr("Type", "Cash")
                    .attr("Amount", money(total - written_off)),
            ),
        );
        result["writtenOff"] = json!(money(written_off));
        result["toPay"] = json!(money(total - written_off));
        let uploaded = match self.exchange("Discount", request).await {
            Reply::Answer(a) if ok(&a) => {
                result["accrued"] = json!(money(answer_kopecks(&a, "BonusAmount")));
                let confirm = self.purchase_request("ConfirmPurchase", purchase_id, &sale.date);
                matches!(self.exchange("ConfirmPurchase", confirm).await, Reply::Answer(a) if ok(&a))
            }
            Reply::Answer(a) => {
                result["uploadError"] = json!(error_name(a.get("ErrorCode").unwrap_or("?")));
                false
            }
            _ => false,
        };
        result["uploaded"] = json!(uploaded);
        result
    }

    /// The cashier voids a completed receipt: a confirmed purchase is refunded in full.
    async fn void(&self, sale: &Sale, sold: Value) -> Value {
        let purchase_id = sold["purchaseId"].as_str().unwrap_or_default().to_owned();
        if self.has(Defect::CancelAfterConfirm) {
            let request = self.purchase_request("CancelPurchase", &purchase_id, &sale.date);
            let _ = self.exchange("CancelPurchase", request).await;
            return json!({"status": "completed", "voided": true, "sale": sold});
        }
        let lines = sale.recalculate.as_ref().unwrap_or(&sale.lines);
        let positions: Vec<(String, i64)> = lines.iter().map(|l| (l.pos_id.clone(), l.quantity)).collect();
        match self.refund(&purchase_id, lines, &positions, sale).await {
            Ok(mut refund) => {
                refund["voided"] = json!(true);
                refund["sale"] = sold;
                refund
            }
            Err(failure) => failure,
        }
    }

    /// A refund of `positions` (PosID, quantity) of the confirmed purchase `original`.
    async fn refund(
        &self,
        original: &str,
        lines: &[Line],
        positions: &[(String, i64)],
        sale: &Sale,
    ) -> Result<Value, Value> {
        let refund_id = new_id();
        let mut returned = Vec::new();
        for (pos_id, quantity) in positions {
            let Some(line) = lines.iter().find(|l| &l.pos_id == pos_id) else {
                return Err(json!({"status": "error", "message": format!("no cheque line {pos_id} to return")}));
            };
            let mut part = line.clone();
            // The returned share of the line's own discount, in whole kopecks.
            part.local_discount = line.local_discount * quantity / line.quantity.max(1);
            part.quantity = *quantity;
            returned.push(part);
        }
        let request = self
            .purchase_request("Refund", &refund_id, &sale.date)
            .attr("RefundPurchaseID", original)
            .child(self.cheque_element(&returned, &sale.date));
        let answer = match self.exchange("Refund", request).await {
            Reply::Answer(a) if ok(&a) => a,
            Reply::Answer(a) => return Err(self.cancel_and(&refund_id, &sale.date, refused("refund", &a)).await),
            Reply::Configuration(m) => return Err(configuration("refund", m)),
            Reply::Lost(m) => return Err(self.cancel_and(&refund_id, &sale.date, lost("refund", &m)).await),
        };
        let lines_back = answer.first("Cheque");
        let points_back: i64 =
            lines_back.map_or(0, |c| c.all("ChequeLine").map(|l| answer_kopecks(l, "PayAmount")).sum());
        let accrual_back: i64 =
            lines_back.map_or(0, |c| c.all("ChequeLine").map(|l| answer_kopecks(l, "Cashback")).sum());
        let mut figures = Figures::default();
        figures.messages_from(&answer, true);
        let confirm = self.purchase_request("ConfirmPurchase", &refund_id, &sale.date);
        match self.exchange("ConfirmPurchase", confirm).await {
            Reply::Answer(a) if ok(&a) => {}
            Reply::Answer(a) => {
                return Err(self
                    .cancel_and(&refund_id, &sale.date, refused("refund-confirm", &a))
                    .await);
            }
            Reply::Configuration(m) => return Err(configuration("refund-confirm", m)),
            Reply::Lost(m) => return Err(lost("refund-confirm", &m)),
        }
        let mut result = json!({
            "status": "completed",
            "refunded": money(returned.iter().map(Line::amount).sum()),
            "pointsReturned": money(points_back),
            "accrualCancelled": money(-accrual_back),
        });
        self.messages_into(&mut result, &figures);
        Ok(result)
    }

    /// A sale followed by the return of some of its lines.
    async fn refund_action(&self, action: &Value) -> Value {
        let sale = match Sale::from_action(action, self) {
            Ok(sale) => sale,
            Err(e) => return e,
        };
        let mut positions = Vec::new();
        for r in action.get("returned").and_then(Value::as_array).into_iter().flatten() {
            let pos = r.get("posId").and_then(Value::as_str).unwrap_or_default().to_owned();
            let quantity = r
                .get("quantity")
                .and_then(Value::as_str)
                .and_then(|q| parse_fixed(q, 3))
                .or_else(|| sale.lines.iter().find(|l| l.pos_id == pos).map(|l| l.quantity))
                .unwrap_or(0);
            positions.push((pos, quantity));
        }
        let sold = self.purchase(&sale).await;
        if sold["status"] != "completed" {
            return json!({"status": "error", "stage": "sale", "message": "the sale before the return failed", "sale": sold});
        }
        let original = sold["purchaseId"].as_str().unwrap_or_default().to_owned();
        match self.refund(&original, &sale.lines, &positions, &sale).await {
            Ok(mut refund) => {
                refund["sale"] = sold;
                refund
            }
            Err(failure) => failure,
        }
    }

    async fn card_replace(&self, action: &Value) -> Value {
        let identifier = match self.identifier(action) {
            Ok(i) => i,
            Err(e) => return e,
        };
        let Some(number) = action.get("newCard").and_then(Value::as_str) else {
            return json!({"status": "error", "message": "loymax-card-replace needs newCard"});
        };
        let new_card = Element::new("NewCard")
            .attr("Number", number)
            .attr_opt("Password", action.get("password").and_then(Value::as_str));
        let request = with(self.request("CardReplace", &new_id(), &at(action)), identifier).child(new_card);
        match self.exchange("CardReplace", request).await {
            Reply::Answer(a) if ok(&a) => {
                let mut figures = Figures::default();
                figures.messages_from(&a, true);
                let mut result = json!({"status": "completed", "card": number, "customer": identifier_data(&a)});
                if let Some(balance) = a.get("BonusAmount") {
                    result["balance"] = json!(balance);
                }
                self.messages_into(&mut result, &figures);
                result
            }
            Reply::Answer(a) => {
                let mut result = refused("card-replace", &a);
                if !self.has(Defect::IgnoreMessages)
                    && let Some(m) = a.first("CashierMessage")
                {
                    result["cashierMessages"] = json!([m.text]);
                }
                result
            }
            Reply::Configuration(m) => configuration("card-replace", m),
            Reply::Lost(m) => lost("card-replace", &m),
        }
    }
}

/// Adds an optional child.
fn with(element: Element, child: Option<Element>) -> Element {
    match child {
        Some(c) => element.child(c),
        None => element,
    }
}

/// The sale an action describes.
struct Sale {
    lines: Vec<Line>,
    recalculate: Option<Vec<Line>>,
    identifier: Option<Element>,
    coupons: Vec<String>,
    write_off: Option<String>,
    pin: Option<String>,
    abandon: bool,
    date: String,
}

impl Sale {
    fn from_action(action: &Value, pos: &LoymaxPos) -> Result<Sale, Value> {
        let error = |m: String| json!({"status": "error", "message": m});
        let lines = |key: &str| -> Result<Option<Vec<Line>>, Value> {
            action
                .get(key)
                .map(|v| {
                    v.as_array()
                        .ok_or_else(|| error(format!("{key} must be a list of lines")))?
                        .iter()
                        .map(|l| Line::from_action(l).map_err(error))
                        .collect()
                })
                .transpose()
        };
        Ok(Sale {
            lines: lines("cheque")?.ok_or_else(|| error("the action needs a cheque".into()))?,
            recalculate: lines("recalculate")?,
            identifier: pos.identifier(action)?,
            coupons: crate_strings(action, "coupons"),
            write_off: action.get("writeOff").and_then(Value::as_str).map(str::to_owned),
            pin: action.get("pin").and_then(Value::as_str).map(str::to_owned),
            abandon: action.get("then").and_then(Value::as_str) == Some("abandon"),
            date: at(action),
        })
    }
}

fn crate_strings(action: &Value, key: &str) -> Vec<String> {
    possim_conformance::action::strings(action, key)
}

/// The till's local time of the receipt: the action's `at`, else now (UTC offset written out).
fn at(action: &Value) -> String {
    if let Some(at) = action.get("at").and_then(Value::as_str) {
        return at.to_owned();
    }
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

fn identifier_data(answer: &Element) -> Value {
    let mut map = serde_json::Map::new();
    if let Some(data) = answer.first("IdentifierData") {
        for item in data.all("Item") {
            if let Some(name) = item.get("Name") {
                map.insert(name.to_owned(), json!(item.text));
            }
        }
    }
    Value::Object(map)
}

fn issued_coupons(answer: &Element) -> Vec<Value> {
    answer
        .first("IssuedCoupons")
        .map(|c| {
            c.all("Coupon")
                .map(|c| json!({"number": c.get("Number"), "barcode": c.get("Barcode"), "format": c.get("Format")}))
                .collect()
        })
        .unwrap_or_default()
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
                "new-operation-id-on-retry",
                "lost-answer-cancels",
                "no-confirm",
                "confirm-without-discount",
                "pay-points-offline",
                "ignore-messages",
                "unrounded-amounts",
                "confirm-old-cheque",
                "no-cancel",
                "ignore-write-off-cap",
                "phone-plus-seven",
                "no-signature",
                "cancel-after-confirm",
                "ignore-payment-error"
            ]
        );
    }

    #[test]
    fn amounts_are_kopecks_rounded_half_up() {
        assert_eq!(parse_kopecks("59.90"), Some(5990));
        assert_eq!(parse_kopecks("880"), Some(88000));
        assert_eq!(parse_kopecks("1.234"), None);
        assert_eq!(parse_fixed("0.355", 3), Some(355));
        assert_eq!(money(212_645), "2126.45");
        assert_eq!(money(-1050), "-10.50");
        // 59.90 × 0.355 kg = 21.2645 → 21.26 on the receipt.
        let line = Line {
            pos_id: "1".into(),
            goods_id: "1".into(),
            name: None,
            price: 5990,
            quantity: 355,
            local_discount: 0,
            promo: false,
            min_price: None,
        };
        assert_eq!(line.amount(), 2126);
        assert_eq!(quantity_text(355), "0.355");
    }

    #[test]
    fn russian_phones_become_seven_and_ten_digits() {
        assert_eq!(normalise_phone("8 903 111-22-33"), "79031112233");
        assert_eq!(normalise_phone("+7 (926) 123-45-67"), "79261234567");
        assert_eq!(normalise_phone("926 123 45 67"), "79261234567");
    }

    #[test]
    fn error_names_follow_the_spec_table() {
        assert_eq!(error_name("201"), "CardNotFound");
        assert_eq!(error_name("221"), "PurchaseExtraPayment");
        assert_eq!(error_name("237"), "PurchaseOperationConflict");
        assert_eq!(error_name("7"), "SignatureNotFound");
        assert_eq!(error_name("999"), "code 999");
    }

    #[test]
    fn a_swipe_sends_track_two() {
        let id = identifier_element(
            &json!({"kind": "track", "value": "%B6390000000000017^SMIRNOVA/ANNA^2912?;6390000000000017=2912101?"}),
            false,
        )
        .unwrap();
        assert_eq!(id.get("Type"), Some("CardTrack2"));
        assert_eq!(id.get("Value"), Some(";6390000000000017=2912101?"));
    }
}

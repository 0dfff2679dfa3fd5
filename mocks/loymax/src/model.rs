//! The data set file `loymax.toml` and the mock's state built from it: projects, devices,
//! customers, cards, offers, coupons, and the purchases and operations the tills create.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use possim_engine::EngineError;
use possim_engine::clock::parse_duration_ms;
use possim_engine::dataset::DataSet;
use regex::Regex;
use rsa::RsaPrivateKey;
use rsa::RsaPublicKey;
use serde::{Deserialize, Serialize};
use time::UtcOffset;

use crate::money::{Basis, Kopecks, Milli, parse_money, parse_percent};
use crate::sign;

/// The file name inside a data set.
pub const FILE: &str = "loymax.toml";

/// `loymax.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileData {
    #[serde(default)]
    projects: Vec<ProjectFile>,
    #[serde(default)]
    devices: Vec<DeviceFile>,
    #[serde(default)]
    customers: Vec<CustomerFile>,
    #[serde(default)]
    cards: Vec<CardFile>,
    #[serde(default)]
    offers: Vec<OfferFile>,
    #[serde(default)]
    coupons: Vec<CouponFile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProjectFile {
    name: String,
    #[serde(default = "default_currency")]
    currency: String,
    #[serde(default = "default_bonus_currency")]
    bonus_currency: String,
    #[serde(default = "default_offset")]
    utc_offset: String,
    #[serde(default = "default_items")]
    identifier_items: Vec<String>,
    #[serde(default)]
    mask_numbers: bool,
    #[serde(default = "default_timeout")]
    purchase_timeout: String,
    #[serde(default = "default_qr_validity")]
    qr_validity: String,
    #[serde(default = "default_program")]
    loyalty_program: String,
    #[serde(default)]
    pay_types: Vec<String>,
    #[serde(default)]
    archived_pay_types: Vec<String>,
    #[serde(default)]
    exclusive_purchases: bool,
    #[serde(default)]
    daily_write_off_limit: Option<String>,
    #[serde(default)]
    processing_private_key: Option<String>,
    #[serde(default)]
    goods_groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    masks: Vec<MaskFile>,
    #[serde(default)]
    outages: Vec<OutageFile>,
}

fn default_currency() -> String {
    "RUB".into()
}
fn default_bonus_currency() -> String {
    "бнс.".into()
}
fn default_offset() -> String {
    "+03:00".into()
}
fn default_items() -> Vec<String> {
    vec!["Holder".into(), "CardType".into(), "MaskedNumber".into()]
}
fn default_timeout() -> String {
    "30m".into()
}
fn default_qr_validity() -> String {
    "5m".into()
}
fn default_program() -> String {
    "Default".into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MaskFile {
    pattern: String,
    card_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OutageFile {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeviceFile {
    project: String,
    login: String,
    password: String,
    #[serde(default)]
    signature: SignatureMode,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default)]
    key_valid_to: Option<String>,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    payment_limit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CustomerFile {
    project: String,
    id: String,
    name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CardFile {
    project: String,
    number: String,
    #[serde(default)]
    customer: Option<String>,
    card_type: String,
    #[serde(default)]
    state: CardState,
    #[serde(default = "zero")]
    balance: String,
    #[serde(default)]
    barcode: Option<String>,
    #[serde(default)]
    tracks: Vec<String>,
    #[serde(default)]
    valid_to: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    other_balances: BTreeMap<String, String>,
}

fn zero() -> String {
    "0".into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OfferFile {
    project: String,
    id: u64,
    name: String,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    goods: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    card_types: Vec<String>,
    #[serde(default)]
    requires_card: bool,
    #[serde(default)]
    coupon: Option<String>,
    #[serde(default)]
    param: Option<ParamFile>,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_to: Option<String>,
    #[serde(default)]
    exclude_promo: bool,
    #[serde(default)]
    min_cheque_amount: Option<String>,
    #[serde(default)]
    discount_percent: Option<String>,
    #[serde(default)]
    discount_per_unit: Option<String>,
    #[serde(default)]
    accrual_percent: Option<String>,
    #[serde(default)]
    accrual_currency: Option<String>,
    #[serde(default)]
    write_off_cap_percent: Option<String>,
    #[serde(default)]
    cheque_message: Option<String>,
    #[serde(default)]
    cashier_message: Option<String>,
    #[serde(default)]
    issue_coupon: Option<IssueFile>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ParamFile {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IssueFile {
    emission: String,
    #[serde(default = "default_format")]
    format: String,
    #[serde(default = "default_valid_days")]
    valid_days: u32,
}

fn default_format() -> String {
    "EAN13".into()
}
fn default_valid_days() -> u32 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CouponFile {
    project: String,
    number: String,
    emission: String,
    #[serde(default)]
    barcode: Option<String>,
    #[serde(default)]
    state: CouponState,
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    valid_to: Option<String>,
}

/// Signature requirement of a device (spec 1.9, our design).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureMode {
    /// Not checked, answers not signed.
    #[default]
    Off,
    /// Checked when present; answers signed.
    Optional,
    /// Requests without a valid signature are refused; answers signed.
    Required,
}

/// Card states (Loymax's `CardState` names plus the FAQ's blocked card).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum CardState {
    /// Usable for everything.
    #[default]
    Activated,
    /// Issued but not activated: may accrue, may not pay with points.
    NotActivated,
    /// Blocked: refused everywhere (`CardBlocked`).
    Blocked,
    /// Past its validity (`CardExpired`).
    Expired,
    /// Replaced by another card (CardReplaces): treated as blocked.
    Replaced,
}

/// Coupon states (Loymax's `CouponState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum CouponState {
    /// Created, not yet handed out.
    Created,
    /// Handed out, usable.
    #[default]
    Issued,
    /// Used in a confirmed purchase.
    Used,
    /// Refused.
    Rejected,
    /// Applied in an open purchase (becomes Used on confirm).
    QueuedToUse,
    /// Issued by an open purchase (becomes Issued on confirm).
    QueuedToIssue,
    /// Past its validity.
    Expired,
}

/// A card-number template (spec 1.11 "masks", our form: a regular expression).
#[derive(Debug, Clone)]
pub struct Mask {
    /// The template, anchored.
    pub pattern: Regex,
    /// Card type given to cards recognised by it.
    pub card_type: String,
}

/// A map looked up on every exchange, keyed by what tills send (purchase and operation ids).
/// foldhash instead of SipHash: these lookups were a tenth of a Calculate's cost, and the keys'
/// seed is still random per process. Nothing iterates them in an order a reader sees (the
/// snapshot sorts).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A Loymax project (one tenant, the `{project}` of the URL).
#[derive(Debug)]
pub struct Project {
    pub name: String,
    pub currency: String,
    pub bonus_currency: String,
    pub offset: UtcOffset,
    pub identifier_items: Vec<String>,
    pub mask_numbers: bool,
    pub purchase_timeout_ms: i64,
    pub qr_validity_ms: i64,
    pub loyalty_program: String,
    pub pay_types: Vec<String>,
    pub archived_pay_types: Vec<String>,
    pub exclusive_purchases: bool,
    pub daily_write_off_limit: Option<Kopecks>,
    pub processing_key: Option<Arc<RsaPrivateKey>>,
    pub goods_groups: BTreeMap<String, Vec<String>>,
    pub masks: Vec<Mask>,
    /// Declared outages `[from, to)` in epoch ms: payments dated inside are refused.
    pub outages: Vec<(i64, i64)>,
    pub devices: BTreeMap<String, Device>,
    pub customers: BTreeMap<String, Customer>,
    pub cards: BTreeMap<String, Card>,
    pub offers: Vec<Offer>,
    pub coupons: BTreeMap<String, Coupon>,
    /// Purchases by (device login, PurchaseID).
    pub purchases: FastMap<(String, String), Purchase>,
    /// Open purchases by (expiry, device, PurchaseID), so expiry is cheap.
    pub open: BTreeSet<(i64, String, String)>,
    /// Answered operations per device login, for idempotent replays.
    pub answered: FastMap<String, StoredAnswers>,
    /// Finished purchases forgotten by the retention.
    pub summarised_purchases: u64,
    /// When the retention trims finished purchases next.
    pub next_trim: possim_engine::retention::NextTrim,
    /// Dynamic QR codes handed out: code → (card, valid until).
    pub qr_codes: HashMap<String, (String, i64)>,
    pub next_transaction: u64,
    pub next_coupon: u64,
}

/// A till.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub login: String,
    #[serde(skip)]
    pub password: String,
    pub signature: SignatureMode,
    pub strict: bool,
    #[serde(skip)]
    pub public_key: Option<Arc<RsaPublicKey>>,
    pub key_valid_to: Option<i64>,
    pub blocked: bool,
    pub payment_limit: Option<Kopecks>,
}

/// A card holder.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A card and its account.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub number: String,
    pub customer: Option<String>,
    pub card_type: String,
    pub state: CardState,
    /// Confirmed balance; holds of open purchases are subtracted for what tills see.
    pub balance: Kopecks,
    /// Points held by pending debits of open purchases (write-offs, refunds of accruals).
    pub held: Kopecks,
    /// Balances in further (virtual) currencies, filled by offers with an `accrualCurrency`;
    /// shown by Balance, not spendable through the protocol.
    pub other_balances: BTreeMap<String, Kopecks>,
    pub barcode: Option<String>,
    pub tracks: Vec<String>,
    pub valid_to: Option<i64>,
    #[serde(skip)]
    pub password: Option<String>,
    /// PIN asked for paying with points (`PinCode` of PaymentRequest), if the card has one.
    #[serde(skip)]
    pub pin: Option<String>,
    /// Points written off per local day (`YYYY-MM-DD`), for the daily limit.
    #[serde(skip)]
    pub written_off_by_day: BTreeMap<String, Kopecks>,
}

/// An offer (акция): conditions and effects.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    pub id: u64,
    pub name: String,
    pub external_id: String,
    pub goods: Vec<String>,
    pub groups: Vec<String>,
    pub card_types: Vec<String>,
    pub requires_card: bool,
    pub coupon: Option<String>,
    pub param: Option<(String, String)>,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    pub exclude_promo: bool,
    pub min_cheque_amount: Option<Kopecks>,
    pub discount_percent: Option<Basis>,
    pub discount_per_unit: Option<Kopecks>,
    pub accrual_percent: Option<Basis>,
    /// Accrue into this other currency instead of the project's bonus balance.
    pub accrual_currency: Option<String>,
    pub write_off_cap_percent: Option<Basis>,
    pub cheque_message: Option<String>,
    pub cashier_message: Option<String>,
    pub issue_coupon: Option<IssueRule>,
}

/// Coupons an offer issues.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueRule {
    pub emission: String,
    pub format: String,
    pub valid_days: u32,
}

/// A coupon.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    pub number: String,
    pub emission: String,
    pub barcode: Option<String>,
    pub state: CouponState,
    pub card: Option<String>,
    pub valid_to: Option<i64>,
    /// The purchase that queued it (to use or to issue), while open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase: Option<(String, String)>,
}

/// Where a purchase is in its two-phase life (spec 1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PurchaseState {
    /// Calculated (and perhaps paid), not yet finished with Discount.
    Calculated,
    /// Discount (or Refund) recorded: waiting for Confirm or Cancel.
    Discounted,
    /// Booked.
    Confirmed,
    /// Released by the till.
    Canceled,
    /// Released by the processing after the timeout.
    Expired,
}

/// Operation kinds, named as the public API's operation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OperationKind {
    /// Calculate (no money moves).
    Calculate,
    /// Points written off (held until confirm).
    PaymentOperation,
    /// Points accrued on the final cheque.
    CashbackOperation,
    /// A refund giving written-off points back.
    RefundPaymentOperation,
    /// A refund taking accrued points back.
    RefundCashbackOperation,
}

/// Life of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OperationState {
    /// Pending: holds points (payments) or waits (accruals).
    Created,
    /// Booked on the card.
    Confirmed,
    /// Released.
    Canceled,
}

/// A money-moving (or calculating) operation of a purchase.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub operation_id: String,
    pub kind: OperationKind,
    pub state: OperationState,
    /// Points: positive credits the card on confirm, negative debits it.
    pub points: Kopecks,
    pub transaction_id: u64,
    /// `OperationDate` of the request (engine clock when absent).
    pub at: i64,
    /// Another currency than the bonus balance (accruals of `accrualCurrency` offers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// One line of a cheque as the till sent it, with what the processing computed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub pos_id: String,
    pub goods_id: String,
    pub name: Option<String>,
    pub price: Kopecks,
    pub quantity: Milli,
    pub amount: Kopecks,
    pub is_promo: bool,
    pub min_price: Option<Kopecks>,
    pub local_discount: Option<Kopecks>,
    /// Attributes we do not know, kept for the journal and the snapshot.
    pub extra: Vec<(String, String)>,
}

/// A purchase of one till.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    pub device: String,
    pub purchase_id: String,
    pub card: Option<String>,
    pub state: PurchaseState,
    /// The cheque of the last Calculate (or of the Refund).
    pub cheque: Vec<Line>,
    pub cheque_date: Option<i64>,
    /// Per line (same order as `cheque`): discount, accrual, points written off.
    pub discounts: Vec<Kopecks>,
    pub cashback: Vec<Kopecks>,
    pub pay_amounts: Vec<Kopecks>,
    pub operations: Vec<Operation>,
    pub coupons_used: Vec<String>,
    pub coupons_issued: Vec<String>,
    /// Coupons and `Params` of the last Calculate: a Payment without them is evaluated with
    /// these, so its write-off cap is the one the till was shown.
    pub calculated_coupons: Vec<String>,
    pub calculated_params: Vec<(String, String)>,
    pub created_at: i64,
    pub expires_at: i64,
    /// For a refund: the purchase (device, PurchaseID) it returns goods of.
    pub refund_of: Option<(String, String)>,
    /// Quantities already returned per `PosID` (on the original purchase).
    pub refunded: BTreeMap<String, Milli>,
    /// Points already given back / taken back per `PosID` by refunds.
    pub refunded_pay: BTreeMap<String, Kopecks>,
    pub refunded_cashback: BTreeMap<String, Kopecks>,
}

/// A stored answer to an operation, for idempotent replays. Thousands are kept per till, so it
/// is kept small: a digest of the request and the answer's XML as it was written (one
/// allocation instead of a tree of strings).
#[derive(Debug, Clone)]
pub struct Answered {
    /// SHA-256 of the request element's canonical form ([`crate::xml::Element::canonical`]).
    pub request: [u8; 32],
    /// The answer element as sent, without the `ElementID` a batch adds.
    pub answer: std::sync::Arc<crate::xml::Written>,
}

/// One device's stored answers. Per device, so finding and forgetting one needs no key built
/// from the device's login.
#[derive(Debug, Default)]
pub struct StoredAnswers {
    /// By `OperationID`.
    pub by_operation: FastMap<String, Answered>,
    /// The `OperationID`s in the order they were stored (oldest go first, see
    /// [`crate::retention`]).
    pub order: std::collections::VecDeque<String>,
}

/// The whole state.
#[derive(Debug, Default)]
pub struct State {
    /// Projects by name.
    pub projects: BTreeMap<String, Project>,
    /// Finished purchases kept per device (`[retention] transactions` of the data set).
    pub retain: usize,
}

fn bad(data: &DataSet, message: impl Into<String>) -> EngineError {
    EngineError::DataSet {
        name: data.name.clone(),
        message: format!("{FILE}: {}", message.into()),
    }
}

fn date(data: &DataSet, what: &str, text: &Option<String>) -> Result<Option<i64>, EngineError> {
    text.as_deref()
        .map(|t| possim_engine::clock::parse_rfc3339(t).map_err(|e| bad(data, format!("{what}: {e}"))))
        .transpose()
}

fn money(data: &DataSet, what: &str, text: &Option<String>) -> Result<Option<Kopecks>, EngineError> {
    text.as_deref()
        .map(|t| parse_money(t).ok_or_else(|| bad(data, format!("{what}: {t:?} is not an amount"))))
        .transpose()
}

fn percent(data: &DataSet, what: &str, text: &Option<String>) -> Result<Option<Basis>, EngineError> {
    text.as_deref()
        .map(|t| parse_percent(t).ok_or_else(|| bad(data, format!("{what}: {t:?} is not a percentage 0..100"))))
        .transpose()
}

fn project_mut<'a>(
    data: &DataSet,
    projects: &'a mut BTreeMap<String, Project>,
    name: &str,
    what: &str,
) -> Result<&'a mut Project, EngineError> {
    projects
        .get_mut(name)
        .ok_or_else(|| bad(data, format!("{what}: no project named {name:?}")))
}

/// Normalises a phone number to digits with a leading 7 (Russian 8/7/10-digit forms).
pub fn normalise_phone(text: &str) -> String {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    match digits.len() {
        11 if digits.starts_with('8') => format!("7{}", &digits[1..]),
        10 if digits.starts_with('9') => format!("7{digits}"),
        _ => digits,
    }
}

impl State {
    /// Builds the state from a data set (empty when it has no `loymax.toml`).
    pub fn from_data_set(data: &DataSet) -> Result<Self, EngineError> {
        let file: FileData = data.parse_file(FILE)?.unwrap_or_default();
        let mut projects = BTreeMap::new();
        for p in file.projects {
            let offset = UtcOffset::parse(
                &p.utc_offset,
                time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]"),
            )
            .map_err(|e| bad(data, format!("project {}: utcOffset {:?}: {e}", p.name, p.utc_offset)))?;
            let duration = |what: &str, text: &str| {
                parse_duration_ms(text).map_err(|e| bad(data, format!("project {}: {what}: {e}", p.name)))
            };
            let processing_key = p
                .processing_private_key
                .as_deref()
                .map(sign::private_key_from_pem)
                .transpose()
                .map_err(|e| bad(data, format!("project {}: processingPrivateKey: {e}", p.name)))?
                .map(Arc::new);
            let mut masks = Vec::new();
            for m in &p.masks {
                let anchored = format!("^(?:{})$", m.pattern.trim_start_matches('^').trim_end_matches('$'));
                let pattern = Regex::new(&anchored)
                    .map_err(|e| bad(data, format!("project {}: mask {:?}: {e}", p.name, m.pattern)))?;
                masks.push(Mask {
                    pattern,
                    card_type: m.card_type.clone(),
                });
            }
            let mut outages = Vec::new();
            for o in &p.outages {
                let from = date(data, "outage from", &Some(o.from.clone()))?.unwrap_or_default();
                let to = date(data, "outage to", &Some(o.to.clone()))?.unwrap_or_default();
                outages.push((from, to));
            }
            let project = Project {
                currency: p.currency,
                bonus_currency: p.bonus_currency,
                offset,
                identifier_items: p.identifier_items,
                mask_numbers: p.mask_numbers,
                purchase_timeout_ms: duration("purchaseTimeout", &p.purchase_timeout)?,
                qr_validity_ms: duration("qrValidity", &p.qr_validity)?,
                loyalty_program: p.loyalty_program,
                pay_types: p.pay_types,
                archived_pay_types: p.archived_pay_types,
                exclusive_purchases: p.exclusive_purchases,
                daily_write_off_limit: money(data, "dailyWriteOffLimit", &p.daily_write_off_limit)?,
                processing_key,
                goods_groups: p.goods_groups,
                masks,
                outages,
                devices: BTreeMap::new(),
                customers: BTreeMap::new(),
                cards: BTreeMap::new(),
                offers: Vec::new(),
                coupons: BTreeMap::new(),
                purchases: FastMap::default(),
                open: BTreeSet::new(),
                answered: FastMap::default(),
                summarised_purchases: 0,
                next_trim: Default::default(),
                qr_codes: HashMap::new(),
                next_transaction: 6_361_874,
                next_coupon: 1,
                name: p.name.clone(),
            };
            if projects.insert(p.name.clone(), project).is_some() {
                return Err(bad(data, format!("project {:?} is defined twice", p.name)));
            }
        }
        for d in file.devices {
            let what = format!("device {}", d.login);
            let public_key = d
                .public_key
                .as_deref()
                .map(sign::public_key_from_pem)
                .transpose()
                .map_err(|e| bad(data, format!("{what}: publicKey: {e}")))?
                .map(Arc::new);
            let device = Device {
                key_valid_to: date(data, &format!("{what}: keyValidTo"), &d.key_valid_to)?,
                payment_limit: money(data, &format!("{what}: paymentLimit"), &d.payment_limit)?,
                login: d.login.clone(),
                password: d.password,
                signature: d.signature,
                strict: d.strict,
                public_key,
                blocked: d.blocked,
            };
            let project = project_mut(data, &mut projects, &d.project, &what)?;
            if d.signature != SignatureMode::Off && project.processing_key.is_none() {
                return Err(bad(
                    data,
                    format!(
                        "{what}: signature {:?} needs the project's processingPrivateKey to sign answers",
                        d.signature
                    ),
                ));
            }
            if project.devices.insert(d.login.clone(), device).is_some() {
                return Err(bad(data, format!("{what} is defined twice")));
            }
        }
        for c in file.customers {
            let what = format!("customer {}", c.id);
            let project = project_mut(data, &mut projects, &c.project, &what)?;
            let customer = Customer {
                phone: c.phone.as_deref().map(normalise_phone),
                id: c.id.clone(),
                name: c.name,
                email: c.email,
            };
            if project.customers.insert(c.id, customer).is_some() {
                return Err(bad(data, format!("{what} is defined twice")));
            }
        }
        for c in file.cards {
            let what = format!("card {}", c.number);
            let balance =
                parse_money(&c.balance).ok_or_else(|| bad(data, format!("{what}: balance {:?}", c.balance)))?;
            let mut other_balances = BTreeMap::new();
            for (currency, amount) in &c.other_balances {
                let value = parse_money(amount)
                    .ok_or_else(|| bad(data, format!("{what}: otherBalances.{currency} {amount:?}")))?;
                other_balances.insert(currency.clone(), value);
            }
            let valid_to = date(data, &format!("{what}: validTo"), &c.valid_to)?;
            let project = project_mut(data, &mut projects, &c.project, &what)?;
            if let Some(customer) = &c.customer
                && !project.customers.contains_key(customer)
            {
                return Err(bad(data, format!("{what}: no customer {customer:?}")));
            }
            let card = Card {
                number: c.number.clone(),
                customer: c.customer,
                card_type: c.card_type,
                state: c.state,
                balance,
                held: 0,
                other_balances,
                barcode: c.barcode,
                tracks: c.tracks,
                valid_to,
                password: c.password,
                pin: c.pin,
                written_off_by_day: BTreeMap::new(),
            };
            if project.cards.insert(c.number, card).is_some() {
                return Err(bad(data, format!("{what} is defined twice")));
            }
        }
        for o in file.offers {
            let what = format!("offer {}", o.id);
            let offer = Offer {
                external_id: o
                    .external_id
                    .unwrap_or_else(|| format!("00000000-0000-4000-8000-{:012}", o.id)),
                valid_from: date(data, &format!("{what}: validFrom"), &o.valid_from)?,
                valid_to: date(data, &format!("{what}: validTo"), &o.valid_to)?,
                min_cheque_amount: money(data, &format!("{what}: minChequeAmount"), &o.min_cheque_amount)?,
                discount_percent: percent(data, &format!("{what}: discountPercent"), &o.discount_percent)?,
                discount_per_unit: money(data, &format!("{what}: discountPerUnit"), &o.discount_per_unit)?,
                accrual_percent: percent(data, &format!("{what}: accrualPercent"), &o.accrual_percent)?,
                accrual_currency: o.accrual_currency,
                write_off_cap_percent: percent(data, &format!("{what}: writeOffCapPercent"), &o.write_off_cap_percent)?,
                id: o.id,
                name: o.name,
                goods: o.goods,
                groups: o.groups,
                card_types: o.card_types,
                requires_card: o.requires_card,
                coupon: o.coupon,
                param: o.param.map(|p| (p.name, p.value)),
                exclude_promo: o.exclude_promo,
                cheque_message: o.cheque_message,
                cashier_message: o.cashier_message,
                issue_coupon: o.issue_coupon.map(|i| IssueRule {
                    emission: i.emission,
                    format: i.format,
                    valid_days: i.valid_days,
                }),
            };
            let project = project_mut(data, &mut projects, &o.project, &what)?;
            for g in &offer.groups {
                if !project.goods_groups.contains_key(g) {
                    return Err(bad(data, format!("{what}: no goods group {g:?}")));
                }
            }
            project.offers.push(offer);
        }
        for c in file.coupons {
            let what = format!("coupon {}", c.number);
            let valid_to = date(data, &format!("{what}: validTo"), &c.valid_to)?;
            let project = project_mut(data, &mut projects, &c.project, &what)?;
            if let Some(card) = &c.card
                && !project.cards.contains_key(card)
            {
                return Err(bad(data, format!("{what}: no card {card:?}")));
            }
            let coupon = Coupon {
                number: c.number.clone(),
                emission: c.emission,
                barcode: c.barcode,
                state: c.state,
                card: c.card,
                valid_to,
                purchase: None,
            };
            if project.coupons.insert(c.number, coupon).is_some() {
                return Err(bad(data, format!("{what} is defined twice")));
            }
        }
        Ok(Self {
            projects,
            retain: data.settings.retention.transactions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalised_the_russian_way() {
        assert_eq!(normalise_phone("+7 (926) 916-77-63"), "79269167763");
        assert_eq!(normalise_phone("89269167763"), "79269167763");
        assert_eq!(normalise_phone("9269167763"), "79269167763");
        assert_eq!(normalise_phone("79269167763"), "79269167763");
    }

    #[test]
    fn data_set_errors_name_the_problem() {
        let set = |text: &'static str| DataSet::from_files("t", [("loymax.toml", text)]).unwrap();
        let err = State::from_data_set(&set("[[devices]]\nproject = \"x\"\nlogin = \"k\"\npassword = \"p\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no project named \"x\""), "{err}");
        let err = State::from_data_set(&set(
            "[[projects]]\nname = \"p\"\n[[cards]]\nproject = \"p\"\nnumber = \"1\"\ncardType = \"t\"\nbalance = \"1.234\"\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("card 1: balance"), "{err}");
        assert!(State::from_data_set(&set("")).unwrap().projects.is_empty());
    }
}

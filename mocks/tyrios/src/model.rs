//! The TYRIOS state: companies, credentials, users with their point lots, coupons, transactions
//! and the registration-mail outbox — and the data set file (`tyrios.toml`) it is loaded from.
//!
//! Points are kept as *lots* (how many points, valid until when, earned by which transaction) so
//! that redemption can take the oldest points first and expiry can take exactly the points that
//! are due, as the TYRIOS knowledge base describes (first in, first out; three years).

use std::collections::{BTreeMap, HashMap, VecDeque};

use possim_engine::EngineError;
use possim_engine::clock::Millis;
use possim_engine::dataset::DataSet;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::errors::Lang;
use crate::money::{Cents, MAX_CENTS, ppm};

/// How a company grants bonus points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BonusMode {
    /// `bonusPointPercentage` of the amount paid in money (the seed's company: 2 %).
    Percentage,
    /// `bonusPointsFixed` points per transaction with a money payment.
    Fixed,
}

/// Whether coupons worth more than the purchase are accepted without a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CouponEnvironment {
    /// The rest stays on the coupon code (the seed's example "Standardtransaktion mit Coupon").
    FullyDigital,
    /// Refused unless a user takes the rest.
    PartiallyDigital,
}

/// A company (the seed's `BonusPointSharingCompany`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Company {
    /// Company id.
    pub id: u64,
    /// Shown in `BonusPointSharingCompany`.
    pub company_name: String,
    /// Address parts, shown in `BonusPointSharingCompany`.
    #[serde(default)]
    pub street: String,
    /// House number.
    #[serde(default)]
    pub street_no: String,
    /// Postal code.
    #[serde(default)]
    pub post_code: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// Bonus mode.
    pub bonus_point_mode: BonusMode,
    /// Fraction of the money paid granted as points (percentage mode), e.g. 0.02.
    #[serde(default)]
    pub bonus_point_percentage: f64,
    /// Points per purchase (fixed mode).
    #[serde(default)]
    pub bonus_points_fixed: i64,
    /// Coupon environment.
    pub coupon_environment: CouponEnvironment,
    /// Codes matching this regular expression are analogue coupons; all others are digital.
    #[serde(default)]
    pub analog_coupon_pattern: Option<String>,
    /// Fee the company pays per transaction, as a fraction of `totalAmount` (0 by default).
    #[serde(default)]
    pub transaction_fee_percentage: f64,
}

/// A login of the REST API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credential {
    /// Basic-auth user name.
    pub login: String,
    /// Basic-auth password.
    pub password: String,
    /// Company the login acts for.
    pub company: u64,
    /// Language of error messages.
    #[serde(default)]
    pub language: Lang,
}

/// Points with one validity, earned together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lot {
    /// Points left in the lot.
    pub points: i64,
    /// Valid while the clock is before this instant.
    pub valid_until: Millis,
    /// Transaction that granted the points, if any (feeds `availableObtainedPoints`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<u64>,
}

/// A user account.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id.
    pub id: u64,
    /// First name.
    pub pre_name: Option<String>,
    /// Last name.
    pub name: Option<String>,
    /// E-mail, if known.
    pub e_mail: Option<String>,
    /// Birthday, epoch milliseconds.
    pub birthday: Option<i64>,
    /// The 15-character hash.
    pub unique_user_hash: String,
    /// Point lots, ordered by `valid_until` (oldest first).
    pub lots: VecDeque<Lot>,
    /// Points that expired unused (kept so nothing silently disappears from the books).
    pub expired_points: i64,
}

impl User {
    /// Points usable at `now`.
    pub fn balance(&self, now: Millis) -> i64 {
        self.lots.iter().filter(|l| l.valid_until > now).map(|l| l.points).sum()
    }

    /// Moves lots that expired by `now` from the balance into `expired_points`.
    pub fn expire(&mut self, now: Millis) {
        let expired: i64 = self
            .lots
            .iter()
            .filter(|l| l.valid_until <= now)
            .map(|l| l.points)
            .sum();
        if expired > 0 || self.lots.iter().any(|l| l.valid_until <= now) {
            self.expired_points += expired;
            self.lots.retain(|l| l.valid_until > now);
        }
    }

    /// Adds a lot, keeping the oldest-first order (stable for equal validity).
    pub fn add_lot(&mut self, lot: Lot) {
        if lot.points <= 0 {
            return;
        }
        let pos = self
            .lots
            .iter()
            .rposition(|l| l.valid_until <= lot.valid_until)
            .map_or(0, |p| p + 1);
        self.lots.insert(pos, lot);
    }

    /// Takes `points` from the oldest valid lots. The caller has checked the balance.
    pub fn consume(&mut self, mut points: i64, now: Millis) {
        self.expire(now);
        while points > 0 {
            let Some(front) = self.lots.front_mut() else { break };
            let take = front.points.min(points);
            front.points -= take;
            points -= take;
            if front.points == 0 {
                self.lots.pop_front();
            }
        }
    }

    /// Last four characters of the hash (the seed's text: "die 4 letzten Ziffern").
    pub fn hash_part(&self) -> String {
        hash_part(&self.unique_user_hash)
    }
}

/// Last four characters of a hash.
pub fn hash_part(hash: &str) -> String {
    let chars: Vec<char> = hash.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Lifecycle of a coupon code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CouponState {
    /// Printed with a value but not sold yet: activation sells it, payment refuses it.
    Registered,
    /// Sold: can pay until its value is used up or it expires.
    Active,
}

/// Digital coupons can be used in part; analogue ones only in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CouponKind {
    /// Partial redemption possible, rest stays on the code.
    Digital,
    /// Whole value only.
    Analog,
}

/// A coupon.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    /// Coupon id.
    pub id: u64,
    /// 8-character code.
    pub coupon_code: String,
    /// Current value in cents.
    pub value: Cents,
    /// Value when sold.
    pub original_value: Cents,
    /// Lifecycle state.
    pub state: CouponState,
    /// Digital or analogue.
    pub kind: CouponKind,
    /// Validity end, epoch milliseconds.
    pub valid_until: Option<Millis>,
}

/// A registration e-mail the mock "sent" (the seed: new users with an e-mail get one).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Mail {
    /// Recipient.
    pub to: String,
    /// The new user's id.
    pub user_id: u64,
    /// Subject line.
    pub subject: String,
    /// Engine time it was sent.
    pub sent_at: Millis,
}

/// The whole TYRIOS state, guarded by one mutex in [`crate::store`].
#[derive(Debug, Clone)]
pub struct State {
    /// Companies by id.
    pub companies: BTreeMap<u64, Company>,
    /// Logins.
    pub credentials: Vec<Credential>,
    /// Users by id.
    pub users: BTreeMap<u64, User>,
    /// User id by (upper-case) hash.
    pub by_hash: HashMap<String, u64>,
    /// User id by lower-case e-mail.
    pub by_email: HashMap<String, u64>,
    /// Coupons by code.
    pub coupons: BTreeMap<String, Coupon>,
    /// The newest committed transactions (at most [`State::retain`] per company), in commit
    /// order; older ones are in [`State::summaries`] (see [`crate::retention`]).
    pub transactions: VecDeque<crate::domain::TxRecord>,
    /// How many of `transactions` each company has.
    pub kept_per_company: HashMap<u64, usize>,
    /// What each company's summarised transactions add up to.
    pub summaries: crate::retention::Summaries,
    /// Newest transactions kept per company, and newest registration mails kept
    /// (`[retention] transactions` of the data set's `possim.toml`).
    pub retain: usize,
    /// Registration mails, the newest [`State::retain`].
    pub outbox: VecDeque<Mail>,
    /// Next user id.
    pub next_user_id: u64,
    /// Next transaction id.
    pub next_transaction_id: u64,
    /// Next coupon id.
    pub next_coupon_id: u64,
    /// Mixed into generated hashes so different data sets generate different ones.
    pub hash_salt: String,
    /// Compiled analogue-coupon patterns by company.
    pub analog_patterns: HashMap<u64, Regex>,
}

/// `tyrios.toml`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataFile {
    #[serde(default = "one")]
    next_user_id: u64,
    #[serde(default = "one")]
    next_transaction_id: u64,
    #[serde(default = "one")]
    next_coupon_id: u64,
    #[serde(default)]
    hash_salt: Option<String>,
    #[serde(default)]
    companies: Vec<Company>,
    #[serde(default)]
    credentials: Vec<Credential>,
    #[serde(default)]
    users: Vec<UserFixture>,
    #[serde(default)]
    coupons: Vec<CouponFixture>,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserFixture {
    id: u64,
    #[serde(default)]
    pre_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    e_mail: Option<String>,
    #[serde(default)]
    birthday: Option<i64>,
    unique_user_hash: String,
    /// Shorthand for one lot.
    #[serde(default)]
    points: Option<i64>,
    #[serde(default)]
    points_valid_until: Option<Millis>,
    #[serde(default)]
    lots: Vec<LotFixture>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LotFixture {
    points: i64,
    valid_until: Millis,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CouponFixture {
    id: u64,
    coupon_code: String,
    coupon_value: f64,
    #[serde(default)]
    original_value: Option<f64>,
    state: CouponState,
    #[serde(default)]
    kind: Option<CouponKind>,
    #[serde(default)]
    valid_until: Option<Millis>,
}

/// Far-future validity for fixture points without a date.
const NO_EXPIRY: Millis = 253_402_300_799_000; // 9999-12-31T23:59:59Z

fn fixture_cents(value: f64, what: &str) -> Result<Cents, String> {
    let cents = (value * 100.0).round();
    if !(0.0..=MAX_CENTS as f64).contains(&cents) || (value * 100.0 - cents).abs() > 1e-6 {
        return Err(format!("{what}: {value} is not an amount with at most two decimals"));
    }
    Ok(cents as Cents)
}

/// The largest id or point count a data set may hold: 2^53 - 1, the largest integer a
/// JavaScript client reads exactly. Keeping far below `u64::MAX` also means the counters that
/// count up from the data set can never overflow mid-transaction.
pub const MAX_ID: u64 = (1 << 53) - 1;

fn check_id(what: &str, value: u64) -> Result<(), String> {
    if value > MAX_ID {
        return Err(format!("{what} {value} is above {MAX_ID}"));
    }
    Ok(())
}

impl possim_engine::state::ProviderState for State {
    fn from_data_set(data: &DataSet) -> Result<Self, EngineError> {
        State::from_data_set(data)
    }
}

impl State {
    /// Builds the state from a data set's `tyrios.toml` (an empty state when the set has none).
    pub fn from_data_set(data: &DataSet) -> Result<Self, EngineError> {
        let file: DataFile = data.parse_file("tyrios.toml")?.unwrap_or(DataFile {
            next_user_id: 1,
            next_transaction_id: 1,
            next_coupon_id: 1,
            hash_salt: None,
            companies: vec![],
            credentials: vec![],
            users: vec![],
            coupons: vec![],
        });
        let mut state = Self::from_file(file, &data.name).map_err(|message| EngineError::DataSet {
            name: data.name.clone(),
            message: format!("tyrios.toml: {message}"),
        })?;
        state.retain = data.settings.retention.transactions;
        Ok(state)
    }

    fn from_file(file: DataFile, set_name: &str) -> Result<Self, String> {
        for (name, value) in [
            ("nextUserId", file.next_user_id),
            ("nextTransactionId", file.next_transaction_id),
            ("nextCouponId", file.next_coupon_id),
        ] {
            check_id(name, value)?;
        }
        let mut state = State {
            companies: BTreeMap::new(),
            credentials: file.credentials,
            users: BTreeMap::new(),
            by_hash: HashMap::new(),
            by_email: HashMap::new(),
            coupons: BTreeMap::new(),
            transactions: VecDeque::new(),
            kept_per_company: HashMap::new(),
            summaries: BTreeMap::new(),
            retain: 0,
            outbox: VecDeque::new(),
            next_user_id: file.next_user_id,
            next_transaction_id: file.next_transaction_id,
            next_coupon_id: file.next_coupon_id,
            hash_salt: file.hash_salt.unwrap_or_else(|| set_name.to_owned()),
            analog_patterns: HashMap::new(),
        };
        for company in file.companies {
            if let Some(p) = &company.analog_coupon_pattern {
                let re = Regex::new(p).map_err(|e| format!("company {}: analogCouponPattern: {e}", company.id))?;
                state.analog_patterns.insert(company.id, re);
            }
            if company.bonus_point_mode == BonusMode::Percentage
                && !(0.0..=1.0).contains(&company.bonus_point_percentage)
            {
                return Err(format!(
                    "company {}: bonusPointPercentage must be between 0 and 1",
                    company.id
                ));
            }
            if ppm(company.transaction_fee_percentage) < 0 {
                return Err(format!(
                    "company {}: transactionFeePercentage must not be negative",
                    company.id
                ));
            }
            if state.companies.insert(company.id, company).is_some() {
                return Err("two companies share one id".into());
            }
        }
        for cred in &state.credentials {
            if !state.companies.contains_key(&cred.company) {
                return Err(format!(
                    "credential {:?} names unknown company {}",
                    cred.login, cred.company
                ));
            }
        }
        for u in file.users {
            check_id(&format!("user {}: id", u.id), u.id)?;
            let hash = u.unique_user_hash.to_ascii_uppercase();
            if hash.chars().count() != 15 || !hash.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("user {}: uniqueUserHash must be 15 letters/digits", u.id));
            }
            let mut user = User {
                id: u.id,
                pre_name: u.pre_name,
                name: u.name,
                e_mail: u.e_mail,
                birthday: u.birthday,
                unique_user_hash: hash.clone(),
                lots: VecDeque::new(),
                expired_points: 0,
            };
            if let Some(points) = u.points {
                user.add_lot(Lot {
                    points,
                    valid_until: u.points_valid_until.unwrap_or(NO_EXPIRY),
                    source: None,
                });
            }
            for lot in u.lots {
                user.add_lot(Lot {
                    points: lot.points,
                    valid_until: lot.valid_until,
                    source: None,
                });
            }
            if user.lots.iter().any(|l| l.points < 0) {
                return Err(format!("user {}: points must not be negative", u.id));
            }
            let total = user.lots.iter().try_fold(0i64, |sum, l| sum.checked_add(l.points));
            if total.is_none_or(|t| t > MAX_ID as i64) {
                return Err(format!("user {}: at most {MAX_ID} points", u.id));
            }
            if state.by_hash.insert(hash, u.id).is_some() {
                return Err(format!("user {}: hash used twice", u.id));
            }
            if let Some(mail) = &user.e_mail
                && state.by_email.insert(mail.to_lowercase(), u.id).is_some()
            {
                return Err(format!("user {}: e-mail used twice", u.id));
            }
            state.next_user_id = state.next_user_id.max(u.id + 1);
            if state.users.insert(u.id, user).is_some() {
                return Err(format!("user id {} used twice", u.id));
            }
        }
        for c in file.coupons {
            check_id(&format!("coupon {}: id", c.coupon_code), c.id)?;
            if c.coupon_code.chars().count() != 8 {
                return Err(format!("coupon {}: code must have 8 characters", c.coupon_code));
            }
            let value = fixture_cents(c.coupon_value, &format!("coupon {}", c.coupon_code))?;
            let original = match c.original_value {
                Some(v) => fixture_cents(v, &format!("coupon {}", c.coupon_code))?,
                None => value,
            };
            let kind = c.kind.unwrap_or_else(|| state.kind_for_code_any(&c.coupon_code));
            state.next_coupon_id = state.next_coupon_id.max(c.id + 1);
            let coupon = Coupon {
                id: c.id,
                coupon_code: c.coupon_code.clone(),
                value,
                original_value: original,
                state: c.state,
                kind,
                valid_until: c.valid_until,
            };
            if state.coupons.insert(c.coupon_code.clone(), coupon).is_some() {
                return Err(format!("coupon {} listed twice", c.coupon_code));
            }
        }
        Ok(state)
    }

    /// Kind of a new coupon code for `company`: analogue when the company's pattern matches.
    pub fn kind_for_code(&self, company: u64, code: &str) -> CouponKind {
        match self.analog_patterns.get(&company) {
            Some(re) if re.is_match(code) => CouponKind::Analog,
            _ => CouponKind::Digital,
        }
    }

    fn kind_for_code_any(&self, code: &str) -> CouponKind {
        if self.analog_patterns.values().any(|re| re.is_match(code)) {
            CouponKind::Analog
        } else {
            CouponKind::Digital
        }
    }

    /// The credential for a Basic-auth login, if the password matches.
    pub fn authenticate(&self, login: &str, password: &str) -> Option<&Credential> {
        self.credentials
            .iter()
            .find(|c| c.login == login && c.password == password)
    }

    /// A user by hash (case-insensitive).
    pub fn user_by_hash(&self, hash: &str) -> Option<&User> {
        self.by_hash
            .get(&hash.to_ascii_uppercase())
            .and_then(|id| self.users.get(id))
    }
}

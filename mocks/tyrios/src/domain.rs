//! TYRIOS business rules: users, coupons and the five transaction kinds, as pure functions over
//! [`State`].
//!
//! A transaction is evaluated into a [`Plan`] without touching the state; a draft (`?draft=true`)
//! stops there, a final transaction applies the plan. Evaluation and application run under the
//! store's single lock, so a transaction is atomic (all or nothing) and concurrent tills can never
//! overdraw, duplicate or lose points or coupon value — the seed's "Der Transaktionsdienst selbst
//! ist atomar". Draft and final share every line of logic ("dieselbe Logik für die Simulation und
//! die Ausführung").
//!
//! Every computed field follows the seed's table and examples; where the seed is silent the choice
//! is documented in `mocks/tyrios/README.md`.

use possim_engine::clock::Millis;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::errors::{Expected, TyriosError};
use crate::model::{BonusMode, Company, Coupon, CouponEnvironment, CouponKind, CouponState, Lot, Mail, State, User};
use crate::money::{Cents, MAX_CENTS, cents_to_json, percent_of, ppm, valid_until};
use crate::wire::{CouponRef, TxKind, TxRequest, UserDataJson, UserMode, UserObject, UserRef};

/// Search answers hold at most this many users (the seed: "maximal 50 Vorschläge").
pub const MAX_SUGGESTIONS: usize = 50;

/// A coupon as it appears in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponLine {
    /// Coupon id (null for a coupon a draft would create).
    pub id: Option<u64>,
    /// Code.
    pub code: String,
    /// Value after the transaction.
    pub value_after: Cents,
    /// Value when sold.
    pub original: Cents,
    /// Validity end.
    pub valid_until: Option<Millis>,
    /// `creation` or `activation` (coupon activation only).
    pub mode: Option<&'static str>,
}

/// A transaction with every computed field; the answer and the overview are rendered from it.
#[derive(Debug, Clone, PartialEq)]
pub struct TxRecord {
    /// Id, null for drafts.
    pub id: Option<u64>,
    /// Owning company.
    pub company: u64,
    /// Kind.
    pub kind: TxKind,
    /// Engine time of the evaluation.
    pub time: Millis,
    /// The user's id.
    pub user_id: Option<u64>,
    /// The user as shown in the answer.
    pub user: Option<UserDataJson>,
    /// How the user was identified.
    pub user_mode: UserMode,
    /// Description.
    pub product_group: Option<String>,
    /// `totalAmount`.
    pub total: Cents,
    /// `remainingAmount`: what the customer pays in money.
    pub remaining: Cents,
    /// `redeemedPoints`.
    pub redeemed: i64,
    /// `obtainedPoints`.
    pub obtained: i64,
    /// `startPoints`.
    pub start: i64,
    /// `resultingPoints`.
    pub resulting: i64,
    /// `couponPoints`.
    pub coupon_points: Option<i64>,
    /// `availableObtainedPoints` at creation.
    pub available_obtained: i64,
    /// `obtainedPointsValidUntil`.
    pub obtained_valid_until: Option<Millis>,
    /// Coupons.
    pub coupons: Vec<CouponLine>,
    /// `transactionFee`.
    pub fee: Cents,
    /// `enablePointRedemption`.
    pub enable_point_redemption: bool,
    /// `employeeNumber`, echoed.
    pub employee_number: Value,
}

/// Who the transaction is for, after resolution.
#[derive(Debug, Clone)]
enum Party {
    Nobody,
    Existing(u64),
    New(UserObject),
}

/// The state changes of a final transaction.
#[derive(Debug, Default)]
struct Plan {
    new_user: Option<User>,
    user_id: Option<u64>,
    /// Coupon value converted into points on the account, added before redemption.
    lots_in: Vec<Lot>,
    /// Points taken oldest first.
    consume: i64,
    /// Points granted by the transaction.
    obtained_lot: Option<Lot>,
    coupons: Vec<Coupon>,
    mail: Option<Mail>,
}

fn validate_hash(hash: &str) -> Result<String, TyriosError> {
    let n = hash.chars().count();
    if n != 15 {
        return Err(TyriosError::HashLength(n));
    }
    if !hash.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(TyriosError::HashCharacters);
    }
    Ok(hash.to_ascii_uppercase())
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no spaces.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && email.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

/// Looks a user up by hash (the seed's `GET UserData/[userHash]`).
pub fn lookup_user(state: &State, hash: &str, now: Millis) -> Result<UserDataJson, TyriosError> {
    let hash = validate_hash(hash)?;
    state
        .user_by_hash(&hash)
        .map(|u| UserDataJson::of(u, now))
        .ok_or(TyriosError::UserNotFound)
}

/// Users whose first name, last name or e-mail contain every word of `query`, case-insensitive,
/// newest account first, at most [`MAX_SUGGESTIONS`].
pub fn search_users(state: &State, query: &str, now: Millis) -> Vec<UserDataJson> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() {
        return Vec::new();
    }
    state
        .users
        .values()
        .rev()
        .filter(|u| {
            let fields = [&u.pre_name, &u.name, &u.e_mail].map(|f| f.as_deref().unwrap_or("").to_lowercase());
            words.iter().all(|w| fields.iter().any(|f| f.contains(w.as_str())))
        })
        .take(MAX_SUGGESTIONS)
        .map(|u| UserDataJson::of(u, now))
        .collect()
}

/// Whether an e-mail address belongs to a user (the seed's `GET UserData/eMail`).
pub fn email_in_use(state: &State, email: &str) -> Result<bool, TyriosError> {
    let email = email.trim();
    if !is_valid_email(email) {
        return Err(TyriosError::InvalidEmail(email.to_owned()));
    }
    Ok(state.by_email.contains_key(&email.to_lowercase()))
}

fn validate_new_user(state: &State, obj: &UserObject) -> Result<UserObject, TyriosError> {
    let mut obj = obj.clone();
    if obj.e_mail.is_none() && obj.unique_user_hash.is_none() {
        return Err(TyriosError::EmailOrHashRequired);
    }
    if let Some(email) = &obj.e_mail {
        let email = email.trim().to_owned();
        if !is_valid_email(&email) {
            return Err(TyriosError::InvalidEmail(email));
        }
        if state.by_email.contains_key(&email.to_lowercase()) {
            return Err(TyriosError::DuplicateEntry);
        }
        obj.e_mail = Some(email);
    }
    if let Some(hash) = &obj.unique_user_hash {
        let hash = validate_hash(hash.trim())?;
        if state.by_hash.contains_key(&hash) {
            return Err(TyriosError::DuplicateEntry);
        }
        obj.unique_user_hash = Some(hash);
    }
    obj.id = None;
    Ok(obj)
}

/// A fresh, unguessable-looking, reproducible hash: SHA-256 of the data set's salt and the user id.
fn generate_hash(state: &State, user_id: u64) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0u32..)
        .map(|attempt| {
            let digest = Sha256::digest(format!("{}:{user_id}:{attempt}", state.hash_salt));
            digest
                .iter()
                .take(15)
                .map(|b| ALPHABET[*b as usize % 36] as char)
                .collect::<String>()
        })
        .find(|h| !state.by_hash.contains_key(h))
        .unwrap_or_default()
}

fn build_user(state: &State, obj: &UserObject) -> (User, Option<Mail>) {
    let id = state.next_user_id;
    let hash = obj.unique_user_hash.clone().unwrap_or_else(|| generate_hash(state, id));
    let user = User {
        id,
        pre_name: obj.pre_name.clone(),
        name: obj.name.clone(),
        e_mail: obj.e_mail.clone(),
        birthday: obj.birthday,
        unique_user_hash: hash,
        lots: Default::default(),
        expired_points: 0,
    };
    let mail = obj.e_mail.as_ref().map(|to| Mail {
        to: to.clone(),
        user_id: id,
        subject: "Willkommen bei TYRIOS eCash – Zugang zum Webportal einrichten".into(),
        sent_at: 0,
    });
    (user, mail)
}

fn insert_user(state: &mut State, user: User, mail: Option<Mail>, now: Millis) {
    state.next_user_id = state.next_user_id.max(user.id + 1);
    state.by_hash.insert(user.unique_user_hash.clone(), user.id);
    if let Some(email) = &user.e_mail {
        state.by_email.insert(email.to_lowercase(), user.id);
    }
    if let Some(mut mail) = mail {
        mail.sent_at = now;
        state.outbox.push_back(mail);
        // The outbox is history too: only the newest mails are kept.
        while state.outbox.len() > state.retain {
            state.outbox.pop_front();
        }
    }
    state.users.insert(user.id, user);
}

/// Creates a user (the seed's `POST UserData/`).
pub fn create_user(state: &mut State, obj: &UserObject, now: Millis) -> Result<UserDataJson, TyriosError> {
    let obj = validate_new_user(state, obj)?;
    let (user, mail) = build_user(state, &obj);
    let answer = UserDataJson::of(&user, now);
    insert_user(state, user, mail, now);
    Ok(answer)
}

fn resolve_party(state: &State, req: &TxRequest) -> Result<Party, TyriosError> {
    match (req.user_mode, &req.user) {
        (UserMode::Hash | UserMode::Search, UserRef::None) => Ok(Party::Nobody),
        (UserMode::Hash, UserRef::Hash(h)) => {
            let hash = validate_hash(h)?;
            state
                .by_hash
                .get(&hash)
                .map(|id| Party::Existing(*id))
                .ok_or(TyriosError::UserNotFound)
        }
        (UserMode::Search, UserRef::Object(o)) => {
            let id = o.id.ok_or_else(|| TyriosError::MissingField("UserData.id".into()))?;
            if state.users.contains_key(&id) {
                Ok(Party::Existing(id))
            } else {
                Err(TyriosError::UserNotFound)
            }
        }
        (UserMode::Create, UserRef::Object(o)) => Ok(Party::New(validate_new_user(state, o)?)),
        (UserMode::Create, UserRef::None) => Err(TyriosError::MissingField("UserData".into())),
        (mode, _) => Err(TyriosError::UserModeMismatch(mode.as_str())),
    }
}

/// The same coupon twice in one request is refused. Codes are compared as the lookup sees them
/// (trimmed, upper case): comparing the raw strings let `"AB4DEFGH"` and `"AB4DEFGH "` spend
/// one coupon twice.
fn check_duplicates(coupons: &[CouponRef]) -> Result<(), TyriosError> {
    let mut seen = std::collections::HashSet::with_capacity(coupons.len());
    for c in coupons {
        if !seen.insert(normalise_code(&c.code)?) {
            return Err(TyriosError::DuplicateEntry);
        }
    }
    Ok(())
}

fn normalise_code(code: &str) -> Result<String, TyriosError> {
    let code = code.trim();
    if code.chars().count() != 8 {
        return Err(TyriosError::CouponCodeLength(code.to_owned()));
    }
    Ok(code.to_ascii_uppercase())
}

/// Coupons that pay (pos, coupon): sold, unexpired, with value left.
fn payable_coupons(state: &State, refs: &[CouponRef], now: Millis) -> Result<Vec<Coupon>, TyriosError> {
    check_duplicates(refs)?;
    refs.iter()
        .map(|r| {
            let code = normalise_code(&r.code)?;
            let coupon = state
                .coupons
                .get(&code)
                .ok_or_else(|| TyriosError::CouponUnknown(code.clone()))?;
            if coupon.state == CouponState::Registered {
                return Err(TyriosError::CouponNotActivated(code));
            }
            if coupon.valid_until.is_some_and(|v| v <= now) {
                return Err(TyriosError::CouponExpired(code));
            }
            if coupon.value == 0 {
                return Err(TyriosError::CouponExhausted(code));
            }
            Ok(coupon.clone())
        })
        .collect()
}

fn bonus(company: &Company, money_paid: Cents) -> i64 {
    match company.bonus_point_mode {
        BonusMode::Percentage => percent_of(money_paid, ppm(company.bonus_point_percentage)),
        BonusMode::Fixed if money_paid > 0 => company.bonus_points_fixed,
        BonusMode::Fixed => 0,
    }
}

/// How many points to redeem: all that can be (`requested` absent), or exactly `requested`.
fn points_to_redeem(requested: Option<i64>, pool: i64, amount: Cents) -> Result<i64, TyriosError> {
    match requested {
        None => Ok(pool.min(amount)),
        Some(n) if n > amount => Err(TyriosError::RedeemExceedsAmount { requested: n, amount }),
        Some(n) if n > pool => Err(TyriosError::InsufficientPoints {
            requested: n,
            available: pool,
        }),
        Some(n) => Ok(n),
    }
}

fn line(coupon: &Coupon, value_after: Cents, mode: Option<&'static str>) -> CouponLine {
    CouponLine {
        id: Some(coupon.id),
        code: coupon.coupon_code.clone(),
        value_after,
        original: coupon.original_value,
        valid_until: coupon.valid_until,
        mode,
    }
}

fn require_product_group(req: &TxRequest) -> Result<(), TyriosError> {
    match &req.product_group {
        Some(p) if !p.trim().is_empty() => Ok(()),
        _ => Err(TyriosError::MissingField("productGroup".into())),
    }
}

/// Evaluates a transaction and, unless `draft`, commits it. Returns the record the answer is
/// rendered from.
///
/// In steps: the request's shape ([`check_shape`]), who it is for ([`resolve_party`]), the
/// record and plan every kind starts from ([`Evaluation::start`]), the plan of its kind, then
/// the fee and, for a final transaction, the commit. Everything that can refuse runs before the
/// commit, so a refused transaction changes nothing, and draft and final share all of it.
pub fn execute(
    state: &mut State,
    company_id: u64,
    kind: TxKind,
    req: &TxRequest,
    draft: bool,
    now: Millis,
) -> Result<TxRecord, TyriosError> {
    let company = state
        .companies
        .get(&company_id)
        .cloned()
        .ok_or(TyriosError::Unauthorized)?;
    // Shape of the request first, so a till learns about a missing field before a lookup fails.
    check_shape(kind, req)?;
    let party = resolve_party(state, req)?;
    let mut tx = Evaluation::start(state, company_id, kind, req, &party, draft, now);
    match kind {
        TxKind::Pos | TxKind::Coupon => plan_coupon_payment(state, &company, kind, req, &mut tx)?,
        TxKind::CouponActivation => plan_coupon_activation(state, company_id, req, &mut tx)?,
        TxKind::Cash => plan_cash(req, &mut tx),
        TxKind::SpecialPoints => plan_special_points(req, &mut tx),
    }
    let Evaluation { mut rec, plan, .. } = tx;
    rec.fee = percent_of(rec.total, ppm(company.transaction_fee_percentage));

    if !draft {
        apply(state, plan, now);
        state.next_transaction_id += 1;
        if let Some(id) = rec.user_id
            && let Some(user) = state.users.get(&id)
        {
            rec.user = Some(UserDataJson::of(user, now));
        }
        crate::retention::commit(state, rec.clone());
    }
    Ok(rec)
}

/// The fields each kind requires, checked before anything is looked up.
fn check_shape(kind: TxKind, req: &TxRequest) -> Result<(), TyriosError> {
    let has_user = !matches!(req.user, UserRef::None);
    match kind {
        TxKind::Pos => {
            if !has_user && req.coupons.is_empty() {
                return Err(TyriosError::UserOrCouponRequired);
            }
            require_product_group(req)?;
            // Without an amount, pos books the coupons onto the user's account (the seed's case 1.4).
            let is_transfer = has_user && !req.coupons.is_empty();
            if req.total.is_none() && !is_transfer {
                return Err(TyriosError::MissingField("totalAmount".into()));
            }
        }
        TxKind::Coupon => {
            if !has_user {
                return Err(TyriosError::UserRequired);
            }
            if req.coupons.is_empty() {
                return Err(TyriosError::CouponRequired);
            }
        }
        TxKind::CouponActivation => {
            if req.coupons.is_empty() {
                return Err(TyriosError::CouponRequired);
            }
        }
        TxKind::Cash => {
            if !has_user {
                return Err(TyriosError::UserRequired);
            }
            require_product_group(req)?;
            match req.total {
                None => return Err(TyriosError::MissingField("totalAmount".into())),
                Some(0) => {
                    return Err(TyriosError::InvalidField(
                        "totalAmount".into(),
                        Expected::PositiveAmount,
                    ));
                }
                Some(_) => {}
            }
        }
        TxKind::SpecialPoints => {
            if !has_user {
                return Err(TyriosError::UserRequired);
            }
            require_product_group(req)?;
            match req.obtained_points {
                None => return Err(TyriosError::MissingField("obtainedPoints".into())),
                // Points are cents: the same ceiling as amounts keeps every sum far from overflow.
                Some(n) if n <= 0 || n > MAX_CENTS => {
                    return Err(TyriosError::InvalidField(
                        "obtainedPoints".into(),
                        Expected::PositiveCount,
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// A transaction being evaluated: the record the answer is rendered from and the plan a final
/// transaction commits, with what every kind's plan needs to know.
struct Evaluation {
    rec: TxRecord,
    plan: Plan,
    /// The user's balance before the transaction (0 without a user).
    start: i64,
    /// Whether the transaction is for a user (existing or created by it).
    with_user: bool,
    /// Validity end of points and coupons booked now.
    validity: Millis,
    /// The id a final transaction gets; `None` for a draft.
    tx_id: Option<u64>,
    draft: bool,
}

impl Evaluation {
    /// The record as it stands before the kind's plan: the user as before, nothing booked.
    fn start(
        state: &State,
        company_id: u64,
        kind: TxKind,
        req: &TxRequest,
        party: &Party,
        draft: bool,
        now: Millis,
    ) -> Self {
        let mut plan = Plan::default();
        let (start, user_json_before) = match party {
            Party::Nobody => (0, None),
            Party::Existing(id) => {
                let user = &state.users[id];
                plan.user_id = Some(*id);
                (user.balance(now), Some(UserDataJson::of(user, now)))
            }
            Party::New(obj) => {
                let (user, mail) = build_user(state, obj);
                plan.user_id = Some(user.id);
                let shown = UserDataJson::not_yet_created(obj);
                if !draft {
                    plan.new_user = Some(user);
                    plan.mail = mail;
                }
                (0, Some(shown))
            }
        };
        let tx_id = (!draft).then_some(state.next_transaction_id);
        let rec = TxRecord {
            id: tx_id,
            company: company_id,
            kind,
            time: now,
            user_id: if draft {
                plan.user_id.filter(|_| !matches!(party, Party::New(_)))
            } else {
                plan.user_id
            },
            user: user_json_before,
            user_mode: req.user_mode,
            product_group: req.product_group.clone(),
            total: 0,
            remaining: 0,
            redeemed: 0,
            obtained: 0,
            start,
            resulting: start,
            coupon_points: None,
            available_obtained: 0,
            obtained_valid_until: None,
            coupons: Vec::new(),
            fee: 0,
            enable_point_redemption: req.enable_point_redemption,
            employee_number: req.employee_number.clone(),
        };
        Self {
            rec,
            plan,
            start,
            with_user: !matches!(party, Party::Nobody),
            validity: valid_until(now),
            tx_id,
            draft,
        }
    }
}

/// `pos` and `coupon`: coupons (and, with a user, account points) pay for the amount.
fn plan_coupon_payment(
    state: &State,
    company: &Company,
    kind: TxKind,
    req: &TxRequest,
    tx: &mut Evaluation,
) -> Result<(), TyriosError> {
    let now = tx.rec.time;
    let coupons = payable_coupons(state, &req.coupons, now)?;
    let coupon_sum: Cents = coupons.iter().map(|c| c.value).sum();
    let total = if kind == TxKind::Coupon {
        0
    } else {
        req.total.unwrap_or(0)
    };
    let (rec, plan, start, validity) = (&mut tx.rec, &mut tx.plan, tx.start, tx.validity);
    rec.total = total;
    if tx.with_user {
        // The coupons are converted into points on the account and deactivated.
        let own = if req.enable_point_redemption { start } else { 0 };
        let redeemed = points_to_redeem(req.redeemed_points, own + coupon_sum, total)?;
        let obtained = bonus(company, total - redeemed);
        rec.coupon_points = (!coupons.is_empty()).then_some(coupon_sum);
        rec.redeemed = redeemed;
        rec.remaining = total - redeemed;
        rec.obtained = obtained;
        rec.resulting = start + coupon_sum - redeemed + obtained;
        rec.available_obtained = obtained;
        rec.obtained_valid_until = (obtained > 0).then_some(validity);
        for c in &coupons {
            rec.coupons.push(line(c, 0, None));
            plan.coupons.push(Coupon { value: 0, ..c.clone() });
        }
        if req.enable_point_redemption {
            // Oldest points first, the converted coupon value being the newest.
            plan.lots_in.push(Lot {
                points: coupon_sum,
                valid_until: validity,
                source: None,
            });
            plan.consume = redeemed;
        } else {
            // Account points stay untouched: the redemption comes out of the coupons.
            plan.lots_in.push(Lot {
                points: coupon_sum - redeemed,
                valid_until: validity,
                source: None,
            });
        }
        plan.obtained_lot = Some(Lot {
            points: obtained,
            valid_until: validity,
            source: tx.tx_id,
        });
    } else {
        if company.coupon_environment == CouponEnvironment::PartiallyDigital
            && coupon_sum > total
            && let Some(c) = coupons.last()
        {
            return Err(TyriosError::CouponExceedsAmount(c.coupon_code.clone()));
        }
        let redeemed = points_to_redeem(req.redeemed_points, coupon_sum, total)?;
        let mut left = redeemed;
        for c in &coupons {
            let take = c.value.min(left);
            left -= take;
            if c.kind == CouponKind::Analog && take < c.value {
                return Err(TyriosError::AnalogCouponPartial(c.coupon_code.clone()));
            }
            rec.coupons.push(line(c, c.value - take, None));
            plan.coupons.push(Coupon {
                value: c.value - take,
                ..c.clone()
            });
        }
        rec.start = coupon_sum;
        rec.redeemed = redeemed;
        rec.remaining = total - redeemed;
        rec.resulting = coupon_sum - redeemed;
    }
    Ok(())
}

/// `couponActivation`: coupons are sold (created when unknown); the buyer may pay with points.
fn plan_coupon_activation(
    state: &State,
    company_id: u64,
    req: &TxRequest,
    tx: &mut Evaluation,
) -> Result<(), TyriosError> {
    check_duplicates(&req.coupons)?;
    let validity = tx.validity;
    let mut total = 0;
    let mut next_coupon_id = state.next_coupon_id;
    for r in &req.coupons {
        let code = normalise_code(&r.code)?;
        let given = r.value.or(req.coupon_value);
        let (coupon, mode) = match state.coupons.get(&code) {
            Some(c) if c.state == CouponState::Active => {
                return Err(TyriosError::CouponAlreadyActivated(code));
            }
            Some(c) => {
                if given.is_some_and(|v| v != c.value) {
                    return Err(TyriosError::CouponValueOverwrite(code));
                }
                (c.clone(), "activation")
            }
            None => {
                let value = given.ok_or_else(|| TyriosError::CouponValueMissing(code.clone()))?;
                if value == 0 {
                    return Err(TyriosError::InvalidField(
                        "couponValue".into(),
                        Expected::PositiveAmount,
                    ));
                }
                next_coupon_id += 1;
                let coupon = Coupon {
                    id: next_coupon_id - 1,
                    coupon_code: code.clone(),
                    value,
                    original_value: value,
                    state: CouponState::Registered,
                    kind: state.kind_for_code(company_id, &code),
                    valid_until: None,
                };
                (coupon, "creation")
            }
        };
        let sold = Coupon {
            state: CouponState::Active,
            original_value: coupon.value,
            valid_until: Some(validity),
            ..coupon
        };
        total += sold.value;
        let mut l = line(&sold, sold.value, Some(mode));
        if tx.draft && mode == "creation" {
            l.id = None;
        }
        tx.rec.coupons.push(l);
        tx.plan.coupons.push(sold);
    }
    let own = if tx.with_user && req.enable_point_redemption {
        tx.start
    } else {
        0
    };
    let redeemed = points_to_redeem(req.redeemed_points, own, total)?;
    let rec = &mut tx.rec;
    rec.total = total;
    rec.redeemed = redeemed;
    rec.remaining = total - redeemed;
    // The points loaded onto the coupons; the buyer earns no bonus for a coupon.
    rec.obtained = total;
    rec.obtained_valid_until = Some(validity);
    rec.resulting = tx.start - redeemed;
    tx.plan.consume = redeemed;
    Ok(())
}

/// `cash`: money paid in becomes points, one per cent.
fn plan_cash(req: &TxRequest, tx: &mut Evaluation) {
    let total = req.total.unwrap_or(0);
    let rec = &mut tx.rec;
    rec.total = total;
    rec.remaining = total;
    rec.obtained = total;
    rec.resulting = tx.start + total;
    rec.available_obtained = total;
    rec.obtained_valid_until = Some(tx.validity);
    tx.plan.obtained_lot = Some(Lot {
        points: total,
        valid_until: tx.validity,
        source: tx.tx_id,
    });
}

/// `specialPoints`: points granted without a purchase.
fn plan_special_points(req: &TxRequest, tx: &mut Evaluation) {
    let obtained = req.obtained_points.unwrap_or(0);
    let rec = &mut tx.rec;
    rec.obtained = obtained;
    rec.resulting = tx.start + obtained;
    rec.available_obtained = obtained;
    rec.obtained_valid_until = Some(tx.validity);
    tx.plan.obtained_lot = Some(Lot {
        points: obtained,
        valid_until: tx.validity,
        source: tx.tx_id,
    });
}

/// Commits a plan. Cannot fail: everything was checked during evaluation.
fn apply(state: &mut State, plan: Plan, now: Millis) {
    if let Some(user) = plan.new_user {
        insert_user(state, user, plan.mail, now);
    }
    if let Some(id) = plan.user_id
        && let Some(user) = state.users.get_mut(&id)
    {
        user.expire(now);
        for lot in plan.lots_in {
            user.add_lot(lot);
        }
        user.consume(plan.consume, now);
        if let Some(lot) = plan.obtained_lot {
            user.add_lot(lot);
        }
    }
    for coupon in plan.coupons {
        state.next_coupon_id = state.next_coupon_id.max(coupon.id + 1);
        state.coupons.insert(coupon.coupon_code.clone(), coupon);
    }
}

/// A coupon inside an answer, fields in the order of the seed's coupon structure.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CouponJson<'a> {
    id: Option<u64>,
    coupon_code: &'a str,
    coupon_value: Value,
    original_value: Value,
    valid_until: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
}

/// `BonusPointSharingCompany`, fields in the seed's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CompanyJson<'a> {
    id: u64,
    company_name: &'a str,
    street: &'a str,
    street_no: &'a str,
    post_code: &'a str,
    city: &'a str,
}

/// A transaction answer: top-level keys in the sorted order of the seed's full example, nested
/// objects in declaration order as the seed shows them. Serialised straight from borrowed data
/// because it is rendered for every transaction request (the hot path under load).
#[derive(Debug, Serialize)]
#[allow(non_snake_case)]
pub struct TransactionJson<'a> {
    BonusPointCouponData: Option<Vec<CouponJson<'a>>>,
    BonusPointSharingCompany: CompanyJson<'a>,
    BonusPointTransactionDataDetail: Option<()>,
    ClearingBillData: Option<()>,
    FeeBillData: Option<()>,
    UserData: Option<&'a UserDataJson>,
    availableObtainedPoints: i64,
    bonusPointMode: &'static str,
    bonusPointPercentage: f64,
    clearingCreated: Option<()>,
    /// The seed's answer for a coupon sale with a user carries the (version 2) single-coupon
    /// fields at the top level; they mirror the first coupon.
    #[serde(skip_serializing_if = "Option::is_none")]
    couponCode: Option<&'a str>,
    couponPoints: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    couponValue: Option<Value>,
    employeeNumber: &'a Value,
    enablePointRedemption: bool,
    id: Option<u64>,
    obtainedPoints: i64,
    obtainedPointsValidUntil: Option<Millis>,
    productGroup: Option<&'a str>,
    redeemedPoints: i64,
    remainingAmount: Value,
    resultingPoints: i64,
    startPoints: i64,
    totalAmount: Value,
    transactionFee: Value,
    transactionTime: Millis,
    transactionType: &'static str,
    use4Clearing: Option<()>,
    use4Invoice: Option<()>,
    userMode: &'static str,
}

/// Renders a transaction answer. `available_obtained` is the live value for the overview, or the
/// value at creation.
pub fn transaction_answer<'a>(rec: &'a TxRecord, company: &'a Company, available_obtained: i64) -> TransactionJson<'a> {
    let first = rec.coupons.first().filter(|_| rec.kind == TxKind::CouponActivation);
    TransactionJson {
        BonusPointCouponData: (!rec.coupons.is_empty()).then(|| {
            rec.coupons
                .iter()
                .map(|c| CouponJson {
                    id: c.id,
                    coupon_code: &c.code,
                    coupon_value: cents_to_json(c.value_after),
                    original_value: if c.original != c.value_after {
                        cents_to_json(c.original)
                    } else {
                        Value::Null
                    },
                    valid_until: c.valid_until,
                    mode: c.mode,
                })
                .collect()
        }),
        BonusPointSharingCompany: CompanyJson {
            id: company.id,
            company_name: &company.company_name,
            street: &company.street,
            street_no: &company.street_no,
            post_code: &company.post_code,
            city: &company.city,
        },
        BonusPointTransactionDataDetail: None,
        ClearingBillData: None,
        FeeBillData: None,
        UserData: rec.user.as_ref(),
        availableObtainedPoints: available_obtained,
        bonusPointMode: match company.bonus_point_mode {
            BonusMode::Percentage => "percentage",
            BonusMode::Fixed => "fixed",
        },
        bonusPointPercentage: company.bonus_point_percentage,
        clearingCreated: None,
        couponCode: first.map(|c| c.code.as_str()),
        couponPoints: rec.coupon_points,
        couponValue: first.map(|c| cents_to_json(c.value_after)),
        employeeNumber: &rec.employee_number,
        enablePointRedemption: rec.enable_point_redemption,
        id: rec.id,
        obtainedPoints: rec.obtained,
        obtainedPointsValidUntil: rec.obtained_valid_until,
        productGroup: rec.product_group.as_deref(),
        redeemedPoints: rec.redeemed,
        remainingAmount: cents_to_json(rec.remaining),
        resultingPoints: rec.resulting,
        startPoints: rec.start,
        totalAmount: cents_to_json(rec.total),
        transactionFee: cents_to_json(rec.fee),
        transactionTime: rec.time,
        transactionType: rec.kind.transaction_type(),
        use4Clearing: None,
        use4Invoice: None,
        userMode: rec.user_mode.as_str(),
    }
}

/// [`transaction_answer`] as a JSON value (overview, snapshots, competing changes).
pub fn transaction_json(rec: &TxRecord, company: &Company, available_obtained: i64) -> Value {
    serde_json::to_value(transaction_answer(rec, company, available_obtained)).unwrap_or(Value::Null)
}

/// Points of transaction `tx` that are still unused: the live `availableObtainedPoints`.
pub fn available_obtained_now(state: &State, rec: &TxRecord, now: Millis) -> i64 {
    let (Some(tx), Some(user)) = (rec.id, rec.user_id.and_then(|id| state.users.get(&id))) else {
        return 0;
    };
    user.lots
        .iter()
        .filter(|l| l.source == Some(tx) && l.valid_until > now)
        .map(|l| l.points)
        .sum()
}

/// Filters for the transaction overview.
#[derive(Debug, Clone, Default)]
pub struct OverviewQuery {
    /// Only this user's transactions.
    pub user_id: Option<u64>,
    /// From this time on (inclusive), epoch milliseconds.
    pub from: Option<Millis>,
    /// Before this time (exclusive).
    pub to: Option<Millis>,
    /// Page size.
    pub limit: usize,
    /// Page start.
    pub offset: usize,
}

/// The transaction overview of a company (our design; the seed names it without an endpoint).
pub fn overview(state: &State, company_id: u64, q: &OverviewQuery, now: Millis) -> Value {
    let Some(company) = state.companies.get(&company_id) else {
        return json!({"total": 0, "transactions": []});
    };
    let matching: Vec<&TxRecord> = state
        .transactions
        .iter()
        .rev()
        .filter(|t| t.company == company_id)
        .filter(|t| q.user_id.is_none() || t.user_id == q.user_id)
        .filter(|t| q.from.is_none_or(|f| t.time >= f))
        .filter(|t| q.to.is_none_or(|to| t.time < to))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|t| transaction_json(t, company, available_obtained_now(state, t, now)))
        .collect();
    json!({"total": matching.len(), "offset": q.offset, "limit": q.limit, "transactions": page})
}

/// One committed transaction of a company.
pub fn transaction_by_id(state: &State, company_id: u64, id: u64, now: Millis) -> Result<Value, TyriosError> {
    let company = state.companies.get(&company_id).ok_or(TyriosError::Unauthorized)?;
    state
        .transactions
        .iter()
        .find(|t| t.id == Some(id) && t.company == company_id)
        .map(|t| transaction_json(t, company, available_obtained_now(state, t, now)))
        .ok_or(TyriosError::TransactionNotFound(id))
}

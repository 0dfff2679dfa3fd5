//! The PAYBACK mock's state and its data set file `payback.toml`.
//!
//! Members own point lots (each with the time it was earned, which fixes its expiry), up to two
//! cards, a PIN with a failure counter and a registration status. Partners own credentials,
//! branches and an earn rule. The newest bookings (purchases, redemptions) and stored answers of
//! each partner are kept, so reversals and replays can refer to them; older ones are summarised
//! (`crate::retention`).

use std::collections::BTreeMap;

use possim_engine::EngineError;
use possim_engine::clock::{Millis, parse_rfc3339};
use possim_engine::dataset::DataSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::card;

/// Points below this cannot be redeemed [DOC: PAYBACK app terms, "at least 200 points"].
pub const MIN_REDEMPTION: i64 = 200;
/// Wrong PIN entries before the PIN locks [DOC: payback.at FAQ, reset after three wrong entries].
pub const PIN_TRIES: u32 = 3;
/// How long a `pinToken` stays valid [ours].
pub const PIN_TOKEN_MS: Millis = 5 * 60 * 1000;
/// Default 5-digit prefix of a member's main card [ours: obviously not a real issuer prefix].
pub const DEFAULT_MAIN_PREFIX: &str = "99999";
/// Default prefix of the second card [ours].
pub const DEFAULT_SECOND_PREFIX: &str = "99998";

/// Registration status of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberStatus {
    /// May collect and redeem.
    Registered,
    /// May collect, not redeem [DOC: points can be collected before registration].
    Unregistered,
    /// Neither.
    Blocked,
    /// Neither.
    Closed,
}

/// Main or second card [DOC: every account comes with two cards].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CardType {
    /// The main card.
    Main,
    /// The second card.
    Second,
}

/// A card of a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    /// 16 digits.
    pub number: String,
    /// Main or second.
    #[serde(rename = "type")]
    pub kind: CardType,
    /// A blocked card is refused even when the member is not.
    pub blocked: bool,
}

/// Points earned at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lot {
    /// Points left in the lot.
    pub points: i64,
    /// When they were earned (epoch ms); fixes the expiry.
    pub earned_at: Millis,
}

/// A member.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// 10 digits.
    pub customer_number: String,
    /// The PAYBACK PAY `customerid` of the same person.
    pub customer_id: Option<String>,
    /// First name.
    pub pre_name: String,
    /// Last name.
    pub name: String,
    /// Registration status.
    pub status: MemberStatus,
    /// 4 digits.
    pub pin: String,
    /// Consecutive wrong PIN entries.
    pub pin_failures: u32,
    /// Point lots, oldest first.
    pub lots: Vec<Lot>,
    /// Cards.
    pub cards: Vec<Card>,
    /// Points that expired, for the snapshot.
    pub expired_points: i64,
}

/// The end of 30 September, Vienna summer time (UTC+2), three years after the end of the
/// points year (1 October – 30 September) the points were earned in: valid at least 36 months,
/// expiring on a 30 September [DOC: valid 36 months, expiring on 30 September; the points-year
/// reading is ours].
pub fn expires_at(earned_at: Millis) -> Millis {
    // The points year turns at midnight in Vienna, which is UTC+2 at the end of September.
    let local = time::OffsetDateTime::from_unix_timestamp(earned_at.div_euclid(1000) + VIENNA_SUMMER_SECS);
    let year = local.map_or(2000, |t| {
        if t.month() >= time::Month::October {
            t.year() + 1
        } else {
            t.year()
        }
    });
    let end = time::Date::from_calendar_date(year + 3, time::Month::October, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(i64::MAX / 1000);
    (end - VIENNA_SUMMER_SECS) * 1000
}

/// Vienna's offset from UTC in summer time, in seconds.
const VIENNA_SUMMER_SECS: i64 = 2 * 3600;

impl Member {
    /// Points valid at `now`.
    pub fn balance(&self, now: Millis) -> i64 {
        self.lots
            .iter()
            .filter(|l| expires_at(l.earned_at) > now)
            .map(|l| l.points)
            .sum()
    }

    /// Moves expired lots out of the balance.
    pub fn expire(&mut self, now: Millis) {
        let (expired, kept): (Vec<Lot>, Vec<Lot>) = self.lots.drain(..).partition(|l| expires_at(l.earned_at) <= now);
        self.expired_points += expired.iter().map(|l| l.points).sum::<i64>();
        self.lots = kept;
    }

    /// A masked name for an answer without PIN: initial and last name's initial.
    pub fn masked_name(&self) -> String {
        let initial = |s: &str| s.chars().next().map(|c| format!("{c}.")).unwrap_or_default();
        format!("{} {}", initial(&self.pre_name), initial(&self.name))
            .trim()
            .to_owned()
    }
}

/// Multiplier or extra points [DOC: "10fach", "20fach" or fixed extra points].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CouponType {
    /// The base points times `value` (so `value − 1` times extra).
    Multiplier,
    /// `value` extra points.
    ExtraPoints,
}

/// An action coupon.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    /// Barcode text.
    pub code: String,
    /// Multiplier or extra points.
    #[serde(rename = "type")]
    pub kind: CouponType,
    /// Factor or points.
    pub value: i64,
    /// First valid instant.
    pub valid_from: Option<Millis>,
    /// Last valid instant (exclusive).
    pub valid_until: Option<Millis>,
    /// Partner short name it is valid at; any partner when absent.
    pub partner: Option<String>,
    /// Must be activated in the app first [DOC: app-activated coupons need no presentation].
    pub requires_activation: bool,
    /// Customer numbers that activated it.
    pub activated_by: Vec<String>,
    /// Customer numbers that used it (single use per member).
    pub used_by: Vec<String>,
}

/// A branch of a partner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Branch {
    /// Branch id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Geolocation ("update geolocation" in the POS configuration).
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Geolocation.
    #[serde(default)]
    pub longitude: Option<f64>,
}

/// A partner (a retailer with PAYBACK).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Partner {
    /// "Kurzname des Partners" [seed 000].
    pub short_name: String,
    /// "Benutzer" [seed 000].
    pub user: String,
    /// "Passwort" [seed 000].
    #[serde(skip_serializing)]
    pub password: String,
    /// `DE` or `AT`.
    #[serde(default = "default_country")]
    pub country: String,
    /// Cents of eligible turnover per point (200 = 1 point per 2 EUR).
    #[serde(default = "default_cents_per_point")]
    pub cents_per_point: i64,
    /// Branches.
    #[serde(default)]
    pub branches: Vec<Branch>,
}

fn default_country() -> String {
    "AT".into()
}

fn default_cents_per_point() -> i64 {
    200
}

/// A booked purchase (points collected).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    /// `P-<n>`.
    pub purchase_id: String,
    /// Partner.
    pub partner: String,
    /// Member.
    pub customer_number: String,
    /// Receipt number of the till.
    pub receipt_number: String,
    /// Eligible turnover in cents.
    pub eligible_amount_cents: i64,
    /// Base points.
    pub base_points: i64,
    /// Accepted multiplier factors (for partial reversals).
    pub multipliers: Vec<i64>,
    /// Extra points of accepted coupons.
    pub extra_points: i64,
    /// All points booked.
    pub total_points: i64,
    /// Eligible cents reversed so far.
    pub reversed_cents: i64,
    /// Points reversed so far.
    pub reversed_points: i64,
    /// Coupon codes accepted.
    pub coupons: Vec<String>,
    /// Booked at.
    pub at: Millis,
}

/// A booked redemption.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redemption {
    /// `R-<n>`.
    pub redemption_id: String,
    /// Partner.
    pub partner: String,
    /// Member.
    pub customer_number: String,
    /// Receipt number.
    pub receipt_number: String,
    /// Points redeemed (1 point = 1 cent).
    pub points: i64,
    /// Lots the points came from (`earnedAt`, points), so a reversal restores their expiry.
    pub taken: Vec<Lot>,
    /// Points given back so far.
    pub reversed_points: i64,
    /// Booked at.
    pub at: Millis,
}

/// A stored answer for idempotent replays.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Idempotent {
    /// The operation (`purchase`, `redemption`, `purchase-reversal`, …).
    pub operation: String,
    /// The request as received.
    pub request: Value,
    /// The answer given.
    pub answer: crate::answers::StoredAnswer,
}

/// An issued PIN token.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PinToken {
    /// Member.
    pub customer_number: String,
    /// Partner that asked.
    pub partner: String,
    /// Valid until.
    pub expires_at: Millis,
}

/// The whole state.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Partners by short name.
    pub partners: BTreeMap<String, Partner>,
    /// Members by customer number.
    pub members: BTreeMap<String, Member>,
    /// Card number → customer number.
    pub cards: BTreeMap<String, String>,
    /// Coupons by code (upper case).
    pub coupons: BTreeMap<String, Coupon>,
    /// Purchases by id.
    pub purchases: BTreeMap<String, Purchase>,
    /// Redemptions by id.
    pub redemptions: BTreeMap<String, Redemption>,
    /// (partner, transactionId) → stored answer.
    pub idempotency: BTreeMap<(String, String), Idempotent>,
    /// Issued PIN tokens.
    pub pin_tokens: BTreeMap<String, PinToken>,
    /// Counter for ids.
    pub next_id: u64,
    /// Newest bookings, stored answers and PIN tokens kept per partner (`[retention]`).
    pub retain: usize,
    /// The order of what is kept, and the summaries of what was forgotten.
    pub history: crate::retention::History,
}

/// `payback.toml`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    #[serde(default)]
    main_card_prefix: Option<String>,
    #[serde(default)]
    second_card_prefix: Option<String>,
    #[serde(default)]
    partners: Vec<Partner>,
    #[serde(default)]
    members: Vec<MemberFile>,
    #[serde(default)]
    coupons: Vec<CouponFile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MemberFile {
    customer_number: String,
    #[serde(default)]
    customer_id: Option<String>,
    pre_name: String,
    name: String,
    #[serde(default = "registered")]
    status: MemberStatus,
    pin: String,
    #[serde(default)]
    pin_failures: u32,
    #[serde(default)]
    lots: Vec<LotFile>,
    /// Which cards exist; both when absent.
    #[serde(default)]
    cards: Option<Vec<CardFile>>,
}

fn registered() -> MemberStatus {
    MemberStatus::Registered
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LotFile {
    points: i64,
    earned_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CardFile {
    #[serde(rename = "type")]
    kind: CardType,
    #[serde(default)]
    blocked: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CouponFile {
    code: String,
    #[serde(rename = "type")]
    kind: CouponType,
    value: i64,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_until: Option<String>,
    #[serde(default)]
    partner: Option<String>,
    #[serde(default)]
    requires_activation: bool,
    #[serde(default)]
    activated_by: Vec<String>,
}

impl possim_engine::state::ProviderState for State {
    fn from_data_set(data: &DataSet) -> Result<Self, EngineError> {
        State::from_data_set(data)
    }
}

impl State {
    /// Builds the state from `payback.toml` (empty when the set has none).
    pub fn from_data_set(data: &DataSet) -> Result<Self, EngineError> {
        let bad = |message: String| EngineError::DataSet {
            name: data.name.clone(),
            message: format!("payback.toml: {message}"),
        };
        let retain = data.settings.retention.transactions;
        let Some(file) = data.parse_file::<File>("payback.toml")? else {
            return Ok(State {
                retain,
                ..State::default()
            });
        };
        let main_prefix = file.main_card_prefix.unwrap_or_else(|| DEFAULT_MAIN_PREFIX.into());
        let second_prefix = file.second_card_prefix.unwrap_or_else(|| DEFAULT_SECOND_PREFIX.into());
        for prefix in [&main_prefix, &second_prefix] {
            if prefix.len() != 5 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("card prefix {prefix:?} must be 5 digits")));
            }
        }
        let mut state = State {
            next_id: 1,
            retain,
            ..State::default()
        };
        for partner in file.partners {
            if partner.cents_per_point <= 0 {
                return Err(bad(format!(
                    "partner {}: centsPerPoint must be > 0",
                    partner.short_name
                )));
            }
            if state
                .partners
                .insert(partner.short_name.clone(), partner.clone())
                .is_some()
            {
                return Err(bad(format!("partner {} is listed twice", partner.short_name)));
            }
        }
        for m in file.members {
            if m.customer_number.len() != 10 || !m.customer_number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("customerNumber {:?} must be 10 digits", m.customer_number)));
            }
            if m.pin.len() != 4 || !m.pin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("member {}: pin must be 4 digits", m.customer_number)));
            }
            let mut lots = Vec::new();
            for lot in m.lots {
                let earned_at = parse_rfc3339(&lot.earned_at)
                    .map_err(|e| bad(format!("member {}: earnedAt: {e}", m.customer_number)))?;
                if lot.points <= 0 || lot.points > 1_000_000_000 {
                    return Err(bad(format!(
                        "member {}: lot points must be 1..=10^9",
                        m.customer_number
                    )));
                }
                lots.push(Lot {
                    points: lot.points,
                    earned_at,
                });
            }
            lots.sort_by_key(|l| l.earned_at);
            let card_files = m.cards.unwrap_or_else(|| {
                vec![
                    CardFile {
                        kind: CardType::Main,
                        blocked: false,
                    },
                    CardFile {
                        kind: CardType::Second,
                        blocked: false,
                    },
                ]
            });
            let mut cards = Vec::new();
            for c in card_files {
                let prefix = match c.kind {
                    CardType::Main => &main_prefix,
                    CardType::Second => &second_prefix,
                };
                let number = card::card_number(prefix, &m.customer_number);
                state.cards.insert(number.clone(), m.customer_number.clone());
                cards.push(Card {
                    number,
                    kind: c.kind,
                    blocked: c.blocked,
                });
            }
            let member = Member {
                customer_number: m.customer_number.clone(),
                customer_id: m.customer_id,
                pre_name: m.pre_name,
                name: m.name,
                status: m.status,
                pin: m.pin,
                pin_failures: m.pin_failures,
                lots,
                cards,
                expired_points: 0,
            };
            if state.members.insert(m.customer_number.clone(), member).is_some() {
                return Err(bad(format!("member {} is listed twice", m.customer_number)));
            }
        }
        for c in file.coupons {
            let time = |v: Option<String>, what: &str| {
                v.map(|t| parse_rfc3339(&t).map_err(|e| bad(format!("coupon {}: {what}: {e}", c.code))))
                    .transpose()
            };
            if c.value <= 0 {
                return Err(bad(format!("coupon {}: value must be > 0", c.code)));
            }
            let coupon = Coupon {
                code: c.code.to_ascii_uppercase(),
                kind: c.kind,
                value: c.value,
                valid_from: time(c.valid_from, "validFrom")?,
                valid_until: time(c.valid_until, "validUntil")?,
                partner: c.partner,
                requires_activation: c.requires_activation,
                activated_by: c.activated_by,
                used_by: Vec::new(),
            };
            state.coupons.insert(coupon.code.clone(), coupon);
        }
        Ok(state)
    }

    /// A fresh id with a prefix (`P-1`, `R-2`, …).
    pub fn next_id(&mut self, prefix: &str) -> String {
        let id = self.next_id;
        self.next_id += 1;
        format!("{prefix}-{id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_expire_on_30_september_of_the_third_year() {
        // Earned 2026-01-15 → expire at the end of 2029-09-30, Vienna summer time:
        // 2029-09-30T22:00:00Z = 1885500000000 (computed: date -d 2029-09-30T22:00:00Z +%s).
        let earned = parse_rfc3339("2026-01-15T10:00:00Z").unwrap();
        assert_eq!(expires_at(earned), 1_885_500_000_000);
        // Earned after 30 September: the next points year, so never less than 36 months:
        // 2030-09-30T22:00:00Z = 1917036000000.
        let late = parse_rfc3339("2026-12-31T20:00:00Z").unwrap();
        assert_eq!(expires_at(late), 1_917_036_000_000);
        // 30 September, 21:59 UTC is 23:59 in Vienna: this points year; 22:00 UTC is October.
        let edge = parse_rfc3339("2026-09-30T21:59:00Z").unwrap();
        assert_eq!(expires_at(edge), 1_885_500_000_000);
        let after = parse_rfc3339("2026-09-30T22:00:00Z").unwrap();
        assert_eq!(expires_at(after), 1_917_036_000_000);
    }
}

//! The answers of the PAYBACK operations as types: what `domain` returns, what the HTTP
//! handlers serialise onto the wire and what in-process callers (the virtual terminal's PAYBACK
//! host) read field by field. One type per answer means a renamed field is a compile error for
//! every reader, not a zero read back from a JSON lookup.
//!
//! Field order is the wire's key order (serde keeps declaration order); optional fields that are
//! absent are left out, not written as `null`. `tests/wire.rs` pins the bytes.

use serde::Serialize;
use serde_json::Value;

use crate::model::{CardType, CouponType, MemberStatus};

/// An answer as a JSON value (for the journal of a competing change). Serialising these types
/// cannot fail (structs with string keys only); `null` would stand for the impossible case.
pub fn to_json(answer: &impl Serialize) -> Value {
    serde_json::to_value(answer).unwrap_or(Value::Null)
}

/// A card in a lookup answer, its number masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardSummary {
    /// Main or second card.
    #[serde(rename = "type")]
    pub kind: CardType,
    /// All but the last four digits masked.
    pub number: String,
    /// Whether the card is blocked.
    pub blocked: bool,
}

/// `POST /members/lookup`: status and masked name; no balance without the PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    /// The member's customer number.
    pub customer_number: String,
    /// Registration status.
    pub status: MemberStatus,
    /// Initials only.
    pub masked_name: String,
    /// Whether three wrong PINs locked the PIN.
    pub pin_locked: bool,
    /// The member's cards.
    pub cards: Vec<CardSummary>,
}

/// `POST /members/authenticate`: a PIN token and the balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Authenticated {
    /// Token for a redemption without the PIN.
    pub pin_token: String,
    /// When the token expires (RFC 3339).
    pub expires_at: String,
    /// The member's customer number.
    pub customer_number: String,
    /// Registration status.
    pub status: MemberStatus,
    /// Points on the account now.
    pub balance: i64,
    /// What of it may be redeemed (0 below the minimum or when not registered).
    pub redeemable_balance: i64,
}

/// What became of one coupon of a purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CouponOutcome {
    /// The code, trimmed and upper case.
    pub code: String,
    /// Whether it counted.
    pub accepted: bool,
    /// Why not (an error code), for a refused coupon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Multiplier or extra points, for an accepted coupon.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CouponType>,
    /// Its factor or points, for an accepted coupon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// The points it earned on this purchase, for an accepted coupon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
}

impl CouponOutcome {
    /// A coupon that counted, earning `points`.
    pub fn accepted(code: String, kind: CouponType, value: i64, points: i64) -> Self {
        Self {
            code,
            accepted: true,
            reason: None,
            kind: Some(kind),
            value: Some(value),
            points: Some(points),
        }
    }

    /// A coupon that did not count, and why.
    pub fn refused(code: String, reason: &'static str) -> Self {
        Self {
            code,
            accepted: false,
            reason: Some(reason),
            kind: None,
            value: None,
            points: None,
        }
    }
}

/// `POST /purchases`: the points collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseBooked {
    /// Id for a later reversal.
    pub purchase_id: String,
    /// The member's customer number.
    pub customer_number: String,
    /// Points for the eligible turnover.
    pub base_points: i64,
    /// Every coupon given, in the order given.
    pub coupon_points: Vec<CouponOutcome>,
    /// Base and coupon points together.
    pub total_points: i64,
    /// The balance afterwards.
    pub new_balance: i64,
}

/// `POST /redemptions`: the points redeemed for their value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionBooked {
    /// Id for a later reversal.
    pub redemption_id: String,
    /// The member's customer number.
    pub customer_number: String,
    /// Points taken from the account.
    pub redeemed_points: i64,
    /// Their value (1 point = 1 cent).
    pub amount_cents: i64,
    /// The balance afterwards.
    pub new_balance: i64,
}

/// `POST /purchases/{id}/reversal`: points of a purchase taken back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseReversed {
    /// Id of this reversal.
    pub reversal_id: String,
    /// The purchase.
    pub purchase_id: String,
    /// Eligible turnover returned by this reversal.
    pub reversed_amount_cents: i64,
    /// Points taken back by this reversal.
    pub reversed_points: i64,
    /// Whether nothing of the purchase is left.
    pub fully_reversed: bool,
    /// The balance afterwards.
    pub new_balance: i64,
}

/// `POST /redemptions/{id}/reversal`: redeemed points given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionReversed {
    /// Id of this reversal.
    pub reversal_id: String,
    /// The redemption.
    pub redemption_id: String,
    /// Points given back by this reversal.
    pub rebooked_points: i64,
    /// Their value (1 point = 1 cent).
    pub amount_cents: i64,
    /// Whether nothing of the redemption is left.
    pub fully_reversed: bool,
    /// The balance afterwards.
    pub new_balance: i64,
}

/// `POST /coupons/validate`: would this coupon count on a purchase now?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CouponValidity {
    /// The code, trimmed and upper case.
    pub code: String,
    /// Whether it would count.
    pub valid: bool,
    /// Multiplier or extra points, when the coupon exists.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CouponType>,
    /// Its factor or points, when the coupon exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// Why not (an error code), when it would not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// `POST /coupons/activate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CouponActivated {
    /// The code, trimmed and upper case.
    pub code: String,
    /// Always true: a refusal is an error answer.
    pub activated: bool,
}

/// `POST /branches/{id}/geolocation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GeolocationUpdated {
    /// The branch.
    pub branch_id: String,
    /// −90..90.
    pub latitude: f64,
    /// −180..180.
    pub longitude: f64,
    /// Engine time of the update (RFC 3339).
    pub updated_at: String,
}

/// An answer kept for idempotent replays: the answer of a mutating operation, serialised as
/// that answer itself (the admin snapshot's `transactions[].answer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StoredAnswer {
    /// `POST /purchases`.
    Purchase(PurchaseBooked),
    /// `POST /redemptions`.
    Redemption(RedemptionBooked),
    /// `POST /purchases/{id}/reversal`.
    PurchaseReversal(PurchaseReversed),
    /// `POST /redemptions/{id}/reversal`.
    RedemptionReversal(RedemptionReversed),
}

/// The answer of an operation that a `transactionId` makes idempotent.
pub trait Replayable: Clone + Into<StoredAnswer> {
    /// This answer, if `stored` is one of this kind.
    fn from_stored(stored: &StoredAnswer) -> Option<&Self>;
}

macro_rules! replayable {
    ($($answer:ident => $variant:ident),* $(,)?) => {$(
        impl From<$answer> for StoredAnswer {
            fn from(answer: $answer) -> Self {
                StoredAnswer::$variant(answer)
            }
        }

        impl Replayable for $answer {
            fn from_stored(stored: &StoredAnswer) -> Option<&Self> {
                match stored {
                    StoredAnswer::$variant(answer) => Some(answer),
                    _ => None,
                }
            }
        }
    )*};
}

replayable! {
    PurchaseBooked => Purchase,
    RedemptionBooked => Redemption,
    PurchaseReversed => PurchaseReversal,
    RedemptionReversed => RedemptionReversal,
}

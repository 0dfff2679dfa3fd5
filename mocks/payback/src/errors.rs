//! Error answers: an HTTP status plus `{"code": "<STABLE_CODE>", "message": "<text>"}` and, where
//! it helps a till, a detail field (`remainingTries`, `balance`, `minimum`). The codes and the
//! statuses are our design (PAYBACK's partner API is not public), listed in
//! `mocks/payback/README.md` and kept stable so tills can branch on them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Every error the PAYBACK mock answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PaybackError {
    /// Malformed JSON, a missing or wrongly typed field.
    #[error("{0}")]
    InvalidRequest(String),
    /// Wrong credentials, unknown partner, or a branch that is not the partner's.
    #[error("{0}")]
    PartnerNotAuthorised(String),
    /// No member with that card or customer number.
    #[error("no member with this card or customer number")]
    CardUnknown,
    /// A 16-digit number whose Luhn check digit is wrong.
    #[error("the card number's check digit is wrong")]
    CardInvalidCheckDigit,
    /// Card or member blocked or closed.
    #[error("this card is blocked")]
    CardBlocked,
    /// Redeeming before the member registered.
    #[error("the member has not completed registration and cannot redeem points yet")]
    MemberNotRegistered,
    /// Wrong PIN.
    #[error("wrong PIN, {remaining} tr{} left", if *.remaining == 1 { "y" } else { "ies" })]
    PinInvalid {
        /// Tries left before the lock.
        remaining: u32,
    },
    /// Three wrong PINs in a row.
    #[error("the PIN is locked after three wrong entries; the member must reset it")]
    PinLocked,
    /// A `pinToken` that is unknown, expired or for another member.
    #[error("the PIN token is unknown, expired or belongs to another card; authenticate again")]
    PinTokenInvalid,
    /// Fewer than 200 points.
    #[error("at least {minimum} points must be redeemed")]
    BelowMinRedemption {
        /// The minimum.
        minimum: i64,
    },
    /// More points than the balance.
    #[error("not enough points: {requested} requested, {balance} available")]
    InsufficientPoints {
        /// Asked for.
        requested: i64,
        /// Available.
        balance: i64,
    },
    /// Redemption worth more than the basket.
    #[error("the redemption ({amount} cents) is worth more than the basket ({basket} cents)")]
    AmountExceedsBasket {
        /// Redemption in cents.
        amount: i64,
        /// Basket in cents.
        basket: i64,
    },
    /// Same `transactionId` with a different request.
    #[error("transactionId {0:?} was already used for a different request")]
    DuplicateTransaction(String),
    /// Coupon problems.
    #[error("coupon {code:?}: {reason}")]
    Coupon {
        /// Stable code, e.g. `COUPON_EXPIRED`.
        code: &'static str,
        /// The coupon.
        reason: String,
    },
    /// A purchase or redemption id that does not exist (for this partner).
    #[error("no {0} with this id")]
    ReferenceNotFound(&'static str),
    /// Reversing what is already fully reversed.
    #[error("this {0} is already fully reversed")]
    AlreadyReversed(&'static str),
    /// Reversing more than is left.
    #[error("the reversal exceeds what is left of the original ({left} left)")]
    ReversalExceedsOriginal {
        /// What is left to reverse, in the request's unit.
        left: i64,
    },
    /// Unknown endpoint.
    #[error("unknown endpoint")]
    NotFound,
}

impl PaybackError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "INVALID_REQUEST",
            Self::PartnerNotAuthorised(_) => "PARTNER_NOT_AUTHORISED",
            Self::CardUnknown => "CARD_UNKNOWN",
            Self::CardInvalidCheckDigit => "CARD_INVALID_CHECKDIGIT",
            Self::CardBlocked => "CARD_BLOCKED",
            Self::MemberNotRegistered => "MEMBER_NOT_REGISTERED",
            Self::PinInvalid { .. } => "PIN_INVALID",
            Self::PinLocked => "PIN_LOCKED",
            Self::PinTokenInvalid => "PIN_TOKEN_INVALID",
            Self::BelowMinRedemption { .. } => "BELOW_MIN_REDEMPTION",
            Self::InsufficientPoints { .. } => "INSUFFICIENT_POINTS",
            Self::AmountExceedsBasket { .. } => "AMOUNT_EXCEEDS_BASKET",
            Self::DuplicateTransaction(_) => "DUPLICATE_TRANSACTION",
            Self::Coupon { code, .. } => code,
            Self::ReferenceNotFound(_) => "REFERENCE_NOT_FOUND",
            Self::AlreadyReversed(_) => "ALREADY_REVERSED",
            Self::ReversalExceedsOriginal { .. } => "REVERSAL_EXCEEDS_ORIGINAL",
            Self::NotFound => "NOT_FOUND",
        }
    }

    /// The HTTP status: 400 for malformed input, 401/403 for who may ask, 404 for what does not
    /// exist, 409 for idempotency conflicts, 422 for business rules.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) | Self::CardInvalidCheckDigit => StatusCode::BAD_REQUEST,
            Self::PartnerNotAuthorised(_) => StatusCode::UNAUTHORIZED,
            Self::CardBlocked => StatusCode::FORBIDDEN,
            Self::CardUnknown | Self::ReferenceNotFound(_) | Self::NotFound => StatusCode::NOT_FOUND,
            Self::DuplicateTransaction(_) => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({"code": self.code(), "message": self.to_string()});
        match self {
            Self::PinInvalid { remaining } => body["remainingTries"] = json!(remaining),
            Self::BelowMinRedemption { minimum } => body["minimum"] = json!(minimum),
            Self::InsufficientPoints { balance, .. } => body["balance"] = json!(balance),
            Self::ReversalExceedsOriginal { left } => body["left"] = json!(left),
            _ => {}
        }
        body
    }
}

impl IntoResponse for PaybackError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the error table in `mocks/payback/README.md` ("Errors"): status, code and
    /// detail field as the README lists them; the messages as pinned here (the README does not
    /// list them), so a changed character fails.
    #[test]
    fn every_error_of_the_readme_table() {
        use PaybackError as E;
        let table: Vec<(PaybackError, u16, &str, Value)> = vec![
            (
                E::InvalidRequest("missing field `points`".into()),
                400,
                "INVALID_REQUEST",
                json!({"message": "missing field `points`"}),
            ),
            (
                E::CardInvalidCheckDigit,
                400,
                "CARD_INVALID_CHECKDIGIT",
                json!({"message": "the card number's check digit is wrong"}),
            ),
            (
                E::PartnerNotAuthorised("unknown partner".into()),
                401,
                "PARTNER_NOT_AUTHORISED",
                json!({"message": "unknown partner"}),
            ),
            (
                E::CardBlocked,
                403,
                "CARD_BLOCKED",
                json!({"message": "this card is blocked"}),
            ),
            (
                E::CardUnknown,
                404,
                "CARD_UNKNOWN",
                json!({"message": "no member with this card or customer number"}),
            ),
            (
                E::ReferenceNotFound("redemption"),
                404,
                "REFERENCE_NOT_FOUND",
                json!({"message": "no redemption with this id"}),
            ),
            (E::NotFound, 404, "NOT_FOUND", json!({"message": "unknown endpoint"})),
            (
                E::DuplicateTransaction("T1".into()),
                409,
                "DUPLICATE_TRANSACTION",
                json!({"message": "transactionId \"T1\" was already used for a different request"}),
            ),
            (
                E::MemberNotRegistered,
                422,
                "MEMBER_NOT_REGISTERED",
                json!({"message": "the member has not completed registration and cannot redeem points yet"}),
            ),
            (
                E::PinInvalid { remaining: 2 },
                422,
                "PIN_INVALID",
                json!({"message": "wrong PIN, 2 tries left", "remainingTries": 2}),
            ),
            (
                E::PinLocked,
                422,
                "PIN_LOCKED",
                json!({"message": "the PIN is locked after three wrong entries; the member must reset it"}),
            ),
            (
                E::PinTokenInvalid,
                422,
                "PIN_TOKEN_INVALID",
                json!({"message": "the PIN token is unknown, expired or belongs to another card; authenticate again"}),
            ),
            (
                E::BelowMinRedemption { minimum: 200 },
                422,
                "BELOW_MIN_REDEMPTION",
                json!({"message": "at least 200 points must be redeemed", "minimum": 200}),
            ),
            (
                E::InsufficientPoints {
                    requested: 6000,
                    balance: 5300,
                },
                422,
                "INSUFFICIENT_POINTS",
                json!({"message": "not enough points: 6000 requested, 5300 available", "balance": 5300}),
            ),
            (
                E::AmountExceedsBasket {
                    amount: 3000,
                    basket: 2500,
                },
                422,
                "AMOUNT_EXCEEDS_BASKET",
                json!({"message": "the redemption (3000 cents) is worth more than the basket (2500 cents)"}),
            ),
            (
                E::AlreadyReversed("purchase"),
                422,
                "ALREADY_REVERSED",
                json!({"message": "this purchase is already fully reversed"}),
            ),
            (
                E::ReversalExceedsOriginal { left: 12 },
                422,
                "REVERSAL_EXCEEDS_ORIGINAL",
                json!({"message": "the reversal exceeds what is left of the original (12 left)", "left": 12}),
            ),
        ];
        for (error, status, code, rest) in table {
            assert_eq!(error.status().as_u16(), status, "{code}");
            assert_eq!(error.code(), code);
            let mut body = json!({"code": code});
            body.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
            assert_eq!(error.body(), body, "{code}");
        }
        // The coupon codes of the table, each a 422 with its own code.
        for code in [
            "COUPON_UNKNOWN",
            "COUPON_EXPIRED",
            "COUPON_ALREADY_USED",
            "COUPON_NOT_ACTIVATED",
            "COUPON_NOT_FOR_PARTNER",
        ] {
            let e = E::Coupon {
                code,
                reason: "x".into(),
            };
            assert_eq!((e.status().as_u16(), e.code()), (422, code));
            assert_eq!(e.to_string(), format!("coupon \"{code}\": x"));
        }
        // One try: "try", not "tries".
        assert_eq!(E::PinInvalid { remaining: 1 }.to_string(), "wrong PIN, 1 try left");
        assert_eq!(E::PinInvalid { remaining: 0 }.to_string(), "wrong PIN, 0 tries left");
    }

    #[test]
    fn bodies_carry_code_message_and_detail() {
        let e = PaybackError::PinInvalid { remaining: 1 };
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            e.body(),
            json!({"code": "PIN_INVALID", "message": "wrong PIN, 1 try left", "remainingTries": 1})
        );
        assert_eq!(
            PaybackError::DuplicateTransaction("t1".into()).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(PaybackError::CardUnknown.status(), StatusCode::NOT_FOUND);
    }
}

//! The PAYBACK host as the terminal sees it, for the Austrian redemption through the card
//! terminal (seed 000: PIN and point selection on the terminal, the EUR value back to the till).
//!
//! [ours] No public document describes that flow; the terminal side is our design
//! (`virtual-terminal/README.md`, "PAYBACK redemption"). The terminal crate only knows this trait;
//! the `possim` binary implements it in-process on the PAYBACK mock's domain functions, so the
//! terminal and a till talking HTTP to the mock book against one state. Calls answer at once
//! (one lock, no I/O), so the state machine still never blocks.

/// Why the host did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The host cannot be reached (or its answer was lost): nothing is known to be booked.
    Unreachable(String),
    /// The host refused, with its stable error code (`PIN_INVALID`, `PIN_LOCKED`, ...).
    Refused {
        /// The PAYBACK error code.
        code: String,
        /// Its text.
        message: String,
    },
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Unreachable(why) => write!(f, "PAYBACK host not reachable ({why})"),
            HostError::Refused { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

/// A right PIN: the token for the redemption and the balance to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Short-lived PIN token.
    pub token: String,
    /// Balance in points.
    pub balance: i64,
    /// What of it may be redeemed (0 when unregistered or below the 200-point minimum).
    pub redeemable: i64,
}

/// A redemption to book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemRequest {
    /// Partner short name the terminal books under.
    pub partner: String,
    /// Idempotency key (the terminal's id and trace number).
    pub transaction_id: String,
    /// From [`PaybackHost::authenticate`].
    pub token: String,
    /// Points the customer chose.
    pub points: i64,
    /// The basket total the till sent as the amount (the most the points may be worth).
    pub basket_cents: i64,
    /// The terminal's receipt number.
    pub receipt: String,
}

/// A booked redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// PAYBACK's id, for the reversal.
    pub redemption_id: String,
    /// Points taken.
    pub points: i64,
    /// Their value in cents (1 point = 1 cent).
    pub amount_cents: i64,
    /// Balance afterwards.
    pub new_balance: i64,
}

/// A reversed redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversed {
    /// Points given back.
    pub points: i64,
    /// Balance afterwards.
    pub new_balance: i64,
}

/// The PAYBACK host the terminal books redemptions at.
pub trait PaybackHost: Send + Sync + std::fmt::Debug {
    /// Checks the PIN typed on the terminal (a wrong one counts towards the lock).
    fn authenticate(&self, partner: &str, card: &str, pin: &str) -> Result<Authenticated, HostError>;
    /// Books a redemption.
    fn redeem(&self, request: &RedeemRequest) -> Result<Redeemed, HostError>;
    /// Gives a redemption's points back (Reversal 06 30, or the terminal's automatic reversal).
    fn reverse(&self, partner: &str, redemption_id: &str, transaction_id: &str) -> Result<Reversed, HostError>;
}

/// The result code the terminal ends with when PAYBACK refuses (PA00P015 chapter 10) [ours].
pub fn result_code(error: &HostError) -> u8 {
    match error {
        HostError::Unreachable(_) => crate::machine::rc::NO_CONNECTION,
        HostError::Refused { code, .. } => match code.as_str() {
            "PIN_LOCKED" => crate::machine::rc::PIN_TRIES_EXCEEDED,
            "PIN_INVALID" => crate::machine::rc::ABORTED,
            "BELOW_MIN_REDEMPTION" => 0xC8,
            "INSUFFICIENT_POINTS" => crate::machine::rc::INSUFFICIENT_FUNDS,
            "AMOUNT_EXCEEDS_BASKET" => 0xC3,
            "CARD_UNKNOWN" | "CARD_INVALID_CHECKDIGIT" => 0x7A,
            "CARD_BLOCKED" => 0x6E,
            "ALREADY_REVERSED" => crate::machine::rc::ALREADY_REVERSED,
            "REFERENCE_NOT_FOUND" => crate::machine::rc::REVERSAL_NOT_POSSIBLE,
            _ => 0x05,
        },
    }
}

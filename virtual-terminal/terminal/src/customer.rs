//! The customer in front of the terminal: which card they present, how they do at the PIN pad,
//! and what the host answers. Scripted per transaction (admin API `POST /__admin/zvt/customer`)
//! or taken from the data set's `defaultCustomer`; the default is a correct girocard PIN and an
//! approval.

use serde::{Deserialize, Serialize};

/// What happens at the terminal during one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerScript {
    /// Card by name (the data set's first card when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    /// Wrong PINs typed before the right one (at the try limit the card's PIN is blocked).
    #[serde(default)]
    pub wrong_pins: u8,
    /// PAYBACK redemption [ours]: the PINs the customer types, in order (checked by PAYBACK,
    /// not by the card; a wrong one makes the terminal ask again). When empty: `wrongPins`
    /// wrong PINs, then the card's PIN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pins: Vec<String>,
    /// PAYBACK redemption [ours]: the points the customer picks after seeing the balance; when
    /// absent, all redeemable points up to the basket ("whole purchase").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeem_points: Option<u64>,
    /// How the transaction ends.
    #[serde(default)]
    pub outcome: Outcome,
}

/// How a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Outcome {
    /// Approved for the full amount (unless the card's limit says otherwise).
    #[default]
    Approve,
    /// Approved for part of the amount (cents).
    PartialApproval {
        /// Approved amount in cents.
        cents: u64,
    },
    /// The host declines with this code (ISO 8583 decimal, sent as binary: 5 = declined).
    Decline {
        /// Host response code.
        code: u8,
    },
    /// The customer presses the abort key while the terminal waits for the PIN (in a PAYBACK
    /// redemption: at the point selection, after seeing the balance).
    CustomerAbort,
    /// The card cannot be read.
    CardUnreadable,
    /// No card comes: the terminal waits until the ECR aborts or the customer time-out ends it.
    NoCard,
    /// The customer leaves during PIN entry: time-out.
    PinTimeout,
    /// The host cannot be reached.
    HostUnreachable,
    /// A person plays the customer (`possim zvt console`, `POST /__admin/zvt/operator`): the
    /// terminal waits for them to insert a card and type the PIN.
    Operator,
}

/// What the operator at the console does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum OperatorEvent {
    /// Inserts the card with this name.
    Insert(String),
    /// Types a PIN.
    Pin(String),
    /// Presses the abort key.
    Abort,
}

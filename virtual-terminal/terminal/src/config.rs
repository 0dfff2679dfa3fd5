//! The terminal's data set file `zvt.toml`: identity (terminal id, password, currency), virtual
//! cards, the default customer, the simulated delays and the quirk profile (`[terminal]`).

use possim_engine::EngineError;
use possim_engine::dataset::DataSet;
use serde::{Deserialize, Serialize};

use crate::customer::CustomerScript;

/// Kinds of virtual cards, with their ZVT card-type ID (PA00P015 chapter 12) and the End-of-Day
/// totals group they count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardKind {
    /// girocard (ID 5).
    Girocard,
    /// Mastercard (ID 6).
    Mastercard,
    /// Visa (ID 10).
    Visa,
    /// Maestro (ID 46).
    Maestro,
    /// PAYBACK card without payment function (ID 202).
    Payback,
}

impl CardKind {
    /// ZVT card-type ID for BMP 8A.
    pub const fn card_type_id(self) -> u8 {
        match self {
            CardKind::Girocard => 5,
            CardKind::Mastercard => 6,
            CardKind::Visa => 10,
            CardKind::Maestro => 46,
            CardKind::Payback => 202,
        }
    }

    /// Card name as receipts and BMP 8B show it.
    pub fn display_name(self) -> &'static str {
        match self {
            CardKind::Girocard => "girocard",
            CardKind::Mastercard => "Mastercard",
            CardKind::Visa => "VISA",
            CardKind::Maestro => "Maestro",
            CardKind::Payback => "PAYBACK",
        }
    }

    /// Index into the seven End-of-Day groups of BMP 60: girocard, JCB, Eurocard (Mastercard),
    /// Amex, VISA, Diners, remaining.
    pub fn totals_group(self) -> usize {
        match self {
            CardKind::Girocard => 0,
            CardKind::Mastercard => 2,
            CardKind::Visa => 4,
            CardKind::Maestro | CardKind::Payback => 6,
        }
    }
}

/// A virtual card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Card {
    /// Name the customer script refers to (`girocard`, `visa-low-limit`).
    pub name: String,
    /// Kind.
    pub kind: CardKind,
    /// Card number.
    pub pan: String,
    /// Expiry `YYMM`.
    pub expiry: String,
    /// PIN.
    pub pin: String,
    /// Largest amount the host approves, in cents.
    #[serde(default = "default_limit")]
    pub limit_cents: u64,
}

fn default_limit() -> u64 {
    1_000_000
}

/// Simulated durations (milliseconds; zero in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delays {
    /// Before the card is inserted.
    #[serde(default)]
    pub card_ms: u64,
    /// Per PIN entry.
    #[serde(default)]
    pub pin_ms: u64,
    /// Host authorisation.
    #[serde(default)]
    pub host_ms: u64,
}

/// `zvt.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TerminalConfig {
    /// Newest bookings the batch keeps until End-of-Day; older ones only count in its totals
    /// (the data set's `[retention] transactions`, not a `zvt.toml` key).
    #[serde(skip, default = "default_retain")]
    pub retain: usize,
    /// BMP 29, 8 digits.
    pub terminal_id: u32,
    /// 6 digits.
    #[serde(default = "default_password")]
    pub password: u32,
    /// ISO 4217 numeric; 978 = EUR.
    #[serde(default = "default_currency")]
    pub currency: u16,
    /// Merchant (VU) number, BMP 2A, up to 15 characters.
    #[serde(default = "default_vu")]
    pub vu_number: String,
    /// Software version reported by Status Enquiry.
    #[serde(default = "default_sw")]
    pub sw_version: String,
    /// Merchant name on receipts.
    #[serde(default = "default_merchant")]
    pub merchant: String,
    /// Wait for an ECR acknowledgement this long before treating it as lost (T3), ms.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_ms: u64,
    /// How long the terminal waits for a card or a PIN before giving up, ms.
    #[serde(default = "default_customer_timeout")]
    pub customer_timeout_ms: u64,
    /// PIN tries before the card's PIN is blocked for the transaction.
    #[serde(default = "default_pin_tries")]
    pub pin_tries: u8,
    /// Delays.
    #[serde(default)]
    pub delays: Delays,
    /// Virtual cards.
    #[serde(default)]
    pub cards: Vec<Card>,
    /// What an unscripted customer does.
    #[serde(default)]
    pub default_customer: CustomerScript,
    /// `lenient` accepts the known deviations of real ECR libraries, `strict` refuses them; both
    /// record each one as a finding in the journal.
    #[serde(default)]
    pub mode: Mode,
    /// PAYBACK redemption through the terminal (Austria, seed 000) [ours].
    #[serde(default)]
    pub payback: PaybackSettings,
    /// `[terminal]`: which real terminal's deviations to play (`profile`).
    #[serde(default)]
    pub terminal: TerminalSection,
}

/// `[terminal]` in `zvt.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TerminalSection {
    /// The quirk profile (`crate::profile`); `spec` (default) is PA00P015 as written.
    #[serde(default)]
    pub profile: crate::profile::Profile,
}

/// `[payback]` in `zvt.toml`: how the terminal recognises a PAYBACK redemption and as which
/// partner it books it [ours].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaybackSettings {
    /// An Authorisation 06 01 whose BMP 8A (card type) has this value is a PAYBACK redemption;
    /// 202 = "Payback (without payment function)", PA00P015 chapter 12. (TLV E1 with C1 = "MS",
    /// redeem points, PA00P015 §9.4.3, marks one as well.)
    #[serde(default = "default_payback_card_type")]
    pub card_type: u8,
    /// Partner short name the terminal books redemptions under at the PAYBACK mock.
    #[serde(default = "default_payback_partner")]
    pub partner: String,
}

fn default_payback_card_type() -> u8 {
    CardKind::Payback.card_type_id()
}
fn default_payback_partner() -> String {
    "possim-optik".into()
}

impl Default for PaybackSettings {
    fn default() -> Self {
        Self {
            card_type: default_payback_card_type(),
            partner: default_payback_partner(),
        }
    }
}

/// How strictly the terminal reads what the ECR sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Accept known deviations (LLVAR lengths without F nibbles), report them as findings.
    #[default]
    Lenient,
    /// Refuse them: `84 9A 00` (protocol error) with the finding in the journal.
    Strict,
}

fn default_password() -> u32 {
    0
}
fn default_currency() -> u16 {
    978
}
fn default_vu() -> String {
    "POSSIM0000001".into()
}
fn default_sw() -> String {
    "possim-vt 0.1".into()
}
fn default_merchant() -> String {
    "possim Testhaendler".into()
}
fn default_ack_timeout() -> u64 {
    5_000
}
fn default_customer_timeout() -> u64 {
    60_000
}
fn default_pin_tries() -> u8 {
    3
}

fn default_retain() -> usize {
    possim_engine::retention::DEFAULT_TRANSACTIONS
}

impl Default for TerminalConfig {
    fn default() -> Self {
        Self {
            retain: default_retain(),
            terminal_id: 52_000_001,
            password: default_password(),
            currency: default_currency(),
            vu_number: default_vu(),
            sw_version: default_sw(),
            merchant: default_merchant(),
            ack_timeout_ms: default_ack_timeout(),
            customer_timeout_ms: default_customer_timeout(),
            pin_tries: default_pin_tries(),
            delays: Delays::default(),
            cards: vec![Card {
                name: "girocard".into(),
                kind: CardKind::Girocard,
                pan: "6805000000001234567".into(),
                expiry: "2912".into(),
                pin: "1234".into(),
                limit_cents: default_limit(),
            }],
            default_customer: CustomerScript::default(),
            mode: Mode::default(),
            payback: PaybackSettings::default(),
            terminal: TerminalSection::default(),
        }
    }
}

impl TerminalConfig {
    /// Reads `zvt.toml` from a data set (the built-in defaults when the set has none).
    pub fn from_data_set(data: &DataSet) -> Result<Self, EngineError> {
        let mut config = data.parse_file::<TerminalConfig>("zvt.toml")?.unwrap_or_default();
        config.retain = data.settings.retention.transactions;
        config.validate().map_err(|message| EngineError::DataSet {
            name: data.name.clone(),
            message: format!("zvt.toml: {message}"),
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.terminal_id > 99_999_999 {
            return Err("terminalId must have at most 8 digits".into());
        }
        if self.password > 999_999 {
            return Err("password must have at most 6 digits".into());
        }
        if self.cards.is_empty() {
            return Err("at least one card is needed".into());
        }
        for card in &self.cards {
            if !card.pan.bytes().all(|b| b.is_ascii_digit()) || !(12..=19).contains(&card.pan.len()) {
                return Err(format!("card {}: pan must be 12 to 19 digits", card.name));
            }
            if card.expiry.len() != 4 || !card.expiry.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("card {}: expiry must be YYMM", card.name));
            }
            if card.pin.len() < 4 || card.pin.len() > 12 || !card.pin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("card {}: pin must be 4 to 12 digits", card.name));
            }
        }
        if let Some(name) = &self.default_customer.card
            && self.card(name).is_none()
        {
            return Err(format!("defaultCustomer.card {name:?} is not a card of the set"));
        }
        Ok(())
    }

    /// A card by name.
    pub fn card(&self, name: &str) -> Option<&Card> {
        self.cards.iter().find(|c| c.name == name)
    }
}

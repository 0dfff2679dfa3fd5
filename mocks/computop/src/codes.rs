//! The 8-character `Code` values the mock answers with, and the table of parameter numbers that
//! fills their last four digits.
//!
//! The structure is Computop's (A4 error codes): digit 1 is the kind (0 OK, 2 error, 4 fatal,
//! 6 pending), digits 2–4 the module, digits 5–8 the parameter or detail. The concrete module
//! `950` for PAYBACK PAY and the parameter numbers are **ours** — Computop's tables are not
//! public — and are published in `mocks/computop/README.md`. Only `00000000` means success.

use std::fmt;

/// Success: the only code a shop may treat as paid.
pub const SUCCESS: &str = "00000000";
/// The intermediate PAYBACK PAY notify carries this one-character code (seed 003 sample).
pub const AUTHORIZE_REQUEST: &str = "0";

/// The module (digits 2–4) of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// `001`: the Paygate's cryptography (Data, Len).
    Crypto,
    /// `010`: a mandatory parameter is missing.
    Missing,
    /// `011`: a parameter has the wrong format.
    Format,
    /// `012`: a parameter is invalid (MAC, MerchantID, a reference).
    Invalid,
    /// `950`: PAYBACK PAY business outcome (our module number).
    PaybackPay,
}

impl Module {
    fn digits(self) -> &'static str {
        match self {
            Module::Crypto => "001",
            Module::Missing => "010",
            Module::Format => "011",
            Module::Invalid => "012",
            Module::PaybackPay => "950",
        }
    }
}

/// A parameter (or business detail) number: the last four digits of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail(pub u16);

/// Every parameter the mock checks, with its number. Matching is case-insensitive.
pub const PARAMETERS: &[(&str, u16)] = &[
    ("MerchantID", 1),
    ("TransID", 2),
    ("Amount", 3),
    ("Currency", 4),
    ("MAC", 5),
    ("URLSuccess", 6),
    ("URLFailure", 7),
    ("URLNotify", 8),
    ("RefNr", 9),
    ("Language", 10),
    ("Response", 11),
    ("UserData", 12),
    ("ReqID", 13),
    ("Plain", 14),
    ("Custom", 15),
    ("PointAmount", 16),
    ("VatList", 17),
    ("ArticleList", 18),
    ("DeviceID", 19),
    ("AccountID", 20),
    ("CustomerID", 21),
    ("IsBound", 22),
    ("CustomerGroup", 23),
    ("sdCountryCode", 24),
    ("sdAdditionalInfo", 25),
    ("sdCompany", 26),
    ("sdFirstName", 27),
    ("sdLastName", 28),
    ("sdStreet", 29),
    ("sdStreetNr", 30),
    ("sdZIP", 31),
    ("sdCity", 32),
    ("PayID", 33),
    ("Len", 34),
    ("Data", 35),
    ("OrderDesc", 36),
];

/// Business details of module 950 (our numbers).
pub mod business {
    use super::Detail;
    /// The customer cancelled in the PAYBACK app.
    pub const CUSTOMER_CANCELLED: Detail = Detail(9001);
    /// The customer did not confirm in time.
    pub const CUSTOMER_TIMEOUT: Detail = Detail(9002);
    /// A credit would exceed what was captured.
    pub const CREDIT_EXCEEDS_CAPTURE: Detail = Detail(9003);
    /// The referenced payment does not exist for this merchant.
    pub const PAYMENT_NOT_FOUND: Detail = Detail(9004);
    /// The referenced payment is not paid (nothing to credit).
    pub const PAYMENT_NOT_CAPTURED: Detail = Detail(9005);
    /// The AccountID is not a PAYBACK member the Paygate knows.
    pub const ACCOUNT_UNKNOWN: Detail = Detail(9006);
    /// The amount is below 100 minor units and the merchant is not enabled for that.
    pub const AMOUNT_TOO_SMALL: Detail = Detail(9007);
    /// The SEPA or card payment of the rest is still pending (final status follows).
    pub const PAYMENT_PENDING: Detail = Detail(9008);
    /// The rest could not be paid by SEPA/card (declined by the payment provider).
    pub const PAYMENT_DECLINED: Detail = Detail(9009);
    /// The TransID was already used for another payment of this merchant.
    pub const TRANS_ID_USED: Detail = Detail(9010);
}

/// The number of a parameter name (case-insensitive); 0 for names not in the table.
pub fn parameter_number(name: &str) -> u16 {
    PARAMETERS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(0, |(_, number)| *number)
}

/// Builds a code: kind digit, module, detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// `2` error, `4` fatal, `6` pending.
    pub kind: u8,
    /// Module.
    pub module: Module,
    /// Detail.
    pub detail: Detail,
}

impl Code {
    /// An error (kind 2).
    pub fn error(module: Module, detail: Detail) -> Self {
        Self {
            kind: 2,
            module,
            detail,
        }
    }

    /// A fatal error (kind 4): a mandatory parameter is missing.
    pub fn missing(parameter: &str) -> Self {
        Self {
            kind: 4,
            module: Module::Missing,
            detail: Detail(parameter_number(parameter)),
        }
    }

    /// A format error of `parameter`.
    pub fn format(parameter: &str) -> Self {
        Self::error(Module::Format, Detail(parameter_number(parameter)))
    }

    /// `parameter` is invalid (a MAC that does not verify, a MerchantID that differs).
    pub fn invalid(parameter: &str) -> Self {
        Self::error(Module::Invalid, Detail(parameter_number(parameter)))
    }

    /// A PAYBACK PAY business outcome.
    pub fn business(detail: Detail) -> Self {
        Self::error(Module::PaybackPay, detail)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:04}", self.kind, self.module.digits(), self.detail.0 % 10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_eight_characters_in_computops_structure() {
        assert_eq!(Code::missing("TransID").to_string(), "40100002");
        assert_eq!(Code::format("amount").to_string(), "20110003");
        assert_eq!(Code::invalid("MAC").to_string(), "20120005");
        assert_eq!(Code::business(business::CREDIT_EXCEEDS_CAPTURE).to_string(), "29509003");
        for (name, _) in PARAMETERS {
            assert_eq!(Code::format(name).to_string().len(), 8, "{name}");
        }
    }

    #[test]
    fn parameter_numbers_are_unique() {
        let mut numbers: Vec<u16> = PARAMETERS.iter().map(|(_, n)| *n).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), PARAMETERS.len());
    }
}

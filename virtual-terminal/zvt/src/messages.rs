//! Typed messages for both directions (PA00P015 §2 ECR→PT, §3 PT→ECR) built on top of
//! [`crate::apdu`] and [`crate::bmp`].
//!
//! Commands whose data block is (mostly) BMPs are structs with one `Option` per BMP the
//! specification lists for that command, the TLV container, and `other`: BMPs that are in the
//! global table but not modelled for this command (kept in wire order so nothing is lost).
//! Positional parameters (password, config byte, …) are plain fields.
//!
//! Encoding writes named fields in the order the specification lists them, then `other`, then the
//! TLV container. Decoding accepts any order.

use thiserror::Error;

use crate::apdu::{Apdu, ApduError, ControlField};
use crate::bmp::{Bmp, BmpError, BmpField, Date, Expiry, MonthDay, ReceiptNo, Time, parse_bmps};
use crate::encoding::{self, Amount, DecodeMode, Deviation, Digits, EncodingError};
use crate::tlv::{TlvContainer, TlvError};

/// Control fields of the commands this crate models, plus a few more that `describe` names.
pub mod cmd {
    use crate::apdu::ControlField;

    /// 06 00 Registration.
    pub const REGISTRATION: ControlField = ControlField::new(0x06, 0x00);
    /// 06 01 Authorisation.
    pub const AUTHORISATION: ControlField = ControlField::new(0x06, 0x01);
    /// 06 02 Log-Off.
    pub const LOG_OFF: ControlField = ControlField::new(0x06, 0x02);
    /// 06 03 Account balance request.
    pub const ACCOUNT_BALANCE: ControlField = ControlField::new(0x06, 0x03);
    /// 06 0F Completion.
    pub const COMPLETION: ControlField = ControlField::new(0x06, 0x0F);
    /// 06 10 Send turnover totals.
    pub const SEND_TURNOVER_TOTALS: ControlField = ControlField::new(0x06, 0x10);
    /// 06 1B Set/reset terminal ID.
    pub const SET_TERMINAL_ID: ControlField = ControlField::new(0x06, 0x1B);
    /// 06 1E Abort (PT→ECR).
    pub const ABORT_PT: ControlField = ControlField::new(0x06, 0x1E);
    /// 06 20 Repeat receipt.
    pub const REPEAT_RECEIPT: ControlField = ControlField::new(0x06, 0x20);
    /// 06 22 Pre-authorisation / reservation.
    pub const PRE_AUTHORISATION: ControlField = ControlField::new(0x06, 0x22);
    /// 06 23 Partial reversal of a pre-authorisation / booking of a reservation.
    pub const PARTIAL_REVERSAL: ControlField = ControlField::new(0x06, 0x23);
    /// 06 24 Book total.
    pub const BOOK_TOTAL: ControlField = ControlField::new(0x06, 0x24);
    /// 06 25 Pre-authorisation reversal.
    pub const PRE_AUTH_REVERSAL: ControlField = ControlField::new(0x06, 0x25);
    /// 06 30 Reversal.
    pub const REVERSAL: ControlField = ControlField::new(0x06, 0x30);
    /// 06 31 Refund.
    pub const REFUND: ControlField = ControlField::new(0x06, 0x31);
    /// 06 50 End-of-day.
    pub const END_OF_DAY: ControlField = ControlField::new(0x06, 0x50);
    /// 06 70 Diagnosis.
    pub const DIAGNOSIS: ControlField = ControlField::new(0x06, 0x70);
    /// 06 91 Set date and time in PT.
    pub const SET_DATE_TIME: ControlField = ControlField::new(0x06, 0x91);
    /// 06 93 Initialisation.
    pub const INITIALISATION: ControlField = ControlField::new(0x06, 0x93);
    /// 06 B0 Abort (ECR→PT).
    pub const ABORT_ECR: ControlField = ControlField::new(0x06, 0xB0);
    /// 06 C0 Read card.
    pub const READ_CARD: ControlField = ControlField::new(0x06, 0xC0);
    /// 06 D1 Print line.
    pub const PRINT_LINE: ControlField = ControlField::new(0x06, 0xD1);
    /// 06 D3 Print text block.
    pub const PRINT_TEXT_BLOCK: ControlField = ControlField::new(0x06, 0xD3);
    /// 06 E0 Display text.
    pub const DISPLAY_TEXT: ControlField = ControlField::new(0x06, 0xE0);
    /// 04 0F Status information.
    pub const STATUS_INFORMATION: ControlField = ControlField::new(0x04, 0x0F);
    /// 04 FF Intermediate status information.
    pub const INTERMEDIATE_STATUS: ControlField = ControlField::new(0x04, 0xFF);
    /// 05 01 Status enquiry.
    pub const STATUS_ENQUIRY: ControlField = ControlField::new(0x05, 0x01);
    /// 08 30 Select language.
    pub const SELECT_LANGUAGE: ControlField = ControlField::new(0x08, 0x30);
    /// 80 00 Positive acknowledgement.
    pub const ACK: ControlField = ControlField::new(0x80, 0x00);
}

/// Who sends a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Electronic cash register to payment terminal.
    EcrToPt,
    /// Payment terminal to electronic cash register.
    PtToEcr,
    /// Either side (acknowledgements, print commands usable in reverse).
    Both,
}

/// Name and direction of a control field, for human-readable output (PA00P015 §14).
pub fn command_name(cf: ControlField) -> Option<(&'static str, Direction)> {
    use Direction::*;
    let r = match (cf.class, cf.instr) {
        (0x80, 0x00) => ("positive acknowledgement", Both),
        (0x84, _) => ("negative acknowledgement", Both),
        (0x04, 0x01) => ("Set Date and Time in ECR", PtToEcr),
        (0x04, 0x0C) => ("File request", PtToEcr),
        (0x04, 0x0D) => ("Input request", PtToEcr),
        (0x04, 0x0E) => ("Menu request", PtToEcr),
        (0x04, 0x0F) => ("Status-Information", PtToEcr),
        (0x04, 0xFF) => ("Intermediate Status-Information", PtToEcr),
        (0x05, 0x01) => ("Status Enquiry", EcrToPt),
        (0x06, 0x00) => ("Registration", EcrToPt),
        (0x06, 0x01) => ("Authorisation", EcrToPt),
        (0x06, 0x02) => ("Log-Off", EcrToPt),
        (0x06, 0x03) => ("Account Balance Request", EcrToPt),
        (0x06, 0x04) => ("Activate Card", EcrToPt),
        (0x06, 0x05) => ("Procurement", EcrToPt),
        (0x06, 0x09) => ("Prepaid Top-Up", EcrToPt),
        (0x06, 0x0A) => ("Tax Free", EcrToPt),
        (0x06, 0x0C) => ("Book Tip", EcrToPt),
        (0x06, 0x0F) => ("Completion", PtToEcr),
        (0x06, 0x10) => ("Send Turnover Totals", EcrToPt),
        (0x06, 0x12) => ("Reprint Receipts", EcrToPt),
        (0x06, 0x18) => ("Reset Terminal", EcrToPt),
        (0x06, 0x1A) => ("Print System Configuration", EcrToPt),
        (0x06, 0x1B) => ("Set/Reset Terminal-ID", EcrToPt),
        (0x06, 0x1E) => ("Abort", PtToEcr),
        (0x06, 0x20) => ("Repeat Receipt", EcrToPt),
        (0x06, 0x21) => ("Telephonic Authorisation", EcrToPt),
        (0x06, 0x22) => ("Pre-Authorisation / Reservation", EcrToPt),
        (0x06, 0x23) => ("Partial-Reversal of Pre-Authorisation / Booking", EcrToPt),
        (0x06, 0x24) => ("Book Total", EcrToPt),
        (0x06, 0x25) => ("Pre-Authorisation Reversal", EcrToPt),
        (0x06, 0x26) => ("Reversal of external transaction", EcrToPt),
        (0x06, 0x30) => ("Reversal", EcrToPt),
        (0x06, 0x31) => ("Refund", EcrToPt),
        (0x06, 0x50) => ("End-of-Day", EcrToPt),
        (0x06, 0x51) => ("Send offline transactions", EcrToPt),
        (0x06, 0x70) => ("Diagnosis", EcrToPt),
        (0x06, 0x79) => ("Selftest", EcrToPt),
        (0x06, 0x91) => ("Set Date and Time in PT", EcrToPt),
        (0x06, 0x93) => ("Initialisation", EcrToPt),
        (0x06, 0x95) => ("Change Password", EcrToPt),
        (0x06, 0xB0) => ("Abort", EcrToPt),
        (0x06, 0xC0) => ("Read Card", EcrToPt),
        (0x06, 0xC5) => ("Close Card Session", EcrToPt),
        (0x06, 0xC6) => ("Send APDUs", EcrToPt),
        (0x06, 0xD0) => ("Menu with graphic display", PtToEcr),
        (0x06, 0xD1) => ("Print Line", Both),
        (0x06, 0xD3) => ("Print Text-Block", Both),
        (0x06, 0xD8) => ("Dial-Up", PtToEcr),
        (0x06, 0xD9) => ("Transmit Data via Dial-Up", PtToEcr),
        (0x06, 0xDA) => ("Receive Data via Dial-Up", PtToEcr),
        (0x06, 0xDB) => ("Hang-Up", PtToEcr),
        (0x06, 0xDD) => ("Transparent Mode", PtToEcr),
        (0x06, 0xE0) => ("Display Text", EcrToPt),
        (0x06, 0xE1) => ("Display Text with Function-Key Input", EcrToPt),
        (0x06, 0xE2) => ("Display Text with Numerical Input", EcrToPt),
        (0x06, 0xE3) => ("PIN-Verification for Customer-Card", EcrToPt),
        (0x06, 0xE4) => ("Blocked-List Query to ECR", PtToEcr),
        (0x06, 0xE5) => ("MAC calculation", EcrToPt),
        (0x06, 0xE6) => ("Card Poll with Authorisation", EcrToPt),
        (0x06, 0xE7) => ("Display Text with Numerical Input (DUKPT)", EcrToPt),
        (0x06, 0xF0) => ("Display Image", EcrToPt),
        (0x08, 0x01) => ("Activate Service-Mode", EcrToPt),
        (0x08, 0x02) => ("Switch Protocol", EcrToPt),
        (0x08, 0x10) => ("Software-Update", EcrToPt),
        (0x08, 0x11) => ("Read File", EcrToPt),
        (0x08, 0x12) => ("Delete File", EcrToPt),
        (0x08, 0x13) => ("Change Configuration", EcrToPt),
        (0x08, 0x14) => ("Write File", EcrToPt),
        (0x08, 0x20..=0x24) => ("OPT action", EcrToPt),
        (0x08, 0x30) => ("Select Language", EcrToPt),
        (0x08, 0x40) => ("Change Baudrate", EcrToPt),
        (0x08, 0x50) => ("Activate Card-Reader", EcrToPt),
        _ => return None,
    };
    Some(r)
}

/// Errors of typed message decoding and encoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    /// A BMP could not be walked or converted.
    #[error(transparent)]
    Bmp(#[from] BmpError),
    /// A positional parameter had an invalid encoding.
    #[error("{field}: {source}")]
    Encoding {
        /// Parameter name.
        field: &'static str,
        /// What was wrong.
        source: EncodingError,
    },
    /// The TLV container could not be encoded.
    #[error(transparent)]
    Tlv(#[from] TlvError),
    /// The data block could not be wrapped into an APDU.
    #[error(transparent)]
    Apdu(#[from] ApduError),
    /// A mandatory positional parameter is missing.
    #[error("{command}: missing {field}")]
    Missing {
        /// Command name.
        command: &'static str,
        /// Parameter name.
        field: &'static str,
    },
    /// The command takes no (more) data but some was present.
    #[error("{command}: {extra} unexpected trailing bytes")]
    UnexpectedData {
        /// Command name.
        command: &'static str,
        /// Number of extra bytes.
        extra: usize,
    },
    /// A field combination the specification forbids (e.g. service byte without currency code).
    #[error("{command}: {reason}")]
    Invalid {
        /// Command name.
        command: &'static str,
        /// Explanation.
        reason: &'static str,
    },
}

/// The 6-digit ZVT password, carried as 3 BCD bytes (PA00P015 §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Password(pub u32);

impl Password {
    fn read(data: &[u8], command: &'static str) -> Result<Self, MessageError> {
        let bytes = data.get(..3).ok_or(MessageError::Missing {
            command,
            field: "password",
        })?;
        encoding::bcd_decode(bytes)
            .map(|v| Password(v as u32))
            .map_err(|source| MessageError::Encoding {
                field: "password",
                source,
            })
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), MessageError> {
        let b = encoding::bcd_encode(u64::from(self.0), 3).map_err(|source| MessageError::Encoding {
            field: "password",
            source,
        })?;
        out.extend(b);
        Ok(())
    }
}

/// Options for typed decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// Strict or lenient.
    pub mode: DecodeMode,
    /// The command this APDU answers, if known. Needed to tell the Status-Enquiry shape of a
    /// Completion (software version + terminal status) from the ordinary BMP shape.
    pub reply_to: Option<ControlField>,
}

/// Shared decode state: mode plus collected deviations.
struct Ctx {
    mode: DecodeMode,
    deviations: Vec<Deviation>,
}

impl Ctx {
    fn bmps(&mut self, data: &[u8]) -> Result<Vec<Bmp>, MessageError> {
        let list = parse_bmps(data, self.mode)?;
        self.deviations.extend(list.deviations);
        Ok(list.bmps)
    }
}

fn push_bmp(out: &mut Vec<u8>, id: u8, data: Vec<u8>) -> Result<(), MessageError> {
    Bmp { id, data }.encode_into(out)?;
    Ok(())
}

/// Splits BMPs into the TLV container (first BMP 06) and the rest.
fn tail(bmps: Vec<Bmp>) -> Result<(Option<TlvContainer>, Vec<Bmp>), MessageError> {
    let mut tlv = None;
    let mut other = Vec::new();
    for b in bmps {
        if b.id == 0x06 && tlv.is_none() {
            tlv = Some(TlvContainer::from_bmp(0x06, &b.data)?);
        } else {
            other.push(b);
        }
    }
    Ok((tlv, other))
}

fn write_tail(out: &mut Vec<u8>, tlv: &Option<TlvContainer>, other: &[Bmp]) -> Result<(), MessageError> {
    for b in other {
        b.encode_into(out)?;
    }
    if let Some(t) = tlv {
        push_bmp(out, 0x06, t.encode()?)?;
    }
    Ok(())
}

/// Declares a message whose data block is: fixed positional fields, then BMPs.
macro_rules! bmp_message {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $cf:expr, $label:literal {
            $( prefix $pfield:ident : Password, )?
            $( $(#[$fmeta:meta])* $id:literal => $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( #[doc = "Password (3 BCD bytes, positional)."] pub $pfield: Password, )?
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            /// TLV container (BMP 06).
            pub tlv: Option<TlvContainer>,
            /// Further BMPs without a named field, in wire order.
            pub other: Vec<Bmp>,
        }

        impl $name {
            /// Control field of this command.
            pub const CONTROL: ControlField = $cf;
            /// BMP numbers that have a named field.
            pub const FIELD_BMPS: &'static [u8] = &[$($id),*];

            fn decode_data(data: &[u8], ctx: &mut Ctx) -> Result<Self, MessageError> {
                #[allow(unused_mut)]
                let mut rest = data;
                $(
                    let $pfield = Password::read(rest, $label)?;
                    rest = &rest[3..];
                )?
                let mut out = Self { $( $pfield, )? ..Self::default() };
                for bmp in ctx.bmps(rest)? {
                    match bmp.id {
                        $( $id if out.$field.is_none() => {
                            out.$field = Some(<$ty as BmpField>::from_bmp($id, &bmp.data)?);
                        } )*
                        0x06 if out.tlv.is_none() => {
                            out.tlv = Some(TlvContainer::from_bmp(0x06, &bmp.data)?);
                        }
                        _ => out.other.push(bmp),
                    }
                }
                Ok(out)
            }

            fn encode_data(&self) -> Result<Vec<u8>, MessageError> {
                let mut out = Vec::new();
                $( self.$pfield.write(&mut out)?; )?
                $( if let Some(v) = &self.$field {
                    push_bmp(&mut out, $id, v.to_bmp($id)?)?;
                } )*
                write_tail(&mut out, &self.tlv, &self.other)?;
                Ok(out)
            }
        }
    };
}

bmp_message! {
    /// Authorisation 06 01: a payment (PA00P015 §2.2).
    pub struct Authorisation = cmd::AUTHORISATION, "Authorisation" {
        /// BMP 04 amount.
        0x04 => amount: Amount,
        /// BMP 49 currency code (ISO 4217 numeric, 978 = EUR).
        0x49 => currency: u32,
        /// BMP 19 payment type.
        0x19 => payment_type: u8,
        /// BMP 2D track 1.
        0x2D => track1: Vec<u8>,
        /// BMP 0E expiry date (manual entry).
        0x0E => expiry: Expiry,
        /// BMP 22 card number (manual entry).
        0x22 => pan: Digits,
        /// BMP 23 track 2.
        0x23 => track2: Vec<u8>,
        /// BMP 24 track 3.
        0x24 => track3: Vec<u8>,
        /// BMP 01 timeout for issue of goods (s).
        0x01 => timeout: u8,
        /// BMP 02 maximum number of status informations.
        0x02 => max_status_infos: u8,
        /// BMP 05 pump number.
        0x05 => pump: u8,
        /// BMP 3A CVV/CVC.
        0x3A => cvv: Digits,
        /// BMP 3C additional data.
        0x3C => additional_data: Vec<u8>,
        /// BMP 8A card type.
        0x8A => card_type: u8,
    }
}

bmp_message! {
    /// Pre-Authorisation / Reservation 06 22 (PA00P015 §2.8).
    pub struct PreAuthorisation = cmd::PRE_AUTHORISATION, "Pre-Authorisation" {
        /// BMP 04 amount.
        0x04 => amount: Amount,
        /// BMP 49 currency code.
        0x49 => currency: u32,
        /// BMP 19 payment type.
        0x19 => payment_type: u8,
        /// BMP 0E expiry date.
        0x0E => expiry: Expiry,
        /// BMP 22 card number.
        0x22 => pan: Digits,
        /// BMP 2D track 1.
        0x2D => track1: Vec<u8>,
        /// BMP 23 track 2.
        0x23 => track2: Vec<u8>,
        /// BMP 24 track 3.
        0x24 => track3: Vec<u8>,
        /// BMP 01 timeout.
        0x01 => timeout: u8,
        /// BMP 02 maximum number of status informations.
        0x02 => max_status_infos: u8,
        /// BMP 05 pump number.
        0x05 => pump: u8,
        /// BMP 0B trace number.
        0x0B => trace: u32,
        /// BMP 3B AID.
        0x3B => aid: Vec<u8>,
        /// BMP 3C additional data.
        0x3C => additional_data: Vec<u8>,
        /// BMP 8A card type.
        0x8A => card_type: u8,
    }
}

bmp_message! {
    /// Partial-Reversal of a Pre-Authorisation / Booking of a Reservation 06 23
    /// (PA00P015 §2.10). Carries the *unused* amount.
    pub struct PartialReversal = cmd::PARTIAL_REVERSAL, "Partial-Reversal" {
        /// BMP 87 receipt number of the pre-authorisation (`FF FF` in the open-pre-auth enquiry).
        0x87 => receipt: ReceiptNo,
        /// BMP 04 amount.
        0x04 => amount: Amount,
        /// BMP 49 currency code.
        0x49 => currency: u32,
        /// BMP 3C additional data.
        0x3C => additional_data: Vec<u8>,
        /// BMP 0B trace number.
        0x0B => trace: u32,
        /// BMP 3B AID.
        0x3B => aid: Vec<u8>,
    }
}

bmp_message! {
    /// Book Total 06 24 (PA00P015 §2.13). Carries the *used* amount; BMP 87 is mandatory.
    pub struct BookTotal = cmd::BOOK_TOTAL, "Book Total" {
        /// BMP 87 receipt number of the pre-authorisation.
        0x87 => receipt: ReceiptNo,
        /// BMP 04 amount.
        0x04 => amount: Amount,
        /// BMP 49 currency code.
        0x49 => currency: u32,
        /// BMP 19 payment type.
        0x19 => payment_type: u8,
        /// BMP 3C additional data.
        0x3C => additional_data: Vec<u8>,
        /// BMP 0B trace number.
        0x0B => trace: u32,
        /// BMP 3B AID.
        0x3B => aid: Vec<u8>,
        /// BMP 8A card type.
        0x8A => card_type: u8,
    }
}

bmp_message! {
    /// Pre-Authorisation Reversal 06 25 (PA00P015 §2.14): cancels a reservation completely.
    /// BMP 87 is mandatory.
    pub struct PreAuthReversal = cmd::PRE_AUTH_REVERSAL, "Pre-Authorisation Reversal" {
        /// BMP 87 receipt number of the pre-authorisation.
        0x87 => receipt: ReceiptNo,
        /// BMP 04 amount.
        0x04 => amount: Amount,
        /// BMP 49 currency code.
        0x49 => currency: u32,
        /// BMP 19 payment type.
        0x19 => payment_type: u8,
    }
}

bmp_message! {
    /// Reversal 06 30 (PA00P015 §2.9). BMP 87 is mandatory.
    pub struct Reversal = cmd::REVERSAL, "Reversal" {
        prefix password: Password,
        /// BMP 87 receipt number of the payment to reverse.
        0x87 => receipt: ReceiptNo,
        /// BMP 04 amount.
        0x04 => amount: Amount,
        /// BMP 49 currency code.
        0x49 => currency: u32,
        /// BMP 19 payment type.
        0x19 => payment_type: u8,
        /// BMP 2D track 1.
        0x2D => track1: Vec<u8>,
        /// BMP 0E expiry date.
        0x0E => expiry: Expiry,
        /// BMP 22 card number.
        0x22 => pan: Digits,
        /// BMP 23 track 2.
        0x23 => track2: Vec<u8>,
        /// BMP 24 track 3.
        0x24 => track3: Vec<u8>,
        /// BMP 3C additional data.
        0x3C => additional_data: Vec<u8>,
    }
}

bmp_message! {
    /// Refund 06 31 (PA00P015 §2.15).
    pub struct Refund = cmd::REFUND, "Refund" {
        prefix password: Password,
        /// BMP 04 amount.
        0x04 => amount: Amount,
        /// BMP 49 currency code.
        0x49 => currency: u32,
        /// BMP 19 payment type.
        0x19 => payment_type: u8,
        /// BMP 2D track 1.
        0x2D => track1: Vec<u8>,
        /// BMP 0E expiry date.
        0x0E => expiry: Expiry,
        /// BMP 22 card number.
        0x22 => pan: Digits,
        /// BMP 23 track 2.
        0x23 => track2: Vec<u8>,
        /// BMP 24 track 3.
        0x24 => track3: Vec<u8>,
        /// BMP 3B AID of the original transaction.
        0x3B => aid: Vec<u8>,
        /// BMP 3C additional data.
        0x3C => additional_data: Vec<u8>,
        /// BMP 8A card type.
        0x8A => card_type: u8,
    }
}

bmp_message! {
    /// End-of-Day 06 50 (PA00P015 §2.16).
    pub struct EndOfDay = cmd::END_OF_DAY, "End-of-Day" {
        prefix password: Password,
    }
}

bmp_message! {
    /// Send Turnover Totals 06 10 (PA00P015 §2.61): the totals of the current batch without
    /// closing it.
    pub struct SendTurnoverTotals = cmd::SEND_TURNOVER_TOTALS, "Send Turnover Totals" {
        prefix password: Password,
    }
}

bmp_message! {
    /// Repeat Receipt 06 20 (PA00P015 §2.20).
    pub struct RepeatReceipt = cmd::REPEAT_RECEIPT, "Repeat Receipt" {
        prefix password: Password,
        /// BMP 03 service byte (bit 0: also resend the status information).
        0x03 => service: u8,
    }
}

bmp_message! {
    /// Diagnosis 06 70 (PA00P015 §2.17); TLV tag 1B selects the diagnosis type.
    pub struct Diagnosis = cmd::DIAGNOSIS, "Diagnosis" {
    }
}

bmp_message! {
    /// Abort 06 B0 sent by the ECR (PA00P015 §2.23).
    pub struct AbortRequest = cmd::ABORT_ECR, "Abort" {
        /// BMP D2 card output direction.
        0xD2 => card_output_direction: u8,
        /// BMP FA card reader activation.
        0xFA => card_reader_activation: u8,
    }
}

bmp_message! {
    /// Set Date and Time in PT 06 91 (PA00P015 §2.25).
    pub struct SetDateTime = cmd::SET_DATE_TIME, "Set Date and Time" {
        prefix password: Password,
        /// BMP AA date (YYMMDD).
        0xAA => date: Date,
        /// BMP 0C time.
        0x0C => time: Time,
    }
}

bmp_message! {
    /// Initialisation 06 93 (PA00P015 §2.18).
    pub struct Initialisation = cmd::INITIALISATION, "Initialisation" {
        prefix password: Password,
    }
}

bmp_message! {
    /// Set/Reset Terminal-ID 06 1B (PA00P015 §2.64); without BMP 29 the ID is reset.
    pub struct SetTerminalId = cmd::SET_TERMINAL_ID, "Set Terminal-ID" {
        prefix password: Password,
        /// BMP 29 terminal ID (8 digits).
        0x29 => terminal_id: u32,
    }
}

bmp_message! {
    /// Display Text 06 E0 (PA00P015 §2.26).
    pub struct DisplayText = cmd::DISPLAY_TEXT, "Display Text" {
        /// BMP F0 display duration in seconds (0 = unlimited).
        0xF0 => duration: u8,
        /// BMP F1 line 1.
        0xF1 => line1: Vec<u8>,
        /// BMP F2 line 2.
        0xF2 => line2: Vec<u8>,
        /// BMP F3 line 3.
        0xF3 => line3: Vec<u8>,
        /// BMP F4 line 4.
        0xF4 => line4: Vec<u8>,
        /// BMP F5 line 5.
        0xF5 => line5: Vec<u8>,
        /// BMP F6 line 6.
        0xF6 => line6: Vec<u8>,
        /// BMP F7 line 7.
        0xF7 => line7: Vec<u8>,
        /// BMP F8 line 8.
        0xF8 => line8: Vec<u8>,
        /// BMP F9 number of beeps.
        0xF9 => beeps: u8,
        /// BMP FD display device.
        0xFD => device: u8,
    }
}

bmp_message! {
    /// Account Balance Request 06 03 (PA00P015 §2.3), e.g. for bonus points.
    pub struct AccountBalanceRequest = cmd::ACCOUNT_BALANCE, "Account Balance Request" {
        /// BMP 22 card number.
        0x22 => pan: Digits,
        /// BMP 0E expiry date.
        0x0E => expiry: Expiry,
        /// BMP 2D track 1.
        0x2D => track1: Vec<u8>,
        /// BMP 23 track 2.
        0x23 => track2: Vec<u8>,
        /// BMP 24 track 3.
        0x24 => track3: Vec<u8>,
    }
}

bmp_message! {
    /// Status-Information 04 0F (PA00P015 §3.1): the result of a payment, reversal,
    /// pre-authorisation, read card or end-of-day. Field order follows the BMP table, result code
    /// first, which is what older cash registers expect.
    pub struct StatusInformation = cmd::STATUS_INFORMATION, "Status-Information" {
        /// BMP 27 result code.
        0x27 => result_code: u8,
        /// BMP 04 amount (or end-of-day total).
        0x04 => amount: Amount,
        /// BMP 0B trace number.
        0x0B => trace: u32,
        /// BMP 0C time.
        0x0C => time: Time,
        /// BMP 0D date (MMDD).
        0x0D => date: MonthDay,
        /// BMP 0E expiry date.
        0x0E => expiry: Expiry,
        /// BMP 17 card sequence number.
        0x17 => card_sequence: u32,
        /// BMP 19 payment type.
        0x19 => payment_type: u8,
        /// BMP 22 PAN / EF_ID (masked digits allowed).
        0x22 => pan: Digits,
        /// BMP 23 track 2 (after Read Card).
        0x23 => track2: Vec<u8>,
        /// BMP 24 track 3 (after Read Card).
        0x24 => track3: Vec<u8>,
        /// BMP 29 terminal ID.
        0x29 => terminal_id: u32,
        /// BMP 2A VU number.
        0x2A => vu_number: Vec<u8>,
        /// BMP 2D track 1 (after Read Card).
        0x2D => track1: Vec<u8>,
        /// BMP 37 trace number of the original transaction (reversal).
        0x37 => original_trace: u32,
        /// BMP 3B AID / authorisation attribute.
        0x3B => aid: Vec<u8>,
        /// BMP 3C additional text.
        0x3C => additional_text: Vec<u8>,
        /// BMP 49 currency code.
        0x49 => currency: u32,
        /// BMP 4C blocked goods groups.
        0x4C => blocked_goods_groups: Digits,
        /// BMP 60 individual totals (end-of-day).
        0x60 => individual_totals: Vec<u8>,
        /// BMP 87 receipt number.
        0x87 => receipt: ReceiptNo,
        /// BMP 88 turnover record number.
        0x88 => turnover: u32,
        /// BMP 8A ZVT card type.
        0x8A => card_type: u8,
        /// BMP 8B card name.
        0x8B => card_name: Vec<u8>,
        /// BMP 8C network operator card type.
        0x8C => card_type_network: u8,
        /// BMP 9A GeldKarte record.
        0x9A => geldkarte_record: Vec<u8>,
        /// BMP A0 result code AS.
        0xA0 => result_code_as: u8,
        /// BMP AA date (YYMMDD).
        0xAA => full_date: Date,
        /// BMP BA AID parameter.
        0xBA => aid_parameter: Vec<u8>,
    }
}

bmp_message! {
    /// Print Text-Block 06 D3 (PA00P015 §3.6): receipt lines as TLV (tag 25 with 07/09).
    pub struct PrintTextBlock = cmd::PRINT_TEXT_BLOCK, "Print Text-Block" {
    }
}

bmp_message! {
    /// Completion 06 0F in its ordinary BMP form (PA00P015 §3.2).
    pub struct CompletionData = cmd::COMPLETION, "Completion" {
        /// BMP 27 result code.
        0x27 => result_code: u8,
        /// BMP 0C time.
        0x0C => time: Time,
        /// BMP AA date.
        0xAA => date: Date,
        /// BMP 19 status byte.
        0x19 => status_byte: u8,
        /// BMP 29 terminal ID.
        0x29 => terminal_id: u32,
        /// BMP 49 currency code.
        0x49 => currency: u32,
    }
}

/// Registration 06 00 (PA00P015 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registration {
    /// Password.
    pub password: Password,
    /// Config byte (Table 1: receipt printing, intermediate status, …).
    pub config: u8,
    /// Currency code, positional; mandatory once a service byte or TLV follows.
    pub currency: Option<u16>,
    /// BMP 03 service byte.
    pub service: Option<u8>,
    /// TLV container (BMP 06).
    pub tlv: Option<TlvContainer>,
    /// Further BMPs.
    pub other: Vec<Bmp>,
}

impl Registration {
    const NAME: &'static str = "Registration";

    fn decode_data(data: &[u8], ctx: &mut Ctx) -> Result<Self, MessageError> {
        let password = Password::read(data, Self::NAME)?;
        let config = *data.get(3).ok_or(MessageError::Missing {
            command: Self::NAME,
            field: "config byte",
        })?;
        let mut out = Registration {
            password,
            config,
            ..Default::default()
        };
        let rest = &data[4..];
        if rest.is_empty() {
            return Ok(out);
        }
        let cc = rest.get(..2).ok_or(MessageError::Missing {
            command: Self::NAME,
            field: "currency code",
        })?;
        out.currency = Some(encoding::bcd_decode(cc).map_err(|source| MessageError::Encoding {
            field: "currency code",
            source,
        })? as u16);
        let mut other = Vec::new();
        for b in ctx.bmps(&rest[2..])? {
            if b.id == 0x03 && out.service.is_none() {
                out.service = Some(u8::from_bmp(0x03, &b.data)?);
            } else {
                other.push(b);
            }
        }
        (out.tlv, out.other) = tail(other)?;
        Ok(out)
    }

    fn encode_data(&self) -> Result<Vec<u8>, MessageError> {
        let mut out = Vec::new();
        self.password.write(&mut out)?;
        out.push(self.config);
        match self.currency {
            Some(cc) => {
                out.extend(
                    encoding::bcd_encode(u64::from(cc), 2).map_err(|source| MessageError::Encoding {
                        field: "currency code",
                        source,
                    })?,
                )
            }
            None if self.service.is_some() || self.tlv.is_some() || !self.other.is_empty() => {
                return Err(MessageError::Invalid {
                    command: Self::NAME,
                    reason: "service byte and TLV container require the currency code",
                });
            }
            None => {}
        }
        if let Some(s) = self.service {
            push_bmp(&mut out, 0x03, vec![s])?;
        }
        write_tail(&mut out, &self.tlv, &self.other)?;
        Ok(out)
    }
}

/// Status Enquiry 05 01 (PA00P015 §2.56).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusEnquiry {
    /// Password; mandatory if anything else is sent.
    pub password: Option<Password>,
    /// BMP 03 service byte (bit 1: no software version, bit 2: TLV in completion).
    pub service: Option<u8>,
    /// TLV container.
    pub tlv: Option<TlvContainer>,
    /// Further BMPs.
    pub other: Vec<Bmp>,
}

impl StatusEnquiry {
    fn decode_data(data: &[u8], ctx: &mut Ctx) -> Result<Self, MessageError> {
        if data.is_empty() {
            return Ok(Self::default());
        }
        let password = Some(Password::read(data, "Status Enquiry")?);
        let mut service = None;
        let mut rest = Vec::new();
        for b in ctx.bmps(&data[3..])? {
            if b.id == 0x03 && service.is_none() {
                service = Some(u8::from_bmp(0x03, &b.data)?);
            } else {
                rest.push(b);
            }
        }
        let (tlv, other) = tail(rest)?;
        Ok(StatusEnquiry {
            password,
            service,
            tlv,
            other,
        })
    }

    fn encode_data(&self) -> Result<Vec<u8>, MessageError> {
        let mut out = Vec::new();
        match &self.password {
            Some(p) => p.write(&mut out)?,
            None if self.service.is_some() || self.tlv.is_some() || !self.other.is_empty() => {
                return Err(MessageError::Invalid {
                    command: "Status Enquiry",
                    reason: "service byte and TLV container require the password",
                });
            }
            None => {}
        }
        if let Some(s) = self.service {
            push_bmp(&mut out, 0x03, vec![s])?;
        }
        write_tail(&mut out, &self.tlv, &self.other)?;
        Ok(out)
    }
}

/// Read Card 06 C0 (PA00P015 §2.21).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadCard {
    /// Positional timeout in seconds (0 = wait forever); mandatory if anything else is sent.
    pub timeout: Option<u8>,
    /// BMP 19 card type.
    pub card_type: Option<u8>,
    /// BMP FC dialog control.
    pub dialog_control: Option<u8>,
    /// TLV container.
    pub tlv: Option<TlvContainer>,
    /// Further BMPs.
    pub other: Vec<Bmp>,
}

impl ReadCard {
    fn decode_data(data: &[u8], ctx: &mut Ctx) -> Result<Self, MessageError> {
        let Some((&timeout, rest)) = data.split_first() else {
            return Ok(Self::default());
        };
        let mut out = ReadCard {
            timeout: Some(timeout),
            ..Default::default()
        };
        let mut other = Vec::new();
        for b in ctx.bmps(rest)? {
            match b.id {
                0x19 if out.card_type.is_none() => out.card_type = Some(u8::from_bmp(0x19, &b.data)?),
                0xFC if out.dialog_control.is_none() => out.dialog_control = Some(u8::from_bmp(0xFC, &b.data)?),
                _ => other.push(b),
            }
        }
        (out.tlv, out.other) = tail(other)?;
        Ok(out)
    }

    fn encode_data(&self) -> Result<Vec<u8>, MessageError> {
        let mut out = Vec::new();
        match self.timeout {
            Some(t) => out.push(t),
            None if self.card_type.is_some()
                || self.dialog_control.is_some()
                || self.tlv.is_some()
                || !self.other.is_empty() =>
            {
                return Err(MessageError::Invalid {
                    command: "Read Card",
                    reason: "further parameters require the timeout",
                });
            }
            None => {}
        }
        if let Some(v) = self.card_type {
            push_bmp(&mut out, 0x19, vec![v])?;
        }
        if let Some(v) = self.dialog_control {
            push_bmp(&mut out, 0xFC, vec![v])?;
        }
        write_tail(&mut out, &self.tlv, &self.other)?;
        Ok(out)
    }
}

/// Intermediate Status-Information 04 FF (PA00P015 §3.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IntermediateStatus {
    /// Status code (Table 17, e.g. `0A` insert card).
    pub status: u8,
    /// Raw timeout byte: new T4 in minutes, BCD. Mandatory when a TLV container follows.
    pub timeout: Option<u8>,
    /// TLV container (tag 24 display texts).
    pub tlv: Option<TlvContainer>,
    /// Further BMPs.
    pub other: Vec<Bmp>,
}

impl IntermediateStatus {
    /// The timeout in minutes if the byte is valid BCD.
    pub fn timeout_minutes(&self) -> Option<u8> {
        self.timeout.and_then(|t| encoding::bcd_pairs(&[t]).ok()).map(|p| p[0])
    }

    fn decode_data(data: &[u8], ctx: &mut Ctx) -> Result<Self, MessageError> {
        let (&status, rest) = data.split_first().ok_or(MessageError::Missing {
            command: "Intermediate Status",
            field: "status",
        })?;
        let mut out = IntermediateStatus {
            status,
            ..Default::default()
        };
        if let Some((&timeout, rest)) = rest.split_first() {
            out.timeout = Some(timeout);
            (out.tlv, out.other) = tail(ctx.bmps(rest)?)?;
        }
        Ok(out)
    }

    fn encode_data(&self) -> Result<Vec<u8>, MessageError> {
        let mut out = vec![self.status];
        match self.timeout {
            Some(t) => out.push(t),
            None if self.tlv.is_some() || !self.other.is_empty() => {
                return Err(MessageError::Invalid {
                    command: "Intermediate Status",
                    reason: "a TLV container requires the timeout byte",
                });
            }
            None => {}
        }
        write_tail(&mut out, &self.tlv, &self.other)?;
        Ok(out)
    }
}

/// Print Line 06 D1 (PA00P015 §3.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrintLine {
    /// Attribute (Table 16): indent, centring, double width/height, `1xxxxxxx` ≠ 80 last line,
    /// `FF` line feeds.
    pub attribute: u8,
    /// Text (rest of the data block); for attribute `FF` one byte with the number of feeds.
    pub text: Vec<u8>,
}

/// Abort 06 1E sent by the PT (PA00P015 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Abort {
    /// Result code (e.g. `6C` aborted by user or timeout).
    pub result_code: u8,
    /// Positional currency code; only with result code `6F` (wrong currency).
    pub currency: Option<u16>,
    /// BMP 87 receipt number (answer to the open-pre-authorisation enquiry, `06 1E 04 B8 87 FF FF`).
    pub receipt: Option<ReceiptNo>,
    /// TLV container (1F16/1F17 extended error).
    pub tlv: Option<TlvContainer>,
    /// Further BMPs.
    pub other: Vec<Bmp>,
}

impl Abort {
    fn decode_data(data: &[u8], ctx: &mut Ctx) -> Result<Self, MessageError> {
        let (&result_code, mut rest) = data.split_first().ok_or(MessageError::Missing {
            command: "Abort",
            field: "result code",
        })?;
        let mut out = Abort {
            result_code,
            ..Default::default()
        };
        if abort_has_currency(result_code, rest) {
            out.currency = Some(
                encoding::bcd_decode(&rest[..2]).map_err(|source| MessageError::Encoding {
                    field: "currency code",
                    source,
                })? as u16,
            );
            rest = &rest[2..];
        }
        let mut other = Vec::new();
        for b in ctx.bmps(rest)? {
            if b.id == 0x87 && out.receipt.is_none() {
                out.receipt = Some(ReceiptNo::from_bmp(0x87, &b.data)?);
            } else {
                other.push(b);
            }
        }
        (out.tlv, out.other) = tail(other)?;
        Ok(out)
    }

    fn encode_data(&self) -> Result<Vec<u8>, MessageError> {
        let mut out = vec![self.result_code];
        if let Some(cc) = self.currency {
            if self.result_code != 0x6F {
                return Err(MessageError::Invalid {
                    command: "Abort",
                    reason: "the currency code is only sent with result code 6F",
                });
            }
            out.extend(
                encoding::bcd_encode(u64::from(cc), 2).map_err(|source| MessageError::Encoding {
                    field: "currency code",
                    source,
                })?,
            );
        }
        if let Some(r) = &self.receipt {
            push_bmp(&mut out, 0x87, r.to_bmp(0x87)?)?;
        }
        write_tail(&mut out, &self.tlv, &self.other)?;
        Ok(out)
    }
}

/// Decides whether an Abort (06 1E) carries the positional currency code after its result code.
///
/// The code is only sent with result code 6F (PA00P015 §2.2.9), but the data block has no marker
/// for it and a currency such as JPY (`03 92`) even looks like a BMP. The rule used: with 6F and
/// at least two bytes left, the bytes are a currency code unless the rest parses as exactly the
/// BMPs an Abort carries (06 TLV, 87 receipt number).
pub(crate) fn abort_has_currency(result_code: u8, rest: &[u8]) -> bool {
    if result_code != 0x6F || rest.len() < 2 {
        return false;
    }
    let plain_tail = parse_bmps(rest, DecodeMode::Lenient)
        .map(|l| l.bmps.iter().all(|b| b.id == 0x06 || b.id == 0x87))
        .unwrap_or(false);
    !plain_tail
}

/// Completion 06 0F after a Status Enquiry (PA00P015 §2.56.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusEnquiryCompletion {
    /// Software version (LLLVAR, 7-bit ZVT character set); omitted when service bit 1 was set.
    pub sw_version: Option<Vec<u8>>,
    /// Terminal status code (§11, `00` = ready).
    pub terminal_status: u8,
    /// TLV container.
    pub tlv: Option<TlvContainer>,
    /// Further BMPs.
    pub other: Vec<Bmp>,
}

impl StatusEnquiryCompletion {
    fn decode_data(data: &[u8], ctx: &mut Ctx) -> Result<Self, MessageError> {
        let mut rest = data;
        let mut sw_version = None;
        if rest.len() >= 3 && rest[..3].iter().all(|b| (0xF0..=0xF9).contains(b)) {
            let (len, deviated) =
                encoding::decode_var_len(rest, 3, DecodeMode::Strict).map_err(|source| MessageError::Encoding {
                    field: "software version",
                    source,
                })?;
            debug_assert!(!deviated);
            let body = rest.get(3..3 + len).ok_or(MessageError::Encoding {
                field: "software version",
                source: EncodingError::Truncated {
                    needed: len,
                    available: rest.len() - 3,
                },
            })?;
            sw_version = Some(body.to_vec());
            rest = &rest[3 + len..];
        }
        let (&terminal_status, rest) = rest.split_first().ok_or(MessageError::Missing {
            command: "Completion",
            field: "terminal status",
        })?;
        let (tlv, other) = tail(ctx.bmps(rest)?)?;
        Ok(StatusEnquiryCompletion {
            sw_version,
            terminal_status,
            tlv,
            other,
        })
    }

    fn encode_data(&self) -> Result<Vec<u8>, MessageError> {
        let mut out = Vec::new();
        if let Some(v) = &self.sw_version {
            out.extend(
                encoding::encode_var_len(v.len(), 3).map_err(|source| MessageError::Encoding {
                    field: "software version",
                    source,
                })?,
            );
            out.extend_from_slice(v);
        }
        out.push(self.terminal_status);
        write_tail(&mut out, &self.tlv, &self.other)?;
        Ok(out)
    }
}

/// Completion 06 0F in either of its shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// BMP form (after registration, payments, administration).
    Standard(CompletionData),
    /// Form answering a Status Enquiry.
    StatusEnquiry(StatusEnquiryCompletion),
}

impl Completion {
    /// Picks the shape. With a known request that is decisive; otherwise: a leading `Fx Fx Fx`
    /// (software version LLLVAR) means the status-enquiry shape, else the BMP shape is tried and
    /// the status-enquiry shape without software version is the fallback (a lone status byte such
    /// as `06 0F 01 00` cannot be a BMP block).
    fn decode_data(data: &[u8], ctx: &mut Ctx, reply_to: Option<ControlField>) -> Result<Self, MessageError> {
        match reply_to {
            Some(cf) if cf == cmd::STATUS_ENQUIRY => {
                return StatusEnquiryCompletion::decode_data(data, ctx).map(Completion::StatusEnquiry);
            }
            Some(_) => return CompletionData::decode_data(data, ctx).map(Completion::Standard),
            None => {}
        }
        if data.len() >= 3 && data[..3].iter().all(|b| (0xF0..=0xF9).contains(b)) {
            if let Ok(c) = StatusEnquiryCompletion::decode_data(data, ctx) {
                return Ok(Completion::StatusEnquiry(c));
            }
        }
        let mut probe = Ctx {
            mode: ctx.mode,
            deviations: Vec::new(),
        };
        match CompletionData::decode_data(data, &mut probe) {
            Ok(c) => {
                ctx.deviations.extend(probe.deviations);
                Ok(Completion::Standard(c))
            }
            Err(e) => StatusEnquiryCompletion::decode_data(data, ctx)
                .map(Completion::StatusEnquiry)
                .map_err(|_| e),
        }
    }

    fn encode_data(&self) -> Result<Vec<u8>, MessageError> {
        match self {
            Completion::Standard(c) => c.encode_data(),
            Completion::StatusEnquiry(c) => c.encode_data(),
        }
    }
}

/// A typed ZVT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 06 00.
    Registration(Registration),
    /// 06 02 (no data).
    LogOff,
    /// 06 01.
    Authorisation(Authorisation),
    /// 06 03.
    AccountBalanceRequest(AccountBalanceRequest),
    /// 06 10.
    SendTurnoverTotals(SendTurnoverTotals),
    /// 06 1B.
    SetTerminalId(SetTerminalId),
    /// 06 20.
    RepeatReceipt(RepeatReceipt),
    /// 06 22.
    PreAuthorisation(PreAuthorisation),
    /// 06 23.
    PartialReversal(PartialReversal),
    /// 06 24.
    BookTotal(BookTotal),
    /// 06 25.
    PreAuthReversal(PreAuthReversal),
    /// 06 30.
    Reversal(Reversal),
    /// 06 31.
    Refund(Refund),
    /// 06 50.
    EndOfDay(EndOfDay),
    /// 06 70.
    Diagnosis(Diagnosis),
    /// 06 91.
    SetDateTime(SetDateTime),
    /// 06 93.
    Initialisation(Initialisation),
    /// 06 B0.
    AbortRequest(AbortRequest),
    /// 06 C0.
    ReadCard(ReadCard),
    /// 06 E0.
    DisplayText(DisplayText),
    /// 05 01.
    StatusEnquiry(StatusEnquiry),
    /// 08 30 with the language number.
    SelectLanguage(u8),
    /// 80 00 with optional data.
    Ack(Vec<u8>),
    /// 84 xx with the error code and optional data (`84 00` also counts as positive).
    Nack {
        /// APRC byte (error code).
        code: u8,
        /// Optional data (e.g. `04 <amount>` with `84 9D`).
        data: Vec<u8>,
    },
    /// 04 0F.
    StatusInformation(StatusInformation),
    /// 04 FF.
    IntermediateStatus(IntermediateStatus),
    /// 06 D1.
    PrintLine(PrintLine),
    /// 06 D3.
    PrintTextBlock(PrintTextBlock),
    /// 06 0F.
    Completion(Completion),
    /// 06 1E.
    Abort(Abort),
    /// Any other control field, kept as raw APDU.
    Other(Apdu),
}

impl Message {
    /// Decodes an APDU strictly.
    pub fn from_apdu(apdu: &Apdu) -> Result<Self, MessageError> {
        Self::from_apdu_with(apdu, DecodeOptions::default()).map(|(m, _)| m)
    }

    /// Parses raw bytes that must hold exactly one APDU, strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        Self::from_apdu(&Apdu::decode_exact(bytes)?)
    }

    /// Decodes an APDU with options; returns the message and the deviations accepted.
    pub fn from_apdu_with(apdu: &Apdu, options: DecodeOptions) -> Result<(Self, Vec<Deviation>), MessageError> {
        let mut ctx = Ctx {
            mode: options.mode,
            deviations: Vec::new(),
        };
        let d = apdu.data();
        let no_data = |command: &'static str| {
            if d.is_empty() {
                Ok(())
            } else {
                Err(MessageError::UnexpectedData {
                    command,
                    extra: d.len(),
                })
            }
        };
        let c = &mut ctx;
        let m = match (apdu.class(), apdu.instr()) {
            (0x06, 0x00) => Message::Registration(Registration::decode_data(d, c)?),
            (0x06, 0x01) => Message::Authorisation(Authorisation::decode_data(d, c)?),
            (0x06, 0x02) => {
                no_data("Log-Off")?;
                Message::LogOff
            }
            (0x06, 0x03) => Message::AccountBalanceRequest(AccountBalanceRequest::decode_data(d, c)?),
            (0x06, 0x0F) => Message::Completion(Completion::decode_data(d, c, options.reply_to)?),
            (0x06, 0x10) => Message::SendTurnoverTotals(SendTurnoverTotals::decode_data(d, c)?),
            (0x06, 0x1B) => Message::SetTerminalId(SetTerminalId::decode_data(d, c)?),
            (0x06, 0x1E) => Message::Abort(Abort::decode_data(d, c)?),
            (0x06, 0x20) => Message::RepeatReceipt(RepeatReceipt::decode_data(d, c)?),
            (0x06, 0x22) => Message::PreAuthorisation(PreAuthorisation::decode_data(d, c)?),
            (0x06, 0x23) => Message::PartialReversal(PartialReversal::decode_data(d, c)?),
            (0x06, 0x24) => Message::BookTotal(BookTotal::decode_data(d, c)?),
            (0x06, 0x25) => Message::PreAuthReversal(PreAuthReversal::decode_data(d, c)?),
            (0x06, 0x30) => Message::Reversal(Reversal::decode_data(d, c)?),
            (0x06, 0x31) => Message::Refund(Refund::decode_data(d, c)?),
            (0x06, 0x50) => Message::EndOfDay(EndOfDay::decode_data(d, c)?),
            (0x06, 0x70) => Message::Diagnosis(Diagnosis::decode_data(d, c)?),
            (0x06, 0x91) => Message::SetDateTime(SetDateTime::decode_data(d, c)?),
            (0x06, 0x93) => Message::Initialisation(Initialisation::decode_data(d, c)?),
            (0x06, 0xB0) => Message::AbortRequest(AbortRequest::decode_data(d, c)?),
            (0x06, 0xC0) => Message::ReadCard(ReadCard::decode_data(d, c)?),
            (0x06, 0xD1) => {
                let (&attribute, text) = d.split_first().ok_or(MessageError::Missing {
                    command: "Print Line",
                    field: "attribute",
                })?;
                Message::PrintLine(PrintLine {
                    attribute,
                    text: text.to_vec(),
                })
            }
            (0x06, 0xD3) => Message::PrintTextBlock(PrintTextBlock::decode_data(d, c)?),
            (0x06, 0xE0) => Message::DisplayText(DisplayText::decode_data(d, c)?),
            (0x05, 0x01) => Message::StatusEnquiry(StatusEnquiry::decode_data(d, c)?),
            (0x08, 0x30) => match d {
                [lang] => Message::SelectLanguage(*lang),
                [] => {
                    return Err(MessageError::Missing {
                        command: "Select Language",
                        field: "language",
                    });
                }
                _ => {
                    return Err(MessageError::UnexpectedData {
                        command: "Select Language",
                        extra: d.len() - 1,
                    });
                }
            },
            (0x04, 0x0F) => Message::StatusInformation(StatusInformation::decode_data(d, c)?),
            (0x04, 0xFF) => Message::IntermediateStatus(IntermediateStatus::decode_data(d, c)?),
            (0x80, 0x00) => Message::Ack(d.to_vec()),
            (0x84, code) => Message::Nack { code, data: d.to_vec() },
            _ => Message::Other(apdu.clone()),
        };
        Ok((m, ctx.deviations))
    }

    /// The control field this message is sent with.
    pub fn control(&self) -> ControlField {
        match self {
            Message::Registration(_) => cmd::REGISTRATION,
            Message::LogOff => cmd::LOG_OFF,
            Message::Authorisation(_) => cmd::AUTHORISATION,
            Message::AccountBalanceRequest(_) => cmd::ACCOUNT_BALANCE,
            Message::SendTurnoverTotals(_) => cmd::SEND_TURNOVER_TOTALS,
            Message::SetTerminalId(_) => cmd::SET_TERMINAL_ID,
            Message::RepeatReceipt(_) => cmd::REPEAT_RECEIPT,
            Message::PreAuthorisation(_) => cmd::PRE_AUTHORISATION,
            Message::PartialReversal(_) => cmd::PARTIAL_REVERSAL,
            Message::BookTotal(_) => cmd::BOOK_TOTAL,
            Message::PreAuthReversal(_) => cmd::PRE_AUTH_REVERSAL,
            Message::Reversal(_) => cmd::REVERSAL,
            Message::Refund(_) => cmd::REFUND,
            Message::EndOfDay(_) => cmd::END_OF_DAY,
            Message::Diagnosis(_) => cmd::DIAGNOSIS,
            Message::SetDateTime(_) => cmd::SET_DATE_TIME,
            Message::Initialisation(_) => cmd::INITIALISATION,
            Message::AbortRequest(_) => cmd::ABORT_ECR,
            Message::ReadCard(_) => cmd::READ_CARD,
            Message::DisplayText(_) => cmd::DISPLAY_TEXT,
            Message::StatusEnquiry(_) => cmd::STATUS_ENQUIRY,
            Message::SelectLanguage(_) => cmd::SELECT_LANGUAGE,
            Message::Ack(_) => cmd::ACK,
            Message::Nack { code, .. } => ControlField::new(0x84, *code),
            Message::StatusInformation(_) => cmd::STATUS_INFORMATION,
            Message::IntermediateStatus(_) => cmd::INTERMEDIATE_STATUS,
            Message::PrintLine(_) => cmd::PRINT_LINE,
            Message::PrintTextBlock(_) => cmd::PRINT_TEXT_BLOCK,
            Message::Completion(_) => cmd::COMPLETION,
            Message::Abort(_) => cmd::ABORT_PT,
            Message::Other(a) => a.control(),
        }
    }

    /// Builds the APDU.
    pub fn to_apdu(&self) -> Result<Apdu, MessageError> {
        if let Message::Other(a) = self {
            return Ok(a.clone());
        }
        let data = match self {
            Message::Registration(m) => m.encode_data()?,
            Message::LogOff => Vec::new(),
            Message::Authorisation(m) => m.encode_data()?,
            Message::AccountBalanceRequest(m) => m.encode_data()?,
            Message::SendTurnoverTotals(m) => m.encode_data()?,
            Message::SetTerminalId(m) => m.encode_data()?,
            Message::RepeatReceipt(m) => m.encode_data()?,
            Message::PreAuthorisation(m) => m.encode_data()?,
            Message::PartialReversal(m) => m.encode_data()?,
            Message::BookTotal(m) => m.encode_data()?,
            Message::PreAuthReversal(m) => m.encode_data()?,
            Message::Reversal(m) => m.encode_data()?,
            Message::Refund(m) => m.encode_data()?,
            Message::EndOfDay(m) => m.encode_data()?,
            Message::Diagnosis(m) => m.encode_data()?,
            Message::SetDateTime(m) => m.encode_data()?,
            Message::Initialisation(m) => m.encode_data()?,
            Message::AbortRequest(m) => m.encode_data()?,
            Message::ReadCard(m) => m.encode_data()?,
            Message::DisplayText(m) => m.encode_data()?,
            Message::StatusEnquiry(m) => m.encode_data()?,
            Message::SelectLanguage(l) => vec![*l],
            Message::Ack(d) => d.clone(),
            Message::Nack { data, .. } => data.clone(),
            Message::StatusInformation(m) => m.encode_data()?,
            Message::IntermediateStatus(m) => m.encode_data()?,
            Message::PrintLine(m) => {
                let mut v = vec![m.attribute];
                v.extend_from_slice(&m.text);
                v
            }
            Message::PrintTextBlock(m) => m.encode_data()?,
            Message::Completion(m) => m.encode_data()?,
            Message::Abort(m) => m.encode_data()?,
            Message::Other(_) => Vec::new(),
        };
        let cf = self.control();
        Ok(Apdu::new(cf.class, cf.instr, data)?)
    }

    /// Builds the APDU and returns its wire bytes (TCP form; wrap with
    /// [`crate::serial::encode_frame`] for the serial line).
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        Ok(self.to_apdu()?.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::parse_hex;
    use crate::tlv::{Tag, Tlv};

    fn h(s: &str) -> Vec<u8> {
        parse_hex(s).unwrap()
    }

    #[test]
    fn authorisation_10_euro() {
        let m = Message::decode(&h("06 01 07 04 00 00 00 00 10 00")).unwrap();
        let Message::Authorisation(a) = &m else { panic!("{m:?}") };
        assert_eq!(a.amount, Some(Amount(1000)));
        assert_eq!(m.encode().unwrap(), h("06 01 07 04 00 00 00 00 10 00"));
    }

    #[test]
    fn registration_spec_example() {
        // PA00P015 §5.1 / notes §1.14.
        let bytes = h("06 00 14 00 00 00 9E 09 78 06 0C 26 04 0A 02 06 D3 1F 73 03 00 00 00");
        let Message::Registration(r) = Message::decode(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(r.password, Password(0));
        assert_eq!(r.config, 0x9E);
        assert_eq!(r.currency, Some(978));
        let tlv = r.tlv.as_ref().unwrap();
        assert_eq!(tlv.find(0x0A).unwrap().data(), Some(&[0x06, 0xD3][..]));
        assert_eq!(tlv.get(0x1F73).unwrap().data(), Some(&[0, 0, 0][..]));
        assert_eq!(
            Message::Registration(r).encode().unwrap(),
            bytes,
            "re-encodes byte-identically"
        );
    }

    #[test]
    fn registration_without_cc_but_with_service_is_rejected() {
        let r = Registration {
            service: Some(1),
            ..Default::default()
        };
        assert!(matches!(
            Message::Registration(r).encode(),
            Err(MessageError::Invalid { .. })
        ));
    }

    #[test]
    fn completion_shapes() {
        // Registration completion from the spec example.
        let c = Message::decode(&h("06 0F 12 19 00 29 65 00 00 28 49 09 78 06 06 26 04 0A 02 06 D3")).unwrap();
        let Message::Completion(Completion::Standard(cd)) = c else {
            panic!("{c:?}")
        };
        assert_eq!(cd.terminal_id, Some(65000028));
        assert_eq!(cd.currency, Some(978));
        // Status enquiry completion from the ecrterm #2 trace.
        let mut bytes = h("06 0F 15 F0 F1 F7");
        bytes.extend_from_slice(b"061022a M IC_ Std");
        bytes.push(0x00);
        let Message::Completion(Completion::StatusEnquiry(s)) = Message::decode(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(s.sw_version.as_deref(), Some(&b"061022a M IC_ Std"[..]));
        assert_eq!(s.terminal_status, 0);
        // A lone terminal status byte.
        assert!(matches!(
            Message::decode(&h("06 0F 01 E0")).unwrap(),
            Message::Completion(Completion::StatusEnquiry(StatusEnquiryCompletion {
                terminal_status: 0xE0,
                ..
            }))
        ));
        // Empty completion.
        assert_eq!(
            Message::decode(&h("06 0F 00")).unwrap(),
            Message::Completion(Completion::Standard(CompletionData::default()))
        );
    }

    #[test]
    fn abort_shapes() {
        assert_eq!(
            Message::decode(&h("06 1E 01 6C")).unwrap(),
            Message::Abort(Abort {
                result_code: 0x6C,
                ..Default::default()
            })
        );
        let Message::Abort(a) = Message::decode(&h("06 1E 04 B8 87 FF FF")).unwrap() else {
            panic!()
        };
        assert_eq!(a.receipt, Some(ReceiptNo::None));
        let Message::Abort(a) = Message::decode(&h("06 1E 03 6F 09 78")).unwrap() else {
            panic!()
        };
        assert_eq!(a.currency, Some(978));
        assert_eq!(Message::Abort(a).encode().unwrap(), h("06 1E 03 6F 09 78"));
    }

    #[test]
    fn intermediate_status_with_tlv() {
        let bytes = h("04 FF 08 FF 05 06 04 24 02 07 00");
        let Message::IntermediateStatus(i) = Message::decode(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(i.status, 0xFF);
        assert_eq!(i.timeout_minutes(), Some(5));
        let t = i.tlv.as_ref().unwrap();
        assert_eq!(
            t.objects[0],
            Tlv::constructed(
                Tag::new(0x24).unwrap(),
                vec![Tlv::primitive(Tag::new(0x07).unwrap(), vec![])]
            )
        );
        assert_eq!(Message::IntermediateStatus(i).encode().unwrap(), bytes);
    }

    #[test]
    fn log_off_rejects_data_and_unknown_is_other() {
        assert_eq!(Message::decode(&h("06 02 00")).unwrap(), Message::LogOff);
        assert!(Message::decode(&h("06 02 01 00")).is_err());
        assert!(matches!(Message::decode(&h("0F A1 01 00")).unwrap(), Message::Other(_)));
        assert_eq!(
            Message::decode(&h("84 83 00")).unwrap(),
            Message::Nack {
                code: 0x83,
                data: vec![]
            }
        );
    }

    #[test]
    fn lenient_mode_reports_deviation() {
        let apdu = Apdu::decode_exact(&h("06 01 05 22 00 02 12 34")).unwrap();
        assert!(Message::from_apdu(&apdu).is_err());
        let (m, dev) = Message::from_apdu_with(
            &apdu,
            DecodeOptions {
                mode: DecodeMode::Lenient,
                reply_to: None,
            },
        )
        .unwrap();
        assert_eq!(dev, vec![Deviation::VarLengthWithoutFNibble { bmp: 0x22 }]);
        let Message::Authorisation(a) = m else { panic!() };
        assert_eq!(a.pan.unwrap().as_str(), "1234");
    }

    #[test]
    fn unknown_bmp_in_command_is_an_error() {
        // The PT must answer this with 84 83 00 (PA00P015 §13).
        assert!(matches!(
            Message::decode(&h("06 01 02 42 00")),
            Err(MessageError::Bmp(BmpError::UnknownBmp { id: 0x42, .. }))
        ));
    }
}

//! Typed messages for both directions (PA00P015 §2 ECR→PT, §3 PT→ECR) built on top of
//! [`crate::apdu`] and [`crate::bmp`].
//!
//! Two declarations drive everything here:
//!
//! - **The command table** ([`COMMANDS`], written once at the end of this module): every control
//!   field this crate knows, with its name, direction and data-block layout, and for the typed ones
//!   the [`Message`] variant. From it come the [`cmd`] constants, the [`Message`] enum, decoding
//!   dispatch ([`Message::from_apdu_with`]), encoding ([`Message::to_apdu`]), [`Message::control`],
//!   [`command_name`] and the layout [`crate::describe()`] renders.
//! - **One body declaration per typed command** (`message_body!`): the struct with its positional
//!   parameters (password, config byte, …, read in order before any BMP), one `Option` per BMP the
//!   specification lists for the command, the TLV container and `other` — BMPs that are in the
//!   global table but not modelled for this command, kept in wire order so nothing is lost.
//!
//! Encoding writes positional parameters, then named BMPs in the order the specification lists
//! them, then `other`, then the TLV container. Decoding accepts BMPs in any order.

use thiserror::Error;

use crate::apdu::{Apdu, ApduError, ControlField};
use crate::bmp::{Bmp, BmpError, BmpField, Date, Expiry, MonthDay, ReceiptNo, Time, parse_bmps};
use crate::encoding::{self, Amount, DecodeMode, Deviation, Digits, EncodingError};
use crate::tlv::{TlvContainer, TlvError};

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

/// How [`crate::describe()`] walks the data block of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// BMPs only.
    Bmps,
    /// A 3-byte BCD password, then BMPs.
    PasswordThenBmps,
    /// No data, or a layout `describe` does not interpret: any data is shown as hex.
    Raw,
    /// Positional parameters that `describe` renders with a renderer of its own.
    Special,
}

/// One row of the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// CLASS and INSTR.
    pub control: ControlField,
    /// Name as in PA00P015 §14.
    pub name: &'static str,
    /// Who sends it.
    pub direction: Direction,
    /// Data-block layout for `describe`.
    pub layout: Layout,
    /// The [`Message`] variant that models it; `None` for commands that decode as
    /// [`Message::Other`].
    pub variant: Option<&'static str>,
}

/// Name and direction of a control field, for human-readable output (PA00P015 §14).
pub fn command_name(cf: ControlField) -> Option<(&'static str, Direction)> {
    if cf.class == 0x84 {
        // Negative acknowledgements carry their error code in the second byte.
        return Some(("negative acknowledgement", Direction::Both));
    }
    command(cf).map(|c| (c.name, c.direction))
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

/// Options for typed decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// Strict or lenient.
    pub mode: DecodeMode,
    /// The command this APDU answers, if known. Needed to tell the Status-Enquiry shape of a
    /// Completion (software version + terminal status) from the ordinary BMP shape.
    pub reply_to: Option<ControlField>,
}

/// Shared decode state: options plus collected deviations.
struct Ctx {
    mode: DecodeMode,
    reply_to: Option<ControlField>,
    deviations: Vec<Deviation>,
}

impl Ctx {
    fn bmps(&mut self, data: &[u8]) -> Result<Vec<Bmp>, MessageError> {
        let list = parse_bmps(data, self.mode)?;
        self.deviations.extend(list.deviations);
        Ok(list.bmps)
    }
}

/// The data block of a typed message. `command` is the table name, used in errors.
trait Body: Sized {
    fn decode_body(data: &[u8], ctx: &mut Ctx, command: &'static str) -> Result<Self, MessageError>;
    fn encode_body(&self, out: &mut Vec<u8>, command: &'static str) -> Result<(), MessageError>;
}

// ---------------------------------------------------------------------------------------------
// Positional parameters

/// Why a positional parameter could not be read.
enum ReadError {
    /// The data block ended first.
    Missing,
    /// The bytes are there but not valid.
    Invalid(EncodingError),
}

impl ReadError {
    fn into_message(self, command: &'static str, field: &'static str) -> MessageError {
        match self {
            ReadError::Missing => MessageError::Missing { command, field },
            ReadError::Invalid(source) => MessageError::Encoding { field, source },
        }
    }
}

/// Wire form of a positional parameter (one without a BMP number).
trait Positional {
    type Value;
    /// Reads the value from the front of `rest` and advances it.
    fn read(rest: &mut &[u8]) -> Result<Self::Value, ReadError>;
    fn write(value: &Self::Value, out: &mut Vec<u8>) -> Result<(), EncodingError>;
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], ReadError> {
    let (head, tail) = rest.split_at_checked(n).ok_or(ReadError::Missing)?;
    *rest = tail;
    Ok(head)
}

/// One binary byte.
struct Byte;

impl Positional for Byte {
    type Value = u8;
    fn read(rest: &mut &[u8]) -> Result<u8, ReadError> {
        Ok(take(rest, 1)?[0])
    }
    fn write(value: &u8, out: &mut Vec<u8>) -> Result<(), EncodingError> {
        out.push(*value);
        Ok(())
    }
}

/// The password: 6 digits in 3 BCD bytes.
struct PasswordBcd;

impl Positional for PasswordBcd {
    type Value = Password;
    fn read(rest: &mut &[u8]) -> Result<Password, ReadError> {
        let v = encoding::bcd_decode(take(rest, 3)?).map_err(ReadError::Invalid)?;
        Ok(Password(v as u32))
    }
    fn write(value: &Password, out: &mut Vec<u8>) -> Result<(), EncodingError> {
        out.extend(encoding::bcd_encode(u64::from(value.0), 3)?);
        Ok(())
    }
}

/// A currency code (ISO 4217 numeric): 4 digits in 2 BCD bytes.
struct CurrencyBcd;

impl Positional for CurrencyBcd {
    type Value = u16;
    fn read(rest: &mut &[u8]) -> Result<u16, ReadError> {
        let v = encoding::bcd_decode(take(rest, 2)?).map_err(ReadError::Invalid)?;
        Ok(v as u16)
    }
    fn write(value: &u16, out: &mut Vec<u8>) -> Result<(), EncodingError> {
        out.extend(encoding::bcd_encode(u64::from(*value), 2)?);
        Ok(())
    }
}

/// Bytes behind a three-digit `F0F0F0`–`F9F9F9` length prefix (LLLVAR).
struct LllVar;

impl Positional for LllVar {
    type Value = Vec<u8>;
    fn read(rest: &mut &[u8]) -> Result<Vec<u8>, ReadError> {
        let input = *rest;
        let (len, _) = encoding::decode_var_len(input, 3, DecodeMode::Strict).map_err(ReadError::Invalid)?;
        let body = input
            .get(3..3 + len)
            .ok_or(ReadError::Invalid(EncodingError::Truncated {
                needed: len,
                available: input.len().saturating_sub(3),
            }))?;
        *rest = &input[3 + len..];
        Ok(body.to_vec())
    }
    fn write(value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), EncodingError> {
        out.extend(encoding::encode_var_len(value.len(), 3)?);
        out.extend_from_slice(value);
        Ok(())
    }
}

/// Reads one positional field in one of three modes: mandatory; `optional`, i.e. absent only when
/// the data block ends before it; or `when` a predicate over the fields so far and the remaining
/// bytes says it is there.
macro_rules! read_positional {
    ($out:ident, $rest:ident, $command:ident, $field:ident, $codec:ident, $label:literal) => {
        $out.$field = <$codec as Positional>::read(&mut $rest).map_err(|e| e.into_message($command, $label))?;
    };
    ($out:ident, $rest:ident, $command:ident, $field:ident, $codec:ident, $label:literal, optional $reason:literal) => {
        if !$rest.is_empty() {
            $out.$field = Some(<$codec as Positional>::read(&mut $rest).map_err(|e| e.into_message($command, $label))?);
        }
    };
    ($out:ident, $rest:ident, $command:ident, $field:ident, $codec:ident, $label:literal, when $present:ident) => {
        if $present(&$out, $rest) {
            $out.$field = Some(<$codec as Positional>::read(&mut $rest).map_err(|e| e.into_message($command, $label))?);
        }
    };
}

/// Writes one positional field; an absent `optional` field records where it would have been, and
/// nothing may follow it.
macro_rules! write_positional {
    ($self:ident, $out:ident, $absent:ident, $field:ident, $codec:ident, $label:literal) => {
        <$codec as Positional>::write(&$self.$field, $out)
            .map_err(|source| MessageError::Encoding { field: $label, source })?;
    };
    ($self:ident, $out:ident, $absent:ident, $field:ident, $codec:ident, $label:literal, optional $reason:literal) => {
        match &$self.$field {
            Some(v) => <$codec as Positional>::write(v, $out)
                .map_err(|source| MessageError::Encoding { field: $label, source })?,
            None => {
                $absent.get_or_insert(($out.len(), $reason));
            }
        }
    };
    ($self:ident, $out:ident, $absent:ident, $field:ident, $codec:ident, $label:literal, when $present:ident) => {
        if let Some(v) = &$self.$field {
            <$codec as Positional>::write(v, $out)
                .map_err(|source| MessageError::Encoding { field: $label, source })?;
        }
    };
}

/// Declares the data block of a typed command: positional fields in wire order, each with its
/// wire form and name (`optional` / `when` as in `read_positional!`), then the BMPs with a named
/// field. Every body also carries the TLV container (BMP 06) and `other`. `check` names a rule
/// the encoder enforces across fields.
macro_rules! message_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( check $check:ident; )?
            $( positional {
                $( $(#[$pmeta:meta])* $pfield:ident : $pty:ty = $codec:ident $label:literal $( $mode:ident $arg:tt )?, )*
            } )?
            bmps {
                $( $(#[$fmeta:meta])* $id:literal => $field:ident : $ty:ty, )*
            }
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $($( $(#[$pmeta])* pub $pfield: $pty, )*)?
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            /// TLV container (BMP 06).
            pub tlv: Option<TlvContainer>,
            /// Further BMPs without a named field, in wire order.
            pub other: Vec<Bmp>,
        }

        impl $name {
            /// BMP numbers that have a named field.
            pub const FIELD_BMPS: &'static [u8] = &[$($id),*];
        }

        impl Body for $name {
            fn decode_body(data: &[u8], ctx: &mut Ctx, command: &'static str) -> Result<Self, MessageError> {
                #[allow(unused_mut)]
                let mut rest = data;
                let mut out = Self::default();
                $($( read_positional!(out, rest, command, $pfield, $codec, $label $(, $mode $arg)?); )*)?
                let _ = command;
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

            fn encode_body(&self, out: &mut Vec<u8>, command: &'static str) -> Result<(), MessageError> {
                $( $check(self).map_err(|reason| MessageError::Invalid { command, reason })?; )?
                #[allow(unused_mut)]
                let mut absent: Option<(usize, &'static str)> = None;
                $($( write_positional!(self, out, absent, $pfield, $codec, $label $(, $mode $arg)?); )*)?
                $( if let Some(v) = &self.$field {
                    Bmp { id: $id, data: v.to_bmp($id)? }.encode_into(out)?;
                } )*
                for b in &self.other {
                    b.encode_into(out)?;
                }
                if let Some(t) = &self.tlv {
                    Bmp { id: 0x06, data: t.encode()? }.encode_into(out)?;
                }
                match absent {
                    Some((at, reason)) if out.len() > at => Err(MessageError::Invalid { command, reason }),
                    _ => Ok(()),
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Bodies, ECR → PT

message_body! {
    /// Registration 06 00 (PA00P015 §2.1).
    pub struct Registration {
        positional {
            /// Password.
            password: Password = PasswordBcd "password",
            /// Config byte (Table 1: receipt printing, intermediate status, …).
            config: u8 = Byte "config byte",
            /// Currency code, positional; mandatory once a service byte or TLV follows.
            currency: Option<u16> = CurrencyBcd "currency code"
                optional "service byte and TLV container require the currency code",
        }
        bmps {
            /// BMP 03 service byte.
            0x03 => service: u8,
        }
    }
}

message_body! {
    /// Authorisation 06 01: a payment (PA00P015 §2.2).
    pub struct Authorisation {
        bmps {
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
}

message_body! {
    /// Account Balance Request 06 03 (PA00P015 §2.3), e.g. for bonus points.
    pub struct AccountBalanceRequest {
        bmps {
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
}

message_body! {
    /// Send Turnover Totals 06 10 (PA00P015 §2.61): the totals of the current batch without
    /// closing it.
    pub struct SendTurnoverTotals {
        positional {
            /// Password (3 BCD bytes, positional).
            password: Password = PasswordBcd "password",
        }
        bmps {}
    }
}

message_body! {
    /// Set/Reset Terminal-ID 06 1B (PA00P015 §2.64); without BMP 29 the ID is reset.
    pub struct SetTerminalId {
        positional {
            /// Password (3 BCD bytes, positional).
            password: Password = PasswordBcd "password",
        }
        bmps {
            /// BMP 29 terminal ID (8 digits).
            0x29 => terminal_id: u32,
        }
    }
}

message_body! {
    /// Repeat Receipt 06 20 (PA00P015 §2.20).
    pub struct RepeatReceipt {
        positional {
            /// Password (3 BCD bytes, positional).
            password: Password = PasswordBcd "password",
        }
        bmps {
            /// BMP 03 service byte (bit 0: also resend the status information).
            0x03 => service: u8,
        }
    }
}

message_body! {
    /// Pre-Authorisation / Reservation 06 22 (PA00P015 §2.8).
    pub struct PreAuthorisation {
        bmps {
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
}

message_body! {
    /// Partial-Reversal of a Pre-Authorisation / Booking of a Reservation 06 23
    /// (PA00P015 §2.10). Carries the *unused* amount.
    pub struct PartialReversal {
        bmps {
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
}

message_body! {
    /// Book Total 06 24 (PA00P015 §2.13). Carries the *used* amount; BMP 87 is mandatory.
    pub struct BookTotal {
        bmps {
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
}

message_body! {
    /// Pre-Authorisation Reversal 06 25 (PA00P015 §2.14): cancels a reservation completely.
    /// BMP 87 is mandatory.
    pub struct PreAuthReversal {
        bmps {
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
}

message_body! {
    /// Reversal 06 30 (PA00P015 §2.9). BMP 87 is mandatory.
    pub struct Reversal {
        positional {
            /// Password (3 BCD bytes, positional).
            password: Password = PasswordBcd "password",
        }
        bmps {
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
}

message_body! {
    /// Refund 06 31 (PA00P015 §2.15).
    pub struct Refund {
        positional {
            /// Password (3 BCD bytes, positional).
            password: Password = PasswordBcd "password",
        }
        bmps {
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
}

message_body! {
    /// End-of-Day 06 50 (PA00P015 §2.16).
    pub struct EndOfDay {
        positional {
            /// Password (3 BCD bytes, positional).
            password: Password = PasswordBcd "password",
        }
        bmps {}
    }
}

message_body! {
    /// Diagnosis 06 70 (PA00P015 §2.17); TLV tag 1B selects the diagnosis type.
    pub struct Diagnosis {
        bmps {}
    }
}

message_body! {
    /// Set Date and Time in PT 06 91 (PA00P015 §2.25).
    pub struct SetDateTime {
        positional {
            /// Password (3 BCD bytes, positional).
            password: Password = PasswordBcd "password",
        }
        bmps {
            /// BMP AA date (YYMMDD).
            0xAA => date: Date,
            /// BMP 0C time.
            0x0C => time: Time,
        }
    }
}

message_body! {
    /// Initialisation 06 93 (PA00P015 §2.18).
    pub struct Initialisation {
        positional {
            /// Password (3 BCD bytes, positional).
            password: Password = PasswordBcd "password",
        }
        bmps {}
    }
}

message_body! {
    /// Abort 06 B0 sent by the ECR (PA00P015 §2.23).
    pub struct AbortRequest {
        bmps {
            /// BMP D2 card output direction.
            0xD2 => card_output_direction: u8,
            /// BMP FA card reader activation.
            0xFA => card_reader_activation: u8,
        }
    }
}

message_body! {
    /// Read Card 06 C0 (PA00P015 §2.21).
    pub struct ReadCard {
        positional {
            /// Positional timeout in seconds (0 = wait forever); mandatory if anything else is sent.
            timeout: Option<u8> = Byte "timeout" optional "further parameters require the timeout",
        }
        bmps {
            /// BMP 19 card type.
            0x19 => card_type: u8,
            /// BMP FC dialog control.
            0xFC => dialog_control: u8,
        }
    }
}

message_body! {
    /// Display Text 06 E0 (PA00P015 §2.26).
    pub struct DisplayText {
        bmps {
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
}

message_body! {
    /// Status Enquiry 05 01 (PA00P015 §2.56).
    pub struct StatusEnquiry {
        positional {
            /// Password; mandatory if anything else is sent.
            password: Option<Password> = PasswordBcd "password"
                optional "service byte and TLV container require the password",
        }
        bmps {
            /// BMP 03 service byte (bit 1: no software version, bit 2: TLV in completion).
            0x03 => service: u8,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies, PT → ECR

message_body! {
    /// Status-Information 04 0F (PA00P015 §3.1): the result of a payment, reversal,
    /// pre-authorisation, read card or end-of-day. Field order follows the BMP table, result code
    /// first, which is what older cash registers expect.
    pub struct StatusInformation {
        bmps {
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
}

message_body! {
    /// Intermediate Status-Information 04 FF (PA00P015 §3.7).
    pub struct IntermediateStatus {
        positional {
            /// Status code (Table 17, e.g. `0A` insert card).
            status: u8 = Byte "status",
            /// Raw timeout byte: new T4 in minutes, BCD. Mandatory when a TLV container follows.
            timeout: Option<u8> = Byte "timeout" optional "a TLV container requires the timeout byte",
        }
        bmps {}
    }
}

impl IntermediateStatus {
    /// The timeout in minutes if the byte is valid BCD.
    pub fn timeout_minutes(&self) -> Option<u8> {
        self.timeout.and_then(|t| encoding::bcd_pairs(&[t]).ok()).map(|p| p[0])
    }
}

message_body! {
    /// Print Text-Block 06 D3 (PA00P015 §3.6): receipt lines as TLV (tag 25 with 07/09).
    pub struct PrintTextBlock {
        bmps {}
    }
}

message_body! {
    /// Abort 06 1E sent by the PT (PA00P015 §3.3).
    pub struct Abort {
        check currency_only_with_6f;
        positional {
            /// Result code (e.g. `6C` aborted by user or timeout).
            result_code: u8 = Byte "result code",
            /// Positional currency code; only with result code `6F` (wrong currency).
            currency: Option<u16> = CurrencyBcd "currency code" when abort_currency_follows,
        }
        bmps {
            /// BMP 87 receipt number (answer to the open-pre-authorisation enquiry, `06 1E 04 B8 87 FF FF`).
            0x87 => receipt: ReceiptNo,
        }
    }
}

fn currency_only_with_6f(abort: &Abort) -> Result<(), &'static str> {
    match abort.currency {
        Some(_) if abort.result_code != 0x6F => Err("the currency code is only sent with result code 6F"),
        _ => Ok(()),
    }
}

fn abort_currency_follows(abort: &Abort, rest: &[u8]) -> bool {
    abort_has_currency(abort.result_code, rest)
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

message_body! {
    /// Completion 06 0F in its ordinary BMP form (PA00P015 §3.2).
    pub struct CompletionData {
        bmps {
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
}

message_body! {
    /// Completion 06 0F after a Status Enquiry (PA00P015 §2.56.5).
    pub struct StatusEnquiryCompletion {
        positional {
            /// Software version (LLLVAR, 7-bit ZVT character set); omitted when service bit 1 was set.
            sw_version: Option<Vec<u8>> = LllVar "software version" when software_version_follows,
            /// Terminal status code (§11, `00` = ready).
            terminal_status: u8 = Byte "terminal status",
        }
        bmps {}
    }
}

/// A software version LLLVAR starts with three `F0`–`F9` bytes; a terminal status byte alone
/// never does.
fn starts_with_lllvar(data: &[u8]) -> bool {
    data.len() >= 3 && data[..3].iter().all(|b| (0xF0..=0xF9).contains(b))
}

fn software_version_follows(_: &StatusEnquiryCompletion, rest: &[u8]) -> bool {
    starts_with_lllvar(rest)
}

/// Completion 06 0F in either of its shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// BMP form (after registration, payments, administration).
    Standard(CompletionData),
    /// Form answering a Status Enquiry.
    StatusEnquiry(StatusEnquiryCompletion),
}

impl Body for Completion {
    /// Picks the shape. With a known request that is decisive; otherwise: a leading `Fx Fx Fx`
    /// (software version LLLVAR) means the status-enquiry shape, else the BMP shape is tried and
    /// the status-enquiry shape without software version is the fallback (a lone status byte such
    /// as `06 0F 01 00` cannot be a BMP block).
    fn decode_body(data: &[u8], ctx: &mut Ctx, command: &'static str) -> Result<Self, MessageError> {
        match ctx.reply_to {
            Some(cf) if cf == cmd::STATUS_ENQUIRY => {
                return StatusEnquiryCompletion::decode_body(data, ctx, command).map(Completion::StatusEnquiry);
            }
            Some(_) => return CompletionData::decode_body(data, ctx, command).map(Completion::Standard),
            None => {}
        }
        if starts_with_lllvar(data) {
            if let Ok(c) = StatusEnquiryCompletion::decode_body(data, ctx, command) {
                return Ok(Completion::StatusEnquiry(c));
            }
        }
        let mut probe = Ctx {
            mode: ctx.mode,
            reply_to: ctx.reply_to,
            deviations: Vec::new(),
        };
        match CompletionData::decode_body(data, &mut probe, command) {
            Ok(c) => {
                ctx.deviations.extend(probe.deviations);
                Ok(Completion::Standard(c))
            }
            Err(e) => StatusEnquiryCompletion::decode_body(data, ctx, command)
                .map(Completion::StatusEnquiry)
                .map_err(|_| e),
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>, command: &'static str) -> Result<(), MessageError> {
        match self {
            Completion::Standard(c) => c.encode_body(out, command),
            Completion::StatusEnquiry(c) => c.encode_body(out, command),
        }
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

impl Body for PrintLine {
    fn decode_body(data: &[u8], _: &mut Ctx, command: &'static str) -> Result<Self, MessageError> {
        let mut rest = data;
        let attribute = Byte::read(&mut rest).map_err(|e| e.into_message(command, "attribute"))?;
        Ok(PrintLine {
            attribute,
            text: rest.to_vec(),
        })
    }

    fn encode_body(&self, out: &mut Vec<u8>, _: &'static str) -> Result<(), MessageError> {
        out.push(self.attribute);
        out.extend_from_slice(&self.text);
        Ok(())
    }
}

/// The data block of Select Language (08 30): exactly one byte, the language number.
impl Body for u8 {
    fn decode_body(data: &[u8], _: &mut Ctx, command: &'static str) -> Result<Self, MessageError> {
        match data {
            [byte] => Ok(*byte),
            [] => Err(MessageError::Missing {
                command,
                field: "language",
            }),
            _ => Err(MessageError::UnexpectedData {
                command,
                extra: data.len() - 1,
            }),
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>, _: &'static str) -> Result<(), MessageError> {
        out.push(*self);
        Ok(())
    }
}

/// A data block kept as bytes (the optional data of a positive acknowledgement).
impl Body for Vec<u8> {
    fn decode_body(data: &[u8], _: &mut Ctx, _: &'static str) -> Result<Self, MessageError> {
        Ok(data.to_vec())
    }

    fn encode_body(&self, out: &mut Vec<u8>, _: &'static str) -> Result<(), MessageError> {
        out.extend_from_slice(self);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The command table

/// `Some(x)` for a present optional macro fragment, `None` otherwise.
macro_rules! some_or_none {
    () => {
        None
    };
    ($e:expr) => {
        Some($e)
    };
}

/// The pattern of a table variant, binding its payload (if any) to `$bind`.
macro_rules! variant_pattern {
    ($bind:ident; $variant:ident) => {
        Message::$variant
    };
    ($bind:ident; $variant:ident($payload:ty)) => {
        Message::$variant($bind)
    };
}

/// Decodes the data block of a table variant; a variant without payload takes no data.
macro_rules! decode_variant {
    ($data:ident, $ctx:ident, $name:literal, $variant:ident) => {
        if $data.is_empty() {
            Message::$variant
        } else {
            return Err(MessageError::UnexpectedData {
                command: $name,
                extra: $data.len(),
            });
        }
    };
    ($data:ident, $ctx:ident, $name:literal, $variant:ident($payload:ty)) => {
        Message::$variant(<$payload as Body>::decode_body($data, $ctx, $name)?)
    };
}

/// Encodes the payload of a table variant (nothing for a variant without payload).
macro_rules! encode_variant {
    ($bind:ident, $out:ident, $name:literal, $variant:ident) => {
        ()
    };
    ($bind:ident, $out:ident, $name:literal, $variant:ident($payload:ty)) => {
        <$payload as Body>::encode_body($bind, &mut $out, $name)?
    };
}

/// Generates everything keyed by control field from one list of rows:
/// `CLASS INSTR "name" Direction Layout [=> CONSTANT Variant(Payload)];`
macro_rules! command_table {
    (
        $(
            $class:literal $instr:literal $name:literal $dir:ident $layout:ident
                $( => $konst:ident $variant:ident $( ( $payload:ty ) )? )? ;
        )*
    ) => {
        /// Control fields of the typed commands (from the command table).
        pub mod cmd {
            use crate::apdu::ControlField;
            $($(
                #[doc = concat!(stringify!($class), " ", stringify!($instr), " ", $name, ".")]
                pub const $konst: ControlField = ControlField::new($class, $instr);
            )?)*
        }

        /// Every command this crate names, in control-field order. Negative acknowledgements
        /// (`84 xx`, [`Message::Nack`]) are a family and not listed.
        pub static COMMANDS: &[CommandSpec] = &[
            $( CommandSpec {
                control: ControlField::new($class, $instr),
                name: $name,
                direction: Direction::$dir,
                layout: Layout::$layout,
                variant: some_or_none!($( stringify!($variant) )?),
            }, )*
        ];

        /// The table row of a control field.
        pub fn command(cf: ControlField) -> Option<&'static CommandSpec> {
            // The rows are in ascending order (a unit test checks it).
            COMMANDS.binary_search_by_key(&cf, |c| c.control).ok().map(|i| &COMMANDS[i])
        }

        /// A typed ZVT message.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $($(
                #[doc = concat!(stringify!($class), " ", stringify!($instr), " ", $name, ".")]
                $variant $( ( $payload ) )?,
            )?)*
            /// 84 xx with the error code and optional data (`84 00` also counts as positive).
            Nack {
                /// APRC byte (error code).
                code: u8,
                /// Optional data (e.g. `04 <amount>` with `84 9D`).
                data: Vec<u8>,
            },
            /// Any other control field, kept as raw APDU.
            Other(Apdu),
        }

        impl Message {
            /// Decodes an APDU with options; returns the message and the deviations accepted.
            pub fn from_apdu_with(
                apdu: &Apdu,
                options: DecodeOptions,
            ) -> Result<(Self, Vec<Deviation>), MessageError> {
                let mut ctx = Ctx {
                    mode: options.mode,
                    reply_to: options.reply_to,
                    deviations: Vec::new(),
                };
                let data = apdu.data();
                let c = &mut ctx;
                let message = match (apdu.class(), apdu.instr()) {
                    $($(
                        ($class, $instr) => decode_variant!(data, c, $name, $variant $( ($payload) )?),
                    )?)*
                    (0x84, code) => Message::Nack { code, data: data.to_vec() },
                    _ => Message::Other(apdu.clone()),
                };
                Ok((message, ctx.deviations))
            }

            /// The control field this message is sent with.
            pub fn control(&self) -> ControlField {
                match self {
                    $($(
                        variant_pattern!(_m; $variant $( ($payload) )?) => cmd::$konst,
                    )?)*
                    Message::Nack { code, .. } => ControlField::new(0x84, *code),
                    Message::Other(a) => a.control(),
                }
            }

            /// Builds the APDU.
            pub fn to_apdu(&self) -> Result<Apdu, MessageError> {
                let mut data = Vec::new();
                let cf = match self {
                    $($(
                        variant_pattern!(m; $variant $( ($payload) )?) => {
                            encode_variant!(m, data, $name, $variant $( ($payload) )?);
                            cmd::$konst
                        }
                    )?)*
                    Message::Nack { code, data: d } => {
                        data.extend_from_slice(d);
                        ControlField::new(0x84, *code)
                    }
                    Message::Other(a) => return Ok(a.clone()),
                };
                Ok(Apdu::new(cf.class, cf.instr, data)?)
            }
        }
    };
}

command_table! {
    // CLASS INSTR  name (PA00P015 §14)                     direction  layout
    //              [=> constant in `cmd`  Message variant]
    0x04 0x01 "Set Date and Time in ECR" PtToEcr Bmps;
    0x04 0x0C "File request" PtToEcr Raw;
    0x04 0x0D "Input request" PtToEcr Bmps;
    0x04 0x0E "Menu request" PtToEcr Bmps;
    0x04 0x0F "Status-Information" PtToEcr Bmps
        => STATUS_INFORMATION StatusInformation(StatusInformation);
    0x04 0xFF "Intermediate Status-Information" PtToEcr Special
        => INTERMEDIATE_STATUS IntermediateStatus(IntermediateStatus);
    0x05 0x01 "Status Enquiry" EcrToPt Special => STATUS_ENQUIRY StatusEnquiry(StatusEnquiry);
    0x06 0x00 "Registration" EcrToPt Special => REGISTRATION Registration(Registration);
    0x06 0x01 "Authorisation" EcrToPt Bmps => AUTHORISATION Authorisation(Authorisation);
    0x06 0x02 "Log-Off" EcrToPt Raw => LOG_OFF LogOff;
    0x06 0x03 "Account Balance Request" EcrToPt Bmps
        => ACCOUNT_BALANCE AccountBalanceRequest(AccountBalanceRequest);
    0x06 0x04 "Activate Card" EcrToPt Bmps;
    0x06 0x05 "Procurement" EcrToPt Bmps;
    0x06 0x09 "Prepaid Top-Up" EcrToPt Raw;
    0x06 0x0A "Tax Free" EcrToPt Bmps;
    0x06 0x0C "Book Tip" EcrToPt Bmps;
    0x06 0x0F "Completion" PtToEcr Special => COMPLETION Completion(Completion);
    0x06 0x10 "Send Turnover Totals" EcrToPt PasswordThenBmps
        => SEND_TURNOVER_TOTALS SendTurnoverTotals(SendTurnoverTotals);
    0x06 0x12 "Reprint Receipts" EcrToPt Raw;
    0x06 0x18 "Reset Terminal" EcrToPt Raw;
    0x06 0x1A "Print System Configuration" EcrToPt Raw;
    0x06 0x1B "Set/Reset Terminal-ID" EcrToPt PasswordThenBmps => SET_TERMINAL_ID SetTerminalId(SetTerminalId);
    0x06 0x1E "Abort" PtToEcr Special => ABORT_PT Abort(Abort);
    0x06 0x20 "Repeat Receipt" EcrToPt PasswordThenBmps => REPEAT_RECEIPT RepeatReceipt(RepeatReceipt);
    0x06 0x21 "Telephonic Authorisation" EcrToPt PasswordThenBmps;
    0x06 0x22 "Pre-Authorisation / Reservation" EcrToPt Bmps
        => PRE_AUTHORISATION PreAuthorisation(PreAuthorisation);
    0x06 0x23 "Partial-Reversal of Pre-Authorisation / Booking" EcrToPt Bmps
        => PARTIAL_REVERSAL PartialReversal(PartialReversal);
    0x06 0x24 "Book Total" EcrToPt Bmps => BOOK_TOTAL BookTotal(BookTotal);
    0x06 0x25 "Pre-Authorisation Reversal" EcrToPt Bmps => PRE_AUTH_REVERSAL PreAuthReversal(PreAuthReversal);
    0x06 0x26 "Reversal of external transaction" EcrToPt Bmps;
    0x06 0x30 "Reversal" EcrToPt PasswordThenBmps => REVERSAL Reversal(Reversal);
    0x06 0x31 "Refund" EcrToPt PasswordThenBmps => REFUND Refund(Refund);
    0x06 0x50 "End-of-Day" EcrToPt PasswordThenBmps => END_OF_DAY EndOfDay(EndOfDay);
    0x06 0x51 "Send offline transactions" EcrToPt PasswordThenBmps;
    0x06 0x70 "Diagnosis" EcrToPt Bmps => DIAGNOSIS Diagnosis(Diagnosis);
    0x06 0x79 "Selftest" EcrToPt Raw;
    0x06 0x91 "Set Date and Time in PT" EcrToPt PasswordThenBmps => SET_DATE_TIME SetDateTime(SetDateTime);
    0x06 0x93 "Initialisation" EcrToPt PasswordThenBmps => INITIALISATION Initialisation(Initialisation);
    0x06 0x95 "Change Password" EcrToPt Raw;
    0x06 0xB0 "Abort" EcrToPt Bmps => ABORT_ECR AbortRequest(AbortRequest);
    0x06 0xC0 "Read Card" EcrToPt Special => READ_CARD ReadCard(ReadCard);
    0x06 0xC5 "Close Card Session" EcrToPt Raw;
    0x06 0xC6 "Send APDUs" EcrToPt Raw;
    0x06 0xD0 "Menu with graphic display" PtToEcr Raw;
    0x06 0xD1 "Print Line" Both Special => PRINT_LINE PrintLine(PrintLine);
    0x06 0xD3 "Print Text-Block" Both Bmps => PRINT_TEXT_BLOCK PrintTextBlock(PrintTextBlock);
    0x06 0xD8 "Dial-Up" PtToEcr Raw;
    0x06 0xD9 "Transmit Data via Dial-Up" PtToEcr Raw;
    0x06 0xDA "Receive Data via Dial-Up" PtToEcr Raw;
    0x06 0xDB "Hang-Up" PtToEcr Raw;
    0x06 0xDD "Transparent Mode" PtToEcr Raw;
    0x06 0xE0 "Display Text" EcrToPt Bmps => DISPLAY_TEXT DisplayText(DisplayText);
    0x06 0xE1 "Display Text with Function-Key Input" EcrToPt Raw;
    0x06 0xE2 "Display Text with Numerical Input" EcrToPt Bmps;
    0x06 0xE3 "PIN-Verification for Customer-Card" EcrToPt Raw;
    0x06 0xE4 "Blocked-List Query to ECR" PtToEcr Raw;
    0x06 0xE5 "MAC calculation" EcrToPt Raw;
    0x06 0xE6 "Card Poll with Authorisation" EcrToPt Bmps;
    0x06 0xE7 "Display Text with Numerical Input (DUKPT)" EcrToPt Raw;
    0x06 0xF0 "Display Image" EcrToPt Raw;
    0x08 0x01 "Activate Service-Mode" EcrToPt Raw;
    0x08 0x02 "Switch Protocol" EcrToPt Raw;
    0x08 0x10 "Software-Update" EcrToPt Bmps;
    0x08 0x11 "Read File" EcrToPt Bmps;
    0x08 0x12 "Delete File" EcrToPt Bmps;
    0x08 0x13 "Change Configuration" EcrToPt Bmps;
    0x08 0x14 "Write File" EcrToPt Raw;
    0x08 0x20 "OPT action" EcrToPt Raw;
    0x08 0x21 "OPT action" EcrToPt Raw;
    0x08 0x22 "OPT action" EcrToPt Raw;
    0x08 0x23 "OPT action" EcrToPt Raw;
    0x08 0x24 "OPT action" EcrToPt Raw;
    0x08 0x30 "Select Language" EcrToPt Special => SELECT_LANGUAGE SelectLanguage(u8);
    0x08 0x40 "Change Baudrate" EcrToPt Raw;
    0x08 0x50 "Activate Card-Reader" EcrToPt Bmps;
    0x80 0x00 "positive acknowledgement" Both Special => ACK Ack(Vec<u8>);
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

    #[test]
    fn the_table_is_sorted_without_duplicates() {
        // `command` relies on the order; a duplicate row would shadow another.
        for pair in COMMANDS.windows(2) {
            assert!(
                pair[0].control < pair[1].control,
                "{} {} before {} {}",
                pair[0].control,
                pair[0].name,
                pair[1].control,
                pair[1].name
            );
        }
    }

    #[test]
    fn every_row_is_found_by_its_control_field() {
        for spec in COMMANDS {
            assert_eq!(command(spec.control), Some(spec));
            assert_eq!(command_name(spec.control), Some((spec.name, spec.direction)));
        }
        assert_eq!(command(ControlField::new(0x06, 0x06)), None);
        assert_eq!(
            command_name(ControlField::new(0x84, 0x9C)),
            Some(("negative acknowledgement", Direction::Both))
        );
    }

    #[test]
    fn constants_and_variants_come_from_the_rows() {
        // Values from PA00P015 §14, independently of the table.
        assert_eq!(cmd::AUTHORISATION, ControlField::new(0x06, 0x01));
        assert_eq!(cmd::STATUS_ENQUIRY, ControlField::new(0x05, 0x01));
        assert_eq!(cmd::ABORT_PT, ControlField::new(0x06, 0x1E));
        assert_eq!(cmd::ABORT_ECR, ControlField::new(0x06, 0xB0));
        assert_eq!(Message::LogOff.control(), ControlField::new(0x06, 0x02));
        assert_eq!(Message::SelectLanguage(1).encode().unwrap(), h("08 30 01 01"));
        let row = command(cmd::PRINT_LINE).unwrap();
        assert_eq!(
            (row.name, row.direction, row.variant),
            ("Print Line", Direction::Both, Some("PrintLine"))
        );
        assert_eq!(command(ControlField::new(0x06, 0x12)).unwrap().variant, None);
    }

    #[test]
    fn positional_rules_are_enforced_when_encoding() {
        let invalid = |m: Message| matches!(m.encode(), Err(MessageError::Invalid { .. }));
        assert!(invalid(Message::ReadCard(ReadCard {
            card_type: Some(1),
            ..Default::default()
        })));
        assert!(invalid(Message::StatusEnquiry(StatusEnquiry {
            service: Some(1),
            ..Default::default()
        })));
        assert!(invalid(Message::IntermediateStatus(IntermediateStatus {
            status: 0x0A,
            tlv: Some(TlvContainer::default()),
            ..Default::default()
        })));
        assert!(invalid(Message::Abort(Abort {
            result_code: 0x6C,
            currency: Some(978),
            ..Default::default()
        })));
        // Absent optional parameters with nothing after them are fine.
        assert_eq!(Message::ReadCard(ReadCard::default()).encode().unwrap(), h("06 C0 00"));
        assert_eq!(
            Message::StatusEnquiry(StatusEnquiry::default()).encode().unwrap(),
            h("05 01 00")
        );
    }

    #[test]
    fn positional_errors_name_the_command_and_field() {
        assert_eq!(
            Message::decode(&h("06 00 03 00 00 00")).unwrap_err(),
            MessageError::Missing {
                command: "Registration",
                field: "config byte"
            }
        );
        assert_eq!(
            Message::decode(&h("06 00 05 00 00 00 9E 09")).unwrap_err(),
            MessageError::Missing {
                command: "Registration",
                field: "currency code"
            }
        );
        assert_eq!(
            Message::decode(&h("08 30 02 01 02")).unwrap_err(),
            MessageError::UnexpectedData {
                command: "Select Language",
                extra: 1
            }
        );
        assert!(matches!(
            Message::decode(&h("06 50 03 00 0A 00")).unwrap_err(),
            MessageError::Encoding { field: "password", .. }
        ));
    }
}

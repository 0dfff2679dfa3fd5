//! `possim-zvt`: a pure codec for the German ZVT ECR interface (cash register ↔ payment terminal).
//!
//! No I/O, no clock, no async: every function maps bytes to values and back, so the same code
//! serves the virtual terminal, test tools and the journal. Modules, bottom-up:
//!
//! - [`encoding`]: BCD numbers, amounts, masked digit strings, LLVAR/LLLVAR prefixes.
//! - [`apdu`]: the `CLASS INSTR LEN DATA` envelope with extended length, incremental decoding.
//! - [`tlv`]: the BMP 06 TLV container.
//! - [`bmp`]: the BMP table and typed field conversions.
//! - [`messages`]: the command table and typed commands for both directions.
//! - [`serial`]: RS-232 link framing (DLE STX … DLE ETX, CRC-16/KERMIT, ACK/NAK, timers).
//! - [`describe`](mod@describe): human-readable rendering of APDUs and frames.
//!
//! Specification references use the document numbers of the ZVT specification: PA00P015
//! (commands, BMPs, error codes, rev. 13.08) and PA00P016 (transport and application protocol,
//! rev. 04).

pub mod apdu;
pub mod bmp;
pub mod describe;
pub mod encoding;
pub mod messages;
pub mod serial;
pub mod tlv;

pub use apdu::{Apdu, ApduError, ApduStream, ControlField, Decoded};
pub use describe::describe;
pub use encoding::{Amount, DecodeMode, Deviation, Digits};
pub use messages::{DecodeOptions, Message, MessageError};
pub use serial::{FrameDecoder, FrameError, FrameEvent};
pub use tlv::{Tag, Tlv, TlvContainer, TlvValue};

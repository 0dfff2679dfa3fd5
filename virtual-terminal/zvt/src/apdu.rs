//! The APDU envelope: control field (CLASS INSTR, or CCRC APRC for responses), length field and
//! data block, following PA00P016 §5.2.1–§5.2.4.
//!
//! The length field is one byte for 0–254 data bytes. The value `FF` announces an extended length:
//! two more bytes, low byte first, for 0–65535 data bytes. Decoding is incremental so that the same
//! code serves TCP streams (where APDUs arrive fragmented or coalesced, PA00P016 §4) and the payload
//! of serial frames.

use std::fmt;

use thiserror::Error;

/// Largest data block an APDU can carry (extended length is a 16-bit value).
pub const MAX_DATA_LEN: usize = 0xFFFF;

/// Largest data block that fits the one-byte length field; from 255 bytes on the extended form is
/// mandatory because `FF` is reserved as the extended-length marker.
pub const MAX_SHORT_LEN: usize = 0xFE;

/// Marker in the length field announcing a two-byte little-endian extended length.
pub const EXTENDED_LENGTH_MARKER: u8 = 0xFF;

/// The two-byte control field. For commands this is CLASS/INSTR, for responses CCRC/APRC
/// (`80 00` positive, `84 xx` negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ControlField {
    /// CLASS (or CCRC for responses).
    pub class: u8,
    /// INSTR (or APRC for responses).
    pub instr: u8,
}

impl ControlField {
    /// Builds a control field.
    pub const fn new(class: u8, instr: u8) -> Self {
        ControlField { class, instr }
    }
}

impl fmt::Display for ControlField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X}", self.class, self.instr)
    }
}

/// Which length-field form an APDU uses on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthForm {
    /// One byte, 0–254.
    Short,
    /// `FF` followed by two bytes, little-endian.
    Extended,
}

/// Errors of APDU construction and decoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApduError {
    /// The data block is longer than the extended length field can express.
    #[error("data block of {len} bytes exceeds the maximum of 65535")]
    DataTooLong {
        /// Offending length.
        len: usize,
    },
    /// The short length form was requested for a data block longer than 254 bytes.
    #[error("data block of {len} bytes needs the extended length form")]
    NeedsExtendedLength {
        /// Offending length.
        len: usize,
    },
    /// The announced data length exceeds the receiver's configured limit (e.g. the maximum APDU
    /// length negotiated with TLV tag 1A).
    #[error("announced data length {announced} exceeds the limit of {limit}")]
    ExceedsLimit {
        /// Length from the length field.
        announced: usize,
        /// Configured limit.
        limit: usize,
    },
    /// A buffer that should contain exactly one APDU has bytes left over.
    #[error("{extra} trailing bytes after the APDU")]
    TrailingBytes {
        /// Number of extra bytes.
        extra: usize,
    },
    /// A buffer that should contain exactly one APDU ended early.
    #[error("incomplete APDU: at least {needed} more bytes needed")]
    Incomplete {
        /// Bytes still missing.
        needed: usize,
    },
}

/// One application protocol data unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Apdu {
    control: ControlField,
    length_form: LengthForm,
    data: Vec<u8>,
}

/// Result of trying to decode an APDU from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The buffer does not yet hold a complete APDU; at least `needed` more bytes are required.
    NeedMore {
        /// Minimum number of further bytes before decoding can make progress.
        needed: usize,
    },
    /// One APDU was decoded from the first `consumed` bytes.
    Complete {
        /// The APDU.
        apdu: Apdu,
        /// Number of bytes it occupied, so the caller can drop them from its buffer.
        consumed: usize,
    },
}

impl Apdu {
    /// Builds an APDU, choosing the short length form when the data fits and the extended one
    /// otherwise.
    pub fn new(class: u8, instr: u8, data: Vec<u8>) -> Result<Self, ApduError> {
        let form = if data.len() <= MAX_SHORT_LEN {
            LengthForm::Short
        } else {
            LengthForm::Extended
        };
        Self::with_length_form(ControlField::new(class, instr), data, form)
    }

    /// Builds an APDU with an explicit length form. The extended form is allowed for any length
    /// (some terminals use it for short blocks too); the short form only up to 254 bytes.
    pub fn with_length_form(control: ControlField, data: Vec<u8>, length_form: LengthForm) -> Result<Self, ApduError> {
        if data.len() > MAX_DATA_LEN {
            return Err(ApduError::DataTooLong { len: data.len() });
        }
        if length_form == LengthForm::Short && data.len() > MAX_SHORT_LEN {
            return Err(ApduError::NeedsExtendedLength { len: data.len() });
        }
        Ok(Apdu {
            control,
            length_form,
            data,
        })
    }

    /// The control field.
    pub fn control(&self) -> ControlField {
        self.control
    }

    /// CLASS / CCRC byte.
    pub fn class(&self) -> u8 {
        self.control.class
    }

    /// INSTR / APRC byte.
    pub fn instr(&self) -> u8 {
        self.control.instr
    }

    /// The data block.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Consumes the APDU, returning the data block.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The length form this APDU uses (kept from decoding so re-encoding reproduces the input).
    pub fn length_form(&self) -> LengthForm {
        self.length_form
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.control.class);
        out.push(self.control.instr);
        let len = self.data.len();
        match self.length_form {
            // Constructors guarantee len <= 254 here.
            LengthForm::Short => out.push(len as u8),
            LengthForm::Extended => {
                out.push(EXTENDED_LENGTH_MARKER);
                out.extend_from_slice(&(len as u16).to_le_bytes());
            }
        }
        out.extend_from_slice(&self.data);
    }

    /// The wire form (control field, length field(s), data).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 5);
        self.encode_into(&mut out);
        out
    }

    /// Reads the length field(s): `Ok((header_len, data_len, form))` or `Err(needed)` when the
    /// header itself is not complete yet.
    fn header(buf: &[u8]) -> Result<(usize, usize, LengthForm), usize> {
        match buf {
            [_, _, EXTENDED_LENGTH_MARKER, lo, hi, ..] => {
                Ok((5, usize::from(u16::from_le_bytes([*lo, *hi])), LengthForm::Extended))
            }
            [_, _, EXTENDED_LENGTH_MARKER, rest @ ..] => Err(2 - rest.len()),
            [_, _, len, ..] => Ok((3, usize::from(*len), LengthForm::Short)),
            short => Err(3 - short.len()),
        }
    }

    /// Decodes one APDU from the front of `buf`. Never fails: any byte sequence is either a
    /// complete APDU prefix or the beginning of one.
    pub fn decode(buf: &[u8]) -> Decoded {
        let (header, len, form) = match Self::header(buf) {
            Ok(h) => h,
            Err(needed) => return Decoded::NeedMore { needed },
        };
        let total = header + len;
        if buf.len() < total {
            return Decoded::NeedMore {
                needed: total - buf.len(),
            };
        }
        Decoded::Complete {
            apdu: Apdu {
                control: ControlField::new(buf[0], buf[1]),
                length_form: form,
                data: buf[header..total].to_vec(),
            },
            consumed: total,
        }
    }

    /// Like [`Apdu::decode`], but rejects announced data lengths above `limit` as soon as the
    /// length field is readable, so a receiver never buffers an oversized APDU.
    pub fn decode_limited(buf: &[u8], limit: usize) -> Result<Decoded, ApduError> {
        if let Ok((_, len, _)) = Self::header(buf) {
            if len > limit {
                return Err(ApduError::ExceedsLimit { announced: len, limit });
            }
        }
        Ok(Self::decode(buf))
    }

    /// Decodes a buffer that must contain exactly one APDU (e.g. the payload of a serial frame).
    pub fn decode_exact(buf: &[u8]) -> Result<Self, ApduError> {
        match Self::decode(buf) {
            Decoded::NeedMore { needed } => Err(ApduError::Incomplete { needed }),
            Decoded::Complete { apdu, consumed } if consumed == buf.len() => Ok(apdu),
            Decoded::Complete { consumed, .. } => Err(ApduError::TrailingBytes {
                extra: buf.len() - consumed,
            }),
        }
    }
}

/// Splits a byte stream (e.g. a TCP connection, PA00P016 §4) into APDUs, whatever the chunking.
///
/// Feed bytes with [`ApduStream::push`], then call [`ApduStream::next_apdu`] until it returns
/// `None`. An over-limit length is reported once as an error; the stream cannot resynchronise after
/// that (TCP has no frame markers), so the caller should drop the connection, as PA00P016 §5.2.5
/// suggests for broken transfers.
#[derive(Debug, Clone)]
pub struct ApduStream {
    buf: Vec<u8>,
    limit: usize,
}

impl Default for ApduStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ApduStream {
    /// A stream decoder accepting the protocol maximum.
    pub fn new() -> Self {
        Self::with_limit(MAX_DATA_LEN)
    }

    /// A stream decoder rejecting data blocks longer than `limit`.
    pub fn with_limit(limit: usize) -> Self {
        ApduStream { buf: Vec::new(), limit }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Number of buffered bytes not yet returned as an APDU.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Returns the next complete APDU, `None` if more bytes are needed, or an error for an
    /// over-limit length (the buffer is then cleared).
    pub fn next_apdu(&mut self) -> Option<Result<Apdu, ApduError>> {
        match Apdu::decode_limited(&self.buf, self.limit) {
            Ok(Decoded::NeedMore { .. }) => None,
            Ok(Decoded::Complete { apdu, consumed }) => {
                self.buf.drain(..consumed);
                Some(Ok(apdu))
            }
            Err(e) => {
                self.buf.clear();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_apdu_round_trip() {
        let bytes = [0x06, 0x01, 0x07, 0x04, 0, 0, 0, 0, 0x10, 0x00];
        let Decoded::Complete { apdu, consumed } = Apdu::decode(&bytes) else {
            panic!("expected complete")
        };
        assert_eq!(consumed, 10);
        assert_eq!(apdu.control(), ControlField::new(0x06, 0x01));
        assert_eq!(apdu.data().len(), 7);
        assert_eq!(apdu.encode(), bytes);
    }

    #[test]
    fn extended_length_is_little_endian() {
        // Feig trace header 06 D3 FF 61 04: 0x0461 = 1121 data bytes (notes §1.3).
        let mut bytes = vec![0x06, 0xD3, 0xFF, 0x61, 0x04];
        assert_eq!(Apdu::decode(&bytes), Decoded::NeedMore { needed: 1121 });
        bytes.extend(std::iter::repeat_n(0u8, 1121));
        let Decoded::Complete { apdu, consumed } = Apdu::decode(&bytes) else {
            panic!("expected complete")
        };
        assert_eq!(consumed, 1126);
        assert_eq!(apdu.data().len(), 1121);
        assert_eq!(apdu.length_form(), LengthForm::Extended);
        assert_eq!(apdu.encode(), bytes);
    }

    #[test]
    fn length_255_uses_extended_form() {
        let apdu = Apdu::new(0x06, 0xD3, vec![0; 255]).unwrap();
        assert_eq!(&apdu.encode()[..5], &[0x06, 0xD3, 0xFF, 0xFF, 0x00]);
        let apdu = Apdu::new(0x06, 0xD3, vec![0; 254]).unwrap();
        assert_eq!(&apdu.encode()[..3], &[0x06, 0xD3, 0xFE]);
        assert!(Apdu::new(0x06, 0xD3, vec![0; 65536]).is_err());
    }

    #[test]
    fn need_more_counts() {
        assert_eq!(Apdu::decode(&[]), Decoded::NeedMore { needed: 3 });
        assert_eq!(Apdu::decode(&[0x80, 0x00]), Decoded::NeedMore { needed: 1 });
        assert_eq!(Apdu::decode(&[0x04, 0xFF, 0xFF]), Decoded::NeedMore { needed: 2 });
        assert_eq!(Apdu::decode(&[0x04, 0xFF, 0x02, 0x01]), Decoded::NeedMore { needed: 1 });
    }

    #[test]
    fn limit_and_exact() {
        assert_eq!(
            Apdu::decode_limited(&[0x06, 0xD3, 0xFF, 0x00, 0x10], 1024),
            Err(ApduError::ExceedsLimit {
                announced: 4096,
                limit: 1024
            })
        );
        assert_eq!(
            Apdu::decode_exact(&[0x80, 0x00, 0x00, 0x06]),
            Err(ApduError::TrailingBytes { extra: 1 })
        );
        assert_eq!(
            Apdu::decode_exact(&[0x80, 0x00, 0x01]),
            Err(ApduError::Incomplete { needed: 1 })
        );
    }

    #[test]
    fn stream_handles_coalesced_apdus() {
        // 80 00 00 and 04 FF 01 0A in one segment, split oddly (notes §1.5).
        let mut s = ApduStream::new();
        s.push(&[0x80, 0x00, 0x00, 0x04]);
        assert_eq!(s.next_apdu().unwrap().unwrap().encode(), vec![0x80, 0, 0]);
        assert!(s.next_apdu().is_none());
        s.push(&[0xFF, 0x01, 0x0A]);
        assert_eq!(s.next_apdu().unwrap().unwrap().encode(), vec![0x04, 0xFF, 0x01, 0x0A]);
        assert!(s.next_apdu().is_none());
        assert_eq!(s.buffered(), 0);
    }
}

//! BMPs ("bitmaps"): the one-byte field identifiers that prefix optional parameters in a data block,
//! and the table that says how long each field is and how it is encoded (PA00P015 §13, with
//! BMP 4C from the status-information table of §3.1.1).
//!
//! A data block can only be walked if every BMP in it is known, because the identifier alone
//! determines the field length. That is why the PT must answer unknown BMPs with `84 83 00`
//! (PA00P015 §13): [`parse_bmps`] reports [`BmpError::UnknownBmp`] in that case.

use thiserror::Error;

use crate::encoding::{self, Amount, DecodeMode, Deviation, Digits, EncodingError, decode_var_len, encode_var_len};
use crate::tlv::{self, TlvContainer, TlvError};

/// How the bytes of a field are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Binary (numbers, bit fields, opaque data).
    Binary,
    /// Packed BCD, two decimal digits per byte.
    Bcd,
    /// Nibble digits with `E` masking and `F` padding (PAN, goods groups).
    Digits,
    /// Text (ASCII / ZVT character set).
    Text,
}

/// The framing of a BMP's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Exactly `len` bytes.
    Fixed(usize, Kind),
    /// Two `Fd` length digits, then that many bytes.
    LlVar(Kind),
    /// Three `Fd` length digits, then that many bytes.
    LllVar(Kind),
    /// TLV container with a TLV-style length (BMP 06; not LLLVAR, PA00P015 §13).
    Tlv,
}

/// Table entry for one BMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BmpInfo {
    /// BMP number.
    pub id: u8,
    /// Short English name.
    pub name: &'static str,
    /// Value format.
    pub format: Format,
}

use Format::{Fixed, LlVar, LllVar};
use Kind::{Bcd, Binary, Text};

const fn e(id: u8, name: &'static str, format: Format) -> BmpInfo {
    BmpInfo { id, name, format }
}

/// All BMPs this crate knows, in ascending order (PA00P015 §13).
pub static TABLE: &[BmpInfo] = &[
    e(0x01, "timeout", Fixed(1, Binary)),
    e(0x02, "max. status infos", Fixed(1, Binary)),
    e(0x03, "service byte", Fixed(1, Binary)),
    e(0x04, "amount", Fixed(6, Bcd)),
    e(0x05, "pump number", Fixed(1, Binary)),
    e(0x06, "TLV container", Format::Tlv),
    e(0x0B, "trace number", Fixed(3, Bcd)),
    e(0x0C, "time", Fixed(3, Bcd)),
    e(0x0D, "date (MMDD)", Fixed(2, Bcd)),
    e(0x0E, "expiry date (YYMM)", Fixed(2, Bcd)),
    e(0x17, "card sequence number", Fixed(2, Bcd)),
    e(0x19, "status byte / payment type / card type", Fixed(1, Binary)),
    e(0x22, "PAN / EF_ID", LlVar(Kind::Digits)),
    e(0x23, "track 2 data", LlVar(Binary)),
    e(0x24, "track 3 data", LllVar(Binary)),
    e(0x27, "result code", Fixed(1, Binary)),
    e(0x29, "terminal ID", Fixed(4, Bcd)),
    e(0x2A, "VU number", Fixed(15, Text)),
    e(0x2D, "track 1 data", LlVar(Text)),
    e(0x2E, "synchronous chip data", LllVar(Binary)),
    e(0x37, "original trace number", Fixed(3, Bcd)),
    e(0x3A, "CVV/CVC", Fixed(2, Kind::Digits)),
    e(0x3B, "AID / authorisation attribute", Fixed(8, Text)),
    e(0x3C, "additional data / text", LllVar(Text)),
    e(0x3D, "password", Fixed(3, Bcd)),
    e(0x49, "currency code", Fixed(2, Bcd)),
    e(0x4C, "blocked goods groups", LlVar(Kind::Digits)),
    e(0x60, "individual totals", LllVar(Binary)),
    e(0x70, "display image request id", Fixed(4, Binary)),
    e(0x71, "display image size", Fixed(4, Binary)),
    e(0x72, "display image MIME type", Fixed(1, Binary)),
    e(0x73, "display image encoding", Fixed(1, Binary)),
    e(0x74, "display image chunk count", Fixed(1, Binary)),
    e(0x75, "display image chunk index", Fixed(1, Binary)),
    e(0x87, "receipt number", Fixed(2, Bcd)),
    e(0x88, "turnover record number", Fixed(3, Bcd)),
    e(0x8A, "card type (ZVT ID)", Fixed(1, Binary)),
    e(0x8B, "card name", LlVar(Text)),
    e(0x8C, "card type (network operator ID)", Fixed(1, Binary)),
    e(0x9A, "GeldKarte record", LllVar(Binary)),
    e(0xA0, "result code AS", Fixed(1, Binary)),
    e(0xA7, "chip data EF_ID", LlVar(Binary)),
    e(0xAA, "date (YYMMDD)", Fixed(3, Bcd)),
    e(0xAF, "EF_Info", LllVar(Binary)),
    e(0xBA, "AID parameter", Fixed(5, Binary)),
    e(0xD0, "algorithm key", Fixed(1, Binary)),
    e(0xD1, "card offset / PIN data", LlVar(Binary)),
    e(0xD2, "card output direction", Fixed(1, Binary)),
    e(0xD3, "DUKPT key identifier", Fixed(1, Binary)),
    e(0xE0, "min. input length", Fixed(1, Binary)),
    e(0xE1, "text2 line 1", LlVar(Text)),
    e(0xE2, "text2 line 2", LlVar(Text)),
    e(0xE3, "text2 line 3", LlVar(Text)),
    e(0xE4, "text2 line 4", LlVar(Text)),
    e(0xE5, "text2 line 5", LlVar(Text)),
    e(0xE6, "text2 line 6", LlVar(Text)),
    e(0xE7, "text2 line 7", LlVar(Text)),
    e(0xE8, "text2 line 8", LlVar(Text)),
    e(0xE9, "max. input length", Fixed(1, Binary)),
    e(0xEA, "echo input", Fixed(1, Binary)),
    e(0xEB, "MAC over text 1 and 2", Fixed(8, Binary)),
    e(0xF0, "display duration", Fixed(1, Binary)),
    e(0xF1, "text1 line 1", LlVar(Text)),
    e(0xF2, "text1 line 2", LlVar(Text)),
    e(0xF3, "text1 line 3", LlVar(Text)),
    e(0xF4, "text1 line 4", LlVar(Text)),
    e(0xF5, "text1 line 5", LlVar(Text)),
    e(0xF6, "text1 line 6", LlVar(Text)),
    e(0xF7, "text1 line 7", LlVar(Text)),
    e(0xF8, "text1 line 8", LlVar(Text)),
    e(0xF9, "beep tones", Fixed(1, Binary)),
    e(0xFA, "card reader activation", Fixed(1, Binary)),
    e(0xFB, "confirmation with OK required", Fixed(1, Binary)),
    e(0xFC, "dialog control", Fixed(1, Binary)),
    e(0xFD, "display device", Fixed(1, Binary)),
];

/// Looks up a BMP in the table.
pub fn info(id: u8) -> Option<&'static BmpInfo> {
    TABLE.binary_search_by_key(&id, |i| i.id).ok().map(|idx| &TABLE[idx])
}

/// Errors of BMP walking and field conversion.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BmpError {
    /// A BMP number not in the table; the rest of the block cannot be walked.
    #[error("unknown BMP {id:#04x} at offset {offset}")]
    UnknownBmp {
        /// The BMP number.
        id: u8,
        /// Offset within the walked block.
        offset: usize,
    },
    /// The block ended inside a field.
    #[error("BMP {id:#04x} truncated: needs {needed} bytes, {available} left")]
    Truncated {
        /// The BMP number.
        id: u8,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A field's value violates its encoding.
    #[error("BMP {id:#04x}: {source}")]
    Encoding {
        /// The BMP number.
        id: u8,
        /// What was wrong.
        source: EncodingError,
    },
    /// The TLV container (BMP 06) is malformed.
    #[error("BMP 06 (TLV container): {0}")]
    Tlv(#[from] TlvError),
    /// A value has the wrong length for a fixed-length BMP.
    #[error("BMP {id:#04x} needs {expected} bytes, got {actual}")]
    WrongLength {
        /// The BMP number.
        id: u8,
        /// Length the table prescribes.
        expected: usize,
        /// Length supplied.
        actual: usize,
    },
    /// A typed field was paired with a BMP whose format it cannot represent (a programming error
    /// in a message definition, reported instead of panicking).
    #[error("BMP {id:#04x} cannot be converted to the requested type")]
    TypeMismatch {
        /// The BMP number.
        id: u8,
    },
}

/// One BMP as found in a data block: number and raw value (without the LLVAR/LLLVAR/TLV length).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bmp {
    /// BMP number.
    pub id: u8,
    /// Value bytes. For BMP 06 this is the TLV content.
    pub data: Vec<u8>,
}

impl Bmp {
    /// Builds a BMP, checking the number is known and the value length fits its format.
    pub fn new(id: u8, data: Vec<u8>) -> Result<Self, BmpError> {
        let bmp = Bmp { id, data };
        bmp.check()?;
        Ok(bmp)
    }

    /// Table entry of this BMP.
    pub fn info(&self) -> Option<&'static BmpInfo> {
        info(self.id)
    }

    fn check(&self) -> Result<Format, BmpError> {
        let info = info(self.id).ok_or(BmpError::UnknownBmp { id: self.id, offset: 0 })?;
        let len = self.data.len();
        let too_long = |digits| BmpError::Encoding {
            id: self.id,
            source: EncodingError::VarTooLong { len, digits },
        };
        match info.format {
            Fixed(n, _) if n != len => Err(BmpError::WrongLength {
                id: self.id,
                expected: n,
                actual: len,
            }),
            LlVar(_) if len > 99 => Err(too_long(2)),
            LllVar(_) if len > 999 => Err(too_long(3)),
            Format::Tlv if len > 0xFFFF => Err(TlvError::ValueTooLong(len).into()),
            f => Ok(f),
        }
    }

    /// Appends number, length prefix (if any) and value.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), BmpError> {
        let format = self.check()?;
        out.push(self.id);
        let enc = |e| BmpError::Encoding { id: self.id, source: e };
        match format {
            Fixed(..) => {}
            LlVar(_) => out.extend(encode_var_len(self.data.len(), 2).map_err(enc)?),
            LllVar(_) => out.extend(encode_var_len(self.data.len(), 3).map_err(enc)?),
            Format::Tlv => tlv::encode_length(self.data.len(), out)?,
        }
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// The BMPs of a data block plus any deviations a lenient decoder accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BmpList {
    /// BMPs in wire order.
    pub bmps: Vec<Bmp>,
    /// Accepted deviations (always empty in strict mode).
    pub deviations: Vec<Deviation>,
}

/// Reads one BMP from the front of `input`; returns it and the bytes used.
pub fn read_bmp(
    input: &[u8],
    offset: usize,
    mode: DecodeMode,
    deviations: &mut Vec<Deviation>,
) -> Result<(Bmp, usize), BmpError> {
    let Some((&id, rest)) = input.split_first() else {
        return Err(BmpError::Truncated {
            id: 0,
            needed: 1,
            available: 0,
        });
    };
    let info = info(id).ok_or(BmpError::UnknownBmp { id, offset })?;
    let truncated = |needed: usize, available: usize| BmpError::Truncated { id, needed, available };
    let (prefix, len) = match info.format {
        Fixed(n, _) => (0, n),
        LlVar(_) | LllVar(_) => {
            let digits = if matches!(info.format, LlVar(_)) { 2 } else { 3 };
            let (len, deviated) = decode_var_len(rest, digits, mode).map_err(|e| match e {
                EncodingError::Truncated { needed, available, .. } => truncated(needed, available),
                source => BmpError::Encoding { id, source },
            })?;
            if deviated {
                deviations.push(Deviation::VarLengthWithoutFNibble { bmp: id });
            }
            (digits, len)
        }
        Format::Tlv => tlv::decode_length(rest, offset + 1).map(|(len, used)| (used, len))?,
    };
    let available = rest.len().saturating_sub(prefix);
    if available < len {
        return Err(truncated(len, available));
    }
    let data = rest[prefix..prefix + len].to_vec();
    Ok((Bmp { id, data }, 1 + prefix + len))
}

/// Walks a whole block of BMPs.
pub fn parse_bmps(input: &[u8], mode: DecodeMode) -> Result<BmpList, BmpError> {
    let mut list = BmpList::default();
    let mut pos = 0;
    while pos < input.len() {
        let (bmp, used) = read_bmp(&input[pos..], pos, mode, &mut list.deviations)?;
        list.bmps.push(bmp);
        pos += used;
    }
    Ok(list)
}

/// Encodes a sequence of BMPs back to back.
pub fn encode_bmps(bmps: &[Bmp]) -> Result<Vec<u8>, BmpError> {
    let mut out = Vec::new();
    for b in bmps {
        b.encode_into(&mut out)?;
    }
    Ok(out)
}

/// Conversion between a typed Rust value and the raw value of a BMP. The table format of the BMP
/// decides the wire representation, so one Rust type can serve several BMPs (e.g. `u32` for
/// every BCD number up to 8 digits).
pub trait BmpField: Sized {
    /// Converts the raw value of BMP `id` (length already checked against the table).
    fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError>;
    /// Produces the raw value for BMP `id`.
    fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError>;
}

fn format_of(id: u8) -> Result<Format, BmpError> {
    info(id).map(|i| i.format).ok_or(BmpError::UnknownBmp { id, offset: 0 })
}

fn enc_err(id: u8) -> impl Fn(EncodingError) -> BmpError {
    move |source| BmpError::Encoding { id, source }
}

/// One-byte binary fields.
impl BmpField for u8 {
    fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError> {
        match (format_of(id)?, data) {
            (Fixed(1, Binary), [b]) => Ok(*b),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
    fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError> {
        match format_of(id)? {
            Fixed(1, Binary) => Ok(vec![*self]),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
}

/// Fixed-length BCD numbers (trace, receipt, TID, currency, …) and fixed binary numbers
/// (big-endian, e.g. BMP 70/71).
impl BmpField for u32 {
    fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError> {
        match format_of(id)? {
            Fixed(n, Bcd) if n <= 4 && data.len() == n => {
                // At most 8 digits, so the value always fits u32.
                encoding::bcd_decode(data).map(|v| v as u32).map_err(enc_err(id))
            }
            Fixed(n, Binary) if n <= 4 && data.len() == n => {
                Ok(data.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
            }
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
    fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError> {
        match format_of(id)? {
            Fixed(n, Bcd) if n <= 4 => encoding::bcd_encode(u64::from(*self), n).map_err(enc_err(id)),
            Fixed(n, Binary) if n <= 4 => {
                let all = self.to_be_bytes();
                if all[..4 - n].iter().any(|b| *b != 0) {
                    return Err(BmpError::Encoding {
                        id,
                        source: EncodingError::ValueTooLarge {
                            value: u64::from(*self),
                            digits: n * 2,
                        },
                    });
                }
                Ok(all[4 - n..].to_vec())
            }
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
}

/// BMP 04 and other 6-byte BCD amounts.
impl BmpField for Amount {
    fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError> {
        match format_of(id)? {
            Fixed(6, Bcd) => Amount::from_bcd(data).map_err(enc_err(id)),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
    fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError> {
        match format_of(id)? {
            Fixed(6, Bcd) => self.to_bcd().map(|a| a.to_vec()).map_err(enc_err(id)),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
}

/// Nibble-digit fields (BMP 22 PAN, 3A CVV, 4C goods groups).
impl BmpField for Digits {
    fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError> {
        match format_of(id)? {
            Fixed(_, Kind::Digits) | LlVar(Kind::Digits) | LllVar(Kind::Digits) => {
                Digits::from_bytes(data).map_err(enc_err(id))
            }
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
    fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError> {
        let bytes = self.to_bytes();
        match format_of(id)? {
            Fixed(n, Kind::Digits) if n == bytes.len() => Ok(bytes),
            Fixed(n, Kind::Digits) => Err(BmpError::WrongLength {
                id,
                expected: n,
                actual: bytes.len(),
            }),
            LlVar(Kind::Digits) | LllVar(Kind::Digits) => Ok(bytes),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
}

/// Raw bytes: any text, binary or variable-length field (length checked when encoding).
impl BmpField for Vec<u8> {
    fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError> {
        match format_of(id)? {
            Format::Tlv => Err(BmpError::TypeMismatch { id }),
            _ => Ok(data.to_vec()),
        }
    }
    fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError> {
        match format_of(id)? {
            Format::Tlv => Err(BmpError::TypeMismatch { id }),
            _ => Ok(self.clone()),
        }
    }
}

/// BMP 06.
impl BmpField for TlvContainer {
    fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError> {
        match format_of(id)? {
            Format::Tlv => Ok(TlvContainer::decode(data)?),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
    fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError> {
        match format_of(id)? {
            Format::Tlv => Ok(self.encode()?),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
}

/// A time of day from BMP 0C (HHMMSS, BCD). Values are not range-checked beyond being BCD, so
/// whatever a terminal sends survives a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Time {
    /// Hours.
    pub hour: u8,
    /// Minutes.
    pub minute: u8,
    /// Seconds.
    pub second: u8,
}

/// A date without year from BMP 0D (MMDD, BCD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MonthDay {
    /// Month.
    pub month: u8,
    /// Day.
    pub day: u8,
}

/// A date from BMP AA (YYMMDD, BCD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Date {
    /// Two-digit year.
    pub year: u8,
    /// Month.
    pub month: u8,
    /// Day.
    pub day: u8,
}

/// An expiry date from BMP 0E (YYMM, BCD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Expiry {
    /// Two-digit year.
    pub year: u8,
    /// Month.
    pub month: u8,
}

macro_rules! bcd_pair_struct {
    ($ty:ident, $n:literal, $($f:ident),+) => {
        impl BmpField for $ty {
            fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError> {
                match (format_of(id)?, data.len()) {
                    (Fixed($n, Bcd), $n) => {
                        let p = encoding::bcd_pairs(data).map_err(enc_err(id))?;
                        let mut it = p.into_iter();
                        Ok($ty { $($f: it.next().unwrap_or_default()),+ })
                    }
                    _ => Err(BmpError::TypeMismatch { id }),
                }
            }
            fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError> {
                match format_of(id)? {
                    Fixed($n, Bcd) => encoding::bcd_from_pairs(&[$(self.$f),+]).map_err(enc_err(id)),
                    _ => Err(BmpError::TypeMismatch { id }),
                }
            }
        }
    };
}

bcd_pair_struct!(Time, 3, hour, minute, second);
bcd_pair_struct!(MonthDay, 2, month, day);
bcd_pair_struct!(Date, 3, year, month, day);
bcd_pair_struct!(Expiry, 2, year, month);

/// A receipt number (BMP 87): four BCD digits, or `FF FF`, which the pre-authorisation enquiry
/// and its answer use for "no specific receipt" (PA00P015 §2.10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptNo {
    /// A receipt number 0–9999.
    Number(u16),
    /// `FF FF`.
    None,
}

impl BmpField for ReceiptNo {
    fn from_bmp(id: u8, data: &[u8]) -> Result<Self, BmpError> {
        match (format_of(id)?, data) {
            (Fixed(2, Bcd), [0xFF, 0xFF]) => Ok(ReceiptNo::None),
            (Fixed(2, Bcd), _) => encoding::bcd_decode(data)
                .map(|v| ReceiptNo::Number(v as u16))
                .map_err(enc_err(id)),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
    fn to_bmp(&self, id: u8) -> Result<Vec<u8>, BmpError> {
        match (format_of(id)?, self) {
            (Fixed(2, Bcd), ReceiptNo::None) => Ok(vec![0xFF, 0xFF]),
            (Fixed(2, Bcd), ReceiptNo::Number(n)) => encoding::bcd_encode(u64::from(*n), 2).map_err(enc_err(id)),
            _ => Err(BmpError::TypeMismatch { id }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::parse_hex;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].id < w[1].id));
    }

    #[test]
    fn walks_authorisation_bmps() {
        // 06 01 payload from notes §1.15 A: 04 000000001250 49 0978.
        let data = parse_hex("04 00 00 00 00 12 50 49 09 78").unwrap();
        let list = parse_bmps(&data, DecodeMode::Strict).unwrap();
        assert_eq!(list.bmps.len(), 2);
        assert_eq!(Amount::from_bmp(0x04, &list.bmps[0].data).unwrap(), Amount(1250));
        assert_eq!(u32::from_bmp(0x49, &list.bmps[1].data).unwrap(), 978);
        assert_eq!(encode_bmps(&list.bmps).unwrap(), data);
    }

    #[test]
    fn llvar_without_f_nibble_is_lenient_only() {
        // crates.io zvt 0.1.0 style PAN prefix: 22 01 00 ... (notes §3 item 6), shortened to 2 bytes.
        let data = parse_hex("22 00 02 12 34").unwrap();
        assert!(matches!(
            parse_bmps(&data, DecodeMode::Strict),
            Err(BmpError::Encoding { id: 0x22, .. })
        ));
        let list = parse_bmps(&data, DecodeMode::Lenient).unwrap();
        assert_eq!(list.deviations, vec![Deviation::VarLengthWithoutFNibble { bmp: 0x22 }]);
        assert_eq!(list.bmps[0].data, vec![0x12, 0x34]);
    }

    #[test]
    fn unknown_and_truncated() {
        assert_eq!(
            parse_bmps(&[0x04, 0, 0, 0, 0, 0, 0, 0x42, 1], DecodeMode::Strict),
            Err(BmpError::UnknownBmp { id: 0x42, offset: 7 })
        );
        assert!(matches!(
            parse_bmps(&[0x04, 0, 0], DecodeMode::Strict),
            Err(BmpError::Truncated { id: 0x04, .. })
        ));
        assert!(matches!(
            parse_bmps(&[0x3C, 0xF0, 0xF0], DecodeMode::Strict),
            Err(BmpError::Truncated { id: 0x3C, .. })
        ));
    }

    #[test]
    fn tlv_bmp_uses_tlv_length() {
        // 06 82 00 02 ... would be odd but legal; 06 06 26 04 0A 02 06 D3 from the spec example.
        let data = parse_hex("06 06 26 04 0A 02 06 D3").unwrap();
        let list = parse_bmps(&data, DecodeMode::Strict).unwrap();
        let c = TlvContainer::from_bmp(0x06, &list.bmps[0].data).unwrap();
        assert_eq!(c.objects.len(), 1);
        let long = Bmp::new(0x06, vec![0x07, 0x7E].into_iter().chain([0x41; 0x7E]).collect()).unwrap();
        let mut out = Vec::new();
        long.encode_into(&mut out).unwrap();
        assert_eq!(&out[..3], &[0x06, 0x81, 0x80]);
    }

    #[test]
    fn receipt_number_ff_ff() {
        assert_eq!(ReceiptNo::from_bmp(0x87, &[0xFF, 0xFF]).unwrap(), ReceiptNo::None);
        assert_eq!(
            ReceiptNo::from_bmp(0x87, &[0x04, 0x70]).unwrap(),
            ReceiptNo::Number(470)
        );
    }

    #[test]
    fn typed_fields_reject_wrong_bmps() {
        assert_eq!(u8::from_bmp(0x04, &[0; 6]), Err(BmpError::TypeMismatch { id: 0x04 }));
        assert!(Bmp::new(0x04, vec![0; 5]).is_err());
        assert!(Bmp::new(0x42, vec![]).is_err());
    }
}

//! The TLV container carried in BMP 06 (PA00P015 §9).
//!
//! Tags follow the BER layout: the first byte holds class (b8–b7), the constructed flag (b6) and a
//! number (b5–b1); a number of `11111` means further tag bytes follow, each with b8 set while yet
//! another byte follows (§9.3.1). Lengths are `00`–`7F`, `81 xx` or `82 xx xx` **big-endian**; `80`
//! is invalid and `83`–`FF` are reserved (§9.3.2). Constructed objects hold further objects.
//!
//! Unknown objects are kept verbatim so that a container can be decoded, inspected and re-encoded
//! without losing anything. Non-minimal length encodings (e.g. `81 05`) are accepted and re-encoded
//! in minimal form.

use std::fmt;

use thiserror::Error;

/// Deepest nesting of constructed objects the decoder descends into. Deeper content is kept as an
/// opaque primitive value; this bounds recursion on hostile input.
pub const MAX_DEPTH: usize = 16;

/// Longest tag accepted, in bytes. Tags in PA00P015 have at most 2 bytes; 4 leaves room for
/// vendor extensions and fits a `u32`.
pub const MAX_TAG_BYTES: usize = 4;

/// Errors of TLV decoding and encoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlvError {
    /// The input ended inside a tag, length or value.
    #[error("TLV truncated at offset {offset}")]
    Truncated {
        /// Offset (within the container being parsed) where data ran out.
        offset: usize,
    },
    /// A tag was longer than [`MAX_TAG_BYTES`].
    #[error("TLV tag at offset {offset} is longer than 4 bytes")]
    TagTooLong {
        /// Offset of the tag's first byte.
        offset: usize,
    },
    /// The length byte `80` (invalid per §9.3.2).
    #[error("invalid TLV length byte 0x80 at offset {offset}")]
    InvalidLength {
        /// Offset of the length byte.
        offset: usize,
    },
    /// A reserved length form `83`–`FF`.
    #[error("reserved TLV length form {byte:#04x} at offset {offset}")]
    ReservedLength {
        /// The length byte.
        byte: u8,
        /// Offset of the length byte.
        offset: usize,
    },
    /// A tag value that is not a well-formed BER tag.
    #[error("malformed TLV tag {0:#x}")]
    MalformedTag(u32),
    /// A value longer than `82 FF FF` can express.
    #[error("TLV value of {0} bytes is too long")]
    ValueTooLong(usize),
}

/// A TLV tag, stored as its wire bytes read as a big-endian number (`1F 73` → `0x1F73`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u32);

impl Tag {
    /// Builds a tag from its numeric form, checking that the bytes form a valid BER tag
    /// (a multi-byte tag must start with `xx11111`, continuation bytes have b8 set except the last).
    pub fn new(value: u32) -> Result<Self, TlvError> {
        let bytes = Self::bytes_of(value);
        let (first, rest) = bytes.split_first().ok_or(TlvError::MalformedTag(value))?;
        let multi = first & 0x1F == 0x1F;
        let ok = if rest.is_empty() {
            !multi
        } else {
            multi && rest[..rest.len() - 1].iter().all(|b| b & 0x80 != 0) && rest[rest.len() - 1] & 0x80 == 0
        };
        if ok {
            Ok(Tag(value))
        } else {
            Err(TlvError::MalformedTag(value))
        }
    }

    fn bytes_of(value: u32) -> Vec<u8> {
        let all = value.to_be_bytes();
        let skip = all.iter().take(3).take_while(|b| **b == 0).count();
        all[skip..].to_vec()
    }

    /// The numeric value (`0x1F73` for tag `1F 73`).
    pub fn value(self) -> u32 {
        self.0
    }

    /// The tag bytes as sent on the wire.
    pub fn to_bytes(self) -> Vec<u8> {
        Self::bytes_of(self.0)
    }

    /// True for constructed tags (b6 of the first byte set).
    pub fn is_constructed(self) -> bool {
        self.to_bytes()[0] & 0x20 != 0
    }

    /// Reads a tag from the front of `input`; returns it and the number of bytes used.
    fn read(input: &[u8], offset: usize) -> Result<(Tag, usize), TlvError> {
        let first = *input.first().ok_or(TlvError::Truncated { offset })?;
        let mut value = u32::from(first);
        let mut used = 1;
        if first & 0x1F == 0x1F {
            loop {
                let b = *input.get(used).ok_or(TlvError::Truncated { offset: offset + used })?;
                used += 1;
                if used > MAX_TAG_BYTES {
                    return Err(TlvError::TagTooLong { offset });
                }
                value = (value << 8) | u32::from(b);
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        Ok((Tag(value), used))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.to_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// The value of a data object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlvValue {
    /// Raw bytes. Also used for constructed-flagged tags whose content does not parse as TLV
    /// (some vendors flag opaque data as constructed, e.g. tags `FF01`–`FF04`, which PA00P015 §9.4.1
    /// lists among the primitive objects).
    Primitive(Vec<u8>),
    /// Nested data objects.
    Constructed(Vec<Tlv>),
}

/// One data object: tag, value (the length is implied by the value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The tag.
    pub tag: Tag,
    /// The value.
    pub value: TlvValue,
}

impl Tlv {
    /// A primitive object.
    pub fn primitive(tag: Tag, data: Vec<u8>) -> Self {
        Tlv {
            tag,
            value: TlvValue::Primitive(data),
        }
    }

    /// A constructed object.
    pub fn constructed(tag: Tag, children: Vec<Tlv>) -> Self {
        Tlv {
            tag,
            value: TlvValue::Constructed(children),
        }
    }

    /// The primitive value, if this is a primitive object.
    pub fn data(&self) -> Option<&[u8]> {
        match &self.value {
            TlvValue::Primitive(d) => Some(d),
            TlvValue::Constructed(_) => None,
        }
    }

    /// The children, if this is a constructed object.
    pub fn children(&self) -> Option<&[Tlv]> {
        match &self.value {
            TlvValue::Constructed(c) => Some(c),
            TlvValue::Primitive(_) => None,
        }
    }

    /// Appends the encoded object to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), TlvError> {
        out.extend_from_slice(&self.tag.to_bytes());
        match &self.value {
            TlvValue::Primitive(d) => {
                encode_length(d.len(), out)?;
                out.extend_from_slice(d);
            }
            TlvValue::Constructed(children) => {
                let mut inner = Vec::new();
                for c in children {
                    c.encode_into(&mut inner)?;
                }
                encode_length(inner.len(), out)?;
                out.extend_from_slice(&inner);
            }
        }
        Ok(())
    }
}

/// An ordered list of data objects: the content of BMP 06 or of a constructed object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TlvContainer {
    /// The objects in wire order.
    pub objects: Vec<Tlv>,
}

impl TlvContainer {
    /// A container with the given objects.
    pub fn new(objects: Vec<Tlv>) -> Self {
        TlvContainer { objects }
    }

    /// Parses a complete content area (everything after the BMP 06 length).
    pub fn decode(content: &[u8]) -> Result<Self, TlvError> {
        parse_list(content, 0, 0).map(TlvContainer::new)
    }

    /// Encodes the objects (without the BMP 06 tag and length).
    pub fn encode(&self) -> Result<Vec<u8>, TlvError> {
        let mut out = Vec::new();
        for o in &self.objects {
            o.encode_into(&mut out)?;
        }
        Ok(out)
    }

    /// First object with `tag` at the top level.
    pub fn get(&self, tag: u32) -> Option<&Tlv> {
        self.objects.iter().find(|o| o.tag.value() == tag)
    }

    /// First object with `tag` anywhere in the tree (depth first).
    pub fn find(&self, tag: u32) -> Option<&Tlv> {
        fn walk(list: &[Tlv], tag: u32) -> Option<&Tlv> {
            for o in list {
                if o.tag.value() == tag {
                    return Some(o);
                }
                if let Some(found) = o.children().and_then(|c| walk(c, tag)) {
                    return Some(found);
                }
            }
            None
        }
        walk(&self.objects, tag)
    }
}

/// Writes a TLV length in the shortest form.
pub fn encode_length(len: usize, out: &mut Vec<u8>) -> Result<(), TlvError> {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => return Err(TlvError::ValueTooLong(len)),
    }
    Ok(())
}

/// Reads a TLV length from the front of `input`: `(length, bytes used)`.
pub fn decode_length(input: &[u8], offset: usize) -> Result<(usize, usize), TlvError> {
    let first = *input.first().ok_or(TlvError::Truncated { offset })?;
    let truncated = TlvError::Truncated { offset: offset + 1 };
    match first {
        0x00..=0x7F => Ok((usize::from(first), 1)),
        0x80 => Err(TlvError::InvalidLength { offset }),
        0x81 => Ok((usize::from(*input.get(1).ok_or(truncated)?), 2)),
        0x82 => match input.get(1..3) {
            Some(&[hi, lo]) => Ok((usize::from(u16::from_be_bytes([hi, lo])), 3)),
            _ => Err(truncated),
        },
        byte => Err(TlvError::ReservedLength { byte, offset }),
    }
}

fn parse_list(input: &[u8], base: usize, depth: usize) -> Result<Vec<Tlv>, TlvError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let (tag, tag_len) = Tag::read(&input[pos..], base + pos)?;
        pos += tag_len;
        let (len, len_len) = decode_length(&input[pos..], base + pos)?;
        pos += len_len;
        let end = pos
            .checked_add(len)
            .filter(|e| *e <= input.len())
            .ok_or(TlvError::Truncated {
                offset: base + input.len(),
            })?;
        let content = &input[pos..end];
        let value = if tag.is_constructed() && depth < MAX_DEPTH {
            match parse_list(content, base + pos, depth + 1) {
                Ok(children) => TlvValue::Constructed(children),
                Err(_) => TlvValue::Primitive(content.to_vec()),
            }
        } else {
            TlvValue::Primitive(content.to_vec())
        };
        out.push(Tlv { tag, value });
        pos = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::parse_hex;

    fn tag(v: u32) -> Tag {
        Tag::new(v).unwrap()
    }

    #[test]
    fn tags() {
        assert!(tag(0x1F73).to_bytes() == vec![0x1F, 0x73]);
        assert!(tag(0x26).is_constructed());
        assert!(!tag(0x0A).is_constructed());
        assert!(tag(0xFF01).is_constructed());
        assert!(Tag::new(0x1F).is_err(), "1F alone needs a following byte");
        assert!(Tag::new(0x1234).is_err(), "12 is not a multi-byte lead");
        assert!(Tag::new(0x1F8001).is_ok());
        assert!(Tag::new(0x1F8081).is_err(), "last byte must clear b8");
        assert_eq!(tag(0x00).to_bytes(), vec![0x00]);
    }

    #[test]
    fn registration_permitted_commands_container() {
        // From the Registration spec example (PA00P015 §5.1, notes §1.14):
        // 06 0C | 26 04 0A 02 06 D3 | 1F 73 03 00 00 00
        let content = parse_hex("26 04 0A 02 06 D3 1F 73 03 00 00 00").unwrap();
        let c = TlvContainer::decode(&content).unwrap();
        assert_eq!(
            c,
            TlvContainer::new(vec![
                Tlv::constructed(tag(0x26), vec![Tlv::primitive(tag(0x0A), vec![0x06, 0xD3])]),
                Tlv::primitive(tag(0x1F73), vec![0, 0, 0]),
            ])
        );
        assert_eq!(c.encode().unwrap(), content);
        assert_eq!(c.find(0x0A).unwrap().data(), Some(&[0x06, 0xD3][..]));
    }

    #[test]
    fn long_lengths_are_big_endian() {
        let mut out = Vec::new();
        encode_length(0x45D, &mut out).unwrap();
        assert_eq!(out, vec![0x82, 0x04, 0x5D]);
        assert_eq!(decode_length(&[0x82, 0x04, 0x55], 0).unwrap(), (0x455, 3));
        assert_eq!(decode_length(&[0x81, 0x80], 0).unwrap(), (0x80, 2));
        assert_eq!(decode_length(&[0x80], 0), Err(TlvError::InvalidLength { offset: 0 }));
        assert_eq!(
            decode_length(&[0x83, 0, 0, 1], 0),
            Err(TlvError::ReservedLength { byte: 0x83, offset: 0 })
        );
    }

    #[test]
    fn empty_objects_and_unknown_tags_are_kept() {
        // 1F1F with length 0 is meaningful (PA00P015 §4); unknown DF7F-style tags are kept raw.
        let content = parse_hex("1F 1F 00 DF 7F 02 AB CD 24 00").unwrap();
        let c = TlvContainer::decode(&content).unwrap();
        assert_eq!(c.objects.len(), 3);
        assert_eq!(c.objects[0].data(), Some(&[][..]));
        assert_eq!(c.objects[1].data(), Some(&[0xAB, 0xCD][..]));
        assert_eq!(c.objects[2].children(), Some(&[][..]));
        assert_eq!(c.encode().unwrap(), content);
    }

    #[test]
    fn constructed_flag_with_opaque_content_stays_primitive() {
        // FF02 (loyalty data) flagged constructed but holding text.
        let content = parse_hex("FF 02 03 41 42 43").unwrap();
        let c = TlvContainer::decode(&content).unwrap();
        assert_eq!(c.objects[0].data(), Some(&b"ABC"[..]));
        assert_eq!(c.encode().unwrap(), content);
    }

    #[test]
    fn truncation_is_an_error() {
        assert!(matches!(
            TlvContainer::decode(&[0x07, 0x05, 0x41]),
            Err(TlvError::Truncated { .. })
        ));
        assert!(matches!(TlvContainer::decode(&[0x1F]), Err(TlvError::Truncated { .. })));
        assert!(matches!(
            TlvContainer::decode(&[0x1F, 0x81, 0x81, 0x81, 0x01, 0x00]),
            Err(TlvError::TagTooLong { .. })
        ));
    }

    #[test]
    fn deep_nesting_does_not_recurse_unboundedly() {
        let mut bytes = vec![0x01, 0x00];
        for _ in 0..10_000 {
            let mut outer = vec![0x30];
            encode_length(bytes.len(), &mut outer).unwrap();
            outer.extend_from_slice(&bytes);
            bytes = outer;
            if bytes.len() > 60_000 {
                break;
            }
        }
        let c = TlvContainer::decode(&bytes).unwrap();
        assert_eq!(c.encode().unwrap(), bytes);
    }
}

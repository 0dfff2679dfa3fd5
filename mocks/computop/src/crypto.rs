//! The Paygate's cryptography: the encrypted `Data` parameter (Blowfish-ECB or AES-CBC) with its
//! companion `Len`, and the HMAC-SHA256 `MAC` that sits inside the plain text.
//!
//! Everything here is pure: no I/O, no configuration lookup. The handlers decide which cipher and
//! which passwords belong to a merchant and pass them in.
//!
//! The central rule (spec §1.4) is that the Paygate does not trust padding bytes: it decrypts
//! everything, keeps the first `Len` units and only checks that what is left over looks like
//! padding of some known flavour. Clients disagree about padding (NUL, spaces, PKCS#7) and about
//! what `Len` counts (bytes or characters), so [`decrypt`] reports what it had to tolerate in
//! [`Decrypted::notes`] for the conformance reports instead of rejecting it.

use std::fmt;

use aes::{Aes128, Aes192, Aes256};
use cipher::generic_array::GenericArray;
use cipher::{
    BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, BlockSizeUser, KeyInit, KeyIvInit,
    consts::U16,
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Block size of Blowfish in bytes.
const BF_BLOCK: usize = 8;
/// Block size of AES in bytes (also the IV length).
const AES_BLOCK: usize = 16;
/// The RustCrypto `blowfish` crate accepts at most this many key bytes.
const BF_MAX_KEY: usize = 56;
/// The smallest key the RustCrypto `blowfish` crate accepts.
const BF_MIN_KEY: usize = 4;

/// Which cipher a merchant's `Data` uses. The real Paygate configures this per merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cipher {
    /// Blowfish-ECB, hex-encoded: the Paygate's default.
    #[default]
    Blowfish,
    /// AES-CBC with a random IV, `Data = hex(IV)-hex(ciphertext)`: enabled on request.
    Aes,
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cipher::Blowfish => "Blowfish",
            Cipher::Aes => "AES",
        })
    }
}

/// The padding the mock puts on Blowfish `Data` it emits. AES always uses PKCS#7.
///
/// `Space` is the default because it is what the real Paygate appears to send and the only one
/// that every known client copes with (spec §1.4); the others exist to check that a client cuts
/// at `Len` instead of trusting the padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// 0x20 up to the next multiple of 8; nothing when already aligned.
    #[default]
    Space,
    /// 0x00 up to the next multiple of 8; nothing when already aligned.
    Nul,
    /// PKCS#7: 1 to 8 bytes, a whole extra block when already aligned.
    Pkcs7,
}

/// Everything that can go wrong with `Data`, `Len` or a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The configured password has a length the cipher cannot use.
    #[error("the {cipher} password has {len} bytes, but {cipher} needs {expected}")]
    KeyLength {
        /// Cipher the password is meant for.
        cipher: Cipher,
        /// Length of the password in bytes (UTF-8).
        len: usize,
        /// Human-readable accepted lengths.
        expected: &'static str,
    },
    /// `Data` (or one of its AES parts) contains a character that is not a hex digit.
    #[error("Data is not hex: {found:?} at position {index}")]
    NotHex {
        /// Character offset within `Data`.
        index: usize,
        /// The offending character.
        found: char,
    },
    /// A hex string with an odd number of digits cannot be bytes.
    #[error("Data has an odd number of hex digits ({digits})")]
    OddHexLength {
        /// Number of hex digits in the part that was decoded.
        digits: usize,
    },
    /// The ciphertext is not a whole number of cipher blocks.
    #[error("the {cipher} ciphertext has {len} bytes, which is not a multiple of {block}")]
    WrongBlockLength {
        /// Cipher whose block size applies.
        cipher: Cipher,
        /// Ciphertext length in bytes.
        len: usize,
        /// Block size in bytes.
        block: usize,
    },
    /// The request has `Data` but no `Len`.
    #[error("Len is missing or empty")]
    LenMissing,
    /// `Len` is present but not a plain decimal number.
    #[error("Len {raw:?} is not a decimal number")]
    LenInvalid {
        /// `Len` as received.
        raw: String,
    },
    /// `Len` asks for more text than the ciphertext holds.
    #[error("Len {len} is larger than the decrypted text ({available} bytes)")]
    LenTooLarge {
        /// `Len` as received.
        len: usize,
        /// Decrypted length in bytes.
        available: usize,
    },
    /// What follows the first `Len` bytes (or characters) is not padding.
    #[error(
        "the {rest} bytes after Len={len} are not NUL, space or PKCS#7 padding, \
         with Len read as bytes or as characters (wrong Len, or wrong password?)"
    )]
    BadPadding {
        /// `Len` as received.
        len: usize,
        /// Bytes left after cutting at `Len` as a byte count.
        rest: usize,
    },
    /// AES `Data` is not `hex(16-byte IV)-hex(ciphertext)`.
    #[error("AES Data must be hex(16-byte IV) '-' hex(ciphertext): {reason}")]
    AesFormat {
        /// What exactly is wrong.
        reason: &'static str,
    },
    /// `Data` is shaped for the other cipher (AES has a `-`, Blowfish has none).
    #[error("Data looks like {found} but this merchant is configured for {expected}")]
    CipherMismatch {
        /// The merchant's configured cipher.
        expected: Cipher,
        /// The cipher `Data` looks like.
        found: Cipher,
    },
    /// The operating system gave no randomness for the AES IV.
    #[error("no random bytes for the AES IV: {0}")]
    Random(getrandom::Error),
}

/// A decrypted plain text together with what the decryption had to tolerate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The plain text, cut at `Len`.
    pub plain: String,
    /// Findings for conformance reports, e.g. `"padding: NUL"` or `"hex in lowercase"`.
    pub notes: Vec<String>,
}

/// Checks that `password` can key `cipher`.
///
/// * Blowfish: 1 to 56 bytes; an empty password counts as a single space, as in the PHP clients
///   (FATCHIP, Spryker). The RustCrypto crate wants 4 to 56 bytes, but Blowfish's key schedule
///   reads the key cyclically, so a 1–3 byte key repeated to 4 bytes or more is the very same key.
///   Keys of 57–72 bytes, which PHP accepts, cannot be expressed with the crate and are refused.
/// * AES: exactly 16, 24 or 32 bytes (AES-128/192/256), as newer FATCHIP code demands.
pub fn check_key(cipher: Cipher, password: &str) -> Result<(), CryptoError> {
    match cipher {
        Cipher::Blowfish => blowfish_key(password).map(|_| ()),
        Cipher::Aes => match password.len() {
            16 | 24 | 32 => Ok(()),
            len => Err(CryptoError::KeyLength {
                cipher,
                len,
                expected: "exactly 16, 24 or 32 bytes",
            }),
        },
    }
}

/// Parses the `Len` parameter: ASCII decimal digits only (surrounding whitespace is not
/// tolerated, since the Paygate rejects format errors).
pub fn parse_len(raw: Option<&str>) -> Result<usize, CryptoError> {
    let raw = match raw {
        None | Some("") => return Err(CryptoError::LenMissing),
        Some(raw) => raw,
    };
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::LenInvalid { raw: raw.to_owned() });
    }
    raw.parse().map_err(|_| CryptoError::LenInvalid { raw: raw.to_owned() })
}

/// Tells the cipher from the shape of `Data`: AES carries `IV-ciphertext`, Blowfish has no `-`.
pub fn detect_cipher(data: &str) -> Cipher {
    if data.contains('-') {
        Cipher::Aes
    } else {
        Cipher::Blowfish
    }
}

/// Encrypts `plain` for the outer `Len`/`Data` pair.
///
/// `Len` is the number of characters, the convention of PHP `mb_strlen`, Python `len(str)` and
/// the Paygate; the text itself is encrypted as UTF-8.
///
/// * Blowfish-ECB with the given `padding`, hex in UPPERCASE.
/// * AES-CBC with a fresh random IV and PKCS#7 (`padding` is ignored: the AES decryptors in the
///   clients use OpenSSL's default unpadding). Both parts in UPPERCASE hex too, although PHP emits
///   lowercase: every AES client decodes with `hex2bin` or equivalent, which takes either case,
///   and one case for all output means one rule for strict decoders such as pretix's `b16decode`.
pub fn encrypt(cipher: Cipher, password: &str, plain: &str, padding: Padding) -> Result<(usize, String), CryptoError> {
    match cipher {
        Cipher::Blowfish => encrypt_blowfish(password, plain, padding),
        Cipher::Aes => {
            check_key(Cipher::Aes, password)?;
            let mut iv = [0u8; AES_BLOCK];
            getrandom::fill(&mut iv).map_err(CryptoError::Random)?;
            encrypt_aes_with_iv(password, iv, plain)
        }
    }
}

/// AES-CBC encryption with a caller-chosen IV: deterministic, for tests and published vectors.
pub fn encrypt_aes_with_iv(password: &str, iv: [u8; 16], plain: &str) -> Result<(usize, String), CryptoError> {
    check_key(Cipher::Aes, password)?;
    let mut buf = plain.as_bytes().to_vec();
    pad_pkcs7(&mut buf, AES_BLOCK);
    let key = password.as_bytes();
    match key.len() {
        16 => cbc_encrypt::<Aes128>(key, &iv, &mut buf),
        24 => cbc_encrypt::<Aes192>(key, &iv, &mut buf),
        _ => cbc_encrypt::<Aes256>(key, &iv, &mut buf),
    }
    let data = format!("{}-{}", hex::encode_upper(iv), hex::encode_upper(&buf));
    Ok((plain.chars().count(), data))
}

/// Decrypts `Data` and cuts the plain text at `len`.
///
/// Hex of either case is accepted. The merchant's `cipher` decides; `Data` shaped for the other
/// cipher is [`CryptoError::CipherMismatch`], as the real Paygate keys the cipher per merchant.
///
/// The text after the cut must be padding: all NUL, all spaces or exact PKCS#7 (for AES also NUL
/// bytes followed by PKCS#7, which the older FATCHIP library produces), or nothing. `len` is read
/// as a byte count first; if the rest is not padding it is read as a count of UTF-8 characters
/// (clients that encrypt UTF-8 but count with `mb_strlen`). When both readings would fit, the byte
/// reading wins; that can only happen for non-ASCII text whose last characters look like padding.
///
/// The plain text is UTF-8 when it decodes as such, otherwise ISO-8859-1 (the Paygate's charset),
/// with a note.
pub fn decrypt(cipher: Cipher, password: &str, len: usize, data: &str) -> Result<Decrypted, CryptoError> {
    let found = detect_cipher(data);
    if found != cipher {
        if cipher == Cipher::Aes && !data.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CryptoError::AesFormat {
                reason: "no '-' between IV and ciphertext",
            });
        }
        return Err(CryptoError::CipherMismatch {
            expected: cipher,
            found,
        });
    }
    let mut notes = Vec::new();
    if let Some(note) = hex_case_note(data) {
        notes.push(note.to_owned());
    }
    let buf = match cipher {
        Cipher::Blowfish => decrypt_blowfish_raw(password, data)?,
        Cipher::Aes => decrypt_aes_raw(password, data)?,
    };
    if buf.is_empty() {
        notes.push("Data is empty".to_owned());
    }
    let (text, cut_notes) = cut_at_len(&buf, len, cipher)?;
    notes.extend(cut_notes);
    let (plain, latin1) = decode_text(text);
    if latin1 {
        notes.push("text was ISO-8859-1, not UTF-8".to_owned());
    }
    Ok(Decrypted { plain, notes })
}

/// The `MAC` value: HMAC-SHA256 keyed with the HMAC password over `fields` joined by `*`, in
/// UPPERCASE hex (Computop's samples; spec §1.6). Empty fields keep their `*`.
pub fn mac(hmac_password: &str, fields: &[&str]) -> String {
    hex::encode_upper(mac_state(hmac_password, fields).finalize().into_bytes())
}

/// Whether `given` is the right `MAC` for `fields`. Hex case and surrounding whitespace do not
/// matter (several clients send lowercase; pretix strips whitespace); the bytes are compared in
/// constant time.
pub fn mac_matches(hmac_password: &str, fields: &[&str], given: &str) -> bool {
    match hex::decode(given.trim()) {
        Ok(tag) => mac_state(hmac_password, fields).verify_slice(&tag).is_ok(),
        Err(_) => false,
    }
}

fn mac_state(hmac_password: &str, fields: &[&str]) -> Hmac<Sha256> {
    let Ok(mut state) = <Hmac<Sha256> as Mac>::new_from_slice(hmac_password.as_bytes()) else {
        unreachable!("HMAC accepts keys of any length");
    };
    state.update(fields.join("*").as_bytes());
    state
}

/// Builds the Blowfish cipher, working around the crate's 4-byte minimum (see [`check_key`]).
fn blowfish_key(password: &str) -> Result<blowfish::Blowfish, CryptoError> {
    // PHP clients replace an empty password by a single space.
    let key = if password.is_empty() { " " } else { password };
    let len = key.len();
    if len > BF_MAX_KEY {
        return Err(CryptoError::KeyLength {
            cipher: Cipher::Blowfish,
            len: password.len(),
            expected: "1 to 56 bytes (the RustCrypto blowfish limit)",
        });
    }
    // Blowfish's key schedule costs more than encrypting a whole request (about 36 µs against a
    // few µs), and a Paygate sees the same few merchant passwords over and over: keep the
    // scheduled ciphers of recent passwords.
    static SCHEDULED: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, blowfish::Blowfish>>> =
        std::sync::OnceLock::new();
    let cache = SCHEDULED.get_or_init(Default::default);
    if let Some(bf) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
        return Ok(bf.clone());
    }
    // The key schedule consumes the key cyclically, so repeating a short key changes nothing.
    let repeated = key.as_bytes().repeat(BF_MIN_KEY.div_ceil(len));
    let bf = blowfish::Blowfish::new_from_slice(&repeated).map_err(|_| CryptoError::KeyLength {
        cipher: Cipher::Blowfish,
        len: password.len(),
        expected: "1 to 56 bytes (the RustCrypto blowfish limit)",
    })?;
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    // A handful of merchants is the normal case; a client trying many passwords must not make
    // the cache grow without bound.
    if cache.len() >= 64 {
        cache.clear();
    }
    cache.insert(key.to_owned(), bf.clone());
    Ok(bf)
}

fn encrypt_blowfish(password: &str, plain: &str, padding: Padding) -> Result<(usize, String), CryptoError> {
    let bf = blowfish_key(password)?;
    let mut buf = plain.as_bytes().to_vec();
    match padding {
        Padding::Space => pad_to_block(&mut buf, BF_BLOCK, b' '),
        Padding::Nul => pad_to_block(&mut buf, BF_BLOCK, 0),
        Padding::Pkcs7 => pad_pkcs7(&mut buf, BF_BLOCK),
    }
    for block in buf.chunks_exact_mut(BF_BLOCK) {
        bf.encrypt_block(GenericArray::from_mut_slice(block));
    }
    Ok((plain.chars().count(), hex::encode_upper(&buf)))
}

/// Pads with `byte` up to the next multiple of `block`; aligned input stays as it is.
fn pad_to_block(buf: &mut Vec<u8>, block: usize, byte: u8) {
    let target = buf.len().next_multiple_of(block);
    buf.resize(target, byte);
}

/// PKCS#7: always 1..=block bytes of value n.
fn pad_pkcs7(buf: &mut Vec<u8>, block: usize) {
    let n = block - buf.len() % block;
    // `block` is 8 or 16, so `n` fits in a byte.
    buf.resize(buf.len() + n, n as u8);
}

fn cbc_encrypt<C>(key: &[u8], iv: &[u8; 16], buf: &mut [u8])
where
    C: BlockCipher + BlockEncryptMut + BlockSizeUser<BlockSize = U16> + KeyInit,
{
    let Ok(mut enc) = cbc::Encryptor::<C>::new_from_slices(key, iv) else {
        unreachable!("key length checked by check_key");
    };
    for block in buf.chunks_exact_mut(AES_BLOCK) {
        enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8])
where
    C: BlockCipher + BlockDecryptMut + BlockSizeUser<BlockSize = U16> + KeyInit,
{
    let Ok(mut dec) = cbc::Decryptor::<C>::new_from_slices(key, iv) else {
        unreachable!("key length checked by check_key, IV length by the caller");
    };
    for block in buf.chunks_exact_mut(AES_BLOCK) {
        dec.decrypt_block_mut(GenericArray::from_mut_slice(block));
    }
}

/// Decodes one hex part of `Data`; `offset` is the part's position within `Data` so that error
/// positions point into what the client sent.
fn decode_hex(part: &str, offset: usize) -> Result<Vec<u8>, CryptoError> {
    if let Some((index, found)) = part.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(CryptoError::NotHex {
            index: offset + index,
            found,
        });
    }
    hex::decode(part).map_err(|_| CryptoError::OddHexLength { digits: part.len() })
}

/// Notes hex that is not the Paygate's own UPPERCASE (harmless, but worth reporting).
fn hex_case_note(data: &str) -> Option<&'static str> {
    let lower = data.bytes().any(|b| matches!(b, b'a'..=b'f'));
    let upper = data.bytes().any(|b| matches!(b, b'A'..=b'F'));
    match (lower, upper) {
        (true, false) => Some("hex in lowercase"),
        (true, true) => Some("hex in mixed case"),
        _ => None,
    }
}

/// Blowfish-ECB over all blocks, padding left in place.
fn decrypt_blowfish_raw(password: &str, data: &str) -> Result<Vec<u8>, CryptoError> {
    let bf = blowfish_key(password)?;
    let mut buf = decode_hex(data, 0)?;
    if buf.len() % BF_BLOCK != 0 {
        return Err(CryptoError::WrongBlockLength {
            cipher: Cipher::Blowfish,
            len: buf.len(),
            block: BF_BLOCK,
        });
    }
    for block in buf.chunks_exact_mut(BF_BLOCK) {
        bf.decrypt_block(GenericArray::from_mut_slice(block));
    }
    Ok(buf)
}

/// AES-CBC over all blocks, padding left in place.
fn decrypt_aes_raw(password: &str, data: &str) -> Result<Vec<u8>, CryptoError> {
    check_key(Cipher::Aes, password)?;
    let Some((iv_hex, ct_hex)) = data.split_once('-') else {
        return Err(CryptoError::AesFormat {
            reason: "no '-' between IV and ciphertext",
        });
    };
    if ct_hex.contains('-') {
        return Err(CryptoError::AesFormat {
            reason: "more than one '-'",
        });
    }
    let iv = decode_hex(iv_hex, 0)?;
    if iv.len() != AES_BLOCK {
        return Err(CryptoError::AesFormat {
            reason: "the IV is not 32 hex digits",
        });
    }
    let mut buf = decode_hex(ct_hex, iv_hex.len() + 1)?;
    if buf.is_empty() || buf.len() % AES_BLOCK != 0 {
        return Err(CryptoError::WrongBlockLength {
            cipher: Cipher::Aes,
            len: buf.len(),
            block: AES_BLOCK,
        });
    }
    let key = password.as_bytes();
    match key.len() {
        16 => cbc_decrypt::<Aes128>(key, &iv, &mut buf),
        24 => cbc_decrypt::<Aes192>(key, &iv, &mut buf),
        _ => cbc_decrypt::<Aes256>(key, &iv, &mut buf),
    }
    Ok(buf)
}

/// Cuts the decrypted bytes at `len`, first as bytes, then as UTF-8 characters.
fn cut_at_len(buf: &[u8], len: usize, cipher: Cipher) -> Result<(&[u8], Vec<String>), CryptoError> {
    if len > buf.len() {
        return Err(CryptoError::LenTooLarge {
            len,
            available: buf.len(),
        });
    }
    if let Some(pad) = classify_padding(&buf[len..], cipher) {
        return Ok((&buf[..len], vec![pad]));
    }
    // Len may count characters of UTF-8 text (FATCHIP's mb_strlen): find where the len-th
    // character ends. Padding bytes are ASCII, so the valid UTF-8 prefix covers the whole text.
    let valid = match std::str::from_utf8(buf) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default(),
    };
    let end = match valid.char_indices().nth(len) {
        Some((end, _)) => Some(end),
        None if valid.chars().count() == len => Some(valid.len()),
        None => None,
    };
    if let Some((end, pad)) = end.and_then(|end| Some((end, classify_padding(&buf[end..], cipher)?))) {
        let notes = vec!["Len counted characters, not bytes (non-ASCII text)".to_owned(), pad];
        return Ok((&buf[..end], notes));
    }
    Err(CryptoError::BadPadding {
        len,
        rest: buf.len() - len,
    })
}

/// Names the padding in `rest`, or `None` when `rest` is not padding.
fn classify_padding(rest: &[u8], cipher: Cipher) -> Option<String> {
    let block = match cipher {
        Cipher::Blowfish => BF_BLOCK,
        Cipher::Aes => AES_BLOCK,
    };
    // A sender pads at most one block; more is tolerated but reported.
    let long = |name: &str| {
        if rest.len() >= block {
            format!("padding: {name} ({} bytes, more than a block)", rest.len())
        } else {
            format!("padding: {name}")
        }
    };
    if rest.is_empty() {
        return Some("padding: none".to_owned());
    }
    if rest.iter().all(|&b| b == 0) {
        return Some(long("NUL"));
    }
    if rest.iter().all(|&b| b == b' ') {
        return Some(long("spaces"));
    }
    let p = usize::from(*rest.last()?);
    if p == 0 || p > block || p > rest.len() {
        return None;
    }
    let (head, tail) = rest.split_at(rest.len() - p);
    if tail.iter().any(|&b| usize::from(b) != p) {
        return None;
    }
    if head.is_empty() {
        return Some("padding: PKCS#7".to_owned());
    }
    // The older FATCHIP library zero-pads to the AES block and lets OpenSSL add PKCS#7 on top.
    if cipher == Cipher::Aes && head.len() < block && head.iter().all(|&b| b == 0) {
        return Some("padding: NUL, then PKCS#7 (older FATCHIP library)".to_owned());
    }
    None
}

/// UTF-8 if possible, else ISO-8859-1 (every byte one character); the flag says which.
fn decode_text(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (bytes.iter().map(|&b| char::from(b)).collect(), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs7_adds_a_whole_block_when_aligned() {
        let mut buf = vec![1u8; 8];
        pad_pkcs7(&mut buf, 8);
        assert_eq!(&buf[8..], &[8u8; 8]);
        let mut buf = vec![1u8; 5];
        pad_pkcs7(&mut buf, 8);
        assert_eq!(&buf[5..], &[3u8; 3]);
    }

    #[test]
    fn space_and_nul_padding_leave_aligned_text_alone() {
        let mut buf = vec![b'a'; 16];
        pad_to_block(&mut buf, 8, b' ');
        assert_eq!(buf.len(), 16);
        let mut buf = vec![b'a'; 17];
        pad_to_block(&mut buf, 8, 0);
        assert_eq!(buf.len(), 24);
        assert!(buf[17..].iter().all(|&b| b == 0));
    }

    #[test]
    fn classify_padding_kinds() {
        let bf = Cipher::Blowfish;
        assert_eq!(classify_padding(b"", bf).as_deref(), Some("padding: none"));
        assert_eq!(classify_padding(&[0; 3], bf).as_deref(), Some("padding: NUL"));
        assert_eq!(classify_padding(b"   ", bf).as_deref(), Some("padding: spaces"));
        assert_eq!(classify_padding(&[3; 3], bf).as_deref(), Some("padding: PKCS#7"));
        assert_eq!(classify_padding(&[8; 8], bf).as_deref(), Some("padding: PKCS#7"));
        // Pad value and length disagree.
        assert_eq!(classify_padding(&[2; 3], bf), None);
        assert_eq!(classify_padding(&[9; 9], bf), None);
        assert_eq!(classify_padding(b"x  ", bf), None);
        // NUL then PKCS#7 is an AES-only flavour.
        let mixed = [0, 0, 2, 2];
        assert_eq!(classify_padding(&mixed, bf), None);
        assert!(classify_padding(&mixed, Cipher::Aes).unwrap().contains("older FATCHIP"));
        assert!(classify_padding(&[0; 9], bf).unwrap().contains("more than a block"));
    }

    /// A last byte that claims more padding than is left (garbage from a wrong password, or a
    /// cut at the wrong Len) is not padding, and must not be read beyond the rest.
    #[test]
    fn pkcs7_claiming_more_than_the_rest_is_not_padding() {
        assert_eq!(classify_padding(&[5, 5], Cipher::Blowfish), None);
        assert_eq!(classify_padding(&[4, 4, 4], Cipher::Aes), None);
        assert_eq!(classify_padding(&[0, 7, 7], Cipher::Aes), None);
    }

    /// The older FATCHIP library zero-pads *to* the AES block, so fewer than 16 NULs come before
    /// its PKCS#7; a whole block of NULs is not what it sends.
    #[test]
    fn nul_then_pkcs7_has_less_than_a_block_of_nul() {
        let mut rest = vec![0u8; 15];
        rest.extend([2, 2]);
        assert!(classify_padding(&rest, Cipher::Aes).unwrap().contains("older FATCHIP"));
        let mut rest = vec![0u8; 16];
        rest.extend([2, 2]);
        assert_eq!(classify_padding(&rest, Cipher::Aes), None);
    }

    #[test]
    fn hex_case_notes() {
        assert_eq!(hex_case_note("ABCDEF12"), None);
        assert_eq!(hex_case_note("0123"), None);
        assert_eq!(hex_case_note("abcdef12"), Some("hex in lowercase"));
        assert_eq!(hex_case_note("aBcDeF12"), Some("hex in mixed case"));
    }

    #[test]
    fn decode_text_falls_back_to_latin1() {
        assert_eq!(decode_text("Müller".as_bytes()), ("Müller".to_owned(), false));
        assert_eq!(decode_text(b"M\xfcller"), ("Müller".to_owned(), true));
    }
}

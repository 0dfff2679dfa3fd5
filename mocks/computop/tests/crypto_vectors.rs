//! Known-answer tests for `crypto`: the vectors of spec §1.13 (Computop's own examples, the
//! celements test data, and AES values computed with pycryptodome/OpenSSL), plus ciphertexts
//! built here directly with the RustCrypto primitives to imitate particular clients.

use blowfish::Blowfish;
use cipher::generic_array::GenericArray;
use cipher::{BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
use possim_computop::crypto::{
    Cipher, CryptoError, Padding, check_key, decrypt, encrypt, encrypt_aes_with_iv, mac, mac_matches, parse_len,
};

const BF_KEY: &str = "16CharKeyLength!";
const BF_PLAIN: &str = "Unencrypted plain text!";
const BF_SPACE: &str = "4105AAFDC6445BF2EB8242371136F4886413347EEB8731B9";
const BF_NUL: &str = "4105AAFDC6445BF2EB8242371136F488A4812B38A821E753";
const BF_PKCS7: &str = "4105AAFDC6445BF2EB8242371136F4882D9C8C8193853E80";

const AES_PLAIN: &str = "MerchantID=Test&TransID=T1&Amount=100&Currency=EUR";
const AES128_KEY: &str = "0123456789abcdef";
const AES128_DATA: &str = "000102030405060708090a0b0c0d0e0f-0374769e3c4675665af17250f446a2bcef6361eb2aa467349853c162056cef003e97ee3c7b65275738f50d50c5bf01f6e0fae951b8de66464a0a3a9f9ff06ffe";
const AES256_KEY: &str = "0123456789abcdef0123456789abcdef";
const AES256_CT: &str = "8ec76da10ad2a752bfe9368dba22658b559edbe268a55fdd6f9736de4bfbf7c1e798d8aae5d9a5ac3836916c3fcbcc51fdf225f300c663f6acd0afc19ac7ee3f";
const IV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// Blowfish-ECB of already padded bytes, straight from the crate: a client's view.
fn raw_blowfish(key: &[u8], mut buf: Vec<u8>) -> String {
    let bf: Blowfish = Blowfish::new_from_slice(key).unwrap();
    for block in buf.chunks_exact_mut(8) {
        bf.encrypt_block(GenericArray::from_mut_slice(block));
    }
    hex::encode(buf)
}

fn has_note(notes: &[String], needle: &str) -> bool {
    notes.iter().any(|n| n.contains(needle))
}

#[test]
fn request_mac_vector() {
    let fields = ["", "TID-4453732122167114558", "yourMerchantId", "1234", "EUR"];
    let expected = "38CED807E293FC634A6C36FFAEA7BD2687038D40615781918AEF2DE7BB9A9903";
    assert_eq!(mac("mySecret", &fields), expected);
    assert!(mac_matches("mySecret", &fields, expected));
}

#[test]
fn notify_mac_vector_and_comparison_rules() {
    let fields = [
        "7bbb448155234d8cbee323778952ce28",
        "TID-12033175321270170232",
        "yourMerchantId",
        "AUTHORIZED",
        "00000000",
    ];
    let expected = "4CDCB4DE587AC210F21DE0591689B920CF56D89B38D4C7B1B7F8867BFC93E02C";
    assert_eq!(mac("mySecret", &fields), expected);
    assert!(mac_matches("mySecret", &fields, &expected.to_lowercase()));
    assert!(mac_matches("mySecret", &fields, &format!(" {expected}\n")));
    let changed = expected.replacen('4', "5", 1);
    assert!(!mac_matches("mySecret", &fields, &changed));
    assert!(!mac_matches("mySecret", &fields, &expected[..62]));
    assert!(!mac_matches("mySecret", &fields, "not hex"));
    assert!(!mac_matches("otherSecret", &fields, expected));
}

#[test]
fn blowfish_vectors_for_each_padding() {
    for (padding, data) in [
        (Padding::Space, BF_SPACE),
        (Padding::Nul, BF_NUL),
        (Padding::Pkcs7, BF_PKCS7),
    ] {
        let (len, got) = encrypt(Cipher::Blowfish, BF_KEY, BF_PLAIN, padding).unwrap();
        assert_eq!((len, got.as_str()), (23, data), "{padding:?}");
    }
}

#[test]
fn blowfish_vectors_decrypt_in_either_case() {
    for (data, pad_note) in [
        (BF_SPACE, "padding: spaces"),
        (BF_NUL, "padding: NUL"),
        (BF_PKCS7, "padding: PKCS#7"),
    ] {
        let upper = decrypt(Cipher::Blowfish, BF_KEY, 23, data).unwrap();
        assert_eq!(upper.plain, BF_PLAIN);
        assert_eq!(upper.notes, vec![pad_note.to_owned()]);

        let lower = decrypt(Cipher::Blowfish, BF_KEY, 23, &data.to_lowercase()).unwrap();
        assert_eq!(lower.plain, BF_PLAIN);
        assert!(has_note(&lower.notes, "hex in lowercase"));
        assert!(has_note(&lower.notes, pad_note));
    }
}

#[test]
fn blowfish_len_errors() {
    assert_eq!(
        decrypt(Cipher::Blowfish, BF_KEY, 30, BF_SPACE),
        Err(CryptoError::LenTooLarge { len: 30, available: 24 })
    );
    // "xt!" plus a space is left after Len=20: not padding.
    assert_eq!(
        decrypt(Cipher::Blowfish, BF_KEY, 20, BF_SPACE),
        Err(CryptoError::BadPadding { len: 20, rest: 4 })
    );
    // A wrong password gives garbage, which fails the same check.
    assert!(matches!(
        decrypt(Cipher::Blowfish, "another password", 23, BF_NUL),
        Err(CryptoError::BadPadding { .. })
    ));
}

#[test]
fn blowfish_pkcs7_adds_a_block_but_space_and_nul_do_not() {
    let plain = "Amount=1";
    let (_, pkcs7) = encrypt(Cipher::Blowfish, BF_KEY, plain, Padding::Pkcs7).unwrap();
    let (_, space) = encrypt(Cipher::Blowfish, BF_KEY, plain, Padding::Space).unwrap();
    let (_, nul) = encrypt(Cipher::Blowfish, BF_KEY, plain, Padding::Nul).unwrap();
    assert_eq!((pkcs7.len(), space.len()), (32, 16));
    assert_eq!(space, nul);
    assert_eq!(space, raw_blowfish(BF_KEY.as_bytes(), plain.into()).to_uppercase());
    let back = decrypt(Cipher::Blowfish, BF_KEY, 8, &pkcs7).unwrap();
    assert_eq!(back.plain, plain);
    assert_eq!(back.notes, vec!["padding: PKCS#7".to_owned()]);
    let back = decrypt(Cipher::Blowfish, BF_KEY, 8, &space).unwrap();
    assert_eq!(back.notes, vec!["padding: none".to_owned()]);
}

#[test]
fn utf8_text_with_len_in_characters() {
    // FATCHIP: UTF-8 bytes, NUL-padded, Len from mb_strlen (22 characters, 23 bytes).
    let plain = "Name=Müller&Amount=100";
    assert_eq!((plain.chars().count(), plain.len()), (22, 23));
    let mut buf = plain.as_bytes().to_vec();
    buf.push(0);
    let data = raw_blowfish(BF_KEY.as_bytes(), buf);

    let by_chars = decrypt(Cipher::Blowfish, BF_KEY, 22, &data).unwrap();
    assert_eq!(by_chars.plain, plain);
    assert!(has_note(&by_chars.notes, "Len counted characters"));
    assert!(has_note(&by_chars.notes, "padding: NUL"));

    // The same Data with Len counted in bytes needs no such note.
    let by_bytes = decrypt(Cipher::Blowfish, BF_KEY, 23, &data).unwrap();
    assert_eq!(by_bytes.plain, plain);
    assert!(!has_note(&by_bytes.notes, "characters"));

    // The mock's own output counts characters too.
    let (len, ours) = encrypt(Cipher::Blowfish, BF_KEY, plain, Padding::Nul).unwrap();
    assert_eq!((len, ours), (22, data.to_uppercase()));
}

#[test]
fn len_in_characters_reaching_the_end_of_the_data() {
    // Eight two-byte characters fill two Blowfish blocks exactly: no padding at all.
    let plain = "üüüüüüüü";
    let (len, data) = encrypt(Cipher::Blowfish, BF_KEY, plain, Padding::Space).unwrap();
    assert_eq!((len, data.len()), (8, 32));
    // Len=8 read as bytes leaves "üüüü", not padding; as characters it ends where Data ends.
    let got = decrypt(Cipher::Blowfish, BF_KEY, 8, &data).unwrap();
    assert_eq!(got.plain, plain);
    assert_eq!(
        got.notes,
        vec![
            "Len counted characters, not bytes (non-ASCII text)".to_owned(),
            "padding: none".to_owned()
        ]
    );
    // Len=10 fits neither reading: 10 bytes leave 6 bytes of "ü", and there are only 8 characters.
    assert_eq!(
        decrypt(Cipher::Blowfish, BF_KEY, 10, &data),
        Err(CryptoError::BadPadding { len: 10, rest: 6 })
    );
}

#[test]
fn latin1_text_is_decoded_with_a_note() {
    // krebs3r-style: one Latin-1 byte per character.
    let mut buf = b"Name=M\xfcller".to_vec();
    buf.resize(16, 0);
    let data = raw_blowfish(BF_KEY.as_bytes(), buf);
    let got = decrypt(Cipher::Blowfish, BF_KEY, 11, &data).unwrap();
    assert_eq!(got.plain, "Name=Müller");
    assert!(has_note(&got.notes, "ISO-8859-1"));
}

#[test]
fn blowfish_short_and_empty_passwords() {
    // Blowfish reads the key cyclically: a key and its repetition are the same key. That is
    // what lets the mock accept passwords shorter than the crate's 4-byte minimum.
    let block = b"12345678".to_vec();
    assert_eq!(
        raw_blowfish(b"abcd", block.clone()),
        raw_blowfish(b"abcdabcd", block.clone())
    );
    let (_, abc) = encrypt(Cipher::Blowfish, "abc", "12345678", Padding::Space).unwrap();
    assert_eq!(abc, raw_blowfish(b"abcabc", block.clone()).to_uppercase());
    // PHP clients use a single space for an empty password.
    let (_, empty) = encrypt(Cipher::Blowfish, "", "12345678", Padding::Space).unwrap();
    assert_eq!(empty, raw_blowfish(b"    ", block).to_uppercase());
    assert_eq!(decrypt(Cipher::Blowfish, "", 8, &empty).unwrap().plain, "12345678");
}

#[test]
fn key_length_checks() {
    assert!(check_key(Cipher::Blowfish, "").is_ok());
    assert!(check_key(Cipher::Blowfish, &"k".repeat(56)).is_ok());
    assert!(matches!(
        check_key(Cipher::Blowfish, &"k".repeat(57)),
        Err(CryptoError::KeyLength {
            cipher: Cipher::Blowfish,
            len: 57,
            ..
        })
    ));
    for len in [16, 24, 32] {
        assert!(check_key(Cipher::Aes, &"k".repeat(len)).is_ok());
    }
    for len in [0, 15, 17, 33] {
        assert!(matches!(
            check_key(Cipher::Aes, &"k".repeat(len)),
            Err(CryptoError::KeyLength {
                cipher: Cipher::Aes,
                ..
            })
        ));
    }
    let err = encrypt(Cipher::Aes, "short", "x", Padding::Space).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the AES password has 5 bytes, but AES needs exactly 16, 24 or 32 bytes"
    );
}

#[test]
fn aes128_vector() {
    let (len, data) = encrypt_aes_with_iv(AES128_KEY, IV, AES_PLAIN).unwrap();
    assert_eq!(len, 50);
    assert!(data.eq_ignore_ascii_case(AES128_DATA), "{data}");
    assert_eq!(data, data.to_uppercase());
    for given in [AES128_DATA, data.as_str()] {
        let got = decrypt(Cipher::Aes, AES128_KEY, 50, given).unwrap();
        assert_eq!(got.plain, AES_PLAIN);
        assert!(has_note(&got.notes, "padding: PKCS#7"));
    }
}

#[test]
fn aes256_vector() {
    let (len, data) = encrypt_aes_with_iv(AES256_KEY, IV, AES_PLAIN).unwrap();
    assert_eq!(len, 50);
    let (iv, ct) = data.split_once('-').unwrap();
    assert_eq!(iv, "000102030405060708090A0B0C0D0E0F");
    assert!(ct.eq_ignore_ascii_case(AES256_CT), "{ct}");
    let spec_data = format!("{}-{AES256_CT}", hex::encode(IV));
    assert_eq!(
        decrypt(Cipher::Aes, AES256_KEY, 50, &spec_data).unwrap().plain,
        AES_PLAIN
    );
}

#[test]
fn aes_random_iv() {
    let key = "0123456789abcdef01234567";
    let (len, a) = encrypt(Cipher::Aes, key, AES_PLAIN, Padding::Space).unwrap();
    let (_, b) = encrypt(Cipher::Aes, key, AES_PLAIN, Padding::Space).unwrap();
    assert_eq!(len, 50);
    assert_ne!(a, b, "a fresh IV each time");
    assert_eq!(decrypt(Cipher::Aes, key, len, &a).unwrap().plain, AES_PLAIN);
    assert_eq!(decrypt(Cipher::Aes, key, len, &b).unwrap().plain, AES_PLAIN);
}

#[test]
fn aes_zero_padding_then_pkcs7_from_older_fatchip() {
    // Zero-pad 50 bytes to 64, then OpenSSL adds a whole block of PKCS#7.
    let mut buf = AES_PLAIN.as_bytes().to_vec();
    buf.resize(64, 0);
    buf.resize(80, 16);
    let mut enc = cbc::Encryptor::<aes::Aes128>::new_from_slices(AES128_KEY.as_bytes(), &IV).unwrap();
    for block in buf.chunks_exact_mut(16) {
        enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
    }
    let data = format!("{}-{}", hex::encode(IV), hex::encode(buf));
    let got = decrypt(Cipher::Aes, AES128_KEY, 50, &data).unwrap();
    assert_eq!(got.plain, AES_PLAIN);
    assert!(has_note(&got.notes, "older FATCHIP"));
}

#[test]
fn aes_len_in_characters() {
    let plain = "Name=Müller";
    let (len, data) = encrypt_aes_with_iv(AES128_KEY, IV, plain).unwrap();
    assert_eq!(len, 11);
    let got = decrypt(Cipher::Aes, AES128_KEY, len, &data).unwrap();
    assert_eq!(got.plain, plain);
    assert!(has_note(&got.notes, "Len counted characters"));
    assert_eq!(decrypt(Cipher::Aes, AES128_KEY, 12, &data).unwrap().plain, plain);
    assert_eq!(
        decrypt(Cipher::Aes, AES128_KEY, 33, &data),
        Err(CryptoError::LenTooLarge { len: 33, available: 16 })
    );
}

#[test]
fn cipher_mismatch_both_ways() {
    assert_eq!(
        decrypt(Cipher::Blowfish, BF_KEY, 50, AES128_DATA),
        Err(CryptoError::CipherMismatch {
            expected: Cipher::Blowfish,
            found: Cipher::Aes
        })
    );
    assert_eq!(
        decrypt(Cipher::Aes, AES128_KEY, 23, BF_SPACE),
        Err(CryptoError::CipherMismatch {
            expected: Cipher::Aes,
            found: Cipher::Blowfish
        })
    );
}

#[test]
fn malformed_data() {
    assert_eq!(
        decrypt(Cipher::Blowfish, BF_KEY, 1, "4105AAFX"),
        Err(CryptoError::NotHex { index: 7, found: 'X' })
    );
    assert_eq!(
        decrypt(Cipher::Blowfish, BF_KEY, 1, "4105A"),
        Err(CryptoError::OddHexLength { digits: 5 })
    );
    assert_eq!(
        decrypt(Cipher::Blowfish, BF_KEY, 1, "4105AAFD"),
        Err(CryptoError::WrongBlockLength {
            cipher: Cipher::Blowfish,
            len: 4,
            block: 8
        })
    );
    let ct = &AES128_DATA[33..];
    assert!(matches!(
        decrypt(Cipher::Aes, AES128_KEY, 1, &format!("0001-{ct}")),
        Err(CryptoError::AesFormat { .. })
    ));
    assert!(matches!(
        decrypt(Cipher::Aes, AES128_KEY, 1, &format!("{AES128_DATA}-00")),
        Err(CryptoError::AesFormat { .. })
    ));
    assert!(matches!(
        decrypt(Cipher::Aes, AES128_KEY, 1, "not aes at all"),
        Err(CryptoError::AesFormat { .. })
    ));
    assert_eq!(
        decrypt(Cipher::Aes, AES128_KEY, 1, &format!("{}-", &AES128_DATA[..32])),
        Err(CryptoError::WrongBlockLength {
            cipher: Cipher::Aes,
            len: 0,
            block: 16
        })
    );
    assert_eq!(
        decrypt(Cipher::Aes, AES128_KEY, 1, &format!("{}-00g0", &AES128_DATA[..32])),
        Err(CryptoError::NotHex { index: 35, found: 'g' })
    );
    // Empty Data is consistent with Len=0 only.
    assert_eq!(decrypt(Cipher::Blowfish, BF_KEY, 0, "").unwrap().plain, "");
    assert!(decrypt(Cipher::Blowfish, BF_KEY, 1, "").is_err());
}

#[test]
fn len_parsing() {
    assert_eq!(parse_len(Some("23")), Ok(23));
    assert_eq!(parse_len(Some("007")), Ok(7));
    assert_eq!(parse_len(None), Err(CryptoError::LenMissing));
    assert_eq!(parse_len(Some("")), Err(CryptoError::LenMissing));
    for bad in ["-1", "+1", " 23", "2 3", "0x10", "99999999999999999999999"] {
        assert_eq!(
            parse_len(Some(bad)),
            Err(CryptoError::LenInvalid { raw: bad.to_owned() })
        );
    }
}

#[test]
fn config_names_are_lowercase() {
    assert_eq!(serde_json::to_string(&Cipher::Aes).unwrap(), "\"aes\"");
    assert_eq!(serde_json::to_string(&Cipher::Blowfish).unwrap(), "\"blowfish\"");
    assert_eq!(serde_json::to_string(&Padding::Pkcs7).unwrap(), "\"pkcs7\"");
    assert_eq!(serde_json::from_str::<Padding>("\"nul\"").unwrap(), Padding::Nul);
    assert_eq!(serde_json::from_str::<Padding>("\"space\"").unwrap(), Padding::Space);
    assert_eq!(Padding::default(), Padding::Space);
    assert_eq!(Cipher::default(), Cipher::Blowfish);
}

//! Text formats around the Paygate's `Data`: the decrypted `Key=Value&Key=Value` plain text
//! ([`Fields`]), the outer HTTP form or query string ([`parse_urlencoded`], [`urlencode`]) and
//! the ISO-8859-1 charset the Paygate speaks ([`latin1_decode`], [`latin1_encode`]).
//!
//! Parsing is deliberately forgiving, because real clients differ (spec §1.3): some URL-encode the
//! values inside `Data` and most do not, key case varies, and trailing `&` occurs.

/// The pairs of a decrypted plain text, in the order received.
///
/// Keys are matched case-insensitively (ASCII), since the Paygate documents that names may come
/// in either case. Values cannot contain `&`; the format has no escape for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pairs: Vec<(String, String)>,
}

impl Fields {
    /// Parses `Key=Value&Key=Value`.
    ///
    /// Pieces are split on `&`; empty pieces (such as after a trailing `&`) are skipped. Each
    /// piece is split on its first `=` only, so values may contain `=` (URLs with queries); a
    /// piece without `=` is a key with an empty value. Values are taken raw unless
    /// `percent_decode` is set, for clients such as pretix that URL-encode them: then `+` becomes
    /// a space and `%XX` a byte, keys included, and malformed escapes stay as they are.
    pub fn parse(text: &str, percent_decode: bool) -> Fields {
        let decode = |s: &str| {
            if percent_decode {
                percent_decode_str(s)
            } else {
                s.to_owned()
            }
        };
        let pairs = split_pairs(text).map(|(k, v)| (decode(k), decode(v))).collect();
        Fields { pairs }
    }

    /// The value of the first key equal to `key`, ignoring ASCII case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.pairs[i].1.as_str())
    }

    /// The keys as received, duplicates included.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// All pairs as received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs, duplicates included.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Appends a pair, even if the key is already there.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// Replaces the value of the first key equal to `key` (ignoring ASCII case; the stored key
    /// keeps its spelling), or appends the pair.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        match self.position(&key) {
            Some(i) => self.pairs[i].1 = value.into(),
            None => self.pairs.push((key, value.into())),
        }
    }

    /// `k=v&k=v` without any escaping: the Paygate's own plain text is raw.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out
    }

    /// Keys that occur more than once (ignoring ASCII case), each named once in the spelling of
    /// its first occurrence. Only the first occurrence counts for [`Fields::get`], so a duplicate
    /// is worth reporting.
    pub fn duplicates(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (i, (key, _)) in self.pairs.iter().enumerate() {
            let first = self.position(key) == Some(i);
            if !first && !out.iter().any(|d| d.eq_ignore_ascii_case(key)) {
                out.push(self.pairs[self.position(key).unwrap_or(i)].0.clone());
            }
        }
        out
    }

    /// The outer parameters of a request (a form body or a query string, `+` and `%XX`
    /// decoded), looked up like the plain text: case-insensitively, first one wins.
    pub fn from_urlencoded(text: &str) -> Fields {
        parse_urlencoded(text).into_iter().collect()
    }

    /// Appends every pair of `other` (a form body after the query string).
    pub fn extend(&mut self, other: Fields) {
        self.pairs.extend(other.pairs);
    }

    /// The fields as a JSON object of strings, for journal views and the admin API; a key given
    /// twice shows its first value, the one the Paygate reads.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.pairs {
            map.entry(k.clone())
                .or_insert_with(|| serde_json::Value::String(v.clone()));
        }
        serde_json::Value::Object(map)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.pairs.iter().position(|(k, _)| k.eq_ignore_ascii_case(key))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Fields {
            pairs: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` body or a query string (`+` and `%XX` decoded)
/// into pairs, for the outer envelope of a request (`MerchantID`, `Len`, `Data`, …).
///
/// Same splitting rules as [`Fields::parse`]. Decoded bytes are read as UTF-8, or as ISO-8859-1
/// when they are not valid UTF-8.
pub fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    split_pairs(text)
        .map(|(k, v)| (percent_decode_str(k), percent_decode_str(v)))
        .collect()
}

/// Reads an ISO-8859-1 body: every byte is the character with the same number.
pub fn latin1_decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Writes text as ISO-8859-1 (for the notify body, which the Paygate declares as
/// `charset=iso-8859-1`); characters above U+00FF cannot be expressed and become `?`.
pub fn latin1_encode(text: &str) -> Vec<u8> {
    text.chars().map(|c| u8::try_from(c).unwrap_or(b'?')).collect()
}

/// Percent-encodes a value for a form body or query string.
///
/// `A-Z a-z 0-9 - . _ ~` stay; every other character is encoded as `%XX` (uppercase) of its
/// ISO-8859-1 byte, and characters above U+00FF become `%3F` (`?`). Latin-1 rather than UTF-8
/// because the Paygate's bodies are declared `charset=iso-8859-1` and a receiver that honours the
/// charset must get the same text back; in practice the values are hex, digits and IDs, where
/// both agree.
pub fn urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in latin1_encode(value) {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Splits on `&` and then on the first `=`, skipping empty pieces.
fn split_pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
}

/// Decodes `+` and `%XX`; malformed escapes are kept literally.
fn percent_decode_str(s: &str) -> String {
    // Most values have nothing to decode.
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    match String::from_utf8(percent_decode_bytes(s)) {
        Ok(text) => text,
        // The escaped bytes were not UTF-8: read each escaped byte as ISO-8859-1 instead, and
        // keep the characters that were not escaped as they are.
        Err(_) => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s;
            while let Some(c) = rest.chars().next() {
                match (c, escaped_byte(rest)) {
                    (_, Some(byte)) => {
                        out.push(char::from(byte));
                        rest = &rest[3..];
                    }
                    ('+', None) => {
                        out.push(' ');
                        rest = &rest[1..];
                    }
                    (c, None) => {
                        out.push(c);
                        rest = &rest[c.len_utf8()..];
                    }
                }
            }
            out
        }
    }
}

/// `+` as a space, then `%XX` as its byte; a malformed escape stays as it is (the
/// `percent-encoding` crate's rule, which is the WHATWG form decoding without its UTF-8 step).
fn percent_decode_bytes(s: &str) -> Vec<u8> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).collect()
}

/// The byte of a `%XX` escape at the start of `s`, if there is a well-formed one.
fn escaped_byte(s: &str) -> Option<u8> {
    let hex = s.strip_prefix('%')?.get(..2)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn get_ignores_key_case_and_takes_the_first() {
        let f = Fields::parse("mid=A&MerchantID=B&merchantid=C", false);
        assert_eq!(f.get("MERCHANTID"), Some("B"));
        assert_eq!(f.get("MID"), Some("A"));
        assert_eq!(f.get("missing"), None);
        assert_eq!(f.duplicates(), vec!["MerchantID".to_owned()]);
    }

    #[test]
    fn trailing_and_doubled_ampersands_are_skipped() {
        let f = Fields::parse("A=1&&B=2&", false);
        assert_eq!(f.iter().collect::<Vec<_>>(), vec![("A", "1"), ("B", "2")]);
        assert!(Fields::parse("", false).is_empty());
        assert!(Fields::parse("&&", false).is_empty());
    }

    #[test]
    fn value_keeps_everything_after_the_first_equals() {
        let f = Fields::parse("TransID=T1&redirecturl=https://x/y?ecomid=1&B==", false);
        assert_eq!(f.get("RedirectURL"), Some("https://x/y?ecomid=1"));
        assert_eq!(f.get("b"), Some("="));
    }

    #[test]
    fn piece_without_equals_is_a_key_with_empty_value() {
        let f = Fields::parse("Flag&A=1", false);
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn raw_by_default_decoded_on_request() {
        let text = "OrderDesc=Test:0000+Order+%3F1&Bad=100%&Odd=%zz%4";
        let raw = Fields::parse(text, false);
        assert_eq!(raw.get("OrderDesc"), Some("Test:0000+Order+%3F1"));
        let dec = Fields::parse(text, true);
        assert_eq!(dec.get("OrderDesc"), Some("Test:0000 Order ?1"));
        assert_eq!(dec.get("Bad"), Some("100%"));
        assert_eq!(dec.get("Odd"), Some("%zz%4"));
        // Escaped UTF-8 and escaped ISO-8859-1 both come out as the intended text.
        assert_eq!(Fields::parse("N=M%C3%BCller", true).get("n"), Some("Müller"));
        assert_eq!(Fields::parse("N=M%FCller+%C3", true).get("n"), Some("Müller Ã"));
        assert_eq!(Fields::parse("N=Mü%FC", true).get("n"), Some("Müü"));
        assert_eq!(Fields::parse("Key%3D=v", true).get("key="), Some("v"));
    }

    #[test]
    fn set_replaces_first_or_appends() {
        let mut f = Fields::parse("Status=FAILED&code=1&CODE=2", false);
        f.set("status", "OK");
        f.set("Code", "0");
        f.set("Description", "fine");
        assert_eq!(f.encode(), "Status=OK&code=0&CODE=2&Description=fine");
        f.push("Status", "again");
        assert_eq!(
            f.keys().collect::<Vec<_>>(),
            ["Status", "code", "CODE", "Description", "Status"]
        );
        assert_eq!(f.duplicates(), vec!["code".to_owned(), "Status".to_owned()]);
    }

    #[test]
    fn encode_is_raw() {
        let f: Fields = [("URL", "https://a/b?c=d e"), ("Empty", "")].into_iter().collect();
        assert_eq!(f.encode(), "URL=https://a/b?c=d e&Empty=");
        assert_eq!(Fields::default().encode(), "");
    }

    #[test]
    fn urlencoded_envelope() {
        let pairs = parse_urlencoded("MerchantID=Shop+1&Len=23&Data=4105AA%2d&Language=d%C3%A9&x");
        let expect = [
            ("MerchantID", "Shop 1"),
            ("Len", "23"),
            ("Data", "4105AA-"),
            ("Language", "dé"),
            ("x", ""),
        ];
        let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expect);
        // Latin-1 escapes, as a body declared charset=iso-8859-1 would carry them.
        assert_eq!(parse_urlencoded("A=%E4%F6")[0].1, "äö");
    }

    #[test]
    fn latin1_both_ways() {
        assert_eq!(latin1_decode(b"M\xfcller \xa4"), "Müller ¤");
        assert_eq!(latin1_encode("Müller €"), b"M\xfcller ?".to_vec());
        assert_eq!(latin1_decode(&(0..=255).collect::<Vec<u8>>()).chars().count(), 256);
    }

    #[test]
    fn urlencode_uses_latin1_and_keeps_unreserved() {
        assert_eq!(urlencode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(urlencode("a b&c=d/e+f%"), "a%20b%26c%3Dd%2Fe%2Bf%25");
        assert_eq!(urlencode("Müller€"), "M%FCller%3F");
        assert_eq!(
            parse_urlencoded(&format!("v={}", urlencode("Grüße & Co=1")))[0].1,
            "Grüße & Co=1"
        );
    }

    proptest! {
        #[test]
        fn parse_inverts_encode(
            pairs in proptest::collection::vec(("[^&=]{1,12}", "[^&]{0,24}"), 0..8)
        ) {
            let fields: Fields = pairs.into_iter().collect();
            prop_assert_eq!(Fields::parse(&fields.encode(), false), fields);
        }

        #[test]
        fn urlencode_round_trips_latin1_text(value in "[\\x00-\\u{ff}]{0,40}") {
            // Decoding tries UTF-8 first, so Latin-1 text whose bytes happen to form UTF-8
            // ("Ã¼") reads back as that UTF-8 text; such text is ambiguous by nature.
            prop_assume!(value.is_ascii() || std::str::from_utf8(&latin1_encode(&value)).is_err());
            let encoded = urlencode(&value);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
            let parsed = parse_urlencoded(&format!("k={encoded}"));
            prop_assert_eq!(&parsed[0].1, &value);
        }

        #[test]
        fn parsing_never_panics(text in ".{0,80}") {
            let _ = Fields::parse(&text, true);
            let _ = parse_urlencoded(&text);
        }
    }
}

//! Format checks of the seed's format column (`ans..30`, `n..10`, `a3`, …) and the JSON lists
//! (`VatList`, `ArticleList`) PAYBACK PAY requires. A violation names the parameter, so the
//! answer's `Code` carries its number (see `codes`).

use base64::Engine as _;
use serde_json::Value;

use crate::codes::Code;
use crate::form::Fields;

/// A format from the seed's definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `ans..n`: any printable characters, at most n.
    Ans(usize),
    /// `an..n`: letters and digits, at most n.
    AnMax(usize),
    /// `ann`: exactly n letters and digits.
    An(usize),
    /// `n..n`: digits, at most n.
    NMax(usize),
    /// `nn`: exactly n digits.
    N(usize),
    /// `an`: exactly n letters.
    A(usize),
    /// One of these values (case-insensitive).
    Enum(&'static [&'static str]),
    /// Base64 of a JSON object with `items` (VatList, ArticleList).
    Base64Json,
}

/// Whether a parameter must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// M.
    Mandatory,
    /// O.
    Optional,
}

/// One row of a request table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Parameter name as the seed spells it.
    pub name: &'static str,
    /// Format.
    pub format: Format,
    /// M or O.
    pub need: Need,
}

const fn m(name: &'static str, format: Format) -> Rule {
    Rule {
        name,
        format,
        need: Need::Mandatory,
    }
}

const fn o(name: &'static str, format: Format) -> Rule {
    Rule {
        name,
        format,
        need: Need::Optional,
    }
}

/// `PaybackPay.aspx` (seed 003, "Aufruf der Schnittstelle für eine Zahlung mit PAYBACK PAY").
/// `refnr` is `ns..30` in the seed, but the seed's own samples carry letters
/// (`ygbvb06293amohs08348xjtlq`), so it is checked as `ans..30`. `CustomerID` is `an..` without a
/// length, and its values are UUIDs with hyphens: checked as `ans..50`, mandatory only when
/// `IsBound=True` (the seed: "only available with an active account binding").
pub const SALE: &[Rule] = &[
    m("MerchantID", Format::Ans(30)),
    m("TransID", Format::Ans(64)),
    o("refnr", Format::Ans(30)),
    m("Amount", Format::NMax(10)),
    m("Currency", Format::A(3)),
    m("MAC", Format::An(64)),
    o("Language", Format::Enum(&["de", "en"])),
    m("URLSuccess", Format::Ans(256)),
    m("URLFailure", Format::Ans(256)),
    m("URLNotify", Format::Ans(256)),
    o("Response", Format::Enum(&["encrypt"])),
    o("UserData", Format::Ans(1024)),
    o("ReqID", Format::Ans(32)),
    o("Plain", Format::Ans(50)),
    o("Custom", Format::Ans(1024)),
    o("OrderDesc", Format::Ans(768)),
    o("PointAmount", Format::NMax(10)),
    m("VatList", Format::Base64Json),
    m("ArticleList", Format::Base64Json),
    o("DeviceID", Format::Ans(50)),
    m("AccountID", Format::N(10)),
    o("CustomerID", Format::Ans(50)),
    m("IsBound", Format::Enum(&["True", "False"])),
    m("CustomerGroup", Format::Enum(&["KNOWN", "UNKNOWN"])),
    o("sdAdditionalInfo", Format::Ans(50)),
    o("sdCompany", Format::Ans(50)),
    o("sdFirstName", Format::Ans(50)),
    o("sdLastName", Format::Ans(50)),
    o("sdStreet", Format::Ans(50)),
    o("sdStreetNr", Format::AnMax(10)),
    o("sdZIP", Format::AnMax(20)),
    o("sdCity", Format::Ans(50)),
    m("sdCountryCode", Format::An(2)),
];

/// `credit.aspx` (seed 003, "Gutschrift mit Referenz"; the table writes `ReqId`).
pub const CREDIT: &[Rule] = &[
    m("MerchantID", Format::Ans(30)),
    m("PayID", Format::An(32)),
    m("TransID", Format::Ans(64)),
    m("Amount", Format::NMax(10)),
    m("Currency", Format::A(3)),
    o("refnr", Format::Ans(30)),
    m("MAC", Format::An(64)),
    o("ReqID", Format::Ans(32)),
    o("OrderDesc", Format::Ans(768)),
];

/// `inquire.aspx` (Computop's generic inquiry: MerchantID, PayID, TransID, MAC).
pub const INQUIRE: &[Rule] = &[
    m("MerchantID", Format::Ans(30)),
    m("PayID", Format::An(32)),
    m("TransID", Format::Ans(64)),
    m("MAC", Format::An(64)),
];

fn printable(c: char) -> bool {
    !c.is_control()
}

/// Whether `value` has `format`.
pub fn matches(format: Format, value: &str) -> bool {
    let count = value.chars().count();
    match format {
        Format::Ans(max) => (1..=max).contains(&count) && value.chars().all(printable),
        Format::AnMax(max) => (1..=max).contains(&count) && value.chars().all(|c| c.is_ascii_alphanumeric()),
        Format::An(n) => count == n && value.chars().all(|c| c.is_ascii_alphanumeric()),
        Format::NMax(max) => (1..=max).contains(&count) && value.bytes().all(|b| b.is_ascii_digit()),
        Format::N(n) => count == n && value.bytes().all(|b| b.is_ascii_digit()),
        Format::A(n) => count == n && value.chars().all(|c| c.is_ascii_alphabetic()),
        Format::Enum(values) => values.iter().any(|v| v.eq_ignore_ascii_case(value)),
        Format::Base64Json => decode_list(value).is_ok(),
    }
}

/// Checks `fields` against `rules`: the first missing mandatory parameter, then the first format
/// violation, in table order (the order a shop reads the table in).
pub fn check(rules: &[Rule], fields: &Fields) -> Result<(), (Code, String)> {
    for rule in rules {
        if rule.need == Need::Mandatory && fields.get(rule.name).is_none_or(str::is_empty) {
            return Err((Code::missing(rule.name), format!("{} missing", rule.name)));
        }
    }
    for rule in rules {
        let Some(value) = fields.get(rule.name) else { continue };
        if value.is_empty() && rule.need == Need::Optional {
            continue;
        }
        if !matches(rule.format, value) {
            let detail = match rule.format {
                Format::Base64Json => match decode_list(value) {
                    Err(why) => why,
                    Ok(_) => String::new(),
                },
                other => describe(other),
            };
            return Err((Code::format(rule.name), format!("{} format error: {detail}", rule.name)));
        }
    }
    Ok(())
}

fn describe(format: Format) -> String {
    match format {
        Format::Ans(n) => format!("expected ans..{n}"),
        Format::AnMax(n) => format!("expected an..{n}"),
        Format::An(n) => format!("expected an{n}"),
        Format::NMax(n) => format!("expected n..{n}"),
        Format::N(n) => format!("expected n{n}"),
        Format::A(n) => format!("expected a{n}"),
        Format::Enum(values) => format!("expected one of {}", values.join(", ")),
        Format::Base64Json => "expected Base64 of a JSON object with items".into(),
    }
}

/// Decodes a Base64 JSON list (`VatList`, `ArticleList`) into its `items`. The seed's own VatList
/// example carries non-breaking spaces (U+00A0) between the JSON tokens, which no JSON parser
/// accepts: they are read as spaces, as a lenient Paygate evidently does.
pub fn decode_list(value: &str) -> Result<Vec<Value>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| format!("not Base64 ({e})"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 JSON".to_owned())?;
    let text = text.replace('\u{a0}', " ");
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e})"))?;
    match json.get("items").and_then(Value::as_array) {
        Some(items) if !items.is_empty() => Ok(items.clone()),
        _ => Err("no items".into()),
    }
}

/// Checks the VatList items: `rate` and `amount` numbers, `amount` > 0.
pub fn check_vat_list(items: &[Value]) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        let rate = item.get("rate").and_then(Value::as_f64);
        let amount = item.get("amount").and_then(Value::as_i64);
        match (rate, amount) {
            (Some(r), Some(a)) if r >= 0.0 && a > 0 => {}
            _ => return Err(format!("items[{i}] needs a rate and an amount > 0")),
        }
    }
    Ok(())
}

/// The item types of an ArticleList.
pub const ARTICLE_TYPES: &[&str] = &["GOODS", "VOUCHER", "SHIPPING", "PAYMENT_FEE"];

/// Checks the ArticleList items: every mandatory key, `type` from the list.
pub fn check_article_list(items: &[Value]) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        for key in ["itemReference", "id", "name", "quantity"] {
            let text = match item.get(key) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(format!("items[{i}].{key} missing")),
            };
            if text.is_empty() || text.chars().count() > 30 {
                return Err(format!("items[{i}].{key} must have 1 to 30 characters"));
            }
        }
        for key in ["amount", "vatAmount", "vatPercent"] {
            let whole = item.get(key).and_then(Value::as_i64);
            if whole.is_none_or(|n| n < 0) {
                return Err(format!("items[{i}].{key} must be a whole number ≥ 0"));
            }
        }
        match item.get("type").and_then(Value::as_str) {
            Some(t) if ARTICLE_TYPES.contains(&t) => {}
            _ => return Err(format!("items[{i}].type must be one of {}", ARTICLE_TYPES.join(", "))),
        }
    }
    Ok(())
}

/// A callback URL against the seed's rule (https on port 443, no query string). Returns the
/// deviations; in lenient mode they are findings, in strict mode a refusal.
pub fn callback_deviations(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![format!("{url:?} is not an absolute URL")];
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let port = authority.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok());
    if !scheme.eq_ignore_ascii_case("https") {
        out.push(format!("{url}: not https (the seed allows only port 443)"));
    } else if port.is_some_and(|p| p != 443) {
        out.push(format!("{url}: port other than 443"));
    }
    if url.contains('?') {
        out.push(format!(
            "{url}: has a query string (the seed says: use UserData instead)"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_vat_list_example_decodes_despite_its_non_breaking_spaces() {
        let seed = "ew0KICAgICJpdGVtcyI6IFsNCiAgICAgICAgew0KICAgICAgICAgICAgInJhdGUiOiA3LA0KICAgICAgICAgICAgImFtb3VudCI6IDMyNw0KwqAgwqAgwqAgwqAgfSwNCiAgICAgICAgew0KICAgICAgICAgICAgInJhdGUiOiAxOSwNCiAgICAgICAgICAgICJhbW91bnQiOiA4MA0KICAgICAgICB9DQogICAgXQ0KfQ==";
        let items = decode_list(seed).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["rate"], 7);
        assert_eq!(items[0]["amount"], 327);
        assert_eq!(items[1]["rate"], 19);
        assert_eq!(items[1]["amount"], 80);
        check_vat_list(&items).unwrap();
    }

    #[test]
    fn formats_follow_the_seeds_definitions() {
        assert!(matches(Format::NMax(10), "5500"));
        assert!(!matches(Format::NMax(10), "55.00"));
        assert!(!matches(Format::NMax(10), "12345678901"));
        assert!(matches(Format::N(10), "9876543210"));
        assert!(!matches(Format::N(10), "987654321"));
        assert!(matches(Format::A(3), "EUR"));
        assert!(!matches(Format::A(3), "EU1"));
        assert!(matches(Format::Ans(64), "TID-1708346969344-077409836028"));
        assert!(!matches(Format::Ans(5), "ab\ncd"));
        assert!(matches(Format::Enum(&["True", "False"]), "true"));
        assert!(!matches(Format::Enum(&["KNOWN", "UNKNOWN"]), "MAYBE"));
    }

    #[test]
    fn callback_rule_of_the_seed() {
        assert!(callback_deviations("https://shop.example/notify").is_empty());
        assert!(callback_deviations("https://shop.example:443/notify").is_empty());
        assert_eq!(callback_deviations("http://127.0.0.1:8080/notify").len(), 1);
        assert_eq!(callback_deviations("https://shop.example:8443/n?order=1").len(), 2);
    }
}

//! TYRIOS wire format: parsing request bodies into typed requests with field-precise errors, and
//! rendering users and transactions as the seed's JSON.
//!
//! Parsing works on a `serde_json::Value` rather than derived structs because TYRIOS is lenient
//! where Jackson is (unknown fields, such as the computed fields a till echoes from a draft, are
//! ignored) but strict about types, and the error must name the field in the credential's
//! language. Field names are case-sensitive, as with Jackson.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::errors::{Expected, TyriosError};
use crate::model::{User, hash_part};
use crate::money::{Cents, cents_from_json, cents_from_text};

/// The five transaction endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TxKind {
    /// `pos`: a purchase paid with points and/or coupons.
    Pos,
    /// `coupon`: book coupons onto a user's account.
    Coupon,
    /// `couponActivation`: sell (activate or create) coupons.
    CouponActivation,
    /// `cash`: a user buys points.
    Cash,
    /// `specialPoints`: points granted directly.
    SpecialPoints,
}

impl TxKind {
    /// From the last path segment; the seed's misspelling `couponActication` is accepted.
    pub fn from_segment(segment: &str) -> Option<Self> {
        Some(match segment {
            "pos" => Self::Pos,
            "coupon" => Self::Coupon,
            "couponActivation" | "couponActication" => Self::CouponActivation,
            "cash" => Self::Cash,
            "specialPoints" => Self::SpecialPoints,
            _ => return None,
        })
    }

    /// The `transactionType` value of the answer. `bonuspoint`, `coupon-activation` and
    /// `specialPoints` are the seed's; `coupon` and `cash` follow the endpoint names (our choice).
    pub fn transaction_type(self) -> &'static str {
        match self {
            Self::Pos => "bonuspoint",
            Self::Coupon => "coupon",
            Self::CouponActivation => "coupon-activation",
            Self::Cash => "cash",
            Self::SpecialPoints => "specialPoints",
        }
    }
}

/// How the till identified the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UserMode {
    /// By the 15-character hash (barcode).
    #[serde(rename = "HASH")]
    Hash,
    /// By the search endpoint.
    #[serde(rename = "SEARCH")]
    Search,
    /// A new user is created.
    #[serde(rename = "CREATE")]
    Create,
}

impl UserMode {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hash => "HASH",
            Self::Search => "SEARCH",
            Self::Create => "CREATE",
        }
    }
}

/// A user as given in a request body (`UserData` object or the user-creation body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserObject {
    /// Id (SEARCH mode).
    pub id: Option<u64>,
    /// First name.
    pub pre_name: Option<String>,
    /// Last name.
    pub name: Option<String>,
    /// E-mail.
    pub e_mail: Option<String>,
    /// Hash to assign (creation).
    pub unique_user_hash: Option<String>,
    /// Birthday, epoch milliseconds.
    pub birthday: Option<i64>,
}

/// `UserData` in a transaction request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// Absent or null.
    None,
    /// A hash string.
    Hash(String),
    /// A user object.
    Object(UserObject),
}

/// One entry of `BonusPointCouponData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponRef {
    /// The code.
    pub code: String,
    /// Value given by the till, if any.
    pub value: Option<Cents>,
}

/// A parsed transaction request.
#[derive(Debug, Clone, PartialEq)]
pub struct TxRequest {
    /// `UserData`.
    pub user: UserRef,
    /// `userMode`.
    pub user_mode: UserMode,
    /// `productGroup`.
    pub product_group: Option<String>,
    /// `totalAmount`.
    pub total: Option<Cents>,
    /// `BonusPointCouponData` (or the legacy single `couponCode`).
    pub coupons: Vec<CouponRef>,
    /// Top-level `couponValue` (coupon activation).
    pub coupon_value: Option<Cents>,
    /// `enablePointRedemption`, true when absent.
    pub enable_point_redemption: bool,
    /// `obtainedPoints` (special points).
    pub obtained_points: Option<i64>,
    /// `redeemedPoints` > 0: redeem exactly this many (see the README's "draft then final").
    pub redeemed_points: Option<i64>,
    /// `employeeNumber`, echoed.
    pub employee_number: Value,
}

/// Parses a body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, TyriosError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| TyriosError::MalformedJson(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(TyriosError::BodyNotAnObject),
    }
}

fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_string(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, TyriosError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TyriosError::InvalidField(path.to_owned(), Expected::Text)),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, TyriosError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(TyriosError::InvalidField(key.to_owned(), Expected::Boolean)),
    }
}

fn opt_count(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<i64>, TyriosError> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(Some(n)),
            _ => Err(TyriosError::InvalidField(path.to_owned(), Expected::Count)),
        },
    }
}

/// Every number of a JSON document as written, by path (`totalAmount`,
/// `BonusPointCouponData[0].couponValue`), so amounts are judged by the number the till wrote,
/// not by the float it parses to (in which `10.000000000000002` is a whole cent and `1e-400`
/// zero). Meant for text serde_json has already accepted; on anything else it stops early and
/// returns what it found (the typed parse reports the error).
pub fn written_numbers(text: &str) -> HashMap<String, String> {
    let mut found = HashMap::new();
    let mut scanner = Scanner { text, at: 0 };
    let _complete = scanner.value("", &mut found, 0);
    found
}

/// A cursor over JSON text, just enough to find where each number is.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl Scanner<'_> {
    /// serde_json's own nesting limit: deeper documents never get this far.
    const MAX_DEPTH: usize = 128;

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn string(&mut self) -> Option<String> {
        self.skip_whitespace();
        let start = self.at;
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => break,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        serde_json::from_str(self.text.get(start..self.at)?).ok()
    }

    fn value(&mut self, path: &str, found: &mut HashMap<String, String>, depth: usize) -> Option<()> {
        if depth > Self::MAX_DEPTH {
            return None;
        }
        self.skip_whitespace();
        match self.peek()? {
            b'{' => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek()? == b'}' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    let key = self.string()?;
                    self.expect(b':')?;
                    let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                    self.value(&child, found, depth + 1)?;
                    self.skip_whitespace();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                for index in 0.. {
                    self.value(&format!("{path}[{index}]"), found, depth + 1)?;
                    self.skip_whitespace();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
                None
            }
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
                    self.at += 1;
                }
                found.insert(path.to_owned(), self.text.get(start..self.at)?.to_owned());
                Some(())
            }
            _ => {
                // true, false, null
                while matches!(self.peek(), Some(b'a'..=b'z')) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

fn opt_amount(
    obj: &Map<String, Value>,
    written: &HashMap<String, String>,
    key: &str,
    path: &str,
) -> Result<Option<Cents>, TyriosError> {
    let cents = match (present(obj, key), written.get(path)) {
        (None, _) => return Ok(None),
        (Some(Value::Number(_)), Some(text)) => cents_from_text(text),
        (Some(v), _) => cents_from_json(v),
    };
    cents
        .map(Some)
        .map_err(|p| TyriosError::InvalidField(path.to_owned(), Expected::Amount(p)))
}

/// Parses a user object; `prefix` names it in errors (`UserData.` or empty for the user body).
pub fn parse_user_object(obj: &Map<String, Value>, prefix: &str) -> Result<UserObject, TyriosError> {
    let p = |k: &str| format!("{prefix}{k}");
    let id = match present(obj, "id") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| TyriosError::InvalidField(p("id"), Expected::Count))?,
        ),
    };
    Ok(UserObject {
        id,
        pre_name: opt_string(obj, "preName", &p("preName"))?,
        name: opt_string(obj, "name", &p("name"))?,
        e_mail: opt_string(obj, "eMail", &p("eMail"))?.filter(|s| !s.trim().is_empty()),
        unique_user_hash: opt_string(obj, "uniqueUserHash", &p("uniqueUserHash"))?.filter(|s| !s.trim().is_empty()),
        birthday: match present(obj, "birthday") {
            None => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| TyriosError::InvalidField(p("birthday"), Expected::Count))?,
            ),
        }
        .filter(|b| *b != 0),
    })
}

/// Parses a transaction request body.
pub fn parse_tx_request(body: &[u8]) -> Result<TxRequest, TyriosError> {
    let obj = parse_object(body)?;
    // parse_object succeeded, so the body is UTF-8 JSON.
    let written = written_numbers(std::str::from_utf8(body).unwrap_or(""));
    let user_mode = match present(&obj, "userMode") {
        None => return Err(TyriosError::MissingField("userMode".into())),
        Some(Value::String(s)) => match s.as_str() {
            "HASH" => UserMode::Hash,
            "SEARCH" => UserMode::Search,
            "CREATE" => UserMode::Create,
            _ => return Err(TyriosError::InvalidField("userMode".into(), Expected::UserMode)),
        },
        Some(_) => return Err(TyriosError::InvalidField("userMode".into(), Expected::UserMode)),
    };
    let user = match present(&obj, "UserData") {
        None => UserRef::None,
        Some(Value::String(s)) => UserRef::Hash(s.clone()),
        Some(Value::Object(o)) => UserRef::Object(parse_user_object(o, "UserData.")?),
        Some(_) => return Err(TyriosError::InvalidField("UserData".into(), Expected::HashOrObject)),
    };
    let mut coupons = Vec::new();
    match present(&obj, "BonusPointCouponData") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(c) = item else {
                    return Err(TyriosError::InvalidField(
                        format!("BonusPointCouponData[{i}]"),
                        Expected::Object,
                    ));
                };
                let code = opt_string(c, "couponCode", &format!("BonusPointCouponData[{i}].couponCode"))?
                    .ok_or_else(|| TyriosError::MissingField(format!("BonusPointCouponData[{i}].couponCode")))?;
                let value = opt_amount(
                    c,
                    &written,
                    "couponValue",
                    &format!("BonusPointCouponData[{i}].couponValue"),
                )?;
                coupons.push(CouponRef { code, value });
            }
        }
        Some(_) => {
            return Err(TyriosError::InvalidField(
                "BonusPointCouponData".into(),
                Expected::ArrayOfObjects,
            ));
        }
    }
    // Version 2 of the API carried a single top-level couponCode; accept it when the array is absent.
    if coupons.is_empty()
        && let Some(code) = opt_string(&obj, "couponCode", "couponCode")?
    {
        coupons.push(CouponRef { code, value: None });
    }
    let obtained_points = match present(&obj, "obtainedPoints") {
        None => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| TyriosError::InvalidField("obtainedPoints".into(), Expected::PositiveCount))?,
        ),
    };
    Ok(TxRequest {
        user,
        user_mode,
        product_group: opt_string(&obj, "productGroup", "productGroup")?,
        total: opt_amount(&obj, &written, "totalAmount", "totalAmount")?,
        coupons,
        coupon_value: opt_amount(&obj, &written, "couponValue", "couponValue")?,
        enable_point_redemption: opt_bool(&obj, "enablePointRedemption")?.unwrap_or(true),
        obtained_points,
        redeemed_points: opt_count(&obj, "redeemedPoints", "redeemedPoints")?.filter(|n| *n > 0),
        employee_number: obj.get("employeeNumber").cloned().unwrap_or(Value::Null),
    })
}

/// The seed's `UserData` answer object, fields in the seed's order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserDataJson {
    /// Id; null for a user not yet created (draft with userMode CREATE).
    pub id: Option<u64>,
    /// First name.
    pub pre_name: Option<String>,
    /// Last name.
    pub name: Option<String>,
    /// E-mail or null.
    pub e_mail: Option<String>,
    /// Points on the account now.
    pub current_bonus_points: i64,
    /// Last four characters of the hash.
    pub unique_user_hash_part: Option<String>,
    /// Birthday in epoch milliseconds, 0 when unknown (as in the seed's examples).
    pub birthday: i64,
}

impl UserDataJson {
    /// An existing user at `now`.
    pub fn of(user: &User, now: i64) -> Self {
        Self {
            id: Some(user.id),
            pre_name: user.pre_name.clone(),
            name: user.name.clone(),
            e_mail: user.e_mail.clone(),
            current_bonus_points: user.balance(now),
            unique_user_hash_part: Some(user.hash_part()),
            birthday: user.birthday.unwrap_or(0),
        }
    }

    /// A user that a draft would create.
    pub fn not_yet_created(obj: &UserObject) -> Self {
        Self {
            id: None,
            pre_name: obj.pre_name.clone(),
            name: obj.name.clone(),
            e_mail: obj.e_mail.clone(),
            current_bonus_points: 0,
            unique_user_hash_part: obj
                .unique_user_hash
                .as_deref()
                .map(|h| hash_part(&h.to_ascii_uppercase())),
            birthday: obj.birthday.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found_as_written_by_path() {
        let found = written_numbers(
            r#" { "totalAmount" : 10.000000000000002, "x\"y": -0.0, "UserData": {"id": 1, "eMail": null},
              "BonusPointCouponData": [ {"couponCode": "A]B}C", "couponValue": 1e-400}, {"couponValue": 19.99} ],
              "ok": true, "list": [], "o": {} , "totalAmount2": 3.3E+1 } "#,
        );
        let expected: HashMap<String, String> = [
            ("totalAmount", "10.000000000000002"),
            ("x\"y", "-0.0"),
            ("UserData.id", "1"),
            ("BonusPointCouponData[0].couponValue", "1e-400"),
            ("BonusPointCouponData[1].couponValue", "19.99"),
            ("totalAmount2", "3.3E+1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(found, expected);
        // Broken text: whatever was found before the break, no panic.
        assert_eq!(
            written_numbers(r#"{"a": 1, "b": "#).get("a").map(String::as_str),
            Some("1")
        );
        assert!(written_numbers("").is_empty());
    }

    #[test]
    fn amounts_in_requests_are_judged_as_written() {
        let body = |amount: &str| {
            format!(
                r#"{{"UserData":"UQBUFDJALK4WXYC","userMode":"HASH","productGroup":"Hose","totalAmount":{amount}}}"#
            )
        };
        assert_eq!(
            parse_tx_request(body("19.99").as_bytes()).ok().and_then(|r| r.total),
            Some(1999)
        );
        assert_eq!(
            parse_tx_request(body("1234.56").as_bytes()).ok().and_then(|r| r.total),
            Some(123_456)
        );
        for noise in ["19.990000000000002", "1e-400", "-0.0"] {
            assert!(parse_tx_request(body(noise).as_bytes()).is_err(), "{noise}");
        }
    }
}

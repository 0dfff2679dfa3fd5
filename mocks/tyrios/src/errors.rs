//! TYRIOS error answers: HTTP 400 with `{"error": "Exception", "message": "..."}` in the
//! language of the credential, as the seed's "Fehlerbehandlung" section describes.
//!
//! The seed shows one error type (`Exception`) and one message ("Es existiert bereits ein
//! identischer Eintrag."); every other text here is our own, written the way the seed's one
//! example reads, and listed in `mocks/tyrios/README.md` so tills can rely on them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::money::AmountProblem;

/// Language of error messages, chosen per credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// German (the seed's language and our default).
    #[default]
    De,
    /// English.
    En,
}

/// What a field should have been.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A JSON string.
    Text,
    /// A JSON boolean.
    Boolean,
    /// A whole number ≥ 0.
    Count,
    /// A whole number > 0.
    PositiveCount,
    /// An amount (number, ≥ 0, two decimals at most).
    Amount(AmountProblem),
    /// An amount > 0.
    PositiveAmount,
    /// A JSON object.
    Object,
    /// A JSON array of objects.
    ArrayOfObjects,
    /// HASH, SEARCH or CREATE.
    UserMode,
    /// `true` or `false`.
    TrueOrFalse,
    /// A 15-character hash string or a user object.
    HashOrObject,
}

impl Expected {
    fn describe(self, lang: Lang) -> &'static str {
        use AmountProblem::*;
        match (self, lang) {
            (Expected::Text, Lang::De) => "eine Zeichenkette wird erwartet",
            (Expected::Text, Lang::En) => "a string is expected",
            (Expected::Boolean, Lang::De) => "true oder false wird erwartet",
            (Expected::Boolean, Lang::En) => "true or false is expected",
            (Expected::Count, Lang::De) => "eine ganze Zahl ≥ 0 wird erwartet",
            (Expected::Count, Lang::En) => "a whole number ≥ 0 is expected",
            (Expected::PositiveCount, Lang::De) => "eine ganze Zahl > 0 wird erwartet",
            (Expected::PositiveCount, Lang::En) => "a whole number > 0 is expected",
            (Expected::Amount(NotANumber), Lang::De) => "ein Betrag als Zahl wird erwartet (z. B. 33 oder 30.87)",
            (Expected::Amount(NotANumber), Lang::En) => "an amount as a number is expected (e.g. 33 or 30.87)",
            (Expected::Amount(Negative), Lang::De) => "der Betrag darf nicht negativ sein",
            (Expected::Amount(Negative), Lang::En) => "the amount must not be negative",
            (Expected::Amount(TooManyDecimals), Lang::De) => "höchstens zwei Nachkommastellen sind erlaubt",
            (Expected::Amount(TooManyDecimals), Lang::En) => "at most two decimals are allowed",
            (Expected::Amount(TooLarge), Lang::De) => "der Betrag ist zu groß",
            (Expected::Amount(TooLarge), Lang::En) => "the amount is too large",
            (Expected::PositiveAmount, Lang::De) => "ein Betrag größer 0 wird erwartet",
            (Expected::PositiveAmount, Lang::En) => "an amount greater than 0 is expected",
            (Expected::Object, Lang::De) => "ein Objekt wird erwartet",
            (Expected::Object, Lang::En) => "an object is expected",
            (Expected::ArrayOfObjects, Lang::De) => "eine Liste von Objekten wird erwartet",
            (Expected::ArrayOfObjects, Lang::En) => "an array of objects is expected",
            (Expected::UserMode, Lang::De) => "erlaubt sind HASH, SEARCH und CREATE",
            (Expected::UserMode, Lang::En) => "allowed are HASH, SEARCH and CREATE",
            (Expected::TrueOrFalse, Lang::De) => "erlaubt sind true und false",
            (Expected::TrueOrFalse, Lang::En) => "allowed are true and false",
            (Expected::HashOrObject, Lang::De) => "ein Benutzer-Hash oder ein UserData-Objekt wird erwartet",
            (Expected::HashOrObject, Lang::En) => "a user hash or a UserData object is expected",
        }
    }
}

/// Every error the TYRIOS mock answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message(Lang::En))]
pub enum TyriosError {
    /// No or wrong Basic credentials (401).
    Unauthorized,
    /// No such endpoint (404).
    UnknownEndpoint,
    /// The body is not JSON.
    MalformedJson(String),
    /// The body is JSON but not an object.
    BodyNotAnObject,
    /// A required field is absent or null.
    MissingField(String),
    /// A field has the wrong type or value.
    InvalidField(String, Expected),
    /// A required query parameter is absent or empty.
    MissingParameter(&'static str),
    /// A query parameter has an unacceptable value.
    InvalidParameter(&'static str, Expected),
    /// `userMode` and the form of `UserData` disagree.
    UserModeMismatch(&'static str),
    /// A user hash that is not exactly 15 characters.
    HashLength(usize),
    /// A user hash with characters outside A–Z and 0–9.
    HashCharacters,
    /// No user with that hash or id.
    UserNotFound,
    /// The transaction kind needs a user.
    UserRequired,
    /// pos needs a user or a coupon.
    UserOrCouponRequired,
    /// The transaction kind needs at least one coupon.
    CouponRequired,
    /// E-mail address is not valid.
    InvalidEmail(String),
    /// User creation without e-mail and hash.
    EmailOrHashRequired,
    /// Same e-mail, hash or coupon twice — the seed's one documented message.
    DuplicateEntry,
    /// Coupon code not 8 characters.
    CouponCodeLength(String),
    /// No coupon with this code.
    CouponUnknown(String),
    /// Registered but not yet sold (activated).
    CouponNotActivated(String),
    /// Coupon already activated (sold).
    CouponAlreadyActivated(String),
    /// Coupon value is 0 (used up or transferred).
    CouponExhausted(String),
    /// Coupon validity has passed.
    CouponExpired(String),
    /// Activation tries to change the registered value.
    CouponValueOverwrite(String),
    /// Creating a coupon needs a value.
    CouponValueMissing(String),
    /// Partially digital company, coupon worth more than the purchase and no user.
    CouponExceedsAmount(String),
    /// Analogue coupons can only be used in full.
    AnalogCouponPartial(String),
    /// Fewer points available than the transaction must redeem.
    InsufficientPoints {
        /// Points the request asked for.
        requested: i64,
        /// Points available.
        available: i64,
    },
    /// More points requested than the amount allows.
    RedeemExceedsAmount {
        /// Points the request asked for.
        requested: i64,
        /// The amount in cents.
        amount: i64,
    },
    /// No transaction with that id for this company.
    TransactionNotFound(u64),
}

impl TyriosError {
    /// HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UnknownEndpoint => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The message in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        let de = lang == Lang::De;
        let pick = |d: String, e: String| if de { d } else { e };
        match self {
            Self::Unauthorized => pick(
                "Für diese Anfrage ist eine gültige Anmeldung (BASIC AUTHENTICATION) erforderlich.".into(),
                "Valid credentials (BASIC AUTHENTICATION) are required for this request.".into(),
            ),
            Self::UnknownEndpoint => pick("Unbekannter Endpunkt.".into(), "Unknown endpoint.".into()),
            Self::MalformedJson(detail) => pick(
                format!("Die Anfrage enthält kein gültiges JSON: {detail}"),
                format!("The request body is not valid JSON: {detail}"),
            ),
            Self::BodyNotAnObject => pick(
                "Der Anfragekörper muss ein JSON-Objekt sein.".into(),
                "The request body must be a JSON object.".into(),
            ),
            Self::MissingField(f) => pick(
                format!("Das Pflichtfeld '{f}' fehlt."),
                format!("The required field '{f}' is missing."),
            ),
            Self::InvalidField(f, exp) => pick(
                format!("Ungültiger Wert für das Feld '{f}': {}.", exp.describe(lang)),
                format!("Invalid value for the field '{f}': {}.", exp.describe(lang)),
            ),
            Self::MissingParameter(p) => pick(
                format!("Der Parameter '{p}' fehlt."),
                format!("The parameter '{p}' is missing."),
            ),
            Self::InvalidParameter(p, exp) => pick(
                format!("Ungültiger Wert für den Parameter '{p}': {}.", exp.describe(lang)),
                format!("Invalid value for the parameter '{p}': {}.", exp.describe(lang)),
            ),
            Self::UserModeMismatch(mode) => match *mode {
                "HASH" => pick(
                    "Bei userMode HASH muss UserData ein Benutzer-Hash (Zeichenkette) sein.".into(),
                    "With userMode HASH, UserData must be a user hash (string).".into(),
                ),
                "SEARCH" => pick(
                    "Bei userMode SEARCH muss UserData das gefundene UserData-Objekt mit id sein.".into(),
                    "With userMode SEARCH, UserData must be the UserData object found by the search, with its id."
                        .into(),
                ),
                _ => pick(
                    "Bei userMode CREATE muss UserData ein UserData-Objekt des neuen Benutzers sein.".into(),
                    "With userMode CREATE, UserData must be a UserData object for the new user.".into(),
                ),
            },
            Self::HashLength(n) => pick(
                format!("Der Benutzer-Hash muss genau 15 Zeichen lang sein (erhalten: {n})."),
                format!("The user hash must be exactly 15 characters long (got {n})."),
            ),
            Self::HashCharacters => pick(
                "Der Benutzer-Hash darf nur Buchstaben A–Z und Ziffern enthalten.".into(),
                "The user hash may only contain the letters A–Z and digits.".into(),
            ),
            Self::UserNotFound => pick(
                "Der Benutzer wurde nicht gefunden.".into(),
                "The user was not found.".into(),
            ),
            Self::UserRequired => pick(
                "Für diese Transaktionsart muss ein Benutzer (UserData) angegeben werden.".into(),
                "This kind of transaction requires a user (UserData).".into(),
            ),
            Self::UserOrCouponRequired => pick(
                "Es muss ein Benutzer (UserData) oder ein Gutschein (BonusPointCouponData) angegeben werden.".into(),
                "A user (UserData) or a coupon (BonusPointCouponData) must be given.".into(),
            ),
            Self::CouponRequired => pick(
                "Für diese Transaktionsart muss mindestens ein Gutschein (BonusPointCouponData) angegeben werden."
                    .into(),
                "This kind of transaction requires at least one coupon (BonusPointCouponData).".into(),
            ),
            Self::InvalidEmail(e) => pick(
                format!("Die E-Mail-Adresse '{e}' ist ungültig."),
                format!("The e-mail address '{e}' is not valid."),
            ),
            Self::EmailOrHashRequired => pick(
                "Es muss eine E-Mail-Adresse (eMail) oder ein Benutzer-Hash (uniqueUserHash) angegeben werden.".into(),
                "An e-mail address (eMail) or a user hash (uniqueUserHash) must be given.".into(),
            ),
            Self::DuplicateEntry => pick(
                "Es existiert bereits ein identischer Eintrag.".into(),
                "An identical entry already exists.".into(),
            ),
            Self::CouponCodeLength(c) => pick(
                format!("Der Gutscheincode '{c}' muss genau 8 Zeichen lang sein."),
                format!("The coupon code '{c}' must be exactly 8 characters long."),
            ),
            Self::CouponUnknown(c) => pick(
                format!("Der Gutschein '{c}' existiert nicht."),
                format!("The coupon '{c}' does not exist."),
            ),
            Self::CouponNotActivated(c) => pick(
                format!("Der Gutschein '{c}' wurde noch nicht aktiviert (verkauft)."),
                format!("The coupon '{c}' has not been activated (sold) yet."),
            ),
            Self::CouponAlreadyActivated(c) => pick(
                format!("Der Gutschein '{c}' ist bereits aktiviert."),
                format!("The coupon '{c}' is already activated."),
            ),
            Self::CouponExhausted(c) => pick(
                format!("Der Gutschein '{c}' hat keinen Restwert mehr."),
                format!("The coupon '{c}' has no value left."),
            ),
            Self::CouponExpired(c) => pick(
                format!("Der Gutschein '{c}' ist abgelaufen."),
                format!("The coupon '{c}' has expired."),
            ),
            Self::CouponValueOverwrite(c) => pick(
                format!("Der Gutschein '{c}' hat bereits einen Wert; dieser kann nicht überschrieben werden."),
                format!("The coupon '{c}' already has a value; it cannot be overwritten."),
            ),
            Self::CouponValueMissing(c) => pick(
                format!("Für den neuen Gutschein '{c}' muss ein Wert (couponValue) angegeben werden."),
                format!("The new coupon '{c}' needs a value (couponValue)."),
            ),
            Self::CouponExceedsAmount(c) => pick(
                format!(
                    "Der Gutschein '{c}' ist mehr wert als der Einkauf; ohne Benutzer ist das in einer teilweise digitalisierten Umgebung nicht möglich."
                ),
                format!(
                    "The coupon '{c}' is worth more than the purchase; without a user this is not possible in a partially digital environment."
                ),
            ),
            Self::AnalogCouponPartial(c) => pick(
                format!("Der analoge Gutschein '{c}' kann nur vollständig eingelöst werden."),
                format!("The analogue coupon '{c}' can only be redeemed in full."),
            ),
            Self::InsufficientPoints { requested, available } => pick(
                format!("Nicht genügend Punkte: {requested} Punkte angefordert, {available} verfügbar."),
                format!("Not enough points: {requested} points requested, {available} available."),
            ),
            Self::RedeemExceedsAmount { requested, amount } => pick(
                format!("Es können höchstens {amount} Punkte eingelöst werden (Betrag), angefordert: {requested}."),
                format!("At most {amount} points can be redeemed (the amount); requested: {requested}."),
            ),
            Self::TransactionNotFound(id) => pick(
                format!("Die Transaktion {id} wurde nicht gefunden."),
                format!("The transaction {id} was not found."),
            ),
        }
    }

    /// The answer in `lang`.
    pub fn into_response_in(self, lang: Lang) -> Response {
        let body = serde_json::json!({"error": "Exception", "message": self.message(lang)});
        let mut resp = (self.status(), axum::Json(body)).into_response();
        if self == Self::Unauthorized {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"BonusPointManagement\", charset=\"UTF-8\""),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_one_message_is_used_verbatim() {
        assert_eq!(
            TyriosError::DuplicateEntry.message(Lang::De),
            "Es existiert bereits ein identischer Eintrag."
        );
    }

    /// Every error of the table in `mocks/tyrios/README.md` ("Errors"), German as the README
    /// writes it (where it abbreviates with "...", the part it shows), English as pinned here;
    /// a changed character in any message fails.
    #[test]
    fn every_message_of_the_readme_table() {
        use AmountProblem::*;
        use TyriosError as E;
        let c = || "AB4DEFGJ".to_owned();
        let table: Vec<(TyriosError, &str, &str)> = vec![
            (
                E::Unauthorized,
                "Für diese Anfrage ist eine gültige Anmeldung (BASIC AUTHENTICATION) erforderlich.",
                "Valid credentials (BASIC AUTHENTICATION) are required for this request.",
            ),
            (E::UnknownEndpoint, "Unbekannter Endpunkt.", "Unknown endpoint."),
            (
                E::MalformedJson("detail".into()),
                "Die Anfrage enthält kein gültiges JSON: detail",
                "The request body is not valid JSON: detail",
            ),
            (
                E::BodyNotAnObject,
                "Der Anfragekörper muss ein JSON-Objekt sein.",
                "The request body must be a JSON object.",
            ),
            (
                E::MissingField("productGroup".into()),
                "Das Pflichtfeld 'productGroup' fehlt.",
                "The required field 'productGroup' is missing.",
            ),
            (
                E::InvalidField("userMode".into(), Expected::UserMode),
                "Ungültiger Wert für das Feld 'userMode': erlaubt sind HASH, SEARCH und CREATE.",
                "Invalid value for the field 'userMode': allowed are HASH, SEARCH and CREATE.",
            ),
            (
                E::MissingParameter("draft"),
                "Der Parameter 'draft' fehlt.",
                "The parameter 'draft' is missing.",
            ),
            (
                E::InvalidParameter("draft", Expected::TrueOrFalse),
                "Ungültiger Wert für den Parameter 'draft': erlaubt sind true und false.",
                "Invalid value for the parameter 'draft': allowed are true and false.",
            ),
            (
                E::UserModeMismatch("HASH"),
                "Bei userMode HASH muss UserData ein Benutzer-Hash (Zeichenkette) sein.",
                "With userMode HASH, UserData must be a user hash (string).",
            ),
            (
                E::UserModeMismatch("SEARCH"),
                "Bei userMode SEARCH muss UserData das gefundene UserData-Objekt mit id sein.",
                "With userMode SEARCH, UserData must be the UserData object found by the search, with its id.",
            ),
            (
                E::UserModeMismatch("CREATE"),
                "Bei userMode CREATE muss UserData ein UserData-Objekt des neuen Benutzers sein.",
                "With userMode CREATE, UserData must be a UserData object for the new user.",
            ),
            (
                E::HashLength(14),
                "Der Benutzer-Hash muss genau 15 Zeichen lang sein (erhalten: 14).",
                "The user hash must be exactly 15 characters long (got 14).",
            ),
            (
                E::HashCharacters,
                "Der Benutzer-Hash darf nur Buchstaben A–Z und Ziffern enthalten.",
                "The user hash may only contain the letters A–Z and digits.",
            ),
            (
                E::UserNotFound,
                "Der Benutzer wurde nicht gefunden.",
                "The user was not found.",
            ),
            (
                E::UserRequired,
                "Für diese Transaktionsart muss ein Benutzer (UserData) angegeben werden.",
                "This kind of transaction requires a user (UserData).",
            ),
            (
                E::UserOrCouponRequired,
                "Es muss ein Benutzer (UserData) oder ein Gutschein (BonusPointCouponData) angegeben werden.",
                "A user (UserData) or a coupon (BonusPointCouponData) must be given.",
            ),
            (
                E::CouponRequired,
                "Für diese Transaktionsart muss mindestens ein Gutschein (BonusPointCouponData) angegeben werden.",
                "This kind of transaction requires at least one coupon (BonusPointCouponData).",
            ),
            (
                E::InvalidEmail("x@".into()),
                "Die E-Mail-Adresse 'x@' ist ungültig.",
                "The e-mail address 'x@' is not valid.",
            ),
            (
                E::EmailOrHashRequired,
                "Es muss eine E-Mail-Adresse (eMail) oder ein Benutzer-Hash (uniqueUserHash) angegeben werden.",
                "An e-mail address (eMail) or a user hash (uniqueUserHash) must be given.",
            ),
            (
                E::DuplicateEntry,
                "Es existiert bereits ein identischer Eintrag.",
                "An identical entry already exists.",
            ),
            (
                E::CouponCodeLength("AB4".into()),
                "Der Gutscheincode 'AB4' muss genau 8 Zeichen lang sein.",
                "The coupon code 'AB4' must be exactly 8 characters long.",
            ),
            (
                E::CouponUnknown(c()),
                "Der Gutschein 'AB4DEFGJ' existiert nicht.",
                "The coupon 'AB4DEFGJ' does not exist.",
            ),
            (
                E::CouponNotActivated(c()),
                "Der Gutschein 'AB4DEFGJ' wurde noch nicht aktiviert (verkauft).",
                "The coupon 'AB4DEFGJ' has not been activated (sold) yet.",
            ),
            (
                E::CouponAlreadyActivated(c()),
                "Der Gutschein 'AB4DEFGJ' ist bereits aktiviert.",
                "The coupon 'AB4DEFGJ' is already activated.",
            ),
            (
                E::CouponExhausted(c()),
                "Der Gutschein 'AB4DEFGJ' hat keinen Restwert mehr.",
                "The coupon 'AB4DEFGJ' has no value left.",
            ),
            (
                E::CouponExpired(c()),
                "Der Gutschein 'AB4DEFGJ' ist abgelaufen.",
                "The coupon 'AB4DEFGJ' has expired.",
            ),
            (
                E::CouponValueOverwrite(c()),
                "Der Gutschein 'AB4DEFGJ' hat bereits einen Wert; dieser kann nicht überschrieben werden.",
                "The coupon 'AB4DEFGJ' already has a value; it cannot be overwritten.",
            ),
            (
                E::CouponValueMissing(c()),
                "Für den neuen Gutschein 'AB4DEFGJ' muss ein Wert (couponValue) angegeben werden.",
                "The new coupon 'AB4DEFGJ' needs a value (couponValue).",
            ),
            (
                E::CouponExceedsAmount(c()),
                "Der Gutschein 'AB4DEFGJ' ist mehr wert als der Einkauf; ohne Benutzer ist das in einer teilweise digitalisierten Umgebung nicht möglich.",
                "The coupon 'AB4DEFGJ' is worth more than the purchase; without a user this is not possible in a partially digital environment.",
            ),
            (
                E::AnalogCouponPartial(c()),
                "Der analoge Gutschein 'AB4DEFGJ' kann nur vollständig eingelöst werden.",
                "The analogue coupon 'AB4DEFGJ' can only be redeemed in full.",
            ),
            (
                E::InsufficientPoints {
                    requested: 213,
                    available: 113,
                },
                "Nicht genügend Punkte: 213 Punkte angefordert, 113 verfügbar.",
                "Not enough points: 213 points requested, 113 available.",
            ),
            (
                E::RedeemExceedsAmount {
                    requested: 5000,
                    amount: 3300,
                },
                "Es können höchstens 3300 Punkte eingelöst werden (Betrag), angefordert: 5000.",
                "At most 3300 points can be redeemed (the amount); requested: 5000.",
            ),
            (
                E::TransactionNotFound(17),
                "Die Transaktion 17 wurde nicht gefunden.",
                "The transaction 17 was not found.",
            ),
        ];
        for (error, de, en) in &table {
            assert_eq!(error.message(Lang::De), *de);
            assert_eq!(error.message(Lang::En), *en);
        }
        // What a field or parameter must be, in both languages.
        for (expected, de, en) in [
            (
                Expected::Text,
                "eine Zeichenkette wird erwartet",
                "a string is expected",
            ),
            (
                Expected::Boolean,
                "true oder false wird erwartet",
                "true or false is expected",
            ),
            (
                Expected::Count,
                "eine ganze Zahl ≥ 0 wird erwartet",
                "a whole number ≥ 0 is expected",
            ),
            (
                Expected::PositiveCount,
                "eine ganze Zahl > 0 wird erwartet",
                "a whole number > 0 is expected",
            ),
            (
                Expected::Amount(NotANumber),
                "ein Betrag als Zahl wird erwartet (z. B. 33 oder 30.87)",
                "an amount as a number is expected (e.g. 33 or 30.87)",
            ),
            (
                Expected::Amount(Negative),
                "der Betrag darf nicht negativ sein",
                "the amount must not be negative",
            ),
            (
                Expected::Amount(TooManyDecimals),
                "höchstens zwei Nachkommastellen sind erlaubt",
                "at most two decimals are allowed",
            ),
            (
                Expected::Amount(TooLarge),
                "der Betrag ist zu groß",
                "the amount is too large",
            ),
            (
                Expected::PositiveAmount,
                "ein Betrag größer 0 wird erwartet",
                "an amount greater than 0 is expected",
            ),
            (Expected::Object, "ein Objekt wird erwartet", "an object is expected"),
            (
                Expected::ArrayOfObjects,
                "eine Liste von Objekten wird erwartet",
                "an array of objects is expected",
            ),
            (
                Expected::UserMode,
                "erlaubt sind HASH, SEARCH und CREATE",
                "allowed are HASH, SEARCH and CREATE",
            ),
            (
                Expected::TrueOrFalse,
                "erlaubt sind true und false",
                "allowed are true and false",
            ),
            (
                Expected::HashOrObject,
                "ein Benutzer-Hash oder ein UserData-Objekt wird erwartet",
                "a user hash or a UserData object is expected",
            ),
        ] {
            assert_eq!(
                E::InvalidField("f".into(), expected).message(Lang::De),
                format!("Ungültiger Wert für das Feld 'f': {de}.")
            );
            assert_eq!(
                E::InvalidField("f".into(), expected).message(Lang::En),
                format!("Invalid value for the field 'f': {en}.")
            );
        }
        // Statuses: 401 for credentials, 404 for unknown paths, 400 for everything else.
        for (error, ..) in table {
            let status = match error {
                E::Unauthorized => StatusCode::UNAUTHORIZED,
                E::UnknownEndpoint => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            assert_eq!(error.status(), status, "{error:?}");
        }
    }

    #[test]
    fn every_message_exists_in_both_languages_and_differs() {
        let samples = [
            TyriosError::Unauthorized,
            TyriosError::MissingField("productGroup".into()),
            TyriosError::InvalidField("totalAmount".into(), Expected::Amount(AmountProblem::NotANumber)),
            TyriosError::HashLength(14),
            TyriosError::InsufficientPoints {
                requested: 213,
                available: 113,
            },
            TyriosError::CouponValueOverwrite("AB4DEFGJ".into()),
        ];
        for e in samples {
            let (de, en) = (e.message(Lang::De), e.message(Lang::En));
            assert!(!de.is_empty() && !en.is_empty());
            assert_ne!(de, en, "{e:?}");
        }
    }
}

//! Every invalid input answers HTTP 400 `{"error": "Exception", "message": ...}` in the language
//! of the credential (401 for credentials), never a 500 and never a changed state.
//!
//! The same file also runs in process, through the mock's router: `mocks/tyrios/tests/integration.rs`
//! (only what `tests/in_process_harness.rs` offers may be used here).

use serde_json::{Value, json};

use crate::util::Possim;

const POS: &str = "/BonusPointManagement/BonusPointTransaction/pos";

async fn expect_error(
    possim: &Possim,
    login: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    status: u16,
    message: &str,
) {
    let (got_status, got) = possim.tyrios_as(login, method, path, body).await;
    assert_eq!(got_status, status, "{path} {body:?} → {got}");
    // A message ending in "…" is our text followed by a dependency's (the JSON parser's
    // wording, which is not ours to pin): compared as a prefix, and something must follow.
    if let Some(prefix) = message.strip_suffix('…') {
        assert_eq!(got["error"], "Exception", "{path} {body:?}");
        let text = got["message"].as_str().unwrap_or_default();
        assert!(
            text.starts_with(prefix) && text.len() > prefix.len(),
            "{path} {body:?}: {text:?} is not {prefix:?} and a detail"
        );
        assert_eq!(got.as_object().map(|o| o.len()), Some(2), "{got}");
        return;
    }
    assert_eq!(
        got,
        json!({"error": "Exception", "message": message}),
        "{path} {body:?}"
    );
}

#[tokio::test]
async fn transaction_input_errors_in_german() {
    let possim = Possim::start("default", &[]).await;
    let before = possim.tyrios_state().await;
    let cases: &[(&str, &str)] = &[
        (
            "{ UserData: \"UQBUFDJALK4WXYC\" }",
            "Die Anfrage enthält kein gültiges JSON: …",
        ),
        ("[1]", "Der Anfragekörper muss ein JSON-Objekt sein."),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":33}"#,
            "Das Pflichtfeld 'userMode' fehlt.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":33,"userMode":"hash"}"#,
            "Ungültiger Wert für das Feld 'userMode': erlaubt sind HASH, SEARCH und CREATE.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","userMode":"HASH"}"#,
            "Das Pflichtfeld 'totalAmount' fehlt.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","totalAmount":33,"userMode":"HASH"}"#,
            "Das Pflichtfeld 'productGroup' fehlt.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":"33","userMode":"HASH"}"#,
            "Ungültiger Wert für das Feld 'totalAmount': ein Betrag als Zahl wird erwartet (z. B. 33 oder 30.87).",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":33.333,"userMode":"HASH"}"#,
            "Ungültiger Wert für das Feld 'totalAmount': höchstens zwei Nachkommastellen sind erlaubt.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":-5,"userMode":"HASH"}"#,
            "Ungültiger Wert für das Feld 'totalAmount': der Betrag darf nicht negativ sein.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXY","productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Der Benutzer-Hash muss genau 15 Zeichen lang sein (erhalten: 14).",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYZ","productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Der Benutzer wurde nicht gefunden.",
        ),
        (
            r#"{"UserData":{"id":1},"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Bei userMode HASH muss UserData ein Benutzer-Hash (Zeichenkette) sein.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":33,"userMode":"SEARCH"}"#,
            "Bei userMode SEARCH muss UserData das gefundene UserData-Objekt mit id sein.",
        ),
        (
            r#"{"UserData":{"preName":"X"},"productGroup":"Hose","totalAmount":33,"userMode":"SEARCH"}"#,
            "Das Pflichtfeld 'UserData.id' fehlt.",
        ),
        (
            r#"{"UserData":{"id":999},"productGroup":"Hose","totalAmount":33,"userMode":"SEARCH"}"#,
            "Der Benutzer wurde nicht gefunden.",
        ),
        (
            r#"{"UserData":{"preName":"Neu"},"productGroup":"Hose","totalAmount":33,"userMode":"CREATE"}"#,
            "Es muss eine E-Mail-Adresse (eMail) oder ein Benutzer-Hash (uniqueUserHash) angegeben werden.",
        ),
        (
            r#"{"UserData":{"eMail":"max.mustermann@repalogic.com"},"productGroup":"Hose","totalAmount":33,"userMode":"CREATE"}"#,
            "Es existiert bereits ein identischer Eintrag.",
        ),
        (
            r#"{"UserData":{"eMail":"kein-at-zeichen"},"productGroup":"Hose","totalAmount":33,"userMode":"CREATE"}"#,
            "Die E-Mail-Adresse 'kein-at-zeichen' ist ungültig.",
        ),
        (
            r#"{"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Es muss ein Benutzer (UserData) oder ein Gutschein (BonusPointCouponData) angegeben werden.",
        ),
        (
            r#"{"BonusPointCouponData":[{"couponCode":"AB4DEF"}],"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Der Gutscheincode 'AB4DEF' muss genau 8 Zeichen lang sein.",
        ),
        (
            r#"{"BonusPointCouponData":[{"couponCode":"ZZZZZZZZ"}],"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Der Gutschein 'ZZZZZZZZ' existiert nicht.",
        ),
        (
            r#"{"BonusPointCouponData":[{"couponCode":"AB4DEFGJ"}],"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Der Gutschein 'AB4DEFGJ' wurde noch nicht aktiviert (verkauft).",
        ),
        (
            r#"{"BonusPointCouponData":[{"couponCode":"OLDXMAS1"}],"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Der Gutschein 'OLDXMAS1' ist abgelaufen.",
        ),
        (
            r#"{"BonusPointCouponData":[{"couponCode":"AN000001"}],"productGroup":"Hose","totalAmount":5,"userMode":"HASH"}"#,
            "Der analoge Gutschein 'AN000001' kann nur vollständig eingelöst werden.",
        ),
        (
            r#"{"BonusPointCouponData":[{"couponCode":"AB4DEFGH"},{"couponCode":"ab4defgh"}],"productGroup":"Hose","totalAmount":33,"userMode":"HASH"}"#,
            "Es existiert bereits ein identischer Eintrag.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":33,"redeemedPoints":500,"userMode":"HASH"}"#,
            "Nicht genügend Punkte: 500 Punkte angefordert, 213 verfügbar.",
        ),
        (
            r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":1,"redeemedPoints":200,"userMode":"HASH"}"#,
            "Es können höchstens 100 Punkte eingelöst werden (Betrag), angefordert: 200.",
        ),
    ];
    for (body, message) in cases {
        for draft in ["?draft=true", ""] {
            expect_error(
                &possim,
                "demo",
                "POST",
                &format!("{POS}{draft}"),
                Some(body),
                400,
                message,
            )
            .await;
        }
    }
    // Special points beyond any real grant (here i64::MAX, which would overflow the sum) or ≤ 0.
    for points in ["9223372036854775807", "0", "-5"] {
        let body = format!(
            r#"{{"UserData":"UQBUFDJALK4WXYC","productGroup":"x","obtainedPoints":{points},"userMode":"HASH"}}"#
        );
        expect_error(
            &possim,
            "demo",
            "POST",
            "/BonusPointManagement/BonusPointTransaction/specialPoints",
            Some(&body),
            400,
            "Ungültiger Wert für das Feld 'obtainedPoints': eine ganze Zahl > 0 wird erwartet.",
        )
        .await;
    }
    // Amounts are judged as written (README: at most two decimals): float noise, a negative zero
    // and an underflowing exponent are not amounts a till means, even where the float they
    // parse to would be a whole cent; the same holds for a coupon's value.
    let decimals = "höchstens zwei Nachkommastellen sind erlaubt";
    let negative = "der Betrag darf nicht negativ sein";
    for (amount, problem) in [
        ("10.000000000000002", decimals),
        ("19.990000000000002", decimals),
        ("1e-400", decimals),
        ("-0.0", negative),
        ("-0", negative),
    ] {
        let body = format!(
            r#"{{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":{amount},"userMode":"HASH"}}"#
        );
        for draft in ["?draft=true", ""] {
            expect_error(
                &possim,
                "demo",
                "POST",
                &format!("{POS}{draft}"),
                Some(&body),
                400,
                &format!("Ungültiger Wert für das Feld 'totalAmount': {problem}."),
            )
            .await;
        }
        let body = format!(
            r#"{{"BonusPointCouponData":[{{"couponCode":"AB4DEFGK","couponValue":{amount}}}],"productGroup":"Gutschein","userMode":"HASH"}}"#
        );
        expect_error(
            &possim,
            "demo",
            "POST",
            "/BonusPointManagement/BonusPointTransaction/couponActivation",
            Some(&body),
            400,
            &format!("Ungültiger Wert für das Feld 'BonusPointCouponData[0].couponValue': {problem}."),
        )
        .await;
    }
    // None of the refused finals changed anything.
    assert_eq!(possim.tyrios_state().await, before);
}

#[tokio::test]
async fn other_endpoint_errors() {
    let possim = Possim::start("default", &[]).await;
    let base = "/BonusPointManagement";
    expect_error(
        &possim,
        "demo",
        "GET",
        &format!("{base}/UserData/SHORT"),
        None,
        400,
        "Der Benutzer-Hash muss genau 15 Zeichen lang sein (erhalten: 5).",
    )
    .await;
    expect_error(
        &possim,
        "demo",
        "GET",
        &format!("{base}/UserData/?query="),
        None,
        400,
        "Der Parameter 'query' fehlt.",
    )
    .await;
    expect_error(
        &possim,
        "demo",
        "GET",
        &format!("{base}/UserData/eMail?email=nope"),
        None,
        400,
        "Die E-Mail-Adresse 'nope' ist ungültig.",
    )
    .await;
    expect_error(
        &possim,
        "demo",
        "POST",
        &format!("{base}/UserData/"),
        Some(r#"{"uniqueUserHash":"UQBUFDJALK4WXYC"}"#),
        400,
        "Es existiert bereits ein identischer Eintrag.",
    )
    .await;
    expect_error(
        &possim,
        "demo",
        "POST",
        &format!("{base}/BonusPointTransaction/pos?draft=maybe"),
        Some("{}"),
        400,
        "Ungültiger Wert für den Parameter 'draft': erlaubt sind true und false.",
    )
    .await;
    expect_error(
        &possim,
        "demo",
        "POST",
        &format!("{base}/BonusPointTransaction/refund"),
        Some("{}"),
        404,
        "Unbekannter Endpunkt.",
    )
    .await;
    expect_error(
        &possim,
        "demo",
        "GET",
        "/nothing/here",
        None,
        404,
        "Unbekannter Endpunkt.",
    )
    .await;
    // Coupon activation rules.
    let activation = format!("{base}/BonusPointTransaction/couponActivation");
    expect_error(
        &possim,
        "demo",
        "POST",
        &activation,
        Some(r#"{"BonusPointCouponData":[{"couponCode":"AB4DEFGJ","couponValue":30}],"userMode":"HASH"}"#),
        400,
        "Der Gutschein 'AB4DEFGJ' hat bereits einen Wert; dieser kann nicht überschrieben werden.",
    )
    .await;
    expect_error(
        &possim,
        "demo",
        "POST",
        &activation,
        Some(r#"{"BonusPointCouponData":[{"couponCode":"AB4DEFGH"}],"userMode":"HASH"}"#),
        400,
        "Der Gutschein 'AB4DEFGH' ist bereits aktiviert.",
    )
    .await;
    expect_error(
        &possim,
        "demo",
        "POST",
        &activation,
        Some(r#"{"BonusPointCouponData":[{"couponCode":"NEWCOUPN"}],"userMode":"HASH"}"#),
        400,
        "Für den neuen Gutschein 'NEWCOUPN' muss ein Wert (couponValue) angegeben werden.",
    )
    .await;
    // A partially digital company refuses a coupon worth more than the purchase without a user.
    expect_error(&possim, "bakery", "POST", &format!("{base}/BonusPointTransaction/pos?draft=true"),
        Some(r#"{"BonusPointCouponData":[{"couponCode":"AB4DEFGH"}],"productGroup":"Brot","totalAmount":3.5,"userMode":"HASH"}"#), 400,
        "Der Gutschein 'AB4DEFGH' ist mehr wert als der Einkauf; ohne Benutzer ist das in einer teilweise digitalisierten Umgebung nicht möglich.").await;
}

#[tokio::test]
async fn english_credentials_get_english_messages() {
    let possim = Possim::start("default", &[]).await;
    expect_error(
        &possim,
        "demo-en",
        "POST",
        POS,
        Some(r#"{"UserData":"UQBUFDJALK4WXYC","totalAmount":33,"userMode":"HASH"}"#),
        400,
        "The required field 'productGroup' is missing.",
    )
    .await;
    expect_error(
        &possim,
        "demo-en",
        "POST",
        "/BonusPointManagement/UserData/",
        Some(r#"{"eMail":"max.mustermann@repalogic.com"}"#),
        400,
        "An identical entry already exists.",
    )
    .await;
}

#[tokio::test]
async fn credentials_are_required() {
    let possim = Possim::start("default", &[]).await;
    let url = format!("{}/BonusPointManagement/UserData/UQBUFDJALK4WXYC", possim.tyrios);
    for auth in [None, Some(("demo", "wrong")), Some(("nobody", "demo"))] {
        let mut req = possim.client().get(&url);
        if let Some((user, password)) = auth {
            req = req.basic_auth(user, Some(password));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Basic realm=\"BonusPointManagement\", charset=\"UTF-8\""
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "Exception");
    }
    let resp = possim
        .client()
        .get(&url)
        .header("accept-language", "en-GB")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Valid credentials (BASIC AUTHENTICATION) are required for this request."
    );
}

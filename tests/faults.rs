//! Fault injection over the wire: the draft-ok/final-fails race, closed connections, truncated
//! and malformed bodies, fixed answers, and what the journal records of each.

use serde_json::{Value, json};

use crate::util::Possim;

const POS: &str = "/BonusPointManagement/BonusPointTransaction/pos";

#[tokio::test]
async fn draft_ok_then_competing_till_then_final_fails_and_nothing_is_persisted() {
    let possim = Possim::start("seed-examples", &[]).await;
    let request = json!({ "UserData": "UQBUFDJALK4WXYC", "enablePointRedemption": true, "productGroup": "Hose", "totalAmount": 33, "userMode": "HASH" });
    let (status, draft) = possim
        .tyrios("POST", &format!("{POS}?draft=true"), Some(&request.to_string()))
        .await;
    assert_eq!((status, draft["redeemedPoints"].clone()), (200, json!(213)));

    // Another till spends 100 of Max's points right before our final arrives.
    let rule = json!({
        "name": "other till spends 100 points",
        "provider": "tyrios", "method": "POST", "path": "/BonusPointTransaction/pos$", "queryNot": "draft=true",
        "times": 1,
        "action": {"type": "competingChange", "change": {"type": "pos", "body": {
            "UserData": "UQBUFDJALK4WXYC", "productGroup": "Andere Kasse", "totalAmount": 1.00, "redeemedPoints": 100, "userMode": "HASH"
        }}}
    });
    let (status, armed) = possim.admin("POST", "/__admin/faults", Some(rule)).await;
    assert_eq!(status, 201, "{armed}");

    // The till executes what the draft promised: redeem 213 points. That no longer holds.
    let mut final_request = request.clone();
    final_request["redeemedPoints"] = json!(213);
    let (status, refused) = possim.tyrios("POST", POS, Some(&final_request.to_string())).await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["message"],
        "Nicht genügend Punkte: 213 Punkte angefordert, 113 verfügbar."
    );

    // Only the other till's transaction exists; Max has exactly 113 points.
    let state = possim.tyrios_state().await;
    let transactions = state["transactions"].as_array().unwrap();
    assert_eq!(transactions.len(), 1);
    assert_eq!(transactions[0]["productGroup"], "Andere Kasse");
    assert_eq!(state["users"][0]["currentBonusPoints"], 113);
    // The journal shows the fault on the refused final, with the competing transaction.
    let (_, journal) = possim.admin("GET", "/__admin/journal?status=400", None).await;
    let entry = &journal["entries"][0];
    assert_eq!(entry["fault"]["action"], "competingChange");
    assert_eq!(entry["fault"]["name"], "other till spends 100 points");
    assert_eq!(entry["fault"]["note"]["applied"]["redeemedPoints"], 100);
    let (_, rules) = possim.admin("GET", "/__admin/faults", None).await;
    assert_eq!(
        (rules[0]["matched"].clone(), rules[0]["fired"].clone()),
        (json!(1), json!(1))
    );
}

#[tokio::test]
async fn a_till_that_does_not_echo_the_draft_pays_more_in_money_instead() {
    // Without redeemedPoints the final redeems what is there: the answer, not the draft, decides
    // what the customer pays. (A till that trusts its draft would charge 30.87 instead of 31.87.)
    let possim = Possim::start("seed-examples", &[]).await;
    possim
        .admin("POST", "/__admin/faults", Some(json!({
            "queryNot": "draft=true", "path": "/pos$", "times": 1,
            "action": {"type": "competingChange", "change": {"type": "pos", "body": {
                "UserData": "UQBUFDJALK4WXYC", "productGroup": "Andere Kasse", "totalAmount": 1, "userMode": "HASH"}}}
        })))
        .await;
    let request = r#"{ "UserData": "UQBUFDJALK4WXYC", "productGroup": "Hose", "totalAmount": 33, "userMode": "HASH" }"#;
    let (status, tx) = possim.tyrios("POST", POS, Some(request)).await;
    assert_eq!(status, 200);
    // The other till redeemed 100 points (and earned none); 113 are left for us.
    assert_eq!(
        (tx["redeemedPoints"].clone(), tx["remainingAmount"].clone()),
        (json!(113), json!(31.87))
    );
}

#[tokio::test]
async fn two_tills_spend_the_same_coupon() {
    let possim = Possim::start("seed-examples", &[]).await;
    let body = r#"{"BonusPointCouponData":[{"couponCode":"AB4DEFGH"}],"productGroup":"Hose","totalAmount":60,"userMode":"HASH"}"#;
    possim
        .admin("POST", "/__admin/faults", Some(json!({
            "queryNot": "draft=true", "path": "/pos$", "nth": 1,
            "action": {"type": "competingChange", "change": {"type": "pos", "body": serde_json::from_str::<Value>(body).unwrap()}}
        })))
        .await;
    let (status, refused) = possim.tyrios("POST", POS, Some(body)).await;
    assert_eq!(
        (status, refused["message"].clone()),
        (400, json!("Der Gutschein 'AB4DEFGH' hat keinen Restwert mehr."))
    );
    let state = possim.tyrios_state().await;
    assert_eq!(state["transactions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn transport_faults_close_truncate_malform_and_fixed_answers() {
    let possim = Possim::start("seed-examples", &[]).await;
    let url = format!("{}/BonusPointManagement/UserData/UQBUFDJALK4WXYC", possim.tyrios);
    let get = || possim.client().get(&url).basic_auth("demo", Some("demo")).send();
    let arm = |action: Value| possim.admin("POST", "/__admin/faults", Some(json!({"times": 1, "action": action})));

    arm(json!({"type": "close"})).await;
    assert!(get().await.is_err(), "closed without an answer");

    arm(json!({"type": "truncate"})).await;
    let resp = get().await.expect("headers arrive");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text().await.is_err(),
        "the body is cut short of its Content-Length"
    );

    arm(json!({"type": "malform"})).await;
    let text = get().await.unwrap().text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "half a JSON document: {text}"
    );
    assert!(text.starts_with(r#"{"id":1,"#));

    arm(json!({"type": "respond", "status": 503, "body": {"error": "Exception", "message": "Wartungsarbeiten"}, "headers": [["retry-after", "30"]]})).await;
    let resp = get().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "30");
    assert_eq!(resp.json::<Value>().await.unwrap()["message"], "Wartungsarbeiten");

    // All rules were single-shot: service is back to normal.
    assert_eq!(get().await.unwrap().status(), 200);
    let (_, journal) = possim.admin("GET", "/__admin/journal", None).await;
    let outcomes: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["connection-closed", "truncated", "answered", "answered", "answered"]
    );
    let faults: Vec<Value> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fault"]["action"].clone())
        .collect();
    assert_eq!(
        faults,
        [
            json!("close"),
            json!("truncate"),
            json!("malform"),
            json!("respond"),
            Value::Null
        ]
    );
}

#[tokio::test]
async fn faults_file_is_armed_at_start_and_bad_rules_are_refused() {
    let dir = std::env::temp_dir().join(format!("possim-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("faults.json");
    std::fs::write(
        &file,
        r#"[{"name": "maintenance", "path": "/UserData/", "action": {"type": "respond", "status": 503}}]"#,
    )
    .unwrap();
    let possim = Possim::start("seed-examples", &["--faults", file.to_str().unwrap()]).await;
    let (_, rules) = possim.admin("GET", "/__admin/faults", None).await;
    assert_eq!(rules[0]["name"], "maintenance");
    let resp = possim
        .client()
        .get(format!(
            "{}/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
            possim.tyrios
        ))
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let (status, err) = possim
        .admin(
            "POST",
            "/__admin/faults",
            Some(json!({"path": "(", "action": {"type": "close"}})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("invalid regular expression"),
        "{err}"
    );
    let (status, err) = possim
        .admin("POST", "/__admin/faults", Some(json!({"action": {"type": "explode"}})))
        .await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("explode"), "{err}");
    // An interim 1xx status is no answer, and an hour-long delay would only park connections.
    for (rule, says) in [
        (json!({"action": {"type": "respond", "status": 101}}), "from 200 to 599"),
        (json!({"delayMs": 3_600_000}), "at most 600000"),
    ] {
        let (status, err) = possim.admin("POST", "/__admin/faults", Some(rule)).await;
        assert_eq!(status, 400);
        assert!(err["error"].as_str().unwrap().contains(says), "{err}");
    }
    let (status, _) = possim.admin("DELETE", "/__admin/faults/99", None).await;
    assert_eq!(status, 404);
    std::fs::remove_dir_all(&dir).ok();
}

/// PAYBACK: a competing change (`competingChange`) between authenticate and redeem; the
/// helpers are `payback`'s.
#[tokio::test]
async fn a_competing_redemption_empties_the_account_between_authenticate_and_redeem() {
    let p = crate::payback::start().await;
    let (_, auth) = crate::payback::call(
        &p,
        "/members/authenticate",
        json!({"cardNumber": crate::payback::MAX_CARD, "pin": "1234"}),
    )
    .await;
    let (status, _) = p
        .admin(
            "POST",
            "/__admin/faults",
            Some(
                json!({"provider": "payback", "path": "/redemptions$", "times": 1, "action": {"type": "competingChange",
                "change": {"type": "redemption", "body": {"transactionId": "OTHER-TILL", "cardNumber": "9876543210",
                    "pin": "1234", "points": 5200, "basketTotalCents": 10000, "receiptNumber": "X"}}}}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let (status, b) = crate::payback::call(
        &p,
        "/redemptions",
        json!({"transactionId": "T-1", "pinToken": auth["pinToken"], "points": 500, "basketTotalCents": 1000, "receiptNumber": "R"}),
    )
    .await;
    assert_eq!(
        (status, b["code"].as_str(), b["balance"].as_i64()),
        (422, Some("INSUFFICIENT_POINTS"), Some(100))
    );
}

//! Final transactions and what they leave behind: balances, coupons, users, the overview, expiry.

use serde_json::json;

use crate::util::Possim;

const BASE: &str = "/BonusPointManagement/BonusPointTransaction";

#[tokio::test]
async fn final_pos_transaction_persists_and_appears_in_the_overview() {
    let possim = Possim::start("seed-examples", &[]).await;
    let request = r#"{ "UserData": "UQBUFDJALK4WXYC", "enablePointRedemption": true, "productGroup": "Hose", "totalAmount": 33, "userMode": "HASH" }"#;
    let (status, tx) = possim.tyrios("POST", &format!("{BASE}/pos"), Some(request)).await;
    assert_eq!(status, 200);
    assert_eq!(tx["id"], 1000, "the data set's nextTransactionId");
    assert_eq!(
        (tx["redeemedPoints"].clone(), tx["obtainedPoints"].clone()),
        (json!(213), json!(62))
    );
    // The account now holds the 62 new points; the user object in the answer shows them.
    assert_eq!(tx["UserData"]["currentBonusPoints"], 62);
    let (_, user) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(user["currentBonusPoints"], 62);
    // A second purchase of 1.00 EUR redeems 62 points... 0.62 + 0.38 cash → 1 bonus point (0.76 rounds up).
    let (_, tx2) = possim
        .tyrios(
            "POST",
            &format!("{BASE}/pos"),
            Some(r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Socken","totalAmount":1,"userMode":"HASH"}"#),
        )
        .await;
    assert_eq!(
        (
            tx2["redeemedPoints"].clone(),
            tx2["remainingAmount"].clone(),
            tx2["obtainedPoints"].clone()
        ),
        (json!(62), json!(0.38), json!(1))
    );
    // The overview lists both, newest first; the first transaction's points are all spent now.
    let (status, overview) = possim
        .tyrios("GET", "/BonusPointManagement/BonusPointTransaction?limit=10", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(overview["total"], 2);
    assert_eq!(overview["transactions"][0]["id"], 1001);
    assert_eq!(overview["transactions"][1]["id"], 1000);
    assert_eq!(overview["transactions"][1]["availableObtainedPoints"], 0);
    assert_eq!(overview["transactions"][0]["availableObtainedPoints"], 1);
    let (_, per_user) = possim
        .tyrios(
            "GET",
            "/BonusPointManagement/UserData/UQBUFDJALK4WXYC/BonusPointTransaction",
            None,
        )
        .await;
    assert_eq!(per_user["total"], 2);
    let (status, one) = possim.tyrios("GET", &format!("{BASE}/1000"), None).await;
    assert_eq!((status, one["productGroup"].clone()), (200, json!("Hose")));
    let (status, _) = possim.tyrios("GET", &format!("{BASE}/4242"), None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn digital_coupon_keeps_its_rest_and_can_pay_again() {
    let possim = Possim::start("seed-examples", &[]).await;
    let body = |amount: f64| {
        format!(
            r#"{{"BonusPointCouponData":[{{"couponCode":"AB4DEFGH"}}],"productGroup":"Hose","totalAmount":{amount},"userMode":"HASH"}}"#
        )
    };
    let (_, first) = possim.tyrios("POST", &format!("{BASE}/pos"), Some(&body(33.0))).await;
    assert_eq!(first["BonusPointCouponData"][0]["couponValue"], 17);
    // 20 EUR against the 17 EUR left: 3 EUR to pay in money, coupon used up.
    let (_, second) = possim.tyrios("POST", &format!("{BASE}/pos"), Some(&body(20.0))).await;
    assert_eq!(
        (second["redeemedPoints"].clone(), second["remainingAmount"].clone()),
        (json!(1700), json!(3))
    );
    assert_eq!(second["BonusPointCouponData"][0]["couponValue"], 0);
    let (status, third) = possim.tyrios("POST", &format!("{BASE}/pos"), Some(&body(5.0))).await;
    assert_eq!(
        (status, third["message"].clone()),
        (400, json!("Der Gutschein 'AB4DEFGH' hat keinen Restwert mehr."))
    );
}

#[tokio::test]
async fn coupon_sale_then_transfer_to_a_user() {
    let possim = Possim::start("seed-examples", &[]).await;
    let (status, sold) = possim
        .tyrios(
            "POST",
            &format!("{BASE}/couponActivation"),
            Some(r#"{"BonusPointCouponData":[{"couponCode":"AB4DEFGJ"}],"userMode":"HASH"}"#),
        )
        .await;
    assert_eq!(
        (status, sold["BonusPointCouponData"][0]["mode"].clone()),
        (200, json!("activation"))
    );
    // Booking the coupon onto Max's account (coupon mode) deactivates it and adds 5000 points.
    let (status, booked) = possim
        .tyrios("POST", &format!("{BASE}/coupon"), Some(r#"{"UserData":"UQBUFDJALK4WXYC","BonusPointCouponData":[{"couponCode":"AB4DEFGJ"}],"userMode":"HASH"}"#))
        .await;
    assert_eq!(status, 200, "{booked}");
    assert_eq!(
        (booked["couponPoints"].clone(), booked["resultingPoints"].clone()),
        (json!(5000), json!(5213))
    );
    let state = possim.tyrios_state().await;
    let coupon = state["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["couponCode"] == "AB4DEFGJ")
        .unwrap()
        .clone();
    assert_eq!(coupon["couponValue"], 0);
}

#[tokio::test]
async fn create_user_in_a_final_transaction_and_buy_points() {
    let possim = Possim::start("seed-examples", &[]).await;
    let (status, tx) = possim
        .tyrios(
            "POST",
            &format!("{BASE}/pos"),
            Some(r#"{"UserData":{"preName":"Maria","name":"Mustermann","eMail":"maria.mustermann@repalogic.com"},"productGroup":"Hose","totalAmount":33,"userMode":"CREATE"}"#),
        )
        .await;
    assert_eq!(status, 200, "{tx}");
    assert_eq!(tx["UserData"]["id"], 255);
    assert_eq!(tx["UserData"]["currentBonusPoints"], 66);
    let hash_part = tx["UserData"]["uniqueUserHashPart"].as_str().unwrap().to_owned();
    assert_eq!(hash_part.len(), 4);
    let state = possim.tyrios_state().await;
    let maria = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == 255)
        .unwrap()
        .clone();
    let hash = maria["uniqueUserHash"].as_str().unwrap().to_owned();
    assert!(hash.len() == 15 && hash.ends_with(&hash_part), "{hash}");
    assert_eq!(state["outbox"][0]["to"], "maria.mustermann@repalogic.com");
    // Cash: 10 EUR buy 1000 points.
    let (status, cash) = possim
        .tyrios(
            "POST",
            &format!("{BASE}/cash"),
            Some(&format!(
                r#"{{"UserData":"{hash}","productGroup":"Punktekauf","totalAmount":10,"userMode":"HASH"}}"#
            )),
        )
        .await;
    assert_eq!(status, 200, "{cash}");
    assert_eq!(
        (
            cash["transactionType"].clone(),
            cash["obtainedPoints"].clone(),
            cash["resultingPoints"].clone()
        ),
        (json!("cash"), json!(1000), json!(1066))
    );
}

#[tokio::test]
async fn points_expire_at_the_end_of_the_third_year() {
    let possim = Possim::start("seed-examples", &[]).await;
    let (_, tx) = possim
        .tyrios(
            "POST",
            &format!("{BASE}/specialPoints"),
            Some(
                r#"{"UserData":"UQBUFDJALK4WXYC","obtainedPoints":50,"productGroup":"Sonderaktion","userMode":"HASH"}"#,
            ),
        )
        .await;
    assert_eq!(tx["resultingPoints"], 263);
    // One millisecond before 2022-12-31T23:00:00Z everything is still there...
    let (status, _) = possim
        .admin("PUT", "/__admin/clock", Some(json!({"time": 1672527599999i64})))
        .await;
    assert_eq!(status, 200);
    let (_, user) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(user["currentBonusPoints"], 263);
    // ...and at that instant all of it (213 from the data set, 50 earned in 2019) has expired.
    possim
        .admin("POST", "/__admin/clock/advance", Some(json!({"by": "1ms"})))
        .await;
    let (_, user) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(user["currentBonusPoints"], 0);
    let (status, expired) = possim
        .tyrios("POST", &format!("{BASE}/pos"), Some(r#"{"BonusPointCouponData":[{"couponCode":"AB4DEFGH"}],"productGroup":"Hose","totalAmount":1,"userMode":"HASH"}"#))
        .await;
    assert_eq!(
        (status, expired["message"].clone()),
        (400, json!("Der Gutschein 'AB4DEFGH' ist abgelaufen."))
    );
}

//! The mock through its axum router, in process: envelope variants, batches, idempotency, the
//! purchase state machine, identification kinds, coupons, refunds, signatures, strict mode,
//! offline rules and competing changes. Expected figures come from the `default` data set's
//! offers, computed in the comments.

mod common;

use common::*;
use possim_engine::provider::Provider;
use possim_loymax::sign::{RsaSha256, SignatureScheme, private_key_from_pem, public_key_from_pem, test_keys};
use serde_json::json;

const ANNA: &str = "6390000000000017";
const MILK_AND_KETTLE: &[(&str, &str, &str, &str, &str)] = &[
    ("1", "100001", "60", "2", "120"),
    ("2", "300001", "880", "1.000", "880.00"),
];

async fn calculate(mock: &possim_loymax::LoymaxMock, op: &str, purchase: &str, card: &str) -> Answer {
    post(
        mock,
        "kassa-1",
        &request(
            "Calculate",
            &format!(r#"OperationID="{op}" PurchaseID="{purchase}""#),
            &format!("{}{}", cheque(MILK_AND_KETTLE), ident(card)),
        ),
        None,
    )
    .await
}

async fn simple(mock: &possim_loymax::LoymaxMock, command: &str, attrs: &str, inner: &str) -> Answer {
    post(mock, "kassa-1", &request(command, attrs, inner), None).await
}

#[tokio::test]
async fn answers_mirror_the_request_envelope() {
    let (mock, _) = mock();
    // 2024 form: Version first, no standalone, DeviceLogicalID echoed.
    let answer = simple(
        &mock,
        "Balance",
        r#"OperationID="b1" DeviceLogicalID="kassa-1""#,
        &ident(ANNA),
    )
    .await;
    assert_eq!(answer.status, 200);
    let text = answer.text();
    assert!(
        text.starts_with(
            r#"<?xml version="1.0" encoding="UTF-8"?><XMLResponse><Version>3.2</Version><ErrorCode>0</ErrorCode>"#
        ),
        "{text}"
    );
    insta::assert_snapshot!("balance_2024", text);
    // 2018 form: standalone, no Version.
    let answer = post(
        &mock,
        "kassa-1",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLRequest><Version>3.2</Version><Balances><BalanceRequest OperationID="b2" ElementID="1">{}</BalanceRequest></Balances></XMLRequest>"#,
            ident(ANNA)
        ),
        None,
    )
    .await;
    assert!(
        answer.text().starts_with(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLResponse><ErrorCode>0</ErrorCode><Balances>"#
        ),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn several_requests_in_one_wrapper_are_answered_element_by_element() {
    let (mock, _) = mock();
    let body = format!(
        r#"<XMLRequest><Version>3.2</Version><Balances><BalanceRequest ElementID="1" OperationID="x1">{}</BalanceRequest><BalanceRequest ElementID="2" OperationID="x2">{}</BalanceRequest></Balances></XMLRequest>"#,
        ident(ANNA),
        ident("0000")
    );
    let answer = post(&mock, "kassa-1", &body, None).await;
    let root = answer.root();
    let responses = &root.first("Balances").unwrap().children;
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].get("ElementID"), Some("1"));
    assert_eq!(responses[0].get("ErrorCode"), Some("0"));
    assert_eq!(responses[0].get("BonusAmount"), Some("1500.00"));
    assert_eq!(responses[1].get("ElementID"), Some("2"));
    // CardNotFound: 201, observed on Balance.
    assert_eq!(responses[1].get("ErrorCode"), Some("201"));
    assert_eq!(responses[1].get("OperationID"), Some("x2"));
}

#[tokio::test]
async fn a_replay_inside_a_batch_is_the_stored_answer_with_its_element_id() {
    let (mock, _) = mock();
    let single = format!(
        r#"<XMLRequest><Version>3.2</Version><Balances><BalanceRequest ElementID="1" OperationID="r1">{}</BalanceRequest></Balances></XMLRequest>"#,
        ident(ANNA)
    );
    let first = post(&mock, "kassa-1", &single, None).await.text();
    let stored = &first[first.find("<BalanceResponse").unwrap()..first.rfind("</Balances>").unwrap()];
    assert!(
        !stored.contains("ElementID"),
        "a single answer carries no ElementID: {stored}"
    );
    // The same operation again, now the first of two: its answer is the stored one, with the
    // ElementID a batch pairs answers by, placed before ErrorCode as for a fresh answer.
    let batch = format!(
        r#"<XMLRequest><Version>3.2</Version><Balances><BalanceRequest ElementID="1" OperationID="r1">{}</BalanceRequest><BalanceRequest ElementID="2" OperationID="r2">{}</BalanceRequest></Balances></XMLRequest>"#,
        ident(ANNA),
        ident(ANNA)
    );
    let answer = post(&mock, "kassa-1", &batch, None).await.text();
    let expected = stored.replacen(r#" ErrorCode=""#, r#" ElementID="1" ErrorCode=""#, 1);
    assert!(
        answer.contains(&format!("<Balances>{expected}<BalanceResponse ")),
        "{answer}"
    );
    // And the fresh second answer has its ElementID in the same place.
    assert!(
        answer.contains(r#"OperationID="r2" ElementID="2" ErrorCode="0""#),
        "{answer}"
    );
    // Replaying the whole batch gives the same document.
    assert_eq!(post(&mock, "kassa-1", &batch, None).await.text(), answer);
}

#[tokio::test]
async fn calculate_applies_discounts_accrual_cap_and_messages() {
    let (mock, _) = mock();
    let answer = calculate(&mock, "c1", "P1", ANNA).await;
    assert_eq!(answer.code(), "0", "{}", answer.text());
    // Milk: 10 % of 120.00 = 12.00 off; Gold accrual 5 % of 108.00 = 5.40 and of 880.00 = 44.00.
    // Cap: 30 % of (1000.00 − 12.00) = 296.40.
    assert_eq!(answer.attr("Balance"), "1500.00");
    assert_eq!(answer.attr("AvailableAmount"), "296.40");
    let element = answer.element();
    let lines = &element.first("Cheque").unwrap().children;
    assert_eq!(lines[0].get("Discount"), Some("12.00"));
    assert_eq!(lines[0].get("Cashback"), Some("5.40"));
    assert_eq!(lines[1].get("Discount"), Some("0.00"));
    assert_eq!(lines[1].get("Cashback"), Some("44.00"));
    assert_eq!(
        element.first("ChequeMessage").unwrap().text,
        // Offer 107 (a coupon from 1000.00 with a card) applies too; the coupon itself is issued
        // by Discount.
        "Скидка на молочные продукты!\nНачислено: 49.40 бонусов\nВаш купон на скидку 20% на следующую покупку"
    );
    assert_eq!(
        element.first("CashierMessage").unwrap().text,
        "Бонусы по карте Gold: 49.40"
    );
    insta::assert_snapshot!("calculate_gold", answer.text());
    // A cheque without a card: discounts yes, no accrual, nothing to spend.
    let answer = post(
        &mock,
        "kassa-1",
        &request(
            "Calculate",
            r#"OperationID="c2" PurchaseID="P2""#,
            &cheque(MILK_AND_KETTLE),
        ),
        None,
    )
    .await;
    assert_eq!(answer.code(), "0");
    assert_eq!(answer.attr("AvailableAmount"), "0.00");
    let lines = answer.element().first("Cheque").unwrap().children.clone();
    assert_eq!(
        (lines[0].get("Discount"), lines[0].get("Cashback")),
        (Some("12.00"), Some("0.00"))
    );
}

#[tokio::test]
async fn minimum_price_and_promo_flag_limit_discounts() {
    let (mock, _) = mock();
    // Bread 200001: 5.00 per unit off, unless promotional; never below MinPrice × quantity.
    let body = request(
        "Calculate",
        r#"OperationID="m1" PurchaseID="M1""#,
        r#"<Cheque><ChequeLine PosID="1" GoodsId="200001" Price="40" Quantity="3" Amount="120"/><ChequeLine PosID="2" GoodsId="200001" Price="40" Quantity="1" Amount="40" IsPromo="true"/><ChequeLine PosID="3" GoodsId="200001" Price="40" Quantity="2" Amount="80" MinPrice="38"/><ChequeLine PosID="4" GoodsId="100002" Price="50" Quantity="1" Amount="45" LocalDiscount="5"/></Cheque>"#,
    );
    let answer = post(&mock, "kassa-1", &body, None).await;
    let lines = answer.element().first("Cheque").unwrap().children.clone();
    let discount = |i: usize| lines[i].get("Discount").unwrap().to_owned();
    assert_eq!(discount(0), "15.00"); // 3 × 5.00
    assert_eq!(discount(1), "0.00"); // promotional
    assert_eq!(discount(2), "4.00"); // 80.00 − 2 × 38.00
    assert_eq!(discount(3), "4.50"); // 10 % of the 45.00 the till already reduced
}

#[tokio::test]
async fn the_purchase_state_machine() {
    let (mock, _) = mock();
    assert_eq!(calculate(&mock, "s1", "S", ANNA).await.code(), "0");
    // Confirm before Discount: IncorrectOperationOrder (218).
    assert_eq!(
        simple(&mock, "ConfirmPurchase", r#"OperationID="s2" PurchaseID="S""#, "")
            .await
            .code(),
        "218"
    );
    let pay = simple(
        &mock,
        "Payment",
        r#"OperationID="s3" PurchaseID="S" Amount="100""#,
        &format!("{}{}", cheque(MILK_AND_KETTLE), ident(ANNA)),
    )
    .await;
    assert_eq!(pay.code(), "0", "{}", pay.text());
    assert_eq!(
        pay.element().first("ChequeMessage").unwrap().text,
        "Списано: 100 бонусов!"
    );
    assert_eq!(card(&mock, ANNA), ("1500.00".into(), "100.00".into(), "1400.00".into()));
    // Above the 30 % cap (296.40 − 100.00 already = 196.40): PurchaseExtraPayment (221).
    let pay = simple(
        &mock,
        "Payment",
        r#"OperationID="s4" PurchaseID="S" Amount="196.41""#,
        &ident(ANNA),
    )
    .await;
    assert_eq!(pay.code(), "221");
    // A different cheque at Discount: DifferentCheque (217).
    let changed = cheque(&[("1", "100001", "60", "3", "180"), ("2", "300001", "880", "1", "880")]);
    let discount = simple(&mock, "Discount", r#"OperationID="s5" PurchaseID="S""#, &changed).await;
    assert_eq!(discount.code(), "217");
    let discount = simple(
        &mock,
        "Discount",
        r#"OperationID="s6" PurchaseID="S""#,
        &format!("{}{}", cheque(MILK_AND_KETTLE), ident(ANNA)),
    )
    .await;
    assert_eq!(discount.code(), "0", "{}", discount.text());
    // Payment after Discount: 218.
    assert_eq!(
        simple(
            &mock,
            "Payment",
            r#"OperationID="s7" PurchaseID="S" Amount="1""#,
            &ident(ANNA)
        )
        .await
        .code(),
        "218"
    );
    // Accrual: lines after discount 108.00 / 880.00, points 100.00 spread → 10.93 / 89.07;
    // money 97.07 / 790.93; 5 % → 4.85 (4.8535) and 39.55 (39.5465) = 44.40.
    assert_eq!(discount.attr("BonusAmount"), "44.40");
    // 1000.00 ≥ 1000: offer 107 issues a coupon.
    let issued = discount.element().first("IssuedCoupons").unwrap().children.clone();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].get("Format"), Some("EAN13"));
    assert_eq!(
        simple(&mock, "ConfirmPurchase", r#"OperationID="s8" PurchaseID="S""#, "")
            .await
            .code(),
        "0"
    );
    assert_eq!(card(&mock, ANNA), ("1444.40".into(), "0.00".into(), "1444.40".into()));
    // After confirm: everything is out of order, confirm again too.
    assert_eq!(
        simple(&mock, "ConfirmPurchase", r#"OperationID="s9" PurchaseID="S""#, "")
            .await
            .code(),
        "218"
    );
    assert_eq!(
        simple(&mock, "CancelPurchase", r#"OperationID="s10" PurchaseID="S""#, "")
            .await
            .code(),
        "218"
    );
    assert_eq!(calculate(&mock, "s11", "S", ANNA).await.code(), "218");
    // Unknown purchases: PurchaseNotFound (216).
    assert_eq!(
        simple(&mock, "ConfirmPurchase", r#"OperationID="s12" PurchaseID="nope""#, "")
            .await
            .code(),
        "216"
    );
    assert_eq!(
        simple(&mock, "CancelPurchase", r#"OperationID="s13" PurchaseID="nope""#, "")
            .await
            .code(),
        "216"
    );
    // The issued coupon is usable now.
    let snapshot = mock.snapshot();
    let number = issued[0].get("Number").unwrap();
    let coupon = snapshot["projects"][0]["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == number)
        .unwrap()
        .clone();
    assert_eq!(coupon["state"], "Issued");
}

#[tokio::test]
async fn cancel_releases_holds_and_expiry_cancels_on_the_engine_clock() {
    let (mock, clock) = mock();
    calculate(&mock, "e1", "E1", ANNA).await;
    simple(
        &mock,
        "Payment",
        r#"OperationID="e2" PurchaseID="E1" Amount="50""#,
        &ident(ANNA),
    )
    .await;
    assert_eq!(
        simple(&mock, "CancelPurchase", r#"OperationID="e3" PurchaseID="E1""#, "")
            .await
            .code(),
        "0"
    );
    assert_eq!(card(&mock, ANNA), ("1500.00".into(), "0.00".into(), "1500.00".into()));
    // Abandoned purchase: held until the 30-minute timeout, then released.
    calculate(&mock, "e4", "E2", ANNA).await;
    simple(
        &mock,
        "Payment",
        r#"OperationID="e5" PurchaseID="E2" Amount="70""#,
        &ident(ANNA),
    )
    .await;
    clock.advance(29 * 60 * 1000);
    assert_eq!(card(&mock, ANNA).1, "70.00");
    clock.advance(60 * 1000);
    assert_eq!(card(&mock, ANNA), ("1500.00".into(), "0.00".into(), "1500.00".into()));
    let late = simple(
        &mock,
        "Discount",
        r#"OperationID="e6" PurchaseID="E2""#,
        &cheque(MILK_AND_KETTLE),
    )
    .await;
    assert_eq!(late.code(), "218");
    assert!(late.attr("ErrorMessage").contains("истёк"), "{}", late.text());
}

#[tokio::test]
async fn operation_ids_are_idempotent() {
    let (mock, _) = mock();
    calculate(&mock, "i1", "I", ANNA).await;
    let body = request(
        "Payment",
        r#"OperationID="i2" PurchaseID="I" Amount="100""#,
        &ident(ANNA),
    );
    let first = post(&mock, "kassa-1", &body, None).await;
    let again = post(&mock, "kassa-1", &body, None).await;
    assert_eq!(first.code(), "0");
    assert_eq!(first.body, again.body, "a retry gets the stored answer byte for byte");
    assert_eq!(card(&mock, ANNA).1, "100.00", "held once");
    // The same OperationID with another amount: NotUniqueOperationID (207).
    let other = post(
        &mock,
        "kassa-1",
        &request(
            "Payment",
            r#"OperationID="i2" PurchaseID="I" Amount="101""#,
            &ident(ANNA),
        ),
        None,
    )
    .await;
    assert_eq!(other.code(), "207");
    // Attribute order does not make a request different.
    let reordered = body.replace(
        r#"OperationID="i2" PurchaseID="I" Amount="100""#,
        r#"Amount="100" PurchaseID="I" OperationID="i2""#,
    );
    assert_eq!(post(&mock, "kassa-1", &reordered, None).await.body, first.body);
}

#[tokio::test]
async fn identification_kinds() {
    let (mock, clock) = mock();
    let balance = |value: String, kind: &'static str| {
        let mock = mock.clone();
        async move {
            let answer = post(
                &mock,
                "kassa-1",
                &request(
                    "Balance",
                    &format!(r#"OperationID="{}""#, rand_id(&value, kind)),
                    &format!(r#"<Identifier Type="{kind}" Value="{}"/>"#, xml_escape(&value)),
                ),
                None,
            )
            .await;
            (answer.code(), answer.element().get("BonusAmount").map(str::to_owned))
        }
    };
    let ok = |amount: &str| ("0".to_owned(), Some(amount.to_owned()));
    assert_eq!(balance(ANNA.into(), "CardNumber").await, ok("1500.00"));
    assert_eq!(balance("2000000000015".into(), "Auto").await, ok("1500.00"));
    assert_eq!(balance("2000000000015".into(), "CardBarCode").await, ok("1500.00"));
    assert_eq!(
        balance(";6390000000000017=2912101?".into(), "Auto").await,
        ok("1500.00")
    );
    assert_eq!(
        balance("%B6390000000000017^SMIRNOVA/ANNA^2912?".into(), "CardTrack1").await,
        ok("1500.00")
    );
    assert_eq!(balance("8 (926) 123-45-67".into(), "Phone").await, ok("1500.00"));
    assert_eq!(balance("89261234567".into(), "Auto").await, ok("1500.00"));
    assert_eq!(balance("ANNA@example.ru".into(), "Email").await, ok("1500.00"));
    // Vera's first card is blocked; by phone she is found through her activated card.
    assert_eq!(balance("6390000000000033".into(), "Auto").await.0, "205");
    assert_eq!(balance("+79165554433".into(), "Phone").await, ok("250.00"));
    // Expired by date and by state: CardExpired (235).
    assert_eq!(balance("6390000000000058".into(), "Auto").await.0, "235");
    assert_eq!(balance("6390000000000074".into(), "Auto").await.0, "235");
    // Not activated: balance yes.
    assert_eq!(balance("6390000000000025".into(), "Auto").await, ok("300.00"));
    // Mask 2770 + 9 digits: a new, not yet activated card.
    assert_eq!(balance("2770123456789".into(), "Auto").await, ok("0.00"));
    assert_eq!(balance("277012345678".into(), "Auto").await.0, "201");
    // Unknown identifier type: FormatException (4); a known one not modelled: not found.
    assert_eq!(balance(ANNA.into(), "Telepathy").await.0, "4");
    assert_eq!(balance(ANNA.into(), "PhoneHash").await.0, "201");
    // Dynamic QR: issued by the app (admin route), valid 5 minutes on the engine clock.
    let admin = mock.admin_router().unwrap();
    let response = tower::ServiceExt::oneshot(
        admin,
        axum::http::Request::post("/qr")
            .body(axum::body::Body::from(json!({"card": ANNA}).to_string()))
            .unwrap(),
    )
    .await
    .unwrap();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let qr: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let payload = qr["payload"].as_str().unwrap().to_owned();
    assert!(payload.starts_with(&format!("{ANNA}:")));
    assert_eq!(balance(payload.clone(), "QrCode").await, ok("1500.00"));
    clock.advance(5 * 60 * 1000);
    assert_eq!(balance(payload.clone(), "Auto").await.0, "201");
    assert_eq!(balance(format!("{ANNA}:000000"), "QrCode").await.0, "201");
}

fn rand_id(value: &str, kind: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{kind}/{value}/{}", line!()).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}

#[tokio::test]
async fn card_states_on_payment() {
    let (mock, _) = mock();
    let boris = "6390000000000025";
    calculate(&mock, "n1", "N", boris).await;
    // Not activated: accrues, may not pay (CardNotActivated, 214).
    let pay = simple(
        &mock,
        "Payment",
        r#"OperationID="n2" PurchaseID="N" Amount="10""#,
        &ident(boris),
    )
    .await;
    assert_eq!(pay.code(), "214");
    // Payment without Calculate: 218.
    let pay = simple(
        &mock,
        "Payment",
        r#"OperationID="n3" PurchaseID="none" Amount="10""#,
        &ident(ANNA),
    )
    .await;
    assert_eq!(pay.code(), "218");
    // More than the balance: NotEnoughMoney (204). Vera's second card holds 250.00; a cheque of
    // 1000 allows 300.00 by the cap.
    let vera = "6390000000000041";
    calculate(&mock, "n4", "V", vera).await;
    let pay = simple(
        &mock,
        "Payment",
        r#"OperationID="n5" PurchaseID="V" Amount="250.01""#,
        &ident(vera),
    )
    .await;
    assert_eq!(pay.code(), "204");
}

#[tokio::test]
async fn coupons_with_and_without_card() {
    let (mock, _) = mock();
    let with_coupons = |coupons: &str, card: Option<&str>, op: &str| {
        let mock = mock.clone();
        let body = request(
            "Calculate",
            &format!(r#"OperationID="{op}" PurchaseID="{op}""#),
            &format!(
                "{}{}<Coupons>{coupons}</Coupons>",
                cheque(&[("1", "300001", "100", "1", "100")]),
                card.map(ident).unwrap_or_default()
            ),
        );
        async move { post(&mock, "kassa-1", &body, None).await }
    };
    // CPN-0001 (also by its barcode): 20 % off.
    let answer = with_coupons(r#"<Coupon Number="CPN-0001"/>"#, None, "k1").await;
    let line = answer.element().first("Cheque").unwrap().children[0].clone();
    assert_eq!(line.get("Discount"), Some("20.00"));
    let answer = with_coupons(r#"<Coupon Number="9900000000011"/>"#, None, "k2").await;
    assert_eq!(
        answer.element().first("Cheque").unwrap().children[0].get("Discount"),
        Some("20.00")
    );
    // CPN-0004 belongs to Anna's card: not applied without it, applied with it.
    let answer = with_coupons(r#"<Coupon Number="CPN-0004"/>"#, None, "k3").await;
    assert_eq!(
        answer.element().first("Cheque").unwrap().children[0].get("Discount"),
        Some("0.00")
    );
    assert!(
        answer
            .element()
            .first("CashierMessage")
            .unwrap()
            .text
            .contains("CPN-0004")
    );
    let answer = with_coupons(r#"<Coupon Number="CPN-0004"/>"#, Some(ANNA), "k4").await;
    assert_eq!(
        answer.element().first("Cheque").unwrap().children[0].get("Discount"),
        Some("20.00")
    );
    // Used, expired by state and by date: not applied, reported with their state.
    for (number, op) in [
        ("CPN-0002", "k5"),
        ("CPN-0003", "k6"),
        ("CPN-0005", "k7"),
        ("NOPE", "k8"),
    ] {
        let answer = with_coupons(&format!(r#"<Coupon Number="{number}"/>"#), None, op).await;
        let element = answer.element();
        assert_eq!(
            element.first("Cheque").unwrap().children[0].get("Discount"),
            Some("0.00"),
            "{number}"
        );
        assert_eq!(
            element.first("Coupons").unwrap().children[0].get("Applied"),
            Some("false")
        );
    }
    // Used through a confirmed purchase.
    let body = format!(
        "{}<Coupons><Coupon Number=\"CPN-0001\"/></Coupons>",
        cheque(&[("1", "300001", "100", "1", "100")])
    );
    assert_eq!(
        simple(&mock, "Discount", r#"OperationID="k9" PurchaseID="k1""#, &body)
            .await
            .code(),
        "0"
    );
    assert_eq!(
        simple(&mock, "ConfirmPurchase", r#"OperationID="k10" PurchaseID="k1""#, "")
            .await
            .code(),
        "0"
    );
    let answer = with_coupons(r#"<Coupon Number="CPN-0001"/>"#, None, "k11").await;
    assert_eq!(
        answer.element().first("Coupons").unwrap().children[0].get("State"),
        Some("Used")
    );
}

#[tokio::test]
async fn refunds_give_back_points_in_proportion() {
    let (mock, _) = mock();
    let lines = cheque(&[("1", "300001", "100", "4", "400")]);
    simple(
        &mock,
        "Calculate",
        r#"OperationID="r1" PurchaseID="R""#,
        &format!("{lines}{}", ident(ANNA)),
    )
    .await;
    simple(
        &mock,
        "Payment",
        r#"OperationID="r2" PurchaseID="R" Amount="100""#,
        &ident(ANNA),
    )
    .await;
    let d = simple(
        &mock,
        "Discount",
        r#"OperationID="r3" PurchaseID="R""#,
        &format!("{lines}{}", ident(ANNA)),
    )
    .await;
    // 5 % of (400.00 − 100.00) = 15.00.
    assert_eq!(d.attr("BonusAmount"), "15.00");
    simple(&mock, "ConfirmPurchase", r#"OperationID="r4" PurchaseID="R""#, "").await;
    assert_eq!(card(&mock, ANNA).0, "1415.00");
    // Not confirmed yet / unknown originals.
    let one = cheque(&[("1", "300001", "100", "1", "100")]);
    let refund = simple(
        &mock,
        "Refund",
        r#"OperationID="r5" PurchaseID="RF1" RefundPurchaseID="nope""#,
        &one,
    )
    .await;
    assert_eq!(refund.code(), "216");
    // Return 1 of 4: 25.00 points back, 3.75 accrual taken back.
    let refund = simple(
        &mock,
        "Refund",
        r#"OperationID="r6" PurchaseID="RF1" RefundPurchaseID="R""#,
        &one,
    )
    .await;
    assert_eq!(refund.code(), "0", "{}", refund.text());
    let line = refund.element().first("Cheque").unwrap().children[0].clone();
    assert_eq!(
        (line.get("PayAmount"), line.get("Cashback")),
        (Some("25.00"), Some("-3.75"))
    );
    assert_eq!(refund.attr("BonusAmount"), "21.25");
    // The debit is held until the refund is confirmed.
    assert_eq!(card(&mock, ANNA), ("1415.00".into(), "3.75".into(), "1411.25".into()));
    simple(&mock, "ConfirmPurchase", r#"OperationID="r7" PurchaseID="RF1""#, "").await;
    assert_eq!(card(&mock, ANNA), ("1436.25".into(), "0.00".into(), "1436.25".into()));
    // More than is left: DifferentPurchase (224); a line not in the purchase too.
    let four = cheque(&[("1", "300001", "100", "4", "400")]);
    let refund = simple(
        &mock,
        "Refund",
        r#"OperationID="r8" PurchaseID="RF2" RefundPurchaseID="R""#,
        &four,
    )
    .await;
    assert_eq!(refund.code(), "224");
    let other = cheque(&[("9", "300001", "100", "1", "100")]);
    let refund = simple(
        &mock,
        "Refund",
        r#"OperationID="r9" PurchaseID="RF3" RefundPurchaseID="R""#,
        &other,
    )
    .await;
    assert_eq!(refund.code(), "224");
    // The other 3 get exactly what is left: 75.00 back, 11.25 taken.
    let three = cheque(&[("1", "300001", "100", "3", "300")]);
    let refund = simple(
        &mock,
        "Refund",
        r#"OperationID="r10" PurchaseID="RF4" RefundPurchaseID="R""#,
        &three,
    )
    .await;
    assert_eq!(refund.attr("BonusAmount"), "63.75");
    simple(&mock, "ConfirmPurchase", r#"OperationID="r11" PurchaseID="RF4""#, "").await;
    // Back where Anna started.
    assert_eq!(card(&mock, ANNA).0, "1500.00");
}

#[tokio::test]
async fn cancel_one_operation() {
    let (mock, _) = mock();
    calculate(&mock, "o1", "O", ANNA).await;
    simple(
        &mock,
        "Payment",
        r#"OperationID="o2" PurchaseID="O" Amount="30""#,
        &ident(ANNA),
    )
    .await;
    simple(
        &mock,
        "Payment",
        r#"OperationID="o3" PurchaseID="O" Amount="20""#,
        &ident(ANNA),
    )
    .await;
    assert_eq!(card(&mock, ANNA).1, "50.00");
    let cancel = simple(
        &mock,
        "CancelOperation",
        r#"OperationID="o4" PurchaseID="O" CanceledOperationID="o2""#,
        "",
    )
    .await;
    assert_eq!(cancel.code(), "0");
    assert_eq!(card(&mock, ANNA).1, "20.00");
    let again = simple(
        &mock,
        "CancelOperation",
        r#"OperationID="o5" PurchaseID="O" CanceledOperationID="o2""#,
        "",
    )
    .await;
    assert_eq!(again.code(), "210");
    let unknown = simple(
        &mock,
        "CancelOperation",
        r#"OperationID="o6" PurchaseID="O" CanceledOperationID="zz""#,
        "",
    )
    .await;
    assert_eq!(unknown.code(), "208");
}

#[tokio::test]
async fn card_replacement_moves_the_balance() {
    let (mock, _) = mock();
    let replace = |old: Option<&str>, new: &str, password: Option<&str>, op: &str| {
        let mock = mock.clone();
        let inner = format!(
            "{}<NewCard Number=\"{new}\"{}/>",
            old.map(ident).unwrap_or_default(),
            password.map(|p| format!(" Password=\"{p}\"")).unwrap_or_default()
        );
        let body = request("CardReplace", &format!(r#"OperationID="{op}""#), &inner);
        async move { post(&mock, "kassa-1", &body, None).await }
    };
    // The blank card with a password needs it.
    let answer = replace(Some(ANNA), "6390000000000108", None, "cr1").await;
    assert_eq!(answer.code(), "226");
    assert!(answer.attr("ErrorMessage").starts_with("CardPasswordRequired"));
    let answer = replace(Some(ANNA), "6390000000000090", None, "cr2").await;
    assert_eq!(answer.code(), "0", "{}", answer.text());
    assert_eq!(answer.attr("BonusAmount"), "1500.00");
    assert_eq!(card(&mock, "6390000000000090").0, "1500.00");
    assert_eq!(card(&mock, ANNA).0, "0.00");
    // The old card is out of use; the new one is already issued.
    let answer = simple(&mock, "Balance", r#"OperationID="cr3""#, &ident(ANNA)).await;
    assert_eq!(answer.code(), "205");
    assert_eq!(replace(None, "6390000000000090", None, "cr4").await.code(), "226");
    // Card issue without an old card, on the password card.
    assert_eq!(replace(None, "6390000000000108", Some("4321"), "cr5").await.code(), "0");
}

#[tokio::test]
async fn pay_types_are_checked() {
    let (mock, _) = mock();
    let one = cheque(&[("1", "300001", "100", "1", "100")]);
    simple(&mock, "Calculate", r#"OperationID="p1" PurchaseID="PT""#, &one).await;
    let body = |kind: &str| format!("{one}<Pays><Pay Type=\"{kind}\" Amount=\"100\"/></Pays>");
    assert_eq!(
        simple(
            &mock,
            "Discount",
            r#"OperationID="p2" PurchaseID="PT""#,
            &body("Cheque")
        )
        .await
        .code(),
        "234"
    );
    assert_eq!(
        simple(
            &mock,
            "Discount",
            r#"OperationID="p3" PurchaseID="PT""#,
            &body("Crypto")
        )
        .await
        .code(),
        "233"
    );
    assert_eq!(
        simple(&mock, "Discount", r#"OperationID="p4" PurchaseID="PT""#, &body("Cash"))
            .await
            .code(),
        "0"
    );
}

#[tokio::test]
async fn basic_auth_and_routes() {
    let (mock, _) = mock();
    let body = request("Balance", r#"OperationID="a1""#, &ident(ANNA));
    for credentials in [None, Some(("kassa-1", "nope")), Some(("kassa-2", "demo"))] {
        let answer = post_raw(&mock, "possim", "kassa-1", credentials, body.as_bytes(), None).await;
        assert_eq!((answer.status, answer.body.len()), (401, 0), "{credentials:?}");
    }
    let answer = post_raw(
        &mock,
        "elsewhere",
        "kassa-1",
        Some(("kassa-1", "demo")),
        body.as_bytes(),
        None,
    )
    .await;
    assert_eq!(answer.status, 401);
    let response = tower::ServiceExt::oneshot(
        mock.router(),
        axum::http::Request::get("/XmlExchange/possim/kassa-1/")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

#[tokio::test]
async fn hostile_documents_get_protocol_errors() {
    let (mock, _) = mock();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not xml at all".to_vec(), "3"),
        (b"<XMLRequest><Version>3.2</Version>".to_vec(), "3"),
        (vec![0xff, 0xfe, 0x00], "3"),
        (
            format!("<XMLRequest>{}</XMLRequest>", "<a>".repeat(100)).into_bytes(),
            "3",
        ),
        (vec![b' '; 300 * 1024], "3"),
        (b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><XMLRequest/>".to_vec(), "3"),
        (b"<XMLRequest><Version>4.0</Version></XMLRequest>".to_vec(), "2"),
        (
            b"<XMLRequest><Version>3.2</Version><Balances/><Payments/></XMLRequest>".to_vec(),
            "4",
        ),
        (b"<XMLRequest><Version>3.2</Version></XMLRequest>".to_vec(), "5"),
    ];
    for (body, code) in cases {
        let answer = post_raw(&mock, "possim", "kassa-1", Some(("kassa-1", "demo")), &body, None).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.envelope_code(),
            code,
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        assert!(answer.root().first("ErrorMessage").is_some());
    }
    insta::assert_snapshot!(
        "envelope_error",
        post(
            &mock,
            "kassa-1",
            "<XMLRequest><Version>3.1</Version></XMLRequest>",
            None
        )
        .await
        .text()
    );
    // Element-level: a missing OperationID, an amount that is not a number.
    let answer = simple(&mock, "Payment", r#"PurchaseID="x" Amount="1""#, "").await;
    assert_eq!((answer.envelope_code().as_str(), answer.code().as_str()), ("0", "5"));
    let answer = simple(
        &mock,
        "Payment",
        r#"OperationID="h1" PurchaseID="x" Amount="1.001""#,
        "",
    )
    .await;
    assert_eq!(answer.code(), "4");
}

fn signed_kassa_2(body: &str) -> String {
    let key = private_key_from_pem(test_keys::KASSA_2_PRIVATE).unwrap();
    RsaSha256.sign(&key, body.as_bytes())
}

/// A request in kassa-2's strict schema order.
fn strict_balance(op: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><XMLRequest><Version>3.2</Version><Balances><BalanceRequest ElementID="1" OperationID="{op}" OperationDate="2026-12-01T15:00:00+03:00">{}</BalanceRequest></Balances></XMLRequest>"#,
        ident(ANNA)
    )
}

#[tokio::test]
async fn signatures_on_the_device_that_requires_them() {
    let (mock, _) = mock();
    let body = strict_balance("g1");
    // Missing: SignatureNotFound (7); wrong: SignatureError (6); not Base64: 6.
    let answer = post(&mock, "kassa-2", &body, None).await;
    assert_eq!(answer.envelope_code(), "7");
    let wrong = signed_kassa_2(&strict_balance("other"));
    assert_eq!(post(&mock, "kassa-2", &body, Some(&wrong)).await.envelope_code(), "6");
    assert_eq!(post(&mock, "kassa-2", &body, Some("***")).await.envelope_code(), "6");
    // Right: answered, and the answer is signed by the processing.
    let answer = post(&mock, "kassa-2", &body, Some(&signed_kassa_2(&body))).await;
    assert_eq!(answer.envelope_code(), "0", "{}", answer.text());
    assert_eq!(answer.code(), "0");
    let processing = public_key_from_pem(test_keys::PROCESSING_PUBLIC).unwrap();
    let signature = answer.signature.clone().expect("signed answer");
    assert_eq!(RsaSha256.verify(&processing, &answer.body, &signature), Ok(()));
    // kassa-1 signs nothing and is not asked to.
    let answer = simple(&mock, "Balance", r#"OperationID="g2""#, &ident(ANNA)).await;
    assert_eq!(answer.signature, None);
}

#[tokio::test]
async fn an_expired_device_key_is_a_certificate_error() {
    let text = DEFAULT.replace(
        "signature = \"required\"\nstrict = true\n",
        "signature = \"required\"\nstrict = true\nkeyValidTo = \"2025-01-01T00:00:00Z\"\n",
    );
    let (mock, _) = mock_with(Box::leak(text.into_boxed_str()), "2026-12-01T12:00:00Z");
    let body = strict_balance("ce1");
    let answer = post(&mock, "kassa-2", &body, Some(&signed_kassa_2(&body))).await;
    assert_eq!(answer.envelope_code(), "8");
}

#[tokio::test]
async fn strict_mode_enforces_the_schema() {
    let (mock, _) = mock();
    let body = format!(
        r#"<XMLRequest><Version>3.2</Version><AvailableAmounts><AvailableAmountRequest ElementID="1" OperationID="st1" OperationDate="2026-12-01T15:00:00+03:00" PurchaseID="A">{}<Coupons/>{}</AvailableAmountRequest></AvailableAmounts></XMLRequest>"#,
        cheque(MILK_AND_KETTLE),
        ident(ANNA)
    );
    let answer = post(&mock, "kassa-2", &body, Some(&signed_kassa_2(&body))).await;
    assert_eq!(answer.envelope_code(), "4");
    assert_eq!(
        answer.root().first("ErrorMessage").unwrap().text,
        "The element 'AvailableAmountRequest' has invalid child element 'Coupons'. List of possible elements expected: 'Identifier, Card, Params'."
    );
    // Lenient kassa-1 accepts it; `--strict` makes it strict too.
    let answer = post(&mock, "kassa-1", &body, None).await;
    assert_eq!(answer.envelope_code(), "0");
    // Cap 30 % of 988.00 = 296.40.
    assert_eq!(answer.attr("Amount"), "296.40");
    mock.set_strict(true);
    let answer = post(&mock, "kassa-1", &body.replace("st1", "st2"), None).await;
    assert_eq!(answer.envelope_code(), "4");
    // Strict requires OperationDate.
    let answer = post(
        &mock,
        "kassa-1",
        &format!(r#"<XMLRequest><Version>3.2</Version><Balances><BalanceRequest ElementID="1" OperationID="st3">{}</BalanceRequest></Balances></XMLRequest>"#, ident(ANNA)),
        None,
    )
    .await;
    assert_eq!(answer.code(), "5");
}

#[tokio::test]
async fn offline_uploads_and_outages() {
    let (mock, _) = mock();
    mock.apply_change(&json!({"type": "outage", "from": "2026-11-30T09:00:00Z", "to": "2026-11-30T11:00:00Z"}))
        .unwrap();
    // A receipt of the outage uploaded later: Discount without Calculate, at its own dates.
    let body = request(
        "Discount",
        r#"OperationID="off1" PurchaseID="OFF""#,
        &format!(
            r#"<Cheque ChequeDate="2026-11-30T13:00:00"><ChequeLine PosID="1" GoodsId="300001" Price="200" Quantity="1" Amount="200"/></Cheque>{}"#,
            ident(ANNA)
        ),
    )
    .replace("2026-12-01T15:00:00+03:00", "2026-11-30T13:00:05+03:00");
    let answer = post(&mock, "kassa-1", &body, None).await;
    assert_eq!(answer.code(), "0", "{}", answer.text());
    assert_eq!(answer.attr("BonusAmount"), "10.00");
    // An exact replay is idempotent.
    assert_eq!(post(&mock, "kassa-1", &body, None).await.body, answer.body);
    simple(&mock, "ConfirmPurchase", r#"OperationID="off2" PurchaseID="OFF""#, "").await;
    assert_eq!(card(&mock, ANNA).0, "1510.00");
    // Paying with points dated inside the outage: PaymentException (223).
    calculate(&mock, "off3", "OFF2", ANNA).await;
    let pay = request(
        "Payment",
        r#"OperationID="off4" PurchaseID="OFF2" Amount="10""#,
        &ident(ANNA),
    )
    .replace("2026-12-01T15:00:00+03:00", "2026-11-30T12:30:00+03:00");
    assert_eq!(post(&mock, "kassa-1", &pay, None).await.code(), "223");
    // Offers are evaluated at the cheque date: before offer 103 existed (2017) no accrual.
    let old = request(
        "Discount",
        r#"OperationID="off5" PurchaseID="OFF3""#,
        &format!(
            r#"<Cheque ChequeDate="2017-05-01T10:00:00+03:00"><ChequeLine PosID="1" GoodsId="300001" Price="200" Quantity="1" Amount="200"/></Cheque>{}"#,
            ident(ANNA)
        ),
    );
    assert_eq!(post(&mock, "kassa-1", &old, None).await.attr("BonusAmount"), "0.00");
}

#[tokio::test]
async fn another_till_spending_between_calculate_and_payment() {
    let (mock, _) = mock();
    let vera = "6390000000000041";
    let calc = calculate(&mock, "cc1", "CC", vera).await;
    assert_eq!(calc.attr("AvailableAmount"), "250.00");
    let applied = mock
        .apply_change(&json!({"type": "hold", "card": vera, "amount": "200"}))
        .unwrap();
    assert_eq!(applied["available"], "50.00");
    let pay = simple(
        &mock,
        "Payment",
        r#"OperationID="cc2" PurchaseID="CC" Amount="250""#,
        &ident(vera),
    )
    .await;
    assert_eq!(pay.code(), "204");
    assert!(pay.attr("ErrorMessage").contains("50"), "{}", pay.text());
    mock.apply_change(&json!({"type": "spend", "card": vera, "amount": "50"}))
        .unwrap();
    assert_eq!(card(&mock, vera), ("200.00".into(), "200.00".into(), "0.00".into()));
    assert!(
        mock.apply_change(&json!({"type": "spend", "card": vera, "amount": "1"}))
            .is_err()
    );
    assert!(mock.apply_change(&json!({"type": "nonsense"})).is_err());
}

/// The app's QR code as a competing change: the same code the admin endpoint hands out, a
/// function of the engine clock (2026-12-01T12:00:00Z = 1796126400000 ms, first code:
/// (1796126400000 × 31 + 7654321) mod 10^6 = 54321), and it identifies the card.
#[tokio::test]
async fn a_competing_change_shows_the_apps_qr_code() {
    let (mock, _) = mock();
    let applied = mock.apply_change(&json!({"type": "qr", "card": ANNA})).unwrap();
    assert_eq!(applied["qr"], "6390000000000017:054321");
    let answer = simple(
        &mock,
        "Balance",
        r#"OperationID="qr1""#,
        r#"<Identifier Type="QrCode" Value="6390000000000017:054321"/>"#,
    )
    .await;
    assert_eq!(answer.code(), "0", "{}", answer.text());
    assert_eq!(answer.attr("BonusAmount"), "1500.00");
    assert!(mock.apply_change(&json!({"type": "qr", "card": "nope"})).is_err());
}

#[tokio::test]
async fn exclusive_projects_refuse_concurrent_purchases_on_one_card() {
    let text = DEFAULT.replace(
        "loyaltyProgram = \"Default\"\n",
        "loyaltyProgram = \"Default\"\nexclusivePurchases = true\n",
    );
    let (mock, _) = mock_with(Box::leak(text.into_boxed_str()), "2026-12-01T12:00:00Z");
    calculate(&mock, "x1", "X1", ANNA).await;
    calculate(&mock, "x2", "X2", ANNA).await;
    assert_eq!(
        simple(
            &mock,
            "Payment",
            r#"OperationID="x3" PurchaseID="X1" Amount="10""#,
            &ident(ANNA)
        )
        .await
        .code(),
        "0"
    );
    assert_eq!(
        simple(
            &mock,
            "Payment",
            r#"OperationID="x4" PurchaseID="X2" Amount="10""#,
            &ident(ANNA)
        )
        .await
        .code(),
        "237"
    );
}

#[tokio::test]
async fn the_snapshot_and_the_journal_view() {
    let (mock, _) = mock();
    calculate(&mock, "v1", "VIEW", ANNA).await;
    let snapshot = mock.snapshot();
    let purchase = &snapshot["projects"][0]["purchases"][0];
    assert_eq!(purchase["purchaseId"], "VIEW");
    assert_eq!(purchase["state"], "Calculated");
    assert_eq!(purchase["operations"][0]["kind"], "Calculate");
    let body = request("Balance", r#"OperationID="v2""#, &ident(ANNA));
    let out = exchange(&mock, body.as_bytes());
    let view = out.view(body.as_bytes());
    assert_eq!(
        view["request"]["XMLRequest"]["Balances"]["BalanceRequest"]["@OperationID"],
        "v2"
    );
    assert_eq!(
        view["response"]["XMLResponse"]["Balances"]["BalanceResponse"]["@BonusAmount"],
        "1500.00"
    );
    assert_eq!(view["notes"], serde_json::json!([]));
    // A replay is answered from the store, and the view says so.
    let again = exchange(&mock, body.as_bytes());
    assert_eq!(again.body, out.body);
    let notes = again.view(body.as_bytes())["notes"].clone();
    assert!(
        notes[0].as_str().is_some_and(|n| n.contains("OperationID v2 repeated")),
        "{notes}"
    );
}

#[tokio::test]
async fn a_body_longer_than_the_journal_keeps_is_decoded_at_once_a_short_one_when_read() {
    use possim_engine::journal::{MAX_RECORDED_BODY, View, ViewLater};
    let (mock, _) = mock();
    let send = |body: String| {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/XmlExchange/possim/kassa-1/")
            .header("authorization", "Basic a2Fzc2EtMTpkZW1v")
            .body(axum::body::Body::from(body))
            .unwrap();
        tower::ServiceExt::oneshot(mock.router(), request)
    };
    // A cheque of 1,000 lines: the journal would keep only the first 64 KiB of the request, so
    // the handler decodes the whole exchange now.
    let owned: Vec<(String, String)> = (1..=1000)
        .map(|i| (i.to_string(), format!("{}", 100_000 + i)))
        .collect();
    let lines: Vec<_> = owned
        .iter()
        .map(|(pos, goods)| (pos.as_str(), goods.as_str(), "1.00", "1.000", "1.00"))
        .collect();
    let long = request(
        "Calculate",
        r#"OperationID="big" PurchaseID="BIG""#,
        &(cheque(&lines) + &ident(ANNA)),
    );
    assert!(long.len() > MAX_RECORDED_BODY, "{} bytes", long.len());
    let response = send(long).await.unwrap();
    let View(view) = response.extensions().get::<View>().expect("decoded at once").clone();
    assert!(response.extensions().get::<ViewLater>().is_none());
    let sent = &view["request"]["XMLRequest"]["Calculates"]["CalculateRequest"]["Cheque"]["ChequeLine"];
    assert_eq!(
        sent.as_array().map(Vec::len),
        Some(1000),
        "the whole request, not its first 64 KiB"
    );
    assert!(view["response"]["XMLResponse"].is_object(), "{}", view["response"]);

    // A short exchange leaves the decoding for when the journal is read: only the notes now.
    let short = request("Balance", r#"OperationID="small""#, &ident(ANNA));
    let response = send(short).await.unwrap();
    assert!(response.extensions().get::<View>().is_none());
    let ViewLater(partial) = response
        .extensions()
        .get::<ViewLater>()
        .expect("left for later")
        .clone();
    assert_eq!(partial, serde_json::json!({"notes": []}));
}

#[tokio::test]
async fn operation_limits_and_device_checks() {
    let text = DEFAULT
        .replace(
            "login = \"kassa-1\"\npassword = \"demo\"\n",
            "login = \"kassa-1\"\npassword = \"demo\"\npaymentLimit = \"150.00\"\n",
        )
        .replace(
            "loyaltyProgram = \"Default\"\n",
            "loyaltyProgram = \"Default\"\ndailyWriteOffLimit = \"250.00\"\n",
        );
    let (mock, _) = mock_with(Box::leak(text.into_boxed_str()), "2026-12-01T12:00:00Z");
    calculate(&mock, "l1", "L", ANNA).await;
    // Over the device's per-operation limit: LargePaymentAmount (203).
    let pay = |op: &'static str, amount: &'static str| {
        let mock = mock.clone();
        async move {
            simple(
                &mock,
                "Payment",
                &format!(r#"OperationID="{op}" PurchaseID="L" Amount="{amount}""#),
                &ident(ANNA),
            )
            .await
            .code()
        }
    };
    assert_eq!(pay("l2", "150.01").await, "203");
    assert_eq!(pay("l3", "150").await, "0");
    // 150 + 101 > 250 a day: LimitGained (222).
    assert_eq!(pay("l4", "101").await, "222");
    assert_eq!(pay("l5", "100").await, "0");
    // A DeviceLogicalID of another device: DeviceNotFound (202).
    let answer = simple(
        &mock,
        "Balance",
        r#"OperationID="l6" DeviceLogicalID="kassa-9""#,
        &ident(ANNA),
    )
    .await;
    assert_eq!(answer.code(), "202");
    // A blocked device: envelope DeviceBlocked (206).
    let blocked = DEFAULT.replace(
        "login = \"kassa-1\"\npassword = \"demo\"\n",
        "login = \"kassa-1\"\npassword = \"demo\"\nblocked = true\n",
    );
    let (mock, _) = mock_with(Box::leak(blocked.into_boxed_str()), "2026-12-01T12:00:00Z");
    let answer = simple(&mock, "Balance", r#"OperationID="l7""#, &ident(ANNA)).await;
    assert_eq!(answer.envelope_code(), "206");
}

#[tokio::test]
async fn data_set_mistakes_are_refused_with_their_place() {
    use possim_engine::dataset::DataSet;
    let mock = possim_loymax::LoymaxMock::new(std::sync::Arc::new(possim_engine::clock::Clock::real()));
    let set =
        |text: String| DataSet::from_files("t", [("loymax.toml", Box::leak(text.into_boxed_str()) as &str)]).unwrap();
    let err =
        mock.check(&set(
            DEFAULT.replace("processingPrivateKey = \"\"\"", "xprocessingPrivateKey = \"\"\"")
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("loymax.toml"), "{err}");
    // Without the processing key a signing device could not be answered: refused at load.
    let no_key = "[[projects]]\nname = \"p\"\n[[devices]]\nproject = \"p\"\nlogin = \"k\"\npassword = \"x\"\nsignature = \"required\"\n";
    let err = mock.check(&set(no_key.to_owned())).unwrap_err().to_string();
    assert!(err.contains("processingPrivateKey"), "{err}");
    assert!(
        mock.check(&set(DEFAULT.replace("groups = [\"dairy\"]", "groups = [\"meat\"]")))
            .is_err()
    );
    assert!(mock.check(&set(DEFAULT.to_owned())).is_ok());
}

#[tokio::test]
async fn a_second_currency_is_shown_and_accrued() {
    let (mock, _) = mock();
    let answer = simple(&mock, "Balance", r#"OperationID="mi1""#, &ident(ANNA)).await;
    let balances = answer.element().first("Balances").unwrap().children.clone();
    assert_eq!(
        (balances[0].get("Currency"), balances[0].get("Amount")),
        (Some("MILES"), Some("120.00"))
    );
    // Vera's Silver card: 2 % bonus points (offer 104) and 1 % miles (offer 108) of 300.00.
    let vera = "6390000000000041";
    let lines = cheque(&[("1", "300001", "300", "1", "300")]);
    let body = format!("{lines}{}", ident(vera));
    simple(&mock, "Calculate", r#"OperationID="mi2" PurchaseID="MI""#, &body).await;
    let discount = simple(&mock, "Discount", r#"OperationID="mi3" PurchaseID="MI""#, &body).await;
    assert_eq!(discount.attr("BonusAmount"), "6.00");
    let accrual = discount.element().first("OtherAccruals").unwrap().children[0].clone();
    assert_eq!(
        (accrual.get("Currency"), accrual.get("Amount")),
        (Some("MILES"), Some("3.00"))
    );
    simple(&mock, "ConfirmPurchase", r#"OperationID="mi4" PurchaseID="MI""#, "").await;
    assert_eq!(card(&mock, vera).0, "256.00");
    let snapshot = mock.snapshot();
    let cards = snapshot["projects"][0]["cards"].as_array().unwrap().clone();
    let entry = cards.iter().find(|c| c["number"] == vera).unwrap();
    assert_eq!(entry["otherBalances"]["MILES"], "3.00");
}

/// The HTTP handler's entry: while another exchange holds the state, the task yields to the
/// runtime instead of putting its worker thread to sleep, and answers as soon as the state is
/// free — the same answer as the blocking entry gives. (The state is held here before the
/// first hold; the second hold takes the state the same way, `lock_yielding`.)
#[test]
fn an_exchange_waiting_for_the_state_yields_and_answers_once_it_is_free() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let (mock, _) = mock();
    let inner = mock.inner();
    let body = request("Balance", r#"OperationID="y1""#, &ident(ANNA));
    let incoming = possim_loymax::Incoming {
        project: "possim",
        device: "kassa-1",
        credentials: Some(("kassa-1", "demo")),
        signature: None,
        body: body.as_bytes(),
    };
    let (polls, results) = std::sync::mpsc::channel();
    let yielded = std::thread::scope(|scope| {
        let held = inner.lock();
        let waiting = scope.spawn(move || {
            let mut exchange = std::pin::pin!(inner.exchange_yielding(incoming));
            let mut cx = Context::from_waker(Waker::noop());
            // Ten polls while the state is held (a blocking wait would never send them).
            for _ in 0..10 {
                polls.send(exchange.as_mut().poll(&mut cx).is_pending()).unwrap();
            }
            let answer = loop {
                if let Poll::Ready(answer) = exchange.as_mut().poll(&mut cx) {
                    break answer;
                }
            };
            polls.send(true).unwrap();
            answer
        });
        for _ in 0..10 {
            let pending = results
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the exchange yields instead of waiting for the state");
            assert!(pending, "no answer while another exchange holds the state");
        }
        drop(held);
        results
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("answered once the state is free");
        waiting.join().unwrap()
    });
    let text = String::from_utf8(yielded.body.clone()).unwrap();
    assert!(
        text.contains(r#"OperationID="y1""#) && text.contains(r#"ErrorCode="0""#),
        "{text}"
    );
    // The blocking entry replays the stored answer of that exchange, byte for byte.
    assert_eq!(inner.exchange(incoming).body, yielded.body);
}

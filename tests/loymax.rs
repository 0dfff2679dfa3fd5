//! The Loymax processing mock over the wire: the 2018 Set Retail log (spec loymax-tyrios.md,
//! appendix A) as the golden exchange, Basic authentication, and a purchase end to end.
//!
//! XML answers are compared as trees with attributes sorted (the log's declaration and
//! attribute order may differ, spec appendix A), with a reader written here on quick-xml so the
//! comparison does not rest on the mock's own codec.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::util::Possim;

/// The log's BalanceRequest, byte for byte.
const LOG_BALANCE_REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLRequest><Version>3.2</Version><Balances><BalanceRequest OperationID="accb084000e94e9cabdcbffd77920415" OperationDate="2018-10-02T13:32:02.107+03:00" ElementID="1"><Identifier Type="Auto" Value="8690003"/></BalanceRequest></Balances></XMLRequest>"#;

/// The log's BalanceResponse.
const LOG_BALANCE_RESPONSE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLResponse><ErrorCode>0</ErrorCode><Balances><BalanceResponse BonusAmount="12405.67" Currency="RUB" OperationID="accb084000e94e9cabdcbffd77920415" ErrorCode="0"><IdentifierData><Item Name="Holder">Иван Рюрик</Item><Item Name="CardType">Loymax/Gold</Item><Item Name="MaskedNumber">8690003</Item></IdentifierData></BalanceResponse></Balances></XMLResponse>"#;

/// The log's CalculateRequest (its end completed as the spec's appendix does).
const LOG_CALCULATE_REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLRequest><Version>3.2</Version><Calculates><CalculateRequest PurchaseID="71090611538476325251" OperationID="a0cdc3e8f8734725a6215b687bc165db" OperationDate="2018-10-02T13:32:05.251+03:00" ElementID="1"><Cheque ChequeDate="2018-10-02T13:32:01.575+03:00"><ChequeLine PosID="344" Amount="200.00" Name="Товар SR1460" GoodsId="146001" Price="100.00" Quantity="2.000"/></Cheque><Identifier Type="Auto" Value="8690003"/></CalculateRequest></Calculates></XMLRequest>"#;

/// An element as the test reads it: name, sorted attributes, text, children.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> &Node {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no <{name}> in <{}>: {self:?}", self.name))
    }

    fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .unwrap_or_else(|| panic!("no {name} on <{}>: {:?}", self.name, self.attrs))
    }
}

/// Reads a document into a tree; also returns the declaration's `standalone`.
fn tree(text: &str) -> (Node, Option<String>) {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node {
        name: String::new(),
        attrs: BTreeMap::new(),
        text: String::new(),
        children: Vec::new(),
    }];
    let mut standalone = None;
    let open = |e: &quick_xml::events::BytesStart<'_>| Node {
        name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect(),
        text: String::new(),
        children: Vec::new(),
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Decl(d) => {
                standalone = d.standalone().map(|v| String::from_utf8(v.unwrap().to_vec()).unwrap());
            }
            Event::Start(e) => stack.push(open(&e)),
            Event::Empty(e) => {
                let node = open(&e);
                stack.last_mut().unwrap().children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(node);
            }
            Event::Text(t) => stack.last_mut().unwrap().text.push_str(t.decode().unwrap().trim()),
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                let resolved = quick_xml::escape::resolve_predefined_entity(&name).expect("predefined entity");
                stack.last_mut().unwrap().text.push_str(resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut document = stack.pop().unwrap();
    assert_eq!(document.children.len(), 1, "one root element");
    (document.children.remove(0), standalone)
}

async fn post_as(p: &Possim, device: &str, password: Option<&str>, body: &str) -> (u16, String, Option<String>) {
    let mut request = p
        .client()
        .post(format!("{}/XmlExchange/possim/{device}/", p.loymax))
        .header("content-type", "application/xml")
        .body(body.to_owned());
    if let Some(password) = password {
        request = request.basic_auth(device, Some(password));
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), content_type)
}

async fn post(p: &Possim, body: &str) -> Node {
    let (status, text, content_type) = post_as(p, "kassa-1", Some("demo"), body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type.as_deref(), Some("application/xml; charset=utf-8"));
    tree(&text).0
}

#[tokio::test]
async fn the_2018_log_balance_exchange_is_answered_as_logged() {
    // Frozen at the log's own instant (13:32:02.107 Moscow time).
    let p = Possim::start("seed-examples", &["--clock", "2018-10-02T10:32:02.107Z"]).await;
    let (status, text, _) = post_as(&p, "kassa-1", Some("demo"), LOG_BALANCE_REQUEST).await;
    assert_eq!(status, 200);
    let (answer, standalone) = tree(&text);
    let (logged, logged_standalone) = tree(LOG_BALANCE_RESPONSE);
    assert_eq!(answer, logged, "answer:\n{text}");
    assert_eq!(standalone, logged_standalone);

    // The same at the data set's own clock (the TYRIOS examples' day in 2019).
    let p = Possim::start("seed-examples", &[]).await;
    let (_, text, _) = post_as(&p, "kassa-1", Some("demo"), LOG_BALANCE_REQUEST).await;
    assert_eq!(tree(&text).0, logged, "answer:\n{text}");
}

#[tokio::test]
async fn the_2018_log_calculate_is_answered_for_its_line() {
    let p = Possim::start("seed-examples", &["--clock", "2018-10-02T10:32:05.251Z"]).await;
    let answer = post(&p, LOG_CALCULATE_REQUEST).await;
    assert_eq!(answer.name, "XMLResponse");
    assert_eq!(answer.child("ErrorCode").text, "0");
    let response = answer.child("Calculates").child("CalculateResponse");
    assert_eq!(response.attr("ErrorCode"), "0");
    assert_eq!(response.attr("OperationID"), "a0cdc3e8f8734725a6215b687bc165db");
    assert_eq!(response.attr("Balance"), "12405.67");
    // Offer 105 caps points at 30 % of the cheque: 30 % of 200.00 = 60.00 (< the balance).
    assert_eq!(response.attr("AvailableAmount"), "60.00");
    assert_eq!(response.attr("AvailableBonusAmount"), "60.00");
    let line = response.child("Cheque").child("ChequeLine");
    assert_eq!(line.attr("PosID"), "344");
    assert_eq!(line.attr("GoodsId"), "146001");
    assert_eq!(line.attr("Quantity"), "2.000");
    assert_eq!(line.attr("Amount"), "200.00");
    // Goods 146001 is in no discounted group; the Gold card accrues 5 % (offer 103) of 200.00.
    assert_eq!(line.attr("Discount"), "0.00");
    assert_eq!(line.attr("Cashback"), "10.00");
    let holder = &response.child("IdentifierData").children[0];
    assert_eq!((holder.attr("Name"), holder.text.as_str()), ("Holder", "Иван Рюрик"));
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_with_an_empty_body() {
    let p = Possim::start("seed-examples", &[]).await;
    for (device, password) in [("kassa-1", Some("wrong")), ("kassa-1", None), ("nobody", Some("demo"))] {
        let (status, text, _) = post_as(&p, device, password, LOG_BALANCE_REQUEST).await;
        assert_eq!((status, text.as_str()), (401, ""), "{device} {password:?}");
    }
    // Another project: unknown, so the credentials cannot be right.
    let response = p
        .client()
        .post(format!("{}/XmlExchange/other/kassa-1/", p.loymax))
        .basic_auth("kassa-1", Some("demo"))
        .body(LOG_BALANCE_REQUEST)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // The journal's view: the request decoded, no answer document, and why.
    let last = p.last_journal_entry("loymax").await;
    assert_eq!(last["response"]["status"], 401, "{last}");
    assert!(last["view"]["request"]["XMLRequest"].is_object(), "{last}");
    assert_eq!(last["view"]["response"], serde_json::Value::Null, "{last}");
    assert_eq!(
        last["view"]["notes"],
        serde_json::json!(["401: unknown project/device or wrong Basic credentials"]),
        "{last}"
    );
}

#[tokio::test]
async fn malformed_documents_get_an_envelope_error_with_http_200() {
    let p = Possim::start("", &[]).await;
    let answer = post(&p, "<XMLRequest><Version>3.2</Version><Balances>").await;
    // ParseError is 3 in our (unverified) table.
    assert_eq!(answer.child("ErrorCode").text, "3");
    assert!(answer.children.iter().all(|c| c.name != "Balances"));
    let answer = post(
        &p,
        "<XMLRequest><Version>3.1</Version><Balances><BalanceRequest OperationID=\"x\"/></Balances></XMLRequest>",
    )
    .await;
    assert_eq!(answer.child("ErrorCode").text, "2");
    // Bytes that are not UTF-8 (a Windows-1251 till): a parse error, and the journal's view,
    // decoded when it is read, says why.
    let response = p
        .client()
        .post(format!("{}/XmlExchange/possim/kassa-1/", p.loymax))
        .basic_auth("kassa-1", Some("demo"))
        .header("content-type", "application/xml")
        .body(b"<XMLRequest><Version>3.2</Version><Name>\xc8\xe2\xe0\xed</Name></XMLRequest>".to_vec())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let answer = tree(&response.text().await.unwrap()).0;
    assert_eq!(answer.child("ErrorCode").text, "3");
    let last = p.last_journal_entry("loymax").await;
    assert!(last["request"]["body"]["base64"].is_string(), "{last}");
    assert!(last["view"]["request"]["error"].is_string(), "{last}");
    assert_eq!(last["view"]["response"]["XMLResponse"]["ErrorCode"], "3", "{last}");
}

fn purchase_request(wrapper: &str, element: &str, attrs: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XMLRequest xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><Version>3.2</Version><{wrapper}><{element} ElementID=\"1\" DeviceLogicalID=\"kassa-1\" {attrs}>{inner}</{element}></{wrapper}></XMLRequest>"
    )
}

#[tokio::test]
async fn a_purchase_with_points_books_on_confirm_only() {
    let p = Possim::start("", &[]).await;
    // Anna's Gold card: 1500.00 points. Cheque: milk 100001 (dairy, −10 %) 2 × 60.00 = 120.00,
    // goods 300001 (no group) 1 × 880.00.
    let cheque = r#"<Cheque ChequeNumber="17"><ChequeLine PosID="1" GoodsId="100001" Name="Молоко" Price="60" Quantity="2" Amount="120"/><ChequeLine PosID="2" GoodsId="300001" Name="Чайник" Price="880" Quantity="1.000" Amount="880.00"/></Cheque><Identifier Type="Auto" Value="6390000000000017"/>"#;
    let calc = post(
        &p,
        &purchase_request(
            "Calculates",
            "CalculateRequest",
            r#"OperationID="op-1" PurchaseID="P1" Cashier="Ольга""#,
            cheque,
        ),
    )
    .await;
    let response = calc.child("Calculates").child("CalculateResponse");
    assert_eq!(response.attr("ErrorCode"), "0");
    assert_eq!(response.attr("DeviceLogicalID"), "kassa-1");
    assert_eq!(calc.child("Version").text, "3.2");
    // Discount 10 % of 120.00 = 12.00; cap 30 % of (1000.00 − 12.00) = 296.40.
    assert_eq!(response.attr("AvailableAmount"), "296.40");
    let lines = &response.child("Cheque").children;
    assert_eq!(lines[0].attr("Discount"), "12.00");

    let pay = post(
        &p,
        &purchase_request(
            "Payments",
            "PaymentRequest",
            r#"OperationID="op-2" PurchaseID="P1" Amount="200""#,
            cheque,
        ),
    )
    .await;
    let response = pay.child("Payments").child("PaymentResponse");
    assert_eq!(response.attr("ErrorCode"), "0");
    assert_eq!(response.attr("BonusAmount"), "200.00");
    // Held at once: the balance other calls see is 1300.00.
    let balance = post(
        &p,
        &purchase_request(
            "Balances",
            "BalanceRequest",
            r#"OperationID="op-b""#,
            r#"<Identifier Type="Auto" Value="6390000000000017"/>"#,
        ),
    )
    .await;
    assert_eq!(
        balance.child("Balances").child("BalanceResponse").attr("BonusAmount"),
        "1300.00"
    );
    let state = p.admin("GET", "/__admin/state/loymax", None).await.1;
    let card = state["projects"][0]["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == "6390000000000017")
        .unwrap()
        .clone();
    assert_eq!(
        (card["balance"].as_str(), card["held"].as_str()),
        (Some("1500.00"), Some("200.00"))
    );

    let discount = post(
        &p,
        &purchase_request(
            "Discounts",
            "DiscountRequest",
            r#"OperationID="op-3" PurchaseID="P1""#,
            &format!("{cheque}<Pays><Pay Type=\"Card\" Amount=\"788.00\"/></Pays>"),
        ),
    )
    .await;
    let response = discount.child("Discounts").child("DiscountResponse");
    assert_eq!(response.attr("ErrorCode"), "0");
    // Accrual 5 % of what is paid in money: lines after discount 108.00 and 880.00, points
    // 200.00 spread 108:880 → 21.86 and 178.14 (largest remainder); money 86.14 and 701.86;
    // 5 % → 4.31 and 35.09 = 39.40.
    assert_eq!(response.attr("BonusAmount"), "39.40");
    let confirm = post(
        &p,
        &purchase_request(
            "ConfirmPurchases",
            "ConfirmPurchaseRequest",
            r#"OperationID="op-4" PurchaseID="P1""#,
            "",
        ),
    )
    .await;
    assert_eq!(
        confirm
            .child("ConfirmPurchases")
            .child("ConfirmPurchaseResponse")
            .attr("ErrorCode"),
        "0"
    );
    let state = p.admin("GET", "/__admin/state/loymax", None).await.1;
    let card = state["projects"][0]["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == "6390000000000017")
        .unwrap()
        .clone();
    // 1500.00 − 200.00 + 39.40.
    assert_eq!(
        (card["balance"].as_str(), card["held"].as_str()),
        (Some("1339.40"), Some("0.00"))
    );
    // Cancel after confirm is refused (IncorrectOperationOrder, 218).
    let cancel = post(
        &p,
        &purchase_request(
            "CancelPurchases",
            "CancelPurchaseRequest",
            r#"OperationID="op-5" PurchaseID="P1""#,
            "",
        ),
    )
    .await;
    assert_eq!(
        cancel
            .child("CancelPurchases")
            .child("CancelPurchaseResponse")
            .attr("ErrorCode"),
        "218"
    );
    // The journal holds a decoded view of each exchange.
    let journal = p.admin("GET", "/__admin/journal?provider=loymax", None).await.1;
    let entries = journal["entries"].as_array().expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| e["view"]["response"]["XMLResponse"]["Payments"]["PaymentResponse"]["@BonusAmount"] == "200.00"),
        "{journal}"
    );
    // The views are decoded when the journal is read; the handler's notes come with them.
    let refused = entries
        .iter()
        .find(|e| {
            e["view"]["request"]["XMLRequest"]["CancelPurchases"]["CancelPurchaseRequest"]["@OperationID"] == "op-5"
        })
        .expect("the refused cancel is journaled");
    assert_eq!(
        refused["view"]["response"]["XMLResponse"]["CancelPurchases"]["CancelPurchaseResponse"]["@ErrorCode"],
        "218"
    );
    let notes = refused["view"]["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.starts_with("IncorrectOperationOrder 218"))),
        "{refused}"
    );
}

#[tokio::test]
async fn lost_answers_and_competing_tills_through_fault_rules() {
    let p = Possim::start("", &[]).await;
    // Vera's activated card: 250.00 points.
    let vera = r#"<Identifier Type="Auto" Value="6390000000000041"/>"#;
    let cheque = r#"<Cheque><ChequeLine PosID="1" GoodsId="300001" Price="1000" Quantity="1" Amount="1000"/></Cheque>"#;
    let calc = post(
        &p,
        &purchase_request(
            "Calculates",
            "CalculateRequest",
            r#"OperationID="f1" PurchaseID="F""#,
            &format!("{cheque}{vera}"),
        ),
    )
    .await;
    assert_eq!(
        calc.child("Calculates")
            .child("CalculateResponse")
            .attr("AvailableAmount"),
        "250.00"
    );

    // The answer to the payment is lost: the connection closes after the mock booked it.
    let rule =
        serde_json::json!({"provider": "loymax", "body": "PaymentRequest", "times": 1, "action": {"type": "close"}});
    assert_eq!(p.admin("POST", "/__admin/faults", Some(rule)).await.0, 201);
    let payment = purchase_request(
        "Payments",
        "PaymentRequest",
        r#"OperationID="f2" PurchaseID="F" Amount="100""#,
        vera,
    );
    let lost = p
        .client()
        .post(format!("{}/XmlExchange/possim/kassa-1/", p.loymax))
        .basic_auth("kassa-1", Some("demo"))
        .body(payment.clone())
        .send()
        .await;
    assert!(lost.is_err(), "the connection was closed without an answer");
    // The till retries with the same OperationID: the stored answer, held once.
    let retried = post(&p, &payment).await;
    let response = retried.child("Payments").child("PaymentResponse");
    assert_eq!(
        (response.attr("ErrorCode"), response.attr("BonusAmount")),
        ("0", "100.00")
    );
    let state = p.admin("GET", "/__admin/state/loymax", None).await.1;
    let card = state["projects"][0]["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == "6390000000000041")
        .unwrap()
        .clone();
    assert_eq!(card["held"], "100.00");

    // Another till spends 100 of the remaining 150 right before our second payment of 100.
    let rule = serde_json::json!({"provider": "loymax", "body": "PaymentRequest", "times": 1,
        "action": {"type": "competingChange", "change": {"type": "spend", "card": "6390000000000041", "amount": "100"}}});
    assert_eq!(p.admin("POST", "/__admin/faults", Some(rule)).await.0, 201);
    let second = post(
        &p,
        &purchase_request(
            "Payments",
            "PaymentRequest",
            r#"OperationID="f3" PurchaseID="F" Amount="100""#,
            vera,
        ),
    )
    .await;
    // NotEnoughMoney: 204 in the (unverified) table.
    assert_eq!(
        second.child("Payments").child("PaymentResponse").attr("ErrorCode"),
        "204"
    );
    let journal = p.admin("GET", "/__admin/journal?provider=loymax", None).await.1;
    let entries = journal["entries"].as_array().unwrap();
    let competing = entries
        .iter()
        .find(|e| e["fault"]["action"] == "competingChange")
        .expect("the competing change is journaled");
    assert_eq!(competing["fault"]["note"]["applied"]["available"], "50.00");
    // The closed exchange has a decoded view too (from Provider::describe).
    let closed = entries
        .iter()
        .find(|e| e["outcome"] == "connection-closed")
        .expect("closed exchange");
    assert_eq!(
        closed["view"]["request"]["XMLRequest"]["Payments"]["PaymentRequest"]["@OperationID"],
        "f2"
    );
}

//! Property: whatever a till sends — random bytes, a valid document cut, spliced or with hostile
//! values — the mock answers HTTP 200 with well-formed XML and a numeric `ErrorCode`, and never
//! panics. Driven through the mock's own entry point (`Inner::exchange`).

mod common;

use common::{cheque, exchange, ident, mock, request};
use proptest::prelude::*;

fn valid_documents() -> Vec<String> {
    let lines = cheque(&[("1", "100001", "60", "2", "120"), ("2", "200001", "40", "1.5", "60")]);
    vec![
        request("Balance", r#"OperationID="a""#, &ident("6390000000000017")),
        request(
            "Calculate",
            r#"OperationID="b" PurchaseID="P""#,
            &format!(
                "{lines}{}<Coupons><Coupon Number=\"CPN-0001\"/></Coupons>",
                ident("6390000000000017")
            ),
        ),
        request(
            "Payment",
            r#"OperationID="c" PurchaseID="P" Amount="10""#,
            &ident("6390000000000017"),
        ),
        request(
            "Discount",
            r#"OperationID="d" PurchaseID="P""#,
            &format!("{lines}<Pays><Pay Type=\"Cash\" Amount=\"1\"/></Pays>"),
        ),
        request(
            "Refund",
            r#"OperationID="e" PurchaseID="R" RefundPurchaseID="P""#,
            &lines,
        ),
        request(
            "CardReplace",
            r#"OperationID="f""#,
            r#"<NewCard Number="6390000000000090"/>"#,
        ),
    ]
}

/// Fragments a hostile or careless till might splice in.
const FRAGMENTS: &[&str] = &[
    "<",
    ">",
    "\"",
    "&",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "]]>",
    "<![CDATA[",
    "<!--",
    "<?xml version=\"1.0\"?>",
    " Amount=\"99999999999999999999\"",
    " Quantity=\"999999999999.999\"",
    " MinPrice=\"999999999999.99\"",
    " Price=\"-1\"",
    " OperationDate=\"9999-12-31T23:59:59-12:00\"",
    " ChequeDate=\"0000-01-01T00:00:00\"",
    "<ChequeLine PosID=\"9\" GoodsId=\"x\" Quantity=\"0.001\" Amount=\"0.01\" MinPrice=\"999999999999\"/>",
    "<Identifier Type=\"Auto\" Value=\"6390000000000017:000000\"/>",
    "<Identifier Type=\"CardTrack1\" Value=\"%?\"/>",
    "\u{feff}",
    "\u{0}",
    "é",
];

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let documents = valid_documents();
    (
        0..documents.len(),
        prop::collection::vec((any::<prop::sample::Index>(), 0..FRAGMENTS.len(), any::<bool>()), 0..6),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(move |(which, edits, cut)| {
            let mut doc = documents[which].clone().into_bytes();
            for (at, fragment, replace) in edits {
                let i = at.index(doc.len() + 1);
                if replace && i < doc.len() {
                    doc.remove(i);
                }
                let i = i.min(doc.len());
                doc.splice(i..i, FRAGMENTS[fragment].bytes());
            }
            if let Some(cut) = cut {
                doc.truncate(cut.index(doc.len() + 1));
            }
            doc
        })
}

fn check(body: &[u8]) -> Result<(), TestCaseError> {
    let (mock, _) = mock();
    // Twice: the second time exercises the OperationID store with the same body.
    for _ in 0..2 {
        let out = exchange(&mock, body);
        prop_assert_eq!(out.status, 200);
        let doc = possim_loymax::xml::parse(&out.body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let code = doc.root.first("ErrorCode").map(|c| c.text.clone()).unwrap_or_default();
        prop_assert!(code.parse::<u16>().is_ok(), "{}", String::from_utf8_lossy(&out.body));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_documents_get_protocol_answers(body in mutated()) {
        check(&body)?;
    }

    #[test]
    fn random_bytes_get_protocol_answers(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&body)?;
    }
}

//! What a Loymax request asks for, named for the journal (`Provider::classify`): the conformance
//! judge tells the requests a till may repeat at will from those that book something by it.
//!
//! Every command goes to the same URL, so the operation is the plural wrapper inside the body:
//! `balance`, `calculate` and `available-amount` only read (a calculate may be repeated with a
//! changed cheque, spec 1.7); `payment`, `discount`, `confirm-purchase`, `cancel-purchase`,
//! `refund`, `cancel-operation` and `card-replace` change balances or purchases. A body without a
//! known wrapper (not XML, no `XMLRequest`) is `unknown` and counted as a write, as any POST.

use possim_engine::journal::{HttpRequestRecord, Operation};
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::protocol::Command;

/// The operation of a request to the Loymax mock.
pub fn classify(request: &HttpRequestRecord) -> Operation {
    let command = request
        .body
        .text
        .as_deref()
        .and_then(wrapper)
        .and_then(|w| Command::from_wrapper(&w));
    let Some(command) = command else {
        return Operation {
            name: "unknown".into(),
            write: true,
        };
    };
    let write = !matches!(
        command,
        Command::Balance | Command::Calculate | Command::AvailableAmount
    );
    Operation {
        name: kebab(command.stem()),
        write,
    }
}

/// The name of the first element below `XMLRequest` other than `Version`.
fn wrapper(body: &str) -> Option<String> {
    let mut reader = Reader::from_str(body);
    let mut depth = 0usize;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if depth == 0 => {
                if e.local_name().as_ref() != b"XMLRequest" {
                    return None;
                }
                depth = 1;
            }
            Event::Start(e) | Event::Empty(e) if depth == 1 => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name != "Version" {
                    return Some(name);
                }
                // `<Version>3.2</Version>`: its text and end are skipped below.
                reader.read_to_end(e.name()).ok()?;
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// `AvailableAmount` → `available-amount`.
fn kebab(stem: &str) -> String {
    let mut out = String::with_capacity(stem.len() + 4);
    for (i, c) in stem.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_engine::journal::RecordedBody;

    fn post(body: &str) -> Operation {
        classify(&HttpRequestRecord {
            method: "POST".into(),
            path: "/XmlExchange/possim/kassa-1/".into(),
            query: None,
            headers: Vec::new(),
            body: RecordedBody::from_bytes(body.as_bytes()),
        })
    }

    #[test]
    fn the_wrapper_names_the_operation_and_only_lookups_and_calculations_read() {
        let doc = |wrapper: &str| {
            format!(
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLRequest><Version>3.2</Version><{wrapper}><X ElementID="1"/></{wrapper}></XMLRequest>"#
            )
        };
        let cases = [
            ("Balances", "balance", false),
            ("Calculates", "calculate", false),
            ("AvailableAmounts", "available-amount", false),
            ("Payments", "payment", true),
            ("Discounts", "discount", true),
            ("ConfirmPurchases", "confirm-purchase", true),
            ("CancelPurchases", "cancel-purchase", true),
            ("Refunds", "refund", true),
            ("CancelOperations", "cancel-operation", true),
            ("CardReplaces", "card-replace", true),
        ];
        for (wrapper, name, write) in cases {
            assert_eq!(
                post(&doc(wrapper)),
                Operation {
                    name: name.into(),
                    write
                },
                "{wrapper}"
            );
        }
    }

    #[test]
    fn namespaces_and_the_2024_envelope_do_not_hide_the_wrapper() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><XMLRequest xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Version>3.2</Version><Payments><PaymentRequest ElementID="1"/></Payments></XMLRequest>"#;
        assert_eq!(post(body).name, "payment");
    }

    #[test]
    fn a_body_without_a_known_wrapper_is_an_unknown_write() {
        for body in [
            "",
            "not xml",
            "<Other/>",
            "<XMLRequest><Version>3.2</Version></XMLRequest>",
            "<XMLRequest><Bogus/></XMLRequest>",
        ] {
            assert_eq!(
                post(body),
                Operation {
                    name: "unknown".into(),
                    write: true
                },
                "{body:?}"
            );
        }
    }
}

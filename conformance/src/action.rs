//! The action vocabulary: the business actions a golden flow hands to a POS, their fields, and
//! their plain-language form for an operator (`--driver manual`).
//!
//! This is the contract a POS vendor implements in a test adapter; `conformance/README.md`
//! documents it for humans and this table checks golden flows against it when they are loaded.

use serde_json::Value;

/// One action type.
#[derive(Debug, Clone, Copy)]
pub struct ActionDef {
    /// `type` value.
    pub name: &'static str,
    /// Provider that serves it.
    pub provider: &'static str,
    /// Fields that must be present.
    pub required: &'static [&'static str],
    /// Fields that may be present.
    pub optional: &'static [&'static str],
}

/// Every known action.
pub const ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "lookup-customer",
        provider: "tyrios",
        required: &["customer"],
        optional: &[],
    },
    ActionDef {
        name: "search-customer",
        provider: "tyrios",
        required: &["query"],
        optional: &[],
    },
    ActionDef {
        name: "register-customer",
        provider: "tyrios",
        required: &["customer"],
        optional: &[],
    },
    ActionDef {
        name: "sale",
        provider: "tyrios",
        required: &["amount", "productGroup"],
        optional: &["customer", "coupons", "usePoints"],
    },
    ActionDef {
        name: "book-coupons",
        provider: "tyrios",
        required: &["customer", "coupons"],
        optional: &["productGroup"],
    },
    ActionDef {
        name: "sell-coupons",
        provider: "tyrios",
        required: &["coupons", "productGroup"],
        optional: &["customer", "usePoints"],
    },
    ActionDef {
        name: "buy-points",
        provider: "tyrios",
        required: &["customer", "amount", "productGroup"],
        optional: &[],
    },
    ActionDef {
        name: "grant-points",
        provider: "tyrios",
        required: &["customer", "points", "productGroup"],
        optional: &[],
    },
    ActionDef {
        name: "show-transactions",
        provider: "tyrios",
        required: &[],
        optional: &["customer"],
    },
    ActionDef {
        name: "payback-collect",
        provider: "payback",
        required: &["customer", "amount", "receipt"],
        optional: &["eligibleAmount", "coupons"],
    },
    ActionDef {
        name: "zvt-pay",
        provider: "zvt",
        required: &["amount"],
        optional: &["link", "issueGoods", "goodsTimeout", "maxStatusInfos"],
    },
    ActionDef {
        name: "zvt-end-of-day",
        provider: "zvt",
        required: &[],
        optional: &["link"],
    },
    ActionDef {
        name: "zvt-pre-auth",
        provider: "zvt",
        required: &["amount", "book"],
        optional: &["link"],
    },
    ActionDef {
        name: "zvt-display-text",
        provider: "zvt",
        required: &["lines"],
        optional: &["link"],
    },
    ActionDef {
        name: "computop-sale",
        provider: "computop",
        required: &["amount", "accountId"],
        optional: &["orderDesc"],
    },
    ActionDef {
        name: "computop-refund",
        provider: "computop",
        required: &["saleAmount", "amount", "accountId"],
        optional: &["orderDesc"],
    },
    ActionDef {
        name: "payback-redeem",
        provider: "payback",
        required: &["customer", "basket", "pinEntries", "receipt"],
        optional: &["points"],
    },
    ActionDef {
        name: "payback-terminal-redeem",
        provider: "payback",
        // The terminal reads the card itself (there is no field for it in the 06 01 of our
        // design): the customer is optional, for the record and the manual script.
        required: &["basket", "receipt"],
        optional: &["customer"],
    },
    ActionDef {
        name: "loymax-balance",
        provider: "loymax",
        required: &["identifier"],
        optional: &["at"],
    },
    ActionDef {
        name: "loymax-purchase",
        provider: "loymax",
        required: &["cheque"],
        optional: &["identifier", "coupons", "writeOff", "pin", "recalculate", "then", "at"],
    },
    ActionDef {
        name: "loymax-refund",
        provider: "loymax",
        required: &["cheque", "returned"],
        optional: &["identifier", "coupons", "writeOff", "at"],
    },
    ActionDef {
        name: "loymax-card-replace",
        provider: "loymax",
        required: &["newCard"],
        optional: &["identifier", "password", "at"],
    },
];

/// Checks an action against the vocabulary; the message names the problem.
pub fn validate(action: &Value) -> Result<&'static ActionDef, String> {
    let Some(map) = action.as_object() else {
        return Err("action must be a table".into());
    };
    let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
    let def = ACTIONS.iter().find(|d| d.name == kind).ok_or_else(|| {
        let names: Vec<&str> = ACTIONS.iter().map(|d| d.name).collect();
        format!("unknown action type {kind:?} (known: {})", names.join(", "))
    })?;
    for field in def.required {
        if !map.contains_key(*field) {
            return Err(format!("action {kind:?} needs the field {field:?}"));
        }
    }
    for key in map.keys() {
        if key != "type" && !def.required.contains(&key.as_str()) && !def.optional.contains(&key.as_str()) {
            return Err(format!("action {kind:?} has no field {key:?}"));
        }
    }
    if let Some(customer) = map.get("customer") {
        customer_text(customer)?;
    }
    Ok(def)
}

fn customer_text(customer: &Value) -> Result<String, String> {
    if let Some(card) = customer.get("card").and_then(Value::as_str) {
        return Ok(format!("scan the customer card {card}"));
    }
    if let Some(query) = customer.get("search").and_then(Value::as_str) {
        let pick = customer
            .get("eMail")
            .and_then(Value::as_str)
            .map_or_else(String::new, |m| format!(" and pick the one with e-mail {m}"));
        return Ok(format!("search the customer by \"{query}\"{pick}"));
    }
    if let Some(new) = customer.get("new") {
        let field = |k: &str| new.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        return Ok(format!(
            "register a new customer: {} {}, e-mail {}",
            field("preName"),
            field("name"),
            field("eMail")
        ));
    }
    Err("customer must be {card = …}, {search = …[, eMail = …]} or {new = {preName, name, eMail}}".into())
}

/// The strings of a list field of an action (`pinEntries`, `lines`); missing or non-string
/// entries are left out.
pub fn strings(action: &Value, key: &str) -> Vec<String> {
    action
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn text(action: &Value, key: &str) -> String {
    match action.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn coupons_text(action: &Value) -> String {
    let list: Vec<String> = action
        .get("coupons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| match c {
            Value::String(code) => code.clone(),
            other => {
                let code = other.get("code").and_then(Value::as_str).unwrap_or("?");
                match other.get("value").and_then(Value::as_str) {
                    Some(value) => format!("{code} worth {value} €"),
                    None => code.to_owned(),
                }
            }
        })
        .collect();
    list.join(", ")
}

/// Numbered instructions for an operator at a real till.
pub fn instructions(action: &Value) -> Vec<String> {
    let mut steps = Vec::new();
    if let Some(customer) = action.get("customer")
        && let Ok(t) = customer_text(customer)
    {
        steps.push(capitalise(&t));
    }
    let kind = action.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "lookup-customer" => steps.push("Show the customer's points on the till".into()),
        "search-customer" => steps.push(format!(
            "Search customers for \"{}\" and show the list",
            text(action, "query")
        )),
        "register-customer" => steps.push("Complete the registration".into()),
        "sale" => {
            steps.push(format!(
                "Sell {} € in product group \"{}\"",
                text(action, "amount"),
                text(action, "productGroup")
            ));
            if action.get("coupons").is_some() {
                steps.push(format!("Redeem the coupon(s) {}", coupons_text(action)));
            }
            match action.get("usePoints").and_then(Value::as_bool) {
                Some(false) => steps.push("Do NOT pay with points (the customer keeps them)".into()),
                _ if action.get("customer").is_some() => steps.push("Pay with the customer's points".into()),
                _ => {}
            }
            steps.push("Complete the sale and note what the till shows".into());
        }
        "book-coupons" => steps.push(format!(
            "Book the coupon(s) {} onto the customer's account",
            coupons_text(action)
        )),
        "sell-coupons" => {
            steps.push(format!("Sell the coupon(s) {}", coupons_text(action)));
            if action.get("usePoints").and_then(Value::as_bool) == Some(true) {
                steps.push("Pay with the customer's points".into());
            }
        }
        "buy-points" => steps.push(format!(
            "Sell points worth {} € to the customer",
            text(action, "amount")
        )),
        "grant-points" => steps.push(format!(
            "Grant {} special points to the customer",
            text(action, "points")
        )),
        "show-transactions" => steps.push("Open the transaction overview".into()),
        "payback-collect" => {
            steps.push(format!(
                "Sell {} € (receipt {}) and collect PAYBACK points",
                text(action, "amount"),
                text(action, "receipt")
            ));
            if action.get("coupons").is_some() {
                steps.push(format!("Scan the action coupon(s) {}", coupons_text(action)));
            }
        }
        "payback-redeem" => {
            steps.push(format!(
                "Start \"PAYBACK Punkte einlösen\" for a basket of {} € (receipt {})",
                text(action, "basket"),
                text(action, "receipt")
            ));
            let pins: Vec<String> = strings(action, "pinEntries");
            steps.push(format!(
                "The customer enters the PIN(s) {} in this order",
                pins.join(", ")
            ));
            match action.get("points") {
                Some(p) => steps.push(format!("Redeem {p} points")),
                None => steps.push("Redeem all points, at most the basket".into()),
            }
        }
        "computop-sale" => {
            steps.push(format!(
                "Check out an order of {} € with PAYBACK PAY for the PAYBACK customer {}",
                text(action, "amount"),
                text(action, "accountId")
            ));
            steps.push("Wait until the customer decided in the PAYBACK app and note what the shop shows".into());
        }
        "computop-refund" => {
            steps.push(format!(
                "Check out an order of {} € with PAYBACK PAY for the PAYBACK customer {} and wait until it is paid",
                text(action, "saleAmount"),
                text(action, "accountId")
            ));
            steps.push(format!("Refund {} € of that order (credit)", text(action, "amount")));
        }
        "payback-terminal-redeem" => {
            steps.push(format!(
                "Press \"PAYBACK Punkte einlösen\" for a basket of {} € (receipt {}): the card terminal takes over",
                text(action, "basket"),
                text(action, "receipt")
            ));
            steps.push("The customer enters the PIN on the terminal and picks the points there".into());
            steps
                .push("Book the EUR value the terminal returns as a voucher redemption and note the amount due".into());
        }
        "zvt-pay" => {
            let link = match action.get("link").and_then(Value::as_str) {
                Some("serial") => "its serial (COM) port",
                _ => "the network (ZVT over TCP)",
            };
            steps.push(format!("Connect the till to the virtual terminal over {link}"));
            steps.push(format!(
                "Take a card payment of {} € and note what the till shows",
                text(action, "amount")
            ));
            if let Some(goods) = action.get("issueGoods").and_then(Value::as_str) {
                steps.push(format!(
                    "As an unattended machine, let the issue of goods go like this: {goods} (ok, later:N \"not yet\" answers, partial:AMOUNT issued, fail, silent)"
                ));
            }
        }
        "zvt-end-of-day" => steps.push("Run the terminal's end-of-day (Kassenschnitt) from the till".into()),
        "zvt-pre-auth" => {
            steps.push(format!(
                "Reserve {} € on the customer's card (pre-authorisation)",
                text(action, "amount")
            ));
            steps.push(format!(
                "Book {} € of that reservation (book total)",
                text(action, "book")
            ));
        }
        "zvt-display-text" => {
            let lines = strings(action, "lines");
            steps.push(format!(
                "Show this text on the terminal's display: {}",
                lines.join(" / ")
            ));
        }
        kind if kind.starts_with("loymax-") => loymax_instructions(kind, action, &mut steps),
        _ => steps.push(format!("Perform the action {action}")),
    }
    steps
}

/// The Loymax actions for an operator at a real till.
fn loymax_instructions(kind: &str, action: &Value, steps: &mut Vec<String>) {
    if let Some(identifier) = action.get("identifier") {
        let how = match identifier.get("kind").and_then(Value::as_str).unwrap_or("card") {
            "barcode" => "Scan the card's barcode",
            "track" => "Swipe the card's magnetic stripe",
            "phone" => "Type the customer's phone number",
            "qr" => "Scan the QR code from the customer's app",
            _ => "Enter the card number",
        };
        steps.push(format!("{how}: {}", text(identifier, "value")));
    }
    let lines = |key: &str| -> String {
        action
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| {
                format!(
                    "{} × {} ({} RUB)",
                    text(l, "quantity"),
                    text(l, "goodsId"),
                    text(l, "price")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        "loymax-balance" => steps.push("Show the card's bonus balance".into()),
        "loymax-card-replace" => steps.push(format!("Replace the card by the new card {}", text(action, "newCard"))),
        _ => {
            steps.push(format!("Ring up {}", lines("cheque")));
            if action.get("coupons").is_some() {
                steps.push(format!("Scan the coupon(s) {}", coupons_text(action)));
            }
            if action.get("recalculate").is_some() {
                steps.push(format!("Change the receipt to {}", lines("recalculate")));
            }
            if let Some(points) = action.get("writeOff") {
                steps.push(format!("The customer pays with points: {points}"));
            }
            match action.get("then").and_then(Value::as_str) {
                Some("abandon") => steps.push("The customer leaves: drop the receipt".into()),
                Some("void") => steps.push("Complete the sale, then void the receipt".into()),
                _ => steps.push("Complete the sale and note what the till shows and prints".into()),
            }
            if kind == "loymax-refund" {
                steps.push("Then take back the returned goods as a refund".into());
            }
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_names_unknown_types_and_fields() {
        assert!(validate(&json!({"type": "sale", "amount": "1.00", "productGroup": "x"})).is_ok());
        assert!(
            validate(&json!({"type": "sael"}))
                .unwrap_err()
                .contains("unknown action type \"sael\"")
        );
        assert!(
            validate(&json!({"type": "sale", "productGroup": "x"}))
                .unwrap_err()
                .contains("\"amount\"")
        );
        assert!(
            validate(&json!({"type": "sale", "amount": "1", "productGroup": "x", "colour": 1}))
                .unwrap_err()
                .contains("no field \"colour\"")
        );
        assert!(validate(&json!({"type": "lookup-customer", "customer": {"phone": "1"}})).is_err());
    }

    #[test]
    fn instructions_read_like_a_checklist() {
        let steps = instructions(&json!({"type": "sale", "customer": {"card": "UQBUFDJALK4WXYC"},
            "amount": "33.00", "productGroup": "Hose", "usePoints": true}));
        assert_eq!(
            steps,
            vec![
                "Scan the customer card UQBUFDJALK4WXYC",
                "Sell 33.00 € in product group \"Hose\"",
                "Pay with the customer's points",
                "Complete the sale and note what the till shows",
            ]
        );
    }
}

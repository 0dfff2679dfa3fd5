//! JSON Schemas (draft 2020-12) of the files and lines a vendor writes: golden flows, the
//! action a driver hands to a POS and the result line a POS prints (`possim schema …`).
//!
//! They are derived, not hand-typed: the scenario schema from the serde types of [`crate::scenario`]
//! (schemars), the action schema from the vocabulary table [`crate::action::ACTIONS`] that the
//! loader checks actions against, the result schema from [`DriverResult`] below. So an editor that
//! validates a flow against them refuses what `possim certify` would refuse at load time (the
//! loader still checks more: matchers, providers, ids).

use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::action::ACTIONS;
use crate::scenario::Scenario;

/// The schema dialect of every schema here.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The result line a POS prints on stdout (the `exec` driver) or answers with (`http`), as
/// `conformance/README.md`, section "The result", documents it. Fields beyond these are the
/// action's own (`amount`, `receipt`, `payId`, …) and allowed.
#[derive(Debug, serde::Serialize, serde::Deserialize, JsonSchema)]
#[schemars(title = "possim POS result", extend("additionalProperties" = true))]
#[allow(dead_code)] // Exists for its schema; the runner reads results as JSON values.
pub struct DriverResult {
    /// What the till made of the action.
    pub status: ResultStatus,
    /// With `error`: `configuration` when the provider refused the till's own credentials or
    /// rights (HTTP 401, TYRIOS's 403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the till showed the cashier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the customer still pays in money, decimal string (transactions).
    #[serde(default, rename = "amountDue", skip_serializing_if = "Option::is_none")]
    pub amount_due: Option<String>,
    /// Points used, as the provider booked them.
    #[serde(default, rename = "redeemedPoints", skip_serializing_if = "Option::is_none")]
    pub redeemed_points: Option<i64>,
    /// Points collected, as the provider booked them.
    #[serde(default, rename = "obtainedPoints", skip_serializing_if = "Option::is_none")]
    pub obtained_points: Option<i64>,
    /// The provider's transaction id.
    #[serde(default, rename = "transactionId", skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<Value>,
    /// Lookup, register: `{ id, preName, name, eMail, points }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Map<String, Value>>,
    /// Search: the customers in the provider's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers: Option<Vec<Map<String, Value>>>,
    /// Overview: `{ transactionId, transactionType, totalAmount, … }` each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<Map<String, Value>>>,
}

/// The `status` of a result.
#[derive(Debug, serde::Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    /// The till booked it and says so.
    Completed,
    /// The provider refused this business request (card, coupon, points); nothing booked.
    Refused,
    /// The card terminal aborted the transaction (ZVT, 06 1E).
    Aborted,
    /// The cashier dropped the purchase and the till cancelled it with the provider (Loymax).
    Cancelled,
    /// The outcome is unknown, or the till or its set-up failed.
    Error,
    /// An operator skipped the scenario (`--driver manual`).
    Skipped,
}

/// The schema of a golden flow file (its TOML read as JSON), with `action` checked against the
/// action vocabulary.
pub fn scenario() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default();
    schema["title"] = json!("possim golden flow");
    let mut action = action();
    if let Some(object) = action.as_object_mut() {
        object.remove("$schema");
    }
    schema["$defs"]["Action"] = action;
    let description = schema["properties"]["action"]["description"].clone();
    schema["properties"]["action"] = json!({"$ref": "#/$defs/Action", "description": description});
    schema
}

/// The schema of an action object: one branch per action type, naming its required and
/// optional fields and nothing else.
pub fn action() -> Value {
    let branches: Vec<Value> = ACTIONS
        .iter()
        .map(|def| {
            let mut properties = Map::new();
            properties.insert("type".into(), json!({"const": def.name}));
            for field in def.required.iter().chain(def.optional) {
                properties.insert((*field).into(), field_schema(field));
            }
            let mut required = vec!["type"];
            required.extend(def.required);
            json!({
                "title": def.name,
                "description": format!("served by the {} mock", def.provider),
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            })
        })
        .collect();
    let names: Vec<&str> = ACTIONS.iter().map(|def| def.name).collect();
    json!({
        "$schema": DIALECT,
        "title": "possim action",
        "description": "The business action a driver hands to the POS (conformance/README.md, \"The action vocabulary\").",
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": names}},
        "oneOf": branches,
    })
}

/// The schema of a POS's result line.
pub fn result() -> Value {
    serde_json::to_value(schemars::schema_for!(DriverResult)).unwrap_or_default()
}

/// What the loader checks of a field beyond its presence: a customer is given one of three ways.
fn field_schema(field: &str) -> Value {
    match field {
        "customer" => json!({
            "description": "{card}, {search[, eMail]} or {new = {preName, name, eMail}}",
            "type": "object",
            "anyOf": [{"required": ["card"]}, {"required": ["search"]}, {"required": ["new"]}],
        }),
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_names_the_dialect() {
        for schema in [scenario(), action(), result()] {
            assert_eq!(schema["$schema"], DIALECT, "{schema:#}");
        }
    }

    #[test]
    fn scenario_schema_requires_what_the_loader_requires() {
        let schema = scenario();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .expect("required list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for key in ["id", "title", "providers", "level", "action"] {
            assert!(required.contains(&key), "{key} missing from {required:?}");
        }
        // Unknown keys are refused by the loader (deny_unknown_fields), so by the schema too.
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["properties"]["action"]["$ref"], "#/$defs/Action");
        // The TOML key is `exchange` (serde rename), not the Rust field name.
        assert!(schema["properties"].get("exchange").is_some());
        assert!(schema["properties"].get("exchanges").is_none());
    }

    #[test]
    fn action_schema_has_one_branch_per_action_type() {
        let schema = action();
        let branches = schema["oneOf"].as_array().expect("oneOf");
        assert_eq!(branches.len(), ACTIONS.len());
        let sale = branches.iter().find(|b| b["title"] == "sale").expect("sale branch");
        assert_eq!(sale["required"], json!(["type", "amount", "productGroup"]));
        assert_eq!(sale["additionalProperties"], json!(false));
    }

    #[test]
    fn result_schema_lists_the_documented_statuses() {
        let schema = result();
        let text = schema.to_string();
        for status in ["completed", "refused", "aborted", "cancelled", "error"] {
            assert!(text.contains(&format!("\"{status}\"")), "{status} missing: {text}");
        }
        assert_eq!(schema["required"], json!(["status"]));
    }
}

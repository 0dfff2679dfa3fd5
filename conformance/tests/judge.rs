//! The judge on hand-made traffic: step order, optional steps, the unexpected-exchange policy,
//! `forbid`, results and state checks; and properties of the matcher and the recorder.

use std::collections::BTreeMap;
use std::path::Path;

use possim_conformance::judge::{Observed, judge_result, judge_state, judge_traffic};
use possim_conformance::matcher;
use possim_conformance::record::{self, RecordMeta};
use possim_conformance::scenario::parse_scenario;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The providers `possim serve` starts (the binary passes its registry's names).
const PROVIDERS: &[&str] = &["tyrios", "payback", "zvt", "computop"];

const FLOW: &str = r#"
id = "tyrios/t"
title = "t"
providers = ["tyrios"]
level = "minimum"
action = { type = "sale", amount = "33.00", productGroup = "Hose" }
result = { status = "completed", amountDue = "30.87" }

[[exchange]]
name = "look up"
optional = true
request = { method = "GET", path = "/BonusPointManagement/UserData/UQBUFDJALK4WXYC" }

[[exchange]]
name = "draft"
request = { method = "POST", path = "/BonusPointManagement/BonusPointTransaction/pos", query = { draft = "true" }, body = { totalAmount = 33 } }
response = { status = 200 }

[[exchange]]
name = "final"
request = { method = "POST", path = "/BonusPointManagement/BonusPointTransaction/pos", query = { draft = "$absent" } }
response = { status = 200, body = { redeemedPoints = 213 } }

[[forbid]]
name = "no second final"
request = { method = "POST", path = "/BonusPointManagement/BonusPointTransaction/pos", query = { draft = "$absent" } }

[[state]]
name = "points"
collection = "users"
where = { uniqueUserHash = "UQBUFDJALK4WXYC" }
expect = { currentBonusPoints = 62 }
"#;

fn x(id: u64, method: &str, target: &str, body: &str, status: u16, answer: &str) -> Observed {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Observed {
        id,
        provider: "tyrios".into(),
        method: method.into(),
        path: path.into(),
        raw_query: (!query.is_empty()).then(|| query.to_owned()),
        query: query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        headers: Vec::new(),
        request_body: (!body.is_empty()).then(|| body.to_owned()),
        status: Some(status),
        response_body: Some(answer.to_owned()),
        fault: None,
        outbound: false,
        operation: None,
        cut_off: false,
    }
}

const POS: &str = "/service/BonusPointManagement/BonusPointTransaction/pos";

fn good() -> Vec<Observed> {
    vec![
        x(
            1,
            "GET",
            "/service/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
            "",
            200,
            "{}",
        ),
        x(
            2,
            "POST",
            &format!("{POS}?draft=true"),
            r#"{"totalAmount":33}"#,
            200,
            r#"{"redeemedPoints":213}"#,
        ),
        x(
            3,
            "POST",
            POS,
            r#"{"totalAmount":33}"#,
            200,
            r#"{"redeemedPoints":213}"#,
        ),
    ]
}

fn scenario() -> possim_conformance::scenario::Scenario {
    parse_scenario(FLOW, Path::new("t.toml"), PROVIDERS).unwrap()
}

#[test]
fn the_recorded_flow_passes_with_either_tyrios_root() {
    let judgement = judge_traffic(&scenario(), &good());
    assert_eq!(judgement.diffs, vec![]);
    let steps: Vec<Option<String>> = judgement.exchanges.iter().map(|e| e.step.clone()).collect();
    assert_eq!(
        steps,
        [Some("look up".into()), Some("draft".into()), Some("final".into())]
    );
}

#[test]
fn an_optional_step_may_be_left_out_a_required_one_may_not() {
    let traffic = good()[1..].to_vec();
    assert!(judge_traffic(&scenario(), &traffic).diffs.is_empty());
    let traffic = vec![good()[0].clone(), good()[2].clone()];
    let judgement = judge_traffic(&scenario(), &traffic);
    assert_eq!(judgement.missing_required, 1);
    assert_eq!(judgement.diffs.len(), 1);
    assert_eq!(judgement.diffs[0].step, "draft");
    assert_eq!(judgement.diffs[0].got, "not sent (at this point of the flow)");
}

#[test]
fn steps_must_come_in_order() {
    let mut traffic = good();
    traffic.swap(1, 2);
    traffic[1].id = 2;
    traffic[2].id = 3;
    // The draft step claims the later draft; nothing after it is a final, so the final step is
    // missing and the early final is a forbidden extra.
    let diffs = judge_traffic(&scenario(), &traffic).diffs;
    let got: Vec<(&str, &str)> = diffs.iter().map(|d| (d.step.as_str(), d.path.as_str())).collect();
    assert_eq!(got, [("final", "request"), ("forbidden", "exchange #2")]);
}

#[test]
fn field_differences_name_the_field() {
    let mut traffic = good();
    traffic[1].request_body = Some(r#"{"totalAmount":"33.00"}"#.into());
    let diffs = judge_traffic(&scenario(), &traffic).diffs;
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        (
            diffs[0].step.as_str(),
            diffs[0].path.as_str(),
            diffs[0].expected.as_str(),
            diffs[0].got.as_str()
        ),
        ("draft", "request.body.totalAmount", "33", "\"33.00\"")
    );
}

#[test]
fn a_different_status_is_one_difference_with_the_providers_message() {
    let mut traffic = good();
    traffic[2].status = Some(400);
    traffic[2].response_body = Some(r#"{"error":"Exception","message":"Nicht genügend Punkte"}"#.into());
    let diffs = judge_traffic(&scenario(), &traffic).diffs;
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].path, "response.status");
    assert_eq!(diffs[0].got, "400: Nicht genügend Punkte");
}

#[test]
fn a_repeated_final_is_forbidden_and_extra_reads_are_tolerated() {
    let mut traffic = good();
    traffic.push(x(
        4,
        "GET",
        "/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
        "",
        200,
        "{}",
    ));
    traffic.push(x(5, "POST", POS, r#"{"totalAmount":33}"#, 200, "{}"));
    let judgement = judge_traffic(&scenario(), &traffic);
    assert_eq!(judgement.diffs.len(), 1, "{:?}", judgement.diffs);
    assert_eq!(judgement.diffs[0].step, "forbidden");
    assert_eq!(judgement.diffs[0].path, "exchange #5");
    assert!(judgement.exchanges[4].problem);
    assert!(!judgement.exchanges[3].problem);
}

#[test]
fn unexpected_policy() {
    let mut traffic = good();
    traffic.push(x(4, "POST", "/BonusPointManagement/UserData/", "{}", 200, "{}"));
    traffic.push(x(5, "GET", "/BonusPointManagement/UserData/X", "", 200, "{}"));
    let mut s = scenario();
    let diffs = judge_traffic(&s, &traffic).diffs;
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].step, "unexpected");
    assert_eq!(diffs[0].expected, "no further state-changing request");
    s.unexpected = possim_conformance::scenario::UnexpectedPolicy::Fail;
    assert_eq!(judge_traffic(&s, &traffic).diffs.len(), 2);
    s.unexpected = possim_conformance::scenario::UnexpectedPolicy::Allow;
    assert!(judge_traffic(&s, &traffic).diffs.is_empty());
}

#[test]
fn other_providers_traffic_is_not_judged() {
    let mut traffic = good();
    let mut other = x(9, "POST", "/x", "", 200, "{}");
    other.provider = "computop".into();
    traffic.push(other);
    assert!(judge_traffic(&scenario(), &traffic).diffs.is_empty());
}

#[test]
fn results_and_state() {
    let s = scenario();
    assert!(
        judge_result(
            &s,
            Some(&json!({"status": "completed", "amountDue": "30.87", "extra": 1}))
        )
        .is_empty()
    );
    let diffs = judge_result(&s, Some(&json!({"status": "completed", "amountDue": 30.87})));
    assert_eq!((diffs[0].path.as_str(), diffs[0].got.as_str()), ("amountDue", "30.87"));
    let diffs = judge_result(&s, None);
    assert_eq!(diffs[0].got, "absent");

    let state = json!({"users": [
        {"uniqueUserHash": "UQBUFDJALK4WXYC", "currentBonusPoints": 62},
        {"uniqueUserHash": "K7PW2RDQ9TNS5FA", "currentBonusPoints": 50}
    ]});
    assert!(judge_state(&s, |_| Some(state.clone())).is_empty());
    let state = json!({"users": [{"uniqueUserHash": "UQBUFDJALK4WXYC", "currentBonusPoints": 13}]});
    let diffs = judge_state(&s, |_| Some(state.clone()));
    assert_eq!(diffs[0].step, "state: points");
    assert_eq!(diffs[0].expected, "62");
    assert_eq!(diffs[0].got, "13");
    let diffs = judge_state(&s, |_| Some(json!({"users": []})));
    assert_eq!(diffs[0].expected, "at least one element");
}

/// JSON values without `$` strings (those are matchers in a golden flow).
fn plain_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        "[a-zA-Z0-9 äöü€_.-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Every plain value matches itself: a recording of a correct till passes against that till.
    #[test]
    fn plain_values_match_themselves(value in plain_json()) {
        prop_assert!(matcher::matches(&value, Some(&value)));
        prop_assert!(matcher::validate(&value, "x").is_ok());
    }

    /// A recording survives TOML and still matches the traffic it came from, whatever the bodies
    /// hold (nulls, strings starting with `$`, nesting).
    #[test]
    fn recordings_round_trip_through_toml(
        request in plain_json(),
        answer in plain_json(),
        dollar in "[a-z]{0,5}",
        raw in prop::option::of("[$a-z=&]{0,8}"),
    ) {
        let mut request = request;
        if let Value::Object(map) = &mut request {
            map.insert("literal".into(), Value::String(format!("${dollar}")));
        }
        // A body that is not JSON (a form) is recorded and compared as text.
        let body = raw.unwrap_or_else(|| request.to_string());
        let traffic = vec![x(1, "POST", "/BonusPointManagement/UserData/", &body, 200, &answer.to_string())];
        let meta = RecordMeta {
            id: "tyrios/p".into(),
            title: "p".into(),
            level: "minimum".into(),
            providers: vec!["tyrios".into()],
            data: None,
            clock: None,
            faults: Vec::new(),
            zvt_customer: None,
            credentials: BTreeMap::new(),
            action: json!({"type": "search-customer", "query": "x"}),
            result: Some(json!({"status": "completed", "note": null})),
            snapshots: BTreeMap::new(),
        };
        let scenario = record::build(&meta, &traffic);
        let text = record::to_toml(&scenario).unwrap();
        let back = parse_scenario(&text, Path::new("p.toml"), PROVIDERS).unwrap();
        prop_assert_eq!(judge_traffic(&back, &traffic).diffs, vec![]);
        prop_assert_eq!(judge_result(&back, Some(&json!({"status": "completed", "note": null}))), vec![]);
    }
}

/// Every leaf of `value` (a scalar, or an empty array or object) with its path as the matcher's
/// diffs name it below `path`.
fn leaves(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                leaves(inner, matcher::join(&path, key), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, inner) in items.iter().enumerate() {
                leaves(inner, format!("{path}[{i}]"), out);
            }
        }
        leaf => out.push((path, leaf.clone())),
    }
}

/// A value the matcher must tell from `leaf`: another value of the same type where there is one
/// (numbers beyond the float tolerance), else one of another type.
fn changed(leaf: &Value) -> Value {
    match leaf {
        Value::Null => json!(false),
        Value::Bool(b) => json!(!b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => json!(i.wrapping_add(1)),
            None => {
                let f = n.as_f64().unwrap();
                json!(f + 1.0 + f.abs())
            }
        },
        Value::String(text) => json!(format!("{text}·")),
        // `[]` expects no element; `{}` accepts any object, so only another type differs.
        Value::Array(_) => json!([null]),
        Value::Object(_) => json!("{}"),
    }
}

/// `value` with the leaf at `target` replaced by `with`.
fn replace_leaf(value: &Value, path: String, target: &str, with: &Value) -> Value {
    if path == target {
        return with.clone();
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace_leaf(v, matcher::join(&path, k), target, with)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| replace_leaf(v, format!("{path}[{i}]"), target, with))
                .collect(),
        ),
        other => other.clone(),
    }
}

proptest! {
    /// The negative of `plain_values_match_themselves`: one changed leaf anywhere is exactly one
    /// difference, at that leaf's path, showing what was expected and what came. A matcher that
    /// always says yes, skips a level or stops at the first key fails this.
    #[test]
    fn one_changed_leaf_is_one_difference_at_its_path(value in plain_json(), pick in any::<prop::sample::Index>()) {
        let mut all = Vec::new();
        leaves(&value, "body".into(), &mut all);
        let (path, leaf) = pick.get(&all).clone();
        let got = replace_leaf(&value, "body".into(), &path, &changed(&leaf));
        prop_assert!(!matcher::matches(&value, Some(&got)));
        let mut diffs = Vec::new();
        matcher::compare(&value, Some(&got), "step", "body", &mut diffs);
        prop_assert_eq!(diffs.len(), 1, "{:?}", diffs);
        prop_assert_eq!(&diffs[0].path, &path);
        prop_assert_eq!(&diffs[0].step, "step");
        prop_assert_eq!(&diffs[0].got, &changed(&leaf).to_string());
        // Absent is never a plain value.
        prop_assert!(!matcher::matches(&value, None));
    }

    /// A draft with any other total than the flow's 33 is one difference naming the field.
    #[test]
    fn any_other_request_value_is_a_difference(total in any::<i64>().prop_filter("not 33", |t| *t != 33)) {
        let mut traffic = good();
        traffic[1].request_body = Some(json!({"totalAmount": total}).to_string());
        let diffs = judge_traffic(&scenario(), &traffic).diffs;
        prop_assert_eq!(diffs.len(), 1, "{:?}", diffs);
        prop_assert_eq!(diffs[0].step.as_str(), "draft");
        prop_assert_eq!(diffs[0].path.as_str(), "request.body.totalAmount");
        prop_assert_eq!(diffs[0].got.clone(), total.to_string());
    }

    /// A final answered with any other `redeemedPoints` than 213 is one difference; so is any
    /// other result amount.
    #[test]
    fn any_other_answer_or_result_value_is_a_difference(points in any::<i64>().prop_filter("not 213", |p| *p != 213), due in "[0-9]{1,3}\\.[0-9]{2}") {
        let mut traffic = good();
        traffic[2].response_body = Some(json!({"redeemedPoints": points}).to_string());
        let diffs = judge_traffic(&scenario(), &traffic).diffs;
        prop_assert_eq!(diffs.len(), 1, "{:?}", diffs);
        prop_assert_eq!(diffs[0].step.as_str(), "final");
        prop_assert_eq!(diffs[0].path.as_str(), "response.body.redeemedPoints");

        let diffs = judge_result(&scenario(), Some(&json!({"status": "completed", "amountDue": due})));
        if due == "30.87" {
            prop_assert!(diffs.is_empty());
        } else {
            prop_assert_eq!(diffs.len(), 1, "{:?}", diffs);
            prop_assert_eq!(diffs[0].path.as_str(), "amountDue");
        }
    }

    /// Any number of repeated finals after the flow, among tolerated reads, is that many
    /// forbidden exchanges, each named by its number.
    #[test]
    fn every_extra_forbidden_call_is_a_difference(extra in prop::collection::vec(any::<bool>(), 1..6)) {
        let mut traffic = good();
        let mut forbidden = Vec::new();
        for (i, is_final) in extra.iter().enumerate() {
            let id = 4 + i as u64;
            if *is_final {
                traffic.push(x(id, "POST", POS, r#"{"totalAmount":33}"#, 200, "{}"));
                forbidden.push(format!("exchange #{id}"));
            } else {
                traffic.push(x(id, "GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", "", 200, "{}"));
            }
        }
        let diffs = judge_traffic(&scenario(), &traffic).diffs;
        let got: Vec<String> = diffs.iter().filter(|d| d.step == "forbidden").map(|d| d.path.clone()).collect();
        prop_assert_eq!(got, forbidden);
        prop_assert!(diffs.iter().all(|d| d.step == "forbidden"), "{:?}", diffs);
    }
}

/// Leaving out any required step, or all of them, is a difference per missing step; only the
/// optional look-up may be left out.
#[test]
fn every_missing_required_step_is_a_difference() {
    for (keep, missing) in [
        (vec![0, 1], vec!["final"]),
        (vec![0, 2], vec!["draft"]),
        (vec![0], vec!["draft", "final"]),
        (vec![], vec!["draft", "final"]),
        (vec![1, 2], vec![]),
    ] {
        let traffic: Vec<Observed> = keep.iter().map(|i| good()[*i].clone()).collect();
        let judgement = judge_traffic(&scenario(), &traffic);
        let steps: Vec<&str> = judgement.diffs.iter().map(|d| d.step.as_str()).collect();
        assert_eq!(steps, missing, "traffic {keep:?}: {:?}", judgement.diffs);
        assert_eq!(judgement.missing_required, missing.len(), "traffic {keep:?}");
    }
}

/// A state that differs in the one field the flow checks, or lacks the user, is a difference;
/// any other field is not looked at.
#[test]
fn a_state_differs_only_in_what_the_flow_checks() {
    let s = scenario();
    for (points, ok) in [(62, true), (61, false), (63, false), (0, false)] {
        let state = json!({"users": [{"uniqueUserHash": "UQBUFDJALK4WXYC", "currentBonusPoints": points, "other": 1}]});
        assert_eq!(judge_state(&s, |_| Some(state.clone())).is_empty(), ok, "{points}");
    }
    let other_user = json!({"users": [{"uniqueUserHash": "K7PW2RDQ9TNS5FA", "currentBonusPoints": 62}]});
    assert_eq!(judge_state(&s, |_| Some(other_user.clone())).len(), 1);
    assert_eq!(judge_state(&s, |_| None).len(), 1, "no snapshot is a difference");
}

/// The annotated example in scenarios/README.md is a valid golden flow.
#[test]
fn the_documented_example_flow_loads() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/README.md")).unwrap();
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let scenario = parse_scenario(&readme[start..end], Path::new("scenarios/README.md"), PROVIDERS).unwrap();
    assert_eq!(scenario.exchanges.len(), 2);
    assert_eq!(scenario.forbidden.len(), 1);
    assert_eq!(scenario.state.len(), 1);
}

// Computop: the journal's decrypted view stands for the opaque `Data`, and what the Paygate sends
// to the shop (notifies, the browser return) becomes NOTIFY / RETURN exchanges.

fn entry(
    id: u64,
    view: Option<Value>,
    exchange: possim_engine::journal::Exchange,
) -> possim_engine::journal::JournalEntry {
    possim_engine::journal::JournalEntry {
        id,
        provider: "computop".into(),
        connection: 0,
        at: 0,
        duration_micros: 0,
        fault: None,
        view,
        exchange,
    }
}

fn request(method: &str, path: &str, body: &str) -> possim_engine::journal::HttpRequestRecord {
    possim_engine::journal::HttpRequestRecord {
        method: method.into(),
        path: path.into(),
        query: None,
        headers: Vec::new(),
        body: possim_engine::journal::RecordedBody::from_bytes(body.as_bytes()),
    }
}

fn response(status: u16, body: &str) -> possim_engine::journal::HttpResponseRecord {
    possim_engine::journal::HttpResponseRecord {
        status,
        headers: Vec::new(),
        body: possim_engine::journal::RecordedBody::from_bytes(body.as_bytes()),
    }
}

fn computop_traffic() -> Vec<Observed> {
    use possim_engine::journal::{Exchange, Outcome};
    let sale = entry(
        1,
        Some(json!({"request": {"MerchantID": "m", "Amount": "5500"},
            "response": {"Status": "AUTHORIZE_REQUEST", "Code": "0"}, "notes": []})),
        Exchange::Http {
            request: request("POST", "/PaybackPay.aspx", "MerchantID=m&Len=20&Data=AB12"),
            response: Some(response(200, "Len=40&Data=CD34")),
            outcome: Outcome::Answered,
            operation: None,
        },
    );
    let notify = entry(
        2,
        Some(json!({"request": {"Status": "OK", "Code": "00000000", "pointsredeemed": "500"}, "notes": []})),
        Exchange::Outbound {
            purpose: "notify".into(),
            url: "http://127.0.0.1:9/shop/notify".into(),
            attempt: 1,
            request: request("POST", "/shop/notify", "Len=40&Data=EF56"),
            response: Some(response(200, "[accepted]")),
            error: None,
        },
    );
    let lost_return = entry(
        3,
        Some(json!({"request": {"Status": "OK"}, "notes": []})),
        Exchange::Outbound {
            purpose: "success".into(),
            url: "http://127.0.0.1:9/shop/ok".into(),
            attempt: 1,
            request: request("GET", "/shop/ok", ""),
            response: None,
            error: Some("connection refused or unreachable".into()),
        },
    );
    Observed::from_journal(&[sale, notify, lost_return])
}

#[test]
fn opaque_exchanges_are_judged_by_their_decrypted_view() {
    let traffic = computop_traffic();
    assert_eq!(traffic.len(), 3);
    let sale = &traffic[0];
    assert_eq!(sale.method, "POST");
    assert!(!sale.outbound);
    assert_eq!(
        serde_json::from_str::<Value>(sale.request_body.as_deref().unwrap()).unwrap(),
        json!({"MerchantID": "m", "Amount": "5500"})
    );
    assert_eq!(
        serde_json::from_str::<Value>(sale.response_body.as_deref().unwrap()).unwrap(),
        json!({"Status": "AUTHORIZE_REQUEST", "Code": "0"})
    );
    let notify = &traffic[1];
    assert_eq!(
        (notify.method.as_str(), notify.path.as_str(), notify.status),
        ("NOTIFY", "/shop/notify", Some(200))
    );
    assert!(notify.outbound);
    assert_eq!(notify.response_body.as_deref(), Some("[accepted]"));
    assert_eq!(
        serde_json::from_str::<Value>(notify.request_body.as_deref().unwrap()).unwrap()["Code"],
        "00000000"
    );
    let ret = &traffic[2];
    assert_eq!((ret.method.as_str(), ret.status), ("RETURN", None));
}

const COMPUTOP_FLOW: &str = r#"
id = "computop-payback-pay/t"
title = "t"
providers = ["computop"]
level = "minimum"
action = { type = "computop-sale", amount = "55.00", accountId = "9876543210" }

[[exchange]]
name = "sale"
request = { method = "$regex:^(GET|POST)$", path = "/PaybackPay.aspx", body = { Amount = "5500" } }
response = { status = 200, body = { Status = "AUTHORIZE_REQUEST", Code = "0" } }

[[exchange]]
name = "the shop accepts the final notify"
request = { method = "NOTIFY", path = "$string", body = { Status = "OK", Code = "00000000" } }
response = { status = 200 }
"#;

#[test]
fn notifies_are_expected_steps_but_never_the_shops_unexpected_writes() {
    let mut s = parse_scenario(COMPUTOP_FLOW, Path::new("c.toml"), PROVIDERS).unwrap();
    let traffic = computop_traffic();
    let judgement = judge_traffic(&s, &traffic);
    assert_eq!(judgement.diffs, vec![]);
    // The unanswered browser return is nobody's step and still no "unexpected" request, under
    // every policy: the Paygate sent it, not the shop.
    assert!(!judgement.exchanges[2].problem);
    s.unexpected = possim_conformance::scenario::UnexpectedPolicy::Fail;
    assert!(judge_traffic(&s, &traffic).diffs.is_empty());
    // A shop that did not answer the notify is told so.
    let mut unanswered = traffic.clone();
    unanswered[1].status = None;
    let diffs = judge_traffic(&s, &unanswered).diffs;
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].path, "response.status");
    assert_eq!(diffs[0].got, "no answer (connection closed)");
    // A GET to the Paygate matches the method matcher; a PUT does not.
    let mut put = traffic.clone();
    put[0].method = "PUT".into();
    assert_eq!(
        judge_traffic(&s, &put).diffs[0].got,
        "not sent (at this point of the flow)"
    );
}

/// A recording keeps the terminal's customer script it was made with, so the replay's set-up
/// scripts the same customer.
#[test]
fn a_recording_keeps_the_zvt_customer() {
    let customer = json!({"pins": ["1111", "1234"], "redeemPoints": 300});
    let meta = RecordMeta {
        id: "payback/terminal".into(),
        title: "t".into(),
        level: "austria".into(),
        providers: vec!["payback".into(), "zvt".into()],
        data: None,
        clock: None,
        faults: Vec::new(),
        zvt_customer: Some(customer.clone()),
        credentials: BTreeMap::new(),
        action: json!({"type": "payback-terminal-redeem", "customer": {"card": "9999998765432108"}, "basket": "25.00", "receipt": "R1"}),
        result: None,
        snapshots: BTreeMap::new(),
    };
    let text = record::to_toml(&record::build(&meta, &[])).unwrap();
    let back = parse_scenario(&text, Path::new("t.toml"), PROVIDERS).unwrap();
    assert_eq!(back.setup.zvt_customer, Some(customer));
}

/// Whether an unexpected exchange is a write is what the provider said in the journal; without
/// an operation every method but GET and HEAD writes.
#[test]
fn the_providers_operation_decides_what_is_a_write() {
    use possim_engine::journal::Operation;
    let mut traffic = good();
    // A POST the provider calls a read (as PAYBACK does for a lookup) is tolerated...
    let mut read = x(4, "POST", "/BonusPointManagement/UserData/", "{}", 200, "{}");
    read.operation = Some(Operation::read("user.search"));
    traffic.push(read);
    assert!(judge_traffic(&scenario(), &traffic).diffs.is_empty());
    // ...a GET the provider calls a write is not.
    let mut write = x(5, "GET", "/BonusPointManagement/UserData/X", "", 200, "{}");
    write.operation = Some(Operation::write("user.touch"));
    traffic.push(write);
    let diffs = judge_traffic(&scenario(), &traffic).diffs;
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0].path, "exchange #5");
    assert_eq!(diffs[0].expected, "no further state-changing request");
}

/// The journal's operation reaches the judge from the entry.
#[test]
fn the_operation_is_read_from_the_journal_entry() {
    use possim_engine::journal::{Exchange, Operation, Outcome};
    let inquiry = entry(
        1,
        None,
        Exchange::Http {
            request: request("POST", "/inquire.aspx", "MerchantID=m&Len=20&Data=AB12"),
            response: Some(response(200, "Len=40&Data=CD34")),
            outcome: Outcome::Answered,
            operation: Some(Operation::read("inquire")),
        },
    );
    let observed = Observed::from_journal(&[inquiry]);
    assert_eq!(observed[0].operation, Some(Operation::read("inquire")));
    assert!(!observed[0].is_write());
}

/// An answer a `truncate` fault cut off reaches the report as cut off; a whole one does not.
#[test]
fn an_answer_cut_off_by_a_fault_is_marked_as_such() {
    use possim_engine::journal::{Exchange, Outcome};
    let http = |id: u64, outcome: Outcome| {
        entry(
            id,
            None,
            Exchange::Http {
                request: request("POST", "/inquire.aspx", "MerchantID=m"),
                response: Some(response(200, "Len=40&Data=CD34")),
                outcome,
                operation: None,
            },
        )
    };
    let observed = Observed::from_journal(&[http(1, Outcome::Answered), http(2, Outcome::Truncated)]);
    assert_eq!((observed[0].cut_off, observed[1].cut_off), (false, true));
    // The status the POS saw begin is kept; the report says the rest never arrived.
    assert_eq!(observed[1].status, Some(200));
}

/// ZVT commands are judged by the control field the terminal journalled; acknowledgements and
/// the terminal's own messages are not the ECR's requests.
#[test]
fn zvt_commands_are_matched_by_their_control_field() {
    use possim_engine::journal::{Exchange, JournalEntry, ZvtDirection};
    let zvt = |id: u64, direction: ZvtDirection, hex: &str| JournalEntry {
        id,
        provider: "zvt".into(),
        connection: 1,
        at: 0,
        duration_micros: 0,
        fault: None,
        view: None,
        exchange: Exchange::Zvt {
            direction,
            link: "tcp".into(),
            control: (!hex.is_empty()).then(|| hex[..5].to_owned()),
            hex: hex.into(),
            text: "decoded".into(),
        },
    };
    let entries = [
        zvt(1, ZvtDirection::EcrToPt, "06 01 07 04 00 00 00 10 00 00"),
        zvt(2, ZvtDirection::PtToEcr, "80 00 00"),
        zvt(3, ZvtDirection::PtToEcr, "04 0F 00"),
        zvt(4, ZvtDirection::EcrToPt, "80 00 00"),
        zvt(5, ZvtDirection::Note, ""),
    ];
    let observed = Observed::from_journal(&entries);
    assert_eq!(observed.len(), 1, "{observed:?}");
    assert_eq!(
        (observed[0].method.as_str(), observed[0].path.as_str()),
        ("ZVT", "06 01")
    );
    assert_eq!(
        observed[0].request_json(),
        Some(json!({"hex": "06010704000000100000", "text": "decoded"}))
    );
}

/// Exchange numbers count within the scenario, whatever journal ids an earlier scenario used up:
/// the report's table numbers the scenario's traffic the same way.
#[test]
fn exchange_numbers_count_per_scenario_not_per_journal() {
    let mut traffic = good();
    for (i, o) in traffic.iter_mut().enumerate() {
        o.id = 1000 + i as u64;
    }
    traffic.push(x(1100, "POST", POS, r#"{"totalAmount":33}"#, 200, "{}"));
    let judgement = judge_traffic(&scenario(), &traffic);
    assert_eq!(judgement.diffs.len(), 1, "{:?}", judgement.diffs);
    assert_eq!(judgement.diffs[0].path, format!("exchange #{}", traffic.len()));
    let last = judgement.exchanges.last().unwrap();
    assert_eq!((last.id, last.number), (1100, traffic.len()));
}

/// Loymax takes every command at one URL: a step that names the operation claims only requests
/// the provider classified as it, so an extra read before it (a balance) is not mistaken for it,
/// and `forbid` can name an operation too.
#[test]
fn steps_naming_an_operation_claim_only_requests_of_it() {
    let flow = r#"
id = "loymax/t"
title = "t"
providers = ["loymax"]
level = "minimum"
action = { type = "loymax-balance", identifier = { kind = "card", value = "1" } }

[[exchange]]
name = "calculate"
request = { method = "POST", path = "/XmlExchange/possim/kassa-1", operation = "calculate" }

[[exchange]]
name = "confirm"
request = { method = "POST", path = "/XmlExchange/possim/kassa-1", operation = "confirm-purchase" }

[[forbid]]
name = "no write-off"
request = { method = "POST", path = "$string", operation = "payment" }
"#;
    let scenario = parse_scenario(flow, Path::new("t.toml"), &["loymax"]).unwrap();
    let at = |id: u64, operation: &str, write: bool| Observed {
        id,
        provider: "loymax".into(),
        method: "POST".into(),
        path: "/XmlExchange/possim/kassa-1/".into(),
        status: Some(200),
        operation: Some(possim_engine::journal::Operation {
            name: operation.into(),
            write,
        }),
        ..Observed::default()
    };
    // A balance (a read) first, then the flow: passes; the step was not claimed by the balance.
    let traffic = [
        at(1, "balance", false),
        at(2, "calculate", false),
        at(3, "confirm-purchase", true),
    ];
    let judged = judge_traffic(&scenario, &traffic);
    assert!(judged.diffs.is_empty(), "{:?}", judged.diffs);
    assert_eq!(judged.exchanges[0].step, None);
    assert_eq!(judged.exchanges[1].step.as_deref(), Some("calculate"));
    // A payment between them hits the forbid rule by its operation.
    let traffic = [
        at(1, "calculate", false),
        at(2, "payment", true),
        at(3, "confirm-purchase", true),
    ];
    let judged = judge_traffic(&scenario, &traffic);
    assert_eq!(judged.diffs.len(), 1, "{:?}", judged.diffs);
    assert_eq!(judged.diffs[0].expected, "no write-off");
    // Without the confirm the step is missing, named with its operation.
    let judged = judge_traffic(&scenario, &[at(1, "calculate", false)]);
    assert_eq!(judged.diffs[0].step, "confirm");
    assert!(
        judged.diffs[0].expected.contains("(confirm-purchase)"),
        "{:?}",
        judged.diffs
    );
}

//! The judge on hand-made traffic, as unit tests (fast: `.ci/mutants judge` runs only these).
//! Expected verdicts come from scenarios/README.md ("How traffic is matched", "Exchanges no step
//! accounts for", the ZVT and Computop sections) and conformance/README.md: each rule is tested
//! both ways, so a judge that says yes too often fails as surely as one that says no.

use std::path::Path;

use possim_engine::journal::{FaultHit, HttpRequestRecord, HttpResponseRecord, Operation, Outcome, RecordedBody};
use serde_json::json;

use super::*;
use crate::scenario::parse_scenario;

const PROVIDERS: &[&str] = &["tyrios", "payback", "zvt", "computop", "loymax"];

const DRAFT: &str = "/BonusPointManagement/BonusPointTransaction/pos";

/// A TYRIOS sale flow (payback listed too, for steps of another provider) with `rest` appended.
fn flow(rest: &str) -> Scenario {
    let text = format!(
        r#"
id = "tyrios/t"
title = "t"
providers = ["tyrios", "payback"]
level = "minimum"
action = {{ type = "sale", amount = "33.00", productGroup = "Hose" }}
{rest}
"#
    );
    parse_scenario(&text, Path::new("t.toml"), PROVIDERS).unwrap()
}

/// The draft → final flow of the seed example: a required draft, a required final, no second
/// final.
fn sale() -> Scenario {
    flow(
        r#"
[[exchange]]
name = "look up"
optional = true
request = { method = "GET", path = "/BonusPointManagement/UserData/U1" }

[[exchange]]
name = "draft"
request = { method = "POST", path = "/BonusPointManagement/BonusPointTransaction/pos", query = { draft = "true" }, body = { totalAmount = 33 } }
response = { status = 200, body = { redeemedPoints = 213 } }

[[exchange]]
name = "final"
request = { method = "POST", path = "/BonusPointManagement/BonusPointTransaction/pos", query = { draft = "$absent" } }
response = { status = 200 }

[[forbid]]
name = "no second final"
request = { method = "POST", path = "/BonusPointManagement/BonusPointTransaction/pos", query = { draft = "$absent" } }
"#,
    )
}

/// A TYRIOS exchange: `target` is path and raw query; the query is decoded as the journal's is.
fn tyrios(id: u64, method: &str, target: &str) -> Observed {
    let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
    Observed {
        id,
        provider: "tyrios".into(),
        method: method.into(),
        path: path.into(),
        raw_query: query.map(str::to_owned),
        query: query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        status: Some(200),
        response_body: Some("{}".into()),
        ..Observed::default()
    }
}

fn with_bodies(mut o: Observed, request: &str, response: &str) -> Observed {
    o.request_body = Some(request.into());
    o.response_body = Some(response.into());
    o
}

/// The traffic of a correct till: look-up, draft, final.
fn good() -> Vec<Observed> {
    vec![
        tyrios(1, "GET", "/service/BonusPointManagement/UserData/U1"),
        with_bodies(
            tyrios(2, "POST", &format!("{DRAFT}?draft=true")),
            r#"{"totalAmount":33}"#,
            r#"{"redeemedPoints":213}"#,
        ),
        with_bodies(tyrios(3, "POST", DRAFT), r#"{"totalAmount":33}"#, "{}"),
    ]
}

/// `(step, path)` of every difference.
fn places(judgement: &Judgement) -> Vec<(String, String)> {
    judgement
        .diffs
        .iter()
        .map(|d| (d.step.clone(), d.path.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

fn steps(judgement: &Judgement) -> Vec<Option<&str>> {
    judgement.exchanges.iter().map(|e| e.step.as_deref()).collect()
}

#[test]
fn a_correct_till_passes_and_each_exchange_is_annotated_with_its_step() {
    let judgement = judge_traffic(&sale(), &good());
    assert_eq!(judgement.diffs, vec![]);
    assert_eq!(judgement.missing_required, 0);
    assert_eq!(steps(&judgement), [Some("look up"), Some("draft"), Some("final")]);
    assert!(judgement.exchanges.iter().all(|e| !e.problem));
    let numbers: Vec<(u64, usize)> = judgement.exchanges.iter().map(|e| (e.id, e.number)).collect();
    assert_eq!(numbers, [(1, 1), (2, 2), (3, 3)]);
    let draft = &judgement.exchanges[1];
    assert_eq!(
        (
            draft.provider.as_str(),
            draft.method.as_str(),
            draft.target.as_str(),
            draft.status
        ),
        (
            "tyrios",
            "POST",
            "/BonusPointManagement/BonusPointTransaction/pos?draft=true",
            Some(200)
        )
    );
    assert_eq!(draft.request_body.as_deref(), Some(r#"{"totalAmount":33}"#));
    assert_eq!(draft.response_body.as_deref(), Some(r#"{"redeemedPoints":213}"#));
}

#[test]
fn a_missing_required_step_is_a_difference_a_missing_optional_one_is_not() {
    let judgement = judge_traffic(&sale(), &good()[1..]);
    assert_eq!(judgement.diffs, vec![]);
    let judgement = judge_traffic(&sale(), &[good()[0].clone()]);
    assert_eq!(places(&judgement), pairs(&[("draft", "request"), ("final", "request")]));
    assert_eq!(judgement.missing_required, 2);
    assert_eq!(judgement.diffs[0].got, "not sent (at this point of the flow)");
    assert_eq!(
        judgement.diffs[0].expected,
        "POST /BonusPointManagement/BonusPointTransaction/pos with query draft=\"true\""
    );
    assert_eq!(
        judgement.diffs[1].expected,
        "POST /BonusPointManagement/BonusPointTransaction/pos with query draft=\"$absent\""
    );
    let judgement = judge_traffic(
        &flow("[[exchange]]\nname = \"look\"\nrequest = { method = \"GET\", path = \"/x\" }"),
        &[],
    );
    assert_eq!(
        judgement.diffs[0].expected, "GET /x",
        "no query, no operation: the request line only"
    );
}

#[test]
fn steps_claim_in_order_so_a_step_before_its_predecessors_exchange_is_missing() {
    // The final before the draft: the draft step claims the draft; no final follows it, so the
    // final step is missing and the early final is a forbidden extra.
    let mut traffic = good();
    traffic.swap(1, 2);
    let judgement = judge_traffic(&sale(), &traffic);
    assert_eq!(
        places(&judgement),
        pairs(&[("final", "request"), ("forbidden", "exchange #2")])
    );
    assert_eq!(steps(&judgement), [Some("look up"), Some("forbidden"), Some("draft")]);
    assert_eq!(judgement.missing_required, 1);
}

#[test]
fn an_exchange_is_claimed_by_one_step_only() {
    let twice = flow(
        r#"
[[exchange]]
name = "first read"
request = { method = "GET", path = "/a" }

[[exchange]]
name = "second read"
request = { method = "GET", path = "/a" }
"#,
    );
    let judgement = judge_traffic(&twice, &[tyrios(1, "GET", "/a")]);
    assert_eq!(places(&judgement), pairs(&[("second read", "request")]));
    let judgement = judge_traffic(&twice, &[tyrios(1, "GET", "/a"), tyrios(2, "GET", "/a")]);
    assert_eq!(judgement.diffs, vec![]);
    assert_eq!(steps(&judgement), [Some("first read"), Some("second read")]);
    // A step skips what does not match it and claims the first match after the previous step's.
    let traffic = [tyrios(1, "GET", "/b"), tyrios(2, "GET", "/a"), tyrios(3, "GET", "/a")];
    let judgement = judge_traffic(&twice, &traffic);
    assert_eq!(judgement.diffs, vec![]);
    assert_eq!(steps(&judgement), [None, Some("first read"), Some("second read")]);
}

#[test]
fn provider_method_path_and_query_all_decide_which_exchange_a_step_claims() {
    let one = |request: &str| flow(&format!("[[exchange]]\nname = \"s\"\nrequest = {request}"));
    let claims = |s: &Scenario, o: Observed| judge_traffic(s, &[o]).missing_required == 0;
    let get = one(r#"{ method = "GET", path = "/a/b" }"#);
    assert!(claims(&get, tyrios(1, "GET", "/a/b")));
    assert!(claims(&get, tyrios(1, "get", "/a/b")), "methods compare without case");
    assert!(!claims(&get, tyrios(1, "POST", "/a/b")));
    assert!(!claims(&get, tyrios(1, "GET", "/a/c")));
    assert!(!claims(&get, tyrios(1, "POST", "/a/c")));
    // TYRIOS paths with or without the /service root and a trailing slash.
    assert!(claims(&get, tyrios(1, "GET", "/service/a/b/")));
    let mut payback = tyrios(1, "GET", "/a/b");
    payback.provider = "payback".into();
    assert!(!claims(&get, payback.clone()), "another provider's request");
    let on_payback =
        flow("[[exchange]]\nname = \"s\"\nprovider = \"payback\"\nrequest = { method = \"GET\", path = \"/a/b\" }");
    assert!(claims(&on_payback, payback));
    assert!(!claims(&on_payback, tyrios(1, "GET", "/a/b")));
    // Matchers in the request line.
    let any_path = one(r#"{ method = "$regex:^(GET|POST)$", path = "$regex:^/a/" }"#);
    assert!(claims(&any_path, tyrios(1, "POST", "/a/x")));
    assert!(!claims(&any_path, tyrios(1, "PUT", "/a/x")));
    assert!(!claims(&any_path, tyrios(1, "GET", "/b/x")));
    // Named query parameters must match, decoded; others are free.
    let draft = one(r#"{ method = "POST", path = "/p", query = { draft = "true" } }"#);
    assert!(claims(&draft, tyrios(1, "POST", "/p?x=1&draft=true")));
    assert!(!claims(&draft, tyrios(1, "POST", "/p?draft=false&x=true")));
    assert!(!claims(&draft, tyrios(1, "POST", "/p")));
    assert!(
        !claims(&draft, tyrios(1, "POST", "/q?draft=true")),
        "the query does not make up for the path"
    );
    let absent = one(r#"{ method = "POST", path = "/p", query = { draft = "$absent" } }"#);
    assert!(claims(&absent, tyrios(1, "POST", "/p?x=1")));
    assert!(!claims(&absent, tyrios(1, "POST", "/p?draft=")));
}

#[test]
fn a_step_naming_an_operation_claims_only_requests_of_it() {
    let s = flow(
        r#"
[[exchange]]
name = "final"
request = { method = "POST", path = "/p", operation = "pos.final" }
"#,
    );
    let at = |operation: Option<Operation>| Observed {
        operation,
        ..tyrios(1, "POST", "/p")
    };
    let claims = |o: Observed| judge_traffic(&s, &[o]).missing_required == 0;
    assert!(claims(at(Some(Operation::write("pos.final")))));
    assert!(!claims(at(Some(Operation::write("pos.draft")))));
    assert!(
        !claims(at(None)),
        "a request the provider did not name is not that operation"
    );
}

#[test]
fn headers_bodies_and_answers_of_a_claimed_exchange_are_compared_field_by_field() {
    let s = flow(
        r#"
[[exchange]]
name = "book"
request = { method = "POST", path = "/p", headers = { content-type = "$regex:^application/json" }, body = { total = 33, mode = "HASH" } }
response = { status = 200, body = { points = 213 } }
"#,
    );
    let mut ok = with_bodies(
        tyrios(1, "POST", "/p"),
        r#"{"total":33.0,"mode":"HASH","x":1}"#,
        r#"{"points":213}"#,
    );
    ok.headers = vec![("Content-Type".into(), "application/json; charset=utf-8".into())];
    let judgement = judge_traffic(&s, std::slice::from_ref(&ok));
    assert_eq!(judgement.diffs, vec![]);
    assert!(!judgement.exchanges[0].problem);

    let mut bad = ok.clone();
    bad.headers = vec![("content-type".into(), "text/plain".into())];
    bad.request_body = Some(r#"{"total":"33","mode":"HASH"}"#.into());
    bad.response_body = Some(r#"{"points":212}"#.into());
    let judgement = judge_traffic(&s, &[bad]);
    let got: Vec<(&str, &str, &str)> = judgement
        .diffs
        .iter()
        .map(|d| (d.path.as_str(), d.expected.as_str(), d.got.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "request.headers.content-type",
                "a string matching /^application/json/",
                "\"text/plain\""
            ),
            ("request.body.total", "33", "\"33\""),
            ("response.body.points", "213", "212"),
        ]
    );
    assert!(judgement.diffs.iter().all(|d| d.step == "book"));
    assert!(judgement.exchanges[0].problem);
    assert_eq!(judgement.exchanges[0].step.as_deref(), Some("book"));

    let mut no_header = ok;
    no_header.headers.clear();
    let judgement = judge_traffic(&s, &[no_header]);
    assert_eq!(
        (judgement.diffs[0].path.as_str(), judgement.diffs[0].got.as_str()),
        ("request.headers.content-type", "absent")
    );
}

#[test]
fn a_different_status_is_the_one_difference_with_the_providers_message() {
    let s = flow(
        r#"
[[exchange]]
name = "book"
request = { method = "POST", path = "/p" }
response = { status = 200, body = { points = 213 } }
"#,
    );
    let refused = |answer: &str| Observed {
        status: Some(400),
        response_body: Some(answer.into()),
        ..tyrios(1, "POST", "/p")
    };
    let judgement = judge_traffic(&s, &[refused(r#"{"message":"Nicht genügend Punkte","points":1}"#)]);
    assert_eq!(judgement.diffs.len(), 1, "{:?}", judgement.diffs);
    let d = &judgement.diffs[0];
    assert_eq!(
        (d.step.as_str(), d.path.as_str(), d.expected.as_str(), d.got.as_str()),
        ("book", "response.status", "200", "400: Nicht genügend Punkte")
    );
    assert!(judgement.exchanges[0].problem);
    assert_eq!(judge_traffic(&s, &[refused("{}")]).diffs[0].got, "400");
    assert_eq!(judge_traffic(&s, &[refused("not json")]).diffs[0].got, "400");
    let unanswered = Observed {
        status: None,
        response_body: None,
        ..tyrios(1, "POST", "/p")
    };
    let diffs = judge_traffic(&s, std::slice::from_ref(&unanswered)).diffs;
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].got, "no answer (connection closed)");
    // `status = 0` expects exactly that: no answer.
    let lost = flow(
        "[[exchange]]\nname = \"lost\"\nrequest = { method = \"POST\", path = \"/p\" }\nresponse = { status = 0 }",
    );
    assert_eq!(judge_traffic(&lost, &[unanswered]).diffs, vec![]);
    let diffs = judge_traffic(&lost, &[tyrios(1, "POST", "/p")]).diffs;
    assert_eq!(
        (diffs[0].expected.as_str(), diffs[0].got.as_str()),
        ("no answer (connection closed)", "200")
    );
}

#[test]
fn an_answer_without_status_in_the_step_is_compared_by_its_body() {
    let s = flow(
        r#"
[[exchange]]
name = "book"
request = { method = "POST", path = "/p" }
response = { body = { points = 213 } }
"#,
    );
    let answer = |status: u16, body: &str| Observed {
        status: Some(status),
        response_body: Some(body.into()),
        ..tyrios(1, "POST", "/p")
    };
    assert_eq!(judge_traffic(&s, &[answer(201, r#"{"points":213}"#)]).diffs, vec![]);
    let diffs = judge_traffic(&s, &[answer(200, r#"{"points":1}"#)]).diffs;
    assert_eq!(places_of(&diffs), [("book", "response.body.points")]);
}

fn places_of(diffs: &[Diff]) -> Vec<(&str, &str)> {
    diffs.iter().map(|d| (d.step.as_str(), d.path.as_str())).collect()
}

#[test]
fn a_plain_string_body_is_compared_as_raw_text() {
    let step = |body: &str| {
        flow(&format!(
            "[[exchange]]\nname = \"form\"\nrequest = {{ method = \"POST\", path = \"/p\", body = {body} }}"
        ))
    };
    let sent = |body: Option<&str>| Observed {
        request_body: body.map(str::to_owned),
        ..tyrios(1, "POST", "/p")
    };
    let form = step(r#""MerchantID=m&Len=20""#);
    assert_eq!(judge_traffic(&form, &[sent(Some("MerchantID=m&Len=20"))]).diffs, vec![]);
    let diffs = judge_traffic(&form, &[sent(Some("MerchantID=x&Len=20"))]).diffs;
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        (
            diffs[0].step.as_str(),
            diffs[0].path.as_str(),
            diffs[0].expected.as_str(),
            diffs[0].got.as_str()
        ),
        (
            "form",
            "request.body",
            "\"MerchantID=m&Len=20\"",
            "\"MerchantID=x&Len=20\""
        )
    );
    assert_eq!(judge_traffic(&form, &[sent(None)]).diffs[0].got, "absent");
    // `$$` is a literal dollar in a raw body too.
    let dollar = step(r#""$$5 off""#);
    assert_eq!(judge_traffic(&dollar, &[sent(Some("$5 off"))]).diffs, vec![]);
    let diffs = judge_traffic(&dollar, &[sent(Some("$$5 off"))]).diffs;
    assert_eq!(diffs[0].expected, "\"$5 off\"");
    // A JSON string body is not compared as raw text: `"x"` sent is not the text x.
    assert_eq!(
        judge_traffic(&form, &[sent(Some("\"MerchantID=m&Len=20\""))])
            .diffs
            .len(),
        1
    );
}

#[test]
fn a_whole_body_matcher_reads_a_form_body_as_text() {
    let s = flow(
        "[[exchange]]\nname = \"book\"\nrequest = { method = \"POST\", path = \"/p\", body = \"$regex:^total=[0-9]+$\" }",
    );
    let sent = |body: &str| Observed {
        request_body: Some(body.to_owned()),
        ..tyrios(1, "POST", "/p")
    };
    assert!(judge_traffic(&s, &[sent("total=33")]).diffs.is_empty());
    let diffs = judge_traffic(&s, &[sent("total=x")]).diffs;
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        (diffs[0].path.as_str(), diffs[0].got.as_str()),
        ("request.body", "\"total=x\"")
    );
}

#[test]
fn a_json_body_must_be_json() {
    let s =
        flow("[[exchange]]\nname = \"book\"\nrequest = { method = \"POST\", path = \"/p\", body = { total = 33 } }");
    let sent = |body: Option<&str>| Observed {
        request_body: body.map(str::to_owned),
        ..tyrios(1, "POST", "/p")
    };
    let diffs = judge_traffic(&s, &[sent(Some("total=33"))]).diffs;
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        (
            diffs[0].path.as_str(),
            diffs[0].expected.as_str(),
            diffs[0].got.as_str()
        ),
        ("request.body", "a JSON body", "\"total=33\"")
    );
    let diffs = judge_traffic(&s, &[sent(None)]).diffs;
    assert_eq!(
        (
            diffs[0].path.as_str(),
            diffs[0].expected.as_str(),
            diffs[0].got.as_str()
        ),
        ("request.body", "{\"total\":33}", "absent")
    );
    // A matcher as the whole body applies to the parsed body, or to its absence.
    let none =
        flow("[[exchange]]\nname = \"read\"\nrequest = { method = \"POST\", path = \"/p\", body = \"$absent\" }");
    assert_eq!(judge_traffic(&none, &[sent(None)]).diffs, vec![]);
    assert_eq!(judge_traffic(&none, &[sent(Some("{}"))]).diffs.len(), 1);
    let object =
        flow("[[exchange]]\nname = \"read\"\nrequest = { method = \"POST\", path = \"/p\", body = \"$object\" }");
    assert_eq!(judge_traffic(&object, &[sent(Some(r#"{"a":1}"#))]).diffs, vec![]);
    assert_eq!(judge_traffic(&object, &[sent(Some("[1]"))]).diffs.len(), 1);
}

#[test]
fn every_repeated_final_is_forbidden_and_extra_reads_are_tolerated() {
    let mut traffic = good();
    traffic.push(tyrios(4, "GET", "/BonusPointManagement/UserData/U1"));
    traffic.push(tyrios(5, "POST", &format!("{DRAFT}?x=1")));
    traffic.push(tyrios(6, "POST", &format!("{DRAFT}?draft=true")));
    let judgement = judge_traffic(&sale(), &traffic);
    // #6 is a second draft: not forbidden, but a POST without an operation is a write.
    assert_eq!(
        places(&judgement),
        pairs(&[("forbidden", "exchange #5"), ("unexpected", "exchange #6")])
    );
    let forbidden = &judgement.diffs[0];
    assert_eq!(forbidden.expected, "no second final");
    assert_eq!(
        forbidden.got,
        "POST /BonusPointManagement/BonusPointTransaction/pos?x=1"
    );
    assert_eq!(
        steps(&judgement),
        [
            Some("look up"),
            Some("draft"),
            Some("final"),
            None,
            Some("forbidden"),
            Some("unexpected")
        ]
    );
    let problems: Vec<bool> = judgement.exchanges.iter().map(|e| e.problem).collect();
    assert_eq!(problems, [false, false, false, false, true, true]);
}

#[test]
fn a_forbid_rule_with_a_body_hits_only_requests_with_that_body() {
    let s = flow(
        r#"
unexpected = "allow"

[[forbid]]
name = "no refund"
request = { method = "POST", path = "/p", body = { kind = "refund" } }

[[forbid]]
name = "nothing to payback"
provider = "payback"
request = { method = "POST", path = "$string" }
"#,
    );
    let sent = |id: u64, body: &str| with_bodies(tyrios(id, "POST", "/p"), body, "{}");
    let mut payback = sent(3, "{}");
    payback.provider = "payback".into();
    let judgement = judge_traffic(
        &s,
        &[
            sent(1, r#"{"kind":"refund"}"#),
            sent(2, r#"{"kind":"sale"}"#),
            payback,
            sent(4, "kind=refund"),
        ],
    );
    let hits: Vec<(&str, &str)> = judgement
        .diffs
        .iter()
        .map(|d| (d.path.as_str(), d.expected.as_str()))
        .collect();
    assert_eq!(
        hits,
        [("exchange #1", "no refund"), ("exchange #3", "nothing to payback")]
    );
}

/// A `forbid` rule reads a plain string body as raw text, as a step does: a form body (the
/// Computop Paygate's) is never JSON, so compared as JSON the rule could never fire.
#[test]
fn a_forbid_rule_with_a_form_body_hits_that_form() {
    let s = flow(
        r#"
unexpected = "allow"

[[forbid]]
name = "no second capture"
request = { method = "POST", path = "/capture.aspx", body = "MerchantID=m&Len=20" }
"#,
    );
    let sent = |id: u64, body: &str| with_bodies(tyrios(id, "POST", "/capture.aspx"), body, "");
    let judgement = judge_traffic(&s, &[sent(1, "MerchantID=m&Len=20"), sent(2, "MerchantID=m&Len=21")]);
    assert_eq!(places(&judgement), pairs(&[("forbidden", "exchange #1")]));
}

#[test]
fn a_claimed_exchange_is_never_forbidden_nor_unexpected() {
    // The final matches the forbid rule too, but its step accounts for it.
    let mut s = sale();
    s.unexpected = UnexpectedPolicy::Fail;
    let judgement = judge_traffic(&s, &good());
    assert_eq!(judgement.diffs, vec![]);
}

#[test]
fn the_unexpected_policy_judges_what_no_step_or_rule_accounts_for() {
    let mut traffic = good();
    traffic.push(tyrios(4, "POST", "/BonusPointManagement/UserData/?q=1"));
    traffic.push(Observed {
        status: None,
        ..tyrios(5, "GET", "/BonusPointManagement/UserData/X")
    });
    traffic.push(tyrios(6, "HEAD", "/x"));
    let mut s = sale();
    let judgement = judge_traffic(&s, &traffic);
    assert_eq!(places(&judgement), pairs(&[("unexpected", "exchange #4")]));
    let d = &judgement.diffs[0];
    assert_eq!(
        (d.expected.as_str(), d.got.as_str()),
        (
            "no further state-changing request",
            "POST /BonusPointManagement/UserData/?q=1 → 200"
        )
    );
    assert_eq!(steps(&judgement)[3..], [Some("unexpected"), None, None]);

    s.unexpected = UnexpectedPolicy::Fail;
    let judgement = judge_traffic(&s, &traffic);
    assert_eq!(
        places(&judgement),
        pairs(&[
            ("unexpected", "exchange #4"),
            ("unexpected", "exchange #5"),
            ("unexpected", "exchange #6")
        ])
    );
    let read = &judgement.diffs[1];
    assert_eq!(
        (read.expected.as_str(), read.got.as_str()),
        ("no further request", "GET /BonusPointManagement/UserData/X")
    );
    let problems: Vec<bool> = judgement.exchanges.iter().map(|e| e.problem).collect();
    assert_eq!(problems, [false, false, false, true, true, true]);

    s.unexpected = UnexpectedPolicy::Allow;
    let judgement = judge_traffic(&s, &traffic);
    assert_eq!(judgement.diffs, vec![]);
    assert!(judgement.exchanges.iter().all(|e| !e.problem));
}

#[test]
fn what_is_a_write_is_the_providers_word_else_every_method_but_get_and_head() {
    let with = |method: &str, operation: Option<Operation>| Observed {
        operation,
        ..tyrios(1, method, "/x")
    };
    assert!(!with("GET", None).is_write());
    assert!(!with("get", None).is_write());
    assert!(!with("HEAD", None).is_write());
    assert!(!with("head", None).is_write());
    for method in ["POST", "PUT", "DELETE", "PATCH", "ZVT"] {
        assert!(with(method, None).is_write(), "{method}");
    }
    assert!(!with("POST", Some(Operation::read("user.search"))).is_write());
    assert!(with("GET", Some(Operation::write("user.touch"))).is_write());
}

#[test]
fn what_the_provider_sends_to_the_shop_is_never_the_shops_unexpected_request() {
    let mut s = sale();
    s.unexpected = UnexpectedPolicy::Fail;
    let mut traffic = good();
    traffic.push(Observed {
        outbound: true,
        ..tyrios(4, "NOTIFY", "/shop/notify")
    });
    let judgement = judge_traffic(&s, &traffic);
    assert_eq!(judgement.diffs, vec![]);
    assert!(!judgement.exchanges[3].problem);
    assert_eq!(judgement.exchanges[3].step, None);
}

#[test]
fn other_providers_traffic_is_left_out() {
    let mut s = sale();
    s.providers = vec!["tyrios".into()];
    s.unexpected = UnexpectedPolicy::Fail;
    let mut traffic = good();
    let mut other = tyrios(4, "POST", DRAFT);
    other.provider = "computop".into();
    traffic.insert(0, other);
    let judgement = judge_traffic(&s, &traffic);
    assert_eq!(judgement.diffs, vec![]);
    assert_eq!(judgement.exchanges.len(), 3);
    assert_eq!(judgement.exchanges[0].number, 1);
}

#[test]
fn the_report_shows_fault_cut_off_and_bodies_of_each_exchange() {
    let mut s = sale();
    s.unexpected = UnexpectedPolicy::Allow;
    let cut = Observed {
        fault: Some("lose it (truncate)".into()),
        cut_off: true,
        request_body: Some("a".into()),
        response_body: Some("b".into()),
        ..tyrios(9, "GET", "/x?y=1")
    };
    let judgement = judge_traffic(&s, &[cut]);
    let e = &judgement.exchanges[0];
    assert_eq!(
        (e.id, e.number, e.target.as_str(), e.fault.as_deref(), e.cut_off),
        (9, 1, "/x?y=1", Some("lose it (truncate)"), true)
    );
    assert_eq!(
        (e.request_body.as_deref(), e.response_body.as_deref()),
        (Some("a"), Some("b"))
    );
}

#[test]
fn results_are_compared_with_the_whole_answer_named_when_it_is_missing() {
    let s = flow("[result]\nstatus = \"completed\"\namountDue = \"30.87\"");
    assert_eq!(
        judge_result(&s, Some(&json!({"status": "completed", "amountDue": "30.87", "x": 1}))),
        vec![]
    );
    let diffs = judge_result(&s, Some(&json!({"status": "completed", "amountDue": 30.87})));
    assert_eq!(places_of(&diffs), [("result", "amountDue")]);
    let diffs = judge_result(&s, None);
    assert_eq!(places_of(&diffs), [("result", "(the whole answer)")]);
    assert_eq!(diffs[0].got, "absent");
    let diffs = judge_result(&s, Some(&json!("completed")));
    assert_eq!(places_of(&diffs), [("result", "(the whole answer)")]);
    // A flow without a result accepts any answer, or none.
    assert_eq!(judge_result(&sale(), None), vec![]);
    assert_eq!(judge_result(&sale(), Some(&json!(1))), vec![]);
}

fn points_check(extra: &str) -> Scenario {
    flow(&format!(
        "[[state]]\nname = \"points\"\ncollection = \"users\"\nwhere = {{ hash = \"U1\" }}\n{extra}"
    ))
}

#[test]
fn a_state_check_compares_every_selected_element() {
    let s = points_check("expect = { points = 62 }");
    let state = |users: Value| move |_: &str| Some(json!({ "users": users.clone() }));
    assert_eq!(
        judge_state(
            &s,
            state(json!([{"hash": "U1", "points": 62, "x": 1}, {"hash": "U2", "points": 1}]))
        ),
        vec![]
    );
    let diffs = judge_state(&s, state(json!([{"hash": "U1", "points": 61}])));
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        (
            diffs[0].step.as_str(),
            diffs[0].path.as_str(),
            diffs[0].expected.as_str(),
            diffs[0].got.as_str()
        ),
        ("state: points", "users where {\"hash\":\"U1\"}.points", "62", "61")
    );
    // Two selected elements: each is compared, and named by its index.
    let diffs = judge_state(
        &s,
        state(json!([{"hash": "U1", "points": 62}, {"hash": "U1", "points": 5}])),
    );
    assert_eq!(
        places_of(&diffs),
        [("state: points", "users where {\"hash\":\"U1\"}[1].points")]
    );
    // None selected: at least one must be.
    let diffs = judge_state(&s, state(json!([{"hash": "U2", "points": 62}])));
    assert_eq!(
        (
            diffs[0].path.as_str(),
            diffs[0].expected.as_str(),
            diffs[0].got.as_str()
        ),
        ("users where {\"hash\":\"U1\"}", "at least one element", "none")
    );
    assert_eq!(diffs.len(), 1);
}

#[test]
fn a_state_count_is_exact() {
    let s = points_check("count = 1");
    let state = |users: Value| move |_: &str| Some(json!({ "users": users.clone() }));
    assert_eq!(judge_state(&s, state(json!([{"hash": "U1"}, {"hash": "U2"}]))), vec![]);
    for users in [json!([]), json!([{"hash": "U1"}, {"hash": "U1"}])] {
        let diffs = judge_state(&s, state(users.clone()));
        assert_eq!(diffs.len(), 1, "{users}");
        assert_eq!(diffs[0].expected, "1 element(s)");
        assert_eq!(diffs[0].path, "users where {\"hash\":\"U1\"}");
    }
    assert_eq!(judge_state(&s, state(json!([])))[0].got, "0 element(s)");
    // `count = 0` with `expect`: none selected is what was asked, not "at least one".
    let none = points_check("count = 0\nexpect = { points = 1 }");
    assert_eq!(judge_state(&none, state(json!([{"hash": "U2"}]))), vec![]);
    let diffs = judge_state(&none, state(json!([{"hash": "U1", "points": 2}])));
    assert_eq!(
        places_of(&diffs),
        [
            ("state: points", "users where {\"hash\":\"U1\"}"),
            ("state: points", "users where {\"hash\":\"U1\"}.points")
        ]
    );
    // Without `where` every element is selected, and the path is the collection's.
    let all = flow("[[state]]\nname = \"all\"\ncollection = \"users\"\ncount = 2");
    let diffs = judge_state(&all, state(json!([{"hash": "U1"}])));
    assert_eq!(places_of(&diffs), [("state: all", "users")]);
    assert_eq!(
        judge_state(&all, state(json!([{"hash": "U1"}, {"hash": "U2"}]))),
        vec![]
    );
}

#[test]
fn a_state_check_without_a_snapshot_or_list_is_a_difference() {
    let s = points_check("expect = { points = 62 }");
    let diffs = judge_state(&s, |_| None);
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        (
            diffs[0].path.as_str(),
            diffs[0].expected.as_str(),
            diffs[0].got.as_str()
        ),
        ("tyrios", "a state snapshot", "none (provider not running)")
    );
    for snapshot in [json!({}), json!({"users": {"hash": "U1"}})] {
        let diffs = judge_state(&s, |_| Some(snapshot.clone()));
        assert_eq!(diffs.len(), 1, "{snapshot}");
        assert_eq!(
            (
                diffs[0].path.as_str(),
                diffs[0].expected.as_str(),
                diffs[0].got.as_str()
            ),
            ("users", "a list in the provider state", "absent")
        );
    }
    // Each check asks its own provider's snapshot, the scenario's first by default.
    let s = flow(
        "[[state]]\nname = \"a\"\ncollection = \"users\"\ncount = 0\n[[state]]\nname = \"b\"\nprovider = \"payback\"\ncollection = \"users\"\ncount = 0",
    );
    let asked = std::cell::RefCell::new(Vec::new());
    let diffs = judge_state(&s, |provider| {
        asked.borrow_mut().push(provider.to_owned());
        None
    });
    assert_eq!(asked.into_inner(), ["tyrios", "payback"]);
    assert_eq!(places_of(&diffs), [("state: a", "tyrios"), ("state: b", "payback")]);
}

// From the journal to what the judge compares.

fn entry(id: u64, provider: &str, exchange: Exchange) -> JournalEntry {
    JournalEntry {
        id,
        provider: provider.into(),
        connection: 0,
        at: 0,
        duration_micros: 0,
        fault: None,
        view: None,
        exchange,
    }
}

fn request(method: &str, path: &str, query: Option<&str>, body: &[u8]) -> HttpRequestRecord {
    HttpRequestRecord {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_owned),
        headers: vec![("X-Till".into(), "1".into())],
        body: RecordedBody::from_bytes(body),
    }
}

fn response(status: u16, body: &str) -> HttpResponseRecord {
    HttpResponseRecord {
        status,
        headers: Vec::new(),
        body: RecordedBody::from_bytes(body.as_bytes()),
    }
}

fn http(id: u64, request: HttpRequestRecord, response: Option<HttpResponseRecord>, outcome: Outcome) -> JournalEntry {
    entry(
        id,
        "tyrios",
        Exchange::Http {
            request,
            response,
            outcome,
            operation: None,
        },
    )
}

#[test]
fn http_entries_become_exchanges_in_journal_order() {
    let mut faulted = http(
        2,
        request("POST", "/p", Some("a=1&b=x%20y+z&flag&&c="), br#"{"n":1}"#),
        Some(response(201, r#"{"ok":true}"#)),
        Outcome::Answered,
    );
    faulted.fault = Some(FaultHit {
        rule: 7,
        name: Some("slow".into()),
        action: "delay".into(),
        note: None,
    });
    let mut unnamed = http(
        1,
        request("GET", "/q", None, b""),
        Some(response(200, "")),
        Outcome::Answered,
    );
    unnamed.fault = Some(FaultHit {
        rule: 3,
        name: None,
        action: "close".into(),
        note: None,
    });
    let observed = Observed::from_journal(&[faulted, unnamed]);
    let ids: Vec<u64> = observed.iter().map(|o| o.id).collect();
    assert_eq!(ids, [1, 2], "sorted by journal id");
    let o = &observed[1];
    assert_eq!(
        (
            o.provider.as_str(),
            o.method.as_str(),
            o.path.as_str(),
            o.raw_query.as_deref()
        ),
        ("tyrios", "POST", "/p", Some("a=1&b=x%20y+z&flag&&c="))
    );
    let query: Vec<(&str, &str)> = o.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(query, [("a", "1"), ("b", "x y z"), ("flag", ""), ("c", "")]);
    assert_eq!(o.headers, [("X-Till".to_owned(), "1".to_owned())]);
    assert_eq!(o.request_body.as_deref(), Some(r#"{"n":1}"#));
    assert_eq!(o.request_json(), Some(json!({"n": 1})));
    assert_eq!(
        (o.status, o.response_body.as_deref()),
        (Some(201), Some(r#"{"ok":true}"#))
    );
    assert_eq!(o.fault.as_deref(), Some("slow (delay)"));
    assert!(!o.outbound && !o.cut_off);
    let empty = &observed[0];
    assert_eq!(empty.fault.as_deref(), Some("rule 3 (close)"));
    assert_eq!(
        (empty.request_body.as_deref(), empty.response_body.as_deref()),
        (None, None),
        "empty bodies"
    );
    assert_eq!(empty.request_json(), None);
    assert!(empty.query.is_empty());
    let mut target = empty.clone();
    assert_eq!(target.target(), "/q");
    target.raw_query = Some("x=1".into());
    assert_eq!(target.target(), "/q?x=1");
}

#[test]
fn a_closed_connection_has_no_status_a_truncated_answer_is_cut_off() {
    let at = |outcome: Outcome| http(1, request("POST", "/p", None, b"x"), Some(response(200, "{}")), outcome);
    let closed = &Observed::from_journal(&[at(Outcome::ConnectionClosed)])[0];
    assert_eq!((closed.status, closed.cut_off), (None, false));
    let cut = &Observed::from_journal(&[at(Outcome::Truncated)])[0];
    assert_eq!((cut.status, cut.cut_off), (Some(200), true));
    let whole = &Observed::from_journal(&[at(Outcome::Answered)])[0];
    assert_eq!((whole.status, whole.cut_off), (Some(200), false));
    let none = &Observed::from_journal(&[http(
        1,
        request("POST", "/p", None, b"x"),
        None,
        Outcome::ConnectionClosed,
    )])[0];
    assert_eq!((none.status, none.response_body.as_deref()), (None, None));
}

#[test]
fn a_binary_body_is_shown_as_base64() {
    let binary = http(1, request("POST", "/p", None, &[0xff, 0xfe]), None, Outcome::Answered);
    let o = &Observed::from_journal(&[binary])[0];
    assert_eq!(o.request_body.as_deref(), Some("(binary, base64) //4="));
}

#[test]
fn an_opaque_exchange_is_judged_by_its_decrypted_view() {
    let mut sale = http(
        1,
        request("POST", "/PaybackPay.aspx", None, b"Len=20&Data=AB12"),
        Some(response(200, "Len=40&Data=CD34")),
        Outcome::Answered,
    );
    sale.view = Some(json!({"request": {"Amount": "5500"}, "response": {"Code": "0"}, "notes": []}));
    let o = &Observed::from_journal(&[sale.clone()])[0];
    assert_eq!(o.request_json(), Some(json!({"Amount": "5500"})));
    assert_eq!(o.response_json(), Some(json!({"Code": "0"})));
    // A null or missing part of the view leaves the raw body.
    sale.view = Some(json!({"request": null, "notes": []}));
    let o = &Observed::from_journal(&[sale.clone()])[0];
    assert_eq!(o.request_body.as_deref(), Some("Len=20&Data=AB12"));
    assert_eq!(o.response_body.as_deref(), Some("Len=40&Data=CD34"));
    // No answer: no view of one either.
    sale.view = Some(json!({"request": {"Amount": "5500"}, "response": {"Code": "0"}}));
    if let Exchange::Http { response, .. } = &mut sale.exchange {
        *response = None;
    }
    let o = &Observed::from_journal(&[sale])[0];
    assert_eq!(o.response_body, None);
}

fn outbound_entry(id: u64, purpose: &str, answer: Option<HttpResponseRecord>) -> JournalEntry {
    let mut e = entry(
        id,
        "computop",
        Exchange::Outbound {
            purpose: purpose.into(),
            url: "http://127.0.0.1:9/shop".into(),
            attempt: 1,
            request: request("POST", "/shop/notify", None, b"Len=4&Data=EF"),
            response: answer,
            error: None,
        },
    );
    e.view = Some(json!({"request": {"Status": "OK"}}));
    e.fault = Some(FaultHit {
        rule: 1,
        name: None,
        action: "drop".into(),
        note: None,
    });
    e
}

#[test]
fn notifies_and_browser_returns_are_the_providers_own_messages() {
    let observed = Observed::from_journal(&[
        outbound_entry(1, "notify", Some(response(200, "[accepted]"))),
        outbound_entry(2, "success", None),
        outbound_entry(3, "failure", Some(response(500, ""))),
    ]);
    let seen: Vec<(u64, &str, &str, Option<u16>, bool)> = observed
        .iter()
        .map(|o| (o.id, o.method.as_str(), o.path.as_str(), o.status, o.outbound))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "NOTIFY", "/shop/notify", Some(200), true),
            (2, "RETURN", "/shop/notify", None, true),
            (3, "RETURN", "/shop/notify", Some(500), true)
        ]
    );
    let notify = &observed[0];
    assert_eq!(notify.request_json(), Some(json!({"Status": "OK"})));
    assert_eq!(notify.response_body.as_deref(), Some("[accepted]"));
    assert_eq!(notify.headers, [("X-Till".to_owned(), "1".to_owned())]);
    assert_eq!(notify.fault.as_deref(), Some("rule 1 (drop)"));
    assert_eq!(notify.provider, "computop");
    // Without a view, the raw body.
    let mut raw = outbound_entry(4, "notify", None);
    raw.view = None;
    assert_eq!(
        Observed::from_journal(&[raw])[0].request_body.as_deref(),
        Some("Len=4&Data=EF")
    );
}

fn zvt(id: u64, direction: ZvtDirection, control: Option<&str>, hex: &str, text: &str) -> JournalEntry {
    entry(
        id,
        "zvt",
        Exchange::Zvt {
            direction,
            link: "tcp".into(),
            control: control.map(str::to_owned),
            hex: hex.into(),
            text: text.into(),
        },
    )
}

#[test]
fn only_the_ecrs_commands_on_the_zvt_link_are_exchanges() {
    let entries = [
        zvt(
            1,
            ZvtDirection::EcrToPt,
            Some("06 01"),
            "06 01 07 04 00 00 00 12 50 00",
            "Authorisation",
        ),
        zvt(2, ZvtDirection::PtToEcr, Some("80 00"), "80 00 00", "ack"),
        zvt(3, ZvtDirection::PtToEcr, Some("04 0F"), "04 0f 00", "status"),
        zvt(4, ZvtDirection::EcrToPt, Some("80 00"), "80 00 00", "ack"),
        zvt(5, ZvtDirection::EcrToPt, Some("84 9c"), "84 9C 00", "nak"),
        zvt(6, ZvtDirection::Note, None, "", "finding: late ack"),
        zvt(7, ZvtDirection::EcrToPt, Some("06 b0"), "06 b0 00", "abort"),
        zvt(8, ZvtDirection::EcrToPt, None, "", "no control"),
    ];
    let observed = Observed::from_journal(&entries);
    let seen: Vec<(u64, &str, &str, bool)> = observed
        .iter()
        .map(|o| (o.id, o.method.as_str(), o.path.as_str(), o.outbound))
        .collect();
    assert_eq!(seen, [(1, "ZVT", "06 01", false), (7, "ZVT", "06 B0", false)]);
    assert_eq!(
        observed[0].request_json(),
        Some(json!({"hex": "06010704000000125000", "text": "Authorisation"}))
    );
    assert_eq!(
        observed[1].request_json(),
        Some(json!({"hex": "06B000", "text": "abort"}))
    );
    assert_eq!((observed[0].status, observed[0].provider.as_str()), (None, "zvt"));
    assert!(observed[0].is_write(), "a terminal command has no operation: it writes");
}

#[test]
fn findings_are_the_terminals_finding_notes_of_the_scenarios_providers() {
    let mut other = zvt(4, ZvtDirection::Note, None, "", "finding: elsewhere");
    other.provider = "zvt2".into();
    let entries = [
        zvt(1, ZvtDirection::Note, None, "", "finding: the ECR did not acknowledge"),
        zvt(2, ZvtDirection::Note, None, "", "commit"),
        zvt(
            3,
            ZvtDirection::EcrToPt,
            Some("06 01"),
            "06 01 00",
            "finding in a command",
        ),
        other,
        zvt(5, ZvtDirection::Note, None, "", "finding: second"),
    ];
    assert_eq!(
        findings(&entries, &["zvt".to_owned()]),
        ["finding: the ECR did not acknowledge", "finding: second"]
    );
    assert!(findings(&entries, &["tyrios".to_owned()]).is_empty());
}

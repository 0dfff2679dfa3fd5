//! Requests the HTTP front refuses before any handler (issue 13): every kind of oversized or
//! unreadable request — within the front's limits' reach and beyond hyper's own — gets a
//! complete HTTP answer on every listener: its status, `Connection: close`, a `Content-Length`
//! that matches, and a body in the listener's own error format (admin JSON, TYRIOS's
//! `Exception`, PAYBACK's `code`, the Paygate's plain failure, Loymax's error envelope), never
//! an empty body and never a hang. Raw TCP, so nothing between the test and possim tidies the
//! request up. The bodies are pinned as snapshots, one per listener.

use std::time::Duration;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::Possim;

/// One listener: where it is, what to ask it, how its errors look.
struct Listener {
    name: &'static str,
    authority: String,
    /// A path the listener serves (the refusals come before routing anyway).
    path: &'static str,
    content_type: &'static str,
    /// Body limit of the listener (admin 2 MiB, provider ports 1 MiB).
    body_limit: usize,
}

fn listeners(possim: &Possim) -> Vec<Listener> {
    let authority = |url: &str| url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    vec![
        Listener {
            name: "admin",
            authority: authority(&possim.admin),
            path: "/__admin/faults",
            content_type: "application/json",
            body_limit: 2 * 1024 * 1024,
        },
        Listener {
            name: "tyrios",
            authority: authority(&possim.tyrios),
            path: "/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
            content_type: "application/json",
            body_limit: 1024 * 1024,
        },
        Listener {
            name: "payback",
            authority: authority(&possim.payback),
            path: "/purchases",
            content_type: "application/json",
            body_limit: 1024 * 1024,
        },
        Listener {
            name: "computop",
            authority: authority(&possim.computop),
            path: "/PaybackPay.aspx",
            content_type: "text/plain; charset=utf-8",
            body_limit: 1024 * 1024,
        },
        Listener {
            name: "loymax",
            authority: authority(&possim.loymax),
            path: "/XmlExchange/possim/kassa-1/",
            content_type: "application/xml; charset=utf-8",
            body_limit: 1024 * 1024,
        },
    ]
}

/// `count` header fields of `value_len` bytes each.
fn fields(count: usize, value_len: usize) -> String {
    (0..count)
        .map(|i| format!("x-f{i}: {}\r\n", "v".repeat(value_len)))
        .collect()
}

/// The cases: name, raw request, expected status.
fn cases(l: &Listener) -> Vec<(&'static str, Vec<u8>, u16)> {
    let path = l.path;
    let get = |target: &str, extra: &str| format!("GET {target} HTTP/1.1\r\nhost: x\r\n{extra}\r\n").into_bytes();
    vec![
        // The front's own limits (32 KiB target, 100 fields, 408 KiB head), which hyper would
        // have taken.
        (
            "target over 32 KiB",
            get(&format!("{path}?q={}", "a".repeat(40_000)), ""),
            414,
        ),
        ("101 header fields", get(path, &fields(100, 1)), 431),
        ("head over 408 KiB", get(path, &fields(5, 90_000)), 431),
        // Beyond hyper's hard limits (65,534-byte target, 128 fields, 512 KiB buffer): hyper
        // alone answers these with an empty body.
        (
            "target over 64 KiB",
            get(&format!("{path}?q={}", "a".repeat(70_000)), ""),
            414,
        ),
        ("200 header fields", get(path, &fields(199, 1)), 431),
        ("head over 512 KiB", get(path, &fields(7, 90_000)), 431),
        // What hyper's parser refuses.
        ("bad request line", b"GET /a b c\r\nhost: x\r\n\r\n".to_vec(), 400),
        (
            "method with a bad byte",
            format!("G(T {path} HTTP/1.1\r\n\r\n").into_bytes(),
            400,
        ),
        ("header value with a control byte", get(path, "x-bad: a\x01b\r\n"), 400),
        ("header name with a space", get(path, "bad name: 1\r\n"), 400),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), 400),
        (
            "invalid Content-Length",
            format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 1x\r\n\r\n").into_bytes(),
            400,
        ),
        (
            "differing Content-Lengths",
            format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab").into_bytes(),
            400,
        ),
        (
            "Transfer-Encoding not chunked",
            format!("POST {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\n").into_bytes(),
            400,
        ),
        (
            "broken chunked body",
            format!("POST {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
                .into_bytes(),
            400,
        ),
        // The body limit: announced larger than the listener takes.
        (
            "body over the limit",
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{{",
                l.body_limit + 1
            )
            .into_bytes(),
            413,
        ),
    ]
}

/// Sends `request` (while reading, so a refusal before the end does not block the write) and
/// returns everything the server sent until it closed the connection.
async fn exchange(authority: &str, request: Vec<u8>) -> Vec<u8> {
    exchange_for("", authority, request, Duration::from_secs(20)).await
}

async fn exchange_for(context: &str, authority: &str, request: Vec<u8>, bound: Duration) -> Vec<u8> {
    let stream = TcpStream::connect(authority).await.expect("connects");
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The server may close before taking everything: a failed write is fine here.
        let _ = write.write_all(&request).await;
        write
    });
    let mut answer = Vec::new();
    tokio::time::timeout(bound, read.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("{context}: the server answers and closes the connection within {bound:?}"))
        .ok();
    drop(writer.await);
    answer
}

/// Status, header fields (lower-case names) and body of a raw answer.
fn split(answer: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("a complete head: {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, answer[end + 4..].to_vec())
}

/// The leaf elements of a small XML document, in order: (name, text).
fn xml_leaves(body: &[u8]) -> Vec<(String, String)> {
    let mut reader = Reader::from_reader(body);
    let mut leaves = Vec::new();
    let mut open = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Start(e) => open = Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned()),
            Event::Text(t) => {
                if let Some(name) = open.take() {
                    leaves.push((name, t.decode().expect("text").into_owned()));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    leaves
}

/// Reads the body in the listener's format, checks what the format fixes for `status`, and
/// returns the message for the snapshot.
fn read_body(listener: &str, status: u16, body: &[u8]) -> String {
    let text = String::from_utf8(body.to_vec()).expect("UTF-8 body");
    let json = || serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{listener}: JSON ({e}): {text}"));
    match listener {
        "admin" => {
            let value = json();
            assert_eq!(value.as_object().map(|o| o.len()), Some(1), "{value}");
            value["error"].as_str().expect("error text").to_owned()
        }
        "tyrios" => {
            let value = json();
            assert_eq!(value["error"], "Exception", "{value}");
            value["message"].as_str().expect("message").to_owned()
        }
        "payback" => {
            // mocks/payback/README.md, "Errors": the codes of front refusals.
            let expected = match status {
                413 | 414 | 431 => "REQUEST_TOO_LARGE",
                408 => "REQUEST_TIMEOUT",
                _ => "INVALID_REQUEST",
            };
            let value = json();
            assert_eq!(value["code"], expected, "{value}");
            value["message"].as_str().expect("message").to_owned()
        }
        "computop" => {
            let fields: Vec<(&str, &str)> = text.split('&').filter_map(|pair| pair.split_once('=')).collect();
            let names: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
            assert_eq!(names, ["mid", "Status", "Description", "Code"], "{text}");
            assert_eq!(fields[1].1, "FAILED");
            // mocks/computop/README.md: kind 2, module 000, the HTTP status.
            let expected = match status {
                400 => "20000400",
                408 => "20000408",
                413 => "20000413",
                414 => "20000414",
                431 => "20000431",
                503 => "20000503",
                other => panic!("no Computop code documented for {other}"),
            };
            assert_eq!(fields[3].1, expected, "{text}");
            fields[2].1.to_owned()
        }
        "loymax" => {
            assert!(text.starts_with("<?xml"), "{text}");
            let leaves = xml_leaves(body);
            let names: Vec<&str> = leaves.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["Version", "ErrorCode", "ErrorMessage"], "{text}");
            assert_eq!(leaves[0].1, "3.2");
            // mocks/loymax/README.md: ParseError 3 for a document that did not arrive whole,
            // FormatException 4 for a request that is not readable HTTP.
            let expected = match status {
                413 | 408 => "3",
                _ => "4",
            };
            assert_eq!(leaves[1].1, expected, "{text}");
            leaves[2].1.clone()
        }
        other => panic!("unknown listener {other}"),
    }
}

/// Checks a refusal: `expected` status, `Connection: close`, the listener's content type, a
/// Content-Length that matches a non-empty body in the listener's format. Returns the body.
fn check_answer(context: &str, listener: &Listener, answer: &[u8], expected: u16) -> Vec<u8> {
    let (status, headers, body) = split(answer);
    assert_eq!(status, expected, "{context}: {}", String::from_utf8_lossy(answer));
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{context}: no {name} in {headers:?}"))
    };
    assert_eq!(header("connection"), "close", "{context}");
    assert_eq!(header("content-type"), listener.content_type, "{context}");
    assert_eq!(header("content-length"), body.len().to_string(), "{context}");
    assert!(!body.is_empty(), "{context}");
    let message = read_body(listener.name, status, &body);
    assert!(!message.is_empty(), "{context}");
    body
}

#[tokio::test]
async fn every_refusal_is_a_complete_answer_in_the_listeners_format() {
    let possim = Possim::start("", &[]).await;
    // The listeners one beside the other: a refused body is drained for up to the front's
    // linger time (2 s) before its 413, so one listener after the other would wait that five
    // times. Each listener's cases still go one at a time, in order.
    let refusals = listeners(&possim).into_iter().map(|listener| async move {
        let mut pinned = String::new();
        for (case, request, expected) in cases(&listener) {
            let context = format!("{} / {case}", listener.name);
            let answer = exchange_for(&context, &listener.authority, request, Duration::from_secs(20)).await;
            let body = check_answer(&context, &listener, &answer, expected);
            pinned.push_str(&format!("{case}: {expected}\n{}\n", String::from_utf8_lossy(&body)));
        }
        (listener.name, pinned)
    });
    for (name, pinned) in futures::future::join_all(refusals).await {
        insta::assert_snapshot!(format!("front_refusals_{name}"), pinned);
    }
    // The service kept answering on every port.
    assert_eq!(possim.admin("GET", "/__admin/health", None).await.0, 200);
}

#[tokio::test]
async fn a_refused_head_is_journalled_with_what_could_be_read() {
    let possim = Possim::start("", &[]).await;
    let tyrios = possim
        .tyrios
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let request = format!(
        "GET /BonusPointManagement/Coupons?x=1 HTTP/1.1\r\nhost: x\r\n{}\r\n",
        fields(199, 1)
    );
    let (status, _, _) = split(&exchange(&tyrios, request.into_bytes()).await);
    assert_eq!(status, 431);
    let (code, journal) = possim.admin("GET", "/__admin/journal?provider=tyrios", None).await;
    assert_eq!(code, 200);
    let text = journal.to_string();
    let entries = journal["entries"].as_array().expect("journal entries");
    let entry = entries.last().unwrap_or_else(|| panic!("one entry: {text}"));
    assert_eq!(entry["request"]["method"], "GET", "{text}");
    assert_eq!(entry["request"]["path"], "/BonusPointManagement/Coupons", "{text}");
    assert_eq!(entry["request"]["query"], "x=1", "{text}");
    assert_eq!(entry["response"]["status"], 431, "{text}");
}

/// Keep-alive requests around a refused one: the ones before are answered normally, the
/// refused one in the listener's format, and nothing after it on that connection is read.
#[tokio::test]
async fn pipelined_requests_before_a_refusal_are_answered_normally() {
    let possim = Possim::start("", &[]).await;
    let admin = possim
        .admin
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut request = Vec::new();
    request.extend_from_slice(b"GET /__admin/health HTTP/1.1\r\nhost: x\r\n\r\n");
    request.extend_from_slice(b"POST /__admin/health HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello");
    request.extend_from_slice(
        b"POST /__admin/health HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    request.extend_from_slice(b"GET /__admin/health HTTP/1.1\r\nhost: x\r\nx: a\x01b\r\n\r\n");
    request.extend_from_slice(b"GET /__admin/health HTTP/1.1\r\nhost: x\r\n\r\n");
    let answer = String::from_utf8_lossy(&exchange(&admin, request).await).into_owned();
    let statuses: Vec<&str> = answer
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &answer[at + 9..at + 12])
        .collect();
    // GET health 200, POST health 405 twice (with each body framing), then the refusal.
    assert_eq!(statuses, ["200", "405", "405", "400"], "{answer}");
    let (_, refusal) = answer.rsplit_once("\r\n\r\n").expect("the refusal's body");
    let value: Value = serde_json::from_str(refusal).unwrap_or_else(|e| panic!("JSON ({e}): {answer}"));
    assert!(
        value["error"].as_str().unwrap().contains("malformed request head"),
        "{value}"
    );
}

/// A body that never completes: 408 after the front's read time-out (`--http-read-timeout`,
/// shortened from its 30 s default), on every listener at once.
#[tokio::test]
async fn a_body_that_never_completes_is_a_408_in_the_listeners_format() {
    let possim = Possim::start("", &["--http-read-timeout", "2"]).await;
    let slow = listeners(&possim).into_iter().map(|listener| async move {
        let request = format!(
            "POST {} HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n{{",
            listener.path
        );
        let context = format!("{} / slow body", listener.name);
        let answer = exchange_for(
            &context,
            &listener.authority,
            request.into_bytes(),
            Duration::from_secs(60),
        )
        .await;
        let body = check_answer(&context, &listener, &answer, 408);
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(
            text.contains("request body not complete within 2 s"),
            "{context}: {text}"
        );
    });
    futures::future::join_all(slow).await;
}

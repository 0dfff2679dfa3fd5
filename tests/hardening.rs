//! possim under abuse (issue 13): the admin API behind the same front as the provider ports
//! (time-outs, JSON refusals), its token, data sets that are FIFOs, symlinks out of the set or
//! hold no provider file, and a Computop notify aimed at the admin API.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::Possim;

/// `host:port` of a base URL.
fn authority(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

/// Everything the server sends until it closes the connection, within `bound`.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(bound, stream.read_to_end(&mut got))
        .await
        .expect("the server closed the connection in time")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

/// The JSON body of a raw HTTP/1.1 answer.
fn json_body(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a complete answer");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body ({e}): {answer}"))
}

#[tokio::test]
async fn the_admin_api_closes_slow_heads_and_answers_slow_bodies_with_json_408() {
    // The front's read time-out, shortened from its 30 s default so the test need not wait it.
    let possim = Possim::start("", &["--http-read-timeout", "2"]).await;
    let admin = authority(&possim.admin).to_owned();
    // Slowloris: a head that never ends. The front's header read time-out closes it.
    let mut head = TcpStream::connect(&admin).await.unwrap();
    head.write_all(b"GET /__admin/health HTTP/1.1\r\nhost: x\r\nx-slow: 1")
        .await
        .unwrap();
    // A body trickled and never finished: answered 408 in the admin's error format.
    let mut body = TcpStream::connect(&admin).await.unwrap();
    body.write_all(
        b"POST /__admin/faults HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[",
    )
    .await
    .unwrap();
    // Well below the 30 s default: a connection still open then means the setting was ignored.
    let bound = Duration::from_secs(20);
    let (head_answer, body_answer) =
        tokio::join!(read_until_closed(&mut head, bound), read_until_closed(&mut body, bound));
    // A head that never completes gets no answer: hyper closes the connection.
    assert_eq!(head_answer, "", "{head_answer}");
    assert!(body_answer.starts_with("HTTP/1.1 408"), "{body_answer}");
    let error = json_body(&body_answer);
    assert!(
        error["error"].as_str().unwrap().contains("not complete within 2 s"),
        "{error}"
    );
    // Meanwhile the admin API kept answering.
    assert_eq!(possim.admin("GET", "/__admin/health", None).await.0, 200);
}

#[tokio::test]
async fn oversized_requests_get_their_status_with_a_body_in_the_listeners_format() {
    let possim = Possim::start("", &[]).await;
    let client = possim.client();
    let admin_error = |status: u16, body: &str| {
        let value: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{status}: JSON ({e}): {body}"));
        value["error"].as_str().map(str::to_owned).unwrap_or_default()
    };

    // 413: a body over the admin limit (2 MiB).
    let resp = client
        .post(format!("{}/__admin/faults", possim.admin))
        .header("content-type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    // The rest of the body is unread: the connection is not reusable, and the answer says so (a
    // client that pooled it would lose its next request).
    assert_eq!(
        resp.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    let message = admin_error(status, &resp.text().await.unwrap());
    assert_eq!(status, 413);
    assert!(message.contains("exceeds 2097152 bytes"), "{message}");

    // 414: a request target over 32 KiB.
    let resp = client
        .get(format!("{}/__admin/health?x={}", possim.admin, "a".repeat(40_000)))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let message = admin_error(status, &resp.text().await.unwrap());
    assert_eq!(status, 414);
    assert!(message.contains("exceeds 32768"), "{message}");

    // 431: more than 100 header fields, on the admin API and on a provider port.
    let many = |mut req: reqwest::RequestBuilder| {
        for i in 0..110 {
            req = req.header(format!("x-h{i}"), "1");
        }
        req
    };
    let resp = many(client.get(format!("{}/__admin/health", possim.admin)))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let message = admin_error(status, &resp.text().await.unwrap());
    assert_eq!(status, 431);
    assert!(message.contains("header fields exceed 100"), "{message}");
    let resp = many(client.get(format!(
        "{}/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
        possim.tyrios
    )))
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 431);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "Exception");
    assert!(body["message"].as_str().unwrap().contains("header fields"), "{body}");
}

#[tokio::test]
async fn twenty_thousand_fault_rules_arm_in_one_request_and_one_more_is_a_clear_400() {
    let possim = Possim::start("", &[]).await;
    let rule = json!({"provider": "tyrios", "path": "^/never$", "action": {"type": "close"}});
    let rules = Value::Array(vec![rule.clone(); 20_000]);
    let (status, armed) = possim.admin("POST", "/__admin/faults", Some(rules)).await;
    assert_eq!(status, 201);
    assert_eq!(armed.as_array().map(Vec::len), Some(20_000));
    assert_eq!(armed[0]["id"], 1);
    assert_eq!(armed[19_999]["id"], 20_000);
    let (status, error) = possim.admin("POST", "/__admin/faults", Some(rule)).await;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("at most 20000 can be armed"),
        "{error}"
    );
}

/// A data set directory under the temp dir, removed at the end.
struct SetDir(std::path::PathBuf);

impl SetDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("possim-hardening-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for SetDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn fifo_symlink_and_empty_data_sets_are_refused_and_the_old_state_stays() {
    let possim = Possim::start("", &[]).await;
    let (status, _) = possim
        .admin("POST", "/__admin/faults", Some(json!({"name": "kept", "delayMs": 1})))
        .await;
    assert_eq!(status, 201);
    let lookup = "/BonusPointManagement/UserData/UQBUFDJALK4WXYC";
    let before = possim.tyrios("GET", lookup, None).await;
    assert_eq!(before.0, 200);

    // A FIFO named tyrios.toml: refused at once; nothing blocks.
    let fifo = SetDir::new("fifo");
    std::fs::write(fifo.0.join("possim.toml"), "description = \"fifo\"\n").unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(fifo.0.join("tyrios.toml"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let (status, error) = possim
        .admin("POST", "/__admin/dataset", Some(json!({"path": fifo.path()})))
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("tyrios.toml: not a regular file"),
        "{error}"
    );

    // A symlink out of the directory: refused, and nothing of the target is quoted.
    let outside = SetDir::new("outside");
    std::fs::write(outside.0.join("secret"), "top-secret-line = \"x\"\n").unwrap();
    let link = SetDir::new("symlink");
    std::os::unix::fs::symlink(outside.0.join("secret"), link.0.join("tyrios.toml")).unwrap();
    let (status, error) = possim
        .admin("POST", "/__admin/dataset", Some(json!({"path": link.path()})))
        .await;
    assert_eq!(status, 400, "{error}");
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("tyrios.toml: a symlink leading out"), "{message}");
    assert!(!message.contains("top-secret"), "{message}");

    // Only an unrelated .toml: no provider file, refused.
    let empty = SetDir::new("unrelated");
    std::fs::write(empty.0.join("cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let (status, error) = possim
        .admin("POST", "/__admin/dataset", Some(json!({"path": empty.path()})))
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("none of the provider files"),
        "{error}"
    );

    // A parse error names file, line and column, without the line itself.
    let broken = SetDir::new("broken");
    std::fs::write(broken.0.join("tyrios.toml"), "# fine\nsecret-value = = 1\n").unwrap();
    let (status, error) = possim
        .admin("POST", "/__admin/dataset", Some(json!({"path": broken.path()})))
        .await;
    assert_eq!(status, 400, "{error}");
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("tyrios.toml: line 2, column"), "{message}");
    assert!(!message.contains("secret-value"), "{message}");

    // The old set, its state and the armed rule are all still there.
    assert_eq!(possim.admin("GET", "/__admin/dataset", None).await.1["name"], "default");
    assert_eq!(possim.tyrios("GET", lookup, None).await, before);
    let faults = possim.admin("GET", "/__admin/faults", None).await.1;
    assert_eq!(faults[0]["name"], "kept", "{faults}");
}

#[tokio::test]
async fn the_admin_token_is_required_when_set_and_the_console_passes_it_on() {
    let possim = Possim::start("", &["--admin-token", "s3cret-token"]).await;
    let client = possim.client();
    let health = format!("{}/__admin/health", possim.admin);
    let resp = client.get(&health).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    let wrong = client.get(&health).bearer_auth("s3cret-tokem").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = client.get(&health).bearer_auth("s3cret-token").send().await.unwrap();
    assert_eq!(right.status().as_u16(), 200);
    let query = client
        .get(format!("{health}?access_token=s3cret-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status().as_u16(), 200);
    // The console's static page loads without the token (it holds no state) and, opened as
    // /?access_token=…, carries the token on to its requests; its data needs the token.
    let page = client.get(format!("{}/", possim.admin)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let script = client
        .get(format!("{}/console/app.js", possim.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status().as_u16(), 200);
    assert!(script.text().await.unwrap().contains("access_token"));
    let events = client
        .get(format!("{}/__admin/console/entries", possim.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status().as_u16(), 401);
    // Provider ports are not the admin API: no token there.
    let (status, _) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_admin_api_off_loopback_needs_a_token_to_start() {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
            .args(["serve", "--admin", "0.0.0.0:0", "--zvt-serial", "off"])
            .env_remove("POSSIM_ADMIN_TOKEN")
            .output(),
    )
    .await
    .expect("possim exits at once")
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not loopback: give --admin-token"), "{stderr}");
}

/// Keeping no transactions would leave nothing a till could reverse or replay: refused at the
/// command line (a data set's or config file's `transactions = 0`: the engine's retention test).
#[tokio::test]
async fn retaining_no_transactions_is_refused() {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
            .args(["serve", "--retain-transactions", "0"])
            .output(),
    )
    .await
    .expect("possim exits at once")
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'--retain-transactions <N>'"), "{stderr}");
}

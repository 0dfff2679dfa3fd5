//! The web console in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against the real binary on free ports. The WebDriver client is the few JSON calls below (the
//! W3C protocol over reqwest), so the test needs no browser-automation crate.
//!
//! Chromium and chromedriver come from the Debian packages `chromium` and `chromium-driver`;
//! `.ci/run` installs them, so a machine without them fails here rather than skipping.
//!
//! With `POSSIM_CONSOLE_SCREENSHOTS=<dir>` the test also saves the screenshots shown in the
//! README (`docs/console-*.png`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::util::Possim;

/// Every wait in this test ends after this long, with a message saying what did not happen.
const WAIT: Duration = Duration::from_secs(20);
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate.display().to_string());
            }
        }
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A chromedriver process and one browser session; both end when this is dropped.
struct Browser {
    _driver: tokio::process::Child,
    _profile: TempDir,
    http: reqwest::Client,
    session: String,
}

/// A fresh directory for the browser profile, removed afterwards.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    async fn start() -> Self {
        let chromium = find_program(&["chromium", "chromium-browser"])
            .expect("chromium is not installed: apt-get install chromium chromium-driver (.ci/run does this)");
        let chromedriver = find_program(&["chromedriver"])
            .expect("chromedriver is not installed: apt-get install chromium-driver (.ci/run does this)");
        let port = free_port();
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .map(|r| r.json::<Value>());
            if let Some(body) = ready
                && body.await.is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready on port {port} within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = std::env::temp_dir().join(format!("possim-console-chromium-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,960",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args}
            }}}))
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a JSON answer");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        Self {
            _driver: driver,
            _profile: TempDir(profile),
            http,
            session: format!("{base}/session/{session}"),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body; `arguments` are the args) in the page.
    async fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().expect("an element reference").to_owned()
    }

    /// Clicks like a person: WebDriver scrolls the element into view and clicks its centre.
    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    /// Types into the element (keys go to it as keyboard events).
    async fn keys(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn replace_text(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({})))
            .await;
        self.keys(css, text).await;
    }

    /// The text of the first element matching `css` ("" when there is none).
    async fn text(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            json!([css]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Polls the page until `check` (a JS function body returning a truthy value) holds.
    async fn wait_until(&self, what: &str, check: &str, args: Value) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.js(check, args.clone()).await;
            if !(value.is_null() || value == false || value == "") {
                return value;
            }
            let page = self.text("body").await;
            assert!(
                Instant::now() < deadline,
                "the console did not show {what} within {WAIT:?}; the page says:\n{}",
                page.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The traffic row whose text contains all of `needles`, as its text.
    async fn wait_for_row(&self, what: &str, needles: &[&str]) -> String {
        let found = self
            .wait_until(
                what,
                "for (const tr of document.querySelectorAll('#traffic tbody tr[data-id]')) {
                   const t = tr.textContent; if (arguments[0].every((n) => t.includes(n))) return t; }
                 return null;",
                json!([needles]),
            )
            .await;
        found.as_str().unwrap_or_default().to_owned()
    }

    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("POSSIM_CONSOLE_SCREENSHOTS") else {
            return;
        };
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("a PNG");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("console-{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort: ends Chromium before chromedriver is killed with the child handle.
        let session = self.session.clone();
        let _ = std::thread::spawn(move || {
            let _ = std::process::Command::new("curl")
                .args(["-s", "-m", "5", "-X", "DELETE", &session])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        })
        .join();
    }
}

const FINAL_POS: &str = "/service/BonusPointManagement/BonusPointTransaction/pos";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_traffic_steers_faults_plays_the_customer_and_moves_the_clock() {
    let possim = Possim::start("seed-examples", &[]).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", possim.admin)).await;
    browser
        .wait_until(
            "the live stream connected",
            "return document.querySelector('#live').textContent === 'live';",
            json!([]),
        )
        .await;

    // 1. A TYRIOS request appears in the live list, and its detail shows the answer.
    let (status, user) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(status, 200, "{user}");
    browser
        .wait_for_row("the user lookup", &["tyrios", "GET", "UserData/UQBUFDJALK4WXYC", "200"])
        .await;
    browser.click("#traffic tbody tr[data-id]").await;
    browser
        .wait_until(
            "the detail of the lookup",
            "const d = document.querySelector('#detail').textContent;
             return d.includes('Answer 200') && d.includes('Mustermann');",
            json!([]),
        )
        .await;

    // 2. A preset armed with one click makes the next final call fail; the list names the rule.
    browser.click("#tab-steer").await;
    browser.click("button[data-preset=cut]").await;
    browser
        .wait_until(
            "the armed rule",
            "return document.querySelector('#faults').textContent.includes('cut the answer to the final call');",
            json!([]),
        )
        .await;
    let final_call = possim
        .client()
        .post(format!("{}{FINAL_POS}", possim.tyrios))
        .basic_auth("demo", Some("demo"))
        .header("content-type", "application/json")
        .body(r#"{"UserData":"UQBUFDJALK4WXYC","productGroup":"Hose","totalAmount":33,"redeemedPoints":213,"userMode":"HASH"}"#)
        .send()
        .await;
    let body = match final_call {
        Ok(response) => response.bytes().await.map(|b| b.len()),
        Err(e) => Err(e),
    };
    assert!(body.is_err(), "the cut answer must not arrive whole: {body:?}");
    let row = browser
        .wait_for_row(
            "the final call with the fired rule",
            &[
                "BonusPointTransaction/pos",
                "cut the answer to the final call (truncate)",
            ],
        )
        .await;
    assert!(!row.contains("draft=true"), "{row}");
    browser.click("#traffic tbody tr.faulted").await;
    browser
        .wait_until(
            "the fault in the detail view",
            "return document.querySelector('#detail').textContent.includes('Fault rule');",
            json!([]),
        )
        .await;

    // 3. The customer at the virtual terminal: a payment `possim zvt pay` started is completed by
    //    clicking card, PIN and OK (after a wrong PIN typed on the keyboard).
    browser.click("#tab-terminal").await;
    browser.click("#operator").await;
    let deadline = Instant::now() + WAIT;
    while possim.admin("GET", "/__admin/state/zvt", None).await.1["operatorMode"] != true {
        assert!(
            Instant::now() < deadline,
            "the console did not switch the terminal to operator mode"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let till = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["zvt", "--tcp", &possim.zvt, "pay", "12.50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("possim zvt pay starts");
    browser
        .wait_until(
            "the terminal asking for a card",
            "return document.querySelector('#display-2').textContent === 'insert card'
                 && document.querySelector('#display-1').textContent === '12.50 EUR';",
            json!([]),
        )
        .await;
    browser.click("button[data-card=girocard]").await;
    browser
        .wait_until(
            "the terminal asking for the PIN",
            "return document.querySelector('#display-2').textContent === 'enter PIN';",
            json!([]),
        )
        .await;
    // The keypad works from the keyboard: digits, then Enter for OK.
    browser.keys("#keypad button[data-key='5']", "9999\u{E007}").await;
    browser
        .wait_until(
            "the wrong PIN",
            "return document.querySelector('#display-1').textContent === 'incorrect PIN';",
            json!([]),
        )
        .await;
    for key in ["1", "2", "3"] {
        browser.click(&format!("#keypad button[data-key='{key}']")).await;
    }
    browser.screenshot("terminal").await;
    browser.click("#keypad button[data-key='4']").await;
    assert_eq!(browser.text("#display-pin").await, "****");
    browser.click("#keypad button[data-key=ok]").await;
    let paid = tokio::time::timeout(WAIT, till.wait_with_output())
        .await
        .expect("possim zvt pay finished after OK")
        .expect("possim zvt pay ran");
    let out = String::from_utf8_lossy(&paid.stdout);
    assert!(paid.status.success(), "the payment did not complete:\n{out}");
    assert!(out.contains("BMP 27 result code: 00") && out.contains("12.50"), "{out}");
    browser
        .wait_until(
            "the receipt of the payment",
            "return document.querySelector('#receipts').textContent.includes('1250');",
            json!([]),
        )
        .await;

    // 4. The clock advances from the header.
    let before = possim.admin("GET", "/__admin/clock", None).await.1["now"]
        .as_i64()
        .expect("clock");
    browser.replace_text("#clock-by", "3d").await;
    browser.click("#clock-advance").await;
    let three_days = 3 * 24 * 3600 * 1000;
    browser
        .wait_until(
            "the clock three days later",
            "return Number(document.querySelector('#clock-now').dataset.ms) >= arguments[0];",
            json!([before + three_days]),
        )
        .await;
    let after = possim.admin("GET", "/__admin/clock", None).await.1["now"]
        .as_i64()
        .expect("clock");
    // seed-examples freezes the clock, so the advance is exact.
    assert_eq!(after - before, three_days);

    if std::env::var_os("POSSIM_CONSOLE_SCREENSHOTS").is_some() {
        browser.click("#tab-state").await;
        browser
            .js(
                "const s = document.querySelector('#state-provider'); s.value = 'tyrios';
                 s.dispatchEvent(new Event('change'));",
                json!([]),
            )
            .await;
        browser
            .wait_until(
                "the TYRIOS state",
                "return document.querySelector('#state').textContent.includes('users');",
                json!([]),
            )
            .await;
        browser.screenshot("state").await;
        browser.click("#tab-steer").await;
        browser.click("#traffic tbody tr.faulted").await;
        browser
            .wait_until(
                "the fault in the detail view",
                "return document.querySelector('#detail').textContent.includes('Fault rule');",
                json!([]),
            )
            .await;
        browser.screenshot("traffic").await;
    }

    // 5. A certification run attached to this possim shows up live, with a link to its report.
    browser.click("#tab-runs").await;
    let out = std::env::temp_dir().join(format!("possim-e2e-{}-console-certify", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let certify = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args([
            "certify",
            "scenarios/tyrios/sale-card-points.toml",
            "--attach",
            &possim.admin,
            "--out",
        ])
        .arg(&out)
        .args(["--", "possim", "pos", "tyrios"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CI", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let certified = tokio::time::timeout(Duration::from_secs(120), certify)
        .await
        .expect("possim certify finished")
        .expect("possim certify ran");
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        certified.status.success(),
        "{}",
        String::from_utf8_lossy(&certified.stdout)
    );
    let link = browser
        .wait_until(
            "the finished run with its verdict and report link",
            "const a = document.querySelector('#run-now a');
             const list = document.querySelector('#run-list');
             return a && list.textContent.includes('tyrios/sale-card-points')
                 && list.querySelector('.verdict.pass') ? a.getAttribute('href') : null;",
            json!([]),
        )
        .await;
    let report = possim
        .client()
        .get(format!("{}{}", possim.admin, link.as_str().expect("a link")))
        .send()
        .await
        .expect("the report is served");
    assert_eq!(report.status(), 200);
    let html = report.text().await.unwrap();
    assert!(
        html.contains("<html") && html.contains("tyrios/sale-card-points"),
        "{html:.300}"
    );

    // An open console does not hold up a graceful shutdown: its stream ends with the server.
    let exit = possim.terminate().await;
    assert!(exit.success(), "{exit:?}");
}

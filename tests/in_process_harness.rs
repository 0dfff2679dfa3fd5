//! The part of the end-to-end harness (`tests/util.rs`) that the provider test files use, in
//! process: `Possim` stands for one provider mock behind its axum router
//! (`tower::ServiceExt::oneshot`; no sockets, no process). A provider crate includes this file as
//! its `util` module, next to the root test files it runs a second time (in a test target named
//! `integration`, like the end-to-end binary, so insta finds the same snapshots), and defines
//! `crate::provider(clock) -> (name, mock)` and `crate::data_file(set) -> (file, text)` (the
//! built-in data set's file of that provider, compiled in).
//!
//! Not part of the end-to-end binary (`tests/tests.rs` does not list it).

// Each crate uses the part of the harness its files need.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt;
use possim_engine::clock::{Clock, parse_rfc3339};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use serde_json::Value;
use tower::ServiceExt;

// The PAYBACK file does not compare against seed answers.
#[allow(unused_imports)]
pub use crate::documented::assert_documented;

/// Where the end-to-end harness has URLs, this one has a name: requests never leave.
const BASE: &str = "http://provider.in-process";

/// A built-in data set's `possim.toml` (its clock) and the provider's file.
fn data_set(name: &str) -> DataSet {
    let possim = match name {
        "default" => include_str!("../mocks/datasets/default/possim.toml"),
        "seed-examples" => include_str!("../mocks/datasets/seed-examples/possim.toml"),
        other => panic!("no built-in data set {other:?} here"),
    };
    let (file, text) = crate::data_file(name);
    DataSet::from_files(name, [("possim.toml", possim), (file, text)]).expect("a built-in set")
}

/// One provider mock, on the data set's clock (frozen when `possim.toml` or `--clock` says so).
pub struct Possim {
    name: &'static str,
    mock: Box<dyn Provider>,
    /// The base the TYRIOS files put paths after.
    pub tyrios: String,
    /// The base the PAYBACK file puts paths after.
    pub payback: String,
}

impl Possim {
    /// `possim serve --data <data> [--clock <RFC 3339>]`, in process (`""` is the default set).
    pub async fn start(data: &str, extra: &[&str]) -> Self {
        let set = data_set(if data.is_empty() { "default" } else { data });
        let at = match extra {
            [] => set.clock_ms().expect("the set's clock"),
            ["--clock", at] => Some(parse_rfc3339(at).expect("an RFC 3339 clock")),
            other => panic!("in process: only --clock is known, not {other:?}"),
        };
        let clock = match at {
            Some(at) => Clock::frozen(at),
            None => Clock::real(),
        };
        let (name, mock) = crate::provider(Arc::new(clock));
        mock.load(&set).expect("the set loads");
        Self {
            name,
            mock,
            tyrios: BASE.to_owned(),
            payback: BASE.to_owned(),
        }
    }

    async fn send(&self, router: axum::Router, request: Request<Body>) -> Answer {
        let response = router.oneshot(request).await.expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("a body").to_bytes();
        Answer {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    /// A TYRIOS request with Basic credentials (password `demo`); status and JSON body.
    pub async fn tyrios_as(&self, login: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client()
            .request(method, &format!("{BASE}{path}"))
            .basic_auth(login, Some("demo"));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let answer = request.send().await.expect("answered").0;
        let text = String::from_utf8(answer.body).expect("UTF-8");
        (
            answer.status.as_u16(),
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer is JSON ({e}): {text}")),
        )
    }

    /// `tyrios_as` with the seed's `demo` login.
    pub async fn tyrios(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.tyrios_as("demo", method, path, body).await
    }

    /// Of the admin API: the provider's state (`/__admin/state/<name>`) and its own routes
    /// (`/__admin/<name>/…`).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        if path == format!("/__admin/state/{}", self.name) {
            return (200, self.mock.snapshot());
        }
        let prefix = format!("/__admin/{}", self.name);
        let own = path
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("in process: only {prefix}/… and the state, not {path}"));
        let request = Request::builder()
            .method(method)
            .uri(own)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .expect("a request");
        let router = self.mock.admin_router().expect("the provider has admin routes");
        let answer = self.send(router, request).await;
        let value = if answer.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer.body).into_owned()))
        };
        (answer.status.as_u16(), value)
    }

    /// The TYRIOS state snapshot.
    pub async fn tyrios_state(&self) -> Value {
        self.admin("GET", "/__admin/state/tyrios", None).await.1
    }

    /// A client with the part of reqwest's interface the files use; only the provider's URLs.
    pub fn client(&self) -> Client<'_> {
        Client { possim: self }
    }
}

fn basic(user: &str, password: &str) -> String {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {pair}")
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// `possim.client()`.
pub struct Client<'a> {
    possim: &'a Possim,
}

impl<'a> Client<'a> {
    fn request(&self, method: &str, url: &str) -> RequestBuilder<'a> {
        let path = url
            .strip_prefix(BASE)
            .unwrap_or_else(|| panic!("in process: only the provider's URLs, not {url}"));
        RequestBuilder {
            possim: self.possim,
            request: Request::builder().method(method).uri(path),
            body: Vec::new(),
        }
    }

    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder<'a> {
        self.request("GET", url.as_ref())
    }

    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder<'a> {
        self.request("POST", url.as_ref())
    }
}

pub struct RequestBuilder<'a> {
    possim: &'a Possim,
    request: axum::http::request::Builder,
    body: Vec<u8>,
}

impl RequestBuilder<'_> {
    pub fn basic_auth(mut self, user: &str, password: Option<&str>) -> Self {
        self.request = self
            .request
            .header(header::AUTHORIZATION, basic(user, password.unwrap_or("")));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.request = self.request.header(header::CONTENT_TYPE, "application/json");
        self.body = body.to_string().into_bytes();
        self
    }

    pub async fn send(self) -> Result<Response, std::convert::Infallible> {
        let request = self.request.body(Body::from(self.body)).expect("a request");
        let router = self.possim.mock.router();
        Ok(Response(self.possim.send(router, request).await))
    }
}

pub struct Response(Answer);

impl Response {
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn headers(&self) -> &HeaderMap<HeaderValue> {
        &self.0.headers
    }

    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.0.body)
    }

    pub async fn text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.0.body)
    }
}

//! Helpers of the in-process tests: the `default` data set's `loymax.toml`, the mock on a frozen
//! clock, and requests through its axum router (no sockets).

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt;
use possim_engine::clock::{Clock, parse_rfc3339};
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_loymax::LoymaxMock;
use possim_loymax::xml::{Element, parse};
use tower::ServiceExt;

/// The built-in `default` set's file.
pub const DEFAULT: &str = include_str!("../../../datasets/default/loymax.toml");

/// A mock loaded with `loymax_toml`, its clock frozen at `at` (RFC 3339).
pub fn mock_with(loymax_toml: &'static str, at: &str) -> (LoymaxMock, Arc<Clock>) {
    let clock = Arc::new(Clock::frozen(parse_rfc3339(at).unwrap()));
    let mock = LoymaxMock::new(Arc::clone(&clock));
    let set = DataSet::from_files("test", [("loymax.toml", loymax_toml)]).unwrap();
    mock.load(&set).unwrap();
    (mock, clock)
}

/// The default set on 2026-12-01 12:00 UTC.
pub fn mock() -> (LoymaxMock, Arc<Clock>) {
    mock_with(DEFAULT, "2026-12-01T12:00:00Z")
}

/// An answer: status, `X-Signature`, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub signature: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as a tree.
    pub fn root(&self) -> Element {
        parse(&self.body).expect("the answer is XML").root
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    /// The envelope `ErrorCode`.
    pub fn envelope_code(&self) -> String {
        self.root().first("ErrorCode").expect("ErrorCode").text.clone()
    }

    /// The first singular response element.
    pub fn element(&self) -> Element {
        let root = self.root();
        let wrapper = root
            .children
            .iter()
            .find(|c| !matches!(&*c.name, "Version" | "ErrorCode" | "ErrorMessage"))
            .unwrap_or_else(|| panic!("no wrapper in {}", self.text()))
            .clone();
        wrapper.children[0].clone()
    }

    /// `ErrorCode` of the first singular response.
    pub fn code(&self) -> String {
        self.element().get("ErrorCode").unwrap().to_owned()
    }

    /// An attribute of the first singular response.
    pub fn attr(&self, name: &str) -> String {
        self.element()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {}", self.text()))
            .to_owned()
    }
}

/// Posts `body` to `/XmlExchange/possim/{device}/` with Basic `device:demo`.
pub async fn post(mock: &LoymaxMock, device: &str, body: &str, signature: Option<&str>) -> Answer {
    post_raw(
        mock,
        "possim",
        device,
        Some((device, "demo")),
        body.as_bytes(),
        signature,
    )
    .await
}

/// Posts with full control.
pub async fn post_raw(
    mock: &LoymaxMock,
    project: &str,
    device: &str,
    credentials: Option<(&str, &str)>,
    body: &[u8],
    signature: Option<&str>,
) -> Answer {
    use base64::Engine as _;
    let mut request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/XmlExchange/{project}/{device}/"))
        .header("content-type", "application/xml");
    if let Some((login, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
        request = request.header("authorization", format!("Basic {token}"));
    }
    if let Some(signature) = signature {
        request = request.header("X-Signature", signature);
    }
    let request = request.body(Body::from(body.to_vec())).unwrap();
    let response = mock.router().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let signature = response
        .headers()
        .get("X-Signature")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        signature,
        body,
    }
}

/// `body` from `kassa-1` (password `demo`, no signature) straight into the mock, past HTTP.
pub fn exchange(mock: &LoymaxMock, body: &[u8]) -> possim_loymax::Outgoing {
    mock.inner().exchange(possim_loymax::Incoming {
        project: "possim",
        device: "kassa-1",
        credentials: Some(("kassa-1", "demo")),
        signature: None,
        body,
    })
}

/// A 2024-style request (namespaces, `Version` first, `DeviceLogicalID`) with one element.
pub fn request(command: &str, attrs: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XMLRequest xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><Version>3.2</Version><{command}s><{command}Request ElementID=\"1\" OperationDate=\"2026-12-01T15:00:00+03:00\" {attrs}>{inner}</{command}Request></{command}s></XMLRequest>"
    )
}

/// `<Identifier Type="Auto" Value="…"/>`.
pub fn ident(value: &str) -> String {
    format!("<Identifier Type=\"Auto\" Value=\"{value}\"/>")
}

/// A cheque of `(PosID, GoodsId, price, quantity, amount)` lines.
pub fn cheque(lines: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut out = String::from("<Cheque ChequeNumber=\"1\" ChequeDate=\"2026-12-01T15:00:00+03:00\">");
    for (pos, goods, price, quantity, amount) in lines {
        out.push_str(&format!(
            "<ChequeLine PosID=\"{pos}\" GoodsId=\"{goods}\" Name=\"Товар\" Price=\"{price}\" Quantity=\"{quantity}\" Amount=\"{amount}\"/>"
        ));
    }
    out.push_str("</Cheque>");
    out
}

/// The card's `(balance, held, available)` from the snapshot.
pub fn card(mock: &LoymaxMock, number: &str) -> (String, String, String) {
    let snapshot = mock.snapshot();
    let card = snapshot["projects"][0]["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == number)
        .unwrap_or_else(|| panic!("no card {number}"))
        .clone();
    (
        card["balance"].as_str().unwrap().to_owned(),
        card["held"].as_str().unwrap().to_owned(),
        card["available"].as_str().unwrap().to_owned(),
    )
}

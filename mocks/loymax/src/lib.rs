//! The Loymax processing mock: the cash-register XML exchange protocol, version 3.2, as far as
//! it is known (spec `loymax-tyrios.md` part 1), with our own design where the spec marks
//! [DESIGN].
//!
//! Layout:
//! - `money`: exact decimals (kopecks, thousandths, percentages) and the protocol's dates.
//! - `codes`: the one error name→number table (unverified numbers).
//! - `xml`: the quick-xml based element tree, with size and depth limits.
//! - `protocol`: envelope, commands, typed requests, strict schema checks, answer envelope.
//! - `model`: `loymax.toml` and the state.
//! - `domain`: identification, offers, the purchase state machine, refunds, card replacement.
//! - `sign`: the request/answer signature (our design).
//! - `retention`: finished purchases and stored answers trimmed (bounded memory).
//! - `handlers`: the HTTP route and the admin routes.
//!
//! Every behaviour is listed with its evidence ([Loymax]) or as ours in `mocks/loymax/README.md`.

pub mod codes;
pub mod domain;
pub mod handlers;
pub mod model;
pub mod money;
pub mod operations;
pub mod protocol;
pub mod refusal;
pub mod retention;
pub mod sign;
pub mod xml;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};

use possim_engine::EngineError;
use possim_engine::clock::{Clock, format_rfc3339, parse_rfc3339};
use possim_engine::dataset::DataSet;
use possim_engine::journal::{HttpRequestRecord, HttpResponseRecord};
use possim_engine::provider::Provider;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::codes::{Code, Failure};
use crate::model::{
    CardState, Device, Operation, OperationKind, OperationState, Project, PurchaseState, SignatureMode, State,
};
use crate::money::{format_money, parse_money};
use crate::protocol::{Command, Variant};
use crate::sign::{SignatureScheme, VerifyError};
use crate::xml::Element;
use rsa::RsaPrivateKey;

/// Shared state of the mock; one lock is its one consistency boundary: every check and change
/// of an exchange happens under one hold of it (the second; the first only reads the device's
/// settings). Work that needs no state but those settings (parsing, reading and hashing the
/// requests, RSA, writing) runs outside; what was read or verified outside with settings that
/// changed by the second hold is read or verified again under it.
#[derive(Debug)]
pub struct Inner {
    state: Mutex<State>,
    clock: Arc<Clock>,
    strict: AtomicBool,
}

/// What a till sent, as the transport received it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// `{project}` of the URL.
    pub project: &'a str,
    /// `{deviceLogin}` of the URL.
    pub device: &'a str,
    /// HTTP Basic credentials (login, password), if any.
    pub credentials: Option<(&'a str, &'a str)>,
    /// The `X-Signature` header, if any.
    pub signature: Option<&'a str>,
    /// The body bytes.
    pub body: &'a [u8],
}

/// What goes back.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// HTTP status: 200, or 401 for bad credentials.
    pub status: u16,
    /// The XML answer (empty for 401).
    pub body: Vec<u8>,
    /// `X-Signature` of the answer, for devices that sign.
    pub signature: Option<String>,
    /// What the journal's view says beyond the decoded request and answer: replays, refusals.
    pub notes: Vec<String>,
}

impl Outgoing {
    /// The journal's view of this exchange, given the request's body: both documents as trees
    /// and the notes. The transport leaves the decoding until the journal is read
    /// ([`possim_engine::journal::ViewLater`]); this builds the same view at once.
    pub fn view(&self, request: &[u8]) -> Value {
        exchange_view(request, Some(&self.body), self.notes.clone())
    }
}

/// The journal's view: `{"request": tree, "response": tree or null, "notes": […]}`. An empty
/// answer (401) has no tree.
pub(crate) fn exchange_view(request: &[u8], response: Option<&[u8]>, notes: Vec<String>) -> Value {
    let mut view = serde_json::Map::with_capacity(3);
    view.insert("request".into(), document_view(request, xml::parse));
    let response = response
        .filter(|body| !body.is_empty())
        .map_or(Value::Null, |body| document_view(body, xml::parse_answer));
    view.insert("response".into(), response);
    view.insert(
        "notes".into(),
        Value::Array(notes.into_iter().map(Value::String).collect()),
    );
    Value::Object(view)
}

impl Inner {
    /// Locks the state (never held across an `.await`).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The engine clock.
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// Answers one exchange: authentication, signature, envelope, then each singular request.
    /// The tests that bypass HTTP come through here; the HTTP handler through
    /// [`Inner::exchange_yielding`], whose steps these are: driven to the end on this thread,
    /// a yield is simply tried again.
    pub fn exchange(&self, incoming: Incoming<'_>) -> Outgoing {
        let mut exchange = std::pin::pin!(self.exchange_yielding(incoming));
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = exchange.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// Answers one exchange on the async runtime: when another exchange holds the
    /// lock, the task yields to the runtime and tries again rather than putting its worker
    /// thread to sleep (under load, two workers queueing for the lock spent ~8 % of the server's
    /// CPU in futex waits and wake-ups). The yields are the only points where the future can be
    /// dropped (hyper drops it when the till hangs up): the exchange then never happened, it is
    /// never half applied — nothing between and after the holds changes state.
    pub async fn exchange_yielding(&self, incoming: Incoming<'_>) -> Outgoing {
        let now = self.clock.now_ms();
        let parsed = xml::parse(incoming.body);
        let first = {
            let state = self.lock_yielding().await;
            self.first_hold(&state, incoming)
        };
        let first = match first {
            Ok(first) => first,
            Err(refused) => return refused,
        };
        let read = first.outside(incoming, &parsed, now);
        let decided = {
            let mut state = self.lock_yielding().await;
            self.second_hold(&mut state, incoming, &parsed, read, now)
        };
        match decided {
            Ok(decided) => decided.written(),
            Err(refused) => refused,
        }
    }

    /// Locks the state, yielding to the runtime while another exchange holds it; after
    /// [`YIELDS_BEFORE_WAITING`] tries it waits like [`Inner::lock`], so no exchange starves.
    async fn lock_yielding(&self) -> MutexGuard<'_, State> {
        for _ in 0..YIELDS_BEFORE_WAITING {
            if let Some(state) = self.try_lock() {
                return state;
            }
            tokio::task::yield_now().await;
        }
        self.lock()
    }

    /// The state if no one holds it (no guard may live across the yield: the task would not be
    /// `Send`).
    fn try_lock(&self) -> Option<MutexGuard<'_, State>> {
        match self.state.try_lock() {
            Ok(state) => Some(state),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// The first hold: who asks, and the device's settings that reading the request takes.
    fn first_hold(&self, state: &State, incoming: Incoming<'_>) -> Result<FirstHold, Outgoing> {
        let global_strict = self.strict.load(Ordering::Relaxed);
        let device = authorised(state, incoming).ok_or_else(unauthorised)?;
        Ok(FirstHold {
            reading: Reading::of(&state.projects[incoming.project], device, global_strict),
            signing: Signing::of(device),
        })
    }

    /// The second hold: everything judged by the device as it is now, then each element
    /// answered and the history trimmed.
    fn second_hold<'d>(
        &self,
        state: &mut State,
        incoming: Incoming<'_>,
        parsed: &'d Result<xml::Document, xml::XmlError>,
        read: ReadOutside<'d>,
        now: i64,
    ) -> Result<Decided, Outgoing> {
        // A data set loaded meanwhile may have removed the device or changed its password, ...
        let device = authorised(state, incoming).ok_or_else(unauthorised)?;
        // ... or changed how it signs or reads: the request is judged by the device as it is now.
        let signing = Signing::of(device);
        let verified = if signing == read.first.signing {
            read.verified
        } else {
            check_signature(&signing, incoming, now)
        };
        let reading = Reading::of(
            &state.projects[incoming.project],
            device,
            self.strict.load(Ordering::Relaxed),
        );
        let document = if reading == read.first.reading {
            read.document
        } else {
            parsed.as_ref().map(|doc| prepare(doc, reading, incoming.device))
        };
        let variant = parsed.as_ref().map_or(Variant::Y2024, Variant::of);
        let retain = state.retain;
        let project = state.projects.get_mut(incoming.project).expect("authorised above");
        domain::expire(project, now);
        let mut notes = Vec::new();
        let answered = match (verified, document) {
            (Err(failure), _) => Answered::envelope(protocol::response_root(variant, Some(&failure), None)),
            (Ok(()), Err(e)) => Answered::envelope(protocol::response_root(
                variant,
                Some(&Failure::with(Code::ParseError, e.to_string())),
                None,
            )),
            (Ok(()), Ok(prepared)) => answer_document(project, incoming.device, variant, prepared, now, &mut notes),
        };
        retention::trim(project, retain);
        Ok(Decided {
            answered,
            variant,
            notes,
            signing_key: answer_key(project, incoming.device),
        })
    }
}

/// How often [`Inner::lock_yielding`] yields before it waits. A hold lasts microseconds, a
/// yield about as long: a few dozen cover any hold but one stalled by the machine.
const YIELDS_BEFORE_WAITING: usize = 64;

/// What the first hold of the lock found.
struct FirstHold {
    reading: Reading,
    signing: Signing,
}

impl FirstHold {
    /// Between the holds: the signature checked and the requests read (no state needed, so
    /// tills on other connections are not held up: RSA takes milliseconds, reading and hashing
    /// a cheque microseconds that two busy tills used to queue for).
    fn outside<'d>(
        self,
        incoming: Incoming<'_>,
        parsed: &'d Result<xml::Document, xml::XmlError>,
        now: i64,
    ) -> ReadOutside<'d> {
        ReadOutside {
            verified: check_signature(&self.signing, incoming, now),
            document: parsed.as_ref().map(|doc| prepare(doc, self.reading, incoming.device)),
            first: self,
        }
    }
}

/// What was read between the holds, and with which settings.
struct ReadOutside<'d> {
    first: FirstHold,
    verified: Result<(), Failure>,
    document: Result<Prepared<'d>, &'d xml::XmlError>,
}

/// The answer decided under the second hold; written and signed after it.
struct Decided {
    answered: Answered,
    variant: Variant,
    notes: Vec<String>,
    signing_key: Option<Arc<RsaPrivateKey>>,
}

impl Decided {
    fn written(self) -> Outgoing {
        let root = &self.answered.root;
        let standalone = protocol::standalone(self.variant);
        let body = match &self.answered.wrapper {
            // The singular answers are written once, when they are given (a replay sends the
            // stored XML again); the envelope around them is written here.
            Some((name, written)) => {
                let written: Vec<&[u8]> = written.iter().map(|w| w.as_ref()).collect();
                xml::write_with_written(root, standalone, Some((name, &written)))
            }
            None => xml::write(root, standalone),
        };
        let signature = self.signing_key.map(|key| sign::RsaSha256.sign(&key, &body));
        Outgoing {
            status: 200,
            body,
            signature,
            notes: self.notes,
        }
    }
}

/// What reading a request takes from the state: read under the lock, compared when it is taken
/// again (a request read with other settings is read again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    strict: bool,
    offset: time::UtcOffset,
}

impl Reading {
    fn of(project: &Project, device: &Device, global_strict: bool) -> Self {
        Self {
            strict: global_strict || device.strict,
            offset: project.offset,
        }
    }
}

/// How a device signs: what a signature is checked against.
#[derive(Debug, Clone)]
struct Signing {
    mode: SignatureMode,
    key: Option<Arc<rsa::RsaPublicKey>>,
    valid_to: Option<i64>,
}

impl Signing {
    fn of(device: &Device) -> Self {
        Self {
            mode: device.signature,
            key: device.public_key.clone(),
            valid_to: device.key_valid_to,
        }
    }
}

impl PartialEq for Signing {
    /// Same mode, same key (the same loaded key, not an equal one), same validity.
    fn eq(&self, other: &Self) -> bool {
        let same_key = match (&self.key, &other.key) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.mode == other.mode && self.valid_to == other.valid_to && same_key
    }
}

/// A document read outside the lock: its command and singular requests, or why its envelope is
/// refused.
type Prepared<'d> = Result<(Command, Vec<Singular<'d>>), Failure>;

/// One singular request as read, with the digest its stored answer keeps, or why it is refused
/// before it reaches the state (an unreadable attribute, another device's `DeviceLogicalID`).
struct Singular<'d> {
    element: &'d Element,
    read: Result<(protocol::Request, [u8; 32]), Failure>,
}

fn prepare<'d>(doc: &'d xml::Document, reading: Reading, device: &str) -> Prepared<'d> {
    let envelope = protocol::envelope(doc, reading.strict)?;
    let singulars = envelope
        .elements
        .iter()
        .map(|&element| {
            let read =
                protocol::read_request(envelope.command, element, reading.offset, reading.strict).and_then(|request| {
                    match request.device_logical_id.as_deref() {
                        Some(id) if id != device => Err(Failure::with(
                            Code::DeviceNotFound,
                            "DeviceLogicalID не совпадает с устройством запроса",
                        )),
                        _ => Ok((request, element.canonical_digest())),
                    }
                });
            Singular { element, read }
        })
        .collect();
    Ok((envelope.command, singulars))
}

/// The device the request comes from, when its project, login and Basic credentials match.
fn authorised<'s>(state: &'s State, incoming: Incoming<'_>) -> Option<&'s Device> {
    state
        .projects
        .get(incoming.project)
        .and_then(|p| p.devices.get(incoming.device))
        .filter(|d| incoming.credentials == Some((d.login.as_str(), d.password.as_str())))
}

fn unauthorised() -> Outgoing {
    Outgoing {
        status: 401,
        body: Vec::new(),
        signature: None,
        notes: vec!["401: unknown project/device or wrong Basic credentials".into()],
    }
}

/// One document as a tree (`{"XMLRequest": {…}}`), or what could not be parsed and why.
fn document_view(body: &[u8], parse: fn(&[u8]) -> Result<xml::Document, xml::XmlError>) -> Value {
    let mut view = serde_json::Map::with_capacity(2);
    match parse(body) {
        Ok(doc) => {
            let name = doc.root.name.clone();
            view.insert(name.into_owned(), doc.root.into_json());
        }
        Err(e) => {
            let shown = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
            view.insert("unparsed".into(), Value::String(shown));
            view.insert("error".into(), Value::String(e.to_string()));
        }
    }
    Value::Object(view)
}

fn check_signature(signing: &Signing, incoming: Incoming<'_>, now: i64) -> Result<(), Failure> {
    if signing.mode == SignatureMode::Off {
        return Ok(());
    }
    let Some(signature) = incoming.signature else {
        return match signing.mode {
            SignatureMode::Required => Err(Failure::new(Code::SignatureNotFound)),
            _ => Ok(()),
        };
    };
    let key = signing
        .key
        .as_ref()
        .filter(|_| signing.valid_to.is_none_or(|t| now < t))
        .ok_or_else(|| Failure::new(Code::CertificateError))?;
    sign::RsaSha256
        .verify(key, incoming.body, signature)
        .map_err(|e: VerifyError| Failure::with(Code::SignatureError, e.to_string()))
}

/// The processing's key, when the device's answers are signed.
fn answer_key(project: &Project, device: &str) -> Option<Arc<RsaPrivateKey>> {
    let device = project.devices.get(device)?;
    if device.signature == SignatureMode::Off {
        return None;
    }
    project.processing_key.clone()
}

/// The answer document: its envelope as a tree and, when it answers a command, the wrapper's
/// name and the singular answers as written (in the wrapper's place).
struct Answered {
    root: Element,
    wrapper: Option<(&'static str, Vec<SingularXml>)>,
}

impl Answered {
    /// An envelope-level answer (no singular answers).
    fn envelope(root: Element) -> Self {
        Self { root, wrapper: None }
    }
}

/// A singular answer's XML: shared with the store of answers, or made for this document.
enum SingularXml {
    Stored(Arc<xml::Written>),
    Own(Vec<u8>),
}

impl AsRef<[u8]> for SingularXml {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Stored(w) => &w.xml,
            Self::Own(v) => v,
        }
    }
}

fn answer_document(
    project: &mut Project,
    device: &str,
    variant: Variant,
    prepared: Prepared<'_>,
    now: i64,
    notes: &mut Vec<String>,
) -> Answered {
    if project.devices[device].blocked {
        return Answered::envelope(protocol::response_root(
            variant,
            Some(&Failure::new(Code::DeviceBlocked)),
            None,
        ));
    }
    let (command, singulars) = match prepared {
        Ok(envelope) => envelope,
        Err(failure) => return Answered::envelope(protocol::response_root(variant, Some(&failure), None)),
    };
    let batch = singulars.len() > 1;
    let mut written = Vec::with_capacity(singulars.len());
    for singular in singulars {
        let element = singular.element;
        let xml = answer_element(project, device, command, singular, now, notes);
        let xml = match element.get("ElementID") {
            // Pairing answers with requests only matters in a batch; the 2018 answer to a
            // single request carries no ElementID.
            Some(id) if batch => SingularXml::Own(xml.with_attribute("ElementID", id)),
            _ => SingularXml::Stored(xml),
        };
        written.push(xml);
    }
    let name = command.wrapper();
    Answered {
        root: protocol::response_root(variant, None, Some(Element::new(name))),
        wrapper: Some((name, written)),
    }
}

/// One singular answer's XML as sent (the stored one when the operation is replayed).
fn answer_element(
    project: &mut Project,
    device: &str,
    command: Command,
    singular: Singular<'_>,
    now: i64,
    notes: &mut Vec<String>,
) -> Arc<xml::Written> {
    let element = singular.element;
    let echo = |mut answer: Element, failure: Option<&Failure>| {
        if let Some(id) = element.get("OperationID") {
            answer = answer.attr("OperationID", id);
        }
        if let Some(id) = element.get("DeviceLogicalID") {
            answer = answer.attr("DeviceLogicalID", id);
        }
        match failure {
            None => answer.attr("ErrorCode", "0"),
            Some(f) => answer
                .attr("ErrorCode", f.code.number().to_string())
                .attr("ErrorMessage", f.message.clone()),
        }
    };
    let unstored = |answer: Element| Arc::new(xml::Written::of(&answer));
    let response = command.response();
    let (request, digest) = match singular.read {
        Ok(read) => read,
        Err(failure) => return unstored(echo(Element::new(response), Some(&failure))),
    };
    let stored = project
        .answered
        .get(device)
        .and_then(|a| a.by_operation.get(&request.operation_id));
    if let Some(stored) = stored {
        if stored.request == digest {
            notes.push(format!(
                "OperationID {} repeated with the same request: stored answer replayed",
                request.operation_id
            ));
            return Arc::clone(&stored.answer);
        }
        notes.push(format!(
            "OperationID {} reused for a different request",
            request.operation_id
        ));
        return unstored(echo(
            Element::new(response),
            Some(&Failure::new(Code::NotUniqueOperationID)),
        ));
    }
    let answer = match domain::execute(project, device, command, &request, now) {
        Ok(reply) => {
            let mut answer = Element::new(response);
            answer.attrs = reply.attrs;
            answer.children = reply.children;
            echo(answer, None)
        }
        Err(failure) => {
            notes.push(format!(
                "{} {}: {}",
                failure.code.name(),
                failure.code.number(),
                failure.message
            ));
            echo(Element::new(response), Some(&failure))
        }
    };
    let written = Arc::new(xml::Written::of(&answer));
    let answers = match project.answered.get_mut(device) {
        Some(answers) => answers,
        None => project.answered.entry(device.to_owned()).or_default(),
    };
    answers.order.push_back(request.operation_id.clone());
    answers.by_operation.insert(
        request.operation_id,
        model::Answered {
            request: digest,
            answer: Arc::clone(&written),
        },
    );
    written
}

/// The Loymax provider.
#[derive(Debug, Clone)]
pub struct LoymaxMock {
    inner: Arc<Inner>,
}

impl LoymaxMock {
    /// A mock with empty state on the engine clock; the engine loads the data set into it.
    pub fn new(clock: Arc<Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                clock,
                strict: AtomicBool::new(false),
            }),
        }
    }

    /// `--strict`: every device enforces the schema order and refuses unknown children.
    pub fn set_strict(&self, strict: bool) {
        self.inner.strict.store(strict, Ordering::Relaxed);
    }

    /// Direct access for tests and benchmarks that bypass HTTP.
    pub fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

/// A competing change, as another till or the back office would make it.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum Change {
    /// Another till writes off points and confirms at once.
    #[serde(rename_all = "camelCase")]
    Spend {
        #[serde(default)]
        project: Option<String>,
        card: String,
        amount: String,
    },
    /// Another till writes off points and leaves its purchase open (points held).
    #[serde(rename_all = "camelCase")]
    Hold {
        #[serde(default)]
        project: Option<String>,
        card: String,
        amount: String,
    },
    /// Points credited by the back office.
    #[serde(rename_all = "camelCase")]
    Accrue {
        #[serde(default)]
        project: Option<String>,
        card: String,
        amount: String,
    },
    /// A card's state changes (blocked by the back office, ...).
    #[serde(rename_all = "camelCase")]
    CardState {
        #[serde(default)]
        project: Option<String>,
        card: String,
        state: CardState,
    },
    /// The customer's app shows a dynamic QR code, as `POST /__admin/loymax/qr` (so a golden
    /// flow's fault rule can issue the code the till then scans).
    #[serde(rename_all = "camelCase")]
    Qr {
        #[serde(default)]
        project: Option<String>,
        card: String,
    },
    /// Declares an outage: payments dated inside are refused.
    #[serde(rename_all = "camelCase")]
    Outage {
        #[serde(default)]
        project: Option<String>,
        from: String,
        to: String,
    },
}

/// The till name competing changes are booked under.
pub const COMPETITOR: &str = "другая-касса";

fn project_of<'a>(state: &'a mut State, name: &Option<String>) -> Result<&'a mut Project, String> {
    match name {
        Some(n) => state
            .projects
            .get_mut(n)
            .ok_or_else(|| format!("loymax: no project {n:?}")),
        None => state
            .projects
            .values_mut()
            .next()
            .ok_or_else(|| "loymax: the data set has no project".to_owned()),
    }
}

fn competing_purchase(p: &mut Project, card: &str, amount: i64, now: i64, confirm: bool) -> Result<Value, String> {
    let available = p
        .cards
        .get(card)
        .map(domain::available)
        .ok_or_else(|| format!("loymax: no card {card:?}"))?;
    if amount > available {
        return Err(format!(
            "loymax: card {card} has only {} available",
            format_money(available)
        ));
    }
    p.next_transaction += 1;
    let transaction = p.next_transaction;
    let purchase_id = format!("competing-{transaction}");
    let key = (COMPETITOR.to_owned(), purchase_id.clone());
    let expires_at = now.saturating_add(p.purchase_timeout_ms);
    let purchase = model::Purchase {
        device: COMPETITOR.to_owned(),
        purchase_id: purchase_id.clone(),
        card: Some(card.to_owned()),
        state: if confirm {
            PurchaseState::Confirmed
        } else {
            PurchaseState::Calculated
        },
        cheque: Vec::new(),
        cheque_date: None,
        discounts: Vec::new(),
        cashback: Vec::new(),
        pay_amounts: Vec::new(),
        operations: vec![Operation {
            operation_id: format!("competing-op-{transaction}"),
            kind: OperationKind::PaymentOperation,
            state: if confirm {
                OperationState::Confirmed
            } else {
                OperationState::Created
            },
            points: -amount,
            transaction_id: transaction,
            at: now,
            currency: None,
        }],
        coupons_used: Vec::new(),
        coupons_issued: Vec::new(),
        calculated_coupons: Vec::new(),
        calculated_params: Vec::new(),
        created_at: now,
        expires_at,
        refund_of: None,
        refunded: Default::default(),
        refunded_pay: Default::default(),
        refunded_cashback: Default::default(),
    };
    let entry = p.cards.get_mut(card).expect("checked above");
    if confirm {
        entry.balance -= amount;
    } else {
        entry.held += amount;
        p.open.insert((expires_at, key.0.clone(), key.1.clone()));
    }
    p.purchases.insert(key, purchase);
    Ok(
        json!({"device": COMPETITOR, "purchaseId": purchase_id, "card": card, "points": format_money(amount),
        "confirmed": confirm, "available": format_money(domain::available(&p.cards[card]))}),
    )
}

fn amount(text: &str) -> Result<i64, String> {
    parse_money(text)
        .filter(|a| *a > 0)
        .ok_or_else(|| format!("loymax: {text:?} is not a positive amount"))
}

impl Provider for LoymaxMock {
    fn name(&self) -> &'static str {
        "loymax"
    }

    fn refusal(&self, status: axum::http::StatusCode, message: &str) -> axum::http::Response<axum::body::Bytes> {
        refusal::answer(status, message)
    }

    fn router(&self) -> axum::Router {
        handlers::router(Arc::clone(&self.inner))
    }

    fn load(&self, data: &DataSet) -> Result<(), EngineError> {
        let state = State::from_data_set(data)?;
        *self.inner.lock() = state;
        Ok(())
    }

    fn check(&self, data: &DataSet) -> Result<(), EngineError> {
        State::from_data_set(data).map(drop)
    }

    fn snapshot(&self) -> Value {
        let now = self.inner.clock.now_ms();
        let mut state = self.inner.lock();
        let mut projects = Vec::new();
        for p in state.projects.values_mut() {
            domain::expire(p, now);
            let cards: Vec<Value> = p
                .cards
                .values()
                .map(|c| {
                    json!({"number": c.number, "customer": c.customer, "cardType": c.card_type, "state": c.state,
                        "balance": format_money(c.balance), "held": format_money(c.held),
                        "otherBalances": c.other_balances.iter().map(|(k, v)| (k.clone(), Value::String(format_money(*v)))).collect::<serde_json::Map<_, _>>(),
                        "available": format_money(domain::available(c))})
                })
                .collect();
            let mut sorted: Vec<_> = p.purchases.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let purchases: Vec<Value> = sorted
                .into_iter()
                .map(|(_, pu)| {
                    json!({"device": pu.device, "purchaseId": pu.purchase_id, "state": pu.state, "card": pu.card,
                        "refundOf": pu.refund_of.as_ref().map(|(d, id)| json!({"device": d, "purchaseId": id})),
                        "createdAt": format_rfc3339(pu.created_at), "expiresAt": format_rfc3339(pu.expires_at),
                        "cheque": pu.cheque, "discounts": pu.discounts.iter().map(|v| format_money(*v)).collect::<Vec<_>>(),
                        "payAmounts": pu.pay_amounts.iter().map(|v| format_money(*v)).collect::<Vec<_>>(),
                        "cashback": pu.cashback.iter().map(|v| format_money(*v)).collect::<Vec<_>>(),
                        "operations": pu.operations.iter().map(|o| json!({"operationId": o.operation_id, "kind": o.kind,
                            "state": o.state, "points": format_money(o.points), "transactionId": o.transaction_id,
                            "at": format_rfc3339(o.at)})).collect::<Vec<_>>(),
                        "couponsUsed": pu.coupons_used, "couponsIssued": pu.coupons_issued})
                })
                .collect();
            projects.push(json!({
                "name": p.name,
                "currency": p.currency,
                "devices": p.devices.values().collect::<Vec<_>>(),
                "customers": p.customers.values().collect::<Vec<_>>(),
                "cards": cards,
                "coupons": p.coupons.values().collect::<Vec<_>>(),
                "offers": p.offers.iter().map(|o| json!({"id": o.id, "name": o.name})).collect::<Vec<_>>(),
                "purchases": purchases,
                "outages": p.outages.iter().map(|(f, t)| json!({"from": format_rfc3339(*f), "to": format_rfc3339(*t)})).collect::<Vec<_>>(),
                "answeredOperations": p.answered.values().map(|a| a.by_operation.len()).sum::<usize>(),
                "summarisedPurchases": p.summarised_purchases,
            }));
        }
        // The conformance judge's state checks select from top-level lists: every project's
        // cards, purchases and coupons again, flat, each with its project's name.
        let flat = |key: &str| -> Vec<Value> {
            projects
                .iter()
                .flat_map(|p| {
                    let name = p["name"].clone();
                    p[key]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |mut item| {
                            if let Value::Object(map) = &mut item {
                                map.insert("project".into(), name.clone());
                            }
                            item
                        })
                })
                .collect()
        };
        let (cards, purchases, coupons) = (flat("cards"), flat("purchases"), flat("coupons"));
        json!({"projects": projects, "cards": cards, "purchases": purchases, "coupons": coupons,
            "strict": self.inner.strict.load(Ordering::Relaxed)})
    }

    fn apply_change(&self, change: &Value) -> Result<Value, String> {
        let change: Change = serde_json::from_value(change.clone()).map_err(|e| {
            format!("loymax competing change: {e} (expected {{\"type\": \"spend\"|\"hold\"|\"accrue\"|\"cardState\"|\"qr\"|\"outage\", ...}})")
        })?;
        let now = self.inner.clock.now_ms();
        // A competing purchase is either spent (confirmed) or only held.
        let confirm = matches!(change, Change::Spend { .. });
        let mut state = self.inner.lock();
        match change {
            Change::Spend {
                project,
                card,
                amount: a,
            }
            | Change::Hold {
                project,
                card,
                amount: a,
            } => {
                let p = project_of(&mut state, &project)?;
                domain::expire(p, now);
                competing_purchase(p, &card, amount(&a)?, now, confirm)
            }
            Change::Accrue {
                project,
                card,
                amount: a,
            } => {
                let p = project_of(&mut state, &project)?;
                let points = amount(&a)?;
                let entry = p
                    .cards
                    .get_mut(&card)
                    .ok_or_else(|| format!("loymax: no card {card:?}"))?;
                entry.balance += points;
                Ok(json!({"card": card, "balance": format_money(entry.balance)}))
            }
            Change::CardState {
                project,
                card,
                state: new,
            } => {
                let p = project_of(&mut state, &project)?;
                let entry = p
                    .cards
                    .get_mut(&card)
                    .ok_or_else(|| format!("loymax: no card {card:?}"))?;
                entry.state = new;
                Ok(json!({"card": card, "state": new}))
            }
            Change::Qr { project, card } => {
                let p = project_of(&mut state, &project)?;
                let (payload, until) = domain::issue_qr(p, &card, now)?;
                Ok(json!({"qr": payload, "validTo": format_rfc3339(until)}))
            }
            Change::Outage { project, from, to } => {
                let p = project_of(&mut state, &project)?;
                let from_ms = parse_rfc3339(&from).map_err(|e| format!("loymax outage from: {e}"))?;
                let to_ms = parse_rfc3339(&to).map_err(|e| format!("loymax outage to: {e}"))?;
                if to_ms <= from_ms {
                    return Err("loymax outage: `to` must be after `from`".into());
                }
                p.outages.push((from_ms, to_ms));
                Ok(json!({"outage": {"from": from, "to": to}}))
            }
        }
    }

    fn classify(&self, request: &HttpRequestRecord) -> Option<possim_engine::journal::Operation> {
        Some(operations::classify(request))
    }

    fn describe(&self, request: &HttpRequestRecord, response: Option<&HttpResponseRecord>) -> Option<Value> {
        // Bytes that are not UTF-8 were recorded as base64; the view says why they do not parse.
        let body = request.body.bytes()?;
        let response = response.and_then(|r| r.body.bytes());
        Some(exchange_view(&body, response.as_deref(), Vec::new()))
    }

    fn admin_router(&self) -> Option<axum::Router> {
        Some(handlers::admin_router(Arc::clone(&self.inner)))
    }

    fn admin_openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(<handlers::AdminApi as utoipa::OpenApi>::openapi())
    }
}

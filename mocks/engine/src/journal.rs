//! The journal: an append-only record of every exchange a mock took part in.
//!
//! The conformance runner judges a till by what it sent and what it got back, so every exchange
//! is kept with its raw bytes, timing, connection and the fault that shaped it. The journal is a
//! bounded ring (oldest entries go first, and the count of dropped entries is reported) so a
//! long-running `possim serve` under load keeps a fixed memory footprint. The ring is bounded
//! twice: by entries and by bytes (an estimate of what the entries hold), and each entry's
//! headers ([`MAX_RECORDED_HEADERS`], cut with the [`HEADERS_CUT`] marker) and bodies
//! ([`MAX_RECORDED_BODY`], marked `cut`) are bounded on the way in, so a flood of huge
//! requests pushes old entries out instead of growing the process.
//!
//! Entries are transport-tagged: HTTP exchanges a mock answered (with the [`Operation`] its
//! provider names them by), HTTP requests a provider sent on its own (`Outbound`), and the ZVT
//! terminal's APDUs and notes (`Zvt`, with a typed [`ZvtDirection`] and the control field).
//!
//! Watchers (the web console) follow the journal live through [`Journal::subscribe`]: a bounded
//! broadcast, so a slow or stalled watcher skips entries (it learns how many) instead of making the
//! journal buffer for it or the mocks wait.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;

/// Bodies longer than this are cut in the journal (and marked as cut); the wire is not affected.
pub const MAX_RECORDED_BODY: usize = 64 * 1024;

/// Default number of entries the ring keeps.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Default byte budget of the ring: the estimated size of all entries held (see
/// [`JournalEntry::estimated_bytes`]); the oldest entries go when a new one would exceed it.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Header names and values of one request or response beyond this many bytes are not recorded;
/// a last pseudo-header [`HEADERS_CUT`] says how many were left out. The wire is not affected.
pub const MAX_RECORDED_HEADERS: usize = 16 * 1024;

/// Name of the pseudo-header that marks cut headers; its value reads `"<n> headers (<b> bytes)
/// not recorded"`.
pub const HEADERS_CUT: &str = "x-possim-journal-cut";

/// How many events a live watcher may fall behind before it skips the oldest ones.
pub const LIVE_CAPACITY: usize = 1024;

/// What live watchers of the journal see ([`Journal::subscribe`]).
#[derive(Debug, Clone)]
pub enum JournalEvent {
    /// A new entry, as recorded: a view left for later ([`Journal::record_described_later`])
    /// holds only the handler's part; a watcher that shows views reads the entry with
    /// [`Journal::select`]. Nothing is decoded for watchers on the mocks' request path.
    Recorded(Arc<JournalEntry>),
    /// An entry already sent replaced by its finished version ([`Journal::complete`]).
    Completed(Arc<JournalEntry>),
    /// Every entry removed ([`Journal::clear`], a reset).
    Cleared,
}

/// One recorded exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Increasing id, unique for the lifetime of the process (not reset by clearing).
    pub id: u64,
    /// Provider that served the exchange (`tyrios`, ...).
    pub provider: String,
    /// Id of the TCP connection it arrived on; equal ids mean a reused (keep-alive) connection.
    pub connection: u64,
    /// Engine-clock time the request was received, epoch milliseconds.
    pub at: Millis,
    /// Wall time from having the whole request to having answered, in microseconds.
    pub duration_micros: u64,
    /// The fault rule that fired for this exchange, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultHit>,
    /// The exchange as people read it, when its wire form is opaque (the Computop Paygate's
    /// encrypted `Data`): `{"request": {…}, "response": {…}, "notes": […]}` with the decrypted
    /// fields. The judge compares this instead of the raw bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<serde_json::Value>,
    /// The exchange itself.
    #[serde(flatten)]
    pub exchange: Exchange,
}

impl JournalEntry {
    /// What the entry holds in memory, roughly: the bytes of its texts plus a fixed overhead
    /// per field. The journal's byte budget counts this; it is cheap (no serialisation).
    pub fn estimated_bytes(&self) -> usize {
        const ENTRY: usize = 256;
        let view = self.view.as_ref().map_or(0, value_bytes);
        let fault = self.fault.as_ref().map_or(0, |f| {
            64 + f.action.len() + f.name.as_ref().map_or(0, String::len) + f.note.as_ref().map_or(0, value_bytes)
        });
        let exchange = match &self.exchange {
            Exchange::Http { request, response, .. } => {
                request_bytes(request) + response.as_ref().map_or(0, response_bytes)
            }
            Exchange::Outbound {
                purpose,
                url,
                request,
                response,
                error,
                ..
            } => {
                purpose.len()
                    + url.len()
                    + request_bytes(request)
                    + response.as_ref().map_or(0, response_bytes)
                    + error.as_ref().map_or(0, String::len)
            }
            Exchange::Zvt {
                link,
                control,
                hex,
                text,
                ..
            } => link.len() + control.as_ref().map_or(0, String::len) + hex.len() + text.len(),
        };
        ENTRY + self.provider.len() + view + fault + exchange
    }

    /// Cuts the headers of the entry's request and response to [`MAX_RECORDED_HEADERS`] each.
    fn cut_headers(&mut self) {
        match &mut self.exchange {
            Exchange::Http { request, response, .. } | Exchange::Outbound { request, response, .. } => {
                cut_headers(&mut request.headers);
                if let Some(response) = response {
                    cut_headers(&mut response.headers);
                }
            }
            Exchange::Zvt { .. } => {}
        }
    }
}

/// Per header pair: the vector slot (two `String`s) and two allocations.
const HEADER_OVERHEAD: usize = 48 + 2 * 16;

fn headers_bytes(headers: &[(String, String)]) -> usize {
    headers.iter().map(|(n, v)| n.len() + v.len() + HEADER_OVERHEAD).sum()
}

fn body_bytes(body: &RecordedBody) -> usize {
    body.text.as_ref().map_or(0, String::len) + body.base64.as_ref().map_or(0, String::len)
}

fn request_bytes(r: &HttpRequestRecord) -> usize {
    r.method.len()
        + r.path.len()
        + r.query.as_ref().map_or(0, String::len)
        + headers_bytes(&r.headers)
        + body_bytes(&r.body)
}

fn response_bytes(r: &HttpResponseRecord) -> usize {
    headers_bytes(&r.headers) + body_bytes(&r.body)
}

/// What a JSON tree takes on the heap, roughly: a `Value` is 32 bytes, an object member adds
/// its slot in the ordered map (hash, key, value: about 80 bytes) and every string its
/// allocation (length plus about 16 bytes of allocator overhead). Calibrated against the RSS of
/// the Loymax load bench, whose entries carry the decoded XML as `view`.
fn value_bytes(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    const VALUE: usize = 32;
    const ALLOCATION: usize = 16;
    const MEMBER: usize = 80;
    match value {
        Value::String(s) => VALUE + ALLOCATION + s.len(),
        Value::Array(items) => VALUE + ALLOCATION + items.iter().map(value_bytes).sum::<usize>(),
        Value::Object(map) => {
            VALUE
                + ALLOCATION * 2
                + map
                    .iter()
                    .map(|(k, v)| MEMBER + ALLOCATION + k.len() + value_bytes(v))
                    .sum::<usize>()
        }
        _ => VALUE,
    }
}

/// Keeps the headers that fit [`MAX_RECORDED_HEADERS`] (in order) and appends the marker.
fn cut_headers(headers: &mut Vec<(String, String)>) {
    let mut used = 0;
    let Some(keep) = headers.iter().position(|(n, v)| {
        used += n.len() + v.len();
        used > MAX_RECORDED_HEADERS
    }) else {
        return;
    };
    let left_out = headers.len() - keep;
    let bytes: usize = headers[keep..].iter().map(|(n, v)| n.len() + v.len()).sum();
    headers.truncate(keep);
    headers.shrink_to_fit();
    headers.push((
        HEADERS_CUT.to_owned(),
        format!("{left_out} headers ({bytes} bytes) not recorded"),
    ));
}

/// The transport-specific part of an entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "transport", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Exchange {
    /// An HTTP request and what became of it.
    Http {
        /// The request as received.
        request: HttpRequestRecord,
        /// The response as sent; absent when the connection was closed without an answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<HttpResponseRecord>,
        /// How the exchange ended.
        outcome: Outcome,
        /// What the request asked for, as the provider names it ([`Provider::classify`]);
        /// absent when the provider does not classify its traffic.
        ///
        /// [`Provider::classify`]: crate::provider::Provider::classify
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<Operation>,
    },
    /// An HTTP request the provider itself sent to the shop (a Paygate notify, the simulated
    /// customer's browser returning to URLSuccess/URLFailure), and the shop's answer.
    Outbound {
        /// `notify`, `success` or `failure`.
        purpose: String,
        /// The URL it went to.
        url: String,
        /// 1 for the first delivery attempt, 2… for retries.
        attempt: u32,
        /// The request as sent.
        request: HttpRequestRecord,
        /// The shop's answer; absent when none came.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<HttpResponseRecord>,
        /// Why no answer came (connection refused, time-out, lost by a fault).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// One APDU on the virtual card terminal's link, or a note of the terminal (a commit, an
    /// automatic reversal) between them.
    Zvt {
        /// Who sent it (`ecr-to-pt`, `pt-to-ecr`), or `note`.
        direction: ZvtDirection,
        /// `tcp` or `serial`.
        link: String,
        /// The APDU's control field (class and instruction byte) as hex, `"06 01"`; absent for
        /// a note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        control: Option<String>,
        /// The APDU as hex (empty for a note).
        hex: String,
        /// The APDU decoded for people, or the note.
        text: String,
    },
}

/// What a request asked a provider to do, named by the provider itself: the runner's judge
/// reads `write` to tell requests a till may repeat at will (lookups, drafts, inquiries) from
/// those that change state, without knowing any provider's paths.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Operation {
    /// A stable, provider-scoped name such as `pos.final` or `user.lookup`.
    pub name: String,
    /// Whether the request may change provider state.
    pub write: bool,
}

impl Operation {
    /// A request that only reads.
    pub fn read(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            write: false,
        }
    }

    /// A request that may change state.
    pub fn write(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            write: true,
        }
    }
}

/// The direction of a ZVT journal entry; serialised as `ecr-to-pt`, `pt-to-ecr` or `note`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ZvtDirection {
    /// From the cash register to the terminal.
    EcrToPt,
    /// From the terminal to the cash register.
    PtToEcr,
    /// A note of the terminal (a commit, an automatic reversal, a protocol finding).
    Note,
}

impl ZvtDirection {
    /// The journal's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcrToPt => "ecr-to-pt",
            Self::PtToEcr => "pt-to-ecr",
            Self::Note => "note",
        }
    }
}

/// A readable view of an exchange a handler attaches to its response (as an extension); the
/// transport moves it into the entry's `view`.
#[derive(Debug, Clone)]
pub struct View(pub serde_json::Value);

/// What a handler attaches instead of a [`View`] when the view is a decoding of the recorded
/// bytes (Loymax's XML as a tree): only the part the bytes do not tell, such as
/// `{"notes": […]}`. The transport records it as the entry's `view` and has the provider's
/// `describe` build the rest when the journal is read ([`Journal::record_described_later`]), so
/// an exchange under load does not pay for a view nobody may ask for. The handler must use
/// [`View`] instead when a body is longer than [`MAX_RECORDED_BODY`]: the journal keeps only
/// the first part of it, and a decoding of that part would not show what was exchanged.
#[derive(Debug, Clone)]
pub struct ViewLater(pub serde_json::Value);

/// Builds the view of an HTTP exchange from its recorded request and answer; see
/// [`Journal::record_described_later`].
pub type Describer =
    Arc<dyn Fn(&HttpRequestRecord, Option<&HttpResponseRecord>) -> Option<serde_json::Value> + Send + Sync>;

/// The entry with its view built by `describe`: the members of the recorded (partial) view
/// replace those `describe` gives, so the handler's notes survive.
fn described(entry: &JournalEntry, describe: &Describer) -> Arc<JournalEntry> {
    let (request, response) = match &entry.exchange {
        Exchange::Http { request, response, .. } | Exchange::Outbound { request, response, .. } => {
            (request, response.as_ref())
        }
        Exchange::Zvt { .. } => return Arc::new(entry.clone()),
    };
    let mut view = describe(request, response);
    match (&mut view, &entry.view) {
        (Some(serde_json::Value::Object(full)), Some(serde_json::Value::Object(partial))) => {
            for (name, value) in partial {
                full.insert(name.clone(), value.clone());
            }
        }
        (None, partial) => view = partial.clone(),
        _ => {}
    }
    let mut entry = entry.clone();
    entry.view = view;
    Arc::new(entry)
}

/// How an exchange ended on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A complete response was sent.
    Answered,
    /// The connection was closed without any response (fault).
    ConnectionClosed,
    /// Headers and part of the body were sent, then the connection was cut (fault).
    Truncated,
}

/// A recorded HTTP request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpRequestRecord {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Path without the query, as sent (not percent-decoded).
    pub path: String,
    /// Raw query string without `?`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Header name/value pairs in the order received (names lower-cased by HTTP/1 parsing).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: RecordedBody,
}

/// A recorded HTTP response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponseRecord {
    /// Status code.
    pub status: u16,
    /// Header name/value pairs.
    pub headers: Vec<(String, String)>,
    /// The body as sent (for a truncated answer: the whole body that was meant to be sent).
    pub body: RecordedBody,
}

/// A body as text when it is UTF-8, otherwise base64.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedBody {
    /// UTF-8 text of the body, when it is valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Base64 of the body, when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// Length of the full body in bytes.
    pub length: usize,
    /// True when the journal kept only the first [`MAX_RECORDED_BODY`] bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

impl RecordedBody {
    /// The recorded bytes (the first [`MAX_RECORDED_BODY`] when `cut`), text or base64 alike;
    /// `None` when the base64 is not valid (a record edited by hand).
    pub fn bytes(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        match (&self.text, &self.base64) {
            (Some(text), _) => Some(std::borrow::Cow::Borrowed(text.as_bytes())),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .map(std::borrow::Cow::Owned),
            (None, None) => Some(std::borrow::Cow::Borrowed(&[])),
        }
    }

    /// Records `bytes`, keeping at most [`MAX_RECORDED_BODY`] of them.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let cut = bytes.len() > MAX_RECORDED_BODY;
        let kept = &bytes[..bytes.len().min(MAX_RECORDED_BODY)];
        match std::str::from_utf8(kept) {
            Ok(text) => Self {
                text: Some(text.to_owned()),
                base64: None,
                length: bytes.len(),
                cut,
            },
            Err(_) => Self {
                text: None,
                base64: Some(base64::engine::general_purpose::STANDARD.encode(kept)),
                length: bytes.len(),
                cut,
            },
        }
    }
}

/// Which fault rule shaped an exchange, and what it did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultHit {
    /// Id of the rule.
    pub rule: u64,
    /// Name of the rule, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The action, as a short word (`delay`, `respond`, `close`, ...).
    pub action: String,
    /// Extra detail, e.g. the provider's answer to a competing change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<serde_json::Value>,
}

/// Selects entries when listing.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JournalFilter {
    /// Only this provider.
    pub provider: Option<String>,
    /// Only this HTTP method (case-insensitive).
    pub method: Option<String>,
    /// Only paths containing this text.
    pub path: Option<String>,
    /// Only this response status.
    pub status: Option<u16>,
    /// Only entries with an id greater than this.
    pub since: Option<u64>,
    /// At most this many entries (the newest ones that match).
    pub limit: Option<usize>,
    /// Admin listing only: the most bytes of JSON one page of entries may take (at least one
    /// entry is always sent); the answer's `next` continues the listing. See the admin API.
    pub page_bytes: Option<usize>,
}

impl JournalFilter {
    fn matches(&self, entry: &JournalEntry) -> bool {
        if let Some(since) = self.since
            && entry.id <= since
        {
            return false;
        }
        if let Some(provider) = &self.provider
            && &entry.provider != provider
        {
            return false;
        }
        match &entry.exchange {
            Exchange::Zvt { .. } => {
                if self.method.is_some() || self.path.is_some() || self.status.is_some() {
                    return false;
                }
            }
            Exchange::Http { request, response, .. } | Exchange::Outbound { request, response, .. } => {
                if let Some(method) = &self.method
                    && !request.method.eq_ignore_ascii_case(method)
                {
                    return false;
                }
                if let Some(path) = &self.path
                    && !request.path.contains(path.as_str())
                {
                    return false;
                }
                if let Some(status) = self.status
                    && response.as_ref().map(|r| r.status) != Some(status)
                {
                    return false;
                }
            }
        }
        true
    }
}

/// One entry of the ring, with what builds its view when it is read, if that waits.
#[derive(Clone)]
struct Slot {
    entry: Arc<JournalEntry>,
    describe: Option<Describer>,
}

impl Slot {
    /// The entry as readers see it: with its view built, if that was left for now.
    fn read(&self) -> Arc<JournalEntry> {
        match &self.describe {
            Some(describe) => described(&self.entry, describe),
            None => Arc::clone(&self.entry),
        }
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("entry", &self.entry)
            .field("described_later", &self.describe.is_some())
            .finish()
    }
}

/// An entry [`Journal::select`] found, its view not built yet if that waits.
#[derive(Debug, Clone)]
pub struct Selected(Slot);

impl Selected {
    /// The entry's id.
    pub fn id(&self) -> u64 {
        self.0.entry.id
    }

    /// The entry as readers see it, its view built if it was left for later.
    pub fn read(&self) -> Arc<JournalEntry> {
        self.0.read()
    }

    /// The entry as recorded, without building anything: a view left for later holds only
    /// the handler's part (for summaries that show no view).
    pub fn recorded(&self) -> &Arc<JournalEntry> {
        &self.0.entry
    }
}

/// The entries and the bytes they are estimated to hold.
#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Slot>,
    bytes: usize,
}

impl Ring {
    fn pop_front(&mut self) -> bool {
        match self.entries.pop_front() {
            Some(gone) => {
                self.bytes = self.bytes.saturating_sub(gone.entry.estimated_bytes());
                true
            }
            None => false,
        }
    }
}

/// The journal's byte budget, shown by the admin API beside [`JournalStats`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JournalBudget {
    /// Estimated bytes the entries hold now ([`JournalEntry::estimated_bytes`]).
    pub bytes: usize,
    /// The most they may hold.
    pub max_bytes: usize,
}

/// The bounded, thread-safe journal.
#[derive(Debug)]
pub struct Journal {
    entries: Mutex<Ring>,
    capacity: usize,
    max_bytes: usize,
    enabled: AtomicBool,
    next_id: AtomicU64,
    dropped: AtomicU64,
    live: tokio::sync::broadcast::Sender<JournalEvent>,
}

/// Counters shown by the admin API.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalStats {
    /// Whether exchanges are being recorded.
    pub enabled: bool,
    /// Entries held now.
    pub len: usize,
    /// Maximum entries held.
    pub capacity: usize,
    /// Entries pushed out of the ring since the last clear.
    pub dropped: u64,
}

impl Journal {
    /// A journal keeping at most `capacity` entries (at least one) within [`DEFAULT_MAX_BYTES`].
    pub fn new(capacity: usize) -> Self {
        Self::with_budget(capacity, DEFAULT_MAX_BYTES)
    }

    /// A journal keeping at most `capacity` entries (at least one) whose estimated size stays
    /// within `max_bytes` (the newest entry is always kept, whatever its size).
    pub fn with_budget(capacity: usize, max_bytes: usize) -> Self {
        Self {
            entries: Mutex::new(Ring {
                entries: VecDeque::with_capacity(capacity.clamp(1, 1024)),
                bytes: 0,
            }),
            capacity: capacity.max(1),
            max_bytes,
            enabled: AtomicBool::new(true),
            next_id: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            live: tokio::sync::broadcast::channel(LIVE_CAPACITY).0,
        }
    }

    /// Follows the journal live from now on. The channel is bounded ([`LIVE_CAPACITY`]): a
    /// receiver that falls behind gets `Lagged(n)` and continues with the newest events.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<JournalEvent> {
        self.live.subscribe()
    }

    /// Tells live watchers, if any (sent under the ring's lock, so they see the ring's order).
    fn publish(&self, event: impl FnOnce() -> JournalEvent) {
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(event());
        }
    }

    /// Turns recording on or off; transports skip all copying while it is off.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether recording is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Appends an entry (its `id` is assigned here) and returns the id.
    pub fn record(&self, entry: JournalEntry) -> u64 {
        self.insert(entry, None)
    }

    /// Appends an HTTP entry whose view `describe` builds from its recorded request and answer
    /// each time the entry is read (listed, or sent to live watchers); the entry's own `view`
    /// holds what the bytes do not tell (see [`ViewLater`]) and its members win. Nothing is
    /// decoded while nobody reads, which is what keeps the Loymax mock fast under load. The
    /// byte budget counts the entry as recorded.
    pub fn record_described_later(&self, entry: JournalEntry, describe: Describer) -> u64 {
        self.insert(entry, Some(describe))
    }

    fn insert(&self, mut entry: JournalEntry, describe: Option<Describer>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        entry.id = id;
        entry.cut_headers();
        let size = entry.estimated_bytes();
        let slot = Slot {
            entry: Arc::new(entry),
            describe,
        };
        let recorded = Arc::clone(&slot.entry);
        let mut ring = self.lock();
        while !ring.entries.is_empty()
            && (ring.entries.len() >= self.capacity || ring.bytes + size > self.max_bytes)
            && ring.pop_front()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // Ids are taken before the lock, so two writers may arrive out of order; keep the ring
        // sorted so `since` filtering and export stay in id order.
        let pos = ring.entries.iter().rposition(|s| s.entry.id < id).map_or(0, |p| p + 1);
        ring.entries.insert(pos, slot);
        ring.bytes += size;
        self.publish(|| JournalEvent::Recorded(recorded));
        id
    }

    /// Replaces the entry `id` (kept) with its finished version: an exchange the provider itself
    /// started is recorded when it starts, so the journal keeps the order in which things
    /// happened, and completed when its answer is in. Gone (pushed out of the ring, cleared):
    /// nothing happens.
    pub fn complete(&self, id: u64, mut entry: JournalEntry) {
        entry.id = id;
        entry.cut_headers();
        let size = entry.estimated_bytes();
        let mut ring = self.lock();
        let Ring { entries, bytes } = &mut *ring;
        if let Some(slot) = entries.iter_mut().rev().find(|s| s.entry.id == id) {
            *bytes = bytes.saturating_sub(slot.entry.estimated_bytes()) + size;
            *slot = Slot {
                entry: Arc::new(entry),
                describe: None,
            };
            self.publish(|| JournalEvent::Completed(Arc::clone(&slot.entry)));
        }
    }

    /// Matching entries, oldest first. With `limit`, the newest `limit` of them. Views left
    /// for later are built here, after the ring's lock is let go.
    pub fn list(&self, filter: &JournalFilter) -> Vec<Arc<JournalEntry>> {
        self.select(filter).iter().map(Selected::read).collect()
    }

    /// [`Journal::list`] without building any view yet: a reader that pages or streams the
    /// entries builds only those it sends ([`Selected::read`]).
    pub fn select(&self, filter: &JournalFilter) -> Vec<Selected> {
        let mut slots: Vec<Selected> = {
            let ring = self.lock();
            ring.entries
                .iter()
                .filter(|s| filter.matches(&s.entry))
                .map(|s| Selected(s.clone()))
                .collect()
        };
        if let Some(limit) = filter.limit
            && slots.len() > limit
        {
            slots.drain(..slots.len() - limit);
        }
        slots
    }

    /// Removes every entry and resets the dropped counter (ids keep increasing).
    pub fn clear(&self) {
        let mut ring = self.lock();
        ring.entries.clear();
        ring.bytes = 0;
        self.dropped.store(0, Ordering::Relaxed);
        self.publish(|| JournalEvent::Cleared);
    }

    /// Counters for the admin API.
    pub fn stats(&self) -> JournalStats {
        JournalStats {
            enabled: self.is_enabled(),
            len: self.lock().entries.len(),
            capacity: self.capacity,
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// The byte budget and how much of it is used.
    pub fn budget(&self) -> JournalBudget {
        JournalBudget {
            bytes: self.lock().bytes,
            max_bytes: self.max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_entry(provider: &str, path: &str, status: u16) -> JournalEntry {
        JournalEntry {
            view: None,
            id: 0,
            provider: provider.into(),
            connection: 1,
            at: 0,
            duration_micros: 0,
            fault: None,
            exchange: Exchange::Http {
                request: HttpRequestRecord {
                    method: "POST".into(),
                    path: path.into(),
                    query: None,
                    headers: vec![],
                    body: RecordedBody::from_bytes(b"{}"),
                },
                response: Some(HttpResponseRecord {
                    status,
                    headers: vec![],
                    body: RecordedBody::from_bytes(b"{}"),
                }),
                outcome: Outcome::Answered,
                operation: None,
            },
        }
    }

    #[test]
    fn a_completed_entry_keeps_its_place_and_id() {
        let journal = Journal::new(10);
        let started = journal.record(http_entry("computop", "/notify", 0));
        let later = journal.record(http_entry("computop", "/credit.aspx", 200));
        journal.complete(started, http_entry("computop", "/notify", 200));
        let all = journal.list(&JournalFilter::default());
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![started, later]);
        let Exchange::Http { response, .. } = &all[0].exchange else {
            panic!("http entry")
        };
        assert_eq!(response.as_ref().map(|r| r.status), Some(200));
        // An entry the ring already dropped stays dropped.
        journal.clear();
        journal.complete(started, http_entry("computop", "/notify", 200));
        assert_eq!(journal.stats().len, 0);
    }

    #[test]
    fn watchers_see_records_completions_and_clears_and_lag_instead_of_blocking() {
        let journal = Journal::new(10);
        let mut watcher = journal.subscribe();
        let first = journal.record(http_entry("computop", "/notify", 0));
        journal.complete(first, http_entry("computop", "/notify", 200));
        journal.clear();
        assert!(matches!(watcher.try_recv(), Ok(JournalEvent::Recorded(e)) if e.id == first));
        assert!(matches!(watcher.try_recv(), Ok(JournalEvent::Completed(e)) if e.id == first));
        assert!(matches!(watcher.try_recv(), Ok(JournalEvent::Cleared)));
        // A watcher that never reads does not hold the recorders up: it skips, and is told so.
        for _ in 0..LIVE_CAPACITY + 5 {
            journal.record(http_entry("tyrios", "/x", 200));
        }
        assert_eq!(
            watcher.try_recv().err(),
            Some(tokio::sync::broadcast::error::TryRecvError::Lagged(5))
        );
    }

    /// A describer that counts its calls and shows the bodies' lengths, so a test can tell
    /// when views are built and from what.
    fn counting_describer(calls: &Arc<AtomicU64>) -> Describer {
        let calls = Arc::clone(calls);
        Arc::new(
            move |request: &HttpRequestRecord, response: Option<&HttpResponseRecord>| {
                calls.fetch_add(1, Ordering::Relaxed);
                Some(serde_json::json!({
                    "request": request.body.length,
                    "response": response.map(|r| r.body.length),
                    "notes": [],
                }))
            },
        )
    }

    #[test]
    fn a_view_left_for_later_is_built_from_the_record_when_read_and_keeps_the_handlers_notes() {
        let journal = Journal::new(10);
        let calls = Arc::new(AtomicU64::new(0));
        let mut entry = http_entry("loymax", "/XmlExchange/possim/kassa-1/", 200);
        entry.view = Some(serde_json::json!({"notes": ["replayed"]}));
        let partial_size = entry.estimated_bytes();
        journal.record_described_later(entry, counting_describer(&calls));
        assert_eq!(
            calls.load(Ordering::Relaxed),
            0,
            "nothing is decoded while nobody reads"
        );
        assert_eq!(
            journal.budget().bytes,
            partial_size,
            "the budget counts the entry as recorded"
        );
        for _ in 0..2 {
            let listed = journal.list(&JournalFilter::default());
            // `http_entry` bodies are `{}`: two bytes each way.
            assert_eq!(
                listed[0].view,
                Some(serde_json::json!({"request": 2, "response": 2, "notes": ["replayed"]}))
            );
        }
        assert_eq!(calls.load(Ordering::Relaxed), 2, "built at each read, never stored");
        // A filter that excludes the entry builds nothing.
        let other = JournalFilter {
            provider: Some("tyrios".into()),
            ..JournalFilter::default()
        };
        assert!(journal.list(&other).is_empty());
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // Selecting builds nothing; a pager builds only the entries it sends.
        journal.record_described_later(http_entry("loymax", "/y", 200), counting_describer(&calls));
        let selected = journal.select(&JournalFilter::default());
        assert_eq!(selected.len(), 2);
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(selected[1].read().id, selected[1].id());
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn watchers_get_entries_as_recorded_and_nothing_is_decoded_for_them() {
        let journal = Journal::new(10);
        let calls = Arc::new(AtomicU64::new(0));
        let mut watcher = journal.subscribe();
        let mut entry = http_entry("loymax", "/x", 200);
        entry.view = Some(serde_json::json!({"notes": ["n"]}));
        let id = journal.record_described_later(entry, counting_describer(&calls));
        match watcher.try_recv() {
            Ok(JournalEvent::Recorded(e)) => {
                assert_eq!(e.id, id);
                assert_eq!(e.view, Some(serde_json::json!({"notes": ["n"]})));
            }
            other => panic!("expected the recorded entry, got {other:?}"),
        }
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        let selected = journal.select(&JournalFilter::default());
        assert_eq!(selected[0].recorded().view, Some(serde_json::json!({"notes": ["n"]})));
        assert_eq!(calls.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn ring_drops_oldest_and_counts_them() {
        let journal = Journal::new(2);
        for i in 0..5 {
            journal.record(http_entry("tyrios", &format!("/p{i}"), 200));
        }
        let all = journal.list(&JournalFilter::default());
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(journal.stats().dropped, 3);
        journal.clear();
        assert_eq!(
            journal.stats(),
            JournalStats {
                enabled: true,
                len: 0,
                capacity: 2,
                dropped: 0
            }
        );
        // Ids keep increasing after a clear, so `since` cursors held by clients stay valid.
        assert_eq!(journal.record(http_entry("tyrios", "/x", 200)), 6);
    }

    #[test]
    fn headers_beyond_the_limit_are_cut_with_a_marker_and_bytes_bound_the_ring() {
        // 95 headers of 3.9 KB: the header bomb of issue 13.
        let bomb = || {
            let mut entry = http_entry("tyrios", "/x", 431);
            if let Exchange::Http { request, .. } = &mut entry.exchange {
                request.headers = (0..95).map(|i| (format!("x-h{i}"), "a".repeat(3900))).collect();
            }
            entry
        };
        let max_bytes = 200 * 1024;
        let journal = Journal::with_budget(10_000, max_bytes);
        let first = journal.record(bomb());
        let kept = journal.list(&JournalFilter::default());
        let Exchange::Http { request, .. } = &kept[0].exchange else {
            panic!("http entry")
        };
        // 4 headers of 3,904 bytes fit 16 KiB, the 5th does not: 91 are left out, x-h4 … x-h94
        // (six names of 4 bytes, 85 of 5, each value 3,900 bytes).
        assert_eq!(request.headers.len(), 5);
        let left_out = 91 * 3900 + 6 * 4 + 85 * 5;
        assert_eq!(
            request.headers[4],
            (
                HEADERS_CUT.to_owned(),
                format!("91 headers ({left_out} bytes) not recorded")
            )
        );
        for _ in 0..200 {
            journal.record(bomb());
            assert!(journal.budget().bytes <= max_bytes, "{:?}", journal.budget());
        }
        let stats = journal.stats();
        assert!(stats.len > 1 && stats.len < 20, "{stats:?}");
        assert_eq!(stats.dropped as usize + stats.len, 201);
        assert!(journal.list(&JournalFilter::default()).iter().all(|e| e.id > first));
        // The estimate follows what is held: clearing empties it, completing replaces it.
        journal.clear();
        assert_eq!(journal.budget().bytes, 0);
        let id = journal.record(http_entry("computop", "/notify", 0));
        let small = journal.budget().bytes;
        journal.complete(id, bomb());
        assert!(journal.budget().bytes > small);
        journal.complete(id, http_entry("computop", "/notify", 200));
        assert_eq!(journal.budget().bytes, small);
    }

    #[test]
    fn filters_combine() {
        let journal = Journal::new(100);
        journal.record(http_entry("tyrios", "/BonusPointTransaction/pos", 200));
        journal.record(http_entry("tyrios", "/BonusPointTransaction/pos", 400));
        journal.record(http_entry("computop", "/credit.aspx", 200));
        let filter = JournalFilter {
            provider: Some("tyrios".into()),
            path: Some("/pos".into()),
            status: Some(400),
            ..Default::default()
        };
        let hits = journal.list(&filter);
        assert_eq!(hits.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2]);
        let newest = journal.list(&JournalFilter {
            limit: Some(1),
            ..Default::default()
        });
        assert_eq!(newest[0].id, 3);
        let since = journal.list(&JournalFilter {
            since: Some(2),
            ..Default::default()
        });
        assert_eq!(since.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn recorded_bytes_come_back_from_text_and_from_base64() {
        assert_eq!(RecordedBody::from_bytes(b"<a/>").bytes().as_deref(), Some(&b"<a/>"[..]));
        let binary = [0xff, 0x00, 0x3c];
        assert_eq!(RecordedBody::from_bytes(&binary).bytes().as_deref(), Some(&binary[..]));
        assert_eq!(RecordedBody::default().bytes().as_deref(), Some(&b""[..]));
    }

    #[test]
    fn binary_bodies_are_base64_and_long_bodies_are_cut() {
        let body = RecordedBody::from_bytes(&[0xff, 0x00, 0x10]);
        assert_eq!(body.text, None);
        assert_eq!(body.base64.as_deref(), Some("/wAQ"));
        let long = vec![b'a'; MAX_RECORDED_BODY + 10];
        let body = RecordedBody::from_bytes(&long);
        assert!(body.cut);
        assert_eq!(body.length, MAX_RECORDED_BODY + 10);
        assert_eq!(body.text.unwrap().len(), MAX_RECORDED_BODY);
    }

    #[test]
    fn entries_serialise_with_a_transport_tag() {
        let mut entry = http_entry("tyrios", "/x", 200);
        entry.id = 7;
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["transport"], "http");
        assert_eq!(json["outcome"], "answered");
        assert_eq!(json["request"]["method"], "POST");
        let back: JournalEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn an_operation_serialises_beside_the_request_and_is_left_out_when_absent() {
        let mut entry = http_entry("tyrios", "/x", 200);
        let json = serde_json::to_value(&entry).unwrap();
        assert!(json.get("operation").is_none(), "{json}");
        if let Exchange::Http { operation, .. } = &mut entry.exchange {
            *operation = Some(Operation::write("pos.final"));
        }
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            json["operation"],
            serde_json::json!({"name": "pos.final", "write": true})
        );
        let back: JournalEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn zvt_entries_keep_the_journal_format() {
        let entry = JournalEntry {
            view: None,
            id: 3,
            provider: "zvt".into(),
            connection: 1,
            at: 0,
            duration_micros: 0,
            fault: None,
            exchange: Exchange::Zvt {
                direction: ZvtDirection::EcrToPt,
                link: "tcp".into(),
                control: Some("06 01".into()),
                hex: "06 01 00".into(),
                text: "Authorization".into(),
            },
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["transport"], "zvt");
        assert_eq!(json["direction"], "ecr-to-pt");
        assert_eq!(json["control"], "06 01");
        let back: JournalEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
        // A note has no control field, and each direction keeps its old spelling.
        for (direction, text) in [
            (ZvtDirection::EcrToPt, "ecr-to-pt"),
            (ZvtDirection::PtToEcr, "pt-to-ecr"),
            (ZvtDirection::Note, "note"),
        ] {
            assert_eq!(serde_json::to_value(direction).unwrap(), text);
            assert_eq!(direction.as_str(), text);
        }
        let note: JournalEntry = serde_json::from_value(serde_json::json!({
            "id": 4, "provider": "zvt", "connection": 1, "at": 0, "durationMicros": 0,
            "transport": "zvt", "direction": "note", "link": "tcp", "hex": "", "text": "commit"
        }))
        .unwrap();
        let Exchange::Zvt { direction, control, .. } = &note.exchange else {
            panic!("zvt entry")
        };
        assert_eq!((*direction, control.as_deref()), (ZvtDirection::Note, None));
    }
}

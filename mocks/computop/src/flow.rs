//! The asynchronous half of a PAYBACK PAY sale: the intermediate `AUTHORIZE_REQUEST` notify,
//! the customer deciding in the PAYBACK app, a pending payment settling, the final notify with
//! its retries on the n³-minute schedule, and the customer's browser returning to URLSuccess or
//! URLFailure.
//!
//! Every wait runs on the engine clock *and* on real time multiplied by `timeScale`, whichever
//! is first: `possim serve` keeps Computop's real schedule, tests run it in milliseconds, and a
//! certification team can jump ahead with `POST /__admin/clock/advance`. A data-set reload bumps
//! the state's generation, which stops every flow of the old one.
//!
//! Nothing polls: a wait sleeps for the real time its target needs at `timeScale` and wakes
//! early when the engine clock changes (`Clock::changes`) or the flows are woken
//! (`Inner::wake_flows`: a reload, the customer's decision through the admin API), then looks
//! again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use possim_engine::fault::{FaultAction, RequestView};
use possim_engine::journal::{Exchange, FaultHit, HttpRequestRecord, HttpResponseRecord, JournalEntry, RecordedBody};
use serde_json::json;

use crate::Inner;
use crate::crypto::Padding;
use crate::form::{self, Fields};
use crate::model::{DecisionKind, Merchant, Payment, PaymentStatus, ReturnTiming};
use crate::paygate::{self, Applied};

/// Minutes between notify attempts: n³ for the n-th retry (Computop's schedule: +1, +8, +27 …
/// +512 minutes, 8 retries, about 21.6 hours in all).
pub const RETRY_MINUTES: [u64; 8] = [1, 8, 27, 64, 125, 216, 343, 512];

/// How long a pending payment stays pending before it settles, engine milliseconds.
pub const PENDING_MS: u64 = 60_000;

/// Runs the flow of the sale `pay_id` (spawned by the HTTP handler).
pub fn start(inner: Arc<Inner>, pay_id: String) {
    tokio::spawn(run_sale(inner, pay_id));
}

/// Ends the payment's flow however `run_sale` returns, so the retention may forget it.
struct FlowEnds<'a> {
    inner: &'a Inner,
    pay_id: &'a str,
}

impl Drop for FlowEnds<'_> {
    fn drop(&mut self) {
        crate::retention::flow_ended(&mut self.inner.lock(), self.pay_id);
    }
}

async fn run_sale(inner: Arc<Inner>, pay_id: String) {
    let _ends = FlowEnds {
        inner: &inner,
        pay_id: &pay_id,
    };
    let generation = inner.lock().generation;
    let Some(payment) = inner.lock().payments.get(&pay_id).cloned() else {
        return;
    };
    if payment.status == PaymentStatus::Failed {
        finish(&inner, &pay_id, generation).await;
        return;
    }
    // The customer cannot decide before PAYBACK pushed the request to the app, which happens
    // with the AUTHORIZE_REQUEST notify: its first attempt goes out before anything else.
    let authorize = paygate::authorize_fields(&payment, payment.created_at);
    if !attempt(
        &inner,
        &payment.url_notify,
        "notify",
        1,
        &payment,
        authorize.clone(),
        generation,
    )
    .await
    {
        let retry = Arc::clone(&inner);
        let (held, url) = (payment.clone(), payment.url_notify.clone());
        tokio::spawn(async move { retries(&retry, held, &url, authorize, generation).await });
    }

    let decision = payment.decision.clone();
    let target_ms = match decision.decision {
        DecisionKind::Abandon | DecisionKind::Manual => inner.lock().settings.customer_timeout_minutes * 60_000,
        _ => decision.after_ms,
    };
    let started = Started::now(&inner);
    let mut wakeups = Wakeups::new(&inner);
    let applied = loop {
        if inner.lock().generation != generation {
            return;
        }
        let manual = inner.lock().manual.remove(&pay_id);
        if let Some(manual) = manual {
            break paygate::apply_decision(&mut inner.lock(), &pay_id, &manual);
        }
        if started.elapsed(&inner) >= target_ms {
            let mut effective = decision.clone();
            if effective.decision == DecisionKind::Manual {
                effective.decision = DecisionKind::Abandon;
            }
            break paygate::apply_decision(&mut inner.lock(), &pay_id, &effective);
        }
        wakeups.sleep(&inner, &started, target_ms).await;
    };
    match applied {
        Applied::Nothing => return,
        Applied::Pending => {
            let Some(payment) = inner.lock().payments.get(&pay_id).cloned() else {
                return;
            };
            let fields = paygate::final_fields(&payment, inner.clock.now_ms());
            // The PENDING notify's first attempt is awaited, as the AUTHORIZE_REQUEST's is: the
            // Paygate reports a payment's states in order, so the final notify can never overtake
            // it (with a fast time scale the pending wait is shorter than a loaded shop's answer).
            if !attempt(
                &inner,
                &payment.url_notify,
                "notify",
                1,
                &payment,
                fields.clone(),
                generation,
            )
            .await
            {
                let notify = Arc::clone(&inner);
                let (url, held) = (payment.url_notify.clone(), payment.clone());
                tokio::spawn(async move { retries(&notify, held, &url, fields, generation).await });
            }
            if !wait(&inner, PENDING_MS, generation).await {
                return;
            }
            let paid = decision.decision == DecisionKind::PendingThenOk;
            paygate::settle_pending(&mut inner.lock(), &pay_id, paid);
        }
        Applied::Paid | Applied::Failed => {}
    }
    finish(&inner, &pay_id, generation).await;
}

/// The final notify and the browser return, in the configured order.
async fn finish(inner: &Arc<Inner>, pay_id: &str, generation: u64) {
    let Some(payment) = inner.lock().payments.get(pay_id).cloned() else {
        return;
    };
    let fields = paygate::final_fields(&payment, inner.clock.now_ms());
    let timing = inner.lock().settings.browser_return;
    if timing == ReturnTiming::BeforeNotify {
        browser_return(inner, &payment, fields.clone(), generation).await;
    }
    let first_ok = attempt(
        inner,
        &payment.url_notify,
        "notify",
        1,
        &payment,
        fields.clone(),
        generation,
    )
    .await;
    if !first_ok {
        let retry = Arc::clone(inner);
        let (held, url, f) = (payment.clone(), payment.url_notify.clone(), fields.clone());
        tokio::spawn(async move { retries(&retry, held, &url, f, generation).await });
    }
    if timing == ReturnTiming::AfterNotify {
        browser_return(inner, &payment, fields, generation).await;
    }
}

/// Retries a notify of `held` (the payment when the first attempt failed) on the cubic schedule;
/// each attempt sees the payment as it is then, or `held` once the retention forgot it.
async fn retries(inner: &Arc<Inner>, held: Payment, url: &str, fields: Fields, generation: u64) {
    for (n, minutes) in RETRY_MINUTES.iter().enumerate() {
        if !wait(inner, minutes * 60_000, generation).await {
            return;
        }
        let payment = inner.lock().payments.get(&held.pay_id).cloned();
        let payment = payment.unwrap_or_else(|| held.clone());
        if attempt(inner, url, "notify", n as u32 + 2, &payment, fields.clone(), generation).await {
            return;
        }
    }
}

/// The customer's browser comes back to the shop: URLSuccess for `OK`, URLFailure otherwise.
async fn browser_return(inner: &Arc<Inner>, payment: &Payment, fields: Fields, generation: u64) {
    let (purpose, url) = if payment.status == PaymentStatus::Ok {
        ("success", payment.url_success.clone())
    } else {
        ("failure", payment.url_failure.clone())
    };
    attempt(inner, &url, purpose, 1, payment, fields, generation).await;
}

/// Engine time since a start, on the engine clock or scaled real time, whichever is further.
struct Started {
    engine_ms: i64,
    real: Instant,
    scale: f64,
}

impl Started {
    fn now(inner: &Inner) -> Self {
        Self {
            engine_ms: inner.clock.now_ms(),
            real: Instant::now(),
            scale: inner.lock().settings.time_scale,
        }
    }

    fn elapsed(&self, inner: &Inner) -> u64 {
        let engine = (inner.clock.now_ms() - self.engine_ms).max(0) as f64;
        let real = self.real.elapsed().as_secs_f64() * 1000.0 * self.scale;
        engine.max(real) as u64
    }
}

/// What ends a wait early: a change of the engine clock, or the flows being woken. Subscribed
/// before a flow first looks at the state, so a change between that look and the sleep is not
/// missed.
struct Wakeups {
    clock: tokio::sync::watch::Receiver<u64>,
    flows: tokio::sync::watch::Receiver<u64>,
}

impl Wakeups {
    fn new(inner: &Inner) -> Self {
        Self {
            clock: inner.clock.changes(),
            flows: inner.flow_wakeups(),
        }
    }

    /// Sleeps until `target_ms` of Paygate time since `started` could have passed: the real
    /// time that takes at `timeScale` (≥ 1, so never later than the engine clock running on its
    /// own gets there), or less when something changes meanwhile. The caller looks again after.
    async fn sleep(&mut self, inner: &Inner, started: &Started, target_ms: u64) {
        let left = target_ms.saturating_sub(started.elapsed(inner)) as f64 / started.scale;
        let real = Duration::from_millis((left.ceil() as u64).max(1));
        tokio::select! {
            () = tokio::time::sleep(real) => {}
            // An error means the sender is gone with the mock; the timer still ends the wait.
            Ok(()) = self.clock.changed() => {}
            Ok(()) = self.flows.changed() => {}
        }
    }
}

/// Waits `ms` of Paygate time; false when the data set was reloaded meanwhile.
async fn wait(inner: &Inner, ms: u64, generation: u64) -> bool {
    let started = Started::now(inner);
    let mut wakeups = Wakeups::new(inner);
    loop {
        if inner.lock().generation != generation {
            return false;
        }
        if started.elapsed(inner) >= ms {
            return true;
        }
        wakeups.sleep(inner, &started, ms).await;
    }
}

/// A fault rule's misbehaviour for one outgoing message.
#[derive(Debug, Default)]
struct Misbehaviour {
    lost: bool,
    duplicate: bool,
    forged_mac: bool,
    replay_failure: bool,
    random_key_case: bool,
    unencrypted: bool,
    hit: Option<FaultHit>,
    notes: Vec<String>,
}

fn fault_for(inner: &Inner, method: &str, url: &str, plain: &str) -> (Misbehaviour, Option<u64>) {
    let mut m = Misbehaviour::default();
    let Some(engine) = inner.engine() else {
        return (m, None);
    };
    let path = url_path(url);
    let view = RequestView {
        provider: "computop",
        method,
        path: &path,
        query: "",
        body: plain.as_bytes(),
    };
    let Some(fired) = engine.faults().evaluate(&view) else {
        return (m, None);
    };
    let name = fired.name.clone().unwrap_or_else(|| format!("rule {}", fired.rule));
    m.hit = Some(FaultHit {
        rule: fired.rule,
        name: fired.name.clone(),
        action: fired.action.kind().to_owned(),
        note: None,
    });
    match &fired.action {
        FaultAction::Close => {
            m.lost = true;
            m.notes.push(format!("fault {name}: the message is lost on the way"));
        }
        FaultAction::Quirk { quirk } => match quirk.as_str() {
            "duplicate" => m.duplicate = true,
            "forgedMac" => m.forged_mac = true,
            "replayFailure" => m.replay_failure = true,
            "randomKeyCase" => m.random_key_case = true,
            "unencrypted" => m.unencrypted = true,
            other => m.notes.push(format!(
                "fault {name}: unknown quirk {other:?} (duplicate, forgedMac, replayFailure, randomKeyCase, unencrypted)"
            )),
        },
        FaultAction::Delay => {}
        other => m.notes.push(format!(
            "fault {name}: `{}` has no meaning for a message the Paygate sends",
            other.kind()
        )),
    }
    if let Some(ms) = fired.delay_ms {
        m.notes.push(format!("fault {name}: sent {ms} ms late"));
    }
    (m, fired.delay_ms)
}

fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].split(['?', '#']).next().unwrap_or("/").to_owned(),
        None => "/".into(),
    }
}

/// Changes every key's case in a way that differs per key (deterministic, so runs repeat).
fn scramble_case(fields: &Fields) -> Fields {
    let mut out = Fields::default();
    for (i, (k, v)) in fields.iter().enumerate() {
        let key: String = k
            .chars()
            .enumerate()
            .map(|(j, c)| {
                if (i + j) % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        out.push(key, v);
    }
    out
}

/// One delivery attempt of `fields` (MAC added here) to `url`; true when the shop answered 2xx.
async fn attempt(
    inner: &Arc<Inner>,
    url: &str,
    purpose: &str,
    number: u32,
    payment: &Payment,
    fields: Fields,
    generation: u64,
) -> bool {
    if inner.lock().generation != generation {
        return true;
    }
    let Some(merchant) = inner.lock().merchants.get(&payment.merchant_id).cloned() else {
        return true;
    };
    let mut signed = fields.clone();
    paygate::sign(&merchant, &mut signed);
    let method = if purpose == "notify" { "NOTIFY" } else { "RETURN" };
    let (m, delay) = fault_for(inner, method, url, &signed.encode());
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut out = Outgoing {
        inner,
        payment,
        padding: inner.lock().settings.padding,
        merchant,
        url: url.to_owned(),
        purpose: purpose.to_owned(),
        number,
    };
    let mut notes = m.notes.clone();
    if m.replay_failure && purpose == "failure" {
        out.url = payment.url_success.clone();
        out.purpose = "success".into();
        notes.push("fault: a fraudster replays the failure Data to URLSuccess".into());
    }
    if m.forged_mac {
        let mut forged = fields.clone();
        forged.set("Status", "OK");
        forged.set("Code", crate::codes::SUCCESS);
        forged.set("Description", "success");
        forged.push(
            "MAC",
            crate::crypto::mac("not the merchant's HMAC password", &["forged"]),
        );
        let note = "fault: a forged message claiming OK with a MAC the merchant's password does not give";
        out.send(forged, None, vec![note.to_owned()], false).await;
    }
    if m.lost {
        out.lost(&signed, m.hit, notes);
        return false;
    }
    let wire = if m.random_key_case {
        scramble_case(&signed)
    } else {
        signed
    };
    let ok = out.send(wire.clone(), m.hit.clone(), notes, m.unencrypted).await;
    if m.duplicate {
        let note = vec!["fault: the same message once more".to_owned()];
        out.send(wire, m.hit, note, m.unencrypted).await;
    }
    ok
}

/// `k=v&k=v` with keys and values form-encoded: a message in plain text.
fn plain_form(fields: &Fields) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", form::urlencode(k), form::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One message the Paygate sends to the shop: where, what for, which attempt.
struct Outgoing<'a> {
    inner: &'a Arc<Inner>,
    payment: &'a Payment,
    merchant: Merchant,
    padding: Padding,
    url: String,
    purpose: String,
    number: u32,
}

impl Outgoing<'_> {
    fn is_notify(&self) -> bool {
        self.purpose == "notify"
    }

    /// The journal entry of this message: `answer` is the shop's answer or why there is none,
    /// absent while it is awaited.
    fn entry(
        &self,
        request: HttpRequestRecord,
        answer: Option<Result<HttpResponseRecord, String>>,
        fields: &Fields,
        fault: Option<FaultHit>,
        notes: &[String],
    ) -> JournalEntry {
        let (response, error) = match answer {
            Some(Ok(response)) => (Some(response), None),
            Some(Err(why)) => (None, Some(why)),
            None => (None, None),
        };
        JournalEntry {
            id: 0,
            provider: "computop".into(),
            connection: 0,
            at: self.inner.clock.now_ms(),
            duration_micros: 0,
            fault,
            view: Some(json!({"request": fields.to_json(), "notes": notes})),
            exchange: Exchange::Outbound {
                purpose: self.purpose.clone(),
                url: self.url.clone(),
                attempt: self.number,
                request,
                response,
                error,
            },
        }
    }

    /// A message a fault swallowed: journaled, never sent.
    fn lost(&self, fields: &Fields, hit: Option<FaultHit>, notes: Vec<String>) {
        let Some(engine) = self.inner.engine() else { return };
        let request = HttpRequestRecord {
            method: if self.is_notify() { "POST" } else { "GET" }.into(),
            path: url_path(&self.url),
            query: None,
            headers: Vec::new(),
            body: RecordedBody::from_bytes(b""),
        };
        let entry = self.entry(request, Some(Err("lost (fault)".into())), fields, hit, &notes);
        if engine.journal().is_enabled() {
            engine.journal().record(entry);
        }
    }

    /// Sends `fields` (sealed unless `unencrypted`); true when the shop answered 2xx. The entry is
    /// journaled when the message leaves and completed when the answer is in, and the message
    /// counts as in flight meanwhile, so a reader of the journal sees every message in order.
    async fn send(&self, fields: Fields, hit: Option<FaultHit>, notes: Vec<String>, unencrypted: bool) -> bool {
        let echo = paygate::unencrypted_echo(&self.payment.echo);
        let sealed = if unencrypted {
            plain_form(&fields)
        } else {
            paygate::seal(&self.merchant, self.padding, &fields)
        };
        let payload = format!("{sealed}{echo}");
        let timeout = Duration::from_millis(self.inner.lock().settings.callback_timeout_ms);
        let (request, builder) = if self.is_notify() {
            let content_type = "application/x-www-form-urlencoded; charset=iso-8859-1";
            let body = form::latin1_encode(&payload);
            let request = HttpRequestRecord {
                method: "POST".into(),
                path: url_path(&self.url),
                query: None,
                headers: vec![("content-type".to_owned(), content_type.to_owned())],
                body: RecordedBody::from_bytes(&body),
            };
            let builder = self
                .inner
                .client
                .post(&self.url)
                .header("content-type", content_type)
                .body(body);
            (request, builder)
        } else {
            // Browser returns carry the parameters in the URL: `Len`/`Data` with
            // `Response=encrypt`, otherwise the fields in plain text.
            let query = if self.payment.response_encrypt || unencrypted {
                payload
            } else {
                format!("{}{echo}", plain_form(&fields))
            };
            let sep = if self.url.contains('?') { '&' } else { '?' };
            let request = HttpRequestRecord {
                method: "GET".into(),
                path: url_path(&self.url),
                query: Some(query.clone()),
                headers: Vec::new(),
                body: RecordedBody::from_bytes(b""),
            };
            (request, self.inner.client.get(format!("{}{sep}{query}", self.url)))
        };
        let engine = self.inner.engine();
        let _in_flight = engine.as_ref().map(|e| e.begin_outbound());
        let journal = engine.as_ref().map(|e| e.journal()).filter(|j| j.is_enabled());
        let waiting = vec!["waiting for the shop's answer".to_owned()];
        let id = journal.map(|j| j.record(self.entry(request.clone(), None, &fields, hit.clone(), &waiting)));

        let started = Instant::now();
        // The URL was checked when the sale was accepted; its name may resolve to possim now.
        let allow_self = self.inner.lock().settings.allow_self_callbacks;
        let self_call = match &engine {
            Some(engine) if !allow_self => engine.self_calls().check_resolved(&self.url).await,
            _ => None,
        };
        let sent = match self_call {
            Some(why) => Err(why),
            None => Ok(builder.timeout(timeout).send().await),
        };
        let answer = match sent {
            Err(why) => Err(format!("not sent: {why}")),
            Ok(sent) => match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_owned(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect();
                    let body = resp.bytes().await.unwrap_or_default();
                    let record = HttpResponseRecord {
                        status,
                        headers,
                        body: RecordedBody::from_bytes(&body),
                    };
                    Ok(record)
                }
                Err(e) => {
                    let why = if e.is_timeout() {
                        format!("no answer within {} ms", timeout.as_millis())
                    } else if e.is_connect() {
                        "connection refused or unreachable".to_owned()
                    } else {
                        format!("request failed: {e}")
                    };
                    Err(why)
                }
            },
        };
        let ok = answer.as_ref().is_ok_and(|r| (200..300).contains(&r.status));
        let mut notes = notes;
        if !ok {
            notes.push(match &answer {
                Ok(r) => format!("the shop answered {}: not delivered", r.status),
                Err(_) => "not delivered".to_owned(),
            });
        }
        if let (Some(journal), Some(id)) = (journal, id) {
            let mut entry = self.entry(request, Some(answer), &fields, hit, &notes);
            entry.duration_micros = started.elapsed().as_micros() as u64;
            journal.complete(id, entry);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_ends_about_21_6_hours_after_the_first_attempt() {
        let total: u64 = RETRY_MINUTES.iter().sum();
        assert_eq!(total, 1296);
        for (n, minutes) in RETRY_MINUTES.iter().enumerate() {
            let n = n as u64 + 1;
            assert_eq!(*minutes, n * n * n);
        }
    }

    /// A wait of an hour (at `timeScale` 1, on a frozen clock) ends at once when the engine
    /// clock moves or the flows are woken, also when that happened between the flow's last look
    /// at the state and its sleep. The timeout only bounds a broken wake-up.
    #[tokio::test]
    async fn a_clock_change_or_a_wake_up_ends_a_wait_at_once() {
        let mock = crate::ComputopMock::new(Arc::new(possim_engine::clock::Clock::frozen(0)));
        let inner = mock.inner();
        let started = Started::now(inner);
        let mut wakeups = Wakeups::new(inner);
        let hour = 3_600_000;
        let bound = Duration::from_secs(30);
        inner.clock().advance(1);
        tokio::time::timeout(bound, wakeups.sleep(inner, &started, hour))
            .await
            .expect("a clock change ends the wait");
        inner.wake_flows();
        tokio::time::timeout(bound, wakeups.sleep(inner, &started, hour))
            .await
            .expect("a wake-up ends the wait");
        // Once the engine clock is past the target, nothing is left to wait for.
        inner.clock().advance(hour as i64);
        assert!(started.elapsed(inner) >= hour);
        let generation = inner.lock().generation;
        assert!(tokio::time::timeout(bound, wait(inner, 0, generation)).await.unwrap());
    }

    #[test]
    fn url_paths() {
        assert_eq!(url_path("http://127.0.0.1:8080/notify"), "/notify");
        assert_eq!(url_path("https://shop.example/a/b?x=1"), "/a/b");
        assert_eq!(url_path("https://shop.example"), "/");
    }
}

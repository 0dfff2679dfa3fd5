//! The terminal itself, without I/O: APDUs from the ECR, acknowledgement time-outs and customer
//! delays go in; APDUs to send, timers to arm and notes for the journal come out. The transports
//! (TCP, serial) only move bytes and run the one timer.
//!
//! While the PT is master (after it acknowledged a command) it sends one message at a time and
//! waits for the ECR's `80 00 00` before the next, as PA00P015 prescribes. A payment is stored
//! only when the ECR acknowledged its Status-Information (04 0F): that acknowledgement is the
//! commit point, and a missing one means the PT reverses the payment (PA00P015 §2.2.8).

use std::collections::VecDeque;
use std::sync::Arc;

use possim_engine::clock::Millis;
use possim_zvt::bmp::{Date, Expiry, MonthDay, ReceiptNo, Time};
use possim_zvt::messages::{
    Abort, Completion, CompletionData, IntermediateStatus, PrintLine, PrintTextBlock, Registration,
    StatusEnquiryCompletion, StatusInformation,
};
use possim_zvt::{Amount, Apdu, Digits, Message, MessageError, Tlv, TlvContainer};
use serde::Serialize;

use crate::config::{Card, CardKind, TerminalConfig};
use crate::customer::{CustomerScript, OperatorEvent, Outcome};
use crate::payback::{HostError, PaybackHost, RedeemRequest, Reversed};

/// What the transport must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes (one APDU).
    Send(Vec<u8>),
    /// (Re-)arm the single timer to fire after this many milliseconds.
    Arm(u64),
    /// Cancel the timer.
    Disarm,
    /// A note for the journal (a commit, an automatic reversal, a refusal).
    Note(String),
}

/// Result codes used (PA00P015 chapter 10).
pub mod rc {
    /// Card not readable.
    pub const CARD_NOT_READABLE: u8 = 0x64;
    /// Aborted via time-out or abort key.
    pub const ABORTED: u8 = 0x6C;
    /// Wrong currency.
    pub const WRONG_CURRENCY: u8 = 0x6F;
    /// Function not possible.
    pub const NOT_POSSIBLE: u8 = 0x83;
    /// ZVT protocol error.
    pub const PROTOCOL_ERROR: u8 = 0x9A;
    /// No connection to the host.
    pub const NO_CONNECTION: u8 = 0xA3;
    /// Already reversed.
    pub const ALREADY_REVERSED: u8 = 0xB4;
    /// Reversal not possible.
    pub const REVERSAL_NOT_POSSIBLE: u8 = 0xB5;
    /// Pre-authorisation incorrect (amount too high).
    pub const PRE_AUTH_INCORRECT: u8 = 0xB7;
    /// Error pre-authorisation (none open).
    pub const PRE_AUTH_ERROR: u8 = 0xB8;
    /// PIN try limit exceeded: host code 75 (ISO 8583), sent as binary.
    pub const PIN_TRIES_EXCEEDED: u8 = 75;
    /// Insufficient funds: host code 51 (ISO 8583), sent as binary.
    pub const INSUFFICIENT_FUNDS: u8 = 51;
    /// Declined: host code 05 (ISO 8583, do not honour); PAYBACK's refusals without a code of
    /// their own [ours].
    pub const DECLINED: u8 = 0x05;
    /// PAYBACK: nothing redeemable (below the 200-point minimum, unregistered) [ours].
    pub const BELOW_MINIMUM: u8 = 0xC8;
    /// PAYBACK: more points than the basket is worth [ours].
    pub const AMOUNT_EXCEEDS_BASKET: u8 = 0xC3;
    /// Card unknown (PAYBACK: no such card, wrong check digit, no PAYBACK card).
    pub const CARD_UNKNOWN: u8 = 0x7A;
    /// Card blocked (PAYBACK: the card or its member).
    pub const CARD_BLOCKED: u8 = 0x6E;
}

/// Intermediate status codes (PA00P015 table 17).
pub(crate) mod status {
    pub const PIN_ENTRY: u8 = 0x01;
    pub const WAITING_FOR_HOST: u8 = 0x04;
    pub const INSERT_CARD: u8 = 0x0A;
    pub const REMOVE_CARD: u8 = 0x0B;
    pub const CARD_NOT_READABLE: u8 = 0x0C;
    pub const INCORRECT_PIN: u8 = 0x15;
    pub const BALANCE_DISPLAY: u8 = 0x11;
    pub const PIN_TRY_LIMIT: u8 = 0x18;
    pub const DECLINED: u8 = 0x1D;
}

/// What a stored turnover record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BookingKind {
    /// Authorisation 06 01.
    Payment,
    /// Refund 06 31.
    Refund,
    /// Pre-authorisation 06 22 (open until booked or reversed).
    PreAuthorisation,
    /// Booking of a pre-authorisation (06 23 / 06 24).
    PreAuthBooking,
    /// PAYBACK points redeemed through the terminal (Austria) [ours]: the amount is their EUR
    /// value, a voucher for the till, not card turnover.
    PaybackRedemption,
}

/// A stored transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    /// Receipt number.
    pub receipt: u16,
    /// Trace number.
    pub trace: u32,
    /// Kind.
    pub kind: BookingKind,
    /// Amount in cents.
    pub amount: u64,
    /// Card kind.
    pub card: CardKind,
    /// Masked card number.
    pub pan: String,
    /// Reversed (06 30) or released (pre-authorisation booked or reversed).
    pub reversed: bool,
    /// Engine time.
    pub at: Millis,
    /// PAYBACK's redemption id (PAYBACK redemptions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redemption: Option<String>,
}

/// What commits when the ECR acknowledges a Status-Information.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Commit {
    /// Store a booking.
    Store(Booking),
    /// Mark a booking reversed.
    Reverse(u16),
    /// Close a pre-authorisation and store its booking.
    BookPreAuth { receipt: u16, booking: Booking },
    /// Release a pre-authorisation.
    ReleasePreAuth(u16),
    /// End-of-Day: clear the batch.
    ClearBatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Send a message; the ECR's acknowledgement commits `commit`.
    Send { apdu: Vec<u8>, commit: Option<Commit> },
    /// Simulated customer or host time.
    Pause(u64),
    /// Wait for a card that does not come: until the ECR aborts or the customer time-out.
    WaitForCard,
    /// From here on 06 B0 can no longer abort (the host has been asked).
    PointOfNoReturn,
    /// A step of a PAYBACK redemption that depends on the host's answer; it turns into the
    /// steps that follow from that answer when it is reached.
    Payback(PaybackStep),
}

/// The host-dependent steps of a PAYBACK redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PaybackStep {
    /// The customer types the next PIN (or gives up when none is left).
    NextPin,
    /// PAYBACK checks this PIN.
    Authenticate(String),
    /// The customer picks the points (or aborts).
    Choose,
    /// PAYBACK books this many points.
    Redeem(i64),
}

/// The PAYBACK redemption in progress.
#[derive(Debug, Clone)]
struct PaybackRun {
    card: Card,
    basket: u64,
    pins: VecDeque<String>,
    outcome: Outcome,
    redeem_points: Option<u64>,
    token: Option<String>,
    redeemable: i64,
    /// The ECR sent a TLV container: the answer may carry TLV (E1 bonus points, 24 display text).
    tlv: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Waiting {
    Nothing,
    Ack(Option<Commit>, Vec<u8>),
    Pause,
    Customer,
}

/// A transaction the operator is playing the customer in.
#[derive(Debug, Clone)]
struct OperatorTurn {
    kind: BookingKind,
    amount: u64,
    card: Option<Card>,
    wrong: u8,
}

#[derive(Debug)]
struct Session {
    steps: VecDeque<Step>,
    waiting: Waiting,
    abortable: bool,
    /// A PAYBACK redemption booked at the host but not yet committed by the ECR's
    /// acknowledgement of its Status-Information: from the moment PAYBACK books it (before the
    /// 04 FF 0B "remove card" and the 04 0F) until that commit is applied. Whatever ends the
    /// session before — the link gone, a time-out, a negative acknowledgement — reverses it.
    unconfirmed: Option<Commit>,
}

impl Session {
    /// What ending this session now leaves to reverse: the commit waiting for the ECR's
    /// acknowledgement and a booked, uncommitted PAYBACK redemption (each once).
    fn uncommitted(&self) -> Vec<Commit> {
        let mut commits = Vec::new();
        if let Waiting::Ack(Some(c), _) = &self.waiting {
            commits.push(c.clone());
        }
        if let Some(c) = &self.unconfirmed
            && !commits.contains(c)
        {
            commits.push(c.clone());
        }
        commits
    }
}

/// The terminal's state.
#[derive(Debug)]
pub struct Terminal {
    config: TerminalConfig,
    registered: Option<u8>,
    /// The ECR listed 06 D3 among its permitted commands (registration TLV 26): receipts go as
    /// Print Text-Blocks instead of Print Lines (PA00P015 §3.6).
    text_blocks: bool,
    /// The running command carried TLV 1F1F: the Status-Information mirrors the receipt number
    /// back in 1F1F (PA00P015 §4.2).
    mirror_receipt: bool,
    /// Every unscripted customer is played by the operator at the console.
    operator_mode: bool,
    /// The operator's transaction in progress.
    operator: Option<OperatorTurn>,
    echo_currency: bool,
    next_receipt: u16,
    next_trace: u32,
    batch: Vec<Booking>,
    pre_auths: Vec<Booking>,
    last_status: Option<Vec<u8>>,
    next_customer: Option<CustomerScript>,
    session: Option<Session>,
    payback_host: Option<Arc<dyn PaybackHost>>,
    payback_run: Option<PaybackRun>,
}

fn encode(message: &Message) -> Vec<u8> {
    // Every message built here is well-formed by construction; an error would be a bug in this
    // module, answered as a protocol error rather than a panic.
    message
        .encode()
        .unwrap_or_else(|_| vec![0x84, rc::PROTOCOL_ERROR, 0x00])
}

fn ack() -> Vec<u8> {
    vec![0x80, 0x00, 0x00]
}

fn nack(code: u8) -> Vec<u8> {
    vec![0x84, code, 0x00]
}

fn abort_message(code: u8) -> Vec<u8> {
    encode(&Message::Abort(Abort {
        result_code: code,
        ..Abort::default()
    }))
}

fn intermediate(code: u8) -> Vec<u8> {
    encode(&Message::IntermediateStatus(IntermediateStatus {
        status: code,
        ..IntermediateStatus::default()
    }))
}

fn completion() -> Vec<u8> {
    encode(&Message::Completion(Completion::Standard(CompletionData::default())))
}

/// A PAN with all but the last four digits masked (`E` nibbles, as PCI wants).
pub fn mask_pan(pan: &str) -> String {
    let keep = pan.len().saturating_sub(4);
    format!("{}{}", "E".repeat(keep), &pan[keep..])
}

fn clock_fields(now: Millis) -> (Time, MonthDay, Date) {
    let t = time::OffsetDateTime::from_unix_timestamp(now.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    (
        Time {
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
        },
        MonthDay {
            month: t.month() as u8,
            day: t.day(),
        },
        Date {
            year: (t.year().rem_euclid(100)) as u8,
            month: t.month() as u8,
            day: t.day(),
        },
    )
}

/// What a printed payment receipt says about its transaction.
struct Slip<'a> {
    title: &'a str,
    amount: u64,
    receipt: u16,
    trace: u32,
    approved: bool,
    /// Lines before the last (PAYBACK: points redeemed, new balance).
    extra: Vec<String>,
}

/// An intermediate status 04 FF, only when the ECR asked for them (config bit 08).
fn push_status(steps: &mut Vec<Step>, show: bool, code: u8) {
    if show {
        steps.push(Step::Send {
            apdu: intermediate(code),
            commit: None,
        });
    }
}

/// A TLV tag from the spec's tables (all valid by construction).
fn tag(value: u32) -> possim_zvt::Tag {
    possim_zvt::Tag::new(value).unwrap_or_else(|e| unreachable!("tag {value:X} from the spec table: {e}"))
}

fn expiry(card: &Card) -> Expiry {
    let n = |s: &str| s.parse::<u8>().unwrap_or(0);
    Expiry {
        year: n(&card.expiry[..2]),
        month: n(&card.expiry[2..]),
    }
}

impl Terminal {
    /// A terminal with this configuration, unregistered, empty batch.
    pub fn new(config: TerminalConfig) -> Self {
        Self {
            config,
            registered: None,
            text_blocks: false,
            mirror_receipt: false,
            operator_mode: false,
            operator: None,
            echo_currency: false,
            next_receipt: 1,
            next_trace: 1,
            batch: Vec::new(),
            pre_auths: Vec::new(),
            last_status: None,
            next_customer: None,
            session: None,
            payback_host: None,
            payback_run: None,
        }
    }

    /// Connects the PAYBACK host the terminal books redemptions at.
    pub fn set_payback_host(&mut self, host: Option<Arc<dyn PaybackHost>>) {
        self.payback_host = host;
    }

    /// The connected PAYBACK host.
    pub fn payback_host(&self) -> Option<Arc<dyn PaybackHost>> {
        self.payback_host.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// Switches the operator mode: every unscripted customer waits for the console.
    pub fn set_operator_mode(&mut self, on: bool) {
        self.operator_mode = on;
    }

    /// Whether the operator plays the unscripted customers.
    pub fn operator_mode(&self) -> bool {
        self.operator_mode
    }

    /// What the operator did at the PIN pad, while a transaction waits for them.
    pub fn operator_event(&mut self, event: OperatorEvent, now: Millis) -> Result<Vec<Output>, String> {
        let waiting = self
            .session
            .as_ref()
            .is_some_and(|s| matches!(s.waiting, Waiting::Customer));
        let Some(mut turn) = self.operator.take_if(|_| waiting) else {
            return Err("no transaction is waiting for the customer".into());
        };
        let show = self.intermediate_wanted();
        let status = |steps: &mut Vec<Step>, code: u8| push_status(steps, show, code);
        let mut steps = Vec::new();
        let mut out = vec![Output::Disarm];
        match (event, turn.card.clone()) {
            (OperatorEvent::Abort, _) => {
                out.push(Output::Note("the customer pressed abort".into()));
                steps.push(Step::Send {
                    apdu: abort_message(rc::ABORTED),
                    commit: None,
                });
            }
            (OperatorEvent::Insert(name), None) => {
                let Some(card) = self.config.card(&name).cloned() else {
                    let names: Vec<&str> = self.config.cards.iter().map(|c| c.name.as_str()).collect();
                    self.operator = Some(turn);
                    return Err(format!("no card {name:?} (cards: {})", names.join(", ")));
                };
                out.push(Output::Note(format!("the customer inserted {name}")));
                turn.card = Some(card);
                status(&mut steps, status::PIN_ENTRY);
                steps.push(Step::WaitForCard);
                self.operator = Some(turn);
            }
            (OperatorEvent::Insert(_), Some(_)) => {
                self.operator = Some(turn);
                return Err("a card is already in the terminal".into());
            }
            (OperatorEvent::Pin(_), None) => {
                self.operator = Some(turn);
                return Err("insert a card first".into());
            }
            (OperatorEvent::Pin(pin), Some(card)) if pin == card.pin => {
                out.push(Output::Note("the customer typed the right PIN".into()));
                steps.extend(self.after_pin(turn.kind, turn.amount, &card, false, Outcome::Approve, now));
            }
            (OperatorEvent::Pin(_), Some(card)) => {
                turn.wrong += 1;
                out.push(Output::Note(format!("the customer typed a wrong PIN ({})", turn.wrong)));
                status(&mut steps, status::INCORRECT_PIN);
                if turn.wrong >= self.config.pin_tries.max(1) {
                    steps.extend(self.after_pin(turn.kind, turn.amount, &card, true, Outcome::Approve, now));
                } else {
                    status(&mut steps, status::PIN_ENTRY);
                    steps.push(Step::WaitForCard);
                    self.operator = Some(turn);
                }
            }
        }
        if let Some(session) = self.session.as_mut() {
            session.steps = steps.into();
            session.waiting = Waiting::Nothing;
        }
        out.extend(self.advance(now));
        Ok(out)
    }

    /// Scripts the customer of the next transaction.
    pub fn script_next(&mut self, script: CustomerScript) -> Result<(), String> {
        if let Some(card) = &script.card
            && self.config.card(card).is_none()
        {
            let names: Vec<&str> = self.config.cards.iter().map(|c| c.name.as_str()).collect();
            return Err(format!("no card {card:?} (cards: {})", names.join(", ")));
        }
        self.next_customer = Some(script);
        Ok(())
    }

    /// Whether a transaction is running (the PT is master).
    pub fn busy(&self) -> bool {
        self.session.is_some()
    }

    /// The stored transactions since the last End-of-Day.
    pub fn batch(&self) -> &[Booking] {
        &self.batch
    }

    /// Open pre-authorisations.
    pub fn pre_auths(&self) -> &[Booking] {
        &self.pre_auths
    }

    /// Whether an ECR registered (and with which config byte).
    pub fn registration(&self) -> Option<u8> {
        self.registered
    }

    /// The connection to the ECR is gone: a running transaction is abandoned. A payment whose
    /// Status-Information was not acknowledged is not stored (automatic reversal).
    pub fn disconnected(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        if let Some(session) = self.session.take() {
            let uncommitted = session.uncommitted();
            if uncommitted.is_empty() {
                out.push(Output::Note("transaction abandoned: the ECR left".into()));
            } else {
                out.push(Output::Note(
                    "automatic reversal: the ECR left before acknowledging the status information".into(),
                ));
                for commit in &uncommitted {
                    out.extend(self.undo(commit));
                }
            }
            out.push(Output::Disarm);
        }
        out
    }

    fn intermediate_wanted(&self) -> bool {
        self.registered.is_some_and(|c| c & 0x08 != 0)
    }

    fn ecr_prints_payment_lines(&self) -> bool {
        self.registered.is_some_and(|c| c & 0x82 == 0x82)
    }

    fn take_receipt(&mut self) -> (u16, u32) {
        let receipt = self.next_receipt;
        let trace = self.next_trace;
        self.next_receipt = if receipt >= 9999 { 1 } else { receipt + 1 };
        self.next_trace = if trace >= 999_999 { 1 } else { trace + 1 };
        (receipt, trace)
    }

    /// Handles one APDU from the ECR.
    pub fn on_apdu(&mut self, bytes: &[u8], now: Millis) -> Vec<Output> {
        let apdu = match possim_zvt::Apdu::decode(bytes) {
            possim_zvt::Decoded::Complete { apdu, .. } => apdu,
            possim_zvt::Decoded::NeedMore { .. } => return vec![Output::Send(nack(rc::PROTOCOL_ERROR))],
        };
        if self.session.is_some() {
            return self.on_apdu_while_master(&apdu, now);
        }
        let mode = match self.config.mode {
            crate::config::Mode::Lenient => possim_zvt::DecodeMode::Lenient,
            crate::config::Mode::Strict => possim_zvt::DecodeMode::Strict,
        };
        let options = possim_zvt::DecodeOptions { mode, reply_to: None };
        let (message, deviations) = match Message::from_apdu_with(&apdu, options) {
            Ok(decoded) => decoded,
            Err(e) => {
                // In strict mode a known deviation fails here; say so, so the finding is visible.
                let strict_finding = mode == possim_zvt::DecodeMode::Strict
                    && Message::from_apdu_with(
                        &apdu,
                        possim_zvt::DecodeOptions {
                            mode: possim_zvt::DecodeMode::Lenient,
                            reply_to: None,
                        },
                    )
                    .is_ok();
                if strict_finding {
                    return vec![
                        Output::Note(format!("finding (strict, refused): {e}")),
                        Output::Send(nack(rc::PROTOCOL_ERROR)),
                    ];
                }
                if let MessageError::Bmp(_) = e {
                    return vec![
                        Output::Note(format!("refused: {e}")),
                        Output::Send(nack(rc::NOT_POSSIBLE)),
                    ];
                }
                return vec![
                    Output::Note(format!("refused: {e}")),
                    Output::Send(nack(rc::PROTOCOL_ERROR)),
                ];
            }
        };
        let mut out: Vec<Output> = deviations
            .iter()
            .map(|d| Output::Note(format!("finding (lenient, accepted): {d}")))
            .collect();
        out.extend(self.on_command(message, now));
        out
    }

    fn on_apdu_while_master(&mut self, apdu: &Apdu, now: Millis) -> Vec<Output> {
        let class = apdu.class();
        let Some(session) = self.session.as_mut() else {
            return Vec::new();
        };
        match (&session.waiting, class, apdu.instr()) {
            (Waiting::Ack(commit, sent), 0x80 | 0x84, code) => {
                let positive = class == 0x80 || code == 0x00;
                let commit = commit.clone();
                let was_status = sent.starts_with(&[0x04, 0x0F]);
                let uncommitted = session.uncommitted();
                session.waiting = Waiting::Nothing;
                let mut out = vec![Output::Disarm];
                match (commit, positive) {
                    (Some(c), true) => {
                        if session.unconfirmed.as_ref() == Some(&c) {
                            session.unconfirmed = None;
                        }
                        self.apply(c, &mut out);
                    }
                    (_, false) if was_status => {
                        // The ECR refused the result (issue of goods failed): the PT reverses.
                        out.push(Output::Note(format!(
                            "automatic reversal: the ECR answered the status information with 84 {code:02X}"
                        )));
                        if let Some(s) = self.session.as_mut() {
                            s.unconfirmed = None;
                        }
                        for c in &uncommitted {
                            out.extend(self.undo(c));
                        }
                        if let Some(s) = self.session.as_mut() {
                            s.steps = VecDeque::from([Step::Send {
                                apdu: abort_message(rc::ABORTED),
                                commit: None,
                            }]);
                        }
                    }
                    _ => {}
                }
                out.extend(self.advance(now));
                out
            }
            (_, 0x06, 0xB0) if session.abortable => {
                session.steps = VecDeque::from([Step::Send {
                    apdu: abort_message(rc::ABORTED),
                    commit: None,
                }]);
                session.waiting = Waiting::Nothing;
                // 80 00 00 for the 06 B0, then 06 1E 6C ends the running command; an
                // acknowledgement of an intermediate status still in flight is taken for it.
                let mut out = vec![
                    Output::Note("aborted by the ECR (06 B0)".into()),
                    Output::Disarm,
                    Output::Send(ack()),
                ];
                out.extend(self.advance(now));
                out
            }
            _ => vec![
                Output::Note(format!(
                    "refused {:02X} {:02X} while the PT is master",
                    apdu.class(),
                    apdu.instr()
                )),
                Output::Send(nack(rc::NOT_POSSIBLE)),
            ],
        }
    }

    /// The timer fired.
    pub fn on_timer(&mut self, now: Millis) -> Vec<Output> {
        let Some(session) = self.session.as_mut() else {
            return Vec::new();
        };
        match session.waiting.clone() {
            Waiting::Ack(..) => {
                let uncommitted = session.uncommitted();
                self.session = None;
                let what = if uncommitted.is_empty() {
                    "transaction ended: the ECR did not acknowledge"
                } else {
                    "automatic reversal: no acknowledgement of the status information"
                };
                let mut out = vec![Output::Note(what.into())];
                for c in &uncommitted {
                    out.extend(self.undo(c));
                }
                out
            }
            Waiting::Pause => {
                session.waiting = Waiting::Nothing;
                self.advance(now)
            }
            Waiting::Customer => {
                session.waiting = Waiting::Nothing;
                session.steps = VecDeque::from([Step::Send {
                    apdu: abort_message(rc::ABORTED),
                    commit: None,
                }]);
                let mut out = vec![Output::Note("customer time-out".into())];
                out.extend(self.advance(now));
                out
            }
            Waiting::Nothing => self.advance(now),
        }
    }

    /// A commit the ECR never acknowledged: what the host booked for it is given back (a PAYBACK
    /// redemption is reversed at PAYBACK; card payments need nothing, the host is simulated).
    fn undo(&mut self, commit: &Commit) -> Vec<Output> {
        let Commit::Store(Booking {
            redemption: Some(id),
            trace,
            ..
        }) = commit
        else {
            return Vec::new();
        };
        let transaction_id = format!("zvt-{}-{trace}-auto-reversal", self.config.terminal_id);
        self.payback_reverse(id, &transaction_id).1
    }

    /// The PAYBACK host, or why there is none.
    fn host(&self) -> Result<Arc<dyn PaybackHost>, HostError> {
        self.payback_host
            .clone()
            .ok_or_else(|| HostError::Unreachable("no PAYBACK host connected".into()))
    }

    /// Gives PAYBACK redemption `id` back under `transaction_id`, with the journal notes. No
    /// answer (it may have been lost after PAYBACK reversed): asked once more with the same
    /// transaction id, which PAYBACK answers with the original reversal if it made one.
    fn payback_reverse(&self, id: &str, transaction_id: &str) -> (Result<Reversed, HostError>, Vec<Output>) {
        let reverse = || {
            self.host()
                .and_then(|h| h.reverse(&self.config.payback.partner, id, transaction_id))
        };
        let mut notes = Vec::new();
        let mut answer = reverse();
        if let Err(e @ HostError::Unreachable(_)) = &answer
            && self.payback_host.is_some()
        {
            notes.push(Output::Note(format!(
                "PAYBACK: no answer to the reversal of {id} ({e}); asking again with transaction id {transaction_id}"
            )));
            answer = reverse();
        }
        notes.push(Output::Note(match &answer {
            Ok(r) => format!(
                "PAYBACK: redemption {id} reversed, {} points back, balance {}",
                r.points, r.new_balance
            ),
            Err(e) => format!("PAYBACK: reversing redemption {id} failed: {e}"),
        }));
        (answer, notes)
    }

    fn apply(&mut self, commit: Commit, out: &mut Vec<Output>) {
        match commit {
            Commit::Store(b) => {
                out.push(Output::Note(format!(
                    "stored receipt {} ({:?}, {} cents)",
                    b.receipt, b.kind, b.amount
                )));
                if b.kind == BookingKind::PreAuthorisation {
                    self.pre_auths.push(b);
                } else {
                    self.batch.push(b);
                }
            }
            Commit::Reverse(receipt) => {
                if let Some(b) = self.batch.iter_mut().find(|b| b.receipt == receipt) {
                    b.reversed = true;
                }
                out.push(Output::Note(format!("reversed receipt {receipt}")));
            }
            Commit::BookPreAuth { receipt, booking } => {
                self.pre_auths.retain(|p| p.receipt != receipt);
                out.push(Output::Note(format!(
                    "booked pre-authorisation {receipt}: {} cents",
                    booking.amount
                )));
                self.batch.push(booking);
            }
            Commit::ReleasePreAuth(receipt) => {
                self.pre_auths.retain(|p| p.receipt != receipt);
                out.push(Output::Note(format!("released pre-authorisation {receipt}")));
            }
            Commit::ClearBatch => {
                self.batch.clear();
                out.push(Output::Note("end-of-day: batch cleared".into()));
            }
        }
    }

    fn advance(&mut self, now: Millis) -> Vec<Output> {
        let mut out = Vec::new();
        loop {
            let Some(session) = self.session.as_mut() else {
                return out;
            };
            let Some(step) = session.steps.pop_front() else {
                self.session = None;
                return out;
            };
            match step {
                Step::Send { apdu, commit } => {
                    if apdu.starts_with(&[0x04, 0x0F]) {
                        self.last_status = Some(apdu.clone());
                    }
                    let session = self.session.as_mut().unwrap_or_else(|| unreachable!("checked above"));
                    session.waiting = Waiting::Ack(commit, apdu.clone());
                    out.push(Output::Send(apdu));
                    out.push(Output::Arm(self.config.ack_timeout_ms));
                    return out;
                }
                Step::Pause(0) => continue,
                Step::Pause(ms) => {
                    session.waiting = Waiting::Pause;
                    out.push(Output::Arm(ms));
                    return out;
                }
                Step::WaitForCard => {
                    session.waiting = Waiting::Customer;
                    out.push(Output::Arm(self.config.customer_timeout_ms));
                    return out;
                }
                Step::PointOfNoReturn => session.abortable = false,
                Step::Payback(step) => {
                    let (notes, next) = self.payback_step(step, now);
                    out.extend(notes);
                    if let Some(session) = self.session.as_mut() {
                        for step in next.into_iter().rev() {
                            session.steps.push_front(step);
                        }
                    }
                }
            }
        }
    }

    fn start(&mut self, steps: Vec<Step>, abortable: bool, now: Millis) -> Vec<Output> {
        self.session = Some(Session {
            steps: steps.into(),
            waiting: Waiting::Nothing,
            abortable,
            unconfirmed: None,
        });
        let mut out = vec![Output::Send(ack())];
        out.extend(self.advance(now));
        out
    }

    fn password_ok(&self, given: u32) -> bool {
        given == self.config.password
    }

    fn on_command(&mut self, message: Message, now: Millis) -> Vec<Output> {
        let refused = |why: &str| vec![Output::Note(why.to_owned()), Output::Send(nack(rc::NOT_POSSIBLE))];
        self.mirror_receipt = false;
        self.operator = None;
        self.payback_run = None;
        match message {
            Message::Registration(r) => self.registration_cmd(r, now),
            Message::LogOff => {
                self.registered = None;
                vec![Output::Send(ack())]
            }
            Message::StatusEnquiry(s) => {
                // The password is optional in a Status Enquiry; a wrong one is refused.
                if s.password.is_some_and(|p| !self.password_ok(p.0)) {
                    return refused("wrong password");
                }
                let done = encode(&Message::Completion(Completion::StatusEnquiry(
                    StatusEnquiryCompletion {
                        sw_version: Some(self.config.sw_version.clone().into_bytes()),
                        terminal_status: 0x00,
                        ..StatusEnquiryCompletion::default()
                    },
                )));
                self.start(
                    vec![Step::Send {
                        apdu: done,
                        commit: None,
                    }],
                    false,
                    now,
                )
            }
            Message::Authorisation(a) => {
                let mut out = self.synchronise(a.tlv.as_ref());
                let Some(amount) = a.amount else {
                    return refused("no amount: amount entry on the PT is not simulated");
                };
                if let Some(cc) = a.currency
                    && cc != u32::from(self.config.currency)
                {
                    return self.start(vec![self.wrong_currency()], false, now);
                }
                if self.is_payback(&a) {
                    out.extend(self.payback_redemption(amount.0, a.tlv.is_some(), now));
                    return out;
                }
                out.extend(self.card_transaction(BookingKind::Payment, amount.0, now));
                out
            }
            Message::PreAuthorisation(p) => {
                let mut out = self.synchronise(p.tlv.as_ref());
                let Some(amount) = p.amount else {
                    return refused("no amount");
                };
                out.extend(self.card_transaction(BookingKind::PreAuthorisation, amount.0, now));
                out
            }
            Message::Refund(r) => {
                if !self.password_ok(r.password.0) {
                    return refused("wrong password");
                }
                let Some(amount) = r.amount else {
                    return refused("no amount");
                };
                self.card_transaction(BookingKind::Refund, amount.0, now)
            }
            Message::Reversal(r) => {
                if !self.password_ok(r.password.0) {
                    return refused("wrong password");
                }
                match r.receipt {
                    Some(ReceiptNo::Number(n)) => self.reversal(n, now),
                    _ => refused("no receipt number"),
                }
            }
            Message::BookTotal(b) => match b.receipt {
                Some(ReceiptNo::Number(n)) => self.book_pre_auth(n, b.amount.map(|a| a.0), false, now),
                _ => refused("no receipt number"),
            },
            Message::PartialReversal(p) => match p.receipt {
                Some(ReceiptNo::Number(n)) => self.book_pre_auth(n, p.amount.map(|a| a.0), true, now),
                _ => self.open_pre_auth_enquiry(now),
            },
            Message::PreAuthReversal(p) => match p.receipt {
                Some(ReceiptNo::Number(n)) => self.release_pre_auth(n, now),
                _ => refused("no receipt number"),
            },
            Message::EndOfDay(e) => {
                if !self.password_ok(e.password.0) {
                    return refused("wrong password");
                }
                self.end_of_day(now)
            }
            Message::SendTurnoverTotals(t) => {
                if !self.password_ok(t.password.0) {
                    return refused("wrong password");
                }
                let status = self.totals_status(now);
                self.answer_then_complete(status, now)
            }
            Message::RepeatReceipt(r) => {
                if !self.password_ok(r.password.0) {
                    return refused("wrong password");
                }
                match self.last_status.clone() {
                    Some(status) => self.answer_then_complete(status, now),
                    None => self.end_with_abort(rc::NOT_POSSIBLE, now),
                }
            }
            Message::Other(apdu) if (apdu.class(), apdu.instr()) == (0x06, 0x12) => self.reprint(apdu.data(), now),
            Message::SetTerminalId(s) => {
                if !self.password_ok(s.password.0) {
                    return refused("wrong password");
                }
                if let Some(tid) = s.terminal_id {
                    self.config.terminal_id = tid;
                }
                self.simple_completion(now)
            }
            Message::Diagnosis(_)
            | Message::Initialisation(_)
            | Message::SetDateTime(_)
            | Message::DisplayText(_)
            | Message::SelectLanguage(_) => self.simple_completion(now),
            Message::ReadCard(_) => self.read_card(now),
            Message::AbortRequest(_) => {
                // Nothing is running: there is nothing to abort.
                vec![Output::Send(ack())]
            }
            Message::AccountBalanceRequest(_) => self.simple_completion(now),
            other => vec![
                Output::Note(format!("unsupported command {:?}", other.control())),
                Output::Send(nack(rc::NOT_POSSIBLE)),
            ],
        }
    }

    /// Reprint Receipts 06 12 (PA00P015 §2.19): `<password> <from> [<to>]`, receipt numbers as
    /// 2-byte BCD. The receipts of the batch in that range, as the ECR asked to get them at
    /// registration (print lines or text blocks; none when the PT prints itself), then 06 0F.
    fn reprint(&mut self, data: &[u8], now: Millis) -> Vec<Output> {
        let refused = |why: String| vec![Output::Note(why), Output::Send(nack(rc::NOT_POSSIBLE))];
        let bcd = |bytes: &[u8]| possim_zvt::encoding::bcd_decode(bytes).ok();
        let (password, from, to) = match data.len() {
            5 => (bcd(&data[..3]), bcd(&data[3..5]), bcd(&data[3..5])),
            7 => (bcd(&data[..3]), bcd(&data[3..5]), bcd(&data[5..7])),
            n => return refused(format!("reprint: {n} data bytes, expected 5 or 7")),
        };
        let (Some(password), Some(from), Some(to)) = (password, from, to) else {
            return refused("reprint: password and receipt numbers must be BCD".into());
        };
        if password != u64::from(self.config.password) {
            return refused("reprint: wrong password".into());
        }
        let wanted: Vec<Booking> = self
            .batch
            .iter()
            .filter(|b| (from..=to).contains(&u64::from(b.receipt)))
            .cloned()
            .collect();
        let mut steps = Vec::new();
        for b in &wanted {
            let card = Card {
                name: String::new(),
                kind: b.card,
                pan: b.pan.clone(),
                expiry: "0000".into(),
                pin: String::new(),
                limit_cents: 0,
            };
            let title = match b.kind {
                BookingKind::Payment => "Kartenzahlung (Kopie)",
                BookingKind::Refund => "Gutschrift (Kopie)",
                BookingKind::PreAuthorisation => "Reservierung (Kopie)",
                BookingKind::PreAuthBooking => "Buchung (Kopie)",
                BookingKind::PaybackRedemption => "PAYBACK Einloesung (Kopie)",
            };
            steps.extend(self.receipt_lines(
                Slip {
                    title,
                    amount: b.amount,
                    receipt: b.receipt,
                    trace: b.trace,
                    approved: !b.reversed,
                    extra: Vec::new(),
                },
                &card,
                // The copy shows when the payment happened, not when it was reprinted.
                b.at,
            ));
        }
        steps.push(Step::Send {
            apdu: completion(),
            commit: None,
        });
        let mut out = vec![Output::Note(format!(
            "reprint of receipts {from}..={to}: {} found",
            wanted.len()
        ))];
        out.extend(self.start(steps, false, now));
        out
    }

    /// The command fails at once: Abort 06 1E with this result code.
    fn end_with_abort(&mut self, code: u8, now: Millis) -> Vec<Output> {
        self.start(
            vec![Step::Send {
                apdu: abort_message(code),
                commit: None,
            }],
            false,
            now,
        )
    }

    /// One message (a Status-Information, say), then Completion; not abortable.
    fn answer_then_complete(&mut self, apdu: Vec<u8>, now: Millis) -> Vec<Output> {
        self.start(
            vec![
                Step::Send { apdu, commit: None },
                Step::Send {
                    apdu: completion(),
                    commit: None,
                },
            ],
            false,
            now,
        )
    }

    fn simple_completion(&mut self, now: Millis) -> Vec<Output> {
        self.start(
            vec![Step::Send {
                apdu: completion(),
                commit: None,
            }],
            false,
            now,
        )
    }

    fn wrong_currency(&self) -> Step {
        Step::Send {
            apdu: encode(&Message::Abort(Abort {
                result_code: rc::WRONG_CURRENCY,
                currency: Some(self.config.currency),
                ..Abort::default()
            })),
            commit: None,
        }
    }

    fn registration_cmd(&mut self, r: Registration, now: Millis) -> Vec<Output> {
        if !self.password_ok(r.password.0) {
            return vec![
                Output::Note("registration: wrong password".into()),
                Output::Send(nack(rc::NOT_POSSIBLE)),
            ];
        }
        if let Some(cc) = r.currency
            && cc != self.config.currency
        {
            // PA00P015 §2.1: 84 1E xx 6F [<CC>], the currency code only when the ECR sent one.
            let cc_bytes = possim_zvt::encoding::bcd_encode(u64::from(self.config.currency), 2).unwrap_or_default();
            let mut data = vec![rc::WRONG_CURRENCY];
            data.extend(cc_bytes);
            return vec![
                Output::Note(format!("registration: wrong currency {cc}")),
                Output::Send(encode(&Message::Nack { code: 0x1E, data })),
            ];
        }
        self.registered = Some(r.config);
        self.text_blocks = r.tlv.as_ref().and_then(|t| t.find(0x26)).is_some_and(|permitted| {
            permitted
                .children()
                .unwrap_or(&[])
                .iter()
                .any(|c| c.tag.value() == 0x0A && c.data() == Some(&[0x06, 0xD3][..]))
        });
        self.echo_currency = r.currency.is_some();
        let done = encode(&Message::Completion(Completion::Standard(CompletionData {
            status_byte: Some(0x00),
            terminal_id: Some(self.config.terminal_id),
            currency: self.echo_currency.then_some(u32::from(self.config.currency)),
            ..CompletionData::default()
        })));
        self.start(
            vec![Step::Send {
                apdu: done,
                commit: None,
            }],
            false,
            now,
        )
    }

    fn customer(&mut self) -> (CustomerScript, Card) {
        let operator_mode = self.operator_mode;
        let script = self.next_customer.take().unwrap_or_else(|| {
            if operator_mode {
                CustomerScript {
                    outcome: Outcome::Operator,
                    ..CustomerScript::default()
                }
            } else {
                self.config.default_customer.clone()
            }
        });
        let card = script
            .card
            .as_deref()
            .and_then(|n| self.config.card(n))
            .or(self.config.cards.first())
            .cloned()
            .unwrap_or_else(|| TerminalConfig::default().cards[0].clone());
        (script, card)
    }

    fn status_information(
        &self,
        result: u8,
        amount: u64,
        trace: u32,
        receipt: u16,
        card: &Card,
        now: Millis,
    ) -> Vec<u8> {
        let (time, date, _) = clock_fields(now);
        encode(&Message::StatusInformation(StatusInformation {
            result_code: Some(result),
            amount: Some(Amount(amount)),
            trace: Some(trace),
            time: Some(time),
            date: Some(date),
            expiry: Some(expiry(card)),
            payment_type: Some(0x70),
            pan: Digits::new(mask_pan(&card.pan)).ok(),
            terminal_id: Some(self.config.terminal_id),
            currency: Some(u32::from(self.config.currency)),
            receipt: Some(ReceiptNo::Number(receipt)),
            turnover: Some(u32::from(receipt)),
            card_type: Some(card.kind.card_type_id()),
            card_name: Some(card.kind.display_name().as_bytes().to_vec()),
            tlv: self
                .mirror_receipt
                .then(|| TlvContainer::new(vec![Tlv::primitive(tag(0x1F1F), receipt.to_be_bytes().to_vec())])),
            ..StatusInformation::default()
        }))
    }

    fn receipt_lines(&self, slip: Slip<'_>, card: &Card, now: Millis) -> Vec<Step> {
        if !self.ecr_prints_payment_lines() {
            return Vec::new();
        }
        let Slip {
            title,
            amount,
            receipt,
            trace,
            approved,
            extra,
        } = slip;
        let (time, _, date) = clock_fields(now);
        let mut steps = Vec::new();
        for (receipt_type, copy) in [(0x01u8, "Haendlerbeleg"), (0x02, "Kundenbeleg")] {
            let mut lines = vec![
                self.config.merchant.clone(),
                copy.to_owned(),
                title.to_owned(),
                format!("Terminal-ID {:08}", self.config.terminal_id),
                format!(
                    "Datum {:02}.{:02}.{:02} {:02}:{:02}",
                    date.day, date.month, date.year, time.hour, time.minute
                ),
                format!("{} {}", card.kind.display_name(), mask_pan(&card.pan).replace('E', "*")),
                format!("Beleg {receipt:04}  Trace {trace:06}"),
                format!("Betrag EUR {}.{:02}", amount / 100, amount % 100),
            ];
            lines.extend(extra.iter().cloned());
            lines.push(if approved {
                "Zahlung erfolgt".into()
            } else {
                "Vorgang abgebrochen".into()
            });
            if self.text_blocks {
                // One block per copy: 1F07 receipt type, 25 with the 07 lines, closed by 09 81
                // (the end-of-receipt attribute, PA00P015 §3.6 and tag 25).
                let mut texts: Vec<Tlv> = lines
                    .into_iter()
                    .map(|line| Tlv::primitive(tag(0x07), line.into_bytes()))
                    .collect();
                texts.push(Tlv::primitive(tag(0x09), vec![0x81]));
                let block = TlvContainer::new(vec![
                    Tlv::primitive(tag(0x1F07), vec![receipt_type]),
                    Tlv::constructed(tag(0x25), texts),
                ]);
                steps.push(Step::Send {
                    apdu: encode(&Message::PrintTextBlock(PrintTextBlock {
                        tlv: Some(block),
                        ..PrintTextBlock::default()
                    })),
                    commit: None,
                });
                continue;
            }
            let last = lines.len() - 1;
            for (i, line) in lines.into_iter().enumerate() {
                // Attribute 0x80 | n marks the last line of a receipt (PA00P015 table 16).
                let attribute = if i == last { 0x81 } else { 0x00 };
                steps.push(Step::Send {
                    apdu: encode(&Message::PrintLine(PrintLine {
                        attribute,
                        text: line.into_bytes(),
                    })),
                    commit: None,
                });
            }
        }
        steps
    }

    fn card_transaction(&mut self, kind: BookingKind, amount: u64, now: Millis) -> Vec<Output> {
        let (script, card) = self.customer();
        let delays = self.config.delays;
        let show = self.intermediate_wanted();
        let mut steps = Vec::new();
        let status = |steps: &mut Vec<Step>, code: u8| push_status(steps, show, code);
        status(&mut steps, status::INSERT_CARD);
        if script.outcome == Outcome::NoCard {
            steps.push(Step::WaitForCard);
            return self.start(steps, true, now);
        }
        if script.outcome == Outcome::Operator {
            self.operator = Some(OperatorTurn {
                kind,
                amount,
                card: None,
                wrong: 0,
            });
            steps.push(Step::WaitForCard);
            let mut out = vec![Output::Note("waiting for the operator to insert a card".into())];
            out.extend(self.start(steps, true, now));
            return out;
        }
        steps.push(Step::Pause(delays.card_ms));
        if script.outcome == Outcome::CardUnreadable {
            status(&mut steps, status::CARD_NOT_READABLE);
            steps.push(Step::Send {
                apdu: abort_message(rc::CARD_NOT_READABLE),
                commit: None,
            });
            return self.start(steps, true, now);
        }
        // PIN entry (girocard and Maestro always; credit cards too in this simulation).
        let tries = self.config.pin_tries.max(1);
        let wrong = script.wrong_pins.min(tries);
        for attempt in 0..=wrong {
            status(&mut steps, status::PIN_ENTRY);
            steps.push(Step::Pause(delays.pin_ms));
            if script.outcome == Outcome::CustomerAbort {
                steps.push(Step::Send {
                    apdu: abort_message(rc::ABORTED),
                    commit: None,
                });
                return self.start(steps, true, now);
            }
            if script.outcome == Outcome::PinTimeout {
                steps.push(Step::WaitForCard);
                return self.start(steps, true, now);
            }
            if attempt < wrong {
                status(&mut steps, status::INCORRECT_PIN);
            }
        }
        steps.extend(self.after_pin(kind, amount, &card, wrong >= tries, script.outcome, now));
        self.start(steps, true, now)
    }

    /// Everything after the PIN: the try limit, or the host's answer, the Status-Information,
    /// receipts and the end of the transaction.
    fn after_pin(
        &mut self,
        kind: BookingKind,
        amount: u64,
        card: &Card,
        pin_blocked: bool,
        outcome: Outcome,
        now: Millis,
    ) -> Vec<Step> {
        let delays = self.config.delays;
        let show = self.intermediate_wanted();
        let mut steps = Vec::new();
        let status = |steps: &mut Vec<Step>, code: u8| push_status(steps, show, code);
        let card = card.clone();
        let title = match kind {
            BookingKind::Payment => "Kartenzahlung",
            BookingKind::Refund => "Gutschrift",
            BookingKind::PreAuthorisation => "Reservierung",
            BookingKind::PreAuthBooking => "Buchung",
            BookingKind::PaybackRedemption => "PAYBACK Einloesung",
        };
        let (receipt, trace) = self.take_receipt();
        if pin_blocked {
            status(&mut steps, status::PIN_TRY_LIMIT);
            steps.push(Step::PointOfNoReturn);
            steps.push(Step::Send {
                apdu: self.status_information(rc::PIN_TRIES_EXCEEDED, amount, trace, receipt, &card, now),
                commit: None,
            });
            steps.push(Step::Send {
                apdu: abort_message(rc::PIN_TRIES_EXCEEDED),
                commit: None,
            });
            return steps;
        }
        status(&mut steps, status::WAITING_FOR_HOST);
        steps.push(Step::PointOfNoReturn);
        steps.push(Step::Pause(delays.host_ms));
        let decline = match outcome {
            Outcome::Decline { code } => Some(code),
            Outcome::HostUnreachable => Some(rc::NO_CONNECTION),
            _ if kind != BookingKind::Refund && amount > card.limit_cents => Some(rc::INSUFFICIENT_FUNDS),
            _ => None,
        };
        if let Some(code) = decline {
            status(&mut steps, status::DECLINED);
            status(&mut steps, status::REMOVE_CARD);
            steps.push(Step::Send {
                apdu: self.status_information(code, amount, trace, receipt, &card, now),
                commit: None,
            });
            steps.extend(self.receipt_lines(
                Slip {
                    title,
                    amount,
                    receipt,
                    trace,
                    approved: false,
                    extra: Vec::new(),
                },
                &card,
                now,
            ));
            steps.push(Step::Send {
                apdu: abort_message(code),
                commit: None,
            });
            return steps;
        }
        let approved = match outcome {
            Outcome::PartialApproval { cents } => cents.min(amount),
            _ => amount,
        };
        status(&mut steps, status::REMOVE_CARD);
        let booking = Booking {
            receipt,
            trace,
            kind,
            amount: approved,
            card: card.kind,
            pan: mask_pan(&card.pan),
            reversed: false,
            at: now,
            redemption: None,
        };
        steps.push(Step::Send {
            apdu: self.status_information(0x00, approved, trace, receipt, &card, now),
            commit: Some(Commit::Store(booking)),
        });
        steps.extend(self.receipt_lines(
            Slip {
                title,
                amount: approved,
                receipt,
                trace,
                approved: true,
                extra: Vec::new(),
            },
            &card,
            now,
        ));
        steps.push(Step::Send {
            apdu: completion(),
            commit: None,
        });
        steps
    }

    /// TLV 1F1F in a transaction command (PA00P015 §4.2): the ECR mirrors the last receipt
    /// number it knows. Equal to the terminal's last: in sync. One less: the ECR never learnt
    /// the last transaction's result, so the terminal reverses it implicitly and reuses its
    /// receipt number. Anything else, or empty (a new installation): ignored. Either way the
    /// Status-Information of this command carries the new receipt number in 1F1F.
    fn synchronise(&mut self, tlv: Option<&TlvContainer>) -> Vec<Output> {
        let Some(sync) = tlv.and_then(|t| t.find(0x1F1F)) else {
            self.mirror_receipt = false;
            return Vec::new();
        };
        self.mirror_receipt = true;
        let mirrored = sync.data().unwrap_or(&[]);
        if mirrored.is_empty() {
            return vec![Output::Note("1F1F: the ECR knows no receipt yet".into())];
        }
        let mirrored = mirrored
            .iter()
            .fold(0u64, |n, b| n.saturating_mul(256).saturating_add(u64::from(*b)));
        let Some(last) = self
            .batch
            .iter()
            .rev()
            .find(|b| !b.reversed && matches!(b.kind, BookingKind::Payment | BookingKind::PaybackRedemption))
            .cloned()
        else {
            return vec![Output::Note(format!(
                "1F1F {mirrored}: no transaction to compare; ignored"
            ))];
        };
        let last_receipt = u64::from(last.receipt);
        if mirrored == last_receipt {
            return vec![Output::Note(format!("1F1F {mirrored}: in sync"))];
        }
        if mirrored + 1 == last_receipt {
            // Like an automatic reversal: the transaction leaves the batch (and the totals), and
            // a PAYBACK redemption is reversed at PAYBACK.
            let receipt = last.receipt;
            self.batch.retain(|b| b.receipt != receipt);
            self.next_receipt = receipt;
            let mut out = vec![Output::Note(format!(
                "1F1F {mirrored}: the ECR never learnt receipt {receipt}; reversed implicitly, its number is reused"
            ))];
            out.extend(self.undo(&Commit::Store(last)));
            return out;
        }
        vec![Output::Note(format!(
            "1F1F {mirrored}: unknown to the terminal (last receipt {last_receipt}); ignored"
        ))]
    }

    fn reversal(&mut self, receipt: u16, now: Millis) -> Vec<Output> {
        let Some(original) = self
            .batch
            .iter()
            .find(|b| b.receipt == receipt && matches!(b.kind, BookingKind::Payment | BookingKind::PaybackRedemption))
            .cloned()
        else {
            return self.end_with_abort(rc::REVERSAL_NOT_POSSIBLE, now);
        };
        if original.reversed {
            return self.end_with_abort(rc::ALREADY_REVERSED, now);
        }
        let mut out = Vec::new();
        if let Some(id) = &original.redemption {
            // [ours] The points go back at PAYBACK before the terminal answers; that is final at
            // the host, so the terminal marks the receipt reversed at once (not only when the
            // ECR acknowledges), and both sides agree whatever happens to the answer.
            let transaction_id = format!("zvt-{}-{}-reversal", self.config.terminal_id, original.trace);
            let (answer, notes) = self.payback_reverse(id, &transaction_id);
            out.extend(notes);
            match answer {
                Ok(_) => {
                    if let Some(b) = self.batch.iter_mut().find(|b| b.receipt == receipt) {
                        b.reversed = true;
                    }
                }
                Err(e) => {
                    out.extend(self.end_with_abort(crate::payback::result_code(&e), now));
                    return out;
                }
            }
        }
        let card = self
            .config
            .cards
            .iter()
            .find(|c| c.kind == original.card)
            .cloned()
            .unwrap_or_else(|| TerminalConfig::default().cards[0].clone());
        let (_, trace) = self.take_receipt();
        let mut status = self.status_information(0x00, original.amount, trace, receipt, &card, now);
        // The original trace number (BMP 37) tells the ECR what was reversed.
        if let Ok(Message::StatusInformation(mut s)) = Message::decode(&status) {
            s.original_trace = Some(original.trace);
            status = encode(&Message::StatusInformation(s));
        }
        let mut steps = vec![Step::Send {
            apdu: status,
            commit: Some(Commit::Reverse(receipt)),
        }];
        steps.extend(self.receipt_lines(
            Slip {
                title: "Storno",
                amount: original.amount,
                receipt,
                trace,
                approved: true,
                extra: Vec::new(),
            },
            &card,
            now,
        ));
        steps.push(Step::Send {
            apdu: completion(),
            commit: None,
        });
        out.extend(self.start(steps, false, now));
        out
    }

    fn pre_auth_card(&self, p: &Booking) -> Card {
        self.config
            .cards
            .iter()
            .find(|c| c.kind == p.card)
            .cloned()
            .unwrap_or_else(|| TerminalConfig::default().cards[0].clone())
    }

    fn book_pre_auth(&mut self, receipt: u16, amount: Option<u64>, partial_reversal: bool, now: Millis) -> Vec<Output> {
        let Some(p) = self.pre_auths.iter().find(|p| p.receipt == receipt).cloned() else {
            return self.end_with_abort(rc::PRE_AUTH_ERROR, now);
        };
        // 06 24 books the amount given; 06 23 releases the amount given and books the rest.
        let booked = match (amount, partial_reversal) {
            (Some(a), false) => Some(a),
            (None, false) => Some(p.amount),
            (Some(a), true) => p.amount.checked_sub(a),
            (None, true) => Some(0),
        };
        let Some(booked) = booked.filter(|b| *b <= p.amount) else {
            return self.end_with_abort(rc::PRE_AUTH_INCORRECT, now);
        };
        let card = self.pre_auth_card(&p);
        let (_, trace) = self.take_receipt();
        let booking = Booking {
            receipt,
            trace,
            kind: BookingKind::PreAuthBooking,
            amount: booked,
            card: p.card,
            pan: p.pan.clone(),
            reversed: false,
            at: now,
            redemption: None,
        };
        let steps = vec![
            Step::Send {
                apdu: self.status_information(0x00, booked, trace, receipt, &card, now),
                commit: Some(Commit::BookPreAuth { receipt, booking }),
            },
            Step::Send {
                apdu: completion(),
                commit: None,
            },
        ];
        self.start(steps, false, now)
    }

    fn release_pre_auth(&mut self, receipt: u16, now: Millis) -> Vec<Output> {
        let Some(p) = self.pre_auths.iter().find(|p| p.receipt == receipt).cloned() else {
            return self.end_with_abort(rc::PRE_AUTH_ERROR, now);
        };
        let card = self.pre_auth_card(&p);
        let (_, trace) = self.take_receipt();
        let steps = vec![
            Step::Send {
                apdu: self.status_information(0x00, p.amount, trace, receipt, &card, now),
                commit: Some(Commit::ReleasePreAuth(receipt)),
            },
            Step::Send {
                apdu: completion(),
                commit: None,
            },
        ];
        self.start(steps, false, now)
    }

    fn open_pre_auth_enquiry(&mut self, now: Millis) -> Vec<Output> {
        match self.pre_auths.first().cloned() {
            // PA00P015 §2.10.1: none open → 06 1E 04 B8 87 FF FF.
            None => {
                let apdu = encode(&Message::Abort(Abort {
                    result_code: rc::PRE_AUTH_ERROR,
                    receipt: Some(ReceiptNo::None),
                    ..Abort::default()
                }));
                self.start(vec![Step::Send { apdu, commit: None }], false, now)
            }
            Some(p) => {
                let card = self.pre_auth_card(&p);
                let status = self.status_information(0x00, p.amount, p.trace, p.receipt, &card, now);
                self.answer_then_complete(status, now)
            }
        }
    }

    /// Count and total per End-of-Day group over the batch (reversed payments excluded, refunds
    /// subtracted from their group's total), and the receipt range.
    pub fn totals(&self) -> ([(u8, u64); 7], u64, u16, u16) {
        let mut groups = [(0u8, 0u64); 7];
        let mut total = 0u64;
        // PAYBACK redemptions are vouchers, not card turnover: they stay out of the totals.
        for b in self
            .batch
            .iter()
            .filter(|b| !b.reversed && b.kind != BookingKind::PaybackRedemption)
        {
            let g = &mut groups[b.card.totals_group()];
            match b.kind {
                BookingKind::Refund => {
                    g.1 = g.1.saturating_sub(b.amount);
                    total = total.saturating_sub(b.amount);
                }
                _ => {
                    g.0 = g.0.saturating_add(1);
                    g.1 += b.amount;
                    total += b.amount;
                }
            }
        }
        let from = self.batch.iter().map(|b| b.receipt).min().unwrap_or(0);
        let to = self.batch.iter().map(|b| b.receipt).max().unwrap_or(0);
        (groups, total, from, to)
    }

    fn totals_status(&mut self, now: Millis) -> Vec<u8> {
        let (groups, total, from, to) = self.totals();
        let bcd = |v: u64, n: usize| possim_zvt::encoding::bcd_encode(v, n).unwrap_or_else(|_| vec![0x99; n]);
        // BMP 60 (PA00P015 §2.17): receipt from/to (2 B BCD each), then count (1 B binary) and
        // turnover (6 B BCD) for girocard, JCB, Eurocard, Amex, VISA, Diners, the rest.
        let mut single = Vec::new();
        single.extend(bcd(u64::from(from), 2));
        single.extend(bcd(u64::from(to), 2));
        for (count, sum) in groups {
            single.push(count);
            single.extend(bcd(sum.min(999_999_999_999), 6));
        }
        let (_, trace) = self.take_receipt();
        let (time, date, _) = clock_fields(now);
        encode(&Message::StatusInformation(StatusInformation {
            result_code: Some(0x00),
            amount: Some(Amount(total.min(999_999_999_999))),
            trace: Some(trace),
            time: Some(time),
            date: Some(date),
            individual_totals: Some(single),
            ..StatusInformation::default()
        }))
    }

    fn end_of_day(&mut self, now: Millis) -> Vec<Output> {
        if let Some(open) = self.pre_auths.first() {
            // An open pre-authorisation blocks the End-of-Day (seen on Feig terminals: 06 1E B8 87 <receipt>).
            let apdu = encode(&Message::Abort(Abort {
                result_code: rc::PRE_AUTH_ERROR,
                receipt: Some(ReceiptNo::Number(open.receipt)),
                ..Abort::default()
            }));
            return self.start(vec![Step::Send { apdu, commit: None }], false, now);
        }
        let status = self.totals_status(now);
        self.start(
            vec![
                Step::Send {
                    apdu: status,
                    commit: Some(Commit::ClearBatch),
                },
                Step::Send {
                    apdu: completion(),
                    commit: None,
                },
            ],
            false,
            now,
        )
    }

    fn read_card(&mut self, now: Millis) -> Vec<Output> {
        let (_, card) = self.customer();
        let mut steps = Vec::new();
        if self.intermediate_wanted() {
            steps.push(Step::Send {
                apdu: intermediate(status::INSERT_CARD),
                commit: None,
            });
        }
        steps.push(Step::Pause(self.config.delays.card_ms));
        steps.push(Step::Send {
            apdu: encode(&Message::StatusInformation(StatusInformation {
                expiry: Some(expiry(&card)),
                pan: Digits::new(mask_pan(&card.pan)).ok(),
                card_type: Some(card.kind.card_type_id()),
                ..StatusInformation::default()
            })),
            commit: None,
        });
        steps.push(Step::Send {
            apdu: completion(),
            commit: None,
        });
        self.start(steps, true, now)
    }
}

/// The PAYBACK redemption through the terminal (Austria, seed 000) [ours]: the till sends an
/// Authorisation whose amount is the basket total, marked as PAYBACK; the customer types the
/// PIN, PAYBACK checks it, the terminal shows the balance, the customer picks the points, PAYBACK
/// books them, and the Status-Information carries their EUR value back to the till.
impl Terminal {
    fn is_payback(&self, a: &possim_zvt::messages::Authorisation) -> bool {
        let by_card_type = a.card_type == Some(self.config.payback.card_type);
        // PA00P015 §9.4.3: bonus points container E1, C1 = "MS" (redeem points).
        let by_bonus_container = a
            .tlv
            .as_ref()
            .and_then(|t| t.find(0xC1))
            .and_then(Tlv::data)
            .is_some_and(|d| d == b"MS");
        by_card_type || by_bonus_container
    }

    fn payback_redemption(&mut self, basket: u64, tlv: bool, now: Millis) -> Vec<Output> {
        let operator_mode = self.operator_mode;
        let script = self
            .next_customer
            .take()
            .unwrap_or_else(|| self.config.default_customer.clone());
        let show = self.intermediate_wanted();
        let status = |steps: &mut Vec<Step>, code: u8| push_status(steps, show, code);
        let mut steps = Vec::new();
        status(&mut steps, status::INSERT_CARD);
        let card = match &script.card {
            Some(name) => self.config.card(name).cloned(),
            None => self.config.cards.iter().find(|c| c.kind == CardKind::Payback).cloned(),
        };
        let Some(card) = card.filter(|c| c.kind == CardKind::Payback) else {
            let mut out = vec![Output::Note(
                "PAYBACK redemption: the customer has no PAYBACK card (card unknown)".into(),
            )];
            out.extend(self.end_with_abort(rc::CARD_UNKNOWN, now));
            return out;
        };
        if operator_mode || script.outcome == Outcome::Operator {
            let mut out = vec![Output::Note(
                "PAYBACK redemption: the console does not play this flow; script the customer".into(),
            )];
            out.extend(self.end_with_abort(rc::NOT_POSSIBLE, now));
            return out;
        }
        if script.outcome == Outcome::NoCard {
            steps.push(Step::WaitForCard);
            return self.start(steps, true, now);
        }
        steps.push(Step::Pause(self.config.delays.card_ms));
        if script.outcome == Outcome::CardUnreadable {
            status(&mut steps, status::CARD_NOT_READABLE);
            steps.push(Step::Send {
                apdu: abort_message(rc::CARD_NOT_READABLE),
                commit: None,
            });
            return self.start(steps, true, now);
        }
        if script.outcome == Outcome::PinTimeout {
            // The customer walks away at the PIN pad: the customer time-out or the ECR's 06 B0.
            status(&mut steps, status::PIN_ENTRY);
            steps.push(Step::WaitForCard);
            return self.start(steps, true, now);
        }
        let pins: VecDeque<String> = if script.pins.is_empty() {
            let wrong = if card.pin == "0000" { "9999" } else { "0000" };
            let tries = usize::from(self.config.pin_tries.max(1));
            let mut pins: VecDeque<String> =
                std::iter::repeat_n(wrong.to_owned(), usize::from(script.wrong_pins).min(tries)).collect();
            pins.push_back(card.pin.clone());
            pins
        } else {
            script.pins.iter().cloned().collect()
        };
        self.payback_run = Some(PaybackRun {
            card,
            basket,
            pins,
            outcome: script.outcome,
            redeem_points: script.redeem_points,
            token: None,
            redeemable: 0,
            tlv,
        });
        steps.push(Step::Payback(PaybackStep::NextPin));
        let mut out = vec![Output::Note(format!(
            "PAYBACK redemption for a basket of {basket} cents"
        ))];
        out.extend(self.start(steps, true, now));
        out
    }

    /// Ends the redemption with Abort 06 1E and this code (after the "declined" status).
    fn payback_abort(&mut self, code: u8) -> Vec<Step> {
        self.payback_run = None;
        let mut steps = vec![Step::PointOfNoReturn];
        push_status(&mut steps, self.intermediate_wanted(), status::DECLINED);
        steps.push(Step::Send {
            apdu: abort_message(code),
            commit: None,
        });
        steps
    }

    /// Carries out one host-dependent step: notes for the journal, and the steps that follow.
    fn payback_step(&mut self, step: PaybackStep, now: Millis) -> (Vec<Output>, Vec<Step>) {
        let show = self.intermediate_wanted();
        let Some(run) = self.payback_run.clone() else {
            return (
                vec![Output::Note("PAYBACK: no redemption in progress".into())],
                vec![Step::Send {
                    apdu: abort_message(rc::NOT_POSSIBLE),
                    commit: None,
                }],
            );
        };
        let note = |text: String| vec![Output::Note(text)];
        let host = if run.outcome == Outcome::HostUnreachable {
            Err(HostError::Unreachable("scripted: no connection".into()))
        } else {
            self.host()
        };
        let partner = self.config.payback.partner.clone();
        match step {
            PaybackStep::NextPin => {
                let mut run = run;
                let Some(pin) = run.pins.pop_front() else {
                    self.payback_run = None;
                    return (
                        note("PAYBACK: the customer gave up at the PIN pad".into()),
                        vec![Step::Send {
                            apdu: abort_message(rc::ABORTED),
                            commit: None,
                        }],
                    );
                };
                self.payback_run = Some(run);
                let mut steps = Vec::new();
                push_status(&mut steps, show, status::PIN_ENTRY);
                steps.push(Step::Pause(self.config.delays.pin_ms));
                steps.push(Step::Payback(PaybackStep::Authenticate(pin)));
                (Vec::new(), steps)
            }
            PaybackStep::Authenticate(pin) => {
                let answer = host.clone().and_then(|h| h.authenticate(&partner, &run.card.pan, &pin));
                match answer {
                    Ok(a) => {
                        let mut steps = Vec::new();
                        if show {
                            let text = format!("PAYBACK Punkte: {}", a.balance);
                            steps.push(Step::Send {
                                apdu: encode(&Message::IntermediateStatus(IntermediateStatus {
                                    status: status::BALANCE_DISPLAY,
                                    timeout: run.tlv.then_some(0x03),
                                    tlv: run.tlv.then(|| {
                                        TlvContainer::new(vec![Tlv::constructed(
                                            tag(0x24),
                                            vec![Tlv::primitive(tag(0x07), text.into_bytes())],
                                        )])
                                    }),
                                    ..IntermediateStatus::default()
                                })),
                                commit: None,
                            });
                        }
                        steps.push(Step::Payback(PaybackStep::Choose));
                        if let Some(r) = self.payback_run.as_mut() {
                            r.token = Some(a.token);
                            r.redeemable = a.redeemable;
                        }
                        (
                            note(format!(
                                "PAYBACK: PIN right; balance {} points, {} redeemable",
                                a.balance, a.redeemable
                            )),
                            steps,
                        )
                    }
                    Err(HostError::Refused { code, message }) if code == "PIN_INVALID" => {
                        let mut steps = Vec::new();
                        push_status(&mut steps, show, status::INCORRECT_PIN);
                        steps.push(Step::Payback(PaybackStep::NextPin));
                        (note(format!("PAYBACK: wrong PIN ({message})")), steps)
                    }
                    Err(e) => {
                        let mut steps = Vec::new();
                        if matches!(&e, HostError::Refused { code, .. } if code == "PIN_LOCKED") {
                            push_status(&mut steps, show, status::PIN_TRY_LIMIT);
                        }
                        steps.extend(self.payback_abort(crate::payback::result_code(&e)));
                        (note(format!("PAYBACK: {e}")), steps)
                    }
                }
            }
            PaybackStep::Choose => {
                if run.outcome == Outcome::CustomerAbort {
                    self.payback_run = None;
                    return (
                        note("PAYBACK: the customer pressed abort at the point selection".into()),
                        vec![Step::Send {
                            apdu: abort_message(rc::ABORTED),
                            commit: None,
                        }],
                    );
                }
                let basket = i64::try_from(run.basket).unwrap_or(i64::MAX);
                let points = match run.redeem_points {
                    Some(p) => i64::try_from(p).unwrap_or(i64::MAX),
                    None if run.redeemable == 0 => {
                        // Unregistered, or below the 200-point minimum: nothing to offer.
                        let steps = self.payback_abort(rc::BELOW_MINIMUM);
                        return (note("PAYBACK: no redeemable points".into()), steps);
                    }
                    None => run.redeemable.min(basket),
                };
                let mut steps = Vec::new();
                push_status(&mut steps, show, status::WAITING_FOR_HOST);
                steps.push(Step::PointOfNoReturn);
                steps.push(Step::Pause(self.config.delays.host_ms));
                steps.push(Step::Payback(PaybackStep::Redeem(points)));
                (note(format!("PAYBACK: the customer chose {points} points")), steps)
            }
            PaybackStep::Redeem(points) => {
                let (receipt, trace) = self.take_receipt();
                let request = RedeemRequest {
                    partner,
                    transaction_id: format!("zvt-{}-{trace}", self.config.terminal_id),
                    token: run.token.clone().unwrap_or_default(),
                    points,
                    basket_cents: i64::try_from(run.basket).unwrap_or(i64::MAX),
                    receipt: receipt.to_string(),
                };
                let redeem = || host.clone().and_then(|h| h.redeem(&request));
                let card = run.card.clone();
                let booking = |r: &crate::payback::Redeemed| Booking {
                    receipt,
                    trace,
                    kind: BookingKind::PaybackRedemption,
                    amount: u64::try_from(r.amount_cents).unwrap_or(0),
                    card: card.kind,
                    pan: mask_pan(&card.pan),
                    reversed: false,
                    at: now,
                    redemption: Some(r.redemption_id.clone()),
                };
                let r = match redeem() {
                    Ok(r) => r,
                    Err(e @ HostError::Unreachable(_)) => {
                        // [ours] The call may have booked and only its answer be lost. The
                        // terminal asks once more with the same transaction id: PAYBACK replays
                        // a booking it made (idempotency) or books now. Either way the terminal
                        // has given up on this redemption (06 1E A3), so what the repeat reveals
                        // is reversed at once: nothing stays booked.
                        let mut notes = note(format!(
                            "PAYBACK: no answer to the redemption ({e}); asking again with transaction id {}",
                            request.transaction_id
                        ));
                        match redeem() {
                            Ok(r) => notes.extend(self.undo(&Commit::Store(booking(&r)))),
                            Err(again @ HostError::Unreachable(_)) => notes.push(Output::Note(format!(
                                "PAYBACK: still no answer ({again}); whether redemption {} is booked is unknown",
                                request.transaction_id
                            ))),
                            Err(refused) => {
                                notes.push(Output::Note(format!("PAYBACK: nothing booked ({refused})")));
                            }
                        }
                        notes.extend(note(format!("PAYBACK: redemption failed: {e}")));
                        return (notes, self.payback_abort(crate::payback::result_code(&e)));
                    }
                    Err(e) => {
                        let steps = self.payback_abort(crate::payback::result_code(&e));
                        return (note(format!("PAYBACK: redemption refused: {e}")), steps);
                    }
                };
                self.payback_run = None;
                let booking = booking(&r);
                let amount = booking.amount;
                let mut status_info = self.status_information(0x00, amount, trace, receipt, &card, now);
                if run.tlv
                    && let Ok(Message::StatusInformation(mut s)) = Message::decode(&status_info)
                {
                    // PA00P015 §9.4.3: E1 bonus points — C1 "MS" redeemed, C2 points (8 B BCD),
                    // C3 remaining points.
                    let bcd = |v: i64| {
                        possim_zvt::encoding::bcd_encode(u64::try_from(v).unwrap_or(0), 8)
                            .unwrap_or_else(|_| vec![0; 8])
                    };
                    let bonus = Tlv::constructed(
                        tag(0xE1),
                        vec![
                            Tlv::primitive(tag(0xC1), b"MS".to_vec()),
                            Tlv::primitive(tag(0xC2), bcd(r.points)),
                            Tlv::primitive(tag(0xC3), bcd(r.new_balance)),
                        ],
                    );
                    let mut objects = s.tlv.take().map(|t| t.objects).unwrap_or_default();
                    objects.push(bonus);
                    s.tlv = Some(TlvContainer::new(objects));
                    status_info = encode(&Message::StatusInformation(s));
                }
                // Booked at PAYBACK from here on: until the ECR acknowledges the 04 0F, whatever
                // ends the transaction (the link gone or no acknowledgement of the 04 FF 0B before
                // it) must reverse it.
                let commit = Commit::Store(booking);
                if let Some(session) = self.session.as_mut() {
                    session.unconfirmed = Some(commit.clone());
                }
                let mut steps = Vec::new();
                push_status(&mut steps, show, status::REMOVE_CARD);
                steps.push(Step::Send {
                    apdu: status_info,
                    commit: Some(commit),
                });
                steps.extend(self.receipt_lines(
                    Slip {
                        title: "PAYBACK Einloesung",
                        amount,
                        receipt,
                        trace,
                        approved: true,
                        extra: vec![
                            format!("Punkte eingeloest {}", r.points),
                            format!("Neuer Punktestand {}", r.new_balance),
                        ],
                    },
                    &card,
                    now,
                ));
                steps.push(Step::Send {
                    apdu: completion(),
                    commit: None,
                });
                (
                    note(format!(
                        "PAYBACK: redeemed {} points = {} cents (redemption {}), balance {}",
                        r.points, r.amount_cents, r.redemption_id, r.new_balance
                    )),
                    steps,
                )
            }
        }
    }
}

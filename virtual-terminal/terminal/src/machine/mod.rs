//! The terminal itself, without I/O: APDUs from the ECR's connections, timer expiries and the
//! operator's actions go in; outputs addressed to connections come out — APDUs to send, timers
//! to arm and notes for the journal. The transports (TCP, serial) only move bytes, run one timer
//! per connection and route each output to the connection it names.
//!
//! While the PT is master (after it acknowledged a command) it sends one message at a time and
//! waits for the ECR's `80 00 00` before the next, as PA00P015 prescribes. A payment is stored
//! only when the ECR acknowledged its Status-Information (04 0F): that acknowledgement is the
//! commit point, and a missing one means the PT reverses the payment (PA00P015 §2.2.8).
//!
//! The machine is split by responsibility into rooms that all work on the one [`Terminal`]:
//!
//! - this module: the state, the step queue a running command works through ([`Step`]), the
//!   command dispatch and the commits;
//! - `session`: the running transaction and connection arbitration — which connection owns the
//!   terminal, acknowledgements, time-outs, the ECR's abort (from any connection), a lost link;
//! - `payment`: card transactions (Authorisation, Pre-Authorisation, Refund, Reversal, Read Card),
//!   the customer and the operator who may play them, 1F1F resynchronisation;
//! - `preauth`: what follows a pre-authorisation (Book Total, Partial Reversal, Pre-Auth
//!   Reversal, the open pre-authorisation enquiry);
//! - `admin`: Registration, Log-Off, Status Enquiry, End-of-Day and turnover totals, Repeat
//!   Receipt, Set Terminal-ID and the commands completed at once;
//! - `receipts`: the Status-Information, the receipt lines and text blocks, the end of a
//!   transaction (04 0F, receipts, 06 0F or 06 1E) and Reprint Receipts;
//! - `payback`: the PAYBACK redemption through the terminal (Austria) [ours];
//! - `goods`: unattended issue of goods after an Authorisation (84 9C repeats, partial issue,
//!   reversal when the goods were not issued).

mod admin;
mod goods;
mod payback;
mod payment;
mod preauth;
mod receipts;
mod session;

use std::collections::VecDeque;
use std::sync::Arc;

use possim_engine::clock::Millis;
use possim_zvt::bmp::Expiry;
use possim_zvt::messages::{Abort, Completion, CompletionData, IntermediateStatus, cmd};
use possim_zvt::{Apdu, ControlField, Message};
use serde::Serialize;

use crate::config::{Card, CardKind, TerminalConfig};
use crate::customer::CustomerScript;
use crate::payback::PaybackHost;

pub use receipts::mask_pan;

use self::payback::PaybackRun;
use self::payment::OperatorTurn;
use self::session::Session;

/// Which ECR connection an input came from or an output is for (the engine's connection id).
pub type ConnectionId = u64;

/// One thing a transport must do, for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The connection whose link carries it out.
    pub connection: ConnectionId,
    /// What to do.
    pub action: Action,
}

/// What a transport must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this APDU.
    Send(Apdu),
    /// (Re-)arm the connection's timer to fire after this many milliseconds.
    Arm(u64),
    /// Cancel the connection's timer.
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

/// Reprint Receipts 06 12: not one of the codec's typed messages.
const REPRINT_RECEIPTS: ControlField = ControlField::new(0x06, 0x12);

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

impl Booking {
    /// A payment or PAYBACK redemption: what a Reversal 06 30 may name.
    fn is_reversible_kind(&self) -> bool {
        matches!(self.kind, BookingKind::Payment | BookingKind::PaybackRedemption)
    }
}

/// The part of the End-of-Day totals of bookings the batch no longer holds, folded in batch
/// order exactly as [`Terminal::totals`] folds the held ones, so the totals are the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSummary {
    /// Bookings forgotten.
    pub bookings: u64,
    /// Per End-of-Day group: payments counted (at most 255, as BMP 60 has one byte) and turnover.
    pub groups: [(u8, u64); 7],
    /// Turnover over all groups.
    pub total: u64,
    /// Lowest and highest receipt number forgotten.
    pub receipts: Option<(u16, u16)>,
}

impl BatchSummary {
    fn add(&mut self, b: &Booking) {
        self.bookings += 1;
        self.receipts = Some(match self.receipts {
            None => (b.receipt, b.receipt),
            Some((from, to)) => (from.min(b.receipt), to.max(b.receipt)),
        });
        fold_totals(&mut self.groups, &mut self.total, b);
    }
}

/// Adds one booking to End-of-Day totals: reversed payments and PAYBACK redemptions (vouchers,
/// not card turnover) count nothing, refunds are subtracted from their group's turnover.
fn fold_totals(groups: &mut [(u8, u64); 7], total: &mut u64, b: &Booking) {
    if b.reversed || b.kind == BookingKind::PaybackRedemption {
        return;
    }
    let g = &mut groups[b.card.totals_group()];
    match b.kind {
        BookingKind::Refund => {
            g.1 = g.1.saturating_sub(b.amount);
            *total = total.saturating_sub(b.amount);
        }
        _ => {
            g.0 = g.0.saturating_add(1);
            g.1 += b.amount;
            *total += b.amount;
        }
    }
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

/// One step of a running command; the session works through them in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Send a message; the ECR's acknowledgement commits `commit`.
    Send { apdu: Apdu, commit: Option<Commit> },
    /// Simulated customer or host time.
    Pause(u64),
    /// Wait for a card that does not come: until the ECR aborts or the customer time-out.
    WaitForCard,
    /// From here on 06 B0 can no longer abort (the host has been asked).
    PointOfNoReturn,
    /// A step of a PAYBACK redemption that depends on the host's answer; it turns into the
    /// steps that follow from that answer when it is reached.
    Payback(payback::PaybackStep),
}

impl Step {
    /// A message whose acknowledgement commits nothing.
    fn send(apdu: Apdu) -> Self {
        Step::Send { apdu, commit: None }
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
    /// The ECR listed 06 D0 among its permitted commands (registration TLV 26): a terminal that
    /// captures signatures only then (profile quirk) can ask for one.
    permits_06d0: bool,
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
    /// The newest `config.retain` bookings since the last End-of-Day, oldest first.
    batch: Vec<Booking>,
    /// What the older bookings since the last End-of-Day add to the totals.
    forgotten: BatchSummary,
    pre_auths: Vec<Booking>,
    /// The last Status-Information of a transaction, for Repeat Receipt 06 20.
    last_status: Option<Apdu>,
    next_customer: Option<CustomerScript>,
    session: Option<Session>,
    payback_host: Option<Arc<dyn PaybackHost>>,
    payback_run: Option<PaybackRun>,
    /// The issue of goods of the running Authorisation (PA00P015 §2.2.6).
    goods: Option<goods::IssueOfGoods>,
    /// A second ECR's command that arrived while the owner's transaction only waited for the
    /// acknowledgement of its last message; run as soon as that transaction ends.
    held: Option<(ConnectionId, Vec<u8>, Millis)>,
}

/// An APDU without data (`80 00 00`, `84 xx 00`).
fn bare(control: ControlField) -> Apdu {
    Apdu::new(control.class, control.instr, Vec::new())
        .unwrap_or_else(|e| unreachable!("an empty data block always fits: {e}"))
}

fn encode(message: &Message) -> Apdu {
    // Every message built here is well-formed by construction; an error would be a bug in this
    // module, answered as a protocol error rather than a panic.
    message.to_apdu().unwrap_or_else(|_| nack(rc::PROTOCOL_ERROR))
}

fn ack() -> Apdu {
    bare(cmd::ACK)
}

fn nack(code: u8) -> Apdu {
    bare(ControlField::new(0x84, code))
}

fn abort_message(code: u8) -> Apdu {
    encode(&Message::Abort(Abort {
        result_code: code,
        ..Abort::default()
    }))
}

fn intermediate(code: u8) -> Apdu {
    encode(&Message::IntermediateStatus(IntermediateStatus {
        status: code,
        ..IntermediateStatus::default()
    }))
}

fn completion() -> Apdu {
    encode(&Message::Completion(Completion::Standard(CompletionData::default())))
}

/// A refusal of the command: a journal note and `84 83 00`.
fn refused(why: impl Into<String>) -> Vec<Action> {
    vec![Action::Note(why.into()), Action::Send(nack(rc::NOT_POSSIBLE))]
}

/// An intermediate status 04 FF, only when the ECR asked for them (config bit 08).
fn push_status(steps: &mut Vec<Step>, show: bool, code: u8) {
    if show {
        steps.push(Step::send(intermediate(code)));
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
            permits_06d0: false,
            mirror_receipt: false,
            operator_mode: false,
            operator: None,
            echo_currency: false,
            next_receipt: 1,
            next_trace: 1,
            batch: Vec::new(),
            forgotten: BatchSummary::default(),
            pre_auths: Vec::new(),
            last_status: None,
            next_customer: None,
            session: None,
            payback_host: None,
            payback_run: None,
            goods: None,
            held: None,
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

    /// The deviations of the configured quirk profile (none for `spec`).
    pub fn quirks(&self) -> crate::profile::Quirks {
        self.config.terminal.profile.quirks()
    }

    /// What a new TCP/TLS connection gets before any ZVT (the profile's banner), if anything.
    pub fn connect_banner(&self) -> Option<Vec<u8>> {
        self.quirks().banner_bytes()
    }

    /// Switches the operator mode: every unscripted customer waits for the console.
    pub fn set_operator_mode(&mut self, on: bool) {
        self.operator_mode = on;
    }

    /// Whether the operator plays the unscripted customers.
    pub fn operator_mode(&self) -> bool {
        self.operator_mode
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

    /// The stored transactions since the last End-of-Day (the newest `retain` of them).
    pub fn batch(&self) -> &[Booking] {
        &self.batch
    }

    /// What the bookings since the last End-of-Day that the batch no longer holds add up to.
    pub fn forgotten(&self) -> &BatchSummary {
        &self.forgotten
    }

    /// Stores a booking in the batch; beyond the retention the oldest one leaves it and only its
    /// part of the totals stays. It can no longer be reversed or reprinted, as a booking it
    /// could not have been reversed (only a held one can), its part of the totals is final.
    fn store(&mut self, booking: Booking) {
        self.batch.push(booking);
        if self.batch.len() > self.config.retain {
            let excess = self.batch.len() - self.config.retain;
            for old in self.batch.drain(..excess) {
                self.forgotten.add(&old);
            }
        }
    }

    /// Open pre-authorisations.
    pub fn pre_auths(&self) -> &[Booking] {
        &self.pre_auths
    }

    // Receipt numbers wrap after 9999, so a batch kept long enough (retention above 9999, no
    // End-of-Day) or the open pre-authorisations may hold a number twice: the ECR means the
    // newest booking with it, as on a receipt it has just printed.

    /// Where the batch holds the newest payment (or PAYBACK redemption) with this receipt number.
    fn reversible(&self, receipt: u16) -> Option<usize> {
        self.batch
            .iter()
            .rposition(|b| b.receipt == receipt && b.is_reversible_kind())
    }

    /// The newest open pre-authorisation with this receipt number.
    fn pre_auth(&self, receipt: u16) -> Option<&Booking> {
        self.pre_auths.iter().rev().find(|p| p.receipt == receipt)
    }

    /// Removes the newest open pre-authorisation with this receipt number.
    fn take_pre_auth(&mut self, receipt: u16) {
        if let Some(index) = self.pre_auths.iter().rposition(|p| p.receipt == receipt) {
            self.pre_auths.remove(index);
        }
    }

    /// Whether an ECR registered (and with which config byte).
    pub fn registration(&self) -> Option<u8> {
        self.registered
    }

    fn intermediate_wanted(&self) -> bool {
        self.registered.is_some_and(|c| c & 0x08 != 0)
    }

    fn take_receipt(&mut self) -> (u16, u32) {
        let receipt = self.next_receipt;
        let trace = self.next_trace;
        self.next_receipt = if receipt >= 9999 { 1 } else { receipt + 1 };
        self.next_trace = if trace >= 999_999 { 1 } else { trace + 1 };
        (receipt, trace)
    }

    fn password_ok(&self, given: u32) -> bool {
        given == self.config.password
    }

    /// A command from the ECR while the terminal is idle: to the room that handles it.
    fn on_command(&mut self, message: Message, now: Millis) -> Vec<Action> {
        self.mirror_receipt = false;
        self.operator = None;
        self.payback_run = None;
        self.goods = None;
        // TLV 1F1F in the other commands PA00P015 §4.2 lists (Authorisation and Pre-Authorisation
        // read it themselves): the resynchronisation is about what the ECR knows, so it happens
        // before the command is judged.
        let sync_tlv = match &message {
            Message::AccountBalanceRequest(m) => Some(m.tlv.clone()),
            Message::PartialReversal(m) => Some(m.tlv.clone()),
            Message::BookTotal(m) => Some(m.tlv.clone()),
            Message::PreAuthReversal(m) => Some(m.tlv.clone()),
            Message::Reversal(m) => Some(m.tlv.clone()),
            Message::Refund(m) => Some(m.tlv.clone()),
            Message::EndOfDay(m) => Some(m.tlv.clone()),
            _ => None,
        };
        let mut out = match sync_tlv {
            Some(tlv) => self.synchronise(tlv.as_ref()),
            None => Vec::new(),
        };
        out.extend(self.dispatch(message, now));
        out
    }

    /// The room that handles an idle command.
    fn dispatch(&mut self, message: Message, now: Millis) -> Vec<Action> {
        match message {
            Message::Registration(r) => self.registration_cmd(r, now),
            Message::LogOff => self.log_off(),
            Message::StatusEnquiry(s) => self.status_enquiry(s, now),
            Message::Authorisation(a) => self.authorisation(a, now),
            Message::PreAuthorisation(p) => self.pre_authorisation(p, now),
            Message::Refund(r) => self.refund(r, now),
            Message::Reversal(r) => self.reversal_cmd(r, now),
            Message::BookTotal(b) => self.book_total(b, now),
            Message::PartialReversal(p) => self.partial_reversal(p, now),
            Message::PreAuthReversal(p) => self.pre_auth_reversal(p, now),
            Message::EndOfDay(e) => self.end_of_day_cmd(e, now),
            Message::SendTurnoverTotals(t) => self.send_turnover_totals(t, now),
            Message::RepeatReceipt(r) => self.repeat_receipt(r, now),
            Message::Other(apdu) if apdu.control() == REPRINT_RECEIPTS => self.reprint(apdu.data(), now),
            Message::SetTerminalId(s) => self.set_terminal_id(s, now),
            Message::Diagnosis(_)
            | Message::Initialisation(_)
            | Message::SetDateTime(_)
            | Message::DisplayText(_)
            | Message::SelectLanguage(_)
            | Message::AccountBalanceRequest(_) => self.simple_completion(now),
            Message::ReadCard(_) => self.read_card(now),
            // Nothing is running: there is nothing to abort.
            Message::AbortRequest(_) => vec![Action::Send(ack())],
            other => refused(format!("unsupported command {}", other.control())),
        }
    }

    /// Starts a command: `80 00 00`, then its steps until the first that waits.
    fn start(&mut self, steps: Vec<Step>, abortable: bool, now: Millis) -> Vec<Action> {
        self.session = Some(Session::new(steps, abortable));
        let mut out = vec![Action::Send(ack())];
        out.extend(self.advance(now));
        out
    }

    /// The command fails at once: Abort 06 1E with this result code.
    fn end_with_abort(&mut self, code: u8, now: Millis) -> Vec<Action> {
        self.start(vec![Step::send(abort_message(code))], false, now)
    }

    /// One message (a Status-Information, say), then Completion; not abortable.
    fn answer_then_complete(&mut self, apdu: Apdu, now: Millis) -> Vec<Action> {
        self.start(vec![Step::send(apdu), Step::send(completion())], false, now)
    }

    fn simple_completion(&mut self, now: Millis) -> Vec<Action> {
        self.start(vec![Step::send(completion())], false, now)
    }

    /// Works through the running command's steps until one waits: for the ECR's
    /// acknowledgement, a pause, or the customer. The last step done ends the session.
    fn advance(&mut self, now: Millis) -> Vec<Action> {
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
                    let control = apdu.control();
                    session.await_ack(commit, control);
                    if control == cmd::STATUS_INFORMATION {
                        self.last_status = Some(apdu.clone());
                    }
                    out.push(Action::Send(apdu));
                    // During issue of goods the answer to the Status-Information may take the
                    // Authorisation's <timeout> rather than T3.
                    let wait = match &self.goods {
                        Some(goods) if control == cmd::STATUS_INFORMATION => {
                            goods.answer_wait_ms(self.config.ack_timeout_ms)
                        }
                        _ => self.config.ack_timeout_ms,
                    };
                    out.push(Action::Arm(wait));
                    return out;
                }
                Step::Pause(0) => continue,
                Step::Pause(ms) => {
                    session.await_pause();
                    out.push(Action::Arm(ms));
                    return out;
                }
                Step::WaitForCard => {
                    session.await_customer();
                    out.push(Action::Arm(self.config.customer_timeout_ms));
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

    /// Replaces what is left of the running command with Abort 06 1E and this code.
    fn abort_running(&mut self, code: u8) {
        if let Some(session) = self.session.as_mut() {
            session.steps = VecDeque::from([Step::send(abort_message(code))]);
        }
    }

    fn apply(&mut self, commit: Commit, out: &mut Vec<Action>) {
        match commit {
            Commit::Store(b) => {
                out.push(Action::Note(format!(
                    "stored receipt {} ({:?}, {} cents)",
                    b.receipt, b.kind, b.amount
                )));
                if b.kind == BookingKind::PreAuthorisation {
                    self.pre_auths.push(b);
                } else {
                    self.store(b);
                }
            }
            Commit::Reverse(receipt) => {
                if let Some(i) = self.reversible(receipt) {
                    self.batch[i].reversed = true;
                }
                out.push(Action::Note(format!("reversed receipt {receipt}")));
            }
            Commit::BookPreAuth { receipt, booking } => {
                self.take_pre_auth(receipt);
                out.push(Action::Note(format!(
                    "booked pre-authorisation {receipt}: {} cents",
                    booking.amount
                )));
                self.store(booking);
            }
            Commit::ReleasePreAuth(receipt) => {
                self.take_pre_auth(receipt);
                out.push(Action::Note(format!("released pre-authorisation {receipt}")));
            }
            Commit::ClearBatch => {
                self.batch.clear();
                self.forgotten = BatchSummary::default();
                out.push(Action::Note("end-of-day: batch cleared".into()));
            }
        }
    }

    /// A commit the ECR never acknowledged: what the host booked for it is given back (a PAYBACK
    /// redemption is reversed at PAYBACK; card payments need nothing, the host is simulated).
    fn undo(&mut self, commit: &Commit) -> Vec<Action> {
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

    /// A card of the data set of this kind (the original card of a reversal or a booking).
    fn card_of_kind(&self, kind: CardKind) -> Card {
        self.config
            .cards
            .iter()
            .find(|c| c.kind == kind)
            .cloned()
            .unwrap_or_else(|| TerminalConfig::default().cards[0].clone())
    }
}

//! The running transaction and connection arbitration.
//!
//! One transaction at a time, as on a real terminal: the connection whose command started it
//! owns the terminal until it ends. A command from another connection meanwhile gets `84 83 00`
//! — except Abort 06 B0, which ends a transaction waiting for the customer from any connection
//! (`possim zvt abort` in a second shell): its `80 00 00` goes to the aborting connection, the
//! `06 1E 6C` to the owner. Timer expiries and a lost link matter only for the owner. Every
//! output names the connection it is for; the link loops only route.

use std::collections::VecDeque;

use possim_engine::clock::Millis;
use possim_zvt::messages::cmd;
use possim_zvt::{Apdu, ControlField, Message, MessageError};

use super::{Action, Commit, ConnectionId, Output, Step, Terminal, ack, nack, rc};

/// What the running command waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Waiting {
    /// Nothing: the next step may run.
    Nothing,
    /// The ECR's acknowledgement of the message with this control field; it commits `commit`.
    Ack { commit: Option<Commit>, sent: ControlField },
    /// A simulated delay (the timer).
    Pause,
    /// The customer (or the operator playing them): a card, a PIN.
    Customer,
}

/// The running transaction: the PT is master.
#[derive(Debug)]
pub(super) struct Session {
    /// The connection whose command started it.
    owner: ConnectionId,
    pub(super) steps: VecDeque<Step>,
    waiting: Waiting,
    /// 06 B0 may still end it (until the host has been asked).
    pub(super) abortable: bool,
    /// A PAYBACK redemption booked at the host but not yet committed by the ECR's
    /// acknowledgement of its Status-Information: from the moment PAYBACK books it (before the
    /// 04 FF 0B "remove card" and the 04 0F) until that commit is applied. Whatever ends the
    /// session before — the link gone, a time-out, a negative acknowledgement — reverses it.
    pub(super) unconfirmed: Option<Commit>,
}

impl Session {
    /// A session that works through `steps`; its owner is set by [`Terminal::on_apdu`].
    pub(super) fn new(steps: Vec<Step>, abortable: bool) -> Self {
        Session {
            owner: ConnectionId::default(),
            steps: steps.into(),
            waiting: Waiting::Nothing,
            abortable,
            unconfirmed: None,
        }
    }

    pub(super) fn await_ack(&mut self, commit: Option<Commit>, sent: ControlField) {
        self.waiting = Waiting::Ack { commit, sent };
    }

    pub(super) fn await_pause(&mut self) {
        self.waiting = Waiting::Pause;
    }

    pub(super) fn await_customer(&mut self) {
        self.waiting = Waiting::Customer;
    }

    /// The awaited answer came and was dealt with: the next step may run.
    pub(super) fn answered(&mut self) {
        self.waiting = Waiting::Nothing;
    }

    /// The customer is expected now (a card, a PIN): the operator may act.
    pub(super) fn waits_for_customer(&self) -> bool {
        self.waiting == Waiting::Customer
    }

    /// The operator acted: these steps follow.
    pub(super) fn resume_with(&mut self, steps: Vec<Step>) {
        self.steps = steps.into();
        self.waiting = Waiting::Nothing;
    }

    /// What ending this session now leaves to reverse: the commit waiting for the ECR's
    /// acknowledgement and a booked, uncommitted PAYBACK redemption (each once).
    fn uncommitted(&self) -> Vec<Commit> {
        let mut commits = Vec::new();
        if let Waiting::Ack { commit: Some(c), .. } = &self.waiting {
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

/// Addresses every action to one connection.
fn to(connection: ConnectionId, actions: Vec<Action>) -> Vec<Output> {
    actions
        .into_iter()
        .map(|action| Output { connection, action })
        .collect()
}

impl Terminal {
    /// The connection that owns the running transaction.
    pub fn owner(&self) -> Option<ConnectionId> {
        self.session.as_ref().map(|s| s.owner)
    }

    /// Handles one APDU from the ECR on connection `from`.
    pub fn on_apdu(&mut self, from: ConnectionId, bytes: &[u8], now: Millis) -> Vec<Output> {
        let mut out = self.on_apdu_now(from, bytes, now);
        out.extend(self.run_held(now));
        out
    }

    /// A command held back (see [`Terminal::on_apdu_of_another_connection`]) runs once the
    /// owner's transaction is over.
    fn run_held(&mut self, now: Millis) -> Vec<Output> {
        if self.session.is_some() {
            return Vec::new();
        }
        let Some((from, bytes, _)) = self.held.take() else {
            return Vec::new();
        };
        let mut out = to(
            from,
            vec![Action::Note(
                "the other ECR's transaction ended: running the held command".into(),
            )],
        );
        out.extend(self.on_apdu(from, &bytes, now));
        out
    }

    fn on_apdu_now(&mut self, from: ConnectionId, bytes: &[u8], now: Millis) -> Vec<Output> {
        match self.owner() {
            Some(owner) if owner != from => self.on_apdu_of_another_connection(from, owner, bytes, now),
            Some(owner) => to(owner, self.while_master(bytes, from, now)),
            // An acknowledgement is no command: one arriving while idle is a late one (the
            // ECR's 80 00 00 to a message the terminal already took an earlier one for, as
            // after an abort that crossed an intermediate status). Answering it 84 83 00 would
            // put that refusal in front of the ECR's next command.
            None if matches!(bytes.first(), Some(0x80 | 0x84)) => vec![Output {
                connection: from,
                action: Action::Note("late acknowledgement while idle: nothing to answer".into()),
            }],
            None => {
                let actions = self.on_idle_apdu(bytes, now);
                if let Some(session) = self.session.as_mut() {
                    session.owner = from;
                }
                to(from, actions)
            }
        }
    }

    /// The timer of connection `connection` fired. Only the owner's timer means anything.
    pub fn on_timer(&mut self, connection: ConnectionId, now: Millis) -> Vec<Output> {
        let mut out = self.on_timer_now(connection, now);
        out.extend(self.run_held(now));
        out
    }

    fn on_timer_now(&mut self, connection: ConnectionId, now: Millis) -> Vec<Output> {
        // The approving Status-Information of an issue of goods unanswered within <timeout>.
        let awaited_status = match self
            .session
            .as_ref()
            .filter(|s| s.owner == connection)
            .map(|s| &s.waiting)
        {
            Some(Waiting::Ack { commit, sent }) if *sent == cmd::STATUS_INFORMATION => Some(commit.clone()),
            _ => None,
        };
        if let Some(commit) = awaited_status
            && let Some(actions) = self.goods_silence(commit.as_ref(), now)
        {
            return to(connection, actions);
        }
        let Some(session) = self.session.as_mut().filter(|s| s.owner == connection) else {
            return Vec::new();
        };
        let actions = match session.waiting.clone() {
            Waiting::Ack { .. } => {
                let uncommitted = session.uncommitted();
                self.session = None;
                let what = if uncommitted.is_empty() {
                    "transaction ended: the ECR did not acknowledge"
                } else {
                    "automatic reversal: no acknowledgement of the status information"
                };
                let mut out = vec![Action::Note(what.into())];
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
                self.abort_running(rc::ABORTED);
                let mut out = vec![Action::Note("customer time-out".into())];
                out.extend(self.advance(now));
                out
            }
            Waiting::Nothing => self.advance(now),
        };
        to(connection, actions)
    }

    /// Connection `connection` is gone: its running transaction is abandoned. A payment whose
    /// Status-Information was not acknowledged is not stored (automatic reversal).
    pub fn disconnected(&mut self, connection: ConnectionId) -> Vec<Output> {
        if self.held.as_ref().is_some_and(|(held, ..)| *held == connection) {
            self.held = None;
        }
        if self.owner() != Some(connection) {
            return Vec::new();
        }
        let mut own = Vec::new();
        if let Some(session) = self.session.take() {
            let uncommitted = session.uncommitted();
            if uncommitted.is_empty() {
                own.push(Action::Note("transaction abandoned: the ECR left".into()));
            } else {
                own.push(Action::Note(
                    "automatic reversal: the ECR left before acknowledging the status information".into(),
                ));
                for commit in &uncommitted {
                    own.extend(self.undo(commit));
                }
            }
            own.push(Action::Disarm);
        }
        let mut out = to(connection, own);
        // No engine time comes with a lost link: a held command runs at the time it arrived.
        let held_at = self.held.as_ref().map(|(_, _, at)| *at);
        if let Some(at) = held_at {
            out.extend(self.run_held(at));
        }
        out
    }

    /// A second ECR while another's transaction runs: only its Abort 06 B0 gets through.
    fn on_apdu_of_another_connection(
        &mut self,
        from: ConnectionId,
        owner: ConnectionId,
        bytes: &[u8],
        now: Millis,
    ) -> Vec<Output> {
        if !matches!(bytes, [class, instr, ..] if ControlField::new(*class, *instr) == cmd::ABORT_ECR) {
            // The owner's transaction is over but for the acknowledgement of its last message,
            // which may already be on its way on the other link (read by another task, in either
            // order): hold this command until the transaction ends instead of refusing it.
            let finishing = self.session.as_ref().is_some_and(|s| {
                s.steps.is_empty()
                    && matches!(s.waiting, Waiting::Ack { sent, .. } if sent == cmd::COMPLETION || sent == cmd::ABORT_PT)
            });
            if finishing && self.held.is_none() {
                self.held = Some((from, bytes.to_vec(), now));
                return to(
                    from,
                    vec![Action::Note(
                        "held: another ECR's transaction waits for its last acknowledgement".into(),
                    )],
                );
            }
            return to(
                from,
                vec![
                    Action::Note("refused: another ECR's transaction is running".into()),
                    Action::Send(nack(rc::NOT_POSSIBLE)),
                ],
            );
        }
        let Some(apdu) = complete_apdu(bytes) else {
            return to(from, vec![Action::Send(nack(rc::PROTOCOL_ERROR))]);
        };
        if self.session.as_ref().is_some_and(|s| s.abortable) {
            return self.ecr_abort(from, owner, now);
        }
        to(from, refused_while_master(&apdu))
    }

    /// An APDU from the owner while the PT is master: an acknowledgement, or an abort.
    fn while_master(&mut self, bytes: &[u8], owner: ConnectionId, now: Millis) -> Vec<Action> {
        let Some(apdu) = complete_apdu(bytes) else {
            return vec![Action::Send(nack(rc::PROTOCOL_ERROR))];
        };
        // An answer to a Status-Information may belong to an issue of goods.
        let awaited_status = match self.session.as_ref().map(|s| &s.waiting) {
            Some(Waiting::Ack { commit, sent })
                if *sent == cmd::STATUS_INFORMATION && matches!(apdu.class(), 0x80 | 0x84) =>
            {
                Some(commit.clone())
            }
            _ => None,
        };
        if let Some(commit) = awaited_status
            && let Some(actions) = self.goods_answer(&apdu, commit.as_ref(), now)
        {
            return actions;
        }
        let Some(session) = self.session.as_mut() else {
            return Vec::new();
        };
        let class = apdu.class();
        match (&session.waiting, class) {
            (Waiting::Ack { commit, sent }, 0x80 | 0x84) => {
                let positive = class == 0x80 || apdu.instr() == 0x00;
                let commit = commit.clone();
                let was_status = *sent == cmd::STATUS_INFORMATION;
                let uncommitted = session.uncommitted();
                session.waiting = Waiting::Nothing;
                let mut out = vec![Action::Disarm];
                match (commit, positive) {
                    (Some(c), true) => {
                        if session.unconfirmed.as_ref() == Some(&c) {
                            session.unconfirmed = None;
                        }
                        self.apply(c, &mut out);
                    }
                    (_, false) if was_status => {
                        // The ECR refused the result (issue of goods failed): the PT reverses.
                        out.push(Action::Note(format!(
                            "automatic reversal: the ECR answered the status information with 84 {:02X}",
                            apdu.instr()
                        )));
                        session.unconfirmed = None;
                        for c in &uncommitted {
                            out.extend(self.undo(c));
                        }
                        self.abort_running(rc::ABORTED);
                    }
                    _ => {}
                }
                out.extend(self.advance(now));
                out
            }
            _ if apdu.control() == cmd::ABORT_ECR && session.abortable => self
                .ecr_abort(owner, owner, now)
                .into_iter()
                .map(|o| o.action)
                .collect(),
            _ => refused_while_master(&apdu),
        }
    }

    /// Abort 06 B0 from connection `from` ends the transaction of `owner` (possibly the same):
    /// `80 00 00` for the 06 B0 to `from`, then 06 1E 6C ends the running command at the owner;
    /// an acknowledgement of an intermediate status still in flight is taken for it.
    fn ecr_abort(&mut self, from: ConnectionId, owner: ConnectionId, now: Millis) -> Vec<Output> {
        if let Some(session) = self.session.as_mut() {
            session.waiting = Waiting::Nothing;
        }
        self.abort_running(rc::ABORTED);
        let mut out = vec![
            Output {
                connection: from,
                action: Action::Note("aborted by the ECR (06 B0)".into()),
            },
            Output {
                connection: owner,
                action: Action::Disarm,
            },
            Output {
                connection: from,
                action: Action::Send(ack()),
            },
        ];
        out.extend(to(owner, self.advance(now)));
        out
    }

    /// An APDU while the terminal is idle: decoded as the configured mode allows, then to the
    /// command's room.
    fn on_idle_apdu(&mut self, bytes: &[u8], now: Millis) -> Vec<Action> {
        let Some(apdu) = complete_apdu(bytes) else {
            return vec![Action::Send(nack(rc::PROTOCOL_ERROR))];
        };
        // A command the quirk profile does not support is refused on its control field alone:
        // the terminal it copies never reads the fields of a command it lacks, so a malformed
        // one gets the same "not supported" as a well-formed one.
        let control = apdu.control();
        if self.quirks().refuses(control.class, control.instr) {
            return super::refused(format!(
                "profile {}: {control} answered as not supported",
                self.config.terminal.profile.name()
            ));
        }
        let mode = match self.config.mode {
            crate::config::Mode::Lenient => possim_zvt::DecodeMode::Lenient,
            crate::config::Mode::Strict => possim_zvt::DecodeMode::Strict,
        };
        let options = possim_zvt::DecodeOptions { mode, reply_to: None };
        let (message, deviations) = match Message::from_apdu_with(&apdu, options) {
            Ok(decoded) => decoded,
            Err(e) => return refused_undecodable(&apdu, mode, e),
        };
        let mut out: Vec<Action> = deviations
            .iter()
            .map(|d| Action::Note(format!("finding (lenient, accepted): {d}")))
            .collect();
        out.extend(self.on_command(message, now));
        out
    }
}

/// The APDU `bytes` hold, or none when its length field does not match them (a serial frame
/// with a lying length arrives here whole): both are protocol errors.
fn complete_apdu(bytes: &[u8]) -> Option<Apdu> {
    Apdu::decode_exact(bytes).ok()
}

fn refused_while_master(apdu: &Apdu) -> Vec<Action> {
    vec![
        Action::Note(format!(
            "refused {:02X} {:02X} while the PT is master",
            apdu.class(),
            apdu.instr()
        )),
        Action::Send(nack(rc::NOT_POSSIBLE)),
    ]
}

/// The answer to a command that does not decode: a known deviation refused in strict mode and
/// a malformed APDU (a field cut short included) are protocol errors (`84 9A`); only a BMP the
/// terminal does not know is `84 83`, a command it cannot perform.
fn refused_undecodable(apdu: &Apdu, mode: possim_zvt::DecodeMode, e: MessageError) -> Vec<Action> {
    // In strict mode a known deviation fails here; say so, so the finding is visible.
    let strict_finding = mode == possim_zvt::DecodeMode::Strict
        && Message::from_apdu_with(
            apdu,
            possim_zvt::DecodeOptions {
                mode: possim_zvt::DecodeMode::Lenient,
                reply_to: None,
            },
        )
        .is_ok();
    if strict_finding {
        return vec![
            Action::Note(format!("finding (strict, refused): {e}")),
            Action::Send(nack(rc::PROTOCOL_ERROR)),
        ];
    }
    if let MessageError::Bmp(possim_zvt::bmp::BmpError::UnknownBmp { .. }) = e {
        return super::refused(format!("refused: {e}"));
    }
    vec![
        Action::Note(format!("refused: {e}")),
        Action::Send(nack(rc::PROTOCOL_ERROR)),
    ]
}

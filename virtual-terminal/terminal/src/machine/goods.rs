//! Unattended issue of goods (vending machines, fuel, parcel lockers; PA00P015 §2.2.1 and
//! §2.2.6): after the approving Status-Information of an Authorisation 06 01 the ECR issues the
//! goods and only then answers.
//!
//! - `80 00 00` / `84 00 00`: goods issued, the payment is stored as usual.
//! - `84 9C 00`: not yet; the terminal sends the same Status-Information again after 2 s (on the
//!   machine's timer). More than `<max. status-infos>` (BMP 02, default unlimited) such answers:
//!   the terminal reverses the payment and then sends `04 0F 02 27 6C`.
//! - `84 9D 07 04 <amount>`: partial issue; the issued amount is booked, the difference reversed,
//!   and a second Status-Information reports the new amount. The total is never auto-reversed
//!   afterwards (the spec's caution in §2.2.6).
//! - `84 yy …` (yy not 00, 9C, 9D): goods not issued, the terminal reverses the payment.
//! - no answer within `<timeout>` (BMP 01 seconds, default 30 s): the terminal reverses.
//!
//! Every reversal here is real: the payment enters the batch marked reversed (so totals leave
//! it out and reprints say so) and a reversal receipt is printed; the command ends with
//! `06 1E 6C`.
//!
//! [ours] The terminal cannot know an ECR is a vending machine unless it says so. It counts as
//! one when its Authorisation carried BMP 01 or 02, or once it answered `84 9C` or `84 9D`.
//! Until then the first answer is awaited for T3 like every acknowledgement, and a negative
//! answer or none keeps the §2.2.8 meaning (the payment is never stored), as for an attended ECR.

use possim_engine::clock::Millis;
use possim_zvt::messages::StatusInformation;
use possim_zvt::{Apdu, encoding};

use super::receipts::{Slip, status_apdu, title};
use super::{Action, Booking, Commit, Step, Terminal, abort_message, completion, rc};
use crate::config::Card;

/// The spec's wait between a `84 9C` and the repeated Status-Information.
const REPEAT_AFTER_MS: u64 = 2_000;
/// The spec's default `<timeout>` for the ECR's answer during issue of goods.
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Where the issue of goods of the running Authorisation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The approving Status-Information awaits the ECR's answer.
    Pending,
    /// A partial issue was booked; the Status-Information with the new amount is out.
    PartialReported,
    /// Nothing more to decide.
    Done,
}

/// The issue-of-goods parameters and progress of the running Authorisation.
#[derive(Debug, Clone)]
pub(super) struct IssueOfGoods {
    /// BMP 01: seconds the terminal waits for the ECR's answer.
    timeout_s: Option<u8>,
    /// BMP 02: how many `84 9C` answers the ECR may give.
    max_status_infos: Option<u8>,
    /// `84 9C` answers so far.
    not_yet: u32,
    /// The ECR showed it is a vending machine (BMP 01/02, or a `84 9C`/`84 9D`).
    declared: bool,
    phase: Phase,
    /// The card of the payment (for the reversal's and the partial issue's receipts).
    card: Option<Card>,
}

/// Why the payment is reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    NotIssued(u8),
    LimitExceeded(u8),
    Silent(u64),
}

impl IssueOfGoods {
    /// The parameters of an Authorisation 06 01.
    pub(super) fn new(timeout_s: Option<u8>, max_status_infos: Option<u8>) -> Self {
        Self {
            timeout_s,
            max_status_infos,
            not_yet: 0,
            declared: timeout_s.is_some() || max_status_infos.is_some(),
            phase: Phase::Pending,
            card: None,
        }
    }

    /// How long the terminal waits for the answer to a Status-Information it sends now.
    pub(super) fn answer_wait_ms(&self, t3_ms: u64) -> u64 {
        if self.phase != Phase::Pending {
            return t3_ms;
        }
        match self.timeout_s {
            // A zero timeout would give the machine no time at all: read as "not given".
            Some(s) if s > 0 => u64::from(s) * 1000,
            _ if self.declared => DEFAULT_TIMEOUT_MS,
            _ => t3_ms,
        }
    }

    pub(super) fn remember_card(&mut self, card: &Card) {
        self.card = Some(card.clone());
    }
}

/// `84 9D 07 04 <amount>`: the issued amount in cents.
fn issued_amount(apdu: &Apdu) -> Option<u64> {
    match apdu.data() {
        [0x04, bcd @ ..] if bcd.len() == 6 => encoding::bcd_decode(bcd).ok(),
        _ => None,
    }
}

fn euros(cents: u64) -> String {
    format!("EUR {}.{:02}", cents / 100, cents % 100)
}

impl Terminal {
    /// The ECR's answer to a Status-Information while an issue of goods may be running; `commit`
    /// is what its acknowledgement would commit. `None`: not an issue-of-goods answer, the
    /// session handles it as every acknowledgement.
    pub(super) fn goods_answer(&mut self, apdu: &Apdu, commit: Option<&Commit>, now: Millis) -> Option<Vec<Action>> {
        let goods = self.goods.as_mut()?;
        let positive = apdu.class() == 0x80 || apdu.instr() == 0x00;
        match (goods.phase, commit) {
            (Phase::Pending, Some(Commit::Store(booking))) => {
                let booking = booking.clone();
                if positive {
                    goods.phase = Phase::Done;
                    return None;
                }
                match apdu.instr() {
                    0x9C => {
                        goods.declared = true;
                        goods.not_yet += 1;
                        let n = goods.not_yet;
                        if let Some(max) = goods.max_status_infos
                            && n > u32::from(max)
                        {
                            goods.phase = Phase::Done;
                            return Some(self.goods_reversal(booking, Reason::LimitExceeded(max), now));
                        }
                        Some(self.repeat_status(booking, n, now))
                    }
                    0x9D => {
                        goods.declared = true;
                        Some(self.partial_issue(booking, apdu, now))
                    }
                    code if goods.declared => {
                        goods.phase = Phase::Done;
                        Some(self.goods_reversal(booking, Reason::NotIssued(code), now))
                    }
                    _ => None,
                }
            }
            (Phase::PartialReported, None) => {
                goods.phase = Phase::Done;
                if positive {
                    return None;
                }
                // The partial booking stands: an auto-reversal of the total is what the spec
                // forbids after a partial issue.
                let mut out = vec![
                    Action::Disarm,
                    Action::Note(format!(
                        "the ECR answered the status information of the partial issue with 84 {:02X}; the partial booking stands",
                        apdu.instr()
                    )),
                ];
                if let Some(session) = self.session.as_mut() {
                    session.answered();
                }
                out.extend(self.advance(now));
                Some(out)
            }
            _ => None,
        }
    }

    /// No answer to the approving Status-Information within `<timeout>`: the terminal reverses
    /// (only for a declared vending machine; `None` otherwise).
    pub(super) fn goods_silence(&mut self, commit: Option<&Commit>, now: Millis) -> Option<Vec<Action>> {
        let goods = self
            .goods
            .as_mut()
            .filter(|g| g.declared && g.phase == Phase::Pending)?;
        let Some(Commit::Store(booking)) = commit else {
            return None;
        };
        let waited = goods.answer_wait_ms(self.config.ack_timeout_ms);
        goods.phase = Phase::Done;
        Some(self.goods_reversal(booking.clone(), Reason::Silent(waited), now))
    }

    /// `84 9C`: the same Status-Information again after 2 s; its answer commits the payment.
    fn repeat_status(&mut self, booking: Booking, n: u32, now: Millis) -> Vec<Action> {
        let mut out = vec![
            Action::Disarm,
            Action::Note(format!(
                "issue of goods not finished (84 9C, {n}): the status information again in 2 s"
            )),
        ];
        if let (Some(session), Some(status)) = (self.session.as_mut(), self.last_status.clone()) {
            session.answered();
            session.steps.push_front(Step::Send {
                apdu: status,
                commit: Some(Commit::Store(booking)),
            });
            session.steps.push_front(Step::Pause(REPEAT_AFTER_MS));
        }
        out.extend(self.advance(now));
        out
    }

    /// `84 9D 07 04 <amount>`: the issued amount is booked at once (the ECR's answer is its
    /// acknowledgement), the difference reversed; a Status-Information reports the new amount,
    /// its receipt follows, then Completion.
    fn partial_issue(&mut self, booking: Booking, apdu: &Apdu, now: Millis) -> Vec<Action> {
        let requested = booking.amount;
        let issued = match issued_amount(apdu) {
            Some(0) | None => {
                if let Some(g) = self.goods.as_mut() {
                    g.phase = Phase::Done;
                }
                return self.goods_reversal(booking, Reason::NotIssued(apdu.instr()), now);
            }
            Some(cents) => cents,
        };
        if issued >= requested {
            // Everything (or more than authorised) issued: the authorised amount is booked.
            let mut out = vec![
                Action::Disarm,
                Action::Note(format!(
                    "84 9D with {issued} cents, not less than the {requested} cents authorised: booked as a full issue"
                )),
            ];
            if let Some(g) = self.goods.as_mut() {
                g.phase = Phase::Done;
            }
            self.apply(Commit::Store(booking), &mut out);
            if let Some(session) = self.session.as_mut() {
                session.answered();
            }
            out.extend(self.advance(now));
            return out;
        }
        let card = self.goods_card(&booking);
        if let Some(g) = self.goods.as_mut() {
            g.phase = Phase::PartialReported;
        }
        let difference = requested - issued;
        let mut out = vec![
            Action::Disarm,
            Action::Note(format!(
                "partial issue of goods: {issued} of {requested} cents issued; the difference of {difference} cents reversed"
            )),
        ];
        let partial = Booking {
            amount: issued,
            ..booking.clone()
        };
        self.apply(Commit::Store(partial), &mut out);
        let status = self.status_information(0x00, issued, booking.trace, booking.receipt, &card, now);
        let mut steps = vec![Step::send(status_apdu(status))];
        steps.extend(self.receipt_lines(Slip {
            title: title(booking.kind),
            amount: issued,
            receipt: booking.receipt,
            trace: booking.trace,
            approved: true,
            extra: vec![
                format!("Angefordert {}", euros(requested)),
                format!("Teilstorno {}", euros(difference)),
            ],
            card: &card,
            at: now,
        }));
        steps.push(Step::send(completion()));
        if let Some(session) = self.session.as_mut() {
            session.answered();
            session.steps = steps.into();
        }
        out.extend(self.advance(now));
        out
    }

    /// The payment is reversed: it enters the batch marked reversed, the limit case sends
    /// `04 0F 02 27 6C`, the reversal receipt is printed, `06 1E 6C` ends the command.
    fn goods_reversal(&mut self, booking: Booking, reason: Reason, now: Millis) -> Vec<Action> {
        let why = match reason {
            Reason::NotIssued(code) => format!("goods not issued (84 {code:02X})"),
            Reason::LimitExceeded(max) => format!("more than {max} times 84 9C (max. status-infos)"),
            Reason::Silent(ms) => format!("no answer within {ms} ms during issue of goods"),
        };
        let card = self.goods_card(&booking);
        let receipt = booking.receipt;
        let amount = booking.amount;
        let mut out = vec![Action::Disarm, Action::Note(format!("reversal: {why}"))];
        self.apply(Commit::Store(booking), &mut out);
        self.apply(Commit::Reverse(receipt), &mut out);
        let (_, trace) = self.take_receipt();
        let mut steps = Vec::new();
        if matches!(reason, Reason::LimitExceeded(_)) {
            steps.push(Step::send(status_apdu(StatusInformation {
                result_code: Some(rc::ABORTED),
                ..StatusInformation::default()
            })));
        }
        steps.extend(self.receipt_lines(Slip {
            title: "Storno",
            amount,
            receipt,
            trace,
            approved: true,
            extra: vec!["Ware nicht ausgegeben".into()],
            card: &card,
            at: now,
        }));
        steps.push(Step::send(abort_message(rc::ABORTED)));
        if let Some(session) = self.session.as_mut() {
            session.answered();
            session.abortable = false;
            session.steps = steps.into();
        }
        out.extend(self.advance(now));
        out
    }

    fn goods_card(&self, booking: &Booking) -> Card {
        self.goods
            .as_ref()
            .and_then(|g| g.card.clone())
            .unwrap_or_else(|| self.card_of_kind(booking.card))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_wait_follows_bmp_01_then_the_spec_default_then_t3() {
        assert_eq!(IssueOfGoods::new(Some(10), None).answer_wait_ms(5_000), 10_000);
        assert_eq!(IssueOfGoods::new(None, Some(3)).answer_wait_ms(5_000), 30_000);
        assert_eq!(IssueOfGoods::new(Some(0), Some(3)).answer_wait_ms(5_000), 30_000);
        assert_eq!(IssueOfGoods::new(None, None).answer_wait_ms(5_000), 5_000);
    }

    #[test]
    fn a_partial_issue_carries_bmp_04_with_six_bcd_bytes() {
        let apdu = Apdu::new(0x84, 0x9D, vec![0x04, 0, 0, 0, 0, 0x08, 0x00]).expect("apdu");
        assert_eq!(issued_amount(&apdu), Some(800));
        let short = Apdu::new(0x84, 0x9D, vec![0x04, 0x08, 0x00]).expect("apdu");
        assert_eq!(issued_amount(&short), None);
    }
}

//! Card transactions: Authorisation 06 01, Pre-Authorisation 06 22, Refund 06 31, Reversal
//! 06 30 and Read Card 06 C0; the customer in front of the terminal (scripted, or the operator
//! at the console) and the 1F1F resynchronisation (PA00P015 §4.2).

use possim_engine::clock::Millis;
use possim_zvt::TlvContainer;
use possim_zvt::bmp::ReceiptNo;
use possim_zvt::messages::{Abort, Authorisation, PreAuthorisation, Refund, Reversal, StatusInformation};
use possim_zvt::{Digits, Message};

use super::goods::IssueOfGoods;
use super::receipts::{End, Slip, mask_pan, title};
use super::{
    Action, Booking, BookingKind, Commit, ConnectionId, Output, Step, Terminal, abort_message, encode, expiry,
    push_status, rc, refused, status,
};
use crate::config::{Card, CardKind, TerminalConfig};
use crate::customer::{CustomerScript, OperatorEvent, Outcome};

/// A transaction the operator is playing the customer in.
#[derive(Debug, Clone)]
pub(super) struct OperatorTurn {
    pub(super) kind: BookingKind,
    pub(super) amount: u64,
    pub(super) card: Option<Card>,
    wrong: u8,
    /// PAYBACK redemption: the ECR sent a TLV container.
    pub(super) tlv: bool,
}

impl OperatorTurn {
    /// The operator's PAYBACK redemption of a basket, before the card.
    pub(super) fn payback(basket: u64, tlv: bool) -> Self {
        Self {
            kind: BookingKind::PaybackRedemption,
            amount: basket,
            card: None,
            wrong: 0,
            tlv,
        }
    }
}

impl Terminal {
    /// What the operator did at the PIN pad, while a transaction waits for them. The outputs
    /// are for the connection that owns the transaction.
    pub fn operator_event(&mut self, event: OperatorEvent, now: Millis) -> Result<Vec<Output>, String> {
        let (waiting, owner) = match &self.session {
            Some(s) => (s.waits_for_customer(), self.owner().unwrap_or_default()),
            None => (false, ConnectionId::default()),
        };
        let Some(mut turn) = self.operator.take_if(|_| waiting) else {
            return Err("no transaction is waiting for the customer".into());
        };
        if turn.kind == BookingKind::PaybackRedemption {
            let (mut out, steps) = self.operator_payback(turn, event)?;
            if let Some(session) = self.session.as_mut() {
                session.resume_with(steps);
            }
            out.extend(self.advance(now));
            return Ok(out
                .into_iter()
                .map(|action| Output {
                    connection: owner,
                    action,
                })
                .collect());
        }
        let show = self.intermediate_wanted();
        let status = |steps: &mut Vec<Step>, code: u8| push_status(steps, show, code);
        let mut steps = Vec::new();
        let mut out = vec![Action::Disarm];
        match (event, turn.card.clone()) {
            (OperatorEvent::Abort, _) => {
                out.push(Action::Note("the customer pressed abort".into()));
                steps.push(Step::send(abort_message(rc::ABORTED)));
            }
            (OperatorEvent::Insert(name), None) => {
                let Some(card) = self.config.card(&name).cloned() else {
                    let names: Vec<&str> = self.config.cards.iter().map(|c| c.name.as_str()).collect();
                    self.operator = Some(turn);
                    return Err(format!("no card {name:?} (cards: {})", names.join(", ")));
                };
                out.push(Action::Note(format!("the customer inserted {name}")));
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
                out.push(Action::Note("the customer typed the right PIN".into()));
                steps.extend(self.after_pin(turn.kind, turn.amount, &card, false, Outcome::Approve, now));
            }
            (OperatorEvent::Pin(_), Some(card)) => {
                turn.wrong += 1;
                out.push(Action::Note(format!("the customer typed a wrong PIN ({})", turn.wrong)));
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
            session.resume_with(steps);
        }
        out.extend(self.advance(now));
        Ok(out
            .into_iter()
            .map(|action| Output {
                connection: owner,
                action,
            })
            .collect())
    }

    /// The customer of this transaction: the scripted one, the operator, or the data set's
    /// default; and the card they present.
    pub(super) fn customer(&mut self) -> (CustomerScript, Card) {
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

    /// Authorisation 06 01: a card payment, or a PAYBACK redemption.
    pub(super) fn authorisation(&mut self, a: Authorisation, now: Millis) -> Vec<Action> {
        let mut out = self.synchronise(a.tlv.as_ref());
        let Some(amount) = a.amount else {
            return refused("no amount: amount entry on the PT is not simulated");
        };
        if let Some(cc) = a.currency
            && cc != u32::from(self.config.currency)
        {
            let wrong_currency = encode(&Message::Abort(Abort {
                result_code: rc::WRONG_CURRENCY,
                currency: Some(self.config.currency),
                ..Abort::default()
            }));
            return self.start(vec![Step::send(wrong_currency)], false, now);
        }
        if self.is_payback(&a) {
            out.extend(self.payback_redemption(amount.0, a.tlv.is_some(), now));
            return out;
        }
        self.goods = Some(IssueOfGoods::new(a.timeout, a.max_status_infos));
        out.extend(self.card_transaction(BookingKind::Payment, amount.0, now));
        out
    }

    /// Pre-Authorisation 06 22.
    pub(super) fn pre_authorisation(&mut self, p: PreAuthorisation, now: Millis) -> Vec<Action> {
        let mut out = self.synchronise(p.tlv.as_ref());
        let Some(amount) = p.amount else {
            return refused("no amount");
        };
        if let Some(refusal) = self.payback_outside_authorisation("Pre-Authorisation", p.card_type, p.tlv.as_ref(), now)
        {
            out.extend(refusal);
            return out;
        }
        out.extend(self.card_transaction(BookingKind::PreAuthorisation, amount.0, now));
        out
    }

    /// Refund 06 31.
    pub(super) fn refund(&mut self, r: Refund, now: Millis) -> Vec<Action> {
        if !self.password_ok(r.password.0) {
            return refused("wrong password");
        }
        if let Some(credit) = self.payback_credit(r.amount.map(|a| a.0), r.tlv.as_ref(), now) {
            return credit;
        }
        let Some(amount) = r.amount else {
            return refused("no amount");
        };
        if let Some(refusal) = self.payback_outside_authorisation("Refund", r.card_type, r.tlv.as_ref(), now) {
            return refusal;
        }
        self.card_transaction(BookingKind::Refund, amount.0, now)
    }

    fn card_transaction(&mut self, kind: BookingKind, amount: u64, now: Millis) -> Vec<Action> {
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
                tlv: false,
            });
            steps.push(Step::WaitForCard);
            let mut out = vec![Action::Note("waiting for the operator to insert a card".into())];
            out.extend(self.start(steps, true, now));
            return out;
        }
        steps.push(Step::Pause(delays.card_ms));
        if script.outcome == Outcome::CardUnreadable {
            status(&mut steps, status::CARD_NOT_READABLE);
            steps.push(Step::send(abort_message(rc::CARD_NOT_READABLE)));
            return self.start(steps, true, now);
        }
        // PIN entry (girocard and Maestro always; credit cards too in this simulation).
        let tries = self.config.pin_tries.max(1);
        let wrong = script.wrong_pins.min(tries);
        let blocked = wrong >= tries;
        // Each wrong PIN is followed by the next prompt, unless it was the last try.
        let prompts = if blocked { wrong } else { wrong + 1 };
        for attempt in 0..prompts {
            status(&mut steps, status::PIN_ENTRY);
            steps.push(Step::Pause(delays.pin_ms));
            if script.outcome == Outcome::CustomerAbort {
                steps.push(Step::send(abort_message(rc::ABORTED)));
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
        steps.extend(self.after_pin(kind, amount, &card, blocked, script.outcome, now));
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
        let (receipt, trace) = self.take_receipt();
        if let Some(goods) = self.goods.as_mut() {
            goods.remember_card(card);
        }
        if pin_blocked {
            status(&mut steps, status::PIN_TRY_LIMIT);
            steps.push(Step::PointOfNoReturn);
            let result = self.status_information(rc::PIN_TRIES_EXCEEDED, amount, trace, receipt, card, now);
            steps.extend(self.transaction_end(result, None, None, End::Abort(rc::PIN_TRIES_EXCEEDED)));
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
        let approved = match (decline, outcome) {
            (Some(_), _) => amount,
            (None, Outcome::PartialApproval { cents }) => cents.min(amount),
            (None, _) => amount,
        };
        let slip = Slip {
            title: title(kind),
            amount: approved,
            receipt,
            trace,
            approved: decline.is_none(),
            extra: self.signature_lines(card),
            card,
            at: now,
        };
        if let Some(code) = decline {
            status(&mut steps, status::DECLINED);
            status(&mut steps, status::REMOVE_CARD);
            let result = self.status_information(code, amount, trace, receipt, card, now);
            steps.extend(self.transaction_end(result, None, Some(slip), End::Abort(code)));
            return steps;
        }
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
        let result = self.status_information(0x00, approved, trace, receipt, card, now);
        steps.extend(self.transaction_end(result, Some(Commit::Store(booking)), Some(slip), End::Completion));
        steps
    }

    /// TLV 1F1F in a transaction command (PA00P015 §4.2): the ECR mirrors the last receipt
    /// number it knows. Equal to the terminal's last: in sync. One less: the ECR never learnt
    /// the last transaction's result, so the terminal reverses it implicitly and reuses its
    /// receipt number. Anything else, or empty (a new installation): ignored. Either way the
    /// Status-Information of this command carries the new receipt number in 1F1F.
    pub(super) fn synchronise(&mut self, tlv: Option<&TlvContainer>) -> Vec<Action> {
        let Some(sync) = tlv.and_then(|t| t.find(0x1F1F)) else {
            self.mirror_receipt = false;
            return Vec::new();
        };
        self.mirror_receipt = true;
        let mirrored = sync.data().unwrap_or(&[]);
        if mirrored.is_empty() {
            return vec![Action::Note("1F1F: the ECR knows no receipt yet".into())];
        }
        let mirrored = mirrored
            .iter()
            .fold(0u64, |n, b| n.saturating_mul(256).saturating_add(u64::from(*b)));
        let Some(index) = self.batch.iter().rposition(|b| !b.reversed && b.is_reversible_kind()) else {
            return vec![Action::Note(format!(
                "1F1F {mirrored}: no transaction to compare; ignored"
            ))];
        };
        let last_receipt = u64::from(self.batch[index].receipt);
        if mirrored == last_receipt {
            return vec![Action::Note(format!("1F1F {mirrored}: in sync"))];
        }
        if mirrored + 1 == last_receipt {
            // Like an automatic reversal: the transaction leaves the batch (and the totals), and
            // a PAYBACK redemption is reversed at PAYBACK.
            let last = self.batch.remove(index);
            let receipt = last.receipt;
            self.next_receipt = receipt;
            let mut out = vec![Action::Note(format!(
                "1F1F {mirrored}: the ECR never learnt receipt {receipt}; reversed implicitly, its number is reused"
            ))];
            out.extend(self.undo(&Commit::Store(last)));
            return out;
        }
        vec![Action::Note(format!(
            "1F1F {mirrored}: unknown to the terminal (last receipt {last_receipt}); ignored"
        ))]
    }

    /// Reversal 06 30.
    pub(super) fn reversal_cmd(&mut self, r: Reversal, now: Millis) -> Vec<Action> {
        if !self.password_ok(r.password.0) {
            return refused("wrong password");
        }
        match r.receipt {
            Some(ReceiptNo::Number(n)) => self.reversal(n, now),
            _ => refused("no receipt number"),
        }
    }

    fn reversal(&mut self, receipt: u16, now: Millis) -> Vec<Action> {
        let Some(original) = self.reversible(receipt).map(|i| self.batch[i].clone()) else {
            return self.end_with_abort(rc::REVERSAL_NOT_POSSIBLE, now);
        };
        if original.reversed {
            return self.end_with_abort(rc::ALREADY_REVERSED, now);
        }
        if self.quirks().reversal_last_only && self.batch.last().is_some_and(|last| last.receipt != receipt) {
            let mut out = vec![Action::Note(format!(
                "profile: only the last transaction can be reversed, not receipt {receipt}"
            ))];
            out.extend(self.end_with_abort(rc::REVERSAL_NOT_POSSIBLE, now));
            return out;
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
                    if let Some(i) = self.reversible(receipt) {
                        self.batch[i].reversed = true;
                    }
                }
                Err(e) => {
                    out.extend(self.end_with_abort(crate::payback::result_code(&e), now));
                    return out;
                }
            }
        }
        let card = self.card_of_kind(original.card);
        let (_, trace) = self.take_receipt();
        let mut result = self.status_information(0x00, original.amount, trace, receipt, &card, now);
        // The original trace number (BMP 37) tells the ECR what was reversed.
        result.original_trace = Some(original.trace);
        let slip = Slip {
            title: "Storno",
            amount: original.amount,
            receipt,
            trace,
            approved: true,
            extra: Vec::new(),
            card: &card,
            at: now,
        };
        let steps = self.transaction_end(result, Some(Commit::Reverse(receipt)), Some(slip), End::Completion);
        out.extend(self.start(steps, false, now));
        out
    }

    /// Read Card 06 C0: the customer's card data in a Status-Information, which ends the command.
    pub(super) fn read_card(&mut self, now: Millis) -> Vec<Action> {
        let (_, card) = self.customer();
        let mut steps = Vec::new();
        push_status(&mut steps, self.intermediate_wanted(), status::INSERT_CARD);
        steps.push(Step::Pause(self.config.delays.card_ms));
        steps.push(Step::send(encode(&Message::StatusInformation(StatusInformation {
            expiry: Some(expiry(&card)),
            pan: Digits::new(mask_pan(&card.pan)).ok(),
            card_type: Some(card.kind.card_type_id()),
            ..StatusInformation::default()
        }))));
        // PA00P015 §2.21: the Status-Information hands the master rights back implicitly;
        // there is no Completion.
        self.start(steps, true, now)
    }
}

impl Terminal {
    /// Profile clover: a credit card payment is signed on screen — only when the ECR permitted
    /// 06 D0 at registration; otherwise it is approved without the signature (the receipt says
    /// so). The specification's terminal asks for the PIN and prints no such line.
    fn signature_lines(&self, card: &Card) -> Vec<String> {
        if !self.quirks().signature_needs_06d0 || !matches!(card.kind, CardKind::Mastercard | CardKind::Visa) {
            return Vec::new();
        }
        vec![if self.permits_06d0 {
            "Unterschrift erfasst".into()
        } else {
            "Ohne Unterschrift".into()
        }]
    }
}

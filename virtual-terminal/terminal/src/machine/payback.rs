//! The PAYBACK redemption through the terminal (Austria, seed 000) [ours]: the till sends an
//! Authorisation whose amount is the basket total, marked as PAYBACK; the customer types the
//! PIN, PAYBACK checks it, the terminal shows the balance, the customer picks the points, PAYBACK
//! books them, and the Status-Information carries their EUR value back to the till. The host is
//! the [`PaybackHost`] trait (`crate::payback`); its answers decide the steps that follow.

use std::collections::VecDeque;
use std::sync::Arc;

use possim_engine::clock::Millis;
use possim_zvt::messages::IntermediateStatus;
use possim_zvt::{Message, Tlv, TlvContainer};

use super::receipts::{End, Slip, mask_pan};
use super::{
    Action, Booking, BookingKind, Commit, Step, Terminal, abort_message, encode, push_status, rc, status, tag,
};
use crate::config::{Card, CardKind};
use crate::customer::{OperatorEvent, Outcome};

use super::payment::OperatorTurn;
use crate::payback::{HostError, PaybackHost, RedeemRequest, Reversed};

/// The host-dependent steps of a PAYBACK redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PaybackStep {
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
pub(super) struct PaybackRun {
    card: Card,
    basket: u64,
    pins: VecDeque<String>,
    outcome: Outcome,
    redeem_points: Option<u64>,
    token: Option<String>,
    redeemable: i64,
    /// The ECR sent a TLV container: the answer may carry TLV (E1 bonus points, 24 display text).
    tlv: bool,
    /// A person at the console plays the customer: when no PIN is queued, the terminal waits
    /// for the next one instead of taking it as giving up.
    by_operator: bool,
}

impl Terminal {
    /// The PAYBACK host, or why there is none.
    pub(super) fn host(&self) -> Result<Arc<dyn PaybackHost>, HostError> {
        self.payback_host
            .clone()
            .ok_or_else(|| HostError::Unreachable("no PAYBACK host connected".into()))
    }

    /// Gives PAYBACK redemption `id` back under `transaction_id`, with the journal notes. No
    /// answer (it may have been lost after PAYBACK reversed): asked once more with the same
    /// transaction id, which PAYBACK answers with the original reversal if it made one.
    pub(super) fn payback_reverse(&self, id: &str, transaction_id: &str) -> (Result<Reversed, HostError>, Vec<Action>) {
        let reverse = || {
            self.host()
                .and_then(|h| h.reverse(&self.config.payback.partner, id, transaction_id))
        };
        let mut notes = Vec::new();
        let mut answer = reverse();
        if let Err(e @ HostError::Unreachable(_)) = &answer
            && self.payback_host.is_some()
        {
            notes.push(Action::Note(format!(
                "PAYBACK: no answer to the reversal of {id} ({e}); asking again with transaction id {transaction_id}"
            )));
            answer = reverse();
        }
        notes.push(Action::Note(match &answer {
            Ok(r) => format!(
                "PAYBACK: redemption {id} reversed, {} points back, balance {}",
                r.points, r.new_balance
            ),
            Err(e) => format!("PAYBACK: reversing redemption {id} failed: {e}"),
        }));
        (answer, notes)
    }

    pub(super) fn is_payback(&self, a: &possim_zvt::messages::Authorisation) -> bool {
        // PA00P015 §9.4.3: bonus points container E1, C1 = "MS" (redeem points).
        a.card_type == Some(self.config.payback.card_type) || bonus_type(a.tlv.as_ref()) == Some(&b"MS"[..])
    }

    /// Refund 06 31 with the bonus container E1, C1 "MW" (credit bonus points, PA00P015
    /// §9.4.3.1): `None` when the Refund is not one. The points are C2, or BMP 04 in cents
    /// (1 point = 1 cent; PA00P015 §2.15: the amount is optional for bonus transactions).
    /// [ours] PAYBACK credits points only by reversing a redemption, so the credit goes against
    /// the last redemption of the batch not fully reversed, at most its points (PAYBACK
    /// refuses more). The credit is booked at PAYBACK at once; there is no PIN (points are
    /// given, not taken) and a lost acknowledgement cannot take it back (the points would have
    /// to be redeemed again, which needs the customer's PIN): the terminal journals it.
    pub(super) fn payback_credit(
        &mut self,
        amount: Option<u64>,
        tlv: Option<&TlvContainer>,
        now: Millis,
    ) -> Option<Vec<Action>> {
        if bonus_type(tlv) != Some(&b"MW"[..]) {
            return None;
        }
        let c2 = tlv
            .and_then(|t| t.find(0xC2))
            .and_then(Tlv::data)
            .and_then(|d| possim_zvt::encoding::bcd_decode(d).ok());
        let mut out = Vec::new();
        let Some(points) = c2.or(amount).filter(|p| *p > 0).and_then(|p| i64::try_from(p).ok()) else {
            out.push(Action::Note("PAYBACK credit: no points (E1 C2) and no amount".into()));
            out.extend(self.end_with_abort(rc::NOT_POSSIBLE, now));
            return Some(out);
        };
        let original = self
            .batch
            .iter()
            .rev()
            .find(|b| b.kind == BookingKind::PaybackRedemption && !b.reversed)
            .and_then(|b| Some((b.receipt, b.redemption.clone()?)));
        let card = self.config.cards.iter().find(|c| c.kind == CardKind::Payback).cloned();
        let (Some((original_receipt, redemption)), Some(card)) = (original, card) else {
            out.push(Action::Note(
                "PAYBACK credit: no PAYBACK redemption in the batch to credit points back to".into(),
            ));
            out.extend(self.end_with_abort(rc::REVERSAL_NOT_POSSIBLE, now));
            return Some(out);
        };
        let (receipt, trace) = self.take_receipt();
        let transaction_id = format!("zvt-{}-{trace}", self.config.terminal_id);
        let answer = self
            .host()
            .and_then(|h| h.credit(&self.config.payback.partner, &redemption, &transaction_id, points));
        let credited = match answer {
            Ok(r) => r,
            Err(e) => {
                out.push(Action::Note(format!(
                    "PAYBACK credit of {points} points to redemption {redemption} refused: {e}"
                )));
                out.extend(self.end_with_abort(crate::payback::result_code(&e), now));
                return Some(out);
            }
        };
        out.push(Action::Note(format!(
            "PAYBACK: credited {} points of redemption {redemption} (receipt {original_receipt}), balance {}",
            credited.points, credited.new_balance
        )));
        let amount = u64::try_from(credited.points).unwrap_or(0);
        let mut result = self.status_information(0x00, amount, trace, receipt, &card, now);
        let mut objects = result.tlv.take().map(|t| t.objects).unwrap_or_default();
        objects.push(bonus_container(b"MW", credited.points, credited.new_balance));
        result.tlv = Some(TlvContainer::new(objects));
        let slip = Slip {
            title: "PAYBACK Gutschrift",
            amount,
            receipt,
            trace,
            approved: true,
            extra: vec![
                format!("Punkte gutgeschrieben {}", credited.points),
                format!("Neuer Punktestand {}", credited.new_balance),
            ],
            card: &card,
            at: now,
        };
        let mut steps = Vec::new();
        push_status(&mut steps, self.intermediate_wanted(), status::WAITING_FOR_HOST);
        steps.extend(self.transaction_end(result, None, Some(slip), End::Completion));
        out.extend(self.start(steps, false, now));
        Some(out)
    }

    /// Pre-Authorisation 06 22 and Refund 06 31 may carry the bonus container E1 too (PA00P015
    /// §9.4.3.2). A Refund crediting points ("MW") is [`Self::payback_credit`]; what reaches
    /// here marked as PAYBACK — a reservation of points ("MS", "ME", or the PAYBACK card type),
    /// or a Refund with the PAYBACK card type but no "MW" — is refused with 06 1E 83, never
    /// turned into a card reservation or a money refund on the customer's bank card. The
    /// PAYBACK mock has no reservation of points [ours]: it only books redemptions at once.
    pub(super) fn payback_outside_authorisation(
        &mut self,
        what: &str,
        card_type: Option<u8>,
        tlv: Option<&TlvContainer>,
        now: Millis,
    ) -> Option<Vec<Action>> {
        let bonus = bonus_type(tlv);
        let marked =
            card_type == Some(self.config.payback.card_type) || matches!(bonus, Some(b"MS" | b"ME" | b"MW" | b"MU"));
        if !marked {
            return None;
        }
        let mut out = vec![Action::Note(format!(
            "PAYBACK in a {what} (bonus container {}): not offered; redeem with Authorisation 06 01, give points back with Reversal 06 30",
            bonus.map_or_else(|| "none".to_owned(), possim_zvt::encoding::escape_text)
        ))];
        out.extend(self.end_with_abort(rc::NOT_POSSIBLE, now));
        Some(out)
    }

    pub(super) fn payback_redemption(&mut self, basket: u64, tlv: bool, now: Millis) -> Vec<Action> {
        // An explicit script wins over the operator mode, as for card payments.
        let explicit = self.next_customer.take();
        let by_operator = explicit
            .as_ref()
            .map_or(self.operator_mode, |s| s.outcome == Outcome::Operator);
        let script = explicit.unwrap_or_else(|| self.config.default_customer.clone());
        let show = self.intermediate_wanted();
        let status = |steps: &mut Vec<Step>, code: u8| push_status(steps, show, code);
        let mut steps = Vec::new();
        status(&mut steps, status::INSERT_CARD);
        if by_operator {
            // The operator inserts the PAYBACK card and types the PINs at the console; the
            // points are all redeemable ones up to the basket.
            self.operator = Some(OperatorTurn::payback(basket, tlv));
            steps.push(Step::WaitForCard);
            let mut out = vec![Action::Note(format!(
                "PAYBACK redemption for a basket of {basket} cents: waiting for the operator to insert a card"
            ))];
            out.extend(self.start(steps, true, now));
            return out;
        }
        let card = match &script.card {
            Some(name) => self.config.card(name).cloned(),
            None => self.config.cards.iter().find(|c| c.kind == CardKind::Payback).cloned(),
        };
        let Some(card) = card.filter(|c| c.kind == CardKind::Payback) else {
            let mut out = vec![Action::Note(
                "PAYBACK redemption: the customer has no PAYBACK card (card unknown)".into(),
            )];
            out.extend(self.end_with_abort(rc::CARD_UNKNOWN, now));
            return out;
        };
        if script.outcome == Outcome::NoCard {
            steps.push(Step::WaitForCard);
            return self.start(steps, true, now);
        }
        steps.push(Step::Pause(self.config.delays.card_ms));
        if script.outcome == Outcome::CardUnreadable {
            status(&mut steps, status::CARD_NOT_READABLE);
            steps.push(Step::send(abort_message(rc::CARD_NOT_READABLE)));
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
            by_operator: false,
        });
        steps.push(Step::Payback(PaybackStep::NextPin));
        let mut out = vec![Action::Note(format!(
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
        steps.push(Step::send(abort_message(code)));
        steps
    }

    /// Carries out one host-dependent step: notes for the journal, and the steps that follow.
    pub(super) fn payback_step(&mut self, step: PaybackStep, now: Millis) -> (Vec<Action>, Vec<Step>) {
        let show = self.intermediate_wanted();
        let Some(run) = self.payback_run.clone() else {
            return (
                vec![Action::Note("PAYBACK: no redemption in progress".into())],
                vec![Step::send(abort_message(rc::NOT_POSSIBLE))],
            );
        };
        let note = |text: String| vec![Action::Note(text)];
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
                    if run.by_operator {
                        // The operator types the next PIN (or aborts, or the time-out ends it).
                        return (Vec::new(), vec![Step::WaitForCard]);
                    }
                    self.payback_run = None;
                    return (
                        note("PAYBACK: the customer gave up at the PIN pad".into()),
                        vec![Step::send(abort_message(rc::ABORTED))],
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
                        vec![Step::send(abort_message(rc::ABORTED))],
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
                            Err(again @ HostError::Unreachable(_)) => notes.push(Action::Note(format!(
                                "PAYBACK: still no answer ({again}); whether redemption {} is booked is unknown",
                                request.transaction_id
                            ))),
                            Err(refused) => {
                                notes.push(Action::Note(format!("PAYBACK: nothing booked ({refused})")));
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
                let mut result = self.status_information(0x00, amount, trace, receipt, &card, now);
                if run.tlv {
                    // PA00P015 §9.4.3: E1 bonus points — C1 "MS" redeemed, C2 points (8 B BCD),
                    // C3 remaining points.
                    let mut objects = result.tlv.take().map(|t| t.objects).unwrap_or_default();
                    objects.push(bonus_container(b"MS", r.points, r.new_balance));
                    result.tlv = Some(TlvContainer::new(objects));
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
                let slip = Slip {
                    title: "PAYBACK Einloesung",
                    amount,
                    receipt,
                    trace,
                    approved: true,
                    extra: vec![
                        format!("Punkte eingeloest {}", r.points),
                        format!("Neuer Punktestand {}", r.new_balance),
                    ],
                    card: &card,
                    at: now,
                };
                steps.extend(self.transaction_end(result, Some(commit), Some(slip), End::Completion));
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

impl Terminal {
    /// The operator's action during a PAYBACK redemption: the PAYBACK card, a PIN, or abort.
    /// The turn stays with the operator until the flow ends.
    pub(super) fn operator_payback(
        &mut self,
        turn: OperatorTurn,
        event: OperatorEvent,
    ) -> Result<(Vec<Action>, Vec<Step>), String> {
        let mut out = vec![Action::Disarm];
        let mut steps = Vec::new();
        match (event, turn.card.is_some()) {
            (OperatorEvent::Abort, _) => {
                self.payback_run = None;
                out.push(Action::Note("the customer pressed abort".into()));
                steps.push(Step::send(abort_message(rc::ABORTED)));
                return Ok((out, steps));
            }
            (OperatorEvent::Insert(name), false) => {
                let card = self.config.card(&name).cloned();
                let Some(card) = card.filter(|c| c.kind == CardKind::Payback) else {
                    self.operator = Some(turn);
                    return Err(format!("{name:?} is not a PAYBACK card of the data set"));
                };
                out.push(Action::Note(format!("the customer inserted {name}")));
                self.payback_run = Some(PaybackRun {
                    card: card.clone(),
                    basket: turn.amount,
                    pins: VecDeque::new(),
                    outcome: Outcome::Approve,
                    redeem_points: None,
                    token: None,
                    redeemable: 0,
                    tlv: turn.tlv,
                    by_operator: true,
                });
                steps.push(Step::Pause(self.config.delays.card_ms));
                steps.push(Step::Payback(PaybackStep::NextPin));
                let mut turn = turn;
                turn.card = Some(card);
                self.operator = Some(turn);
            }
            (OperatorEvent::Insert(_), true) => {
                self.operator = Some(turn);
                return Err("a card is already in the terminal".into());
            }
            (OperatorEvent::Pin(_), false) => {
                self.operator = Some(turn);
                return Err("insert a card first".into());
            }
            (OperatorEvent::Pin(pin), true) => {
                out.push(Action::Note("the customer typed a PIN".into()));
                if let Some(run) = self.payback_run.as_mut() {
                    run.pins.push_back(pin);
                }
                steps.push(Step::Payback(PaybackStep::NextPin));
                self.operator = Some(turn);
            }
        }
        Ok((out, steps))
    }
}

/// The bonus container E1 of a Status-Information (PA00P015 §9.4.3): C1 the transaction type,
/// C2 the points, C3 the points remaining (8 bytes BCD each).
fn bonus_container(kind: &[u8], points: i64, remaining: i64) -> Tlv {
    let bcd =
        |v: i64| possim_zvt::encoding::bcd_encode(u64::try_from(v).unwrap_or(0), 8).unwrap_or_else(|_| vec![0; 8]);
    Tlv::constructed(
        tag(0xE1),
        vec![
            Tlv::primitive(tag(0xC1), kind.to_vec()),
            Tlv::primitive(tag(0xC2), bcd(points)),
            Tlv::primitive(tag(0xC3), bcd(remaining)),
        ],
    )
}

/// The transaction type C1 of the bonus container E1 (PA00P015 §9.4.3.1), if the ECR sent one.
fn bonus_type(tlv: Option<&TlvContainer>) -> Option<&[u8]> {
    // Wherever it sits (the ECRs seen put it in E1), as the Authorisation always read it.
    tlv.and_then(|t| t.find(0xC1)).and_then(Tlv::data)
}

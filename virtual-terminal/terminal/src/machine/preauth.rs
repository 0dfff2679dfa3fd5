//! What follows a pre-authorisation (PA00P015 §2.10–§2.12): Book Total 06 24 books the amount
//! used, Partial Reversal 06 23 releases the amount not used and books the rest, Pre-Auth
//! Reversal 06 25 releases it all; `06 23` with receipt `FF FF` asks for the open ones.

use possim_engine::clock::Millis;
use possim_zvt::Message;
use possim_zvt::bmp::ReceiptNo;
use possim_zvt::messages::{Abort, BookTotal, PartialReversal, PreAuthReversal};

use super::receipts::End;
use super::{Action, Booking, BookingKind, Commit, Step, Terminal, encode, rc, refused};

impl Terminal {
    /// Book Total 06 24.
    pub(super) fn book_total(&mut self, b: BookTotal, now: Millis) -> Vec<Action> {
        match b.receipt {
            Some(ReceiptNo::Number(n)) => self.book_pre_auth(n, b.amount.map(|a| a.0), false, now),
            _ => refused("no receipt number"),
        }
    }

    /// Partial Reversal 06 23, or the enquiry for open pre-authorisations (no receipt number).
    pub(super) fn partial_reversal(&mut self, p: PartialReversal, now: Millis) -> Vec<Action> {
        match p.receipt {
            Some(ReceiptNo::Number(n)) => self.book_pre_auth(n, p.amount.map(|a| a.0), true, now),
            _ => self.open_pre_auth_enquiry(now),
        }
    }

    /// Pre-Authorisation Reversal 06 25.
    pub(super) fn pre_auth_reversal(&mut self, p: PreAuthReversal, now: Millis) -> Vec<Action> {
        match p.receipt {
            Some(ReceiptNo::Number(n)) => self.release_pre_auth(n, now),
            _ => refused("no receipt number"),
        }
    }

    fn book_pre_auth(&mut self, receipt: u16, amount: Option<u64>, partial_reversal: bool, now: Millis) -> Vec<Action> {
        let Some(p) = self.pre_auth(receipt).cloned() else {
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
        let card = self.card_of_kind(p.card);
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
        let result = self.status_information(0x00, booked, trace, receipt, &card, now);
        let steps = self.transaction_end(
            result,
            Some(Commit::BookPreAuth { receipt, booking }),
            None,
            End::Completion,
        );
        self.start(steps, false, now)
    }

    fn release_pre_auth(&mut self, receipt: u16, now: Millis) -> Vec<Action> {
        let Some(p) = self.pre_auth(receipt).cloned() else {
            return self.end_with_abort(rc::PRE_AUTH_ERROR, now);
        };
        let card = self.card_of_kind(p.card);
        let (_, trace) = self.take_receipt();
        let result = self.status_information(0x00, p.amount, trace, receipt, &card, now);
        let steps = self.transaction_end(result, Some(Commit::ReleasePreAuth(receipt)), None, End::Completion);
        self.start(steps, false, now)
    }

    /// The enquiry 06 23 87 FF FF (PA00P015 §2.10.1) always ends with 06 1E B8 and BMP 87: the
    /// receipt number of the first open pre-authorisation, or FF FF when none is open.
    fn open_pre_auth_enquiry(&mut self, now: Millis) -> Vec<Action> {
        let receipt = match self.pre_auths.first() {
            Some(open) => ReceiptNo::Number(open.receipt),
            None => ReceiptNo::None,
        };
        let apdu = encode(&Message::Abort(Abort {
            result_code: rc::PRE_AUTH_ERROR,
            receipt: Some(receipt),
            ..Abort::default()
        }));
        self.start(vec![Step::send(apdu)], false, now)
    }
}

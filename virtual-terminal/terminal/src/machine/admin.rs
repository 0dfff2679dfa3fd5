//! Administrative commands: Registration 06 00, Log-Off 06 02, Status Enquiry 05 01, End-of-Day
//! 06 50 and Send Turnover Totals 06 10 (with the totals they report), Repeat Receipt 06 20 and
//! Set Terminal-ID 06 1B. The commands the terminal completes at once (Diagnosis, Initialisation,
//! …) go through [`Terminal::simple_completion`] in the dispatch.

use possim_engine::clock::Millis;
use possim_zvt::bmp::ReceiptNo;
use possim_zvt::messages::{
    Abort, Completion, CompletionData, EndOfDay, Registration, RepeatReceipt, SendTurnoverTotals, SetTerminalId,
    StatusEnquiry, StatusEnquiryCompletion, StatusInformation,
};
use possim_zvt::{Amount, Apdu, Message};

use super::receipts::{clock_fields, status_apdu};
use super::{Action, Commit, Step, Terminal, ack, completion, encode, rc, refused};

impl Terminal {
    /// Registration 06 00: password and currency checked, the config byte (and whether the ECR
    /// permits 06 D3 text blocks, TLV 26) kept.
    pub(super) fn registration_cmd(&mut self, r: Registration, now: Millis) -> Vec<Action> {
        if !self.password_ok(r.password.0) {
            return refused("registration: wrong password");
        }
        if let Some(cc) = r.currency
            && cc != self.config.currency
        {
            // PA00P015 §2.1: 84 1E xx 6F [<CC>], the currency code only when the ECR sent one.
            let cc_bytes = possim_zvt::encoding::bcd_encode(u64::from(self.config.currency), 2).unwrap_or_default();
            let mut data = vec![rc::WRONG_CURRENCY];
            data.extend(cc_bytes);
            return vec![
                Action::Note(format!("registration: wrong currency {cc}")),
                Action::Send(encode(&Message::Nack { code: 0x1E, data })),
            ];
        }
        self.registered = Some(r.config);
        let permits = |command: [u8; 2]| {
            r.tlv.as_ref().and_then(|t| t.find(0x26)).is_some_and(|permitted| {
                permitted
                    .children()
                    .unwrap_or(&[])
                    .iter()
                    .any(|c| c.tag.value() == 0x0A && c.data() == Some(&command[..]))
            })
        };
        self.text_blocks = permits([0x06, 0xD3]);
        self.permits_06d0 = permits([0x06, 0xD0]);
        self.echo_currency = r.currency.is_some();
        let done = encode(&Message::Completion(Completion::Standard(CompletionData {
            status_byte: Some(0x00),
            terminal_id: Some(self.config.terminal_id),
            currency: self.echo_currency.then_some(u32::from(self.config.currency)),
            ..CompletionData::default()
        })));
        self.start(vec![Step::send(done)], false, now)
    }

    /// Log-Off 06 02: ends the registration.
    pub(super) fn log_off(&mut self) -> Vec<Action> {
        self.registered = None;
        vec![Action::Send(ack())]
    }

    /// Status Enquiry 05 01: the software version and terminal status 00 (ready).
    pub(super) fn status_enquiry(&mut self, s: StatusEnquiry, now: Millis) -> Vec<Action> {
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
        self.start(vec![Step::send(done)], false, now)
    }

    /// Send Turnover Totals 06 10: the totals without closing the batch.
    pub(super) fn send_turnover_totals(&mut self, t: SendTurnoverTotals, now: Millis) -> Vec<Action> {
        if !self.password_ok(t.password.0) {
            return refused("wrong password");
        }
        let status = self.totals_status(now);
        self.answer_then_complete(status, now)
    }

    /// Repeat Receipt 06 20 (PA00P015 §2.20), by its service byte (default 00): bit 0 — the
    /// Status-Information of the last transaction again (how an ECR gets back in sync), bit 1
    /// clear — its receipts again (a copy of the last stored transaction, when the ECR prints);
    /// then Completion. Nothing to repeat: 06 1E 83.
    pub(super) fn repeat_receipt(&mut self, r: RepeatReceipt, now: Millis) -> Vec<Action> {
        if !self.password_ok(r.password.0) {
            return refused("wrong password");
        }
        if self.quirks().repeat_receipt_bare {
            // Profile pax-a80: 06 0F and nothing else, whatever there is to repeat.
            let mut out = vec![Action::Note(
                "profile: Repeat Receipt answered without a receipt".into(),
            )];
            out.extend(self.simple_completion(now));
            return out;
        }
        let Some(status) = self.last_status.clone() else {
            return self.end_with_abort(rc::NOT_POSSIBLE, now);
        };
        let service = r.service.unwrap_or(0);
        let mut steps = Vec::new();
        if service & 0x01 != 0 {
            steps.push(Step::send(status));
        }
        if service & 0x02 == 0
            && let Some(last) = self.batch.last()
        {
            steps.extend(self.copy(last));
        }
        steps.push(Step::send(completion()));
        self.start(steps, false, now)
    }

    /// Set Terminal-ID 06 1B.
    pub(super) fn set_terminal_id(&mut self, s: SetTerminalId, now: Millis) -> Vec<Action> {
        if !self.password_ok(s.password.0) {
            return refused("wrong password");
        }
        if let Some(tid) = s.terminal_id {
            self.config.terminal_id = tid;
        }
        self.simple_completion(now)
    }

    /// End-of-Day 06 50: the totals, and the batch cleared when the ECR acknowledges them.
    pub(super) fn end_of_day_cmd(&mut self, e: EndOfDay, now: Millis) -> Vec<Action> {
        if !self.password_ok(e.password.0) {
            return refused("wrong password");
        }
        if let Some(open) = self.pre_auths.first() {
            // An open pre-authorisation blocks the End-of-Day (seen on Feig terminals: 06 1E B8 87 <receipt>).
            let apdu = encode(&Message::Abort(Abort {
                result_code: rc::PRE_AUTH_ERROR,
                receipt: Some(ReceiptNo::Number(open.receipt)),
                ..Abort::default()
            }));
            return self.start(vec![Step::send(apdu)], false, now);
        }
        let status = self.totals_status(now);
        self.start(
            vec![
                Step::Send {
                    apdu: status,
                    commit: Some(Commit::ClearBatch),
                },
                Step::send(completion()),
            ],
            false,
            now,
        )
    }

    /// Count and total per End-of-Day group over the batch (reversed payments excluded, refunds
    /// subtracted from their group's total), and the receipt range.
    pub fn totals(&self) -> ([(u8, u64); 7], u64, u16, u16) {
        // The forgotten bookings came first in the batch: their fold continues with the held.
        let mut groups = self.forgotten.groups;
        let mut total = self.forgotten.total;
        for b in &self.batch {
            super::fold_totals(&mut groups, &mut total, b);
        }
        let receipts = self.batch.iter().map(|b| b.receipt);
        let forgotten = self.forgotten.receipts;
        let from = receipts.clone().chain(forgotten.map(|r| r.0)).min().unwrap_or(0);
        let to = receipts.chain(forgotten.map(|r| r.1)).max().unwrap_or(0);
        (groups, total, from, to)
    }

    /// The totals as a Status-Information (End-of-Day format, BMP 60).
    fn totals_status(&mut self, now: Millis) -> Apdu {
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
        status_apdu(StatusInformation {
            result_code: Some(0x00),
            amount: Some(Amount(total.min(999_999_999_999))),
            trace: Some(trace),
            time: Some(time),
            date: Some(date),
            individual_totals: Some(single),
            ..StatusInformation::default()
        })
    }
}

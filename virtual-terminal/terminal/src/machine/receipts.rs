//! What a transaction leaves on paper and in the ECR: the Status-Information 04 0F, the
//! receipts (06 D1 print lines, or one 06 D3 text block per copy when the ECR permitted them),
//! the end of a transaction (04 0F, receipts, then 06 0F or 06 1E), and Reprint Receipts 06 12.

use possim_engine::clock::Millis;
use possim_zvt::bmp::{Date, MonthDay, ReceiptNo, Time};
use possim_zvt::messages::{PrintLine, PrintTextBlock, StatusInformation};
use possim_zvt::{Amount, Apdu, Digits, Message, Tlv, TlvContainer};

use super::{
    Action, Booking, BookingKind, Commit, Step, Terminal, abort_message, completion, encode, expiry, nack, rc, tag,
};
use crate::config::Card;

/// A PAN with all but the last four digits masked (`E` nibbles, as PCI wants).
pub fn mask_pan(pan: &str) -> String {
    let keep = pan.len().saturating_sub(4);
    format!("{}{}", "E".repeat(keep), &pan[keep..])
}

/// Engine time as the Status-Information's time (BMP 0C), date (BMP 0D) and the receipt's date.
pub(super) fn clock_fields(now: Millis) -> (Time, MonthDay, Date) {
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
pub(super) struct Slip<'a> {
    pub title: &'a str,
    pub amount: u64,
    pub receipt: u16,
    pub trace: u32,
    pub approved: bool,
    /// Lines before the last (PAYBACK: points redeemed, new balance).
    pub extra: Vec<String>,
    /// The card, as the receipt shows it (masked).
    pub card: &'a Card,
    /// When the transaction happened (a reprint shows the original time).
    pub at: Millis,
}

/// How a transaction ends after its Status-Information and receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Completion 06 0F: done.
    Completion,
    /// Abort 06 1E with this result code (declined, PIN try limit).
    Abort(u8),
}

/// The receipt's title for a transaction of this kind.
pub(super) fn title(kind: BookingKind) -> &'static str {
    match kind {
        BookingKind::Payment => "Kartenzahlung",
        BookingKind::Refund => "Gutschrift",
        BookingKind::PreAuthorisation => "Reservierung",
        BookingKind::PreAuthBooking => "Buchung",
        BookingKind::PaybackRedemption => "PAYBACK Einloesung",
    }
}

/// Encodes a Status-Information.
pub(super) fn status_apdu(status: StatusInformation) -> Apdu {
    encode(&Message::StatusInformation(status))
}

impl Terminal {
    fn ecr_prints_payment_lines(&self) -> bool {
        self.registered.is_some_and(|c| c & 0x82 == 0x82)
    }

    /// The Status-Information of a card transaction with this result.
    pub(super) fn status_information(
        &self,
        result: u8,
        amount: u64,
        trace: u32,
        receipt: u16,
        card: &Card,
        now: Millis,
    ) -> StatusInformation {
        let (time, date, _) = clock_fields(now);
        StatusInformation {
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
        }
    }

    /// The end of a transaction: its Status-Information 04 0F (whose acknowledgement commits
    /// `commit`), the receipts of `slip` when the ECR prints them, then `end`.
    pub(super) fn transaction_end(
        &self,
        status: StatusInformation,
        commit: Option<Commit>,
        slip: Option<Slip<'_>>,
        end: End,
    ) -> Vec<Step> {
        let mut steps = vec![Step::Send {
            apdu: status_apdu(status),
            commit,
        }];
        if let Some(slip) = slip {
            steps.extend(self.receipt_lines(slip));
        }
        steps.push(Step::send(match end {
            End::Completion => completion(),
            End::Abort(code) => abort_message(code),
        }));
        steps
    }

    /// The merchant and the customer copy of a receipt, as the ECR asked to get them at
    /// registration: print lines (06 D1), one text block per copy (06 D3), or none when the PT
    /// prints itself.
    pub(super) fn receipt_lines(&self, slip: Slip<'_>) -> Vec<Step> {
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
            card,
            at,
        } = slip;
        let (time, _, date) = clock_fields(at);
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
                    .map(|line| Tlv::primitive(tag(0x07), self.quirks().text(line)))
                    .collect();
                texts.push(Tlv::primitive(tag(0x09), vec![0x81]));
                let block = TlvContainer::new(vec![
                    Tlv::primitive(tag(0x1F07), vec![receipt_type]),
                    Tlv::constructed(tag(0x25), texts),
                ]);
                steps.push(Step::send(encode(&Message::PrintTextBlock(PrintTextBlock {
                    tlv: Some(block),
                    ..PrintTextBlock::default()
                }))));
                continue;
            }
            let last = lines.len() - 1;
            for (i, line) in lines.into_iter().enumerate() {
                // Attribute 0x80 | n marks the last line of a receipt (PA00P015 table 16).
                let attribute = if i == last { 0x81 } else { 0x00 };
                steps.push(Step::send(encode(&Message::PrintLine(PrintLine {
                    attribute,
                    text: self.quirks().text(line),
                }))));
            }
        }
        steps
    }

    /// A copy of a stored transaction's receipts, dated as the transaction (none when the PT
    /// prints itself).
    pub(super) fn copy(&self, b: &Booking) -> Vec<Step> {
        let card = Card {
            name: String::new(),
            kind: b.card,
            pan: b.pan.clone(),
            expiry: "0000".into(),
            pin: String::new(),
            limit_cents: 0,
        };
        let title = format!("{} (Kopie)", title(b.kind));
        self.receipt_lines(Slip {
            title: &title,
            amount: b.amount,
            receipt: b.receipt,
            trace: b.trace,
            approved: !b.reversed,
            extra: Vec::new(),
            card: &card,
            // The copy shows when the payment happened, not when it was reprinted.
            at: b.at,
        })
    }

    /// Reprint Receipts 06 12 (PA00P015 §2.19): `<password> <from> [<to>]`, receipt numbers as
    /// 2-byte BCD. The receipts of the batch in that range, as the ECR asked to get them at
    /// registration (print lines or text blocks; none when the PT prints itself), then 06 0F.
    pub(super) fn reprint(&mut self, data: &[u8], now: Millis) -> Vec<Action> {
        let refused = |why: String| vec![Action::Note(why), Action::Send(nack(rc::NOT_POSSIBLE))];
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
        let mut steps: Vec<Step> = wanted.iter().flat_map(|b| self.copy(b)).collect();
        steps.push(Step::send(completion()));
        let mut out = vec![Action::Note(format!(
            "reprint of receipts {from}..={to}: {} found",
            wanted.len()
        ))];
        out.extend(self.start(steps, false, now));
        out
    }
}

//! `possim pos zvt`: a correct cash register (ECR) for the virtual terminal, over TCP or the
//! serial line. It registers (config BE: receipts and intermediate status to the ECR), then runs
//! the action: it acknowledges every terminal message — the Status-Information included, which is
//! what commits a payment —, waits T4 between messages, and reports a payment only when the
//! terminal completed it with 06 0F.

use possim_terminal::ecr::{Ecr, EcrDefects, IssueGoods, Outcome, Transcript};
use possim_terminal::link::{LinkTimers, SerialQuirks};
use serde_json::{Value, json};

/// A planted ECR bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Defect {
    /// Never acknowledges the Status-Information; reports the payment at once.
    NoStatusAck,
    /// Gives up after one second instead of T4.
    EarlyGiveUp,
    /// Takes Abort 06 1E as success.
    AbortAsSuccess,
    /// Sends the amount as a binary number, not BCD.
    BinaryAmount,
    /// Serial: does not double DLE bytes of the APDU.
    NoDleDoubling,
    /// Serial: computes CRC-16/XMODEM instead of CRC-16/KERMIT.
    WrongCrc,
    /// Serial: never repeats a frame the terminal answered with NAK.
    IgnoreNak,
    /// Writes the extended APDU length big-endian.
    BigEndianLength,
    /// Converts the amount through floating point and cuts: 19.99 × 100 = 1998.999… → 1998 cents.
    FloatAmount,
    /// Keeps whole euros only (a till whose price field is an integer): 19.99 → 19.00.
    CentsDropped,
    /// Reports the amount the cashier asked for, not the one the terminal approved (a partial
    /// approval then looks fully paid).
    RequestedAmountReported,
    /// Books the reserved amount instead of the final one (Book Total of the Pre-Authorisation's
    /// amount).
    BookReservedAmount,
    /// Shows any 06 1E as a terminal error without its result code: the cashier cannot tell a
    /// declined card from a broken terminal.
    DeclineAsError,
    /// Issue of goods: takes the Status-Information repeated after its own 84 9C for an error.
    RepeatedStatusAsError,
    /// Issue of goods: reports the requested amount after a partial issue (84 9D).
    BooksRequestedAmount,
    /// Reads a terminal's connect banner (a Yomani's) as ZVT instead of skipping it.
    NoBannerSkip,
    /// Serial: takes only a bare ACK after its frame; a DLE ACK counts as none.
    BareAckOnly,
    /// Takes a refusal 84 xx ("not supported") of its command as success.
    RefusalAsSuccess,
}

impl crate::PlantableDefect for Defect {}

/// Where the terminal is.
#[derive(Debug, Clone)]
pub struct ZvtPos {
    /// `tcp://host:port` or `host:port`.
    pub tcp: String,
    /// Serial port path (the terminal's pty), when the action asks for the serial link.
    pub serial: Option<String>,
    /// Terminal password.
    pub password: u32,
    /// Planted bugs.
    pub defects: Vec<Defect>,
}

fn error(message: impl std::fmt::Display) -> Value {
    json!({"status": "error", "message": message.to_string()})
}

fn cents(text: &str) -> Option<u64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(whole.parse::<u64>().ok()? * 100 + format!("{frac:0<2}").parse::<u64>().ok()?)
}

fn euros(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// What the till reports: a completed payment with its receipt, or the terminal's result code
/// (the contract's ZVT result, `conformance/README.md`; `possim zvt` prints the same line).
pub fn report(t: &Transcript) -> Value {
    match &t.outcome {
        Outcome::Completed => {
            let mut r = json!({"status": "completed"});
            if let Some(a) = t.amount {
                r["amount"] = json!(euros(a));
            }
            if let Some(n) = t.receipt {
                r["receipt"] = json!(n);
            }
            r
        }
        Outcome::Aborted { result_code } => json!({"status": "aborted", "resultCode": result_code}),
        Outcome::Refused { code } => json!({"status": "refused", "code": code}),
    }
}

impl ZvtPos {
    fn has(&self, defect: Defect) -> bool {
        self.defects.contains(&defect)
    }

    /// The action's decimal amount in cents, as this till (with its planted bugs) reads it.
    fn amount(&self, action: &Value, key: &str) -> Option<u64> {
        let text = action.get(key).and_then(Value::as_str)?;
        let exact = cents(text)?;
        if self.has(Defect::FloatAmount) {
            let euros: f64 = text.trim().parse().ok()?;
            // The bug: truncating instead of rounding the binary fraction.
            return Some((euros * 100.0) as u64);
        }
        if self.has(Defect::CentsDropped) {
            return Some(exact / 100 * 100);
        }
        Some(exact)
    }

    /// What the till tells the cashier about the terminal's answer.
    fn report(&self, t: &Transcript, requested: Option<u64>) -> Value {
        let mut r = report(t);
        if self.has(Defect::DeclineAsError) && matches!(t.outcome, Outcome::Aborted { .. }) {
            return error("terminal error");
        }
        if self.has(Defect::RequestedAmountReported)
            && t.outcome == Outcome::Completed
            && let Some(asked) = requested
        {
            r["amount"] = json!(euros(asked));
        }
        r
    }

    async fn connect(&self, link: &str) -> Result<Ecr, String> {
        let mut ecr = match link {
            "serial" => {
                let path = self
                    .serial
                    .as_deref()
                    .ok_or("no serial port given (POSSIM_ZVT_SERIAL_URL)")?;
                let quirks = SerialQuirks {
                    no_dle_doubling: self.has(Defect::NoDleDoubling),
                    wrong_crc: self.has(Defect::WrongCrc),
                    ignore_nak: self.has(Defect::IgnoreNak),
                    bare_ack_only: self.has(Defect::BareAckOnly),
                };
                Ecr::open_serial(path, self.password, LinkTimers::default(), quirks)
                    .map_err(|e| format!("opening {path}: {e}"))?
            }
            "tcp" => {
                let addr = self.tcp.trim_start_matches("tcp://");
                Ecr::connect(addr, self.password)
                    .await
                    .map_err(|e| format!("connecting to {addr}: {e}"))?
            }
            other => return Err(format!("unknown link {other:?} (tcp or serial)")),
        };
        ecr.defects = EcrDefects {
            no_status_ack: self.has(Defect::NoStatusAck),
            early_give_up: self.has(Defect::EarlyGiveUp),
            abort_as_success: self.has(Defect::AbortAsSuccess),
            binary_amount: self.has(Defect::BinaryAmount),
            big_endian_length: self.has(Defect::BigEndianLength),
            repeated_status_as_error: self.has(Defect::RepeatedStatusAsError),
            books_requested_amount: self.has(Defect::BooksRequestedAmount),
            refusal_as_success: self.has(Defect::RefusalAsSuccess),
        };
        ecr.skip_banner(!self.has(Defect::NoBannerSkip));
        Ok(ecr)
    }

    /// Runs one action and returns the result object.
    pub async fn perform(&self, action: &Value) -> Value {
        let link = action.get("link").and_then(Value::as_str).unwrap_or("tcp");
        let mut ecr = match self.connect(link).await {
            Ok(ecr) => ecr,
            Err(e) => return error(e),
        };
        match ecr.register(0xBE).await {
            Ok(t) if t.outcome == Outcome::Completed => {}
            Ok(t) => return error(format!("registration failed: {}", report(&t))),
            Err(e) => return error(format!("registration: {e}")),
        }
        let kind = action.get("type").and_then(Value::as_str).unwrap_or("");
        let mut requested = None;
        let done = match kind {
            "zvt-pay" => {
                let Some(amount) = self.amount(action, "amount") else {
                    return error("the action's amount is not like \"12.50\"");
                };
                requested = Some(amount);
                // An unattended machine: `issueGoods` (ok, later:N, partial:AMOUNT, fail,
                // silent), `goodsTimeout` seconds (BMP 01, default 30), `maxStatusInfos` (BMP 02).
                match action.get("issueGoods").and_then(Value::as_str) {
                    None => ecr.pay(amount).await,
                    Some(plan) => {
                        let plan = match plan.parse::<IssueGoods>() {
                            Ok(plan) => plan,
                            Err(e) => return error(format!("issueGoods {e}")),
                        };
                        let small = |key: &str| {
                            action
                                .get(key)
                                .and_then(Value::as_u64)
                                .and_then(|n| u8::try_from(n).ok())
                        };
                        let timeout = small("goodsTimeout").unwrap_or(30);
                        ecr.pay_issuing_goods(amount, plan, timeout, small("maxStatusInfos"))
                            .await
                    }
                }
            }
            "zvt-end-of-day" => ecr.end_of_day().await,
            "zvt-pre-auth" => {
                let (Some(reserve), Some(book)) = (self.amount(action, "amount"), self.amount(action, "book")) else {
                    return error("the action's amount and book are not like \"12.50\"");
                };
                // Reserve, then book the final amount by the reservation's receipt number.
                let reserved = match ecr.pre_authorise(reserve).await {
                    Ok(t) if t.outcome == Outcome::Completed => t,
                    Ok(t) => return self.report(&t, None),
                    Err(e) => return error(e),
                };
                let Some(receipt) = reserved.receipt else {
                    return error("the pre-authorisation has no receipt number");
                };
                let book = if self.has(Defect::BookReservedAmount) {
                    reserve
                } else {
                    book
                };
                ecr.book_total(receipt, book).await
            }
            "zvt-display-text" => {
                let lines: Vec<String> = possim_conformance::action::strings(action, "lines");
                if lines.is_empty() || lines.len() > 8 {
                    return error("the action needs one to eight `lines`");
                }
                ecr.display_text(&lines, 5).await
            }
            other => return error(format!("unknown action {other:?}")),
        };
        match done {
            Ok(t) => self.report(&t, requested),
            Err(e) => error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlantableDefect;

    #[test]
    fn amounts_in_cents_exactly_and_as_the_defects_misread_them() {
        let pos = |defects| ZvtPos {
            tcp: String::new(),
            serial: None,
            password: 0,
            defects,
        };
        let action = |a: &str| json!({ "amount": a });
        // PA00P015 §2.2: BMP 04 is the amount in cents.
        for (text, want) in [("19.99", 1999), ("0.01", 1), ("1234.56", 123_456), ("12.5", 1250)] {
            assert_eq!(pos(vec![]).amount(&action(text), "amount"), Some(want), "{text}");
        }
        assert_eq!(
            pos(vec![Defect::FloatAmount]).amount(&action("19.99"), "amount"),
            Some(1998)
        );
        assert_eq!(
            pos(vec![Defect::CentsDropped]).amount(&action("19.99"), "amount"),
            Some(1900)
        );
    }

    /// The `--defect` names are a command-line contract (scripts and CI jobs plant them by name).
    #[test]
    fn defect_names_are_stable() {
        assert_eq!(
            Defect::names(),
            [
                "no-status-ack",
                "early-give-up",
                "abort-as-success",
                "binary-amount",
                "no-dle-doubling",
                "wrong-crc",
                "ignore-nak",
                "big-endian-length",
                "float-amount",
                "cents-dropped",
                "requested-amount-reported",
                "book-reserved-amount",
                "decline-as-error",
                "repeated-status-as-error",
                "books-requested-amount",
                "no-banner-skip",
                "bare-ack-only",
                "refusal-as-success"
            ]
        );
    }
}

//! The PAYBACK host as the terminal sees it, for the Austrian redemption through the card
//! terminal (seed 000: PIN and point selection on the terminal, the EUR value back to the till).
//!
//! [ours] No public document describes that flow; the terminal side is our design
//! (`virtual-terminal/README.md`, "PAYBACK redemption"). The terminal crate only knows this trait;
//! the `possim` binary implements it in-process on the PAYBACK mock's domain functions, so the
//! terminal and a till talking HTTP to the mock book against one state. Calls answer at once
//! (one lock, no I/O), so the state machine still never blocks.

/// Why the host did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The host could not be reached, or its answer was lost: something may be booked. A
    /// booking call answered so is repeated with the same transaction id (PAYBACK replays what
    /// it booked) to find out.
    Unreachable(String),
    /// The host refused, with its stable error code (`PIN_INVALID`, `PIN_LOCKED`, ...).
    Refused {
        /// The PAYBACK error code.
        code: String,
        /// Its text.
        message: String,
    },
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Unreachable(why) => write!(f, "PAYBACK host not reachable ({why})"),
            HostError::Refused { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

/// A right PIN: the token for the redemption and the balance to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Short-lived PIN token.
    pub token: String,
    /// Balance in points.
    pub balance: i64,
    /// What of it may be redeemed (0 when unregistered or below the 200-point minimum).
    pub redeemable: i64,
}

/// A redemption to book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemRequest {
    /// Partner short name the terminal books under.
    pub partner: String,
    /// Idempotency key (the terminal's id and trace number).
    pub transaction_id: String,
    /// From [`PaybackHost::authenticate`].
    pub token: String,
    /// Points the customer chose.
    pub points: i64,
    /// The basket total the till sent as the amount (the most the points may be worth).
    pub basket_cents: i64,
    /// The terminal's receipt number.
    pub receipt: String,
}

/// A booked redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// PAYBACK's id, for the reversal.
    pub redemption_id: String,
    /// Points taken.
    pub points: i64,
    /// Their value in cents (1 point = 1 cent).
    pub amount_cents: i64,
    /// Balance afterwards.
    pub new_balance: i64,
}

/// A reversed redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversed {
    /// Points given back.
    pub points: i64,
    /// Balance afterwards.
    pub new_balance: i64,
}

/// The PAYBACK host the terminal books redemptions at.
pub trait PaybackHost: Send + Sync + std::fmt::Debug {
    /// Checks the PIN typed on the terminal (a wrong one counts towards the lock).
    fn authenticate(&self, partner: &str, card: &str, pin: &str) -> Result<Authenticated, HostError>;
    /// Books a redemption.
    fn redeem(&self, request: &RedeemRequest) -> Result<Redeemed, HostError>;
    /// Gives a redemption's points back (Reversal 06 30, or the terminal's automatic reversal).
    fn reverse(&self, partner: &str, redemption_id: &str, transaction_id: &str) -> Result<Reversed, HostError>;
    /// Credits `points` of redemption `redemption_id` back to the member, a partial reversal at
    /// PAYBACK (`redemptions/{id}/reversal` with `points`): Refund 06 31 with E1 C1 "MW".
    fn credit(
        &self,
        partner: &str,
        redemption_id: &str,
        transaction_id: &str,
        points: i64,
    ) -> Result<Reversed, HostError>;
}

/// The result code the terminal ends with when PAYBACK refuses (PA00P015 chapter 10) [ours].
pub fn result_code(error: &HostError) -> u8 {
    match error {
        HostError::Unreachable(_) => crate::machine::rc::NO_CONNECTION,
        HostError::Refused { code, .. } => match code.as_str() {
            "PIN_LOCKED" => crate::machine::rc::PIN_TRIES_EXCEEDED,
            "PIN_INVALID" => crate::machine::rc::ABORTED,
            "BELOW_MIN_REDEMPTION" => crate::machine::rc::BELOW_MINIMUM,
            "INSUFFICIENT_POINTS" => crate::machine::rc::INSUFFICIENT_FUNDS,
            "AMOUNT_EXCEEDS_BASKET" => crate::machine::rc::AMOUNT_EXCEEDS_BASKET,
            "CARD_UNKNOWN" | "CARD_INVALID_CHECKDIGIT" => crate::machine::rc::CARD_UNKNOWN,
            "CARD_BLOCKED" => crate::machine::rc::CARD_BLOCKED,
            "ALREADY_REVERSED" => crate::machine::rc::ALREADY_REVERSED,
            "REFERENCE_NOT_FOUND" => crate::machine::rc::REVERSAL_NOT_POSSIBLE,
            _ => crate::machine::rc::DECLINED,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use possim_zvt::messages::{Authorisation, Registration, Reversal};
    use possim_zvt::{Amount, Message};

    use super::*;
    use crate::config::{CardKind, TerminalConfig};
    use crate::customer::{CustomerScript, Outcome};
    use crate::fake_payback::{FakeHost, refused};
    use crate::machine::{Action, BookingKind, ConnectionId, Terminal, rc};

    /// The one ECR connection of these tests.
    const ECR: ConnectionId = 1;

    /// Every PAYBACK refusal's result code as `virtual-terminal/README.md` ("PAYBACK
    /// redemption") documents it, as literals: a wrong constant in `rc` or a wrong arm in
    /// `result_code` both show here.
    #[test]
    fn each_payback_refusal_ends_with_its_documented_result_code() {
        for (code, expected) in [
            ("PIN_LOCKED", 75),
            ("PIN_INVALID", 0x6C),
            ("BELOW_MIN_REDEMPTION", 0xC8),
            ("INSUFFICIENT_POINTS", 51),
            ("AMOUNT_EXCEEDS_BASKET", 0xC3),
            ("CARD_UNKNOWN", 0x7A),
            ("CARD_INVALID_CHECKDIGIT", 0x7A),
            ("CARD_BLOCKED", 0x6E),
            ("ALREADY_REVERSED", 0xB4),
            ("REFERENCE_NOT_FOUND", 0xB5),
            // Anything else: 05, declined.
            ("PARTNER_UNKNOWN", 0x05),
            ("", 0x05),
        ] {
            assert_eq!(result_code(&refused(code)), expected, "{code}");
        }
        assert_eq!(result_code(&HostError::Unreachable("timeout".into())), 0xA3);
    }

    const BALANCE: i64 = 5300;

    fn terminal() -> (Terminal, Arc<FakeHost>) {
        let mut config = TerminalConfig::default();
        config.cards.push(crate::config::Card {
            name: "payback".into(),
            kind: crate::config::CardKind::Payback,
            pan: "9999998765432108".into(),
            expiry: "3012".into(),
            pin: "1234".into(),
            limit_cents: 0,
        });
        let host = Arc::new(FakeHost::with_balance(BALANCE));
        let mut t = Terminal::new(config);
        t.set_payback_host(Some(host.clone()));
        let registration = Message::Registration(Registration {
            password: possim_zvt::messages::Password(0),
            config: 0xBE,
            currency: Some(978),
            ..Registration::default()
        });
        run(&mut t, &registration.encode().unwrap());
        (t, host)
    }

    /// Sends a command and acknowledges every message until the terminal is done; returns the
    /// terminal's messages (its 80 00 00 first).
    fn run(t: &mut Terminal, command: &[u8]) -> Vec<Vec<u8>> {
        crate::test_driver::run_acknowledged(t, ECR, command)
    }

    /// Sends a command and acknowledges every message until the terminal sends one that starts
    /// with `prefix` (not acknowledged); panics when it does not come within 200 messages.
    fn run_until(t: &mut Terminal, command: &[u8], prefix: &[u8]) {
        let mut out = t.on_apdu(ECR, command, 0);
        for _ in 0..200 {
            if out
                .iter()
                .any(|o| matches!(&o.action, Action::Send(apdu) if apdu.encode().starts_with(prefix)))
            {
                return;
            }
            assert!(t.busy(), "the terminal finished without sending {prefix:02X?}");
            out = t.on_apdu(ECR, &[0x80, 0x00, 0x00], 0);
        }
        panic!("the terminal did not send {prefix:02X?}");
    }

    fn redeem_command(basket: u64) -> Vec<u8> {
        Message::Authorisation(Authorisation {
            amount: Some(Amount(basket)),
            currency: Some(978),
            card_type: Some(CardKind::Payback.card_type_id()),
            ..Authorisation::default()
        })
        .encode()
        .unwrap()
    }

    fn status_of(sent: &[Vec<u8>]) -> possim_zvt::messages::StatusInformation {
        let apdu = sent
            .iter()
            .find(|a| a.starts_with(&[0x04, 0x0F]))
            .expect("a status information");
        match Message::decode(apdu).unwrap() {
            Message::StatusInformation(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn balance(host: &FakeHost) -> i64 {
        host.ledger().balance
    }

    #[test]
    fn whole_basket_is_redeemed_and_returned_as_euro_value() {
        let (mut t, host) = terminal();
        let basket = 2500;
        let sent = run(&mut t, &redeem_command(basket));
        assert_eq!(sent.last().unwrap(), &vec![0x06, 0x0F, 0x00]);
        // 1 point = 1 cent, at most the basket: the whole basket of 25.00 EUR.
        assert_eq!(status_of(&sent).amount, Some(Amount(basket)));
        assert_eq!(status_of(&sent).card_type, Some(202));
        assert_eq!(CardKind::Payback.card_type_id(), 202);
        assert_eq!(balance(&host), BALANCE - 2500);
        let booked = &t.batch()[0];
        assert_eq!((booked.kind, booked.amount), (BookingKind::PaybackRedemption, basket));
        // Vouchers are not card turnover.
        assert_eq!(t.totals().1, 0);
    }

    #[test]
    fn a_basket_above_the_balance_takes_all_points() {
        let (mut t, host) = terminal();
        let sent = run(&mut t, &redeem_command(8000));
        assert_eq!(status_of(&sent).amount, Some(Amount(5300)));
        assert_eq!(balance(&host), 0);
    }

    #[test]
    fn wrong_pin_is_asked_again_and_the_third_locks() {
        let (mut t, host) = terminal();
        t.script_next(CustomerScript {
            pins: vec!["1111".into(), "1234".into()],
            ..CustomerScript::default()
        })
        .unwrap();
        let sent = run(&mut t, &redeem_command(1000));
        assert!(sent.contains(&vec![0x04, 0xFF, 0x01, 0x15]), "incorrect PIN shown");
        assert_eq!(sent.last().unwrap(), &vec![0x06, 0x0F, 0x00]);
        assert_eq!(balance(&host), BALANCE - 1000);

        let (mut t, host) = terminal();
        t.script_next(CustomerScript {
            wrong_pins: 3,
            ..CustomerScript::default()
        })
        .unwrap();
        let sent = run(&mut t, &redeem_command(1000));
        assert!(sent.contains(&vec![0x04, 0xFF, 0x01, 0x18]), "PIN try limit shown");
        assert_eq!(sent.last().unwrap(), &vec![0x06, 0x1E, 0x01, 75]);
        assert_eq!(balance(&host), BALANCE);
        assert!(t.batch().is_empty());
    }

    #[test]
    fn abort_unreachable_host_and_lost_acknowledgement_book_nothing() {
        for (outcome, code) in [(Outcome::CustomerAbort, 0x6C), (Outcome::HostUnreachable, 0xA3)] {
            let (mut t, host) = terminal();
            t.script_next(CustomerScript {
                outcome,
                ..CustomerScript::default()
            })
            .unwrap();
            let sent = run(&mut t, &redeem_command(1000));
            assert_eq!(sent.last().unwrap(), &vec![0x06, 0x1E, 0x01, code], "{outcome:?}");
            assert_eq!(balance(&host), BALANCE);
        }
        // Booked at PAYBACK, then the ECR never acknowledges the Status-Information: the
        // terminal reverses at PAYBACK.
        let (mut t, host) = terminal();
        run_until(&mut t, &redeem_command(1000), &[0x04, 0x0F]);
        assert_eq!(balance(&host), BALANCE - 1000);
        let notes = t.on_timer(ECR, 5_000);
        assert!(
            notes
                .iter()
                .any(|o| matches!(&o.action, Action::Note(n) if n.contains("reversed")))
        );
        assert_eq!(balance(&host), BALANCE);
        assert!(t.batch().is_empty());
    }

    /// PAYBACK books before the terminal sends 04 FF 0B (remove card), which carries no commit:
    /// the ECR gone, or silent, at that status must reverse the booking as well.
    #[test]
    fn a_booking_lost_at_the_remove_card_status_is_reversed() {
        let remove_card = [0x04, 0xFF, 0x01, crate::machine::status::REMOVE_CARD];
        let (mut t, host) = terminal();
        run_until(&mut t, &redeem_command(1000), &remove_card);
        assert_eq!(balance(&host), BALANCE - 1000);
        let out = t.disconnected(ECR);
        assert!(
            out.iter()
                .any(|o| matches!(&o.action, Action::Note(n) if n.contains("redemption R1 reversed"))),
            "{out:?}"
        );
        assert_eq!(balance(&host), BALANCE);
        assert!(t.batch().is_empty() && !t.busy());

        let (mut t, host) = terminal();
        run_until(&mut t, &redeem_command(1000), &remove_card);
        t.on_timer(ECR, 5_000);
        assert_eq!(balance(&host), BALANCE);
        assert!(t.batch().is_empty() && !t.busy());

        // A negative answer to the 04 0F reverses once, not twice.
        let (mut t, host) = terminal();
        run_until(&mut t, &redeem_command(1000), &[0x04, 0x0F]);
        let out = t.on_apdu(ECR, &[0x84, 0x66, 0x00], 0);
        let reversed = out
            .iter()
            .filter(|o| matches!(&o.action, Action::Note(n) if n.contains("reversed")))
            .count();
        assert_eq!(reversed, 1, "{out:?}");
        assert_eq!(balance(&host), BALANCE);
        assert!(t.batch().is_empty());

        // Acknowledged 04 0F: committed, a later loss of the link changes nothing.
        let (mut t, host) = terminal();
        run_until(&mut t, &redeem_command(1000), &[0x04, 0x0F]);
        t.on_apdu(ECR, &[0x80, 0x00, 0x00], 0);
        t.disconnected(ECR);
        assert_eq!(balance(&host), BALANCE - 1000);
        assert_eq!(t.batch().len(), 1);
    }

    /// The booking's answer lost: the terminal asks again with the same transaction id, which
    /// replays the booking, reverses it and aborts with A3.
    #[test]
    fn a_lost_booking_answer_is_asked_again_and_what_it_booked_reversed() {
        let (mut t, host) = terminal();
        host.ledger().lose = 1;
        let sent = run(&mut t, &redeem_command(1000));
        assert_eq!(sent.last().unwrap(), &vec![0x06, 0x1E, 0x01, rc::NO_CONNECTION]);
        assert_eq!(balance(&host), BALANCE);
        let ledger = host.ledger();
        // One booking only (the repeat was a replay), and it is reversed.
        assert_eq!(ledger.redemptions.len(), 1);
        assert!(ledger.redemptions[0].reversed);
        drop(ledger);
        assert!(t.batch().is_empty());

        // Both answers lost: the terminal still aborts, and says it cannot know.
        let (mut t, host) = terminal();
        host.ledger().lose = 2;
        let mut notes = Vec::new();
        let mut out = t.on_apdu(ECR, &redeem_command(1000), 0);
        for _ in 0..200 {
            notes.extend(out.iter().filter_map(|o| match &o.action {
                Action::Note(n) => Some(n.clone()),
                _ => None,
            }));
            if !t.busy() {
                break;
            }
            out = t.on_apdu(ECR, &[0x80, 0x00, 0x00], 0);
        }
        assert!(!t.busy());
        assert!(notes.iter().any(|n| n.contains("unknown")), "{notes:?}");
        assert!(t.batch().is_empty());
    }

    /// 1F1F one less than the last receipt, and that receipt is a PAYBACK redemption: the ECR
    /// never learnt it, so the terminal reverses it at PAYBACK too and reuses the number.
    #[test]
    fn resynchronisation_reverses_an_unknown_redemption_at_payback() {
        let (mut t, host) = terminal();
        let sent = run(&mut t, &redeem_command(1000));
        assert_eq!(status_of(&sent).receipt, Some(possim_zvt::bmp::ReceiptNo::Number(1)));
        assert_eq!(balance(&host), BALANCE - 1000);
        let payment = Message::Authorisation(Authorisation {
            amount: Some(Amount(500)),
            currency: Some(978),
            tlv: Some(possim_zvt::TlvContainer::new(vec![possim_zvt::Tlv::primitive(
                possim_zvt::Tag::new(0x1F1F).unwrap(),
                vec![0x00],
            )])),
            ..Authorisation::default()
        })
        .encode()
        .unwrap();
        let sent = run(&mut t, &payment);
        assert_eq!(sent.last().unwrap(), &vec![0x06, 0x0F, 0x00]);
        assert_eq!(balance(&host), BALANCE);
        assert!(host.ledger().redemptions[0].reversed, "reversed at PAYBACK");
        let batch = t.batch();
        assert_eq!(batch.len(), 1);
        assert_eq!((batch[0].kind, batch[0].receipt), (BookingKind::Payment, 1));
    }

    #[test]
    fn reversal_by_receipt_gives_the_points_back_once() {
        let (mut t, host) = terminal();
        let sent = run(&mut t, &redeem_command(1000));
        let Some(possim_zvt::bmp::ReceiptNo::Number(receipt)) = status_of(&sent).receipt else {
            panic!("no receipt");
        };
        let reversal = Message::Reversal(Reversal {
            password: possim_zvt::messages::Password(0),
            receipt: Some(possim_zvt::bmp::ReceiptNo::Number(receipt)),
            ..Reversal::default()
        })
        .encode()
        .unwrap();
        let sent = run(&mut t, &reversal);
        assert_eq!(sent.last().unwrap(), &vec![0x06, 0x0F, 0x00]);
        assert_eq!(balance(&host), BALANCE);
        assert!(t.batch()[0].reversed);
        let again = run(&mut t, &reversal);
        assert_eq!(again.last().unwrap(), &vec![0x06, 0x1E, 0x01, 0xB4]);
        assert_eq!(balance(&host), BALANCE);
    }
}

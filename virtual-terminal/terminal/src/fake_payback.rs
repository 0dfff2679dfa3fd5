//! A PAYBACK host for tests of the terminal without the PAYBACK mock: the unit tests of
//! `payback` and the transcript tests (`tests/transcripts.rs`, through the `test-support`
//! feature) share it, so both meet the same programme rules.
//!
//! The rules (the PAYBACK mock's, `mocks/payback/README.md`): the PIN locked at the third wrong
//! entry in a row, at least 200 points, at most the balance and the basket (1 point = 1 cent), a
//! booking replayed for its transaction id, a reversal once, a partial reversal (credit) of at
//! most what is left of the redemption. `lose` booking answers are lost after the booking: the
//! host booked, the terminal does not learn it.

use std::sync::{Mutex, MutexGuard};

use crate::payback::{Authenticated, HostError, PaybackHost, RedeemRequest, Redeemed, Reversed};

/// The PAYBACK card of the default data set (`zvt.toml`), the only one the fake host knows.
pub const CARD: &str = "9999998765432108";
/// Its PIN.
pub const PIN: &str = "1234";

/// One booked redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    /// The host's id (`R1`, `R2`, …).
    pub id: String,
    /// Points still booked (a credit lowers them).
    pub points: i64,
    /// Reversed (or credited in full).
    pub reversed: bool,
    /// The terminal's idempotency key.
    pub transaction_id: String,
}

/// The member's account at the fake host.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Points.
    pub balance: i64,
    /// Wrong PINs in a row.
    pub wrong_pins: u8,
    /// Every booked redemption, oldest first.
    pub redemptions: Vec<Redemption>,
    /// How many of the next booking answers are lost after booking.
    pub lose: u8,
}

/// The fake host (see the module documentation).
#[derive(Debug, Default)]
pub struct FakeHost(Mutex<Ledger>);

/// A refusal with the host's code; its text is the code in lowercase words.
pub fn refused(code: &str) -> HostError {
    HostError::Refused {
        code: code.into(),
        message: code.to_lowercase().replace('_', " "),
    }
}

impl FakeHost {
    /// A host with `ledger`.
    pub fn new(ledger: Ledger) -> Self {
        Self(Mutex::new(ledger))
    }

    /// A host whose member has `balance` points.
    pub fn with_balance(balance: i64) -> Self {
        Self::new(Ledger {
            balance,
            ..Ledger::default()
        })
    }

    /// The account, to read or to change between commands.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PaybackHost for FakeHost {
    fn authenticate(&self, _partner: &str, card: &str, pin: &str) -> Result<Authenticated, HostError> {
        let mut l = self.ledger();
        if card != CARD {
            return Err(refused("CARD_UNKNOWN"));
        }
        if l.wrong_pins >= 3 {
            return Err(refused("PIN_LOCKED"));
        }
        if pin != PIN {
            l.wrong_pins += 1;
            return Err(refused(if l.wrong_pins >= 3 { "PIN_LOCKED" } else { "PIN_INVALID" }));
        }
        l.wrong_pins = 0;
        Ok(Authenticated {
            token: "token-1".into(),
            balance: l.balance,
            redeemable: if l.balance >= 200 { l.balance } else { 0 },
        })
    }

    fn redeem(&self, r: &RedeemRequest) -> Result<Redeemed, HostError> {
        let mut l = self.ledger();
        let replay = l.redemptions.iter().find(|b| b.transaction_id == r.transaction_id);
        let answer = if let Some(booked) = replay {
            Ok(Redeemed {
                redemption_id: booked.id.clone(),
                points: booked.points,
                amount_cents: booked.points,
                new_balance: l.balance,
            })
        } else if r.points < 200 {
            Err(refused("BELOW_MIN_REDEMPTION"))
        } else if r.points > l.balance {
            Err(refused("INSUFFICIENT_POINTS"))
        } else if r.points > r.basket_cents {
            Err(refused("AMOUNT_EXCEEDS_BASKET"))
        } else {
            l.balance -= r.points;
            let id = format!("R{}", l.redemptions.len() + 1);
            l.redemptions.push(Redemption {
                id: id.clone(),
                points: r.points,
                reversed: false,
                transaction_id: r.transaction_id.clone(),
            });
            Ok(Redeemed {
                redemption_id: id,
                points: r.points,
                amount_cents: r.points,
                new_balance: l.balance,
            })
        };
        if l.lose > 0 {
            l.lose -= 1;
            return Err(HostError::Unreachable("answer lost".into()));
        }
        answer
    }

    fn reverse(&self, _partner: &str, id: &str, _transaction_id: &str) -> Result<Reversed, HostError> {
        let mut l = self.ledger();
        let Some(i) = l.redemptions.iter().position(|r| r.id == id) else {
            return Err(refused("REFERENCE_NOT_FOUND"));
        };
        if l.redemptions[i].reversed {
            return Err(refused("ALREADY_REVERSED"));
        }
        l.redemptions[i].reversed = true;
        let points = l.redemptions[i].points;
        l.balance += points;
        Ok(Reversed {
            points,
            new_balance: l.balance,
        })
    }

    /// A partial reversal: at most the redemption's points not given back yet.
    fn credit(&self, _partner: &str, id: &str, _transaction_id: &str, points: i64) -> Result<Reversed, HostError> {
        let mut l = self.ledger();
        let Some(i) = l.redemptions.iter().position(|r| r.id == id) else {
            return Err(refused("REFERENCE_NOT_FOUND"));
        };
        if l.redemptions[i].reversed {
            return Err(refused("ALREADY_REVERSED"));
        }
        if points > l.redemptions[i].points {
            return Err(refused("REVERSAL_EXCEEDS_ORIGINAL"));
        }
        // What is left of the redemption after the credit; all of it credited: reversed.
        l.redemptions[i].points -= points;
        l.redemptions[i].reversed = l.redemptions[i].points == 0;
        l.balance += points;
        Ok(Reversed {
            points,
            new_balance: l.balance,
        })
    }
}

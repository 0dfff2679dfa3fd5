//! The virtual terminal's PAYBACK host (Austria, seed 000) [ours]: the terminal's
//! `PaybackHost` calls run in-process on the PAYBACK mock's domain functions and state, so a
//! redemption booked through the terminal and one booked by a till over HTTP share one ledger.
//! The PAYBACK fault rules apply to these calls as to HTTP requests (provider `payback`, method
//! `POST`, the endpoint's path), with the meaning the HTTP transport gives them
//! (`possim_engine::http`): `close` is not served (unreachable, nothing booked); `truncate` and
//! `malform` are served and the answer is lost (unreachable, but booked); `respond` is the
//! refusal its body's `code` names (unreachable without one: an answer the terminal cannot
//! read); `competingChange` applies the change, then serves; a delay or a quirk serves normally.

use std::sync::{Arc, Weak};

use possim_engine::Engine;
use possim_engine::fault::{FaultAction, RequestView};
use possim_engine::provider::Provider;
use possim_payback::domain;
use possim_payback::errors::PaybackError;
use possim_terminal::payback::{Authenticated, HostError, PaybackHost, RedeemRequest, Redeemed, Reversed};
use serde_json::{Value, json};

/// The PAYBACK mock as the terminal's host.
#[derive(Debug)]
pub struct MockHost {
    mock: possim_payback::PaybackMock,
    // Weak: the engine owns the terminal, which owns this host.
    engine: Weak<Engine>,
}

impl MockHost {
    /// A host on this mock; `engine` supplies the fault rules.
    pub fn new(mock: possim_payback::PaybackMock, engine: Arc<Engine>) -> Self {
        Self {
            mock,
            engine: Arc::downgrade(&engine),
        }
    }

    /// The fault rule for `path` that fires on this call, if any: what it does to the call.
    fn fault(&self, path: &str, body: &Value) -> Fault {
        let Some(engine) = self.engine.upgrade() else {
            return Fault::Serve;
        };
        let body = body.to_string();
        let Some(fired) = engine.faults().evaluate(&RequestView {
            provider: "payback",
            method: "POST",
            path,
            query: "",
            body: body.as_bytes(),
        }) else {
            return Fault::Serve;
        };
        let kind = fired.action.kind();
        match fired.action {
            // The in-process calls answer at once (the delay is not simulated); PAYBACK has no
            // quirks, so a quirk rule serves normally, as over HTTP.
            FaultAction::Delay | FaultAction::Quirk { .. } => Fault::Serve,
            FaultAction::Close => Fault::NotServed(format!("fault rule: {kind}, not served")),
            FaultAction::Truncate | FaultAction::Malform => {
                Fault::AnswerLost(format!("fault rule: {kind}, the answer was lost"))
            }
            FaultAction::Respond { status, body, .. } => {
                let field = |key: &str| body.as_ref().and_then(|b| b.get(key)).and_then(Value::as_str);
                match field("code") {
                    Some(code) => Fault::Answer(HostError::Refused {
                        code: code.to_owned(),
                        message: field("message").unwrap_or("fault rule: respond").to_owned(),
                    }),
                    None => Fault::NotServed(format!("fault rule: respond {status} without an error code")),
                }
            }
            FaultAction::CompetingChange { change } => {
                // As over HTTP: applied right before the call, whatever it answers; then served.
                let _ = self.mock.apply_change(&change);
                Fault::Serve
            }
        }
    }

    /// Runs `op` on the mock's state as the HTTP endpoint `path` would with `body`, the fault
    /// rules for that endpoint applied, and hands its typed answer to `read`.
    fn run<A, T>(
        &self,
        path: &str,
        body: Value,
        op: impl FnOnce(&mut possim_payback::model::State, &Value, i64) -> Result<A, PaybackError>,
        read: impl FnOnce(A) -> T,
    ) -> Result<T, HostError> {
        let fault = self.fault(path, &body);
        match fault {
            Fault::NotServed(why) => return Err(HostError::Unreachable(why)),
            Fault::Answer(error) => return Err(error),
            Fault::Serve | Fault::AnswerLost(_) => {}
        }
        let inner = self.mock.inner();
        let now = inner.clock().now_ms();
        let answer = {
            let mut state = inner.lock();
            op(&mut state, &body, now)
        };
        if let Fault::AnswerLost(why) = fault {
            return Err(HostError::Unreachable(why));
        }
        answer.map(read).map_err(|e| HostError::Refused {
            code: e.code().to_owned(),
            message: e.to_string(),
        })
    }
}

/// What a PAYBACK fault rule does to one of the terminal's calls.
enum Fault {
    /// Served normally (no rule, a delay, a quirk, a competing change already applied).
    Serve,
    /// Not served at all (`close`, a `respond` without an error code): nothing booked.
    NotServed(String),
    /// Served, the answer lost on the way back (`truncate`, `malform`): booked, the terminal
    /// does not know.
    AnswerLost(String),
    /// This answer instead of the host's (`respond` with an error `code`).
    Answer(HostError),
}

fn parsed<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, PaybackError> {
    domain::parse(body.to_string().as_bytes()).map(|(request, _)| request)
}

impl PaybackHost for MockHost {
    fn authenticate(&self, partner: &str, card: &str, pin: &str) -> Result<Authenticated, HostError> {
        self.run(
            "/members/authenticate",
            json!({"cardNumber": card, "pin": pin}),
            |state, body, now| domain::authenticate(state, partner, &parsed(body)?, now),
            |answer| Authenticated {
                token: answer.pin_token,
                balance: answer.balance,
                redeemable: answer.redeemable_balance,
            },
        )
    }

    fn redeem(&self, r: &RedeemRequest) -> Result<Redeemed, HostError> {
        self.run(
            "/redemptions",
            json!({
                "transactionId": r.transaction_id,
                "pinToken": r.token,
                "points": r.points,
                "basketTotalCents": r.basket_cents,
                "receiptNumber": r.receipt,
            }),
            |state, body, now| domain::redeem(state, &r.partner, &parsed(body)?, body, now),
            |answer| Redeemed {
                redemption_id: answer.redemption_id,
                points: answer.redeemed_points,
                amount_cents: answer.amount_cents,
                new_balance: answer.new_balance,
            },
        )
    }

    fn reverse(&self, partner: &str, redemption_id: &str, transaction_id: &str) -> Result<Reversed, HostError> {
        self.run(
            &format!("/redemptions/{redemption_id}/reversal"),
            json!({"transactionId": transaction_id}),
            |state, body, now| domain::reverse_redemption(state, partner, redemption_id, &parsed(body)?, body, now),
            |answer| Reversed {
                points: answer.rebooked_points,
                new_balance: answer.new_balance,
            },
        )
    }
    fn credit(
        &self,
        partner: &str,
        redemption_id: &str,
        transaction_id: &str,
        points: i64,
    ) -> Result<Reversed, HostError> {
        self.run(
            &format!("/redemptions/{redemption_id}/reversal"),
            json!({"transactionId": transaction_id, "points": points}),
            |state, body, now| domain::reverse_redemption(state, partner, redemption_id, &parsed(body)?, body, now),
            |answer| Reversed {
                points: answer.rebooked_points,
                new_balance: answer.new_balance,
            },
        )
    }
}

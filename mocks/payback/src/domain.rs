//! The PAYBACK operations as pure functions over [`State`]: lookup, PIN authentication, collecting
//! points on a purchase, redemption, reversals, coupons, branch geolocation. Each function checks
//! everything before it changes anything, so a refused request leaves the state untouched.
//!
//! Every mutating operation carries the till's `transactionId`: the same id with the same request
//! replays the original answer (nothing is booked twice); the same id with a different request is
//! refused with `DUPLICATE_TRANSACTION`. Refusals are not stored, so a till may retry a refused
//! request with the same id once the cause is gone.

use possim_engine::clock::Millis;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::answers::{
    Authenticated, CardSummary, CouponActivated, CouponOutcome, CouponValidity, GeolocationUpdated, Lookup,
    PurchaseBooked, PurchaseReversed, RedemptionBooked, RedemptionReversed, Replayable,
};
use crate::card::{self, CardProblem, CardRef};
use crate::errors::PaybackError;
use crate::model::{
    Coupon, CouponType, Idempotent, Lot, MIN_REDEMPTION, Member, MemberStatus, PIN_TOKEN_MS, PIN_TRIES, PinToken,
    Purchase, Redemption, State, expires_at,
};
use crate::retention;

/// Amounts above this (10^11 cents = 1 billion EUR) are refused, so no sum can overflow.
const MAX_CENTS: i64 = 100_000_000_000;
/// Points above this in one request are refused.
const MAX_POINTS: i64 = 1_000_000_000;

/// Parses a JSON body into a request type with a message that names the problem.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<(T, Value), PaybackError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| PaybackError::InvalidRequest(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(PaybackError::InvalidRequest("the body must be a JSON object".into()));
    }
    let parsed = serde_json::from_value(value.clone()).map_err(|e| PaybackError::InvalidRequest(e.to_string()))?;
    Ok((parsed, value))
}

fn check_cents(name: &str, value: i64) -> Result<i64, PaybackError> {
    if (0..=MAX_CENTS).contains(&value) {
        Ok(value)
    } else {
        Err(PaybackError::InvalidRequest(format!(
            "{name} must be 0..={MAX_CENTS} cents"
        )))
    }
}

fn check_points(name: &str, value: i64) -> Result<i64, PaybackError> {
    if (1..=MAX_POINTS).contains(&value) {
        Ok(value)
    } else {
        Err(PaybackError::InvalidRequest(format!("{name} must be 1..={MAX_POINTS}")))
    }
}

fn required_text(name: &str, value: &str) -> Result<(), PaybackError> {
    if value.trim().is_empty() || value.len() > 64 {
        return Err(PaybackError::InvalidRequest(format!(
            "{name} must be 1 to 64 characters"
        )));
    }
    Ok(())
}

/// The member behind a card or customer number, refusing blocked cards and members.
pub fn resolve<'a>(state: &'a State, number: &str) -> Result<&'a Member, PaybackError> {
    let customer = match card::parse(number) {
        Err(CardProblem::CheckDigit) => return Err(PaybackError::CardInvalidCheckDigit),
        Err(CardProblem::Format) => {
            return Err(PaybackError::InvalidRequest(
                "cardNumber must be a 16-digit card number or a 10-digit customer number".into(),
            ));
        }
        Ok(CardRef::Customer(c)) => c,
        Ok(CardRef::Card(n)) => state.cards.get(&n).cloned().ok_or(PaybackError::CardUnknown)?,
    };
    let member = state.members.get(&customer).ok_or(PaybackError::CardUnknown)?;
    let digits: String = number.chars().filter(|c| *c != ' ').collect();
    let card_blocked = member.cards.iter().any(|c| c.number == digits && c.blocked);
    if card_blocked || matches!(member.status, MemberStatus::Blocked | MemberStatus::Closed) {
        return Err(PaybackError::CardBlocked);
    }
    Ok(member)
}

fn member_mut<'a>(state: &'a mut State, customer: &str) -> &'a mut Member {
    // Callers resolved the member under the same lock a moment ago.
    state
        .members
        .get_mut(customer)
        .unwrap_or_else(|| unreachable!("member {customer} was resolved under the same lock"))
}

/// `POST /members/lookup`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupRequest {
    /// Card or customer number.
    #[serde(default)]
    pub card_number: Option<String>,
    /// Customer number.
    #[serde(default)]
    pub customer_number: Option<String>,
}

/// Status and masked name; no balance without the PIN.
pub fn lookup(state: &State, req: &LookupRequest) -> Result<Lookup, PaybackError> {
    let number = req
        .card_number
        .as_deref()
        .or(req.customer_number.as_deref())
        .ok_or_else(|| PaybackError::InvalidRequest("give cardNumber or customerNumber".into()))?;
    let member = resolve(state, number)?;
    Ok(Lookup {
        customer_number: member.customer_number.clone(),
        status: member.status,
        masked_name: member.masked_name(),
        pin_locked: member.pin_failures >= PIN_TRIES,
        cards: member
            .cards
            .iter()
            .map(|c| CardSummary {
                kind: c.kind,
                number: card::mask(&c.number),
                blocked: c.blocked,
            })
            .collect(),
    })
}

/// `POST /members/authenticate`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthRequest {
    /// Card or customer number.
    pub card_number: String,
    /// 4 digits.
    pub pin: String,
}

/// Checks the PIN, counting failures; the third wrong entry locks the PIN.
fn check_pin(state: &mut State, customer: &str, pin: &str) -> Result<(), PaybackError> {
    if pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PaybackError::InvalidRequest("pin must be 4 digits".into()));
    }
    let member = member_mut(state, customer);
    if member.pin_failures >= PIN_TRIES {
        return Err(PaybackError::PinLocked);
    }
    if member.pin != pin {
        member.pin_failures += 1;
        return Err(if member.pin_failures >= PIN_TRIES {
            PaybackError::PinLocked
        } else {
            PaybackError::PinInvalid {
                remaining: PIN_TRIES - member.pin_failures,
            }
        });
    }
    member.pin_failures = 0;
    Ok(())
}

/// A PIN token, the balance, and what of it is redeemable (0 below the minimum).
pub fn authenticate(
    state: &mut State,
    partner: &str,
    req: &AuthRequest,
    now: Millis,
) -> Result<Authenticated, PaybackError> {
    let customer = resolve(state, &req.card_number)?.customer_number.clone();
    check_pin(state, &customer, &req.pin)?;
    state.pin_tokens.retain(|_, t| t.expires_at > now);
    let token = state.next_id("PT");
    state.pin_tokens.insert(
        token.clone(),
        PinToken {
            customer_number: customer.clone(),
            partner: partner.to_owned(),
            expires_at: now + PIN_TOKEN_MS,
        },
    );
    retention::pin_token_issued(state, partner, &token);
    let member = member_mut(state, &customer);
    member.expire(now);
    let balance = member.balance(now);
    let redeemable = if member.status == MemberStatus::Registered && balance >= MIN_REDEMPTION {
        balance
    } else {
        0
    };
    Ok(Authenticated {
        pin_token: token,
        expires_at: possim_engine::clock::format_rfc3339(now + PIN_TOKEN_MS),
        customer_number: customer,
        status: member.status,
        balance,
        redeemable_balance: redeemable,
    })
}

/// Runs `op` once per (partner, transactionId): replays a stored answer for the same request,
/// refuses a different request under the same id.
fn idempotent<A: Replayable>(
    state: &mut State,
    partner: &str,
    transaction_id: &str,
    operation: &str,
    request: &Value,
    op: impl FnOnce(&mut State) -> Result<A, PaybackError>,
) -> Result<A, PaybackError> {
    required_text("transactionId", transaction_id)?;
    let key = (partner.to_owned(), transaction_id.to_owned());
    if let Some(stored) = state.idempotency.get(&key) {
        // The operation names the answer's kind, so a matching operation finds its own kind.
        let replay = (stored.operation == operation && &stored.request == request)
            .then(|| A::from_stored(&stored.answer))
            .flatten();
        return replay
            .cloned()
            .ok_or_else(|| PaybackError::DuplicateTransaction(transaction_id.to_owned()));
    }
    let answer = op(state)?;
    state.idempotency.insert(
        key,
        Idempotent {
            operation: operation.to_owned(),
            request: request.clone(),
            answer: answer.clone().into(),
        },
    );
    retention::answer_stored(state, partner, transaction_id);
    Ok(answer)
}

/// Why a coupon does not apply to this member and partner now, if it does not.
fn coupon_problem(
    coupon: Option<&Coupon>,
    code: &str,
    customer: &str,
    partner: &str,
    now: Millis,
) -> Option<PaybackError> {
    let fail = |c: &'static str, reason: &str| {
        Some(PaybackError::Coupon {
            code: c,
            reason: reason.to_owned(),
        })
    };
    let _ = code;
    let Some(coupon) = coupon else {
        return fail("COUPON_UNKNOWN", "unknown coupon");
    };
    if coupon.valid_from.is_some_and(|f| now < f) || coupon.valid_until.is_some_and(|u| now >= u) {
        return fail("COUPON_EXPIRED", "not valid at this time");
    }
    if coupon.partner.as_deref().is_some_and(|p| p != partner) {
        return fail("COUPON_NOT_FOR_PARTNER", "valid at another partner only");
    }
    if coupon.requires_activation && !coupon.activated_by.iter().any(|c| c == customer) {
        return fail("COUPON_NOT_ACTIVATED", "must be activated in the PAYBACK app first");
    }
    if coupon.used_by.iter().any(|c| c == customer) {
        return fail("COUPON_ALREADY_USED", "already used by this member");
    }
    None
}

fn branch_check(state: &State, partner: &str, branch: Option<&str>) -> Result<(), PaybackError> {
    if let Some(branch) = branch {
        let known = state
            .partners
            .get(partner)
            .is_some_and(|p| p.branches.iter().any(|b| b.id == branch));
        if !known {
            return Err(PaybackError::PartnerNotAuthorised(format!(
                "branch {branch:?} is not a branch of partner {partner}"
            )));
        }
    }
    Ok(())
}

/// `POST /purchases`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseRequest {
    /// Idempotency key.
    pub transaction_id: String,
    /// Card or customer number.
    pub card_number: String,
    /// Receipt number.
    pub receipt_number: String,
    /// Branch.
    #[serde(default)]
    pub branch_id: Option<String>,
    /// Terminal (workstation).
    #[serde(default)]
    pub terminal_id: Option<String>,
    /// Basket total.
    pub total_amount_cents: i64,
    /// Turnover that earns points (default: the total).
    #[serde(default)]
    pub eligible_amount_cents: Option<i64>,
    /// Line items (kept, not evaluated).
    #[serde(default)]
    pub items: Option<Value>,
    /// Action coupon codes.
    #[serde(default)]
    pub coupons: Vec<String>,
}

fn points_for(eligible: i64, cents_per_point: i64, multipliers: &[i64]) -> (i64, i64) {
    let base = eligible / cents_per_point;
    let extra: i64 = multipliers.iter().map(|m| base * (m - 1)).sum();
    (base, extra)
}

/// Collects points: base points on the eligible turnover plus accepted coupons.
pub fn purchase(
    state: &mut State,
    partner: &str,
    req: &PurchaseRequest,
    raw: &Value,
    now: Millis,
) -> Result<PurchaseBooked, PaybackError> {
    idempotent(state, partner, &req.transaction_id, "purchase", raw, |state| {
        required_text("receiptNumber", &req.receipt_number)?;
        branch_check(state, partner, req.branch_id.as_deref())?;
        let total = check_cents("totalAmountCents", req.total_amount_cents)?;
        let eligible = check_cents("eligibleAmountCents", req.eligible_amount_cents.unwrap_or(total))?;
        if eligible > total {
            return Err(PaybackError::InvalidRequest(
                "eligibleAmountCents must not exceed totalAmountCents".into(),
            ));
        }
        if req.coupons.len() > 20 {
            return Err(PaybackError::InvalidRequest("at most 20 coupons per purchase".into()));
        }
        let customer = resolve(state, &req.card_number)?.customer_number.clone();
        let cents_per_point = state.partners.get(partner).map_or(200, |p| p.cents_per_point);
        let mut outcomes = Vec::new();
        let mut multipliers = Vec::new();
        let mut extra_points = 0;
        let mut accepted = Vec::new();
        for code in &req.coupons {
            let upper = code.trim().to_ascii_uppercase();
            let repeated = accepted.contains(&upper);
            let problem = if repeated {
                Some(PaybackError::Coupon {
                    code: "COUPON_ALREADY_USED",
                    reason: "given twice in this purchase".into(),
                })
            } else {
                coupon_problem(state.coupons.get(&upper), &upper, &customer, partner, now)
            };
            match problem {
                Some(e) => outcomes.push(CouponOutcome::refused(upper, e.code())),
                None => {
                    let coupon = &state.coupons[&upper];
                    let points = match coupon.kind {
                        CouponType::Multiplier => {
                            multipliers.push(coupon.value.min(100));
                            // Filled in below, once the base points are known.
                            0
                        }
                        CouponType::ExtraPoints => {
                            extra_points += coupon.value;
                            coupon.value
                        }
                    };
                    accepted.push(upper.clone());
                    outcomes.push(CouponOutcome::accepted(upper, coupon.kind, coupon.value, points));
                }
            }
        }
        let (base, multiplied) = points_for(eligible, cents_per_point, &multipliers);
        let total_points = base + multiplied + extra_points;
        // A multiplier's points once the base is known, multipliers in the order accepted.
        let multiplier_outcomes = outcomes
            .iter_mut()
            .filter(|o| o.accepted && o.kind == Some(CouponType::Multiplier));
        for (outcome, m) in multiplier_outcomes.zip(&multipliers) {
            outcome.points = Some(base * (m - 1));
        }
        for code in &accepted {
            if let Some(c) = state.coupons.get_mut(code) {
                c.used_by.push(customer.clone());
            }
        }
        let purchase_id = state.next_id("P");
        let member = member_mut(state, &customer);
        member.expire(now);
        if total_points > 0 {
            member.lots.push(Lot {
                points: total_points,
                earned_at: now,
            });
        }
        let new_balance = member.balance(now);
        state.purchases.insert(
            purchase_id.clone(),
            Purchase {
                purchase_id: purchase_id.clone(),
                partner: partner.to_owned(),
                customer_number: customer.clone(),
                receipt_number: req.receipt_number.clone(),
                eligible_amount_cents: eligible,
                base_points: base,
                multipliers,
                extra_points,
                total_points,
                reversed_cents: 0,
                reversed_points: 0,
                coupons: accepted,
                at: now,
            },
        );
        retention::purchase_booked(state, partner, &purchase_id);
        Ok(PurchaseBooked {
            purchase_id,
            customer_number: customer,
            base_points: base,
            coupon_points: outcomes,
            total_points,
            new_balance,
        })
    })
}

/// `POST /redemptions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionRequest {
    /// Idempotency key.
    pub transaction_id: String,
    /// From `authenticate`.
    #[serde(default)]
    pub pin_token: Option<String>,
    /// Card or customer number (with `pin`, instead of a token).
    #[serde(default)]
    pub card_number: Option<String>,
    /// PIN (with `cardNumber`).
    #[serde(default)]
    pub pin: Option<String>,
    /// Points to redeem …
    #[serde(default)]
    pub points: Option<i64>,
    /// … or their value in cents (1 point = 1 cent).
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// Basket total; the redemption may not exceed it.
    pub basket_total_cents: i64,
    /// Receipt number.
    pub receipt_number: String,
    /// Branch.
    #[serde(default)]
    pub branch_id: Option<String>,
}

/// Redeems points (oldest first) for their value in cents.
pub fn redeem(
    state: &mut State,
    partner: &str,
    req: &RedemptionRequest,
    raw: &Value,
    now: Millis,
) -> Result<RedemptionBooked, PaybackError> {
    idempotent(state, partner, &req.transaction_id, "redemption", raw, |state| {
        required_text("receiptNumber", &req.receipt_number)?;
        branch_check(state, partner, req.branch_id.as_deref())?;
        let basket = check_cents("basketTotalCents", req.basket_total_cents)?;
        let points = match (req.points, req.amount_cents) {
            (Some(p), None) => check_points("points", p)?,
            (None, Some(a)) => check_points("amountCents", a)?,
            _ => {
                return Err(PaybackError::InvalidRequest(
                    "give exactly one of points or amountCents".into(),
                ));
            }
        };
        let customer = match (&req.pin_token, &req.card_number, &req.pin) {
            (Some(token), None, None) => {
                let t = state
                    .pin_tokens
                    .get(token)
                    .filter(|t| t.expires_at > now && t.partner == partner)
                    .ok_or(PaybackError::PinTokenInvalid)?;
                let customer = t.customer_number.clone();
                // The member may have been blocked since the PIN was entered.
                resolve(state, &customer)?;
                customer
            }
            (None, Some(card), Some(pin)) => {
                let customer = resolve(state, card)?.customer_number.clone();
                check_pin(state, &customer, pin)?;
                customer
            }
            _ => {
                return Err(PaybackError::InvalidRequest(
                    "give pinToken, or cardNumber with pin".into(),
                ));
            }
        };
        let member = member_mut(state, &customer);
        if member.status != MemberStatus::Registered {
            return Err(PaybackError::MemberNotRegistered);
        }
        if points < MIN_REDEMPTION {
            return Err(PaybackError::BelowMinRedemption {
                minimum: MIN_REDEMPTION,
            });
        }
        member.expire(now);
        let balance = member.balance(now);
        if points > balance {
            return Err(PaybackError::InsufficientPoints {
                requested: points,
                balance,
            });
        }
        if points > basket {
            return Err(PaybackError::AmountExceedsBasket { amount: points, basket });
        }
        let mut left = points;
        let mut taken = Vec::new();
        for lot in member.lots.iter_mut() {
            if left == 0 {
                break;
            }
            let take = lot.points.min(left);
            lot.points -= take;
            left -= take;
            taken.push(Lot {
                points: take,
                earned_at: lot.earned_at,
            });
        }
        member.lots.retain(|l| l.points > 0);
        let new_balance = member.balance(now);
        let id = state.next_id("R");
        state.redemptions.insert(
            id.clone(),
            Redemption {
                redemption_id: id.clone(),
                partner: partner.to_owned(),
                customer_number: customer.clone(),
                receipt_number: req.receipt_number.clone(),
                points,
                taken,
                reversed_points: 0,
                at: now,
            },
        );
        retention::redemption_booked(state, partner, &id);
        Ok(RedemptionBooked {
            redemption_id: id,
            customer_number: customer,
            redeemed_points: points,
            amount_cents: points,
            new_balance,
        })
    })
}

/// `POST /purchases/{id}/reversal`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseReversalRequest {
    /// Idempotency key.
    pub transaction_id: String,
    /// Eligible turnover returned; the whole rest when absent.
    #[serde(default)]
    pub amount_cents: Option<i64>,
}

/// Takes back points of a purchase (goods returned), in full or for part of the turnover.
pub fn reverse_purchase(
    state: &mut State,
    partner: &str,
    id: &str,
    req: &PurchaseReversalRequest,
    raw: &Value,
    now: Millis,
) -> Result<PurchaseReversed, PaybackError> {
    let operation = format!("purchase-reversal {id}");
    idempotent(state, partner, &req.transaction_id, &operation, raw, |state| {
        let p = state
            .purchases
            .get(id)
            .filter(|p| p.partner == partner)
            .ok_or(PaybackError::ReferenceNotFound("purchase"))?
            .clone();
        let left_cents = p.eligible_amount_cents - p.reversed_cents;
        let left_points = p.total_points - p.reversed_points;
        if left_cents == 0 && left_points == 0 {
            return Err(PaybackError::AlreadyReversed("purchase"));
        }
        let amount = match req.amount_cents {
            None => left_cents,
            Some(a) => check_cents("amountCents", a)?,
        };
        if amount > left_cents {
            return Err(PaybackError::ReversalExceedsOriginal { left: left_cents });
        }
        let full = amount == left_cents;
        let cents_per_point = state.partners.get(partner).map_or(200, |p| p.cents_per_point);
        // What the purchase is worth after this reversal; extra-point coupons go only with the
        // full reversal.
        let points_after = if full {
            0
        } else {
            let (base, multiplied) = points_for(
                p.eligible_amount_cents - p.reversed_cents - amount,
                cents_per_point,
                &p.multipliers,
            );
            base + multiplied + p.extra_points
        };
        let points = (left_points - points_after).max(0);
        let member = member_mut(state, &p.customer_number);
        member.expire(now);
        let balance = member.balance(now);
        if points > balance {
            // [ours] possim does not let a balance go negative; the partner settles the
            // difference outside the points system.
            return Err(PaybackError::InsufficientPoints {
                requested: points,
                balance,
            });
        }
        // Take the points back newest first: the purchase's own lot is the newest or gone.
        let mut left = points;
        for lot in member.lots.iter_mut().rev() {
            if left == 0 {
                break;
            }
            let take = lot.points.min(left);
            lot.points -= take;
            left -= take;
        }
        member.lots.retain(|l| l.points > 0);
        let new_balance = member.balance(now);
        if full {
            for code in &p.coupons {
                if let Some(c) = state.coupons.get_mut(code) {
                    c.used_by.retain(|u| u != &p.customer_number);
                }
            }
        }
        let reversal_id = state.next_id("PR");
        if let Some(stored) = state.purchases.get_mut(id) {
            stored.reversed_cents += amount;
            stored.reversed_points += points;
        }
        Ok(PurchaseReversed {
            reversal_id,
            purchase_id: id.to_owned(),
            reversed_amount_cents: amount,
            reversed_points: points,
            fully_reversed: full,
            new_balance,
        })
    })
}

/// `POST /redemptions/{id}/reversal`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionReversalRequest {
    /// Idempotency key.
    pub transaction_id: String,
    /// Points to give back; all that is left when absent.
    #[serde(default)]
    pub points: Option<i64>,
}

/// Gives redeemed points back, into the lots they came from (so they keep their expiry).
pub fn reverse_redemption(
    state: &mut State,
    partner: &str,
    id: &str,
    req: &RedemptionReversalRequest,
    raw: &Value,
    now: Millis,
) -> Result<RedemptionReversed, PaybackError> {
    let operation = format!("redemption-reversal {id}");
    idempotent(state, partner, &req.transaction_id, &operation, raw, |state| {
        let r = state
            .redemptions
            .get(id)
            .filter(|r| r.partner == partner)
            .ok_or(PaybackError::ReferenceNotFound("redemption"))?
            .clone();
        let left = r.points - r.reversed_points;
        if left == 0 {
            return Err(PaybackError::AlreadyReversed("redemption"));
        }
        let points = match req.points {
            None => left,
            Some(p) => check_points("points", p)?,
        };
        if points > left {
            return Err(PaybackError::ReversalExceedsOriginal { left });
        }
        // Give back from the newest taken lots first (what was taken last).
        let mut remaining_taken = r.taken.clone();
        let mut already = r.reversed_points;
        for lot in remaining_taken.iter_mut().rev() {
            let back = lot.points.min(already);
            lot.points -= back;
            already -= back;
        }
        let mut give = points;
        let mut restored = Vec::new();
        for lot in remaining_taken.iter().rev() {
            if give == 0 {
                break;
            }
            let back = lot.points.min(give);
            if back > 0 {
                restored.push(Lot {
                    points: back,
                    earned_at: lot.earned_at,
                });
                give -= back;
            }
        }
        let member = member_mut(state, &r.customer_number);
        for lot in restored {
            match member.lots.iter_mut().find(|l| l.earned_at == lot.earned_at) {
                Some(existing) => existing.points += lot.points,
                None => member.lots.push(lot),
            }
        }
        member.lots.sort_by_key(|l| l.earned_at);
        member.expire(now);
        let new_balance = member.balance(now);
        let reversal_id = state.next_id("RR");
        if let Some(stored) = state.redemptions.get_mut(id) {
            stored.reversed_points += points;
        }
        Ok(RedemptionReversed {
            reversal_id,
            redemption_id: id.to_owned(),
            rebooked_points: points,
            amount_cents: points,
            fully_reversed: points == left,
            new_balance,
        })
    })
}

/// `POST /coupons/validate` and `/coupons/activate`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponRequest {
    /// Card or customer number.
    pub card_number: String,
    /// Coupon code.
    pub code: String,
}

/// A dry run: would this coupon count on a purchase now?
pub fn validate_coupon(
    state: &State,
    partner: &str,
    req: &CouponRequest,
    now: Millis,
) -> Result<CouponValidity, PaybackError> {
    let customer = resolve(state, &req.card_number)?.customer_number.clone();
    let code = req.code.trim().to_ascii_uppercase();
    let coupon = state.coupons.get(&code);
    let reason = coupon_problem(coupon, &code, &customer, partner, now).map(|problem| problem.code());
    Ok(CouponValidity {
        valid: reason.is_none(),
        kind: coupon.map(|c| c.kind),
        value: coupon.map(|c| c.value),
        reason,
        code,
    })
}

/// The app-side activation, for setting up scenarios.
pub fn activate_coupon(state: &mut State, req: &CouponRequest) -> Result<CouponActivated, PaybackError> {
    let customer = resolve(state, &req.card_number)?.customer_number.clone();
    let code = req.code.trim().to_ascii_uppercase();
    let coupon = state.coupons.get_mut(&code).ok_or_else(|| PaybackError::Coupon {
        code: "COUPON_UNKNOWN",
        reason: "unknown coupon".into(),
    })?;
    if !coupon.activated_by.contains(&customer) {
        coupon.activated_by.push(customer);
    }
    Ok(CouponActivated { code, activated: true })
}

/// `POST /branches/{id}/geolocation`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeolocationRequest {
    /// −90..90.
    pub latitude: f64,
    /// −180..180.
    pub longitude: f64,
}

/// "Update geolocation" of the POS configuration.
pub fn update_geolocation(
    state: &mut State,
    partner: &str,
    branch: &str,
    req: &GeolocationRequest,
    now: Millis,
) -> Result<GeolocationUpdated, PaybackError> {
    if !(-90.0..=90.0).contains(&req.latitude) || !(-180.0..=180.0).contains(&req.longitude) {
        return Err(PaybackError::InvalidRequest(
            "latitude must be -90..90 and longitude -180..180".into(),
        ));
    }
    branch_check(state, partner, Some(branch))?;
    let b = state
        .partners
        .get_mut(partner)
        .and_then(|p| p.branches.iter_mut().find(|b| b.id == branch))
        .ok_or(PaybackError::ReferenceNotFound("branch"))?;
    b.latitude = Some(req.latitude);
    b.longitude = Some(req.longitude);
    Ok(GeolocationUpdated {
        branch_id: branch.to_owned(),
        latitude: req.latitude,
        longitude: req.longitude,
        updated_at: possim_engine::clock::format_rfc3339(now),
    })
}

/// Points that expire next, for the snapshot and receipts.
pub fn next_expiry(member: &Member, now: Millis) -> Option<(Millis, i64)> {
    member
        .lots
        .iter()
        .filter(|l| expires_at(l.earned_at) > now && l.points > 0)
        .map(|l| (expires_at(l.earned_at), l.points))
        .min_by_key(|(at, _)| *at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `floor(eligible cents / centsPerPoint)` (README, "Earning"), on both sides of .5 and at
    /// whole points: rounding half up or to the nearest point would give more.
    #[test]
    fn base_points_are_the_floor_of_eligible_cents_per_point() {
        for (eligible, cents_per_point, base) in [
            (0, 200, 0),
            (99, 200, 0),    // 0.495
            (100, 200, 0),   // 0.5
            (101, 200, 0),   // 0.505
            (199, 200, 0),   // 0.995
            (200, 200, 1),   // 1
            (299, 200, 1),   // 1.495
            (300, 200, 1),   // 1.5
            (399, 200, 1),   // 1.995
            (400, 200, 2),   // 2
            (4787, 200, 23), // 23.935
            (4787, 100, 47), // 47.87
            (150, 100, 1),   // 1.5
            (49, 100, 0),    // 0.49
        ] {
            assert_eq!(
                points_for(eligible, cents_per_point, &[]),
                (base, 0),
                "{eligible} cents at {cents_per_point} per point"
            );
        }
    }

    /// A MULTIPLIER coupon of n adds (n − 1) × base points; several add up; ×1 adds nothing.
    #[test]
    fn multipliers_add_n_minus_one_times_the_base_points() {
        assert_eq!(points_for(2000, 200, &[10]), (10, 90));
        assert_eq!(points_for(2000, 200, &[10, 20]), (10, 90 + 190));
        assert_eq!(points_for(2000, 200, &[1]), (10, 0));
        assert_eq!(points_for(2000, 200, &[2, 3]), (10, 10 + 20));
        // No base points, nothing to multiply.
        assert_eq!(points_for(199, 200, &[20]), (0, 0));
    }
}

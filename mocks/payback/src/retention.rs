//! Bounded history: of each partner the newest `retain` purchases, redemptions, stored
//! idempotent answers and PIN tokens are kept; older ones are forgotten and counted in a
//! per-partner [`Summary`] (the admin state's `retention.summarised`).
//!
//! What a till relies on stays exact because it is state, not history: members' point lots
//! (balances and expiry), coupons and who used them (`usedBy`, one entry per member at most — a
//! coupon spent once stays spent whether or not the purchase that spent it is still held; only a
//! full reversal of a *held* purchase frees it). When a purchase is forgotten, its member's
//! adjacent lots of the same expiry merge (keeping the older `earnedAt`), so lots stay bounded
//! too; balance, expiry and the oldest-first order of redemption are the same either way.
//!
//! Every kind of record is queued per partner in the order it was made, so forgetting the oldest
//! is O(1) (each record is removed from its map once).

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::model::{Lot, State, expires_at};

/// What the forgotten records of one partner add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Purchases forgotten.
    pub purchases: u64,
    /// Id of the newest forgotten purchase.
    pub last_purchase_id: Option<String>,
    /// Their eligible turnover less what was reversed, in cents.
    pub eligible_cents: i64,
    /// Points they booked less what was reversed.
    pub purchase_points: i64,
    /// Redemptions forgotten.
    pub redemptions: u64,
    /// Id of the newest forgotten redemption.
    pub last_redemption_id: Option<String>,
    /// Points they redeemed less what was given back.
    pub redeemed_points: i64,
    /// Stored answers for `transactionId` replays forgotten.
    pub answers: u64,
    /// PIN tokens forgotten before they expired or were pruned.
    pub pin_tokens: u64,
}

/// The order in which one partner's records were made, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Queues {
    purchases: VecDeque<String>,
    redemptions: VecDeque<String>,
    answers: VecDeque<String>,
    pin_tokens: VecDeque<String>,
}

/// The queues of every partner that booked, and the summaries of those that had records
/// forgotten.
#[derive(Debug, Clone, Default)]
pub struct History {
    queues: BTreeMap<String, Queues>,
    /// Per partner.
    pub summarised: BTreeMap<String, Summary>,
}

fn queues<'a>(state: &'a mut State, partner: &str) -> &'a mut Queues {
    state.history.queues.entry(partner.to_owned()).or_default()
}

fn summary<'a>(state: &'a mut State, partner: &str) -> &'a mut Summary {
    state.history.summarised.entry(partner.to_owned()).or_default()
}

/// Records a booked purchase, then forgets the partner's oldest beyond the retention.
pub fn purchase_booked(state: &mut State, partner: &str, id: &str) {
    let retain = state.retain;
    queues(state, partner).purchases.push_back(id.to_owned());
    while queues(state, partner).purchases.len() > retain {
        let Some(old) = queues(state, partner).purchases.pop_front() else {
            break;
        };
        let Some(p) = state.purchases.remove(&old) else {
            continue;
        };
        let s = summary(state, partner);
        s.purchases += 1;
        s.eligible_cents += p.eligible_amount_cents - p.reversed_cents;
        s.purchase_points += p.total_points - p.reversed_points;
        s.last_purchase_id = Some(p.purchase_id);
        if let Some(member) = state.members.get_mut(&p.customer_number) {
            merge_lots(&mut member.lots);
        }
    }
}

/// Records a booked redemption, then forgets the partner's oldest beyond the retention.
pub fn redemption_booked(state: &mut State, partner: &str, id: &str) {
    let retain = state.retain;
    queues(state, partner).redemptions.push_back(id.to_owned());
    while queues(state, partner).redemptions.len() > retain {
        let Some(old) = queues(state, partner).redemptions.pop_front() else {
            break;
        };
        if let Some(r) = state.redemptions.remove(&old) {
            let s = summary(state, partner);
            s.redemptions += 1;
            s.last_redemption_id = Some(r.redemption_id);
            s.redeemed_points += r.points - r.reversed_points;
        }
    }
}

/// Records a stored answer under `transaction_id`, then forgets the partner's oldest beyond the
/// retention (a request under a forgotten id is a new request: README, "Retention").
pub fn answer_stored(state: &mut State, partner: &str, transaction_id: &str) {
    let retain = state.retain;
    queues(state, partner).answers.push_back(transaction_id.to_owned());
    while queues(state, partner).answers.len() > retain {
        let Some(old) = queues(state, partner).answers.pop_front() else {
            break;
        };
        if state.idempotency.remove(&(partner.to_owned(), old)).is_some() {
            summary(state, partner).answers += 1;
        }
    }
}

/// PIN tokens kept per partner at least, whatever the retention: a token is used seconds after
/// it is issued, by one of possibly many tills of the partner, and expires after five minutes
/// anyway (with a frozen clock it would not).
pub const MIN_PIN_TOKENS: usize = 100;

/// Records an issued PIN token, then forgets the partner's oldest beyond the retention (at least
/// [`MIN_PIN_TOKENS`]); a forgotten token answers `PIN_TOKEN_INVALID`, like an expired one.
pub fn pin_token_issued(state: &mut State, partner: &str, token: &str) {
    let retain = state.retain.max(MIN_PIN_TOKENS);
    queues(state, partner).pin_tokens.push_back(token.to_owned());
    while queues(state, partner).pin_tokens.len() > retain {
        let Some(old) = queues(state, partner).pin_tokens.pop_front() else {
            break;
        };
        if state.pin_tokens.remove(&old).is_some() {
            summary(state, partner).pin_tokens += 1;
        }
    }
}

/// Merges adjacent lots that expire at the same time into the older one. Lots are kept oldest
/// first, so what redemption (oldest first) and purchase reversal (newest first) take per expiry
/// is the same before and after.
pub fn merge_lots(lots: &mut Vec<Lot>) {
    lots.dedup_by(|later, earlier| {
        let same = expires_at(later.earned_at) == expires_at(earlier.earned_at);
        if same {
            earlier.points += later.points;
        }
        same
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_engine::clock::parse_rfc3339;

    fn lot(points: i64, earned: &str) -> Lot {
        Lot {
            points,
            earned_at: parse_rfc3339(earned).unwrap(),
        }
    }

    #[test]
    fn lots_of_one_points_year_merge_into_the_oldest() {
        // Points years turn on 1 October (Vienna): the first three expire 2029-09-30, the last
        // two 2030-09-30 (README, "Programme rules").
        let mut lots = vec![
            lot(5, "2025-10-15T10:00:00Z"),
            lot(7, "2026-01-15T10:00:00Z"),
            lot(1, "2026-09-30T21:59:00Z"),
            lot(2, "2026-09-30T22:00:00Z"),
            lot(3, "2027-03-01T10:00:00Z"),
        ];
        merge_lots(&mut lots);
        assert_eq!(
            lots,
            vec![lot(13, "2025-10-15T10:00:00Z"), lot(5, "2026-09-30T22:00:00Z")]
        );
    }
}

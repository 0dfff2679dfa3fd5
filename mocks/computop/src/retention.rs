//! Bounded history: of each merchant the newest `retain` finished payments (`OK`, `FAILED`) are
//! kept, with their credits; older ones are forgotten and counted in a per-merchant [`Summary`]
//! (the admin state's `retention.summarised`). Stored ReqID answers are kept first in, first out,
//! `4 × retain` per merchant (a sale, its credits and inquiries). Members' points are state and
//! never touched; open payments (waiting in the app, pending) are never forgotten, so the flow
//! of a sale always finds its payment: a payment is held at least until its flow ended
//! ([`flow_ended`]; the notify retries after that carry their own copy).
//!
//! The work is amortised: a trim runs once the store holds about twice its allowance. What a shop
//! sees when it refers to a forgotten payment or ReqID is in the provider's README ("Retention").

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::model::{PaymentStatus, State};

/// What the forgotten payments, credits and ReqIDs of one merchant add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Payments forgotten.
    pub payments: u64,
    /// PayID of the newest forgotten payment.
    pub last_pay_id: Option<String>,
    /// Of them, paid (`OK`).
    pub paid: u64,
    /// Amount of the paid ones, in cents.
    pub paid_cents: i64,
    /// Points they redeemed.
    pub points_redeemed: i64,
    /// Money credited back on them, in cents.
    pub credited_money: i64,
    /// Points credited back on them.
    pub credited_points: i64,
    /// Credit records forgotten.
    pub credits: u64,
    /// Stored ReqID answers forgotten.
    pub req_ids: u64,
}

/// Stored ReqID answers kept per merchant for each kept payment.
const ANSWERS_PER_PAYMENT: usize = 4;

/// Trims payments, credits and stored answers once they hold about twice their allowance.
pub fn trim(state: &mut State) {
    let merchants = state.merchants.len().max(1);
    let payments = state.retain.saturating_mul(merchants);
    let threshold = payments.saturating_mul(2).saturating_add(16);
    if state.next_trim.due(state.order.len(), threshold) {
        trim_payments(state);
        state.next_trim.trimmed(state.order.len(), payments);
    }
    // Credits and stored answers are kept per merchant, so a busy merchant never pushes out a
    // quiet one's; the trim runs once all of them together hold about twice their allowance.
    let per_merchant = state.retain.saturating_mul(ANSWERS_PER_PAYMENT);
    let answers = per_merchant.saturating_mul(merchants);
    if state.credits.len() > answers.saturating_mul(2).saturating_add(64) {
        trim_credits(state, per_merchant);
    }
    if state.req_ids.len() > answers.saturating_mul(2).saturating_add(64) {
        trim_req_ids(state, per_merchant);
    }
}

/// Keeps the newest `per_merchant` credit records of each merchant.
fn trim_credits(state: &mut State, per_merchant: usize) {
    let State {
        payments,
        credits,
        summarised,
        ..
    } = state;
    let mut kept: HashMap<&str, usize> = HashMap::new();
    // Newest first; `keep[i]` says whether credit `i` stays.
    let mut keep = vec![true; credits.len()];
    for (i, credit) in credits.iter().enumerate().rev() {
        let merchant = payments.get(&credit.pay_id).map_or("", |p| p.merchant_id.as_str());
        let n = kept.entry(merchant).or_insert(0);
        if *n < per_merchant {
            *n += 1;
        } else {
            keep[i] = false;
            summarised.entry(merchant.to_owned()).or_default().credits += 1;
        }
    }
    let mut flags = keep.into_iter();
    credits.retain(|_| flags.next().unwrap_or(true));
}

/// Keeps the newest `per_merchant` stored ReqID answers of each merchant.
fn trim_req_ids(state: &mut State, per_merchant: usize) {
    let mut kept: HashMap<&str, usize> = HashMap::new();
    let mut gone = HashSet::new();
    for key in state.req_order.iter().rev() {
        let n = kept.entry(key.0.as_str()).or_insert(0);
        if *n < per_merchant {
            *n += 1;
        } else {
            gone.insert(key.clone());
        }
    }
    state.req_order.retain(|key| !gone.contains(key));
    for key in gone {
        if state.req_ids.remove(&key).is_some() {
            state.summarised.entry(key.0).or_default().req_ids += 1;
        }
    }
}

/// The flow of `pay_id` has ended (its final notify's first attempt and the browser return are
/// done): from now on the payment may be forgotten like any finished one.
pub fn flow_ended(state: &mut State, pay_id: &str) {
    state.in_flow.remove(pay_id);
}

fn trim_payments(state: &mut State) {
    let retain = state.retain;
    // Newest first: the first `retain` finished payments of each merchant stay.
    let mut kept_per_merchant: BTreeMap<String, usize> = BTreeMap::new();
    let mut gone = HashSet::new();
    for pay_id in state.order.iter().rev() {
        let Some(p) = state.payments.get(pay_id) else {
            continue;
        };
        if !p.status.is_final() || state.in_flow.contains(pay_id) {
            continue;
        }
        let kept = kept_per_merchant.entry(p.merchant_id.clone()).or_insert(0);
        if *kept < retain {
            *kept += 1;
        } else {
            gone.insert(pay_id.clone());
        }
    }
    if gone.is_empty() {
        return;
    }
    let mut credits_of: BTreeMap<&str, u64> = BTreeMap::new();
    for c in state.credits.iter().filter(|c| gone.contains(&c.pay_id)) {
        *credits_of.entry(c.pay_id.as_str()).or_insert(0) += 1;
    }
    // Oldest first, so `lastPayId` ends as the newest forgotten one.
    for pay_id in state.order.iter().filter(|id| gone.contains(*id)) {
        let Some(p) = state.payments.remove(pay_id) else {
            continue;
        };
        let s = state.summarised.entry(p.merchant_id.clone()).or_default();
        s.payments += 1;
        if p.status == PaymentStatus::Ok {
            s.paid += 1;
            s.paid_cents += p.amount;
            s.points_redeemed += p.points_redeemed;
        }
        s.credited_money += p.credited_money;
        s.credited_points += p.credited_points;
        s.credits += credits_of.get(pay_id.as_str()).copied().unwrap_or(0);
        s.last_pay_id = Some(p.pay_id);
    }
    state.order.retain(|id| !gone.contains(id));
    state.manual.retain(|id, _| !gone.contains(id));
    state.credits.retain(|c| !gone.contains(&c.pay_id));
    // A TransID of a forgotten payment no longer counts as used (the finding for a TransID
    // used twice covers the kept payments).
    state.trans_ids = state
        .payments
        .values()
        .map(|p| (p.merchant_id.clone(), p.trans_id.clone()))
        .collect();
}

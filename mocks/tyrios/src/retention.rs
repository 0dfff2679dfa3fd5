//! Bounded history: the newest committed transactions of each company are kept for the
//! overviews, `GET BonusPointTransaction/{id}` and the admin state; older ones are folded into a
//! per-company [`TxSummary`].
//!
//! Balances never depend on the history: points live in the users' lots and coupon value on the
//! coupons, both kept exactly. A lot remembers the transaction that granted it only to answer
//! `availableObtainedPoints` for that transaction; when the transaction is summarised the lot
//! forgets it and merges with an adjacent anonymous lot of the same validity, which keeps the
//! balance, the expiry and the oldest-first order of redemption as they were (so a user's lots
//! stay bounded too: TYRIOS points of one year all expire on the same 31 December).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::TxRecord;
use crate::model::State;
use crate::money::Cents;

/// What the summarised (no longer kept) transactions of one company add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TxSummary {
    /// How many transactions were summarised.
    pub transactions: u64,
    /// Id of the newest summarised transaction.
    pub last_id: Option<u64>,
    /// Sum of their `totalAmount`, in cents.
    pub total_cents: Cents,
    /// Points they granted.
    pub obtained_points: i64,
    /// Points they redeemed.
    pub redeemed_points: i64,
}

/// The summaries of every company that had transactions summarised.
pub type Summaries = BTreeMap<u64, TxSummary>;

/// Records a committed transaction, then summarises the company's oldest ones beyond
/// `state.retain`.
pub fn commit(state: &mut State, rec: TxRecord) {
    let company = rec.company;
    state.transactions.push_back(rec);
    let kept = state.kept_per_company.entry(company).or_insert(0);
    *kept += 1;
    if *kept <= state.retain {
        return;
    }
    *kept -= 1;
    // Usually the front (one busy company); otherwise the first of this company, at most
    // `retain` records of other companies away per other company.
    let Some(pos) = state.transactions.iter().position(|t| t.company == company) else {
        return;
    };
    if let Some(old) = state.transactions.remove(pos) {
        summarise(state, &old);
    }
}

fn summarise(state: &mut State, old: &TxRecord) {
    let summary = state.summaries.entry(old.company).or_default();
    summary.transactions += 1;
    summary.last_id = old.id.max(summary.last_id);
    summary.total_cents += old.total;
    summary.obtained_points += old.obtained;
    summary.redeemed_points += old.redeemed;
    if let (Some(tx), Some(user)) = (old.id, old.user_id.and_then(|u| state.users.get_mut(&u))) {
        let mut touched = false;
        for lot in user.lots.iter_mut().filter(|l| l.source == Some(tx)) {
            lot.source = None;
            touched = true;
        }
        if touched {
            merge_anonymous_lots(&mut user.lots);
        }
    }
}

/// Merges neighbouring lots that are indistinguishable (same validity, no source): the sum and
/// the order in which points are taken stay the same.
fn merge_anonymous_lots(lots: &mut std::collections::VecDeque<crate::model::Lot>) {
    let mut merged: std::collections::VecDeque<crate::model::Lot> =
        std::collections::VecDeque::with_capacity(lots.len());
    for lot in lots.drain(..) {
        match merged.back_mut() {
            Some(last) if last.source.is_none() && lot.source.is_none() && last.valid_until == lot.valid_until => {
                last.points += lot.points;
            }
            _ => merged.push_back(lot),
        }
    }
    *lots = merged;
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::model::Lot;

    fn lot(points: i64, valid_until: i64, source: Option<u64>) -> Lot {
        Lot {
            points,
            valid_until,
            source,
        }
    }

    #[test]
    fn only_neighbouring_anonymous_lots_of_one_validity_merge() {
        let mut lots = VecDeque::from([
            lot(5, 10, None),
            lot(7, 10, None),
            lot(3, 10, Some(4)),
            lot(2, 10, None),
            lot(1, 20, None),
            lot(6, 20, None),
        ]);
        merge_anonymous_lots(&mut lots);
        assert_eq!(
            lots,
            VecDeque::from([
                lot(12, 10, None),
                lot(3, 10, Some(4)),
                lot(2, 10, None),
                lot(7, 20, None)
            ])
        );
    }
}

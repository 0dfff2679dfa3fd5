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

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::domain::TxRecord;
use crate::model::{Lot, State};
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
        forget_source(&mut user.lots, tx);
    }
}

/// The lot transaction `tx` granted (at most one: its obtained points) forgets the transaction
/// and merges with a neighbouring anonymous lot of the same validity. Neighbours only: the sum
/// and the order in which points are taken stay the same. In place, without reallocating, and
/// usually near the front (the oldest transactions are summarised first).
fn forget_source(lots: &mut VecDeque<Lot>, tx: u64) {
    let Some(mut i) = lots.iter().position(|l| l.source == Some(tx)) else {
        return;
    };
    lots[i].source = None;
    let mergeable = |a: &Lot, b: &Lot| a.source.is_none() && b.source.is_none() && a.valid_until == b.valid_until;
    if i > 0 && mergeable(&lots[i - 1], &lots[i]) {
        lots[i - 1].points += lots[i].points;
        lots.remove(i);
        i -= 1;
    }
    if i + 1 < lots.len() && mergeable(&lots[i], &lots[i + 1]) {
        lots[i].points += lots[i + 1].points;
        lots.remove(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(points: i64, valid_until: i64, source: Option<u64>) -> Lot {
        Lot {
            points,
            valid_until,
            source,
        }
    }

    #[test]
    fn a_forgotten_lot_merges_only_with_anonymous_neighbours_of_its_validity() {
        let mut lots = VecDeque::from([
            lot(5, 10, None),
            lot(7, 10, Some(1)),
            lot(2, 10, None),
            lot(3, 10, Some(4)),
            lot(1, 20, Some(5)),
            lot(6, 20, None),
        ]);
        // Both neighbours are anonymous with the same validity: one lot of 14.
        forget_source(&mut lots, 1);
        assert_eq!(
            lots,
            VecDeque::from([
                lot(14, 10, None),
                lot(3, 10, Some(4)),
                lot(1, 20, Some(5)),
                lot(6, 20, None)
            ])
        );
        // The left neighbour has another validity, the right one is anonymous: they merge.
        forget_source(&mut lots, 5);
        assert_eq!(
            lots,
            VecDeque::from([lot(14, 10, None), lot(3, 10, Some(4)), lot(7, 20, None)])
        );
        // The left neighbour qualifies, the right one has another validity.
        forget_source(&mut lots, 4);
        assert_eq!(lots, VecDeque::from([lot(17, 10, None), lot(7, 20, None)]));
        // An unknown transaction changes nothing.
        forget_source(&mut lots, 99);
        assert_eq!(lots, VecDeque::from([lot(17, 10, None), lot(7, 20, None)]));
    }
}

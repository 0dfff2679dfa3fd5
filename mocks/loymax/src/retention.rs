//! Bounded history: finished purchases and stored answers of operations are history; cards,
//! balances, holds and coupons are state and are kept exactly.
//!
//! After every exchange the project is trimmed once it holds well beyond its allowance (so the
//! work is amortised): of each device's finished purchases (confirmed, cancelled, expired) the
//! newest `retain` are kept, older ones are counted in `summarisedPurchases` and forgotten; open
//! purchases and the originals of open refunds are never touched. Stored answers for
//! `OperationID` replays are kept first in, first out, `4 × retain` per device (a purchase has
//! three or four operations): forgetting the oldest costs nothing, so the oldest goes as soon
//! as a device holds one more. What a till sees when it refers to a forgotten purchase or replays
//! a forgotten operation is in the provider's README ("Retention").

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Project, PurchaseState};

/// Trims the project's history: to `retain` finished purchases per device once it holds twice
/// that (later when open purchases keep it above, [`possim_engine::retention::NextTrim`]), and
/// to `4 × retain` stored answers per device at once.
pub fn trim(project: &mut Project, retain: usize) {
    let devices = project.devices.len().max(1);
    let purchases = retain.saturating_mul(devices);
    let threshold = purchases.saturating_mul(2).saturating_add(16);
    if project.next_trim.due(project.purchases.len(), threshold) {
        trim_purchases(project, retain);
        project.next_trim.trimmed(project.purchases.len(), purchases);
    }
    let answers = retain.saturating_mul(4);
    for stored in project.answered.values_mut() {
        while stored.order.len() > answers {
            let Some(operation) = stored.order.pop_front() else {
                break;
            };
            stored.by_operation.remove(&operation);
        }
    }
}

/// A finished purchase's last transaction id, creation time and key.
type Recency<'a> = (u64, i64, &'a (String, String));

fn trim_purchases(project: &mut Project, retain: usize) {
    let finished = |s: PurchaseState| {
        matches!(
            s,
            PurchaseState::Confirmed | PurchaseState::Canceled | PurchaseState::Expired
        )
    };
    // Originals an open refund still needs.
    let needed: BTreeSet<(String, String)> = project
        .purchases
        .values()
        .filter(|p| !finished(p.state))
        .filter_map(|p| p.refund_of.clone())
        .collect();
    // Finished purchases per device, newest activity first (transaction ids only grow; the
    // engine clock may stand still).
    let mut by_device: BTreeMap<&str, Vec<Recency<'_>>> = BTreeMap::new();
    for (key, p) in &project.purchases {
        if finished(p.state) && !needed.contains(key) {
            let last = p.operations.iter().map(|o| o.transaction_id).max().unwrap_or(0);
            by_device
                .entry(key.0.as_str())
                .or_default()
                .push((last, p.created_at, key));
        }
    }
    let mut gone = Vec::new();
    for list in by_device.values_mut() {
        // The key breaks ties (purchases without operations), so what is kept never depends
        // on the map's order.
        list.sort_unstable_by_key(|r| std::cmp::Reverse(*r));
        gone.extend(list.iter().skip(retain).map(|(_, _, key)| (*key).clone()));
    }
    for key in gone {
        project.purchases.remove(&key);
        project.summarised_purchases += 1;
    }
}

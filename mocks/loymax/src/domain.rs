//! The processing itself: identification, offers, the two-phase purchase state machine of spec
//! 1.7, refunds, single-operation cancels and card replacement. Pure functions over a
//! [`Project`]; no I/O, no clock of their own (the caller passes the engine time).

use std::collections::{BTreeMap, BTreeSet};

use crate::codes::{Code, Failure};
use crate::model::{
    Card, CardState, Coupon, CouponState, Line, Offer, Operation, OperationKind, OperationState, Project, Purchase,
    PurchaseState,
};
use crate::money::{Basis, Kopecks, allocate, format_datetime, format_money, format_quantity, percent_of, scale};
use crate::protocol::{Cheque, Command, Identifier, Request};
use crate::xml::{Element, Name};

/// What a successful command adds to its response element: attributes placed before the echoed
/// `OperationID`, and children.
#[derive(Debug, Default)]
pub struct Reply {
    /// Command-specific attributes, in answer order.
    pub attrs: Vec<(Name, String)>,
    /// Child elements.
    pub children: Vec<Element>,
}

impl Reply {
    fn attr(&mut self, name: &'static str, value: impl Into<String>) {
        self.attrs.push((Name::Borrowed(name), value.into()));
    }
}

/// Runs one singular request against the project.
pub fn execute(p: &mut Project, device: &str, command: Command, req: &Request, now: i64) -> Result<Reply, Failure> {
    expire(p, now);
    match command {
        Command::Balance => balance(p, req, now),
        Command::Calculate => calculate(p, device, req, now),
        Command::AvailableAmount => available_amount(p, device, req, now),
        Command::Payment => payment(p, device, req, now),
        Command::Discount => discount(p, device, req, now),
        Command::ConfirmPurchase => confirm(p, device, req),
        Command::CancelPurchase => cancel(p, device, req),
        Command::Refund => refund(p, device, req, now),
        Command::CancelOperation => cancel_operation(p, device, req),
        Command::CardReplace => card_replace(p, req, now),
    }
}

// ---------------------------------------------------------------------------------------------
// Identification (spec 1.11)

fn strip_track(value: &str) -> Option<String> {
    let v = value.trim();
    let sentinel = v.starts_with(['%', ';', '+']) || v.ends_with('?');
    if !sentinel && !v.contains('=') && !v.contains('^') {
        return None;
    }
    let v = v.trim_start_matches(['%', ';', '+']);
    let v = v.split('?').next().unwrap_or(v);
    let v = v.strip_prefix('B').unwrap_or(v);
    // Track 2 `PAN=YYMM...`, track 1 `PAN^NAME^...`: the identifier is the first field.
    Some(v.split(['=', '^']).next().unwrap_or(v).to_owned())
}

fn by_number(p: &Project, value: &str) -> Option<String> {
    p.cards.contains_key(value).then(|| value.to_owned())
}

fn by_barcode(p: &Project, value: &str) -> Option<String> {
    p.cards
        .values()
        .find(|c| c.barcode.as_deref() == Some(value))
        .map(|c| c.number.clone())
}

fn by_track(p: &Project, value: &str) -> Option<String> {
    let raw = value.trim();
    if let Some(card) = p.cards.values().find(|c| c.tracks.iter().any(|t| t == raw)) {
        return Some(card.number.clone());
    }
    let stripped = strip_track(raw)?;
    by_number(p, &stripped)
        .or_else(|| {
            p.cards
                .values()
                .find(|c| c.tracks.iter().any(|t| strip_track(t).as_deref() == Some(&stripped)))
                .map(|c| c.number.clone())
        })
        .or_else(|| by_mask(p, &stripped))
}

fn by_phone(p: &Project, value: &str) -> Option<String> {
    let phone = crate::model::normalise_phone(value);
    if phone.len() < 10 {
        return None;
    }
    let customer = p
        .customers
        .values()
        .find(|c| c.phone.as_deref() == Some(phone.as_str()))?;
    let mut cards: Vec<&Card> = p
        .cards
        .values()
        .filter(|c| c.customer.as_deref() == Some(customer.id.as_str()))
        .collect();
    // The customer's usable card first: a blocked card does not stop identification by phone.
    cards.sort_by_key(|c| c.state != CardState::Activated);
    cards.first().map(|c| c.number.clone())
}

fn by_email(p: &Project, value: &str) -> Option<String> {
    let customer = p
        .customers
        .values()
        .find(|c| c.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(value.trim())))?;
    p.cards
        .values()
        .find(|c| c.customer.as_deref() == Some(customer.id.as_str()))
        .map(|c| c.number.clone())
}

/// A dynamic QR payload `<card number>:<code>`; the code must be one the app handed out and
/// still valid on the engine clock.
fn by_qr(p: &Project, value: &str, now: i64) -> Result<Option<String>, Failure> {
    let Some((number, code)) = value.trim().split_once(':') else {
        return Ok(None);
    };
    match p.qr_codes.get(code) {
        Some((card, until)) if card == number && now < *until => Ok(Some(card.clone())),
        Some((card, _)) if card == number => Err(Failure::with(Code::CardNotFound, "срок действия QR-кода истёк")),
        _ => Ok(None),
    }
}

fn by_mask(p: &Project, value: &str) -> Option<String> {
    p.masks
        .iter()
        .any(|m| m.pattern.is_match(value))
        .then(|| value.to_owned())
}

/// Finds the card an identifier names. A number that only matches a mask becomes a new,
/// not-yet-activated card of the mask's type (Loymax "cash identifiers").
pub fn resolve(p: &mut Project, identifier: &Identifier, now: i64) -> Result<String, Failure> {
    let value = identifier.value.as_str();
    let found = match identifier.kind.as_str() {
        "Auto" => match by_number(p, value)
            .or_else(|| by_barcode(p, value))
            .or_else(|| by_track(p, value))
            .or_else(|| by_phone(p, value))
        {
            Some(n) => Some(n),
            None => by_qr(p, value, now)?.or_else(|| by_mask(p, value)),
        },
        "CardNumber" => by_number(p, value).or_else(|| by_mask(p, value)),
        "CardBarCode" => by_barcode(p, value).or_else(|| by_number(p, value)),
        "CardTrack1" | "CardTrack2" | "CardTrack3" => by_track(p, value),
        "Phone" => by_phone(p, value),
        "Email" => by_email(p, value),
        "QrCode" => by_qr(p, value, now)?,
        // Known identifier kinds of the public API that this mock does not model.
        "Coupon"
        | "PartnerCoupon"
        | "PhoneHash"
        | "AppleWalletCard"
        | "GpayWalletCard"
        | "GiftCertificateNumber"
        | "GiftCertificateBarcode"
        | "GiftCertificateTrack1"
        | "GiftCertificateTrack2"
        | "GiftCertificateTrack3"
        | "GiftCertificateQrCode"
        | "PersonUID"
        | "UID"
        | "Login"
        | "Data"
        | "Anonymous"
        | "OAuth"
        | "OAuthApplication" => None,
        other => {
            return Err(Failure::with(
                Code::FormatException,
                format!("неизвестный тип идентификатора {other:?}"),
            ));
        }
    };
    let number = found.ok_or_else(|| Failure::new(Code::CardNotFound))?;
    if !p.cards.contains_key(&number) {
        let card_type = p
            .masks
            .iter()
            .find(|m| m.pattern.is_match(&number))
            .map(|m| m.card_type.clone())
            .unwrap_or_default();
        p.cards.insert(
            number.clone(),
            Card {
                number: number.clone(),
                customer: None,
                card_type,
                state: CardState::NotActivated,
                balance: 0,
                barcode: None,
                tracks: Vec::new(),
                valid_to: None,
                password: None,
                pin: None,
                held: 0,
                other_balances: Default::default(),
                written_off_by_day: Default::default(),
            },
        );
    }
    Ok(number)
}

fn check_card(card: &Card, now: i64) -> Result<(), Failure> {
    match card.state {
        CardState::Blocked | CardState::Replaced => Err(Failure::new(Code::CardBlocked)),
        CardState::Expired => Err(Failure::new(Code::CardExpired)),
        _ if card.valid_to.is_some_and(|t| now >= t) => Err(Failure::new(Code::CardExpired)),
        _ => Ok(()),
    }
}

fn card_of(p: &mut Project, req: &Request, now: i64) -> Result<Option<String>, Failure> {
    let Some(identifier) = &req.identifier else {
        return Ok(None);
    };
    let number = resolve(p, identifier, now)?;
    check_card(&p.cards[&number], now)?;
    Ok(Some(number))
}

/// What the till may spend now: the confirmed balance minus holds of open purchases.
pub fn available(card: &Card) -> Kopecks {
    card.balance - card.held
}

fn masked(number: &str) -> String {
    let tail: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("**** **** **** {tail}")
}

/// `IdentifierData` with the project's configured items.
fn identifier_data(p: &Project, number: &str) -> Element {
    let card = &p.cards[number];
    let holder = card
        .customer
        .as_ref()
        .and_then(|c| p.customers.get(c))
        .map(|c| c.name.clone());
    let mut data = Element::new("IdentifierData");
    for item in &p.identifier_items {
        let value = match item.as_str() {
            "Holder" | "Person" => holder.clone(),
            "CardType" => Some(card.card_type.clone()),
            "MaskedNumber" if p.mask_numbers => Some(masked(number)),
            "MaskedNumber" | "Cardnumber" | "CardNumber" => Some(number.to_owned()),
            "Status" => Some(format!("{:?}", card.state)),
            _ => None,
        };
        if let Some(value) = value {
            data = data.child(Element::new("Item").attr("Name", item.as_str()).text(value));
        }
    }
    data
}

// ---------------------------------------------------------------------------------------------
// Offers

/// The outcome of evaluating the offers on a cheque.
#[derive(Debug, Default)]
struct Evaluation {
    /// Discount per line.
    discounts: Vec<Kopecks>,
    /// Accrual percentages per line (offer index, percent), into the bonus balance.
    accruals: Vec<Vec<(usize, Basis)>>,
    /// Accruals into other currencies per line (offer index, percent).
    other_accruals: Vec<Vec<(usize, Basis)>>,
    /// Discounting offers per line (offer index, amount).
    applied: Vec<Vec<(usize, Kopecks)>>,
    /// Smallest write-off cap among applicable offers.
    cap: Option<Basis>,
    /// Offers that apply to the cheque as a whole (messages, coupon issue).
    offers: Vec<usize>,
    /// Presented coupons: (number, state it has, whether an offer used it).
    coupons: Vec<(String, Option<CouponState>, bool)>,
}

fn coupon_usable(coupon: &Coupon, card: Option<&str>, purchase: &(String, String), at: i64) -> bool {
    let state_ok = coupon.state == CouponState::Issued
        || (coupon.state == CouponState::QueuedToUse && coupon.purchase.as_ref() == Some(purchase));
    let card_ok = coupon.card.is_none() || coupon.card.as_deref() == card;
    state_ok && card_ok && coupon.valid_to.is_none_or(|t| at < t)
}

fn find_coupon<'a>(p: &'a Project, presented: &str) -> Option<&'a Coupon> {
    let value = strip_track(presented).unwrap_or_else(|| presented.trim().to_owned());
    p.coupons.get(&value).or_else(|| {
        p.coupons
            .values()
            .find(|c| c.barcode.as_deref() == Some(value.as_str()))
    })
}

fn line_matches(p: &Project, offer: &Offer, line: &Line) -> bool {
    if offer.exclude_promo && line.is_promo {
        return false;
    }
    if offer.goods.is_empty() && offer.groups.is_empty() {
        return true;
    }
    offer.goods.contains(&line.goods_id)
        || offer.groups.iter().any(|g| {
            p.goods_groups
                .get(g)
                .is_some_and(|goods| goods.contains(&line.goods_id))
        })
}

fn evaluate(
    p: &Project,
    card: Option<&str>,
    cheque: &Cheque,
    coupons: &[String],
    params: &[(String, String)],
    purchase: &(String, String),
    at: i64,
) -> Evaluation {
    let n = cheque.lines.len();
    let mut ev = Evaluation {
        discounts: vec![0; n],
        accruals: vec![Vec::new(); n],
        other_accruals: vec![Vec::new(); n],
        applied: vec![Vec::new(); n],
        ..Evaluation::default()
    };
    let card_type = card.and_then(|c| p.cards.get(c)).map(|c| c.card_type.as_str());
    let usable_coupons: Vec<&Coupon> = coupons
        .iter()
        .filter_map(|c| find_coupon(p, c))
        .filter(|c| coupon_usable(c, card, purchase, at))
        .collect();
    let mut used_emissions = BTreeSet::new();
    let total = cheque.total();
    for (index, offer) in p.offers.iter().enumerate() {
        let active = offer.valid_from.is_none_or(|f| at >= f)
            && offer.valid_to.is_none_or(|t| at < t)
            && (offer.card_types.is_empty() || card_type.is_some_and(|t| offer.card_types.iter().any(|x| x == t)))
            && (!offer.requires_card || card.is_some())
            && offer.min_cheque_amount.is_none_or(|m| total >= m)
            && offer
                .param
                .as_ref()
                .is_none_or(|(name, value)| params.iter().any(|(n, v)| n == name && v == value))
            && offer
                .coupon
                .as_ref()
                .is_none_or(|emission| usable_coupons.iter().any(|c| &c.emission == emission));
        if !active {
            continue;
        }
        if let Some(emission) = &offer.coupon {
            used_emissions.insert(emission.clone());
        }
        let mut any_line = false;
        for (i, line) in cheque.lines.iter().enumerate() {
            if !line_matches(p, offer, line) {
                continue;
            }
            any_line = true;
            let mut discount = 0;
            if let Some(percent) = offer.discount_percent {
                discount += percent_of(line.amount, percent);
            }
            if let Some(per_unit) = offer.discount_per_unit {
                discount += scale(per_unit, line.quantity, 1000);
            }
            if discount > 0 {
                // Never below the minimum price the till sent, never below zero.
                let floor = line.min_price.map_or(0, |m| scale(m, line.quantity, 1000));
                let room = (line.amount - floor - ev.discounts[i]).max(0);
                let discount = discount.min(room);
                if discount > 0 {
                    ev.discounts[i] += discount;
                    ev.applied[i].push((index, discount));
                }
            }
            if let Some(percent) = offer.accrual_percent
                && card.is_some()
            {
                match offer.accrual_currency {
                    None => ev.accruals[i].push((index, percent)),
                    Some(_) => ev.other_accruals[i].push((index, percent)),
                }
            }
        }
        if let Some(cap) = offer.write_off_cap_percent {
            ev.cap = Some(ev.cap.map_or(cap, |c: Basis| c.min(cap)));
        }
        if any_line || (offer.goods.is_empty() && offer.groups.is_empty()) {
            ev.offers.push(index);
        }
    }
    for presented in coupons {
        let found = find_coupon(p, presented);
        let state = found.map(|c| c.state);
        let used = found.is_some_and(|c| coupon_usable(c, card, purchase, at) && used_emissions.contains(&c.emission));
        ev.coupons
            .push((found.map_or(presented.clone(), |c| c.number.clone()), state, used));
    }
    ev
}

/// The most points the purchase may still write off.
fn write_off_room(cheque: &Cheque, ev: &Evaluation, already: Kopecks) -> Kopecks {
    let after_discounts: Kopecks = cheque.total() - ev.discounts.iter().sum::<Kopecks>();
    let cap = percent_of(after_discounts, ev.cap.unwrap_or(10_000));
    (cap - already).max(0)
}

fn display_points(points: Kopecks) -> String {
    if points % 100 == 0 {
        (points / 100).to_string()
    } else {
        format_money(points)
    }
}

struct Figures {
    discount: Kopecks,
    cashback: Kopecks,
    write_off: Kopecks,
    balance: Kopecks,
}

fn render_message(template: &str, f: &Figures) -> String {
    template
        .replace("{discount}", &display_points(f.discount))
        .replace("{cashback}", &display_points(f.cashback))
        .replace("{writeOff}", &display_points(f.write_off))
        .replace("{balance}", &display_points(f.balance))
}

fn messages(p: &Project, ev: &Evaluation, figures: &Figures, reply: &mut Reply) {
    let mut cheque = Vec::new();
    let mut cashier = Vec::new();
    for &i in &ev.offers {
        let offer = &p.offers[i];
        if let Some(t) = &offer.cheque_message {
            cheque.push(render_message(t, figures));
        }
        if let Some(t) = &offer.cashier_message {
            cashier.push(render_message(t, figures));
        }
    }
    for (number, state, used) in &ev.coupons {
        if !used {
            let why = match state {
                None => "не найден".to_owned(),
                Some(CouponState::Issued) => "не подходит к чеку".to_owned(),
                Some(s) => format!("в состоянии {s:?}"),
            };
            cashier.push(format!("Купон {number} не применён: {why}"));
        }
    }
    if !cheque.is_empty() {
        reply
            .children
            .push(Element::new("ChequeMessage").text(cheque.join("\n")));
    }
    if !cashier.is_empty() {
        reply
            .children
            .push(Element::new("CashierMessage").text(cashier.join("\n")));
    }
}

fn offer_element(p: &Project, index: usize, value: Kopecks, quantity: i64) -> Element {
    let offer = &p.offers[index];
    Element::new("Offer")
        .attr("Id", offer.id.to_string())
        .attr("VersionId", "1")
        .attr("Name", offer.name.clone())
        .attr("ExternalId", offer.external_id.clone())
        .attr("Quantity", format_quantity(quantity))
        // Loymax's own spelling in the 2024 sample.
        .attr("PrerefenceValue", format_money(value))
        .attr("CurrencyAbbreviation", p.bonus_currency.clone())
}

fn cheque_element(
    p: &Project,
    lines: &[Line],
    ev: Option<&Evaluation>,
    cashback: &[Vec<(usize, Kopecks)>],
    pay: &[Kopecks],
) -> Element {
    let mut cheque = Element::new("Cheque");
    for (i, line) in lines.iter().enumerate() {
        let discount = ev.map_or(0, |e| e.discounts[i]);
        let line_cashback: Kopecks = cashback.get(i).map_or(0, |c| c.iter().map(|(_, v)| v).sum());
        let mut element = Element::new("ChequeLine")
            .attr("PosID", line.pos_id.clone())
            .attr("GoodsId", line.goods_id.clone())
            .attr("Quantity", format_quantity(line.quantity))
            .attr("Amount", format_money(line.amount))
            .attr("Discount", format_money(discount))
            .attr("Cashback", format_money(line_cashback))
            .attr("PayAmount", format_money(pay.get(i).copied().unwrap_or(0)));
        let mut offers = Element::new("AppliedOffers");
        if let Some(ev) = ev {
            for (index, value) in &ev.applied[i] {
                offers = offers.child(offer_element(p, *index, *value, line.quantity));
            }
        }
        for (index, value) in cashback.get(i).into_iter().flatten() {
            offers = offers.child(offer_element(p, *index, *value, line.quantity));
        }
        if !offers.children.is_empty() {
            element = element.child(offers);
        }
        cheque = cheque.child(element);
    }
    cheque
}

fn loyalty_programs(p: &Project) -> Element {
    Element::new("LoyaltyPrograms").child(Element::new("LoyaltyProgram").attr("Name", p.loyalty_program.clone()))
}

/// Accrual per line and offer, on what the customer pays in money (after discounts and points).
fn cashback(cheque: &Cheque, ev: &Evaluation, pay: &[Kopecks]) -> Vec<Vec<(usize, Kopecks)>> {
    cheque
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let base = (line.amount - ev.discounts[i] - pay.get(i).copied().unwrap_or(0)).max(0);
            ev.accruals[i]
                .iter()
                .map(|(offer, percent)| (*offer, percent_of(base, *percent)))
                .filter(|(_, v)| *v > 0)
                .collect()
        })
        .collect()
}

/// Accruals into other currencies for the whole cheque, on the same base as [`cashback`].
fn other_cashback(p: &Project, cheque: &Cheque, ev: &Evaluation, pay: &[Kopecks]) -> BTreeMap<String, Kopecks> {
    let mut totals = BTreeMap::new();
    for (i, line) in cheque.lines.iter().enumerate() {
        let base = (line.amount - ev.discounts[i] - pay.get(i).copied().unwrap_or(0)).max(0);
        for (offer, percent) in &ev.other_accruals[i] {
            if let Some(currency) = &p.offers[*offer].accrual_currency {
                *totals.entry(currency.clone()).or_default() += percent_of(base, *percent);
            }
        }
    }
    totals.retain(|_, v| *v > 0);
    totals
}

// ---------------------------------------------------------------------------------------------
// Purchases

fn key(device: &str, req: &Request) -> (String, String) {
    (device.to_owned(), req.purchase_id.clone().unwrap_or_default())
}

fn next_transaction(p: &mut Project) -> u64 {
    p.next_transaction += 1;
    p.next_transaction
}

fn is_open(purchase: &Purchase) -> bool {
    matches!(purchase.state, PurchaseState::Calculated | PurchaseState::Discounted)
}

fn closed_failure(purchase: &Purchase) -> Failure {
    let why = match purchase.state {
        PurchaseState::Confirmed => "покупка уже подтверждена",
        PurchaseState::Canceled => "покупка отменена",
        PurchaseState::Expired => "покупка отменена процессингом: истёк срок подтверждения",
        _ => "неверный порядок операций",
    };
    Failure::with(Code::IncorrectOperationOrder, why)
}

/// Releases everything an open purchase holds and moves it to `state`.
fn release(p: &mut Project, key: &(String, String), state: PurchaseState) {
    let Some(purchase) = p.purchases.get_mut(key) else {
        return;
    };
    if !is_open(purchase) {
        return;
    }
    purchase.state = state;
    p.open.remove(&(purchase.expires_at, key.0.clone(), key.1.clone()));
    let card = purchase.card.clone();
    let mut released = 0;
    let mut released_by_day = Vec::new();
    for op in &mut purchase.operations {
        if op.state == OperationState::Created {
            op.state = OperationState::Canceled;
            if op.points < 0 {
                released += -op.points;
                if op.kind == OperationKind::PaymentOperation {
                    released_by_day.push((op.at, -op.points));
                }
            }
        }
    }
    let refund_of = purchase.refund_of.clone();
    let lines = purchase.cheque.clone();
    let (pay, cash) = (purchase.pay_amounts.clone(), purchase.cashback.clone());
    let offset = p.offset;
    if let Some(card) = card.and_then(|c| p.cards.get_mut(&c)) {
        card.held -= released;
        for (at, points) in released_by_day {
            let day = format_datetime(at, offset).get(..10).unwrap_or_default().to_owned();
            if let Some(total) = card.written_off_by_day.get_mut(&day) {
                *total -= points;
            }
        }
    }
    // A refund that does not happen gives its quantities back to the original purchase.
    if let Some(original) = refund_of.and_then(|k| p.purchases.get_mut(&k)) {
        for (i, line) in lines.iter().enumerate() {
            if let Some(q) = original.refunded.get_mut(&line.pos_id) {
                *q -= line.quantity;
            }
            if let Some(v) = original.refunded_pay.get_mut(&line.pos_id) {
                *v -= pay.get(i).copied().unwrap_or(0);
            }
            if let Some(v) = original.refunded_cashback.get_mut(&line.pos_id) {
                *v -= cash.get(i).copied().unwrap_or(0);
            }
        }
    }
    for coupon in p.coupons.values_mut() {
        if coupon.purchase.as_ref() == Some(key) {
            coupon.state = match coupon.state {
                CouponState::QueuedToUse => CouponState::Issued,
                CouponState::QueuedToIssue => CouponState::Rejected,
                s => s,
            };
            coupon.purchase = None;
        }
    }
}

/// Auto-cancels purchases left unconfirmed past the project's timeout (spec 1.7 rule 10).
pub fn expire(p: &mut Project, now: i64) {
    while let Some(first) = p.open.first().cloned() {
        if first.0 > now {
            break;
        }
        release(p, &(first.1.clone(), first.2.clone()), PurchaseState::Expired);
        p.open.remove(&first);
    }
}

fn new_purchase(p: &mut Project, key: &(String, String), card: Option<String>, now: i64) -> Purchase {
    let expires_at = now.saturating_add(p.purchase_timeout_ms);
    p.open.insert((expires_at, key.0.clone(), key.1.clone()));
    Purchase {
        device: key.0.clone(),
        purchase_id: key.1.clone(),
        card,
        state: PurchaseState::Calculated,
        cheque: Vec::new(),
        cheque_date: None,
        discounts: Vec::new(),
        cashback: Vec::new(),
        pay_amounts: Vec::new(),
        operations: Vec::new(),
        coupons_used: Vec::new(),
        coupons_issued: Vec::new(),
        calculated_coupons: Vec::new(),
        calculated_params: Vec::new(),
        created_at: now,
        expires_at,
        refund_of: None,
        refunded: Default::default(),
        refunded_pay: Default::default(),
        refunded_cashback: Default::default(),
    }
}

fn paid(purchase: &Purchase) -> Kopecks {
    purchase
        .operations
        .iter()
        .filter(|o| o.kind == OperationKind::PaymentOperation && o.state == OperationState::Created)
        .map(|o| -o.points)
        .sum()
}

fn balance(p: &mut Project, req: &Request, now: i64) -> Result<Reply, Failure> {
    let number = card_of(p, req, now)?
        .ok_or_else(|| Failure::with(Code::RequereFieldException, "нет элемента Identifier в BalanceRequest"))?;
    let mut reply = Reply::default();
    reply.attr("BonusAmount", format_money(available(&p.cards[&number])));
    reply.attr("Currency", p.currency.clone());
    reply.children.push(identifier_data(p, &number));
    let others = &p.cards[&number].other_balances;
    if !others.is_empty() {
        let mut element = Element::new("Balances");
        for (currency, amount) in others {
            element = element.child(
                Element::new("Balance")
                    .attr("Currency", currency.clone())
                    .attr("Amount", format_money(*amount)),
            );
        }
        reply.children.push(element);
    }
    Ok(reply)
}

fn same_lines(a: &[Line], b: &[Line], discounts: &[Kopecks]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).enumerate().all(|(i, (x, y))| {
            x.pos_id == y.pos_id
                && x.goods_id == y.goods_id
                && x.quantity == y.quantity
                && x.price == y.price
                // The till may send the line before or after applying our discount.
                && (x.amount == y.amount || x.amount == y.amount - discounts.get(i).copied().unwrap_or(0))
        })
}

fn calculate(p: &mut Project, device: &str, req: &Request, now: i64) -> Result<Reply, Failure> {
    let key = key(device, req);
    if let Some(existing) = p.purchases.get(&key) {
        if !is_open(existing) {
            return Err(closed_failure(existing));
        }
        if existing.state == PurchaseState::Discounted {
            return Err(Failure::with(
                Code::IncorrectOperationOrder,
                "покупка уже рассчитана окончательно",
            ));
        }
        if existing.refund_of.is_some() {
            return Err(Failure::new(Code::NotUniquePurchaseID));
        }
    }
    // A recalculation without an identifier keeps the purchase's card.
    let card = match card_of(p, req, now)? {
        Some(card) => Some(card),
        None => p.purchases.get(&key).and_then(|e| e.card.clone()),
    };
    if let Some(existing) = p.purchases.get(&key)
        && existing.card.is_some()
        && existing.card != card
        && paid(existing) > 0
    {
        return Err(Failure::with(
            Code::DifferentPurchase,
            "карта покупки изменилась после списания",
        ));
    }
    let cheque = req.cheque.clone().unwrap_or_default();
    let at = cheque.date.or(req.operation_date).unwrap_or(now);
    let ev = evaluate(p, card.as_deref(), &cheque, &req.coupons, &req.params, &key, at);
    let already = p.purchases.get(&key).map_or(0, paid);
    let transaction = next_transaction(p);
    let mut purchase = match p.purchases.remove(&key) {
        Some(existing) => existing,
        None => new_purchase(p, &key, card.clone(), now),
    };
    purchase.card = card.clone();
    purchase.cheque = cheque.lines.clone();
    purchase.cheque_date = cheque.date;
    purchase.discounts = ev.discounts.clone();
    purchase.calculated_coupons = req.coupons.clone();
    purchase.calculated_params = req.params.clone();
    let weights: Vec<Kopecks> = cheque
        .lines
        .iter()
        .zip(&ev.discounts)
        .map(|(l, d)| l.amount - d)
        .collect();
    purchase.pay_amounts = allocate(already, &weights);
    purchase.operations.push(Operation {
        operation_id: req.operation_id.clone(),
        kind: OperationKind::Calculate,
        state: OperationState::Confirmed,
        points: 0,
        transaction_id: transaction,
        at: req.operation_date.unwrap_or(now),
        currency: None,
    });
    let pay = purchase.pay_amounts.clone();
    p.purchases.insert(key.clone(), purchase);

    let cash = cashback(&cheque, &ev, &pay);
    let balance = card.as_ref().map_or(0, |c| available(&p.cards[c]));
    let room = write_off_room(&cheque, &ev, already);
    let spendable = match card.as_ref().map(|c| &p.cards[c]) {
        Some(c) if c.state == CardState::Activated => room.min(balance.max(0)),
        _ => 0,
    };
    let mut reply = Reply::default();
    reply.attr("Balance", format_money(balance));
    reply.attr("AvailableAmount", format_money(spendable));
    reply.attr("AvailableBonusAmount", format_money(spendable));
    if let Some(c) = &card {
        reply.children.push(identifier_data(p, c));
    }
    reply
        .children
        .push(cheque_element(p, &cheque.lines, Some(&ev), &cash, &pay));
    if !ev.coupons.is_empty() {
        reply.children.push(coupons_element(p, &ev));
    }
    let figures = Figures {
        discount: ev.discounts.iter().sum(),
        cashback: cash.iter().flatten().map(|(_, v)| v).sum(),
        write_off: already,
        balance,
    };
    messages(p, &ev, &figures, &mut reply);
    reply.children.push(loyalty_programs(p));
    Ok(reply)
}

fn coupons_element(p: &Project, ev: &Evaluation) -> Element {
    let mut coupons = Element::new("Coupons");
    for (number, state, used) in &ev.coupons {
        let state = p.coupons.get(number).map(|c| c.state).or(*state);
        coupons = coupons.child(
            Element::new("Coupon")
                .attr("Number", number.clone())
                .attr("State", state.map_or("NotFound".to_owned(), |s| format!("{s:?}")))
                .attr("Applied", if *used { "true" } else { "false" }),
        );
    }
    coupons
}

fn available_amount(p: &mut Project, device: &str, req: &Request, now: i64) -> Result<Reply, Failure> {
    let key = key(device, req);
    if let Some(existing) = p.purchases.get(&key)
        && !is_open(existing)
    {
        return Err(closed_failure(existing));
    }
    let number = card_of(p, req, now)?.ok_or_else(|| Failure::new(Code::CardNotFound))?;
    let cheque = req.cheque.clone().unwrap_or_default();
    let at = cheque.date.or(req.operation_date).unwrap_or(now);
    let ev = evaluate(p, Some(&number), &cheque, &[], &req.params, &key, at);
    let already = p.purchases.get(&key).map_or(0, paid);
    let after_discounts: Kopecks = cheque.total() - ev.discounts.iter().sum::<Kopecks>();
    if already > percent_of(after_discounts, ev.cap.unwrap_or(10_000)) {
        return Err(Failure::with(
            Code::PurchaseExtraPayment,
            "уже списано больше, чем допустимо для этого чека",
        ));
    }
    let card = &p.cards[&number];
    let mut reply = Reply::default();
    let amount = if card.state == CardState::Activated {
        write_off_room(&cheque, &ev, already).min(available(card).max(0))
    } else {
        reply
            .children
            .push(Element::new("CashierMessage").text("Карта не активирована: списание бонусов невозможно"));
        0
    };
    reply.attr("Amount", format_money(amount));
    reply.attr("BonusAmount", format_money(amount));
    Ok(reply)
}

fn local_day(p: &Project, at: i64) -> String {
    format_datetime(at, p.offset).get(..10).unwrap_or_default().to_owned()
}

fn payment(p: &mut Project, device: &str, req: &Request, now: i64) -> Result<Reply, Failure> {
    let key = key(device, req);
    let amount = req.amount.unwrap_or(0);
    let at = req.operation_date.unwrap_or(now);
    if p.outages.iter().any(|(from, to)| *from <= at && at < *to) {
        return Err(Failure::with(
            Code::PaymentException,
            "списание бонусов датировано периодом офлайна: в офлайне списание невозможно",
        ));
    }
    let Some(purchase) = p.purchases.get(&key) else {
        return Err(Failure::with(
            Code::IncorrectOperationOrder,
            "покупка не рассчитана (нет Calculate)",
        ));
    };
    if !is_open(purchase) {
        return Err(closed_failure(purchase));
    }
    if purchase.state == PurchaseState::Discounted {
        return Err(Failure::with(Code::IncorrectOperationOrder, "списание после Discount"));
    }
    let number = match card_of(p, req, now)? {
        Some(n) => n,
        None => p.purchases[&key]
            .card
            .clone()
            .ok_or_else(|| Failure::with(Code::CardNotFound, "списание без карты"))?,
    };
    if p.purchases[&key].card.as_deref().is_some_and(|c| c != number) {
        return Err(Failure::with(
            Code::DifferentPurchase,
            "карта отличается от рассчитанной",
        ));
    }
    if let Some(cheque) = &req.cheque
        && !same_lines(&cheque.lines, &p.purchases[&key].cheque, &p.purchases[&key].discounts)
    {
        return Err(Failure::new(Code::DifferentCheque));
    }
    let card = &p.cards[&number];
    if card.state == CardState::NotActivated {
        return Err(Failure::new(Code::CardNotActivated));
    }
    if let Some(pin) = &card.pin
        && req.pin_code.as_deref() != Some(pin.as_str())
    {
        return Err(Failure::new(Code::WrongPin));
    }
    if let Some(limit) = p.devices.get(device).and_then(|d| d.payment_limit)
        && amount > limit
    {
        return Err(Failure::new(Code::LargePaymentAmount));
    }
    if p.exclusive_purchases
        && p.purchases
            .iter()
            .any(|(k, o)| *k != key && is_open(o) && o.card.as_deref() == Some(number.as_str()) && paid(o) > 0)
    {
        return Err(Failure::new(Code::PurchaseOperationConflict));
    }
    if amount > available(card) {
        return Err(Failure::with(
            Code::NotEnoughMoney,
            format!("доступно {} бонусов", display_points(available(card).max(0))),
        ));
    }
    let day = local_day(p, at);
    if let Some(limit) = p.daily_write_off_limit
        && card.written_off_by_day.get(&day).copied().unwrap_or(0) + amount > limit
    {
        return Err(Failure::with(Code::LimitGained, "превышен дневной лимит списания"));
    }
    let purchase = &p.purchases[&key];
    let cheque = Cheque {
        number: None,
        date: purchase.cheque_date,
        lines: purchase.cheque.clone(),
    };
    let eval_at = purchase.cheque_date.unwrap_or(at);
    let coupons = if req.coupons.is_empty() {
        purchase.calculated_coupons.clone()
    } else {
        req.coupons.clone()
    };
    let params = purchase.calculated_params.clone();
    let ev = evaluate(p, Some(&number), &cheque, &coupons, &params, &key, eval_at);
    let already = paid(purchase);
    if amount > write_off_room(&cheque, &ev, already) {
        return Err(Failure::with(
            Code::PurchaseExtraPayment,
            format!(
                "можно списать не больше {} бонусов",
                display_points(write_off_room(&cheque, &ev, already))
            ),
        ));
    }
    let transaction = next_transaction(p);
    let card = p.cards.get_mut(&number).expect("resolved above");
    card.held += amount;
    *card.written_off_by_day.entry(day).or_default() += amount;
    let purchase = p.purchases.get_mut(&key).expect("checked above");
    purchase.card = Some(number.clone());
    purchase.operations.push(Operation {
        operation_id: req.operation_id.clone(),
        kind: OperationKind::PaymentOperation,
        state: OperationState::Created,
        points: -amount,
        transaction_id: transaction,
        at,
        currency: None,
    });
    let weights: Vec<Kopecks> = purchase
        .cheque
        .iter()
        .zip(&purchase.discounts)
        .map(|(l, d)| l.amount - d)
        .collect();
    purchase.pay_amounts = allocate(already + amount, &weights);
    let lines = purchase.cheque.clone();
    let pay = purchase.pay_amounts.clone();
    let mut reply = Reply::default();
    reply.attr("TransactionID", transaction.to_string());
    reply.attr(
        "AuthCode",
        format!("{:06}", (transaction.wrapping_mul(7919)) % 1_000_000),
    );
    reply.attr("Amount", format_money(amount));
    reply.attr("BonusAmount", format_money(amount));
    reply.children.push(identifier_data(p, &number));
    reply
        .children
        .push(Element::new("ChequeMessage").text(format!("Списано: {} бонусов!", display_points(amount))));
    reply.children.push(cheque_element(p, &lines, None, &[], &pay));
    reply.children.push(loyalty_programs(p));
    Ok(reply)
}

fn check_pays(p: &Project, req: &Request) -> Result<(), Failure> {
    if p.pay_types.is_empty() {
        return Ok(());
    }
    for (kind, _) in &req.pays {
        if p.archived_pay_types.contains(kind) {
            return Err(Failure::with(
                Code::PayTypeIsArchived,
                format!("тип оплаты {kind:?} в архиве"),
            ));
        }
        if !p.pay_types.contains(kind) {
            return Err(Failure::with(
                Code::PayTypeIsNotExist,
                format!("тип оплаты {kind:?} не существует"),
            ));
        }
    }
    Ok(())
}

fn issue_coupon_number(p: &mut Project, format: &str) -> String {
    p.next_coupon += 1;
    let n = p.next_coupon;
    match format {
        "EAN13" => {
            let body = format!("29{n:010}");
            format!("{body}{}", ean13_check(&body))
        }
        _ => format!("LMX-{n:08}"),
    }
}

/// The EAN-13 check digit of twelve digits (weights 1, 3, 1, …).
fn ean13_check(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b.wrapping_sub(b'0')) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    (10 - sum % 10) % 10
}

fn discount(p: &mut Project, device: &str, req: &Request, now: i64) -> Result<Reply, Failure> {
    let key = key(device, req);
    let cheque = req.cheque.clone().unwrap_or_default();
    check_pays(p, req)?;
    let card = match p.purchases.get(&key) {
        Some(existing) if !is_open(existing) => return Err(closed_failure(existing)),
        Some(existing) if existing.state == PurchaseState::Discounted => {
            return Err(Failure::with(Code::IncorrectOperationOrder, "Discount уже выполнен"));
        }
        Some(existing) if existing.refund_of.is_some() => return Err(Failure::new(Code::NotUniquePurchaseID)),
        Some(existing) => {
            if !same_lines(&cheque.lines, &existing.cheque, &existing.discounts) {
                return Err(Failure::new(Code::DifferentCheque));
            }
            let card = card_of(p, req, now)?;
            let existing = &p.purchases[&key];
            if card.is_some() && existing.card.is_some() && card != existing.card {
                return Err(Failure::with(
                    Code::DifferentPurchase,
                    "карта отличается от рассчитанной",
                ));
            }
            card.or_else(|| existing.card.clone())
        }
        None => {
            // No Calculate: an offline receipt uploaded later (spec 1.10) — calculated here.
            let card = card_of(p, req, now)?;
            let purchase = new_purchase(p, &key, card.clone(), now);
            p.purchases.insert(key.clone(), purchase);
            card
        }
    };
    let at = cheque.date.or(req.operation_date).unwrap_or(now);
    let ev = evaluate(p, card.as_deref(), &cheque, &req.coupons, &req.params, &key, at);
    let purchase = &p.purchases[&key];
    let already = paid(purchase);
    // The till may send the lines after applying our discount: evaluate on the calculated lines.
    let lines = if purchase.cheque.is_empty() {
        cheque.lines.clone()
    } else {
        purchase.cheque.clone()
    };
    let base_cheque = Cheque {
        number: cheque.number.clone(),
        date: cheque.date,
        lines: lines.clone(),
    };
    let ev = if purchase.cheque.is_empty() {
        ev
    } else {
        evaluate(p, card.as_deref(), &base_cheque, &req.coupons, &req.params, &key, at)
    };
    let weights: Vec<Kopecks> = lines.iter().zip(&ev.discounts).map(|(l, d)| l.amount - d).collect();
    let pay = allocate(already, &weights);
    let cash = cashback(&base_cheque, &ev, &pay);
    let accrued: Kopecks = cash.iter().flatten().map(|(_, v)| v).sum();
    let transaction = next_transaction(p);
    let at_op = req.operation_date.unwrap_or(now);
    // Coupons: presented ones that an offer used are queued to use; offers may issue new ones.
    let used: Vec<String> = ev
        .coupons
        .iter()
        .filter(|(_, _, used)| *used)
        .map(|(n, _, _)| n.clone())
        .collect();
    for number in &used {
        if let Some(c) = p.coupons.get_mut(number) {
            c.state = CouponState::QueuedToUse;
            c.purchase = Some(key.clone());
        }
    }
    let mut issued = Vec::new();
    for &i in &ev.offers {
        if let Some(rule) = p.offers[i].issue_coupon.clone() {
            let number = issue_coupon_number(p, &rule.format);
            let valid_to = at_op.saturating_add(i64::from(rule.valid_days) * 86_400_000);
            p.coupons.insert(
                number.clone(),
                Coupon {
                    number: number.clone(),
                    emission: rule.emission.clone(),
                    barcode: Some(number.clone()),
                    state: CouponState::QueuedToIssue,
                    card: card.clone(),
                    valid_to: Some(valid_to),
                    purchase: Some(key.clone()),
                },
            );
            issued.push((number, rule.format.clone(), valid_to));
        }
    }
    let purchase = p.purchases.get_mut(&key).expect("created above");
    purchase.card = card.clone();
    purchase.cheque = lines.clone();
    purchase.cheque_date = cheque.date;
    purchase.discounts = ev.discounts.clone();
    purchase.pay_amounts = pay.clone();
    purchase.cashback = cash.iter().map(|c| c.iter().map(|(_, v)| v).sum()).collect();
    purchase.state = PurchaseState::Discounted;
    purchase.coupons_used = used;
    purchase.coupons_issued = issued.iter().map(|(n, _, _)| n.clone()).collect();
    let others = if card.is_some() {
        other_cashback(p, &base_cheque, &ev, &pay)
    } else {
        BTreeMap::new()
    };
    let purchase = p.purchases.get_mut(&key).expect("created above");
    for (currency, points) in &others {
        purchase.operations.push(Operation {
            operation_id: req.operation_id.clone(),
            kind: OperationKind::CashbackOperation,
            state: OperationState::Created,
            points: *points,
            transaction_id: transaction,
            at: at_op,
            currency: Some(currency.clone()),
        });
    }
    if card.is_some() && accrued > 0 {
        purchase.operations.push(Operation {
            operation_id: req.operation_id.clone(),
            kind: OperationKind::CashbackOperation,
            state: OperationState::Created,
            points: accrued,
            transaction_id: transaction,
            at: at_op,
            currency: None,
        });
    }
    let balance = card.as_ref().map_or(0, |c| available(&p.cards[c]));
    let mut reply = Reply::default();
    reply.attr("TransactionID", transaction.to_string());
    reply.attr("BonusAmount", format_money(accrued));
    reply.attr("Balance", format_money(balance));
    if let Some(c) = &card {
        reply.children.push(identifier_data(p, c));
    }
    reply.children.push(cheque_element(p, &lines, Some(&ev), &cash, &pay));
    if !ev.coupons.is_empty() {
        reply.children.push(coupons_element(p, &ev));
    }
    if !issued.is_empty() {
        let mut element = Element::new("IssuedCoupons");
        for (number, format, valid_to) in &issued {
            element = element.child(
                Element::new("Coupon")
                    .attr("Number", number.clone())
                    .attr("Barcode", number.clone())
                    .attr("Format", format.clone())
                    .attr("ValidTo", format_datetime(*valid_to, p.offset)),
            );
        }
        reply.children.push(element);
    }
    if !others.is_empty() {
        let mut element = Element::new("OtherAccruals");
        for (currency, amount) in &others {
            element = element.child(
                Element::new("Accrual")
                    .attr("Currency", currency.clone())
                    .attr("Amount", format_money(*amount)),
            );
        }
        reply.children.push(element);
    }
    let figures = Figures {
        discount: ev.discounts.iter().sum(),
        cashback: accrued,
        write_off: already,
        balance,
    };
    messages(p, &ev, &figures, &mut reply);
    reply.children.push(loyalty_programs(p));
    Ok(reply)
}

fn confirm(p: &mut Project, device: &str, req: &Request) -> Result<Reply, Failure> {
    let key = key(device, req);
    let purchase = p
        .purchases
        .get(&key)
        .ok_or_else(|| Failure::new(Code::PurchaseNotFound))?;
    if !is_open(purchase) {
        return Err(closed_failure(purchase));
    }
    if purchase.state != PurchaseState::Discounted {
        return Err(Failure::with(
            Code::IncorrectOperationOrder,
            "подтверждение без Discount",
        ));
    }
    let purchase = p.purchases.get_mut(&key).expect("checked above");
    purchase.state = PurchaseState::Confirmed;
    let mut delta = 0;
    let mut unhold = 0;
    let mut others: Vec<(String, Kopecks)> = Vec::new();
    for op in &mut purchase.operations {
        if op.state == OperationState::Created {
            op.state = OperationState::Confirmed;
            if let Some(currency) = &op.currency {
                others.push((currency.clone(), op.points));
                continue;
            }
            delta += op.points;
            if op.points < 0 {
                unhold += -op.points;
            }
        }
    }
    let card = purchase.card.clone();
    let expires = purchase.expires_at;
    p.open.remove(&(expires, key.0.clone(), key.1.clone()));
    if let Some(card) = card.and_then(|c| p.cards.get_mut(&c)) {
        card.balance += delta;
        card.held -= unhold;
        for (currency, points) in others {
            *card.other_balances.entry(currency).or_default() += points;
        }
    }
    for coupon in p.coupons.values_mut() {
        if coupon.purchase.as_ref() == Some(&key) {
            coupon.state = match coupon.state {
                CouponState::QueuedToUse => CouponState::Used,
                CouponState::QueuedToIssue => CouponState::Issued,
                s => s,
            };
            coupon.purchase = None;
        }
    }
    Ok(Reply::default())
}

fn cancel(p: &mut Project, device: &str, req: &Request) -> Result<Reply, Failure> {
    let key = key(device, req);
    let purchase = p
        .purchases
        .get(&key)
        .ok_or_else(|| Failure::new(Code::PurchaseNotFound))?;
    if !is_open(purchase) {
        return Err(closed_failure(purchase));
    }
    release(p, &key, PurchaseState::Canceled);
    Ok(Reply::default())
}

fn cancel_operation(p: &mut Project, device: &str, req: &Request) -> Result<Reply, Failure> {
    let key = key(device, req);
    let target = req.canceled_operation_id.clone().unwrap_or_default();
    let purchase = p
        .purchases
        .get_mut(&key)
        .ok_or_else(|| Failure::new(Code::PurchaseNotFound))?;
    let index = purchase
        .operations
        .iter()
        .position(|o| o.operation_id == target && o.kind == OperationKind::PaymentOperation)
        .ok_or_else(|| Failure::new(Code::OperationNotFound))?;
    match purchase.operations[index].state {
        OperationState::Confirmed => return Err(Failure::new(Code::OperationIsConfirmed)),
        OperationState::Canceled => return Err(Failure::new(Code::OperationIsCanceled)),
        OperationState::Created => {}
    }
    if purchase.state != PurchaseState::Calculated {
        return Err(Failure::with(
            Code::IncorrectOperationOrder,
            "списание уже учтено в Discount",
        ));
    }
    purchase.operations[index].state = OperationState::Canceled;
    let points = -purchase.operations[index].points;
    let at = purchase.operations[index].at;
    let weights: Vec<Kopecks> = purchase
        .cheque
        .iter()
        .zip(&purchase.discounts)
        .map(|(l, d)| l.amount - d)
        .collect();
    purchase.pay_amounts = allocate(paid(purchase), &weights);
    let card = purchase.card.clone();
    let day = local_day(p, at);
    if let Some(card) = card.and_then(|c| p.cards.get_mut(&c)) {
        card.held -= points;
        if let Some(total) = card.written_off_by_day.get_mut(&day) {
            *total -= points;
        }
    }
    let mut reply = Reply::default();
    reply.attr("BonusAmount", format_money(points));
    Ok(reply)
}

fn refund(p: &mut Project, device: &str, req: &Request, now: i64) -> Result<Reply, Failure> {
    let key = key(device, req);
    if p.purchases.contains_key(&key) {
        return Err(Failure::with(
            Code::NotUniquePurchaseID,
            "PurchaseID возврата уже использован",
        ));
    }
    let original_id = req.refund_purchase_id.clone().unwrap_or_default();
    // The original purchase of this till first, else of any till of the project (the first by
    // device login when several tills used the id).
    let original_key = if p.purchases.contains_key(&(device.to_owned(), original_id.clone())) {
        (device.to_owned(), original_id.clone())
    } else {
        p.purchases
            .keys()
            .filter(|(_, id)| *id == original_id)
            .min()
            .cloned()
            .ok_or_else(|| Failure::with(Code::PurchaseNotFound, "возвращаемая покупка не найдена"))?
    };
    let original = &p.purchases[&original_key];
    if original.state != PurchaseState::Confirmed {
        return Err(Failure::with(
            Code::IncorrectOperationOrder,
            "возврат возможен только по подтверждённой покупке",
        ));
    }
    let cheque = req.cheque.clone().unwrap_or_default();
    if cheque.lines.is_empty() {
        return Err(Failure::with(Code::RequereFieldException, "нет строк в чеке возврата"));
    }
    let mut pay_back = Vec::new();
    let mut cash_back = Vec::new();
    for line in &cheque.lines {
        let Some(i) = original.cheque.iter().position(|o| o.pos_id == line.pos_id) else {
            return Err(Failure::with(
                Code::DifferentPurchase,
                format!("строки PosID={:?} нет в покупке", line.pos_id),
            ));
        };
        let orig = &original.cheque[i];
        let returned = original.refunded.get(&line.pos_id).copied().unwrap_or(0);
        if orig.goods_id != line.goods_id || returned + line.quantity > orig.quantity {
            return Err(Failure::with(
                Code::DifferentPurchase,
                format!("строка PosID={:?} не соответствует покупке", line.pos_id),
            ));
        }
        let orig_pay = original.pay_amounts.get(i).copied().unwrap_or(0);
        let orig_cash = original.cashback.get(i).copied().unwrap_or(0);
        let done_pay = original.refunded_pay.get(&line.pos_id).copied().unwrap_or(0);
        let done_cash = original.refunded_cashback.get(&line.pos_id).copied().unwrap_or(0);
        // The last return of a line takes what is left, so refunds never exceed the original.
        if returned + line.quantity == orig.quantity {
            pay_back.push(orig_pay - done_pay);
            cash_back.push(orig_cash - done_cash);
        } else {
            pay_back.push(scale(orig_pay, line.quantity, orig.quantity).min(orig_pay - done_pay));
            cash_back.push(scale(orig_cash, line.quantity, orig.quantity).min(orig_cash - done_cash));
        }
    }
    let card = original.card.clone();
    let transaction = next_transaction(p);
    let original = p.purchases.get_mut(&original_key).expect("found above");
    for (i, line) in cheque.lines.iter().enumerate() {
        *original.refunded.entry(line.pos_id.clone()).or_default() += line.quantity;
        *original.refunded_pay.entry(line.pos_id.clone()).or_default() += pay_back[i];
        *original.refunded_cashback.entry(line.pos_id.clone()).or_default() += cash_back[i];
    }
    let mut purchase = new_purchase(p, &key, card.clone(), now);
    purchase.state = PurchaseState::Discounted;
    purchase.refund_of = Some(original_key);
    purchase.cheque = cheque.lines.clone();
    purchase.cheque_date = cheque.date;
    purchase.discounts = vec![0; cheque.lines.len()];
    purchase.pay_amounts = pay_back.clone();
    purchase.cashback = cash_back.clone();
    let at = req.operation_date.unwrap_or(now);
    let total_pay: Kopecks = pay_back.iter().sum();
    let total_cash: Kopecks = cash_back.iter().sum();
    if total_pay > 0 {
        purchase.operations.push(Operation {
            operation_id: req.operation_id.clone(),
            kind: OperationKind::RefundPaymentOperation,
            state: OperationState::Created,
            points: total_pay,
            transaction_id: transaction,
            at,
            currency: None,
        });
    }
    if total_cash > 0 {
        purchase.operations.push(Operation {
            operation_id: req.operation_id.clone(),
            kind: OperationKind::RefundCashbackOperation,
            state: OperationState::Created,
            points: -total_cash,
            transaction_id: transaction,
            at,
            currency: None,
        });
        if let Some(c) = card.as_ref().and_then(|c| p.cards.get_mut(c)) {
            c.held += total_cash;
        }
    }
    p.purchases.insert(key, purchase);
    let mut reply = Reply::default();
    reply.attr("TransactionID", transaction.to_string());
    reply.attr("BonusAmount", format_money(total_pay - total_cash));
    let mut element = Element::new("Cheque");
    for (i, line) in cheque.lines.iter().enumerate() {
        element = element.child(
            Element::new("ChequeLine")
                .attr("PosID", line.pos_id.clone())
                .attr("GoodsId", line.goods_id.clone())
                .attr("Quantity", format_quantity(line.quantity))
                .attr("Amount", format_money(line.amount))
                .attr("Cashback", format_money(-cash_back[i]))
                .attr("PayAmount", format_money(pay_back[i])),
        );
    }
    if let Some(c) = &card {
        reply.children.push(identifier_data(p, c));
    }
    reply.children.push(element);
    Ok(reply)
}

fn card_replace(p: &mut Project, req: &Request, now: i64) -> Result<Reply, Failure> {
    let (new_number, password) = req.new_card.clone().unwrap_or_default();
    let old = match &req.identifier {
        Some(identifier) => {
            let number = resolve(p, identifier, now)?;
            check_card(&p.cards[&number], now)?;
            Some(number)
        }
        None => None,
    };
    let new_known = p.cards.contains_key(&new_number) || by_mask(p, &new_number).is_some();
    if !new_known {
        return Err(Failure::with(Code::CardNotFound, "новая карта не найдена"));
    }
    resolve(
        p,
        &Identifier {
            kind: "CardNumber".into(),
            value: new_number.clone(),
        },
        now,
    )?;
    let new = &p.cards[&new_number];
    if old.as_deref() == Some(new_number.as_str()) {
        return Err(Failure::with(Code::BusinessError, "новая карта совпадает с заменяемой"));
    }
    if new.customer.is_some() || new.state != CardState::NotActivated {
        return Err(Failure::with(Code::BusinessError, "новая карта уже выдана"));
    }
    if let Some(expected) = &new.password
        && password.as_deref() != Some(expected.as_str())
    {
        let mut failure = Failure::with(Code::BusinessError, "CardPasswordRequired");
        failure.message = "CardPasswordRequired: введите пароль с обратной стороны новой карты".into();
        return Err(failure);
    }
    if let Some(old) = &old {
        let card = &p.cards[old];
        if card.held != 0 {
            return Err(Failure::with(
                Code::PurchaseOperationConflict,
                "по карте есть неподтверждённые покупки",
            ));
        }
        let (customer, balance) = (card.customer.clone(), card.balance);
        let old_card = p.cards.get_mut(old).expect("resolved above");
        old_card.state = CardState::Replaced;
        old_card.balance = 0;
        let new_card = p.cards.get_mut(&new_number).expect("resolved above");
        new_card.customer = customer;
        new_card.balance += balance;
    }
    let new_card = p.cards.get_mut(&new_number).expect("resolved above");
    new_card.state = CardState::Activated;
    let mut reply = Reply::default();
    reply.attr("BonusAmount", format_money(available(&p.cards[&new_number])));
    reply.attr("Currency", p.currency.clone());
    reply.children.push(identifier_data(p, &new_number));
    Ok(reply)
}

/// Issues a dynamic QR code for a card, as the mobile app would: `<number>:<code>`, valid for
/// the project's `qrValidity` on the engine clock.
pub fn issue_qr(p: &mut Project, card: &str, now: i64) -> Result<(String, i64), String> {
    if !p.cards.contains_key(card) {
        return Err(format!("no card {card:?} in project {}", p.name));
    }
    let seq = p.qr_codes.len() as u64 + 1;
    let code = format!(
        "{:06}",
        (now as u64).wrapping_mul(31).wrapping_add(seq * 7_654_321) % 1_000_000
    );
    let until = now.saturating_add(p.qr_validity_ms);
    p.qr_codes.insert(code.clone(), (card.to_owned(), until));
    Ok((format!("{card}:{code}"), until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_lose_their_sentinels() {
        assert_eq!(
            strip_track(";6390000000001234=2912101?").as_deref(),
            Some("6390000000001234")
        );
        assert_eq!(
            strip_track("%B6390000000001234^RURIK/IVAN^2912?").as_deref(),
            Some("6390000000001234")
        );
        assert_eq!(strip_track("6390000000001234").as_deref(), None);
    }

    #[test]
    fn masked_numbers_show_the_last_four_digits() {
        assert_eq!(masked("6390000000008638"), "**** **** **** 8638");
    }

    #[test]
    fn ean13_check_digits() {
        // 4006381333931 is a well-known valid EAN-13.
        assert_eq!(ean13_check("400638133393"), 1);
    }
}

//! The Paygate's request processing, without I/O: open the envelope (`MerchantID`, `Len`,
//! `Data`), decrypt, check formats and the MAC, then run the sale, credit or inquiry on the state
//! and seal the answer. The asynchronous part of a sale (notifies, the customer in the app, the
//! browser return) is `flow`'s; this module only builds the messages it sends.

use possim_engine::clock::Millis;
use serde_json::{Value, json};

use crate::codes::{self, Code, business};
use crate::crypto;
use crate::form::Fields;
use crate::model::{
    Credit, CreditOrder, Decision, DecisionKind, Echo, Member, Merchant, Payment, PaymentStatus, PointsChoice,
    REQ_ID_LIFETIME_MS, State, StoredAnswer,
};
use crate::retention;
use crate::validate::{self, Rule};

/// The Paygate endpoints the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `PaybackPay.aspx`.
    Sale,
    /// `credit.aspx`.
    Credit,
    /// `inquire.aspx`.
    Inquire,
}

impl Endpoint {
    /// The endpoint for a request path (case-insensitive, as IIS serves them).
    pub fn from_path(path: &str) -> Option<Self> {
        let name = path.trim_start_matches('/');
        if name.eq_ignore_ascii_case("PaybackPay.aspx") {
            Some(Endpoint::Sale)
        } else if name.eq_ignore_ascii_case("credit.aspx") {
            Some(Endpoint::Credit)
        } else if name.eq_ignore_ascii_case("inquire.aspx") {
            Some(Endpoint::Inquire)
        } else {
            None
        }
    }

    /// The page name, as documented.
    pub fn page(self) -> &'static str {
        match self {
            Endpoint::Sale => "PaybackPay.aspx",
            Endpoint::Credit => "credit.aspx",
            Endpoint::Inquire => "inquire.aspx",
        }
    }

    fn rules(self) -> &'static [Rule] {
        match self {
            Endpoint::Sale => validate::SALE,
            Endpoint::Credit => validate::CREDIT,
            Endpoint::Inquire => validate::INQUIRE,
        }
    }
}

/// What the Paygate answers, plus what people and the judge read of it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response body as sent.
    pub body: String,
    /// `{"request": {decrypted fields}, "response": {decrypted fields}, "notes": [...]}`.
    pub view: Value,
    /// The PayID of a sale whose asynchronous flow must start now.
    pub started: Option<String>,
}

/// Default base of PAYBACK's payment-authorization page (the seed's sample `redirecturl`).
pub const REDIRECT_BASE: &str = "https://www.tst1.pb-nonprod.de/site-demo/payauthorization";

/// The redemption factor in Germany (100 points = 1 EUR).
pub const REDEMPTION_FACTOR: &str = "0.01";

/// An answer the shop can read without keys: the envelope itself was unusable.
fn plain_failure(merchant_id: &str, code: Code, description: &str, request: Value, notes: Vec<String>) -> Answer {
    let mut fields = Fields::default();
    fields.push("mid", merchant_id);
    fields.push("Status", "FAILED");
    fields.push("Description", description);
    fields.push("Code", code.to_string());
    Answer {
        body: fields.encode(),
        view: json!({"request": request, "response": fields.to_json(), "notes": notes}),
        started: None,
    }
}

/// Encrypts `fields` for `merchant` as `Len=…&Data=…`.
pub fn seal(merchant: &Merchant, padding: crypto::Padding, fields: &Fields) -> String {
    let plain = fields.encode();
    match crypto::encrypt(merchant.cipher, &merchant.crypt_password, &plain, padding) {
        Ok((len, data)) => format!("Len={len}&Data={data}"),
        // Keys are checked when the data set loads, so this cannot happen; answer in plain text
        // rather than panic.
        Err(e) => format!("{plain}&Description=encryption failed: {e}"),
    }
}

/// Appends the MAC over `PayID*TransID*mid*Status*Code` (uppercase).
pub fn sign(merchant: &Merchant, fields: &mut Fields) {
    let get = |k: &str| fields.get(k).unwrap_or("").to_owned();
    let mac = crypto::mac(
        &merchant.hmac_password,
        &[
            &get("PayID"),
            &get("TransID"),
            &get("mid"),
            &get("Status"),
            &get("Code"),
        ],
    );
    fields.push("MAC", mac);
}

/// Says why a callback URL would reach possim itself (the engine's `SelfCalls::check_url`);
/// `None` when it would not.
pub type SelfCallCheck<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Processes one request. `envelope` holds the outer parameters (query and form body), `now`
/// the engine time, `salt` makes generated ids differ between processes.
pub fn handle(state: &mut State, endpoint: Endpoint, envelope: &Fields, now: Millis, salt: u64) -> Answer {
    handle_with(state, endpoint, envelope, now, salt, &|_| None)
}

/// [`handle`], refusing sales whose callback URLs `self_call` says reach possim itself.
pub fn handle_with(
    state: &mut State,
    endpoint: Endpoint,
    envelope: &Fields,
    now: Millis,
    salt: u64,
    self_call: SelfCallCheck<'_>,
) -> Answer {
    let outer = json!({
        "MerchantID": envelope.get("MerchantID"),
        "Len": envelope.get("Len"),
        "Data": envelope.get("Data"),
    });
    let Some(merchant_id) = envelope.get("MerchantID").filter(|m| !m.is_empty()) else {
        return plain_failure("", Code::missing("MerchantID"), "MerchantID missing", outer, vec![]);
    };
    let Some(merchant) = state.merchants.get(merchant_id).cloned() else {
        return plain_failure(
            merchant_id,
            Code::invalid("MerchantID"),
            "MerchantID unknown",
            outer,
            vec![],
        );
    };
    let Some(data) = envelope.get("Data").filter(|d| !d.is_empty()) else {
        return plain_failure(merchant_id, Code::missing("Data"), "Data missing", outer, vec![]);
    };
    let Some(len) = envelope.get("Len").filter(|l| !l.is_empty()) else {
        return plain_failure(merchant_id, Code::missing("Len"), "Len missing", outer, vec![]);
    };
    let Ok(len) = len.trim().parse::<usize>() else {
        return plain_failure(
            merchant_id,
            Code::format("Len"),
            "Len format error: expected n..5",
            outer,
            vec![],
        );
    };
    let decrypted = match crypto::decrypt(merchant.cipher, &merchant.crypt_password, len, data) {
        Ok(d) => d,
        Err(e) => {
            let code = Code::error(codes::Module::Crypto, codes::Detail(codes::parameter_number("Data")));
            return plain_failure(merchant_id, code, &format!("decryption failed: {e}"), outer, vec![]);
        }
    };
    let mut notes = decrypted.notes.clone();
    let fields = Fields::parse(&decrypted.plain, state.settings.percent_decode);
    for key in fields.duplicates() {
        notes.push(format!("finding: parameter {key} given twice; the first one counts"));
    }
    let request_view = fields.to_json();
    let ctx = Ctx {
        merchant,
        fields,
        notes,
        request_view,
        now,
        salt,
        self_call,
    };
    if let Err((code, description)) = validate::check(endpoint.rules(), &ctx.fields) {
        return ctx.failure(state, code, &description, None);
    }
    if ctx.get("MerchantID") != merchant_id {
        return ctx.failure(
            state,
            Code::invalid("MerchantID"),
            "MerchantID in Data differs from the unencrypted MerchantID",
            None,
        );
    }
    if !ctx.mac_ok(endpoint) {
        return ctx.failure(state, Code::invalid("MAC"), "MAC invalid", None);
    }
    match endpoint {
        Endpoint::Sale => sale(state, ctx),
        Endpoint::Credit => credit(state, ctx),
        Endpoint::Inquire => inquire(state, ctx),
    }
}

struct Ctx<'a> {
    merchant: Merchant,
    fields: Fields,
    notes: Vec<String>,
    request_view: Value,
    now: Millis,
    salt: u64,
    self_call: SelfCallCheck<'a>,
}

impl Ctx<'_> {
    fn get(&self, key: &str) -> &str {
        self.fields.get(key).unwrap_or("")
    }

    fn opt(&self, key: &str) -> Option<String> {
        self.fields.get(key).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    fn mac_ok(&self, endpoint: Endpoint) -> bool {
        let given = self.get("MAC");
        let pw = &self.merchant.hmac_password;
        let (pay_id, trans_id, mid) = (self.get("PayID"), self.get("TransID"), self.get("MerchantID"));
        match endpoint {
            // The docs leave Amount and Currency out of an inquiry's MAC; Computop's own SDK hashes
            // Amount 0 and an empty Currency. Both are accepted.
            Endpoint::Inquire => [["", ""], ["0", ""]]
                .iter()
                .any(|[a, c]| crypto::mac_matches(pw, &[pay_id, trans_id, mid, a, c], given)),
            _ => crypto::mac_matches(
                pw,
                &[pay_id, trans_id, mid, self.get("Amount"), self.get("Currency")],
                given,
            ),
        }
    }

    fn req_id(&self) -> Option<String> {
        self.opt("ReqID")
    }

    /// A refused request, answered encrypted (the envelope was fine).
    fn failure(&self, state: &State, code: Code, description: &str, pay_id: Option<&str>) -> Answer {
        let mut fields = Fields::default();
        fields.push("mid", self.merchant.merchant_id.clone());
        fields.push("PayID", pay_id.unwrap_or(""));
        fields.push("XID", "");
        fields.push("TransID", self.get("TransID"));
        fields.push("Status", "FAILED");
        fields.push("Description", description);
        fields.push("Code", code.to_string());
        sign(&self.merchant, &mut fields);
        self.answer(state, &fields, None)
    }

    fn answer(&self, state: &State, fields: &Fields, started: Option<String>) -> Answer {
        Answer {
            body: seal(&self.merchant, state.settings.padding, fields),
            view: json!({"request": self.request_view, "response": fields.to_json(), "notes": self.notes}),
            started,
        }
    }

    /// A stored answer for this ReqID, when a replay must be answered from the store.
    fn replay(&mut self, state: &State, endpoint: Endpoint) -> Option<Answer> {
        let req_id = self.req_id()?;
        let key = (
            self.merchant.merchant_id.clone(),
            endpoint.page().to_owned(),
            req_id.clone(),
        );
        let stored = state.req_ids.get(&key)?;
        if self.now - stored.at > REQ_ID_LIFETIME_MS {
            return None;
        }
        let final_status = match &stored.pay_id {
            // A payment no longer held was forgotten by the retention, which forgets finished
            // payments only.
            Some(pay_id) if endpoint == Endpoint::Sale => {
                state.payments.get(pay_id).is_none_or(|p| p.status.is_final())
            }
            _ => true,
        };
        if !final_status {
            self.notes.push(format!(
                "ReqID {req_id} seen before on an open payment: processed again, as the Paygate does"
            ));
            return None;
        }
        self.notes.push(format!(
            "ReqID {req_id} replayed: the original answer, no new action and no notify"
        ));
        Some(Answer {
            body: stored.body.clone(),
            view: json!({"request": self.request_view, "response": stored.fields, "notes": self.notes}),
            started: None,
        })
    }

    fn remember(&self, state: &mut State, endpoint: Endpoint, answer: &Answer, pay_id: Option<String>) {
        if let Some(req_id) = self.req_id() {
            let key = (self.merchant.merchant_id.clone(), endpoint.page().to_owned(), req_id);
            let stored = StoredAnswer {
                body: answer.body.clone(),
                fields: answer.view["response"].clone(),
                at: self.now,
                pay_id,
            };
            if state.req_ids.insert(key.clone(), stored).is_none() {
                state.req_order.push_back(key);
            }
        }
    }
}

/// `Test:nnnn` (or `Test: nnnn`) at the start of OrderDesc: Computop's simulation mode.
fn simulation(order_desc: Option<&str>) -> Option<u16> {
    let rest = order_desc?.strip_prefix("Test:")?.trim_start();
    let digits = rest.get(..4)?;
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())?
}

/// A sale: a replay answered from the store, else the checks, the new payment, the simulation
/// mode, and the `AUTHORIZE_REQUEST` answer (or the final one of a simulated failure).
fn sale(state: &mut State, mut ctx: Ctx) -> Answer {
    if let Some(answer) = ctx.replay(state, Endpoint::Sale) {
        return answer;
    }
    let accepted = match check_sale(state, &mut ctx) {
        Ok(accepted) => accepted,
        Err(refusal) => return *refusal,
    };
    let mut payment = new_payment(state, &mut ctx, accepted);
    simulate(&mut ctx, &mut payment);
    let fields = if payment.status == PaymentStatus::Failed {
        final_fields(&payment, ctx.now)
    } else {
        authorize_fields(&payment, ctx.now)
    };
    let mut fields = fields;
    sign(&ctx.merchant, &mut fields);
    let pay_id = payment.pay_id.clone();
    let mut answer = ctx.answer(state, &fields, Some(pay_id.clone()));
    answer.body.push_str(&unencrypted_echo(&payment.echo));
    ctx.remember(state, Endpoint::Sale, &answer, Some(pay_id.clone()));
    state.order.push(pay_id.clone());
    // Held until the flow the handler starts for it ends (`retention::flow_ended`).
    state.in_flow.insert(pay_id.clone());
    state.payments.insert(pay_id, payment);
    retention::trim(state);
    answer
}

/// What the checks of a sale established.
struct AcceptedSale {
    amount: i64,
    is_bound: bool,
    member: Member,
}

/// The checks of a sale, in the Paygate's order; the first that fails is the answer. Callback
/// URLs that deviate from the seed's rule are findings (notes) unless callbacks are strict.
fn check_sale(state: &State, ctx: &mut Ctx) -> Result<AcceptedSale, Box<Answer>> {
    let refuse = |ctx: &Ctx, code: Code, description: &str| Box::new(ctx.failure(state, code, description, None));
    if !ctx.get("Currency").eq_ignore_ascii_case("EUR") {
        return Err(refuse(
            ctx,
            Code::invalid("Currency"),
            "Currency not allowed: PAYBACK PAY accepts EUR only",
        ));
    }
    let amount: i64 = ctx.get("Amount").parse().unwrap_or(0);
    if amount < 100 && !ctx.merchant.small_amounts {
        return Err(refuse(
            ctx,
            Code::business(business::AMOUNT_TOO_SMALL),
            "Amount below 100: ask the Computop helpdesk to enable small amounts",
        ));
    }
    let is_bound = ctx.get("IsBound").eq_ignore_ascii_case("True");
    if is_bound && ctx.opt("CustomerID").is_none() {
        return Err(refuse(
            ctx,
            Code::missing("CustomerID"),
            "CustomerID missing (IsBound=True)",
        ));
    }
    for (key, check) in [
        (
            "VatList",
            validate::check_vat_list as fn(&[Value]) -> Result<(), String>,
        ),
        ("ArticleList", validate::check_article_list),
    ] {
        let items = validate::decode_list(ctx.get(key)).unwrap_or_default();
        if let Err(why) = check(&items) {
            return Err(refuse(ctx, Code::format(key), &format!("{key} format error: {why}")));
        }
    }
    for key in ["URLSuccess", "URLFailure", "URLNotify"] {
        if state.settings.allow_self_callbacks {
            break;
        }
        // A notify to the admin API would let the shop reset possim: refused like a malformed
        // URL, whatever the strictness.
        if let Some(why) = (ctx.self_call)(ctx.get(key)) {
            ctx.notes.push(format!("refused: {key} {why}"));
            return Err(refuse(ctx, Code::format(key), &format!("{key} format error: {why}")));
        }
    }
    for key in ["URLSuccess", "URLFailure", "URLNotify"] {
        let deviations = validate::callback_deviations(ctx.get(key));
        if deviations.is_empty() {
            continue;
        }
        if state.settings.strict_callbacks {
            return Err(refuse(
                ctx,
                Code::format(key),
                &format!("{key} format error: {}", deviations.join("; ")),
            ));
        }
        ctx.notes.extend(
            deviations
                .into_iter()
                .map(|d| format!("finding: {key} {d} (accepted: lenient callbacks)")),
        );
    }
    let Some(member) = state.members.get(ctx.get("AccountID")).cloned() else {
        return Err(refuse(
            ctx,
            Code::business(business::ACCOUNT_UNKNOWN),
            "AccountID is not a PAYBACK member",
        ));
    };
    Ok(AcceptedSale {
        amount,
        is_bound,
        member,
    })
}

/// The payment an accepted sale opens, waiting for the customer: its ids (the TransID's preset
/// the first time, else fresh), the customer's next decision, the request's fields.
fn new_payment(state: &mut State, ctx: &mut Ctx, sale: AcceptedSale) -> Payment {
    let AcceptedSale {
        amount,
        is_bound,
        member,
    } = sale;
    let trans_id = ctx.get("TransID").to_owned();
    if !state
        .trans_ids
        .insert((ctx.merchant.merchant_id.clone(), trans_id.clone()))
    {
        ctx.notes.push(format!(
            "finding: TransID {trans_id} was used for an earlier payment; it must be unique per payment"
        ));
    }
    let preset = state
        .presets
        .get(&trans_id)
        .filter(|p| !state.payments.contains_key(&p.pay_id) && !state.presets_used.contains(&trans_id))
        .cloned();
    let (pay_id, xid, transaction_id) = match preset {
        Some(p) => {
            state.presets_used.insert(trans_id.clone());
            (p.pay_id, p.xid, p.transaction_id)
        }
        _ => (
            state.fresh_id(ctx.salt),
            state.fresh_id(ctx.salt),
            state.fresh_uuid(ctx.salt),
        ),
    };
    let decision = state.take_decision();
    Payment {
        pay_id,
        xid,
        merchant_id: ctx.merchant.merchant_id.clone(),
        trans_id,
        refnr: ctx.opt("refnr"),
        amount,
        currency: "EUR".into(),
        transaction_id,
        account_id: ctx.get("AccountID").to_owned(),
        customer_id: ctx.opt("CustomerID").unwrap_or_else(|| member.customer_id.clone()),
        is_bound: if is_bound { "True".into() } else { "False".into() },
        customer_group: ctx.get("CustomerGroup").to_ascii_uppercase(),
        url_success: ctx.get("URLSuccess").to_owned(),
        url_failure: ctx.get("URLFailure").to_owned(),
        url_notify: ctx.get("URLNotify").to_owned(),
        echo: Echo {
            user_data: ctx.opt("UserData"),
            plain: ctx.opt("Plain"),
            custom: ctx.opt("Custom"),
        },
        status: PaymentStatus::AuthorizeRequest,
        code: codes::AUTHORIZE_REQUEST.into(),
        description: "SUCCESS".into(),
        points_redeemed: 0,
        pay_amount: 0,
        payment_method: decision.payment_method.clone().unwrap_or(member.payment_method.clone()),
        credited_money: 0,
        credited_points: 0,
        created_at: ctx.now,
        req_id: ctx.req_id(),
        decision,
        response_encrypt: ctx.get("Response").eq_ignore_ascii_case("encrypt"),
    }
}

/// Computop's simulation mode (`OrderDesc=Test:nnnn`): `0000` makes the customer approve, any
/// other number fails the payment at once with `Code 2950nnnn`.
fn simulate(ctx: &mut Ctx, payment: &mut Payment) {
    match simulation(ctx.opt("OrderDesc").as_deref()) {
        Some(0) => {
            ctx.notes.push("simulation Test:0000: the customer approves".into());
            payment.decision.decision = DecisionKind::Approve;
        }
        Some(n) => {
            ctx.notes.push(format!(
                "simulation Test:{n:04}: the payment fails with Code 2950{n:04}"
            ));
            payment.status = PaymentStatus::Failed;
            payment.code = format!("2950{n:04}");
            payment.description = format!("simulation Test:{n:04}");
        }
        None => {}
    }
}

/// `Plain` and `Custom` travel back outside `Data` (Custom with `|` turned into `&`).
pub fn unencrypted_echo(echo: &Echo) -> String {
    let mut out = String::new();
    if let Some(plain) = &echo.plain {
        out.push_str("&Plain=");
        out.push_str(&crate::form::urlencode(plain));
    }
    if let Some(custom) = &echo.custom {
        for pair in custom.split('|').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.push('&');
            out.push_str(&crate::form::urlencode(k));
            out.push('=');
            out.push_str(&crate::form::urlencode(v));
        }
    }
    out
}

/// The intermediate notify (seed 003 "UrlNotify - Authorize_request"), in the sample's order.
pub fn authorize_fields(p: &Payment, now: Millis) -> Fields {
    let mut f = Fields::default();
    f.push("mid", p.merchant_id.clone());
    f.push("PayID", p.pay_id.clone());
    f.push("XID", p.xid.clone());
    f.push("TransID", p.trans_id.clone());
    if let Some(refnr) = &p.refnr {
        f.push("refnr", refnr.clone());
    }
    f.push("Type", "PaybackPay");
    f.push("TimeStamp", timestamp(now, true));
    f.push("redirecturl", format!("{REDIRECT_BASE}?ecomid={}", p.transaction_id));
    f.push("Amount", p.amount.to_string());
    f.push("Currency", p.currency.clone());
    f.push("TransactionID", p.transaction_id.clone());
    f.push("Code", codes::AUTHORIZE_REQUEST);
    f.push("Status", "AUTHORIZE_REQUEST");
    f.push("Description", "SUCCESS");
    if let Some(user_data) = &p.echo.user_data {
        f.push("UserData", user_data.clone());
    }
    f
}

/// The final notify (seed 003 "UrlNotify - Success …"), in the samples' order; a failure
/// carries no payment details.
pub fn final_fields(p: &Payment, now: Millis) -> Fields {
    let mut f = Fields::default();
    f.push("mid", p.merchant_id.clone());
    f.push("PayID", p.pay_id.clone());
    f.push("TransID", p.trans_id.clone());
    f.push("XID", p.xid.clone());
    f.push("Code", p.code.clone());
    if let Some(refnr) = &p.refnr {
        f.push("refnr", refnr.clone());
    }
    f.push("Status", p.status.wire());
    f.push("Description", p.description.clone());
    f.push("Type", "PaybackPay");
    f.push("TimeStamp", timestamp(now, false));
    if matches!(p.status, PaymentStatus::Ok | PaymentStatus::Pending) {
        f.push("paymentmethodtype", "0");
        // The seed's points-only sample says `paymentmethod=0`: no instrument was charged.
        let method = if p.pay_amount == 0 {
            "0".to_owned()
        } else {
            p.payment_method.clone()
        };
        f.push("paymentmethod", method);
        f.push("redemptionfactor", REDEMPTION_FACTOR);
        f.push("pointsredeemed", p.points_redeemed.to_string());
        f.push("payamount", p.pay_amount.to_string());
        f.push("pointamount", "0");
    }
    f.push("accountid", p.account_id.clone());
    f.push("customerid", p.customer_id.clone());
    f.push("isbound", p.is_bound.clone());
    f.push("customergroup", p.customer_group.clone());
    f.push("Amount", p.amount.to_string());
    if let Some(user_data) = &p.echo.user_data {
        f.push("UserData", user_data.clone());
    }
    f
}

/// What became of the customer's decision, applied to a payment in `AUTHORIZE_REQUEST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Paid (final notify OK).
    Paid,
    /// Confirmed; the rest is pending (a PENDING notify, the final one later).
    Pending,
    /// Failed.
    Failed,
    /// Nothing to do (not waiting any more, or waiting for the admin API).
    Nothing,
}

/// Applies `decision` to the payment `pay_id`: books the points at the member, sets status and
/// code. Points never go below zero and never exceed the amount.
pub fn apply_decision(state: &mut State, pay_id: &str, decision: &Decision) -> Applied {
    let Some(payment) = state.payments.get(pay_id) else {
        return Applied::Nothing;
    };
    if payment.status != PaymentStatus::AuthorizeRequest {
        return Applied::Nothing;
    }
    let account = payment.account_id.clone();
    let amount = payment.amount;
    let balance = state.members.get(&account).map_or(0, |m| m.points);
    let wanted = match &decision.points {
        PointsChoice::Number(n) => *n,
        PointsChoice::Word(_) => i64::MAX,
    };
    let points = wanted.clamp(0, balance.min(amount));
    let (status, code, description) = match decision.decision {
        DecisionKind::Approve => (PaymentStatus::Ok, codes::SUCCESS.to_owned(), "success".to_owned()),
        DecisionKind::PendingThenOk | DecisionKind::PendingThenDeclined => (
            PaymentStatus::Pending,
            format!("6950{:04}", business::PAYMENT_PENDING.0),
            "payment pending".to_owned(),
        ),
        DecisionKind::Decline => (
            PaymentStatus::Failed,
            Code::business(business::CUSTOMER_CANCELLED).to_string(),
            "cancelled by the customer in the PAYBACK app".to_owned(),
        ),
        DecisionKind::Abandon => (
            PaymentStatus::Failed,
            Code::business(business::CUSTOMER_TIMEOUT).to_string(),
            "the customer did not confirm in time".to_owned(),
        ),
        DecisionKind::Manual => return Applied::Nothing,
    };
    let payment = state.payments.get_mut(pay_id).expect("checked above");
    payment.status = status;
    payment.code = code;
    payment.description = description;
    if let Some(method) = &decision.payment_method {
        payment.payment_method = method.clone();
    }
    if matches!(status, PaymentStatus::Ok | PaymentStatus::Pending) {
        payment.points_redeemed = points;
        payment.pay_amount = amount - points;
        if let Some(member) = state.members.get_mut(&account) {
            member.points -= points;
        }
    }
    match status {
        PaymentStatus::Ok => Applied::Paid,
        PaymentStatus::Pending => Applied::Pending,
        _ => Applied::Failed,
    }
}

/// Ends a pending payment: paid, or declined (the points go back to the member).
pub fn settle_pending(state: &mut State, pay_id: &str, paid: bool) -> Applied {
    let Some(payment) = state.payments.get_mut(pay_id) else {
        return Applied::Nothing;
    };
    if payment.status != PaymentStatus::Pending {
        return Applied::Nothing;
    }
    if paid {
        payment.status = PaymentStatus::Ok;
        payment.code = codes::SUCCESS.into();
        payment.description = "success".into();
        return Applied::Paid;
    }
    payment.status = PaymentStatus::Failed;
    payment.code = Code::business(business::PAYMENT_DECLINED).to_string();
    payment.description = "the payment of the rest was declined".into();
    let (account, points) = (payment.account_id.clone(), payment.points_redeemed);
    payment.points_redeemed = 0;
    payment.pay_amount = 0;
    if let Some(member) = state.members.get_mut(&account) {
        member.points += points;
    }
    Applied::Failed
}

fn credit(state: &mut State, mut ctx: Ctx) -> Answer {
    if let Some(answer) = ctx.replay(state, Endpoint::Credit) {
        return answer;
    }
    let pay_id = ctx.get("PayID").to_owned();
    let Some(payment) = state
        .payments
        .get(&pay_id)
        .filter(|p| p.merchant_id == ctx.merchant.merchant_id)
        .cloned()
    else {
        return ctx.failure(
            state,
            Code::business(business::PAYMENT_NOT_FOUND),
            "PayID unknown",
            Some(&pay_id),
        );
    };
    if payment.status != PaymentStatus::Ok {
        return ctx.failure(
            state,
            Code::business(business::PAYMENT_NOT_CAPTURED),
            &format!("the payment is {}: nothing to credit", payment.status.wire()),
            Some(&pay_id),
        );
    }
    if !ctx.get("Currency").eq_ignore_ascii_case(&payment.currency) {
        return ctx.failure(
            state,
            Code::invalid("Currency"),
            "Currency differs from the payment's",
            Some(&pay_id),
        );
    }
    let amount: i64 = ctx.get("Amount").parse().unwrap_or(0);
    if let Some(n) = simulation(ctx.opt("OrderDesc").as_deref()).filter(|n| *n != 0) {
        ctx.notes.push(format!("simulation Test:{n:04}"));
        let code = Code::business(codes::Detail(n));
        return ctx.failure(state, code, &format!("simulation Test:{n:04}"), Some(&pay_id));
    }
    // Seed 003, credit.aspx: the same rule as the sale's, amounts below 100 only when the
    // helpdesk enabled them.
    if (1..100).contains(&amount) && !ctx.merchant.small_amounts {
        return ctx.failure(
            state,
            Code::business(business::AMOUNT_TOO_SMALL),
            "Amount below 100: ask the Computop helpdesk to enable small amounts",
            Some(&pay_id),
        );
    }
    if amount <= 0 || amount > payment.amount - payment.credited() {
        return ctx.failure(
            state,
            Code::business(business::CREDIT_EXCEEDS_CAPTURE),
            &format!(
                "credit of {amount} exceeds what is left to credit ({} of {} captured)",
                payment.amount - payment.credited(),
                payment.amount
            ),
            Some(&pay_id),
        );
    }
    let money_left = payment.pay_amount - payment.credited_money;
    let points_left = payment.points_redeemed - payment.credited_points;
    let (money, points) = match state.settings.credit_order {
        CreditOrder::MoneyFirst => {
            let money = amount.min(money_left);
            (money, amount - money)
        }
        CreditOrder::PointsFirst => {
            let points = amount.min(points_left);
            (amount - points, points)
        }
    };
    let xid = state.fresh_id(ctx.salt);
    {
        let p = state.payments.get_mut(&pay_id).expect("found above");
        p.credited_money += money;
        p.credited_points += points;
    }
    if let Some(member) = state.members.get_mut(&payment.account_id) {
        member.points += points;
    }
    state.credits.push(Credit {
        xid: xid.clone(),
        pay_id: pay_id.clone(),
        trans_id: ctx.get("TransID").to_owned(),
        amount,
        money,
        points,
        at: ctx.now,
    });
    let mut f = Fields::default();
    f.push("mid", ctx.merchant.merchant_id.clone());
    f.push("PayID", pay_id.clone());
    f.push("XID", xid);
    f.push("TransID", ctx.get("TransID"));
    f.push("Status", "OK");
    f.push("Description", "success");
    f.push("Code", codes::SUCCESS);
    f.push("Amount", amount.to_string());
    f.push("Currency", payment.currency.clone());
    f.push("paymentmethod", payment.payment_method.clone());
    f.push("payamount", (-money).to_string());
    f.push("pointamount", "0");
    f.push("pointsredeemed", points.to_string());
    f.push("RedemptionFactor", REDEMPTION_FACTOR);
    if let Some(refnr) = ctx.opt("refnr") {
        f.push("refnr", refnr);
    }
    sign(&ctx.merchant, &mut f);
    let answer = ctx.answer(state, &f, None);
    ctx.remember(state, Endpoint::Credit, &answer, Some(pay_id));
    retention::trim(state);
    answer
}

fn inquire(state: &mut State, ctx: Ctx) -> Answer {
    let pay_id = ctx.get("PayID").to_owned();
    let Some(payment) = state
        .payments
        .get(&pay_id)
        .filter(|p| p.merchant_id == ctx.merchant.merchant_id)
    else {
        return ctx.failure(
            state,
            Code::business(business::PAYMENT_NOT_FOUND),
            "PayID unknown",
            Some(&pay_id),
        );
    };
    let captured = if payment.status == PaymentStatus::Ok {
        payment.amount
    } else {
        0
    };
    let mut f = Fields::default();
    f.push("mid", ctx.merchant.merchant_id.clone());
    f.push("PayID", pay_id.clone());
    f.push("XID", payment.xid.clone());
    f.push("TransID", ctx.get("TransID"));
    f.push("Status", "OK");
    f.push("Description", "success");
    f.push("Code", codes::SUCCESS);
    f.push("LastStatus", payment.status.wire());
    f.push("AmountAuth", captured.to_string());
    f.push("AmountCap", captured.to_string());
    f.push("AmountCred", payment.credited().to_string());
    f.push("Currency", payment.currency.clone());
    sign(&ctx.merchant, &mut f);
    ctx.answer(state, &f, None)
}

/// `dd.MM.yyyy HH:mm:ss[.fff]` in German local time (CET/CEST), as the seed's samples show.
pub fn timestamp(now: Millis, millis: bool) -> String {
    let offset_hours = if berlin_summer_time(now) { 2 } else { 1 };
    let local = now + offset_hours * 3_600_000;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(local) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let base = format!(
        "{:02}.{:02}.{:04} {:02}:{:02}:{:02}",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if millis {
        format!("{base}.{:03}", t.millisecond())
    } else {
        base
    }
}

/// EU summer time: from the last Sunday of March, 01:00 UTC, to the last Sunday of October,
/// 01:00 UTC.
fn berlin_summer_time(now: Millis) -> bool {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(now.div_euclid(1000)) else {
        return false;
    };
    let year = t.year();
    let last_sunday_1am = |month: time::Month| {
        let last = time::Date::from_calendar_date(year, month, 31).expect("March and October have 31 days");
        let back = i64::from(last.weekday().number_days_from_sunday());
        let day = last - time::Duration::days(back);
        day.with_hms(1, 0, 0).expect("valid time").assume_utc().unix_timestamp()
    };
    let secs = now.div_euclid(1000);
    secs >= last_sunday_1am(time::Month::March) && secs < last_sunday_1am(time::Month::October)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_german_local_time() {
        // 2024-02-19T13:08:32.148Z is 14:08:32.148 in Berlin (CET), as in the seed's sample.
        let at = 1_708_348_112_148;
        assert_eq!(timestamp(at, true), "19.02.2024 14:08:32.148");
        assert_eq!(timestamp(at, false), "19.02.2024 14:08:32");
        // 2024-07-01T10:00:00Z is 12:00 in summer.
        assert_eq!(timestamp(1_719_828_000_000, false), "01.07.2024 12:00:00");
        // Summer time 2024 began 31 March 01:00 UTC.
        assert_eq!(timestamp(1_711_846_799_000, false), "31.03.2024 01:59:59");
        assert_eq!(timestamp(1_711_846_800_000, false), "31.03.2024 03:00:00");
    }

    /// The answer's MAC is over PayID*TransID*MerchantID*Status*Code in that order, whatever
    /// order the fields were written in: Computop's public notify vector (the same one
    /// `tests/crypto_vectors.rs` checks the HMAC primitive with) gives the expected MAC.
    #[test]
    fn answers_are_signed_over_the_documented_field_order() {
        let merchant = Merchant {
            merchant_id: "yourMerchantId".into(),
            hmac_password: "mySecret".into(),
            cipher: crypto::Cipher::Blowfish,
            crypt_password: "16CharKeyLength!".into(),
            small_amounts: false,
        };
        let mut fields = Fields::default();
        fields.push("Code", "00000000");
        fields.push("Status", "AUTHORIZED");
        fields.push("mid", "yourMerchantId");
        fields.push("TransID", "TID-12033175321270170232");
        fields.push("PayID", "7bbb448155234d8cbee323778952ce28");
        sign(&merchant, &mut fields);
        assert_eq!(
            fields.get("MAC"),
            Some("4CDCB4DE587AC210F21DE0591689B920CF56D89B38D4C7B1B7F8867BFC93E02C")
        );
    }

    #[test]
    fn simulation_trigger() {
        assert_eq!(simulation(Some("Test:0000")), Some(0));
        assert_eq!(simulation(Some("Test: 0305 order 4")), Some(305));
        assert_eq!(simulation(Some("Test:0000+Order+X")), Some(0));
        assert_eq!(simulation(Some("test:0000")), None);
        assert_eq!(simulation(Some("Test:abc")), None);
        assert_eq!(simulation(None), None);
    }
}

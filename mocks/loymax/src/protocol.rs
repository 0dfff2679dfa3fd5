//! The protocol layer: which command an `XMLRequest` holds, the typed singular requests read
//! from its elements, the strict (XSD-like) checks, and the shape of the `XMLResponse`.
//!
//! Envelope problems (not XML, wrong `Version`, unknown wrapper, strict-mode schema violations)
//! become an envelope-level [`Failure`]; problems of one singular request (a missing
//! `OperationID`, an amount that is not a number) become that element's `ErrorCode`.

use time::UtcOffset;

use crate::codes::{Code, Failure};
use crate::model::Line;
use crate::money::{Kopecks, parse_datetime, parse_money, parse_quantity};
use crate::xml::{Document, Element};

/// The protocol version this mock speaks.
pub const VERSION: &str = "3.2";
/// Most singular requests in one wrapper.
pub const MAX_BATCH: usize = 100;

/// The commands: plural wrapper, singular request, singular response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `Balances/BalanceRequest`.
    Balance,
    /// `Calculates/CalculateRequest`.
    Calculate,
    /// `AvailableAmounts/AvailableAmountRequest`.
    AvailableAmount,
    /// `Payments/PaymentRequest`.
    Payment,
    /// `Discounts/DiscountRequest`.
    Discount,
    /// `ConfirmPurchases/ConfirmPurchaseRequest`.
    ConfirmPurchase,
    /// `CancelPurchases/CancelPurchaseRequest`.
    CancelPurchase,
    /// `Refunds/RefundRequest` (shape: our design).
    Refund,
    /// `CancelOperations/CancelOperationRequest` (our names for "cancel one operation").
    CancelOperation,
    /// `CardReplaces/CardReplaceRequest` (shape: our design).
    CardReplace,
}

impl Command {
    /// Every command.
    pub const ALL: [Command; 10] = [
        Self::Balance,
        Self::Calculate,
        Self::AvailableAmount,
        Self::Payment,
        Self::Discount,
        Self::ConfirmPurchase,
        Self::CancelPurchase,
        Self::Refund,
        Self::CancelOperation,
        Self::CardReplace,
    ];

    /// The singular name without `Request`/`Response`.
    pub fn stem(self) -> &'static str {
        match self {
            Self::Balance => "Balance",
            Self::Calculate => "Calculate",
            Self::AvailableAmount => "AvailableAmount",
            Self::Payment => "Payment",
            Self::Discount => "Discount",
            Self::ConfirmPurchase => "ConfirmPurchase",
            Self::CancelPurchase => "CancelPurchase",
            Self::Refund => "Refund",
            Self::CancelOperation => "CancelOperation",
            Self::CardReplace => "CardReplace",
        }
    }

    /// The plural wrapper (`Balances`).
    pub fn wrapper(self) -> &'static str {
        match self {
            Self::Balance => "Balances",
            Self::Calculate => "Calculates",
            Self::AvailableAmount => "AvailableAmounts",
            Self::Payment => "Payments",
            Self::Discount => "Discounts",
            Self::ConfirmPurchase => "ConfirmPurchases",
            Self::CancelPurchase => "CancelPurchases",
            Self::Refund => "Refunds",
            Self::CancelOperation => "CancelOperations",
            Self::CardReplace => "CardReplaces",
        }
    }

    /// The singular request element.
    pub fn request(self) -> &'static str {
        match self {
            Self::Balance => "BalanceRequest",
            Self::Calculate => "CalculateRequest",
            Self::AvailableAmount => "AvailableAmountRequest",
            Self::Payment => "PaymentRequest",
            Self::Discount => "DiscountRequest",
            Self::ConfirmPurchase => "ConfirmPurchaseRequest",
            Self::CancelPurchase => "CancelPurchaseRequest",
            Self::Refund => "RefundRequest",
            Self::CancelOperation => "CancelOperationRequest",
            Self::CardReplace => "CardReplaceRequest",
        }
    }

    /// The singular response element.
    pub fn response(self) -> &'static str {
        match self {
            Self::Balance => "BalanceResponse",
            Self::Calculate => "CalculateResponse",
            Self::AvailableAmount => "AvailableAmountResponse",
            Self::Payment => "PaymentResponse",
            Self::Discount => "DiscountResponse",
            Self::ConfirmPurchase => "ConfirmPurchaseResponse",
            Self::CancelPurchase => "CancelPurchaseResponse",
            Self::Refund => "RefundResponse",
            Self::CancelOperation => "CancelOperationResponse",
            Self::CardReplace => "CardReplaceResponse",
        }
    }

    /// The command of a wrapper name.
    pub fn from_wrapper(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.wrapper() == name)
    }

    /// Children allowed in the request, in schema order (strict mode). Observed: the XSD message
    /// for AvailableAmountRequest lists `Identifier, Card, Params` after `Cheque`; the rest is
    /// modelled on it.
    pub fn schema(self) -> &'static [&'static str] {
        match self {
            Self::Balance => &["Identifier", "Card"],
            Self::Calculate => &["Cheque", "Identifier", "Card", "Coupons", "Params"],
            Self::AvailableAmount => &["Cheque", "Identifier", "Card", "Params"],
            Self::Payment => &["Cheque", "Identifier", "Card", "Coupons", "Params"],
            Self::Discount => &["Cheque", "Identifier", "Card", "Coupons", "Pays", "Params"],
            Self::ConfirmPurchase | Self::CancelPurchase | Self::CancelOperation => &[],
            Self::Refund => &["Cheque", "Params"],
            Self::CardReplace => &["Identifier", "Card", "NewCard"],
        }
    }

    /// Attributes allowed on the request element (strict mode).
    pub fn attributes(self) -> &'static [&'static str] {
        match self {
            Self::Balance => &["ElementID", "OperationID", "OperationDate", "DeviceLogicalID"],
            Self::Calculate | Self::AvailableAmount | Self::Discount | Self::ConfirmPurchase | Self::CancelPurchase => {
                &[
                    "ElementID",
                    "OperationID",
                    "OperationDate",
                    "DeviceLogicalID",
                    "PurchaseID",
                    "Cashier",
                ]
            }
            Self::Payment => &[
                "ElementID",
                "OperationID",
                "OperationDate",
                "DeviceLogicalID",
                "PurchaseID",
                "Cashier",
                "Amount",
                "PinCode",
            ],
            Self::Refund => &[
                "ElementID",
                "OperationID",
                "OperationDate",
                "DeviceLogicalID",
                "PurchaseID",
                "Cashier",
                "RefundPurchaseID",
                "RefundTransactionID",
            ],
            Self::CancelOperation => &[
                "ElementID",
                "OperationID",
                "OperationDate",
                "DeviceLogicalID",
                "PurchaseID",
                "Cashier",
                "CanceledOperationID",
            ],
            Self::CardReplace => &[
                "ElementID",
                "OperationID",
                "OperationDate",
                "DeviceLogicalID",
                "Cashier",
            ],
        }
    }

    /// Whether the command needs a `PurchaseID`.
    pub fn purchase_scoped(self) -> bool {
        !matches!(self, Self::Balance | Self::CardReplace)
    }
}

/// Which observed envelope the answer mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Set Retail 2018: `standalone="yes"`, no `Version` in the answer.
    Y2018,
    /// NestJS 2024 (and anything else): `Version` first in the answer.
    Y2024,
}

impl Variant {
    /// The 2018 form is recognised by `standalone="yes"` without namespace declarations.
    pub fn of(doc: &Document) -> Self {
        if doc.standalone.as_deref() == Some("yes") && !doc.namespaces {
            Self::Y2018
        } else {
            Self::Y2024
        }
    }
}

/// The envelope read from a document.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// The command of the wrapper.
    pub command: Command,
    /// The singular requests.
    pub elements: Vec<&'a Element>,
}

/// Checks the envelope and finds the command.
pub fn envelope(doc: &Document, strict: bool) -> Result<Envelope<'_>, Failure> {
    let root = &doc.root;
    if root.name != "XMLRequest" {
        return Err(Failure::with(
            Code::FormatException,
            format!("корневой элемент {:?} вместо \"XMLRequest\"", root.name),
        ));
    }
    match root.first("Version") {
        None => return Err(Failure::with(Code::VersionError, "нет элемента Version")),
        Some(v) if v.text != VERSION => {
            return Err(Failure::with(
                Code::VersionError,
                format!("версия {:?} не поддерживается, ожидается {VERSION}", v.text),
            ));
        }
        Some(_) => {}
    }
    let wrappers: Vec<&Element> = root.children.iter().filter(|c| c.name != "Version").collect();
    if strict && root.children.first().map(|c| &*c.name) != Some("Version") {
        return Err(schema_error(
            &root.name,
            root.children.first().map_or("", |c| &c.name),
            &["Version"],
        ));
    }
    let wrapper = match wrappers.as_slice() {
        [one] => *one,
        [] => return Err(Failure::with(Code::RequereFieldException, "нет команды")),
        _ => return Err(Failure::with(Code::FormatException, "больше одной команды в документе")),
    };
    let command = Command::from_wrapper(&wrapper.name)
        .ok_or_else(|| Failure::with(Code::FormatException, format!("неизвестная команда {:?}", wrapper.name)))?;
    let request = command.request();
    if let Some(other) = wrapper.children.iter().find(|c| c.name != request) {
        return Err(schema_error(&wrapper.name, &other.name, &[request]));
    }
    if wrapper.children.is_empty() {
        return Err(Failure::with(
            Code::RequereFieldException,
            format!("{} пуст", wrapper.name),
        ));
    }
    if wrapper.children.len() > MAX_BATCH {
        return Err(Failure::with(
            Code::FormatException,
            format!("больше {MAX_BATCH} запросов в {}", wrapper.name),
        ));
    }
    if strict {
        for element in &wrapper.children {
            check_schema(command, element)?;
        }
    }
    Ok(Envelope {
        command,
        elements: wrapper.children.iter().collect(),
    })
}

/// The .NET schema validator's wording, as the 2024 client's author saw it.
fn schema_error(parent: &str, child: &str, expected: &[&str]) -> Failure {
    Failure::with(
        Code::FormatException,
        format!(
            "The element '{parent}' has invalid child element '{child}'. List of possible elements expected: '{}'.",
            expected.join(", ")
        ),
    )
}

/// Strict mode: children in schema order, no unknown children or attributes.
fn check_schema(command: Command, element: &Element) -> Result<(), Failure> {
    let schema = command.schema();
    let mut position = 0;
    for child in &element.children {
        match schema[position..].iter().position(|s| *s == child.name) {
            Some(i) => {
                position += i + 1;
                // `Identifier` and `Card` are alternatives: seeing one closes both.
                if child.name == "Identifier" && schema.get(position) == Some(&"Card") {
                    position += 1;
                }
            }
            None => {
                return Err(schema_error(
                    &element.name,
                    &child.name,
                    &schema[position.min(schema.len())..],
                ));
            }
        }
    }
    let allowed = command.attributes();
    if let Some((name, _)) = element.attrs.iter().find(|(n, _)| !allowed.contains(&&**n)) {
        return Err(Failure::with(
            Code::FormatException,
            format!("The '{name}' attribute is not declared on '{}'.", element.name),
        ));
    }
    if let Some(cheque) = element.first("Cheque") {
        for line in &cheque.children {
            if line.name != "ChequeLine" {
                return Err(schema_error("Cheque", &line.name, &["ChequeLine"]));
            }
            if let Some((name, _)) = line.attrs.iter().find(|(n, _)| !LINE_ATTRIBUTES.contains(&&**n)) {
                return Err(Failure::with(
                    Code::FormatException,
                    format!("The '{name}' attribute is not declared on 'ChequeLine'."),
                ));
            }
        }
    }
    Ok(())
}

/// Line attributes: the observed ones, then our names for the promo flag, minimum price and
/// locally applied discount (the real names are on a page we do not have).
pub const LINE_ATTRIBUTES: &[&str] = &[
    "PosID",
    "GoodsId",
    "Name",
    "Price",
    "Quantity",
    "Amount",
    "Barcode",
    "IsPromo",
    "MinPrice",
    "LocalDiscount",
];

/// A customer identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    /// `Type` (`Auto`, `CardNumber`, `Phone`, ...).
    pub kind: String,
    /// `Value`.
    pub value: String,
}

/// A cheque.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cheque {
    /// `ChequeNumber`.
    pub number: Option<String>,
    /// `ChequeDate`, epoch ms.
    pub date: Option<i64>,
    /// The lines.
    pub lines: Vec<Line>,
}

impl Cheque {
    /// Sum of the line amounts.
    pub fn total(&self) -> Kopecks {
        self.lines.iter().map(|l| l.amount).sum()
    }
}

/// A singular request, read.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `ElementID`.
    pub element_id: Option<String>,
    /// `OperationID`.
    pub operation_id: String,
    /// `OperationDate`, epoch ms.
    pub operation_date: Option<i64>,
    /// `DeviceLogicalID`.
    pub device_logical_id: Option<String>,
    /// `PurchaseID`.
    pub purchase_id: Option<String>,
    /// `Cashier`.
    pub cashier: Option<String>,
    /// `Identifier`, or `Card Number` as a card-number identifier.
    pub identifier: Option<Identifier>,
    /// `Cheque`.
    pub cheque: Option<Cheque>,
    /// `Coupons/Coupon@Number`.
    pub coupons: Vec<String>,
    /// `Params/Param` (name, value).
    pub params: Vec<(String, String)>,
    /// `Pays/Pay` (type, amount).
    pub pays: Vec<(String, Kopecks)>,
    /// `Amount` of a PaymentRequest.
    pub amount: Option<Kopecks>,
    /// `PinCode` of a PaymentRequest (our name; the JSON twin has `pinCode`).
    pub pin_code: Option<String>,
    /// `RefundPurchaseID`.
    pub refund_purchase_id: Option<String>,
    /// `RefundTransactionID`.
    pub refund_transaction_id: Option<String>,
    /// `CanceledOperationID`.
    pub canceled_operation_id: Option<String>,
    /// `NewCard` (number, password).
    pub new_card: Option<(String, Option<String>)>,
}

fn required<'a>(element: &'a Element, name: &str) -> Result<&'a str, Failure> {
    match element.get(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Failure::with(
            Code::RequereFieldException,
            format!("не заполнен атрибут {name} элемента {}", element.name),
        )),
    }
}

fn money_attr(element: &Element, name: &str) -> Result<Option<Kopecks>, Failure> {
    element
        .get(name)
        .map(|v| {
            parse_money(v).ok_or_else(|| {
                Failure::with(
                    Code::FormatException,
                    format!(
                        "{}@{name}: {v:?} не является суммой с не более чем двумя знаками",
                        element.name
                    ),
                )
            })
        })
        .transpose()
}

fn date_attr(element: &Element, name: &str, offset: UtcOffset) -> Result<Option<i64>, Failure> {
    element
        .get(name)
        .map(|v| {
            parse_datetime(v, offset).ok_or_else(|| {
                Failure::with(
                    Code::FormatException,
                    format!("{}@{name}: {v:?} не является датой ISO 8601", element.name),
                )
            })
        })
        .transpose()
}

fn bool_attr(element: &Element, name: &str) -> Result<bool, Failure> {
    match element.get(name).map(str::trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(v) => Err(Failure::with(
            Code::FormatException,
            format!("{}@{name}: {v:?} не является true/false", element.name),
        )),
    }
}

fn read_cheque(element: &Element, offset: UtcOffset) -> Result<Cheque, Failure> {
    let mut lines = Vec::new();
    for line in element.all("ChequeLine") {
        let quantity_text = required(line, "Quantity")?;
        let quantity = parse_quantity(quantity_text).filter(|q| *q > 0).ok_or_else(|| {
            Failure::with(
                Code::FormatException,
                format!("ChequeLine@Quantity: {quantity_text:?} не является положительным количеством"),
            )
        })?;
        let price = money_attr(line, "Price")?.unwrap_or(0);
        let amount = money_attr(line, "Amount")?.ok_or_else(|| {
            Failure::with(
                Code::RequereFieldException,
                "не заполнен атрибут Amount элемента ChequeLine",
            )
        })?;
        let min_price = money_attr(line, "MinPrice")?;
        let local_discount = money_attr(line, "LocalDiscount")?;
        if amount < 0 || price < 0 || min_price.is_some_and(|m| m < 0) || local_discount.is_some_and(|d| d < 0) {
            return Err(Failure::with(
                Code::FormatException,
                "отрицательная сумма в строке чека",
            ));
        }
        let extra = line
            .attrs
            .iter()
            .filter(|(n, _)| !LINE_ATTRIBUTES.contains(&&**n))
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        lines.push(Line {
            pos_id: required(line, "PosID")?.to_owned(),
            goods_id: required(line, "GoodsId")?.to_owned(),
            name: line.get("Name").map(str::to_owned),
            price,
            quantity,
            amount,
            is_promo: bool_attr(line, "IsPromo")?,
            min_price,
            local_discount,
            extra,
        });
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = lines.iter().find(|l| !seen.insert(l.pos_id.as_str())) {
        return Err(Failure::with(
            Code::FormatException,
            format!("PosID {:?} встречается в чеке дважды", dup.pos_id),
        ));
    }
    Ok(Cheque {
        number: element.get("ChequeNumber").map(str::to_owned),
        date: date_attr(element, "ChequeDate", offset)?,
        lines,
    })
}

/// Reads one singular request. `strict` makes `ElementID` and `OperationDate` required.
pub fn read_request(command: Command, element: &Element, offset: UtcOffset, strict: bool) -> Result<Request, Failure> {
    let operation_id = required(element, "OperationID")?.to_owned();
    if strict {
        required(element, "ElementID")?;
        required(element, "OperationDate")?;
    }
    let mut request = Request {
        element_id: element.get("ElementID").map(str::to_owned),
        operation_id,
        operation_date: date_attr(element, "OperationDate", offset)?,
        device_logical_id: element.get("DeviceLogicalID").map(str::to_owned),
        purchase_id: element.get("PurchaseID").map(str::to_owned),
        cashier: element.get("Cashier").map(str::to_owned),
        ..Request::default()
    };
    if command.purchase_scoped() {
        required(element, "PurchaseID")?;
    }
    if let Some(identifier) = element.first("Identifier") {
        request.identifier = Some(Identifier {
            kind: identifier.get("Type").unwrap_or("Auto").to_owned(),
            value: required(identifier, "Value")?.to_owned(),
        });
    } else if let Some(card) = element.first("Card") {
        request.identifier = Some(Identifier {
            kind: "CardNumber".into(),
            value: required(card, "Number")?.to_owned(),
        });
    }
    if let Some(cheque) = element.first("Cheque") {
        request.cheque = Some(read_cheque(cheque, offset)?);
    }
    if let Some(coupons) = element.first("Coupons") {
        for c in coupons.all("Coupon") {
            request.coupons.push(required(c, "Number")?.to_owned());
        }
    }
    if let Some(params) = element.first("Params") {
        for p in params.all("Param") {
            request.params.push((
                required(p, "Name")?.to_owned(),
                p.get("Value").unwrap_or_default().to_owned(),
            ));
        }
    }
    if let Some(pays) = element.first("Pays") {
        for p in pays.all("Pay") {
            let amount = money_attr(p, "Amount")?
                .ok_or_else(|| Failure::with(Code::RequereFieldException, "не заполнен атрибут Amount элемента Pay"))?;
            request.pays.push((required(p, "Type")?.to_owned(), amount));
        }
    }
    match command {
        Command::Calculate | Command::AvailableAmount | Command::Discount | Command::Refund
            if request.cheque.is_none() =>
        {
            return Err(Failure::with(
                Code::RequereFieldException,
                format!("нет элемента Cheque в {}", element.name),
            ));
        }
        Command::Payment => {
            let amount = money_attr(element, "Amount")?.ok_or_else(|| {
                Failure::with(
                    Code::RequereFieldException,
                    "не заполнен атрибут Amount элемента PaymentRequest",
                )
            })?;
            if amount <= 0 {
                return Err(Failure::with(
                    Code::FormatException,
                    "сумма списания должна быть больше нуля",
                ));
            }
            request.amount = Some(amount);
            request.pin_code = element.get("PinCode").map(str::to_owned);
        }
        Command::Refund => {
            request.refund_purchase_id = Some(required(element, "RefundPurchaseID")?.to_owned());
            request.refund_transaction_id = element.get("RefundTransactionID").map(str::to_owned);
        }
        Command::CancelOperation => {
            request.canceled_operation_id = Some(required(element, "CanceledOperationID")?.to_owned());
        }
        Command::CardReplace => {
            let new_card = element.first("NewCard").ok_or_else(|| {
                Failure::with(Code::RequereFieldException, "нет элемента NewCard в CardReplaceRequest")
            })?;
            request.new_card = Some((
                required(new_card, "Number")?.to_owned(),
                new_card.get("Password").map(str::to_owned),
            ));
        }
        _ => {}
    }
    Ok(request)
}

/// Builds the answer document's root.
pub fn response_root(variant: Variant, envelope_error: Option<&Failure>, wrapper: Option<Element>) -> Element {
    let mut root = Element::new("XMLResponse");
    if variant == Variant::Y2024 {
        root = root.child(Element::new("Version").text(VERSION));
    }
    match envelope_error {
        Some(f) => {
            root = root
                .child(Element::new("ErrorCode").text(f.code.number().to_string()))
                .child(Element::new("ErrorMessage").text(f.message.clone()));
        }
        None => root = root.child(Element::new("ErrorCode").text("0")),
    }
    if let Some(w) = wrapper {
        root = root.child(w);
    }
    root
}

/// `standalone` of the answer's declaration.
pub fn standalone(variant: Variant) -> Option<&'static str> {
    match variant {
        Variant::Y2018 => Some("yes"),
        Variant::Y2024 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    fn moscow() -> UtcOffset {
        UtcOffset::from_hms(3, 0, 0).unwrap()
    }

    #[test]
    fn element_names_follow_the_stem() {
        for c in Command::ALL {
            assert_eq!(c.wrapper(), format!("{}s", c.stem()));
            assert_eq!(c.request(), format!("{}Request", c.stem()));
            assert_eq!(c.response(), format!("{}Response", c.stem()));
            assert_eq!(Command::from_wrapper(c.wrapper()), Some(c));
        }
    }

    #[test]
    fn envelope_errors() {
        let env = |text: &str, strict: bool| envelope(&parse(text.as_bytes()).unwrap(), strict).map(|e| e.command);
        assert_eq!(
            env(
                "<XMLRequest><Version>3.2</Version><Balances><BalanceRequest/></Balances></XMLRequest>",
                false
            ),
            Ok(Command::Balance)
        );
        assert_eq!(
            env(
                "<XMLRequest><Version>3.1</Version><Balances><BalanceRequest/></Balances></XMLRequest>",
                false
            )
            .unwrap_err()
            .code,
            Code::VersionError
        );
        assert_eq!(
            env("<XMLRequest><Balances><BalanceRequest/></Balances></XMLRequest>", false)
                .unwrap_err()
                .code,
            Code::VersionError
        );
        assert_eq!(
            env("<XMLResponse><Version>3.2</Version></XMLResponse>", false)
                .unwrap_err()
                .code,
            Code::FormatException
        );
        assert_eq!(
            env(
                "<XMLRequest><Version>3.2</Version><Foos><FooRequest/></Foos></XMLRequest>",
                false
            )
            .unwrap_err()
            .code,
            Code::FormatException
        );
        assert_eq!(
            env(
                "<XMLRequest><Version>3.2</Version><Balances><PaymentRequest/></Balances></XMLRequest>",
                false
            )
            .unwrap_err()
            .code,
            Code::FormatException
        );
        assert_eq!(
            env("<XMLRequest><Version>3.2</Version><Balances/></XMLRequest>", false)
                .unwrap_err()
                .code,
            Code::RequereFieldException
        );
        // Any child order is fine leniently; strict wants Version first.
        assert_eq!(
            env(
                "<XMLRequest><Balances><BalanceRequest/></Balances><Version>3.2</Version></XMLRequest>",
                false
            ),
            Ok(Command::Balance)
        );
        assert_eq!(
            env(
                "<XMLRequest><Balances><BalanceRequest/></Balances><Version>3.2</Version></XMLRequest>",
                true
            )
            .unwrap_err()
            .code,
            Code::FormatException
        );
    }

    #[test]
    fn strict_mode_reproduces_the_xsd_message() {
        let doc = parse(br#"<XMLRequest><Version>3.2</Version><AvailableAmounts><AvailableAmountRequest OperationID="1" PurchaseID="p"><Cheque/><Coupons/></AvailableAmountRequest></AvailableAmounts></XMLRequest>"#).unwrap();
        assert!(envelope(&doc, false).is_ok());
        let err = envelope(&doc, true).unwrap_err();
        assert_eq!(err.code, Code::FormatException);
        assert_eq!(
            err.message,
            "The element 'AvailableAmountRequest' has invalid child element 'Coupons'. List of possible elements expected: 'Identifier, Card, Params'."
        );
        let doc = parse(br#"<XMLRequest><Version>3.2</Version><Calculates><CalculateRequest OperationID="1" PurchaseID="p"><Identifier Type="Auto" Value="1"/><Cheque/></CalculateRequest></Calculates></XMLRequest>"#).unwrap();
        assert!(envelope(&doc, false).is_ok());
        assert_eq!(envelope(&doc, true).unwrap_err().code, Code::FormatException);
        let doc = parse(br#"<XMLRequest><Version>3.2</Version><Calculates><CalculateRequest OperationID="1" PurchaseID="p" Foo="x"><Cheque/></CalculateRequest></Calculates></XMLRequest>"#).unwrap();
        assert_eq!(envelope(&doc, true).unwrap_err().code, Code::FormatException);
    }

    #[test]
    fn reads_the_2018_calculate_request() {
        let doc = parse(r#"<XMLRequest><Version>3.2</Version><Calculates><CalculateRequest PurchaseID="71090611538476325251" OperationID="a0cdc3e8f8734725a6215b687bc165db" OperationDate="2018-10-02T13:32:05.251+03:00" ElementID="1"><Cheque ChequeDate="2018-10-02T13:32:01.575+03:00"><ChequeLine PosID="344" Amount="200.00" Name="Товар SR1460" GoodsId="146001" Price="100.00" Quantity="2.000"/></Cheque><Identifier Type="Auto" Value="8690003"/></CalculateRequest></Calculates></XMLRequest>"#.as_bytes()).unwrap();
        let env = envelope(&doc, false).unwrap();
        let req = read_request(env.command, env.elements[0], moscow(), false).unwrap();
        assert_eq!(req.purchase_id.as_deref(), Some("71090611538476325251"));
        assert_eq!(req.operation_date, Some(1_538_476_325_251));
        let cheque = req.cheque.unwrap();
        assert_eq!(cheque.date, Some(1_538_476_321_575));
        assert_eq!(cheque.lines[0].amount, 20_000);
        assert_eq!(cheque.lines[0].quantity, 2_000);
        assert_eq!(cheque.lines[0].name.as_deref(), Some("Товар SR1460"));
        assert_eq!(
            req.identifier,
            Some(Identifier {
                kind: "Auto".into(),
                value: "8690003".into()
            })
        );
    }

    #[test]
    fn element_level_errors() {
        let read = |command: Command, text: &str| {
            let root = parse(text.as_bytes()).unwrap().root;
            read_request(command, &root, moscow(), false)
                .map(|_| ())
                .map_err(|f| f.code)
        };
        assert_eq!(
            read(Command::Balance, "<BalanceRequest/>"),
            Err(Code::RequereFieldException)
        );
        assert_eq!(
            read(
                Command::Calculate,
                r#"<CalculateRequest OperationID="1"><Cheque/></CalculateRequest>"#
            ),
            Err(Code::RequereFieldException)
        );
        assert_eq!(
            read(
                Command::Payment,
                r#"<PaymentRequest OperationID="1" PurchaseID="p" Amount="1,5"/>"#
            ),
            Err(Code::FormatException)
        );
        assert_eq!(
            read(
                Command::Calculate,
                r#"<CalculateRequest OperationID="1" PurchaseID="p"><Cheque><ChequeLine PosID="1" GoodsId="g" Quantity="abc" Amount="1"/></Cheque></CalculateRequest>"#
            ),
            Err(Code::FormatException)
        );
        assert_eq!(
            read(
                Command::Calculate,
                r#"<CalculateRequest OperationID="1" PurchaseID="p" OperationDate="tomorrow"><Cheque/></CalculateRequest>"#
            ),
            Err(Code::FormatException)
        );
        assert_eq!(
            read(
                Command::Calculate,
                r#"<CalculateRequest OperationID="1" PurchaseID="p"><Cheque><ChequeLine PosID="1" GoodsId="g" Quantity="1" Amount="1"/><ChequeLine PosID="1" GoodsId="h" Quantity="1" Amount="1"/></Cheque></CalculateRequest>"#
            ),
            Err(Code::FormatException)
        );
    }
}

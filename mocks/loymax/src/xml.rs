//! The XML codec: a small element tree read and written with quick-xml's reader/writer API.
//!
//! Requests are read into [`Element`]s (local names, attributes in document order, text), with
//! limits on size, depth and element count so a hostile document costs bounded work; `DOCTYPE`
//! is refused outright (no entity expansion). Answers are built as [`Element`]s and written with
//! quick-xml's writer, which escapes every value. Interpreting the tree (which wrapper, which
//! attributes) is the business of `protocol`.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::{BytesDecl, BytesStart, Event};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Largest request document accepted (bytes). The observed requests are under 4 KB; a cheque of
/// a few hundred lines stays far below this.
pub const MAX_DOCUMENT: usize = 256 * 1024;
/// Deepest element nesting accepted; the protocol needs 6 (`XMLRequest/…/AppliedOffers/Offer`).
pub const MAX_DEPTH: usize = 16;
/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 20_000;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XmlError {
    /// Over [`MAX_DOCUMENT`] bytes.
    #[error("документ больше {MAX_DOCUMENT} байт")]
    TooLarge,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("вложенность элементов больше {MAX_DEPTH}")]
    TooDeep,
    /// More than [`MAX_ELEMENTS`] elements.
    #[error("больше {MAX_ELEMENTS} элементов")]
    TooManyElements,
    /// Not UTF-8.
    #[error("документ не в кодировке UTF-8")]
    Encoding,
    /// A DOCTYPE declaration (refused: no DTDs, no entity expansion).
    #[error("DOCTYPE не допускается")]
    DocType,
    /// Not well-formed.
    #[error("ошибка разбора XML: {0}")]
    Malformed(String),
    /// No root element.
    #[error("документ пуст")]
    Empty,
}

/// An element or attribute name. The answers' names are the protocol's own, written in the
/// code: borrowed, not copied (a Calculate's answer has some forty of them).
pub type Name = Cow<'static, str>;

/// One element: local name, attributes in document order, children and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (a namespace prefix is dropped).
    pub name: Name,
    /// Attributes by local name, `xmlns` declarations left out.
    pub attrs: Vec<(Name, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Concatenated text content, trimmed.
    pub text: String,
}

impl Element {
    /// An element without attributes or children.
    pub fn new(name: impl Into<Name>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Adds an attribute (builder style).
    pub fn attr(mut self, name: impl Into<Name>, value: impl Into<String>) -> Self {
        self.attrs.push((name.into(), value.into()));
        self
    }

    /// Adds an attribute when there is a value.
    pub fn attr_opt(self, name: &'static str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// Adds a child (builder style).
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    /// Sets the text (builder style).
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    /// The value of an attribute.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first child of that name.
    pub fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child of that name.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// A canonical text of the element (attributes sorted), used to tell whether a reused
    /// `OperationID` carries the same request.
    pub fn canonical(&self) -> String {
        let mut out = String::with_capacity(1024);
        // Writing into a String cannot fail.
        let _ = self.canonical_into(&mut out);
        out
    }

    /// SHA-256 of [`Element::canonical`]: what a stored answer keeps of its request. The text is
    /// built first and hashed at once (hashing it piece by piece, a quote at a time, cost more
    /// than the text).
    pub fn canonical_digest(&self) -> [u8; 32] {
        Sha256::digest(self.canonical().as_bytes()).into()
    }

    fn canonical_into(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        out.write_char('<')?;
        out.write_str(&self.name)?;
        let mut attrs: Vec<_> = self.attrs.iter().collect();
        attrs.sort();
        for (n, v) in attrs {
            out.write_char(' ')?;
            out.write_str(n)?;
            out.write_char('=')?;
            write_quoted(out, v)?;
        }
        out.write_char('>')?;
        write_quoted(out, &self.text)?;
        for c in &self.children {
            c.canonical_into(out)?;
        }
        out.write_str("</>")
    }

    /// The element as JSON for the journal's decoded view: attributes as `@name`, text as
    /// `#text`, children by name (an array when a name repeats).
    pub fn to_json(&self) -> Value {
        self.clone().into_json()
    }

    /// [`Element::to_json`], moving the texts instead of copying them (the view is made of trees
    /// that are done with).
    pub fn into_json(self) -> Value {
        if self.attrs.is_empty() && self.children.is_empty() && !self.text.is_empty() {
            return Value::String(self.text);
        }
        let mut map = Map::with_capacity(self.attrs.len() + self.children.len() + 1);
        for (n, v) in self.attrs {
            let mut key = String::with_capacity(n.len() + 1);
            key.push('@');
            key.push_str(&n);
            map.insert(key, Value::String(v));
        }
        if !self.text.is_empty() {
            map.insert("#text".into(), Value::String(self.text));
        }
        for mut c in self.children {
            let name = std::mem::take(&mut c.name);
            let value = c.into_json();
            match map.get_mut(&*name) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None => {
                    map.insert(name.into_owned(), value);
                }
            }
        }
        Value::Object(map)
    }
}

/// A parsed document and the traits of its envelope that the answer mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The root element.
    pub root: Element,
    /// `standalone` of the XML declaration, if any.
    pub standalone: Option<String>,
    /// Whether the root declared namespaces (`xmlns:xsd`/`xmlns:xsi` of the 2024 client).
    pub namespaces: bool,
}

/// The protocol's element and attribute names, sorted by length, then bytes: a request's names
/// are borrowed from here instead of copied (a name not listed is copied; that is only slower).
/// Length first, so most steps of the search compare two numbers, not two strings.
const KNOWN_NAMES: &[&str] = &[
    "Pay",
    "Auto",
    "Card",
    "Name",
    "Pays",
    "Type",
    "Param",
    "PosID",
    "Price",
    "Value",
    "Amount",
    "Cheque",
    "Coupon",
    "Number",
    "Params",
    "Refund",
    "Balance",
    "Barcode",
    "Cashier",
    "Coupons",
    "GoodsId",
    "IsPromo",
    "NewCard",
    "Payment",
    "PinCode",
    "Refunds",
    "Version",
    "Balances",
    "Discount",
    "MinPrice",
    "Password",
    "Payments",
    "Quantity",
    "Calculate",
    "Discounts",
    "ElementID",
    "ErrorCode",
    "Calculates",
    "CardNumber",
    "ChequeDate",
    "ChequeLine",
    "Identifier",
    "PurchaseID",
    "XMLRequest",
    "CardReplace",
    "OperationID",
    "XMLResponse",
    "CardReplaces",
    "ChequeNumber",
    "ErrorMessage",
    "LocalDiscount",
    "OperationDate",
    "RefundRequest",
    "BalanceRequest",
    "CancelPurchase",
    "PaymentRequest",
    "RefundResponse",
    "AvailableAmount",
    "BalanceResponse",
    "CancelOperation",
    "CancelPurchases",
    "ConfirmPurchase",
    "DeviceLogicalID",
    "DiscountRequest",
    "PaymentResponse",
    "AvailableAmounts",
    "CalculateRequest",
    "CancelOperations",
    "ConfirmPurchases",
    "DiscountResponse",
    "RefundPurchaseID",
    "CalculateResponse",
    "CardReplaceRequest",
    "CanceledOperationID",
    "CardReplaceResponse",
    "RefundTransactionID",
    "CancelPurchaseRequest",
    "AvailableAmountRequest",
    "CancelOperationRequest",
    "CancelPurchaseResponse",
    "ConfirmPurchaseRequest",
    "AvailableAmountResponse",
    "CancelOperationResponse",
    "ConfirmPurchaseResponse",
];

/// A name read from a document, borrowed when it is one of the protocol's.
fn intern(name: &str) -> Name {
    match KNOWN_NAMES.binary_search_by(|known| by_length(known).cmp(&by_length(name))) {
        Ok(i) => Name::Borrowed(KNOWN_NAMES[i]),
        Err(_) => Name::Owned(name.to_owned()),
    }
}

fn by_length(name: &str) -> (usize, &str) {
    (name.len(), name)
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

fn local(name: &[u8]) -> Result<&str, XmlError> {
    let text = std::str::from_utf8(name).map_err(|_| XmlError::Encoding)?;
    Ok(text.rsplit(':').next().unwrap_or(text))
}

fn open(start: &BytesStart<'_>, namespaces: &mut bool) -> Result<Element, XmlError> {
    let mut element = Element::new(intern(local(start.name().as_ref())?));
    for attr in start.attributes() {
        let attr = attr.map_err(malformed)?;
        let key = std::str::from_utf8(attr.key.as_ref()).map_err(|_| XmlError::Encoding)?;
        if key == "xmlns" || key.starts_with("xmlns:") {
            *namespaces = true;
            continue;
        }
        let value = attr.unescape_value().map_err(malformed)?.into_owned();
        element.attrs.push((intern(local(key.as_bytes())?), value));
    }
    Ok(element)
}

/// Reads a document within the limits.
pub fn parse(bytes: &[u8]) -> Result<Document, XmlError> {
    parse_within(bytes, MAX_DOCUMENT, MAX_ELEMENTS)
}

/// Reads an answer the mock wrote itself, for the journal's view: an answer to a request within
/// the limits may be larger than they allow (each cheque line comes back with its offers), and
/// it was not written by a stranger. Only the depth limit stays.
pub fn parse_answer(bytes: &[u8]) -> Result<Document, XmlError> {
    parse_within(bytes, usize::MAX, usize::MAX)
}

fn parse_within(bytes: &[u8], max_document: usize, max_elements: usize) -> Result<Document, XmlError> {
    if bytes.len() > max_document {
        return Err(XmlError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::Encoding)?;
    // A UTF-8 byte order mark is legal before the declaration.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Text is not trimmed per event (that would eat the spaces around `&amp;`); each element's
    // text is trimmed once it is complete.
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut standalone = None;
    let mut namespaces = false;
    let mut count = 0usize;
    let push = |element: Element, stack: &mut Vec<Element>, root: &mut Option<Element>| -> Result<(), XmlError> {
        match stack.last_mut() {
            Some(parent) => parent.children.push(element),
            None if root.is_none() => *root = Some(element),
            None => return Err(XmlError::Malformed("больше одного корневого элемента".into())),
        }
        Ok(())
    };
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Decl(decl) => {
                standalone = decl
                    .standalone()
                    .transpose()
                    .map_err(malformed)?
                    .map(|v| String::from_utf8_lossy(&v).into_owned());
            }
            Event::DocType(_) => return Err(XmlError::DocType),
            Event::Start(start) => {
                count += 1;
                if count > max_elements {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                if stack.is_empty() && root.is_some() {
                    return Err(XmlError::Malformed("больше одного корневого элемента".into()));
                }
                stack.push(open(&start, &mut namespaces)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > max_elements {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let element = open(&start, &mut namespaces)?;
                push(element, &mut stack, &mut root)?;
            }
            Event::End(_) => {
                let Some(mut element) = stack.pop() else {
                    return Err(XmlError::Malformed("лишний закрывающий тег".into()));
                };
                let trimmed = element.text.trim();
                if trimmed.len() != element.text.len() {
                    element.text = trimmed.to_owned();
                }
                push(element, &mut stack, &mut root)?;
            }
            Event::Text(t) => {
                let decoded = t.decode().map_err(malformed)?;
                match stack.last_mut() {
                    Some(e) => e.text.push_str(&decoded),
                    None if decoded.trim().is_empty() => {}
                    None => return Err(XmlError::Malformed("текст вне корневого элемента".into())),
                }
            }
            Event::CData(c) => {
                let decoded = c.decode().map_err(malformed)?;
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&decoded);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(malformed)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(malformed)?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError::Malformed(format!("неизвестная сущность &{name};")))?
                            .to_owned()
                    }
                };
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&resolved);
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("документ оборван: не закрыты элементы".into()));
    }
    let root = root.ok_or(XmlError::Empty)?;
    Ok(Document {
        root,
        standalone,
        namespaces,
    })
}

/// Writes one element straight into the buffer, each value escaped by quick-xml's `escape`,
/// byte for byte what quick-xml's writer makes of it (its events built and copied a start tag
/// per element: a tenth of what writing an answer cost).
fn write_element(out: &mut Vec<u8>, element: &Element) {
    start_tag(out, &element.name, &element.attrs);
    if element.children.is_empty() && element.text.is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    out.extend_from_slice(escape(&element.text).as_bytes());
    for c in &element.children {
        write_element(out, c);
    }
    end_tag(out, &element.name);
}

/// `<name a="v" …`, left open for `>` or `/>`.
fn start_tag(out: &mut Vec<u8>, name: &str, attrs: &[(Name, String)]) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    for (n, v) in attrs {
        out.push(b' ');
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(escape(v).as_bytes());
        out.push(b'"');
    }
}

fn end_tag(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// Writes a document: UTF-8 declaration (with `standalone` when given) and the root, no
/// indentation (as both observed servers answer).
pub fn write(root: &Element, standalone: Option<&str>) -> Vec<u8> {
    write_with_written(root, standalone, None)
}

/// An element already written (without declaration), as an idempotent replay sends it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The element's XML.
    pub xml: Box<[u8]>,
    /// Where in its start tag an attribute placed before `ErrorCode` goes (the `ElementID` of
    /// an answer in a batch): the offset of ` ErrorCode="`, else the end of the attributes.
    pub before_error_code: usize,
}

impl Written {
    /// Writes one element.
    pub fn of(element: &Element) -> Self {
        let mut xml = Vec::with_capacity(1024);
        write_element(&mut xml, element);
        // Values are escaped (`"` as `&quot;`, `>` as `&gt;`), so the first `>` ends the start
        // tag and ` ErrorCode="` inside it can only be the attribute.
        let tag_end = xml.iter().position(|b| *b == b'>').unwrap_or(xml.len());
        let attrs_end = if tag_end > 0 && xml[tag_end - 1] == b'/' {
            tag_end - 1
        } else {
            tag_end
        };
        let before_error_code = xml[..attrs_end]
            .windows(12)
            .position(|w| w == b" ErrorCode=\"")
            .unwrap_or(attrs_end);
        Self {
            xml: xml.into_boxed_slice(),
            before_error_code,
        }
    }

    /// The element with one more attribute where [`Written::before_error_code`] says, as if it
    /// had been in the element's attributes there when it was written.
    pub fn with_attribute(&self, name: &str, value: &str) -> Vec<u8> {
        let (head, tail) = self.xml.split_at(self.before_error_code);
        let mut out = Vec::with_capacity(self.xml.len() + name.len() + value.len() + 4);
        out.extend_from_slice(head);
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(escape(value).as_bytes());
        out.push(b'"');
        out.extend_from_slice(tail);
        out
    }
}

/// `text` in double quotes with `"` and `\` escaped by a backslash: where a quoted text ends
/// is unambiguous, so different elements never share a canonical form.
fn write_quoted(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    out.write_char('"')?;
    let mut rest = text;
    while let Some(at) = rest.find(['"', '\\']) {
        out.write_str(&rest[..at])?;
        out.write_char('\\')?;
        out.write_str(&rest[at..=at])?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)?;
    out.write_char('"')
}

/// [`write`], except that the root's last child, when `last` is given, is written as that
/// element name holding the already written children (the root's own children up to there are
/// written from the tree; the tree's last child is left out).
pub fn write_with_written(root: &Element, standalone: Option<&str>, last: Option<(&str, &[&[u8]])>) -> Vec<u8> {
    let mut writer = Writer::new(Vec::with_capacity(1024));
    // Writing into a Vec cannot fail.
    let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), standalone)));
    let mut out = writer.into_inner();
    match last {
        None => write_element(&mut out, root),
        Some((name, written)) => write_around(&mut out, root, name, written),
    }
    out
}

fn write_around(out: &mut Vec<u8>, root: &Element, name: &str, written: &[&[u8]]) {
    start_tag(out, &root.name, &root.attrs);
    out.push(b'>');
    out.extend_from_slice(escape(&root.text).as_bytes());
    let own = root.children.len().saturating_sub(1);
    for c in &root.children[..own] {
        write_element(out, c);
    }
    start_tag(out, name, &[]);
    if written.is_empty() {
        out.extend_from_slice(b"/>");
    } else {
        out.push(b'>');
        for xml in written {
            out.extend_from_slice(xml);
        }
        end_tag(out, name);
    }
    end_tag(out, &root.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocols_names_are_borrowed_and_others_copied() {
        // `intern` searches by halves: the list must be sorted, without repeats.
        assert!(
            KNOWN_NAMES.windows(2).all(|w| by_length(w[0]) < by_length(w[1])),
            "KNOWN_NAMES sorted by length, then bytes"
        );
        use crate::protocol::{Command, LINE_ATTRIBUTES};
        for command in Command::ALL {
            let names = [command.wrapper(), command.request()].into_iter();
            let names = names.chain(command.schema().iter().copied());
            for name in names.chain(command.attributes().iter().copied()) {
                assert!(matches!(intern(name), Name::Borrowed(_)), "{name} is listed");
            }
        }
        for name in LINE_ATTRIBUTES {
            assert!(matches!(intern(name), Name::Borrowed(_)), "{name} is listed");
        }
        let doc = parse(br#"<XMLRequest><Unheard Of="1" PosID="2"/></XMLRequest>"#).unwrap();
        let child = &doc.root.children[0];
        assert!(matches!(child.name, Name::Owned(_)));
        assert_eq!(child.name, "Unheard");
        assert!(matches!(&child.attrs[..], [(Name::Owned(of), _), (Name::Borrowed("PosID"), _)] if of == "Of"));
    }

    #[test]
    fn reads_both_envelope_variants() {
        let doc = parse(br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLRequest><Version>3.2</Version><Balances><BalanceRequest OperationID="a" ElementID="1"><Identifier Type="Auto" Value="8690003"/></BalanceRequest></Balances></XMLRequest>"#).unwrap();
        assert_eq!(doc.standalone.as_deref(), Some("yes"));
        assert!(!doc.namespaces);
        assert_eq!(doc.root.name, "XMLRequest");
        assert_eq!(doc.root.first("Version").unwrap().text, "3.2");
        let req = doc.root.first("Balances").unwrap().first("BalanceRequest").unwrap();
        assert_eq!(req.get("ElementID"), Some("1"));
        assert_eq!(req.first("Identifier").unwrap().get("Value"), Some("8690003"));

        let doc = parse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<XMLRequest xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  <Version>3.2</Version>\n</XMLRequest>".as_bytes(),
        )
        .unwrap();
        assert!(doc.namespaces);
        assert_eq!(doc.standalone, None);
        assert!(doc.root.attrs.is_empty());
    }

    #[test]
    fn entities_and_cdata_are_text() {
        let doc = parse(br#"<a n="x &amp; y"><b>T&#246;&lt;v&gt;<![CDATA[<raw>]]></b></a>"#).unwrap();
        assert_eq!(doc.root.get("n"), Some("x & y"));
        assert_eq!(doc.root.children[0].text, "Tö<v><raw>");
    }

    #[test]
    fn hostile_documents_are_refused() {
        assert_eq!(parse(b""), Err(XmlError::Empty));
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<a/><b/>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(br#"<a x="1" x="2"/>"#), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<a>&bomb;</a>"), Err(XmlError::Malformed(_))));
        assert_eq!(parse(b"<!DOCTYPE a [<!ENTITY e \"x\">]><a/>"), Err(XmlError::DocType));
        assert_eq!(parse(&[0xff, 0xfe, b'<']), Err(XmlError::Encoding));
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
        let big = vec![b' '; MAX_DOCUMENT + 1];
        assert_eq!(parse(&big), Err(XmlError::TooLarge));
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(many.as_bytes()), Err(XmlError::TooManyElements));
    }

    #[test]
    fn writes_escaped_compact_xml() {
        let root = Element::new("XMLResponse")
            .child(Element::new("ErrorCode").text("0"))
            .child(Element::new("Item").attr("Name", "Holder").text("Иван & <Рюрик>"));
        let bytes = write(&root, Some("yes"));
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLResponse><ErrorCode>0</ErrorCode><Item Name="Holder">Иван &amp; &lt;Рюрик&gt;</Item></XMLResponse>"#
        );
        assert_eq!(parse(&bytes).unwrap().root, root);
    }

    #[test]
    fn an_element_written_alone_is_the_same_bytes_as_inside_its_document() {
        let answer = Element::new("PaymentResponse")
            .attr("Name", "\"quoted\" > <tag> & ' ErrorCode=\"1\"")
            .attr("OperationID", "o")
            .attr("ErrorCode", "0")
            .child(Element::new("ChequeMessage").text("Списано: 1 бонус & <ещё>"));
        let with_id = {
            let mut a = answer.clone();
            a.attrs.insert(2, ("ElementID".into(), "7 & \"8\"".into()));
            a
        };
        let root = |child: Element| {
            Element::new("XMLResponse")
                .child(Element::new("ErrorCode").text("0"))
                .child(Element::new("Payments").child(child))
        };
        let written = Written::of(&answer);
        // Spliced in as written: the bytes of the whole tree written at once.
        assert_eq!(
            write_with_written(&root(answer.clone()), Some("yes"), Some(("Payments", &[&written.xml]))),
            write(&root(answer.clone()), Some("yes"))
        );
        // With an attribute added before ErrorCode: as if the tree had had it.
        let spliced = written.with_attribute("ElementID", "7 & \"8\"");
        assert_eq!(
            write_with_written(&root(answer.clone()), None, Some(("Payments", &[&spliced]))),
            write(&root(with_id), None)
        );
        // Without ErrorCode (and empty): the attribute goes last.
        let bare = Element::new("X").attr("A", "1");
        assert_eq!(
            Written::of(&bare).with_attribute("B", "2"),
            Written::of(&bare.clone().attr("B", "2")).xml.to_vec()
        );
        assert_eq!(Written::of(&bare).with_attribute("B", "2"), br#"<X A="1" B="2"/>"#);
    }

    #[test]
    fn the_canonical_digest_is_the_hash_of_the_canonical_text() {
        let a = parse(r#"<r B="2" A="&quot;1&quot;"><c>т</c></r>"#.as_bytes())
            .unwrap()
            .root;
        let expected: [u8; 32] = Sha256::digest(a.canonical().as_bytes()).into();
        assert_eq!(a.canonical_digest(), expected);
    }

    #[test]
    fn quotes_and_backslashes_cannot_make_two_elements_look_alike() {
        // Without escaping, both would read `<r A="x" B="y">""`.
        let a = Element::new("r").attr("A", "x\" B=\"y");
        let b = Element::new("r").attr("A", "x").attr("B", "y");
        assert_ne!(a.canonical(), b.canonical());
        assert_eq!(a.canonical(), r#"<r A="x\" B=\"y">""</>"#);
        let c = Element::new("r").attr("A", "\\");
        assert_eq!(c.canonical(), r#"<r A="\\">""</>"#);
    }

    #[test]
    fn canonical_form_ignores_attribute_order() {
        let a = parse(br#"<r A="1" B="2"><c/></r>"#).unwrap().root;
        let b = parse(br#"<r B="2" A="1"><c/></r>"#).unwrap().root;
        let c = parse(br#"<r B="2" A="3"><c/></r>"#).unwrap().root;
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(a.canonical(), c.canonical());
    }

    #[test]
    fn json_view() {
        let root = parse(br#"<r A="1"><c>t</c><d/><d X="y"/></r>"#).unwrap().root;
        assert_eq!(
            root.to_json(),
            serde_json::json!({"@A": "1", "c": "t", "d": [{}, {"@X": "y"}]})
        );
    }

    /// What quick-xml's own event writer makes of a document (declaration, when given, and
    /// root): the reference the direct writer must match byte for byte.
    fn written_by_quick_xml(element: &Element, standalone: Option<Option<&str>>) -> Vec<u8> {
        use quick_xml::events::{BytesEnd, BytesText};
        fn write(writer: &mut Writer<Vec<u8>>, element: &Element) -> std::io::Result<()> {
            let mut start = BytesStart::new(&*element.name);
            for (n, v) in &element.attrs {
                start.push_attribute((&**n, v.as_str()));
            }
            if element.children.is_empty() && element.text.is_empty() {
                return writer.write_event(Event::Empty(start));
            }
            writer.write_event(Event::Start(start))?;
            if !element.text.is_empty() {
                writer.write_event(Event::Text(BytesText::new(&element.text)))?;
            }
            for c in &element.children {
                write(writer, c)?;
            }
            writer.write_event(Event::End(BytesEnd::new(&*element.name)))
        }
        let mut writer = Writer::new(Vec::new());
        if let Some(standalone) = standalone {
            writer
                .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), standalone)))
                .unwrap();
        }
        write(&mut writer, element).unwrap();
        writer.into_inner()
    }

    fn element_tree() -> impl proptest::strategy::Strategy<Value = Element> {
        use proptest::prelude::*;
        let name = proptest::sample::select(vec!["A", "Cheque", "ChequeLine", "Ü"]);
        // Values with everything that needs escaping, non-ASCII and spaces.
        let value = "[a-z0-9 &<>\"'ё;#]{0,8}";
        let attrs = prop::collection::vec((name.clone(), value), 0..3).prop_map(|attrs| {
            attrs
                .into_iter()
                .map(|(a, v)| (Name::Borrowed(a), v))
                .collect::<Vec<_>>()
        });
        let leaf = (name.clone(), attrs.clone(), value).prop_map(|(n, attrs, text)| Element {
            name: Name::Borrowed(n),
            attrs,
            children: Vec::new(),
            text,
        });
        leaf.prop_recursive(3, 16, 4, move |inner| {
            (name.clone(), attrs.clone(), value, prop::collection::vec(inner, 0..4)).prop_map(
                |(n, attrs, text, children)| Element {
                    name: Name::Borrowed(n),
                    attrs,
                    children,
                    text,
                },
            )
        })
    }

    proptest::proptest! {
        #[test]
        fn writes_what_quick_xmls_writer_writes(element in element_tree()) {
            proptest::prop_assert_eq!(
                String::from_utf8(Written::of(&element).xml.into_vec()).unwrap(),
                String::from_utf8(written_by_quick_xml(&element, None)).unwrap()
            );
        }

        /// An answer document: the root's own children from the tree, the wrapper's from the
        /// singular answers written before — as if the whole tree had been written at once.
        #[test]
        fn a_document_around_written_answers_is_the_whole_tree_written(
            mut root in element_tree(),
            answers in proptest::collection::vec(element_tree(), 0..4),
            standalone in proptest::option::of(proptest::sample::select(vec!["yes", "no"])),
        ) {
            root.children.push(Element::new("Balances"));
            let written: Vec<Written> = answers.iter().map(Written::of).collect();
            let parts: Vec<&[u8]> = written.iter().map(|w| &*w.xml).collect();
            let ours = write_with_written(&root, standalone, Some(("Balances", &parts)));
            root.children.last_mut().unwrap().children = answers;
            proptest::prop_assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(written_by_quick_xml(&root, Some(standalone))).unwrap()
            );
        }
    }
}

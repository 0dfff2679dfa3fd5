//! Human-readable rendering of ZVT traffic for `possim zvt decode <hex>` and the journal.
//!
//! [`describe`] never fails: whatever it cannot interpret it shows as hex together with the
//! reason. It accepts one or more APDUs back to back (TCP form) or serial messages starting with
//! `DLE STX`. Output is deterministic and indented two spaces per level.
//!
//! The rendering is driven by the data-block layout of each command (positional parameters
//! first, then BMPs, PA00P016 §5.2.7) rather than by the typed messages, so that partially broken
//! input still shows everything up to the first problem. Names, directions and layouts come from
//! the command table in [`crate::messages`].

use std::fmt::Write as _;

use crate::apdu::{Apdu, ControlField, Decoded};
use crate::bmp::{self, Format, Kind, read_bmp};
use crate::encoding::{self, DecodeMode, Digits, escape_text, hex};
use crate::messages::{self, Direction, Layout, cmd, command_name};
use crate::serial::{DLE, FrameDecoder, FrameEvent, STX};
use crate::tlv::{Tlv, TlvContainer, TlvValue};

/// Bytes per line in hex dumps.
const HEX_LINE: usize = 16;

/// Renders raw bytes (APDUs or serial frames) as multi-line text.
pub fn describe(bytes: &[u8]) -> String {
    let mut out = String::new();
    if bytes.starts_with(&[DLE, STX]) {
        describe_serial(bytes, &mut out);
    } else {
        describe_stream(bytes, &mut out);
    }
    out
}

/// Renders a single decoded APDU.
pub fn describe_apdu(apdu: &Apdu) -> String {
    let mut out = String::new();
    render_apdu(apdu, &mut out);
    out
}

fn describe_serial(bytes: &[u8], out: &mut String) {
    let mut dec = FrameDecoder::new();
    let mut events = dec.feed(bytes);
    events.extend(dec.flush());
    for ev in events {
        match ev {
            FrameEvent::Frame(apdu) => {
                let crc = crate::serial::frame_crc(&apdu.encode());
                let _ = writeln!(out, "serial frame, CRC {:02X} {:02X} ok", crc & 0xFF, crc >> 8);
                render_apdu(&apdu, out);
            }
            FrameEvent::Ack => out.push_str("link ACK (06)\n"),
            FrameEvent::Nak => out.push_str("link NAK (15)\n"),
            FrameEvent::Error(e) => {
                let _ = writeln!(out, "serial error: {e}");
            }
        }
    }
}

fn describe_stream(bytes: &[u8], out: &mut String) {
    let mut rest = bytes;
    if rest.is_empty() {
        out.push_str("(no bytes)\n");
    }
    while !rest.is_empty() {
        match Apdu::decode(rest) {
            Decoded::Complete { apdu, consumed } => {
                render_apdu(&apdu, out);
                rest = &rest[consumed..];
            }
            Decoded::NeedMore { needed } => {
                let _ = writeln!(out, "incomplete APDU ({needed} more bytes expected): {}", hex(rest));
                break;
            }
        }
    }
}

fn direction_label(d: Direction) -> &'static str {
    match d {
        Direction::EcrToPt => "ECR -> PT",
        Direction::PtToEcr => "PT -> ECR",
        Direction::Both => "either direction",
    }
}

fn render_apdu(apdu: &Apdu, out: &mut String) {
    let cf = apdu.control();
    let data = apdu.data();
    let name = match command_name(cf) {
        Some((name, dir)) => format!("{name} ({})", direction_label(dir)),
        None => "unknown command".to_string(),
    };
    let ext = match apdu.length_form() {
        crate::apdu::LengthForm::Short => "",
        crate::apdu::LengthForm::Extended => ", extended length",
    };
    let plural = if data.len() == 1 { "" } else { "s" };
    let _ = writeln!(out, "{cf} {name}, {} data byte{plural}{ext}", data.len());
    render_data(cf, data, out);
}

/// Renders the data block according to the command's layout (from the command table).
fn render_data(cf: ControlField, data: &[u8], out: &mut String) {
    let mut r = Renderer { out, depth: 1 };
    if cf.class == 0x84 {
        let code = cf.instr;
        r.line(&format!("error code: {code:02X} ({})", result_code_text(code)));
        if code == 0x9D && data.first() == Some(&0x04) {
            r.bmps(data);
        } else {
            r.bmps_or_hex(data);
        }
        return;
    }
    match messages::command(cf).map_or(Layout::Raw, |c| c.layout) {
        Layout::Bmps => r.bmps(data),
        Layout::PasswordThenBmps => {
            if let Some(rest) = r.password(data) {
                r.bmps(rest);
            }
        }
        Layout::Special => r.special(cf, data),
        Layout::Raw => {
            if !data.is_empty() {
                r.hex("data", data);
            }
        }
    }
}

struct Renderer<'a> {
    out: &'a mut String,
    depth: usize,
}

impl Renderer<'_> {
    /// The commands whose positional parameters need a renderer of their own.
    fn special(&mut self, cf: ControlField, data: &[u8]) {
        match cf {
            cmd::ACK => self.bmps_or_hex(data),
            cmd::REGISTRATION => {
                let Some(rest) = self.password(data) else { return };
                let Some((&config, rest)) = rest.split_first() else {
                    self.line("missing config byte");
                    return;
                };
                self.line(&format!("config byte: {config:02X} ({})", config_text(config)));
                if rest.is_empty() {
                    return;
                }
                let Some(rest) = self.currency(rest) else { return };
                self.bmps(rest);
            }
            cmd::STATUS_ENQUIRY => {
                if data.is_empty() {
                    return;
                }
                if let Some(rest) = self.password(data) {
                    self.bmps(rest);
                }
            }
            cmd::READ_CARD => {
                if let Some((&timeout, rest)) = data.split_first() {
                    self.line(&format!(
                        "timeout: {timeout} s{}",
                        if timeout == 0 { " (no limit)" } else { "" }
                    ));
                    self.bmps(rest);
                }
            }
            cmd::INTERMEDIATE_STATUS => {
                let Some((&status, rest)) = data.split_first() else {
                    self.line("missing status byte");
                    return;
                };
                self.line(&format!(
                    "intermediate status: {status:02X} ({})",
                    intermediate_status_text(status)
                ));
                if let Some((&t, rest)) = rest.split_first() {
                    match encoding::bcd_pairs(&[t]) {
                        Ok(p) => self.line(&format!("timeout T4: {} min", p[0])),
                        Err(_) => self.line(&format!("timeout T4: {t:02X} (not BCD)")),
                    }
                    self.bmps(rest);
                }
            }
            cmd::PRINT_LINE => {
                let Some((&attr, text)) = data.split_first() else {
                    self.line("missing attribute");
                    return;
                };
                self.line(&format!("attribute: {attr:02X} ({})", print_attribute_text(attr)));
                if attr == 0xFF {
                    self.line(&format!("line feeds: {}", text.first().copied().unwrap_or(1)));
                } else {
                    self.line(&format!("text: \"{}\"", escape_text(text)));
                }
            }
            cmd::ABORT_PT => {
                let Some((&rc, mut rest)) = data.split_first() else {
                    self.line("missing result code");
                    return;
                };
                self.line(&format!("result code: {rc:02X} ({})", result_code_text(rc)));
                if messages::abort_has_currency(rc, rest) {
                    match self.currency(rest) {
                        Some(after) => rest = after,
                        None => return,
                    }
                }
                self.bmps(rest);
            }
            cmd::COMPLETION => self.completion(data),
            cmd::SELECT_LANGUAGE => match data {
                [lang] => self.line(&format!("language: {lang:02X} ({})", language_text(*lang))),
                _ => self.hex("data", data),
            },
            _ => {
                if !data.is_empty() {
                    self.hex("data", data);
                }
            }
        }
    }

    fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn hex(&mut self, label: &str, bytes: &[u8]) {
        if bytes.len() <= HEX_LINE {
            self.line(&format!("{label}: {}", hex(bytes)));
        } else {
            self.line(&format!("{label} ({} bytes):", bytes.len()));
            self.depth += 1;
            for chunk in bytes.chunks(HEX_LINE) {
                self.line(&hex(chunk));
            }
            self.depth -= 1;
        }
    }

    fn password<'d>(&mut self, data: &'d [u8]) -> Option<&'d [u8]> {
        match data.get(..3) {
            Some(p) => {
                match encoding::bcd_decode(p) {
                    Ok(v) => self.line(&format!("password: {v:06}")),
                    Err(_) => self.line(&format!("password: {} (not BCD)", hex(p))),
                }
                Some(&data[3..])
            }
            None => {
                self.hex("truncated password", data);
                None
            }
        }
    }

    fn currency<'d>(&mut self, data: &'d [u8]) -> Option<&'d [u8]> {
        match data.get(..2) {
            Some(cc) => {
                self.line(&format!("currency code: {}", currency_text(cc)));
                Some(&data[2..])
            }
            None => {
                self.hex("truncated currency code", data);
                None
            }
        }
    }

    /// Shows data as BMPs if it parses as such, otherwise as hex.
    fn bmps_or_hex(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if bmp::parse_bmps(data, DecodeMode::Lenient).is_ok() {
            self.bmps(data);
        } else {
            self.hex("data", data);
        }
    }

    /// Shows every BMP, stopping at the first one that cannot be walked.
    fn bmps(&mut self, data: &[u8]) {
        let mut pos = 0;
        let mut deviations = Vec::new();
        while pos < data.len() {
            match read_bmp(&data[pos..], pos, DecodeMode::Lenient, &mut deviations) {
                Ok((b, used)) => {
                    self.bmp(b.id, &b.data);
                    pos += used;
                }
                Err(e) => {
                    self.line(&format!("error: {e}"));
                    self.hex("unparsed rest", &data[pos..]);
                    break;
                }
            }
        }
        for d in deviations {
            self.line(&format!("deviation: {d}"));
        }
    }

    fn bmp(&mut self, id: u8, data: &[u8]) {
        let Some(info) = bmp::info(id) else {
            self.hex(&format!("BMP {id:02X} (unknown)"), data);
            return;
        };
        let label = format!("BMP {id:02X} {}", info.name);
        if info.format == Format::Tlv {
            self.line(&format!("{label} ({} bytes):", data.len()));
            self.depth += 1;
            match TlvContainer::decode(data) {
                Ok(c) => {
                    if c.objects.is_empty() {
                        self.line("(empty)");
                    }
                    for o in &c.objects {
                        self.tlv(o);
                    }
                }
                Err(e) => {
                    self.line(&format!("error: {e}"));
                    self.hex("raw", data);
                }
            }
            self.depth -= 1;
            return;
        }
        match bmp_value_text(id, info.format, data) {
            Some(v) => self.line(&format!("{label}: {v}")),
            None => self.hex(&label, data),
        }
    }

    fn tlv(&mut self, o: &Tlv) {
        let name = tag_name(o.tag.value()).unwrap_or("unknown tag");
        match &o.value {
            TlvValue::Constructed(children) => {
                self.line(&format!("tag {} {name} (constructed):", o.tag));
                self.depth += 1;
                if children.is_empty() {
                    self.line("(empty)");
                }
                for c in children {
                    self.tlv(c);
                }
                self.depth -= 1;
            }
            TlvValue::Primitive(d) => {
                let label = format!("tag {} {name}", o.tag);
                if d.is_empty() {
                    self.line(&format!("{label}: (empty)"));
                } else if tag_is_text(o.tag.value()) {
                    self.line(&format!("{label}: \"{}\"", escape_text(d)));
                } else if d.len() >= 2 && d.len() <= HEX_LINE && d.iter().all(|b| (0x20..0x7F).contains(b)) {
                    // Many vendor tags carry text without the spec saying so; show both forms.
                    self.line(&format!("{label}: {} (\"{}\")", hex(d), escape_text(d)));
                } else {
                    self.hex(&label, d);
                }
            }
        }
    }

    fn completion(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let sw = data.len() >= 3 && data[..3].iter().all(|b| (0xF0..=0xF9).contains(b));
        let plain_bmps = !sw && bmp::parse_bmps(data, DecodeMode::Lenient).is_ok();
        if plain_bmps {
            self.bmps(data);
            return;
        }
        self.line("(status enquiry form)");
        let mut rest = data;
        if sw {
            let (len, _) = encoding::decode_var_len(rest, 3, DecodeMode::Lenient).unwrap_or((0, false));
            match rest.get(3..3 + len) {
                Some(v) => {
                    self.line(&format!("software version: \"{}\"", escape_text(v)));
                    rest = &rest[3 + len..];
                }
                None => {
                    self.hex("truncated software version", rest);
                    return;
                }
            }
        }
        if let Some((&status, rest)) = rest.split_first() {
            self.line(&format!(
                "terminal status: {status:02X} ({})",
                terminal_status_text(status)
            ));
            self.bmps(rest);
        }
    }
}

fn currency_text(cc: &[u8]) -> String {
    match encoding::bcd_decode(cc) {
        Ok(978) => "978 (EUR)".to_string(),
        Ok(756) => "756 (CHF)".to_string(),
        Ok(v) => format!("{v:03}"),
        Err(_) => format!("{} (not BCD)", hex(cc)),
    }
}

/// Decoded value of a non-TLV BMP, or `None` to fall back to hex.
fn bmp_value_text(id: u8, format: Format, data: &[u8]) -> Option<String> {
    let kind = match format {
        Format::Fixed(_, k) | Format::LlVar(k) | Format::LllVar(k) => k,
        Format::Tlv => return None,
    };
    let digits = || -> Option<String> {
        let p = encoding::bcd_pairs(data).ok()?;
        Some(p.iter().map(|d| format!("{d:02}")).collect())
    };
    match (id, kind) {
        (0x04, _) => {
            let a = encoding::Amount::from_bcd(data).ok()?;
            Some(format!("{a} ({})", hex(data)))
        }
        (0x49, _) => Some(currency_text(data)),
        (0x0C, _) => {
            let p = encoding::bcd_pairs(data).ok()?;
            Some(format!("{:02}:{:02}:{:02}", p[0], p[1], p[2]))
        }
        (0x0D, _) => {
            let p = encoding::bcd_pairs(data).ok()?;
            Some(format!("{:02}-{:02} (MM-DD)", p[0], p[1]))
        }
        (0xAA, _) => {
            let p = encoding::bcd_pairs(data).ok()?;
            Some(format!("{:02}-{:02}-{:02} (YY-MM-DD)", p[0], p[1], p[2]))
        }
        (0x0E, _) => {
            let p = encoding::bcd_pairs(data).ok()?;
            Some(format!("{:02}/{:02} (YY/MM)", p[0], p[1]))
        }
        (0x87, _) if data == [0xFF, 0xFF] => Some("FFFF (none)".to_string()),
        (0x27, _) => Some(format!("{:02X} ({})", data[0], result_code_text(data[0]))),
        (0x8A, _) => Some(format!("{:02X} ({} decimal)", data[0], data[0])),
        (_, Kind::Bcd) => digits(),
        (_, Kind::Digits) => Digits::from_bytes(data).ok().map(|d| d.to_string()),
        (_, Kind::Text) => Some(format!("\"{}\"", escape_text(data))),
        (_, Kind::Binary) if data.len() == 1 => Some(format!("{:02X}", data[0])),
        (_, Kind::Binary) => None,
    }
}

fn config_text(c: u8) -> String {
    let mut parts = Vec::new();
    if c & 0x02 != 0 {
        parts.push("ECR prints payment receipts");
    }
    if c & 0x04 != 0 {
        parts.push("ECR prints admin receipts");
    }
    if c & 0x08 != 0 {
        parts.push("intermediate status wanted");
    }
    if c & 0x10 != 0 {
        parts.push("ECR controls payment");
    }
    if c & 0x20 != 0 {
        parts.push("ECR controls admin");
    }
    if c & 0x80 != 0 {
        parts.push("receipt via print commands");
    }
    if parts.is_empty() {
        "no options".to_string()
    } else {
        parts.join(", ")
    }
}

fn print_attribute_text(a: u8) -> String {
    match a {
        0xFF => "line feed".to_string(),
        0x80 => "reserved".to_string(),
        a if a & 0x80 != 0 => "last line of receipt".to_string(),
        a => {
            let mut parts = Vec::new();
            if a & 0x40 != 0 {
                parts.push("centred".to_string());
            }
            if a & 0x20 != 0 {
                parts.push("double width".to_string());
            }
            if a & 0x10 != 0 {
                parts.push("double height".to_string());
            }
            if a & 0x0F != 0 {
                parts.push(format!("indent {}", a & 0x0F));
            }
            if parts.is_empty() {
                "normal".to_string()
            } else {
                parts.join(", ")
            }
        }
    }
}

fn language_text(l: u8) -> &'static str {
    match l {
        0 => "German",
        1 => "English",
        2 => "French",
        3 => "Italian",
        4 => "Hungarian",
        _ => "other",
    }
}

/// Short explanation of a result / error code (PA00P015 §10).
pub fn result_code_text(code: u8) -> &'static str {
    match code {
        0x00 => "no error",
        0x01..=0x63 => "error from the authorisation host",
        0x64 => "card not readable",
        0x65 => "card data not present",
        0x66 => "processing error",
        0x67 => "function not permitted for ec and Maestro cards",
        0x68 => "function not permitted for credit and tank cards",
        0x6A => "turnover file full",
        0x6B => "function deactivated (PT not registered)",
        0x6C => "abort via timeout or abort key",
        0x6E => "card in blocked list",
        0x6F => "wrong currency",
        0x71 => "credit not sufficient (chip card)",
        0x72 => "chip error",
        0x73 => "card data incorrect",
        0x74 => "DUKPT engine exhausted",
        0x75 => "text not authentic",
        0x76 => "PAN not in white list",
        0x77 => "end-of-day batch not possible",
        0x78 => "card expired",
        0x79 => "card not yet valid",
        0x7A => "card unknown",
        0x7B..=0x7C | 0x7E => "fallback to magnetic stripe not possible",
        0x7D => "communication error",
        0x83 => "function not possible",
        0x85 => "key missing",
        0x89 => "PIN-pad defective",
        0x9A => "ZVT protocol error",
        0x9B => "error from dial-up / communication fault",
        0x9C => "please wait",
        0xA0 => "receiver not ready",
        0xA1 => "remote station does not respond",
        0xA3 => "no connection",
        0xA4 => "submission of GeldKarte not possible",
        0xA5 => "function not allowed due to PCI-DSS/P2PE rules",
        0xB1 => "memory full",
        0xB2 => "merchant journal full",
        0xB4 => "already reversed",
        0xB5 => "reversal not possible",
        0xB7 => "pre-authorisation incorrect or amount too high",
        0xB8 => "error pre-authorisation",
        0xBF => "voltage supply too low",
        0xC0 => "card locking mechanism defective",
        0xC1 => "merchant card locked",
        0xC2 => "diagnosis required",
        0xC3 => "maximum amount exceeded",
        0xC4 => "card profile invalid",
        0xC5 => "payment method not supported",
        0xC6 => "currency not applicable",
        0xC8 => "amount too small",
        0xC9 => "maximum transaction amount too small",
        0xCB => "function only allowed in EURO",
        0xCC => "printer not ready",
        0xCD => "cashback not possible",
        0xD2 => "function not permitted for service cards",
        0xDC => "card inserted",
        0xDD => "error during card eject",
        0xDE => "error during card insertion",
        0xE0 => "remote maintenance activated",
        0xE2 => "card reader does not answer / defective",
        0xE3 => "shutter closed",
        0xE4 => "terminal activation required",
        0xE7 => "goods group not found",
        0xE8 => "no goods-group table loaded",
        0xE9 => "restriction code not permitted",
        0xEA => "card code not permitted",
        0xEB => "function not executable (PIN algorithm unknown)",
        0xEC => "PIN processing not possible",
        0xED => "PIN-pad defective",
        0xF0 => "open end-of-day batch present",
        0xF1 => "ec-cash/Maestro offline error",
        0xF5 => "OPT error",
        0xF6 => "OPT data not available",
        0xFA => "error transmitting offline transactions (clearing error)",
        0xFB => "turnover data set defective",
        0xFC => "necessary device not present or defective",
        0xFD => "baud rate not supported",
        0xFE => "register unknown",
        0xFF => "system error (see TLV 1F16/1F17)",
        _ => "unassigned code",
    }
}

/// Short explanation of an intermediate status code (PA00P015 §3.7, Table 17).
///
/// Codes 41–67 repeat 01–27 with "please remove card" added.
pub fn intermediate_status_text(code: u8) -> String {
    if (0x41..=0x67).contains(&code) {
        return format!("{}, please remove card", intermediate_base_text(code - 0x40));
    }
    intermediate_base_text(code).to_string()
}

fn intermediate_base_text(code: u8) -> &'static str {
    match code {
        0x00 => "PT waiting for amount confirmation",
        0x01 | 0x02 => "please watch PIN-pad",
        0x03 => "not accepted",
        0x04 => "PT waiting for response from FEP",
        0x05 => "PT sending auto-reversal",
        0x06 => "PT sending post-bookings",
        0x07 => "card not admitted",
        0x08 => "card unknown / undefined",
        0x09 => "expired card",
        0x0A => "insert card",
        0x0B => "please remove card",
        0x0C => "card not readable",
        0x0D => "processing error",
        0x0E => "please wait",
        0x0F => "PT commencing automatic end-of-day batch",
        0x10 => "invalid card",
        0x11 => "balance display",
        0x12 => "system malfunction",
        0x13 => "payment not possible",
        0x14 => "credit not sufficient",
        0x15 => "incorrect PIN",
        0x16 => "limit not sufficient",
        0x17 => "please wait",
        0x18 => "PIN try limit exceeded",
        0x19 => "card data incorrect",
        0x1A => "service mode",
        0x1B => "approved, please fill up",
        0x1C => "approved, please take goods",
        0x1D => "declined",
        0x26 => "PT waiting for input of the mobile number",
        0x27 => "PT waiting for repeat of mobile number",
        0x28 => "currency selection, please wait",
        0x29 => "language selection, please wait",
        0x2A => "for loading please insert card",
        0x2B => "emergency transaction, please wait",
        0x2C => "application selection, please wait",
        0x68 => "customer card insertion detected",
        0x69 => "please select DCC",
        0xC7 => "PT waiting for input of the mileage",
        0xC8 => "PT waiting for cashier",
        0xC9 => "PT commencing automatic diagnosis",
        0xCA => "PT commencing automatic initialisation",
        0xCB => "merchant journal full",
        0xCC => "debit advice not possible, PIN required",
        0xD2 => "connecting dial-up",
        0xD3 => "dial-up connection made",
        0xE0 => "PT waiting for application selection",
        0xE1 => "PT waiting for language selection",
        0xE2 => "PT requests to use the cleaning card",
        0xF1 => "offline",
        0xF2 => "online",
        0xF3 => "offline transaction",
        0xFF => "no appropriate code; text in TLV 24",
        _ => "unassigned status",
    }
}

/// Short explanation of a terminal status code (PA00P015 §11).
pub fn terminal_status_text(code: u8) -> &'static str {
    match code {
        0x00 => "PT ready",
        0x51 => "initialisation required",
        0x62 => "date/time incorrect",
        0x9C => "please wait (e.g. software update)",
        0x9D => "partial issue of goods",
        0xB1 => "memory full",
        0xB2 => "merchant journal full",
        0xBF => "voltage supply too low",
        0xC0 => "card locking mechanism defective",
        0xC1 => "merchant card locked",
        0xC2 => "diagnosis required",
        0xC4 => "card profile invalid",
        0xCC => "printer not ready",
        0xDC => "card inserted",
        0xDF => "out of order",
        0xE0 => "remote maintenance activated",
        0xE1 => "card not completely removed",
        0xE2 => "card reader does not answer / defective",
        0xE3 => "shutter closed",
        0xE4 => "terminal activation required",
        0xF0 => "reconciliation required",
        0xF6 => "OPT data not available",
        _ => "unassigned status",
    }
}

/// Name of a TLV tag (PA00P015 §9.4.1), for the tags this crate names.
pub fn tag_name(tag: u32) -> Option<&'static str> {
    Some(match tag {
        0x01 => "reversal ID",
        0x07 => "text line",
        0x08 => "receipt number",
        0x09 => "print attribute",
        0x0A => "ZVT command",
        0x0B => "info field",
        0x0C => "info field 2",
        0x10 => "merchant display size",
        0x11 => "customer display size",
        0x12 => "printer line width",
        0x13 => "extra result code",
        0x14 => "character set",
        0x15 => "language code",
        0x1A => "max. APDU length",
        0x1B => "diagnosis type",
        0x20 => "fleet-card container",
        0x23 => "list of open pre-authorisations",
        0x24 => "display texts",
        0x25 => "print texts",
        0x26 => "list of permitted ZVT commands",
        0x27 => "list of supported character sets",
        0x28 => "list of supported languages",
        0x2E => "time stamp",
        0x2F => "payment type",
        0x30 => "card acceptance matching",
        0x40 => "EMV config parameter",
        0x41 => "ZVT card type ID",
        0x42 => "application name",
        0x43 => "application ID",
        0x44 => "application preferred name",
        0x45 => "receipt parameter",
        0x46 => "EMV print data (customer receipt)",
        0x47 => "EMV print data (merchant receipt)",
        0x49 => "network operator card type ID",
        0x60 => "application",
        0x61 => "applications on magnetic stripe",
        0x62 => "applications on chip",
        0x63 => "prepaid container",
        0xC1 => "bonus transaction type",
        0xC2 => "bonus points",
        0xC3 => "remaining bonus points",
        0xC4 => "ECR transaction number",
        0xC5 => "bonus points value",
        0xE1 => "bonus points container",
        0xE2 => "DCC container",
        0xE4 => "device information",
        0xE3 => "barcode container",
        0xE5 => "key container",
        0xE6 => "card type container",
        0xE7 => "merchant SAM information container",
        0xE8 => "value added services container",
        0xE9 => "reference number container",
        0x1F01 => "receipt ID",
        0x1F02 => "from TA number",
        0x1F03 => "to TA number",
        0x1F04 => "receipt parameter",
        0x1F05 => "transaction parameter",
        0x1F06 => "reservation parameter",
        0x1F07 => "receipt type",
        0x1F0E => "date",
        0x1F0F => "time",
        0x1F10 => "cardholder authentication",
        0x1F11 => "online flag",
        0x1F12 => "card technology",
        0x1F15 => "card reading control",
        0x1F16 => "extended error code",
        0x1F17 => "extended error text",
        0x1F1F => "unique transaction ID",
        0x1F25 => "cashback amount",
        0x1F2B => "trace number (long)",
        0x1F36 => "tip amount",
        0x1F37 => "receipt information",
        0x1F40 => "device name",
        0x1F41 => "software version",
        0x1F42 => "serial number",
        0x1F43 => "device state",
        0x1F44 => "terminal ID",
        0x1F5B => "card poll timeout",
        0x1F60 => "allowed card technologies",
        0x1F62 => "BMP 60 reference id",
        0x1F63 => "individual reference number",
        0x1F68 => "loyalty identifier",
        0x1F6B => "age verification control",
        0x1F6C => "age verification result",
        0x1F70 => "partial approval capability",
        0x1F71 => "TLV tags recognised by PT",
        0x1F72 => "extended CTLS card detection",
        0x1F73 => "message sequence ID",
        0x1F74 => "password (long)",
        0xFF01 => "coupon data",
        0xFF02 => "loyalty data",
        0xFF03 => "parking ticket",
        0xFF04 => "voucher data",
        _ => return None,
    })
}

/// Tags whose value is text and is best shown quoted.
fn tag_is_text(tag: u32) -> bool {
    matches!(
        tag,
        0x07 | 0x0B | 0x0C | 0x13 | 0x15 | 0x42 | 0x44 | 0x1F17 | 0x1F40 | 0x1F41
    )
}

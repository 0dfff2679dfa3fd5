//! A correct ECR over TCP: sends a command, waits T3 for the terminal's acknowledgement, then
//! acknowledges every message the terminal sends (Status-Information included — that
//! acknowledgement is what commits a payment) until Completion (06 0F, success) or Abort (06 1E,
//! failure), with T4 re-armed by every message. The reference POS for the terminal and the
//! engine behind the `possim zvt` commands.
//!
//! As an unattended machine (vending, fuel, parcel locker; [`IssueGoods`]) it answers the
//! approving Status-Information of a payment only once the goods are out: `84 9C 00` while they
//! are not (the terminal asks again after 2 s), `84 9D 07 04 <amount>` when only part was issued,
//! `84 yy` when none was (PA00P015 §2.2.6).

use std::time::Duration;

use possim_zvt::bmp::ReceiptNo;
use possim_zvt::messages::{
    AbortRequest, Authorisation, BookTotal, DisplayText, EndOfDay, PreAuthorisation, Refund, Registration, Reversal,
    StatusEnquiry,
};
use possim_zvt::{Amount, Message};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_serial::SerialStream;

use crate::link::{ApduLink, LinkError, LinkTimers, SerialLink, SerialQuirks, StreamLink};

/// T3: the terminal must acknowledge a command within this time (PA00P016 §5.2.3).
pub const T3: Duration = Duration::from_secs(5);
/// T4: the longest pause between two terminal messages of a transaction.
pub const T4: Duration = Duration::from_secs(180);

/// Why a command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    /// The connection failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// No acknowledgement within T3, or no message within T4.
    #[error("the terminal did not answer within {0:?}")]
    Timeout(Duration),
    /// The terminal closed the connection mid-transaction.
    #[error("the terminal closed the connection")]
    Closed,
    /// The terminal sent something that is not ZVT.
    #[error("unreadable answer: {0}")]
    Protocol(String),
    /// The link failed (e.g. no ACK on the serial line).
    #[error("{0}")]
    Link(#[from] LinkError),
}

/// The ECR's end of a link.
#[derive(Debug)]
enum EcrLink {
    Tcp(StreamLink<TcpStream>),
    // Boxed: a TLS session's buffers are large.
    Tls(Box<StreamLink<tokio_rustls::client::TlsStream<TcpStream>>>),
    // Boxed: the serial link carries its decoder and buffers.
    Serial(Box<SerialLink<SerialStream>>),
}

impl EcrLink {
    async fn recv(&mut self) -> Result<Option<Vec<u8>>, LinkError> {
        match self {
            EcrLink::Tcp(l) => l.recv().await,
            EcrLink::Tls(l) => l.recv().await,
            EcrLink::Serial(l) => l.recv().await,
        }
    }

    async fn send(&mut self, apdu: &[u8]) -> Result<(), LinkError> {
        match self {
            EcrLink::Tcp(l) => l.send(apdu).await,
            EcrLink::Tls(l) => l.send(apdu).await,
            EcrLink::Serial(l) => l.send(apdu).await,
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "status")]
pub enum Outcome {
    /// Completion 06 0F: done.
    Completed,
    /// Abort 06 1E with this result code: failed (never a success, whatever came before).
    Aborted {
        /// Result code.
        result_code: u8,
    },
    /// Negative acknowledgement 84 xx: refused outright.
    Refused {
        /// Error code.
        code: u8,
    },
}

/// The result of one command.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    /// How it ended.
    pub outcome: Outcome,
    /// Result code of the last Status-Information, if one came.
    pub result_code: Option<u8>,
    /// Amount of the last Status-Information, cents.
    pub amount: Option<u64>,
    /// Receipt number of the last Status-Information.
    pub receipt: Option<u16>,
    /// Bonus points of the last Status-Information (TLV E1: C2 points, C3 remaining points).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bonus: Option<Bonus>,
    /// Every message of the terminal, decoded for people.
    pub messages: Vec<String>,
}

/// The bonus points container E1 of a Status-Information (PA00P015 §9.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bonus {
    /// C2: points of this transaction.
    pub points: Option<u64>,
    /// C3: points left afterwards.
    pub remaining: Option<u64>,
}

fn bonus(tlv: Option<&possim_zvt::TlvContainer>) -> Option<Bonus> {
    let e1 = tlv?.find(0xE1)?;
    let field = |tag: u32| {
        e1.children()?
            .iter()
            .find(|c| c.tag.value() == tag)
            .and_then(|c| c.data())
            .and_then(|d| possim_zvt::encoding::bcd_decode(d).ok())
    };
    Some(Bonus {
        points: field(0xC2),
        remaining: field(0xC3),
    })
}

/// ECR bugs seen in real cash registers, planted on purpose so that the `zvt-ecr` conformance
/// suite can prove it catches them. All `false` is a correct ECR. (Link-layer bugs are
/// [`SerialQuirks`].)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EcrDefects {
    /// Takes a Status-Information with result 00 as the end of a payment: reports success and
    /// never acknowledges it (so the terminal reverses the payment).
    pub no_status_ack: bool,
    /// Gives up after one second of silence instead of waiting T4.
    pub early_give_up: bool,
    /// Reports success when the terminal ends with Abort 06 1E.
    pub abort_as_success: bool,
    /// Encodes the amount as a binary number instead of packed BCD.
    pub binary_amount: bool,
    /// Writes the extended length (`FF lo hi`) big-endian.
    pub big_endian_length: bool,
    /// Issue of goods: takes the Status-Information the terminal repeats after its own `84 9C`
    /// for an error and gives up without answering (so the terminal reverses).
    pub repeated_status_as_error: bool,
    /// Issue of goods: after a partial issue (`84 9D`) reports the requested amount, not the one
    /// the terminal's second Status-Information booked.
    pub books_requested_amount: bool,
    /// Takes a refusal `84 xx` of its command for the acknowledgement and reports the command
    /// as done (a till that never met a terminal answering "not supported").
    pub refusal_as_success: bool,
}

/// How an unattended machine's issue of goods goes (`possim zvt pay --issue-goods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueGoods {
    /// Everything issued: `80 00 00` at once.
    Ok,
    /// Not yet: `84 9C 00` this many times, then `80 00 00`.
    Later(u32),
    /// Only goods worth this many cents issued: `84 9D 07 04 <amount>`.
    Partial(u64),
    /// Nothing issued: `84 66 00` (any code but 00 and 9C means "not issued").
    Fail,
    /// The machine hangs: no answer at all (the terminal reverses after `<timeout>`).
    Silent,
}

impl std::str::FromStr for IssueGoods {
    type Err = String;

    /// `ok`, `later:N`, `partial:AMOUNT` (euros, `8.00`), `fail`, `silent`.
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("{text:?}: expected ok, later:N, partial:AMOUNT (e.g. partial:8.00), fail or silent");
        match text.split_once(':') {
            None if text == "ok" => Ok(Self::Ok),
            None if text == "fail" => Ok(Self::Fail),
            None if text == "silent" => Ok(Self::Silent),
            Some(("later", n)) => n.parse().map(Self::Later).map_err(|_| usage()),
            Some(("partial", amount)) => {
                let (whole, frac) = amount.split_once('.').unwrap_or((amount, ""));
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if !digits(whole) || frac.len() > 2 || !(frac.is_empty() || digits(frac)) {
                    return Err(usage());
                }
                let whole: u64 = whole.parse().map_err(|_| usage())?;
                let frac: u64 = format!("{frac:0<2}").parse().map_err(|_| usage())?;
                Ok(Self::Partial(whole * 100 + frac))
            }
            _ => Err(usage()),
        }
    }
}

/// The issue of goods of the running payment: the plan and how far it got.
#[derive(Debug, Clone, Copy)]
struct GoodsRun {
    plan: IssueGoods,
    /// `84 9C` answers given.
    not_yet: u32,
    /// A `84 9D` was given.
    partial_sent: bool,
    /// The approving Status-Information has been answered for good.
    settled: bool,
}

/// What the ECR does with a Status-Information during issue of goods.
enum GoodsAnswer {
    Send(Vec<u8>),
    Nothing,
    GiveUp,
}

/// A connection to a terminal.
#[derive(Debug)]
pub struct Ecr {
    link: EcrLink,
    /// Terminal password.
    pub password: u32,
    /// Planted bugs (none by default).
    pub defects: EcrDefects,
    /// The last Status-Information of the running (or last) command, kept also when the
    /// command then fails: after a lost answer it tells what the terminal had already booked.
    pub last_status: Option<Transcript>,
    /// The issue of goods of the running payment (an unattended machine).
    goods: Option<GoodsRun>,
}

impl Ecr {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str, password: u32) -> Result<Self, EcrError> {
        let stream = tokio::time::timeout(T3, TcpStream::connect(addr))
            .await
            .map_err(|_| EcrError::Timeout(T3))??;
        let _ = stream.set_nodelay(true);
        Ok(Self {
            link: EcrLink::Tcp(StreamLink::new(stream).skipping_banner()),
            password,
            defects: EcrDefects::default(),
            last_status: None,
            goods: None,
        })
    }

    /// Connects to `addr` (`host:port`) over TLS, checking the terminal's certificate against
    /// `server_name` (also sent as SNI) and the connector's CA.
    pub async fn connect_tls(
        addr: &str,
        connector: &crate::tls::TlsConnector,
        server_name: rustls::pki_types::ServerName<'static>,
        password: u32,
    ) -> Result<Self, EcrError> {
        let stream = tokio::time::timeout(T3, TcpStream::connect(addr))
            .await
            .map_err(|_| EcrError::Timeout(T3))??;
        let _ = stream.set_nodelay(true);
        let stream = tokio::time::timeout(T3, connector.connect(server_name, stream))
            .await
            .map_err(|_| EcrError::Timeout(T3))??;
        Ok(Self {
            link: EcrLink::Tls(Box::new(StreamLink::tls(stream).skipping_banner())),
            password,
            defects: EcrDefects::default(),
            last_status: None,
            goods: None,
        })
    }

    /// Opens a serial port (a real one, or the terminal's pseudo-terminal) at 9600 baud, 8 data
    /// bits, no parity, two stop bits (PA00P016 §3.1), raw.
    pub fn open_serial(path: &str, password: u32, timers: LinkTimers, quirks: SerialQuirks) -> Result<Self, EcrError> {
        let port = tokio_serial::new(path, 9600)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::None)
            .stop_bits(tokio_serial::StopBits::Two)
            .flow_control(tokio_serial::FlowControl::None);
        let stream = SerialStream::open(&port).map_err(std::io::Error::from)?;
        Ok(Self {
            link: EcrLink::Serial(Box::new(SerialLink::with_quirks(stream, timers, quirks))),
            password,
            defects: EcrDefects::default(),
            last_status: None,
            goods: None,
        })
    }

    /// Whether a connect banner ahead of the first APDU is skipped (on by default on TCP and
    /// TLS; off: the ECR reads the banner as ZVT, as libraries that fail on a Yomani do).
    pub fn skip_banner(&mut self, on: bool) {
        match &mut self.link {
            EcrLink::Tcp(l) => l.set_banner_skip(on),
            EcrLink::Tls(l) => l.set_banner_skip(on),
            EcrLink::Serial(_) => {}
        }
    }

    async fn read_apdu(&mut self, limit: Duration) -> Result<Vec<u8>, EcrError> {
        match tokio::time::timeout(limit, self.link.recv()).await {
            Err(_) => Err(EcrError::Timeout(limit)),
            Ok(Ok(Some(apdu))) => Ok(apdu),
            Ok(Ok(None)) => Err(EcrError::Closed),
            Ok(Err(LinkError::Apdu(e))) => Err(EcrError::Protocol(e.to_string())),
            Ok(Err(e)) => Err(e.into()),
        }
    }

    async fn write(&mut self, apdu: &[u8]) -> Result<(), EcrError> {
        Ok(self.link.send(apdu).await?)
    }

    /// Sends a command and follows the transaction to its end.
    pub async fn run(&mut self, command: &Message) -> Result<Transcript, EcrError> {
        let bytes = command.encode().map_err(|e| EcrError::Protocol(e.to_string()))?;
        self.run_bytes(command, bytes).await
    }

    async fn run_bytes(&mut self, command: &Message, mut bytes: Vec<u8>) -> Result<Transcript, EcrError> {
        if self.defects.big_endian_length && bytes.len() > 5 && bytes[2] == 0xFF {
            bytes.swap(3, 4);
        }
        self.last_status = None;
        self.write(&bytes).await?;
        let first = self.read_apdu(T3).await?;
        let mut transcript = Transcript {
            outcome: Outcome::Completed,
            result_code: None,
            amount: None,
            receipt: None,
            bonus: None,
            messages: vec![possim_zvt::describe(&first)],
        };
        match first.first() {
            Some(0x80) => {}
            Some(0x84) if first.get(1) == Some(&0x00) => {}
            // The defect: any answer counts as "taken".
            Some(0x84) if self.defects.refusal_as_success => return Ok(transcript),
            Some(0x84) => {
                transcript.outcome = Outcome::Refused {
                    code: first.get(1).copied().unwrap_or(0),
                };
                return Ok(transcript);
            }
            _ => {
                return Err(EcrError::Protocol(format!(
                    "expected 80 00 or 84 xx, got {}",
                    possim_zvt::encoding::hex(&first)
                )));
            }
        }
        // Log-Off and Abort end with the acknowledgement.
        if matches!(command, Message::LogOff | Message::AbortRequest(_)) {
            return Ok(transcript);
        }
        let t4 = if self.defects.early_give_up {
            Duration::from_secs(1)
        } else {
            T4
        };
        loop {
            let apdu = self.read_apdu(t4).await?;
            transcript.messages.push(possim_zvt::describe(&apdu));
            let message = Message::decode(&apdu).map_err(|e| EcrError::Protocol(e.to_string()))?;
            if self.defects.no_status_ack
                && let Message::StatusInformation(s) = &message
                && s.result_code == Some(0)
            {
                transcript.result_code = Some(0);
                transcript.amount = s.amount.map(|a| a.0);
                if let Some(ReceiptNo::Number(n)) = s.receipt {
                    transcript.receipt = Some(n);
                }
                return Ok(transcript);
            }
            match self.goods_answer(&message) {
                GoodsAnswer::Send(answer) => self.write(&answer).await?,
                GoodsAnswer::Nothing => {}
                GoodsAnswer::GiveUp => {
                    return Err(EcrError::Protocol(
                        "the terminal repeated its status information".into(),
                    ));
                }
            }
            match message {
                Message::StatusInformation(s) => {
                    transcript.result_code = s.result_code.or(transcript.result_code);
                    let keep_requested = self.defects.books_requested_amount
                        && self.goods.is_some_and(|g| g.partial_sent)
                        && transcript.amount.is_some();
                    if let Some(a) = s.amount
                        && !keep_requested
                    {
                        transcript.amount = Some(a.0);
                    }
                    if let Some(ReceiptNo::Number(n)) = s.receipt {
                        transcript.receipt = Some(n);
                    }
                    transcript.bonus = bonus(s.tlv.as_ref()).or(transcript.bonus);
                    self.last_status = Some(transcript.clone());
                }
                Message::Completion(_) => {
                    transcript.outcome = Outcome::Completed;
                    return Ok(transcript);
                }
                Message::Abort(_) if self.defects.abort_as_success => {
                    transcript.outcome = Outcome::Completed;
                    return Ok(transcript);
                }
                Message::Abort(a) => {
                    transcript.outcome = Outcome::Aborted {
                        result_code: a.result_code,
                    };
                    return Ok(transcript);
                }
                _ => {}
            }
        }
    }

    /// Registration with this config byte and EUR.
    pub async fn register(&mut self, config: u8) -> Result<Transcript, EcrError> {
        self.register_with(config, None).await
    }

    /// Registration with a TLV container (e.g. tag 26, the permitted commands).
    pub async fn register_with(
        &mut self,
        config: u8,
        tlv: Option<possim_zvt::TlvContainer>,
    ) -> Result<Transcript, EcrError> {
        let command = Message::Registration(Registration {
            password: possim_zvt::messages::Password(self.password),
            config,
            currency: Some(978),
            tlv,
            ..Registration::default()
        });
        self.run(&command).await
    }

    /// A payment of `cents`.
    pub async fn pay(&mut self, cents: u64) -> Result<Transcript, EcrError> {
        self.pay_with(cents, None).await
    }

    /// A payment with a TLV container, e.g. 1F1F with the last receipt number the ECR knows
    /// (PA00P015 §4.2 resynchronisation).
    pub async fn pay_with(
        &mut self,
        cents: u64,
        tlv: Option<possim_zvt::TlvContainer>,
    ) -> Result<Transcript, EcrError> {
        let command = Message::Authorisation(Authorisation {
            amount: Some(Amount(cents)),
            currency: Some(978),
            tlv,
            ..Authorisation::default()
        });
        let mut bytes = command.encode().map_err(|e| EcrError::Protocol(e.to_string()))?;
        if self.defects.binary_amount {
            // 06 01 LL 04 <6 bytes> …: the six amount bytes as a big-endian binary number.
            bytes[4..10].copy_from_slice(&cents.to_be_bytes()[2..]);
        }
        self.run_bytes(&command, bytes).await
    }

    /// A payment at an unattended machine: the Authorisation carries `01 <timeout>` (seconds the
    /// terminal waits for the answer during issue of goods) and, when given,
    /// `02 <max. status-infos>`; the approving Status-Information is answered as `plan` says.
    pub async fn pay_issuing_goods(
        &mut self,
        cents: u64,
        plan: IssueGoods,
        timeout_s: u8,
        max_status_infos: Option<u8>,
    ) -> Result<Transcript, EcrError> {
        let command = Message::Authorisation(Authorisation {
            amount: Some(Amount(cents)),
            currency: Some(978),
            timeout: Some(timeout_s),
            max_status_infos,
            ..Authorisation::default()
        });
        let mut bytes = command.encode().map_err(|e| EcrError::Protocol(e.to_string()))?;
        if self.defects.binary_amount {
            // The same bug as in every other Authorisation of this ECR.
            bytes[4..10].copy_from_slice(&cents.to_be_bytes()[2..]);
        }
        self.goods = Some(GoodsRun {
            plan,
            not_yet: 0,
            partial_sent: false,
            settled: false,
        });
        let result = self.run_bytes(&command, bytes).await;
        self.goods = None;
        result
    }

    /// The answer to a terminal message: `80 00 00`, except for the approving
    /// Status-Information during issue of goods.
    fn goods_answer(&mut self, message: &Message) -> GoodsAnswer {
        const ACK: [u8; 3] = [0x80, 0x00, 0x00];
        let repeated_as_error = self.defects.repeated_status_as_error;
        let Some(run) = self.goods.as_mut().filter(|g| !g.settled) else {
            return GoodsAnswer::Send(ACK.to_vec());
        };
        let Message::StatusInformation(s) = message else {
            return GoodsAnswer::Send(ACK.to_vec());
        };
        if s.result_code != Some(0) {
            return GoodsAnswer::Send(ACK.to_vec());
        }
        if repeated_as_error && run.not_yet > 0 {
            return GoodsAnswer::GiveUp;
        }
        match run.plan {
            IssueGoods::Later(n) if run.not_yet < n => {
                run.not_yet += 1;
                GoodsAnswer::Send(vec![0x84, 0x9C, 0x00])
            }
            IssueGoods::Partial(cents) if !run.partial_sent => {
                run.partial_sent = true;
                let mut answer = vec![0x84, 0x9D, 0x07, 0x04];
                answer.extend(possim_zvt::encoding::bcd_encode(cents, 6).unwrap_or_else(|_| vec![0x99; 6]));
                GoodsAnswer::Send(answer)
            }
            IssueGoods::Fail => {
                run.settled = true;
                GoodsAnswer::Send(vec![0x84, 0x66, 0x00])
            }
            IssueGoods::Silent => {
                run.settled = true;
                GoodsAnswer::Nothing
            }
            _ => {
                run.settled = true;
                GoodsAnswer::Send(ACK.to_vec())
            }
        }
    }

    /// A PAYBACK redemption through the terminal (Austria) [ours]: an Authorisation whose
    /// amount is the basket total (the most the points may cover), marked by BMP 8A =
    /// `card_type` (202, "Payback without payment function") and the bonus container E1 with
    /// C1 = "MS" (redeem points, PA00P015 §9.4.3). Completed: the amount is the redeemed EUR
    /// value, `bonus` the points and the balance left.
    pub async fn payback_redeem(&mut self, basket_cents: u64, card_type: u8) -> Result<Transcript, EcrError> {
        let tag = |v: u32| possim_zvt::Tag::new(v).map_err(|e| EcrError::Protocol(e.to_string()));
        let tlv = possim_zvt::TlvContainer::new(vec![possim_zvt::Tlv::constructed(
            tag(0xE1)?,
            vec![possim_zvt::Tlv::primitive(tag(0xC1)?, b"MS".to_vec())],
        )]);
        self.run(&Message::Authorisation(Authorisation {
            amount: Some(Amount(basket_cents)),
            currency: Some(978),
            card_type: Some(card_type),
            tlv: Some(tlv),
            ..Authorisation::default()
        }))
        .await
    }

    /// Display Text (06 E0): up to eight lines on the terminal's display for `seconds`.
    pub async fn display_text(&mut self, lines: &[String], seconds: u8) -> Result<Transcript, EcrError> {
        let mut text = lines.iter().map(|l| Some(l.as_bytes().to_vec()));
        let mut next = || text.next().flatten();
        self.run(&Message::DisplayText(DisplayText {
            duration: Some(seconds),
            line1: next(),
            line2: next(),
            line3: next(),
            line4: next(),
            line5: next(),
            line6: next(),
            line7: next(),
            line8: next(),
            ..DisplayText::default()
        }))
        .await
    }

    /// Pre-Authorisation (06 22) of `cents`: reserves the amount; the Status-Information carries
    /// the receipt number to book it by.
    pub async fn pre_authorise(&mut self, cents: u64) -> Result<Transcript, EcrError> {
        self.run(&Message::PreAuthorisation(PreAuthorisation {
            amount: Some(Amount(cents)),
            currency: Some(978),
            ..PreAuthorisation::default()
        }))
        .await
    }

    /// Book Total (06 24): books `cents` of the pre-authorisation with this receipt number.
    pub async fn book_total(&mut self, receipt: u16, cents: u64) -> Result<Transcript, EcrError> {
        self.run(&Message::BookTotal(BookTotal {
            receipt: Some(ReceiptNo::Number(receipt)),
            amount: Some(Amount(cents)),
            currency: Some(978),
            ..BookTotal::default()
        }))
        .await
    }

    /// Reversal of a receipt.
    pub async fn reverse(&mut self, receipt: u16) -> Result<Transcript, EcrError> {
        self.run(&Message::Reversal(Reversal {
            password: possim_zvt::messages::Password(self.password),
            receipt: Some(ReceiptNo::Number(receipt)),
            ..Reversal::default()
        }))
        .await
    }

    /// Refund of `cents`.
    pub async fn refund(&mut self, cents: u64) -> Result<Transcript, EcrError> {
        self.run(&Message::Refund(Refund {
            password: possim_zvt::messages::Password(self.password),
            amount: Some(Amount(cents)),
            ..Refund::default()
        }))
        .await
    }

    /// End-of-Day.
    pub async fn end_of_day(&mut self) -> Result<Transcript, EcrError> {
        self.run(&Message::EndOfDay(EndOfDay {
            password: possim_zvt::messages::Password(self.password),
            ..EndOfDay::default()
        }))
        .await
    }

    /// Abort (06 B0) of the transaction that is waiting for the customer — also one another
    /// ECR connection started (the terminal answers 80 00 00 here, 06 1E 6C there).
    pub async fn abort(&mut self) -> Result<Transcript, EcrError> {
        self.run(&Message::AbortRequest(AbortRequest::default())).await
    }

    /// Reprint Receipts (06 12) from `from` to `to`, receipt numbers.
    pub async fn reprint(&mut self, from: u16, to: u16) -> Result<Transcript, EcrError> {
        let bcd = |value: u64, bytes: usize| {
            possim_zvt::encoding::bcd_encode(value, bytes).map_err(|e| EcrError::Protocol(e.to_string()))
        };
        let mut data = bcd(u64::from(self.password), 3)?;
        data.extend(bcd(u64::from(from), 2)?);
        data.extend(bcd(u64::from(to), 2)?);
        let apdu = possim_zvt::Apdu::new(0x06, 0x12, data).map_err(|e| EcrError::Protocol(e.to_string()))?;
        let bytes = apdu.encode();
        self.run_bytes(&Message::Other(apdu), bytes).await
    }

    /// Status Enquiry.
    pub async fn status(&mut self) -> Result<Transcript, EcrError> {
        self.run(&Message::StatusEnquiry(StatusEnquiry {
            password: Some(possim_zvt::messages::Password(self.password)),
            ..StatusEnquiry::default()
        }))
        .await
    }

    /// A payment that the ECR aborts (06 B0) after `after` while the terminal waits for the
    /// customer; returns how the payment ended.
    pub async fn pay_then_abort(&mut self, cents: u64, after: Duration) -> Result<Transcript, EcrError> {
        self.pay_and_abort(cents, AbortWhen::After(after)).await
    }

    /// A payment that the ECR aborts (06 B0) as soon as the terminal shows the intermediate
    /// status `status` (04 FF, e.g. 01 PIN entry): the terminal's own state decides when, not a
    /// delay. Fails with [`EcrError::Timeout`] when T3 passes without a message before it.
    pub async fn pay_then_abort_at_status(&mut self, cents: u64, status: u8) -> Result<Transcript, EcrError> {
        self.pay_and_abort(cents, AbortWhen::Status(status)).await
    }

    async fn pay_and_abort(&mut self, cents: u64, when: AbortWhen) -> Result<Transcript, EcrError> {
        let command = Message::Authorisation(Authorisation {
            amount: Some(Amount(cents)),
            currency: Some(978),
            ..Authorisation::default()
        });
        let bytes = command.encode().map_err(|e| EcrError::Protocol(e.to_string()))?;
        self.write(&bytes).await?;
        let first = self.read_apdu(T3).await?;
        let mut messages = vec![possim_zvt::describe(&first)];
        let abort = Message::AbortRequest(AbortRequest::default())
            .encode()
            .map_err(|e| EcrError::Protocol(e.to_string()))?;
        let abort_at = match when {
            AbortWhen::After(after) => Some(tokio::time::Instant::now() + after),
            AbortWhen::Status(_) => None,
        };
        let mut abort_sent = false;
        loop {
            let wait = match abort_at {
                Some(at) if !abort_sent => at.saturating_duration_since(tokio::time::Instant::now()),
                None if !abort_sent => T3,
                _ => T4,
            };
            match self.read_apdu(wait).await {
                Err(EcrError::Timeout(_)) if !abort_sent && abort_at.is_some() => {
                    self.write(&abort).await?;
                    abort_sent = true;
                }
                Err(e) => return Err(e),
                Ok(apdu) => {
                    messages.push(possim_zvt::describe(&apdu));
                    if apdu.first() == Some(&0x80) || apdu.first() == Some(&0x84) {
                        continue;
                    }
                    self.write(&[0x80, 0x00, 0x00]).await?;
                    if let AbortWhen::Status(status) = when
                        && !abort_sent
                        && apdu.starts_with(&[0x04, 0xFF])
                        && apdu.get(3) == Some(&status)
                    {
                        self.write(&abort).await?;
                        abort_sent = true;
                        continue;
                    }
                    match Message::decode(&apdu).map_err(|e| EcrError::Protocol(e.to_string()))? {
                        Message::Completion(_) => {
                            return Ok(Transcript {
                                outcome: Outcome::Completed,
                                result_code: None,
                                amount: None,
                                receipt: None,
                                bonus: None,
                                messages,
                            });
                        }
                        Message::Abort(a) => {
                            return Ok(Transcript {
                                outcome: Outcome::Aborted {
                                    result_code: a.result_code,
                                },
                                result_code: None,
                                amount: None,
                                receipt: None,
                                bonus: None,
                                messages,
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// When [`Ecr::pay_and_abort`] sends its 06 B0.
#[derive(Debug, Clone, Copy)]
enum AbortWhen {
    /// This long after the terminal's 80 00 00.
    After(Duration),
    /// Once the terminal shows this intermediate status (04 FF).
    Status(u8),
}

//! The two ZVT links, behind one interface that moves whole APDUs: TCP (raw APDUs back to back,
//! PA00P016 §2.2) and the serial line (DLE STX … DLE ETX CRC frames with ACK/NAK, T1/T2 and two
//! repeats, PA00P016 §3). Both the terminal and the reference ECR use them, so the two sides of a
//! serial conversation share one implementation of the link rules — and the planted ECR defects
//! of the conformance suite bend exactly these rules.

use std::collections::VecDeque;
use std::time::Duration;

use possim_zvt::serial::{ACK, FrameDecoder, FrameError, FrameEvent, MAX_REPEATS, NAK, T1, T2, encode_frame};
use possim_zvt::{ApduError, ApduStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a link stopped carrying APDUs.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Reading or writing failed.
    #[error("link I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A TCP peer sent a length that cannot be an APDU; with no frame markers nothing after it
    /// can be trusted.
    #[error("unreadable APDU: {0}")]
    Apdu(#[from] ApduError),
    /// The serial peer did not acknowledge a frame after the first send and both repeats.
    #[error("no ACK after {attempts} attempts")]
    NoAck {
        /// How often the frame was sent.
        attempts: u8,
    },
}

/// A link that carries whole APDUs.
pub trait ApduLink {
    /// The next APDU from the peer, or `None` when the peer closed the link. Cancel-safe: if the
    /// future is dropped, no received byte is lost.
    fn recv(&mut self) -> impl Future<Output = Result<Option<Vec<u8>>, LinkError>> + Send;
    /// Sends one APDU; on the serial line, returns once the peer acknowledged the frame.
    fn send(&mut self, apdu: &[u8]) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// What the link layer noticed since the last call (NAKs, repeats, line noise), for the
    /// journal.
    fn take_notes(&mut self) -> Vec<String>;
    /// `tcp`, `tls` or `serial`.
    fn kind(&self) -> &'static str;
    /// Spoils the first attempt of the next frame (an injected line fault); `false` where the
    /// link has no frames to spoil (TCP).
    fn spoil_next_frame(&mut self, _how: Spoil) -> bool {
        false
    }
    /// Serial: acknowledge frames with `DLE ACK` instead of `ACK` (a terminal profile's quirk);
    /// nothing on links without frames.
    fn set_dle_ack(&mut self, _on: bool) {}
}

/// How the first attempt of a serial frame goes wrong on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoil {
    /// It never arrives: the peer hears nothing, the sender repeats after T2.
    Drop,
    /// It arrives with a wrong CRC: the peer must answer NAK, the sender repeats.
    BadCrc,
}

/// Raw APDUs over a byte stream (TCP, or TLS over TCP).
#[derive(Debug)]
pub struct StreamLink<S> {
    io: S,
    decoder: ApduStream,
    kind: &'static str,
    /// The ECR's side, before the first APDU: a connect banner (four-byte big-endian length,
    /// then text, as a Yomani sends) is dropped. `None` once decided.
    banner: Option<Vec<u8>>,
    notes: Vec<String>,
}

impl<S> StreamLink<S> {
    /// Wraps a connected TCP stream.
    pub fn new(io: S) -> Self {
        Self {
            io,
            decoder: ApduStream::new(),
            kind: "tcp",
            banner: None,
            notes: Vec::new(),
        }
    }

    /// Drops a connect banner ahead of the first APDU (the ECR's side: no ZVT message starts
    /// with `00 00`, a Yomani's banner does).
    pub fn skipping_banner(mut self) -> Self {
        self.banner = Some(Vec::new());
        self
    }

    /// Switches the banner skipping on or off (before the first read).
    pub fn set_banner_skip(&mut self, on: bool) {
        self.banner = on.then(Vec::new);
    }

    /// Bytes as they arrive: while a banner may still come they are held back until it is
    /// clear whether they start one.
    fn take_in(&mut self, bytes: &[u8]) {
        let Some(held) = self.banner.as_mut() else {
            self.decoder.push(bytes);
            return;
        };
        held.extend_from_slice(bytes);
        let undecided = held.len() < 4 && held.iter().all(|&b| b == 0);
        if undecided {
            return;
        }
        let held = self.banner.take().unwrap_or_default();
        if held.len() >= 4 && held[..2] == [0, 0] {
            let len = 4 + usize::from(u16::from_be_bytes([held[2], held[3]]));
            if held.len() < len {
                self.banner = Some(held);
                return;
            }
            self.notes.push(format!(
                "connect banner skipped: {}",
                possim_zvt::encoding::escape_text(&held[4..len])
            ));
            self.decoder.push(&held[len..]);
        } else {
            self.decoder.push(&held);
        }
    }

    /// Wraps a TLS stream whose handshake is done: the same APDUs, journalled as link `tls`.
    pub fn tls(io: S) -> Self {
        Self {
            kind: "tls",
            ..Self::new(io)
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> ApduLink for StreamLink<S> {
    async fn recv(&mut self) -> Result<Option<Vec<u8>>, LinkError> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(next) = self.decoder.next_apdu() {
                return Ok(Some(next?.encode()));
            }
            let n = self.io.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            self.take_in(&buf[..n]);
        }
    }

    async fn send(&mut self, apdu: &[u8]) -> Result<(), LinkError> {
        self.io.write_all(apdu).await?;
        Ok(())
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn kind(&self) -> &'static str {
        self.kind
    }
}

/// The serial line's timers. The spec's values by default; tests and impatient developers may
/// shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTimers {
    /// Longest gap between two bytes of one frame.
    pub t1: Duration,
    /// Longest wait for the ACK of a frame.
    pub t2: Duration,
}

impl Default for LinkTimers {
    fn default() -> Self {
        Self { t1: T1, t2: T2 }
    }
}

/// How this side bends the serial rules: all `false` is a correct implementation. The reference
/// ECR's planted defects use these; the terminal never does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SerialQuirks {
    /// Sends 0x10 bytes of the APDU without doubling them.
    pub no_dle_doubling: bool,
    /// Computes the CRC with the wrong variant (CRC-16/XMODEM, the usual mistake).
    pub wrong_crc: bool,
    /// Does not repeat a frame the peer answered with NAK (or left unanswered).
    pub ignore_nak: bool,
    /// Takes only a bare `ACK` right after its frame; anything before it (a `DLE ACK`'s DLE)
    /// counts as no acknowledgement.
    pub bare_ack_only: bool,
}

/// What an injected fault does to a frame that arrived intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Acknowledge and deliver it.
    Accept,
    /// Answer NAK, as if it had been corrupted on the line; the reason goes into the notes.
    Nak(String),
    /// Deliver it, but acknowledge only after this many milliseconds (past T2 the sender
    /// repeats it; the repeat is acknowledged and dropped).
    DelayAck(u64, String),
}

/// Decides what happens to a frame that arrived intact (fault injection). Gets the APDU.
pub type FrameFault = Box<dyn FnMut(&[u8]) -> FrameVerdict + Send>;

/// APDUs in DLE STX … DLE ETX frames with CRC-16/KERMIT, acknowledged byte by byte.
pub struct SerialLink<S> {
    io: S,
    decoder: FrameDecoder,
    inbox: VecDeque<Vec<u8>>,
    notes: Vec<String>,
    timers: LinkTimers,
    quirks: SerialQuirks,
    /// ACK/NAK bytes owed to the peer, written before anything else (so a cancelled `recv`
    /// never loses one).
    owed: Vec<u8>,
    frame_fault: Option<FrameFault>,
    spoil: Option<Spoil>,
    /// The owed ACK goes out this much later.
    ack_delay: Option<u64>,
    /// A frame whose ACK was delayed: a repeat of it is the sender's, not a new message.
    delayed_frame: Option<Vec<u8>>,
    /// Acknowledge with `DLE ACK` (a terminal profile's quirk).
    dle_ack: bool,
}

impl<S: std::fmt::Debug> std::fmt::Debug for SerialLink<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialLink")
            .field("io", &self.io)
            .field("timers", &self.timers)
            .field("quirks", &self.quirks)
            .field("inbox", &self.inbox.len())
            .finish_non_exhaustive()
    }
}

impl<S> SerialLink<S> {
    /// A correct serial link over `io` with the given timers.
    pub fn new(io: S, timers: LinkTimers) -> Self {
        Self::with_quirks(io, timers, SerialQuirks::default())
    }

    /// A serial link that bends the rules as `quirks` says.
    pub fn with_quirks(io: S, timers: LinkTimers, quirks: SerialQuirks) -> Self {
        Self {
            io,
            decoder: FrameDecoder::new(),
            inbox: VecDeque::new(),
            notes: Vec::new(),
            timers,
            quirks,
            owed: Vec::new(),
            frame_fault: None,
            spoil: None,
            ack_delay: None,
            delayed_frame: None,
            dle_ack: false,
        }
    }

    /// Lets `fault` turn intact frames into NAKed ones (fault injection on the terminal side).
    pub fn with_frame_fault(mut self, fault: FrameFault) -> Self {
        self.frame_fault = Some(fault);
        self
    }

    fn frame(&self, apdu: &[u8]) -> Vec<u8> {
        let mut frame = if self.quirks.no_dle_doubling {
            let mut f = vec![possim_zvt::serial::DLE, possim_zvt::serial::STX];
            f.extend_from_slice(apdu);
            f.extend_from_slice(&[possim_zvt::serial::DLE, possim_zvt::serial::ETX]);
            let crc = possim_zvt::serial::frame_crc(apdu);
            f.extend_from_slice(&crc.to_le_bytes());
            f
        } else {
            encode_frame(apdu)
        };
        if self.quirks.wrong_crc {
            let mut data = apdu.to_vec();
            data.push(possim_zvt::serial::ETX);
            let crc = crc16_xmodem(&data);
            let n = frame.len();
            frame[n - 2..].copy_from_slice(&crc.to_le_bytes());
        }
        frame
    }

    fn push_ack(&mut self) {
        if self.dle_ack {
            self.owed.push(possim_zvt::serial::DLE);
        }
        self.owed.push(ACK);
    }

    /// Sorts decoded events: frames are owed an ACK and go to the inbox, broken frames are owed a
    /// NAK. Returns the bare ACK/NAK bytes seen, in order.
    fn absorb(&mut self, events: Vec<FrameEvent>) -> Vec<u8> {
        let mut handshakes = Vec::new();
        for event in events {
            match event {
                FrameEvent::Frame(apdu) => {
                    let bytes = apdu.encode();
                    // A repeat the sender made while our ACK was held back (see `pay_debts`).
                    if self.delayed_frame.as_ref() == Some(&bytes) {
                        self.push_ack();
                        self.notes.push(
                            "serial: the sender repeated a frame already received; acknowledged and dropped".into(),
                        );
                        continue;
                    }
                    let verdict = self
                        .frame_fault
                        .as_mut()
                        .map_or(FrameVerdict::Accept, |fault| fault(&bytes));
                    match verdict {
                        FrameVerdict::Accept => {}
                        FrameVerdict::Nak(reason) => {
                            self.owed.push(NAK);
                            self.notes
                                .push(format!("serial: fault {reason}: intact frame answered with NAK"));
                            continue;
                        }
                        FrameVerdict::DelayAck(ms, reason) => {
                            self.ack_delay = Some(ms);
                            self.delayed_frame = Some(bytes.clone());
                            self.notes
                                .push(format!("serial: fault {reason}: ACK held back {ms} ms"));
                        }
                    }
                    self.push_ack();
                    self.inbox.push_back(bytes);
                }
                FrameEvent::Ack => handshakes.push(ACK),
                FrameEvent::Nak => handshakes.push(NAK),
                FrameEvent::Error(FrameError::MalformedApdu { source, payload }) => {
                    // The frame came over the line intact (its CRC holds), so the line is owed
                    // an ACK; what it carries is the receiver's to refuse (the terminal answers
                    // 84 9A 00). A NAK would only make the sender repeat the same bytes.
                    self.owed.push(ACK);
                    self.notes.push(format!(
                        "serial: frame intact but not one APDU ({source}); acknowledged"
                    ));
                    self.inbox.push_back(payload);
                }
                FrameEvent::Error(e) => {
                    if e.needs_nak() {
                        self.owed.push(NAK);
                        self.notes.push(format!("serial: {e}; answered NAK"));
                    } else {
                        self.notes.push(format!("serial: {e}"));
                    }
                }
            }
        }
        handshakes
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> SerialLink<S> {
    async fn pay_debts(&mut self) -> Result<(), LinkError> {
        if let Some(ms) = self.ack_delay.take() {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            // What the sender repeated meanwhile is already here: take it in now, so its
            // repeats are told from the messages that follow our ACK (which may be the same
            // bytes, e.g. the next 80 00 00).
            let mut buf = [0u8; 1024];
            while let Ok(Ok(n)) = tokio::time::timeout(std::time::Duration::ZERO, self.io.read(&mut buf)).await {
                if n == 0 {
                    break;
                }
                let events = self.decoder.feed(&buf[..n]);
                for stray in self.absorb(events) {
                    self.notes
                        .push(format!("serial: unexpected {stray:02X} while holding an ACK back"));
                }
            }
            self.delayed_frame = None;
        }
        if !self.owed.is_empty() {
            let owed = std::mem::take(&mut self.owed);
            self.io.write_all(&owed).await?;
        }
        Ok(())
    }

    /// Reads one chunk; inside a frame, a silence longer than T1 ends it (NAK). `Ok(None)` at the
    /// end of the input.
    async fn read_some(&mut self) -> Result<Option<Vec<FrameEvent>>, LinkError> {
        let mut buf = [0u8; 1024];
        let read = if self.decoder.in_frame() {
            match tokio::time::timeout(self.timers.t1, self.io.read(&mut buf)).await {
                Ok(read) => read?,
                Err(_) => return Ok(Some(self.decoder.flush())),
            }
        } else {
            self.io.read(&mut buf).await?
        };
        if read == 0 {
            return Ok(None);
        }
        Ok(Some(self.decoder.feed(&buf[..read])))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> ApduLink for SerialLink<S> {
    async fn recv(&mut self) -> Result<Option<Vec<u8>>, LinkError> {
        loop {
            self.pay_debts().await?;
            if let Some(apdu) = self.inbox.pop_front() {
                return Ok(Some(apdu));
            }
            let Some(events) = self.read_some().await? else {
                return Ok(None);
            };
            for stray in self.absorb(events) {
                // Nothing of ours is waiting for a handshake here.
                self.notes.push(format!(
                    "serial: unexpected {} outside a send",
                    if stray == ACK { "ACK" } else { "NAK" }
                ));
            }
        }
    }

    async fn send(&mut self, apdu: &[u8]) -> Result<(), LinkError> {
        self.pay_debts().await?;
        let frame = self.frame(apdu);
        let attempts = if self.quirks.ignore_nak { 1 } else { 1 + MAX_REPEATS };
        for attempt in 1..=attempts {
            if attempt > 1 {
                self.notes
                    .push(format!("serial: repeating the frame (attempt {attempt})"));
            }
            match (attempt, self.spoil.take()) {
                (1, Some(Spoil::Drop)) => self.notes.push("serial: fault: the frame is lost on the line".into()),
                (1, Some(Spoil::BadCrc)) => {
                    let mut spoilt = frame.clone();
                    let n = spoilt.len();
                    spoilt[n - 1] ^= 0xFF;
                    self.notes
                        .push("serial: fault: the frame goes out with a wrong CRC".into());
                    self.io.write_all(&spoilt).await?;
                }
                _ => self.io.write_all(&frame).await?,
            }
            let deadline = tokio::time::Instant::now() + self.timers.t2;
            let answer = loop {
                let events = match tokio::time::timeout_at(deadline, self.read_some()).await {
                    Err(_) => break None,
                    Ok(events) => events?,
                };
                let Some(events) = events else {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
                };
                // A frame of the peer in the middle (a collision) is ACKed and kept for `recv`.
                let noise = events.iter().any(|e| matches!(e, FrameEvent::Error(_)));
                let handshakes = self.absorb(events);
                if self.quirks.bare_ack_only && noise && handshakes.first() == Some(&ACK) {
                    // The defect: a DLE before the ACK makes it no ACK.
                    break None;
                }
                self.pay_debts().await?;
                if let Some(&first) = handshakes.first() {
                    break Some(first);
                }
            };
            match answer {
                Some(ACK) => return Ok(()),
                Some(_) => self.notes.push("serial: the peer answered NAK".into()),
                None => self
                    .notes
                    .push(format!("serial: no ACK within {} ms", self.timers.t2.as_millis())),
            }
            if self.quirks.ignore_nak {
                // The defect: carry on as if the frame had arrived.
                return Ok(());
            }
        }
        Err(LinkError::NoAck { attempts })
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn kind(&self) -> &'static str {
        "serial"
    }

    fn spoil_next_frame(&mut self, how: Spoil) -> bool {
        self.spoil = Some(how);
        true
    }

    fn set_dle_ack(&mut self, on: bool) {
        self.dle_ack = on;
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, not reflected): what an ECR computes when it takes the
/// wrong one of the many CRC-16s.
fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmodem_check_value() {
        // The catalogue check value of CRC-16/XMODEM over "123456789" is 0x31C3.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    /// A Yomani-like banner (00 00 00 <len>, text) cut into pieces, then an APDU: the ECR's
    /// stream link drops the banner whole and delivers the APDU; without skipping it reads
    /// `00 00 00` as an APDU.
    #[tokio::test]
    async fn a_connect_banner_in_pieces_is_skipped_before_the_first_apdu() {
        let mut wire = vec![0, 0, 0, 5];
        wire.extend_from_slice(b"VER|1");
        wire.extend_from_slice(&[0x80, 0x00, 0x00]);
        for skip in [true, false] {
            let (mut terminal, ecr) = tokio::io::duplex(64);
            let mut link = StreamLink::new(ecr);
            link.set_banner_skip(skip);
            for piece in [&wire[..2], &wire[2..6], &wire[6..]] {
                terminal.write_all(piece).await.unwrap();
            }
            let first = link.recv().await.unwrap().unwrap();
            if skip {
                assert_eq!(first, [0x80, 0x00, 0x00]);
                assert_eq!(link.take_notes(), ["connect banner skipped: VER|1"]);
            } else {
                assert_eq!(first, [0x00, 0x00, 0x00]);
            }
        }
    }

    async fn pair(timers: LinkTimers) -> (SerialLink<tokio::io::DuplexStream>, SerialLink<tokio::io::DuplexStream>) {
        let (a, b) = tokio::io::duplex(4096);
        (SerialLink::new(a, timers), SerialLink::new(b, timers))
    }

    #[tokio::test]
    async fn an_apdu_with_0x10_crosses_the_line_and_is_acknowledged() {
        let (mut ecr, mut pt) = pair(LinkTimers::default()).await;
        // 06 01 07 04 000000001000 : 10.00 EUR, whose BCD contains a DLE byte.
        let apdu = [0x06, 0x01, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00];
        let (sent, got) = tokio::join!(ecr.send(&apdu), pt.recv());
        sent.unwrap();
        assert_eq!(got.unwrap().unwrap(), apdu);
    }

    /// Profile dle-ack: the terminal answers DLE ACK (10 06). A correct sender takes it as the
    /// ACK; one that wants the bare ACK (planted defect) repeats and gives up after three tries.
    #[tokio::test(start_paused = true)]
    async fn a_dle_ack_is_an_ack_except_for_a_sender_that_wants_the_bare_one() {
        let apdu = [0x06, 0x01, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00];
        for bare_ack_only in [false, true] {
            let (a, b) = tokio::io::duplex(4096);
            let quirks = SerialQuirks {
                bare_ack_only,
                ..SerialQuirks::default()
            };
            let mut ecr = SerialLink::with_quirks(a, LinkTimers::default(), quirks);
            let mut pt = SerialLink::new(b, LinkTimers::default());
            pt.set_dle_ack(true);
            let receiving = async {
                // Every attempt arrives; the repeats are new frames to this side.
                let mut frames = 0;
                while let Ok(Ok(Some(_))) = tokio::time::timeout(T2 * 4, pt.recv()).await {
                    frames += 1;
                }
                frames
            };
            let (sent, frames) = tokio::join!(ecr.send(&apdu), receiving);
            if bare_ack_only {
                assert!(matches!(sent, Err(LinkError::NoAck { attempts: 3 })), "{sent:?}");
                assert_eq!(frames, 3);
            } else {
                sent.unwrap();
                assert_eq!(frames, 1);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_ack_held_back_past_t2_makes_the_sender_repeat_and_the_repeat_is_dropped() {
        let short = LinkTimers {
            t1: T1,
            t2: std::time::Duration::from_millis(40),
        };
        let (a, b) = tokio::io::duplex(4096);
        let mut ecr = SerialLink::new(a, short);
        let mut first = true;
        let mut pt = SerialLink::new(b, LinkTimers::default()).with_frame_fault(Box::new(move |_: &[u8]| {
            if std::mem::take(&mut first) {
                // Past the first T2 (40 ms), well before the last attempt's ends (120 ms).
                FrameVerdict::DelayAck(60, "slow".into())
            } else {
                FrameVerdict::Accept
            }
        }));
        let payment = [0x06, 0x01, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x12, 0x50];
        let (sent, got) = tokio::join!(ecr.send(&payment), pt.recv());
        sent.unwrap();
        assert_eq!(got.unwrap().unwrap(), payment);
        assert!(
            ecr.take_notes().iter().any(|n| n.contains("attempt 2")),
            "the ECR repeated"
        );
        // The repeat is acknowledged and dropped: the next APDU the terminal sees is the next one.
        let enquiry = [0x05, 0x01, 0x00];
        let (sent, got) = tokio::join!(ecr.send(&enquiry), pt.recv());
        sent.unwrap();
        assert_eq!(got.unwrap().unwrap(), enquiry);
        assert!(pt.take_notes().iter().any(|n| n.contains("acknowledged and dropped")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_lost_on_the_line_is_repeated_after_t2() {
        let timers = LinkTimers {
            t1: T1,
            t2: std::time::Duration::from_millis(50),
        };
        let (mut pt, mut ecr) = pair(timers).await;
        assert!(pt.spoil_next_frame(Spoil::Drop));
        let apdu = [0x04, 0x0F, 0x02, 0x27, 0x00];
        let (sent, got) = tokio::join!(pt.send(&apdu), ecr.recv());
        sent.unwrap();
        assert_eq!(got.unwrap().unwrap(), apdu);
        let notes = pt.take_notes();
        assert!(notes.iter().any(|n| n.contains("lost on the line")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("no ACK within 50 ms")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("attempt 2")), "{notes:?}");
    }

    #[tokio::test]
    async fn a_bad_crc_is_answered_with_nak_and_the_good_repeat_arrives() {
        let (a, b) = tokio::io::duplex(4096);
        let mut pt = SerialLink::new(b, LinkTimers::default());
        let mut raw = a;
        let apdu = [0x05, 0x01, 0x00];
        let mut bad = encode_frame(&apdu);
        let n = bad.len();
        bad[n - 1] ^= 0xFF;
        raw.write_all(&bad).await.unwrap();
        raw.write_all(&encode_frame(&apdu)).await.unwrap();
        assert_eq!(pt.recv().await.unwrap().unwrap(), apdu);
        pt.pay_debts().await.unwrap();
        let mut answer = [0u8; 2];
        raw.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, [NAK, ACK]);
        assert!(pt.take_notes()[0].contains("bad CRC"));
    }
}

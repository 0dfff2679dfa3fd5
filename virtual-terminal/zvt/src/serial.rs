//! The serial (RS-232) link layer of PA00P016 §3, as pure functions and a resynchronising decoder.
//!
//! A message on the wire is `DLE STX <APDU with every DLE doubled> DLE ETX CRC-lo CRC-hi`
//! (§3.1). The CRC is computed over the unstuffed APDU plus the ETX byte (§3.3). The spec calls it
//! "CRC-XModem with polynomial x16+x15+x10+x3"; that polynomial notation is the bit-reversed form of
//! CCITT `0x1021`, and the algorithm real terminals use is the reflected variant with init 0, i.e.
//! CRC-16/KERMIT (check value `0x2189`). The two CRC bytes follow DLE ETX raw (not stuffed), low
//! byte first.
//!
//! Each message is answered with a single unframed byte, ACK `06` or NAK `15` (§3.2). Timing (T1,
//! T2) and repetition (§3.4–3.5) are exported as constants for the transport that will drive this
//! codec; nothing here sleeps or reads a clock.

use std::time::Duration;

use crc::{CRC_16_KERMIT, Crc};
use thiserror::Error;

use crate::apdu::{Apdu, ApduError, MAX_DATA_LEN};

/// Data link escape.
pub const DLE: u8 = 0x10;
/// Start of text (frame start after DLE).
pub const STX: u8 = 0x02;
/// End of text (frame end after DLE; part of the CRC input).
pub const ETX: u8 = 0x03;
/// Positive link acknowledgement, sent as a bare byte.
pub const ACK: u8 = 0x06;
/// Negative link acknowledgement, sent as a bare byte.
pub const NAK: u8 = 0x15;

/// T1: the gap between two bytes of one message must stay below this, otherwise the receiver
/// answers NAK (PA00P016 §3.4.1).
pub const T1: Duration = Duration::from_millis(200);
/// T2: the ACK/NAK must arrive within this time after a message, otherwise the sender repeats it
/// (PA00P016 §3.4.2).
pub const T2: Duration = Duration::from_secs(5);
/// After a NAK or a T1/T2 timeout a message is repeated at most this many times (three attempts in
/// total) before both sides report a transmission error (PA00P016 §3.5).
pub const MAX_REPEATS: u8 = 2;

/// Largest unstuffed frame payload: an APDU with extended length and a full data block.
pub const MAX_FRAME_PAYLOAD: usize = 5 + MAX_DATA_LEN;

/// The frame checksum: CRC-16/KERMIT, i.e. CCITT `0x1021` reflected (`0x8408`), init 0, no final
/// XOR, check value `0x2189` (the `crc` crate's catalogue entry).
static KERMIT: Crc<u16> = Crc::<u16>::new(&CRC_16_KERMIT);

/// CRC-16/KERMIT (reflected polynomial `0x8408`, init 0, no final XOR) over `data`.
pub fn crc16_kermit(data: &[u8]) -> u16 {
    KERMIT.checksum(data)
}

/// The frame CRC of an APDU: CRC-16/KERMIT over the unstuffed APDU bytes followed by ETX.
pub fn frame_crc(apdu: &[u8]) -> u16 {
    // Continue the same register with the ETX byte rather than copying the APDU.
    let mut digest = KERMIT.digest();
    digest.update(apdu);
    digest.update(&[ETX]);
    digest.finalize()
}

/// Doubles every DLE so the payload cannot be mistaken for frame delimiters.
pub fn stuff(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    for &b in payload {
        out.push(b);
        if b == DLE {
            out.push(DLE);
        }
    }
    out
}

/// Reverses [`stuff`]: every `DLE DLE` becomes one DLE; a DLE followed by anything else (or at the
/// end) is an error because it would have been a frame delimiter.
pub fn unstuff(stuffed: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(stuffed.len());
    let mut it = stuffed.iter();
    while let Some(&b) = it.next() {
        if b == DLE {
            match it.next() {
                Some(&DLE) => out.push(DLE),
                Some(&other) => return Err(FrameError::InvalidEscape { byte: other }),
                None => return Err(FrameError::Incomplete { received: out.len() }),
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Wraps raw APDU bytes into a complete serial message.
pub fn encode_frame(apdu: &[u8]) -> Vec<u8> {
    let crc = frame_crc(apdu);
    let mut out = Vec::with_capacity(apdu.len() + 8);
    out.extend_from_slice(&[DLE, STX]);
    out.extend(stuff(apdu));
    out.extend_from_slice(&[DLE, ETX]);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Wraps an [`Apdu`] into a complete serial message.
pub fn encode_apdu_frame(apdu: &Apdu) -> Vec<u8> {
    encode_frame(&apdu.encode())
}

/// Problems found on the serial line. Each one (except [`FrameError::Garbage`], which is not a
/// message) means the receiver should answer NAK.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Bytes outside any frame that are neither ACK, NAK nor a frame start; skipped.
    #[error("skipped {} bytes of line noise outside a frame", bytes.len())]
    Garbage {
        /// The skipped bytes.
        bytes: Vec<u8>,
    },
    /// CRC mismatch.
    #[error("bad CRC: received {received:#06x}, computed {computed:#06x}")]
    BadCrc {
        /// CRC from the wire (already assembled from low/high byte).
        received: u16,
        /// CRC computed over the received payload plus ETX.
        computed: u16,
        /// The unstuffed payload, for diagnostics.
        payload: Vec<u8>,
    },
    /// Inside a frame, a DLE was followed by a byte other than DLE, ETX or STX.
    #[error("invalid DLE escape followed by {byte:#04x} inside a frame")]
    InvalidEscape {
        /// The byte after the DLE.
        byte: u8,
    },
    /// A new DLE STX arrived before the current frame ended; the partial frame was dropped.
    #[error("frame restarted after {discarded} payload bytes; partial frame dropped")]
    Restarted {
        /// Payload bytes thrown away.
        discarded: usize,
    },
    /// The frame payload exceeded the configured maximum.
    #[error("frame payload exceeds {limit} bytes")]
    TooLong {
        /// The configured maximum.
        limit: usize,
    },
    /// A frame ended (or the line went quiet, T1) before it was complete.
    #[error("incomplete frame after {received} payload bytes")]
    Incomplete {
        /// Payload bytes received so far.
        received: usize,
    },
    /// Frame and CRC are fine but the payload is not exactly one APDU (length field mismatch).
    #[error("frame payload is not a well-formed APDU: {source}")]
    MalformedApdu {
        /// Why the APDU was rejected.
        source: ApduError,
        /// The unstuffed payload.
        payload: Vec<u8>,
    },
}

impl FrameError {
    /// Whether the receiver should answer this with NAK. Line noise outside frames is not a
    /// message and gets no answer.
    pub fn needs_nak(&self) -> bool {
        !matches!(self, FrameError::Garbage { .. })
    }
}

/// Something the frame decoder recognised on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    /// A complete, CRC-checked message carrying one APDU; answer with ACK.
    Frame(Apdu),
    /// A bare ACK byte outside a frame.
    Ack,
    /// A bare NAK byte outside a frame.
    Nak,
    /// A line or frame error.
    Error(FrameError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    IdleDle,
    InFrame,
    InFrameDle,
    CrcLow,
    CrcHigh(u8),
    /// After an over-long frame: drop bytes up to and including its DLE ETX and CRC.
    Skipping,
    SkippingDle,
    SkippingCrc(u8),
}

/// Resynchronising decoder for the serial link. Feed it arbitrary chunks; it reports frames, bare
/// ACK/NAK bytes and errors. After any error it hunts for the next `DLE STX`.
///
/// The events do not depend on how the input is chunked: line noise is reported once the run of
/// noise ends (at the next frame start or ACK/NAK, or on [`FrameDecoder::flush`]).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    state: State,
    payload: Vec<u8>,
    garbage: Vec<u8>,
    max_payload: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting payloads up to [`MAX_FRAME_PAYLOAD`].
    pub fn new() -> Self {
        Self::with_max_payload(MAX_FRAME_PAYLOAD)
    }

    /// A decoder rejecting frames whose unstuffed payload exceeds `max_payload` bytes.
    pub fn with_max_payload(max_payload: usize) -> Self {
        FrameDecoder {
            state: State::Idle,
            payload: Vec::new(),
            garbage: Vec::new(),
            max_payload,
        }
    }

    /// True while a frame has been started but not finished (the transport runs T1 then).
    pub fn in_frame(&self) -> bool {
        !matches!(self.state, State::Idle | State::IdleDle)
    }

    /// Processes a chunk of received bytes and returns what it completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<FrameEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            self.step(b, &mut events);
        }
        events
    }

    /// Ends the current run: reports pending noise and an unfinished frame, then returns to the
    /// idle state. Call on T1 expiry or end of input.
    pub fn flush(&mut self) -> Vec<FrameEvent> {
        let mut events = Vec::new();
        if self.state == State::IdleDle {
            self.garbage.push(DLE);
        }
        self.flush_garbage(&mut events);
        if self.in_frame() {
            events.push(FrameEvent::Error(FrameError::Incomplete {
                received: self.payload.len(),
            }));
        }
        self.payload.clear();
        self.state = State::Idle;
        events
    }

    fn flush_garbage(&mut self, events: &mut Vec<FrameEvent>) {
        if !self.garbage.is_empty() {
            events.push(FrameEvent::Error(FrameError::Garbage {
                bytes: std::mem::take(&mut self.garbage),
            }));
        }
    }

    fn step_idle(&mut self, b: u8, events: &mut Vec<FrameEvent>) {
        match b {
            DLE => self.state = State::IdleDle,
            ACK | NAK => {
                self.flush_garbage(events);
                events.push(if b == ACK { FrameEvent::Ack } else { FrameEvent::Nak });
            }
            _ => self.garbage.push(b),
        }
    }

    fn start_frame(&mut self) {
        self.payload.clear();
        self.state = State::InFrame;
    }

    fn push_payload(&mut self, b: u8, events: &mut Vec<FrameEvent>) {
        if self.payload.len() >= self.max_payload {
            events.push(FrameEvent::Error(FrameError::TooLong {
                limit: self.max_payload,
            }));
            self.payload.clear();
            // The rest of this frame is not noise; swallow it so its bytes are not misread as
            // ACK/NAK.
            self.state = State::Skipping;
        } else {
            self.payload.push(b);
            self.state = State::InFrame;
        }
    }

    fn step(&mut self, b: u8, events: &mut Vec<FrameEvent>) {
        match self.state {
            State::Idle => self.step_idle(b, events),
            State::IdleDle => match b {
                STX => {
                    self.flush_garbage(events);
                    self.start_frame();
                }
                DLE => self.garbage.push(DLE),
                _ => {
                    self.garbage.push(DLE);
                    self.state = State::Idle;
                    self.step_idle(b, events);
                }
            },
            State::InFrame => {
                if b == DLE {
                    self.state = State::InFrameDle;
                } else {
                    self.push_payload(b, events);
                }
            }
            State::InFrameDle => match b {
                DLE => self.push_payload(DLE, events),
                ETX => self.state = State::CrcLow,
                STX => {
                    events.push(FrameEvent::Error(FrameError::Restarted {
                        discarded: self.payload.len(),
                    }));
                    self.start_frame();
                }
                other => {
                    events.push(FrameEvent::Error(FrameError::InvalidEscape { byte: other }));
                    self.payload.clear();
                    self.state = State::Idle;
                    // The byte may already belong to what follows (e.g. an ACK); let idle judge it.
                    self.step_idle(other, events);
                }
            },
            State::Skipping => {
                if b == DLE {
                    self.state = State::SkippingDle;
                }
            }
            State::SkippingDle => match b {
                ETX => self.state = State::SkippingCrc(2),
                STX => self.start_frame(),
                _ => self.state = State::Skipping,
            },
            State::SkippingCrc(left) => {
                self.state = if left > 1 {
                    State::SkippingCrc(left - 1)
                } else {
                    State::Idle
                };
            }
            State::CrcLow => self.state = State::CrcHigh(b),
            State::CrcHigh(lo) => {
                let received = u16::from_le_bytes([lo, b]);
                let payload = std::mem::take(&mut self.payload);
                let computed = frame_crc(&payload);
                self.state = State::Idle;
                let event = if received != computed {
                    FrameEvent::Error(FrameError::BadCrc {
                        received,
                        computed,
                        payload,
                    })
                } else {
                    match Apdu::decode_exact(&payload) {
                        Ok(apdu) => FrameEvent::Frame(apdu),
                        Err(source) => FrameEvent::Error(FrameError::MalformedApdu { source, payload }),
                    }
                };
                events.push(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::parse_hex;

    fn h(s: &str) -> Vec<u8> {
        parse_hex(s).unwrap()
    }

    #[test]
    fn kermit_check_value() {
        assert_eq!(crc16_kermit(b"123456789"), 0x2189);
    }

    /// The bit-by-bit definition of CRC-16/KERMIT (PA00P016 §3.3 read as the reflected CCITT
    /// polynomial), as an independent reference for the `crc` crate.
    fn kermit_bitwise(data: &[u8]) -> u16 {
        data.iter().fold(0u16, |mut crc, &byte| {
            crc ^= u16::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0x8408 } else { crc >> 1 };
            }
            crc
        })
    }

    #[test]
    fn crc_matches_the_bitwise_definition() {
        let mut prefix = Vec::new();
        for byte in 0..=255u8 {
            assert_eq!(crc16_kermit(&[byte]), kermit_bitwise(&[byte]), "{byte:02X}");
            prefix.push(byte);
            assert_eq!(crc16_kermit(&prefix), kermit_bitwise(&prefix));
        }
    }

    #[test]
    fn frame_crc_matches_kermit_over_apdu_and_etx() {
        let apdu = h("05 01 03 12 34 56");
        let mut with_etx = apdu.clone();
        with_etx.push(ETX);
        assert_eq!(frame_crc(&apdu), crc16_kermit(&with_etx));
    }

    #[test]
    fn stuffing_round_trip_and_errors() {
        assert_eq!(stuff(&[0x10, 0x00, 0x10]), vec![0x10, 0x10, 0x00, 0x10, 0x10]);
        assert_eq!(unstuff(&[0x10, 0x10, 0x00]).unwrap(), vec![0x10, 0x00]);
        assert_eq!(unstuff(&[0x10, 0x03]), Err(FrameError::InvalidEscape { byte: 0x03 }));
        assert!(unstuff(&[0x00, 0x10]).is_err());
    }

    #[test]
    fn garbage_then_frame_then_ack() {
        let mut d = FrameDecoder::new();
        let mut input = h("FF 00 10 41");
        input.extend(encode_frame(&h("80 00 00")));
        input.push(ACK);
        let ev = d.feed(&input);
        assert_eq!(
            ev,
            vec![
                FrameEvent::Error(FrameError::Garbage {
                    bytes: h("FF 00 10 41")
                }),
                FrameEvent::Frame(Apdu::new(0x80, 0x00, vec![]).unwrap()),
                FrameEvent::Ack,
            ]
        );
    }

    #[test]
    fn bad_crc_is_reported_and_decoder_resyncs() {
        let mut d = FrameDecoder::new();
        let mut bad = encode_frame(&h("06 B0 00"));
        let n = bad.len();
        bad[n - 1] ^= 0xFF;
        bad.extend(encode_frame(&h("06 B0 00")));
        let ev = d.feed(&bad);
        assert!(matches!(
            &ev[0],
            FrameEvent::Error(FrameError::BadCrc { computed: 0xF343, .. })
        ));
        assert!(matches!(&ev[1], FrameEvent::Frame(a) if a.encode() == h("06 B0 00")));
    }

    #[test]
    fn restart_inside_frame_and_invalid_escape() {
        let mut d = FrameDecoder::new();
        let mut input = h("10 02 06 01 10 02");
        input.extend(&encode_frame(&h("80 00 00"))[2..]);
        let ev = d.feed(&input);
        assert_eq!(ev[0], FrameEvent::Error(FrameError::Restarted { discarded: 2 }));
        assert!(matches!(ev[1], FrameEvent::Frame(_)));

        let ev = d.feed(&h("10 02 80 10 06"));
        assert_eq!(
            ev,
            vec![
                FrameEvent::Error(FrameError::InvalidEscape { byte: 0x06 }),
                FrameEvent::Ack
            ]
        );
    }

    #[test]
    fn length_mismatch_is_malformed() {
        let mut d = FrameDecoder::new();
        let ev = d.feed(&encode_frame(&h("80 00 02 00")));
        assert!(matches!(&ev[0], FrameEvent::Error(FrameError::MalformedApdu { .. })));
    }

    #[test]
    fn flush_reports_partial_frame_and_trailing_dle() {
        let mut d = FrameDecoder::new();
        assert!(d.feed(&h("10 02 06")).is_empty());
        assert!(d.in_frame());
        assert_eq!(
            d.flush(),
            vec![FrameEvent::Error(FrameError::Incomplete { received: 1 })]
        );
        assert!(d.feed(&h("41 10")).is_empty());
        assert_eq!(
            d.flush(),
            vec![FrameEvent::Error(FrameError::Garbage { bytes: h("41 10") })]
        );
    }

    /// The default limit is the largest APDU: a 5-byte header with extended length (FF lo hi)
    /// and 65535 data bytes, 65540 bytes in all; one byte more is too long.
    #[test]
    fn the_default_limit_is_the_largest_apdu() {
        let mut largest = h("06 D3 FF FF FF");
        largest.resize(65_540, 0x20);
        let ev = FrameDecoder::new().feed(&encode_frame(&largest));
        assert!(
            matches!(&ev[..], [FrameEvent::Frame(a)] if a.data().len() == 65_535),
            "{} events",
            ev.len()
        );
        largest.push(0x20);
        let ev = FrameDecoder::new().feed(&encode_frame(&largest));
        assert_eq!(ev, [FrameEvent::Error(FrameError::TooLong { limit: 65_540 })]);
    }

    /// Every line error but noise outside a frame is answered with NAK (§3.2): noise is not a
    /// message.
    #[test]
    fn only_line_noise_goes_unanswered() {
        assert!(!FrameError::Garbage { bytes: h("41") }.needs_nak());
        for error in [
            FrameError::BadCrc {
                received: 0,
                computed: 1,
                payload: vec![],
            },
            FrameError::InvalidEscape { byte: 0x41 },
            FrameError::Restarted { discarded: 1 },
            FrameError::TooLong { limit: 4 },
            FrameError::Incomplete { received: 0 },
        ] {
            assert!(error.needs_nak(), "{error}");
        }
    }

    /// Literal wire bytes: the ACK APDU `80 00 00` framed with its CRC `F5 1F` (low byte first),
    /// and a DLE in the data sent doubled, CRC over the single DLE (`FB 1B`).
    #[test]
    fn literal_frames_with_and_without_a_doubled_dle() {
        let ack = Apdu::new(0x80, 0x00, vec![]).unwrap();
        assert_eq!(encode_apdu_frame(&ack), h("10 02 80 00 00 10 03 F5 1F"));
        let ev = FrameDecoder::new().feed(&h("10 02 80 00 00 10 03 F5 1F"));
        assert_eq!(ev, [FrameEvent::Frame(Apdu::new(0x80, 0x00, vec![]).unwrap())]);
        let ev = FrameDecoder::new().feed(&h("10 02 06 D3 01 10 10 10 03 FB 1B"));
        assert_eq!(ev, [FrameEvent::Frame(Apdu::new(0x06, 0xD3, vec![0x10]).unwrap())]);
        // The same frame with the DLE not doubled: the DLE escapes 03, so the frame ends early.
        let ev = FrameDecoder::new().feed(&h("10 02 06 D3 01 10 03 FB 1B"));
        assert!(
            matches!(&ev[..], [FrameEvent::Error(FrameError::BadCrc { .. })]),
            "{ev:?}"
        );
        // A DLE DLE before the frame start is noise; the second DLE may still start a frame.
        let ev = FrameDecoder::new().feed(&h("10 10 02 80 00 00 10 03 F5 1F"));
        assert_eq!(
            ev,
            [
                FrameEvent::Error(FrameError::Garbage { bytes: h("10") }),
                FrameEvent::Frame(Apdu::new(0x80, 0x00, vec![]).unwrap())
            ]
        );
    }

    /// An over-long frame is swallowed up to its DLE ETX and the two CRC bytes, whatever its
    /// remaining payload holds (stuffed DLEs included); a bare ACK after it is an ACK again.
    #[test]
    fn an_over_long_frame_is_skipped_up_to_its_crc() {
        let mut d = FrameDecoder::with_max_payload(2);
        let ev = d.feed(&h("10 02 01 02 03 04 10 10 05 10 03 AA BB 06"));
        assert_eq!(
            ev,
            [FrameEvent::Error(FrameError::TooLong { limit: 2 }), FrameEvent::Ack]
        );
        assert!(!d.in_frame());
        // The CRC bytes are skipped even when they look like ACK and NAK.
        let ev = d.feed(&h("10 02 01 02 03 10 03 06 15 15"));
        assert_eq!(
            ev,
            [FrameEvent::Error(FrameError::TooLong { limit: 2 }), FrameEvent::Nak]
        );
    }

    /// A new DLE STX while an over-long frame is being skipped starts the next frame (the
    /// decoder hunts for a frame start after any error).
    #[test]
    fn a_frame_start_ends_the_skipping() {
        let mut d = FrameDecoder::with_max_payload(3);
        let ev = d.feed(&h("10 02 01 02 03 04 05 10 02 80 00 00 10 03 F5 1F"));
        assert_eq!(
            ev,
            [
                FrameEvent::Error(FrameError::TooLong { limit: 3 }),
                FrameEvent::Frame(Apdu::new(0x80, 0x00, vec![]).unwrap())
            ]
        );
    }

    #[test]
    fn too_long_payload() {
        let mut d = FrameDecoder::with_max_payload(4);
        let mut input = encode_frame(&h("06 D3 03 06 06 06"));
        input.extend(encode_frame(&h("80 00 00")));
        let ev = d.feed(&input);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(ev[0], FrameEvent::Error(FrameError::TooLong { limit: 4 }));
        assert!(matches!(ev[1], FrameEvent::Frame(_)));
    }
}

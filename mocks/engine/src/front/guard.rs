//! The request-head guard: the front reads every request head itself, before hyper does, so
//! that no head is refused by hyper's own parser — which answers with an empty 400/414/431 or
//! drops the connection — and every refusal carries a body in the listener's error format.
//!
//! [`GuardedIo`] sits between the socket and hyper. Per request it collects the head up to its
//! empty line, checks it against the front's limits and against everything hyper's parser would
//! refuse (the same `httparse` parser, method, URI and header-name checks, and hyper's
//! Content-Length / Transfer-Encoding rules), and only then hands it to hyper, followed by
//! exactly the body the head announces (Content-Length bytes, or chunked framing followed chunk
//! by chunk with hyper's decoder rules). hyper therefore never holds the next request's head
//! while still reading a body, and every head it parses has passed the guard.
//!
//! A head the guard refuses is not shown to hyper: the refusal goes into the connection's
//! [`RefusalSlot`] and hyper gets a fixed stand-in request (`GET / HTTP/1.1`, `Connection:
//! close`) instead, so the listener's service answers it — in its own format, journalled like
//! every other refusal — through hyper's normal response path (status line, Content-Length).
//! The service takes the slot when hyper hands it a request, before anything else: the stand-in
//! is only ever seen together with the refusal it stands for, so a client cannot forge one.
//! After the stand-in the guard hands hyper nothing more; once the answer is out it closes the way
//! a server that did not read everything should (FIN, then reading and discarding what the
//! client still sends for a bounded time), so the client reads the answer instead of a reset.
//!
//! When a chunked body does not parse the way hyper's decoder would accept it, the guard stops
//! following the framing and passes bytes through unchecked: hyper fails the body, the service
//! answers 400 and the connection closes.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{MAX_HEAD_BYTES, MAX_HEADERS, MAX_URI_BYTES, Refusal};

/// What hyper parses in place of a refused head.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n";
/// hyper's limit for a header name (`record_header_indices`), refused with an empty 431.
const HYPER_MAX_NAME_BYTES: usize = 1 << 16;
/// The largest Content-Length hyper takes (`DecodedLength::MAX_LEN`).
const HYPER_MAX_CONTENT_LENGTH: u64 = u64::MAX - 2;
/// A request line longer than this without its line end cannot hold a target within
/// [`MAX_URI_BYTES`]: method, spaces and version take far less than the slack.
const MAX_REQUEST_LINE_BYTES: usize = MAX_URI_BYTES + 1024;
/// After a refused head: how long and how much the guard reads and discards before closing.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);
pub(crate) const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// One read from the socket.
const READ_CHUNK: usize = 16 * 1024;

/// A head the guard refused, for the service that answers the stand-in request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadRefusal {
    /// Status and reason.
    pub refusal: Refusal,
    /// The request's method, when its request line could be read.
    pub method: Option<String>,
    /// The request target, when it could be read and is within [`MAX_URI_BYTES`].
    pub target: Option<String>,
}

/// The refusal of a connection's guard, waiting for the service.
#[derive(Debug, Default)]
pub struct RefusalSlot(Mutex<Option<HeadRefusal>>);

impl RefusalSlot {
    /// The refusal the request hyper just handed over stands for, if it is the stand-in.
    pub fn take(&self) -> Option<HeadRefusal> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    fn put(&self, refusal: HeadRefusal) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refusal);
    }
}

/// How the body after an accepted head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
}

#[derive(Debug)]
enum State {
    /// Collecting a head; `scanned` bytes of the buffer hold no head end; `line_ok`: the
    /// request line is known to end within [`MAX_REQUEST_LINE_BYTES`].
    Head { scanned: usize, line_ok: bool },
    /// Handing `left` bytes of an accepted head to hyper, then the body.
    HeadOut { left: usize, then: Framing },
    /// Handing Content-Length bytes to hyper.
    Body { left: u64 },
    /// Handing a chunked body to hyper, following its framing.
    Chunked(ChunkDecoder),
    /// Framing no longer followed: bytes pass unchecked.
    Passthrough,
    /// Handing the stand-in request to hyper (`sent` bytes of it so far).
    StandIn { sent: usize },
    /// After the stand-in: nothing more for hyper.
    Refused,
}

/// The lingering close after a refusal.
#[derive(Debug)]
struct Linger {
    deadline: Pin<Box<tokio::time::Sleep>>,
    discarded: usize,
    fin_sent: bool,
}

/// A connection's socket as hyper sees it, with every request head checked first.
#[derive(Debug)]
pub struct GuardedIo<T> {
    inner: T,
    /// Bytes read from the socket, not yet handed to hyper.
    buf: BytesMut,
    state: State,
    slot: Arc<RefusalSlot>,
    linger: Option<Linger>,
}

impl<T> GuardedIo<T> {
    /// Guards `inner`; refusals go into `slot`.
    pub fn new(inner: T, slot: Arc<RefusalSlot>) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            state: State::Head {
                scanned: 0,
                line_ok: false,
            },
            slot,
            linger: None,
        }
    }
}

/// Reads once from the socket, at most [`READ_CHUNK`] bytes, into `buf`; `Ok(0)` is the end of
/// input. The chunk on the stack is not zeroed first (most polls of a keep-alive connection find
/// nothing to read), and `buf` grows only by what arrived, so an idle connection holds no more
/// than its last read.
fn fill<T: AsyncRead + Unpin>(inner: &mut T, buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
    let mut chunk = [const { MaybeUninit::<u8>::uninit() }; READ_CHUNK];
    let mut read = ReadBuf::uninit(&mut chunk);
    ready!(Pin::new(inner).poll_read(cx, &mut read))?;
    buf.extend_from_slice(read.filled());
    Poll::Ready(Ok(read.filled().len()))
}

/// Moves up to `max` bytes of `buf` to hyper.
fn hand_over(buf: &mut BytesMut, dst: &mut ReadBuf<'_>, max: usize) -> usize {
    let n = max.min(buf.len()).min(dst.remaining());
    dst.put_slice(&buf[..n]);
    buf.advance(n);
    n
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, dst: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let GuardedIo {
            inner,
            buf,
            state,
            slot,
            ..
        } = &mut *self;
        if dst.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match state {
                State::Head { scanned, line_ok } => {
                    // Empty lines before a request line are skipped, as httparse does.
                    let blank = buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                    if blank > 0 {
                        buf.advance(blank);
                        *scanned = 0;
                        *line_ok = false;
                    }
                    let refusal = match find_head_end(buf, scanned) {
                        Some(end) => match check(&buf[..end]) {
                            Ok(framing) => {
                                *state = State::HeadOut {
                                    left: end,
                                    then: framing,
                                };
                                continue;
                            }
                            Err(refusal) => refusal,
                        },
                        None => match unfinished_too_large(buf, line_ok) {
                            Some(refusal) => refusal,
                            None => {
                                if ready!(fill(inner, buf, cx))? == 0 {
                                    // The client went away in the middle of a head (or between
                                    // requests): nothing to answer.
                                    return Poll::Ready(Ok(()));
                                }
                                continue;
                            }
                        },
                    };
                    slot.put(refusal);
                    buf.clear();
                    *state = State::StandIn { sent: 0 };
                }
                State::HeadOut { left, then } => {
                    *left -= hand_over(buf, dst, *left);
                    if *left == 0 {
                        *state = match *then {
                            Framing::Length(0) => State::Head {
                                scanned: 0,
                                line_ok: false,
                            },
                            Framing::Length(n) => State::Body { left: n },
                            Framing::Chunked => State::Chunked(ChunkDecoder::default()),
                        };
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Body { left } => {
                    if buf.is_empty() && ready!(fill(inner, buf, cx))? == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    let max = usize::try_from(*left).unwrap_or(usize::MAX);
                    *left -= hand_over(buf, dst, max) as u64;
                    if *left == 0 {
                        *state = State::Head {
                            scanned: 0,
                            line_ok: false,
                        };
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Chunked(decoder) => {
                    if buf.is_empty() && ready!(fill(inner, buf, cx))? == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    let window = buf.len().min(dst.remaining());
                    match decoder.feed(&buf[..window]) {
                        Step::More(n) => {
                            hand_over(buf, dst, n);
                        }
                        Step::End(n) => {
                            hand_over(buf, dst, n);
                            *state = State::Head {
                                scanned: 0,
                                line_ok: false,
                            };
                        }
                        Step::Invalid => {
                            hand_over(buf, dst, window);
                            *state = State::Passthrough;
                        }
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Passthrough => {
                    if buf.is_empty() {
                        return Pin::new(inner).poll_read(cx, dst);
                    }
                    hand_over(buf, dst, usize::MAX);
                    return Poll::Ready(Ok(()));
                }
                State::StandIn { sent } => {
                    let rest = &STAND_IN[*sent..];
                    let n = rest.len().min(dst.remaining());
                    dst.put_slice(&rest[..n]);
                    *sent += n;
                    if *sent == STAND_IN.len() {
                        *state = State::Refused;
                    }
                    return Poll::Ready(Ok(()));
                }
                // Not end of input: hyper aborts a connection whose input ends while a request
                // is being answered. The stand-in asked to close, so hyper reads no further
                // once the answer is out; nothing needs waking.
                State::Refused => return Poll::Pending,
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// After a refusal the client may still be sending the rest of its request; closing with
    /// unread data makes the kernel reset the connection, and the client may lose the answer.
    /// So: FIN first, then read and discard until the client closes, or for a bounded time
    /// and amount.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !matches!(this.state, State::Refused) {
            return Pin::new(&mut this.inner).poll_shutdown(cx);
        }
        let linger = this.linger.get_or_insert_with(|| Linger {
            deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
            discarded: 0,
            fin_sent: false,
        });
        if !linger.fin_sent {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            linger.fin_sent = true;
        }
        loop {
            if linger.discarded >= LINGER_BYTES || linger.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read)) {
                Ok(()) if !read.filled().is_empty() => linger.discarded += read.filled().len(),
                _ => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// Where the head in `buf` ends (just after its empty line), scanning on from `scanned`, which
/// is moved on to where the next scan resumes.
fn find_head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    let mut at = *scanned;
    while let Some(offset) = buf[at..].iter().position(|&b| b == b'\n') {
        let lf = at + offset;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => return Some(lf + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
            // Not yet known whether this line feed ends the head: look again with more bytes.
            (None, _) | (Some(b'\r'), None) => {
                *scanned = lf;
                return None;
            }
            _ => at = lf + 1,
        }
    }
    *scanned = buf.len();
    None
}

/// The refusal of a head that has not ended yet but can no longer be accepted.
fn unfinished_too_large(buf: &[u8], line_ok: &mut bool) -> Option<HeadRefusal> {
    if !*line_ok && buf.len() > MAX_REQUEST_LINE_BYTES {
        // Looked at once: the buffer's start does not change while a head is collected.
        *line_ok = buf[..=MAX_REQUEST_LINE_BYTES].contains(&b'\n');
    }
    if !*line_ok && buf.len() > MAX_REQUEST_LINE_BYTES {
        let (method, _) = request_line(buf);
        return Some(HeadRefusal {
            refusal: Refusal::new(StatusCode::URI_TOO_LONG, target_too_long()),
            method,
            target: None,
        });
    }
    if buf.len() > MAX_HEAD_BYTES {
        let (method, target) = request_line(buf);
        return Some(HeadRefusal {
            refusal: Refusal::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("request head exceeds {MAX_HEAD_BYTES} bytes"),
            ),
            method,
            target,
        });
    }
    None
}

/// The reason of a 414. Without the target's length: whether the guard sees the whole request
/// line or refuses it once it is too long to hold an acceptable target depends on how the bytes
/// arrive, and the answer must not.
fn target_too_long() -> String {
    format!("request target exceeds {MAX_URI_BYTES} bytes")
}

/// Method and target of a request line, as far as they can be read (the target only within
/// [`MAX_URI_BYTES`]).
fn request_line(head: &[u8]) -> (Option<String>, Option<String>) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let word = |w: Option<&[u8]>, max: usize| {
        w.filter(|w| !w.is_empty() && w.len() <= max)
            .and_then(|w| std::str::from_utf8(w).ok())
            .filter(|w| w.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned)
    };
    let method = word(words.next(), 64);
    let target = word(words.next(), MAX_URI_BYTES);
    (method, target)
}

/// Checks a complete head (`head` ends with its empty line): the front's limits first, then
/// everything hyper's parser refuses. Returns how the body is framed.
fn check(head: &[u8]) -> Result<Framing, HeadRefusal> {
    let (method, target) = request_line(head);
    let refuse = |status: StatusCode, message: String| HeadRefusal {
        refusal: Refusal::new(status, message),
        method: method.clone(),
        target: target.clone(),
    };
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if line
        .split(|&b| b == b' ')
        .nth(1)
        .is_some_and(|t| t.len() > MAX_URI_BYTES)
    {
        return Err(refuse(StatusCode::URI_TOO_LONG, target_too_long()));
    }
    if head.len() > MAX_HEAD_BYTES {
        return Err(refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request head of {} bytes exceeds {MAX_HEAD_BYTES}", head.len()),
        ));
    }
    // Request line, fields, empty line: one line feed each (httparse refuses folded fields).
    let fields = head.iter().filter(|&&b| b == b'\n').count().saturating_sub(2);
    if fields > MAX_HEADERS {
        return Err(refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("{fields} header fields exceed {MAX_HEADERS}"),
        ));
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "malformed request head: incomplete".into(),
            ));
        }
        Err(e) => {
            let what = match e {
                httparse::Error::Token if request.method.is_none() => "invalid method".to_owned(),
                httparse::Error::Token => "invalid request target".to_owned(),
                other => other.to_string(),
            };
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("malformed request head: {what}"),
            ));
        }
    }
    let bad = |what: &str| {
        Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("malformed request head: {what}"),
        ))
    };
    if http::Method::from_bytes(request.method.unwrap_or_default().as_bytes()).is_err() {
        return bad("invalid method");
    }
    if http::Uri::try_from(request.path.unwrap_or_default()).is_err() {
        return bad("invalid request target");
    }
    let http11 = request.version == Some(1);
    // hyper's rules (RFC 9112 §6.3): Transfer-Encoding wins over Content-Length and must end in
    // chunked; Content-Length values must be digits and agree.
    let (mut te, mut chunked, mut length) = (false, false, None::<u64>);
    for header in request.headers.iter() {
        if header.name.len() >= HYPER_MAX_NAME_BYTES {
            return Err(refuse(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("header name of {} bytes", header.name.len()),
            ));
        }
        if http::HeaderName::from_bytes(header.name.as_bytes()).is_err() {
            return bad("invalid header name");
        }
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return bad("Transfer-Encoding in an HTTP/1.0 request");
            }
            te = true;
            length = None;
            chunked = ends_in_chunked(header.value);
        } else if header.name.eq_ignore_ascii_case("content-length") && !te {
            let Some(value) = digits(header.value) else {
                return bad("invalid Content-Length");
            };
            match length {
                Some(previous) if previous != value => return bad("differing Content-Length values"),
                _ => length = Some(value),
            }
            if value > HYPER_MAX_CONTENT_LENGTH {
                return Err(refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("Content-Length {value} is too large"),
                ));
            }
        }
    }
    if te && !chunked {
        return bad("Transfer-Encoding does not end in chunked");
    }
    Ok(if chunked {
        Framing::Chunked
    } else {
        Framing::Length(length.unwrap_or(0))
    })
}

/// hyper's `is_chunked_`: the last coding of a visible-ASCII value is `chunked`.
fn ends_in_chunked(value: &[u8]) -> bool {
    std::str::from_utf8(value)
        .ok()
        .filter(|v| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

/// hyper's `from_digits`: ASCII digits only, no sign, no overflow.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Where a chunked body ends, with the byte rules of hyper's chunked decoder.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Start,
    Size,
    SizeLws,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
}

/// Follows a chunked body's framing.
#[derive(Debug, Default)]
struct ChunkDecoder {
    state: ChunkState,
    size: u64,
}

/// What [`ChunkDecoder::feed`] found in the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// All `n` bytes belong to the body, which goes on.
    More(usize),
    /// The body ends after the first `n` bytes.
    End(usize),
    /// Not framing hyper accepts.
    Invalid,
}

impl ChunkDecoder {
    fn feed(&mut self, bytes: &[u8]) -> Step {
        use ChunkState as S;
        let mut i = 0;
        while i < bytes.len() {
            if self.state == S::Data {
                let take = usize::try_from(self.size).unwrap_or(usize::MAX).min(bytes.len() - i);
                i += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = S::DataCr;
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            let hex = |b: u8| (b as char).to_digit(16).map(u64::from);
            self.state = match (self.state, b) {
                (S::Start, _) | (S::Size, _) if hex(b).is_some() => {
                    let Some(size) = self
                        .size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(hex(b).unwrap_or(0)))
                    else {
                        return Step::Invalid;
                    };
                    self.size = size;
                    S::Size
                }
                (S::Size | S::SizeLws, b'\t' | b' ') => S::SizeLws,
                (S::Size | S::SizeLws, b';') => S::Extension,
                (S::Size | S::SizeLws | S::Extension, b'\r') => S::SizeLf,
                (S::Extension, b'\n') => return Step::Invalid,
                (S::Extension, _) => S::Extension,
                (S::SizeLf, b'\n') if self.size == 0 => S::EndCr,
                (S::SizeLf, b'\n') => S::Data,
                (S::DataCr, b'\r') => S::DataLf,
                (S::DataLf, b'\n') => S::Start,
                (S::Trailer, b'\r') => S::TrailerLf,
                (S::Trailer, _) => S::Trailer,
                (S::TrailerLf, b'\n') => S::EndCr,
                (S::EndCr, b'\r') => S::EndLf,
                (S::EndCr, _) => S::Trailer,
                (S::EndLf, b'\n') => return Step::End(i),
                _ => return Step::Invalid,
            };
        }
        Step::More(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(head: &str) -> Result<Framing, StatusCode> {
        check(head.as_bytes()).map_err(|r| r.refusal.status)
    }

    #[test]
    fn heads_are_framed_as_hyper_frames_them() {
        assert_eq!(framing("GET / HTTP/1.1\r\nhost: x\r\n\r\n"), Ok(Framing::Length(0)));
        assert_eq!(
            framing("POST / HTTP/1.1\r\ncontent-length: 12\r\n\r\n"),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: gzip, chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: x\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(framing("GET / HTTP/1.0\n\n"), Ok(Framing::Length(0)));
        for bad in [
            "POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET /a\x7fb HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nbad name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nx: a\x01b\r\n\r\n",
            "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\n",
        ] {
            assert_eq!(framing(bad), Err(StatusCode::BAD_REQUEST), "{bad:?}");
        }
    }

    #[test]
    fn limits_give_414_and_431_with_what_was_readable() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_URI_BYTES));
        let refused = check(long.as_bytes()).unwrap_err();
        assert_eq!(refused.refusal.status, StatusCode::URI_TOO_LONG);
        assert_eq!((refused.method.as_deref(), refused.target), (Some("GET"), None));
        let mut many = String::from("GET /x?y HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("x-{i}: 1\r\n"));
        }
        many.push_str("\r\n");
        let refused = check(many.as_bytes()).unwrap_err();
        assert_eq!(refused.refusal.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(refused.refusal.message, "101 header fields exceed 100");
        assert_eq!(refused.target.as_deref(), Some("/x?y"));
        let huge_name = format!("GET / HTTP/1.1\r\n{}: 1\r\n\r\n", "n".repeat(HYPER_MAX_NAME_BYTES));
        assert_eq!(framing(&huge_name), Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        assert!(unfinished_too_large(&vec![b'a'; MAX_REQUEST_LINE_BYTES + 1], &mut false).is_some());
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.resize(MAX_HEAD_BYTES, b'a');
        assert!(unfinished_too_large(&head, &mut false).is_none());
        head.push(b'a');
        assert_eq!(
            unfinished_too_large(&head, &mut false).unwrap().refusal.status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[test]
    fn the_head_end_is_found_across_reads() {
        let head = b"GET / HTTP/1.1\r\nhost: x\r\n\r\nNEXT";
        for split in 0..head.len() {
            let mut scanned = 0;
            let first = find_head_end(&head[..split], &mut scanned);
            let end = first.or_else(|| find_head_end(head, &mut scanned));
            assert_eq!(end, Some(head.len() - 4), "split at {split}");
        }
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\nx", &mut 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nx: y\r\n", &mut 0), None);
    }

    #[test]
    fn chunked_bodies_end_where_hyper_ends_them() {
        let body = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\ntrailer: x\r\n\r\nNEXT";
        let end = body.len() - 4;
        for split in 0..body.len() {
            let mut decoder = ChunkDecoder::default();
            let got = match decoder.feed(&body[..split]) {
                Step::End(n) => n,
                Step::More(n) => {
                    assert_eq!(n, split);
                    match decoder.feed(&body[split..]) {
                        Step::End(m) => split + m,
                        other => panic!("split {split}: {other:?}"),
                    }
                }
                Step::Invalid => panic!("split {split}: invalid"),
            };
            assert_eq!(got, end, "split at {split}");
        }
        assert_eq!(ChunkDecoder::default().feed(b"0\r\n\r\n"), Step::End(5));
        for bad in [
            &b"x\r\n"[..],
            b"5\nhello",
            b"5\r\nhelloXX",
            b"1;a\n",
            b"fffffffffffffffff\r\n",
        ] {
            assert_eq!(ChunkDecoder::default().feed(bad), Step::Invalid, "{bad:?}");
        }
    }

    /// Whatever junk a head holds, the answer is a complete HTTP answer with a body — the
    /// listener's (here a fallback that says `ok`) or the front's refusal — never hyper's empty
    /// one and never a dropped connection. Over a real socket, through the whole front.
    #[test]
    fn no_head_gets_an_empty_answer() {
        use proptest::prelude::*;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new().fallback(|| async { "ok" });
        runtime.spawn(super::super::serve_admin(
            listener,
            router,
            super::super::AdminAccess::default(),
            std::future::pending(),
        ));
        // Lines a head may hold: fine ones, and what hyper's parser refuses.
        let line = prop_oneof![
            Just(b"host: x".to_vec()),
            Just(b"x-ok: a b\tc".to_vec()),
            Just(b"bad name: 1".to_vec()),
            Just(b" folded".to_vec()),
            Just(b"x-obs: \xe4\xff".to_vec()),
            Just(b"no-colon".to_vec()),
            Just(b"x: \x00".to_vec()),
            Just(b"content-length: +1".to_vec()),
            Just(b"content-length: 0".to_vec()),
            Just(b"transfer-encoding: gzip".to_vec()),
            Just(format!("x-big: {}", "v".repeat(70_000)).into_bytes()),
            proptest::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\n'), 0..40),
        ];
        let request_line = prop_oneof![
            Just(b"GET / HTTP/1.1".to_vec()),
            Just(b"GET /a?b=c HTTP/1.0".to_vec()),
            Just(b"G\x01T / HTTP/1.1".to_vec()),
            Just(b"GET / HTTP/9.9".to_vec()),
            Just(b"GET /\x7f HTTP/1.1".to_vec()),
            Just(b"GET".to_vec()),
            Just(format!("GET /{} HTTP/1.1", "a".repeat(70_000)).into_bytes()),
            proptest::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\n'), 0..40),
        ];
        let head =
            (request_line, proptest::collection::vec(line, 0..6), 0usize..130).prop_map(|(first, lines, repeat)| {
                let mut head = first;
                head.extend_from_slice(b"\r\n");
                for line in lines {
                    head.extend_from_slice(&line);
                    head.extend_from_slice(b"\r\n");
                }
                for i in 0..repeat {
                    head.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
                }
                head.extend_from_slice(b"\r\n");
                head
            });
        let config = ProptestConfig {
            cases: 200,
            ..ProptestConfig::default()
        };
        proptest!(config, |(head in head)| {
            let answer = runtime.block_on(async {
                let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
                stream.write_all(&head).await.unwrap();
                let mut answer = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read until one whole answer is in: its head, then Content-Length bytes.
                let read = tokio::time::timeout(Duration::from_secs(10), async {
                    loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        answer.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&answer).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length: "))
                                .and_then(|v| v.parse::<usize>().ok());
                            if length.is_some_and(|l| body.len() >= l) || n == 0 {
                                break;
                            }
                        } else if n == 0 {
                            break;
                        }
                    }
                })
                .await;
                assert!(read.is_ok(), "no answer within 10 s");
                String::from_utf8_lossy(&answer).into_owned()
            });
            prop_assert!(answer.starts_with("HTTP/1."), "{answer:?}");
            let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_default();
            prop_assert!(!body.is_empty(), "an empty body: {head}");
            if !body.starts_with("ok") {
                let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                prop_assert!(value["error"].is_string(), "{answer}");
                prop_assert!(head.contains("connection: close"), "{head}");
            }
        });
    }
}

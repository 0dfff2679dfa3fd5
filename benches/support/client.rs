//! The load generator's HTTP/1.1 client: one keep-alive connection, one request at a time, the
//! request written in one piece and the answer read by its `Content-Length`.
//!
//! The benches share two cores with the server they measure, so the load generator must cost as
//! little as it can (as `wrk` does): hyper's client runs every connection as two tasks talking
//! over a channel and builds a header map per request, which cost the server a third of a core
//! it could otherwise use. The server sees the same bytes either way; answers are still read in
//! full and their status checked.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection posting to one path.
pub struct Connection {
    stream: TcpStream,
    /// Request line and fixed headers, up to (not including) `content-length`.
    head: Vec<u8>,
    request: Vec<u8>,
    answer: Vec<u8>,
}

impl Connection {
    /// Connects to `addr` (`host:port`); every request is `POST path` with these headers.
    pub async fn open(addr: &str, path: &str, headers: &[(&str, &str)]) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        Self {
            stream,
            head: head.into_bytes(),
            request: Vec::with_capacity(4096),
            answer: Vec::with_capacity(16 * 1024),
        }
    }

    /// Posts `body` and waits for the whole answer: its status and body.
    pub async fn post(&mut self, body: &[u8]) -> (u16, &[u8]) {
        self.request.clear();
        self.request.extend_from_slice(&self.head);
        self.request
            .extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        self.request.extend_from_slice(body);
        self.stream.write_all(&self.request).await.expect("request sent");
        self.answer.clear();
        let (status, head_len, body_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = response.parse(&self.answer).expect("an HTTP/1.1 answer") {
                let body_len = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                    .expect("answers carry a Content-Length (no chunked bodies here)");
                break (response.code.expect("status"), head_len, body_len);
            }
            self.fill().await;
        };
        while self.answer.len() < head_len + body_len {
            self.fill().await;
        }
        assert_eq!(
            self.answer.len(),
            head_len + body_len,
            "nothing beyond the answer (one request at a time)"
        );
        (status, &self.answer[head_len..])
    }

    async fn fill(&mut self) {
        if self.answer.capacity() - self.answer.len() < 4096 {
            self.answer.reserve(16 * 1024);
        }
        let read = self.stream.read_buf(&mut self.answer).await.expect("answer read");
        assert!(read > 0, "the server closed the connection mid-answer");
    }
}

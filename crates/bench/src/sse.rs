//! Server-Sent Events over the tool's HTTP/1.1 client: an incremental
//! `text/event-stream` parser and a stream that yields events as they
//! arrive, with the instant their bytes were read.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::http::{AbortOnDrop, Template, excerpt, open_stream};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental parser of a `text/event-stream` body (the WHATWG rules: lines
/// end with CRLF, LF or CR; a blank line dispatches the event; lines starting
/// with `:` are comments; one space after the field's colon is dropped).
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous byte was a CR, so an LF right after it ends no line.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
    /// Comment lines seen (heartbeats).
    pub comments: u64,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `bytes`, appending every event they complete to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest.first() == Some(&b'\n') {
                    rest = rest.get(1..).unwrap_or_default();
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.line.extend_from_slice(rest);
                    return;
                }
                Some(i) => {
                    self.line
                        .extend_from_slice(rest.get(..i).unwrap_or_default());
                    self.after_cr = rest.get(i) == Some(&b'\r');
                    rest = rest.get(i + 1..).unwrap_or_default();
                    self.end_line(out);
                }
            }
        }
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let id = self.id.take();
            let mut data = std::mem::take(&mut self.data);
            if std::mem::take(&mut self.has_data) {
                if data.ends_with('\n') {
                    data.pop();
                }
                out.push(SseEvent {
                    event: if event.is_empty() {
                        "message".to_owned()
                    } else {
                        event
                    },
                    id,
                    data,
                });
            }
        } else if line.first() == Some(&b':') {
            self.comments += 1;
        } else {
            let text = String::from_utf8_lossy(&line);
            let (field, value) = match text.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (text.as_ref(), ""),
            };
            match field {
                "event" => self.event = value.to_owned(),
                "data" => {
                    self.data.push_str(value);
                    self.data.push('\n');
                    self.has_data = true;
                }
                "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
                _ => {}
            }
        }
        // Reuse the line's allocation.
        self.line = line;
        self.line.clear();
    }
}

/// An open `GET` event stream.
pub struct EventStream {
    /// Keeps the connection open.
    _driver: AbortOnDrop,
    body: Incoming,
    sse: SseParser,
}

/// Largest error body shown when a stream is refused.
const ERROR_BODY: usize = 300;

impl EventStream {
    /// Connects to `addr`, sends `GET path` with `Authorization: <bearer>`
    /// and `Accept: text/event-stream`, and waits (up to `timeout`) for the
    /// response head: an error unless it is 200.
    pub async fn open(
        addr: SocketAddr,
        authority: &str,
        path: &str,
        bearer: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let request = Template::new(
            "GET",
            authority,
            path,
            &[("Authorization", bearer), ("Accept", "text/event-stream")],
            None,
        )?
        .build();
        let work = async {
            let (response, driver) = open_stream(addr, request).await?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            if status != 200 {
                let mut text = Vec::new();
                while text.len() < ERROR_BODY
                    && let Some(Ok(frame)) = body.frame().await
                {
                    text.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..]));
                }
                bail!("GET {path} answered {status}: {}", excerpt(&text));
            }
            Ok(Self {
                _driver: driver,
                body,
                sse: SseParser::new(),
            })
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(anyhow!("no response head within {timeout:?}")),
        }
    }

    /// Waits for the next events or comments: returns the events (none
    /// when only comments, such as heartbeats, arrived) with the instant
    /// their last bytes were read, or `None` once the server has ended the
    /// stream or closed the connection.
    pub async fn next_events(&mut self) -> anyhow::Result<Option<(Instant, Vec<SseEvent>)>> {
        let mut events = Vec::new();
        loop {
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            let read_at = Instant::now();
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            let comments = self.sse.comments;
            self.sse.feed(&data, &mut events);
            if !events.is_empty() || self.sse.comments != comments {
                return Ok(Some((read_at, events)));
            }
        }
    }

    /// Comment lines (heartbeats) received so far.
    pub fn comments(&self) -> u64 {
        self.sse.comments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(raw: &[u8], piece: usize) -> (Vec<SseEvent>, u64) {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for chunk in raw.chunks(piece.max(1)) {
            p.feed(chunk, &mut out);
        }
        (out, p.comments)
    }

    fn ev(event: &str, id: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            id: id.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn parses_the_notification_stream_in_any_pieces() {
        let raw = b"event: unread-count\ndata: {\"count\":0}\n\n\
            : heartbeat\n\n\
            event: notification\nid: 42\ndata: {\"id\":\"42\",\"type\":\"love\"}\n\n\
            event: unread-count\ndata: {\"count\":1}\n\n";
        let want = vec![
            ev("unread-count", None, "{\"count\":0}"),
            ev(
                "notification",
                Some("42"),
                "{\"id\":\"42\",\"type\":\"love\"}",
            ),
            ev("unread-count", None, "{\"count\":1}"),
        ];
        for piece in [1, 2, 3, 7, 64, raw.len()] {
            let (events, comments) = parse_in_pieces(raw, piece);
            assert_eq!(events, want, "pieces of {piece}");
            assert_eq!(comments, 1);
        }
    }

    #[test]
    fn line_endings_multiline_data_and_defaults() {
        // CRLF, lone CR, multi-line data, no space after the colon, no
        // event name, and a block without data (not dispatched).
        let raw = b"data:a\r\ndata: b\r\n\r\nevent: x\rdata\r\rid: 7\n\nevent: lone\n\n";
        for piece in [1, 2, raw.len()] {
            let (events, _) = parse_in_pieces(raw, piece);
            assert_eq!(
                events,
                vec![ev("message", None, "a\nb"), ev("x", None, "")],
                "pieces of {piece}"
            );
        }
    }

    /// A server that answers one event stream: a chunked `unread-count`
    /// event, then a heartbeat comment on its own, then the end.
    async fn one_stream_server() -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await.expect("request");
            let chunk = |s: &str| format!("{:x}\r\n{s}\r\n", s.len());
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            let first = chunk("event: unread-count\ndata: {\"count\":3}\n\n");
            sock.write_all(format!("{head}{first}").as_bytes())
                .await
                .expect("write");
            tokio::time::sleep(Duration::from_millis(20)).await;
            sock.write_all(chunk(": heartbeat\n\n").as_bytes())
                .await
                .expect("write");
            tokio::time::sleep(Duration::from_millis(20)).await;
            sock.write_all(b"0\r\n\r\n").await.expect("write");
        });
        addr
    }

    #[tokio::test]
    async fn a_stream_yields_events_then_heartbeats_then_its_end() {
        let addr = one_stream_server().await;
        let mut s = EventStream::open(
            addr,
            "test",
            "/api/notifications/stream",
            "Bearer t",
            Duration::from_secs(5),
        )
        .await
        .expect("open");
        let (_, events) = s.next_events().await.expect("read").expect("events");
        assert_eq!(events, vec![ev("unread-count", None, "{\"count\":3}")]);
        let (_, events) = s.next_events().await.expect("read").expect("heartbeat");
        assert!(events.is_empty());
        assert_eq!(s.comments(), 1);
        assert!(s.next_events().await.expect("read").is_none());
    }

    #[test]
    fn an_unfinished_event_waits_for_its_blank_line() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"event: notification\ndata: {}\n", &mut out);
        assert!(out.is_empty());
        p.feed(b"\n", &mut out);
        assert_eq!(out, vec![ev("notification", None, "{}")]);
    }
}

//! A minimal HTTP/1.1 client: URL parsing, request serialisation, an
//! incremental response parser and a keep-alive connection. Just enough HTTP
//! for load generation: no TLS, no redirects, no pipelining.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head (status line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;
/// Initial read buffer per connection.
const INITIAL_BUF: usize = 16 * 1024;
/// Hard cap on the read buffer; only response heads are ever buffered whole.
const MAX_BUF: usize = 1024 * 1024;

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host to connect to (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The authority as written, for the `Host` header.
    pub authority: String,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path)
    }
}

impl HttpUrl {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim();
        let lower = raw.to_ascii_lowercase();
        if lower.starts_with("https://") {
            bail!("{raw}: https is not supported; point the benchmark at the plain HTTP listener");
        }
        if !lower.starts_with("http://") {
            bail!("{raw}: expected a URL starting with http://");
        }
        let rest = &raw["http://".len()..];
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        let tail = tail.split('#').next().unwrap_or("");
        let path = if tail.is_empty() {
            "/".to_owned()
        } else if tail.starts_with('?') {
            format!("/{tail}")
        } else {
            tail.to_owned()
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            bail!("{raw}: the path must not contain spaces or control characters");
        }
        if authority.is_empty() {
            bail!("{raw}: missing host");
        }
        if authority.contains('@') {
            bail!("{raw}: user information in URLs is not supported; use --header instead");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                bail!("{raw}: unterminated IPv6 address");
            };
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .with_context(|| format!("{raw}: bad text after IPv6 address"))?,
                ),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            bail!("{raw}: missing host");
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .with_context(|| format!("{raw}: bad port {p:?}"))?,
        };
        Ok(Self {
            host,
            port,
            authority: authority.to_owned(),
            path,
        })
    }

    /// This URL's origin with `path` (which starts with `/`) in place of its
    /// own path, keeping any path prefix of a base URL such as
    /// `http://host/prefix`.
    pub fn join(&self, path: &str) -> Self {
        let base = self
            .path
            .split('?')
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        Self {
            path: format!("{base}{path}"),
            ..self.clone()
        }
    }

    /// Resolves the host to one socket address (the first the resolver gives).
    pub async fn resolve(&self) -> anyhow::Result<SocketAddr> {
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot resolve {}", self.host))?;
        addrs
            .next()
            .with_context(|| format!("{} resolved to no address", self.host))
    }
}

/// Parses a `Name: value` command-line header.
pub fn parse_header_arg(raw: &str) -> anyhow::Result<(String, String)> {
    let Some((name, value)) = raw.split_once(':') else {
        bail!("header {raw:?}: expected 'Name: value'");
    };
    let name = name.trim();
    let value = value.trim();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        bail!("header {raw:?}: invalid header name");
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        bail!("header {raw:?}: the value must not contain line breaks");
    }
    Ok((name.to_owned(), value.to_owned()))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Serialises one request. `Host`, `User-Agent`, and for a body
/// `Content-Type: application/json` are added unless given in `headers`;
/// `Content-Length` is always computed here.
pub fn build_request(
    method: &str,
    url: &HttpUrl,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> anyhow::Result<Vec<u8>> {
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        bail!("invalid method {method:?}");
    }
    for forbidden in ["content-length", "transfer-encoding"] {
        if headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(forbidden))
        {
            bail!("do not pass a {forbidden} header; the request length is set automatically");
        }
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut bytes = Vec::new();
    write_request(
        &mut bytes,
        method,
        &url.authority,
        &url.path,
        &headers,
        body,
    );
    Ok(bytes)
}

/// Appends one request to `out`, with the same defaults as
/// [`build_request`] but without its checks: for requests the tool composes
/// itself, with a different path, token or body each time. `path` is the
/// request target (path and query, starting with `/`); `headers` must not
/// contain line breaks or a `Content-Length`.
pub fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut put = |parts: &[&str]| {
        for p in parts {
            out.extend_from_slice(p.as_bytes());
        }
    };
    put(&[method, " ", path, " HTTP/1.1\r\n"]);
    if !has("host") {
        put(&["Host: ", authority, "\r\n"]);
    }
    if !has("user-agent") {
        put(&["User-Agent: starling-bench\r\n"]);
    }
    for (name, value) in headers {
        put(&[name, ": ", value, "\r\n"]);
    }
    let needs_length = matches!(method, "POST" | "PUT" | "PATCH");
    match body {
        Some(body) => {
            if !has("content-type") {
                put(&["Content-Type: application/json\r\n"]);
            }
            put(&["Content-Length: ", &body.len().to_string(), "\r\n"]);
        }
        None if needs_length => put(&["Content-Length: 0\r\n"]),
        None => {}
    }
    put(&["\r\n"]);
    if let Some(body) = body {
        out.extend_from_slice(body);
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a
/// query parameter value such as an opaque cursor.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A malformed or truncated response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn perr<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    UntilClose,
    Done,
}

/// Incremental parser for one HTTP/1.x response at a time.
///
/// Feed it the unconsumed bytes of the connection buffer; it returns how
/// many it consumed. Bytes of an incomplete head or line are left
/// unconsumed, so the caller keeps them and feeds them again together with
/// more data (the parser remembers how far it already searched).
pub struct ResponseParser {
    state: State,
    /// How many bytes of the unconsumed input were already searched for the
    /// end of the current head or line.
    scanned: usize,
    head_request: bool,
    collect_body: bool,
    status: u16,
    keep_alive: bool,
    seen_any: bool,
    body: Vec<u8>,
}

impl ResponseParser {
    /// `head_request`: the request was `HEAD`, so the response has no body.
    /// `collect_body`: keep the body (otherwise it is only skipped).
    pub fn new(head_request: bool, collect_body: bool) -> Self {
        Self {
            state: State::Head,
            scanned: 0,
            head_request,
            collect_body,
            status: 0,
            keep_alive: false,
            seen_any: false,
            body: Vec::new(),
        }
    }

    /// Prepares for the next response on the same connection.
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.scanned = 0;
        self.status = 0;
        self.keep_alive = false;
        self.seen_any = false;
        self.body.clear();
    }

    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// The final status code (0 before the head is parsed).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the connection may carry another request after this response.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Whether the head (status line and headers) of the final response has
    /// been parsed, so [`status`](Self::status) is known.
    pub fn head_done(&self) -> bool {
        self.state != State::Head
    }

    /// Forgets the body bytes collected so far, for a body read as a stream
    /// (Server-Sent Events) and consumed piece by piece.
    pub fn clear_body(&mut self) {
        self.body.clear();
    }

    /// Whether to keep the body of the next responses (see [`new`](Self::new)).
    pub fn set_collect_body(&mut self, collect: bool) {
        self.collect_body = collect;
    }

    /// Consumes bytes from `data`; returns how many. Check
    /// [`is_complete`](Self::is_complete) afterwards.
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, ParseError> {
        if !data.is_empty() {
            self.seen_any = true;
        }
        let mut pos = 0;
        loop {
            let rest = &data[pos..];
            match self.state {
                State::Done => return Ok(pos),
                State::Head => match find(rest, b"\r\n\r\n", self.scanned) {
                    None => {
                        if rest.len() > MAX_HEAD {
                            return perr("response head too large");
                        }
                        self.scanned = rest.len();
                        return Ok(pos);
                    }
                    Some(i) => {
                        self.scanned = 0;
                        self.parse_head(&rest[..i])?;
                        pos += i + 4;
                    }
                },
                State::Length(n) | State::ChunkData(n) => {
                    let take = n.min(rest.len() as u64);
                    let taken = &rest[..take as usize];
                    if self.collect_body {
                        self.body.extend_from_slice(taken);
                    }
                    pos += taken.len();
                    let left = n - take;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::ChunkDataEnd,
                        (_, _) => State::ChunkData(left),
                    };
                    if left > 0 {
                        return Ok(pos);
                    }
                }
                State::ChunkSize | State::ChunkDataEnd | State::Trailers => {
                    let Some(i) = find(rest, b"\r\n", self.scanned) else {
                        if rest.len() > MAX_LINE {
                            return perr("chunk line too long");
                        }
                        self.scanned = rest.len();
                        return Ok(pos);
                    };
                    self.scanned = 0;
                    let line = &rest[..i];
                    pos += i + 2;
                    self.state = match self.state {
                        State::ChunkSize => match parse_chunk_size(line)? {
                            0 => State::Trailers,
                            n => State::ChunkData(n),
                        },
                        State::ChunkDataEnd if line.is_empty() => State::ChunkSize,
                        State::ChunkDataEnd => return perr("missing CRLF after chunk data"),
                        _ if line.is_empty() => State::Done,
                        _ => State::Trailers,
                    };
                }
                State::UntilClose => {
                    if self.collect_body {
                        self.body.extend_from_slice(rest);
                    }
                    return Ok(data.len());
                }
            }
        }
    }

    /// Tells the parser the peer closed the connection. Completes a
    /// read-until-close body; anything else incomplete is an error.
    pub fn finish_eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            State::Head if !self.seen_any => perr("connection closed before a response"),
            _ => perr("connection closed in the middle of a response"),
        }
    }

    fn parse_head(&mut self, head: &[u8]) -> Result<(), ParseError> {
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status_line = lines.next().unwrap_or_default();
        let (minor, status) = parse_status_line(status_line)?;
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        let mut other_encoding = false;
        let mut close = false;
        let mut keep_alive_token = false;
        for line in lines {
            if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                continue; // obsolete line folding: a continuation, ignored
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return perr("malformed header line");
            };
            let name = line[..colon].trim_ascii();
            let value = line[colon + 1..].trim_ascii();
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = parse_decimal(value)?;
                if content_length.is_some_and(|old| old != n) {
                    return perr("conflicting Content-Length headers");
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    chunked = true;
                    other_encoding = false;
                } else if !value.trim_ascii().is_empty() {
                    chunked = false;
                    other_encoding = true;
                }
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive_token = true;
                    }
                }
            }
        }
        if (100..200).contains(&status) {
            if status == 101 {
                return perr("unexpected 101 Switching Protocols");
            }
            // An interim response (e.g. 100 Continue): the real one follows.
            self.state = State::Head;
            return Ok(());
        }
        self.status = status;
        self.keep_alive = !close && (minor >= 1 || keep_alive_token);
        self.state = if self.head_request || status == 204 || status == 304 {
            State::Done
        } else if chunked {
            State::ChunkSize
        } else if other_encoding {
            self.keep_alive = false;
            State::UntilClose
        } else {
            match content_length {
                Some(0) => State::Done,
                Some(n) => State::Length(n),
                None => {
                    self.keep_alive = false;
                    State::UntilClose
                }
            }
        };
        Ok(())
    }
}

/// Finds `needle` in `hay`, knowing the first `scanned` bytes were already
/// searched without a match.
fn find(hay: &[u8], needle: &[u8], scanned: usize) -> Option<usize> {
    let from = scanned.saturating_sub(needle.len() - 1);
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// `HTTP/1.x SSS reason` → (x, SSS).
fn parse_status_line(line: &[u8]) -> Result<(u8, u16), ParseError> {
    let Some(rest) = line.strip_prefix(b"HTTP/1.") else {
        return perr("not an HTTP/1.x response");
    };
    match rest {
        [minor @ b'0'..=b'9', b' ', a, b, c, tail @ ..] if tail.is_empty() || tail[0] == b' ' => {
            if ![a, b, c].iter().all(|d| d.is_ascii_digit()) {
                return perr("bad status code");
            }
            let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            Ok((minor - b'0', status))
        }
        _ => perr("malformed status line"),
    }
}

fn parse_decimal(value: &[u8]) -> Result<u64, ParseError> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return perr("bad Content-Length");
    }
    Ok(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return perr("bad chunk size");
    }
    let mut n = 0u64;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return perr("bad chunk size"),
        };
        n = n * 16 + u64::from(v);
    }
    Ok(n)
}

/// Why a request on a connection failed.
#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    Protocol(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "i/o error: {e}"),
            ClientError::Protocol(e) => write!(f, "bad response: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl From<ParseError> for ClientError {
    fn from(e: ParseError) -> Self {
        ClientError::Protocol(e.0)
    }
}

/// One client connection with its read buffer.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        Self::connect_with_buffer(addr, INITIAL_BUF).await
    }

    /// Like [`connect`](Self::connect) with an initial read buffer of
    /// `size` bytes (it still grows for a large response head): for holding
    /// many idle streams.
    pub async fn connect_with_buffer(addr: SocketAddr, size: usize) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; size.max(256)],
            start: 0,
            end: 0,
        })
    }

    /// Makes room in the read buffer for the next read: drops consumed
    /// bytes, moves a partial head or line to the front, or grows the buffer.
    fn make_room(&mut self) -> Result<(), ClientError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_BUF {
                let len = self.buf.len() * 2;
                self.buf.resize(len, 0);
            } else {
                return Err(ClientError::Protocol("response head too large".into()));
            }
        }
        Ok(())
    }

    /// Writes a request whose response is then read piece by piece with
    /// [`read_stream`](Self::read_stream) (a response that does not end,
    /// such as Server-Sent Events).
    pub async fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.start = 0;
        self.end = 0;
        self.stream.write_all(request).await
    }

    /// Reads once from the socket and feeds what arrived to `parser` (made
    /// with `collect_body`): afterwards `parser.head_done()` tells whether the
    /// status is known, and `parser.body()` holds the body bytes not yet
    /// taken (see [`ResponseParser::clear_body`]). Returns `false` when the
    /// peer closed the connection.
    pub async fn read_stream(&mut self, parser: &mut ResponseParser) -> Result<bool, ClientError> {
        self.make_room()?;
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Ok(false);
        }
        self.end += n;
        let consumed = parser.feed(&self.buf[self.start..self.end])?;
        self.start += consumed;
        Ok(true)
    }

    /// Writes `request` and reads one whole response through `parser`
    /// (which is reset first). Afterwards `parser.keep_alive()` tells
    /// whether this connection can be reused.
    pub async fn roundtrip(
        &mut self,
        request: &[u8],
        parser: &mut ResponseParser,
    ) -> Result<(), ClientError> {
        parser.reset();
        self.start = 0;
        self.end = 0;
        self.stream.write_all(request).await?;
        loop {
            let consumed = parser.feed(&self.buf[self.start..self.end])?;
            self.start += consumed;
            if parser.is_complete() {
                if self.start != self.end {
                    return Err(ClientError::Protocol(
                        "unexpected bytes after the response".into(),
                    ));
                }
                return Ok(());
            }
            self.make_room()?;
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                parser.finish_eof()?;
                return Ok(());
            }
            self.end += n;
        }
    }
}

/// A one-off request on a fresh connection: returns status and body.
pub async fn fetch(
    addr: SocketAddr,
    request: &[u8],
    head_request: bool,
    timeout: Duration,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let work = async {
        let mut conn = Conn::connect(addr).await?;
        let mut parser = ResponseParser::new(head_request, true);
        conn.roundtrip(request, &mut parser).await?;
        Ok::<_, ClientError>((parser.status(), parser.body().to_vec()))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => Ok(result?),
        Err(_) => bail!("no response from {addr} within {timeout:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one after another the way `Conn` does, keeping
    /// unconsumed bytes. Returns the parser and the leftover bytes.
    fn feed_all(parser: &mut ResponseParser, chunks: &[&[u8]]) -> Vec<u8> {
        let mut pending: Vec<u8> = Vec::new();
        for chunk in chunks {
            pending.extend_from_slice(chunk);
            let n = parser.feed(&pending).expect("parse");
            pending.drain(..n);
        }
        pending
    }

    fn parse_whole(raw: &[u8]) -> ResponseParser {
        let mut p = ResponseParser::new(false, true);
        let left = feed_all(&mut p, &[raw]);
        assert!(
            p.is_complete(),
            "incomplete: {:?}",
            String::from_utf8_lossy(raw)
        );
        assert!(left.is_empty());
        p
    }

    /// Splits `raw` at every position (and byte by byte) and checks the
    /// result is the same as parsing it whole.
    fn check_all_splits(raw: &[u8], status: u16, body: &[u8], keep_alive: bool) {
        let whole = parse_whole(raw);
        assert_eq!(whole.status(), status);
        assert_eq!(whole.body(), body);
        assert_eq!(whole.keep_alive(), keep_alive);
        for at in 0..=raw.len() {
            let mut p = ResponseParser::new(false, true);
            let left = feed_all(&mut p, &[&raw[..at], &raw[at..]]);
            assert!(p.is_complete(), "split at {at}");
            assert!(left.is_empty(), "split at {at}");
            assert_eq!(p.status(), status, "split at {at}");
            assert_eq!(p.body(), body, "split at {at}");
        }
        let bytes: Vec<&[u8]> = raw.chunks(1).collect();
        let mut p = ResponseParser::new(false, true);
        let left = feed_all(&mut p, &bytes);
        assert!(p.is_complete() && left.is_empty());
        assert_eq!(p.body(), body);
    }

    #[test]
    fn content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello";
        check_all_splits(raw, 200, b"hello", true);
    }

    #[test]
    fn empty_body_and_no_reason_phrase() {
        check_all_splits(b"HTTP/1.1 204\r\n\r\n", 204, b"", true);
        check_all_splits(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            200,
            b"",
            true,
        );
    }

    #[test]
    fn chunked_body() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        check_all_splits(raw, 200, b"hello, world", true);
    }

    #[test]
    fn chunked_body_with_trailers_and_hex_sizes() {
        let data = vec![b'x'; 0x1a];
        let mut raw =
            b"HTTP/1.1 500 Internal\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n1A\r\n".to_vec();
        raw.extend_from_slice(&data);
        raw.extend_from_slice(b"\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n");
        check_all_splits(&raw, 500, &data, true);
    }

    #[test]
    fn connection_close_and_http_1_0() {
        let p = parse_whole(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
        assert!(!p.keep_alive());
        let p = parse_whole(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert!(!p.keep_alive());
        let p = parse_whole(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
        );
        assert!(p.keep_alive());
    }

    #[test]
    fn body_until_close() {
        let mut p = ResponseParser::new(false, true);
        let left = feed_all(&mut p, &[b"HTTP/1.0 200 OK\r\n\r\nsome ", b"data"]);
        assert!(left.is_empty());
        assert!(!p.is_complete());
        p.finish_eof().expect("eof completes");
        assert!(p.is_complete());
        assert_eq!(p.body(), b"some data");
        assert!(!p.keep_alive());
    }

    #[test]
    fn head_request_and_304_have_no_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
        let mut p = ResponseParser::new(true, false);
        assert_eq!(p.feed(raw), Ok(raw.len()));
        assert!(p.is_complete());
        let raw = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n";
        let mut p = ResponseParser::new(false, false);
        assert_eq!(p.feed(raw), Ok(raw.len()));
        assert!(p.is_complete());
    }

    #[test]
    fn interim_100_continue_is_skipped() {
        let raw =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}";
        check_all_splits(raw, 201, b"{}", true);
    }

    #[test]
    fn headers_split_across_reads_are_not_consumed_early() {
        let mut p = ResponseParser::new(false, true);
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(0));
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r"), Ok(0));
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab";
        assert_eq!(p.feed(full), Ok(full.len()));
        assert!(!p.is_complete());
        assert_eq!(p.feed(b"c"), Ok(1));
        assert!(p.is_complete());
        assert_eq!(p.body(), b"abc");
    }

    #[test]
    fn extra_bytes_are_left_unconsumed() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naEXTRA";
        let mut p = ResponseParser::new(false, false);
        assert_eq!(p.feed(raw), Ok(raw.len() - 5));
        assert!(p.is_complete());
        assert!(p.body().is_empty(), "body not collected");
    }

    #[test]
    fn reset_allows_reuse() {
        let mut p = ResponseParser::new(false, true);
        let a = b"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(p.feed(a), Ok(a.len()));
        assert_eq!(p.status(), 404);
        p.reset();
        assert!(!p.is_complete());
        let b = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\ny\r\n0\r\n\r\n";
        assert_eq!(p.feed(b), Ok(b.len()));
        assert_eq!(p.status(), 200);
        assert_eq!(p.body(), b"y");
    }

    #[test]
    fn malformed_responses_are_errors() {
        for raw in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n",
        ] {
            let mut p = ResponseParser::new(false, false);
            assert!(p.feed(raw).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn eof_errors() {
        let mut p = ResponseParser::new(false, false);
        assert!(p.finish_eof().is_err());
        let mut p = ResponseParser::new(false, false);
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(p.feed(raw), Ok(raw.len()));
        let err = p.finish_eof().expect_err("truncated");
        assert!(err.0.contains("middle"));
    }

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/health").expect("url");
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.path.as_str()
            ),
            ("127.0.0.1", 8080, "127.0.0.1:8080", "/health")
        );
        let u = HttpUrl::parse("http://localhost").expect("url");
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = HttpUrl::parse("http://[::1]:9000?x=1#frag").expect("url");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 9000, "/?x=1")
        );
        assert!(HttpUrl::parse("https://example.com/").is_err());
        assert!(HttpUrl::parse("127.0.0.1:8080").is_err());
        assert!(HttpUrl::parse("http://:80/").is_err());
        assert!(HttpUrl::parse("http://h:99999/").is_err());
        let base = HttpUrl::parse("http://h:1/").expect("url");
        assert_eq!(base.join("/api/profile").path, "/api/profile");
        let base = HttpUrl::parse("http://h:1/prefix/").expect("url");
        assert_eq!(base.join("/health").to_string(), "http://h:1/prefix/health");
    }

    #[test]
    fn requests() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/api/profile").expect("url");
        let headers = vec![parse_header_arg("Authorization:  Bearer abc ").expect("header")];
        let req = build_request("GET", &u, &headers, None).expect("request");
        assert_eq!(
            String::from_utf8_lossy(&req),
            "GET /api/profile HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: starling-bench\r\n\
             Authorization: Bearer abc\r\n\r\n"
        );
        let req = build_request("POST", &u, &[], Some(b"{\"a\":1}")).expect("request");
        let text = String::from_utf8_lossy(&req);
        assert!(
            text.contains("Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
        );
        let req = build_request("POST", &u, &[], None).expect("request");
        assert!(String::from_utf8_lossy(&req).ends_with("Content-Length: 0\r\n\r\n"));
        assert!(parse_header_arg("no-colon").is_err());
        assert!(parse_header_arg("bad name: v").is_err());
        let cl = vec![("content-length".to_owned(), "3".to_owned())];
        assert!(build_request("GET", &u, &cl, None).is_err());
        assert!(build_request("G T", &u, &[], None).is_err());
    }

    #[test]
    fn written_requests_append_and_vary() {
        let mut buf = b"leftover".to_vec();
        buf.clear();
        write_request(
            &mut buf,
            "GET",
            "h:1",
            "/api/feed?limit=20",
            &[("Authorization", "Bearer t1")],
            None,
        );
        let first = buf.len();
        write_request(
            &mut buf,
            "POST",
            "h:1",
            "/api/posts",
            &[("Authorization", "Bearer t2"), ("Idempotency-Key", "k")],
            Some(b"{}"),
        );
        let text = String::from_utf8_lossy(&buf);
        assert_eq!(
            &text[..first],
            "GET /api/feed?limit=20 HTTP/1.1\r\nHost: h:1\r\nUser-Agent: starling-bench\r\n\
             Authorization: Bearer t1\r\n\r\n"
        );
        assert_eq!(
            &text[first..],
            "POST /api/posts HTTP/1.1\r\nHost: h:1\r\nUser-Agent: starling-bench\r\n\
             Authorization: Bearer t2\r\nIdempotency-Key: k\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn collecting_the_body_can_be_switched() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab";
        let mut p = ResponseParser::new(false, false);
        assert_eq!(p.feed(raw), Ok(raw.len()));
        assert!(p.body().is_empty());
        p.set_collect_body(true);
        p.reset();
        assert_eq!(p.feed(raw), Ok(raw.len()));
        assert_eq!(p.body(), b"ab");
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("aZ0-._~"), "aZ0-._~");
        assert_eq!(percent_encode("a b+/=?&"), "a%20b%2B%2F%3D%3F%26");
    }
}

//! HTTP/1.1 over hyper's client connection: `http://` URLs, requests, and a
//! keep-alive connection that reconnects when the server closes it. No TLS,
//! no redirects, no pipelining: one request in flight per connection.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The body of every request the tool sends.
pub type Body = Full<Bytes>;

/// Pause after a failed connect, so a dead server is not hammered in a loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

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
        let without_fragment = raw.split('#').next().unwrap_or_default();
        let uri: Uri = without_fragment
            .parse()
            .with_context(|| format!("{raw}: not a valid URL"))?;
        match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => {}
            Some("https") => bail!(
                "{raw}: https is not supported; point the benchmark at the plain HTTP listener"
            ),
            _ => bail!("{raw}: expected a URL starting with http://"),
        }
        let Some(authority) = uri.authority() else {
            bail!("{raw}: missing host");
        };
        if authority.as_str().contains('@') {
            bail!("{raw}: user information in URLs is not supported; use --header instead");
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            bail!("{raw}: missing host");
        }
        // After an IPv6 address's closing bracket, or in the whole authority.
        let after_host = authority.as_str().rsplit(']').next().unwrap_or_default();
        let port = match after_host.rsplit_once(':') {
            None | Some((_, "")) => 80,
            Some((_, p)) => p
                .parse::<u16>()
                .with_context(|| format!("{raw}: bad port {p:?}"))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            path: match uri.path_and_query().map_or("", |p| p.as_str()) {
                "" => "/".to_owned(),
                p if p.starts_with('?') => format!("/{p}"),
                p => p.to_owned(),
            },
        })
    }

    /// This URL's origin with `path` (which starts with `/`) in place of its
    /// own path, keeping any path prefix of a base URL such as
    /// `http://host/prefix`.
    pub fn join(&self, path: &str) -> Self {
        Self {
            path: format!("{}{path}", self.prefix()),
            ..self.clone()
        }
    }

    /// The path without its query and trailing slashes ("" at the root).
    pub fn prefix(&self) -> &str {
        self.path
            .split('?')
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
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

    /// A request for this URL (see [`Template::new`]).
    pub fn request(
        &self,
        method: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> anyhow::Result<Request<Body>> {
        Ok(Template::new(method, &self.authority, &self.path, headers, body)?.build())
    }
}

/// Parses a `Name: value` command-line header.
pub fn parse_header_arg(raw: &str) -> anyhow::Result<(String, String)> {
    let Some((name, value)) = raw.split_once(':') else {
        bail!("header {raw:?}: expected 'Name: value'");
    };
    let (name, value) = (name.trim(), value.trim());
    HeaderName::from_bytes(name.as_bytes())
        .with_context(|| format!("header {raw:?}: invalid header name"))?;
    HeaderValue::from_str(value)
        .with_context(|| format!("header {raw:?}: invalid value (line breaks?)"))?;
    for forbidden in ["content-length", "transfer-encoding"] {
        if name.eq_ignore_ascii_case(forbidden) {
            bail!("do not pass a {forbidden} header; the request length is set automatically");
        }
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// Percent-encodes a query parameter value such as an opaque cursor.
pub fn percent_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A request to send again and again: built once, copied per send.
#[derive(Debug, Clone)]
pub struct Template {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Template {
    /// `path` is the request target (path and query). `Host` (from
    /// `authority`), `User-Agent: starling-bench` and, with a body,
    /// `Content-Type: application/json` are added unless `headers` gives
    /// them; hyper sets `Content-Length` (0 for a POST, PUT or PATCH
    /// without a body).
    pub fn new(
        method: &str,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> anyhow::Result<Self> {
        let method =
            Method::from_bytes(method.as_bytes()).with_context(|| format!("method {method:?}"))?;
        let uri: Uri = path
            .parse()
            .with_context(|| format!("request path {path:?}"))?;
        let mut map = HeaderMap::with_capacity(headers.len() + 4);
        map.insert(header::HOST, HeaderValue::from_str(authority)?);
        map.insert(
            header::USER_AGENT,
            HeaderValue::from_static("starling-bench"),
        );
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("header name {name:?}"))?;
            let value = HeaderValue::from_str(value)
                .with_context(|| format!("value of the {name} header"))?;
            if name == header::HOST || name == header::USER_AGENT {
                map.insert(name, value);
            } else {
                map.append(name, value);
            }
        }
        match &body {
            Some(_) if !map.contains_key(header::CONTENT_TYPE) => {
                map.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            None if [Method::POST, Method::PUT, Method::PATCH].contains(&method) => {
                map.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            }
            _ => {}
        }
        Ok(Self {
            method,
            uri,
            headers: map,
            body: body.unwrap_or_default(),
        })
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn build(&self) -> Request<Body> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// hyper's half of a connection: polled, it does the connection's reads
/// and writes.
type Connection = http1::Connection<TokioIo<TcpStream>, Body>;

async fn handshake(addr: SocketAddr) -> anyhow::Result<(SendRequest<Body>, Connection)> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| anyhow!("connect: {e}"))?;
    tcp.set_nodelay(true)?;
    // Requests are small: one flat write each rather than vectored ones.
    Ok(http1::Builder::new()
        .writev(false)
        .handshake(TokioIo::new(tcp))
        .await?)
}

/// Sends `req` on a fresh connection and returns the response with its body
/// still to read (a stream, such as Server-Sent Events); the connection is
/// driven by a task of its own until the returned guard is dropped.
pub async fn open_stream(
    addr: SocketAddr,
    req: Request<Body>,
) -> anyhow::Result<(Response<Incoming>, AbortOnDrop)> {
    let (mut sender, conn) = handshake(addr).await?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let guard = AbortOnDrop(vec![driver.abort_handle()]);
    Ok((sender.send_request(req).await?, guard))
}

/// Aborts tasks when dropped.
pub struct AbortOnDrop(pub Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// One connection, driven by the task that uses it: no hand-over between
/// tasks per request.
struct Conn {
    sender: SendRequest<Body>,
    /// None once it has ended (which fails whatever waited on it).
    io: Option<Pin<Box<Connection>>>,
}

/// `work`, while driving the connection `io`.
async fn driving<F: Future>(io: &mut Option<Pin<Box<Connection>>>, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if let Some(conn) = io.as_mut()
            && conn.as_mut().poll(cx).is_ready()
        {
            // Ended: dropping it fails whatever `work` waits for.
            *io = None;
            return work.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await
}

/// A keep-alive connection to `addr`, opened on first use and again after
/// the server closed it or a request failed. A failed connect pauses 50 ms
/// before it returns its error.
pub struct Client {
    addr: SocketAddr,
    timeout: Option<Duration>,
    conn: Option<Conn>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            timeout: None,
            conn: None,
        }
    }

    /// A client whose [`send`](Self::send) and [`status`](Self::status) give
    /// up after `timeout` (and drop the connection).
    pub fn with_timeout(addr: SocketAddr, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::new(addr)
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connection, ready for a request (a closed one is replaced).
    async fn ready(&mut self) -> anyhow::Result<&mut Conn> {
        if let Some(c) = self.conn.as_mut()
            && driving(&mut c.io, c.sender.ready()).await.is_err()
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            match handshake(self.addr).await {
                Ok((sender, io)) => {
                    self.conn = Some(Conn {
                        sender,
                        io: Some(Box::pin(io)),
                    })
                }
                Err(e) => {
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    return Err(e);
                }
            }
        }
        match self.conn.as_mut() {
            Some(c) => Ok(c),
            None => bail!("no connection"),
        }
    }

    /// Sends `req`; `read` takes the response's status and body.
    async fn exchange<T>(
        &mut self,
        req: Request<Body>,
        read: impl AsyncFnOnce(u16, Incoming) -> Result<T, hyper::Error>,
    ) -> anyhow::Result<T> {
        let work = async |c: &mut Self| {
            let Conn { sender, io } = c.ready().await?;
            let result = async {
                let resp = driving(io, sender.send_request(req)).await?;
                let status = resp.status().as_u16();
                driving(io, read(status, resp.into_body())).await
            }
            .await;
            if result.is_err() {
                c.conn = None;
            }
            Ok(result?)
        };
        let Some(timeout) = self.timeout else {
            return work(self).await;
        };
        match tokio::time::timeout(timeout, work(self)).await {
            Ok(result) => result,
            Err(_) => {
                self.conn = None;
                bail!("no response within {timeout:?}")
            }
        }
    }

    /// Sends `req` and reads the whole response: status and body.
    pub async fn send(&mut self, req: Request<Body>) -> anyhow::Result<(u16, Bytes)> {
        self.exchange(req, async |status, body: Incoming| {
            Ok((status, body.collect().await?.to_bytes()))
        })
        .await
    }

    /// Sends `req` and skips the response's body: the status.
    pub async fn status(&mut self, req: Request<Body>) -> anyhow::Result<u16> {
        self.exchange(req, async |status, mut body: Incoming| {
            while let Some(frame) = body.frame().await {
                frame?;
            }
            Ok(status)
        })
        .await
    }
}

/// A one-off request on a fresh connection: status and body.
pub async fn fetch(
    addr: SocketAddr,
    req: Request<Body>,
    timeout: Duration,
) -> anyhow::Result<(u16, Bytes)> {
    Client::with_timeout(addr, timeout)
        .send(req)
        .await
        .with_context(|| format!("request to {addr}"))
}

/// A 2xx answer's body, or an error quoting the start of the body.
pub fn expect_2xx(what: &str, (status, body): (u16, Bytes)) -> anyhow::Result<Bytes> {
    if !(200..300).contains(&status) {
        bail!("{what} answered {status}: {}", excerpt(&body));
    }
    Ok(body)
}

/// The first 300 characters of a body, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(HttpUrl::parse("http://u:p@h/").is_err());
        let base = HttpUrl::parse("http://h:1/").expect("url");
        assert_eq!(base.join("/api/profile").path, "/api/profile");
        let base = HttpUrl::parse("http://h:1/prefix/").expect("url");
        assert_eq!(base.join("/health").to_string(), "http://h:1/prefix/health");
    }

    #[test]
    fn requests_get_their_default_headers() {
        let t = Template::new(
            "GET",
            "h:1",
            "/api/profile",
            &[("Authorization", "Bearer a")],
            None,
        )
        .expect("template");
        let req = t.build();
        assert_eq!(req.uri(), "/api/profile");
        let h = req.headers();
        assert_eq!(h[header::HOST], "h:1");
        assert_eq!(h[header::USER_AGENT], "starling-bench");
        assert_eq!(h[header::AUTHORIZATION], "Bearer a");
        assert!(!h.contains_key(header::CONTENT_LENGTH));
        let req = Template::new("PUT", "h:1", "/x", &[], None)
            .expect("template")
            .build();
        assert_eq!(req.headers()[header::CONTENT_LENGTH], "0");
        let req = Template::new("POST", "h:1", "/x", &[], Some(Bytes::from("{}")))
            .expect("template")
            .build();
        assert_eq!(req.headers()[header::CONTENT_TYPE], "application/json");
        assert!(Template::new("G T", "h:1", "/", &[], None).is_err());
        assert!(Template::new("GET", "h:1", "/a b", &[], None).is_err());
        assert!(parse_header_arg("no-colon").is_err());
        assert!(parse_header_arg("bad name: v").is_err());
        assert!(parse_header_arg("Content-Length: 3").is_err());
        assert_eq!(
            parse_header_arg("Authorization:  Bearer abc ").expect("header"),
            ("Authorization".to_owned(), "Bearer abc".to_owned())
        );
        assert_eq!(percent_encode("aZ0-._"), "aZ0-._");
        assert_eq!(percent_encode("a+/=?&"), "a%2B%2F%3D%3F%26");
    }

    /// A server answering `responses` in turn on one connection each, then
    /// closing it.
    async fn server(responses: Vec<&'static str>) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            for response in responses {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = sock.write_all(response.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_client_reconnects_after_the_server_closes() {
        let addr = server(vec![
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ])
        .await;
        let url = HttpUrl::parse(&format!("http://{addr}/x")).expect("url");
        let mut c = Client::with_timeout(addr, Duration::from_secs(5));
        let (status, body) = c
            .send(url.request("GET", &[], None).expect("req"))
            .await
            .expect("first");
        assert_eq!((status, &body[..]), (200, &b"ok"[..]));
        let status = c
            .status(url.request("GET", &[], None).expect("req"))
            .await
            .expect("second, on a new connection");
        assert_eq!(status, 404);
        assert!(
            c.send(url.request("GET", &[], None).expect("req"))
                .await
                .is_err()
        );
    }
}

//! The HTTP server loop: hyper's connection builder with the limits
//! `axum::serve` does not expose.
//!
//! - A header-read timeout: a client that sends half its headers and stops
//!   is cut off, instead of holding a connection for ever.
//! - At most `max_connections` open connections (WebSockets included, for as
//!   long as they live); one over the limit gets a JSON 503 and is closed.
//! - Errors hyper answers itself, before any handler runs (400 for a broken
//!   request, 414 for a URI over 64 KiB, 431 for headers over the buffer),
//!   carry the API's JSON error body instead of an empty one.
//! - Graceful shutdown: stop accepting, let open requests finish.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// hyper's read buffer, and so the largest request head (request line and
/// headers) it takes; one over it gets the JSON 431.
pub const MAX_HEAD_BYTES: usize = 96 * 1024;

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Time a client has to send a request's headers.
    pub header_read_timeout: Duration,
    /// Open connections per node.
    pub max_connections: usize,
    /// hyper's read buffer: the largest request head it accepts.
    pub max_head_bytes: usize,
}

/// Serves `router` on `listener` until `stop` turns true, then waits for
/// the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192));
    builder.http2().timer(TokioTimer::new());
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: let it pass.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        // Chat frames and acks are small writes: without TCP_NODELAY, Nagle's
        // algorithm holds one back until the peer's delayed ACK (~40 ms).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse_busy(tcp));
            continue;
        };
        let io = TokioIo::new(Guarded::new(tcp, permit));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            let router = router.clone();
            async move {
                // hyper checks its buffer only while a head is incomplete: one
                // that arrives whole in a single read is measured here.
                if header_bytes(req.headers()) > MAX_HEADER_BYTES {
                    return Ok(headers_too_large());
                }
                req.extensions_mut().insert(ConnectInfo(remote));
                router.oneshot(req.map(axum::body::Body::new)).await
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, client = %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The error body of a 431, whether hyper or this module answers it.
macro_rules! headers_too_large_body {
    () => {
        r#"{"error":{"code":"headers_too_large","message":"the request headers are too large"}}"#
    };
}
const HEADERS_TOO_LARGE: &str = headers_too_large_body!();

/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

fn header_bytes(headers: &axum::http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

fn headers_too_large() -> axum::response::Response {
    let mut res = axum::response::Response::new(axum::body::Body::from(HEADERS_TOO_LARGE));
    *res.status_mut() = axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    res
}

/// The answer to a connection over `max_connections`.
async fn refuse_busy(mut tcp: TcpStream) {
    let body = r#"{"error":{"code":"unavailable","message":"the server has too many open connections; try again shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// What hyper writes when it refuses a request head itself: a status line
/// and headers with `content-length: 0`. Which of them get a JSON body.
fn hyper_refusal(head: &[u8]) -> Option<&'static [u8]> {
    const PREFIX: &[u8] = b"HTTP/1.1 ";
    if !head.starts_with(PREFIX) || !contains(head, b"\r\ncontent-length: 0\r\n") {
        return None;
    }
    let refusal: &'static [u8] = match head.get(PREFIX.len()..PREFIX.len() + 4)? {
        b"400 " => concat!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n",
            "content-length: 82\r\n\r\n",
            r#"{"error":{"code":"bad_request","message":"the request could not be read as HTTP"}}"#
        )
        .as_bytes(),
        b"414 " => concat!(
            "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\nconnection: close\r\n",
            "content-length: 77\r\n\r\n",
            r#"{"error":{"code":"uri_too_long","message":"the request address is too long"}}"#
        )
        .as_bytes(),
        b"431 " => concat!(
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n",
            "connection: close\r\ncontent-length: 84\r\n\r\n",
            headers_too_large_body!()
        )
        .as_bytes(),
        _ => return None,
    };
    Some(refusal)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A connection that holds its slot of `max_connections` for as long as it
/// lives (an upgraded WebSocket keeps it), and that puts the JSON body into
/// hyper's own refusals.
struct Guarded {
    tcp: TcpStream,
    _permit: OwnedSemaphorePermit,
    /// A refusal being written in place of hyper's, and how much is out.
    replacing: Option<(&'static [u8], usize)>,
}

impl Guarded {
    fn new(tcp: TcpStream, permit: OwnedSemaphorePermit) -> Self {
        Guarded {
            tcp,
            _permit: permit,
            replacing: None,
        }
    }

    /// Writes what is left of a replacement; Ready once it is all out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = self.replacing {
            if done == bytes.len() {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.tcp).poll_write(cx, &bytes[done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.replacing = Some((bytes, done + n)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none()
            && let Some(refusal) = hyper_refusal(buf)
        {
            this.replacing = Some((refusal, 0));
        }
        if this.replacing.is_some() {
            // Everything hyper writes after its refusal is dropped: the
            // replacement says all there is, and the connection closes.
            return match this.drain(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty());
        if this.replacing.is_none()
            && let Some(refusal) = first.and_then(|b| hyper_refusal(b))
        {
            this.replacing = Some((refusal, 0));
        }
        if this.replacing.is_some() {
            let total = bufs.iter().map(|b| b.len()).sum();
            return match this.drain(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(total)),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_refusals_get_a_json_body_of_the_length_they_declare() {
        for (status, head) in [
            (
                "400",
                "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n",
            ),
            (
                "414",
                "HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n",
            ),
            (
                "431",
                "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n",
            ),
        ] {
            let out = hyper_refusal(head.as_bytes()).expect(status);
            let text = std::str::from_utf8(out).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            let declared: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(declared, body.len(), "{status}: {body}");
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(v["error"]["code"].is_string(), "{body}");
        }
        // The API's own answers pass untouched.
        for head in [
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 57\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
        ] {
            assert!(hyper_refusal(head.as_bytes()).is_none(), "{head}");
        }
    }
}

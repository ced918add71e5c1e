//! What the server does below the API: slow and half-sent requests are cut
//! off, connections are limited, oversized heads get JSON errors, Socket.IO
//! WebSocket messages are capped, and the security headers are on every
//! answer. Spoken over raw TCP and WebSocket, as an attacker would.
//! (None of it depends on the backends, so only the embedded ones are used.)

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

use crate::helpers::{Backend, TestApp};

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `within` passes: None).
async fn read_to_close(tcp: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The status and JSON body of a raw HTTP/1.1 answer.
fn parse_answer(raw: &str) -> (u16, Value) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: body {body:?}"));
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_are_cut_off() {
    let app = TestApp::spawn_with(Backend::Embedded, |s| s.header_read_timeout_secs = 1).await;
    let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let closed = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "a connection with half-sent headers stayed open past the header-read timeout"
    );
    // Whole requests are still answered.
    app.get("/health", None).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowly_sent_body_gets_408_with_the_error_body() {
    let app = TestApp::spawn_with(Backend::Embedded, |s| s.request_timeout_secs = 1).await;
    let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
    tcp.write_all(
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"login\":",
    )
    .await
    .unwrap();
    // The rest never comes.
    let raw = read_to_close(&mut tcp, Duration::from_secs(5))
        .await
        .expect("the server kept waiting for the body past the request timeout");
    let (status, body) = parse_answer(&raw);
    assert_eq!(status, 408, "{raw}");
    assert_eq!(body["error"]["code"], "request_timeout", "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_get_503_until_one_closes() {
    let app = TestApp::spawn_with(Backend::Embedded, |s| s.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    // Give the server a moment to accept all three.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr(&app)).await.unwrap();
    let raw = read_to_close(&mut extra, Duration::from_secs(5))
        .await
        .expect("the connection over the limit was neither answered nor closed");
    let (status, body) = parse_answer(&raw);
    assert_eq!(status, 503, "{raw}");
    assert_eq!(body["error"]["code"], "unavailable", "{raw}");
    assert!(raw.to_ascii_lowercase().contains("retry-after: 1"), "{raw}");
    // A closed connection frees its slot.
    drop(held.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
        tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let raw = read_to_close(&mut tcp, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        if raw.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the freed slot was not reused: {raw}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_get_json_errors() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let long_uri = format!("/health?x={}", "a".repeat(70_000));
    let huge_header = "b".repeat(120_000);
    let malformed = "GET /health HTTP/1.1\r\nHost x\r\n\r\n".to_owned();
    for (request, expected, code) in [
        (
            format!("GET {long_uri} HTTP/1.1\r\nHost: x\r\n\r\n"),
            414,
            "uri_too_long",
        ),
        (
            format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {huge_header}\r\n\r\n"),
            431,
            "headers_too_large",
        ),
        (malformed, 400, "bad_request"),
    ] {
        let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
        // The server may answer (and close) before it has read everything.
        let _ = tcp.write_all(request.as_bytes()).await;
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("no answer")
            .unwrap_or(0);
        let raw = String::from_utf8_lossy(&buf[..n]).into_owned();
        let (status, body) = parse_answer(&raw);
        assert_eq!(status, expected, "{code}: {}", &raw[..raw.len().min(300)]);
        assert_eq!(body["error"]["code"], code, "{raw}");
        assert!(
            raw.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{raw}"
        );
    }
    app.get("/health", None).await.assert_status(200);
}

/// Opens an unauthenticated Engine.IO WebSocket and reads its open packet.
async fn engine_io_socket(app: &TestApp) -> Ws {
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", addr(app));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("an open packet")
        .expect("a message")
        .unwrap();
    assert!(open.to_text().unwrap_or("").starts_with('0'), "{open:?}");
    ws
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Whether the server closes `ws` within `within` (reading what comes first).
async fn closed_within(ws: &mut Ws, within: Duration) -> bool {
    let closed = async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(within, closed).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_websocket_messages_are_capped_at_64_kib() {
    let app = TestApp::spawn(Backend::Embedded).await;

    // An unfinished message: a first fragment over the limit, never ended.
    let mut ws = engine_io_socket(&app).await;
    let mut header = FrameHeader {
        is_final: false,
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    header.mask = Some([1, 2, 3, 4]);
    let frame = Frame::from_payload(header, vec![b'4'; 100 * 1024].into());
    let _ = ws.send(Message::Frame(frame)).await;
    let closed = closed_within(&mut ws, Duration::from_secs(5)).await;
    assert!(
        closed,
        "the server held a 100 KiB unfinished WebSocket message"
    );

    // A whole message over the limit is refused too.
    let mut ws = engine_io_socket(&app).await;
    let big = format!("42{}", json!(["typing", {"x": "y".repeat(100 * 1024)}]));
    let _ = ws.send(Message::text(big)).await;
    let closed = closed_within(&mut ws, Duration::from_secs(5)).await;
    assert!(closed, "a 100 KiB WebSocket message was taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_nosniff_and_the_app_has_a_strict_policy() {
    let app = TestApp::spawn(Backend::Embedded).await;
    for path in [
        "/health",
        "/api/feed/public",
        "/api/nope",
        "/",
        "/favicon.svg",
    ] {
        let r = app.get(path, None).await;
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert!(r.header("referrer-policy").is_some(), "{path}");
    }
    let page = app.get("/", None).await;
    let csp = page
        .header("content-security-policy")
        .expect("a CSP on the app");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    // No HSTS over plain http.
    assert!(page.header("strict-transport-security").is_none());
}

/// Behind a proxy, the client is the rightmost address the proxy did not
/// add itself: one that writes its own `X-Forwarded-For` first hops cannot
/// escape a per-address limit by changing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_does_not_escape_per_address_limits() {
    let app = TestApp::spawn_with(Backend::Embedded, |s| {
        s.trust_proxy = true;
        s.login_max_per_ip = 3;
    })
    .await;
    let login = |forwarded: String| {
        app.request(reqwest::Method::POST, "/api/auth/login", None)
            .header("x-forwarded-for", forwarded)
            .json(&json!({"login": "nobody", "password": "whatever1"}))
    };
    // The proxy (this host) appended the real client, 203.0.113.9; what is
    // left of it is whatever the client sent.
    for i in 0..3 {
        app.send(login(format!("10.0.0.{i}, 203.0.113.9")))
            .await
            .assert_error(401, "invalid_credentials");
    }
    app.send(login("10.0.0.200, 203.0.113.9".into()))
        .await
        .assert_error(429, "rate_limited");
    // Another client behind the same proxy is not held back.
    app.send(login("203.0.113.10".into()))
        .await
        .assert_error(401, "invalid_credentials");
}

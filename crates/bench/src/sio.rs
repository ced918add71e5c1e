//! A minimal Socket.IO client: protocol v5 over Engine.IO v4, WebSocket
//! transport only, default namespace, text packets only.
//!
//! Engine.IO packets are one WebSocket text frame each: a type digit and
//! the data (`0` open, `1` close, `2` ping, `3` pong, `4` message, `6` noop).
//! A `4` carries a Socket.IO packet: a type digit (`0` connect, `1`
//! disconnect, `2` event, `3` ack, `4` connect error; `5`/`6` are binary,
//! unsupported), an optional `/namespace,`, an optional ack id, then JSON.
//! The server pings (`2`) every pingInterval; the client answers `3`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The Socket.IO endpoint, as Starling and the Node peer serve it.
pub const SOCKET_PATH: &str = "/socket.io/";
/// Read chunk of a connection: small, so that thousands of idle
/// connections cost this tool little memory (tungstenite's default is
/// 128 KiB).
const READ_CHUNK: usize = 4096;

/// One Engine.IO packet, borrowed from the frame it came in.
#[derive(Debug, PartialEq, Eq)]
pub enum EioPacket<'a> {
    /// `0{json}`: the handshake (sid, pingInterval, ...).
    Open(&'a str),
    Close,
    /// `2`, possibly with data (`2probe`); answered with `3` + the data.
    Ping(&'a str),
    Pong(&'a str),
    Message(SioPacket<'a>),
    Upgrade,
    Noop,
}

/// One Socket.IO packet (namespace `/` only).
#[derive(Debug, PartialEq, Eq)]
pub enum SioPacket<'a> {
    /// `0{json}`: the connect answer, `{"sid": ...}`.
    Connect(&'a str),
    Disconnect,
    /// `2[id]["name", args...]`: `data` is the JSON array.
    Event {
        ack: Option<u64>,
        data: &'a str,
    },
    /// `3id[args...]`.
    Ack {
        id: u64,
        data: &'a str,
    },
    /// `4{json}`: the connection was refused, `{"message": ...}`.
    ConnectError(&'a str),
}

/// Decodes one Engine.IO text frame.
pub fn decode(frame: &str) -> anyhow::Result<EioPacket<'_>> {
    let mut chars = frame.chars();
    let kind = chars
        .next()
        .ok_or_else(|| anyhow!("empty Engine.IO packet"))?;
    let rest = chars.as_str();
    Ok(match kind {
        '0' => EioPacket::Open(rest),
        '1' => EioPacket::Close,
        '2' => EioPacket::Ping(rest),
        '3' => EioPacket::Pong(rest),
        '4' => EioPacket::Message(decode_sio(rest)?),
        '5' => EioPacket::Upgrade,
        '6' => EioPacket::Noop,
        other => bail!("unknown Engine.IO packet type {other:?}"),
    })
}

fn decode_sio(packet: &str) -> anyhow::Result<SioPacket<'_>> {
    let mut chars = packet.chars();
    let kind = chars
        .next()
        .ok_or_else(|| anyhow!("empty Socket.IO packet"))?;
    let mut rest = chars.as_str();
    if matches!(kind, '5' | '6') {
        bail!("binary Socket.IO packets are not supported");
    }
    if rest.starts_with('/') {
        let (nsp, after) = rest
            .split_once(',')
            .ok_or_else(|| anyhow!("namespace without a comma: {packet:?}"))?;
        if nsp != "/" {
            bail!("packet for namespace {nsp}, only / is used");
        }
        rest = after;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (id, data) = rest.split_at(digits);
    let id: Option<u64> = if id.is_empty() {
        None
    } else {
        Some(id.parse().context("ack id out of range")?)
    };
    Ok(match kind {
        '0' => SioPacket::Connect(data),
        '1' => SioPacket::Disconnect,
        '2' => SioPacket::Event { ack: id, data },
        '3' => SioPacket::Ack {
            id: id.ok_or_else(|| anyhow!("ack without an id: {packet:?}"))?,
            data,
        },
        '4' => SioPacket::ConnectError(data),
        other => bail!("unknown Socket.IO packet type {other:?}"),
    })
}

/// `40{"token":"..."}`: connect to `/` with `auth: {token}`.
pub fn encode_connect(token: &str) -> String {
    format!("40{}", serde_json::json!({ "token": token }))
}

/// `42["name",payload]`, or `42<ack>["name",payload]` to ask for an ack.
pub fn encode_event(name: &str, payload: &serde_json::Value, ack: Option<u64>) -> String {
    let array = serde_json::Value::Array(vec![name.into(), payload.clone()]);
    match ack {
        Some(id) => format!("42{id}{array}"),
        None => format!("42{array}"),
    }
}

/// The name of an event from its JSON array, without parsing the rest:
/// `["receive-message",{...}]` -> `receive-message`. Names with escapes
/// fall back to a full parse.
pub fn event_name(data: &str) -> Option<Cow<'_, str>> {
    let body = data.strip_prefix("[\"")?;
    let end = body.find('"')?;
    let name = body.get(..end)?;
    if !name.contains('\\') {
        return Some(Cow::Borrowed(name));
    }
    let v: Vec<serde_json::Value> = serde_json::from_str(data).ok()?;
    v.first()?.as_str().map(|s| Cow::Owned(s.to_owned()))
}

/// The first argument of an event array or an ack array, deserialized.
pub fn first_arg<'a, T: Deserialize<'a>>(data: &'a str, is_event: bool) -> anyhow::Result<T> {
    if is_event {
        let (_, arg): (serde::de::IgnoredAny, T) = serde_json::from_str(data)?;
        Ok(arg)
    } else {
        let (arg,): (T,) = serde_json::from_str(data)?;
        Ok(arg)
    }
}

#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "pingInterval")]
    ping_interval: u64,
}

/// What [`SioClient::recv`] returns.
pub enum Incoming {
    /// An event: the whole frame; decode it again with [`decode`] (cheap:
    /// it only borrows) to get at the data.
    Event(tokio_tungstenite::tungstenite::Utf8Bytes),
    /// An ack: its id and the whole frame.
    Ack(u64, tokio_tungstenite::tungstenite::Utf8Bytes),
}

/// An open Socket.IO connection to namespace `/`.
pub struct SioClient {
    ws: WebSocketStream<TcpStream>,
    /// The server's ping interval, from the open packet.
    pub ping_interval: Duration,
    /// Engine.IO pings answered.
    pub pings: u64,
}

impl SioClient {
    /// Opens `ws://authority/socket.io/?EIO=4&transport=websocket` on
    /// `addr`, reads the open packet, connects to `/` with `auth: {token}`
    /// and waits for the server's connect (an error on connect_error).
    pub async fn connect(addr: SocketAddr, authority: &str, token: &str) -> anyhow::Result<Self> {
        let mut client = Self::open(addr, authority).await?;
        client.send_text(encode_connect(token)).await?;
        loop {
            let frame = client
                .next_text()
                .await?
                .ok_or_else(|| anyhow!("closed before the connect answer"))?;
            match decode(&frame)? {
                EioPacket::Message(SioPacket::Connect(_)) => return Ok(client),
                EioPacket::Message(SioPacket::ConnectError(why)) => {
                    bail!("connect_error: {why}")
                }
                EioPacket::Ping(data) => client.pong(data).await?,
                EioPacket::Close | EioPacket::Message(SioPacket::Disconnect) => {
                    bail!("the server closed the connection while connecting")
                }
                _ => {}
            }
        }
    }

    /// Only the Engine.IO part: the WebSocket and the open packet, no
    /// Socket.IO connect (for telling the transport's memory from the
    /// namespace socket's).
    pub async fn open(addr: SocketAddr, authority: &str) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(addr).await.context("connect")?;
        tcp.set_nodelay(true)?;
        let url = format!("ws://{authority}{SOCKET_PATH}?EIO=4&transport=websocket");
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_CHUNK)
            .write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(config))
            .await
            .context("WebSocket handshake")?;
        let mut client = Self {
            ws,
            ping_interval: Duration::from_secs(25),
            pings: 0,
        };
        let open = client
            .next_text()
            .await?
            .ok_or_else(|| anyhow!("closed before the open packet"))?;
        match decode(&open)? {
            EioPacket::Open(json) => {
                let h: Handshake = serde_json::from_str(json)
                    .with_context(|| format!("bad open packet {json}"))?;
                client.ping_interval = Duration::from_millis(h.ping_interval);
            }
            _ => bail!("expected the open packet, got {open:?}"),
        }
        Ok(client)
    }

    async fn pong(&mut self, data: &str) -> anyhow::Result<()> {
        self.pings += 1;
        self.send_text(format!("3{data}")).await
    }

    async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .context("sending")
    }

    /// The next text frame; None when the connection closed.
    async fn next_text(
        &mut self,
    ) -> anyhow::Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>> {
        loop {
            match self.ws.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(anyhow!("reading: {e}")),
                Some(Ok(Message::Text(t))) => return Ok(Some(t)),
                Some(Ok(Message::Close(_))) => return Ok(None),
                // WebSocket pings are answered by tungstenite itself.
                Some(Ok(_)) => {}
            }
        }
    }

    /// Emits `name` with `payload`, asking for an ack with id `ack`.
    pub async fn emit(
        &mut self,
        name: &str,
        payload: &serde_json::Value,
        ack: Option<u64>,
    ) -> anyhow::Result<()> {
        self.send_text(encode_event(name, payload, ack)).await
    }

    /// Emits an already encoded `42...` packet.
    pub async fn emit_raw(&mut self, packet: String) -> anyhow::Result<()> {
        self.send_text(packet).await
    }

    /// The next event or ack, answering pings meanwhile; None once the
    /// server closed the connection (or disconnected the socket).
    /// Cancel-safe between frames.
    pub async fn recv(&mut self) -> anyhow::Result<Option<Incoming>> {
        loop {
            let Some(frame) = self.next_text().await? else {
                return Ok(None);
            };
            let ping = match decode(&frame)? {
                EioPacket::Message(SioPacket::Event { .. }) => {
                    return Ok(Some(Incoming::Event(frame)));
                }
                EioPacket::Message(SioPacket::Ack { id, .. }) => {
                    return Ok(Some(Incoming::Ack(id, frame)));
                }
                EioPacket::Close | EioPacket::Message(SioPacket::Disconnect) => {
                    return Ok(None);
                }
                EioPacket::Ping(data) => Some(data.to_owned()),
                _ => None,
            };
            if let Some(data) = ping {
                self.pong(&data).await?;
            }
        }
    }

    /// Sends an emit and waits for its ack (answering pings; other events
    /// are dropped): the ack's frame.
    pub async fn call(
        &mut self,
        name: &str,
        payload: &serde_json::Value,
        ack: u64,
        timeout: Duration,
    ) -> anyhow::Result<tokio_tungstenite::tungstenite::Utf8Bytes> {
        self.emit(name, payload, Some(ack)).await?;
        let wait = async {
            loop {
                match self.recv().await? {
                    Some(Incoming::Ack(id, frame)) if id == ack => return Ok(frame),
                    Some(_) => {}
                    None => bail!("the server closed the connection before the ack of {name}"),
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| anyhow!("no ack to {name} within {timeout:?}"))?
    }

    /// Closes the WebSocket politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The data of an ack frame (`43<id>[...]`), or of an event frame.
pub fn frame_data(frame: &str) -> Option<&str> {
    match decode(frame).ok()? {
        EioPacket::Message(SioPacket::Ack { data, .. } | SioPacket::Event { data, .. }) => {
            Some(data)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_engine_io_packets() {
        assert_eq!(
            decode(r#"0{"sid":"a","pingInterval":25000}"#).expect("open"),
            EioPacket::Open(r#"{"sid":"a","pingInterval":25000}"#)
        );
        assert_eq!(decode("2").expect("ping"), EioPacket::Ping(""));
        assert_eq!(decode("2probe").expect("ping"), EioPacket::Ping("probe"));
        assert_eq!(decode("3").expect("pong"), EioPacket::Pong(""));
        assert_eq!(decode("1").expect("close"), EioPacket::Close);
        assert_eq!(decode("6").expect("noop"), EioPacket::Noop);
        assert!(decode("").is_err());
        assert!(decode("9").is_err());
    }

    #[test]
    fn decodes_socket_io_packets() {
        assert_eq!(
            decode(r#"40{"sid":"xyz"}"#).expect("connect"),
            EioPacket::Message(SioPacket::Connect(r#"{"sid":"xyz"}"#))
        );
        assert_eq!(
            decode(r#"44{"message":"unauthorized"}"#).expect("error"),
            EioPacket::Message(SioPacket::ConnectError(r#"{"message":"unauthorized"}"#))
        );
        assert_eq!(
            decode(r#"42["receive-message",{"id":"1"}]"#).expect("event"),
            EioPacket::Message(SioPacket::Event {
                ack: None,
                data: r#"["receive-message",{"id":"1"}]"#
            })
        );
        assert_eq!(
            decode(r#"4217["send-message",{}]"#).expect("event with ack"),
            EioPacket::Message(SioPacket::Event {
                ack: Some(17),
                data: r#"["send-message",{}]"#
            })
        );
        assert_eq!(
            decode(r#"43123[{"message":{"id":"9"}}]"#).expect("ack"),
            EioPacket::Message(SioPacket::Ack {
                id: 123,
                data: r#"[{"message":{"id":"9"}}]"#
            })
        );
        // An explicit default namespace is accepted, others are not.
        assert_eq!(
            decode(r#"42/,5["x",1]"#).expect("nsp"),
            EioPacket::Message(SioPacket::Event {
                ack: Some(5),
                data: r#"["x",1]"#
            })
        );
        assert!(decode(r#"42/admin,["x"]"#).is_err());
        assert_eq!(
            decode("41").expect("disconnect"),
            EioPacket::Message(SioPacket::Disconnect)
        );
        assert!(decode("43[]").is_err(), "an ack needs an id");
        assert!(decode(r#"451-["x",{"_placeholder":true,"num":0}]"#).is_err());
    }

    #[test]
    fn encodes_packets() {
        assert_eq!(encode_connect("abc"), r#"40{"token":"abc"}"#);
        assert_eq!(
            encode_connect("a\"b"),
            r#"40{"token":"a\"b"}"#,
            "the token is JSON-escaped"
        );
        let payload = serde_json::json!({"roomId": "7"});
        assert_eq!(
            encode_event("join-room", &payload, None),
            r#"42["join-room",{"roomId":"7"}]"#
        );
        assert_eq!(
            encode_event("join-room", &payload, Some(12)),
            r#"4212["join-room",{"roomId":"7"}]"#
        );
        // What we encode decodes back.
        let frame = encode_event("send-message", &payload, Some(3));
        assert_eq!(
            decode(&frame).expect("decode"),
            EioPacket::Message(SioPacket::Event {
                ack: Some(3),
                data: r#"["send-message",{"roomId":"7"}]"#
            })
        );
    }

    #[test]
    fn reads_event_names_and_arguments() {
        let data = r#"["receive-message",{"id":"1","text":"hi \"there\""}]"#;
        assert_eq!(event_name(data).as_deref(), Some("receive-message"));
        assert_eq!(
            event_name(r#"["we\"ird",1]"#).as_deref(),
            Some("we\"ird"),
            "escaped names are parsed fully"
        );
        assert_eq!(event_name("[1]"), None);

        #[derive(Deserialize)]
        struct Msg<'a> {
            #[serde(borrow)]
            text: Cow<'a, str>,
        }
        let m: Msg = first_arg(data, true).expect("event arg");
        assert_eq!(m.text, "hi \"there\"");
        let ack = r#"[{"text":"ok"}]"#;
        let m: Msg = first_arg(ack, false).expect("ack arg");
        assert_eq!(m.text, "ok");
        assert_eq!(
            frame_data(r#"437[{"text":"ok"}]"#),
            Some(r#"[{"text":"ok"}]"#)
        );
    }

    /// A one-connection server speaking the server side of the protocol:
    /// open packet, connect (or connect_error for the token "bad"), a ping
    /// that must be answered, then an ack and an event for each emit.
    async fn fake_server() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.expect("accept");
                tokio::spawn(async move {
                    let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws");
                    let text = |s: &str| Message::Text(s.to_owned().into());
                    ws.send(text(r#"0{"sid":"e1","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}"#))
                        .await
                        .expect("open");
                    let Some(Ok(Message::Text(connect))) = ws.next().await else {
                        panic!("no connect packet");
                    };
                    if connect.as_str() == r#"40{"token":"bad"}"# {
                        ws.send(text(r#"44{"message":"unauthorized: bad token"}"#))
                            .await
                            .expect("refuse");
                        return;
                    }
                    assert_eq!(connect.as_str(), r#"40{"token":"good"}"#);
                    ws.send(text(r#"40{"sid":"s1"}"#)).await.expect("connect");
                    ws.send(text("2")).await.expect("ping");
                    while let Some(Ok(Message::Text(t))) = ws.next().await {
                        match decode(&t).expect("client packet") {
                            EioPacket::Pong(_) => {}
                            EioPacket::Message(SioPacket::Event {
                                ack: Some(id),
                                data,
                            }) => {
                                let name = event_name(data).expect("name").into_owned();
                                ws.send(text(&format!(r#"42["other",{{"name":"{name}"}}]"#)))
                                    .await
                                    .expect("event");
                                ws.send(text(&format!(r#"43{id}[{{"ok":true}}]"#)))
                                    .await
                                    .expect("ack");
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn connects_answers_pings_and_gets_acks() {
        let addr = fake_server().await;
        let mut c = SioClient::connect(addr, "test", "good")
            .await
            .expect("connect");
        assert_eq!(c.ping_interval, Duration::from_millis(300));
        let frame = c
            .call(
                "join-room",
                &serde_json::json!({"roomId": "1"}),
                5,
                Duration::from_secs(5),
            )
            .await
            .expect("ack");
        assert_eq!(frame_data(&frame), Some(r#"[{"ok":true}]"#));
        assert_eq!(c.pings, 1, "the server's ping was answered");
        c.emit("typing", &serde_json::json!({}), Some(6))
            .await
            .expect("emit");
        let Some(Incoming::Event(ev)) = c.recv().await.expect("recv") else {
            panic!("expected the event first");
        };
        assert_eq!(frame_data(&ev), Some(r#"["other",{"name":"typing"}]"#));
        let Some(Incoming::Ack(6, _)) = c.recv().await.expect("recv") else {
            panic!("expected ack 6");
        };
        c.close().await;

        let refused = SioClient::connect(addr, "test", "bad").await;
        let err = refused.err().expect("refused").to_string();
        assert!(
            err.contains("connect_error") && err.contains("bad token"),
            "{err}"
        );
    }
}

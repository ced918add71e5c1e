//! Chat over Socket.IO (socketioxide) at `/socket.io`: the transport only.
//! The handshake signs the socket in, each event's payload is decoded and
//! handed to the chat service, and its answer (or error) is the ack. What
//! others hear of a change, the service announces through the fan-out
//! ([`crate::fanout`]). The wire contract is `docs/chat.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide_core::adapter::DefinedAdapter;
use starling_core::id::TokenFamilyId;
use starling_core::{Error, MessageId, RoomId, Timestamp, UserId};
use starling_services::chat::Destination;
use starling_services::jwt::Verified;

use crate::dto::{ChatMessage, ChatRoom, ReadMark, rfc3339};
use crate::error::error_code;
use crate::extract::{ACCESS_COOKIE, bearer_token, cookie};
use crate::fanout::{room_channel, user_channel};
use crate::state::AppState;

/// Why a handshake was refused; its text is the `connect_error` message.
#[derive(Debug)]
pub struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

#[derive(Deserialize)]
struct HandshakeAuth {
    token: Option<String>,
}

/// The session a socket signed in with. Its expiry moves on when the client
/// sends a fresh token in an `auth` event.
pub struct SocketSession {
    user: UserId,
    family: Option<TokenFamilyId>,
    expires_at: AtomicI64,
}

/// The session of a handshake: `auth.token`, a Bearer header, or the session
/// cookie (then only from our own origin, against cross-site hijacking).
async fn authenticate(
    st: &AppState,
    parts: &axum::http::request::Parts,
    auth: Option<HandshakeAuth>,
) -> Result<Verified, Refused> {
    let verify = |token: String| async move {
        st.services
            .sessions
            .authenticate(&token)
            .await
            .map_err(|e| Refused(format!("unauthorized: {e}")))
    };
    if let Some(token) = auth.and_then(|a| a.token).filter(|t| !t.is_empty()) {
        return verify(token).await;
    }
    if let Some(token) = bearer_token(parts).map_err(|e| Refused(format!("unauthorized: {e}")))? {
        return verify(token.to_owned()).await;
    }
    if let Some(token) = cookie(parts, ACCESS_COOKIE).filter(|t| !t.is_empty()) {
        if !same_origin(st, parts) {
            return Err(Refused(
                "unauthorized: cookie sign-in is accepted only from this site's pages".into(),
            ));
        }
        return verify(token.to_owned()).await;
    }
    Err(Refused(
        "unauthorized: sign in first (auth.token, a Bearer header or the session cookie)".into(),
    ))
}

fn same_origin(st: &AppState, parts: &axum::http::request::Parts) -> bool {
    use axum::http::header;
    let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true; // not a browser page: no ambient cookie risk
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let bare = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or(origin);
    bare == host || st.config.cors_origins.iter().any(|o| o == origin)
}

fn error_json(e: &Error) -> Value {
    let message = match e {
        Error::Internal(cause) => {
            tracing::error!(error = %cause, "chat event failed");
            "internal error".to_owned()
        }
        other => other.to_string(),
    };
    json!({"error": {"code": error_code(e), "message": message}})
}

/// Decodes an event payload, naming the field at fault.
fn payload<T: DeserializeOwned>(data: Result<Value, impl std::fmt::Display>) -> Result<T, Error> {
    let value = data.map_err(|e| Error::field("payload", format!("could not be read: {e}")))?;
    if !value.is_object() {
        return Err(Error::field("payload", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Error::field(&path, e.into_inner().to_string())
    })
}

#[derive(Deserialize)]
struct AuthPayload {
    token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartnerPayload {
    partner_id: UserId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoomPayload {
    room_id: RoomId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendPayload {
    room_id: Option<RoomId>,
    partner_id: Option<UserId>,
    text: String,
    client_msg_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypingPayload {
    room_id: RoomId,
    typing: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MarkPayload {
    room_id: RoomId,
    message_id: MessageId,
}

/// Registers the namespace `/` on `io`. A remote adapter's result must be
/// awaited (it subscribes to the other nodes).
pub fn install<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, st: AppState) -> A::InitRes {
    let st = Arc::new(st);
    let auth_state = st.clone();
    // Everything a socket needs is set up here, before the CONNECT answer:
    // the connect handler runs in a task after it, and an event the client
    // emits at once must find its handler registered.
    let middleware =
        move |s: SocketRef<A>, io: SocketIo<A>, TryData(auth): TryData<HandshakeAuth>| {
            let st = auth_state.clone();
            async move {
                let session = authenticate(&st, s.req_parts(), auth.ok()).await?;
                let me = session.user;
                s.extensions.insert(me);
                s.extensions.insert(Arc::new(SocketSession {
                    user: me,
                    family: session.family,
                    expires_at: AtomicI64::new(session.expires_at),
                }));
                s.join(user_channel(me));
                register(&s, io, &st, me);
                // Counted here, in step with the disconnect handler just set.
                if st.services.chat.socket_opened(me) {
                    s.extensions.insert(FirstHere);
                }
                Ok::<(), Refused>(())
            }
        };
    let handler = move |s: SocketRef<A>| {
        let st = st.clone();
        async move { connected(s, st).await }
    };
    use socketioxide::handler::ConnectHandler;
    io.ns("/", handler.with(middleware))
}

/// Registers `event`: decodes the payload as `T`, runs `f` and acks its
/// answer, or `{error: {code, message}}`.
fn on<A, T, F, Fut>(s: &SocketRef<A>, st: &Arc<AppState>, me: UserId, event: &'static str, f: F)
where
    A: Adapter,
    T: DeserializeOwned + Send + 'static,
    F: Fn(Arc<AppState>, SocketRef<A>, UserId, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Error>> + Send + 'static,
{
    let st = st.clone();
    s.on(
        event,
        move |s: SocketRef<A>, TryData(data): TryData<Value>, ack: AckSender<A>| {
            let (st, f) = (st.clone(), f.clone());
            async move {
                // send-message has the chat service's own rate.
                let limited = match event {
                    "send-message" => Ok(()),
                    _ => {
                        let limits = &st.services.limits;
                        let action = starling_services::Action::SocketEvent;
                        limits.check(action, &me.to_string()).await
                    }
                };
                let result = match limited.and_then(|()| payload::<T>(data)) {
                    Ok(p) => f(st, s, me, p).await,
                    Err(e) => Err(e),
                };
                let reply = result.unwrap_or_else(|e| error_json(&e));
                // A client that asked for no ack has nothing to receive.
                let _ = ack.send(&reply);
            }
        },
    );
}

/// Marks the first socket of a user on this node.
#[derive(Clone, Copy)]
struct FirstHere;

/// The first socket of a user on this node announces them online.
async fn connected<A: Adapter>(s: SocketRef<A>, st: Arc<AppState>) {
    let Some(me) = s.extensions.get::<UserId>() else {
        let _ = s.disconnect();
        return;
    };
    if s.extensions.get::<FirstHere>().is_some() {
        st.services.chat.came_online(me).await;
    }
}

/// The socket's event handlers, and its disconnect.
/// Every closure here lives as long as the socket: they hold the state by
/// one shared `Arc`, not by copies of it (memory per connection).
fn register<A: Adapter>(s: &SocketRef<A>, io: SocketIo<A>, st: &Arc<AppState>, me: UserId) {
    let s = s.clone();

    on(
        &s,
        st,
        me,
        "join-chat",
        |st, s, me, p: PartnerPayload| async move {
            let room = st.services.chat.direct(me, p.partner_id).await?;
            s.join(room_channel(room.room.id));
            Ok(json!({"room": ChatRoom::from_view(&room, &st.config.public_url)}))
        },
    );
    on(
        &s,
        st,
        me,
        "join-room",
        |st, s, me, p: RoomPayload| async move {
            let room = st.services.chat.room(me, p.room_id).await?;
            s.join(room_channel(room.room.id));
            Ok(json!({
                "room": ChatRoom::from_view(&room, &st.config.public_url),
                "unreadCount": room.unread,
            }))
        },
    );
    on(
        &s,
        st,
        me,
        "leave-room",
        |_st, s, _me, p: RoomPayload| async move {
            s.leave(room_channel(p.room_id));
            Ok(json!({"ok": true}))
        },
    );
    on(
        &s,
        st,
        me,
        "send-message",
        |st, _s, me, p: SendPayload| async move {
            let to = match (p.room_id, p.partner_id) {
                (Some(room), None) => Destination::Room(room),
                (None, Some(partner)) => Destination::Partner(partner),
                _ => {
                    return Err(Error::field("roomId", "give either roomId or partnerId"));
                }
            };
            let sent = st
                .services
                .chat
                .send(me, to, &p.text, &p.client_msg_id)
                .await?;
            Ok(json!({"message": ChatMessage::from_view(&sent.message, &st.config.public_url)}))
        },
    );
    on(
        &s,
        st,
        me,
        "typing",
        |st, s, me, p: TypingPayload| async move {
            let channel = room_channel(p.room_id);
            let opened = s.rooms().iter().any(|r| *r == channel);
            st.services
                .chat
                .typing(me, p.room_id, p.typing, opened)
                .await?;
            Ok(json!({"ok": true}))
        },
    );
    on(
        &s,
        st,
        me,
        "read-receipt",
        |st, _s, me, p: MarkPayload| async move {
            let mark = st.services.chat.read(me, p.room_id, p.message_id).await?;
            Ok(json!({"read": ReadMark::from(&mark)}))
        },
    );
    on(&s, st, me, "auth", |st, s, me, p: AuthPayload| async move {
        // A fresh access token keeps the socket open past the old one's
        // expiry; it must be the same user's.
        let v = st.services.sessions.authenticate(&p.token).await?;
        if v.user != me {
            return Err(Error::forbidden("the token is another user's"));
        }
        let Some(session) = s.extensions.get::<Arc<SocketSession>>() else {
            return Err(Error::internal("a socket without its session"));
        };
        session
            .expires_at
            .fetch_max(v.expires_at, Ordering::Relaxed);
        Ok(json!({"ok": true, "expiresAt": rfc3339(Timestamp(v.expires_at * 1000))}))
    });
    on(
        &s,
        st,
        me,
        "delivered",
        |st, _s, me, p: MarkPayload| async move {
            st.services
                .chat
                .delivered(me, p.room_id, p.message_id)
                .await?;
            Ok(json!({"ok": true}))
        },
    );

    let disconnect_state = st.clone();
    s.on_disconnect(move |s: SocketRef<A>| {
        let st = disconnect_state.clone();
        let io = io.clone();
        async move {
            // Asked only if this was the user's last socket here.
            let elsewhere = async {
                match io.to(user_channel(me)).fetch_sockets().await {
                    Ok(sockets) => sockets.iter().any(|r| r.data().id != s.id),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not ask other nodes for sockets");
                        false
                    }
                }
            };
            st.services.chat.socket_closed(me, elsewhere).await;
        }
    });
}

/// How often this node looks for sockets whose token has expired.
const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// Closes this node's sockets whose session ended (on any node) or whose
/// access token expired without an `auth` renewal, telling each client
/// why first (`session-ended` or `session-expired`), until `stop`.
pub async fn police_sessions<A: Adapter>(
    io: SocketIo<A>,
    st: AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ended = st.services.sessions.watch();
    let mut sweep = tokio::time::interval(EXPIRY_SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let close = |s: SocketRef<A>, event: &str| {
        let _ = s.emit(event, &json!({"reason": event}));
        if let Err(e) = s.disconnect() {
            tracing::debug!(error = %e, "closing a socket failed");
        }
    };
    loop {
        tokio::select! {
            _ = sweep.tick() => {
                let now = Timestamp::now().as_secs();
                for s in io.sockets() {
                    let expired = s
                        .extensions
                        .get::<Arc<SocketSession>>()
                        .is_some_and(|x| x.expires_at.load(Ordering::Relaxed) <= now);
                    if expired {
                        close(s, "session-expired");
                    }
                }
            }
            e = ended.recv() => match e {
                Ok(e) => {
                    for s in io.to(user_channel(e.user)).local().sockets() {
                        let ours = s
                            .extensions
                            .get::<Arc<SocketSession>>()
                            .is_some_and(|x| x.user == e.user && x.family == Some(e.family));
                        if ours {
                            close(s, "session-ended");
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "ended sessions came faster than sockets closed");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
    }
}

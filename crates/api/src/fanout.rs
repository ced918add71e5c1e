//! The [`Fanout`] port over Socket.IO: chat events as their wire events
//! (`docs/chat.md`), emitted to channels. Every socket joins its user's
//! channel (`user:{id}`); `join-room` adds the room's (`room:{id}`). With
//! Redis configured the adapter carries both across nodes, so a change made
//! on one node reaches sockets on another.

use async_trait::async_trait;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use starling_core::live::{ChatEvent, Fanout};
use starling_core::{RoomId, UserId};

use crate::dto::{ChatMessage, ChatRoom, Presence, rfc3339};

pub fn user_channel(user: UserId) -> String {
    format!("user:{user}")
}

pub fn room_channel(room: RoomId) -> String {
    format!("room:{room}")
}

/// Emits to sockets wherever they are connected.
pub struct SocketFanout<A: Adapter> {
    io: SocketIo<A>,
    /// For the absolute URLs of avatars in the payloads.
    public_url: String,
}

impl<A: Adapter> SocketFanout<A> {
    pub fn new(io: SocketIo<A>, public_url: String) -> Self {
        SocketFanout { io, public_url }
    }

    /// The event's payload, as `docs/chat.md` describes it.
    fn payload(&self, event: &ChatEvent) -> Value {
        let url = &self.public_url;
        match event {
            ChatEvent::ReceiveMessage(m) => to_json(&ChatMessage::from_view(m, url)),
            ChatEvent::NewMessage(m) => json!({
                "roomId": m.record.room_id.to_string(),
                "message": to_json(&ChatMessage::from_view(m, url)),
            }),
            ChatEvent::MessageRead(mark) => json!({
                "roomId": mark.room_id.to_string(),
                "userId": mark.user_id.to_string(),
                "messageId": mark.message_id.to_string(),
                "readAt": rfc3339(mark.read_at),
            }),
            ChatEvent::MessagesRetracted { room, message_ids } => json!({
                "roomId": room.to_string(),
                "messageIds": message_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
            ChatEvent::RoomUpdated {
                room_id,
                room,
                change,
            } => json!({
                "roomId": room_id.to_string(),
                "room": room.as_ref().map(|r| to_json(&ChatRoom::from_view(r, url))),
                "reason": change.as_str(),
            }),
            ChatEvent::Typing { room, user, typing } => json!({
                "roomId": room.to_string(),
                "userId": user.to_string(),
                "typing": typing,
            }),
            ChatEvent::Presence(status) => to_json(&Presence::from(*status)),
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[async_trait]
impl<A: Adapter> Fanout for SocketFanout<A> {
    async fn to_users(&self, users: &[UserId], event: &ChatEvent) {
        if users.is_empty() {
            return;
        }
        let channels: Vec<String> = users.iter().map(|u| user_channel(*u)).collect();
        let name = event.name();
        if let Err(e) = self.io.to(channels).emit(name, &self.payload(event)).await {
            tracing::debug!(error = %e, event = name, "chat broadcast failed");
        }
    }

    async fn to_room(&self, room: RoomId, event: &ChatEvent, except: Option<UserId>) {
        let name = event.name();
        let to = self.io.to(room_channel(room));
        let to = match except {
            Some(user) => to.except(user_channel(user)),
            None => to,
        };
        if let Err(e) = to.emit(name, &self.payload(event)).await {
            tracing::debug!(error = %e, event = name, "chat broadcast failed");
        }
    }

    async fn leave(&self, users: &[UserId], room: RoomId) {
        if users.is_empty() {
            return;
        }
        let channels: Vec<String> = users.iter().map(|u| user_channel(*u)).collect();
        if let Err(e) = self.io.to(channels).leave(room_channel(room)).await {
            tracing::warn!(error = %e, "could not make sockets leave a room");
        }
    }
}

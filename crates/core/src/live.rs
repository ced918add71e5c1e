//! Live delivery to connected clients: the chat events sent to open sockets,
//! and the [`Fanout`] port that carries them. The services decide who
//! receives what; an adapter only delivers (Socket.IO in the api crate, on
//! every node through its adapter; memory for tests and nodes without
//! sockets).

use async_trait::async_trait;

use crate::model::{MemberRecord, MessageRecord, ReadMark, RoomRecord, UserRecord};
use crate::{MessageId, RoomId, Timestamp, UserId};

/// A message with its sender.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub record: MessageRecord,
    /// None once the sender's account is deleted.
    pub sender: Option<UserRecord>,
}

/// A room as one member sees it.
#[derive(Debug, Clone)]
pub struct RoomView {
    pub room: RoomRecord,
    /// In the order they joined, with their records.
    pub members: Vec<(MemberRecord, UserRecord)>,
    pub last_message: Option<MessageView>,
    /// The viewer's unread messages (0 when broadcast to every member).
    pub unread: i64,
    /// A direct room whose two members are in a block (either way): nobody
    /// can send in it.
    pub read_only: bool,
}

impl RoomView {
    pub fn member_ids(&self) -> Vec<UserId> {
        self.members.iter().map(|(m, _)| m.user_id).collect()
    }
}

/// Whether a user has a chat connection anywhere, and when they last had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnlineStatus {
    pub user: UserId,
    pub online: bool,
    pub last_seen_at: Option<Timestamp>,
}

/// Why a room changed, as `room-updated` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomChange {
    Created,
    Renamed,
    MemberAdded,
    MemberRemoved,
    MemberLeft,
    Deleted,
}

impl RoomChange {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomChange::Created => "created",
            RoomChange::Renamed => "renamed",
            RoomChange::MemberAdded => "member-added",
            RoomChange::MemberRemoved => "member-removed",
            RoomChange::MemberLeft => "left",
            RoomChange::Deleted => "deleted",
        }
    }
}

/// What chat tells connected clients. Each variant is one Socket.IO event;
/// [`ChatEvent::name`] is its name on the wire.
#[derive(Debug, Clone)]
pub enum ChatEvent {
    /// To a room's open sockets: a new message in it.
    ReceiveMessage(MessageView),
    /// To each member, wherever they are: a new message in one of their rooms.
    NewMessage(MessageView),
    /// A member's read mark moved.
    MessageRead(ReadMark),
    /// Messages retracted for everyone.
    MessagesRetracted {
        room: RoomId,
        message_ids: Vec<MessageId>,
    },
    /// A room changed; `room` is None for someone no longer in it.
    RoomUpdated {
        room_id: RoomId,
        room: Option<RoomView>,
        change: RoomChange,
    },
    /// Someone started or stopped typing in a room.
    Typing {
        room: RoomId,
        user: UserId,
        typing: bool,
    },
    /// A contact came online or went offline.
    Presence(OnlineStatus),
}

impl ChatEvent {
    pub fn name(&self) -> &'static str {
        match self {
            ChatEvent::ReceiveMessage(_) => "receive-message",
            ChatEvent::NewMessage(_) => "new-message",
            ChatEvent::MessageRead(_) => "message-read",
            ChatEvent::MessagesRetracted { .. } => "message-retracted",
            ChatEvent::RoomUpdated { .. } => "room-updated",
            ChatEvent::Typing { .. } => "typing",
            ChatEvent::Presence(_) => "presence",
        }
    }
}

/// Delivers chat events to open connections, on every node. Delivery is
/// best effort: a client that was not connected catches up over REST.
#[async_trait]
pub trait Fanout: Send + Sync {
    /// To every connection of each of `users`.
    async fn to_users(&self, users: &[UserId], event: &ChatEvent);
    /// To every connection that opened `room`, except `except`'s own.
    async fn to_room(&self, room: RoomId, event: &ChatEvent, except: Option<UserId>);
    /// `users`' connections stop receiving `room`'s events at once.
    async fn leave(&self, users: &[UserId], room: RoomId);
}

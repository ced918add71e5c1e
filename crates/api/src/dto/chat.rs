//! /api/chat and presence: rooms, messages, read marks (docs/chat.md; the
//! socket events carry the same shapes).

use serde::{Deserialize, Serialize};
use starling_core::live::{MessageView, OnlineStatus, RoomView};
use starling_core::{MessageId, RoomId, UserId};
use utoipa::{IntoParams, ToSchema};

use super::common::{Author, rfc3339};

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub room_id: String,
    /// Null once the sender deleted their account (shown as a deleted user).
    pub sender_id: Option<String>,
    /// Null once the sender deleted their account.
    pub sender: Option<Author>,
    /// Empty once retracted.
    pub text: String,
    pub client_msg_id: String,
    pub retracted: bool,
    pub created_at: String,
}

impl ChatMessage {
    pub fn from_view(v: &MessageView, public_url: &str) -> Self {
        ChatMessage {
            id: v.record.id.to_string(),
            room_id: v.record.room_id.to_string(),
            sender_id: v.sender.as_ref().map(|s| s.id.to_string()),
            sender: v
                .sender
                .as_ref()
                .map(|s| Author::from_record(s, public_url)),
            text: v.record.text.clone(),
            client_msg_id: v.record.client_msg_id.clone(),
            retracted: v.record.retracted_at.is_some(),
            created_at: rfc3339(v.record.created_at),
        }
    }
}

/// A member's read receipt: everything up to `messageId` is read.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadMark {
    pub user_id: String,
    pub message_id: String,
    pub read_at: String,
}

impl From<&starling_core::model::ReadMark> for ReadMark {
    fn from(m: &starling_core::model::ReadMark) -> Self {
        ReadMark {
            user_id: m.user_id.to_string(),
            message_id: m.message_id.to_string(),
            read_at: rfc3339(m.read_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatRoom {
    pub id: String,
    /// `direct` or `group`.
    pub kind: String,
    pub name: Option<String>,
    pub owner_id: Option<String>,
    pub members: Vec<Author>,
    pub last_message: Option<ChatMessage>,
    pub unread_count: i64,
    /// Each member's last read message.
    pub reads: Vec<ReadMark>,
    /// A direct room between two users of whom one blocks the other: it
    /// keeps its history but nobody can send in it (403 `blocked`).
    pub read_only: bool,
    pub last_activity_at: String,
    pub created_at: String,
}

impl ChatRoom {
    pub fn from_view(v: &RoomView, public_url: &str) -> Self {
        ChatRoom {
            id: v.room.id.to_string(),
            kind: v.room.kind.as_str().to_owned(),
            name: v.room.name.clone(),
            owner_id: v.room.owner_id.map(|o| o.to_string()),
            members: v
                .members
                .iter()
                .map(|(_, u)| Author::from_record(u, public_url))
                .collect(),
            last_message: v
                .last_message
                .as_ref()
                .map(|m| ChatMessage::from_view(m, public_url)),
            unread_count: v.unread,
            read_only: v.read_only,
            reads: v
                .members
                .iter()
                .filter(|(m, _)| m.last_read_id > 0)
                .map(|(m, _)| ReadMark {
                    user_id: m.user_id.to_string(),
                    message_id: m.last_read_id.to_string(),
                    read_at: m.read_at.map(rfc3339).unwrap_or_default(),
                })
                .collect(),
            last_activity_at: rfc3339(v.room.last_activity_at),
            created_at: rfc3339(v.room.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatRoomList {
    pub items: Vec<ChatRoom>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessagePage {
    pub items: Vec<ChatMessage>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRoomRequest {
    /// 1-100 characters, not all blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// The other members (you are added); a group has 2 to 256 members.
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 255)]
    pub member_ids: Vec<UserId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRoomRequest {
    /// 1-100 characters, not all blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddMemberRequest {
    #[schema(value_type = String)]
    pub user_id: UserId,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendMessageRequest {
    /// 1-4000 characters, not all blank, no control characters but line breaks and tabs.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub text: String,
    /// Your id for the message (1-100 characters, no control characters): a
    /// retry with the same one returns the message sent before.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub client_msg_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReadRequest {
    #[schema(value_type = String)]
    pub message_id: MessageId,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MessageIds {
    /// 1 to 100 message ids.
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 100)]
    pub message_ids: Vec<MessageId>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomUnread {
    pub room_id: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatUnread {
    pub total: i64,
    pub rooms: Vec<RoomUnread>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChatPageParams {
    /// Opaque cursor from the previous page's `nextCursor`.
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChatSearchParams {
    /// Words that must all appear: 1-10 runs of letters and digits of at
    /// most 50 characters each, separated by anything else.
    #[param(pattern = "^[\\W_]*(?:[^\\W_]{1,50}[\\W_]+){0,9}[^\\W_]{1,50}[\\W_]*$")]
    pub q: String,
    /// Only this room.
    #[param(value_type = Option<String>)]
    pub room_id: Option<RoomId>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub user_id: String,
    pub online: bool,
    pub last_seen_at: Option<String>,
}

impl From<OnlineStatus> for Presence {
    fn from(p: OnlineStatus) -> Self {
        Presence {
            user_id: p.user.to_string(),
            online: p.online,
            last_seen_at: p.last_seen_at.map(rfc3339),
        }
    }
}

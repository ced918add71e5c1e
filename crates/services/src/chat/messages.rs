//! Messages: sending (rate-limited across the cluster, retried safely by
//! client id), history, read and delivery marks, removal for oneself,
//! retraction for everyone, and typing.

use std::collections::HashMap;

use starling_core::events::DomainEvent;
use starling_core::live::{ChatEvent, MessageView};
use starling_core::model::{MessageRecord, ReadMark};
use starling_core::page::Page;
use starling_core::types::Limit;
use starling_core::{Error, MessageId, Result, RoomId, Timestamp, UserId};

use super::{Chat, TEXT_MAX_CHARS};
use crate::unique;

const CLIENT_ID_MAX_CHARS: usize = 100;
const IDS_MAX: usize = 100;

/// Where a message goes.
#[derive(Debug, Clone, Copy)]
pub enum Destination {
    Room(RoomId),
    Partner(UserId),
}

/// A message just sent (or found again by its client id).
pub struct Sent {
    pub message: MessageView,
    /// False when a retry found the stored message.
    pub created: bool,
}

impl Chat {
    /// Stores a message and announces it: `receive-message` to the room's
    /// open connections, `new-message` to every member's.
    pub async fn send(
        &self,
        me: UserId,
        to: Destination,
        text: &str,
        client_msg_id: &str,
    ) -> Result<Sent> {
        if text.trim().is_empty() || text.chars().count() > TEXT_MAX_CHARS {
            return Err(Error::field(
                "text",
                format!("must be 1 to {TEXT_MAX_CHARS} characters"),
            ));
        }
        crate::text::plain("text", text, true)?;
        crate::text::plain("clientMsgId", client_msg_id, false)?;
        let client_msg_id = client_msg_id.trim();
        if client_msg_id.is_empty() || client_msg_id.chars().count() > CLIENT_ID_MAX_CHARS {
            return Err(Error::field(
                "clientMsgId",
                format!("must be 1 to {CLIENT_ID_MAX_CHARS} characters"),
            ));
        }
        let room = match to {
            Destination::Room(room) => room,
            Destination::Partner(partner) => self.direct_record(me, partner).await?.id,
        };
        // One read for both the membership check and the broadcast list.
        let members = self.member_ids(room).await?;
        if !members.contains(&me) {
            return Err(Error::not_found("chat room"));
        }
        self.ensure_writable(me, room, &members).await?;
        if let Some(bucket) = self.settings.message_rate {
            self.limits
                .take("chat-message", bucket, &me.to_string())
                .await?;
        }
        let id = MessageId(self.ids.next());
        let record = MessageRecord {
            id,
            room_id: room,
            sender_id: Some(me),
            text: text.to_owned(),
            client_msg_id: client_msg_id.to_owned(),
            created_at: Timestamp::now(),
            retracted_at: None,
        };
        let event = self.outbox.event(&DomainEvent::MessageSent {
            sender: me,
            room,
            message: id,
            recipients: members.clone(),
        })?;
        let (stored, created) = self.writer.write(record, event).await?;
        let message = self
            .message_views(vec![stored])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("user"))?;
        self.fanout
            .to_room(room, &ChatEvent::ReceiveMessage(message.clone()), None)
            .await;
        self.tell(&members, ChatEvent::NewMessage(message.clone()))
            .await;
        Ok(Sent { message, created })
    }

    /// `room`'s messages before `before`, newest first.
    pub async fn history(
        &self,
        me: UserId,
        room: RoomId,
        before: Option<MessageId>,
        limit: Limit,
    ) -> Result<Page<MessageView, MessageId>> {
        self.check_member(me, room).await?;
        let mut rows = self.store.messages(room, me, before, limit.fetch()).await?;
        let next = limit.cut(&mut rows, |m| m.id);
        Ok(Page {
            items: self.message_views(rows).await?,
            next,
        })
    }

    /// A message of `room`, or NotFound.
    pub(super) async fn message_in(&self, room: RoomId, id: MessageId) -> Result<MessageRecord> {
        self.store
            .messages_by_ids(&[id])
            .await?
            .pop()
            .filter(|m| m.room_id == room)
            .ok_or_else(|| Error::not_found("message"))
    }

    /// Everything up to `message` is read. Returns `me`'s read mark; when it
    /// moved, the members hear of it (`message-read`).
    pub async fn read(&self, me: UserId, room: RoomId, message: MessageId) -> Result<ReadMark> {
        let member = self.membership_of(me, room).await?;
        self.message_in(room, message).await?;
        let moved = self
            .store
            .mark_read(room, me, message, Timestamp::now())
            .await?;
        // Caught up: the collapsed `message` notification is read too.
        if self.unread_in(me, room).await? == 0 {
            self.notifications.room_read(me, room).await;
        }
        match moved {
            Some(mark) => {
                let members = self.member_ids(room).await?;
                self.tell(&members, ChatEvent::MessageRead(mark)).await;
                Ok(mark)
            }
            None => Ok(ReadMark {
                room_id: room,
                user_id: me,
                message_id: MessageId::from_i64(member.last_read_id),
                read_at: member.read_at.unwrap_or(member.joined_at),
            }),
        }
    }

    pub async fn delivered(&self, me: UserId, room: RoomId, message: MessageId) -> Result<()> {
        self.check_member(me, room).await?;
        self.message_in(room, message).await?;
        self.store.mark_delivered(room, me, message).await
    }

    /// The messages `ids` (deduplicated), all in rooms `me` is in; NotFound
    /// if any is not.
    pub(super) async fn visible_messages(
        &self,
        me: UserId,
        ids: &[MessageId],
    ) -> Result<(Vec<MessageId>, Vec<MessageRecord>)> {
        if ids.is_empty() || ids.len() > IDS_MAX {
            return Err(Error::field(
                "messageIds",
                format!("give 1 to {IDS_MAX} message ids"),
            ));
        }
        let ids = unique(ids.iter().copied());
        let found = self.store.messages_by_ids(&ids).await?;
        if found.len() != ids.len() {
            return Err(Error::not_found("message"));
        }
        for room in unique(found.iter().map(|m| m.room_id)) {
            self.check_member(me, room)
                .await
                .map_err(|_| Error::not_found("message"))?;
        }
        Ok((ids, found))
    }

    /// Hides messages for `me` only. Every id must be in one of `me`'s rooms.
    pub async fn remove(&self, me: UserId, ids: &[MessageId]) -> Result<Vec<MessageId>> {
        let (ids, _) = self.visible_messages(me, ids).await?;
        self.store.hide_messages(me, &ids).await?;
        Ok(ids)
    }

    /// Retracts `me`'s own messages for everyone, all or nothing; each room's
    /// members hear which (`message-retracted`). Returns the ids, sorted.
    pub async fn retract(&self, me: UserId, ids: &[MessageId]) -> Result<Vec<MessageId>> {
        let (mut ids, found) = self.visible_messages(me, ids).await?;
        if found.iter().any(|m| m.sender_id != Some(me)) {
            return Err(Error::forbidden("you can retract only your own messages"));
        }
        self.retract_found(&ids, &found).await?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Retracts messages whoever sent them (a moderator removing reported
    /// content, or a message whose sender's account is gone); the rooms hear
    /// of it as of any retraction.
    pub async fn remove_any(&self, ids: &[MessageId]) -> Result<()> {
        let found = self.store.messages_by_ids(ids).await?;
        let ids: Vec<MessageId> = found.iter().map(|m| m.id).collect();
        if ids.is_empty() {
            return Err(Error::not_found("message"));
        }
        self.retract_found(&ids, &found).await
    }

    async fn retract_found(&self, ids: &[MessageId], found: &[MessageRecord]) -> Result<()> {
        self.store.retract_messages(ids, Timestamp::now()).await?;
        let mut rooms: HashMap<RoomId, Vec<MessageId>> = HashMap::new();
        for m in found {
            rooms.entry(m.room_id).or_default().push(m.id);
        }
        for (room, mut message_ids) in rooms {
            message_ids.sort_unstable();
            let members = self.member_ids(room).await?;
            self.tell(&members, ChatEvent::MessagesRetracted { room, message_ids })
                .await;
        }
        Ok(())
    }

    /// `me`'s unread messages: in total, and per room that has any.
    pub async fn unread(&self, me: UserId) -> Result<(i64, Vec<(RoomId, i64)>)> {
        let rooms = self.store.unread_counts(me, None).await?;
        let total = rooms.iter().map(|(_, n)| n).sum();
        Ok((total, rooms.into_iter().filter(|(_, n)| *n > 0).collect()))
    }

    /// `me` started or stopped typing in `room`: the others with the room
    /// open hear it. A connection that opened the room was a member when it
    /// did (`opened`), and leaves the room if removed, so only others are
    /// checked against the store.
    pub async fn typing(&self, me: UserId, room: RoomId, typing: bool, opened: bool) -> Result<()> {
        if !opened {
            self.check_member(me, room).await?;
        }
        // Nobody hears typing in a read-only direct room; only users in a
        // block at all pay for looking.
        if self.relations.of(Some(me)).await?.any_blocks() {
            let members = self.member_ids(room).await?;
            if self.ensure_writable(me, room, &members).await.is_err() {
                return Ok(());
            }
        }
        let event = ChatEvent::Typing {
            room,
            user: me,
            typing,
        };
        self.fanout.to_room(room, &event, Some(me)).await;
        Ok(())
    }
}

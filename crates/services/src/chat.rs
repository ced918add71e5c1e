//! Chat: direct rooms and group channels, messages, read marks, presence.
//!
//! The rules live here; the transports (REST and Socket.IO) call these
//! methods and broadcast what they return. A message is stored, with its
//! `message.sent` event in the same transaction, before anyone hears of it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use starling_core::cursor::Cursor;
use starling_core::events::DomainEvent;
use starling_core::messaging::Envelope;
use starling_core::model::{
    MemberRecord, MessageRecord, ReadMark, RoomKind, RoomRecord, Subject, UserRecord,
};
use starling_core::ports::Cache;
use starling_core::types::Limit;
use starling_core::{Error, IdGenerator, MessageId, Result, RoomId, Timestamp, UserId};
use tokio::sync::{mpsc, oneshot};

use crate::Ports;
use crate::limits::{Action, RateLimits};
use crate::notifications::Notifications;
use crate::outbox::Outbox;
use crate::users::{Page, Users};

pub const TEXT_MAX_CHARS: usize = 4000;
const NAME_MAX_CHARS: usize = 100;
const CLIENT_ID_MAX_CHARS: usize = 100;
const IDS_MAX: usize = 100;
/// How long a user's last-seen time is kept.
const LAST_SEEN_TTL: Duration = Duration::from_secs(30 * 86_400);

#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// Most members of a group (at least 2).
    pub max_members: usize,
    /// Messages a user may send per second, sustained, per node.
    pub rate_per_sec: f64,
    /// Messages a user may send in a burst.
    pub rate_burst: f64,
    /// How long a node's claim that a user is online lasts unless renewed.
    pub presence_ttl: Duration,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            max_members: 256,
            rate_per_sec: 10.0,
            rate_burst: 30.0,
            presence_ttl: Duration::from_secs(60),
        }
    }
}

fn presence_key(user: UserId) -> String {
    format!("presence:{user}")
}

fn last_seen_key(user: UserId) -> String {
    format!("lastseen:{user}")
}

/// Whether `user` has a chat connection on any node (per the cache).
pub async fn is_online(cache: &dyn Cache, user: UserId) -> bool {
    matches!(cache.get(&presence_key(user)).await, Ok(Some(_)))
}

/// A message with its sender.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub record: MessageRecord,
    pub sender: UserRecord,
}

/// A room as one member sees it.
#[derive(Debug, Clone)]
pub struct RoomView {
    pub room: RoomRecord,
    /// In the order they joined, with their records.
    pub members: Vec<(MemberRecord, UserRecord)>,
    pub last_message: Option<MessageView>,
    pub unread: i64,
}

impl RoomView {
    pub fn member_ids(&self) -> Vec<UserId> {
        self.members.iter().map(|(m, _)| m.user_id).collect()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Presence {
    pub user: UserId,
    pub online: bool,
    pub last_seen_at: Option<Timestamp>,
}

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
    pub members: Vec<UserId>,
}

/// What a membership change did, for the transports to announce.
pub struct Departure {
    pub room: RoomId,
    pub removed: UserId,
    /// The room after, as the remaining members see it (None once empty).
    pub after: Option<RoomView>,
}

/// Messages retracted in one room.
pub struct Retracted {
    pub room: RoomId,
    pub message_ids: Vec<MessageId>,
    pub members: Vec<UserId>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Chat {
    ports: Ports,
    ids: Arc<IdGenerator>,
    users: Arc<Users>,
    outbox: Arc<Outbox>,
    notifications: Arc<Notifications>,
    settings: ChatSettings,
    limits: Arc<RateLimits>,
    buckets: Mutex<HashMap<UserId, Bucket>>,
    /// Sockets per user on this node.
    online: Mutex<HashMap<UserId, usize>>,
    writer: std::sync::OnceLock<mpsc::Sender<PendingWrite>>,
}

/// Concurrent batch writers (on SQLite they take turns on its one writer).
const WRITERS: usize = 2;
/// Most messages in one transaction.
const BATCH_MAX: usize = 256;

struct PendingWrite {
    msg: MessageRecord,
    event: Envelope,
    reply: oneshot::Sender<Result<(MessageRecord, bool)>>,
}

/// Takes whatever sends are waiting (up to [`BATCH_MAX`]) and stores them in
/// one transaction. If the batch fails, each is retried alone, so one bad
/// message (its room just deleted) fails only its own sender.
async fn run_writer(
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<PendingWrite>>>,
    store: Arc<dyn starling_core::ports::ChatStore>,
    outbox: Arc<Outbox>,
) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            batch
        };
        let items: Vec<(MessageRecord, Envelope)> = batch
            .iter()
            .map(|p| (p.msg.clone(), p.event.clone()))
            .collect();
        match store.send_messages(&items).await {
            Ok(results) => {
                if results.iter().any(|(_, created)| *created) {
                    outbox.committed();
                }
                for (p, r) in batch.into_iter().zip(results) {
                    let _ = p.reply.send(Ok(r));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(p) = batch.into_iter().next() {
                    let _ = p.reply.send(Err(e));
                }
            }
            Err(_) => {
                for (p, item) in batch.into_iter().zip(items) {
                    let r = store
                        .send_messages(std::slice::from_ref(&item))
                        .await
                        .and_then(|mut v| v.pop().ok_or_else(|| Error::internal("no result")));
                    if matches!(r, Ok((_, true))) {
                        outbox.committed();
                    }
                    let _ = p.reply.send(r);
                }
            }
        }
    }
}

impl Chat {
    pub fn new(
        ports: Ports,
        ids: Arc<IdGenerator>,
        users: Arc<Users>,
        outbox: Arc<Outbox>,
        notifications: Arc<Notifications>,
        settings: ChatSettings,
        limits: Arc<RateLimits>,
    ) -> Self {
        Chat {
            ports,
            ids,
            users,
            outbox,
            notifications,
            settings,
            limits,
            buckets: Mutex::new(HashMap::new()),
            online: Mutex::new(HashMap::new()),
            writer: std::sync::OnceLock::new(),
        }
    }

    pub fn settings(&self) -> &ChatSettings {
        &self.settings
    }

    // ---- rooms ----

    /// The room, if `me` is a member; NotFound otherwise (non-members learn
    /// nothing, not even that it exists).
    async fn membership(&self, me: UserId, room: RoomId) -> Result<(RoomRecord, MemberRecord)> {
        let member = self
            .ports
            .chat
            .member(room, me)
            .await?
            .ok_or_else(|| Error::not_found("chat room"))?;
        let record = self.ports.chat.room(room).await?;
        Ok((record, member))
    }

    async fn view(&self, me: UserId, room: RoomRecord) -> Result<RoomView> {
        let members = self.ports.chat.members(room.id).await?;
        let ids: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
        let users = self.users.records(&ids).await?;
        let members = members
            .into_iter()
            .filter_map(|m| users.get(&m.user_id).cloned().map(|u| (m, u)))
            .collect();
        let last = self.ports.chat.messages(room.id, me, None, 1).await?;
        let last_message = self.message_views(last).await?.pop();
        let unread = self.unread_in(me, room.id).await?;
        Ok(RoomView {
            room,
            members,
            last_message,
            unread,
        })
    }

    /// `me`'s unread messages in `room`.
    async fn unread_in(&self, me: UserId, room: RoomId) -> Result<i64> {
        let counts = self.ports.chat.unread_counts(me, Some(room)).await?;
        Ok(counts.first().map_or(0, |(_, n)| *n))
    }

    pub async fn message_views(&self, records: Vec<MessageRecord>) -> Result<Vec<MessageView>> {
        let ids: Vec<UserId> = unique(records.iter().map(|m| m.sender_id));
        let users = self.users.records(&ids).await?;
        Ok(records
            .into_iter()
            .filter_map(|record| {
                let sender = users.get(&record.sender_id)?.clone();
                Some(MessageView { record, sender })
            })
            .collect())
    }

    pub async fn room(&self, me: UserId, room: RoomId) -> Result<RoomView> {
        let (record, _) = self.membership(me, room).await?;
        self.view(me, record).await
    }

    /// `me`'s rooms, latest activity first.
    pub async fn rooms(&self, me: UserId) -> Result<Vec<RoomView>> {
        let entries = self.ports.chat.rooms_of(me).await?;
        let last_ids: Vec<MessageId> = entries.iter().filter_map(|e| e.last_message_id).collect();
        let lasts = self.ports.chat.messages_by_ids(&last_ids).await?;
        let lasts: HashMap<MessageId, MessageView> = self
            .message_views(lasts)
            .await?
            .into_iter()
            .map(|m| (m.record.id, m))
            .collect();
        let mut out = Vec::with_capacity(entries.len());
        let room_ids: Vec<RoomId> = entries.iter().map(|e| e.room.id).collect();
        let mut by_room: HashMap<RoomId, Vec<MemberRecord>> = HashMap::new();
        for m in self.ports.chat.members_of(&room_ids).await? {
            by_room.entry(m.room_id).or_default().push(m);
        }
        let all_members: Vec<Vec<MemberRecord>> = room_ids
            .iter()
            .map(|r| by_room.remove(r).unwrap_or_default())
            .collect();
        let ids = unique(all_members.iter().flatten().map(|m| m.user_id));
        let users = self.users.records(&ids).await?;
        for (e, members) in entries.into_iter().zip(all_members) {
            out.push(RoomView {
                last_message: e.last_message_id.and_then(|id| lasts.get(&id).cloned()),
                members: members
                    .into_iter()
                    .filter_map(|m| users.get(&m.user_id).cloned().map(|u| (m, u)))
                    .collect(),
                unread: e.unread,
                room: e.room,
            });
        }
        Ok(out)
    }

    /// The direct room of `me` and `partner`, created on first use.
    pub async fn direct(&self, me: UserId, partner: UserId) -> Result<RoomView> {
        let room = self.direct_record(me, partner).await?;
        self.view(me, room).await
    }

    /// The direct room of `me` and `partner` if it exists (404 otherwise):
    /// looking never creates one.
    pub async fn existing_direct(&self, me: UserId, partner: UserId) -> Result<RoomView> {
        self.check_partner(me, partner).await?;
        let room = self
            .ports
            .chat
            .find_direct_room(me, partner)
            .await?
            .ok_or_else(|| Error::not_found("chat room"))?;
        self.view(me, room).await
    }

    async fn check_partner(&self, me: UserId, partner: UserId) -> Result<()> {
        if me == partner {
            return Err(Error::unprocessable(
                "self_chat",
                "a direct chat needs another user",
            ));
        }
        if self.users.records(&[partner]).await?.is_empty() {
            return Err(Error::not_found("user"));
        }
        Ok(())
    }

    async fn direct_record(&self, me: UserId, partner: UserId) -> Result<RoomRecord> {
        self.check_partner(me, partner).await?;
        let now = Timestamp::now();
        let fresh = RoomRecord {
            id: RoomId(self.ids.next()),
            kind: RoomKind::Direct,
            name: None,
            owner_id: None,
            created_at: now,
            last_activity_at: now,
        };
        self.ports.chat.direct_room(me, partner, &fresh).await
    }

    pub async fn create_group(
        &self,
        me: UserId,
        name: &str,
        member_ids: &[UserId],
    ) -> Result<RoomView> {
        let name = valid_name(name)?;
        let mut members = vec![me];
        for id in member_ids {
            if !members.contains(id) {
                members.push(*id);
            }
        }
        let max = self.settings.max_members;
        if members.len() < 2 || members.len() > max {
            return Err(Error::field(
                "memberIds",
                format!("a group has 2 to {max} members, you included"),
            ));
        }
        let known = self.users.records(&members).await?;
        // A well-formed id of nobody is a missing resource, as for a post's media.
        if members.iter().any(|id| !known.contains_key(id)) {
            return Err(Error::NotFound { what: "user" });
        }
        self.limits
            .check(Action::ChatGroup, &me.to_string())
            .await?;
        let now = Timestamp::now();
        let room = RoomRecord {
            id: RoomId(self.ids.next()),
            kind: RoomKind::Group,
            name: Some(name),
            owner_id: Some(me),
            created_at: now,
            last_activity_at: now,
        };
        self.ports.chat.create_group(&room, &members).await?;
        self.view(me, room).await
    }

    async fn owned_group(&self, me: UserId, room: RoomId) -> Result<RoomRecord> {
        let (record, _) = self.membership(me, room).await?;
        if record.kind != RoomKind::Group {
            return Err(Error::unprocessable(
                "direct_room",
                "a direct chat has no name or owner",
            ));
        }
        if record.owner_id != Some(me) {
            return Err(Error::forbidden("only the group's owner can do that"));
        }
        Ok(record)
    }

    pub async fn rename(&self, me: UserId, room: RoomId, name: &str) -> Result<RoomView> {
        let name = valid_name(name)?;
        let mut record = self.owned_group(me, room).await?;
        self.ports.chat.rename_room(room, &name).await?;
        record.name = Some(name);
        self.view(me, record).await
    }

    /// Deletes a group; returns who was in it.
    pub async fn delete(&self, me: UserId, room: RoomId) -> Result<Vec<UserId>> {
        self.owned_group(me, room).await?;
        let members = self.member_ids(room).await?;
        self.ports.chat.delete_room(room).await?;
        self.notifications.forget(Subject::Room(room)).await;
        Ok(members)
    }

    pub async fn add_member(&self, me: UserId, room: RoomId, user: UserId) -> Result<RoomView> {
        let record = self.owned_group(me, room).await?;
        if self.users.records(&[user]).await?.is_empty() {
            return Err(Error::NotFound { what: "user" });
        }
        self.ports
            .chat
            .add_member(room, user, Timestamp::now(), self.settings.max_members)
            .await?;
        self.view(me, record).await
    }

    /// The owner removes anyone; a member removes themselves (leaves).
    pub async fn remove_member(&self, me: UserId, room: RoomId, user: UserId) -> Result<Departure> {
        let (record, _) = self.membership(me, room).await?;
        if record.kind != RoomKind::Group {
            return Err(Error::unprocessable(
                "direct_room",
                "nobody can leave a direct chat",
            ));
        }
        if user != me && record.owner_id != Some(me) {
            return Err(Error::forbidden(
                "only the group's owner can remove other members",
            ));
        }
        if !self.ports.chat.remove_member(room, user).await? {
            return Err(Error::not_found("member"));
        }
        self.notifications
            .forget(Subject::Membership { room, member: user })
            .await;
        let remaining = self.ports.chat.members(room).await?;
        let after = match remaining.first() {
            Some(m) => {
                let record = self.ports.chat.room(room).await?;
                Some(self.view(m.user_id, record).await?)
            }
            None => {
                // The last one out deletes the room.
                self.ports.chat.delete_room(room).await?;
                self.notifications.forget(Subject::Room(room)).await;
                None
            }
        };
        Ok(Departure {
            room,
            removed: user,
            after,
        })
    }

    pub async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>> {
        Ok(self
            .ports
            .chat
            .members(room)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect())
    }

    /// NotFound unless `me` is in `room`.
    pub async fn check_member(&self, me: UserId, room: RoomId) -> Result<()> {
        self.ports
            .chat
            .member(room, me)
            .await?
            .map(|_| ())
            .ok_or_else(|| Error::not_found("chat room"))
    }

    // ---- messages ----

    fn take_token(&self, me: UserId) -> Result<()> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let (rate, burst) = (self.settings.rate_per_sec, self.settings.rate_burst);
        if buckets.len() > 100_000 {
            // Forget users whose buckets are full again.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(me).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens < 1.0 {
            let wait = (1.0 - b.tokens) / rate.max(f64::MIN_POSITIVE);
            return Err(Error::RateLimited {
                retry_after: Duration::from_secs_f64(wait.min(3600.0)),
            });
        }
        b.tokens -= 1.0;
        Ok(())
    }

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
        self.take_token(me)?;
        let id = MessageId(self.ids.next());
        let record = MessageRecord {
            id,
            room_id: room,
            sender_id: me,
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
        let (stored, created) = self.write(record, event).await?;
        let message = self
            .message_views(vec![stored])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("user"))?;
        Ok(Sent {
            message,
            created,
            members,
        })
    }

    /// Stores a message through the batching writers: concurrent sends share
    /// one transaction (group commit), which is what bounds chat throughput.
    async fn write(&self, msg: MessageRecord, event: Envelope) -> Result<(MessageRecord, bool)> {
        let writer = self.writer.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<PendingWrite>(4096);
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..WRITERS {
                tokio::spawn(run_writer(
                    rx.clone(),
                    self.ports.chat.clone(),
                    self.outbox.clone(),
                ));
            }
            tx
        });
        let (reply, answer) = oneshot::channel();
        writer
            .send(PendingWrite { msg, event, reply })
            .await
            .map_err(|_| Error::internal("the chat writer stopped"))?;
        answer
            .await
            .map_err(|_| Error::internal("the chat writer dropped a message"))?
    }

    pub async fn history(
        &self,
        me: UserId,
        room: RoomId,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<MessageView>> {
        let limit = Limit::parse(limit)?;
        let before = Cursor::decode_opt(cursor)?.map(|c| MessageId::from_i64(c.id));
        self.check_member(me, room).await?;
        let mut rows = self
            .ports
            .chat
            .messages(room, me, before, limit.fetch())
            .await?;
        let next_cursor = limit.page(&mut rows, |m| Cursor::new("", m.id.get()));
        Ok(Page {
            items: self.message_views(rows).await?,
            next_cursor,
        })
    }

    /// A message of `room`, or NotFound.
    async fn message_in(&self, room: RoomId, id: MessageId) -> Result<MessageRecord> {
        self.ports
            .chat
            .messages_by_ids(&[id])
            .await?
            .pop()
            .filter(|m| m.room_id == room)
            .ok_or_else(|| Error::not_found("message"))
    }

    /// Everything up to `message` is read. Returns `me`'s read mark, whether
    /// it moved, and (when it did) the members to tell.
    pub async fn read(
        &self,
        me: UserId,
        room: RoomId,
        message: MessageId,
    ) -> Result<(ReadMark, bool, Vec<UserId>)> {
        let member = self
            .ports
            .chat
            .member(room, me)
            .await?
            .ok_or_else(|| Error::not_found("chat room"))?;
        self.message_in(room, message).await?;
        let moved = self
            .ports
            .chat
            .mark_read(room, me, message, Timestamp::now())
            .await?;
        // Caught up: the collapsed `message` notification is read too.
        if self.unread_in(me, room).await? == 0 {
            self.notifications.room_read(me, room).await;
        }
        match moved {
            Some(mark) => Ok((mark, true, self.member_ids(room).await?)),
            None => Ok((
                ReadMark {
                    room_id: room,
                    user_id: me,
                    message_id: MessageId::from_i64(member.last_read_id),
                    read_at: member.read_at.unwrap_or(member.joined_at),
                },
                false,
                Vec::new(),
            )),
        }
    }

    pub async fn delivered(&self, me: UserId, room: RoomId, message: MessageId) -> Result<()> {
        self.check_member(me, room).await?;
        self.message_in(room, message).await?;
        self.ports.chat.mark_delivered(room, me, message).await
    }

    fn check_ids(ids: &[MessageId]) -> Result<Vec<MessageId>> {
        if ids.is_empty() || ids.len() > IDS_MAX {
            return Err(Error::field(
                "messageIds",
                format!("give 1 to {IDS_MAX} message ids"),
            ));
        }
        Ok(unique(ids.iter().copied()))
    }

    /// The messages `ids` (deduplicated), all in rooms `me` is in; NotFound
    /// if any is not.
    async fn visible_messages(
        &self,
        me: UserId,
        ids: &[MessageId],
    ) -> Result<(Vec<MessageId>, Vec<MessageRecord>)> {
        let ids = Self::check_ids(ids)?;
        let found = self.ports.chat.messages_by_ids(&ids).await?;
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
        self.ports.chat.hide_messages(me, &ids).await?;
        Ok(ids)
    }

    /// Retracts `me`'s own messages for everyone; all or nothing.
    pub async fn retract(&self, me: UserId, ids: &[MessageId]) -> Result<Vec<Retracted>> {
        let (ids, found) = self.visible_messages(me, ids).await?;
        if found.iter().any(|m| m.sender_id != me) {
            return Err(Error::forbidden("you can retract only your own messages"));
        }
        self.ports
            .chat
            .retract_messages(&ids, Timestamp::now())
            .await?;
        let mut by_room: HashMap<RoomId, Vec<MessageId>> = HashMap::new();
        for m in &found {
            by_room.entry(m.room_id).or_default().push(m.id);
        }
        let mut out = Vec::new();
        for (room, mut message_ids) in by_room {
            message_ids.sort_unstable();
            out.push(Retracted {
                room,
                message_ids,
                members: self.member_ids(room).await?,
            });
        }
        Ok(out)
    }

    pub async fn unread(&self, me: UserId) -> Result<(i64, Vec<(RoomId, i64)>)> {
        let rooms = self.ports.chat.unread_counts(me, None).await?;
        let total = rooms.iter().map(|(_, n)| n).sum();
        Ok((total, rooms.into_iter().filter(|(_, n)| *n > 0).collect()))
    }

    pub async fn search(
        &self,
        me: UserId,
        query: &str,
        room: Option<RoomId>,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<MessageView>> {
        let limit = Limit::parse(limit)?;
        let words = crate::text::search_words(query)?;
        let before = Cursor::decode_opt(cursor)?.map(|c| MessageId::from_i64(c.id));
        if let Some(room) = room {
            self.check_member(me, room).await?;
        }
        let mut rows = self
            .ports
            .chat
            .search_messages(me, &words, room, before, limit.fetch())
            .await?;
        let next_cursor = limit.page(&mut rows, |m| Cursor::new("", m.id.get()));
        Ok(Page {
            items: self.message_views(rows).await?,
            next_cursor,
        })
    }

    // ---- presence ----

    /// A socket of `me` connected here. True for the first on this node
    /// (then [`Chat::mark_online`]).
    pub fn connected(&self, me: UserId) -> bool {
        match self.online.lock() {
            Ok(mut online) => {
                let n = online.entry(me).or_default();
                *n += 1;
                *n == 1
            }
            Err(_) => false,
        }
    }

    /// A socket of `me` disconnected here. True when it was the last on
    /// this node (the caller then asks the other nodes).
    pub fn disconnected(&self, me: UserId) -> bool {
        let Ok(mut online) = self.online.lock() else {
            return false;
        };
        match online.get_mut(&me) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                online.remove(&me);
                true
            }
            None => false,
        }
    }

    /// `me` has no socket left anywhere: offline, seen now.
    pub async fn went_offline(&self, me: UserId) -> Presence {
        let now = Timestamp::now();
        let cache = &self.ports.cache;
        let _ = cache.delete(&presence_key(me)).await;
        let _ = cache
            .set(
                &last_seen_key(me),
                Bytes::from(now.millis().to_string()),
                LAST_SEEN_TTL,
            )
            .await;
        Presence {
            user: me,
            online: false,
            last_seen_at: Some(now),
        }
    }

    /// Marks `me` online in the cache (and seen now).
    pub async fn mark_online(&self, me: UserId) {
        let cache = &self.ports.cache;
        let _ = cache
            .set(
                &presence_key(me),
                Bytes::from_static(b"1"),
                self.settings.presence_ttl,
            )
            .await;
        let _ = cache
            .set(
                &last_seen_key(me),
                Bytes::from(Timestamp::now().millis().to_string()),
                LAST_SEEN_TTL,
            )
            .await;
    }

    /// Renews this node's users; call a few times per presence TTL.
    pub async fn refresh_presence(&self) {
        let users: Vec<UserId> = match self.online.lock() {
            Ok(online) => online.keys().copied().collect(),
            Err(_) => return,
        };
        for user in users {
            self.mark_online(user).await;
        }
    }

    pub async fn presence(&self, user: UserId) -> Result<Presence> {
        if self.users.records(&[user]).await?.is_empty() {
            return Err(Error::not_found("user"));
        }
        let cache = &self.ports.cache;
        let online = is_online(cache.as_ref(), user).await;
        let last_seen_at = match cache.get(&last_seen_key(user)).await {
            Ok(Some(b)) => std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Timestamp),
            _ => None,
        };
        Ok(Presence {
            user,
            online,
            last_seen_at,
        })
    }

    pub fn online_here(&self, user: UserId) -> bool {
        self.online
            .lock()
            .map(|o| o.contains_key(&user))
            .unwrap_or(false)
    }

    /// Everyone who shares a room with `me`.
    pub async fn contacts(&self, me: UserId) -> Result<Vec<UserId>> {
        self.ports.chat.contacts(me).await
    }
}

fn valid_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(Error::field(
            "name",
            format!("must be 1 to {NAME_MAX_CHARS} characters"),
        ));
    }
    crate::text::plain("name", name, false)?;
    Ok(name.to_owned())
}

fn unique<T: Copy + Eq + std::hash::Hash>(it: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    it.filter(|x| seen.insert(*x)).collect()
}

//! Chat: direct rooms and group channels, messages, read marks, and who is
//! connected.
//!
//! The rules live here, split by concern: [`rooms`] (rooms and membership),
//! [`messages`] (sending, history, read marks, retraction, typing),
//! [`writer`] (the group-commit writer), [`search`] and [`connections`]
//! (chat sockets opening and closing, and presence). Each change is
//! announced to connected clients here, through the [`Fanout`] port, so the
//! transports (REST and Socket.IO) only call in and answer. A message is
//! stored, with its `message.sent` event in the same transaction, before
//! anyone hears of it.

mod connections;
mod messages;
mod rooms;
mod search;
mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use starling_core::live::{ChatEvent, Fanout, MessageView, RoomView};
use starling_core::model::{MemberRecord, MessageRecord, RoomRecord};
use starling_core::ports::ChatStore;
use starling_core::{Error, IdGenerator, Result, RoomId, UserId};

use crate::limits::{Bucket, RateLimits};
use crate::notifications::Notifications;
use crate::outbox::Outbox;
use crate::presence::Presence;
use crate::relations::{RelationSet, Relations};
use crate::users::Users;

pub use messages::{Destination, Sent};

pub const TEXT_MAX_CHARS: usize = 4000;
const NAME_MAX_CHARS: usize = 100;

#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// Most members of a group (at least 2).
    pub max_members: usize,
    /// Messages one user may send, counted across the cluster (the cache
    /// port): a bucket refilled at a sustained rate, holding a burst.
    pub message_rate: Option<Bucket>,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            max_members: 256,
            message_rate: Some(Bucket::per_sec(10.0, 30.0)),
        }
    }
}

/// The services and ports chat works with.
pub struct ChatDeps {
    pub store: Arc<dyn ChatStore>,
    pub fanout: Arc<dyn Fanout>,
    pub presence: Arc<Presence>,
    pub users: Arc<Users>,
    pub outbox: Arc<Outbox>,
    pub notifications: Arc<Notifications>,
    pub limits: Arc<RateLimits>,
    pub ids: Arc<IdGenerator>,
    pub relations: Arc<Relations>,
}

pub struct Chat {
    store: Arc<dyn ChatStore>,
    fanout: Arc<dyn Fanout>,
    presence: Arc<Presence>,
    users: Arc<Users>,
    outbox: Arc<Outbox>,
    notifications: Arc<Notifications>,
    limits: Arc<RateLimits>,
    ids: Arc<IdGenerator>,
    relations: Arc<Relations>,
    settings: ChatSettings,
    writer: writer::Writer,
}

impl Chat {
    pub fn new(deps: ChatDeps, settings: ChatSettings) -> Self {
        let ChatDeps {
            store,
            fanout,
            presence,
            users,
            outbox,
            notifications,
            limits,
            ids,
            relations,
        } = deps;
        Chat {
            writer: writer::Writer::new(store.clone(), outbox.clone()),
            store,
            fanout,
            presence,
            users,
            outbox,
            notifications,
            limits,
            ids,
            relations,
            settings,
        }
    }

    pub fn settings(&self) -> &ChatSettings {
        &self.settings
    }

    /// The room, if `me` is a member; NotFound otherwise (non-members learn
    /// nothing, not even that it exists).
    pub(super) async fn membership(
        &self,
        me: UserId,
        room: RoomId,
    ) -> Result<(RoomRecord, MemberRecord)> {
        let member = self
            .store
            .member(room, me)
            .await?
            .ok_or_else(|| Error::not_found("chat room"))?;
        let record = self.store.room(room).await?;
        Ok((record, member))
    }

    /// NotFound unless `me` is in `room`.
    pub async fn check_member(&self, me: UserId, room: RoomId) -> Result<()> {
        self.membership_of(me, room).await.map(|_| ())
    }

    pub(super) async fn membership_of(&self, me: UserId, room: RoomId) -> Result<MemberRecord> {
        self.store
            .member(room, me)
            .await?
            .ok_or_else(|| Error::not_found("chat room"))
    }

    pub async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>> {
        Ok(self
            .store
            .members(room)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect())
    }

    /// `room` as `me` sees it.
    pub(super) async fn view(&self, me: UserId, room: RoomRecord) -> Result<RoomView> {
        let members = self.store.members(room.id).await?;
        let ids: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
        let users = self.users.records(&ids).await?;
        let members = members
            .into_iter()
            .filter_map(|m| users.get(&m.user_id).cloned().map(|u| (m, u)))
            .collect();
        let last = self.store.messages(room.id, me, None, 1).await?;
        let last_message = self.message_views(last).await?.pop();
        let unread = self.unread_in(me, room.id).await?;
        let rel = self.relations.of(Some(me)).await?;
        let read_only = read_only(&room, &ids, me, &rel);
        Ok(RoomView {
            room,
            members,
            last_message,
            unread,
            read_only,
        })
    }

    /// 403 `blocked` when `room` is a direct room of `me` and someone in a
    /// block with them. `members` are the room's. Costs one cache get (the
    /// sender's relations) for a two-member room, nothing for larger ones.
    pub(super) async fn ensure_writable(
        &self,
        me: UserId,
        room: RoomId,
        members: &[UserId],
    ) -> Result<()> {
        if members.len() != 2 {
            return Ok(());
        }
        let rel = self.relations.of(Some(me)).await?;
        if members.iter().any(|m| *m != me && rel.blocked_either(*m)) {
            let record = self.store.room(room).await?;
            if read_only(&record, members, me, &rel) {
                return Err(crate::relations::blocked());
            }
        }
        Ok(())
    }

    /// `me`'s unread messages in `room`.
    pub(super) async fn unread_in(&self, me: UserId, room: RoomId) -> Result<i64> {
        let counts = self.store.unread_counts(me, Some(room)).await?;
        Ok(counts.first().map_or(0, |(_, n)| *n))
    }

    pub async fn message_views(&self, records: Vec<MessageRecord>) -> Result<Vec<MessageView>> {
        let ids: Vec<UserId> = unique(records.iter().filter_map(|m| m.sender_id));
        let users = self.users.records(&ids).await?;
        // A deleted account's messages stay, without a sender (the id is
        // cleared by the worker; until then the account is just not found).
        Ok(records
            .into_iter()
            .map(|record| {
                let sender = record.sender_id.and_then(|id| users.get(&id).cloned());
                MessageView { record, sender }
            })
            .collect())
    }

    /// Everyone who shares a room with `me`.
    pub async fn contacts(&self, me: UserId) -> Result<Vec<UserId>> {
        self.store.contacts(me).await
    }

    pub(super) async fn tell(&self, users: &[UserId], event: ChatEvent) {
        if !users.is_empty() {
            self.fanout.to_users(users, &event).await;
        }
    }
}

/// Whether `room` (with `members`) is a direct room in a block, as `me`
/// (one of its members, with relations `rel`) sees it.
fn read_only(room: &RoomRecord, members: &[UserId], me: UserId, rel: &RelationSet) -> bool {
    room.kind == starling_core::model::RoomKind::Direct
        && members.iter().any(|m| *m != me && rel.blocked_either(*m))
}

/// Rooms by id, for joining lists fetched per room.
fn by_room<T>(items: Vec<T>, room_of: impl Fn(&T) -> RoomId) -> HashMap<RoomId, Vec<T>> {
    let mut out: HashMap<RoomId, Vec<T>> = HashMap::new();
    for item in items {
        out.entry(room_of(&item)).or_default().push(item);
    }
    out
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

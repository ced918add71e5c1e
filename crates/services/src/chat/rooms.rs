//! Rooms and membership: direct rooms (one per pair, made on first use),
//! groups with an owner, and who is in them. Members hear of every change
//! (`room-updated`); someone removed hears `room: null` and their
//! connections leave the room at once.

use std::collections::HashMap;

use starling_core::live::{ChatEvent, MessageView, RoomChange, RoomView};
use starling_core::model::{MemberRecord, RoomKind, RoomRecord, Subject};
use starling_core::{Error, MessageId, Result, RoomId, Timestamp, UserId};

use super::{Chat, by_room, valid_name};
use crate::limits::Action;
use crate::unique;

impl Chat {
    pub async fn room(&self, me: UserId, room: RoomId) -> Result<RoomView> {
        let (record, _) = self.membership(me, room).await?;
        self.view(me, record).await
    }

    /// `me`'s rooms, latest activity first.
    pub async fn rooms(&self, me: UserId) -> Result<Vec<RoomView>> {
        let entries = self.store.rooms_of(me).await?;
        let last_ids: Vec<MessageId> = entries.iter().filter_map(|e| e.last_message_id).collect();
        let lasts = self.store.messages_by_ids(&last_ids).await?;
        let lasts: HashMap<MessageId, MessageView> = self
            .message_views(lasts)
            .await?
            .into_iter()
            .map(|m| (m.record.id, m))
            .collect();
        let room_ids: Vec<RoomId> = entries.iter().map(|e| e.room.id).collect();
        let mut members = by_room(self.store.members_of(&room_ids).await?, |m| m.room_id);
        let members: Vec<Vec<MemberRecord>> = room_ids
            .iter()
            .map(|r| members.remove(r).unwrap_or_default())
            .collect();
        let users = self
            .users
            .records(&unique(members.iter().flatten().map(|m| m.user_id)))
            .await?;
        let rel = self.relations.of(Some(me)).await?;
        Ok(entries
            .into_iter()
            .zip(members)
            .map(|(e, members)| RoomView {
                read_only: super::read_only(
                    &e.room,
                    &members.iter().map(|m| m.user_id).collect::<Vec<_>>(),
                    me,
                    &rel,
                ),
                last_message: e.last_message_id.and_then(|id| lasts.get(&id).cloned()),
                members: members
                    .into_iter()
                    .filter_map(|m| users.get(&m.user_id).cloned().map(|u| (m, u)))
                    .collect(),
                unread: e.unread,
                room: e.room,
            })
            .collect())
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
            .store
            .find_direct_room(me, partner)
            .await?
            .ok_or_else(|| Error::not_found("chat room"))?;
        self.view(me, room).await
    }

    pub(super) async fn check_partner(&self, me: UserId, partner: UserId) -> Result<()> {
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

    /// The direct room of `me` and `partner`, created on first use; none is
    /// created across a block (403 `blocked`), and an existing one is
    /// returned read-only.
    pub(super) async fn direct_record(&self, me: UserId, partner: UserId) -> Result<RoomRecord> {
        self.check_partner(me, partner).await?;
        if self.relations.of(Some(me)).await?.blocked_either(partner) {
            return match self.store.find_direct_room(me, partner).await? {
                Some(room) => Ok(room),
                None => Err(crate::relations::blocked()),
            };
        }
        let now = Timestamp::now();
        let fresh = RoomRecord {
            id: RoomId(self.ids.next()),
            kind: RoomKind::Direct,
            name: None,
            owner_id: None,
            created_at: now,
            last_activity_at: now,
        };
        self.store.direct_room(me, partner, &fresh).await
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
        // Nobody is put in a group by someone in a block with them.
        let rel = self.relations.of(Some(me)).await?;
        if members.iter().any(|id| rel.blocked_either(*id)) {
            return Err(crate::relations::blocked());
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
        self.store.create_group(&room, &members).await?;
        let view = self.view(me, room).await?;
        self.announce_room(&view, RoomChange::Created).await;
        Ok(view)
    }

    pub(super) async fn owned_group(&self, me: UserId, room: RoomId) -> Result<RoomRecord> {
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
        self.store.rename_room(room, &name).await?;
        record.name = Some(name);
        let view = self.view(me, record).await?;
        self.announce_room(&view, RoomChange::Renamed).await;
        Ok(view)
    }

    /// Deletes a group (its owner only); every member's connections leave it.
    pub async fn delete(&self, me: UserId, room: RoomId) -> Result<()> {
        self.owned_group(me, room).await?;
        let members = self.member_ids(room).await?;
        self.store.delete_room(room).await?;
        self.notifications.forget(Subject::Room(room)).await;
        self.fanout.leave(&members, room).await;
        self.announce_gone(room, &members, RoomChange::Deleted)
            .await;
        Ok(())
    }

    pub async fn add_member(&self, me: UserId, room: RoomId, user: UserId) -> Result<RoomView> {
        let record = self.owned_group(me, room).await?;
        if self.users.records(&[user]).await?.is_empty() {
            return Err(Error::NotFound { what: "user" });
        }
        self.relations.ensure_not_blocked(me, user).await?;
        self.store
            .add_member(room, user, Timestamp::now(), self.settings.max_members)
            .await?;
        let view = self.view(me, record).await?;
        self.announce_room(&view, RoomChange::MemberAdded).await;
        Ok(view)
    }

    /// The owner removes anyone; a member removes themselves (leaves). The
    /// last one out deletes the room.
    pub async fn remove_member(&self, me: UserId, room: RoomId, user: UserId) -> Result<()> {
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
        if !self.store.remove_member(room, user).await? {
            return Err(Error::not_found("member"));
        }
        self.notifications
            .forget(Subject::Membership { room, member: user })
            .await;
        let change = if user == me {
            RoomChange::MemberLeft
        } else {
            RoomChange::MemberRemoved
        };
        self.fanout.leave(&[user], room).await;
        match self.store.members(room).await?.first() {
            Some(m) => {
                let record = self.store.room(room).await?;
                let after = self.view(m.user_id, record).await?;
                self.announce_room(&after, change).await;
            }
            None => {
                self.store.delete_room(room).await?;
                self.notifications.forget(Subject::Room(room)).await;
            }
        }
        self.announce_gone(room, &[user], change).await;
        Ok(())
    }

    /// A deleted account leaves `room`, direct rooms too: a group it owned
    /// passes to the member who joined first, the last one out deletes the
    /// room, and the members left hear of it. Its messages stay. Safe to
    /// repeat.
    pub async fn leave_deleted(&self, user: UserId, room: RoomId) -> Result<()> {
        if self.store.remove_member(room, user).await? {
            self.notifications
                .forget(Subject::Membership { room, member: user })
                .await;
            self.fanout.leave(&[user], room).await;
        }
        match self.store.members(room).await?.first() {
            Some(m) => {
                let record = self.store.room(room).await?;
                let after = self.view(m.user_id, record).await?;
                self.announce_room(&after, RoomChange::MemberLeft).await;
            }
            None => {
                self.store.delete_room(room).await?;
                self.notifications.forget(Subject::Room(room)).await;
            }
        }
        Ok(())
    }

    /// `room-updated` with the room to its members (no one's unread count).
    pub(super) async fn announce_room(&self, view: &RoomView, change: RoomChange) {
        let room = RoomView {
            unread: 0,
            ..view.clone()
        };
        let members = room.member_ids();
        let event = ChatEvent::RoomUpdated {
            room_id: room.room.id,
            room: Some(room),
            change,
        };
        self.tell(&members, event).await;
    }

    /// `room-updated` with `room: null` to people no longer in it.
    pub(super) async fn announce_gone(&self, room: RoomId, users: &[UserId], change: RoomChange) {
        let event = ChatEvent::RoomUpdated {
            room_id: room,
            room: None,
            change,
        };
        self.tell(users, event).await;
    }
}

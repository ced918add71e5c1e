//! Notifications, split by concern: [`rules`] (who is notified of what,
//! one feature at a time), [`worker`] (storing them from domain events and
//! delivering them), [`counters`] (unread counts served from the cache),
//! [`live`] (the channel every node's streams listen on) and [`push`] (Web
//! Push for users with no stream open). This module reads and marks them.

mod counters;
mod live;
mod push;
mod rules;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use starling_core::messaging::{PubSub, PushSender};
use starling_core::model::{
    CommentRecord, NotificationKind, NotificationRecord, PostRecord, Subject, UserRecord,
};
use starling_core::page::Page;
use starling_core::ports::{
    Cache, ChatStore, CommentStore, NotificationStore, PostStore, PushSubscriptionStore, UserStore,
};
use starling_core::types::Limit;
use starling_core::{
    CommentId, IdGenerator, NotificationId, PostId, Result, RoomId, Timestamp, UserId,
};
use tokio::sync::Semaphore;

use crate::presence::Presence;
use crate::unique;
use rules::room_pending_key;

pub use live::{LiveMessage, channel};
pub use push::PushSettings;
pub use worker::NotificationWorker;

/// Longest notification text quoted from a post or comment.
const EXCERPT_CHARS: usize = 140;

/// The ports notifications use.
#[derive(Clone)]
pub struct NotificationPorts {
    pub notifications: Arc<dyn NotificationStore>,
    pub push_subscriptions: Arc<dyn PushSubscriptionStore>,
    /// To render a notification: its actor, post and comment.
    pub users: Arc<dyn UserStore>,
    pub posts: Arc<dyn PostStore>,
    pub comments: Arc<dyn CommentStore>,
    /// A room's members, for messages sent before events named them.
    pub chat: Arc<dyn ChatStore>,
    pub cache: Arc<dyn Cache>,
    pub pubsub: Arc<dyn PubSub>,
}

/// A notification with what it refers to, ready to show.
#[derive(Debug, Clone)]
pub struct NotificationView {
    pub record: NotificationRecord,
    pub actor: UserRecord,
    pub post: Option<PostRecord>,
    pub comment: Option<CommentRecord>,
}

impl NotificationView {
    /// One line for a toast or a push message.
    pub fn summary(&self) -> String {
        let who = self
            .actor
            .display_name
            .clone()
            .unwrap_or_else(|| self.actor.username.clone());
        let what = match (self.record.kind, self.comment.is_some()) {
            (NotificationKind::Love, true) => "loved your comment",
            (NotificationKind::Love, false) => "loved your post",
            (NotificationKind::Comment, _) => "commented on your post",
            (NotificationKind::Reply, _) => "replied to your comment",
            (NotificationKind::Mention, true) => "mentioned you in a comment",
            (NotificationKind::Mention, false) => "mentioned you in a post",
            (NotificationKind::Follow, _) => "followed you",
            (NotificationKind::Message, _) => "sent you a message",
            (NotificationKind::Report, _) => "filed a report",
        };
        format!("{who} {what}")
    }
}

pub fn excerpt(text: &str) -> String {
    if text.chars().count() <= EXCERPT_CHARS {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(EXCERPT_CHARS - 1).collect();
    s.push('…');
    s
}

pub struct Notifications {
    ports: NotificationPorts,
    presence: Arc<Presence>,
    ids: Arc<IdGenerator>,
    push: Option<Arc<dyn PushSender>>,
    push_settings: PushSettings,
    push_slots: Arc<Semaphore>,
    /// Users with pushes queued or sending; an entry goes with the last one.
    push_users: Mutex<HashMap<UserId, push::UserPushBudget>>,
    relations: Arc<crate::relations::Relations>,
}

impl Notifications {
    pub fn new(
        ports: NotificationPorts,
        presence: Arc<Presence>,
        ids: Arc<IdGenerator>,
        push: Option<Arc<dyn PushSender>>,
        push_settings: PushSettings,
        relations: Arc<crate::relations::Relations>,
    ) -> Self {
        Notifications {
            relations,
            ports,
            presence,
            ids,
            push,
            push_slots: Arc::new(Semaphore::new(push_settings.concurrency.max(1))),
            push_settings,
            push_users: Mutex::new(HashMap::new()),
        }
    }

    /// `me`'s notifications before `before`, newest first.
    pub async fn list(
        &self,
        me: UserId,
        before: Option<NotificationId>,
        limit: Limit,
        unread_only: bool,
    ) -> Result<Page<NotificationView, NotificationId>> {
        // Actions of those `me` blocks or mutes, or who block `me`, are left out.
        let rel = self.relations.of(Some(me)).await?;
        let page = crate::relations::refill(
            before,
            limit,
            |n: &NotificationRecord| !rel.hides(n.actor_id),
            |n: &NotificationRecord| n.id,
            |before, limit| async move {
                let mut rows = self
                    .ports
                    .notifications
                    .notifications(me, before, limit.fetch(), unread_only)
                    .await?;
                let next = limit.cut(&mut rows, |n| n.id);
                Ok(Page { items: rows, next })
            },
        )
        .await?;
        Ok(Page {
            items: self.render(page.items).await?,
            next: page.next,
        })
    }

    /// What a stream that last saw `after` missed, oldest first (at most 500).
    pub async fn missed(&self, me: UserId, after: NotificationId) -> Result<Vec<NotificationView>> {
        let mut out = Vec::new();
        let mut from = after;
        while out.len() < 500 {
            let rows = self
                .ports
                .notifications
                .notifications_after(me, from, 100)
                .await?;
            let Some(last) = rows.last() else { break };
            from = last.id;
            let full = rows.len() == 100;
            let rel = self.relations.of(Some(me)).await?;
            let rows = rows
                .into_iter()
                .filter(|n| !rel.hides(n.actor_id))
                .collect();
            out.extend(self.render(rows).await?);
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// One notification as its recipient sees it; None when its subject is gone.
    pub async fn view(&self, record: NotificationRecord) -> Result<Option<NotificationView>> {
        Ok(self.render(vec![record]).await?.pop())
    }

    pub async fn mark_read(&self, me: UserId, id: NotificationId) -> Result<i64> {
        let unread = self
            .ports
            .notifications
            .mark_read(me, id, Timestamp::now())
            .await?;
        self.counted(me, unread).await;
        Ok(unread)
    }

    /// `me` blocked or muted `actor`: their unread notifications from
    /// `actor`, which the list hides from now on, are marked read so the
    /// unread count agrees with the list. (Only the blocker's side: the other
    /// side's count must not move, or they would notice.) Looks at the
    /// newest 500 unread at most.
    pub async fn read_hidden(&self, me: UserId, actor: UserId) -> Result<()> {
        let mut before = None;
        let mut last = None;
        for _ in 0..5 {
            let rows = self
                .ports
                .notifications
                .notifications(me, before, 100, true)
                .await?;
            let full = rows.len() == 100;
            before = rows.last().map(|n| n.id);
            for n in rows.iter().filter(|n| n.actor_id == actor) {
                last = Some(
                    self.ports
                        .notifications
                        .mark_read(me, n.id, Timestamp::now())
                        .await?,
                );
            }
            if !full {
                break;
            }
        }
        if let Some(unread) = last {
            self.counted(me, unread).await;
        }
        Ok(())
    }

    pub async fn mark_all_read(&self, me: UserId) -> Result<()> {
        self.ports
            .notifications
            .mark_all_read(me, Timestamp::now())
            .await?;
        self.counted(me, 0).await;
        Ok(())
    }

    /// `me` caught up with `room`: its `message` notification is read.
    pub async fn room_read(&self, me: UserId, room: RoomId) {
        let _ = self.ports.cache.delete(&room_pending_key(me, room)).await;
        match self
            .ports
            .notifications
            .mark_room_read(me, room, Timestamp::now())
            .await
        {
            Ok(Some(unread)) => self.counted(me, unread).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not mark message notifications read"),
        }
    }

    /// Removes the notifications about something just deleted (after its
    /// transaction committed). Failing here leaves orphans, which lists skip.
    pub async fn forget(&self, subject: Subject) {
        match self.ports.notifications.remove_notifications(subject).await {
            Ok(changed) => {
                for (user, unread) in changed {
                    self.counted(user, unread).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, ?subject, "could not remove notifications"),
        }
    }

    /// Joins records with their actor, post and comment; drops those whose
    /// subject is gone.
    pub(super) async fn render(
        &self,
        rows: Vec<NotificationRecord>,
    ) -> Result<Vec<NotificationView>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let actors: Vec<UserId> = rows.iter().map(|n| n.actor_id).collect();
        let post_ids: Vec<PostId> = unique(rows.iter().filter_map(|n| n.post_id));
        let comment_ids: Vec<CommentId> = unique(rows.iter().filter_map(|n| n.comment_id));
        let users: HashMap<UserId, UserRecord> = self
            .ports
            .users
            .users_by_ids(&unique(actors.into_iter()))
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let posts: HashMap<PostId, PostRecord> = self
            .ports
            .posts
            .posts_by_ids(&post_ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let comments: HashMap<CommentId, CommentRecord> = self
            .ports
            .comments
            .comments_by_ids(&comment_ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|record| {
                let actor = users.get(&record.actor_id)?.clone();
                let post = match record.post_id {
                    Some(p) => Some(posts.get(&p)?.clone()),
                    None => None,
                };
                let comment = match record.comment_id {
                    Some(c) => Some(comments.get(&c).filter(|c| !c.deleted)?.clone()),
                    None => None,
                };
                Some(NotificationView {
                    record,
                    actor,
                    post,
                    comment,
                })
            })
            .collect())
    }
}

//! Notifications: the worker that turns domain events into stored
//! notifications, unread counters served from the cache, the live channel
//! every node's streams listen on, and Web Push for users with no stream open.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use starling_core::cursor::Cursor;
use starling_core::events::DomainEvent;
use starling_core::messaging::{Envelope, EventHandler, PushOutcome, PushSender, PushTarget};
use starling_core::model::{
    CommentRecord, LoveTarget, NotificationKind, NotificationRecord, PostRecord,
    PushSubscriptionRecord, Subject, UserRecord,
};
use starling_core::types::Limit;
use starling_core::{
    CommentId, Error, IdGenerator, NotificationId, PostId, PushSubscriptionId, Result, RoomId,
    Timestamp, UserId,
};
use tokio::sync::Semaphore;

use crate::Ports;
use crate::users::Page;

/// How long a node's word that a user has a stream open lasts; nodes refresh
/// it well within this, so a crashed node's users count as away soon after.
pub const LIVE_TTL: Duration = Duration::from_secs(45);
const UNREAD_TTL: Duration = Duration::from_secs(3600);
/// Longest notification text quoted from a post or comment.
const EXCERPT_CHARS: usize = 140;

pub fn channel(user: UserId) -> String {
    format!("notifications:user:{user}")
}

fn unread_key(user: UserId) -> String {
    format!("notif:unread:{user}")
}

/// Set while `user` has an unread `message` notification for `room`
/// (a hint: on a miss the database's unique index decides).
fn room_pending_key(user: UserId, room: RoomId) -> String {
    format!("notif:room:{user}:{room}")
}

/// How long the hint lasts: a notification marked read some other way than
/// reading the room (the notifications page) is renewed after this at most.
const ROOM_PENDING_TTL: Duration = Duration::from_secs(60);

fn live_key(user: UserId) -> String {
    format!("live:{user}")
}

/// What travels on a user's live channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum LiveMessage {
    Notification {
        record: NotificationRecord,
        unread: i64,
    },
    UnreadCount {
        count: i64,
    },
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

/// Which users have a stream open on this node, mirrored into the cache so
/// the worker (on any node) can tell who needs a push instead.
#[derive(Default)]
struct Live {
    counts: Mutex<HashMap<UserId, usize>>,
}

/// Held while a stream is open.
pub struct LiveGuard {
    notifications: Arc<Notifications>,
    user: UserId,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let last = {
            let Ok(mut counts) = self.notifications.live.counts.lock() else {
                return;
            };
            match counts.get_mut(&self.user) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    counts.remove(&self.user);
                    true
                }
                None => false,
            }
        };
        if last && let Ok(rt) = tokio::runtime::Handle::try_current() {
            // Other nodes holding streams for this user put the key back on
            // their next refresh.
            let cache = self.notifications.ports.cache.clone();
            let key = live_key(self.user);
            rt.spawn(async move {
                let _ = cache.delete(&key).await;
            });
        }
    }
}

/// Limits on Web Push subscriptions and deliveries.
#[derive(Clone, Debug)]
pub struct PushSettings {
    /// Subscriptions kept per user; registering another replaces the oldest.
    pub max_subscriptions: usize,
    /// Push requests in flight at once on this node.
    pub concurrency: usize,
    /// Push requests in flight at once for one user, so one user's slow or
    /// hanging endpoints cannot hold every slot.
    pub concurrency_per_user: usize,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            max_subscriptions: 10,
            concurrency: 32,
            concurrency_per_user: 2,
        }
    }
}

/// Notifications waiting for one user's push slots beyond this are not
/// pushed (the notification itself is stored and streamed as usual).
const PUSH_QUEUE_PER_USER: usize = 32;

/// One user's share of the push slots.
struct UserPushBudget {
    slots: Arc<Semaphore>,
    /// Notifications queued or sending for the user.
    queued: usize,
}

pub struct Notifications {
    ports: Ports,
    ids: Arc<IdGenerator>,
    push: Option<Arc<dyn PushSender>>,
    push_settings: PushSettings,
    push_slots: Arc<Semaphore>,
    /// Users with pushes queued or sending; an entry goes with the last one.
    push_users: Mutex<HashMap<UserId, UserPushBudget>>,
    live: Live,
}

impl Notifications {
    pub fn new(
        ports: Ports,
        ids: Arc<IdGenerator>,
        push: Option<Arc<dyn PushSender>>,
        push_settings: PushSettings,
    ) -> Self {
        Notifications {
            ports,
            ids,
            push,
            push_slots: Arc::new(Semaphore::new(push_settings.concurrency.max(1))),
            push_settings,
            push_users: Mutex::new(HashMap::new()),
            live: Live::default(),
        }
    }

    // ---- reading and marking ----

    pub async fn list(
        &self,
        me: UserId,
        cursor: Option<&str>,
        limit: Option<i64>,
        unread_only: bool,
    ) -> Result<Page<NotificationView>> {
        let limit = Limit::parse(limit)?;
        let before = Cursor::decode_opt(cursor)?.map(|c| NotificationId::from_i64(c.id));
        let mut rows = self
            .ports
            .notifications
            .notifications(me, before, limit.fetch(), unread_only)
            .await?;
        let next_cursor = limit.page(&mut rows, |n| Cursor::new("", n.id.get()));
        Ok(Page {
            items: self.render(rows).await?,
            next_cursor,
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

    /// Served from the cache; read from the database's counter on a miss.
    pub async fn unread_count(&self, me: UserId) -> Result<i64> {
        let key = unread_key(me);
        if let Ok(Some(b)) = self.ports.cache.get(&key).await
            && let Some(n) = std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok())
        {
            return Ok(n);
        }
        let n = self.ports.notifications.unread_count(me).await?;
        let _ = self
            .ports
            .cache
            .set(&key, Bytes::from(n.to_string()), UNREAD_TTL)
            .await;
        Ok(n)
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

    /// The unread count changed: drop the cached copy and tell open streams.
    async fn counted(&self, user: UserId, unread: i64) {
        let _ = self.ports.cache.delete(&unread_key(user)).await;
        self.publish(user, &LiveMessage::UnreadCount { count: unread })
            .await;
    }

    async fn publish(&self, user: UserId, msg: &LiveMessage) {
        let Ok(payload) = serde_json::to_vec(msg) else {
            return;
        };
        if let Err(e) = self
            .ports
            .pubsub
            .publish(&channel(user), Bytes::from(payload))
            .await
        {
            tracing::warn!(error = %e, user_id = %user, "live delivery failed");
        }
    }

    /// Joins records with their actor, post and comment; drops those whose
    /// subject is gone.
    async fn render(&self, rows: Vec<NotificationRecord>) -> Result<Vec<NotificationView>> {
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

    // ---- live streams ----

    pub async fn subscribe(&self, me: UserId) -> Result<starling_core::messaging::Subscription> {
        self.ports.pubsub.subscribe(&channel(me)).await
    }

    /// Marks `me` as having a stream open (until the guard drops).
    pub async fn connected(self: &Arc<Self>, me: UserId) -> LiveGuard {
        let first = match self.live.counts.lock() {
            Ok(mut counts) => {
                let n = counts.entry(me).or_default();
                *n += 1;
                *n == 1
            }
            Err(_) => false,
        };
        if first {
            let _ = self
                .ports
                .cache
                .set(&live_key(me), Bytes::from_static(b"1"), LIVE_TTL)
                .await;
        }
        LiveGuard {
            notifications: self.clone(),
            user: me,
        }
    }

    /// Renews this node's live marks; call well within [`LIVE_TTL`].
    pub async fn refresh_live(&self) {
        let users: Vec<UserId> = match self.live.counts.lock() {
            Ok(counts) => counts.keys().copied().collect(),
            Err(_) => return,
        };
        for user in users {
            let _ = self
                .ports
                .cache
                .set(&live_key(user), Bytes::from_static(b"1"), LIVE_TTL)
                .await;
        }
    }

    async fn is_live(&self, user: UserId) -> bool {
        matches!(self.ports.cache.get(&live_key(user)).await, Ok(Some(_)))
    }

    // ---- Web Push subscriptions ----

    pub fn vapid_public_key(&self) -> Result<String> {
        self.push
            .as_ref()
            .map(|p| p.public_key())
            .ok_or_else(|| Error::not_found("push configuration"))
    }

    pub async fn add_push_subscription(
        &self,
        me: UserId,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<PushSubscriptionRecord> {
        let mut errs = starling_core::error::FieldErrors::new();
        errs.check("endpoint", check_endpoint(endpoint));
        errs.check("keys.p256dh", check_p256dh(p256dh));
        errs.check("keys.auth", check_key(auth, 16, "a 16-byte secret"));
        errs.finish()?;
        // Where it points: https and public addresses only, unless the host
        // is allow-listed (`invalid_endpoint`). Checked again on every send.
        if let Some(sender) = &self.push {
            sender.check_endpoint(endpoint).await?;
        }
        // Beyond the cap the oldest goes: the browser subscribing now is the
        // one the user is using, the oldest most likely one long gone.
        self.ports
            .push_subscriptions
            .save_push_subscription(
                &PushSubscriptionRecord {
                    id: PushSubscriptionId(self.ids.next()),
                    user_id: me,
                    endpoint: endpoint.to_owned(),
                    p256dh: p256dh.to_owned(),
                    auth: auth.to_owned(),
                    created_at: Timestamp::now(),
                },
                self.push_settings.max_subscriptions.max(1),
            )
            .await
    }

    pub async fn delete_push_subscription(&self, me: UserId, id: PushSubscriptionId) -> Result<()> {
        if self
            .ports
            .push_subscriptions
            .delete_push_subscription(me, id)
            .await?
        {
            Ok(())
        } else {
            Err(Error::not_found("push subscription"))
        }
    }

    /// Sends `view` to each of the recipient's push subscriptions, off the
    /// worker's path; subscriptions the push service calls gone are deleted.
    fn push_later(self: &Arc<Self>, view: &NotificationView) {
        let Some(sender) = self.push.clone() else {
            return;
        };
        let payload = serde_json::json!({
            "title": "Starling",
            "body": view.summary(),
            "tag": format!("notification-{}", view.record.id),
            "notificationId": view.record.id,
            "type": view.record.kind,
            "postId": view.record.post_id,
            "roomId": view.record.room_id,
        })
        .to_string();
        let user = view.record.recipient_id;
        let Some(slots) = self.push_queue(user) else {
            tracing::debug!(user_id = %user, "push queue full; not pushing");
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            this.push_to_user(&sender, user, &slots, payload.as_bytes())
                .await;
            this.push_done(user);
        });
    }

    /// Joins `user`'s push queue and returns their slots, or None when the
    /// queue is full. Every Some must be followed by [`Self::push_done`].
    fn push_queue(&self, user: UserId) -> Option<Arc<Semaphore>> {
        let mut users = self.push_users.lock().ok()?;
        let per_user = self.push_settings.concurrency_per_user.max(1);
        let budget = users.entry(user).or_insert_with(|| UserPushBudget {
            slots: Arc::new(Semaphore::new(per_user)),
            queued: 0,
        });
        if budget.queued >= PUSH_QUEUE_PER_USER {
            return None;
        }
        budget.queued += 1;
        Some(budget.slots.clone())
    }

    fn push_done(&self, user: UserId) {
        if let Ok(mut users) = self.push_users.lock()
            && let Some(budget) = users.get_mut(&user)
        {
            budget.queued = budget.queued.saturating_sub(1);
            if budget.queued == 0 {
                users.remove(&user);
            }
        }
    }

    /// Sends `payload` to each of `user`'s newest subscriptions (at most the
    /// cap, should older rows remain). Each request takes one of the user's
    /// slots and then one of the node's, so a user whose endpoints hang holds
    /// at most their own share of the node's slots.
    async fn push_to_user(
        &self,
        sender: &Arc<dyn PushSender>,
        user: UserId,
        slots: &Arc<Semaphore>,
        payload: &[u8],
    ) {
        use futures::StreamExt;
        let mut subs = match self.ports.push_subscriptions.push_subscriptions(user).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not load push subscriptions");
                return;
            }
        };
        subs.truncate(self.push_settings.max_subscriptions.max(1));
        futures::stream::iter(subs)
            .for_each_concurrent(None, |sub| async move {
                let Ok(_mine) = slots.acquire().await else {
                    return;
                };
                let Ok(_node) = self.push_slots.acquire().await else {
                    return;
                };
                let target = PushTarget {
                    endpoint: sub.endpoint.clone(),
                    p256dh: sub.p256dh.clone(),
                    auth: sub.auth.clone(),
                };
                match sender
                    .send(&target, payload, Duration::from_secs(86_400))
                    .await
                {
                    Ok(PushOutcome::Accepted) => {}
                    Ok(PushOutcome::Gone) => {
                        tracing::info!(user_id = %user, "push subscription gone; deleting it");
                        let _ = self
                            .ports
                            .push_subscriptions
                            .delete_push_endpoint(user, &sub.endpoint)
                            .await;
                    }
                    Err(e) => tracing::warn!(error = %e, user_id = %user, "push failed"),
                }
            })
            .await;
    }

    // ---- the worker ----

    /// A notification to store, and what to mark in the cache afterwards
    /// (whether or not it was stored).
    #[allow(clippy::too_many_arguments)]
    fn planned(
        &self,
        event: &Envelope,
        recipient: UserId,
        kind: NotificationKind,
        actor: UserId,
        about: (Option<PostId>, Option<CommentId>),
        room_id: Option<RoomId>,
        subject: Subject,
    ) -> Option<Planned> {
        if recipient == actor {
            return None;
        }
        Some(Planned {
            record: NotificationRecord {
                id: NotificationId(self.ids.next()),
                event_id: event.id,
                recipient_id: recipient,
                kind,
                actor_id: actor,
                post_id: about.0,
                comment_id: about.1,
                room_id,
                created_at: Timestamp::now(),
                read_at: None,
            },
            subject,
            mark_after: None,
        })
    }

    /// What follows a stored notification (`unread` is the recipient's new
    /// count, `None` when it was not stored): the live stream, or Web Push
    /// for a recipient with no stream open.
    async fn deliver(self: &Arc<Self>, planned: Planned, unread: Option<i64>) -> Result<()> {
        if let Some(key) = &planned.mark_after {
            let _ = self
                .ports
                .cache
                .set(key, Bytes::from_static(b"1"), ROOM_PENDING_TTL)
                .await;
        }
        let Some(unread) = unread else {
            return Ok(()); // delivered before, or its subject is gone
        };
        let recipient = planned.record.recipient_id;
        let _ = self.ports.cache.delete(&unread_key(recipient)).await;
        let live = self.is_live(recipient).await;
        self.publish(
            recipient,
            &LiveMessage::Notification {
                record: planned.record.clone(),
                unread,
            },
        )
        .await;
        if !live && let Some(view) = self.view(planned.record).await? {
            self.push_later(&view);
        }
        Ok(())
    }

    /// Stores and delivers the notifications of one event, one at a time.
    async fn handle_event(self: &Arc<Self>, event: &Envelope) -> Result<()> {
        for p in self.plan(event).await? {
            let unread = self
                .ports
                .notifications
                .insert_notification(&p.record, p.subject)
                .await?;
            self.deliver(p, unread).await?;
        }
        Ok(())
    }

    /// The notifications of several events stored in one transaction, then
    /// delivered. If that transaction fails, each event is handled alone, so
    /// one bad event fails only itself.
    async fn handle_events(self: &Arc<Self>, events: &[Envelope]) -> Vec<Result<()>> {
        let mut results: Vec<Result<()>> = Vec::with_capacity(events.len());
        let mut plans: Vec<(usize, Planned)> = Vec::new();
        for (i, event) in events.iter().enumerate() {
            match self.plan(event).await {
                Ok(planned) => {
                    plans.extend(planned.into_iter().map(|p| (i, p)));
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let items: Vec<(NotificationRecord, Subject)> = plans
            .iter()
            .map(|(_, p)| (p.record.clone(), p.subject))
            .collect();
        match self.ports.notifications.insert_notifications(&items).await {
            Ok(unreads) => {
                // Deliveries are round trips (cache, pub/sub, the view for a
                // push): several at a time, or a batch of mentions on a
                // networked cache would take longer than the events arrive.
                use futures::StreamExt;
                let delivered: Vec<(usize, Result<()>)> = futures::stream::iter(
                    plans
                        .into_iter()
                        .zip(unreads)
                        .map(|((i, p), unread)| async move { (i, self.deliver(p, unread).await) }),
                )
                .buffer_unordered(DELIVERY_CONCURRENCY)
                .collect()
                .await;
                for (i, r) in delivered {
                    if let Err(e) = r
                        && results[i].is_ok()
                    {
                        results[i] = Err(e);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "a batch of notifications failed; storing them event by event");
                for (i, event) in events.iter().enumerate() {
                    if results[i].is_ok() {
                        results[i] = self.handle_event(event).await;
                    }
                }
            }
        }
        results
    }

    /// Who gets which notification for `event`.
    async fn plan(&self, event: &Envelope) -> Result<Vec<Planned>> {
        let mut out = Vec::new();
        match DomainEvent::decode(event)? {
            DomainEvent::PostLoved { actor, post } => {
                let Some(p) = self.ports.posts.posts_by_ids(&[post]).await?.pop() else {
                    return Ok(out);
                };
                let subject = Subject::Love {
                    actor,
                    target: LoveTarget::Post(post),
                };
                out.extend(self.planned(
                    event,
                    p.author_id,
                    NotificationKind::Love,
                    actor,
                    (Some(post), None),
                    None,
                    subject,
                ));
            }
            DomainEvent::CommentLoved { actor, comment } => {
                let Some(c) = self.ports.comments.comments_by_ids(&[comment]).await?.pop() else {
                    return Ok(out);
                };
                let subject = Subject::Love {
                    actor,
                    target: LoveTarget::Comment(comment),
                };
                out.extend(self.planned(
                    event,
                    c.author_id,
                    NotificationKind::Love,
                    actor,
                    (Some(c.post_id), Some(comment)),
                    None,
                    subject,
                ));
            }
            DomainEvent::CommentCreated {
                actor,
                comment,
                post,
                parent,
                mentions,
            } => {
                // One notification per recipient: a reply beats a comment,
                // which beats a mention.
                let mut told: HashSet<UserId> = HashSet::from([actor]);
                let about = (Some(post), Some(comment));
                let subject = Subject::Comment(comment);
                if let Some(parent) = parent
                    && let Some(pc) = self.ports.comments.comments_by_ids(&[parent]).await?.pop()
                    && !pc.deleted
                    && told.insert(pc.author_id)
                {
                    out.extend(self.planned(
                        event,
                        pc.author_id,
                        NotificationKind::Reply,
                        actor,
                        about,
                        None,
                        subject,
                    ));
                }
                if let Some(p) = self.ports.posts.posts_by_ids(&[post]).await?.pop()
                    && told.insert(p.author_id)
                {
                    out.extend(self.planned(
                        event,
                        p.author_id,
                        NotificationKind::Comment,
                        actor,
                        about,
                        None,
                        subject,
                    ));
                }
                for m in mentions {
                    if told.insert(m) {
                        out.extend(self.planned(
                            event,
                            m,
                            NotificationKind::Mention,
                            actor,
                            about,
                            None,
                            subject,
                        ));
                    }
                }
            }
            DomainEvent::PostCreated {
                actor,
                post,
                mentions,
            } => {
                for m in unique(mentions.into_iter()) {
                    out.extend(self.planned(
                        event,
                        m,
                        NotificationKind::Mention,
                        actor,
                        (Some(post), None),
                        None,
                        Subject::Post(post),
                    ));
                }
            }
            DomainEvent::Followed { actor, followee } => {
                out.extend(self.planned(
                    event,
                    followee,
                    NotificationKind::Follow,
                    actor,
                    (None, None),
                    None,
                    Subject::Follow { actor, followee },
                ));
            }
            DomainEvent::MessageSent {
                sender,
                room,
                message: _,
                recipients,
            } => {
                // Members with a chat connection got it live; the others get
                // one `message` notification per room until they read it
                // (stored only while they are still members).
                let recipients = if recipients.is_empty() {
                    let members = self.ports.chat.members(room).await?;
                    members.into_iter().map(|m| m.user_id).collect()
                } else {
                    recipients
                };
                let cache = self.ports.cache.as_ref();
                for recipient in recipients {
                    if recipient == sender || crate::chat::is_online(cache, recipient).await {
                        continue;
                    }
                    // Most messages to someone away find their room's
                    // notification already unread; the cache says so
                    // without a write.
                    let pending = room_pending_key(recipient, room);
                    if matches!(cache.get(&pending).await, Ok(Some(_))) {
                        continue;
                    }
                    let subject = Subject::Membership {
                        room,
                        member: recipient,
                    };
                    // Marked once stored: a redelivered event still stores it.
                    out.extend(
                        self.planned(
                            event,
                            recipient,
                            NotificationKind::Message,
                            sender,
                            (None, None),
                            Some(room),
                            subject,
                        )
                        .map(|p| Planned {
                            mark_after: Some(pending),
                            ..p
                        }),
                    );
                }
            }
            DomainEvent::UserRegistered { .. } | DomainEvent::PostDeleted { .. } => {}
        }
        Ok(out)
    }
}

/// Notifications of a batch delivered at once.
const DELIVERY_CONCURRENCY: usize = 16;

/// A notification the worker is about to store.
struct Planned {
    record: NotificationRecord,
    subject: Subject,
    /// A cache key to set once the notification is stored (or found stored).
    mark_after: Option<String>,
}

/// The consumer group that turns events into notifications.
pub struct NotificationWorker(pub Arc<Notifications>);

impl NotificationWorker {
    pub const GROUP: &'static str = "notifications";
    pub const PATTERNS: &'static [&'static str] = &[
        "love.*",
        "comment.created",
        "post.created",
        "follow.created",
        "message.sent",
    ];
}

#[async_trait]
impl EventHandler for NotificationWorker {
    async fn handle(&self, event: &Envelope) -> Result<()> {
        self.0.handle_event(event).await
    }

    async fn handle_batch(&self, events: &[Envelope]) -> Vec<Result<()>> {
        self.0.handle_events(events).await
    }
}

fn unique<T: Copy + Eq + std::hash::Hash>(it: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    it.filter(|x| seen.insert(*x)).collect()
}

fn check_endpoint(endpoint: &str) -> Result<()> {
    // A URL as push services hand them out: visible ASCII (no spaces or
    // control characters, which the push request could not carry anyway).
    let ok = endpoint.len() <= 2048
        && (endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        && endpoint.len() > "https://".len()
        && endpoint.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "endpoint",
            "must be an http(s) URL of at most 2048 visible ASCII characters",
        ))
    }
}

/// A browser's P-256 public key: base64url of an uncompressed point that
/// lies on the curve (a point off it is refused, not stored to fail later).
fn check_p256dh(value: &str) -> Result<()> {
    use aws_lc_rs::agreement::{ECDH_P256, ParsedPublicKey, UnparsedPublicKey};
    use base64::Engine;
    check_key(value, 65, "a P-256 public key")?;
    let point = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .unwrap_or_default();
    if point.first() != Some(&0x04)
        || ParsedPublicKey::try_from(UnparsedPublicKey::new(&ECDH_P256, &point)).is_err()
    {
        return Err(Error::field(
            "key",
            "must be an uncompressed point on P-256 (65 bytes, base64url-encoded)",
        ));
    }
    Ok(())
}

fn check_key(value: &str, len: usize, what: &str) -> Result<()> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .ok();
    match decoded {
        Some(b) if b.len() == len => Ok(()),
        _ => Err(Error::field(
            "key",
            format!("must be {what}, base64url-encoded ({len} bytes)"),
        )),
    }
}

//! Profiles, user lookup and search, follows, avatars.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use starling_core::error::FieldErrors;
use starling_core::events::DomainEvent;
use starling_core::model::Subject;
use starling_core::model::{ProfilePatch, Role, SearchPosition, UserPosition, UserRecord};
use starling_core::page::Page;
use starling_core::types::{Bio, DisplayName, Limit};
use starling_core::{Error, IdGenerator, Result, Timestamp, UserId};

use crate::images;
use crate::limits::{Action, RateLimits};
use crate::notifications::Notifications;
use crate::outbox::Outbox;
use crate::relations::{RelationSet, Relations};
use crate::timeline::Timelines;

/// The ports users use.
#[derive(Clone)]
pub struct UserPorts {
    pub users: Arc<dyn starling_core::ports::UserStore>,
    pub follows: Arc<dyn starling_core::ports::FollowStore>,
    pub blocks: Arc<dyn starling_core::ports::BlockStore>,
    /// Avatars.
    pub blobs: Arc<dyn starling_core::ports::BlobStore>,
    /// Cached user records.
    pub cache: Arc<dyn starling_core::ports::Cache>,
}

/// A user as one viewer sees it.
#[derive(Debug, Clone)]
pub struct UserView {
    pub record: UserRecord,
    pub followed_by_me: bool,
    /// The viewer blocks this user.
    pub blocking: bool,
    /// The viewer mutes this user.
    pub muting: bool,
}

impl UserView {
    /// The user as they see themselves (no relation to themselves).
    fn own(record: UserRecord) -> Self {
        UserView {
            record,
            followed_by_me: false,
            blocking: false,
            muting: false,
        }
    }
}

pub struct ProfileUpdate {
    /// `Some(None)`: the field was sent as null (clear it).
    pub display_name: Option<Option<String>>,
    pub bio: Option<Option<String>>,
}

/// Avatars are fitted within this square.
pub const AVATAR_SIZE: u32 = 400;

pub struct Users {
    ports: UserPorts,
    ids: Arc<IdGenerator>,
    avatar_max_bytes: usize,
    cache_ttl: Duration,
    timelines: Arc<Timelines>,
    outbox: Arc<Outbox>,
    notifications: Arc<Notifications>,
    images: images::ImageGate,
    limits: Arc<RateLimits>,
    relations: Arc<Relations>,
}

/// A user record as kept in the cache port (read-through, by id).
#[derive(Serialize, Deserialize)]
struct CachedUser {
    id: i64,
    username: String,
    email: String,
    display_name: Option<String>,
    bio: String,
    avatar_key: Option<String>,
    follower_count: i64,
    following_count: i64,
    created_at: i64,
    // Defaults: an entry cached by an older binary still reads.
    #[serde(default)]
    role: String,
    #[serde(default)]
    suspended_at: Option<i64>,
    #[serde(default)]
    silenced_at: Option<i64>,
    #[serde(default)]
    pending_at: Option<i64>,
    #[serde(default)]
    email_verified_at: Option<i64>,
}

impl From<&UserRecord> for CachedUser {
    fn from(r: &UserRecord) -> Self {
        CachedUser {
            id: r.id.get(),
            username: r.username.clone(),
            email: r.email.clone(),
            display_name: r.display_name.clone(),
            bio: r.bio.clone(),
            avatar_key: r.avatar_key.clone(),
            follower_count: r.follower_count,
            following_count: r.following_count,
            created_at: r.created_at.0,
            role: r.role.as_str().to_owned(),
            suspended_at: r.suspended_at.map(|t| t.0),
            silenced_at: r.silenced_at.map(|t| t.0),
            pending_at: r.pending_at.map(|t| t.0),
            email_verified_at: r.email_verified_at.map(|t| t.0),
        }
    }
}

impl From<CachedUser> for UserRecord {
    fn from(c: CachedUser) -> Self {
        UserRecord {
            id: UserId::from_i64(c.id),
            username: c.username,
            email: c.email,
            display_name: c.display_name,
            bio: c.bio,
            avatar_key: c.avatar_key,
            follower_count: c.follower_count,
            following_count: c.following_count,
            created_at: Timestamp(c.created_at),
            role: Role::parse(&c.role).unwrap_or_default(),
            suspended_at: c.suspended_at.map(Timestamp),
            silenced_at: c.silenced_at.map(Timestamp),
            pending_at: c.pending_at.map(Timestamp),
            email_verified_at: c.email_verified_at.map(Timestamp),
        }
    }
}

/// How avatars are taken in: the largest upload, and the decode gate shared
/// with post media.
pub struct AvatarIntake {
    pub max_bytes: usize,
    pub images: images::ImageGate,
}

/// A suspended account's profile is gone for everyone but themselves
/// (moderators see it through the admin endpoints).
fn hidden_from(viewer: Option<UserId>, record: UserRecord) -> Result<UserRecord> {
    if record.is_suspended() && viewer != Some(record.id) {
        return Err(Error::not_found("user"));
    }
    Ok(record)
}

fn user_key(id: UserId) -> String {
    format!("user:{id}")
}

impl Users {
    /// `cache_ttl` bounds how long a cached user may be served; zero disables
    /// the cache. Every write that changes a user row invalidates its entry.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ports: UserPorts,
        ids: Arc<IdGenerator>,
        avatars: AvatarIntake,
        cache_ttl: Duration,
        timelines: Arc<Timelines>,
        outbox: Arc<Outbox>,
        notifications: Arc<Notifications>,
        limits: Arc<RateLimits>,
        relations: Arc<Relations>,
    ) -> Self {
        let AvatarIntake {
            max_bytes: avatar_max_bytes,
            images,
        } = avatars;
        Users {
            images,
            ports,
            ids,
            avatar_max_bytes,
            cache_ttl,
            timelines,
            outbox,
            notifications,
            limits,
            relations,
        }
    }

    /// Read-through: the cache port first, the store on a miss. A cache that
    /// fails is bypassed, never fatal: the store is the source of truth.
    async fn record(&self, id: UserId) -> Result<UserRecord> {
        if self.cache_ttl.is_zero() {
            return self.ports.users.user_by_id(id).await;
        }
        let key = user_key(id);
        match self.ports.cache.get(&key).await {
            Ok(Some(bytes)) => {
                if let Some(c) = crate::cached::decode::<CachedUser>(&bytes) {
                    return Ok(c.into());
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "user cache unavailable; reading the store"),
        }
        let record = self.ports.users.user_by_id(id).await?;
        if let Some(bytes) = crate::cached::encode(&CachedUser::from(&record)) {
            let _ = self
                .ports
                .cache
                .set(&key, Bytes::from(bytes), self.cache_ttl)
                .await;
        }
        Ok(record)
    }

    /// Many users at once, read through the cache in one round trip; the misses
    /// in one store query. Unknown ids are left out.
    pub async fn records(&self, ids: &[UserId]) -> Result<HashMap<UserId, UserRecord>> {
        let users = &self.ports.users;
        let found = crate::cached::read_through(
            self.ports.cache.as_ref(),
            self.cache_ttl,
            ids,
            user_key,
            |c: &CachedUser| UserId::from_i64(c.id),
            |misses: Vec<UserId>| async move {
                let rows = users.users_by_ids(&misses).await?;
                Ok(rows.iter().map(CachedUser::from).collect())
            },
        )
        .await?;
        Ok(found.into_iter().map(|(id, c)| (id, c.into())).collect())
    }

    /// Drops cached copies of users whose row just changed.
    pub async fn invalidate(&self, ids: &[UserId]) {
        if self.cache_ttl.is_zero() {
            return;
        }
        let keys = ids.iter().map(|id| user_key(*id)).collect();
        crate::cached::invalidate(&self.ports.cache, keys).await;
    }

    pub fn avatar_max_bytes(&self) -> usize {
        self.avatar_max_bytes
    }

    pub async fn me(&self, me: UserId) -> Result<UserView> {
        let record = self.record(me).await?;
        Ok(UserView::own(record))
    }

    pub async fn get(&self, viewer: Option<UserId>, id: UserId) -> Result<UserView> {
        let record = hidden_from(viewer, self.record(id).await?)?;
        self.view_one(viewer, record).await
    }

    /// As [`Users::get`], read from the store and not cached: what a write
    /// answers with. (A copy read during another write could be stale, and
    /// storing it would outlive that write's invalidation.)
    async fn get_fresh(&self, viewer: Option<UserId>, id: UserId) -> Result<UserView> {
        let record = self.ports.users.user_by_id(id).await?;
        self.view_one(viewer, record).await
    }

    pub async fn by_username(&self, viewer: Option<UserId>, username: &str) -> Result<UserView> {
        let record = hidden_from(viewer, self.ports.users.user_by_username(username).await?)?;
        self.view_one(viewer, record).await
    }

    pub async fn update_profile(&self, me: UserId, update: ProfileUpdate) -> Result<UserView> {
        let mut errs = FieldErrors::new();
        let mut patch = ProfilePatch::default();
        if let Some(d) = update.display_name {
            let parsed = match d {
                Some(d) => errs.check("displayName", DisplayName::parse(&d)),
                None => Some(None),
            };
            patch.display_name = parsed.map(|v| v.map(DisplayName::into_inner));
        }
        if let Some(b) = update.bio {
            let raw = b.unwrap_or_default();
            patch.bio = errs.check("bio", Bio::parse(&raw)).map(Bio::into_inner);
        }
        errs.finish()?;
        let record = if patch.is_empty() {
            self.record(me).await?
        } else {
            let r = self.ports.users.update_profile(me, patch).await;
            self.invalidate(&[me]).await;
            r?
        };
        Ok(UserView::own(record))
    }

    /// Replaces the avatar: recognise, fit within 400x400, strip metadata, store,
    /// point the profile at it, then drop the old file.
    pub async fn set_avatar(&self, me: UserId, upload: Bytes) -> Result<UserView> {
        if upload.len() > self.avatar_max_bytes {
            return Err(Error::PayloadTooLarge {
                message: format!("the avatar must be at most {} bytes", self.avatar_max_bytes),
            });
        }
        if images::sniff(&upload).is_none() {
            return Err(images::unsupported());
        }
        self.limits.check(Action::Upload, &me.to_string()).await?;
        let processed = self
            .images
            .run(upload, |bytes| images::fit_within(bytes, AVATAR_SIZE))
            .await?;
        let key = format!("avatars/{}/{}.{}", me, self.ids.next(), processed.extension);
        self.ports
            .blobs
            .put(&key, Bytes::from(processed.bytes))
            .await?;
        let previous = match self.ports.users.set_avatar(me, Some(&key)).await {
            Ok(p) => p,
            Err(e) => {
                let _ = self.ports.blobs.delete(&key).await;
                return Err(e);
            }
        };
        self.invalidate(&[me]).await;
        if let Some(old) = previous
            && let Err(e) = self.ports.blobs.delete(&old).await
        {
            tracing::warn!(key = %old, error = %e, "could not delete the replaced avatar");
        }
        self.me(me).await
    }

    pub async fn search(
        &self,
        viewer: Option<UserId>,
        query: &str,
        after: Option<SearchPosition>,
        limit: Limit,
    ) -> Result<Page<UserView, SearchPosition>> {
        let query = query.trim();
        if query.chars().count() > 100 {
            return Err(Error::field("q", "must be at most 100 characters"));
        }
        if let Some(me) = viewer {
            self.limits.check(Action::Search, &me.to_string()).await?;
        }
        let rows = self
            .ports
            .users
            .search_users(&query.to_lowercase(), after, limit.fetch())
            .await?;
        // Either side of a block is left out (muted users still show), and
        // silenced accounts are left out of search as well.
        let rel = self.relations.of(viewer).await?;
        let mut page = self.page(viewer, rows, limit).await?;
        page.items.retain(|u| {
            !rel.blocked_either(u.record.id)
                && crate::posts::visibility::shown(
                    &u.record,
                    crate::posts::visibility::Surface::Public,
                )
        });
        Ok(page)
    }

    pub async fn follow(&self, me: UserId, target: UserId) -> Result<UserView> {
        if me == target {
            return Err(Error::unprocessable(
                "cannot_follow_self",
                "you cannot follow yourself",
            ));
        }
        self.limits.check(Action::Follow, &me.to_string()).await?;
        self.relations.ensure_not_blocked(me, target).await?;
        let event = self.outbox.event(&DomainEvent::Followed {
            actor: me,
            followee: target,
        })?;
        let r = self
            .ports
            .follows
            .follow(me, target, Timestamp::now(), &event)
            .await;
        self.invalidate(&[me, target]).await;
        if r? {
            self.outbox.committed();
        }
        let view = self.get_fresh(Some(me), target).await?;
        self.timelines
            .followed(me, target, view.record.follower_count)
            .await?;
        Ok(view)
    }

    pub async fn unfollow(&self, me: UserId, target: UserId) -> Result<UserView> {
        if me == target {
            return Err(Error::unprocessable(
                "cannot_follow_self",
                "you cannot follow yourself",
            ));
        }
        // Unfollows count too: each follow after one notifies again.
        self.limits.check(Action::Follow, &me.to_string()).await?;
        let r = self.ports.follows.unfollow(me, target).await;
        self.invalidate(&[me, target]).await;
        if r? {
            self.notifications
                .forget(Subject::Follow {
                    actor: me,
                    followee: target,
                })
                .await;
        }
        self.timelines.unfollowed(me).await?;
        self.get_fresh(Some(me), target).await
    }

    /// `me` blocks `target`: the follows between them go (both ways), each
    /// side's content leaves the other's lists, and neither can reach the
    /// other. Idempotent; the blocked side is never told.
    pub async fn block(&self, me: UserId, target: UserId) -> Result<UserView> {
        self.may_change_relation(me, target, "cannot_block_self", "block")
            .await?;
        let r = self.ports.blocks.block(me, target, Timestamp::now()).await;
        self.relations.changed(&[me, target]).await;
        let (_, removed) = r?;
        self.notifications.read_hidden(me, target).await?;
        if !removed.is_empty() {
            self.invalidate(&[me, target]).await;
            // Their posts were in each other's cached home timelines by
            // the follows: rebuilt without them on the next read.
            self.timelines.unfollowed(me).await?;
            self.timelines.unfollowed(target).await?;
        }
        self.get_fresh(Some(me), target).await
    }

    pub async fn unblock(&self, me: UserId, target: UserId) -> Result<UserView> {
        self.may_change_relation(me, target, "cannot_block_self", "block")
            .await?;
        let r = self.ports.blocks.unblock(me, target).await;
        self.relations.changed(&[me, target]).await;
        r?;
        self.get_fresh(Some(me), target).await
    }

    /// `me` mutes (`on`) or unmutes `target`: their posts and notifications
    /// are hidden from `me`, and nothing else changes. Idempotent.
    pub async fn mute(&self, me: UserId, target: UserId, on: bool) -> Result<UserView> {
        self.may_change_relation(me, target, "cannot_mute_self", "mute")
            .await?;
        let r = if on {
            self.ports.blocks.mute(me, target, Timestamp::now()).await
        } else {
            self.ports.blocks.unmute(me, target).await
        };
        self.relations.changed(&[me]).await;
        r?;
        if on {
            self.notifications.read_hidden(me, target).await?;
        }
        self.get_fresh(Some(me), target).await
    }

    /// A block or mute of oneself is refused (422 `code`), and every change
    /// counts against the block limit (`limit_blocks`).
    async fn may_change_relation(
        &self,
        me: UserId,
        target: UserId,
        code: &'static str,
        verb: &str,
    ) -> Result<()> {
        if me == target {
            return Err(Error::unprocessable(
                code,
                format!("you cannot {verb} yourself"),
            ));
        }
        self.limits.check(Action::Block, &me.to_string()).await
    }

    /// Whom `me` blocks, newest first.
    pub async fn blocked(
        &self,
        me: UserId,
        after: Option<UserPosition>,
        limit: Limit,
    ) -> Result<Page<UserView, UserPosition>> {
        let rows = self
            .ports
            .blocks
            .blocked_users(me, after, limit.fetch())
            .await?;
        self.page(Some(me), rows, limit).await
    }

    /// Whom `me` mutes, newest first.
    pub async fn muted(
        &self,
        me: UserId,
        after: Option<UserPosition>,
        limit: Limit,
    ) -> Result<Page<UserView, UserPosition>> {
        let rows = self
            .ports
            .blocks
            .muted_users(me, after, limit.fetch())
            .await?;
        self.page(Some(me), rows, limit).await
    }

    pub async fn followers(
        &self,
        viewer: Option<UserId>,
        user: UserId,
        after: Option<UserPosition>,
        limit: Limit,
    ) -> Result<Page<UserView, UserPosition>> {
        let rows = self
            .ports
            .follows
            .followers(user, after, limit.fetch())
            .await?;
        self.page(viewer, rows, limit).await
    }

    pub async fn following(
        &self,
        viewer: Option<UserId>,
        user: UserId,
        after: Option<UserPosition>,
        limit: Limit,
    ) -> Result<Page<UserView, UserPosition>> {
        let rows = self
            .ports
            .follows
            .following(user, after, limit.fetch())
            .await?;
        self.page(viewer, rows, limit).await
    }

    async fn view_one(&self, viewer: Option<UserId>, record: UserRecord) -> Result<UserView> {
        let followed = self.followed_set(viewer, &[record.id]).await?;
        let rel = self.relations.of(viewer).await?;
        Ok(view(record, &followed, &rel))
    }

    async fn followed_set(
        &self,
        viewer: Option<UserId>,
        ids: &[UserId],
    ) -> Result<HashSet<UserId>> {
        match viewer {
            Some(v) => self.ports.follows.followed_among(v, ids).await,
            None => Ok(HashSet::new()),
        }
    }

    /// Turns `limit + 1` fetched rows of users into a page as `viewer` sees
    /// them: the extra row only tells that there is a next page.
    pub(crate) async fn page<P: Clone>(
        &self,
        viewer: Option<UserId>,
        mut rows: Vec<(UserRecord, P)>,
        limit: Limit,
    ) -> Result<Page<UserView, P>> {
        let next = limit.cut(&mut rows, |(_, p)| p.clone());
        // Suspended accounts vanish from every list of users.
        rows.retain(|(r, _)| !r.is_suspended());
        let ids: Vec<UserId> = rows.iter().map(|(r, _)| r.id).collect();
        let followed = self.followed_set(viewer, &ids).await?;
        let rel = self.relations.of(viewer).await?;
        let items = rows
            .into_iter()
            .map(|(record, _)| view(record, &followed, &rel))
            .collect();
        Ok(Page { items, next })
    }
}

/// A user as a viewer who follows `followed` and relates to others as `rel` sees them.
fn view(record: UserRecord, followed: &HashSet<UserId>, rel: &RelationSet) -> UserView {
    UserView {
        followed_by_me: followed.contains(&record.id),
        blocking: rel.blocking(record.id),
        muting: rel.muting(record.id),
        record,
    }
}

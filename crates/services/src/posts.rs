//! Posts, loves, comments and feeds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use starling_core::cursor::Cursor;
use starling_core::events::DomainEvent;
use starling_core::model::Subject;
use starling_core::model::{
    CommentRecord, Feed, FollowPosition, LoveTarget, MediaRecord, NewComment, NewPost, PostEdit,
    PostRecord, PostVersion, UserRecord,
};
use starling_core::types::Limit;
use starling_core::{CommentId, Error, IdGenerator, MediaId, PostId, Result, Timestamp, UserId};

use crate::limits::{Action, RateLimits};
use crate::media::MAX_MEDIA_PER_POST;
use crate::notifications::Notifications;
use crate::outbox::Outbox;
use crate::timeline::Timelines;
use crate::users::Users;
use crate::users::{Page, UserView};
use crate::{Ports, text};

pub const POST_MAX_CHARS: usize = 5000;
pub const COMMENT_MAX_CHARS: usize = 2000;
const MAX_MENTIONS: usize = 20;
const MAX_TAGS: usize = 20;
const MAX_REFETCH: usize = 100;

/// A post as one viewer sees it.
#[derive(Debug, Clone)]
pub struct PostView {
    pub record: PostRecord,
    pub author: UserRecord,
    pub mentions: Vec<(UserId, String)>,
    pub tags: Vec<String>,
    /// Attached uploads, in order.
    pub media: Vec<MediaRecord>,
    pub loved_by_me: bool,
}

#[derive(Debug, Clone)]
pub struct CommentView {
    pub record: CommentRecord,
    pub author: UserRecord,
    pub loved_by_me: bool,
}

/// Posts newer than the newest one a client has, newest first.
pub struct Newer {
    pub items: Vec<PostView>,
    /// More new posts exist than were returned: ask again from the newest returned.
    pub has_more: bool,
}

fn check_text(text: &str, max: usize, allow_empty: bool) -> Result<()> {
    text::plain("text", text, true)?;
    let n = text.trim().chars().count();
    if n == 0 && !allow_empty {
        return Err(Error::unprocessable(
            "text_required",
            "the text must not be empty",
        ));
    }
    if text.chars().count() > max {
        return Err(Error::unprocessable(
            "text_too_long",
            format!("the text must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn check_media_ids(ids: &[MediaId]) -> Result<()> {
    if ids.len() > MAX_MEDIA_PER_POST {
        return Err(Error::unprocessable(
            "too_many_media",
            format!("a post carries at most {MAX_MEDIA_PER_POST} media"),
        ));
    }
    let distinct: HashSet<&MediaId> = ids.iter().collect();
    if distinct.len() != ids.len() {
        return Err(Error::field("mediaIds", "must not repeat an upload"));
    }
    Ok(())
}

fn check_idempotency_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-128 visible ASCII characters",
        ));
    }
    Ok(())
}

pub struct Posts {
    ports: Ports,
    ids: Arc<IdGenerator>,
    timelines: Arc<Timelines>,
    users: Arc<Users>,
    cache_ttl: Duration,
    outbox: Arc<Outbox>,
    notifications: Arc<Notifications>,
    limits: Arc<RateLimits>,
}

/// A post as kept in the cache port: everything but the viewer's own state.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedPost {
    record: PostRecord,
    mentions: Vec<(UserId, String)>,
    tags: Vec<String>,
    media: Vec<MediaRecord>,
}

fn post_key(id: PostId) -> String {
    format!("post:{id}")
}

/// The cached set of what a user loves (posts and comments share the id
/// space): complete, or missing. Loves and unloves drop it, so a read after
/// one rebuilds it from the store.
fn loves_key(user: UserId) -> String {
    format!("loves:{user}")
}

/// Marks a user with more loves than a cached set holds: read from the store.
fn many_loves_key(user: UserId) -> String {
    format!("loves-many:{user}")
}

/// Most loves a cached set holds.
const LOVES_CACHED_MAX: u32 = 5000;

impl Posts {
    /// `cache_ttl` bounds how long a cached post may be served (zero disables
    /// the cache); every write to a post (text, counts, deletion) invalidates it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ports: Ports,
        ids: Arc<IdGenerator>,
        timelines: Arc<Timelines>,
        users: Arc<Users>,
        cache_ttl: Duration,
        outbox: Arc<Outbox>,
        notifications: Arc<Notifications>,
        limits: Arc<RateLimits>,
    ) -> Self {
        Posts {
            ports,
            ids,
            timelines,
            users,
            cache_ttl,
            outbox,
            notifications,
            limits,
        }
    }

    async fn resolve_mentions(&self, text: &str) -> Result<Vec<UserId>> {
        let mut out = Vec::new();
        for name in text::mentions(text, MAX_MENTIONS) {
            match self.ports.users.user_by_username(&name).await {
                Ok(u) => out.push(u.id),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Creates a post with up to four of the author's uploads (the text may
    /// then be blank). Returns it and whether it is new (false: an idempotent
    /// retry, which attaches nothing).
    pub async fn create(
        &self,
        author: UserId,
        text: String,
        media_ids: Vec<MediaId>,
        idempotency_key: Option<String>,
    ) -> Result<(PostView, bool)> {
        check_media_ids(&media_ids)?;
        check_text(&text, POST_MAX_CHARS, !media_ids.is_empty())?;
        if let Some(k) = &idempotency_key {
            check_idempotency_key(k)?;
        }
        self.limits.check(Action::Post, &author.to_string()).await?;
        let mentions = self.resolve_mentions(&text).await?;
        let tags = text::tags(&text, MAX_TAGS);
        let id = PostId(self.ids.next());
        let event = self.outbox.event(&DomainEvent::PostCreated {
            actor: author,
            post: id,
            mentions: mentions.clone(),
        })?;
        let (record, created) = self
            .ports
            .posts
            .create_post(NewPost {
                id,
                author_id: author,
                text,
                idempotency_key,
                mentions,
                tags,
                media_ids,
                created_at: Timestamp::now(),
                event,
            })
            .await?;
        if created {
            self.outbox.committed();
            self.timelines.published(&record).await;
        }
        let view = self.view_one(Some(author), record).await?;
        Ok((view, created))
    }

    /// The post as the store has it now, bypassing the cache (and not filling
    /// it): what a write answers with, so concurrent writes never leave a
    /// stale copy behind.
    pub async fn get_fresh(&self, viewer: Option<UserId>, id: PostId) -> Result<PostView> {
        self.views_with(viewer, &[id], Duration::ZERO)
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("post"))
    }

    pub async fn get(&self, viewer: Option<UserId>, id: PostId) -> Result<PostView> {
        self.views_by_ids(viewer, &[id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("post"))
    }

    pub async fn edit(&self, author: UserId, id: PostId, text: String) -> Result<PostView> {
        check_text(&text, POST_MAX_CHARS, false)?;
        let mentions = self.resolve_mentions(&text).await?;
        let tags = text::tags(&text, MAX_TAGS);
        let record = self
            .ports
            .posts
            .edit_post(PostEdit {
                id,
                author_id: author,
                text,
                mentions,
                tags,
                at: Timestamp::now(),
            })
            .await?;
        self.invalidate(id).await;
        self.view_one(Some(author), record).await
    }

    pub async fn delete(&self, author: UserId, id: PostId) -> Result<()> {
        let event = self.outbox.event(&DomainEvent::PostDeleted {
            actor: author,
            post: id,
        })?;
        let r = self
            .ports
            .posts
            .delete_post(id, author, Timestamp::now(), &event)
            .await;
        self.invalidate(id).await;
        r?;
        self.outbox.committed();
        self.timelines.deleted(id, author).await;
        self.notifications.forget(Subject::Post(id)).await;
        Ok(())
    }

    pub async fn history(&self, id: PostId) -> Result<Vec<PostVersion>> {
        self.ports.posts.post_history(id).await
    }

    /// Re-reads the posts a client shows; those deleted since are left out.
    pub async fn refetch(&self, viewer: Option<UserId>, ids: &[PostId]) -> Result<Vec<PostView>> {
        if ids.len() > MAX_REFETCH {
            return Err(Error::field("ids", format!("at most {MAX_REFETCH} ids")));
        }
        self.views_by_ids(viewer, ids).await
    }

    pub async fn feed(
        &self,
        viewer: Option<UserId>,
        feed: Feed,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<PostView>> {
        let limit = Limit::parse(limit)?;
        let before = Cursor::decode_opt(cursor)?.map(|c| PostId::from_i64(c.id));
        if let Feed::Author(author) = feed {
            // Their cached timeline; it exists only for a user who does
            // (checked when it is built), and an empty page checks again.
            let page = self
                .timelines
                .user_posts(author, before, limit.get() as usize)
                .await?;
            if page.ids.is_empty() && !self.users.records(&[author]).await?.contains_key(&author) {
                return Err(Error::not_found("user"));
            }
            let (page, stale) = self.timeline_views(viewer, &page).await?;
            if stale {
                self.timelines.forget_user_posts(author).await;
            }
            return Ok(page);
        }
        if let Feed::Home(me) = feed {
            // Home feeds come from the fan-out timelines.
            let page = self
                .timelines
                .home(me, before, limit.get() as usize)
                .await?;
            let (page, stale) = self.timeline_views(viewer, &page).await?;
            if stale {
                // Deleted since they were pushed: rebuild this timeline.
                self.timelines.forget(me).await;
            }
            return Ok(page);
        }
        let mut records = self.ports.posts.feed(&feed, before, limit.fetch()).await?;
        let next_cursor = limit.page(&mut records, |p| Cursor::new("", p.id.get()));
        let items = self.views(viewer, records).await?;
        Ok(Page { items, next_cursor })
    }

    pub async fn newer(
        &self,
        viewer: Option<UserId>,
        feed: Feed,
        since: PostId,
        limit: Option<i64>,
    ) -> Result<Newer> {
        let limit = Limit::parse(limit)?;
        let mut records = self
            .ports
            .posts
            .feed_since(&feed, since, limit.fetch())
            .await?;
        let has_more = records.len() > limit.get() as usize;
        records.truncate(limit.get() as usize);
        records.reverse();
        Ok(Newer {
            items: self.views(viewer, records).await?,
            has_more,
        })
    }

    pub async fn love(&self, user: UserId, target: LoveTarget, on: bool) -> Result<()> {
        // Unloves count too: each love after one notifies (and pushes) again.
        self.limits.check(Action::Love, &user.to_string()).await?;
        let r = if on {
            let event = self.outbox.event(&match target {
                LoveTarget::Post(post) => DomainEvent::PostLoved { actor: user, post },
                LoveTarget::Comment(comment) => DomainEvent::CommentLoved {
                    actor: user,
                    comment,
                },
            })?;
            self.ports
                .loves
                .love(target, user, Timestamp::now(), &event)
                .await
        } else {
            self.ports.loves.unlove(target, user).await
        };
        if let LoveTarget::Post(id) = target {
            self.invalidate(id).await;
        }
        let changed = r?;
        if changed && !self.cache_ttl.is_zero() {
            crate::cached::invalidate(&self.ports.cache, vec![loves_key(user)]).await;
        }
        match (changed, on) {
            (true, true) => self.outbox.committed(),
            (true, false) => {
                self.notifications
                    .forget(Subject::Love {
                        actor: user,
                        target,
                    })
                    .await
            }
            (false, _) => {}
        }
        Ok(())
    }

    pub async fn lovers(
        &self,
        viewer: Option<UserId>,
        target: LoveTarget,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<UserView>> {
        let limit = Limit::parse(limit)?;
        let after = Cursor::decode_opt(cursor)?
            .map(|c| {
                Ok::<_, Error>(FollowPosition {
                    followed_at: Timestamp(c.key_i64()?),
                    user_id: UserId::from_i64(c.id),
                })
            })
            .transpose()?;
        let mut rows = self
            .ports
            .loves
            .lovers(target, after, limit.fetch())
            .await?;
        let next_cursor = limit.page(&mut rows, |(_, p)| {
            Cursor::new(p.followed_at.0.to_string(), p.user_id.get())
        });
        let ids: Vec<UserId> = rows.iter().map(|(u, _)| u.id).collect();
        let followed = match viewer {
            Some(v) => self.ports.follows.followed_among(v, &ids).await?,
            None => HashSet::new(),
        };
        let items = rows
            .into_iter()
            .map(|(record, _)| UserView {
                followed_by_me: followed.contains(&record.id),
                record,
            })
            .collect();
        Ok(Page { items, next_cursor })
    }

    pub async fn comment(
        &self,
        author: UserId,
        post: PostId,
        text: String,
        parent: Option<CommentId>,
    ) -> Result<CommentView> {
        check_text(&text, COMMENT_MAX_CHARS, false)?;
        self.limits
            .check(Action::Comment, &author.to_string())
            .await?;
        let id = CommentId(self.ids.next());
        let event = self.outbox.event(&DomainEvent::CommentCreated {
            actor: author,
            comment: id,
            post,
            parent,
            mentions: self.resolve_mentions(&text).await?,
        })?;
        let record = self
            .ports
            .comments
            .create_comment(NewComment {
                id,
                post_id: post,
                parent_id: parent,
                author_id: author,
                text,
                created_at: Timestamp::now(),
                event,
            })
            .await;
        self.invalidate(post).await;
        let record = record?;
        self.outbox.committed();
        Ok(self
            .comment_views(Some(author), vec![record])
            .await?
            .remove(0))
    }

    pub async fn get_comment(&self, viewer: Option<UserId>, id: CommentId) -> Result<CommentView> {
        let record = self.ports.comments.comment(id).await?;
        Ok(self.comment_views(viewer, vec![record]).await?.remove(0))
    }

    /// Top-level comments of a post (`parent` None) or replies to a comment, oldest first.
    pub async fn comments(
        &self,
        viewer: Option<UserId>,
        post: PostId,
        parent: Option<CommentId>,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<CommentView>> {
        let limit = Limit::parse(limit)?;
        let after = Cursor::decode_opt(cursor)?.map(|c| CommentId::from_i64(c.id));
        let mut rows = self
            .ports
            .comments
            .comments(post, parent, after, limit.fetch())
            .await?;
        let next_cursor = limit.page(&mut rows, |c| Cursor::new("", c.id.get()));
        let items = self.comment_views(viewer, rows).await?;
        Ok(Page { items, next_cursor })
    }

    pub async fn replies(
        &self,
        viewer: Option<UserId>,
        comment: CommentId,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<CommentView>> {
        let parent = self.ports.comments.comment(comment).await?;
        self.comments(viewer, parent.post_id, Some(comment), cursor, limit)
            .await
    }

    pub async fn edit_comment(
        &self,
        user: UserId,
        id: CommentId,
        text: String,
    ) -> Result<CommentView> {
        check_text(&text, COMMENT_MAX_CHARS, false)?;
        let c = self.ports.comments.comment(id).await?;
        if c.deleted {
            return Err(Error::not_found("comment"));
        }
        if c.author_id != user {
            return Err(Error::forbidden("only the author can edit a comment"));
        }
        let record = self
            .ports
            .comments
            .edit_comment(id, &text, Timestamp::now())
            .await?;
        Ok(self
            .comment_views(Some(user), vec![record])
            .await?
            .remove(0))
    }

    /// Its author or the post's author may delete a comment.
    pub async fn delete_comment(&self, user: UserId, id: CommentId) -> Result<()> {
        let c = self.ports.comments.comment(id).await?;
        if c.deleted {
            return Err(Error::not_found("comment"));
        }
        if c.author_id != user {
            let post = self.get(None, c.post_id).await?;
            if post.record.author_id != user {
                return Err(Error::forbidden(
                    "only the comment's author or the post's author can delete it",
                ));
            }
        }
        let r = self
            .ports
            .comments
            .delete_comment(id, Timestamp::now())
            .await;
        self.invalidate(c.post_id).await;
        r?;
        self.notifications.forget(Subject::Comment(id)).await;
        Ok(())
    }

    /// Full-text search of live posts: every word must match; newest first.
    pub async fn search(
        &self,
        viewer: Option<UserId>,
        query: &str,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<PostView>> {
        let limit = Limit::parse(limit)?;
        let words = crate::text::search_words(query)?;
        let before = Cursor::decode_opt(cursor)?.map(|c| PostId::from_i64(c.id));
        let mut records = self
            .ports
            .search
            .search_posts(&words, before, limit.fetch())
            .await?;
        let next_cursor = limit.page(&mut records, |p| Cursor::new("", p.id.get()));
        let items = self.views(viewer, records).await?;
        Ok(Page { items, next_cursor })
    }

    async fn view_one(&self, viewer: Option<UserId>, record: PostRecord) -> Result<PostView> {
        self.views(viewer, vec![record])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("post"))
    }

    async fn authors(&self, ids: Vec<UserId>) -> Result<HashMap<UserId, UserRecord>> {
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        Ok(self
            .ports
            .users
            .users_by_ids(&ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect())
    }

    /// Assembles views for a page of posts in a fixed number of queries.
    /// Views of a page of posts, in the order given. Posts (with their
    /// mentions, tags and media) are read through the cache in one round trip,
    /// the misses from the store in one batch; authors come through the user
    /// cache; only `lovedByMe` is read per viewer. Deleted posts are left out.
    async fn views(
        &self,
        viewer: Option<UserId>,
        records: Vec<PostRecord>,
    ) -> Result<Vec<PostView>> {
        let ids: Vec<PostId> = records.iter().map(|p| p.id).collect();
        self.views_by_ids(viewer, &ids).await
    }

    /// A timeline page's posts as `viewer` sees them, and whether the page
    /// held posts deleted since (its timeline is then stale).
    async fn timeline_views(
        &self,
        viewer: Option<UserId>,
        page: &crate::timeline::HomePage,
    ) -> Result<(Page<PostView>, bool)> {
        let next_cursor = page.next_before.map(|p| Cursor::new("", p.get()).encode());
        let items = self.views_by_ids(viewer, &page.ids).await?;
        let stale = items.len() < page.ids.len();
        Ok((Page { items, next_cursor }, stale))
    }

    async fn views_by_ids(&self, viewer: Option<UserId>, ids: &[PostId]) -> Result<Vec<PostView>> {
        self.views_with(viewer, ids, self.cache_ttl).await
    }

    /// `cache_ttl` zero reads the store and leaves the cache alone.
    async fn views_with(
        &self,
        viewer: Option<UserId>,
        ids: &[PostId],
        cache_ttl: Duration,
    ) -> Result<Vec<PostView>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = crate::cached::read_through(
            self.ports.cache.as_ref(),
            cache_ttl,
            ids,
            post_key,
            |p: &CachedPost| p.record.id,
            |misses: Vec<PostId>| self.load_posts(misses),
        )
        .await?;
        let mut author_ids: Vec<UserId> = found.values().map(|p| p.record.author_id).collect();
        author_ids.sort_unstable();
        author_ids.dedup();
        let authors = self.users.records(&author_ids).await?;
        let loved = match viewer {
            Some(v) => {
                let raw: Vec<i64> = found.keys().map(|p| p.get()).collect();
                self.loved_among(v, &raw, !cache_ttl.is_zero()).await?
            }
            None => HashSet::new(),
        };
        Ok(ids
            .iter()
            .filter_map(|id| {
                let post = found.remove(id)?;
                let author = authors.get(&post.record.author_id)?.clone();
                Some(PostView {
                    loved_by_me: loved.contains(&id.get()),
                    author,
                    record: post.record,
                    mentions: post.mentions,
                    tags: post.tags,
                    media: post.media,
                })
            })
            .collect())
    }

    /// Which of `targets` (posts or comments) `user` loves: from the user's
    /// cached set when there is one (rebuilt from the store when missing), or
    /// from the store for users who love more than a set holds.
    /// Without `cached`, reads the store and leaves the cache alone.
    async fn loved_among(
        &self,
        user: UserId,
        targets: &[i64],
        cached: bool,
    ) -> Result<HashSet<i64>> {
        if targets.is_empty() {
            return Ok(HashSet::new());
        }
        if self.cache_ttl.is_zero() || !cached {
            return self.ports.loves.loved_among(user, targets).await;
        }
        let cache = &self.ports.cache;
        let key = loves_key(user);
        match cache.timeline_contains(&key, targets).await {
            Ok(Some(flags)) => {
                return Ok(targets
                    .iter()
                    .zip(flags)
                    .filter_map(|(t, loved)| loved.then_some(*t))
                    .collect());
            }
            Ok(None) => {
                if !matches!(cache.get(&many_loves_key(user)).await, Ok(Some(_))) {
                    let all = self
                        .ports
                        .loves
                        .loved_targets(user, LOVES_CACHED_MAX + 1)
                        .await?;
                    let ttl = self.timelines.settings().timeline_ttl;
                    if all.len() <= LOVES_CACHED_MAX as usize {
                        if let Err(e) = cache.timeline_replace(&key, &all, ttl).await {
                            tracing::warn!(error = %e, "could not cache a user's loves");
                        }
                        let all: HashSet<i64> = all.into_iter().collect();
                        return Ok(targets
                            .iter()
                            .copied()
                            .filter(|t| all.contains(t))
                            .collect());
                    }
                    let _ = cache
                        .set(&many_loves_key(user), bytes::Bytes::from_static(b"1"), ttl)
                        .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cache unavailable; reading loves from the store"),
        }
        self.ports.loves.loved_among(user, targets).await
    }

    /// Posts with their mentions, tags and media, from the store, in four queries.
    async fn load_posts(&self, ids: Vec<PostId>) -> Result<Vec<CachedPost>> {
        let records = self.ports.posts.posts_by_ids(&ids).await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let live: Vec<PostId> = records.iter().map(|p| p.id).collect();
        let mut mentions: HashMap<PostId, Vec<(UserId, String)>> = HashMap::new();
        for m in self.ports.posts.mentions_of(&live).await? {
            mentions
                .entry(m.post_id)
                .or_default()
                .push((m.user_id, m.username));
        }
        let mut tags: HashMap<PostId, Vec<String>> = HashMap::new();
        for (p, t) in self.ports.posts.tags_of(&live).await? {
            tags.entry(p).or_default().push(t);
        }
        let mut media: HashMap<PostId, Vec<MediaRecord>> = HashMap::new();
        for m in self.ports.media.media_of(&live).await? {
            if let Some(p) = m.post_id {
                media.entry(p).or_default().push(m);
            }
        }
        Ok(records
            .into_iter()
            .map(|record| CachedPost {
                mentions: mentions.remove(&record.id).unwrap_or_default(),
                tags: tags.remove(&record.id).unwrap_or_default(),
                media: media.remove(&record.id).unwrap_or_default(),
                record,
            })
            .collect())
    }

    /// Drops the cached copy of a post whose row (text, counts) just changed.
    async fn invalidate(&self, id: PostId) {
        if self.cache_ttl.is_zero() {
            return;
        }
        crate::cached::invalidate(&self.ports.cache, vec![post_key(id)]).await;
    }

    async fn comment_views(
        &self,
        viewer: Option<UserId>,
        records: Vec<CommentRecord>,
    ) -> Result<Vec<CommentView>> {
        let authors = self
            .authors(records.iter().map(|c| c.author_id).collect())
            .await?;
        let loved = match viewer {
            Some(v) => {
                let raw: Vec<i64> = records.iter().map(|c| c.id.get()).collect();
                self.loved_among(v, &raw, true).await?
            }
            None => HashSet::new(),
        };
        Ok(records
            .into_iter()
            .filter_map(|record| {
                let author = authors.get(&record.author_id)?.clone();
                Some(CommentView {
                    loved_by_me: loved.contains(&record.id.get()),
                    author,
                    record,
                })
            })
            .collect())
    }
}

//! Posts and what hangs off them, split by concern: this module writes and
//! reads posts; [`feeds`] pages the feeds (the fan-out timelines for home and
//! a user's posts, the store for the rest); [`comments`]; [`loves`]; and
//! [`views`], which assembles what a viewer sees through the caches.

mod comments;
mod feeds;
mod loves;
mod views;
pub(crate) mod visibility;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use starling_core::events::DomainEvent;
use starling_core::model::Subject;
use starling_core::model::{
    CommentRecord, MediaRecord, NewPost, PostEdit, PostRecord, PostVersion, UserRecord,
};
use starling_core::page::Page;
use starling_core::types::Limit;
use starling_core::{Error, IdGenerator, MediaId, PostId, Result, Timestamp, UserId};

use crate::limits::{Action, RateLimits};
use crate::media::MAX_MEDIA_PER_POST;
use crate::notifications::Notifications;
use crate::outbox::Outbox;
use crate::relations::{Relations, refill};
use crate::text;
use crate::timeline::Timelines;
use crate::users::Users;

pub const POST_MAX_CHARS: usize = 5000;
pub const COMMENT_MAX_CHARS: usize = 2000;
const MAX_MENTIONS: usize = 20;
const MAX_TAGS: usize = 20;
const MAX_REFETCH: usize = 100;

/// The ports posts use.
#[derive(Clone)]
pub struct PostPorts {
    pub posts: Arc<dyn starling_core::ports::PostStore>,
    pub comments: Arc<dyn starling_core::ports::CommentStore>,
    pub loves: Arc<dyn starling_core::ports::LoveStore>,
    pub media: Arc<dyn starling_core::ports::MediaStore>,
    pub search: Arc<dyn starling_core::ports::SearchStore>,
    pub follows: Arc<dyn starling_core::ports::FollowStore>,
    pub users: Arc<dyn starling_core::ports::UserStore>,
    /// Cached posts.
    pub cache: Arc<dyn starling_core::ports::Cache>,
}

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
    ports: PostPorts,
    ids: Arc<IdGenerator>,
    timelines: Arc<Timelines>,
    users: Arc<Users>,
    cache_ttl: Duration,
    outbox: Arc<Outbox>,
    notifications: Arc<Notifications>,
    limits: Arc<RateLimits>,
    relations: Arc<Relations>,
}

impl Posts {
    /// `cache_ttl` bounds how long a cached post may be served (zero disables
    /// the cache); every write to a post (text, counts, deletion) invalidates it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ports: PostPorts,
        ids: Arc<IdGenerator>,
        timelines: Arc<Timelines>,
        users: Arc<Users>,
        cache_ttl: Duration,
        outbox: Arc<Outbox>,
        notifications: Arc<Notifications>,
        limits: Arc<RateLimits>,
        relations: Arc<Relations>,
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
            relations,
        }
    }

    pub(super) async fn resolve_mentions(&self, text: &str) -> Result<Vec<UserId>> {
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

    /// A live post as `viewer` may see it: not when its author is suspended,
    /// nor across a block either way (a muted author's post still opens: it
    /// was asked for by its link).
    pub async fn get(&self, viewer: Option<UserId>, id: PostId) -> Result<PostView> {
        let post = self.get_any(viewer, id).await?;
        let rel = self.relations.of(viewer).await?;
        if !visibility::shown(&post.author, visibility::Surface::Personal)
            || rel.blocked_either(post.record.author_id)
        {
            return Err(Error::not_found("post"));
        }
        Ok(post)
    }

    /// A live post whatever its author's standing (for moderators).
    pub async fn get_any(&self, viewer: Option<UserId>, id: PostId) -> Result<PostView> {
        self.views_by_ids(viewer, &[id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("post"))
    }

    pub async fn edit(&self, author: UserId, id: PostId, text: String) -> Result<PostView> {
        check_text(&text, POST_MAX_CHARS, false)?;
        self.limits.check(Action::Edit, &author.to_string()).await?;
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
        self.limits.check(Action::Edit, &author.to_string()).await?;
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
        let mut items = self.views_by_ids(viewer, ids).await?;
        visibility::posts(&mut items, visibility::Surface::Personal);
        let rel = self.relations.of(viewer).await?;
        items.retain(|p| !rel.blocked_either(p.record.author_id));
        Ok(items)
    }

    /// Full-text search of live posts: every word must match; newest first.
    pub async fn search(
        &self,
        viewer: Option<UserId>,
        query: &str,
        before: Option<PostId>,
        limit: Limit,
    ) -> Result<Page<PostView, PostId>> {
        let words = crate::text::search_words(query)?;
        if let Some(me) = viewer {
            self.limits.check(Action::Search, &me.to_string()).await?;
        }
        let rel = self.relations.of(viewer).await?;
        let words = &words;
        refill(
            before,
            limit,
            |p: &PostView| {
                !rel.hides(p.record.author_id)
                    && visibility::shown(&p.author, visibility::Surface::Public)
            },
            |p: &PostView| p.record.id,
            |before, limit| async move {
                let mut records = self
                    .ports
                    .search
                    .search_posts(words, before, limit.fetch())
                    .await?;
                let next = limit.cut(&mut records, |p| p.id);
                let items = self.views(viewer, records).await?;
                Ok(Page { items, next })
            },
        )
        .await
    }
}

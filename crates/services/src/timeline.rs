//! Home timelines: fan-out on write into per-user timelines held by the cache
//! port, with the database as the source of truth.
//!
//! - A new post goes into its author's timeline at once (read-your-writes) and
//!   into each follower's timeline in a background task, so composing costs the
//!   same whatever the follower count.
//! - Authors with at least `celebrity_threshold` followers are not pushed:
//!   their posts are merged in when a follower reads (hybrid push/pull).
//! - A missing timeline (never built, evicted, Redis flushed) is rebuilt from the
//!   database on read; adding to a missing timeline does nothing, so a partial
//!   timeline is never served as a whole one.
//! - A read costs one cache range query, the celebrity merge, and one primary-key
//!   fetch of the page's posts: O(page size), whatever the number of posts,
//!   users or followees. Pages deeper than the cached window read the database.
//! - Each author's own timeline (`/api/users/{id}/posts`) is kept the same way:
//!   a new post goes in at once, a deleted one leaves, a missing one is rebuilt.

use std::sync::Arc;
use std::time::Duration;

use starling_core::model::{Feed, PostRecord};
use starling_core::page::Page;
use starling_core::types::Limit;
use starling_core::{PostId, Result, UserId};

/// The ports timelines use.
#[derive(Clone)]
pub struct TimelinePorts {
    pub users: Arc<dyn starling_core::ports::UserStore>,
    pub follows: Arc<dyn starling_core::ports::FollowStore>,
    pub posts: Arc<dyn starling_core::ports::PostStore>,
    /// The timelines themselves.
    pub cache: Arc<dyn starling_core::ports::Cache>,
}

#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// Newest posts kept per timeline.
    pub timeline_cap: usize,
    /// How long an unread timeline lives before it is rebuilt.
    pub timeline_ttl: Duration,
    /// Authors with at least this many followers are merged at read time.
    pub celebrity_threshold: i64,
    /// How long a post may be served from the cache; zero disables it.
    pub post_cache_ttl: Duration,
}

impl Default for FeedSettings {
    fn default() -> Self {
        FeedSettings {
            timeline_cap: 800,
            timeline_ttl: Duration::from_secs(3600),
            celebrity_threshold: 10_000,
            post_cache_ttl: Duration::from_secs(30),
        }
    }
}

fn home_key(user: UserId) -> String {
    format!("timeline:home:{user}")
}

fn user_key(user: UserId) -> String {
    format!("timeline:user:{user}")
}

/// A second add of a new post shortly after the first: a rebuild that read the
/// database just before the post committed, and stored its list just after
/// the first add, would otherwise leave the post out until the timeline expires.
const READD_AFTER: Duration = Duration::from_millis(150);

pub struct Timelines {
    ports: TimelinePorts,
    settings: FeedSettings,
    /// This node's copy of the shared "any celebrity" flag, and when it was read.
    celebrities: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// How long this node trusts its copy of the "any celebrity" flag.
const CELEBRITIES_LOCAL: Duration = Duration::from_secs(1);

/// A timeline page of post ids, from `limit + 1` read (the extra one tells
/// there is a next page).
fn id_page(ids: Vec<i64>, limit: Limit) -> Page<PostId, PostId> {
    let mut items: Vec<PostId> = ids.into_iter().map(PostId::from_i64).collect();
    let next = limit.cut(&mut items, |id| *id);
    Page { items, next }
}

impl Timelines {
    pub fn new(ports: TimelinePorts, settings: FeedSettings) -> Self {
        Timelines {
            ports,
            settings,
            celebrities: std::sync::Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &FeedSettings {
        &self.settings
    }

    /// Up to `want` ids older than `before` from the cached timeline at
    /// `key`, rebuilt from `feed` in the database when missing; pages deeper
    /// than the cached window come from the database.
    async fn cached_page(
        &self,
        key: &str,
        feed: &Feed,
        before: i64,
        want: usize,
    ) -> Result<Vec<i64>> {
        let cached = match self.ports.cache.timeline_page(key, before, want).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "timeline cache unavailable; reading the database");
                return self.db_page_ids(feed, before, want).await;
            }
        };
        match cached {
            Some((ids, len)) => {
                if ids.len() < want && len >= self.settings.timeline_cap {
                    // Deeper than the cached window: the database has the rest.
                    return self.db_page_ids(feed, before, want).await;
                }
                Ok(ids)
            }
            None => {
                if let Feed::Author(author) = feed {
                    // No timeline is built for an id that is nobody's.
                    self.ports.users.user_by_id(*author).await?;
                }
                let all = self
                    .ports
                    .posts
                    .feed(feed, None, self.settings.timeline_cap as u32)
                    .await?;
                let all_ids: Vec<i64> = all.iter().map(|p| p.id.get()).collect();
                if let Err(e) = self
                    .ports
                    .cache
                    .timeline_replace(key, &all_ids, self.settings.timeline_ttl)
                    .await
                {
                    tracing::warn!(error = %e, "could not store a rebuilt timeline");
                }
                if all_ids.len() >= self.settings.timeline_cap
                    && all_ids.iter().filter(|i| **i < before).count() < want
                {
                    return self.db_page_ids(feed, before, want).await;
                }
                Ok(all_ids
                    .into_iter()
                    .filter(|i| *i < before)
                    .take(want)
                    .collect())
            }
        }
    }

    /// The ids of one page of `viewer`'s home feed, newest first, before `before`.
    /// Returns up to `limit + 1` ids: the extra one tells there is a next page.
    async fn page_ids(&self, viewer: UserId, before: i64, limit: usize) -> Result<Vec<i64>> {
        let want = limit + 1;
        let mut ids = self
            .cached_page(&home_key(viewer), &Feed::Home(viewer), before, want)
            .await?;
        // Hybrid: posts of followed celebrities were never pushed; merge them in.
        if !self.celebrities_exist().await? {
            return Ok(ids);
        }
        let celebs = self
            .ports
            .posts
            .feed(
                &Feed::FollowedCelebrities {
                    viewer,
                    min_followers: self.settings.celebrity_threshold,
                },
                Some(PostId::from_i64(before)),
                want as u32,
            )
            .await?;
        if !celebs.is_empty() {
            ids.extend(celebs.iter().map(|p| p.id.get()));
            ids.sort_unstable_by_key(|i| std::cmp::Reverse(*i));
            ids.dedup();
            ids.truncate(want);
        }
        Ok(ids)
    }

    /// Whether any author has reached the celebrity threshold, checked at most
    /// every few seconds (through the cache port, so all nodes share it): the
    /// common case, none, then costs no merge query per feed read. An author who
    /// crosses the threshold is merged within that delay.
    async fn celebrities_exist(&self) -> Result<bool> {
        const KEY: &str = "timeline:celebrities-exist";
        // This node keeps its answer for a second: one cache round trip fewer
        // per home read.
        let local = match self.celebrities.lock() {
            Ok(g) => *g,
            Err(poisoned) => *poisoned.into_inner(),
        };
        if let Some((at, any)) = local
            && at.elapsed() < CELEBRITIES_LOCAL
        {
            return Ok(any);
        }
        let remember = |any: bool| {
            let mut g = match self.celebrities.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            *g = Some((std::time::Instant::now(), any));
        };
        if let Ok(Some(v)) = self.ports.cache.get(KEY).await {
            let any = v.as_ref() == b"1";
            remember(any);
            return Ok(any);
        }
        let any = self
            .ports
            .users
            .any_with_followers(self.settings.celebrity_threshold)
            .await?;
        let value = bytes::Bytes::from_static(if any { b"1" } else { b"0" });
        let _ = self
            .ports
            .cache
            .set(KEY, value, Duration::from_secs(5))
            .await;
        remember(any);
        Ok(any)
    }

    async fn db_page_ids(&self, feed: &Feed, before: i64, want: usize) -> Result<Vec<i64>> {
        let posts = self
            .ports
            .posts
            .feed(feed, Some(PostId::from_i64(before)), want as u32)
            .await?;
        Ok(posts.iter().map(|p| p.id.get()).collect())
    }

    /// One page of `viewer`'s home feed: post ids, newest first. Posts deleted
    /// since they were pushed may be among them; the caller drops them (and
    /// tells [`Timelines::forget`]).
    pub async fn home(
        &self,
        viewer: UserId,
        before: Option<PostId>,
        limit: Limit,
    ) -> Result<Page<PostId, PostId>> {
        let before = before.map_or(i64::MAX, PostId::get);
        let ids = self.page_ids(viewer, before, limit.get() as usize).await?;
        Ok(id_page(ids, limit))
    }

    /// One page of `author`'s own posts, newest first, from their cached timeline.
    pub async fn user_posts(
        &self,
        author: UserId,
        before: Option<PostId>,
        limit: Limit,
    ) -> Result<Page<PostId, PostId>> {
        let before = before.map_or(i64::MAX, PostId::get);
        let ids = self
            .cached_page(
                &user_key(author),
                &Feed::Author(author),
                before,
                limit.fetch() as usize,
            )
            .await?;
        Ok(id_page(ids, limit))
    }

    /// Posts that no longer exist were found in `author`'s own timeline: it
    /// is rebuilt on the next read (see [`Timelines::forget`]).
    pub async fn forget_user_posts(&self, author: UserId) {
        let _ = self.ports.cache.delete(&user_key(author)).await;
    }

    /// Posts that no longer exist were found in `viewer`'s timeline: it is
    /// dropped and rebuilt on the next read. (Removing the ids alone would
    /// leave a full window one short, and a timeline shorter than its cap
    /// reads as the whole feed, hiding the older posts.)
    pub async fn forget(&self, viewer: UserId) {
        let _ = self.ports.cache.delete(&home_key(viewer)).await;
    }

    /// A new post: into the author's timeline now. Followers' timelines are
    /// filled by [`FanOutWorker`] from the post's `post.created` event, so a
    /// crash after the commit delays the fan-out but never loses it.
    pub async fn published(&self, post: &PostRecord) {
        let id = post.id.get();
        let cap = self.settings.timeline_cap;
        let keys = [home_key(post.author_id), user_key(post.author_id)];
        for key in &keys {
            if let Err(e) = self.ports.cache.timeline_add(key, &[id], cap).await {
                tracing::warn!(error = %e, "could not add a post to its author's timelines");
            }
        }
        let cache = self.ports.cache.clone();
        tokio::spawn(async move {
            tokio::time::sleep(READD_AFTER).await;
            for key in &keys {
                let _ = cache.timeline_add(key, &[id], cap).await;
            }
        });
    }

    /// A deleted post leaves every timeline: the author's and (in the
    /// background) each follower's are dropped and rebuilt on their next read,
    /// which is exact however full they were (see [`Timelines::forget`]);
    /// reads also skip deleted posts meanwhile.
    pub async fn deleted(&self, _post: PostId, author: UserId) {
        for key in [home_key(author), user_key(author)] {
            let _ = self.ports.cache.delete(&key).await;
        }
        let ports = self.ports.clone();
        tokio::spawn(async move {
            match ports.follows.follower_ids(author).await {
                Ok(followers) => {
                    for f in followers {
                        let _ = ports.cache.delete(&home_key(f)).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not drop a deleted post's timelines")
                }
            }
        });
    }

    /// Following someone merges their recent posts into your timeline.
    pub async fn followed(&self, me: UserId, target: UserId, target_followers: i64) -> Result<()> {
        if target_followers >= self.settings.celebrity_threshold {
            return Ok(()); // merged at read time
        }
        let recent = self
            .ports
            .posts
            .feed(
                &Feed::Author(target),
                None,
                self.settings.timeline_cap as u32,
            )
            .await?;
        let ids: Vec<i64> = recent.iter().map(|p| p.id.get()).collect();
        if !ids.is_empty() {
            self.ports
                .cache
                .timeline_add(&home_key(me), &ids, self.settings.timeline_cap)
                .await?;
        }
        Ok(())
    }

    /// Unfollowing someone removes their posts: the timeline is rebuilt from
    /// the database on the next read, which is exact however far back they go.
    pub async fn unfollowed(&self, me: UserId) -> Result<()> {
        self.ports.cache.delete(&home_key(me)).await
    }
}

/// The home timelines a new post of `author` goes into: their followers',
/// unless the author is a celebrity (merged at read time instead).
async fn fan_out_keys(
    ports: &TimelinePorts,
    author: UserId,
    threshold: i64,
) -> Result<Vec<String>> {
    // A celebrity's followers merge at read time: decide from the stored
    // count before reading (possibly) a hundred thousand follower ids.
    match ports.users.user_by_id(author).await {
        Ok(u) if u.follower_count >= threshold => return Ok(Vec::new()),
        Ok(_) => {}
        Err(starling_core::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let followers = ports.follows.follower_ids(author).await?;
    if followers.len() as i64 >= threshold {
        return Ok(Vec::new());
    }
    Ok(followers.into_iter().map(home_key).collect())
}

/// The consumer group that pushes new posts into followers' timelines.
pub struct FanOutWorker(pub Arc<Timelines>);

impl FanOutWorker {
    pub const GROUP: &'static str = "timelines";
    pub const PATTERNS: &'static [&'static str] = &["post.created"];
}

#[async_trait::async_trait]
impl starling_core::messaging::EventHandler for FanOutWorker {
    async fn handle(&self, event: &starling_core::messaging::Envelope) -> Result<()> {
        self.handle_batch(std::slice::from_ref(event))
            .await
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Every new post of the batch into its author's followers' timelines,
    /// in one batch of cache writes. Adding an id a timeline already holds
    /// changes nothing, so a redelivered event is harmless.
    async fn handle_batch(&self, events: &[starling_core::messaging::Envelope]) -> Vec<Result<()>> {
        use starling_core::events::DomainEvent;
        let t = &self.0;
        let mut results: Vec<Result<()>> = Vec::with_capacity(events.len());
        let mut adds: Vec<(String, i64)> = Vec::new();
        let mut fanned: Vec<usize> = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let outcome = match DomainEvent::decode(event) {
                Ok(DomainEvent::PostCreated { actor, post, .. }) => {
                    match fan_out_keys(&t.ports, actor, t.settings.celebrity_threshold).await {
                        Ok(keys) => {
                            adds.extend(keys.into_iter().map(|k| (k, post.get())));
                            fanned.push(i);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            results.push(outcome);
        }
        if let Err(e) = t
            .ports
            .cache
            .timeline_add_pairs(&adds, t.settings.timeline_cap)
            .await
        {
            for i in fanned {
                results[i] = Err(starling_core::Error::Unavailable {
                    message: format!("timeline fan-out: {e}"),
                });
            }
        }
        results
    }
}

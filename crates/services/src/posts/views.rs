//! What a viewer sees of posts: assembled through the post cache and the
//! user cache in a fixed number of round trips.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use starling_core::model::{MediaRecord, PostRecord, UserRecord};
use starling_core::{Error, PostId, Result, UserId};

use super::{PostView, Posts};

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

impl Posts {
    pub(super) async fn view_one(
        &self,
        viewer: Option<UserId>,
        record: PostRecord,
    ) -> Result<PostView> {
        self.views(viewer, vec![record])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("post"))
    }

    pub(super) async fn authors(&self, ids: Vec<UserId>) -> Result<HashMap<UserId, UserRecord>> {
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
    pub(super) async fn views(
        &self,
        viewer: Option<UserId>,
        records: Vec<PostRecord>,
    ) -> Result<Vec<PostView>> {
        let ids: Vec<PostId> = records.iter().map(|p| p.id).collect();
        self.views_by_ids(viewer, &ids).await
    }

    pub(super) async fn views_by_ids(
        &self,
        viewer: Option<UserId>,
        ids: &[PostId],
    ) -> Result<Vec<PostView>> {
        self.views_with(viewer, ids, self.cache_ttl).await
    }

    /// `cache_ttl` zero reads the store and leaves the cache alone.
    pub(super) async fn views_with(
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
    pub async fn invalidate(&self, id: PostId) {
        if self.cache_ttl.is_zero() {
            return;
        }
        crate::cached::invalidate(&self.ports.cache, vec![post_key(id)]).await;
    }
}

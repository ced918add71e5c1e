//! The feeds: home and a user's posts from the fan-out timelines (rebuilt
//! when they hold posts deleted since), the others from the store. Every
//! feed leaves out what the viewer's relations hide (see [`crate::relations`]),
//! refilling pages thinned by that.

use std::sync::atomic::{AtomicBool, Ordering};

use starling_core::model::Feed;
use starling_core::page::Page;
use starling_core::types::Limit;
use starling_core::{Error, PostId, Result, UserId};

use super::visibility::{self, Surface};
use super::{Newer, PostView, Posts};
use crate::relations::refill;

impl Posts {
    pub async fn feed(
        &self,
        viewer: Option<UserId>,
        feed: Feed,
        before: Option<PostId>,
        limit: Limit,
    ) -> Result<Page<PostView, PostId>> {
        let rel = self.relations.of(viewer).await?;
        let surface = Surface::of(&feed);
        // What the viewer's blocks and mutes hide, and what the authors'
        // standing hides here (see `visibility`).
        let keep =
            |p: &PostView| !rel.hides(p.record.author_id) && visibility::shown(&p.author, surface);
        if let Feed::Author(author) = feed {
            // Their cached timeline; it exists only for a user who does
            // (checked when it is built), and an empty page checks again.
            let page = self.timelines.user_posts(author, before, limit).await?;
            if page.items.is_empty() && !self.users.records(&[author]).await?.contains_key(&author)
            {
                return Err(Error::not_found("user"));
            }
            if rel.blocked_either(author) {
                // The profile still shows; the posts do not, either way.
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            let (mut page, stale) = self.timeline_views(viewer, &page).await?;
            if stale {
                self.timelines.forget_user_posts(author).await;
            }
            // A muted author's own page still shows their posts: it was
            // asked for. A suspended one's does not.
            visibility::posts(&mut page.items, surface);
            return Ok(page);
        }
        if let Feed::Home(me) = feed {
            // Home feeds come from the fan-out timelines.
            let stale = &AtomicBool::new(false);
            let page = refill(
                before,
                limit,
                keep,
                |p: &PostView| p.record.id,
                |before, limit| async move {
                    let ids = self.timelines.home(me, before, limit).await?;
                    let (page, s) = self.timeline_views(viewer, &ids).await?;
                    if s {
                        stale.store(true, Ordering::Relaxed);
                    }
                    Ok(page)
                },
            )
            .await?;
            if stale.load(Ordering::Relaxed) {
                // Deleted since they were pushed: rebuild this timeline.
                self.timelines.forget(me).await;
            }
            return Ok(page);
        }
        let feed = &feed;
        refill(
            before,
            limit,
            keep,
            |p: &PostView| p.record.id,
            |before, limit| async move {
                let mut records = self.ports.posts.feed(feed, before, limit.fetch()).await?;
                let next = limit.cut(&mut records, |p| p.id);
                let items = self.views(viewer, records).await?;
                Ok(Page { items, next })
            },
        )
        .await
    }

    pub async fn newer(
        &self,
        viewer: Option<UserId>,
        feed: Feed,
        since: PostId,
        limit: Limit,
    ) -> Result<Newer> {
        let rel = self.relations.of(viewer).await?;
        let mut records = self
            .ports
            .posts
            .feed_since(&feed, since, limit.fetch())
            .await?;
        let has_more = records.len() > limit.get() as usize;
        records.truncate(limit.get() as usize);
        records.reverse();
        let own_page = matches!(feed, Feed::Author(a) if !rel.blocked_either(a));
        records.retain(|p| own_page || !rel.hides(p.author_id));
        let mut items = self.views(viewer, records).await?;
        visibility::posts(&mut items, Surface::of(&feed));
        Ok(Newer { items, has_more })
    }

    /// A timeline page's posts as `viewer` sees them, and whether the page
    /// held posts deleted since (its timeline is then stale).
    pub(super) async fn timeline_views(
        &self,
        viewer: Option<UserId>,
        page: &Page<PostId, PostId>,
    ) -> Result<(Page<PostView, PostId>, bool)> {
        let items = self.views_by_ids(viewer, &page.items).await?;
        let stale = items.len() < page.items.len();
        Ok((
            Page {
                items,
                next: page.next,
            },
            stale,
        ))
    }
}

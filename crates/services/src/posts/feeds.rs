//! The feeds: home and a user's posts from the fan-out timelines (rebuilt
//! when they hold posts deleted since), the others from the store.

use starling_core::model::Feed;
use starling_core::page::Page;
use starling_core::types::Limit;
use starling_core::{Error, PostId, Result, UserId};

use super::visibility::{self, Surface};
use super::{Newer, PostView, Posts};

impl Posts {
    pub async fn feed(
        &self,
        viewer: Option<UserId>,
        feed: Feed,
        before: Option<PostId>,
        limit: Limit,
    ) -> Result<Page<PostView, PostId>> {
        let surface = Surface::of(&feed);
        let mut page = self.feed_unfiltered(viewer, feed, before, limit).await?;
        visibility::posts(&mut page.items, surface);
        Ok(page)
    }

    async fn feed_unfiltered(
        &self,
        viewer: Option<UserId>,
        feed: Feed,
        before: Option<PostId>,
        limit: Limit,
    ) -> Result<Page<PostView, PostId>> {
        if let Feed::Author(author) = feed {
            // Their cached timeline; it exists only for a user who does
            // (checked when it is built), and an empty page checks again.
            let page = self.timelines.user_posts(author, before, limit).await?;
            if page.items.is_empty() && !self.users.records(&[author]).await?.contains_key(&author)
            {
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
            let page = self.timelines.home(me, before, limit).await?;
            let (page, stale) = self.timeline_views(viewer, &page).await?;
            if stale {
                // Deleted since they were pushed: rebuild this timeline.
                self.timelines.forget(me).await;
            }
            return Ok(page);
        }
        let mut records = self.ports.posts.feed(&feed, before, limit.fetch()).await?;
        let next = limit.cut(&mut records, |p| p.id);
        let items = self.views(viewer, records).await?;
        Ok(Page { items, next })
    }

    pub async fn newer(
        &self,
        viewer: Option<UserId>,
        feed: Feed,
        since: PostId,
        limit: Limit,
    ) -> Result<Newer> {
        let mut records = self
            .ports
            .posts
            .feed_since(&feed, since, limit.fetch())
            .await?;
        let has_more = records.len() > limit.get() as usize;
        records.truncate(limit.get() as usize);
        records.reverse();
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

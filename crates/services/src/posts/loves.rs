//! Loves of posts and comments, who loved what, and the cached set of
//! what each viewer loves (for `lovedByMe`).

use std::collections::HashSet;

use starling_core::model::{LoveTarget, UserPosition};
use starling_core::page::Page;
use starling_core::types::Limit;
use starling_core::{Result, Timestamp, UserId};

use starling_core::events::DomainEvent;
use starling_core::model::Subject;

use super::Posts;
use crate::limits::Action;
use crate::users::UserView;

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
    pub async fn love(&self, user: UserId, target: LoveTarget, on: bool) -> Result<()> {
        // Unloves count too: each love after one notifies (and pushes) again.
        self.limits.check(Action::Love, &user.to_string()).await?;
        if on {
            // Nobody loves across a block.
            let owner = match target {
                LoveTarget::Post(post) => self.get(None, post).await?.record.author_id,
                LoveTarget::Comment(c) => self.ports.comments.comment(c).await?.author_id,
            };
            self.relations.ensure_not_blocked(user, owner).await?;
        }
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

    /// Who loved `target`, newest first.
    pub async fn lovers(
        &self,
        viewer: Option<UserId>,
        target: LoveTarget,
        after: Option<UserPosition>,
        limit: Limit,
    ) -> Result<Page<UserView, UserPosition>> {
        let rows = self
            .ports
            .loves
            .lovers(target, after, limit.fetch())
            .await?;
        // Either side of a block is left out.
        let rel = self.relations.of(viewer).await?;
        let mut page = self.users.page(viewer, rows, limit).await?;
        page.items.retain(|u| !rel.blocked_either(u.record.id));
        Ok(page)
    }

    /// Which of `targets` (posts or comments) `user` loves: from the user's
    /// cached set when there is one (rebuilt from the store when missing), or
    /// from the store for users who love more than a set holds.
    /// Without `cached`, reads the store and leaves the cache alone.
    pub(super) async fn loved_among(
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
}

//! Blocks and mutes as one viewer sees them, and the read-time filter every
//! list applies with them.
//!
//! Each user's relations (whom they block, who blocks them, whom they mute)
//! are one set, cached in the cache port under `relations:{user}` and dropped
//! whenever a block or mute of theirs changes. Reads filter with it: a feed
//! read costs one cache get for the set and no query on a warm read, and
//! cached timelines never need rebuilding when a relation changes.
//!
//! [`RelationSet::hides`] is the one question lists ask ("is this author's
//! content hidden from the viewer?"); [`refill`] keeps filtered pages
//! full-ish with exact cursors. Other reasons to hide an author (a suspended
//! account) can join [`RelationSet::hides`] or wrap it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use starling_core::page::Page;
use starling_core::ports::{BlockStore, Cache, Relations as StoredRelations};
use starling_core::types::Limit;
use starling_core::{Error, Result, UserId};

/// How long a cached relation set may be served. Every change drops the
/// sets it touches, so this only bounds a set cached by a read racing a change.
const RELATIONS_TTL: Duration = Duration::from_secs(600);

/// At most this many extra fetches refill a page that filtering thinned.
const REFILL_ROUNDS: usize = 4;

/// The refusal for any interaction across a block, worded so it tells
/// neither side who blocked whom.
pub fn blocked() -> Error {
    Error::denied("blocked", "you can't interact with this account")
}

fn key(user: UserId) -> String {
    format!("relations:{user}")
}

/// What one viewer has to do with others. Empty for anonymous viewers.
#[derive(Debug, Clone, Default)]
pub struct RelationSet {
    blocking: HashSet<UserId>,
    blocked_by: HashSet<UserId>,
    muting: HashSet<UserId>,
}

impl RelationSet {
    fn from_stored(r: StoredRelations) -> Self {
        RelationSet {
            blocking: r.blocking.into_iter().collect(),
            blocked_by: r.blocked_by.into_iter().collect(),
            muting: r.muting.into_iter().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.blocking.is_empty() && self.blocked_by.is_empty() && self.muting.is_empty()
    }

    /// The viewer blocks someone or someone blocks them.
    pub fn any_blocks(&self) -> bool {
        !self.blocking.is_empty() || !self.blocked_by.is_empty()
    }

    /// The viewer blocks `other`.
    pub fn blocking(&self, other: UserId) -> bool {
        self.blocking.contains(&other)
    }

    /// The viewer mutes `other`.
    pub fn muting(&self, other: UserId) -> bool {
        self.muting.contains(&other)
    }

    /// Either blocks the other.
    pub fn blocked_either(&self, other: UserId) -> bool {
        self.blocking.contains(&other) || self.blocked_by.contains(&other)
    }

    /// Whether `author`'s posts, comments and actions are hidden from the
    /// viewer: either side of a block, or muted by the viewer.
    pub fn hides(&self, author: UserId) -> bool {
        self.blocked_either(author) || self.muting.contains(&author)
    }
}

/// Reads and caches relation sets.
pub struct Relations {
    store: Arc<dyn BlockStore>,
    cache: Arc<dyn Cache>,
}

impl Relations {
    pub fn new(store: Arc<dyn BlockStore>, cache: Arc<dyn Cache>) -> Self {
        Relations { store, cache }
    }

    /// The viewer's relations: one cache get, the store on a miss. A cache
    /// that fails is bypassed.
    pub async fn of(&self, viewer: Option<UserId>) -> Result<RelationSet> {
        let Some(viewer) = viewer else {
            return Ok(RelationSet::default());
        };
        let key = key(viewer);
        match self.cache.get(&key).await {
            Ok(Some(bytes)) => {
                if let Some(r) = crate::cached::decode::<StoredRelations>(&bytes) {
                    return Ok(RelationSet::from_stored(r));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "relation cache unavailable; reading the store"),
        }
        let stored = self.store.relations_of(viewer).await?;
        if let Some(bytes) = crate::cached::encode(&stored) {
            let _ = self
                .cache
                .set(&key, Bytes::from(bytes), RELATIONS_TTL)
                .await;
        }
        Ok(RelationSet::from_stored(stored))
    }

    /// Many users' sets (the notification worker's recipients).
    pub async fn of_each(&self, users: &[UserId]) -> Result<Vec<RelationSet>> {
        let mut out = Vec::with_capacity(users.len());
        for u in users {
            out.push(self.of(Some(*u)).await?);
        }
        Ok(out)
    }

    /// Drops the cached sets of users whose relations just changed.
    pub async fn changed(&self, users: &[UserId]) {
        let keys = users.iter().map(|u| key(*u)).collect();
        crate::cached::invalidate(&self.cache, keys).await;
    }

    /// 403 `blocked` when either of `actor` and `other` blocks the other
    /// (read from the store: writes must not trust a cached set).
    pub async fn ensure_not_blocked(&self, actor: UserId, other: UserId) -> Result<()> {
        if actor != other && self.store.blocked_between(actor, other).await? {
            return Err(blocked());
        }
        Ok(())
    }
}

/// One page of a list filtered by `keep`, kept full-ish: when filtering
/// thins a page and there is more, further items are fetched (at most
/// [`REFILL_ROUNDS`] more times, each asking for twice the page). `fetch(cursor,
/// limit)` returns one unfiltered page whose `next` is the position after
/// everything it returned; `pos` is an item's own position. The cursor
/// returned points just after the last item examined and kept or dropped, so
/// it stays exact whatever was filtered out.
pub async fn refill<T, P, F, Fut>(
    start: Option<P>,
    limit: Limit,
    keep: impl Fn(&T) -> bool,
    pos: impl Fn(&T) -> P,
    mut fetch: F,
) -> Result<Page<T, P>>
where
    P: Clone,
    F: FnMut(Option<P>, Limit) -> Fut,
    Fut: Future<Output = Result<Page<T, P>>>,
{
    let want = limit.get() as usize;
    let mut items: Vec<T> = Vec::with_capacity(want);
    let mut cursor = start;
    let mut asked = limit;
    for _ in 0..=REFILL_ROUNDS {
        let page = fetch(cursor, asked).await?;
        let mut rest = page.items.into_iter();
        while let Some(item) = rest.next() {
            if !keep(&item) {
                continue;
            }
            items.push(item);
            if items.len() == want {
                // Full: go on after the last one taken if more of this
                // batch would show, else after the whole batch.
                let next = if rest.as_slice().iter().any(&keep) {
                    items.last().map(&pos)
                } else {
                    page.next
                };
                return Ok(Page { items, next });
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
        let ask = (2 * want).min(Limit::MAX as usize);
        asked = Limit::parse(Some(ask as i64))?;
    }
    Ok(Page {
        items,
        next: cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list of 0..n (newest first: n-1 down to 0) paged like the store,
    /// counting the fetches.
    async fn fetch_from(
        all: &[u32],
        before: Option<u32>,
        limit: Limit,
        calls: &std::sync::atomic::AtomicUsize,
    ) -> Result<Page<u32, u32>> {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rows: Vec<u32> = all
            .iter()
            .copied()
            .filter(|i| before.is_none_or(|b| *i < b))
            .take(limit.fetch() as usize)
            .collect();
        let next = limit.cut(&mut rows, |i| *i);
        Ok(Page { items: rows, next })
    }

    #[tokio::test]
    async fn refilled_pages_are_full_and_cursors_visit_everything_once() {
        let all: Vec<u32> = (0..40).rev().collect();
        // Keep every fourth item only: pages thin out three times in four.
        let keep = |i: &u32| i.is_multiple_of(4);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let limit = Limit::parse(Some(3)).unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = refill(
                cursor,
                limit,
                keep,
                |i| *i,
                |c, l| fetch_from(&all, c, l, &calls),
            )
            .await
            .unwrap();
            if page.next.is_some() {
                assert_eq!(page.items.len(), 3, "pages before the last are full");
            }
            seen.extend(page.items);
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        let expected: Vec<u32> = all.iter().copied().filter(keep).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn refilling_stops_after_a_few_rounds_with_a_cursor_to_go_on() {
        let all: Vec<u32> = (0..1000).rev().collect();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let limit = Limit::parse(Some(5)).unwrap();
        let page = refill(
            None,
            limit,
            |_: &u32| false,
            |i| *i,
            |c, l| fetch_from(&all, c, l, &calls),
        )
        .await
        .unwrap();
        assert!(page.items.is_empty());
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::Relaxed),
            REFILL_ROUNDS + 1
        );
        // The cursor points past everything examined, nothing skipped unseen.
        assert_eq!(page.next, Some(1000 - 5 - 10 * REFILL_ROUNDS as u32));
    }

    #[test]
    fn a_set_hides_both_sides_of_a_block_and_what_the_viewer_mutes() {
        let id = UserId::from_i64;
        let set = RelationSet::from_stored(StoredRelations {
            blocking: vec![id(1)],
            blocked_by: vec![id(2)],
            muting: vec![id(3)],
        });
        assert!(set.hides(id(1)) && set.hides(id(2)) && set.hides(id(3)));
        assert!(!set.hides(id(4)));
        assert!(set.blocked_either(id(2)) && !set.blocked_either(id(3)));
        assert!(
            set.blocking(id(1)) && !set.blocking(id(2)),
            "who blocks you is not told"
        );
        assert!(set.muting(id(3)) && set.any_blocks());
        assert!(!RelationSet::default().any_blocks());
    }
}

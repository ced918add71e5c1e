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
/// thins a page and there is more, the next items are fetched (at most
/// [`REFILL_ROUNDS`] times). `fetch(cursor, limit)` returns one unfiltered
/// page whose `next` is the position after everything it examined, so the
/// cursor returned here stays exact whatever was filtered out.
pub async fn refill<T, P, F, Fut>(
    start: Option<P>,
    limit: Limit,
    keep: impl Fn(&T) -> bool,
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
        items.extend(page.items.into_iter().filter(|t| keep(t)));
        cursor = page.next;
        let missing = want.saturating_sub(items.len());
        if cursor.is_none() || missing == 0 {
            break;
        }
        asked = Limit::parse(Some(missing as i64))?;
    }
    Ok(Page {
        items,
        next: cursor,
    })
}

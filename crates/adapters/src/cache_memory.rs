//! In-process cache: moka with a per-entry expiry. The embedded default.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moka::Expiry;
use moka::sync::Cache as Moka;
use starling_core::ports::Cache;
use starling_core::{Error, Result};

enum Value {
    Bytes(Bytes),
    Counter(AtomicU64),
    Timeline(Mutex<BTreeSet<i64>>),
}

struct Entry {
    value: Value,
    expires_at: Instant,
}

struct ByDeadline;

impl Expiry<String, Arc<Entry>> for ByDeadline {
    fn expire_after_create(&self, _k: &String, v: &Arc<Entry>, now: Instant) -> Option<Duration> {
        Some(v.expires_at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _k: &String,
        v: &Arc<Entry>,
        now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.expires_at.saturating_duration_since(now))
    }
}

pub struct MemoryCache {
    inner: Moka<String, Arc<Entry>>,
    /// Token buckets: each key's theoretical arrival time.
    buckets: Mutex<HashMap<String, Instant>>,
}

/// Buckets kept before the full ones (arrival time passed) are dropped.
const BUCKETS_PRUNE_AT: usize = 100_000;

impl MemoryCache {
    pub fn new(max_entries: u64) -> Self {
        MemoryCache {
            inner: Moka::builder()
                .max_capacity(max_entries)
                .expire_after(ByDeadline)
                .build(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn live(&self, key: &str) -> Option<Arc<Entry>> {
        // moka evicts lazily; never hand out an entry past its deadline.
        self.inner
            .get(key)
            .filter(|e| e.expires_at > Instant::now())
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::new(100_000)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.live(key).and_then(|e| match &e.value {
            Value::Bytes(b) => Some(b.clone()),
            Value::Counter(c) => Some(Bytes::from(c.load(Ordering::Relaxed).to_string())),
            Value::Timeline(_) => None,
        }))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.get(k).await?);
        }
        Ok(out)
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()> {
        self.inner.insert(
            key.to_owned(),
            Arc::new(Entry {
                value: Value::Bytes(value),
                expires_at: Instant::now() + ttl,
            }),
        );
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.invalidate(key);
        Ok(())
    }

    async fn incr_window(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
        let fresh = || {
            Arc::new(Entry {
                value: Value::Counter(AtomicU64::new(0)),
                expires_at: Instant::now() + window,
            })
        };
        let mut entry = self.inner.get_with(key.to_owned(), fresh);
        if entry.expires_at <= Instant::now() || !matches!(entry.value, Value::Counter(_)) {
            // An expired window (not yet evicted) or a non-counter: start over.
            let replacement = fresh();
            self.inner.insert(key.to_owned(), replacement.clone());
            entry = replacement;
        }
        let count = match &entry.value {
            Value::Counter(c) => c.fetch_add(1, Ordering::Relaxed) + 1,
            Value::Bytes(_) | Value::Timeline(_) => 1,
        };
        Ok((
            count,
            entry.expires_at.saturating_duration_since(Instant::now()),
        ))
    }

    async fn take_token(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<Option<Duration>> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| Error::internal("token buckets poisoned"))?;
        if buckets.len() >= BUCKETS_PRUNE_AT {
            buckets.retain(|_, arrival| *arrival > now);
        }
        let arrival = buckets
            .get(key)
            .copied()
            .filter(|a| *a > now)
            .unwrap_or(now);
        let next = arrival + interval;
        let ahead = next - now;
        let allowed = interval * burst.max(1);
        if ahead > allowed {
            return Ok(Some(ahead - allowed));
        }
        buckets.insert(key.to_owned(), next);
        Ok(None)
    }

    async fn check(&self) -> Result<()> {
        Ok(())
    }

    async fn timeline_replace(&self, key: &str, ids: &[i64], ttl: Duration) -> Result<()> {
        let set: BTreeSet<i64> = ids.iter().copied().filter(|i| *i > 0).collect();
        self.inner.insert(
            key.to_owned(),
            Arc::new(Entry {
                value: Value::Timeline(Mutex::new(set)),
                expires_at: Instant::now() + ttl,
            }),
        );
        Ok(())
    }

    async fn timeline_add(&self, key: &str, ids: &[i64], cap: usize) -> Result<bool> {
        let Some(entry) = self.live(key) else {
            return Ok(false);
        };
        let Value::Timeline(set) = &entry.value else {
            return Ok(false);
        };
        let mut set = lock(set);
        set.extend(ids.iter().copied().filter(|i| *i > 0));
        while set.len() > cap {
            set.pop_first();
        }
        Ok(true)
    }

    async fn timeline_remove(&self, key: &str, ids: &[i64]) -> Result<()> {
        if let Some(entry) = self.live(key)
            && let Value::Timeline(set) = &entry.value
        {
            let mut set = lock(set);
            for id in ids {
                set.remove(id);
            }
        }
        Ok(())
    }

    async fn timeline_contains(&self, key: &str, ids: &[i64]) -> Result<Option<Vec<bool>>> {
        let Some(entry) = self.live(key) else {
            return Ok(None);
        };
        let Value::Timeline(set) = &entry.value else {
            return Ok(None);
        };
        let set = lock(set);
        Ok(Some(ids.iter().map(|id| set.contains(id)).collect()))
    }

    async fn timeline_page(
        &self,
        key: &str,
        before: i64,
        limit: usize,
    ) -> Result<Option<(Vec<i64>, usize)>> {
        let Some(entry) = self.live(key) else {
            return Ok(None);
        };
        let Value::Timeline(set) = &entry.value else {
            return Ok(None);
        };
        let set = lock(set);
        let page = set.range(..before).rev().take(limit).copied().collect();
        Ok(Some((page, set.len())))
    }
}

fn lock(m: &Mutex<BTreeSet<i64>>) -> MutexGuard<'_, BTreeSet<i64>> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

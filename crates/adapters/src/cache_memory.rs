//! In-process cache: moka with a per-entry expiry. The embedded default.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moka::Expiry;
use moka::sync::Cache as Moka;
use starling_core::Result;
use starling_core::ports::Cache;

enum Value {
    Bytes(Bytes),
    Counter(AtomicU64),
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
}

impl MemoryCache {
    pub fn new(max_entries: u64) -> Self {
        MemoryCache {
            inner: Moka::builder()
                .max_capacity(max_entries)
                .expire_after(ByDeadline)
                .build(),
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
        Ok(self.live(key).map(|e| match &e.value {
            Value::Bytes(b) => b.clone(),
            Value::Counter(c) => Bytes::from(c.load(Ordering::Relaxed).to_string()),
        }))
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
            Value::Bytes(_) => 1,
        };
        Ok((
            count,
            entry.expires_at.saturating_duration_since(Instant::now()),
        ))
    }

    async fn check(&self) -> Result<()> {
        Ok(())
    }
}

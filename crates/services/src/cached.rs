//! Read-through caching of entities by id, shared by users and posts.
//! Entries are postcard-encoded: a feed page decodes twenty of them per read,
//! and JSON's text parsing showed in profiles. An entry that does not decode
//! (another version's format) is a miss.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use starling_core::Result;
use starling_core::ports::Cache;

/// Reads `ids` through the cache: the hits in one `get_many` round trip, the
/// misses from `load` in one batch, which are then cached for `ttl`. A zero
/// `ttl` bypasses the cache; a cache that fails is bypassed too, never fatal.
/// Ids that `load` does not return are left out.
pub(crate) async fn read_through<K, V, F, Fut>(
    cache: &dyn Cache,
    ttl: Duration,
    ids: &[K],
    key: impl Fn(K) -> String,
    id_of: impl Fn(&V) -> K,
    load: F,
) -> Result<HashMap<K, V>>
where
    K: Copy + Eq + Hash,
    V: Serialize + DeserializeOwned,
    F: FnOnce(Vec<K>) -> Fut,
    Fut: Future<Output = Result<Vec<V>>>,
{
    let mut found = HashMap::with_capacity(ids.len());
    let mut misses = Vec::new();
    if ttl.is_zero() {
        misses.extend_from_slice(ids);
    } else {
        let keys: Vec<String> = ids.iter().map(|id| key(*id)).collect();
        let cached = match cache.get_many(&keys).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cache unavailable; reading the store");
                vec![None; ids.len()]
            }
        };
        for (id, hit) in ids.iter().zip(cached) {
            match hit.and_then(|b| decode::<V>(&b)) {
                Some(v) => {
                    found.insert(*id, v);
                }
                None => misses.push(*id),
            }
        }
    }
    if !misses.is_empty() {
        for v in load(misses).await? {
            let id = id_of(&v);
            if !ttl.is_zero()
                && let Some(bytes) = encode(&v)
            {
                let _ = cache.set(&key(id), Bytes::from(bytes), ttl).await;
            }
            found.insert(id, v);
        }
    }
    Ok(found)
}

/// A cached entity's bytes.
pub(crate) fn encode<V: Serialize>(v: &V) -> Option<Vec<u8>> {
    postcard::to_stdvec(v).ok()
}

/// A cached entity from its bytes; `None` for anything else.
pub(crate) fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Option<V> {
    postcard::from_bytes(bytes).ok()
}

/// How long after a write its cache entries are dropped a second time.
const SECOND_DELETE: Duration = Duration::from_millis(150);

/// Drops `keys` now and once more shortly after. A read-through that loaded
/// the row just before the write committed may store its stale copy after
/// the first delete; the second one removes it (the "delayed double delete").
pub(crate) async fn invalidate(cache: &std::sync::Arc<dyn Cache>, keys: Vec<String>) {
    for k in &keys {
        if let Err(e) = cache.delete(k).await {
            tracing::warn!(error = %e, key = %k, "could not invalidate a cached entry");
        }
    }
    let cache = cache.clone();
    tokio::spawn(async move {
        tokio::time::sleep(SECOND_DELETE).await;
        for k in &keys {
            let _ = cache.delete(k).await;
        }
    });
}

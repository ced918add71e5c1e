//! Conformance tests for the cache and blob ports: every behaviour is written
//! once, as a contract function, and run against each adapter of the port.
//!
//! Redis and S3 need a server: set `STARLING_TEST_REDIS_URL` (for example
//! `redis://127.0.0.1:6379`) and `STARLING_TEST_S3_ENDPOINT` (for example
//! `http://127.0.0.1:9000`, which `scripts/s3-test-server` starts). Without
//! them those tests are skipped, except when `CI=true`, where they fail.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};
use rand::Rng;
use starling_adapters::{FsBlobStore, MemoryCache, RedisCache, S3BlobStore, S3Options};
use starling_core::ports::{BlobStore, Cache};
use tokio::sync::Barrier;

// ---------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------

#[path = "support/backend.rs"]
mod backend;
use backend::backend_var;

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A name no other test run uses, so runs can share one Redis or bucket.
fn unique_name() -> String {
    format!("starling-test-{:016x}", rand::random::<u64>())
}

async fn redis_cache(url: &str, prefix: &str) -> RedisCache {
    match RedisCache::connect(url, prefix).await {
        Ok(c) => c,
        Err(e) => panic!("cannot connect to STARLING_TEST_REDIS_URL {url}: {e}"),
    }
}

struct S3Env {
    endpoint: String,
    bucket: String,
    access_key_id: String,
    secret_access_key: String,
}

fn s3_env(test: &str) -> Option<S3Env> {
    let endpoint = backend_var("STARLING_TEST_S3_ENDPOINT", test)?;
    Some(S3Env {
        endpoint,
        bucket: env_or("STARLING_TEST_S3_BUCKET", "starling-test"),
        access_key_id: env_or("STARLING_TEST_S3_ACCESS_KEY_ID", "test"),
        secret_access_key: env_or("STARLING_TEST_S3_SECRET_ACCESS_KEY", "test"),
    })
}

impl S3Env {
    fn options(&self, prefix: &str) -> S3Options {
        S3Options {
            bucket: self.bucket.clone(),
            prefix: prefix.to_owned(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".to_owned(),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
        }
    }

    fn store(&self, prefix: &str) -> S3BlobStore {
        match S3BlobStore::new(&self.options(prefix)) {
            Ok(s) => s,
            Err(e) => panic!("S3 test settings rejected: {e}"),
        }
    }

    /// The bucket itself, bypassing the adapter, to see where objects landed.
    fn raw(&self) -> impl ObjectStore {
        AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region("us-east-1")
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .build()
            .unwrap()
    }
}

/// A local port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// Cache contract
// ---------------------------------------------------------------------------

const LONG_TTL: Duration = Duration::from_secs(60);

async fn cache_contract(cache: Arc<dyn Cache>) {
    let c = cache.as_ref();
    cache_check_is_ok(c).await;
    cache_missing_key_is_none(c).await;
    cache_set_then_get(c).await;
    cache_ttl_expires(c).await;
    cache_overwrite_replaces_value_and_ttl(c).await;
    cache_delete(c).await;
    cache_incr_window_counts_within_window(c).await;
    cache_incr_window_restarts_after_window(c).await;
    cache_incr_window_is_atomic(cache.clone()).await;
    cache_token_bucket_allows_a_burst_then_refills(c).await;
    cache_token_bucket_is_atomic(cache.clone()).await;
    cache_get_many_answers_each_key_in_order(c).await;
    timeline_missing_is_none_and_add_does_not_create(c).await;
    timeline_pages_newest_first_and_trims_to_cap(c).await;
    timeline_empty_exists_and_remove_works(c).await;
    timeline_ids_beyond_double_precision_stay_exact(c).await;
    timeline_add_to_each_reaches_existing_timelines_only(c).await;
    timeline_contains_tells_members_and_missing(c).await;
    timeline_add_pairs_reaches_existing_timelines_only(c).await;
}

async fn timeline_add_pairs_reaches_existing_timelines_only(c: &dyn Cache) {
    c.timeline_replace("tl-p1", &[1], LONG_TTL).await.unwrap();
    c.timeline_replace("tl-p2", &[], LONG_TTL).await.unwrap();
    let adds: Vec<(String, i64)> = vec![
        ("tl-p1".into(), 5),
        ("tl-p2".into(), 6),
        ("tl-p3".into(), 7),
        ("tl-p1".into(), 8),
    ];
    c.timeline_add_pairs(&adds, 2).await.unwrap();
    let page = |k: &'static str| async move { c.timeline_page(k, i64::MAX, 10).await.unwrap() };
    assert_eq!(
        page("tl-p1").await,
        Some((vec![8, 5], 2)),
        "trimmed to the cap"
    );
    assert_eq!(page("tl-p2").await, Some((vec![6], 1)));
    assert_eq!(
        page("tl-p3").await,
        None,
        "a missing timeline stays missing"
    );
    c.timeline_add_pairs(&[], 2).await.unwrap();
}

async fn timeline_contains_tells_members_and_missing(c: &dyn Cache) {
    assert_eq!(
        c.timeline_contains("tl-set", &[1, 2]).await.unwrap(),
        None,
        "a missing set is not an empty one"
    );
    c.timeline_replace("tl-set", &[], LONG_TTL).await.unwrap();
    assert_eq!(
        c.timeline_contains("tl-set", &[1, 2]).await.unwrap(),
        Some(vec![false, false]),
        "an empty set exists"
    );
    let big = 388_257_839_375_690_255_i64;
    c.timeline_replace("tl-set", &[5, big, 7], LONG_TTL)
        .await
        .unwrap();
    assert_eq!(
        c.timeline_contains("tl-set", &[7, 6, big, big + 1, 5])
            .await
            .unwrap(),
        Some(vec![true, false, true, false, true])
    );
    assert!(c.timeline_add("tl-set", &[6], usize::MAX).await.unwrap());
    c.timeline_remove("tl-set", &[7]).await.unwrap();
    assert_eq!(
        c.timeline_contains("tl-set", &[6, 7]).await.unwrap(),
        Some(vec![true, false])
    );
    assert_eq!(
        c.timeline_contains("tl-set", &[]).await.unwrap(),
        Some(vec![])
    );
}

async fn timeline_add_to_each_reaches_existing_timelines_only(c: &dyn Cache) {
    let mut keys = Vec::new();
    for i in 0..2_500 {
        let k = format!("tl-each-{i}");
        if i % 2 == 0 {
            c.timeline_replace(&k, &[1, 2], LONG_TTL).await.unwrap();
        }
        keys.push(k);
    }
    c.timeline_add_to_each(&keys, 9, 2).await.unwrap();
    for (i, k) in keys.iter().enumerate() {
        let page = c.timeline_page(k, i64::MAX, 10).await.unwrap();
        if i % 2 == 0 {
            assert_eq!(
                page,
                Some((vec![9, 2], 2)),
                "{k}: added and trimmed to the cap"
            );
        } else {
            assert_eq!(page, None, "{k}: a missing timeline stays missing");
        }
    }
    c.timeline_add_to_each(&[], 10, 2).await.unwrap();
}

async fn timeline_missing_is_none_and_add_does_not_create(c: &dyn Cache) {
    assert_eq!(
        c.timeline_page("tl-missing", i64::MAX, 10).await.unwrap(),
        None
    );
    assert!(!c.timeline_add("tl-missing", &[5, 6], 10).await.unwrap());
    assert_eq!(
        c.timeline_page("tl-missing", i64::MAX, 10).await.unwrap(),
        None,
        "no partial timeline"
    );
}

async fn timeline_pages_newest_first_and_trims_to_cap(c: &dyn Cache) {
    c.timeline_replace("tl-a", &[10, 30, 20], LONG_TTL)
        .await
        .unwrap();
    assert_eq!(
        c.timeline_page("tl-a", i64::MAX, 10).await.unwrap(),
        Some((vec![30, 20, 10], 3))
    );
    assert_eq!(
        c.timeline_page("tl-a", 30, 1).await.unwrap(),
        Some((vec![20], 3)),
        "strictly before"
    );
    assert!(c.timeline_add("tl-a", &[40, 50, 40], 4).await.unwrap());
    // Capped at 4: the oldest (10) is dropped; duplicates count once.
    assert_eq!(
        c.timeline_page("tl-a", i64::MAX, 10).await.unwrap(),
        Some((vec![50, 40, 30, 20], 4))
    );
}

async fn timeline_empty_exists_and_remove_works(c: &dyn Cache) {
    c.timeline_replace("tl-empty", &[], LONG_TTL).await.unwrap();
    assert_eq!(
        c.timeline_page("tl-empty", i64::MAX, 10).await.unwrap(),
        Some((vec![], 0)),
        "empty but present"
    );
    assert!(c.timeline_add("tl-empty", &[7], 10).await.unwrap());
    c.timeline_remove("tl-empty", &[7, 8]).await.unwrap();
    assert_eq!(
        c.timeline_page("tl-empty", i64::MAX, 10).await.unwrap(),
        Some((vec![], 0))
    );
    c.delete("tl-empty").await.unwrap();
    assert_eq!(
        c.timeline_page("tl-empty", i64::MAX, 10).await.unwrap(),
        None,
        "a deleted timeline is missing"
    );
}

async fn timeline_ids_beyond_double_precision_stay_exact(c: &dyn Cache) {
    // Snowflakes are far above 2^53: neighbours must stay distinct and ordered.
    let base: i64 = 383_866_659_997_220_864;
    let ids: Vec<i64> = (0..5).map(|i| base + i).collect();
    c.timeline_replace("tl-big", &ids, LONG_TTL).await.unwrap();
    let (page, len) = c
        .timeline_page("tl-big", base + 3, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page, vec![base + 2, base + 1, base]);
    assert_eq!(len, 5);
}

async fn cache_check_is_ok(c: &dyn Cache) {
    c.check().await.unwrap();
}

async fn cache_missing_key_is_none(c: &dyn Cache) {
    assert_eq!(c.get("never-set").await.unwrap(), None);
}

async fn cache_set_then_get(c: &dyn Cache) {
    let value = Bytes::from_static(b"\x00\x01binary\xff\xfe");
    c.set("set-get", value.clone(), LONG_TTL).await.unwrap();
    assert_eq!(c.get("set-get").await.unwrap(), Some(value));
}

async fn cache_ttl_expires(c: &dyn Cache) {
    c.set(
        "ttl",
        Bytes::from_static(b"short"),
        Duration::from_millis(300),
    )
    .await
    .unwrap();
    assert_eq!(
        c.get("ttl").await.unwrap(),
        Some(Bytes::from_static(b"short")),
        "value must be readable before its TTL"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(c.get("ttl").await.unwrap(), None, "value outlived its TTL");
}

async fn cache_overwrite_replaces_value_and_ttl(c: &dyn Cache) {
    c.set("overwrite", Bytes::from_static(b"first"), LONG_TTL)
        .await
        .unwrap();
    c.set(
        "overwrite",
        Bytes::from_static(b"second"),
        Duration::from_millis(300),
    )
    .await
    .unwrap();
    assert_eq!(
        c.get("overwrite").await.unwrap(),
        Some(Bytes::from_static(b"second"))
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        c.get("overwrite").await.unwrap(),
        None,
        "an overwrite must also replace the TTL"
    );
}

async fn cache_delete(c: &dyn Cache) {
    c.set("delete", Bytes::from_static(b"x"), LONG_TTL)
        .await
        .unwrap();
    c.delete("delete").await.unwrap();
    assert_eq!(c.get("delete").await.unwrap(), None);
    c.delete("delete").await.unwrap();
    c.delete("never-set-either").await.unwrap();
}

async fn cache_incr_window_counts_within_window(c: &dyn Cache) {
    let window = Duration::from_secs(30);
    for expected in 1..=3 {
        let (count, left) = c.incr_window("counter", window).await.unwrap();
        assert_eq!(count, expected);
        assert!(
            left > Duration::ZERO && left <= window,
            "remaining {left:?} must be in (0, {window:?}]"
        );
    }
    // A counter is per key.
    let (count, _) = c.incr_window("other-counter", window).await.unwrap();
    assert_eq!(count, 1);
}

async fn cache_incr_window_restarts_after_window(c: &dyn Cache) {
    let window = Duration::from_millis(1000);
    let (count, _) = c.incr_window("window", window).await.unwrap();
    assert_eq!(count, 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Later increments count inside the first one's window; they do not extend it.
    let (count, left) = c.incr_window("window", window).await.unwrap();
    assert_eq!(count, 2);
    assert!(
        left > Duration::ZERO && left <= Duration::from_millis(650),
        "400 ms into a 1 s window, {left:?} left: the window must run from the first increment"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (count, left) = c.incr_window("window", window).await.unwrap();
    assert_eq!(
        count, 1,
        "the count must restart once the window has passed"
    );
    assert!(left > Duration::ZERO && left <= window, "{left:?} left");
}

async fn cache_incr_window_is_atomic(cache: Arc<dyn Cache>) {
    const TASKS: u64 = 50;
    let barrier = Arc::new(Barrier::new(TASKS as usize));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let cache = cache.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            cache
                .incr_window("concurrent", Duration::from_secs(30))
                .await
                .unwrap()
                .0
        });
    }
    let mut counts = tasks.join_all().await;
    counts.sort_unstable();
    let expected: Vec<u64> = (1..=TASKS).collect();
    assert_eq!(
        counts, expected,
        "each count from 1 to {TASKS} exactly once"
    );
}

async fn cache_token_bucket_allows_a_burst_then_refills(c: &dyn Cache) {
    let every = Duration::from_millis(300);
    for i in 0..3 {
        let taken = c.take_token("bucket", every, 3).await.unwrap();
        assert_eq!(taken, None, "token {i} of a burst of 3");
    }
    let wait = c.take_token("bucket", every, 3).await.unwrap();
    let wait = wait.expect("the burst is spent");
    assert!(
        wait > Duration::ZERO && wait <= every,
        "one token comes back within an interval; told to wait {wait:?}"
    );
    // A refused take costs nothing: after the wait, exactly one is free.
    tokio::time::sleep(wait + Duration::from_millis(60)).await;
    assert_eq!(c.take_token("bucket", every, 3).await.unwrap(), None);
    assert!(c.take_token("bucket", every, 3).await.unwrap().is_some());
    // Another key has its own bucket.
    assert_eq!(c.take_token("other-bucket", every, 3).await.unwrap(), None);
    // A bucket left alone fills up to its burst, no further.
    tokio::time::sleep(every * 5).await;
    for _ in 0..3 {
        assert_eq!(c.take_token("bucket", every, 3).await.unwrap(), None);
    }
    assert!(c.take_token("bucket", every, 3).await.unwrap().is_some());
}

async fn cache_token_bucket_is_atomic(cache: Arc<dyn Cache>) {
    const TASKS: usize = 40;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let cache = cache.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            cache
                .take_token("concurrent-bucket", Duration::from_secs(30), 7)
                .await
                .unwrap()
                .is_none()
        });
    }
    let taken = tasks.join_all().await.into_iter().filter(|t| *t).count();
    assert_eq!(taken, 7, "exactly the burst is taken by concurrent callers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn memory_cache_conforms() {
    cache_contract(Arc::new(MemoryCache::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn redis_cache_conforms() {
    let Some(url) = backend_var("STARLING_TEST_REDIS_URL", "redis_cache_conforms") else {
        return;
    };
    let prefix = format!("{}:", unique_name());
    cache_contract(Arc::new(redis_cache(&url, &prefix).await)).await;
}

#[tokio::test]
async fn redis_prefixes_keep_caches_apart() {
    let Some(url) = backend_var(
        "STARLING_TEST_REDIS_URL",
        "redis_prefixes_keep_caches_apart",
    ) else {
        return;
    };
    let prefix_a = format!("{}:", unique_name());
    let prefix_b = format!("{}:", unique_name());
    let a = redis_cache(&url, &prefix_a).await;
    let b = redis_cache(&url, &prefix_b).await;

    a.set("shared", Bytes::from_static(b"from-a"), LONG_TTL)
        .await
        .unwrap();
    assert_eq!(b.get("shared").await.unwrap(), None);
    b.set("shared", Bytes::from_static(b"from-b"), LONG_TTL)
        .await
        .unwrap();
    assert_eq!(
        a.get("shared").await.unwrap(),
        Some(Bytes::from_static(b"from-a"))
    );
    assert_eq!(
        b.get("shared").await.unwrap(),
        Some(Bytes::from_static(b"from-b"))
    );

    let window = Duration::from_secs(30);
    assert_eq!(a.incr_window("hits", window).await.unwrap().0, 1);
    assert_eq!(a.incr_window("hits", window).await.unwrap().0, 2);
    assert_eq!(b.incr_window("hits", window).await.unwrap().0, 1);

    b.delete("shared").await.unwrap();
    assert_eq!(b.get("shared").await.unwrap(), None);
    assert_eq!(
        a.get("shared").await.unwrap(),
        Some(Bytes::from_static(b"from-a")),
        "deleting through one prefix must not touch the other"
    );

    // The prefix is applied to the key stored in Redis.
    let mut conn = a.connection();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix_a}shared"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 1);

    for cache in [&a, &b] {
        cache.delete("shared").await.unwrap();
        cache.delete("hits").await.unwrap();
    }
}

#[tokio::test]
async fn redis_connect_to_closed_port_fails_quickly() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(6), RedisCache::connect(&url, "x:"))
        .await
        .unwrap_or_else(|_| panic!("RedisCache::connect({url}) did not give up within 6 s"));
    match result {
        Ok(_) => panic!("RedisCache::connect({url}) succeeded with nothing listening"),
        Err(e) => eprintln!("connect failed after {:?}: {e}", started.elapsed()),
    }
}

// ---------------------------------------------------------------------------
// Blob contract
// ---------------------------------------------------------------------------

/// Keys that `valid_blob_key` refuses, several of which would escape a
/// directory or alias another key if used as a path unchecked.
fn invalid_keys() -> Vec<String> {
    [
        "../etc/passwd",
        "/abs",
        "a//b",
        "UPPER.png",
        "",
        "./a/b",
        "a/../b",
        "a/b/",
        "white space.png",
        "back\\slash.png",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn random_bytes(len: usize) -> Bytes {
    let mut buf = vec![0u8; len];
    rand::rng().fill(&mut buf[..]);
    Bytes::from(buf)
}

async fn read(store: &dyn BlobStore, key: &str) -> Option<Bytes> {
    store.get(key).await.unwrap().map(|b| b.bytes)
}

/// Keys the contract writes; it deletes them again at the end.
const CONTRACT_KEYS: &[&str] = &[
    "every-byte.bin",
    "big.bin",
    "empty.bin",
    "over.bin",
    "gone.bin",
    "avatars/123/456.png",
    "avatars/123/457.png",
    "a/b",
];

async fn blob_contract(store: &dyn BlobStore) {
    store.check().await.unwrap();

    // Round trips of binary content, small and large.
    let every_byte = Bytes::from((0..=255u8).cycle().take(4096).collect::<Vec<u8>>());
    store
        .put("every-byte.bin", every_byte.clone())
        .await
        .unwrap();
    assert_eq!(read(store, "every-byte.bin").await, Some(every_byte));
    let big = random_bytes(2 * 1024 * 1024);
    store.put("big.bin", big.clone()).await.unwrap();
    let got = read(store, "big.bin").await.unwrap();
    assert_eq!(got.len(), big.len());
    assert!(got == big, "2 MiB object came back different");
    store.put("empty.bin", Bytes::new()).await.unwrap();
    assert_eq!(read(store, "empty.bin").await, Some(Bytes::new()));

    // Missing keys.
    assert_eq!(read(store, "never-put.bin").await, None);
    assert_eq!(read(store, "no/such/dir/x.png").await, None);

    // Overwrite replaces the whole object, also with a shorter one.
    store.put("over.bin", random_bytes(100_000)).await.unwrap();
    store
        .put("over.bin", Bytes::from_static(b"short"))
        .await
        .unwrap();
    assert_eq!(
        read(store, "over.bin").await,
        Some(Bytes::from_static(b"short"))
    );

    // Delete, and deleting what is missing.
    store
        .put("gone.bin", Bytes::from_static(b"x"))
        .await
        .unwrap();
    store.delete("gone.bin").await.unwrap();
    assert_eq!(read(store, "gone.bin").await, None);
    store.delete("gone.bin").await.unwrap();
    store.delete("never-put.bin").await.unwrap();
    store.delete("no/such/dir/x.png").await.unwrap();

    // Nested keys, independent of their siblings; a key's parent is not an object.
    store
        .put("avatars/123/456.png", Bytes::from_static(b"png-456"))
        .await
        .unwrap();
    store
        .put("avatars/123/457.png", Bytes::from_static(b"png-457"))
        .await
        .unwrap();
    assert_eq!(
        read(store, "avatars/123/456.png").await,
        Some(Bytes::from_static(b"png-456"))
    );
    assert_eq!(read(store, "avatars/123").await, None);
    assert_eq!(read(store, "avatars").await, None);
    store.delete("avatars/123/456.png").await.unwrap();
    assert_eq!(read(store, "avatars/123/456.png").await, None);
    assert_eq!(
        read(store, "avatars/123/457.png").await,
        Some(Bytes::from_static(b"png-457"))
    );

    // Invalid keys: refused on put, absent on get, nothing to delete, and they
    // do not alias valid keys (`a//b` is not `a/b`).
    store.put("a/b", Bytes::from_static(b"ab")).await.unwrap();
    for key in invalid_keys() {
        assert!(
            store.put(&key, Bytes::from_static(b"bad")).await.is_err(),
            "put of invalid key {key:?} must fail"
        );
        assert_eq!(read(store, &key).await, None, "get of invalid key {key:?}");
        store.delete(&key).await.unwrap();
    }
    assert_eq!(read(store, "a/b").await, Some(Bytes::from_static(b"ab")));

    for key in CONTRACT_KEYS {
        store.delete(key).await.unwrap();
        assert_eq!(read(store, key).await, None);
    }
}

/// Every file (not directory) under `dir`, relative to it.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(path.strip_prefix(base).unwrap().to_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[tokio::test]
async fn fs_blobs_conform() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("media");
    let store = FsBlobStore::open(&root).await.unwrap();
    blob_contract(&store).await;
    assert_eq!(
        files_under(dir.path()),
        BTreeSet::new(),
        "the contract deletes everything it wrote; nothing may be left behind"
    );
}

#[tokio::test]
async fn fs_invalid_keys_stay_inside_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("data").join("media");
    // What `../etc/passwd` reaches from the root.
    let passwd = outer.path().join("data").join("etc").join("passwd");
    std::fs::create_dir_all(passwd.parent().unwrap()).unwrap();
    std::fs::write(&passwd, b"outside").unwrap();
    let store = FsBlobStore::open(&root).await.unwrap();

    // An absolute key naming a place inside the temp dir, so an escape is visible.
    let absolute = outer.path().join("abs.png").to_str().unwrap().to_owned();
    let slash_abs_existed = Path::new("/abs").exists();
    let mut keys = invalid_keys();
    keys.push(absolute.clone());
    for key in &keys {
        assert!(
            store.put(key, Bytes::from_static(b"bad")).await.is_err(),
            "put of invalid key {key:?} must fail"
        );
        assert_eq!(read(&store, key).await, None, "get of invalid key {key:?}");
        store.delete(key).await.unwrap();
    }

    assert_eq!(
        files_under(outer.path()),
        BTreeSet::from([PathBuf::from("data/etc/passwd")]),
        "invalid keys must not create files anywhere"
    );
    assert_eq!(std::fs::read(&passwd).unwrap(), b"outside");
    assert!(!Path::new(&absolute).exists());
    assert_eq!(Path::new("/abs").exists(), slash_abs_existed);
}

#[tokio::test]
async fn fs_check_fails_when_root_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("media");
    let store = FsBlobStore::open(&root).await.unwrap();
    store.check().await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(store.check().await.is_err());
}

#[tokio::test]
async fn s3_blobs_conform() {
    let Some(env) = s3_env("s3_blobs_conform") else {
        return;
    };
    let prefix = format!("{}/", unique_name());
    blob_contract(&env.store(&prefix)).await;

    // A second prefix in the same bucket sees none of the first one's objects.
    let a = env.store(&format!("{}/", unique_name()));
    let b = env.store(&format!("{}/", unique_name()));
    a.put("mine.png", Bytes::from_static(b"a")).await.unwrap();
    assert_eq!(read(&b, "mine.png").await, None);
    b.delete("mine.png").await.unwrap();
    assert_eq!(read(&a, "mine.png").await, Some(Bytes::from_static(b"a")));
    a.delete("mine.png").await.unwrap();
}

#[tokio::test]
async fn s3_invalid_keys_are_not_written() {
    let Some(env) = s3_env("s3_invalid_keys_are_not_written") else {
        return;
    };
    let run = unique_name();
    let store = env.store(&format!("{run}/media/"));
    for key in invalid_keys() {
        assert!(
            store.put(&key, Bytes::from_static(b"bad")).await.is_err(),
            "put of invalid key {key:?} must fail"
        );
        assert_eq!(read(&store, &key).await, None, "get of invalid key {key:?}");
        store.delete(&key).await.unwrap();
    }

    let raw = env.raw();
    let written: Vec<_> = raw
        .list(Some(&object_store::path::Path::from(run.as_str())))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(written, Vec::<String>::new(), "invalid keys were written");
    for outside in ["etc/passwd", "abs", "UPPER.png"] {
        let head = raw.head(&object_store::path::Path::from(outside)).await;
        assert!(
            matches!(head, Err(object_store::Error::NotFound { .. })),
            "{outside} at the bucket root: {head:?}"
        );
    }
}

#[tokio::test]
async fn s3_check_is_ok() {
    let Some(env) = s3_env("s3_check_is_ok") else {
        return;
    };
    env.store(&format!("{}/", unique_name()))
        .check()
        .await
        .unwrap();
}

#[tokio::test]
async fn s3_check_fails_when_nothing_listens() {
    let store = S3BlobStore::new(&S3Options {
        bucket: "starling-test".to_owned(),
        prefix: "p/".to_owned(),
        endpoint: Some("http://127.0.0.1:1".to_owned()),
        region: "us-east-1".to_owned(),
        access_key_id: Some("test".to_owned()),
        secret_access_key: Some("test".to_owned()),
    })
    .unwrap();
    // object_store retries a refused connection 10 times with jittered
    // exponential backoff (100 ms start, 15 s cap): about 2.5 s typically, 12 s
    // at the 99th percentile, 55.5 s at worst. The bound allows the worst case.
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(60), store.check())
        .await
        .unwrap_or_else(|_| panic!("S3BlobStore::check() did not give up within 60 s"));
    eprintln!("check took {:?}: {result:?}", started.elapsed());
    assert!(result.is_err());
}

async fn cache_get_many_answers_each_key_in_order(c: &dyn Cache) {
    c.set("many-a", Bytes::from_static(b"A"), LONG_TTL)
        .await
        .unwrap();
    c.set("many-c", Bytes::from_static(b"C"), LONG_TTL)
        .await
        .unwrap();
    let keys = vec![
        "many-c".to_owned(),
        "many-b".to_owned(),
        "many-a".to_owned(),
    ];
    assert_eq!(
        c.get_many(&keys).await.unwrap(),
        vec![
            Some(Bytes::from_static(b"C")),
            None,
            Some(Bytes::from_static(b"A"))
        ]
    );
    assert_eq!(c.get_many(&[]).await.unwrap(), Vec::<Option<Bytes>>::new());
}

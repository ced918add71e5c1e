//! Redis cache, shared by every node. Keys carry a prefix so several deployments
//! (or test runs) can share one Redis without seeing each other's keys.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use starling_core::ports::Cache;
use starling_core::{Error, Result};

/// Timelines are lexicographic sorted sets: every score is 0 and members are
/// ids zero-padded to 19 digits, so member order is id order. (Scores are
/// doubles and cannot hold 64-bit ids exactly.) The all-zero sentinel marks a
/// timeline that exists, even when it holds no posts.
const SENTINEL: &str = "0000000000000000000";

fn member(id: i64) -> String {
    format!("{id:019}")
}

/// Adds members to an existing timeline and trims it to ARGV[1] entries.
const TIMELINE_ADD_SRC: &str = r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
        local excess = redis.call('ZCARD', KEYS[1]) - 1 - tonumber(ARGV[1])
        if excess > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 1, excess) end
        return 1
        ";

static TIMELINE_ADD: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(TIMELINE_ADD_SRC));

#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

fn redis_err(e: redis::RedisError) -> Error {
    Error::Unavailable {
        message: format!("redis: {e}"),
    }
}

impl RedisCache {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let (client, config) = client_for(url)?;
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| Error::Unavailable {
            message: format!("redis: timed out connecting to {}", redact(url)),
        })?
        .map_err(redis_err)?;
        Ok(RedisCache {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// A connection for other adapters (pub/sub, presence) that share this Redis.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// A client for `url` and the connection settings every Redis adapter uses.
pub(crate) fn client_for(
    url: &str,
) -> Result<(redis::Client, redis::aio::ConnectionManagerConfig)> {
    let client = redis::Client::open(url)
        .map_err(|e| Error::field("redis_url", format!("is not valid: {e}")))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(3)));
    Ok((client, config))
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// GCRA in one script, on the server's clock (nodes' clocks differ): the key
/// holds the theoretical arrival time in ms; a token is free while that is at
/// most `burst` intervals ahead of now. Answers -1, or the ms to wait.
static TAKE_TOKEN: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local interval = tonumber(ARGV[1])
            local allowed = interval * tonumber(ARGV[2])
            local arrival = tonumber(redis.call('GET', KEYS[1]) or now)
            if arrival < now then arrival = now end
            local ahead = arrival + interval - now
            if ahead > allowed then return ahead - allowed end
            redis.call('SET', KEYS[1], arrival + interval, 'PX', ahead)
            return -1
            ",
    )
});

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let v: Option<Vec<u8>> = self
            .conn
            .clone()
            .get(self.key(key))
            .await
            .map_err(redis_err)?;
        Ok(v.map(Bytes::from))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for k in keys {
            cmd.arg(self.key(k));
        }
        let values: Vec<Option<Vec<u8>>> = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(values.into_iter().map(|v| v.map(Bytes::from)).collect())
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()> {
        let ms = ttl.as_millis().max(1) as u64;
        let _: () = self
            .conn
            .clone()
            .pset_ex(self.key(key), value.as_ref(), ms)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let _: () = self
            .conn
            .clone()
            .del(self.key(key))
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn incr_window(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
        let k = self.key(key);
        let ms = window.as_millis().max(1) as u64;
        // One atomic round trip: start the window if absent, count, read what is left.
        let (_, count, left): (Option<String>, u64, i64) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&k)
            .arg(0)
            .arg("PX")
            .arg(ms)
            .arg("NX")
            .cmd("INCR")
            .arg(&k)
            .cmd("PTTL")
            .arg(&k)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let left = if left > 0 { left as u64 } else { ms };
        Ok((count, Duration::from_millis(left)))
    }

    async fn take_token(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<Option<Duration>> {
        let ms = interval.as_millis().max(1) as u64;
        let wait: i64 = TAKE_TOKEN
            .key(self.key(key))
            .arg(ms)
            .arg(burst.max(1))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok((wait >= 0).then(|| Duration::from_millis(wait as u64)))
    }

    async fn timeline_replace(&self, key: &str, ids: &[i64], ttl: Duration) -> Result<()> {
        let k = self.key(key);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(&k)
            .cmd("ZADD")
            .arg(&k)
            .arg(0)
            .arg(SENTINEL);
        for chunk in ids.chunks(500) {
            let mut cmd = redis::cmd("ZADD");
            cmd.arg(&k);
            for id in chunk.iter().filter(|i| **i > 0) {
                cmd.arg(0).arg(member(*id));
            }
            if chunk.iter().any(|i| *i > 0) {
                pipe.add_command(cmd);
            }
        }
        pipe.cmd("PEXPIRE")
            .arg(&k)
            .arg(ttl.as_millis().max(1) as u64);
        let _: () = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn timeline_add(&self, key: &str, ids: &[i64], cap: usize) -> Result<bool> {
        let mut inv = TIMELINE_ADD.key(self.key(key));
        inv.arg(cap);
        for id in ids.iter().filter(|i| **i > 0) {
            inv.arg(member(*id));
        }
        let added: i64 = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(added == 1)
    }

    async fn timeline_add_to_each(&self, keys: &[String], id: i64, cap: usize) -> Result<()> {
        let adds: Vec<(String, i64)> = keys.iter().map(|k| (k.clone(), id)).collect();
        self.timeline_add_pairs(&adds, cap).await
    }

    async fn timeline_add_pairs(&self, adds: &[(String, i64)], cap: usize) -> Result<()> {
        let adds: Vec<&(String, i64)> = adds.iter().filter(|(_, id)| *id > 0).collect();
        if adds.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        // One SCRIPT LOAD (idempotent), then pipelines of EVALSHA: a fan-out
        // to 100,000 timelines is a hundred round trips, not 100,000.
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(TIMELINE_ADD_SRC)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        for chunk in adds.chunks(1000) {
            let mut pipe = redis::pipe();
            for (k, id) in chunk {
                pipe.cmd("EVALSHA")
                    .arg(&sha)
                    .arg(1)
                    .arg(self.key(k))
                    .arg(cap)
                    .arg(member(*id))
                    .ignore();
            }
            let _: () = pipe.query_async(&mut conn).await.map_err(redis_err)?;
        }
        Ok(())
    }

    async fn timeline_remove(&self, key: &str, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.key(key));
        for id in ids {
            cmd.arg(member(*id));
        }
        let _: () = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn timeline_contains(&self, key: &str, ids: &[i64]) -> Result<Option<Vec<bool>>> {
        // One ZMSCORE for the ids and the sentinel, which tells a missing timeline.
        let mut cmd = redis::cmd("ZMSCORE");
        cmd.arg(self.key(key));
        for id in ids {
            cmd.arg(member(*id));
        }
        cmd.arg(SENTINEL);
        let mut scores: Vec<Option<f64>> = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        if scores.pop().flatten().is_none() {
            return Ok(None);
        }
        Ok(Some(scores.iter().map(Option::is_some).collect()))
    }

    async fn timeline_page(
        &self,
        key: &str,
        before: i64,
        limit: usize,
    ) -> Result<Option<(Vec<i64>, usize)>> {
        let k = self.key(key);
        let (members, len): (Vec<String>, usize) = redis::pipe()
            .cmd("ZREVRANGEBYLEX")
            .arg(&k)
            .arg(format!("({}", member(before)))
            .arg(format!("({SENTINEL}"))
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .cmd("ZCARD")
            .arg(&k)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        if len == 0 {
            return Ok(None);
        }
        let ids = members.iter().filter_map(|m| m.parse().ok()).collect();
        Ok(Some((ids, len - 1)))
    }

    async fn check(&self) -> Result<()> {
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(Error::Unavailable {
                message: format!("redis: unexpected PING answer {pong}"),
            })
        }
    }
}

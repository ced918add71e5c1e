//! Redis cache, shared by every node. Keys carry a prefix so several deployments
//! (or test runs) can share one Redis without seeing each other's keys.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use starling_core::ports::Cache;
use starling_core::{Error, Result};

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
        let client = redis::Client::open(url)
            .map_err(|e| Error::field("redis_url", format!("is not valid: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)));
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

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

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

//! Unread counts: served from the cache, read from the database's counter
//! on a miss, and dropped (and told to open streams) whenever they change.

use std::time::Duration;

use bytes::Bytes;
use starling_core::{Result, UserId};

use super::{LiveMessage, Notifications};

const UNREAD_TTL: Duration = Duration::from_secs(3600);

fn unread_key(user: UserId) -> String {
    format!("notif:unread:{user}")
}

impl Notifications {
    /// Served from the cache; read from the database's counter on a miss.
    pub async fn unread_count(&self, me: UserId) -> Result<i64> {
        let key = unread_key(me);
        if let Ok(Some(b)) = self.ports.cache.get(&key).await
            && let Some(n) = std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok())
        {
            return Ok(n);
        }
        let n = self.ports.notifications.unread_count(me).await?;
        let _ = self
            .ports
            .cache
            .set(&key, Bytes::from(n.to_string()), UNREAD_TTL)
            .await;
        Ok(n)
    }

    /// The unread count changed: drop the cached copy and tell open streams.
    pub(super) async fn counted(&self, user: UserId, unread: i64) {
        let _ = self.ports.cache.delete(&unread_key(user)).await;
        self.publish(user, &LiveMessage::UnreadCount { count: unread })
            .await;
    }

    /// A notification was stored: the cached count is stale.
    pub async fn uncount(&self, user: UserId) {
        let _ = self.ports.cache.delete(&unread_key(user)).await;
    }
}

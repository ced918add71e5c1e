//! Who is connected, on which kind of connection, across every node.
//!
//! Each node counts its own connections per user and kind, and mirrors
//! "this user has one here" into the cache (`presence:{kind}:{user}`) for a
//! TTL that [`Presence::refresh`] renews. Any node then asks the cache:
//! chat shows a contact online while they have a socket anywhere; the
//! notification worker streams to users with a notification stream open and
//! pushes to the others, and skips the `message` notification for members
//! who have a chat socket. When a user's last socket goes, the time is kept
//! as their last-seen (`presence:seen:{user}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use starling_core::live::OnlineStatus;
use starling_core::ports::Cache;
use starling_core::{Timestamp, UserId};

/// How long a last-seen time is kept.
const LAST_SEEN_TTL: Duration = Duration::from_secs(30 * 86_400);

/// A kind of connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connection {
    /// A chat socket (Socket.IO).
    Chat,
    /// A notification stream (SSE).
    Stream,
}

impl Connection {
    fn key(self, user: UserId) -> String {
        match self {
            Connection::Chat => format!("presence:chat:{user}"),
            Connection::Stream => format!("presence:stream:{user}"),
        }
    }
}

fn last_seen_key(user: UserId) -> String {
    format!("presence:seen:{user}")
}

pub struct Presence {
    cache: Arc<dyn Cache>,
    /// How long a node's claim lasts unless renewed.
    ttl: Duration,
    /// Open connections on this node.
    here: Mutex<HashMap<(UserId, Connection), usize>>,
}

impl Presence {
    pub fn new(cache: Arc<dyn Cache>, ttl: Duration) -> Self {
        Presence {
            cache,
            ttl,
            here: Mutex::new(HashMap::new()),
        }
    }

    /// How often [`Presence::refresh`] must run.
    pub fn refresh_every(&self) -> Duration {
        self.ttl / 3
    }

    /// A connection opened here. True for the user's first of this kind on
    /// this node; the caller then marks them ([`Presence::mark`]).
    pub fn open(&self, user: UserId, kind: Connection) -> bool {
        match self.here.lock() {
            Ok(mut here) => {
                let n = here.entry((user, kind)).or_default();
                *n += 1;
                *n == 1
            }
            Err(_) => false,
        }
    }

    /// A connection closed here. True when it was the user's last of this
    /// kind on this node; the caller decides (it may know of connections on
    /// other nodes) whether to call [`Presence::gone`].
    pub fn close(&self, user: UserId, kind: Connection) -> bool {
        let Ok(mut here) = self.here.lock() else {
            return false;
        };
        match here.get_mut(&(user, kind)) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                here.remove(&(user, kind));
                true
            }
            None => false,
        }
    }

    /// Whether the user has a connection of this kind on this node.
    pub fn here(&self, user: UserId, kind: Connection) -> bool {
        self.here
            .lock()
            .map(|h| h.contains_key(&(user, kind)))
            .unwrap_or(false)
    }

    /// The user has no connection of this kind left anywhere. For chat, the
    /// time is kept as their last-seen. Returns their status now.
    pub async fn gone(&self, user: UserId, kind: Connection) -> OnlineStatus {
        let now = Timestamp::now();
        let _ = self.cache.delete(&kind.key(user)).await;
        if kind == Connection::Chat {
            self.seen(user, now).await;
        }
        OnlineStatus {
            user,
            online: false,
            last_seen_at: Some(now),
        }
    }

    /// Marks the user connected in the cache (and, for chat, seen now).
    pub async fn mark(&self, user: UserId, kind: Connection) {
        let _ = self
            .cache
            .set(&kind.key(user), Bytes::from_static(b"1"), self.ttl)
            .await;
        if kind == Connection::Chat {
            self.seen(user, Timestamp::now()).await;
        }
    }

    async fn seen(&self, user: UserId, at: Timestamp) {
        let _ = self
            .cache
            .set(
                &last_seen_key(user),
                Bytes::from(at.millis().to_string()),
                LAST_SEEN_TTL,
            )
            .await;
    }

    /// Renews this node's claims; the one presence job runs it every
    /// [`Presence::refresh_every`].
    pub async fn refresh(&self) {
        let open: Vec<(UserId, Connection)> = match self.here.lock() {
            Ok(here) => here.keys().copied().collect(),
            Err(_) => return,
        };
        for (user, kind) in open {
            self.mark(user, kind).await;
        }
    }

    /// Whether the user has a connection of this kind on any node.
    pub async fn connected(&self, user: UserId, kind: Connection) -> bool {
        matches!(self.cache.get(&kind.key(user)).await, Ok(Some(_)))
    }

    /// Whether the user is in chat, and when they last were.
    pub async fn status(&self, user: UserId) -> OnlineStatus {
        let online = self.connected(user, Connection::Chat).await;
        let last_seen_at = match self.cache.get(&last_seen_key(user)).await {
            Ok(Some(b)) => std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Timestamp),
            _ => None,
        };
        OnlineStatus {
            user,
            online,
            last_seen_at,
        }
    }
}

/// Held while a connection is open: closing it (dropping the guard) counts
/// it closed, and the last one here clears the cache mark. Other nodes with
/// connections for the user put the mark back on their next refresh.
pub struct ConnectionGuard {
    presence: Arc<Presence>,
    user: UserId,
    kind: Connection,
}

impl Presence {
    /// Opens a connection that closes when the guard drops.
    pub async fn hold(self: &Arc<Self>, user: UserId, kind: Connection) -> ConnectionGuard {
        if self.open(user, kind) {
            self.mark(user, kind).await;
        }
        ConnectionGuard {
            presence: self.clone(),
            user,
            kind,
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.presence.close(self.user, self.kind)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let presence = self.presence.clone();
            let (user, kind) = (self.user, self.kind);
            rt.spawn(async move {
                presence.gone(user, kind).await;
            });
        }
    }
}

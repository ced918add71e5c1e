//! In-process pub/sub: a publish reaches every live subscription of its
//! channel on this node. The local fan-out ([`Registry`]) is also what the
//! Redis adapter uses behind its one shared subscriber connection.
//!
//! Each subscription owns a small bounded buffer. A subscriber that does not
//! keep up loses messages instead of slowing down publishers (pub/sub is
//! best-effort; what must not be lost goes through the bus and the database).
//! An idle subscription costs a channel map entry, one `tokio` mpsc channel
//! (whose slots are allocated 32 at a time as messages queue up) and the
//! stream: about a kilobyte or two.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use starling_core::Result;
use starling_core::messaging::{PubSub, Subscription};
use tokio::sync::mpsc;

/// Messages a subscription buffers before it starts losing them.
pub const SUBSCRIPTION_BUFFER: usize = 256;

const SHARDS: usize = 16;

/// Called with a channel's name when its last local subscription is dropped.
pub(crate) type OnEmpty = Box<dyn Fn(&str) + Send + Sync>;

struct Local {
    id: u64,
    tx: mpsc::Sender<Bytes>,
    /// Whether the last message offered to this subscriber was lost (so a
    /// lagging subscriber warns once, not once per message).
    lagging: bool,
}

type Shard = HashMap<String, Vec<Local>>;

/// Local subscribers by channel, split in shards so that publishes and
/// subscriptions on different channels rarely wait for one another.
pub(crate) struct Registry {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    next_id: AtomicU64,
    buffer: usize,
    on_empty: Option<OnEmpty>,
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    match shard.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Registry {
    pub(crate) fn new(buffer: usize, on_empty: Option<OnEmpty>) -> Self {
        Registry {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(1),
            buffer: buffer.max(1),
            on_empty,
        }
    }

    fn shard(&self, channel: &str) -> &Mutex<Shard> {
        let i = (self.hasher.hash_one(channel) % SHARDS as u64) as usize;
        &self.shards[i]
    }

    /// Adds a local subscriber to `channel`.
    pub(crate) fn subscribe(self: &Arc<Self>, channel: &str) -> LocalSubscription {
        let (tx, rx) = mpsc::channel(self.buffer);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(self.shard(channel))
            .entry(channel.to_owned())
            .or_default()
            .push(Local {
                id,
                tx,
                lagging: false,
            });
        LocalSubscription {
            rx,
            registry: self.clone(),
            channel: channel.to_owned(),
            id,
        }
    }

    /// Offers `payload` to every local subscriber of `channel`, without
    /// waiting: a full buffer loses the message.
    pub(crate) fn deliver(&self, channel: &str, payload: &Bytes) {
        let mut shard = lock(self.shard(channel));
        let Some(locals) = shard.get_mut(channel) else {
            return;
        };
        locals.retain_mut(|local| match local.tx.try_send(payload.clone()) {
            Ok(()) => {
                local.lagging = false;
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if local.lagging {
                    tracing::debug!(channel, "pub/sub subscriber still behind; message lost");
                } else {
                    tracing::warn!(
                        channel,
                        buffer = self.buffer,
                        "pub/sub subscriber is not keeping up; losing messages"
                    );
                    local.lagging = true;
                }
                true
            }
            // The subscription is being dropped; its `Drop` removes it too.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        if locals.is_empty() {
            shard.remove(channel);
        }
    }

    fn unsubscribe(&self, channel: &str, id: u64) {
        let now_empty = {
            let mut shard = lock(self.shard(channel));
            match shard.get_mut(channel) {
                Some(locals) => {
                    locals.retain(|l| l.id != id);
                    if locals.is_empty() {
                        shard.remove(channel);
                        true
                    } else {
                        false
                    }
                }
                None => false,
            }
        };
        if now_empty && let Some(on_empty) = &self.on_empty {
            on_empty(channel);
        }
    }

    /// Whether `channel` has a local subscriber.
    pub(crate) fn has(&self, channel: &str) -> bool {
        lock(self.shard(channel)).contains_key(channel)
    }

    /// Every channel with a local subscriber.
    pub(crate) fn channels(&self) -> Vec<String> {
        self.shards
            .iter()
            .flat_map(|s| lock(s).keys().cloned().collect::<Vec<_>>())
            .collect()
    }

    pub(crate) fn channel_count(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Drops every subscriber, which ends their streams.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            lock(shard).clear();
        }
    }
}

/// One local subscription: a stream of what is published on its channel,
/// removed from the registry when dropped.
pub(crate) struct LocalSubscription {
    rx: mpsc::Receiver<Bytes>,
    registry: Arc<Registry>,
    channel: String,
    id: u64,
}

impl Stream for LocalSubscription {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for LocalSubscription {
    fn drop(&mut self) {
        self.registry.unsubscribe(&self.channel, self.id);
    }
}

/// In-process [`PubSub`]; cheap to clone (clones share subscriptions).
#[derive(Clone)]
pub struct MemoryPubSub {
    registry: Arc<Registry>,
}

impl Default for MemoryPubSub {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryPubSub {
    pub fn new() -> Self {
        MemoryPubSub {
            registry: Arc::new(Registry::new(SUBSCRIPTION_BUFFER, None)),
        }
    }

    /// How many channels have at least one live subscription.
    pub fn channel_count(&self) -> usize {
        self.registry.channel_count()
    }
}

#[async_trait]
impl PubSub for MemoryPubSub {
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<()> {
        self.registry.deliver(channel, &payload);
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        Ok(Box::pin(self.registry.subscribe(channel)))
    }

    async fn check(&self) -> Result<()> {
        Ok(())
    }
}

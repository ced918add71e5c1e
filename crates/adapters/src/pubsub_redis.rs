//! Redis pub/sub across nodes. Channels carry the key prefix (like
//! [`RedisCache`](crate::RedisCache) keys), so deployments or test runs that
//! share one Redis never see each other's messages.
//!
//! A process holds two Redis connections however many subscriptions it has:
//! a [`ConnectionManager`] for `PUBLISH`, and one subscriber connection owned
//! by a background task. Local subscriptions are kept in a map channel ->
//! subscribers ([`Registry`]); the task `SUBSCRIBE`s to a Redis channel when
//! its first local subscriber arrives and `UNSUBSCRIBE`s when the last one is
//! dropped. Every message is then fanned out locally, each subscriber with
//! its own bounded buffer.
//!
//! The task also registers each new local subscription, after a round trip
//! on the subscriber connection (the `SUBSCRIBE`, or a `PING` when the
//! channel is already subscribed) and after delivering what arrived before
//! it: a subscription receives what is published once `subscribe` has
//! returned, and nothing published before it was called.
//!
//! When the subscriber connection drops (or stops answering its periodic
//! `PING`), the task reconnects with exponential backoff (100 ms doubling to
//! 5 s) and subscribes again to every channel that has a local subscriber.
//! Subscriptions stay open meanwhile; what is published during the outage is
//! lost (pub/sub is best-effort). New subscriptions fail fast while it is
//! disconnected.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use redis::aio::{ConnectionManager, PubSubSink, PubSubStream};
use starling_core::messaging::{PubSub, Subscription};
use starling_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::cache_redis::redact;
use crate::pubsub_memory::{LocalSubscription, Registry, SUBSCRIPTION_BUFFER};

/// Bounds every round trip to Redis, so a dead server never hangs a caller.
const TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often an idle subscriber connection is checked with `PING`.
const PING_EVERY: Duration = Duration::from_secs(15);
/// Channels per `SUBSCRIBE` when resubscribing after a reconnect.
const RESUBSCRIBE_BATCH: usize = 500;

fn redis_err(e: redis::RedisError) -> Error {
    Error::Unavailable {
        message: format!("redis: {e}"),
    }
}

fn unavailable(message: impl Into<String>) -> Error {
    Error::Unavailable {
        message: message.into(),
    }
}

enum Command {
    /// Make sure the subscriber connection is subscribed to the channel
    /// (unprefixed), then answer with a new local subscription.
    Subscribe {
        channel: String,
        done: oneshot::Sender<Result<LocalSubscription>>,
    },
    /// The channel's last local subscriber is gone: unsubscribe unless a new
    /// one arrived meanwhile.
    Unsubscribe(String),
}

struct Shared {
    publisher: ConnectionManager,
    prefix: String,
    registry: Arc<Registry>,
    commands: mpsc::UnboundedSender<Command>,
    connected: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
        // Ends the streams of subscriptions that outlive the adapter.
        self.registry.clear();
    }
}

/// Redis [`PubSub`]; cheap to clone (clones share both connections).
#[derive(Clone)]
pub struct RedisPubSub {
    shared: Arc<Shared>,
}

impl RedisPubSub {
    /// Connects both connections once, so a wrong URL or an unreachable
    /// server fails start-up; after that the adapter reconnects by itself.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let (client, config) = crate::cache_redis::client_for(url)?;
        let timed_out = || unavailable(format!("redis: timed out connecting to {}", redact(url)));
        // The subscriber first: a plain connection fails at once when nothing
        // listens, where the manager would retry until its timeout.
        let (sink, stream) = tokio::time::timeout(TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| timed_out())?
            .map_err(redis_err)?
            .split();
        let publisher = tokio::time::timeout(
            TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(redis_err)?;

        let (commands, rx) = mpsc::unbounded_channel();
        let unsubscribe = commands.clone();
        let registry = Arc::new(Registry::new(
            SUBSCRIPTION_BUFFER,
            Some(Box::new(move |channel: &str| {
                let _ = unsubscribe.send(Command::Unsubscribe(channel.to_owned()));
            })),
        ));
        let connected = Arc::new(AtomicBool::new(true));
        let subscriber = Subscriber {
            client,
            prefix: prefix.to_owned(),
            registry: registry.clone(),
            commands: rx,
            connected: connected.clone(),
            subscribed: HashSet::new(),
        };
        let task = tokio::spawn(subscriber.run(sink, stream));
        Ok(RedisPubSub {
            shared: Arc::new(Shared {
                publisher,
                prefix: prefix.to_owned(),
                registry,
                commands,
                connected,
                task,
            }),
        })
    }

    /// How many channels have at least one live local subscription.
    pub fn channel_count(&self) -> usize {
        self.shared.registry.channel_count()
    }

    fn disconnected() -> Error {
        unavailable("redis: the pub/sub subscriber connection is down; reconnecting")
    }
}

#[async_trait]
impl PubSub for RedisPubSub {
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<()> {
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(format!("{}{}", self.shared.prefix, channel))
            .arg(payload.as_ref())
            .query_async(&mut self.shared.publisher.clone())
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        if !self.shared.connected.load(Ordering::SeqCst) {
            return Err(Self::disconnected());
        }
        let (done, answer) = oneshot::channel();
        self.shared
            .commands
            .send(Command::Subscribe {
                channel: channel.to_owned(),
                done,
            })
            .map_err(|_| Self::disconnected())?;
        match tokio::time::timeout(TIMEOUT, answer).await {
            Ok(Ok(Ok(local))) => Ok(Box::pin(local)),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(Self::disconnected()),
            Err(_) => Err(unavailable(format!(
                "redis: SUBSCRIBE to {channel} not confirmed within {TIMEOUT:?}"
            ))),
        }
    }

    async fn check(&self) -> Result<()> {
        if !self.shared.connected.load(Ordering::SeqCst) {
            return Err(Self::disconnected());
        }
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.shared.publisher.clone())
            .await
            .map_err(redis_err)?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(unavailable(format!("redis: unexpected PING answer {pong}")))
        }
    }
}

/// The background task that owns the subscriber connection.
struct Subscriber {
    client: redis::Client,
    prefix: String,
    registry: Arc<Registry>,
    commands: mpsc::UnboundedReceiver<Command>,
    connected: Arc<AtomicBool>,
    /// Channels (unprefixed) confirmed subscribed on the current connection.
    subscribed: HashSet<String>,
}

/// Why one connection's session ended.
enum Ended {
    /// Every handle to the adapter is gone.
    Dropped,
    Disconnected(String),
}

impl Subscriber {
    async fn run(mut self, sink: PubSubSink, stream: PubSubStream) {
        let mut conn = Some((sink, stream));
        let mut backoff = BACKOFF_MIN;
        loop {
            let (sink, stream) = match conn.take() {
                Some(c) => c,
                None => match self.reconnect().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "redis pub/sub: reconnect failed");
                        if self.sleep_draining(backoff).await {
                            return;
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                },
            };
            self.connected.store(true, Ordering::SeqCst);
            match self.session(sink, stream).await {
                Ended::Dropped => return,
                Ended::Disconnected(why) => {
                    self.connected.store(false, Ordering::SeqCst);
                    self.subscribed.clear();
                    tracing::warn!(reason = %why, "redis pub/sub: subscriber connection lost; reconnecting");
                    backoff = BACKOFF_MIN;
                    if self.sleep_draining(backoff).await {
                        return;
                    }
                }
            }
        }
    }

    /// A new connection, subscribed to every channel that has a local subscriber.
    async fn reconnect(&mut self) -> Result<(PubSubSink, PubSubStream)> {
        let (mut sink, stream) = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| unavailable("redis: timed out connecting"))?
            .map_err(redis_err)?
            .split();
        let channels = self.registry.channels();
        for batch in channels.chunks(RESUBSCRIBE_BATCH) {
            let names: Vec<String> = batch.iter().map(|c| self.full(c)).collect();
            tokio::time::timeout(TIMEOUT, sink.subscribe(names))
                .await
                .map_err(|_| unavailable("redis: SUBSCRIBE timed out"))?
                .map_err(redis_err)?;
        }
        tracing::info!(
            channels = channels.len(),
            "redis pub/sub: subscriber reconnected"
        );
        self.subscribed = channels.into_iter().collect();
        Ok((sink, stream))
    }

    /// Waits `delay` while answering subscribe requests with an error, so
    /// callers never wait for a connection that is not there. `true` when the
    /// adapter is gone.
    async fn sleep_draining(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return false,
                cmd = self.commands.recv() => match cmd {
                    None => return true,
                    Some(Command::Subscribe { done, .. }) => {
                        let _ = done.send(Err(RedisPubSub::disconnected()));
                    }
                    // Reconnecting subscribes only to channels with subscribers.
                    Some(Command::Unsubscribe(_)) => {}
                },
            }
        }
    }

    fn full(&self, channel: &str) -> String {
        format!("{}{}", self.prefix, channel)
    }

    async fn session(&mut self, mut sink: PubSubSink, mut stream: PubSubStream) -> Ended {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else {
                        return Ended::Disconnected("connection closed".to_owned());
                    };
                    self.deliver(&msg);
                }
                cmd = self.commands.recv() => {
                    let Some(cmd) = cmd else { return Ended::Dropped };
                    if let Err(why) = self.command(&mut sink, &mut stream, cmd).await {
                        return Ended::Disconnected(why);
                    }
                }
                _ = ping.tick() => {
                    match tokio::time::timeout(TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Ended::Disconnected(format!("PING failed: {e}")),
                        Err(_) => return Ended::Disconnected("PING timed out".to_owned()),
                    }
                }
            }
        }
    }

    fn deliver(&self, msg: &redis::Msg) {
        if let Some(channel) = msg.get_channel_name().strip_prefix(&self.prefix) {
            let payload = Bytes::copy_from_slice(msg.get_payload_bytes());
            self.registry.deliver(channel, &payload);
        }
    }

    /// Delivers the messages already received, without waiting for more.
    fn deliver_received(&self, stream: &mut PubSubStream) -> std::result::Result<(), String> {
        loop {
            match stream.next().now_or_never() {
                Some(Some(msg)) => self.deliver(&msg),
                Some(None) => return Err("connection closed".to_owned()),
                None => return Ok(()),
            }
        }
    }

    /// Runs one command; `Err` when the connection must be replaced.
    async fn command(
        &mut self,
        sink: &mut PubSubSink,
        stream: &mut PubSubStream,
        cmd: Command,
    ) -> std::result::Result<(), String> {
        match cmd {
            Command::Subscribe { channel, done } => {
                // A round trip (SUBSCRIBE, or PING when already subscribed)
                // puts everything Redis sent before it into `stream`. Those
                // messages were published before this subscription, so they
                // are delivered before it joins the registry.
                let (what, answer) = if self.subscribed.contains(&channel) {
                    let ping = tokio::time::timeout(TIMEOUT, sink.ping::<redis::Value>()).await;
                    ("PING", ping.map(|r| r.map(|_| ())))
                } else {
                    let full = self.full(&channel);
                    (
                        "SUBSCRIBE",
                        tokio::time::timeout(TIMEOUT, sink.subscribe(full)).await,
                    )
                };
                let failed = match answer {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(format!("{what} failed: {e}")),
                    Err(_) => Some(format!("{what} timed out")),
                };
                if let Some(why) = failed {
                    let _ = done.send(Err(unavailable(format!("redis: {why}"))));
                    return Err(why);
                }
                self.subscribed.insert(channel.clone());
                if let Err(why) = self.deliver_received(stream) {
                    let _ = done.send(Err(RedisPubSub::disconnected()));
                    return Err(why);
                }
                // If the caller gave up meanwhile, dropping the subscription
                // queues its unsubscription.
                let _ = done.send(Ok(self.registry.subscribe(&channel)));
                Ok(())
            }
            Command::Unsubscribe(channel) => {
                if self.registry.has(&channel) || !self.subscribed.remove(&channel) {
                    return Ok(());
                }
                match tokio::time::timeout(TIMEOUT, sink.unsubscribe(self.full(&channel))).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(format!("UNSUBSCRIBE failed: {e}")),
                    Err(_) => Err("UNSUBSCRIBE timed out".to_owned()),
                }
            }
        }
    }
}

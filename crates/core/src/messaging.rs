//! Ports for what happens after a write commits: the durable event bus fed
//! from the outbox, the live pub/sub channel that reaches whichever node holds
//! a user's connection, Web Push and email.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::Result;
use crate::id::EventId;

/// A domain event as it travels from the outbox through the bus to consumers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Unique per event; consumers deduplicate on it.
    pub id: EventId,
    /// Routing key, dot-separated words (`love.created`, `user.registered`).
    pub key: String,
    /// JSON body of the event.
    pub payload: Bytes,
    /// 1 on first delivery; counts redeliveries after handler failures.
    pub attempt: u32,
}

/// One consumer group's business logic.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// `Ok` acknowledges the event. `Err` asks for redelivery; after the bus's
    /// attempt limit the event is dead-lettered instead.
    async fn handle(&self, event: &Envelope) -> Result<()>;

    /// Several events at once, one result each, in order. Handlers that can
    /// share work across events (one transaction for many rows) override it;
    /// by default each event is handled in turn.
    async fn handle_batch(&self, events: &[Envelope]) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(events.len());
        for event in events {
            results.push(self.handle(event).await);
        }
        results
    }
}

/// The durable event bus: in process by default (driven by the outbox relay),
/// RabbitMQ when configured.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Returns `Ok` only once the event is safe to forget on the publishing
    /// side: confirmed by the broker, or (in process) handled by every
    /// matching consumer. On `Err` the outbox keeps the event and retries.
    async fn publish(&self, event: &Envelope) -> Result<()>;
    /// Publishes several events, one result each, in order; by default up to
    /// `concurrency` `publish` calls at a time. The in-process bus hands each
    /// consumer group its matching events in one batch.
    async fn publish_batch(&self, events: &[Envelope], concurrency: usize) -> Vec<Result<()>> {
        use futures::StreamExt;
        let publishes: Vec<_> = events.iter().map(|e| self.publish(e)).collect();
        futures::stream::iter(publishes)
            .buffered(concurrency.max(1))
            .collect()
            .await
    }
    /// Starts delivering events whose key matches one of `patterns` (AMQP
    /// topic syntax: `*` one word, `#` any number of words) to `handler`.
    /// Consumers of one `group` share the work (each event reaches one of
    /// them); every group sees every matching event.
    async fn consume(
        &self,
        group: &str,
        patterns: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> Result<()>;
    /// Stops consuming and waits for handlers already running to finish.
    async fn shutdown(&self);
    async fn check(&self) -> Result<()>;
}

/// Messages published on one channel, from subscription until dropped.
pub type Subscription = BoxStream<'static, Bytes>;

/// Live, best-effort fan-out across nodes (`notifications:user:{id}`): in
/// process by default, Redis pub/sub when configured. Nothing is stored; what
/// must not be lost goes through the bus and the database.
#[async_trait]
pub trait PubSub: Send + Sync {
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<()>;
    /// Receives what is published on `channel` after this returns.
    async fn subscribe(&self, channel: &str) -> Result<Subscription>;
    async fn check(&self) -> Result<()>;
}

/// Where and how to reach one browser's push subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushTarget {
    pub endpoint: String,
    /// The browser's P-256 public key, base64url (65-byte uncompressed point).
    pub p256dh: String,
    /// The 16-byte auth secret, base64url.
    pub auth: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The push service accepted the message (2xx).
    Accepted,
    /// 404 or 410: the subscription is gone and should be deleted.
    Gone,
}

/// Sends Web Push messages (RFC 8030), encrypted per RFC 8291 and signed
/// with VAPID (RFC 8292).
#[async_trait]
pub trait PushSender: Send + Sync {
    /// The VAPID application server key browsers subscribe with (base64url,
    /// uncompressed P-256 point).
    fn public_key(&self) -> String;
    /// Whether a subscription's endpoint may be pushed to, checked before it
    /// is stored: `Validation` for a malformed URL, `Unprocessable`
    /// (`invalid_endpoint`) for one pointing where pushes may not go (plain
    /// http, private addresses). `send` checks again, against the address it
    /// connects to.
    async fn check_endpoint(&self, endpoint: &str) -> Result<()>;
    /// Any other failure (network, 5xx, 4xx but 404/410) is an `Err`.
    async fn send(&self, target: &PushTarget, payload: &[u8], ttl: Duration)
    -> Result<PushOutcome>;
}

/// An email to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Outgoing mail: SMTP when configured, `.eml` files under the data dir otherwise.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<()>;
}

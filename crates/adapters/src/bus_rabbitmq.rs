//! The RabbitMQ event bus.
//!
//! # Topology
//! - One durable topic exchange (`RabbitOptions::exchange`, default
//!   `starling.events`). An event is published with routing key
//!   `Envelope.key`, message id = the event id, persistent delivery mode,
//!   content type `application/json` and the payload as body.
//! - Per consumer group a durable queue `{exchange}.{group}`, bound with each
//!   of the group's patterns, and a durable dead-letter queue
//!   `{exchange}.{group}.dead`. Consumers of one group share the queue, so
//!   each event reaches one of them.
//!
//! # Delivery, retries and dead letters
//! A delivery is acked only after the handler returns `Ok`. Its attempt number
//! travels in the header `x-starling-attempt` (absent on first delivery,
//! which is attempt 1). When the handler fails:
//! - below `max_attempts`, the consumer waits `retry_delay` (doubling with
//!   each attempt, capped at `max_retry_delay`), publishes a copy with the
//!   attempt incremented straight to the group's queue (through the default
//!   exchange, so other groups do not see it again), waits for the broker's
//!   confirm, then acks the original;
//! - at `max_attempts`, it publishes the message to the dead-letter queue
//!   (with headers `x-starling-group` and `x-starling-error`), waits for the
//!   confirm and acks the original.
//!
//! This was chosen over a retry queue with per-message TTL dead-lettering
//! back: it needs no extra queue per group, and per-message TTLs only expire
//! at the head of a queue, so differently delayed retries would hold one
//! another up. The cost is that a failing message holds one of the
//! consumer's prefetch slots while it waits, which also slows a consumer
//! whose handler keeps failing. If the copy cannot be published the original
//! is requeued; a crash between the copy and the ack delivers the event
//! twice, which handlers tolerate (they deduplicate on the event id).
//!
//! # Connections
//! [`RabbitBus::connect`] connects once and fails if it cannot, so a wrong URL
//! or an unreachable broker fails start-up. After that one connection serves
//! everything: a channel in confirm mode for publishing and one channel per
//! consumer. When the connection drops, a supervisor reconnects with
//! exponential backoff (`reconnect_min` doubling to `reconnect_max`) and
//! redeclares the exchange; each consumer then re-creates its channel, queues,
//! bindings and subscription. While disconnected, `publish` and `check` fail
//! at once instead of waiting.
//!
//! TLS (`amqps://`) is not compiled in; it needs lapin's `rustls` feature.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{
    Acker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer,
    Event, ExchangeKind,
};
use starling_core::messaging::{Envelope, EventBus, EventHandler};
use starling_core::{Error, EventId, Result};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::bus_memory::check_consume_args;

/// The attempt number of a redelivered message (absent means 1).
pub const ATTEMPT_HEADER: &str = "x-starling-attempt";
/// The event's routing key, on copies published straight to a queue.
pub const KEY_HEADER: &str = "x-starling-key";
/// The consumer group, on dead letters.
pub const GROUP_HEADER: &str = "x-starling-group";
/// The last handler error, on dead letters.
pub const ERROR_HEADER: &str = "x-starling-error";

/// AMQP names (exchanges, queues, routing keys) are at most 255 bytes.
const MAX_NAME: usize = 255;
/// How often the supervisor looks at the connection besides its events.
const WATCH_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct RabbitOptions {
    /// The topic exchange events are published to.
    pub exchange: String,
    /// Unacked deliveries per consumer, which is also how many of its
    /// handler calls may run at once.
    pub prefetch: u16,
    /// Handler calls per event and group before it is dead-lettered.
    pub max_attempts: u32,
    /// Wait before the first redelivery; doubles with each further attempt.
    pub retry_delay: Duration,
    pub max_retry_delay: Duration,
    /// Bounds connecting, declaring topology and waiting for a publish
    /// confirm, so a dead broker never hangs a caller.
    pub timeout: Duration,
    /// Reconnect backoff: starts at `reconnect_min`, doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Publish as `mandatory`: an event no queue is bound for (before any
    /// consumer group has declared its queue, say on a first deployment) is
    /// returned by the broker and `publish` fails, so the outbox keeps it
    /// instead of the broker dropping it.
    pub require_route: bool,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        RabbitOptions {
            exchange: "starling.events".to_owned(),
            prefetch: 32,
            max_attempts: 5,
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            require_route: true,
        }
    }
}

/// One established connection and its publishing channel.
struct Live {
    conn: Connection,
    publisher: Channel,
}

impl Live {
    fn usable(&self) -> bool {
        self.conn.status().connected() && self.publisher.status().connected()
    }
}

struct Inner {
    uri: AMQPUri,
    /// The URL without its password, for messages.
    url: String,
    options: RabbitOptions,
    /// The current connection; `None` while reconnecting or after shutdown.
    live: watch::Sender<Option<Arc<Live>>>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Tasks>,
}

#[derive(Default)]
struct Tasks {
    supervisor: Option<JoinHandle<()>>,
    consumers: Vec<JoinHandle<()>>,
}

impl Inner {
    fn tasks(&self) -> MutexGuard<'_, Tasks> {
        match self.tasks.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    fn current(&self) -> Option<Arc<Live>> {
        self.live.borrow().clone()
    }

    fn unavailable(&self, what: impl std::fmt::Display) -> Error {
        Error::Unavailable {
            message: format!("rabbitmq ({}): {what}", self.url),
        }
    }

    fn backoff(&self, previous: Duration) -> Duration {
        (previous * 2).min(self.options.reconnect_max)
    }

    /// Connects, declares the exchange and opens the confirm-mode channel.
    async fn open(&self) -> std::result::Result<Live, String> {
        let work = async {
            let properties =
                ConnectionProperties::default().with_connection_name("starling".into());
            let conn = Connection::connect_uri(self.uri.clone(), properties).await?;
            let publisher = conn.create_channel().await?;
            declare_exchange(&publisher, &self.options.exchange).await?;
            publisher
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, lapin::Error>(Live { conn, publisher })
        };
        match tokio::time::timeout(self.options.timeout, work).await {
            Ok(Ok(live)) => Ok(live),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "timed out after {:?} connecting",
                self.options.timeout
            )),
        }
    }

    /// Publishes through the confirm channel and waits for the broker's ack.
    async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: ShortString,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<()> {
        if self.is_shut_down() {
            return Err(self.unavailable("the event bus is shut down"));
        }
        let live = self
            .current()
            .ok_or_else(|| self.unavailable("not connected; reconnecting"))?;
        let work = async {
            live.publisher
                .basic_publish(
                    exchange.into(),
                    routing_key,
                    BasicPublishOptions {
                        mandatory: self.options.require_route,
                        ..BasicPublishOptions::default()
                    },
                    payload,
                    properties,
                )
                .await?
                .await
        };
        match tokio::time::timeout(self.options.timeout, work).await {
            Ok(Ok(Confirmation::Ack(Some(_)))) => Err(self.unavailable(
                "no queue takes this event yet (no consumer group has declared one); it stays in the outbox",
            )),
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Nack(_))) => {
                Err(self.unavailable("the broker refused the message"))
            }
            Ok(Ok(Confirmation::NotRequested)) => {
                Err(self.unavailable("the publishing channel is not in confirm mode"))
            }
            Ok(Err(e)) => Err(self.unavailable(format!("publish failed: {e}"))),
            Err(_) => Err(self.unavailable(format!(
                "no publish confirm within {:?}",
                self.options.timeout
            ))),
        }
    }

    fn retry_delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.options
            .retry_delay
            .saturating_mul(1 << doublings)
            .min(self.options.max_retry_delay)
    }
}

async fn declare_exchange(channel: &Channel, exchange: &str) -> lapin::Result<()> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Asks the background tasks to stop when the last handle is dropped without
/// `shutdown` (they hold the shared state, so they would otherwise run on).
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
    }
}

/// RabbitMQ [`EventBus`]; cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct RabbitBus {
    handle: Arc<Handle>,
}

fn name(field: &str, value: &str) -> Result<ShortString> {
    ShortString::try_new(value)
        .map_err(|_| Error::field(field, format!("must be at most {MAX_NAME} bytes")))
}

impl RabbitBus {
    /// Connects once (failing if the broker cannot be reached within
    /// `options.timeout`), declares the exchange and starts the supervisor
    /// that reconnects from then on.
    pub async fn connect(url: &str, options: RabbitOptions) -> Result<Self> {
        Self::build(url, options, false).await
    }

    /// Like [`RabbitBus::connect`], but a broker that cannot be reached yet
    /// is not an error: the bus starts disconnected (publishes fail, so the
    /// outbox keeps its events) and connects, with its consumers, as soon as
    /// the broker answers. A malformed URL is still an error.
    pub async fn connect_lazily(url: &str, options: RabbitOptions) -> Result<Self> {
        Self::build(url, options, true).await
    }

    async fn build(url: &str, options: RabbitOptions, lazy: bool) -> Result<Self> {
        let uri: AMQPUri = url
            .parse()
            .map_err(|e| Error::field("broker_url", format!("is not valid: {e}")))?;
        if options.exchange.is_empty() {
            return Err(Error::field("exchange", "must not be empty"));
        }
        // Room for the longest queue name derived from it: `{exchange}.{group}.dead`.
        name("exchange", &options.exchange)?;
        if options.prefetch == 0 {
            return Err(Error::field("prefetch", "must be at least 1"));
        }
        if options.max_attempts == 0 {
            return Err(Error::field("max_attempts", "must be at least 1"));
        }
        let (live, _) = watch::channel(None);
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            uri,
            url: crate::cache_redis::redact(url),
            options,
            live,
            shutdown,
            tasks: Mutex::new(Tasks::default()),
        });
        match inner.open().await {
            Ok(first) => {
                inner.live.send_replace(Some(Arc::new(first)));
            }
            Err(e) if lazy => {
                tracing::warn!(url = %inner.url, error = %e, "rabbitmq: not reachable yet; will keep trying");
            }
            Err(e) => return Err(inner.unavailable(e)),
        }
        let supervisor = tokio::spawn(supervise(inner.clone()));
        inner.tasks().supervisor = Some(supervisor);
        Ok(RabbitBus {
            handle: Arc::new(Handle { inner }),
        })
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// The options in force.
    pub fn options(&self) -> &RabbitOptions {
        &self.inner().options
    }

    /// The queue a consumer group reads.
    pub fn queue_name(&self, group: &str) -> String {
        format!("{}.{group}", self.inner().options.exchange)
    }

    /// The queue a consumer group's dead letters go to.
    pub fn dead_letter_queue_name(&self, group: &str) -> String {
        format!("{}.{group}.dead", self.inner().options.exchange)
    }
}

#[async_trait]
impl EventBus for RabbitBus {
    async fn publish(&self, event: &Envelope) -> Result<()> {
        let inner = self.inner();
        let key = ShortString::try_new(event.key.as_str()).map_err(|_| {
            Error::internal(format!(
                "event bus: routing key longer than {MAX_NAME} bytes"
            ))
        })?;
        let properties = BasicProperties::default()
            .with_message_id(event.id.to_string().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_timestamp(now_secs());
        inner
            .publish_confirmed(&inner.options.exchange, key, &event.payload, properties)
            .await
    }

    async fn consume(
        &self,
        group: &str,
        patterns: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> Result<()> {
        check_consume_args(group, patterns)?;
        let inner = self.inner();
        let spec = Arc::new(Spec {
            queue: name("group", &self.queue_name(group))?,
            dead: name("group", &self.dead_letter_queue_name(group))?,
            patterns: patterns
                .iter()
                .map(|p| name("pattern", p))
                .collect::<Result<_>>()?,
            group: group.to_owned(),
            handler,
        });
        if inner.is_shut_down() {
            return Err(inner.unavailable("the event bus is shut down"));
        }
        // Not connected: the consumer starts when the connection does.
        let first = match inner.current() {
            Some(live) => Some(
                spec.establish(inner, &live)
                    .await
                    .map_err(|e| inner.unavailable(format!("consumer group {group}: {e}")))?,
            ),
            None => None,
        };
        let mut tasks = inner.tasks();
        if inner.is_shut_down() {
            return Err(inner.unavailable("the event bus is shut down"));
        }
        tasks
            .consumers
            .push(tokio::spawn(run_consumer(inner.clone(), spec, first)));
        Ok(())
    }

    async fn shutdown(&self) {
        let inner = self.inner();
        inner.shutdown.send_replace(true);
        let (supervisor, consumers) = {
            let mut tasks = inner.tasks();
            (
                tasks.supervisor.take(),
                std::mem::take(&mut tasks.consumers),
            )
        };
        // Consumers stop taking deliveries and wait for their handlers, which
        // may still publish retries and dead letters.
        for consumer in consumers {
            let _ = consumer.await;
        }
        if let Some(supervisor) = supervisor {
            let _ = supervisor.await;
        }
        if let Some(live) = inner.live.send_replace(None) {
            let close = async {
                let _ = live.publisher.close(200, "OK".into()).await;
                let _ = live.conn.close(200, "OK".into()).await;
            };
            let _ = tokio::time::timeout(inner.options.timeout, close).await;
        }
    }

    async fn check(&self) -> Result<()> {
        let inner = self.inner();
        if inner.is_shut_down() {
            return Err(inner.unavailable("the event bus is shut down"));
        }
        match inner.current() {
            Some(live) if live.usable() => Ok(()),
            _ => Err(inner.unavailable("not connected; reconnecting")),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Keeps `Inner::live` pointing at a working connection.
async fn supervise(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        if let Some(live) = inner.current() {
            let mut events = live.conn.events_listener();
            let mut watch = tokio::time::interval(WATCH_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return,
                    event = events.next() => match event {
                        Some(Event::Error(e)) => {
                            tracing::debug!(error = %e, "rabbitmq: connection event");
                            if !live.usable() {
                                break;
                            }
                        }
                        Some(_) => {}
                        None => break,
                    },
                    _ = watch.tick() => if !live.usable() { break },
                }
            }
            tracing::warn!(url = %inner.url, "rabbitmq: connection lost; reconnecting");
            inner.live.send_replace(None);
            // A broken publishing channel on a live connection is also
            // repaired by reconnecting.
            if live.conn.status().connected() {
                let _ = tokio::time::timeout(
                    inner.options.timeout,
                    live.conn.close(320, "reconnecting".into()),
                )
                .await;
            }
        }
        let mut backoff = inner.options.reconnect_min;
        loop {
            if inner.is_shut_down() {
                return;
            }
            match inner.open().await {
                Ok(live) => {
                    tracing::info!(url = %inner.url, "rabbitmq: reconnected");
                    inner.live.send_replace(Some(Arc::new(live)));
                    break;
                }
                Err(e) => {
                    tracing::warn!(url = %inner.url, error = %e, retry_in = ?backoff, "rabbitmq: reconnect failed");
                    tokio::select! {
                        _ = shutdown.wait_for(|s| *s) => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = inner.backoff(backoff);
                }
            }
        }
    }
}

/// One `consume` registration, re-established after each reconnect.
struct Spec {
    group: String,
    queue: ShortString,
    dead: ShortString,
    patterns: Vec<ShortString>,
    handler: Arc<dyn EventHandler>,
}

impl Spec {
    /// Opens a channel, declares the group's queues and bindings and starts
    /// consuming.
    async fn establish(
        &self,
        inner: &Inner,
        live: &Live,
    ) -> std::result::Result<(Channel, Consumer), String> {
        let work = async {
            let channel = live.conn.create_channel().await?;
            channel
                .basic_qos(inner.options.prefetch, BasicQosOptions::default())
                .await?;
            declare_exchange(&channel, &inner.options.exchange).await?;
            channel
                .queue_declare(self.queue.clone(), durable_queue(), FieldTable::default())
                .await?;
            channel
                .queue_declare(self.dead.clone(), durable_queue(), FieldTable::default())
                .await?;
            for pattern in &self.patterns {
                channel
                    .queue_bind(
                        self.queue.clone(),
                        inner.options.exchange.as_str().into(),
                        pattern.clone(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
            let consumer = channel
                .basic_consume(
                    self.queue.clone(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((channel, consumer))
        };
        match tokio::time::timeout(inner.options.timeout, work).await {
            Ok(Ok(established)) => Ok(established),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "timed out after {:?} setting up",
                inner.options.timeout
            )),
        }
    }
}

/// Waits for a usable connection; `None` on shutdown.
async fn wait_live(
    live: &mut watch::Receiver<Option<Arc<Live>>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Arc<Live>> {
    loop {
        if *shutdown.borrow_and_update() {
            return None;
        }
        if let Some(l) = live.borrow_and_update().clone()
            && l.usable()
        {
            return Some(l);
        }
        tokio::select! {
            changed = live.changed() => if changed.is_err() { return None },
            _ = shutdown.changed() => {}
        }
    }
}

/// Runs one consumer for the life of the bus, re-establishing it after the
/// connection or its channel is lost.
async fn run_consumer(inner: Arc<Inner>, spec: Arc<Spec>, first: Option<(Channel, Consumer)>) {
    let mut live_rx = inner.live.subscribe();
    let mut shutdown = inner.shutdown.subscribe();
    let mut handlers = JoinSet::new();
    let mut established = first;
    let mut backoff = inner.options.reconnect_min;
    loop {
        let (channel, mut consumer) = match established.take() {
            Some(e) => e,
            None => {
                let Some(live) = wait_live(&mut live_rx, &mut shutdown).await else {
                    break;
                };
                match spec.establish(&inner, &live).await {
                    Ok(e) => {
                        tracing::info!(group = %spec.group, "rabbitmq: consumer re-established");
                        backoff = inner.options.reconnect_min;
                        e
                    }
                    Err(e) => {
                        tracing::warn!(group = %spec.group, error = %e, retry_in = ?backoff, "rabbitmq: cannot start consumer");
                        tokio::select! {
                            _ = shutdown.wait_for(|s| *s) => break,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = inner.backoff(backoff);
                        continue;
                    }
                }
            }
        };
        let stopping = loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break true,
                Some(done) = handlers.join_next(), if !handlers.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(group = %spec.group, error = %e, "rabbitmq: event handler panicked");
                    }
                }
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => {
                        handlers.spawn(handle_delivery(inner.clone(), spec.clone(), delivery));
                    }
                    Some(Err(e)) => {
                        tracing::warn!(group = %spec.group, error = %e, "rabbitmq: consumer interrupted");
                    }
                    None => break false,
                },
            }
        };
        if stopping {
            // No new deliveries; those already prefetched but not started
            // go back to the queue when the channel closes.
            let cancel = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default());
            let _ = tokio::time::timeout(inner.options.timeout, cancel).await;
            while handlers.join_next().await.is_some() {}
            let _ =
                tokio::time::timeout(inner.options.timeout, channel.close(200, "OK".into())).await;
            return;
        }
        tracing::warn!(group = %spec.group, "rabbitmq: consumer stopped; re-establishing");
        if channel.status().connected() {
            // The broker cancelled the consumer (its queue was deleted, say)
            // but the channel is still open.
            let _ =
                tokio::time::timeout(inner.options.timeout, channel.close(200, "OK".into())).await;
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            () = tokio::time::sleep(inner.options.reconnect_min) => {}
        }
    }
    while handlers.join_next().await.is_some() {}
}

fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().get(name)
}

fn header_int(properties: &BasicProperties, name: &str) -> Option<i64> {
    Some(match header(properties, name)? {
        AMQPValue::ShortShortInt(v) => i64::from(*v),
        AMQPValue::ShortShortUInt(v) => i64::from(*v),
        AMQPValue::ShortInt(v) => i64::from(*v),
        AMQPValue::ShortUInt(v) => i64::from(*v),
        AMQPValue::LongInt(v) => i64::from(*v),
        AMQPValue::LongUInt(v) => i64::from(*v),
        AMQPValue::LongLongInt(v) => *v,
        _ => return None,
    })
}

fn header_string(properties: &BasicProperties, name: &str) -> Option<String> {
    match header(properties, name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// Properties for a copy of a delivery published straight to a queue.
fn copy_properties(message_id: Option<ShortString>, headers: FieldTable) -> BasicProperties {
    let mut properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(now_secs())
        .with_headers(headers);
    if let Some(id) = message_id {
        properties = properties.with_message_id(id);
    }
    properties
}

/// Calls the handler for one delivery, then acks, retries or dead-letters it.
async fn handle_delivery(inner: Arc<Inner>, spec: Arc<Spec>, delivery: Delivery) {
    let Delivery {
        routing_key,
        properties,
        data,
        acker,
        ..
    } = delivery;
    let attempt = header_int(&properties, ATTEMPT_HEADER)
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(1)
        .max(1);
    let key = header_string(&properties, KEY_HEADER).unwrap_or_else(|| routing_key.to_string());
    let message_id = properties.message_id().clone();
    let payload = Bytes::from(data);
    let id = message_id
        .as_ref()
        .and_then(|id| id.as_str().parse::<EventId>().ok());
    let Some(id) = id else {
        let error = format!("message id {message_id:?} is not an event id");
        tracing::warn!(group = %spec.group, %key, "rabbitmq: {error}; dead-lettering");
        dead_letter(
            &inner, &spec, &acker, message_id, &key, attempt, &error, &payload,
        )
        .await;
        return;
    };
    let event = Envelope {
        id,
        key,
        payload,
        attempt,
    };
    let error = match crate::bus_memory::call(spec.handler.as_ref(), &event).await {
        Ok(()) => {
            if let Err(e) = acker.ack(BasicAckOptions::default()).await {
                tracing::debug!(group = %spec.group, event = %event.id, error = %e, "rabbitmq: ack failed; the event will be redelivered");
            }
            return;
        }
        Err(e) => e.to_string(),
    };
    if attempt >= inner.options.max_attempts {
        tracing::warn!(group = %spec.group, event = %event.id, key = %event.key, attempt, %error, "rabbitmq: event handler failed for the last time; dead-lettering");
        dead_letter(
            &inner,
            &spec,
            &acker,
            message_id,
            &event.key,
            attempt,
            &error,
            &event.payload,
        )
        .await;
        return;
    }
    let delay = inner.retry_delay(attempt);
    tracing::debug!(group = %spec.group, event = %event.id, key = %event.key, attempt, %error, retry_in = ?delay, "rabbitmq: event handler failed; will retry");
    let mut shutdown = inner.shutdown.subscribe();
    let stopping = tokio::select! {
        () = tokio::time::sleep(delay) => false,
        _ = shutdown.wait_for(|s| *s) => true,
    };
    if stopping {
        // Back to the queue as it was; it is tried again after a restart.
        requeue(&acker).await;
        return;
    }
    let mut headers = FieldTable::default();
    headers.insert(
        ATTEMPT_HEADER.into(),
        AMQPValue::LongLongInt(i64::from(attempt) + 1),
    );
    headers.insert(
        KEY_HEADER.into(),
        AMQPValue::LongString(LongString::from(event.key.as_str())),
    );
    let copy = inner
        .publish_confirmed(
            "",
            spec.queue.clone(),
            &event.payload,
            copy_properties(message_id, headers),
        )
        .await;
    settle(&spec, &acker, copy).await;
}

/// Publishes a delivery to the group's dead-letter queue, then acks it.
#[allow(clippy::too_many_arguments)]
async fn dead_letter(
    inner: &Inner,
    spec: &Spec,
    acker: &Acker,
    message_id: Option<ShortString>,
    key: &str,
    attempt: u32,
    error: &str,
    payload: &[u8],
) {
    let mut headers = FieldTable::default();
    headers.insert(
        ATTEMPT_HEADER.into(),
        AMQPValue::LongLongInt(i64::from(attempt)),
    );
    headers.insert(KEY_HEADER.into(), AMQPValue::LongString(key.into()));
    headers.insert(
        GROUP_HEADER.into(),
        AMQPValue::LongString(spec.group.as_str().into()),
    );
    let error: String = error.chars().take(1000).collect();
    headers.insert(ERROR_HEADER.into(), AMQPValue::LongString(error.into()));
    let copy = inner
        .publish_confirmed(
            "",
            spec.dead.clone(),
            payload,
            copy_properties(message_id, headers),
        )
        .await;
    settle(spec, acker, copy).await;
}

/// Acks the original once its copy is safely published, or requeues it.
async fn settle(spec: &Spec, acker: &Acker, copy: Result<()>) {
    match copy {
        Ok(()) => {
            if let Err(e) = acker.ack(BasicAckOptions::default()).await {
                tracing::debug!(group = %spec.group, error = %e, "rabbitmq: ack failed; the event will be delivered twice");
            }
        }
        Err(e) => {
            tracing::warn!(group = %spec.group, error = %e, "rabbitmq: cannot publish the retry or dead letter; requeueing");
            requeue(acker).await;
        }
    }
}

async fn requeue(acker: &Acker) {
    let _ = acker
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_and_is_capped() {
        let options = RabbitOptions {
            retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_millis(700),
            ..RabbitOptions::default()
        };
        let (live, _) = watch::channel(None);
        let (shutdown, _) = watch::channel(false);
        let inner = Inner {
            uri: AMQPUri::default(),
            url: String::new(),
            options,
            live,
            shutdown,
            tasks: Mutex::new(Tasks::default()),
        };
        let delays: Vec<u128> = (1..=5).map(|a| inner.retry_delay(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 700, 700]);
        assert_eq!(inner.retry_delay(u32::MAX).as_millis(), 700);
    }
}

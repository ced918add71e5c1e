//! Conformance tests for the messaging ports (event bus, pub/sub): every
//! behaviour is written once and run against each adapter of the port.
//!
//! RabbitMQ and Redis need a server: set `STARLING_TEST_BROKER_URL` (for
//! example `amqp://guest:guest@127.0.0.1:5672`) and `STARLING_TEST_REDIS_URL`
//! (for example `redis://127.0.0.1:6379`). Without them those tests are
//! skipped, except when `CI=true`, where they fail. Every test uses its own
//! exchange or key prefix, so tests (and test runs) can share one server.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use lapin::options::{
    BasicGetOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use starling_adapters::bus_rabbitmq::ATTEMPT_HEADER;
use starling_adapters::{MemoryBus, MemoryPubSub, RabbitBus, RabbitOptions, RedisPubSub};
use starling_core::messaging::{Envelope, EventBus, EventHandler, PubSub, Subscription};
use starling_core::{Error, EventId, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------

#[path = "support/backend.rs"]
mod backend;
use backend::backend_var;

/// A name no other test run uses, so runs can share one broker or Redis.
fn unique_name() -> String {
    format!("starling-test-{:016x}", rand::random::<u64>())
}

/// A local port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn event(key: &str) -> Envelope {
    Envelope {
        id: EventId::from_i64((rand::random::<u64>() >> 2) as i64 + 1),
        key: key.to_owned(),
        payload: Bytes::from(format!(r#"{{"key":"{key}"}}"#)),
        attempt: 1,
    }
}

// ---------------------------------------------------------------------------
// A TCP proxy that can be cut and restored, to simulate an outage of one
// client's connection without touching the shared server.
// ---------------------------------------------------------------------------

struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let open = open.clone();
            let pipes = pipes.clone();
            async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    if !open.load(Ordering::SeqCst) {
                        // Refused: closed straight away.
                        drop(client);
                        continue;
                    }
                    let pipe = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    pipes.lock().unwrap().push(pipe);
                }
            }
        });
        Proxy {
            addr,
            open,
            pipes,
            accept,
        }
    }

    /// Closes every proxied connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn url(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.addr.port())).unwrap();
        u.to_string()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn target_addr(url: &str) -> SocketAddr {
    let u = url::Url::parse(url).unwrap();
    let host = u.host_str().unwrap().to_owned();
    let port = u
        .port()
        .unwrap_or(if u.scheme() == "redis" { 6379 } else { 5672 });
    tokio::net::lookup_host((host, port))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// Polls `f` until it returns true or `within` has passed.
async fn eventually<F, Fut>(within: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// Event bus: handlers that record what they see
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Seen {
    consumer: &'static str,
    event: Envelope,
}

/// Records every event it is given, failing its first `failures` calls.
struct Recorder {
    name: &'static str,
    tx: mpsc::UnboundedSender<Seen>,
    failures: u32,
    calls: AtomicU32,
}

impl Recorder {
    fn new(name: &'static str, tx: &mpsc::UnboundedSender<Seen>) -> Arc<Recorder> {
        Self::failing(name, tx, 0)
    }

    fn failing(name: &'static str, tx: &mpsc::UnboundedSender<Seen>, failures: u32) -> Arc<Self> {
        Arc::new(Recorder {
            name,
            tx: tx.clone(),
            failures,
            calls: AtomicU32::new(0),
        })
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &Envelope) -> Result<()> {
        let _ = self.tx.send(Seen {
            consumer: self.name,
            event: event.clone(),
        });
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(Error::internal(format!("{} fails on purpose", self.name)));
        }
        Ok(())
    }
}

/// The next event seen, waiting at most `within`.
async fn next_seen(rx: &mut mpsc::UnboundedReceiver<Seen>, within: Duration) -> Option<Seen> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

/// The `expected` next events (each waited for up to `WAIT`), then whatever
/// else arrives before things stay quiet for `QUIET`.
async fn expect_seen(rx: &mut mpsc::UnboundedReceiver<Seen>, expected: usize) -> Vec<Seen> {
    let mut seen = Vec::new();
    while seen.len() < expected {
        match next_seen(rx, WAIT).await {
            Some(s) => seen.push(s),
            None => panic!(
                "only {} of {expected} expected deliveries arrived: {seen:?}",
                seen.len()
            ),
        }
    }
    while let Some(s) = next_seen(rx, QUIET).await {
        seen.push(s);
    }
    seen
}

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(400);
const MAX_ATTEMPTS: u32 = 3;

// ---------------------------------------------------------------------------
// Event bus: one bus per behaviour, memory or RabbitMQ
// ---------------------------------------------------------------------------

#[derive(Clone)]
enum BusBackend {
    Memory,
    Rabbit { url: String },
}

struct TestBus {
    bus: Arc<dyn EventBus>,
    rabbit: Option<RabbitFixture>,
}

/// A RabbitMQ bus on its own exchange, and a plain connection to look at
/// (and finally delete) what it declared.
struct RabbitFixture {
    bus: RabbitBus,
    raw: lapin::Channel,
    _raw_conn: Connection,
    groups: Mutex<Vec<String>>,
    extra_queues: Mutex<Vec<String>>,
}

fn rabbit_options(exchange: &str) -> RabbitOptions {
    RabbitOptions {
        exchange: exchange.to_owned(),
        max_attempts: MAX_ATTEMPTS,
        retry_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        reconnect_max: Duration::from_millis(500),
        // The shared contract publishes keys nobody consumes, as the memory
        // bus allows; `require_route` has its own test.
        require_route: false,
        ..RabbitOptions::default()
    }
}

async fn raw_channel(url: &str) -> (Connection, lapin::Channel) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to STARLING_TEST_BROKER_URL {url}: {e}"));
    let channel = conn.create_channel().await.unwrap();
    (conn, channel)
}

impl BusBackend {
    async fn bus(&self) -> TestBus {
        match self {
            BusBackend::Memory => TestBus {
                bus: Arc::new(MemoryBus::new()),
                rabbit: None,
            },
            BusBackend::Rabbit { url } => {
                let exchange = unique_name();
                let bus = RabbitBus::connect(url, rabbit_options(&exchange))
                    .await
                    .unwrap_or_else(|e| {
                        panic!("cannot connect to STARLING_TEST_BROKER_URL {url}: {e}")
                    });
                let (raw_conn, raw) = raw_channel(url).await;
                TestBus {
                    bus: Arc::new(bus.clone()),
                    rabbit: Some(RabbitFixture {
                        bus,
                        raw,
                        _raw_conn: raw_conn,
                        groups: Mutex::default(),
                        extra_queues: Mutex::default(),
                    }),
                }
            }
        }
    }
}

impl TestBus {
    fn in_process(&self) -> bool {
        self.rabbit.is_none()
    }

    async fn consume(&self, group: &str, patterns: &[&str], handler: Arc<dyn EventHandler>) {
        if let Some(r) = &self.rabbit {
            r.groups.lock().unwrap().push(group.to_owned());
        }
        self.bus.consume(group, patterns, handler).await.unwrap();
    }

    /// Publishes like the outbox relay: in process, a failed publish is
    /// repeated with the next attempt number, up to `MAX_ATTEMPTS`; a broker
    /// takes over retries once it has confirmed the event. The results of
    /// every publish, in order.
    async fn relay(&self, event: &Envelope) -> Vec<bool> {
        let mut results = Vec::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let ok = self
                .bus
                .publish(&Envelope {
                    attempt,
                    ..event.clone()
                })
                .await
                .is_ok();
            results.push(ok);
            if ok {
                break;
            }
        }
        results
    }

    async fn publish(&self, event: &Envelope) {
        self.bus.publish(event).await.unwrap();
    }

    /// Deletes the exchange and queues a RabbitMQ test declared.
    async fn cleanup(self) {
        self.bus.shutdown().await;
        if let Some(r) = self.rabbit {
            let mut queues = r.extra_queues.lock().unwrap().clone();
            for g in r.groups.lock().unwrap().iter() {
                queues.push(r.bus.queue_name(g));
                queues.push(r.bus.dead_letter_queue_name(g));
            }
            for q in queues {
                let _ = r
                    .raw
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            let _ = r
                .raw
                .exchange_delete(
                    r.bus.options().exchange.as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await;
        }
    }
}

async fn bus_contract(backend: BusBackend) {
    bus_check_is_ok(backend.bus().await).await;
    bus_delivers_to_matching_group_only(backend.bus().await).await;
    bus_every_group_gets_each_event(backend.bus().await).await;
    bus_publish_batch_gives_each_group_its_events(backend.bus().await).await;
    bus_consumers_of_one_group_share_events(backend.bus().await).await;
    bus_wildcards_follow_amqp_topic_rules(backend.bus().await).await;
    bus_failing_handler_gets_event_again_with_next_attempt(backend.bus().await).await;
    bus_dead_letters_after_max_attempts(backend.bus().await).await;
    bus_panicking_handler_counts_as_failure(backend.bus().await).await;
    bus_publish_without_consumer_is_ok_and_confirmed(backend.bus().await).await;
    bus_same_event_twice_is_delivered_twice(backend.bus().await).await;
    bus_handlers_run_concurrently(backend.bus().await).await;
    bus_shutdown_waits_for_handlers_and_refuses_publishes(backend.bus().await).await;
}

async fn bus_check_is_ok(t: TestBus) {
    t.bus.check().await.unwrap();
    t.cleanup().await;
}

async fn bus_delivers_to_matching_group_only(t: TestBus) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume("notify", &["user.registered"], Recorder::new("notify", &tx))
        .await;
    let ev = event("user.registered");
    t.publish(&ev).await;
    let seen = next_seen(&mut rx, WAIT).await.expect("event not delivered");
    assert_eq!(
        seen.event, ev,
        "id, key, payload and attempt 1 arrive as sent"
    );

    t.publish(&event("user.deleted")).await;
    t.publish(&event("user.registered.twice")).await;
    t.publish(&event("user")).await;
    // Deliveries keep their order, so anything misrouted would come first.
    let sentinel = event("user.registered");
    t.publish(&sentinel).await;
    let got: Vec<String> = expect_seen(&mut rx, 1)
        .await
        .into_iter()
        .map(|s| s.event.key)
        .collect();
    assert_eq!(
        got,
        vec!["user.registered"],
        "keys that match no pattern must not be delivered"
    );
    t.cleanup().await;
}

async fn bus_every_group_gets_each_event(t: TestBus) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume("feed", &["post.created"], Recorder::new("feed", &tx))
        .await;
    t.consume("search", &["post.created"], Recorder::new("search", &tx))
        .await;
    let ev = event("post.created");
    t.publish(&ev).await;
    let mut consumers: Vec<&str> = expect_seen(&mut rx, 2)
        .await
        .into_iter()
        .map(|s| {
            assert_eq!(s.event.id, ev.id);
            s.consumer
        })
        .collect();
    consumers.sort_unstable();
    assert_eq!(consumers, vec!["feed", "search"], "each group exactly once");
    t.cleanup().await;
}

async fn bus_publish_batch_gives_each_group_its_events(t: TestBus) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume("feed", &["post.*"], Recorder::new("feed", &tx))
        .await;
    t.consume("mail", &["user.registered"], Recorder::new("mail", &tx))
        .await;
    let batch = vec![
        event("post.created"),
        event("user.registered"),
        event("post.deleted"),
        event("nobody.listens"),
    ];
    let results = t.bus.publish_batch(&batch, 2).await;
    assert_eq!(results.len(), 4, "one result per event");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut seen: Vec<(&str, String)> = expect_seen(&mut rx, 3)
        .await
        .into_iter()
        .map(|s| (s.consumer, s.event.key))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("feed", "post.created".to_owned()),
            ("feed", "post.deleted".to_owned()),
            ("mail", "user.registered".to_owned()),
        ]
    );
    assert!(t.bus.publish_batch(&[], 2).await.is_empty());
    t.cleanup().await;
}

async fn bus_consumers_of_one_group_share_events(t: TestBus) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume("workers", &["job.*"], Recorder::new("worker-a", &tx))
        .await;
    t.consume("workers", &["job.*"], Recorder::new("worker-b", &tx))
        .await;
    let events: Vec<Envelope> = (0..20).map(|_| event("job.run")).collect();
    for ev in &events {
        t.publish(ev).await;
    }
    let seen = expect_seen(&mut rx, 20).await;
    let mut per_id: BTreeMap<EventId, usize> = BTreeMap::new();
    for s in &seen {
        *per_id.entry(s.event.id).or_default() += 1;
    }
    assert_eq!(per_id.len(), 20, "every event handled");
    assert!(
        per_id.values().all(|n| *n == 1),
        "each event reaches one consumer of the group: {per_id:?}"
    );
    if t.in_process() {
        let a = seen.iter().filter(|s| s.consumer == "worker-a").count();
        assert_eq!(a, 10, "in process, the group's consumers take turns");
    }
    t.cleanup().await;
}

async fn bus_wildcards_follow_amqp_topic_rules(t: TestBus) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume("star", &["love.*"], Recorder::new("star", &tx))
        .await;
    t.consume("hash", &["love.#"], Recorder::new("hash", &tx))
        .await;
    t.consume("middle", &["*.created.#"], Recorder::new("middle", &tx))
        .await;
    t.consume(
        "both",
        &["comment.*", "#.deleted"],
        Recorder::new("both", &tx),
    )
    .await;
    let cases: [(&str, &[&str]); 9] = [
        ("love", &["hash"]),
        ("love.created", &["hash", "middle", "star"]),
        ("love.created.twice", &["hash", "middle"]),
        ("lovely.created", &["middle"]),
        ("created", &[]),
        ("comment.created", &["both", "middle"]),
        ("comment.deleted", &["both"]),
        ("user.avatar.deleted", &["both"]),
        ("love.deleted", &["both", "hash", "star"]),
    ];
    for (key, expected) in cases {
        t.publish(&event(key)).await;
        let mut got: Vec<&str> = expect_seen(&mut rx, expected.len())
            .await
            .into_iter()
            .map(|s| s.consumer)
            .collect();
        got.sort_unstable();
        assert_eq!(got, expected, "groups reached by {key}");
    }
    t.cleanup().await;
}

async fn bus_failing_handler_gets_event_again_with_next_attempt(t: TestBus) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume("flaky", &["flaky.#"], Recorder::failing("flaky", &tx, 2))
        .await;
    t.consume("steady", &["flaky.#"], Recorder::new("steady", &tx))
        .await;
    let ev = event("flaky.event");
    let published = t.relay(&ev).await;
    if t.in_process() {
        assert_eq!(
            published,
            vec![false, false, true],
            "in process, publish fails while a handler fails"
        );
    } else {
        assert_eq!(published, vec![true], "the broker confirms the event once");
    }
    let steady_calls = if t.in_process() { 3 } else { 1 };
    let seen = expect_seen(&mut rx, 3 + steady_calls).await;
    let flaky: Vec<u32> = seen
        .iter()
        .filter(|s| s.consumer == "flaky")
        .map(|s| {
            assert_eq!(s.event.id, ev.id);
            assert_eq!(s.event.key, ev.key);
            assert_eq!(s.event.payload, ev.payload);
            s.event.attempt
        })
        .collect();
    assert_eq!(flaky, vec![1, 2, 3], "redelivered with increasing attempts");
    let steady = seen.iter().filter(|s| s.consumer == "steady").count();
    assert_eq!(
        steady, steady_calls,
        "in process every matching group is called again; a broker redelivers only to the failing group"
    );
    t.cleanup().await;
}

async fn bus_dead_letters_after_max_attempts(t: TestBus) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume(
        "doomed",
        &["doomed.*"],
        Recorder::failing("doomed", &tx, u32::MAX),
    )
    .await;
    let ev = event("doomed.event");
    let published = t.relay(&ev).await;
    let attempts: Vec<u32> = expect_seen(&mut rx, MAX_ATTEMPTS as usize)
        .await
        .iter()
        .map(|s| s.event.attempt)
        .collect();
    assert_eq!(
        attempts,
        (1..=MAX_ATTEMPTS).collect::<Vec<_>>(),
        "tried {MAX_ATTEMPTS} times, then no more"
    );
    match &t.rabbit {
        None => assert_eq!(
            published,
            vec![false; MAX_ATTEMPTS as usize],
            "in process each publish fails; the relay counts and gives up"
        ),
        Some(r) => {
            assert_eq!(published, vec![true]);
            let dead = r.bus.dead_letter_queue_name("doomed");
            let started = Instant::now();
            let msg = loop {
                let got = r
                    .raw
                    .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true })
                    .await
                    .unwrap();
                if let Some(msg) = got {
                    break msg;
                }
                assert!(started.elapsed() < WAIT, "no message in {dead}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let props = &msg.delivery.properties;
            assert_eq!(
                props.message_id().as_ref().map(|s| s.as_str().to_owned()),
                Some(ev.id.to_string())
            );
            assert_eq!(msg.delivery.data, ev.payload.to_vec());
            let headers = props.headers().as_ref().unwrap().inner();
            assert_eq!(
                headers.get(ATTEMPT_HEADER),
                Some(&AMQPValue::LongLongInt(i64::from(MAX_ATTEMPTS)))
            );
            let queue = r.bus.queue_name("doomed");
            let left = r
                .raw
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap();
            assert!(left.is_none(), "nothing left in the group's queue");
        }
    }
    t.cleanup().await;
}

async fn bus_panicking_handler_counts_as_failure(t: TestBus) {
    /// Panics on its first call.
    struct Panicky {
        tx: mpsc::UnboundedSender<Seen>,
        calls: AtomicU32,
    }
    #[async_trait]
    impl EventHandler for Panicky {
        async fn handle(&self, event: &Envelope) -> Result<()> {
            let _ = self.tx.send(Seen {
                consumer: "panicky",
                event: event.clone(),
            });
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("handler panics on purpose");
            }
            Ok(())
        }
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume(
        "panicky",
        &["panic.*"],
        Arc::new(Panicky {
            tx,
            calls: AtomicU32::new(0),
        }),
    )
    .await;
    let published = t.relay(&event("panic.now")).await;
    let expected = if t.in_process() {
        vec![false, true]
    } else {
        vec![true]
    };
    assert_eq!(published, expected);
    let attempts: Vec<u32> = expect_seen(&mut rx, 2)
        .await
        .iter()
        .map(|s| s.event.attempt)
        .collect();
    assert_eq!(attempts, vec![1, 2], "a panic is retried like an error");
    t.cleanup().await;
}

async fn bus_publish_without_consumer_is_ok_and_confirmed(t: TestBus) {
    let ev = event("nobody.listens");
    t.publish(&ev).await;
    if let Some(r) = &t.rabbit {
        // A queue of our own, bound to the exchange: once `publish` returns
        // the broker holds the message, with the promised properties.
        let queue = unique_name();
        r.extra_queues.lock().unwrap().push(queue.clone());
        r.raw
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        r.raw
            .queue_bind(
                queue.as_str().into(),
                r.bus.options().exchange.as_str().into(),
                "confirmed.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let ev = event("confirmed.event");
        t.publish(&ev).await;
        let msg = r
            .raw
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("a confirmed publish is in the queue at once");
        let props = &msg.delivery.properties;
        assert_eq!(msg.delivery.routing_key.as_str(), "confirmed.event");
        assert_eq!(msg.delivery.data, ev.payload.to_vec());
        assert_eq!(
            props.message_id().as_ref().map(|s| s.as_str().to_owned()),
            Some(ev.id.to_string())
        );
        assert_eq!(*props.delivery_mode(), Some(2), "persistent");
        assert_eq!(
            props.content_type().as_ref().map(|s| s.as_str().to_owned()),
            Some("application/json".to_owned())
        );
    }
    t.cleanup().await;
}

async fn bus_same_event_twice_is_delivered_twice(t: TestBus) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume("dedup", &["twice.#"], Recorder::new("dedup", &tx))
        .await;
    let ev = event("twice.sent");
    t.publish(&ev).await;
    t.publish(&ev).await;
    let seen = expect_seen(&mut rx, 2).await;
    assert_eq!(seen.len(), 2, "deduplication is the consumer's job");
    assert!(seen.iter().all(|s| s.event.id == ev.id));
    t.cleanup().await;
}

async fn bus_handlers_run_concurrently(t: TestBus) {
    /// Counts the calls running at once and remembers the most.
    #[derive(Default)]
    struct Gauge {
        running: AtomicU32,
        most: AtomicU32,
        done: AtomicU32,
    }
    #[async_trait]
    impl EventHandler for Gauge {
        async fn handle(&self, _: &Envelope) -> Result<()> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(800)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let gauge = Arc::new(Gauge::default());
    t.consume("slow-a", &["slow.*"], gauge.clone()).await;
    t.consume("slow-b", &["slow.*"], gauge.clone()).await;
    let events: Vec<Envelope> = (0..4).map(|_| event("slow.job")).collect();
    // In process, groups run concurrently within one publish (and publishes
    // concurrently with each other); a broker runs a consumer's deliveries
    // concurrently, up to its prefetch.
    futures::future::join_all(events.iter().map(|ev| t.publish(ev))).await;
    eventually(WAIT, "every event handled by both groups", || async {
        gauge.done.load(Ordering::SeqCst) == 8
    })
    .await;
    assert_eq!(
        gauge.most.load(Ordering::SeqCst),
        8,
        "all 8 handler calls should have overlapped"
    );
    t.cleanup().await;
}

async fn bus_shutdown_waits_for_handlers_and_refuses_publishes(t: TestBus) {
    /// Signals when it starts, then takes a while and records that it finished.
    struct Slow {
        started: mpsc::UnboundedSender<()>,
        finished: Arc<AtomicBool>,
    }
    #[async_trait]
    impl EventHandler for Slow {
        async fn handle(&self, _: &Envelope) -> Result<()> {
            let _ = self.started.send(());
            tokio::time::sleep(Duration::from_millis(500)).await;
            self.finished.store(true, Ordering::SeqCst);
            Ok(())
        }
    }
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let finished = Arc::new(AtomicBool::new(false));
    t.consume(
        "slow",
        &["slow.#"],
        Arc::new(Slow {
            started: started_tx,
            finished: finished.clone(),
        }),
    )
    .await;
    let bus = t.bus.clone();
    // In process `publish` itself runs the handler, so it runs in a task.
    let publishing = tokio::spawn(async move { bus.publish(&event("slow.event")).await });
    tokio::time::timeout(WAIT, started.recv())
        .await
        .expect("handler started")
        .unwrap();
    t.bus.shutdown().await;
    assert!(
        finished.load(Ordering::SeqCst),
        "shutdown returned while a handler was still running"
    );
    publishing.await.unwrap().unwrap();
    let err = t.bus.publish(&event("slow.after")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(t.bus.check().await.is_err(), "check fails once shut down");
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_bus_conforms() {
    bus_contract(BusBackend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbit_bus_conforms() {
    let Some(url) = backend_var("STARLING_TEST_BROKER_URL", "rabbit_bus_conforms") else {
        return;
    };
    bus_contract(BusBackend::Rabbit { url }).await;
}

#[tokio::test]
async fn memory_bus_without_consumers_accepts_events() {
    let bus = MemoryBus::new();
    bus.publish(&event("nobody.listens")).await.unwrap();
}

#[tokio::test]
async fn rabbit_connect_fails_quickly_without_a_broker() {
    let url = format!("amqp://guest:guest@127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(8),
        RabbitBus::connect(&url, RabbitOptions::default()),
    )
    .await
    .unwrap_or_else(|_| panic!("RabbitBus::connect({url}) did not give up within 8 s"));
    match result {
        Ok(_) => panic!("RabbitBus::connect({url}) succeeded with nothing listening"),
        Err(e) => {
            assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
            eprintln!("connect failed after {:?}: {e}", started.elapsed());
        }
    }
}

#[tokio::test]
async fn rabbit_connect_rejects_a_bad_url() {
    let result = RabbitBus::connect("not a url", RabbitOptions::default()).await;
    assert!(matches!(result, Err(Error::Validation { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbit_bus_survives_a_broker_outage() {
    let Some(url) = backend_var(
        "STARLING_TEST_BROKER_URL",
        "rabbit_bus_survives_a_broker_outage",
    ) else {
        return;
    };
    let proxy = Proxy::start(target_addr(&url).await).await;
    let exchange = unique_name();
    let options = rabbit_options(&exchange);
    let timeout = options.timeout;
    let bus = RabbitBus::connect(&proxy.url(&url), options).await.unwrap();
    let t = TestBus {
        bus: Arc::new(bus.clone()),
        rabbit: {
            let (raw_conn, raw) = raw_channel(&url).await;
            Some(RabbitFixture {
                bus: bus.clone(),
                raw,
                _raw_conn: raw_conn,
                groups: Mutex::default(),
                extra_queues: Mutex::default(),
            })
        },
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.consume("survivor", &["outage.#"], Recorder::new("survivor", &tx))
        .await;
    let before = event("outage.before");
    t.publish(&before).await;
    assert_eq!(next_seen(&mut rx, WAIT).await.unwrap().event.id, before.id);

    proxy.cut();
    // Publishes fail, quickly: at once once the loss is noticed, and never
    // later than the confirm timeout.
    let mut during = Vec::new();
    for _ in 0..3 {
        let e = event("outage.during");
        during.push(e.id);
        let started = Instant::now();
        let result = tokio::time::timeout(timeout + Duration::from_secs(2), bus.publish(&e))
            .await
            .expect("publish hung during the outage");
        assert!(result.is_err(), "publish succeeded with the broker cut off");
        assert!(started.elapsed() <= timeout + Duration::from_millis(500));
    }
    eventually(WAIT, "check fails during the outage", || async {
        bus.check().await.is_err()
    })
    .await;
    // Let a few reconnects fail.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(bus.check().await.is_err());

    proxy.restore();
    eventually(Duration::from_secs(15), "the bus reconnects", || async {
        bus.check().await.is_ok()
    })
    .await;
    let after = event("outage.after");
    bus.publish(&after).await.unwrap();
    // At least once, as AMQP allows: `before` comes again when its ack was
    // still on its way as the connection dropped (the recorder saw it before
    // the bus acked), and a publish that failed during the outage may still
    // have reached the broker, its confirm lost. Those may arrive before
    // `after`; nothing else may.
    let mut earlier = Vec::new();
    let seen = loop {
        let seen = next_seen(&mut rx, Duration::from_secs(15))
            .await
            .expect("the consumer is re-established without being recreated");
        if seen.event.id == after.id {
            break seen;
        }
        eprintln!(
            "before {}: {} (attempt {})",
            after.key, seen.event.key, seen.event.attempt
        );
        earlier.push(seen);
    };
    for s in &earlier {
        assert!(
            s.event.id == before.id || during.contains(&s.event.id),
            "an event never published arrived: {s:?}"
        );
    }
    assert_eq!(seen.event.attempt, 1);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_rabbit_bus_starts_without_the_broker_and_catches_up() {
    let Some(url) = backend_var(
        "STARLING_TEST_BROKER_URL",
        "a_lazy_rabbit_bus_starts_without_the_broker_and_catches_up",
    ) else {
        return;
    };
    let proxy = Proxy::start(target_addr(&url).await).await;
    proxy.cut();
    let exchange = unique_name();
    // As in production: a publish is refused until a queue takes it, so the
    // consumer registered while down cannot miss one sent before its queue
    // is declared again.
    let options = RabbitOptions {
        require_route: true,
        ..rabbit_options(&exchange)
    };
    assert!(
        RabbitBus::connect(&proxy.url(&url), options.clone())
            .await
            .is_err(),
        "the eager variant needs the broker"
    );
    let bus = RabbitBus::connect_lazily(&proxy.url(&url), options)
        .await
        .expect("the lazy variant starts without it");
    assert!(bus.check().await.is_err());
    let (tx, mut rx) = mpsc::unbounded_channel();
    bus.consume("late", &["lazy.#"], Recorder::new("late", &tx))
        .await
        .expect("a consumer can be registered while disconnected");
    assert!(bus.publish(&event("lazy.early")).await.is_err());
    proxy.restore();
    eventually(Duration::from_secs(15), "the bus connects", || async {
        bus.check().await.is_ok()
    })
    .await;
    let e = event("lazy.now");
    eventually(
        Duration::from_secs(15),
        "a publish is confirmed",
        || async { bus.publish(&e).await.is_ok() },
    )
    .await;
    let seen = next_seen(&mut rx, Duration::from_secs(15))
        .await
        .expect("the consumer registered while down receives");
    assert_eq!(seen.event.id, e.id);
    let (_conn, raw) = raw_channel(&url).await;
    for q in [format!("{exchange}.late"), format!("{exchange}.late.dead")] {
        let _ = raw
            .queue_delete(
                q.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    }
    let _ = raw
        .exchange_delete(
            exchange.as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await;
    bus.shutdown().await;
}

// ---------------------------------------------------------------------------
// Pub/sub
// ---------------------------------------------------------------------------

async fn next_message(sub: &mut Subscription) -> Option<Bytes> {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .ok()
        .flatten()
}

async fn no_message(sub: &mut Subscription) {
    if let Ok(Some(m)) = tokio::time::timeout(QUIET, sub.next()).await {
        panic!("unexpected message {m:?}");
    }
}

async fn pubsub_contract(ps: &dyn PubSub) {
    pubsub_check_is_ok(ps).await;
    pubsub_receives_in_order(ps).await;
    pubsub_only_own_channel(ps).await;
    pubsub_every_subscriber_receives(ps).await;
    pubsub_drop_unsubscribes(ps).await;
    pubsub_nothing_from_before_subscribe(ps).await;
}

async fn pubsub_check_is_ok(ps: &dyn PubSub) {
    ps.check().await.unwrap();
}

async fn pubsub_receives_in_order(ps: &dyn PubSub) {
    let mut sub = ps.subscribe("notifications:user:1").await.unwrap();
    for i in 0..50 {
        ps.publish("notifications:user:1", Bytes::from(format!("m{i}")))
            .await
            .unwrap();
    }
    for i in 0..50 {
        assert_eq!(
            next_message(&mut sub).await,
            Some(Bytes::from(format!("m{i}"))),
            "message {i} in order"
        );
    }
    no_message(&mut sub).await;
}

async fn pubsub_only_own_channel(ps: &dyn PubSub) {
    let mut a = ps.subscribe("notifications:user:2").await.unwrap();
    ps.publish("notifications:user:3", Bytes::from_static(b"for 3"))
        .await
        .unwrap();
    ps.publish("notifications:user:22", Bytes::from_static(b"for 22"))
        .await
        .unwrap();
    ps.publish("notifications:user:2", Bytes::from_static(b"for 2"))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut a).await,
        Some(Bytes::from_static(b"for 2"))
    );
    no_message(&mut a).await;
}

async fn pubsub_every_subscriber_receives(ps: &dyn PubSub) {
    let mut a = ps.subscribe("notifications:user:4").await.unwrap();
    let mut b = ps.subscribe("notifications:user:4").await.unwrap();
    ps.publish("notifications:user:4", Bytes::from_static(b"both"))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut a).await,
        Some(Bytes::from_static(b"both"))
    );
    assert_eq!(
        next_message(&mut b).await,
        Some(Bytes::from_static(b"both"))
    );
    // One leaving does not end the other's subscription.
    drop(a);
    ps.publish("notifications:user:4", Bytes::from_static(b"b only"))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut b).await,
        Some(Bytes::from_static(b"b only"))
    );
}

async fn pubsub_drop_unsubscribes(ps: &dyn PubSub) {
    let sub = ps.subscribe("notifications:user:5").await.unwrap();
    drop(sub);
    ps.publish("notifications:user:5", Bytes::from_static(b"nobody"))
        .await
        .unwrap();
    let mut again = ps.subscribe("notifications:user:5").await.unwrap();
    ps.publish("notifications:user:5", Bytes::from_static(b"again"))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut again).await,
        Some(Bytes::from_static(b"again"))
    );
    no_message(&mut again).await;
}

async fn pubsub_nothing_from_before_subscribe(ps: &dyn PubSub) {
    ps.publish("notifications:user:6", Bytes::from_static(b"early"))
        .await
        .unwrap();
    let mut sub = ps.subscribe("notifications:user:6").await.unwrap();
    no_message(&mut sub).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_pubsub_conforms() {
    let ps = MemoryPubSub::new();
    pubsub_contract(&ps).await;
    assert_eq!(ps.channel_count(), 0, "every subscription was dropped");
}

#[tokio::test]
async fn memory_pubsub_forgets_channels_without_subscribers() {
    let ps = MemoryPubSub::new();
    let a = ps.subscribe("c1").await.unwrap();
    let b = ps.subscribe("c1").await.unwrap();
    let c = ps.subscribe("c2").await.unwrap();
    assert_eq!(ps.channel_count(), 2);
    drop(a);
    assert_eq!(ps.channel_count(), 2, "c1 still has a subscriber");
    drop(b);
    assert_eq!(ps.channel_count(), 1, "c1's entry is removed");
    drop(c);
    assert_eq!(ps.channel_count(), 0);
    // Many short-lived subscriptions on distinct channels leave nothing behind.
    for i in 0..1000 {
        let sub = ps.subscribe(&format!("user:{i}")).await.unwrap();
        drop(sub);
    }
    assert_eq!(ps.channel_count(), 0);
}

#[tokio::test]
async fn memory_pubsub_slow_subscriber_loses_messages_without_blocking() {
    let ps = MemoryPubSub::new();
    let mut slow = ps.subscribe("busy").await.unwrap();
    let mut fast = ps.subscribe("busy").await.unwrap();
    let total = starling_adapters::pubsub_memory::SUBSCRIPTION_BUFFER + 100;
    let started = Instant::now();
    for i in 0..total {
        ps.publish("busy", Bytes::from(i.to_string()))
            .await
            .unwrap();
        // The fast one keeps up.
        assert_eq!(fast.next().await, Some(Bytes::from(i.to_string())));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "publish blocked"
    );
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), slow.next()).await {
        got.push(m);
    }
    assert_eq!(
        got.len(),
        starling_adapters::pubsub_memory::SUBSCRIPTION_BUFFER,
        "the slow subscriber keeps its buffer's worth, oldest first"
    );
    assert_eq!(got[0], Bytes::from_static(b"0"));
    // Once it has caught up it receives again.
    ps.publish("busy", Bytes::from_static(b"later"))
        .await
        .unwrap();
    assert_eq!(slow.next().await, Some(Bytes::from_static(b"later")));
}

async fn redis_pubsub(url: &str, prefix: &str) -> RedisPubSub {
    match RedisPubSub::connect(url, prefix).await {
        Ok(p) => p,
        Err(e) => panic!("cannot connect to STARLING_TEST_REDIS_URL {url}: {e}"),
    }
}

/// How many Redis subscribers `channel` has, on the server.
async fn redis_numsub(url: &str, channel: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_pubsub_conforms() {
    let Some(url) = backend_var("STARLING_TEST_REDIS_URL", "redis_pubsub_conforms") else {
        return;
    };
    let prefix = format!("{}:", unique_name());
    let ps = redis_pubsub(&url, &prefix).await;
    pubsub_contract(&ps).await;
    assert_eq!(ps.channel_count(), 0, "every subscription was dropped");
}

#[tokio::test]
async fn redis_pubsub_shares_one_subscription_per_channel_and_unsubscribes() {
    let Some(url) = backend_var(
        "STARLING_TEST_REDIS_URL",
        "redis_pubsub_shares_one_subscription_per_channel_and_unsubscribes",
    ) else {
        return;
    };
    let prefix = format!("{}:", unique_name());
    let ps = redis_pubsub(&url, &prefix).await;
    let full = format!("{prefix}room");
    let subs: Vec<Subscription> = futures::future::join_all((0..20).map(|_| ps.subscribe("room")))
        .await
        .into_iter()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(
        redis_numsub(&url, &full).await,
        1,
        "one Redis subscription, whatever the number of local subscribers"
    );
    let mut other = ps.subscribe("other-room").await.unwrap();
    assert_eq!(ps.channel_count(), 2);
    drop(subs);
    assert_eq!(ps.channel_count(), 1);
    eventually(WAIT, "UNSUBSCRIBE once the last one left", || async {
        redis_numsub(&url, &full).await == 0
    })
    .await;
    // The shared connection still serves the other channel.
    ps.publish("other-room", Bytes::from_static(b"still here"))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut other).await,
        Some(Bytes::from_static(b"still here"))
    );
}

#[tokio::test]
async fn redis_pubsub_nodes_with_one_prefix_share_messages() {
    let Some(url) = backend_var(
        "STARLING_TEST_REDIS_URL",
        "redis_pubsub_nodes_with_one_prefix_share_messages",
    ) else {
        return;
    };
    let prefix = format!("{}:", unique_name());
    let node_a = redis_pubsub(&url, &prefix).await;
    let node_b = redis_pubsub(&url, &prefix).await;
    let elsewhere = redis_pubsub(&url, &format!("{}:", unique_name())).await;

    let mut on_a = node_a.subscribe("notifications:user:7").await.unwrap();
    let mut on_b = node_b.subscribe("notifications:user:7").await.unwrap();
    let mut on_elsewhere = elsewhere.subscribe("notifications:user:7").await.unwrap();

    node_b
        .publish("notifications:user:7", Bytes::from_static(b"from b"))
        .await
        .unwrap();
    node_a
        .publish("notifications:user:7", Bytes::from_static(b"from a"))
        .await
        .unwrap();
    for sub in [&mut on_a, &mut on_b] {
        assert_eq!(next_message(sub).await, Some(Bytes::from_static(b"from b")));
        assert_eq!(next_message(sub).await, Some(Bytes::from_static(b"from a")));
    }
    no_message(&mut on_elsewhere).await;
    elsewhere
        .publish("notifications:user:7", Bytes::from_static(b"other prefix"))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut on_elsewhere).await,
        Some(Bytes::from_static(b"other prefix"))
    );
    no_message(&mut on_a).await;
    no_message(&mut on_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_pubsub_resubscribes_after_losing_its_connection() {
    let Some(url) = backend_var(
        "STARLING_TEST_REDIS_URL",
        "redis_pubsub_resubscribes_after_losing_its_connection",
    ) else {
        return;
    };
    let proxy = Proxy::start(target_addr(&url).await).await;
    let prefix = format!("{}:", unique_name());
    let behind_proxy = redis_pubsub(&proxy.url(&url), &prefix).await;
    let direct = redis_pubsub(&url, &prefix).await;
    let mut sub = behind_proxy
        .subscribe("notifications:user:8")
        .await
        .unwrap();
    direct
        .publish("notifications:user:8", Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut sub).await,
        Some(Bytes::from_static(b"before"))
    );

    proxy.cut();
    eventually(WAIT, "check fails during the outage", || async {
        behind_proxy.check().await.is_err()
    })
    .await;
    assert!(
        behind_proxy
            .subscribe("notifications:user:9")
            .await
            .is_err(),
        "a new subscription fails while disconnected"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    proxy.restore();
    eventually(
        Duration::from_secs(15),
        "the adapter reconnects",
        || async { behind_proxy.check().await.is_ok() },
    )
    .await;
    // The subscription made before the outage receives again, once the
    // subscriber connection has resubscribed.
    let started = Instant::now();
    loop {
        direct
            .publish("notifications:user:8", Bytes::from_static(b"after"))
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            Ok(Some(m)) => {
                assert_eq!(m, Bytes::from_static(b"after"));
                break;
            }
            Ok(None) => panic!("the subscription ended"),
            Err(_) => assert!(
                started.elapsed() < Duration::from_secs(15),
                "no message after reconnecting"
            ),
        }
    }
    let mut fresh = behind_proxy
        .subscribe("notifications:user:9")
        .await
        .unwrap();
    direct
        .publish("notifications:user:9", Bytes::from_static(b"new"))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut fresh).await,
        Some(Bytes::from_static(b"new"))
    );
}

#[tokio::test]
async fn redis_pubsub_connect_to_closed_port_fails_quickly() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let result = tokio::time::timeout(Duration::from_secs(8), RedisPubSub::connect(&url, "x:"))
        .await
        .unwrap_or_else(|_| panic!("RedisPubSub::connect({url}) did not give up within 8 s"));
    assert!(result.is_err(), "connected with nothing listening");
}

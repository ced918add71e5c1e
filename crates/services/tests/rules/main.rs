//! The services' rules, tested against the real SQLite store and the
//! in-memory adapters, without HTTP: who is notified of what, what each
//! chat connection receives, chat membership and retraction, and what the
//! feeds show. Events are moved from the outbox to the consumers by
//! [`World::settle`], the way the relay and the in-process bus would.

mod chat;
mod deletion;
mod delivery;
mod fanout;
mod limits;
mod moderation;
mod notifications;
mod presence;
mod timelines;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use starling_adapters::bus_memory::topic_matches;
use starling_adapters::fanout_memory::MemoryConnection;
use starling_adapters::{FsBlobStore, MemoryCache, MemoryFanout, MemoryPubSub};
use starling_core::live::ChatEvent;
use starling_core::messaging::{EventHandler, PushOutcome, PushSender, PushTarget};
use starling_core::model::{Feed, NotificationKind};
use starling_core::types::Limit;
use starling_core::{Error, IdGenerator, MessageId, PostId, Result, RoomId, Timestamp, UserId};
use starling_services::accounts::RegisterInput;
use starling_services::chat::{ChatSettings, Destination};
use starling_services::deletion::AccountPurger;
use starling_services::media::MediaReaper;
use starling_services::notifications::{NotificationWorker, PushSettings};
use starling_services::timeline::FanOutWorker;
use starling_services::{
    AuthSettings, FeedSettings, JwtKeys, LimitSettings, MediaSettings, Ports, Services, Settings,
};
use starling_store::{SqlStore, StoreOptions};

/// A push the services asked for.
#[derive(Debug, Clone)]
pub struct SentPush {
    pub endpoint: String,
    pub payload: serde_json::Value,
}

/// Stands in for the push service: records what it was asked to send.
#[derive(Default)]
pub struct RecordingPush {
    sent: Mutex<Vec<SentPush>>,
}

impl RecordingPush {
    pub fn sent(&self) -> Vec<SentPush> {
        self.sent.lock().expect("push log").clone()
    }

    pub fn sent_to(&self, endpoint: &str) -> Vec<SentPush> {
        self.sent()
            .into_iter()
            .filter(|p| p.endpoint == endpoint)
            .collect()
    }
}

#[async_trait]
impl PushSender for RecordingPush {
    fn public_key(&self) -> String {
        "test-key".into()
    }

    async fn check_endpoint(&self, _endpoint: &str) -> Result<()> {
        Ok(())
    }

    async fn send(
        &self,
        target: &PushTarget,
        payload: &[u8],
        _ttl: Duration,
    ) -> Result<PushOutcome> {
        let payload = serde_json::from_slice(payload).expect("push payloads are JSON");
        self.sent.lock().expect("push log").push(SentPush {
            endpoint: target.endpoint.clone(),
            payload,
        });
        Ok(PushOutcome::Accepted)
    }
}

/// One node's services on a fresh database.
pub struct World {
    pub s: Services,
    pub fanout: MemoryFanout,
    pub push: Arc<RecordingPush>,
    handlers: Vec<(&'static [&'static str], Arc<dyn EventHandler>)>,
    client_ids: AtomicU64,
    _dir: tempfile::TempDir,
}

/// The settings every test starts from: nothing rate-limited.
pub fn settings() -> Settings {
    Settings {
        auth: AuthSettings::default(),
        feed: FeedSettings::default(),
        media: MediaSettings::default(),
        chat: ChatSettings {
            message_rate: None,
            ..ChatSettings::default()
        },
        limits: LimitSettings::off(),
        push: PushSettings::default(),
        presence_ttl: Duration::from_secs(60),
        registration_mode: Default::default(),
    }
}

pub fn limit(n: i64) -> Limit {
    Limit::parse(Some(n)).expect("a valid limit")
}

/// The error of `r`, which must have failed.
pub fn err<T>(r: Result<T>) -> Error {
    match r {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(e) => e,
    }
}

pub fn is_not_found<T>(r: Result<T>) -> bool {
    matches!(err(r), Error::NotFound { .. })
}

pub fn is_forbidden<T>(r: Result<T>) -> bool {
    matches!(err(r), Error::Forbidden { .. })
}

/// The wire names of `events`, in order.
pub fn names(events: &[ChatEvent]) -> Vec<&'static str> {
    events.iter().map(ChatEvent::name).collect()
}

impl World {
    pub async fn new() -> World {
        World::with(settings()).await
    }

    pub async fn with(settings: Settings) -> World {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let store = SqlStore::connect(&url, &StoreOptions::default())
            .await
            .expect("the store opens");
        store.migrate().await.expect("migrations apply");
        let store = Arc::new(store);
        let fanout = MemoryFanout::new();
        let push = Arc::new(RecordingPush::default());
        let ports = Ports {
            users: store.clone(),
            follows: store.clone(),
            tokens: store.clone(),
            posts: store.clone(),
            comments: store.clone(),
            loves: store.clone(),
            media: store.clone(),
            search: store.clone(),
            notifications: store.clone(),
            push_subscriptions: store.clone(),
            blocks: store.clone(),
            outbox: store.clone(),
            moderation: store.clone(),
            chat: store.clone(),
            deletion: store.clone(),
            export: store,
            cache: Arc::new(MemoryCache::default()),
            blobs: Arc::new(
                FsBlobStore::open(dir.path().join("media"))
                    .await
                    .expect("the blob dir opens"),
            ),
            pubsub: Arc::new(MemoryPubSub::new()),
            mailer: Arc::new(
                starling_adapters::FileMailer::new(
                    dir.path().join("mail"),
                    "Starling <noreply@localhost>",
                )
                .expect("a mail dir"),
            ),
        };
        let keys = JwtKeys::load_or_generate(&dir.path().join("jwt.pem")).expect("a signing key");
        let s = Services::new(
            ports,
            Arc::new(IdGenerator::new(1).expect("node 1")),
            Arc::new(keys),
            settings,
            Some(push.clone() as Arc<dyn PushSender>),
            Arc::new(fanout.clone()),
        );
        let handlers: Vec<(&'static [&'static str], Arc<dyn EventHandler>)> = vec![
            (
                NotificationWorker::PATTERNS,
                Arc::new(NotificationWorker(s.notifications.clone())),
            ),
            (
                FanOutWorker::PATTERNS,
                Arc::new(FanOutWorker(s.timelines.clone())),
            ),
            (
                MediaReaper::PATTERNS,
                Arc::new(MediaReaper(s.media.clone())),
            ),
            (
                AccountPurger::PATTERNS,
                Arc::new(AccountPurger(s.deletion.clone())),
            ),
        ];
        World {
            s,
            fanout,
            push,
            handlers,
            client_ids: AtomicU64::new(0),
            _dir: dir,
        }
    }

    /// Registers `name` and returns their id.
    pub async fn user(&self, name: &str) -> UserId {
        let session = self
            .s
            .accounts
            .register(RegisterInput {
                client_ip: "192.0.2.1".into(),
                user_agent: "rules".into(),
                username: name.into(),
                email: format!("{name}@example.test"),
                password: "correct horse battery staple".into(),
                display_name: None,
            })
            .await
            .expect("registration");
        session.session().expect("signed in").user.record.id
    }

    /// Drains the outbox the way the relay would: each claimed event to the
    /// handlers whose patterns match its key (each handler gets its matching
    /// events as one batch, as the in-process bus hands them), then done;
    /// until nothing is left. A handler's failure fails the test.
    pub async fn settle(&self) {
        let outbox = &self.s.ports.outbox;
        for _ in 0..100 {
            let now = Timestamp::now();
            let lease = Timestamp(now.millis() + 60_000);
            let events = outbox
                .claim_outbox(now, lease, 100)
                .await
                .expect("claiming the outbox");
            if events.is_empty() {
                return;
            }
            for (patterns, handler) in &self.handlers {
                let mine: Vec<_> = events
                    .iter()
                    .filter(|e| patterns.iter().any(|p| topic_matches(p, &e.key)))
                    .cloned()
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                for (event, result) in mine.iter().zip(handler.handle_batch(&mine).await) {
                    if let Err(e) = result {
                        panic!("handling {} ({}) failed: {e}", event.key, event.id);
                    }
                }
            }
            let ids: Vec<_> = events.iter().map(|e| e.id).collect();
            outbox.outbox_done(&ids).await.expect("outbox done");
        }
        panic!("the outbox never drained");
    }

    /// `user`'s notifications, newest first: (kind, actor).
    pub async fn notifs(&self, user: UserId) -> Vec<(NotificationKind, UserId)> {
        self.s
            .notifications
            .list(user, None, limit(100), false)
            .await
            .expect("listing notifications")
            .items
            .into_iter()
            .map(|n| (n.record.kind, n.record.actor_id))
            .collect()
    }

    pub async fn unread(&self, user: UserId) -> i64 {
        self.s
            .notifications
            .unread_count(user)
            .await
            .expect("unread count")
    }

    pub async fn post(&self, author: UserId, text: &str) -> PostId {
        let (view, created) = self
            .s
            .posts
            .create(author, text.into(), Vec::new(), None)
            .await
            .expect("posting");
        assert!(created);
        view.record.id
    }

    pub async fn follow(&self, me: UserId, target: UserId) {
        self.s.users.follow(me, target).await.expect("following");
    }

    /// The posts of `viewer`'s home feed, newest first.
    pub async fn home(&self, viewer: UserId) -> Vec<PostId> {
        self.feed(viewer, Feed::Home(viewer)).await
    }

    pub async fn feed(&self, viewer: UserId, feed: Feed) -> Vec<PostId> {
        self.s
            .posts
            .feed(Some(viewer), feed, None, limit(100))
            .await
            .expect("reading a feed")
            .items
            .into_iter()
            .map(|p| p.record.id)
            .collect()
    }

    /// A chat connection for `user` (closed when dropped).
    pub fn connect(&self, user: UserId) -> MemoryConnection {
        self.fanout.connect(user)
    }

    /// A connection for `user` with `room` open.
    pub fn open(&self, user: UserId, room: RoomId) -> MemoryConnection {
        let conn = self.fanout.connect(user);
        conn.join(room);
        conn
    }

    pub async fn group(&self, owner: UserId, name: &str, members: &[UserId]) -> RoomId {
        self.s
            .chat
            .create_group(owner, name, members)
            .await
            .expect("creating a group")
            .room
            .id
    }

    /// Sends `text` to `to`, with a fresh client id.
    pub async fn try_say(&self, me: UserId, to: Destination, text: &str) -> Result<MessageId> {
        let n = self.client_ids.fetch_add(1, Ordering::Relaxed);
        let sent = self.s.chat.send(me, to, text, &format!("c{n}")).await?;
        Ok(sent.message.record.id)
    }

    pub async fn say(&self, me: UserId, room: RoomId, text: &str) -> MessageId {
        self.try_say(me, Destination::Room(room), text)
            .await
            .expect("sending a message")
    }

    /// The texts of `room`'s history as `me` sees it, oldest first.
    pub async fn history(&self, me: UserId, room: RoomId) -> Vec<String> {
        let mut texts: Vec<String> = self
            .s
            .chat
            .history(me, room, None, limit(100))
            .await
            .expect("reading history")
            .items
            .into_iter()
            .map(|m| m.record.text)
            .collect();
        texts.reverse();
        texts
    }
}

/// Waits (briefly) until `check` holds; for work the services hand to a
/// background task (pushes, presence cleared after a guard drops).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

//! The `starling` server: wires the configured backends into the services,
//! serves the roles asked for, and shuts down gracefully.

pub mod config;
mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use starling_adapters::{
    FileMailer, FsBlobStore, MemoryBus, MemoryCache, MemoryPubSub, RabbitBus, RabbitOptions,
    RedisCache, RedisPubSub, S3BlobStore, S3Options, SmtpMailer, VapidKey, WebPushSender,
};
use starling_api::metrics::Metrics;
use starling_api::{ApiConfig, AppState, AppStateInner, NamedCheck};
use starling_core::live::Fanout;
use starling_core::messaging::{EventBus, Mailer, PubSub, PushSender};
use starling_core::ports::{BlobStore, Cache, Health};
use starling_core::{IdGenerator, Result as CoreResult};
use starling_services::chat::ChatSettings;
use starling_services::mail::WelcomeMailer;
use starling_services::media::MediaReaper;
use starling_services::notifications::NotificationWorker;
use starling_services::outbox::{Relay, RelaySettings};
use starling_services::timeline::FanOutWorker;
use starling_services::{AuthSettings, FeedSettings, JwtKeys, MediaSettings, Ports, Services};
use starling_store::{SqlStore, StoreOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use config::Roles;
pub use config::{ConfigError, Overrides, Settings};

struct CacheHealth(Arc<dyn Cache>);

#[async_trait]
impl Health for CacheHealth {
    async fn check(&self) -> CoreResult<()> {
        self.0.check().await
    }
}

struct BusHealth(Arc<dyn EventBus>);

#[async_trait]
impl Health for BusHealth {
    async fn check(&self) -> CoreResult<()> {
        self.0.check().await
    }
}

struct PubSubHealth(Arc<dyn PubSub>);

#[async_trait]
impl Health for PubSubHealth {
    async fn check(&self) -> CoreResult<()> {
        self.0.check().await
    }
}

struct BlobHealth(Arc<dyn BlobStore>);

#[async_trait]
impl Health for BlobHealth {
    async fn check(&self) -> CoreResult<()> {
        self.0.check().await
    }
}

/// Creates the data dir for its owner only (0700): it holds the database, the
/// signing keys, mail and media. An existing one open to others is narrowed.
pub fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating data dir {}", dir.display()))?;
        }
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("reading data dir {}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("narrowing data dir {} to 0700", dir.display()))?;
            tracing::info!(dir = %dir.display(), "narrowed the data dir to mode 0700");
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    Ok(())
}

/// Connects the database and applies migrations; used by `serve` and `migrate`.
pub async fn open_store(settings: &Settings) -> anyhow::Result<(SqlStore, Vec<i64>)> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        private_dir(&settings.data_dir)?;
    }
    let store = SqlStore::connect(
        &url,
        &StoreOptions {
            max_connections: settings.database_max_connections,
            ..StoreOptions::default()
        },
    )
    .await?;
    let applied = store.migrate().await?;
    Ok((store, applied))
}

/// A port's adapter as configured, with the readiness check of its backend
/// when it has one of its own (in-process adapters have none).
struct Port<T: ?Sized> {
    adapter: Arc<T>,
    check: Option<NamedCheck>,
}

impl<T: ?Sized> Port<T> {
    fn in_process(adapter: Arc<T>) -> Self {
        Port {
            adapter,
            check: None,
        }
    }

    fn checked(adapter: Arc<T>, name: &str, check: impl Health + 'static) -> Self {
        Port {
            adapter,
            check: Some(NamedCheck {
                name: name.into(),
                check: Arc::new(check),
            }),
        }
    }

    /// The adapter, its check (if any) added to `checks`.
    fn register(self, checks: &mut Vec<NamedCheck>) -> Arc<T> {
        checks.extend(self.check);
        self.adapter
    }
}

/// The cache: Redis with `redis_url`, else in-process memory.
async fn build_cache(settings: &Settings) -> anyhow::Result<Port<dyn Cache>> {
    Ok(match &settings.redis_url {
        Some(url) => {
            let cache: Arc<dyn Cache> =
                Arc::new(RedisCache::connect(url, &settings.redis_prefix).await?);
            tracing::info!(url = %config::redact_url(url), "cache: redis");
            Port::checked(cache.clone(), "redis", CacheHealth(cache))
        }
        None => {
            tracing::info!("cache: in-process memory");
            Port::in_process(Arc::new(MemoryCache::default()))
        }
    })
}

/// Media: an S3 bucket with `media_url = "s3://…"`, else files in the data dir.
async fn build_blobs(settings: &Settings) -> anyhow::Result<Port<dyn BlobStore>> {
    let blobs: Arc<dyn BlobStore> = match settings.s3_location()? {
        Some(loc) => {
            let s3 = S3BlobStore::new(&S3Options {
                bucket: loc.bucket.clone(),
                prefix: loc.prefix,
                endpoint: settings.s3_endpoint.clone(),
                region: settings.s3_region.clone(),
                access_key_id: settings.s3_access_key_id.clone(),
                secret_access_key: settings.s3_secret_access_key.clone(),
            })?;
            tracing::info!(bucket = %loc.bucket, "media: s3");
            Arc::new(s3)
        }
        None => {
            let dir = settings.data_dir.join("media");
            tracing::info!(dir = %dir.display(), "media: files");
            Arc::new(FsBlobStore::open(dir).await?)
        }
    };
    Ok(Port::checked(blobs.clone(), "media", BlobHealth(blobs)))
}

/// The event bus: RabbitMQ with `broker_url`, else in process. The broker's
/// readiness is the bus's own: whether its connection is up.
async fn build_bus(settings: &Settings) -> anyhow::Result<Port<dyn EventBus>> {
    Ok(match &settings.broker_url {
        Some(url) => {
            // A broker that is down at start-up only delays events.
            let bus: Arc<dyn EventBus> = Arc::new(
                RabbitBus::connect_lazily(
                    url,
                    RabbitOptions {
                        exchange: settings.broker_exchange.clone(),
                        max_attempts: settings.event_max_attempts,
                        ..RabbitOptions::default()
                    },
                )
                .await?,
            );
            tracing::info!(url = %config::redact_url(url), exchange = %settings.broker_exchange, "event bus: rabbitmq");
            Port::checked(bus.clone(), "broker", BusHealth(bus))
        }
        None => {
            tracing::info!("event bus: in-process, fed from the outbox");
            Port::in_process(Arc::new(MemoryBus::new()))
        }
    })
}

/// The live channel between nodes: Redis pub/sub with `redis_url`, else in
/// process (one node).
async fn build_pubsub(settings: &Settings) -> anyhow::Result<Port<dyn PubSub>> {
    Ok(match &settings.redis_url {
        Some(url) => {
            let pubsub: Arc<dyn PubSub> =
                Arc::new(RedisPubSub::connect(url, &settings.redis_prefix).await?);
            tracing::info!("live channel: redis pub/sub");
            Port::checked(pubsub.clone(), "pubsub", PubSubHealth(pubsub))
        }
        None => Port::in_process(Arc::new(MemoryPubSub::new())),
    })
}

/// Web Push, signed with the configured VAPID key or one kept in the data dir.
fn build_push(settings: &Settings) -> anyhow::Result<Arc<dyn PushSender>> {
    let vapid = match &settings.vapid_private_key {
        Some(k) => {
            VapidKey::from_base64url(k).map_err(|e| anyhow::anyhow!("vapid_private_key: {e}"))?
        }
        None => VapidKey::load_or_generate(&settings.data_dir.join("vapid.key"))?,
    };
    Ok(Arc::new(
        WebPushSender::new(&vapid, settings.vapid_subject.clone())?
            .with_allowed_hosts(settings.push_allowed_hosts()?),
    ))
}

/// Mail: SMTP with `smtp_url`, else `.eml` files in the data dir.
fn build_mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match &settings.smtp_url {
        Some(url) => {
            tracing::info!(url = %config::redact_url(url), "mail: smtp");
            Arc::new(SmtpMailer::from_url(url, &settings.mail_from)?)
        }
        None => {
            let dir = settings.data_dir.join("mail");
            tracing::info!(dir = %dir.display(), "mail: .eml files");
            Arc::new(FileMailer::new(dir, &settings.mail_from)?)
        }
    })
}

/// The key that signs access tokens: the configured file, or one kept in the
/// data dir.
fn load_jwt_keys(settings: &Settings) -> anyhow::Result<Arc<JwtKeys>> {
    let key_path = settings
        .jwt_private_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("jwt-ed25519.pem"));
    Ok(Arc::new(JwtKeys::load_or_generate(&key_path)?))
}

/// Every backend but the database, connected as configured, with the
/// readiness checks of those that have one.
struct Backends {
    cache: Arc<dyn Cache>,
    blobs: Arc<dyn BlobStore>,
    bus: Arc<dyn EventBus>,
    pubsub: Arc<dyn PubSub>,
    push: Arc<dyn PushSender>,
    mailer: Arc<dyn Mailer>,
    checks: Vec<NamedCheck>,
}

impl Backends {
    async fn connect(settings: &Settings) -> anyhow::Result<Backends> {
        let mut checks = Vec::new();
        let cache = build_cache(settings).await?.register(&mut checks);
        let blobs = build_blobs(settings).await?.register(&mut checks);
        let bus = build_bus(settings).await?.register(&mut checks);
        let pubsub = build_pubsub(settings).await?.register(&mut checks);
        Ok(Backends {
            cache,
            blobs,
            bus,
            pubsub,
            push: build_push(settings)?,
            mailer: build_mailer(settings)?,
            checks,
        })
    }
}

/// The services' ports: the database for every store, and the backends.
fn ports(store: &SqlStore, backends: &Backends) -> Ports {
    let store = Arc::new(store.clone());
    Ports {
        users: store.clone(),
        follows: store.clone(),
        tokens: store.clone(),
        posts: store.clone(),
        comments: store.clone(),
        search: store.clone(),
        loves: store.clone(),
        media: store.clone(),
        notifications: store.clone(),
        push_subscriptions: store.clone(),
        chat: store.clone(),
        outbox: store,
        cache: backends.cache.clone(),
        blobs: backends.blobs.clone(),
        pubsub: backends.pubsub.clone(),
    }
}

fn service_settings(settings: &Settings) -> anyhow::Result<starling_services::Settings> {
    Ok(starling_services::Settings {
        auth: AuthSettings {
            access_ttl: Duration::from_secs(settings.access_token_ttl_secs),
            refresh_ttl: Duration::from_secs(settings.refresh_token_ttl_days * 24 * 3600),
            login_window: Duration::from_secs(settings.login_window_secs),
            login_max_per_ip: settings.login_max_per_ip,
            login_max_per_account: settings.login_max_per_account,
            login_max_per_account_global: settings.login_max_per_account_global,
            login_delay_base: Duration::from_secs(settings.login_delay_base_secs),
            login_delay_max: Duration::from_secs(settings.login_delay_max_secs),
            avatar_max_bytes: settings.avatar_max_bytes,
            user_cache_ttl: Duration::from_secs(settings.user_cache_ttl_secs),
        },
        feed: FeedSettings {
            timeline_cap: settings.timeline_cap,
            timeline_ttl: Duration::from_secs(settings.timeline_ttl_secs),
            celebrity_threshold: settings.celebrity_threshold,
            post_cache_ttl: Duration::from_secs(settings.post_cache_ttl_secs),
        },
        media: MediaSettings {
            max_bytes: settings.media_max_bytes,
            unattached_ttl: Duration::from_secs(settings.media_unattached_ttl_secs),
            image_memory_budget: settings.image_memory_budget,
        },
        chat: ChatSettings {
            max_members: settings.chat_max_members.max(2),
            message_rate: Some(starling_services::limits::Bucket::per_sec(
                settings.chat_rate_per_sec,
                settings.chat_rate_burst,
            )),
        },
        presence_ttl: Duration::from_secs(settings.presence_ttl_secs.max(3)),
        limits: settings.write_limits()?,
        push: starling_services::notifications::PushSettings {
            max_subscriptions: settings.push_max_subscriptions,
            concurrency: settings.push_concurrency,
            concurrency_per_user: settings.push_concurrency_per_user,
        },
    })
}

fn api_config(settings: &Settings) -> anyhow::Result<ApiConfig> {
    Ok(ApiConfig {
        cookie_secure: settings.cookie_secure(),
        hsts: settings.https(),
        cors_origins: settings.cors_origins(),
        trust_proxy: settings.trust_proxy,
        trusted_proxies: settings.trusted_proxies()?,
        body_limit: settings.body_limit_bytes,
        public_url: settings.public_url.clone(),
        sse_heartbeat: Duration::from_secs(settings.sse_heartbeat_secs.max(1)),
        request_timeout: Duration::from_secs(settings.request_timeout_secs),
        ops_token: settings.ops_token.clone(),
    })
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
    bus: Arc<dyn EventBus>,
    store: SqlStore,
    sockets: SocketLayer,
    fanout: Arc<dyn Fanout>,
    grace: Duration,
}

impl Server {
    /// Builds everything from `settings` and starts listening.
    pub async fn start(settings: Settings) -> anyhow::Result<Server> {
        let roles = settings.roles()?;
        let addr = settings.bind_addr()?;
        private_dir(&settings.data_dir)?;

        let ids = Arc::new(IdGenerator::new(settings.node_id)?);
        let (store, _) = open_store(&settings).await?;
        tracing::info!(backend = store.dialect().name(), "database ready");
        let backends = Backends::connect(&settings).await?;
        let keys = load_jwt_keys(&settings)?;
        // Chat sockets: on nodes with the api or realtime role; with Redis,
        // the Socket.IO Redis adapter carries rooms across nodes. Made
        // before the services, which announce chat changes through them.
        let (sio_layer, chat_hub) = if roles.api || roles.realtime {
            let (layer, hub) = socket_io(&settings).await?;
            (Some(layer), hub)
        } else {
            (None, SocketLayer::none())
        };
        let fanout = chat_hub.fanout(&settings.public_url);
        let services = Services::new(
            ports(&store, &backends),
            ids,
            keys.clone(),
            service_settings(&settings)?,
            Some(backends.push.clone()),
            fanout.clone(),
        );

        let (shutdown, stop_rx) = watch::channel(false);
        let mut checks = vec![NamedCheck {
            name: "database".into(),
            check: Arc::new(store.clone()) as Arc<dyn Health>,
        }];
        checks.extend(backends.checks);
        let pool_store = store.clone();
        let metrics = Arc::new(Metrics::new(Some(Arc::new(move || {
            pool_store.pool_usage()
        }))));
        let state = AppState::new(AppStateInner {
            services: services.clone(),
            keys,
            config: Arc::new(api_config(&settings)?),
            metrics,
            checks: Arc::new(checks),
            stopping: stop_rx.clone(),
        });
        chat_hub.install(state.clone()).await?;
        let router = router(roles, state.clone(), sio_layer);
        let (addr, http) = listen(&settings, addr, router, stop_rx).await?;

        let mut jobs = Jobs {
            roles,
            settings: &settings,
            services: &services,
            shutdown: &shutdown,
            workers: Vec::new(),
        };
        jobs.sessions(&chat_hub, state);
        jobs.consumers(&backends.bus, backends.mailer).await?;
        jobs.relay(&backends.bus);
        jobs.presence();
        jobs.upkeep();
        let workers = jobs.workers;
        tracing::info!(%addr, roles = %settings.roles, node_id = settings.node_id, "starling is listening");
        Ok(Server {
            addr,
            shutdown,
            http,
            workers,
            bus: backends.bus,
            store,
            sockets: chat_hub,
            fanout,
            grace: Duration::from_secs(settings.shutdown_timeout_secs),
        })
    }

    /// The chat fan-out this node's services announce through.
    pub fn fanout(&self) -> Arc<dyn Fanout> {
        self.fanout.clone()
    }

    /// Stops accepting connections, lets in-flight requests finish (up to the
    /// configured grace period), stops the workers and closes the pool.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        // Upgraded WebSockets are outside the HTTP server's graceful
        // shutdown: close them, so clients reconnect to another node.
        if tokio::time::timeout(self.grace, self.sockets.close())
            .await
            .is_err()
        {
            tracing::warn!("chat sockets did not close within the grace period");
        }
        match tokio::time::timeout(self.grace, self.http).await {
            Ok(joined) => joined??,
            Err(_) => tracing::warn!("in-flight requests did not finish within the grace period"),
        }
        for w in self.workers {
            let _ = w.await;
        }
        self.bus.shutdown().await;
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What a node serves: the whole API with the api role, else operations
/// only; with the Socket.IO layer where it has sockets.
fn router(roles: Roles, state: AppState, sio_layer: Option<SioLayer>) -> axum::Router {
    let router = if roles.api {
        starling_api::api_router(state)
    } else {
        starling_api::ops_router(state)
    };
    match sio_layer {
        Some(SioLayer::Local(l)) => router.layer(l),
        Some(SioLayer::Redis(l)) => router.layer(l),
        None => router,
    }
}

/// Binds `addr` and serves `router` there until `stop`; answers with the
/// address bound (the port chosen when `addr` asks for port 0).
async fn listen(
    settings: &Settings,
    addr: SocketAddr,
    router: axum::Router,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let limits = http::HttpLimits {
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
        max_connections: settings.max_connections,
        max_head_bytes: http::MAX_HEAD_BYTES,
    };
    Ok((
        addr,
        tokio::spawn(http::serve(listener, router, limits, stop)),
    ))
}

/// The background work of a node, by role; `workers` collects what runs
/// until shutdown. Each method takes the fields apart first, so the jobs
/// read as plain locals.
struct Jobs<'a> {
    roles: Roles,
    settings: &'a Settings,
    services: &'a Services,
    shutdown: &'a watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
}

impl Jobs<'_> {
    /// Nodes with sockets or streams follow ended sessions.
    fn sessions(&mut self, chat_hub: &SocketLayer, police_state: AppState) {
        let Jobs {
            roles,
            services,
            shutdown,
            ref mut workers,
            ..
        } = *self;
        if roles.api || roles.realtime {
            // Ended sessions from every node; and the sockets of ended or
            // expired sessions close.
            workers.push(tokio::spawn(
                services.sessions.clone().listen(shutdown.subscribe()),
            ));
            if let Some(w) = chat_hub.police(police_state, shutdown.subscribe()) {
                workers.push(w);
            }
        }
    }

    /// Workers consume the events.
    async fn consumers(
        &self,
        bus: &Arc<dyn EventBus>,
        mailer: Arc<dyn Mailer>,
    ) -> anyhow::Result<()> {
        let Jobs {
            roles,
            settings,
            services,
            ..
        } = *self;
        if roles.worker {
            // Consumers first, so the relay's first events find them.
            bus.consume(
                NotificationWorker::GROUP,
                NotificationWorker::PATTERNS,
                Arc::new(NotificationWorker(services.notifications.clone())),
            )
            .await?;
            bus.consume(
                FanOutWorker::GROUP,
                FanOutWorker::PATTERNS,
                Arc::new(FanOutWorker(services.timelines.clone())),
            )
            .await?;
            bus.consume(
                MediaReaper::GROUP,
                MediaReaper::PATTERNS,
                Arc::new(MediaReaper(services.media.clone())),
            )
            .await?;
            bus.consume(
                WelcomeMailer::GROUP,
                WelcomeMailer::PATTERNS,
                Arc::new(WelcomeMailer::new(
                    services.ports.users.clone(),
                    mailer,
                    settings.site_name.clone(),
                    settings.public_url.clone(),
                )),
            )
            .await?;
        }
        Ok(())
    }

    /// Nodes that write or consume relay the outbox to the bus.
    fn relay(&mut self, bus: &Arc<dyn EventBus>) {
        let Jobs {
            roles,
            settings,
            services,
            shutdown,
            ref mut workers,
        } = *self;
        let in_process = settings.broker_url.is_none();
        if settings.outbox_relay && (roles.worker || (roles.api && !in_process)) {
            // With a broker, every node that writes relays its outbox (a
            // worker also picks up what stopped nodes left behind). In
            // process, only a node with the consumers may: publishing there
            // means handling, and events wait in the outbox until one runs.
            let relay = Relay::new(
                services.ports.outbox.clone(),
                bus.clone(),
                services.outbox.signal(),
                RelaySettings {
                    dead_after: in_process.then_some(settings.event_max_attempts),
                    ..RelaySettings::default()
                },
            );
            let stop = shutdown.subscribe();
            workers.push(tokio::spawn(relay.run(stop)));
        }
    }

    /// Nodes with sockets or streams keep their users' presence fresh: one
    /// job renews this node's marks well within their TTL.
    fn presence(&mut self) {
        if self.roles.api || self.roles.realtime {
            let presence = self.services.presence.clone();
            self.workers.push(spawn_every(
                presence.refresh_every(),
                self.shutdown.subscribe(),
                move || {
                    let presence = presence.clone();
                    async move { presence.refresh().await }
                },
            ));
        }
    }

    /// Workers clean up: expired refresh tokens, unused media.
    fn upkeep(&mut self) {
        let Jobs {
            roles,
            settings,
            services,
            shutdown,
            ref mut workers,
        } = *self;
        if roles.worker {
            workers.push(spawn_token_purge(services.clone(), shutdown.subscribe()));
            workers.push(spawn_media_cleanup(
                services.clone(),
                Duration::from_secs(settings.media_cleanup_interval_secs),
                shutdown.subscribe(),
            ));
        }
    }
}

/// Runs `job` every `period` until shutdown.
fn spawn_every<F, Fut>(period: Duration, mut stop: watch::Receiver<bool>, job: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => job().await,
                _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            }
        }
    })
}

type RedisSio = socketioxide_redis::RedisAdapter<socketioxide::adapter::Emitter>;

enum SioLayer {
    Local(socketioxide::layer::SocketIoLayer),
    Redis(socketioxide::layer::SocketIoLayer<RedisSio>),
}

/// The Socket.IO server of this node, before its namespace is installed.
enum SocketLayer {
    None,
    Local(socketioxide::SocketIo),
    Redis(socketioxide::SocketIo<RedisSio>),
}

impl SocketLayer {
    fn none() -> Self {
        SocketLayer::None
    }

    /// The fan-out over these sockets; in memory (to nobody) without them.
    fn fanout(&self, public_url: &str) -> Arc<dyn Fanout> {
        use starling_api::fanout::SocketFanout;
        let url = public_url.to_owned();
        match self {
            SocketLayer::None => Arc::new(starling_adapters::MemoryFanout::new()),
            SocketLayer::Local(io) => Arc::new(SocketFanout::new(io.clone(), url)),
            SocketLayer::Redis(io) => Arc::new(SocketFanout::new(io.clone(), url)),
        }
    }

    async fn close(&self) {
        match self {
            SocketLayer::None => {}
            SocketLayer::Local(io) => io.close().await,
            SocketLayer::Redis(io) => io.close().await,
        }
    }

    /// Closes the sockets of ended and expired sessions.
    fn police(&self, state: AppState, stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
        use starling_api::realtime::police_sessions;
        match self {
            SocketLayer::None => None,
            SocketLayer::Local(io) => Some(tokio::spawn(police_sessions(io.clone(), state, stop))),
            SocketLayer::Redis(io) => Some(tokio::spawn(police_sessions(io.clone(), state, stop))),
        }
    }

    async fn install(&self, state: AppState) -> anyhow::Result<()> {
        match self {
            SocketLayer::None => {}
            SocketLayer::Local(io) => starling_api::realtime::install(io, state),
            SocketLayer::Redis(io) => starling_api::realtime::install(io, state)
                .await
                .map_err(|e| anyhow::anyhow!("cannot start the Socket.IO Redis adapter: {e}"))?,
        }
        Ok(())
    }
}

/// The largest Socket.IO message, over polling or WebSocket: the API's body limit.
const SOCKET_MESSAGE_LIMIT: usize = 64 * 1024;

async fn socket_io(settings: &Settings) -> anyhow::Result<(SioLayer, SocketLayer)> {
    let builder = socketioxide::SocketIo::builder()
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload(SOCKET_MESSAGE_LIMIT as u64)
        // The same cap on WebSocket messages and frames: without it one
        // unauthenticated socket may hold tens of MiB of an unfinished one.
        .ws_max_message_size(SOCKET_MESSAGE_LIMIT)
        .ws_max_frame_size(SOCKET_MESSAGE_LIMIT)
        // Allocated per connection up front; chat frames are small and a
        // larger one just takes more reads (memory per idle connection).
        .ws_read_buffer_size(1024);
    match &settings.redis_url {
        Some(url) => {
            // The adapter's driver speaks RESP3 (push messages for pub/sub).
            let sep = if url.contains('?') { '&' } else { '?' };
            let client = redis::Client::open(format!("{url}{sep}protocol=resp3"))
                .context("bad redis_url for the Socket.IO adapter")?;
            let config = socketioxide_redis::RedisAdapterConfig::new()
                .with_prefix(format!("{}socket.io", settings.redis_prefix));
            let adapter =
                socketioxide_redis::RedisAdapterCtr::new_with_redis_config(&client, config)
                    .await
                    .context("cannot connect the Socket.IO Redis adapter")?;
            let (layer, io) = builder.with_adapter::<RedisSio>(adapter).build_layer();
            tracing::info!("chat rooms: socket.io redis adapter");
            Ok((SioLayer::Redis(layer), SocketLayer::Redis(io)))
        }
        None => {
            let (layer, io) = builder.build_layer();
            Ok((SioLayer::Local(layer), SocketLayer::Local(io)))
        }
    }
}

/// Worker job: delete long-expired refresh tokens every hour.
fn spawn_token_purge(services: Services, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match services.accounts.purge_expired_tokens().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "purged expired refresh tokens"),
                        Err(e) => tracing::warn!(error = %e, "purging refresh tokens failed"),
                    }
                }
                _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            }
        }
    })
}

/// Worker job: delete uploads never attached within `media_unattached_ttl_secs`
/// and the media of deleted posts, every `media_cleanup_interval_secs`.
fn spawn_media_cleanup(
    services: Services,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match services.media.cleanup().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "deleted unused media"),
                        Err(e) => tracing::warn!(error = %e, "media cleanup failed"),
                    }
                }
                _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            }
        }
    })
}

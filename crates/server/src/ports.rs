//! One builder per port: each reads the settings and returns its adapter,
//! with the readiness check of its backend; then the services' ports and
//! settings, and the API's configuration.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use starling_adapters::{
    FileMailer, FsBlobStore, MemoryBus, MemoryCache, MemoryPubSub, RabbitBus, RabbitOptions,
    RedisCache, RedisPubSub, S3BlobStore, S3Options, SmtpMailer, VapidKey, WebPushSender,
};
use starling_api::{ApiConfig, NamedCheck};
use starling_core::Result as CoreResult;
use starling_core::messaging::{EventBus, Mailer, PubSub, PushSender};
use starling_core::ports::{BlobStore, Cache, Health};
use starling_services::chat::ChatSettings;
use starling_services::{AuthSettings, FeedSettings, JwtKeys, MediaSettings, Ports};
use starling_store::{SqlStore, StoreOptions};

use crate::config::Settings;

pub(crate) struct CacheHealth(Arc<dyn Cache>);

#[async_trait]
impl Health for CacheHealth {
    async fn check(&self) -> CoreResult<()> {
        self.0.check().await
    }
}

pub(crate) struct BusHealth(Arc<dyn EventBus>);

#[async_trait]
impl Health for BusHealth {
    async fn check(&self) -> CoreResult<()> {
        self.0.check().await
    }
}

pub(crate) struct PubSubHealth(Arc<dyn PubSub>);

#[async_trait]
impl Health for PubSubHealth {
    async fn check(&self) -> CoreResult<()> {
        self.0.check().await
    }
}

pub(crate) struct BlobHealth(Arc<dyn BlobStore>);

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
pub(crate) struct Port<T: ?Sized> {
    pub(crate) adapter: Arc<T>,
    pub(crate) checks: Vec<NamedCheck>,
}

impl<T: ?Sized> Port<T> {
    pub(crate) fn in_process(adapter: Arc<T>) -> Self {
        Port {
            adapter,
            checks: Vec::new(),
        }
    }

    pub(crate) fn checked(adapter: Arc<T>, name: &str, check: impl Health + 'static) -> Self {
        Self::checked_as(adapter, &[name], check)
    }

    /// One check shown under several names on `/ready`.
    pub(crate) fn checked_as(
        adapter: Arc<T>,
        names: &[&str],
        check: impl Health + 'static,
    ) -> Self {
        let check: Arc<dyn Health> = Arc::new(check);
        Port {
            adapter,
            checks: names
                .iter()
                .map(|name| NamedCheck {
                    name: (*name).into(),
                    check: check.clone(),
                })
                .collect(),
        }
    }

    /// The adapter, its check (if any) added to `checks`.
    pub(crate) fn register(self, checks: &mut Vec<NamedCheck>) -> Arc<T> {
        checks.extend(self.checks);
        self.adapter
    }
}

/// The cache: Redis with `redis_url`, else in-process memory.
pub(crate) async fn build_cache(settings: &Settings) -> anyhow::Result<Port<dyn Cache>> {
    Ok(match &settings.redis_url {
        Some(url) => {
            let cache: Arc<dyn Cache> =
                Arc::new(RedisCache::connect(url, &settings.redis_prefix).await?);
            tracing::info!(url = %crate::config::redact_url(url), "cache: redis");
            Port::checked(cache.clone(), "redis", CacheHealth(cache))
        }
        None => {
            tracing::info!("cache: in-process memory");
            Port::in_process(Arc::new(MemoryCache::default()))
        }
    })
}

/// Media: an S3 bucket with `media_url = "s3://…"`, else files in the data dir.
pub(crate) async fn build_blobs(settings: &Settings) -> anyhow::Result<Port<dyn BlobStore>> {
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
pub(crate) async fn build_bus(settings: &Settings) -> anyhow::Result<Port<dyn EventBus>> {
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
            tracing::info!(url = %crate::config::redact_url(url), exchange = %settings.broker_exchange, "event bus: rabbitmq");
            // `/ready` has named it both ways; both are the bus's own
            // connection state.
            Port::checked_as(bus.clone(), &["broker", "bus"], BusHealth(bus))
        }
        None => {
            tracing::info!("event bus: in-process, fed from the outbox");
            Port::in_process(Arc::new(MemoryBus::new()))
        }
    })
}

/// The live channel between nodes: Redis pub/sub with `redis_url`, else in
/// process (one node).
pub(crate) async fn build_pubsub(settings: &Settings) -> anyhow::Result<Port<dyn PubSub>> {
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
pub(crate) fn build_push(settings: &Settings) -> anyhow::Result<Arc<dyn PushSender>> {
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
pub(crate) fn build_mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match &settings.smtp_url {
        Some(url) => {
            tracing::info!(url = %crate::config::redact_url(url), "mail: smtp");
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
pub(crate) fn load_jwt_keys(settings: &Settings) -> anyhow::Result<Arc<JwtKeys>> {
    let key_path = settings
        .jwt_private_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("jwt-ed25519.pem"));
    Ok(Arc::new(JwtKeys::load_or_generate(&key_path)?))
}

/// Every backend but the database, connected as configured, with the
/// readiness checks of those that have one.
pub(crate) struct Backends {
    pub(crate) cache: Arc<dyn Cache>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) pubsub: Arc<dyn PubSub>,
    pub(crate) push: Arc<dyn PushSender>,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) checks: Vec<NamedCheck>,
}

impl Backends {
    pub(crate) async fn connect(settings: &Settings) -> anyhow::Result<Backends> {
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
pub(crate) fn ports(store: &SqlStore, backends: &Backends) -> Ports {
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
        blocks: store.clone(),
        chat: store.clone(),
        deletion: store.clone(),
        export: store.clone(),
        moderation: store.clone(),
        outbox: store,
        cache: backends.cache.clone(),
        blobs: backends.blobs.clone(),
        pubsub: backends.pubsub.clone(),
        mailer: backends.mailer.clone(),
    }
}

pub(crate) fn service_settings(settings: &Settings) -> anyhow::Result<starling_services::Settings> {
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
            require_email_verification: settings.require_email_verification,
            site_name: settings.site_name.clone(),
            public_url: settings.public_url.clone(),
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
        registration_mode: settings.registration_mode()?,
        limits: settings.write_limits()?,
        push: starling_services::notifications::PushSettings {
            max_subscriptions: settings.push_max_subscriptions,
            concurrency: settings.push_concurrency,
            concurrency_per_user: settings.push_concurrency_per_user,
        },
    })
}

pub(crate) fn api_config(settings: &Settings) -> anyhow::Result<ApiConfig> {
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

//! Settings: defaults, then `starling.toml` (or `--config FILE`), then
//! `STARLING_*` environment variables, then command-line flags. Invalid
//! settings stop start-up with one line naming the setting.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use starling_services::images::JOB_WORST_CASE as IMAGE_JOB_WORST_CASE;
use starling_services::{LimitSettings, Rate};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// Where the embedded database, media files and signing key live.
    pub data_dir: PathBuf,
    /// Comma-separated subset of api, realtime, worker.
    pub roles: String,
    /// 0-1023; distinct per node so ids never collide.
    pub node_id: u16,
    /// `sqlite:...` or `postgres://...`; default: SQLite file in the data dir.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    /// `redis://...`: shared cache (otherwise in-process memory).
    pub redis_url: Option<String>,
    /// Prefix of every Redis key this deployment writes.
    pub redis_prefix: String,
    /// `amqp://...`: the event broker (otherwise in-process).
    pub broker_url: Option<String>,
    /// The broker's topic exchange; consumer queues are named `{exchange}.{group}`.
    pub broker_exchange: String,
    /// Deliveries of a failing event before it is dead-lettered.
    pub event_max_attempts: u32,
    /// Whether this node relays its outbox to the broker (api and worker
    /// nodes do by default; turn off to leave relaying to the workers).
    pub outbox_relay: bool,
    /// `smtp://host:port` (or `smtps://user:pass@host`): outgoing mail;
    /// otherwise `.eml` files under `{data_dir}/mail`.
    pub smtp_url: Option<String>,
    /// The From address of outgoing mail.
    pub mail_from: String,
    /// The name mail and push messages use for this site.
    pub site_name: String,
    /// New accounts must follow a mailed link before they can sign in
    /// (registration answers 202 `verify_email` without a session).
    pub require_email_verification: bool,
    /// Web Push VAPID private key (base64url P-256 scalar); default: generated
    /// in the data dir (`vapid.key`). Every node must share it.
    pub vapid_private_key: Option<String>,
    /// The VAPID contact, `mailto:` or `https:`.
    pub vapid_subject: String,
    /// Comma-separated `host` or `host:port` that push endpoints may use
    /// whatever they resolve to, over http too (a private push service);
    /// every other endpoint must be https on a public address.
    pub push_allowed_hosts: String,
    /// Push subscriptions kept per user; another replaces the oldest.
    pub push_max_subscriptions: usize,
    /// Push requests in flight at once on a node.
    pub push_concurrency: usize,
    /// Push requests in flight at once for one user.
    pub push_concurrency_per_user: usize,
    /// `s3://bucket[/prefix]`: media in S3 (otherwise files in the data dir).
    pub media_url: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// PKCS#8 PEM Ed25519 key; default: generated in the data dir.
    pub jwt_private_key_file: Option<PathBuf>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    pub login_window_secs: u64,
    pub login_max_per_ip: u64,
    /// Attempts per account from one address before each further one waits.
    pub login_max_per_account: u64,
    /// Attempts per account from all its unknown addresses before each
    /// further one waits.
    pub login_max_per_account_global: u64,
    /// The first login wait; it doubles with each further attempt.
    pub login_delay_base_secs: u64,
    /// The longest login wait.
    pub login_delay_max_secs: u64,
    pub avatar_max_bytes: usize,
    /// Largest post media upload, bytes.
    pub media_max_bytes: usize,
    /// Uploads never attached to a post are deleted after this many seconds.
    pub media_unattached_ttl_secs: u64,
    /// How often the worker deletes unattached and released media.
    pub media_cleanup_interval_secs: u64,
    /// Bytes image decoding (uploads, avatars) may use at once, over idle:
    /// one decode runs per 96 MiB of it; others wait briefly, then get 503.
    pub image_memory_budget: u64,
    /// Seconds a user record may be served from the cache; 0 disables it.
    pub user_cache_ttl_secs: u64,
    /// Seconds a post may be served from the cache; 0 disables it.
    pub post_cache_ttl_secs: u64,
    /// Newest posts kept in each cached home timeline.
    pub timeline_cap: usize,
    /// Seconds an unread cached timeline lives before it is rebuilt.
    pub timeline_ttl_secs: u64,
    /// Authors with at least this many followers are merged into feeds at read
    /// time instead of pushed to every follower.
    pub celebrity_threshold: i64,
    pub body_limit_bytes: usize,
    /// Comma-separated origins allowed by CORS; `*` for any; empty for none.
    pub cors_origins: String,
    /// Mark session cookies `Secure` (with `__Host-` names); default: when
    /// `public_url` is https.
    pub cookie_secure: Option<bool>,
    /// Trust `X-Forwarded-For` for the client address.
    pub trust_proxy: bool,
    /// With `trust_proxy`: comma-separated CIDRs of the proxies in front of
    /// this node. The client is the rightmost `X-Forwarded-For` address not
    /// among them; the header is ignored unless the peer is one of them.
    pub trusted_proxies: String,
    /// Prefix for media URLs (e.g. a CDN); empty = same origin.
    pub public_url: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Log filter, e.g. `info` or `starling=debug,info`.
    pub log: String,
    /// Seconds between heartbeats on an idle notification stream.
    pub sse_heartbeat_secs: u64,
    /// Most members of a chat group.
    pub chat_max_members: usize,
    /// Chat messages a user may send per second, sustained (across nodes).
    pub chat_rate_per_sec: f64,
    /// Chat messages a user may send in a burst.
    pub chat_rate_burst: f64,
    /// Seconds a node's claim that a user is online lasts unless renewed
    /// (users of a crashed node go offline within this).
    pub presence_ttl_secs: u64,
    /// Who may register: `open` (anyone), `approval` (a moderator approves
    /// each new account before it can sign in), `invite` (with an invite code
    /// from a moderator) or `closed` (accounts come from `starling admin
    /// create-user`).
    pub registration_mode: String,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout_secs: u64,
    /// Seconds a client has to send a request's headers.
    pub header_read_timeout_secs: u64,
    /// Seconds a request may take, reading its body included (408 after);
    /// streams (notifications, sockets) are not cut once they are answered.
    pub request_timeout_secs: u64,
    /// Open connections per node (WebSockets included); more get a 503.
    pub max_connections: usize,
    /// Bearer token for `/metrics` and `/ready`'s details; without it they
    /// are shown only to requests from this host.
    pub ops_token: Option<String>,
    /// Whether the `limit_*` write limits apply (off: none of them).
    pub write_limits: bool,
    /// Registrations per client address, e.g. `10/h`; `off` for none.
    pub limit_register: String,
    /// Posts per user, e.g. `30/min`.
    pub limit_posts: String,
    /// Comments per user.
    pub limit_comments: String,
    /// Loves and unloves per user.
    pub limit_loves: String,
    /// Follows and unfollows per user.
    pub limit_follows: String,
    /// Chat groups created per user.
    pub limit_chat_groups: String,
    /// Socket events per user (all but `send-message`, which has the chat rate).
    pub limit_socket_events: String,
    /// Media and avatar uploads per user.
    pub limit_uploads: String,
    /// Reports per user.
    pub limit_reports: String,
    /// Blocks, unblocks, mutes and unmutes per user.
    pub limit_blocks: String,
    /// Invites created or revoked per user.
    pub limit_invites: String,
    /// Searches (posts, users, messages) per user, or per address when signed out.
    pub limit_searches: String,
    /// Post and comment edits and deletions per user.
    pub limit_edits: String,
    /// Password-reset and verification mails asked for, per client address
    /// and per email address.
    pub limit_password_resets: String,
    /// At most this many of any one limited action per user (or address)
    /// in a second, beside its own rate: a script flood stops at once.
    pub limit_burst: String,
    /// Each limit above also holds per client address, this many times over
    /// (people behind one NAT share an address); 0 turns per-address limits
    /// off. `limit_register` and `limit_password_resets` are per address
    /// already and are not multiplied.
    pub limit_address_factor: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            roles: "api,realtime,worker".into(),
            node_id: 0,
            database_url: None,
            database_max_connections: 16,
            redis_url: None,
            redis_prefix: "starling:".into(),
            broker_url: None,
            broker_exchange: "starling.events".into(),
            event_max_attempts: 5,
            outbox_relay: true,
            smtp_url: None,
            mail_from: "Starling <noreply@localhost>".into(),
            site_name: "Starling".into(),
            require_email_verification: false,
            vapid_private_key: None,
            vapid_subject: "mailto:admin@localhost".into(),
            push_allowed_hosts: String::new(),
            push_max_subscriptions: 10,
            push_concurrency: 32,
            push_concurrency_per_user: 2,
            media_url: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            jwt_private_key_file: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            login_window_secs: 15 * 60,
            login_max_per_ip: 100,
            login_max_per_account: 10,
            login_max_per_account_global: 50,
            login_delay_base_secs: 1,
            login_delay_max_secs: 15 * 60,
            avatar_max_bytes: 5 * 1024 * 1024,
            media_max_bytes: 10 * 1024 * 1024,
            media_unattached_ttl_secs: 24 * 3600,
            media_cleanup_interval_secs: 600,
            image_memory_budget: 256 * 1024 * 1024,
            user_cache_ttl_secs: 30,
            post_cache_ttl_secs: 30,
            timeline_cap: 800,
            timeline_ttl_secs: 3600,
            celebrity_threshold: 10_000,
            body_limit_bytes: 64 * 1024,
            cors_origins: String::new(),
            cookie_secure: None,
            trust_proxy: false,
            trusted_proxies: "127.0.0.0/8,::1/128".into(),
            public_url: String::new(),
            log_format: "text".into(),
            log: "info".into(),
            sse_heartbeat_secs: 15,
            chat_max_members: 256,
            chat_rate_per_sec: 10.0,
            chat_rate_burst: 30.0,
            presence_ttl_secs: 60,
            registration_mode: "open".into(),
            shutdown_timeout_secs: 30,
            header_read_timeout_secs: 10,
            request_timeout_secs: 60,
            max_connections: 50_000,
            ops_token: None,
            write_limits: true,
            limit_register: "10/h".into(),
            limit_posts: "30/min".into(),
            limit_comments: "60/min".into(),
            limit_loves: "300/min".into(),
            limit_follows: "100/min".into(),
            limit_chat_groups: "20/h".into(),
            limit_socket_events: "20/s".into(),
            limit_uploads: "60/min".into(),
            limit_reports: "20/min".into(),
            limit_blocks: "60/min".into(),
            limit_invites: "30/h".into(),
            limit_searches: "120/min".into(),
            limit_edits: "60/min".into(),
            limit_password_resets: "5/h".into(),
            limit_burst: "10/s".into(),
            limit_address_factor: 5,
        }
    }
}

/// One bad setting, named as the user would set it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid setting `{}` (STARLING_{}): {}",
            self.setting,
            self.setting.to_ascii_uppercase(),
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

fn bad(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        message: message.into(),
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub roles: Option<String>,
}

/// The setting names, for filtering the environment.
fn known_keys() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Loads settings from `file` (or `./starling.toml` if it exists), the
/// environment and `overrides`, and validates them.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
    load_from(file, overrides, Env::prefixed("STARLING_"))
}

pub fn load_from(
    file: Option<&Path>,
    overrides: &Overrides,
    env: Env,
) -> Result<Settings, ConfigError> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    match file {
        Some(path) => {
            if !path.exists() {
                return Err(bad("config", format!("{} does not exist", path.display())));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        None => {
            if Path::new("starling.toml").exists() {
                fig = fig.merge(Toml::file_exact("starling.toml"));
            }
        }
    }
    let keys = known_keys();
    // Only our own names: STARLING_TEST_* and the like belong to other tools.
    // figment hands the key over in the case it was written (STARLING_BIND -> BIND).
    let env = env.filter(move |k| {
        keys.iter()
            .any(|known| k.as_str().eq_ignore_ascii_case(known))
    });
    fig = fig.merge(env);
    if let Some(v) = &overrides.bind {
        fig = fig.merge(("bind", v));
    }
    if let Some(v) = &overrides.data_dir {
        fig = fig.merge(("data_dir", v));
    }
    if let Some(v) = &overrides.roles {
        fig = fig.merge(("roles", v));
    }
    let settings: Settings = fig.extract().map_err(|e| {
        let setting = e.path.join(".");
        let message = match &e.kind {
            figment::error::Kind::UnknownField(name, _) => {
                return bad(name, "is not a known setting");
            }
            kind => kind.to_string(),
        };
        bad(
            if setting.is_empty() {
                "config"
            } else {
                &setting
            },
            message,
        )
    })?;
    settings.validate()?;
    Ok(settings)
}

/// The S3 location parsed from `media_url`.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub api: bool,
    pub realtime: bool,
    pub worker: bool,
}

impl Settings {
    /// The parsed `registration_mode`.
    pub fn registration_mode(
        &self,
    ) -> Result<starling_core::moderation::RegistrationMode, ConfigError> {
        starling_core::moderation::RegistrationMode::parse(self.registration_mode.trim())
            .ok_or_else(|| {
                bad(
                    "registration_mode",
                    "must be open, approval, invite or closed",
                )
            })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        self.registration_mode()?;
        self.roles()?;
        if self.node_id > starling_core::id::MAX_NODE_ID {
            return Err(bad("node_id", "must be between 0 and 1023"));
        }
        let db = self.database_url();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(bad(
                "database_url",
                "must start with sqlite: or postgres://",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(bad("database_max_connections", "must be at least 1"));
        }
        if let Some(u) = &self.redis_url
            && !(u.starts_with("redis://") || u.starts_with("rediss://"))
        {
            return Err(bad("redis_url", "must start with redis:// or rediss://"));
        }
        if let Some(u) = &self.smtp_url
            && !(u.starts_with("smtp://") || u.starts_with("smtps://"))
        {
            return Err(bad("smtp_url", "must start with smtp:// or smtps://"));
        }
        if self.event_max_attempts == 0 {
            return Err(bad("event_max_attempts", "must be at least 1"));
        }
        if !(self.vapid_subject.starts_with("mailto:") || self.vapid_subject.starts_with("https:"))
        {
            return Err(bad("vapid_subject", "must be a mailto: or https: URL"));
        }
        self.push_allowed_hosts()?;
        for (name, v) in [
            ("push_max_subscriptions", self.push_max_subscriptions),
            ("push_concurrency", self.push_concurrency),
            ("push_concurrency_per_user", self.push_concurrency_per_user),
        ] {
            if v == 0 {
                return Err(bad(name, "must be at least 1"));
            }
        }
        if let Some(u) = &self.broker_url {
            if !(u.starts_with("amqp://") || u.starts_with("amqps://")) {
                return Err(bad("broker_url", "must start with amqp:// or amqps://"));
            }
            url::Url::parse(u).map_err(|e| bad("broker_url", format!("is not a URL: {e}")))?;
        }
        self.s3_location()?;
        self.trusted_proxies()?;
        if let Some(ep) = &self.s3_endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            return Err(bad("s3_endpoint", "must start with http:// or https://"));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(bad("log_format", "must be text or json"));
        }
        for (name, v) in [
            ("access_token_ttl_secs", self.access_token_ttl_secs),
            ("refresh_token_ttl_days", self.refresh_token_ttl_days),
            ("login_window_secs", self.login_window_secs),
            ("login_max_per_ip", self.login_max_per_ip),
            ("login_max_per_account", self.login_max_per_account),
            (
                "login_max_per_account_global",
                self.login_max_per_account_global,
            ),
            ("login_delay_base_secs", self.login_delay_base_secs),
            ("login_delay_max_secs", self.login_delay_max_secs),
            ("media_unattached_ttl_secs", self.media_unattached_ttl_secs),
            (
                "media_cleanup_interval_secs",
                self.media_cleanup_interval_secs,
            ),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("max_connections", self.max_connections as u64),
        ] {
            if v == 0 {
                return Err(bad(name, "must be greater than 0"));
            }
        }
        if self.timeline_cap < 10 {
            return Err(bad("timeline_cap", "must be at least 10"));
        }
        if self.timeline_ttl_secs == 0 {
            return Err(bad("timeline_ttl_secs", "must be greater than 0"));
        }
        if self.celebrity_threshold < 1 {
            return Err(bad("celebrity_threshold", "must be at least 1"));
        }
        if self.avatar_max_bytes < 1024 {
            return Err(bad("avatar_max_bytes", "must be at least 1024"));
        }
        if self.media_max_bytes < 1024 {
            return Err(bad("media_max_bytes", "must be at least 1024"));
        }
        if self.ops_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(bad("ops_token", "must be at least 16 characters"));
        }
        if self.image_memory_budget < IMAGE_JOB_WORST_CASE {
            return Err(bad(
                "image_memory_budget",
                format!("must be at least {IMAGE_JOB_WORST_CASE} (one image decode)"),
            ));
        }
        if self.body_limit_bytes < 1024 {
            return Err(bad("body_limit_bytes", "must be at least 1024"));
        }
        self.write_limits()?;
        Ok(())
    }

    /// The write limits, parsed (every one `None` when `write_limits` is off).
    pub fn write_limits(&self) -> Result<LimitSettings, ConfigError> {
        let rate = |name: &str, v: &str| parse_rate(v).map_err(|m| bad(name, m));
        let parsed = LimitSettings {
            register: rate("limit_register", &self.limit_register)?,
            post: rate("limit_posts", &self.limit_posts)?,
            comment: rate("limit_comments", &self.limit_comments)?,
            love: rate("limit_loves", &self.limit_loves)?,
            follow: rate("limit_follows", &self.limit_follows)?,
            chat_group: rate("limit_chat_groups", &self.limit_chat_groups)?,
            socket_event: rate("limit_socket_events", &self.limit_socket_events)?,
            upload: rate("limit_uploads", &self.limit_uploads)?,
            report: rate("limit_reports", &self.limit_reports)?,
            block: rate("limit_blocks", &self.limit_blocks)?,
            invite: rate("limit_invites", &self.limit_invites)?,
            search: rate("limit_searches", &self.limit_searches)?,
            edit: rate("limit_edits", &self.limit_edits)?,
            password_reset: rate("limit_password_resets", &self.limit_password_resets)?,
            burst: rate("limit_burst", &self.limit_burst)?,
            address_factor: self.limit_address_factor,
        };
        Ok(if self.write_limits {
            parsed
        } else {
            LimitSettings::off()
        })
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind.parse().map_err(|_| {
            bad(
                "bind",
                format!("'{}' is not an address like 127.0.0.1:8080", self.bind),
            )
        })
    }

    pub fn roles(&self) -> Result<Roles, ConfigError> {
        let mut r = Roles {
            api: false,
            realtime: false,
            worker: false,
        };
        for part in self
            .roles
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match part {
                "api" => r.api = true,
                "realtime" => r.realtime = true,
                "worker" => r.worker = true,
                other => {
                    return Err(bad(
                        "roles",
                        format!("unknown role '{other}' (use api, realtime, worker)"),
                    ));
                }
            }
        }
        if !(r.api || r.realtime || r.worker) {
            return Err(bad("roles", "name at least one of api, realtime, worker"));
        }
        Ok(r)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("starling.db").display()
            ),
        }
    }

    pub fn s3_location(&self) -> Result<Option<S3Location>, ConfigError> {
        let Some(u) = &self.media_url else {
            return Ok(None);
        };
        let rest = u.strip_prefix("s3://").ok_or_else(|| {
            bad(
                "media_url",
                "must look like s3://bucket or s3://bucket/prefix",
            )
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("media_url", "names no bucket (s3://bucket)"));
        }
        Ok(Some(S3Location {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        }))
    }

    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        bad(
                            "trusted_proxies",
                            format!("'{s}' is not a CIDR like 10.0.0.0/8 or an address"),
                        )
                    })
            })
            .collect()
    }

    /// Whether the site is served over HTTPS, as `public_url` says.
    pub fn https(&self) -> bool {
        self.public_url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    }

    pub fn cookie_secure(&self) -> bool {
        self.cookie_secure.unwrap_or_else(|| self.https())
    }

    pub fn push_allowed_hosts(
        &self,
    ) -> Result<Vec<starling_adapters::push::AllowedHost>, ConfigError> {
        starling_adapters::push::parse_allowed_hosts(&self.push_allowed_hosts).map_err(|e| {
            let message = match e {
                starling_core::Error::Validation { fields, message } => {
                    fields.into_values().next().unwrap_or(message)
                }
                other => other.to_string(),
            };
            bad("push_allowed_hosts", message)
        })
    }

    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The settings as `starling config` prints them: secrets hidden.
    pub fn redacted(&self) -> Settings {
        let mut s = self.clone();
        s.database_url = Some(redact_url(&self.database_url()));
        s.redis_url = s.redis_url.as_deref().map(redact_url);
        s.broker_url = s.broker_url.as_deref().map(redact_url);
        s.smtp_url = s.smtp_url.as_deref().map(redact_url);
        if s.vapid_private_key.is_some() {
            s.vapid_private_key = Some("***".into());
        }
        if s.s3_secret_access_key.is_some() {
            s.s3_secret_access_key = Some("***".into());
        }
        if s.ops_token.is_some() {
            s.ops_token = Some("***".into());
        }
        s
    }
}

/// `COUNT/WINDOW` (`30/min`, `10/h`, `20/s`, `100/10s`, `5/2h`), or `off`.
pub fn parse_rate(v: &str) -> Result<Option<Rate>, String> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let usage = || format!("'{v}' is not a rate like 30/min, 10/h, 20/s or off");
    let (count, window) = v.split_once('/').ok_or_else(usage)?;
    let count: u64 = count.trim().parse().map_err(|_| usage())?;
    if count == 0 {
        return Err(format!("'{v}' allows nothing; use off for no limit"));
    }
    let window = window.trim();
    let unit_at = window
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(usage)?;
    let (n, unit) = window.split_at(unit_at);
    let n: u64 = if n.is_empty() {
        1
    } else {
        n.parse().map_err(|_| usage())?
    };
    let unit_secs = match unit {
        "s" | "sec" => 1,
        "m" | "min" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return Err(usage()),
    };
    if n == 0 {
        return Err(usage());
    }
    Ok(Some(Rate::per(
        count,
        Duration::from_secs(n.saturating_mul(unit_secs)),
    )))
}

/// Parts of query parameter names that carry secrets (`password`,
/// `sslpassword`, `auth_token`, `client_secret`, `X-Amz-Signature`, ...),
/// compared in lower case.
const SECRET_PARTS: [&str; 6] = ["pass", "pwd", "secret", "token", "credential", "signature"];

/// Whether a query parameter's value is a secret: its name contains one of
/// [`SECRET_PARTS`], or its last word is `auth` or ends in `key` (`api_key`,
/// `access_key`; not `auth_mechanism`).
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let last = name
        .rsplit(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    SECRET_PARTS.iter().any(|s| name.contains(s)) || last == "auth" || last.ends_with("key")
}

/// Replaces a URL's password, and the value of every secret-looking query
/// parameter, with `***`. Text that is not a URL is shown as it is.
pub fn redact_url(u: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(u) else {
        return u.to_owned();
    };
    let mut changed = false;
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
        changed = true;
    }
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    if pairs.iter().any(|(k, _)| is_secret_param(k)) {
        let mut q = parsed.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, if is_secret_param(k) { "***" } else { v });
        }
        drop(q);
        changed = true;
    }
    if changed {
        parsed.to_string()
    } else {
        u.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment namespace nothing sets: unit tests must not depend on
    /// (or mutate) the process environment; the binary tests cover real env vars.
    fn no_env() -> Env {
        Env::prefixed("STARLING_UNIT_TEST_UNSET_")
    }

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let s = load_from(None, &Overrides::default(), no_env()).unwrap();
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert!(s.database_url().starts_with("sqlite://./data/starling.db"));
        let r = s.roles().unwrap();
        assert!(r.api && r.realtime && r.worker);
    }

    #[test]
    fn file_then_flags_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\nnode_id = 7\n").unwrap();
        let s = load_from(Some(&file), &Overrides::default(), no_env()).unwrap();
        assert_eq!((s.bind.as_str(), s.node_id), ("127.0.0.1:9000", 7));
        let o = Overrides {
            bind: Some("0.0.0.0:1".into()),
            ..Default::default()
        };
        let s = load_from(Some(&file), &o, no_env()).unwrap();
        assert_eq!(s.bind, "0.0.0.0:1");
    }

    #[test]
    fn bad_settings_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        for (toml, setting) in [
            ("node_id = 5000", "node_id"),
            ("node_id = \"abc\"", "node_id"),
            ("bind = \"nope\"", "bind"),
            ("roles = \"api,chef\"", "roles"),
            ("database_url = \"mysql://x\"", "database_url"),
            ("media_url = \"ftp://x\"", "media_url"),
            ("image_memory_budget = 1048576", "image_memory_budget"),
            ("broker_url = \"http://x\"", "broker_url"),
            ("log_format = \"xml\"", "log_format"),
            ("trusted_proxies = \"10.0.0.0/33\"", "trusted_proxies"),
            ("push_allowed_hosts = \"http://x\"", "push_allowed_hosts"),
            ("push_max_subscriptions = 0", "push_max_subscriptions"),
            ("push_concurrency_per_user = 0", "push_concurrency_per_user"),
            ("colour = \"blue\"", "colour"),
        ] {
            std::fs::write(&file, toml).unwrap();
            let e = load_from(Some(&file), &Overrides::default(), no_env()).unwrap_err();
            assert_eq!(e.setting, setting, "{toml}: {e}");
            assert!(e.to_string().contains(&format!("`{setting}`")), "{e}");
        }
    }

    #[test]
    fn rates_parse_or_name_the_setting() {
        let r = |v| parse_rate(v).unwrap();
        assert_eq!(r("30/min"), Some(Rate::per(30, Duration::from_secs(60))));
        assert_eq!(r("10/h"), Some(Rate::per(10, Duration::from_secs(3600))));
        assert_eq!(r("100/10s"), Some(Rate::per(100, Duration::from_secs(10))));
        assert_eq!(r(" off "), None);
        for bad in [
            "",
            "30",
            "0/min",
            "30/",
            "30/0s",
            "30/fortnight",
            "x/s",
            "-1/s",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "limit_posts = \"lots\"").unwrap();
        let e = load_from(Some(&file), &Overrides::default(), no_env()).unwrap_err();
        assert_eq!(e.setting, "limit_posts");
        let s = Settings {
            write_limits: false,
            ..Settings::default()
        };
        assert_eq!(s.write_limits().unwrap(), LimitSettings::off());
        assert_eq!(
            Settings::default().write_limits().unwrap(),
            LimitSettings::default(),
            "the settings' defaults are the services' defaults"
        );
    }

    #[test]
    fn redaction_hides_secrets() {
        let s = Settings {
            database_url: Some("postgres://u:hunter2@db/starling".into()),
            redis_url: Some("redis://:hunter2@r:6379".into()),
            s3_secret_access_key: Some("hunter2".into()),
            ..Settings::default()
        };
        let shown = serde_json::to_string(&s.redacted()).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn redaction_hides_secret_query_parameters() {
        let s = Settings {
            database_url: Some(
                "postgres://db/starling?user=app&password=hunter2&sslmode=require&sslpassword=hunter3"
                    .into(),
            ),
            redis_url: Some("redis://r:6379/?auth_token=hunter4".into()),
            broker_url: Some(
                "amqp://mq/vhost?secret_key=hunter5&heartbeat=10&auth_mechanism=plain&auth=hunter6"
                    .into(),
            ),
            ..Settings::default()
        };
        let r = s.redacted();
        let shown = serde_json::to_string(&r).unwrap();
        for secret in ["hunter2", "hunter3", "hunter4", "hunter5", "hunter6"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // What is not secret stays readable.
        let db = r.database_url.unwrap();
        assert!(
            db.contains("user=app") && db.contains("sslmode=require"),
            "{db}"
        );
        assert!(
            db.contains("password=***") || db.contains("password=%2A%2A%2A"),
            "{db}"
        );
        let broker = r.broker_url.unwrap();
        assert!(
            broker.contains("heartbeat=10") && broker.contains("auth_mechanism=plain"),
            "{broker}"
        );
        assert_eq!(
            redact_url("sqlite://./data/starling.db?mode=rwc"),
            "sqlite://./data/starling.db?mode=rwc"
        );
    }

    #[test]
    fn s3_locations() {
        let s = Settings {
            media_url: Some("s3://media/starling/".into()),
            ..Settings::default()
        };
        assert_eq!(
            s.s3_location().unwrap(),
            Some(S3Location {
                bucket: "media".into(),
                prefix: "starling".into()
            })
        );
    }
}

use std::sync::Arc;

use starling_core::ports::Health;
use starling_services::{JwtKeys, Services};

use crate::metrics::Metrics;

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Mark cookies `Secure` (serve over HTTPS), with `__Host-`/`__Secure-` names.
    pub cookie_secure: bool,
    /// Send `Strict-Transport-Security` (the site is served over HTTPS).
    pub hsts: bool,
    /// Origins allowed by CORS; empty = same-origin only; `*` = any (no credentials).
    pub cors_origins: Vec<String>,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy).
    pub trust_proxy: bool,
    /// The proxies whose `X-Forwarded-For` entries are believed: the client is
    /// the rightmost address not among them.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Maximum JSON request body, bytes.
    pub body_limit: usize,
    /// Prefix of media URLs, e.g. `https://cdn.example.org`; empty = same origin.
    pub public_url: String,
    /// How often an idle notification stream sends a heartbeat.
    pub sse_heartbeat: std::time::Duration,
    /// How long a request may take until it is answered (408 after).
    pub request_timeout: std::time::Duration,
    /// The Bearer token that shows metrics and readiness details; without
    /// one, they are shown to this host only.
    pub ops_token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            cookie_secure: false,
            hsts: false,
            cors_origins: Vec::new(),
            trust_proxy: false,
            trusted_proxies: loopback_nets(),
            body_limit: 64 * 1024,
            public_url: String::new(),
            sse_heartbeat: std::time::Duration::from_secs(15),
            request_timeout: std::time::Duration::from_secs(60),
            ops_token: None,
        }
    }
}

impl AppState {
    /// The largest request body a path accepts: uploads get their file limit
    /// plus room for the multipart framing, everything else the JSON limit.
    pub fn body_limit_for(&self, path: &str) -> usize {
        match path {
            AVATAR_PATH => self.services.users.avatar_max_bytes() + MULTIPART_OVERHEAD,
            MEDIA_PATH => self.services.media.max_bytes() + MULTIPART_OVERHEAD,
            _ => self.config.body_limit,
        }
    }
}

pub const AVATAR_PATH: &str = "/api/profile/avatar";
pub const MEDIA_PATH: &str = "/api/media";
/// Allowance for multipart boundaries and part headers around an upload.
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// A backend that `/ready` checks, by name.
#[derive(Clone)]
pub struct NamedCheck {
    pub name: String,
    pub check: Arc<dyn Health>,
}

/// Everything a handler can reach. One pointer to clone: axum clones the
/// state for every extractor of every request.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateInner {
    pub services: Services,
    pub keys: Arc<JwtKeys>,
    pub config: Arc<ApiConfig>,
    pub metrics: Arc<Metrics>,
    pub checks: Arc<Vec<NamedCheck>>,
    /// Turns true when the server begins shutting down: long-lived streams end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// The loopback networks: the default `trusted_proxies`.
pub fn loopback_nets() -> Vec<ipnet::IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

use std::sync::Arc;

use starling_core::ports::Health;
use starling_services::{JwtKeys, Services};

use crate::metrics::Metrics;

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Mark cookies `Secure` (serve over HTTPS).
    pub cookie_secure: bool,
    /// Origins allowed by CORS; empty = same-origin only; `*` = any (no credentials).
    pub cors_origins: Vec<String>,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy).
    pub trust_proxy: bool,
    /// Maximum JSON request body, bytes.
    pub body_limit: usize,
    /// Prefix of media URLs, e.g. `https://cdn.example.org`; empty = same origin.
    pub public_url: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            cookie_secure: false,
            cors_origins: Vec::new(),
            trust_proxy: false,
            body_limit: 64 * 1024,
            public_url: String::new(),
        }
    }
}

/// A backend that `/ready` checks, by name.
#[derive(Clone)]
pub struct NamedCheck {
    pub name: String,
    pub check: Arc<dyn Health>,
}

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub keys: Arc<JwtKeys>,
    pub config: Arc<ApiConfig>,
    pub metrics: Arc<Metrics>,
    pub checks: Arc<Vec<NamedCheck>>,
}

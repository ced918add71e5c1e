//! Rate limits counted in the cache port, so that with Redis every node
//! shares the count and a limit holds across the cluster.
//!
//! Two mechanisms:
//! - [`RateLimits`]: a fixed-window counter per (action, key) for writes
//!   and searches, counted per user ([`RateLimits::check`], in the
//!   services) and per client address ([`RateLimits::check_address`], at the
//!   HTTP edge, `limit_address_factor` times the per-user rate), each with a
//!   one-second burst cap beside it so that a script is stopped at once.
//! - [`Backoff`]: progressive delays for guessing (logins): a few attempts
//!   pass at once, then one attempt per delay, the delay doubling each time.
//!
//! Keys are `{scope}:{SHA-256 hex of the key material}`: whatever a client
//! sends (a 60 KB login name, a forged `X-Forwarded-For`), a key stays small.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use starling_core::ports::Cache;
use starling_core::{Error, Result};

/// At most `limit` actions per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u64,
    pub window: Duration,
}

impl Rate {
    pub const fn per(limit: u64, window: Duration) -> Rate {
        Rate { limit, window }
    }
}

/// A token bucket: up to `burst` at once, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub every: Duration,
    pub burst: u32,
}

impl Bucket {
    /// `per_sec` sustained, with bursts of `burst`.
    pub fn per_sec(per_sec: f64, burst: f64) -> Bucket {
        Bucket {
            every: Duration::from_secs_f64(1.0 / per_sec.max(0.001)),
            burst: burst.clamp(1.0, f64::from(u32::MAX)) as u32,
        }
    }
}

/// The writes that are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Per client address.
    Register,
    Post,
    Comment,
    /// Loves and unloves, of posts and comments.
    Love,
    /// Follows and unfollows.
    Follow,
    ChatGroup,
    /// Every socket event but `send-message` (which has chat's message rate).
    SocketEvent,
    /// Media and avatar uploads.
    Upload,
    /// Reports of users and content.
    Report,
    /// Blocks, unblocks, mutes and unmutes.
    Block,
    /// Invites created and revoked.
    Invite,
    /// Searches of posts, users and messages.
    Search,
    /// Post and comment edits and deletions.
    Edit,
    /// Password-reset and verification mails asked for, per client address and
    /// per email address.
    PasswordReset,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::Post => "post",
            Action::Comment => "comment",
            Action::Love => "love",
            Action::Follow => "follow",
            Action::ChatGroup => "chat-group",
            Action::SocketEvent => "socket-event",
            Action::Upload => "upload",
            Action::Report => "report",
            Action::Block => "block",
            Action::Invite => "invite",
            Action::Search => "search",
            Action::Edit => "edit",
            Action::PasswordReset => "password-reset",
        }
    }

    /// Whether the action's rate is already per client address (so the edge
    /// does not count it again, multiplied).
    pub fn per_address(self) -> bool {
        matches!(self, Action::Register | Action::PasswordReset)
    }
}

/// Each action's rate; `None` is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    pub register: Option<Rate>,
    pub post: Option<Rate>,
    pub comment: Option<Rate>,
    pub love: Option<Rate>,
    pub follow: Option<Rate>,
    pub chat_group: Option<Rate>,
    pub socket_event: Option<Rate>,
    pub upload: Option<Rate>,
    pub report: Option<Rate>,
    pub block: Option<Rate>,
    pub invite: Option<Rate>,
    pub search: Option<Rate>,
    pub edit: Option<Rate>,
    pub password_reset: Option<Rate>,
    /// At most this many of one action per key within any one second (for
    /// actions whose own window is longer): a flood stops at once rather
    /// than when the minute's allowance is spent.
    pub burst: Option<Rate>,
    /// A client address may do this many times what one user may (several
    /// people behind one NAT); 0 turns the per-address limits off.
    pub address_factor: u64,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            register: Some(Rate::per(10, HOUR)),
            post: Some(Rate::per(30, MINUTE)),
            comment: Some(Rate::per(60, MINUTE)),
            love: Some(Rate::per(300, MINUTE)),
            follow: Some(Rate::per(100, MINUTE)),
            chat_group: Some(Rate::per(20, HOUR)),
            socket_event: Some(Rate::per(20, Duration::from_secs(1))),
            upload: Some(Rate::per(60, MINUTE)),
            report: Some(Rate::per(20, MINUTE)),
            block: Some(Rate::per(60, MINUTE)),
            invite: Some(Rate::per(30, HOUR)),
            search: Some(Rate::per(120, MINUTE)),
            edit: Some(Rate::per(60, MINUTE)),
            password_reset: Some(Rate::per(5, HOUR)),
            burst: Some(Rate::per(10, Duration::from_secs(1))),
            address_factor: 5,
        }
    }
}

impl LimitSettings {
    /// Nothing limited.
    pub fn off() -> Self {
        LimitSettings {
            register: None,
            post: None,
            comment: None,
            love: None,
            follow: None,
            chat_group: None,
            socket_event: None,
            upload: None,
            report: None,
            block: None,
            invite: None,
            search: None,
            edit: None,
            password_reset: None,
            burst: None,
            address_factor: 0,
        }
    }

    pub fn rate(&self, action: Action) -> Option<Rate> {
        match action {
            Action::Register => self.register,
            Action::Post => self.post,
            Action::Comment => self.comment,
            Action::Love => self.love,
            Action::Follow => self.follow,
            Action::ChatGroup => self.chat_group,
            Action::SocketEvent => self.socket_event,
            Action::Upload => self.upload,
            Action::Report => self.report,
            Action::Block => self.block,
            Action::Invite => self.invite,
            Action::Search => self.search,
            Action::Edit => self.edit,
            Action::PasswordReset => self.password_reset,
        }
    }
}

/// `{scope}:{SHA-256 hex of material}`.
pub fn hashed_key(scope: &str, material: &str) -> String {
    let digest = Sha256::digest(material.as_bytes());
    let mut key = String::with_capacity(scope.len() + 1 + 64);
    key.push_str(scope);
    key.push(':');
    for b in digest {
        let _ = write!(key, "{b:02x}");
    }
    key
}

/// The write limits: one counter per (action, key) in the cache.
pub struct RateLimits {
    cache: Arc<dyn Cache>,
    settings: LimitSettings,
}

impl RateLimits {
    pub fn new(cache: Arc<dyn Cache>, settings: LimitSettings) -> Self {
        RateLimits { cache, settings }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Counts one `action` by `key` (a user id, or a client address);
    /// `RateLimited` once over the limit, until the window ends. A cache
    /// that fails lets the write through (logged): a limiter must not turn a
    /// cache outage into a write outage.
    pub async fn check(&self, action: Action, key: &str) -> Result<()> {
        match self.settings.rate(action) {
            Some(rate) => self.check_with_burst(action.name(), rate, 1, key).await,
            None => Ok(()),
        }
    }

    /// Counts one `action` from a client address: `address_factor` times the
    /// per-user rate (the action's own rate for actions that are per address
    /// already), counted apart from the per-user counts.
    pub async fn check_address(&self, action: Action, address: &str) -> Result<()> {
        let Some(rate) = self.settings.rate(action) else {
            return Ok(());
        };
        let factor = if action.per_address() {
            1
        } else {
            self.settings.address_factor
        };
        if factor == 0 {
            return Ok(());
        }
        let rate = Rate::per(rate.limit.saturating_mul(factor), rate.window);
        let scope = format!("{}:addr", action.name());
        self.check_with_burst(&scope, rate, factor, address).await
    }

    /// The action's own rate, and the burst cap beside it when its window is
    /// longer than the cap's (the burst is checked first, so a flood does
    /// not spend the longer window's allowance). Both are `factor` times the
    /// setting's for an address.
    async fn check_with_burst(
        &self,
        scope: &str,
        rate: Rate,
        factor: u64,
        key: &str,
    ) -> Result<()> {
        if let Some(burst) = self.settings.burst
            && burst.window < rate.window
            && burst.limit.saturating_mul(factor) < rate.limit
        {
            let burst = Rate::per(burst.limit.saturating_mul(factor), burst.window);
            self.check_rate(&format!("{scope}:burst"), burst, key)
                .await?;
        }
        self.check_rate(scope, rate, key).await
    }

    /// Takes a token from `key`'s `scope` bucket, or says when one is free
    /// (for sustained rates with bursts, like chat messages).
    pub async fn take(&self, scope: &str, bucket: Bucket, key: &str) -> Result<()> {
        let k = hashed_key(&format!("bucket:{scope}"), key);
        match self.cache.take_token(&k, bucket.every, bucket.burst).await {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(Error::RateLimited { retry_after: wait }),
            Err(e) => {
                tracing::warn!(error = %e, action = scope, "rate limit not counted: cache unavailable");
                Ok(())
            }
        }
    }

    async fn check_rate(&self, scope: &str, rate: Rate, key: &str) -> Result<()> {
        let k = hashed_key(&format!("ratelimit:{scope}"), key);
        match self.cache.incr_window(&k, rate.window).await {
            Ok((count, left)) if count > rate.limit => {
                Err(Error::RateLimited { retry_after: left })
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, action = scope, "rate limit not counted: cache unavailable");
                Ok(())
            }
        }
    }
}

/// Progressive delays: within `window`, `free` attempts pass at once; after
/// them one attempt may go ahead per delay, which starts at `base` and
/// doubles with each attempt, up to `max`. Nothing is ever locked for longer
/// than `max`; the caller decides which attempts count (a success resets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub free: u64,
    pub window: Duration,
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after the attempt `over` attempts past the free ones (0: the last free one).
    pub fn delay(&self, over: u64) -> Duration {
        let factor = 1u32 << over.min(30);
        self.base.saturating_mul(factor).min(self.max)
    }

    fn count_key(key: &str) -> String {
        format!("{key}:n")
    }

    /// Claims an attempt at `key` (already hashed): Ok if it may go ahead
    /// (and it is counted), `RateLimited` with the wait otherwise (not
    /// counted). Concurrent attempts cannot slip past a delay: each delay is
    /// a cache counter that only its first claimant passes.
    pub async fn attempt(&self, cache: &dyn Cache, key: &str) -> Result<()> {
        let count_key = Self::count_key(key);
        let before = read_count(cache, &count_key).await?;
        let waited = if before >= self.free {
            // Delays are keyed by the attempt number, so an expired one (the
            // wait is over) is claimed afresh by exactly one attempt.
            let (claims, left) = cache
                .incr_window(&format!("{key}:d{before}"), self.delay(before - self.free))
                .await?;
            if claims > 1 {
                return Err(Error::RateLimited { retry_after: left });
            }
            true
        } else {
            false
        };
        let (n, _) = cache.incr_window(&count_key, self.window).await?;
        if n >= self.free {
            // The next attempt waits from now.
            let (_, left) = cache
                .incr_window(&format!("{key}:d{n}"), self.delay(n - self.free))
                .await?;
            if n > self.free && !waited {
                // Raced past the last free attempt alongside others.
                return Err(Error::RateLimited { retry_after: left });
            }
        }
        Ok(())
    }

    /// Forgets the attempts at `key` (after a success).
    pub async fn reset(&self, cache: &dyn Cache, key: &str) -> Result<()> {
        cache.delete(&Self::count_key(key)).await
    }
}

async fn read_count(cache: &dyn Cache, key: &str) -> Result<u64> {
    Ok(cache
        .get(key)
        .await?
        .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_whatever_the_material() {
        let long = "x".repeat(60_000);
        let k = hashed_key("ratelimit:login", &long);
        assert_eq!(k.len(), "ratelimit:login:".len() + 64);
        assert_ne!(k, hashed_key("ratelimit:login", "y"));
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff {
            free: 3,
            window: Duration::from_secs(900),
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let d: Vec<u64> = (0..8).map(|i| b.delay(i).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(u64::MAX).as_secs(), 60);
    }
}

//! Registration, login, refresh-token rotation and logout; password
//! changes and resets, email verification and the sessions list are in
//! [`security`].

mod security;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use starling_core::error::FieldErrors;
use starling_core::events::DomainEvent;
use starling_core::id::TokenFamilyId;
use starling_core::model::{NewUser, RefreshTokenRecord, RotateOutcome};
use starling_core::types::{DisplayName, Email, Password, Username};
use starling_core::{Error, IdGenerator, Result, Timestamp, UserId};

use crate::limits::{Action, Backoff, RateLimits, hashed_key};
use crate::outbox::Outbox;
use crate::sessions::{Ended, Sessions};
use crate::users::{UserView, Users};
use crate::{JwtKeys, passwords};

pub use security::{RESET_TTL, SessionView, VERIFY_TTL, device_name};

/// The ports accounts use.
#[derive(Clone)]
pub struct AccountPorts {
    pub users: Arc<dyn starling_core::ports::UserStore>,
    pub tokens: Arc<dyn starling_core::ports::TokenStore>,
    /// Login delays and limits.
    pub cache: Arc<dyn starling_core::ports::Cache>,
    /// Password-reset and verification links.
    pub mailer: Arc<dyn starling_core::messaging::Mailer>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long login counters live.
    pub login_window: Duration,
    /// Attempts per client address per window; past it, 429 until the window ends.
    pub login_max_per_ip: u64,
    /// Attempts per account from one address before each further one waits
    /// (a success there resets it).
    pub login_max_per_account: u64,
    /// Attempts per account from all its unknown addresses together before
    /// each further one waits; addresses it signed in from are exempt.
    pub login_max_per_account_global: u64,
    /// The first wait; it doubles with each further attempt.
    pub login_delay_base: Duration,
    /// The longest wait.
    pub login_delay_max: Duration,
    pub avatar_max_bytes: usize,
    /// How long a user record may be served from the cache; zero disables it.
    pub user_cache_ttl: Duration,
    /// New accounts confirm their email address before they can sign in.
    pub require_email_verification: bool,
    /// For mails: the site's name and address (links point there).
    pub site_name: String,
    pub public_url: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            login_window: Duration::from_secs(15 * 60),
            login_max_per_ip: 100,
            login_max_per_account: 10,
            login_max_per_account_global: 50,
            login_delay_base: Duration::from_secs(1),
            login_delay_max: Duration::from_secs(15 * 60),
            avatar_max_bytes: 5 * 1024 * 1024,
            user_cache_ttl: Duration::from_secs(30),
            require_email_verification: false,
            site_name: "Starling".into(),
            public_url: String::new(),
        }
    }
}

/// What a successful register, login or refresh hands back.
pub struct Session {
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// Where a request comes from: a session remembers it.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub address: String,
    pub user_agent: String,
}

/// What a registration led to.
pub enum Registered {
    /// Signed in at once.
    SignedIn(Box<Session>),
    /// A verification link was mailed; no session until it is followed.
    VerifyEmail,
    /// Waiting for a moderator's approval (no session); under
    /// `require_email_verification` the address is confirmed first.
    Pending,
}

impl Registered {
    /// The session, when registering signed in.
    pub fn session(self) -> Option<Session> {
        match self {
            Registered::SignedIn(s) => Some(*s),
            Registered::VerifyEmail | Registered::Pending => None,
        }
    }
}

pub struct RegisterInput {
    /// The client's address: registrations are limited per address.
    pub client_ip: String,
    /// The client's User-Agent, to name the session.
    pub user_agent: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub display_name: Option<String>,
}

pub struct Accounts {
    ports: AccountPorts,
    ids: Arc<IdGenerator>,
    keys: Arc<JwtKeys>,
    users: Arc<Users>,
    settings: AuthSettings,
    hashing: passwords::Hashing,
    outbox: Arc<Outbox>,
    sessions: Arc<Sessions>,
    limits: Arc<RateLimits>,
}

/// Longest login name: an email address is at most 254 characters.
pub const LOGIN_MAX_CHARS: usize = 254;
/// How long an address a user signed in from stays known (exempt from the
/// account's all-addresses limit).
const KNOWN_ADDRESS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

fn new_refresh_token() -> (String, Vec<u8>) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash = hash_token(&token);
    (token, hash)
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Refuses sessions to accounts a moderator suspended or has not approved.
pub fn standing_allows_sign_in(user: &starling_core::model::UserRecord) -> Result<()> {
    if user.is_suspended() {
        return Err(Error::denied(
            "account_suspended",
            "this account is suspended",
        ));
    }
    if user.is_pending() {
        return Err(Error::denied(
            "account_pending",
            "this account is waiting for a moderator's approval",
        ));
    }
    Ok(())
}

fn invalid_credentials() -> Error {
    Error::unauthorized("invalid_credentials", "wrong username, email or password")
}

fn invalid_refresh() -> Error {
    Error::unauthorized("invalid_refresh_token", "the refresh token is not valid")
}

/// The services accounts work with.
pub struct AccountsDeps {
    pub users: Arc<Users>,
    pub outbox: Arc<Outbox>,
    pub sessions: Arc<Sessions>,
    pub limits: Arc<RateLimits>,
}

impl Accounts {
    pub fn new(
        ports: AccountPorts,
        ids: Arc<IdGenerator>,
        keys: Arc<JwtKeys>,
        settings: AuthSettings,
        deps: AccountsDeps,
    ) -> Self {
        let AccountsDeps {
            users,
            outbox,
            sessions,
            limits,
        } = deps;
        Accounts {
            ports,
            ids,
            keys,
            users,
            settings,
            outbox,
            sessions,
            limits,
            hashing: passwords::Hashing::new(),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Registers and, unless the address must be confirmed first, signs in.
    pub async fn register(&self, input: RegisterInput) -> Result<Registered> {
        let client = Client {
            address: input.client_ip.clone(),
            user_agent: input.user_agent.clone(),
        };
        let record = self.create_account(input).await?;
        if self.settings.require_email_verification {
            self.send_verification(&record.email).await?;
            return Ok(Registered::VerifyEmail);
        }
        let family = TokenFamilyId(self.ids.next());
        Ok(Registered::SignedIn(Box::new(
            self.start_session(record.id, family, &client).await?,
        )))
    }

    /// Mails the address confirmation link when the instance requires one
    /// (a registration waiting for approval confirms its address first).
    pub async fn verification_needed(&self, email: &str) -> Result<bool> {
        if !self.settings.require_email_verification {
            return Ok(false);
        }
        self.send_verification(email).await?;
        Ok(true)
    }

    /// Validates and stores a new account, without signing it in.
    pub async fn create_account(
        &self,
        input: RegisterInput,
    ) -> Result<starling_core::model::UserRecord> {
        let mut errs = FieldErrors::new();
        let username = errs.check("username", Username::parse(&input.username));
        let email = errs.check("email", Email::parse(&input.email));
        let password = errs.check("password", Password::parse(&input.password));
        let display_name = match input.display_name.as_deref() {
            Some(d) => errs.check("displayName", DisplayName::parse(d)).flatten(),
            None => None,
        };
        errs.finish()?;
        let (Some(username), Some(email), Some(password)) = (username, email, password) else {
            return Err(Error::internal("validated fields missing"));
        };
        self.limits
            .check(Action::Register, &input.client_ip)
            .await?;
        let password_hash = passwords::hash(&self.hashing, password).await?;
        let id = UserId(self.ids.next());
        let record = self
            .ports
            .users
            .create_user(NewUser {
                id,
                username,
                email,
                password_hash,
                display_name: display_name.map(DisplayName::into_inner),
                created_at: Timestamp::now(),
                event: self
                    .outbox
                    .event(&DomainEvent::UserRegistered { user: id })?,
            })
            .await?;
        self.outbox.committed();
        tracing::info!(user_id = %record.id, "registered");
        Ok(record)
    }

    /// Signs in by username or email.
    ///
    /// Guessing is slowed in three layers, all counted in the cache (so they
    /// hold across nodes) under hashed keys:
    /// 1. per client address, a hard cap per window, checked first: an
    ///    address over it creates no other key and reaches no database;
    /// 2. per (account, address): `login_max_per_account` attempts, then
    ///    progressive delays (Retry-After doubling up to a cap). A success
    ///    resets it. Attempts from another address have their own count, so
    ///    an attacker cannot lock the owner out;
    /// 3. per account across every address it never signed in from:
    ///    `login_max_per_account_global` attempts, then progressive delays
    ///    (slows a distributed guesser; never a lock, and the owner's known
    ///    addresses are exempt).
    ///
    /// The account is the resolved one (its username and email share the
    /// counts); a login that names no account is counted by its text, with
    /// the same limits, so the answers do not tell which names exist.
    pub async fn login(&self, login: &str, password: &str, client: &Client) -> Result<Session> {
        let client_ip = client.address.as_str();
        let login = login.trim().to_lowercase();
        if login.is_empty() {
            return Err(Error::field("login", "is required"));
        }
        if login.chars().count() > LOGIN_MAX_CHARS {
            return Err(Error::field(
                "login",
                format!("must be at most {LOGIN_MAX_CHARS} characters"),
            ));
        }
        if password.is_empty() {
            return Err(Error::field("password", "is required"));
        }
        let s = &self.settings;
        let cache = self.ports.cache.as_ref();
        let (per_ip, ip_left) = cache
            .incr_window(&hashed_key("ratelimit:login:ip", client_ip), s.login_window)
            .await?;
        if per_ip > s.login_max_per_ip {
            return Err(Error::RateLimited {
                retry_after: ip_left,
            });
        }
        let creds = self.ports.users.credentials(&login).await?;
        let subject = match &creds {
            Some(c) => format!("user:{}", c.id),
            None => format!("name:{login}"),
        };
        let pair_key = hashed_key("ratelimit:login:pair", &format!("{subject}\n{client_ip}"));
        let known_key = hashed_key("login:known", &format!("{subject}\n{client_ip}"));
        let pair = Backoff {
            free: s.login_max_per_account,
            window: s.login_window,
            base: s.login_delay_base,
            max: s.login_delay_max,
        };
        pair.attempt(cache, &pair_key).await?;
        if cache.get(&known_key).await?.is_none() {
            let account = Backoff {
                free: s.login_max_per_account_global,
                ..pair
            };
            account
                .attempt(cache, &hashed_key("ratelimit:login:account", &subject))
                .await?;
        }
        let (id, stored) = match creds {
            Some(c) => (Some(c.id), Some(c.password_hash)),
            None => (None, None),
        };
        let ok = passwords::verify(&self.hashing, password.to_owned(), stored).await?;
        let Some(id) = id.filter(|_| ok) else {
            return Err(invalid_credentials());
        };
        if self.settings.require_email_verification
            && self
                .ports
                .users
                .user_by_id(id)
                .await?
                .email_verified_at
                .is_none()
        {
            return Err(Error::denied(
                "email_unverified",
                "confirm your email address first: follow the link we mailed you",
            ));
        }
        // This address is the owner's now: its count starts over, and the
        // all-addresses limit no longer applies to it.
        pair.reset(cache, &pair_key).await?;
        cache
            .set(
                &known_key,
                bytes::Bytes::from_static(b"1"),
                KNOWN_ADDRESS_TTL,
            )
            .await?;
        let family = TokenFamilyId(self.ids.next());
        self.start_session(id, family, client).await
    }

    pub async fn refresh(&self, presented: &str, client: &Client) -> Result<Session> {
        if presented.is_empty() || presented.len() > 256 {
            return Err(invalid_refresh());
        }
        let now = Timestamp::now();
        let (token, hash) = new_refresh_token();
        let next = RefreshTokenRecord {
            token_hash: hash,
            // Filled in by the store from the presented token's row.
            user_id: UserId::from_i64(0),
            family_id: TokenFamilyId::from_i64(0),
            created_at: now,
            expires_at: now.plus(self.settings.refresh_ttl),
        };
        match self
            .ports
            .tokens
            .rotate_refresh_token(&hash_token(presented), next, now)
            .await?
        {
            RotateOutcome::Rotated { user_id, family_id } => {
                self.touch_session(family_id, client).await;
                self.session_for(user_id, family_id, token).await
            }
            RotateOutcome::Reused { user_id, family_id } => {
                tracing::warn!("a rotated refresh token was presented again; family revoked");
                // Whoever holds the session's access tokens loses them too.
                self.sessions
                    .end(Ended {
                        user: user_id,
                        family: family_id,
                    })
                    .await?;
                Err(Error::unauthorized(
                    "refresh_token_reused",
                    "the refresh token was already used; sign in again",
                ))
            }
            RotateOutcome::Invalid => Err(invalid_refresh()),
        }
    }

    /// Ends the session of a refresh token, and of the access token the
    /// request came with: neither works again anywhere, and the session's
    /// sockets and streams close.
    pub async fn logout(
        &self,
        presented: Option<&str>,
        access: Option<(UserId, TokenFamilyId)>,
    ) -> Result<()> {
        let mut ended = Vec::new();
        if let Some(token) = presented.filter(|t| !t.is_empty() && t.len() <= 256)
            && let Some((user, family)) = self
                .ports
                .tokens
                .revoke_refresh_token(&hash_token(token), Timestamp::now())
                .await?
        {
            ended.push(Ended { user, family });
        }
        // Usually the same session as the refresh token's; otherwise its
        // family is revoked too.
        if let Some((user, family)) = access
            && !ended.iter().any(|e| e.family == family)
        {
            self.ports
                .tokens
                .revoke_family(family, Timestamp::now())
                .await?;
            ended.push(Ended { user, family });
        }
        for e in ended {
            self.sessions.end(e).await?;
        }
        Ok(())
    }

    /// Deletes refresh tokens that expired over a day ago.
    /// Ends every session of `user` but `except` (the caller's own, when it
    /// keeps it), on every node: their tokens are refused and their sockets
    /// and streams close. Returns how many ended.
    pub async fn end_sessions_of(
        &self,
        user: UserId,
        except: Option<TokenFamilyId>,
    ) -> Result<usize> {
        let families = self
            .ports
            .tokens
            .revoke_user_families(user, except, Timestamp::now())
            .await?;
        for family in &families {
            self.sessions
                .end(crate::sessions::Ended {
                    user,
                    family: *family,
                })
                .await?;
        }
        Ok(families.len())
    }

    pub async fn purge_expired_tokens(&self) -> Result<u64> {
        let cutoff = Timestamp(Timestamp::now().0 - 24 * 3600 * 1000);
        self.ports.tokens.purge_expired_tokens(cutoff).await
    }

    async fn start_session(
        &self,
        user: UserId,
        family: TokenFamilyId,
        client: &Client,
    ) -> Result<Session> {
        standing_allows_sign_in(&self.users.me(user).await?.record)?;
        self.record_session(user, family, client).await?;
        let now = Timestamp::now();
        let (token, hash) = new_refresh_token();
        self.ports
            .tokens
            .insert_refresh_token(RefreshTokenRecord {
                token_hash: hash,
                user_id: user,
                family_id: family,
                created_at: now,
                expires_at: now.plus(self.settings.refresh_ttl),
            })
            .await?;
        self.session_for(user, family, token).await
    }

    async fn session_for(
        &self,
        user: UserId,
        family: TokenFamilyId,
        refresh_token: String,
    ) -> Result<Session> {
        let view = self.users.me(user).await?;
        // A suspended or pending account signs in nowhere (login and refresh).
        standing_allows_sign_in(&view.record)?;
        Ok(Session {
            user: view,
            access_token: self
                .keys
                .issue_session(user, family, self.settings.access_ttl)?,
            refresh_token,
            expires_in: self.settings.access_ttl.as_secs(),
        })
    }
}

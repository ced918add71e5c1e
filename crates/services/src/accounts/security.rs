//! Account security: changing the password, resetting it by mail, verifying
//! the email address, and the list of one's sessions.

use std::sync::Arc;
use std::time::Duration;

use starling_core::error::FieldErrors;
use starling_core::id::TokenFamilyId;
use starling_core::messaging::{Email as Mail, Mailer};
use starling_core::model::{AccountTokenPurpose, AccountTokenRecord, SessionRecord};
use starling_core::ports::{TokenStore, UserStore};
use starling_core::types::{Email, Password};
use starling_core::{Error, Result, Timestamp, UserId};

use super::{Accounts, Client, Session, hash_token, new_refresh_token};
use crate::limits::{Action, Backoff, hashed_key};
use crate::passwords;
use crate::sessions::Ended;

/// How long a password-reset link works.
pub const RESET_TTL: Duration = Duration::from_secs(3600);
/// How long an email-verification link works.
pub const VERIFY_TTL: Duration = Duration::from_secs(24 * 3600);
/// A session's last use is written at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// One of a user's live sessions, as they see it listed.
pub struct SessionView {
    pub record: SessionRecord,
    /// The session the request came with.
    pub current: bool,
}

fn invalid_token() -> Error {
    Error::bad_request("invalid_token", "the link is not valid, used or expired")
}

fn wrong_password() -> Error {
    Error::denied("wrong_password", "the current password is not right")
}

/// A short name for a User-Agent: "Firefox on Linux", "Safari on iOS",
/// or the client's own name ("curl") when it is no browser.
pub fn device_name(user_agent: &str) -> String {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return "Unknown device".into();
    }
    let has = |s: &str| ua.contains(s);
    let browser = if has("Edg/") || has("Edge/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let os = if has("iPhone") || has("iPad") || has("iPod") {
        Some("iOS")
    } else if has("Android") {
        Some("Android")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("Browser on {o}"),
        (None, None) => {
            // A program names itself first: "curl/8.5.0", "okhttp/4.12".
            let name: String = ua
                .split(['/', ' '])
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(40)
                .collect();
            if name.is_empty() {
                "Unknown device".into()
            } else {
                name
            }
        }
    }
}

/// What a mailed link needs, apart from the services, so that it can be sent
/// off the request's path.
#[derive(Clone)]
struct MailPorts {
    users: Arc<dyn UserStore>,
    tokens: Arc<dyn TokenStore>,
    mailer: Arc<dyn Mailer>,
    site_name: String,
    public_url: String,
}

impl MailPorts {
    /// Issues a single-use token for `purpose` to the owner of `email` (if
    /// any, and for verification only while unverified) and mails its link.
    async fn send_link(&self, email: &str, purpose: AccountTokenPurpose) -> Result<()> {
        let Some(creds) = self.users.credentials(email).await? else {
            return Ok(());
        };
        let user = self.users.user_by_id(creds.id).await?;
        if user.email != email {
            // Matched a username, not an address.
            return Ok(());
        }
        if purpose == AccountTokenPurpose::VerifyEmail && user.email_verified_at.is_some() {
            return Ok(());
        }
        let now = Timestamp::now();
        let ttl = match purpose {
            AccountTokenPurpose::PasswordReset => RESET_TTL,
            AccountTokenPurpose::VerifyEmail => VERIFY_TTL,
        };
        let (token, hash) = new_refresh_token();
        self.tokens
            .insert_account_token(AccountTokenRecord {
                token_hash: hash,
                user_id: user.id,
                purpose,
                created_at: now,
                expires_at: now.plus(ttl),
            })
            .await?;
        let site = &self.site_name;
        let url = self.public_url.trim_end_matches('/');
        let name = user.display_name.as_deref().unwrap_or(&user.username);
        let mail = match purpose {
            AccountTokenPurpose::PasswordReset => Mail {
                to: user.email.clone(),
                subject: format!("Reset your {site} password"),
                text: format!(
                    "Hello {name},\n\n\
                     someone asked to reset the password of @{username} at {site}.\n\
                     To choose a new one, open this link within an hour:\n\n\
                     {url}/reset-password?token={token}\n\n\
                     If it was not you, ignore this message: your password stays as it is.\n",
                    username = user.username,
                ),
            },
            AccountTokenPurpose::VerifyEmail => Mail {
                to: user.email.clone(),
                subject: format!("Confirm your email address for {site}"),
                text: format!(
                    "Hello {name},\n\n\
                     to finish signing up as @{username} at {site}, confirm your address\n\
                     by opening this link within a day:\n\n\
                     {url}/verify-email?token={token}\n\n\
                     If you did not sign up, ignore this message.\n",
                    username = user.username,
                ),
            },
        };
        self.mailer.send(&mail).await?;
        tracing::info!(user_id = %user.id, purpose = purpose.as_str(), "account link mailed");
        Ok(())
    }
}

impl Accounts {
    fn mail_ports(&self) -> MailPorts {
        MailPorts {
            users: self.ports.users.clone(),
            tokens: self.ports.tokens.clone(),
            mailer: self.ports.mailer.clone(),
            site_name: self.settings.site_name.clone(),
            public_url: self.settings.public_url.clone(),
        }
    }

    /// Mails a link for `purpose` to `email`'s owner, off the request's
    /// path: the answer is the same, in the same time, whether the address
    /// belongs to anyone.
    async fn mail_link(&self, email: &str, purpose: AccountTokenPurpose) -> Result<()> {
        let email = Email::parse(email)?;
        // Per address mailed to, whether it exists or not (no mail bombing).
        self.limits
            .check(
                Action::PasswordReset,
                &format!("to:{}:{}", purpose.as_str(), email.as_str()),
            )
            .await?;
        let ports = self.mail_ports();
        tokio::spawn(async move {
            if let Err(e) = ports.send_link(email.as_str(), purpose).await {
                tracing::warn!(error = %e, purpose = purpose.as_str(), "could not mail an account link");
            }
        });
        Ok(())
    }

    /// Mails a password-reset link if `email` belongs to an account.
    pub async fn request_password_reset(&self, email: &str) -> Result<()> {
        self.mail_link(email, AccountTokenPurpose::PasswordReset)
            .await
    }

    /// Sets a new password with a mailed token, and ends every session.
    pub async fn confirm_password_reset(&self, token: &str, new_password: &str) -> Result<()> {
        let mut errs = FieldErrors::new();
        let password = errs.check("newPassword", Password::parse(new_password));
        errs.finish()?;
        let Some(password) = password else {
            return Err(Error::internal("validated password missing"));
        };
        if token.is_empty() || token.len() > 256 {
            return Err(invalid_token());
        }
        let now = Timestamp::now();
        let Some(user) = self
            .ports
            .tokens
            .spend_account_token(&hash_token(token), AccountTokenPurpose::PasswordReset, now)
            .await?
        else {
            return Err(invalid_token());
        };
        let hash = passwords::hash(&self.hashing, password).await?;
        self.ports.users.set_password(user, &hash, now).await?;
        // The link came by mail: the address is theirs.
        self.ports.users.mark_email_verified(user, now).await?;
        self.users.invalidate(&[user]).await;
        self.end_sessions_of(user, None).await?;
        tracing::info!(user_id = %user, "password reset");
        Ok(())
    }

    /// Mails a new verification link if `email` belongs to an unverified
    /// account and the site asks for verification (otherwise nobody needs
    /// one, and the mail would only be a way to pester an address).
    pub async fn resend_verification(&self, email: &str) -> Result<()> {
        if !self.settings.require_email_verification {
            Email::parse(email)?;
            return Ok(());
        }
        self.mail_link(email, AccountTokenPurpose::VerifyEmail)
            .await
    }

    /// Mails the first verification link of a new account.
    pub(super) async fn send_verification(&self, email: &str) -> Result<()> {
        let ports = self.mail_ports();
        let email = email.to_owned();
        tokio::spawn(async move {
            if let Err(e) = ports
                .send_link(&email, AccountTokenPurpose::VerifyEmail)
                .await
            {
                tracing::warn!(error = %e, "could not mail a verification link");
            }
        });
        Ok(())
    }

    /// Confirms the email address with a mailed token and signs in.
    pub async fn verify_email(&self, token: &str, client: &Client) -> Result<Session> {
        if token.is_empty() || token.len() > 256 {
            return Err(invalid_token());
        }
        let now = Timestamp::now();
        let Some(user) = self
            .ports
            .tokens
            .spend_account_token(&hash_token(token), AccountTokenPurpose::VerifyEmail, now)
            .await?
        else {
            return Err(invalid_token());
        };
        self.ports.users.mark_email_verified(user, now).await?;
        self.users.invalidate(&[user]).await;
        tracing::info!(user_id = %user, "email verified");
        let family = TokenFamilyId(self.ids.next());
        self.start_session(user, family, client).await
    }

    /// Changes the password after checking the current one, and ends every
    /// other session of the user (the one the request came with stays).
    pub async fn change_password(
        &self,
        user: UserId,
        current_session: Option<TokenFamilyId>,
        current: &str,
        new_password: &str,
    ) -> Result<()> {
        let mut errs = FieldErrors::new();
        if current.is_empty() {
            errs.check::<()>(
                "currentPassword",
                Err(Error::field("currentPassword", "is required")),
            );
        }
        let password = errs.check("newPassword", Password::parse(new_password));
        errs.finish()?;
        let Some(password) = password else {
            return Err(Error::internal("validated password missing"));
        };
        // Guessing the current password with a stolen session is slowed like a login.
        let s = &self.settings;
        let guard = Backoff {
            free: s.login_max_per_account,
            window: s.login_window,
            base: s.login_delay_base,
            max: s.login_delay_max,
        };
        let key = hashed_key("ratelimit:password-change", &user.to_string());
        let cache = self.ports.cache.as_ref();
        guard.attempt(cache, &key).await?;
        let record = self.ports.users.user_by_id(user).await?;
        let stored = self
            .ports
            .users
            .credentials(&record.username)
            .await?
            .filter(|c| c.id == user)
            .map(|c| c.password_hash);
        if !passwords::verify(&self.hashing, current.to_owned(), stored).await? {
            return Err(wrong_password());
        }
        guard.reset(cache, &key).await?;
        let hash = passwords::hash(&self.hashing, password).await?;
        self.ports
            .users
            .set_password(user, &hash, Timestamp::now())
            .await?;
        let ended = self.end_sessions_of(user, current_session).await?;
        tracing::info!(user_id = %user, ended, "password changed");
        Ok(())
    }

    /// The user's live sessions, most recently used first.
    pub async fn sessions(
        &self,
        user: UserId,
        current: Option<TokenFamilyId>,
    ) -> Result<Vec<SessionView>> {
        let records = self
            .ports
            .tokens
            .live_sessions(user, Timestamp::now())
            .await?;
        Ok(records
            .into_iter()
            .map(|mut record| {
                if record.device.is_empty() {
                    record.device = "Unknown device".into();
                }
                SessionView {
                    current: Some(record.family_id) == current,
                    record,
                }
            })
            .collect())
    }

    /// Ends one of the user's sessions everywhere; 404 when it is not one of
    /// their live sessions.
    pub async fn end_session(&self, user: UserId, family: TokenFamilyId) -> Result<()> {
        let live = self
            .ports
            .tokens
            .live_sessions(user, Timestamp::now())
            .await?;
        if !live.iter().any(|s| s.family_id == family) {
            return Err(Error::not_found("session"));
        }
        self.ports
            .tokens
            .revoke_family(family, Timestamp::now())
            .await?;
        self.sessions.end(Ended { user, family }).await
    }

    /// Records a new session's device and address.
    pub(super) async fn record_session(
        &self,
        user: UserId,
        family: TokenFamilyId,
        client: &Client,
    ) -> Result<()> {
        let now = Timestamp::now();
        self.ports
            .tokens
            .insert_session(SessionRecord {
                family_id: family,
                user_id: user,
                device: device_name(&client.user_agent),
                address: client.address.clone(),
                created_at: now,
                last_used_at: now,
            })
            .await
    }

    /// Notes a session's use (at most once a minute is written).
    pub(super) async fn touch_session(&self, family: TokenFamilyId, client: &Client) {
        if let Err(e) = self
            .ports
            .tokens
            .touch_session(family, &client.address, Timestamp::now(), TOUCH_EVERY)
            .await
        {
            tracing::warn!(error = %e, "could not note a session's use");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::device_name;

    #[test]
    fn devices_are_named_briefly() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "curl"),
            ("", "Unknown device"),
        ];
        for (ua, want) in cases {
            assert_eq!(device_name(ua), want, "{ua}");
        }
    }
}

//! /api/auth: registration, sign-in, refresh and the session they answer with.

use serde::{Deserialize, Serialize};
use starling_services::accounts;
use utoipa::ToSchema;

use super::profile::Profile;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3-30 characters of a-z, 0-9 and _ (case-insensitive; stored lower-case).
    #[schema(min_length = 3, max_length = 30, pattern = "^[A-Za-z0-9_]{3,30}$")]
    pub username: String,
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8-256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    /// Up to 50 characters, no control characters.
    #[schema(max_length = 50, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub display_name: Option<String>,
    /// Required when `registrationMode` is `invite` (see `GET /api/instance`).
    #[schema(max_length = 64)]
    pub invite_code: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or email.
    #[schema(min_length = 1, pattern = "\\S")]
    pub login: String,
    #[schema(min_length = 1)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// Omit to use the refresh cookie.
    pub refresh_token: Option<String>,
}

/// A signed-in session. Browsers also get it as HttpOnly cookies.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub user: Profile,
    /// JWT (EdDSA); send as `Authorization: Bearer <token>`. Absent when the
    /// session was refreshed by cookie: the new one is in the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Opaque; single use: every refresh returns a new one. Absent when the
    /// session was refreshed by cookie, so no script on the page can read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl Session {
    /// The answer to a cookie session: the tokens stay in their cookies.
    pub fn without_tokens(mut self) -> Self {
        self.access_token = None;
        self.refresh_token = None;
        self
    }

    pub fn from_session(s: &accounts::Session, public_url: &str) -> Self {
        Session {
            user: Profile::from_view(&s.user, public_url),
            access_token: Some(s.access_token.clone()),
            refresh_token: Some(s.refresh_token.clone()),
            expires_in: s.expires_in,
        }
    }
}

/// The answer to a request that was taken but whose outcome the client
/// does not learn here: `sent` (a mail goes out if the address has an
/// account), `verify_email` (a registration waits for its address to be
/// confirmed), `pending` (a registration waits for a moderator's approval).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedStatus {
    #[schema(example = "sent")]
    pub status: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordResetConfirmRequest {
    /// The `token` of the mailed link.
    pub token: String,
    /// 8-256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The `token` of the mailed link.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResendVerificationRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

/// One signed-in device of yours.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSession {
    #[schema(example = "7212470313345024")]
    pub id: String,
    /// A short form of the browser's User-Agent.
    #[schema(example = "Firefox on Linux")]
    pub device: String,
    /// The client address it was last used from.
    pub address: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; updated at most once a minute.
    pub last_used_at: String,
    /// The session this request came with.
    pub current: bool,
}

impl DeviceSession {
    pub fn from_view(v: &accounts::SessionView) -> Self {
        DeviceSession {
            id: v.record.family_id.to_string(),
            device: v.record.device.clone(),
            address: v.record.address.clone(),
            created_at: super::common::rfc3339(v.record.created_at),
            last_used_at: super::common::rfc3339(v.record.last_used_at),
            current: v.current,
        }
    }
}

/// Your live sessions, most recently used first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSessionList {
    pub items: Vec<DeviceSession>,
}

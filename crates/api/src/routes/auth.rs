//! /api/auth: register, login, refresh, logout, JWKS.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use starling_core::Error;
use starling_core::id::TokenFamilyId;
use starling_services::accounts::{RegisterInput, Registered, Session};

use crate::dto::{
    self, AcceptedStatus, DeviceSession, DeviceSessionList, LoginRequest,
    PasswordResetConfirmRequest, PasswordResetRequest, RefreshRequest, RegisterRequest,
    ResendVerificationRequest, VerifyEmailRequest,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{
    ACCESS_COOKIE, AuthSession, CSRF_COOKIE, ClientInfo, Json, OptionalJson, Path, REFRESH_COOKIE,
    ValidSession, refresh_cookie,
};
use crate::state::AppState;

/// The three session cookies: the access token (HttpOnly, all paths), the
/// refresh token (HttpOnly, only sent to /api/auth), and the CSRF token that
/// scripts read and echo in `X-CSRF-Token`.
#[derive(Clone, Copy)]
enum SessionCookie {
    Access,
    Refresh,
    Csrf,
}

impl SessionCookie {
    const ALL: [SessionCookie; 3] = [
        SessionCookie::Access,
        SessionCookie::Refresh,
        SessionCookie::Csrf,
    ];

    /// The cookie holding `value` for `max_age` seconds (0 clears it). Over
    /// HTTPS it is `Secure`, and prefixed so that nothing but this origin
    /// over HTTPS can set it: `__Host-` where the path is `/`, `__Secure-`
    /// for the refresh cookie, whose path is narrower than `__Host-` allows.
    fn build(self, st: &AppState, value: String, max_age: u64) -> Cookie<'static> {
        let (name, path, http_only, same_site) = match self {
            SessionCookie::Access => (ACCESS_COOKIE, "/", true, SameSite::Lax),
            SessionCookie::Refresh => (REFRESH_COOKIE, "/api/auth", true, SameSite::Strict),
            SessionCookie::Csrf => (CSRF_COOKIE, "/", false, SameSite::Strict),
        };
        let secure = st.config.cookie_secure;
        let prefix = match (secure, path) {
            (false, _) => "",
            (true, "/") => "__Host-",
            (true, _) => "__Secure-",
        };
        Cookie::build((format!("{prefix}{name}"), value))
            .path(path)
            .max_age(time::Duration::seconds(
                i64::try_from(max_age).unwrap_or(i64::MAX),
            ))
            .http_only(http_only)
            .same_site(same_site)
            .secure(secure)
            .build()
    }
}

/// The cookies of a new session.
fn session_cookies(st: &AppState, s: &Session) -> CookieJar {
    let refresh_age = st.services.accounts.settings().refresh_ttl.as_secs();
    let mut csrf = [0u8; 24];
    rand::rng().fill_bytes(&mut csrf);
    CookieJar::new()
        .add(SessionCookie::Access.build(st, s.access_token.clone(), s.expires_in))
        .add(SessionCookie::Refresh.build(st, s.refresh_token.clone(), refresh_age))
        .add(SessionCookie::Csrf.build(st, URL_SAFE_NO_PAD.encode(csrf), refresh_age))
}

/// Every session cookie, emptied and expired.
fn clear_cookies(st: &AppState) -> CookieJar {
    SessionCookie::ALL
        .into_iter()
        .fold(CookieJar::new(), |jar, c| {
            jar.add(c.build(st, String::new(), 0))
        })
}

fn session_response(st: &AppState, status: StatusCode, s: &Session) -> Response {
    session_answer(st, status, s, false)
}

/// A new session in cookies and, unless `cookie_only`, in the body.
fn session_answer(st: &AppState, status: StatusCode, s: &Session, cookie_only: bool) -> Response {
    let body = dto::Session::from_session(s, &st.config.public_url);
    let body = if cookie_only {
        body.without_tokens()
    } else {
        body
    };
    (
        status,
        session_cookies(st, s),
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// Register a new account and sign in (as `registrationMode` allows).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in; session cookies set", body = dto::Session),
        (status = 202, description = "No session yet: `{\"status\": \"pending\"}` under approval mode (a moderator approves), or `{\"status\": \"verify_email\"}` with `require_email_verification` (a link was mailed)", body = AcceptedStatus),
        (status = 400, description = "Invalid fields or malformed JSON; a missing, unknown, expired or used-up `inviteCode` in invite mode", body = ErrorBody),
        (status = 403, description = "`registration_closed`", body = ErrorBody),
        (status = 409, description = "`username_taken` or `email_taken`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address; see Retry-After", body = ErrorBody),
    ))]
pub async fn register(
    State(st): State<AppState>,
    ClientInfo(client): ClientInfo,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<Response> {
    let registered = st
        .services
        .moderation
        .register(
            RegisterInput {
                client_ip: client.address,
                user_agent: client.user_agent,
                username: req.username,
                email: req.email,
                password: req.password,
                display_name: req.display_name,
            },
            req.invite_code.as_deref(),
        )
        .await?;
    Ok(match registered {
        Registered::SignedIn(s) => session_response(&st, StatusCode::CREATED, &s),
        Registered::VerifyEmail => accepted("verify_email"),
        Registered::Pending => accepted("pending"),
    })
}

fn accepted(status: &'static str) -> Response {
    (StatusCode::ACCEPTED, axum::Json(AcceptedStatus { status })).into_response()
}

/// Sign in with a username or email and a password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; session cookies set", body = dto::Session),
        (status = 400, description = "Missing fields or malformed JSON", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`: the same answer for an unknown user and a wrong password", body = ErrorBody),
        (status = 403, description = "`email_unverified`: the address is not confirmed yet (with `require_email_verification`)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this account; see Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    State(st): State<AppState>,
    ClientInfo(client): ClientInfo,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let s = st
        .services
        .accounts
        .login(&req.login, &req.password, &client)
        .await?;
    Ok(session_response(&st, StatusCode::OK, &s))
}

/// The refresh token from the cookie (CSRF-checked), if the request carries one.
pub struct RefreshCookie(Option<String>);

impl FromRequestParts<AppState> for RefreshCookie {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        refresh_cookie(parts).map(RefreshCookie)
    }
}

/// Exchange a refresh token for a new session. Refresh tokens are single use:
/// presenting one that was already exchanged revokes its whole family.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Omit the body to use the refresh cookie (then X-CSRF-Token is required)"),
    responses(
        (status = 200, description = "A new session; the presented token is spent. Refreshed by cookie, the tokens are only in the new cookies (the body has neither `accessToken` nor `refreshToken`)", body = dto::Session),
        (status = 401, description = "`invalid_refresh_token`, or `refresh_token_reused` (family revoked)", body = ErrorBody),
        (status = 403, description = "Cookie used without the CSRF header", body = ErrorBody),
    ))]
pub async fn refresh(
    State(st): State<AppState>,
    ClientInfo(client): ClientInfo,
    RefreshCookie(from_cookie): RefreshCookie,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> ApiResult<Response> {
    let (token, by_cookie) = match (body.and_then(|b| b.refresh_token), from_cookie) {
        (Some(t), _) => (t, false),
        (None, Some(t)) => (t, true),
        (None, None) => {
            return Err(ApiError(Error::unauthorized(
                "invalid_refresh_token",
                "no refresh token was given",
            )));
        }
    };
    let s = st.services.accounts.refresh(&token, &client).await?;
    Ok(session_answer(&st, StatusCode::OK, &s, by_cookie))
}

/// Sign out: ends the session of the refresh token and of the access token
/// the request carries, on every node (its sockets and streams close), and
/// clears the cookies.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Omit the body to use the refresh cookie"),
    responses(
        (status = 204, description = "Signed out"),
        (status = 403, description = "Cookie used without the CSRF header", body = ErrorBody),
    ))]
pub async fn logout(
    State(st): State<AppState>,
    ValidSession(access): ValidSession,
    RefreshCookie(from_cookie): RefreshCookie,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> ApiResult<Response> {
    let token = body.and_then(|b| b.refresh_token).or(from_cookie);
    // The access token the request came with ends too (if it is still good:
    // signing out with an expired one must still work).
    let access = access.and_then(|v| v.family.map(|f| (v.user, f)));
    st.services
        .accounts
        .logout(token.as_deref(), access)
        .await?;
    Ok((StatusCode::NO_CONTENT, clear_cookies(&st)).into_response())
}

/// The public key that signs access tokens, as a JSON Web Key Set.
#[utoipa::path(get, path = "/api/auth/jwks", tag = "auth",
    responses((status = 200, description = "JWKS with one Ed25519 (OKP) key", body = serde_json::Value)))]
pub async fn jwks(State(st): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(st.keys.jwks()),
    )
        .into_response()
}

/// Ask for a password-reset link by mail. The answer is the same, in the
/// same time, whether or not the address has an account.
#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "`{\"status\": \"sent\"}`, always: a link valid for an hour goes to the address if it has an account", body = AcceptedStatus),
        (status = 400, description = "Not an email address", body = ErrorBody),
        (status = 429, description = "Too many requests from this client or for this address; see Retry-After", body = ErrorBody),
    ))]
pub async fn request_password_reset(
    State(st): State<AppState>,
    Json(req): Json<PasswordResetRequest>,
) -> ApiResult<Response> {
    st.services
        .accounts
        .request_password_reset(&req.email)
        .await?;
    Ok(accepted("sent"))
}

/// Set a new password with the token of a reset link. Every session of the
/// account ends; sign in again.
#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "auth",
    request_body = PasswordResetConfirmRequest,
    responses(
        (status = 204, description = "Password set; every session ended"),
        (status = 400, description = "`invalid_token` (unknown, used or expired), or `validation_failed` on `newPassword`", body = ErrorBody),
    ))]
pub async fn confirm_password_reset(
    State(st): State<AppState>,
    Json(req): Json<PasswordResetConfirmRequest>,
) -> ApiResult<StatusCode> {
    st.services
        .accounts
        .confirm_password_reset(&req.token, &req.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Confirm the email address with the token of a verification link, and sign in.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Confirmed and signed in; session cookies set", body = dto::Session),
        (status = 400, description = "`invalid_token` (unknown, used or expired)", body = ErrorBody),
    ))]
pub async fn verify_email(
    State(st): State<AppState>,
    ClientInfo(client): ClientInfo,
    Json(req): Json<VerifyEmailRequest>,
) -> ApiResult<Response> {
    let s = st
        .services
        .accounts
        .verify_email(&req.token, &client)
        .await?;
    Ok(session_response(&st, StatusCode::OK, &s))
}

/// Mail a new verification link. The answer is the same whether or not the
/// address has an unconfirmed account.
#[utoipa::path(post, path = "/api/auth/verify-email/resend", tag = "auth",
    request_body = ResendVerificationRequest,
    responses(
        (status = 202, description = "`{\"status\": \"sent\"}`, always", body = AcceptedStatus),
        (status = 400, description = "Not an email address", body = ErrorBody),
        (status = 429, description = "Too many requests; see Retry-After", body = ErrorBody),
    ))]
pub async fn resend_verification(
    State(st): State<AppState>,
    Json(req): Json<ResendVerificationRequest>,
) -> ApiResult<Response> {
    st.services.accounts.resend_verification(&req.email).await?;
    Ok(accepted("sent"))
}

/// Your signed-in sessions (devices), most recently used first.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = DeviceSessionList),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list_sessions(
    State(st): State<AppState>,
    AuthSession(v): AuthSession,
) -> ApiResult<axum::Json<DeviceSessionList>> {
    let items = st.services.accounts.sessions(v.user, v.family).await?;
    Ok(axum::Json(DeviceSessionList {
        items: items.iter().map(DeviceSession::from_view).collect(),
    }))
}

/// End one of your sessions, on every node: its tokens stop working and its
/// sockets and streams close.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Not one of your live sessions", body = ErrorBody),
    ))]
pub async fn end_session(
    State(st): State<AppState>,
    AuthSession(v): AuthSession,
    Path(id): Path<TokenFamilyId>,
) -> ApiResult<StatusCode> {
    st.services.accounts.end_session(v.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of yours but this one.
#[utoipa::path(delete, path = "/api/auth/sessions", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Every other session ended"),
        (status = 401, body = ErrorBody),
    ))]
pub async fn end_other_sessions(
    State(st): State<AppState>,
    AuthSession(v): AuthSession,
) -> ApiResult<StatusCode> {
    st.services
        .accounts
        .end_sessions_of(v.user, v.family)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

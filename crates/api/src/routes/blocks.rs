//! Blocks and mutes: `/api/users/{id}/block|mute` and the caller's lists.
//! Both are private: the other side is never told.

use axum::extract::State;
use starling_core::UserId;

use crate::dto::{PageParams, User, UserPage};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthUser, Path, Query};
use crate::paging;
use crate::state::AppState;

type JsonUser = axum::Json<User>;
type JsonPage = axum::Json<UserPage>;

/// Block a user. Idempotent. The follows between you go (both ways), neither
/// sees the other's posts, comments or actions, neither can follow, comment
/// on, love or message the other, and a direct room between you turns
/// read-only. They are not told.
#[utoipa::path(put, path = "/api/users/{id}/block", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The blocked user (`blocking: true`)", body = User),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`cannot_block_self`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
    ))]
pub async fn block(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonUser> {
    let v = st.services.users.block(me, id).await?;
    Ok(axum::Json(User::from_view(&v, &st.config.public_url)))
}

/// Unblock a user. Idempotent; the follows the block removed stay removed.
#[utoipa::path(delete, path = "/api/users/{id}/block", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The user (`blocking: false`)", body = User),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`cannot_block_self`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
    ))]
pub async fn unblock(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonUser> {
    let v = st.services.users.unblock(me, id).await?;
    Ok(axum::Json(User::from_view(&v, &st.config.public_url)))
}

/// Mute a user. Idempotent. Their posts, comments and the notifications of
/// their actions are hidden from you; nothing else changes, and they are not told.
#[utoipa::path(put, path = "/api/users/{id}/mute", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The muted user (`muting: true`)", body = User),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`cannot_mute_self`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
    ))]
pub async fn mute(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonUser> {
    let v = st.services.users.mute(me, id, true).await?;
    Ok(axum::Json(User::from_view(&v, &st.config.public_url)))
}

/// Unmute a user. Idempotent.
#[utoipa::path(delete, path = "/api/users/{id}/mute", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The user (`muting: false`)", body = User),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`cannot_mute_self`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
    ))]
pub async fn unmute(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonUser> {
    let v = st.services.users.mute(me, id, false).await?;
    Ok(axum::Json(User::from_view(&v, &st.config.public_url)))
}

/// Whom you block, most recent first.
#[utoipa::path(get, path = "/api/blocks", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    params(PageParams),
    responses(
        (status = 200, body = UserPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn blocks(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<PageParams>,
) -> ApiResult<JsonPage> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st.services.users.blocked(me, after, limit).await?;
    Ok(axum::Json(UserPage::from_page(
        &page,
        &st.config.public_url,
    )))
}

/// Whom you mute, most recent first.
#[utoipa::path(get, path = "/api/mutes", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    params(PageParams),
    responses(
        (status = 200, body = UserPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn mutes(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<PageParams>,
) -> ApiResult<JsonPage> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st.services.users.muted(me, after, limit).await?;
    Ok(axum::Json(UserPage::from_page(
        &page,
        &st.config.public_url,
    )))
}

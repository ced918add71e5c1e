//! /api/users: lookup, search, follows.

use axum::extract::State;
use starling_core::UserId;

use crate::dto::{PageParams, SearchParams, User, UserPage};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthUser, MaybeUser, Path, Query};
use crate::paging;
use crate::state::AppState;

type JsonUser = axum::Json<User>;
type JsonPage = axum::Json<UserPage>;

/// Search users by username and display name; prefix matches first.
#[utoipa::path(get, path = "/api/users", tag = "users",
    security((), ("bearer" = []), ("cookie" = [])), params(SearchParams),
    responses(
        (status = 200, body = UserPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
    ))]
pub async fn search_users(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(p): Query<SearchParams>,
) -> ApiResult<JsonPage> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st.services.users.search(viewer, &p.q, after, limit).await?;
    Ok(axum::Json(UserPage::from_page(
        &page,
        &st.config.public_url,
    )))
}

/// One user by id.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users",
    security((), ("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, body = User),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_user(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonUser> {
    let v = st.services.users.get(viewer, id).await?;
    Ok(axum::Json(User::from_view(&v, &st.config.public_url)))
}

/// One user by username (case-insensitive).
#[utoipa::path(get, path = "/api/users/by-username/{username}", tag = "users",
    security((), ("bearer" = []), ("cookie" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get_user_by_username(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(username): Path<String>,
) -> ApiResult<JsonUser> {
    let v = st.services.users.by_username(viewer, &username).await?;
    Ok(axum::Json(User::from_view(&v, &st.config.public_url)))
}

/// Follow a user. Idempotent.
#[utoipa::path(put, path = "/api/users/{id}/follow", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The followed user, with counts", body = User),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`cannot_follow_self`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
    ))]
pub async fn follow(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonUser> {
    let v = st.services.users.follow(me, id).await?;
    Ok(axum::Json(User::from_view(&v, &st.config.public_url)))
}

/// Unfollow a user. Idempotent.
#[utoipa::path(delete, path = "/api/users/{id}/follow", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The unfollowed user, with counts", body = User),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`cannot_follow_self`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
    ))]
pub async fn unfollow(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonUser> {
    let v = st.services.users.unfollow(me, id).await?;
    Ok(axum::Json(User::from_view(&v, &st.config.public_url)))
}

/// Who follows this user, most recent first.
#[utoipa::path(get, path = "/api/users/{id}/followers", tag = "users",
    security((), ("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn followers(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<UserId>,
    Query(p): Query<PageParams>,
) -> ApiResult<JsonPage> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .users
        .followers(viewer, id, after, limit)
        .await?;
    Ok(axum::Json(UserPage::from_page(
        &page,
        &st.config.public_url,
    )))
}

/// Whom this user follows, most recent first.
#[utoipa::path(get, path = "/api/users/{id}/following", tag = "users",
    security((), ("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn following(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<UserId>,
    Query(p): Query<PageParams>,
) -> ApiResult<JsonPage> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .users
        .following(viewer, id, after, limit)
        .await?;
    Ok(axum::Json(UserPage::from_page(
        &page,
        &st.config.public_url,
    )))
}

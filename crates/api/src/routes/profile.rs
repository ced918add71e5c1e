//! /api/profile: your own profile and avatar.

use axum::extract::State;
use starling_services::users::ProfileUpdate;

use crate::dto::{AvatarUploadRequest, ChangePasswordRequest, Profile, UpdateProfileRequest};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthSession, AuthUser, FileField, Json};
use crate::state::AppState;

/// Your profile.
#[utoipa::path(get, path = "/api/profile", tag = "profile",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = Profile),
        (status = 401, description = "Not signed in, or the token is expired or invalid", body = ErrorBody),
    ))]
pub async fn get_profile(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<axum::Json<Profile>> {
    let v = st.services.users.me(me).await?;
    Ok(axum::Json(Profile::from_view(&v, &st.config.public_url)))
}

/// Change your display name and bio. Fields left out are unchanged.
#[utoipa::path(patch, path = "/api/profile", tag = "profile",
    security(("bearer" = []), ("cookie" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, body = Profile),
        (status = 400, description = "Invalid fields, unknown fields or malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Cookie used without the CSRF header", body = ErrorBody),
    ))]
pub async fn update_profile(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Json(req): Json<UpdateProfileRequest>,
) -> ApiResult<axum::Json<Profile>> {
    let v = st
        .services
        .users
        .update_profile(
            me,
            ProfileUpdate {
                display_name: req.display_name,
                bio: req.bio,
            },
        )
        .await?;
    Ok(axum::Json(Profile::from_view(&v, &st.config.public_url)))
}

/// Upload a new avatar (multipart, field `file`). The format is recognised from
/// the bytes; the image is fitted within 400x400 and its metadata removed.
#[utoipa::path(put, path = "/api/profile/avatar", tag = "profile",
    security(("bearer" = []), ("cookie" = [])),
    request_body(content = AvatarUploadRequest, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The profile with its new avatarUrl", body = Profile),
        (status = 400, description = "No `file` field, or not a multipart body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, description = "Over the avatar size limit (5 MiB by default)", body = ErrorBody),
        (status = 415, description = "Not a PNG, JPEG, WebP or GIF", body = ErrorBody),
        (status = 422, description = "`invalid_image`: looks like an image but cannot be decoded; `image_too_large`: over 16 megapixels", body = ErrorBody),
        (status = 503, description = "`busy`: too many images are being decoded; retry after `Retry-After` seconds", body = ErrorBody),
    ))]
pub async fn put_avatar(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    FileField(file): FileField,
) -> ApiResult<axum::Json<Profile>> {
    let v = st.services.users.set_avatar(me, file).await?;
    Ok(axum::Json(Profile::from_view(&v, &st.config.public_url)))
}

/// Change your password. Every other session of yours ends (on every node);
/// this one stays.
#[utoipa::path(put, path = "/api/profile/password", tag = "profile",
    security(("bearer" = []), ("cookie" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every other session ended"),
        (status = 400, description = "`validation_failed` on `newPassword` (8-256 characters) or `currentPassword`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`wrong_password`, or a cookie used without the CSRF header", body = ErrorBody),
        (status = 429, description = "Too many wrong guesses; see Retry-After", body = ErrorBody),
    ))]
pub async fn change_password(
    State(st): State<AppState>,
    AuthSession(v): AuthSession,
    Json(req): Json<ChangePasswordRequest>,
) -> ApiResult<axum::http::StatusCode> {
    st.services
        .accounts
        .change_password(v.user, v.family, &req.current_password, &req.new_password)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

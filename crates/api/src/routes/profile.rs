//! /api/profile: your own profile and avatar.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::BytesMut;
use starling_services::users::ProfileUpdate;
use tokio::io::AsyncReadExt;

use crate::dto::{
    AccountDeletion, AvatarUploadRequest, ChangePasswordRequest, DeleteAccountRequest, Profile,
    UpdateProfileRequest,
};
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

/// Delete your account. At once every session ends, login fails, and your
/// profile and everything you wrote stop being shown; your username and email
/// are free for new accounts. Then your posts, media, comments, loves, follows,
/// notifications and avatar are removed in the background. Your chat messages
/// in rooms with others stay, without a sender (`senderId: null`).
#[utoipa::path(delete, path = "/api/profile", tag = "profile",
    security(("bearer" = []), ("cookie" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 202, description = "Deleted; the data is being removed", body = AccountDeletion),
        (status = 400, description = "No password, unknown fields or malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`wrong_password`; or a cookie used without the CSRF header", body = ErrorBody),
    ))]
pub async fn delete_account(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Json(req): Json<DeleteAccountRequest>,
) -> ApiResult<(StatusCode, axum::Json<AccountDeletion>)> {
    st.services
        .deletion
        .delete_account(me, &req.password)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(AccountDeletion { status: "deleting" }),
    ))
}

/// Download everything your account holds: a zip
/// (`starling-export-<username>.zip`) with `profile.json`, `posts.json`,
/// `comments.json`, `loves.json`, `following.json`, `followers.json`,
/// `blocks.json`, `mutes.json`, `messages.json` and `notifications.json`,
/// your uploads under `media/` and your avatar (`avatar-<name>`). Always your
/// own: there is no way to ask for someone else's.
#[utoipa::path(get, path = "/api/profile/export", tag = "profile",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The zip, as an attachment", content_type = "application/zip", body = Vec<u8>),
        (status = 401, body = ErrorBody),
    ))]
pub async fn export(State(st): State<AppState>, AuthUser(me): AuthUser) -> ApiResult<Response> {
    let export = st.services.export.export(me).await?;
    let file = tokio::fs::File::from_std(export.file);
    let body = Body::from_stream(futures::stream::unfold(file, |mut file| async move {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        match file.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok::<_, std::io::Error>(buf.freeze()), file)),
            Err(e) => Some((Err(e), file)),
        }
    }));
    let disposition = format!("attachment; filename=\"{}\"", export.file_name);
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
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

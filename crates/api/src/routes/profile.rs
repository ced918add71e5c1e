//! /api/profile: your own profile and avatar.

use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::StatusCode;
use starling_core::Error;
use starling_services::users::ProfileUpdate;

use crate::dto::{Profile, UpdateProfileRequest};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthUser, Json};
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

pub(crate) fn multipart_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(Error::PayloadTooLarge {
            message: "the file is too large".into(),
        })
    } else {
        ApiError(Error::bad_request("invalid_multipart", text))
    }
}

/// Upload a new avatar (multipart, field `file`). The format is recognised from
/// the bytes; the image is fitted within 400x400 and its metadata removed.
#[utoipa::path(put, path = "/api/profile/avatar", tag = "profile",
    security(("bearer" = []), ("cookie" = [])),
    request_body(content = crate::dto::AvatarUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The profile with its new avatarUrl", body = Profile),
        (status = 400, description = "No `file` field, or not a multipart body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, description = "Over the avatar size limit (5 MiB by default)", body = ErrorBody),
        (status = 415, description = "Not a PNG, JPEG, WebP or GIF", body = ErrorBody),
        (status = 422, description = "Looks like an image but cannot be decoded", body = ErrorBody),
    ))]
pub async fn put_avatar(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<axum::Json<Profile>> {
    let mut multipart = multipart.map_err(|e| {
        ApiError(Error::UnsupportedMediaType {
            message: format!("send the avatar as multipart/form-data: {}", e.body_text()),
        })
    })?;
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e.status(), e.body_text()))?
    {
        if field.name() == Some("file") {
            let bytes = field
                .bytes()
                .await
                .map_err(|e| multipart_error(e.status(), e.body_text()))?;
            file = Some(bytes);
            break;
        }
    }
    let file = file.ok_or_else(|| ApiError(Error::field("file", "is required")))?;
    let v = st.services.users.set_avatar(me, file).await?;
    Ok(axum::Json(Profile::from_view(&v, &st.config.public_url)))
}

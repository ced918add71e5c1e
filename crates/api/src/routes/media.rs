//! /api/media: uploads for posts. /media/{key}: stored media, served with its
//! type and long-lived caching (keys are never reused, so an object never changes).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::dto::{Media, MediaUploadRequest};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthUser, FileField, Path};
use crate::state::AppState;

/// Upload an image for a post (multipart, field `file`). The format is
/// recognised from the bytes; at most 16 megapixels. It is re-encoded within
/// 2048x2048 so its metadata (EXIF, GPS, ...) is gone, and a preview fitted
/// within 640x640 is made. Attach it with `mediaIds` in `POST /api/posts`:
/// its URLs answer 404 until a post shows it, and again once that post is
/// deleted. Uploads never attached are deleted after 24 hours (by default).
#[utoipa::path(post, path = "/api/media", tag = "media",
    security(("bearer" = []), ("cookie" = [])),
    request_body(content = MediaUploadRequest, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = Media),
        (status = 400, description = "No `file` field, or a malformed multipart body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Cookie used without the CSRF header", body = ErrorBody),
        (status = 413, description = "Over the upload size limit (10 MiB by default)", body = ErrorBody),
        (status = 415, description = "Not a PNG, JPEG, WebP or GIF, or not a multipart body", body = ErrorBody),
        (status = 422, description = "`invalid_image`: looks like an image but cannot be decoded; `image_too_large`: over 16 megapixels", body = ErrorBody),
        (status = 503, description = "`busy`: too many images are being decoded; retry after `Retry-After` seconds", body = ErrorBody),
    ))]
pub async fn upload_media(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    FileField(file): FileField,
) -> ApiResult<Response> {
    let record = st.services.media.upload(me, file).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Media::from_record(&record, &st.config.public_url)),
    )
        .into_response())
}

/// A stored media object (avatars, images). Post images only while a post
/// shows them.
#[utoipa::path(get, path = "/media/{key}", tag = "media",
    params(("key" = String, Path, description = "Media key, e.g. avatars/1/2.png")),
    responses(
        (status = 200, description = "The object, with Content-Type, Cache-Control and ETag", content_type = "image/*", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_media(
    State(st): State<AppState>,
    Path(key): Path<String>,
    req_headers: HeaderMap,
) -> ApiResult<Response> {
    let etag = format!("\"{key}\"");
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    if req_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        // Still confirm the object exists before saying "not modified".
        st.services.media.read(&key).await?;
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, cache);
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let (bytes, content_type) = st.services.media.read(&key).await?;
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, cache);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok((h, bytes).into_response())
}

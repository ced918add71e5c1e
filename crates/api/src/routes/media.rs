//! /media/{key}: stored media, served with its type and long-lived caching
//! (keys are never reused, so an object never changes).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::state::AppState;

/// A stored media object (avatars, images).
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
        st.services.users.media(&key).await?;
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, cache);
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let (bytes, content_type) = st.services.users.media(&key).await?;
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

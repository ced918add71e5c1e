//! /api/media: uploaded images.

use serde::Serialize;
use starling_core::model::MediaRecord;
use utoipa::ToSchema;

use super::common::media_url;

/// An uploaded image: the display image (metadata removed, fitted within
/// 2048x2048) and a preview fitted within 640x640. Its URLs answer 404 until
/// a post shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    /// Pass in `mediaIds` when creating a post.
    pub id: String,
    pub url: String,
    pub preview_url: String,
    /// Of the stored display image: `image/jpeg` for JPEG uploads, `image/png` otherwise.
    pub content_type: String,
    /// Bytes of the stored display image.
    pub size: i64,
    pub width: i64,
    pub height: i64,
}

impl Media {
    pub fn from_record(m: &MediaRecord, public_url: &str) -> Self {
        Media {
            id: m.id.to_string(),
            url: media_url(public_url, &m.blob_key),
            preview_url: media_url(public_url, &m.preview_key),
            content_type: m.content_type.clone(),
            size: m.size,
            width: m.width,
            height: m.height,
        }
    }
}

/// Multipart form with one field, `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MediaUploadRequest {
    /// PNG, JPEG, WebP or GIF; at most 10 MiB by default.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

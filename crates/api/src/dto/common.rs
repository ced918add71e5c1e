//! Shared by several areas: times, media URLs, authors, paging parameters.

use serde::{Deserialize, Serialize};
use starling_core::Timestamp;
use starling_core::model::UserRecord;
use utoipa::{IntoParams, ToSchema};

/// A time as RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.000Z`).
pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.millis())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The public URL of a stored media object.
pub fn media_url(public_url: &str, key: &str) -> String {
    format!("{}/media/{key}", public_url.trim_end_matches('/'))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Opaque cursor from the previous page's `nextCursor`.
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
}

/// Who wrote a post or comment.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    pub id: String,
    pub username: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

impl Author {
    pub fn from_record(r: &UserRecord, public_url: &str) -> Self {
        Author {
            id: r.id.to_string(),
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            avatar_url: r.avatar_key.as_deref().map(|k| media_url(public_url, k)),
        }
    }
}

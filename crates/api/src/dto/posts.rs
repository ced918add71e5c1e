//! /api/posts, /api/comments, /api/feed, /api/tags, /api/search/posts:
//! posts, their history, comments, and the parameters of feeds.

use serde::{Deserialize, Serialize};
use starling_core::MediaId;
use starling_services::posts::{CommentView, PostView};
use utoipa::{IntoParams, ToSchema};

use super::common::{Author, rfc3339};
use super::media::Media;

#[derive(Debug, Serialize, ToSchema)]
pub struct Mention {
    pub id: String,
    pub username: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    pub id: String,
    pub author: Author,
    pub text: String,
    pub media: Vec<Media>,
    pub mentions: Vec<Mention>,
    pub tags: Vec<String>,
    pub love_count: i64,
    /// Comments and replies.
    pub comment_count: i64,
    pub loved_by_me: bool,
    pub created_at: String,
    /// Null until the post is edited.
    pub edited_at: Option<String>,
}

impl Post {
    pub fn from_view(v: &PostView, public_url: &str) -> Self {
        let r = &v.record;
        Post {
            id: r.id.to_string(),
            author: Author::from_record(&v.author, public_url),
            text: r.text.clone(),
            media: v
                .media
                .iter()
                .map(|m| Media::from_record(m, public_url))
                .collect(),
            mentions: v
                .mentions
                .iter()
                .map(|(id, username)| Mention {
                    id: id.to_string(),
                    username: username.clone(),
                })
                .collect(),
            tags: v.tags.clone(),
            love_count: r.love_count,
            comment_count: r.comment_count,
            loved_by_me: v.loved_by_me,
            created_at: rfc3339(r.created_at),
            edited_at: r.edited_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostPage {
    pub items: Vec<Post>,
    pub next_cursor: Option<String>,
    /// With `since`: more new posts exist than were returned; ask again from the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostList {
    pub items: Vec<Post>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostVersion {
    pub version: i64,
    pub text: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostHistory {
    /// Oldest first; the last is the current text.
    pub items: Vec<PostVersion>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: String,
    pub post_id: String,
    pub parent_id: Option<String>,
    pub author: Author,
    /// Empty for a deleted comment kept as a placeholder.
    pub text: String,
    pub love_count: i64,
    pub reply_count: i64,
    pub loved_by_me: bool,
    pub created_at: String,
    pub edited_at: Option<String>,
    /// Deleted, but kept so its replies stay in place.
    pub deleted: bool,
}

impl Comment {
    pub fn from_view(v: &CommentView, public_url: &str) -> Self {
        let r = &v.record;
        Comment {
            id: r.id.to_string(),
            post_id: r.post_id.to_string(),
            parent_id: r.parent_id.map(|p| p.to_string()),
            author: Author::from_record(&v.author, public_url),
            text: r.text.clone(),
            love_count: r.love_count,
            reply_count: r.reply_count,
            loved_by_me: v.loved_by_me,
            created_at: rfc3339(r.created_at),
            edited_at: r.edited_at.map(rfc3339),
            deleted: r.deleted,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentPage {
    pub items: Vec<Comment>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePostRequest {
    /// 1-5000 characters, not all blank, no control characters but line
    /// breaks and tabs. (With media attached the server also takes blank text.)
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub text: String,
    /// Up to 4 of your uploads (`POST /api/media`), in display order, each once.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, max_items = 4)]
    pub media_ids: Option<Vec<MediaId>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostTextRequest {
    /// 1-5000 characters, not all blank, no control characters but line breaks and tabs.
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentRequest {
    /// 1-2000 characters, not all blank, no control characters but line breaks and tabs.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub text: String,
    /// Reply to this comment (any depth).
    pub parent_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentEditRequest {
    /// 1-2000 characters, not all blank, no control characters but line breaks and tabs.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub text: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Opaque cursor from the previous page's `nextCursor` (empty: the first
    /// page). Not together with `since` (400 `invalid_query`).
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
    /// Only posts newer than this post id (the newest the client has); empty
    /// is the same as absent. Not together with a `cursor` (400 `invalid_query`).
    pub since: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IdsParams {
    /// Comma-separated post ids, at most 100.
    pub ids: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchPostsParams {
    /// Words to find (all must match): 1-10 runs of letters and digits of at
    /// most 50 characters each, separated by anything else.
    #[serde(default)]
    #[param(
        required = true,
        pattern = "^[\\W_]*(?:[^\\W_]{1,50}[\\W_]+){0,9}[^\\W_]{1,50}[\\W_]*$"
    )]
    pub q: String,
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
}

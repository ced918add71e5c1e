//! Wire types: JSON in camelCase, ids as strings, times as RFC 3339 UTC.

use serde::{Deserialize, Deserializer, Serialize};
use starling_core::Timestamp;
use starling_core::page::Page;
use starling_services::accounts::Session;
use starling_services::users::UserView;
use utoipa::{IntoParams, ToSchema};

pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.millis())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

pub fn media_url(public_url: &str, key: &str) -> String {
    format!("{}/media/{key}", public_url.trim_end_matches('/'))
}

/// A user as the caller sees them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[schema(example = "7212470313345024")]
    pub id: String,
    pub username: String,
    /// Null when the user has not set one (show the username).
    pub display_name: Option<String>,
    pub bio: String,
    /// Null when the user has no avatar.
    pub avatar_url: Option<String>,
    pub follower_count: i64,
    pub following_count: i64,
    /// Whether the caller follows this user (false when anonymous or for yourself).
    pub followed_by_me: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl User {
    pub fn from_view(v: &UserView, public_url: &str) -> Self {
        let r = &v.record;
        User {
            id: r.id.to_string(),
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            bio: r.bio.clone(),
            avatar_url: r.avatar_key.as_deref().map(|k| media_url(public_url, k)),
            follower_count: r.follower_count,
            following_count: r.following_count,
            followed_by_me: v.followed_by_me,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Your own profile: a user plus what only you see.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(flatten)]
    pub user: User,
    pub email: String,
}

impl Profile {
    pub fn from_view(v: &UserView, public_url: &str) -> Self {
        Profile {
            email: v.record.email.clone(),
            user: User::from_view(v, public_url),
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl UserPage {
    pub fn from_page<P: starling_core::page::Position>(
        p: &Page<UserView, P>,
        public_url: &str,
    ) -> Self {
        UserPage {
            items: p
                .items
                .iter()
                .map(|u| User::from_view(u, public_url))
                .collect(),
            next_cursor: crate::paging::next_cursor(&p.next),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3-30 characters of a-z, 0-9 and _ (case-insensitive; stored lower-case).
    #[schema(min_length = 3, max_length = 30, pattern = "^[A-Za-z0-9_]{3,30}$")]
    pub username: String,
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8-256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    /// Up to 50 characters, no control characters.
    #[schema(max_length = 50, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or email.
    #[schema(min_length = 1, pattern = "\\S")]
    pub login: String,
    #[schema(min_length = 1)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// Omit to use the refresh cookie.
    pub refresh_token: Option<String>,
}

/// A signed-in session. Browsers also get it as HttpOnly cookies.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    pub user: Profile,
    /// JWT (EdDSA); send as `Authorization: Bearer <token>`. Absent when the
    /// session was refreshed by cookie: the new one is in the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Opaque; single use: every refresh returns a new one. Absent when the
    /// session was refreshed by cookie, so no script on the page can read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl SessionResponse {
    /// The answer to a cookie session: the tokens stay in their cookies.
    pub fn without_tokens(mut self) -> Self {
        self.access_token = None;
        self.refresh_token = None;
        self
    }

    pub fn from_session(s: &Session, public_url: &str) -> Self {
        SessionResponse {
            user: Profile::from_view(&s.user, public_url),
            access_token: Some(s.access_token.clone()),
            refresh_token: Some(s.refresh_token.clone()),
            expires_in: s.expires_in,
        }
    }
}

/// Distinguishes an absent field (`None`) from an explicit null (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// Up to 50 characters, no control characters; null or blank clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 50, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub display_name: Option<Option<String>>,
    /// Up to 500 characters, no control characters but line breaks and tabs; null clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500, pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$")]
    pub bio: Option<Option<String>>,
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Matches usernames and display names; prefix matches come first. At
    /// most 100 characters; empty lists everyone.
    #[serde(default)]
    #[param(max_length = 100)]
    pub q: String,
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
}

/// Multipart form with one field, `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AvatarUpload {
    /// PNG, JPEG, WebP or GIF; at most 5 MiB by default.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// Each backend: `ok` or what is wrong.
    pub checks: std::collections::BTreeMap<String, String>,
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
    pub fn from_record(r: &starling_core::model::UserRecord, public_url: &str) -> Self {
        Author {
            id: r.id.to_string(),
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            avatar_url: r.avatar_key.as_deref().map(|k| media_url(public_url, k)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MentionDto {
    pub id: String,
    pub username: String,
}

/// An uploaded image: the display image (metadata removed, fitted within
/// 2048x2048) and a preview fitted within 640x640. Its URLs answer 404 until
/// a post shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaDto {
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

impl MediaDto {
    pub fn from_record(m: &starling_core::model::MediaRecord, public_url: &str) -> Self {
        MediaDto {
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
pub struct MediaUpload {
    /// PNG, JPEG, WebP or GIF; at most 10 MiB by default.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    pub id: String,
    pub author: Author,
    pub text: String,
    pub media: Vec<MediaDto>,
    pub mentions: Vec<MentionDto>,
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
    pub fn from_view(v: &starling_services::posts::PostView, public_url: &str) -> Self {
        let r = &v.record;
        Post {
            id: r.id.to_string(),
            author: Author::from_record(&v.author, public_url),
            text: r.text.clone(),
            media: v
                .media
                .iter()
                .map(|m| MediaDto::from_record(m, public_url))
                .collect(),
            mentions: v
                .mentions
                .iter()
                .map(|(id, username)| MentionDto {
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
pub struct PostVersionDto {
    pub version: i64,
    pub text: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostHistory {
    /// Oldest first; the last is the current text.
    pub items: Vec<PostVersionDto>,
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
    pub fn from_view(v: &starling_services::posts::CommentView, public_url: &str) -> Self {
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
    pub media_ids: Option<Vec<starling_core::MediaId>>,
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

/// What a notification refers to: a post or a comment, with a short excerpt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSubject {
    pub id: String,
    /// The start of its text (at most 140 characters).
    pub excerpt: String,
}

/// A notification: `type` is `love`, `comment`, `reply`, `mention` or `follow`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "love")]
    pub kind: String,
    pub actor: Author,
    /// The post concerned (for loves, comments, replies and mentions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post: Option<NotificationSubject>,
    /// The comment concerned (a loved comment, the new comment or reply, a mention in a comment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<NotificationSubject>,
    /// The chat room of a `message` notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    pub created_at: String,
    pub read: bool,
}

impl Notification {
    pub fn from_view(
        v: &starling_services::notifications::NotificationView,
        public_url: &str,
    ) -> Self {
        use starling_services::notifications::excerpt;
        Notification {
            id: v.record.id.to_string(),
            kind: v.record.kind.as_str().to_owned(),
            actor: Author::from_record(&v.actor, public_url),
            post: v.post.as_ref().map(|p| NotificationSubject {
                id: p.id.to_string(),
                excerpt: excerpt(&p.text),
            }),
            comment: v.comment.as_ref().map(|c| NotificationSubject {
                id: c.id.to_string(),
                excerpt: excerpt(&c.text),
            }),
            room_id: v.record.room_id.map(|r| r.to_string()),
            created_at: rfc3339(v.record.created_at),
            read: v.record.read_at.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NotificationParams {
    /// Opaque cursor from the previous page's `nextCursor`.
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
    /// Only unread notifications.
    pub unread_only: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VapidKey {
    /// The application server key to pass to `pushManager.subscribe` (base64url).
    pub public_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushKeys {
    /// The browser's P-256 public key (65 bytes), base64url.
    #[schema(pattern = "^[A-Za-z0-9_-]{86}[AEIMQUYcgkosw048]=*$")]
    pub p256dh: String,
    /// The 16-byte auth secret, base64url.
    #[schema(pattern = "^[A-Za-z0-9_-]{21}[AQgw]=*$")]
    pub auth: String,
}

/// A `PushSubscription` as the browser's `toJSON()` gives it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PushSubscriptionRequest {
    /// The push service's http(s) URL, at most 2048 bytes.
    #[schema(
        max_length = 2048,
        pattern = "^(?:https://[\\x21-\\x7E]+|http://[\\x21-\\x7E]{2,})$"
    )]
    pub endpoint: String,
    pub keys: PushKeys,
    /// Sent by browsers (a number or null); ignored, whatever it is.
    #[serde(default)]
    pub expiration_time: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSubscription {
    pub id: String,
    pub endpoint: String,
    pub created_at: String,
}

// ---- chat (docs/chat.md) ----

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub room_id: String,
    pub sender: Author,
    /// Empty once retracted.
    pub text: String,
    pub client_msg_id: String,
    pub retracted: bool,
    pub created_at: String,
}

impl ChatMessage {
    pub fn from_view(v: &starling_core::live::MessageView, public_url: &str) -> Self {
        ChatMessage {
            id: v.record.id.to_string(),
            room_id: v.record.room_id.to_string(),
            sender: Author::from_record(&v.sender, public_url),
            text: v.record.text.clone(),
            client_msg_id: v.record.client_msg_id.clone(),
            retracted: v.record.retracted_at.is_some(),
            created_at: rfc3339(v.record.created_at),
        }
    }
}

/// A member's read receipt: everything up to `messageId` is read.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadMarkDto {
    pub user_id: String,
    pub message_id: String,
    pub read_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatRoom {
    pub id: String,
    /// `direct` or `group`.
    pub kind: String,
    pub name: Option<String>,
    pub owner_id: Option<String>,
    pub members: Vec<Author>,
    pub last_message: Option<ChatMessage>,
    pub unread_count: i64,
    /// Each member's last read message.
    pub reads: Vec<ReadMarkDto>,
    pub last_activity_at: String,
    pub created_at: String,
}

impl ChatRoom {
    pub fn from_view(v: &starling_core::live::RoomView, public_url: &str) -> Self {
        ChatRoom {
            id: v.room.id.to_string(),
            kind: v.room.kind.as_str().to_owned(),
            name: v.room.name.clone(),
            owner_id: v.room.owner_id.map(|o| o.to_string()),
            members: v
                .members
                .iter()
                .map(|(_, u)| Author::from_record(u, public_url))
                .collect(),
            last_message: v
                .last_message
                .as_ref()
                .map(|m| ChatMessage::from_view(m, public_url)),
            unread_count: v.unread,
            reads: v
                .members
                .iter()
                .filter(|(m, _)| m.last_read_id > 0)
                .map(|(m, _)| ReadMarkDto {
                    user_id: m.user_id.to_string(),
                    message_id: m.last_read_id.to_string(),
                    read_at: m.read_at.map(rfc3339).unwrap_or_default(),
                })
                .collect(),
            last_activity_at: rfc3339(v.room.last_activity_at),
            created_at: rfc3339(v.room.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatRoomList {
    pub items: Vec<ChatRoom>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessagePage {
    pub items: Vec<ChatMessage>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRoomRequest {
    /// 1-100 characters, not all blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// The other members (you are added); a group has 2 to 256 members.
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 255)]
    pub member_ids: Vec<starling_core::UserId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRoomRequest {
    /// 1-100 characters, not all blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddMemberRequest {
    #[schema(value_type = String)]
    pub user_id: starling_core::UserId,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendMessageRequest {
    /// 1-4000 characters, not all blank, no control characters but line breaks and tabs.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub text: String,
    /// Your id for the message (1-100 characters, no control characters): a
    /// retry with the same one returns the message sent before.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub client_msg_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReadRequest {
    #[schema(value_type = String)]
    pub message_id: starling_core::MessageId,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MessageIds {
    /// 1 to 100 message ids.
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 100)]
    pub message_ids: Vec<starling_core::MessageId>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomUnread {
    pub room_id: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatUnread {
    pub total: i64,
    pub rooms: Vec<RoomUnread>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChatPageParams {
    /// Opaque cursor from the previous page's `nextCursor`.
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChatSearchParams {
    /// Words that must all appear: 1-10 runs of letters and digits of at
    /// most 50 characters each, separated by anything else.
    #[param(pattern = "^[\\W_]*(?:[^\\W_]{1,50}[\\W_]+){0,9}[^\\W_]{1,50}[\\W_]*$")]
    pub q: String,
    /// Only this room.
    #[param(value_type = Option<String>)]
    pub room_id: Option<starling_core::RoomId>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceDto {
    pub user_id: String,
    pub online: bool,
    pub last_seen_at: Option<String>,
}

impl From<starling_core::live::OnlineStatus> for PresenceDto {
    fn from(p: starling_core::live::OnlineStatus) -> Self {
        PresenceDto {
            user_id: p.user.to_string(),
            online: p.online,
            last_seen_at: p.last_seen_at.map(rfc3339),
        }
    }
}

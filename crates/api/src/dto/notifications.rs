//! /api/notifications and /api/push: notifications, their counts, Web Push
//! subscriptions.

use serde::{Deserialize, Serialize};
use starling_services::notifications::{NotificationView, excerpt};
use utoipa::{IntoParams, ToSchema};

use super::common::{Author, rfc3339};

/// What a notification refers to: a post or a comment, with a short excerpt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSubject {
    pub id: String,
    /// The start of its text (at most 140 characters).
    pub excerpt: String,
}

/// A notification: `type` is `love`, `comment`, `reply`, `mention`, `follow`,
/// `message` or `report`.
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
    /// The report of a `report` notification (moderators and admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    pub created_at: String,
    pub read: bool,
}

impl Notification {
    pub fn from_view(v: &NotificationView, public_url: &str) -> Self {
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
            report_id: v.record.report_id.map(|r| r.to_string()),
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

//! /api/admin, /api/reports, /api/invites, /api/instance: moderation and
//! registration.

use serde::{Deserialize, Serialize};
use starling_core::model::UserRecord;
use starling_core::page::{Page, Position};
use starling_services::moderation::{AuditView, InviteView, ReportView};
use starling_services::users::UserView;
use utoipa::{IntoParams, ToSchema};

use super::common::rfc3339;
use super::posts::{Comment, Post};
use super::users::User;

fn user(r: &UserRecord, public_url: &str) -> User {
    User::from_view(
        &UserView {
            record: r.clone(),
            followed_by_me: false,
            blocking: false,
            muting: false,
        },
        public_url,
    )
}

/// An account as moderators see it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    pub id: String,
    pub username: String,
    pub display_name: Option<String>,
    pub email: String,
    /// `user`, `moderator` or `admin`.
    pub role: String,
    pub suspended: bool,
    pub silenced: bool,
    /// Registered under approval mode and not approved yet.
    pub pending: bool,
    pub email_verified: bool,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silenced_at: Option<String>,
}

impl AdminUser {
    pub fn from_record(r: &UserRecord) -> Self {
        AdminUser {
            id: r.id.to_string(),
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            email: r.email.clone(),
            role: r.role.as_str().to_owned(),
            suspended: r.is_suspended(),
            silenced: r.is_silenced(),
            pending: r.is_pending(),
            email_verified: r.email_verified_at.is_some(),
            created_at: rfc3339(r.created_at),
            suspended_at: r.suspended_at.map(rfc3339),
            silenced_at: r.silenced_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminUserPage {
    pub items: Vec<AdminUser>,
    pub next_cursor: Option<String>,
}

impl AdminUserPage {
    pub fn from_page<P: Position>(p: &Page<UserRecord, P>) -> Self {
        AdminUserPage {
            items: p.items.iter().map(AdminUser::from_record).collect(),
            next_cursor: crate::paging::next_cursor(&p.next),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminUserParams {
    /// Matches username, display name or email. At most 100 characters.
    #[serde(default)]
    #[param(max_length = 100)]
    pub q: String,
    /// `all` (default), `suspended`, `silenced` or `pending`.
    #[serde(default)]
    pub status: String,
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetRoleRequest {
    /// `user`, `moderator` or `admin`.
    pub role: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModerationNoteRequest {
    /// Why (kept in the audit log); at most 1000 characters.
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateReportRequest {
    /// `user`, `post`, `comment` or `message`.
    pub target_type: String,
    pub target_id: String,
    /// `spam`, `harassment`, `illegal` or `other`.
    pub reason: String,
    /// At most 1000 characters.
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

/// A report as its reporter sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: String,
    pub target_type: String,
    pub target_id: String,
    pub reason: String,
    pub comment: String,
    /// `open` or `resolved`.
    pub status: String,
    pub created_at: String,
}

impl Report {
    pub fn from_record(r: &starling_core::moderation::ReportRecord) -> Self {
        Report {
            id: r.id.to_string(),
            target_type: r.target_type.as_str().to_owned(),
            target_id: r.target_id.to_string(),
            reason: r.reason.as_str().to_owned(),
            comment: r.comment.clone(),
            status: if r.resolution.is_some() {
                "resolved"
            } else {
                "open"
            }
            .to_owned(),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// A reported chat message (moderators see it only through its report).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedMessage {
    pub id: String,
    pub room_id: String,
    /// Null once the sender's account is deleted.
    pub sender_id: Option<String>,
    pub text: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportResolution {
    /// `dismiss`, `remove_content`, `suspend` or `silence`.
    pub action: String,
    pub note: String,
    pub moderator: Option<User>,
    pub resolved_at: String,
}

/// A report with what it is about, for moderators.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminReport {
    #[serde(flatten)]
    pub report: Report,
    pub reporter: User,
    /// The reported account (the author of reported content).
    pub target_user: Option<User>,
    /// A reported post, while it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post: Option<Post>,
    /// A reported comment, while it exists (`comment` is the reporter's own words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_comment: Option<Comment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<ReportedMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ReportResolution>,
}

impl AdminReport {
    pub fn from_view(v: &ReportView, public_url: &str) -> Self {
        AdminReport {
            report: Report::from_record(&v.record),
            reporter: user(&v.reporter, public_url),
            target_user: v.target_user.as_ref().map(|u| user(u, public_url)),
            post: v.post.as_ref().map(|p| Post::from_view(p, public_url)),
            reported_comment: v
                .comment
                .as_ref()
                .map(|c| Comment::from_view(c, public_url)),
            message: v.message.as_ref().map(|m| ReportedMessage {
                id: m.id.to_string(),
                room_id: m.room_id.to_string(),
                sender_id: m.sender_id.map(|s| s.to_string()),
                text: m.text.clone(),
                created_at: rfc3339(m.created_at),
            }),
            resolution: v.record.resolution.as_ref().map(|r| ReportResolution {
                action: r.action.as_str().to_owned(),
                note: r.note.clone(),
                moderator: v.moderator.as_ref().map(|u| user(u, public_url)),
                resolved_at: rfc3339(r.resolved_at),
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminReportPage {
    pub items: Vec<AdminReport>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// `open` (default; oldest first) or `resolved` (newest first).
    #[serde(default)]
    pub status: String,
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveReportRequest {
    /// `dismiss`, `remove_content`, `suspend` or `silence`.
    pub action: String,
    /// At most 1000 characters.
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

/// One moderator action.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: String,
    /// Null once the moderator's account is deleted.
    pub moderator: Option<User>,
    /// `dismiss`, `remove_content`, `suspend`, `unsuspend`, `silence`,
    /// `unsilence`, `set_role`, `approve`, `reject`, `create_invite`, `revoke_invite`.
    pub action: String,
    /// `user`, `report` or `invite`.
    pub target_type: String,
    pub target_id: String,
    pub note: String,
    pub created_at: String,
}

impl AuditEntry {
    pub fn from_view(v: &AuditView, public_url: &str) -> Self {
        AuditEntry {
            id: v.record.id.to_string(),
            moderator: v.moderator.as_ref().map(|u| user(u, public_url)),
            action: v.record.action.as_str().to_owned(),
            target_type: v.record.target_type.clone(),
            target_id: v.record.target_id.clone(),
            note: v.record.note.clone(),
            created_at: rfc3339(v.record.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInviteRequest {
    /// 1-1000, default 1.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_uses: Option<i64>,
    /// 1-8760, default 168 (a week).
    #[schema(minimum = 1, maximum = 8760)]
    pub expires_in_hours: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub code: String,
    pub max_uses: i64,
    pub uses: i64,
    pub expires_at: String,
    pub created_at: String,
    pub created_by: User,
}

impl Invite {
    pub fn from_view(v: &InviteView, public_url: &str) -> Self {
        Invite {
            code: v.record.code.clone(),
            max_uses: v.record.max_uses,
            uses: v.record.uses,
            expires_at: rfc3339(v.record.expires_at),
            created_at: rfc3339(v.record.created_at),
            created_by: user(&v.created_by, public_url),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitePage {
    pub items: Vec<Invite>,
    pub next_cursor: Option<String>,
}

/// What clients need to know about this instance before signing in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// `open`, `approval`, `invite` or `closed`.
    pub registration_mode: String,
    pub require_email_verification: bool,
    pub limits: InstanceLimits,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceLimits {
    pub post_max_chars: usize,
    pub comment_max_chars: usize,
    pub media_max_bytes: usize,
    pub avatar_max_bytes: usize,
    pub media_per_post: usize,
}

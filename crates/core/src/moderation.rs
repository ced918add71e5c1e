//! Moderation records: reports, their resolutions, the audit log, invites,
//! and the store port that keeps them (with the account standing columns).

use async_trait::async_trait;

use crate::messaging::Envelope;
use crate::model::{Role, UserRecord};
use crate::{AuditId, InviteId, ReportId, Result, Timestamp, UserId};

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetType {
    User,
    Post,
    Comment,
    Message,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::User => "user",
            TargetType::Post => "post",
            TargetType::Comment => "comment",
            TargetType::Message => "message",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => TargetType::User,
            "post" => TargetType::Post,
            "comment" => TargetType::Comment,
            "message" => TargetType::Message,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportReason {
    Spam,
    Harassment,
    Illegal,
    Other,
}

impl ReportReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Spam => "spam",
            ReportReason::Harassment => "harassment",
            ReportReason::Illegal => "illegal",
            ReportReason::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "spam" => ReportReason::Spam,
            "harassment" => ReportReason::Harassment,
            "illegal" => ReportReason::Illegal,
            "other" => ReportReason::Other,
            _ => return None,
        })
    }
}

/// What a moderator did: to a report, an account, a role, a registration
/// or an invite. Every one is written to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModAction {
    Dismiss,
    RemoveContent,
    Suspend,
    Unsuspend,
    Silence,
    Unsilence,
    SetRole,
    Approve,
    Reject,
    CreateInvite,
    RevokeInvite,
}

impl ModAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ModAction::Dismiss => "dismiss",
            ModAction::RemoveContent => "remove_content",
            ModAction::Suspend => "suspend",
            ModAction::Unsuspend => "unsuspend",
            ModAction::Silence => "silence",
            ModAction::Unsilence => "unsilence",
            ModAction::SetRole => "set_role",
            ModAction::Approve => "approve",
            ModAction::Reject => "reject",
            ModAction::CreateInvite => "create_invite",
            ModAction::RevokeInvite => "revoke_invite",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "dismiss" => ModAction::Dismiss,
            "remove_content" => ModAction::RemoveContent,
            "suspend" => ModAction::Suspend,
            "unsuspend" => ModAction::Unsuspend,
            "silence" => ModAction::Silence,
            "unsilence" => ModAction::Unsilence,
            "set_role" => ModAction::SetRole,
            "approve" => ModAction::Approve,
            "reject" => ModAction::Reject,
            "create_invite" => ModAction::CreateInvite,
            "revoke_invite" => ModAction::RevokeInvite,
            _ => return None,
        })
    }
}

/// How a report was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub action: ModAction,
    pub note: String,
    /// None once the moderator's account is deleted.
    pub moderator: Option<UserId>,
    pub resolved_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub id: ReportId,
    pub reporter_id: UserId,
    pub target_type: TargetType,
    /// The reported user, post, comment or message.
    pub target_id: i64,
    /// The reported account: the target user, or the author of the content.
    pub target_user_id: Option<UserId>,
    pub reason: ReportReason,
    pub comment: String,
    pub created_at: Timestamp,
    pub resolution: Option<Resolution>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: AuditId,
    /// None once the moderator's account is deleted.
    pub moderator_id: Option<UserId>,
    pub action: ModAction,
    /// `user`, `post`, `comment`, `message`, `report` or `invite`.
    pub target_type: String,
    pub target_id: String,
    pub note: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub id: InviteId,
    pub code: String,
    pub created_by: UserId,
    pub max_uses: i64,
    pub uses: i64,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// Which accounts the admin user list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserStatus {
    #[default]
    All,
    Suspended,
    Silenced,
    Pending,
}

impl UserStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "all" => UserStatus::All,
            "suspended" => UserStatus::Suspended,
            "silenced" => UserStatus::Silenced,
            "pending" => UserStatus::Pending,
            _ => return None,
        })
    }
}

/// Who may register (`registration_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationMode {
    /// Anyone.
    #[default]
    Open,
    /// Anyone, but a moderator approves the account before it can sign in.
    Approval,
    /// With an invite code from a moderator.
    Invite,
    /// Nobody (accounts come from `starling admin create-user`).
    Closed,
}

impl RegistrationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationMode::Open => "open",
            RegistrationMode::Approval => "approval",
            RegistrationMode::Invite => "invite",
            RegistrationMode::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => RegistrationMode::Open,
            "approval" => RegistrationMode::Approval,
            "invite" => RegistrationMode::Invite,
            "closed" => RegistrationMode::Closed,
            _ => return None,
        })
    }
}

/// A standing a moderator sets or lifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Suspended,
    Silenced,
    Pending,
}

#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Sets `user`'s role. Conflict `last_admin` when that would leave no admin.
    async fn set_role(&self, user: UserId, role: Role) -> Result<UserRecord>;
    /// Sets (`Some(at)`) or lifts (`None`) a standing of `user`.
    async fn set_standing(
        &self,
        user: UserId,
        standing: Standing,
        at: Option<Timestamp>,
    ) -> Result<UserRecord>;
    /// Every moderator and admin.
    async fn staff_ids(&self) -> Result<Vec<UserId>>;
    /// Accounts for moderators, newest first, ids below `before`; `query`
    /// (lower-cased) matches username, display name or email.
    async fn admin_users(
        &self,
        query: &str,
        status: UserStatus,
        before: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserRecord>>;
    /// Clears `pending_at` and writes `event`, in one transaction.
    async fn approve_user(&self, user: UserId, event: &Envelope) -> Result<UserRecord>;
    /// Gives back a use of an invite (the registration it was spent on failed).
    async fn release_invite(&self, code: &str) -> Result<()>;
    /// Removes a user row (a rejected registration: it has no content).
    async fn delete_user(&self, user: UserId) -> Result<()>;

    /// Stores a report with its event, in one transaction.
    async fn create_report(&self, report: &ReportRecord, event: &Envelope) -> Result<()>;
    async fn report(&self, id: ReportId) -> Result<ReportRecord>;
    /// Open reports oldest first (ids above `after`), or resolved ones newest
    /// resolved first (ids below `after` in that order).
    async fn reports(
        &self,
        resolved: bool,
        after: Option<ReportId>,
        limit: u32,
    ) -> Result<Vec<ReportRecord>>;
    /// Settles an open report and writes `audit`, in one transaction.
    /// Conflict `already_resolved` when it was settled before.
    async fn resolve_report(
        &self,
        id: ReportId,
        resolution: &Resolution,
        audit: &AuditRecord,
    ) -> Result<ReportRecord>;

    async fn insert_audit(&self, entry: &AuditRecord) -> Result<()>;
    /// Newest first, ids below `before`.
    async fn audit_log(&self, before: Option<AuditId>, limit: u32) -> Result<Vec<AuditRecord>>;

    async fn create_invite(&self, invite: &InviteRecord) -> Result<()>;
    /// Newest first, ids below `before`.
    async fn invites(&self, before: Option<InviteId>, limit: u32) -> Result<Vec<InviteRecord>>;
    /// False when there was no such invite.
    async fn delete_invite(&self, code: &str) -> Result<bool>;
    /// Counts one use of a live invite; false when it is unknown, expired or used up.
    async fn use_invite(&self, code: &str, now: Timestamp) -> Result<bool>;
}

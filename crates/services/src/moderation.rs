//! Moderation: roles, account standing (suspend, silence), reports and
//! their resolution, the audit log, registration approval and invites.
//!
//! Who may do what: moderators and admins handle reports and act on plain
//! users; only admins change roles, act on moderators and settle
//! registrations. Every action is written to the audit log.

use std::sync::Arc;

use rand::RngCore;
use starling_core::events::DomainEvent;
use starling_core::model::{CommentRecord, MessageRecord, PostRecord, Role, UserRecord};
use starling_core::moderation::{
    AuditRecord, InviteRecord, ModAction, ModerationStore, RegistrationMode, ReportReason,
    ReportRecord, Resolution, Standing, TargetType, UserStatus,
};
use starling_core::page::Page;
use starling_core::ports::{ChatStore, CommentStore, PostStore, UserStore};
use starling_core::types::Limit;
use starling_core::{
    AuditId, CommentId, Error, IdGenerator, InviteId, MessageId, PostId, ReportId, Result,
    Timestamp, UserId,
};

use crate::accounts::{Accounts, Registered};
use crate::outbox::Outbox;
use crate::users::Users;

/// The ports moderation uses.
#[derive(Clone)]
pub struct ModerationPorts {
    pub moderation: Arc<dyn ModerationStore>,
    pub users: Arc<dyn UserStore>,
    pub posts: Arc<dyn PostStore>,
    pub comments: Arc<dyn CommentStore>,
    pub chat: Arc<dyn ChatStore>,
}

/// The services moderation works through (so caches, timelines, sockets
/// and notifications follow what it does).
pub struct ModerationDeps {
    pub users: Arc<Users>,
    pub accounts: Arc<Accounts>,
    pub posts: Arc<crate::posts::Posts>,
    pub chat: Arc<crate::chat::Chat>,
    pub outbox: Arc<Outbox>,
    pub ids: Arc<IdGenerator>,
    pub limits: Arc<crate::limits::RateLimits>,
}

pub struct Moderation {
    ports: ModerationPorts,
    deps: ModerationDeps,
    registration_mode: RegistrationMode,
}

/// The longest invite code `register` reads (the codes it makes are shorter).
pub const INVITE_CODE_MAX_CHARS: usize = 64;

/// The longest note on an action and comment on a report.
pub const NOTE_MAX_CHARS: usize = 1000;

/// A report with what it is about, as moderators see it.
pub struct ReportView {
    pub record: ReportRecord,
    pub reporter: UserRecord,
    pub target_user: Option<UserRecord>,
    pub post: Option<crate::posts::PostView>,
    pub comment: Option<crate::posts::CommentView>,
    pub message: Option<MessageRecord>,
    pub moderator: Option<UserRecord>,
}

pub struct AuditView {
    pub record: AuditRecord,
    /// None once the moderator's account is deleted.
    pub moderator: Option<UserRecord>,
}

pub struct InviteView {
    pub record: InviteRecord,
    pub created_by: UserRecord,
}

/// A new report as the API takes it.
pub struct NewReportInput {
    pub target_type: String,
    pub target_id: String,
    pub reason: String,
    pub comment: Option<String>,
}

fn check_note(field: &str, note: Option<String>) -> Result<String> {
    let note = note.unwrap_or_default();
    if note.chars().count() > NOTE_MAX_CHARS {
        return Err(Error::field(
            field,
            format!("must be at most {NOTE_MAX_CHARS} characters"),
        ));
    }
    Ok(note)
}

fn parse_target<T: std::str::FromStr>(raw: &str) -> Result<T> {
    raw.parse::<T>()
        .map_err(|_| Error::field("targetId", "is not a valid id"))
}

impl Moderation {
    pub fn new(
        ports: ModerationPorts,
        deps: ModerationDeps,
        registration_mode: RegistrationMode,
    ) -> Self {
        Moderation {
            ports,
            deps,
            registration_mode,
        }
    }

    pub fn registration_mode(&self) -> RegistrationMode {
        self.registration_mode
    }

    /// Registers under the instance's `registration_mode`.
    pub async fn register(
        &self,
        input: crate::accounts::RegisterInput,
        invite_code: Option<&str>,
    ) -> Result<Registered> {
        let accounts = &self.deps.accounts;
        if invite_code.is_some_and(|c| c.chars().count() > INVITE_CODE_MAX_CHARS) {
            return Err(Error::field(
                "inviteCode",
                format!("at most {INVITE_CODE_MAX_CHARS} characters"),
            ));
        }
        match self.registration_mode {
            RegistrationMode::Open => accounts.register(input).await,
            RegistrationMode::Closed => Err(Error::denied(
                "registration_closed",
                "registration is closed on this instance",
            )),
            RegistrationMode::Invite => {
                let code = invite_code.map(str::trim).unwrap_or_default();
                self.use_invite(code).await?;
                match accounts.register(input).await {
                    Ok(r) => Ok(r),
                    Err(e) => {
                        // The invite was not used after all.
                        self.ports.moderation.release_invite(code).await?;
                        Err(e)
                    }
                }
            }
            RegistrationMode::Approval => {
                let record = accounts.create_account(input).await?;
                let r = self
                    .ports
                    .moderation
                    .set_standing(record.id, Standing::Pending, Some(Timestamp::now()))
                    .await;
                self.deps.users.invalidate(&[record.id]).await;
                r?;
                accounts.verification_needed(&record.email).await?;
                Ok(Registered::Pending)
            }
        }
    }

    /// The caller's record, refused unless they moderate (403 `forbidden`).
    pub async fn staff(&self, me: UserId) -> Result<UserRecord> {
        let r = self.record(me).await?;
        if !r.role.moderates() {
            return Err(Error::forbidden("only moderators and admins can do this"));
        }
        Ok(r)
    }

    /// The caller's record, refused unless they are an admin.
    pub async fn admin(&self, me: UserId) -> Result<UserRecord> {
        let r = self.record(me).await?;
        if r.role != Role::Admin {
            return Err(Error::forbidden("only admins can do this"));
        }
        Ok(r)
    }

    async fn record(&self, id: UserId) -> Result<UserRecord> {
        self.deps
            .users
            .records(&[id])
            .await?
            .remove(&id)
            .ok_or_else(|| Error::not_found("user"))
    }

    async fn audit(
        &self,
        me: UserId,
        action: ModAction,
        target_type: &str,
        target_id: String,
        note: &str,
    ) -> Result<()> {
        self.ports
            .moderation
            .insert_audit(&self.audit_record(me, action, target_type, target_id, note))
            .await
    }

    fn audit_record(
        &self,
        me: UserId,
        action: ModAction,
        target_type: &str,
        target_id: String,
        note: &str,
    ) -> AuditRecord {
        AuditRecord {
            id: AuditId(self.deps.ids.next()),
            moderator_id: Some(me),
            action,
            target_type: target_type.to_owned(),
            target_id,
            note: note.to_owned(),
            created_at: Timestamp::now(),
        }
    }

    // ---- accounts ----

    /// One account as moderators see it.
    pub async fn user(&self, me: UserId, id: UserId) -> Result<UserRecord> {
        self.staff(me).await?;
        self.ports.users.user_by_id(id).await
    }

    pub async fn users(
        &self,
        me: UserId,
        query: &str,
        status: &str,
        before: Option<UserId>,
        limit: Limit,
    ) -> Result<Page<UserRecord, UserId>> {
        self.staff(me).await?;
        let status = UserStatus::parse(if status.is_empty() { "all" } else { status })
            .ok_or_else(|| Error::field("status", "must be all, suspended, silenced or pending"))?;
        let query = query.trim();
        if query.chars().count() > 100 {
            return Err(Error::field("q", "must be at most 100 characters"));
        }
        let mut rows = self
            .ports
            .moderation
            .admin_users(query, status, before, limit.fetch())
            .await?;
        let next = limit.cut(&mut rows, |u| u.id);
        Ok(Page { items: rows, next })
    }

    /// Changes a role (admins only). The role is re-read on every request,
    /// so it takes effect at once.
    pub async fn set_role(&self, me: UserId, id: UserId, role: &str) -> Result<UserRecord> {
        self.admin(me).await?;
        let role = Role::parse(role)
            .ok_or_else(|| Error::field("role", "must be user, moderator or admin"))?;
        let r = self.set_role_unchecked(id, role).await?;
        self.audit(
            me,
            ModAction::SetRole,
            "user",
            id.to_string(),
            role.as_str(),
        )
        .await?;
        Ok(r)
    }

    /// Sets a role without a caller (the `starling admin` CLI).
    pub async fn set_role_unchecked(&self, id: UserId, role: Role) -> Result<UserRecord> {
        let r = self.ports.moderation.set_role(id, role).await;
        self.deps.users.invalidate(&[id]).await;
        r
    }

    /// Moderators act on plain users; admins on anyone but themselves.
    async fn may_act_on(&self, me: &UserRecord, target: &UserRecord) -> Result<()> {
        if me.id == target.id {
            return Err(Error::forbidden("you cannot act on your own account"));
        }
        if target.role.moderates() && me.role != Role::Admin {
            return Err(Error::forbidden(
                "moderators cannot act on moderators or admins",
            ));
        }
        Ok(())
    }

    /// Suspends, unsuspends, silences or unsilences an account.
    pub async fn act_on_user(
        &self,
        me: UserId,
        id: UserId,
        action: ModAction,
        note: Option<String>,
    ) -> Result<UserRecord> {
        let note = check_note("note", note)?;
        let me = self.staff(me).await?;
        let target = self.ports.users.user_by_id(id).await?;
        self.may_act_on(&me, &target).await?;
        let r = self.apply(id, action).await?;
        self.audit(me.id, action, "user", id.to_string(), &note)
            .await?;
        Ok(r)
    }

    async fn apply(&self, id: UserId, action: ModAction) -> Result<UserRecord> {
        let (standing, on) = match action {
            ModAction::Suspend => (Standing::Suspended, true),
            ModAction::Unsuspend => (Standing::Suspended, false),
            ModAction::Silence => (Standing::Silenced, true),
            ModAction::Unsilence => (Standing::Silenced, false),
            _ => return Err(Error::internal("not an account action")),
        };
        let r = self
            .ports
            .moderation
            .set_standing(id, standing, on.then(Timestamp::now))
            .await;
        self.deps.users.invalidate(&[id]).await;
        let r = r?;
        if action == ModAction::Suspend {
            // Tokens refused, sockets and streams closed, on every node.
            self.deps.accounts.end_sessions_of(id, None).await?;
        }
        Ok(r)
    }

    // ---- reports ----

    /// Files a report. The reported account is found from the content.
    pub async fn report(&self, me: UserId, input: NewReportInput) -> Result<ReportRecord> {
        self.deps
            .limits
            .check(crate::limits::Action::Report, &me.to_string())
            .await?;
        let target_type = TargetType::parse(&input.target_type);
        let reason = ReportReason::parse(&input.reason);
        let comment = check_note("comment", input.comment);
        let mut errs = starling_core::error::FieldErrors::new();
        let target_type = errs.check(
            "targetType",
            target_type.ok_or_else(|| {
                Error::field("targetType", "must be user, post, comment or message")
            }),
        );
        let reason = errs.check(
            "reason",
            reason.ok_or_else(|| {
                Error::field("reason", "must be spam, harassment, illegal or other")
            }),
        );
        let comment = errs.check("comment", comment);
        errs.finish()?;
        let (Some(target_type), Some(reason), Some(comment)) = (target_type, reason, comment)
        else {
            return Err(Error::internal("validated fields missing"));
        };
        let (target_id, author) = match target_type {
            TargetType::User => {
                let id: UserId = parse_target(&input.target_id)?;
                let u = self.ports.users.user_by_id(id).await?;
                (id.get(), Some(u.id))
            }
            TargetType::Post => {
                let id: PostId = parse_target(&input.target_id)?;
                let p = self.live_post(id).await?;
                (id.get(), Some(p.author_id))
            }
            TargetType::Comment => {
                let id: CommentId = parse_target(&input.target_id)?;
                let c = self.live_comment(id).await?;
                (id.get(), Some(c.author_id))
            }
            TargetType::Message => {
                let id: MessageId = parse_target(&input.target_id)?;
                let m = self.live_message(id).await?;
                // Only someone who can see it can report it.
                if self.ports.chat.member(m.room_id, me).await?.is_none() {
                    return Err(Error::not_found("message"));
                }
                // A message whose sender's account is gone has no author.
                (id.get(), m.sender_id)
            }
        };
        if author == Some(me) {
            return Err(Error::unprocessable(
                "cannot_report_self",
                "you cannot report yourself or your own content",
            ));
        }
        let staff = self.ports.moderation.staff_ids().await?;
        let record = ReportRecord {
            id: ReportId(self.deps.ids.next()),
            reporter_id: me,
            target_type,
            target_id,
            target_user_id: author,
            reason,
            comment,
            created_at: Timestamp::now(),
            resolution: None,
        };
        let event = self.deps.outbox.event(&DomainEvent::ReportCreated {
            reporter: me,
            report: record.id,
            staff,
        })?;
        self.ports.moderation.create_report(&record, &event).await?;
        self.deps.outbox.committed();
        Ok(record)
    }

    async fn live_post(&self, id: PostId) -> Result<PostRecord> {
        self.ports
            .posts
            .posts_by_ids(&[id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("post"))
    }

    async fn live_comment(&self, id: CommentId) -> Result<CommentRecord> {
        let c = self.ports.comments.comment(id).await?;
        if c.deleted {
            return Err(Error::not_found("comment"));
        }
        Ok(c)
    }

    async fn live_message(&self, id: MessageId) -> Result<MessageRecord> {
        self.ports
            .chat
            .messages_by_ids(&[id])
            .await?
            .pop()
            .filter(|m| m.retracted_at.is_none())
            .ok_or_else(|| Error::not_found("message"))
    }

    pub async fn reports(
        &self,
        me: UserId,
        status: &str,
        after: Option<ReportId>,
        limit: Limit,
    ) -> Result<Page<ReportView, ReportId>> {
        self.staff(me).await?;
        let resolved = match status {
            "" | "open" => false,
            "resolved" => true,
            _ => return Err(Error::field("status", "must be open or resolved")),
        };
        let mut rows = self
            .ports
            .moderation
            .reports(resolved, after, limit.fetch())
            .await?;
        let next = limit.cut(&mut rows, |r| r.id);
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(self.view(me, r).await?);
        }
        Ok(Page { items, next })
    }

    pub async fn get_report(&self, me: UserId, id: ReportId) -> Result<ReportView> {
        self.staff(me).await?;
        let r = self.ports.moderation.report(id).await?;
        self.view(me, r).await
    }

    async fn view(&self, me: UserId, r: ReportRecord) -> Result<ReportView> {
        let mut ids = vec![r.reporter_id];
        ids.extend(r.target_user_id);
        ids.extend(r.resolution.as_ref().and_then(|x| x.moderator));
        let users = self.ports.users.users_by_ids(&ids).await?;
        let find = |id: UserId| users.iter().find(|u| u.id == id).cloned();
        let reporter = find(r.reporter_id).ok_or_else(|| Error::not_found("user"))?;
        let target_user = r.target_user_id.and_then(find);
        let moderator = r
            .resolution
            .as_ref()
            .and_then(|x| x.moderator)
            .and_then(&find);
        let (mut post, mut comment, mut message) = (None, None, None);
        match r.target_type {
            TargetType::User => {}
            TargetType::Post => {
                // Moderators see the post even if its author is hidden.
                post = self
                    .deps
                    .posts
                    .get_any(Some(me), PostId::from_i64(r.target_id))
                    .await
                    .ok();
            }
            TargetType::Comment => {
                comment = self
                    .deps
                    .posts
                    .get_comment(Some(me), CommentId::from_i64(r.target_id))
                    .await
                    .ok()
                    .filter(|c| !c.record.deleted);
            }
            TargetType::Message => {
                message = self
                    .live_message(MessageId::from_i64(r.target_id))
                    .await
                    .ok();
            }
        }
        Ok(ReportView {
            record: r,
            reporter,
            target_user,
            post,
            comment,
            message,
            moderator,
        })
    }

    /// Settles an open report: dismiss it, remove the content, or suspend
    /// or silence the reported account.
    pub async fn resolve(
        &self,
        me: UserId,
        id: ReportId,
        action: &str,
        note: Option<String>,
    ) -> Result<ReportView> {
        let note = check_note("note", note)?;
        let action = match action {
            "dismiss" => ModAction::Dismiss,
            "remove_content" => ModAction::RemoveContent,
            "suspend" => ModAction::Suspend,
            "silence" => ModAction::Silence,
            _ => {
                return Err(Error::field(
                    "action",
                    "must be dismiss, remove_content, suspend or silence",
                ));
            }
        };
        let staff = self.staff(me).await?;
        let report = self.ports.moderation.report(id).await?;
        if report.resolution.is_some() {
            return Err(Error::Conflict {
                code: "already_resolved",
                message: "this report was already resolved".into(),
                field: None,
            });
        }
        match action {
            ModAction::RemoveContent if report.target_type == TargetType::User => {
                return Err(Error::unprocessable(
                    "nothing_to_remove",
                    "a report of a user has no content to remove",
                ));
            }
            ModAction::Suspend | ModAction::Silence => {
                let target_id = report
                    .target_user_id
                    .ok_or_else(|| Error::not_found("user"))?;
                let target = self.ports.users.user_by_id(target_id).await?;
                self.may_act_on(&staff, &target).await?;
            }
            _ => {}
        }
        // Claim the report first: of two moderators acting at once, one wins.
        let resolution = Resolution {
            action,
            note: note.clone(),
            moderator: Some(me),
            resolved_at: Timestamp::now(),
        };
        let audit = self.audit_record(me, action, "report", id.to_string(), &note);
        let report = self
            .ports
            .moderation
            .resolve_report(id, &resolution, &audit)
            .await?;
        match action {
            ModAction::RemoveContent => self.remove_content(&report).await?,
            ModAction::Suspend | ModAction::Silence => {
                if let Some(target) = report.target_user_id {
                    self.apply(target, action).await?;
                }
            }
            _ => {}
        }
        self.view(me, report).await
    }

    async fn remove_content(&self, r: &ReportRecord) -> Result<()> {
        let gone = |e: Error| match e {
            // Already gone: nothing left to remove.
            Error::NotFound { .. } => Ok(()),
            e => Err(e),
        };
        let done = match r.target_type {
            TargetType::User => Ok(()),
            TargetType::Post => {
                let id = PostId::from_i64(r.target_id);
                match self.live_post(id).await {
                    Ok(p) => self.deps.posts.delete(p.author_id, id).await,
                    Err(e) => Err(e),
                }
            }
            TargetType::Comment => {
                let id = CommentId::from_i64(r.target_id);
                match self.live_comment(id).await {
                    Ok(c) => self.deps.posts.delete_comment(c.author_id, id).await,
                    Err(e) => Err(e),
                }
            }
            TargetType::Message => {
                let id = MessageId::from_i64(r.target_id);
                match self.live_message(id).await {
                    Ok(_) => self.deps.chat.remove_any(&[id]).await,
                    Err(e) => Err(e),
                }
            }
        };
        done.or_else(gone)
    }

    pub async fn audit_log(
        &self,
        me: UserId,
        before: Option<AuditId>,
        limit: Limit,
    ) -> Result<Page<AuditView, AuditId>> {
        self.staff(me).await?;
        let mut rows = self
            .ports
            .moderation
            .audit_log(before, limit.fetch())
            .await?;
        let next = limit.cut(&mut rows, |r| r.id);
        let ids: Vec<UserId> = rows.iter().filter_map(|r| r.moderator_id).collect();
        let users = self.deps.users.records(&ids).await?;
        let items = rows
            .into_iter()
            .map(|record| {
                // None once the moderator's account is deleted.
                let moderator = record.moderator_id.and_then(|m| users.get(&m).cloned());
                AuditView { record, moderator }
            })
            .collect();
        Ok(Page { items, next })
    }

    // ---- invites ----

    pub async fn create_invite(
        &self,
        me: UserId,
        max_uses: Option<i64>,
        expires_in_hours: Option<i64>,
    ) -> Result<InviteView> {
        let mut errs = starling_core::error::FieldErrors::new();
        let max_uses = max_uses.unwrap_or(1);
        if !(1..=1000).contains(&max_uses) {
            errs.check::<()>(
                "maxUses",
                Err(Error::field("maxUses", "must be between 1 and 1000")),
            );
        }
        let hours = expires_in_hours.unwrap_or(168);
        if !(1..=8760).contains(&hours) {
            errs.check::<()>(
                "expiresInHours",
                Err(Error::field("expiresInHours", "must be between 1 and 8760")),
            );
        }
        errs.finish()?;
        let staff = self.staff(me).await?;
        self.deps
            .limits
            .check(crate::limits::Action::Invite, &me.to_string())
            .await?;
        let mut raw = [0u8; 12];
        rand::rng().fill_bytes(&mut raw);
        let code: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let now = Timestamp::now();
        let record = InviteRecord {
            id: InviteId(self.deps.ids.next()),
            code,
            created_by: me,
            max_uses,
            uses: 0,
            expires_at: Timestamp(now.0 + hours * 3600 * 1000),
            created_at: now,
        };
        self.ports.moderation.create_invite(&record).await?;
        self.audit(
            me,
            ModAction::CreateInvite,
            "invite",
            record.code.clone(),
            "",
        )
        .await?;
        Ok(InviteView {
            record,
            created_by: staff,
        })
    }

    pub async fn invites(
        &self,
        me: UserId,
        before: Option<InviteId>,
        limit: Limit,
    ) -> Result<Page<InviteView, InviteId>> {
        self.staff(me).await?;
        let mut rows = self.ports.moderation.invites(before, limit.fetch()).await?;
        let next = limit.cut(&mut rows, |r| r.id);
        let ids: Vec<UserId> = rows.iter().map(|r| r.created_by).collect();
        let users = self.deps.users.records(&ids).await?;
        let items = rows
            .into_iter()
            .filter_map(|record| {
                let created_by = users.get(&record.created_by)?.clone();
                Some(InviteView { record, created_by })
            })
            .collect();
        Ok(Page { items, next })
    }

    pub async fn revoke_invite(&self, me: UserId, code: &str) -> Result<()> {
        self.staff(me).await?;
        if code.len() > 64 || !self.ports.moderation.delete_invite(code).await? {
            return Err(Error::not_found("invite"));
        }
        self.audit(me, ModAction::RevokeInvite, "invite", code.to_owned(), "")
            .await
    }

    // ---- registrations ----

    pub async fn registrations(
        &self,
        me: UserId,
        before: Option<UserId>,
        limit: Limit,
    ) -> Result<Page<UserRecord, UserId>> {
        self.users(me, "", "pending", before, limit).await
    }

    /// Lets a pending account in; it hears so by mail.
    pub async fn approve(&self, me: UserId, id: UserId) -> Result<UserRecord> {
        self.staff(me).await?;
        let target = self.ports.users.user_by_id(id).await?;
        if !target.is_pending() {
            return Err(Error::not_found("registration"));
        }
        let event = self
            .deps
            .outbox
            .event(&DomainEvent::UserApproved { user: id })?;
        let r = self.ports.moderation.approve_user(id, &event).await;
        self.deps.users.invalidate(&[id]).await;
        let r = r?;
        self.deps.outbox.committed();
        self.audit(me, ModAction::Approve, "user", id.to_string(), "")
            .await?;
        Ok(r)
    }

    /// Turns a pending account away: it is deleted.
    pub async fn reject(&self, me: UserId, id: UserId) -> Result<()> {
        self.staff(me).await?;
        let target = self.ports.users.user_by_id(id).await?;
        if !target.is_pending() {
            return Err(Error::not_found("registration"));
        }
        let r = self.ports.moderation.delete_user(id).await;
        self.deps.users.invalidate(&[id]).await;
        r?;
        self.audit(
            me,
            ModAction::Reject,
            "user",
            id.to_string(),
            &target.username,
        )
        .await
    }

    /// Spends one use of an invite; a validation error on `inviteCode` when
    /// it is missing, unknown, expired or used up.
    async fn use_invite(&self, code: &str) -> Result<()> {
        if code.is_empty() {
            return Err(Error::field("inviteCode", "an invite code is required"));
        }
        if code.len() > 64
            || !self
                .ports
                .moderation
                .use_invite(code, Timestamp::now())
                .await?
        {
            return Err(Error::field("inviteCode", "is unknown, expired or used up"));
        }
        Ok(())
    }
}

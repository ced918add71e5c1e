//! Moderation and registration: /api/admin (accounts, roles, reports, the
//! audit log, registrations), /api/reports, /api/invites, /api/instance.
//! The service checks the caller's role (moderator or admin) on each call.

use axum::extract::State;
use axum::http::StatusCode;
use starling_core::moderation::ModAction;
use starling_core::{AuditId, InviteId, ReportId, UserId};
use starling_services::moderation::NewReportInput;

use crate::dto::{
    AdminReport, AdminReportPage, AdminUser, AdminUserPage, AdminUserParams, AuditEntry, AuditPage,
    CreateInviteRequest, CreateReportRequest, Instance, InstanceLimits, Invite, InvitePage,
    ModerationNoteRequest, PageParams, Report, ReportParams, ResolveReportRequest, SetRoleRequest,
};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthUser, Json, OptionalJson, Path, Query};
use crate::paging;
use crate::state::AppState;

type JsonAdminUser = axum::Json<AdminUser>;

/// One account, as moderators see it (moderators, admins).
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn admin_get_user(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonAdminUser> {
    let r = st.services.moderation.user(me, id).await?;
    Ok(axum::Json(AdminUser::from_record(&r)))
}

/// Accounts, newest first, filtered by text and standing (moderators, admins).
#[utoipa::path(get, path = "/api/admin/users", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(AdminUserParams),
    responses(
        (status = 200, body = AdminUserPage),
        (status = 400, description = "Bad status, limit or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
    ))]
pub async fn admin_list_users(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<AdminUserParams>,
) -> ApiResult<axum::Json<AdminUserPage>> {
    let (before, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .moderation
        .users(me, &p.q, &p.status, before, limit)
        .await?;
    Ok(axum::Json(AdminUserPage::from_page(&page)))
}

/// Change an account's role (admins only). Takes effect at once.
#[utoipa::path(put, path = "/api/admin/users/{id}/role", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    request_body = SetRoleRequest,
    responses(
        (status = 200, body = AdminUser),
        (status = 400, description = "Unknown role (field `role`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`last_admin`: the last admin cannot step down", body = ErrorBody),
    ))]
pub async fn set_role(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
    Json(req): Json<SetRoleRequest>,
) -> ApiResult<JsonAdminUser> {
    let r = st.services.moderation.set_role(me, id, &req.role).await?;
    Ok(axum::Json(AdminUser::from_record(&r)))
}

async fn act(
    st: &AppState,
    me: UserId,
    id: UserId,
    action: ModAction,
    body: Option<ModerationNoteRequest>,
) -> ApiResult<JsonAdminUser> {
    let note = body.and_then(|b| b.note);
    let r = st
        .services
        .moderation
        .act_on_user(me, id, action, note)
        .await?;
    Ok(axum::Json(AdminUser::from_record(&r)))
}

/// Suspend an account: it cannot sign in, every session ends at once, and
/// its content disappears for everyone (moderators, admins; moderators
/// cannot act on moderators or admins).
#[utoipa::path(post, path = "/api/admin/users/{id}/suspend", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<ModerationNoteRequest>, description = "Optional"),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not allowed to act on this account", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn suspend_user(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
    OptionalJson(body): OptionalJson<ModerationNoteRequest>,
) -> ApiResult<JsonAdminUser> {
    act(&st, me, id, ModAction::Suspend, body).await
}

/// Lift a suspension: the account and its content are back.
#[utoipa::path(post, path = "/api/admin/users/{id}/unsuspend", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<ModerationNoteRequest>, description = "Optional"),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not allowed to act on this account", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn unsuspend_user(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
    OptionalJson(body): OptionalJson<ModerationNoteRequest>,
) -> ApiResult<JsonAdminUser> {
    act(&st, me, id, ModAction::Unsuspend, body).await
}

/// Silence an account: left out of the public feed, tag feeds and search;
/// followers still see it.
#[utoipa::path(post, path = "/api/admin/users/{id}/silence", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<ModerationNoteRequest>, description = "Optional"),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not allowed to act on this account", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn silence_user(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
    OptionalJson(body): OptionalJson<ModerationNoteRequest>,
) -> ApiResult<JsonAdminUser> {
    act(&st, me, id, ModAction::Silence, body).await
}

/// Lift a silence.
#[utoipa::path(post, path = "/api/admin/users/{id}/unsilence", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<ModerationNoteRequest>, description = "Optional"),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not allowed to act on this account", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn unsilence_user(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
    OptionalJson(body): OptionalJson<ModerationNoteRequest>,
) -> ApiResult<JsonAdminUser> {
    act(&st, me, id, ModAction::Unsilence, body).await
}

/// Report a user, post, comment or chat message to the moderators.
#[utoipa::path(post, path = "/api/reports", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    request_body = CreateReportRequest,
    responses(
        (status = 201, body = Report),
        (status = 400, description = "Bad target type, id, reason or comment", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such target (a message: not in one of your rooms)", body = ErrorBody),
        (status = 422, description = "`cannot_report_self`", body = ErrorBody),
    ))]
pub async fn create_report(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Json(req): Json<CreateReportRequest>,
) -> ApiResult<(StatusCode, axum::Json<Report>)> {
    let r = st
        .services
        .moderation
        .report(
            me,
            NewReportInput {
                target_type: req.target_type,
                target_id: req.target_id,
                reason: req.reason,
                comment: req.comment,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(Report::from_record(&r))))
}

/// The report queue: open reports oldest first, or resolved ones newest
/// first (moderators, admins).
#[utoipa::path(get, path = "/api/admin/reports", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(ReportParams),
    responses(
        (status = 200, body = AdminReportPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
    ))]
pub async fn list_reports(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<ReportParams>,
) -> ApiResult<axum::Json<AdminReportPage>> {
    let (after, limit) = paging::query::<ReportId>(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .moderation
        .reports(me, &p.status, after, limit)
        .await?;
    let url = &st.config.public_url;
    Ok(axum::Json(AdminReportPage {
        items: page
            .items
            .iter()
            .map(|r| AdminReport::from_view(r, url))
            .collect(),
        next_cursor: paging::next_cursor(&page.next),
    }))
}

/// One report with what it is about (moderators, admins).
#[utoipa::path(get, path = "/api/admin/reports/{id}", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = AdminReport),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_report(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<ReportId>,
) -> ApiResult<axum::Json<AdminReport>> {
    let v = st.services.moderation.get_report(me, id).await?;
    Ok(axum::Json(AdminReport::from_view(
        &v,
        &st.config.public_url,
    )))
}

/// Resolve a report: dismiss it, remove the content, or suspend or silence
/// the reported account (moderators, admins).
#[utoipa::path(post, path = "/api/admin/reports/{id}/resolve", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    request_body = ResolveReportRequest,
    responses(
        (status = 200, body = AdminReport),
        (status = 400, description = "Bad action or note", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin, or not allowed to act on the account", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`already_resolved`", body = ErrorBody),
        (status = 422, description = "`nothing_to_remove`: a user report has no content", body = ErrorBody),
    ))]
pub async fn resolve_report(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<ReportId>,
    Json(req): Json<ResolveReportRequest>,
) -> ApiResult<axum::Json<AdminReport>> {
    let v = st
        .services
        .moderation
        .resolve(me, id, &req.action, req.note)
        .await?;
    Ok(axum::Json(AdminReport::from_view(
        &v,
        &st.config.public_url,
    )))
}

/// What moderators did, newest first (moderators, admins).
#[utoipa::path(get, path = "/api/admin/audit", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(PageParams),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
    ))]
pub async fn audit_log(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<AuditPage>> {
    let (before, limit) = paging::query::<AuditId>(p.cursor.as_deref(), p.limit)?;
    let page = st.services.moderation.audit_log(me, before, limit).await?;
    let url = &st.config.public_url;
    Ok(axum::Json(AuditPage {
        items: page
            .items
            .iter()
            .map(|a| AuditEntry::from_view(a, url))
            .collect(),
        next_cursor: paging::next_cursor(&page.next),
    }))
}

/// Registrations waiting for approval, newest first (moderators, admins).
#[utoipa::path(get, path = "/api/admin/registrations", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(PageParams),
    responses(
        (status = 200, body = AdminUserPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
    ))]
pub async fn list_registrations(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<AdminUserPage>> {
    let (before, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .moderation
        .registrations(me, before, limit)
        .await?;
    Ok(axum::Json(AdminUserPage::from_page(&page)))
}

/// Approve a pending registration: the account can sign in, and hears so by mail.
#[utoipa::path(post, path = "/api/admin/registrations/{id}/approve", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
        (status = 404, description = "No such pending registration", body = ErrorBody),
    ))]
pub async fn approve_registration(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<JsonAdminUser> {
    let r = st.services.moderation.approve(me, id).await?;
    Ok(axum::Json(AdminUser::from_record(&r)))
}

/// Reject a pending registration: the account is deleted.
#[utoipa::path(post, path = "/api/admin/registrations/{id}/reject", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Rejected and deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
        (status = 404, description = "No such pending registration", body = ErrorBody),
    ))]
pub async fn reject_registration(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<StatusCode> {
    st.services.moderation.reject(me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an invite code (moderators, admins).
#[utoipa::path(post, path = "/api/invites", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    request_body(content = Option<CreateInviteRequest>, description = "Optional"),
    responses(
        (status = 201, body = Invite),
        (status = 400, description = "`maxUses` or `expiresInHours` out of range", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
    ))]
pub async fn create_invite(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    OptionalJson(body): OptionalJson<CreateInviteRequest>,
) -> ApiResult<(StatusCode, axum::Json<Invite>)> {
    let body = body.unwrap_or_default();
    let v = st
        .services
        .moderation
        .create_invite(me, body.max_uses, body.expires_in_hours)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Invite::from_view(&v, &st.config.public_url)),
    ))
}

/// Every invite, newest first (moderators, admins).
#[utoipa::path(get, path = "/api/invites", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(PageParams),
    responses(
        (status = 200, body = InvitePage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
    ))]
pub async fn list_invites(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<InvitePage>> {
    let (before, limit) = paging::query::<InviteId>(p.cursor.as_deref(), p.limit)?;
    let page = st.services.moderation.invites(me, before, limit).await?;
    let url = &st.config.public_url;
    Ok(axum::Json(InvitePage {
        items: page
            .items
            .iter()
            .map(|i| Invite::from_view(i, url))
            .collect(),
        next_cursor: paging::next_cursor(&page.next),
    }))
}

/// Revoke an invite (moderators, admins).
#[utoipa::path(delete, path = "/api/invites/{code}", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("code" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a moderator or admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn revoke_invite(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(code): Path<String>,
) -> ApiResult<StatusCode> {
    st.services.moderation.revoke_invite(me, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How this instance registers accounts, and its limits (public).
#[utoipa::path(get, path = "/api/instance", tag = "moderation",
    security(()),
    responses((status = 200, body = Instance)))]
pub async fn instance(State(st): State<AppState>) -> axum::Json<Instance> {
    let s = &st.services;
    axum::Json(Instance {
        registration_mode: s.moderation.registration_mode().as_str().to_owned(),
        require_email_verification: s.accounts.settings().require_email_verification,
        limits: InstanceLimits {
            post_max_chars: starling_services::posts::POST_MAX_CHARS,
            comment_max_chars: starling_services::posts::COMMENT_MAX_CHARS,
            media_max_bytes: s.media.max_bytes(),
            avatar_max_bytes: s.users.avatar_max_bytes(),
            media_per_post: starling_services::media::MAX_MEDIA_PER_POST,
        },
    })
}

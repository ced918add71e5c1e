//! Moderation: roles and standing on users, reports, the audit log, invites.

use async_trait::async_trait;
use starling_core::messaging::Envelope;
use starling_core::model::{Role, UserRecord};
use starling_core::moderation::{
    AuditRecord, InviteRecord, ModAction, ModerationStore, ReportReason, ReportRecord, Resolution,
    Standing, TargetType, UserStatus,
};
use starling_core::{AuditId, Error, InviteId, ReportId, Result, Timestamp, UserId};

use crate::users::{USER_COLUMNS, UserRow};
use crate::{SqlStore, db_err};

const REPORT_COLUMNS: &str = "id, reporter_id, target_type, target_id, target_user_id, reason, \
     comment, created_at, resolved_at, resolved_by, action, note";

struct ReportRow {
    id: i64,
    reporter_id: i64,
    target_type: String,
    target_id: i64,
    target_user_id: Option<i64>,
    reason: String,
    comment: String,
    created_at: i64,
    resolved_at: Option<i64>,
    resolved_by: Option<i64>,
    action: Option<String>,
    note: Option<String>,
}

crate::db::from_row!(ReportRow {
    id,
    reporter_id,
    target_type,
    target_id,
    target_user_id,
    reason,
    comment,
    created_at,
    resolved_at,
    resolved_by,
    action,
    note
});

fn unknown(what: &str, v: &str) -> Error {
    Error::Internal(anyhow::anyhow!("unknown {what} {v:?} in the database"))
}

impl TryFrom<ReportRow> for ReportRecord {
    type Error = Error;
    fn try_from(r: ReportRow) -> Result<Self> {
        let resolution = match (r.resolved_at, r.action) {
            (Some(at), Some(action)) => Some(Resolution {
                action: ModAction::parse(&action).ok_or_else(|| unknown("action", &action))?,
                note: r.note.unwrap_or_default(),
                moderator: r.resolved_by.map(UserId::from_i64),
                resolved_at: Timestamp(at),
            }),
            _ => None,
        };
        Ok(ReportRecord {
            id: ReportId::from_i64(r.id),
            reporter_id: UserId::from_i64(r.reporter_id),
            target_type: TargetType::parse(&r.target_type)
                .ok_or_else(|| unknown("target type", &r.target_type))?,
            target_id: r.target_id,
            target_user_id: r.target_user_id.map(UserId::from_i64),
            reason: ReportReason::parse(&r.reason).ok_or_else(|| unknown("reason", &r.reason))?,
            comment: r.comment,
            created_at: Timestamp(r.created_at),
            resolution,
        })
    }
}

struct AuditRow {
    id: i64,
    moderator_id: Option<i64>,
    action: String,
    target_type: String,
    target_id: String,
    note: String,
    created_at: i64,
}

crate::db::from_row!(AuditRow {
    id,
    moderator_id,
    action,
    target_type,
    target_id,
    note,
    created_at
});

struct InviteRow {
    id: i64,
    code: String,
    created_by: i64,
    max_uses: i64,
    uses: i64,
    expires_at: i64,
    created_at: i64,
}

crate::db::from_row!(InviteRow {
    id,
    code,
    created_by,
    max_uses,
    uses,
    expires_at,
    created_at
});

impl From<InviteRow> for InviteRecord {
    fn from(r: InviteRow) -> Self {
        InviteRecord {
            id: InviteId::from_i64(r.id),
            code: r.code,
            created_by: UserId::from_i64(r.created_by),
            max_uses: r.max_uses,
            uses: r.uses,
            expires_at: Timestamp(r.expires_at),
            created_at: Timestamp(r.created_at),
        }
    }
}

/// Escapes LIKE wildcards so user input matches literally (with `ESCAPE '\'`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn user_in(tx: &mut crate::db::Tx, id: UserId) -> Result<UserRecord> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
    crate::db::query_as::<UserRow>(sql)
        .bind(id.get())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(Into::into)
        .ok_or_else(|| Error::not_found("user"))
}

async fn audit_in(tx: &mut crate::db::Tx, e: &AuditRecord) -> Result<()> {
    crate::db::query(
        "INSERT INTO audit_log (id, moderator_id, action, target_type, target_id, note, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.id.get())
    .bind(e.moderator_id.map(|m| m.get()))
    .bind(e.action.as_str())
    .bind(e.target_type.as_str())
    .bind(e.target_id.as_str())
    .bind(e.note.as_str())
    .bind(e.created_at.millis())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl ModerationStore for SqlStore {
    async fn set_role(&self, user: UserId, role: Role) -> Result<UserRecord> {
        let mut tx = self.begin().await?;
        let admins_before: i64 =
            crate::db::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        // Write first (see SqlStore docs): SQLite takes the write lock up front.
        let updated = crate::db::query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
            .bind(user.get())
            .bind(role.as_str())
            .bind(Timestamp::now().millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if updated == 0 {
            return Err(Error::not_found("user"));
        }
        let admins: i64 =
            crate::db::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        if admins_before > 0 && admins == 0 {
            return Err(Error::Conflict {
                code: "last_admin",
                message: "the last admin cannot give up the role; make someone else admin first"
                    .into(),
                field: Some("role"),
            });
        }
        let record = user_in(&mut tx, user).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn set_standing(
        &self,
        user: UserId,
        standing: Standing,
        at: Option<Timestamp>,
    ) -> Result<UserRecord> {
        let column = match standing {
            Standing::Suspended => "suspended_at",
            Standing::Silenced => "silenced_at",
            Standing::Pending => "pending_at",
        };
        let mut tx = self.begin().await?;
        // Setting keeps the first time; lifting clears it.
        let sql = format!(
            "UPDATE users SET {column} = CASE WHEN $2 IS NULL THEN NULL ELSE COALESCE({column}, $2) END,
                 updated_at = $3
             WHERE id = $1"
        );
        let updated = crate::db::query(sql)
            .bind(user.get())
            .bind(at.map(|t| t.millis()))
            .bind(Timestamp::now().millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if updated == 0 {
            return Err(Error::not_found("user"));
        }
        let record = user_in(&mut tx, user).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn staff_ids(&self) -> Result<Vec<UserId>> {
        let ids: Vec<i64> = crate::db::query_scalar(
            "SELECT id FROM users WHERE role IN ('moderator', 'admin') ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(ids.into_iter().map(UserId::from_i64).collect())
    }

    async fn admin_users(
        &self,
        query: &str,
        status: UserStatus,
        before: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserRecord>> {
        let anywhere = format!("%{}%", like_escape(&query.to_lowercase()));
        let status_cond = match status {
            UserStatus::All => "",
            UserStatus::Suspended => "AND u.suspended_at IS NOT NULL",
            UserStatus::Silenced => "AND u.silenced_at IS NOT NULL",
            UserStatus::Pending => "AND u.pending_at IS NOT NULL",
        };
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u
             WHERE u.id < $1 {status_cond}
               AND ($2 = '%%' OR u.username LIKE $2 ESCAPE '\\' OR u.email LIKE $2 ESCAPE '\\'
                    OR lower(COALESCE(u.display_name, '')) LIKE $2 ESCAPE '\\')
             ORDER BY u.id DESC LIMIT $3"
        );
        let rows = crate::db::query_as::<UserRow>(sql)
            .bind(before.map_or(i64::MAX, UserId::get))
            .bind(anywhere)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn approve_user(&self, user: UserId, event: &Envelope) -> Result<UserRecord> {
        let mut tx = self.begin().await?;
        let updated = crate::db::query(
            "UPDATE users SET pending_at = NULL, updated_at = $2
             WHERE id = $1 AND pending_at IS NOT NULL",
        )
        .bind(user.get())
        .bind(Timestamp::now().millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if updated == 0 {
            return Err(Error::not_found("registration"));
        }
        crate::outbox::write_event(&mut tx, event).await?;
        let record = user_in(&mut tx, user).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn release_invite(&self, code: &str) -> Result<()> {
        crate::db::query("UPDATE invites SET uses = uses - 1 WHERE code = $1 AND uses > 0")
            .bind(code)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_user(&self, user: UserId) -> Result<()> {
        let deleted = crate::db::query("DELETE FROM users WHERE id = $1")
            .bind(user.get())
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found("user"));
        }
        Ok(())
    }

    async fn create_report(&self, r: &ReportRecord, event: &Envelope) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::db::query(
            "INSERT INTO reports (id, reporter_id, target_type, target_id, target_user_id, reason,
                 comment, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(r.id.get())
        .bind(r.reporter_id.get())
        .bind(r.target_type.as_str())
        .bind(r.target_id)
        .bind(r.target_user_id.map(UserId::get))
        .bind(r.reason.as_str())
        .bind(r.comment.as_str())
        .bind(r.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        crate::outbox::write_event(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn report(&self, id: ReportId) -> Result<ReportRecord> {
        let sql = format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1");
        crate::db::query_as::<ReportRow>(sql)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found("report"))?
            .try_into()
    }

    async fn reports(
        &self,
        resolved: bool,
        after: Option<ReportId>,
        limit: u32,
    ) -> Result<Vec<ReportRecord>> {
        let sql = if resolved {
            // Newest resolved first; ids tie-break within one millisecond.
            format!(
                "SELECT {REPORT_COLUMNS} FROM reports
                 WHERE resolved_at IS NOT NULL AND id < $1
                 ORDER BY id DESC LIMIT $2"
            )
        } else {
            format!(
                "SELECT {REPORT_COLUMNS} FROM reports
                 WHERE resolved_at IS NULL AND id > $1
                 ORDER BY id LIMIT $2"
            )
        };
        let start = match (after, resolved) {
            (Some(a), _) => a.get(),
            (None, true) => i64::MAX,
            (None, false) => 0,
        };
        let rows = crate::db::query_as::<ReportRow>(sql)
            .bind(start)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn resolve_report(
        &self,
        id: ReportId,
        res: &Resolution,
        audit: &AuditRecord,
    ) -> Result<ReportRecord> {
        let mut tx = self.begin().await?;
        let updated = crate::db::query(
            "UPDATE reports SET resolved_at = $2, resolved_by = $3, action = $4, note = $5
             WHERE id = $1 AND resolved_at IS NULL",
        )
        .bind(id.get())
        .bind(res.resolved_at.millis())
        .bind(res.moderator.map(|m| m.get()))
        .bind(res.action.as_str())
        .bind(res.note.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let sql = format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1");
        let row = crate::db::query_as::<ReportRow>(sql)
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found("report"))?;
        if updated == 0 {
            return Err(Error::Conflict {
                code: "already_resolved",
                message: "this report was already resolved".into(),
                field: None,
            });
        }
        audit_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        row.try_into()
    }

    async fn insert_audit(&self, entry: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        audit_in(&mut tx, entry).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn audit_log(&self, before: Option<AuditId>, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = crate::db::query_as::<AuditRow>(
            "SELECT id, moderator_id, action, target_type, target_id, note, created_at
             FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.map_or(i64::MAX, AuditId::get))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: AuditId::from_i64(r.id),
                    moderator_id: r.moderator_id.map(UserId::from_i64),
                    action: ModAction::parse(&r.action)
                        .ok_or_else(|| unknown("action", &r.action))?,
                    target_type: r.target_type,
                    target_id: r.target_id,
                    note: r.note,
                    created_at: Timestamp(r.created_at),
                })
            })
            .collect()
    }

    async fn create_invite(&self, i: &InviteRecord) -> Result<()> {
        crate::db::query(
            "INSERT INTO invites (id, code, created_by, max_uses, uses, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(i.id.get())
        .bind(i.code.as_str())
        .bind(i.created_by.get())
        .bind(i.max_uses)
        .bind(i.uses)
        .bind(i.expires_at.millis())
        .bind(i.created_at.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn invites(&self, before: Option<InviteId>, limit: u32) -> Result<Vec<InviteRecord>> {
        let rows = crate::db::query_as::<InviteRow>(
            "SELECT id, code, created_by, max_uses, uses, expires_at, created_at
             FROM invites WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.map_or(i64::MAX, InviteId::get))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_invite(&self, code: &str) -> Result<bool> {
        Ok(crate::db::query("DELETE FROM invites WHERE code = $1")
            .bind(code)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected()
            > 0)
    }

    async fn use_invite(&self, code: &str, now: Timestamp) -> Result<bool> {
        Ok(crate::db::query(
            "UPDATE invites SET uses = uses + 1
             WHERE code = $1 AND uses < max_uses AND expires_at > $2",
        )
        .bind(code)
        .bind(now.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0)
    }
}

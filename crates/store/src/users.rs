use async_trait::async_trait;
use starling_core::model::{Credentials, NewUser, ProfilePatch, Role, SearchPosition, UserRecord};
use starling_core::ports::UserStore;
use starling_core::{Error, Result, Timestamp, UserId};

use crate::error::violation_detail;
use crate::{SqlStore, db_err, placeholders};

pub(crate) const USER_COLUMNS: &str = "u.id, u.username, u.email, u.display_name, u.bio, \
     u.avatar_key, u.follower_count, u.following_count, u.created_at, u.role, u.suspended_at, \
     u.silenced_at, u.pending_at, u.email_verified_at";

/// The same columns unqualified, for `RETURNING` (SQLite cannot name an alias there).
const RETURNING_COLUMNS: &str = "id, username, email, display_name, bio, \
     avatar_key, follower_count, following_count, created_at, role, suspended_at, \
     silenced_at, pending_at, email_verified_at";

pub(crate) struct UserRow {
    id: i64,
    username: String,
    email: String,
    display_name: Option<String>,
    bio: String,
    avatar_key: Option<String>,
    follower_count: i64,
    following_count: i64,
    created_at: i64,
    role: String,
    suspended_at: Option<i64>,
    silenced_at: Option<i64>,
    pending_at: Option<i64>,
    email_verified_at: Option<i64>,
}

crate::db::from_row!(UserRow {
    id,
    username,
    email,
    display_name,
    bio,
    avatar_key,
    follower_count,
    following_count,
    created_at,
    role,
    suspended_at,
    silenced_at,
    pending_at,
    email_verified_at
});

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        UserRecord {
            id: UserId::from_i64(r.id),
            username: r.username,
            email: r.email,
            display_name: r.display_name,
            bio: r.bio,
            avatar_key: r.avatar_key,
            follower_count: r.follower_count,
            following_count: r.following_count,
            created_at: Timestamp(r.created_at),
            // An unknown role (a newer binary's) grants nothing.
            role: Role::parse(&r.role).unwrap_or_default(),
            suspended_at: r.suspended_at.map(Timestamp),
            silenced_at: r.silenced_at.map(Timestamp),
            pending_at: r.pending_at.map(Timestamp),
            email_verified_at: r.email_verified_at.map(Timestamp),
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

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, u: NewUser) -> Result<UserRecord> {
        let sql = format!(
            "INSERT INTO users (id, username, email, password_hash, display_name, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {RETURNING_COLUMNS}"
        );
        let mut tx = self.begin().await?;
        let user: UserRecord = crate::db::query_as::<UserRow>(sql)
            .bind(u.id.get())
            .bind(u.username.as_str())
            .bind(u.email.as_str())
            .bind(&u.password_hash)
            .bind(u.display_name.as_deref())
            .bind(u.created_at.millis())
            .fetch_one(&mut *tx)
            .await
            .map(Into::into)
            .map_err(|e| match db_err_keep(&e) {
                Some(detail) if detail.contains("email") => Error::Conflict {
                    code: "email_taken",
                    message: "that email address is already registered".into(),
                    field: Some("email"),
                },
                Some(_) => Error::Conflict {
                    code: "username_taken",
                    message: "that username is taken".into(),
                    field: Some("username"),
                },
                None => db_err(e),
            })?;
        crate::outbox::write_event(&mut tx, &u.event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(user)
    }

    async fn user_by_id(&self, id: UserId) -> Result<UserRecord> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL");
        crate::db::query_as::<UserRow>(sql)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(Into::into)
            .ok_or_else(|| Error::not_found("user"))
    }

    async fn user_by_username(&self, username: &str) -> Result<UserRecord> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1 AND u.deleted_at IS NULL"
        );
        crate::db::query_as::<UserRow>(sql)
            .bind(username.to_ascii_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(Into::into)
            .ok_or_else(|| Error::not_found("user"))
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<UserRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.deleted_at IS NULL AND u.id IN ({})",
            placeholders(1, ids.len())
        );
        let mut q = crate::db::query_as::<UserRow>(sql);
        for id in ids {
            q = q.bind(id.get());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn any_with_followers(&self, min: i64) -> Result<bool> {
        let found: Option<i64> =
            crate::db::query_scalar("SELECT id FROM users WHERE follower_count >= $1 LIMIT 1")
                .bind(min)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(found.is_some())
    }

    async fn credentials(&self, login: &str) -> Result<Option<Credentials>> {
        let login = login.trim().to_lowercase();
        let row: Option<(i64, String)> = crate::db::query_as(
            "SELECT id, password_hash FROM users
             WHERE (username = $1 OR email = $1) AND deleted_at IS NULL LIMIT 1",
        )
        .bind(&login)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(|(id, password_hash)| Credentials {
            id: UserId::from_i64(id),
            password_hash,
        }))
    }

    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<UserRecord> {
        // COALESCE keeps a field that the patch leaves out; the flag distinguishes
        // "clear the display name" from "leave it".
        let (set_display, display) = match patch.display_name {
            Some(v) => (1_i64, v),
            None => (0, None),
        };
        let sql = format!(
            "UPDATE users SET
                 display_name = CASE WHEN $2 = 1 THEN $3 ELSE display_name END,
                 bio = COALESCE($4, bio),
                 updated_at = $5
             WHERE id = $1 RETURNING {RETURNING_COLUMNS}"
        );
        crate::db::query_as::<UserRow>(sql)
            .bind(id.get())
            .bind(set_display)
            .bind(display)
            .bind(patch.bio)
            .bind(Timestamp::now().millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(Into::into)
            .ok_or_else(|| Error::not_found("user"))
    }

    async fn set_avatar(&self, id: UserId, key: Option<&str>) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        // Write first (see SqlStore docs): SQLite takes the write lock up front.
        let updated = crate::db::query("UPDATE users SET updated_at = $2 WHERE id = $1")
            .bind(id.get())
            .bind(Timestamp::now().millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if updated == 0 {
            return Err(Error::not_found("user"));
        }
        let previous: Option<String> =
            crate::db::query_scalar("SELECT avatar_key FROM users WHERE id = $1")
                .bind(id.get())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        crate::db::query("UPDATE users SET avatar_key = $2 WHERE id = $1")
            .bind(id.get())
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(previous)
    }

    async fn set_password(&self, id: UserId, password_hash: &str, now: Timestamp) -> Result<()> {
        let updated =
            crate::db::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id.get())
                .bind(password_hash)
                .bind(now.millis())
                .execute(&self.pool)
                .await
                .map_err(db_err)?
                .rows_affected();
        if updated == 0 {
            return Err(Error::not_found("user"));
        }
        Ok(())
    }

    async fn mark_email_verified(&self, id: UserId, now: Timestamp) -> Result<()> {
        crate::db::query(
            "UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL",
        )
        .bind(id.get())
        .bind(now.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn search_users(
        &self,
        query: &str,
        after: Option<SearchPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, SearchPosition)>> {
        let escaped = like_escape(&query.to_lowercase());
        let prefix = format!("{escaped}%");
        let anywhere = format!("%{escaped}%");
        let (after_rank, after_name) = after.map_or((-1, String::new()), |p| (p.rank, p.username));
        let sql = format!(
            "SELECT * FROM (
                 SELECT {USER_COLUMNS},
                        CAST(CASE WHEN u.username LIKE $1 ESCAPE '\\'
                                    OR lower(COALESCE(u.display_name, '')) LIKE $1 ESCAPE '\\'
                                  THEN 0 ELSE 1 END AS BIGINT) AS match_rank
                 FROM users u
                 WHERE u.deleted_at IS NULL
                   AND (u.username LIKE $2 ESCAPE '\\'
                    OR lower(COALESCE(u.display_name, '')) LIKE $2 ESCAPE '\\')
             ) s
             WHERE s.match_rank > $3 OR (s.match_rank = $3 AND s.username > $4)
             ORDER BY s.match_rank, s.username
             LIMIT $5"
        );
        struct Ranked {
            user: UserRow,
            match_rank: i64,
        }
        crate::db::from_row!(Ranked {
            #[flatten]
            user,
            match_rank
        });
        let rows = crate::db::query_as::<Ranked>(sql)
            .bind(prefix)
            .bind(anywhere)
            .bind(after_rank)
            .bind(after_name)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let pos = SearchPosition {
                    rank: r.match_rank,
                    username: r.user.username.clone(),
                };
                (r.user.into(), pos)
            })
            .collect())
    }
}

/// `Some(detail)` when `e` is a unique violation.
fn db_err_keep(e: &crate::db::DbError) -> Option<String> {
    crate::error::is_unique_violation(e).then(|| violation_detail(e))
}

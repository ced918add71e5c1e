use std::collections::HashSet;

use async_trait::async_trait;
use starling_core::messaging::Envelope;
use starling_core::model::{LoveTarget, UserPosition, UserRecord};
use starling_core::ports::LoveStore;
use starling_core::{Error, Result, Timestamp, UserId};

use crate::users::{USER_COLUMNS, UserRow};
use crate::{SqlStore, db_err, placeholders};

/// The table holding the target's counter, and the condition for it being
/// live. A comment is gone with its post, as `CommentStore::comment` has it.
fn target_table(t: LoveTarget) -> (&'static str, &'static str) {
    match t {
        LoveTarget::Post(_) => ("posts", "deleted_at IS NULL"),
        LoveTarget::Comment(_) => (
            "comments",
            "deleted_at IS NULL AND EXISTS (SELECT 1 FROM posts p \
             WHERE p.id = comments.post_id AND p.deleted_at IS NULL)",
        ),
    }
}

impl SqlStore {
    async fn target_live(&self, t: LoveTarget) -> Result<()> {
        let (table, live) = target_table(t);
        let found: Option<i64> =
            crate::db::query_scalar(format!("SELECT id FROM {table} WHERE id = $1 AND {live}"))
                .bind(t.id())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        found.map(|_| ()).ok_or_else(|| {
            Error::not_found(match t {
                LoveTarget::Post(_) => "post",
                LoveTarget::Comment(_) => "comment",
            })
        })
    }

    async fn change_love(
        &self,
        t: LoveTarget,
        user: UserId,
        at: Option<(Timestamp, &Envelope)>,
    ) -> Result<bool> {
        let (table, live) = target_table(t);
        let mut tx = self.begin().await?;
        // The love row first; the counter moves only when the row did, so
        // concurrent loves and unloves keep the count exact.
        let changed = match at {
            Some((at, _)) => crate::db::query(
                "INSERT INTO loves (target_id, user_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (target_id, user_id) DO NOTHING",
            )
            .bind(t.id())
            .bind(user.get())
            .bind(at.millis()),
            None => crate::db::query("DELETE FROM loves WHERE target_id = $1 AND user_id = $2")
                .bind(t.id())
                .bind(user.get()),
        }
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if changed {
            let delta = if at.is_some() { 1_i64 } else { -1 };
            let n = crate::db::query(format!(
                "UPDATE {table} SET love_count = love_count + $2 WHERE id = $1 AND {live}"
            ))
            .bind(t.id())
            .bind(delta)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if n == 0 {
                // The target is gone: undo by not committing.
                drop(tx);
                return self.target_live(t).await.map(|()| false);
            }
            if let Some((_, event)) = at {
                crate::outbox::write_event(&mut tx, event).await?;
            }
            tx.commit().await.map_err(db_err)?;
            Ok(true)
        } else {
            drop(tx);
            self.target_live(t).await.map(|()| false)
        }
    }
}

#[async_trait]
impl LoveStore for SqlStore {
    async fn love(
        &self,
        target: LoveTarget,
        user: UserId,
        at: Timestamp,
        event: &Envelope,
    ) -> Result<bool> {
        self.change_love(target, user, Some((at, event))).await
    }

    async fn unlove(&self, target: LoveTarget, user: UserId) -> Result<bool> {
        self.change_love(target, user, None).await
    }

    async fn loved_among(&self, user: UserId, targets: &[i64]) -> Result<HashSet<i64>> {
        if targets.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = format!(
            "SELECT target_id FROM loves WHERE user_id = $1 AND target_id IN ({})",
            placeholders(2, targets.len())
        );
        let mut q = crate::db::query_scalar::<i64>(sql).bind(user.get());
        for t in targets {
            q = q.bind(*t);
        }
        Ok(q.fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .collect())
    }

    async fn loved_targets(&self, user: UserId, limit: u32) -> Result<Vec<i64>> {
        crate::db::query_scalar::<i64>("SELECT target_id FROM loves WHERE user_id = $1 LIMIT $2")
            .bind(user.get())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn lovers(
        &self,
        target: LoveTarget,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>> {
        self.target_live(target).await?;
        let (at, id) = after.map_or((i64::MAX, i64::MAX), |p| (p.at.0, p.user_id.get()));
        struct LoverRow {
            user: UserRow,
            loved_at: i64,
        }
        crate::db::from_row!(LoverRow {
            #[flatten]
            user,
            loved_at
        });
        let sql = format!(
            "SELECT {USER_COLUMNS}, l.created_at AS loved_at
             FROM loves l JOIN users u ON u.id = l.user_id
             WHERE l.target_id = $1 AND u.deleted_at IS NULL AND (l.created_at < $2 OR (l.created_at = $2 AND l.user_id < $3))
             ORDER BY l.created_at DESC, l.user_id DESC LIMIT $4"
        );
        let rows = crate::db::query_as::<LoverRow>(sql)
            .bind(target.id())
            .bind(at)
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let rec: UserRecord = r.user.into();
                let pos = UserPosition {
                    at: Timestamp(r.loved_at),
                    user_id: rec.id,
                };
                (rec, pos)
            })
            .collect())
    }
}

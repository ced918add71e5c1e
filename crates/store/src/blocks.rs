//! Blocks and mutes. A block removes the follows between the pair, both ways,
//! with the counters, in the block's own transaction.

use async_trait::async_trait;
use starling_core::model::{UserPosition, UserRecord};
use starling_core::ports::{BlockStore, Relations, RemovedFollows};
use starling_core::{Error, Result, Timestamp, UserId};

use crate::follows::{FollowRow, bump_counts};
use crate::users::USER_COLUMNS;
use crate::{SqlStore, db_err};

/// The two relation tables; never user input.
#[derive(Clone, Copy)]
enum Table {
    Blocks,
    Mutes,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Blocks => "blocks",
            Table::Mutes => "mutes",
        }
    }
}

fn target_err(e: crate::db::DbError) -> Error {
    match db_err(e) {
        Error::NotFound { .. } => Error::not_found("user"),
        other => other,
    }
}

impl SqlStore {
    async fn relate(
        &self,
        tx: &mut crate::db::Tx,
        table: Table,
        user: UserId,
        target: UserId,
        at: Timestamp,
    ) -> Result<bool> {
        let sql = format!(
            "INSERT INTO {} (user_id, target_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, target_id) DO NOTHING",
            table.name()
        );
        Ok(crate::db::query(sql)
            .bind(user.get())
            .bind(target.get())
            .bind(at.millis())
            .execute(&mut *tx)
            .await
            .map_err(target_err)?
            .rows_affected()
            == 1)
    }

    async fn unrelate(&self, table: Table, user: UserId, target: UserId) -> Result<bool> {
        self.ensure_user(target).await?;
        let sql = format!(
            "DELETE FROM {} WHERE user_id = $1 AND target_id = $2",
            table.name()
        );
        let mut tx = self.begin().await?;
        let removed = crate::db::query(sql)
            .bind(user.get())
            .bind(target.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected()
            == 1;
        tx.commit().await.map_err(db_err)?;
        Ok(removed)
    }

    async fn relation_page(
        &self,
        table: Table,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>> {
        let (at, id) = after.map_or((i64::MAX, i64::MAX), |p| (p.at.0, p.user_id.get()));
        let sql = format!(
            "SELECT {USER_COLUMNS}, r.created_at AS followed_at
             FROM {} r JOIN users u ON u.id = r.target_id
             WHERE r.user_id = $1
               AND (r.created_at < $2 OR (r.created_at = $2 AND r.target_id < $3))
             ORDER BY r.created_at DESC, r.target_id DESC
             LIMIT $4",
            table.name()
        );
        let rows = crate::db::query_as::<FollowRow>(sql)
            .bind(user.get())
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
                    at: Timestamp(r.followed_at),
                    user_id: rec.id,
                };
                (rec, pos)
            })
            .collect())
    }
}

#[async_trait]
impl BlockStore for SqlStore {
    async fn block(
        &self,
        user: UserId,
        target: UserId,
        at: Timestamp,
    ) -> Result<(bool, RemovedFollows)> {
        let mut tx = self.begin().await?;
        // The insert comes first (a write: on SQLite the transaction holds the
        // write lock already; on PostgreSQL it locks the pair's row).
        let new = self
            .relate(&mut tx, Table::Blocks, user, target, at)
            .await?;
        let mut removed = Vec::new();
        for (follower, followee) in [(user, target), (target, user)] {
            let gone =
                crate::db::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
                    .bind(follower.get())
                    .bind(followee.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected()
                    == 1;
            if gone {
                bump_counts(&mut tx, follower, followee, -1).await?;
                removed.push((follower, followee));
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok((new, removed))
    }

    async fn unblock(&self, user: UserId, target: UserId) -> Result<bool> {
        self.unrelate(Table::Blocks, user, target).await
    }

    async fn mute(&self, user: UserId, target: UserId, at: Timestamp) -> Result<bool> {
        let mut tx = self.begin().await?;
        let new = self.relate(&mut tx, Table::Mutes, user, target, at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(new)
    }

    async fn unmute(&self, user: UserId, target: UserId) -> Result<bool> {
        self.unrelate(Table::Mutes, user, target).await
    }

    async fn blocked_users(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>> {
        self.relation_page(Table::Blocks, user, after, limit).await
    }

    async fn muted_users(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>> {
        self.relation_page(Table::Mutes, user, after, limit).await
    }

    async fn relations_of(&self, user: UserId) -> Result<Relations> {
        // One round trip: kind 0 = blocking, 1 = blocked by, 2 = muting.
        let rows: Vec<(i64, i64)> = crate::db::query_as(
            "SELECT CAST(0 AS BIGINT) AS kind, target_id AS other FROM blocks WHERE user_id = $1
             UNION ALL
             SELECT CAST(1 AS BIGINT) AS kind, user_id AS other FROM blocks WHERE target_id = $1
             UNION ALL
             SELECT CAST(2 AS BIGINT) AS kind, target_id AS other FROM mutes WHERE user_id = $1",
        )
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut r = Relations::default();
        for (kind, other) in rows {
            let other = UserId::from_i64(other);
            match kind {
                0 => r.blocking.push(other),
                1 => r.blocked_by.push(other),
                _ => r.muting.push(other),
            }
        }
        Ok(r)
    }

    async fn blocked_between(&self, a: UserId, b: UserId) -> Result<bool> {
        let found: Option<i64> = crate::db::query_scalar(
            "SELECT user_id FROM blocks
             WHERE (user_id = $1 AND target_id = $2) OR (user_id = $2 AND target_id = $1)
             LIMIT 1",
        )
        .bind(a.get())
        .bind(b.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(found.is_some())
    }
}

use std::collections::HashSet;

use async_trait::async_trait;
use starling_core::messaging::Envelope;
use starling_core::model::{UserPosition, UserRecord};
use starling_core::ports::FollowStore;
use starling_core::{Error, Result, Timestamp, UserId};

use crate::users::{USER_COLUMNS, UserRow};
use crate::{SqlStore, db_err, placeholders};

pub(crate) struct FollowRow {
    pub(crate) user: UserRow,
    pub(crate) followed_at: i64,
}

crate::db::from_row!(FollowRow {
    #[flatten]
    user,
    followed_at
});

impl SqlStore {
    /// One page of a follow list. `side` is the column holding the listed users.
    async fn follow_page(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
        list_followers: bool,
    ) -> Result<Vec<(UserRecord, UserPosition)>> {
        let (me, them) = if list_followers {
            ("followee_id", "follower_id")
        } else {
            ("follower_id", "followee_id")
        };
        let (at, id) = after.map_or((i64::MAX, i64::MAX), |p| (p.at.0, p.user_id.get()));
        let sql = format!(
            "SELECT {USER_COLUMNS}, f.created_at AS followed_at
             FROM follows f JOIN users u ON u.id = f.{them}
             WHERE f.{me} = $1 AND u.deleted_at IS NULL AND (f.created_at < $2 OR (f.created_at = $2 AND f.{them} < $3))
             ORDER BY f.created_at DESC, f.{them} DESC
             LIMIT $4"
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

    pub(crate) async fn ensure_user(&self, id: UserId) -> Result<()> {
        let found: Option<i64> =
            crate::db::query_scalar("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        found.map(|_| ()).ok_or_else(|| Error::not_found("user"))
    }
}

#[async_trait]
impl FollowStore for SqlStore {
    async fn follow(
        &self,
        follower: UserId,
        followee: UserId,
        at: Timestamp,
        event: &Envelope,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        // The insert is the transaction's first statement (a write), and the
        // counters move only when it inserted, so counts stay exact under races.
        let inserted = crate::db::query(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (follower_id, followee_id) DO NOTHING",
        )
        .bind(follower.get())
        .bind(followee.get())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            Error::NotFound { .. } => Error::not_found("user"),
            other => other,
        })?
        .rows_affected()
            == 1;
        if inserted {
            bump_counts(&mut tx, follower, followee, 1).await?;
            crate::outbox::write_event(&mut tx, event).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(inserted)
    }

    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<bool> {
        self.ensure_user(followee).await?;
        let mut tx = self.begin().await?;
        let removed =
            crate::db::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
                .bind(follower.get())
                .bind(followee.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected()
                == 1;
        if removed {
            bump_counts(&mut tx, follower, followee, -1).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(removed)
    }

    async fn follower_ids(&self, user: UserId) -> Result<Vec<UserId>> {
        let ids: Vec<i64> =
            crate::db::query_scalar("SELECT follower_id FROM follows WHERE followee_id = $1")
                .bind(user.get())
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(ids.into_iter().map(UserId::from_i64).collect())
    }

    async fn followed_among(
        &self,
        viewer: UserId,
        candidates: &[UserId],
    ) -> Result<HashSet<UserId>> {
        if candidates.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = format!(
            "SELECT followee_id FROM follows WHERE follower_id = $1 AND followee_id IN ({})",
            placeholders(2, candidates.len())
        );
        let mut q = crate::db::query_scalar::<i64>(sql).bind(viewer.get());
        for c in candidates {
            q = q.bind(c.get());
        }
        let ids = q.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(ids.into_iter().map(UserId::from_i64).collect())
    }

    async fn followers(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>> {
        self.ensure_user(user).await?;
        self.follow_page(user, after, limit, true).await
    }

    async fn following(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>> {
        self.ensure_user(user).await?;
        self.follow_page(user, after, limit, false).await
    }
}

/// Moves both users' counters. The two rows are updated in id order: with
/// A following B while B follows A, opposite orders would deadlock on PostgreSQL.
pub(crate) async fn bump_counts(
    tx: &mut crate::db::Tx,
    follower: UserId,
    followee: UserId,
    delta: i64,
) -> Result<()> {
    const FOLLOWING: &str = "UPDATE users SET following_count = following_count + $2 WHERE id = $1";
    const FOLLOWERS: &str = "UPDATE users SET follower_count = follower_count + $2 WHERE id = $1";
    let mut updates = [(follower, FOLLOWING), (followee, FOLLOWERS)];
    updates.sort_by_key(|(id, _)| *id);
    for (id, sql) in updates {
        crate::db::query(sql)
            .bind(id.get())
            .bind(delta)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

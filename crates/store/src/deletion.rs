//! Account deletion: the mark, then the batches the worker removes a deleted
//! account's rows in. Every batch is one transaction that takes rows out and
//! fixes the counts they were part of together, so a batch interrupted
//! anywhere is either whole or absent, and running a step again only finds
//! what is left.

use async_trait::async_trait;
use starling_core::messaging::Envelope;
use starling_core::model::{DeletedAccount, MediaRecord, PurgeStep, Purged};
use starling_core::ports::AccountDeletionStore;
use starling_core::{Error, MediaId, PostId, Result, RoomId, Timestamp, UserId};

use crate::db::Tx;
use crate::media::{MEDIA_COLUMNS, MediaRow};
use crate::{SqlStore, db_err, placeholders};

/// Binds `ids` after whatever the statement bound before.
fn bind_all(mut q: crate::db::Query, ids: &[i64]) -> crate::db::Query {
    for id in ids {
        q = q.bind(*id);
    }
    q
}

fn ids_of<T: Copy>(ids: &[T], get: impl Fn(T) -> i64) -> Vec<i64> {
    ids.iter().map(|x| get(*x)).collect()
}

/// Deletes the notifications with these ids, and takes the unread ones off
/// their recipients' counters. Returns the recipients whose count changed.
async fn drop_notifications(tx: &mut Tx, ids: &[i64]) -> Result<Vec<UserId>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders(1, ids.len());
    let mut q = crate::db::query_scalar::<i64>(format!(
        "SELECT DISTINCT recipient_id FROM notifications WHERE read_at IS NULL AND id IN ({list})"
    ));
    for id in ids {
        q = q.bind(*id);
    }
    let recipients = q.fetch_all(&mut *tx).await.map_err(db_err)?;
    if !recipients.is_empty() {
        let q = crate::db::query(format!(
            "UPDATE notification_counters SET unread = unread - (
                 SELECT COUNT(*) FROM notifications n
                 WHERE n.recipient_id = notification_counters.user_id
                   AND n.read_at IS NULL AND n.id IN ({list}))
             WHERE user_id IN (
                 SELECT recipient_id FROM notifications n
                 WHERE n.read_at IS NULL AND n.id IN ({list}))"
        ));
        bind_all(q, ids).execute(&mut *tx).await.map_err(db_err)?;
    }
    let q = crate::db::query(format!("DELETE FROM notifications WHERE id IN ({list})"));
    bind_all(q, ids).execute(&mut *tx).await.map_err(db_err)?;
    Ok(recipients.into_iter().map(UserId::from_i64).collect())
}

/// Ids of notifications matching `cond` (which uses `$1..`), bound with `binds`.
async fn notification_ids(tx: &mut Tx, cond: &str, binds: &[i64]) -> Result<Vec<i64>> {
    let mut q =
        crate::db::query_scalar::<i64>(format!("SELECT id FROM notifications WHERE {cond}"));
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_all(&mut *tx).await.map_err(db_err)
}

impl SqlStore {
    /// A batch of the user's posts, with everything hanging off them.
    async fn purge_posts(&self, user: UserId, limit: u32) -> Result<Purged> {
        let mut tx = self.begin().await?;
        let posts: Vec<i64> = crate::db::query_scalar(
            "SELECT id FROM posts WHERE author_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(user.get())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        if posts.is_empty() {
            return Ok(Purged::default());
        }
        let list = placeholders(1, posts.len());
        let comments_of = format!("SELECT id FROM comments WHERE post_id IN ({list})");
        let notes = notification_ids(
            &mut tx,
            &format!("post_id IN ({list}) OR comment_id IN ({comments_of})"),
            &posts,
        )
        .await?;
        let recipients = drop_notifications(&mut tx, &notes).await?;
        let q = crate::db::query(format!(
            "DELETE FROM loves WHERE target_id IN ({list}) OR target_id IN ({comments_of})"
        ));
        bind_all(q, &posts)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Versions, tags, mentions, comments (and their replies), the search
        // entries and the media rows go with the post.
        let q = crate::db::query(format!("DELETE FROM posts WHERE id IN ({list})"));
        bind_all(q, &posts)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Purged {
            rows: posts.len() as u64,
            users: Vec::new(),
            posts: posts.into_iter().map(PostId::from_i64).collect(),
            recipients,
        })
    }

    /// A batch of the user's comments on others' posts. Each goes with the
    /// replies under it (a reply's parent must exist); the post's count
    /// drops by the live comments removed, the parent's replies by one.
    async fn purge_comments(&self, user: UserId, limit: u32) -> Result<Purged> {
        let mut tx = self.begin().await?;
        let comments: Vec<(i64, i64, Option<i64>)> = crate::db::query_as(
            "SELECT id, post_id, parent_id FROM comments WHERE author_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(user.get())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut purged = Purged {
            rows: comments.len() as u64,
            ..Purged::default()
        };
        for (id, post, parent) in comments {
            // Oldest first: an earlier one's removal may have taken this one.
            let subtree: Vec<(i64, Option<i64>)> = crate::db::query_as(
                "WITH RECURSIVE sub(id) AS (
                     SELECT id FROM comments WHERE id = $1
                     UNION ALL
                     SELECT c.id FROM comments c JOIN sub s ON c.parent_id = s.id)
                 SELECT c.id, c.deleted_at FROM comments c WHERE c.id IN (SELECT id FROM sub)",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            if subtree.is_empty() {
                continue;
            }
            let live = subtree.iter().filter(|(_, d)| d.is_none()).count() as i64;
            let ids: Vec<i64> = subtree.into_iter().map(|(id, _)| id).collect();
            let list = placeholders(1, ids.len());
            let notes = notification_ids(&mut tx, &format!("comment_id IN ({list})"), &ids).await?;
            purged
                .recipients
                .extend(drop_notifications(&mut tx, &notes).await?);
            let q = crate::db::query(format!("DELETE FROM loves WHERE target_id IN ({list})"));
            bind_all(q, &ids).execute(&mut *tx).await.map_err(db_err)?;
            crate::db::query("UPDATE posts SET comment_count = comment_count - $2 WHERE id = $1")
                .bind(post)
                .bind(live)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            if let Some(parent) = parent {
                crate::db::query("UPDATE comments SET reply_count = reply_count - 1 WHERE id = $1")
                    .bind(parent)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            crate::db::query("DELETE FROM comments WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            purged.posts.push(PostId::from_i64(post));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(purged)
    }

    /// A batch of the user's loves; each target's count drops by one.
    async fn purge_loves(&self, user: UserId, limit: u32) -> Result<Purged> {
        let mut tx = self.begin().await?;
        let targets: Vec<i64> = crate::db::query_scalar(
            "DELETE FROM loves WHERE user_id = $1 AND target_id IN (
                 SELECT target_id FROM loves WHERE user_id = $1 ORDER BY target_id LIMIT $2)
             RETURNING target_id",
        )
        .bind(user.get())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        if targets.is_empty() {
            return Ok(Purged::default());
        }
        let list = placeholders(1, targets.len());
        for table in ["posts", "comments"] {
            let q = crate::db::query(format!(
                "UPDATE {table} SET love_count = love_count - 1 WHERE id IN ({list})"
            ));
            bind_all(q, &targets)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Purged {
            rows: targets.len() as u64,
            posts: targets.into_iter().map(PostId::from_i64).collect(),
            ..Purged::default()
        })
    }

    /// A batch of follows each way; the other side's count drops by one.
    async fn purge_follows(&self, user: UserId, limit: u32) -> Result<Purged> {
        let mut tx = self.begin().await?;
        let mut others = Vec::new();
        for (me, them, count) in [
            ("follower_id", "followee_id", "follower_count"),
            ("followee_id", "follower_id", "following_count"),
        ] {
            let ids: Vec<i64> = crate::db::query_scalar(format!(
                "DELETE FROM follows WHERE {me} = $1 AND {them} IN (
                     SELECT {them} FROM follows WHERE {me} = $1 ORDER BY {them} LIMIT $2)
                 RETURNING {them}"
            ))
            .bind(user.get())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            if ids.is_empty() {
                continue;
            }
            let q = crate::db::query(format!(
                "UPDATE users SET {count} = {count} - 1 WHERE id IN ({})",
                placeholders(1, ids.len())
            ));
            bind_all(q, &ids).execute(&mut *tx).await.map_err(db_err)?;
            others.extend(ids);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Purged {
            rows: others.len() as u64,
            users: others.into_iter().map(UserId::from_i64).collect(),
            ..Purged::default()
        })
    }

    /// A batch of the notifications they caused or received.
    async fn purge_notifications(&self, user: UserId, limit: u32) -> Result<Purged> {
        let mut tx = self.begin().await?;
        let ids = notification_ids(
            &mut tx,
            "actor_id = $1 OR recipient_id = $1 ORDER BY id LIMIT $2",
            &[user.get(), i64::from(limit)],
        )
        .await?;
        let recipients = drop_notifications(&mut tx, &ids).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Purged {
            rows: ids.len() as u64,
            recipients: recipients.into_iter().filter(|r| *r != user).collect(),
            ..Purged::default()
        })
    }

    /// A batch of their chat messages loses its sender.
    async fn purge_messages(&self, user: UserId, limit: u32) -> Result<Purged> {
        let n = crate::db::query(
            "UPDATE chat_messages SET sender_id = NULL WHERE id IN (
                 SELECT id FROM chat_messages WHERE sender_id = $1 ORDER BY id LIMIT $2)",
        )
        .bind(user.get())
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(Purged {
            rows: n,
            ..Purged::default()
        })
    }
}

/// The username and email a deleted account holds until its row goes: no
/// valid username or address looks like it, so both are free for new accounts at once.
fn tombstone(user: UserId) -> String {
    format!("~deleted-{user}")
}

#[async_trait]
impl AccountDeletionStore for SqlStore {
    async fn mark_deleted(&self, user: UserId, at: Timestamp, event: &Envelope) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = crate::db::query(
            "UPDATE users SET deleted_at = $2, updated_at = $2, username = $3, email = $3
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(user.get())
        .bind(at.millis())
        .bind(tombstone(user))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(Error::not_found("user"));
        }
        crate::outbox::write_event(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn deleted_account(&self, user: UserId) -> Result<Option<DeletedAccount>> {
        let row: Option<(i64, Option<String>, i64)> = crate::db::query_as(
            "SELECT id, avatar_key, deleted_at FROM users WHERE id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(user.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(|(id, avatar_key, at)| DeletedAccount {
            id: UserId::from_i64(id),
            avatar_key,
            deleted_at: Timestamp(at),
        }))
    }

    async fn unfinished_deletions(&self, before: Timestamp, limit: u32) -> Result<Vec<UserId>> {
        let ids: Vec<i64> = crate::db::query_scalar(
            "SELECT id FROM users WHERE deleted_at IS NOT NULL AND deleted_at < $1
             ORDER BY deleted_at LIMIT $2",
        )
        .bind(before.millis())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(ids.into_iter().map(UserId::from_i64).collect())
    }

    async fn media_owned_by(
        &self,
        user: UserId,
        after: Option<MediaId>,
        limit: u32,
    ) -> Result<Vec<MediaRecord>> {
        let rows = crate::db::query_as::<MediaRow>(format!(
            "SELECT {MEDIA_COLUMNS} FROM media WHERE owner_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(user.get())
        .bind(after.map_or(0, MediaId::get))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_media_rows(&self, ids: &[MediaId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let q = crate::db::query(format!(
            "DELETE FROM media WHERE id IN ({})",
            placeholders(1, ids.len())
        ));
        bind_all(q, &ids_of(ids, MediaId::get))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn rooms_of_member(&self, user: UserId, limit: u32) -> Result<Vec<RoomId>> {
        let rows: Vec<i64> = crate::db::query_scalar(
            "SELECT room_id FROM chat_members WHERE user_id = $1 ORDER BY room_id LIMIT $2",
        )
        .bind(user.get())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(RoomId::from_i64).collect())
    }

    async fn forget_direct_rooms(&self, user: UserId) -> Result<()> {
        crate::db::query(
            "UPDATE chat_rooms SET direct_key = NULL
             WHERE kind = 'direct' AND (direct_key LIKE $1 OR direct_key LIKE $2)",
        )
        .bind(format!("{user}:%"))
        .bind(format!("%:{user}"))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn purge_batch(&self, user: UserId, step: PurgeStep, limit: u32) -> Result<Purged> {
        match step {
            PurgeStep::Posts => self.purge_posts(user, limit).await,
            PurgeStep::Comments => self.purge_comments(user, limit).await,
            PurgeStep::Loves => self.purge_loves(user, limit).await,
            PurgeStep::Follows => self.purge_follows(user, limit).await,
            PurgeStep::Notifications => self.purge_notifications(user, limit).await,
            PurgeStep::Messages => self.purge_messages(user, limit).await,
        }
    }

    async fn remove_user(&self, user: UserId) -> Result<Vec<UserId>> {
        let mut tx = self.begin().await?;
        // Notifications written about them since their batches ran would go
        // with the row below, leaving their recipients' counts behind.
        let late = notification_ids(&mut tx, "actor_id = $1", &[user.get()]).await?;
        let recipients = drop_notifications(&mut tx, &late).await?;
        crate::db::query("DELETE FROM users WHERE id = $1 AND deleted_at IS NOT NULL")
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(recipients.into_iter().filter(|r| *r != user).collect())
    }
}

use starling_core::model::{CommentRecord, MessageRecord, PostRecord};
use starling_core::ports::AccountExportStore;
use starling_core::{CommentId, MessageId};

use crate::chat::{MESSAGE_COLUMNS, MessageRow};
use crate::comments::{COMMENT_COLUMNS, CommentRow};
use crate::posts::{POST_COLUMNS, PostRow};

#[async_trait]
impl AccountExportStore for SqlStore {
    async fn posts_by(
        &self,
        user: UserId,
        after: Option<PostId>,
        limit: u32,
    ) -> Result<Vec<PostRecord>> {
        let rows = crate::db::query_as::<PostRow>(format!(
            "SELECT {POST_COLUMNS} FROM posts p
             WHERE p.author_id = $1 AND p.deleted_at IS NULL AND p.id > $2
             ORDER BY p.id LIMIT $3"
        ))
        .bind(user.get())
        .bind(after.map_or(0, PostId::get))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn comments_by(
        &self,
        user: UserId,
        after: Option<CommentId>,
        limit: u32,
    ) -> Result<Vec<CommentRecord>> {
        let rows = crate::db::query_as::<CommentRow>(format!(
            "SELECT {COMMENT_COLUMNS} FROM comments c JOIN posts p ON p.id = c.post_id
             WHERE c.author_id = $1 AND c.deleted_at IS NULL AND p.deleted_at IS NULL
               AND c.id > $2
             ORDER BY c.id LIMIT $3"
        ))
        .bind(user.get())
        .bind(after.map_or(0, CommentId::get))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn loves_by(
        &self,
        user: UserId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, bool, Timestamp)>> {
        let rows: Vec<(i64, i64, i64)> = crate::db::query_as(
            "SELECT l.target_id,
                    CAST(CASE WHEN EXISTS (SELECT 1 FROM posts p WHERE p.id = l.target_id)
                         THEN 1 ELSE 0 END AS BIGINT),
                    l.created_at
             FROM loves l WHERE l.user_id = $1 AND l.target_id > $2
             ORDER BY l.target_id LIMIT $3",
        )
        .bind(user.get())
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(t, post, at)| (t, post == 1, Timestamp(at)))
            .collect())
    }

    async fn messages_by(
        &self,
        user: UserId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        let rows = crate::db::query_as::<MessageRow>(format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages m
             WHERE m.sender_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"
        ))
        .bind(user.get())
        .bind(after.map_or(0, MessageId::get))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

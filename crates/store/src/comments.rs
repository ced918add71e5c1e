use async_trait::async_trait;
use starling_core::model::{CommentRecord, NewComment};
use starling_core::ports::CommentStore;
use starling_core::{CommentId, Error, PostId, Result, Timestamp, UserId};

use crate::{SqlStore, db_err};

pub(crate) const COMMENT_COLUMNS: &str = "c.id, c.post_id, c.parent_id, c.author_id, c.text, c.love_count, \
     c.reply_count, c.created_at, c.edited_at, c.deleted_at";

pub(crate) struct CommentRow {
    id: i64,
    post_id: i64,
    parent_id: Option<i64>,
    author_id: i64,
    text: String,
    love_count: i64,
    reply_count: i64,
    created_at: i64,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
}

crate::db::from_row!(CommentRow {
    id,
    post_id,
    parent_id,
    author_id,
    text,
    love_count,
    reply_count,
    created_at,
    edited_at,
    deleted_at
});

impl From<CommentRow> for CommentRecord {
    fn from(r: CommentRow) -> Self {
        CommentRecord {
            id: CommentId::from_i64(r.id),
            post_id: PostId::from_i64(r.post_id),
            parent_id: r.parent_id.map(CommentId::from_i64),
            author_id: UserId::from_i64(r.author_id),
            text: r.text,
            love_count: r.love_count,
            reply_count: r.reply_count,
            created_at: Timestamp(r.created_at),
            edited_at: r.edited_at.map(Timestamp),
            deleted: r.deleted_at.is_some(),
        }
    }
}

#[async_trait]
impl CommentStore for SqlStore {
    async fn create_comment(&self, c: NewComment) -> Result<CommentRecord> {
        let mut tx = self.begin().await?;
        // The post's count first (a write, so SQLite takes the lock up front);
        // no row means the post is gone, and nothing is written.
        let post_live = crate::db::query(
            "UPDATE posts SET comment_count = comment_count + 1 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(c.post_id.get())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if !post_live {
            return Err(Error::not_found("post"));
        }
        if let Some(parent) = c.parent_id {
            let parent_ok = crate::db::query(
                "UPDATE comments SET reply_count = reply_count + 1
                 WHERE id = $1 AND post_id = $2",
            )
            .bind(parent.get())
            .bind(c.post_id.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected()
                == 1;
            if !parent_ok {
                return Err(Error::not_found("parent comment"));
            }
        }
        crate::db::query(
            "INSERT INTO comments (id, post_id, parent_id, author_id, text, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id.get())
        .bind(c.post_id.get())
        .bind(c.parent_id.map(CommentId::get))
        .bind(c.author_id.get())
        .bind(&c.text)
        .bind(c.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        crate::outbox::write_event(&mut tx, &c.event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(CommentRecord {
            id: c.id,
            post_id: c.post_id,
            parent_id: c.parent_id,
            author_id: c.author_id,
            text: c.text,
            love_count: 0,
            reply_count: 0,
            created_at: c.created_at,
            edited_at: None,
            deleted: false,
        })
    }

    async fn comment(&self, id: CommentId) -> Result<CommentRecord> {
        crate::db::query_as::<CommentRow>(format!(
            "SELECT {COMMENT_COLUMNS} FROM comments c JOIN posts p ON p.id = c.post_id
             WHERE c.id = $1 AND p.deleted_at IS NULL"
        ))
        .bind(id.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(Into::into)
        .ok_or_else(|| Error::not_found("comment"))
    }

    async fn comments_by_ids(&self, ids: &[CommentId]) -> Result<Vec<CommentRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COMMENT_COLUMNS} FROM comments c JOIN posts p ON p.id = c.post_id
             WHERE p.deleted_at IS NULL AND c.id IN ({})",
            crate::placeholders(1, ids.len())
        );
        let mut q = crate::db::query_as::<CommentRow>(sql);
        for id in ids {
            q = q.bind(id.get());
        }
        Ok(q.fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    async fn comments(
        &self,
        post: PostId,
        parent: Option<CommentId>,
        after: Option<CommentId>,
        limit: u32,
    ) -> Result<Vec<CommentRecord>> {
        let live: Option<i64> =
            crate::db::query_scalar("SELECT id FROM posts WHERE id = $1 AND deleted_at IS NULL")
                .bind(post.get())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        if live.is_none() {
            return Err(Error::not_found("post"));
        }
        let parent_clause = if parent.is_some() {
            "c.parent_id = $2"
        } else {
            "c.parent_id IS NULL AND $2 = $2"
        };
        let sql = format!(
            "SELECT {COMMENT_COLUMNS} FROM comments c
             WHERE c.post_id = $1 AND {parent_clause} AND c.id > $3
             ORDER BY c.id ASC LIMIT $4"
        );
        let rows = crate::db::query_as::<CommentRow>(sql)
            .bind(post.get())
            .bind(parent.map_or(0, CommentId::get))
            .bind(after.map_or(0, CommentId::get))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn edit_comment(
        &self,
        id: CommentId,
        text: &str,
        at: Timestamp,
    ) -> Result<CommentRecord> {
        let n = crate::db::query(
            "UPDATE comments SET text = $2, edited_at = $3 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.get())
        .bind(text)
        .bind(at.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(Error::not_found("comment"));
        }
        self.comment(id).await
    }

    async fn delete_comment(&self, id: CommentId, at: Timestamp) -> Result<()> {
        let post_id: Option<i64> =
            crate::db::query_scalar("SELECT post_id FROM comments WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        let Some(post_id) = post_id else {
            return Err(Error::not_found("comment"));
        };
        let mut tx = self.begin().await?;
        // Lock the post row before any comment row, the order creating a
        // comment takes too, so a delete and a reply cannot deadlock.
        crate::db::query("UPDATE posts SET comment_count = comment_count WHERE id = $1")
            .bind(post_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Mark it; what happens next depends on its replies.
        let marked: Option<(i64, Option<i64>, i64)> = crate::db::query_as(
            "UPDATE comments SET deleted_at = $2, text = ''
             WHERE id = $1 AND deleted_at IS NULL
             RETURNING post_id, parent_id, reply_count",
        )
        .bind(id.get())
        .bind(at.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((post_id, parent_id, replies)) = marked else {
            return Err(Error::not_found("comment"));
        };
        crate::db::query("UPDATE posts SET comment_count = comment_count - 1 WHERE id = $1")
            .bind(post_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if replies == 0 {
            // Nothing hangs off it: remove it outright.
            crate::db::query("DELETE FROM comments WHERE id = $1")
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            crate::db::query("DELETE FROM loves WHERE target_id = $1")
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            if let Some(parent) = parent_id {
                crate::db::query("UPDATE comments SET reply_count = reply_count - 1 WHERE id = $1")
                    .bind(parent)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}

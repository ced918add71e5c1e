use async_trait::async_trait;
use starling_core::model::PostRecord;
use starling_core::ports::SearchStore;
use starling_core::{PostId, Result, Timestamp, UserId};

use crate::{Dialect, SqlStore, db_err};

struct Row {
    id: i64,
    author_id: i64,
    text: String,
    love_count: i64,
    comment_count: i64,
    created_at: i64,
    edited_at: Option<i64>,
}

crate::db::from_row!(Row {
    id,
    author_id,
    text,
    love_count,
    comment_count,
    created_at,
    edited_at
});

/// The words of a query, quoted for FTS5 so that user input is never syntax.
pub(crate) fn fts5_query(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl SearchStore for SqlStore {
    async fn search_posts(
        &self,
        words: &[String],
        before: Option<PostId>,
        limit: u32,
    ) -> Result<Vec<PostRecord>> {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        // Newest first with a keyset cursor, like every feed: stable paging.
        let (sql, query) = match self.dialect {
            Dialect::Sqlite => (
                "SELECT p.id, p.author_id, p.text, p.love_count, p.comment_count, p.created_at, p.edited_at
                 FROM posts_fts f JOIN posts p ON p.id = f.rowid
                 WHERE posts_fts MATCH $1 AND p.deleted_at IS NULL AND p.id < $2
                 ORDER BY p.id DESC LIMIT $3",
                fts5_query(words),
            ),
            Dialect::Postgres => (
                "SELECT p.id, p.author_id, p.text, p.love_count, p.comment_count, p.created_at, p.edited_at
                 FROM posts p
                 WHERE p.search @@ plainto_tsquery('simple', $1) AND p.deleted_at IS NULL AND p.id < $2
                 ORDER BY p.id DESC LIMIT $3",
                words.join(" "),
            ),
        };
        let rows = crate::db::query_as::<Row>(sql)
            .bind(query)
            .bind(before.map_or(i64::MAX, PostId::get))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| PostRecord {
                id: PostId::from_i64(r.id),
                author_id: UserId::from_i64(r.author_id),
                text: r.text,
                love_count: r.love_count,
                comment_count: r.comment_count,
                created_at: Timestamp(r.created_at),
                edited_at: r.edited_at.map(Timestamp),
            })
            .collect())
    }
}

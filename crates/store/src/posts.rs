use async_trait::async_trait;
use starling_core::messaging::Envelope;
use starling_core::model::{Feed, Mention, NewPost, PostEdit, PostRecord, PostVersion};
use starling_core::ports::PostStore;
use starling_core::{Error, PostId, Result, Timestamp, UserId};

use crate::{SqlStore, db_err, placeholders};

pub(crate) const POST_COLUMNS: &str =
    "p.id, p.author_id, p.text, p.love_count, p.comment_count, p.created_at, p.edited_at";

pub(crate) struct PostRow {
    id: i64,
    author_id: i64,
    text: String,
    love_count: i64,
    comment_count: i64,
    created_at: i64,
    edited_at: Option<i64>,
}

crate::db::from_row!(PostRow {
    id,
    author_id,
    text,
    love_count,
    comment_count,
    created_at,
    edited_at
});

impl From<PostRow> for PostRecord {
    fn from(r: PostRow) -> Self {
        PostRecord {
            id: PostId::from_i64(r.id),
            author_id: UserId::from_i64(r.author_id),
            text: r.text,
            love_count: r.love_count,
            comment_count: r.comment_count,
            created_at: Timestamp(r.created_at),
            edited_at: r.edited_at.map(Timestamp),
        }
    }
}

use crate::db::Tx;

async fn write_mentions_and_tags(
    tx: &mut Tx,
    post: PostId,
    mentions: &[UserId],
    tags: &[String],
) -> Result<()> {
    for m in mentions {
        crate::db::query(
            "INSERT INTO post_mentions (post_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(post.get())
        .bind(m.get())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    for t in tags {
        crate::db::query(
            "INSERT INTO post_tags (tag, post_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(t)
        .bind(post.get())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// The WHERE clause (after live-ness) selecting a feed's posts; `$1` is its parameter.
fn feed_filter(feed: &Feed) -> String {
    if let Feed::FollowedCelebrities { min_followers, .. } = feed {
        // An integer, formatted: no injection possible.
        return format!(
            "p.author_id IN (SELECT f.followee_id FROM follows f JOIN users u ON u.id = f.followee_id \
             WHERE f.follower_id = $1 AND u.follower_count >= {min_followers})"
        );
    }
    match feed {
        Feed::Home(_) => {
            "(p.author_id = $1 OR p.author_id IN \
             (SELECT followee_id FROM follows WHERE follower_id = $1))"
        }
        Feed::Public => "($1 = $1)",
        Feed::Author(_) => "p.author_id = $1",
        Feed::Tag(_) => "p.id IN (SELECT post_id FROM post_tags WHERE tag = $1)",
        Feed::FollowedCelebrities { .. } => "FALSE",
    }
    .to_owned()
}

fn bind_feed(q: crate::db::QueryAs<PostRow>, feed: &Feed) -> crate::db::QueryAs<PostRow> {
    match feed {
        Feed::Home(u) | Feed::Author(u) | Feed::FollowedCelebrities { viewer: u, .. } => {
            q.bind(u.get())
        }
        Feed::Public => q.bind(0_i64),
        Feed::Tag(t) => q.bind(t.as_str()),
    }
}

#[async_trait]
impl PostStore for SqlStore {
    async fn create_post(&self, post: NewPost) -> Result<(PostRecord, bool)> {
        let mut tx = self.begin().await?;
        let inserted = crate::db::query(
            "INSERT INTO posts (id, author_id, text, idempotency_key, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (author_id, idempotency_key) DO NOTHING",
        )
        .bind(post.id.get())
        .bind(post.author_id.get())
        .bind(&post.text)
        .bind(post.idempotency_key.as_deref())
        .bind(post.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if !inserted {
            // A retry: hand back the post this key already made.
            let existing = crate::db::query_as::<PostRow>(format!(
                "SELECT {POST_COLUMNS} FROM posts p
                 WHERE p.author_id = $1 AND p.idempotency_key = $2"
            ))
            .bind(post.author_id.get())
            .bind(post.idempotency_key.as_deref())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            return Ok((existing.into(), false));
        }
        crate::db::query(
            "INSERT INTO post_versions (post_id, version, text, created_at) VALUES ($1, 1, $2, $3)",
        )
        .bind(post.id.get())
        .bind(&post.text)
        .bind(post.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        write_mentions_and_tags(&mut tx, post.id, &post.mentions, &post.tags).await?;
        // An upload that cannot be attached fails the whole post: returning
        // drops the transaction, so neither the post nor any attachment stays.
        crate::media::attach_media(&mut tx, post.id, post.author_id, &post.media_ids).await?;
        crate::outbox::write_event(&mut tx, &post.event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((
            PostRecord {
                id: post.id,
                author_id: post.author_id,
                text: post.text,
                love_count: 0,
                comment_count: 0,
                created_at: post.created_at,
                edited_at: None,
            },
            true,
        ))
    }

    async fn posts_by_ids(&self, ids: &[PostId]) -> Result<Vec<PostRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p WHERE p.deleted_at IS NULL AND p.id IN ({})",
            placeholders(1, ids.len())
        );
        let mut q = crate::db::query_as::<PostRow>(sql);
        for id in ids {
            q = q.bind(id.get());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn edit_post(&self, edit: PostEdit) -> Result<PostRecord> {
        let mut tx = self.begin().await?;
        let updated = crate::db::query_as::<PostRow>(
            "UPDATE posts SET text = $3, edited_at = $4
             WHERE id = $1 AND author_id = $2 AND deleted_at IS NULL
             RETURNING id, author_id, text, love_count, comment_count, created_at, edited_at",
        )
        .bind(edit.id.get())
        .bind(edit.author_id.get())
        .bind(&edit.text)
        .bind(edit.at.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = updated else {
            let author: Option<i64> = crate::db::query_scalar(
                "SELECT author_id FROM posts WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(edit.id.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            return Err(match author {
                Some(_) => Error::forbidden("only the author can edit a post"),
                None => Error::not_found("post"),
            });
        };
        crate::db::query(
            "INSERT INTO post_versions (post_id, version, text, created_at)
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3 FROM post_versions WHERE post_id = $1",
        )
        .bind(edit.id.get())
        .bind(&edit.text)
        .bind(edit.at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        crate::db::query("DELETE FROM post_mentions WHERE post_id = $1")
            .bind(edit.id.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        crate::db::query("DELETE FROM post_tags WHERE post_id = $1")
            .bind(edit.id.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        write_mentions_and_tags(&mut tx, edit.id, &edit.mentions, &edit.tags).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into())
    }

    async fn delete_post(
        &self,
        id: PostId,
        author_id: UserId,
        at: Timestamp,
        event: &Envelope,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = crate::db::query(
            "UPDATE posts SET deleted_at = $3 WHERE id = $1 AND author_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.get())
        .bind(author_id.get())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if deleted == 0 {
            let author: Option<i64> = crate::db::query_scalar(
                "SELECT author_id FROM posts WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            return Err(match author {
                Some(_) => Error::forbidden("only the author can delete a post"),
                None => Error::not_found("post"),
            });
        }
        // Its media stop being served at once; the `post.deleted` event's
        // handler deletes their files (the cleanup job, whatever it missed).
        crate::media::release_media_of(&mut tx, id, at).await?;
        crate::outbox::write_events(&mut tx, &[event]).await?;
        // Tags and mentions go with it, so the post leaves tag pages at once.
        crate::db::query("DELETE FROM post_tags WHERE post_id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        crate::db::query("DELETE FROM post_mentions WHERE post_id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn post_history(&self, id: PostId) -> Result<Vec<PostVersion>> {
        let live: Option<i64> =
            crate::db::query_scalar("SELECT id FROM posts WHERE id = $1 AND deleted_at IS NULL")
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        if live.is_none() {
            return Err(Error::not_found("post"));
        }
        let rows: Vec<(i64, String, i64)> = crate::db::query_as(
            "SELECT version, text, created_at FROM post_versions WHERE post_id = $1 ORDER BY version",
        )
        .bind(id.get())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(version, text, at)| PostVersion {
                version,
                text,
                created_at: Timestamp(at),
            })
            .collect())
    }

    async fn feed(
        &self,
        feed: &Feed,
        before: Option<PostId>,
        limit: u32,
    ) -> Result<Vec<PostRecord>> {
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p
             WHERE p.deleted_at IS NULL AND {} AND p.id < $2
             ORDER BY p.id DESC LIMIT $3",
            feed_filter(feed)
        );
        let q = crate::db::query_as::<PostRow>(sql);
        let rows = bind_feed(q, feed)
            .bind(before.map_or(i64::MAX, PostId::get))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn feed_since(&self, feed: &Feed, since: PostId, limit: u32) -> Result<Vec<PostRecord>> {
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p
             WHERE p.deleted_at IS NULL AND {} AND p.id > $2
             ORDER BY p.id ASC LIMIT $3",
            feed_filter(feed)
        );
        let q = crate::db::query_as::<PostRow>(sql);
        let rows = bind_feed(q, feed)
            .bind(since.get())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn mentions_of(&self, posts: &[PostId]) -> Result<Vec<Mention>> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT m.post_id, m.user_id, u.username FROM post_mentions m
             JOIN users u ON u.id = m.user_id WHERE m.post_id IN ({}) ORDER BY u.username",
            placeholders(1, posts.len())
        );
        let mut q = crate::db::query_as::<(i64, i64, String)>(sql);
        for p in posts {
            q = q.bind(p.get());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(p, u, username)| Mention {
                post_id: PostId::from_i64(p),
                user_id: UserId::from_i64(u),
                username,
            })
            .collect())
    }

    async fn tags_of(&self, posts: &[PostId]) -> Result<Vec<(PostId, String)>> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT post_id, tag FROM post_tags WHERE post_id IN ({}) ORDER BY tag",
            placeholders(1, posts.len())
        );
        let mut q = crate::db::query_as::<(i64, String)>(sql);
        for p in posts {
            q = q.bind(p.get());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(p, t)| (PostId::from_i64(p), t))
            .collect())
    }
}

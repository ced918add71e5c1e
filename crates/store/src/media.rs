use async_trait::async_trait;
use starling_core::model::MediaRecord;
use starling_core::ports::MediaStore;
use starling_core::{Error, MediaId, PostId, Result, Timestamp, UserId};

use crate::{SqlStore, db_err, placeholders};

pub(crate) const MEDIA_COLUMNS: &str = "id, owner_id, blob_key, preview_key, content_type, size, width, \
     height, post_id, position, created_at";

pub(crate) struct MediaRow {
    id: i64,
    owner_id: i64,
    blob_key: String,
    preview_key: String,
    content_type: String,
    size: i64,
    width: i64,
    height: i64,
    post_id: Option<i64>,
    position: i64,
    created_at: i64,
}

crate::db::from_row!(MediaRow {
    id,
    owner_id,
    blob_key,
    preview_key,
    content_type,
    size,
    width,
    height,
    post_id,
    position,
    created_at
});

impl From<MediaRow> for MediaRecord {
    fn from(r: MediaRow) -> Self {
        MediaRecord {
            id: MediaId::from_i64(r.id),
            owner_id: UserId::from_i64(r.owner_id),
            blob_key: r.blob_key,
            preview_key: r.preview_key,
            content_type: r.content_type,
            size: r.size,
            width: r.width,
            height: r.height,
            post_id: r.post_id.map(PostId::from_i64),
            position: r.position,
            created_at: Timestamp(r.created_at),
        }
    }
}

use crate::db::Tx;

/// Attaches uploads to a new post inside its transaction, in order. Each
/// upload must be `author`'s and unattached; otherwise the error says why and
/// the caller drops the transaction, so nothing is written.
pub(crate) async fn attach_media(
    tx: &mut Tx,
    post: PostId,
    author: UserId,
    media: &[MediaId],
) -> Result<()> {
    for (position, id) in media.iter().enumerate() {
        let attached = crate::db::query(
            "UPDATE media SET post_id = $1, position = $2
             WHERE id = $3 AND owner_id = $4 AND post_id IS NULL",
        )
        .bind(post.get())
        .bind(position as i64)
        .bind(id.get())
        .bind(author.get())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if attached == 1 {
            continue;
        }
        let found: Option<(i64, Option<i64>)> =
            crate::db::query_as("SELECT owner_id, post_id FROM media WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        return Err(match found {
            None => Error::not_found("media"),
            Some((owner, _)) if owner != author.get() => {
                Error::forbidden("only the uploader can attach an upload")
            }
            Some(_) => Error::Conflict {
                code: "media_already_attached",
                message: format!("upload {id} is already attached to a post"),
                field: Some("mediaIds"),
            },
        });
    }
    Ok(())
}

/// Marks the media of a deleted post for removal by the cleanup job.
pub(crate) async fn release_media_of(tx: &mut Tx, post: PostId, at: Timestamp) -> Result<()> {
    crate::db::query("UPDATE media SET post_deleted_at = $2 WHERE post_id = $1")
        .bind(post.get())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl MediaStore for SqlStore {
    async fn insert_media(&self, m: MediaRecord) -> Result<()> {
        crate::db::query(
            "INSERT INTO media (id, owner_id, blob_key, preview_key, content_type, size, width,
                                height, post_id, position, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 0, $9)",
        )
        .bind(m.id.get())
        .bind(m.owner_id.get())
        .bind(&m.blob_key)
        .bind(&m.preview_key)
        .bind(&m.content_type)
        .bind(m.size)
        .bind(m.width)
        .bind(m.height)
        .bind(m.created_at.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn media_of(&self, posts: &[PostId]) -> Result<Vec<MediaRecord>> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {MEDIA_COLUMNS} FROM media WHERE post_id IN ({})
             ORDER BY post_id, position",
            placeholders(1, posts.len())
        );
        let mut q = crate::db::query_as::<MediaRow>(sql);
        for p in posts {
            q = q.bind(p.get());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn expired_media(
        &self,
        unattached_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<MediaRecord>> {
        // Two index range scans (see the partial indexes in 0003_media.sql).
        let sql = format!(
            "SELECT {MEDIA_COLUMNS} FROM media WHERE post_id IS NULL AND created_at < $1
             UNION ALL
             SELECT {MEDIA_COLUMNS} FROM media WHERE post_deleted_at IS NOT NULL
             LIMIT $2"
        );
        let rows = crate::db::query_as::<MediaRow>(sql)
            .bind(unattached_before.millis())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_expired_media(
        &self,
        id: MediaId,
        unattached_before: Timestamp,
    ) -> Result<bool> {
        // The same conditions as `expired_media`, checked again in the delete:
        // an upload attached since it was listed is no longer due.
        let deleted = crate::db::query(
            "DELETE FROM media WHERE id = $1
             AND ((post_id IS NULL AND created_at < $2) OR post_deleted_at IS NOT NULL)",
        )
        .bind(id.get())
        .bind(unattached_before.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(deleted == 1)
    }

    async fn served_media(&self, id: MediaId) -> Result<Option<MediaRecord>> {
        let sql = format!(
            "SELECT {MEDIA_COLUMNS} FROM media
             WHERE id = $1 AND post_id IS NOT NULL AND post_deleted_at IS NULL"
        );
        let row = crate::db::query_as::<MediaRow>(sql)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(Into::into))
    }
}

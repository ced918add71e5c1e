//! Post media: uploads recognised from their bytes, re-encoded without
//! metadata, stored with a preview, and removed when nothing uses them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use starling_core::model::MediaRecord;
use starling_core::{Error, IdGenerator, MediaId, Result, Timestamp, UserId};

use crate::Ports;
use crate::images;

/// The original keeps its size (the decoder refuses anything larger anyway).
pub const ORIGINAL_MAX: u32 = 16_384;
/// Previews are fitted within this square.
pub const PREVIEW_SIZE: u32 = 640;
/// Uploads a post may carry.
pub const MAX_MEDIA_PER_POST: usize = 4;
/// Rows handled per cleanup batch.
const CLEANUP_BATCH: u32 = 100;
/// Batches per cleanup pass; the rest waits for the next pass.
const CLEANUP_MAX_BATCHES: usize = 50;

#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Largest accepted upload, bytes.
    pub max_bytes: usize,
    /// Uploads never attached to a post are deleted after this long.
    pub unattached_ttl: Duration,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            max_bytes: 10 * 1024 * 1024,
            unattached_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

pub struct Media {
    ports: Ports,
    ids: Arc<IdGenerator>,
    settings: MediaSettings,
}

impl Media {
    pub fn new(ports: Ports, ids: Arc<IdGenerator>, settings: MediaSettings) -> Self {
        Media {
            ports,
            ids,
            settings,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.settings.max_bytes
    }

    /// Stores an upload of `owner`: PNG, JPEG, WebP or GIF by its bytes (415
    /// otherwise), decodable (422 otherwise), re-encoded so no metadata
    /// survives, with a preview fitted within 640x640. Unattached until a
    /// post claims it.
    pub async fn upload(&self, owner: UserId, upload: Bytes) -> Result<MediaRecord> {
        if upload.len() > self.settings.max_bytes {
            return Err(Error::PayloadTooLarge {
                message: format!("the file must be at most {} bytes", self.settings.max_bytes),
            });
        }
        if images::sniff(&upload).is_none() {
            return Err(images::unsupported());
        }
        let (original, preview) = tokio::task::spawn_blocking(move || {
            let (kind, img) = images::decode(&upload)?;
            let original = images::encode_within(&img, kind, ORIGINAL_MAX)?;
            let preview = images::encode_within(&img, kind, PREVIEW_SIZE)?;
            Ok::<_, Error>((original, preview))
        })
        .await
        .map_err(|e| Error::internal(format!("image task: {e}")))??;

        let id = MediaId(self.ids.next());
        let blob_key = format!("media/{owner}/{id}.{}", original.extension);
        let preview_key = format!("media/{owner}/{id}-preview.{}", preview.extension);
        let record = MediaRecord {
            id,
            owner_id: owner,
            content_type: images::content_type_for(&blob_key).to_owned(),
            size: original.bytes.len() as i64,
            width: i64::from(original.width),
            height: i64::from(original.height),
            blob_key,
            preview_key,
            post_id: None,
            position: 0,
            created_at: Timestamp::now(),
        };
        let blobs = &self.ports.blobs;
        blobs
            .put(&record.blob_key, Bytes::from(original.bytes))
            .await?;
        let stored = async {
            blobs
                .put(&record.preview_key, Bytes::from(preview.bytes))
                .await?;
            self.ports.media.insert_media(record.clone()).await
        }
        .await;
        if let Err(e) = stored {
            // Leave no files behind that no row points at.
            for key in [&record.blob_key, &record.preview_key] {
                if let Err(e) = blobs.delete(key).await {
                    tracing::warn!(%key, error = %e, "could not delete the files of a failed upload");
                }
            }
            return Err(e);
        }
        Ok(record)
    }

    /// One cleanup pass: deletes uploads never attached within the configured
    /// time and those of deleted posts, row first (so an upload attached in
    /// the meantime is kept), then both files. Returns how many were deleted.
    /// Safe to run on several nodes at once.
    pub async fn cleanup(&self) -> Result<u64> {
        let cutoff = Timestamp(
            Timestamp::now()
                .millis()
                .saturating_sub(ttl_millis(self.settings.unattached_ttl)),
        );
        let mut deleted = 0;
        for _ in 0..CLEANUP_MAX_BATCHES {
            let due = self
                .ports
                .media
                .expired_media(cutoff, CLEANUP_BATCH)
                .await?;
            let full = due.len() == CLEANUP_BATCH as usize;
            for m in due {
                if !self.ports.media.delete_expired_media(m.id, cutoff).await? {
                    continue;
                }
                deleted += 1;
                for key in [&m.blob_key, &m.preview_key] {
                    if let Err(e) = self.ports.blobs.delete(key).await {
                        tracing::warn!(%key, error = %e, "could not delete a media file");
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(deleted)
    }
}

fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

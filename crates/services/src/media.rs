//! Post media: uploads recognised from their bytes, re-encoded without
//! metadata, stored with a preview, and removed when nothing uses them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use starling_core::model::MediaRecord;
use starling_core::{Error, IdGenerator, MediaId, Result, Timestamp, UserId};

use crate::Ports;
use crate::images;

/// The stored image (`url`, what a viewer opens) is fitted within this
/// square: the largest size the app shows. No full-size copy is kept, so an
/// upload of up to 16 MP costs at most 2048x2048 in storage and encoding.
pub const DISPLAY_MAX: u32 = 2048;
/// Previews (`previewUrl`, the post grid) are fitted within this square.
pub const PREVIEW_SIZE: u32 = 640;
/// Uploads a post may carry.
pub const MAX_MEDIA_PER_POST: usize = 4;
/// Rows handled per cleanup batch.
const CLEANUP_BATCH: u32 = 100;
/// Batches per cleanup pass; the rest waits for the next pass.
const CLEANUP_MAX_BATCHES: usize = 50;

/// Default of `image_memory_budget`: 256 MiB, two decodes at once.
pub const DEFAULT_IMAGE_MEMORY_BUDGET: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Largest accepted upload, bytes.
    pub max_bytes: usize,
    /// Uploads never attached to a post are deleted after this long.
    pub unattached_ttl: Duration,
    /// Memory image decoding may use at once, bytes (sizes [`images::ImageGate`]).
    pub image_memory_budget: u64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            max_bytes: 10 * 1024 * 1024,
            unattached_ttl: Duration::from_secs(24 * 3600),
            image_memory_budget: DEFAULT_IMAGE_MEMORY_BUDGET,
        }
    }
}

pub struct Media {
    ports: Ports,
    ids: Arc<IdGenerator>,
    settings: MediaSettings,
    images: images::ImageGate,
}

impl Media {
    pub fn new(
        ports: Ports,
        ids: Arc<IdGenerator>,
        settings: MediaSettings,
        images: images::ImageGate,
    ) -> Self {
        Media {
            ports,
            ids,
            settings,
            images,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.settings.max_bytes
    }

    /// Stores an upload of `owner`: PNG, JPEG, WebP or GIF by its bytes (415
    /// otherwise), at most 16 MP (422 `image_too_large`), decodable (422
    /// otherwise), re-encoded within 2048x2048 so no metadata survives, with
    /// a preview fitted within 640x640. 503 `busy` when every decode permit
    /// stays taken for a while. Unattached until a post claims it.
    pub async fn upload(&self, owner: UserId, upload: Bytes) -> Result<MediaRecord> {
        if upload.len() > self.settings.max_bytes {
            return Err(Error::PayloadTooLarge {
                message: format!("the file must be at most {} bytes", self.settings.max_bytes),
            });
        }
        if images::sniff(&upload).is_none() {
            return Err(images::unsupported());
        }
        let (original, preview) = self
            .images
            .run(upload, |bytes| {
                images::fit_twice(bytes, DISPLAY_MAX, PREVIEW_SIZE)
            })
            .await?;

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

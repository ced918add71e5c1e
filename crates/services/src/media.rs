//! Post media: uploads recognised from their bytes, re-encoded without
//! metadata, stored with a preview, and removed when nothing uses them.
//!
//! Keys are `media/{owner}/{id}-{128 random bits, hex}.{ext}` (and
//! `...-preview.{ext}`): the id alone no longer finds a file. `/media` serves
//! an upload only while it is attached to a live post: before a post claims
//! it, only the uploader's own client has it (as Twitter does with uploads
//! not yet in a tweet), and once the post is deleted it is gone at once. The
//! files of a deleted post are deleted by the `post.deleted` handler
//! ([`MediaReaper`]) within moments; unattached uploads by the cleanup job
//! after `unattached_ttl`.

use std::sync::Arc;

use crate::limits::{Action, RateLimits};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use starling_core::events::DomainEvent;
use starling_core::messaging::{Envelope, EventHandler};
use starling_core::model::MediaRecord;
use starling_core::{Error, IdGenerator, MediaId, PostId, Result, Timestamp, UserId};

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

/// The ports media use.
#[derive(Clone)]
pub struct MediaPorts {
    pub media: Arc<dyn starling_core::ports::MediaStore>,
    /// The image files.
    pub blobs: Arc<dyn starling_core::ports::BlobStore>,
}

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
    ports: MediaPorts,
    ids: Arc<IdGenerator>,
    settings: MediaSettings,
    images: images::ImageGate,
    limits: Arc<RateLimits>,
}

impl Media {
    pub fn new(
        ports: MediaPorts,
        ids: Arc<IdGenerator>,
        settings: MediaSettings,
        images: images::ImageGate,
        limits: Arc<RateLimits>,
    ) -> Self {
        Media {
            ports,
            ids,
            settings,
            images,
            limits,
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
        self.limits
            .check(Action::Upload, &owner.to_string())
            .await?;
        let (original, preview) = self
            .images
            .run(upload, |bytes| {
                images::fit_twice(bytes, DISPLAY_MAX, PREVIEW_SIZE)
            })
            .await?;

        let id = MediaId(self.ids.next());
        // The id is time-ordered, hence guessable; 128 random bits are not.
        let secret = format!("{:032x}", rand::random::<u128>());
        let blob_key = format!("media/{owner}/{id}-{secret}.{}", original.extension);
        let preview_key = format!("media/{owner}/{id}-{secret}-preview.{}", preview.extension);
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

    /// A stored object for `/media/{key}` with its content type. Post media
    /// (`media/...`) only while attached to a live post; other objects
    /// (avatars) as stored. 404 otherwise.
    pub async fn read(&self, key: &str) -> Result<(Bytes, &'static str)> {
        if let Some(rest) = key.strip_prefix("media/") {
            // Old keys (`{id}.ext`, `{id}-preview.ext`) and new ones
            // (`{id}-{secret}...`) both start their file name with the id.
            let id = rest
                .rsplit('/')
                .next()
                .and_then(|file| file.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse::<i64>().ok())
                .ok_or_else(|| Error::not_found("media"))?;
            let served = self.ports.media.served_media(MediaId::from_i64(id)).await?;
            if !served.is_some_and(|m| m.blob_key == key || m.preview_key == key) {
                return Err(Error::not_found("media"));
            }
        }
        let blob = self
            .ports
            .blobs
            .get(key)
            .await?
            .ok_or_else(|| Error::not_found("media"))?;
        Ok((blob.bytes, images::content_type_for(key)))
    }

    /// Deletes the files and rows of a deleted post's media: files first, so
    /// a failure leaves the row for a retry (or the cleanup job) to find.
    /// Only released rows go: the event is written with the post's deletion.
    pub async fn remove_media_of(&self, post: PostId) -> Result<u64> {
        let mut removed = 0;
        for m in self.ports.media.media_of(&[post]).await? {
            for key in [&m.blob_key, &m.preview_key] {
                self.ports.blobs.delete(key).await?;
            }
            // No cutoff for unattached uploads: only a released row matches.
            if self
                .ports
                .media
                .delete_expired_media(m.id, Timestamp(i64::MIN))
                .await?
            {
                removed += 1;
            }
        }
        Ok(removed)
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

/// The consumer group that deletes the media of deleted posts.
pub struct MediaReaper(pub Arc<Media>);

impl MediaReaper {
    pub const GROUP: &'static str = "media";
    pub const PATTERNS: &'static [&'static str] = &["post.deleted"];
}

#[async_trait]
impl EventHandler for MediaReaper {
    async fn handle(&self, event: &Envelope) -> Result<()> {
        let DomainEvent::PostDeleted { post, .. } = DomainEvent::decode(event)? else {
            return Ok(());
        };
        let n = self.0.remove_media_of(post).await?;
        if n > 0 {
            tracing::debug!(%post, removed = n, "deleted the media of a deleted post");
        }
        Ok(())
    }
}

//! The data export (`GET /api/profile/export`): a zip of JSON files with
//! everything an account wrote and the files it uploaded. The zip is written
//! to an anonymous temporary file by a blocking task fed through a bounded
//! channel, one page of rows or one file at a time, so neither the rows nor
//! the media are ever all in memory; the caller streams the file back.

use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use starling_core::model::{NotificationRecord, UserPosition};
use starling_core::ports::{
    AccountDeletionStore, AccountExportStore, BlobStore, BlockStore, FollowStore, MediaStore,
    NotificationStore, PostStore, UserStore,
};
use starling_core::{Error, MediaId, Result, Timestamp, UserId};
use tokio::sync::mpsc;
use zip::write::SimpleFileOptions;

/// Rows read per page.
const PAGE: u32 = 200;

/// The ports the export reads.
#[derive(Clone)]
pub struct ExportPorts {
    pub users: Arc<dyn UserStore>,
    pub follows: Arc<dyn FollowStore>,
    pub blocks: Arc<dyn BlockStore>,
    pub posts: Arc<dyn PostStore>,
    pub notifications: Arc<dyn NotificationStore>,
    pub export: Arc<dyn AccountExportStore>,
    /// The uploads posts show.
    pub media: Arc<dyn MediaStore>,
    /// Their uploads (attached or not).
    pub owned: Arc<dyn AccountDeletionStore>,
    pub blobs: Arc<dyn BlobStore>,
}

/// The lists of users the export writes, each `{id, username, displayName, since}`.
#[derive(Clone, Copy)]
enum List {
    Following,
    Followers,
    Blocks,
    Mutes,
}

/// A finished export: the zip (positioned at its start) and its file name.
pub struct ExportFile {
    pub file: std::fs::File,
    pub file_name: String,
}

pub struct Export {
    ports: ExportPorts,
}

fn time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.millis())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn zip_err(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("writing the export: {e}"))
}

/// The last segment of a blob key: unique per upload (id and random part).
fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

enum Cmd {
    /// A new file in the zip; compressed unless it is an image.
    Start {
        name: String,
        compress: bool,
    },
    Data(Bytes),
}

/// The zip being written, seen from the async side.
struct ZipSink {
    tx: mpsc::Sender<Cmd>,
}

impl ZipSink {
    async fn send(&self, cmd: Cmd) -> Result<()> {
        self.tx
            .send(cmd)
            .await
            .map_err(|_| Error::internal("the export writer stopped"))
    }

    async fn start(&self, name: impl Into<String>, compress: bool) -> Result<()> {
        self.send(Cmd::Start {
            name: name.into(),
            compress,
        })
        .await
    }

    async fn write(&self, bytes: impl Into<Bytes>) -> Result<()> {
        self.send(Cmd::Data(bytes.into())).await
    }

    /// A JSON file holding one value.
    async fn json(&self, name: &str, value: &Value) -> Result<()> {
        self.start(name, true).await?;
        self.write(serde_json::to_vec_pretty(value).map_err(zip_err)?)
            .await
    }
}

/// Writes a JSON array one page at a time.
struct JsonArray<'a> {
    sink: &'a ZipSink,
    first: bool,
}

impl<'a> JsonArray<'a> {
    async fn open(sink: &'a ZipSink, name: &str) -> Result<Self> {
        sink.start(name, true).await?;
        sink.write(Bytes::from_static(b"[")).await?;
        Ok(JsonArray { sink, first: true })
    }

    async fn push_all(&mut self, items: impl IntoIterator<Item = Value>) -> Result<()> {
        let mut out = Vec::new();
        for item in items {
            out.extend_from_slice(if self.first { b"\n  " } else { b",\n  " });
            self.first = false;
            serde_json::to_writer(&mut out, &item).map_err(zip_err)?;
        }
        if !out.is_empty() {
            self.sink.write(out).await?;
        }
        Ok(())
    }

    async fn close(self) -> Result<()> {
        self.sink.write(Bytes::from_static(b"\n]\n")).await
    }
}

/// The blocking side: owns the zip and the temporary file under it.
fn write_zip(mut rx: mpsc::Receiver<Cmd>) -> Result<std::fs::File> {
    let file = tempfile::tempfile().map_err(zip_err)?;
    let mut zip = zip::ZipWriter::new(file);
    while let Some(cmd) = rx.blocking_recv() {
        match cmd {
            Cmd::Start { name, compress } => {
                let method = if compress {
                    zip::CompressionMethod::Deflated
                } else {
                    zip::CompressionMethod::Stored
                };
                let options = SimpleFileOptions::default()
                    .compression_method(method)
                    .large_file(false);
                zip.start_file(name, options).map_err(zip_err)?;
            }
            Cmd::Data(bytes) => zip.write_all(&bytes).map_err(zip_err)?,
        }
    }
    let mut file = zip.finish().map_err(zip_err)?;
    file.seek(SeekFrom::Start(0)).map_err(zip_err)?;
    Ok(file)
}

fn notification_json(n: &NotificationRecord) -> Value {
    json!({
        "id": n.id.to_string(),
        "type": n.kind.as_str(),
        "actorId": n.actor_id.to_string(),
        "postId": n.post_id.map(|p| p.to_string()),
        "commentId": n.comment_id.map(|c| c.to_string()),
        "roomId": n.room_id.map(|r| r.to_string()),
        "createdAt": time(n.created_at),
        "read": n.read_at.is_some(),
    })
}

impl Export {
    pub fn new(ports: ExportPorts) -> Self {
        Export { ports }
    }

    /// `me`'s data as a zip.
    pub async fn export(&self, me: UserId) -> Result<ExportFile> {
        let user = self.ports.users.user_by_id(me).await?;
        let (tx, rx) = mpsc::channel(8);
        let writer = tokio::task::spawn_blocking(move || write_zip(rx));
        let sink = ZipSink { tx };
        let written = self.write_all(me, &user, &sink).await;
        drop(sink);
        let file = writer
            .await
            .map_err(|e| Error::internal(format!("the export writer failed: {e}")))?;
        written?;
        Ok(ExportFile {
            file: file?,
            file_name: format!("starling-export-{}.zip", user.username),
        })
    }

    async fn write_all(
        &self,
        me: UserId,
        user: &starling_core::model::UserRecord,
        sink: &ZipSink,
    ) -> Result<()> {
        let p = &self.ports;
        let avatar = user
            .avatar_key
            .as_deref()
            .map(|k| format!("avatar-{}", file_name(k)));
        sink.json(
            "profile.json",
            &json!({
                "id": user.id.to_string(),
                "username": user.username,
                "email": user.email,
                "displayName": user.display_name,
                "bio": user.bio,
                "role": user.role.as_str(),
                "createdAt": time(user.created_at),
                "followerCount": user.follower_count,
                "followingCount": user.following_count,
                "avatar": avatar,
            }),
        )
        .await?;

        let mut posts = JsonArray::open(sink, "posts.json").await?;
        let mut after = None;
        loop {
            let page = p.export.posts_by(me, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let ids: Vec<_> = page.iter().map(|r| r.id).collect();
            let tags = p.posts.tags_of(&ids).await?;
            let media = p.media.media_of(&ids).await?;
            posts
                .push_all(page.iter().map(|r| {
                    json!({
                        "id": r.id.to_string(),
                        "text": r.text,
                        "createdAt": time(r.created_at),
                        "editedAt": r.edited_at.map(time),
                        "loveCount": r.love_count,
                        "commentCount": r.comment_count,
                        "tags": tags.iter().filter(|(id, _)| *id == r.id).map(|(_, t)| t).collect::<Vec<_>>(),
                        "media": media.iter().filter(|m| m.post_id == Some(r.id)).map(|m| format!("media/{}", file_name(&m.blob_key))).collect::<Vec<_>>(),
                    })
                }))
                .await?;
        }
        posts.close().await?;

        let mut comments = JsonArray::open(sink, "comments.json").await?;
        let mut after = None;
        loop {
            let page = p.export.comments_by(me, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            comments
                .push_all(page.iter().map(|c| {
                    json!({
                        "id": c.id.to_string(),
                        "postId": c.post_id.to_string(),
                        "parentId": c.parent_id.map(|p| p.to_string()),
                        "text": c.text,
                        "createdAt": time(c.created_at),
                        "editedAt": c.edited_at.map(time),
                        "loveCount": c.love_count,
                    })
                }))
                .await?;
        }
        comments.close().await?;

        let mut loves = JsonArray::open(sink, "loves.json").await?;
        let mut after = None;
        loop {
            let page = p.export.loves_by(me, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            loves
                .push_all(page.iter().map(|(target, is_post, at)| {
                    json!({
                        "targetType": if *is_post { "post" } else { "comment" },
                        "targetId": target.to_string(),
                        "createdAt": time(*at),
                    })
                }))
                .await?;
        }
        loves.close().await?;

        for (name, list) in [
            ("following.json", List::Following),
            ("followers.json", List::Followers),
            ("blocks.json", List::Blocks),
            ("mutes.json", List::Mutes),
        ] {
            let mut out = JsonArray::open(sink, name).await?;
            let mut after: Option<UserPosition> = None;
            loop {
                let page = match list {
                    List::Followers => p.follows.followers(me, after, PAGE).await?,
                    List::Following => p.follows.following(me, after, PAGE).await?,
                    List::Blocks => p.blocks.blocked_users(me, after, PAGE).await?,
                    List::Mutes => p.blocks.muted_users(me, after, PAGE).await?,
                };
                let Some((_, last)) = page.last() else { break };
                after = Some(*last);
                out.push_all(page.iter().map(|(u, pos)| {
                    json!({
                        "id": u.id.to_string(),
                        "username": u.username,
                        "displayName": u.display_name,
                        "since": time(pos.at),
                    })
                }))
                .await?;
            }
            out.close().await?;
        }

        let mut messages = JsonArray::open(sink, "messages.json").await?;
        let mut after = None;
        loop {
            let page = p.export.messages_by(me, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            messages
                .push_all(page.iter().map(|m| {
                    json!({
                        "id": m.id.to_string(),
                        "roomId": m.room_id.to_string(),
                        "text": m.text,
                        "createdAt": time(m.created_at),
                        "retracted": m.retracted_at.is_some(),
                    })
                }))
                .await?;
        }
        messages.close().await?;

        // Newest first, as the API lists them.
        let mut notes = JsonArray::open(sink, "notifications.json").await?;
        let mut before = None;
        loop {
            let page = p
                .notifications
                .notifications(me, before, PAGE, false)
                .await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            notes.push_all(page.iter().map(notification_json)).await?;
        }
        notes.close().await?;

        // The files: every upload, then the avatar.
        let mut after: Option<MediaId> = None;
        loop {
            let page = p.owned.media_owned_by(me, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for m in &page {
                if let Some(blob) = p.blobs.get(&m.blob_key).await? {
                    sink.start(format!("media/{}", file_name(&m.blob_key)), false)
                        .await?;
                    sink.write(blob.bytes).await?;
                }
            }
        }
        if let (Some(key), Some(name)) = (&user.avatar_key, &avatar)
            && let Some(blob) = p.blobs.get(key).await?
        {
            sink.start(name.clone(), false).await?;
            sink.write(blob.bytes).await?;
        }
        Ok(())
    }
}

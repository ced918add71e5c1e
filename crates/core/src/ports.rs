//! Ports: what the services need from the outside world. Each has an embedded
//! adapter (SQLite, memory, files) and a scale-out one (PostgreSQL, Redis, S3).
//! Adapters normalise their backend's errors into [`crate::Error`]:
//! a unique violation is `Conflict`, a missing row is `NotFound`.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::model::*;
use crate::{Result, Timestamp, UserId, id::TokenFamilyId};

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Conflict with field `username` or `email` when either is taken.
    async fn create_user(&self, user: NewUser) -> Result<UserRecord>;
    async fn user_by_id(&self, id: UserId) -> Result<UserRecord>;
    async fn user_by_username(&self, username: &str) -> Result<UserRecord>;
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<UserRecord>>;
    /// Whether any user has at least `min` followers.
    async fn any_with_followers(&self, min: i64) -> Result<bool>;
    /// Looks a user up by username or email (both stored lower-cased).
    async fn credentials(&self, login: &str) -> Result<Option<Credentials>>;
    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<UserRecord>;
    /// Sets the avatar key and returns the one it replaced.
    async fn set_avatar(&self, id: UserId, key: Option<&str>) -> Result<Option<String>>;
    /// Replaces the password hash.
    async fn set_password(&self, id: UserId, password_hash: &str, now: Timestamp) -> Result<()>;
    /// Marks the email address confirmed (if it was not already).
    async fn mark_email_verified(&self, id: UserId, now: Timestamp) -> Result<()>;
    /// Users whose username or display name contains `query` (already lower-cased),
    /// prefix matches first, then by username; keyset-paginated.
    async fn search_users(
        &self,
        query: &str,
        after: Option<SearchPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, SearchPosition)>>;
}

#[async_trait]
pub trait FollowStore: Send + Sync {
    /// Returns false when the follow already existed. NotFound when `followee` does not exist.
    /// `event` is written to the outbox when the follow is new.
    async fn follow(
        &self,
        follower: UserId,
        followee: UserId,
        at: Timestamp,
        event: &crate::messaging::Envelope,
    ) -> Result<bool>;
    /// Returns false when there was nothing to remove.
    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<bool>;
    /// Everyone who follows `user` (for fan-out).
    async fn follower_ids(&self, user: UserId) -> Result<Vec<UserId>>;
    /// Which of `candidates` `viewer` follows.
    async fn followed_among(
        &self,
        viewer: UserId,
        candidates: &[UserId],
    ) -> Result<HashSet<UserId>>;
    /// Newest follow first.
    async fn followers(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>>;
    async fn following(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<()>;
    /// Atomically spends `presented` and stores `next` in the same family.
    async fn rotate_refresh_token(
        &self,
        presented: &[u8],
        next: RefreshTokenRecord,
        now: Timestamp,
    ) -> Result<RotateOutcome>;
    /// Revokes the family of the token with this hash, if there is one, and
    /// says whose family it was.
    async fn revoke_refresh_token(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(UserId, TokenFamilyId)>>;
    async fn revoke_family(&self, family: TokenFamilyId, now: Timestamp) -> Result<()>;
    /// Revokes every live session (token family) of `user` but `except`,
    /// and returns the families it revoked.
    async fn revoke_user_families(
        &self,
        user: UserId,
        except: Option<TokenFamilyId>,
        now: Timestamp,
    ) -> Result<Vec<TokenFamilyId>>;
    /// Deletes tokens that expired before `cutoff`; returns how many.
    /// Sessions left without a token and spent or expired mailed tokens go too.
    async fn purge_expired_tokens(&self, cutoff: Timestamp) -> Result<u64>;
    /// Records where and what from a new session was started.
    async fn insert_session(&self, session: SessionRecord) -> Result<()>;
    /// Notes that a session was used now from `address`; a session used
    /// within the last `coalesce` is left as it is (one write a minute at most).
    async fn touch_session(
        &self,
        family: TokenFamilyId,
        address: &str,
        now: Timestamp,
        coalesce: Duration,
    ) -> Result<()>;
    /// The sessions of `user` that still have a live refresh token, most
    /// recently used first (one without a recorded row: empty device and
    /// address, its current token's time as its start and last use).
    async fn live_sessions(&self, user: UserId, now: Timestamp) -> Result<Vec<SessionRecord>>;
    async fn insert_account_token(&self, token: AccountTokenRecord) -> Result<()>;
    /// Spends a mailed token for `purpose` if it is unused and unexpired, and
    /// every other unused one of its user for the same purpose with it; says
    /// whose it was. None for an unknown, spent or expired token.
    async fn spend_account_token(
        &self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        now: Timestamp,
    ) -> Result<Option<UserId>>;
}

/// Operational checks on a backend, for `/ready`.
#[async_trait]
pub trait Health: Send + Sync {
    async fn check(&self) -> Result<()>;
}

/// Key-value cache with expiry and windowed counters. Memory by default, Redis
/// when configured (shared by every node). Everything in it can be rebuilt.
#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;
    /// Several keys in one round trip; one answer per key, in order.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>>;
    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()>;
    async fn delete(&self, key: &str) -> Result<()>;
    /// Adds one to the counter at `key`, which lives for `window` from its first
    /// increment. Returns the new count and how long the window has left.
    async fn incr_window(&self, key: &str, window: Duration) -> Result<(u64, Duration)>;
    /// Takes one token from the bucket at `key`, which holds up to `burst`
    /// and refills one every `interval` (a token bucket kept as its
    /// theoretical arrival time, GCRA). None when one was taken; otherwise
    /// how long until one is free. Atomic across every user of the cache.
    async fn take_token(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<Option<Duration>>;
    async fn check(&self) -> Result<()>;

    // Timelines: sets of positive, time-ordered ids (newest = largest). A
    // timeline either exists, complete up to its cap, or is missing and must
    // be rebuilt from the database: adding to a missing one does nothing, so
    // a partial timeline is never mistaken for a whole one.

    /// Creates (or replaces) the timeline at `key` holding `ids`, for `ttl`.
    async fn timeline_replace(&self, key: &str, ids: &[i64], ttl: Duration) -> Result<()>;
    /// Adds `ids` to an existing timeline, keeping only the newest `cap`.
    /// Returns false (and changes nothing) when the timeline is missing.
    async fn timeline_add(&self, key: &str, ids: &[i64], cap: usize) -> Result<bool>;
    /// Adds `id` to each of the existing timelines among `keys` (a fan-out);
    /// missing ones stay missing. Adapters batch the round trips.
    async fn timeline_add_to_each(&self, keys: &[String], id: i64, cap: usize) -> Result<()> {
        for k in keys {
            self.timeline_add(k, &[id], cap).await?;
        }
        Ok(())
    }
    /// Adds each `(key, id)` to its timeline if that exists (fan-outs of
    /// several posts at once); adapters batch the round trips.
    async fn timeline_add_pairs(&self, adds: &[(String, i64)], cap: usize) -> Result<()> {
        for (k, id) in adds {
            self.timeline_add(k, &[*id], cap).await?;
        }
        Ok(())
    }
    async fn timeline_remove(&self, key: &str, ids: &[i64]) -> Result<()>;
    /// Which of `ids` the timeline at `key` holds, in order; `None` when the
    /// timeline is missing. (Timelines double as sets of ids.)
    async fn timeline_contains(&self, key: &str, ids: &[i64]) -> Result<Option<Vec<bool>>>;
    /// Up to `limit` ids older than `before`, newest first, and the timeline's
    /// length; `None` when the timeline is missing.
    async fn timeline_page(
        &self,
        key: &str,
        before: i64,
        limit: usize,
    ) -> Result<Option<(Vec<i64>, usize)>>;
}

/// A stored object.
pub struct Blob {
    pub bytes: Bytes,
}

/// Blob storage for media: files under the data dir by default, S3 when configured.
/// Keys are relative paths of `[a-z0-9._-]` segments separated by `/`.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<()>;
    async fn get(&self, key: &str) -> Result<Option<Blob>>;
    /// Deleting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    async fn check(&self) -> Result<()>;
}

/// True for keys safe to use as file paths and object names.
pub fn valid_blob_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
}

use crate::{CommentId, PostId};

#[async_trait]
pub trait PostStore: Send + Sync {
    /// Stores a post with its first version, mentions and tags. With an
    /// idempotency key already used by this author, returns that post and
    /// `false` instead of creating another.
    ///
    /// Attaches `media_ids` in order, in the same transaction: Forbidden when
    /// an upload is someone else's, Conflict `media_already_attached` when it
    /// belongs to a post already, NotFound when unknown. On any error nothing
    /// is written. A retry attaches nothing.
    async fn create_post(&self, post: NewPost) -> Result<(PostRecord, bool)>;
    /// The live posts among `ids`, in no particular order.
    async fn posts_by_ids(&self, ids: &[PostId]) -> Result<Vec<PostRecord>>;
    /// Replaces the text (keeping the old one in the history). NotFound when
    /// the post is gone, Forbidden when `author_id` did not write it.
    async fn edit_post(&self, edit: PostEdit) -> Result<PostRecord>;
    /// Deletes a post (its row stays, marked). NotFound / Forbidden as for edits.
    async fn delete_post(
        &self,
        id: PostId,
        author_id: UserId,
        at: Timestamp,
        event: &Envelope,
    ) -> Result<()>;
    /// Every version, oldest first (the current text is the last).
    async fn post_history(&self, id: PostId) -> Result<Vec<PostVersion>>;
    /// A page of a feed, newest first, strictly older than `before`.
    async fn feed(
        &self,
        feed: &Feed,
        before: Option<PostId>,
        limit: u32,
    ) -> Result<Vec<PostRecord>>;
    /// Posts of a feed newer than `since`, oldest first.
    async fn feed_since(&self, feed: &Feed, since: PostId, limit: u32) -> Result<Vec<PostRecord>>;
    async fn mentions_of(&self, posts: &[PostId]) -> Result<Vec<Mention>>;
    async fn tags_of(&self, posts: &[PostId]) -> Result<Vec<(PostId, String)>>;
}

#[async_trait]
pub trait CommentStore: Send + Sync {
    /// NotFound when the post (or the parent comment, on that post) is gone.
    async fn create_comment(&self, comment: NewComment) -> Result<CommentRecord>;
    /// A comment, deleted placeholders included; NotFound when removed.
    async fn comment(&self, id: CommentId) -> Result<CommentRecord>;
    /// Those of `ids` that exist (deleted placeholders included), in any order.
    async fn comments_by_ids(&self, ids: &[CommentId]) -> Result<Vec<CommentRecord>>;
    /// Comments of a post under `parent` (None: top level), oldest first, after `after`.
    async fn comments(
        &self,
        post: PostId,
        parent: Option<CommentId>,
        after: Option<CommentId>,
        limit: u32,
    ) -> Result<Vec<CommentRecord>>;
    async fn edit_comment(&self, id: CommentId, text: &str, at: Timestamp)
    -> Result<CommentRecord>;
    /// Removes a comment; one with replies stays as a "deleted" placeholder.
    async fn delete_comment(&self, id: CommentId, at: Timestamp) -> Result<()>;
}

#[async_trait]
pub trait LoveStore: Send + Sync {
    /// False when already loved. NotFound when the target is gone.
    /// `event` is written to the outbox when the love is new.
    async fn love(
        &self,
        target: LoveTarget,
        user: UserId,
        at: Timestamp,
        event: &crate::messaging::Envelope,
    ) -> Result<bool>;
    /// False when there was no love to remove. NotFound when the target is gone.
    async fn unlove(&self, target: LoveTarget, user: UserId) -> Result<bool>;
    /// Which of `targets` (post or comment ids) `user` loves.
    async fn loved_among(&self, user: UserId, targets: &[i64]) -> Result<HashSet<i64>>;
    /// Up to `limit` of the targets `user` loves, in no particular order.
    async fn loved_targets(&self, user: UserId, limit: u32) -> Result<Vec<i64>>;
    /// Who loves `target`, most recent first.
    async fn lovers(
        &self,
        target: LoveTarget,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>>;
}

use crate::MediaId;

#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Records a new, unattached upload.
    async fn insert_media(&self, media: MediaRecord) -> Result<()>;
    /// The media attached to `posts`, ordered by post and position.
    async fn media_of(&self, posts: &[PostId]) -> Result<Vec<MediaRecord>>;
    /// Up to `limit` uploads due for removal: never attached and created
    /// before `unattached_before`, or attached to a post that was deleted.
    async fn expired_media(
        &self,
        unattached_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<MediaRecord>>;
    /// Deletes the row of an upload if it is still due for removal (an upload
    /// attached meanwhile is kept). True when the row was deleted.
    async fn delete_expired_media(&self, id: MediaId, unattached_before: Timestamp)
    -> Result<bool>;
    /// The upload if `/media` may serve it: attached to a post that is not
    /// deleted. `None` for unknown, unattached and released uploads.
    async fn served_media(&self, id: MediaId) -> Result<Option<MediaRecord>>;
}

#[async_trait]
pub trait SearchStore: Send + Sync {
    /// Live posts containing every one of `words` (lower-cased), newest first,
    /// strictly older than `before`. SQLite FTS5 or PostgreSQL full text.
    async fn search_posts(
        &self,
        words: &[String],
        before: Option<PostId>,
        limit: u32,
    ) -> Result<Vec<PostRecord>>;
}

use crate::messaging::Envelope;
use crate::{EventId, NotificationId};

/// The transactional outbox: rows written by the actions' transactions,
/// claimed and published by the relay.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` pending events (oldest first) until `lease_until`:
    /// rows not claimed, or whose lease ran out before `now`. Each claim counts
    /// an attempt (`Envelope::attempt`). Concurrent relays never get the same row.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Envelope>>;
    /// Published: the rows are deleted.
    async fn outbox_done(&self, ids: &[EventId]) -> Result<()>;
    /// Not published: try again after `retry_at`, or never (`dead`, kept for inspection).
    async fn outbox_retry(&self, id: EventId, retry_at: Timestamp, dead: bool) -> Result<()>;
    /// Events not yet published (dead ones excluded).
    async fn outbox_pending(&self) -> Result<u64>;
    /// Events not yet published (dead ones excluded) and when the oldest of
    /// them was written, for the backlog metrics.
    async fn outbox_backlog(&self) -> Result<(u64, Option<Timestamp>)>;
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores `n` unless one exists for its event and recipient, or its
    /// subject is gone. Returns the recipient's unread count when stored.
    async fn insert_notification(
        &self,
        n: &NotificationRecord,
        subject: Subject,
    ) -> Result<Option<i64>>;
    /// [`NotificationStore::insert_notification`] for each, in order, all in
    /// one transaction: on an error nothing is stored.
    async fn insert_notifications(
        &self,
        items: &[(NotificationRecord, Subject)],
    ) -> Result<Vec<Option<i64>>>;
    /// Newest first, ids below `before`.
    async fn notifications(
        &self,
        recipient: UserId,
        before: Option<NotificationId>,
        limit: u32,
        unread_only: bool,
    ) -> Result<Vec<NotificationRecord>>;
    /// Oldest first, ids above `after` (what a reconnecting stream missed).
    async fn notifications_after(
        &self,
        recipient: UserId,
        after: NotificationId,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>>;
    async fn notification(&self, id: NotificationId) -> Result<NotificationRecord>;
    async fn unread_count(&self, recipient: UserId) -> Result<i64>;
    /// NotFound unless `id` is `recipient`'s. Returns the new unread count.
    async fn mark_read(&self, recipient: UserId, id: NotificationId, at: Timestamp) -> Result<i64>;
    async fn mark_all_read(&self, recipient: UserId, at: Timestamp) -> Result<()>;
    /// Marks `recipient`'s unread `message` notifications of `room` read;
    /// returns the new unread count if any changed.
    async fn mark_room_read(
        &self,
        recipient: UserId,
        room: crate::RoomId,
        at: Timestamp,
    ) -> Result<Option<i64>>;
    /// Deletes the notifications about `subject`; returns each affected
    /// recipient with their unread count after.
    async fn remove_notifications(&self, subject: Subject) -> Result<Vec<(UserId, i64)>>;
}

#[async_trait]
pub trait PushSubscriptionStore: Send + Sync {
    /// Upserts by (`user_id`, `endpoint`): the same user registering an
    /// endpoint again updates its keys and `created_at` (keeping its id);
    /// another user registering it gets a row of their own. Afterwards the
    /// user keeps at most `keep` subscriptions (at least this one): the
    /// oldest by `created_at` are deleted, atomically with the save.
    async fn save_push_subscription(
        &self,
        sub: &PushSubscriptionRecord,
        keep: usize,
    ) -> Result<PushSubscriptionRecord>;
    /// Newest first.
    async fn push_subscriptions(&self, user: UserId) -> Result<Vec<PushSubscriptionRecord>>;
    /// Returns false when `user` has no subscription `id`.
    async fn delete_push_subscription(
        &self,
        user: UserId,
        id: crate::PushSubscriptionId,
    ) -> Result<bool>;
    /// Deletes `user`'s subscription with this endpoint (the push service
    /// called it gone); other users' rows for the endpoint stay.
    async fn delete_push_endpoint(&self, user: UserId, endpoint: &str) -> Result<()>;
}

// ---- chat ----

use crate::{MessageId, RoomId};

#[async_trait]
pub trait ChatStore: Send + Sync {
    /// The direct room of `a` and `b`, created (as `room`) on first use.
    async fn direct_room(&self, a: UserId, b: UserId, room: &RoomRecord) -> Result<RoomRecord>;
    /// The direct room of `a` and `b` if they have one; creates nothing.
    async fn find_direct_room(&self, a: UserId, b: UserId) -> Result<Option<RoomRecord>>;
    /// Creates a group with its members (the owner among them).
    async fn create_group(&self, room: &RoomRecord, members: &[UserId]) -> Result<()>;
    /// NotFound when there is no such room.
    async fn room(&self, id: RoomId) -> Result<RoomRecord>;
    /// The members of `rooms`, each room's in the order they joined.
    async fn members_of(&self, rooms: &[RoomId]) -> Result<Vec<MemberRecord>>;
    async fn members(&self, room: RoomId) -> Result<Vec<MemberRecord>> {
        self.members_of(&[room]).await
    }
    async fn member(&self, room: RoomId, user: UserId) -> Result<Option<MemberRecord>>;
    /// `user`'s rooms, latest activity first.
    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomEntry>>;
    async fn rename_room(&self, room: RoomId, name: &str) -> Result<()>;
    async fn delete_room(&self, room: RoomId) -> Result<()>;
    /// Adds `user` unless the room would exceed `max` members. Ok(false): already a member.
    async fn add_member(
        &self,
        room: RoomId,
        user: UserId,
        at: Timestamp,
        max: usize,
    ) -> Result<bool>;
    /// Removes `user`; when they owned the room it passes to the member who
    /// joined first. Ok(false): not a member.
    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool>;
    /// Stores each message with its event, all in one transaction, unless
    /// its `(room, sender, client_msg_id)` exists; returns, in order, the
    /// stored message and whether it is new.
    async fn send_messages(
        &self,
        batch: &[(MessageRecord, Envelope)],
    ) -> Result<Vec<(MessageRecord, bool)>>;
    /// Newest first, ids below `before`, without those `viewer` removed.
    async fn messages(
        &self,
        room: RoomId,
        viewer: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>>;
    async fn messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<MessageRecord>>;
    /// Moves `user`'s read mark forward to `upto`; None if it was there already.
    async fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        upto: MessageId,
        at: Timestamp,
    ) -> Result<Option<ReadMark>>;
    async fn mark_delivered(&self, room: RoomId, user: UserId, upto: MessageId) -> Result<()>;
    /// Per room, `user`'s unread messages (others', not retracted or removed).
    /// Only `room`'s when given.
    async fn unread_counts(&self, user: UserId, room: Option<RoomId>)
    -> Result<Vec<(RoomId, i64)>>;
    /// Hides messages for `user`.
    async fn hide_messages(&self, user: UserId, ids: &[MessageId]) -> Result<()>;
    /// Retracts messages (all must be `sender`'s; checked by the caller).
    async fn retract_messages(&self, ids: &[MessageId], at: Timestamp) -> Result<()>;
    /// Full-text search over the rooms `user` is in, newest first.
    async fn search_messages(
        &self,
        user: UserId,
        words: &[String],
        room: Option<RoomId>,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>>;
    /// Everyone who shares a room with `user` (not `user`).
    async fn contacts(&self, user: UserId) -> Result<Vec<UserId>>;
}

// ---- blocks and mutes ----

/// The relations one user keeps with others: whom they block, who blocks
/// them, whom they mute. Blocks and mutes are private to the one who made them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Relations {
    /// Users this one blocks.
    pub blocking: Vec<UserId>,
    /// Users who block this one (never shown to anyone).
    pub blocked_by: Vec<UserId>,
    /// Users this one mutes.
    pub muting: Vec<UserId>,
}

/// Follows a block removed, for counters and notifications: `(follower, followee)`.
pub type RemovedFollows = Vec<(UserId, UserId)>;

#[async_trait]
pub trait BlockStore: Send + Sync {
    /// `user` blocks `target`, and the follows between them (both ways) go,
    /// with the follower counts, in the same transaction. Returns whether the
    /// block is new and the follows removed. NotFound when `target` does not exist.
    async fn block(
        &self,
        user: UserId,
        target: UserId,
        at: Timestamp,
    ) -> Result<(bool, RemovedFollows)>;
    /// False when there was no block.
    async fn unblock(&self, user: UserId, target: UserId) -> Result<bool>;
    /// False when already muted. NotFound when `target` does not exist.
    async fn mute(&self, user: UserId, target: UserId, at: Timestamp) -> Result<bool>;
    async fn unmute(&self, user: UserId, target: UserId) -> Result<bool>;
    /// Whom `user` blocks, newest block first.
    async fn blocked_users(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>>;
    /// Whom `user` mutes, newest mute first.
    async fn muted_users(
        &self,
        user: UserId,
        after: Option<UserPosition>,
        limit: u32,
    ) -> Result<Vec<(UserRecord, UserPosition)>>;
    /// Everything `user` must not see or be reached by, in one query.
    async fn relations_of(&self, user: UserId) -> Result<Relations>;
    /// Whether either of `a` and `b` blocks the other.
    async fn blocked_between(&self, a: UserId, b: UserId) -> Result<bool>;
}

/// What account deletion needs beyond the other stores: marking an account
/// deleted, then removing what it left a batch at a time (every batch its
/// own transaction, each safe to repeat), and the user row last.
#[async_trait]
pub trait AccountDeletionStore: Send + Sync {
    /// Marks `user` deleted and frees their username and email, writing
    /// `event` in the same transaction. NotFound when there is no live user.
    async fn mark_deleted(&self, user: UserId, at: Timestamp, event: &Envelope) -> Result<()>;
    /// The account if it is marked deleted and not yet removed.
    async fn deleted_account(&self, user: UserId) -> Result<Option<DeletedAccount>>;
    /// Up to `limit` accounts marked deleted before `before` and not yet
    /// removed, oldest mark first (their event was lost or set aside).
    async fn unfinished_deletions(&self, before: Timestamp, limit: u32) -> Result<Vec<UserId>>;
    /// Up to `limit` of `user`'s uploads, attached or not, oldest first,
    /// after `after`.
    async fn media_owned_by(
        &self,
        user: UserId,
        after: Option<crate::MediaId>,
        limit: u32,
    ) -> Result<Vec<MediaRecord>>;
    /// Deletes upload rows (their files are gone already).
    async fn delete_media_rows(&self, ids: &[crate::MediaId]) -> Result<()>;
    /// Up to `limit` of the rooms `user` is a member of.
    async fn rooms_of_member(&self, user: UserId, limit: u32) -> Result<Vec<RoomId>>;
    /// Forgets the pair key of `user`'s direct rooms (they have left them).
    async fn forget_direct_rooms(&self, user: UserId) -> Result<()>;
    /// One batch of `step` for a deleted `user`.
    async fn purge_batch(&self, user: UserId, step: PurgeStep, limit: u32) -> Result<Purged>;
    /// Deletes the user row (what still references it goes with it), with
    /// any notification about them written since their batches ran; returns
    /// the recipients whose unread count dropped.
    async fn remove_user(&self, user: UserId) -> Result<Vec<UserId>>;
}

/// What the data export reads beyond the other stores: everything one user
/// wrote, a page at a time, oldest first, strictly after `after`.
#[async_trait]
pub trait AccountExportStore: Send + Sync {
    /// Their live posts.
    async fn posts_by(
        &self,
        user: UserId,
        after: Option<PostId>,
        limit: u32,
    ) -> Result<Vec<PostRecord>>;
    /// Their comments (not deleted ones) on live posts.
    async fn comments_by(
        &self,
        user: UserId,
        after: Option<CommentId>,
        limit: u32,
    ) -> Result<Vec<CommentRecord>>;
    /// What they love: target id, whether it is a post, and when.
    async fn loves_by(
        &self,
        user: UserId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, bool, Timestamp)>>;
    /// The chat messages they sent (retracted ones have empty text).
    async fn messages_by(
        &self,
        user: UserId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>>;
}

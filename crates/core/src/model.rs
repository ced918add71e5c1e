//! Records as the stores hand them to services.

use crate::types::{Email, Username};
use crate::{Timestamp, UserId, id::TokenFamilyId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub bio: String,
    pub avatar_key: Option<String>,
    pub follower_count: i64,
    pub following_count: i64,
    pub created_at: Timestamp,
    pub role: Role,
    /// Suspended by a moderator: cannot log in; their content is hidden.
    pub suspended_at: Option<Timestamp>,
    /// Silenced by a moderator: left out of the public feed and search.
    pub silenced_at: Option<Timestamp>,
    /// Registered under approval mode and not approved yet.
    pub pending_at: Option<Timestamp>,
    pub email_verified_at: Option<Timestamp>,
}

impl UserRecord {
    pub fn is_suspended(&self) -> bool {
        self.suspended_at.is_some()
    }
    pub fn is_silenced(&self) -> bool {
        self.silenced_at.is_some()
    }
    pub fn is_pending(&self) -> bool {
        self.pending_at.is_some()
    }
}

/// What an account may do beyond its own content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Role {
    #[default]
    User,
    /// Handles reports; suspends, silences, removes content.
    Moderator,
    /// A moderator who also changes roles and settles registrations.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "moderator" => Some(Role::Moderator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Moderators and admins.
    pub fn moderates(self) -> bool {
        self >= Role::Moderator
    }
}

pub struct NewUser {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
    pub display_name: Option<String>,
    pub created_at: Timestamp,
    /// Written to the outbox with the user.
    pub event: crate::messaging::Envelope,
}

/// What login needs: the id and the stored password hash.
pub struct Credentials {
    pub id: UserId,
    pub password_hash: String,
}

/// A profile update; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfilePatch {
    /// `Some(None)` clears the display name.
    pub display_name: Option<Option<String>>,
    pub bio: Option<String>,
}

impl ProfilePatch {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.bio.is_none()
    }
}

/// A refresh token as stored: only its SHA-256 hash, never the token itself.
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub family_id: TokenFamilyId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A session (one refresh-token family) as its owner sees it listed: what
/// it was started from and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub family_id: TokenFamilyId,
    pub user_id: UserId,
    /// A short form of the User-Agent, e.g. "Firefox on Linux".
    pub device: String,
    /// The client address it was last used from.
    pub address: String,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
}

/// What a mailed single-use token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountTokenPurpose {
    PasswordReset,
    VerifyEmail,
}

impl AccountTokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountTokenPurpose::PasswordReset => "password_reset",
            AccountTokenPurpose::VerifyEmail => "verify_email",
        }
    }
}

/// A mailed single-use token as stored: only its SHA-256 hash.
#[derive(Debug, Clone)]
pub struct AccountTokenRecord {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub purpose: AccountTokenPurpose,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was current: it is now spent and the new one is stored.
    Rotated {
        user_id: UserId,
        family_id: TokenFamilyId,
    },
    /// Unknown, expired or revoked token.
    Invalid,
    /// The token had already been rotated: its whole family is now revoked.
    Reused {
        user_id: UserId,
        family_id: TokenFamilyId,
    },
}

/// A position in a list of users ordered by when they joined it, newest
/// first: followers and followings (when they followed), lovers (when they
/// loved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPosition {
    pub at: Timestamp,
    pub user_id: UserId,
}

/// A position in user search results: rank (0 = prefix match), then username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPosition {
    pub rank: i64,
    pub username: String,
}

use crate::{CommentId, PostId};

/// A live post as stored. Counts are kept exact by the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PostRecord {
    pub id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub love_count: i64,
    pub comment_count: i64,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
}

pub struct NewPost {
    pub id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub idempotency_key: Option<String>,
    pub mentions: Vec<UserId>,
    pub tags: Vec<String>,
    /// Uploads to attach, in display order (their `position`).
    pub media_ids: Vec<MediaId>,
    pub created_at: Timestamp,
    /// Written to the outbox when the post is new (not an idempotent retry).
    pub event: crate::messaging::Envelope,
}

pub struct PostEdit {
    pub id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub mentions: Vec<UserId>,
    pub tags: Vec<String>,
    pub at: Timestamp,
}

/// A previous text of a post.
#[derive(Debug, Clone)]
pub struct PostVersion {
    pub version: i64,
    pub text: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Mention {
    pub post_id: PostId,
    pub user_id: UserId,
    pub username: String,
}

/// Which posts a feed holds.
#[derive(Debug, Clone)]
pub enum Feed {
    /// The viewer's posts and those of whom they follow.
    Home(UserId),
    /// Everyone's posts.
    Public,
    /// One author's posts.
    Author(UserId),
    /// Posts carrying a tag.
    Tag(String),
    /// Posts of the authors `viewer` follows that have at least `min_followers`
    /// followers: merged into home feeds at read time instead of pushed.
    FollowedCelebrities { viewer: UserId, min_followers: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: CommentId,
    pub post_id: PostId,
    pub parent_id: Option<CommentId>,
    pub author_id: UserId,
    /// Empty when deleted.
    pub text: String,
    pub love_count: i64,
    pub reply_count: i64,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    /// A deleted comment that keeps its place because it has replies.
    pub deleted: bool,
}

pub struct NewComment {
    pub id: CommentId,
    pub post_id: PostId,
    pub parent_id: Option<CommentId>,
    pub author_id: UserId,
    pub text: String,
    pub created_at: Timestamp,
    /// Written to the outbox with the comment.
    pub event: crate::messaging::Envelope,
}

/// What a love is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoveTarget {
    Post(PostId),
    Comment(CommentId),
}

impl LoveTarget {
    pub fn id(self) -> i64 {
        match self {
            LoveTarget::Post(p) => p.get(),
            LoveTarget::Comment(c) => c.get(),
        }
    }
}

use crate::MediaId;

/// An uploaded image: the re-encoded original and its preview, both in the
/// blob store. Unattached (`post_id` None) until a post claims it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaRecord {
    pub id: MediaId,
    pub owner_id: UserId,
    pub blob_key: String,
    pub preview_key: String,
    pub content_type: String,
    /// Bytes of the stored original.
    pub size: i64,
    pub width: i64,
    pub height: i64,
    pub post_id: Option<PostId>,
    /// Place among the post's media, from 0.
    pub position: i64,
    pub created_at: Timestamp,
}

use crate::{EventId, NotificationId};

/// What a notification tells its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    Love,
    Comment,
    Reply,
    Mention,
    Follow,
    /// Chat messages to a user with no connection; one per room until read.
    Message,
    /// A new report, to every moderator and admin.
    Report,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Love => "love",
            NotificationKind::Comment => "comment",
            NotificationKind::Reply => "reply",
            NotificationKind::Mention => "mention",
            NotificationKind::Follow => "follow",
            NotificationKind::Message => "message",
            NotificationKind::Report => "report",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "love" => NotificationKind::Love,
            "comment" => NotificationKind::Comment,
            "reply" => NotificationKind::Reply,
            "mention" => NotificationKind::Mention,
            "follow" => NotificationKind::Follow,
            "message" => NotificationKind::Message,
            "report" => NotificationKind::Report,
            _ => return None,
        })
    }
}

/// The thing a notification is about. A notification is stored only while
/// its subject exists, and removed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A live post (mentions in it, its removal takes every notification about it).
    Post(PostId),
    /// A live comment on a live post.
    Comment(CommentId),
    /// `actor`'s love of a live post or comment.
    Love { actor: UserId, target: LoveTarget },
    /// `actor` following `followee`.
    Follow { actor: UserId, followee: UserId },
    /// A chat room (its deletion takes every notification about it).
    Room(crate::RoomId),
    /// `member`'s membership of a room.
    Membership { room: crate::RoomId, member: UserId },
    /// A report (moderators hear of it while it exists).
    Report(crate::ReportId),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub event_id: EventId,
    pub recipient_id: UserId,
    pub kind: NotificationKind,
    pub actor_id: UserId,
    pub post_id: Option<PostId>,
    pub comment_id: Option<CommentId>,
    /// The chat room of a `message` notification.
    #[serde(default)]
    pub room_id: Option<crate::RoomId>,
    /// The report of a `report` notification.
    #[serde(default)]
    pub report_id: Option<crate::ReportId>,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

/// A browser's Web Push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscriptionRecord {
    pub id: crate::PushSubscriptionId,
    pub user_id: UserId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub created_at: Timestamp,
}

// ---- chat ----

use crate::{MessageId, RoomId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// Exactly two members, one room per pair.
    Direct,
    /// A named channel with an owner.
    Group,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Direct => "direct",
            RoomKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "direct" => Some(RoomKind::Direct),
            "group" => Some(RoomKind::Group),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub owner_id: Option<UserId>,
    pub created_at: Timestamp,
    pub last_activity_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub joined_at: Timestamp,
    /// The newest message this member has read (0: none).
    pub last_read_id: i64,
    pub read_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: MessageId,
    pub room_id: RoomId,
    /// None once the sender's account is deleted.
    pub sender_id: Option<UserId>,
    /// Empty once retracted.
    pub text: String,
    pub client_msg_id: String,
    pub created_at: Timestamp,
    pub retracted_at: Option<Timestamp>,
}

/// One of the caller's rooms, as the room list shows it.
#[derive(Debug, Clone)]
pub struct RoomEntry {
    pub room: RoomRecord,
    /// The newest message the caller has not removed.
    pub last_message_id: Option<MessageId>,
    pub unread: i64,
}

/// A read receipt: `user` has read everything up to `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMark {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub message_id: MessageId,
    pub read_at: Timestamp,
}

/// A deleted account the worker has not finished removing.
#[derive(Debug, Clone)]
pub struct DeletedAccount {
    pub id: UserId,
    pub avatar_key: Option<String>,
    pub deleted_at: Timestamp,
}

/// One kind of row account deletion removes, a batch at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeStep {
    /// Their posts with everything on them: comments, loves, tags,
    /// mentions, versions, search entries, notifications about them.
    Posts,
    /// Their comments on others' posts (with the replies under them).
    Comments,
    /// Their loves (the targets' counts drop).
    Loves,
    /// Follows both ways (both sides' counts drop).
    Follows,
    /// Notifications they caused (recipients' unread counts drop).
    Notifications,
    /// Their chat messages lose their sender.
    Messages,
}

impl PurgeStep {
    /// In order: posts before comments, so the comments left are on others' posts.
    /// Notifications last: the steps before remove what others could still
    /// be notified about.
    pub const ALL: [PurgeStep; 6] = [
        PurgeStep::Posts,
        PurgeStep::Comments,
        PurgeStep::Loves,
        PurgeStep::Follows,
        PurgeStep::Messages,
        PurgeStep::Notifications,
    ];
}

/// What one purge batch did.
#[derive(Debug, Clone, Default)]
pub struct Purged {
    /// Rows handled; zero when the step is done.
    pub rows: u64,
    /// Other users whose counts changed (cached copies are stale).
    pub users: Vec<UserId>,
    /// Posts whose counts changed or that are gone.
    pub posts: Vec<crate::PostId>,
    /// Users whose unread notification count changed.
    pub recipients: Vec<UserId>,
}

//! Who is notified of what, one feature at a time. Nobody is notified of
//! their own action, and one event notifies each person at most once.
//!
//! | event             | who                                   | kind             |
//! |-------------------|---------------------------------------|------------------|
//! | a post loved      | its author                            | `love`           |
//! | a comment loved   | its author                            | `love`           |
//! | a comment         | the parent comment's author, else the post's author, else each mentioned user | `reply`, `comment`, `mention` |
//! | a post            | each mentioned user                   | `mention`        |
//! | a follow          | the one followed                      | `follow`         |
//! | a chat message    | members without a chat connection, once per room until read | `message` |
//! | a report          | every moderator and admin             | `report`         |

use std::collections::HashSet;
use std::time::Duration;

use starling_core::events::DomainEvent;
use starling_core::messaging::Envelope;
use starling_core::model::{LoveTarget, NotificationKind, NotificationRecord, Subject};
use starling_core::{
    CommentId, MessageId, NotificationId, PostId, ReportId, Result, RoomId, Timestamp, UserId,
};

use super::Notifications;
use crate::presence::Connection;
use crate::unique;

/// Set while `user` has an unread `message` notification for `room`
/// (a hint: on a miss the database's unique index decides).
pub(super) fn room_pending_key(user: UserId, room: RoomId) -> String {
    format!("notif:room:{user}:{room}")
}

/// How long the hint lasts: a notification marked read some other way than
/// reading the room (the notifications page) is renewed after this at most.
pub(super) const ROOM_PENDING_TTL: Duration = Duration::from_secs(60);

/// A notification the worker is about to store.
pub(super) struct Planned {
    pub(super) record: NotificationRecord,
    pub(super) subject: Subject,
    /// A cache key to set once the notification is stored (or found stored).
    pub(super) mark_after: Option<String>,
}

/// What one notification is about.
struct About {
    kind: NotificationKind,
    actor: UserId,
    post: Option<PostId>,
    comment: Option<CommentId>,
    room: Option<RoomId>,
    report: Option<ReportId>,
    subject: Subject,
}

impl Notifications {
    /// Who gets which notification for `event`.
    pub(super) async fn plan(&self, event: &Envelope) -> Result<Vec<Planned>> {
        let planned = match DomainEvent::decode(event)? {
            DomainEvent::PostLoved { actor, post } => self.post_loved(event, actor, post).await?,
            DomainEvent::CommentLoved { actor, comment } => {
                self.comment_loved(event, actor, comment).await?
            }
            DomainEvent::CommentCreated {
                actor,
                comment,
                post,
                parent,
                mentions,
            } => {
                self.commented(event, actor, (post, comment), parent, mentions)
                    .await?
            }
            DomainEvent::PostCreated {
                actor,
                post,
                mentions,
            } => self.posted(event, actor, post, mentions),
            DomainEvent::Followed { actor, followee } => self.followed(event, actor, followee),
            DomainEvent::MessageSent {
                sender,
                room,
                message,
                recipients,
            } => {
                self.message_sent(event, sender, room, message, recipients)
                    .await?
            }
            DomainEvent::ReportCreated {
                reporter,
                report,
                staff,
            } => self.reported(event, reporter, report, staff),
            DomainEvent::UserRegistered { .. }
            | DomainEvent::UserApproved { .. }
            | DomainEvent::PostDeleted { .. }
            | DomainEvent::AccountDeleted { .. } => Vec::new(),
        };
        self.unhidden(planned).await
    }

    /// Leaves out what a recipient must not hear: actions of someone they
    /// block, who blocks them, or whom they mute. Reports reach moderators
    /// whoever filed them: a moderator's own blocks don't silence the queue.
    async fn unhidden(&self, planned: Vec<Planned>) -> Result<Vec<Planned>> {
        let mut out = Vec::with_capacity(planned.len());
        for p in planned {
            let rel = self.relations.of(Some(p.record.recipient_id)).await?;
            if p.record.kind == NotificationKind::Report || !rel.hides(p.record.actor_id) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// A post's author hears it was loved.
    pub(super) async fn post_loved(
        &self,
        event: &Envelope,
        actor: UserId,
        post: PostId,
    ) -> Result<Vec<Planned>> {
        let Some(p) = self.ports.posts.posts_by_ids(&[post]).await?.pop() else {
            return Ok(Vec::new());
        };
        let about = About {
            kind: NotificationKind::Love,
            actor,
            post: Some(post),
            comment: None,
            room: None,
            report: None,
            subject: Subject::Love {
                actor,
                target: LoveTarget::Post(post),
            },
        };
        Ok(self
            .planned(event, p.author_id, &about)
            .into_iter()
            .collect())
    }

    /// A comment's author hears it was loved.
    pub(super) async fn comment_loved(
        &self,
        event: &Envelope,
        actor: UserId,
        comment: CommentId,
    ) -> Result<Vec<Planned>> {
        let Some(c) = self.ports.comments.comments_by_ids(&[comment]).await?.pop() else {
            return Ok(Vec::new());
        };
        let about = About {
            kind: NotificationKind::Love,
            actor,
            post: Some(c.post_id),
            comment: Some(comment),
            room: None,
            report: None,
            subject: Subject::Love {
                actor,
                target: LoveTarget::Comment(comment),
            },
        };
        Ok(self
            .planned(event, c.author_id, &about)
            .into_iter()
            .collect())
    }

    /// A comment notifies one way per person: a reply (to the parent
    /// comment's author) beats a comment (to the post's author), which beats
    /// a mention.
    pub(super) async fn commented(
        &self,
        event: &Envelope,
        actor: UserId,
        (post, comment): (PostId, CommentId),
        parent: Option<CommentId>,
        mentions: Vec<UserId>,
    ) -> Result<Vec<Planned>> {
        let mut told: HashSet<UserId> = HashSet::from([actor]);
        let mut out = Vec::new();
        let about = |kind| About {
            kind,
            actor,
            post: Some(post),
            comment: Some(comment),
            room: None,
            report: None,
            subject: Subject::Comment(comment),
        };
        if let Some(parent) = parent
            && let Some(pc) = self.ports.comments.comments_by_ids(&[parent]).await?.pop()
            && !pc.deleted
            && told.insert(pc.author_id)
        {
            out.extend(self.planned(event, pc.author_id, &about(NotificationKind::Reply)));
        }
        if let Some(p) = self.ports.posts.posts_by_ids(&[post]).await?.pop()
            && told.insert(p.author_id)
        {
            out.extend(self.planned(event, p.author_id, &about(NotificationKind::Comment)));
        }
        for m in mentions {
            if told.insert(m) {
                out.extend(self.planned(event, m, &about(NotificationKind::Mention)));
            }
        }
        Ok(out)
    }

    /// Each user mentioned in a post hears it once.
    fn posted(
        &self,
        event: &Envelope,
        actor: UserId,
        post: PostId,
        mentions: Vec<UserId>,
    ) -> Vec<Planned> {
        let about = About {
            kind: NotificationKind::Mention,
            actor,
            post: Some(post),
            comment: None,
            room: None,
            report: None,
            subject: Subject::Post(post),
        };
        unique(mentions.into_iter())
            .into_iter()
            .filter_map(|m| self.planned(event, m, &about))
            .collect()
    }

    /// The one followed hears it.
    pub(super) fn followed(
        &self,
        event: &Envelope,
        actor: UserId,
        followee: UserId,
    ) -> Vec<Planned> {
        let about = About {
            kind: NotificationKind::Follow,
            actor,
            post: None,
            comment: None,
            room: None,
            report: None,
            subject: Subject::Follow { actor, followee },
        };
        self.planned(event, followee, &about).into_iter().collect()
    }

    /// Every moderator and admin hears of a new report (the reporter too
    /// only if they are staff: nobody hears of their own action).
    fn reported(
        &self,
        event: &Envelope,
        reporter: UserId,
        report: ReportId,
        staff: Vec<UserId>,
    ) -> Vec<Planned> {
        let about = About {
            kind: NotificationKind::Report,
            actor: reporter,
            post: None,
            comment: None,
            room: None,
            report: Some(report),
            subject: Subject::Report(report),
        };
        unique(staff.into_iter())
            .into_iter()
            .filter_map(|m| self.planned(event, m, &about))
            .collect()
    }

    /// Members with a chat connection got the message live; the others get
    /// one `message` notification per room until they read it (stored only
    /// while they are still members).
    pub(super) async fn message_sent(
        &self,
        event: &Envelope,
        sender: UserId,
        room: RoomId,
        _message: MessageId,
        recipients: Vec<UserId>,
    ) -> Result<Vec<Planned>> {
        let recipients = if recipients.is_empty() {
            let members = self.ports.chat.members(room).await?;
            members.into_iter().map(|m| m.user_id).collect()
        } else {
            recipients
        };
        let cache = &self.ports.cache;
        let mut out = Vec::new();
        for recipient in recipients {
            if recipient == sender || self.presence.connected(recipient, Connection::Chat).await {
                continue;
            }
            // Most messages to someone away find their room's notification
            // already unread; the cache says so without a write.
            let pending = room_pending_key(recipient, room);
            if matches!(cache.get(&pending).await, Ok(Some(_))) {
                continue;
            }
            let about = About {
                kind: NotificationKind::Message,
                actor: sender,
                post: None,
                comment: None,
                room: Some(room),
                report: None,
                subject: Subject::Membership {
                    room,
                    member: recipient,
                },
            };
            // Marked once stored: a redelivered event still stores it.
            out.extend(self.planned(event, recipient, &about).map(|p| Planned {
                mark_after: Some(pending),
                ..p
            }));
        }
        Ok(out)
    }

    /// The notification of `about` for `recipient`; none for one's own action.
    fn planned(&self, event: &Envelope, recipient: UserId, about: &About) -> Option<Planned> {
        if recipient == about.actor {
            return None;
        }
        Some(Planned {
            record: NotificationRecord {
                id: NotificationId(self.ids.next()),
                event_id: event.id,
                recipient_id: recipient,
                kind: about.kind,
                actor_id: about.actor,
                post_id: about.post,
                comment_id: about.comment,
                room_id: about.room,
                report_id: about.report,
                created_at: Timestamp::now(),
                read_at: None,
            },
            subject: about.subject,
            mark_after: None,
        })
    }
}

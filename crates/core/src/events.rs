//! Domain events: the facts an action's transaction writes to the outbox.
//! They carry ids, not copies: consumers read what they need when they run,
//! so a late event never resurrects something deleted meanwhile.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::id::EventId;
use crate::messaging::Envelope;
use crate::{CommentId, Error, MessageId, PostId, Result, RoomId, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DomainEvent {
    UserRegistered {
        user: UserId,
    },
    /// A moderator let a pending registration in.
    UserApproved {
        user: UserId,
    },
    Followed {
        actor: UserId,
        followee: UserId,
    },
    PostCreated {
        actor: UserId,
        post: PostId,
        mentions: Vec<UserId>,
    },
    /// Its author deleted a post (written in the same transaction).
    PostDeleted {
        actor: UserId,
        post: PostId,
    },
    PostLoved {
        actor: UserId,
        post: PostId,
    },
    CommentLoved {
        actor: UserId,
        comment: CommentId,
    },
    CommentCreated {
        actor: UserId,
        comment: CommentId,
        post: PostId,
        parent: Option<CommentId>,
        mentions: Vec<UserId>,
    },
    MessageSent {
        sender: UserId,
        room: RoomId,
        message: MessageId,
        /// The room's members when it was sent (the sender included).
        #[serde(default)]
        recipients: Vec<UserId>,
    },
    /// The user deleted their account: marked at once, removed by the
    /// `account.deleted` consumer.
    AccountDeleted {
        user: UserId,
    },
    /// A user reported someone or something: moderators hear of it.
    ReportCreated {
        reporter: UserId,
        report: crate::ReportId,
        /// The moderators and admins when it was made.
        #[serde(default)]
        staff: Vec<UserId>,
    },
}

impl DomainEvent {
    /// The routing key on the bus.
    pub fn key(&self) -> &'static str {
        match self {
            DomainEvent::UserRegistered { .. } => "user.registered",
            DomainEvent::UserApproved { .. } => "user.approved",
            DomainEvent::Followed { .. } => "follow.created",
            DomainEvent::PostCreated { .. } => "post.created",
            DomainEvent::PostDeleted { .. } => "post.deleted",
            DomainEvent::PostLoved { .. } => "love.post",
            DomainEvent::CommentLoved { .. } => "love.comment",
            DomainEvent::CommentCreated { .. } => "comment.created",
            DomainEvent::MessageSent { .. } => "message.sent",
            DomainEvent::AccountDeleted { .. } => "account.deleted",
            DomainEvent::ReportCreated { .. } => "report.created",
        }
    }

    pub fn envelope(&self, id: EventId) -> Result<Envelope> {
        let payload = serde_json::to_vec(self)
            .map_err(|e| Error::Internal(anyhow::anyhow!("encoding an event: {e}")))?;
        Ok(Envelope {
            id,
            key: self.key().to_owned(),
            payload: Bytes::from(payload),
            attempt: 0,
        })
    }

    pub fn decode(envelope: &Envelope) -> Result<Self> {
        serde_json::from_slice(&envelope.payload).map_err(|e| {
            Error::Internal(anyhow::anyhow!(
                "event {} ({}) does not decode: {e}",
                envelope.id,
                envelope.key
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Snowflake;

    #[test]
    fn events_round_trip_through_an_envelope() {
        let e = DomainEvent::CommentCreated {
            actor: UserId::from_i64(1),
            comment: CommentId(Snowflake(2)),
            post: PostId(Snowflake(3)),
            parent: None,
            mentions: vec![UserId::from_i64(4)],
        };
        let env = e.envelope(EventId(Snowflake(9))).unwrap();
        assert_eq!(env.key, "comment.created");
        let json: serde_json::Value = serde_json::from_slice(&env.payload).unwrap();
        assert_eq!(json["type"], "commentCreated");
        assert_eq!(json["actor"], "1");
        assert_eq!(DomainEvent::decode(&env).unwrap(), e);
    }
}

//! The live channel: every node's notification streams listen on one
//! pub/sub channel per user, so a notification stored on any node reaches
//! the stream wherever it is open.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use starling_core::messaging::Subscription;
use starling_core::model::NotificationRecord;
use starling_core::{Result, UserId};

use super::Notifications;
use crate::presence::{Connection, ConnectionGuard};

pub fn channel(user: UserId) -> String {
    format!("notifications:user:{user}")
}

/// What travels on a user's live channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum LiveMessage {
    Notification {
        record: NotificationRecord,
        unread: i64,
    },
    UnreadCount {
        count: i64,
    },
}

impl Notifications {
    pub async fn subscribe(&self, me: UserId) -> Result<Subscription> {
        self.ports.pubsub.subscribe(&channel(me)).await
    }

    /// Counts `me` as having a stream open (so notifications are streamed,
    /// not pushed) until the guard drops.
    pub async fn stream_opened(self: &Arc<Self>, me: UserId) -> ConnectionGuard {
        self.presence.hold(me, Connection::Stream).await
    }

    /// Whether `user` has a stream open on any node.
    pub(super) async fn streaming(&self, user: UserId) -> bool {
        self.presence.connected(user, Connection::Stream).await
    }

    pub(super) async fn publish(&self, user: UserId, msg: &LiveMessage) {
        let Ok(payload) = serde_json::to_vec(msg) else {
            return;
        };
        if let Err(e) = self
            .ports
            .pubsub
            .publish(&channel(user), Bytes::from(payload))
            .await
        {
            tracing::warn!(error = %e, user_id = %user, "live delivery failed");
        }
    }
}

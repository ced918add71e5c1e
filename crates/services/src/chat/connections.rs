//! Chat connections and presence: a user is online while they have a chat
//! socket on any node. Their contacts (everyone sharing a room with them)
//! hear when that starts and stops.

use std::future::Future;

use starling_core::live::{ChatEvent, OnlineStatus};
use starling_core::{Error, Result, Timestamp, UserId};

use super::Chat;
use crate::presence::Connection;

impl Chat {
    /// A chat socket of `me` opened here. True for their first on this node:
    /// the transport then calls [`Chat::came_online`] once it is connected.
    pub fn socket_opened(&self, me: UserId) -> bool {
        self.presence.open(me, Connection::Chat)
    }

    /// `me` is online: marked so on every node, and their contacts told.
    pub async fn came_online(&self, me: UserId) {
        self.presence.mark(me, Connection::Chat).await;
        self.announce_presence(OnlineStatus {
            user: me,
            online: true,
            last_seen_at: Some(Timestamp::now()),
        })
        .await;
    }

    /// A chat socket of `me` closed here. When it was their last on this
    /// node, `elsewhere` is asked whether they still have one on another;
    /// if not, they went offline and their contacts hear so. A socket that
    /// opened here meanwhile (a page reload) wins the race.
    pub async fn socket_closed(&self, me: UserId, elsewhere: impl Future<Output = bool>) {
        if !self.presence.close(me, Connection::Chat) {
            return;
        }
        if elsewhere.await || self.presence.here(me, Connection::Chat) {
            return;
        }
        let status = self.presence.gone(me, Connection::Chat).await;
        if self.presence.here(me, Connection::Chat) {
            self.presence.mark(me, Connection::Chat).await;
            return;
        }
        self.announce_presence(status).await;
    }

    /// Whether `user` is connected to chat, and when they were last seen.
    pub async fn presence(&self, user: UserId) -> Result<OnlineStatus> {
        if self.users.records(&[user]).await?.is_empty() {
            return Err(Error::not_found("user"));
        }
        Ok(self.presence.status(user).await)
    }

    pub(super) async fn announce_presence(&self, status: OnlineStatus) {
        match self.contacts(status.user).await {
            Ok(contacts) => self.tell(&contacts, ChatEvent::Presence(status)).await,
            Err(e) => tracing::warn!(error = %e, "could not load contacts for presence"),
        }
    }
}

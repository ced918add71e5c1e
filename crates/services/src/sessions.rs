//! Sessions that end when they should, on every node.
//!
//! An access token names its session (the refresh-token family). When a
//! session ends (logout, a reused refresh token), its family goes into a
//! revocation set in the cache for as long as one of its access tokens may
//! still be valid, and a message on the pub/sub channel `sessions:ended`
//! tells every node at once: each refuses the session's tokens from then on
//! and closes its sockets and notification streams. A node that starts later
//! looks a token's session up in the cache the first time it sees the token.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use starling_core::id::TokenFamilyId;
use starling_core::messaging::PubSub;
use starling_core::ports::Cache;
use starling_core::{Result, UserId};
use tokio::sync::{broadcast, watch};

use crate::jwt::{TokenVerifier, Verified, session_ended};

/// The pub/sub channel that carries ended sessions to every node.
pub const CHANNEL: &str = "sessions:ended";

/// One ended session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub user: UserId,
    pub family: TokenFamilyId,
}

pub struct Sessions {
    cache: Arc<dyn Cache>,
    pubsub: Arc<dyn PubSub>,
    verifier: Arc<TokenVerifier>,
    /// How long an access token lives: how long an ended session is kept.
    access_ttl: Duration,
    ended: broadcast::Sender<Ended>,
}

fn revoked_key(family: TokenFamilyId) -> String {
    format!("session:ended:{family}")
}

impl Sessions {
    pub fn new(
        cache: Arc<dyn Cache>,
        pubsub: Arc<dyn PubSub>,
        verifier: Arc<TokenVerifier>,
        access_ttl: Duration,
    ) -> Self {
        let (ended, _) = broadcast::channel(1024);
        Sessions {
            cache,
            pubsub,
            verifier,
            access_ttl,
            ended,
        }
    }

    /// Verifies an access token and that its session is still open. The
    /// cache is asked only the first time this node sees a token.
    pub async fn authenticate(&self, token: &str) -> Result<Verified> {
        let v = self.verifier.verify_session(token)?;
        if v.fresh
            && let Some(family) = v.family
            && self.cache.get(&revoked_key(family)).await?.is_some()
        {
            self.verifier.end_locally(family);
            return Err(session_ended());
        }
        Ok(v)
    }

    /// Ends a session everywhere: its tokens are refused and its sockets and
    /// streams close, on every node, within moments.
    pub async fn end(&self, ended: Ended) -> Result<()> {
        self.verifier.end_locally(ended.family);
        self.cache
            .set(
                &revoked_key(ended.family),
                Bytes::from_static(b"1"),
                self.access_ttl + Duration::from_secs(60),
            )
            .await?;
        let payload = serde_json::to_vec(&ended)
            .map_err(|e| starling_core::Error::internal(format!("encoding a session end: {e}")))?;
        // Every node hears of it on the channel, this one included (see
        // `listen`), and closes the session's sockets and streams.
        if let Err(e) = self.pubsub.publish(CHANNEL, payload.into()).await {
            // This node still closes its own. The cache holds the end: other
            // nodes refuse the session's tokens when they first see them, and
            // their open sockets close at expiry.
            tracing::warn!(error = %e, "could not tell other nodes a session ended");
            let _ = self.ended.send(ended);
        }
        Ok(())
    }

    /// Ended sessions as this node learns of them.
    pub fn watch(&self) -> broadcast::Receiver<Ended> {
        self.ended.subscribe()
    }

    /// Listens for sessions ended on any node until `stop`; resubscribes
    /// after the channel is lost.
    pub async fn listen(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let mut messages = match self.pubsub.subscribe(CHANNEL).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to ended sessions; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
                    }
                }
            };
            loop {
                let message = tokio::select! {
                    m = messages.next() => m,
                    _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
                };
                let Some(bytes) = message else { break };
                match serde_json::from_slice::<Ended>(&bytes) {
                    Ok(ended) => {
                        self.verifier.end_locally(ended.family);
                        let _ = self.ended.send(ended);
                    }
                    Err(e) => tracing::warn!(error = %e, "undecodable ended session"),
                }
            }
        }
    }
}

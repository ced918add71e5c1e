//! Web Push: users' subscriptions (capped, checked where they point), and
//! pushes for users with no stream open, off the worker's path, with a
//! share of the node's push slots per user.

use std::sync::Arc;
use std::time::Duration;

use starling_core::messaging::{PushOutcome, PushSender, PushTarget};
use starling_core::model::PushSubscriptionRecord;
use starling_core::{Error, PushSubscriptionId, Result, Timestamp, UserId};
use tokio::sync::Semaphore;

use super::{NotificationView, Notifications};

/// Limits on Web Push subscriptions and deliveries.
#[derive(Clone, Debug)]
pub struct PushSettings {
    /// Subscriptions kept per user; registering another replaces the oldest.
    pub max_subscriptions: usize,
    /// Push requests in flight at once on this node.
    pub concurrency: usize,
    /// Push requests in flight at once for one user, so one user's slow or
    /// hanging endpoints cannot hold every slot.
    pub concurrency_per_user: usize,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            max_subscriptions: 10,
            concurrency: 32,
            concurrency_per_user: 2,
        }
    }
}

/// Notifications waiting for one user's push slots beyond this are not
/// pushed (the notification itself is stored and streamed as usual).
const PUSH_QUEUE_PER_USER: usize = 32;

/// One user's share of the push slots.
pub(super) struct UserPushBudget {
    slots: Arc<Semaphore>,
    /// Notifications queued or sending for the user.
    queued: usize,
}

impl Notifications {
    pub fn vapid_public_key(&self) -> Result<String> {
        self.push
            .as_ref()
            .map(|p| p.public_key())
            .ok_or_else(|| Error::not_found("push configuration"))
    }

    pub async fn add_push_subscription(
        &self,
        me: UserId,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<PushSubscriptionRecord> {
        let mut errs = starling_core::error::FieldErrors::new();
        errs.check("endpoint", check_endpoint(endpoint));
        errs.check("keys.p256dh", check_p256dh(p256dh));
        errs.check("keys.auth", check_key(auth, 16, "a 16-byte secret"));
        errs.finish()?;
        // Where it points: https and public addresses only, unless the host
        // is allow-listed (`invalid_endpoint`). Checked again on every send.
        if let Some(sender) = &self.push {
            sender.check_endpoint(endpoint).await?;
        }
        // Beyond the cap the oldest goes: the browser subscribing now is the
        // one the user is using, the oldest most likely one long gone.
        self.ports
            .push_subscriptions
            .save_push_subscription(
                &PushSubscriptionRecord {
                    id: PushSubscriptionId(self.ids.next()),
                    user_id: me,
                    endpoint: endpoint.to_owned(),
                    p256dh: p256dh.to_owned(),
                    auth: auth.to_owned(),
                    created_at: Timestamp::now(),
                },
                self.push_settings.max_subscriptions.max(1),
            )
            .await
    }

    pub async fn delete_push_subscription(&self, me: UserId, id: PushSubscriptionId) -> Result<()> {
        if self
            .ports
            .push_subscriptions
            .delete_push_subscription(me, id)
            .await?
        {
            Ok(())
        } else {
            Err(Error::not_found("push subscription"))
        }
    }

    /// Sends `view` to each of the recipient's push subscriptions, off the
    /// worker's path; subscriptions the push service calls gone are deleted.
    pub(super) fn push_later(self: &Arc<Self>, view: &NotificationView) {
        let Some(sender) = self.push.clone() else {
            return;
        };
        let payload = serde_json::json!({
            "title": "Starling",
            "body": view.summary(),
            "tag": format!("notification-{}", view.record.id),
            "notificationId": view.record.id,
            "type": view.record.kind,
            "postId": view.record.post_id,
            "roomId": view.record.room_id,
        })
        .to_string();
        let user = view.record.recipient_id;
        let Some(slots) = self.push_queue(user) else {
            tracing::debug!(user_id = %user, "push queue full; not pushing");
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            this.push_to_user(&sender, user, &slots, payload.as_bytes())
                .await;
            this.push_done(user);
        });
    }

    /// Joins `user`'s push queue and returns their slots, or None when the
    /// queue is full. Every Some must be followed by [`Self::push_done`].
    pub(super) fn push_queue(&self, user: UserId) -> Option<Arc<Semaphore>> {
        let mut users = self.push_users.lock().ok()?;
        let per_user = self.push_settings.concurrency_per_user.max(1);
        let budget = users.entry(user).or_insert_with(|| UserPushBudget {
            slots: Arc::new(Semaphore::new(per_user)),
            queued: 0,
        });
        if budget.queued >= PUSH_QUEUE_PER_USER {
            return None;
        }
        budget.queued += 1;
        Some(budget.slots.clone())
    }

    pub(super) fn push_done(&self, user: UserId) {
        if let Ok(mut users) = self.push_users.lock()
            && let Some(budget) = users.get_mut(&user)
        {
            budget.queued = budget.queued.saturating_sub(1);
            if budget.queued == 0 {
                users.remove(&user);
            }
        }
    }

    /// Sends `payload` to each of `user`'s newest subscriptions (at most the
    /// cap, should older rows remain). Each request takes one of the user's
    /// slots and then one of the node's, so a user whose endpoints hang holds
    /// at most their own share of the node's slots.
    pub(super) async fn push_to_user(
        &self,
        sender: &Arc<dyn PushSender>,
        user: UserId,
        slots: &Arc<Semaphore>,
        payload: &[u8],
    ) {
        use futures::StreamExt;
        let mut subs = match self.ports.push_subscriptions.push_subscriptions(user).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not load push subscriptions");
                return;
            }
        };
        subs.truncate(self.push_settings.max_subscriptions.max(1));
        futures::stream::iter(subs)
            .for_each_concurrent(None, |sub| async move {
                let Ok(_mine) = slots.acquire().await else {
                    return;
                };
                let Ok(_node) = self.push_slots.acquire().await else {
                    return;
                };
                let target = PushTarget {
                    endpoint: sub.endpoint.clone(),
                    p256dh: sub.p256dh.clone(),
                    auth: sub.auth.clone(),
                };
                match sender
                    .send(&target, payload, Duration::from_secs(86_400))
                    .await
                {
                    Ok(PushOutcome::Accepted) => {}
                    Ok(PushOutcome::Gone) => {
                        tracing::info!(user_id = %user, "push subscription gone; deleting it");
                        let _ = self
                            .ports
                            .push_subscriptions
                            .delete_push_endpoint(user, &sub.endpoint)
                            .await;
                    }
                    Err(e) => tracing::warn!(error = %e, user_id = %user, "push failed"),
                }
            })
            .await;
    }
}

fn check_endpoint(endpoint: &str) -> Result<()> {
    // A URL as push services hand them out: visible ASCII (no spaces or
    // control characters, which the push request could not carry anyway).
    let ok = endpoint.len() <= 2048
        && (endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        && endpoint.len() > "https://".len()
        && endpoint.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "endpoint",
            "must be an http(s) URL of at most 2048 visible ASCII characters",
        ))
    }
}

/// A browser's P-256 public key: base64url of an uncompressed point that
/// lies on the curve (a point off it is refused, not stored to fail later).
fn check_p256dh(value: &str) -> Result<()> {
    use aws_lc_rs::agreement::{ECDH_P256, ParsedPublicKey, UnparsedPublicKey};
    use base64::Engine;
    check_key(value, 65, "a P-256 public key")?;
    let point = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .unwrap_or_default();
    if point.first() != Some(&0x04)
        || ParsedPublicKey::try_from(UnparsedPublicKey::new(&ECDH_P256, &point)).is_err()
    {
        return Err(Error::field(
            "key",
            "must be an uncompressed point on P-256 (65 bytes, base64url-encoded)",
        ));
    }
    Ok(())
}

fn check_key(value: &str, len: usize, what: &str) -> Result<()> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .ok();
    match decoded {
        Some(b) if b.len() == len => Ok(()),
        _ => Err(Error::field(
            "key",
            format!("must be {what}, base64url-encoded ({len} bytes)"),
        )),
    }
}

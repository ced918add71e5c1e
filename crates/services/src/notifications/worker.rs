//! The worker: the consumer group that turns domain events into stored
//! notifications (batched, in one transaction where it can), then delivers
//! each: to the recipient's live stream, or by Web Push when none is open.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use starling_core::Result;
use starling_core::messaging::{Envelope, EventHandler};
use starling_core::model::{NotificationRecord, Subject};

use super::rules::{Planned, ROOM_PENDING_TTL};
use super::{LiveMessage, Notifications};

/// Notifications of a batch delivered at once.
const DELIVERY_CONCURRENCY: usize = 16;

impl Notifications {
    /// What follows a stored notification (`unread` is the recipient's new
    /// count, `None` when it was not stored): the live stream, or Web Push
    /// for a recipient with no stream open.
    pub(super) async fn deliver(
        self: &Arc<Self>,
        planned: Planned,
        unread: Option<i64>,
    ) -> Result<()> {
        if let Some(key) = &planned.mark_after {
            let _ = self
                .ports
                .cache
                .set(key, Bytes::from_static(b"1"), ROOM_PENDING_TTL)
                .await;
        }
        let Some(unread) = unread else {
            return Ok(()); // delivered before, or its subject is gone
        };
        let recipient = planned.record.recipient_id;
        self.uncount(recipient).await;
        let live = self.streaming(recipient).await;
        self.publish(
            recipient,
            &LiveMessage::Notification {
                record: planned.record.clone(),
                unread,
            },
        )
        .await;
        if !live && let Some(view) = self.view(planned.record).await? {
            self.push_later(&view);
        }
        Ok(())
    }

    /// Stores and delivers the notifications of one event, one at a time.
    pub(super) async fn handle_event(self: &Arc<Self>, event: &Envelope) -> Result<()> {
        for p in self.plan(event).await? {
            let unread = self
                .ports
                .notifications
                .insert_notification(&p.record, p.subject)
                .await?;
            self.deliver(p, unread).await?;
        }
        Ok(())
    }

    /// The notifications of several events stored in one transaction, then
    /// delivered. If that transaction fails, each event is handled alone, so
    /// one bad event fails only itself.
    pub(super) async fn handle_events(self: &Arc<Self>, events: &[Envelope]) -> Vec<Result<()>> {
        let mut results: Vec<Result<()>> = Vec::with_capacity(events.len());
        let mut plans: Vec<(usize, Planned)> = Vec::new();
        for (i, event) in events.iter().enumerate() {
            match self.plan(event).await {
                Ok(planned) => {
                    plans.extend(planned.into_iter().map(|p| (i, p)));
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let items: Vec<(NotificationRecord, Subject)> = plans
            .iter()
            .map(|(_, p)| (p.record.clone(), p.subject))
            .collect();
        match self.ports.notifications.insert_notifications(&items).await {
            Ok(unreads) => {
                // Deliveries are round trips (cache, pub/sub, the view for a
                // push): several at a time, or a batch of mentions on a
                // networked cache would take longer than the events arrive.
                use futures::StreamExt;
                let delivered: Vec<(usize, Result<()>)> = futures::stream::iter(
                    plans
                        .into_iter()
                        .zip(unreads)
                        .map(|((i, p), unread)| async move { (i, self.deliver(p, unread).await) }),
                )
                .buffer_unordered(DELIVERY_CONCURRENCY)
                .collect()
                .await;
                for (i, r) in delivered {
                    if let Err(e) = r
                        && results[i].is_ok()
                    {
                        results[i] = Err(e);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "a batch of notifications failed; storing them event by event");
                for (i, event) in events.iter().enumerate() {
                    if results[i].is_ok() {
                        results[i] = self.handle_event(event).await;
                    }
                }
            }
        }
        results
    }
}

/// The consumer group that turns events into notifications.
pub struct NotificationWorker(pub Arc<Notifications>);

impl NotificationWorker {
    pub const GROUP: &'static str = "notifications";
    pub const PATTERNS: &'static [&'static str] = &[
        "love.*",
        "comment.created",
        "post.created",
        "follow.created",
        "message.sent",
        "report.created",
    ];
}

#[async_trait]
impl EventHandler for NotificationWorker {
    async fn handle(&self, event: &Envelope) -> Result<()> {
        self.0.handle_event(event).await
    }

    async fn handle_batch(&self, events: &[Envelope]) -> Vec<Result<()>> {
        self.0.handle_events(events).await
    }
}

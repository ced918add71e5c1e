//! Turning actions into durable events, and the relay that moves them from
//! the outbox table onto the event bus.

use std::sync::Arc;
use std::time::Duration;

use starling_core::events::DomainEvent;
use starling_core::messaging::{Envelope, EventBus};
use starling_core::ports::OutboxStore;
use starling_core::{EventId, IdGenerator, Result, Timestamp};
use tokio::sync::{Notify, watch};

/// What services use to stamp events and wake the relay after a commit.
pub struct Outbox {
    ids: Arc<IdGenerator>,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(ids: Arc<IdGenerator>) -> Self {
        Outbox {
            ids,
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn event(&self, e: &DomainEvent) -> Result<Envelope> {
        e.envelope(EventId(self.ids.next()))
    }

    /// Tells this node's relay that a transaction just committed an event.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    pub fn signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Events claimed per round.
    pub batch: u32,
    /// How long a claim keeps other relays off an event.
    pub lease: Duration,
    /// How often to look for events committed on other nodes (or left behind).
    pub poll: Duration,
    /// After this many failed attempts an event is set aside as dead. `None`
    /// retries forever: right for a broker, whose outage must only delay
    /// events (it dead-letters failing consumers itself).
    pub dead_after: Option<u32>,
    /// Retry backoff: doubles from `retry_min` up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Events published at once.
    pub concurrency: usize,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            batch: 128,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            dead_after: None,
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            concurrency: 8,
        }
    }
}

/// Claims committed events, publishes them, and deletes those the bus took.
pub struct Relay {
    store: Arc<dyn OutboxStore>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    settings: RelaySettings,
}

fn after(d: Duration) -> Timestamp {
    Timestamp(Timestamp::now().millis() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
}

impl Relay {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        bus: Arc<dyn EventBus>,
        wake: Arc<Notify>,
        settings: RelaySettings,
    ) -> Self {
        Relay {
            store,
            bus,
            wake,
            settings,
        }
    }

    /// Runs until `stop` turns true; the round in flight finishes first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                return;
            }
            let worked = match self.round().await {
                Ok(n) => {
                    failures = 0;
                    n > 0
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "outbox relay round failed");
                    false
                }
            };
            if worked {
                continue;
            }
            let pause = if failures > 0 {
                self.backoff(failures)
            } else {
                self.settings.poll
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        (self.settings.retry_min.saturating_mul(factor)).min(self.settings.retry_max)
    }

    /// One claim-publish-delete round; returns how many events it handled.
    pub async fn round(&self) -> Result<usize> {
        let now = Timestamp::now();
        let events = self
            .store
            .claim_outbox(now, after(self.settings.lease), self.settings.batch)
            .await?;
        if events.is_empty() {
            return Ok(0);
        }
        let n = events.len();
        // The whole claim at once: the in-process bus hands each consumer
        // group its events as one batch (one transaction for a batch of
        // notifications); a broker gets `concurrency` publishes in flight.
        let results = self
            .bus
            .publish_batch(&events, self.settings.concurrency)
            .await;
        let mut done = Vec::with_capacity(n);
        for (event, result) in events.iter().zip(results) {
            match result {
                Ok(()) => done.push(event.id),
                Err(e) => {
                    let dead = self
                        .settings
                        .dead_after
                        .is_some_and(|max| event.attempt >= max);
                    if dead {
                        tracing::error!(event_id = %event.id, key = %event.key, attempts = event.attempt, error = %e, "event set aside as dead");
                    } else {
                        tracing::warn!(event_id = %event.id, key = %event.key, attempt = event.attempt, error = %e, "event not published; will retry");
                    }
                    let retry_at = after(self.backoff(event.attempt));
                    if let Err(e) = self.store.outbox_retry(event.id, retry_at, dead).await {
                        tracing::warn!(event_id = %event.id, error = %e, "could not reschedule an event; its lease will expire");
                    }
                }
            }
        }
        self.store.outbox_done(&done).await?;
        Ok(n)
    }
}

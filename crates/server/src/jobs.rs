//! The background work of a node, by role.

use std::sync::Arc;
use std::time::Duration;

use starling_api::AppState;
use starling_core::messaging::{EventBus, Mailer};
use starling_services::Services;
use starling_services::deletion::AccountPurger;
use starling_services::mail::WelcomeMailer;
use starling_services::media::MediaReaper;
use starling_services::notifications::NotificationWorker;
use starling_services::outbox::{Relay, RelaySettings};
use starling_services::timeline::FanOutWorker;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Roles, Settings};
use crate::sockets::SocketLayer;

/// The background work of a node, by role; `workers` collects what runs
/// until shutdown. Each method takes the fields apart first, so the jobs
/// read as plain locals.
pub(crate) struct Jobs<'a> {
    pub(crate) roles: Roles,
    pub(crate) settings: &'a Settings,
    pub(crate) services: &'a Services,
    pub(crate) shutdown: &'a watch::Sender<bool>,
    pub(crate) workers: Vec<JoinHandle<()>>,
}

impl Jobs<'_> {
    /// Nodes with sockets or streams follow ended sessions.
    pub(crate) fn sessions(&mut self, chat_hub: &SocketLayer, police_state: AppState) {
        let Jobs {
            roles,
            services,
            shutdown,
            ref mut workers,
            ..
        } = *self;
        if roles.api || roles.realtime {
            // Ended sessions from every node; and the sockets of ended or
            // expired sessions close.
            workers.push(tokio::spawn(
                services.sessions.clone().listen(shutdown.subscribe()),
            ));
            if let Some(w) = chat_hub.police(police_state, shutdown.subscribe()) {
                workers.push(w);
            }
        }
    }

    /// Workers consume the events.
    pub(crate) async fn consumers(
        &self,
        bus: &Arc<dyn EventBus>,
        mailer: Arc<dyn Mailer>,
    ) -> anyhow::Result<()> {
        let Jobs {
            roles,
            settings,
            services,
            ..
        } = *self;
        if roles.worker {
            // Consumers first, so the relay's first events find them.
            bus.consume(
                NotificationWorker::GROUP,
                NotificationWorker::PATTERNS,
                Arc::new(NotificationWorker(services.notifications.clone())),
            )
            .await?;
            bus.consume(
                FanOutWorker::GROUP,
                FanOutWorker::PATTERNS,
                Arc::new(FanOutWorker(services.timelines.clone())),
            )
            .await?;
            bus.consume(
                MediaReaper::GROUP,
                MediaReaper::PATTERNS,
                Arc::new(MediaReaper(services.media.clone())),
            )
            .await?;
            bus.consume(
                AccountPurger::GROUP,
                AccountPurger::PATTERNS,
                Arc::new(AccountPurger(services.deletion.clone())),
            )
            .await?;
            bus.consume(
                WelcomeMailer::GROUP,
                WelcomeMailer::PATTERNS,
                Arc::new(
                    WelcomeMailer::new(
                        services.ports.users.clone(),
                        mailer,
                        settings.site_name.clone(),
                        settings.public_url.clone(),
                    )
                    .welcome_on_register(
                        settings.registration_mode()?
                            != starling_core::moderation::RegistrationMode::Approval,
                    ),
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// Nodes that write or consume relay the outbox to the bus.
    pub(crate) fn relay(&mut self, bus: &Arc<dyn EventBus>) {
        let Jobs {
            roles,
            settings,
            services,
            shutdown,
            ref mut workers,
        } = *self;
        let in_process = settings.broker_url.is_none();
        if settings.outbox_relay && (roles.worker || (roles.api && !in_process)) {
            // With a broker, every node that writes relays its outbox (a
            // worker also picks up what stopped nodes left behind). In
            // process, only a node with the consumers may: publishing there
            // means handling, and events wait in the outbox until one runs.
            let relay = Relay::new(
                services.ports.outbox.clone(),
                bus.clone(),
                services.outbox.signal(),
                RelaySettings {
                    dead_after: in_process.then_some(settings.event_max_attempts),
                    ..RelaySettings::default()
                },
            );
            let stop = shutdown.subscribe();
            workers.push(tokio::spawn(relay.run(stop)));
        }
    }

    /// Nodes with sockets or streams keep their users' presence fresh: one
    /// job renews this node's marks well within their TTL.
    pub(crate) fn presence(&mut self) {
        if self.roles.api || self.roles.realtime {
            let presence = self.services.presence.clone();
            self.workers.push(spawn_every(
                presence.refresh_every(),
                self.shutdown.subscribe(),
                move || {
                    let presence = presence.clone();
                    async move { presence.refresh().await }
                },
            ));
        }
    }

    /// Workers clean up: expired refresh tokens, unused media, deleted
    /// accounts whose event went missing.
    pub(crate) fn upkeep(&mut self) {
        let Jobs {
            roles,
            settings,
            services,
            shutdown,
            ref mut workers,
        } = *self;
        if roles.worker {
            workers.push(spawn_token_purge(services.clone(), shutdown.subscribe()));
            workers.push(spawn_media_cleanup(
                services.clone(),
                Duration::from_secs(settings.media_cleanup_interval_secs),
                shutdown.subscribe(),
            ));
            workers.push(spawn_deletion_sweep(services.clone(), shutdown.subscribe()));
        }
    }
}

/// Runs `job` every `period` until shutdown.
pub(crate) fn spawn_every<F, Fut>(
    period: Duration,
    mut stop: watch::Receiver<bool>,
    job: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => job().await,
                _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            }
        }
    })
}

/// Worker job: delete long-expired refresh tokens every hour.
pub(crate) fn spawn_token_purge(services: Services, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_every(Duration::from_secs(3600), stop, move || {
        let services = services.clone();
        async move {
            match services.accounts.purge_expired_tokens().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "purged expired refresh tokens"),
                Err(e) => tracing::warn!(error = %e, "purging refresh tokens failed"),
            }
        }
    })
}

/// Worker job: delete uploads never attached within `media_unattached_ttl_secs`
/// and the media of deleted posts, every `media_cleanup_interval_secs`.
pub(crate) fn spawn_media_cleanup(
    services: Services,
    every: Duration,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    spawn_every(every, stop, move || {
        let services = services.clone();
        async move {
            match services.media.cleanup().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "deleted unused media"),
                Err(e) => tracing::warn!(error = %e, "media cleanup failed"),
            }
        }
    })
}

/// Worker job: every ten minutes, finish the deletion of accounts marked
/// deleted over an hour ago whose `account.deleted` event never finished
/// (set aside as dead after its attempts, or lost with a broker's queue).
pub(crate) fn spawn_deletion_sweep(
    services: Services,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    spawn_every(Duration::from_secs(600), stop, move || {
        let services = services.clone();
        async move {
            match services.deletion.sweep(Duration::from_secs(3600)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "finished unfinished account deletions"),
                Err(e) => tracing::warn!(error = %e, "the account deletion sweep failed"),
            }
        }
    })
}

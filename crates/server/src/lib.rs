//! The `starling` server: wires the configured backends into the services,
//! serves the roles asked for, and shuts down gracefully.

pub mod admin;
pub mod config;
mod http;
mod jobs;
mod ports;
mod sockets;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use starling_api::metrics::Metrics;
use starling_api::{AppState, AppStateInner, NamedCheck};
use starling_core::IdGenerator;
use starling_core::live::Fanout;
use starling_core::messaging::EventBus;
use starling_core::ports::Health;
use starling_services::Services;
use starling_store::SqlStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use config::Roles;
pub use config::{ConfigError, Overrides, Settings};
use jobs::Jobs;
use ports::{Backends, api_config, load_jwt_keys, ports, service_settings};
pub use ports::{open_store, private_dir};
use sockets::{SioLayer, SocketLayer, socket_io};

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
    bus: Arc<dyn EventBus>,
    store: SqlStore,
    sockets: SocketLayer,
    fanout: Arc<dyn Fanout>,
    grace: Duration,
}

impl Server {
    /// Builds everything from `settings` and starts listening.
    pub async fn start(settings: Settings) -> anyhow::Result<Server> {
        let roles = settings.roles()?;
        let addr = settings.bind_addr()?;
        private_dir(&settings.data_dir)?;

        let ids = Arc::new(IdGenerator::new(settings.node_id)?);
        let (store, _) = open_store(&settings).await?;
        tracing::info!(backend = store.dialect().name(), "database ready");
        let backends = Backends::connect(&settings).await?;
        let keys = load_jwt_keys(&settings)?;
        // Chat sockets: on nodes with the api or realtime role; with Redis,
        // the Socket.IO Redis adapter carries rooms across nodes. Made
        // before the services, which announce chat changes through them.
        let (sio_layer, chat_hub) = if roles.api || roles.realtime {
            let (layer, hub) = socket_io(&settings).await?;
            (Some(layer), hub)
        } else {
            (None, SocketLayer::none())
        };
        let fanout = chat_hub.fanout(&settings.public_url);
        let services = Services::new(
            ports(&store, &backends),
            ids,
            keys.clone(),
            service_settings(&settings)?,
            Some(backends.push.clone()),
            fanout.clone(),
        );

        let (shutdown, stop_rx) = watch::channel(false);
        let mut checks = vec![NamedCheck {
            name: "database".into(),
            check: Arc::new(store.clone()) as Arc<dyn Health>,
        }];
        checks.extend(backends.checks);
        let pool_store = store.clone();
        let metrics = Arc::new(Metrics::new(Some(Arc::new(move || {
            pool_store.pool_usage()
        }))));
        let state = AppState::new(AppStateInner {
            services: services.clone(),
            keys,
            config: Arc::new(api_config(&settings)?),
            metrics,
            checks: Arc::new(checks),
            stopping: stop_rx.clone(),
        });
        chat_hub.install(state.clone()).await?;
        let router = router(roles, state.clone(), sio_layer);
        let (addr, http) = listen(&settings, addr, router, stop_rx).await?;

        let mut jobs = Jobs {
            roles,
            settings: &settings,
            services: &services,
            shutdown: &shutdown,
            workers: Vec::new(),
        };
        jobs.sessions(&chat_hub, state);
        jobs.consumers(&backends.bus, backends.mailer).await?;
        jobs.relay(&backends.bus);
        jobs.presence();
        jobs.upkeep();
        let workers = jobs.workers;
        tracing::info!(%addr, roles = %settings.roles, node_id = settings.node_id, "starling is listening");
        Ok(Server {
            addr,
            shutdown,
            http,
            workers,
            bus: backends.bus,
            store,
            sockets: chat_hub,
            fanout,
            grace: Duration::from_secs(settings.shutdown_timeout_secs),
        })
    }

    /// The chat fan-out this node's services announce through.
    pub fn fanout(&self) -> Arc<dyn Fanout> {
        self.fanout.clone()
    }

    /// Stops accepting connections, lets in-flight requests finish (up to the
    /// configured grace period), stops the workers and closes the pool.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        // Upgraded WebSockets are outside the HTTP server's graceful
        // shutdown: close them, so clients reconnect to another node.
        if tokio::time::timeout(self.grace, self.sockets.close())
            .await
            .is_err()
        {
            tracing::warn!("chat sockets did not close within the grace period");
        }
        match tokio::time::timeout(self.grace, self.http).await {
            Ok(joined) => joined??,
            Err(_) => tracing::warn!("in-flight requests did not finish within the grace period"),
        }
        for w in self.workers {
            let _ = w.await;
        }
        self.bus.shutdown().await;
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What a node serves: the whole API with the api role, else operations
/// only; with the Socket.IO layer where it has sockets.
fn router(roles: Roles, state: AppState, sio_layer: Option<SioLayer>) -> axum::Router {
    let router = if roles.api {
        starling_api::api_router(state)
    } else {
        starling_api::ops_router(state)
    };
    match sio_layer {
        Some(SioLayer::Local(l)) => router.layer(l),
        Some(SioLayer::Redis(l)) => router.layer(l),
        None => router,
    }
}

/// Binds `addr` and serves `router` there until `stop`; answers with the
/// address bound (the port chosen when `addr` asks for port 0).
async fn listen(
    settings: &Settings,
    addr: SocketAddr,
    router: axum::Router,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let limits = http::HttpLimits {
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
        max_connections: settings.max_connections,
        max_head_bytes: http::MAX_HEAD_BYTES,
    };
    Ok((
        addr,
        tokio::spawn(http::serve(listener, router, limits, stop)),
    ))
}

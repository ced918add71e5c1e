//! The Socket.IO server of a node: in process, or across nodes through its
//! Redis adapter; and the chat fan-out over it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use starling_api::AppState;
use starling_core::live::Fanout;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Settings;

pub(crate) type RedisSio = socketioxide_redis::RedisAdapter<socketioxide::adapter::Emitter>;

pub(crate) enum SioLayer {
    Local(socketioxide::layer::SocketIoLayer),
    Redis(socketioxide::layer::SocketIoLayer<RedisSio>),
}

/// The Socket.IO server of this node, before its namespace is installed.
pub(crate) enum SocketLayer {
    None,
    Local(socketioxide::SocketIo),
    Redis(socketioxide::SocketIo<RedisSio>),
}

impl SocketLayer {
    pub(crate) fn none() -> Self {
        SocketLayer::None
    }

    /// The fan-out over these sockets; in memory (to nobody) without them.
    pub(crate) fn fanout(&self, public_url: &str) -> Arc<dyn Fanout> {
        use starling_api::fanout::SocketFanout;
        let url = public_url.to_owned();
        match self {
            SocketLayer::None => Arc::new(starling_adapters::MemoryFanout::new()),
            SocketLayer::Local(io) => Arc::new(SocketFanout::new(io.clone(), url)),
            SocketLayer::Redis(io) => Arc::new(SocketFanout::new(io.clone(), url)),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            SocketLayer::None => {}
            SocketLayer::Local(io) => io.close().await,
            SocketLayer::Redis(io) => io.close().await,
        }
    }

    /// Closes the sockets of ended and expired sessions.
    pub(crate) fn police(
        &self,
        state: AppState,
        stop: watch::Receiver<bool>,
    ) -> Option<JoinHandle<()>> {
        use starling_api::realtime::police_sessions;
        match self {
            SocketLayer::None => None,
            SocketLayer::Local(io) => Some(tokio::spawn(police_sessions(io.clone(), state, stop))),
            SocketLayer::Redis(io) => Some(tokio::spawn(police_sessions(io.clone(), state, stop))),
        }
    }

    pub(crate) async fn install(&self, state: AppState) -> anyhow::Result<()> {
        match self {
            SocketLayer::None => {}
            SocketLayer::Local(io) => starling_api::realtime::install(io, state),
            SocketLayer::Redis(io) => starling_api::realtime::install(io, state)
                .await
                .map_err(|e| anyhow::anyhow!("cannot start the Socket.IO Redis adapter: {e}"))?,
        }
        Ok(())
    }
}

/// The largest Socket.IO message, over polling or WebSocket: the API's body limit.
pub(crate) const SOCKET_MESSAGE_LIMIT: usize = 64 * 1024;

pub(crate) async fn socket_io(settings: &Settings) -> anyhow::Result<(SioLayer, SocketLayer)> {
    let builder = socketioxide::SocketIo::builder()
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload(SOCKET_MESSAGE_LIMIT as u64)
        // The same cap on WebSocket messages and frames: without it one
        // unauthenticated socket may hold tens of MiB of an unfinished one.
        .ws_max_message_size(SOCKET_MESSAGE_LIMIT)
        .ws_max_frame_size(SOCKET_MESSAGE_LIMIT)
        // Allocated per connection up front; chat frames are small and a
        // larger one just takes more reads (memory per idle connection).
        .ws_read_buffer_size(1024);
    match &settings.redis_url {
        Some(url) => {
            // The adapter's driver speaks RESP3 (push messages for pub/sub).
            let sep = if url.contains('?') { '&' } else { '?' };
            let client = redis::Client::open(format!("{url}{sep}protocol=resp3"))
                .context("bad redis_url for the Socket.IO adapter")?;
            let config = socketioxide_redis::RedisAdapterConfig::new()
                .with_prefix(format!("{}socket.io", settings.redis_prefix));
            let adapter =
                socketioxide_redis::RedisAdapterCtr::new_with_redis_config(&client, config)
                    .await
                    .context("cannot connect the Socket.IO Redis adapter")?;
            let (layer, io) = builder.with_adapter::<RedisSio>(adapter).build_layer();
            tracing::info!("chat rooms: socket.io redis adapter");
            Ok((SioLayer::Redis(layer), SocketLayer::Redis(io)))
        }
        None => {
            let (layer, io) = builder.build_layer();
            Ok((SioLayer::Local(layer), SocketLayer::Local(io)))
        }
    }
}

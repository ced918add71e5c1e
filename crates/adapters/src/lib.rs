//! Adapters for the cache, blob and messaging ports: an embedded one (memory,
//! files) and a scale-out one (Redis, S3, RabbitMQ) for each. Every adapter
//! passes the same conformance tests (`tests/conformance.rs`,
//! `tests/messaging.rs`).
//!
//! Adapters for outgoing messages: Web Push with VAPID (`push`, tested against a
//! local push service in `tests/push.rs`) and mail over SMTP or into `.eml`
//! files (`mail`, `tests/mail.rs`).

pub mod blob_fs;
pub mod blob_s3;
pub mod bus_memory;
pub mod bus_rabbitmq;
pub mod cache_memory;
pub mod cache_redis;
pub mod fanout_memory;
pub mod mail;
pub mod pubsub_memory;
pub mod pubsub_redis;
pub mod push;

pub use blob_fs::FsBlobStore;
pub use blob_s3::{S3BlobStore, S3Options};
pub use bus_memory::MemoryBus;
pub use bus_rabbitmq::{RabbitBus, RabbitOptions};
pub use cache_memory::MemoryCache;
pub use cache_redis::RedisCache;
pub use fanout_memory::MemoryFanout;
pub use mail::{FileMailer, SmtpMailer};
pub use pubsub_memory::MemoryPubSub;
pub use pubsub_redis::RedisPubSub;
pub use push::{Urgency, VapidKey, WebPushSender};

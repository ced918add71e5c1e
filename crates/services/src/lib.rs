//! The rules of each area. Services depend only on the ports in `starling_core`;
//! they know nothing of HTTP or SQL.

pub mod accounts;
mod cached;
pub mod chat;
pub mod deletion;
pub mod export;
pub mod images;
pub mod jwt;
pub mod limits;
pub mod mail;
pub mod media;
pub mod moderation;
pub mod notifications;
pub mod outbox;
pub mod passwords;
pub mod posts;
pub mod presence;
pub mod relations;
pub mod sessions;
pub mod text;
pub mod timeline;
pub mod users;

use std::sync::Arc;

use starling_core::live::Fanout;
use starling_core::messaging::{PubSub, PushSender};
use starling_core::ports::{
    BlobStore, BlockStore, Cache, CommentStore, FollowStore, LoveStore, MediaStore,
    NotificationStore, OutboxStore, PostStore, PushSubscriptionStore, TokenStore, UserStore,
};
use starling_core::{IdGenerator, Result, Timestamp};

pub use accounts::{Accounts, AuthSettings, Session};
pub use jwt::{JwtKeys, TokenVerifier};
pub use limits::{Action, LimitSettings, Rate, RateLimits};
pub use media::MediaSettings;
pub use timeline::{FeedSettings, Timelines};
pub use users::{UserView, Users};

/// The ports the services run on, chosen once at start-up; each service
/// takes only those it names.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub follows: Arc<dyn FollowStore>,
    pub blocks: Arc<dyn BlockStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub posts: Arc<dyn PostStore>,
    pub comments: Arc<dyn CommentStore>,
    pub loves: Arc<dyn LoveStore>,
    pub media: Arc<dyn MediaStore>,
    pub search: Arc<dyn starling_core::ports::SearchStore>,
    pub notifications: Arc<dyn NotificationStore>,
    pub push_subscriptions: Arc<dyn PushSubscriptionStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub chat: Arc<dyn starling_core::ports::ChatStore>,
    pub deletion: Arc<dyn starling_core::ports::AccountDeletionStore>,
    pub export: Arc<dyn starling_core::ports::AccountExportStore>,
    pub moderation: Arc<dyn starling_core::moderation::ModerationStore>,
    pub cache: Arc<dyn Cache>,
    pub blobs: Arc<dyn BlobStore>,
    pub pubsub: Arc<dyn PubSub>,
    /// Password-reset and verification links (welcome mails go from the worker).
    pub mailer: Arc<dyn starling_core::messaging::Mailer>,
}

/// Every service, wired. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub accounts: Arc<Accounts>,
    pub users: Arc<Users>,
    pub relations: Arc<relations::Relations>,
    pub posts: Arc<posts::Posts>,
    pub media: Arc<media::Media>,
    pub timelines: Arc<Timelines>,
    pub notifications: Arc<notifications::Notifications>,
    pub outbox: Arc<outbox::Outbox>,
    pub chat: Arc<chat::Chat>,
    pub deletion: Arc<deletion::Deletion>,
    pub export: Arc<export::Export>,
    pub presence: Arc<presence::Presence>,
    pub verifier: Arc<TokenVerifier>,
    pub sessions: Arc<sessions::Sessions>,
    pub limits: Arc<RateLimits>,
    pub moderation: Arc<moderation::Moderation>,
    pub ports: Ports,
}

/// Every service's settings.
pub struct Settings {
    pub auth: AuthSettings,
    pub feed: FeedSettings,
    pub media: MediaSettings,
    pub chat: chat::ChatSettings,
    pub limits: LimitSettings,
    pub push: notifications::PushSettings,
    /// How long a node's word that a user is connected lasts unless renewed.
    pub presence_ttl: std::time::Duration,
    /// Who may register.
    pub registration_mode: starling_core::moderation::RegistrationMode,
}

impl Services {
    /// Events not yet published and when the oldest was written (for metrics).
    pub async fn outbox_backlog(&self) -> Result<(u64, Option<Timestamp>)> {
        self.ports.outbox.outbox_backlog().await
    }

    /// Wires every service to the ports it names. `fanout` delivers chat
    /// events to this node's sockets (and, through its adapter, every
    /// node's).
    pub fn new(
        ports: Ports,
        ids: Arc<IdGenerator>,
        keys: Arc<JwtKeys>,
        settings: Settings,
        push: Option<Arc<dyn PushSender>>,
        fanout: Arc<dyn Fanout>,
    ) -> Self {
        let Settings {
            auth,
            feed,
            media,
            chat,
            limits,
            push: push_settings,
            presence_ttl,
            registration_mode,
        } = settings;
        let p = &ports;
        let limits = Arc::new(RateLimits::new(p.cache.clone(), limits));
        let verifier = Arc::new(TokenVerifier::new(keys.clone(), auth.access_ttl));
        let sessions = Arc::new(sessions::Sessions::new(
            p.cache.clone(),
            p.pubsub.clone(),
            verifier.clone(),
            auth.access_ttl,
        ));
        let presence = Arc::new(presence::Presence::new(p.cache.clone(), presence_ttl));
        let relations = Arc::new(relations::Relations::new(p.blocks.clone(), p.cache.clone()));
        let feed_cache_ttl = feed.post_cache_ttl;
        let timelines = Arc::new(Timelines::new(
            timeline::TimelinePorts {
                users: p.users.clone(),
                follows: p.follows.clone(),
                posts: p.posts.clone(),
                cache: p.cache.clone(),
            },
            feed,
        ));
        let outbox = Arc::new(outbox::Outbox::new(ids.clone()));
        let notifications = Arc::new(notifications::Notifications::new(
            notifications::NotificationPorts {
                notifications: p.notifications.clone(),
                push_subscriptions: p.push_subscriptions.clone(),
                users: p.users.clone(),
                posts: p.posts.clone(),
                comments: p.comments.clone(),
                chat: p.chat.clone(),
                cache: p.cache.clone(),
                pubsub: p.pubsub.clone(),
            },
            presence.clone(),
            ids.clone(),
            push,
            push_settings,
            relations.clone(),
        ));
        // Avatars and post media share one decode budget.
        let image_gate = images::ImageGate::new(media.image_memory_budget);
        let users = Arc::new(Users::new(
            users::UserPorts {
                users: p.users.clone(),
                follows: p.follows.clone(),
                blocks: p.blocks.clone(),
                blobs: p.blobs.clone(),
                cache: p.cache.clone(),
            },
            ids.clone(),
            users::AvatarIntake {
                max_bytes: auth.avatar_max_bytes,
                images: image_gate.clone(),
            },
            auth.user_cache_ttl,
            timelines.clone(),
            outbox.clone(),
            notifications.clone(),
            limits.clone(),
            relations.clone(),
        ));
        let posts = Arc::new(posts::Posts::new(
            posts::PostPorts {
                posts: p.posts.clone(),
                comments: p.comments.clone(),
                loves: p.loves.clone(),
                media: p.media.clone(),
                search: p.search.clone(),
                follows: p.follows.clone(),
                users: p.users.clone(),
                cache: p.cache.clone(),
            },
            ids.clone(),
            timelines.clone(),
            users.clone(),
            feed_cache_ttl,
            outbox.clone(),
            notifications.clone(),
            limits.clone(),
            relations.clone(),
        ));
        let media = Arc::new(media::Media::new(
            media::MediaPorts {
                media: p.media.clone(),
                blobs: p.blobs.clone(),
            },
            ids.clone(),
            media,
            image_gate,
            limits.clone(),
        ));
        let chat = Arc::new(chat::Chat::new(
            chat::ChatDeps {
                store: p.chat.clone(),
                fanout,
                presence: presence.clone(),
                users: users.clone(),
                outbox: outbox.clone(),
                notifications: notifications.clone(),
                limits: limits.clone(),
                ids: ids.clone(),
                relations: relations.clone(),
            },
            chat,
        ));
        let accounts = Arc::new(Accounts::new(
            accounts::AccountPorts {
                users: p.users.clone(),
                tokens: p.tokens.clone(),
                cache: p.cache.clone(),
                mailer: p.mailer.clone(),
            },
            ids.clone(),
            keys,
            auth,
            accounts::AccountsDeps {
                users: users.clone(),
                outbox: outbox.clone(),
                sessions: sessions.clone(),
                limits: limits.clone(),
            },
        ));
        let deletion = Arc::new(deletion::Deletion::new(
            deletion::DeletionPorts {
                store: p.deletion.clone(),
                users: p.users.clone(),
                blobs: p.blobs.clone(),
            },
            deletion::DeletionDeps {
                accounts: accounts.clone(),
                users: users.clone(),
                posts: posts.clone(),
                timelines: timelines.clone(),
                notifications: notifications.clone(),
                chat: chat.clone(),
                outbox: outbox.clone(),
            },
        ));
        let export = Arc::new(export::Export::new(export::ExportPorts {
            users: p.users.clone(),
            follows: p.follows.clone(),
            blocks: p.blocks.clone(),
            posts: p.posts.clone(),
            notifications: p.notifications.clone(),
            export: p.export.clone(),
            media: p.media.clone(),
            owned: p.deletion.clone(),
            blobs: p.blobs.clone(),
        }));
        let moderation = Arc::new(moderation::Moderation::new(
            moderation::ModerationPorts {
                moderation: p.moderation.clone(),
                users: p.users.clone(),
                posts: p.posts.clone(),
                comments: p.comments.clone(),
                chat: p.chat.clone(),
            },
            moderation::ModerationDeps {
                users: users.clone(),
                accounts: accounts.clone(),
                posts: posts.clone(),
                chat: chat.clone(),
                outbox: outbox.clone(),
                ids,
                limits: limits.clone(),
            },
            registration_mode,
        ));
        Services {
            moderation,
            accounts,
            deletion,
            export,
            users,
            relations,
            posts,
            media,
            timelines,
            notifications,
            outbox,
            chat,
            presence,
            verifier,
            sessions,
            limits,
            ports,
        }
    }
}

/// The items of `it` in order, each once.
pub(crate) fn unique<T: Copy + Eq + std::hash::Hash>(it: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    it.filter(|x| seen.insert(*x)).collect()
}

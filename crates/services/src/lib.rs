//! The rules of each area. Services depend only on the ports in `starling_core`;
//! they know nothing of HTTP or SQL.

pub mod accounts;
mod cached;
pub mod images;
pub mod jwt;
pub mod media;
pub mod passwords;
pub mod posts;
pub mod text;
pub mod timeline;
pub mod users;

use std::sync::Arc;

use starling_core::IdGenerator;
use starling_core::ports::{
    BlobStore, Cache, CommentStore, FollowStore, LoveStore, MediaStore, PostStore, TokenStore,
    UserStore,
};

pub use accounts::{Accounts, AuthSettings, Session};
pub use jwt::{JwtKeys, TokenVerifier};
pub use media::MediaSettings;
pub use timeline::{FeedSettings, Timelines};
pub use users::{UserView, Users};

/// The ports the services run on, chosen once at start-up.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub follows: Arc<dyn FollowStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub posts: Arc<dyn PostStore>,
    pub comments: Arc<dyn CommentStore>,
    pub loves: Arc<dyn LoveStore>,
    pub media: Arc<dyn MediaStore>,
    pub search: Arc<dyn starling_core::ports::SearchStore>,
    pub cache: Arc<dyn Cache>,
    pub blobs: Arc<dyn BlobStore>,
}

/// Every service, wired. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub accounts: Arc<Accounts>,
    pub users: Arc<Users>,
    pub posts: Arc<posts::Posts>,
    pub media: Arc<media::Media>,
    pub timelines: Arc<Timelines>,
    pub verifier: Arc<TokenVerifier>,
    pub ports: Ports,
}

impl Services {
    pub fn new(
        ports: Ports,
        ids: Arc<IdGenerator>,
        keys: Arc<JwtKeys>,
        auth: AuthSettings,
        feed: FeedSettings,
        media: MediaSettings,
    ) -> Self {
        let verifier = Arc::new(TokenVerifier::new(keys.clone(), auth.access_ttl));
        let feed_cache_ttl = feed.post_cache_ttl;
        let timelines = Arc::new(Timelines::new(ports.clone(), feed));
        let users = Arc::new(Users::new(
            ports.clone(),
            ids.clone(),
            auth.avatar_max_bytes,
            auth.user_cache_ttl,
            timelines.clone(),
        ));
        let posts = Arc::new(posts::Posts::new(
            ports.clone(),
            ids.clone(),
            timelines.clone(),
            users.clone(),
            feed_cache_ttl,
        ));
        let media = Arc::new(media::Media::new(ports.clone(), ids.clone(), media));
        let accounts = Arc::new(Accounts::new(ports.clone(), ids, keys, users.clone(), auth));
        Services {
            accounts,
            users,
            posts,
            media,
            timelines,
            verifier,
            ports,
        }
    }
}

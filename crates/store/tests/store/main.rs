#![allow(clippy::unwrap_used)]
//! The store contract, one body per behaviour, run on SQLite and on PostgreSQL
//! (`STARLING_TEST_DATABASE_URL`; a fresh database per test; required with CI=true).
//! Each area's module lists its bodies in `store_tests!`, which makes one test
//! per engine: `<area>::on_sqlite::<name>` and `<area>::on_postgres::<name>`.

#[path = "../common/mod.rs"]
mod common;

use std::sync::LazyLock;

use starling_core::events::DomainEvent;
use starling_core::messaging::Envelope;
use starling_core::model::{NewComment, NewPost, NewUser};
use starling_core::ports::{CommentStore, OutboxStore, PostStore, UserStore};
use starling_core::types::{Email, Username};
use starling_core::{CommentId, EventId, IdGenerator, PostId, Timestamp, UserId};
use starling_store::{SqlStore, StoreOptions};

/// A store on an empty, migrated database, and what it lives in.
struct Db {
    store: SqlStore,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<common::FreshPg>,
}

/// Every migration, in order: a fresh database applies them all.
fn all_migrations() -> Vec<i64> {
    starling_store::migrate::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect()
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = SqlStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.migrate().await.unwrap(), all_migrations());
    Db {
        store,
        _dir: Some(dir),
        _pg: None,
    }
}

async fn postgres() -> Option<Db> {
    let pg = common::FreshPg::new().await?;
    let store = SqlStore::connect(pg.url.as_str(), &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.migrate().await.unwrap(), all_migrations());
    Some(Db {
        store,
        _dir: None,
        _pg: Some(pg),
    })
}

/// One test per body and engine, in the calling module.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::sqlite().await;
                    super::$name(&db.store).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = crate::postgres().await {
                        super::$name(&db.store).await
                    }
                }
            )*
        }
    };
}

/// Asserts that `r` is the error `$pat`.
macro_rules! assert_err {
    ($r:expr, $pat:pat $(, $why:literal)? $(,)?) => {
        match $r {
            Err($pat) => {}
            other => panic!(
                "expected {}{}, got {:?}",
                stringify!($pat),
                concat!($(": ", $why)?),
                other.map(|_| "a value")
            ),
        }
    };
}

mod blocks;
mod chat_messages;
mod chat_rooms;
mod comments;
mod deletion;
mod feeds;
mod loves;
mod moderation;
mod notifications;
mod outbox;
mod posts;
mod push;
mod security;
mod users;

fn ids() -> IdGenerator {
    IdGenerator::new(1).unwrap()
}

/// A fresh event (unique id) for the writes that take one.
fn ev() -> Envelope {
    static EVENTS: LazyLock<IdGenerator> = LazyLock::new(|| IdGenerator::new(2).unwrap());
    DomainEvent::UserRegistered {
        user: UserId::from_i64(1),
    }
    .envelope(EventId(EVENTS.next()))
    .unwrap()
}

async fn user(s: &SqlStore, ids: &IdGenerator, name: &str) -> UserId {
    s.create_user(NewUser {
        id: UserId(ids.next()),
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.org")).unwrap(),
        password_hash: "x".into(),
        display_name: None,
        created_at: Timestamp::now(),
        event: ev(),
    })
    .await
    .unwrap()
    .id
}

/// A post by `author` with `text` and nothing else, for tweaking.
fn new_post(g: &IdGenerator, author: UserId, text: &str) -> NewPost {
    NewPost {
        id: PostId(g.next()),
        author_id: author,
        text: text.into(),
        idempotency_key: None,
        mentions: vec![],
        tags: vec![],
        media_ids: vec![],
        created_at: Timestamp::now(),
        event: ev(),
    }
}

async fn post(s: &SqlStore, g: &IdGenerator, author: UserId) -> PostId {
    let (p, created) = s.create_post(new_post(g, author, "hello")).await.unwrap();
    assert!(created);
    p.id
}

/// A fixed instant for records whose times the tests compare.
const T: i64 = 1_700_000_000_000;

/// A comment by `author` on `post` (under `parent`), for tweaking.
fn new_comment(
    g: &IdGenerator,
    post: PostId,
    parent: Option<CommentId>,
    author: UserId,
    text: &str,
) -> NewComment {
    NewComment {
        id: CommentId(g.next()),
        post_id: post,
        parent_id: parent,
        author_id: author,
        text: text.into(),
        created_at: Timestamp(T),
        event: ev(),
    }
}

async fn add_comment(
    s: &SqlStore,
    g: &IdGenerator,
    post: PostId,
    parent: Option<CommentId>,
    author: UserId,
) -> CommentId {
    s.create_comment(new_comment(g, post, parent, author, "nice"))
        .await
        .unwrap()
        .id
}

/// Events waiting in the outbox.
async fn pending(s: &SqlStore) -> u64 {
    s.outbox_pending().await.unwrap()
}

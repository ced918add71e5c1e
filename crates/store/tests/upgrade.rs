#![allow(clippy::unwrap_used)]
//! A database written by the previous main (before the native engines and
//! migration checksums) opens, migrates and reads back whole, on both engines.
//! The fixtures were made by `tests/fixtures/make.py` with that main's binary:
//! three people, follows, posts with a mention, a tag, an image and an edit,
//! comments with a reply, loves, a group chat and the notifications of it all.

mod common;

use common::FreshPg;
use sqlx::Connection;
use starling_core::UserId;
use starling_core::model::{Feed, LoveTarget};
use starling_core::ports::*;
use starling_store::{MIGRATIONS, SqlStore, StoreOptions, migrate_checksum};

const SQLITE_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v0.1-main.db");
const PG_FIXTURE: &str = include_str!("fixtures/v0.1-main.postgres.sql");
/// The last migration the fixtures were made with.
const FIXTURE_VERSION: i64 = 7;

/// Migrations newer than the fixtures: every one after theirs.
fn since_fixture() -> Vec<i64> {
    starling_store::migrate::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .filter(|v| *v > FIXTURE_VERSION)
        .collect()
}

async fn everything_is_there(store: &SqlStore) {
    let ada = store.user_by_username("ada").await.unwrap();
    let grace = store.user_by_username("grace").await.unwrap();
    let linus = store.user_by_username("linus").await.unwrap();
    assert_eq!(ada.display_name.as_deref(), Some("Ada L."));
    assert_eq!(ada.bio, "engines");
    assert_eq!(ada.email, "ada@example.org");
    assert_eq!((ada.follower_count, ada.following_count), (2, 1));
    assert!(
        store
            .credentials("ada@example.org")
            .await
            .unwrap()
            .is_some(),
        "the password hash survives"
    );

    let followers = store.follower_ids(ada.id).await.unwrap();
    assert_eq!(followers.len(), 2);
    assert!(followers.contains(&grace.id) && followers.contains(&linus.id));

    let posts = store.feed(&Feed::Author(ada.id), None, 10).await.unwrap();
    let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        texts,
        ["second post, edited", "Hello @grace, the #engine runs"]
    );
    let (edited, first) = (&posts[0], &posts[1]);
    assert!(edited.edited_at.is_some());
    assert_eq!(store.post_history(edited.id).await.unwrap().len(), 2);
    assert_eq!((first.love_count, first.comment_count), (2, 2));
    assert_eq!(store.media_of(&[first.id]).await.unwrap().len(), 1);
    let mentions = store.mentions_of(&[first.id]).await.unwrap();
    assert_eq!(mentions.len(), 1);
    let tagged = store
        .feed(&Feed::Tag("engine".into()), None, 10)
        .await
        .unwrap();
    assert_eq!(tagged.len(), 2);
    let home = store.feed(&Feed::Home(grace.id), None, 10).await.unwrap();
    assert_eq!(home.len(), 3, "grace's own post and ada's two");
    let found = store
        .search_posts(&["engine".to_owned()], None, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "the full-text index survives");

    let top = store.comments(first.id, None, None, 10).await.unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].text, "lovely");
    let replies = store
        .comments(first.id, Some(top[0].id), None, 10)
        .await
        .unwrap();
    assert_eq!(replies.len(), 1);
    let loved = store
        .loved_among(grace.id, &[first.id.get(), edited.id.get()])
        .await
        .unwrap();
    assert_eq!(loved.len(), 1);
    let lovers = store
        .lovers(LoveTarget::Post(first.id), None, 10)
        .await
        .unwrap();
    assert_eq!(lovers.len(), 2);

    let rooms = store.rooms_of(ada.id).await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].room.name.as_deref(), Some("analysts"));
    let messages = store
        .messages(rooms[0].room.id, ada.id, None, 10)
        .await
        .unwrap();
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hi", "hello all", "welcome"]);
    assert_eq!(store.members(rooms[0].room.id).await.unwrap().len(), 3);

    let notes = store.notifications(ada.id, None, 50, false).await.unwrap();
    assert!(
        notes.len() >= 4,
        "ada's follows, loves and comment notifications: {}",
        notes.len()
    );
    assert!(store.unread_count(ada.id).await.unwrap() > 0);

    // And it still takes writes.
    let none = UserId::from_i64(1);
    assert!(store.user_by_id(none).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_from_the_previous_main_opens_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("starling.db");
    std::fs::copy(SQLITE_FIXTURE, &path).unwrap();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqlStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    // Only the migrations written since that main are applied.
    assert_eq!(store.migrate().await.unwrap(), since_fixture());
    everything_is_there(&store).await;
    // The checksums were recorded on that first open.
    let c = rusqlite::Connection::open(&path).unwrap();
    let sum: String = c
        .query_row(
            "SELECT checksum FROM schema_migrations WHERE version = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sum, migrate_checksum(MIGRATIONS[0].sqlite));
    assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("starling.db");
    std::fs::copy(SQLITE_FIXTURE, &path).unwrap();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqlStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 2",
        [],
    )
    .unwrap();
    let err = store.migrate().await.unwrap_err().to_string();
    assert!(err.contains("migration 2 (posts) was changed"), "{err}");

    // A database migrated by a newer binary is refused too.
    c.execute(
        "UPDATE schema_migrations SET checksum = ?1 WHERE version = 2",
        [migrate_checksum(MIGRATIONS[1].sqlite)],
    )
    .unwrap();
    c.execute(
        "INSERT INTO schema_migrations (version, name, applied_at, checksum)
         VALUES (9999, 'future', 0, 'x')",
        [],
    )
    .unwrap();
    let err = store.migrate().await.unwrap_err().to_string();
    assert!(err.contains("migration 9999"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_from_the_previous_main_opens_whole() {
    let Some(db) = FreshPg::new().await else {
        return;
    };
    let url = &db.url;
    {
        // The dump's psql meta-commands (\restrict) are for psql alone.
        let dump: String = PG_FIXTURE
            .lines()
            .filter(|l| !l.starts_with('\\'))
            .collect::<Vec<_>>()
            .join("\n");
        let mut conn = sqlx::PgConnection::connect(url.as_str()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(dump))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
    }
    let store = SqlStore::connect(url.as_str(), &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.migrate().await.unwrap(), since_fixture());
    everything_is_there(&store).await;
    assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
    store.close().await;
}

/// Two nodes starting together on one empty database: one applies every
/// migration, the other waits its turn and finds nothing to do.
async fn concurrent_migrators_take_turns(url: &str) {
    let a = SqlStore::connect(url, &StoreOptions::default())
        .await
        .unwrap();
    let b = SqlStore::connect(url, &StoreOptions::default())
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    let mut both = [ra, rb];
    both.sort();
    assert_eq!(both, [Vec::new(), all], "one applied them all, once");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrators_take_turns_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    concurrent_migrators_take_turns(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrators_take_turns_on_postgres() {
    let Some(db) = FreshPg::new().await else {
        return;
    };
    concurrent_migrators_take_turns(db.url.as_str()).await;
}

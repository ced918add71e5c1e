#![allow(clippy::unwrap_used)]
//! The store contract, one body per behaviour, run on SQLite and on PostgreSQL
//! (`STARLING_TEST_DATABASE_URL`; a fresh database per test; required with CI=true).

use std::sync::{Arc, LazyLock};

use sqlx::Connection;
use starling_core::events::DomainEvent;
use starling_core::id::TokenFamilyId;
use starling_core::messaging::Envelope;
use starling_core::model::{NewUser, RefreshTokenRecord, RotateOutcome};
use starling_core::ports::{FollowStore, TokenStore, UserStore};
use starling_core::types::{Email, Username};
use starling_core::{Error, EventId, IdGenerator, Timestamp, UserId};
use starling_store::{SqlStore, StoreOptions};

struct Db {
    store: SqlStore,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async move {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                                .execute(&mut c)
                                .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = SqlStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.migrate().await.unwrap(), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    Db {
        store,
        _dir: Some(dir),
        pg: None,
    }
}

async fn postgres() -> Option<Db> {
    let Some(admin) = std::env::var("STARLING_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but STARLING_TEST_DATABASE_URL is not set"
        );
        starling_core::testing::skipped(format_args!("STARLING_TEST_DATABASE_URL is not set"));
        return None;
    };
    let name = format!("starling_s_{:016x}", rand::random::<u64>());
    let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut c)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    let store = SqlStore::connect(url.as_str(), &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.migrate().await.unwrap(), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    Some(Db {
        store,
        _dir: None,
        pg: Some((admin, name)),
    })
}

macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::sqlite().await;
                    super::$name(&db.store).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = super::postgres().await {
                        super::$name(&db.store).await
                    }
                }
            )*
        }
    };
}

store_tests!(
    migrations_are_idempotent,
    unique_violations_become_conflicts_naming_the_field,
    missing_rows_become_not_found,
    concurrent_refreshes_with_one_token_let_exactly_one_through,
    concurrent_follows_keep_counts_exact,
    crossing_follows_never_deadlock,
    writes_put_their_event_in_the_outbox_only_when_they_change_something,
    concurrent_relays_never_claim_the_same_event,
    outbox_retries_wait_and_dead_events_stay_aside,
    a_notification_is_stored_once_per_event_and_recipient,
    a_batch_of_notifications_is_one_transaction_with_running_counts,
    no_notification_for_a_subject_already_gone,
    removing_notifications_keeps_unread_counts_exact,
    marking_read_is_for_the_recipient_only,
    push_subscriptions_are_keyed_by_user_and_endpoint,
    push_subscriptions_keep_the_newest_per_user,
    concurrent_push_subscribes_keep_the_cap,
);

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

async fn migrations_are_idempotent(s: &SqlStore) {
    assert_eq!(s.migrate().await.unwrap(), Vec::<i64>::new());
}

async fn unique_violations_become_conflicts_naming_the_field(s: &SqlStore) {
    let g = ids();
    user(s, &g, "amy").await;
    let dup = |username: &str, email: &str| NewUser {
        id: UserId(g.next()),
        username: Username::parse(username).unwrap(),
        email: Email::parse(email).unwrap(),
        password_hash: "x".into(),
        display_name: None,
        created_at: Timestamp::now(),
        event: ev(),
    };
    match s.create_user(dup("amy", "other@example.org")).await {
        Err(Error::Conflict { code, field, .. }) => {
            assert_eq!((code, field), ("username_taken", Some("username")))
        }
        other => panic!("expected a username conflict, got {other:?}"),
    }
    match s.create_user(dup("amy2", "amy@example.org")).await {
        Err(Error::Conflict { code, field, .. }) => {
            assert_eq!((code, field), ("email_taken", Some("email")))
        }
        other => panic!("expected an email conflict, got {other:?}"),
    }
}

async fn missing_rows_become_not_found(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "ben").await;
    let ghost = UserId(g.next());
    assert!(matches!(
        s.user_by_id(ghost).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.user_by_username("nobody").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.follow(a, ghost, Timestamp::now(), &ev()).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.unfollow(a, ghost).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.followers(ghost, None, 10).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        s.user_by_id(a).await.unwrap().following_count,
        0,
        "nothing written"
    );
}

async fn concurrent_refreshes_with_one_token_let_exactly_one_through(s: &SqlStore) {
    let g = ids();
    let u = user(s, &g, "cat").await;
    let now = Timestamp::now();
    let family = TokenFamilyId(g.next());
    let first = RefreshTokenRecord {
        token_hash: vec![1; 32],
        user_id: u,
        family_id: family,
        created_at: now,
        expires_at: now.plus(std::time::Duration::from_secs(3600)),
    };
    s.insert_refresh_token(first.clone()).await.unwrap();
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let store = store.clone();
        let next = RefreshTokenRecord {
            token_hash: vec![10 + i; 32],
            ..first.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .rotate_refresh_token(&[1; 32], next, Timestamp::now())
                .await
                .unwrap()
        }));
    }
    let mut rotated = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            RotateOutcome::Rotated { user_id, .. } => {
                assert_eq!(user_id, u);
                rotated.push(i as u8);
            }
            RotateOutcome::Reused { user_id, .. } => assert_eq!(user_id, u),
            RotateOutcome::Invalid => panic!("a known token is never 'invalid' here"),
        }
    }
    assert_eq!(rotated.len(), 1, "exactly one refresh wins");
    // The losers saw reuse, so the family (including the winner's new token) is revoked.
    let winner = vec![10 + rotated[0]; 32];
    let again = RefreshTokenRecord {
        token_hash: vec![99; 32],
        ..first.clone()
    };
    assert_eq!(
        s.rotate_refresh_token(&winner, again, Timestamp::now())
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
}

async fn concurrent_follows_keep_counts_exact(s: &SqlStore) {
    let g = ids();
    let target = user(s, &g, "dora").await;
    let mut fans = Vec::new();
    for i in 0..10 {
        fans.push(user(s, &g, &format!("fan{i}")).await);
    }
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for &f in &fans {
        for _ in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .follow(f, target, Timestamp::now(), &ev())
                    .await
                    .unwrap()
            }));
        }
    }
    let mut inserted = 0;
    for t in tasks {
        if t.await.unwrap() {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 10, "each follow is inserted once");
    assert_eq!(s.user_by_id(target).await.unwrap().follower_count, 10);
    for &f in &fans {
        assert_eq!(s.user_by_id(f).await.unwrap().following_count, 1);
    }
}

async fn crossing_follows_never_deadlock(s: &SqlStore) {
    // Every pair follows each other in both directions at once: on PostgreSQL,
    // counters updated in opposite row orders would deadlock here.
    let g = ids();
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(user(s, &g, &format!("cross{i}")).await);
    }
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for &a in &users {
        for &b in &users {
            if a != b {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    store.follow(a, b, Timestamp::now(), &ev()).await
                }));
            }
        }
    }
    for t in tasks {
        assert!(
            t.await.unwrap().unwrap(),
            "each follow inserted once, none failed"
        );
    }
    for &u in &users {
        let r = s.user_by_id(u).await.unwrap();
        assert_eq!((r.follower_count, r.following_count), (7, 7));
    }
}

async fn writes_put_their_event_in_the_outbox_only_when_they_change_something(s: &SqlStore) {
    use starling_core::ports::OutboxStore;
    let g = ids();
    let a = user(s, &g, "outa").await;
    let b = user(s, &g, "outb").await;
    assert_eq!(
        s.outbox_pending().await.unwrap(),
        2,
        "one event per registration"
    );
    let follow = ev();
    assert!(s.follow(a, b, Timestamp::now(), &follow).await.unwrap());
    assert!(!s.follow(a, b, Timestamp::now(), &ev()).await.unwrap());
    assert_eq!(
        s.outbox_pending().await.unwrap(),
        3,
        "a repeated follow adds no event"
    );
    let now = Timestamp::now();
    let claimed = s
        .claim_outbox(now, Timestamp(now.0 + 30_000), 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(
        claimed.windows(2).all(|w| w[0].id < w[1].id),
        "oldest first"
    );
    let f = claimed.iter().find(|e| e.id == follow.id).unwrap();
    assert_eq!(
        (f.key.as_str(), &f.payload, f.attempt),
        (follow.key.as_str(), &follow.payload, 1)
    );
    assert!(
        s.claim_outbox(now, Timestamp(now.0 + 30_000), 100)
            .await
            .unwrap()
            .is_empty(),
        "leased events are not handed out twice"
    );
    s.outbox_done(&claimed.iter().map(|e| e.id).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(s.outbox_pending().await.unwrap(), 0);
}

async fn concurrent_relays_never_claim_the_same_event(s: &SqlStore) {
    use starling_core::ports::OutboxStore;
    let g = ids();
    for i in 0..40 {
        user(s, &g, &format!("claim{i}")).await;
    }
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let now = Timestamp::now();
                let got = store
                    .claim_outbox(now, Timestamp(now.0 + 60_000), 7)
                    .await
                    .unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|e| e.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (40, 40), "every event claimed exactly once");
}

async fn outbox_retries_wait_and_dead_events_stay_aside(s: &SqlStore) {
    use starling_core::ports::OutboxStore;
    let g = ids();
    user(s, &g, "retry1").await;
    user(s, &g, "retry2").await;
    let now = Timestamp::now();
    let lease = Timestamp(now.0 + 30_000);
    let claimed = s.claim_outbox(now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    s.outbox_retry(claimed[0].id, Timestamp(now.0 + 1_000), false)
        .await
        .unwrap();
    s.outbox_retry(claimed[1].id, now, true).await.unwrap();
    assert!(
        s.claim_outbox(now, lease, 10).await.unwrap().is_empty(),
        "not before its time"
    );
    let later = Timestamp(now.0 + 2_000);
    let again = s
        .claim_outbox(later, Timestamp(later.0 + 30_000), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "the dead event is never handed out again");
    assert_eq!((again[0].id, again[0].attempt), (claimed[0].id, 2));
    assert_eq!(s.outbox_pending().await.unwrap(), 1);
}

fn notification(
    g: &IdGenerator,
    event: EventId,
    recipient: UserId,
    actor: UserId,
    kind: starling_core::model::NotificationKind,
    post: Option<starling_core::PostId>,
) -> starling_core::model::NotificationRecord {
    starling_core::model::NotificationRecord {
        id: starling_core::NotificationId(g.next()),
        event_id: event,
        recipient_id: recipient,
        kind,
        actor_id: actor,
        post_id: post,
        comment_id: None,
        room_id: None,
        created_at: Timestamp::now(),
        read_at: None,
    }
}

async fn post(s: &SqlStore, g: &IdGenerator, author: UserId) -> starling_core::PostId {
    use starling_core::ports::PostStore;
    let id = starling_core::PostId(g.next());
    s.create_post(starling_core::model::NewPost {
        id,
        author_id: author,
        text: "hello".into(),
        idempotency_key: None,
        mentions: vec![],
        tags: vec![],
        media_ids: vec![],
        created_at: Timestamp::now(),
        event: ev(),
    })
    .await
    .unwrap();
    id
}

async fn a_notification_is_stored_once_per_event_and_recipient(s: &SqlStore) {
    use starling_core::model::{NotificationKind, Subject};
    use starling_core::ports::NotificationStore;
    let g = ids();
    let a = user(s, &g, "nota").await;
    let b = user(s, &g, "notb").await;
    let c = user(s, &g, "notc").await;
    let p = post(s, &g, a).await;
    let event = EventId(g.next());
    let first = notification(&g, event, a, b, NotificationKind::Mention, Some(p));
    assert_eq!(
        s.insert_notification(&first, Subject::Post(p))
            .await
            .unwrap(),
        Some(1)
    );
    // The same event again (a redelivery makes a new notification id).
    let again = notification(&g, event, a, b, NotificationKind::Mention, Some(p));
    assert_eq!(
        s.insert_notification(&again, Subject::Post(p))
            .await
            .unwrap(),
        None
    );
    // The same event for another recipient is another notification.
    let other = notification(&g, event, c, b, NotificationKind::Mention, Some(p));
    assert_eq!(
        s.insert_notification(&other, Subject::Post(p))
            .await
            .unwrap(),
        Some(1)
    );
    let listed = s.notifications(a, None, 10, false).await.unwrap();
    assert_eq!(listed, vec![first.clone()]);
    assert_eq!(s.unread_count(a).await.unwrap(), 1);
    assert_eq!(s.notification(first.id).await.unwrap(), first);
    let after = s
        .notifications_after(a, starling_core::NotificationId::from_i64(0), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
}

async fn a_batch_of_notifications_is_one_transaction_with_running_counts(s: &SqlStore) {
    use starling_core::model::{NotificationKind, Subject};
    use starling_core::ports::NotificationStore;
    let g = ids();
    let a = user(s, &g, "batcha").await;
    let b = user(s, &g, "batchb").await;
    let c = user(s, &g, "batchc").await;
    let p = post(s, &g, a).await;
    let e1 = EventId(g.next());
    let e2 = EventId(g.next());
    let gone = starling_core::PostId(g.next());
    let batch = vec![
        (
            notification(&g, e1, a, b, NotificationKind::Mention, Some(p)),
            Subject::Post(p),
        ),
        (
            notification(&g, e1, c, b, NotificationKind::Mention, Some(p)),
            Subject::Post(p),
        ),
        // The same event and recipient again, in the same batch: skipped.
        (
            notification(&g, e1, a, b, NotificationKind::Mention, Some(p)),
            Subject::Post(p),
        ),
        (
            notification(&g, e2, a, c, NotificationKind::Mention, Some(p)),
            Subject::Post(p),
        ),
        // A subject already gone: skipped, the rest stored.
        (
            notification(&g, e2, c, a, NotificationKind::Mention, Some(gone)),
            Subject::Post(gone),
        ),
    ];
    assert_eq!(
        s.insert_notifications(&batch).await.unwrap(),
        vec![Some(1), Some(1), None, Some(2), None]
    );
    assert_eq!(s.unread_count(a).await.unwrap(), 2);
    assert_eq!(s.unread_count(c).await.unwrap(), 1);
    assert_eq!(
        s.insert_notifications(&[]).await.unwrap(),
        Vec::<Option<i64>>::new()
    );
    // Redelivered as a whole: nothing new.
    assert_eq!(
        s.insert_notifications(&batch[..2]).await.unwrap(),
        vec![None, None]
    );
    assert_eq!(s.notifications(a, None, 10, false).await.unwrap().len(), 2);
}

async fn no_notification_for_a_subject_already_gone(s: &SqlStore) {
    use starling_core::model::{LoveTarget, NotificationKind, Subject};
    use starling_core::ports::{LoveStore, NotificationStore, PostStore};
    let g = ids();
    let a = user(s, &g, "gonea").await;
    let b = user(s, &g, "goneb").await;
    let p = post(s, &g, a).await;
    let love = Subject::Love {
        actor: b,
        target: LoveTarget::Post(p),
    };
    let n = notification(&g, EventId(g.next()), a, b, NotificationKind::Love, Some(p));
    assert_eq!(
        s.insert_notification(&n, love).await.unwrap(),
        None,
        "never loved"
    );
    s.love(LoveTarget::Post(p), b, Timestamp::now(), &ev())
        .await
        .unwrap();
    s.unlove(LoveTarget::Post(p), b).await.unwrap();
    assert_eq!(
        s.insert_notification(&n, love).await.unwrap(),
        None,
        "unloved before delivery"
    );
    let follow = Subject::Follow {
        actor: b,
        followee: a,
    };
    let f = notification(&g, EventId(g.next()), a, b, NotificationKind::Follow, None);
    assert_eq!(s.insert_notification(&f, follow).await.unwrap(), None);
    s.delete_post(p, a, Timestamp::now(), &ev()).await.unwrap();
    let m = notification(
        &g,
        EventId(g.next()),
        a,
        b,
        NotificationKind::Mention,
        Some(p),
    );
    assert_eq!(
        s.insert_notification(&m, Subject::Post(p)).await.unwrap(),
        None,
        "post deleted"
    );
    assert_eq!(s.unread_count(a).await.unwrap(), 0);
    assert!(
        s.notifications(a, None, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn removing_notifications_keeps_unread_counts_exact(s: &SqlStore) {
    use starling_core::model::{LoveTarget, NotificationKind, Subject};
    use starling_core::ports::{LoveStore, NotificationStore};
    let g = ids();
    let a = user(s, &g, "rema").await;
    let b = user(s, &g, "remb").await;
    let c = user(s, &g, "remc").await;
    let p = post(s, &g, a).await;
    for &lover in &[b, c] {
        s.love(LoveTarget::Post(p), lover, Timestamp::now(), &ev())
            .await
            .unwrap();
        let n = notification(
            &g,
            EventId(g.next()),
            a,
            lover,
            NotificationKind::Love,
            Some(p),
        );
        let subject = Subject::Love {
            actor: lover,
            target: LoveTarget::Post(p),
        };
        s.insert_notification(&n, subject).await.unwrap().unwrap();
    }
    let mention = notification(
        &g,
        EventId(g.next()),
        b,
        a,
        NotificationKind::Mention,
        Some(p),
    );
    s.insert_notification(&mention, Subject::Post(p))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.unread_count(a).await.unwrap(), 2);
    // b's love goes: only b's love notification to a.
    let changed = s
        .remove_notifications(Subject::Love {
            actor: b,
            target: LoveTarget::Post(p),
        })
        .await
        .unwrap();
    assert_eq!(changed, vec![(a, 1)]);
    // Read c's love, then delete the post: everything about it goes, counts stay exact.
    let left = s.notifications(a, None, 10, false).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        s.mark_read(a, left[0].id, Timestamp::now()).await.unwrap(),
        0
    );
    let mut changed = s.remove_notifications(Subject::Post(p)).await.unwrap();
    changed.sort();
    let mut want = vec![(a, 0), (b, 0)];
    want.sort();
    assert_eq!(changed, want);
    assert!(
        s.notifications(a, None, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.unread_count(b).await.unwrap(), 0);
}

async fn marking_read_is_for_the_recipient_only(s: &SqlStore) {
    use starling_core::model::{NotificationKind, Subject};
    use starling_core::ports::NotificationStore;
    let g = ids();
    let a = user(s, &g, "marka").await;
    let b = user(s, &g, "markb").await;
    let p = post(s, &g, a).await;
    let mut ids_a = Vec::new();
    for _ in 0..3 {
        let n = notification(
            &g,
            EventId(g.next()),
            a,
            b,
            NotificationKind::Mention,
            Some(p),
        );
        s.insert_notification(&n, Subject::Post(p))
            .await
            .unwrap()
            .unwrap();
        ids_a.push(n.id);
    }
    assert!(matches!(
        s.mark_read(b, ids_a[0], Timestamp::now()).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.unread_count(a).await.unwrap(), 3);
    assert_eq!(s.mark_read(a, ids_a[0], Timestamp::now()).await.unwrap(), 2);
    assert_eq!(
        s.mark_read(a, ids_a[0], Timestamp::now()).await.unwrap(),
        2,
        "idempotent"
    );
    assert_eq!(s.notifications(a, None, 10, true).await.unwrap().len(), 2);
    s.mark_all_read(b, Timestamp::now()).await.unwrap();
    assert_eq!(
        s.unread_count(a).await.unwrap(),
        2,
        "b's read-all leaves a alone"
    );
    s.mark_all_read(a, Timestamp::now()).await.unwrap();
    assert_eq!(s.unread_count(a).await.unwrap(), 0);
    assert!(s.notifications(a, None, 10, true).await.unwrap().is_empty());
}

// ---- push subscriptions ----

fn push_sub(
    g: &IdGenerator,
    user: UserId,
    endpoint: &str,
    key: &str,
    at: i64,
) -> starling_core::model::PushSubscriptionRecord {
    starling_core::model::PushSubscriptionRecord {
        id: starling_core::PushSubscriptionId(g.next()),
        user_id: user,
        endpoint: endpoint.to_owned(),
        p256dh: key.to_owned(),
        auth: format!("auth-{key}"),
        created_at: Timestamp(at),
    }
}

async fn endpoints_of(s: &SqlStore, user: UserId) -> Vec<String> {
    use starling_core::ports::PushSubscriptionStore;
    s.push_subscriptions(user)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.endpoint)
        .collect()
}

async fn push_subscriptions_are_keyed_by_user_and_endpoint(s: &SqlStore) {
    use starling_core::ports::PushSubscriptionStore;
    let g = ids();
    let ann = user(s, &g, "pushann").await;
    let bob = user(s, &g, "pushbob").await;
    let endpoint = "https://push.example.net/shared";
    let a = s
        .save_push_subscription(&push_sub(&g, ann, endpoint, "ann-key", 1_000), 10)
        .await
        .unwrap();
    // Bob registering the same endpoint gets a row of his own; Ann keeps hers.
    let b = s
        .save_push_subscription(&push_sub(&g, bob, endpoint, "bob-key", 2_000), 10)
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(b.user_id, bob);
    let anns = s.push_subscriptions(ann).await.unwrap();
    assert_eq!(anns.len(), 1, "Ann's subscription was not taken over");
    assert_eq!((anns[0].id, anns[0].p256dh.as_str()), (a.id, "ann-key"));
    let bobs = s.push_subscriptions(bob).await.unwrap();
    assert_eq!((bobs[0].id, bobs[0].p256dh.as_str()), (b.id, "bob-key"));

    // Ann registering it again updates her row in place.
    let again = s
        .save_push_subscription(&push_sub(&g, ann, endpoint, "ann-key-2", 3_000), 10)
        .await
        .unwrap();
    assert_eq!(again.id, a.id, "same (user, endpoint), same id");
    assert_eq!(again.p256dh, "ann-key-2");
    assert_eq!(again.created_at, Timestamp(3_000));
    assert_eq!(s.push_subscriptions(ann).await.unwrap().len(), 1);

    // A push service's "gone" for Ann's row leaves Bob's alone.
    s.delete_push_endpoint(ann, endpoint).await.unwrap();
    assert!(s.push_subscriptions(ann).await.unwrap().is_empty());
    assert_eq!(endpoints_of(s, bob).await, [endpoint]);
    // Ids are per owner: Ann cannot delete Bob's row.
    assert!(!s.delete_push_subscription(ann, b.id).await.unwrap());
    assert!(s.delete_push_subscription(bob, b.id).await.unwrap());
}

async fn push_subscriptions_keep_the_newest_per_user(s: &SqlStore) {
    use starling_core::ports::PushSubscriptionStore;
    let g = ids();
    let ann = user(s, &g, "capann").await;
    let bob = user(s, &g, "capbob").await;
    s.save_push_subscription(&push_sub(&g, bob, "https://p/bob", "k", 1), 3)
        .await
        .unwrap();
    for i in 1..=5 {
        let saved = s
            .save_push_subscription(
                &push_sub(&g, ann, &format!("https://p/{i}"), "k", 1_000 * i),
                3,
            )
            .await
            .unwrap();
        assert_eq!(
            saved.endpoint,
            format!("https://p/{i}"),
            "the saved one stays"
        );
    }
    assert_eq!(
        endpoints_of(s, ann).await,
        ["https://p/5", "https://p/4", "https://p/3"],
        "the oldest two were replaced; newest first"
    );
    // Registering p/3 again makes it the newest, so p/4 goes next.
    s.save_push_subscription(&push_sub(&g, ann, "https://p/3", "k2", 6_000), 3)
        .await
        .unwrap();
    s.save_push_subscription(&push_sub(&g, ann, "https://p/7", "k", 7_000), 3)
        .await
        .unwrap();
    assert_eq!(
        endpoints_of(s, ann).await,
        ["https://p/7", "https://p/3", "https://p/5"]
    );
    // A lower cap trims on the next save; other users are untouched.
    s.save_push_subscription(&push_sub(&g, ann, "https://p/8", "k", 8_000), 1)
        .await
        .unwrap();
    assert_eq!(endpoints_of(s, ann).await, ["https://p/8"]);
    assert_eq!(endpoints_of(s, bob).await, ["https://p/bob"]);
}

async fn concurrent_push_subscribes_keep_the_cap(s: &SqlStore) {
    use starling_core::ports::PushSubscriptionStore;
    let g = Arc::new(ids());
    let ann = user(s, &g, "raceann").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (s, g) = (s.clone(), g.clone());
        tasks.push(tokio::spawn(async move {
            let sub = push_sub(
                &g,
                ann,
                &format!("https://p/{i}"),
                "k",
                Timestamp::now().millis(),
            );
            s.save_push_subscription(&sub, 3).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.push_subscriptions(ann).await.unwrap().len(), 3);
}

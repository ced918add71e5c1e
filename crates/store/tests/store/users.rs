//! Users, follows and refresh tokens: error mapping and counts under concurrency.

use std::sync::Arc;

use starling_core::id::TokenFamilyId;
use starling_core::model::{NewUser, RefreshTokenRecord, RotateOutcome};
use starling_core::ports::{FollowStore, TokenStore, UserStore};
use starling_core::types::{Email, Username};
use starling_core::{Error, Timestamp, UserId};
use starling_store::SqlStore;

use crate::{ev, ids, user};

store_tests!(
    migrations_are_idempotent,
    unique_violations_become_conflicts_naming_the_field,
    missing_rows_become_not_found,
    concurrent_refreshes_with_one_token_let_exactly_one_through,
    concurrent_follows_keep_counts_exact,
    crossing_follows_never_deadlock,
);

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

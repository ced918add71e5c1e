//! Blocks and mutes: idempotence, follows removed both ways with exact
//! counts, relation sets, keyset lists.

use std::sync::Arc;

use starling_core::model::UserPosition;
use starling_core::ports::{BlockStore, FollowStore, UserStore};
use starling_core::{Error, Timestamp, UserId};
use starling_store::SqlStore;

use crate::{ev, ids, user};

store_tests!(
    blocking_removes_follows_both_ways_and_keeps_counts,
    blocks_and_mutes_are_idempotent_and_need_a_real_target,
    relations_name_each_side,
    lists_page_newest_first,
    concurrent_blocks_and_follows_keep_counts_exact,
);

async fn counts(s: &SqlStore, id: UserId) -> (i64, i64) {
    let u = s.user_by_id(id).await.unwrap();
    (u.follower_count, u.following_count)
}

async fn blocking_removes_follows_both_ways_and_keeps_counts(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let ben = user(s, &g, "ben").await;
    let cat = user(s, &g, "cat").await;
    let now = Timestamp::now();
    assert!(s.follow(amy, ben, now, &ev()).await.unwrap());
    assert!(s.follow(ben, amy, now, &ev()).await.unwrap());
    assert!(s.follow(cat, ben, now, &ev()).await.unwrap());
    assert_eq!(counts(s, ben).await, (2, 1));

    let (new, mut removed) = s.block(ben, amy, now).await.unwrap();
    assert!(new);
    removed.sort();
    let mut expected = vec![(amy, ben), (ben, amy)];
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(counts(s, ben).await, (1, 0));
    assert_eq!(counts(s, amy).await, (0, 0));
    assert!(s.followed_among(amy, &[ben]).await.unwrap().is_empty());
    assert!(s.followed_among(ben, &[amy]).await.unwrap().is_empty());
    // Others' follows stay.
    assert!(s.followed_among(cat, &[ben]).await.unwrap().contains(&ben));

    // Again: nothing new, nothing removed, counts unchanged.
    let (new, removed) = s.block(ben, amy, now).await.unwrap();
    assert!(!new);
    assert!(removed.is_empty());
    assert_eq!(counts(s, ben).await, (1, 0));
    assert!(s.blocked_between(amy, ben).await.unwrap());
    assert!(s.blocked_between(ben, amy).await.unwrap());
    assert!(!s.blocked_between(amy, cat).await.unwrap());

    assert!(s.unblock(ben, amy).await.unwrap());
    assert!(!s.unblock(ben, amy).await.unwrap());
    assert!(!s.blocked_between(amy, ben).await.unwrap());
    // Unblocking restores no follow.
    assert_eq!(counts(s, amy).await, (0, 0));
}

async fn blocks_and_mutes_are_idempotent_and_need_a_real_target(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let ben = user(s, &g, "ben").await;
    let ghost = UserId(g.next());
    let now = Timestamp::now();
    assert!(matches!(
        s.block(amy, ghost, now).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.mute(amy, ghost, now).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.unblock(amy, ghost).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.unmute(amy, ghost).await,
        Err(Error::NotFound { .. })
    ));
    assert!(s.mute(amy, ben, now).await.unwrap());
    assert!(!s.mute(amy, ben, now).await.unwrap());
    assert!(s.unmute(amy, ben).await.unwrap());
    assert!(!s.unmute(amy, ben).await.unwrap());
    // A mute is no block.
    s.mute(amy, ben, now).await.unwrap();
    assert!(!s.blocked_between(amy, ben).await.unwrap());
}

async fn relations_name_each_side(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let ben = user(s, &g, "ben").await;
    let cat = user(s, &g, "cat").await;
    let dan = user(s, &g, "dan").await;
    let now = Timestamp::now();
    s.block(amy, ben, now).await.unwrap();
    s.block(cat, amy, now).await.unwrap();
    s.mute(amy, dan, now).await.unwrap();
    s.mute(dan, amy, now).await.unwrap();
    let r = s.relations_of(amy).await.unwrap();
    assert_eq!(r.blocking, vec![ben]);
    assert_eq!(r.blocked_by, vec![cat]);
    assert_eq!(r.muting, vec![dan]);
    let r = s.relations_of(ben).await.unwrap();
    assert!(r.blocking.is_empty() && r.muting.is_empty());
    assert_eq!(r.blocked_by, vec![amy]);
    // Someone muting you is invisible to you.
    let r = s.relations_of(dan).await.unwrap();
    assert_eq!(r.muting, vec![amy]);
    assert!(r.blocked_by.is_empty());
}

async fn lists_page_newest_first(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let mut others = Vec::new();
    for (i, name) in ["ben", "cat", "dan"].iter().enumerate() {
        let u = user(s, &g, name).await;
        s.block(amy, u, Timestamp(1000 + i as i64)).await.unwrap();
        s.mute(amy, u, Timestamp(2000 - i as i64)).await.unwrap();
        others.push(u);
    }
    let first = s.blocked_users(amy, None, 2).await.unwrap();
    let names: Vec<UserId> = first.iter().map(|(u, _)| u.id).collect();
    assert_eq!(names, vec![others[2], others[1]]);
    let after: UserPosition = first[1].1;
    let rest = s.blocked_users(amy, Some(after), 2).await.unwrap();
    assert_eq!(
        rest.iter().map(|(u, _)| u.id).collect::<Vec<_>>(),
        vec![others[0]]
    );
    let muted = s.muted_users(amy, None, 10).await.unwrap();
    assert_eq!(
        muted.iter().map(|(u, _)| u.id).collect::<Vec<_>>(),
        vec![others[0], others[1], others[2]]
    );
    assert!(
        s.blocked_users(others[0], None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Follows, unfollows and blocks of one user racing each other, both ways:
/// the counters always match the follow rows, and nothing deadlocks.
async fn concurrent_blocks_and_follows_keep_counts_exact(s: &SqlStore) {
    let g = ids();
    let star = user(s, &g, "star").await;
    let mut fans = Vec::new();
    for i in 0..8 {
        let f = user(s, &g, &format!("fan{i}")).await;
        s.follow(star, f, Timestamp::now(), &ev()).await.unwrap();
        fans.push(f);
    }
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for (i, &f) in fans.iter().enumerate() {
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            st.follow(f, star, Timestamp::now(), &ev()).await.unwrap();
        }));
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                st.block(star, f, Timestamp::now()).await.unwrap();
            } else {
                st.block(f, star, Timestamp::now()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let followers = s.followers(star, None, 100).await.unwrap().len() as i64;
    let following = s.following(star, None, 100).await.unwrap().len() as i64;
    assert_eq!(following, 0, "every follow of star's went with a block");
    assert_eq!(counts(s, star).await, (followers, following));
    for f in fans {
        let n = s.following(f, None, 100).await.unwrap().len() as i64;
        let m = s.followers(f, None, 100).await.unwrap().len() as i64;
        assert_eq!(counts(s, f).await, (m, n));
    }
}

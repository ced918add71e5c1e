//! Loves of posts and comments: idempotent, counted exactly, listed by
//! recency, and refused for anything gone.

use std::collections::HashSet;

use starling_core::model::{LoveTarget, UserPosition};
use starling_core::ports::{CommentStore, LoveStore, PostStore};
use starling_core::{CommentId, Error, PostId, Timestamp, UserId};
use starling_store::SqlStore;

use crate::{T, add_comment, ev, ids, pending, post, user};

store_tests!(
    loving_twice_counts_once_and_unloving_nothing_changes_nothing,
    concurrent_loves_and_unloves_keep_counts_exact,
    lovers_page_most_recent_first_with_ties_broken_by_user,
    loved_among_and_loved_targets_are_the_users_own,
    a_gone_target_cannot_be_loved_or_unloved,
);

async fn post_loves(s: &SqlStore, p: PostId) -> i64 {
    s.posts_by_ids(&[p]).await.unwrap()[0].love_count
}

async fn loving_twice_counts_once_and_unloving_nothing_changes_nothing(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let p = post(s, &g, amy).await;
    let c = add_comment(s, &g, p, None, bob).await;
    let target = LoveTarget::Post(p);
    let before = pending(s).await;
    assert!(s.love(target, bob, Timestamp(T), &ev()).await.unwrap());
    assert_eq!(pending(s).await, before + 1, "the love's event");
    assert!(!s.love(target, bob, Timestamp(T + 9), &ev()).await.unwrap());
    assert_eq!(pending(s).await, before + 1, "no event for a repeat");
    assert_eq!(post_loves(s, p).await, 1);
    let lovers = s.lovers(target, None, 10).await.unwrap();
    assert_eq!(lovers.len(), 1);
    assert_eq!(
        (lovers[0].0.id, lovers[0].1),
        (
            bob,
            UserPosition {
                at: Timestamp(T),
                user_id: bob
            }
        ),
        "the repeat did not move the love's time"
    );

    // A comment's loves are its own.
    assert!(
        s.love(LoveTarget::Comment(c), cat, Timestamp(T), &ev())
            .await
            .unwrap()
    );
    assert_eq!(s.comment(c).await.unwrap().love_count, 1);
    assert_eq!(post_loves(s, p).await, 1);

    assert!(!s.unlove(target, cat).await.unwrap(), "cat never loved it");
    assert_eq!(post_loves(s, p).await, 1);
    assert!(s.unlove(target, bob).await.unwrap());
    assert!(!s.unlove(target, bob).await.unwrap());
    assert_eq!(post_loves(s, p).await, 0);
    assert!(s.lovers(target, None, 10).await.unwrap().is_empty());
    let after_unloves = pending(s).await;
    assert_eq!(after_unloves, before + 2, "unloves write no event");
    assert!(s.love(target, bob, Timestamp(T), &ev()).await.unwrap());
    assert_eq!(pending(s).await, after_unloves + 1, "loving again is new");
    assert_eq!(post_loves(s, p).await, 1);
}

async fn concurrent_loves_and_unloves_keep_counts_exact(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let p = post(s, &g, amy).await;
    let target = LoveTarget::Post(p);
    let mut fans = Vec::new();
    for i in 0..8 {
        fans.push(user(s, &g, &format!("fan{i}")).await);
    }
    let run = async |jobs: Vec<(UserId, bool)>| {
        let tasks: Vec<_> = jobs
            .into_iter()
            .map(|(u, on)| {
                let s = s.clone();
                tokio::spawn(async move {
                    if on {
                        s.love(target, u, Timestamp::now(), &ev()).await.unwrap()
                    } else {
                        s.unlove(target, u).await.unwrap()
                    }
                })
            })
            .collect();
        let mut changed = 0;
        for t in tasks {
            changed += usize::from(t.await.unwrap());
        }
        changed
    };
    let thrice = |u: &UserId, on| [(*u, on); 3];
    let loves = fans.iter().flat_map(|u| thrice(u, true)).collect();
    assert_eq!(run(loves).await, 8, "each love lands once");
    assert_eq!(post_loves(s, p).await, 8);
    // Half take theirs back while the others love again.
    let mixed = fans[..4]
        .iter()
        .flat_map(|u| thrice(u, false))
        .chain(fans[4..].iter().flat_map(|u| thrice(u, true)))
        .collect();
    assert_eq!(run(mixed).await, 4, "each unlove lands once, repeats none");
    assert_eq!(post_loves(s, p).await, 4);
    assert_eq!(s.lovers(target, None, 100).await.unwrap().len(), 4);
}

async fn lovers_page_most_recent_first_with_ties_broken_by_user(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let p = post(s, &g, amy).await;
    let c = add_comment(s, &g, p, None, amy).await;
    let target = LoveTarget::Post(p);
    let mut want = Vec::new();
    for i in 0..9 {
        let u = user(s, &g, &format!("lover{i}")).await;
        // Three at each of three instants, the latest loved first.
        let at = Timestamp(T + 2 - i64::from(i / 3));
        s.love(target, u, at, &ev()).await.unwrap();
        want.push((at, u));
    }
    want.sort_by(|a, b| b.cmp(a));
    let (mut got, mut after) = (Vec::new(), None);
    loop {
        let page = s.lovers(target, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.1);
        for (rec, pos) in page {
            assert_eq!(rec.id, pos.user_id);
            let entry = (pos.at, pos.user_id);
            assert!(!got.contains(&entry), "{entry:?} twice");
            got.push(entry);
        }
    }
    assert_eq!(got, want, "by time, then by user, each once");
    assert!(
        s.lovers(LoveTarget::Comment(c), None, 10)
            .await
            .unwrap()
            .is_empty(),
        "the post's lovers are not its comment's"
    );
}

async fn loved_among_and_loved_targets_are_the_users_own(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let [p1, p2, p3] = [
        post(s, &g, amy).await,
        post(s, &g, amy).await,
        post(s, &g, amy).await,
    ];
    let c1 = add_comment(s, &g, p2, None, amy).await;
    for t in [
        LoveTarget::Post(p1),
        LoveTarget::Post(p3),
        LoveTarget::Comment(c1),
    ] {
        s.love(t, bob, Timestamp::now(), &ev()).await.unwrap();
    }
    s.love(LoveTarget::Post(p2), cat, Timestamp::now(), &ev())
        .await
        .unwrap();
    let ghost = CommentId(g.next()).get();
    let all = [p1.get(), p2.get(), p3.get(), c1.get(), ghost];
    assert_eq!(
        s.loved_among(bob, &all).await.unwrap(),
        HashSet::from([p1.get(), p3.get(), c1.get()])
    );
    assert_eq!(
        s.loved_among(cat, &all).await.unwrap(),
        HashSet::from([p2.get()])
    );
    assert!(s.loved_among(bob, &[]).await.unwrap().is_empty());
    assert!(s.loved_among(amy, &all).await.unwrap().is_empty());

    let mut targets = s.loved_targets(bob, 10).await.unwrap();
    targets.sort();
    let mut want = vec![p1.get(), p3.get(), c1.get()];
    want.sort();
    assert_eq!(targets, want);
    let two = s.loved_targets(bob, 2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|t| want.contains(t)) && two[0] != two[1]);
    assert!(s.loved_targets(amy, 10).await.unwrap().is_empty());

    s.unlove(LoveTarget::Post(p1), bob).await.unwrap();
    assert!(s.loved_among(bob, &[p1.get()]).await.unwrap().is_empty());
    assert_eq!(s.loved_targets(bob, 10).await.unwrap().len(), 2);
}

async fn a_gone_target_cannot_be_loved_or_unloved(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let p = post(s, &g, amy).await;
    let removed = add_comment(s, &g, p, None, amy).await;
    s.delete_comment(removed, Timestamp::now()).await.unwrap();
    let kept = add_comment(s, &g, p, None, amy).await;
    add_comment(s, &g, p, Some(kept), amy).await;
    s.delete_comment(kept, Timestamp::now()).await.unwrap();
    let doomed = post(s, &g, amy).await;
    let orphan = add_comment(s, &g, doomed, None, amy).await;
    s.love(LoveTarget::Post(doomed), bob, Timestamp::now(), &ev())
        .await
        .unwrap();
    s.delete_post(doomed, amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    let gone = [
        ("a post never made", LoveTarget::Post(PostId(g.next()))),
        (
            "a comment never made",
            LoveTarget::Comment(CommentId(g.next())),
        ),
        (
            "a comment taken for a post",
            LoveTarget::Post(PostId::from_i64(kept.get())),
        ),
        ("a removed comment", LoveTarget::Comment(removed)),
        ("a deleted comment's placeholder", LoveTarget::Comment(kept)),
        ("a deleted post", LoveTarget::Post(doomed)),
        ("a comment on a deleted post", LoveTarget::Comment(orphan)),
    ];
    let before = pending(s).await;
    for (what, t) in gone {
        match s.love(t, bob, Timestamp::now(), &ev()).await {
            Err(Error::NotFound { .. }) => {}
            other => panic!("love of {what}: {:?}", other),
        }
        match s.unlove(t, bob).await {
            Err(Error::NotFound { .. }) => {}
            other => panic!("unlove of {what}: {:?}", other),
        }
        match s.lovers(t, None, 10).await {
            Err(Error::NotFound { .. }) => {}
            other => panic!("lovers of {what}: {:?}", other.map(|v| v.len())),
        }
    }
    assert_eq!(pending(s).await, before, "no event for a love refused");
    let refused: Vec<i64> = gone
        .iter()
        .filter(|(_, t)| *t != LoveTarget::Post(doomed))
        .map(|(_, t)| t.id())
        .collect();
    let left = s.loved_among(bob, &refused).await.unwrap();
    assert!(left.is_empty(), "refused loves wrote nothing: {left:?}");
}

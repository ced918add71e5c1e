//! Account deletion: the worker's removal is made of batches, each its own
//! transaction; one interrupted part-way (a crash) is finished by the next
//! delivery of the event, and the counts of what others wrote come out right.

use starling_core::model::{LoveTarget, PurgeStep};

use crate::World;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn an_interrupted_removal_is_finished_by_the_next_delivery() {
    let w = World::new().await;
    let (gone, ann, bob) = (
        w.user("gone").await,
        w.user("ann").await,
        w.user("bob").await,
    );
    let mut theirs = Vec::new();
    for i in 0..5 {
        let p = w.post(gone, &format!("post {i}")).await;
        w.s.posts
            .comment(ann, p, "on gone's".into(), None)
            .await
            .expect("commenting");
        w.s.posts
            .love(ann, LoveTarget::Post(p), true)
            .await
            .expect("loving");
        theirs.push(p);
    }
    let anns = w.post(ann, "ann's").await;
    for _ in 0..3 {
        w.s.posts
            .comment(gone, anns, "from gone".into(), None)
            .await
            .expect("commenting");
    }
    w.s.posts
        .comment(bob, anns, "from bob".into(), None)
        .await
        .expect("commenting");
    for u in [gone, bob] {
        w.s.posts
            .love(u, LoveTarget::Post(anns), true)
            .await
            .expect("loving");
    }
    w.follow(gone, ann).await;
    w.follow(ann, gone).await;
    w.settle().await;
    assert!(w.unread(ann).await > 0);

    w.s.deletion
        .delete_account(gone, PASSWORD)
        .await
        .expect("deleting");
    // A worker got through a few batches and crashed before the rest.
    let store = &w.s.ports.deletion;
    for (step, limit) in [
        (PurgeStep::Posts, 2),
        (PurgeStep::Comments, 1),
        (PurgeStep::Follows, 1),
    ] {
        let done = store.purge_batch(gone, step, limit).await.expect("a batch");
        assert!(done.rows > 0);
    }
    assert!(
        store
            .deleted_account(gone)
            .await
            .expect("reading")
            .is_some(),
        "not finished yet"
    );
    let view = w.s.posts.get(Some(ann), anns).await.expect("ann's post");
    assert_eq!(
        view.record.comment_count, 3,
        "one of gone's comments is out"
    );

    // The event is delivered again: the removal finishes.
    w.settle().await;
    assert!(
        store
            .deleted_account(gone)
            .await
            .expect("reading")
            .is_none()
    );
    let view = w.s.posts.get(Some(ann), anns).await.expect("ann's post");
    assert_eq!(view.record.comment_count, 1, "bob's comment is left");
    assert_eq!(view.record.love_count, 1, "bob's love is left");
    let ann_now = w.s.users.get(Some(bob), ann).await.expect("ann");
    assert_eq!(ann_now.record.follower_count, 0);
    assert_eq!(ann_now.record.following_count, 0);
    // Ann's notifications from gone are gone (bob's comment and love are
    // left), and her unread count agrees.
    let notifs = w.notifs(ann).await;
    assert_eq!(notifs.len(), 2, "{notifs:?}");
    assert!(notifs.iter().all(|(_, actor)| *actor == bob), "{notifs:?}");
    assert_eq!(w.unread(ann).await, 2);
    for p in theirs {
        assert!(w.s.posts.get(Some(ann), p).await.is_err());
    }
    // Once more (a duplicate delivery): nothing to do, nothing fails.
    w.s.deletion
        .purge(gone)
        .await
        .expect("a repeat is harmless");
}

#[tokio::test]
async fn the_sweep_finishes_a_deletion_whose_event_was_lost() {
    let w = World::new().await;
    let (gone, ann) = (w.user("gone").await, w.user("ann").await);
    w.post(gone, "still here").await;
    w.follow(ann, gone).await;
    w.settle().await;
    w.s.deletion
        .delete_account(gone, PASSWORD)
        .await
        .expect("deleting");
    // The event is lost: taken off the outbox without reaching the purger.
    let outbox = &w.s.ports.outbox;
    let now = starling_core::Timestamp::now();
    let lost = outbox
        .claim_outbox(now, starling_core::Timestamp(now.millis() + 60_000), 100)
        .await
        .expect("claiming");
    assert!(lost.iter().any(|e| e.key == "account.deleted"));
    outbox
        .outbox_done(&lost.iter().map(|e| e.id).collect::<Vec<_>>())
        .await
        .expect("dropping");
    let store = &w.s.ports.deletion;
    assert!(
        store
            .deleted_account(gone)
            .await
            .expect("reading")
            .is_some()
    );
    // Within the grace period the sweep leaves it to the event.
    let swept =
        w.s.deletion
            .sweep(std::time::Duration::from_secs(3600))
            .await;
    assert_eq!(swept.expect("sweeping"), 0);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        w.s.deletion
            .sweep(std::time::Duration::ZERO)
            .await
            .expect("sweeping"),
        1
    );
    assert!(
        store
            .deleted_account(gone)
            .await
            .expect("reading")
            .is_none()
    );
    let ann_now = w.s.users.get(Some(ann), ann).await.expect("ann");
    assert_eq!(ann_now.record.following_count, 0);
}

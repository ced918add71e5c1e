//! Timelines and visibility: a post reaches its author's followers' home
//! feeds through the fan-out worker; deleted posts leave every feed, and
//! what hangs off them is gone too; unfollowing takes an author's posts out
//! of one's home feed.

use starling_core::model::{Feed, LoveTarget};

use crate::{World, is_not_found};

#[tokio::test]
async fn a_post_reaches_followers_home_feeds_after_fan_out_and_nobody_elses() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    w.follow(bob, ann).await;
    w.settle().await;
    // Reading builds their cached timelines: from now on only the fan-out
    // worker adds to them.
    assert!(w.home(bob).await.is_empty());
    assert!(w.home(carol).await.is_empty());

    let post = w.post(ann, "hello followers").await;
    assert_eq!(w.home(ann).await, [post], "the author sees it at once");
    assert!(w.home(bob).await.is_empty(), "not fanned out yet");

    w.settle().await;
    assert_eq!(w.home(bob).await, [post]);
    assert!(w.home(carol).await.is_empty());
    assert_eq!(w.feed(carol, Feed::Public).await, [post]);
}

#[tokio::test]
async fn following_brings_an_authors_earlier_posts_into_the_home_feed() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let earlier = w.post(ann, "before you came").await;
    w.settle().await;
    assert!(w.home(bob).await.is_empty());
    w.follow(bob, ann).await;
    assert_eq!(w.home(bob).await, [earlier]);
}

#[tokio::test]
async fn a_deleted_post_leaves_every_feed_and_its_comments_go_with_it() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    w.follow(bob, ann).await;
    let gone = w.post(ann, "first #topic").await;
    let kept = w.post(ann, "second #topic").await;
    w.s.posts
        .comment(bob, gone, "a comment".into(), None)
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.home(bob).await, [kept, gone]);
    assert_eq!(w.feed(bob, Feed::Author(ann)).await, [kept, gone]);

    // Only its author deletes a post.
    assert!(w.s.posts.delete(bob, gone).await.is_err());
    assert_eq!(w.home(bob).await, [kept, gone]);

    w.s.posts.delete(ann, gone).await.unwrap();
    w.settle().await;
    assert_eq!(w.home(bob).await, [kept]);
    assert_eq!(w.home(ann).await, [kept]);
    assert_eq!(w.feed(bob, Feed::Author(ann)).await, [kept]);
    assert_eq!(w.feed(bob, Feed::Public).await, [kept]);
    assert_eq!(w.feed(bob, Feed::Tag("topic".into())).await, [kept]);
    assert!(is_not_found(w.s.posts.get(Some(bob), gone).await));

    let comments =
        w.s.posts
            .comments(Some(bob), gone, None, None, crate::limit(10))
            .await;
    assert!(is_not_found(comments));
    let commented = w.s.posts.comment(bob, gone, "late".into(), None).await;
    assert!(is_not_found(commented));
    let loved = w.s.posts.love(bob, LoveTarget::Post(gone), true).await;
    assert!(is_not_found(loved));
}

#[tokio::test]
async fn unfollowing_takes_the_authors_posts_out_of_the_home_feed() {
    let w = World::new().await;
    let (ann, bob, dave) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("dave").await,
    );
    w.follow(bob, ann).await;
    w.follow(bob, dave).await;
    let anns = w.post(ann, "from ann").await;
    let daves = w.post(dave, "from dave").await;
    let own = w.post(bob, "from bob").await;
    w.settle().await;
    assert_eq!(w.home(bob).await, [own, daves, anns]);

    w.s.users.unfollow(bob, ann).await.unwrap();
    assert_eq!(w.home(bob).await, [own, daves]);
    // Her later posts do not arrive either.
    w.post(ann, "still from ann").await;
    w.settle().await;
    assert_eq!(w.home(bob).await, [own, daves]);
}

//! Who is notified of what: one notification per person per event, never
//! for one's own action, and gone again (with the unread count) when what
//! it was about is undone.

use starling_core::model::LoveTarget;
use starling_core::model::NotificationKind::{Comment, Follow, Love, Mention, Message, Reply};
use starling_services::chat::Destination;

use crate::{World, is_not_found};

#[tokio::test]
async fn a_post_love_notifies_its_author_and_an_unlove_takes_it_back() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let post = w.post(ann, "hello").await;
    assert_eq!(w.unread(ann).await, 0);

    w.s.posts
        .love(bob, LoveTarget::Post(post), true)
        .await
        .unwrap();
    w.s.posts
        .love(ann, LoveTarget::Post(post), true)
        .await
        .unwrap();
    w.settle().await;
    // Ann's own love tells nobody; Bob's tells Ann, once.
    assert_eq!(w.notifs(ann).await, [(Love, bob)]);
    assert_eq!(w.unread(ann).await, 1);
    assert!(w.notifs(bob).await.is_empty());

    w.s.posts
        .love(bob, LoveTarget::Post(post), false)
        .await
        .unwrap();
    assert!(w.notifs(ann).await.is_empty());
    assert_eq!(w.unread(ann).await, 0, "the cached count follows");

    // Taking back a notification already read leaves the count alone.
    w.s.posts
        .love(bob, LoveTarget::Post(post), true)
        .await
        .unwrap();
    w.settle().await;
    w.s.notifications.mark_all_read(ann).await.unwrap();
    w.s.posts
        .love(bob, LoveTarget::Post(post), false)
        .await
        .unwrap();
    assert_eq!(w.unread(ann).await, 0);
}

#[tokio::test]
async fn a_love_undone_before_the_worker_runs_notifies_nobody() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let post = w.post(ann, "hello").await;
    let target = LoveTarget::Post(post);
    w.s.posts.love(bob, target, true).await.unwrap();
    w.s.posts.love(bob, target, false).await.unwrap();
    w.settle().await;
    assert!(w.notifs(ann).await.is_empty());
    assert_eq!(w.unread(ann).await, 0);
}

#[tokio::test]
async fn a_comment_love_notifies_the_comment_author_not_the_post_author() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let post = w.post(ann, "hello").await;
    let comment =
        w.s.posts
            .comment(bob, post, "nice".into(), None)
            .await
            .unwrap()
            .record
            .id;
    w.settle().await;
    assert_eq!(w.notifs(ann).await, [(Comment, bob)]);

    w.s.posts
        .love(carol, LoveTarget::Comment(comment), true)
        .await
        .unwrap();
    w.settle().await;
    let bobs = w.s.notifications.list(bob, None, crate::limit(10), false);
    let bobs = bobs.await.unwrap().items;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].record.kind, Love);
    assert_eq!(bobs[0].record.actor_id, carol);
    assert_eq!(bobs[0].comment.as_ref().map(|c| c.id), Some(comment));
    assert_eq!(bobs[0].summary(), "carol loved your comment");
    assert_eq!(
        w.notifs(ann).await,
        [(Comment, bob)],
        "the post's author hears nothing more"
    );

    w.s.posts
        .love(carol, LoveTarget::Comment(comment), false)
        .await
        .unwrap();
    assert!(w.notifs(bob).await.is_empty());
    assert_eq!(w.unread(bob).await, 0);
}

#[tokio::test]
async fn a_comment_notifies_each_person_once_reply_before_comment_before_mention() {
    let w = World::new().await;
    let (ann, bob, carol, dave) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
        w.user("dave").await,
    );
    let post = w.post(ann, "hello").await;

    // Bob comments, mentioning the post's author and Carol (and himself).
    let top =
        w.s.posts
            .comment(bob, post, "@ann @carol @bob look".into(), None)
            .await
            .unwrap()
            .record
            .id;
    w.settle().await;
    assert_eq!(
        w.notifs(ann).await,
        [(Comment, bob)],
        "a comment, not a mention"
    );
    assert_eq!(w.notifs(carol).await, [(Mention, bob)]);
    assert!(w.notifs(bob).await.is_empty());

    // Carol replies to Bob, mentioning everyone.
    w.s.posts
        .comment(carol, post, "@bob @ann @dave @carol yes".into(), Some(top))
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(
        w.notifs(bob).await,
        [(Reply, carol)],
        "a reply, not a mention"
    );
    assert_eq!(w.notifs(ann).await, [(Comment, carol), (Comment, bob)]);
    assert_eq!(w.notifs(dave).await, [(Mention, carol)]);
    assert_eq!(
        w.notifs(carol).await,
        [(Mention, bob)],
        "nothing for her own reply"
    );
    assert_eq!(w.unread(ann).await, 2);
}

#[tokio::test]
async fn a_reply_to_the_post_authors_own_comment_is_one_reply() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let post = w.post(ann, "hello").await;
    let own =
        w.s.posts
            .comment(ann, post, "adding to my own post".into(), None)
            .await
            .unwrap()
            .record
            .id;
    w.settle().await;
    assert!(
        w.notifs(ann).await.is_empty(),
        "nothing for her own comment"
    );

    w.s.posts
        .comment(bob, post, "@ann indeed".into(), Some(own))
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.notifs(ann).await, [(Reply, bob)]);
    assert_eq!(w.unread(ann).await, 1);

    // A reply must stay under its post: one to another post's comment is
    // refused, and tells nobody.
    let other = w.post(ann, "another").await;
    let astray = w.s.posts.comment(bob, other, "hm".into(), Some(own)).await;
    assert!(is_not_found(astray));
    w.settle().await;
    assert_eq!(w.unread(ann).await, 1);
}

#[tokio::test]
async fn a_deleted_comment_takes_its_notifications_with_it() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let post = w.post(ann, "hello").await;
    let c =
        w.s.posts
            .comment(bob, post, "hi @carol".into(), None)
            .await
            .unwrap()
            .record
            .id;
    w.settle().await;
    assert_eq!(w.unread(ann).await, 1);
    assert_eq!(w.unread(carol).await, 1);

    w.s.posts.delete_comment(bob, c).await.unwrap();
    assert!(w.notifs(ann).await.is_empty());
    assert!(w.notifs(carol).await.is_empty());
    assert_eq!(w.unread(ann).await, 0);
    assert_eq!(w.unread(carol).await, 0);
}

#[tokio::test]
async fn a_post_notifies_each_mentioned_user_once() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    w.post(ann, "@bob hi @bob, and @carol and @ann and @nobody")
        .await;
    w.settle().await;
    assert_eq!(w.notifs(bob).await, [(Mention, ann)]);
    assert_eq!(w.notifs(carol).await, [(Mention, ann)]);
    assert!(w.notifs(ann).await.is_empty());
    assert_eq!(w.unread(bob).await, 1);
}

#[tokio::test]
async fn deleting_a_post_removes_every_notification_about_it() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let post = w.post(ann, "hello @carol").await;
    w.s.posts
        .love(bob, LoveTarget::Post(post), true)
        .await
        .unwrap();
    w.s.posts
        .comment(bob, post, "hi".into(), None)
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.notifs(ann).await, [(Comment, bob), (Love, bob)]);
    assert_eq!(w.unread(ann).await, 2);
    assert_eq!(w.unread(carol).await, 1);

    w.s.posts.delete(ann, post).await.unwrap();
    assert!(w.notifs(ann).await.is_empty());
    assert!(w.notifs(carol).await.is_empty());
    assert_eq!(w.unread(ann).await, 0);
    assert_eq!(w.unread(carol).await, 0);
}

#[tokio::test]
async fn a_follow_notifies_the_followee_and_an_unfollow_takes_it_back() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    w.follow(bob, ann).await;
    w.settle().await;
    assert_eq!(w.notifs(ann).await, [(Follow, bob)]);
    assert!(w.notifs(bob).await.is_empty());
    assert_eq!(w.unread(ann).await, 1);

    w.s.users.unfollow(bob, ann).await.unwrap();
    assert!(w.notifs(ann).await.is_empty());
    assert_eq!(w.unread(ann).await, 0);

    // Following again notifies again, once.
    w.follow(bob, ann).await;
    w.settle().await;
    assert_eq!(w.notifs(ann).await, [(Follow, bob)]);
    assert_eq!(w.unread(ann).await, 1);
}

#[tokio::test]
async fn marking_read_lowers_the_unread_count() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    w.follow(bob, ann).await;
    w.follow(carol, ann).await;
    w.settle().await;
    assert_eq!(w.unread(ann).await, 2);
    let newest = w.s.notifications.list(ann, None, crate::limit(10), false);
    let newest = newest.await.unwrap().items[0].record.id;
    // Only its recipient can mark a notification.
    assert!(is_not_found(w.s.notifications.mark_read(bob, newest).await));
    assert_eq!(w.unread(ann).await, 2);
    assert_eq!(w.s.notifications.mark_read(ann, newest).await.unwrap(), 1);
    assert_eq!(
        w.s.notifications.mark_read(ann, newest).await.unwrap(),
        1,
        "once"
    );
    assert_eq!(w.unread(ann).await, 1);
    w.s.notifications.mark_all_read(ann).await.unwrap();
    assert_eq!(w.unread(ann).await, 0);
    let unread_only = w.s.notifications.list(ann, None, crate::limit(10), true);
    assert!(unread_only.await.unwrap().items.is_empty());
    assert_eq!(w.notifs(ann).await.len(), 2, "read ones are still listed");
}

#[tokio::test]
async fn chat_messages_notify_members_away_from_chat_once_per_room_until_read() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let room = w.group(ann, "trio", &[bob, carol]).await;
    // Bob has chat open; Carol has not.
    let _bob_socket = w.connect(bob);
    assert!(w.s.chat.socket_opened(bob));
    w.s.chat.came_online(bob).await;

    let first = w.say(ann, room, "one").await;
    let second = w.say(ann, room, "two").await;
    w.settle().await;
    assert_eq!(w.notifs(carol).await, [(Message, ann)]);
    assert_eq!(w.unread(carol).await, 1);
    assert!(w.notifs(bob).await.is_empty(), "Bob saw it live");
    assert!(w.notifs(ann).await.is_empty());
    let listed = w.s.notifications.list(carol, None, crate::limit(10), false);
    assert_eq!(listed.await.unwrap().items[0].record.room_id, Some(room));

    // Another room, another notification.
    w.try_say(ann, Destination::Partner(carol), "psst")
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.notifs(carol).await, [(Message, ann), (Message, ann)]);
    assert_eq!(w.unread(carol).await, 2);

    // Reading part of the room is not catching up; reading all of it is.
    w.s.chat.read(carol, room, first).await.unwrap();
    assert_eq!(w.unread(carol).await, 2);
    w.s.chat.read(carol, room, second).await.unwrap();
    assert_eq!(w.unread(carol).await, 1);

    // Read: the next message notifies again.
    w.say(bob, room, "three").await;
    w.settle().await;
    assert_eq!(w.unread(carol).await, 2);
    assert_eq!(w.notifs(carol).await.len(), 3);
    assert_eq!(w.notifs(carol).await[0], (Message, bob));
}

#[tokio::test]
async fn leaving_or_losing_a_room_takes_its_message_notifications() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let first = w.group(ann, "first", &[bob, carol]).await;
    let second = w.group(ann, "second", &[bob, carol]).await;
    w.say(ann, first, "hello").await;
    w.say(ann, second, "hello").await;
    w.settle().await;
    assert_eq!(w.unread(bob).await, 2);
    assert_eq!(w.unread(carol).await, 2);

    w.s.chat.remove_member(bob, first, bob).await.unwrap();
    assert_eq!(w.notifs(bob).await, [(Message, ann)]);
    assert_eq!(w.unread(bob).await, 1);
    assert_eq!(w.unread(carol).await, 2, "the others keep theirs");

    w.s.chat.delete(ann, second).await.unwrap();
    assert!(w.notifs(bob).await.is_empty());
    assert_eq!(w.unread(bob).await, 0);
    assert_eq!(w.notifs(carol).await, [(Message, ann)]);
    assert_eq!(w.unread(carol).await, 1);
}

#[tokio::test]
async fn a_member_removed_before_the_worker_runs_is_not_notified() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let room = w.group(ann, "trio", &[bob, carol]).await;
    w.say(ann, room, "hi").await;
    w.s.chat.remove_member(ann, room, carol).await.unwrap();
    w.settle().await;
    assert!(w.notifs(carol).await.is_empty());
    assert_eq!(w.unread(carol).await, 0);
    assert_eq!(w.notifs(bob).await, [(Message, ann)]);
}

/// A follow undone and redone before the worker handles the first event is
/// one follow: both events find it standing, but only one notifies.
#[tokio::test]
async fn one_standing_follow_is_one_notification_however_it_was_toggled() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    w.follow(bob, ann).await;
    w.s.users.unfollow(bob, ann).await.unwrap();
    w.follow(bob, ann).await;
    w.settle().await;
    assert_eq!(w.notifs(ann).await, [(Follow, bob)]);
    assert_eq!(w.unread(ann).await, 1);
}

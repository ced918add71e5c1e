//! How a stored notification reaches its recipient: on the live channel
//! (always), and by Web Push only when they have no notification stream
//! open.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use starling_core::UserId;
use starling_core::model::NotificationKind;
use starling_services::notifications::LiveMessage;
use starling_services::presence::Connection;

use crate::{World, eventually};

/// Registers a push subscription for `user` at `endpoint`, with a fresh
/// browser key (it must be a point on P-256).
async fn subscribe_push(w: &World, user: UserId, endpoint: &str) {
    use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
    let key = PrivateKey::generate(&ECDH_P256).expect("a P-256 key");
    let public = key.compute_public_key().expect("its public key");
    let p256dh = URL_SAFE_NO_PAD.encode(public.as_ref());
    let auth = URL_SAFE_NO_PAD.encode([7u8; 16]);
    w.s.notifications
        .add_push_subscription(user, endpoint, &p256dh, &auth)
        .await
        .expect("a push subscription");
}

#[tokio::test]
async fn an_open_stream_gets_the_notification_live_and_nobody_is_pushed_twice() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let (bob_push, carol_push) = ("https://push.example/bob", "https://push.example/carol");
    subscribe_push(&w, bob, bob_push).await;
    subscribe_push(&w, carol, carol_push).await;

    // Bob has a notification stream open; Carol has none.
    let mut live = w.s.notifications.subscribe(bob).await.unwrap();
    let stream = w.s.notifications.stream_opened(bob).await;

    w.follow(ann, bob).await;
    w.follow(ann, carol).await;
    w.settle().await;

    let got = tokio::time::timeout(Duration::from_secs(2), live.next())
        .await
        .expect("a live message")
        .expect("the subscription is open");
    match serde_json::from_slice::<LiveMessage>(&got).unwrap() {
        LiveMessage::Notification { record, unread } => {
            assert_eq!(record.kind, NotificationKind::Follow);
            assert_eq!(record.actor_id, ann);
            assert_eq!(record.recipient_id, bob);
            assert_eq!(unread, 1);
        }
        other => panic!("expected a notification, got {other:?}"),
    }

    eventually("Carol's push", async || {
        !w.push.sent_to(carol_push).is_empty()
    })
    .await;
    let pushed = w.push.sent_to(carol_push);
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].payload["body"], "ann followed you");
    assert_eq!(pushed[0].payload["type"], "follow");
    // Pushes go out from background tasks: give any to Bob time to show.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(w.push.sent_to(bob_push).is_empty(), "Bob was streaming");

    // Once his stream closes, Bob is pushed too.
    drop(stream);
    eventually("Bob's stream to close", async || {
        !w.s.presence.connected(bob, Connection::Stream).await
    })
    .await;
    w.follow(carol, bob).await;
    w.settle().await;
    eventually("Bob's push", async || !w.push.sent_to(bob_push).is_empty()).await;
    assert_eq!(
        w.push.sent_to(bob_push)[0].payload["body"],
        "carol followed you"
    );
}

#[tokio::test]
async fn a_message_notification_is_pushed_with_its_room() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let endpoint = "https://push.example/bob";
    subscribe_push(&w, bob, endpoint).await;
    let room = w.group(ann, "pair", &[bob]).await;
    w.say(ann, room, "hello").await;
    w.settle().await;
    eventually("Bob's push", async || !w.push.sent_to(endpoint).is_empty()).await;
    let pushed = w.push.sent_to(endpoint);
    assert_eq!(pushed[0].payload["body"], "ann sent you a message");
    assert_eq!(pushed[0].payload["roomId"], serde_json::json!(room));
}

#[tokio::test]
async fn unread_counts_are_told_to_open_streams_when_they_change() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    w.follow(bob, ann).await;
    w.settle().await;
    let mut live = w.s.notifications.subscribe(ann).await.unwrap();
    w.s.notifications.mark_all_read(ann).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), live.next())
        .await
        .expect("a live message")
        .expect("the subscription is open");
    match serde_json::from_slice::<LiveMessage>(&got).unwrap() {
        LiveMessage::UnreadCount { count } => assert_eq!(count, 0),
        other => panic!("expected an unread count, got {other:?}"),
    }
}

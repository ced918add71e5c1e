//! Chat membership (the owner manages a group, anyone leaves it, the last
//! one out deletes it), retraction and removal of messages, and the
//! message rate.

use std::time::Duration;

use starling_core::Error;
use starling_core::live::ChatEvent;
use starling_services::chat::{ChatSettings, Destination};
use starling_services::limits::Bucket;
use starling_services::{LimitSettings, Rate};

use crate::{World, err, is_forbidden, is_not_found, settings};

#[tokio::test]
async fn only_the_owner_renames_adds_or_removes_others_but_anyone_leaves() {
    let w = World::new().await;
    let (ann, bob, carol, dave) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
        w.user("dave").await,
    );
    let room = w.group(ann, "crew", &[bob, carol]).await;

    assert!(is_forbidden(w.s.chat.rename(bob, room, "mine").await));
    assert!(is_forbidden(w.s.chat.add_member(bob, room, dave).await));
    assert!(is_forbidden(w.s.chat.remove_member(bob, room, carol).await));
    assert!(is_forbidden(w.s.chat.remove_member(bob, room, ann).await));
    let view = w.s.chat.room(carol, room).await.unwrap();
    assert_eq!(view.room.name.as_deref(), Some("crew"));
    assert_eq!(view.members.len(), 3, "nobody was added or removed");
    // An outsider is not told the room exists.
    assert!(is_not_found(w.s.chat.rename(dave, room, "mine").await));

    w.s.chat.remove_member(bob, room, bob).await.unwrap();
    assert!(is_not_found(w.s.chat.room(bob, room).await));
    let mut members = w.s.chat.member_ids(room).await.unwrap();
    members.sort_unstable();
    assert_eq!(members, [ann, carol]);

    w.s.chat.rename(ann, room, "duo").await.unwrap();
    w.s.chat.add_member(ann, room, dave).await.unwrap();
    w.s.chat.remove_member(ann, room, carol).await.unwrap();
    let view = w.s.chat.room(dave, room).await.unwrap();
    assert_eq!(view.room.name.as_deref(), Some("duo"));
    let mut ids = view.member_ids();
    ids.sort_unstable();
    assert_eq!(ids, [ann, dave]);
}

#[tokio::test]
async fn the_last_member_out_deletes_the_group() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let room = w.group(ann, "pair", &[bob]).await;
    w.say(bob, room, "bye").await;

    // The owner may leave; the room stays with Bob, who now owns it.
    w.s.chat.remove_member(ann, room, ann).await.unwrap();
    assert_eq!(w.history(bob, room).await, ["bye"]);
    let view = w.s.chat.rename(bob, room, "solo").await.unwrap();
    assert_eq!(view.room.owner_id, Some(bob));
    w.s.chat.remove_member(bob, room, bob).await.unwrap();
    assert!(is_not_found(w.s.chat.room(bob, room).await));
    assert!(
        is_not_found(w.s.ports.chat.room(room).await),
        "the room is gone"
    );
}

#[tokio::test]
async fn nobody_can_leave_a_direct_room() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let room = w.s.chat.direct(ann, bob).await.unwrap().room.id;
    for (me, who) in [(ann, ann), (ann, bob), (bob, bob)] {
        let e = err(w.s.chat.remove_member(me, room, who).await);
        assert!(
            matches!(
                e,
                Error::Unprocessable {
                    code: "direct_room",
                    ..
                }
            ),
            "{e:?}"
        );
    }
    assert_eq!(w.s.chat.member_ids(room).await.unwrap().len(), 2);
    // The same pair always finds the same room.
    assert_eq!(w.s.chat.direct(bob, ann).await.unwrap().room.id, room);
}

#[tokio::test]
async fn only_ones_own_messages_can_be_retracted_and_then_they_show_empty() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let room = w.group(ann, "pair", &[bob]).await;
    let bobs = w.say(bob, room, "secret").await;
    let anns = w.say(ann, room, "reply").await;
    let mut ann_conn = w.connect(ann);

    // Not Bob's message, not even alongside her own: nothing changes.
    assert!(is_forbidden(w.s.chat.retract(ann, &[bobs]).await));
    assert!(is_forbidden(w.s.chat.retract(ann, &[anns, bobs]).await));
    assert!(ann_conn.drain().is_empty());
    for me in [ann, bob] {
        assert_eq!(w.history(me, room).await, ["secret", "reply"]);
    }

    assert_eq!(w.s.chat.retract(bob, &[bobs]).await.unwrap(), [bobs]);
    match ann_conn.drain().as_slice() {
        [
            ChatEvent::MessagesRetracted {
                room: r,
                message_ids,
            },
        ] => {
            assert_eq!((*r, message_ids.as_slice()), (room, [bobs].as_slice()));
        }
        other => panic!("expected message-retracted, got {other:?}"),
    }
    for me in [ann, bob] {
        assert_eq!(w.history(me, room).await, ["", "reply"]);
    }
    let page = w.s.chat.history(ann, room, None, crate::limit(10)).await;
    let retracted = page.unwrap().items.pop().unwrap().record;
    assert_eq!(retracted.id, bobs);
    assert!(retracted.retracted_at.is_some());
}

#[tokio::test]
async fn removing_a_message_hides_it_for_me_only() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let room = w.group(ann, "pair", &[bob]).await;
    let hi = w.say(bob, room, "hi").await;
    w.say(bob, room, "there").await;

    assert!(is_not_found(w.s.chat.remove(carol, &[hi]).await));
    assert_eq!(w.s.chat.remove(ann, &[hi]).await.unwrap(), [hi]);
    assert_eq!(w.history(ann, room).await, ["there"]);
    assert_eq!(w.history(bob, room).await, ["hi", "there"]);
}

#[tokio::test]
async fn the_message_rate_refuses_past_the_burst() {
    let mut s = settings();
    s.chat = ChatSettings {
        message_rate: Some(Bucket {
            every: Duration::from_secs(3600),
            burst: 3,
        }),
        ..ChatSettings::default()
    };
    let w = World::with(s).await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let room = w.group(ann, "pair", &[bob]).await;
    let mut bob_conn = w.connect(bob);
    for text in ["1", "2", "3"] {
        w.say(ann, room, text).await;
    }
    bob_conn.drain();

    let refused = err(w.try_say(ann, Destination::Room(room), "4").await);
    assert!(matches!(refused, Error::RateLimited { .. }), "{refused:?}");
    assert!(bob_conn.drain().is_empty());
    assert_eq!(w.history(bob, room).await, ["1", "2", "3"]);
    // The bucket is Ann's: Bob still has his.
    w.say(bob, room, "mine").await;
}

#[tokio::test]
async fn a_write_limit_refuses_past_its_rate() {
    let mut s = settings();
    s.limits = LimitSettings {
        post: Some(Rate::per(2, Duration::from_secs(60))),
        ..LimitSettings::off()
    };
    let w = World::with(s).await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    w.post(ann, "one").await;
    w.post(ann, "two").await;
    let refused = err(w
        .s
        .posts
        .create(ann, "three".into(), Vec::new(), None)
        .await);
    assert!(matches!(refused, Error::RateLimited { .. }), "{refused:?}");
    let feed = starling_core::model::Feed::Author(ann);
    assert_eq!(w.feed(bob, feed).await.len(), 2);
    w.post(bob, "bob's own").await;
}

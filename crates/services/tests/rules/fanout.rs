//! What each chat connection receives: messages, typing, read marks and
//! room changes reach members (and, for room events, only connections that
//! opened the room); non-members hear nothing and learn nothing.

use starling_core::live::{ChatEvent, RoomChange};
use starling_core::{RoomId, UserId};

use crate::{World, is_not_found, names};

/// The `room-updated` events among `events`: (change, the members in id
/// order when the room is given, None for someone no longer in it).
fn room_updates(events: &[ChatEvent], id: RoomId) -> Vec<(RoomChange, Option<Vec<UserId>>)> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::RoomUpdated {
                room_id,
                room,
                change,
            } => {
                assert_eq!(*room_id, id);
                let members = room.as_ref().map(|r| {
                    let mut ids = r.member_ids();
                    ids.sort_unstable();
                    ids
                });
                Some((*change, members))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_message_reaches_every_member_and_the_rooms_open_connections_only() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let room = w.group(ann, "pair", &[bob]).await;
    let mut ann_elsewhere = w.connect(ann);
    let mut bob_in = w.open(bob, room);
    let mut bob_elsewhere = w.connect(bob);
    let mut carol_conn = w.connect(carol);

    let id = w.say(ann, room, "hi").await;
    let bob_in = bob_in.drain();
    assert_eq!(names(&bob_in), ["receive-message", "new-message"]);
    for e in &bob_in {
        match e {
            ChatEvent::ReceiveMessage(m) | ChatEvent::NewMessage(m) => {
                assert_eq!(m.record.id, id);
                assert_eq!(m.record.text, "hi");
                assert_eq!(m.sender.as_ref().map(|s| s.id), Some(ann));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(names(&bob_elsewhere.drain()), ["new-message"]);
    assert_eq!(names(&ann_elsewhere.drain()), ["new-message"]);
    assert!(carol_conn.drain().is_empty());
}

#[tokio::test]
async fn a_non_member_can_neither_send_nor_read_and_nobody_hears_of_it() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let room = w.group(ann, "pair", &[bob]).await;
    let id = w.say(ann, room, "private").await;
    let mut ann_in = w.open(ann, room);
    let mut bob_in = w.open(bob, room);

    let sent = w
        .try_say(
            carol,
            starling_services::chat::Destination::Room(room),
            "let me in",
        )
        .await;
    assert!(is_not_found(sent));
    assert!(is_not_found(w.s.chat.read(carol, room, id).await));
    assert!(is_not_found(
        w.s.chat.history(carol, room, None, crate::limit(10)).await
    ));
    assert!(is_not_found(w.s.chat.room(carol, room).await));
    assert!(is_not_found(
        w.s.chat.typing(carol, room, true, false).await
    ));
    assert!(ann_in.drain().is_empty());
    assert!(bob_in.drain().is_empty());
    assert_eq!(w.history(ann, room).await, ["private"]);
}

#[tokio::test]
async fn typing_reaches_the_others_who_opened_the_room() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let room = w.group(ann, "pair", &[bob]).await;
    let mut ann_in = w.open(ann, room);
    let mut bob_in = w.open(bob, room);
    let mut bob_elsewhere = w.connect(bob);

    w.s.chat.typing(ann, room, true, true).await.unwrap();
    match bob_in.drain().as_slice() {
        [
            ChatEvent::Typing {
                room: r,
                user,
                typing,
            },
        ] => {
            assert_eq!((*r, *user, *typing), (room, ann, true));
        }
        other => panic!("expected one typing event, got {other:?}"),
    }
    assert!(ann_in.drain().is_empty(), "not to the typer");
    assert!(
        bob_elsewhere.drain().is_empty(),
        "not to a connection without the room"
    );
}

#[tokio::test]
async fn a_read_mark_is_announced_only_when_it_moves_forward() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    let room = w.group(ann, "pair", &[bob]).await;
    let first = w.say(ann, room, "one").await;
    let second = w.say(ann, room, "two").await;
    let mut ann_conn = w.connect(ann);
    let mut bob_conn = w.connect(bob);

    let mark = w.s.chat.read(bob, room, second).await.unwrap();
    assert_eq!(mark.message_id, second);
    for conn in [&mut ann_conn, &mut bob_conn] {
        match conn.drain().as_slice() {
            [ChatEvent::MessageRead(m)] => {
                assert_eq!((m.room_id, m.user_id, m.message_id), (room, bob, second));
            }
            other => panic!("expected one message-read, got {other:?}"),
        }
    }

    // Going back, or reading the same again, moves nothing.
    let mark = w.s.chat.read(bob, room, first).await.unwrap();
    assert_eq!(mark.message_id, second);
    w.s.chat.read(bob, room, second).await.unwrap();
    assert!(ann_conn.drain().is_empty());
    assert!(bob_conn.drain().is_empty());
}

#[tokio::test]
async fn room_changes_reach_the_members() {
    let w = World::new().await;
    let (ann, bob, carol, dave) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
        w.user("dave").await,
    );
    let mut ann_conn = w.connect(ann);
    let mut bob_conn = w.connect(bob);
    let mut carol_conn = w.connect(carol);
    let mut dave_conn = w.connect(dave);

    let room = w.group(ann, "crew", &[bob]).await;
    let created = vec![(RoomChange::Created, Some(vec![ann, bob]))];
    assert_eq!(room_updates(&ann_conn.drain(), room), created);
    assert_eq!(room_updates(&bob_conn.drain(), room), created);
    assert!(carol_conn.drain().is_empty());

    w.s.chat.rename(ann, room, "new crew").await.unwrap();
    match bob_conn.drain().as_slice() {
        [
            ChatEvent::RoomUpdated {
                room: Some(view),
                change: RoomChange::Renamed,
                ..
            },
        ] => assert_eq!(view.room.name.as_deref(), Some("new crew")),
        other => panic!("expected the renamed room, got {other:?}"),
    }
    assert_eq!(ann_conn.drain().len(), 1);

    w.s.chat.add_member(ann, room, carol).await.unwrap();
    let added = vec![(RoomChange::MemberAdded, Some(vec![ann, bob, carol]))];
    for conn in [&mut ann_conn, &mut bob_conn, &mut carol_conn] {
        assert_eq!(room_updates(&conn.drain(), room), added);
    }
    assert!(dave_conn.drain().is_empty());
}

#[tokio::test]
async fn someone_removed_stops_hearing_the_room_and_the_rest_see_them_gone() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let room = w.group(ann, "crew", &[bob, carol]).await;
    let mut ann_in = w.open(ann, room);
    let mut bob_in = w.open(bob, room);
    let mut carol_in = w.open(carol, room);

    // The owner removes Carol.
    w.s.chat.remove_member(ann, room, carol).await.unwrap();
    assert_eq!(
        room_updates(&carol_in.drain(), room),
        [(RoomChange::MemberRemoved, None)]
    );
    let removed = vec![(RoomChange::MemberRemoved, Some(vec![ann, bob]))];
    assert_eq!(room_updates(&ann_in.drain(), room), removed);
    assert_eq!(room_updates(&bob_in.drain(), room), removed);

    // Bob leaves.
    w.s.chat.remove_member(bob, room, bob).await.unwrap();
    assert_eq!(
        room_updates(&bob_in.drain(), room),
        [(RoomChange::MemberLeft, None)]
    );
    assert_eq!(
        room_updates(&ann_in.drain(), room),
        [(RoomChange::MemberLeft, Some(vec![ann]))]
    );

    // Their connections had the room open: they hear nothing of it now.
    w.say(ann, room, "anyone?").await;
    w.s.chat.typing(ann, room, true, true).await.unwrap();
    assert!(carol_in.drain().is_empty());
    assert!(bob_in.drain().is_empty());
    assert_eq!(names(&ann_in.drain()), ["receive-message", "new-message"]);
}

#[tokio::test]
async fn deleting_a_group_tells_every_member_and_closes_it_on_their_connections() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    let room = w.group(ann, "crew", &[bob]).await;
    let mut ann_in = w.open(ann, room);
    let mut bob_in = w.open(bob, room);
    let mut carol_conn = w.connect(carol);

    assert!(crate::is_forbidden(w.s.chat.delete(bob, room).await));
    assert!(ann_in.drain().is_empty());

    w.s.chat.delete(ann, room).await.unwrap();
    for conn in [&mut ann_in, &mut bob_in] {
        assert_eq!(
            room_updates(&conn.drain(), room),
            [(RoomChange::Deleted, None)]
        );
    }
    assert!(carol_conn.drain().is_empty());
    assert!(is_not_found(w.s.chat.room(ann, room).await));
    assert!(is_not_found(w.s.chat.room(bob, room).await));
    assert!(w.s.chat.rooms(bob).await.unwrap().is_empty());
}

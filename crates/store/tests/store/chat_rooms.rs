//! Chat rooms and their members: one direct room per pair, groups with a
//! member cap and an owner who hands over on leaving, the room list.

use std::collections::HashSet;
use std::sync::Arc;

use starling_core::model::{MemberRecord, MessageRecord, RoomKind, RoomRecord};
use starling_core::ports::ChatStore;
use starling_core::{Error, IdGenerator, MessageId, RoomId, Timestamp, UserId};
use starling_store::SqlStore;

use crate::{T, ev, ids, user};

store_tests!(
    a_direct_room_is_made_once_per_pair,
    concurrent_first_contacts_share_one_direct_room,
    a_group_starts_with_its_members_in_join_order,
    nothing_is_made_with_an_unknown_user,
    membership_is_capped_and_joining_twice_changes_nothing,
    concurrent_joins_never_pass_the_cap,
    ownership_passes_to_the_earliest_member_left,
    rooms_list_by_latest_activity_with_unread_counts,
    a_room_is_renamed_and_deleted_with_everything_in_it,
    contacts_are_everyone_sharing_a_room,
);

pub(crate) fn room_record(
    g: &IdGenerator,
    kind: RoomKind,
    name: Option<&str>,
    owner: Option<UserId>,
    at: i64,
) -> RoomRecord {
    RoomRecord {
        id: RoomId(g.next()),
        kind,
        name: name.map(str::to_owned),
        owner_id: owner,
        created_at: Timestamp(at),
        last_activity_at: Timestamp(at),
    }
}

/// A group owned by `members[0]`, everyone joining at `at`.
pub(crate) async fn group(s: &SqlStore, g: &IdGenerator, members: &[UserId], at: i64) -> RoomId {
    let r = room_record(g, RoomKind::Group, Some("group"), Some(members[0]), at);
    s.create_group(&r, members).await.unwrap();
    r.id
}

/// A message with a client id of its own.
pub(crate) fn msg(
    g: &IdGenerator,
    room: RoomId,
    sender: UserId,
    text: &str,
    at: i64,
) -> MessageRecord {
    let id = MessageId(g.next());
    MessageRecord {
        id,
        room_id: room,
        sender_id: Some(sender),
        text: text.into(),
        client_msg_id: format!("c{id}"),
        created_at: Timestamp(at),
        retracted_at: None,
    }
}

/// Sends `text` and returns the message as stored.
pub(crate) async fn say(
    s: &SqlStore,
    g: &IdGenerator,
    room: RoomId,
    sender: UserId,
    text: &str,
    at: i64,
) -> MessageRecord {
    let m = msg(g, room, sender, text, at);
    let out = s.send_messages(&[(m.clone(), ev())]).await.unwrap();
    assert_eq!(out, [(m.clone(), true)]);
    m
}

async fn member_ids(s: &SqlStore, room: RoomId) -> Vec<UserId> {
    s.members(room)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .collect()
}

async fn room_ids(s: &SqlStore, user: UserId) -> Vec<RoomId> {
    s.rooms_of(user)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.room.id)
        .collect()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

async fn a_direct_room_is_made_once_per_pair(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    assert!(s.find_direct_room(amy, bob).await.unwrap().is_none());
    let first = room_record(&g, RoomKind::Direct, None, None, T);
    assert_eq!(s.direct_room(amy, bob, &first).await.unwrap(), first);
    let second = room_record(&g, RoomKind::Direct, None, None, T + 5);
    assert_eq!(
        s.direct_room(bob, amy, &second).await.unwrap(),
        first,
        "either way round, the first room"
    );
    assert_err!(s.room(second.id).await, Error::NotFound { .. });
    assert_eq!(
        s.find_direct_room(bob, amy).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.find_direct_room(amy, bob).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        sorted(member_ids(s, first.id).await),
        sorted(vec![amy, bob])
    );
    assert!(s.find_direct_room(bob, cat).await.unwrap().is_none());
    let other = room_record(&g, RoomKind::Direct, None, None, T + 1);
    assert_eq!(s.direct_room(amy, cat, &other).await.unwrap().id, other.id);
    assert_eq!(room_ids(s, amy).await.len(), 2);
    assert_eq!(room_ids(s, bob).await, [first.id]);
}

async fn concurrent_first_contacts_share_one_direct_room(s: &SqlStore) {
    let g = Arc::new(ids());
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (s, g) = (s.clone(), g.clone());
        let (a, b) = if i % 2 == 0 { (amy, bob) } else { (bob, amy) };
        tasks.push(tokio::spawn(async move {
            let r = room_record(&g, RoomKind::Direct, None, None, T);
            s.direct_room(a, b, &r).await.unwrap().id
        }));
    }
    let mut got = HashSet::new();
    for t in tasks {
        got.insert(t.await.unwrap());
    }
    assert_eq!(got.len(), 1, "every caller got the same room");
    let room = got.into_iter().next().unwrap();
    assert_eq!(room_ids(s, amy).await, [room]);
    assert_eq!(room_ids(s, bob).await, [room]);
    assert_eq!(member_ids(s, room).await.len(), 2);
}

async fn a_group_starts_with_its_members_in_join_order(s: &SqlStore) {
    let g = ids();
    let [amy, bob, cat, dan, eve, fay] = [
        user(s, &g, "amy").await,
        user(s, &g, "bob").await,
        user(s, &g, "cat").await,
        user(s, &g, "dan").await,
        user(s, &g, "eve").await,
        user(s, &g, "fay").await,
    ];
    let crew = room_record(&g, RoomKind::Group, Some("crew"), Some(amy), T);
    s.create_group(&crew, &[cat, amy, bob, cat]).await.unwrap();
    assert_eq!(s.room(crew.id).await.unwrap(), crew);
    let founders = s.members(crew.id).await.unwrap();
    assert_eq!(
        sorted(founders.iter().map(|m| m.user_id).collect()),
        sorted(vec![amy, bob, cat]),
        "each once"
    );
    assert!(
        founders
            .iter()
            .all(|m| (m.room_id, m.joined_at, m.last_read_id, m.read_at)
                == (crew.id, Timestamp(T), 0, None))
    );
    // Later joiners follow, in the order of their joining (not of adding).
    assert!(
        s.add_member(crew.id, dan, Timestamp(T + 20), 10)
            .await
            .unwrap()
    );
    assert!(
        s.add_member(crew.id, eve, Timestamp(T + 10), 10)
            .await
            .unwrap()
    );
    assert_eq!(member_ids(s, crew.id).await[3..], [eve, dan]);
    assert_eq!(
        s.member(crew.id, eve).await.unwrap(),
        Some(MemberRecord {
            room_id: crew.id,
            user_id: eve,
            joined_at: Timestamp(T + 10),
            last_read_id: 0,
            read_at: None,
        })
    );
    assert_eq!(s.member(crew.id, fay).await.unwrap(), None);

    let duo = group(s, &g, &[fay, bob], T + 1).await;
    assert!(s.add_member(duo, amy, Timestamp(T + 2), 10).await.unwrap());
    let both = s.members_of(&[duo, crew.id]).await.unwrap();
    assert_eq!(both.len(), 8);
    let of = |room| -> Vec<UserId> {
        both.iter()
            .filter(|m| m.room_id == room)
            .map(|m| m.user_id)
            .collect()
    };
    assert_eq!(of(crew.id), member_ids(s, crew.id).await);
    assert_eq!(of(duo)[2..], [amy]);
    assert!(s.members_of(&[]).await.unwrap().is_empty());
}

async fn nothing_is_made_with_an_unknown_user(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let ghost = UserId(g.next());
    let direct = room_record(&g, RoomKind::Direct, None, None, T);
    assert_err!(
        s.direct_room(amy, ghost, &direct).await,
        Error::NotFound { .. }
    );
    assert!(s.find_direct_room(amy, ghost).await.unwrap().is_none());
    assert_err!(s.room(direct.id).await, Error::NotFound { .. });
    let crew = room_record(&g, RoomKind::Group, Some("crew"), Some(amy), T);
    assert_err!(
        s.create_group(&crew, &[amy, ghost]).await,
        Error::NotFound { .. }
    );
    assert_err!(s.room(crew.id).await, Error::NotFound { .. });
    assert!(s.rooms_of(amy).await.unwrap().is_empty());
    let real = group(s, &g, &[amy], T).await;
    assert_err!(
        s.add_member(real, ghost, Timestamp(T), 10).await,
        Error::NotFound { .. }
    );
    assert_eq!(member_ids(s, real).await, [amy]);
}

async fn membership_is_capped_and_joining_twice_changes_nothing(s: &SqlStore) {
    let g = ids();
    let [amy, bob, cat, dan, eve] = [
        user(s, &g, "amy").await,
        user(s, &g, "bob").await,
        user(s, &g, "cat").await,
        user(s, &g, "dan").await,
        user(s, &g, "eve").await,
    ];
    let r = group(s, &g, &[amy, bob], T).await;
    assert!(s.add_member(r, cat, Timestamp(T + 1), 3).await.unwrap());
    assert!(
        !s.add_member(r, cat, Timestamp(T + 2), 3).await.unwrap(),
        "already in: not an error even when full"
    );
    assert_eq!(
        s.member(r, cat).await.unwrap().unwrap().joined_at,
        Timestamp(T + 1)
    );
    match s.add_member(r, dan, Timestamp(T + 3), 3).await {
        Err(Error::Conflict { code, .. }) => assert_eq!(code, "room_full"),
        other => panic!("expected room_full, got {other:?}"),
    }
    assert_eq!(s.member(r, dan).await.unwrap(), None);
    assert!(s.add_member(r, dan, Timestamp(T + 3), 4).await.unwrap());
    assert_eq!(member_ids(s, r).await, [amy, bob, cat, dan]);
    assert!(s.remove_member(r, dan).await.unwrap());
    assert!(
        !s.remove_member(r, dan).await.unwrap(),
        "not a member any more"
    );
    assert!(!s.remove_member(r, eve).await.unwrap(), "never a member");
    assert_eq!(member_ids(s, r).await, [amy, bob, cat]);
}

async fn concurrent_joins_never_pass_the_cap(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let u = user(s, &g, &format!("joiner{i}")).await;
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.add_member(r, u, Timestamp::now(), 5).await
        }));
    }
    let (mut joined, mut full) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(true) => joined += 1,
            Err(Error::Conflict {
                code: "room_full", ..
            }) => full += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((joined, full), (3, 7));
    assert_eq!(member_ids(s, r).await.len(), 5);
}

async fn ownership_passes_to_the_earliest_member_left(s: &SqlStore) {
    let g = ids();
    let [amy, bob, cat, dan] = [
        user(s, &g, "amy").await,
        user(s, &g, "bob").await,
        user(s, &g, "cat").await,
        user(s, &g, "dan").await,
    ];
    // Dan owns it, though Amy is as early and her id the smaller; Cat joins
    // before Bob, though Bob's id is the smaller.
    let r = group(s, &g, &[dan, amy], T).await;
    s.add_member(r, cat, Timestamp(T + 1), 10).await.unwrap();
    s.add_member(r, bob, Timestamp(T + 2), 10).await.unwrap();
    let owner = async || s.room(r).await.unwrap().owner_id;
    assert!(s.remove_member(r, bob).await.unwrap());
    assert_eq!(owner().await, Some(dan), "a member leaving changes nothing");
    s.add_member(r, bob, Timestamp(T + 2), 10).await.unwrap();
    assert!(s.remove_member(r, dan).await.unwrap());
    assert_eq!(owner().await, Some(amy));
    assert!(s.remove_member(r, amy).await.unwrap());
    assert_eq!(
        owner().await,
        Some(cat),
        "the earliest to join, not the smallest id"
    );
    assert!(s.remove_member(r, cat).await.unwrap());
    assert_eq!(owner().await, Some(bob));
    assert!(s.remove_member(r, bob).await.unwrap());
    assert_eq!(owner().await, None, "nobody left to own it");
    assert!(member_ids(s, r).await.is_empty());
}

async fn rooms_list_by_latest_activity_with_unread_counts(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let r1 = group(s, &g, &[amy, bob], T + 1).await;
    let r2 = group(s, &g, &[amy, cat], T + 2).await;
    let dm = room_record(&g, RoomKind::Direct, None, None, T + 3);
    let r3 = s.direct_room(amy, bob, &dm).await.unwrap().id;
    group(s, &g, &[bob, cat], T + 4).await;
    assert_eq!(room_ids(s, amy).await, [r3, r2, r1]);
    let quiet = s.rooms_of(amy).await.unwrap();
    assert!(
        quiet
            .iter()
            .all(|e| e.last_message_id.is_none() && e.unread == 0)
    );

    let m1 = say(s, &g, r1, bob, "hi", T + 10).await;
    let m2 = say(s, &g, r1, amy, "hello", T + 11).await;
    assert_eq!(
        s.room(r1).await.unwrap().last_activity_at,
        Timestamp(T + 11)
    );
    let rooms = s.rooms_of(amy).await.unwrap();
    assert_eq!(
        rooms.iter().map(|e| e.room.id).collect::<Vec<_>>(),
        [r1, r3, r2]
    );
    assert_eq!(rooms[0].room.name.as_deref(), Some("group"));
    assert_eq!(
        (rooms[0].last_message_id, rooms[0].unread),
        (Some(m2.id), 1),
        "Bob's message unread, Amy's own not counted"
    );
    s.hide_messages(amy, &[m2.id]).await.unwrap();
    let entry = |rooms: Vec<starling_core::model::RoomEntry>| {
        let e = rooms.into_iter().find(|e| e.room.id == r1).unwrap();
        (e.last_message_id, e.unread)
    };
    assert_eq!(entry(s.rooms_of(amy).await.unwrap()), (Some(m1.id), 1));
    assert_eq!(entry(s.rooms_of(bob).await.unwrap()), (Some(m2.id), 1));
    let nobody = user(s, &g, "dan").await;
    assert!(s.rooms_of(nobody).await.unwrap().is_empty());
}

async fn a_room_is_renamed_and_deleted_with_everything_in_it(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let keep = group(s, &g, &[amy, cat], T).await;
    let m1 = say(s, &g, r, bob, "hello there", T + 1).await;
    let m2 = say(s, &g, r, amy, "hello back", T + 2).await;
    let k = say(s, &g, keep, cat, "hello too", T + 3).await;
    s.hide_messages(bob, &[m1.id]).await.unwrap();

    s.rename_room(r, "renamed").await.unwrap();
    let renamed = s.room(r).await.unwrap();
    assert_eq!(renamed.name.as_deref(), Some("renamed"));
    assert_eq!(
        (renamed.kind, renamed.owner_id),
        (RoomKind::Group, Some(amy))
    );

    s.delete_room(r).await.unwrap();
    assert_err!(s.room(r).await, Error::NotFound { .. });
    assert_eq!(room_ids(s, amy).await, [keep]);
    assert!(s.rooms_of(bob).await.unwrap().is_empty());
    assert!(s.members(r).await.unwrap().is_empty());
    assert_eq!(s.member(r, amy).await.unwrap(), None);
    assert!(s.messages(r, amy, None, 10).await.unwrap().is_empty());
    assert!(s.messages_by_ids(&[m1.id, m2.id]).await.unwrap().is_empty());
    assert_eq!(s.unread_counts(amy, None).await.unwrap(), [(keep, 1)]);
    let words = ["hello".to_owned()];
    let found = s
        .search_messages(amy, &words, None, None, 10)
        .await
        .unwrap();
    assert_eq!(found, [k]);
    assert_eq!(s.contacts(amy).await.unwrap(), [cat]);
    assert!(s.contacts(bob).await.unwrap().is_empty());
}

async fn contacts_are_everyone_sharing_a_room(s: &SqlStore) {
    let g = ids();
    let [amy, bob, cat, dan, eve] = [
        user(s, &g, "amy").await,
        user(s, &g, "bob").await,
        user(s, &g, "cat").await,
        user(s, &g, "dan").await,
        user(s, &g, "eve").await,
    ];
    let dm = room_record(&g, RoomKind::Direct, None, None, T);
    s.direct_room(amy, bob, &dm).await.unwrap();
    let trio = group(s, &g, &[amy, bob, cat], T).await;
    group(s, &g, &[cat, dan], T).await;
    let contacts = async |u: UserId| sorted(s.contacts(u).await.unwrap());
    assert_eq!(contacts(amy).await, [bob, cat], "each once");
    assert_eq!(contacts(cat).await, [amy, bob, dan]);
    assert!(contacts(eve).await.is_empty());
    s.remove_member(trio, cat).await.unwrap();
    assert_eq!(contacts(amy).await, [bob]);
    assert_eq!(contacts(cat).await, [dan]);
}

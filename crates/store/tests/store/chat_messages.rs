//! Chat messages: paging, client-id retries, batches, hiding, retraction,
//! read and delivery marks, unread counts and search.

use std::collections::HashSet;

use starling_core::model::{MessageRecord, ReadMark};
use starling_core::ports::ChatStore;
use starling_core::{Error, MessageId, RoomId, Timestamp, UserId};
use starling_store::SqlStore;
use starling_store::db::query_scalar;

use super::chat_rooms::{group, msg, say};
use crate::{T, ev, ids, pending, user};

store_tests!(
    messages_page_newest_first_without_gaps_or_duplicates,
    a_retried_client_message_id_returns_the_stored_message,
    a_batch_is_stored_whole_or_not_at_all,
    hidden_messages_are_gone_for_their_viewer_only,
    a_retracted_message_is_blanked_but_keeps_its_place,
    read_marks_only_move_forward,
    delivery_marks_only_move_forward,
    unread_counts_skip_own_retracted_and_hidden_messages,
    search_covers_only_the_rooms_a_user_is_in,
);

fn ids_of(messages: &[MessageRecord]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

/// `viewer`'s view of `room`, `limit` at a time, checking each page.
async fn paged(s: &SqlStore, room: RoomId, viewer: UserId, limit: u32) -> Vec<MessageId> {
    let (mut all, mut before) = (Vec::new(), None);
    loop {
        let page = ids_of(&s.messages(room, viewer, before, limit).await.unwrap());
        assert!(page.len() <= limit as usize);
        assert!(page.windows(2).all(|w| w[0] > w[1]), "newest first");
        let Some(&last) = page.last() else {
            return all;
        };
        assert!(
            page.iter().all(|id| !all.contains(id)),
            "a page repeats an earlier one: {page:?}"
        );
        all.extend(page);
        before = Some(last);
    }
}

async fn messages_page_newest_first_without_gaps_or_duplicates(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let elsewhere = group(s, &g, &[amy, bob], T).await;
    let mut sent = Vec::new();
    for i in 0..23 {
        // All in one millisecond, another room's messages in between.
        let from = if i % 3 == 0 { bob } else { amy };
        sent.push(say(s, &g, r, from, &format!("m{i}"), T + 1).await);
        if i % 5 == 0 {
            say(s, &g, elsewhere, amy, "noise", T + 1).await;
        }
    }
    let want: Vec<_> = ids_of(&sent).into_iter().rev().collect();
    assert_eq!(paged(s, r, amy, 5).await, want);
    assert_eq!(paged(s, r, bob, 1).await, want);
    let newest = s.messages(r, amy, None, 2).await.unwrap();
    assert_eq!(newest, [sent[22].clone(), sent[21].clone()], "as sent");
    let ghost = MessageId(g.next());
    let found = s
        .messages_by_ids(&[sent[3].id, sent[7].id, ghost])
        .await
        .unwrap();
    assert_eq!(
        ids_of(&found).into_iter().collect::<HashSet<_>>(),
        HashSet::from([sent[3].id, sent[7].id]),
        "the two that exist"
    );
    let mut by_ids = s.messages_by_ids(&[sent[7].id, sent[3].id]).await.unwrap();
    by_ids.sort_by_key(|m| m.id);
    assert_eq!(by_ids, [sent[3].clone(), sent[7].clone()]);
    assert!(s.messages_by_ids(&[]).await.unwrap().is_empty());
}

async fn a_retried_client_message_id_returns_the_stored_message(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let other = group(s, &g, &[amy, bob], T).await;
    let with_cid = |room, sender, cid: &str, text: &str, at| MessageRecord {
        client_msg_id: cid.into(),
        ..msg(&g, room, sender, text, at)
    };
    let before = pending(s).await;
    let m1 = with_cid(r, amy, "c-1", "hi", T + 1);
    let sent = s.send_messages(&[(m1.clone(), ev())]).await.unwrap();
    assert_eq!(sent, [(m1.clone(), true)]);
    assert_eq!(pending(s).await, before + 1, "the message's event");
    assert_eq!(s.room(r).await.unwrap().last_activity_at, Timestamp(T + 1));

    let retry = with_cid(r, amy, "c-1", "hi (again)", T + 5);
    let again = s.send_messages(&[(retry.clone(), ev())]).await.unwrap();
    assert_eq!(again, [(m1.clone(), false)], "the first one, as stored");
    assert_eq!(pending(s).await, before + 1, "a retry writes no event");
    assert!(s.messages_by_ids(&[retry.id]).await.unwrap().is_empty());
    assert_eq!(
        ids_of(&s.messages(r, bob, None, 10).await.unwrap()),
        [m1.id]
    );
    assert_eq!(s.room(r).await.unwrap().last_activity_at, Timestamp(T + 1));

    // The client id is per sender and room.
    let bobs = with_cid(r, bob, "c-1", "me too", T + 6);
    let elsewhere = with_cid(other, amy, "c-1", "hi there", T + 6);
    let both = s
        .send_messages(&[(bobs.clone(), ev()), (elsewhere.clone(), ev())])
        .await
        .unwrap();
    assert_eq!(both, [(bobs, true), (elsewhere, true)]);

    // In one batch: new ones, a retry of an old one, a repeat of a new one.
    let x = with_cid(r, amy, "c-2", "x", T + 7);
    let y = with_cid(r, amy, "c-3", "y", T + 8);
    let x_again = with_cid(r, amy, "c-2", "x?", T + 8);
    let before = pending(s).await;
    let out = s
        .send_messages(&[
            (x.clone(), ev()),
            (retry, ev()),
            (y.clone(), ev()),
            (x_again.clone(), ev()),
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            (x.clone(), true),
            (m1, false),
            (y.clone(), true),
            (x, false)
        ]
    );
    assert_eq!(pending(s).await, before + 2);
    assert!(s.messages_by_ids(&[x_again.id]).await.unwrap().is_empty());
    assert_eq!(s.room(r).await.unwrap().last_activity_at, y.created_at);
    assert!(s.send_messages(&[]).await.unwrap().is_empty());
}

async fn a_batch_is_stored_whole_or_not_at_all(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let ok1 = msg(&g, r, amy, "one", T + 1);
    let ok2 = msg(&g, r, bob, "two", T + 2);
    let before = pending(s).await;
    for bad in [
        msg(&g, RoomId(g.next()), amy, "nowhere", T + 1),
        msg(&g, r, UserId(g.next()), "nobody", T + 1),
    ] {
        let batch = [(ok1.clone(), ev()), (bad, ev()), (ok2.clone(), ev())];
        assert_err!(s.send_messages(&batch).await, Error::NotFound { .. });
    }
    assert!(s.messages(r, amy, None, 10).await.unwrap().is_empty());
    assert_eq!(pending(s).await, before);
    assert_eq!(s.room(r).await.unwrap().last_activity_at, Timestamp(T));
    // Their ids and client ids are still free.
    let out = s
        .send_messages(&[(ok1.clone(), ev()), (ok2.clone(), ev())])
        .await
        .unwrap();
    assert_eq!(out, [(ok1, true), (ok2, true)]);
}

async fn hidden_messages_are_gone_for_their_viewer_only(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let mut m = Vec::new();
    for i in 0..4 {
        m.push(say(s, &g, r, bob, &format!("m{i}"), T + i).await.id);
    }
    s.hide_messages(amy, &[m[1], m[2]]).await.unwrap();
    s.hide_messages(amy, &[m[1]]).await.unwrap();
    s.hide_messages(amy, &[]).await.unwrap();
    assert_eq!(paged(s, r, amy, 10).await, [m[3], m[0]]);
    assert_eq!(paged(s, r, amy, 1).await, [m[3], m[0]]);
    assert_eq!(paged(s, r, bob, 10).await, [m[3], m[2], m[1], m[0]]);
    assert_eq!(
        s.messages_by_ids(&[m[1]]).await.unwrap().len(),
        1,
        "still there for everyone else"
    );
}

async fn a_retracted_message_is_blanked_but_keeps_its_place(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let m1 = say(s, &g, r, amy, "hello", T + 1).await;
    let m2 = say(s, &g, r, amy, "secret plan", T + 2).await;
    let m3 = say(s, &g, r, amy, "another secret", T + 3).await;
    s.retract_messages(&[m2.id, m3.id], Timestamp(T + 10))
        .await
        .unwrap();
    let blank = |m: &MessageRecord, at| MessageRecord {
        text: String::new(),
        retracted_at: Some(Timestamp(at)),
        ..m.clone()
    };
    let want = [blank(&m3, T + 10), blank(&m2, T + 10), m1.clone()];
    assert_eq!(s.messages(r, bob, None, 10).await.unwrap(), want);
    s.retract_messages(&[m2.id], Timestamp(T + 20))
        .await
        .unwrap();
    assert_eq!(
        s.messages_by_ids(&[m2.id]).await.unwrap(),
        [blank(&m2, T + 10)],
        "retracted once, at the first time"
    );
    let words = ["secret".to_owned()];
    assert!(
        s.search_messages(bob, &words, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn read_marks_only_move_forward(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let mut m = Vec::new();
    for i in 0..5 {
        m.push(say(s, &g, r, bob, "hi", T + i).await.id);
    }
    let mark = |upto: MessageId, at: i64| ReadMark {
        room_id: r,
        user_id: amy,
        message_id: upto,
        read_at: Timestamp(at),
    };
    let read = async |u: UserId, upto: MessageId, at: i64| {
        s.mark_read(r, u, upto, Timestamp(at)).await.unwrap()
    };
    let state = async || {
        let me = s.member(r, amy).await.unwrap().unwrap();
        (me.last_read_id, me.read_at)
    };
    assert_eq!(read(amy, m[2], T + 10).await, Some(mark(m[2], T + 10)));
    assert_eq!(state().await, (m[2].get(), Some(Timestamp(T + 10))));
    assert_eq!(s.unread_counts(amy, Some(r)).await.unwrap(), [(r, 2)]);
    assert_eq!(read(amy, m[1], T + 11).await, None, "never backwards");
    assert_eq!(read(amy, m[2], T + 12).await, None, "already there");
    assert_eq!(state().await, (m[2].get(), Some(Timestamp(T + 10))));
    assert_eq!(read(amy, m[4], T + 13).await, Some(mark(m[4], T + 13)));
    assert_eq!(s.unread_counts(amy, Some(r)).await.unwrap(), [(r, 0)]);
    assert_eq!(read(cat, m[4], T + 14).await, None, "not a member");
    assert_eq!(s.member(r, cat).await.unwrap(), None);
    let bobs = s.member(r, bob).await.unwrap().unwrap();
    assert_eq!(
        (bobs.last_read_id, bobs.read_at),
        (0, None),
        "marks are per member"
    );
}

async fn delivery_marks_only_move_forward(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let r = group(s, &g, &[amy, bob], T).await;
    let mut m = Vec::new();
    for i in 0..5 {
        m.push(say(s, &g, r, bob, "hi", T + i).await.id);
    }
    // The mark has no reader of its own: look at the row.
    let delivered = async |u: UserId| {
        query_scalar::<i64>(
            "SELECT delivered_id FROM chat_members WHERE room_id = $1 AND user_id = $2",
        )
        .bind(r.get())
        .bind(u.get())
        .fetch_optional(s.db())
        .await
        .unwrap()
    };
    assert_eq!(delivered(amy).await, Some(0));
    s.mark_delivered(r, amy, m[3]).await.unwrap();
    assert_eq!(delivered(amy).await, Some(m[3].get()));
    s.mark_delivered(r, amy, m[1]).await.unwrap();
    assert_eq!(delivered(amy).await, Some(m[3].get()), "never backwards");
    s.mark_delivered(r, amy, m[4]).await.unwrap();
    assert_eq!(delivered(amy).await, Some(m[4].get()));
    assert_eq!(delivered(bob).await, Some(0));
    s.mark_delivered(r, cat, m[4]).await.unwrap();
    assert_eq!(delivered(cat).await, None, "no membership made");
    assert_eq!(
        s.member(r, amy).await.unwrap().unwrap().last_read_id,
        0,
        "delivered is not read"
    );
}

async fn unread_counts_skip_own_retracted_and_hidden_messages(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let r = group(s, &g, &[amy, bob, cat], T).await;
    let quiet = group(s, &g, &[amy, cat], T).await;
    let theirs = group(s, &g, &[bob, cat], T).await;
    say(s, &g, theirs, bob, "not for amy", T).await;
    let mut from_bob = Vec::new();
    for i in 0..4 {
        from_bob.push(say(s, &g, r, bob, "b", T + i).await.id);
    }
    say(s, &g, r, amy, "a", T + 5).await;
    let last = say(s, &g, r, amy, "a", T + 6).await.id;
    let from_cat = say(s, &g, r, cat, "c", T + 7).await.id;
    let counts = async |u: UserId, room: Option<RoomId>| {
        let mut c = s.unread_counts(u, room).await.unwrap();
        c.sort();
        c
    };
    let mut want = vec![(r, 5), (quiet, 0)];
    want.sort();
    assert_eq!(
        counts(amy, None).await,
        want,
        "others' messages, every room"
    );
    s.retract_messages(&[from_bob[1]], Timestamp(T + 8))
        .await
        .unwrap();
    assert_eq!(counts(amy, Some(r)).await, [(r, 4)]);
    s.hide_messages(amy, &[from_cat]).await.unwrap();
    assert_eq!(counts(amy, Some(r)).await, [(r, 3)]);
    s.hide_messages(bob, &[from_bob[2]]).await.unwrap();
    assert_eq!(counts(amy, Some(r)).await, [(r, 3)], "Bob's hiding is his");
    assert_eq!(counts(bob, Some(r)).await, [(r, 3)], "Amy's two and Cat's");
    assert!(counts(amy, Some(theirs)).await.is_empty(), "not a member");
    let listed = s.rooms_of(amy).await.unwrap();
    let entry = listed.iter().find(|e| e.room.id == r).unwrap();
    assert_eq!(entry.unread, 3, "the room list agrees");
    s.mark_read(r, amy, last, Timestamp(T + 9)).await.unwrap();
    assert_eq!(
        counts(amy, Some(r)).await,
        [(r, 0)],
        "Cat's message was hidden"
    );
}

async fn search_covers_only_the_rooms_a_user_is_in(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let g1 = group(s, &g, &[amy, bob], T).await;
    let g2 = group(s, &g, &[bob, cat], T).await;
    let m1 = say(s, &g, g1, amy, "The blue whale", T + 1).await.id;
    let m2 = say(s, &g, g2, cat, "blue sky", T + 2).await.id;
    let m3 = say(s, &g, g1, bob, "Blue whale again", T + 3).await.id;
    let m4 = say(s, &g, g1, bob, "red whale", T + 4).await.id;
    let m5 = say(s, &g, g1, amy, "blue or green", T + 5).await.id;
    let find = async |u: UserId, words: &[&str], room: Option<RoomId>, before, limit: u32| {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        let found = s
            .search_messages(u, &words, room, before, limit)
            .await
            .unwrap();
        ids_of(&found)
    };
    assert_eq!(
        find(amy, &["blue", "whale"], None, None, 10).await,
        [m3, m1]
    );
    assert_eq!(find(bob, &["blue"], None, None, 10).await, [m5, m3, m2, m1]);
    assert_eq!(find(bob, &["blue"], None, None, 2).await, [m5, m3]);
    assert_eq!(find(bob, &["blue"], None, Some(m3), 2).await, [m2, m1]);
    assert_eq!(find(bob, &["blue"], Some(g2), None, 10).await, [m2]);
    assert!(find(amy, &["blue"], Some(g2), None, 10).await.is_empty());
    assert!(find(cat, &["whale"], None, None, 10).await.is_empty());
    assert_eq!(
        find(bob, &["or"], None, None, 10).await,
        [m5],
        "words, not syntax"
    );
    assert!(find(bob, &[], None, None, 10).await.is_empty());
    s.hide_messages(amy, &[m3]).await.unwrap();
    assert_eq!(find(amy, &["whale"], None, None, 10).await, [m4, m1]);
    assert_eq!(find(bob, &["whale"], None, None, 10).await, [m4, m3, m1]);
    s.retract_messages(&[m1], Timestamp(T + 9)).await.unwrap();
    assert_eq!(find(bob, &["whale"], None, None, 10).await, [m4, m3]);
    s.remove_member(g1, amy).await.unwrap();
    assert!(find(amy, &["whale"], None, None, 10).await.is_empty());
}

//! Account deletion: the mark hides the account and frees its names at
//! once; purge batches are repeatable and keep the others' counts; the row
//! goes last, leaving its chat messages without a sender.

use starling_core::model::{LoveTarget, PurgeStep, RoomKind, RoomRecord};
use starling_core::ports::{
    AccountDeletionStore, ChatStore, FollowStore, LoveStore, PostStore, UserStore,
};
use starling_core::{Error, RoomId, Timestamp};
use starling_store::SqlStore;

use crate::{ev, ids, post, user};

store_tests!(
    a_deleted_account_is_hidden_at_once_and_its_names_are_free,
    purge_batches_repeat_safely_and_keep_counts,
);

async fn a_deleted_account_is_hidden_at_once_and_its_names_are_free(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bea = user(s, &g, "bea").await;
    s.mark_deleted(amy, Timestamp::now(), &ev()).await.unwrap();
    assert!(matches!(
        s.user_by_id(amy).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.user_by_username("amy").await,
        Err(Error::NotFound { .. })
    ));
    assert!(s.credentials("amy").await.unwrap().is_none());
    assert!(s.credentials("amy@example.org").await.unwrap().is_none());
    let found = s.users_by_ids(&[amy, bea]).await.unwrap();
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), [bea]);
    assert!(s.search_users("amy", None, 10).await.unwrap().is_empty());
    // Twice is not found: there is no live account to delete.
    assert!(matches!(
        s.mark_deleted(amy, Timestamp::now(), &ev()).await,
        Err(Error::NotFound { .. })
    ));
    let marked = s.deleted_account(amy).await.unwrap().expect("marked");
    assert_eq!(marked.id, amy);
    assert!(
        s.deleted_account(bea).await.unwrap().is_none(),
        "bea is live"
    );
    // A new account takes the name and address at once.
    let again = user(s, &g, "amy").await;
    assert_ne!(again, amy);
}

async fn purge_batches_repeat_safely_and_keep_counts(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bea = user(s, &g, "bea").await;
    let cy = user(s, &g, "cyd").await;
    let beas = post(s, &g, bea).await;
    for u in [amy, cy] {
        s.love(LoveTarget::Post(beas), u, Timestamp::now(), &ev())
            .await
            .unwrap();
        s.follow(u, bea, Timestamp::now(), &ev()).await.unwrap();
    }
    s.follow(bea, amy, Timestamp::now(), &ev()).await.unwrap();
    let amys = post(s, &g, amy).await;
    s.love(LoveTarget::Post(amys), bea, Timestamp::now(), &ev())
        .await
        .unwrap();
    let room = RoomRecord {
        id: RoomId(g.next()),
        kind: RoomKind::Direct,
        name: None,
        owner_id: None,
        created_at: Timestamp::now(),
        last_activity_at: Timestamp::now(),
    };
    let room = s.direct_room(amy, bea, &room).await.unwrap();
    let said = crate::chat_rooms::msg(&g, room.id, amy, "hi bea", Timestamp::now().millis());
    s.send_messages(&[(said.clone(), ev())]).await.unwrap();

    s.mark_deleted(amy, Timestamp::now(), &ev()).await.unwrap();
    for step in PurgeStep::ALL {
        // One row at a time, until the step finds nothing.
        while s.purge_batch(amy, step, 1).await.unwrap().rows > 0 {}
        // Again: nothing left, nothing changes.
        assert_eq!(s.purge_batch(amy, step, 1).await.unwrap().rows, 0);
    }
    let bea_now = s.user_by_id(bea).await.unwrap();
    assert_eq!(bea_now.follower_count, 1, "cy still follows bea");
    assert_eq!(bea_now.following_count, 0);
    let p = s.posts_by_ids(&[beas]).await.unwrap();
    assert_eq!(p[0].love_count, 1, "cy's love is left");
    assert!(s.posts_by_ids(&[amys]).await.unwrap().is_empty());
    assert!(s.loved_among(bea, &[amys.get()]).await.unwrap().is_empty());

    s.remove_user(amy).await.unwrap();
    assert!(s.deleted_account(amy).await.unwrap().is_none());
    let left = s.messages_by_ids(&[said.id]).await.unwrap();
    assert_eq!(left.len(), 1, "the message stays");
    assert_eq!(left[0].sender_id, None);
    assert_eq!(left[0].text, "hi bea");
    // Removing again is harmless.
    s.remove_user(amy).await.unwrap();
}

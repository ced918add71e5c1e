//! Notifications: once per event and recipient, exact unread counts.

use starling_core::{Error, EventId, IdGenerator, Timestamp, UserId};
use starling_store::SqlStore;

use crate::{ev, ids, post, user};

store_tests!(
    a_notification_is_stored_once_per_event_and_recipient,
    a_batch_of_notifications_is_one_transaction_with_running_counts,
    no_notification_for_a_subject_already_gone,
    removing_notifications_keeps_unread_counts_exact,
    marking_read_is_for_the_recipient_only,
);

fn notification(
    g: &IdGenerator,
    event: EventId,
    recipient: UserId,
    actor: UserId,
    kind: starling_core::model::NotificationKind,
    post: Option<starling_core::PostId>,
) -> starling_core::model::NotificationRecord {
    starling_core::model::NotificationRecord {
        id: starling_core::NotificationId(g.next()),
        event_id: event,
        recipient_id: recipient,
        kind,
        actor_id: actor,
        post_id: post,
        comment_id: None,
        room_id: None,
        report_id: None,
        created_at: Timestamp::now(),
        read_at: None,
    }
}

async fn a_notification_is_stored_once_per_event_and_recipient(s: &SqlStore) {
    use starling_core::model::{NotificationKind, Subject};
    use starling_core::ports::NotificationStore;
    let g = ids();
    let a = user(s, &g, "nota").await;
    let b = user(s, &g, "notb").await;
    let c = user(s, &g, "notc").await;
    let p = post(s, &g, a).await;
    let event = EventId(g.next());
    let first = notification(&g, event, a, b, NotificationKind::Mention, Some(p));
    assert_eq!(
        s.insert_notification(&first, Subject::Post(p))
            .await
            .unwrap(),
        Some(1)
    );
    // The same event again (a redelivery makes a new notification id).
    let again = notification(&g, event, a, b, NotificationKind::Mention, Some(p));
    assert_eq!(
        s.insert_notification(&again, Subject::Post(p))
            .await
            .unwrap(),
        None
    );
    // The same event for another recipient is another notification.
    let other = notification(&g, event, c, b, NotificationKind::Mention, Some(p));
    assert_eq!(
        s.insert_notification(&other, Subject::Post(p))
            .await
            .unwrap(),
        Some(1)
    );
    let listed = s.notifications(a, None, 10, false).await.unwrap();
    assert_eq!(listed, vec![first.clone()]);
    assert_eq!(s.unread_count(a).await.unwrap(), 1);
    assert_eq!(s.notification(first.id).await.unwrap(), first);
    let after = s
        .notifications_after(a, starling_core::NotificationId::from_i64(0), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
}

async fn a_batch_of_notifications_is_one_transaction_with_running_counts(s: &SqlStore) {
    use starling_core::model::{NotificationKind, Subject};
    use starling_core::ports::NotificationStore;
    let g = ids();
    let a = user(s, &g, "batcha").await;
    let b = user(s, &g, "batchb").await;
    let c = user(s, &g, "batchc").await;
    let p = post(s, &g, a).await;
    let e1 = EventId(g.next());
    let e2 = EventId(g.next());
    let gone = starling_core::PostId(g.next());
    let batch = vec![
        (
            notification(&g, e1, a, b, NotificationKind::Mention, Some(p)),
            Subject::Post(p),
        ),
        (
            notification(&g, e1, c, b, NotificationKind::Mention, Some(p)),
            Subject::Post(p),
        ),
        // The same event and recipient again, in the same batch: skipped.
        (
            notification(&g, e1, a, b, NotificationKind::Mention, Some(p)),
            Subject::Post(p),
        ),
        (
            notification(&g, e2, a, c, NotificationKind::Mention, Some(p)),
            Subject::Post(p),
        ),
        // A subject already gone: skipped, the rest stored.
        (
            notification(&g, e2, c, a, NotificationKind::Mention, Some(gone)),
            Subject::Post(gone),
        ),
    ];
    assert_eq!(
        s.insert_notifications(&batch).await.unwrap(),
        vec![Some(1), Some(1), None, Some(2), None]
    );
    assert_eq!(s.unread_count(a).await.unwrap(), 2);
    assert_eq!(s.unread_count(c).await.unwrap(), 1);
    assert_eq!(
        s.insert_notifications(&[]).await.unwrap(),
        Vec::<Option<i64>>::new()
    );
    // Redelivered as a whole: nothing new.
    assert_eq!(
        s.insert_notifications(&batch[..2]).await.unwrap(),
        vec![None, None]
    );
    assert_eq!(s.notifications(a, None, 10, false).await.unwrap().len(), 2);
}

async fn no_notification_for_a_subject_already_gone(s: &SqlStore) {
    use starling_core::model::{LoveTarget, NotificationKind, Subject};
    use starling_core::ports::{LoveStore, NotificationStore, PostStore};
    let g = ids();
    let a = user(s, &g, "gonea").await;
    let b = user(s, &g, "goneb").await;
    let p = post(s, &g, a).await;
    let love = Subject::Love {
        actor: b,
        target: LoveTarget::Post(p),
    };
    let n = notification(&g, EventId(g.next()), a, b, NotificationKind::Love, Some(p));
    assert_eq!(
        s.insert_notification(&n, love).await.unwrap(),
        None,
        "never loved"
    );
    s.love(LoveTarget::Post(p), b, Timestamp::now(), &ev())
        .await
        .unwrap();
    s.unlove(LoveTarget::Post(p), b).await.unwrap();
    assert_eq!(
        s.insert_notification(&n, love).await.unwrap(),
        None,
        "unloved before delivery"
    );
    let follow = Subject::Follow {
        actor: b,
        followee: a,
    };
    let f = notification(&g, EventId(g.next()), a, b, NotificationKind::Follow, None);
    assert_eq!(s.insert_notification(&f, follow).await.unwrap(), None);
    s.delete_post(p, a, Timestamp::now(), &ev()).await.unwrap();
    let m = notification(
        &g,
        EventId(g.next()),
        a,
        b,
        NotificationKind::Mention,
        Some(p),
    );
    assert_eq!(
        s.insert_notification(&m, Subject::Post(p)).await.unwrap(),
        None,
        "post deleted"
    );
    assert_eq!(s.unread_count(a).await.unwrap(), 0);
    assert!(
        s.notifications(a, None, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn removing_notifications_keeps_unread_counts_exact(s: &SqlStore) {
    use starling_core::model::{LoveTarget, NotificationKind, Subject};
    use starling_core::ports::{LoveStore, NotificationStore};
    let g = ids();
    let a = user(s, &g, "rema").await;
    let b = user(s, &g, "remb").await;
    let c = user(s, &g, "remc").await;
    let p = post(s, &g, a).await;
    for &lover in &[b, c] {
        s.love(LoveTarget::Post(p), lover, Timestamp::now(), &ev())
            .await
            .unwrap();
        let n = notification(
            &g,
            EventId(g.next()),
            a,
            lover,
            NotificationKind::Love,
            Some(p),
        );
        let subject = Subject::Love {
            actor: lover,
            target: LoveTarget::Post(p),
        };
        s.insert_notification(&n, subject).await.unwrap().unwrap();
    }
    let mention = notification(
        &g,
        EventId(g.next()),
        b,
        a,
        NotificationKind::Mention,
        Some(p),
    );
    s.insert_notification(&mention, Subject::Post(p))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.unread_count(a).await.unwrap(), 2);
    // b's love goes: only b's love notification to a.
    let changed = s
        .remove_notifications(Subject::Love {
            actor: b,
            target: LoveTarget::Post(p),
        })
        .await
        .unwrap();
    assert_eq!(changed, vec![(a, 1)]);
    // Read c's love, then delete the post: everything about it goes, counts stay exact.
    let left = s.notifications(a, None, 10, false).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        s.mark_read(a, left[0].id, Timestamp::now()).await.unwrap(),
        0
    );
    let mut changed = s.remove_notifications(Subject::Post(p)).await.unwrap();
    changed.sort();
    let mut want = vec![(a, 0), (b, 0)];
    want.sort();
    assert_eq!(changed, want);
    assert!(
        s.notifications(a, None, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.unread_count(b).await.unwrap(), 0);
}

async fn marking_read_is_for_the_recipient_only(s: &SqlStore) {
    use starling_core::model::{NotificationKind, Subject};
    use starling_core::ports::NotificationStore;
    let g = ids();
    let a = user(s, &g, "marka").await;
    let b = user(s, &g, "markb").await;
    let p = post(s, &g, a).await;
    let mut ids_a = Vec::new();
    for _ in 0..3 {
        let n = notification(
            &g,
            EventId(g.next()),
            a,
            b,
            NotificationKind::Mention,
            Some(p),
        );
        s.insert_notification(&n, Subject::Post(p))
            .await
            .unwrap()
            .unwrap();
        ids_a.push(n.id);
    }
    assert!(matches!(
        s.mark_read(b, ids_a[0], Timestamp::now()).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.unread_count(a).await.unwrap(), 3);
    assert_eq!(s.mark_read(a, ids_a[0], Timestamp::now()).await.unwrap(), 2);
    assert_eq!(
        s.mark_read(a, ids_a[0], Timestamp::now()).await.unwrap(),
        2,
        "idempotent"
    );
    assert_eq!(s.notifications(a, None, 10, true).await.unwrap().len(), 2);
    s.mark_all_read(b, Timestamp::now()).await.unwrap();
    assert_eq!(
        s.unread_count(a).await.unwrap(),
        2,
        "b's read-all leaves a alone"
    );
    s.mark_all_read(a, Timestamp::now()).await.unwrap();
    assert_eq!(s.unread_count(a).await.unwrap(), 0);
    assert!(s.notifications(a, None, 10, true).await.unwrap().is_empty());
}

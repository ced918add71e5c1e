//! The transactional outbox: written with the change, claimed once, retried.

use std::sync::Arc;

use starling_core::Timestamp;
use starling_core::ports::FollowStore;
use starling_store::SqlStore;

use crate::{ev, ids, user};

store_tests!(
    writes_put_their_event_in_the_outbox_only_when_they_change_something,
    concurrent_relays_never_claim_the_same_event,
    outbox_retries_wait_and_dead_events_stay_aside,
);

async fn writes_put_their_event_in_the_outbox_only_when_they_change_something(s: &SqlStore) {
    use starling_core::ports::OutboxStore;
    let g = ids();
    let a = user(s, &g, "outa").await;
    let b = user(s, &g, "outb").await;
    assert_eq!(
        s.outbox_pending().await.unwrap(),
        2,
        "one event per registration"
    );
    let follow = ev();
    assert!(s.follow(a, b, Timestamp::now(), &follow).await.unwrap());
    assert!(!s.follow(a, b, Timestamp::now(), &ev()).await.unwrap());
    assert_eq!(
        s.outbox_pending().await.unwrap(),
        3,
        "a repeated follow adds no event"
    );
    let now = Timestamp::now();
    let claimed = s
        .claim_outbox(now, Timestamp(now.0 + 30_000), 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(
        claimed.windows(2).all(|w| w[0].id < w[1].id),
        "oldest first"
    );
    let f = claimed.iter().find(|e| e.id == follow.id).unwrap();
    assert_eq!(
        (f.key.as_str(), &f.payload, f.attempt),
        (follow.key.as_str(), &follow.payload, 1)
    );
    assert!(
        s.claim_outbox(now, Timestamp(now.0 + 30_000), 100)
            .await
            .unwrap()
            .is_empty(),
        "leased events are not handed out twice"
    );
    s.outbox_done(&claimed.iter().map(|e| e.id).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(s.outbox_pending().await.unwrap(), 0);
}

async fn concurrent_relays_never_claim_the_same_event(s: &SqlStore) {
    use starling_core::ports::OutboxStore;
    let g = ids();
    for i in 0..40 {
        user(s, &g, &format!("claim{i}")).await;
    }
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let now = Timestamp::now();
                let got = store
                    .claim_outbox(now, Timestamp(now.0 + 60_000), 7)
                    .await
                    .unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|e| e.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (40, 40), "every event claimed exactly once");
}

async fn outbox_retries_wait_and_dead_events_stay_aside(s: &SqlStore) {
    use starling_core::ports::OutboxStore;
    let g = ids();
    user(s, &g, "retry1").await;
    user(s, &g, "retry2").await;
    let now = Timestamp::now();
    let lease = Timestamp(now.0 + 30_000);
    let claimed = s.claim_outbox(now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    s.outbox_retry(claimed[0].id, Timestamp(now.0 + 1_000), false)
        .await
        .unwrap();
    s.outbox_retry(claimed[1].id, now, true).await.unwrap();
    assert!(
        s.claim_outbox(now, lease, 10).await.unwrap().is_empty(),
        "not before its time"
    );
    let later = Timestamp(now.0 + 2_000);
    let again = s
        .claim_outbox(later, Timestamp(later.0 + 30_000), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "the dead event is never handed out again");
    assert_eq!((again[0].id, again[0].attempt), (claimed[0].id, 2));
    assert_eq!(s.outbox_pending().await.unwrap(), 1);
}

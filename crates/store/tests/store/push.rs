//! Web push subscriptions: keyed by user and endpoint, capped per user.

use std::sync::Arc;

use starling_core::{IdGenerator, Timestamp, UserId};
use starling_store::SqlStore;

use crate::{ids, user};

store_tests!(
    push_subscriptions_are_keyed_by_user_and_endpoint,
    push_subscriptions_keep_the_newest_per_user,
    concurrent_push_subscribes_keep_the_cap,
);

fn push_sub(
    g: &IdGenerator,
    user: UserId,
    endpoint: &str,
    key: &str,
    at: i64,
) -> starling_core::model::PushSubscriptionRecord {
    starling_core::model::PushSubscriptionRecord {
        id: starling_core::PushSubscriptionId(g.next()),
        user_id: user,
        endpoint: endpoint.to_owned(),
        p256dh: key.to_owned(),
        auth: format!("auth-{key}"),
        created_at: Timestamp(at),
    }
}

async fn endpoints_of(s: &SqlStore, user: UserId) -> Vec<String> {
    use starling_core::ports::PushSubscriptionStore;
    s.push_subscriptions(user)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.endpoint)
        .collect()
}

async fn push_subscriptions_are_keyed_by_user_and_endpoint(s: &SqlStore) {
    use starling_core::ports::PushSubscriptionStore;
    let g = ids();
    let ann = user(s, &g, "pushann").await;
    let bob = user(s, &g, "pushbob").await;
    let endpoint = "https://push.example.net/shared";
    let a = s
        .save_push_subscription(&push_sub(&g, ann, endpoint, "ann-key", 1_000), 10)
        .await
        .unwrap();
    // Bob registering the same endpoint gets a row of his own; Ann keeps hers.
    let b = s
        .save_push_subscription(&push_sub(&g, bob, endpoint, "bob-key", 2_000), 10)
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(b.user_id, bob);
    let anns = s.push_subscriptions(ann).await.unwrap();
    assert_eq!(anns.len(), 1, "Ann's subscription was not taken over");
    assert_eq!((anns[0].id, anns[0].p256dh.as_str()), (a.id, "ann-key"));
    let bobs = s.push_subscriptions(bob).await.unwrap();
    assert_eq!((bobs[0].id, bobs[0].p256dh.as_str()), (b.id, "bob-key"));

    // Ann registering it again updates her row in place.
    let again = s
        .save_push_subscription(&push_sub(&g, ann, endpoint, "ann-key-2", 3_000), 10)
        .await
        .unwrap();
    assert_eq!(again.id, a.id, "same (user, endpoint), same id");
    assert_eq!(again.p256dh, "ann-key-2");
    assert_eq!(again.created_at, Timestamp(3_000));
    assert_eq!(s.push_subscriptions(ann).await.unwrap().len(), 1);

    // A push service's "gone" for Ann's row leaves Bob's alone.
    s.delete_push_endpoint(ann, endpoint).await.unwrap();
    assert!(s.push_subscriptions(ann).await.unwrap().is_empty());
    assert_eq!(endpoints_of(s, bob).await, [endpoint]);
    // Ids are per owner: Ann cannot delete Bob's row.
    assert!(!s.delete_push_subscription(ann, b.id).await.unwrap());
    assert!(s.delete_push_subscription(bob, b.id).await.unwrap());
}

async fn push_subscriptions_keep_the_newest_per_user(s: &SqlStore) {
    use starling_core::ports::PushSubscriptionStore;
    let g = ids();
    let ann = user(s, &g, "capann").await;
    let bob = user(s, &g, "capbob").await;
    s.save_push_subscription(&push_sub(&g, bob, "https://p/bob", "k", 1), 3)
        .await
        .unwrap();
    for i in 1..=5 {
        let saved = s
            .save_push_subscription(
                &push_sub(&g, ann, &format!("https://p/{i}"), "k", 1_000 * i),
                3,
            )
            .await
            .unwrap();
        assert_eq!(
            saved.endpoint,
            format!("https://p/{i}"),
            "the saved one stays"
        );
    }
    assert_eq!(
        endpoints_of(s, ann).await,
        ["https://p/5", "https://p/4", "https://p/3"],
        "the oldest two were replaced; newest first"
    );
    // Registering p/3 again makes it the newest, so p/4 goes next.
    s.save_push_subscription(&push_sub(&g, ann, "https://p/3", "k2", 6_000), 3)
        .await
        .unwrap();
    s.save_push_subscription(&push_sub(&g, ann, "https://p/7", "k", 7_000), 3)
        .await
        .unwrap();
    assert_eq!(
        endpoints_of(s, ann).await,
        ["https://p/7", "https://p/3", "https://p/5"]
    );
    // A lower cap trims on the next save; other users are untouched.
    s.save_push_subscription(&push_sub(&g, ann, "https://p/8", "k", 8_000), 1)
        .await
        .unwrap();
    assert_eq!(endpoints_of(s, ann).await, ["https://p/8"]);
    assert_eq!(endpoints_of(s, bob).await, ["https://p/bob"]);
}

async fn concurrent_push_subscribes_keep_the_cap(s: &SqlStore) {
    use starling_core::ports::PushSubscriptionStore;
    let g = Arc::new(ids());
    let ann = user(s, &g, "raceann").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (s, g) = (s.clone(), g.clone());
        tasks.push(tokio::spawn(async move {
            let sub = push_sub(
                &g,
                ann,
                &format!("https://p/{i}"),
                "k",
                Timestamp::now().millis(),
            );
            s.save_push_subscription(&sub, 3).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.push_subscriptions(ann).await.unwrap().len(), 3);
}

//! Notifications: what makes one, who sees it, counters, the live stream and
//! Web Push subscriptions.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestUser};

backend_tests!(
    an_idle_stream_sends_heartbeats,
    the_stream_accepts_the_session_cookie,
    each_action_notifies_the_right_user_once_and_never_the_actor,
    deleting_what_a_notification_is_about_removes_it,
    unread_counts_and_marking_read,
    notifications_page_newest_first_without_repeats,
    another_users_notifications_are_out_of_reach,
    the_stream_delivers_live_and_replays_what_was_missed,
    push_subscriptions_are_validated_and_owned,
    push_endpoints_must_be_https_on_public_addresses,
    a_replayed_event_makes_no_second_notification,
);

async fn post(app: &TestApp, u: &TestUser, text: &str) -> String {
    let r = app
        .post("/api/posts", Some(&u.access), json!({"text": text}))
        .await;
    r.assert_status(201)["id"].as_str().unwrap().to_owned()
}

async fn comment(
    app: &TestApp,
    u: &TestUser,
    post: &str,
    text: &str,
    parent: Option<&str>,
) -> String {
    let mut body = json!({"text": text});
    if let Some(p) = parent {
        body["parentId"] = json!(p);
    }
    let r = app
        .post(
            &format!("/api/posts/{post}/comments"),
            Some(&u.access),
            body,
        )
        .await;
    r.assert_status(201)["id"].as_str().unwrap().to_owned()
}

/// Waits until `u` has `n` notifications; returns them, newest first.
async fn wait_for(app: &TestApp, u: &TestUser, n: usize) -> Vec<Value> {
    let b = app
        .eventually(
            "/api/notifications?limit=100",
            &u.access,
            &format!("{n} notifications for {}", u.username),
            |b| b["items"].as_array().unwrap().len() >= n,
        )
        .await;
    let items = b["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), n, "exactly {n} notifications: {items:#?}");
    items
}

async fn unread(app: &TestApp, u: &TestUser) -> i64 {
    app.get("/api/notifications/unread-count", Some(&u.access))
        .await
        .assert_status(200)["count"]
        .as_i64()
        .unwrap()
}

fn kinds(items: &[Value]) -> Vec<&str> {
    items.iter().map(|n| n["type"].as_str().unwrap()).collect()
}

async fn each_action_notifies_the_right_user_once_and_never_the_actor(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;

    // Ann's own actions on her own things notify nobody.
    let p = post(&app, &ann, "my first post").await;
    app.put(&format!("/api/posts/{p}/love"), Some(&ann.access))
        .await
        .assert_status(200);
    let own = comment(&app, &ann, &p, "replying to myself", None).await;
    app.put(&format!("/api/comments/{own}/love"), Some(&ann.access))
        .await
        .assert_status(200);

    // Bob loves, comments; Ann replies to Bob; Bob mentions Cat; Bob follows Ann.
    app.put(&format!("/api/posts/{p}/love"), Some(&bob.access))
        .await
        .assert_status(200);
    let c = comment(&app, &bob, &p, "nice post", None).await;
    app.put(&format!("/api/comments/{c}/love"), Some(&ann.access))
        .await
        .assert_status(200);
    let reply = comment(&app, &ann, &p, "thanks @bob", Some(&c)).await;
    let m = post(&app, &bob, "hello @cat and @nobody").await;
    app.put(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);

    let for_ann = wait_for(&app, &ann, 3).await;
    let mut k = kinds(&for_ann);
    k.sort();
    assert_eq!(k, ["comment", "follow", "love"]);
    for n in &for_ann {
        assert_eq!(n["actor"]["id"], bob.id.as_str());
        assert_eq!(n["actor"]["username"], "bob");
        assert_eq!(n["read"], false);
        assert!(n["createdAt"].as_str().unwrap().ends_with('Z'));
        match n["type"].as_str().unwrap() {
            "love" => {
                assert_eq!(n["post"]["id"], p.as_str());
                assert_eq!(n["post"]["excerpt"], "my first post");
                assert!(n.get("comment").is_none());
            }
            "comment" => {
                assert_eq!(n["post"]["id"], p.as_str());
                assert_eq!(n["comment"]["id"], c.as_str());
                assert_eq!(n["comment"]["excerpt"], "nice post");
            }
            "follow" => assert!(n.get("post").is_none() && n.get("comment").is_none()),
            other => panic!("unexpected {other}"),
        }
    }
    // Bob: Ann loved his comment and replied to it (the reply mentions him
    // too, but one event makes one notification per person).
    let for_bob = wait_for(&app, &bob, 2).await;
    let mut k = kinds(&for_bob);
    k.sort();
    assert_eq!(k, ["love", "reply"]);
    let r = for_bob.iter().find(|n| n["type"] == "reply").unwrap();
    assert_eq!(r["comment"]["id"], reply.as_str());
    let l = for_bob.iter().find(|n| n["type"] == "love").unwrap();
    assert_eq!(l["comment"]["id"], c.as_str());
    assert_eq!(l["post"]["id"], p.as_str());
    // Cat was mentioned.
    let for_cat = wait_for(&app, &cat, 1).await;
    assert_eq!(for_cat[0]["type"], "mention");
    assert_eq!(for_cat[0]["post"]["id"], m.as_str());
    assert_eq!(unread(&app, &ann).await, 3);
    assert_eq!(unread(&app, &bob).await, 2);
    // Loving again, re-following: idempotent, nothing new.
    app.put(&format!("/api/posts/{p}/love"), Some(&bob.access))
        .await
        .assert_status(200);
    app.put(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(wait_for(&app, &ann, 3).await.len(), 3);
}

async fn deleting_what_a_notification_is_about_removes_it(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let p = post(&app, &ann, "delete me later").await;
    let keep = post(&app, &ann, "this one stays").await;
    app.put(&format!("/api/posts/{p}/love"), Some(&bob.access))
        .await
        .assert_status(200);
    app.put(&format!("/api/posts/{keep}/love"), Some(&bob.access))
        .await
        .assert_status(200);
    let c = comment(&app, &bob, &keep, "a comment", None).await;
    app.put(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    wait_for(&app, &ann, 4).await;
    assert_eq!(unread(&app, &ann).await, 4);

    app.delete(&format!("/api/posts/{keep}/love"), Some(&bob.access))
        .await
        .assert_status(200);
    let left = wait_for(&app, &ann, 3).await;
    assert!(
        !left
            .iter()
            .any(|n| n["type"] == "love" && n["post"]["id"] == keep.as_str())
    );
    app.delete(&format!("/api/comments/{c}"), Some(&bob.access))
        .await
        .assert_status(204);
    app.delete(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    app.delete(&format!("/api/posts/{p}"), Some(&ann.access))
        .await
        .assert_status(204);
    wait_for(&app, &ann, 0).await;
    assert_eq!(unread(&app, &ann).await, 0, "the count follows");
}

async fn unread_counts_and_marking_read(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let p = post(&app, &ann, "popular").await;
    for u in [&bob, &cat] {
        app.put(&format!("/api/posts/{p}/love"), Some(&u.access))
            .await
            .assert_status(200);
        app.put(&format!("/api/users/{}/follow", ann.id), Some(&u.access))
            .await
            .assert_status(200);
    }
    let items = wait_for(&app, &ann, 4).await;
    assert_eq!(unread(&app, &ann).await, 4);
    let first = items[0]["id"].as_str().unwrap();
    let r = app
        .send(app.request(
            Method::PATCH,
            &format!("/api/notifications/{first}/read"),
            Some(&ann.access),
        ))
        .await;
    assert_eq!(r.assert_status(200)["count"], 3);
    let again = app
        .send(app.request(
            Method::PATCH,
            &format!("/api/notifications/{first}/read"),
            Some(&ann.access),
        ))
        .await;
    assert_eq!(
        again.assert_status(200)["count"],
        3,
        "marking twice is harmless"
    );
    assert_eq!(unread(&app, &ann).await, 3);
    let listed = app.get("/api/notifications", Some(&ann.access)).await;
    let read: Vec<bool> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["read"].as_bool().unwrap())
        .collect();
    assert_eq!(read.iter().filter(|r| **r).count(), 1);
    let unread_only = app
        .get("/api/notifications?unreadOnly=true", Some(&ann.access))
        .await;
    assert_eq!(
        unread_only.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let all = app
        .put("/api/notifications/read-all", Some(&ann.access))
        .await;
    assert_eq!(all.assert_status(200)["count"], 0);
    assert_eq!(unread(&app, &ann).await, 0);
    let unread_only = app
        .get("/api/notifications?unreadOnly=true", Some(&ann.access))
        .await;
    assert!(unread_only.body["items"].as_array().unwrap().is_empty());
    // Bad input is a clear 4xx.
    for q in [
        "unreadOnly=maybe",
        "limit=0",
        "limit=101",
        "cursor=%%%",
        "colour=red",
    ] {
        let r = app
            .get(&format!("/api/notifications?{q}"), Some(&ann.access))
            .await;
        assert_eq!(r.status.as_u16(), 400, "{q}: {}", r.text);
        assert!(r.body["error"]["code"].is_string(), "{q}: {}", r.text);
    }
    app.send(app.request(
        Method::PATCH,
        "/api/notifications/xyz/read",
        Some(&ann.access),
    ))
    .await
    .assert_error(400, "invalid_path");
    app.get("/api/notifications", None)
        .await
        .assert_error(401, "unauthenticated");
    app.get("/api/notifications/unread-count", None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn notifications_page_newest_first_without_repeats(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let fans: Vec<TestUser> = {
        let mut v = Vec::new();
        for i in 0..7 {
            v.push(app.register(&format!("fan{i}")).await);
        }
        v
    };
    for f in &fans {
        app.put(&format!("/api/users/{}/follow", ann.id), Some(&f.access))
            .await
            .assert_status(200);
    }
    let all = wait_for(&app, &ann, 7).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/api/notifications?limit=3&cursor={cursor}"),
                Some(&ann.access),
            )
            .await;
        let b = r.assert_status(200);
        for n in b["items"].as_array().unwrap() {
            seen.push(n["id"].as_str().unwrap().to_owned());
        }
        match b["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let want: Vec<String> = all
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        seen, want,
        "pages hold every notification once, newest first"
    );
    let mut sorted = want.clone();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.parse::<i64>().unwrap()));
    assert_eq!(want, sorted);
}

async fn another_users_notifications_are_out_of_reach(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    app.put(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    let items = wait_for(&app, &ann, 1).await;
    let id = items[0]["id"].as_str().unwrap();
    // Bob can neither mark Ann's notification read nor see it.
    app.send(app.request(
        Method::PATCH,
        &format!("/api/notifications/{id}/read"),
        Some(&bob.access),
    ))
    .await
    .assert_error(404, "not_found");
    assert!(
        app.get("/api/notifications", Some(&bob.access)).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.put("/api/notifications/read-all", Some(&bob.access))
        .await
        .assert_status(200);
    assert_eq!(
        unread(&app, &ann).await,
        1,
        "Bob's read-all leaves Ann's alone"
    );
    // Bob's stream never carries Ann's notifications.
    let mut bob_stream = app.sse(&bob.access, None).await;
    assert_eq!(bob_stream.next().await.data["count"], 0);
    let cat = app.register("cat").await;
    app.put(&format!("/api/users/{}/follow", ann.id), Some(&cat.access))
        .await
        .assert_status(200);
    wait_for(&app, &ann, 2).await;
    bob_stream
        .assert_no("notification", Duration::from_millis(300))
        .await;
    // Without credentials there is no stream.
    app.get("/api/notifications/stream", None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn the_stream_delivers_live_and_replays_what_was_missed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let p = post(&app, &ann, "watch this").await;
    let mut s = app.sse(&ann.access, None).await;
    let first = s.next().await;
    assert_eq!(
        (first.event.as_str(), &first.data),
        ("unread-count", &json!({"count": 0}))
    );

    app.put(&format!("/api/posts/{p}/love"), Some(&bob.access))
        .await
        .assert_status(200);
    let n = s.next_named("notification").await;
    assert_eq!(n.data["type"], "love");
    assert_eq!(n.data["actor"]["username"], "bob");
    assert_eq!(n.data["post"]["id"], p.as_str());
    assert_eq!(
        n.id.as_deref(),
        n.data["id"].as_str(),
        "the SSE id is the notification id"
    );
    let listed = app.get("/api/notifications", Some(&ann.access)).await;
    assert_eq!(listed.body["items"][0], n.data, "the same JSON as the list");
    let count = s.next_named("unread-count").await;
    assert_eq!(count.data["count"], 1);
    let last_seen = n.id.clone().unwrap();
    drop(s);

    // Away: Bob comments and follows. Back with Last-Event-ID: both, oldest first.
    comment(&app, &bob, &p, "while you were out", None).await;
    app.put(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    wait_for(&app, &ann, 3).await;
    let mut s = app.sse(&ann.access, Some(&last_seen)).await;
    let missed1 = s.next().await;
    let missed2 = s.next().await;
    assert_eq!(
        (
            missed1.event.as_str(),
            missed1.data["type"].as_str(),
            missed2.data["type"].as_str()
        ),
        ("notification", Some("comment"), Some("follow"))
    );
    assert_eq!(s.next().await.data, json!({"count": 3}));
    // Marking read elsewhere updates the open stream's count.
    app.put("/api/notifications/read-all", Some(&ann.access))
        .await
        .assert_status(200);
    assert_eq!(s.next_named("unread-count").await.data["count"], 0);
    // A malformed Last-Event-ID is refused.
    let r = app
        .send(
            app.request(Method::GET, "/api/notifications/stream", Some(&ann.access))
                .header("last-event-id", "not-an-id"),
        )
        .await;
    r.assert_error(400, "invalid_id");
}

async fn push_subscriptions_are_validated_and_owned(b: Backend) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // Allow-listed: stored without resolving its (fictional) host.
    let app = TestApp::spawn_with(b, |s| s.push_allowed_hosts = "push.example.org".into()).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let key = app.get("/api/push/vapid-public-key", None).await;
    let public = key.assert_status(200)["publicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let raw = b64.decode(&public).unwrap();
    assert_eq!((raw.len(), raw[0]), (65, 4), "an uncompressed P-256 point");

    // Any point on the curve will do: the server's own public key is one.
    let p256dh = public.clone();
    let auth = b64.encode([9u8; 16]);
    // Right length and prefix, but off the curve.
    let off_curve = b64.encode({
        let mut k = vec![4u8];
        k.extend_from_slice(&[7u8; 64]);
        k
    });
    let r = app
        .post(
            "/api/push/subscriptions",
            Some(&ann.access),
            json!({"endpoint": "https://push.example.org/abc", "keys": {"p256dh": off_curve, "auth": auth}}),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert!(
        r.body["error"]["fields"]["keys.p256dh"].is_string(),
        "{}",
        r.body
    );
    let body = json!({"endpoint": "https://push.example.org/abc", "keys": {"p256dh": p256dh, "auth": auth}, "expirationTime": null});
    let r = app
        .post("/api/push/subscriptions", Some(&ann.access), body.clone())
        .await;
    let id = r.assert_status(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["endpoint"], "https://push.example.org/abc");
    // Idempotent by endpoint.
    let again = app
        .post("/api/push/subscriptions", Some(&ann.access), body)
        .await;
    assert_eq!(again.assert_status(201)["id"], id.as_str());

    let bad = app
        .post(
            "/api/push/subscriptions",
            Some(&ann.access),
            json!({"endpoint": "ftp://x", "keys": {"p256dh": "short", "auth": auth}}),
        )
        .await;
    bad.assert_error(400, "validation_failed");
    assert!(bad.body["error"]["fields"]["endpoint"].is_string());
    assert!(bad.body["error"]["fields"]["keys.p256dh"].is_string());
    app.post(
        "/api/push/subscriptions",
        Some(&ann.access),
        json!({"endpoint": "https://x/y"}),
    )
    .await
    .assert_error(400, "validation_failed");
    // An endpoint is a URL of visible ASCII, as the document's pattern says:
    // no control characters, spaces or raw non-ASCII.
    for endpoint in [
        "https://push.example.org/a\u{0}b",
        "https://push.example.org/a b",
        "https://pushé.example.org/x",
    ] {
        let r = app
            .post(
                "/api/push/subscriptions",
                Some(&ann.access),
                json!({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}),
            )
            .await;
        r.assert_error(400, "validation_failed");
        assert!(
            r.body["error"]["fields"]["endpoint"].is_string(),
            "{endpoint:?}: {}",
            r.text
        );
    }
    app.post("/api/push/subscriptions", None, json!({}))
        .await
        .assert_error(401, "unauthenticated");
    // Bob cannot delete Ann's subscription; Ann can, once.
    app.delete(&format!("/api/push/subscriptions/{id}"), Some(&bob.access))
        .await
        .assert_error(404, "not_found");
    app.delete(&format!("/api/push/subscriptions/{id}"), Some(&ann.access))
        .await
        .assert_status(204);
    app.delete(&format!("/api/push/subscriptions/{id}"), Some(&ann.access))
        .await
        .assert_error(404, "not_found");
}

/// With no allow-list, an endpoint must be https on a public address: the
/// loopback, private, link-local (metadata), CGNAT and unique-local
/// addresses, names resolving to them and plain http are refused with 422
/// `invalid_endpoint` before anything is stored.
async fn push_endpoints_must_be_https_on_public_addresses(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let key = app.get("/api/push/vapid-public-key", None).await;
    let p256dh = key.assert_status(200)["publicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    for endpoint in [
        "http://127.0.0.1:9/push",
        "https://127.0.0.1/push",
        "https://10.0.0.1/push",
        "https://192.168.1.1/push",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]:6379/",
        "https://[::ffff:10.0.0.1]/push",
        "https://0.0.0.0/push",
        "https://100.64.0.1/push",
        "https://[fd00::1]/push",
        "https://localhost/push",
        "http://push.example.org/push",
    ] {
        let r = app
            .post(
                "/api/push/subscriptions",
                Some(&ann.access),
                json!({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": "CQkJCQkJCQkJCQkJCQkJCQ"}}),
            )
            .await;
        assert_eq!(r.status, 422, "{endpoint}: {}", r.body);
        r.assert_error(422, "invalid_endpoint");
    }
}

async fn a_replayed_event_makes_no_second_notification(b: Backend) {
    // The relay publishes and then deletes the outbox row; a crash between the
    // two publishes the event again. Simulate it by putting the row back.
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let p = post(&app, &ann, "once only").await;
    app.put(&format!("/api/posts/{p}/love"), Some(&bob.access))
        .await
        .assert_status(200);
    let items = wait_for(&app, &ann, 1).await;
    let n = app
        .get("/api/notifications?limit=1", Some(&ann.access))
        .await;
    assert_eq!(n.body["items"][0]["id"], items[0]["id"]);
    let event = json!({"type": "postLoved", "actor": bob.id, "post": p}).to_string();
    let nid = items[0]["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        // The relay deletes the row only after the bus has handled it, which
        // can be a moment after the notification shows: wait for that first.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while app
            .sql_i64(&format!(
                "SELECT count(*) FROM outbox o JOIN notifications n ON o.id = n.event_id \
                 WHERE n.id = {nid}"
            ))
            .await
            > 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the relay kept the event"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // RETURNING: the test fails unless the event really went back in.
        let replayed = app
            .sql_i64(&format!(
                "INSERT INTO outbox (id, event_key, payload, created_at) \
                 SELECT event_id, 'love.post', '{event}', 0 FROM notifications WHERE id = {} \
                 AND NOT EXISTS (SELECT 1 FROM outbox o, notifications n WHERE n.id = {} AND o.id = n.event_id) \
                 RETURNING id",
                items[0]["id"].as_str().unwrap(),
                items[0]["id"].as_str().unwrap()
            ))
            .await;
        assert!(replayed > 0);
        // A marker after the replayed event: once it arrives, the replay was handled.
        let c = app
            .register(&format!("marker{}", rand::random::<u32>()))
            .await;
        app.put(&format!("/api/users/{}/follow", ann.id), Some(&c.access))
            .await
            .assert_status(200);
    }
    app.eventually(
        "/api/notifications?limit=100",
        &ann.access,
        "the markers",
        |b| {
            b["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["type"] == "follow")
                .count()
                == 2
        },
    )
    .await;
    // The replayed rows were relayed (and deleted), not merely written.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.sql_i64("SELECT COUNT(*) FROM outbox").await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox never drained"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = wait_for(&app, &ann, 3).await;
    assert_eq!(all.iter().filter(|n| n["type"] == "love").count(), 1);
    assert_eq!(unread(&app, &ann).await, 3);
}

async fn an_idle_stream_sends_heartbeats(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.sse_heartbeat_secs = 1).await;
    let ann = app.register("ann").await;
    let mut s = app.sse(&ann.access, None).await;
    s.next_named("unread-count").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let beats = s.comments.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=3).contains(&beats),
        "{beats} heartbeats in 2.5 s at one a second"
    );
}

async fn the_stream_accepts_the_session_cookie(b: Backend) {
    // Browsers' EventSource sends cookies, not headers.
    let app = TestApp::spawn(b).await;
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "cookie", "email": "cookie@example.org", "password": "correct horse battery"}),
        )
        .await;
    r.assert_status(201);
    let cookie = r
        .set_cookies()
        .iter()
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let resp = app
        .client
        .get(app.url("/api/notifications/stream"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = resp.bytes_stream();
    use futures::StreamExt;
    let first = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.contains("event: unread-count"), "{text}");
}

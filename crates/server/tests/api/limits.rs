//! Write limits: each limited write answers 429 (with Retry-After and the
//! error body) past its limit, counted in the cache (Redis on the scaled
//! backends, so across nodes).

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp, TestUser};
use crate::sio::Sio;

backend_tests!(
    registrations_are_limited_per_address,
    posts_are_limited_per_user,
    comments_are_limited_per_user,
    loves_and_unloves_are_limited_per_user,
    follows_and_unfollows_are_limited_per_user,
    chat_groups_are_limited_per_user,
    socket_events_are_limited_per_user,
    write_limits_can_be_turned_off,
);

#[track_caller]
fn assert_limited(r: &Resp) {
    r.assert_error(429, "rate_limited");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
}

async fn post(app: &TestApp, u: &TestUser, text: &str) -> Resp {
    app.post("/api/posts", Some(&u.access), json!({"text": text}))
        .await
}

async fn register_from(app: &TestApp, address: &str, name: &str) -> Resp {
    app.send(
        app.request(Method::POST, "/api/auth/register", None)
            .header("x-forwarded-for", address)
            .json(&json!({
                "username": name,
                "email": format!("{name}@example.org"),
                "password": "correct horse battery",
            })),
    )
    .await
}

async fn registrations_are_limited_per_address(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.limit_register = "2/h".into();
    })
    .await;
    for name in ["reg_a", "reg_b"] {
        register_from(&app, "198.51.100.1", name)
            .await
            .assert_status(201);
    }
    let r = register_from(&app, "198.51.100.1", "reg_c").await;
    assert_limited(&r);
    let w: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(w > 3000, "the window is an hour: {w}");
    // Another address is not affected, and nothing was written for the refused one.
    register_from(&app, "198.51.100.2", "reg_c")
        .await
        .assert_status(201);
    assert_eq!(app.user_count().await, 3);
}

async fn posts_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_posts = "2/min".into()).await;
    let a = app.register("poster").await;
    let other = app.register("other_poster").await;
    for i in 0..2 {
        post(&app, &a, &format!("post {i}"))
            .await
            .assert_status(201);
    }
    assert_limited(&post(&app, &a, "one too many").await);
    post(&app, &other, "mine").await.assert_status(201);
    // Invalid posts are refused before they count.
    let bad = app
        .post("/api/posts", Some(&other.access), json!({"text": ""}))
        .await;
    bad.assert_error(422, "text_required");
    post(&app, &other, "mine too").await.assert_status(201);
}

async fn comments_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_comments = "2/min".into()).await;
    let a = app.register("commenter").await;
    let p = post(&app, &a, "talk to me").await.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/posts/{p}/comments");
    for i in 0..2 {
        app.post(&path, Some(&a.access), json!({"text": format!("c{i}")}))
            .await
            .assert_status(201);
    }
    assert_limited(
        &app.post(&path, Some(&a.access), json!({"text": "c2"}))
            .await,
    );
}

async fn loves_and_unloves_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_loves = "3/min".into()).await;
    let a = app.register("author_l").await;
    let fan = app.register("fickle").await;
    let p = post(&app, &a, "love me").await.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/posts/{p}/love");
    // Love, unlove, love: each would notify again.
    app.put(&path, Some(&fan.access)).await.assert_status(200);
    app.delete(&path, Some(&fan.access))
        .await
        .assert_status(200);
    app.put(&path, Some(&fan.access)).await.assert_status(200);
    assert_limited(&app.delete(&path, Some(&fan.access)).await);
    assert_limited(&app.put(&path, Some(&fan.access)).await);
    // The author's own love is counted apart.
    app.put(&path, Some(&a.access)).await.assert_status(200);
}

async fn follows_and_unfollows_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_follows = "2/min".into()).await;
    let star = app.register("star_f").await;
    let fan = app.register("fan_f").await;
    let path = format!("/api/users/{}/follow", star.id);
    app.put(&path, Some(&fan.access)).await.assert_status(200);
    app.delete(&path, Some(&fan.access))
        .await
        .assert_status(200);
    assert_limited(&app.put(&path, Some(&fan.access)).await);
    let fan2 = app.register("fan_g").await;
    app.put(&path, Some(&fan2.access)).await.assert_status(200);
}

async fn chat_groups_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_chat_groups = "2/h".into()).await;
    let owner = app.register("grouper").await;
    let member = app.register("groupee").await;
    let body = |name: &str| json!({"name": name, "memberIds": [member.id.clone()]});
    for i in 0..2 {
        app.post(
            "/api/chat/rooms",
            Some(&owner.access),
            body(&format!("g{i}")),
        )
        .await
        .assert_status(201);
    }
    assert_limited(
        &app.post("/api/chat/rooms", Some(&owner.access), body("g2"))
            .await,
    );
    let rooms = app.get("/api/chat/rooms", Some(&member.access)).await;
    let count = rooms.assert_status(200)["items"].as_array().unwrap().len();
    assert_eq!(
        count, 2,
        "the refused group was not created: {}",
        rooms.text
    );
}

async fn socket_events_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_socket_events = "3/min".into()).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    // Two sockets of one user share the count.
    let a1 = sio.connect("ann1", &ann.access).await;
    let a2 = sio.connect("ann2", &ann.access).await;
    let b1 = sio.connect("bob", &bob.access).await;
    let joined = a1.call("join-chat", json!({"partnerId": bob.id})).await;
    let room = joined["room"]["id"].as_str().expect("room").to_owned();
    let ok = a2
        .call("typing", json!({"roomId": room, "typing": true}))
        .await;
    assert_eq!(ok, json!({"ok": true}));
    let ok = a1.call("leave-room", json!({"roomId": room})).await;
    assert_eq!(ok, json!({"ok": true}));
    for (client, event, data) in [
        (&a2, "typing", json!({"roomId": room, "typing": false})),
        (&a1, "join-room", json!({"roomId": room})),
        (&a2, "leave-room", json!({"roomId": room})),
    ] {
        let ack: Value = client.call(event, data).await;
        assert_eq!(ack["error"]["code"], "rate_limited", "{event}: {ack}");
        assert!(
            ack["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Messages keep their own rate.
    let sent = a1
        .call(
            "send-message",
            json!({"roomId": room, "text": "still here", "clientMsgId": "m1"}),
        )
        .await;
    assert!(sent["message"]["id"].is_string(), "{sent}");
    // Another user is not affected.
    let ok = b1.call("join-room", json!({"roomId": room})).await;
    assert!(ok["room"].is_object(), "{ok}");
}

async fn write_limits_can_be_turned_off(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.write_limits = false;
        s.limit_posts = "1/min".into();
    })
    .await;
    let a = app.register("unlimited").await;
    for i in 0..3 {
        post(&app, &a, &format!("p{i}")).await.assert_status(201);
    }
}

/// Two nodes on one Redis share every count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_limits_hold_across_nodes() {
    let Some(b) = Backend::scaled() else {
        return;
    };
    let app = TestApp::spawn_with(b, |s| {
        s.limit_posts = "3/min".into();
        s.limit_socket_events = "2/min".into();
    })
    .await;
    if app.redis.is_none() {
        starling_core::testing::skipped(format_args!(
            "STARLING_TEST_REDIS_URL is not set (cross-node limits not tested)"
        ));
        return;
    }
    let peer = app.spawn_peer().await;
    let a = app.register("two_nodes").await;
    post(&app, &a, "one").await.assert_status(201);
    post(&peer, &a, "two").await.assert_status(201);
    post(&app, &a, "three").await.assert_status(201);
    assert_limited(&post(&peer, &a, "four").await);
    assert_limited(&post(&app, &a, "five").await);

    // Socket events: one socket on each node, one count.
    let bob = app.register("bob_nodes").await;
    let (Some(s1), Some(s2)) = (Sio::start(&app.base).await, Sio::start(&peer.base).await) else {
        return;
    };
    let c1 = s1.connect("a1", &a.access).await;
    let c2 = s2.connect("a2", &a.access).await;
    let joined = c1.call("join-chat", json!({"partnerId": bob.id})).await;
    assert!(joined["room"].is_object(), "{joined}");
    let joined = c2.call("join-chat", json!({"partnerId": bob.id})).await;
    assert!(joined["room"].is_object(), "{joined}");
    let ack = c1.call("join-chat", json!({"partnerId": bob.id})).await;
    assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");
    peer.stop().await;
    app.stop().await;
}

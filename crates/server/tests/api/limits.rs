//! Write limits: each limited write answers 429 (with Retry-After and the
//! error body) past its limit, counted in the cache (Redis on the scaled
//! backends, so across nodes).

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp, TestUser, image_bytes};
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
    uploads_are_limited_per_user,
    searches_are_limited_per_user,
    edits_and_deletes_are_limited_per_user,
    writes_are_limited_per_address_too,
    a_flood_is_stopped_within_a_second,
    every_limited_route_counts_per_address,
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

async fn upload(app: &TestApp, token: &str, path: &str) -> Resp {
    let png = image_bytes(8, 8, image::ImageFormat::Png);
    let part = Part::bytes(png)
        .file_name("a.png")
        .mime_str("image/png")
        .unwrap();
    let method = if path.ends_with("avatar") {
        Method::PUT
    } else {
        Method::POST
    };
    app.send(
        app.request(method, path, Some(token))
            .multipart(Form::new().part("file", part)),
    )
    .await
}

async fn uploads_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_uploads = "3/min".into()).await;
    let a = app.register("uploader").await;
    let other = app.register("other_uploader").await;
    upload(&app, &a.access, "/api/media")
        .await
        .assert_status(201);
    upload(&app, &a.access, "/api/profile/avatar")
        .await
        .assert_status(200);
    upload(&app, &a.access, "/api/media")
        .await
        .assert_status(201);
    // Media and avatars share one count.
    assert_limited(&upload(&app, &a.access, "/api/profile/avatar").await);
    assert_limited(&upload(&app, &a.access, "/api/media").await);
    upload(&app, &other.access, "/api/media")
        .await
        .assert_status(201);
}

async fn searches_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_searches = "3/min".into()).await;
    let a = app.register("searcher").await;
    let other = app.register("other_searcher").await;
    app.get("/api/search/posts?q=hello", Some(&a.access))
        .await
        .assert_status(200);
    app.get("/api/users?q=sea", Some(&a.access))
        .await
        .assert_status(200);
    app.get("/api/chat/search?q=hello", Some(&a.access))
        .await
        .assert_status(200);
    for path in [
        "/api/search/posts?q=hello",
        "/api/users?q=sea",
        "/api/chat/search?q=hello",
    ] {
        assert_limited(&app.get(path, Some(&a.access)).await);
    }
    app.get("/api/search/posts?q=hello", Some(&other.access))
        .await
        .assert_status(200);
}

async fn edits_and_deletes_are_limited_per_user(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.limit_edits = "3/min".into()).await;
    let a = app.register("editor").await;
    let id = |r: &Resp| r.body["id"].as_str().unwrap().to_owned();
    let p1 = id(&post(&app, &a, "first").await);
    let p2 = id(&post(&app, &a, "second").await);
    let c = app
        .post(
            &format!("/api/posts/{p1}/comments"),
            Some(&a.access),
            json!({"text": "a comment"}),
        )
        .await;
    let c = id(&c);
    let edit = |path: String, text: &'static str| {
        let (app, token) = (&app, a.access.clone());
        async move {
            app.json(Method::PATCH, &path, Some(&token), json!({"text": text}))
                .await
        }
    };
    edit(format!("/api/posts/{p1}"), "first, edited")
        .await
        .assert_status(200);
    edit(format!("/api/comments/{c}"), "edited comment")
        .await
        .assert_status(200);
    app.delete(&format!("/api/posts/{p2}"), Some(&a.access))
        .await
        .assert_status(204);
    assert_limited(&edit(format!("/api/posts/{p1}"), "again").await);
    assert_limited(
        &app.delete(&format!("/api/posts/{p1}"), Some(&a.access))
            .await,
    );
    assert_limited(
        &app.delete(&format!("/api/comments/{c}"), Some(&a.access))
            .await,
    );
    // The refused delete did not happen.
    let r = app.get(&format!("/api/posts/{p1}"), None).await;
    assert_eq!(r.assert_status(200)["text"], "first, edited");
}

async fn post_from(app: &TestApp, u: &TestUser, address: &str, text: &str) -> Resp {
    app.send(
        app.request(Method::POST, "/api/posts", Some(&u.access))
            .header("x-forwarded-for", address)
            .json(&json!({"text": text})),
    )
    .await
}

async fn writes_are_limited_per_address_too(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.limit_posts = "2/min".into();
        s.limit_address_factor = 2;
    })
    .await;
    // Four users behind one address: two each would pass, but the address
    // may do only twice what one user may.
    let users = [
        app.register("nat_a").await,
        app.register("nat_b").await,
        app.register("nat_c").await,
    ];
    post_from(&app, &users[0], "203.0.113.9", "a1")
        .await
        .assert_status(201);
    post_from(&app, &users[1], "203.0.113.9", "b1")
        .await
        .assert_status(201);
    post_from(&app, &users[2], "203.0.113.9", "c1")
        .await
        .assert_status(201);
    post_from(&app, &users[0], "203.0.113.9", "a2")
        .await
        .assert_status(201);
    assert_limited(&post_from(&app, &users[1], "203.0.113.9", "b2").await);
    assert_limited(&post_from(&app, &users[2], "203.0.113.9", "c2").await);
    // From another address the users still have their own allowance.
    post_from(&app, &users[1], "203.0.113.10", "b2")
        .await
        .assert_status(201);
    // Anonymous searches are counted per address.
    let app2 = TestApp::spawn_with(Backend::Embedded, |s| {
        s.trust_proxy = true;
        s.limit_searches = "1/min".into();
        s.limit_address_factor = 2;
    })
    .await;
    let search = |addr: &'static str| {
        app2.send(
            app2.request(Method::GET, "/api/search/posts?q=hi", None)
                .header("x-forwarded-for", addr),
        )
    };
    search("203.0.113.1").await.assert_status(200);
    search("203.0.113.1").await.assert_status(200);
    assert_limited(&search("203.0.113.1").await);
    search("203.0.113.2").await.assert_status(200);
    app2.stop().await;
}

async fn a_flood_is_stopped_within_a_second(b: Backend) {
    // The defaults, burst cap included (the test app turns it off).
    let app = TestApp::spawn_with(b, |s| s.limit_burst = "10/s".into()).await;
    let a = app.register("flooder").await;
    let started = std::time::Instant::now();
    let texts: Vec<String> = (0..25).map(|i| format!("flood {i}")).collect();
    let answers = futures::future::join_all(texts.iter().map(|t| post(&app, &a, t))).await;
    let ok = answers.iter().filter(|r| r.status == 201).count();
    let refused: Vec<&Resp> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + refused.len(), 25);
    if started.elapsed() < std::time::Duration::from_millis(900) {
        assert!(ok <= 10, "{ok} of a 25-post flood passed within a second");
    }
    assert!(!refused.is_empty(), "nothing of the flood was refused");
    assert_limited(refused[0]);
}

async fn every_limited_route_counts_per_address(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.limit_address_factor = 1;
        for l in [
            &mut s.limit_posts,
            &mut s.limit_comments,
            &mut s.limit_loves,
            &mut s.limit_follows,
            &mut s.limit_chat_groups,
            &mut s.limit_uploads,
            &mut s.limit_searches,
            &mut s.limit_edits,
            &mut s.limit_password_resets,
        ] {
            *l = "1/min".into();
        }
    })
    .await;
    let routes = [
        (Method::POST, "/api/posts"),
        (Method::PATCH, "/api/posts/1"),
        (Method::DELETE, "/api/posts/1"),
        (Method::PATCH, "/api/comments/1"),
        (Method::DELETE, "/api/comments/1"),
        (Method::PATCH, "/api/profile"),
        (Method::PUT, "/api/profile/password"),
        (Method::POST, "/api/posts/1/comments"),
        (Method::PUT, "/api/posts/1/love"),
        (Method::DELETE, "/api/posts/1/love"),
        (Method::PUT, "/api/comments/1/love"),
        (Method::DELETE, "/api/comments/1/love"),
        (Method::PUT, "/api/users/1/follow"),
        (Method::DELETE, "/api/users/1/follow"),
        (Method::POST, "/api/media"),
        (Method::PUT, "/api/profile/avatar"),
        (Method::GET, "/api/search/posts?q=a"),
        (Method::GET, "/api/users?q=a"),
        (Method::GET, "/api/chat/search?q=a"),
        (Method::POST, "/api/chat/rooms"),
        (Method::POST, "/api/auth/password-reset"),
        (Method::POST, "/api/auth/verify-email/resend"),
    ];
    // Each route from its own address: the first request is counted (whatever
    // it answers: the address is counted before anything else), the second
    // is refused before it reaches the handler.
    for (i, (method, path)) in routes.iter().enumerate() {
        let address = format!("203.0.113.{}", i + 1);
        let send = || {
            app.send(
                app.request(method.clone(), path, None)
                    .header("x-forwarded-for", &address)
                    .json(&json!({})),
            )
        };
        let first = send().await;
        assert_ne!(first.status, 429, "{method} {path}: {}", first.text);
        let r = send().await;
        assert_eq!(r.status, 429, "{method} {path}: {}", r.text);
        assert_limited(&r);
    }
    // Reads are not counted.
    for _ in 0..5 {
        app.send(
            app.request(Method::GET, "/api/feed/public", None)
                .header("x-forwarded-for", "203.0.113.200"),
        )
        .await
        .assert_status(200);
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

/// Per-address limits, and the new per-user ones, are one count across nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_and_search_limits_hold_across_nodes() {
    let Some(b) = Backend::scaled() else {
        return;
    };
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.limit_posts = "2/min".into();
        s.limit_searches = "3/min".into();
        s.limit_address_factor = 2;
    })
    .await;
    if app.redis.is_none() {
        starling_core::testing::skipped(format_args!(
            "STARLING_TEST_REDIS_URL is not set (cross-node limits not tested)"
        ));
        return;
    }
    let peer = app.spawn_peer().await;
    let a = app.register("nodes_a").await;
    let b2 = app.register("nodes_b").await;
    let c = app.register("nodes_c").await;
    post_from(&app, &a, "203.0.113.5", "1")
        .await
        .assert_status(201);
    post_from(&peer, &b2, "203.0.113.5", "2")
        .await
        .assert_status(201);
    post_from(&app, &c, "203.0.113.5", "3")
        .await
        .assert_status(201);
    post_from(&peer, &c, "203.0.113.5", "4")
        .await
        .assert_status(201);
    assert_limited(&post_from(&app, &b2, "203.0.113.5", "5").await);
    assert_limited(&post_from(&peer, &b2, "203.0.113.5", "6").await);
    for (i, node) in [&app, &peer, &app].into_iter().enumerate() {
        node.get(&format!("/api/search/posts?q=w{i}"), Some(&a.access))
            .await
            .assert_status(200);
    }
    assert_limited(&peer.get("/api/search/posts?q=x", Some(&a.access)).await);
    peer.stop().await;
    app.stop().await;
}

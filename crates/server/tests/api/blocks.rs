//! Blocks and mutes: the endpoints, their privacy, and what each hides on
//! every surface (feeds, search, comments, loves, mentions, notifications,
//! chat over REST and sockets, the notification stream).

use std::time::Duration;

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp, TestUser};
use crate::sio::Sio;

backend_tests!(
    block_and_mute_endpoints_are_idempotent_private_and_listed,
    block_semantics_across_every_surface,
    block_semantics_in_chat_over_rest_and_sockets,
    mute_hides_posts_and_notifications_and_nothing_else,
    filtered_pages_stay_full_with_exact_cursors,
    blocks_and_mutes_share_their_own_limit,
);

async fn post(app: &TestApp, u: &TestUser, text: &str) -> String {
    let r = app
        .post("/api/posts", Some(&u.access), json!({"text": text}))
        .await;
    r.assert_status(201)["id"].as_str().unwrap().to_owned()
}

fn ids(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn authors(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["author"]["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, path: &str, u: &TestUser) -> Vec<String> {
    let r = app.get(path, Some(&u.access)).await;
    r.assert_status(200);
    ids(&r)
}

async fn put_ok(app: &TestApp, path: &str, u: &TestUser) -> Value {
    app.put(path, Some(&u.access))
        .await
        .assert_status(200)
        .clone()
}

async fn follow(app: &TestApp, who: &TestUser, whom: &TestUser) {
    put_ok(app, &format!("/api/users/{}/follow", whom.id), who).await;
}

async fn block(app: &TestApp, who: &TestUser, whom: &TestUser) -> Value {
    put_ok(app, &format!("/api/users/{}/block", whom.id), who).await
}

async fn mute(app: &TestApp, who: &TestUser, whom: &TestUser) -> Value {
    put_ok(app, &format!("/api/users/{}/mute", whom.id), who).await
}

/// `u`'s notifications as (type, actor username).
async fn notifications(app: &TestApp, u: &TestUser) -> Vec<(String, String)> {
    let r = app
        .get("/api/notifications?limit=100", Some(&u.access))
        .await;
    r.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["type"].as_str().unwrap().to_owned(),
                n["actor"]["username"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn unread(app: &TestApp, u: &TestUser) -> i64 {
    let r = app
        .get("/api/notifications/unread-count", Some(&u.access))
        .await;
    r.assert_status(200)["count"].as_i64().unwrap()
}

/// Waits until `u` has a notification of `kind` from `actor`.
async fn notified(app: &TestApp, u: &TestUser, kind: &str, actor: &str) {
    let want = (kind.to_owned(), actor.to_owned());
    app.eventually(
        "/api/notifications?limit=100",
        &u.access,
        "a notification",
        |b| {
            b["items"].as_array().unwrap().iter().any(|n| {
                (
                    n["type"].as_str().unwrap(),
                    n["actor"]["username"].as_str().unwrap(),
                ) == (want.0.as_str(), want.1.as_str())
            })
        },
    )
    .await;
}

async fn send(app: &TestApp, room: &str, who: &TestUser, text: &str, id: &str) -> Resp {
    app.post(
        &format!("/api/chat/rooms/{room}/messages"),
        Some(&who.access),
        json!({"text": text, "clientMsgId": id}),
    )
    .await
}

async fn block_and_mute_endpoints_are_idempotent_private_and_listed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;

    // Anonymous: 401; yourself: 422; nobody: 404.
    app.put(&format!("/api/users/{}/block", bob.id), None)
        .await
        .assert_error(401, "unauthenticated");
    app.get("/api/blocks", None)
        .await
        .assert_error(401, "unauthenticated");
    app.put(&format!("/api/users/{}/block", ann.id), Some(&ann.access))
        .await
        .assert_error(422, "cannot_block_self");
    app.put(&format!("/api/users/{}/mute", ann.id), Some(&ann.access))
        .await
        .assert_error(422, "cannot_mute_self");
    app.put("/api/users/123456789/block", Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    app.delete("/api/users/123456789/mute", Some(&ann.access))
        .await
        .assert_error(404, "not_found");

    // Block: the user with `blocking: true`, twice the same.
    for _ in 0..2 {
        let u = block(&app, &ann, &bob).await;
        assert_eq!(u["id"], bob.id.as_str());
        assert_eq!(
            (u["blocking"].clone(), u["muting"].clone()),
            (json!(true), json!(false))
        );
    }
    block(&app, &ann, &cat).await;
    let u = mute(&app, &ann, &cat).await;
    assert_eq!(
        (u["blocking"].clone(), u["muting"].clone()),
        (json!(true), json!(true))
    );
    // Newest first.
    assert_eq!(
        list(&app, "/api/blocks", &ann).await,
        [cat.id.clone(), bob.id.clone()]
    );
    let first = app.get("/api/blocks?limit=1", Some(&ann.access)).await;
    assert_eq!(ids(&first), [cat.id.as_str()]);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &format!("/api/blocks?limit=1&cursor={cursor}"),
            Some(&ann.access),
        )
        .await;
    assert_eq!(ids(&rest), [bob.id.as_str()]);
    assert!(rest.body["nextCursor"].is_null());
    assert_eq!(list(&app, "/api/mutes", &ann).await, [cat.id.as_str()]);
    // The lists are the caller's own.
    assert!(list(&app, "/api/blocks", &bob).await.is_empty());

    // Private: the blocked side sees the blocker's profile with no hint.
    let seen = app
        .get(&format!("/api/users/{}", ann.id), Some(&bob.access))
        .await;
    let seen = seen.assert_status(200);
    assert_eq!(seen["blocking"], false);
    assert_eq!(seen["muting"], false);
    assert!(seen.get("blockedBy").is_none(), "{seen}");
    assert!(
        !seen.to_string().to_lowercase().contains("blocked"),
        "{seen}"
    );
    // The blocker's view, and the anonymous one.
    let mine = app
        .get(&format!("/api/users/{}", bob.id), Some(&ann.access))
        .await;
    assert_eq!(mine.assert_status(200)["blocking"], true);
    let anon = app.get(&format!("/api/users/{}", bob.id), None).await;
    assert_eq!(anon.assert_status(200)["blocking"], false);
    // Own profile: no relation to oneself.
    let me = app
        .get(&format!("/api/users/{}", ann.id), Some(&ann.access))
        .await;
    assert_eq!(me.assert_status(200)["blocking"], false);

    // Unblock and unmute: idempotent.
    for _ in 0..2 {
        let u = app
            .delete(&format!("/api/users/{}/block", bob.id), Some(&ann.access))
            .await;
        assert_eq!(u.assert_status(200)["blocking"], false);
        let u = app
            .delete(&format!("/api/users/{}/mute", cat.id), Some(&ann.access))
            .await;
        assert_eq!(u.assert_status(200)["muting"], false);
    }
    assert_eq!(list(&app, "/api/blocks", &ann).await, [cat.id.as_str()]);
    assert!(list(&app, "/api/mutes", &ann).await.is_empty());
}

async fn block_semantics_across_every_surface(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    follow(&app, &ann, &bob).await;
    follow(&app, &bob, &ann).await;
    follow(&app, &cat, &ann).await;
    let ann_post = post(&app, &ann, "walrus sighting by ann").await;
    let bob_post = post(&app, &bob, "walrus sighting by bob").await;
    let cat_post = post(&app, &cat, "walrus sighting by cat").await;
    // Warm home timelines holding each other's posts.
    let bob_home = app
        .eventually("/api/feed", &bob.access, "bob's home", |b| {
            b["items"].to_string().contains(&ann_post)
        })
        .await;
    assert!(bob_home.to_string().contains(&bob_post));
    app.eventually("/api/feed", &ann.access, "ann's home", |b| {
        b["items"].to_string().contains(&bob_post)
    })
    .await;
    // Before the block: bob loves ann's post and comments on cat's post.
    put_ok(&app, &format!("/api/posts/{ann_post}/love"), &bob).await;
    notified(&app, &ann, "love", "bob").await;
    let bob_comment = app
        .post(
            &format!("/api/posts/{cat_post}/comments"),
            Some(&bob.access),
            json!({"text": "bob was here"}),
        )
        .await;
    bob_comment.assert_status(201);

    notified(&app, &bob, "follow", "ann").await;
    let bob_unread = unread(&app, &bob).await;
    // Ann blocks bob: the follows go both ways, with the counts.
    let u = block(&app, &ann, &bob).await;
    assert_eq!(u["followedByMe"], false);
    assert_eq!(u["followerCount"], 0);
    assert_eq!(u["followingCount"], 0);
    let ann_now = app
        .get(&format!("/api/users/{}", ann.id), Some(&cat.access))
        .await;
    assert_eq!(
        ann_now.assert_status(200)["followerCount"],
        1,
        "cat still follows"
    );
    assert_eq!(ann_now.body["followingCount"], 0);

    assert_eq!(
        unread(&app, &bob).await,
        bob_unread,
        "the blocked side sees nothing move"
    );
    assert_eq!(
        unread(&app, &ann).await,
        1,
        "of bob's follow, bob's love and cat's follow, only cat's still counts"
    );
    // Home feeds: each side's posts leave the other's.
    let bob_home = list(&app, "/api/feed", &bob).await;
    assert!(!bob_home.contains(&ann_post) && bob_home.contains(&bob_post));
    let ann_home = list(&app, "/api/feed", &ann).await;
    assert!(!ann_home.contains(&bob_post) && ann_home.contains(&ann_post));
    // Public feed: hidden from both sides, shown to others.
    let pub_ann = list(&app, "/api/feed/public", &ann).await;
    assert!(!pub_ann.contains(&bob_post) && pub_ann.contains(&cat_post));
    let pub_bob = list(&app, "/api/feed/public", &bob).await;
    assert!(!pub_bob.contains(&ann_post) && pub_bob.contains(&cat_post));
    let pub_cat = list(&app, "/api/feed/public", &cat).await;
    assert!(pub_cat.contains(&ann_post) && pub_cat.contains(&bob_post));
    // A post opened by its link: not across the block, either way.
    app.get(&format!("/api/posts/{ann_post}"), Some(&bob.access))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("/api/posts/{bob_post}"), Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("/api/posts/{ann_post}"), Some(&cat.access))
        .await
        .assert_status(200);
    let refetched = app
        .get(
            &format!("/api/posts?ids={ann_post},{cat_post}"),
            Some(&bob.access),
        )
        .await;
    let refetched = refetched.assert_status(200).to_string();
    assert!(!refetched.contains(&ann_post) && refetched.contains(&cat_post));
    // A user's posts: the profile shows, the posts do not, either way.
    app.get(&format!("/api/users/{}", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    assert!(
        list(&app, &format!("/api/users/{}/posts", ann.id), &bob)
            .await
            .is_empty()
    );
    assert!(
        list(&app, &format!("/api/users/{}/posts", bob.id), &ann)
            .await
            .is_empty()
    );
    assert_eq!(
        list(&app, &format!("/api/users/{}/posts", ann.id), &cat).await,
        [ann_post.as_str()]
    );
    // Search: posts and users.
    let found = app
        .get("/api/search/posts?q=walrus", Some(&bob.access))
        .await;
    assert_eq!(
        found.assert_status(200)["items"].as_array().unwrap().len(),
        2
    );
    assert!(!authors(&found).contains(&"ann".to_owned()));
    let found = app
        .get("/api/search/posts?q=walrus", Some(&cat.access))
        .await;
    assert_eq!(
        found.assert_status(200)["items"].as_array().unwrap().len(),
        3
    );
    let users = app.get("/api/users?q=ann", Some(&bob.access)).await;
    assert!(
        users.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let users = app.get("/api/users?q=bob", Some(&ann.access)).await;
    assert!(
        users.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let users = app.get("/api/users?q=ann", Some(&cat.access)).await;
    assert_eq!(
        users.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );

    // No follows, comments or loves across the block, either way.
    for (who, whom) in [(&bob, &ann), (&ann, &bob)] {
        app.put(&format!("/api/users/{}/follow", whom.id), Some(&who.access))
            .await
            .assert_error(403, "blocked");
    }
    let r = app
        .post(
            &format!("/api/posts/{ann_post}/comments"),
            Some(&bob.access),
            json!({"text": "let me in"}),
        )
        .await;
    r.assert_error(403, "blocked");
    assert!(
        !r.text.to_lowercase().contains("ann"),
        "neutral: {}",
        r.text
    );
    app.put(&format!("/api/posts/{ann_post}/love"), Some(&bob.access))
        .await
        .assert_error(403, "blocked");
    // Ann's comment on cat's post: bob may not reply to it nor love it.
    let ann_comment = app
        .post(
            &format!("/api/posts/{cat_post}/comments"),
            Some(&ann.access),
            json!({"text": "ann was here"}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/posts/{cat_post}/comments"),
        Some(&bob.access),
        json!({"text": "reply", "parentId": ann_comment}),
    )
    .await
    .assert_error(403, "blocked");
    app.put(
        &format!("/api/comments/{ann_comment}/love"),
        Some(&bob.access),
    )
    .await
    .assert_error(403, "blocked");
    // Lovers lists leave the other side out.
    let lovers = format!("/api/posts/{ann_post}/lovers");
    assert!(list(&app, &lovers, &ann).await.is_empty());
    assert_eq!(list(&app, &lovers, &cat).await, [bob.id.as_str()]);
    // Comment lists hide the other side; others see everyone.
    let names = |r: &Resp| authors(r);
    let on_cat = format!("/api/posts/{cat_post}/comments");
    let r = app.get(&on_cat, Some(&ann.access)).await;
    r.assert_status(200);
    assert_eq!(names(&r), ["ann"]);
    let r = app.get(&on_cat, Some(&bob.access)).await;
    assert_eq!(names(&r), ["bob"]);
    let r = app.get(&on_cat, Some(&cat.access)).await;
    assert_eq!(names(&r), ["bob", "ann"]);

    // Mentions: bob's mention of ann notifies nobody; cat's of ann does.
    // The stream carries nothing of bob's either.
    let mut stream = app.sse(&ann.access, None).await;
    post(&app, &bob, "hey @ann and @cat").await;
    notified(&app, &cat, "mention", "bob").await;
    post(&app, &cat, "hello @ann").await;
    notified(&app, &ann, "mention", "cat").await;
    let n = stream.next_named("notification").await;
    assert_eq!(n.data["actor"]["username"], "cat", "{:?}", n.data);
    stream
        .assert_no("notification", Duration::from_millis(300))
        .await;
    // Bob's earlier love is hidden from ann's list.
    let ann_list = notifications(&app, &ann).await;
    assert!(ann_list.iter().all(|(_, a)| a != "bob"), "{ann_list:?}");
    assert!(ann_list.contains(&("mention".into(), "cat".into())));

    // Unblocking restores visibility, not the follows.
    app.delete(&format!("/api/users/{}/block", bob.id), Some(&ann.access))
        .await
        .assert_status(200);
    let pub_bob = list(&app, "/api/feed/public", &bob).await;
    assert!(pub_bob.contains(&ann_post));
    assert!(!list(&app, "/api/feed", &bob).await.contains(&ann_post));
    put_ok(&app, &format!("/api/posts/{ann_post}/love"), &bob).await;
}

async fn block_semantics_in_chat_over_rest_and_sockets(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let room = app
        .post(
            &format!("/api/chat/direct/{}", bob.id),
            Some(&ann.access),
            Value::Null,
        )
        .await
        .assert_status(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&app, &room, &bob, "hi ann", "b-1")
        .await
        .assert_status(201);
    let r = app
        .get(&format!("/api/chat/rooms/{room}"), Some(&ann.access))
        .await;
    assert_eq!(r.assert_status(200)["readOnly"], false);

    // Bob blocks ann: the room turns read-only for both, history stays.
    block(&app, &bob, &ann).await;
    for who in [&ann, &bob] {
        let r = app
            .get(&format!("/api/chat/rooms/{room}"), Some(&who.access))
            .await;
        assert_eq!(r.assert_status(200)["readOnly"], true);
        let rooms = app.get("/api/chat/rooms", Some(&who.access)).await;
        assert_eq!(
            rooms.assert_status(200)["items"][0]["readOnly"],
            true,
            "{}",
            rooms.text
        );
        let h = app
            .get(
                &format!("/api/chat/rooms/{room}/messages"),
                Some(&who.access),
            )
            .await;
        assert_eq!(h.assert_status(200)["items"].as_array().unwrap().len(), 1);
    }
    send(&app, &room, &ann, "why", "a-1")
        .await
        .assert_error(403, "blocked");
    send(&app, &room, &bob, "bye", "b-2")
        .await
        .assert_error(403, "blocked");
    // Opening the direct room again gives it back, read-only.
    let again = app
        .post(
            &format!("/api/chat/direct/{}", bob.id),
            Some(&ann.access),
            Value::Null,
        )
        .await;
    assert_eq!(again.assert_status(200)["readOnly"], true);
    // No new direct room across a block, either way.
    block(&app, &cat, &bob).await;
    for (who, whom) in [(&bob, &cat), (&cat, &bob)] {
        app.post(
            &format!("/api/chat/direct/{}", whom.id),
            Some(&who.access),
            Value::Null,
        )
        .await
        .assert_error(403, "blocked");
    }
    // Groups: nobody is added by someone in a block with them; an existing
    // group stays as it is.
    app.post(
        "/api/chat/rooms",
        Some(&ann.access),
        json!({"name": "walruses", "memberIds": [bob.id]}),
    )
    .await
    .assert_error(403, "blocked");
    let group = app
        .post(
            "/api/chat/rooms",
            Some(&ann.access),
            json!({"name": "walruses", "memberIds": [cat.id]}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/chat/rooms/{group}/members"),
        Some(&ann.access),
        json!({"userId": bob.id}),
    )
    .await
    .assert_error(403, "blocked");
    assert_eq!(
        app.get(&format!("/api/chat/rooms/{group}"), Some(&ann.access))
            .await
            .assert_status(200)["readOnly"],
        false
    );
    app.post(
        &format!("/api/chat/rooms/{group}/messages"),
        Some(&cat.access),
        json!({"text": "group chat goes on", "clientMsgId": "c-1"}),
    )
    .await
    .assert_status(201);

    // Sockets: the send is refused with an error ack and nothing is delivered.
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let a = sio.connect("ann", &ann.access).await;
    let b = sio.connect("bob", &bob.access).await;
    let ack = a.call("join-room", json!({"roomId": room})).await;
    assert_eq!(ack["room"]["readOnly"], true, "{ack}");
    b.call("join-room", json!({"roomId": room})).await;
    let ack = a
        .call(
            "send-message",
            json!({"roomId": room, "text": "over the socket", "clientMsgId": "a-2"}),
        )
        .await;
    assert_eq!(ack["error"]["code"], "blocked", "{ack}");
    let ack = a
        .call(
            "send-message",
            json!({"partnerId": bob.id, "text": "by partner", "clientMsgId": "a-3"}),
        )
        .await;
    assert_eq!(ack["error"]["code"], "blocked", "{ack}");
    a.call("typing", json!({"roomId": room, "typing": true}))
        .await;
    b.expect_none("receive-message", json!({}), Duration::from_millis(300))
        .await;
    b.expect_none("typing", json!({}), Duration::from_millis(10))
        .await;
    b.expect_none("new-message", json!({}), Duration::from_millis(10))
        .await;
    // Unblocked: writable again, typing heard.
    app.delete(&format!("/api/users/{}/block", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    let ack = a
        .call(
            "send-message",
            json!({"roomId": room, "text": "friends again", "clientMsgId": "a-4"}),
        )
        .await;
    assert_eq!(ack["message"]["text"], "friends again", "{ack}");
    b.expect("receive-message", json!({"clientMsgId": "a-4"}))
        .await;
    a.call("typing", json!({"roomId": room, "typing": true}))
        .await;
    b.expect("typing", json!({"roomId": room})).await;
}

async fn mute_hides_posts_and_notifications_and_nothing_else(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    follow(&app, &ann, &bob).await;
    follow(&app, &bob, &ann).await;
    let bob_post = post(&app, &bob, "bob speaks").await;
    let ann_post = post(&app, &ann, "ann speaks").await;
    // A warm home timeline with bob's post in it.
    app.eventually("/api/feed", &ann.access, "ann's home", |b| {
        b["items"].to_string().contains(&bob_post)
    })
    .await;
    put_ok(&app, &format!("/api/posts/{ann_post}/love"), &bob).await;
    notified(&app, &ann, "love", "bob").await;

    assert_eq!(unread(&app, &ann).await, 2, "bob's follow and love");
    let u = mute(&app, &ann, &bob).await;
    assert_eq!(
        unread(&app, &ann).await,
        0,
        "what the list hides is not counted"
    );
    assert_eq!(
        (u["muting"].clone(), u["blocking"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(u["followedByMe"], true, "a mute keeps the follow");
    // Hidden from the muter's warm home timeline, the public feed, search
    // and notifications (the earlier love too).
    let home = list(&app, "/api/feed", &ann).await;
    assert!(
        !home.contains(&bob_post) && home.contains(&ann_post),
        "{home:?}"
    );
    assert!(
        !list(&app, "/api/feed/public", &ann)
            .await
            .contains(&bob_post)
    );
    assert!(list(&app, "/api/search/posts?q=speaks", &ann).await == [ann_post.as_str()]);
    assert!(notifications(&app, &ann).await.is_empty());
    // Their profile and its posts still show when asked for.
    assert_eq!(
        list(&app, &format!("/api/users/{}/posts", bob.id), &ann).await,
        [bob_post.as_str()]
    );
    // The muted side notices nothing: sees ann's posts, may comment and love.
    assert!(list(&app, "/api/feed", &bob).await.contains(&ann_post));
    let seen = app
        .get(&format!("/api/users/{}", ann.id), Some(&bob.access))
        .await;
    assert_eq!(seen.assert_status(200)["muting"], false);
    assert_eq!(seen.body["followedByMe"], true);
    app.post(
        &format!("/api/posts/{ann_post}/comments"),
        Some(&bob.access),
        json!({"text": "still here"}),
    )
    .await
    .assert_status(201);
    // ... but ann hears nothing of it, and doesn't see the comment.
    let cat = app.register("cat").await;
    put_ok(&app, &format!("/api/posts/{ann_post}/love"), &cat).await;
    notified(&app, &ann, "love", "cat").await;
    assert_eq!(
        notifications(&app, &ann).await,
        [("love".to_owned(), "cat".to_owned())]
    );
    let r = app
        .get(
            &format!("/api/posts/{ann_post}/comments"),
            Some(&ann.access),
        )
        .await;
    assert!(r.assert_status(200)["items"].as_array().unwrap().is_empty());
    // Others see it all.
    let r = app
        .get(
            &format!("/api/posts/{ann_post}/comments"),
            Some(&cat.access),
        )
        .await;
    assert_eq!(r.assert_status(200)["items"].as_array().unwrap().len(), 1);
    // Unmuted: back, the same warm timeline.
    app.delete(&format!("/api/users/{}/mute", bob.id), Some(&ann.access))
        .await
        .assert_status(200);
    assert!(list(&app, "/api/feed", &ann).await.contains(&bob_post));
}

async fn filtered_pages_stay_full_with_exact_cursors(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let mut cats = Vec::new();
    for i in 0..5 {
        post(&app, &bob, &format!("bob {i}")).await;
        post(&app, &bob, &format!("bob {i}b")).await;
        cats.push(post(&app, &cat, &format!("cat {i}")).await);
    }
    cats.reverse();
    mute(&app, &ann, &bob).await;
    // Pages of 2 hold 2 of cat's posts each, and the cursor walks all of
    // them once, whatever was left out in between.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/feed/public?limit=2&cursor={c}"),
            None => "/api/feed/public?limit=2".to_owned(),
        };
        let r = app.get(&path, Some(&ann.access)).await;
        r.assert_status(200);
        let page = ids(&r);
        if r.body["nextCursor"].is_string() {
            assert_eq!(page.len(), 2, "a page before the last is full");
        }
        seen.extend(page);
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, cats);
}

async fn blocks_and_mutes_share_their_own_limit(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.limit_blocks = "3/min".into();
        s.limit_follows = "off".into();
    })
    .await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    block(&app, &ann, &bob).await;
    mute(&app, &ann, &bob).await;
    app.delete(&format!("/api/users/{}/mute", bob.id), Some(&ann.access))
        .await
        .assert_status(200);
    let r = app
        .put(&format!("/api/users/{}/block", bob.id), Some(&ann.access))
        .await;
    r.assert_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Per user: bob is not limited by ann's changes.
    mute(&app, &bob, &ann).await;
}

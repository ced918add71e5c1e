//! Chat (docs/chat.md): REST, and Socket.IO driven by a real client
//! (python-socketio), on the embedded and the scaled-out backends.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestUser};
use crate::sio::Sio;

backend_tests!(
    direct_rooms_are_one_per_pair,
    groups_are_managed_by_their_owner,
    messages_over_rest_are_idempotent_and_paged,
    unread_counts_and_read_marks,
    remove_and_retract,
    search_covers_only_your_rooms,
    bad_input_is_refused_without_writes,
    socket_chat_between_two_users,
    socket_refuses_bad_handshakes_and_payloads,
    removed_member_stops_receiving_at_once,
    offline_recipient_gets_one_notification_per_room,
    flooding_is_rate_limited,
    client_reconnects_and_catches_up,
    an_expired_token_is_refused_with_a_reason,
    concurrent_sends_lose_nothing_and_duplicate_nothing,
    control_characters_are_refused_in_chat,
    a_member_who_does_not_exist_is_404,
);

async fn direct(app: &TestApp, me: &TestUser, partner: &TestUser) -> String {
    let r = app
        .post(
            &format!("/api/chat/direct/{}", partner.id),
            Some(&me.access),
            Value::Null,
        )
        .await;
    r.assert_status(200)["id"].as_str().unwrap().to_owned()
}

async fn send(app: &TestApp, me: &TestUser, room: &str, text: &str, client_id: &str) -> Value {
    let r = app
        .post(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&me.access),
            json!({"text": text, "clientMsgId": client_id}),
        )
        .await;
    r.assert_status(201).clone()
}

async fn group(app: &TestApp, owner: &TestUser, name: &str, members: &[&TestUser]) -> Value {
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    app.post(
        "/api/chat/rooms",
        Some(&owner.access),
        json!({"name": name, "memberIds": ids}),
    )
    .await
    .assert_status(201)
    .clone()
}

fn member_names(room: &Value) -> Vec<String> {
    let mut names: Vec<String> = room["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn direct_rooms_are_one_per_pair(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;

    // Looking creates nothing: GET is read-only (top-level navigation with
    // the Lax cookie must not open a room), and the rooms list stays empty.
    app.get(&format!("/api/chat/direct/{}", bob.id), Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    let rooms = app.get("/api/chat/rooms", Some(&ann.access)).await;
    assert_eq!(rooms.assert_status(200)["items"], serde_json::json!([]));
    let r = app
        .post(
            &format!("/api/chat/direct/{}", bob.id),
            Some(&ann.access),
            Value::Null,
        )
        .await;
    let room = r.assert_status(200).clone();
    // Once opened, the deprecated GET finds the same room.
    let got = app
        .get(&format!("/api/chat/direct/{}", bob.id), Some(&ann.access))
        .await;
    assert_eq!(got.assert_status(200)["id"], room["id"]);
    assert_eq!(room["kind"], "direct");
    assert_eq!(room["name"], Value::Null);
    assert_eq!(member_names(&room), ["ann", "bob"]);
    assert_eq!(room["lastMessage"], Value::Null);
    // The same room from either side, and again.
    let id = room["id"].as_str().unwrap();
    assert_eq!(direct(&app, &bob, &ann).await, id);
    assert_eq!(direct(&app, &ann, &bob).await, id);
    // Concurrent first uses still make one room.
    let (x, y) = tokio::join!(direct(&app, &ann, &cat), direct(&app, &cat, &ann));
    assert_eq!(x, y);

    // Nobody else can see it.
    app.get(&format!("/api/chat/rooms/{id}"), Some(&cat.access))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("/api/chat/rooms/{id}/messages"), Some(&cat.access))
        .await
        .assert_error(404, "not_found");
    // Not with yourself, not with nobody, not signed out.
    app.post(
        &format!("/api/chat/direct/{}", ann.id),
        Some(&ann.access),
        Value::Null,
    )
    .await
    .assert_error(422, "self_chat");
    app.post("/api/chat/direct/12345", Some(&ann.access), Value::Null)
        .await
        .assert_error(404, "not_found");
    app.post(&format!("/api/chat/direct/{}", bob.id), None, Value::Null)
        .await
        .assert_status(401);
    // A direct room has no owner to rename or leave it.
    app.json(
        Method::PATCH,
        &format!("/api/chat/rooms/{id}"),
        Some(&ann.access),
        json!({"name": "x"}),
    )
    .await
    .assert_error(422, "direct_room");
    app.delete(
        &format!("/api/chat/rooms/{id}/members/{}", ann.id),
        Some(&ann.access),
    )
    .await
    .assert_error(422, "direct_room");

    // The room list: both rooms for ann, newest activity first.
    send(&app, &ann, id, "hi bob", "m1").await;
    let list = app.get("/api/chat/rooms", Some(&ann.access)).await;
    let items = list.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["lastMessage"]["text"], "hi bob");
    assert_eq!(items[0]["unreadCount"], 0, "your own message is read");
    let bobs = app.get("/api/chat/rooms", Some(&bob.access)).await;
    assert_eq!(bobs.assert_status(200)["items"][0]["unreadCount"], 1);
    app.stop().await;
}

async fn groups_are_managed_by_their_owner(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.chat_max_members = 4).await;
    let own = app.register("owner").await;
    let m1 = app.register("member1").await;
    let m2 = app.register("member2").await;
    let m3 = app.register("member3").await;
    let out = app.register("outsider").await;

    let room = group(&app, &own, "  Book club ", &[&m1, &m2]).await;
    let id = room["id"].as_str().unwrap().to_owned();
    assert_eq!(room["kind"], "group");
    assert_eq!(room["name"], "Book club");
    assert_eq!(room["ownerId"], own.id.as_str());
    assert_eq!(member_names(&room), ["member1", "member2", "owner"]);

    // Rename: the owner only; others get 403, outsiders 404.
    app.json(
        Method::PATCH,
        &format!("/api/chat/rooms/{id}"),
        Some(&m1.access),
        json!({"name": "Mine now"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.json(
        Method::PATCH,
        &format!("/api/chat/rooms/{id}"),
        Some(&out.access),
        json!({"name": "Mine now"}),
    )
    .await
    .assert_error(404, "not_found");
    let r = app
        .json(
            Method::PATCH,
            &format!("/api/chat/rooms/{id}"),
            Some(&own.access),
            json!({"name": "Readers"}),
        )
        .await;
    assert_eq!(r.assert_status(200)["name"], "Readers");

    // Add: owner only, existing users only, up to the limit (4).
    app.post(
        &format!("/api/chat/rooms/{id}/members"),
        Some(&m1.access),
        json!({"userId": m3.id}),
    )
    .await
    .assert_error(403, "forbidden");
    app.post(
        &format!("/api/chat/rooms/{id}/members"),
        Some(&own.access),
        json!({"userId": "999"}),
    )
    .await
    .assert_error(404, "not_found");
    let r = app
        .post(
            &format!("/api/chat/rooms/{id}/members"),
            Some(&own.access),
            json!({"userId": m3.id}),
        )
        .await;
    assert_eq!(r.assert_status(200)["members"].as_array().unwrap().len(), 4);
    app.post(
        &format!("/api/chat/rooms/{id}/members"),
        Some(&own.access),
        json!({"userId": out.id}),
    )
    .await
    .assert_error(409, "room_full");
    // Too many at creation, or too few.
    app.post(
        "/api/chat/rooms",
        Some(&own.access),
        json!({"name": "big", "memberIds": [m1.id, m2.id, m3.id, out.id]}),
    )
    .await
    .assert_error(400, "validation_failed");
    app.post(
        "/api/chat/rooms",
        Some(&own.access),
        json!({"name": "alone", "memberIds": [own.id]}),
    )
    .await
    .assert_error(400, "validation_failed");

    // A member cannot remove another; the owner can; a member can leave.
    app.delete(
        &format!("/api/chat/rooms/{id}/members/{}", m2.id),
        Some(&m1.access),
    )
    .await
    .assert_error(403, "forbidden");
    app.delete(
        &format!("/api/chat/rooms/{id}/members/{}", m2.id),
        Some(&own.access),
    )
    .await
    .assert_status(204);
    app.get(&format!("/api/chat/rooms/{id}"), Some(&m2.access))
        .await
        .assert_error(404, "not_found");
    app.delete(
        &format!("/api/chat/rooms/{id}/members/{}", m3.id),
        Some(&m3.access),
    )
    .await
    .assert_status(204);
    // The owner leaving hands the group to the earliest member left.
    app.delete(
        &format!("/api/chat/rooms/{id}/members/{}", own.id),
        Some(&own.access),
    )
    .await
    .assert_status(204);
    let r = app
        .get(&format!("/api/chat/rooms/{id}"), Some(&m1.access))
        .await;
    let room = r.assert_status(200).clone();
    assert_eq!(room["ownerId"], m1.id.as_str());
    assert_eq!(member_names(&room), ["member1"]);

    // Delete: the owner only, then it is gone for everyone.
    let id2 = group(&app, &own, "Second", &[&m1]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&app, &m1, &id2, "hello", "c1").await;
    app.delete(&format!("/api/chat/rooms/{id2}"), Some(&m1.access))
        .await
        .assert_error(403, "forbidden");
    app.delete(&format!("/api/chat/rooms/{id2}"), Some(&own.access))
        .await
        .assert_status(204);
    app.get(&format!("/api/chat/rooms/{id2}"), Some(&m1.access))
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        app.sql_i64(&format!(
            "SELECT count(*) FROM chat_messages WHERE room_id = {id2}"
        ))
        .await,
        0
    );
    app.stop().await;
}

async fn messages_over_rest_are_idempotent_and_paged(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.chat_rate_burst = 100.0).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let room = direct(&app, &ann, &bob).await;

    let first = send(&app, &ann, &room, "hello", "retry-me").await;
    assert_eq!(first["text"], "hello");
    assert_eq!(first["sender"]["username"], "ann");
    assert_eq!(first["roomId"], room.as_str());
    assert_eq!(first["retracted"], false);
    // A retry with the same clientMsgId: 200 and the same message.
    let again = app
        .post(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&ann.access),
            json!({"text": "hello", "clientMsgId": "retry-me"}),
        )
        .await;
    assert_eq!(again.assert_status(200)["id"], first["id"]);
    // Outsiders cannot post or read.
    app.post(
        &format!("/api/chat/rooms/{room}/messages"),
        Some(&cat.access),
        json!({"text": "let me in", "clientMsgId": "x"}),
    )
    .await
    .assert_error(404, "not_found");

    for i in 0..24 {
        let who = if i % 2 == 0 { &ann } else { &bob };
        send(&app, who, &room, &format!("message {i}"), &format!("m{i}")).await;
    }
    // Newest first, pages of 10, nothing repeated or skipped.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/chat/rooms/{room}/messages?limit=10&cursor={c}"),
            None => format!("/api/chat/rooms/{room}/messages?limit=10"),
        };
        let page = app
            .get(&path, Some(&bob.access))
            .await
            .assert_status(200)
            .clone();
        for m in page["items"].as_array().unwrap() {
            seen.push(m["text"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..24).rev().map(|i| format!("message {i}")).collect();
    expected.push("hello".into());
    assert_eq!(seen, expected);
    assert_eq!(
        app.sql_i64(&format!(
            "SELECT count(*) FROM chat_messages WHERE room_id = {room}"
        ))
        .await,
        25
    );
    app.stop().await;
}

async fn unread_counts_and_read_marks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let dm = direct(&app, &ann, &bob).await;
    let grp = group(&app, &cat, "trio", &[&ann, &bob]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&app, &ann, &dm, "one", "1").await;
    let last = send(&app, &ann, &dm, "two", "2").await;
    send(&app, &cat, &grp, "three", "3").await;

    let r = app.get("/api/chat/unread-count", Some(&bob.access)).await;
    let body = r.assert_status(200).clone();
    assert_eq!(body["total"], 3);
    let mut rooms = body["rooms"].as_array().unwrap().clone();
    rooms.sort_by_key(|r| r["count"].as_i64());
    assert_eq!(rooms[0], json!({"roomId": grp, "count": 1}));
    assert_eq!(rooms[1], json!({"roomId": dm, "count": 2}));

    let read = app
        .post(
            &format!("/api/chat/rooms/{dm}/read"),
            Some(&bob.access),
            json!({"messageId": last["id"]}),
        )
        .await;
    let mark = read.assert_status(200).clone();
    assert_eq!(mark["userId"], bob.id.as_str());
    assert_eq!(mark["messageId"], last["id"]);
    let r = app.get("/api/chat/unread-count", Some(&bob.access)).await;
    assert_eq!(r.assert_status(200)["total"], 1);
    // The room shows bob's read mark to ann.
    let room = app
        .get(&format!("/api/chat/rooms/{dm}"), Some(&ann.access))
        .await
        .assert_status(200)
        .clone();
    let reads = room["reads"].as_array().unwrap();
    assert!(
        reads
            .iter()
            .any(|m| m["userId"] == bob.id.as_str() && m["messageId"] == last["id"]),
        "{reads:?}"
    );
    // A message of another room, or an unknown one: 404, no mark moves.
    app.post(
        &format!("/api/chat/rooms/{grp}/read"),
        Some(&bob.access),
        json!({"messageId": last["id"]}),
    )
    .await
    .assert_error(404, "not_found");
    app.post(
        &format!("/api/chat/rooms/{dm}/read"),
        Some(&cat.access),
        json!({"messageId": last["id"]}),
    )
    .await
    .assert_error(404, "not_found");
    app.stop().await;
}

async fn remove_and_retract(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let room = direct(&app, &ann, &bob).await;
    let a1 = send(&app, &ann, &room, "keep this", "a1").await;
    let a2 = send(&app, &ann, &room, "oops secret", "a2").await;
    let b1 = send(&app, &bob, &room, "reply", "b1").await;

    // Remove: hidden for the caller only.
    let r = app
        .post(
            "/api/chat/messages/remove",
            Some(&bob.access),
            json!({"messageIds": [a1["id"]]}),
        )
        .await;
    assert_eq!(r.assert_status(200)["messageIds"], json!([a1["id"]]));
    let texts = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    let bobs = app
        .get(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(texts(bobs.assert_status(200)), ["reply", "oops secret"]);
    let anns = app
        .get(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&ann.access),
        )
        .await;
    assert_eq!(
        texts(anns.assert_status(200)),
        ["reply", "oops secret", "keep this"]
    );
    // Not someone else's messages.
    app.post(
        "/api/chat/messages/remove",
        Some(&cat.access),
        json!({"messageIds": [a2["id"]]}),
    )
    .await
    .assert_error(404, "not_found");

    // Retract: the sender's own only, all or nothing.
    app.post(
        "/api/chat/messages/retract",
        Some(&ann.access),
        json!({"messageIds": [a2["id"], b1["id"]]}),
    )
    .await
    .assert_error(403, "forbidden");
    let still = app
        .get(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(texts(still.assert_status(200)), ["reply", "oops secret"]);
    let r = app
        .post(
            "/api/chat/messages/retract",
            Some(&ann.access),
            json!({"messageIds": [a2["id"]]}),
        )
        .await;
    assert_eq!(r.assert_status(200)["messageIds"], json!([a2["id"]]));
    let after = app
        .get(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&bob.access),
        )
        .await
        .assert_status(200)
        .clone();
    let retracted = &after["items"][1];
    assert_eq!(retracted["id"], a2["id"]);
    assert_eq!(retracted["retracted"], true);
    assert_eq!(retracted["text"], "");
    let leaked = app
        .sql_i64("SELECT count(*) FROM chat_messages WHERE text LIKE '%secret%'")
        .await;
    assert_eq!(leaked, 0, "the retracted text is gone from storage");
    app.stop().await;
}

async fn search_covers_only_your_rooms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let ab = direct(&app, &ann, &bob).await;
    let bc = direct(&app, &bob, &cat).await;
    send(&app, &ann, &ab, "the purple elephant dances", "1").await;
    let hidden = send(&app, &bob, &ab, "another purple elephant", "2").await;
    let gone = send(&app, &ann, &ab, "purple elephant retracted", "3").await;
    send(&app, &cat, &bc, "a purple elephant for bob", "4").await;
    app.post(
        "/api/chat/messages/remove",
        Some(&ann.access),
        json!({"messageIds": [hidden["id"]]}),
    )
    .await
    .assert_status(200);
    app.post(
        "/api/chat/messages/retract",
        Some(&ann.access),
        json!({"messageIds": [gone["id"]]}),
    )
    .await
    .assert_status(200);

    let search = |who: &TestUser, q: &str| {
        let path = format!("/api/chat/search?q={q}");
        let token = who.access.clone();
        let app = &app;
        async move {
            let r = app.get(&path, Some(&token)).await;
            r.assert_status(200)["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["text"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // ann: her room only; not bob's removed-for-her message, not retracted.
    assert_eq!(
        search(&ann, "purple%20elephant").await,
        ["the purple elephant dances"]
    );
    // bob: both his rooms.
    assert_eq!(
        search(&bob, "ELEPHANT").await,
        [
            "a purple elephant for bob",
            "another purple elephant",
            "the purple elephant dances"
        ]
    );
    assert!(search(&cat, "dances").await.is_empty());
    // Restricted to one room; a room you are not in is 404.
    let r = app
        .get(
            &format!("/api/chat/search?q=elephant&roomId={bc}"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(r.assert_status(200)["items"].as_array().unwrap().len(), 1);
    app.get(
        &format!("/api/chat/search?q=elephant&roomId={ab}"),
        Some(&cat.access),
    )
    .await
    .assert_error(404, "not_found");
    app.get("/api/chat/search?q=%20%20", Some(&bob.access))
        .await
        .assert_error(400, "validation_failed");
    app.stop().await;
}

async fn bad_input_is_refused_without_writes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = direct(&app, &ann, &bob).await;
    let cases = [
        json!({"text": "", "clientMsgId": "a"}),
        json!({"text": "   ", "clientMsgId": "a"}),
        json!({"text": "x".repeat(4001), "clientMsgId": "a"}),
        json!({"text": "ok", "clientMsgId": ""}),
        json!({"text": "ok"}),
        json!({"text": 5, "clientMsgId": "a"}),
        json!({"text": "ok", "clientMsgId": "a", "extra": 1}),
    ];
    for body in cases {
        let r = app
            .post(
                &format!("/api/chat/rooms/{room}/messages"),
                Some(&ann.access),
                body.clone(),
            )
            .await;
        assert_eq!(r.status.as_u16(), 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "validation_failed", "{body}");
    }
    // 4000 characters (multi-byte) are fine.
    let long = "é".repeat(4000);
    send(&app, &ann, &room, &long, "long").await;
    app.post(
        "/api/chat/rooms/not-a-number/messages",
        Some(&ann.access),
        json!({"text": "x", "clientMsgId": "y"}),
    )
    .await
    .assert_error(400, "invalid_path");
    app.post(
        "/api/chat/rooms",
        Some(&ann.access),
        json!({"name": "", "memberIds": [bob.id]}),
    )
    .await
    .assert_error(400, "validation_failed");
    app.post(
        "/api/chat/messages/retract",
        Some(&ann.access),
        json!({"messageIds": []}),
    )
    .await
    .assert_error(400, "validation_failed");
    app.get(
        &format!("/api/chat/rooms/{room}/messages?limit=0"),
        Some(&ann.access),
    )
    .await
    .assert_error(400, "validation_failed");
    assert_eq!(
        app.sql_i64("SELECT count(*) FROM chat_messages").await,
        1,
        "only the valid message was stored"
    );
    assert_eq!(app.sql_i64("SELECT count(*) FROM chat_rooms").await, 1);
    app.stop().await;
}

// ---- Socket.IO, with python-socketio ----

async fn socket_chat_between_two_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let a = sio.connect("ann", &ann.access).await;
    let b = sio.connect("bob", &bob.access).await;

    // join-chat creates the direct room; join-room opens it.
    let ack = a.call("join-chat", json!({"partnerId": bob.id})).await;
    let room = ack["room"]["id"].as_str().unwrap().to_owned();
    assert_eq!(member_names(&ack["room"]), ["ann", "bob"]);
    let ack = b.call("join-room", json!({"roomId": room})).await;
    assert_eq!(ack["room"]["id"], room.as_str());
    assert_eq!(ack["unreadCount"], 0);

    // Presence: they share a room now; ann sees bob go away and come back.
    b.disconnect().await;
    let p = a
        .expect("presence", json!({"userId": bob.id, "online": false}))
        .await;
    assert!(p["lastSeenAt"].is_string());
    let r = app
        .get(
            &format!("/api/users/{}/presence", bob.id),
            Some(&ann.access),
        )
        .await;
    assert_eq!(r.assert_status(200)["online"], false);
    let b = sio.connect("bob2", &bob.access).await;
    a.expect("presence", json!({"userId": bob.id, "online": true}))
        .await;
    let r = app
        .get(
            &format!("/api/users/{}/presence", bob.id),
            Some(&ann.access),
        )
        .await;
    assert_eq!(r.assert_status(200)["online"], true);
    b.call("join-room", json!({"roomId": room})).await;

    // send-message: acked with the stored message, delivered to the room
    // and to every member's personal channel.
    let ack = a
        .call(
            "send-message",
            json!({"roomId": room, "text": "hi bob", "clientMsgId": "c-1"}),
        )
        .await;
    let msg = ack["message"].clone();
    assert_eq!(msg["text"], "hi bob");
    assert_eq!(msg["sender"]["id"], ann.id.as_str());
    let got = b
        .expect("receive-message", json!({"clientMsgId": "c-1"}))
        .await;
    assert_eq!(got["id"], msg["id"]);
    let new = b.expect("new-message", json!({"roomId": room})).await;
    assert_eq!(new["message"]["id"], msg["id"]);
    a.expect("new-message", json!({"roomId": room})).await;
    // A retry is the same message, not a second one.
    let again = a
        .call(
            "send-message",
            json!({"roomId": room, "text": "hi bob", "clientMsgId": "c-1"}),
        )
        .await;
    assert_eq!(again["message"]["id"], msg["id"]);
    // By partnerId, into the same room.
    let by_partner = b
        .call(
            "send-message",
            json!({"partnerId": ann.id, "text": "hey ann", "clientMsgId": "c-2"}),
        )
        .await;
    assert_eq!(by_partner["message"]["roomId"], room.as_str());
    a.expect("receive-message", json!({"clientMsgId": "c-2"}))
        .await;
    // Sent over HTTP: the same live delivery.
    send(&app, &bob, &room, "from http", "c-3").await;
    a.expect("receive-message", json!({"text": "from http"}))
        .await;

    // typing reaches the others in the room, not the typist.
    b.call("typing", json!({"roomId": room, "typing": true}))
        .await;
    let t = a.expect("typing", json!({"roomId": room})).await;
    assert_eq!(t, json!({"roomId": room, "userId": bob.id, "typing": true}));
    b.expect_none("typing", json!({}), Duration::from_millis(300))
        .await;
    // Without an ack asked for, too.
    b.send("typing", json!({"roomId": room, "typing": false}))
        .await;
    a.expect("typing", json!({"typing": false})).await;

    // read-receipt: acked with the mark, announced to the members.
    let msg = a
        .call(
            "send-message",
            json!({"roomId": room, "text": "read me", "clientMsgId": "c-5"}),
        )
        .await["message"]
        .clone();
    let ack = b
        .call(
            "read-receipt",
            json!({"roomId": room, "messageId": msg["id"]}),
        )
        .await;
    assert_eq!(ack["read"]["messageId"], msg["id"]);
    let read = a.expect("message-read", json!({"userId": bob.id})).await;
    assert_eq!(read["roomId"], room.as_str());
    assert_eq!(read["messageId"], msg["id"]);
    assert!(read["readAt"].is_string());
    // delivered is recorded.
    let ack = b
        .call("delivered", json!({"roomId": room, "messageId": msg["id"]}))
        .await;
    assert_eq!(ack, json!({"ok": true}));
    assert_eq!(
        app.sql_i64(&format!(
            "SELECT delivered_id FROM chat_members WHERE room_id = {room} AND user_id = {}",
            bob.id
        ))
        .await
        .to_string(),
        msg["id"].as_str().unwrap()
    );

    // Retraction is announced to both.
    app.post(
        "/api/chat/messages/retract",
        Some(&ann.access),
        json!({"messageIds": [msg["id"]]}),
    )
    .await
    .assert_status(200);
    for c in [&a, &b] {
        let r = c.expect("message-retracted", json!({"roomId": room})).await;
        assert_eq!(r["messageIds"], json!([msg["id"]]));
    }

    // leave-room: no more receive-message for that socket (new-message stays).
    b.call("leave-room", json!({"roomId": room})).await;
    b.drain("receive-message").await;
    send(&app, &ann, &room, "after leave", "c-4").await;
    b.expect("new-message", json!({"roomId": room})).await;
    b.expect_none("receive-message", json!({}), Duration::from_millis(300))
        .await;
    // Shutting down closes the sockets (clients then reconnect elsewhere).
    app.stop().await;
    assert!(!a.connects().await.1, "the socket was closed on shutdown");
}

async fn socket_refuses_bad_handshakes_and_payloads(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;

    // No token, a bad token, a bad header: connect_error with a reason.
    let e = sio.try_connect("anon", json!({})).await.err().unwrap();
    assert!(e.contains("unauthorized"), "{e}");
    let e = sio
        .try_connect("forged", json!({"auth": {"token": "not.a.jwt"}}))
        .await
        .err()
        .unwrap();
    assert!(e.contains("unauthorized"), "{e}");
    let e = sio
        .try_connect("header", json!({"headers": {"Authorization": "Token abc"}}))
        .await
        .err()
        .unwrap();
    assert!(e.contains("Bearer"), "{e}");
    // A Bearer header works, and so does the session cookie from our origin,
    // but not from another site's page.
    let login = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": "cat", "password": cat.password}),
        )
        .await;
    let cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("starling_access="))
        .unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    sio.try_connect(
        "bearer",
        json!({"headers": {"Authorization": format!("Bearer {}", bob.access)}}),
    )
    .await
    .unwrap();
    sio.try_connect("cookie", json!({"headers": {"Cookie": cookie}}))
        .await
        .unwrap();
    let e = sio
        .try_connect(
            "cross-site",
            json!({"headers": {"Cookie": cookie, "Origin": "https://evil.example"}}),
        )
        .await
        .err()
        .unwrap();
    assert!(e.contains("this site"), "{e}");

    let a = sio.connect("ann", &ann.access).await;
    let room = direct(&app, &bob, &cat).await;
    // Malformed payloads: an error ack, and the connection stays up.
    for (event, data) in [
        ("send-message", json!("just a string")),
        (
            "send-message",
            json!({"roomId": "abc", "text": "x", "clientMsgId": "1"}),
        ),
        ("send-message", json!({"text": "x", "clientMsgId": "1"})),
        (
            "send-message",
            json!({"roomId": room, "partnerId": bob.id, "text": "x", "clientMsgId": "1"}),
        ),
        ("join-room", json!({"roomId": null})),
        ("typing", json!({"roomId": room})),
        ("read-receipt", json!([1, 2])),
    ] {
        let ack = a.call(event, data.clone()).await;
        assert_eq!(
            ack["error"]["code"], "validation_failed",
            "{event} {data}: {ack}"
        );
        assert!(ack["error"]["message"].as_str().unwrap().len() > 3);
    }
    // Not a member: no joining, sending, typing, receipts; no search either.
    for (event, data) in [
        ("join-room", json!({"roomId": room})),
        (
            "send-message",
            json!({"roomId": room, "text": "sneak", "clientMsgId": "s"}),
        ),
        ("typing", json!({"roomId": room, "typing": true})),
        ("read-receipt", json!({"roomId": room, "messageId": "1"})),
    ] {
        let ack = a.call(event, data).await;
        assert_eq!(ack["error"]["code"], "not_found", "{event}: {ack}");
    }
    // Still connected and working.
    let ack = a
        .call(
            "send-message",
            json!({"partnerId": bob.id, "text": "still here", "clientMsgId": "ok"}),
        )
        .await;
    assert_eq!(ack["message"]["text"], "still here");
    assert_eq!(
        app.sql_i64("SELECT count(*) FROM chat_messages").await,
        1,
        "nothing but the valid message was stored"
    );
    app.get("/health", None).await.assert_status(200);
    app.stop().await;
}

async fn removed_member_stops_receiving_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let own = app.register("owner").await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = group(&app, &own, "team", &[&ann, &bob]).await;
    let id = room["id"].as_str().unwrap().to_owned();
    let a = sio.connect("ann", &ann.access).await;
    let b = sio.connect("bob", &bob.access).await;
    a.call("join-room", json!({"roomId": id})).await;
    b.call("join-room", json!({"roomId": id})).await;

    app.delete(
        &format!("/api/chat/rooms/{id}/members/{}", bob.id),
        Some(&own.access),
    )
    .await
    .assert_status(204);
    let gone = b.expect("room-updated", json!({"roomId": id})).await;
    assert_eq!(gone["room"], Value::Null);
    assert_eq!(gone["reason"], "member-removed");
    let upd = a.expect("room-updated", json!({"roomId": id})).await;
    assert_eq!(member_names(&upd["room"]), ["ann", "owner"]);

    send(&app, &own, &id, "bob is gone", "x1").await;
    a.expect("receive-message", json!({"text": "bob is gone"}))
        .await;
    b.expect_none("receive-message", json!({}), Duration::from_millis(500))
        .await;
    b.expect_none("new-message", json!({}), Duration::from_millis(100))
        .await;
    let ack = b
        .call(
            "send-message",
            json!({"roomId": id, "text": "hello?", "clientMsgId": "b1"}),
        )
        .await;
    assert_eq!(ack["error"]["code"], "not_found");

    // Renames reach members; deletion tells them the room is gone.
    app.json(
        Method::PATCH,
        &format!("/api/chat/rooms/{id}"),
        Some(&own.access),
        json!({"name": "renamed"}),
    )
    .await
    .assert_status(200);
    let r = a.expect("room-updated", json!({"reason": "renamed"})).await;
    assert_eq!(r["room"]["name"], "renamed");
    app.delete(&format!("/api/chat/rooms/{id}"), Some(&own.access))
        .await
        .assert_status(204);
    let r = a.expect("room-updated", json!({"reason": "deleted"})).await;
    assert_eq!(r["room"], Value::Null);
    app.stop().await;
}

async fn offline_recipient_gets_one_notification_per_room(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let room = direct(&app, &ann, &bob).await;
    // cat is connected: no notification for cat.
    let _c = sio.connect("cat", &cat.access).await;
    let grp = group(&app, &ann, "g", &[&bob, &cat]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut last = Value::Null;
    for i in 0..3 {
        last = send(&app, &ann, &room, &format!("ping {i}"), &format!("p{i}")).await;
    }
    send(&app, &ann, &grp, "group ping", "g1").await;
    let list = app
        .eventually(
            "/api/notifications",
            &bob.access,
            "one message notification per room",
            |b| b["items"].as_array().is_some_and(|i| i.len() == 2),
        )
        .await["items"]
        .as_array()
        .unwrap()
        .clone();
    for n in &list {
        assert_eq!(n["type"], "message");
        assert_eq!(n["actor"]["username"], "ann");
        assert_eq!(n["read"], false);
    }
    let mut rooms: Vec<&str> = list.iter().map(|n| n["roomId"].as_str().unwrap()).collect();
    rooms.sort_unstable();
    let mut want = vec![room.as_str(), grp.as_str()];
    want.sort_unstable();
    assert_eq!(rooms, want, "one per room, not one per message");
    let r = app
        .get("/api/notifications/unread-count", Some(&bob.access))
        .await;
    assert_eq!(r.assert_status(200)["count"], 2);
    // Nothing for cat, who was online, nor for ann, the sender.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for who in [&cat, &ann] {
        let r = app.get("/api/notifications", Some(&who.access)).await;
        assert_eq!(r.assert_status(200)["items"], json!([]));
    }

    // Reading the room reads its notification; the next message makes a new one.
    app.post(
        &format!("/api/chat/rooms/{room}/read"),
        Some(&bob.access),
        json!({"messageId": last["id"]}),
    )
    .await
    .assert_status(200);
    let r = app
        .get("/api/notifications/unread-count", Some(&bob.access))
        .await;
    assert_eq!(r.assert_status(200)["count"], 1);
    send(&app, &ann, &room, "are you there?", "p9").await;
    app.eventually(
        "/api/notifications/unread-count",
        &bob.access,
        "a new message notification",
        |b| b["count"] == 2,
    )
    .await;
    app.stop().await;
}

async fn flooding_is_rate_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.chat_rate_burst = 5.0;
        s.chat_rate_per_sec = 1.0;
    })
    .await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let a = sio.connect("ann", &ann.access).await;
    let mut codes = Vec::new();
    for i in 0..12 {
        let ack = a
            .call(
                "send-message",
                json!({"partnerId": bob.id, "text": "spam", "clientMsgId": format!("s{i}")}),
            )
            .await;
        codes.push(ack["error"]["code"].as_str().unwrap_or("sent").to_owned());
    }
    let sent = codes.iter().filter(|c| *c == "sent").count();
    assert!((5..=6).contains(&sent), "{codes:?}");
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    // HTTP shares the budget: 429.
    let room = direct(&app, &ann, &bob).await;
    app.post(
        &format!("/api/chat/rooms/{room}/messages"),
        Some(&ann.access),
        json!({"text": "more", "clientMsgId": "h"}),
    )
    .await
    .assert_error(429, "rate_limited");
    // Others are not affected, and the flooder recovers.
    let b = sio.connect("bob", &bob.access).await;
    let ack = b
        .call(
            "send-message",
            json!({"partnerId": ann.id, "text": "hi", "clientMsgId": "b"}),
        )
        .await;
    assert_eq!(ack["message"]["text"], "hi");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ack = a
        .call(
            "send-message",
            json!({"partnerId": bob.id, "text": "calm", "clientMsgId": "late"}),
        )
        .await;
    assert_eq!(ack["message"]["text"], "calm");
    app.stop().await;
}

async fn client_reconnects_and_catches_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy =
        crate::helpers::TcpProxy::start(app.base.trim_start_matches("http://").parse().unwrap())
            .await;
    let Some(sio) = Sio::start(&format!("http://127.0.0.1:{}", proxy.port)).await else {
        return;
    };
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = direct(&app, &ann, &bob).await;
    let b = sio
        .try_connect(
            "bob",
            json!({"auth": {"token": bob.access}, "reconnection": true}),
        )
        .await
        .unwrap();
    b.call("join-room", json!({"roomId": room})).await;
    assert_eq!(b.connects().await, (1, true));

    proxy.cut();
    send(&app, &ann, &room, "while you were away", "w1").await;
    proxy.restore();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while b.connects().await != (2, true) {
        assert!(
            std::time::Instant::now() < deadline,
            "bob did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // After reconnecting: history has what was missed, and live works again.
    let r = app
        .get(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(
        r.assert_status(200)["items"][0]["text"],
        "while you were away"
    );
    b.call("join-room", json!({"roomId": room})).await;
    send(&app, &ann, &room, "welcome back", "w2").await;
    b.expect("receive-message", json!({"text": "welcome back"}))
        .await;
    app.stop().await;
}

// ---- two nodes (PostgreSQL + Redis): the Socket.IO Redis adapter ----

/// A second node as a real `starling` process on the first one's backends,
/// so the test can kill it outright.
struct NodeProcess {
    child: std::process::Child,
    base: String,
    _data: tempfile::TempDir,
}

impl NodeProcess {
    async fn start(first: &TestApp, presence_ttl: u64) -> NodeProcess {
        let data = tempfile::tempdir().unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let s = &first.settings;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_starling"));
        for (k, _) in std::env::vars() {
            if k.to_uppercase().starts_with("STARLING_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data.path())
            .env("STARLING_LOG", "warn")
            .env("STARLING_ROLES", "api,realtime")
            .env("STARLING_NODE_ID", "7")
            .env("STARLING_DATABASE_URL", s.database_url.clone().unwrap())
            .env("STARLING_REDIS_URL", s.redis_url.clone().unwrap())
            .env("STARLING_REDIS_PREFIX", &s.redis_prefix)
            .env("STARLING_PRESENCE_TTL_SECS", presence_ttl.to_string())
            .env(
                "STARLING_JWT_PRIVATE_KEY_FILE",
                first.data_dir.path().join("jwt-ed25519.pem"),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        if let Some(url) = &s.broker_url {
            cmd.env("STARLING_BROKER_URL", url)
                .env("STARLING_BROKER_EXCHANGE", &s.broker_exchange);
        }
        let child = cmd.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = first.client.get(format!("{base}/health")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "node 2 did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        NodeProcess {
            child,
            base,
            _data: data,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn presence_of(app: &TestApp, who: &TestUser, of: &TestUser) -> bool {
    let r = app
        .get(&format!("/api/users/{}/presence", of.id), Some(&who.access))
        .await;
    r.assert_status(200)["online"] == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_rooms_receipts_typing_and_presence() {
    let Some(backend) = Backend::scaled() else {
        return;
    };
    let one = TestApp::spawn_with(backend, |s| s.presence_ttl_secs = 3).await;
    let mut two = NodeProcess::start(&one, 3).await;
    let Some(sio) = Sio::start(&one.base).await else {
        return;
    };
    let ann = one.register("ann").await;
    let bob = one.register("bob").await;
    // ann on node 1, bob on node 2.
    let a = sio.connect("ann", &ann.access).await;
    let on_two = |token: &str| json!({"url": two.base, "auth": {"token": token}});
    let b = sio.try_connect("bob", on_two(&bob.access)).await.unwrap();

    let room = a.call("join-chat", json!({"partnerId": bob.id})).await["room"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.call("join-room", json!({"roomId": room})).await;

    // Messages both ways, over sockets and over HTTP on either node.
    let sent = a
        .call(
            "send-message",
            json!({"roomId": room, "text": "hello from node 1", "clientMsgId": "1"}),
        )
        .await["message"]
        .clone();
    b.expect("receive-message", json!({"id": sent["id"]})).await;
    b.expect("new-message", json!({"roomId": room})).await;
    b.call(
        "send-message",
        json!({"roomId": room, "text": "hello from node 2", "clientMsgId": "2"}),
    )
    .await;
    a.expect("receive-message", json!({"text": "hello from node 2"}))
        .await;
    let r = one
        .client
        .post(format!("{}/api/chat/rooms/{room}/messages", two.base))
        .bearer_auth(&bob.access)
        .json(&json!({"text": "over http on node 2", "clientMsgId": "3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    a.expect("receive-message", json!({"text": "over http on node 2"}))
        .await;

    // Typing and receipts cross too.
    b.call("typing", json!({"roomId": room, "typing": true}))
        .await;
    a.expect("typing", json!({"userId": bob.id, "typing": true}))
        .await;
    let sent = a
        .call(
            "send-message",
            json!({"roomId": room, "text": "read me", "clientMsgId": "5"}),
        )
        .await["message"]
        .clone();
    b.call(
        "read-receipt",
        json!({"roomId": room, "messageId": sent["id"]}),
    )
    .await;
    let read = a.expect("message-read", json!({"userId": bob.id})).await;
    assert_eq!(read["messageId"], sent["id"]);

    // Presence: online while any socket is connected on any node.
    assert!(presence_of(&one, &ann, &bob).await);
    let b_also = sio.connect("bob-on-one", &bob.access).await;
    b.disconnect().await;
    a.expect_none(
        "presence",
        json!({"userId": bob.id, "online": false}),
        Duration::from_millis(700),
    )
    .await;
    assert!(
        presence_of(&one, &ann, &bob).await,
        "bob still has a socket on node 1"
    );
    b_also.disconnect().await;
    a.expect("presence", json!({"userId": bob.id, "online": false}))
        .await;
    assert!(!presence_of(&one, &ann, &bob).await);

    // A node that dies takes its users offline within the TTL.
    let b = sio
        .try_connect("bob-again", on_two(&bob.access))
        .await
        .unwrap();
    a.expect("presence", json!({"userId": bob.id, "online": true}))
        .await;
    b.call("join-room", json!({"roomId": room})).await;
    assert!(presence_of(&one, &ann, &bob).await);
    two.kill();
    let killed = std::time::Instant::now();
    while presence_of(&one, &ann, &bob).await {
        assert!(
            killed.elapsed() < Duration::from_secs(8),
            "bob still online 8 s after his node died (TTL 3 s)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Node 1 keeps working for ann, with node 2 gone.
    let ack = a
        .call(
            "send-message",
            json!({"roomId": room, "text": "anyone?", "clientMsgId": "4"}),
        )
        .await;
    assert_eq!(ack["message"]["text"], "anyone?");
    one.stop().await;
}

async fn an_expired_token_is_refused_with_a_reason(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.access_token_ttl_secs = 1).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let ann = app.register("ann").await;
    // Past the expiry (whole seconds) and the verifier's 5 s leeway.
    tokio::time::sleep(Duration::from_millis(7500)).await;
    let e = sio
        .try_connect("late", json!({"auth": {"token": ann.access}}))
        .await
        .err()
        .expect("an expired token is refused");
    assert!(e.contains("expired"), "{e}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realtime_node_serves_sockets_and_an_api_node_reaches_them() {
    let Some(backend) = Backend::scaled() else {
        return;
    };
    let api = TestApp::spawn_with(backend, |s| s.roles = "api,worker".into()).await;
    let rt = api.spawn_peer_with(|s| s.roles = "realtime".into()).await;
    rt.get("/api/chat/rooms", None).await.assert_status(404);
    let Some(sio) = Sio::start(&rt.base).await else {
        return;
    };
    let ann = api.register("ann").await;
    let bob = api.register("bob").await;
    let b = sio.connect("bob", &bob.access).await;
    let room = direct(&api, &ann, &bob).await;
    b.call("join-room", json!({"roomId": room})).await;
    send(&api, &ann, &room, "via the api node", "1").await;
    b.expect("receive-message", json!({"text": "via the api node"}))
        .await;
    let ack = b
        .call(
            "send-message",
            json!({"roomId": room, "text": "via the realtime node", "clientMsgId": "2"}),
        )
        .await;
    assert_eq!(ack["message"]["text"], "via the realtime node");
    rt.stop().await;
    api.stop().await;
}

async fn concurrent_sends_lose_nothing_and_duplicate_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.chat_rate_burst = 1000.0).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let ab = direct(&app, &ann, &bob).await;
    let grp = group(&app, &cat, "all", &[&ann, &bob]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // 120 distinct messages, each sent twice at the same time (a client
    // retrying while the first is in flight), in two rooms by three users.
    let mut sends = Vec::new();
    for i in 0..120 {
        let (who, room) = match i % 3 {
            0 => (&ann, &ab),
            1 => (&bob, &grp),
            _ => (&cat, &grp),
        };
        for _ in 0..2 {
            let path = format!("/api/chat/rooms/{room}/messages");
            let body = json!({"text": format!("n{i}"), "clientMsgId": format!("k{i}")});
            let token = who.access.clone();
            let app = &app;
            sends.push(async move { (i, app.post(&path, Some(&token), body).await) });
        }
    }
    let results = futures::future::join_all(sends).await;
    let mut ids: std::collections::HashMap<usize, Vec<String>> = Default::default();
    for (i, r) in results {
        assert!(
            r.status.as_u16() == 201 || r.status.as_u16() == 200,
            "{}: {}",
            r.status,
            r.text
        );
        assert_eq!(r.body["text"], format!("n{i}"));
        ids.entry(i)
            .or_default()
            .push(r.body["id"].as_str().unwrap().to_owned());
    }
    for (i, pair) in &ids {
        assert_eq!(
            pair[0], pair[1],
            "both sends of message {i} got the same message"
        );
    }
    assert_eq!(app.sql_i64("SELECT count(*) FROM chat_messages").await, 120);
    // One event each went through the outbox (and it drained).
    let r = app.get("/api/chat/unread-count", Some(&ann.access)).await;
    assert_eq!(
        r.assert_status(200)["total"],
        80,
        "bob's and cat's 80 in the group"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.sql_i64("SELECT count(*) FROM outbox").await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

/// Control characters are refused in messages (over REST and Socket.IO),
/// client message ids and group names, naming the field; line breaks and
/// tabs in a message are text.
async fn control_characters_are_refused_in_chat(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = group(&app, &ann, "friends", &[&bob]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&app, &ann, &room, "two\nlines\tand a tab", "ok-1").await;
    let messages = format!("/api/chat/rooms/{room}/messages");
    for (body, field) in [
        (json!({"text": "\u{0}", "clientMsgId": "c1"}), "text"),
        (json!({"text": "hi\u{1b}[2J", "clientMsgId": "c2"}), "text"),
        (
            json!({"text": "hi", "clientMsgId": "c\u{0}3"}),
            "clientMsgId",
        ),
    ] {
        let r = app.post(&messages, Some(&ann.access), body.clone()).await;
        r.assert_error(400, "validation_failed");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.text
        );
    }
    for name in ["\u{0}", "bad\u{7}name", "tab\tname"] {
        let r = app
            .post(
                "/api/chat/rooms",
                Some(&ann.access),
                json!({"name": name, "memberIds": [bob.id]}),
            )
            .await;
        r.assert_error(400, "validation_failed");
        assert!(r.body["error"]["fields"]["name"].is_string(), "{}", r.text);
        let r = app
            .json(
                Method::PATCH,
                &format!("/api/chat/rooms/{room}"),
                Some(&ann.access),
                json!({"name": name}),
            )
            .await;
        r.assert_error(400, "validation_failed");
        assert!(r.body["error"]["fields"]["name"].is_string(), "{}", r.text);
    }
    if let Some(sio) = Sio::start(&app.base).await {
        let a = sio.connect("ann", &ann.access).await;
        let ack = a
            .call(
                "send-message",
                json!({"roomId": room, "text": "\u{0}", "clientMsgId": "s1"}),
            )
            .await;
        assert_eq!(ack["error"]["code"], "validation_failed", "{ack}");
        let message = ack["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("text:") && message.contains("control"),
            "{ack}"
        );
    }
    assert_eq!(app.sql_i64("SELECT count(*) FROM chat_messages").await, 1);
    assert_eq!(app.sql_i64("SELECT count(*) FROM chat_rooms").await, 1);
    let r = app
        .get(&format!("/api/chat/rooms/{room}"), Some(&ann.access))
        .await;
    assert_eq!(r.assert_status(200)["name"], "friends");
    app.stop().await;
}

/// A group with a member id that is nobody's, or adding one, is 404 like any
/// other reference to a missing resource (it was 400 validation_failed, which
/// says the request is malformed: it is not). Nothing is written.
async fn a_member_who_does_not_exist_is_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    app.post(
        "/api/chat/rooms",
        Some(&ann.access),
        json!({"name": "ghosts", "memberIds": [bob.id, "1"]}),
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(app.sql_i64("SELECT count(*) FROM chat_rooms").await, 0);
    let room = group(&app, &ann, "real", &[&bob]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/chat/rooms/{room}/members"),
        Some(&ann.access),
        json!({"userId": "9223372036854775807"}),
    )
    .await
    .assert_error(404, "not_found");
    let r = app
        .get(&format!("/api/chat/rooms/{room}"), Some(&ann.access))
        .await;
    assert_eq!(r.assert_status(200)["members"].as_array().unwrap().len(), 2);
    app.stop().await;
}

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp, TestUser};

backend_tests!(
    a_post_carries_its_author_mentions_and_tags,
    post_text_is_validated_and_nothing_is_half_written,
    an_idempotency_key_makes_retries_return_the_same_post,
    only_the_author_edits_and_history_keeps_every_version,
    deleting_a_post_removes_it_everywhere,
    loves_are_idempotent_and_exact_under_concurrency,
    comments_thread_to_any_depth_and_count_replies,
    comment_permissions_and_placeholders,
    home_feed_holds_your_posts_and_your_followees,
    paging_never_repeats_or_skips_while_posts_come_and_go,
    since_returns_only_newer_posts,
    refetch_returns_current_posts_in_order,
    control_characters_are_refused_in_posts_and_comments,
    an_empty_cursor_does_not_clash_with_since,
);

async fn post(app: &TestApp, u: &TestUser, text: &str) -> Value {
    let r = app
        .post("/api/posts", Some(&u.access), json!({"text": text}))
        .await;
    r.assert_status(201).clone()
}

fn ids(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_post_carries_its_author_mentions_and_tags(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("author").await;
    app.register("friend").await;
    let p = post(
        &app,
        &a,
        "Hi @Friend and @nobody_here, see #Rust #rust #SQLite",
    )
    .await;
    assert_eq!(p["author"]["id"], a.id.as_str());
    assert_eq!(p["author"]["username"], "author");
    assert!(p["author"].get("email").is_none());
    assert_eq!(
        p["mentions"],
        json!([{"id": p["mentions"][0]["id"], "username": "friend"}])
    );
    assert_eq!(p["tags"], json!(["rust", "sqlite"]));
    assert_eq!(p["media"], json!([]));
    assert_eq!(
        (p["loveCount"].as_i64(), p["commentCount"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(p["lovedByMe"], false);
    assert_eq!(p["editedAt"], Value::Null);
    let got = app
        .get(&format!("/api/posts/{}", p["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(got.assert_status(200)["text"], p["text"]);
    let tagged = app.get("/api/tags/RUST/posts", None).await;
    assert_eq!(ids(&tagged), [p["id"].as_str().unwrap()]);
    app.get("/api/posts/123", None)
        .await
        .assert_error(404, "not_found");
    app.get("/api/posts/abc", None)
        .await
        .assert_error(400, "invalid_path");
    app.post("/api/posts", None, json!({"text": "anon"}))
        .await
        .assert_error(401, "unauthenticated");
}

async fn post_text_is_validated_and_nothing_is_half_written(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("writer").await;
    let t = Some(a.access.as_str());
    app.post("/api/posts", t, json!({"text": "   "}))
        .await
        .assert_error(422, "text_required");
    app.post("/api/posts", t, json!({"text": "x".repeat(5001)}))
        .await
        .assert_error(422, "text_too_long");
    app.post("/api/posts", t, json!({"text": 5}))
        .await
        .assert_error(400, "validation_failed");
    app.post("/api/posts", t, json!({"txt": "typo"}))
        .await
        .assert_error(400, "validation_failed");
    let feed = app.get(&format!("/api/users/{}/posts", a.id), None).await;
    assert_eq!(ids(&feed).len(), 0, "nothing written");
    let p = post(&app, &a, &"é".repeat(5000)).await;
    assert_eq!(p["text"].as_str().unwrap().chars().count(), 5000);
}

async fn an_idempotency_key_makes_retries_return_the_same_post(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("retrier").await;
    let send = |text: &'static str, key: &'static str| {
        app.send(
            app.request(Method::POST, "/api/posts", Some(&a.access))
                .header("idempotency-key", key)
                .json(&json!({"text": text})),
        )
    };
    let first = send("once", "key-1").await;
    let id = first.assert_status(201)["id"].clone();
    let again = send("once", "key-1").await;
    assert_eq!(again.assert_status(200)["id"], id, "the same post");
    let other = send("twice", "key-2").await;
    assert_ne!(other.assert_status(201)["id"], id);
    // Another user may use the same key.
    let b_user = app.register("someone").await;
    let theirs = app
        .send(
            app.request(Method::POST, "/api/posts", Some(&b_user.access))
                .header("idempotency-key", "key-1")
                .json(&json!({"text": "mine"})),
        )
        .await;
    assert_eq!(theirs.status.as_u16(), 201);
    let feed = app.get(&format!("/api/users/{}/posts", a.id), None).await;
    assert_eq!(ids(&feed).len(), 2, "no duplicate");
    // Concurrent retries with one key still make one post.
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (app, token) = (app.clone(), a.access.clone());
        tasks.push(tokio::spawn(async move {
            let r = app
                .send(
                    app.request(Method::POST, "/api/posts", Some(&token))
                        .header("idempotency-key", "burst")
                        .json(&json!({"text": "burst"})),
                )
                .await;
            (r.status.as_u16(), r.body["id"].as_str().map(str::to_owned))
        }));
    }
    let mut made = HashSet::new();
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert!(status == 201 || status == 200, "{status}");
        made.insert(id.unwrap());
    }
    assert_eq!(made.len(), 1);
    let feed = app.get(&format!("/api/users/{}/posts", a.id), None).await;
    assert_eq!(ids(&feed).len(), 3);
}

async fn only_the_author_edits_and_history_keeps_every_version(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("editor").await;
    let other = app.register("intruder").await;
    let p = post(&app, &a, "first #old").await;
    let id = p["id"].as_str().unwrap();
    let path = format!("/api/posts/{id}");
    app.json(
        Method::PATCH,
        &path,
        Some(&other.access),
        json!({"text": "hijacked"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.json(
        Method::PATCH,
        &path,
        Some(&a.access),
        json!({"text": "x".repeat(5001)}),
    )
    .await
    .assert_error(422, "text_too_long");
    let e = app
        .json(
            Method::PATCH,
            &path,
            Some(&a.access),
            json!({"text": "second #new"}),
        )
        .await;
    let e = e.assert_status(200);
    assert_eq!(e["text"], "second #new");
    assert!(e["editedAt"].is_string());
    assert_eq!(e["tags"], json!(["new"]));
    app.json(
        Method::PATCH,
        &path,
        Some(&a.access),
        json!({"text": "third"}),
    )
    .await
    .assert_status(200);
    let h = app.get(&format!("{path}/history"), None).await;
    let texts: Vec<&str> = h.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first #old", "second #new", "third"]);
    assert_eq!(
        ids(&app.get("/api/tags/old/posts", None).await).len(),
        0,
        "old tag dropped"
    );
    let seen = app.get(&path, None).await;
    assert_eq!(seen.body["text"], "third", "the intruder changed nothing");
}

async fn deleting_a_post_removes_it_everywhere(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("deleter").await;
    let other = app.register("bystander").await;
    app.put(&format!("/api/users/{}/follow", a.id), Some(&other.access))
        .await
        .assert_status(200);
    let keep = post(&app, &a, "keep #topic").await;
    let gone = post(&app, &a, "gone #topic").await;
    let gid = gone["id"].as_str().unwrap();
    let path = format!("/api/posts/{gid}");
    app.delete(&path, Some(&other.access))
        .await
        .assert_error(403, "forbidden");
    let r = app.delete(&path, Some(&a.access)).await;
    assert_eq!(r.status.as_u16(), 204);
    app.get(&path, None).await.assert_error(404, "not_found");
    app.delete(&path, Some(&a.access))
        .await
        .assert_error(404, "not_found");
    let kid = keep["id"].as_str().unwrap();
    for feed in [
        "/api/feed/public".to_owned(),
        format!("/api/users/{}/posts", a.id),
        "/api/tags/topic/posts".to_owned(),
    ] {
        assert_eq!(ids(&app.get(&feed, None).await), [kid], "{feed}");
    }
    assert_eq!(ids(&app.get("/api/feed", Some(&other.access)).await), [kid]);
    let refetch = app.get(&format!("/api/posts?ids={gid},{kid}"), None).await;
    assert_eq!(ids(&refetch), [kid]);
    app.post(
        &format!("{path}/comments"),
        Some(&other.access),
        json!({"text": "late"}),
    )
    .await
    .assert_error(404, "not_found");
    app.put(&format!("{path}/love"), Some(&other.access))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("{path}/history"), None)
        .await
        .assert_error(404, "not_found");
}

async fn loves_are_idempotent_and_exact_under_concurrency(b: Backend) {
    let app = Arc::new(TestApp::spawn(b).await);
    let a = app.register("loved").await;
    let p = post(&app, &a, "love me").await;
    let path = format!("/api/posts/{}/love", p["id"].as_str().unwrap());
    let mut fans = Vec::new();
    for i in 0..10 {
        fans.push(app.register(&format!("lover_{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, f) in fans.iter().enumerate() {
        for _ in 0..3 {
            let (app, path, t) = (app.clone(), path.clone(), f.access.clone());
            tasks.push(tokio::spawn(async move {
                app.put(&path, Some(&t)).await.status.as_u16()
            }));
        }
        if i % 3 == 0 {
            let (app, path, t) = (app.clone(), path.clone(), f.access.clone());
            tasks.push(tokio::spawn(async move {
                app.delete(&path, Some(&t)).await.status.as_u16()
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let lovers = app
        .get(
            &format!("/api/posts/{}/lovers?limit=100", p["id"].as_str().unwrap()),
            None,
        )
        .await;
    let listed = lovers.assert_status(200)["items"].as_array().unwrap().len() as i64;
    let seen = app
        .get(&format!("/api/posts/{}", p["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(
        seen.body["loveCount"].as_i64().unwrap(),
        listed,
        "count equals lovers"
    );
    // Settle: everyone loves it once more.
    for f in &fans {
        let r = app.put(&path, Some(&f.access)).await;
        assert_eq!(r.assert_status(200)["lovedByMe"], true);
    }
    let r = app.put(&path, Some(&fans[0].access)).await;
    assert_eq!(r.body["loveCount"], 10);
    let r = app.delete(&path, Some(&fans[0].access)).await;
    assert_eq!(
        (r.body["loveCount"].as_i64(), r.body["lovedByMe"].as_bool()),
        (Some(9), Some(false))
    );
    app.put("/api/posts/999/love", Some(&a.access))
        .await
        .assert_error(404, "not_found");
    app.put(&path, None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn comments_thread_to_any_depth_and_count_replies(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("op_user").await;
    let c = app.register("commenter").await;
    let p = post(&app, &a, "discuss").await;
    let pid = p["id"].as_str().unwrap();
    let comments = format!("/api/posts/{pid}/comments");
    let first = app
        .post(&comments, Some(&c.access), json!({"text": "first"}))
        .await;
    let first_id = first.assert_status(201)["id"].as_str().unwrap().to_owned();
    let second = app
        .post(&comments, Some(&a.access), json!({"text": "second"}))
        .await;
    second.assert_status(201);
    let reply = app
        .post(
            &comments,
            Some(&a.access),
            json!({"text": "reply", "parentId": first_id}),
        )
        .await;
    let reply_id = reply.assert_status(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.body["parentId"], first_id.as_str());
    let deep = app
        .post(
            &comments,
            Some(&c.access),
            json!({"text": "deeper", "parentId": reply_id}),
        )
        .await;
    deep.assert_status(201);

    let top = app.get(&comments, None).await;
    let items = top.assert_status(200)["items"].as_array().unwrap();
    let texts: Vec<&str> = items.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["first", "second"], "top level only, oldest first");
    assert_eq!(items[0]["replyCount"], 1);
    let replies = app
        .get(&format!("/api/comments/{first_id}/replies"), None)
        .await;
    assert_eq!(replies.body["items"][0]["text"], "reply");
    assert_eq!(replies.body["items"][0]["replyCount"], 1);
    let deeper = app
        .get(&format!("/api/comments/{reply_id}/replies"), None)
        .await;
    assert_eq!(deeper.body["items"][0]["text"], "deeper");
    let p = app.get(&format!("/api/posts/{pid}"), None).await;
    assert_eq!(p.body["commentCount"], 4, "replies included");

    // Comment loves.
    let l = app
        .put(&format!("/api/comments/{first_id}/love"), Some(&a.access))
        .await;
    assert_eq!(
        (l.body["loveCount"].as_i64(), l.body["lovedByMe"].as_bool()),
        (Some(1), Some(true))
    );
    let lovers = app
        .get(&format!("/api/comments/{first_id}/lovers"), None)
        .await;
    assert_eq!(lovers.body["items"][0]["username"], "op_user");

    // Bad input.
    app.post(
        &comments,
        Some(&c.access),
        json!({"text": "x".repeat(2001)}),
    )
    .await
    .assert_error(422, "text_too_long");
    let other = post(&app, &a, "elsewhere").await;
    app.post(
        &format!("/api/posts/{}/comments", other["id"].as_str().unwrap()),
        Some(&c.access),
        json!({"text": "wrong thread", "parentId": first_id}),
    )
    .await
    .assert_error(404, "not_found");
    let p = app.get(&format!("/api/posts/{pid}"), None).await;
    assert_eq!(p.body["commentCount"], 4, "refused comments wrote nothing");
    let paged = app.get(&format!("{comments}?limit=1"), None).await;
    let next = paged.body["nextCursor"].as_str().unwrap();
    let page2 = app
        .get(&format!("{comments}?limit=1&cursor={next}"), None)
        .await;
    assert_eq!(page2.body["items"][0]["text"], "second");
}

async fn comment_permissions_and_placeholders(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("poster").await;
    let c = app.register("talker").await;
    let x = app.register("stranger").await;
    let p = post(&app, &a, "thread").await;
    let pid = p["id"].as_str().unwrap();
    let comments = format!("/api/posts/{pid}/comments");
    let mk = |user: &TestUser, text: &str, parent: Option<&str>| {
        let body = match parent {
            Some(p) => json!({"text": text, "parentId": p}),
            None => json!({"text": text}),
        };
        let token = user.access.clone();
        let path = comments.clone();
        let app = &app;
        async move {
            app.post(&path, Some(&token), body).await.body["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let parent = mk(&c, "parent", None).await;
    let child = mk(&a, "child", Some(&parent)).await;
    let lone = mk(&c, "lone", None).await;

    let edit = |id: &str| format!("/api/comments/{id}");
    app.json(
        Method::PATCH,
        &edit(&parent),
        Some(&x.access),
        json!({"text": "nope"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.json(
        Method::PATCH,
        &edit(&parent),
        Some(&a.access),
        json!({"text": "post author cannot edit"}),
    )
    .await
    .assert_error(403, "forbidden");
    let e = app
        .json(
            Method::PATCH,
            &edit(&parent),
            Some(&c.access),
            json!({"text": "edited"}),
        )
        .await;
    assert_eq!(e.assert_status(200)["text"], "edited");
    assert!(e.body["editedAt"].is_string());

    app.delete(&edit(&lone), Some(&x.access))
        .await
        .assert_error(403, "forbidden");
    // The post's author may delete any comment on it.
    assert_eq!(
        app.delete(&edit(&lone), Some(&a.access))
            .await
            .status
            .as_u16(),
        204
    );
    // A comment with replies leaves a placeholder.
    assert_eq!(
        app.delete(&edit(&parent), Some(&c.access))
            .await
            .status
            .as_u16(),
        204
    );
    let top = app.get(&comments, None).await;
    let items = top.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the lone comment is gone");
    assert_eq!(items[0]["deleted"], true);
    assert_eq!(items[0]["text"], "");
    assert_eq!(items[0]["replyCount"], 1);
    let replies = app
        .get(&format!("/api/comments/{parent}/replies"), None)
        .await;
    assert_eq!(
        replies.body["items"][0]["text"], "child",
        "the thread stays readable"
    );
    app.json(
        Method::PATCH,
        &edit(&parent),
        Some(&c.access),
        json!({"text": "revive"}),
    )
    .await
    .assert_error(404, "not_found");
    app.delete(&edit(&parent), Some(&c.access))
        .await
        .assert_error(404, "not_found");
    let p = app.get(&format!("/api/posts/{pid}"), None).await;
    assert_eq!(p.body["commentCount"], 1, "only the live reply counts");
    // Deleting the reply updates its parent's count.
    assert_eq!(
        app.delete(&edit(&child), Some(&a.access))
            .await
            .status
            .as_u16(),
        204
    );
    let top = app.get(&comments, None).await;
    assert_eq!(top.body["items"][0]["replyCount"], 0);
}

async fn home_feed_holds_your_posts_and_your_followees(b: Backend) {
    let app = TestApp::spawn(b).await;
    let me = app.register("reader").await;
    let followed = app.register("followed").await;
    let stranger = app.register("stranger").await;
    let mine = post(&app, &me, "mine").await;
    let theirs = post(&app, &followed, "theirs").await;
    post(&app, &stranger, "strange").await;
    let feed = app.get("/api/feed", Some(&me.access)).await;
    assert_eq!(ids(&feed), [mine["id"].as_str().unwrap()]);
    app.put(
        &format!("/api/users/{}/follow", followed.id),
        Some(&me.access),
    )
    .await
    .assert_status(200);
    let feed = app.get("/api/feed", Some(&me.access)).await;
    assert_eq!(
        ids(&feed),
        [theirs["id"].as_str().unwrap(), mine["id"].as_str().unwrap()],
        "merged on follow"
    );
    app.delete(
        &format!("/api/users/{}/follow", followed.id),
        Some(&me.access),
    )
    .await
    .assert_status(200);
    let feed = app.get("/api/feed", Some(&me.access)).await;
    assert_eq!(
        ids(&feed),
        [mine["id"].as_str().unwrap()],
        "removed on unfollow"
    );
    let public = app.get("/api/feed/public", None).await;
    assert_eq!(ids(&public).len(), 3);
    app.get("/api/feed", None)
        .await
        .assert_error(401, "unauthenticated");
    app.get("/api/users/999/posts", None)
        .await
        .assert_error(404, "not_found");
}

async fn paging_never_repeats_or_skips_while_posts_come_and_go(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("pager").await;
    let mut original = Vec::new();
    for i in 0..10 {
        original.push(
            post(&app, &a, &format!("post {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    let mut round = 0;
    loop {
        let r = app
            .get(
                &format!("/api/feed?limit=3&cursor={cursor}"),
                Some(&a.access),
            )
            .await;
        r.assert_status(200);
        seen.extend(ids(&r));
        // Between pages: new posts arrive and an already-seen post is deleted.
        post(&app, &a, &format!("new {round}")).await;
        if let Some(first) = seen.first() {
            app.delete(&format!("/api/posts/{first}"), Some(&a.access))
                .await;
        }
        round += 1;
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no repeats: {seen:?}");
    let expected: Vec<String> = original.iter().rev().cloned().collect();
    assert_eq!(
        seen, expected,
        "every post that existed, newest first, none skipped"
    );
}

async fn since_returns_only_newer_posts(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("refresher").await;
    let old = post(&app, &a, "old").await;
    let oid = old["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/feed?since={oid}"), Some(&a.access))
        .await;
    assert_eq!(ids(&r).len(), 0);
    assert_eq!(r.body["hasMore"], false);
    let mut newer = Vec::new();
    for i in 0..4 {
        newer.push(
            post(&app, &a, &format!("new {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let r = app
        .get(&format!("/api/feed?since={oid}"), Some(&a.access))
        .await;
    let expected: Vec<String> = newer.iter().rev().cloned().collect();
    assert_eq!(ids(&r), expected, "newest first");
    // In small steps: the oldest new ones first, then the rest.
    let r = app
        .get(&format!("/api/feed?since={oid}&limit=3"), Some(&a.access))
        .await;
    assert_eq!(r.body["hasMore"], true);
    assert_eq!(
        ids(&r),
        [newer[2].clone(), newer[1].clone(), newer[0].clone()]
    );
    let r = app
        .get(
            &format!("/api/feed?since={}&limit=3", newer[2]),
            Some(&a.access),
        )
        .await;
    assert_eq!(ids(&r), [newer[3].clone()]);
    assert_eq!(r.body["hasMore"], false);
    app.get("/api/feed?since=xyz", Some(&a.access))
        .await
        .assert_error(400, "invalid_id");
}

async fn refetch_returns_current_posts_in_order(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("refetcher").await;
    let fan = app.register("fan").await;
    let p1 = post(&app, &a, "one").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p2 = post(&app, &a, "two").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p3 = post(&app, &a, "three").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put(&format!("/api/posts/{p2}/love"), Some(&fan.access))
        .await
        .assert_status(200);
    app.json(
        Method::PATCH,
        &format!("/api/posts/{p1}"),
        Some(&a.access),
        json!({"text": "one, edited"}),
    )
    .await
    .assert_status(200);
    app.delete(&format!("/api/posts/{p3}"), Some(&a.access))
        .await;
    let r = app
        .get(&format!("/api/posts?ids={p2},{p3},{p1}"), Some(&fan.access))
        .await;
    r.assert_status(200);
    assert_eq!(
        ids(&r),
        [p2.clone(), p1.clone()],
        "asked order, deleted left out"
    );
    assert_eq!(r.body["items"][0]["loveCount"], 1);
    assert_eq!(r.body["items"][0]["lovedByMe"], true);
    assert_eq!(r.body["items"][1]["text"], "one, edited");
    let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    app.get(&format!("/api/posts?ids={}", many.join(",")), None)
        .await
        .assert_error(400, "validation_failed");
    app.get("/api/posts?ids=1,x", None)
        .await
        .assert_error(400, "invalid_id");
}

/// Text of control characters (a NUL, an escape sequence, a bell) is refused
/// in posts and comments, created or edited, as in profiles: 400 naming `text`.
/// Line breaks and tabs are text.
async fn control_characters_are_refused_in_posts_and_comments(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("ctrl_poster").await;
    let ok = post(&app, &u, "line one\n\tline two\r\nthree").await;
    assert_eq!(ok["text"], "line one\n\tline two\r\nthree");
    let id = ok["id"].as_str().unwrap();
    let c = app
        .post(
            &format!("/api/posts/{id}/comments"),
            Some(&u.access),
            json!({"text": "fine\tcomment"}),
        )
        .await;
    let cid = c.assert_status(201)["id"].as_str().unwrap().to_owned();
    for bad in [
        "\u{0}",
        "hello\u{0}",
        "\u{1b}[2J",
        "ding\u{7}",
        "\u{7f}",
        "\u{85}",
    ] {
        let body = json!({"text": bad});
        for (method, path) in [
            (Method::POST, "/api/posts".to_owned()),
            (Method::PATCH, format!("/api/posts/{id}")),
            (Method::POST, format!("/api/posts/{id}/comments")),
            (Method::PATCH, format!("/api/comments/{cid}")),
        ] {
            let r = app
                .json(method.clone(), &path, Some(&u.access), body.clone())
                .await;
            r.assert_error(400, "validation_failed");
            assert!(
                r.body["error"]["fields"]["text"].is_string(),
                "{method} {path} {bad:?}: {}",
                r.text
            );
        }
    }
    // Nothing changed: one post, its text as it was, one comment.
    let feed = app.get("/api/feed/public", None).await;
    let items = feed.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["text"], "line one\n\tline two\r\nthree");
    assert_eq!(items[0]["commentCount"], 1);
    let comments = app.get(&format!("/api/posts/{id}/comments"), None).await;
    assert_eq!(
        comments.assert_status(200)["items"][0]["text"],
        "fine\tcomment"
    );
}

/// `cursor=` (empty) is the first page everywhere, so beside `since` it is no
/// cursor: it was 400 "use either cursor or since". A real cursor still is.
async fn an_empty_cursor_does_not_clash_with_since(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("empty_cursor").await;
    let old = post(&app, &a, "old").await;
    let oid = old["id"].as_str().unwrap().to_owned();
    let new = post(&app, &a, "new").await;
    for path in [
        format!("/api/feed?cursor=&since={oid}"),
        format!("/api/feed/public?since={oid}&cursor="),
        format!("/api/users/{}/posts?cursor=&since={oid}", a.id),
    ] {
        let r = app.get(&path, Some(&a.access)).await;
        r.assert_status(200);
        assert_eq!(ids(&r), [new["id"].as_str().unwrap().to_owned()], "{path}");
    }
    let page = app.get("/api/feed/public?limit=1", None).await;
    let cursor = page.assert_status(200)["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(
        &format!("/api/feed/public?cursor={cursor}&since={oid}"),
        None,
    )
    .await
    .assert_error(400, "invalid_query");
}

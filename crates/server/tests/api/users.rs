use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    users_are_found_by_id_and_by_username,
    search_puts_prefix_matches_first_and_pages_without_repeats,
    follow_and_unfollow_are_idempotent_and_keep_counts,
    following_yourself_or_nobody_is_refused,
    follower_lists_page_through_every_follower_once,
    concurrent_follows_keep_exact_counts,
    follow_actions_affect_only_the_caller,
    cached_users_never_outlive_a_change,
);

async fn users_are_found_by_id_and_by_username(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("tina").await;
    let by_id = app.get(&format!("/api/users/{}", u.id), None).await;
    assert_eq!(by_id.assert_status(200)["username"], "tina");
    let keys: HashSet<&str> = by_id
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "id",
        "username",
        "displayName",
        "bio",
        "avatarUrl",
        "followerCount",
        "followingCount",
        "followedByMe",
        "blocking",
        "muting",
        "createdAt",
    ]
    .into();
    assert_eq!(keys, expected);
    let by_name = app.get("/api/users/by-username/TINA", None).await;
    assert_eq!(by_name.assert_status(200)["id"], u.id.as_str());
    app.get("/api/users/by-username/nobody", None)
        .await
        .assert_error(404, "not_found");
    app.get("/api/users/12345", None)
        .await
        .assert_error(404, "not_found");
    app.get("/api/users/not-a-number", None)
        .await
        .assert_error(400, "invalid_path");
}

async fn names(r: &Value) -> Vec<String> {
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn search_puts_prefix_matches_first_and_pages_without_repeats(b: Backend) {
    let app = TestApp::spawn(b).await;
    for n in ["joanna", "anna", "annabel", "bob", "hannah", "zed_100"] {
        app.register(n).await;
    }
    let bob = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": "bob", "password": "correct horse battery"}),
        )
        .await;
    let bob_token = bob.body["accessToken"].as_str().unwrap().to_owned();
    app.json(
        Method::PATCH,
        "/api/profile",
        Some(&bob_token),
        json!({"displayName": "Anna Bob"}),
    )
    .await
    .assert_status(200);

    let r = app.get("/api/users?q=ANNA", None).await;
    let got = names(r.assert_status(200)).await;
    assert_eq!(
        got,
        ["anna", "annabel", "bob", "hannah", "joanna"],
        "prefix matches (username or display name) first"
    );

    // Paging with limit 2 visits each match exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(&format!("/api/users?q=anna&limit=2&cursor={cursor}"), None)
            .await;
        let page = r.assert_status(200);
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(names(page).await);
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["anna", "annabel", "bob", "hannah", "joanna"]);

    // LIKE wildcards in the query match literally.
    let r = app.get("/api/users?q=%25", None).await;
    assert_eq!(names(r.assert_status(200)).await, Vec::<String>::new());
    let r = app.get("/api/users?q=_1", None).await;
    assert_eq!(names(r.assert_status(200)).await, ["zed_100"]);
}

async fn follow_and_unfollow_are_idempotent_and_keep_counts(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("uma").await;
    let v = app.register("vic").await;
    let path = format!("/api/users/{}/follow", v.id);
    for _ in 0..2 {
        let r = app.put(&path, Some(&a.access)).await;
        let u = r.assert_status(200);
        assert_eq!(u["id"], v.id.as_str());
        assert_eq!(u["followedByMe"], true);
        assert_eq!(u["followerCount"], 1);
    }
    let me = app.get("/api/profile", Some(&a.access)).await;
    assert_eq!(me.body["followingCount"], 1);
    // Seen from the followed user and from a third party.
    let seen = app
        .get(&format!("/api/users/{}", v.id), Some(&v.access))
        .await;
    assert_eq!(seen.body["followerCount"], 1);
    assert_eq!(seen.body["followedByMe"], false);
    let seen = app
        .get(&format!("/api/users/{}", v.id), Some(&a.access))
        .await;
    assert_eq!(seen.body["followedByMe"], true);

    for _ in 0..2 {
        let r = app.delete(&path, Some(&a.access)).await;
        let u = r.assert_status(200);
        assert_eq!(u["followedByMe"], false);
        assert_eq!(u["followerCount"], 0);
    }
    let me = app.get("/api/profile", Some(&a.access)).await;
    assert_eq!(me.body["followingCount"], 0);
    app.put(&path, None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn following_yourself_or_nobody_is_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("walt").await;
    app.put(&format!("/api/users/{}/follow", a.id), Some(&a.access))
        .await
        .assert_error(422, "cannot_follow_self");
    app.delete(&format!("/api/users/{}/follow", a.id), Some(&a.access))
        .await
        .assert_error(422, "cannot_follow_self");
    app.put("/api/users/999999/follow", Some(&a.access))
        .await
        .assert_error(404, "not_found");
    app.delete("/api/users/999999/follow", Some(&a.access))
        .await
        .assert_error(404, "not_found");
    let me = app.get("/api/profile", Some(&a.access)).await;
    assert_eq!(me.body["followingCount"], 0);
    assert_eq!(me.body["followerCount"], 0);
}

async fn follower_lists_page_through_every_follower_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let star = app.register("star").await;
    let mut fans = Vec::new();
    for i in 0..23 {
        let f = app.register(&format!("fan_{i:02}")).await;
        app.put(&format!("/api/users/{}/follow", star.id), Some(&f.access))
            .await
            .assert_status(200);
        fans.push(f);
    }
    // The star follows back a few.
    for f in &fans[..3] {
        app.put(&format!("/api/users/{}/follow", f.id), Some(&star.access))
            .await
            .assert_status(200);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let r = app
            .get(
                &format!("/api/users/{}/followers?limit=10&cursor={cursor}", star.id),
                Some(&star.access),
            )
            .await;
        let page = r.assert_status(200);
        pages += 1;
        for u in page["items"].as_array().unwrap() {
            let followed = u["followedByMe"].as_bool().unwrap();
            seen.push((u["username"].as_str().unwrap().to_owned(), followed));
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = fans.iter().rev().map(|f| f.username.clone()).collect();
    let got: Vec<String> = seen.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(got, expected, "newest follower first, each once");
    let followed_back: HashSet<String> = seen
        .iter()
        .filter(|(_, f)| *f)
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(
        followed_back,
        fans[..3].iter().map(|f| f.username.clone()).collect()
    );

    let r = app
        .get(&format!("/api/users/{}/following", star.id), None)
        .await;
    assert_eq!(r.assert_status(200)["items"].as_array().unwrap().len(), 3);
    let r = app
        .get(&format!("/api/users/{}/following", fans[0].id), None)
        .await;
    assert_eq!(r.body["items"][0]["username"], "star");
    app.get("/api/users/424242/followers", None)
        .await
        .assert_error(404, "not_found");
    app.get(
        &format!("/api/users/{}/followers?cursor=garbage!", star.id),
        None,
    )
    .await
    .assert_error(400, "invalid_cursor");
}

async fn concurrent_follows_keep_exact_counts(b: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(b).await);
    let target = app.register("popular").await;
    let mut fans = Vec::new();
    for i in 0..12 {
        fans.push(app.register(&format!("racer_{i}")).await);
    }
    // Every fan follows three times at once, and half of them unfollow concurrently too.
    let mut tasks = Vec::new();
    for (i, f) in fans.iter().enumerate() {
        for _ in 0..3 {
            let app = app.clone();
            let (path, token) = (format!("/api/users/{}/follow", target.id), f.access.clone());
            tasks.push(tokio::spawn(async move {
                app.put(&path, Some(&token)).await.status.as_u16()
            }));
        }
        if i % 2 == 0 {
            let app = app.clone();
            let (path, token) = (format!("/api/users/{}/follow", target.id), f.access.clone());
            tasks.push(tokio::spawn(async move {
                app.delete(&path, Some(&token)).await.status.as_u16()
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let followers = app
        .get(
            &format!("/api/users/{}/followers?limit=100", target.id),
            None,
        )
        .await;
    let listed = followers.body["items"].as_array().unwrap().len() as i64;
    let me = app.get("/api/profile", Some(&target.access)).await;
    assert_eq!(
        me.body["followerCount"].as_i64().unwrap(),
        listed,
        "count matches the edges"
    );
    let mut following_total = 0;
    for f in &fans {
        let p = app.get("/api/profile", Some(&f.access)).await;
        following_total += p.body["followingCount"].as_i64().unwrap();
    }
    assert_eq!(following_total, listed);
    // Settle: everyone follows; the count is exactly the number of fans.
    for f in &fans {
        app.put(&format!("/api/users/{}/follow", target.id), Some(&f.access))
            .await
            .assert_status(200);
    }
    let me = app.get("/api/profile", Some(&target.access)).await;
    assert_eq!(me.body["followerCount"], 12);
}

async fn follow_actions_affect_only_the_caller(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("xena").await;
    let b_user = app.register("yuri").await;
    let c = app.register("zack").await;
    app.put(&format!("/api/users/{}/follow", c.id), Some(&a.access))
        .await
        .assert_status(200);
    // B unfollowing C does not remove A's follow.
    app.delete(&format!("/api/users/{}/follow", c.id), Some(&b_user.access))
        .await
        .assert_status(200);
    let seen = app
        .get(&format!("/api/users/{}", c.id), Some(&a.access))
        .await;
    assert_eq!(seen.body["followerCount"], 1);
    assert_eq!(seen.body["followedByMe"], true);
    // B's profile edit changes B only.
    app.json(
        Method::PATCH,
        "/api/profile",
        Some(&b_user.access),
        json!({"bio": "b's bio"}),
    )
    .await
    .assert_status(200);
    let a_seen = app.get(&format!("/api/users/{}", a.id), None).await;
    assert_eq!(a_seen.body["bio"], "");
    let anon = app.get(&format!("/api/users/{}", c.id), None).await;
    assert_eq!(anon.body["followedByMe"], false);
}

async fn cached_users_never_outlive_a_change(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("reader").await;
    let w = app.register("writer").await;
    let c = app.register("third").await;
    let path = format!("/api/users/{}", w.id);
    // Warm the cache for the writer, through both read paths.
    app.get(&path, Some(&a.access)).await.assert_status(200);
    app.get("/api/profile", Some(&w.access))
        .await
        .assert_status(200);

    app.json(
        Method::PATCH,
        "/api/profile",
        Some(&w.access),
        json!({"bio": "changed"}),
    )
    .await
    .assert_status(200);
    assert_eq!(app.get(&path, Some(&a.access)).await.body["bio"], "changed");

    app.put(&format!("/api/users/{}/follow", c.id), Some(&w.access))
        .await
        .assert_status(200);
    assert_eq!(app.get(&path, None).await.body["followingCount"], 1);
    assert_eq!(
        app.get("/api/profile", Some(&w.access)).await.body["followingCount"],
        1
    );

    app.put(&format!("/api/users/{}/follow", w.id), Some(&a.access))
        .await
        .assert_status(200);
    assert_eq!(
        app.get("/api/profile", Some(&w.access)).await.body["followerCount"],
        1
    );
    app.delete(&format!("/api/users/{}/follow", w.id), Some(&a.access))
        .await
        .assert_status(200);
    assert_eq!(app.get(&path, None).await.body["followerCount"], 0);
    let avatar = reqwest::multipart::Part::bytes(crate::helpers::image_bytes(
        20,
        20,
        image::ImageFormat::Png,
    ))
    .file_name("a.png");
    app.send(
        app.request(Method::PUT, "/api/profile/avatar", Some(&w.access))
            .multipart(reqwest::multipart::Form::new().part("file", avatar)),
    )
    .await
    .assert_status(200);
    assert!(app.get(&path, None).await.body["avatarUrl"].is_string());

    // With the cache disabled the same reads come straight from the store.
    let plain = TestApp::spawn_with(Backend::Embedded, |s| s.user_cache_ttl_secs = 0).await;
    let u = plain.register("nocache").await;
    plain
        .json(
            Method::PATCH,
            "/api/profile",
            Some(&u.access),
            json!({"bio": "direct"}),
        )
        .await
        .assert_status(200);
    assert_eq!(
        plain.get("/api/profile", Some(&u.access)).await.body["bio"],
        "direct"
    );
}

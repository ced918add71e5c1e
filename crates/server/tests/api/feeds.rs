//! Home timelines: fan-out on write, hybrid merge for celebrities, rebuilds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp, TestUser};

backend_tests!(
    a_post_reaches_followers_built_timelines_off_the_request_path,
    celebrity_posts_are_merged_at_read_time,
    pages_deeper_than_the_cached_window_come_from_the_database,
    follow_merges_and_unfollow_removes_in_a_built_timeline,
    an_expired_or_flushed_timeline_is_rebuilt_from_the_database,
    search_finds_live_posts_by_every_word,
    cached_posts_never_outlive_a_change,
    a_users_cached_timeline_follows_posts_and_deletions,
    loved_by_me_follows_loves_and_unloves_at_once,
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

async fn home(app: &TestApp, u: &TestUser) -> Vec<String> {
    let r = app.get("/api/feed?limit=100", Some(&u.access)).await;
    r.assert_status(200);
    ids(&r)
}

/// Polls `u`'s home feed until `pred` holds (fan-out is asynchronous).
async fn eventually(app: &TestApp, u: &TestUser, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let start = Instant::now();
    loop {
        let feed = home(app, u).await;
        if pred(&feed) {
            return feed;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "feed never became {feed:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn follow(app: &TestApp, who: &TestUser, whom: &TestUser) {
    app.put(&format!("/api/users/{}/follow", whom.id), Some(&who.access))
        .await
        .assert_status(200);
}

async fn a_post_reaches_followers_built_timelines_off_the_request_path(b: Backend) {
    let app = TestApp::spawn(b).await;
    let author = app.register("fanout_author").await;
    let mut followers = Vec::new();
    for i in 0..5 {
        let f = app.register(&format!("fanout_f{i}")).await;
        follow(&app, &f, &author).await;
        assert_eq!(
            home(&app, &f).await,
            Vec::<String>::new(),
            "timeline built, empty"
        );
        followers.push(f);
    }
    let p = post(&app, &author, "to everyone").await;
    // The author sees it at once.
    assert_eq!(home(&app, &author).await, [p.as_str()]);
    for f in &followers {
        eventually(&app, f, |feed| feed == [p.clone()]).await;
    }
    // Not to non-followers.
    let outsider = app.register("fanout_out").await;
    assert_eq!(home(&app, &outsider).await, Vec::<String>::new());
    // A deleted post leaves the built timelines.
    app.delete(&format!("/api/posts/{p}"), Some(&author.access))
        .await;
    for f in &followers {
        assert_eq!(home(&app, f).await, Vec::<String>::new());
    }
}

async fn celebrity_posts_are_merged_at_read_time(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.celebrity_threshold = 2).await;
    let celeb = app.register("celebrity").await;
    let normal = app.register("normal_author").await;
    let fan = app.register("big_fan").await;
    let other_fan = app.register("other_fan").await;
    follow(&app, &fan, &celeb).await;
    follow(&app, &other_fan, &celeb).await;
    follow(&app, &fan, &normal).await;
    assert_eq!(home(&app, &fan).await, Vec::<String>::new());
    let n1 = post(&app, &normal, "normal one").await;
    let c1 = post(&app, &celeb, "celebrity one").await;
    let n2 = post(&app, &normal, "normal two").await;
    let c2 = post(&app, &celeb, "celebrity two").await;
    // Celebrity posts are not pushed but appear, in order, as soon as they exist.
    let feed = eventually(&app, &fan, |f| f.len() == 4).await;
    assert_eq!(feed, [c2.clone(), n2.clone(), c1.clone(), n1.clone()]);
    // Paging across merged posts neither repeats nor skips.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/api/feed?limit=1&cursor={cursor}"),
                Some(&fan.access),
            )
            .await;
        seen.extend(ids(&r));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, [c2, n2, c1, n1]);
}

async fn pages_deeper_than_the_cached_window_come_from_the_database(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.timeline_cap = 10).await;
    let author = app.register("prolific").await;
    let reader = app.register("deep_reader").await;
    follow(&app, &reader, &author).await;
    let mut all = Vec::new();
    for i in 0..25 {
        all.push(post(&app, &author, &format!("post {i}")).await);
    }
    all.reverse();
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/api/feed?limit=4&cursor={cursor}"),
                Some(&reader.access),
            )
            .await;
        r.assert_status(200);
        seen.extend(ids(&r));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, all, "all 25, newest first, though only 10 are cached");
}

async fn follow_merges_and_unfollow_removes_in_a_built_timeline(b: Backend) {
    let app = TestApp::spawn(b).await;
    let me = app.register("merger").await;
    let them = app.register("merged").await;
    let mine = post(&app, &me, "mine").await;
    let t1 = post(&app, &them, "theirs 1").await;
    let t2 = post(&app, &them, "theirs 2").await;
    assert_eq!(
        home(&app, &me).await,
        [mine.as_str()],
        "built before following"
    );
    follow(&app, &me, &them).await;
    assert_eq!(
        home(&app, &me).await,
        [t2.clone(), t1.clone(), mine.clone()],
        "merged at once"
    );
    app.delete(&format!("/api/users/{}/follow", them.id), Some(&me.access))
        .await
        .assert_status(200);
    assert_eq!(home(&app, &me).await, [mine], "removed at once");
}

async fn an_expired_or_flushed_timeline_is_rebuilt_from_the_database(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.timeline_ttl_secs = 1).await;
    let reader = app.register("rebuilder").await;
    let author = app.register("rebuilt_author").await;
    follow(&app, &reader, &author).await;
    let p1 = post(&app, &author, "one").await;
    eventually(&app, &reader, |f| f == [p1.clone()]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let p2 = post(&app, &author, "two").await;
    // The timeline expired: the read rebuilds it, with both posts.
    eventually(&app, &reader, |f| f == [p2.clone(), p1.clone()]).await;
    if let Some((url, prefix)) = &app.redis {
        // Flush this server's Redis keys: the feed is rebuilt, nothing lost.
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(!keys.is_empty());
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(home(&app, &reader).await, [p2, p1]);
        let me: Value = app.get("/api/profile", Some(&reader.access)).await.body;
        assert_eq!(me["followingCount"], 1, "users rebuild too");
    }
}

async fn search_finds_live_posts_by_every_word(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("searcher").await;
    let rust_sqlite = post(&app, &a, "Rust and SQLite make a fine pair").await;
    let rust_pg = post(&app, &a, "rust with PostgreSQL, also fine").await;
    let other = post(&app, &a, "nothing to see here").await;
    let search = |q: &str| {
        let path = format!("/api/search/posts?q={q}");
        let app = &app;
        async move { app.get(&path, None).await }
    };
    assert_eq!(
        ids(&search("rust").await),
        [rust_pg.clone(), rust_sqlite.clone()]
    );
    assert_eq!(
        ids(&search("RUST%20sqlite").await),
        [rust_sqlite.as_str()],
        "every word, any case"
    );
    assert_eq!(ids(&search("fine").await).len(), 2);
    assert_eq!(ids(&search("see").await), [other]);
    // Query syntax in the input is just words.
    assert_eq!(ids(&search("%22rust%22%20OR%20nothing").await).len(), 0);
    assert_eq!(ids(&search("rust*").await).len(), 2);
    // Edits are searchable at once; deleted posts never.
    app.json(
        reqwest::Method::PATCH,
        &format!("/api/posts/{rust_pg}"),
        Some(&a.access),
        json!({"text": "now about Go"}),
    )
    .await
    .assert_status(200);
    assert_eq!(ids(&search("rust").await), [rust_sqlite.as_str()]);
    assert_eq!(ids(&search("go").await), [rust_pg]);
    app.delete(&format!("/api/posts/{rust_sqlite}"), Some(&a.access))
        .await;
    assert_eq!(ids(&search("rust").await).len(), 0);
    // Paging.
    for i in 0..5 {
        post(&app, &a, &format!("paged result {i}")).await;
    }
    let first = search("paged&limit=2").await;
    assert_eq!(ids(&first).len(), 2);
    let next = first.body["nextCursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/api/search/posts?q=paged&limit=2&cursor={next}"),
            None,
        )
        .await;
    assert_eq!(ids(&second).len(), 2);
    assert!(ids(&first).iter().all(|i| !ids(&second).contains(i)));
    app.get("/api/search/posts?q=", None)
        .await
        .assert_error(400, "validation_failed");
    app.get("/api/search/posts?q=%20!!%20", None)
        .await
        .assert_error(400, "validation_failed");
}

async fn cached_posts_never_outlive_a_change(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("cached_author").await;
    let f = app.register("cached_fan").await;
    follow(&app, &f, &a).await;
    let p = post(&app, &a, "cache me").await;
    let path = format!("/api/posts/{p}");
    // Warm every read path.
    app.get(&path, None).await.assert_status(200);
    eventually(&app, &f, |feed| feed == [p.as_str()]).await;
    let read = |token: Option<String>| {
        let (app, path) = (&app, path.clone());
        async move { app.get(&path, token.as_deref()).await.body }
    };
    app.put(&format!("{path}/love"), Some(&f.access))
        .await
        .assert_status(200);
    assert_eq!(read(None).await["loveCount"], 1);
    let c = app
        .post(
            &format!("{path}/comments"),
            Some(&f.access),
            json!({"text": "hi"}),
        )
        .await;
    let cid = c.body["id"].as_str().unwrap().to_owned();
    assert_eq!(read(None).await["commentCount"], 1);
    let feed = app.get("/api/feed", Some(&f.access)).await;
    assert_eq!(
        feed.body["items"][0]["commentCount"], 1,
        "the feed sees it too"
    );
    assert_eq!(feed.body["items"][0]["lovedByMe"], true);
    app.delete(&format!("/api/comments/{cid}"), Some(&f.access))
        .await;
    assert_eq!(read(None).await["commentCount"], 0);
    app.json(
        reqwest::Method::PATCH,
        &path,
        Some(&a.access),
        json!({"text": "changed"}),
    )
    .await
    .assert_status(200);
    assert_eq!(read(Some(f.access.clone())).await["text"], "changed");
    app.delete(&format!("{path}/love"), Some(&f.access))
        .await
        .assert_status(200);
    assert_eq!(read(None).await["loveCount"], 0);
    app.delete(&path, Some(&a.access)).await;
    app.get(&path, None).await.assert_error(404, "not_found");
    assert_eq!(home(&app, &f).await, Vec::<String>::new());
}

async fn user_posts(app: &TestApp, u: &TestUser, viewer: Option<&TestUser>) -> Vec<String> {
    let r = app
        .get(
            &format!("/api/users/{}/posts?limit=100", u.id),
            viewer.map(|v| v.access.as_str()),
        )
        .await;
    r.assert_status(200);
    ids(&r)
}

async fn a_users_cached_timeline_follows_posts_and_deletions(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.timeline_cap = 10).await;
    let author = app.register("own_timeline").await;
    let reader = app.register("own_timeline_reader").await;
    assert!(
        user_posts(&app, &author, None).await.is_empty(),
        "built empty"
    );
    let mut all = Vec::new();
    for i in 0..14 {
        all.insert(0, post(&app, &author, &format!("mine {i}")).await);
        // Read-your-writes: each new post shows at once, cached or not.
        assert_eq!(user_posts(&app, &author, Some(&reader)).await, all);
    }
    // Pages through the cached window (10) and past it, from the database.
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/api/users/{}/posts?limit=3&cursor={cursor}", author.id),
                None,
            )
            .await;
        r.assert_status(200);
        seen.extend(ids(&r));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, all, "every post once, newest first");
    // A deleted post leaves at once.
    let r = app
        .delete(&format!("/api/posts/{}", all[1]), Some(&author.access))
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let gone = all.remove(1);
    let now = user_posts(&app, &author, None).await;
    assert_eq!(now, all);
    assert!(!now.contains(&gone));
    // Unknown users are still 404, cache or no cache.
    let r = app.get("/api/users/1/posts", None).await;
    assert_eq!(r.status.as_u16(), 404, "{}", r.text);
}

/// (id, lovedByMe, loveCount) of `author`'s posts as `who` sees them.
async fn loved(app: &TestApp, author: &TestUser, who: &TestUser) -> Vec<(String, bool, i64)> {
    let r = app
        .get(
            &format!("/api/users/{}/posts?limit=10", author.id),
            Some(&who.access),
        )
        .await;
    r.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["lovedByMe"] == true,
                p["loveCount"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn loved_by_me_follows_loves_and_unloves_at_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let author = app.register("loved_author").await;
    let fan = app.register("loving_fan").await;
    let other = app.register("other_fan").await;
    follow(&app, &fan, &author).await;
    let p1 = post(&app, &author, "first").await;
    let p2 = post(&app, &author, "second").await;
    // Built (and cached) before any love.
    assert_eq!(
        loved(&app, &author, &fan).await,
        [(p2.clone(), false, 0), (p1.clone(), false, 0)]
    );
    for round in 0..3 {
        app.put(&format!("/api/posts/{p1}/love"), Some(&fan.access))
            .await
            .assert_status(200);
        assert_eq!(
            loved(&app, &author, &fan).await,
            [(p2.clone(), false, 0), (p1.clone(), true, 1)],
            "round {round}: the love shows at once"
        );
        assert_eq!(
            loved(&app, &author, &other).await,
            [(p2.clone(), false, 0), (p1.clone(), false, 1)],
            "only for the one who loved"
        );
        let home = app.get("/api/feed?limit=10", Some(&fan.access)).await;
        let items = home.assert_status(200)["items"].as_array().unwrap().clone();
        assert_eq!(items[1]["lovedByMe"], true, "the home feed agrees");
        app.delete(&format!("/api/posts/{p1}/love"), Some(&fan.access))
            .await
            .assert_status(200);
        assert_eq!(
            loved(&app, &author, &fan).await,
            [(p2.clone(), false, 0), (p1.clone(), false, 0)],
            "round {round}: the unlove shows at once"
        );
    }
}

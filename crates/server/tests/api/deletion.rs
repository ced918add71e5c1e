//! Account deletion (`DELETE /api/profile`) and the data export
//! (`GET /api/profile/export`).

use std::collections::BTreeSet;
use std::time::Duration;

use image::ImageFormat;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp, TestUser, image_bytes};

backend_tests!(
    deleting_an_account_removes_every_row_and_file_but_shared_messages,
    deleting_needs_the_password_and_a_session,
    the_export_is_a_zip_of_your_own_data_and_files,
);

async fn multipart(app: &TestApp, method: Method, path: &str, token: &str, png: Vec<u8>) -> Resp {
    let part = Part::bytes(png)
        .file_name("a.png")
        .mime_str("image/png")
        .unwrap();
    app.send(
        app.request(method, path, Some(token))
            .multipart(Form::new().part("file", part)),
    )
    .await
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn send_message(app: &TestApp, u: &TestUser, room: &str, text: &str) -> String {
    let r = app
        .post(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&u.access),
            json!({"text": text, "clientMsgId": text}),
        )
        .await;
    id(r.assert_status(201))
}

/// Every (table, column) of the schema that references `users`, read from
/// the database's catalog: a table added later is covered without editing
/// this test.
async fn user_columns(app: &TestApp) -> Vec<(String, String)> {
    use sqlx::Connection;
    let url = app.database_url();
    let mut cols = Vec::new();
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap().to_owned();
        let c = rusqlite::Connection::open(path).unwrap();
        let mut s = c
            .prepare(
                "SELECT m.name, f.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f
                 WHERE m.type = 'table' AND f.\"table\" = 'users'",
            )
            .unwrap();
        let rows = s
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap();
        for r in rows {
            cols.push(r.unwrap());
        }
    } else {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT kcu.table_name::text, kcu.column_name::text
             FROM information_schema.referential_constraints rc
             JOIN information_schema.key_column_usage kcu
               ON kcu.constraint_name = rc.constraint_name
              AND kcu.constraint_schema = rc.constraint_schema
             JOIN information_schema.constraint_column_usage ccu
               ON ccu.constraint_name = rc.unique_constraint_name
              AND ccu.constraint_schema = rc.unique_constraint_schema
             WHERE ccu.table_name = 'users' AND kcu.table_schema = current_schema()",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        cols.extend(rows);
    }
    cols.push(("users".into(), "id".into()));
    cols.sort();
    cols.dedup();
    cols
}

/// Every key in the server's blob store: files under the data dir's media
/// directory, or the objects under the test's S3 prefix.
async fn blob_keys(app: &TestApp) -> Vec<String> {
    let s = &app.settings;
    match s.s3_location().unwrap() {
        Some(loc) => {
            let endpoint = s.s3_endpoint.clone().unwrap();
            let prefix = loc.prefix.trim_matches('/').to_owned();
            let mut keys = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut url = url::Url::parse(&format!(
                    "{}/{}",
                    endpoint.trim_end_matches('/'),
                    loc.bucket
                ))
                .unwrap();
                url.query_pairs_mut()
                    .append_pair("list-type", "2")
                    .append_pair("prefix", &format!("{prefix}/"));
                if let Some(t) = &token {
                    url.query_pairs_mut().append_pair("continuation-token", t);
                }
                let xml = app
                    .client
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert!(xml.contains("ListBucketResult"), "{xml}");
                keys.extend(xml_values(&xml, "Key"));
                token = xml_values(&xml, "NextContinuationToken").pop();
                if token.is_none() {
                    break;
                }
            }
            keys
        }
        None => {
            let root = s.data_dir.join("media");
            let mut keys = Vec::new();
            let mut dirs = vec![root.clone()];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        dirs.push(p);
                    } else {
                        keys.push(p.strip_prefix(&root).unwrap().display().to_string());
                    }
                }
            }
            keys
        }
    }
}

fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split(&close).next().map(str::to_owned))
        .collect()
}

/// Polls the database until the user row is gone (the worker's last step).
async fn wait_until_removed(app: &TestApp, user: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = app
            .sql_i64(&format!("SELECT COUNT(*) FROM users WHERE id = {user}"))
            .await;
        if n == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not remove the account"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn deleting_an_account_removes_every_row_and_file_but_shared_messages(b: Backend) {
    use base64::Engine;
    let app = TestApp::spawn_with(b, |s| s.push_allowed_hosts = "push.example.org".into()).await;
    let gone = app.register("gone").await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;

    // An avatar, and a post with an image.
    multipart(
        &app,
        Method::PUT,
        "/api/profile/avatar",
        &gone.access,
        image_bytes(40, 40, ImageFormat::Png),
    )
    .await
    .assert_status(200);
    let media = multipart(
        &app,
        Method::POST,
        "/api/media",
        &gone.access,
        image_bytes(32, 24, ImageFormat::Png),
    )
    .await;
    let media_id = id(media.assert_status(201));
    let post = app
        .post(
            "/api/posts",
            Some(&gone.access),
            json!({"text": "hello #farewell @ann", "mediaIds": [media_id]}),
        )
        .await;
    let gone_post = id(post.assert_status(201));
    // Others on the doomed post: a comment, a love.
    let on_gone = app
        .post(
            &format!("/api/posts/{gone_post}/comments"),
            Some(&ann.access),
            json!({"text": "nice"}),
        )
        .await;
    let on_gone = id(on_gone.assert_status(201));
    app.put(&format!("/api/posts/{gone_post}/love"), Some(&ann.access))
        .await
        .assert_status(200);
    app.put(&format!("/api/comments/{on_gone}/love"), Some(&bob.access))
        .await
        .assert_status(200);

    // On ann's post: the doomed user's comment with bob's reply under it,
    // bob's own comment, and loves from both.
    let anns = app
        .post("/api/posts", Some(&ann.access), json!({"text": "ann's"}))
        .await;
    let anns = id(anns.assert_status(201));
    let c = app
        .post(
            &format!("/api/posts/{anns}/comments"),
            Some(&gone.access),
            json!({"text": "from gone"}),
        )
        .await;
    let gone_comment = id(c.assert_status(201));
    app.post(
        &format!("/api/posts/{anns}/comments"),
        Some(&bob.access),
        json!({"text": "reply to gone", "parentId": gone_comment}),
    )
    .await
    .assert_status(201);
    let bobs_comment = app
        .post(
            &format!("/api/posts/{anns}/comments"),
            Some(&bob.access),
            json!({"text": "bob's own"}),
        )
        .await;
    let bobs_comment = id(bobs_comment.assert_status(201));
    for u in [&gone, &bob] {
        app.put(&format!("/api/posts/{anns}/love"), Some(&u.access))
            .await
            .assert_status(200);
    }
    app.put(
        &format!("/api/comments/{bobs_comment}/love"),
        Some(&gone.access),
    )
    .await
    .assert_status(200);
    let before = app
        .get(&format!("/api/posts/{anns}"), Some(&ann.access))
        .await;
    assert_eq!(before.assert_status(200)["loveCount"], 2);
    assert_eq!(before.body["commentCount"], 3);

    // Follows both ways.
    for (a, b) in [(&gone, &ann), (&ann, &gone), (&bob, &gone)] {
        app.put(&format!("/api/users/{}/follow", b.id), Some(&a.access))
            .await
            .assert_status(200);
    }

    // Chat: a group the doomed user owns, and a direct room with ann.
    let group = app
        .post(
            "/api/chat/rooms",
            Some(&gone.access),
            json!({"name": "trio", "memberIds": [ann.id, bob.id]}),
        )
        .await;
    let group = id(group.assert_status(201));
    let direct = app
        .post(
            &format!("/api/chat/direct/{}", ann.id),
            Some(&gone.access),
            Value::Null,
        )
        .await;
    let direct = id(&direct.body);
    let in_group = send_message(&app, &gone, &group, "bye all").await;
    let in_direct = send_message(&app, &gone, &direct, "bye ann").await;
    send_message(&app, &ann, &direct, "why?").await;

    // A push subscription.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let public = app.get("/api/push/vapid-public-key", None).await;
    let p256dh = public.assert_status(200)["publicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        "/api/push/subscriptions",
        Some(&gone.access),
        json!({"endpoint": "https://push.example.org/gone", "keys": {"p256dh": p256dh, "auth": b64.encode([9u8; 16])}}),
    )
    .await
    .assert_status(201);

    // Notifications both ways have arrived.
    app.eventually(
        "/api/notifications",
        &ann.access,
        "ann's notifications from gone",
        |b| {
            b["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["actor"]["id"] == gone.id.as_str())
                .count()
                >= 3
        },
    )
    .await;
    app.eventually(
        "/api/notifications",
        &gone.access,
        "gone's notifications",
        |b| b["items"].as_array().unwrap().len() >= 3,
    )
    .await;
    let blobs_before = blob_keys(&app).await;
    let mine = |k: &String| k.contains(&format!("/{}/", gone.id));
    assert!(
        blobs_before.iter().filter(|k| mine(k)).count() >= 3,
        "the avatar, the image and its preview are stored: {blobs_before:?}"
    );

    // Delete.
    let r = app
        .json(
            Method::DELETE,
            "/api/profile",
            Some(&gone.access),
            json!({"password": gone.password}),
        )
        .await;
    assert_eq!(r.assert_status(202), &json!({"status": "deleting"}));

    // At once: the session is over, login fails, the profile and the post are gone.
    app.get("/api/profile", Some(&gone.access))
        .await
        .assert_error(401, "session_ended");
    app.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": gone.refresh}),
    )
    .await
    .assert_status(401);
    app.post(
        "/api/auth/login",
        None,
        json!({"login": "gone", "password": gone.password}),
    )
    .await
    .assert_error(401, "invalid_credentials");
    app.get(&format!("/api/users/{}", gone.id), Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("/api/posts/{gone_post}"), Some(&ann.access))
        .await
        .assert_status(404);

    // The worker finishes the job.
    wait_until_removed(&app, &gone.id).await;
    let columns = user_columns(&app).await;
    for known in [
        ("chat_messages", "sender_id"),
        ("follows", "followee_id"),
        ("posts", "author_id"),
    ] {
        assert!(
            columns.contains(&(known.0.to_owned(), known.1.to_owned())),
            "the catalog lists {known:?}: {columns:?}"
        );
    }
    for (table, column) in columns {
        let n = app
            .sql_i64(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = {}",
                gone.id
            ))
            .await;
        assert_eq!(n, 0, "{table}.{column} still names the deleted user");
    }
    // Nothing else about their post or comment is left either.
    for (table, column, value) in [
        ("posts", "id", &gone_post),
        ("loves", "target_id", &gone_post),
        ("loves", "target_id", &on_gone),
        ("loves", "target_id", &gone_comment),
        ("comments", "id", &gone_comment),
        ("comments", "post_id", &gone_post),
        ("notifications", "post_id", &gone_post),
        ("notifications", "comment_id", &gone_comment),
        ("media", "id", &media_id),
    ] {
        let n = app
            .sql_i64(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = {value}"
            ))
            .await;
        assert_eq!(n, 0, "{table}.{column} = {value} is left");
    }
    let direct_keys = app
        .sql_i64(&format!(
            "SELECT COUNT(*) FROM chat_rooms WHERE direct_key LIKE '%{}%'",
            gone.id
        ))
        .await;
    assert_eq!(direct_keys, 0, "no direct room key names them");
    let blobs_after = blob_keys(&app).await;
    assert!(
        !blobs_after.iter().any(mine),
        "files of the deleted user remain: {blobs_after:?}"
    );
    assert!(
        blobs_after.len() + 3 <= blobs_before.len(),
        "{blobs_before:?} -> {blobs_after:?}"
    );

    // The others' counts are right again.
    let p = app
        .get(&format!("/api/posts/{anns}"), Some(&ann.access))
        .await;
    assert_eq!(p.assert_status(200)["loveCount"], 1, "bob's love is left");
    assert_eq!(p.body["commentCount"], 1, "bob's own comment is left");
    let comments = app
        .get(&format!("/api/posts/{anns}/comments"), Some(&ann.access))
        .await;
    let items = comments.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], bobs_comment.as_str());
    assert_eq!(items[0]["loveCount"], 0);
    for (u, followers, following) in [(&ann, 0, 0), (&bob, 0, 0)] {
        let v = app
            .get(&format!("/api/users/{}", u.id), Some(&u.access))
            .await;
        assert_eq!(
            v.assert_status(200)["followerCount"],
            followers,
            "{}",
            v.body
        );
        assert_eq!(v.body["followingCount"], following, "{}", v.body);
    }
    // Ann's notifications from them are gone, and her unread count agrees.
    let n = app.get("/api/notifications", Some(&ann.access)).await;
    let listed = n.assert_status(200)["items"].as_array().unwrap().clone();
    assert!(listed.iter().all(|n| n["actor"]["id"] != gone.id.as_str()));
    let unread = listed.iter().filter(|n| n["read"] == false).count();
    let count = app
        .get("/api/notifications/unread-count", Some(&ann.access))
        .await;
    assert_eq!(count.assert_status(200)["count"], unread, "{}", count.body);

    // The messages stay, authorless, in both rooms; the group has a new owner.
    for (room, message) in [(&group, &in_group), (&direct, &in_direct)] {
        let m = app
            .get(
                &format!("/api/chat/rooms/{room}/messages"),
                Some(&ann.access),
            )
            .await;
        let items = m.assert_status(200)["items"].as_array().unwrap().clone();
        let theirs = items
            .iter()
            .find(|x| x["id"] == message.as_str())
            .unwrap_or_else(|| panic!("message {message} is still shown: {items:?}"));
        assert_eq!(theirs["senderId"], Value::Null);
        assert_eq!(theirs["sender"], Value::Null);
    }
    let g = app
        .get(&format!("/api/chat/rooms/{group}"), Some(&bob.access))
        .await;
    let owner = g.assert_status(200)["ownerId"].as_str().unwrap().to_owned();
    assert!(owner == ann.id || owner == bob.id, "{}", g.body);
    let members: BTreeSet<String> = g.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(members, BTreeSet::from([ann.id.clone(), bob.id.clone()]));

    // The username and address are free again.
    let again = app.register("gone").await;
    assert_ne!(again.id, gone.id);
    app.stop().await;
}

async fn deleting_needs_the_password_and_a_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    app.json(
        Method::DELETE,
        "/api/profile",
        None,
        json!({"password": ann.password}),
    )
    .await
    .assert_status(401);
    // Bob's password is not ann's.
    app.json(
        Method::DELETE,
        "/api/profile",
        Some(&ann.access),
        json!({"password": bob.password.clone() + "!"}),
    )
    .await
    .assert_error(403, "wrong_password");
    app.json(Method::DELETE, "/api/profile", Some(&ann.access), json!({}))
        .await
        .assert_status(400);
    app.json(
        Method::DELETE,
        "/api/profile",
        Some(&ann.access),
        json!({"password": ""}),
    )
    .await
    .assert_error(400, "validation_failed");
    // Nothing happened: ann still signs in and is seen.
    app.get("/api/profile", Some(&ann.access))
        .await
        .assert_status(200);
    app.get(&format!("/api/users/{}", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    app.stop().await;
}

/// GETs `url` (absolute, or a path on the server) and returns its bytes.
async fn bytes_at(app: &TestApp, url: &str) -> Vec<u8> {
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        app.url(url)
    };
    let r = app.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

/// Downloads `u`'s export and opens it.
async fn export_of(app: &TestApp, u: &TestUser) -> zip::ZipArchive<std::io::Cursor<Vec<u8>>> {
    let r = app
        .request(Method::GET, "/api/profile/export", Some(&u.access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert_eq!(
        r.headers()["content-disposition"],
        format!(
            "attachment; filename=\"starling-export-{}.zip\"",
            u.username
        )
        .as_str()
    );
    let bytes = r.bytes().await.unwrap().to_vec();
    zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip")
}

fn read_file(z: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut f = z
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} is in the export"));
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    out
}

fn read_json(z: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Value {
    serde_json::from_slice(&read_file(z, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn the_export_is_a_zip_of_your_own_data_and_files(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;

    let profile = multipart(
        &app,
        Method::PUT,
        "/api/profile/avatar",
        &ann.access,
        image_bytes(40, 40, ImageFormat::Png),
    )
    .await;
    let avatar_url = profile.assert_status(200)["avatarUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let media = multipart(
        &app,
        Method::POST,
        "/api/media",
        &ann.access,
        image_bytes(32, 24, ImageFormat::Png),
    )
    .await;
    let media = media.assert_status(201).clone();
    let post = app
        .post(
            "/api/posts",
            Some(&ann.access),
            json!({"text": "my #garden", "mediaIds": [id(&media)]}),
        )
        .await;
    let post = id(post.assert_status(201));
    let bobs = app
        .post(
            "/api/posts",
            Some(&bob.access),
            json!({"text": "bob's secret"}),
        )
        .await;
    let bobs = id(bobs.assert_status(201));
    let comment = app
        .post(
            &format!("/api/posts/{bobs}/comments"),
            Some(&ann.access),
            json!({"text": "ann says hi"}),
        )
        .await;
    let comment = id(comment.assert_status(201));
    app.put(&format!("/api/posts/{bobs}/love"), Some(&ann.access))
        .await
        .assert_status(200);
    app.put(&format!("/api/users/{}/follow", bob.id), Some(&ann.access))
        .await
        .assert_status(200);
    app.put(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    app.put(&format!("/api/posts/{post}/love"), Some(&bob.access))
        .await
        .assert_status(200);
    let direct = app
        .post(
            &format!("/api/chat/direct/{}", bob.id),
            Some(&ann.access),
            Value::Null,
        )
        .await;
    let direct = id(&direct.body);
    let message = send_message(&app, &ann, &direct, "a word to bob").await;
    send_message(&app, &bob, &direct, "bob's answer").await;
    app.eventually(
        "/api/notifications",
        &ann.access,
        "bob's love and follow",
        |b| b["items"].as_array().unwrap().len() >= 2,
    )
    .await;
    let cyd = app.register("cyd").await;
    let dee = app.register("dee").await;
    app.put(&format!("/api/users/{}/block", cyd.id), Some(&ann.access))
        .await
        .assert_status(200);
    app.put(&format!("/api/users/{}/mute", dee.id), Some(&ann.access))
        .await
        .assert_status(200);

    app.get("/api/profile/export", None)
        .await
        .assert_status(401);

    let mut z = export_of(&app, &ann).await;
    let names: BTreeSet<String> = z.file_names().map(|n| n.unwrap().into_owned()).collect();
    for name in [
        "profile.json",
        "posts.json",
        "comments.json",
        "loves.json",
        "following.json",
        "followers.json",
        "blocks.json",
        "mutes.json",
        "messages.json",
        "notifications.json",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    let p = read_json(&mut z, "profile.json");
    assert_eq!(p["id"], ann.id.as_str());
    assert_eq!(p["username"], "ann");
    assert_eq!(p["email"], ann.email.as_str());

    let posts = read_json(&mut z, "posts.json");
    let posts = posts.as_array().unwrap();
    assert_eq!(posts.len(), 1, "only ann's own post: {posts:?}");
    assert_eq!(posts[0]["id"], post.as_str());
    assert_eq!(posts[0]["text"], "my #garden");
    assert_eq!(posts[0]["tags"], json!(["garden"]));
    assert_eq!(posts[0]["loveCount"], 1);
    let media_path = posts[0]["media"][0].as_str().unwrap().to_owned();
    assert!(media_path.starts_with("media/"), "{media_path}");
    // The bytes are the stored upload, as the server serves it.
    let served = bytes_at(&app, media["url"].as_str().unwrap()).await;
    assert_eq!(read_file(&mut z, &media_path), served);
    let avatar_name = p["avatar"].as_str().unwrap().to_owned();
    assert_eq!(
        read_file(&mut z, &avatar_name),
        bytes_at(&app, &avatar_url).await
    );

    let comments = read_json(&mut z, "comments.json");
    assert_eq!(comments.as_array().unwrap().len(), 1);
    assert_eq!(comments[0]["id"], comment.as_str());
    assert_eq!(comments[0]["postId"], bobs.as_str());
    assert_eq!(comments[0]["text"], "ann says hi");
    assert_eq!(
        read_json(&mut z, "loves.json"),
        json!([{"targetType": "post", "targetId": bobs, "createdAt": read_json(&mut z, "loves.json")[0]["createdAt"]}])
    );
    for name in ["following.json", "followers.json"] {
        let v = read_json(&mut z, name);
        assert_eq!(v.as_array().unwrap().len(), 1, "{name}: {v}");
        assert_eq!(v[0]["id"], bob.id.as_str());
        assert_eq!(v[0]["username"], "bob");
    }
    for (name, who) in [("blocks.json", &cyd), ("mutes.json", &dee)] {
        let v = read_json(&mut z, name);
        assert_eq!(v.as_array().unwrap().len(), 1, "{name}: {v}");
        assert_eq!(v[0]["id"], who.id.as_str(), "{name}");
    }
    let messages = read_json(&mut z, "messages.json");
    assert_eq!(
        messages.as_array().unwrap().len(),
        1,
        "only ann's: {messages}"
    );
    assert_eq!(messages[0]["id"], message.as_str());
    assert_eq!(messages[0]["text"], "a word to bob");
    let notes = read_json(&mut z, "notifications.json");
    let kinds: BTreeSet<&str> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains("love") && kinds.contains("follow"),
        "{notes}"
    );
    assert!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["actorId"] == bob.id.as_str())
    );

    // Bob's export is bob's: none of ann's content or files.
    let mut zb = export_of(&app, &bob).await;
    assert_eq!(read_json(&mut zb, "profile.json")["id"], bob.id.as_str());
    let bob_posts = read_json(&mut zb, "posts.json");
    assert_eq!(bob_posts.as_array().unwrap().len(), 1);
    assert_eq!(bob_posts[0]["id"], bobs.as_str());
    assert_eq!(read_json(&mut zb, "comments.json"), json!([]));
    assert!(
        zb.file_names()
            .map(|n| n.unwrap().into_owned())
            .all(|n| !n.starts_with("media/") && !n.starts_with("avatar")),
        "bob uploaded nothing"
    );
    app.stop().await;
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use image::ImageFormat;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{
    Backend, Resp, TestApp, TestUser, broken_png, image_bytes, jpeg_with_exif, not_images,
};
use starling_core::ports::BlobStore;

backend_tests!(
    uploads_are_recognised_by_their_bytes_stored_and_served,
    a_large_image_keeps_its_size_and_gets_a_640_preview,
    exif_is_stripped_from_the_original_and_the_preview,
    what_is_not_an_image_is_refused,
    oversize_uploads_are_413,
    a_post_shows_its_media_in_order_everywhere,
    attaching_someone_elses_upload_is_403_and_writes_nothing,
    an_attached_upload_cannot_be_attached_again,
    media_count_and_text_rules,
    an_idempotent_retry_with_media_returns_the_same_post,
    cleanup_deletes_unattached_uploads_and_media_of_deleted_posts,
    images_over_16_megapixels_are_refused_and_normal_ones_still_work,
    deleting_a_post_deletes_its_media_files_through_the_outbox,
    media_keys_are_unguessable_and_old_keys_still_serve,
);

async fn upload(app: &TestApp, token: &str, bytes: Vec<u8>, name: &str, mime: &str) -> Resp {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap();
    let form = Form::new().part("file", part);
    app.send(
        app.request(Method::POST, "/api/media", Some(token))
            .multipart(form),
    )
    .await
}

/// Uploads a small PNG and returns the media JSON.
async fn upload_png(app: &TestApp, u: &TestUser) -> Value {
    upload(
        app,
        &u.access,
        image_bytes(32, 24, ImageFormat::Png),
        "a.png",
        "image/png",
    )
    .await
    .assert_status(201)
    .clone()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(app.url(url)).send().await.unwrap()
}

/// Fetches a media URL: status, content type and bytes.
async fn fetch_media(app: &TestApp, url: &str) -> (u16, String, Vec<u8>) {
    let r = fetch(app, url).await;
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

async fn create_post(app: &TestApp, u: &TestUser, text: &str, media: &[&str]) -> Resp {
    app.post(
        "/api/posts",
        Some(&u.access),
        json!({"text": text, "mediaIds": media}),
    )
    .await
}

fn media_ids(post: &Value) -> Vec<String> {
    post["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect()
}

fn post_count(r: &Resp) -> usize {
    r.body["items"].as_array().map_or(0, Vec::len)
}

async fn uploads_are_recognised_by_their_bytes_stored_and_served(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("uploader").await;
    for (fmt, stored_as) in [
        (ImageFormat::Png, "image/png"),
        (ImageFormat::Jpeg, "image/jpeg"),
        // WebP and GIF are re-encoded as PNG (no metadata, no animation).
        (ImageFormat::WebP, "image/png"),
        (ImageFormat::Gif, "image/png"),
    ] {
        // The name and declared type are misleading: the bytes decide.
        let r = upload(
            &app,
            &u.access,
            image_bytes(120, 90, fmt),
            "file.txt",
            "application/octet-stream",
        )
        .await;
        let m = r.assert_status(201);
        let id = id_of(m);
        assert!(id.parse::<i64>().unwrap() > 0);
        assert_eq!(m["contentType"], stored_as, "{fmt:?}: {}", r.text);
        assert_eq!(
            (m["width"].as_i64(), m["height"].as_i64()),
            (Some(120), Some(90))
        );
        let url = m["url"].as_str().unwrap();
        let preview = m["previewUrl"].as_str().unwrap();
        let ext = if stored_as == "image/jpeg" {
            "jpg"
        } else {
            "png"
        };
        // `/media/media/{owner}/{id}-{128 random bits in hex}.{ext}`.
        let secret = secret_of(url, &u.id, &id, ext);
        assert_eq!(
            preview,
            format!("/media/media/{}/{id}-{secret}-preview.{ext}", u.id)
        );
        // Not served before a post shows it.
        for url in [url, preview] {
            let (status, _, _) = fetch_media(&app, url).await;
            assert_eq!(status, 404, "{url} is served before it is attached");
        }
        create_post(&app, &u, "", &[&id]).await.assert_status(201);
        let (status, ct, bytes) = fetch_media(&app, url).await;
        assert_eq!((status, ct.as_str()), (200, stored_as));
        assert_eq!(bytes.len() as i64, m["size"].as_i64().unwrap(), "size");
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (120, 90));
        let (status, ct, bytes) = fetch_media(&app, preview).await;
        assert_eq!((status, ct.as_str()), (200, stored_as));
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (120, 90), "never enlarged");
    }
    // Uploading needs a session.
    let part = Part::bytes(image_bytes(8, 8, ImageFormat::Png)).file_name("a.png");
    app.send(
        app.request(Method::POST, "/api/media", None)
            .multipart(Form::new().part("file", part)),
    )
    .await
    .assert_error(401, "unauthenticated");
}

async fn a_large_image_keeps_its_size_and_gets_a_640_preview(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("big_picture").await;
    let bytes = image_bytes(2000, 1000, ImageFormat::Jpeg);
    let r = upload(&app, &u.access, bytes, "wide.jpg", "image/jpeg").await;
    let m = r.assert_status(201);
    create_post(&app, &u, "", &[&id_of(m)])
        .await
        .assert_status(201);
    assert_eq!(
        (m["width"].as_i64(), m["height"].as_i64()),
        (Some(2000), Some(1000))
    );
    let (status, _, original) = fetch_media(&app, m["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let img = image::load_from_memory(&original).unwrap();
    assert_eq!((img.width(), img.height()), (2000, 1000));
    let (status, ct, preview) = fetch_media(&app, m["previewUrl"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    let img = image::load_from_memory(&preview).unwrap();
    assert_eq!((img.width(), img.height()), (640, 320));
    assert!(preview.len() < original.len());
    // A tall one is fitted within 640x640 too.
    let r = upload(
        &app,
        &u.access,
        image_bytes(300, 900, ImageFormat::Png),
        "tall.png",
        "image/png",
    )
    .await;
    let m = r.assert_status(201);
    create_post(&app, &u, "", &[&id_of(m)])
        .await
        .assert_status(201);
    let (_, _, preview) = fetch_media(&app, m["previewUrl"].as_str().unwrap()).await;
    let img = image::load_from_memory(&preview).unwrap();
    assert_eq!((img.width(), img.height()), (213, 640));
    // Larger than the app ever shows: stored within 2048x2048, no full-size copy.
    let r = upload(
        &app,
        &u.access,
        image_bytes(3000, 1500, ImageFormat::Jpeg),
        "huge.jpg",
        "image/jpeg",
    )
    .await;
    let m = r.assert_status(201);
    assert_eq!(
        (m["width"].as_i64(), m["height"].as_i64()),
        (Some(2048), Some(1024))
    );
    create_post(&app, &u, "", &[&id_of(m)])
        .await
        .assert_status(201);
    let (status, _, stored) = fetch_media(&app, m["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let img = image::load_from_memory(&stored).unwrap();
    assert_eq!((img.width(), img.height()), (2048, 1024));
    assert_eq!(stored.len() as i64, m["size"].as_i64().unwrap());
    let (_, _, preview) = fetch_media(&app, m["previewUrl"].as_str().unwrap()).await;
    let img = image::load_from_memory(&preview).unwrap();
    assert_eq!((img.width(), img.height()), (640, 320));
}

async fn exif_is_stripped_from_the_original_and_the_preview(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("privacy").await;
    // A JPEG carrying an APP1 EXIF segment with a GPS-looking payload.
    let with_exif = jpeg_with_exif(800, 600);
    assert!(with_exif.windows(6).any(|w| w == b"SECRET"));
    let r = upload(&app, &u.access, with_exif, "holiday.jpg", "image/jpeg").await;
    let m = r.assert_status(201);
    create_post(&app, &u, "", &[&id_of(m)])
        .await
        .assert_status(201);
    for key in ["url", "previewUrl"] {
        let (status, ct, bytes) = fetch_media(&app, m[key].as_str().unwrap()).await;
        assert_eq!((status, ct.as_str()), (200, "image/jpeg"), "{key}");
        assert!(
            !bytes.windows(4).any(|w| w == b"Exif"),
            "{key}: EXIF stripped"
        );
        assert!(
            !bytes.windows(6).any(|w| w == b"SECRET"),
            "{key}: metadata gone"
        );
        image::load_from_memory(&bytes).unwrap();
    }
    assert_eq!(
        (m["width"].as_i64(), m["height"].as_i64()),
        (Some(800), Some(600))
    );
}

async fn what_is_not_an_image_is_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("careful").await;
    for (bytes, name, mime) in not_images() {
        upload(&app, &u.access, bytes, name, mime)
            .await
            .assert_error(415, "unsupported_media_type");
    }
    // PNG magic followed by garbage: recognised, but undecodable.
    upload(&app, &u.access, broken_png(), "a.png", "image/png")
        .await
        .assert_error(422, "invalid_image");
    // No `file` field.
    let form = Form::new().text("other", "x");
    let r = app
        .send(
            app.request(Method::POST, "/api/media", Some(&u.access))
                .multipart(form),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert!(r.body["error"]["fields"]["file"].is_string(), "{}", r.text);
    // Not multipart at all.
    app.post("/api/media", Some(&u.access), json!({"file": "x"}))
        .await
        .assert_error(415, "unsupported_media_type");
    // Nothing was stored: an empty post cannot find anything to attach, and
    // this user's media directory holds nothing (embedded backend).
    let dir = app.data_dir.path().join("media/media").join(&u.id);
    assert!(!dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_none());
}

async fn oversize_uploads_are_413(b: Backend) {
    let app = TestApp::spawn(b.clone()).await;
    let u = app.register("huge").await;
    // Refused from the declared length (11 MiB > 10 MiB) before the body is read.
    app.declared_body(
        "POST",
        "/api/media",
        Some(&u.access),
        "multipart/form-data; boundary=xyz",
        11 * 1024 * 1024,
    )
    .await
    .assert_error(413, "payload_too_large");
    // The avatar route keeps its own, smaller limit (5 MiB).
    app.declared_body(
        "PUT",
        "/api/profile/avatar",
        Some(&u.access),
        "multipart/form-data; boundary=xyz",
        6 * 1024 * 1024,
    )
    .await
    .assert_error(413, "payload_too_large");
    drop(app);

    // With a small limit, a body within the multipart allowance is read and
    // refused by the rule.
    let app = TestApp::spawn_with(b, |s| s.media_max_bytes = 20_000).await;
    let u = app.register("huge2").await;
    let big = image_bytes(100, 100, ImageFormat::Png);
    assert!(
        big.len() > 20_000 && big.len() < 20_000 + 60_000,
        "{}",
        big.len()
    );
    upload(&app, &u.access, big, "big.png", "image/png")
        .await
        .assert_error(413, "payload_too_large");
    // Just under it is fine.
    upload(
        &app,
        &u.access,
        image_bytes(40, 40, ImageFormat::Png),
        "ok.png",
        "image/png",
    )
    .await
    .assert_status(201);
}

async fn a_post_shows_its_media_in_order_everywhere(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("photographer").await;
    let fan = app.register("fan").await;
    app.put(&format!("/api/users/{}/follow", a.id), Some(&fan.access))
        .await
        .assert_status(200);
    let first = upload_png(&app, &a).await;
    let second = upload(
        &app,
        &a.access,
        image_bytes(64, 48, ImageFormat::Jpeg),
        "b.jpg",
        "image/jpeg",
    )
    .await
    .assert_status(201)
    .clone();
    // Listed second first: the post keeps the order given.
    let order = [id_of(&second), id_of(&first)];
    let r = create_post(&app, &a, "two pictures", &[&order[0], &order[1]]).await;
    let p = r.assert_status(201).clone();
    assert_eq!(media_ids(&p), order);
    assert_eq!(
        p["media"][0], second,
        "the same object as the upload answer"
    );
    assert_eq!(p["media"][1], first);
    let id = id_of(&p);

    let got = app.get(&format!("/api/posts/{id}"), None).await;
    assert_eq!(media_ids(got.assert_status(200)), order);
    for (path, token) in [
        ("/api/feed".to_owned(), Some(fan.access.as_str())),
        ("/api/feed".to_owned(), Some(a.access.as_str())),
        ("/api/feed/public".to_owned(), None),
        (format!("/api/users/{}/posts", a.id), None),
        (format!("/api/posts?ids={id}"), None),
    ] {
        let r = app.get(&path, token).await;
        let items = r.assert_status(200)["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{path}: {}", r.text);
        assert_eq!(media_ids(&items[0]), order, "{path}");
        assert_eq!(items[0]["media"][0]["previewUrl"], second["previewUrl"]);
    }
    // A post without media among them has none.
    let plain = create_post(&app, &a, "words only", &[]).await;
    assert_eq!(plain.assert_status(201)["media"], json!([]));
    let r = app.get("/api/feed/public", None).await;
    let items = r.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["media"], json!([]));
    assert_eq!(media_ids(&items[1]), order);

    // Editing the text keeps the media.
    let e = app
        .json(
            Method::PATCH,
            &format!("/api/posts/{id}"),
            Some(&a.access),
            json!({"text": "edited"}),
        )
        .await;
    assert_eq!(media_ids(e.assert_status(200)), order);
    // Editing cannot carry media (PATCH takes text only).
    app.json(
        Method::PATCH,
        &format!("/api/posts/{id}"),
        Some(&a.access),
        json!({"text": "x", "mediaIds": []}),
    )
    .await
    .assert_error(400, "validation_failed");
    // The files stay served while the post lives.
    for m in [&first, &second] {
        let (status, _, _) = fetch_media(&app, m["url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
    }
}

async fn attaching_someone_elses_upload_is_403_and_writes_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.register("owner").await;
    let thief = app.register("thief").await;
    let theirs = id_of(&upload_png(&app, &owner).await);
    let mine = id_of(&upload_png(&app, &thief).await);
    // Own upload first, then someone else's: the whole post is refused.
    let r = create_post(&app, &thief, "look what I made", &[&mine, &theirs]).await;
    r.assert_error(403, "forbidden");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("uploader"),
        "{}",
        r.text
    );
    // Nothing written: no post anywhere, and the thief's own upload was not
    // left attached to a phantom post.
    let feed = app.get("/api/feed", Some(&thief.access)).await;
    assert_eq!(post_count(&feed), 0, "{}", feed.text);
    let theirs_feed = app
        .get(&format!("/api/users/{}/posts", thief.id), None)
        .await;
    assert_eq!(post_count(&theirs_feed), 0);
    let public = app.get("/api/feed/public", None).await;
    assert_eq!(post_count(&public), 0);
    let r = create_post(&app, &thief, "", &[&mine]).await;
    assert_eq!(media_ids(r.assert_status(201)), [mine.as_str()]);
    // The owner can still attach theirs.
    let r = create_post(&app, &owner, "mine", &[&theirs]).await;
    assert_eq!(media_ids(r.assert_status(201)), [theirs.as_str()]);
    // Once attached, someone else still gets 403 (not 409: it is not theirs).
    create_post(&app, &thief, "again", &[&theirs])
        .await
        .assert_error(403, "forbidden");
    // Unknown uploads are 404; malformed ids are 400.
    create_post(&app, &thief, "ghost", &["123456789"])
        .await
        .assert_error(404, "not_found");
    create_post(&app, &thief, "bad", &["abc"])
        .await
        .assert_error(400, "validation_failed");
    let public = app.get("/api/feed/public", None).await;
    assert_eq!(post_count(&public), 2);
}

async fn an_attached_upload_cannot_be_attached_again(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("reuser").await;
    let m1 = id_of(&upload_png(&app, &a).await);
    let m2 = id_of(&upload_png(&app, &a).await);
    let first = create_post(&app, &a, "first", &[&m1]).await;
    let first_id = id_of(first.assert_status(201));
    // m2 is free, m1 is taken: the post is refused and m2 stays free.
    let r = create_post(&app, &a, "second", &[&m2, &m1]).await;
    r.assert_error(409, "media_already_attached");
    let mine = app.get(&format!("/api/users/{}/posts", a.id), None).await;
    assert_eq!(post_count(&mine), 1, "{}", mine.text);
    let r = create_post(&app, &a, "second", &[&m2]).await;
    assert_eq!(media_ids(r.assert_status(201)), [m2.as_str()]);
    // The first post still shows only its own upload.
    let got = app.get(&format!("/api/posts/{first_id}"), None).await;
    assert_eq!(media_ids(got.assert_status(200)), [m1]);
    // An upload of a deleted post is not reusable either.
    app.delete(&format!("/api/posts/{first_id}"), Some(&a.access))
        .await
        .assert_status(204);
    let m3 = id_of(&upload_png(&app, &a).await);
    let r = create_post(&app, &a, "third", &[&m3]).await;
    let third = id_of(r.assert_status(201));
    app.delete(&format!("/api/posts/{third}"), Some(&a.access))
        .await
        .assert_status(204);
    // Until the `post.deleted` handler has removed it, it is still attached
    // (409); afterwards it does not exist (404). Never attachable.
    let r = create_post(&app, &a, "fourth", &[&m3]).await;
    if r.status != 404 {
        r.assert_error(409, "media_already_attached");
    }
    assert!(
        wait_row_gone(&app, &m3, Duration::from_secs(10)).await,
        "the upload of a deleted post was not removed"
    );
    create_post(&app, &a, "fourth", &[&m3])
        .await
        .assert_error(404, "not_found");
}

/// Polls until the media row `id` is gone, for up to `within`.
async fn wait_row_gone(app: &TestApp, id: &str, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        let n = app
            .sql_i64(&format!("SELECT COUNT(*) FROM media WHERE id = {id}"))
            .await;
        if n == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn media_count_and_text_rules(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("counter").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(id_of(&upload_png(&app, &a).await));
    }
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    create_post(&app, &a, "five", &all)
        .await
        .assert_error(422, "too_many_media");
    let r = create_post(&app, &a, "twice", &[all[0], all[0]]).await;
    r.assert_error(400, "validation_failed");
    assert!(
        r.body["error"]["fields"]["mediaIds"].is_string(),
        "{}",
        r.text
    );
    // Without media the text is required; an empty list is no media.
    create_post(&app, &a, "   ", &[])
        .await
        .assert_error(422, "text_required");
    app.post("/api/posts", Some(&a.access), json!({"text": ""}))
        .await
        .assert_error(422, "text_required");
    app.post(
        "/api/posts",
        Some(&a.access),
        json!({"text": "", "mediaIds": null}),
    )
    .await
    .assert_error(422, "text_required");
    // Too long is too long, media or not.
    create_post(&app, &a, &"x".repeat(5001), &[all[0]])
        .await
        .assert_error(422, "text_too_long");
    let mine = app.get(&format!("/api/users/{}/posts", a.id), None).await;
    assert_eq!(post_count(&mine), 0, "nothing written");
    // With media, empty or blank text is fine; four is the most.
    let r = create_post(&app, &a, "", &all[..4]).await;
    let p = r.assert_status(201);
    assert_eq!(p["text"], "");
    assert_eq!(media_ids(p), ids[..4]);
    let r = create_post(&app, &a, "  \n ", &[all[4]]).await;
    assert_eq!(media_ids(r.assert_status(201)), [ids[4].as_str()]);
    let r = create_post(&app, &a, &"é".repeat(5000), &[]).await;
    r.assert_status(201);
}

async fn an_idempotent_retry_with_media_returns_the_same_post(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.register("retry_media").await;
    let m = id_of(&upload_png(&app, &a).await);
    let send = || {
        app.send(
            app.request(Method::POST, "/api/posts", Some(&a.access))
                .header("idempotency-key", "with-media-1")
                .json(&json!({"text": "", "mediaIds": [m]})),
        )
    };
    let first = send().await;
    let p = first.assert_status(201).clone();
    assert_eq!(media_ids(&p), [m.as_str()]);
    // The retry does not try to attach again (which would be a 409).
    let again = send().await;
    let q = again.assert_status(200);
    assert_eq!(q["id"], p["id"]);
    assert_eq!(media_ids(q), [m.as_str()]);
    let mine = app.get(&format!("/api/users/{}/posts", a.id), None).await;
    assert_eq!(post_count(&mine), 1);
}

/// Polls until the files behind a media object are deleted from the store,
/// for up to `within`.
async fn wait_gone(blobs: &dyn BlobStore, url: &str, within: Duration) -> bool {
    let key = url.strip_prefix("/media/").unwrap();
    let start = Instant::now();
    while start.elapsed() < within {
        if blobs.get(key).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

async fn cleanup_deletes_unattached_uploads_and_media_of_deleted_posts(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.media_unattached_ttl_secs = 2;
        s.media_cleanup_interval_secs = 1;
    })
    .await;
    let blobs = blob_store(&app).await;
    let a = app.register("tidy").await;
    let unattached = upload_png(&app, &a).await;
    let kept = upload_png(&app, &a).await;
    let released = upload_png(&app, &a).await;
    // Attached at once (well within the 2 s), so never due.
    let r = create_post(&app, &a, "kept", &[&id_of(&kept)]).await;
    let kept_post = id_of(r.assert_status(201));
    let r = create_post(&app, &a, "to delete", &[&id_of(&released)]).await;
    let deleted_post = id_of(r.assert_status(201));
    app.delete(&format!("/api/posts/{deleted_post}"), Some(&a.access))
        .await
        .assert_status(204);

    for m in [&unattached, &released] {
        for key in ["url", "previewUrl"] {
            let url = m[key].as_str().unwrap();
            let (status, _, _) = fetch_media(&app, url).await;
            assert_eq!(status, 404, "{url} is not served");
            assert!(
                wait_gone(&*blobs, url, Duration::from_secs(15)).await,
                "{url} was not cleaned up"
            );
        }
    }
    // The unattached upload can no longer be attached: it no longer exists.
    assert!(wait_row_gone(&app, &id_of(&unattached), Duration::from_secs(15)).await);
    create_post(&app, &a, "late", &[&id_of(&unattached)])
        .await
        .assert_error(404, "not_found");
    // The attached one stays, files and all.
    for key in ["url", "previewUrl"] {
        let (status, _, _) = fetch_media(&app, kept[key].as_str().unwrap()).await;
        assert_eq!(status, 200, "{key} of an attached upload is kept");
    }
    let got = app.get(&format!("/api/posts/{kept_post}"), None).await;
    assert_eq!(media_ids(got.assert_status(200)), [id_of(&kept)]);
}

/// The random part of a new media URL, checked: 32 lowercase hex digits
/// between the id and the extension.
fn secret_of(url: &str, owner: &str, id: &str, ext: &str) -> String {
    let prefix = format!("/media/media/{owner}/{id}-");
    let secret = url
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(&format!(".{ext}")))
        .unwrap_or_else(|| panic!("{url} is not {prefix}<secret>.{ext}"));
    assert_eq!(secret.len(), 32, "{url}: 128 bits in hex");
    assert!(
        secret
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{url}"
    );
    secret.to_owned()
}

/// The server's media store, opened beside it from its settings.
async fn blob_store(app: &TestApp) -> Arc<dyn BlobStore> {
    let s = &app.settings;
    match s.s3_location().unwrap() {
        Some(loc) => Arc::new(
            starling_adapters::S3BlobStore::new(&starling_adapters::S3Options {
                bucket: loc.bucket,
                prefix: loc.prefix,
                endpoint: s.s3_endpoint.clone(),
                region: s.s3_region.clone(),
                access_key_id: s.s3_access_key_id.clone(),
                secret_access_key: s.s3_secret_access_key.clone(),
            })
            .unwrap(),
        ),
        None => Arc::new(
            starling_adapters::FsBlobStore::open(s.data_dir.join("media"))
                .await
                .unwrap(),
        ),
    }
}

/// Runs one statement on the server's database, behind its back.
async fn sql_exec(app: &TestApp, statement: &str) {
    use sqlx::Connection;
    let url = app.database_url();
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap().to_owned();
        let c = rusqlite::Connection::open(path).unwrap();
        c.execute(statement, []).unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut c)
            .await
            .unwrap();
    }
}

/// A PNG of `w` x `h` black pixels, 8-bit grey: a huge canvas in a small file.
fn blank_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::GrayImage::new(w, h)
        .write_to(&mut out, ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

async fn images_over_16_megapixels_are_refused_and_normal_ones_still_work(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("bomber").await;
    // 64 MP in a small file: refused from its header, before any decoding.
    let bomb = blank_png(8000, 8000);
    assert!(bomb.len() < 512 * 1024, "{}", bomb.len());
    let r = upload(&app, &u.access, bomb.clone(), "bomb.png", "image/png").await;
    r.assert_error(422, "image_too_large");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("8000x8000") && message.contains("16 megapixels"),
        "{message}"
    );
    // One pixel row over the cap is over; exactly 16 MP is accepted and
    // stored at the display size.
    upload(&app, &u.access, blank_png(4096, 4097), "a.png", "image/png")
        .await
        .assert_error(422, "image_too_large");
    let r = upload(&app, &u.access, blank_png(4096, 4096), "b.png", "image/png").await;
    let m = r.assert_status(201);
    assert_eq!(
        (m["width"].as_i64(), m["height"].as_i64()),
        (Some(2048), Some(2048))
    );
    // A long, thin image over the side limit is refused too.
    upload(&app, &u.access, blank_png(16_385, 8), "c.png", "image/png")
        .await
        .assert_error(422, "image_too_large");
    // Under 16 MP but 16 bits per channel: over the decoder's 64 MiB.
    let deep = image::DynamicImage::ImageRgba16(image::ImageBuffer::new(3000, 3000));
    let mut out = std::io::Cursor::new(Vec::new());
    deep.write_to(&mut out, ImageFormat::Png).unwrap();
    let r = upload(&app, &u.access, out.into_inner(), "d.png", "image/png").await;
    r.assert_error(422, "image_too_large");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 MiB"),
        "{}",
        r.text
    );
    // The avatar route has the same limits.
    let part = Part::bytes(bomb).file_name("bomb.png");
    app.send(
        app.request(Method::PUT, "/api/profile/avatar", Some(&u.access))
            .multipart(Form::new().part("file", part)),
    )
    .await
    .assert_error(422, "image_too_large");
    // A normal image still goes through, and shows in a post.
    let ok = upload_png(&app, &u).await;
    let r = create_post(&app, &u, "fine", &[&id_of(&ok)]).await;
    r.assert_status(201);
    let (status, ct, _) = fetch_media(&app, ok["url"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
}

async fn deleting_a_post_deletes_its_media_files_through_the_outbox(b: Backend) {
    // The cleanup job runs once at start and then not for 10 minutes: what
    // deletes the files here is the `post.deleted` event's handler.
    let app = TestApp::spawn(b).await;
    let blobs = blob_store(&app).await;
    let a = app.register("deleter").await;
    let first = upload_png(&app, &a).await;
    let second = upload_png(&app, &a).await;
    let kept = upload_png(&app, &a).await;
    let r = create_post(&app, &a, "two", &[&id_of(&first), &id_of(&second)]).await;
    let post = id_of(r.assert_status(201));
    create_post(&app, &a, "kept", &[&id_of(&kept)])
        .await
        .assert_status(201);
    let keys = |m: &Value| {
        ["url", "previewUrl"].map(|k| {
            m[k].as_str()
                .unwrap()
                .strip_prefix("/media/")
                .unwrap()
                .to_owned()
        })
    };
    for m in [&first, &second] {
        let (status, _, _) = fetch_media(&app, m["url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        for key in keys(m) {
            assert!(blobs.get(&key).await.unwrap().is_some(), "{key} stored");
        }
    }
    app.delete(&format!("/api/posts/{post}"), Some(&a.access))
        .await
        .assert_status(204);
    // Not served from the moment the post is gone ...
    for m in [&first, &second] {
        for key in ["url", "previewUrl"] {
            let r = fetch(&app, m[key].as_str().unwrap()).await;
            assert_eq!(r.status(), 404, "{key} still served");
        }
    }
    // ... and the files and rows follow within moments (the outbox is
    // asynchronous).
    let deadline = Instant::now() + Duration::from_secs(10);
    for m in [&first, &second] {
        for key in keys(m) {
            while blobs.get(&key).await.unwrap().is_some() {
                assert!(Instant::now() < deadline, "{key} was not deleted");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let id = id_of(m);
        while app
            .sql_i64(&format!("SELECT COUNT(*) FROM media WHERE id = {id}"))
            .await
            > 0
        {
            assert!(Instant::now() < deadline, "the row of {id} was not deleted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Another post's media are untouched.
    for key in keys(&kept) {
        assert!(blobs.get(&key).await.unwrap().is_some(), "{key} kept");
    }
    let (status, _, _) = fetch_media(&app, kept["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
}

async fn media_keys_are_unguessable_and_old_keys_still_serve(b: Backend) {
    let app = TestApp::spawn(b).await;
    let blobs = blob_store(&app).await;
    let a = app.register("keys").await;
    let m1 = upload_png(&app, &a).await;
    let m2 = upload_png(&app, &a).await;
    let s1 = secret_of(m1["url"].as_str().unwrap(), &a.id, &id_of(&m1), "png");
    let s2 = secret_of(m2["url"].as_str().unwrap(), &a.id, &id_of(&m2), "png");
    assert_ne!(s1, s2);
    create_post(&app, &a, "", &[&id_of(&m1), &id_of(&m2)])
        .await
        .assert_status(201);
    // Knowing the owner and the id is not enough.
    let id = id_of(&m1);
    for guess in [
        format!("/media/media/{}/{id}.png", a.id),
        format!("/media/media/{}/{id}-preview.png", a.id),
        format!("/media/media/{}/{id}-{s2}.png", a.id),
    ] {
        let r = fetch(&app, &guess).await;
        assert_eq!(r.status(), 404, "{guess}");
    }

    // An upload stored before keys had a secret (`{id}.png`, `{id}-preview.png`).
    let m3 = upload_png(&app, &a).await;
    let id3 = id_of(&m3);
    let (old, old_preview) = (
        format!("media/{}/{id3}.png", a.id),
        format!("media/{}/{id3}-preview.png", a.id),
    );
    for (from, to) in [("url", &old), ("previewUrl", &old_preview)] {
        let key = m3[from].as_str().unwrap().strip_prefix("/media/").unwrap();
        let blob = blobs.get(key).await.unwrap().unwrap();
        blobs.put(to, blob.bytes).await.unwrap();
        blobs.delete(key).await.unwrap();
    }
    sql_exec(
        &app,
        &format!(
            "UPDATE media SET blob_key = '{old}', preview_key = '{old_preview}' WHERE id = {id3}"
        ),
    )
    .await;
    let r = create_post(&app, &a, "old", &[&id3]).await;
    let p = r.assert_status(201);
    assert_eq!(p["media"][0]["url"], format!("/media/{old}"));
    for key in [&old, &old_preview] {
        let (status, ct, bytes) = fetch_media(&app, &format!("/media/{key}")).await;
        assert_eq!((status, ct.as_str()), (200, "image/png"), "{key}");
        image::load_from_memory(&bytes).unwrap();
    }
}

use image::ImageFormat;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp, broken_png, image_bytes, jpeg_with_exif, not_images};

backend_tests!(
    profile_updates_change_only_the_fields_sent,
    profile_validation_refuses_and_writes_nothing,
    avatar_is_recognised_resized_stripped_and_served,
    avatar_rejects_what_is_not_an_image_by_its_bytes,
    avatar_over_the_size_limit_is_413,
    replacing_an_avatar_deletes_the_old_file,
    avatar_upload_needs_a_file_field_and_a_session,
);

async fn upload(app: &TestApp, token: &str, bytes: Vec<u8>, name: &str, mime: &str) -> Resp {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap();
    let form = Form::new().part("file", part);
    app.send(
        app.request(Method::PUT, "/api/profile/avatar", Some(token))
            .multipart(form),
    )
    .await
}

async fn profile_updates_change_only_the_fields_sent(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("lena").await;
    let t = Some(u.access.as_str());
    let r = app
        .json(
            Method::PATCH,
            "/api/profile",
            t,
            json!({"displayName": "  Lena K  ", "bio": "Hello\nworld"}),
        )
        .await;
    let p = r.assert_status(200);
    assert_eq!(p["displayName"], "Lena K", "trimmed");
    assert_eq!(p["bio"], "Hello\nworld");
    // Only bio: the display name stays.
    let r = app
        .json(Method::PATCH, "/api/profile", t, json!({"bio": "new bio"}))
        .await;
    assert_eq!(r.assert_status(200)["displayName"], "Lena K");
    // Null clears.
    let r = app
        .json(
            Method::PATCH,
            "/api/profile",
            t,
            json!({"displayName": null}),
        )
        .await;
    let p = r.assert_status(200);
    assert_eq!(p["displayName"], Value::Null);
    assert_eq!(p["bio"], "new bio");
    // A 500-character bio is fine.
    let r = app
        .json(
            Method::PATCH,
            "/api/profile",
            t,
            json!({"bio": "b".repeat(500)}),
        )
        .await;
    assert_eq!(
        r.assert_status(200)["bio"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        500
    );
    // Others see the change.
    let other = app.register("mike").await;
    let seen = app
        .get(&format!("/api/users/{}", u.id), Some(&other.access))
        .await;
    assert_eq!(seen.assert_status(200)["bio"].as_str().unwrap().len(), 500);
    assert!(seen.body.get("email").is_none(), "email is private");
}

async fn profile_validation_refuses_and_writes_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("nora").await;
    let t = Some(u.access.as_str());
    app.json(Method::PATCH, "/api/profile", t, json!({"bio": "kept"}))
        .await
        .assert_status(200);
    for (body, field) in [
        (json!({"bio": "b".repeat(501)}), "bio"),
        (json!({"displayName": "d".repeat(51)}), "displayName"),
        (json!({"displayName": "bell\u{7}"}), "displayName"),
        (json!({"bio": 42}), "bio"),
        (json!({"displayname": "typo"}), "displayname"),
        (
            json!({"bio": "ok", "displayName": "d".repeat(51)}),
            "displayName",
        ),
    ] {
        let r = app
            .json(Method::PATCH, "/api/profile", t, body.clone())
            .await;
        r.assert_error(400, "validation_failed");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.text
        );
    }
    let me = app.get("/api/profile", t).await;
    assert_eq!(me.body["bio"], "kept", "no partial write");
    assert_eq!(me.body["displayName"], Value::Null);
}

async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    let full = if url.starts_with('/') {
        app.url(url)
    } else {
        url.to_owned()
    };
    app.client.get(full).send().await.unwrap()
}

async fn avatar_is_recognised_resized_stripped_and_served(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("olga").await;
    // A PNG declared as something else, with a misleading name: the bytes decide.
    let r = upload(
        &app,
        &u.access,
        image_bytes(1000, 800, ImageFormat::Png),
        "photo.txt",
        "application/octet-stream",
    )
    .await;
    let url = r.assert_status(200)["avatarUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with("/media/avatars/"), "{url}");
    let got = fetch(&app, &url).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    let cc = got.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        cc.contains("max-age=31536000") && cc.contains("immutable"),
        "{cc}"
    );
    let etag = got.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = got.bytes().await.unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (400, 320),
        "fitted within 400x400"
    );
    let not_modified = app
        .client
        .get(app.url(&url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    // A JPEG carrying EXIF (with a GPS-looking payload) comes back without it.
    let with_exif = jpeg_with_exif(300, 200);
    let r = upload(&app, &u.access, with_exif, "me.jpg", "image/jpeg").await;
    let url = r.assert_status(200)["avatarUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = fetch(&app, &url).await;
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    let bytes = got.bytes().await.unwrap();
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "EXIF stripped");
    assert!(!bytes.windows(6).any(|w| w == b"SECRET"), "metadata gone");
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (300, 200),
        "small images keep their size"
    );

    // WebP and GIF are accepted too.
    for fmt in [ImageFormat::WebP, ImageFormat::Gif] {
        upload(
            &app,
            &u.access,
            image_bytes(64, 64, fmt),
            "x.bin",
            "application/octet-stream",
        )
        .await
        .assert_status(200);
    }
    // Everyone sees the avatar URL on the profile.
    let seen = app.get(&format!("/api/users/{}", u.id), None).await;
    assert!(
        seen.body["avatarUrl"]
            .as_str()
            .unwrap()
            .starts_with("/media/avatars/")
    );
}

async fn avatar_rejects_what_is_not_an_image_by_its_bytes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("paul").await;
    for (bytes, name, mime) in not_images() {
        upload(&app, &u.access, bytes, name, mime)
            .await
            .assert_error(415, "unsupported_media_type");
    }
    // PNG magic followed by garbage: recognised, but undecodable.
    upload(&app, &u.access, broken_png(), "a.png", "image/png")
        .await
        .assert_error(422, "invalid_image");
    let me = app.get("/api/profile", Some(&u.access)).await;
    assert_eq!(me.body["avatarUrl"], Value::Null, "nothing stored");
}

async fn avatar_over_the_size_limit_is_413(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.avatar_max_bytes = 20_000).await;
    let u = app.register("quinn").await;
    // Over the 20 kB limit but within the multipart allowance: the whole body
    // is read, and the service refuses it.
    let big = image_bytes(100, 100, ImageFormat::Png);
    assert!(
        big.len() > 20_000 && big.len() < 20_000 + 60_000,
        "{}",
        big.len()
    );
    upload(&app, &u.access, big, "big.png", "image/png")
        .await
        .assert_error(413, "payload_too_large");
    // Far over the limit (past the multipart allowance): refused from the
    // declared length alone, before any of the body is read.
    app.declared_body(
        "PUT",
        "/api/profile/avatar",
        Some(&u.access),
        "multipart/form-data; boundary=xyz",
        10 * 1024 * 1024,
    )
    .await
    .assert_error(413, "payload_too_large");
    let me = app.get("/api/profile", Some(&u.access)).await;
    assert_eq!(me.body["avatarUrl"], Value::Null);
}

async fn replacing_an_avatar_deletes_the_old_file(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("rita").await;
    let first = upload(
        &app,
        &u.access,
        image_bytes(50, 50, ImageFormat::Png),
        "a.png",
        "image/png",
    )
    .await;
    let first_url = first.assert_status(200)["avatarUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = upload(
        &app,
        &u.access,
        image_bytes(60, 60, ImageFormat::Png),
        "b.png",
        "image/png",
    )
    .await;
    let second_url = second.assert_status(200)["avatarUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first_url, second_url);
    assert_eq!(fetch(&app, &first_url).await.status(), 404);
    assert_eq!(fetch(&app, &second_url).await.status(), 200);
    let missing = app.get("/media/avatars/1/nothing.png", None).await;
    missing.assert_error(404, "not_found");
    let traversal = app.get("/media/..%2F..%2Fetc%2Fpasswd", None).await;
    assert_eq!(traversal.status.as_u16(), 404, "{}", traversal.text);
}

async fn avatar_upload_needs_a_file_field_and_a_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("sam").await;
    let form = Form::new().text("other", "value");
    app.send(
        app.request(Method::PUT, "/api/profile/avatar", Some(&u.access))
            .multipart(form),
    )
    .await
    .assert_error(400, "validation_failed");
    app.send(
        app.request(Method::PUT, "/api/profile/avatar", Some(&u.access))
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    let part = Part::bytes(image_bytes(10, 10, ImageFormat::Png)).file_name("a.png");
    app.send(
        app.request(Method::PUT, "/api/profile/avatar", None)
            .multipart(Form::new().part("file", part)),
    )
    .await
    .assert_error(401, "unauthenticated");
}

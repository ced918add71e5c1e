use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    malformed_json_is_400_and_writes_nothing,
    wrong_types_and_missing_fields_name_the_field,
    unknown_fields_are_refused,
    oversize_bodies_are_413,
    bodies_must_be_json,
    bad_paging_parameters_are_400,
    every_json_body_must_be_an_object,
);

async fn malformed_json_is_400_and_writes_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    for body in [
        "{\"username\": ",
        "{username: \"x\"}",
        "not json at all",
        "{\"username\":\"abc\",\"email\":\"a@b.org\",\"password\":\"12345678\"} trailing",
        "",
    ] {
        let r = app
            .send(
                app.request(Method::POST, "/api/auth/register", None)
                    .header("content-type", "application/json")
                    .body(body.to_owned()),
            )
            .await;
        r.assert_error(400, "malformed_json");
    }
    assert_eq!(app.user_count().await, 0);
}

async fn wrong_types_and_missing_fields_name_the_field(b: Backend) {
    let app = TestApp::spawn(b).await;
    let cases = [
        (
            json!({"username": 5, "email": "a@b.org", "password": "12345678"}),
            "username",
        ),
        (
            json!({"username": "abc", "email": ["a@b.org"], "password": "12345678"}),
            "email",
        ),
        (
            json!({"username": "abc", "email": "a@b.org", "password": null}),
            "password",
        ),
        (json!({"username": "abc", "email": "a@b.org"}), "body"),
        (json!(["username", "abc"]), "body"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/auth/register", None, body.clone()).await;
        r.assert_error(400, "validation_failed");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.text
        );
    }
    let missing = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "abc", "email": "a@b.org"}),
        )
        .await;
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{}",
        missing.text
    );
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": true, "password": "x"}),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert_eq!(app.user_count().await, 0);
}

async fn unknown_fields_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "abc", "email": "a@b.org", "password": "12345678", "isAdmin": true}),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert!(
        r.body["error"]["fields"]["isAdmin"].is_string(),
        "{}",
        r.text
    );
    assert_eq!(app.user_count().await, 0);
}

async fn oversize_bodies_are_413(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("big_body").await;
    // Refused from the declared length, before the body is read.
    app.declared_body(
        "POST",
        "/api/auth/register",
        None,
        "application/json",
        200 * 1024,
    )
    .await
    .assert_error(413, "payload_too_large");
    app.declared_body(
        "PATCH",
        "/api/profile",
        Some(&u.access),
        "application/json",
        65 * 1024,
    )
    .await
    .assert_error(413, "payload_too_large");
    // A body just under the limit is read and judged on its content.
    let r = app
        .json(
            Method::PATCH,
            "/api/profile",
            Some(&u.access),
            json!({"bio": "y".repeat(60 * 1024)}),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert_eq!(app.user_count().await, 1);
    let me = app.get("/api/profile", Some(&u.access)).await;
    assert_eq!(me.body["bio"], "");
}

async fn bodies_must_be_json(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .send(
            app.request(Method::POST, "/api/auth/login", None)
                .header("content-type", "text/plain")
                .body("{\"login\":\"a\",\"password\":\"b\"}"),
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
    let r = app
        .send(
            app.request(Method::POST, "/api/auth/register", None)
                .body("{}"),
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
    // application/json with a charset, or a +json type, is fine.
    let r = app
        .send(
            app.request(Method::POST, "/api/auth/login", None)
                .header("content-type", "application/json; charset=utf-8")
                .body("{\"login\":\"nobody\",\"password\":\"whatever\"}"),
        )
        .await;
    r.assert_error(401, "invalid_credentials");
}

async fn bad_paging_parameters_are_400(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("pager").await;
    for q in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "cursor=%%%",
        "cursor=bm90IGEgY3Vyc29y",
    ] {
        let r = app.get(&format!("/api/users?{q}"), None).await;
        assert_eq!(r.status.as_u16(), 400, "{q}: {}", r.text);
        assert!(r.body["error"]["code"].is_string(), "{q}: {}", r.text);
        let r = app
            .get(&format!("/api/users/{}/followers?{q}", u.id), None)
            .await;
        assert_eq!(r.status.as_u16(), 400, "{q}: {}", r.text);
    }
    let r = app.get("/api/users?limit=100", None).await;
    r.assert_status(200);
    let r = app.get("/api/users?q=x&unknown=1", None).await;
    r.assert_error(400, "invalid_query");
}

/// Every operation the served OpenAPI document lists with an `application/json`
/// request body refuses a JSON array (serde would fill the struct from it
/// positionally) with 400 `validation_failed` on `body`, and writes nothing.
async fn every_json_body_must_be_an_object(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("array_body").await;
    let doc = app.get("/api/openapi.json", None).await;
    let doc = doc.assert_status(200);
    let mut seen = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if op["requestBody"]["content"]["application/json"].is_null() {
                continue;
            }
            // Any well-formed id: the body is judged before the resource is looked up.
            let mut url = String::new();
            for (i, part) in path.split(['{', '}']).enumerate() {
                url.push_str(if i % 2 == 1 { &u.id } else { part });
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // What each route's fields would be, in order: accepted before the fix.
            let positional = match path.as_str() {
                "/api/auth/register" => {
                    json!(["arrays", "arrays@example.org", "correct horse battery"])
                }
                "/api/auth/login" => json!([u.username, u.password]),
                "/api/profile" => json!(["Name", "bio"]),
                "/api/chat/rooms" => json!(["group", [u.id]]),
                "/api/chat/rooms/{id}/messages" => json!(["hello", "c1"]),
                _ => json!(["hello"]),
            };
            for body in [
                positional,
                json!([]),
                json!("hello"),
                json!(42),
                json!(null),
            ] {
                let r = app
                    .json(method.clone(), &url, Some(&u.access), body.clone())
                    .await;
                r.assert_error(400, "validation_failed");
                assert!(
                    r.body["error"]["fields"]["body"]
                        .as_str()
                        .is_some_and(|m| m.contains("JSON object")),
                    "{method} {path} with {body}: {}",
                    r.text
                );
            }
            seen.push(format!("{method} {path}"));
        }
    }
    for must in [
        "POST /api/posts",
        "PATCH /api/profile",
        "POST /api/auth/register",
    ] {
        assert!(seen.iter().any(|s| s == must), "{must} not among {seen:?}");
    }
    // Nothing was written.
    assert_eq!(app.user_count().await, 1);
    let feed = app.get("/api/feed/public", None).await;
    assert_eq!(feed.assert_status(200)["items"], json!([]), "{}", feed.text);
    let me = app.get("/api/profile", Some(&u.access)).await;
    let me = me.assert_status(200);
    assert_eq!(me["displayName"], Value::Null);
    assert_eq!(me["bio"], "");
    let rooms = app.get("/api/chat/rooms", Some(&u.access)).await;
    assert_eq!(
        rooms.assert_status(200)["items"],
        json!([]),
        "{}",
        rooms.text
    );
    // The session still works: no refresh or logout consumed it.
    app.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": u.refresh}),
    )
    .await
    .assert_status(200);
}

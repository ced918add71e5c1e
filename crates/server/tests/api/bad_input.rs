use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    malformed_json_is_400_and_writes_nothing,
    wrong_types_and_missing_fields_name_the_field,
    unknown_fields_are_refused,
    oversize_bodies_are_413,
    bodies_must_be_json,
    bad_paging_parameters_are_400,
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

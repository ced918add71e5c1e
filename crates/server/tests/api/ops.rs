use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    health_and_ready_report_each_backend,
    ready_is_503_naming_what_is_down,
    metrics_count_requests_by_route_with_latency_and_pool_usage,
    metrics_show_the_outbox_backlog_and_its_age,
    openapi_documents_every_route_with_schemas_and_errors,
    docs_page_is_served_offline,
    unknown_paths_and_methods_get_json_errors,
    every_response_carries_a_request_id,
    cors_allows_only_configured_origins,
    openapi_documents_what_each_kind_of_operation_answers,
);

/// Metrics and what a failing backend said are for operators: this host
/// by default, or whoever holds `ops_token`. `/health` stays public.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_details_are_for_operators_only() {
    // Behind a proxy on this host, a client elsewhere is not an operator.
    let app = TestApp::spawn_with(Backend::Embedded, |s| {
        s.trust_proxy = true;
        s.broker_url = Some("amqp://127.0.0.1:1".into());
    })
    .await;
    let remote = |path: &str| {
        app.request(reqwest::Method::GET, path, None)
            .header("x-forwarded-for", "203.0.113.5")
    };
    app.send(remote("/metrics"))
        .await
        .assert_error(403, "forbidden");
    let r = app.send(remote("/ready")).await;
    assert_eq!(r.status.as_u16(), 503, "{}", r.text);
    assert_eq!(r.body["checks"]["broker"], "down", "{}", r.text);
    assert_eq!(r.body["checks"]["database"], "ok", "{}", r.text);
    assert!(
        !r.text.contains("127.0.0.1:1"),
        "the error text leaks: {}",
        r.text
    );
    app.send(remote("/health")).await.assert_status(200);
    // From this host: the details.
    app.get("/metrics", None).await.assert_status(200);
    let r = app.get("/ready", None).await;
    assert_ne!(r.body["checks"]["broker"], "down", "{}", r.text);
    assert_ne!(r.body["checks"]["broker"], "ok", "{}", r.text);

    // With a token, only the token counts, wherever it comes from.
    let token = "an-ops-token-of-some-length";
    let app = TestApp::spawn_with(Backend::Embedded, |s| s.ops_token = Some(token.into())).await;
    app.get("/metrics", None)
        .await
        .assert_error(403, "forbidden");
    app.get("/metrics", Some("not-the-token-at-all"))
        .await
        .assert_error(403, "forbidden");
    let m = app.get("/metrics", Some(token)).await;
    m.assert_status(200);
    assert!(m.text.contains("starling_"), "{}", m.text);
}

async fn health_and_ready_report_each_backend(b: Backend) {
    let scaled = matches!(b, Backend::Scaled(_));
    let app = TestApp::spawn(b).await;
    let h = app.get("/health", None).await;
    assert_eq!(h.assert_status(200), &json!({"status": "ok"}));
    let r = app.get("/ready", None).await;
    let body = r.assert_status(200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["media"], "ok");
    if scaled {
        assert_eq!(body["checks"]["redis"], "ok", "{}", r.text);
        assert_eq!(body["checks"]["broker"], "ok", "{}", r.text);
    } else {
        assert!(body["checks"].get("redis").is_none());
    }
    // And it stops cleanly: in-flight work drained, pool closed, no error.
    let base = app.base.clone();
    app.stop().await;
    assert!(
        reqwest::get(format!("{base}/health")).await.is_err(),
        "no longer listening"
    );
}

async fn ready_is_503_naming_what_is_down(b: Backend) {
    // A broker nobody answers on, and a media directory that disappears.
    let app = TestApp::spawn_with(b.clone(), |s| {
        s.broker_url = Some("amqp://127.0.0.1:1".into())
    })
    .await;
    let r = app.get("/ready", None).await;
    assert_eq!(r.status.as_u16(), 503, "{}", r.text);
    assert_eq!(r.body["status"], "unavailable");
    assert_eq!(r.body["error"]["code"], "not_ready");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broker"),
        "{}",
        r.text
    );
    assert_eq!(r.body["checks"]["database"], "ok");
    assert_ne!(r.body["checks"]["broker"], "ok");
    // The API keeps answering.
    app.get("/health", None).await.assert_status(200);

    if matches!(b, Backend::Embedded) {
        let app = TestApp::spawn(b).await;
        std::fs::remove_dir_all(app.data_dir.path().join("media")).unwrap();
        let r = app.get("/ready", None).await;
        assert_eq!(r.status.as_u16(), 503, "{}", r.text);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("media")
        );
    }
}

async fn metrics_count_requests_by_route_with_latency_and_pool_usage(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("metric_user").await;
    for _ in 0..3 {
        app.get("/api/profile", Some(&u.access))
            .await
            .assert_status(200);
    }
    app.get(&format!("/api/users/{}", u.id), None)
        .await
        .assert_status(200);
    let m = app.get("/metrics", None).await;
    assert_eq!(m.status.as_u16(), 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .contains("openmetrics-text")
    );
    let text = m.text;
    assert!(
        text.contains(
            r#"starling_http_requests_total{method="GET",route="/api/profile",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/users/{id}""#),
        "routes are templates, not raw paths"
    );
    assert!(!text.contains(&u.id), "no raw ids in labels");
    assert!(
        text.contains("starling_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"starling_db_pool_connections{state="idle"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"starling_db_pool_connections{state="in_use"}"#),
        "{text}"
    );
}

/// One gauge's value from the metrics text.
fn gauge(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

async fn metrics_show_the_outbox_backlog_and_its_age(b: Backend) {
    // With no relay, events wait in the outbox: the backlog shows it.
    let app = TestApp::spawn_with(b, |s| s.outbox_relay = false).await;
    let text = app.get("/metrics", None).await.text;
    assert_eq!(gauge(&text, "starling_outbox_pending_events"), 0.0);
    assert_eq!(gauge(&text, "starling_outbox_lag_seconds"), 0.0);
    let a = app.register("backlog_a").await;
    app.register("backlog_b").await;
    let c = app.register("backlog_c").await;
    app.put(&format!("/api/users/{}/follow", c.id), Some(&a.access))
        .await
        .assert_status(200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let text = app.get("/metrics", None).await.text;
    // Three sign-ups and a follow.
    assert_eq!(
        gauge(&text, "starling_outbox_pending_events"),
        4.0,
        "{text}"
    );
    let lag = gauge(&text, "starling_outbox_lag_seconds");
    assert!(
        (1.0..30.0).contains(&lag),
        "the oldest event is over a second old: {lag}"
    );
}

async fn openapi_documents_every_route_with_schemas_and_errors(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app.get("/api/openapi.json", None).await;
    let doc = r.assert_status(200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    let expected = [
        ("post", "/api/auth/register"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/refresh"),
        ("post", "/api/auth/logout"),
        ("get", "/api/auth/jwks"),
        ("post", "/api/auth/password-reset"),
        ("post", "/api/auth/password-reset/confirm"),
        ("post", "/api/auth/verify-email"),
        ("post", "/api/auth/verify-email/resend"),
        ("get", "/api/auth/sessions"),
        ("delete", "/api/auth/sessions"),
        ("delete", "/api/auth/sessions/{id}"),
        ("put", "/api/profile/password"),
        ("get", "/api/profile"),
        ("patch", "/api/profile"),
        ("delete", "/api/profile"),
        ("get", "/api/profile/export"),
        ("put", "/api/profile/avatar"),
        ("get", "/api/users"),
        ("get", "/api/users/{id}"),
        ("get", "/api/users/by-username/{username}"),
        ("put", "/api/users/{id}/follow"),
        ("delete", "/api/users/{id}/follow"),
        ("get", "/api/users/{id}/followers"),
        ("get", "/api/users/{id}/following"),
        ("put", "/api/users/{id}/block"),
        ("delete", "/api/users/{id}/block"),
        ("put", "/api/users/{id}/mute"),
        ("delete", "/api/users/{id}/mute"),
        ("get", "/api/blocks"),
        ("get", "/api/mutes"),
        ("get", "/media/{key}"),
        ("post", "/api/media"),
        ("post", "/api/posts"),
        ("get", "/api/posts"),
        ("get", "/api/posts/{id}"),
        ("patch", "/api/posts/{id}"),
        ("delete", "/api/posts/{id}"),
        ("get", "/api/posts/{id}/history"),
        ("put", "/api/posts/{id}/love"),
        ("delete", "/api/posts/{id}/love"),
        ("get", "/api/posts/{id}/lovers"),
        ("post", "/api/posts/{id}/comments"),
        ("get", "/api/posts/{id}/comments"),
        ("get", "/api/comments/{id}/replies"),
        ("patch", "/api/comments/{id}"),
        ("delete", "/api/comments/{id}"),
        ("put", "/api/comments/{id}/love"),
        ("delete", "/api/comments/{id}/love"),
        ("get", "/api/comments/{id}/lovers"),
        ("get", "/api/feed"),
        ("get", "/api/feed/public"),
        ("get", "/api/users/{id}/posts"),
        ("get", "/api/tags/{tag}/posts"),
        ("get", "/api/search/posts"),
        ("get", "/api/notifications"),
        ("get", "/api/notifications/unread-count"),
        ("patch", "/api/notifications/{id}/read"),
        ("put", "/api/notifications/read-all"),
        ("get", "/api/notifications/stream"),
        ("get", "/api/push/vapid-public-key"),
        ("post", "/api/push/subscriptions"),
        ("delete", "/api/push/subscriptions/{id}"),
        ("get", "/api/chat/rooms"),
        ("post", "/api/chat/rooms"),
        ("get", "/api/chat/rooms/{id}"),
        ("patch", "/api/chat/rooms/{id}"),
        ("delete", "/api/chat/rooms/{id}"),
        ("post", "/api/chat/rooms/{id}/members"),
        ("delete", "/api/chat/rooms/{id}/members/{userId}"),
        ("get", "/api/chat/direct/{partnerId}"),
        ("post", "/api/chat/direct/{partnerId}"),
        ("get", "/api/chat/rooms/{id}/messages"),
        ("post", "/api/chat/rooms/{id}/messages"),
        ("post", "/api/chat/rooms/{id}/read"),
        ("post", "/api/chat/messages/remove"),
        ("post", "/api/chat/messages/retract"),
        ("get", "/api/chat/unread-count"),
        ("get", "/api/chat/search"),
        ("get", "/api/users/{id}/presence"),
        ("get", "/api/instance"),
        ("post", "/api/reports"),
        ("get", "/api/admin/users"),
        ("get", "/api/admin/users/{id}"),
        ("put", "/api/admin/users/{id}/role"),
        ("post", "/api/admin/users/{id}/suspend"),
        ("post", "/api/admin/users/{id}/unsuspend"),
        ("post", "/api/admin/users/{id}/silence"),
        ("post", "/api/admin/users/{id}/unsilence"),
        ("get", "/api/admin/reports"),
        ("get", "/api/admin/reports/{id}"),
        ("post", "/api/admin/reports/{id}/resolve"),
        ("get", "/api/admin/audit"),
        ("get", "/api/admin/registrations"),
        ("post", "/api/admin/registrations/{id}/approve"),
        ("post", "/api/admin/registrations/{id}/reject"),
        ("get", "/api/invites"),
        ("post", "/api/invites"),
        ("delete", "/api/invites/{code}"),
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/metrics"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "exactly the routes that exist: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        let responses = op["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{method} {path} has responses");
        for (status, resp) in responses {
            if status.starts_with('4') {
                let schema = &resp["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
    for name in [
        "User",
        "Profile",
        "UserPage",
        "Session",
        "RegisterRequest",
        "ErrorBody",
        "UpdateProfileRequest",
    ] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "schema {name}"
        );
    }
    let user_props = doc["components"]["schemas"]["User"]["properties"]
        .as_object()
        .unwrap();
    for f in [
        "id",
        "username",
        "displayName",
        "bio",
        "avatarUrl",
        "followerCount",
        "followingCount",
        "followedByMe",
        "createdAt",
    ] {
        assert!(user_props.contains_key(f), "User.{f}");
    }
    assert!(doc["paths"]["/api/profile"]["get"]["security"].is_array());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn docs_page_is_served_offline(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app.get("/api/docs", None).await;
    assert!(
        r.status.is_redirection() || r.status.as_u16() == 200,
        "{}",
        r.status
    );
    let page = app.get("/api/docs/", None).await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.text.contains("swagger"), "HTML page");
    // Its assets come from this server, not a CDN.
    assert!(
        !page.text.contains("cdn.") && !page.text.contains("unpkg"),
        "no CDN in the page"
    );
    for asset in [
        "/api/docs/swagger-ui.css",
        "/api/docs/swagger-ui-bundle.js",
        "/api/docs/swagger-initializer.js",
    ] {
        let a = app.get(asset, None).await;
        assert_eq!(a.status.as_u16(), 200, "{asset}");
        assert!(a.text.len() > 100, "{asset} has content");
    }
    let init = app.get("/api/docs/swagger-initializer.js", None).await;
    assert!(init.text.contains("/api/openapi.json"));
}

async fn unknown_paths_and_methods_get_json_errors(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.get("/api/does-not-exist", None)
        .await
        .assert_error(404, "not_found");
    // Other page addresses belong to the browser app (see web.rs); a missing
    // file is still a JSON 404.
    app.get("/nowhere.txt", None)
        .await
        .assert_error(404, "not_found");
    let r = app
        .send(app.request(Method::DELETE, "/api/auth/login", None))
        .await;
    r.assert_error(405, "method_not_allowed");
    let r = app.json(Method::PUT, "/api/profile", None, json!({})).await;
    r.assert_error(405, "method_not_allowed");
}

async fn every_response_carries_a_request_id(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app.get("/health", None).await;
    let id = r.header("x-request-id").expect("request id");
    assert!(id.len() >= 16, "{id}");
    let again = app.get("/health", None).await;
    assert_ne!(
        again.header("x-request-id").unwrap(),
        id,
        "a new id per request"
    );
    let mine = app
        .send(
            app.request(Method::GET, "/api/nope", None)
                .header("x-request-id", "client-chosen-42"),
        )
        .await;
    assert_eq!(
        mine.header("x-request-id").as_deref(),
        Some("client-chosen-42")
    );
}

async fn cors_allows_only_configured_origins(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.cors_origins = "https://app.example".into()).await;
    let pre = |origin: &str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/profile"))
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-token",
            )
            .send()
    };
    let ok = pre("https://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let other = pre("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Without configuration there is no CORS at all.
    let plain = TestApp::spawn(Backend::Embedded).await;
    let r = plain
        .client
        .get(plain.url("/health"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let _: Value = r.json().await.unwrap();
}

/// The served document tells every status an operation of its kind can answer
/// and carries the limits in its schemas: 401 on secured operations, 400 (with
/// 413 and 415) on JSON bodies, 400 on path and query parameters, id patterns,
/// `limit` bounds, text lengths, and links from creating operations.
async fn openapi_documents_what_each_kind_of_operation_answers(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("doc_reader").await;
    let r = app.get("/api/openapi.json", None).await;
    let doc = r.assert_status(200).clone();
    let id_pattern = &doc["paths"]["/api/posts/{id}"]["get"]["parameters"][0]["schema"]["pattern"];
    assert!(id_pattern.is_string(), "ids have a pattern");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            for (status, resp) in responses {
                assert!(
                    resp["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{what} {status}: no description"
                );
            }
            let has = |s: &str| responses.contains_key(s);
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                assert!(has("401"), "{what}: secured without 401");
            }
            if !op["requestBody"]["content"]["application/json"].is_null() {
                for s in ["400", "413", "415"] {
                    assert!(has(s), "{what}: JSON body without {s}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" || p["in"] == "query" {
                    assert!(has("400"), "{what}: parameter {} without 400", p["name"]);
                }
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" && (name == "id" || name.ends_with("Id")) {
                    assert_eq!(&p["schema"]["pattern"], id_pattern, "{what} {name}");
                }
                if name == "limit" {
                    assert_eq!(p["schema"]["minimum"], 1, "{what}");
                    assert_eq!(p["schema"]["maximum"], 100, "{what}");
                }
            }
        }
    }
    // The ids the pattern admits (1 to i64::MAX in plain decimal; schemathesis
    // checks the pattern itself against the server) are the ones it takes.
    for (id, valid) in [
        ("1", true),
        ("9223372036854775807", true),
        ("9223372036854775808", false),
        ("01", false),
        ("0", false),
        ("+5", false),
        ("-5", false),
    ] {
        let r = app.get(&format!("/api/users/{id}"), None).await;
        assert_eq!(r.status.as_u16() == 400, !valid, "{id}: {}", r.text);
    }
    // What a direct chat refuses (a group's name, owner and members).
    for (method, path) in [
        ("patch", "/api/chat/rooms/{id}"),
        ("delete", "/api/chat/rooms/{id}"),
        ("post", "/api/chat/rooms/{id}/members"),
        ("delete", "/api/chat/rooms/{id}/members/{userId}"),
    ] {
        let d = doc["paths"][path][method]["responses"]["422"]["description"].as_str();
        assert!(
            d.is_some_and(|d| d.contains("direct_room")),
            "{method} {path}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    let text = &schemas["CreatePostRequest"]["properties"]["text"];
    assert_eq!(text["maxLength"], 5000);
    assert_eq!(text["minLength"], 1);
    assert!(text["pattern"].is_string());
    assert_eq!(
        schemas["RegisterRequest"]["properties"]["password"]["minLength"],
        8
    );
    assert_eq!(
        schemas["SendMessageRequest"]["properties"]["text"]["maxLength"],
        4000
    );
    assert!(schemas["AddMemberRequest"]["properties"]["userId"]["pattern"].is_string());
    let key = doc["paths"]["/api/posts"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert!(key["schema"]["pattern"].is_string());
    let links = &doc["paths"]["/api/posts"]["post"]["responses"]["201"]["links"];
    assert!(links.as_object().is_some_and(|l| l.len() >= 5), "{links}");
    // Optional bodies are objects when sent, never null.
    let refresh = &doc["paths"]["/api/auth/refresh"]["post"]["requestBody"];
    assert_eq!(refresh["required"], false);
    assert!(
        refresh["content"]["application/json"]["schema"]["$ref"].is_string(),
        "{refresh}"
    );
    drop(u);
}

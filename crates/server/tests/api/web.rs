//! The browser app served by the binary: its files with the right caching,
//! `index.html` for client-side routes, and JSON 404s kept for the API.
//! (Served the same on every backend, so only the embedded one is used.)

use reqwest::Method;

use crate::helpers::{Backend, TestApp};

/// The path of the app's script, from the `<script src=...>` in index.html.
fn script_path(index: &str) -> Option<String> {
    let start = index.find("src=\"/assets/")? + "src=\"".len();
    let end = index[start..].find('"')? + start;
    Some(index[start..end].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_with_caching_and_client_routes() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let index = app.get("/", None).await;
    assert_eq!(index.status.as_u16(), 200);
    assert!(
        index
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        index.header("content-type")
    );
    assert_eq!(index.header("cache-control").as_deref(), Some("no-cache"));
    assert!(index.text.contains("<html"), "{}", index.text);

    // A client-side route gets the same page.
    for route in ["/u/ada", "/p/7212470313345024", "/search", "/settings"] {
        let page = app.get(route, None).await;
        assert_eq!(page.status.as_u16(), 200, "{route}");
        assert_eq!(page.text, index.text, "{route}");
        assert_eq!(page.header("cache-control").as_deref(), Some("no-cache"));
    }

    // Revalidation by ETag.
    let etag = index.header("etag").expect("etag");
    let again = app
        .send(
            app.request(Method::GET, "/", None)
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(again.status.as_u16(), 304);

    // The hashed script (absent from a placeholder build) is immutable and gzipped on request.
    if !starling_api::web::PLACEHOLDER {
        let script = script_path(&index.text).expect("index.html loads a script from /assets/");
        let js = app.get(&script, None).await;
        assert_eq!(js.status.as_u16(), 200, "{script}");
        assert_eq!(
            js.header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert!(
            js.header("content-type")
                .is_some_and(|t| t.contains("javascript"))
        );
        assert!(
            js.header("content-encoding").is_none(),
            "identity unless asked"
        );
        let gz = app
            .send(
                app.request(Method::GET, &script, None)
                    .header("accept-encoding", "gzip, br"),
            )
            .await;
        assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
        assert_eq!(gz.header("vary").as_deref(), Some("accept-encoding"));
        let head = app.send(app.request(Method::HEAD, &script, None)).await;
        assert_eq!(head.status.as_u16(), 200);
        assert!(head.text.is_empty());
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_files_and_other_methods_keep_json_errors() {
    let app = TestApp::spawn(Backend::Embedded).await;
    for path in [
        "/api/nope",
        "/api",
        "/api/users/1/nothing",
        "/assets/gone-1234.js",
        "/favicon.ico",
    ] {
        app.get(path, None).await.assert_error(404, "not_found");
    }
    app.post("/somewhere", None, serde_json::json!({}))
        .await
        .assert_error(404, "not_found");
    // The other roots are untouched.
    assert_eq!(app.get("/health", None).await.status.as_u16(), 200);
    app.get("/media/avatars/1/none.png", None)
        .await
        .assert_error(404, "not_found");
    assert!(app.get("/metrics", None).await.text.contains("# "));
    app.stop().await;
}

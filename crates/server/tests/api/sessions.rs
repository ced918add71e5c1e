//! Sessions end when they should: logout and a reused refresh token end the
//! session's access tokens, sockets and notification streams on every node
//! within a second, and a socket or stream does not outlive its token unless
//! the client renews it (`auth` event) or reconnects.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestUser, disconnected_within, ends_within, open_stream};
use crate::sio::Sio;

backend_tests!(
    logout_ends_the_sessions_tokens_sockets_and_streams_everywhere,
    a_reused_refresh_token_ends_the_session_at_once,
    sockets_and_streams_end_at_token_expiry_unless_renewed,
);

/// A second session of `u` (another device).
async fn login(app: &TestApp, u: &TestUser) -> (String, String) {
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": u.username, "password": u.password}),
        )
        .await;
    let b = r.assert_status(200);
    (
        b["accessToken"].as_str().unwrap().to_owned(),
        b["refreshToken"].as_str().unwrap().to_owned(),
    )
}

/// The new access token of a refresh by body.
async fn refresh(app: &TestApp, refresh_token: &str) -> String {
    let r = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": refresh_token}),
        )
        .await;
    r.assert_status(200)["accessToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn logout_ends_the_sessions_tokens_sockets_and_streams_everywhere(b: Backend) {
    let scaled = matches!(b, Backend::Scaled(_));
    let app = TestApp::spawn(b).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let ann = app.register("ann").await;
    let (other_access, _) = login(&app, &ann).await;

    let socket = sio.connect("a", &ann.access).await;
    let other_socket = sio.connect("b", &other_access).await;
    let stream = open_stream(&app, &ann.access).await;
    let other_stream = open_stream(&app, &other_access).await;
    // On the scaled backends, a second node hears of it too.
    let peer = if scaled {
        Some(app.spawn_peer().await)
    } else {
        None
    };
    let (peer_sio, peer_socket, peer_stream) = match &peer {
        Some(p) => {
            let s = Sio::start(&p.base).await.unwrap();
            let c = s.connect("p", &ann.access).await;
            // Seen once on the peer before the logout (its first sight of the
            // token is before the session ends).
            p.get("/api/profile", Some(&ann.access))
                .await
                .assert_status(200);
            let st = open_stream(p, &ann.access).await;
            (Some(s), Some(c), Some(st))
        }
        None => (None, None, None),
    };

    let started = Instant::now();
    let r = app
        .send(
            app.request(reqwest::Method::POST, "/api/auth/logout", Some(&ann.access))
                .json(&json!({"refreshToken": ann.refresh})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);

    // The session's access token is refused at once, with a reason.
    app.get("/api/profile", Some(&ann.access))
        .await
        .assert_error(401, "session_ended");
    socket.expect("session-ended", json!({})).await;
    disconnected_within(&socket, Duration::from_secs(2), "the session's socket").await;
    ends_within(stream, Duration::from_secs(2), "the session's stream").await;
    if let (Some(p), Some(c), Some(st)) = (&peer, &peer_socket, peer_stream) {
        disconnected_within(c, Duration::from_secs(2), "the peer node's socket").await;
        ends_within(st, Duration::from_secs(2), "the peer node's stream").await;
        p.get("/api/profile", Some(&ann.access))
            .await
            .assert_error(401, "session_ended");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "ending took {:?}",
        started.elapsed()
    );
    // Another device's session goes on.
    app.get("/api/profile", Some(&other_access))
        .await
        .assert_status(200);
    assert!(
        other_socket.connects().await.1,
        "another session's socket closed"
    );
    assert!(
        !other_stream.is_finished(),
        "another session's stream closed"
    );
    drop(peer_sio);
}

async fn a_reused_refresh_token_ends_the_session_at_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let stream = open_stream(&app, &ann.access).await;
    // The legitimate client refreshes; a thief replays the old token.
    let fresh_access = refresh(&app, &ann.refresh).await;
    app.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": ann.refresh}),
    )
    .await
    .assert_error(401, "refresh_token_reused");
    // Every access token of the family is dead, old and new.
    for token in [&ann.access, &fresh_access] {
        app.get("/api/profile", Some(token))
            .await
            .assert_error(401, "session_ended");
    }
    ends_within(
        stream,
        Duration::from_secs(2),
        "the stream of a revoked family",
    )
    .await;
}

async fn sockets_and_streams_end_at_token_expiry_unless_renewed(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.access_token_ttl_secs = 5).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let ann = app.register("ann").await;
    let started = Instant::now();
    let lapsing = sio.connect("lapsing", &ann.access).await;
    let renewing = sio.connect("renewing", &ann.access).await;
    let stream = open_stream(&app, &ann.access).await;

    // Before the first token expires, a fresh one renews one socket.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let fresh_access = refresh(&app, &ann.refresh).await;
    let ack = renewing.call("auth", json!({"token": fresh_access})).await;
    assert_eq!(ack["ok"], Value::Bool(true), "{ack}");
    // Another user's token does not renew it, and garbage is refused.
    let bob = app.register("bob").await;
    let ack = renewing.call("auth", json!({"token": bob.access})).await;
    assert_eq!(ack["error"]["code"], "forbidden", "{ack}");
    let ack = renewing.call("auth", json!({"token": "nonsense"})).await;
    assert_eq!(ack["error"]["code"], "invalid_token", "{ack}");

    lapsing.expect("session-expired", json!({})).await;
    disconnected_within(&lapsing, Duration::from_secs(3), "a socket past its token").await;
    ends_within(stream, Duration::from_secs(4), "a stream past its token").await;
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "closed too early"
    );
    assert!(
        renewing.connects().await.1,
        "the renewed socket closed with the old token"
    );
    // And it too ends when the fresh token does.
    disconnected_within(&renewing, Duration::from_secs(8), "the renewed socket").await;
}

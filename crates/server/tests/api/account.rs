//! Account security: changing the password, resetting it by mail (through a
//! real SMTP server), verifying the email address, and the sessions list.
//! Every ended session ends on every node: its tokens are refused and its
//! notification streams close.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp, TestUser, ends_within, open_stream};

use crate::delivery::smtp_server::SmtpServer;

backend_tests!(
    changing_the_password_ends_every_other_session,
    password_changes_are_checked,
    sessions_are_listed_with_their_device_and_address,
    ending_a_session_refuses_its_token_and_closes_its_stream,
    ending_the_other_sessions_keeps_this_one,
    a_password_reset_by_mail_sets_the_password_and_ends_every_session,
    reset_tokens_are_single_use_and_expire,
    a_reset_request_answers_the_same_for_unknown_addresses,
    reset_requests_are_limited,
    email_verification_comes_before_signing_in,
);

const UA_FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const UA_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// Another session of `u`, signed in from `ua` at `address`.
async fn login_from(app: &TestApp, u: &TestUser, ua: &str, address: &str) -> (String, String) {
    let r = app
        .send(
            app.request(Method::POST, "/api/auth/login", None)
                .header("user-agent", ua)
                .header("x-forwarded-for", address)
                .json(&json!({"login": u.username, "password": u.password})),
        )
        .await;
    let b = r.assert_status(200);
    (
        b["accessToken"].as_str().unwrap().to_owned(),
        b["refreshToken"].as_str().unwrap().to_owned(),
    )
}

async fn login(app: &TestApp, login: &str, password: &str) -> Resp {
    app.post(
        "/api/auth/login",
        None,
        json!({"login": login, "password": password}),
    )
    .await
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> Resp {
    app.json(
        Method::PUT,
        "/api/profile/password",
        Some(token),
        json!({"currentPassword": current, "newPassword": new}),
    )
    .await
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/api/auth/sessions", Some(token)).await;
    r.assert_status(200)["items"].as_array().unwrap().clone()
}

async fn changing_the_password_ends_every_other_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let (laptop, laptop_refresh) = login_from(&app, &ann, UA_FIREFOX, "").await;
    let stream = open_stream(&app, &laptop).await;
    let bob = app.register("bob").await;

    change_password(&app, &ann.access, &ann.password, "a brand new secret")
        .await
        .assert_status(204);

    // The other session is over: its access token, its refresh token, its stream.
    app.get("/api/profile", Some(&laptop))
        .await
        .assert_error(401, "session_ended");
    app.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": laptop_refresh}),
    )
    .await
    .assert_error(401, "invalid_refresh_token");
    ends_within(stream, Duration::from_secs(3), "the other session's stream").await;
    // This one stays, and is the only one left.
    app.get("/api/profile", Some(&ann.access))
        .await
        .assert_status(200);
    let left = sessions(&app, &ann.access).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["current"], true);
    // The new password signs in; the old one does not.
    login(&app, "ann", &ann.password)
        .await
        .assert_error(401, "invalid_credentials");
    login(&app, "ann", "a brand new secret")
        .await
        .assert_status(200);
    // Someone else's sessions are untouched.
    app.get("/api/profile", Some(&bob.access))
        .await
        .assert_status(200);
}

async fn password_changes_are_checked(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let (other, _) = login_from(&app, &ann, UA_FIREFOX, "").await;
    change_password(&app, &ann.access, "not my password", "a brand new secret")
        .await
        .assert_error(403, "wrong_password");
    let r = change_password(&app, &ann.access, &ann.password, "short").await;
    r.assert_error(400, "validation_failed");
    assert!(
        r.body["error"]["fields"]["newPassword"].is_string(),
        "{}",
        r.text
    );
    let r = app
        .json(
            Method::PUT,
            "/api/profile/password",
            Some(&ann.access),
            json!({"currentPassword": ann.password}),
        )
        .await;
    r.assert_error(400, "validation_failed");
    let r = app
        .json(
            Method::PUT,
            "/api/profile/password",
            None,
            json!({"currentPassword": ann.password, "newPassword": "a brand new secret"}),
        )
        .await;
    r.assert_error(401, "unauthenticated");
    // Nothing changed: the old password works, the other session too.
    login(&app, "ann", &ann.password).await.assert_status(200);
    app.get("/api/profile", Some(&other))
        .await
        .assert_status(200);
}

async fn sessions_are_listed_with_their_device_and_address(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.trust_proxy = true).await;
    let ann = app.register("ann").await;
    let (phone, phone_refresh) = login_from(&app, &ann, UA_IPHONE, "198.51.100.7").await;
    let (laptop, _) = login_from(&app, &ann, UA_FIREFOX, "203.0.113.8").await;
    let list = sessions(&app, &laptop).await;
    assert_eq!(list.len(), 3, "{list:?}");
    // Most recently used first: the laptop signed in last.
    assert_eq!(list[0]["device"], "Firefox on Linux");
    assert_eq!(list[0]["address"], "203.0.113.8");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[1]["device"], "Safari on iOS");
    assert_eq!(list[1]["address"], "198.51.100.7");
    assert_eq!(list[1]["current"], false);
    for s in &list {
        assert!(s["id"].is_string() && s["createdAt"].is_string() && s["lastUsedAt"].is_string());
    }
    // Refreshing from elsewhere moves the phone up, with its new address;
    // it keeps its id.
    let phone_id = list[1]["id"].clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = app
        .send(
            app.request(Method::POST, "/api/auth/refresh", None)
                .header("x-forwarded-for", "192.0.2.44")
                .json(&json!({"refreshToken": phone_refresh})),
        )
        .await;
    r.assert_status(200);
    let list = sessions(&app, &phone).await;
    assert_eq!(list[0]["id"], phone_id, "{list:?}");
    assert_eq!(list[0]["address"], "192.0.2.44");
    // Another user sees only their own.
    let bob = app.register("bob").await;
    let theirs = sessions(&app, &bob.access).await;
    assert_eq!(theirs.len(), 1);
    app.get("/api/auth/sessions", None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn ending_a_session_refuses_its_token_and_closes_its_stream(b: Backend) {
    let scaled = matches!(b, Backend::Scaled(_));
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let (laptop, _) = login_from(&app, &ann, UA_FIREFOX, "").await;
    let stream = open_stream(&app, &laptop).await;
    // On the scaled backends the session also lives on a second node.
    let peer = if scaled {
        Some(app.spawn_peer().await)
    } else {
        None
    };
    let peer_stream = match &peer {
        Some(p) => {
            p.get("/api/profile", Some(&laptop))
                .await
                .assert_status(200);
            Some(open_stream(p, &laptop).await)
        }
        None => None,
    };
    let list = sessions(&app, &ann.access).await;
    let id = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = list.iter().find(|s| s["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else cannot end it, nor learn that it exists.
    let bob = app.register("bob").await;
    app.delete(&format!("/api/auth/sessions/{id}"), Some(&bob.access))
        .await
        .assert_error(404, "not_found");
    app.get("/api/profile", Some(&laptop))
        .await
        .assert_status(200);
    app.delete(&format!("/api/auth/sessions/{id}"), None)
        .await
        .assert_error(401, "unauthenticated");
    app.delete("/api/auth/sessions/12345", Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    app.delete("/api/auth/sessions/nope", Some(&ann.access))
        .await
        .assert_error(400, "invalid_path");

    let started = Instant::now();
    app.delete(&format!("/api/auth/sessions/{id}"), Some(&ann.access))
        .await
        .assert_status(204);
    app.get("/api/profile", Some(&laptop))
        .await
        .assert_error(401, "session_ended");
    ends_within(stream, Duration::from_secs(3), "the ended session's stream").await;
    if let (Some(p), Some(st)) = (&peer, peer_stream) {
        ends_within(
            st,
            Duration::from_secs(3),
            "the ended session's stream on the other node",
        )
        .await;
        p.get("/api/profile", Some(&laptop))
            .await
            .assert_error(401, "session_ended");
        p.get("/api/profile", Some(&ann.access))
            .await
            .assert_status(200);
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // Gone from the list; ending it again is a 404. This session stays.
    let list = sessions(&app, &ann.access).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], mine.as_str());
    app.delete(&format!("/api/auth/sessions/{id}"), Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    if let Some(p) = peer {
        p.stop().await;
    }
}

async fn ending_the_other_sessions_keeps_this_one(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ann = app.register("ann").await;
    let (one, _) = login_from(&app, &ann, UA_FIREFOX, "").await;
    let (two, _) = login_from(&app, &ann, UA_IPHONE, "").await;
    let bob = app.register("bob").await;
    let stream = open_stream(&app, &two).await;
    app.delete("/api/auth/sessions", Some(&ann.access))
        .await
        .assert_status(204);
    for t in [&one, &two] {
        app.get("/api/profile", Some(t))
            .await
            .assert_error(401, "session_ended");
    }
    ends_within(stream, Duration::from_secs(3), "another session's stream").await;
    app.get("/api/profile", Some(&ann.access))
        .await
        .assert_status(200);
    assert_eq!(sessions(&app, &ann.access).await.len(), 1);
    app.get("/api/profile", Some(&bob.access))
        .await
        .assert_status(200);
}

/// The link a mail to `to` carries for `path` (`reset-password`,
/// `verify-email`), waiting for it to arrive; the last one sent.
async fn mailed_token(smtp: &SmtpServer, to: &str, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = smtp
            .received()
            .into_iter()
            .rev()
            .map(|m| decoded(&m))
            .filter(|m| m.contains(&format!("To: {to}")))
            .filter_map(|m| {
                let at = m.find(&format!("/{path}?token="))?;
                let rest = &m[at + path.len() + 8..];
                Some(
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect::<String>(),
                )
            })
            .next();
        if let Some(t) = found {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "no {path} mail to {to}: {}",
            smtp.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A mail's text with its quoted-printable soft breaks and escapes undone.
fn decoded(mail: &[u8]) -> String {
    String::from_utf8_lossy(mail)
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// How many mails to `to` mention `path`.
fn mails_to(smtp: &SmtpServer, to: &str, path: &str) -> usize {
    smtp.received()
        .into_iter()
        .map(|m| decoded(&m))
        .filter(|m| m.contains(&format!("To: {to}")) && m.contains(path))
        .count()
}

async fn with_smtp(
    b: Backend,
    test: &str,
    tweak: impl FnOnce(&mut starling_server::config::Settings),
) -> Option<(TestApp, SmtpServer)> {
    let smtp = SmtpServer::start(test).await?;
    let url = smtp.url();
    let app = TestApp::spawn_with(b, |s| {
        s.smtp_url = Some(url);
        s.public_url = "https://starling.test".into();
        tweak(s);
    })
    .await;
    Some((app, smtp))
}

async fn request_reset(app: &TestApp, email: &str) -> Resp {
    app.post("/api/auth/password-reset", None, json!({"email": email}))
        .await
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> Resp {
    app.post(
        "/api/auth/password-reset/confirm",
        None,
        json!({"token": token, "newPassword": password}),
    )
    .await
}

async fn a_password_reset_by_mail_sets_the_password_and_ends_every_session(b: Backend) {
    let Some((app, smtp)) = with_smtp(b, "password_reset", |_| {}).await else {
        return;
    };
    let ann = app.register("ann").await;
    let (laptop, _) = login_from(&app, &ann, UA_FIREFOX, "").await;
    let stream = open_stream(&app, &laptop).await;
    // Verification is not asked for on this site: no link for that.
    let r = app
        .post(
            "/api/auth/verify-email/resend",
            None,
            json!({"email": ann.email}),
        )
        .await;
    assert_eq!(r.assert_status(202), &json!({"status": "sent"}));
    let r = request_reset(&app, &ann.email.to_uppercase()).await;
    assert_eq!(r.assert_status(202), &json!({"status": "sent"}));
    let token = mailed_token(&smtp, &ann.email, "reset-password").await;
    assert_eq!(token.len(), 43, "32 random bytes, base64url: {token}");
    let mail = smtp
        .received()
        .into_iter()
        .map(|m| decoded(&m))
        .find(|m| m.contains("reset-password"))
        .unwrap();
    assert!(
        mail.contains(&format!(
            "https://starling.test/reset-password?token={token}"
        )),
        "{mail}"
    );

    // A weak password is refused without spending the token.
    let r = confirm_reset(&app, &token, "short").await;
    r.assert_error(400, "validation_failed");
    assert!(r.body["error"]["fields"]["newPassword"].is_string());
    confirm_reset(&app, &token, "reset and renewed")
        .await
        .assert_status(204);
    assert_eq!(mails_to(&smtp, &ann.email, "verify-email"), 0);
    // Every session ended, this device's too.
    for t in [&ann.access, &laptop] {
        app.get("/api/profile", Some(t))
            .await
            .assert_error(401, "session_ended");
    }
    ends_within(stream, Duration::from_secs(3), "a session's stream").await;
    login(&app, "ann", &ann.password)
        .await
        .assert_error(401, "invalid_credentials");
    login(&app, &ann.email, "reset and renewed")
        .await
        .assert_status(200);
}

async fn reset_tokens_are_single_use_and_expire(b: Backend) {
    let Some((app, smtp)) = with_smtp(b, "reset_tokens", |_| {}).await else {
        return;
    };
    let ann = app.register("ann").await;
    request_reset(&app, &ann.email).await.assert_status(202);
    let first = mailed_token(&smtp, &ann.email, "reset-password").await;
    confirm_reset(&app, &first, "first new password")
        .await
        .assert_status(204);
    // Used.
    confirm_reset(&app, &first, "second new password")
        .await
        .assert_error(400, "invalid_token");
    // Unknown, and nonsense.
    confirm_reset(
        &app,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "whatever works",
    )
    .await
    .assert_error(400, "invalid_token");
    confirm_reset(&app, "", "whatever works")
        .await
        .assert_error(400, "invalid_token");
    // Expired: an hour has passed (moved back in the database).
    request_reset(&app, &ann.email).await.assert_status(202);
    let deadline = Instant::now() + Duration::from_secs(10);
    while mails_to(&smtp, &ann.email, "reset-password") < 2 {
        assert!(Instant::now() < deadline, "no second mail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = mailed_token(&smtp, &ann.email, "reset-password").await;
    assert_ne!(first, second);
    let moved = app
        .sql_i64("UPDATE account_tokens SET expires_at = 1 WHERE used_at IS NULL RETURNING CAST(1 AS BIGINT)")
        .await;
    assert_eq!(moved, 1);
    confirm_reset(&app, &second, "second new password")
        .await
        .assert_error(400, "invalid_token");
    login(&app, "ann", "first new password")
        .await
        .assert_status(200);
}

async fn a_reset_request_answers_the_same_for_unknown_addresses(b: Backend) {
    let Some((app, smtp)) = with_smtp(b, "reset_same_answer", |s| {
        s.limit_password_resets = "off".into();
    })
    .await
    else {
        return;
    };
    let ann = app.register("ann").await;
    let strip = |r: &Resp| {
        let mut h: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        h.sort();
        (r.status, r.text.clone(), h)
    };
    let known = request_reset(&app, &ann.email).await;
    let unknown = request_reset(&app, "nobody@example.org").await;
    assert_eq!(known.status, 202);
    assert_eq!(strip(&known), strip(&unknown));
    // The same time, within noise: median of alternating runs.
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for i in 0..15 {
        let t = Instant::now();
        request_reset(&app, &ann.email).await.assert_status(202);
        k.push(t.elapsed());
        let t = Instant::now();
        request_reset(&app, &format!("nobody{i}@example.org"))
            .await
            .assert_status(202);
        u.push(t.elapsed());
    }
    k.sort();
    u.sort();
    let (mk, mu) = (k[k.len() / 2], u[u.len() / 2]);
    let diff = mk.abs_diff(mu);
    assert!(
        diff < Duration::from_millis(15) + mk.max(mu) / 2,
        "medians differ: known {mk:?}, unknown {mu:?}"
    );
    // Only the real address got mail.
    mailed_token(&smtp, &ann.email, "reset-password").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails_to(&smtp, "nobody@example.org", "reset-password"), 0);
    // A malformed address is a plain validation error.
    request_reset(&app, "not an address")
        .await
        .assert_error(400, "validation_failed");
}

async fn reset_requests_are_limited(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.limit_password_resets = "2/h".into();
        s.trust_proxy = true;
    })
    .await;
    let from = |addr: &'static str, email: &'static str| {
        app.send(
            app.request(Method::POST, "/api/auth/password-reset", None)
                .header("x-forwarded-for", addr)
                .json(&json!({ "email": email })),
        )
    };
    // Per client address, whatever address is asked for.
    from("198.51.100.1", "a@example.org")
        .await
        .assert_status(202);
    from("198.51.100.1", "b@example.org")
        .await
        .assert_status(202);
    let r = from("198.51.100.1", "c@example.org").await;
    r.assert_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Per address mailed to, whichever client asks.
    from("198.51.100.2", "a@example.org")
        .await
        .assert_status(202);
    from("198.51.100.3", "a@example.org")
        .await
        .assert_error(429, "rate_limited");
}

async fn email_verification_comes_before_signing_in(b: Backend) {
    let Some((app, smtp)) = with_smtp(b, "email_verification", |s| {
        s.require_email_verification = true;
    })
    .await
    else {
        return;
    };
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "vera", "email": "vera@example.org", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(r.assert_status(202), &json!({"status": "verify_email"}));
    assert!(r.set_cookies().is_empty(), "no session cookies");
    login(&app, "vera", "correct horse battery")
        .await
        .assert_error(403, "email_unverified");
    // A wrong password still says only that.
    login(&app, "vera", "wrong horse battery")
        .await
        .assert_error(401, "invalid_credentials");
    let first = mailed_token(&smtp, "vera@example.org", "verify-email").await;
    // Asking again sends a new link; unknown addresses get the same answer.
    for email in ["vera@example.org", "nobody@example.org"] {
        let r = app
            .post(
                "/api/auth/verify-email/resend",
                None,
                json!({"email": email}),
            )
            .await;
        assert_eq!(r.assert_status(202), &json!({"status": "sent"}));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while mails_to(&smtp, "vera@example.org", "verify-email") < 2 {
        assert!(Instant::now() < deadline, "no second link");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = mailed_token(&smtp, "vera@example.org", "verify-email").await;
    assert_ne!(first, second);
    app.post("/api/auth/verify-email", None, json!({"token": "nonsense"}))
        .await
        .assert_error(400, "invalid_token");
    // Following a link signs in.
    let r = app
        .post("/api/auth/verify-email", None, json!({"token": second}))
        .await;
    let s = r.assert_status(200);
    let access = s["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(s["user"]["username"], "vera");
    app.get("/api/profile", Some(&access))
        .await
        .assert_status(200);
    // Links are spent together, and the account signs in by password now.
    app.post("/api/auth/verify-email", None, json!({"token": first}))
        .await
        .assert_error(400, "invalid_token");
    login(&app, "vera", "correct horse battery")
        .await
        .assert_status(200);
}

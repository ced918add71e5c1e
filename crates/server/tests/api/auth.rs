use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp};

backend_tests!(
    register_answers_201_with_a_session_and_browser_cookies,
    usernames_and_emails_are_unique_case_insensitively,
    registration_rejects_each_bad_field_and_writes_nothing,
    login_accepts_username_or_email_and_hides_which_part_was_wrong,
    login_is_rate_limited_per_account,
    login_is_rate_limited_per_ip,
    login_names_longer_than_an_email_address_are_refused,
    username_and_email_share_one_login_count_and_unknown_names_look_alike,
    failures_from_one_address_do_not_block_the_owner_at_another,
    login_delays_grow_and_then_let_the_right_password_in,
    an_address_over_its_limit_counts_nothing_for_the_account,
    the_all_addresses_count_slows_strangers_but_not_known_addresses,
    refresh_rotates_and_a_reused_token_revokes_the_family,
    refresh_by_cookie_needs_the_csrf_header,
    logout_revokes_the_refresh_token_and_clears_cookies,
    jwks_publishes_the_key_that_verifies_access_tokens,
    bad_access_tokens_are_401_with_the_error_body,
    cookie_sessions_read_freely_but_need_csrf_to_write,
);

async fn register_answers_201_with_a_session_and_browser_cookies(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "Ada_L", "email": "Ada@Example.org", "password": "analytical engine", "displayName": "Ada Lovelace"}),
        )
        .await;
    let body = r.assert_status(201);
    let user = &body["user"];
    assert_eq!(user["username"], "ada_l");
    assert_eq!(user["displayName"], "Ada Lovelace");
    assert_eq!(user["email"], "ada@example.org");
    assert_eq!(user["bio"], "");
    assert_eq!(user["avatarUrl"], Value::Null);
    assert_eq!(user["followerCount"], 0);
    assert_eq!(user["followingCount"], 0);
    assert_eq!(user["followedByMe"], false);
    assert!(
        user["id"].as_str().unwrap().parse::<i64>().unwrap() > 0,
        "id is a string"
    );
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["expiresIn"], 900);
    assert!(body["refreshToken"].as_str().unwrap().len() >= 40);
    assert_eq!(body["accessToken"].as_str().unwrap().split('.').count(), 3);

    let cookies = r.set_cookies();
    let find = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .cloned()
            .unwrap_or_else(|| panic!("cookie {name} missing in {cookies:?}"))
    };
    let access = find("starling_access");
    assert!(
        access.contains("HttpOnly") && access.contains("SameSite=Lax"),
        "{access}"
    );
    let refresh = find("starling_refresh");
    assert!(
        refresh.contains("HttpOnly")
            && refresh.contains("SameSite=Strict")
            && refresh.contains("Path=/api/auth"),
        "{refresh}"
    );
    let csrf = find("starling_csrf");
    assert!(
        !csrf.contains("HttpOnly"),
        "scripts must read the CSRF cookie: {csrf}"
    );

    // The access token works right away.
    let me = app.get("/api/profile", body["accessToken"].as_str()).await;
    assert_eq!(me.assert_status(200)["username"], "ada_l");
}

async fn usernames_and_emails_are_unique_case_insensitively(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.register("bob").await;
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "BOB", "email": "other@example.org", "password": "long enough"}),
        )
        .await;
    r.assert_error(409, "username_taken");
    assert!(r.body["error"]["fields"]["username"].is_string());
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "robert", "email": "BOB@example.ORG", "password": "long enough"}),
        )
        .await;
    r.assert_error(409, "email_taken");
    assert!(r.body["error"]["fields"]["email"].is_string());
    assert_eq!(
        app.user_count().await,
        1,
        "nothing written by the refused registrations"
    );
}

async fn registration_rejects_each_bad_field_and_writes_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ok = json!({"username": "valid_name", "email": "v@example.org", "password": "long enough"});
    let cases: Vec<(&str, Value)> = vec![
        ("username", json!("ab")),
        ("username", json!("x".repeat(31))),
        ("username", json!("no-dashes")),
        ("username", json!("émile")),
        ("email", json!("not-an-email")),
        ("email", json!("a@b")),
        ("password", json!("short")),
        ("password", json!("p".repeat(257))),
        ("displayName", json!("d".repeat(51))),
    ];
    for (field, value) in cases {
        let mut body = ok.clone();
        body[field] = value.clone();
        let r = app.post("/api/auth/register", None, body).await;
        r.assert_error(400, "validation_failed");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{field}={value}: {}",
            r.text
        );
    }
    // Several bad fields are reported together.
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "a", "email": "b", "password": "c"}),
        )
        .await;
    r.assert_error(400, "validation_failed");
    let fields = r.body["error"]["fields"].as_object().unwrap();
    assert_eq!(fields.len(), 3, "{}", r.text);
    assert_eq!(app.user_count().await, 0);
}

async fn login_accepts_username_or_email_and_hides_which_part_was_wrong(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("carol").await;
    let by_email = u.email.to_uppercase();
    for login in ["carol", "CAROL", u.email.as_str(), by_email.as_str()] {
        let r = app
            .post(
                "/api/auth/login",
                None,
                json!({"login": login, "password": u.password}),
            )
            .await;
        let body = r.assert_status(200);
        assert_eq!(body["user"]["id"], u.id.as_str());
        assert!(
            r.set_cookies()
                .iter()
                .any(|c| c.starts_with("starling_access="))
        );
    }
    let wrong_password = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": "carol", "password": "not the password"}),
        )
        .await;
    let unknown_user = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": "nobody_here", "password": "not the password"}),
        )
        .await;
    wrong_password.assert_error(401, "invalid_credentials");
    unknown_user.assert_error(401, "invalid_credentials");
    assert_eq!(
        wrong_password.text, unknown_user.text,
        "the same answer for both"
    );
}

async fn login_is_rate_limited_per_account(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.login_max_per_account = 3).await;
    let u = app.register("dave").await;
    for _ in 0..3 {
        app.post(
            "/api/auth/login",
            None,
            json!({"login": "dave", "password": "wrong password"}),
        )
        .await
        .assert_error(401, "invalid_credentials");
    }
    // Past the limit even the right password is refused until the window ends.
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": "dave", "password": u.password}),
        )
        .await;
    r.assert_error(429, "rate_limited");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    // Other accounts are unaffected.
    let e = app.register("erin").await;
    app.post(
        "/api/auth/login",
        None,
        json!({"login": "erin", "password": e.password}),
    )
    .await
    .assert_status(200);
}

async fn login_is_rate_limited_per_ip(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.login_max_per_ip = 4).await;
    for i in 0..4 {
        app.post(
            "/api/auth/login",
            None,
            json!({"login": format!("someone{i}"), "password": "whatever1"}),
        )
        .await
        .assert_error(401, "invalid_credentials");
    }
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": "someone_else", "password": "whatever1"}),
        )
        .await;
    r.assert_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
}

/// Logs in from `address` (the server trusts `X-Forwarded-For`).
async fn login_from(app: &TestApp, address: &str, login: &str, password: &str) -> Resp {
    app.send(
        app.request(Method::POST, "/api/auth/login", None)
            .header("x-forwarded-for", address)
            .json(&json!({"login": login, "password": password})),
    )
    .await
}

fn retry_after(r: &Resp) -> u64 {
    r.header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds")
}

async fn login_names_longer_than_an_email_address_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    for len in [255, 60_000] {
        let r = app
            .post(
                "/api/auth/login",
                None,
                json!({"login": "a".repeat(len), "password": "whatever1"}),
            )
            .await;
        r.assert_error(400, "validation_failed");
        assert!(r.body["error"]["fields"]["login"].is_string(), "{}", r.text);
    }
    // 254 characters is still a login (of nobody).
    app.post(
        "/api/auth/login",
        None,
        json!({"login": format!("{}@example.org", "a".repeat(242)), "password": "whatever1"}),
    )
    .await
    .assert_error(401, "invalid_credentials");
}

async fn username_and_email_share_one_login_count_and_unknown_names_look_alike(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.login_max_per_account = 3;
    })
    .await;
    let u = app.register("frank").await;
    let email = u.email.to_uppercase();
    // Three attempts by name and by email address: one account, one count.
    let mut known = Vec::new();
    for login in ["frank", email.as_str(), "Frank"] {
        known.push(login_from(&app, "10.0.0.1", login, "wrong password").await);
    }
    let r = login_from(&app, "10.0.0.1", &u.email, &u.password).await;
    r.assert_error(429, "rate_limited");
    known.push(r);
    // A name nobody has, and its would-be email, answer alike.
    let mut unknown = Vec::new();
    for login in ["ghost", "ghost", "ghost", "ghost"] {
        unknown.push(login_from(&app, "10.0.0.1", login, "wrong password").await);
    }
    let statuses = |rs: &[Resp]| rs.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>();
    assert_eq!(statuses(&known), [401, 401, 401, 429]);
    assert_eq!(statuses(&known), statuses(&unknown));
    assert_eq!(known[0].text, unknown[0].text);
    assert_eq!(retry_after(&known[3]), retry_after(&unknown[3]));
}

async fn failures_from_one_address_do_not_block_the_owner_at_another(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.login_max_per_account = 2;
    })
    .await;
    let u = app.register("gina").await;
    for _ in 0..2 {
        login_from(&app, "203.0.113.9", "gina", "guess guess")
            .await
            .assert_error(401, "invalid_credentials");
    }
    // The guesser waits, even with the right password...
    login_from(&app, "203.0.113.9", "gina", &u.password)
        .await
        .assert_error(429, "rate_limited");
    login_from(&app, "203.0.113.9", &u.email, "guess again")
        .await
        .assert_error(429, "rate_limited");
    // ...the owner, elsewhere, does not.
    let r = login_from(&app, "198.51.100.7", "gina", &u.password).await;
    assert_eq!(r.assert_status(200)["user"]["id"], u.id.as_str());
}

async fn login_delays_grow_and_then_let_the_right_password_in(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.login_max_per_account = 2;
        s.login_delay_base_secs = 1;
    })
    .await;
    let u = app.register("hank").await;
    let here = "192.0.2.44";
    for _ in 0..2 {
        login_from(&app, here, "hank", "nope nope")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let mut waits = Vec::new();
    for _ in 0..2 {
        let r = login_from(&app, here, "hank", "nope nope").await;
        r.assert_error(429, "rate_limited");
        let wait = retry_after(&r);
        waits.push(wait);
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        // After the wait, one more guess is heard (and fails).
        login_from(&app, here, "hank", "nope nope")
            .await
            .assert_error(401, "invalid_credentials");
    }
    // Slowed, never locked: after the wait the right password works.
    let r = login_from(&app, here, "hank", &u.password).await;
    r.assert_error(429, "rate_limited");
    waits.push(retry_after(&r));
    assert!(
        waits.windows(2).all(|w| w[0] < w[1]),
        "each wait is longer than the last: {waits:?}"
    );
    tokio::time::sleep(std::time::Duration::from_secs(retry_after(&r))).await;
    login_from(&app, here, "hank", &u.password)
        .await
        .assert_status(200);
    // And a success starts the count over.
    for _ in 0..2 {
        login_from(&app, here, "hank", "nope nope")
            .await
            .assert_error(401, "invalid_credentials");
    }
}

async fn an_address_over_its_limit_counts_nothing_for_the_account(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.login_max_per_ip = 2;
        s.login_max_per_account_global = 2;
    })
    .await;
    let u = app.register("ivy").await;
    for name in ["x1", "x2"] {
        login_from(&app, "10.9.9.9", name, "whatever1")
            .await
            .assert_error(401, "invalid_credentials");
    }
    // Refused by the address alone, before the account is counted...
    for _ in 0..5 {
        login_from(&app, "10.9.9.9", "ivy", "whatever1")
            .await
            .assert_error(429, "rate_limited");
    }
    // ...so the account's all-addresses allowance is untouched.
    login_from(&app, "10.1.1.1", "ivy", "whatever1")
        .await
        .assert_error(401, "invalid_credentials");
    login_from(&app, "10.2.2.2", "ivy", &u.password)
        .await
        .assert_status(200);
}

async fn the_all_addresses_count_slows_strangers_but_not_known_addresses(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.trust_proxy = true;
        s.login_max_per_account_global = 3;
    })
    .await;
    let u = app.register("jack").await;
    // The owner signs in from home once (the first of the three): a known
    // address from now on.
    login_from(&app, "192.0.2.1", "jack", &u.password)
        .await
        .assert_status(200);
    // Guesses from many addresses, each fresh.
    for i in 0..2 {
        login_from(&app, &format!("198.18.0.{i}"), "jack", "guess guess")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let r = login_from(&app, "198.18.0.99", "jack", "guess guess").await;
    r.assert_error(429, "rate_limited");
    assert!(retry_after(&r) <= 60, "slowed, not locked: {}", r.text);
    // At home the owner is not slowed.
    login_from(&app, "192.0.2.1", "jack", &u.password)
        .await
        .assert_status(200);
}

async fn refresh_rotates_and_a_reused_token_revokes_the_family(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("frank").await;
    let r1 = u.refresh.clone();
    let r = app
        .post("/api/auth/refresh", None, json!({"refreshToken": r1}))
        .await;
    let body = r.assert_status(200);
    let r2 = body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated");
    assert_eq!(body["user"]["id"], u.id.as_str());
    let access2 = body["accessToken"].as_str().unwrap().to_owned();
    app.get("/api/profile", Some(&access2))
        .await
        .assert_status(200);

    // Presenting the spent token again: refused, and the whole family is revoked.
    app.post("/api/auth/refresh", None, json!({"refreshToken": r1}))
        .await
        .assert_error(401, "refresh_token_reused");
    app.post("/api/auth/refresh", None, json!({"refreshToken": r2}))
        .await
        .assert_error(401, "invalid_refresh_token");

    // A fresh login starts a new, independent family.
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": "frank", "password": u.password}),
        )
        .await;
    let r3 = r.assert_status(200)["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/api/auth/refresh", None, json!({"refreshToken": r3}))
        .await
        .assert_status(200);
    // Garbage and missing tokens.
    app.post("/api/auth/refresh", None, json!({"refreshToken": "nope"}))
        .await
        .assert_error(401, "invalid_refresh_token");
    app.send(app.request(Method::POST, "/api/auth/refresh", None))
        .await
        .assert_error(401, "invalid_refresh_token");
}

fn cookie_value(set_cookies: &[String], name: &str) -> String {
    set_cookies
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

async fn refresh_by_cookie_needs_the_csrf_header(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "gina", "email": "g@example.org", "password": "long enough"}),
        )
        .await;
    let cookies = r.set_cookies();
    let refresh = cookie_value(&cookies, "starling_refresh");
    let csrf = cookie_value(&cookies, "starling_csrf");
    let jar = format!("starling_refresh={refresh}; starling_csrf={csrf}");

    app.send(
        app.request(Method::POST, "/api/auth/refresh", None)
            .header("cookie", &jar),
    )
    .await
    .assert_error(403, "forbidden");
    app.send(
        app.request(Method::POST, "/api/auth/refresh", None)
            .header("cookie", &jar)
            .header("x-csrf-token", "not-the-token"),
    )
    .await
    .assert_error(403, "forbidden");
    let ok = app
        .send(
            app.request(Method::POST, "/api/auth/refresh", None)
                .header("cookie", &jar)
                .header("x-csrf-token", &csrf),
        )
        .await;
    ok.assert_status(200);
    assert_ne!(
        cookie_value(&ok.set_cookies(), "starling_refresh"),
        refresh,
        "rotated cookie"
    );
    // A cookie session keeps its tokens in HttpOnly cookies: no script on
    // the page may read a 30-day refresh token from the body.
    assert_eq!(ok.body["user"]["username"], "gina", "{}", ok.text);
    assert!(ok.body["expiresIn"].as_u64().is_some(), "{}", ok.text);
    for field in ["refreshToken", "accessToken"] {
        assert!(ok.body.get(field).is_none(), "{field} in {}", ok.text);
    }
    let refresh = cookie_value(&ok.set_cookies(), "starling_refresh");
    assert!(
        !ok.text.contains(&refresh),
        "the new refresh token in {}",
        ok.text
    );
    // A client that sent its token in the body gets the new one back there.
    let by_body = app
        .post("/api/auth/refresh", None, json!({"refreshToken": refresh}))
        .await;
    by_body.assert_status(200);
    assert!(
        by_body.body["refreshToken"].as_str().is_some(),
        "{}",
        by_body.text
    );
    assert!(
        by_body.body["accessToken"].as_str().is_some(),
        "{}",
        by_body.text
    );
}

/// Over HTTPS (`public_url` https://...), cookies are `Secure` with
/// `__Host-`/`__Secure-` names, every answer carries HSTS, and the prefixed
/// cookies work as the plain ones did. (No backend is involved.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_sites_get_secure_prefixed_cookies_and_hsts() {
    let b = Backend::Embedded;
    let app = TestApp::spawn_with(b, |s| {
        s.public_url = "https://social.example".into();
    })
    .await;
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "ivy", "email": "i@example.org", "password": "long enough"}),
        )
        .await;
    r.assert_status(201);
    let cookies = r.set_cookies();
    for (name, path) in [
        ("__Host-starling_access", "Path=/;"),
        ("__Secure-starling_refresh", "Path=/api/auth;"),
        ("__Host-starling_csrf", "Path=/;"),
    ] {
        let c = cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {cookies:?}"));
        assert!(c.contains("; Secure"), "{c}");
        assert!(c.contains(path), "{c}");
        assert!(!c.contains("Domain="), "{c}");
    }
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=63072000")
    );
    assert_eq!(
        app.get("/health", None)
            .await
            .header("strict-transport-security")
            .as_deref(),
        Some("max-age=63072000")
    );
    // The prefixed cookies sign in, and writes still need the CSRF header.
    let access = cookie_value(&cookies, "__Host-starling_access");
    let csrf = cookie_value(&cookies, "__Host-starling_csrf");
    let jar = format!("__Host-starling_access={access}; __Host-starling_csrf={csrf}");
    let me = app
        .send(
            app.request(Method::GET, "/api/profile", None)
                .header("cookie", &jar),
        )
        .await;
    assert_eq!(me.assert_status(200)["username"], "ivy");
    app.send(
        app.request(Method::POST, "/api/posts", None)
            .header("cookie", &jar)
            .json(&json!({"text": "hello"})),
    )
    .await
    .assert_error(403, "forbidden");
    app.send(
        app.request(Method::POST, "/api/posts", None)
            .header("cookie", &jar)
            .header("x-csrf-token", &csrf)
            .json(&json!({"text": "hello"})),
    )
    .await
    .assert_status(201);
    // Plain http sites keep plain names and send no HSTS.
    let plain = TestApp::spawn(Backend::Embedded).await;
    let r = plain
        .post(
            "/api/auth/register",
            None,
            json!({"username": "jay", "email": "j@example.org", "password": "long enough"}),
        )
        .await;
    assert!(
        r.set_cookies()
            .iter()
            .all(|c| c.starts_with("starling_") && !c.contains("Secure"))
    );
    assert!(r.header("strict-transport-security").is_none());
}

async fn logout_revokes_the_refresh_token_and_clears_cookies(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("hank").await;
    let r = app
        .post("/api/auth/logout", None, json!({"refreshToken": u.refresh}))
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    for c in r.set_cookies() {
        assert!(c.contains("Max-Age=0"), "cookie not cleared: {c}");
    }
    app.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": u.refresh}),
    )
    .await
    .assert_error(401, "invalid_refresh_token");
    // Logging out again is harmless.
    let again = app
        .post("/api/auth/logout", None, json!({"refreshToken": u.refresh}))
        .await;
    assert_eq!(again.status.as_u16(), 204);
}

async fn jwks_publishes_the_key_that_verifies_access_tokens(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("iris").await;
    let jwks = app.get("/api/auth/jwks", None).await;
    let key = &jwks.assert_status(200)["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    let header = jsonwebtoken::decode_header(&u.access).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let dk = jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_issuer(&["starling"]);
    let data = jsonwebtoken::decode::<Value>(&u.access, &dk, &v).unwrap();
    assert_eq!(data.claims["sub"], u.id.as_str());
    let ttl = data.claims["exp"].as_i64().unwrap() - data.claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 900, "15 minutes by default");
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Signs claims with the server's own key (read from its data dir).
fn sign_with_server_key(app: &TestApp, claims: &Value) -> String {
    let pem = std::fs::read(app.data_dir.path().join("jwt-ed25519.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        claims,
        &key,
    )
    .unwrap()
}

async fn bad_access_tokens_are_401_with_the_error_body(b: Backend) {
    let app = TestApp::spawn(b).await;
    let u = app.register("jack").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    // Sanity: the server key signs tokens the server accepts.
    let good = sign_with_server_key(
        &app,
        &json!({"sub": u.id, "iat": now, "exp": now + 60, "iss": "starling"}),
    );
    app.get("/api/profile", Some(&good))
        .await
        .assert_status(200);

    let expired = sign_with_server_key(
        &app,
        &json!({"sub": u.id, "iat": now - 7200, "exp": now - 3600, "iss": "starling"}),
    );
    let r = app.get("/api/profile", Some(&expired)).await;
    r.assert_error(401, "token_expired");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    // Another Ed25519 key.
    let other_dir = tempfile::tempdir().unwrap();
    let other =
        starling_services::JwtKeys::load_or_generate(&other_dir.path().join("k.pem")).unwrap();
    let foreign = other
        .issue(
            starling_core::UserId::from_i64(u.id.parse().unwrap()),
            std::time::Duration::from_secs(60),
        )
        .unwrap();

    let parts: Vec<&str> = u.access.split('.').collect();
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        parts[1]
    );
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("1");
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    // HS256 "signed" with the public key as the secret (algorithm confusion).
    let x = app.get("/api/auth/jwks", None).await.body["keys"][0]["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": u.id, "iat": now, "exp": now + 60, "iss": "starling"}),
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
    )
    .unwrap();
    let wrong_issuer = sign_with_server_key(
        &app,
        &json!({"sub": u.id, "iat": now, "exp": now + 60, "iss": "elsewhere"}),
    );

    for (name, token) in [
        ("foreign key", foreign),
        ("alg none", none),
        ("tampered", tampered),
        ("hs256 confusion", hs),
        ("wrong issuer", wrong_issuer),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        let r = app.get("/api/profile", Some(&token)).await;
        assert_eq!(r.status.as_u16(), 401, "{name}: {}", r.text);
        assert_eq!(
            r.body["error"]["code"], "invalid_token",
            "{name}: {}",
            r.text
        );
        // And nothing can be written with it.
        let w = app
            .json(
                Method::PATCH,
                "/api/profile",
                Some(&token),
                json!({"bio": "pwned"}),
            )
            .await;
        assert_eq!(w.status.as_u16(), 401, "{name}");
    }
    let basic = app
        .send(
            app.request(Method::GET, "/api/profile", None)
                .header("authorization", "Basic Zm9vOmJhcg=="),
        )
        .await;
    basic.assert_error(401, "invalid_token");
    app.get("/api/profile", None)
        .await
        .assert_error(401, "unauthenticated");
    let me = app.get("/api/profile", Some(&u.access)).await;
    assert_eq!(
        me.assert_status(200)["bio"],
        "",
        "no bad token wrote anything"
    );
}

async fn cookie_sessions_read_freely_but_need_csrf_to_write(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "kate", "email": "k@example.org", "password": "long enough"}),
        )
        .await;
    let cookies = r.set_cookies();
    let access = cookie_value(&cookies, "starling_access");
    let csrf = cookie_value(&cookies, "starling_csrf");
    let jar = format!("starling_access={access}; starling_csrf={csrf}");

    let me = app
        .send(
            app.request(Method::GET, "/api/profile", None)
                .header("cookie", &jar),
        )
        .await;
    assert_eq!(me.assert_status(200)["username"], "kate");

    let forged = app
        .send(
            app.request(Method::PATCH, "/api/profile", None)
                .header("cookie", &jar)
                .json(&json!({"bio": "forged"})),
        )
        .await;
    forged.assert_error(403, "forbidden");
    let follow_forged = app
        .send(
            app.request(Method::PUT, "/api/users/1/follow", None)
                .header("cookie", &jar),
        )
        .await;
    follow_forged.assert_error(403, "forbidden");

    let ok = app
        .send(
            app.request(Method::PATCH, "/api/profile", None)
                .header("cookie", &jar)
                .header("x-csrf-token", &csrf)
                .json(&json!({"bio": "written by me"})),
        )
        .await;
    assert_eq!(ok.assert_status(200)["bio"], "written by me");
    let me = app
        .send(
            app.request(Method::GET, "/api/profile", None)
                .header("cookie", &jar),
        )
        .await;
    assert_eq!(
        me.body["bio"], "written by me",
        "only the CSRF-checked write landed"
    );
}

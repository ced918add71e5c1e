//! What follows a notification out of the server: Web Push to users with no
//! stream open, the welcome email, live delivery across nodes, and the
//! broker failing underneath.

use std::time::Duration;

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TcpProxy, TestApp, TestUser};

#[path = "../../../adapters/tests/support/push_service.rs"]
mod push_service;
#[path = "../../../adapters/tests/support/smtp_server.rs"]
pub(crate) mod smtp_server;

use push_service::{Browser, PushService};

backend_tests!(
    an_offline_user_gets_a_web_push_that_decrypts,
    an_offline_chat_recipient_gets_one_push_per_room,
    a_user_with_a_stream_open_gets_no_push,
    a_gone_subscription_is_deleted,
    a_second_user_registering_an_endpoint_does_not_take_it,
    the_eleventh_subscription_replaces_the_oldest,
    one_users_hanging_endpoints_do_not_delay_anothers_push,
    the_welcome_email_is_written_as_an_eml_file,
);

/// A server that may push to the test's push services on 127.0.0.1 (plain
/// http): without the allow-list, pushes go only to https on public addresses.
async fn push_app(b: Backend) -> TestApp {
    push_app_with(b, |_| {}).await
}

async fn push_app_with(b: Backend, tweak: impl FnOnce(&mut starling_server::Settings)) -> TestApp {
    TestApp::spawn_with(b, |s| {
        s.push_allowed_hosts = "127.0.0.1".into();
        tweak(s);
    })
    .await
}

async fn follow(app: &TestApp, who: &TestUser, whom: &TestUser) {
    app.put(&format!("/api/users/{}/follow", whom.id), Some(&who.access))
        .await
        .assert_status(200);
}

async fn subscribe(app: &TestApp, u: &TestUser, browser: &Browser, endpoint: &str) -> String {
    let r = app
        .post(
            "/api/push/subscriptions",
            Some(&u.access),
            json!({"endpoint": endpoint, "keys": {"p256dh": browser.p256dh(), "auth": push_service::b64(browser.auth)}}),
        )
        .await;
    r.assert_status(201)["id"].as_str().unwrap().to_owned()
}

/// Waits until the push service has `n` requests for `id`.
async fn pushed(service: &PushService, id: &str, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while service.count(id) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} pushes to {id}, got {}",
            service.count(id)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn an_offline_user_gets_a_web_push_that_decrypts(b: Backend) {
    let app = push_app(b).await;
    let service = PushService::start().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let browser = Browser::new();
    let (endpoint, id) = service.endpoint(201);
    subscribe(&app, &ann, &browser, &endpoint).await;
    follow(&app, &bob, &ann).await;
    pushed(&service, &id, 1).await;
    let got = service.take(&id);
    assert_eq!(
        push_service::header(&got.headers, "content-encoding"),
        "aes128gcm"
    );
    let vapid = app.get("/api/push/vapid-public-key", None).await;
    let key = vapid.body["publicKey"].as_str().unwrap();
    assert!(
        push_service::header(&got.headers, "authorization").contains(&format!("k={key}")),
        "signed with the published VAPID key"
    );
    let plain = browser.decrypt(&got.body).expect("the payload decrypts");
    let msg: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(msg["body"], "bob followed you");
    assert_eq!(msg["type"], "follow");
    let listed = app.get("/api/notifications", Some(&ann.access)).await;
    assert_eq!(msg["notificationId"], listed.body["items"][0]["id"]);
}

async fn an_offline_chat_recipient_gets_one_push_per_room(b: Backend) {
    let app = push_app(b).await;
    let service = PushService::start().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let browser = Browser::new();
    let (endpoint, id) = service.endpoint(201);
    subscribe(&app, &ann, &browser, &endpoint).await;
    let room = app
        .post(
            &format!("/api/chat/direct/{}", ann.id),
            Some(&bob.access),
            Value::Null,
        )
        .await
        .assert_status(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..3 {
        app.post(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&bob.access),
            json!({"text": format!("ping {i}"), "clientMsgId": format!("p{i}")}),
        )
        .await
        .assert_status(201);
    }
    pushed(&service, &id, 1).await;
    let plain = browser
        .decrypt(&service.take(&id).body)
        .expect("the payload decrypts");
    let msg: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["body"], "bob sent you a message");
    assert_eq!(msg["roomId"], room.as_str());
    // Collapsed: the other two messages made no second push.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(service.count(&id), 1, "one push per room until read");
}

async fn a_user_with_a_stream_open_gets_no_push(b: Backend) {
    let app = push_app(b).await;
    let service = PushService::start().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let (endpoint, id) = service.endpoint(201);
    subscribe(&app, &ann, &Browser::new(), &endpoint).await;
    let mut stream = app.sse(&ann.access, None).await;
    stream.next_named("unread-count").await;
    follow(&app, &bob, &ann).await;
    let n = stream.next_named("notification").await;
    assert_eq!(n.data["type"], "follow");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(service.count(&id), 0, "the open stream had it; no push");
    // Once the stream closes, pushes resume.
    drop(stream);
    let cat = app.register("cat").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    follow(&app, &cat, &ann).await;
    pushed(&service, &id, 1).await;
}

async fn a_gone_subscription_is_deleted(b: Backend) {
    let app = push_app(b).await;
    let service = PushService::start().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let (gone, gone_id) = service.endpoint(410);
    let (live, live_id) = service.endpoint(201);
    let gone_sub = subscribe(&app, &ann, &Browser::new(), &gone).await;
    subscribe(&app, &ann, &Browser::new(), &live).await;
    follow(&app, &bob, &ann).await;
    pushed(&service, &gone_id, 1).await;
    pushed(&service, &live_id, 1).await;
    // The 410 removed it: deleting it now finds nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app
            .delete(
                &format!("/api/push/subscriptions/{gone_sub}"),
                Some(&ann.access),
            )
            .await;
        if r.status == 404 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gone subscription stayed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cat = app.register("cat").await;
    follow(&app, &cat, &ann).await;
    pushed(&service, &live_id, 2).await;
    assert_eq!(service.count(&gone_id), 1, "never pushed to again");
}

/// Subscriptions are keyed by (user, endpoint): Bob registering the
/// endpoint Ann registered makes a second subscription, and Ann's pushes still
/// reach it encrypted for Ann's browser.
async fn a_second_user_registering_an_endpoint_does_not_take_it(b: Backend) {
    let app = push_app(b).await;
    let service = PushService::start().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let (endpoint, id) = service.endpoint(201);
    let anns_browser = Browser::new();
    let anns = subscribe(&app, &ann, &anns_browser, &endpoint).await;
    let bobs = subscribe(&app, &bob, &Browser::new(), &endpoint).await;
    assert_ne!(anns, bobs, "a subscription of Bob's own");
    follow(&app, &cat, &ann).await;
    pushed(&service, &id, 1).await;
    let plain = anns_browser
        .decrypt(&service.take(&id).body)
        .expect("encrypted for Ann's browser, not Bob's");
    let msg: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(msg["body"], "cat followed you");
    // Each deletes only their own.
    app.delete(
        &format!("/api/push/subscriptions/{anns}"),
        Some(&bob.access),
    )
    .await
    .assert_error(404, "not_found");
    app.delete(
        &format!("/api/push/subscriptions/{bobs}"),
        Some(&bob.access),
    )
    .await
    .assert_status(204);
    app.delete(
        &format!("/api/push/subscriptions/{anns}"),
        Some(&ann.access),
    )
    .await
    .assert_status(204);
}

/// At most `push_max_subscriptions` (10 by default) per user: the eleventh
/// browser is accepted and the oldest subscription makes way for it, so a
/// user's newest browser always works and no user can fan one notification
/// out to more than ten endpoints.
async fn the_eleventh_subscription_replaces_the_oldest(b: Backend) {
    let app = push_app(b).await;
    let service = PushService::start().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let mut subs = Vec::new();
    for _ in 0..11 {
        let (endpoint, id) = service.endpoint(201);
        let sub = subscribe(&app, &ann, &Browser::new(), &endpoint).await;
        subs.push((sub, id));
    }
    follow(&app, &bob, &ann).await;
    for (_, id) in &subs[1..] {
        pushed(&service, id, 1).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(service.count(&subs[0].1), 0, "the oldest was replaced");
    app.delete(
        &format!("/api/push/subscriptions/{}", subs[0].0),
        Some(&ann.access),
    )
    .await
    .assert_error(404, "not_found");
    app.delete(
        &format!("/api/push/subscriptions/{}", subs[1].0),
        Some(&ann.access),
    )
    .await
    .assert_status(204);
}

/// Accepts connections and never answers; counts them.
async fn hanging_endpoint() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (origin, accepted)
}

/// Pushes to one user's endpoints that hang (until the 10 s push timeout)
/// take at most that user's share of the node's push slots: another user's
/// push goes out meanwhile. With two slots on the node, one per user, Ann's
/// four notifications to two hanging endpoints would otherwise hold both.
async fn one_users_hanging_endpoints_do_not_delay_anothers_push(b: Backend) {
    use std::sync::atomic::Ordering;
    let app = push_app_with(b, |s| {
        s.push_concurrency = 2;
        s.push_concurrency_per_user = 1;
    })
    .await;
    let service = PushService::start().await;
    let (hang, accepted) = hanging_endpoint().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    for i in 0..2 {
        subscribe(
            &app,
            &ann,
            &Browser::new(),
            &format!("{hang}/push/201/h{i}"),
        )
        .await;
    }
    let (endpoint, id) = service.endpoint(201);
    subscribe(&app, &bob, &Browser::new(), &endpoint).await;
    for i in 0..4 {
        app.post(
            "/api/posts",
            Some(&cat.access),
            json!({"text": format!("hello @ann {i}")}),
        )
        .await
        .assert_status(201);
    }
    // Ann's pushes are under way (and hanging) before Bob's notification.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "Ann was never pushed to"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    follow(&app, &cat, &bob).await;
    let deadline = started + Duration::from_secs(5);
    while service.count(&id) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "Bob's push waited behind Ann's hanging endpoints"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one request at a time for Ann, still hanging"
    );
}

async fn the_welcome_email_is_written_as_an_eml_file(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.register("newcomer").await;
    let dir = app.data_dir.path().join("mail");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let files = loop {
        let files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() || std::time::Instant::now() > deadline {
            break files;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(files.len(), 1, "one welcome email");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("To: newcomer@example.org"), "{text}");
    assert!(
        text.contains("Subject: Welcome to Starling, newcomer!"),
        "{text}"
    );
    assert!(text.contains("Your username is @newcomer."), "{text}");
}

/// The scaled-out backends, or a skip (a failure under CI=true).
fn scaled() -> Option<Backend> {
    Backend::scaled()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_welcome_email_goes_through_smtp() {
    let Some(smtp) = smtp_server::SmtpServer::start("the_welcome_email_goes_through_smtp").await
    else {
        return;
    };
    let url = smtp.url();
    let app = TestApp::spawn_with(Backend::Embedded, |s| {
        s.smtp_url = Some(url);
        s.mail_from = "Starling <hello@starling.test>".into();
    })
    .await;
    app.register("mailme").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while smtp.received().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no mail: {}",
            smtp.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mail = String::from_utf8(smtp.received().remove(0)).unwrap();
    assert!(mail.contains("To: mailme@example.org"), "{mail}");
    assert!(
        mail.contains("From: Starling <hello@starling.test>"),
        "{mail}"
    );
    assert!(mail.contains("Welcome to Starling"), "{mail}");
    assert!(
        !app.data_dir.path().join("mail").exists(),
        "no .eml files with SMTP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_on_one_node_reaches_a_stream_on_another() {
    let Some(b) = scaled() else { return };
    let a = TestApp::spawn(b).await;
    let b = a.spawn_peer().await;
    let ann = a.register("ann").await;
    let bob = a.register("bob").await;
    let mut on_a = a.sse(&ann.access, None).await;
    on_a.next_named("unread-count").await;
    // Bob acts on node B; Ann's stream is on node A.
    b.put(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    let n = on_a.next_named("notification").await;
    assert_eq!(
        (
            n.data["type"].as_str(),
            n.data["actor"]["username"].as_str()
        ),
        (Some("follow"), Some("bob"))
    );
    assert_eq!(on_a.next_named("unread-count").await.data["count"], 1);
    // And the other way round, with the stream on B.
    let mut on_b = b.sse(&bob.access, None).await;
    on_b.next_named("unread-count").await;
    a.put(&format!("/api/users/{}/follow", bob.id), Some(&ann.access))
        .await
        .assert_status(200);
    assert_eq!(on_b.next_named("notification").await.data["type"], "follow");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_delays_notifications_but_loses_none() {
    let Some(backend) = scaled() else { return };
    let broker = std::env::var("STARLING_TEST_BROKER_URL").unwrap();
    let broker_url = url::Url::parse(&broker).unwrap();
    let target = format!(
        "{}:{}",
        broker_url.host_str().unwrap(),
        broker_url.port().unwrap_or(5672)
    );
    let proxy = TcpProxy::start(
        tokio::net::lookup_host(&target)
            .await
            .unwrap()
            .next()
            .unwrap(),
    )
    .await;
    let mut through_proxy = broker_url.clone();
    through_proxy.set_port(Some(proxy.port)).unwrap();
    let app = TestApp::spawn_with(backend, |s| {
        s.broker_url = Some(through_proxy.to_string());
    })
    .await;
    let ann = app.register("ann").await;
    let mut fans = Vec::new();
    for i in 0..5 {
        fans.push(app.register(&format!("fan{i}")).await);
    }
    proxy.cut();
    // The API keeps answering while the broker is unreachable.
    for f in &fans {
        let r = app
            .put(&format!("/api/users/{}/follow", ann.id), Some(&f.access))
            .await;
        r.assert_status(200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = app.get("/api/notifications", Some(&ann.access)).await;
    assert!(
        during.body["items"].as_array().unwrap().is_empty(),
        "nothing can be delivered while the broker is away"
    );
    let ready = app.get("/ready", None).await;
    assert_eq!(ready.status, 503, "/ready names the broker: {}", ready.text);
    proxy.restore();
    let all = app
        .eventually(
            "/api/notifications?limit=100",
            &ann.access,
            "every follow",
            |b| b["items"].as_array().unwrap().len() >= 5,
        )
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = app
        .get("/api/notifications?limit=100", Some(&ann.access))
        .await;
    assert_eq!(
        after.body["items"].as_array().unwrap().len(),
        5,
        "each once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_node_runs_no_consumers_and_a_worker_node_does() {
    let Some(backend) = scaled() else { return };
    let api = TestApp::spawn_with(backend, |s| s.roles = "api,realtime".into()).await;
    let ann = api.register("ann").await;
    let bob = api.register("bob").await;
    api.put(&format!("/api/users/{}/follow", ann.id), Some(&bob.access))
        .await
        .assert_status(200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let none = api.get("/api/notifications", Some(&ann.access)).await;
    assert!(
        none.body["items"].as_array().unwrap().is_empty(),
        "no consumer runs on an api node: {}",
        none.text
    );
    // A worker joins: the event waiting in its queue is handled.
    let mut worker = api.spawn_peer_with(|s| s.roles = "worker".into()).await;
    let got = api
        .eventually("/api/notifications", &ann.access, "the follow", |b| {
            !b["items"].as_array().unwrap().is_empty()
        })
        .await;
    assert_eq!(got["items"][0]["type"], "follow");
    // The worker serves no API.
    worker
        .get("/api/notifications", Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    worker.stop_in_place().await;
}

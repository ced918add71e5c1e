//! Roles, reports and the moderation queue, suspension and silencing, the
//! audit log, registration modes and invites: what users, moderators,
//! admins and everyone else see.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestUser, disconnected_within, ends_within, open_stream};
use crate::sio::Sio;

backend_tests!(
    every_admin_endpoint_answers_by_role,
    roles_change_at_once_and_the_last_admin_stays,
    moderators_act_on_users_but_not_on_staff,
    reports_reach_the_queue_and_every_moderator,
    resolving_removes_content_or_acts_on_the_account,
    suspension_hides_everything_until_lifted,
    suspension_ends_sessions_sockets_and_streams_everywhere,
    silenced_accounts_leave_public_surfaces_only,
    registration_closed_and_instance_info,
    registration_by_approval,
    registration_by_invite,
    a_deleted_moderators_actions_stay_on_record,
);

const PASSWORD: &str = "correct horse battery";

/// Signs `username` in; the session's access token.
async fn login(app: &TestApp, username: &str) -> String {
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"login": username, "password": PASSWORD}),
        )
        .await;
    r.assert_status(200)["accessToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An admin made the way an operator makes the first one: `starling admin
/// create-user`.
async fn first_admin(app: &TestApp, username: &str) -> TestUser {
    staff_by_cli(app, username, "admin").await
}

/// An account made with the admin CLI's code, in `role`, signed in.
async fn staff_by_cli(app: &TestApp, username: &str, role: &str) -> TestUser {
    let user = starling_server::admin::create_user(
        &app.settings,
        starling_server::admin::NewAccount {
            username: username.into(),
            email: format!("{username}@example.org"),
            role: role.into(),
            password: PASSWORD.into(),
        },
    )
    .await
    .expect("the account is created");
    TestUser {
        id: user.id.to_string(),
        username: username.into(),
        email: format!("{username}@example.org"),
        password: PASSWORD.into(),
        access: login(app, username).await,
        refresh: String::new(),
    }
}

/// A plain user whom `admin` makes a moderator.
async fn moderator(app: &TestApp, admin: &TestUser, username: &str) -> TestUser {
    let m = app.register(username).await;
    app.json(
        Method::PUT,
        &format!("/api/admin/users/{}/role", m.id),
        Some(&admin.access),
        json!({"role": "moderator"}),
    )
    .await
    .assert_status(200);
    m
}

async fn post(app: &TestApp, u: &TestUser, text: &str) -> String {
    app.post("/api/posts", Some(&u.access), json!({"text": text}))
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn comment(app: &TestApp, u: &TestUser, post: &str, text: &str) -> String {
    app.post(
        &format!("/api/posts/{post}/comments"),
        Some(&u.access),
        json!({"text": text}),
    )
    .await
    .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A direct room of `a` and `b` with one message from `a`: (room, message).
async fn message(app: &TestApp, a: &TestUser, b: &TestUser, text: &str) -> (String, String) {
    let room = app
        .post(
            &format!("/api/chat/direct/{}", b.id),
            Some(&a.access),
            json!({}),
        )
        .await;
    let room = room.assert_status(200)["id"].as_str().unwrap().to_owned();
    let m = app
        .post(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&a.access),
            json!({"text": text, "clientMsgId": format!("c{}", rand::random::<u32>())}),
        )
        .await;
    let id = m.assert_status(201)["id"].as_str().unwrap().to_owned();
    (room, id)
}

async fn report(app: &TestApp, u: &TestUser, kind: &str, id: &str) -> Value {
    app.post(
        "/api/reports",
        Some(&u.access),
        json!({"targetType": kind, "targetId": id, "reason": "spam", "comment": "look"}),
    )
    .await
    .assert_status(201)
    .clone()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_admin_endpoint_answers_by_role(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = first_admin(&app, "root").await;
    let moder = moderator(&app, &admin, "mod").await;
    let user = app.register("plain").await;
    let target = app.register("target").await;
    let pending_uid = target.id.clone();
    let p = post(&app, &target, "reported post").await;
    let rep = report(&app, &user, "post", &p).await;
    let rid = rep["id"].as_str().unwrap().to_owned();

    // (method, path, body, what a moderator gets, what an admin gets)
    let cases: Vec<(Method, String, Value, u16, u16)> = vec![
        (
            Method::GET,
            "/api/admin/users".into(),
            Value::Null,
            200,
            200,
        ),
        (
            Method::GET,
            format!("/api/admin/users/{pending_uid}"),
            Value::Null,
            200,
            200,
        ),
        (
            Method::PUT,
            format!("/api/admin/users/{pending_uid}/role"),
            json!({"role": "user"}),
            403,
            200,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{pending_uid}/silence"),
            json!({}),
            200,
            200,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{pending_uid}/unsilence"),
            json!({}),
            200,
            200,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{pending_uid}/suspend"),
            json!({}),
            200,
            200,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{pending_uid}/unsuspend"),
            json!({}),
            200,
            200,
        ),
        (
            Method::GET,
            "/api/admin/reports".into(),
            Value::Null,
            200,
            200,
        ),
        (
            Method::GET,
            format!("/api/admin/reports/{rid}"),
            Value::Null,
            200,
            200,
        ),
        (
            Method::GET,
            "/api/admin/audit".into(),
            Value::Null,
            200,
            200,
        ),
        (
            Method::GET,
            "/api/admin/registrations".into(),
            Value::Null,
            200,
            200,
        ),
        // Not pending: each role that may look gets a 404, not a 403.
        (
            Method::POST,
            format!("/api/admin/registrations/{pending_uid}/approve"),
            json!({}),
            404,
            404,
        ),
        (
            Method::POST,
            format!("/api/admin/registrations/{pending_uid}/reject"),
            json!({}),
            404,
            404,
        ),
        (Method::GET, "/api/invites".into(), Value::Null, 200, 200),
        (Method::POST, "/api/invites".into(), json!({}), 201, 201),
        (
            Method::DELETE,
            "/api/invites/nosuchcode".into(),
            Value::Null,
            404,
            404,
        ),
    ];
    for (method, path, body, as_mod, as_admin) in &cases {
        let call = |token: Option<String>| {
            let mut rb = app.request(method.clone(), path, token.as_deref());
            if !body.is_null() {
                rb = rb.json(body);
            }
            app.send(rb)
        };
        call(None).await.assert_error(401, "unauthenticated");
        call(Some(user.access.clone()))
            .await
            .assert_error(403, "forbidden");
        let r = call(Some(moder.access.clone())).await;
        assert_eq!(
            r.status.as_u16(),
            *as_mod,
            "{method} {path} as moderator: {}",
            r.text
        );
        if *as_mod == 403 {
            r.assert_error(403, "forbidden");
        }
        let r = call(Some(admin.access.clone())).await;
        assert_eq!(
            r.status.as_u16(),
            *as_admin,
            "{method} {path} as admin: {}",
            r.text
        );
    }
    // Resolving last (it settles the report): user 403, moderator 200, admin 409.
    let path = format!("/api/admin/reports/{rid}/resolve");
    let body = json!({"action": "dismiss"});
    app.post(&path, None, body.clone())
        .await
        .assert_error(401, "unauthenticated");
    app.post(&path, Some(&user.access), body.clone())
        .await
        .assert_error(403, "forbidden");
    app.post(&path, Some(&moder.access), body.clone())
        .await
        .assert_status(200);
    app.post(&path, Some(&admin.access), body)
        .await
        .assert_error(409, "already_resolved");
    // Reporting needs only an account.
    app.post(
        "/api/reports",
        None,
        json!({"targetType": "post", "targetId": p, "reason": "spam"}),
    )
    .await
    .assert_error(401, "unauthenticated");
    // The instance is public.
    app.get("/api/instance", None).await.assert_status(200);
}

async fn roles_change_at_once_and_the_last_admin_stays(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = first_admin(&app, "root").await;
    let ann = app.register("ann").await;
    let me = app.get("/api/profile", Some(&ann.access)).await;
    assert_eq!(me.assert_status(200)["role"], "user");
    let root = app.get("/api/profile", Some(&admin.access)).await;
    assert_eq!(root.assert_status(200)["role"], "admin");

    // Read through the user cache first, so a stale copy would show.
    app.get(&format!("/api/users/{}", ann.id), None)
        .await
        .assert_status(200);
    let r = app
        .json(
            Method::PUT,
            &format!("/api/admin/users/{}/role", ann.id),
            Some(&admin.access),
            json!({"role": "moderator"}),
        )
        .await;
    let body = r.assert_status(200);
    assert_eq!(body["role"], "moderator");
    assert_eq!(body["username"], "ann");
    assert_eq!(body["email"], "ann@example.org");
    assert_eq!(body["suspended"], false);
    // At once: her next request is a moderator's.
    let me = app.get("/api/profile", Some(&ann.access)).await;
    assert_eq!(me.assert_status(200)["role"], "moderator");
    app.get("/api/admin/users", Some(&ann.access))
        .await
        .assert_status(200);

    // Bad input.
    let r = app
        .json(
            Method::PUT,
            &format!("/api/admin/users/{}/role", ann.id),
            Some(&admin.access),
            json!({"role": "emperor"}),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert!(r.body["error"]["fields"]["role"].is_string(), "{}", r.text);
    app.json(
        Method::PUT,
        "/api/admin/users/123456789/role",
        Some(&admin.access),
        json!({"role": "user"}),
    )
    .await
    .assert_error(404, "not_found");

    // The last admin cannot step down; with a second one, they can.
    app.json(
        Method::PUT,
        &format!("/api/admin/users/{}/role", admin.id),
        Some(&admin.access),
        json!({"role": "user"}),
    )
    .await
    .assert_error(409, "last_admin");
    app.json(
        Method::PUT,
        &format!("/api/admin/users/{}/role", ann.id),
        Some(&admin.access),
        json!({"role": "admin"}),
    )
    .await
    .assert_status(200);
    let r = app
        .json(
            Method::PUT,
            &format!("/api/admin/users/{}/role", admin.id),
            Some(&admin.access),
            json!({"role": "user"}),
        )
        .await;
    assert_eq!(r.assert_status(200)["role"], "user");
    app.get("/api/admin/users", Some(&admin.access))
        .await
        .assert_error(403, "forbidden");

    // Role changes are audited.
    let audit = app.get("/api/admin/audit", Some(&ann.access)).await;
    let items = audit.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items.iter().all(|a| a["action"] == "set_role"));
    assert_eq!(items[0]["targetId"], admin.id.as_str());
    assert_eq!(items[0]["note"], "user");
    assert!(items.iter().all(|a| a["moderator"]["username"] == "root"));
    assert_eq!(items[2]["targetId"], ann.id.as_str());
    assert_eq!(items[2]["note"], "moderator");

    // The list filters by text and standing.
    let r = app
        .get("/api/admin/users?q=ANN@example", Some(&ann.access))
        .await;
    assert_eq!(ids(r.assert_status(200)), vec![ann.id.clone()]);
    app.get("/api/admin/users?status=weird", Some(&ann.access))
        .await
        .assert_error(400, "validation_failed");
    let r = app.get("/api/admin/users?limit=1", Some(&ann.access)).await;
    let page1 = r.assert_status(200).clone();
    assert_eq!(ids(&page1).len(), 1);
    let cursor = page1["nextCursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/admin/users?limit=1&cursor={cursor}"),
            Some(&ann.access),
        )
        .await;
    assert_ne!(ids(r.assert_status(200)), ids(&page1));
}

async fn moderators_act_on_users_but_not_on_staff(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = first_admin(&app, "root").await;
    let m1 = moderator(&app, &admin, "mone").await;
    let m2 = moderator(&app, &admin, "mtwo").await;
    let bob = app.register("bob").await;
    for target in [&admin.id, &m2.id] {
        app.post(
            &format!("/api/admin/users/{target}/suspend"),
            Some(&m1.access),
            json!({}),
        )
        .await
        .assert_error(403, "forbidden");
    }
    // Nobody acts on their own account.
    app.post(
        &format!("/api/admin/users/{}/silence", m1.id),
        Some(&m1.access),
        json!({}),
    )
    .await
    .assert_error(403, "forbidden");
    // A moderator silences a user (without a body, too); an admin silences a moderator.
    let r = app
        .send(app.request(
            Method::POST,
            &format!("/api/admin/users/{}/silence", bob.id),
            Some(&m1.access),
        ))
        .await;
    let body = r.assert_status(200);
    assert_eq!(body["silenced"], true);
    assert!(body["silencedAt"].is_string());
    let r = app
        .post(
            &format!("/api/admin/users/{}/silence", m2.id),
            Some(&admin.access),
            json!({"note": "calm down"}),
        )
        .await;
    assert_eq!(r.assert_status(200)["silenced"], true);
    // A note too long is a field error.
    app.post(
        &format!("/api/admin/users/{}/unsilence", bob.id),
        Some(&m1.access),
        json!({"note": "x".repeat(1001)}),
    )
    .await
    .assert_error(400, "validation_failed");
    let r = app
        .get("/api/admin/users?status=silenced", Some(&m1.access))
        .await;
    let mut got = ids(r.assert_status(200));
    got.sort();
    let mut want = vec![bob.id.clone(), m2.id.clone()];
    want.sort();
    assert_eq!(got, want);
    let audit = app.get("/api/admin/audit", Some(&admin.access)).await;
    let first = &audit.assert_status(200)["items"][0];
    assert_eq!(first["action"], "silence");
    assert_eq!(first["targetType"], "user");
    assert_eq!(first["targetId"], m2.id.as_str());
    assert_eq!(first["note"], "calm down");
}

async fn reports_reach_the_queue_and_every_moderator(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = first_admin(&app, "root").await;
    let m = moderator(&app, &admin, "mod").await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let p = post(&app, &bob, "rude words").await;
    let c = comment(&app, &bob, &p, "ruder words").await;
    let (room, msg) = message(&app, &bob, &ann, "secret insult").await;

    let r1 = report(&app, &ann, "user", &bob.id).await;
    assert_eq!(r1["targetType"], "user");
    assert_eq!(r1["targetId"], bob.id.as_str());
    assert_eq!(r1["reason"], "spam");
    assert_eq!(r1["comment"], "look");
    assert_eq!(r1["status"], "open");
    assert!(r1["createdAt"].is_string());
    let r2 = report(&app, &ann, "post", &p).await;
    let r3 = report(&app, &ann, "comment", &c).await;
    let r4 = report(&app, &ann, "message", &msg).await;

    // Refusals.
    let bad = |body: Value| app.post("/api/reports", Some(&ann.access), body);
    bad(json!({"targetType": "post", "targetId": p, "reason": "boring"}))
        .await
        .assert_error(400, "validation_failed");
    bad(json!({"targetType": "planet", "targetId": p, "reason": "spam"}))
        .await
        .assert_error(400, "validation_failed");
    bad(json!({"targetType": "post", "targetId": "x", "reason": "spam"}))
        .await
        .assert_error(400, "validation_failed");
    bad(
        json!({"targetType": "post", "targetId": p, "reason": "spam", "comment": "x".repeat(1001)}),
    )
    .await
    .assert_error(400, "validation_failed");
    bad(json!({"targetType": "post", "targetId": "123456789", "reason": "spam"}))
        .await
        .assert_error(404, "not_found");
    bad(json!({"targetType": "user", "targetId": ann.id, "reason": "spam"}))
        .await
        .assert_error(422, "cannot_report_self");
    app.post(
        "/api/reports",
        Some(&bob.access),
        json!({"targetType": "post", "targetId": p, "reason": "spam"}),
    )
    .await
    .assert_error(422, "cannot_report_self");
    // Someone outside the room cannot report (or learn of) its message.
    app.post(
        "/api/reports",
        Some(&eve.access),
        json!({"targetType": "message", "targetId": msg, "reason": "spam"}),
    )
    .await
    .assert_error(404, "not_found");

    // The queue: open ones, oldest first, with what they are about.
    let q = app.get("/api/admin/reports", Some(&m.access)).await;
    let q = q.assert_status(200).clone();
    let want: Vec<String> = [&r1, &r2, &r3, &r4]
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids(&q), want);
    let items = q["items"].as_array().unwrap();
    assert_eq!(items[0]["reporter"]["username"], "ann");
    assert_eq!(items[0]["targetUser"]["username"], "bob");
    assert_eq!(items[1]["post"]["text"], "rude words");
    assert_eq!(items[2]["reportedComment"]["text"], "ruder words");
    // The reporter's own words stay under `comment`, whatever was reported.
    assert_eq!(items[2]["comment"], "look");
    assert_eq!(items[3]["message"]["text"], "secret insult");
    assert_eq!(items[3]["message"]["roomId"], room.as_str());
    assert_eq!(items[3]["message"]["senderId"], bob.id.as_str());
    assert!(items[0].get("resolution").is_none() || items[0]["resolution"].is_null());
    // The moderator is in no room, and the message reaches them only through the report.
    app.get(&format!("/api/chat/rooms/{room}/messages"), Some(&m.access))
        .await
        .assert_status(404);
    let one = app
        .get(&format!("/api/admin/reports/{}", want[3]), Some(&m.access))
        .await;
    assert_eq!(one.assert_status(200)["message"]["text"], "secret insult");
    app.get("/api/admin/reports/123456789", Some(&m.access))
        .await
        .assert_error(404, "not_found");
    app.get("/api/admin/reports?status=maybe", Some(&m.access))
        .await
        .assert_error(400, "validation_failed");
    // Paging.
    let p1 = app.get("/api/admin/reports?limit=3", Some(&m.access)).await;
    let p1 = p1.assert_status(200).clone();
    assert_eq!(ids(&p1), want[..3].to_vec());
    let p2 = app
        .get(
            &format!(
                "/api/admin/reports?limit=3&cursor={}",
                p1["nextCursor"].as_str().unwrap()
            ),
            Some(&m.access),
        )
        .await;
    assert_eq!(ids(p2.assert_status(200)), want[3..].to_vec());

    // Every moderator and admin hears of each report; others do not.
    for staff in [&m, &admin] {
        let got = app
            .eventually(
                "/api/notifications",
                &staff.access,
                "report notifications",
                |b| b["items"].as_array().unwrap().len() >= 4,
            )
            .await;
        let items = got["items"].as_array().unwrap();
        assert_eq!(items.len(), 4, "{got}");
        assert!(items.iter().all(|n| n["type"] == "report"));
        // Events may be handled in any order: compare as sets.
        let mut got: Vec<String> = items
            .iter()
            .map(|n| n["reportId"].as_str().unwrap().to_owned())
            .collect();
        got.sort();
        let mut all = want.clone();
        all.sort();
        assert_eq!(got, all);
        assert!(items.iter().all(|n| n["actor"]["username"] == "ann"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bobs = app.get("/api/notifications", Some(&bob.access)).await;
    assert!(
        bobs.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["type"] != "report"),
        "the reported user hears nothing"
    );
}

async fn resolving_removes_content_or_acts_on_the_account(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = first_admin(&app, "root").await;
    let m = moderator(&app, &admin, "mod").await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let p = post(&app, &bob, "a spammy post").await;
    let keep = post(&app, &bob, "a fine post").await;
    let c = comment(&app, &carl, &keep, "a spammy comment").await;
    let (room, msg) = message(&app, &bob, &ann, "a spammy message").await;
    let rp = report(&app, &ann, "post", &p).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rc = report(&app, &ann, "comment", &c).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rm = report(&app, &ann, "message", &msg).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ru = report(&app, &ann, "user", &carl.id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rs = report(&app, &ann, "post", &keep).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resolve = |id: &str, body: Value| {
        let path = format!("/api/admin/reports/{id}/resolve");
        let token = m.access.clone();
        let app = &app;
        async move { app.post(&path, Some(&token), body).await }
    };

    resolve(&rp, json!({"action": "ban"}))
        .await
        .assert_error(400, "validation_failed");
    resolve(&ru, json!({"action": "remove_content"}))
        .await
        .assert_error(422, "nothing_to_remove");

    let r = resolve(&rp, json!({"action": "remove_content", "note": "spam"})).await;
    let r = r.assert_status(200).clone();
    assert_eq!(r["status"], "resolved");
    assert_eq!(r["resolution"]["action"], "remove_content");
    assert_eq!(r["resolution"]["note"], "spam");
    assert_eq!(r["resolution"]["moderator"]["username"], "mod");
    assert!(r["resolution"]["resolvedAt"].is_string());
    app.get(&format!("/api/posts/{p}"), Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    resolve(&rp, json!({"action": "dismiss"}))
        .await
        .assert_error(409, "already_resolved");

    resolve(&rc, json!({"action": "remove_content"}))
        .await
        .assert_status(200);
    let cs = app
        .get(&format!("/api/posts/{keep}/comments"), Some(&ann.access))
        .await;
    assert!(
        !cs.assert_status(200)
            .to_string()
            .contains("a spammy comment")
    );

    resolve(&rm, json!({"action": "remove_content"}))
        .await
        .assert_status(200);
    let ms = app
        .get(
            &format!("/api/chat/rooms/{room}/messages"),
            Some(&ann.access),
        )
        .await;
    let ms = ms.assert_status(200).to_string();
    assert!(ms.contains(&msg), "the message keeps its place: {ms}");
    assert!(!ms.contains("a spammy message"), "{ms}");

    // Silence through a report acts on the reported account.
    let r = resolve(&ru, json!({"action": "silence"})).await;
    assert_eq!(r.assert_status(200)["resolution"]["action"], "silence");
    let u = app
        .get(&format!("/api/admin/users/{}", carl.id), Some(&m.access))
        .await;
    assert_eq!(u.assert_status(200)["silenced"], true);

    // Suspend through a report: bob signs in nowhere.
    resolve(&rs, json!({"action": "suspend"}))
        .await
        .assert_status(200);
    app.post(
        "/api/auth/login",
        None,
        json!({"login": "bob", "password": PASSWORD}),
    )
    .await
    .assert_error(403, "account_suspended");

    // The queue is empty; resolved ones come newest first.
    let open = app.get("/api/admin/reports", Some(&m.access)).await;
    assert!(ids(open.assert_status(200)).is_empty());
    let done = app
        .get("/api/admin/reports?status=resolved", Some(&m.access))
        .await;
    assert_eq!(
        ids(done.assert_status(200)),
        vec![rs.clone(), ru.clone(), rm.clone(), rc.clone(), rp.clone()]
    );
    // Each resolution is audited, newest first.
    let audit = app.get("/api/admin/audit", Some(&m.access)).await;
    let items = audit.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let actions: Vec<&str> = items
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..5],
        &[
            "suspend",
            "silence",
            "remove_content",
            "remove_content",
            "remove_content"
        ]
    );
    assert_eq!(items[0]["targetType"], "report");
    assert_eq!(items[0]["targetId"], rs.as_str());
}

/// Everything of `who` that `viewer` can find.
async fn findable(
    app: &TestApp,
    viewer: &TestUser,
    who: &TestUser,
    post: &str,
) -> Vec<&'static str> {
    let mut seen = Vec::new();
    let has = |r: &Value| r.to_string().contains(post);
    if has(app
        .get("/api/feed", Some(&viewer.access))
        .await
        .assert_status(200))
    {
        seen.push("home");
    }
    if has(app.get("/api/feed/public", None).await.assert_status(200)) {
        seen.push("public");
    }
    if has(app
        .get("/api/tags/modtest/posts", None)
        .await
        .assert_status(200))
    {
        seen.push("tag");
    }
    if has(app
        .get("/api/search/posts?q=needle", None)
        .await
        .assert_status(200))
    {
        seen.push("search");
    }
    let r = app.get(&format!("/api/users/{}/posts", who.id), None).await;
    if r.status == 200 && has(&r.body) {
        seen.push("profile posts");
    }
    if app
        .get(&format!("/api/users/{}", who.id), None)
        .await
        .status
        == 200
    {
        seen.push("profile");
    }
    if app
        .get(&format!("/api/users?q={}", who.username), None)
        .await
        .assert_status(200)
        .to_string()
        .contains(&who.id)
    {
        seen.push("user search");
    }
    if app
        .get(&format!("/api/users/{}/following", viewer.id), None)
        .await
        .assert_status(200)
        .to_string()
        .contains(&who.id)
    {
        seen.push("following");
    }
    seen
}

async fn suspension_hides_everything_until_lifted(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = first_admin(&app, "root").await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    app.put(&format!("/api/users/{}/follow", bob.id), Some(&ann.access))
        .await
        .assert_status(200);
    let p = post(&app, &bob, "needle #modtest").await;
    let other = post(&app, &ann, "ann writes").await;
    comment(&app, &bob, &other, "bob's needle comment").await;
    let all = vec![
        "home",
        "public",
        "tag",
        "search",
        "profile posts",
        "profile",
        "user search",
        "following",
    ];
    // Fill the caches (timelines, posts, users) before suspending.
    app.eventually("/api/feed", &ann.access, "bob's post in ann's home", |b| {
        b.to_string().contains(&p)
    })
    .await;
    assert_eq!(findable(&app, &ann, &bob, &p).await, all);

    let r = app
        .post(
            &format!("/api/admin/users/{}/suspend", bob.id),
            Some(&admin.access),
            json!({"note": "spam"}),
        )
        .await;
    let body = r.assert_status(200);
    assert_eq!(body["suspended"], true);
    assert!(body["suspendedAt"].is_string());

    assert!(findable(&app, &ann, &bob, &p).await.is_empty());
    app.get(&format!("/api/posts/{p}"), Some(&ann.access))
        .await
        .assert_error(404, "not_found");
    let cs = app
        .get(&format!("/api/posts/{other}/comments"), Some(&ann.access))
        .await;
    assert!(!cs.assert_status(200).to_string().contains("needle comment"));
    // Login and refresh are refused; the old access token too.
    app.post(
        "/api/auth/login",
        None,
        json!({"login": "bob", "password": PASSWORD}),
    )
    .await
    .assert_error(403, "account_suspended");
    let r = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": bob.refresh}),
        )
        .await;
    assert!(r.status == 401 || r.status == 403, "{}", r.text);
    app.get("/api/profile", Some(&bob.access))
        .await
        .assert_status(401);
    // A wrong password still says only that.
    app.post(
        "/api/auth/login",
        None,
        json!({"login": "bob", "password": "wrong password!"}),
    )
    .await
    .assert_error(401, "invalid_credentials");
    // Moderators still see the account.
    let r = app
        .get("/api/admin/users?status=suspended", Some(&admin.access))
        .await;
    assert_eq!(ids(r.assert_status(200)), vec![bob.id.clone()]);

    app.post(
        &format!("/api/admin/users/{}/unsuspend", bob.id),
        Some(&admin.access),
        json!({}),
    )
    .await
    .assert_status(200);
    assert_eq!(findable(&app, &ann, &bob, &p).await, all);
    login(&app, "bob").await;
}

async fn silenced_accounts_leave_public_surfaces_only(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = first_admin(&app, "root").await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    app.put(&format!("/api/users/{}/follow", bob.id), Some(&ann.access))
        .await
        .assert_status(200);
    let p = post(&app, &bob, "needle #modtest").await;
    app.eventually("/api/feed", &ann.access, "bob's post in ann's home", |b| {
        b.to_string().contains(&p)
    })
    .await;
    app.post(
        &format!("/api/admin/users/{}/silence", bob.id),
        Some(&admin.access),
        json!({}),
    )
    .await
    .assert_status(200);
    assert_eq!(
        findable(&app, &ann, &bob, &p).await,
        vec!["home", "profile posts", "profile", "following"]
    );
    // Bob still signs in and posts.
    let token = login(&app, "bob").await;
    app.get("/api/profile", Some(&token))
        .await
        .assert_status(200);
    app.post(
        &format!("/api/admin/users/{}/unsilence", bob.id),
        Some(&admin.access),
        json!({}),
    )
    .await
    .assert_status(200);
    assert_eq!(findable(&app, &ann, &bob, &p).await.len(), 8);
}

async fn suspension_ends_sessions_sockets_and_streams_everywhere(b: Backend) {
    let scaled = matches!(b, Backend::Scaled(_));
    let app = TestApp::spawn(b).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let admin = first_admin(&app, "root").await;
    let bob = app.register("bob").await;
    let second = login(&app, "bob").await;
    let socket = sio.connect("a", &bob.access).await;
    let other_socket = sio.connect("b", &second).await;
    let stream = open_stream(&app, &bob.access).await;
    let peer = if scaled {
        Some(app.spawn_peer().await)
    } else {
        None
    };
    let (peer_sio, peer_socket, peer_stream) = match &peer {
        Some(p) => {
            let s = Sio::start(&p.base).await.unwrap();
            let c = s.connect("p", &second).await;
            p.get("/api/profile", Some(&second))
                .await
                .assert_status(200);
            let st = open_stream(p, &second).await;
            (Some(s), Some(c), Some(st))
        }
        None => (None, None, None),
    };

    let started = Instant::now();
    app.post(
        &format!("/api/admin/users/{}/suspend", bob.id),
        Some(&admin.access),
        json!({}),
    )
    .await
    .assert_status(200);
    // Every session at once: both devices' sockets and streams, on every node.
    disconnected_within(
        &socket,
        Duration::from_secs(1),
        "the first session's socket",
    )
    .await;
    disconnected_within(
        &other_socket,
        Duration::from_secs(1),
        "the second session's socket",
    )
    .await;
    ends_within(stream, Duration::from_secs(1), "the stream").await;
    if let (Some(p), Some(c), Some(st)) = (&peer, &peer_socket, peer_stream) {
        disconnected_within(c, Duration::from_secs(1), "the peer node's socket").await;
        ends_within(st, Duration::from_secs(1), "the peer node's stream").await;
        p.get("/api/profile", Some(&second))
            .await
            .assert_status(401);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "ending took {:?}",
        started.elapsed()
    );
    for token in [&bob.access, &second] {
        app.get("/api/profile", Some(token))
            .await
            .assert_status(401);
    }
    drop(peer_sio);
}

async fn registration_closed_and_instance_info(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.registration_mode = "closed".into()).await;
    let r = app.get("/api/instance", None).await;
    let body = r.assert_status(200);
    assert_eq!(body["registrationMode"], "closed");
    assert_eq!(body["requireEmailVerification"], false);
    assert_eq!(body["limits"]["postMaxChars"], 5000);
    assert_eq!(body["limits"]["mediaPerPost"], 4);
    assert!(body["limits"]["mediaMaxBytes"].as_u64().unwrap() > 0);
    assert!(body["limits"]["avatarMaxBytes"].as_u64().unwrap() > 0);
    app.post(
        "/api/auth/register",
        None,
        json!({"username": "ann", "email": "ann@example.org", "password": PASSWORD}),
    )
    .await
    .assert_error(403, "registration_closed");
    // The operator's CLI still makes accounts.
    first_admin(&app, "root").await;
    assert_eq!(app.user_count().await, 1);
}

async fn registration_by_approval(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.registration_mode = "approval".into()).await;
    let admin = first_admin(&app, "root").await;
    let m = moderator_by_cli(&app, "mod").await;
    let register = |name: &str| {
        app.post(
            "/api/auth/register",
            None,
            json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD}),
        )
    };
    let r = register("ann").await;
    assert_eq!(r.assert_status(202), &json!({"status": "pending"}));
    assert!(r.set_cookies().is_empty(), "no session cookies");
    register("bob").await.assert_status(202);
    app.post(
        "/api/auth/login",
        None,
        json!({"login": "ann", "password": PASSWORD}),
    )
    .await
    .assert_error(403, "account_pending");
    // Pending accounts are nowhere to be found yet... but in the queue.
    let q = app.get("/api/admin/registrations", Some(&m.access)).await;
    let q = q.assert_status(200).clone();
    let names: Vec<&str> = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["bob", "ann"]);
    assert!(
        q["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["pending"] == true)
    );
    let ann_id = q["items"][1]["id"].as_str().unwrap().to_owned();
    let bob_id = q["items"][0]["id"].as_str().unwrap().to_owned();

    let r = app
        .post(
            &format!("/api/admin/registrations/{ann_id}/approve"),
            Some(&m.access),
            json!({}),
        )
        .await;
    assert_eq!(r.assert_status(200)["pending"], false);
    login(&app, "ann").await;
    let r = app
        .post(
            &format!("/api/admin/registrations/{bob_id}/reject"),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    app.post(
        "/api/auth/login",
        None,
        json!({"login": "bob", "password": PASSWORD}),
    )
    .await
    .assert_error(401, "invalid_credentials");
    app.get(&format!("/api/admin/users/{bob_id}"), Some(&admin.access))
        .await
        .assert_error(404, "not_found");
    // Already settled.
    app.post(
        &format!("/api/admin/registrations/{ann_id}/approve"),
        Some(&m.access),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    let q = app.get("/api/admin/registrations", Some(&m.access)).await;
    assert!(ids(q.assert_status(200)).is_empty());
    let audit = app.get("/api/admin/audit", Some(&m.access)).await;
    let actions: Vec<String> = audit.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(&actions[..2], &["reject", "approve"]);

    // Ann is told by mail that she may sign in.
    if app.settings.smtp_url.is_none() {
        let dir = app.data_dir.path().join("mail");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mails: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                        .collect()
                })
                .unwrap_or_default();
            if mails
                .iter()
                .any(|m| m.contains("ann@example.org") && m.contains("approved"))
            {
                assert!(
                    !mails.iter().any(|m| m.contains("bob@example.org")),
                    "no mail for a rejected registration"
                );
                break;
            }
            assert!(Instant::now() < deadline, "no approval mail: {mails:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A moderator made with the CLI (no request has read them yet).
async fn moderator_by_cli(app: &TestApp, username: &str) -> TestUser {
    staff_by_cli(app, username, "moderator").await
}

async fn registration_by_invite(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.registration_mode = "invite".into()).await;
    let m = moderator_by_cli(&app, "mod").await;
    let register = |name: &str, code: Option<&str>| {
        let mut body =
            json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD});
        if let Some(c) = code {
            body["inviteCode"] = c.into();
        }
        app.post("/api/auth/register", None, body)
    };
    for code in [None, Some(""), Some("nosuchcode")] {
        let r = register("ann", code).await;
        r.assert_error(400, "validation_failed");
        assert!(
            r.body["error"]["fields"]["inviteCode"].is_string(),
            "{}",
            r.text
        );
    }
    let r = app
        .post(
            "/api/invites",
            Some(&m.access),
            json!({"maxUses": 2, "expiresInHours": 1}),
        )
        .await;
    let inv = r.assert_status(201).clone();
    assert_eq!(inv["maxUses"], 2);
    assert_eq!(inv["uses"], 0);
    assert_eq!(inv["createdBy"]["username"], "mod");
    assert!(inv["expiresAt"].is_string() && inv["createdAt"].is_string());
    let code = inv["code"].as_str().unwrap().to_owned();
    for body in [
        json!({"maxUses": 0}),
        json!({"maxUses": 1001}),
        json!({"expiresInHours": 8761}),
    ] {
        app.post("/api/invites", Some(&m.access), body)
            .await
            .assert_error(400, "validation_failed");
    }

    register("ann", Some(&code)).await.assert_status(201);
    // A failed registration does not spend a use.
    app.post(
        "/api/auth/register",
        None,
        json!({"username": "ann", "email": "ann2@example.org", "password": PASSWORD, "inviteCode": code}),
    )
    .await
    .assert_error(409, "username_taken");
    register("bob", Some(&code)).await.assert_status(201);
    let r = register("carl", Some(&code)).await;
    r.assert_error(400, "validation_failed");
    assert!(r.body["error"]["fields"]["inviteCode"].is_string());

    // The list, newest first; then revoke one.
    let second = app.post("/api/invites", Some(&m.access), json!({})).await;
    let second = second.assert_status(201)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = app.get("/api/invites", Some(&m.access)).await;
    let list = list.assert_status(200).clone();
    let codes: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec![second.as_str(), code.as_str()]);
    assert_eq!(list["items"][1]["uses"], 2);
    assert_eq!(list["items"][0]["maxUses"], 1);
    let r = app
        .delete(&format!("/api/invites/{second}"), Some(&m.access))
        .await;
    assert_eq!(r.status.as_u16(), 204);
    register("carl", Some(&second))
        .await
        .assert_error(400, "validation_failed");
    let audit = app.get("/api/admin/audit", Some(&m.access)).await;
    let actions: Vec<String> = audit.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        vec!["revoke_invite", "create_invite", "create_invite"]
    );
}

async fn a_deleted_moderators_actions_stay_on_record(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = first_admin(&app, "root").await;
    let m = moderator(&app, &admin, "mod").await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let p = post(&app, &bob, "a spammy post").await;
    let r = report(&app, &ann, "post", &p).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/admin/reports/{r}/resolve"),
        Some(&m.access),
        json!({"action": "dismiss", "note": "fine"}),
    )
    .await
    .assert_status(200);

    // The moderator deletes their account; the worker removes it.
    let d = app
        .json(
            Method::DELETE,
            "/api/profile",
            Some(&m.access),
            json!({"password": m.password}),
        )
        .await;
    assert_eq!(d.status.as_u16(), 202);
    let count = format!("SELECT COUNT(*) FROM users WHERE id = {}", m.id);
    let mut left = app.sql_i64(&count).await;
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = app.sql_i64(&count).await;
    }
    assert_eq!(left, 0, "the moderator's account is removed");

    // What they did is still on record, by a deleted user.
    let audit = app.get("/api/admin/audit", Some(&admin.access)).await;
    let items = audit.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let dismissed = items
        .iter()
        .find(|a| a["action"] == "dismiss")
        .expect("the dismissal is still in the audit log");
    assert!(dismissed["moderator"].is_null(), "{dismissed}");
    let rep = app
        .get(&format!("/api/admin/reports/{r}"), Some(&admin.access))
        .await;
    let rep = rep.assert_status(200);
    assert_eq!(rep["status"], "resolved");
    assert_eq!(rep["resolution"]["action"], "dismiss");
    assert!(rep["resolution"]["moderator"].is_null(), "{rep}");
}

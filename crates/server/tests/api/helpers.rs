//! Starts the real server on port 0 with a fresh database and gives typed
//! client helpers. Every test gets its own server, data dir and database.
//!
//! Backends: `Backend::Embedded` is SQLite, the memory cache and files.
//! `Backend::Scaled` is PostgreSQL (`STARLING_TEST_DATABASE_URL`, a fresh
//! database per test), Redis (`STARLING_TEST_REDIS_URL`, a fresh key prefix),
//! S3 (`STARLING_TEST_S3_ENDPOINT`, a fresh key prefix) and the AMQP broker
//! check (`STARLING_TEST_BROKER_URL`). Without those variables the scaled
//! variant of a test is skipped, unless `CI=true`, where it fails.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use starling_server::{Server, Settings};

#[derive(Clone, Debug)]
pub enum Backend {
    Embedded,
    Scaled(Scaled),
}

#[derive(Clone, Debug)]
pub struct Scaled {
    pub pg_admin_url: String,
    pub redis_url: Option<String>,
    pub s3_endpoint: Option<String>,
    pub broker_url: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn in_ci() -> bool {
    env("CI").as_deref() == Some("true")
}

impl Backend {
    /// The scaled-out backend set, or `None` (skip) outside CI when not configured.
    pub fn scaled() -> Option<Backend> {
        let pg = env("STARLING_TEST_DATABASE_URL");
        let redis = env("STARLING_TEST_REDIS_URL");
        let s3 = env("STARLING_TEST_S3_ENDPOINT");
        let broker = env("STARLING_TEST_BROKER_URL");
        if in_ci() {
            for (name, v) in [
                ("STARLING_TEST_DATABASE_URL", &pg),
                ("STARLING_TEST_REDIS_URL", &redis),
                ("STARLING_TEST_S3_ENDPOINT", &s3),
                ("STARLING_TEST_BROKER_URL", &broker),
            ] {
                assert!(
                    v.is_some(),
                    "CI=true but {name} is not set: the scaled backends must be tested"
                );
            }
        }
        let Some(pg) = pg else {
            starling_core::testing::skipped(format_args!(
                "STARLING_TEST_DATABASE_URL is not set (scaled backends not tested)"
            ));
            return None;
        };
        Some(Backend::Scaled(Scaled {
            pg_admin_url: pg,
            redis_url: redis,
            s3_endpoint: s3,
            broker_url: broker,
        }))
    }
}

/// Runs each named `async fn(Backend)` once on the embedded backends and once
/// on the scaled-out ones.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Embedded).await
                }
            )*
        }
        mod scaled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(b) = $crate::helpers::Backend::scaled() {
                        super::$name(b).await
                    }
                }
            )*
        }
    };
}

fn random_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    /// The Redis key prefix of this server, when it uses Redis.
    pub redis: Option<(String, String)>,
    /// The settings it started with (peers share its backends).
    pub settings: Settings,
    server: Option<Server>,
    pg_db: Option<(String, String)>,
}

pub struct TestUser {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

/// A response: status, headers and JSON body (Null when the body is empty or not JSON).
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Asserts the status and the JSON error shape with this code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        let err = &self.body["error"];
        assert_eq!(err["code"], code, "body: {}", self.text);
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error message missing: {}",
            self.text
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        &self.body
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

async fn create_pg_database(admin_url: &str) -> (String, String) {
    use sqlx::Connection;
    let name = format!("starling_t_{}", random_suffix());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to STARLING_TEST_DATABASE_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin_url).expect("STARLING_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    (name, url.to_string())
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a server; `tweak` adjusts the settings first.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            bind: "127.0.0.1:0".into(),
            data_dir: data_dir.path().to_path_buf(),
            database_max_connections: 8,
            shutdown_timeout_secs: 5,
            // Tests register many users from one address; the registration
            // limit itself is tested with a small one.
            limit_register: "100000/h".into(),
            limit_password_resets: "100000/h".into(),
            // Likewise every test user shares 127.0.0.1 and writes in quick
            // loops: the per-address and burst limits are tested on their own.
            limit_address_factor: 0,
            limit_burst: "off".into(),
            ..Settings::default()
        };
        let mut pg_db = None;
        if let Backend::Scaled(s) = &backend {
            let (name, url) = create_pg_database(&s.pg_admin_url).await;
            settings.database_url = Some(url);
            pg_db = Some((s.pg_admin_url.clone(), name));
            settings.redis_url = s.redis_url.clone();
            settings.redis_prefix = format!("starling-test:{}:", random_suffix());
            if let Some(ep) = &s.s3_endpoint {
                let bucket =
                    env("STARLING_TEST_S3_BUCKET").unwrap_or_else(|| "starling-test".into());
                settings.media_url = Some(format!("s3://{bucket}/t{}", random_suffix()));
                settings.s3_endpoint = Some(ep.clone());
                settings.s3_access_key_id =
                    Some(env("STARLING_TEST_S3_ACCESS_KEY_ID").unwrap_or_else(|| "test".into()));
                settings.s3_secret_access_key = Some(
                    env("STARLING_TEST_S3_SECRET_ACCESS_KEY").unwrap_or_else(|| "test".into()),
                );
            }
            settings.broker_url = s.broker_url.clone();
            settings.broker_exchange = format!("starling-test.{}", random_suffix());
        }
        tweak(&mut settings);
        settings.validate().expect("test settings are valid");
        let redis = settings
            .redis_url
            .clone()
            .map(|u| (u, settings.redis_prefix.clone()));
        let started_with = settings.clone();
        let server = Server::start(settings).await.expect("server starts");
        let base = format!("http://{}", server.addr);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        TestApp {
            base,
            client,
            data_dir,
            redis,
            settings: started_with,
            server: Some(server),
            pg_db,
        }
    }

    /// A second node on the same database, cache, broker and media store
    /// (its own data dir, node id and port). Only the first node drops the
    /// database.
    pub async fn spawn_peer(&self) -> TestApp {
        self.spawn_peer_with(|_| {}).await
    }

    /// A peer with adjusted settings (e.g. other roles).
    pub async fn spawn_peer_with(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        settings.node_id = self.settings.node_id + 1;
        settings.bind = "127.0.0.1:0".into();
        assert!(
            settings.database_url.is_some(),
            "peers need a shared database (the scaled backends)"
        );
        // Tokens must verify on both nodes.
        settings.jwt_private_key_file = Some(self.data_dir.path().join("jwt-ed25519.pem"));
        settings.vapid_private_key = None;
        std::fs::copy(
            self.data_dir.path().join("vapid.key"),
            data_dir.path().join("vapid.key"),
        )
        .expect("share the VAPID key");
        settings.data_dir = data_dir.path().to_path_buf();
        let server = Server::start(settings.clone()).await.expect("peer starts");
        TestApp {
            base: format!("http://{}", server.addr),
            client: self.client.clone(),
            data_dir,
            redis: self.redis.clone(),
            settings,
            server: Some(server),
            pg_db: None,
        }
    }

    /// The database URL (SQLite file or the per-test PostgreSQL database).
    pub fn database_url(&self) -> String {
        self.settings.database_url()
    }

    /// One integer from a query on the server's database, behind its back.
    pub async fn sql_i64(&self, query: &str) -> i64 {
        use sqlx::Connection;
        let url = self.database_url();
        let q = sqlx::AssertSqlSafe(query.to_owned());
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap().to_owned();
            let c = rusqlite::Connection::open(path).unwrap();
            c.query_row(query, [], |r| r.get(0)).unwrap()
        } else {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar(q).fetch_one(&mut c).await.unwrap()
        }
    }

    /// Opens the notification stream as `token`'s user.
    pub async fn sse(&self, token: &str, last_event_id: Option<&str>) -> SseClient {
        let mut rb = self
            .client
            .get(self.url("/api/notifications/stream"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(3600));
        if let Some(id) = last_event_id {
            rb = rb.header("last-event-id", id);
        }
        let r = rb.send().await.expect("stream request sent");
        assert_eq!(r.status(), 200, "the stream opens");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseClient::new(r)
    }

    /// Polls `path` as `token` until `done` accepts the 200 body (10 s at most).
    pub async fn eventually(
        &self,
        path: &str,
        token: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let b = self.get(path, Some(token)).await.assert_status(200).clone();
            if done(&b) {
                return b;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; last answer: {b}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request sent");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(self.request(Method::GET, path, token)).await
    }

    pub async fn json(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(self.request(method, path, token).json(&body))
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.json(Method::POST, path, token, body).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(self.request(Method::PUT, path, token)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(self.request(Method::DELETE, path, token)).await
    }

    /// Sends only the headers of a request that declares a `len`-byte body and
    /// reads the answer. This is how an oversize upload is tested without a
    /// race: a server that refuses a body without reading it closes the
    /// connection, and a client still writing may see a reset instead of the
    /// answer.
    pub async fn declared_body(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        len: usize,
    ) -> Resp {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("send headers");
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
        assert!(
            read.is_ok(),
            "no answer to a declared {len}-byte body within 10 s"
        );
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let mut headers = HeaderMap::new();
        for line in head.lines().skip(1) {
            if let Some((k, v)) = line.split_once(':')
                && let (Ok(k), Ok(v)) = (
                    reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                    reqwest::header::HeaderValue::from_str(v.trim()),
                )
            {
                headers.append(k, v);
            }
        }
        Resp {
            status: StatusCode::from_u16(status).expect("status"),
            headers,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            text: body.to_owned(),
        }
    }

    /// Registers `username` (email `<username>@example.org`, a fixed password).
    pub async fn register(&self, username: &str) -> TestUser {
        let password = "correct horse battery".to_owned();
        let email = format!("{username}@example.org");
        let r = self
            .post(
                "/api/auth/register",
                None,
                json!({"username": username, "email": email, "password": password}),
            )
            .await;
        let b = r.assert_status(201);
        TestUser {
            id: b["user"]["id"].as_str().expect("user id").to_owned(),
            username: username.to_lowercase(),
            email,
            password,
            access: b["accessToken"].as_str().expect("access token").to_owned(),
            refresh: b["refreshToken"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        }
    }

    /// How many users exist (through the public search), to prove nothing was written.
    pub async fn user_count(&self) -> usize {
        let mut n = 0;
        let mut cursor = String::new();
        loop {
            let r = self
                .get(&format!("/api/users?limit=100&cursor={cursor}"), None)
                .await;
            let b = r.assert_status(200);
            n += b["items"].as_array().map_or(0, Vec::len);
            match b["nextCursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return n,
            }
        }
    }

    /// Shuts the server down, keeping the value (and its data dir) alive.
    /// The chat fan-out the server's services announce through.
    pub fn fanout(&self) -> std::sync::Arc<dyn starling_core::live::Fanout> {
        self.server.as_ref().expect("the server runs").fanout()
    }

    pub async fn stop_in_place(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The first node of a test removes its broker topology.
        if self.pg_db.is_some()
            && let Some(url) = self.settings.broker_url.clone()
        {
            let exchange = self.settings.broker_exchange.clone();
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
                    let Ok(conn) =
                        lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
                            .await
                    else {
                        return;
                    };
                    if let Ok(ch) = conn.create_channel().await {
                        for group in ["notifications", "email", "timelines"] {
                            for q in [
                                format!("{exchange}.{group}"),
                                format!("{exchange}.{group}.dead"),
                            ] {
                                let _ = ch
                                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                                    .await;
                            }
                        }
                        let _ = ch
                            .exchange_delete(
                                exchange.as_str().into(),
                                ExchangeDeleteOptions::default(),
                            )
                            .await;
                    }
                    let _ = conn.close(200, "bye".into()).await;
                });
            })
            .join();
        }
        if let Some((admin, name)) = self.pg_db.take() {
            // Drop the per-test database from a helper thread (Drop cannot await).
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async move {
                        use sqlx::Connection;
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// Encodes a test image of the given size and format. The pixels are noise,
/// so the encoded size grows with the dimensions (nothing compresses it away).
pub fn image_bytes(w: u32, h: u32, format: image::ImageFormat) -> Vec<u8> {
    let mut state: u32 = 0x9E37_79B9;
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    }));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

/// A JPEG of the given size carrying an APP1 EXIF segment whose payload holds
/// the marker `SECRET-GPS-LOCATION`, as a phone photo would carry a location.
pub fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
    let jpeg = image_bytes(w, h, image::ImageFormat::Jpeg);
    let payload = b"Exif\0\0MM\0*\0\0\0\x08SECRET-GPS-LOCATION";
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Uploads that are not images, whatever their name and declared type says:
/// (bytes, file name, declared content type).
pub fn not_images() -> Vec<(Vec<u8>, &'static str, &'static str)> {
    vec![
        (b"%PDF-1.4 not an image".to_vec(), "photo.png", "image/png"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            "a.svg",
            "image/svg+xml",
        ),
        (b"just text".to_vec(), "a.jpg", "image/jpeg"),
    ]
}

/// PNG magic followed by garbage: recognised as PNG, but undecodable.
pub fn broken_png() -> Vec<u8> {
    let mut broken = b"\x89PNG\r\n\x1a\n".to_vec();
    broken.extend_from_slice(&[0u8; 64]);
    broken
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// Reads a `text/event-stream` response into events, in the background.
pub struct SseClient {
    rx: tokio::sync::mpsc::UnboundedReceiver<SseEvent>,
    /// Comment lines seen (heartbeats).
    pub comments: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SseClient {
    fn new(r: reqwest::Response) -> Self {
        use futures::StreamExt;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let comments = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = comments.clone();
        let task = tokio::spawn(async move {
            let mut body = r.bytes_stream();
            let mut buf = String::new();
            let (mut event, mut id, mut data) = (String::new(), None, String::new());
            while let Some(Ok(chunk)) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(nl) = buf.find('\n') {
                    let line = buf[..nl].trim_end_matches('\r').to_owned();
                    buf.drain(..=nl);
                    if line.is_empty() {
                        if !data.is_empty() || !event.is_empty() {
                            let ev = SseEvent {
                                event: if event.is_empty() {
                                    "message".into()
                                } else {
                                    std::mem::take(&mut event)
                                },
                                id: id.take(),
                                data: serde_json::from_str(&data)
                                    .unwrap_or(Value::String(data.clone())),
                            };
                            data.clear();
                            if tx.send(ev).is_err() {
                                return;
                            }
                        }
                    } else if line.starts_with(':') {
                        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
            }
        });
        SseClient { rx, comments, task }
    }

    /// The next event (10 s at most).
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("an event within 10 s")
            .expect("the stream is open")
    }

    /// Skips to the next event named `name`.
    pub async fn next_named(&mut self, name: &str) -> SseEvent {
        loop {
            let e = self.next().await;
            if e.event == name {
                return e;
            }
        }
    }

    /// Asserts no `name` event arrives within `wait`.
    pub async fn assert_no(&mut self, name: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) | Ok(None) => return,
                Ok(Some(e)) if e.event == name => panic!("unexpected {name} event: {e:?}"),
                Ok(Some(_)) => {}
            }
        }
    }
}

impl Drop for SseClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy that can be cut and restored: the network between a server
/// and one of its backends, for outage tests that must not stop the real
/// (shared) backend.
pub struct TcpProxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: std::net::SocketAddr) -> TcpProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, cut_rx) = tokio::sync::watch::channel(0u64);
        let is_up = up.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !is_up.load(Ordering::SeqCst) {
                    drop(inbound); // refused while down
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                cut_rx.borrow_and_update(); // only cuts after this one count
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        TcpProxy {
            port,
            up,
            cut,
            task,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens the notification stream with `token`; the task ends when the
/// server ends the stream.
pub async fn open_stream(app: &TestApp, token: &str) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    let r = app
        .client
        .get(app.url("/api/notifications/stream"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut body = r.bytes_stream();
    tokio::spawn(async move { while let Some(Ok(_)) = body.next().await {} })
}

/// Fails unless the stream opened by [`open_stream`] ends within `within`.
pub async fn ends_within(stream: tokio::task::JoinHandle<()>, within: Duration, what: &str) {
    tokio::time::timeout(within, stream)
        .await
        .unwrap_or_else(|_| panic!("{what} stayed open"))
        .unwrap();
}

/// Fails unless the Socket.IO client is disconnected within `within`.
pub async fn disconnected_within(c: &crate::sio::SioClient, within: Duration, what: &str) {
    let deadline = std::time::Instant::now() + within;
    while c.connects().await.1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} stayed connected"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

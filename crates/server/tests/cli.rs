#![allow(clippy::unwrap_used)]
//! End-to-end tests of the `starling` binary as a user runs it: settings and
//! their precedence, start-up errors, migrations, serving, restarts, graceful
//! shutdown, roles, JSON logs and node ids.
//!
//! Every test runs the real binary in its own temporary directory, on a free
//! port (never 8080), with no `STARLING_*` setting inherited from the parent
//! environment, and kills the child process on every path.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_starling");

/// How long a server may take to answer /health after being spawned.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a command that should finish at once (config, migrate, a bad setting) may take.
const QUICK: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A `starling` command run in `cwd` with a clean settings environment: every
/// `STARLING_*` setting of the parent process is removed (the `STARLING_TEST_*`
/// names stay: the binary must ignore names it does not know).
fn starling(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str() {
            // The binary matches the prefix without regard to case.
            let upper = key.to_ascii_uppercase();
            if upper.starts_with("STARLING_") && !upper.starts_with("STARLING_TEST_") {
                cmd.env_remove(key);
            }
        }
    }
    cmd.current_dir(cwd)
        .env("STARLING_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// A port nothing listens on (at the time of asking).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A spawned child whose stdout and stderr are collected in the background.
/// Dropping it kills the child if it is still running.
struct Proc {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Proc {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to `limit` for the child to exit; then waits for its output
    /// to be fully read.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                for r in std::mem::take(&mut self.readers) {
                    let _ = r.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for an exit that should come within `limit`; panics (and the
    /// guard kills the child) otherwise.
    fn expect_exit(&mut self, limit: Duration, what: &str) -> ExitStatus {
        match self.wait_for(limit) {
            Some(status) => status,
            None => panic!(
                "{what}: still running after {limit:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            ),
        }
    }

    /// Sends SIGTERM (with the `kill` command: the test has no libc binding).
    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// SIGTERM, then the process must exit successfully within 10 s.
    fn stop(&mut self) {
        self.sigterm();
        let status = self.expect_exit(Duration::from_secs(10), "after SIGTERM");
        assert!(
            status.success(),
            "exit after SIGTERM: {status}\nstderr:\n{}",
            self.stderr()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs a command that should finish quickly; returns (status, stdout, stderr).
fn run(cmd: Command, what: &str) -> (ExitStatus, String, String) {
    let mut p = Proc::spawn(cmd);
    let status = p.expect_exit(QUICK, what);
    (status, p.stdout(), p.stderr())
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A running `starling serve` on a free port.
struct Server {
    proc: Proc,
    port: u16,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Starts `starling serve --bind 127.0.0.1:<free port> --data-dir <data>` plus
/// `args`, with `envs`, and waits until /health answers.
async fn start_server(cwd: &Path, data: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
    let port = free_port();
    let mut cmd = starling(cwd);
    cmd.arg("serve")
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut server = Server {
        proc: Proc::spawn(cmd),
        port,
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let deadline = Instant::now() + STARTUP;
    loop {
        if let Some(status) = server.proc.child.try_wait().unwrap() {
            server.proc.wait_for(Duration::from_secs(5));
            panic!(
                "starling serve exited during start-up: {status}\nstdout:\n{}\nstderr:\n{}",
                server.proc.stdout(),
                server.proc.stderr()
            );
        }
        if let Ok(r) = http.get(server.url("/health")).send().await
            && r.status() == 200
        {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "starling serve did not answer /health within {STARTUP:?}\nstderr:\n{}",
            server.proc.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A username that no other test (or earlier run) uses.
fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{:08x}", rand::random::<u32>())
}

/// Registers `username`; returns the session response body.
async fn register(http: &reqwest::Client, server: &Server, username: &str) -> Value {
    let r = http
        .post(server.url("/api/auth/register"))
        .json(&json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": "correct horse battery",
        }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 201, "register: {body}");
    serde_json::from_str(&body).unwrap()
}

// ---------------------------------------------------------------------------
// 1. `starling config`
// ---------------------------------------------------------------------------

/// Parses `starling config` output (`key = <JSON value>` lines; unset
/// settings are comments).
fn parse_config(out: &str) -> BTreeMap<String, Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once(" = ")
                .unwrap_or_else(|| panic!("not a `key = value` line: {l:?}"));
            let v = serde_json::from_str(v)
                .unwrap_or_else(|e| panic!("value of {k} is not TOML/JSON ({e}): {l:?}"));
            (k.to_owned(), v)
        })
        .collect()
}

fn config_output(cmd: Command) -> (String, BTreeMap<String, Value>) {
    let (status, out, err) = run(cmd, "starling config");
    assert!(
        status.success(),
        "starling config: {status}\nstderr:\n{err}"
    );
    let parsed = parse_config(&out);
    (out, parsed)
}

#[test]
fn config_shows_effective_settings_in_precedence_order() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();

    // Defaults (the working directory has no starling.toml).
    let mut cmd = starling(cwd);
    cmd.arg("config");
    let (out, s) = config_output(cmd);
    assert_eq!(s["bind"], json!("127.0.0.1:8080"), "{out}");
    assert_eq!(s["data_dir"], json!("./data"), "{out}");
    assert_eq!(s["roles"], json!("api,realtime,worker"), "{out}");
    assert_eq!(s["node_id"], json!(0), "{out}");

    // A --config file overrides the defaults.
    let file = cwd.join("custom.toml");
    std::fs::write(
        &file,
        "bind = \"127.0.0.1:9001\"\ndata_dir = \"/srv/starling\"\nroles = \"api\"\nnode_id = 7\n",
    )
    .unwrap();
    let mut cmd = starling(cwd);
    cmd.arg("config").arg("--config").arg(&file);
    let (out, s) = config_output(cmd);
    assert_eq!(s["bind"], json!("127.0.0.1:9001"), "{out}");
    assert_eq!(s["data_dir"], json!("/srv/starling"), "{out}");
    assert_eq!(s["roles"], json!("api"), "{out}");
    assert_eq!(s["node_id"], json!(7), "{out}");

    // STARLING_BIND overrides the file; the file's other settings stay.
    let mut cmd = starling(cwd);
    cmd.arg("config")
        .arg("--config")
        .arg(&file)
        .env("STARLING_BIND", "127.0.0.1:9002");
    let (out, s) = config_output(cmd);
    assert_eq!(
        s["bind"],
        json!("127.0.0.1:9002"),
        "STARLING_BIND should override the config file:\n{out}"
    );
    assert_eq!(s["node_id"], json!(7), "{out}");

    // --bind overrides the environment.
    let mut cmd = starling(cwd);
    cmd.arg("config")
        .arg("--config")
        .arg(&file)
        .arg("--bind")
        .arg("127.0.0.1:9003")
        .env("STARLING_BIND", "127.0.0.1:9002");
    let (out, s) = config_output(cmd);
    assert_eq!(s["bind"], json!("127.0.0.1:9003"), "{out}");
    assert_eq!(s["roles"], json!("api"), "{out}");
}

#[test]
fn config_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = starling(dir.path());
    cmd.arg("config")
        .env("STARLING_DATABASE_URL", "postgres://u:hunter2@h/db")
        .env("STARLING_REDIS_URL", "redis://:hunter2@h:6379")
        .env("STARLING_S3_SECRET_ACCESS_KEY", "hunter2")
        .env(
            "STARLING_BROKER_URL",
            "amqp://mq/vhost?auth_mechanism=plain&password=hunter2",
        )
        .env("STARLING_SMTP_URL", "smtp://mail:25?token=hunter2");
    let (out, s) = config_output(cmd);
    assert!(!out.contains("hunter2"), "a secret is shown:\n{out}");
    let broker = s["broker_url"].as_str().unwrap_or_default();
    assert!(
        broker.contains("auth_mechanism=plain") && broker.contains("password=***"),
        "broker_url keeps what is not secret:\n{out}"
    );
    assert!(out.contains("***"), "no secret is shown as ***:\n{out}");
    let db = s["database_url"].as_str().unwrap_or_default();
    assert!(
        db.starts_with("postgres://u:***@h"),
        "database_url should be the given URL with its password hidden:\n{out}"
    );
    let redis = s
        .get("redis_url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(redis.contains(":***@h"), "redis_url:\n{out}");
    assert_eq!(
        s.get("s3_secret_access_key"),
        Some(&json!("***")),
        "s3_secret_access_key:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// 2. Invalid settings
// ---------------------------------------------------------------------------

#[test]
fn invalid_settings_stop_startup_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let data = cwd.join("data");
    let unknown_key = cwd.join("unknown.toml");
    std::fs::write(&unknown_key, "colour = \"blue\"\n").unwrap();
    let missing = cwd.join("does-not-exist.toml");
    let unknown_key = unknown_key.to_str().unwrap();
    let missing = missing.to_str().unwrap();

    /// (what, extra args, env, the setting the message must name)
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "STARLING_NODE_ID=5000",
            vec![],
            vec![("STARLING_NODE_ID", "5000")],
            "node_id",
        ),
        (
            "STARLING_NODE_ID=abc",
            vec![],
            vec![("STARLING_NODE_ID", "abc")],
            "node_id",
        ),
        ("--bind nope", vec!["--bind", "nope"], vec![], "bind"),
        (
            "--roles api,chef",
            vec!["--roles", "api,chef"],
            vec![],
            "roles",
        ),
        (
            "STARLING_DATABASE_URL=mysql://x",
            vec![],
            vec![("STARLING_DATABASE_URL", "mysql://x")],
            "database_url",
        ),
        (
            "colour = \"blue\" in the config file",
            vec!["--config", unknown_key],
            vec![],
            "colour",
        ),
        (
            "a --config file that does not exist",
            vec!["--config", missing],
            vec![],
            "config",
        ),
    ];

    let mut failures = Vec::new();
    for (what, args, envs, setting) in cases {
        let mut cmd = starling(cwd);
        cmd.arg("serve").arg("--data-dir").arg(&data);
        // Unless the case is about --bind, never let a wrongly accepted
        // setting start a server on the default port.
        if !args.contains(&"--bind") {
            cmd.arg("--bind").arg(format!("127.0.0.1:{}", free_port()));
        }
        cmd.args(&args);
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        let mut p = Proc::spawn(cmd);
        let Some(status) = p.wait_for(Duration::from_secs(10)) else {
            failures.push(format!(
                "{what}: the server started instead of refusing the setting\nstderr: {}",
                p.stderr().trim()
            ));
            continue;
        };
        let stderr = p.stderr();
        let lines: Vec<&str> = stderr.trim().lines().collect();
        if status.code() != Some(2) {
            failures.push(format!(
                "{what}: exit status {status}, expected 2\nstderr: {}",
                stderr.trim()
            ));
        }
        if lines.len() != 1 {
            failures.push(format!(
                "{what}: stderr should be exactly one line, got {}:\n{stderr}",
                lines.len()
            ));
        }
        let named = format!("`{setting}`");
        if !stderr.contains(&named) {
            failures.push(format!(
                "{what}: stderr does not name {named}: {}",
                stderr.trim()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------
// 3. `starling migrate`
// ---------------------------------------------------------------------------

#[test]
fn migrate_creates_the_sqlite_database_then_is_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let mut cmd = starling(dir.path());
    cmd.arg("migrate").arg("--data-dir").arg(&data);
    let (status, out, err) = run(cmd, "first migrate");
    assert!(status.success(), "first migrate: {status}\n{out}\n{err}");
    assert!(out.contains("applied migrations"), "first migrate:\n{out}");
    assert!(out.contains("sqlite"), "first migrate:\n{out}");
    assert!(
        data.join("starling.db").is_file(),
        "no starling.db in the data dir after migrate"
    );
    // Password hashes and emails: the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data dir mode");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_eq!(mode(&path), 0o600, "{} mode", path.display());
        }
    }
    // An older install's wider modes are narrowed on the next start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data.join("starling.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    let mut cmd = starling(dir.path());
    cmd.arg("migrate").arg("--data-dir").arg(&data);
    let (status, out, err) = run(cmd, "second migrate");
    assert!(status.success(), "second migrate: {status}\n{out}\n{err}");
    assert!(
        out.contains("database is up to date"),
        "second migrate:\n{out}"
    );
    assert_eq!(mode(&data), 0o700, "an existing data dir is narrowed");
    assert_eq!(mode(&db), 0o600, "an existing database file is narrowed");
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql {sql:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Drops the test database on every path.
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {}", self.name),
        ) {
            eprintln!("cleaning up: {e}");
        }
    }
}

/// The admin URL of the test PostgreSQL server, or `None` (a skip; a failure
/// under CI=true) when `STARLING_TEST_DATABASE_URL` is not set.
fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var("STARLING_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "STARLING_TEST_DATABASE_URL must be set in CI (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
            );
            starling_core::testing::skipped(format_args!(
                "{test}: STARLING_TEST_DATABASE_URL is not set"
            ));
            None
        }
    }
}

/// A fresh database on the test server: its URL, and the guard that drops it.
fn fresh_database(admin_url: &str, prefix: &str) -> (url::Url, DropDatabase) {
    let name = format!("{prefix}_{:016x}", rand::random::<u64>());
    psql(admin_url, &format!("CREATE DATABASE {name}")).unwrap();
    let guard = DropDatabase {
        admin_url: admin_url.to_owned(),
        name: name.clone(),
    };
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    (url, guard)
}

#[test]
fn migrate_postgres_then_is_up_to_date() {
    let Some(admin_url) = postgres_admin_url("migrate_postgres_then_is_up_to_date") else {
        return;
    };
    let (url, _cleanup) = fresh_database(&admin_url, "starling_cli");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (round, expected) in [
        ("first", "applied migrations"),
        ("second", "database is up to date"),
    ] {
        let mut cmd = starling(dir.path());
        cmd.arg("migrate")
            .arg("--data-dir")
            .arg(&data)
            .env("STARLING_DATABASE_URL", url.as_str());
        let (status, out, err) = run(cmd, "migrate (postgres)");
        assert!(status.success(), "{round} migrate: {status}\n{out}\n{err}");
        assert!(out.contains(expected), "{round} migrate:\n{out}");
        assert!(
            out.contains("postgres"),
            "{round} migrate did not use PostgreSQL:\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------
// 4. `starling serve` and restarts
// ---------------------------------------------------------------------------

async fn jwks_kid(http: &reqwest::Client, server: &Server) -> String {
    let r = http.get(server.url("/api/auth/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["keys"][0]["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("no kid in the JWKS: {body}"))
        .to_owned()
}

#[tokio::test]
async fn serve_answers_and_keeps_key_and_accounts_across_restarts() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = client();

    let mut first = start_server(dir.path(), &data, &[], &[]).await;

    let r = http.get(first.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok"}));

    let r = http.get(first.url("/ready")).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "/ready: {body}");
    assert_eq!(body["checks"]["database"], json!("ok"), "/ready: {body}");

    let key = data.join("jwt-ed25519.pem");
    let mode = std::fs::metadata(&key)
        .unwrap_or_else(|e| panic!("{}: {e}", key.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode is {:o}", mode & 0o777);
    assert!(data.join("starling.db").is_file(), "no starling.db");

    let kid = jwks_kid(&http, &first).await;
    let username = unique_name("persist");
    register(&http, &first, &username).await;
    first.proc.stop();

    let second = start_server(dir.path(), &data, &[], &[]).await;
    assert_eq!(
        jwks_kid(&http, &second).await,
        kid,
        "the signing key changed across a restart"
    );
    let r = http
        .post(second.url("/api/auth/login"))
        .json(&json!({"login": username, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "login after restart: {body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["user"]["username"], json!(username));
}

// ---------------------------------------------------------------------------
// 5. Graceful shutdown
// ---------------------------------------------------------------------------

/// A ~200x200 PNG of noise (so it does not compress to nothing).
fn png_200() -> Vec<u8> {
    let img = image::RgbImage::from_fn(200, 200, |_, _| image::Rgb(rand::random::<[u8; 3]>()));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = client();
    let mut server = start_server(dir.path(), &data, &[], &[]).await;

    let session = register(&http, &server, &unique_name("graceful")).await;
    let token = session["accessToken"].as_str().unwrap().to_owned();

    let boundary = "starling-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"avatar.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&png_200());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let head = format!(
        "PUT /api/profile/avatar HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        port = server.port,
        len = body.len()
    );
    let (first_half, second_half) = body.split_at(body.len() / 2);

    let mut conn = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(first_half).unwrap();
    conn.flush().unwrap();

    tokio::time::sleep(Duration::from_millis(300)).await;
    server.proc.sigterm();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // No new connections once shutdown has begun.
    match TcpStream::connect_timeout(
        &format!("127.0.0.1:{}", server.port).parse().unwrap(),
        Duration::from_secs(2),
    ) {
        Err(_) => {}
        Ok(mut late) => {
            // Accepted by the kernel at most; it must not be served.
            late.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = late.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut got = Vec::new();
            let _ = late.read_to_end(&mut got);
            assert!(
                got.is_empty(),
                "a new connection was served after SIGTERM: {}",
                String::from_utf8_lossy(&got)
            );
        }
    }

    conn.write_all(second_half).unwrap();
    conn.flush().unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight upload after SIGTERM:\n{response}\nserver stderr:\n{}",
        server.proc.stderr()
    );
    let json_body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let profile: Value = serde_json::from_str(json_body)
        .unwrap_or_else(|e| panic!("response body is not JSON ({e}):\n{response}"));
    assert!(
        profile["avatarUrl"].is_string(),
        "no avatarUrl in the response: {profile}"
    );

    let status = server
        .proc
        .expect_exit(Duration::from_secs(10), "after SIGTERM");
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\nstderr:\n{}",
        server.proc.stderr()
    );
}

// ---------------------------------------------------------------------------
// 6. Roles
// ---------------------------------------------------------------------------

#[tokio::test]
async fn worker_role_serves_operations_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = client();
    let server = start_server(dir.path(), &data, &["--roles", "worker"], &[]).await;

    let r = http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = http.get(server.url("/api/profile")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["code"],
        json!("not_found"),
        "/api/profile on a worker: {body}"
    );
}

// ---------------------------------------------------------------------------
// 7. JSON logs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = client();
    let mut server = start_server(
        dir.path(),
        &data,
        &[],
        &[
            ("STARLING_LOG_FORMAT", "json"),
            ("STARLING_LOG", "info,tower_http=debug"),
        ],
    )
    .await;

    let r = http
        .get(server.url("/api/profile"))
        .header("x-request-id", "test-req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("test-req-123"),
        "the response does not echo x-request-id"
    );
    server.proc.stop();

    let output = format!("{}{}", server.proc.stdout(), server.proc.stderr());
    let mut parsed = Vec::new();
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => parsed.push(v),
            Err(e) => panic!("a log line is not JSON ({e}): {line}\nall output:\n{output}"),
        }
    }
    assert!(!parsed.is_empty(), "the server logged nothing");
    assert!(
        parsed
            .iter()
            .any(|v| v["span"]["request_id"] == json!("test-req-123")),
        "no log line was written in the request's span (request_id test-req-123):\n{output}"
    );
}

// ---------------------------------------------------------------------------
// 8. Node ids
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ids_encode_the_configured_node() {
    const EPOCH_MS: u64 = 1_704_067_200_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = client();
    let server = start_server(dir.path(), &data, &[], &[("STARLING_NODE_ID", "3")]).await;

    let session = register(&http, &server, &unique_name("node")).await;
    let id: u64 = session["user"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("user.id is not a string: {session}"))
        .parse()
        .unwrap();
    let node = (id >> 12) & 0x3ff;
    assert_eq!(node, 3, "id {id} was minted by node {node}");

    let minted_ms = (id >> 22) + EPOCH_MS;
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!(
        now_ms.abs_diff(minted_ms) < 10 * 60 * 1000,
        "id {id} encodes time {minted_ms}, now is {now_ms}"
    );
}

// ---------------------------------------------------------------------------
// 8. Events survive a crash between commit and publish
// ---------------------------------------------------------------------------

async fn login(http: &reqwest::Client, server: &Server, username: &str) -> String {
    login_with(http, server, username, "correct horse battery").await
}

async fn login_with(
    http: &reqwest::Client,
    server: &Server,
    username: &str,
    password: &str,
) -> String {
    let r = http
        .post(server.url("/api/auth/login"))
        .json(&json!({"login": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["accessToken"].as_str().unwrap().to_owned()
}

async fn notifications(http: &reqwest::Client, server: &Server, token: &str) -> Vec<Value> {
    let r = http
        .get(server.url("/api/notifications?limit=100"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// The first node commits a follow but never publishes it (an api node that
/// does not relay), and is killed with SIGKILL. The node started after it
/// delivers the notification, once.
async fn killed_after_commit_then_delivered_once(envs: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = client();
    let mut first_envs = envs.to_vec();
    first_envs.push(("STARLING_OUTBOX_RELAY", "false"));
    let mut first = start_server(dir.path(), &data, &["--roles", "api"], &first_envs).await;
    let ann = unique_name("ann");
    let bob = unique_name("bob");
    let ann_session = register(&http, &first, &ann).await;
    let bob_session = register(&http, &first, &bob).await;
    let ann_id = ann_session["user"]["id"].as_str().unwrap();
    let r = http
        .put(first.url(&format!("/api/users/{ann_id}/follow")))
        .bearer_auth(bob_session["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the follow is acknowledged");
    let token = ann_session["accessToken"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        notifications(&http, &first, &token).await.is_empty(),
        "nothing is published before the crash"
    );
    let status = Command::new("kill")
        .args(["-KILL", &first.proc.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    first
        .proc
        .expect_exit(Duration::from_secs(10), "after SIGKILL");

    let second = start_server(dir.path(), &data, &[], envs).await;
    let token = login(&http, &second, &ann).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let items = loop {
        let items = notifications(&http, &second, &token).await;
        if !items.is_empty() || Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        items.len(),
        1,
        "the follow arrives after the restart: {items:?}"
    );
    assert_eq!(items[0]["type"], "follow");
    assert_eq!(items[0]["actor"]["username"], json!(bob));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notifications(&http, &second, &token).await.len(), 1, "once");
}

#[tokio::test]
async fn sigkill_after_commit_loses_no_event_embedded() {
    killed_after_commit_then_delivered_once(&[]).await;
}

#[tokio::test]
async fn sigkill_after_commit_loses_no_event_postgres_rabbitmq() {
    let Some(admin_url) =
        postgres_admin_url("sigkill_after_commit_loses_no_event_postgres_rabbitmq")
    else {
        return;
    };
    let Some(broker) = std::env::var("STARLING_TEST_BROKER_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: STARLING_TEST_BROKER_URL must be set"
        );
        starling_core::testing::skipped(format_args!("STARLING_TEST_BROKER_URL is not set"));
        return;
    };
    let (url, _cleanup) = fresh_database(&admin_url, "starling_kill");
    let exchange = format!("starling-test.{}", url.path().trim_start_matches('/'));
    killed_after_commit_then_delivered_once(&[
        ("STARLING_DATABASE_URL", url.as_str()),
        ("STARLING_BROKER_URL", &broker),
        ("STARLING_BROKER_EXCHANGE", &exchange),
    ])
    .await;
}

// ---------------------------------------------------------------------------
// 8b. SIGKILL under a mixed write load loses nothing acknowledged
// ---------------------------------------------------------------------------

/// What the clients were told was stored.
#[derive(Default)]
struct Acked {
    posts: Vec<String>,
    /// (post, lover's token)
    loves: Vec<(String, String)>,
    /// (post, comment)
    comments: Vec<(String, String)>,
    messages: Vec<String>,
}

/// One client: posts, loves, comments and chat messages as fast as the server
/// answers, recording only what it acknowledged, until the server dies.
async fn write_until_killed(
    server_url: String,
    token: String,
    room: String,
    seed: u64,
    acked: Arc<Mutex<Acked>>,
) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = |p: &str| format!("{server_url}{p}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0u64;
    while Instant::now() < deadline {
        i += 1;
        let post = {
            let a = acked.lock().unwrap();
            (!a.posts.is_empty())
                .then(|| a.posts[((seed + i * 7) as usize) % a.posts.len()].clone())
        };
        let req = match (i % 4, &post) {
            (1, Some(p)) => http.put(url(&format!("/api/posts/{p}/love"))),
            (2, Some(p)) => http
                .post(url(&format!("/api/posts/{p}/comments")))
                .json(&json!({"text": format!("comment {seed}-{i}")})),
            (3, _) => http
                .post(url(&format!("/api/chat/rooms/{room}/messages")))
                .json(&json!({"text": format!("message {seed}-{i}"), "clientMsgId": format!("k{seed}-{i}")})),
            _ => http
                .post(url("/api/posts"))
                .json(&json!({"text": format!("post {seed}-{i}")})),
        };
        let Ok(r) = req.bearer_auth(&token).send().await else {
            return; // the server is gone
        };
        if !r.status().is_success() {
            continue;
        }
        let Ok(body) = r.json::<Value>().await else {
            return; // the answer was cut off: not acknowledged
        };
        let mut a = acked.lock().unwrap();
        match (i % 4, post) {
            (1, Some(p)) => a.loves.push((p, token.clone())),
            (2, Some(p)) => a
                .comments
                .push((p, body["id"].as_str().unwrap().to_owned())),
            (3, _) => a.messages.push(body["id"].as_str().unwrap().to_owned()),
            _ => a.posts.push(body["id"].as_str().unwrap().to_owned()),
        }
    }
}

/// Every item id of a paged list (`path` has a query already), following `nextCursor`.
async fn all_ids(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    path: &str,
) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let r = http
            .get(server.url(&format!("{path}{cursor}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let page: Value = r.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            ids.insert(item["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return ids,
        }
    }
}

async fn sigkill_under_load_loses_nothing_acknowledged(envs: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = client();
    let mut envs = envs.to_vec();
    envs.push(("STARLING_CHAT_RATE_PER_SEC", "100000"));
    envs.push(("STARLING_CHAT_RATE_BURST", "100000"));
    let mut first = start_server(dir.path(), &data, &[], &envs).await;
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(register(&http, &first, &unique_name("crash")).await);
    }
    let token = |s: &Value| s["accessToken"].as_str().unwrap().to_owned();
    let members: Vec<&str> = sessions[1..]
        .iter()
        .map(|s| s["user"]["id"].as_str().unwrap())
        .collect();
    let r = http
        .post(first.url("/api/chat/rooms"))
        .bearer_auth(token(&sessions[0]))
        .json(&json!({"name": "crash test", "memberIds": members}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let room: Value = r.json().await.unwrap();
    let room = room["id"].as_str().unwrap().to_owned();

    let acked = Arc::new(Mutex::new(Acked::default()));
    let clients: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(n, s)| {
            tokio::spawn(write_until_killed(
                first.url(""),
                token(s),
                room.clone(),
                n as u64,
                acked.clone(),
            ))
        })
        .collect();
    // Let the load build up, then kill the server in the middle of it.
    let start = Instant::now();
    while acked.lock().unwrap().posts.len() < 50 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = Command::new("kill")
        .args(["-KILL", &first.proc.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    first
        .proc
        .expect_exit(Duration::from_secs(10), "after SIGKILL");
    for c in clients {
        c.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    eprintln!(
        "acknowledged before SIGKILL: {} posts, {} loves, {} comments, {} messages",
        acked.posts.len(),
        acked.loves.len(),
        acked.comments.len(),
        acked.messages.len()
    );
    assert!(
        acked.posts.len() >= 50
            && !acked.loves.is_empty()
            && !acked.comments.is_empty()
            && !acked.messages.is_empty(),
        "the load ran: {} posts, {} loves, {} comments, {} messages",
        acked.posts.len(),
        acked.loves.len(),
        acked.comments.len(),
        acked.messages.len()
    );

    let second = start_server(dir.path(), &data, &[], &envs).await;
    let reader = login(
        &http,
        &second,
        sessions[0]["user"]["username"].as_str().unwrap(),
    )
    .await;
    let get = |path: String, token: String| {
        let http = http.clone();
        let url = second.url(&path);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    for p in &acked.posts {
        get(format!("/api/posts/{p}"), reader.clone()).await;
    }
    for (p, lover) in &acked.loves {
        // The lover's access token was signed with the same key and is still valid.
        let post = get(format!("/api/posts/{p}"), lover.clone()).await;
        assert_eq!(
            post["lovedByMe"], true,
            "an acknowledged love of {p} survived"
        );
    }
    let mut stored_comments = std::collections::HashSet::new();
    let commented: std::collections::BTreeSet<&String> =
        acked.comments.iter().map(|(p, _)| p).collect();
    for p in commented {
        let path = format!("/api/posts/{p}/comments?limit=100");
        stored_comments.extend(all_ids(&http, &second, &reader, &path).await);
    }
    for (p, c) in &acked.comments {
        assert!(
            stored_comments.contains(c),
            "acknowledged comment {c} on {p} survived"
        );
    }
    let path = format!("/api/chat/rooms/{room}/messages?limit=100");
    let stored_messages = all_ids(&http, &second, &reader, &path).await;
    for m in &acked.messages {
        assert!(
            stored_messages.contains(m),
            "acknowledged message {m} survived"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged_embedded() {
    sigkill_under_load_loses_nothing_acknowledged(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged_postgres() {
    let Some(admin_url) =
        postgres_admin_url("sigkill_under_load_loses_nothing_acknowledged_postgres")
    else {
        return;
    };
    let (url, _cleanup) = fresh_database(&admin_url, "starling_crash");
    sigkill_under_load_loses_nothing_acknowledged(&[("STARLING_DATABASE_URL", url.as_str())]).await;
}

// ---------------------------------------------------------------------------
// 9. `starling seed`
// ---------------------------------------------------------------------------

async fn seed_then_serve(envs: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = starling(dir.path());
    cmd.args([
        "seed",
        "--users",
        "300",
        "--posts",
        "3000",
        "--star-followers",
        "250",
        "--follows-per-user",
        "5",
        "--data-dir",
    ])
    .arg(&data);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let (status, out, err) = run(cmd, "seed");
    assert!(status.success(), "seed: {status}\n{out}\n{err}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (report["users"].as_u64(), report["posts"].as_u64()),
        (Some(300), Some(3000))
    );
    let server = start_server(dir.path(), &data, &[], envs).await;
    let http = client();
    let token = login_with(
        &http,
        &server,
        "seed7",
        report["password"].as_str().unwrap(),
    )
    .await;
    let star = http
        .get(server.url(&format!(
            "/api/users/{}",
            report["star_id"].as_i64().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(star["username"], "seed1");
    assert_eq!(
        star["followerCount"], 255,
        "250 followers plus the ring's 5"
    );
    let feed: Value = http
        .get(server.url("/api/feed?limit=5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authors: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["author"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(authors.len(), 5, "{feed}");
    assert!(
        authors.iter().all(|a| [
            "seed1", "seed7", "seed8", "seed9", "seed10", "seed11", "seed12"
        ]
        .contains(a)),
        "{authors:?}"
    );
    // New posts sort after the seeded ones.
    let r = http
        .post(server.url("/api/posts"))
        .bearer_auth(&token)
        .json(&json!({"text": "after the seed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let feed: Value = http
        .get(server.url("/api/feed?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(feed["items"][0]["text"], "after the seed");
}

#[tokio::test]
async fn seed_fills_sqlite_for_benchmarks() {
    seed_then_serve(&[]).await;
}

#[tokio::test]
async fn seed_fills_postgres_for_benchmarks() {
    let Some(admin_url) = postgres_admin_url("seed_fills_postgres_for_benchmarks") else {
        return;
    };
    let (url, _cleanup) = fresh_database(&admin_url, "starling_seed");
    seed_then_serve(&[("STARLING_DATABASE_URL", url.as_str())]).await;
}

// ---------------------------------------------------------------------------
// 9. `starling admin`: accounts and roles from the command line
// ---------------------------------------------------------------------------

async fn profile_role(http: &reqwest::Client, server: &Server, token: &str) -> String {
    let r = http
        .get(server.url("/api/profile"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["role"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admin_creates_users_and_sets_roles() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap().to_owned();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let admin = |args: &[&str]| {
        let mut cmd = starling(dir.path());
        cmd.arg("admin").args(args).arg("--data-dir").arg(&data_arg);
        run(cmd, "starling admin")
    };

    let (status, out, err) = admin(&[
        "create-user",
        "--username",
        "boss",
        "--email",
        "boss@example.com",
        "--role",
        "admin",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(status.success(), "create-user failed: {err}");
    assert!(out.contains("@boss") && out.contains("admin"), "{out}");
    let (status, out, err) = admin(&[
        "create-user",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(status.success(), "create-user failed: {err}");
    assert!(out.contains("role user"), "{out}");

    // No password file and no terminal: refused, nothing created.
    let (status, _, err) = admin(&[
        "create-user",
        "--username",
        "carol",
        "--email",
        "carol@example.com",
    ]);
    assert!(!status.success());
    assert!(err.contains("--password-file"), "{err}");
    // A taken username, an unknown role, an unknown user: each a clear failure.
    let (status, _, err) = admin(&[
        "create-user",
        "--username",
        "alice",
        "--email",
        "other@example.com",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(err.contains("taken"), "{err}");
    let (status, _, err) = admin(&["set-role", "alice", "king"]);
    assert!(!status.success());
    assert!(err.contains("unknown role"), "{err}");
    let (status, _, err) = admin(&["set-role", "nobody", "admin"]);
    assert!(!status.success());
    assert!(err.contains("no user"), "{err}");

    // By username, then the last admin may not step down.
    let (status, out, err) = admin(&["set-role", "alice", "moderator"]);
    assert!(status.success(), "set-role failed: {err}");
    assert!(out.contains("is now moderator"), "{out}");
    let (status, _, err) = admin(&["set-role", "boss", "user"]);
    assert!(!status.success());
    assert!(err.contains("last admin"), "{err}");

    let server = start_server(dir.path(), &data, &[], &[]).await;
    let http = client();
    let boss = login(&http, &server, "boss").await;
    let alice = login(&http, &server, "alice").await;
    assert_eq!(profile_role(&http, &server, &boss).await, "admin");
    assert_eq!(profile_role(&http, &server, &alice).await, "moderator");
    // The admin endpoints agree: alice moderates, so she may list accounts.
    let r = http
        .get(server.url("/api/admin/users?q=boss"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["items"][0]["role"], "admin");
    let boss_id = body["items"][0]["id"].as_str().unwrap().to_owned();

    // By id, while the server runs.
    let (status, out, err) = admin(&["set-role", &boss_id, "admin"]);
    assert!(status.success(), "set-role by id failed: {err}");
    assert!(out.contains("@boss"), "{out}");
}

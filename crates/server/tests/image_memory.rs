#![allow(clippy::unwrap_used)]
//! Image bombs against the real `starling` binary, measured as a process:
//! a burst of concurrent uploads of small, highly compressible PNGs with huge
//! canvases must keep the server's peak RSS (VmHWM in /proc) under its idle
//! RSS plus `image_memory_budget`, and every answer must be 201, 422
//! `image_too_large`, 503 `busy` (with Retry-After) or 429, never another 5xx
//! or a crash.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_starling");
const MIB: u64 = 1024 * 1024;

/// The server process; killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `starling serve` on a free port with no inherited `STARLING_*` setting.
fn spawn(data: &Path, envs: &[(&str, &str)]) -> (Proc, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && key.to_ascii_uppercase().starts_with("STARLING_")
        {
            cmd.env_remove(key);
        }
    }
    cmd.arg("serve")
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .env("STARLING_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    (Proc(cmd.spawn().unwrap()), port)
}

/// A field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// A PNG of `w` x `h` transparent black pixels, 8-bit RGBA (the most a
/// 16 MP canvas may cost to decode): a few hundred KB at most.
fn blank_png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::new(w, h);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The same, 8-bit grey (cheaper to make for a canvas that is refused anyway).
fn blank_grey_png(w: u32, h: u32) -> Vec<u8> {
    let img = image::GrayImage::new(w, h);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn wait_healthy(http: &reqwest::Client, port: u16, server: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "the server exited during start-up"
        );
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "no /health within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn upload(
    http: &reqwest::Client,
    port: u16,
    token: &str,
    bytes: Vec<u8>,
) -> (u16, Option<String>, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("bomb.png")
        .mime_str("image/png")
        .unwrap();
    let r = http
        .post(format!("http://127.0.0.1:{port}/api/media"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
    (status, retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_image_bombs_stays_within_the_memory_budget() {
    let budget = 256 * MIB; // the default `image_memory_budget`
    let dir = tempfile::tempdir().unwrap();
    // The write limits would answer part of the burst with 429 (uploads per
    // user, per address, per second); what is measured here is the decode
    // gate behind them.
    let (mut server, port) = spawn(
        &dir.path().join("data"),
        &[("STARLING_WRITE_LIMITS", "false")],
    );
    let pid = server.0.id();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    wait_healthy(&http, port, &mut server).await;

    let r = http
        .post(format!("http://127.0.0.1:{port}/api/auth/register"))
        .json(&json!({"username": "bomber", "email": "bomber@example.org",
                      "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let session: Value = r.json().await.unwrap();
    let token = session["accessToken"].as_str().unwrap().to_owned();

    // Over the 16 MP cap (64 MP) and just under it (16 MP at 8-bit RGBA:
    // the largest canvas accepted). Both are tiny files.
    let over = blank_grey_png(8000, 8000);
    let under = blank_png(4000, 4000);
    assert!(over.len() < 512 * 1024, "{}", over.len());
    assert!(under.len() < 512 * 1024, "{}", under.len());

    // Warm up (first upload: thread pools, database connections), then idle.
    let (status, _, body) = upload(&http, port, &token, blank_png(64, 64)).await;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = proc_status_bytes(pid, "VmRSS");
    let hwm_before = proc_status_bytes(pid, "VmHWM");

    // Sample RSS while the burst runs (VmHWM is the kernel's own peak too).
    let stop = Arc::new(AtomicBool::new(false));
    let peak_sampled = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak_sampled.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kb) = s
                        .lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<u64>().ok())
                {
                    peak.fetch_max(kb * 1024, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let bytes = if i % 2 == 0 {
            under.clone()
        } else {
            over.clone()
        };
        let (http, token) = (http.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            (i % 2 == 0, upload(&http, port, &token, bytes).await)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the server died during the burst"
    );
    let hwm = proc_status_bytes(pid, "VmHWM");
    let after = proc_status_bytes(pid, "VmRSS");
    let sampled = peak_sampled.load(Ordering::Relaxed);
    let (mut created, mut refused, mut busy) = (0, 0, 0);
    for (under_cap, (status, retry_after, body)) in &answers {
        match status {
            201 => {
                assert!(under_cap, "an over-cap image was accepted: {body}");
                assert_eq!(body["width"], 2048, "{body}");
                created += 1;
            }
            422 => {
                assert_eq!(body["error"]["code"], "image_too_large", "{body}");
                assert!(!under_cap, "the under-cap image was refused: {body}");
                refused += 1;
            }
            503 | 429 => {
                assert!(retry_after.is_some(), "{status} without Retry-After");
                assert!(body["error"]["code"].is_string(), "{body}");
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    eprintln!(
        "image bombs: idle RSS {} MiB, VmHWM before {} MiB, after burst VmHWM {} MiB \
         (sampled peak {} MiB, RSS now {} MiB); budget {} MiB; {created} created, \
         {refused} refused, {busy} busy, in {took:?}",
        idle / MIB,
        hwm_before / MIB,
        hwm / MIB,
        sampled / MIB,
        after / MIB,
        budget / MIB
    );
    assert_eq!(
        refused, 10,
        "every over-cap image is refused from its header"
    );
    assert!(created >= 1, "the gate let no upload through");
    assert!(
        hwm < idle + budget,
        "peak RSS {} MiB is over idle {} MiB + budget {} MiB",
        hwm / MIB,
        idle / MIB,
        budget / MIB
    );

    // Still serving, and a normal upload works.
    let (status, _, body) = upload(&http, port, &token, blank_png(300, 200)).await;
    assert_eq!(status, 201, "{body}");
}

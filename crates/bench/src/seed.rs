//! Seeding through the public API: many independent requests (register,
//! follow, post, refresh) sent by a bounded number of keep-alive
//! connections, with progress on stderr.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};

use crate::http::{Conn, ResponseParser};

/// Per-request timeout while seeding.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How long one seeding phase took.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub phase: String,
    pub requests: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub per_sec: f64,
    /// Requests sent again after an i/o error, a timeout, or a 5xx or 429
    /// answer.
    pub retries: usize,
}

impl PhaseReport {
    pub fn line(&self) -> String {
        let mut line = format!(
            "{:<9} {:>9} requests in {:>7.1} s = {:>8.1}/s (concurrency {})",
            self.phase, self.requests, self.seconds, self.per_sec, self.concurrency
        );
        if self.retries > 0 {
            line.push_str(&format!(", {} retried", self.retries));
        }
        line
    }
}

/// One seeding phase: `count` requests, request `i` written by
/// `build(i, buf)`, sent over `concurrency` connections. Every response must
/// be 2xx, or the phase stops with an error. An i/o error, a timeout, or a
/// 5xx or 429 answer is retried up to `retries` times, after a growing pause
/// (use 0 for requests that are not safe to repeat; the first failure of
/// each kind is printed). With `collect`, returns the body of every
/// response, by `i`.
pub async fn phase<B>(
    addr: SocketAddr,
    name: &str,
    count: usize,
    concurrency: usize,
    retries: u32,
    collect: bool,
    build: B,
) -> anyhow::Result<(Vec<Vec<u8>>, PhaseReport)>
where
    B: Fn(usize, &mut Vec<u8>) + Send + Sync + 'static,
{
    let started = Instant::now();
    let build = Arc::new(build);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let retried = Arc::new(AtomicUsize::new(0));
    let warned = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let abort = Arc::new(AtomicBool::new(false));
    let workers = concurrency.clamp(1, count.max(1));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let w = Worker {
                addr,
                name: name.to_owned(),
                count,
                retries,
                collect,
                next: next.clone(),
                done: done.clone(),
                retried: retried.clone(),
                warned: warned.clone(),
                abort: abort.clone(),
            };
            let build = build.clone();
            tokio::spawn(async move { w.run(&*build).await })
        })
        .collect();
    // If this phase is abandoned (Ctrl-C), its tasks stop with it.
    let mut guard = AbortOnDrop(tasks.iter().map(|t| t.abort_handle()).collect());
    let progress = {
        let done = done.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let n = done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "  {name}: {n}/{count} after {secs:.0} s ({:.0}/s)",
                    n as f64 / secs
                );
            }
        })
    };
    guard.0.push(progress.abort_handle());
    let mut bodies: Vec<Vec<u8>> = if collect {
        vec![Vec::new(); count]
    } else {
        Vec::new()
    };
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(collected)) => {
                for (i, body) in collected {
                    if let Some(slot) = bodies.get_mut(i) {
                        *slot = body;
                    }
                }
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(anyhow!("{name}: a seeding task failed: {e}"));
            }
        }
    }
    progress.abort();
    if let Some(e) = first_error {
        return Err(e);
    }
    let seconds = started.elapsed().as_secs_f64();
    let report = PhaseReport {
        phase: name.to_owned(),
        requests: count,
        concurrency: workers,
        seconds: (seconds * 10.0).round() / 10.0,
        per_sec: if seconds > 0.0 {
            (count as f64 / seconds * 10.0).round() / 10.0
        } else {
            0.0
        },
        retries: retried.load(Ordering::Relaxed),
    };
    Ok((bodies, report))
}

/// Aborts tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

struct Worker {
    addr: SocketAddr,
    name: String,
    count: usize,
    retries: u32,
    collect: bool,
    next: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    retried: Arc<AtomicUsize>,
    /// Kinds of failure already printed.
    warned: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    abort: Arc<AtomicBool>,
}

impl Worker {
    async fn run<B>(&self, build: &B) -> anyhow::Result<Vec<(usize, Vec<u8>)>>
    where
        B: Fn(usize, &mut Vec<u8>) + Send + Sync,
    {
        let result = self.work(build).await;
        if result.is_err() {
            self.abort.store(true, Ordering::Relaxed);
        }
        result
    }

    async fn work<B>(&self, build: &B) -> anyhow::Result<Vec<(usize, Vec<u8>)>>
    where
        B: Fn(usize, &mut Vec<u8>) + Send + Sync,
    {
        let mut out = Vec::new();
        let mut conn: Option<Conn> = None;
        let mut parser = ResponseParser::new(false, true);
        let mut buf = Vec::with_capacity(1024);
        let name = &self.name;
        while !self.abort.load(Ordering::Relaxed) {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.count {
                break;
            }
            buf.clear();
            build(i, &mut buf);
            let mut attempt = 0;
            loop {
                let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
                    if conn.is_none() {
                        conn = Some(Conn::connect(self.addr).await?);
                    }
                    match conn.as_mut() {
                        Some(c) => c
                            .roundtrip(&buf, &mut parser)
                            .await
                            .map_err(|e| e.to_string()),
                        None => Err("no connection".to_owned()),
                    }
                    .map_err(|e| anyhow!(e))
                })
                .await;
                let failure = match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(format!("{e:#}")),
                    Err(_) => Some(format!("no response within {REQUEST_TIMEOUT:?}")),
                };
                let status = parser.status();
                let why = match failure {
                    Some(why) => {
                        conn = None;
                        why
                    }
                    None => {
                        if !parser.keep_alive() {
                            conn = None;
                        }
                        if (200..300).contains(&status) {
                            break;
                        }
                        let body: String = String::from_utf8_lossy(parser.body())
                            .chars()
                            .take(300)
                            .collect();
                        let why = format!("answered {status}: {body}");
                        if status != 429 && status < 500 {
                            return Err(anyhow!(
                                "{name} request #{i} {why}\nrequest: {}",
                                String::from_utf8_lossy(
                                    buf.get(..buf.len().min(200)).unwrap_or(&[])
                                )
                            ));
                        }
                        why
                    }
                };
                attempt += 1;
                if attempt > self.retries {
                    return Err(anyhow!("{name} request #{i} failed: {why}"));
                }
                self.retried.fetch_add(1, Ordering::Relaxed);
                let kind: String = why.chars().take(120).collect();
                let first = self
                    .warned
                    .lock()
                    .map(|mut w| w.insert(kind))
                    .unwrap_or(false);
                if first {
                    eprintln!("  {name}: retrying after: {why}");
                }
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            if self.collect {
                out.push((i, parser.body().to_vec()));
            }
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(out)
    }
}

/// The parts of a session response the benchmark uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    pub user: SessionUser,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

#[derive(Debug, Deserialize)]
pub struct SessionUser {
    pub id: String,
}

pub fn parse_session(body: &[u8]) -> anyhow::Result<SessionBody> {
    serde_json::from_slice(body).with_context(|| {
        format!(
            "not a session response: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(300)
                .collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_session_responses() {
        let body = br#"{"user":{"id":"7212470313345024","username":"a","email":"a@b.c"},
            "accessToken":"eyJ","refreshToken":"r1","expiresIn":900}"#;
        let s = parse_session(body).expect("session");
        assert_eq!(s.user.id, "7212470313345024");
        assert_eq!((s.access_token.as_str(), s.expires_in), ("eyJ", 900));
        assert!(parse_session(b"{}").is_err());
    }
}

//! Seeding through the public API: many independent requests (register,
//! follow, post, refresh) sent by a bounded number of keep-alive
//! connections, with progress on stderr; and the seeded accounts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use hyper::Request;
use serde::{Deserialize, Serialize};

use crate::graph::Graph;
use crate::http::{AbortOnDrop, Body, Client, HttpUrl, excerpt};
use crate::report::round1;
use crate::workload::{Users, random_text};

/// Per-request timeout while seeding.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct-horse-battery";
/// Requests per seeding chunk: tokens are checked (and refreshed when they
/// would expire within [`CHUNK_TOKEN_LIFE`]) before each chunk, so a phase
/// may outlast an access token.
const SEED_CHUNK: usize = 50_000;
const CHUNK_TOKEN_LIFE: Duration = Duration::from_secs(5 * 60);
/// A token is refreshed unless it stays valid this much longer than needed.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);

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

    /// One report for the chunks of a phase.
    fn combine(name: &str, parts: &[PhaseReport]) -> PhaseReport {
        let requests = parts.iter().map(|p| p.requests).sum::<usize>();
        let seconds = parts.iter().map(|p| p.seconds).sum::<f64>();
        PhaseReport {
            phase: name.to_owned(),
            requests,
            concurrency: parts.iter().map(|p| p.concurrency).max().unwrap_or(0),
            seconds: round1(seconds),
            per_sec: if seconds > 0.0 {
                round1(requests as f64 / seconds)
            } else {
                0.0
            },
            retries: parts.iter().map(|p| p.retries).sum(),
        }
    }
}

/// What the requests of one phase share.
struct Shared {
    name: String,
    count: usize,
    retries: u32,
    collect: bool,
    next: AtomicUsize,
    done: AtomicUsize,
    retried: AtomicUsize,
    /// Kinds of failure already printed.
    warned: std::sync::Mutex<std::collections::BTreeSet<String>>,
    abort: AtomicBool,
}

/// One seeding phase: `count` requests, request `i` made by `build(i)`, sent
/// over `concurrency` connections. Every response must be 2xx, or the phase
/// stops with an error. An i/o error, a timeout, or a 5xx or 429 answer is
/// retried up to `retries` times, after a growing pause (use 0 for requests
/// that are not safe to repeat; the first failure of each kind is printed).
/// With `collect`, returns the body of every response, by `i`.
pub async fn phase<B>(
    addr: SocketAddr,
    name: &str,
    count: usize,
    concurrency: usize,
    retries: u32,
    collect: bool,
    build: B,
) -> anyhow::Result<(Vec<Bytes>, PhaseReport)>
where
    B: Fn(usize) -> anyhow::Result<Request<Body>> + Send + Sync + 'static,
{
    let started = Instant::now();
    let build = Arc::new(build);
    let shared = Arc::new(Shared {
        name: name.to_owned(),
        count,
        retries,
        collect,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        retried: AtomicUsize::new(0),
        warned: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        abort: AtomicBool::new(false),
    });
    let workers = concurrency.clamp(1, count.max(1));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (shared, build) = (shared.clone(), build.clone());
            tokio::spawn(async move {
                let result = work(addr, &shared, &*build).await;
                if result.is_err() {
                    shared.abort.store(true, Ordering::Relaxed);
                }
                result
            })
        })
        .collect();
    // If this phase is abandoned (Ctrl-C), its tasks stop with it.
    let mut guard = AbortOnDrop(tasks.iter().map(|t| t.abort_handle()).collect());
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let n = shared.done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "  {}: {n}/{count} after {secs:.0} s ({:.0}/s)",
                    shared.name,
                    n as f64 / secs
                );
            }
        })
    };
    guard.0.push(progress.abort_handle());
    let mut bodies = if collect {
        vec![Bytes::new(); count]
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
        seconds: round1(seconds),
        per_sec: if seconds > 0.0 {
            round1(count as f64 / seconds)
        } else {
            0.0
        },
        retries: shared.retried.load(Ordering::Relaxed),
    };
    Ok((bodies, report))
}

/// One connection's share of a phase.
async fn work<B>(addr: SocketAddr, s: &Shared, build: &B) -> anyhow::Result<Vec<(usize, Bytes)>>
where
    B: Fn(usize) -> anyhow::Result<Request<Body>> + Send + Sync,
{
    let mut out = Vec::new();
    let mut client = Client::with_timeout(addr, REQUEST_TIMEOUT);
    let name = &s.name;
    while !s.abort.load(Ordering::Relaxed) {
        let i = s.next.fetch_add(1, Ordering::Relaxed);
        if i >= s.count {
            break;
        }
        let mut attempt = 0;
        let body = loop {
            let request = build(i)?;
            let target = format!("{} {}", request.method(), request.uri());
            let why = match client.send(request).await {
                Ok((status, body)) if (200..300).contains(&status) => break body,
                Ok((status, body)) => {
                    let why = format!("answered {status}: {}", excerpt(&body));
                    if status != 429 && status < 500 {
                        bail!("{name} request #{i} {why}\nrequest: {target}");
                    }
                    why
                }
                Err(e) => format!("{e:#}"),
            };
            attempt += 1;
            if attempt > s.retries {
                bail!("{name} request #{i} failed: {why}");
            }
            s.retried.fetch_add(1, Ordering::Relaxed);
            let kind: String = why.chars().take(120).collect();
            if s.warned.lock().is_ok_and(|mut w| w.insert(kind)) {
                eprintln!("  {name}: retrying after: {why}");
            }
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
        };
        if s.collect {
            out.push((i, body));
        }
        s.done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(out)
}

/// The parts of a session response the benchmark uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    pub user: IdBody,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// A response's `id`.
#[derive(Debug, Deserialize)]
pub struct IdBody {
    pub id: String,
}

pub fn parse_session(body: &[u8]) -> anyhow::Result<SessionBody> {
    serde_json::from_slice(body)
        .with_context(|| format!("not a session response: {}", excerpt(body)))
}

/// The `id` of every created object (a post, a room), in order.
pub fn ids_of(what: &str, bodies: &[Bytes]) -> anyhow::Result<Vec<String>> {
    bodies
        .iter()
        .map(|b| {
            serde_json::from_slice::<IdBody>(b)
                .map(|p| p.id)
                .with_context(|| format!("{what} answered no id: {}", excerpt(b)))
        })
        .collect()
}

/// One seeded account.
pub struct Account {
    pub id: String,
    pub username: String,
    pub access: String,
    pub refresh: String,
    pub expires_at: Instant,
}

impl Account {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access)
    }
}

/// The accounts as the workloads address them.
pub fn users_of(accounts: &[Account]) -> Arc<Users> {
    Arc::new(Users {
        ids: accounts.iter().map(|a| a.id.clone()).collect(),
        usernames: accounts.iter().map(|a| a.username.clone()).collect(),
        bearer: accounts.iter().map(Account::bearer).collect(),
    })
}

/// Seeds a server through its API: registers users, then follows and posts
/// as they; keeps every phase's report.
pub struct Seeder {
    addr: SocketAddr,
    base: HttpUrl,
    /// Concurrent follow, post and refresh requests.
    concurrency: usize,
    pub accounts: Vec<Account>,
    pub phases: Vec<PhaseReport>,
}

impl Seeder {
    /// Registers `users` users (`s<6 digits>_<n>`), `register_concurrency`
    /// at a time.
    pub async fn register(
        addr: SocketAddr,
        base: &HttpUrl,
        users: usize,
        register_concurrency: usize,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let prefix = format!("s{}", crate::random_digits().get(6..).unwrap_or("000000"));
        let names: Arc<Vec<String>> =
            Arc::new((0..users).map(|i| format!("{prefix}_{i}")).collect());
        eprintln!(
            "registering {users} users ({prefix}_0 ...) with {register_concurrency} at a time"
        );
        let url = base.join("/api/auth/register");
        let build_names = names.clone();
        let (bodies, report) = phase(addr, "register", users, register_concurrency, 3, true, {
            move |i| {
                let name = build_names.get(i).map_or("", String::as_str);
                let body = serde_json::json!({
                    "username": name,
                    "email": format!("{name}@bench.example.com"),
                    "password": PASSWORD,
                });
                url.request("POST", &[], Some(body.to_string().into()))
            }
        })
        .await?;
        let now = Instant::now();
        let mut accounts = Vec::with_capacity(users);
        for (body, name) in bodies.iter().zip(names.iter()) {
            let s = parse_session(body)?;
            accounts.push(Account {
                id: s.user.id,
                username: name.clone(),
                access: s.access_token,
                refresh: s.refresh_token,
                expires_at: now + Duration::from_secs(s.expires_in),
            });
        }
        eprintln!("  {}", report.line());
        Ok(Self {
            addr,
            base: base.clone(),
            concurrency,
            accounts,
            phases: vec![report],
        })
    }

    /// Runs a phase at the seeding concurrency.
    pub async fn phase<B>(
        &mut self,
        name: &str,
        count: usize,
        retries: u32,
        build: B,
    ) -> anyhow::Result<Vec<Bytes>>
    where
        B: Fn(usize) -> anyhow::Result<Request<Body>> + Send + Sync + 'static,
    {
        let (bodies, report) = phase(
            self.addr,
            name,
            count,
            self.concurrency,
            retries,
            true,
            build,
        )
        .await?;
        eprintln!("  {}", report.line());
        self.phases.push(report);
        Ok(bodies)
    }

    /// Exchanges the refresh token of every account whose access token
    /// expires within `needed` (and a margin).
    pub async fn refresh(&mut self, needed: Duration) -> anyhow::Result<()> {
        let limit = Instant::now() + needed + TOKEN_MARGIN;
        let stale: Vec<usize> = (0..self.accounts.len())
            .filter(|&i| self.accounts.get(i).is_some_and(|a| a.expires_at < limit))
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        eprintln!("refreshing {} access tokens", stale.len());
        let tokens: Vec<String> = stale
            .iter()
            .filter_map(|&i| self.accounts.get(i).map(|a| a.refresh.clone()))
            .collect();
        let url = self.base.join("/api/auth/refresh");
        let (bodies, report) = phase(
            self.addr,
            "refresh",
            tokens.len(),
            self.concurrency,
            2,
            true,
            move |i| {
                let token = tokens.get(i).map_or("", String::as_str);
                let body = serde_json::json!({ "refreshToken": token });
                url.request("POST", &[], Some(body.to_string().into()))
            },
        )
        .await?;
        let now = Instant::now();
        for (body, &i) in bodies.iter().zip(&stale) {
            let s = parse_session(body)?;
            if let Some(a) = self.accounts.get_mut(i) {
                a.access = s.access_token;
                a.refresh = s.refresh_token;
                a.expires_at = now + Duration::from_secs(s.expires_in);
            }
        }
        self.phases.push(report);
        Ok(())
    }

    /// A phase of `total` requests in chunks, with fresh tokens for each:
    /// `build(users, i)` makes request `i`.
    async fn chunked<B>(&mut self, name: &str, total: usize, build: B) -> anyhow::Result<()>
    where
        B: Fn(&Users, usize) -> anyhow::Result<Request<Body>> + Send + Sync + 'static,
    {
        let build = Arc::new(build);
        let mut parts = Vec::new();
        for first in (0..total).step_by(SEED_CHUNK) {
            self.refresh(CHUNK_TOKEN_LIFE).await?;
            let users = users_of(&self.accounts);
            let build = build.clone();
            let count = SEED_CHUNK.min(total - first);
            let (_, report) = phase(
                self.addr,
                name,
                count,
                self.concurrency,
                5,
                false,
                move |i| build(&users, first + i),
            )
            .await?;
            parts.push(report);
        }
        let report = PhaseReport::combine(name, &parts);
        eprintln!("  {}", report.line());
        self.phases.push(report);
        Ok(())
    }

    /// Follows `order` (indices into the graph's follows; user `n` of the
    /// graph is account `n`).
    pub async fn follow(&mut self, graph: Arc<Graph>, order: Vec<u32>) -> anyhow::Result<()> {
        let base = self.base.clone();
        self.chunked("follow", order.len(), move |users, i| {
            let k = order.get(i).map_or(i, |&k| k as usize);
            let (a, b) = graph.follow(k).unwrap_or((0, 0));
            let followee = users.ids.get(b as usize).map_or("0", String::as_str);
            let bearer = users.bearer.get(a as usize).map_or("", String::as_str);
            base.join(&format!("/api/users/{followee}/follow")).request(
                "PUT",
                &[("Authorization", bearer)],
                None,
            )
        })
        .await
    }

    /// `per_user` posts of 256 random characters by each account from
    /// `first` on, in rounds over the users (post `i` is round `i / users`
    /// of user `i % users`), so every user's posts spread over the whole
    /// seeding time. The texts follow from `seed`.
    pub async fn post(&mut self, first: usize, per_user: usize, seed: u64) -> anyhow::Result<()> {
        let writers = self.accounts.len().saturating_sub(first).max(1);
        let run = crate::random_digits();
        let url = self.base.join("/api/posts");
        self.chunked("post", writers * per_user, move |users, i| {
            let (round, user) = (i / writers, first + i % writers);
            let mut text = String::with_capacity(256);
            random_text(&mut crate::rng(seed, i as u64), 256, &mut text);
            let body = serde_json::json!({ "text": text });
            let key = format!("seed-{run}-{user}-{round}");
            let bearer = users.bearer.get(user).map_or("", String::as_str);
            url.request(
                "POST",
                &[("Authorization", bearer), ("Idempotency-Key", &key)],
                Some(body.to_string().into()),
            )
        })
        .await
    }

    /// One post by each of the first `posters` accounts; their ids.
    pub async fn one_post_each(&mut self, posters: usize) -> anyhow::Result<Vec<String>> {
        let names: Vec<(String, String)> = self
            .accounts
            .iter()
            .take(posters)
            .map(|a| (a.bearer(), a.username.clone()))
            .collect();
        let url = self.base.join("/api/posts");
        let bodies = self
            .phase("post", names.len(), 3, move |i| {
                let (bearer, name) = names.get(i).map_or(("", ""), |(b, n)| (b, n));
                let body = serde_json::json!({
                    "text": format!("Benchmark post {i}: love it and see the notification arrive.")
                });
                let key = format!("notify-{name}");
                url.request(
                    "POST",
                    &[("Authorization", bearer), ("Idempotency-Key", &key)],
                    Some(body.to_string().into()),
                )
            })
            .await?;
        ids_of("POST /api/posts", &bodies)
    }
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

    #[test]
    fn chunk_reports_add_up() {
        let part = |requests, seconds| PhaseReport {
            phase: "post".to_owned(),
            requests,
            concurrency: 16,
            seconds,
            per_sec: 0.0,
            retries: 1,
        };
        let r = PhaseReport::combine("post", &[part(100, 1.0), part(300, 3.0)]);
        assert_eq!(
            (r.requests, r.seconds, r.per_sec, r.retries),
            (400, 4.0, 100.0, 2)
        );
    }
}

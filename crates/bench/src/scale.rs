//! `scale-compose` and `scale-feed`: the scale checks, on data written
//! by `starling seed` (seeding 100,000 users through the API takes an hour).
//!
//! - compose: p99 of `POST /api/posts` for an author with 100,000 followers
//!   against one with 10, and how long a post takes to reach every sampled
//!   follower's home feed;
//! - feed: p99 of home-feed reads with 10,000 and with 1,000,000 stored posts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use rand::Rng as _;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde::Deserialize;

use crate::http::{Template, expect_2xx};
use crate::load::{Histogram, histogram, merge, record};
use crate::report::median;
use crate::seed::{IdBody, parse_session, phase};
use crate::spawn::{SpawnOptions, SpawnedServer};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub const COMPOSE_AFTER: &str = "\
Example:
  cargo build --release -p starling-server -p starling-bench
  target/release/starling-bench scale-compose --spawn target/release/starling \\
      --thresholds default,1000000 --runs 3

For each run and each celebrity threshold: a fresh data dir seeded with
'starling seed --users F+1 --star-followers F' (seed1 is followed by
seed2..seed{F+1}; seed2 by 10 users plus the ring), the server started on it
(STARLING_CELEBRITY_THRESHOLD set unless 'default'), then:
  1. log in seed1, seed2 and the sampled followers of seed1: the last
     --last-followers in fan-out order (highest ids: the fan-out reads
     follower ids in index order), the first 5, and --random-followers random
     ones; read each sample's home feed once so its timeline is cached (fan-out
     only adds to cached timelines; a missing one is rebuilt from the database,
     which shows the post at once);
  2. time to all followers, quiet server: seed1 composes, then every sampled
     follower polls GET /api/feed?limit=1 until the post is on top;
  3. --samples composes per author (256 characters), interleaved, closed
     loop on --connections connections;
  4. time to all followers again, right after the compose load (the
     background fan-out may still be working through its backlog).";

pub const FEED_AFTER: &str = "\
Example:
  target/release/starling-bench scale-feed --spawn target/release/starling \\
      --posts 10000,1000000 --runs 3

For each run and each post count: a fresh data dir seeded with 'starling seed
--users U --posts P --follows-per-user F', the server started on it, --pool
random users logged in, then:
  1. cold: each pool user's first GET /api/feed?limit=10 (rebuilds the
     timeline from the database);
  2. warm: GET /api/feed?limit=10 as a random pool user, closed loop on
     --connections connections for --duration seconds.";

#[derive(clap::Args)]
pub struct ComposeArgs {
    /// The Starling binary to seed with and to serve
    #[arg(long, value_name = "PATH")]
    spawn: PathBuf,
    /// Followers of the star author (seed1)
    #[arg(long, default_value_t = 100_000)]
    followers: u64,
    /// Posts seeded beforehand (spread over all users)
    #[arg(long, default_value_t = 100_000)]
    posts: u64,
    /// Celebrity thresholds to measure, comma-separated; 'default' leaves the server's default (10,000)
    #[arg(long, default_value = "default,1000000", value_delimiter = ',')]
    thresholds: Vec<String>,
    /// Composes per author
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// Connections composing at once (each alternates star and small author)
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Followers sampled from the end of the fan-out order
    #[arg(long, default_value_t = 10)]
    last_followers: u64,
    /// Random followers sampled
    #[arg(long, default_value_t = 50)]
    random_followers: u64,
    /// Give up waiting for a post to reach the sampled feeds after this many seconds
    #[arg(long, default_value_t = 300.0)]
    reach_timeout: f64,
    /// Repeat everything this many times (fresh data each time)
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// Seconds to wait for the server to start
    #[arg(long, default_value_t = 120.0)]
    startup_timeout: f64,
}

#[derive(clap::Args)]
pub struct FeedArgs {
    /// The Starling binary to seed with and to serve
    #[arg(long, value_name = "PATH")]
    spawn: PathBuf,
    /// Users seeded
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// Follows per user (a ring)
    #[arg(long, default_value_t = 20)]
    follows_per_user: u64,
    /// Stored post counts to compare, comma-separated
    #[arg(long, default_value = "10000,1000000", value_delimiter = ',')]
    posts: Vec<u64>,
    /// Users logged in and reading
    #[arg(long, default_value_t = 200)]
    pool: usize,
    /// Connections reading at once
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds of warm reads
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds of warm reads first
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Repeat everything this many times (fresh data each time)
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// Seconds to wait for the server to start
    #[arg(long, default_value_t = 120.0)]
    startup_timeout: f64,
}

/// One keep-alive connection that reconnects when the server closes it.
struct Client(crate::http::Client);

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self(crate::http::Client::with_timeout(addr, REQUEST_TIMEOUT))
    }

    /// A call that must answer 2xx; returns the body.
    async fn ok(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> anyhow::Result<bytes::Bytes> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let authority = self.0.addr().to_string();
        let body = body.map(bytes::Bytes::copy_from_slice);
        let request = Template::new(method, &authority, path, &headers, body)?.build();
        let response = self
            .0
            .send(request)
            .await
            .with_context(|| format!("{method} {path}"))?;
        expect_2xx(&format!("{method} {path}"), response)
    }
}

#[derive(Deserialize)]
struct Seeded {
    password: String,
    users: u64,
    #[serde(default)]
    seconds: f64,
}

#[derive(Deserialize)]
struct FeedBody {
    items: Vec<IdBody>,
}

/// Logs in `seed<n>` for every n, `concurrency` at a time; tokens by position.
async fn login_all(
    addr: SocketAddr,
    numbers: &[u64],
    password: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let (numbers, password) = (numbers.to_vec(), password.to_owned());
    let authority = addr.to_string();
    let (bodies, report) = phase(
        addr,
        "login",
        numbers.len(),
        concurrency,
        3,
        true,
        move |i| {
            let n = numbers.get(i).copied().unwrap_or(0);
            let body = serde_json::json!({"login": format!("seed{n}"), "password": password});
            let body = Some(body.to_string().into());
            Ok(Template::new("POST", &authority, "/api/auth/login", &[], body)?.build())
        },
    )
    .await?;
    eprintln!(
        "logged in {} users in {:.1} s",
        bodies.len(),
        report.seconds
    );
    bodies
        .iter()
        .map(|b| parse_session(b).map(|s| s.access_token))
        .collect()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn text_256(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz      ";
    (0..256)
        .map(|_| char::from(*ALPHABET.choose(rng).unwrap_or(&b'x')))
        .collect::<String>()
        .trim()
        .to_owned()
        + "."
}

async fn compose(client: &mut Client, token: &str, rng: &mut StdRng) -> anyhow::Result<String> {
    let body = serde_json::json!({"text": text_256(rng)}).to_string();
    let bytes = client
        .ok("POST", "/api/posts", Some(token), Some(body.as_bytes()))
        .await?;
    Ok(serde_json::from_slice::<IdBody>(&bytes)
        .context("not a post")?
        .id)
}

async fn feed_top(client: &mut Client, token: &str) -> anyhow::Result<Option<String>> {
    let bytes = client
        .ok("GET", "/api/feed?limit=1", Some(token), None)
        .await?;
    let feed: FeedBody = serde_json::from_slice(&bytes).context("not a feed")?;
    Ok(feed.items.into_iter().next().map(|p| p.id))
}

/// What a "time to all followers" probe found.
struct Reach {
    /// From the compose's response until the last sampled feed showed it.
    all: Duration,
    /// The same for the last follower in fan-out order.
    last_in_order: Duration,
    polls: u64,
    /// Polls that failed (and were repeated).
    failed: u64,
}

/// seed1 composes; every sampled follower polls its feed until the post is
/// on top. Times are from the compose's response.
async fn reach(
    addr: SocketAddr,
    star_token: &str,
    followers: &[String],
    last_index: usize,
    timeout: Duration,
    rng: &mut StdRng,
) -> anyhow::Result<Reach> {
    let mut client = Client::new(addr);
    let post = compose(&mut client, star_token, rng).await?;
    let t0 = Instant::now();
    let post = Arc::new(post);
    // 8 pollers, each with its share of the followers.
    let pollers = 8.min(followers.len().max(1));
    let mut tasks = Vec::new();
    for p in 0..pollers {
        let mine: Vec<(usize, String)> = followers
            .iter()
            .enumerate()
            .filter(|(i, _)| i % pollers == p)
            .map(|(i, t)| (i, t.clone()))
            .collect();
        let post = post.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(addr);
            let mut pending = mine;
            let mut seen = Vec::new();
            let mut polls = 0u64;
            let mut failed = 0u64;
            while !pending.is_empty() {
                if t0.elapsed() > timeout {
                    bail!(
                        "{} sampled followers still lack the post after {timeout:?}",
                        pending.len()
                    );
                }
                let mut still = Vec::new();
                for (i, token) in pending {
                    polls += 1;
                    match feed_top(&mut client, &token).await {
                        Ok(top) if top.as_deref() == Some(post.as_str()) => {
                            seen.push((i, t0.elapsed()));
                        }
                        Ok(_) => still.push((i, token)),
                        Err(e) => {
                            // A failed read (503 while the fan-out holds
                            // the database) is polled again.
                            if failed == 0 {
                                eprintln!("  feed read failed while polling: {e:#}");
                            }
                            failed += 1;
                            still.push((i, token));
                        }
                    }
                }
                pending = still;
                if !pending.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Ok::<_, anyhow::Error>((seen, polls, failed))
        }));
    }
    let mut all = Duration::ZERO;
    let mut last_in_order = Duration::ZERO;
    let mut polls = 0;
    let mut failed = 0;
    for task in tasks {
        let (seen, n, f) = task.await.map_err(|e| anyhow!("poll task: {e}"))??;
        polls += n;
        failed += f;
        for (i, t) in seen {
            all = all.max(t);
            if i == last_index {
                last_in_order = t;
            }
        }
    }
    Ok(Reach {
        all,
        last_in_order,
        polls,
        failed,
    })
}

struct ComposeRun {
    threshold: String,
    seed_s: f64,
    star: Histogram,
    small: Histogram,
    quiet: Option<Reach>,
    after_load: Option<Reach>,
    compose_s: f64,
    /// Failed composes: star, small.
    errors: (u64, u64),
}

/// Milliseconds until all sampled feeds had the post (NaN: never).
fn reach_ms(r: &Option<Reach>) -> f64 {
    r.as_ref().map_or(f64::NAN, |r| r.all.as_secs_f64() * 1e3)
}

async fn compose_once(args: &ComposeArgs, threshold: &str, run: u32) -> anyhow::Result<ComposeRun> {
    let users = args.followers + 1;
    let mut env = vec![("STARLING_LOGIN_MAX_PER_IP".to_owned(), "1000000".to_owned())];
    if threshold != "default" {
        env.push((
            "STARLING_CELEBRITY_THRESHOLD".to_owned(),
            threshold.to_owned(),
        ));
    }
    let options = SpawnOptions {
        seed: Some(vec![
            "--users".into(),
            users.to_string(),
            "--posts".into(),
            args.posts.to_string(),
            "--star-followers".into(),
            args.followers.to_string(),
            "--follows-per-user".into(),
            "10".into(),
        ]),
        env,
    };
    let (mut server, seeded) = SpawnedServer::start_with(
        &args.spawn,
        Duration::from_secs_f64(args.startup_timeout),
        &options,
    )
    .await?;
    let result = async {
        let seeded: Seeded = serde_json::from_value(seeded.unwrap_or_default())
            .context("the seed command's report")?;
        let addr = server.base_url.resolve().await?;
        // seed1's followers are seed2..seed{users}, fanned out in id order:
        // the last ones are the highest numbers.
        let top = seeded.users;
        let mut sample: Vec<u64> = (0..args.last_followers.min(top - 1))
            .map(|k| top - k)
            .collect();
        sample.extend(2..=6u64.min(top));
        let mut rng = crate::rng(0x5ca1e + u64::from(run), 0);
        for _ in 0..args.random_followers {
            sample.push(rng.random_range(2..=top.max(2)));
        }
        sample.sort_unstable();
        sample.dedup();
        let last_index = sample.len() - 1; // seed{top}: the last in fan-out order
        let mut numbers = vec![1, 2];
        numbers.extend(&sample);
        let tokens = login_all(addr, &numbers, &seeded.password, 4).await?;
        let star = tokens.first().cloned().unwrap_or_default();
        let small = tokens.get(1).cloned().unwrap_or_default();
        let followers: Vec<String> = tokens.get(2..).unwrap_or_default().to_vec();
        // Warm the sampled timelines (and the authors' own).
        let mut client = Client::new(addr);
        for t in tokens.iter() {
            feed_top(&mut client, t).await?;
        }
        let timeout = Duration::from_secs_f64(args.reach_timeout);
        let quiet = reach(addr, &star, &followers, last_index, timeout, &mut rng)
            .await
            .map_err(|e| eprintln!("  quiet reach failed: {e:#}"))
            .ok();
        if let Some(q) = &quiet {
            eprintln!(
                "  quiet: post in all {} sampled feeds after {:.1} ms (last in fan-out order {:.1} ms, {} polls, {} failed)",
                followers.len(),
                q.all.as_secs_f64() * 1e3,
                q.last_in_order.as_secs_f64() * 1e3,
                q.polls,
                q.failed
            );
        }
        // The compose load: each connection alternates the two authors.
        let started = Instant::now();
        let per_conn = args.samples.div_ceil(args.connections.max(1));
        let mut tasks = Vec::new();
        for c in 0..args.connections.max(1) {
            let (star, small) = (star.clone(), small.clone());
            let mut rng = crate::rng(0xc0ffee + u64::from(run), c as u64);
            tasks.push(tokio::spawn(async move {
                let mut client = Client::new(addr);
                let (mut hs, mut hm) = (histogram(), histogram());
                let mut errors = Vec::new();
                for i in 0..per_conn * 2 {
                    let star_turn = (i + c) % 2 == 0;
                    let token = if star_turn { &star } else { &small };
                    let t = Instant::now();
                    let outcome = compose(&mut client, token, &mut rng).await;
                    // A failed compose counts, with its latency: it is what
                    // the author saw.
                    let took = t.elapsed();
                    if let Err(e) = outcome {
                        if errors.is_empty() {
                            eprintln!("  compose failed: {e:#}");
                        }
                        errors.push(star_turn);
                    }
                    record(if star_turn { &mut hs } else { &mut hm }, took);
                }
                Ok::<_, anyhow::Error>((hs, hm, errors))
            }));
        }
        let (mut hs, mut hm) = (histogram(), histogram());
        let (mut star_errors, mut small_errors) = (0u64, 0u64);
        for task in tasks {
            let (s, m, errors) = task.await.map_err(|e| anyhow!("compose task: {e}"))??;
            merge(&mut hs, &s);
            merge(&mut hm, &m);
            star_errors += errors.iter().filter(|&&star| star).count() as u64;
            small_errors += errors.iter().filter(|&&star| !star).count() as u64;
        }
        let compose_s = started.elapsed().as_secs_f64();
        eprintln!(
            "  composes: star p50 {:.2} p99 {:.2} ms ({star_errors} failed), small p50 {:.2} p99 {:.2} ms ({small_errors} failed)",
            ms(hs.value_at_quantile(0.5)),
            ms(hs.value_at_quantile(0.99)),
            ms(hm.value_at_quantile(0.5)),
            ms(hm.value_at_quantile(0.99))
        );
        let after_load = reach(addr, &star, &followers, last_index, timeout, &mut rng)
            .await
            .map_err(|e| eprintln!("  reach after the load failed: {e:#}"))
            .ok();
        if let Some(a) = &after_load {
            eprintln!(
                "  after the load: post in all sampled feeds after {:.1} ms ({} polls, {} failed)",
                a.all.as_secs_f64() * 1e3,
                a.polls,
                a.failed
            );
        }
        Ok(ComposeRun {
            threshold: threshold.to_owned(),
            seed_s: seeded.seconds,
            star: hs,
            small: hm,
            quiet,
            after_load,
            compose_s,
            errors: (star_errors, small_errors),
        })
    }
    .await;
    if result.is_err() {
        eprintln!("{}", server.log_tail());
    }
    server.check_alive();
    server.stop().await;
    result
}

pub async fn cmd_compose(args: ComposeArgs) -> anyhow::Result<ExitCode> {
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        for threshold in &args.thresholds {
            eprintln!(
                "run {run}/{}: threshold {threshold}, {} followers",
                args.runs, args.followers
            );
            runs.push(compose_once(&args, threshold, run).await?);
        }
    }
    println!(
        "scale-compose: seed1 has {} followers, seed2 has 10 (+ring); {} composes per author on {} connections, interleaved",
        args.followers, args.samples, args.connections
    );
    println!(
        "{:<10} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>9}",
        "threshold",
        "seed s",
        "load s",
        "star p50",
        "star p99",
        "small p50",
        "small p99",
        "p99 x",
        "reach ms",
        "last ms",
        "reach+load",
        "errors"
    );
    for r in &runs {
        let ratio =
            r.star.value_at_quantile(0.99) as f64 / r.small.value_at_quantile(0.99).max(1) as f64;
        println!(
            "{:<10} {:>6.1} {:>8.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7.2} {:>10.1} {:>10.1} {:>10.1} {:>9}",
            r.threshold,
            r.seed_s,
            r.compose_s,
            ms(r.star.value_at_quantile(0.5)),
            ms(r.star.value_at_quantile(0.99)),
            ms(r.small.value_at_quantile(0.5)),
            ms(r.small.value_at_quantile(0.99)),
            ratio,
            reach_ms(&r.quiet),
            r.quiet
                .as_ref()
                .map_or(f64::NAN, |q| q.last_in_order.as_secs_f64() * 1e3),
            reach_ms(&r.after_load),
            format!("{}/{}", r.errors.0, r.errors.1),
        );
    }
    for threshold in &args.thresholds {
        let of: Vec<&ComposeRun> = runs.iter().filter(|r| &r.threshold == threshold).collect();
        let m =
            |f: &dyn Fn(&ComposeRun) -> f64| median(&of.iter().map(|r| f(r)).collect::<Vec<_>>());
        println!(
            "median of {} runs, threshold {threshold}: star p99 {:.2} ms, small p99 {:.2} ms, ratio {:.2}x (target <= 2x); all sampled feeds after {:.1} ms quiet, {:.1} ms after the load",
            of.len(),
            m(&|r| ms(r.star.value_at_quantile(0.99))),
            m(&|r| ms(r.small.value_at_quantile(0.99))),
            m(&|r| r.star.value_at_quantile(0.99) as f64
                / r.small.value_at_quantile(0.99).max(1) as f64),
            m(&|r| reach_ms(&r.quiet)),
            m(&|r| reach_ms(&r.after_load)),
        );
    }
    Ok(ExitCode::SUCCESS)
}

struct FeedRun {
    posts: u64,
    seed_s: f64,
    cold: Histogram,
    warm: Histogram,
    warm_rps: f64,
}

async fn feed_once(args: &FeedArgs, posts: u64, run: u32) -> anyhow::Result<FeedRun> {
    let options = SpawnOptions {
        seed: Some(vec![
            "--users".into(),
            args.users.to_string(),
            "--posts".into(),
            posts.to_string(),
            "--star-followers".into(),
            "0".into(),
            "--follows-per-user".into(),
            args.follows_per_user.to_string(),
        ]),
        env: vec![("STARLING_LOGIN_MAX_PER_IP".to_owned(), "1000000".to_owned())],
    };
    let (mut server, seeded) = SpawnedServer::start_with(
        &args.spawn,
        Duration::from_secs_f64(args.startup_timeout),
        &options,
    )
    .await?;
    let result = async {
        let seeded: Seeded = serde_json::from_value(seeded.unwrap_or_default())
            .context("the seed command's report")?;
        let addr = server.base_url.resolve().await?;
        let mut rng = crate::rng(0xfeed + u64::from(run), 0);
        let mut numbers: Vec<u64> = Vec::new();
        while numbers.len() < args.pool.min(seeded.users as usize) {
            let n = rng.random_range(1..=seeded.users);
            if !numbers.contains(&n) {
                numbers.push(n);
            }
        }
        let tokens = Arc::new(login_all(addr, &numbers, &seeded.password, 4).await?);
        // Cold: every pool user's first read rebuilds its timeline.
        let mut cold = histogram();
        let mut client = Client::new(addr);
        for t in tokens.iter() {
            let started = Instant::now();
            client
                .ok("GET", "/api/feed?limit=10", Some(t), None)
                .await?;
            record(&mut cold, started.elapsed());
        }
        // Warm: closed loop.
        let warmup = Duration::from_secs_f64(args.warmup);
        let duration = Duration::from_secs_f64(args.duration);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..args.connections.max(1) {
            let tokens = tokens.clone();
            let mut rng = crate::rng(0xbeef + u64::from(run), c as u64);
            tasks.push(tokio::spawn(async move {
                let mut client = Client::new(addr);
                let mut h = histogram();
                loop {
                    let now = Instant::now();
                    if now >= started + warmup + duration {
                        break;
                    }
                    let token = tokens.choose(&mut rng).cloned().unwrap_or_default();
                    client
                        .ok("GET", "/api/feed?limit=10", Some(&token), None)
                        .await?;
                    if now >= started + warmup {
                        record(&mut h, now.elapsed());
                    }
                }
                Ok::<_, anyhow::Error>(h)
            }));
        }
        let mut warm = histogram();
        for task in tasks {
            merge(
                &mut warm,
                &task.await.map_err(|e| anyhow!("read task: {e}"))??,
            );
        }
        let warm_rps = warm.len() as f64 / duration.as_secs_f64();
        Ok(FeedRun {
            posts,
            seed_s: seeded.seconds,
            cold,
            warm,
            warm_rps,
        })
    }
    .await;
    if result.is_err() {
        eprintln!("{}", server.log_tail());
    }
    server.check_alive();
    server.stop().await;
    result
}

pub async fn cmd_feed(args: FeedArgs) -> anyhow::Result<ExitCode> {
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        for &posts in &args.posts {
            eprintln!("run {run}/{}: {posts} posts", args.runs);
            let r = feed_once(&args, posts, run).await?;
            eprintln!(
                "  warm p99 {:.2} ms at {:.0} reads/s",
                ms(r.warm.value_at_quantile(0.99)),
                r.warm_rps
            );
            runs.push(r);
        }
    }
    println!(
        "scale-feed: {} users following {} each, {} readers, GET /api/feed?limit=10; warm = closed loop on {} connections for {} s",
        args.users, args.follows_per_user, args.pool, args.connections, args.duration
    );
    println!(
        "{:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "posts", "seed s", "cold p50", "cold p99", "warm/s", "warm p50", "warm p99", "warm p999"
    );
    for r in &runs {
        println!(
            "{:>9} {:>6.1} {:>9.2} {:>9.2} {:>9.0} {:>9.2} {:>9.2} {:>9.2}",
            r.posts,
            r.seed_s,
            ms(r.cold.value_at_quantile(0.5)),
            ms(r.cold.value_at_quantile(0.99)),
            r.warm_rps,
            ms(r.warm.value_at_quantile(0.5)),
            ms(r.warm.value_at_quantile(0.99)),
            ms(r.warm.value_at_quantile(0.999)),
        );
    }
    let p99 = |posts: u64, warm: bool| {
        median(
            &runs
                .iter()
                .filter(|r| r.posts == posts)
                .map(|r| ms(if warm { &r.warm } else { &r.cold }.value_at_quantile(0.99)))
                .collect::<Vec<_>>(),
        )
    };
    if let (Some(&lo), Some(&hi)) = (args.posts.first(), args.posts.last()) {
        println!(
            "median warm p99: {:.2} ms at {lo} posts, {:.2} ms at {hi} posts: {:.2}x (target <= 1.5x); cold p99 {:.2} vs {:.2} ms: {:.2}x",
            p99(lo, true),
            p99(hi, true),
            p99(hi, true) / p99(lo, true).max(1e-9),
            p99(lo, false),
            p99(hi, false),
            p99(hi, false) / p99(lo, false).max(1e-9),
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! `starling-bench`: Starling's HTTP/1.1 load generator.
//!
//! HTTP/1.1 (hyper's client connection) over keep-alive TCP connections,
//! one request in flight per connection, a precomputed request per
//! scenario, latency in an HDR histogram. See README.md for examples.

mod chat;
mod cpu;
mod graph;
mod hold;
mod http;
mod load;
mod notify;
mod outbox;
mod reads;
mod report;
mod scale;
mod seed;
mod sio;
mod social;
mod spawn;
mod sse;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::http::{HttpUrl, expect_2xx, fetch, parse_header_arg};
use crate::load::{LoadConfig, Target, run_load};
use crate::report::{Report, median, round1, table};
use crate::spawn::{ServerArgs, Session};

/// Access tokens last 15 minutes; a comparison must finish well within that.
const TOKEN_BUDGET: Duration = Duration::from_secs(14 * 60);
/// Timeout of the single requests made outside the load loop.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

const EXIT_FAILED: u8 = 1;
const EXIT_CANNOT_RUN: u8 = 2;

const ABOUT: &str = "Starling's HTTP/1.1 load generator";

const LONG_ABOUT: &str = "\
Starling's HTTP/1.1 load generator.

Opens N keep-alive connections (no pipelining: one request in flight per
connection), sends the same precomputed request on each as fast as the server
answers, and reports requests per second and latency percentiles. Each
measurement starts with a warm-up whose responses are not counted.

Any response outside 200-299, and any connection or protocol error, counts as
an error. Exit status: 0 success; 1 the run had errors (unless
--allow-errors) or a comparison failed; 2 the benchmark could not run (bad
arguments, server unreachable, setup request failed).

The load generator and the server usually share the machine, so it runs on
one worker thread by default (--threads) to leave the CPU to the server.";

const HTTP_AFTER: &str = "\
Examples:
  starling-bench http --url http://127.0.0.1:8080/health
  starling-bench http --url http://127.0.0.1:8080/api/profile \\
      --header 'Authorization: Bearer eyJ...' --connections 32 --duration 20
  starling-bench http --url http://127.0.0.1:8080/api/auth/login --method POST \\
      --body '{\"username\":\"alice\",\"password\":\"...\"}' --json";

const PVH_AFTER: &str = "\
Examples:
  # against a server that is already running
  starling-bench profile-vs-health --base-url http://127.0.0.1:8080
  # let the benchmark start (and stop) the server itself
  cargo build --release -p starling-server -p starling-bench
  target/release/starling-bench profile-vs-health --spawn target/release/starling

What it does:
  1. POST {base}/api/auth/register with a fresh user bench_<digits> and reads
     accessToken from the 201 response.
  2. For each round: GET {base}/health (no auth), then GET {base}/api/profile
     with 'Authorization: Bearer <accessToken>', each for --warmup + --duration
     seconds.
  3. Prints every measurement, the median req/s of each endpoint across rounds
     and profile/health as a percentage: PASS (exit 0) if it is at least
     --min-ratio, FAIL (exit 1) otherwise or if any request failed.
The whole comparison must fit in 14 minutes, because access tokens last 15.";

#[derive(Parser)]
#[command(name = "starling-bench", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load one URL and report throughput and latency
    #[command(
        long_about = "Load one URL with keep-alive connections and report requests/s, \
                      errors and latency percentiles.",
        after_help = HTTP_AFTER
    )]
    Http(HttpArgs),
    /// Compare authenticated GET /api/profile against GET /health (PASS/FAIL)
    #[command(
        long_about = "Register a fresh user, then alternately measure GET /health and \
                      authenticated GET /api/profile for several rounds and check that \
                      /api/profile reaches at least --min-ratio percent of /health's \
                      requests per second.",
        after_help = PVH_AFTER
    )]
    ProfileVsHealth(PvhArgs),
    /// Read endpoints (profile, home feed, user timeline, public feed) as a percentage of GET /health
    #[command(
        long_about = "Seed a reader who follows many authors, then measure GET /health, \
                      GET /api/profile, the home feed, a user timeline and the public feed \
                      closed loop with the same connections, alternating them over several \
                      rounds, and report each one's median req/s, p50/p99 and percentage of \
                      /health.",
        after_help = reads::READS_AFTER
    )]
    Reads(Box<reads::ReadsArgs>),
    /// Seed a social graph through the API and run the social-network mix (feeds, timelines, composes)
    #[command(
        long_about = "Seed a social graph (an edge-list file such as socfb-Reed98, or a \
                      synthetic power-law graph) through the API, then run the \
                      DeathStarBench social-network mix: 60% home-feed reads, 30% \
                      user-timeline reads, 10% composes, closed loop at the maximum \
                      rate and/or open loop at fixed rates, beside GET /health.",
        after_help = social::SOCIAL_AFTER
    )]
    Social(Box<social::SocialArgs>),
    /// Latency of love notifications, from the love's response to the author's event stream
    #[command(
        long_about = "Open a notification stream (Server-Sent Events) per author, send \
                      loves open loop at a fixed rate, and measure how long each love's \
                      notification takes from the love's response to its arrival on the \
                      author's stream.",
        after_help = notify::NOTIFY_AFTER
    )]
    NotifyLatency(Box<notify::NotifyArgs>),
    /// Hold many notification streams open and report the server's memory per stream
    #[command(
        long_about = "Open N notification streams (Server-Sent Events) at once, spread \
                      over a few users, and report the server's resident memory per \
                      stream (VmRSS after - before, / N); check that the streams still \
                      deliver.",
        after_help = hold::HOLD_AFTER
    )]
    SseHold(Box<hold::HoldArgs>),
    /// Compose p99 of an author with 100,000 followers vs one with 10, and the time to reach every follower
    #[command(
        long_about = "Seed 100,001 users with `starling seed` (seed1 followed by all, seed2 \
                      by 10), then compare compose latency of the two authors and time how \
                      long seed1's post takes to reach sampled followers' home feeds, at \
                      each celebrity threshold.",
        after_help = scale::COMPOSE_AFTER
    )]
    ScaleCompose(Box<scale::ComposeArgs>),
    /// Home-feed read p99 with 10,000 vs 1,000,000 stored posts
    #[command(
        long_about = "Seed the same follow graph with different numbers of posts using \
                      `starling seed`, then measure cold and warm home-feed reads.",
        after_help = scale::FEED_AFTER
    )]
    ScaleFeed(Box<scale::FeedArgs>),
    /// Chat over Socket.IO: many clients in many rooms, steady rate and maximum throughput, Starling vs Node
    #[command(
        long_about = "Connect many Socket.IO clients in rooms (default 1,000 in rooms of 10), \
                      have each send at a steady rate, then as fast as acks come back, and \
                      report delivered messages/s and delivery latency; against Starling and, \
                      in the same run, the reference Node.js Socket.IO server \
                      (bench/chat-node).",
        after_help = chat::CHAT_AFTER
    )]
    Chat(Box<chat::ChatArgs>),
    /// Hold many idle Socket.IO connections and report the server's memory per connection
    #[command(
        long_about = "Open N Socket.IO connections at once (default 10,000), spread over a \
                      few users, and report the server's resident memory per connection \
                      (VmRSS after - before, / N); check that they still deliver.",
        after_help = chat::CHAT_HOLD_AFTER
    )]
    ChatHold(Box<chat::ChatHoldArgs>),
}

impl Command {
    fn threads(&self) -> u16 {
        match self {
            Command::Http(a) => a.load.threads,
            Command::ProfileVsHealth(a) => a.load.threads,
            Command::Reads(a) => a.load.threads,
            Command::Social(a) => a.load.threads,
            Command::NotifyLatency(a) => a.load.threads,
            Command::SseHold(a) => a.threads,
            Command::ScaleCompose(_) | Command::ScaleFeed(_) => 1,
            Command::Chat(a) => a.threads,
            Command::ChatHold(a) => a.threads,
        }
    }
}

#[derive(Args)]
struct LoadArgs {
    /// Concurrent keep-alive connections, each with one request in flight
    #[arg(short, long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,

    /// Measured seconds per measurement (fractions allowed)
    #[arg(short, long, default_value_t = 10.0, value_parser = positive_seconds)]
    duration: f64,

    /// Warm-up seconds before each measurement; these responses are not counted
    #[arg(short, long, default_value_t = 2.0, value_parser = seconds)]
    warmup: f64,

    /// Worker threads of the load generator; keep it low when the server runs on the same machine
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,

    /// Print one JSON object for the run on stdout instead of the table (progress goes to stderr)
    #[arg(long)]
    json: bool,

    /// Exit 0 even if some requests failed or answered outside 200-299
    #[arg(long)]
    allow_errors: bool,
}

impl LoadArgs {
    fn config(&self) -> LoadConfig {
        LoadConfig {
            connections: self.connections as usize,
            warmup: Duration::from_secs_f64(self.warmup),
            duration: Duration::from_secs_f64(self.duration),
        }
    }
}

#[derive(Args)]
struct HttpArgs {
    /// The URL to load, http:// only, e.g. http://127.0.0.1:8080/health
    #[arg(short, long)]
    url: String,

    /// Extra request header 'Name: value' (repeatable), e.g. 'Authorization: Bearer TOKEN'
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,

    /// Request method
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,

    /// Request body, sent with Content-Length (and Content-Type: application/json unless a Content-Type header is given)
    #[arg(short, long, conflicts_with = "body_file")]
    body: Option<String>,

    /// Read the request body from this file instead
    #[arg(long, value_name = "PATH")]
    body_file: Option<PathBuf>,

    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Args)]
struct PvhArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// Rounds; each measures /health then /api/profile
    #[arg(short, long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,

    /// PASS threshold: median /api/profile req/s as a percentage of median /health req/s
    #[arg(long, default_value_t = 30.0, value_parser = seconds)]
    min_ratio: f64,

    #[command(flatten)]
    load: LoadArgs,
}

fn seconds(raw: &str) -> Result<f64, String> {
    let v: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number"))?;
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(format!("{raw} is out of range (0 to 86400)"));
    }
    Ok(v)
}

fn positive_seconds(raw: &str) -> Result<f64, String> {
    let v = seconds(raw)?;
    if v < 0.001 {
        return Err("must be more than 0".into());
    }
    Ok(v)
}

/// Twelve random decimal digits for unique names (not for security).
pub fn random_digits() -> String {
    format!("{:012}", rand::random_range(0..1_000_000_000_000u64))
}

/// The seeded generator of stream `stream` of `seed`: the same pair gives
/// the same numbers on every run of this build (rand does not promise the
/// same numbers across its versions), different streams independent ones.
pub fn rng(seed: u64, stream: u64) -> StdRng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&stream.to_le_bytes());
    StdRng::from_seed(key)
}

/// Raises this process's soft limit of open files to the hard limit (the
/// SSE scenarios hold thousands of connections, and a spawned server
/// inherits the limit). Failure only matters to those scenarios, which
/// check the limit themselves.
fn raise_fd_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: cannot raise the open-files limit: {e}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_fd_limit();
    let threads = usize::from(cli.command.threads());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("starling-bench")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starling-bench: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Http(args) => cmd_http(args).await,
            Command::ProfileVsHealth(args) => cmd_profile_vs_health(args).await,
            Command::Reads(args) => reads::cmd_reads(*args).await,
            Command::Social(args) => social::cmd_social(*args).await,
            Command::NotifyLatency(args) => notify::cmd_notify(*args).await,
            Command::SseHold(args) => hold::cmd_hold(*args).await,
            Command::ScaleCompose(args) => scale::cmd_compose(*args).await,
            Command::ScaleFeed(args) => scale::cmd_feed(*args).await,
            Command::Chat(args) => chat::cmd_chat(*args).await,
            Command::ChatHold(args) => chat::cmd_chat_hold(*args).await,
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("starling-bench: error: {e:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn describe(cfg: LoadConfig, threads: u16) -> String {
    format!(
        "{} connections, {threads} thread{}, {} s warm-up + {} s measured",
        cfg.connections,
        if threads == 1 { "" } else { "s" },
        cfg.warmup.as_secs_f64(),
        cfg.duration.as_secs_f64()
    )
}

/// One request before the run, so an unreachable server fails fast: the
/// status and body.
async fn preflight(target: &Target) -> anyhow::Result<(u16, bytes::Bytes)> {
    fetch(target.addr, target.request.build(), SETUP_TIMEOUT)
        .await
        .with_context(|| format!("{} {} failed", target.method(), target.url))
}

/// A [`preflight`] that must answer 2xx; the body.
async fn preflight_2xx(target: &Target) -> anyhow::Result<bytes::Bytes> {
    expect_2xx(
        &format!("{} before the run", target.label),
        preflight(target).await?,
    )
}

async fn cmd_http(args: HttpArgs) -> anyhow::Result<ExitCode> {
    let url = HttpUrl::parse(&args.url)?;
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header_arg(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => Some(b.clone().into()),
        (None, Some(path)) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .into(),
        ),
        (None, None) => None,
    };
    let method = args.method.to_ascii_uppercase();
    let addr = url.resolve().await?;
    let target = Arc::new(Target::new(&method, url, addr, &headers, body)?);
    let cfg = args.load.config();

    let (status, _) = preflight(&target).await?;
    if !(200..300).contains(&status) {
        eprintln!("warning: a first {} answered {status}", target.label);
    }
    eprintln!(
        "{} {}: {}",
        method,
        target.url,
        describe(cfg, args.load.threads)
    );
    let m = run_load(target.clone(), cfg).await;
    let report = Report::new(&target, cfg, usize::from(args.load.threads), None, &m);
    if args.load.json {
        print_json(&report)?;
    } else {
        print!("{}", table(std::slice::from_ref(&report)));
    }
    if m.requests == 0 {
        eprintln!("FAILED: no complete response in the measured window");
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    if m.errors() > 0 && !args.load.allow_errors {
        eprintln!(
            "FAILED: {} of the requests failed (use --allow-errors to accept)",
            m.errors()
        );
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct PvhSummary {
    scenario: &'static str,
    base_url: String,
    rounds: u32,
    measurements: Vec<Report>,
    health_median_rps: f64,
    profile_median_rps: f64,
    ratio_percent: f64,
    min_ratio_percent: f64,
    errors: u64,
    pass: bool,
}

async fn cmd_profile_vs_health(args: PvhArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.load.config();
    let planned = (cfg.warmup + cfg.duration) * 2 * args.rounds;
    if planned > TOKEN_BUDGET {
        bail!(
            "{} rounds of 2 x ({} s warm-up + {} s) take {} s, more than the {} s an access \
             token safely lasts; lower --rounds, --duration or --warmup",
            args.rounds,
            cfg.warmup.as_secs_f64(),
            cfg.duration.as_secs_f64(),
            planned.as_secs_f64(),
            TOKEN_BUDGET.as_secs()
        );
    }
    args.server
        .run(None, async |s: &mut Session| {
            profile_vs_health(&args, s).await
        })
        .await
}

async fn register(base: &HttpUrl, addr: std::net::SocketAddr) -> anyhow::Result<String> {
    let digits = random_digits();
    let body = serde_json::json!({
        "username": format!("bench_{digits}"),
        "email": format!("bench_{digits}@example.com"),
        "password": "correct-horse-battery",
    });
    let url = base.join("/api/auth/register");
    let request = url.request("POST", &[], Some(body.to_string().into()))?;
    let response = fetch(addr, request, SETUP_TIMEOUT)
        .await
        .with_context(|| format!("registering the benchmark user at {url}"))?;
    let response = expect_2xx(
        &format!("registering the benchmark user: POST {url}"),
        response,
    )?;
    let session = seed::parse_session(&response)
        .with_context(|| format!("POST {url}: no accessToken in the response"))?;
    eprintln!("registered user bench_{digits}");
    Ok(session.access_token)
}

async fn profile_vs_health(args: &PvhArgs, s: &mut Session) -> anyhow::Result<ExitCode> {
    let cfg = args.load.config();
    let threads = args.load.threads;
    let (base, addr) = (&s.base, s.addr);
    let token = register(base, addr).await?;
    let registered = Instant::now();

    let health = Arc::new(Target::new("GET", base.join("/health"), addr, &[], None)?);
    let bearer = format!("Bearer {token}");
    let profile = Arc::new(Target::new(
        "GET",
        base.join("/api/profile"),
        addr,
        &[("Authorization", &bearer)],
        None,
    )?);
    for target in [&health, &profile] {
        preflight_2xx(target).await?;
    }

    eprintln!(
        "profile-vs-health at {base}: {} rounds, {}",
        args.rounds,
        describe(cfg, threads)
    );
    let reports: Vec<Report> = reads::alternate(
        &[health.clone(), profile.clone()],
        args.rounds,
        cfg,
        threads,
        None,
    )
    .await
    .into_iter()
    .map(|m| m.report)
    .collect();
    if registered.elapsed() > TOKEN_BUDGET {
        eprintln!("warning: the run outlasted the access token budget");
    }

    let rps_of = |label: &str| -> Vec<f64> {
        reports
            .iter()
            .filter(|r| r.scenario == label)
            .map(|r| r.requests_per_sec)
            .collect()
    };
    let health_rps = median(&rps_of(&health.label));
    let profile_rps = median(&rps_of(&profile.label));
    let ratio = if health_rps > 0.0 {
        profile_rps / health_rps * 100.0
    } else {
        0.0
    };
    let errors: u64 = reports.iter().map(|r| r.errors).sum();
    let ratio_ok = ratio >= args.min_ratio;
    let errors_ok = errors == 0 || args.load.allow_errors;
    let pass = ratio_ok && errors_ok;

    if args.load.json {
        print_json(&PvhSummary {
            scenario: "profile-vs-health",
            base_url: base.to_string(),
            rounds: args.rounds,
            measurements: reports,
            health_median_rps: round1(health_rps),
            profile_median_rps: round1(profile_rps),
            ratio_percent: round1(ratio),
            min_ratio_percent: args.min_ratio,
            errors,
            pass,
        })?;
    } else {
        print!("{}", table(&reports));
        println!();
        println!(
            "median req/s: {} {health_rps:.1}, {} {profile_rps:.1}",
            health.label, profile.label
        );
        println!(
            "profile/health: {ratio:.1}% (threshold {}%): {}",
            args.min_ratio,
            if ratio_ok { "PASS" } else { "FAIL" }
        );
        if !errors_ok {
            println!("FAIL: {errors} requests failed (use --allow-errors to accept)");
        }
    }
    if !pass {
        if args.load.json {
            eprintln!("FAIL");
        }
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

//! `starling-bench social`: seed a social graph through the API, then run
//! the DeathStarBench social-network mix (home feed / user timeline /
//! compose) closed-loop and/or open-loop, beside GET /health.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::cpu::{CpuProbe, CpuUse, Memory, memory, reset_peak};
use crate::graph::{Graph, parse_edges, synthetic};
use crate::load::{LoadConfig, Target, run_load};
use crate::outbox::{CatchUp, MetricsClient, OutboxPhase, Sampler, catch_up};
use crate::report::{Report, mib, ns_to_us, percent, round1, table};
use crate::seed::{PhaseReport, Seeder, TOKEN_MARGIN, users_of};
use crate::spawn::{ServerArgs, Session};
use crate::workload::{
    FeedReads, HttpExecutor, Mix, MixResult, Op, Schedule, WorkloadConfig, closed_loop, open_loop,
};
use crate::{EXIT_FAILED, LoadArgs, TOKEN_BUDGET, describe, preflight_2xx, print_json, seconds};

pub const SOCIAL_AFTER: &str = "\
Examples:
  cargo build --release -p starling-server -p starling-bench
  # the real graph, closed loop at the maximum rate (64 connections)
  target/release/starling-bench social --spawn target/release/starling \\
      --graph ../shared/data/socfb-Reed98/socfb-Reed98.edges
  # open loop at 1,000 and 2,000 operations/s, and closed loop, on one seeding
  target/release/starling-bench social --spawn target/release/starling \\
      --graph ../shared/data/socfb-Reed98/socfb-Reed98.edges --rate 1000,2000 --closed
  # a synthetic power-law graph
  target/release/starling-bench social --spawn target/release/starling \\
      --synthetic-users 5000 --avg-follows 20
  # feed reads as the app makes them: first pages, 1 in 10 also reads the next
  target/release/starling-bench social --spawn target/release/starling \\
      --graph ../shared/data/socfb-Reed98/socfb-Reed98.edges --first-page

What it does:
  1. Seeds through the API: registers every user of the graph (user names
     s<digits>_<n>), makes each undirected edge two follows (sent in a
     seeded random order), and creates --posts-per-user posts per user (256
     random characters each). Failed seeding requests (i/o, 429, 5xx) are
     retried; tokens are refreshed when they would expire.
  2. Measures GET /health (closed loop, --connections) for the ratio.
  3. Runs the mix: 60% home-feed reads (10 posts after a random offset of
     0-100: GET /api/feed?limit=offset+10, following nextCursor once when that
     is over the API's page limit of 100, and keeping the last 10), 30%
     user-timeline reads (GET /api/users/{id}/posts?limit=10 of a random
     user), 10% composes (POST /api/posts, 256 random characters and 1-6
     @mentions of random seeded users); each as a random seeded user with
     that user's token. Closed loop (no --rate, or --closed) and open loop at
     each --rate.
     With --first-page every home-feed and user-timeline read is the first
     page (limit=10) instead, and one read in ten also follows nextCursor to
     the next page (one operation, two requests).
  4. While each mix runs (after its warm-up), samples GET /metrics every
     --metrics-interval on a connection of its own: starling_outbox_lag_seconds
     (p50/p99/max) and starling_outbox_pending_events (max), and the server's
     VmRSS; after the last mix, how long until pending is 0 (up to
     --catchup-timeout). n/a when the server has no such gauges.
  5. Prints throughput (operations/s) and latency p50/p90/p99/p99.9/max, overall
     and per operation, the ratio to /health, CPU use of the server, this
     tool and the rest of the machine, and the server's memory (spawned or
     --server-pid): VmHWM and VmRSS when the mix ends, VmRSS after
     --idle-wait seconds without load.";

#[derive(Args)]
pub struct SocialArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// Server process id, for its CPU use when it was not spawned
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    server_pid: Option<u32>,

    /// Edge list to seed: one 'a b' pair of user ids per line (e.g. socfb-Reed98.edges)
    #[arg(long, value_name = "FILE", required_unless_present = "synthetic_users")]
    graph: Option<PathBuf>,

    /// Seed a synthetic power-law graph (preferential attachment) of this many users instead
    #[arg(long, value_name = "N", conflicts_with = "graph",
          value_parser = clap::value_parser!(u32).range(2..=10_000_000))]
    synthetic_users: Option<u32>,

    /// Mean follows per user of the synthetic graph
    #[arg(long, value_name = "K", default_value_t = 39,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    avg_follows: u32,

    /// Posts created per user while seeding
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    posts_per_user: u32,

    /// Seed of the random choices (synthetic graph, texts, request mix)
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Concurrent registrations while seeding (each costs the server a password hash)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    register_concurrency: u32,

    /// Concurrent follow and post requests while seeding
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    seed_concurrency: u32,

    /// Open loop at this many operations per second (repeatable, or comma-separated)
    #[arg(long, value_name = "OPS", value_delimiter = ',', value_parser = positive_rate)]
    rate: Vec<f64>,

    /// With --rate: also run the closed loop (it runs alone when no --rate is given)
    #[arg(long)]
    closed: bool,

    /// Open loop: connections available to send due operations (an operation waits when all are busy)
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    open_connections: u32,

    /// Open loop: seconds after the window for due operations to be answered; later ones are errors
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = seconds)]
    drain: f64,

    /// Weights of home-feed reads, user-timeline reads and composes
    #[arg(long, value_name = "FEED,TIMELINE,COMPOSE", default_value = "60,30,10")]
    mix: String,

    /// Home-feed reads skip a random 0..=MAX posts before the 10 they read
    #[arg(long, value_name = "MAX", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    max_offset: u32,

    /// Read feeds as the app does: home-feed and user-timeline reads are the first page (limit=10), and 1 in 10 also reads the next page through nextCursor
    #[arg(long, conflicts_with = "max_offset")]
    first_page: bool,

    /// Seconds between GET /metrics samples (outbox gauges, server VmRSS) while a mix runs
    #[arg(long, value_name = "SECONDS", default_value_t = 0.25,
          value_parser = crate::positive_seconds)]
    metrics_interval: f64,

    /// Do not sample GET /metrics (no outbox figures)
    #[arg(long)]
    no_metrics: bool,

    /// After the last mix: give up waiting for the outbox to drain after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = seconds)]
    catchup_timeout: f64,

    /// After the last mix: read the server's idle VmRSS this many seconds after the load stopped
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
    idle_wait: f64,

    /// Skip the GET /health measurement
    #[arg(long)]
    no_health: bool,

    #[command(flatten)]
    pub load: LoadArgs,
}

pub fn positive_rate(raw: &str) -> Result<f64, String> {
    let v: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number"))?;
    if !v.is_finite() || !(0.1..=10_000_000.0).contains(&v) {
        return Err(format!("{raw} is out of range (0.1 to 10000000)"));
    }
    Ok(v)
}

#[derive(Serialize)]
struct GraphInfo {
    source: String,
    users: usize,
    undirected_edges: usize,
    follows: usize,
    max_degree: u32,
    posts_per_user: u32,
    posts: u64,
    seed: u64,
}

#[derive(Serialize)]
struct Timing {
    p50: u64,
    p99: u64,
    max: u64,
}

#[derive(Serialize)]
struct MixRun {
    mode: &'static str,
    connections: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    overall: Report,
    operations: Vec<Report>,
    http_requests: u64,
    http_requests_per_sec: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_to_health_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    due: Option<u64>,
    late_starts: u64,
    unfinished: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    timer_lag_us: Option<Timing>,
    cpu: CpuUse,
    /// `/metrics` samples from the end of the warm-up to the end of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    outbox: Option<OutboxPhase>,
}

/// The server's memory (KiB in `Memory`; MiB in the text).
#[derive(Serialize)]
struct MemoryReport {
    /// Right after seeding, before the measurements (`hwm_kb`: the peak of
    /// the seeding).
    after_seeding: Option<Memory>,
    /// Whether VmHWM was reset after seeding (a spawned server only).
    peak_reset_after_seeding: bool,
    /// Right after the last mix: `hwm_kb` is the peak since seeding ended
    /// (the measurements) if `peak_reset_after_seeding`, else of the
    /// server's whole life; `rss_kb` the resident memory then.
    end_of_mix: Option<Memory>,
    /// `idle_after_s` after the load stopped.
    idle: Option<Memory>,
    idle_after_s: f64,
}

#[derive(Serialize)]
struct HealthRun {
    report: Report,
    cpu: CpuUse,
}

#[derive(Serialize)]
struct SocialSummary {
    scenario: &'static str,
    base_url: String,
    graph: GraphInfo,
    mix: [u32; 3],
    /// `offset` (DeathStarBench) or `first-page` (the app's reads).
    feed_reads: &'static str,
    #[serde(skip)]
    feed_reads_mode: FeedReads,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_offset: Option<u32>,
    seeding: Vec<PhaseReport>,
    seeding_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<HealthRun>,
    runs: Vec<MixRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outbox_catch_up: Option<CatchUp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_memory: Option<MemoryReport>,
    errors: u64,
}

fn load_graph(args: &SocialArgs) -> anyhow::Result<(Graph, String)> {
    if let Some(n) = args.synthetic_users {
        let started = Instant::now();
        let g = synthetic(n as usize, args.avg_follows, args.seed)?;
        eprintln!(
            "synthetic graph (seed {}) in {:.1} s: {}",
            args.seed,
            started.elapsed().as_secs_f64(),
            g.describe()
        );
        return Ok((
            g,
            format!("synthetic:{n}:{}:{}", args.avg_follows, args.seed),
        ));
    }
    let Some(path) = &args.graph else {
        bail!("give --graph FILE or --synthetic-users N");
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the graph {}", path.display()))?;
    let (g, stats) = parse_edges(&text).with_context(|| format!("in {}", path.display()))?;
    if g.users == 0 {
        bail!("{}: no edges", path.display());
    }
    eprintln!(
        "{}: {} ({} comment lines, {} self-loops and {} repeated edges skipped)",
        path.display(),
        g.describe(),
        stats.comments,
        stats.self_loops,
        stats.duplicates
    );
    Ok((g, path.display().to_string()))
}

pub async fn cmd_social(args: SocialArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.load.config();
    let measurement = cfg.warmup + cfg.duration + Duration::from_secs_f64(args.drain);
    if measurement + TOKEN_MARGIN > TOKEN_BUDGET {
        bail!(
            "one measurement ({} s) must fit in an access token's life; lower --duration",
            measurement.as_secs_f64()
        );
    }
    let mix = Mix::parse(&args.mix)?;
    let (graph, source) = load_graph(&args)?;
    args.server
        .run(args.server_pid, async |s: &mut Session| {
            social(&args, mix, graph, source, s).await
        })
        .await
}

/// `0..n` in a random order, seeded.
fn shuffled(n: usize, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    v.shuffle(&mut crate::rng(seed, u64::MAX));
    v
}

async fn social(
    args: &SocialArgs,
    mix: Mix,
    graph: Graph,
    source: String,
    s: &mut Session,
) -> anyhow::Result<ExitCode> {
    let cfg = args.load.config();
    let threads = usize::from(args.load.threads);
    let (base, addr, server_pid) = (&s.base.clone(), s.addr, s.pid);
    let health = Arc::new(Target::new("GET", base.join("/health"), addr, &[], None)?);
    preflight_2xx(&health).await?;

    // Seeding.
    let seeding_started = Instant::now();
    let graph = Arc::new(graph);
    let concurrency = args.seed_concurrency as usize;
    let mut seeder = Seeder::register(
        addr,
        base,
        graph.users,
        args.register_concurrency as usize,
        concurrency,
    )
    .await?;
    let follows = graph.follows();
    eprintln!("following: {follows} follows with {concurrency} at a time, in random order");
    // In a random order: in edge order the two follows of one friendship
    // (and many follows of one user) would be sent at the same moment, which
    // mostly measures lock waits on the same user rows.
    seeder
        .follow(graph.clone(), shuffled(follows, args.seed))
        .await?;
    if args.posts_per_user > 0 {
        eprintln!(
            "posting: {} posts for each of {} users with {concurrency} at a time",
            args.posts_per_user, graph.users
        );
        seeder
            .post(0, args.posts_per_user as usize, args.seed)
            .await?;
    }
    let seeding_seconds = seeding_started.elapsed().as_secs_f64();
    eprintln!("seeded in {seeding_seconds:.1} s");
    let memory_after_seeding = server_pid.and_then(memory);
    // The peak of a spawned server (ours) then covers the measurements only,
    // not the password hashing of the registrations.
    let peak_reset = match s.server.as_ref().and_then(|s| s.pid()) {
        Some(pid) => reset_peak(pid),
        None => false,
    };

    // Measurements.
    let mut reports: Vec<Report> = Vec::new();
    let mut cpu_lines: Vec<String> = Vec::new();
    let mut health_run = None;
    if !args.no_health {
        eprintln!("{}: {}", health.label, describe(cfg, args.load.threads));
        let probe = CpuProbe::start(server_pid);
        let m = run_load(health.clone(), cfg).await;
        let cpu = probe.finish();
        let report = Report::new(&health, cfg, threads, None, &m);
        eprintln!(
            "  {:.1} req/s, {} errors; CPU: {}",
            report.requests_per_sec,
            report.errors,
            cpu.summary()
        );
        cpu_lines.push(format!("{}: {}", health.label, cpu.summary()));
        reports.push(report.clone());
        health_run = Some(HealthRun { report, cpu });
    }
    let health_rps = health_run.as_ref().map(|h| h.report.requests_per_sec);

    let feed_reads = if args.first_page {
        FeedReads::FIRST_PAGE
    } else {
        FeedReads::Offset
    };
    eprintln!(
        "feed reads: {}",
        describe_feed_reads(feed_reads, args.max_offset)
    );
    let workload = Arc::new(WorkloadConfig {
        mix,
        feed_reads,
        max_offset: args.max_offset,
        ..WorkloadConfig::default()
    });
    let metrics_interval = Duration::from_secs_f64(args.metrics_interval);
    let mut metrics = if args.no_metrics {
        None
    } else {
        Some(MetricsClient::new(base, addr)?)
    };
    let mut plans: Vec<Option<f64>> = Vec::new();
    if args.rate.is_empty() || args.closed {
        plans.push(None);
    }
    plans.extend(args.rate.iter().map(|&r| Some(r)));
    let drain = Duration::from_secs_f64(args.drain);
    let mut runs = Vec::new();
    for (k, rate) in plans.into_iter().enumerate() {
        s.check_alive()?;
        seeder.refresh(cfg.warmup + cfg.duration + drain).await?;
        let users = users_of(&seeder.accounts);
        let connections = match rate {
            None => cfg.connections,
            Some(_) => args.open_connections as usize,
        };
        let executors: Vec<HttpExecutor> = (0..connections)
            .map(|c| {
                HttpExecutor::new(
                    addr,
                    base,
                    users.clone(),
                    workload.clone(),
                    crate::rng(args.seed, ((k as u64) << 32) | c as u64),
                )
            })
            .collect();
        let (label, mode) = match rate {
            None => (format!("mix closed, {connections} conn"), "closed"),
            Some(r) => (format!("mix open, {r} ops/s"), "open"),
        };
        eprintln!(
            "{label}: {} s warm-up + {} s measured{}",
            cfg.warmup.as_secs_f64(),
            cfg.duration.as_secs_f64(),
            if rate.is_some() {
                format!(", up to {} s drain", drain.as_secs_f64())
            } else {
                String::new()
            }
        );
        // Samples from the end of the warm-up; bounded by the longest the
        // run can take.
        let sampler = metrics.take().map(|client| {
            Sampler::start(
                client,
                metrics_interval,
                cfg.warmup,
                cfg.warmup + cfg.duration + drain + Duration::from_secs(30),
                server_pid,
            )
        });
        let probe = CpuProbe::start(server_pid);
        let result: MixResult = match rate {
            None => closed_loop(executors, Op::ALL.len(), cfg.warmup, cfg.duration).await,
            Some(r) => {
                let schedule = Schedule::new(r, cfg.warmup, cfg.duration);
                open_loop(executors, Op::ALL.len(), schedule, cfg.duration, drain).await
            }
        };
        let cpu = probe.finish();
        let outbox = match sampler {
            Some(sampler) => {
                let (client, samples) = sampler.finish().await?;
                metrics = Some(client);
                let phase = samples.summary();
                eprintln!("  {}", phase.line());
                Some(phase)
            }
            None => None,
        };
        let run_cfg = LoadConfig { connections, ..cfg };
        let url = base.to_string();
        let overall = Report::named(&label, "MIX", &url, run_cfg, threads, None, &result.overall);
        let operations: Vec<Report> = Op::ALL
            .iter()
            .zip(&result.ops)
            .map(|(op, m)| {
                Report::named(
                    &format!("  {} ({:.0}%)", op.label(), mix.percent(*op)),
                    op.request(),
                    &url,
                    run_cfg,
                    threads,
                    None,
                    m,
                )
            })
            .collect();
        let http_rps = result.http_requests as f64 / cfg.duration.as_secs_f64();
        let ratio = health_rps.and_then(|h| percent(overall.requests_per_sec, h));
        eprintln!(
            "  {:.1} ops/s ({:.1} HTTP requests/s), {} errors, p99 {} us; CPU: {}",
            overall.requests_per_sec,
            http_rps,
            overall.errors,
            overall.latency_us.p99,
            cpu.summary()
        );
        cpu_lines.push(format!("{label}: {}", cpu.summary()));
        reports.push(overall.clone());
        reports.extend(operations.iter().cloned());
        let timer_lag_us = (rate.is_some() && result.timer_lag.max() > 0).then(|| Timing {
            p50: ns_to_us(result.timer_lag.value_at_quantile(0.5)),
            p99: ns_to_us(result.timer_lag.value_at_quantile(0.99)),
            max: ns_to_us(result.timer_lag.max()),
        });
        runs.push(MixRun {
            mode,
            connections,
            rate,
            overall,
            operations,
            http_requests: result.http_requests,
            http_requests_per_sec: round1(http_rps),
            ratio_to_health_percent: ratio,
            due: result.due,
            late_starts: result.late_starts,
            unfinished: result.unfinished,
            timer_lag_us,
            cpu,
            outbox,
        });
    }
    let load_end = tokio::time::Instant::now();
    let end_of_mix = server_pid.and_then(memory);

    // After the load: the outbox drains, then the server idles.
    let outbox_catch_up = match metrics.as_mut() {
        Some(client) if !runs.is_empty() => {
            eprintln!(
                "waiting up to {} s for the outbox to drain",
                args.catchup_timeout
            );
            let c = catch_up(
                client,
                load_end,
                metrics_interval,
                Duration::from_secs_f64(args.catchup_timeout),
            )
            .await;
            eprintln!("  {}", c.line());
            Some(c)
        }
        _ => None,
    };
    let server_memory = match server_pid {
        Some(pid) => {
            let idle_at = load_end + Duration::from_secs_f64(args.idle_wait);
            if idle_at > tokio::time::Instant::now() {
                eprintln!(
                    "reading the server's idle memory {} s after the load",
                    args.idle_wait
                );
                tokio::time::sleep_until(idle_at).await;
            }
            let idle_after = load_end.elapsed().as_secs_f64();
            Some(MemoryReport {
                after_seeding: memory_after_seeding,
                peak_reset_after_seeding: peak_reset,
                end_of_mix,
                idle: memory(pid),
                idle_after_s: round1(idle_after),
            })
        }
        None => None,
    };

    let errors: u64 = reports
        .iter()
        .filter(|r| !r.scenario.starts_with("  "))
        .map(|r| r.errors)
        .sum();
    let summary = SocialSummary {
        scenario: "social",
        base_url: base.to_string(),
        graph: GraphInfo {
            source,
            users: graph.users,
            undirected_edges: graph.edges.len(),
            follows: graph.follows(),
            max_degree: graph.degrees().into_iter().max().unwrap_or(0),
            posts_per_user: args.posts_per_user,
            posts: graph.users as u64 * u64::from(args.posts_per_user),
            seed: args.seed,
        },
        mix: mix.weights,
        feed_reads: feed_reads.name(),
        feed_reads_mode: feed_reads,
        max_offset: (feed_reads == FeedReads::Offset).then_some(args.max_offset),
        seeding: seeder.phases,
        seeding_seconds: round1(seeding_seconds),
        health: health_run,
        runs,
        outbox_catch_up,
        server_memory,
        errors,
    };
    if args.load.json {
        print_json(&summary)?;
    } else {
        print_text(&summary, &reports, &cpu_lines);
    }
    if errors > 0 && !args.load.allow_errors {
        eprintln!("FAILED: {errors} requests or operations failed (use --allow-errors to accept)");
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line on how the mix reads feeds, for the output.
fn describe_feed_reads(reads: FeedReads, max_offset: u32) -> String {
    match reads {
        FeedReads::Offset => format!(
            "offset (home feed: 10 posts after a random offset of 0-{max_offset}; \
             user timeline: first page of 10)"
        ),
        FeedReads::FirstPage { next_page_one_in } => format!(
            "first-page (home feed and user timeline: first page of 10; \
             1 in {next_page_one_in} also reads the next page through nextCursor)"
        ),
    }
}

fn print_text(s: &SocialSummary, reports: &[Report], cpu_lines: &[String]) {
    let g = &s.graph;
    println!(
        "graph {}: {} users, {} follows (most {} per user), {} seeded posts",
        g.source, g.users, g.follows, g.max_degree, g.posts
    );
    println!(
        "feed reads: {}",
        describe_feed_reads(s.feed_reads_mode, s.max_offset.unwrap_or(0))
    );
    println!("seeding through the API took {:.1} s:", s.seeding_seconds);
    for p in &s.seeding {
        println!("  {}", p.line());
    }
    println!();
    print!("{}", table(reports));
    println!();
    println!("req/s of a mix row = operations/s; latency of an operation = all its HTTP requests");
    for run in &s.runs {
        let name = run.overall.scenario.as_str();
        let mut line = format!(
            "{name}: {:.1} ops/s = {:.1} HTTP requests/s",
            run.overall.requests_per_sec, run.http_requests_per_sec
        );
        if let Some(r) = run.ratio_to_health_percent {
            line.push_str(&format!(", {r:.1} % of GET /health"));
        }
        println!("{line}");
        if let Some(due) = run.due {
            let mut l = format!(
                "  open loop: {due} operations due in the window, {} started late (all connections busy), {} unanswered",
                run.late_starts, run.unfinished
            );
            if let Some(t) = &run.timer_lag_us {
                l.push_str(&format!(
                    "; timer lag (not counted) p50 {} us, p99 {} us",
                    t.p50, t.p99
                ));
            }
            println!("{l}");
        }
    }
    println!();
    println!("CPU use (percent of one core; 'other' is the rest of the machine):");
    for l in cpu_lines {
        println!("  {l}");
    }
    let sampled: Vec<&MixRun> = s.runs.iter().filter(|r| r.outbox.is_some()).collect();
    if !sampled.is_empty() || s.outbox_catch_up.is_some() {
        println!();
        println!("outbox (GET /metrics during each measured window, after its warm-up):");
        for run in sampled {
            if let Some(o) = &run.outbox {
                println!("  {}: {}", run.overall.scenario, o.line());
            }
        }
        if let Some(c) = &s.outbox_catch_up {
            println!("  {}", c.line());
        }
    }
    if let Some(m) = &s.server_memory {
        println!();
        let na = || "n/a".to_owned();
        println!("server memory (from /proc/PID/status):");
        if let Some(a) = m.after_seeding {
            println!(
                "  after seeding: VmRSS {} (peak VmHWM while seeding {})",
                mib(a.rss_kb),
                mib(a.hwm_kb)
            );
        }
        let since = if m.peak_reset_after_seeding {
            "since seeding: the measurements"
        } else {
            "the server's whole life, seeding included"
        };
        match m.end_of_mix {
            Some(e) => println!(
                "  end of the mix: peak VmHWM {} ({since}), VmRSS {}",
                mib(e.hwm_kb),
                mib(e.rss_kb)
            ),
            None => println!("  end of the mix: {}", na()),
        }
        println!(
            "  idle, {:.1} s after the load: VmRSS {}",
            m.idle_after_s,
            m.idle.map_or_else(na, |i| mib(i.rss_kb))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_is_a_seeded_permutation() {
        let a = shuffled(1000, 3);
        assert_eq!(a, shuffled(1000, 3));
        assert_ne!(a, shuffled(1000, 4));
        assert_ne!(a, (0..1000).collect::<Vec<u32>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        assert!(shuffled(0, 1).is_empty());
    }
}

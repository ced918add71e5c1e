//! `starling-bench reads`: the read path against `GET /health` in one run.
//! Seeds a reader who follows `--authors` authors with `--posts-per-author`
//! posts each (through the `social` scenario's seeding), then measures each
//! read endpoint closed loop with the same connections, alternating the
//! endpoints in rounds so that drift on a shared machine hits all of them.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::cpu::{CpuProbe, CpuUse};
use crate::graph::Graph;
use crate::load::{LoadConfig, Target, run_load};
use crate::report::{Report, aligned, format_rps, group, median, percent, round1, table};
use crate::seed::{PhaseReport, Seeder, TOKEN_MARGIN};
use crate::spawn::{ServerArgs, Session};
use crate::{EXIT_FAILED, LoadArgs, TOKEN_BUDGET, describe, preflight_2xx, print_json};

/// Posts per page of every feed read.
const PAGE: u32 = 10;

pub const READS_AFTER: &str = "\
Examples:
  cargo build --release -p starling-server -p starling-bench
  target/release/starling-bench reads --spawn target/release/starling
  # shorter: 32 connections, 1 s warm-up + 5 s per measurement, 3 rounds
  target/release/starling-bench reads --spawn target/release/starling \\
      --connections 32 --warmup 1 --duration 5
  # some of the endpoints only
  target/release/starling-bench reads --spawn target/release/starling --targets health,feed

What it does:
  1. Registers a reader and --authors authors; the reader follows every
     author, then each author creates --posts-per-author posts (256 random
     characters), through the API as the social scenario seeds.
  2. Reads each endpoint once (the home feed's first read warms its
     timeline) and checks it answers 2xx with a full page.
  3. For --rounds rounds, measures in turn (closed loop, --connections,
     --warmup + --duration each): GET /health; GET /api/profile; the home feed
     GET /api/feed?limit=10; an author's posts GET /api/users/{id}/posts?limit=10;
     the community feed GET /api/feed/public?limit=10. All but /health carry
     the reader's Bearer token, as the app sends it.
  4. Prints every measurement, then per endpoint the median req/s, p50 and
     p99 across rounds, the percentage of /health's median req/s, and the
     server's median CPU use.";

/// The endpoints `reads` can measure, in measuring order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    /// GET /health
    Health,
    /// GET /api/profile
    Profile,
    /// GET /api/feed?limit=10 (home feed)
    Feed,
    /// GET /api/users/{id}/posts?limit=10 (user timeline)
    Timeline,
    /// GET /api/feed/public?limit=10 (community feed)
    Public,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::Health,
        Endpoint::Profile,
        Endpoint::Feed,
        Endpoint::Timeline,
        Endpoint::Public,
    ];

    /// Whether the response is a page of posts (checked before measuring).
    fn is_page(self) -> bool {
        matches!(self, Endpoint::Feed | Endpoint::Timeline | Endpoint::Public)
    }
}

#[derive(Args)]
pub struct ReadsArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// Server process id, for its CPU use when it was not spawned
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    server_pid: Option<u32>,

    /// Authors the reader follows
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    authors: u32,

    /// Posts each author creates
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    posts_per_author: u32,

    /// Rounds; each measures every endpoint once, in turn
    #[arg(short, long, default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,

    /// Endpoints to measure (comma-separated); the /health percentage needs health
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "health,profile,feed,timeline,public"
    )]
    targets: Vec<Endpoint>,

    /// Concurrent registrations while seeding (each costs the server a password hash)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    register_concurrency: u32,

    /// Concurrent follow and post requests while seeding
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    seed_concurrency: u32,

    /// Seed of the post texts
    #[arg(long, default_value_t = 1)]
    seed: u64,

    #[command(flatten)]
    pub load: LoadArgs,
}

/// One measurement and the CPU use during it.
pub struct Measured {
    pub report: Report,
    pub cpu: CpuUse,
}

/// Measures every target in turn, `rounds` times (round 1: all targets, then
/// round 2...), so slow drift of a shared machine spreads over all of them.
pub async fn alternate(
    targets: &[Arc<Target>],
    rounds: u32,
    cfg: LoadConfig,
    threads: u16,
    server_pid: Option<u32>,
) -> Vec<Measured> {
    let mut out = Vec::with_capacity(targets.len() * rounds as usize);
    for round in 1..=rounds {
        for target in targets {
            eprintln!("round {round}/{rounds}: {}", target.label);
            let probe = CpuProbe::start(server_pid);
            let m = run_load(target.clone(), cfg).await;
            let cpu = probe.finish();
            let report = Report::new(target, cfg, usize::from(threads), Some(round), &m);
            eprintln!(
                "  {:.1} req/s, p50 {} us, p99 {} us, {} errors; CPU: {}",
                report.requests_per_sec,
                report.latency_us.p50,
                report.latency_us.p99,
                report.errors,
                cpu.summary()
            );
            out.push(Measured { report, cpu });
        }
    }
    out
}

#[derive(Serialize)]
struct EndpointSummary {
    endpoint: String,
    median_rps: f64,
    median_p50_us: f64,
    median_p99_us: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    percent_of_health: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    median_server_cpu_percent: Option<f64>,
    errors: u64,
}

#[derive(Serialize)]
struct Seeded {
    authors: u32,
    posts_per_author: u32,
    reader: String,
    timeline_author: String,
    seconds: f64,
    phases: Vec<PhaseReport>,
}

#[derive(Serialize)]
struct ReadsSummary {
    scenario: &'static str,
    base_url: String,
    rounds: u32,
    connections: usize,
    seeded: Seeded,
    endpoints: Vec<EndpointSummary>,
    measurements: Vec<Report>,
    errors: u64,
}

pub async fn cmd_reads(args: ReadsArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.load.config();
    if args.targets.is_empty() {
        bail!("--targets: name at least one endpoint");
    }
    let planned = (cfg.warmup + cfg.duration) * (args.targets.len() as u32) * args.rounds;
    if planned + TOKEN_MARGIN > TOKEN_BUDGET {
        bail!(
            "{} rounds of {} endpoints x ({} s warm-up + {} s) take {} s, more than an access \
             token safely lasts; lower --rounds, --duration or --warmup",
            args.rounds,
            args.targets.len(),
            cfg.warmup.as_secs_f64(),
            cfg.duration.as_secs_f64(),
            planned.as_secs_f64()
        );
    }
    args.server
        .run(args.server_pid, async |s: &mut Session| {
            reads(&args, s).await
        })
        .await
}

#[derive(Deserialize)]
struct Page {
    items: Vec<serde_json::Value>,
}

async fn reads(args: &ReadsArgs, s: &mut Session) -> anyhow::Result<ExitCode> {
    let cfg = args.load.config();
    let threads = args.load.threads;
    let (base, addr, server_pid) = (&s.base, s.addr, s.pid);
    let health = Arc::new(Target::new("GET", base.join("/health"), addr, &[], None)?);
    preflight_2xx(&health).await?;

    // Seeding: user 0 reads, users 1..=authors write; the reader follows
    // every author before the posts exist, so they reach its timeline.
    let started = Instant::now();
    let authors = args.authors as usize;
    let mut seeder = Seeder::register(
        addr,
        base,
        authors + 1,
        args.register_concurrency as usize,
        args.seed_concurrency as usize,
    )
    .await?;
    // A star: edge i is (0, i + 1); its even follow is the reader's.
    let star = Arc::new(Graph {
        users: authors + 1,
        edges: (1..=authors as u32).map(|a| (0, a)).collect(),
    });
    eprintln!("following: the reader follows {authors} authors");
    seeder
        .follow(star, (0..authors as u32).map(|i| 2 * i).collect())
        .await?;
    eprintln!(
        "posting: {} posts for each of {authors} authors",
        args.posts_per_author
    );
    seeder
        .post(1, args.posts_per_author as usize, args.seed)
        .await?;
    let seeding_seconds = started.elapsed().as_secs_f64();
    let (Some(reader), Some(author)) = (seeder.accounts.first(), seeder.accounts.get(1)) else {
        bail!("seeding registered no users");
    };
    eprintln!(
        "seeded in {seeding_seconds:.1} s: reader {} follows {authors} authors with {} posts each",
        reader.username, args.posts_per_author
    );

    // The targets, in the order asked (each once).
    let bearer = reader.bearer();
    let auth = [("Authorization", bearer.as_str())];
    let mut targets: Vec<(Endpoint, Arc<Target>)> = Vec::new();
    for &e in Endpoint::ALL.iter() {
        if !args.targets.contains(&e) {
            continue;
        }
        let target = match e {
            Endpoint::Health => health.clone(),
            Endpoint::Profile => Arc::new(Target::new(
                "GET",
                base.join("/api/profile"),
                addr,
                &auth,
                None,
            )?),
            Endpoint::Feed => Arc::new(Target::new(
                "GET",
                base.join(&format!("/api/feed?limit={PAGE}")),
                addr,
                &auth,
                None,
            )?),
            Endpoint::Timeline => {
                let mut t = Target::new(
                    "GET",
                    base.join(&format!("/api/users/{}/posts?limit={PAGE}", author.id)),
                    addr,
                    &auth,
                    None,
                )?;
                t.label = format!("GET /api/users/{{id}}/posts?limit={PAGE}");
                Arc::new(t)
            }
            Endpoint::Public => Arc::new(Target::new(
                "GET",
                base.join(&format!("/api/feed/public?limit={PAGE}")),
                addr,
                &auth,
                None,
            )?),
        };
        targets.push((e, target));
    }

    // One read of each: 2xx, and a full page where there should be one
    // (the home feed's read also warms the reader's timeline).
    for (e, target) in &targets {
        let body = preflight_2xx(target).await?;
        if e.is_page() {
            let page: Page = serde_json::from_slice(&body)
                .with_context(|| format!("{} did not answer a page of posts", target.label))?;
            if page.items.len() < PAGE as usize {
                eprintln!(
                    "warning: {} answered {} posts, not {PAGE}",
                    target.label,
                    page.items.len()
                );
            }
        }
    }

    let list: Vec<Arc<Target>> = targets.iter().map(|(_, t)| t.clone()).collect();
    eprintln!(
        "reads at {base}: {} rounds of {} endpoints, {}",
        args.rounds,
        list.len(),
        describe(cfg, threads)
    );
    let measured = alternate(&list, args.rounds, cfg, threads, server_pid).await;
    if started.elapsed() > TOKEN_BUDGET {
        eprintln!("warning: the run outlasted the access token budget");
    }

    let of = |label: &str| -> Vec<&Measured> {
        measured
            .iter()
            .filter(|m| m.report.scenario == label)
            .collect()
    };
    let health_rps = targets
        .iter()
        .any(|(e, _)| *e == Endpoint::Health)
        .then(|| {
            median(
                &of(&health.label)
                    .iter()
                    .map(|m| m.report.requests_per_sec)
                    .collect::<Vec<_>>(),
            )
        });
    let endpoints: Vec<EndpointSummary> = list
        .iter()
        .map(|t| {
            let ms = of(&t.label);
            let rps = median(
                &ms.iter()
                    .map(|m| m.report.requests_per_sec)
                    .collect::<Vec<_>>(),
            );
            let p50 = median(
                &ms.iter()
                    .map(|m| m.report.latency_us.p50 as f64)
                    .collect::<Vec<_>>(),
            );
            let p99 = median(
                &ms.iter()
                    .map(|m| m.report.latency_us.p99 as f64)
                    .collect::<Vec<_>>(),
            );
            let cpu: Vec<f64> = ms.iter().filter_map(|m| m.cpu.server_percent).collect();
            EndpointSummary {
                endpoint: t.label.clone(),
                median_rps: round1(rps),
                median_p50_us: p50.round(),
                median_p99_us: p99.round(),
                percent_of_health: health_rps.and_then(|h| percent(rps, h)),
                median_server_cpu_percent: (!cpu.is_empty()).then(|| round1(median(&cpu))),
                errors: ms.iter().map(|m| m.report.errors).sum(),
            }
        })
        .collect();
    let errors: u64 = endpoints.iter().map(|e| e.errors).sum();
    let summary = ReadsSummary {
        scenario: "reads",
        base_url: base.to_string(),
        rounds: args.rounds,
        connections: cfg.connections,
        seeded: Seeded {
            authors: args.authors,
            posts_per_author: args.posts_per_author,
            reader: reader.username.clone(),
            timeline_author: author.username.clone(),
            seconds: round1(seeding_seconds),
            phases: seeder.phases.clone(),
        },
        endpoints,
        measurements: measured.iter().map(|m| m.report.clone()).collect(),
        errors,
    };
    if args.load.json {
        print_json(&summary)?;
    } else {
        print_text(&summary);
    }
    if errors > 0 && !args.load.allow_errors {
        eprintln!("FAILED: {errors} requests failed (use --allow-errors to accept)");
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(s: &ReadsSummary) {
    let d = &s.seeded;
    println!(
        "seeded in {:.1} s: reader {} follows {} authors with {} posts each; timelines read are {}'s",
        d.seconds, d.reader, d.authors, d.posts_per_author, d.timeline_author
    );
    for p in &d.phases {
        println!("  {}", p.line());
    }
    println!();
    print!("{}", table(&s.measurements));
    println!();
    println!(
        "medians over {} rounds, {} connections each:",
        s.rounds, s.connections
    );
    let mut rows: Vec<Vec<String>> = vec![
        [
            "endpoint",
            "req/s",
            "p50 us",
            "p99 us",
            "% of /health",
            "server CPU",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for e in &s.endpoints {
        rows.push(vec![
            e.endpoint.clone(),
            format_rps(e.median_rps),
            group(e.median_p50_us as u64),
            group(e.median_p99_us as u64),
            e.percent_of_health
                .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.1} %")),
            e.median_server_cpu_percent
                .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.0} %")),
        ]);
    }
    print!("{}", aligned(&rows));
    println!("(server CPU in percent of one core; 200 % is both cores of a 2-core machine)");
}

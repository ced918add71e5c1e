//! `starling-bench sse-hold`: hold many notification streams open at once
//! and measure the server's resident memory per stream.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Args;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::cpu::{Memory, memory};
use crate::http::{HttpUrl, build_request, fetch};
use crate::notify::{AbortOnDrop, Ready, open_live_stream, seed_users};
use crate::seed::PhaseReport;
use crate::spawn::{ServerArgs, SpawnedServer};
use crate::{EXIT_FAILED, print_json, seconds};

/// File descriptors kept free beside the streams (love requests, the
/// runtime, stdio).
const SPARE_FDS: u64 = 64;
/// How long the sample notification may take to reach its streams.
const SAMPLE_WAIT: Duration = Duration::from_secs(10);
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

pub const HOLD_AFTER: &str = "\
Examples:
  cargo build --release -p starling-server -p starling-bench
  # 10,000 streams on the embedded defaults (the spawned server inherits the
  # file-descriptor limit, which the tool raises to the hard limit)
  ulimit -n 65536   # or as high as the hard limit allows
  target/release/starling-bench sse-hold --spawn target/release/starling
  # a server started elsewhere: give its pid for the memory figures
  target/release/starling-bench sse-hold --base-url http://127.0.0.1:8080 --pid 12345

What it does:
  1. Registers --users users; the first creates a post.
  2. Reads the server's VmRSS (/proc/PID/status) after a --settle pause.
  3. Opens --streams notification streams (GET /api/notifications/stream),
     spread round-robin over the users, --open-concurrency at a time, and
     waits for the first unread-count event on each.
  4. After another --settle pause reads VmRSS again and reports
     (after - before) / streams in KiB, and the totals.
  5. Checks the streams are alive: the second user loves the first user's
     post, and every stream of the first user must receive the notification.
  6. Optionally holds everything open for --hold seconds more (15 s or more
     spans a heartbeat) and reads the memory and the closed streams again.";

#[derive(Args)]
pub struct HoldArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// The server's process id, for its memory when it was not spawned
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    pid: Option<u32>,

    /// Concurrent notification streams to hold
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    streams: u32,

    /// Users the streams are spread over (round-robin)
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(2..=100_000))]
    users: u32,

    /// Streams being opened at the same time
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    open_concurrency: u32,

    /// Seconds to let the server settle before each memory reading
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = seconds)]
    settle: f64,

    /// Seconds to keep the streams open after the check, then read again
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, value_parser = seconds)]
    hold: f64,

    /// Concurrent registrations while seeding (each costs the server a password hash)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    register_concurrency: u32,

    /// Worker threads of the load generator
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,

    /// Print one JSON object for the run on stdout (progress goes to stderr)
    #[arg(long)]
    json: bool,
}

/// Counters shared by the stream tasks.
#[derive(Default)]
struct Shared {
    /// Notification events received, over all streams.
    notifications: AtomicU64,
    /// Heartbeat comments received, over all streams.
    heartbeats: AtomicU64,
    /// Streams that ended (server closed or error) after being live.
    closed: AtomicU64,
}

#[derive(Serialize)]
struct HoldSummary {
    scenario: &'static str,
    base_url: String,
    server_pid: Option<u32>,
    streams: u64,
    users: u64,
    seeding: Vec<PhaseReport>,
    open_seconds: f64,
    opened_per_sec: f64,
    before: Option<Memory>,
    after: Option<Memory>,
    /// (after.rss - before.rss) / streams.
    kb_per_stream: Option<f64>,
    /// Streams of the first user, which all should receive the sample.
    sample_streams: u64,
    sample_delivered: u64,
    sample_latency_ms: Option<f64>,
    held_s: f64,
    after_hold: Option<Memory>,
    heartbeats: u64,
    streams_closed: u64,
    client_fd_limit: Option<u64>,
    server_fd_limit: Option<u64>,
}

fn server_fd_limit(pid: u32) -> Option<u64> {
    let pid = i32::try_from(pid).ok()?;
    rlimit::ProcLimits::read_process(pid)
        .ok()?
        .max_open_files?
        .soft_limit
}

async fn stream_task(
    addr: SocketAddr,
    base: HttpUrl,
    bearer: Arc<str>,
    permits: Arc<Semaphore>,
    shared: Arc<Shared>,
    ready: mpsc::UnboundedSender<Ready>,
    mut stop: watch::Receiver<bool>,
) {
    let opened = {
        let _permit = permits.acquire().await;
        open_live_stream(addr, &base, &bearer).await
    };
    let mut stream = match opened {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(format!("{e:#}")));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    drop(ready);
    let mut comments = stream.comments();
    loop {
        let next = tokio::select! {
            n = stream.next_events() => n,
            _ = stop.wait_for(|s| *s) => return,
        };
        match next {
            Ok(Some((_, events))) => {
                let n = events.iter().filter(|e| e.event == "notification").count();
                shared.notifications.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(None) | Err(_) => {
                shared.closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let now = stream.comments();
        shared
            .heartbeats
            .fetch_add(now - comments, Ordering::Relaxed);
        comments = now;
    }
}

pub async fn cmd_hold(args: HoldArgs) -> anyhow::Result<ExitCode> {
    let streams = u64::from(args.streams);
    let client_limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    if let Some(limit) = client_limit
        && limit < streams + SPARE_FDS
    {
        bail!(
            "this process may open only {limit} files, fewer than the {} that {streams} streams \
             need; raise the hard limit first (ulimit -Hn / ulimit -n 65536 as root, or \
             LimitNOFILE) or lower --streams",
            streams + SPARE_FDS
        );
    }
    let (mut server, base) = args.server.connect().await?;
    let pid = server.as_ref().and_then(SpawnedServer::pid).or(args.pid);
    let result = tokio::select! {
        r = hold(&args, &base, pid, client_limit, server.as_mut()) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if let Some(server) = server.take() {
        server.stop().await;
    }
    result
}

async fn hold(
    args: &HoldArgs,
    base: &HttpUrl,
    pid: Option<u32>,
    client_limit: Option<u64>,
    server: Option<&mut SpawnedServer>,
) -> anyhow::Result<ExitCode> {
    let streams = u64::from(args.streams);
    let n = usize::try_from(streams)?;
    let users = usize::try_from(args.users)?;
    let addr = base.resolve().await?;
    let server_limit = pid.and_then(server_fd_limit);
    match (pid, server_limit) {
        (None, _) => eprintln!(
            "warning: no server pid (give --pid, or --spawn): memory figures will be missing"
        ),
        (Some(_), Some(limit)) if limit < streams + SPARE_FDS => bail!(
            "the server may open only {limit} files, fewer than {streams} streams need; start \
             it with a higher limit (ulimit -n 65536; with --spawn it inherits this tool's \
             limit, raised to the hard limit: raise the hard limit)"
        ),
        _ => {}
    }
    let settle = Duration::from_secs_f64(args.settle);

    let mut phases = Vec::new();
    eprintln!("seeding {users} users, the first with a post");
    let (accounts, posts) = seed_users(
        addr,
        base,
        users,
        1,
        args.register_concurrency as usize,
        &mut phases,
    )
    .await?;
    let post = posts
        .first()
        .ok_or_else(|| anyhow!("no post was created"))?;
    tokio::time::sleep(settle).await;
    let before = pid.and_then(memory);
    if let Some(m) = before {
        eprintln!("server before the streams: VmRSS {} KiB", m.rss_kb);
    }

    // Open the streams.
    let bearers: Vec<Arc<str>> = accounts
        .iter()
        .map(|a| Arc::from(format!("Bearer {}", a.access)))
        .collect();
    let shared = Arc::new(Shared::default());
    let permits = Arc::new(Semaphore::new(args.open_concurrency as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Ready>();
    eprintln!(
        "opening {n} streams over {users} users, {} at a time",
        args.open_concurrency
    );
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for k in 0..n {
        let bearer = bearers.get(k % users).cloned().unwrap_or_else(|| "".into());
        tasks.push(tokio::spawn(stream_task(
            addr,
            base.clone(),
            bearer,
            permits.clone(),
            shared.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        )));
    }
    drop(ready_tx);
    let _abort = AbortOnDrop(tasks.iter().map(|t| t.abort_handle()).collect());
    let mut live = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut failed = 0usize;
    let mut last_progress = Instant::now();
    while live + failed < n {
        match ready_rx.recv().await {
            Some(Ok(())) => live += 1,
            Some(Err(e)) => {
                failed += 1;
                if failures.len() < 5 {
                    failures.push(e);
                }
            }
            None => break,
        }
        if last_progress.elapsed() >= Duration::from_secs(2) {
            last_progress = Instant::now();
            eprintln!(
                "  {live} live, {failed} failed after {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let open_seconds = started.elapsed().as_secs_f64();
    if failed > 0 {
        let mut msg = format!(
            "{failed} of {n} streams could not be opened; the first errors:\n  {}",
            failures.join("\n  ")
        );
        let text = failures.join(" ").to_ascii_lowercase();
        if text.contains("too many open files") {
            msg.push_str(
                "\nThis process ran out of file descriptors: raise `ulimit -n` (hard limit) \
                 or lower --streams.",
            );
        } else {
            msg.push_str(&format!(
                "\nIf the server ran out of file descriptors it stops accepting (look for \
                 'Too many open files' in its log), and connections then time out or are \
                 reset: start it with `ulimit -n 65536`{}.",
                server_limit.map_or(String::new(), |l| format!(" (its limit is {l})"))
            ));
        }
        if let Some(s) = server.as_deref() {
            msg.push('\n');
            msg.push_str(&s.log_tail());
        }
        bail!(msg);
    }
    eprintln!(
        "all {n} streams live after {open_seconds:.1} s ({:.0}/s)",
        n as f64 / open_seconds.max(1e-3)
    );
    tokio::time::sleep(settle).await;
    let after = pid.and_then(memory);
    let kb_per_stream = match (before, after) {
        (Some(b), Some(a)) => Some((a.rss_kb as f64 - b.rss_kb as f64) / n as f64),
        _ => None,
    };

    // The sample: user 1 loves user 0's post; every stream of user 0 must
    // get the notification.
    let sample_streams = (0..n).filter(|k| k % users == 0).count() as u64;
    let lover = bearers.get(1).cloned().unwrap_or_else(|| "".into());
    let url = base.join(&format!("/api/posts/{post}/love"));
    let request = build_request(
        "PUT",
        &url,
        &[("Authorization".to_owned(), lover.to_string())],
        None,
    )?;
    let before_sample = shared.notifications.load(Ordering::Relaxed);
    let sent = Instant::now();
    let (status, body) = fetch(addr, &request, false, SETUP_TIMEOUT).await?;
    if !(200..300).contains(&status) {
        bail!(
            "PUT {url} answered {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    let mut sample_latency = None;
    while sent.elapsed() < SAMPLE_WAIT {
        let got = shared.notifications.load(Ordering::Relaxed) - before_sample;
        if got >= sample_streams {
            sample_latency = Some(sent.elapsed().as_secs_f64() * 1000.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sample_delivered = shared.notifications.load(Ordering::Relaxed) - before_sample;

    let held = Duration::from_secs_f64(args.hold);
    let mut after_hold = None;
    if !held.is_zero() {
        eprintln!("holding the streams for {} s", held.as_secs_f64());
        tokio::time::sleep(held).await;
        after_hold = pid.and_then(memory);
    }
    let _ = stop_tx.send(true);
    if let Some(s) = server
        && !s.check_alive()
    {
        bail!("the server exited during the run");
    }

    let summary = HoldSummary {
        scenario: "sse-hold",
        base_url: base.to_string(),
        server_pid: pid,
        streams,
        users: users as u64,
        seeding: phases,
        open_seconds: (open_seconds * 10.0).round() / 10.0,
        opened_per_sec: (n as f64 / open_seconds.max(1e-3)).round(),
        before,
        after,
        kb_per_stream: kb_per_stream.map(|v| (v * 100.0).round() / 100.0),
        sample_streams,
        sample_delivered,
        sample_latency_ms: sample_latency.map(|v| (v * 10.0).round() / 10.0),
        held_s: held.as_secs_f64(),
        after_hold,
        heartbeats: shared.heartbeats.load(Ordering::Relaxed),
        streams_closed: shared.closed.load(Ordering::Relaxed),
        client_fd_limit: client_limit,
        server_fd_limit: server_limit,
    };
    if args.json {
        print_json(&summary)?;
    } else {
        print_hold(&summary);
    }
    if summary.sample_delivered != summary.sample_streams || summary.streams_closed > 0 {
        eprintln!(
            "FAILED: the sample notification reached {} of {} streams; {} streams closed",
            summary.sample_delivered, summary.sample_streams, summary.streams_closed
        );
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn print_hold(s: &HoldSummary) {
    println!(
        "sse-hold at {}: {} streams over {} users, opened in {:.1} s ({}/s)",
        s.base_url, s.streams, s.users, s.open_seconds, s.opened_per_sec
    );
    for p in &s.seeding {
        println!("  {}", p.line());
    }
    match (s.before, s.after) {
        (Some(b), Some(a)) => {
            println!(
                "server VmRSS: {} before the streams, {} with them (peak {})",
                mib(b.rss_kb),
                mib(a.rss_kb),
                mib(a.hwm_kb)
            );
            if let Some(kb) = s.kb_per_stream {
                println!("  {kb:.2} KiB per stream");
            }
        }
        _ => println!("server memory: unknown (no pid; give --pid)"),
    }
    let latency = s
        .sample_latency_ms
        .map_or_else(String::new, |ms| format!(", all within {ms:.1} ms"));
    println!(
        "liveness: one love reached {} of the {} streams of its author{latency}",
        s.sample_delivered, s.sample_streams
    );
    if s.held_s > 0.0 {
        let mem = s
            .after_hold
            .map_or_else(|| "unknown".to_owned(), |m| mib(m.rss_kb));
        println!(
            "after holding {} s more: VmRSS {mem}, {} heartbeats received",
            s.held_s, s.heartbeats
        );
    }
    println!(
        "streams closed by the server or failed: {}",
        s.streams_closed
    );
    println!(
        "file limits: this tool {}, the server {}",
        s.client_fd_limit
            .map_or_else(|| "?".to_owned(), |v| v.to_string()),
        s.server_fd_limit
            .map_or_else(|| "?".to_owned(), |v| v.to_string())
    );
}

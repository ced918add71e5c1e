//! `starling-bench sse-hold`: hold many notification streams open at once
//! and measure the server's resident memory per stream; and the opening of
//! many connections it shares with `chat-hold`.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Args;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cpu::{Memory, check_fd_limit, check_server_fd_limit, kib_per, memory};
use crate::http::{AbortOnDrop, expect_2xx, fetch};
use crate::notify::open_live_stream;
use crate::report::{mib, round1};
use crate::seed::{PhaseReport, Seeder};
use crate::spawn::{ServerArgs, Session};
use crate::sse::EventStream;
use crate::{EXIT_FAILED, SETUP_TIMEOUT, print_json, seconds};

/// How long the sample notification may take to reach its streams.
const SAMPLE_WAIT: Duration = Duration::from_secs(10);

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

/// Counts a live stream's events until it ends.
async fn keep_stream(mut stream: EventStream, shared: Arc<Shared>) {
    let mut comments = stream.comments();
    loop {
        match stream.next_events().await {
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

/// Many connections opened at once and held.
pub struct Held {
    pub tasks: Vec<JoinHandle<()>>,
    /// Aborts the tasks if the run is abandoned.
    _abort: AbortOnDrop,
    pub seconds: f64,
}

impl Held {
    /// Stops the tasks (closing their connections) and waits a little for
    /// each to end.
    pub async fn close(self) {
        drop(self._abort);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// Spawns `n` tasks that each open connection `k` with `open(k)`
/// (`concurrency` at a time) and then keep it with `hold` until that ends;
/// waits until every connection is open, printing progress. On failure,
/// returns how many failed and the first errors.
pub async fn open_all<C, O, OF, H, HF>(
    n: usize,
    concurrency: usize,
    indent: &str,
    open: O,
    hold: H,
) -> Result<Held, (usize, Vec<String>)>
where
    O: Fn(usize) -> OF,
    OF: Future<Output = anyhow::Result<C>> + Send + 'static,
    H: Fn(C) -> HF + Clone + Send + 'static,
    HF: Future<Output = ()> + Send + 'static,
    C: Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for k in 0..n {
        let (permits, ready, opening, hold) =
            (permits.clone(), ready_tx.clone(), open(k), hold.clone());
        tasks.push(tokio::spawn(async move {
            let opened = {
                let _permit = permits.acquire().await;
                opening.await
            };
            match opened {
                Ok(c) => {
                    let _ = ready.send(Ok(()));
                    drop(ready);
                    hold(c).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(format!("{e:#}")));
                }
            }
        }));
    }
    drop(ready_tx);
    let abort = AbortOnDrop(tasks.iter().map(|t| t.abort_handle()).collect());
    let (mut live, mut failed, mut first) = (0usize, 0usize, Vec::new());
    let mut progress = Instant::now();
    while live + failed < n {
        match ready_rx.recv().await {
            Some(Ok(())) => live += 1,
            Some(Err(e)) => {
                failed += 1;
                if first.len() < 5 {
                    first.push(e);
                }
            }
            None => break,
        }
        if progress.elapsed() >= Duration::from_secs(2) {
            progress = Instant::now();
            eprintln!(
                "{indent}{live} live, {failed} failed after {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    if failed > 0 {
        return Err((failed, first));
    }
    Ok(Held {
        tasks,
        _abort: abort,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Waits until `counter` has grown by `expected` from `start`, up to
/// `timeout`: how long that took, in ms.
pub async fn wait_for_count(
    counter: &AtomicU64,
    start: u64,
    expected: u64,
    since: Instant,
    timeout: Duration,
) -> Option<f64> {
    while since.elapsed() < timeout {
        if counter.load(Ordering::Relaxed).saturating_sub(start) >= expected {
            return Some(since.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

pub async fn cmd_hold(args: HoldArgs) -> anyhow::Result<ExitCode> {
    let client_limit = check_fd_limit(u64::from(args.streams))?;
    args.server
        .run(args.pid, async |s: &mut Session| {
            hold(&args, s, client_limit).await
        })
        .await
}

async fn hold(
    args: &HoldArgs,
    s: &mut Session,
    client_limit: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let streams = u64::from(args.streams);
    let n = usize::try_from(streams)?;
    let users = usize::try_from(args.users)?;
    let (base, addr, pid) = (s.base.clone(), s.addr, s.pid);
    if pid.is_none() {
        eprintln!(
            "warning: no server pid (give --pid, or --spawn): memory figures will be missing"
        );
    }
    let server_limit = check_server_fd_limit("the server", pid, streams)?;
    let settle = Duration::from_secs_f64(args.settle);

    eprintln!("seeding {users} users, the first with a post");
    let mut seeder =
        Seeder::register(addr, &base, users, args.register_concurrency as usize, 16).await?;
    let posts = seeder.one_post_each(1).await?;
    let post = posts
        .first()
        .ok_or_else(|| anyhow!("no post was created"))?;
    tokio::time::sleep(settle).await;
    let before = pid.and_then(memory);
    if let Some(m) = before {
        eprintln!("server before the streams: VmRSS {} KiB", m.rss_kb);
    }

    // Open the streams.
    let bearers: Vec<Arc<str>> = seeder
        .accounts
        .iter()
        .map(|a| Arc::from(a.bearer()))
        .collect();
    let shared = Arc::new(Shared::default());
    eprintln!(
        "opening {n} streams over {users} users, {} at a time",
        args.open_concurrency
    );
    let opened = open_all(
        n,
        args.open_concurrency as usize,
        "  ",
        |k| {
            let bearer = bearers.get(k % users).cloned().unwrap_or_else(|| "".into());
            let base = base.clone();
            async move { open_live_stream(addr, &base, &bearer).await }
        },
        {
            let shared = shared.clone();
            move |stream| keep_stream(stream, shared.clone())
        },
    )
    .await;
    let open_streams = match opened {
        Ok(h) => h,
        Err((failed, failures)) => {
            let mut msg = format!(
                "{failed} of {n} streams could not be opened; the first errors:\n  {}",
                failures.join("\n  ")
            );
            if failures
                .join(" ")
                .to_ascii_lowercase()
                .contains("too many open files")
            {
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
            bail!("{msg}\n{}", s.log_tail());
        }
    };
    let open_seconds = open_streams.seconds;
    eprintln!(
        "all {n} streams live after {open_seconds:.1} s ({:.0}/s)",
        n as f64 / open_seconds.max(1e-3)
    );
    tokio::time::sleep(settle).await;
    let after = pid.and_then(memory);

    // The sample: user 1 loves user 0's post; every stream of user 0 must
    // get the notification.
    let sample_streams = (0..n).filter(|k| k % users == 0).count() as u64;
    let lover = bearers.get(1).cloned().unwrap_or_else(|| "".into());
    let url = base.join(&format!("/api/posts/{post}/love"));
    let request = url.request("PUT", &[("Authorization", &lover)], None)?;
    let before_sample = shared.notifications.load(Ordering::Relaxed);
    let sent = Instant::now();
    expect_2xx(
        &format!("PUT {url}"),
        fetch(addr, request, SETUP_TIMEOUT).await?,
    )?;
    let sample_latency = wait_for_count(
        &shared.notifications,
        before_sample,
        sample_streams,
        sent,
        SAMPLE_WAIT,
    )
    .await;
    let sample_delivered = shared.notifications.load(Ordering::Relaxed) - before_sample;

    let held = Duration::from_secs_f64(args.hold);
    let mut after_hold = None;
    if !held.is_zero() {
        eprintln!("holding the streams for {} s", held.as_secs_f64());
        tokio::time::sleep(held).await;
        after_hold = pid.and_then(memory);
    }
    drop(open_streams);
    s.check_alive()?;

    let summary = HoldSummary {
        scenario: "sse-hold",
        base_url: base.to_string(),
        server_pid: pid,
        streams,
        users: users as u64,
        seeding: seeder.phases.clone(),
        open_seconds: round1(open_seconds),
        opened_per_sec: (n as f64 / open_seconds.max(1e-3)).round(),
        before,
        after,
        kb_per_stream: kib_per(before, after, n),
        sample_streams,
        sample_delivered,
        sample_latency_ms: sample_latency.map(round1),
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

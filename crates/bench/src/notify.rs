//! `starling-bench notify-latency`: how long a `love` notification takes
//! from the love's response to the author's Server-Sent Events stream, with
//! loves sent open loop at a fixed rate.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::cpu::{CpuProbe, CpuUse};
use crate::http::{AbortOnDrop, Client, HttpUrl, Template, expect_2xx, fetch, percent_encode};
use crate::load::{LoadConfig, histogram};
use crate::report::{Latency, Report, round1};
use crate::seed::{Account, PhaseReport, Seeder};
use crate::spawn::{ServerArgs, Session};
use crate::sse::{EventStream, SseEvent};
use crate::workload::{Executor, Outcome, Schedule, open_loop};
use crate::{EXIT_FAILED, LoadArgs, TOKEN_BUDGET, print_json, seconds};

/// The stream path.
pub const STREAM_PATH: &str = "/api/notifications/stream";
/// How long a stream may take to answer and send its first event.
pub const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the end of the grace period is checked.
const POLL: Duration = Duration::from_millis(20);

pub const NOTIFY_AFTER: &str = "\
Examples:
  cargo build --release -p starling-server -p starling-bench
  # embedded defaults: 1,000 loves/s for 2 s warm-up + 10 s
  target/release/starling-bench notify-latency --spawn target/release/starling
  # PostgreSQL + Redis + RabbitMQ: the spawned server inherits the environment
  psql postgres://postgres@127.0.0.1:5432/postgres -c 'CREATE DATABASE starling_notify'
  STARLING_DATABASE_URL=postgres://postgres@127.0.0.1:5432/starling_notify \\
  STARLING_REDIS_URL=redis://127.0.0.1:6379 STARLING_REDIS_PREFIX=notify: \\
  STARLING_BROKER_URL=amqp://guest:guest@127.0.0.1:5672 STARLING_BROKER_EXCHANGE=notify \\
    target/release/starling-bench notify-latency --spawn target/release/starling

What it does:
  1. Registers --authors + --lovers users (--register-concurrency at a time),
     and each author creates one post.
  2. Opens one notification stream (GET /api/notifications/stream) per author
     and waits for its first unread-count event, so every stream is live.
  3. Sends loves (PUT /api/posts/{id}/love) open loop at --rate per second over
     --connections keep-alive connections for --warmup + --duration seconds,
     each a distinct (lover, post) pair. More lovers are registered if
     authors x lovers is less than the loves needed.
  4. For each love records when its 200 response arrived, and when the
     matching notification event (post id and actor id) arrived on the
     author's stream. Notification latency = arrival - response; an event that
     arrives before the response counts as 0 (and is counted as 'early').
     Waits up to --grace seconds after the last response for missing events.
  5. Reports the achieved love rate, notification latency p50/p90/p99/p99.9/max,
     love request latency, and missing, duplicate and unexpected events.";

#[derive(Args)]
pub struct NotifyArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// Server process id, for its CPU use when it was not spawned
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    server_pid: Option<u32>,

    /// Users with a post and an open notification stream
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    authors: u32,

    /// Users who love the posts (raised when authors x lovers < the loves needed)
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    lovers: u32,

    /// Loves per second, open loop
    #[arg(long, value_name = "PER_SEC", default_value_t = 1000.0, value_parser = crate::social::positive_rate)]
    rate: f64,

    /// Seconds to wait after the last love response for missing notifications
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = seconds)]
    grace: f64,

    /// Concurrent registrations while seeding (each costs the server a password hash)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    register_concurrency: u32,

    #[command(flatten)]
    pub load: LoadArgs,
}

/// Love `k` of `authors * lovers`: author `k % authors`, lover
/// `(k / authors + author) % lovers`. Consecutive loves go to different
/// authors and different lovers, and every (author, lover) pair occurs once.
pub fn pair_of(k: u64, authors: u64, lovers: u64) -> (u64, u64) {
    let a = k % authors;
    let round = k / authors;
    (a, (round + a) % lovers)
}

/// The inverse of [`pair_of`].
pub fn love_of(author: u64, lover: u64, authors: u64, lovers: u64) -> u64 {
    let round = (lover + lovers - author % lovers) % lovers;
    round * authors + author
}

/// When each love was answered and its notification arrived, as
/// nanoseconds after `epoch` plus one (0: not yet).
struct Tracker {
    epoch: Instant,
    authors: u64,
    lovers: u64,
    response: Vec<AtomicU64>,
    arrival: Vec<AtomicU64>,
    /// Post id -> author index; user id -> lover index.
    posts: HashMap<String, u64>,
    lover_ids: HashMap<String, u64>,
    /// Notification events for a love that was already notified.
    duplicates: AtomicU64,
    /// Notification events that match no love of this run.
    unexpected: AtomicU64,
    /// Events whose data could not be read.
    undecodable: AtomicU64,
    notifications: AtomicU64,
    /// Streams that ended before the run did.
    closed: AtomicU64,
    /// Per author: the highest notification id delivered on its stream.
    high: Vec<AtomicU64>,
}

impl Tracker {
    fn stamp(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX - 1)
            + 1
    }

    fn slot(v: &[AtomicU64], k: u64) -> Option<&AtomicU64> {
        usize::try_from(k).ok().and_then(|k| v.get(k))
    }

    fn responded(&self, k: u64, at: Instant) {
        if let Some(s) = Self::slot(&self.response, k) {
            s.store(self.stamp(at), Ordering::Relaxed);
        }
    }

    fn notified(&self, author: u64, data: &str, at: Instant) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
        let Ok(n) = serde_json::from_str::<NotificationData>(data) else {
            self.undecodable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let (Some(high), Ok(id)) = (Self::slot(&self.high, author), n.id.parse::<u64>()) {
            high.fetch_max(id, Ordering::Relaxed);
        }
        let lover = self.lover_ids.get(&n.actor.id).copied();
        let post = n.post.as_ref().and_then(|p| self.posts.get(&p.id)).copied();
        let (Some(lover), Some(post)) = (lover, post) else {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if n.kind != "love" || post != author {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let k = love_of(author, lover, self.authors, self.lovers);
        let Some(slot) = Self::slot(&self.arrival, k) else {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if slot
            .compare_exchange(0, self.stamp(at), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct NotificationData {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    actor: IdOnly,
    post: Option<IdOnly>,
}

/// What a stream task reports once its stream is live (or could not be
/// opened).
pub type Ready = Result<(), String>;

/// Opens a notification stream and waits for its first `unread-count`
/// event (so the server has subscribed it to the live channel).
pub async fn open_live_stream(
    addr: SocketAddr,
    base: &HttpUrl,
    bearer: &str,
) -> anyhow::Result<EventStream> {
    let path = base.join(STREAM_PATH).path;
    let mut stream =
        EventStream::open(addr, &base.authority, &path, bearer, STREAM_OPEN_TIMEOUT).await?;
    let first = tokio::time::timeout(STREAM_OPEN_TIMEOUT, async {
        loop {
            match stream.next_events().await {
                Ok(Some((_, events))) => {
                    if events.iter().any(|e| e.event == "unread-count") {
                        return Ok(());
                    }
                }
                Ok(None) => return Err(anyhow!("the stream ended before its first event")),
                Err(e) => return Err(anyhow!("{e}")),
            }
        }
    })
    .await;
    match first {
        Ok(Ok(())) => Ok(stream),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(anyhow!(
            "no unread-count event within {STREAM_OPEN_TIMEOUT:?} of opening the stream"
        )),
    }
}

async fn author_stream(
    addr: SocketAddr,
    base: HttpUrl,
    bearer: String,
    author: u64,
    tracker: Arc<Tracker>,
    ready: mpsc::Sender<Ready>,
    mut stop: watch::Receiver<bool>,
) {
    let mut stream = match open_live_stream(addr, &base, &bearer).await {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(format!("{e:#}"))).await;
            return;
        }
    };
    let _ = ready.send(Ok(())).await;
    drop(ready);
    loop {
        let next = tokio::select! {
            n = stream.next_events() => n,
            _ = stop.wait_for(|s| *s) => return,
        };
        match next {
            Ok(Some((at, events))) => {
                for SseEvent { event, data, .. } in events {
                    if event == "notification" {
                        tracker.notified(author, &data, at);
                    }
                }
            }
            Ok(None) | Err(_) => {
                tracker.closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// Sends love `k` of the schedule: `PUT` of author `k`'s post as lover
/// `k`'s (see [`pair_of`]), noting when a 2xx answer came.
struct LoveExecutor {
    client: Client,
    authority: String,
    /// `PUT` path per author's post.
    paths: Arc<Vec<String>>,
    /// `Bearer <token>` per lover.
    bearers: Arc<Vec<String>>,
    tracker: Arc<Tracker>,
}

impl Executor for LoveExecutor {
    async fn execute(&mut self, k: u64) -> Outcome {
        let (author, lover) = pair_of(k, self.tracker.authors, self.tracker.lovers);
        let path = usize::try_from(author)
            .ok()
            .and_then(|a| self.paths.get(a))
            .map_or("/", String::as_str);
        let bearer = usize::try_from(lover)
            .ok()
            .and_then(|l| self.bearers.get(l))
            .map_or("", String::as_str);
        let result = match Template::new(
            "PUT",
            &self.authority,
            path,
            &[("Authorization", bearer)],
            None,
        ) {
            Ok(t) => self
                .client
                .status(t.build())
                .await
                .map_err(|e| format!("{e:#}")),
            Err(e) => Err(format!("{e:#}")),
        };
        if let Ok(status) = result
            && (200..300).contains(&status)
        {
            self.tracker.responded(k, Instant::now());
        }
        Outcome {
            op: 0,
            result,
            http_requests: 1,
        }
    }
}

#[derive(Serialize)]
struct NotifySummary {
    scenario: &'static str,
    base_url: String,
    authors: u64,
    lovers: u64,
    streams: u64,
    rate_per_sec: f64,
    connections: usize,
    warmup_s: f64,
    duration_s: f64,
    grace_s: f64,
    seeding: Vec<PhaseReport>,
    /// Loves due in the measured window, and how many were answered 2xx.
    loves_due: u64,
    loves_ok: u64,
    love_errors: u64,
    /// Loves answered 2xx per second, from the window's start to the last
    /// counted answer.
    achieved_loves_per_sec: f64,
    late_starts: u64,
    timer_lag_us: Latency,
    love_request: Report,
    /// Over the loves due in the window that were answered 2xx.
    notifications_matched: u64,
    /// Of those, events that arrived before the love's response (counted as 0).
    early: u64,
    missing: u64,
    /// All notification events received (warm-up included).
    notification_events: u64,
    duplicates: u64,
    unexpected: u64,
    undecodable: u64,
    streams_closed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing_diagnosis: Option<Diagnosis>,
    notification_latency_us: Latency,
    cpu: CpuUse,
}

/// Where the missing notifications are: stored (listed by
/// `GET /api/notifications`) but never sent on the stream, or not stored.
#[derive(Serialize)]
struct Diagnosis {
    /// Missing notifications the author's list has.
    stored: u64,
    /// Of those, how many have a lower id than a notification that was
    /// delivered on the same stream (a stream that skips ids at or below
    /// the highest it has sent would drop them).
    below_delivered_id: u64,
    /// Missing notifications the list does not have either.
    not_stored: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    items: Vec<NotificationData>,
    next_cursor: Option<String>,
}

/// Reads the notification list of every author with a missing notification
/// and classifies the missing ones (see [`Diagnosis`]).
async fn diagnose_missing(
    addr: SocketAddr,
    base: &HttpUrl,
    tracker: &Tracker,
    authors: &[Account],
    lovers: &[Account],
    missing: &[u64],
) -> anyhow::Result<Diagnosis> {
    let mut by_author: HashMap<u64, Vec<u64>> = HashMap::new();
    for &k in missing {
        let (a, l) = pair_of(k, tracker.authors, tracker.lovers);
        by_author.entry(a).or_default().push(l);
    }
    let mut d = Diagnosis {
        stored: 0,
        below_delivered_id: 0,
        not_stored: 0,
    };
    for (a, wanted) in by_author {
        let Some(author) = usize::try_from(a).ok().and_then(|i| authors.get(i)) else {
            continue;
        };
        // Actor id -> notification id, from every page of the list.
        let mut listed: HashMap<String, u64> = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/api/notifications?limit=100".to_owned();
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(&percent_encode(c));
            }
            let url = base.join(&path);
            let request = url.request("GET", &[("Authorization", &author.bearer())], None)?;
            let response = fetch(addr, request, STREAM_OPEN_TIMEOUT)
                .await
                .with_context(|| format!("GET {url}"))?;
            let body = expect_2xx(&format!("GET {url}"), response)?;
            let page: ListPage = serde_json::from_slice(&body)
                .with_context(|| format!("GET {url}: not a notification page"))?;
            for n in page.items {
                if n.kind == "love"
                    && let Ok(id) = n.id.parse::<u64>()
                {
                    listed.insert(n.actor.id, id);
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let high = Tracker::slot(&tracker.high, a).map_or(0, |h| h.load(Ordering::Relaxed));
        for l in wanted {
            let id = usize::try_from(l)
                .ok()
                .and_then(|i| lovers.get(i))
                .and_then(|lover| listed.get(&lover.id));
            match id {
                Some(&id) => {
                    d.stored += 1;
                    if id < high {
                        d.below_delivered_id += 1;
                    }
                }
                None => d.not_stored += 1,
            }
        }
    }
    Ok(d)
}

pub async fn cmd_notify(args: NotifyArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.load.config();
    let planned = cfg.warmup + cfg.duration + Duration::from_secs_f64(args.grace) * 2;
    if planned + Duration::from_secs(120) > TOKEN_BUDGET {
        bail!("the run must fit in an access token's life; lower --duration");
    }
    args.server
        .run(args.server_pid, async |s: &mut Session| {
            notify(&args, s).await
        })
        .await
}

async fn notify(args: &NotifyArgs, s: &mut Session) -> anyhow::Result<ExitCode> {
    let cfg = args.load.config();
    let (base, addr, server_pid) = (&s.base.clone(), s.addr, s.pid);
    let schedule = Schedule::new(args.rate, cfg.warmup, cfg.duration);
    let authors = u64::from(args.authors);
    let needed = schedule.total();
    let mut lovers = u64::from(args.lovers);
    if authors * lovers < needed {
        lovers = needed.div_ceil(authors);
        eprintln!(
            "{} authors x {} lovers = {} loves, fewer than the {needed} needed: registering {lovers} lovers",
            authors,
            args.lovers,
            authors * u64::from(args.lovers)
        );
    }
    let a = usize::try_from(authors)?;
    let l = usize::try_from(lovers)?;
    eprintln!("seeding {a} authors (one post each) and {l} lovers");
    let mut seeder =
        Seeder::register(addr, base, a + l, args.register_concurrency as usize, 16).await?;
    let posts = seeder.one_post_each(a).await?;
    let (author_accounts, lover_accounts) = seeder.accounts.split_at(a);
    let tracker = Arc::new(Tracker {
        epoch: Instant::now(),
        authors,
        lovers,
        response: (0..needed).map(|_| AtomicU64::new(0)).collect(),
        arrival: (0..needed).map(|_| AtomicU64::new(0)).collect(),
        posts: posts
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i as u64))
            .collect(),
        lover_ids: lover_accounts
            .iter()
            .enumerate()
            .map(|(i, acc)| (acc.id.clone(), i as u64))
            .collect(),
        duplicates: AtomicU64::new(0),
        unexpected: AtomicU64::new(0),
        undecodable: AtomicU64::new(0),
        notifications: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        high: (0..authors).map(|_| AtomicU64::new(0)).collect(),
    });

    // One live stream per author.
    eprintln!("opening {a} notification streams");
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::channel::<Ready>(a.max(1));
    let mut streams = Vec::with_capacity(a);
    for (i, acc) in author_accounts.iter().enumerate() {
        streams.push(tokio::spawn(author_stream(
            addr,
            base.clone(),
            acc.bearer(),
            i as u64,
            tracker.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        )));
    }
    drop(ready_tx);
    let _abort = AbortOnDrop(streams.iter().map(|t| t.abort_handle()).collect());
    for _ in 0..a {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => bail!("a notification stream could not be opened: {e}"),
            None => bail!("the stream tasks ended before their streams were live"),
        }
    }
    eprintln!("all {a} streams live");

    // Loves, open loop.
    let connections = cfg.connections;
    let prefix = base.prefix();
    let paths: Arc<Vec<String>> = Arc::new(
        posts
            .iter()
            .map(|p| format!("{prefix}/api/posts/{p}/love"))
            .collect(),
    );
    let bearers: Arc<Vec<String>> = Arc::new(lover_accounts.iter().map(Account::bearer).collect());
    let grace = Duration::from_secs_f64(args.grace);
    eprintln!(
        "loving at {}/s over {connections} connections: {} s warm-up + {} s measured ({} loves)",
        args.rate,
        cfg.warmup.as_secs_f64(),
        cfg.duration.as_secs_f64(),
        schedule.total()
    );
    let lovers_of = (0..connections).map(|_| LoveExecutor {
        client: Client::new(addr),
        authority: base.authority.clone(),
        paths: paths.clone(),
        bearers: bearers.clone(),
        tracker: tracker.clone(),
    });
    let window_start = Instant::now() + cfg.warmup;
    let probe = CpuProbe::start(server_pid);
    let result = open_loop(lovers_of.collect(), 1, schedule, cfg.duration, grace).await;
    let cpu = probe.finish();
    let (m, late_starts, timer_lag, last_response) = (
        result.overall,
        result.late_starts,
        result.timer_lag,
        result.last_done,
    );

    // Wait for the notifications still on their way.
    let counted: Vec<u64> = (0..schedule.total())
        .filter(|&k| schedule.is_counted(k))
        .collect();
    let waiting = |t: &Tracker| {
        counted.iter().any(|&k| {
            let r = Tracker::slot(&t.response, k).map_or(0, |s| s.load(Ordering::Relaxed));
            let a = Tracker::slot(&t.arrival, k).map_or(0, |s| s.load(Ordering::Relaxed));
            r != 0 && a == 0
        })
    };
    let grace_end = last_response.unwrap_or_else(Instant::now) + grace;
    while waiting(&tracker) && Instant::now() < grace_end {
        tokio::time::sleep(POLL).await;
    }
    let _ = stop_tx.send(true);
    s.check_alive()?;

    // Results.
    let mut latency = histogram();
    let (mut ok, mut matched, mut early, mut missing) = (0u64, 0u64, 0u64, 0u64);
    let mut missing_loves = Vec::new();
    for &k in &counted {
        let r = Tracker::slot(&tracker.response, k).map_or(0, |s| s.load(Ordering::Relaxed));
        let a = Tracker::slot(&tracker.arrival, k).map_or(0, |s| s.load(Ordering::Relaxed));
        if r == 0 {
            continue;
        }
        ok += 1;
        if a == 0 {
            missing += 1;
            missing_loves.push(k);
            continue;
        }
        matched += 1;
        if a < r {
            early += 1;
        }
        latency.saturating_record(a.saturating_sub(r));
    }
    let diagnosis = if missing_loves.is_empty() {
        None
    } else {
        eprintln!(
            "{missing} notifications missing: looking them up in the authors' notification lists"
        );
        Some(
            diagnose_missing(
                addr,
                base,
                &tracker,
                author_accounts,
                lover_accounts,
                &missing_loves,
            )
            .await?,
        )
    };
    let achieved = match last_response {
        Some(t) if t > window_start => ok as f64 / (t - window_start).as_secs_f64(),
        _ => 0.0,
    };
    let run_cfg = LoadConfig { connections, ..cfg };
    let love_request = Report::named(
        "PUT /api/posts/{id}/love",
        "PUT",
        &base.join("/api/posts/{id}/love").to_string(),
        run_cfg,
        usize::from(args.load.threads),
        None,
        &m,
    );
    let summary = NotifySummary {
        scenario: "notify-latency",
        base_url: base.to_string(),
        authors,
        lovers,
        streams: authors,
        rate_per_sec: args.rate,
        connections,
        warmup_s: cfg.warmup.as_secs_f64(),
        duration_s: cfg.duration.as_secs_f64(),
        grace_s: args.grace,
        seeding: seeder.phases.clone(),
        loves_due: schedule.counted(),
        loves_ok: ok,
        love_errors: m.errors(),
        achieved_loves_per_sec: round1(achieved),
        late_starts,
        timer_lag_us: Latency::of(&timer_lag),
        love_request,
        notifications_matched: matched,
        early,
        missing,
        notification_events: tracker.notifications.load(Ordering::Relaxed),
        duplicates: tracker.duplicates.load(Ordering::Relaxed),
        unexpected: tracker.unexpected.load(Ordering::Relaxed),
        undecodable: tracker.undecodable.load(Ordering::Relaxed),
        streams_closed: tracker.closed.load(Ordering::Relaxed),
        missing_diagnosis: diagnosis,
        notification_latency_us: Latency::of(&latency),
        cpu,
    };
    if args.load.json {
        print_json(&summary)?;
    } else {
        print_notify(&summary);
    }
    let problems = summary.love_errors
        + summary.missing
        + summary.duplicates
        + summary.unexpected
        + summary.undecodable
        + summary.streams_closed;
    if problems > 0 && !args.load.allow_errors {
        eprintln!(
            "FAILED: {} love errors, {} missing, {} duplicate, {} unexpected and {} undecodable notifications, {} streams closed (use --allow-errors to accept)",
            summary.love_errors,
            summary.missing,
            summary.duplicates,
            summary.unexpected,
            summary.undecodable,
            summary.streams_closed
        );
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn print_notify(s: &NotifySummary) {
    println!(
        "notify-latency at {}: {} authors (one post and one stream each), {} lovers",
        s.base_url, s.authors, s.lovers
    );
    for p in &s.seeding {
        println!("  {}", p.line());
    }
    println!(
        "loves: {}/s due for {} s warm-up + {} s measured over {} connections",
        s.rate_per_sec, s.warmup_s, s.duration_s, s.connections
    );
    println!(
        "  {} due in the window, {} answered 2xx, {} errors; achieved {:.1} loves/s; {} started late (all connections busy)",
        s.loves_due, s.loves_ok, s.love_errors, s.achieved_loves_per_sec, s.late_starts
    );
    let r = &s.love_request.latency_us;
    println!(
        "  love request latency: p50 {}, p90 {}, p99 {}, p99.9 {}, max {}",
        ms(r.p50),
        ms(r.p90),
        ms(r.p99),
        ms(r.p999),
        ms(r.max)
    );
    for (msg, n) in &s.love_request.error_messages {
        println!("  love error x{n}: {msg}");
    }
    if s.love_request.non_2xx > 0 {
        println!("  love status codes: {:?}", s.love_request.status_codes);
    }
    let n = &s.notification_latency_us;
    println!(
        "notifications (love response -> event on the author's stream), {} of {} answered loves:",
        s.notifications_matched, s.loves_ok
    );
    println!(
        "  p50 {}, p90 {}, p99 {}, p99.9 {}, max {} (mean {})",
        ms(n.p50),
        ms(n.p90),
        ms(n.p99),
        ms(n.p999),
        ms(n.max),
        ms(n.mean)
    );
    println!(
        "  {} arrived before the love's response (counted as 0 ms); {} missing after {} s grace",
        s.early, s.missing, s.grace_s
    );
    if let Some(d) = &s.missing_diagnosis {
        println!(
            "  of the missing: {} are in the author's notification list ({} of them with a lower id than one already delivered on that stream), {} are not",
            d.stored, d.below_delivered_id, d.not_stored
        );
    }
    println!(
        "  events: {} notifications received in all, {} duplicates, {} unexpected, {} undecodable; {} streams closed early",
        s.notification_events, s.duplicates, s.unexpected, s.undecodable, s.streams_closed
    );
    println!(
        "CPU during the loves (percent of one core): {}",
        s.cpu.summary()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_occurs_once() {
        for (authors, lovers) in [(100, 100), (3, 7), (7, 3), (1, 5), (5, 1)] {
            let mut seen = std::collections::HashSet::new();
            for k in 0..authors * lovers {
                let (a, l) = pair_of(k, authors, lovers);
                assert!(a < authors && l < lovers);
                assert!(seen.insert((a, l)), "({a}, {l}) twice");
                assert_eq!(love_of(a, l, authors, lovers), k);
            }
        }
        // Consecutive loves go to different authors and lovers.
        let (a0, l0) = pair_of(41, 100, 100);
        let (a1, l1) = pair_of(42, 100, 100);
        assert!(a0 != a1 && l0 != l1);
    }

    #[test]
    fn matches_notifications_to_loves() {
        let t = Tracker {
            epoch: Instant::now(),
            authors: 2,
            lovers: 2,
            response: (0..4).map(|_| AtomicU64::new(0)).collect(),
            arrival: (0..4).map(|_| AtomicU64::new(0)).collect(),
            posts: [("p0".to_owned(), 0), ("p1".to_owned(), 1)].into(),
            lover_ids: [("u0".to_owned(), 0), ("u1".to_owned(), 1)].into(),
            duplicates: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
            notifications: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            high: (0..2).map(|_| AtomicU64::new(0)).collect(),
        };
        let data = r#"{"id":"9","type":"love","actor":{"id":"u1","username":"x"},
            "post":{"id":"p0","excerpt":"e"},"createdAt":"2026-01-01T00:00:00Z","read":false}"#;
        let at = t.epoch + Duration::from_millis(3);
        t.notified(0, data, at);
        let k = love_of(0, 1, 2, 2);
        assert_eq!(t.arrival[k as usize].load(Ordering::Relaxed), 3_000_001);
        t.notified(0, data, at);
        assert_eq!(t.duplicates.load(Ordering::Relaxed), 1);
        // On the wrong author's stream, or from a stranger: unexpected.
        t.notified(1, data, at);
        t.notified(0, &data.replace("u1", "u9"), at);
        assert_eq!(t.unexpected.load(Ordering::Relaxed), 2);
        t.notified(0, "not json", at);
        assert_eq!(t.undecodable.load(Ordering::Relaxed), 1);
        assert_eq!(t.notifications.load(Ordering::Relaxed), 5);
    }
}

//! The social-network request mix (after DeathStarBench's socialNetwork
//! workload) and the two ways of driving it: closed loop (every connection
//! sends its next request as soon as the previous one is answered) and open
//! loop (requests are due at a fixed rate, whatever the server does, and
//! latency counts from when a request was due).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::bail;
use bytes::Bytes;
use rand::Rng as _;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde::Deserialize;
use tokio::time::Instant;

use crate::http::{Client, HttpUrl, Template, percent_encode};
use crate::load::{ConnStats, Histogram, Measurement, histogram, join_all, merge, record};

/// The API's largest page (`limit` is 1-100).
pub const PAGE_MAX: u32 = 100;
/// Characters of composed text (before the mentions).
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The operations of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    HomeFeed,
    UserTimeline,
    Compose,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::HomeFeed, Op::UserTimeline, Op::Compose];

    pub fn index(self) -> usize {
        match self {
            Op::HomeFeed => 0,
            Op::UserTimeline => 1,
            Op::Compose => 2,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Op::HomeFeed => "home feed",
            Op::UserTimeline => "user timeline",
            Op::Compose => "compose",
        }
    }

    pub fn request(self) -> &'static str {
        match self {
            Op::HomeFeed => "GET /api/feed",
            Op::UserTimeline => "GET /api/users/{id}/posts",
            Op::Compose => "POST /api/posts",
        }
    }
}

/// Relative weights of home-feed reads, user-timeline reads and composes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub weights: [u32; 3],
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            weights: [60, 30, 10],
        }
    }
}

impl Mix {
    /// `FEED,TIMELINE,COMPOSE`, e.g. `60,30,10`.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
        let [a, b, c] = parts.as_slice() else {
            bail!("--mix {raw:?}: expected three weights FEED,TIMELINE,COMPOSE such as 60,30,10");
        };
        let mut weights = [0u32; 3];
        for (w, p) in weights.iter_mut().zip([a, b, c]) {
            *w = p
                .parse()
                .map_err(|_| anyhow::anyhow!("--mix {raw:?}: {p:?} is not a whole number"))?;
        }
        if weights.iter().map(|&w| u64::from(w)).sum::<u64>() == 0 {
            bail!("--mix {raw:?}: at least one weight must be above 0");
        }
        Ok(Self { weights })
    }

    pub fn percent(&self, op: Op) -> f64 {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let w = self.weights.get(op.index()).copied().unwrap_or(0);
        if total == 0 {
            0.0
        } else {
            f64::from(w) / total as f64 * 100.0
        }
    }

    pub fn pick(&self, rng: &mut StdRng) -> Op {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return Op::HomeFeed;
        }
        let mut x = rng.random_range(0..total);
        for op in Op::ALL {
            let w = u64::from(self.weights.get(op.index()).copied().unwrap_or(0));
            if x < w {
                return op;
            }
            x -= w;
        }
        Op::HomeFeed
    }
}

/// How the mix reads home feeds and user timelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedReads {
    /// DeathStarBench's reads: a home-feed read takes `feed_count` posts
    /// after a random offset of 0..=`max_offset` (see [`feed_page_limits`]);
    /// a user-timeline read is the first page.
    Offset,
    /// The app's reads: every home-feed and user-timeline read is the first
    /// page, and one in `next_page_one_in` also follows `nextCursor` to the
    /// second page (one operation of two requests).
    FirstPage { next_page_one_in: u32 },
}

impl FeedReads {
    /// The app reads a second page about once in ten reads.
    pub const FIRST_PAGE: FeedReads = FeedReads::FirstPage {
        next_page_one_in: 10,
    };

    /// `offset` or `first-page`, for reports.
    pub fn name(self) -> &'static str {
        match self {
            FeedReads::Offset => "offset",
            FeedReads::FirstPage { .. } => "first-page",
        }
    }
}

/// What the mix asks of the server.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    pub mix: Mix,
    pub feed_reads: FeedReads,
    /// Home-feed reads skip a uniformly random 0..=max_offset posts...
    pub max_offset: u32,
    /// ...and then read this many.
    pub feed_count: u32,
    /// Posts per user-timeline read (the first page).
    pub timeline_limit: u32,
    /// Random characters per composed post, before the mentions.
    pub text_len: usize,
    /// Composed posts mention between this many...
    pub mentions_min: u32,
    /// ...and this many random seeded users.
    pub mentions_max: u32,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            mix: Mix::default(),
            feed_reads: FeedReads::Offset,
            max_offset: 100,
            feed_count: 10,
            timeline_limit: 10,
            text_len: 256,
            mentions_min: 1,
            mentions_max: 6,
        }
    }
}

/// One planned operation, by user index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `next_page` only with [`FeedReads::FirstPage`] (`offset` is then 0).
    HomeFeed {
        actor: usize,
        offset: u32,
        next_page: bool,
    },
    UserTimeline {
        actor: usize,
        author: usize,
        next_page: bool,
    },
    Compose {
        actor: usize,
        text: String,
    },
}

impl Action {
    pub fn op(&self) -> Op {
        match self {
            Action::HomeFeed { .. } => Op::HomeFeed,
            Action::UserTimeline { .. } => Op::UserTimeline,
            Action::Compose { .. } => Op::Compose,
        }
    }
}

/// `len` random letters and digits (so the text never contains a mention
/// or a tag by accident).
pub fn random_text(rng: &mut StdRng, len: usize, out: &mut String) {
    out.reserve(len);
    for _ in 0..len {
        out.push(char::from(ALNUM.choose(rng).copied().unwrap_or(b'x')));
    }
}

/// Uniform in `0..n` (0 when `n` is 0).
pub fn index(rng: &mut StdRng, n: usize) -> usize {
    if n == 0 { 0 } else { rng.random_range(0..n) }
}

impl WorkloadConfig {
    /// The next operation: a uniformly random acting user, then the parts of
    /// the chosen operation. With [`FeedReads::Offset`] the random draws are
    /// the same as before first-page reads existed, so a seed plans the same
    /// operations it always did.
    pub fn plan(&self, rng: &mut StdRng, usernames: &[String]) -> Action {
        let users = usernames.len();
        let op = self.mix.pick(rng);
        let actor = index(rng, users);
        match op {
            Op::HomeFeed => match self.feed_reads {
                FeedReads::Offset => Action::HomeFeed {
                    actor,
                    offset: rng.random_range(0..=self.max_offset),
                    next_page: false,
                },
                FeedReads::FirstPage { next_page_one_in } => Action::HomeFeed {
                    actor,
                    offset: 0,
                    next_page: one_in(rng, next_page_one_in),
                },
            },
            Op::UserTimeline => {
                let author = index(rng, users);
                let next_page = match self.feed_reads {
                    FeedReads::Offset => false,
                    FeedReads::FirstPage { next_page_one_in } => one_in(rng, next_page_one_in),
                };
                Action::UserTimeline {
                    actor,
                    author,
                    next_page,
                }
            }
            Op::Compose => {
                let mut text = String::with_capacity(self.text_len + 6 * 32);
                random_text(rng, self.text_len, &mut text);
                let n =
                    rng.random_range(self.mentions_min..=self.mentions_max.max(self.mentions_min));
                for _ in 0..n {
                    if let Some(name) = usernames.choose(rng) {
                        text.push_str(" @");
                        text.push_str(name);
                    }
                }
                Action::Compose { actor, text }
            }
        }
    }
}

/// True once in `n` draws on average (never for `n == 0`).
fn one_in(rng: &mut StdRng, n: u32) -> bool {
    n > 0 && rng.random_ratio(1, n)
}

/// The page limits of a first-page read: one page of `count`, or two when
/// the read goes on to the next page.
pub fn first_page_limits(count: u32, next_page: bool) -> Vec<u32> {
    if next_page {
        vec![count, count]
    } else {
        vec![count]
    }
}

/// The page limits of a home-feed read of `count` posts after skipping
/// `offset`: the API has cursors, not offsets, so the read asks for the
/// first `offset + count` posts (in pages of at most `page_max`, following
/// `nextCursor`) and keeps the last `count`. The server does the same work as
/// for an offset query of the same depth, in as few requests as the page
/// limit allows.
pub fn feed_page_limits(offset: u32, count: u32, page_max: u32) -> Vec<u32> {
    let mut left = offset.saturating_add(count);
    let page_max = page_max.max(1);
    let mut pages = Vec::with_capacity(2);
    while left > 0 {
        let n = left.min(page_max);
        pages.push(n);
        left -= n;
    }
    pages
}

/// What one operation came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The kind of operation, an index below the loop's `kinds`.
    pub op: usize,
    /// The final status (the first one outside 2xx if any), or why no
    /// response came.
    pub result: Result<u16, String>,
    /// HTTP requests the operation took (a deep feed read takes two).
    pub http_requests: u32,
}

/// Carries out operations, one at a time (one per connection).
pub trait Executor: Send + 'static {
    /// Operation `i`: the open loop's schedule index, or a count of the
    /// connection's operations in the closed loop.
    fn execute(&mut self, i: u64) -> impl Future<Output = Outcome> + Send;
}

/// The seeded users, as the workload addresses them.
pub struct Users {
    pub ids: Vec<String>,
    pub usernames: Vec<String>,
    /// `Bearer <accessToken>` per user.
    pub bearer: Vec<String>,
}

/// Runs the mix against a Starling server over one keep-alive connection.
pub struct HttpExecutor {
    client: Client,
    authority: String,
    /// Path prefix of the base URL ("" for a server at the root).
    prefix: String,
    users: Arc<Users>,
    cfg: Arc<WorkloadConfig>,
    rng: StdRng,
    /// The body of the last response read whole.
    body: Bytes,
}

#[derive(Deserialize)]
struct PageCursor {
    #[serde(rename = "nextCursor")]
    next_cursor: Option<String>,
}

impl HttpExecutor {
    pub fn new(
        addr: SocketAddr,
        base: &HttpUrl,
        users: Arc<Users>,
        cfg: Arc<WorkloadConfig>,
        rng: StdRng,
    ) -> Self {
        Self {
            client: Client::new(addr),
            authority: base.authority.clone(),
            prefix: base.prefix().to_owned(),
            users,
            cfg,
            rng,
            body: Bytes::new(),
        }
    }

    /// Sends a request as `actor` to `path` (after the prefix); the body is
    /// kept in `self.body` when `collect`.
    async fn send(
        &mut self,
        method: &str,
        actor: usize,
        path: &str,
        body: Option<Bytes>,
        collect: bool,
    ) -> Result<u16, String> {
        let bearer = self.users.bearer.get(actor).map_or("", String::as_str);
        let path = format!("{}{path}", self.prefix);
        let request = Template::new(
            method,
            &self.authority,
            &path,
            &[("Authorization", bearer)],
            body,
        )
        .map_err(|e| format!("{e:#}"))?
        .build();
        let result = if collect {
            self.client.send(request).await.map(|(status, body)| {
                self.body = body;
                status
            })
        } else {
            self.client.status(request).await
        };
        result.map_err(|e| format!("{e:#}"))
    }

    /// Reads pages of the home feed (`author` None) or of `author`'s posts:
    /// the first of `pages[0]` posts, then each next one of `pages[k]` posts
    /// through the previous page's `nextCursor` (stopping early when there is
    /// none). Returns the last status and the requests sent.
    async fn read_pages(
        &mut self,
        actor: usize,
        author: Option<usize>,
        pages: &[u32],
    ) -> (Result<u16, String>, u32) {
        let mut cursor: Option<String> = None;
        let mut sent = 0;
        let mut status = Ok(200);
        for (k, limit) in pages.iter().enumerate() {
            let last = k + 1 == pages.len();
            let mut path = match author {
                None => format!("/api/feed?limit={limit}"),
                Some(author) => format!(
                    "/api/users/{}/posts?limit={limit}",
                    self.users.ids.get(author).map_or("0", String::as_str)
                ),
            };
            if let Some(c) = cursor.take() {
                path.push_str("&cursor=");
                path.push_str(&percent_encode(&c));
            }
            sent += 1;
            status = self.send("GET", actor, &path, None, !last).await;
            match status {
                Ok(code) if (200..300).contains(&code) => {}
                _ => return (status, sent),
            }
            if !last {
                match serde_json::from_slice::<PageCursor>(&self.body) {
                    Ok(PageCursor {
                        next_cursor: Some(c),
                    }) => cursor = Some(c),
                    // A feed shorter than the offset: nothing more to read.
                    Ok(PageCursor { next_cursor: None }) => break,
                    Err(e) => return (Err(format!("feed page is not a page: {e}")), sent),
                }
            }
        }
        (status, sent)
    }

    async fn compose(&mut self, actor: usize, text: &str) -> Result<u16, String> {
        let body = serde_json::json!({ "text": text }).to_string();
        self.send("POST", actor, "/api/posts", Some(body.into()), false)
            .await
    }
}

impl Executor for HttpExecutor {
    async fn execute(&mut self, _: u64) -> Outcome {
        let action = self.cfg.plan(&mut self.rng, &self.users.usernames);
        let op = action.op().index();
        let (result, http_requests) = match action {
            Action::HomeFeed {
                actor,
                offset,
                next_page,
            } => {
                let pages = match self.cfg.feed_reads {
                    FeedReads::Offset => feed_page_limits(offset, self.cfg.feed_count, PAGE_MAX),
                    FeedReads::FirstPage { .. } => {
                        first_page_limits(self.cfg.feed_count, next_page)
                    }
                };
                self.read_pages(actor, None, &pages).await
            }
            Action::UserTimeline {
                actor,
                author,
                next_page,
            } => {
                let pages = first_page_limits(self.cfg.timeline_limit, next_page);
                self.read_pages(actor, Some(author), &pages).await
            }
            Action::Compose { actor, text } => (self.compose(actor, &text).await, 1),
        };
        Outcome {
            op,
            result,
            http_requests,
        }
    }
}

/// When the requests of an open-loop run are due: request `i` at
/// `i / rate` seconds after the start. Those due in the warm-up are sent but
/// not counted; those due in the measured window are counted.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    rate: f64,
    first_counted: u64,
    end: u64,
}

/// `ceil(x)`, forgiving the rounding error of a product such as 0.1 * 30.
fn ceil_count(x: f64) -> u64 {
    (x - 1e-9).ceil().max(0.0) as u64
}

impl Schedule {
    pub fn new(rate: f64, warmup: Duration, duration: Duration) -> Self {
        let first_counted = ceil_count(warmup.as_secs_f64() * rate);
        let end = ceil_count((warmup + duration).as_secs_f64() * rate);
        Self {
            rate,
            first_counted,
            end,
        }
    }

    /// When request `i` is due, after the start.
    pub fn due(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// Requests due before the measured window closes (all of them are sent).
    pub fn total(&self) -> u64 {
        self.end
    }

    /// Whether request `i` is due inside the measured window.
    pub fn is_counted(&self, i: u64) -> bool {
        (self.first_counted..self.end).contains(&i)
    }

    /// Requests due inside the measured window.
    pub fn counted(&self) -> u64 {
        self.end - self.first_counted
    }
}

/// One connection's counters.
pub struct MixStats {
    /// Per kind of operation.
    ops: Vec<ConnStats>,
    /// Operations counted (answered or failed).
    done: u64,
    http_requests: u64,
    /// Open loop: counted requests sent after they were due because every
    /// connection was busy.
    late_starts: u64,
    /// Open loop: how late the timer woke for requests whose connection was
    /// free when they were due (ns).
    timer_lag: Histogram,
    /// When the last counted operation ended.
    last_done: Option<Instant>,
}

impl MixStats {
    fn new(kinds: usize) -> Self {
        Self {
            ops: (0..kinds).map(|_| ConnStats::default()).collect(),
            done: 0,
            http_requests: 0,
            late_starts: 0,
            timer_lag: histogram(),
            last_done: None,
        }
    }

    fn record(&mut self, out: Outcome, latency: Duration) {
        self.done += 1;
        self.http_requests += u64::from(out.http_requests);
        self.last_done = Some(Instant::now());
        if let Some(stats) = self.ops.get_mut(out.op) {
            stats.outcome(out.result, latency);
        }
    }
}

/// What one run of the mix saw.
pub struct MixResult {
    /// Per kind of operation.
    pub ops: Vec<Measurement>,
    pub overall: Measurement,
    pub http_requests: u64,
    /// Open loop only: see [`MixStats`].
    pub late_starts: u64,
    pub timer_lag: Histogram,
    /// Open loop only: counted requests with no answer by the drain deadline
    /// (also counted as errors in `overall`).
    pub unfinished: u64,
    /// Open loop only: requests due in the measured window.
    pub due: Option<u64>,
    /// When the last counted operation ended.
    pub last_done: Option<Instant>,
}

fn combine(
    stats: Vec<MixStats>,
    failed: Vec<String>,
    kinds: usize,
    duration: Duration,
) -> (MixResult, u64) {
    let mut per_op: Vec<Vec<ConnStats>> = (0..kinds).map(|_| Vec::new()).collect();
    let mut http_requests = 0;
    let mut late_starts = 0;
    let mut done = 0;
    let mut last_done = None;
    let mut timer_lag = histogram();
    for s in stats {
        for (all, one) in per_op.iter_mut().zip(s.ops) {
            all.push(one);
        }
        http_requests += s.http_requests;
        late_starts += s.late_starts;
        done += s.done;
        last_done = last_done.max(s.last_done);
        merge(&mut timer_lag, &s.timer_lag);
    }
    let ops: Vec<Measurement> = per_op
        .into_iter()
        .map(|s| Measurement::merge(s, duration))
        .collect();
    let mut overall = Measurement::merge(Vec::new(), duration);
    for m in &ops {
        overall.absorb(m);
    }
    for msg in failed {
        overall.add_errors(msg, 1);
    }
    (
        MixResult {
            ops,
            overall,
            http_requests,
            late_starts,
            timer_lag,
            unfinished: 0,
            due: None,
            last_done,
        },
        done,
    )
}

/// Closed loop: each executor (one per connection) runs operations back to
/// back for `warmup` (not counted) and then `duration`; an operation counts if
/// it completes inside the measured window, and its latency runs from when it
/// was started.
pub async fn closed_loop<E: Executor>(
    executors: Vec<E>,
    kinds: usize,
    warmup: Duration,
    duration: Duration,
) -> MixResult {
    let start = Instant::now();
    let measure_start = start + warmup;
    let end = measure_start + duration;
    let tasks: Vec<_> = executors
        .into_iter()
        .map(|e| tokio::spawn(closed_conn(e, kinds, measure_start, end)))
        .collect();
    let (stats, failed) = join_all(tasks).await;
    combine(stats, failed, kinds, duration).0
}

async fn closed_conn<E: Executor>(
    mut exec: E,
    kinds: usize,
    measure_start: Instant,
    end: Instant,
) -> MixStats {
    let mut stats = MixStats::new(kinds);
    {
        let work = closed_drive(&mut exec, measure_start, &mut stats);
        tokio::select! {
            biased;
            () = work => {}
            () = tokio::time::sleep_until(end) => {}
        }
    }
    stats
}

async fn closed_drive<E: Executor>(exec: &mut E, measure_start: Instant, stats: &mut MixStats) {
    for i in 0.. {
        let t0 = Instant::now();
        let out = exec.execute(i).await;
        let t1 = Instant::now();
        if t1 >= measure_start {
            stats.record(out, t1 - t0);
        }
    }
}

/// Open loop: operations are due at `rate` per second from the start; each
/// free connection takes the next due operation and sends it when it is due.
/// Latency runs from when the operation was due if it could not start on time
/// (every connection busy: the wait is part of what a client would see, the
/// coordinated-omission correction), and from when the timer fired otherwise
/// (the tool's timer has millisecond granularity; that lag is reported
/// separately, not charged to the server). Operations due inside the measured
/// window count; those still unanswered `drain` after the window closes are
/// errors.
pub async fn open_loop<E: Executor>(
    executors: Vec<E>,
    kinds: usize,
    schedule: Schedule,
    duration: Duration,
    drain: Duration,
) -> MixResult {
    let start = Instant::now();
    let window_end = start + schedule.due(schedule.total());
    let deadline = window_end.max(Instant::now()) + drain;
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = executors
        .into_iter()
        .map(|e| tokio::spawn(open_conn(e, kinds, schedule, start, next.clone(), deadline)))
        .collect();
    let (stats, failed) = join_all(tasks).await;
    let (mut result, done) = combine(stats, failed, kinds, duration);
    let unfinished = schedule.counted().saturating_sub(done);
    result.overall.add_errors(
        format!(
            "not answered within {} s after the measured window (open loop)",
            drain.as_secs_f64()
        ),
        unfinished,
    );
    result.unfinished = unfinished;
    result.due = Some(schedule.counted());
    result
}

async fn open_conn<E: Executor>(
    mut exec: E,
    kinds: usize,
    schedule: Schedule,
    start: Instant,
    next: Arc<AtomicU64>,
    deadline: Instant,
) -> MixStats {
    let mut stats = MixStats::new(kinds);
    {
        let work = open_drive(&mut exec, schedule, start, &next, &mut stats);
        tokio::select! {
            biased;
            () = work => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
    stats
}

async fn open_drive<E: Executor>(
    exec: &mut E,
    schedule: Schedule,
    start: Instant,
    next: &AtomicU64,
    stats: &mut MixStats,
) {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= schedule.total() {
            return;
        }
        let due = start + schedule.due(i);
        let counted = schedule.is_counted(i);
        let origin = if Instant::now() > due {
            if counted {
                stats.late_starts += 1;
            }
            due
        } else {
            tokio::time::sleep_until(due).await;
            let woke = Instant::now();
            if counted {
                record(&mut stats.timer_lag, woke.saturating_duration_since(due));
            }
            woke
        };
        let out = exec.execute(i).await;
        if counted {
            stats.record(out, origin.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("user_{i}")).collect()
    }

    #[test]
    fn mix_proportions_follow_the_weights() {
        let cfg = WorkloadConfig::default();
        let users = names(962);
        let mut rng = crate::rng(42, 0);
        let n = 100_000;
        let mut counts = [0usize; 3];
        let mut offsets = [0usize; 101];
        let mut mention_counts = [0usize; 7];
        for _ in 0..n {
            let a = cfg.plan(&mut rng, &users);
            counts[a.op().index()] += 1;
            match a {
                Action::HomeFeed {
                    actor,
                    offset,
                    next_page,
                } => {
                    assert!(actor < users.len() && !next_page);
                    offsets[offset as usize] += 1;
                }
                Action::UserTimeline {
                    actor,
                    author,
                    next_page,
                } => {
                    assert!(actor < users.len() && author < users.len() && !next_page);
                }
                Action::Compose { actor, text } => {
                    assert!(actor < users.len());
                    let (body, rest) = text.split_at(256);
                    assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
                    let mentions = rest.matches(" @user_").count();
                    assert!((1..=6).contains(&mentions), "{text}");
                    mention_counts[mentions] += 1;
                }
            }
        }
        let share = |i: usize| counts[i] as f64 / n as f64 * 100.0;
        assert!((share(0) - 60.0).abs() < 1.0, "{counts:?}");
        assert!((share(1) - 30.0).abs() < 1.0, "{counts:?}");
        assert!((share(2) - 10.0).abs() < 1.0, "{counts:?}");
        // Offsets 0..=100 all occur, roughly equally often (~594 each).
        assert!(
            offsets.iter().all(|&c| (400..800).contains(&c)),
            "{offsets:?}"
        );
        assert!(
            mention_counts[1..].iter().all(|&c| c > 1_200),
            "{mention_counts:?}"
        );

        // The same seed plans the same operations.
        let mut a = crate::rng(9, 0);
        let mut b = crate::rng(9, 0);
        for _ in 0..100 {
            assert_eq!(cfg.plan(&mut a, &users), cfg.plan(&mut b, &users));
        }
    }

    #[test]
    fn first_page_reads_go_on_to_the_next_page_once_in_ten() {
        let cfg = WorkloadConfig {
            feed_reads: FeedReads::FIRST_PAGE,
            ..WorkloadConfig::default()
        };
        let users = names(962);
        let mut rng = crate::rng(42, 0);
        let n = 100_000;
        // (reads, reads with a next page) of home feeds and timelines.
        let mut feeds = (0usize, 0usize);
        let mut timelines = (0usize, 0usize);
        for _ in 0..n {
            match cfg.plan(&mut rng, &users) {
                Action::HomeFeed {
                    offset, next_page, ..
                } => {
                    assert_eq!(offset, 0);
                    feeds.0 += 1;
                    feeds.1 += usize::from(next_page);
                }
                Action::UserTimeline { next_page, .. } => {
                    timelines.0 += 1;
                    timelines.1 += usize::from(next_page);
                }
                Action::Compose { .. } => {}
            }
        }
        let share = |(all, next): (usize, usize)| next as f64 / all as f64 * 100.0;
        assert!((share(feeds) - 10.0).abs() < 0.6, "{feeds:?}");
        assert!((share(timelines) - 10.0).abs() < 0.6, "{timelines:?}");
        assert!((feeds.0 as f64 / n as f64 * 100.0 - 60.0).abs() < 1.0);
        assert_eq!(first_page_limits(10, false), vec![10]);
        assert_eq!(first_page_limits(10, true), vec![10, 10]);
        assert_eq!(FeedReads::Offset.name(), "offset");
        assert_eq!(FeedReads::FIRST_PAGE.name(), "first-page");
    }

    #[test]
    fn offset_reads_plan_what_they_always_planned() {
        // The first operations of seed 7 before first-page reads existed:
        // the offset mode must keep drawing the same numbers.
        let cfg = WorkloadConfig::default();
        let users = names(962);
        let mut rng = crate::rng(7, 0);
        let planned: Vec<Action> = (0..200).map(|_| cfg.plan(&mut rng, &users)).collect();
        let mut rng = crate::rng(7, 0);
        for a in &planned {
            let op = cfg.mix.pick(&mut rng);
            let actor = index(&mut rng, users.len());
            assert_eq!(op, a.op());
            match a {
                Action::HomeFeed {
                    actor: x, offset, ..
                } => {
                    assert_eq!(*x, actor);
                    assert_eq!(*offset, rng.random_range(0..=100));
                }
                Action::UserTimeline {
                    actor: x, author, ..
                } => {
                    assert_eq!(*x, actor);
                    assert_eq!(*author, index(&mut rng, users.len()));
                }
                Action::Compose { .. } => {
                    // Text and mentions: re-plan through the same calls.
                    let mut text = String::new();
                    random_text(&mut rng, cfg.text_len, &mut text);
                    let n = rng.random_range(1..=6);
                    for _ in 0..n {
                        users.choose(&mut rng);
                    }
                }
            }
        }
    }

    #[test]
    fn mix_parsing_and_other_weights() {
        assert_eq!(Mix::parse("60,30,10").expect("mix"), Mix::default());
        let m = Mix::parse(" 0, 1 ,0").expect("mix");
        let mut rng = crate::rng(1, 0);
        assert!((0..100).all(|_| m.pick(&mut rng) == Op::UserTimeline));
        assert_eq!(m.percent(Op::UserTimeline), 100.0);
        assert!(Mix::parse("1,2").is_err());
        assert!(Mix::parse("0,0,0").is_err());
        assert!(Mix::parse("a,1,1").is_err());
    }

    #[test]
    fn deep_feed_reads_use_the_fewest_pages() {
        assert_eq!(feed_page_limits(0, 10, 100), vec![10]);
        assert_eq!(feed_page_limits(90, 10, 100), vec![100]);
        assert_eq!(feed_page_limits(91, 10, 100), vec![100, 1]);
        assert_eq!(feed_page_limits(100, 10, 100), vec![100, 10]);
        assert_eq!(feed_page_limits(25, 10, 10), vec![10, 10, 10, 5]);
        assert_eq!(feed_page_limits(0, 0, 100), Vec::<u32>::new());
    }

    #[test]
    fn open_loop_schedule() {
        let s = Schedule::new(1000.0, Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(s.total(), 3000);
        assert_eq!(s.counted(), 2000);
        assert!(!s.is_counted(999));
        assert!(s.is_counted(1000));
        assert!(s.is_counted(2999));
        assert!(!s.is_counted(3000));
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(1000), Duration::from_secs(1));
        assert_eq!(s.due(1), Duration::from_millis(1));
        // Rounding: 0.1 s x 30/s is 3 requests, not 4.
        let s = Schedule::new(30.0, Duration::ZERO, Duration::from_millis(100));
        assert_eq!((s.total(), s.counted()), (3, 3));
        // A rate that does not divide evenly: due times stay inside the window.
        let s = Schedule::new(7.0, Duration::from_millis(500), Duration::from_secs(1));
        assert_eq!(s.total(), 11);
        assert_eq!(s.counted(), 7);
        for i in 0..s.total() {
            let t = s.due(i);
            assert!(t < Duration::from_millis(1500));
            assert_eq!(s.is_counted(i), t >= Duration::from_millis(500), "{i}");
        }
        // Due times are evenly spaced and increasing.
        let s = Schedule::new(3333.0, Duration::ZERO, Duration::from_secs(1));
        for i in 1..s.total() {
            assert!(s.due(i) > s.due(i - 1));
        }
    }

    /// Answers every operation after a fixed time, cycling through the ops.
    struct Sleeper {
        service: Duration,
        n: usize,
    }

    impl Executor for Sleeper {
        async fn execute(&mut self, _: u64) -> Outcome {
            tokio::time::sleep(self.service).await;
            self.n += 1;
            Outcome {
                op: self.n % 3,
                result: Ok(200),
                http_requests: 1,
            }
        }
    }

    fn sleepers(n: usize, service_ms: u64) -> Vec<Sleeper> {
        (0..n)
            .map(|_| Sleeper {
                service: Duration::from_millis(service_ms),
                n: 0,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_charges_queueing_to_latency() {
        // 100/s due, one connection, 50 ms per answer: the server keeps up
        // with a fifth of the rate. Operation i is due at 10i ms but starts at
        // 50i ms, so its latency is 40i + 50 ms: a closed-loop tool would say
        // 50 ms for every one (coordinated omission).
        let schedule = Schedule::new(100.0, Duration::ZERO, Duration::from_secs(1));
        let r = open_loop(
            sleepers(1, 50),
            3,
            schedule,
            Duration::from_secs(1),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(r.overall.requests, 100);
        assert_eq!(r.unfinished, 0);
        assert_eq!(r.late_starts, 99);
        let ms = |q: f64| r.overall.latency.value_at_quantile(q) as f64 / 1e6;
        assert!((ms(0.0) - 50.0).abs() < 1.0, "min {}", ms(0.0));
        assert!((ms(0.5) - 2010.0).abs() < 30.0, "p50 {}", ms(0.5));
        assert!((ms(1.0) - 4010.0).abs() < 40.0, "max {}", ms(1.0));

        // Enough connections: every operation starts on time and takes 50 ms.
        let r = open_loop(
            sleepers(8, 50),
            3,
            schedule,
            Duration::from_secs(1),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(r.overall.requests, 100);
        assert_eq!(r.late_starts, 0);
        let ms = |q: f64| r.overall.latency.value_at_quantile(q) as f64 / 1e6;
        assert!((ms(1.0) - 50.0).abs() < 1.5, "max {}", ms(1.0));
        assert_eq!(r.due, Some(100));
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_counts_only_the_window_and_reports_unanswered() {
        // 1 s warm-up + 1 s window at 100/s, one connection, 50 ms each, and
        // only 0.5 s of drain: the backlog from the warm-up delays the window,
        // and most of it is still unanswered at the deadline.
        let schedule = Schedule::new(100.0, Duration::from_secs(1), Duration::from_secs(1));
        let r = open_loop(
            sleepers(1, 50),
            3,
            schedule,
            Duration::from_secs(1),
            Duration::from_millis(500),
        )
        .await;
        // Answered by 2.5 s: 50 operations in all, none due in the window.
        assert_eq!(r.due, Some(100));
        assert_eq!(r.overall.requests, 0);
        assert_eq!(r.unfinished, 100);
        assert_eq!(r.overall.errors(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_counts_completions_in_the_window() {
        let r = closed_loop(
            sleepers(2, 10),
            3,
            Duration::from_millis(105),
            Duration::from_secs(1),
        )
        .await;
        // Two connections, one answer every 10 ms each, for 1 s.
        assert!(
            (199..=201).contains(&r.overall.requests),
            "{}",
            r.overall.requests
        );
        assert_eq!(r.http_requests, r.overall.requests);
        let per_op: u64 = r.ops.iter().map(|m| m.requests).sum();
        assert_eq!(per_op, r.overall.requests);
        assert!(r.ops.iter().all(|m| m.requests > 60));
        let p99 = r.overall.latency.value_at_quantile(0.99) as f64 / 1e6;
        assert!((p99 - 10.0).abs() < 0.5, "p99 {p99}");
    }
}

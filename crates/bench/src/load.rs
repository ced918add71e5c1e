//! The load loop: N keep-alive connections, each sending one precomputed
//! request at a time, for a warm-up and then a measured window.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hist::Histogram;
use crate::http::{Conn, HttpUrl, ResponseParser, build_request};

/// Distinct error messages kept per connection (the rest are only counted).
const MAX_ERROR_KINDS: usize = 16;
/// Pause after a failed connect, so a dead server is not hammered in a loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// One request to send over and over.
pub struct Target {
    /// Short name for reports, e.g. `GET /health`.
    pub label: String,
    pub method: String,
    pub url: HttpUrl,
    pub addr: SocketAddr,
    pub request: Vec<u8>,
    pub head: bool,
}

impl Target {
    pub fn new(
        method: &str,
        url: HttpUrl,
        addr: SocketAddr,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> anyhow::Result<Self> {
        let request = build_request(method, &url, headers, body)?;
        Ok(Self {
            label: format!("{method} {}", url.path),
            method: method.to_owned(),
            head: method == "HEAD",
            url,
            addr,
            request,
        })
    }
}

#[derive(Clone, Copy)]
pub struct LoadConfig {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one measured window saw.
pub struct Measurement {
    /// Complete responses in the window, whatever their status.
    pub requests: u64,
    /// Responses with a status outside 200-299.
    pub non_2xx: u64,
    /// Failed connects, i/o errors and malformed responses.
    pub io_errors: u64,
    pub status_counts: BTreeMap<u16, u64>,
    pub error_kinds: BTreeMap<String, u64>,
    /// Latency of every counted response, nanoseconds.
    pub latency: Histogram,
    pub duration: Duration,
}

impl Measurement {
    pub fn errors(&self) -> u64 {
        self.non_2xx + self.io_errors
    }

    pub fn requests_per_sec(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

/// Per-connection counters, merged once at the end.
pub struct ConnStats {
    latency: Histogram,
    /// Indexed by status code; index 0 holds codes >= 600.
    statuses: Vec<u64>,
    io_errors: u64,
    error_kinds: BTreeMap<String, u64>,
}

impl Default for ConnStats {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnStats {
    pub fn new() -> Self {
        Self {
            latency: Histogram::new(),
            statuses: vec![0; 600],
            io_errors: 0,
            error_kinds: BTreeMap::new(),
        }
    }

    #[inline]
    pub fn response(&mut self, status: u16, latency: Duration) {
        let idx = if status < 600 { usize::from(status) } else { 0 };
        if let Some(slot) = self.statuses.get_mut(idx) {
            *slot += 1;
        }
        self.latency
            .record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn error(&mut self, message: String) {
        self.io_errors += 1;
        let kinds = self.error_kinds.len();
        if let Some(n) = self.error_kinds.get_mut(&message) {
            *n += 1;
        } else if kinds < MAX_ERROR_KINDS {
            self.error_kinds.insert(message, 1);
        }
    }
}

/// Runs `target` with `cfg.connections` connections: `cfg.warmup` not
/// counted, then `cfg.duration` measured. A response counts if it completes
/// inside the measured window; requests still in flight when the window
/// closes are abandoned.
pub async fn run_load(target: Arc<Target>, cfg: LoadConfig) -> Measurement {
    let start = Instant::now();
    let measure_start = start + cfg.warmup;
    let end = measure_start + cfg.duration;
    let tasks: Vec<_> = (0..cfg.connections)
        .map(|_| tokio::spawn(connection_task(target.clone(), measure_start, end)))
        .collect();
    let mut stats = Vec::with_capacity(tasks.len());
    let mut failed = Vec::new();
    for task in tasks {
        match task.await {
            Ok(s) => stats.push(s),
            Err(e) => failed.push(format!("connection task failed: {e}")),
        }
    }
    let mut m = Measurement::merge(stats, cfg.duration);
    for msg in failed {
        m.io_errors += 1;
        *m.error_kinds.entry(msg).or_default() += 1;
    }
    m
}

impl Measurement {
    /// Adds another measurement's counts and latencies to this one.
    pub fn absorb(&mut self, other: &Measurement) {
        self.requests += other.requests;
        self.non_2xx += other.non_2xx;
        self.io_errors += other.io_errors;
        for (code, n) in &other.status_counts {
            *self.status_counts.entry(*code).or_default() += n;
        }
        for (kind, n) in &other.error_kinds {
            *self.error_kinds.entry(kind.clone()).or_default() += n;
        }
        self.latency.merge(&other.latency);
    }

    /// Adds up the counters of several connections.
    pub fn merge(stats: impl IntoIterator<Item = ConnStats>, duration: Duration) -> Self {
        let mut m = Measurement {
            requests: 0,
            non_2xx: 0,
            io_errors: 0,
            status_counts: BTreeMap::new(),
            error_kinds: BTreeMap::new(),
            latency: Histogram::new(),
            duration,
        };
        let mut statuses = vec![0u64; 600];
        for s in stats {
            m.latency.merge(&s.latency);
            for (sum, n) in statuses.iter_mut().zip(&s.statuses) {
                *sum += n;
            }
            m.io_errors += s.io_errors;
            for (kind, n) in s.error_kinds {
                *m.error_kinds.entry(kind).or_default() += n;
            }
        }
        for (code, &n) in statuses.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let code = u16::try_from(code).unwrap_or(0);
            m.requests += n;
            if !(200..300).contains(&code) {
                m.non_2xx += n;
            }
            m.status_counts.insert(code, n);
        }
        m
    }
}

async fn connection_task(target: Arc<Target>, measure_start: Instant, end: Instant) -> ConnStats {
    let mut stats = ConnStats::new();
    {
        // The loop never ends by itself; the deadline drops it (and any
        // request in flight) while `stats` survives.
        let work = drive(&target, measure_start, &mut stats);
        let deadline = tokio::time::sleep_until(tokio::time::Instant::from_std(end));
        tokio::select! {
            biased;
            () = work => {}
            () = deadline => {}
        }
    }
    stats
}

async fn drive(target: &Target, measure_start: Instant, stats: &mut ConnStats) {
    let mut parser = ResponseParser::new(target.head, false);
    let mut conn: Option<Conn> = None;
    loop {
        if conn.is_none() {
            match Conn::connect(target.addr).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    if Instant::now() >= measure_start {
                        stats.error(format!("connect: {e}"));
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let t0 = Instant::now();
        let result = c.roundtrip(&target.request, &mut parser).await;
        let t1 = Instant::now();
        let counted = t1 >= measure_start;
        match result {
            Ok(()) => {
                if counted {
                    stats.response(parser.status(), t1 - t0);
                }
                if !parser.keep_alive() {
                    conn = None;
                }
            }
            Err(e) => {
                if counted {
                    stats.error(e.to_string());
                }
                conn = None;
            }
        }
    }
}

//! The load loop: N keep-alive connections, each sending one precomputed
//! request at a time, for a warm-up and then a measured window; and the
//! counters every scenario keeps per connection.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{Client, HttpUrl, Template};

/// Latencies in nanoseconds.
pub type Histogram = hdrhistogram::Histogram<u64>;

/// Largest latency kept apart: 2^40 ns (about 18 minutes); longer ones
/// count as this.
const MAX_NS: u64 = 1 << 40;
/// Distinct error messages kept per connection (the rest are only counted).
const MAX_ERROR_KINDS: usize = 16;

/// An empty latency histogram: 1 ns to [`MAX_NS`] with two significant
/// digits (every value known to within 1/128 of itself).
pub fn histogram() -> Histogram {
    match Histogram::new_with_bounds(1, MAX_NS, 2) {
        Ok(h) => h,
        // The arguments are constants that the constructor accepts (a test
        // below checks it).
        Err(e) => unreachable!("histogram bounds: {e}"),
    }
}

/// Records `latency` in `h`.
pub fn record(h: &mut Histogram, latency: Duration) {
    h.saturating_record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
}

/// Adds `other` into `h` (same bounds, so it cannot fail).
pub fn merge(h: &mut Histogram, other: &Histogram) {
    let _ = h.add(other);
}

/// One request to send over and over.
pub struct Target {
    /// Short name for reports, e.g. `GET /health`.
    pub label: String,
    pub url: HttpUrl,
    pub addr: SocketAddr,
    pub request: Template,
}

impl Target {
    pub fn new(
        method: &str,
        url: HttpUrl,
        addr: SocketAddr,
        headers: &[(&str, &str)],
        body: Option<bytes::Bytes>,
    ) -> anyhow::Result<Self> {
        let request = Template::new(method, &url.authority, &url.path, headers, body)?;
        Ok(Self {
            label: format!("{method} {}", url.path),
            url,
            addr,
            request,
        })
    }

    pub fn method(&self) -> &str {
        self.request.method().as_str()
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
        Self {
            latency: histogram(),
            statuses: vec![0; 600],
            io_errors: 0,
            error_kinds: BTreeMap::new(),
        }
    }
}

impl ConnStats {
    #[inline]
    pub fn response(&mut self, status: u16, latency: Duration) {
        let idx = if status < 600 { usize::from(status) } else { 0 };
        if let Some(slot) = self.statuses.get_mut(idx) {
            *slot += 1;
        }
        record(&mut self.latency, latency);
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

    /// Counts a response or a failure.
    pub fn outcome(&mut self, result: Result<u16, String>, latency: Duration) {
        match result {
            Ok(status) => self.response(status, latency),
            Err(e) => self.error(e),
        }
    }
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

    /// Counts `n` failures with one message.
    pub fn add_errors(&mut self, message: String, n: u64) {
        if n > 0 {
            self.io_errors += n;
            *self.error_kinds.entry(message).or_default() += n;
        }
    }

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
        merge(&mut self.latency, &other.latency);
    }

    /// Adds up the counters of several connections.
    pub fn merge(stats: impl IntoIterator<Item = ConnStats>, duration: Duration) -> Self {
        let mut m = Measurement {
            requests: 0,
            non_2xx: 0,
            io_errors: 0,
            status_counts: BTreeMap::new(),
            error_kinds: BTreeMap::new(),
            latency: histogram(),
            duration,
        };
        let mut statuses = vec![0u64; 600];
        for s in stats {
            merge(&mut m.latency, &s.latency);
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

/// Awaits per-connection tasks: their results, and one message per task
/// that failed.
pub async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> (Vec<T>, Vec<String>) {
    let mut done = Vec::with_capacity(tasks.len());
    let mut failed = Vec::new();
    for task in tasks {
        match task.await {
            Ok(s) => done.push(s),
            Err(e) => failed.push(format!("connection task failed: {e}")),
        }
    }
    (done, failed)
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
    let (stats, failed) = join_all(tasks).await;
    let mut m = Measurement::merge(stats, cfg.duration);
    for msg in failed {
        m.add_errors(msg, 1);
    }
    m
}

async fn connection_task(target: Arc<Target>, measure_start: Instant, end: Instant) -> ConnStats {
    let mut stats = ConnStats::default();
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
    let mut client = Client::new(target.addr);
    loop {
        let t0 = Instant::now();
        let result = client.status(target.request.build()).await;
        let t1 = Instant::now();
        if t1 >= measure_start {
            stats.outcome(result.map_err(|e| format!("{e:#}")), t1 - t0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_keep_two_significant_digits() {
        let mut h = histogram();
        for v in 1..=1000u64 {
            h.saturating_record(v * 1000);
        }
        assert_eq!(h.len(), 1000);
        let p50 = h.value_at_quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01, "{p50}");
        let p99 = h.value_at_quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.01, "{p99}");
        record(&mut h, Duration::from_secs(3600));
        assert!(h.max() >= MAX_NS / 2, "a huge value saturates");
        let mut total = histogram();
        merge(&mut total, &h);
        assert_eq!(total.len(), 1001);
    }
}

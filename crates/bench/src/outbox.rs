//! The outbox backlog under load: `GET /metrics` sampled on a connection of
//! its own while a measurement runs, the two outbox gauges parsed from the
//! OpenMetrics text, and the time the backlog takes to drain afterwards.
//! Servers without the gauges (or without `/metrics`) give "n/a", not an
//! error. The sampler also reads the server's resident memory at each tick
//! when its pid is known.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cpu::memory;
use crate::http::{Client, HttpUrl, Template};

/// Events not yet published (a gauge).
pub const PENDING: &str = "starling_outbox_pending_events";
/// Age in seconds of the oldest pending event, 0 when none (a gauge).
pub const LAG: &str = "starling_outbox_lag_seconds";
/// One scrape gives up after this long (and the connection is dropped).
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// Error messages kept per sampler (the rest are only counted).
const MAX_ERRORS: usize = 4;

/// The outbox gauges of one scrape; `None` when the text lacks them. With
/// several series of a gauge (labels), pending is their sum and lag the
/// largest.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    pub pending: Option<f64>,
    pub lag_seconds: Option<f64>,
}

/// Reads the outbox gauges from a Prometheus or OpenMetrics text exposition.
pub fn parse_gauges(text: &str) -> Gauges {
    let mut g = Gauges::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match sample(line) {
            Some(s) => s,
            None => continue,
        };
        if name == PENDING {
            g.pending = Some(g.pending.unwrap_or(0.0) + value);
        } else if name == LAG {
            g.lag_seconds = Some(g.lag_seconds.map_or(value, |v: f64| v.max(value)));
        }
    }
    g
}

/// `name{labels} value [timestamp]` -> (name, value).
fn sample(line: &str) -> Option<(&str, f64)> {
    let name_end = line.find(['{', ' ', '\t'])?;
    let name = line.get(..name_end)?;
    let mut rest = line.get(name_end..)?;
    if rest.starts_with('{') {
        // Label values are quoted and may contain '}' or spaces.
        let mut quoted = false;
        let mut escaped = false;
        let mut close = None;
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '}' if !quoted => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
        }
        rest = rest.get(close? + 1..)?;
    }
    let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
    value.is_finite().then_some((name, value))
}

/// A keep-alive connection that scrapes `GET /metrics`.
pub struct MetricsClient {
    client: Client,
    request: Template,
}

impl MetricsClient {
    pub fn new(base: &HttpUrl, addr: SocketAddr) -> anyhow::Result<Self> {
        let url = base.join("/metrics");
        Ok(Self {
            client: Client::with_timeout(addr, SCRAPE_TIMEOUT),
            request: Template::new(
                "GET",
                &url.authority,
                &url.path,
                &[("Accept", "application/openmetrics-text, text/plain")],
                None,
            )?,
        })
    }

    /// One scrape: the gauges, or why there are none. A non-200 answer
    /// (such as 404 from a server without `/metrics`) is an error here; the
    /// caller reports the gauges as absent.
    pub async fn scrape(&mut self) -> Result<Gauges, String> {
        match self.client.send(self.request.build()).await {
            Ok((200, body)) => Ok(parse_gauges(&String::from_utf8_lossy(&body))),
            Ok((status, _)) => Err(format!("GET /metrics answered {status}")),
            Err(e) => Err(format!("GET /metrics: {e:#}")),
        }
    }

    /// Drops the connection (a response may still be on its way).
    fn reset(&mut self) {
        self.client = Client::with_timeout(self.client.addr(), SCRAPE_TIMEOUT);
    }
}

/// What a sampler saw.
#[derive(Debug, Default)]
pub struct Samples {
    /// Lag of every scrape that had the gauge, seconds.
    pub lag: Vec<f64>,
    pub pending_max: Option<f64>,
    pub scrapes: u64,
    pub failed: u64,
    pub errors: Vec<String>,
    /// Largest server VmRSS read at a tick, KiB.
    pub rss_max_kib: Option<u64>,
}

impl Samples {
    fn record(&mut self, result: Result<Gauges, String>) {
        self.scrapes += 1;
        match result {
            Ok(g) => {
                if let Some(l) = g.lag_seconds {
                    self.lag.push(l);
                }
                if let Some(p) = g.pending {
                    self.pending_max = Some(self.pending_max.map_or(p, |m: f64| m.max(p)));
                }
            }
            Err(e) => {
                self.failed += 1;
                if self.errors.len() < MAX_ERRORS && !self.errors.contains(&e) {
                    self.errors.push(e);
                }
            }
        }
    }

    fn record_rss(&mut self, pid: Option<u32>) {
        if let Some(m) = pid.and_then(memory) {
            self.rss_max_kib = Some(self.rss_max_kib.map_or(m.rss_kb, |r| r.max(m.rss_kb)));
        }
    }

    /// The figures of one phase.
    pub fn summary(&self) -> OutboxPhase {
        let mut lag = self.lag.clone();
        lag.sort_by(f64::total_cmp);
        OutboxPhase {
            scrapes: self.scrapes,
            failed_scrapes: self.failed,
            lag_samples: lag.len(),
            lag_p50_s: quantile(&lag, 0.50).map(round3),
            lag_p99_s: quantile(&lag, 0.99).map(round3),
            lag_max_s: lag.last().copied().map(round3),
            pending_max: self.pending_max.map(|p| p.round() as u64),
            server_rss_max_mib: self.rss_max_kib.map(kib_to_mib),
            errors: self.errors.clone(),
        }
    }
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn kib_to_mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

/// The outbox figures of one measurement (JSON and text).
#[derive(Debug, Clone, Serialize)]
pub struct OutboxPhase {
    pub scrapes: u64,
    pub failed_scrapes: u64,
    pub lag_samples: usize,
    pub lag_p50_s: Option<f64>,
    pub lag_p99_s: Option<f64>,
    pub lag_max_s: Option<f64>,
    pub pending_max: Option<u64>,
    /// Largest VmRSS of the server read at a scrape, MiB.
    pub server_rss_max_mib: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

fn or_na<T: std::fmt::Display>(v: Option<T>, unit: &str) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v}{unit}"))
}

impl OutboxPhase {
    /// `outbox lag p50 0.012 s, p99 0.250 s, max 0.300 s; pending max 42 (40 scrapes)`.
    pub fn line(&self) -> String {
        let mut l = if self.lag_samples == 0 && self.pending_max.is_none() {
            format!("outbox lag n/a, pending n/a ({} scrapes", self.scrapes)
        } else {
            format!(
                "outbox lag p50 {}, p99 {}, max {}; pending max {} ({} scrapes",
                or_na(self.lag_p50_s.map(|v| format!("{v:.3}")), " s"),
                or_na(self.lag_p99_s.map(|v| format!("{v:.3}")), " s"),
                or_na(self.lag_max_s.map(|v| format!("{v:.3}")), " s"),
                or_na(self.pending_max, ""),
                self.scrapes
            )
        };
        if self.failed_scrapes > 0 {
            l.push_str(&format!(", {} failed", self.failed_scrapes));
        }
        l.push(')');
        if let Some(e) = self.errors.first() {
            l.push_str(&format!(": {e}"));
        }
        if let Some(rss) = self.server_rss_max_mib {
            l.push_str(&format!("; server VmRSS max {rss:.1} MiB"));
        }
        l
    }
}

/// Samples `/metrics` (and the server's VmRSS) every `interval` from
/// `delay` after it starts until it is finished, or `max_time` at most.
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(MetricsClient, Samples)>,
}

impl Sampler {
    pub fn start(
        mut client: MetricsClient,
        interval: Duration,
        delay: Duration,
        max_time: Duration,
        pid: Option<u32>,
    ) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut samples = Samples::default();
            let deadline = Instant::now() + max_time;
            let first = Instant::now() + delay;
            let mut ticks = tokio::time::interval_at(first, interval.max(Duration::from_millis(1)));
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    () = tokio::time::sleep_until(deadline) => break,
                    _ = ticks.tick() => {}
                }
                samples.record_rss(pid);
                let result = tokio::select! {
                    biased;
                    _ = &mut stopped => {
                        // A response may still be on its way: a fresh
                        // connection for the next scrape.
                        client.reset();
                        break;
                    }
                    r = client.scrape() => r,
                };
                samples.record(result);
            }
            (client, samples)
        });
        Self { stop, task }
    }

    /// Stops sampling; returns the client for reuse and what was seen.
    pub async fn finish(self) -> anyhow::Result<(MetricsClient, Samples)> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| anyhow::anyhow!("the /metrics sampler failed: {e}"))
    }
}

/// How the backlog drained after the load.
#[derive(Debug, Clone, Serialize)]
pub struct CatchUp {
    /// Seconds from the end of the load to the first scrape with no pending
    /// event; None if that did not happen (gauge absent or timeout).
    pub seconds: Option<f64>,
    /// Pending events at the first scrape after the load.
    pub pending_at_end: Option<u64>,
    /// Pending events at the last scrape (when it timed out).
    pub pending_last: Option<u64>,
    pub timed_out: bool,
    pub timeout_s: f64,
    pub scrapes: u64,
    pub failed_scrapes: u64,
}

impl CatchUp {
    pub fn line(&self) -> String {
        if self.pending_at_end.is_none() && self.pending_last.is_none() {
            return format!(
                "outbox catch-up after the load: n/a (no {PENDING} in {} scrapes of GET /metrics)",
                self.scrapes
            );
        }
        let start = or_na(self.pending_at_end, "");
        match self.seconds {
            Some(s) => format!(
                "outbox catch-up after the load: pending 0 after {s:.2} s ({start} pending when the load stopped)"
            ),
            None => format!(
                "outbox catch-up after the load: still {} pending after {:.0} s ({start} when the load stopped)",
                or_na(self.pending_last, ""),
                self.timeout_s
            ),
        }
    }
}

/// Scrapes every `interval` until the pending gauge reads 0, for at most
/// `timeout` from `load_end`.
pub async fn catch_up(
    client: &mut MetricsClient,
    load_end: Instant,
    interval: Duration,
    timeout: Duration,
) -> CatchUp {
    let deadline = load_end + timeout;
    let interval = interval.max(Duration::from_millis(1));
    let max_scrapes = (timeout.as_secs_f64() / interval.as_secs_f64()).ceil() as u64 + 2;
    let mut out = CatchUp {
        seconds: None,
        pending_at_end: None,
        pending_last: None,
        timed_out: false,
        timeout_s: timeout.as_secs_f64(),
        scrapes: 0,
        failed_scrapes: 0,
    };
    let mut gauge_seen = false;
    while out.scrapes < max_scrapes {
        let at = Instant::now();
        if at >= deadline && out.scrapes > 0 {
            break;
        }
        out.scrapes += 1;
        match client.scrape().await {
            Ok(Gauges {
                pending: Some(p), ..
            }) => {
                gauge_seen = true;
                let p = p.round() as u64;
                out.pending_at_end.get_or_insert(p);
                out.pending_last = Some(p);
                if p == 0 {
                    let s = at.saturating_duration_since(load_end).as_secs_f64();
                    out.seconds = Some((s * 100.0).round() / 100.0);
                    return out;
                }
            }
            // A server without the gauge will not grow one: stop asking
            // after a few scrapes.
            Ok(Gauges { pending: None, .. }) if out.scrapes >= 3 && !gauge_seen => break,
            Ok(_) => {}
            Err(_) => {
                out.failed_scrapes += 1;
                if out.failed_scrapes >= 3 && !gauge_seen {
                    break;
                }
            }
        }
        tokio::time::sleep_until((at + interval).min(deadline.max(at))).await;
    }
    out.timed_out = gauge_seen && out.seconds.is_none();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP starling_outbox_pending_events Events in the outbox not yet published.
# TYPE starling_outbox_pending_events gauge
starling_outbox_pending_events 17
# HELP starling_outbox_lag_seconds Age of the oldest event not yet published; 0 when none.
# TYPE starling_outbox_lag_seconds gauge
starling_outbox_lag_seconds 0.375
# TYPE starling_outbox_pending_events_total counter
starling_outbox_pending_events_total 99
starling_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 5
# EOF
";

    #[test]
    fn parses_the_two_gauges() {
        let g = parse_gauges(TEXT);
        assert_eq!(g.pending, Some(17.0));
        assert_eq!(g.lag_seconds, Some(0.375));
        assert_eq!(parse_gauges("# EOF\n"), Gauges::default());
        assert_eq!(parse_gauges(""), Gauges::default());
    }

    #[test]
    fn parses_labels_timestamps_and_several_series() {
        let text = "starling_outbox_lag_seconds{queue=\"a}b c\"} 1.5 1700000000\n\
                    starling_outbox_lag_seconds{queue=\"x\\\"y\"} 2.25\n\
                    starling_outbox_pending_events{queue=\"a\"} 3\n\
                    starling_outbox_pending_events{queue=\"b\"} 4\n\
                    starling_outbox_lag_seconds NaN\n\
                    starling_outbox_lag_seconds_bucket{le=\"1\"} 9\n";
        let g = parse_gauges(text);
        assert_eq!(g.lag_seconds, Some(2.25));
        assert_eq!(g.pending, Some(7.0));
        assert_eq!(sample("x{a=\"1\"}"), None);
        assert_eq!(sample("x"), None);
        assert_eq!(sample("x 1e3"), Some(("x", 1000.0)));
    }

    #[test]
    fn summarises_samples() {
        let mut s = Samples::default();
        for i in 1..=100 {
            s.record(Ok(Gauges {
                pending: Some(f64::from(i % 7)),
                lag_seconds: Some(f64::from(i) / 100.0),
            }));
        }
        s.record(Err("GET /metrics answered 404".to_owned()));
        s.record(Err("GET /metrics answered 404".to_owned()));
        let p = s.summary();
        assert_eq!(p.scrapes, 102);
        assert_eq!(p.failed_scrapes, 2);
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.lag_samples, 100);
        assert_eq!(p.lag_p50_s, Some(0.5));
        assert_eq!(p.lag_p99_s, Some(0.99));
        assert_eq!(p.lag_max_s, Some(1.0));
        assert_eq!(p.pending_max, Some(6));
        assert!(p.line().contains("p99 0.990 s"), "{}", p.line());

        let none = Samples {
            scrapes: 3,
            ..Samples::default()
        }
        .summary();
        assert_eq!(none.lag_p50_s, None);
        assert!(none.line().starts_with("outbox lag n/a, pending n/a"));
    }

    /// A `/metrics` server on a loopback port: answers request `i` with
    /// `pending[i]` pending events (the last value once they run out), at
    /// most 1,000 requests per connection.
    async fn fake_metrics(pending: Vec<u32>) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            for i in 0..1000 {
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let p = pending.get(i).or(pending.last()).copied().unwrap_or(0);
                let body = format!(
                    "# TYPE {PENDING} gauge\n{PENDING} {p}\n{LAG} {}\n# EOF\n",
                    f64::from(p) / 10.0
                );
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                if sock
                    .write_all(format!("{head}{body}").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        addr
    }

    fn client(addr: SocketAddr) -> MetricsClient {
        let base = HttpUrl::parse(&format!("http://{addr}")).expect("url");
        MetricsClient::new(&base, addr).expect("client")
    }

    #[tokio::test]
    async fn catch_up_waits_for_pending_to_reach_zero() {
        let mut c = client(fake_metrics(vec![5, 2, 0]).await);
        let r = catch_up(
            &mut c,
            Instant::now(),
            Duration::from_millis(10),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(r.pending_at_end, Some(5));
        assert_eq!(r.pending_last, Some(0));
        assert_eq!(r.scrapes, 3);
        assert!(!r.timed_out);
        assert!(r.seconds.is_some_and(|s| (0.01..5.0).contains(&s)), "{r:?}");
        assert!(r.line().contains("pending 0 after"), "{}", r.line());
    }

    #[tokio::test]
    async fn catch_up_gives_up_at_the_timeout() {
        let mut c = client(fake_metrics(vec![4]).await);
        let started = Instant::now();
        let r = catch_up(
            &mut c,
            started,
            Duration::from_millis(20),
            Duration::from_millis(200),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(r.timed_out);
        assert_eq!(r.seconds, None);
        assert_eq!(r.pending_last, Some(4));
        assert!(r.scrapes >= 5, "{r:?}");
        assert!(r.line().contains("still 4 pending"), "{}", r.line());
    }

    #[tokio::test]
    async fn sampler_collects_until_finished() {
        let c = client(fake_metrics(vec![1, 3, 2]).await);
        let s = Sampler::start(
            c,
            Duration::from_millis(10),
            Duration::ZERO,
            Duration::from_secs(10),
            Some(std::process::id()),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, samples) = s.finish().await.expect("sampler");
        let p = samples.summary();
        assert!(p.scrapes >= 3, "{p:?}");
        assert_eq!(p.failed_scrapes, 0);
        assert_eq!(p.pending_max, Some(3));
        assert_eq!(p.lag_max_s, Some(0.3));
        if cfg!(target_os = "linux") {
            assert!(p.server_rss_max_mib.is_some_and(|m| m > 0.0));
        }
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[4.0], 0.99), Some(4.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.0), Some(1.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 1.0), Some(4.0));
    }
}

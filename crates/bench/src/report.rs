//! Turning measurements into a table or JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::{Histogram, LoadConfig, Measurement, Target};

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    pub max: u64,
    pub mean: u64,
}

/// One measured scenario, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    pub method: String,
    pub url: String,
    pub connections: usize,
    pub threads: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub errors: u64,
    pub non_2xx: u64,
    pub io_errors: u64,
    pub status_codes: BTreeMap<String, u64>,
    pub latency_us: Latency,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_messages: BTreeMap<String, u64>,
}

pub fn ns_to_us(ns: u64) -> u64 {
    (ns + 500) / 1000
}

impl Latency {
    /// The percentiles of `h` (nanoseconds) in microseconds.
    pub fn of(h: &Histogram) -> Self {
        let q = |q: f64| ns_to_us(h.value_at_quantile(q));
        Self {
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            max: ns_to_us(h.max()),
            mean: ns_to_us(h.mean().round() as u64),
        }
    }
}

/// Latency percentiles in milliseconds, to 0.01 ms.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// Nanoseconds as milliseconds, to 0.01 ms.
pub fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e4).round() / 100.0
}

impl LatencyMs {
    pub fn of(h: &Histogram) -> Self {
        let q = |q: f64| ms(h.value_at_quantile(q));
        Self {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: ms(h.max()),
            mean: ms(h.mean().round() as u64),
        }
    }
}

/// `v` to one decimal.
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// `part` as a percentage of `whole`, to one decimal (None when `whole` is 0).
pub fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| round1(part / whole * 100.0))
}

/// KiB as `12.3 MiB`.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

impl Report {
    pub fn new(
        target: &Target,
        cfg: LoadConfig,
        threads: usize,
        round: Option<u32>,
        m: &Measurement,
    ) -> Self {
        Self::named(
            &target.label,
            target.method(),
            &target.url.to_string(),
            cfg,
            threads,
            round,
            m,
        )
    }

    /// A report for a measurement that is not one fixed request (a mix, or
    /// one operation of a mix).
    pub fn named(
        scenario: &str,
        method: &str,
        url: &str,
        cfg: LoadConfig,
        threads: usize,
        round: Option<u32>,
        m: &Measurement,
    ) -> Self {
        let rps = round1(m.requests_per_sec());
        Self {
            scenario: scenario.to_owned(),
            round,
            method: method.to_owned(),
            url: url.to_owned(),
            connections: cfg.connections,
            threads,
            warmup_s: cfg.warmup.as_secs_f64(),
            duration_s: m.duration.as_secs_f64(),
            requests: m.requests,
            requests_per_sec: rps,
            errors: m.errors(),
            non_2xx: m.non_2xx,
            io_errors: m.io_errors,
            status_codes: m
                .status_counts
                .iter()
                .map(|(code, n)| (code.to_string(), *n))
                .collect(),
            latency_us: Latency::of(&m.latency),
            error_messages: m.error_kinds.clone(),
        }
    }
}

/// Formats a number with thousands separators: 1234567 -> "1,234,567".
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub fn format_rps(rps: f64) -> String {
    let whole = rps.trunc() as u64;
    let tenth = ((rps - rps.trunc()) * 10.0).round() as u64;
    if tenth >= 10 {
        format!("{}.0", group(whole + 1))
    } else {
        format!("{}.{tenth}", group(whole))
    }
}

/// The results table: one line per report, then status codes and error
/// messages where they are worth a look.
pub fn table(reports: &[Report]) -> String {
    let with_round = reports.iter().any(|r| r.round.is_some());
    let mut header = vec!["scenario"];
    if with_round {
        header.push("round");
    }
    header.extend([
        "req/s", "requests", "errors", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us",
    ]);
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in reports {
        let mut row = vec![r.scenario.clone()];
        if with_round {
            row.push(r.round.map(|n| n.to_string()).unwrap_or_default());
        }
        row.extend([
            format_rps(r.requests_per_sec),
            group(r.requests),
            group(r.errors),
            group(r.latency_us.p50),
            group(r.latency_us.p90),
            group(r.latency_us.p99),
            group(r.latency_us.p999),
            group(r.latency_us.max),
        ]);
        rows.push(row);
    }
    let mut out = aligned(&rows);
    for r in reports {
        let name = match r.round {
            Some(n) => format!("{} (round {n})", r.scenario.trim()),
            None => r.scenario.trim().to_owned(),
        };
        let codes: Vec<String> = r
            .status_codes
            .iter()
            .map(|(code, n)| format!("{code}: {}", group(*n)))
            .collect();
        if r.non_2xx > 0 {
            out.push_str(&format!("{name} status codes: {}\n", codes.join(", ")));
        }
        for (msg, n) in &r.error_messages {
            out.push_str(&format!("{name} error x{}: {msg}\n", group(*n)));
        }
    }
    out
}

/// Rows as aligned columns, two spaces apart: the first column to the
/// left, the others to the right.
pub fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, (cell, &w)) in row.iter().zip(&widths).enumerate() {
            if c == 0 {
                line.push_str(&format!("{cell:<w$}"));
            } else {
                line.push_str(&format!("  {cell:>w$}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Median of a non-empty list (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let hi = v.get(n / 2).copied().unwrap_or(0.0);
    if n % 2 == 1 {
        hi
    } else {
        let lo = v.get(n / 2 - 1).copied().unwrap_or(0.0);
        (lo + hi) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(format_rps(65432.14), "65,432.1");
        assert_eq!(format_rps(9.96), "10.0");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert_eq!(median(&[]), 0.0);
    }
}

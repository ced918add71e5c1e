//! CPU use during a measurement, from /proc (Linux only; elsewhere the
//! figures are simply absent): the server process, this load generator, and
//! the whole machine, so a report can say what the cores were doing.

use std::time::Instant;

use serde::Serialize;

/// Clock ticks per second of /proc's process times (USER_HZ, 100 on every
/// mainstream Linux architecture).
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of a process (all its threads), in clock ticks.
pub fn process_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process_ticks(&text)
}

/// utime + stime from the text of /proc/PID/stat.
fn parse_process_ticks(text: &str) -> Option<u64> {
    // The command name is in parentheses and may itself contain spaces or
    // parentheses: the fields proper start after the last ')'.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of a process, from /proc/PID/status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// VmRSS: resident now, KiB.
    pub rss_kb: u64,
    /// VmHWM: the most ever resident, KiB.
    pub hwm_kb: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_memory(&text)
}

/// Resets the process's VmHWM to its current VmRSS (`5` to
/// /proc/PID/clear_refs, Linux 4.0 and later; only the peak is reset), so a
/// later VmHWM is the peak since now. False if that was not possible.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Server memory per connection: (after - before) VmRSS / `n`, KiB to
/// 0.01.
pub fn kib_per(before: Option<Memory>, after: Option<Memory>, n: usize) -> Option<f64> {
    let (b, a) = (before?, after?);
    let per = (a.rss_kb as f64 - b.rss_kb as f64) / n.max(1) as f64;
    Some((per * 100.0).round() / 100.0)
}

/// File descriptors kept free beside the connections (requests, the
/// runtime, stdio).
const SPARE_FDS: u64 = 64;

/// This process's open-files limit; an error if it cannot hold
/// `connections` connections.
pub fn check_fd_limit(connections: u64) -> anyhow::Result<Option<u64>> {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    if let Some(limit) = limit
        && limit < connections + SPARE_FDS
    {
        anyhow::bail!(
            "this process may open only {limit} files, fewer than the {} that {connections} \
             connections need; raise the hard limit first (ulimit -Hn / ulimit -n 65536 as \
             root, or LimitNOFILE) or use fewer",
            connections + SPARE_FDS
        );
    }
    Ok(limit)
}

/// The open-files limit of server `name` (process `pid`); an error if it
/// cannot hold `connections` connections.
pub fn check_server_fd_limit(
    name: &str,
    pid: Option<u32>,
    connections: u64,
) -> anyhow::Result<Option<u64>> {
    let limit = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(|p| rlimit::ProcLimits::read_process(p).ok())
        .and_then(|l| l.max_open_files)
        .and_then(|l| l.soft_limit);
    if let Some(limit) = limit
        && limit < connections + SPARE_FDS
    {
        anyhow::bail!(
            "{name} may open only {limit} files, fewer than {connections} connections need; \
             start it with a higher limit (ulimit -n 65536; when spawned it inherits this \
             tool's limit, raised to the hard limit: raise the hard limit)"
        );
    }
    Ok(limit)
}

fn parse_memory(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.get(name.len()..)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}

/// (busy, total) clock ticks of all CPUs together, from /proc/stat.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_ticks(&text)
}

fn parse_machine_ticks(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already
    // inside user and nice).
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    Some((busy, busy + idle))
}

/// Readings at the start of a measurement.
pub struct CpuProbe {
    server_pid: Option<u32>,
    at: Instant,
    server: Option<u64>,
    bench: Option<u64>,
    machine: Option<(u64, u64)>,
}

/// CPU use over one measurement. Process figures are percent of one core
/// (200 % = both cores of a 2-core machine); `machine_busy` is percent of all
/// cores; `other` is the rest of the machine (databases, other programs) in
/// percent of one core.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUse {
    pub cores: usize,
    pub server_percent: Option<f64>,
    pub bench_percent: Option<f64>,
    pub other_percent: Option<f64>,
    pub machine_busy_percent: Option<f64>,
}

impl CpuProbe {
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            at: Instant::now(),
            server: server_pid.and_then(process_ticks),
            bench: process_ticks(std::process::id()),
            machine: machine_ticks(),
        }
    }

    pub fn finish(self) -> CpuUse {
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let percent = |before: Option<u64>, after: Option<u64>| -> Option<f64> {
            let ticks = after?.checked_sub(before?)?;
            Some(round1(ticks as f64 / TICKS_PER_SEC / secs * 100.0))
        };
        let server = percent(self.server, self.server_pid.and_then(process_ticks));
        let bench = percent(self.bench, process_ticks(std::process::id()));
        let (busy, other) = match (self.machine, machine_ticks()) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                let busy_ticks = b1.saturating_sub(b0) as f64;
                let share = busy_ticks / (t1 - t0) as f64 * 100.0;
                let busy_core_percent = busy_ticks / TICKS_PER_SEC / secs * 100.0;
                let other = busy_core_percent - server.unwrap_or(0.0) - bench.unwrap_or(0.0);
                (Some(round1(share)), Some(round1(other.max(0.0))))
            }
            _ => (None, None),
        };
        CpuUse {
            cores,
            server_percent: server,
            bench_percent: bench,
            other_percent: other,
            machine_busy_percent: busy,
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl CpuUse {
    /// `server 150 %, bench 40 %, other 5 %, machine 98 % busy`.
    pub fn summary(&self) -> String {
        let f = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v:.0} %"));
        format!(
            "server {}, load generator {}, other {} (of one core); machine {} busy ({} cores)",
            f(self.server_percent),
            f(self.bench_percent),
            f(self.other_percent),
            f(self.machine_busy_percent),
            self.cores
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_process_stat() {
        let line = "26918 (cat (x) y) R 26873 26873 16459 0 -1 4194304 100 0 0 0 1234 56 0 0 \
                    20 0 1 0 530725 3133440 381";
        assert_eq!(parse_process_ticks(line), Some(1290));
        assert_eq!(parse_process_ticks("1 (x) R 2"), None);
        // This process exists and has a readable stat file on Linux.
        if cfg!(target_os = "linux") {
            assert!(process_ticks(std::process::id()).is_some());
        }
    }

    #[test]
    fn parses_memory() {
        let text = "Name:\tstarling\nVmPeak:\t  999 kB\nVmHWM:\t  54321 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(
            parse_memory(text),
            Some(Memory {
                rss_kb: 12345,
                hwm_kb: 54321
            })
        );
        assert_eq!(parse_memory("Name: x\n"), None);
        if cfg!(target_os = "linux") {
            assert!(memory(std::process::id()).is_some_and(|m| m.rss_kb > 0));
        }
    }

    #[test]
    fn parses_machine_stat() {
        let text = "cpu  237145 0 77715 721035 2631 0 15501 100 0 0\ncpu0 1 2 3 4\n";
        let busy = 237145 + 77715 + 15501 + 100;
        assert_eq!(
            parse_machine_ticks(text),
            Some((busy, busy + 721035 + 2631))
        );
        assert_eq!(parse_machine_ticks("intr 1 2\n"), None);
    }
}

//! For the test suites: counting a skipped test as skipped.
//!
//! A test that cannot run here (a backend or a peer program is missing, and
//! `CI` is not `true`) returns early, which the test harness counts as passed.
//! It calls [`skipped`] first: the reason goes to stderr and, when
//! `STARLING_TEST_SKIP_LOG` names a file (as `scripts/test` arranges), one line
//! `{test}: {reason}` is appended to it, so the suite's total says how many
//! tests were skipped, and which and why, and does not count them as passed.

use std::io::Write;

/// Records that the calling test is skipped, and why.
pub fn skipped(reason: std::fmt::Arguments<'_>) {
    let line = log_line(std::thread::current().name(), &reason.to_string());
    eprintln!("skipped: {line}");
    if let Some(path) = std::env::var_os("STARLING_TEST_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        // One write of one line: appends from concurrent tests stay whole.
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// `{test}: {reason}` on one line. The test harness names each test's
/// thread after the test (`module::name`); other threads (a runtime's
/// workers, `main`) leave the name out. A reason that already begins with
/// the test's own name keeps it only once.
fn log_line(thread: Option<&str>, reason: &str) -> String {
    let reason = reason.replace(['\n', '\r'], " ");
    let test = thread.filter(|t| {
        *t != "main"
            && !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    });
    let Some(test) = test else {
        return reason;
    };
    let short = test.rsplit("::").next().unwrap_or(test);
    let reason = reason
        .strip_prefix(short)
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(&reason);
    format!("{test}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::log_line;

    #[test]
    fn a_test_thread_names_the_test_once() {
        assert_eq!(
            log_line(
                Some("scaled::posts_work"),
                "STARLING_TEST_DATABASE_URL is not set"
            ),
            "scaled::posts_work: STARLING_TEST_DATABASE_URL is not set"
        );
        assert_eq!(
            log_line(
                Some("outage"),
                "outage: STARLING_TEST_BROKER_URL is not set"
            ),
            "outage: STARLING_TEST_BROKER_URL is not set"
        );
        assert_eq!(
            log_line(Some("tests::outage"), "outage: no broker"),
            "tests::outage: no broker"
        );
    }

    #[test]
    fn other_threads_give_the_reason_alone_on_one_line() {
        assert_eq!(
            log_line(Some("tokio-runtime-worker"), "no\nbroker"),
            "no broker"
        );
        assert_eq!(log_line(Some("main"), "no broker"), "no broker");
        assert_eq!(log_line(None, "no broker"), "no broker");
    }
}

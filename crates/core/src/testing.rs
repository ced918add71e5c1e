//! For the test suites: counting a skipped test as skipped.
//!
//! A test that cannot run here (a backend or a peer program is missing, and
//! `CI` is not `true`) returns early, which the test harness counts as passed.
//! It calls [`skipped`] first: the reason goes to stderr and, when
//! `STARLING_TEST_SKIP_LOG` names a file (as `scripts/test` arranges), one line
//! is appended to it, so the suite's total says how many tests were skipped
//! and does not count them as passed.

use std::io::Write;

/// Records that the calling test is skipped, and why.
pub fn skipped(reason: std::fmt::Arguments<'_>) {
    eprintln!("skipped: {reason}");
    if let Some(path) = std::env::var_os("STARLING_TEST_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        // One write of one line: appends from concurrent tests stay whole.
        let _ = f.write_all(format!("{reason}\n").as_bytes());
    }
}

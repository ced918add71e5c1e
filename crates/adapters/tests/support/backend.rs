//! Which real backend a test runs against, shared by the adapter test files.
#![allow(dead_code)]

/// The value of a backend variable, or `None` when the test is to be skipped.
/// Under `CI=true` a missing variable fails the test instead.
pub fn backend_var(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            let hint = if var.contains("S3") {
                "`scripts/s3-test-server` starts a server and prints the export line"
            } else if var.contains("BROKER") {
                "for example STARLING_TEST_BROKER_URL=amqp://guest:guest@127.0.0.1:5672"
            } else {
                "for example STARLING_TEST_REDIS_URL=redis://127.0.0.1:6379"
            };
            panic!(
                "{var} is not set, and with CI=true {test} must run against a real backend ({hint})"
            )
        }
        _ => {
            starling_core::testing::skipped(format_args!("{test}: {var} is not set"));
            None
        }
    }
}

//! Timestamps are milliseconds since the Unix epoch, UTC: portable across
//! SQLite and PostgreSQL and cheap to compare. The API renders them as RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_millis() as i64))
    }

    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

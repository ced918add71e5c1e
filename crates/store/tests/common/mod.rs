//! Shared by the store's test binaries: an empty PostgreSQL database per test.

use sqlx::Connection;

/// An empty database on the test server (`STARLING_TEST_DATABASE_URL`),
/// dropped with this value, even when the test panics.
pub struct FreshPg {
    admin: String,
    name: String,
    pub url: url::Url,
}

impl FreshPg {
    /// `None` when no test server is configured: the test is counted as
    /// skipped (with CI=true that is a failure instead).
    pub async fn new() -> Option<FreshPg> {
        let Some(admin) = std::env::var("STARLING_TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
        else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but STARLING_TEST_DATABASE_URL is not set"
            );
            starling_core::testing::skipped(format_args!("STARLING_TEST_DATABASE_URL is not set"));
            return None;
        };
        let name = format!("starling_t_{:016x}", rand::random::<u64>());
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut c)
            .await
            .unwrap();
        let _ = c.close().await;
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        Some(FreshPg { admin, name, url })
    }
}

impl Drop for FreshPg {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // the database goes from a thread of its own.
        let admin = std::mem::take(&mut self.admin);
        let name = std::mem::take(&mut self.name);
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async move {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut c)
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

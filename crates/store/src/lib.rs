//! The SQL store. One implementation serves SQLite (the embedded default, in WAL
//! mode) and PostgreSQL through sqlx's runtime-selected driver: the SQL is written
//! once in the common dialect (`$N` parameters, `ON CONFLICT`, `RETURNING`) and the
//! few dialect differences live in [`Dialect`]. Backend errors are normalised here.

mod chat;
mod comments;
mod error;
mod follows;
mod loves;
mod media;
mod migrate;
mod notifications;
mod outbox;
mod posts;
mod search;
mod seed;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use starling_core::ports::Health;
use starling_core::{Error, Result};

pub use error::db_err;
pub use migrate::MIGRATIONS;
pub use seed::{SeedReport, SeedSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Dialect::Postgres)
        } else {
            Err(Error::field(
                "database_url",
                "must start with sqlite: or postgres://",
            ))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// Pool sizes and timeouts.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The store: implements every per-area store trait of `starling_core::ports`.
#[derive(Clone)]
pub struct SqlStore {
    /// SQLite has one writer: transactions queue here, in order, instead of
    /// contending for the file lock in SQLite's busy handler (which sleeps
    /// between retries and collapses throughput under concurrent writers).
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    pool: AnyPool,
    dialect: Dialect,
}

impl SqlStore {
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url)?;
        let connect = AnyConnectOptions::from_str(url)
            .map_err(|e| Error::field("database_url", format!("is not valid: {e}")))?;
        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the writer; NORMAL sync is
                        // durable across process crashes in WAL mode; the busy
                        // timeout makes concurrent writers queue instead of failing.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .map_err(|e| Error::Unavailable {
                message: format!("cannot connect to the {} database: {e}", dialect.name()),
            })?;
        Ok(SqlStore {
            write_lock: std::sync::Arc::new(tokio::sync::Mutex::new(())),
            pool,
            dialect,
        })
    }

    /// Starts a transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads before it writes
    /// (an upsert that finds its row, a trigger) cannot upgrade its lock while
    /// another writer holds it and fails with "database is locked" instead of
    /// waiting its turn. PostgreSQL locks rows as it goes.
    pub(crate) async fn begin(&self) -> Result<WriteTx> {
        let guard = match self.dialect {
            Dialect::Sqlite => Some(self.write_lock.clone().lock_owned().await),
            Dialect::Postgres => None,
        };
        Ok(WriteTx {
            tx: begin(&self.pool, self.dialect).await?,
            _turn: guard,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        migrate::run(&self.pool, self.dialect).await
    }

    /// Connections in use and idle, for metrics.
    pub fn pool_usage(&self) -> (u32, u32) {
        let size = self.pool.size();
        let idle = self.pool.num_idle() as u32;
        (size.saturating_sub(idle), idle)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn check(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable {
                message: format!("database: {e}"),
            })
    }
}

/// A write transaction; on SQLite it also holds this process's writer turn
/// until it commits or is dropped.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::Transaction<'static, sqlx::Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

pub(crate) async fn begin(
    pool: &AnyPool,
    dialect: Dialect,
) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
    match dialect {
        Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Dialect::Postgres => pool.begin().await,
    }
    .map_err(db_err)
}

/// `(?, ?, ...)` rows of `width` parameters for a multi-row `VALUES` list:
/// positional on SQLite, where sqlx looks each `$N` name up in a list that
/// SQLite scans linearly (quadratic in a statement's parameters), `$N` on
/// PostgreSQL.
pub(crate) fn value_rows(dialect: Dialect, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (0..width)
                .map(|c| match dialect {
                    Dialect::Sqlite => "?".to_owned(),
                    Dialect::Postgres => format!("${}", r * width + c + 1),
                })
                .collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds `$start, $start+1, ...` for an `IN (...)` list of `n` values.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

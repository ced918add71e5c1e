//! The SQL store: the per-area store traits of `starling_core::ports` over
//! SQLite (the embedded default, through `rusqlite`) and PostgreSQL (through
//! sqlx's native driver); see [`db`] for the engines. The SQL is written once
//! in the common dialect (`$N` parameters, `ON CONFLICT`, `RETURNING`) and the
//! few dialect differences live in [`Dialect`]. Backend errors are normalised here.

mod blocks;
mod chat;
mod comments;
pub mod db;
mod deletion;
mod error;
mod follows;
mod loves;
mod media;
pub mod migrate;
mod moderation;
mod notifications;
mod outbox;
mod posts;
mod search;
mod seed;
mod tokens;
mod users;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use starling_core::ports::Health;
use starling_core::{Error, Result};

use db::{Db, SqliteDb, Tx};
pub use error::db_err;
pub use migrate::{MIGRATIONS, checksum as migrate_checksum};
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
    pool: Db,
    dialect: Dialect,
}

/// The file of a `sqlite:` URL (`sqlite://path?mode=rwc`, `sqlite:path`).
fn sqlite_path(url: &str) -> Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Err(Error::field(
            "database_url",
            "must name a SQLite file (sqlite://path/to/file.db)",
        ));
    }
    Ok(PathBuf::from(path))
}

impl SqlStore {
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Self> {
        let dialect = Dialect::from_url(url)?;
        let pool = match dialect {
            Dialect::Sqlite => {
                let path = sqlite_path(url)?;
                let readers = opts.max_connections.clamp(1, 64) as usize;
                let db = SqliteDb::open(path.clone(), readers, true).map_err(|e| {
                    Error::Unavailable {
                        message: format!("cannot open the SQLite database {}: {e}", path.display()),
                    }
                })?;
                Db::Sqlite(Arc::new(db))
            }
            Dialect::Postgres => {
                let connect = PgConnectOptions::from_str(url)
                    .map_err(|e| Error::field("database_url", format!("is not valid: {e}")))?;
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(connect)
                    .await
                    .map_err(|e| Error::Unavailable {
                        message: format!("cannot connect to the postgres database: {e}"),
                    })?;
                Db::Pg(pool)
            }
        };
        Ok(SqlStore { pool, dialect })
    }

    /// Starts a write transaction. On SQLite it waits for the one writer
    /// connection and takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// transactions queue in order instead of failing; PostgreSQL locks rows
    /// as it goes.
    pub(crate) async fn begin(&self) -> Result<WriteTx> {
        Ok(WriteTx(self.pool.begin().await.map_err(db_err)?))
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The engine underneath, for tools and tests that read behind the store's back.
    pub fn db(&self) -> &Db {
        &self.pool
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        migrate::run(&self.pool).await
    }

    /// Connections in use and idle, for metrics.
    pub fn pool_usage(&self) -> (u32, u32) {
        match &self.pool {
            Db::Sqlite(db) => db.usage(),
            Db::Pg(pool) => {
                let size = pool.size();
                let idle = pool.num_idle() as u32;
                (size.saturating_sub(idle), idle)
            }
        }
    }

    pub async fn close(&self) {
        if let Db::Pg(pool) = &self.pool {
            pool.close().await;
        }
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn check(&self) -> Result<()> {
        db::query_scalar::<i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable {
                message: format!("database: {e}"),
            })
    }
}

/// A write transaction: rolled back when dropped uncommitted. On SQLite it
/// holds the writer connection until then.
pub(crate) struct WriteTx(Tx);

impl WriteTx {
    pub(crate) async fn commit(self) -> std::result::Result<(), db::DbError> {
        self.0.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.0
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.0
    }
}

/// `($1, $2), ($3, $4), ...` rows of `width` parameters for a multi-row
/// `VALUES` list.
pub(crate) fn value_rows(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (0..width)
                .map(|c| format!("${}", r * width + c + 1))
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

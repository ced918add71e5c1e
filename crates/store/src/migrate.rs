//! Migrations: numbered SQL files per dialect (`migrations/sqlite/`,
//! `migrations/postgres/`), embedded in the binary, applied in order, each in
//! its own transaction, and recorded in `schema_migrations` with a SHA-256
//! checksum of the text applied. A migration edited after it was applied is
//! refused, and so is a database that has migrations this binary does not know
//! (it was migrated by a newer version). On PostgreSQL the runner holds an
//! advisory lock, so nodes starting together migrate one at a time; on SQLite
//! the single writer and `BEGIN IMMEDIATE` do the same.

use sha2::{Digest, Sha256};
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use starling_core::{Error, Result, Timestamp};

use crate::db::Db;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../migrations/postgres/", $file)),
        }
    };
}

pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "accounts", "0001_accounts.sql"),
    migration!(2, "posts", "0002_posts.sql"),
    migration!(3, "media", "0003_media.sql"),
    migration!(4, "search", "0004_search.sql"),
    migration!(5, "notifications", "0005_notifications.sql"),
    migration!(6, "chat", "0006_chat.sql"),
    migration!(7, "chat search", "0007_chat_search.sql"),
    migration!(8, "push subscriptions", "0008_push_subscriptions.sql"),
    migration!(9, "roles and standing", "0009_roles_and_standing.sql"),
    migration!(10, "moderation", "0010_moderation.sql"),
    migration!(11, "blocks", "0011_blocks.sql"),
    migration!(12, "account security", "0012_account_security.sql"),
    migration!(13, "account deletion", "0013_account_deletion.sql"),
];

/// SHA-256 of a migration's text, in hex.
pub fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
     version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL, checksum TEXT)";

/// What to do with one migration, given what the database recorded for it.
enum Step {
    Apply,
    Skip,
    /// Applied by a version that recorded no checksum: record this one.
    Record,
}

fn step(m: &Migration, recorded: Option<Option<String>>, sql: &str) -> Result<Step> {
    match recorded {
        None => Ok(Step::Apply),
        Some(None) => Ok(Step::Record),
        Some(Some(sum)) if sum == checksum(sql) => Ok(Step::Skip),
        Some(Some(_)) => Err(Error::internal(format!(
            "migration {} ({}) was changed after it was applied to this database; \
             restore its original text and add a new migration instead",
            m.version, m.name
        ))),
    }
}

fn unknown(versions: &[i64]) -> Result<()> {
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    match versions.iter().find(|v| **v > newest) {
        Some(v) => Err(Error::internal(format!(
            "the database has migration {v}, which this version of Starling does not know \
             (it knows up to {newest}); run the newer version"
        ))),
        None => Ok(()),
    }
}

pub(crate) async fn run(db: &Db) -> Result<Vec<i64>> {
    match db {
        Db::Sqlite(db) => {
            let w = db.writer().await;
            run_sqlite(w.conn())
        }
        Db::Pg(pool) => {
            let mut conn = pool.acquire().await.map_err(|e| Error::Unavailable {
                message: format!("database: {e}"),
            })?;
            run_pg(&mut conn).await
        }
    }
}

fn sqlite_failed(e: rusqlite::Error) -> Error {
    Error::internal(format!("migrating the SQLite database: {e}"))
}

fn run_sqlite(conn: &rusqlite::Connection) -> Result<Vec<i64>> {
    conn.execute_batch(CREATE_TABLE).map_err(sqlite_failed)?;
    // Databases made before checksums were recorded lack the column.
    let has_checksum: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite_failed)?;
    if has_checksum == 0 {
        conn.execute_batch("ALTER TABLE schema_migrations ADD COLUMN checksum TEXT")
            .map_err(sqlite_failed)?;
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(sqlite_failed)?;
        let result = (|| -> Result<bool> {
            let versions: Vec<i64> = conn
                .prepare("SELECT version FROM schema_migrations")
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .map_err(sqlite_failed)?;
            unknown(&versions)?;
            let recorded: Option<Option<String>> = conn
                .query_row(
                    "SELECT checksum FROM schema_migrations WHERE version = ?1",
                    [m.version],
                    |r| r.get(0),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
                .map_err(sqlite_failed)?;
            match step(m, recorded, m.sqlite)? {
                Step::Skip => Ok(false),
                Step::Record => {
                    conn.execute(
                        "UPDATE schema_migrations SET checksum = ?1 WHERE version = ?2",
                        rusqlite::params![checksum(m.sqlite), m.version],
                    )
                    .map_err(sqlite_failed)?;
                    Ok(false)
                }
                Step::Apply => {
                    conn.execute_batch(m.sqlite).map_err(|e| {
                        Error::internal(format!("migration {} ({}) failed: {e}", m.version, m.name))
                    })?;
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at, checksum)
                         VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![
                            m.version,
                            m.name,
                            Timestamp::now().millis(),
                            checksum(m.sqlite)
                        ],
                    )
                    .map_err(sqlite_failed)?;
                    Ok(true)
                }
            }
        })();
        match result {
            Ok(new) => {
                conn.execute_batch("COMMIT").map_err(sqlite_failed)?;
                if new {
                    tracing::info!(version = m.version, name = m.name, "applied migration");
                    applied.push(m.version);
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(applied)
}

fn pg_failed(e: sqlx::Error) -> Error {
    Error::internal(format!("migrating the PostgreSQL database: {e}"))
}

/// The advisory lock key migrations hold on PostgreSQL ("starling" in ASCII).
const PG_LOCK: i64 = 0x7374_6172_6c69_6e67;

async fn run_pg(conn: &mut PgConnection) -> Result<Vec<i64>> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(PG_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(pg_failed)?;
    let result = run_pg_locked(conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(PG_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(pg_failed);
    let applied = result?;
    unlocked?;
    Ok(applied)
}

async fn run_pg_locked(conn: &mut PgConnection) -> Result<Vec<i64>> {
    sqlx::raw_sql(CREATE_TABLE)
        .execute(&mut *conn)
        .await
        .map_err(pg_failed)?;
    sqlx::raw_sql("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum TEXT")
        .execute(&mut *conn)
        .await
        .map_err(pg_failed)?;
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await
        .map_err(pg_failed)?;
    unknown(&versions)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let mut tx = conn.begin().await.map_err(pg_failed)?;
        let recorded: Option<Option<String>> =
            sqlx::query_scalar("SELECT checksum FROM schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(pg_failed)?;
        match step(m, recorded, m.postgres)? {
            Step::Skip => continue,
            Step::Record => {
                sqlx::query("UPDATE schema_migrations SET checksum = $1 WHERE version = $2")
                    .bind(checksum(m.postgres))
                    .bind(m.version)
                    .execute(&mut *tx)
                    .await
                    .map_err(pg_failed)?;
                tx.commit().await.map_err(pg_failed)?;
            }
            Step::Apply => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(m.postgres))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        Error::internal(format!("migration {} ({}) failed: {e}", m.version, m.name))
                    })?;
                sqlx::query(
                    "INSERT INTO schema_migrations (version, name, applied_at, checksum)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(m.version)
                .bind(m.name)
                .bind(Timestamp::now().millis())
                .bind(checksum(m.postgres))
                .execute(&mut *tx)
                .await
                .map_err(pg_failed)?;
                tx.commit().await.map_err(pg_failed)?;
                tracing::info!(version = m.version, name = m.name, "applied migration");
                applied.push(m.version);
            }
        }
    }
    Ok(applied)
}

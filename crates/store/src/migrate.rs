//! A small migrator: numbered migrations embedded in the binary, each with a
//! SQLite and a PostgreSQL text (the same text where the dialects agree),
//! applied in order inside a transaction and recorded in `schema_migrations`.

use sqlx::AnyPool;
use starling_core::{Error, Result, Timestamp};

use crate::{Dialect, db_err};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

const ACCOUNTS: &str = include_str!("../migrations/0001_accounts.sql");
const POSTS: &str = include_str!("../migrations/0002_posts.sql");
const MEDIA: &str = include_str!("../migrations/0003_media.sql");
const SEARCH_SQLITE: &str = include_str!("../migrations/0004_search.sqlite.sql");
const SEARCH_POSTGRES: &str = include_str!("../migrations/0004_search.postgres.sql");
const NOTIFICATIONS: &str = include_str!("../migrations/0005_notifications.sql");
const CHAT: &str = include_str!("../migrations/0006_chat.sql");
const CHAT_SEARCH_SQLITE: &str = include_str!("../migrations/0007_chat_search.sqlite.sql");
const CHAT_SEARCH_POSTGRES: &str = include_str!("../migrations/0007_chat_search.postgres.sql");

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts",
        sqlite: ACCOUNTS,
        postgres: ACCOUNTS,
    },
    Migration {
        version: 2,
        name: "posts",
        sqlite: POSTS,
        postgres: POSTS,
    },
    Migration {
        version: 3,
        name: "media",
        sqlite: MEDIA,
        postgres: MEDIA,
    },
    Migration {
        version: 4,
        name: "search",
        sqlite: SEARCH_SQLITE,
        postgres: SEARCH_POSTGRES,
    },
    Migration {
        version: 5,
        name: "notifications",
        sqlite: NOTIFICATIONS,
        postgres: NOTIFICATIONS,
    },
    Migration {
        version: 6,
        name: "chat",
        sqlite: CHAT,
        postgres: CHAT,
    },
    Migration {
        version: 7,
        name: "chat search",
        sqlite: CHAT_SEARCH_SQLITE,
        postgres: CHAT_SEARCH_POSTGRES,
    },
];

pub(crate) async fn run(pool: &AnyPool, dialect: Dialect) -> Result<Vec<i64>> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(db_err)?;

    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let mut tx = crate::begin(pool, dialect).await?;
        // Claim the version first: a concurrent migrator on another node then
        // waits on (or conflicts with) this row instead of applying it twice.
        let claimed = sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(Timestamp::now().millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        let sql = match dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(|e| {
            Error::internal(format!("migration {} ({}) failed: {e}", m.version, m.name))
        })?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        applied.push(m.version);
    }
    Ok(applied)
}

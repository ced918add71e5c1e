use rusqlite::ffi;
use sqlx::error::ErrorKind;
use starling_core::Error;

use crate::db::DbError;

fn conflict() -> Error {
    Error::Conflict {
        code: "conflict",
        message: "already exists".into(),
        field: None,
    }
}

/// Normalises a backend error: unique violation -> Conflict, missing row or
/// dangling reference -> NotFound, unreachable or busy database -> Unavailable.
pub fn db_err(e: DbError) -> Error {
    match &e {
        DbError::NotFound => Error::not_found("record"),
        DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => match f.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => conflict(),
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Error::not_found("referenced record"),
            _ if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
            ) =>
            {
                Error::Unavailable {
                    message: format!("database unavailable: {e}"),
                }
            }
            _ => Error::Internal(e.into()),
        },
        DbError::Pg(p) => match p {
            sqlx::Error::Database(d) => match d.kind() {
                ErrorKind::UniqueViolation => conflict(),
                ErrorKind::ForeignKeyViolation => Error::not_found("referenced record"),
                _ => Error::Internal(e.into()),
            },
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable {
                    message: format!("database unavailable: {e}"),
                }
            }
            _ => Error::Internal(e.into()),
        },
        _ => Error::Internal(e.into()),
    }
}

/// Whether `e` is a unique violation.
pub(crate) fn is_unique_violation(e: &DbError) -> bool {
    match e {
        DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.extended_code,
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        ),
        DbError::Pg(sqlx::Error::Database(d)) => d.kind() == ErrorKind::UniqueViolation,
        _ => false,
    }
}

/// The constraint or message text of a unique violation, to tell which column clashed.
pub(crate) fn violation_detail(e: &DbError) -> String {
    match e {
        DbError::Sqlite(rusqlite::Error::SqliteFailure(_, msg)) => msg.clone().unwrap_or_default(),
        DbError::Pg(sqlx::Error::Database(d)) => {
            format!("{} {}", d.constraint().unwrap_or_default(), d.message())
        }
        _ => String::new(),
    }
}

use sqlx::error::ErrorKind;
use starling_core::Error;

/// Normalises a backend error: unique violation -> Conflict, missing row or
/// dangling reference -> NotFound, unreachable database -> Unavailable.
pub fn db_err(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::RowNotFound => Error::not_found("record"),
        sqlx::Error::Database(d) => match d.kind() {
            ErrorKind::UniqueViolation => Error::Conflict {
                code: "conflict",
                message: "already exists".into(),
                field: None,
            },
            ErrorKind::ForeignKeyViolation => Error::not_found("referenced record"),
            _ => Error::Internal(e.into()),
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::Unavailable {
                message: format!("database unavailable: {e}"),
            }
        }
        _ => Error::Internal(e.into()),
    }
}

/// The constraint or message text of a unique violation, to tell which column clashed.
pub(crate) fn violation_detail(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => {
            format!("{} {}", d.constraint().unwrap_or_default(), d.message())
        }
        _ => String::new(),
    }
}

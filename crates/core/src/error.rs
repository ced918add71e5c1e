//! The one error type. Services and adapters return it; the API maps each
//! variant to a status code and a stable `code` string in one place.

use std::collections::BTreeMap;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation; `fields` maps a field name to what is wrong with it.
    #[error("{message}")]
    Validation {
        message: String,
        fields: BTreeMap<String, String>,
    },
    /// A malformed request that is not about one field (bad cursor, bad JSON, ...).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { message: String },
    /// Forbidden for a reason the client can act on (`account_suspended`,
    /// `wrong_password`, `blocked`, ...): 403 with that code.
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A uniqueness or state conflict. `detail` carries backend specifics for logs.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    #[error("{message}")]
    PayloadTooLarge { message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// Well-formed input that the rules refuse (following yourself, ...).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("too many requests; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    #[error("{message}")]
    Unavailable { message: String },
    /// The client took too long to send its request.
    #[error("{message}")]
    RequestTimeout { message: String },
    /// The server is at capacity for this kind of work (e.g. image decoding);
    /// retrying after `retry_after` may succeed. Answered with 503 and
    /// `Retry-After`.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after: Duration,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut fields = BTreeMap::new();
        fields.insert(field.to_owned(), message.clone());
        Error::Validation {
            message: format!("{field}: {message}"),
            fields,
        }
    }

    pub fn not_found(what: &'static str) -> Self {
        Error::NotFound { what }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden {
            message: message.into(),
        }
    }

    pub fn denied(code: &'static str, message: impl Into<String>) -> Self {
        Error::Denied {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Error::Internal(anyhow::anyhow!("{message}"))
    }
}

/// Collects field errors so a request reports every bad field at once.
#[derive(Default)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(Error::Validation { fields, message }) => {
                let msg = fields.into_values().next().unwrap_or(message);
                self.0.insert(field.to_owned(), msg);
                None
            }
            Err(other) => {
                self.0.insert(field.to_owned(), other.to_string());
                None
            }
        }
    }

    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::Validation {
            message,
            fields: self.0,
        })
    }
}

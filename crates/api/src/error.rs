//! The one place where domain errors become HTTP: status, a stable `code`, a
//! message safe to show, and for validation the per-field messages. The cause
//! of a 5xx goes to the log, never to the client.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use starling_core::Error;
use utoipa::ToSchema;

/// `{"error": {"code", "message", "fields"?}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation_failed`, `not_found`, `invalid_token`, ...
    pub code: String,
    /// Human-readable; safe to show to the user.
    pub message: String,
    /// For `validation_failed`: what is wrong with each field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            Error::Validation { .. } | Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } | Error::Denied { .. } => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable { .. } | Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        error_code(&self.0)
    }
}

/// The stable `code` string of an error, as the JSON error body carries it.
pub fn error_code(e: &Error) -> &'static str {
    match e {
        Error::Validation { .. } => "validation_failed",
        Error::BadRequest { code, .. }
        | Error::Unauthorized { code, .. }
        | Error::Conflict { code, .. }
        | Error::Unprocessable { code, .. }
        | Error::Denied { code, .. } => code,
        Error::Forbidden { .. } => "forbidden",
        Error::NotFound { .. } => "not_found",
        Error::PayloadTooLarge { .. } => "payload_too_large",
        Error::UnsupportedMediaType { .. } => "unsupported_media_type",
        Error::RateLimited { .. } => "rate_limited",
        Error::Unavailable { .. } => "unavailable",
        Error::Busy { .. } => "busy",
        Error::RequestTimeout { .. } => "request_timeout",
        Error::Internal(_) => "internal",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self.0 {
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                "something went wrong on our side".to_owned()
            }
            Error::Unavailable { message } => {
                tracing::warn!(%message, "backend unavailable");
                "the service is temporarily unavailable".to_owned()
            }
            other => other.to_string(),
        };
        let fields = match &self.0 {
            Error::Validation { fields, .. } if !fields.is_empty() => Some(fields.clone()),
            Error::Conflict {
                field: Some(f),
                message,
                ..
            } => Some(BTreeMap::from([((*f).to_owned(), message.clone())])),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
                fields,
            },
        };
        let mut resp = (status, Json(body)).into_response();
        match &self.0 {
            Error::RateLimited { retry_after } | Error::Busy { retry_after, .. } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Error::Unauthorized { code, .. } if code.contains("token") => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        resp
    }
}

/// JSON 404 for paths no route matches.
pub async fn not_found_fallback() -> ApiError {
    ApiError(Error::NotFound { what: "endpoint" })
}

/// JSON 405 for a known path with the wrong method.
pub async fn method_not_allowed_fallback() -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: "method_not_allowed".into(),
            message: "this endpoint does not accept that method".into(),
            fields: None,
        },
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

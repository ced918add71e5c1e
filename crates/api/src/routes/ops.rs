//! Operations: liveness, readiness, metrics. Served by every role.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use starling_core::Error;

use crate::dto::{Health, Readiness};
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::{ClientIp, bearer_token, same};
use crate::state::AppState;

/// Whether the caller may see operations details (metrics, what a failing
/// backend said): with `ops_token` set, whoever sends it as a Bearer token;
/// without it, only this host (the loopback address).
pub struct Operator(pub bool);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        if let Some(expected) = st.config.ops_token.as_deref() {
            let given = bearer_token(parts).ok().flatten().unwrap_or_default();
            return Ok(Operator(same(given, expected)));
        }
        let ClientIp(ip) = ClientIp::from_request_parts(parts, st).await?;
        let local = ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        Ok(Operator(local))
    }
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health)))]
pub async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// Ready: the database and every configured backend answer. What a failing
/// backend said is shown only to operators (the `ops_token`, or this host).
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "Names what is down", body = Readiness),
    ))]
pub async fn ready(State(st): State<AppState>, Operator(operator): Operator) -> Response {
    let results = join_all(st.checks.iter().map(|c| async move {
        let outcome = match tokio::time::timeout(Duration::from_secs(3), c.check.check()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out after 3 s".to_owned()),
        };
        (c.name.clone(), outcome)
    }))
    .await;
    let down: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n} ({e})")))
        .collect();
    if !down.is_empty() {
        tracing::warn!(down = %down.join(", "), "not ready");
    }
    let down: Vec<String> = if operator {
        down
    } else {
        results
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(n, _)| n.clone())
            .collect()
    };
    let checks: BTreeMap<String, String> = results
        .into_iter()
        .map(|(n, r)| {
            let shown = match r {
                Ok(()) => "ok".into(),
                Err(e) if operator => e,
                Err(_) => "down".into(),
            };
            (n, shown)
        })
        .collect();
    if down.is_empty() {
        return axum::Json(Readiness {
            status: "ready".into(),
            checks,
        })
        .into_response();
    }
    #[derive(serde::Serialize)]
    struct NotReady {
        status: String,
        checks: BTreeMap<String, String>,
        error: ErrorDetail,
    }
    let body = NotReady {
        status: "unavailable".into(),
        checks,
        error: ErrorBody {
            error: ErrorDetail {
                code: "not_ready".into(),
                message: format!("not ready: {} down", down.join(", ")),
                fields: None,
            },
        }
        .error,
    };
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// Prometheus metrics (OpenMetrics text), for operators: send the
/// `ops_token` as a Bearer token or, without one configured, ask from this host.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, content_type = "application/openmetrics-text", body = String),
        (status = 403, description = "Not an operator", body = ErrorBody),
    ))]
pub async fn metrics(State(st): State<AppState>, Operator(operator): Operator) -> Response {
    if !operator {
        return ApiError(Error::forbidden(
            "metrics are for operators: send the ops token as a Bearer token",
        ))
        .into_response();
    }
    // The outbox backlog is read at scrape time; a database that does not
    // answer leaves the last values (and shows on /ready).
    if let Ok((pending, oldest)) = st.services.outbox_backlog().await {
        let lag = oldest.map_or(0.0, |t| {
            (starling_core::Timestamp::now().millis() - t.millis()) as f64 / 1000.0
        });
        st.metrics.set_outbox(pending, lag);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

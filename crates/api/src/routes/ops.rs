//! Operations: liveness, readiness, metrics. Served by every role.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;

use crate::dto::{Health, Readiness};
use crate::error::{ErrorBody, ErrorDetail};
use crate::state::AppState;

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

/// Ready: the database and every configured backend answer.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "Names what is down", body = Readiness),
    ))]
pub async fn ready(State(st): State<AppState>) -> Response {
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
    let checks: BTreeMap<String, String> = results
        .into_iter()
        .map(|(n, r)| (n, r.err().unwrap_or_else(|| "ok".into())))
        .collect();
    if down.is_empty() {
        return axum::Json(Readiness {
            status: "ready".into(),
            checks,
        })
        .into_response();
    }
    tracing::warn!(down = %down.join(", "), "not ready");
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

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(st): State<AppState>) -> Response {
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

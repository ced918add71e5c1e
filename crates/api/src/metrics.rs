//! Prometheus metrics, per server instance (no global registry): request counts
//! and latency histograms by route, database pool usage, and the outbox
//! backlog (pending events and the oldest one's age).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type PoolProbe = Arc<dyn Fn() -> (u32, u32) + Send + Sync>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pool: Family<PoolLabels, Gauge>,
    pool_probe: Option<PoolProbe>,
    outbox_pending: Gauge,
    outbox_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
}

const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    /// `pool_probe` returns (in use, idle) database connections.
    pub fn new(pool_probe: Option<PoolProbe>) -> Self {
        let mut registry = Registry::with_prefix("starling");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(BUCKETS.iter().copied())
        });
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database pool connections by state",
            pool.clone(),
        );
        let outbox_pending = Gauge::default();
        let outbox_lag = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "outbox_pending_events",
            "Events in the outbox not yet published (dead ones excluded)",
            outbox_pending.clone(),
        );
        registry.register(
            "outbox_lag_seconds",
            "Age of the oldest event not yet published; 0 when none",
            outbox_lag.clone(),
        );
        Metrics {
            outbox_pending,
            outbox_lag,
            registry,
            requests,
            latency,
            pool,
            pool_probe,
        }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The outbox backlog as of now: events pending and the oldest one's age.
    pub fn set_outbox(&self, pending: u64, lag_seconds: f64) {
        self.outbox_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.outbox_lag.set(lag_seconds.max(0.0));
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        if let Some(probe) = &self.pool_probe {
            let (in_use, idle) = probe();
            self.pool
                .get_or_create(&PoolLabels { state: "in_use" })
                .set(i64::from(in_use));
            self.pool
                .get_or_create(&PoolLabels { state: "idle" })
                .set(i64::from(idle));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Middleware (as a route layer, so the matched route template is known).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

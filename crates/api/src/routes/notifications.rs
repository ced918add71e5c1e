//! /api/notifications and /api/push: the list, counters, the live stream
//! (Server-Sent Events) and Web Push subscriptions.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use starling_core::messaging::Subscription;
use starling_core::{NotificationId, PushSubscriptionId};
use starling_services::jwt::Verified;
use starling_services::notifications::{LiveMessage, NotificationView, Notifications};
use starling_services::presence::ConnectionGuard;
use starling_services::sessions::Ended;
use tokio::sync::watch;

use crate::dto::{
    Notification, NotificationPage, NotificationParams, PushSubscription, PushSubscriptionRequest,
    UnreadCount, VapidKey, rfc3339,
};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthSession, AuthUser, Json, Path, Query};
use crate::paging;
use crate::state::AppState;

/// Your notifications, newest first.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications",
    security(("bearer" = []), ("cookie" = [])), params(NotificationParams),
    responses(
        (status = 200, body = NotificationPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list_notifications(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<NotificationParams>,
) -> ApiResult<axum::Json<NotificationPage>> {
    let (before, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .notifications
        .list(me, before, limit, p.unread_only.unwrap_or(false))
        .await?;
    let url = &st.config.public_url;
    Ok(axum::Json(NotificationPage {
        items: page
            .items
            .iter()
            .map(|v| Notification::from_view(v, url))
            .collect(),
        next_cursor: paging::next_cursor(&page.next),
    }))
}

/// How many of your notifications are unread.
#[utoipa::path(get, path = "/api/notifications/unread-count", tag = "notifications",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, body = ErrorBody)))]
pub async fn unread_count(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<axum::Json<UnreadCount>> {
    let count = st.services.notifications.unread_count(me).await?;
    Ok(axum::Json(UnreadCount { count }))
}

/// Mark one of your notifications read; answers the new unread count.
#[utoipa::path(patch, path = "/api/notifications/{id}/read", tag = "notifications",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 200, body = UnreadCount),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such notification of yours", body = ErrorBody),
    ))]
pub async fn mark_read(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<NotificationId>,
) -> ApiResult<axum::Json<UnreadCount>> {
    let count = st.services.notifications.mark_read(me, id).await?;
    Ok(axum::Json(UnreadCount { count }))
}

/// Mark all your notifications read.
#[utoipa::path(put, path = "/api/notifications/read-all", tag = "notifications",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, body = ErrorBody)))]
pub async fn mark_all_read(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<axum::Json<UnreadCount>> {
    st.services.notifications.mark_all_read(me).await?;
    Ok(axum::Json(UnreadCount { count: 0 }))
}

fn notification_event(v: &NotificationView, public_url: &str) -> Event {
    let dto = Notification::from_view(v, public_url);
    let data = serde_json::to_string(&dto).unwrap_or_else(|_| "{}".into());
    Event::default()
        .event("notification")
        .id(v.record.id.to_string())
        .data(data)
}

fn count_event(count: i64) -> Event {
    Event::default()
        .event("unread-count")
        .data(format!("{{\"count\":{count}}}"))
}

/// Everything one open stream needs; dropping it ends the stream's presence.
struct Open {
    live: Subscription,
    notifications: Arc<Notifications>,
    public_url: String,
    /// Ids the backlog replay sent, so a live copy of one is not sent
    /// again. (Not "everything up to the highest id": workers store
    /// notifications concurrently, so ids can arrive out of order.)
    replayed: HashSet<i64>,
    pending: VecDeque<Event>,
    stopping: watch::Receiver<bool>,
    /// The stream ends when the access token it was opened with expires
    /// (the client reconnects with a fresh one), or its session ends.
    session: Verified,
    ended: tokio::sync::broadcast::Receiver<Ended>,
    _guard: ConnectionGuard,
}

/// Waits until `session` ends (on any node) or its token expires.
async fn session_over(session: &Verified, ended: &mut tokio::sync::broadcast::Receiver<Ended>) {
    let left = session.expires_at - starling_core::Timestamp::now().as_secs();
    let expiry = tokio::time::sleep(std::time::Duration::from_secs(left.max(0) as u64));
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            _ = &mut expiry => return,
            e = ended.recv() => match e {
                Ok(e) if Some(e.family) == session.family => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    std::future::pending::<()>().await
                }
            },
        }
    }
}

impl Open {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some((Ok(e), self));
            }
            let msg = tokio::select! {
                m = self.live.next() => m?,
                _ = self.stopping.wait_for(|s| *s) => return None,
                _ = session_over(&self.session, &mut self.ended) => return None,
            };
            match serde_json::from_slice::<LiveMessage>(&msg) {
                Ok(LiveMessage::Notification { record, unread }) => {
                    if self.replayed.remove(&record.id.get()) {
                        continue;
                    }
                    match self.notifications.view(record).await {
                        Ok(Some(v)) => self
                            .pending
                            .push_back(notification_event(&v, &self.public_url)),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "could not render a live notification")
                        }
                    }
                    self.pending.push_back(count_event(unread));
                }
                Ok(LiveMessage::UnreadCount { count }) => {
                    self.pending.push_back(count_event(count))
                }
                Err(e) => tracing::warn!(error = %e, "undecodable live message"),
            }
        }
    }
}

/// Your notifications as they happen (Server-Sent Events).
///
/// Events: `notification` (the same JSON as the list items; its SSE id is the
/// notification id) and `unread-count` (`{count}`, sent first and whenever it
/// changes). A comment line is sent every 15 s. Reconnecting with
/// `Last-Event-ID` first replays what was missed.
#[utoipa::path(get, path = "/api/notifications/stream", tag = "notifications",
    security(("bearer" = []), ("cookie" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The id of the last notification received")),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed Last-Event-ID", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn stream(
    State(st): State<AppState>,
    AuthSession(session): AuthSession,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let me = session.user;
    let ended = st.services.sessions.watch();
    let last = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => None,
        Some(Ok(s)) if s.trim().is_empty() => None,
        Some(Ok(s)) => Some(s.trim().parse::<NotificationId>()?),
        Some(Err(_)) => {
            return Err(starling_core::Error::bad_request(
                "invalid_id",
                "Last-Event-ID must be a notification id",
            )
            .into());
        }
    };
    let n = st.services.notifications.clone();
    // Subscribe before reading the backlog, so nothing falls between them.
    let live = n.subscribe(me).await?;
    let guard = n.stream_opened(me).await;
    let mut pending = VecDeque::new();
    let mut replayed = HashSet::new();
    if let Some(after) = last {
        for v in n.missed(me, after).await? {
            replayed.insert(v.record.id.get());
            pending.push_back(notification_event(&v, &st.config.public_url));
        }
    }
    pending.push_back(count_event(n.unread_count(me).await?));
    let open = Open {
        live,
        notifications: n,
        public_url: st.config.public_url.clone(),
        replayed,
        pending,
        stopping: st.stopping.clone(),
        session,
        ended,
        _guard: guard,
    };
    let events: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(futures::stream::unfold(open, Open::next));
    let sse = Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(st.config.sse_heartbeat)
            .text("heartbeat"),
    );
    Ok(([("x-accel-buffering", "no")], sse))
}

/// The VAPID public key to subscribe browsers with.
#[utoipa::path(get, path = "/api/push/vapid-public-key", tag = "push",
    responses((status = 200, body = VapidKey), (status = 404, description = "Push is not configured", body = ErrorBody)))]
pub async fn vapid_public_key(State(st): State<AppState>) -> ApiResult<axum::Json<VapidKey>> {
    Ok(axum::Json(VapidKey {
        public_key: st.services.notifications.vapid_public_key()?,
    }))
}

/// Register a browser's push subscription (idempotent by endpoint, per user;
/// beyond the per-user cap the oldest is replaced).
#[utoipa::path(post, path = "/api/push/subscriptions", tag = "push",
    security(("bearer" = []), ("cookie" = [])),
    request_body = PushSubscriptionRequest,
    responses(
        (status = 201, body = PushSubscription),
        (status = 400, description = "Bad endpoint or keys (`validation_failed`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "The endpoint is not https on a public address (`invalid_endpoint`)", body = ErrorBody),
    ))]
pub async fn add_push_subscription(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Json(req): Json<PushSubscriptionRequest>,
) -> ApiResult<(StatusCode, axum::Json<PushSubscription>)> {
    let sub = st
        .services
        .notifications
        .add_push_subscription(me, &req.endpoint, &req.keys.p256dh, &req.keys.auth)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(PushSubscription {
            id: sub.id.to_string(),
            endpoint: sub.endpoint,
            created_at: rfc3339(sub.created_at),
        }),
    ))
}

/// Remove one of your push subscriptions.
#[utoipa::path(delete, path = "/api/push/subscriptions/{id}", tag = "push",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn delete_push_subscription(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<PushSubscriptionId>,
) -> ApiResult<StatusCode> {
    st.services
        .notifications
        .delete_push_subscription(me, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

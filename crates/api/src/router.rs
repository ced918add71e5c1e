//! Assembles the routers: operations for every role, the API for the api role.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{method_not_allowed_fallback, not_found_fallback};
use crate::metrics::track;
use crate::openapi::ApiDoc;
use crate::routes::{
    auth, blocks, chat, media, moderation, notifications, ops, posts, profile, users,
};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn ops_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
}

fn api_routes(st: &AppState) -> OpenApiRouter<AppState> {
    let avatar_limit = st.body_limit_for(crate::state::AVATAR_PATH);
    let (schemas, paths, avatar) = routes!(profile::put_avatar);
    let media_limit = st.body_limit_for(crate::state::MEDIA_PATH);
    let (media_schemas, media_paths, upload) = routes!(media::upload_media);
    OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::jwks))
        .routes(routes!(auth::request_password_reset))
        .routes(routes!(auth::confirm_password_reset))
        .routes(routes!(auth::verify_email))
        .routes(routes!(auth::resend_verification))
        .routes(routes!(auth::list_sessions, auth::end_other_sessions))
        .routes(routes!(auth::end_session))
        .routes(routes!(
            profile::get_profile,
            profile::update_profile,
            profile::delete_account
        ))
        .routes(routes!(profile::export))
        .routes(routes!(profile::change_password))
        .routes((
            schemas,
            paths,
            avatar.layer(DefaultBodyLimit::max(avatar_limit)),
        ))
        .routes((
            media_schemas,
            media_paths,
            upload.layer(DefaultBodyLimit::max(media_limit)),
        ))
        .routes(routes!(users::search_users))
        .routes(routes!(users::get_user))
        .routes(routes!(users::get_user_by_username))
        .routes(routes!(users::follow, users::unfollow))
        .routes(routes!(users::followers))
        .routes(routes!(users::following))
        .routes(routes!(blocks::block, blocks::unblock))
        .routes(routes!(blocks::mute, blocks::unmute))
        .routes(routes!(blocks::blocks))
        .routes(routes!(blocks::mutes))
        .routes(routes!(posts::create_post, posts::refetch_posts))
        .routes(routes!(
            posts::get_post,
            posts::edit_post,
            posts::delete_post
        ))
        .routes(routes!(posts::post_history))
        .routes(routes!(posts::love_post, posts::unlove_post))
        .routes(routes!(posts::post_lovers))
        .routes(routes!(posts::create_comment, posts::list_comments))
        .routes(routes!(posts::list_replies))
        .routes(routes!(posts::edit_comment, posts::delete_comment))
        .routes(routes!(posts::love_comment, posts::unlove_comment))
        .routes(routes!(posts::comment_lovers))
        .routes(routes!(posts::home_feed))
        .routes(routes!(posts::public_feed))
        .routes(routes!(posts::user_posts))
        .routes(routes!(posts::tag_posts))
        .routes(routes!(posts::search_posts))
        .routes(routes!(notifications::list_notifications))
        .routes(routes!(notifications::unread_count))
        .routes(routes!(notifications::mark_read))
        .routes(routes!(notifications::mark_all_read))
        .routes(routes!(notifications::stream))
        .routes(routes!(notifications::vapid_public_key))
        .routes(routes!(notifications::add_push_subscription))
        .routes(routes!(notifications::delete_push_subscription))
        .routes(routes!(chat::list_rooms, chat::create_room))
        .routes(routes!(
            chat::get_room,
            chat::rename_room,
            chat::delete_room
        ))
        .routes(routes!(chat::add_member))
        .routes(routes!(chat::remove_member))
        .routes(routes!(chat::direct_room, chat::open_direct_room))
        .routes(routes!(chat::list_messages, chat::send_message))
        .routes(routes!(chat::mark_read))
        .routes(routes!(chat::remove_messages))
        .routes(routes!(chat::retract_messages))
        .routes(routes!(chat::unread_count))
        .routes(routes!(chat::search))
        .routes(routes!(chat::presence))
        .routes(routes!(moderation::instance))
        .routes(routes!(moderation::create_report))
        .routes(routes!(moderation::admin_list_users))
        .routes(routes!(moderation::admin_get_user))
        .routes(routes!(moderation::set_role))
        .routes(routes!(moderation::suspend_user))
        .routes(routes!(moderation::unsuspend_user))
        .routes(routes!(moderation::silence_user))
        .routes(routes!(moderation::unsilence_user))
        .routes(routes!(moderation::list_reports))
        .routes(routes!(moderation::get_report))
        .routes(routes!(moderation::resolve_report))
        .routes(routes!(moderation::audit_log))
        .routes(routes!(moderation::list_registrations))
        .routes(routes!(moderation::approve_registration))
        .routes(routes!(moderation::reject_registration))
        .routes(routes!(moderation::create_invite, moderation::list_invites))
        .routes(routes!(moderation::revoke_invite))
        // Media keys contain slashes, so the route is a wildcard; its docs come
        // from `ApiDoc`'s path list.
        .route("/media/{*key}", axum::routing::get(media::get_media))
}

/// Operations kept for old clients that new ones should not use.
type PickOperation =
    fn(&mut utoipa::openapi::PathItem) -> Option<&mut utoipa::openapi::path::Operation>;

const DEPRECATED: [(&str, PickOperation); 1] = [
    // It used to create the room; `POST` does that now.
    ("/api/chat/direct/{partnerId}", |p| p.get.as_mut()),
];

fn mark_deprecated(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for (path, op) in DEPRECATED {
        if let Some(o) = doc.paths.paths.get_mut(path).and_then(op) {
            o.deprecated = Some(utoipa::openapi::Deprecated::True);
        }
    }
    doc
}

/// The complete OpenAPI document (all roles' routes).
pub fn openapi(st: &AppState) -> serde_json::Value {
    let (_, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops_routes())
        .merge(api_routes(st))
        .split_for_parts();
    crate::openapi::complete(&mark_deprecated(doc))
}

/// Operations routes only (health, ready, metrics): what a worker-only node serves.
pub fn ops_router(st: AppState) -> Router {
    let (router, _) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops_routes())
        .split_for_parts();
    finish(router, st, not_found_fallback)
}

/// The API and operations routes, with the docs at /api/docs.
pub fn api_router(st: AppState) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops_routes())
        .merge(api_routes(&st))
        .split_for_parts();
    let doc = crate::openapi::complete(&mark_deprecated(doc));
    let router =
        router.merge(SwaggerUi::new("/api/docs").external_url_unchecked("/api/openapi.json", doc));
    // Whatever no route matches: the browser app (JSON 404 for /api/...).
    finish(router, st, crate::web::fallback)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-csrf-token"),
        ])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return Some(base.allow_origin(AllowOrigin::any()));
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(base.allow_origin(list).allow_credentials(true))
}

/// Refuses a request whose declared `Content-Length` exceeds what its path
/// accepts, before reading any of it: the client learns at once, and no
/// upload is wasted. (Bodies without a length are still capped while read.)
async fn reject_declared_oversize(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared
        && len > st.body_limit_for(req.uri().path()) as u64
    {
        return crate::error::ApiError(starling_core::Error::PayloadTooLarge {
            message: "the request body is too large".into(),
        })
        .into_response();
    }
    next.run(req).await
}

/// Answers 408 to a request not answered within `request_timeout`: a body
/// sent slowly, a byte at a time, cannot hold a handler for ever. Streams
/// are answered at once, so they are not cut.
async fn request_timeout(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => crate::error::ApiError(starling_core::Error::RequestTimeout {
            message: format!("the request was not complete within {} s", limit.as_secs()),
        })
        .into_response(),
    }
}

const HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000");

fn finish<H, T>(router: Router<AppState>, st: AppState, fallback: H) -> Router
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let metrics = Arc::clone(&st.metrics);
    let body_limit = st.config.body_limit;
    let cors = cors(&st.config.cors_origins);
    let hsts = st.config.hsts;
    let timeout = st.config.request_timeout;
    let router = router
        .route_layer(axum::middleware::from_fn_with_state(
            st.clone(),
            crate::limits::limit_by_address,
        ))
        .route_layer(axum::middleware::from_fn_with_state(metrics, track))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            reject_declared_oversize,
        ))
        .with_state(st);
    let router = match cors {
        Some(c) => router.layer(c),
        None => router,
    };
    // Outermost: give every request an id, log within a span that carries it,
    // and echo it in the response.
    router
        // Every answer: no MIME sniffing, no referrer beyond this site, and
        // HSTS when the site is served over HTTPS. A handler's own values
        // (the web app's) win.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(tower::util::option_layer(hsts.then(|| {
            SetResponseHeaderLayer::if_not_present(header::STRICT_TRANSPORT_SECURITY, HSTS)
        })))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

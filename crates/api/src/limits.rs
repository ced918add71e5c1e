//! Write limits per client address, at the edge: every limited write (and
//! search) is counted against the client's address as well as, in the
//! services, against the signed-in user. The route decides the action, so a
//! flood from one address is stopped before a handler runs, whichever
//! accounts it signs in with.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use starling_services::Action;

use crate::extract::ClientIp;
use crate::state::AppState;

/// The limited action a request is, by its method and matched route.
pub fn action_for(method: &Method, route: &str) -> Option<Action> {
    let m = method.as_str();
    let action = match (m, route) {
        ("POST", "/api/posts") => Action::Post,
        ("PATCH" | "DELETE", "/api/posts/{id}" | "/api/comments/{id}") => Action::Edit,
        ("PATCH", "/api/profile") => Action::Edit,
        ("PUT", "/api/profile/password") => Action::Edit,
        ("POST", "/api/posts/{id}/comments") => Action::Comment,
        ("PUT" | "DELETE", "/api/posts/{id}/love" | "/api/comments/{id}/love") => Action::Love,
        ("PUT" | "DELETE", "/api/users/{id}/follow") => Action::Follow,
        ("PUT" | "DELETE", "/api/users/{id}/block" | "/api/users/{id}/mute") => Action::Block,
        ("POST", "/api/media") | ("PUT", "/api/profile/avatar") => Action::Upload,
        ("POST", "/api/reports") => Action::Report,
        ("POST", "/api/invites") | ("DELETE", "/api/invites/{code}") => Action::Invite,
        ("GET", "/api/search/posts" | "/api/users" | "/api/chat/search") => Action::Search,
        ("POST", "/api/chat/rooms") => Action::ChatGroup,
        ("POST", "/api/auth/password-reset" | "/api/auth/verify-email/resend") => {
            Action::PasswordReset
        }
        _ => return None,
    };
    Some(action)
}

/// Counts a limited request against its client's address; 429 past it.
pub async fn limit_by_address(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let action = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| action_for(req.method(), p.as_str()));
    let Some(action) = action else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let ip = match ClientIp::from_request_parts(&mut parts, &st).await {
        Ok(ClientIp(ip)) => ip,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = st.services.limits.check_address(action, &ip).await {
        return crate::error::ApiError(e).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_searches_are_limited_reads_are_not() {
        assert_eq!(action_for(&Method::POST, "/api/posts"), Some(Action::Post));
        assert_eq!(
            action_for(&Method::DELETE, "/api/posts/{id}"),
            Some(Action::Edit)
        );
        assert_eq!(
            action_for(&Method::GET, "/api/search/posts"),
            Some(Action::Search)
        );
        assert_eq!(action_for(&Method::GET, "/api/posts/{id}"), None);
        assert_eq!(action_for(&Method::GET, "/api/feed"), None);
        // Registration is limited per address by the service itself.
        assert_eq!(action_for(&Method::POST, "/api/auth/register"), None);
    }
}

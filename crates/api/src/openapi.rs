//! The OpenAPI 3.1 document. Paths and schemas are collected from the handlers'
//! annotations as they are routed (utoipa-axum), so the document cannot list a
//! route that does not exist or miss one that does.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Starling API",
        description = "Starling, a self-hosted social network. JSON in camelCase; ids are strings; \
            times are RFC 3339 UTC; lists are `{items, nextCursor}` with opaque cursors and `limit` 1-100; \
            errors are `{\"error\": {\"code\", \"message\", \"fields\"?}}`. Authenticate with \
            `Authorization: Bearer <accessToken>` or, in browsers, the session cookies (state-changing \
            requests then need the `X-CSRF-Token` header set to the `starling_csrf` cookie).",
        license(name = "AGPL-3.0-or-later"),
    ),
    paths(crate::routes::media::get_media),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "profile", description = "Your own profile"),
        (name = "users", description = "Users and follows"),
        (name = "posts", description = "Posts and loves"),
        (name = "comments", description = "Comments and replies"),
        (name = "feeds", description = "Home, community, user and tag feeds"),
        (name = "media", description = "Stored media"),
        (name = "notifications", description = "Notifications, unread counts and the live stream"),
        (name = "chat", description = "Chat rooms, messages, read marks and presence (live over Socket.IO at /socket.io; see docs/chat.md)"),
        (name = "push", description = "Web Push subscriptions"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("starling_access"))),
        );
    }
}

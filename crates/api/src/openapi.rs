//! The OpenAPI 3.1 document. Paths and schemas are collected from the handlers'
//! annotations as they are routed (utoipa-axum), so the document cannot list a
//! route that does not exist or miss one that does. [`complete`] then adds
//! what every operation of a kind can answer (401 where it is secured, 400 and
//! 415 where it takes JSON, ...) and the limits of ids and paging parameters,
//! so no annotation can forget them.

use serde_json::{Map, Value, json};
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
        (name = "moderation", description = "Reports, the moderation queue, account standing, roles, the audit log, registrations and invites (see docs/moderation.md)"),
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

/// A snowflake id as the server parses it: a positive 64-bit integer, in
/// decimal without sign or leading zero (1 to 9223372036854775807).
pub const ID_PATTERN: &str = "^(?:[1-9][0-9]{0,17}|[1-8][0-9]{18}|9[0-1][0-9]{17}|92[0-1][0-9]{16}\
|922[0-2][0-9]{15}|9223[0-2][0-9]{14}|92233[0-6][0-9]{13}|922337[0-1][0-9]{12}|92233720[0-2][0-9]{10}\
|922337203[0-5][0-9]{9}|9223372036[0-7][0-9]{8}|92233720368[0-4][0-9]{7}|922337203685[0-3][0-9]{6}\
|9223372036854[0-6][0-9]{5}|92233720368547[0-6][0-9]{4}|922337203685477[0-4][0-9]{3}\
|9223372036854775[0-7][0-9]{2}|922337203685477580[0-6]|9223372036854775807)$";

/// Path parameters that are ids.
fn is_id_param(name: &str) -> bool {
    name == "id" || name.ends_with("Id")
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// Documents `status` with the error body: adds it, or, when the handler's
/// annotation has it, completes its description with `description`.
fn add_error(responses: &mut Map<String, Value>, status: &str, description: &str) {
    match responses.get_mut(status) {
        None => {
            responses.insert(status.to_owned(), error_response(description));
        }
        Some(existing) => {
            let old = existing["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !old.contains(description) {
                existing["description"] = Value::String(if old.is_empty() {
                    description.to_owned()
                } else {
                    format!("{old}; or {description}")
                });
            }
        }
    }
}

/// The served document: `doc` with every operation completed (the statuses
/// that every operation of its kind can answer, the limits of ids and paging
/// parameters). JSON, because utoipa's types do not read their own output back.
pub fn complete(doc: &utoipa::openapi::OpenApi) -> Value {
    match serde_json::to_value(doc) {
        Ok(mut value) => {
            complete_json(&mut value);
            value
        }
        Err(e) => {
            tracing::error!(error = %e, "could not serialise the OpenAPI document");
            Value::Null
        }
    }
}

/// Ids in bodies: properties named `id` or `...Id` are ids, `...Ids` lists of them.
fn complete_schemas(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, prop) in props.iter_mut() {
            if name.ends_with("Ids") {
                prop["items"]["pattern"] = json!(ID_PATTERN);
                if name == "mediaIds" {
                    prop["uniqueItems"] = json!(true);
                }
            } else if is_id_param(name) && name != "clientMsgId" {
                prop["pattern"] = json!(ID_PATTERN);
            }
        }
    }
}

/// Where an id a response carries can be used next: (operation path, method,
/// status, where the id is in its body, the paths whose `{id}` it fills).
const LINKS: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "/api/auth/register",
        "post",
        "201",
        "/user/id",
        &[
            "/api/users/{id}",
            "/api/users/{id}/follow",
            "/api/users/{id}/followers",
            "/api/users/{id}/following",
            "/api/users/{id}/posts",
            "/api/users/{id}/presence",
        ],
    ),
    (
        "/api/posts",
        "post",
        "201",
        "/id",
        &[
            "/api/posts/{id}",
            "/api/posts/{id}/history",
            "/api/posts/{id}/love",
            "/api/posts/{id}/lovers",
            "/api/posts/{id}/comments",
        ],
    ),
    (
        "/api/posts/{id}/comments",
        "post",
        "201",
        "/id",
        &[
            "/api/comments/{id}",
            "/api/comments/{id}/love",
            "/api/comments/{id}/lovers",
            "/api/comments/{id}/replies",
        ],
    ),
    (
        "/api/chat/rooms",
        "post",
        "201",
        "/id",
        &[
            "/api/chat/rooms/{id}",
            "/api/chat/rooms/{id}/members",
            "/api/chat/rooms/{id}/messages",
            "/api/chat/rooms/{id}/read",
        ],
    ),
    (
        "/api/push/subscriptions",
        "post",
        "201",
        "/id",
        &["/api/push/subscriptions/{id}"],
    ),
    (
        "/api/notifications",
        "get",
        "200",
        "/items/0/id",
        &["/api/notifications/{id}/read"],
    ),
];

/// OpenAPI links from the operations that create a resource to those that use
/// its id (for clients, and for stateful testing).
fn add_links(doc: &mut Value) {
    for (path, method, status, pointer, targets) in LINKS {
        let mut links = Map::new();
        for target in *targets {
            let Some(item) = doc["paths"][*target].as_object() else {
                continue;
            };
            for (target_method, op) in item {
                let Some(operation_id) = op["operationId"].as_str() else {
                    continue;
                };
                links.insert(
                    format!("{target_method}_{operation_id}"),
                    json!({
                        "operationId": operation_id,
                        "parameters": {"id": format!("$response.body#{pointer}")}
                    }),
                );
            }
        }
        let pointer = format!(
            "/paths/{}/{method}/responses/{status}",
            path.replace('~', "~0").replace('/', "~1")
        );
        if let Some(response) = doc.pointer_mut(&pointer).and_then(Value::as_object_mut)
            && !links.is_empty()
        {
            response.insert("links".to_owned(), Value::Object(links));
        }
    }
}

/// OpenAPI requires each operation id to be unique, and clients key on it
/// (generated types, links). utoipa names an operation after its handler, so
/// two modules' `unread_count` would clash: each operation whose id is taken
/// more than once gets its tag (else its method and path) as a prefix.
fn unique_operation_ids(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let mut uses = std::collections::HashMap::<String, usize>::new();
    for item in paths.values() {
        for op in item.as_object().into_iter().flat_map(Map::values) {
            if let Some(id) = op["operationId"].as_str() {
                *uses.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().into_iter().flat_map(|m| m.iter_mut()) {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            if uses.get(id).copied().unwrap_or_default() < 2 {
                continue;
            }
            let prefix = match op["tags"][0].as_str() {
                Some(tag) => tag.to_owned(),
                None => format!("{method}{}", path.replace(['/', '{', '}', '-'], "_")),
            };
            op["operationId"] = Value::String(format!("{prefix}_{id}"));
        }
    }
}

fn complete_json(doc: &mut Value) {
    unique_operation_ids(doc);
    complete_schemas(doc);
    add_links(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                complete_operation(path, method, op);
            }
        }
    }
}

fn complete_operation(path: &str, method: &str, op: &mut Value) {
    let security = op["security"].as_array().cloned().unwrap_or_default();
    let signed_in_only = !security.is_empty()
        && security
            .iter()
            .all(|r| r.as_object().is_some_and(|o| !o.is_empty()));
    let optional_auth = security
        .iter()
        .any(|r| r.as_object().is_some_and(Map::is_empty));
    let json_body = !op["requestBody"]["content"]["application/json"].is_null();
    let write = method != "get";
    let api = path.starts_with("/api/");
    let mut path_params = false;
    let mut query_params = false;
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut() {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            match p["in"].as_str() {
                Some("path") => {
                    path_params = true;
                    if is_id_param(&name) {
                        p["schema"] = json!({"type": "string", "pattern": ID_PATTERN});
                    } else if name == "tag" {
                        // `#` optional; letters, digits and underscores (text::normalise_tag).
                        p["schema"] = json!({"type": "string", "pattern": "^#*\\w{1,50}$"});
                    }
                }
                Some("query") => {
                    query_params = true;
                    if name == "limit" {
                        p["schema"] = json!({
                            "type": ["integer", "null"], "format": "int64",
                            "minimum": 1, "maximum": 100, "default": 20
                        });
                    } else if name == "since" {
                        // Empty is the same as absent.
                        let id = &ID_PATTERN[1..ID_PATTERN.len() - 1];
                        p["schema"] = json!({"type": "string", "pattern": format!("^(?:{id})?$")});
                    } else if name == "roomId" {
                        p["schema"] = json!({"type": "string", "pattern": ID_PATTERN});
                    } else if name == "ids" {
                        // Comma-separated, at most 100; empty items are skipped.
                        let id = &ID_PATTERN[1..ID_PATTERN.len() - 1];
                        p["schema"] = json!({
                            "type": "string",
                            "pattern": format!("^,*(?:{id},+){{0,99}}(?:{id})?,*$")
                        });
                    }
                }
                Some("header") if name == "Idempotency-Key" => {
                    p["schema"] = json!({"type": "string", "pattern": "^[\\x21-\\x7E]{1,128}$"});
                }
                _ => {}
            }
        }
    }
    // A body that may be left out (`Option<T>`) is still an object when sent.
    if let Some(schema) = op.pointer_mut("/requestBody/content/application~1json/schema") {
        let object = schema["oneOf"].as_array().and_then(|alts| {
            alts.iter()
                .find(|a| a["type"] != "null")
                .cloned()
                .filter(|_| alts.iter().any(|a| a["type"] == "null"))
        });
        if let Some(object) = object {
            *schema = object;
            op["requestBody"]["required"] = json!(false);
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    // OpenAPI requires a description on every response.
    for (status, response) in responses.iter_mut() {
        if response["description"].as_str().is_none_or(str::is_empty) {
            let text = match status.as_str() {
                "200" => "OK",
                "201" => "Created",
                "204" => "Done; no body",
                "404" => "`not_found`: no such resource, or not one you may see",
                _ => "See the error `code`",
            };
            response["description"] = Value::String(text.to_owned());
        }
    }
    if signed_in_only {
        add_error(
            responses,
            "401",
            "`unauthenticated`: not signed in; `invalid_token`/`token_expired`: the access token is malformed or expired; `session_ended`: its session was signed out",
        );
    } else if optional_auth {
        add_error(
            responses,
            "401",
            "`invalid_token`/`token_expired`/`session_ended`: an access token was sent but is malformed, expired or of an ended session (send none to read anonymously)",
        );
    }
    if (signed_in_only || optional_auth) && write {
        add_error(
            responses,
            "403",
            "signed in by cookie without a matching `X-CSRF-Token` header",
        );
    }
    if path_params {
        add_error(
            responses,
            "400",
            "`invalid_path`: a malformed path parameter",
        );
    }
    if query_params {
        add_error(
            responses,
            "400",
            "`invalid_query`: an unknown or malformed query parameter; `validation_failed`: a parameter out of its range (`limit` is 1-100); `invalid_cursor`: a cursor that no page gave",
        );
    }
    if json_body {
        add_error(
            responses,
            "400",
            "`malformed_json`: the body is not JSON; `validation_failed`: not a JSON object, or a field is missing, unknown, of the wrong type or invalid (see `fields`)",
        );
        add_error(
            responses,
            "413",
            "`payload_too_large`: the body is over the size limit",
        );
        add_error(
            responses,
            "415",
            "`unsupported_media_type`: the body is not `application/json`",
        );
    }
    // Every request: one not complete within `request_timeout_secs` (a body
    // sent slowly, say).
    add_error(
        responses,
        "408",
        "`request_timeout`: the request was not complete in time",
    );
    if api && write {
        add_error(
            responses,
            "429",
            "`rate_limited`: too many requests; retry after the `Retry-After` seconds",
        );
    }
    // Every API operation but the two that answer from memory reads a backend.
    if api && !["/api/auth/jwks", "/api/push/vapid-public-key"].contains(&path) {
        add_error(
            responses,
            "503",
            "`unavailable`: a backend (database, cache, broker) is not answering",
        );
    }
}

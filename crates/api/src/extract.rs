//! Extractors whose every rejection is the JSON error body: request bodies,
//! query strings, path parameters, the authenticated user, the client address.

use std::net::SocketAddr;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use starling_core::{Error, UserId};

use crate::error::ApiError;
use crate::state::AppState;

pub const ACCESS_COOKIE: &str = "starling_access";
pub const REFRESH_COOKIE: &str = "starling_refresh";
pub const CSRF_COOKIE: &str = "starling_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body, which must be an object. Rejections: 415 without a JSON
/// content type, 413 over the body limit, 400 `malformed_json` for broken
/// syntax, 400 `validation_failed` (with the offending field's path) for a
/// body that is not an object, wrong types, missing or unknown fields.
pub struct Json<T>(pub T);

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(Error::PayloadTooLarge {
            message: "the request body is too large".into(),
        })
    } else {
        ApiError(Error::bad_request(
            "invalid_body",
            format!("the request body could not be read: {rejection}"),
        ))
    }
}

fn is_json(parts_headers: &axum::http::HeaderMap) -> bool {
    parts_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError(Error::bad_request(
        "malformed_json",
        format!("the request body is not valid JSON: {e}"),
    ))
}

/// Every request body is a JSON object. serde would otherwise fill a struct
/// from an array positionally, so `["hello"]` would be taken for `{"text": "hello"}`.
/// Well-formed JSON of another kind is a validation error; broken syntax stays
/// `malformed_json` (the parser reports it).
fn require_object(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None | Some(b'{') => Ok(()),
        Some(_) => match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err(ApiError(Error::field(
                "body",
                "the request body must be a JSON object",
            ))),
            Err(e) => Err(malformed(&e)),
        },
    }
}

/// Parses a JSON object, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    require_object(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(ApiError(match inner.classify() {
                serde_json::error::Category::Data => {
                    let msg = inner.to_string();
                    // serde appends " at line L column C"; the client needs the field.
                    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
                    let field = if path == "." || path.is_empty() {
                        "body".to_owned()
                    } else {
                        path
                    };
                    Error::field(&field, msg)
                }
                _ => return Err(malformed(&inner)),
            }));
        }
    };
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError(Error::UnsupportedMediaType {
                message: "send the body as application/json".into(),
            }));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(Json)
    }
}

/// Like [`Json`], but an empty body is `None` (e.g. refresh by cookie).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(ApiError(Error::UnsupportedMediaType {
                message: "send the body as application/json".into(),
            }));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// Query parameters; a bad one is a 400 with the decoder's explanation.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| ApiError(Error::bad_request("invalid_query", e.body_text())))
    }
}

/// A path parameter; a malformed one is a 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError(Error::bad_request("invalid_path", e.body_text())))
    }
}

pub(crate) fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Constant-time comparison for the CSRF token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Cookie-authenticated state changes must echo the CSRF cookie in a header
/// (double submit): another site can make the browser send our cookies, but
/// cannot read them to set the header.
pub fn check_csrf(parts: &Parts) -> Result<(), ApiError> {
    if is_safe(&parts.method) {
        return Ok(());
    }
    let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match (cookie(parts, CSRF_COOKIE), header) {
        (Some(c), Some(h)) if !c.is_empty() && same(c, h) => Ok(()),
        _ => Err(ApiError(Error::forbidden(
            "missing or wrong X-CSRF-Token header for a cookie-authenticated request",
        ))),
    }
}

/// The refresh token from the cookie, CSRF-checked.
pub fn refresh_cookie(parts: &Parts) -> Result<Option<String>, ApiError> {
    match cookie(parts, REFRESH_COOKIE) {
        Some(t) if !t.is_empty() => {
            check_csrf(parts)?;
            Ok(Some(t.to_owned()))
        }
        _ => Ok(None),
    }
}

/// The token of an `Authorization: Bearer` header: None without the header,
/// an error when it is there but not a Bearer token.
pub(crate) fn bearer_token(parts: &Parts) -> Result<Option<&str>, Error> {
    let Some(h) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    h.to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or_else(|| {
            Error::unauthorized(
                "invalid_token",
                "the Authorization header must be 'Bearer <token>'",
            )
        })
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<UserId>, ApiError> {
    if let Some(token) = bearer_token(parts)? {
        return Ok(Some(state.services.verifier.verify(token)?));
    }
    if let Some(token) = cookie(parts, ACCESS_COOKIE).filter(|t| !t.is_empty()) {
        let user = state.services.verifier.verify(token)?;
        check_csrf(parts)?;
        return Ok(Some(user));
    }
    Ok(None)
}

/// The signed-in user (Bearer token or session cookie); 401 otherwise.
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state)?
            .map(AuthUser)
            .ok_or_else(|| ApiError(Error::unauthorized("unauthenticated", "sign in to do this")))
    }
}

/// The signed-in user if there is one. A token that is present but invalid is
/// still a 401, so clients learn to refresh it.
pub struct MaybeUser(pub Option<UserId>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).map(MaybeUser)
    }
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop
/// when the server is configured to trust its proxy.
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        if state.config.trust_proxy
            && let Some(ip) = forwarded
        {
            return Ok(ClientIp(ip.to_owned()));
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientIp(ip))
    }
}

fn multipart_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(Error::PayloadTooLarge {
            message: "the file is too large".into(),
        })
    } else {
        ApiError(Error::bad_request("invalid_multipart", text))
    }
}

/// The `file` field of a multipart/form-data body. Rejections: 415 when the
/// body is not multipart, 413 over the route's limit, 400 without a `file`.
pub struct FileField(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for FileField {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mut multipart = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError(Error::UnsupportedMediaType {
                    message: format!("send the file as multipart/form-data: {}", e.body_text()),
                })
            })?;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| multipart_error(e.status(), e.body_text()))?
        {
            if field.name() == Some("file") {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(e.status(), e.body_text()))?;
                return Ok(FileField(bytes));
            }
        }
        Err(ApiError(Error::field("file", "is required")))
    }
}

//! Extractors whose every rejection is the JSON error body: request bodies,
//! query strings, path parameters, the authenticated user, the client address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum_extra::extract::cookie::CookieJar;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use starling_core::{Error, UserId};
use starling_services::jwt::Verified;

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

/// The session cookie called `name`. Over HTTPS the server sets it with a
/// `__Host-` (or, for the refresh cookie's narrower path, `__Secure-`)
/// prefix, which only a secure origin can set; such a one wins over a plain
/// one (a left-over from before the site moved to HTTPS).
pub(crate) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    let jar = CookieJar::from_headers(&parts.headers);
    ["__Host-", "__Secure-", ""]
        .iter()
        .find_map(|prefix| jar.get(&format!("{prefix}{name}")))
        .map(|c| c.value().to_owned())
}

/// Constant-time comparison of secrets (the CSRF token, the ops token).
pub(crate) fn same(a: &str, b: &str) -> bool {
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
        (Some(c), Some(h)) if !c.is_empty() && same(&c, h) => Ok(()),
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
            Ok(Some(t))
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

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Verified>, ApiError> {
    if let Some(token) = bearer_token(parts)? {
        return Ok(Some(state.services.sessions.authenticate(token).await?));
    }
    if let Some(token) = cookie(parts, ACCESS_COOKIE).filter(|t| !t.is_empty()) {
        let v = state.services.sessions.authenticate(&token).await?;
        check_csrf(parts)?;
        return Ok(Some(v));
    }
    Ok(None)
}

fn unauthenticated() -> ApiError {
    ApiError(Error::unauthorized("unauthenticated", "sign in to do this"))
}

/// The signed-in user (Bearer token or session cookie); 401 otherwise.
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state)
            .await?
            .map(|v| AuthUser(v.user))
            .ok_or_else(unauthenticated)
    }
}

/// The signed-in user's access token as verified: its session and expiry.
pub struct AuthSession(pub Verified);

impl FromRequestParts<AppState> for AuthSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state)
            .await?
            .map(AuthSession)
            .ok_or_else(unauthenticated)
    }
}

/// The session of the request's access token if it is valid; None for no
/// token or one that is not (expired, ended): for signing out, which must
/// work either way.
pub struct ValidSession(pub Option<Verified>);

impl FromRequestParts<AppState> for ValidSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ValidSession(
            authenticate(parts, state).await.ok().flatten(),
        ))
    }
}

/// The signed-in user if there is one. A token that is present but invalid is
/// still a 401, so clients learn to refresh it.
pub struct MaybeUser(pub Option<UserId>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeUser(authenticate(parts, state).await?.map(|v| v.user)))
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port.
fn hop_addr(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client of a request that reached us from `peer`: with `trusted`
/// proxies, the rightmost `X-Forwarded-For` address that is not one of them.
/// Entries left of it are whatever the client chose to send, so they are
/// never believed; nor is the header at all when the peer is not a proxy.
pub fn client_addr(peer: IpAddr, forwarded: &[&str], trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    for hop in forwarded.iter().rev().flat_map(|v| v.rsplit(',')) {
        match hop_addr(hop) {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ip,
            // Garbage in the chain: the last proxy we believe handed it over.
            None => return client,
        }
    }
    client
}

/// The client's address: the socket peer or, when the server is configured
/// to trust its proxies, the rightmost `X-Forwarded-For` address that is not
/// one of `trusted_proxies`.
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
        else {
            return Ok(ClientIp("unknown".into()));
        };
        if !state.config.trust_proxy {
            return Ok(ClientIp(peer.to_canonical().to_string()));
        }
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let ip = client_addr(peer, &forwarded, &state.config.trusted_proxies);
        Ok(ClientIp(ip.to_string()))
    }
}

/// The client's address and User-Agent, which name a session.
pub struct ClientInfo(pub starling_services::accounts::Client);

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientIp(address) = ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(512)
            .collect();
        Ok(ClientInfo(starling_services::accounts::Client {
            address,
            user_agent,
        }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn parts_with_cookies(lines: &[&str]) -> Parts {
        let mut req = axum::http::Request::builder();
        for line in lines {
            req = req.header(header::COOKIE, *line);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_prefixed_cookie_wins_over_a_plain_one() {
        // Plain first, the prefixed one later (and on another header line).
        let parts =
            parts_with_cookies(&["starling_access=old; other=x", "__Host-starling_access=new"]);
        assert_eq!(cookie(&parts, ACCESS_COOKIE).as_deref(), Some("new"));
        let parts = parts_with_cookies(&["__Secure-starling_refresh=new; starling_refresh=old"]);
        assert_eq!(cookie(&parts, REFRESH_COOKIE).as_deref(), Some("new"));
        // Alone, the plain one is taken; other names are not.
        let parts = parts_with_cookies(&["a=1;starling_csrf=tok; b=2"]);
        assert_eq!(cookie(&parts, CSRF_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&parts, ACCESS_COOKIE), None);
        assert_eq!(cookie(&parts_with_cookies(&[]), ACCESS_COOKIE), None);
        // A name that merely ends like ours is someone else's.
        let parts = parts_with_cookies(&["x_starling_access=no"]);
        assert_eq!(cookie(&parts, ACCESS_COOKIE), None);
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let lb = "127.0.0.1".parse().unwrap();
        let trusted = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        // The client wrote the first entry; the proxy appended the real peer.
        assert_eq!(
            client_addr(lb, &["6.6.6.6, 203.0.113.7"], &trusted).to_string(),
            "203.0.113.7"
        );
        // Two proxies, and headers split over two lines.
        assert_eq!(
            client_addr(lb, &["6.6.6.6", "203.0.113.7, 10.1.2.3"], &trusted).to_string(),
            "203.0.113.7"
        );
        // Only proxies: the leftmost of them.
        assert_eq!(
            client_addr(lb, &["10.9.9.9"], &trusted).to_string(),
            "10.9.9.9"
        );
        // Garbage: the last proxy believed.
        assert_eq!(
            client_addr(lb, &["203.0.113.7, nonsense, 10.1.2.3"], &trusted).to_string(),
            "10.1.2.3"
        );
        // A peer that is not a proxy is the client, whatever it says.
        let direct = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_addr(direct, &["6.6.6.6"], &trusted).to_string(),
            "198.51.100.1"
        );
        // Ports and IPv4-mapped IPv6.
        assert_eq!(
            client_addr(
                "::ffff:127.0.0.1".parse().unwrap(),
                &["[2001:db8::1]:4711"],
                &trusted
            )
            .to_string(),
            "2001:db8::1"
        );
    }
}

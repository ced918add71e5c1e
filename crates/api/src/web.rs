//! The browser app, embedded in the binary at build time (see `build.rs`).
//!
//! It answers what no route matched: the app's files, and `index.html` for
//! any other page address so client-side routes survive a reload. Hashed
//! files under `/assets/` are cached for a year; everything else is
//! revalidated (`no-cache`, with an ETag). `/api/...` addresses, other
//! methods than GET and HEAD, and missing files keep the JSON 404.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::not_found_fallback;
use crate::state::AppState;

/// One embedded file.
pub struct Asset {
    /// Absolute path, e.g. `/assets/index-3f2a1b.js`.
    pub path: &'static str,
    pub body: &'static [u8],
    /// The same bytes gzipped, when that is smaller.
    pub gzip: Option<&'static [u8]>,
    pub content_type: &'static str,
    /// Quoted, e.g. `"\"9a0f...\""`.
    pub etag: &'static str,
}

mod embedded {
    use super::Asset;
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

pub use embedded::PLACEHOLDER;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The embedded file at `path`, if any.
pub fn asset(path: &str) -> Option<&'static Asset> {
    embedded::ASSETS
        .binary_search_by(|a| a.path.cmp(path))
        .ok()
        .and_then(|i| embedded::ASSETS.get(i))
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// A page address of the app rather than a file: no file extension in the
/// last segment, and not under the directories that only hold files (or,
/// for `/socket.io/`, belong to the realtime role).
fn is_page(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    !last.contains('.')
        && !["/assets/", "/media/", "/socket.io/"]
            .iter()
            .any(|dir| path.starts_with(dir))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/") == etag
            })
        })
}

/// The browser app's Content-Security-Policy: its own scripts and styles
/// only, no framing, and images and media also from `public_url` (a CDN)
/// and the `blob:` previews of files about to be uploaded.
pub fn content_security_policy(public_url: &str) -> String {
    let media_origin = url_origin(public_url)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' blob: data:{media_origin}; media-src 'self' blob:{media_origin}; \
         connect-src 'self'; font-src 'self'; worker-src 'self'; manifest-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of an http(s) URL; None for anything else.
fn url_origin(u: &str) -> Option<&str> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))?;
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_len];
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    ok.then(|| &u[..u.len() - rest.len() + host_len])
}

fn serve(a: &'static Asset, method: &Method, req: &HeaderMap, csp: &str) -> Response {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let cache = if a.path.starts_with("/assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, HeaderValue::from_static(a.etag));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if a.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if not_modified(req, a.etag) {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    let body = match a.gzip {
        Some(gz) if accepts_gzip(req) => {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gz
        }
        _ => a.body,
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if method == Method::HEAD {
        return (StatusCode::OK, h).into_response();
    }
    (StatusCode::OK, h, body).into_response()
}

/// The router's fallback on nodes that serve the API.
pub async fn fallback(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if is_api(path) || !(method == Method::GET || method == Method::HEAD) {
        return not_found_fallback().await.into_response();
    }
    let csp = content_security_policy(&st.config.public_url);
    if let Some(a) = asset(path) {
        return serve(a, &method, &headers, &csp);
    }
    if is_page(path)
        && let Some(index) = asset("/index.html")
    {
        return serve(index, &method, &headers, &csp);
    }
    not_found_fallback().await.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_has_an_index_page_and_sorted_assets() {
        assert!(asset("/index.html").is_some());
        assert!(embedded::ASSETS.windows(2).all(|w| w[0].path < w[1].path));
    }

    #[test]
    fn the_policy_names_the_media_origin_only() {
        let p = content_security_policy("https://cdn.example.org/media?x=1");
        assert!(
            p.contains("img-src 'self' blob: data: https://cdn.example.org;"),
            "{p}"
        );
        assert!(p.contains("frame-ancestors 'none'"), "{p}");
        let p = content_security_policy("");
        assert!(p.contains("img-src 'self' blob: data:;"), "{p}");
        // Nothing that could smuggle another directive in.
        let p = content_security_policy("https://a.example; script-src *");
        assert!(!p.contains("script-src *"), "{p}");
    }

    #[test]
    fn pages_and_files_are_told_apart() {
        assert!(is_page("/"));
        assert!(is_page("/u/ada/followers"));
        assert!(is_page("/p/7212470313345024"));
        assert!(!is_page("/assets/missing-abc123.js"));
        assert!(!is_page("/favicon.ico"));
        assert!(!is_page("/media/avatars/1/2"));
        assert!(!is_page("/socket.io/"));
        assert!(is_api("/api"));
        assert!(is_api("/api/nope"));
        assert!(!is_api("/apiary"));
    }

    #[test]
    fn gzip_is_offered_only_when_accepted() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&h));
    }
}

//! The point-of-need web page: `GET /` and its three static files under `/static/`.
//!
//! The page is plain HTML, CSS and JavaScript with no build step, embedded in the binary with
//! `include_str!` so that the server is self-contained. The script calls the JSON API and keeps the
//! page's state in the query string (`/?q=asthma&evidence_level=guideline&page=2`), so every view
//! can be shared and bookmarked.
//!
//! Everything is served with a strict Content-Security-Policy: scripts, styles and requests only
//! from this origin, no inline script or style, no frames, and Trusted Types enforced, so the
//! script cannot write HTML strings into the page at all (it builds nodes; the highlighted titles
//! and snippets from the API are turned into text and `<mark>` nodes, never parsed as HTML).
//! Static files carry a content hash in their URL (`/static/app.js?v=...`) and are cached for a
//! year; the page itself is revalidated on every load (`no-cache` with an `ETag`).

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use model::EvidenceLevel;

use crate::error::{ApiCode, ApiError};
use crate::AppState;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE_CSS: &str = include_str!("../static/style.css");

/// The Content-Security-Policy of every page and static file.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; \
require-trusted-types-for 'script'; trusted-types 'none'";

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/static/{file}", get(asset))
}

/// 64-bit FNV-1a, for ETags and cache-busting versions (not for security).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn version(s: &str) -> String {
    format!("{:016x}", fnv1a(s))
}

/// Escapes text for an HTML attribute value in double quotes.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The link resolver base URL if it is an absolute http(s) URL, else nothing (the page then offers
/// no full-text link rather than a broken one).
fn link_resolver(state: &AppState) -> String {
    state
        .config()
        .server
        .link_resolver
        .as_deref()
        .map(str::trim)
        .filter(|u| {
            (u.starts_with("https://") || u.starts_with("http://"))
                && !u.chars().any(|c| c.is_whitespace() || c.is_control())
        })
        .unwrap_or_default()
        .to_string()
}

/// The evidence levels and their labels, strongest first, as JSON for the page's filter list.
fn levels_json() -> &'static str {
    static LEVELS: OnceLock<String> = OnceLock::new();
    LEVELS.get_or_init(|| {
        let pairs: Vec<[&str; 2]> = EvidenceLevel::ALL
            .iter()
            .map(|l| [l.as_str(), l.label()])
            .collect();
        serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
    })
}

/// The page, with the server's settings in data attributes on `<body>`.
pub fn render_index(state: &AppState) -> String {
    static VERSIONS: OnceLock<(String, String)> = OnceLock::new();
    let (css_v, js_v) = VERSIONS.get_or_init(|| (version(STYLE_CSS), version(APP_JS)));
    INDEX_HTML
        .replace("{{CSS_V}}", css_v)
        .replace("{{JS_V}}", js_v)
        .replace("{{LINK_RESOLVER}}", &attr(&link_resolver(state)))
        .replace(
            "{{MAX_EXPORT}}",
            &crate::export::max_export(state).to_string(),
        )
        .replace("{{LEVELS}}", &attr(levels_json()))
}

fn security_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// Answers `body` with its type and caching, or 304 when the client's `If-None-Match` matches.
fn serve(
    headers: &HeaderMap,
    body: String,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let etag = format!("\"{}\"", version(&body));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    security_headers(&mut resp);
    resp
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(
        &headers,
        render_index(&state),
        "text/html; charset=utf-8",
        "no-cache",
    )
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let (body, content_type) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        _ => {
            return ApiError::new(ApiCode::NotFound, format!("no static file {file:?}"))
                .into_response()
        }
    };
    serve(
        &headers,
        body.to_string(),
        content_type,
        "public, max-age=31536000, immutable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_small_and_complete() {
        let total = INDEX_HTML.len() + APP_JS.len() + STYLE_CSS.len();
        assert!(total < 40_000, "page is {total} bytes");
        for placeholder in [
            "{{CSS_V}}",
            "{{JS_V}}",
            "{{LINK_RESOLVER}}",
            "{{MAX_EXPORT}}",
            "{{LEVELS}}",
        ] {
            assert!(INDEX_HTML.contains(placeholder), "{placeholder}");
        }
        assert!(!INDEX_HTML.contains("<script>"), "no inline script");
        assert!(!INDEX_HTML.contains("style="), "no inline style");
        assert!(
            !APP_JS.contains("innerHTML"),
            "the script never parses HTML strings"
        );
    }

    #[test]
    fn attributes_are_escaped() {
        assert_eq!(attr(r#"a"b<c>&'"#), "a&quot;b&lt;c&gt;&amp;&#39;");
        assert!(levels_json().starts_with(r#"[["guideline","Guideline"]"#));
    }
}

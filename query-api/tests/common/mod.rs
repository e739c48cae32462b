//! Shared test helpers: a prepared app over a temporary data directory.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use query_api::AppState;
use tower::ServiceExt;

/// An app whose index was built from the starter corpus in a temporary directory.
pub struct TestApp {
    pub router: Router,
    #[allow(dead_code)]
    pub state: AppState,
    pub _dir: tempfile::TempDir,
}

/// The tests' configuration: data in `dir`, a small indexing budget, everything else default.
pub fn test_config(dir: &std::path::Path) -> indexer::Config {
    let mut config = indexer::Config::default();
    config.server.data = dir.to_path_buf();
    config.index.memory_mb = 32;
    config
}

pub async fn starter_app() -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path());
    let state = AppState::new(config).expect("state");
    state.prepare().await.expect("prepare");
    TestApp {
        router: query_api::app(state.clone()),
        state,
        _dir: dir,
    }
}

/// GETs a path; returns status and JSON body.
pub async fn get(router: &Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let resp = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{uri}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The starter records, as the tests' ground truth.
pub fn starter() -> Vec<model::Record> {
    let mut v = indexer::starter::records().expect("starter corpus parses");
    for r in &mut v {
        r.normalise();
    }
    v
}

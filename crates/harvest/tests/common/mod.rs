//! Helpers shared by the connector tests: the real responses in `../shared/data/sources`, our own
//! fixtures, a fast fetcher, and a fake server on 127.0.0.1 (wiremock) that records requests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use harvest::connector::Connector;
use harvest::fetch::{FetchConfig, Fetcher};
use harvest::{HarvestError, Page, SourceConfig, SourceKind};
use wiremock::{MockServer, Request};

/// The real third-party responses, beside the repository.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/sources");
/// Our own fixtures, in the sources' real formats.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/harvest");

/// Reads a file of the shared real data, or says why the test is skipped.
pub fn data(rel: &str) -> Option<Vec<u8>> {
    let p = Path::new(DATA).join(rel);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipping: shared data {} is absent ({e})", p.display());
            None
        }
    }
}

/// Every file of a shared data folder (sorted), or `None` (with a message) when it is absent.
pub fn data_dir(rel: &str) -> Option<Vec<PathBuf>> {
    let dir = Path::new(DATA).join(rel);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: shared data folder {} is absent", dir.display());
        return None;
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Some(files)
}

/// Reads one of our fixtures.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(FIXTURES).join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A fetcher with no rate limit and short backoffs, for a local server.
pub fn fetcher() -> Fetcher {
    Fetcher::new(FetchConfig {
        rate_per_s: 0.0,
        max_retries: 1,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        ..FetchConfig::default()
    })
    .unwrap()
}

/// A source config pointing at the fake server.
pub fn source(name: &str, kind: SourceKind, base_url: &str) -> SourceConfig {
    SourceConfig::new(name, kind, base_url)
}

/// Runs a harvest to its end or its first error; returns the pages handed out and the error.
pub async fn drain(c: &mut Connector, f: &Fetcher) -> (Vec<Page>, Option<HarvestError>) {
    let mut pages = Vec::new();
    for _ in 0..1000 {
        match c.next_page(f).await {
            Ok(Some(p)) => pages.push(p),
            Ok(None) => return (pages, None),
            Err(e) => return (pages, Some(e)),
        }
    }
    panic!("harvest did not end after 1000 pages");
}

/// Runs a harvest that must succeed.
pub async fn harvest(
    cfg: &SourceConfig,
    checkpoint: Option<&serde_json::Value>,
    full: bool,
) -> Vec<Page> {
    let mut c = Connector::new(cfg, checkpoint, full).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    if let Some(e) = err {
        panic!("harvest failed: {e}");
    }
    // The end is sticky.
    assert!(c.next_page(&fetcher()).await.unwrap().is_none());
    pages
}

/// Record ids of all pages, in order.
pub fn ids(pages: &[Page]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.parsed.records.iter().map(|r| r.id.clone()))
        .collect()
}

/// The requests the server received (optionally only those for one path).
pub async fn requests(server: &MockServer, path: Option<&str>) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| path.is_none_or(|p| r.url.path() == p))
        .collect()
}

/// A query parameter of a request.
pub fn param(r: &Request, key: &str) -> Option<String> {
    r.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The last page's checkpoint.
pub fn last_checkpoint(pages: &[Page]) -> serde_json::Value {
    pages
        .last()
        .map(|p| p.checkpoint.clone())
        .unwrap_or_default()
}

/// An HTML error page, as proxies and overloaded servers send with status 200.
pub const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Service unavailable</title></head>\n<body><h1>Sorry</h1><p>The service is temporarily unavailable.<br>Please try again later.</p></body></html>\n";

/// The first `n` bytes of a body: a response cut off mid-way.
pub fn truncated(bytes: &[u8], n: usize) -> Vec<u8> {
    bytes[..n.min(bytes.len())].to_vec()
}

/// Runs `parse` on many truncations and single-byte corruptions of `bytes`: it may fail, never panic.
pub fn never_panics<T, E>(bytes: &[u8], parse: impl Fn(&[u8]) -> Result<T, E>) {
    let step = (bytes.len() / 150).max(1);
    for cut in (0..bytes.len()).step_by(step) {
        let _ = parse(&bytes[..cut]);
        let mut flipped = bytes.to_vec();
        flipped[cut] = match flipped[cut] {
            b'<' => b'>',
            b'"' => b'{',
            b'&' => b'<',
            _ => b'<',
        };
        let _ = parse(&flipped);
    }
}

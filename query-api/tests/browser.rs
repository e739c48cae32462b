//! The web page in a real headless Chromium, driven through chromedriver (WebDriver) with
//! fantoccini, against the real server on a local port over the starter corpus.
//!
//! It opens a shareable URL, checks that the page shows the API's first hit first with its
//! evidence badge, adds a filter and pages using only the keyboard, goes back and forward through
//! the history, saves screenshots at desktop width and at 320 px to `target/test-output/`, and runs
//! axe-core in the page, failing on any serious or critical accessibility violation.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`; or set
//! `CHROME_BIN` and `CHROMEDRIVER`). Without them the test prints why it skipped and passes.
//!
//! axe-core (MPL-2.0) is not vendored: the test uses `AXE_CORE_JS` (a path to `axe.min.js`) if
//! set, else `target/test-assets/axe-core-<version>/package/axe.min.js`, which it fetches once
//! with `npm pack axe-core@<version>` (the npm registry only; never at page-load time).

#[allow(dead_code)]
#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use query_api::AppState;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The axe-core release the test runs.
const AXE_VERSION: &str = "4.14.1";

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

fn tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    match std::env::var_os(env) {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => on_path(names),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The axe-core script, fetched into `target/` with npm on first use.
fn axe_source() -> String {
    if let Some(p) = std::env::var_os("AXE_CORE_JS") {
        return std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("AXE_CORE_JS={p:?}: {e}"));
    }
    let dir = target_dir()
        .join("test-assets")
        .join(format!("axe-core-{AXE_VERSION}"));
    let file = dir.join("package/axe.min.js");
    if !file.is_file() {
        std::fs::create_dir_all(&dir).expect("create target/test-assets");
        let npm = on_path(&["npm"]).unwrap_or_else(|| {
            panic!("axe-core is needed for the accessibility check: install npm, or set AXE_CORE_JS to an axe.min.js {AXE_VERSION}")
        });
        let out = Command::new(npm)
            .args(["pack", &format!("axe-core@{AXE_VERSION}"), "--silent"])
            .current_dir(&dir)
            .output()
            .expect("run npm pack");
        assert!(
            out.status.success(),
            "npm pack axe-core failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tgz = dir.join(format!("axe-core-{AXE_VERSION}.tgz"));
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&tgz)
            .arg("-C")
            .arg(&dir)
            .arg("package/axe.min.js")
            .arg("package/LICENSE")
            .status()
            .expect("run tar");
        assert!(status.success(), "could not unpack {}", tgz.display());
    }
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_chromedriver(driver: &Path) -> (Killed, String) {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let guard = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (guard, format!("http://127.0.0.1:{port}"))
}

async fn connect(webdriver: &str, chromium: &Path, profile: &Path) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium.display().to_string(), "args": args }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a WebDriver session")
}

/// Runs `script` until it returns something other than null or false.
async fn wait_js(c: &Client, script: &str, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = c.execute(script, vec![]).await.expect("script runs");
        if !v.is_null() && v != Value::Bool(false) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn press(c: &Client, key: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    c.perform_actions(keys).await.expect("key press");
}

async fn active_matches(c: &Client, selector: &str) -> bool {
    c.execute(
        "return document.activeElement !== null && document.activeElement.matches(arguments[0]);",
        vec![json!(selector)],
    )
    .await
    .expect("script runs")
        == Value::Bool(true)
}

/// Presses Tab until the focused element matches `selector`; returns how many presses it took.
async fn tab_to(c: &Client, selector: &str) -> usize {
    for n in 1..=80 {
        press(c, Key::Tab.into()).await;
        if active_matches(c, selector).await {
            return n;
        }
    }
    panic!("Tab never reached {selector}");
}

/// Waits until the page shows `first_id` as its first hit and is not busy.
async fn wait_first_hit(c: &Client, first_id: &str) {
    wait_js(
        c,
        &format!(
            "const r = document.getElementById('results'); const li = r.querySelector(':scope > li');
             return !r.hasAttribute('aria-busy') && li !== null && li.dataset.id === {};",
            json!(first_id)
        ),
        &format!("{first_id} to be shown first"),
    )
    .await;
}

fn ids(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_string())
        .collect()
}

async fn screenshot(c: &Client, name: &str) -> PathBuf {
    c.execute("window.scrollTo(0, 0);", vec![])
        .await
        .expect("scroll to the top");
    let dir = target_dir().join("test-output");
    std::fs::create_dir_all(&dir).expect("create target/test-output");
    let png = c.screenshot().await.expect("screenshot");
    let path = dir.canonicalize().unwrap_or(dir).join(name);
    std::fs::write(&path, png).expect("write screenshot");
    path
}

/// Runs axe-core (WCAG 2.0-2.2 A and AA rules plus best practices) and returns the serious and
/// critical violations, one line each.
async fn axe(c: &Client, source: &str) -> Vec<String> {
    let loaded = c
        .execute(
            &format!("{source}\n;return typeof window.axe === 'object';"),
            vec![],
        )
        .await
        .expect("axe loads");
    assert_eq!(loaded, Value::Bool(true), "axe-core did not load");
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })
               .then(r => done({ passes: r.passes.length, violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '')) })) }))
               .catch(e => done({ passes: 0, violations: [{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }] }));",
            vec![],
        )
        .await
        .expect("axe runs");
    let passes = result["passes"].as_u64().unwrap_or(0);
    assert!(
        passes >= 20,
        "axe-core checked too little ({passes} rules passed): {result}"
    );
    println!("axe-core: {passes} rules passed");
    let mut out = Vec::new();
    for v in result["violations"].as_array().expect("violations") {
        let line = format!(
            "{} [{}]: {} {}",
            v["id"], v["impact"], v["help"], v["nodes"]
        );
        if matches!(v["impact"].as_str(), Some("serious" | "critical")) {
            out.push(line);
        } else {
            eprintln!("axe (minor or moderate, not failing): {line}");
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_works_in_a_real_browser() {
    let (Some(chromium), Some(driver)) = (
        tool(
            "CHROME_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
        ),
        tool("CHROMEDRIVER", &["chromedriver"]),
    ) else {
        println!(
            "SKIPPED the_page_works_in_a_real_browser: chromium and chromedriver are not installed \
             (Debian: apt-get install chromium chromium-driver; or set CHROME_BIN and CHROMEDRIVER)"
        );
        return;
    };
    let axe_js = tokio::task::spawn_blocking(axe_source)
        .await
        .expect("axe-core");

    // The real server on a local port, over the starter corpus.
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = indexer::Config::default();
    config.server.data = data.path().to_path_buf();
    config.server.link_resolver = Some("https://resolver.example.org/openurl?sid=test".into());
    config.index.memory_mb = 32;
    let state = AppState::new(config).expect("state");
    state.prepare().await.expect("prepare");
    let api = query_api::app(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(query_api::run(listener, state, async {
        let _ = stopped.await;
    }));

    let profile = tempfile::tempdir().expect("profile dir");
    let (_driver, webdriver) = start_chromedriver(&driver).await;
    let c = connect(&webdriver, &chromium, profile.path()).await;

    // 1. A shared URL shows the API's first hit first, with its evidence badge and the notices.
    let (_, first) = common::get(&api, "/api/v1/search?q=asthma&evidence_level=guideline").await;
    let top = &first["hits"][0];
    let top_id = top["id"]
        .as_str()
        .expect("a guideline about asthma in the starter corpus");
    c.goto(&format!("{base}/?q=asthma&evidence_level=guideline"))
        .await
        .expect("open page");
    wait_first_hit(&c, top_id).await;
    let shown = c
        .execute(
            "const li = document.querySelector('#results > li');
             const badge = li.querySelector('.badge');
             return { title: li.querySelector('h2').textContent, badge: badge.textContent,
                      cls: badge.className, marks: li.querySelectorAll('mark').length,
                      status: document.getElementById('status').textContent,
                      notices: document.querySelectorAll('#notices .n-sample').length,
                      query: document.getElementById('q').value,
                      header: getComputedStyle(document.querySelector('header')).backgroundColor,
                      checked: document.getElementById('evidence_level-guideline').checked,
                      resolver: li.querySelector('a[href^=\"https://resolver.example.org/openurl?sid=test&\"]') !== null };",
            vec![],
        )
        .await
        .expect("read first hit");
    assert_eq!(shown["title"], top["title"], "{shown}");
    assert_eq!(shown["badge"], top["evidence_label"], "{shown}");
    assert!(
        shown["cls"]
            .as_str()
            .expect("class")
            .contains("lvl-guideline"),
        "{shown}"
    );
    assert!(
        shown["marks"].as_u64().expect("marks") > 0,
        "highlights shown: {shown}"
    );
    let total = first["total"].as_u64().expect("total");
    assert!(
        shown["status"]
            .as_str()
            .expect("status")
            .starts_with(&format!("{total} result")),
        "{shown}"
    );
    assert_eq!(
        shown["notices"], 1,
        "the sample-records notice is shown: {shown}"
    );
    assert_eq!(shown["query"], "asthma");
    assert_eq!(
        shown["header"], "rgb(0, 94, 184)",
        "the style sheet loads under the CSP"
    );
    assert_eq!(
        shown["checked"], true,
        "the URL's filter is reflected in the controls"
    );
    if top["identifiers"]["doi"].is_string() || top["identifiers"]["pmid"].is_string() {
        assert_eq!(
            shown["resolver"], true,
            "OpenURL link through the configured resolver: {shown}"
        );
    }

    // 2. Add an evidence level using only the keyboard: Tab from the top of the page, then Space.
    // The starter corpus is small, so this shared URL also sets a page size of 3 to have pages.
    let (_, small) = common::get(
        &api,
        "/api/v1/search?q=asthma&evidence_level=guideline&per_page=3",
    )
    .await;
    c.goto(&format!(
        "{base}/?q=asthma&evidence_level=guideline&per_page=3"
    ))
    .await
    .expect("open page");
    wait_first_hit(&c, &ids(&small)[0]).await;
    let (_, wide) = common::get(&api, "/api/v1/search?q=asthma&per_page=1").await;
    let other = wide["facets"]["evidence_level"]
        .as_array()
        .expect("facets")
        .iter()
        .filter(|f| f["value"] != "guideline")
        .max_by_key(|f| f["count"].as_u64())
        .and_then(|f| f["value"].as_str())
        .expect("asthma records at another evidence level")
        .to_string();
    let target = format!("#evidence_level-{other}");
    c.execute(
        "document.activeElement.blur(); window.scrollTo(0, 0);",
        vec![],
    )
    .await
    .expect("reset focus");
    press(&c, Key::Tab.into()).await;
    assert!(
        active_matches(&c, "a.skip").await,
        "the skip link comes first"
    );
    tab_to(&c, &target).await;
    press(&c, ' ').await;
    let levels = format!("guideline,{other}");
    let (_, widened) = common::get(
        &api,
        &format!("/api/v1/search?q=asthma&evidence_level={levels}&per_page=3"),
    )
    .await;
    wait_first_hit(&c, &ids(&widened)[0]).await;
    let url = c.current_url().await.expect("url");
    assert_eq!(
        url.query(),
        Some(format!("q=asthma&per_page=3&evidence_level={levels}").as_str()),
        "state in the URL"
    );
    assert!(
        active_matches(&c, &target).await,
        "focus stays on the filter after the results update"
    );
    let total2 = widened["total"].as_u64().expect("total");
    let status = wait_js(
        &c,
        &format!("const s = document.getElementById('status').textContent; return s.startsWith('{total2} result') ? s : null;"),
        "the live region to announce the new count",
    )
    .await;
    println!("announced: {status}");

    // 3. Page 2 with the keyboard: Tab to "Next page", then Enter.
    let per_page = widened["per_page"].as_u64().expect("per_page");
    assert!(
        total2 > per_page,
        "the starter corpus has more than one page of asthma guidelines and {other}"
    );
    tab_to(&c, "#pager a[rel=next]").await;
    press(&c, Key::Enter.into()).await;
    let (_, page2) = common::get(
        &api,
        &format!("/api/v1/search?q=asthma&evidence_level={levels}&per_page=3&page=2"),
    )
    .await;
    wait_first_hit(&c, &ids(&page2)[0]).await;
    let url = c.current_url().await.expect("url");
    assert_eq!(
        url.query(),
        Some(format!("q=asthma&per_page=3&evidence_level={levels}&page=2").as_str())
    );
    assert!(
        active_matches(&c, "#results-h").await,
        "focus moves to the results heading after paging"
    );
    assert!(c
        .find(Locator::Css("#pager [aria-current=page]"))
        .await
        .expect("current page")
        .text()
        .await
        .expect("text")
        .starts_with('2'));

    // 4. Back and forward.
    c.back().await.expect("back");
    wait_first_hit(&c, &ids(&widened)[0]).await;
    c.forward().await.expect("forward");
    wait_first_hit(&c, &ids(&page2)[0]).await;

    // 5. Exports offered for the same search.
    let ris = c
        .find(Locator::Css("#exports a[data-export=ris]"))
        .await
        .expect("RIS button")
        .attr("href")
        .await
        .expect("href")
        .expect("an href");
    assert_eq!(
        ris,
        format!("/api/v1/export?q=asthma&evidence_level={levels}&format=ris")
    );

    // 6. Screenshot and accessibility at desktop width.
    let shot = screenshot(&c, "browser-desktop.png").await;
    println!("screenshot: {}", shot.display());
    let serious = axe(&c, &axe_js).await;
    assert!(
        serious.is_empty(),
        "axe-core, desktop:\n{}",
        serious.join("\n")
    );

    // 7. And at 320 CSS pixels wide: nothing scrolls sideways, the filters fold away.
    c.set_window_size(320, 900).await.expect("resize");
    let width = wait_js(
        &c,
        "return window.innerWidth <= 360 ? window.innerWidth : null;",
        "a narrow window",
    )
    .await;
    c.goto(&format!("{base}/?q=asthma&evidence_level=guideline"))
        .await
        .expect("open page");
    wait_first_hit(&c, top_id).await;
    let layout = c
        .execute(
            "return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
                      filtersShown: getComputedStyle(document.getElementById('filters')).display !== 'none',
                      toggleShown: getComputedStyle(document.getElementById('refine-toggle')).display !== 'none' };",
            vec![],
        )
        .await
        .expect("layout");
    assert!(
        layout["scroll"].as_u64() <= layout["inner"].as_u64(),
        "no sideways scrolling at {width} px: {layout}"
    );
    assert_eq!(layout["filtersShown"], false, "{layout}");
    assert_eq!(layout["toggleShown"], true, "{layout}");
    let shot = screenshot(&c, "browser-320.png").await;
    println!("screenshot: {}", shot.display());
    let serious = axe(&c, &axe_js).await;
    assert!(
        serious.is_empty(),
        "axe-core, 320 px:\n{}",
        serious.join("\n")
    );

    c.close().await.expect("close the browser");
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
}

/// GETs a path with optional `If-None-Match`; returns status, headers and body text.
async fn fetch(
    router: &axum::Router,
    uri: &str,
    etag: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::get(uri);
    if let Some(e) = etag {
        req = req.header(header::IF_NONE_MATCH, e);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Runs without a browser: the page and its files, their types, caching and security headers.
#[tokio::test]
async fn page_and_static_files_are_served_with_strict_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = indexer::Config::default();
    config.server.data = dir.path().to_path_buf();
    config.server.max_export = 250;
    config.server.link_resolver =
        Some("https://resolver.example.org/openurl?x=\"><script>alert(1)</script>".into());
    let router = query_api::app(AppState::new(config).expect("state"));
    let h = |m: &axum::http::HeaderMap, k: header::HeaderName| {
        m.get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };

    let (s, head, html) = fetch(&router, "/", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h(&head, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(h(&head, header::CACHE_CONTROL), "no-cache");
    let csp = h(&head, header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(h(&head, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(html.contains("data-max-export=\"250\""));
    assert!(
        html.contains("data-levels=\"[[&quot;guideline&quot;,&quot;Guideline&quot;]"),
        "levels for the filter list"
    );
    assert!(
        !html.contains("<script>alert"),
        "the resolver URL is escaped into its attribute"
    );
    assert!(html.contains(
        "data-link-resolver=\"https://resolver.example.org/openurl?x=&quot;&gt;&lt;script&gt;"
    ));
    for landmark in [
        "<header",
        "<main",
        "<aside",
        "<nav",
        "<footer",
        "class=\"skip\"",
        "role=\"search\"",
        "aria-live=\"polite\"",
        "lang=\"en-GB\"",
    ] {
        assert!(html.contains(landmark), "{landmark}");
    }
    let etag = h(&head, header::ETAG);
    let (s, _, body) = fetch(&router, "/", Some(&etag)).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    let js_url = html
        .split("src=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("script src")
        .to_string();
    assert!(js_url.starts_with("/static/app.js?v="), "{js_url}");
    let (s, head, js) = fetch(&router, &js_url, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h(&head, header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        h(&head, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert!(js.contains("pushState"));
    let (s, head, css) = fetch(&router, "/static/style.css", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h(&head, header::CONTENT_TYPE), "text/css; charset=utf-8");
    assert!(
        html.len() + js.len() + css.len() < 40_000,
        "the page stays small"
    );
    let (s, _, body) = fetch(&router, "/static/../Cargo.toml", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _, body) = fetch(&router, "/static/secret.txt", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(body.contains("\"not_found\""), "{body}");
}

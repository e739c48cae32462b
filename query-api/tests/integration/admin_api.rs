//! The admin jobs API: auth, the whole job lifecycle against a local stand-in for PubMed,
//! cancellation, conflicts, bad bodies, and a restart that finds an interrupted job.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use query_api::AppState;
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::get;

const TOKEN: &str = "test-admin-token-0123456789";

fn shared(rel: &str) -> Option<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel);
    std::fs::read(&p).ok().or_else(|| {
        eprintln!("skipping: {} is absent", p.display());
        None
    })
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(rel),
    )
    .expect("fixture")
}

fn esearch(count: usize) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<eSearchResult><Count>{count}</Count><RetMax>0</RetMax><RetStart>0</RetStart><QueryKey>1</QueryKey><WebEnv>MCID_T</WebEnv><IdList></IdList><TranslationSet/></eSearchResult>"
    )
}

async fn pubmed(efetch: Vec<u8>, count: usize, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/entrez/eutils/esearch.fcgi"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(esearch(count), "text/xml"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/entrez/eutils/efetch.fcgi"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(efetch, "text/xml")
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

async fn app_with(
    server: &MockServer,
    dir: &std::path::Path,
    token: Option<&str>,
) -> (Router, AppState) {
    let mut config = crate::common::test_config(dir);
    let mut src = harvest::SourceConfig::new(
        "pubmed",
        harvest::SourceKind::Pubmed,
        &format!("{}/entrez/eutils/", server.uri()),
    );
    src.query = Some("air embolism".into());
    src.page_size = Some(200);
    src.rate_per_s = Some(50.0);
    config.sources.push(src);
    let state = AppState::with_admin_token(config, token.map(str::to_string)).unwrap();
    state.prepare().await.unwrap();
    (query_api::app(state.clone()), state)
}

async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

async fn wait_done(router: &Router, id: &str) -> serde_json::Value {
    for _ in 0..600 {
        let (s, v) = send(
            router,
            "GET",
            &format!("/api/v1/admin/jobs/{id}"),
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if ["succeeded", "failed", "cancelled", "interrupted"]
            .contains(&v["state"].as_str().unwrap_or(""))
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_needs_a_token() {
    let server = pubmed(
        fixture("harvest/pubmed/efetch_mixed.xml"),
        8,
        Duration::ZERO,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (disabled, _) = app_with(&server, dir.path(), None).await;
    let (s, v) = send(&disabled, "GET", "/api/v1/admin/jobs", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("EVIDENCE_ADMIN_TOKEN"));

    let dir = tempfile::tempdir().unwrap();
    let (router, _) = app_with(&server, dir.path(), Some(TOKEN)).await;
    let (s, v) = send(&router, "GET", "/api/v1/admin/jobs", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "unauthorized");
    let (s, _) = send(&router, "GET", "/api/v1/admin/jobs", Some("wrong"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = send(&router, "GET", "/api/v1/admin/jobs", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["jobs"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harvest_job_makes_records_searchable_without_restart() {
    let Some(efetch) = shared("sources/pubmed/efetch_pubmedarticleset_121.xml") else {
        return;
    };
    let server = pubmed(efetch, 121, Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let (router, state) = app_with(&server, dir.path(), Some(TOKEN)).await;
    let before = state.live_generation();
    let (_, v) = get(&router, "/api/v1/search?q=31045810").await;
    assert_ne!(v["hits"][0]["id"], "pubmed:31045810");

    let (s, v) = send(
        &router,
        "POST",
        "/api/v1/admin/jobs",
        Some(TOKEN),
        Some(r#"{"kind":"harvest"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    // Searches keep answering while the job runs.
    for _ in 0..5 {
        let (s, _) = get(&router, "/api/v1/search?q=embolism").await;
        assert_eq!(s, StatusCode::OK);
    }
    let job = wait_done(&router, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["counts"]["added"], 121);
    assert!(job["started_at"].is_string() && job["finished_at"].is_string());
    assert_ne!(
        state.live_generation(),
        before,
        "the first harvest replaces the starter index"
    );

    let (_, v) = get(&router, "/api/v1/search?q=31045810").await;
    assert_eq!(v["hits"][0]["id"], "pubmed:31045810", "{v}");
    assert!(!v["hits"][0]["mesh_terms"].as_array().unwrap().is_empty());
    let (_, v) = get(&router, "/api/v1/search?q=air%20embolism").await;
    assert!(v["total"].as_u64().unwrap() > 10);
    assert!(
        v["notices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("sample")),
        "no sample records once real ones are indexed"
    );

    // A second harvest indexes incrementally: nothing changed, same generation.
    let generation = state.live_generation();
    let (_, v) = send(
        &router,
        "POST",
        "/api/v1/admin/jobs",
        Some(TOKEN),
        Some(r#"{"kind":"harvest","sources":["pubmed"]}"#),
    )
    .await;
    let job = wait_done(&router, v["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["counts"]["added"], 0);
    assert_eq!(job["counts"]["index"]["mode"], "incremental");
    assert_eq!(state.live_generation(), generation);

    // A reindex builds a new generation and goes live.
    let (s, v) = send(
        &router,
        "POST",
        "/api/v1/admin/jobs",
        Some(TOKEN),
        Some(r#"{"kind":"reindex"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let job = wait_done(&router, v["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(state.live_generation() > generation);
    // Once live, the new generation was merged into one segment (`compact_after_build`).
    let merged = &job["counts"]["index"]["compact"];
    assert_eq!(merged["segments"], 1, "{job}");
    assert_eq!(merged["documents"], 120, "{job}");
    assert!(merged["segments_before"].as_u64().unwrap() >= 1, "{job}");
    let live = state.live().unwrap();
    assert_eq!(live.index.segments(), 1);
    assert_eq!(Some(live.generation), state.live_generation());

    // A compact job merges the live generation into one segment and keeps every record.
    let live = state.live_generation();
    let (s, v) = send(
        &router,
        "POST",
        "/api/v1/admin/jobs",
        Some(TOKEN),
        Some(r#"{"kind":"compact"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let job = wait_done(&router, v["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "compact");
    let index = &job["counts"]["index"];
    assert_eq!(index["mode"], "compact", "{job}");
    assert_eq!(index["segments"], 1, "{job}");
    assert_eq!(index["documents"], 120, "{job}");
    assert_eq!(index["generation"].as_u64(), live);
    assert_eq!(state.live_generation(), live);

    let (s, v) = send(&router, "GET", "/api/v1/admin/sources", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["sources"][0]["records"], 121);
    assert!(v["sources"][0]["last_harvest"]["finished_at"].is_string());
    let (s, v) = send(&router, "GET", "/api/v1/admin/stats", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["documents"], 120, "one article is in the set twice");
    let (_, v) = send(&router, "GET", "/api/v1/admin/jobs", Some(TOKEN), None).await;
    assert_eq!(v["jobs"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_conflict_and_bad_bodies() {
    let server = pubmed(
        fixture("harvest/pubmed/efetch_mixed.xml"),
        8,
        Duration::from_secs(2),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (router, state) = app_with(&server, dir.path(), Some(TOKEN)).await;
    let generation = state.live_generation();

    let body = r#"{"kind":"harvest","sources":["pubmed"]}"#;
    let (s, v) = send(
        &router,
        "POST",
        "/api/v1/admin/jobs",
        Some(TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let id = v["id"].as_str().unwrap().to_string();
    let (s, v) = send(
        &router,
        "POST",
        "/api/v1/admin/jobs",
        Some(TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains(&id));

    let (s, v) = send(
        &router,
        "DELETE",
        &format!("/api/v1/admin/jobs/{id}"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let job = wait_done(&router, &id).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    assert_eq!(
        state.live_generation(),
        generation,
        "a cancelled job never changes the live index"
    );
    let (s, _) = send(
        &router,
        "DELETE",
        &format!("/api/v1/admin/jobs/{id}"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = send(&router, "GET", "/api/v1/admin/jobs/nope", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    for (body, needle) in [
        (r#"{"kind":"harvest","sources":["nope"]}"#, "pubmed"),
        (r#"{"kind":"explode"}"#, "kind"),
        (r#"{"sources":[]}"#, "kind"),
        (r#"{"kind":"harvest","full":"yes"}"#, "full"),
        (r#"{"kind":"harvest","extra":1}"#, "extra"),
        (r#"{"kind":"compact","sources":["pubmed"]}"#, "sources"),
        (r#"{"kind":"compact","full":true}"#, "full"),
        (r#"{"kind":"#, "invalid"),
    ] {
        let (s, v) = send(
            &router,
            "POST",
            "/api/v1/admin/jobs",
            Some(TOKEN),
            Some(body),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_finds_interrupted_job_and_old_generation_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::test_config(dir.path());
    {
        let state = AppState::with_admin_token(config.clone(), Some(TOKEN.into())).unwrap();
        state.prepare().await.unwrap();
        // A job the server was running when it died, and the generation it was half-way through.
        let mut job = store::JobRecord::new(
            "job-crashed",
            "reindex",
            serde_json::json!({"kind": "reindex", "sources": [], "full": false, "trigger": "admin"}),
        );
        job.state = store::JobState::Running;
        state.store().insert_job(&job).unwrap();
        state.generations().begin().unwrap();
    }
    let state = AppState::with_admin_token(config, Some(TOKEN.into())).unwrap();
    let live_before = state.generations().live().unwrap();
    state.prepare().await.unwrap();
    assert_eq!(
        state.live_generation(),
        live_before,
        "the previous generation serves"
    );
    assert_eq!(
        state.generations().list().unwrap(),
        vec![live_before.unwrap()],
        "the half-built one is gone"
    );
    let router = query_api::app(state.clone());
    let (s, v) = send(
        &router,
        "GET",
        "/api/v1/admin/jobs/job-crashed",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["state"], "interrupted", "{v}");
    let (s, _) = get(&router, "/api/v1/search?q=asthma").await;
    assert_eq!(s, StatusCode::OK);
    // And a new build succeeds.
    let (s, v) = send(
        &router,
        "POST",
        "/api/v1/admin/jobs",
        Some(TOKEN),
        Some(r#"{"kind":"reindex"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let job = wait_done(&router, v["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_feed_staff_analytics_without_personal_data() {
    let server = pubmed(
        fixture("harvest/pubmed/efetch_mixed.xml"),
        8,
        Duration::ZERO,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (router, _) = app_with(&server, dir.path(), Some(TOKEN)).await;
    for q in [
        "asthma",
        "Asthma ",
        "asthma",
        "zzzqqqxxx",
        "call 0123 456 7890 about asthma",
    ] {
        let (s, _) = get(
            &router,
            &format!("/api/v1/search?q={}", crate::common::enc(q)),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    let mut stats = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, v) = send(&router, "GET", "/api/v1/admin/stats", Some(TOKEN), None).await;
        let logged: u64 = v["queries"]["top"]
            .as_array()
            .map(|a| a.iter().map(|p| p[1].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        if logged >= 5 {
            stats = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let top = &stats["queries"]["top"];
    assert_eq!(top[0][0], "asthma", "{stats}");
    assert_eq!(
        top[0][1], 3,
        "queries are normalised before counting: {stats}"
    );
    let zero = stats["queries"]["zero_results"].to_string();
    assert!(zero.contains("zzzqqqxxx"), "{zero}");
    assert!(
        !stats.to_string().contains("0123 456 7890"),
        "phone-like numbers are masked"
    );
}

/// The query log writes in batches a window apart; a server that shuts down straight after a
/// search still writes it before `run` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_the_queued_query_log() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(crate::common::test_config(dir.path())).unwrap();
    state.prepare().await.unwrap();
    let store = std::sync::Arc::clone(state.store());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(query_api::run(listener, state, async {
        let _ = stopped.await;
    }));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        b"GET /api/v1/search?q=bronchiolitis HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    let top = store.top_queries("2000-01-01", 10).unwrap();
    assert_eq!(top, vec![("bronchiolitis".to_string(), 1)]);
}

/// A live index written by an earlier version, with another schema, is rebuilt at start-up
/// instead of stopping the server.
#[tokio::test]
async fn an_index_with_an_older_schema_is_rebuilt_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::test_config(dir.path());
    let gens = search::Generations::open(&config.index_dir()).unwrap();
    let (n, path) = gens.begin().unwrap();
    {
        // The schema of a much older engine: one stored title.
        let mut b = tantivy::schema::Schema::builder();
        b.add_text_field("title", tantivy::schema::TEXT | tantivy::schema::STORED);
        let index = tantivy::Index::create_in_dir(&path, b.build()).unwrap();
        let mut w: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        w.commit().unwrap();
    }
    gens.complete(n).unwrap();
    gens.promote(n).unwrap();
    assert!(matches!(
        search::SearchIndex::open(&path, Default::default()),
        Err(search::SearchError::SchemaMismatch(_))
    ));

    let state = query_api::AppState::new(config).unwrap();
    state.prepare().await.expect("starts by rebuilding");
    let live = state.live_generation().expect("a live generation");
    assert_ne!(live, n, "a new generation");
    let router = query_api::app(state);
    let (status, v) = crate::common::get(&router, "/api/v1/search?q=asthma").await;
    assert!(status.is_success() && v["total"].as_u64() > Some(0), "{v}");
}

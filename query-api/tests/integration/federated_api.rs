//! Federated search through the API: the starter corpus locally, stand-ins for PubMed, Europe PMC
//! and ClinicalTrials.gov on 127.0.0.1 serving `fixtures/federation` (records that overlap the
//! starter corpus), and faulty stand-ins.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use harvest::{SourceConfig, SourceKind};
use query_api::AppState;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{enc, get, TestApp};

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/federation")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn ok(body: Vec<u8>, mime: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, mime)
}

async fn mount(server: &MockServer, p: &str, resp: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(resp)
        .mount(server)
        .await;
}

async fn requests(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}

fn source(name: &str, kind: SourceKind, base: String, federated: bool) -> SourceConfig {
    let mut s = SourceConfig::new(name, kind, &base);
    s.rate_per_s = Some(100.0);
    s.federated = federated;
    s
}

/// Stand-ins serving the fixtures, and their source configs (all federated by default).
async fn stand_ins() -> (MockServer, Vec<SourceConfig>) {
    let server = MockServer::start().await;
    mount(
        &server,
        "/eutils/esearch.fcgi",
        ok(fixture("pubmed_esearch_asthma.xml"), "text/xml"),
    )
    .await;
    mount(
        &server,
        "/eutils/efetch.fcgi",
        ok(fixture("pubmed_efetch_asthma.xml"), "text/xml"),
    )
    .await;
    mount(
        &server,
        "/epmc/search",
        ok(fixture("europepmc_search_asthma.json"), "application/json"),
    )
    .await;
    mount(
        &server,
        "/ctgov/studies",
        ok(
            fixture("clinicaltrials_studies_asthma.json"),
            "application/json",
        ),
    )
    .await;
    let uri = server.uri();
    let sources = vec![
        source("pubmed", SourceKind::Pubmed, format!("{uri}/eutils/"), true),
        source(
            "europepmc",
            SourceKind::Europepmc,
            format!("{uri}/epmc/"),
            true,
        ),
        source(
            "ctgov",
            SourceKind::Clinicaltrials,
            format!("{uri}/ctgov/"),
            true,
        ),
    ];
    (server, sources)
}

/// The starter corpus with these remote sources and this overall deadline.
async fn app_with(sources: Vec<SourceConfig>, timeout_ms: u64) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = crate::common::test_config(dir.path());
    config.federation.timeout_ms = timeout_ms;
    config.sources = sources;
    let state = AppState::new(config).expect("state");
    state.prepare().await.expect("prepare");
    TestApp {
        router: query_api::app(state.clone()),
        state,
        _dir: dir,
    }
}

fn hits(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["hits"].as_array().expect("hits array")
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    hits(v)
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

fn status_of<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no source {name} in {}", v["sources"]))
}

#[tokio::test]
async fn local_and_remote_hits_are_fused_and_duplicates_merged() {
    let (_server, sources) = stand_ins().await;
    let app = app_with(sources, 2000).await;
    let (s, local_only) = get(
        &app.router,
        "/api/v1/search?q=acute+asthma&federate=none&per_page=50",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{local_only}");
    let (s, v) = get(&app.router, "/api/v1/search?q=acute+asthma&per_page=20").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names: Vec<&str> = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "pubmed", "europepmc", "ctgov"]);
    for s in v["sources"].as_array().unwrap() {
        assert_eq!(s["status"], "ok", "{s}");
    }
    assert_eq!(status_of(&v, "pubmed")["total"], 1843);
    assert_eq!(status_of(&v, "local")["total"], local_only["total"]);

    // sample:5 is PubMed 90000005, sample:7 Europe PMC's PPR900007 (DOI), sample:8 NCT90000008.
    let hit = |id: &str| {
        hits(&v)
            .iter()
            .find(|h| h["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {:?}", ids(&v)))
    };
    assert_eq!(
        hit("sample:5")["sources"],
        serde_json::json!(["sample", "pubmed"])
    );
    let ids = ids(&v);
    for dup in [
        "pubmed:90000005",
        "europepmc:PPR:PPR900007",
        "ctgov:NCT90000008",
    ] {
        assert!(!ids.contains(&dup.to_string()), "{dup} not merged: {ids:?}");
    }
    // Remote-only records are hits of their own, in the local shape, classified and escaped.
    let rct = hit("pubmed:91000001");
    assert_eq!(rct["sources"], serde_json::json!(["pubmed"]));
    assert_eq!(rct["evidence_level"], "rct");
    assert!(
        rct["title_html"]
            .as_str()
            .unwrap()
            .contains("<mark>asthma</mark>"),
        "{rct}"
    );
    assert!(
        rct["title_html"].as_str().unwrap().contains("&amp;"),
        "{rct}"
    );
    assert!(
        !rct["snippet"].as_str().unwrap().contains("<script"),
        "{rct}"
    );
    assert!(hit("europepmc:91000003")["evidence_level"] == "guideline");
    // Local and remote hits interleave.
    let remote: Vec<bool> = hits(&v).iter().map(|h| h["sample"] == false).collect();
    let first_remote = remote.iter().position(|r| *r).expect("a remote hit");
    let last_local = remote.iter().rposition(|r| !*r).expect("a local hit");
    assert!(first_remote < last_local, "{remote:?}");
    // Total and facets add the remote-only records fused (4 here), once each.
    let local_total = local_only["total"].as_u64().unwrap();
    assert_eq!(
        v["total"].as_u64().unwrap(),
        local_total + 4,
        "{}",
        v["facets"]
    );
    let facet = |name: &str| {
        v["facets"]["source"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["value"] == name)
            .map(|f| f["count"].as_u64().unwrap())
    };
    assert_eq!(facet("pubmed"), Some(2));
    assert_eq!(facet("europepmc"), Some(1));
    assert_eq!(facet("ctgov"), Some(1));
    assert_eq!(facet("sample"), Some(local_total));
}

#[tokio::test]
async fn a_plain_search_lists_only_the_local_index() {
    let (server, sources) = stand_ins().await;
    let mut sources = sources;
    for s in &mut sources {
        s.federated = false;
    }
    let app = app_with(sources, 2000).await;
    let (s, v) = get(&app.router, "/api/v1/search?q=asthma").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["sources"].as_array().unwrap().len(),
        1,
        "{}",
        v["sources"]
    );
    assert_eq!(v["sources"][0]["name"], "local");
    assert_eq!(v["sources"][0]["status"], "ok");
    assert_eq!(v["sources"][0]["total"], v["total"]);
    assert_eq!(hits(&v)[0]["sources"], serde_json::json!(["sample"]));
    assert!(server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
    // federate names sources explicitly.
    let (_, v) = get(&app.router, "/api/v1/search?q=asthma&federate=europepmc").await;
    let names: Vec<&str> = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "europepmc"]);
    let (_, v) = get(&app.router, "/api/v1/search?q=asthma&federate=all").await;
    assert_eq!(v["sources"].as_array().unwrap().len(), 4);
    let (s, v) = get(&app.router, "/api/v1/search?q=asthma&federate=nosuch").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_parameter");
    assert!(v["error"]["message"].as_str().unwrap().contains("nosuch"));
}

#[tokio::test]
async fn faulty_sources_never_delay_or_fail_the_answer() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/slow/search",
        ok(fixture("europepmc_search_asthma.json"), "application/json")
            .set_delay(Duration::from_secs(10)),
    )
    .await;
    mount(
        &server,
        "/failing/studies",
        ResponseTemplate::new(500).set_body_string("boom"),
    )
    .await;
    mount(&server, "/html/esearch.fcgi", ok(b"<html><head><title>Error</title></head><body>Service Temporarily Unavailable</body></html>".to_vec(), "text/html")).await;
    let uri = server.uri();
    let sources = vec![
        source("slow", SourceKind::Europepmc, format!("{uri}/slow/"), true),
        source(
            "failing",
            SourceKind::Clinicaltrials,
            format!("{uri}/failing/"),
            true,
        ),
        source("html", SourceKind::Pubmed, format!("{uri}/html/"), true),
    ];
    let deadline_ms = 600;
    let app = app_with(sources, deadline_ms).await;
    let started = Instant::now();
    let (s, v) = get(&app.router, "/api/v1/search?q=asthma").await;
    let elapsed = started.elapsed();
    assert_eq!(s, StatusCode::OK, "{v}");
    // A correctness bound (deadline plus a generous margin), not a performance target.
    assert!(
        elapsed < Duration::from_millis(deadline_ms + 1000),
        "took {elapsed:?}"
    );
    assert_eq!(status_of(&v, "local")["status"], "ok");
    assert_eq!(status_of(&v, "slow")["status"], "timeout");
    assert_eq!(status_of(&v, "failing")["status"], "error");
    assert!(status_of(&v, "failing")["message"]
        .as_str()
        .unwrap()
        .contains("500"));
    assert_eq!(status_of(&v, "html")["status"], "error");
    assert!(
        status_of(&v, "html")["message"]
            .as_str()
            .unwrap()
            .contains("html"),
        "{}",
        v["sources"]
    );
    assert!(!hits(&v).is_empty(), "the local hits are still there");
    assert!(hits(&v).iter().all(|h| h["sample"] == true));
}

#[tokio::test]
async fn an_identical_query_is_answered_from_the_cache() {
    let (server, sources) = stand_ins().await;
    let app = app_with(sources, 2000).await;
    let uri = format!(
        "/api/v1/search?q={}&federate=europepmc",
        enc("inhaled corticosteroids")
    );
    let (_, first) = get(&app.router, &uri).await;
    let (_, second) = get(&app.router, &uri).await;
    assert_eq!(
        requests(&server, "/epmc/search").await,
        1,
        "the stand-in saw one request"
    );
    assert!(status_of(&second, "europepmc")["message"]
        .as_str()
        .unwrap()
        .contains("from cache"));
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(first["total"], second["total"]);
}

#[tokio::test]
async fn paging_over_fused_results_is_stable() {
    let (_server, sources) = stand_ins().await;
    let app = app_with(sources, 2000).await;
    let (_, all) = get(&app.router, "/api/v1/search?q=asthma&per_page=12").await;
    let mut paged = Vec::new();
    for page in 1..=4 {
        let (s, v) = get(
            &app.router,
            &format!("/api/v1/search?q=asthma&per_page=3&page={page}"),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        paged.extend(ids(&v));
    }
    assert_eq!(paged, ids(&all));
    let mut unique = paged.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), paged.len(), "no hit on two pages");
}

#[tokio::test]
async fn filters_apply_to_remote_records_too() {
    let (_server, sources) = stand_ins().await;
    let app = app_with(sources, 2000).await;
    let (s, v) = get(
        &app.router,
        "/api/v1/search?q=asthma&evidence_level=rct&year_from=2020&per_page=50",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for h in hits(&v) {
        assert_eq!(h["evidence_level"], "rct", "{h}");
        assert!(
            h["published"].as_str().unwrap()[..4]
                .parse::<u16>()
                .unwrap()
                >= 2020,
            "{h}"
        );
    }
    assert!(
        hits(&v).iter().any(|h| h["id"] == "ctgov:NCT91000004"),
        "{:?}",
        ids(&v)
    );
    // The patient audience is never asked of PubMed and the others.
    let (_, v) = get(&app.router, "/api/v1/search?q=asthma&audience=patient").await;
    for name in ["pubmed", "europepmc", "ctgov"] {
        assert_eq!(status_of(&v, name)["status"], "skipped", "{}", v["sources"]);
    }
}

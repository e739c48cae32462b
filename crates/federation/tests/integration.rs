//! Federated search against stand-ins on 127.0.0.1 (wiremock): real captured responses of each
//! source (from `../shared/data`, skipped with a message when absent), this project's fixtures
//! (`fixtures/federation`), and faulty sources (slow, failing, HTML, huge).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use federation::{
    merge, FederationOptions, Federator, Fusion, Highlighter, MergeInput, RemoteQuery, SourceStatus,
};
use harvest::{SourceConfig, SourceKind};
use search::{Filters, RankingParams, SearchIndex, SearchRequest, Sort};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A real captured response from `../shared/data/sources`, or `None` (with a message) when the
/// shared data is absent.
fn real(rel: &str) -> Option<Vec<u8>> {
    let p = repo().join("../shared/data/sources").join(rel);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!(
                "skipping: {} is absent (shared data not available)",
                p.display()
            );
            None
        }
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("fixtures/federation").join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn source(name: &str, kind: SourceKind, base: String) -> SourceConfig {
    let mut s = SourceConfig::new(name, kind, &base);
    s.rate_per_s = Some(100.0);
    s.federated = true;
    s
}

fn options(timeout_ms: u64) -> FederationOptions {
    FederationOptions {
        timeout: Duration::from_millis(timeout_ms),
        ..FederationOptions::default()
    }
}

fn query(q: &str) -> RemoteQuery {
    RemoteQuery {
        q: q.into(),
        filters: Filters::default(),
        depth: 10,
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
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

/// Stand-ins for the three sources serving this project's fixtures.
async fn fixture_sources() -> (MockServer, Vec<SourceConfig>) {
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
        source("pubmed", SourceKind::Pubmed, format!("{uri}/eutils/")),
        source("europepmc", SourceKind::Europepmc, format!("{uri}/epmc/")),
        source("ctgov", SourceKind::Clinicaltrials, format!("{uri}/ctgov/")),
    ];
    (server, sources)
}

#[tokio::test]
async fn real_responses_from_every_source() {
    let (Some(esearch), Some(efetch), Some(epmc), Some(ct)) = (
        real("pubmed/ncbi_samples/esearch.pubmed.xml"),
        real("pubmed/efetch_pubmedarticleset_121.xml"),
        real("europepmc/pyeuropepmc/search_cancer_core.json"),
        real("clinicaltrials/search_melanoma_recruiting_limit3_20260811.json"),
    ) else {
        return;
    };
    let server = MockServer::start().await;
    mount(&server, "/eutils/esearch.fcgi", ok(esearch, "text/xml")).await;
    mount(&server, "/eutils/efetch.fcgi", ok(efetch, "text/xml")).await;
    Mock::given(method("GET"))
        .and(path("/epmc/search"))
        .and(query_param("resultType", "core"))
        .and(query_param("format", "json"))
        .respond_with(ok(epmc, "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/ctgov/studies"))
        .and(query_param("format", "json"))
        .and(query_param("countTotal", "true"))
        .respond_with(ok(ct, "application/json"))
        .mount(&server)
        .await;
    let uri = server.uri();
    let sources = vec![
        source("pubmed", SourceKind::Pubmed, format!("{uri}/eutils/")),
        source("europepmc", SourceKind::Europepmc, format!("{uri}/epmc/")),
        source("ctgov", SourceKind::Clinicaltrials, format!("{uri}/ctgov/")),
    ];
    let fed = Federator::new(&sources, options(5000)).unwrap();
    let q = RemoteQuery {
        depth: 20,
        ..query("cancer[tiab] OR melanoma")
    };
    let answer = fed
        .search(&names(&["pubmed", "europepmc", "ctgov"]), &q)
        .await;
    for r in &answer.reports {
        assert_eq!(r.status, SourceStatus::Ok, "{r:?}");
    }
    let total = |n: &str| {
        answer
            .reports
            .iter()
            .find(|r| r.name == n)
            .and_then(|r| r.total)
    };
    assert_eq!(total("pubmed"), Some(15169));
    assert_eq!(total("europepmc"), Some(5_059_039));
    assert!(total("ctgov").is_some());
    let list = |n: &str| &answer.lists.iter().find(|l| l.source == n).unwrap().records;
    // The 121-article set answers the efetch; depth caps it.
    assert_eq!(list("pubmed").len(), 20);
    assert_eq!(list("europepmc").len(), 20);
    assert!(!list("ctgov").is_empty());
    assert!(list("europepmc")
        .iter()
        .all(|r| r.id.starts_with("europepmc:")));
    // esearch's PMIDs were asked of efetch, and the translated query was sent.
    let reqs = server.received_requests().await.unwrap_or_default();
    let efetch = reqs
        .iter()
        .find(|r| r.url.path() == "/eutils/efetch.fcgi")
        .unwrap();
    let id = efetch
        .url
        .query_pairs()
        .find(|(k, _)| k == "id")
        .unwrap()
        .1
        .to_string();
    assert!(id.starts_with("23175848,23175808,"), "{id}");
    let es = reqs
        .iter()
        .find(|r| r.url.path() == "/eutils/esearch.fcgi")
        .unwrap();
    let term = es
        .url
        .query_pairs()
        .find(|(k, _)| k == "term")
        .unwrap()
        .1
        .to_string();
    assert_eq!(term, "(cancer[tiab] OR melanoma)");
    let ctq = reqs
        .iter()
        .find(|r| r.url.path() == "/ctgov/studies")
        .unwrap();
    let ct_term = ctq
        .url
        .query_pairs()
        .find(|(k, _)| k == "query.term")
        .unwrap()
        .1
        .to_string();
    assert!(
        ct_term.starts_with("((AREA[BriefTitle]cancer OR "),
        "{ct_term}"
    );
    assert!(ct_term.ends_with(" OR melanoma)"), "{ct_term}");
}

#[tokio::test]
async fn faults_never_delay_or_fail_the_search() {
    let server = MockServer::start().await;
    let (_good_server, good) = fixture_sources().await;
    // slow: answers after 5 s; failing: 500; html: an error page with 200; huge: 3 MiB of JSON.
    mount(
        &server,
        "/slow/search",
        ok(fixture("europepmc_search_asthma.json"), "application/json")
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    mount(
        &server,
        "/failing/studies",
        ResponseTemplate::new(500).set_body_string("internal error"),
    )
    .await;
    mount(
        &server,
        "/html/search",
        ok(
            b"<!DOCTYPE html><html><body>Service unavailable</body></html>".to_vec(),
            "text/html",
        ),
    )
    .await;
    let mut huge = b"{\"hitCount\":1,\"resultList\":{\"result\":[".to_vec();
    huge.extend(std::iter::repeat_n(b' ', 3 << 20));
    huge.extend(b"]}}");
    mount(&server, "/huge/search", ok(huge, "application/json")).await;
    let uri = server.uri();
    let mut sources = vec![
        source("slow", SourceKind::Europepmc, format!("{uri}/slow/")),
        source(
            "failing",
            SourceKind::Clinicaltrials,
            format!("{uri}/failing/"),
        ),
        source("html", SourceKind::Europepmc, format!("{uri}/html/")),
        source("huge", SourceKind::Europepmc, format!("{uri}/huge/")),
    ];
    sources.extend(good);
    let deadline_ms = 800;
    let fed = Federator::new(
        &sources,
        FederationOptions {
            max_body_bytes: 1 << 20,
            ..options(deadline_ms)
        },
    )
    .unwrap();
    let all = names(&[
        "slow",
        "failing",
        "html",
        "huge",
        "pubmed",
        "europepmc",
        "ctgov",
    ]);
    let started = Instant::now();
    let answer = fed.search(&all, &query("asthma")).await;
    let elapsed = started.elapsed();
    // A correctness bound (the deadline plus a generous margin), not a performance target.
    assert!(
        elapsed < Duration::from_millis(deadline_ms + 1000),
        "took {elapsed:?}"
    );
    let rep = |n: &str| answer.reports.iter().find(|r| r.name == n).unwrap();
    assert_eq!(
        rep("slow").status,
        SourceStatus::Timeout,
        "{:?}",
        rep("slow")
    );
    assert_eq!(rep("failing").status, SourceStatus::Error);
    assert!(
        rep("failing").message.as_deref().unwrap().contains("500"),
        "{:?}",
        rep("failing")
    );
    assert_eq!(rep("html").status, SourceStatus::Error);
    assert!(
        rep("html").message.as_deref().unwrap().contains("html"),
        "{:?}",
        rep("html")
    );
    assert_eq!(rep("huge").status, SourceStatus::Error);
    assert!(
        rep("huge")
            .message
            .as_deref()
            .unwrap()
            .contains("larger than"),
        "{:?}",
        rep("huge")
    );
    for good in ["pubmed", "europepmc", "ctgov"] {
        assert_eq!(rep(good).status, SourceStatus::Ok, "{:?}", rep(good));
    }
    assert_eq!(answer.reports.len(), all.len());
    assert_eq!(answer.lists.len(), 3, "only the good sources bring records");
}

#[tokio::test]
async fn circuit_breaker_opens_then_probes() {
    let server = MockServer::start().await;
    mount(&server, "/failing/search", ResponseTemplate::new(503)).await;
    let uri = server.uri();
    let sources = vec![source(
        "epmc",
        SourceKind::Europepmc,
        format!("{uri}/failing/"),
    )];
    let fed = Federator::new(
        &sources,
        FederationOptions {
            breaker_threshold: 2,
            breaker_cooldown: Duration::from_millis(300),
            ..options(1000)
        },
    )
    .unwrap();
    let n = names(&["epmc"]);
    for i in 0..2 {
        let a = fed.search(&n, &query(&format!("asthma{i}"))).await;
        assert_eq!(
            a.reports[0].status,
            SourceStatus::Error,
            "{:?}",
            a.reports[0]
        );
    }
    assert_eq!(fed.failures("epmc"), 2);
    let before = requests(&server, "/failing/search").await;
    let a = fed.search(&n, &query("asthma2")).await;
    assert_eq!(a.reports[0].status, SourceStatus::Skipped);
    assert!(
        a.reports[0]
            .message
            .as_deref()
            .unwrap()
            .contains("circuit open"),
        "{:?}",
        a.reports[0]
    );
    assert_eq!(
        requests(&server, "/failing/search").await,
        before,
        "an open circuit sends nothing"
    );

    // After the cool-down one probe goes through; the source has recovered.
    tokio::time::sleep(Duration::from_millis(350)).await;
    server.reset().await;
    mount(
        &server,
        "/failing/search",
        ok(fixture("europepmc_search_asthma.json"), "application/json"),
    )
    .await;
    let a = fed.search(&n, &query("asthma3")).await;
    assert_eq!(a.reports[0].status, SourceStatus::Ok, "{:?}", a.reports[0]);
    assert_eq!(fed.failures("epmc"), 0);
    let a = fed.search(&n, &query("asthma4")).await;
    assert_eq!(a.reports[0].status, SourceStatus::Ok, "closed again");
}

#[tokio::test]
async fn a_failed_probe_reopens_the_circuit() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/slow/search",
        ok(fixture("europepmc_search_asthma.json"), "application/json")
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let uri = server.uri();
    let sources = vec![source(
        "epmc",
        SourceKind::Europepmc,
        format!("{uri}/slow/"),
    )];
    let fed = Federator::new(
        &sources,
        FederationOptions {
            breaker_threshold: 1,
            breaker_cooldown: Duration::from_millis(200),
            ..options(300)
        },
    )
    .unwrap();
    let n = names(&["epmc"]);
    assert_eq!(
        fed.search(&n, &query("a")).await.reports[0].status,
        SourceStatus::Timeout
    );
    assert_eq!(
        fed.search(&n, &query("b")).await.reports[0].status,
        SourceStatus::Skipped
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    // The probe times out too: open again.
    assert_eq!(
        fed.search(&n, &query("c")).await.reports[0].status,
        SourceStatus::Timeout
    );
    assert_eq!(
        fed.search(&n, &query("d")).await.reports[0].status,
        SourceStatus::Skipped
    );
    assert_eq!(fed.failures("epmc"), 2);
}

#[tokio::test]
async fn identical_queries_are_answered_from_the_cache() {
    let (server, sources) = fixture_sources().await;
    let fed = Federator::new(&sources, options(2000)).unwrap();
    let n = names(&["europepmc", "pubmed"]);
    let first = fed.search(&n, &query("asthma  inhaled")).await;
    assert!(
        first
            .reports
            .iter()
            .all(|r| r.status == SourceStatus::Ok && !r.cached),
        "{:?}",
        first.reports
    );
    // The same query (whitespace aside) again: no new request.
    let second = fed.search(&n, &query("asthma inhaled")).await;
    assert!(
        second
            .reports
            .iter()
            .all(|r| r.status == SourceStatus::Ok && r.cached),
        "{:?}",
        second.reports
    );
    assert!(second.reports[0]
        .message
        .as_deref()
        .unwrap()
        .contains("from cache"));
    assert_eq!(requests(&server, "/epmc/search").await, 1);
    assert_eq!(requests(&server, "/eutils/esearch.fcgi").await, 1);
    assert_eq!(requests(&server, "/eutils/efetch.fcgi").await, 1);
    assert_eq!(first.lists[0].records.len(), second.lists[0].records.len());
    // A shallower page is served from the deeper cached answer; a deeper one asks again.
    let shallow = fed
        .search(
            &n,
            &RemoteQuery {
                depth: 5,
                ..query("asthma inhaled")
            },
        )
        .await;
    assert!(shallow.reports.iter().all(|r| r.cached));
    let deeper = fed
        .search(
            &n,
            &RemoteQuery {
                depth: 15,
                ..query("asthma inhaled")
            },
        )
        .await;
    assert!(deeper.reports.iter().all(|r| !r.cached));
    assert_eq!(requests(&server, "/epmc/search").await, 2);
    // Other filters: another request.
    let filtered = RemoteQuery {
        filters: Filters {
            year_from: Some(2020),
            ..Filters::default()
        },
        ..query("asthma inhaled")
    };
    let third = fed.search(&n, &filtered).await;
    assert!(third.reports.iter().all(|r| !r.cached));
    assert_eq!(requests(&server, "/epmc/search").await, 3);
    // Remote records are filtered again here: only 2020 and later.
    for l in &third.lists {
        assert!(
            l.records
                .iter()
                .all(|r| r.published.is_some_and(|d| d.year >= 2020)),
            "{l:?}"
        );
    }
    assert!(fed.cached_answers().await >= 4);
}

#[tokio::test]
async fn the_concurrency_cap_queues_within_the_deadline() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/slow/search",
        ok(fixture("europepmc_search_asthma.json"), "application/json")
            .set_delay(Duration::from_millis(400)),
    )
    .await;
    let uri = server.uri();
    let sources = vec![source(
        "epmc",
        SourceKind::Europepmc,
        format!("{uri}/slow/"),
    )];
    let fed = std::sync::Arc::new(
        Federator::new(
            &sources,
            FederationOptions {
                max_concurrent_per_source: 1,
                ..options(700)
            },
        )
        .unwrap(),
    );
    let mut handles = Vec::new();
    for i in 0..3 {
        let fed = std::sync::Arc::clone(&fed);
        handles.push(tokio::spawn(async move {
            fed.search(&names(&["epmc"]), &query(&format!("asthma {i}")))
                .await
        }));
    }
    let mut statuses = Vec::new();
    let mut slot_waits = 0;
    for h in handles {
        let a = h.await.unwrap();
        statuses.push(a.reports[0].status);
        if a.reports[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("no free connection slot"))
        {
            slot_waits += 1;
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == SourceStatus::Ok).count(),
        1,
        "{statuses:?}"
    );
    assert!(slot_waits >= 1, "{statuses:?}");
    // Waiting for a slot is not the source's fault.
    assert_eq!(
        fed.failures("epmc"),
        1,
        "only the request cut by the deadline counts"
    );
}

#[tokio::test]
async fn untranslatable_searches_skip_the_source_without_a_request() {
    let (server, sources) = fixture_sources().await;
    let fed = Federator::new(&sources, options(2000)).unwrap();
    let all = names(&["pubmed", "europepmc", "ctgov"]);
    let patient = RemoteQuery {
        filters: Filters {
            audience: Some(model::Audience::Patient),
            ..Filters::default()
        },
        ..query("asthma")
    };
    let a = fed.search(&all, &patient).await;
    assert!(
        a.reports.iter().all(|r| r.status == SourceStatus::Skipped),
        "{:?}",
        a.reports
    );
    let a = fed.search(&all, &query("*")).await;
    assert!(a.reports.iter().all(|r| r.status == SourceStatus::Skipped));
    // A PMID cannot be looked up in ClinicalTrials.gov; the others are asked.
    let a = fed.search(&all, &query("pmid:91000001")).await;
    assert_eq!(a.reports[2].status, SourceStatus::Skipped);
    assert!(a.reports[2].message.as_deref().unwrap().contains("pmid"));
    assert_eq!(requests(&server, "/ctgov/studies").await, 0);
    // What a source cannot express is noted in its message.
    let a = fed.search(&all, &query("asthma smith[au]")).await;
    let ct = &a.reports[2];
    assert_eq!(ct.status, SourceStatus::Ok);
    assert!(
        ct.message.as_deref().unwrap().contains("no authors"),
        "{ct:?}"
    );
}

/// A local index of the starter corpus, and remote answers that overlap it.
fn starter_index() -> SearchIndex {
    let text = std::fs::read_to_string(repo().join("fixtures/starter/records.jsonl")).unwrap();
    let records: Vec<model::Record> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
    let mut b = index.builder(32 << 20).unwrap();
    b.add(records, false).unwrap();
    b.finish().unwrap();
    index.reload().unwrap();
    index
}

#[tokio::test]
async fn remote_hits_are_rescored_merged_and_escaped() {
    let (_server, sources) = fixture_sources().await;
    let fed = Federator::new(&sources, options(2000)).unwrap();
    let index = starter_index();
    let q = "acute asthma";
    let local = index
        .search(&SearchRequest {
            q: q.into(),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    let answer = fed
        .search(&names(&["pubmed", "europepmc", "ctgov"]), &query(q))
        .await;
    assert!(
        answer.reports.iter().all(|r| r.status == SourceStatus::Ok),
        "{:?}",
        answer.reports
    );
    let local_records: Vec<model::Record> = local.hits.iter().map(|h| h.record.clone()).collect();
    let input = MergeInput {
        local_external: index.score_external(q, &local_records),
        remote_external: answer
            .lists
            .iter()
            .map(|l| index.score_external(q, &l.records))
            .collect(),
        local: local.hits,
        remote: answer.lists,
    };
    let merged = merge(input, Fusion::default(), Sort::Relevance);
    // sample:5 is PubMed 90000005: one hit, listing both sources.
    let dup = merged
        .hits
        .iter()
        .find(|h| h.record.id == "sample:5")
        .expect("sample:5");
    assert_eq!(dup.sources, ["sample", "pubmed"]);
    assert!(dup
        .record
        .merged_from
        .contains(&"pubmed:90000005".to_string()));
    assert_eq!(
        merged
            .hits
            .iter()
            .filter(|h| h.record.identifiers.pmid.as_deref() == Some("90000005"))
            .count(),
        1
    );
    // Local and remote hits interleave in the first ten.
    let top: Vec<bool> = merged
        .hits
        .iter()
        .take(10)
        .map(|h| h.is_remote_only())
        .collect();
    assert!(top.contains(&true) && top.contains(&false), "{top:?}");
    let first_remote = top.iter().position(|r| *r).unwrap();
    let last_local = top.iter().rposition(|r| !*r).unwrap();
    assert!(
        first_remote < last_local,
        "interleaved, not appended: {top:?}"
    );
    // Remote text is escaped; query words are marked.
    let mut hl = Highlighter::new(q);
    let hits: Vec<search::Hit> = merged.hits.into_iter().map(|h| hl.hit(h)).collect();
    let magnesium = hits
        .iter()
        .find(|h| h.record.id == "pubmed:91000001")
        .expect("remote rct");
    assert!(
        magnesium.title_html.contains("<mark>asthma</mark>"),
        "{}",
        magnesium.title_html
    );
    assert!(
        magnesium.title_html.contains("&amp;"),
        "{}",
        magnesium.title_html
    );
    assert!(
        !magnesium.snippet_html.contains("<script>"),
        "{}",
        magnesium.snippet_html
    );
    assert_eq!(
        magnesium.record.evidence_level,
        Some(model::EvidenceLevel::Rct)
    );
}

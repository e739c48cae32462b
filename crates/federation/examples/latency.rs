//! Added latency of federation over a local search (results in `benches/RESULTS.md`, "Federation").
//!
//! The local index is the starter corpus (`fixtures/starter`). Three stand-ins on 127.0.0.1 play
//! PubMed, Europe PMC and ClinicalTrials.gov, replaying real captured responses from
//! `../shared/data/sources` (this project's fixtures when those are absent), each answering after
//! a fixed delay. Each run does what `GET /api/v1/search` does for page 1 of 10 (minus HTTP and
//! JSON): the local search and the fan-out at once, then scoring of the remote records with the
//! local model, fusion, and the display parts of the page.
//!
//! ```sh
//! cargo run --release -p federation --example latency
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use federation::merge::{remote_depth, CALIBRATION_HITS};
use federation::{
    merge, FederationOptions, Federator, Fusion, Highlighter, MergeInput, RemoteQuery, SourceStatus,
};
use harvest::{SourceConfig, SourceKind};
use search::{RankingParams, SearchIndex, SearchRequest};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const QUERY: &str = "asthma OR cancer";
const PER_PAGE: usize = 10;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str, fallback: &str) -> (Vec<u8>, bool) {
    match std::fs::read(repo().join("../shared/data/sources").join(rel)) {
        Ok(b) => (b, true),
        Err(_) => (
            std::fs::read(repo().join("fixtures/federation").join(fallback)).unwrap_or_default(),
            false,
        ),
    }
}

/// The first `n` articles of a PubmedArticleSet.
fn first_articles(xml: &[u8], n: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(xml);
    let mut out = String::from("<?xml version=\"1.0\" ?>\n<PubmedArticleSet>\n");
    for part in text.split("<PubmedArticle>").skip(1).take(n) {
        let body = part.split("</PubmedArticle>").next().unwrap_or("");
        out.push_str("<PubmedArticle>");
        out.push_str(body);
        out.push_str("</PubmedArticle>\n");
    }
    out.push_str("</PubmedArticleSet>\n");
    out.into_bytes()
}

fn starter_index() -> SearchIndex {
    let text = std::fs::read_to_string(repo().join("fixtures/starter/records.jsonl"))
        .expect("starter corpus");
    let records: Vec<model::Record> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let index = SearchIndex::create_in_ram(RankingParams::default()).expect("index");
    let mut b = index.builder(64 << 20).expect("builder");
    b.add(records, false).expect("add");
    b.finish().expect("finish");
    index.reload().expect("reload");
    index
}

fn local_request(limit: usize) -> SearchRequest {
    SearchRequest {
        q: QUERY.into(),
        limit,
        ..Default::default()
    }
}

/// One federated page 1, as the API computes it. Returns the statuses.
async fn federated_page(
    index: &Arc<SearchIndex>,
    fed: &Arc<Federator>,
    names: &[String],
) -> Vec<SourceStatus> {
    let page_depth = PER_PAGE;
    let idx = Arc::clone(index);
    let local = tokio::task::spawn_blocking(move || {
        idx.search(&local_request(page_depth.max(CALIBRATION_HITS)))
    });
    let q = RemoteQuery {
        q: QUERY.into(),
        filters: Default::default(),
        depth: remote_depth(page_depth),
    };
    let (local, remote) = tokio::join!(local, fed.search(names, &q));
    let res = local.expect("join").expect("local search");
    let statuses = remote.reports.iter().map(|r| r.status).collect();
    let idx = Arc::clone(index);
    let lists = remote.lists;
    let fed = Arc::clone(fed);
    tokio::task::spawn_blocking(move || {
        let local_records: Vec<model::Record> = res
            .hits
            .iter()
            .take(CALIBRATION_HITS)
            .map(|h| h.record.clone())
            .collect();
        let (local_external, remote_external) = if lists.iter().all(|l| l.records.is_empty()) {
            (Vec::new(), Vec::new())
        } else {
            let score = |records: &[model::Record]| {
                fed.scores_with(QUERY, 1, records, |todo| idx.score_external(QUERY, todo))
            };
            let local_external = score(&local_records);
            let remote_external: Vec<Vec<Option<f32>>> =
                lists.iter().map(|l| score(&l.records)).collect();
            (local_external, remote_external)
        };
        let merged = merge(
            MergeInput {
                local: res.hits,
                local_external,
                remote: lists,
                remote_external,
            },
            Fusion::default(),
            search::Sort::Relevance,
        );
        let mut hl = Highlighter::new(QUERY);
        let page: Vec<search::Hit> = merged
            .hits
            .into_iter()
            .take(PER_PAGE)
            .map(|h| hl.hit(h))
            .collect();
        std::hint::black_box(page);
    })
    .await
    .expect("join");
    statuses
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

struct Row {
    name: String,
    p50: f64,
    p95: f64,
    n: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let index = Arc::new(starter_index());
    let (efetch, real_pm) = read(
        "pubmed/efetch_pubmedarticleset_121.xml",
        "pubmed_efetch_asthma.xml",
    );
    let (esearch, _) = read(
        "pubmed/ncbi_samples/esearch.pubmed.xml",
        "pubmed_esearch_asthma.xml",
    );
    let (epmc, real_epmc) = read(
        "europepmc/pyeuropepmc/search_cancer_core.json",
        "europepmc_search_asthma.json",
    );
    let (ct, real_ct) = read(
        "clinicaltrials/search_phelan_limit5_20260811.json",
        "clinicaltrials_studies_asthma.json",
    );
    let efetch = if real_pm {
        first_articles(&efetch, 20)
    } else {
        efetch
    };
    println!(
        "remote answers: pubmed {} ({} bytes efetch), europe pmc {}, clinicaltrials.gov {}",
        if real_pm {
            "real (20 articles)"
        } else {
            "fixture"
        },
        efetch.len(),
        if real_epmc {
            "real (25 core results)"
        } else {
            "fixture"
        },
        if real_ct {
            "real (5 studies)"
        } else {
            "fixture"
        },
    );

    // Local search alone: what a search without federation costs.
    let mut rows: Vec<Row> = Vec::new();
    let mut local_times = Vec::new();
    for i in 0..300 {
        let idx = Arc::clone(&index);
        let t = Instant::now();
        tokio::task::spawn_blocking(move || idx.search(&local_request(PER_PAGE)).map(|r| r.total))
            .await
            .expect("join")
            .expect("search");
        if i >= 20 {
            local_times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let n = local_times.len();
    let local_p50 = percentile(&mut local_times, 0.5);
    let local_p95 = percentile(&mut local_times, 0.95);
    rows.push(Row {
        name: "local search only (no federation)".into(),
        p50: local_p50,
        p95: local_p95,
        n,
    });

    let names: Vec<String> = ["pubmed", "europepmc", "ctgov"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for delay_ms in [50u64, 200, 800] {
        let server = MockServer::start().await;
        let d = Duration::from_millis(delay_ms);
        let mount = |p: &'static str, body: Vec<u8>, mime: &'static str| {
            Mock::given(method("GET")).and(path(p)).respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(body, mime)
                    .set_delay(d),
            )
        };
        mount("/eutils/esearch.fcgi", esearch.clone(), "text/xml")
            .mount(&server)
            .await;
        mount("/eutils/efetch.fcgi", efetch.clone(), "text/xml")
            .mount(&server)
            .await;
        mount("/epmc/search", epmc.clone(), "application/json")
            .mount(&server)
            .await;
        mount("/ctgov/studies", ct.clone(), "application/json")
            .mount(&server)
            .await;
        let uri = server.uri();
        let sources: Vec<SourceConfig> = [
            ("pubmed", SourceKind::Pubmed, "eutils"),
            ("europepmc", SourceKind::Europepmc, "epmc"),
            ("ctgov", SourceKind::Clinicaltrials, "ctgov"),
        ]
        .iter()
        .map(|(n, k, p)| {
            let mut s = SourceConfig::new(n, *k, &format!("{uri}/{p}/"));
            s.rate_per_s = Some(0.0);
            s
        })
        .collect();
        // No cache: every run goes to the stand-ins.
        let fed = Arc::new(
            Federator::new(
                &sources,
                FederationOptions {
                    cache_capacity: 0,
                    breaker_threshold: u32::MAX,
                    ..FederationOptions::default()
                },
            )
            .expect("federator"),
        );
        let runs = if delay_ms >= 800 { 12 } else { 30 };
        let mut times = Vec::new();
        let mut last = Vec::new();
        for i in 0..runs + 2 {
            let t = Instant::now();
            last = federated_page(&index, &fed, &names).await;
            if i >= 2 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let n = times.len();
        let (p50, p95) = (percentile(&mut times, 0.5), percentile(&mut times, 0.95));
        let statuses: Vec<String> = names
            .iter()
            .zip(&last)
            .map(|(n, s)| format!("{n} {s:?}").to_lowercase())
            .collect();
        rows.push(Row {
            name: format!(
                "federated, stand-ins answering each request in {delay_ms} ms ({})",
                statuses.join(", ")
            ),
            p50,
            p95,
            n,
        });

        if delay_ms == 50 {
            // All cached: the same query again with the cache on.
            let cached = Arc::new(
                Federator::new(&sources, FederationOptions::default()).expect("federator"),
            );
            federated_page(&index, &cached, &names).await;
            let mut times = Vec::new();
            for i in 0..320 {
                let t = Instant::now();
                federated_page(&index, &cached, &names).await;
                if i >= 20 {
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            let n = times.len();
            let (p50, p95) = (percentile(&mut times, 0.5), percentile(&mut times, 0.95));
            rows.push(Row {
                name: "federated, every source answered from the cache".into(),
                p50,
                p95,
                n,
            });

            // All skipped: open circuits (every source failed once, long cool-down).
            server.reset().await;
            for p in ["/eutils/esearch.fcgi", "/epmc/search", "/ctgov/studies"] {
                Mock::given(method("GET"))
                    .and(path(p))
                    .respond_with(ResponseTemplate::new(503))
                    .mount(&server)
                    .await;
            }
            let open = Arc::new(
                Federator::new(
                    &sources,
                    FederationOptions {
                        breaker_threshold: 1,
                        breaker_cooldown: Duration::from_secs(3600),
                        cache_capacity: 0,
                        ..FederationOptions::default()
                    },
                )
                .expect("federator"),
            );
            federated_page(&index, &open, &names).await;
            let mut times = Vec::new();
            for i in 0..320 {
                let t = Instant::now();
                let statuses = federated_page(&index, &open, &names).await;
                assert!(
                    statuses.iter().all(|s| *s == SourceStatus::Skipped),
                    "{statuses:?}"
                );
                if i >= 20 {
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            let n = times.len();
            let (p50, p95) = (percentile(&mut times, 0.5), percentile(&mut times, 0.95));
            rows.push(Row {
                name: "federated, every source skipped (circuits open)".into(),
                p50,
                p95,
                n,
            });
        }
    }

    // The cost of scoring remote records with the local model.
    let (epmc_records, _) = {
        let page = harvest::europe_pmc::parse_search(&epmc, "europepmc")
            .map(|p| p.parsed.records)
            .unwrap_or_default();
        (page, ())
    };
    let t = Instant::now();
    let reps = 200;
    for _ in 0..reps {
        std::hint::black_box(index.score_external(QUERY, &epmc_records));
    }
    let per_record = t.elapsed().as_secs_f64() * 1e6 / (reps * epmc_records.len().max(1)) as f64;

    println!();
    println!("| path (page 1 of 10, query `{QUERY}`) | p50 ms | p95 ms | added p50 ms | runs |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.2} | {:+.2} | {} |",
            r.name,
            r.p50,
            r.p95,
            r.p50 - local_p50,
            r.n
        );
    }
    println!();
    println!(
        "score_external: {per_record:.1} µs per Europe PMC record ({} records with abstracts)",
        epmc_records.len()
    );
}

//! Harvest → store → build → search, against a local server replaying real PubMed responses, and
//! cross-source dedup on real overlapping records.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use harvest::{SourceConfig, SourceKind};
use indexer::{BuildOptions, Progress};
use search::{Generations, RankingParams, SearchIndex, SearchRequest};
use store::Store;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn shared(rel: &str) -> Option<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!(
                "skipping: {} is absent (../shared/data holds the real third-party data)",
                p.display()
            );
            None
        }
    }
}

const ESEARCH: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">
<eSearchResult><Count>121</Count><RetMax>0</RetMax><RetStart>0</RetStart><QueryKey>1</QueryKey><WebEnv>MCID_TEST</WebEnv><IdList></IdList><TranslationSet/></eSearchResult>"#;

async fn pubmed_server(efetch: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/entrez/eutils/esearch.fcgi"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(ESEARCH, "text/xml"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/entrez/eutils/efetch.fcgi"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(efetch, "text/xml"))
        .mount(&server)
        .await;
    server
}

fn pubmed_source(server: &MockServer) -> SourceConfig {
    let mut cfg = SourceConfig::new(
        "pubmed",
        SourceKind::Pubmed,
        &format!("{}/entrez/eutils/", server.uri()),
    );
    cfg.query = Some("air embolism".into());
    cfg.page_size = Some(200);
    cfg.rate_per_s = Some(50.0);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harvest_build_search_finds_records_by_text_and_pmid() {
    let Some(efetch) = shared("sources/pubmed/efetch_pubmedarticleset_121.xml") else {
        return;
    };
    let server = pubmed_server(efetch).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.sqlite")).unwrap());
    let cfg = pubmed_source(&server);

    let report =
        indexer::harvesting::harvest_source(Arc::clone(&store), &cfg, false, &Progress::default())
            .await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.stats.added, 121);
    assert_eq!(report.rejected, 0);
    assert_eq!(store.count_live().unwrap(), 121);

    // A second harvest adds nothing.
    let again =
        indexer::harvesting::harvest_source(Arc::clone(&store), &cfg, false, &Progress::default())
            .await;
    assert!(again.ok(), "{again:?}");
    assert_eq!(again.stats.added + again.stats.updated, 0, "{again:?}");

    let gens = Generations::open(&dir.path().join("index")).unwrap();
    let st = Arc::clone(&store);
    let built = tokio::task::spawn_blocking(move || {
        indexer::store_build::build_from_store(
            &st,
            &gens,
            &RankingParams::default(),
            &BuildOptions::default(),
            50,
            &Progress::default(),
        )
    })
    .await
    .unwrap()
    .unwrap();
    // The set holds one article twice under two PMIDs (19294535 and 19277906: the same 2009 case
    // report, same title); the title + year fingerprint makes them one document.
    assert_eq!(built.documents, 120);

    let gens = Generations::open(&dir.path().join("index")).unwrap();
    let index = SearchIndex::open(
        &gens.path(gens.live().unwrap().unwrap()),
        RankingParams::default(),
    )
    .unwrap();
    let res = index
        .search(&SearchRequest {
            q: "air embolism".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(res.total > 10, "{}", res.total);
    let top = &res.hits[0].record;
    assert!(!top.mesh_terms.is_empty(), "MeSH terms reach the hits");
    assert!(top.identifiers.pmid.is_some());

    let res = index
        .search(&SearchRequest {
            q: "31045810".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(res.hits[0].record.id, "pubmed:31045810");
    assert_eq!(
        res.hits[0].record.identifiers.doi.as_deref(),
        Some("10.1097/md.0000000000015437")
    );
    let res = index
        .search(&SearchRequest {
            q: "10.1097/MD.0000000000015437".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(res.hits[0].record.id, "pubmed:31045810");
    let res = index
        .search(&SearchRequest {
            q: "embolism[mh]".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(res.total > 0);
    let res = index
        .search(&SearchRequest {
            q: "19277906".into(),
            ..Default::default()
        })
        .unwrap();
    let hit = &res.hits[0].record;
    let mut ids: Vec<&str> = std::iter::once(hit.id.as_str())
        .chain(hit.merged_from.iter().map(String::as_str))
        .collect();
    ids.sort();
    assert_eq!(ids, ["pubmed:19277906", "pubmed:19294535"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_page_keeps_what_was_stored_and_resumes() {
    let Some(efetch) = shared("sources/pubmed/efetch_pubmedarticleset_121.xml") else {
        return;
    };
    // A truncated efetch page fails with a clear error, stores nothing from it, and leaves the
    // checkpoint before it; served whole again, the next harvest takes it.
    let cut = efetch[..efetch.len() / 2].to_vec();
    let server = pubmed_server(cut).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.sqlite")).unwrap());
    let cfg = pubmed_source(&server);
    let report =
        indexer::harvesting::harvest_source(Arc::clone(&store), &cfg, false, &Progress::default())
            .await;
    let err = report.error.clone().expect("a truncated page fails");
    assert!(
        err.contains("efetch") || err.contains("xml") || err.contains("pubmed"),
        "{err}"
    );
    assert_eq!(store.count_live().unwrap(), 0);
    let last = store.last_harvest("pubmed").unwrap().unwrap();
    assert!(last.error.is_some());

    server.reset().await;
    let good = pubmed_server(efetch).await;
    let cfg = pubmed_source(&good);
    let report =
        indexer::harvesting::harvest_source(Arc::clone(&store), &cfg, false, &Progress::default())
            .await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(store.count_live().unwrap(), 121);
}

#[test]
fn same_article_from_pubmed_and_europe_pmc_is_one_hit() {
    let (Some(pm), Some(epmc)) = (
        shared("sources/pubmed/biomcp/efetch_citation_22663011.xml"),
        shared("sources/europepmc/search_pmid_22663011.json"),
    ) else {
        return;
    };
    let pm = harvest::pubmed::parse_efetch(&pm, "pubmed").unwrap();
    let ep = harvest::europe_pmc::parse_search(&epmc, "europepmc").unwrap();
    assert_eq!(pm.records.len(), 1);
    assert!(!ep.parsed.records.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.sqlite")).unwrap();
    store.upsert_records(&pm.records).unwrap();
    store.upsert_records(&ep.parsed.records).unwrap();
    assert_eq!(
        store.count_live().unwrap(),
        1 + ep.parsed.records.len() as u64
    );

    let gens = Generations::open(&dir.path().join("index")).unwrap();
    let report = indexer::store_build::build_from_store(
        &store,
        &gens,
        &RankingParams::default(),
        &BuildOptions::default(),
        10,
        &Progress::default(),
    )
    .unwrap();
    assert_eq!(
        report.documents,
        ep.parsed.records.len() as u64,
        "the two copies of 22663011 are one document"
    );
    let index = SearchIndex::open(&gens.path(report.generation), RankingParams::default()).unwrap();
    let res = index
        .search(&SearchRequest {
            q: "22663011".into(),
            ..Default::default()
        })
        .unwrap();
    let hit = &res.hits[0].record;
    let mut sources: Vec<&str> = std::iter::once(hit.id.as_str())
        .chain(hit.merged_from.iter().map(String::as_str))
        .collect();
    sources.sort();
    assert_eq!(sources.len(), 2, "{hit:?}");
    assert!(
        sources.iter().any(|s| s.starts_with("pubmed:"))
            && sources.iter().any(|s| s.starts_with("europepmc:"))
    );
    assert_eq!(res.total, 1);
}

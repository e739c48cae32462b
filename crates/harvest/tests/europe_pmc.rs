//! Europe PMC: the parser on real `search` responses (pyeuropepmc and biomcp captures) and our
//! fixture, and the harvester against a fake Europe PMC on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::*;
use harvest::connector::Connector;
use harvest::europe_pmc::{parse_search, EuropePmcHarvester};
use harvest::{HarvestError, ParseError, Parsed, SourceConfig, SourceKind};
use model::{EvidenceLevel, Record};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn by_id<'a>(p: &'a Parsed, id: &str) -> &'a Record {
    p.records
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no record {id}"))
}

const CURSOR_2: &str = "AoIIP4ZawSg1MzEyODI1MA==";
const CURSOR_3: &str = "AoIIP4lkIig1MzE0NTMwOA==";

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

#[test]
fn core_page_of_25() {
    let Some(bytes) = data("europepmc/pyeuropepmc/search_cancer_core.json") else {
        return;
    };
    let p = parse_search(&bytes, "europepmc").unwrap();
    let recs = &p.parsed.records;
    assert_eq!(recs.len(), 25);
    assert!(p.parsed.rejected.is_empty());
    assert_eq!(p.hit_count, Some(5_059_039));
    assert_eq!(p.next_cursor_mark.as_deref(), Some(CURSOR_2));
    assert_eq!(p.result_count, 25);
    assert_eq!(
        recs.iter()
            .map(|r| r.id.as_str())
            .collect::<HashSet<_>>()
            .len(),
        25
    );
    assert!(recs
        .iter()
        .all(|r| r.identifiers.pmid.as_deref() == r.id.strip_prefix("europepmc:")));
    assert_eq!(
        recs.iter().filter(|r| r.abstract_text.is_some()).count(),
        21
    );
    assert_eq!(recs.iter().map(|r| r.mesh_terms.len()).sum::<usize>(), 149);
    assert_eq!(recs.iter().map(|r| r.mesh_major.len()).sum::<usize>(), 43);
    assert_eq!(
        recs.iter()
            .filter(|r| r.identifiers.pmcid.is_some())
            .count(),
        9
    );
    assert_eq!(
        recs.iter().filter(|r| r.identifiers.doi.is_some()).count(),
        24
    );
    assert_eq!(
        recs.iter().filter(|r| r.open_access == Some(true)).count(),
        8
    );
    assert!(recs
        .iter()
        .all(|r| r.journal.is_some() && r.published.is_some() && r.language.is_some()));
    for r in recs {
        for text in [Some(&r.title), r.abstract_text.as_ref()]
            .into_iter()
            .flatten()
        {
            assert!(
                !text.contains("<h4>") && !text.contains("<i>") && !text.contains("</"),
                "{}: {text}",
                r.id
            );
        }
    }

    let r = by_id(&p.parsed, "europepmc:39212676");
    assert_eq!(
        r.title,
        "The Clinical Impact of Time-restricted Eating on Cancer: A Systematic Review."
    );
    assert_eq!(r.evidence_level, Some(EvidenceLevel::SystematicReview));
    assert_eq!(
        r.publication_types,
        ["Systematic Review", "review-article", "Journal Article"]
    );
    assert_eq!(r.identifiers.pmcid.as_deref(), Some("PMC12166167"));
    assert_eq!(r.licence.as_deref(), Some("CC BY"));
    assert_eq!(r.open_access, Some(true));
    assert_eq!(r.journal.as_deref(), Some("Nutrition reviews"));
    assert_eq!(r.published.unwrap().to_string(), "2025-07-01");
    assert_eq!(r.authors.len(), 6);
    assert_eq!(r.authors[0], "Stringer EJ");
    assert_eq!(
        r.mesh_terms,
        [
            "Humans",
            "Neoplasms",
            "Fasting",
            "Time Factors",
            "Gastrointestinal Microbiome"
        ]
    );
    assert_eq!(r.mesh_major, ["Neoplasms", "Fasting"]);
    assert_eq!(
        r.keywords,
        [
            "Cancer",
            "Systematic review",
            "Dietary Interventions",
            "Intermittent Fasting",
            "Time-restricted Eating"
        ]
    );
    assert!(r
        .abstract_text
        .as_deref()
        .unwrap()
        .starts_with("Context: In the face of the growing global burden"));
    assert_eq!(
        r.url.as_deref(),
        Some("https://europepmc.org/article/MED/39212676")
    );

    let r = by_id(&p.parsed, "europepmc:40437959");
    assert_eq!(r.licence.as_deref(), Some("CC BY-NC-ND"));
    assert!(r
        .abstract_text
        .as_deref()
        .unwrap()
        .starts_with("Issue addressed: Despite national cancer screening"));
}

#[test]
fn lite_pages_carry_the_journal_abbreviation() {
    let (Some(lite), Some(page2)) = (
        data("europepmc/pyeuropepmc/search_cancer.json"),
        data("europepmc/pyeuropepmc/search_cancer_page2.json"),
    ) else {
        return;
    };
    let p = parse_search(&lite, "europepmc").unwrap();
    assert_eq!(p.parsed.records.len(), 25);
    assert_eq!(
        by_id(&p.parsed, "europepmc:39709209").journal.as_deref(),
        Some("Lancet")
    );
    assert!(p.parsed.records.iter().all(|r| r.abstract_text.is_none()));
    let p2 = parse_search(&page2, "europepmc").unwrap();
    assert_eq!(p2.parsed.records.len(), 5);
    assert_eq!(p2.next_cursor_mark.as_deref(), Some(CURSOR_3));
}

/// Every real Europe PMC file: the JSON searches parse with these counts, the XML ones are refused.
#[test]
fn every_real_europe_pmc_file() {
    let (Some(top), Some(py)) = (data_dir("europepmc"), data_dir("europepmc/pyeuropepmc")) else {
        return;
    };
    // (file, records, rejected, hitCount); None: not a JSON search response.
    type Counts = Option<(usize, usize, u64)>;
    let expected: &[(&str, Counts)] = &[
        ("pmc3040717-supplementary-not-open-access.xml", None),
        ("search_pmid_20516115.json", Some((1, 0, 1))),
        ("search_pmid_22663011.json", Some((1, 0, 1))),
        ("variant_search_20614e48e1a4.json", Some((5, 0, 5))),
        ("variant_search_3b4da36e4f15.json", Some((1, 0, 1))),
        ("variant_search_7beaf0a48632.json", Some((6, 0, 6))),
        ("variant_search_87a89806f519.json", Some((2, 0, 2))),
        ("variant_search_961f20e7efdd.json", Some((1, 0, 1))),
        ("variant_search_ba037a15794e.json", Some((1, 0, 1))),
        ("search_cancer.json", Some((25, 0, 5_059_039))),
        ("search_cancer.xml", None),
        ("search_cancer_core.json", Some((25, 0, 5_059_039))),
        ("search_cancer_dc.xml", None),
        // idlist results have no title: each is reported, none dropped.
        ("search_cancer_idlist.json", Some((0, 25, 5_059_039))),
        ("search_cancer_page2.json", Some((5, 0, 5_059_039))),
        ("search_cancer_sorted_cited.json", Some((25, 0, 5_059_039))),
        ("search_no_results.json", Some((0, 0, 0))),
        ("search_post_cancer.json", Some((25, 0, 5_933_343))),
    ];
    let mut checked = 0;
    for file in top.iter().chain(&py) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let result = parse_search(&std::fs::read(file).unwrap(), "europepmc");
        match expected.iter().find(|(n, _)| *n == name) {
            Some((_, Some((records, rejected, hits)))) => {
                let p = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    (p.parsed.records.len(), p.parsed.rejected.len(), p.hit_count),
                    (*records, *rejected, Some(*hits)),
                    "{name}"
                );
                checked += 1;
            }
            Some((_, None)) => {
                assert!(
                    matches!(result, Err(ParseError::Unexpected(_))),
                    "{name}: {result:?}"
                );
                checked += 1;
            }
            None => eprintln!(
                "note: {name} is not in the expectations; parsed as {:?}",
                result.map(|p| p.parsed.records.len())
            ),
        }
    }
    assert_eq!(checked, expected.len());
}

#[test]
fn fixture_page_maps_preprints_and_rejects() {
    let p = parse_search(&fixture("europepmc/final_page.json"), "europepmc").unwrap();
    assert_eq!(p.parsed.records.len(), 2);
    let r = by_id(&p.parsed, "europepmc:90000201");
    assert_eq!(
        r.title,
        "Exercise during chemotherapy for early breast cancer: a randomised controlled trial."
    );
    assert_eq!(
        r.abstract_text.as_deref(),
        Some("Background: Fatigue is common during chemotherapy. Methods: We randomised 240 women (p < 0.05 was significant). Conclusions: Supervised exercise reduced fatigue.")
    );
    assert_eq!(
        r.authors,
        ["Example A", "Sample B", "Trial Collaborative Group"]
    );
    assert_eq!(r.mesh_major, ["Breast Neoplasms", "Exercise Therapy"]);
    assert_eq!(r.keywords, ["Exercise", "Fatigue"]);
    assert_eq!(r.evidence_level, Some(EvidenceLevel::Rct));
    assert_eq!(
        r.identifiers.doi.as_deref(),
        Some("10.5555/example.2024.0201")
    );
    let pre = by_id(&p.parsed, "europepmc:PPR:PPR900002");
    assert_eq!(pre.identifiers.pmid, None);
    assert_eq!(pre.publication_types, ["Preprint"]);
    assert_eq!(pre.authors, ["Preprint C", "Author D"]);
    assert_eq!(pre.journal, None);
    assert_eq!(pre.publisher.as_deref(), Some("Example Preprint Server"));
    assert_eq!(pre.licence.as_deref(), Some("CC0"));
    assert_eq!(
        pre.url.as_deref(),
        Some("https://europepmc.org/article/PPR/PPR900002")
    );
    assert_eq!(pre.evidence_level, Some(EvidenceLevel::Observational));
    assert_eq!(p.parsed.rejected.len(), 1);
    assert_eq!(p.parsed.rejected[0].source_id.as_deref(), Some("90000203"));
}

#[test]
fn malformed_json_and_html() {
    let full = fixture("europepmc/final_page.json");
    let err = parse_search(&truncated(&full, 900), "europepmc").unwrap_err();
    assert!(
        matches!(err, ParseError::Json { line, .. } if line > 1),
        "{err:?}"
    );
    let err = parse_search(HTML_ERROR_PAGE.as_bytes(), "europepmc").unwrap_err();
    assert!(
        matches!(err, ParseError::Unexpected(ref m) if m.contains("html page")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Harvesting against a fake Europe PMC
// ---------------------------------------------------------------------------------------------

const SEARCH: &str = "/europepmc/webservices/rest/search";

fn json_body(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json;charset=UTF-8")
}

async fn mount_cursor(server: &MockServer, cursor: &str, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("cursorMark", cursor))
        .respond_with(json_body(body))
        .mount(server)
        .await;
}

fn cfg(server: &MockServer) -> SourceConfig {
    let mut c = source(
        "europepmc",
        SourceKind::Europepmc,
        &format!("{}/europepmc/webservices/rest/", server.uri()),
    );
    c.query = Some("cancer".into());
    c.page_size = Some(25);
    c
}

/// The real core page, the real page 2, and our last page.
async fn europe_pmc() -> Option<MockServer> {
    let core = data("europepmc/pyeuropepmc/search_cancer_core.json")?;
    let page2 = data("europepmc/pyeuropepmc/search_cancer_page2.json")?;
    let server = MockServer::start().await;
    mount_cursor(&server, "*", core).await;
    mount_cursor(&server, CURSOR_2, page2).await;
    mount_cursor(&server, CURSOR_3, fixture("europepmc/final_page.json")).await;
    Some(server)
}

async fn cursors(server: &MockServer) -> Vec<String> {
    requests(server, Some(SEARCH))
        .await
        .iter()
        .filter_map(|r| param(r, "cursorMark"))
        .collect()
}

#[tokio::test]
async fn cursor_chain_until_the_cursor_stops_changing() {
    let Some(server) = europe_pmc().await else {
        return;
    };
    let pages = harvest(&cfg(&server), None, false).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages
            .iter()
            .map(|p| p.parsed.records.len())
            .collect::<Vec<_>>(),
        [25, 5, 2]
    );
    assert_eq!(pages[2].parsed.rejected.len(), 1);
    assert!(pages.iter().all(|p| p.total == Some(5_059_039)));
    assert_eq!(cursors(&server).await, ["*", CURSOR_2, CURSOR_3]);
    let first = &requests(&server, Some(SEARCH)).await[0];
    assert_eq!(param(first, "query").as_deref(), Some("cancer"));
    assert_eq!(param(first, "resultType").as_deref(), Some("core"));
    assert_eq!(param(first, "format").as_deref(), Some("json"));
    assert_eq!(param(first, "pageSize").as_deref(), Some("25"));
    assert_eq!(pages[0].checkpoint["cursor"], json!(CURSOR_2));
    assert_eq!(pages[1].checkpoint["cursor"], json!(CURSOR_3));
    assert!(
        pages[1]
            .url
            .contains("cursorMark=AoIIP4ZawSg1MzEyODI1MA%3D%3D"),
        "{}",
        pages[1].url
    );
    let done = last_checkpoint(&pages);
    assert_eq!(done["completed"], json!(true));
    assert_eq!(done["query"], json!("cancer"));
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(done["from"], json!(today));

    // The next run asks only for what was indexed since.
    server.reset().await;
    mount_cursor(
        &server,
        "*",
        data("europepmc/pyeuropepmc/search_no_results.json").unwrap(),
    )
    .await;
    let again = harvest(&cfg(&server), Some(&done), false).await;
    assert_eq!(again.len(), 1);
    assert!(again[0].parsed.records.is_empty());
    assert_eq!(again[0].total, Some(0));
    let q = param(&requests(&server, Some(SEARCH)).await[0], "query").unwrap();
    assert_eq!(
        q,
        format!("(cancer) AND (FIRST_IDATE:[{today} TO 3000-01-01])")
    );
}

#[tokio::test]
async fn a_page_without_next_cursor_ends_the_harvest() {
    let Some(one) = data("europepmc/search_pmid_22663011.json") else {
        return;
    };
    let server = MockServer::start().await;
    mount_cursor(&server, "*", one).await;
    let pages = harvest(&cfg(&server), None, false).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(ids(&pages), ["europepmc:22663011"]);
    assert_eq!(pages[0].checkpoint["completed"], json!(true));
}

#[tokio::test]
async fn configured_from_filters_the_first_harvest() {
    let Some(none) = data("europepmc/pyeuropepmc/search_no_results.json") else {
        return;
    };
    let server = MockServer::start().await;
    mount_cursor(&server, "*", none).await;
    let mut c = cfg(&server);
    c.from = Some("2024-01-01".into());
    harvest(&c, None, false).await;
    let q = param(&requests(&server, Some(SEARCH)).await[0], "query").unwrap();
    assert_eq!(q, "(cancer) AND (FIRST_IDATE:[2024-01-01 TO 3000-01-01])");
    c.from = Some("January".into());
    assert!(matches!(
        EuropePmcHarvester::new(&c, None, false),
        Err(HarvestError::Config { .. })
    ));
    c.from = None;
    c.query = None;
    assert!(matches!(
        EuropePmcHarvester::new(&c, None, false),
        Err(HarvestError::Config { .. })
    ));
}

#[tokio::test]
async fn truncated_json_fails_after_the_earlier_page_was_returned() {
    let Some(core) = data("europepmc/pyeuropepmc/search_cancer_core.json") else {
        return;
    };
    let server = MockServer::start().await;
    mount_cursor(&server, "*", core).await;
    mount_cursor(
        &server,
        CURSOR_2,
        truncated(&fixture("europepmc/final_page.json"), 1200),
    )
    .await;
    let mut c = Connector::new(&cfg(&server), None, false).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].parsed.records.len(), 25);
    let err = err.unwrap();
    let text = err.to_string();
    assert!(text.contains("source europepmc"), "{text}");
    assert!(
        text.contains(&format!("{}{SEARCH}?query=cancer", server.uri())),
        "{text}"
    );
    assert!(
        text.contains("cursorMark=AoIIP4ZawSg1MzEyODI1MA%3D%3D"),
        "{text}"
    );
    assert!(text.contains("malformed json at line"), "{text}");
    assert!(matches!(
        err,
        HarvestError::Parse {
            error: ParseError::Json { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn an_html_page_with_status_200_is_an_unexpected_document() {
    let server = MockServer::start().await;
    mount_cursor(&server, "*", HTML_ERROR_PAGE.as_bytes().to_vec()).await;
    let mut c = Connector::new(&cfg(&server), None, false).unwrap();
    let err = c.next_page(&fetcher()).await.unwrap_err();
    assert!(
        matches!(err, HarvestError::Parse { error: ParseError::Unexpected(ref m), .. } if m.contains("html page")),
        "{err:?}"
    );
}

#[tokio::test]
async fn resumes_after_a_crash_at_the_next_cursor() {
    let Some(server) = europe_pmc().await else {
        return;
    };
    let c = cfg(&server);
    let mut first = EuropePmcHarvester::new(&c, None, false).unwrap();
    let page1 = first.next_page(&fetcher()).await.unwrap().unwrap();
    let cp1 = page1.checkpoint.clone();
    drop(first); // the process dies here

    let mut resumed = Connector::new(&c, Some(&cp1), false).unwrap();
    let (rest, err) = drain(&mut resumed, &fetcher()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(rest.len(), 2);
    // The first page was never fetched again.
    assert_eq!(cursors(&server).await, ["*", CURSOR_2, CURSOR_3]);
    assert_eq!(last_checkpoint(&rest)["completed"], json!(true));

    // A changed query starts over.
    let mut other = c.clone();
    other.query = Some("asthma".into());
    let mut h = EuropePmcHarvester::new(&other, Some(&cp1), false).unwrap();
    h.next_page(&fetcher()).await.unwrap();
    assert_eq!(cursors(&server).await.last().map(String::as_str), Some("*"));
}

#[test]
fn truncated_or_corrupted_documents_never_panic() {
    never_panics(&fixture("europepmc/final_page.json"), |b| {
        parse_search(b, "e")
    });
    if let Some(core) = data("europepmc/pyeuropepmc/search_cancer_core.json") {
        never_panics(&core, |b| parse_search(b, "e"));
    }
}

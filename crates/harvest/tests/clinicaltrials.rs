//! ClinicalTrials.gov API v2: the parsers on real captures (biomcp, `fields`-filtered) and our
//! full-module fixtures, and the harvester against a fake API on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use harvest::clinicaltrials::{parse_studies, parse_study, ClinicalTrialsHarvester};
use harvest::connector::Connector;
use harvest::{HarvestError, ParseError, Parsed, SourceConfig, SourceKind};
use model::{EvidenceLevel, Record};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn by_id<'a>(p: &'a Parsed, id: &str) -> &'a Record {
    p.records
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no record {id}"))
}

const TOKEN_1: &str = "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4dnDeTsPkw";
const TOKEN_2: &str = "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4bmjeauvk_IQ";
const TOKEN_3: &str = "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4akTSUs_1w_FAKE";

// ---------------------------------------------------------------------------------------------
// Parsers
// ---------------------------------------------------------------------------------------------

/// Every real capture: searches with `parse_studies`, single studies with `parse_study`.
#[test]
fn every_real_clinicaltrials_file() {
    let Some(files) = data_dir("clinicaltrials") else {
        return;
    };
    // (file, records, nextPageToken present, totalCount)
    let expected: &[(&str, usize, bool, Option<u64>)] = &[
        ("get_nct02576665_20260811.json", 1, false, None),
        ("get_nct06382129_20260811.json", 1, false, None),
        ("get_nct06604689_20260811.json", 1, false, None),
        ("search_age_count_20260811.json", 1, true, Some(598_101)),
        ("search_keytruda_limit3_20260811.json", 3, true, Some(2924)),
        (
            "search_melanoma_recruiting_limit3_20260811.json",
            3,
            true,
            Some(480),
        ),
        ("search_nsclc_egfr_l858r_20260811.json", 2, false, Some(2)),
        ("search_phelan_limit5_20260811.json", 5, true, Some(21)),
        ("search_phelan_next_20260811.json", 5, true, None),
    ];
    let mut checked = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(file).unwrap();
        let Some((_, records, token, total)) = expected.iter().find(|(n, ..)| *n == name) else {
            eprintln!("note: {name} is not in the expectations");
            continue;
        };
        let (parsed, next, count) = if name.starts_with("get_") {
            (parse_study(&bytes, "ctgov").unwrap(), None, None)
        } else {
            let p = parse_studies(&bytes, "ctgov").unwrap();
            (p.parsed, p.next_page_token, p.total_count)
        };
        assert_eq!(parsed.records.len(), *records, "{name}");
        assert!(parsed.rejected.is_empty(), "{name}");
        assert_eq!(next.is_some(), *token, "{name}");
        assert_eq!(count, *total, "{name}");
        for r in &parsed.records {
            let nct = r.identifiers.nct.as_deref().unwrap();
            assert_eq!(r.id, format!("ctgov:{nct}"));
            assert_eq!(
                r.url.as_deref(),
                Some(format!("https://clinicaltrials.gov/study/{nct}").as_str())
            );
            let trial = r.trial.as_ref().unwrap();
            assert!(
                trial.status.is_some()
                    && trial.study_type.is_some()
                    && !trial.conditions.is_empty(),
                "{}",
                r.id
            );
            assert!(
                r.publisher.is_some() && r.published.is_some() && r.abstract_text.is_some(),
                "{}",
                r.id
            );
        }
        checked += 1;
    }
    assert_eq!(checked, expected.len());
}

#[test]
fn real_phelan_page_and_single_studies() {
    let (Some(page), Some(obs)) = (
        data("clinicaltrials/search_phelan_limit5_20260811.json"),
        data("clinicaltrials/get_nct06604689_20260811.json"),
    ) else {
        return;
    };
    let p = parse_studies(&page, "ctgov").unwrap();
    assert_eq!(p.next_page_token.as_deref(), Some(TOKEN_1));
    let r = by_id(&p.parsed, "ctgov:NCT02710084");
    assert_eq!(
        r.title,
        "Piloting Treatment With Intranasal Oxytocin in Phelan-McDermid Syndrome"
    );
    assert!(r
        .abstract_text
        .as_deref()
        .unwrap()
        .starts_with("This is a pilot study examining the efficacy"));
    assert_eq!(r.publisher.as_deref(), Some("Alexander Kolevzon"));
    // No first-posted date in this capture: the start date.
    assert_eq!(r.published.unwrap().to_string(), "2016-04-29");
    let t = r.trial.as_ref().unwrap();
    assert_eq!(t.status.as_deref(), Some("COMPLETED"));
    assert_eq!(t.phases, ["PHASE2"]);
    assert_eq!(t.conditions, ["Phelan-McDermid Syndrome"]);
    assert_eq!(t.interventions, ["Oxytocin", "Saline"]);
    assert_eq!(t.study_type.as_deref(), Some("INTERVENTIONAL"));
    // Allocation was filtered out of the capture: a registered interventional trial.
    assert_eq!(r.evidence_level, Some(EvidenceLevel::Rct));
    // `NA` is no phase.
    assert!(by_id(&p.parsed, "ctgov:NCT07119606")
        .trial
        .as_ref()
        .unwrap()
        .phases
        .is_empty());

    let p = parse_study(&obs, "ctgov").unwrap();
    let r = &p.records[0];
    assert_eq!(r.id, "ctgov:NCT06604689");
    assert_eq!(r.evidence_level, Some(EvidenceLevel::Observational));
    assert_eq!(r.published.unwrap().to_string(), "2024-09-30");
    assert_eq!(
        r.trial.as_ref().unwrap().status.as_deref(),
        Some("RECRUITING")
    );
}

#[test]
fn full_modules_of_our_fixture() {
    let p = parse_study(&fixture("clinicaltrials/study_full.json"), "ctgov").unwrap();
    let r = &p.records[0];
    assert_eq!(r.id, "ctgov:NCT99990001");
    assert_eq!(
        r.title,
        "Nurse-led Titration of Beta-blockers in Heart Failure (TITRATE-HF)"
    );
    assert_eq!(
        r.abstract_text.as_deref(),
        Some("This trial tests whether nurse-led titration of beta-blockers reaches target doses sooner than usual care.")
    );
    // The registration's first posting, not the start date.
    assert_eq!(r.published.unwrap().to_string(), "2023-05-02");
    assert_eq!(r.evidence_level, Some(EvidenceLevel::Rct));
    assert_eq!(
        r.keywords,
        ["beta-blocker", "titration", "specialist nurse"]
    );
    assert_eq!(
        r.mesh_terms,
        [
            "Heart Failure",
            "Ventricular Dysfunction, Left",
            "Bisoprolol",
            "Adrenergic beta-Antagonists"
        ]
    );
    assert_eq!(r.publisher.as_deref(), Some("Example NHS Foundation Trust"));
    assert_eq!(r.country.as_deref(), Some("United Kingdom"));
    assert_eq!(r.identifiers.nct.as_deref(), Some("NCT99990001"));
    let t = r.trial.as_ref().unwrap();
    assert_eq!(
        t.interventions,
        ["Bisoprolol", "Nurse-led titration clinic"]
    );
    assert_eq!(t.phases, ["PHASE3"]);

    let page = parse_studies(&fixture("clinicaltrials/studies_full_page.json"), "ctgov").unwrap();
    assert_eq!(page.next_page_token, None);
    assert_eq!(page.study_count, 4);
    let levels: Vec<_> = page
        .parsed
        .records
        .iter()
        .map(|r| (r.id.as_str(), r.evidence_level))
        .collect();
    assert_eq!(
        levels,
        [
            ("ctgov:NCT99990001", Some(EvidenceLevel::Rct)),
            ("ctgov:NCT99990002", Some(EvidenceLevel::Observational)),
            ("ctgov:NCT99990003", Some(EvidenceLevel::Observational)),
        ]
    );
    // Locations in two countries: no single country.
    assert_eq!(by_id(&page.parsed, "ctgov:NCT99990002").country, None);
    assert_eq!(page.parsed.rejected.len(), 1);
    assert_eq!(
        page.parsed.rejected[0].source_id.as_deref(),
        Some("NCT99990004")
    );
    assert_eq!(page.parsed.rejected[0].reason, "missing title");
}

#[test]
fn malformed_json_html_and_wrong_shapes() {
    let full = fixture("clinicaltrials/studies_full_page.json");
    let err = parse_studies(&truncated(&full, 3000), "ctgov").unwrap_err();
    assert!(
        matches!(err, ParseError::Json { line, .. } if line > 10),
        "{err:?}"
    );
    let err = parse_studies(HTML_ERROR_PAGE.as_bytes(), "ctgov").unwrap_err();
    assert!(
        matches!(err, ParseError::Unexpected(ref m) if m.contains("html page")),
        "{err:?}"
    );
    // A single study is not a page, and a page is not a study.
    assert!(matches!(
        parse_studies(&fixture("clinicaltrials/study_full.json"), "ctgov"),
        Err(ParseError::Unexpected(_))
    ));
    assert!(matches!(
        parse_study(&full, "ctgov"),
        Err(ParseError::Unexpected(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Harvesting against a fake API
// ---------------------------------------------------------------------------------------------

const STUDIES: &str = "/api/v2/studies";

fn json_body(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

async fn mount_first(server: &MockServer, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(STUDIES))
        .and(query_param_is_missing("pageToken"))
        .respond_with(json_body(body))
        .mount(server)
        .await;
}

async fn mount_token(server: &MockServer, token: &str, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(STUDIES))
        .and(query_param("pageToken", token))
        .respond_with(json_body(body))
        .mount(server)
        .await;
}

fn cfg(server: &MockServer) -> SourceConfig {
    let mut c = source(
        "ctgov",
        SourceKind::Clinicaltrials,
        &format!("{}/api/v2/", server.uri()),
    );
    c.query = Some("Phelan-McDermid Syndrome".into());
    c.page_size = Some(5);
    c
}

/// The real Phelan-McDermid chain (page 1 → page 2), then an empty page that still has a token.
async fn ctgov() -> Option<MockServer> {
    let p1 = data("clinicaltrials/search_phelan_limit5_20260811.json")?;
    let p2 = data("clinicaltrials/search_phelan_next_20260811.json")?;
    let server = MockServer::start().await;
    mount_first(&server, p1).await;
    mount_token(&server, TOKEN_1, p2).await;
    mount_token(
        &server,
        TOKEN_2,
        fixture("clinicaltrials/empty_page_with_token.json"),
    )
    .await;
    Some(server)
}

async fn tokens(server: &MockServer) -> Vec<Option<String>> {
    requests(server, Some(STUDIES))
        .await
        .iter()
        .map(|r| param(r, "pageToken"))
        .collect()
}

#[tokio::test]
async fn page_tokens_until_an_empty_page() {
    let Some(server) = ctgov().await else { return };
    let pages = harvest(&cfg(&server), None, false).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages
            .iter()
            .map(|p| p.parsed.records.len())
            .collect::<Vec<_>>(),
        [5, 5, 0]
    );
    assert_eq!(ids(&pages).len(), 10);
    assert!(pages.iter().all(|p| p.total == Some(21)));
    // The empty page's token is never followed.
    assert_eq!(
        tokens(&server).await,
        [None, Some(TOKEN_1.to_string()), Some(TOKEN_2.to_string())]
    );
    assert!(!requests(&server, Some(STUDIES))
        .await
        .iter()
        .any(|r| param(r, "pageToken").as_deref() == Some(TOKEN_3)));
    let reqs = requests(&server, Some(STUDIES)).await;
    assert_eq!(param(&reqs[0], "countTotal").as_deref(), Some("true"));
    assert_eq!(param(&reqs[1], "countTotal"), None);
    for r in &reqs {
        assert_eq!(param(r, "format").as_deref(), Some("json"));
        assert_eq!(param(r, "pageSize").as_deref(), Some("5"));
        assert_eq!(
            param(r, "query.term").as_deref(),
            Some("Phelan-McDermid Syndrome")
        );
        assert_eq!(param(r, "filter.advanced"), None);
    }
    assert_eq!(pages[0].checkpoint["token"], json!(TOKEN_1));
    let done = last_checkpoint(&pages);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        done,
        json!({"completed": true, "from": today, "query": "Phelan-McDermid Syndrome"})
    );

    // The second run asks for the studies updated since.
    server.reset().await;
    mount_first(&server, fixture("clinicaltrials/studies_full_page.json")).await;
    let again = harvest(&cfg(&server), Some(&done), false).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].parsed.records.len(), 3);
    assert_eq!(again[0].parsed.rejected.len(), 1);
    let req = &requests(&server, Some(STUDIES)).await[0];
    assert_eq!(
        param(req, "filter.advanced"),
        Some(format!("AREA[LastUpdatePostDate]RANGE[{today},MAX]"))
    );
}

#[tokio::test]
async fn a_last_page_without_token_ends_the_harvest() {
    let server = MockServer::start().await;
    mount_first(&server, fixture("clinicaltrials/studies_full_page.json")).await;
    let mut c = cfg(&server);
    c.query = None;
    c.from = Some("2024-01-01".into());
    c.audience = Some(model::Audience::Patient);
    let pages = harvest(&c, None, false).await;
    assert_eq!(pages.len(), 1);
    let req = &requests(&server, Some(STUDIES)).await[0];
    assert_eq!(param(req, "query.term"), None);
    assert_eq!(
        param(req, "filter.advanced").as_deref(),
        Some("AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]")
    );
    // Source defaults apply, without overriding what the registry says.
    let r = &pages[0].parsed.records[0];
    assert_eq!(r.audience, model::Audience::Patient);
    assert_eq!(r.evidence_level, Some(EvidenceLevel::Rct));
}

#[tokio::test]
async fn truncated_json_fails_after_the_earlier_page_was_returned() {
    let Some(p1) = data("clinicaltrials/search_phelan_limit5_20260811.json") else {
        return;
    };
    let server = MockServer::start().await;
    mount_first(&server, p1).await;
    mount_token(
        &server,
        TOKEN_1,
        truncated(&fixture("clinicaltrials/studies_full_page.json"), 2500),
    )
    .await;
    let mut c = Connector::new(&cfg(&server), None, false).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].parsed.records.len(), 5);
    let err = err.unwrap();
    let text = err.to_string();
    assert!(text.contains("source ctgov"), "{text}");
    assert!(
        text.contains(&format!("{}{STUDIES}?format=json", server.uri())),
        "{text}"
    );
    assert!(text.contains(&format!("pageToken={TOKEN_1}")), "{text}");
    assert!(text.contains("malformed json at line"), "{text}");
}

#[tokio::test]
async fn an_html_page_with_status_200_is_an_unexpected_document() {
    let Some(p1) = data("clinicaltrials/search_phelan_limit5_20260811.json") else {
        return;
    };
    let server = MockServer::start().await;
    mount_first(&server, p1).await;
    mount_token(&server, TOKEN_1, HTML_ERROR_PAGE.as_bytes().to_vec()).await;
    let mut c = Connector::new(&cfg(&server), None, false).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    assert_eq!(pages.len(), 1);
    let err = err.unwrap();
    assert!(
        matches!(err, HarvestError::Parse { error: ParseError::Unexpected(ref m), .. } if m.contains("html page")),
        "{err:?}"
    );
}

#[tokio::test]
async fn resumes_after_a_crash_at_the_next_token() {
    let Some(server) = ctgov().await else { return };
    let c = cfg(&server);
    let mut first = ClinicalTrialsHarvester::new(&c, None, false).unwrap();
    let page1 = first.next_page(&fetcher()).await.unwrap().unwrap();
    let cp1 = page1.checkpoint.clone();
    drop(first); // the process dies here

    let mut resumed = Connector::new(&c, Some(&cp1), false).unwrap();
    let (rest, err) = drain(&mut resumed, &fetcher()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].total, Some(21));
    // Page 1 was fetched once, before the crash.
    assert_eq!(
        tokens(&server).await,
        [None, Some(TOKEN_1.to_string()), Some(TOKEN_2.to_string())]
    );
    let reqs = requests(&server, Some(STUDIES)).await;
    assert_eq!(param(&reqs[1], "countTotal"), None);

    // `full` starts over.
    let mut h = ClinicalTrialsHarvester::new(&c, Some(&cp1), true).unwrap();
    h.next_page(&fetcher()).await.unwrap();
    assert_eq!(tokens(&server).await.last(), Some(&None));
}

#[test]
fn truncated_or_corrupted_documents_never_panic() {
    never_panics(&fixture("clinicaltrials/studies_full_page.json"), |b| {
        parse_studies(b, "c")
    });
    never_panics(&fixture("clinicaltrials/study_full.json"), |b| {
        parse_study(b, "c")
    });
}

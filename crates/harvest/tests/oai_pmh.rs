//! OAI-PMH: the parsers on real responses (Zenodo oai_dc and DataCite, DOAJ oai_doaj, Erasmus
//! DSpace) and on our fixtures, and the harvester against a fake repository on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::*;
use harvest::connector::Connector;
use harvest::oai_pmh::{self, parse_identify, parse_list_records, Granularity, OaiPmhHarvester};
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

fn date(r: &Record) -> String {
    r.published.map(|d| d.to_string()).unwrap_or_default()
}

/// Page 1's resumption token in the real Zenodo chain, and page 2's.
fn zenodo_tokens() -> Option<(String, String)> {
    let p1 =
        parse_list_records(&data("oai-pmh/zenodo/ListRecords_oai_dc_page1.xml")?, "z").unwrap();
    let p2 =
        parse_list_records(&data("oai-pmh/zenodo/ListRecords_oai_dc_page2.xml")?, "z").unwrap();
    Some((p1.resumption_token.unwrap(), p2.resumption_token.unwrap()))
}

// ---------------------------------------------------------------------------------------------
// Parsers on real responses
// ---------------------------------------------------------------------------------------------

#[test]
fn zenodo_list_records_oai_dc_has_50_records() {
    let Some(bytes) = data("oai-pmh/zenodo/ListRecords_oai_dc_from_2026-04-01.xml") else {
        return;
    };
    let p = parse_list_records(&bytes, "zenodo").unwrap();
    assert_eq!(p.parsed.records.len(), 50);
    assert!(p.parsed.rejected.is_empty() && p.parsed.deleted.is_empty());
    let ids: HashSet<_> = p.parsed.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 50);
    assert!(p
        .parsed
        .records
        .iter()
        .all(|r| r.id.starts_with("zenodo:") && r.source == "zenodo"));
    assert!(p
        .parsed
        .records
        .iter()
        .all(|r| r.identifiers.doi.is_some() && r.url.is_some()));
    assert!(p.parsed.records.iter().all(|r| r.published.is_some()));
    assert_eq!(p.datestamps.len(), 50);
    assert_eq!(p.max_datestamp.as_deref(), Some("2026-06-11T16:43:50Z"));
    assert_eq!(p.complete_list_size, Some(1_345_244));
    assert_eq!(p.cursor, Some(0));
    assert!(p
        .resumption_token
        .as_deref()
        .is_some_and(|t| t.starts_with(".eJ")));
    assert_eq!(p.response_date.as_deref(), Some("2026-08-13T18:18:48Z"));
    // No markup survives in titles or abstracts (Zenodo double-escapes its HTML).
    for r in &p.parsed.records {
        for text in [Some(&r.title), r.abstract_text.as_ref()]
            .into_iter()
            .flatten()
        {
            assert!(
                !text.contains("<p>") && !text.contains("&lt;") && !text.contains("&amp;"),
                "{}: {text}",
                r.id
            );
        }
    }
}

#[test]
fn zenodo_oai_dc_page_one_and_two() {
    let (Some(b1), Some(b2)) = (
        data("oai-pmh/zenodo/ListRecords_oai_dc_page1.xml"),
        data("oai-pmh/zenodo/ListRecords_oai_dc_page2.xml"),
    ) else {
        return;
    };
    let p1 = parse_list_records(&b1, "zenodo").unwrap();
    assert_eq!(p1.parsed.records.len(), 3);
    assert_eq!(p1.complete_list_size, Some(8_091_628));
    assert_eq!(p1.response_date.as_deref(), Some("2026-08-13T17:56:48Z"));
    assert_eq!(
        p1.datestamps,
        [
            "2023-10-12T14:26:07Z",
            "2023-10-12T15:06:49Z",
            "2023-10-12T02:36:57Z"
        ]
    );
    let r = by_id(&p1.parsed, "zenodo:8435696");
    assert_eq!(
        r.title,
        "PocketCoffea: a configuration layer for CMS analyses with Coffea"
    );
    assert_eq!(r.authors, ["Matteo Marchegiani"]);
    assert_eq!(r.publisher.as_deref(), Some("Zenodo"));
    assert_eq!(
        r.journal.as_deref(),
        Some("PyHEP 2023 Workshop, 9-12 October 2023")
    );
    assert_eq!(date(r), "2023-10-10");
    assert_eq!(r.identifiers.doi.as_deref(), Some("10.5281/zenodo.8435696"));
    assert_eq!(
        r.url.as_deref(),
        Some("https://doi.org/10.5281/zenodo.8435696")
    );
    assert_eq!(r.licence.as_deref(), Some("CC BY 4.0"));
    assert_eq!(r.open_access, Some(true));
    assert_eq!(r.publication_types, ["lecture"]);
    let a = r.abstract_text.as_deref().unwrap();
    assert!(
        a.starts_with("A configuration layer for the analysis of CMS data"),
        "{a}"
    );
    assert!(
        a.contains("reproducibility of analysis tasks. All the operations"),
        "{a}"
    );
    let r = by_id(&p1.parsed, "zenodo:8433301");
    assert_eq!(r.authors, ["Lin, Sam"]);
    assert_eq!(
        r.keywords,
        [
            "Archaeology",
            "Stone tools",
            "3D modeling",
            "Orientation analysis"
        ]
    );

    let p2 = parse_list_records(&b2, "zenodo").unwrap();
    assert_eq!(p2.parsed.records.len(), 2);
    assert_eq!(p2.parsed.deleted, ["zenodo:8433364"]);
    assert_eq!(p2.cursor, Some(50));
    assert!(p2.resumption_token.is_some());
    let r = by_id(&p2.parsed, "zenodo:8321258");
    assert_eq!(r.authors.len(), 5);
    assert_eq!(r.title, "SPED phase mapping");
}

#[test]
fn zenodo_datacite_has_50_records_that_agree_with_oai_dc() {
    let Some(bytes) = data("oai-pmh/zenodo/ListRecords_datacite_page1.xml") else {
        return;
    };
    let p = parse_list_records(&bytes, "zenodo").unwrap();
    assert_eq!(p.parsed.records.len(), 50);
    assert!(p.parsed.rejected.is_empty());
    assert!(p
        .parsed
        .records
        .iter()
        .all(|r| r.identifiers.doi.is_some() && r.abstract_text.is_some()));
    assert!(p
        .parsed
        .records
        .iter()
        .all(|r| r.open_access == Some(true) && r.licence.is_some()));
    assert_eq!(p.complete_list_size, Some(8_091_746));
    let r = by_id(&p.parsed, "zenodo:8433301");
    assert_eq!(r.publication_types, ["Dataset"]);
    assert_eq!(r.authors, ["Lin, Sam"]);
    assert_eq!(r.licence.as_deref(), Some("CC BY 4.0"));
    assert_eq!(
        by_id(&p.parsed, "zenodo:8435696").publication_types,
        ["Presentation"]
    );
    assert_eq!(date(by_id(&p.parsed, "zenodo:8435696")), "2023-10-10");
    // The same records in oai_dc carry the same titles and DOIs.
    if let Some(dc) = data("oai-pmh/zenodo/ListRecords_oai_dc_page1.xml") {
        let dc = parse_list_records(&dc, "zenodo").unwrap();
        for d in &dc.parsed.records {
            let c = by_id(&p.parsed, &d.id);
            assert_eq!(c.title, d.title);
            assert_eq!(c.identifiers.doi, d.identifiers.doi);
        }
    }
}

#[test]
fn zenodo_get_record_and_identify() {
    let (Some(get), Some(id)) = (
        data("oai-pmh/zenodo/GetRecord_oai_dc.xml"),
        data("oai-pmh/zenodo/Identify.xml"),
    ) else {
        return;
    };
    let p = parse_list_records(&get, "zenodo").unwrap();
    assert_eq!(p.parsed.records.len(), 1);
    let r = &p.parsed.records[0];
    assert_eq!(r.id, "zenodo:10357859");
    assert_eq!(r.title, "Research Data Management Organiser (RDMO)");
    assert_eq!(p.resumption_token, None);
    let id = parse_identify(&id).unwrap();
    assert_eq!(id.repository_name.as_deref(), Some("Zenodo"));
    assert_eq!(id.granularity, Granularity::Second);
    assert_eq!(
        id.earliest_datestamp.as_deref(),
        Some("2014-02-03T14:41:33Z")
    );
    assert_eq!(id.deleted_record.as_deref(), Some("no"));
}

#[test]
fn doaj_has_100_articles() {
    let Some(bytes) = data("oai-pmh/doaj_ListRecords_oai_doaj.xml") else {
        return;
    };
    let p = parse_list_records(&bytes, "doaj").unwrap();
    let recs = &p.parsed.records;
    assert_eq!(recs.len(), 100);
    assert!(p.parsed.rejected.is_empty());
    assert!(recs
        .iter()
        .all(|r| r.open_access == Some(true) && r.journal.is_some() && r.publisher.is_some()));
    assert!(recs
        .iter()
        .all(|r| r.published.is_some() && r.url.is_some() && !r.authors.is_empty()));
    assert_eq!(
        recs.iter().filter(|r| r.identifiers.doi.is_some()).count(),
        7
    );
    assert_eq!(
        recs.iter().filter(|r| r.abstract_text.is_some()).count(),
        68
    );
    assert_eq!(
        p.resumption_token.as_deref(),
        Some("eyJtIjogIm9haV9kb2FqIiwgIm4iOiAxMDB9")
    );
    assert_eq!(p.complete_list_size, Some(2_460_909));

    let r = by_id(&p.parsed, "doaj:84d148928d694848ab183fa142fc18f8");
    assert_eq!(
        r.title,
        "Authorship and affiliation as an indicator of quality criteria in Web 2.0: The Blogs about the environment."
    );
    assert_eq!(
        r.authors,
        ["Vanessa Esperanza Oller-Arlandis", "Javier Sanz-Valero"]
    );
    assert_eq!(
        r.journal.as_deref(),
        Some("Jounal of Negative and No Positive Results")
    );
    assert_eq!(r.identifiers.doi.as_deref(), Some("10.19230/jonnpr.1311"));
    assert_eq!(date(r), "2017-04-01");
    assert_eq!(r.url.as_deref(), Some("http://www.jonnpr.com/pdf/1311.pdf"));
    // Stray separators in DOAJ keywords are trimmed.
    assert_eq!(
        r.keywords,
        [
            "Environmen",
            "Blogs",
            "Internet",
            "Web 2.0",
            "information dissemination",
            "quality control"
        ]
    );
    assert!(r
        .abstract_text
        .as_deref()
        .unwrap()
        .starts_with("Aim: To describe content quality"));
    let r = by_id(&p.parsed, "doaj:6d69a0884dae4057b3f1863629bcaa85");
    assert_eq!(
        r.identifiers.doi.as_deref(),
        Some("10.5867/medwave.2017.6892")
    );
    assert_eq!(r.journal.as_deref(), Some("Medwave"));
}

#[test]
fn erasmus_dspace_get_record_and_identify() {
    let (Some(get), Some(id)) = (
        data("oai-pmh/eur_dspace_GetRecord.xml"),
        data("oai-pmh/eur_dspace_Identify.xml"),
    ) else {
        return;
    };
    let p = parse_list_records(&get, "eur").unwrap();
    let r = &p.parsed.records[0];
    // Not an `oai:` identifier: kept whole.
    assert_eq!(r.id, "eur:hdl:1765/315");
    assert_eq!(r.language.as_deref(), Some("nl"));
    assert_eq!(r.publication_types, ["Technical Report"]);
    assert_eq!(r.url.as_deref(), Some("http://hdl.handle.net/1765/315"));
    assert_eq!(date(r), "2003-04-22");
    assert_eq!(r.keywords.len(), 4);
    assert_eq!(r.identifiers.doi, None);
    assert_eq!(
        parse_identify(&id).unwrap().granularity,
        Granularity::Second
    );
}

/// Every real OAI-PMH file parses (records) or fails cleanly (other verbs).
#[test]
fn every_real_oai_file() {
    let (Some(top), Some(zenodo)) = (data_dir("oai-pmh"), data_dir("oai-pmh/zenodo")) else {
        return;
    };
    // (file, records, deleted); None: a response of another verb, which must be refused.
    let expected: &[(&str, Option<(usize, usize)>)] = &[
        ("doaj_ListRecords_oai_doaj.xml", Some((100, 0))),
        ("eur_dspace_GetRecord.xml", Some((1, 0))),
        ("eur_dspace_Identify.xml", None),
        ("eur_dspace_ListIdentifiers.xml", None),
        ("eur_dspace_ListMetadataFormats.xml", None),
        ("eur_dspace_ListSets.xml", None),
        ("GetRecord_oai_dc.xml", Some((1, 0))),
        ("Identify.xml", None),
        ("ListIdentifiers_oai_dc_page1.xml", None),
        ("ListMetadataFormats.xml", None),
        ("ListRecords_datacite_page1.xml", Some((50, 0))),
        ("ListRecords_oai_dc_from_2026-04-01.xml", Some((50, 0))),
        ("ListRecords_oai_dc_page1.xml", Some((3, 0))),
        ("ListRecords_oai_dc_page2.xml", Some((2, 1))),
        ("ListSets_page1.xml", None),
    ];
    let mut checked = 0;
    for file in top.iter().chain(&zenodo) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(file).unwrap();
        let result = parse_list_records(&bytes, "s");
        match expected.iter().find(|(n, _)| *n == name) {
            Some((_, Some((records, deleted)))) => {
                let p = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    (p.parsed.records.len(), p.parsed.deleted.len()),
                    (*records, *deleted),
                    "{name}"
                );
                assert!(
                    p.parsed.rejected.is_empty(),
                    "{name}: {:?}",
                    p.parsed.rejected
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
fn fixture_chain_maps_dublin_core() {
    let p = parse_list_records(&fixture("oai-pmh/repo_page1.xml"), "repo").unwrap();
    let r = by_id(&p.parsed, "repo:1001");
    assert_eq!(
        r.title,
        "Early warning scores for deteriorating adults on general wards: a systematic review"
    );
    assert_eq!(
        r.abstract_text.as_deref(),
        Some("Background: Early warning scores are used across hospital wards. Methods: We searched five databases & trial registers.")
    );
    assert_eq!(r.authors, ["Patel, Priya", "Hughes, Gareth"]);
    assert_eq!(
        r.keywords,
        [
            "Clinical Deterioration",
            "Early Warning Score",
            "Patient Safety"
        ]
    );
    assert_eq!(r.identifiers.doi.as_deref(), Some("10.5555/ews.2024.001"));
    assert_eq!(r.identifiers.pmid.as_deref(), Some("90000101"));
    assert_eq!(
        r.url.as_deref(),
        Some("https://repository.example.org/handle/123/1001")
    );
    assert_eq!(r.publication_types, ["article", "Systematic Review"]);
    assert_eq!(r.evidence_level, Some(EvidenceLevel::SystematicReview));
    assert_eq!(r.licence.as_deref(), Some("CC BY 4.0"));
    assert_eq!(
        r.journal.as_deref(),
        Some("Journal of Example Nursing Research; Vol 12, No 1 (2024)")
    );
    assert_eq!(date(r), "2024-02-28");
    assert_eq!(
        by_id(&p.parsed, "repo:1002").licence.as_deref(),
        Some("CC BY-NC 4.0")
    );
    let p3 = parse_list_records(&fixture("oai-pmh/repo_page3.xml"), "repo").unwrap();
    assert_eq!(p3.parsed.rejected.len(), 1);
    assert_eq!(p3.parsed.rejected[0].source_id.as_deref(), Some("1007"));
    assert_eq!(p3.parsed.rejected[0].reason, "missing title");
    let id = parse_identify(&fixture("oai-pmh/identify_day.xml")).unwrap();
    assert_eq!(id.granularity, Granularity::Day);
    let err = parse_identify(&fixture("oai-pmh/bad_resumption_token.xml")).unwrap_err();
    assert!(err.to_string().contains("badResumptionToken"), "{err}");
}

#[test]
fn malformed_and_html_documents() {
    let full = fixture("oai-pmh/repo_page1.xml");
    let err = parse_list_records(&truncated(&full, 2000), "repo").unwrap_err();
    assert!(
        matches!(err, ParseError::Xml { position, .. } if position > 1900),
        "{err:?}"
    );
    let err = parse_list_records(HTML_ERROR_PAGE.as_bytes(), "repo").unwrap_err();
    assert!(
        matches!(err, ParseError::Unexpected(ref m) if m.contains("html page")),
        "{err:?}"
    );
    let err = parse_list_records(b"Service Temporarily Unavailable", "repo").unwrap_err();
    assert!(matches!(err, ParseError::Unexpected(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Harvesting against a fake repository
// ---------------------------------------------------------------------------------------------

const OAI: &str = "/oai/request";

fn xml(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/xml; charset=utf-8")
}

async fn mount_identify(server: &MockServer, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(OAI))
        .and(query_param("verb", "Identify"))
        .respond_with(xml(body))
        .mount(server)
        .await;
}

/// A ListRecords request without a token (a new list).
async fn mount_list(server: &MockServer, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(OAI))
        .and(query_param("verb", "ListRecords"))
        .and(query_param_is_missing("resumptionToken"))
        .respond_with(xml(body))
        .mount(server)
        .await;
}

async fn mount_token(server: &MockServer, token: &str, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(OAI))
        .and(query_param("verb", "ListRecords"))
        .and(query_param("resumptionToken", token))
        .respond_with(xml(body))
        .mount(server)
        .await;
}

/// The fake repository of our four-page fixture chain.
async fn repository() -> MockServer {
    let server = MockServer::start().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/repo_page1.xml")).await;
    mount_token(&server, "tok-1", fixture("oai-pmh/repo_page2.xml")).await;
    mount_token(&server, "tok-2", fixture("oai-pmh/repo_page3.xml")).await;
    mount_token(&server, "tok-3", fixture("oai-pmh/repo_page4.xml")).await;
    server
}

fn repo_cfg(server: &MockServer) -> SourceConfig {
    source(
        "repo",
        SourceKind::OaiPmh,
        &format!("{}{OAI}", server.uri()),
    )
}

async fn verbs(server: &MockServer) -> Vec<String> {
    requests(server, Some(OAI))
        .await
        .iter()
        .map(|r| match param(r, "resumptionToken") {
            Some(t) => format!("token:{t}"),
            None => {
                let mut v = param(r, "verb").unwrap_or_default();
                if let Some(f) = param(r, "from") {
                    v.push_str(&format!(" from={f}"));
                }
                v
            }
        })
        .collect()
}

#[tokio::test]
async fn zenodo_chain_across_real_resumption_tokens() {
    let (Some(identify), Some(p1), Some(p2), Some((t1, t2))) = (
        data("oai-pmh/zenodo/Identify.xml"),
        data("oai-pmh/zenodo/ListRecords_oai_dc_page1.xml"),
        data("oai-pmh/zenodo/ListRecords_oai_dc_page2.xml"),
        zenodo_tokens(),
    ) else {
        return;
    };
    let server = MockServer::start().await;
    mount_identify(&server, identify).await;
    mount_list(&server, p1).await;
    mount_token(&server, &t1, p2).await;
    mount_token(&server, &t2, fixture("oai-pmh/zenodo_page3.xml")).await;
    let mut cfg = source(
        "zenodo",
        SourceKind::OaiPmh,
        &format!("{}{OAI}", server.uri()),
    );
    cfg.audience = Some(model::Audience::Professional);

    let pages = harvest(&cfg, None, false).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(
        ids(&pages),
        [
            "zenodo:8435696",
            "zenodo:8435639",
            "zenodo:8433301",
            "zenodo:8333281",
            "zenodo:8321258",
            "zenodo:900000001",
            "zenodo:900000002"
        ]
    );
    assert_eq!(pages[1].parsed.deleted, ["zenodo:8433364"]);
    assert!(pages.iter().all(|p| p.total == Some(8_091_628)));
    assert!(
        pages[0]
            .url
            .contains("verb=ListRecords&metadataPrefix=oai_dc"),
        "{}",
        pages[0].url
    );
    assert!(
        pages[1].url.contains("resumptionToken="),
        "{}",
        pages[1].url
    );
    assert_eq!(pages[0].checkpoint["token"], json!(t1));
    assert_eq!(
        pages[0].checkpoint["granularity"],
        json!("YYYY-MM-DDThh:mm:ssZ")
    );
    assert_eq!(pages[1].checkpoint["token"], json!(t2));
    // Complete: the next run asks for what changed since this one started, by Zenodo's clock.
    assert_eq!(
        pages[2].checkpoint,
        json!({"completed": true, "from": "2026-08-13T17:56:48Z", "granularity": "YYYY-MM-DDThh:mm:ssZ", "metadata_prefix": "oai_dc", "ascending": true})
    );
    let last = &pages[2].parsed.records[0];
    assert_eq!(
        last.title,
        "Recognising sepsis on the ward: a teaching session"
    );
    assert_eq!(
        last.abstract_text.as_deref(),
        Some("Slides of a teaching session on sepsis recognition for newly qualified nurses.")
    );
    assert_eq!(
        pages[2].parsed.records[1].licence.as_deref(),
        Some("CC0 1.0")
    );
    assert_eq!(
        verbs(&server).await,
        [
            "Identify",
            "ListRecords",
            &format!("token:{t1}"),
            &format!("token:{t2}")
        ]
    );
    // The first list request names the format; the token requests carry only the token.
    let reqs = requests(&server, Some(OAI)).await;
    assert_eq!(param(&reqs[1], "metadataPrefix").as_deref(), Some("oai_dc"));
    assert_eq!(reqs[2].url.query_pairs().count(), 2);
}

#[tokio::test]
async fn four_page_chain_then_an_incremental_harvest() {
    let server = repository().await;
    let cfg = repo_cfg(&server);
    let pages = harvest(&cfg, None, false).await;
    assert_eq!(pages.len(), 4);
    assert_eq!(
        ids(&pages),
        [
            "repo:1001",
            "repo:1002",
            "repo:1003",
            "repo:1004",
            "repo:1005",
            "repo:1006",
            "repo:1008",
            "repo:1009"
        ]
    );
    let deleted: Vec<_> = pages
        .iter()
        .flat_map(|p| p.parsed.deleted.clone())
        .collect();
    assert_eq!(deleted, ["repo:0999"]);
    let rejected: Vec<_> = pages
        .iter()
        .flat_map(|p| p.parsed.rejected.clone())
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].source_id.as_deref(), Some("1007"));
    assert!(pages.iter().all(|p| p.total == Some(10)));
    let levels: Vec<_> = pages
        .iter()
        .flat_map(|p| p.parsed.records.iter().map(|r| r.level()))
        .collect();
    use EvidenceLevel::*;
    assert_eq!(
        levels,
        [
            SystematicReview,
            Other,
            Observational,
            Other,
            Guideline,
            Rct,
            CaseReport,
            Observational
        ]
    );
    assert_eq!(pages[1].checkpoint["last_datestamp"], json!("2024-03-05"));
    assert_eq!(pages[1].checkpoint["ascending"], json!(true));
    let done = last_checkpoint(&pages);
    assert_eq!(done["completed"], json!(true));
    // Day granularity: the next `from` is the day of the first response.
    assert_eq!(done["from"], json!("2024-03-10"));
    assert_eq!(
        verbs(&server).await,
        [
            "Identify",
            "ListRecords",
            "token:tok-1",
            "token:tok-2",
            "token:tok-3"
        ]
    );

    // The second run asks only for what changed since, and nothing has.
    server.reset().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/no_records_match.xml")).await;
    let again = harvest(&cfg, Some(&done), false).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].parsed, Parsed::default());
    assert_eq!(again[0].total, Some(0));
    assert_eq!(
        verbs(&server).await,
        ["Identify", "ListRecords from=2024-03-10"]
    );
    assert_eq!(again[0].checkpoint["from"], json!("2024-03-17"));

    // `full` ignores the checkpoint.
    server.reset().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/no_records_match.xml")).await;
    harvest(&cfg, Some(&done), true).await;
    assert_eq!(verbs(&server).await, ["Identify", "ListRecords"]);
}

#[tokio::test]
async fn from_set_and_prefix_follow_the_config_and_granularity() {
    let (Some(identify), Some(list)) = (
        data("oai-pmh/zenodo/Identify.xml"),
        data("oai-pmh/zenodo/ListRecords_oai_dc_from_2026-04-01.xml"),
    ) else {
        return;
    };
    let server = MockServer::start().await;
    mount_identify(&server, identify).await;
    mount_list(&server, list).await;
    let mut cfg = source(
        "zenodo",
        SourceKind::OaiPmh,
        &format!("{}{OAI}", server.uri()),
    );
    cfg.from = Some("2026-04-01".into());
    cfg.set = Some("user-example-nursing".into());
    let mut h = OaiPmhHarvester::new(&cfg, None, false).unwrap();
    let page = h.next_page(&fetcher()).await.unwrap().unwrap();
    assert_eq!(page.parsed.records.len(), 50);
    let reqs = requests(&server, Some(OAI)).await;
    let list = &reqs[1];
    assert_eq!(param(list, "metadataPrefix").as_deref(), Some("oai_dc"));
    assert_eq!(param(list, "set").as_deref(), Some("user-example-nursing"));
    // Zenodo is second-granular: the configured day is sent as a datestamp.
    assert_eq!(param(list, "from").as_deref(), Some("2026-04-01T00:00:00Z"));
    assert_eq!(page.checkpoint["from"], json!("2026-04-01"));
    assert_eq!(page.checkpoint["set"], json!("user-example-nursing"));

    let mut bad = cfg.clone();
    bad.from = Some("1 April 2026".into());
    assert!(matches!(
        OaiPmhHarvester::new(&bad, None, false),
        Err(HarvestError::Config { .. })
    ));
}

#[tokio::test]
async fn no_records_match_is_an_empty_complete_harvest() {
    let server = MockServer::start().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/no_records_match.xml")).await;
    let pages = harvest(&repo_cfg(&server), None, false).await;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].parsed.records.is_empty());
    assert_eq!(pages[0].checkpoint["completed"], json!(true));
    assert_eq!(pages[0].checkpoint["from"], json!("2024-03-17"));
}

#[tokio::test]
async fn bad_resumption_token_relists_from_the_last_datestamp() {
    let server = MockServer::start().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    Mock::given(method("GET"))
        .and(path(OAI))
        .and(query_param("from", "2024-03-05"))
        .respond_with(xml(fixture("oai-pmh/repo_relist_from_2024-03-05.xml")))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_list(&server, fixture("oai-pmh/repo_page1.xml")).await;
    mount_token(&server, "tok-1", fixture("oai-pmh/repo_page2.xml")).await;
    mount_token(
        &server,
        "tok-2",
        fixture("oai-pmh/bad_resumption_token.xml"),
    )
    .await;

    let pages = harvest(&repo_cfg(&server), None, false).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(
        verbs(&server).await,
        [
            "Identify",
            "ListRecords",
            "token:tok-1",
            "token:tok-2",
            "ListRecords from=2024-03-05"
        ]
    );
    let all: HashSet<_> = ids(&pages).into_iter().collect();
    for n in [
        "1001", "1002", "1003", "1004", "1005", "1006", "1008", "1009",
    ] {
        assert!(all.contains(&format!("repo:{n}")), "{n} missing");
    }
    // The relisted page's records are handed out under the page that failed.
    assert_eq!(pages[2].parsed.records.len(), 4);
    assert_eq!(pages[2].checkpoint["completed"], json!(true));
    assert_eq!(pages[2].checkpoint["from"], json!("2024-03-10"));
}

#[tokio::test]
async fn bad_resumption_token_without_datestamp_order_relists_from_the_start() {
    let (Some(identify), Some(p1), Some(p2), Some((t1, t2))) = (
        data("oai-pmh/zenodo/Identify.xml"),
        data("oai-pmh/zenodo/ListRecords_oai_dc_page1.xml"),
        data("oai-pmh/zenodo/ListRecords_oai_dc_page2.xml"),
        zenodo_tokens(),
    ) else {
        return;
    };
    let server = MockServer::start().await;
    mount_identify(&server, identify).await;
    mount_list(&server, p1).await;
    // The first use of token 1 fails (expired), the next succeeds.
    Mock::given(method("GET"))
        .and(path(OAI))
        .and(query_param("resumptionToken", t1.as_str()))
        .respond_with(xml(fixture("oai-pmh/bad_resumption_token.xml")))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_token(&server, &t1, p2).await;
    mount_token(&server, &t2, fixture("oai-pmh/zenodo_page3.xml")).await;
    let mut cfg = source(
        "zenodo",
        SourceKind::OaiPmh,
        &format!("{}{OAI}", server.uri()),
    );
    cfg.from = Some("2023-10-01".into());

    let pages = harvest(&cfg, None, false).await;
    // Zenodo's datestamps are not in order (14:26, 15:06, 02:36), so the last one seen is no safe
    // `from`: the list starts again from the run's own `from`.
    assert_eq!(
        verbs(&server).await,
        [
            "Identify".to_string(),
            "ListRecords from=2023-10-01T00:00:00Z".into(),
            format!("token:{t1}"),
            "ListRecords from=2023-10-01T00:00:00Z".into(),
            format!("token:{t1}"),
            format!("token:{t2}")
        ]
    );
    assert_eq!(pages.len(), 4);
    assert_eq!(ids(&pages).len(), 3 + 3 + 2 + 2);
    assert_eq!(pages[0].checkpoint["ascending"], json!(false));
}

#[tokio::test]
async fn a_token_that_stays_bad_ends_in_a_protocol_error() {
    let server = MockServer::start().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/repo_page1.xml")).await;
    mount_token(
        &server,
        "tok-1",
        fixture("oai-pmh/bad_resumption_token.xml"),
    )
    .await;
    let mut c = Connector::new(&repo_cfg(&server), None, false).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    // The first page, then three relists, then the fourth rejection is final.
    assert_eq!(pages.len(), 4);
    match err {
        Some(HarvestError::Protocol {
            code, source_name, ..
        }) => {
            assert_eq!(code, "badResumptionToken");
            assert_eq!(source_name, "repo");
        }
        other => panic!("{other:?}"),
    }
    let v = verbs(&server).await;
    let lists: Vec<_> = v.iter().filter(|v| v.starts_with("ListRecords")).collect();
    assert_eq!(lists.len(), 4);
    // The first relist starts at the last datestamp seen; this fake server ignores `from` and
    // answers older records, so the datestamps are no longer in order and later relists start
    // from the run's own beginning.
    assert_eq!(lists[1], "ListRecords from=2024-03-02");
    assert_eq!(lists[2], "ListRecords");
}

#[tokio::test]
async fn other_oai_errors_are_protocol_errors() {
    let server = MockServer::start().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/cannot_disseminate_format.xml")).await;
    let mut cfg = repo_cfg(&server);
    cfg.metadata_prefix = Some("mods".into());
    let mut c = Connector::new(&cfg, None, false).unwrap();
    let err = c.next_page(&fetcher()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, HarvestError::Protocol { ref code, .. } if code == "cannotDisseminateFormat"),
        "{err:?}"
    );
    assert!(
        text.contains("repo") && text.contains("metadataPrefix=mods"),
        "{text}"
    );
}

#[tokio::test]
async fn the_same_token_twice_is_a_protocol_error() {
    let server = MockServer::start().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/repo_page1.xml")).await;
    mount_token(&server, "tok-1", fixture("oai-pmh/repo_page1.xml")).await;
    let mut c = Connector::new(&repo_cfg(&server), None, false).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    assert_eq!(pages.len(), 1);
    assert!(
        matches!(err, Some(HarvestError::Protocol { ref code, .. }) if code == "repeatedResumptionToken"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_truncated_page_fails_after_the_earlier_pages_were_returned() {
    let server = MockServer::start().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/repo_page1.xml")).await;
    mount_token(
        &server,
        "tok-1",
        truncated(&fixture("oai-pmh/repo_page2.xml"), 1500),
    )
    .await;
    let mut c = Connector::new(&repo_cfg(&server), None, false).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].parsed.records.len(), 3);
    let err = err.unwrap();
    let text = err.to_string();
    assert!(text.contains("source repo"), "{text}");
    assert!(
        text.contains(&format!(
            "{}{OAI}?verb=ListRecords&resumptionToken=tok-1",
            server.uri()
        )),
        "{text}"
    );
    assert!(text.contains("malformed xml at byte"), "{text}");
    assert!(matches!(
        err,
        HarvestError::Parse {
            error: ParseError::Xml { .. },
            ..
        }
    ));
    // The stored checkpoint still points at the failed page.
    assert_eq!(pages[0].checkpoint["token"], json!("tok-1"));
}

#[tokio::test]
async fn an_html_page_with_status_200_is_an_unexpected_document() {
    let server = MockServer::start().await;
    mount_identify(&server, fixture("oai-pmh/identify_day.xml")).await;
    mount_list(&server, fixture("oai-pmh/repo_page1.xml")).await;
    mount_token(&server, "tok-1", HTML_ERROR_PAGE.as_bytes().to_vec()).await;
    let mut c = Connector::new(&repo_cfg(&server), None, false).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    assert_eq!(pages.len(), 1);
    let err = err.unwrap();
    assert!(
        matches!(err, HarvestError::Parse { error: ParseError::Unexpected(ref m), .. } if m.contains("html page")),
        "{err:?}"
    );
    assert!(err.to_string().contains("resumptionToken=tok-1"), "{err}");
}

#[tokio::test]
async fn resumes_after_a_crash_at_the_next_page() {
    let server = repository().await;
    let cfg = repo_cfg(&server);
    let full: Vec<String> = ids(&harvest(&cfg, None, false).await);
    server.reset().await;
    let server2 = repository().await;
    let cfg = repo_cfg(&server2);

    let mut first = OaiPmhHarvester::new(&cfg, None, false).unwrap();
    let page1 = first.next_page(&fetcher()).await.unwrap().unwrap();
    let cp1 = page1.checkpoint.clone();
    drop(first); // the process dies here
    let before = requests(&server2, Some(OAI)).await.len();

    let mut c = Connector::new(&cfg, Some(&cp1), false).unwrap();
    let (rest, err) = drain(&mut c, &fetcher()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(rest.len(), 3);
    let after = &requests(&server2, Some(OAI)).await[before..];
    // Neither Identify (the granularity is in the checkpoint) nor page 1 again.
    let tokens: Vec<_> = after.iter().map(|r| param(r, "resumptionToken")).collect();
    assert_eq!(
        tokens,
        [
            Some("tok-1".into()),
            Some("tok-2".into()),
            Some("tok-3".into())
        ]
    );
    let mut resumed = ids(std::slice::from_ref(&page1));
    resumed.extend(ids(&rest));
    assert_eq!(resumed, full);
    assert_eq!(last_checkpoint(&rest)["from"], json!("2024-03-10"));
}

#[tokio::test]
async fn a_changed_metadata_prefix_starts_over() {
    let server = repository().await;
    let cfg = repo_cfg(&server);
    let cp = json!({"token": "tok-2", "metadata_prefix": "oai_dc", "granularity": "YYYY-MM-DD", "ascending": true});
    let mut changed = cfg.clone();
    changed.metadata_prefix = Some("oai_doaj".into());
    let mut h = OaiPmhHarvester::new(&changed, Some(&cp), false).unwrap();
    h.next_page(&fetcher()).await.unwrap();
    assert_eq!(verbs(&server).await, ["Identify", "ListRecords"]);
    let reqs = requests(&server, Some(OAI)).await;
    assert_eq!(
        param(&reqs[1], "metadataPrefix").as_deref(),
        Some("oai_doaj")
    );
    // Same prefix: the token is used.
    let mut h = OaiPmhHarvester::new(&cfg, Some(&cp), false).unwrap();
    h.next_page(&fetcher()).await.unwrap();
    assert_eq!(
        verbs(&server).await.last().map(String::as_str),
        Some("token:tok-2")
    );
    assert!(
        OaiPmhHarvester::new(&cfg, Some(&json!({"metadata_prefix": "oai_dc"})), false).is_err()
    );
}

#[test]
fn local_ids_of_oai_identifiers() {
    assert_eq!(oai_pmh::local_id("oai:zenodo.org:8435696"), "8435696");
    assert_eq!(oai_pmh::local_id("hdl:1765/315"), "hdl:1765/315");
}

#[test]
fn truncated_or_corrupted_documents_never_panic() {
    for f in [
        "oai-pmh/repo_page1.xml",
        "oai-pmh/zenodo_page3.xml",
        "oai-pmh/identify_day.xml",
    ] {
        let bytes = fixture(f);
        never_panics(&bytes, |b| parse_list_records(b, "s"));
        never_panics(&bytes, parse_identify);
    }
    if let Some(doaj) = data("oai-pmh/doaj_ListRecords_oai_doaj.xml") {
        never_panics(&doaj, |b| parse_list_records(b, "s"));
    }
    if let Some(dc) = data("oai-pmh/zenodo/ListRecords_datacite_page1.xml") {
        never_panics(&dc, |b| parse_list_records(b, "s"));
    }
}

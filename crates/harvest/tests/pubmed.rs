//! PubMed E-utilities: the parsers on real NCBI responses and our own fixture, the file readers, and
//! the harvester against a fake E-utilities server on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harvest::fetch::{FetchConfig, Fetcher};
use harvest::files::{read_jsonl, read_pubmed_xml};
use harvest::pubmed::{self, parse_efetch, parse_esearch, PubmedHarvester};
use harvest::{HarvestError, Page, ParseError, Parsed, SourceConfig, SourceKind};
use model::{EvidenceLevel, Record};
use time::{Date, Month};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/sources/pubmed"
);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/harvest/pubmed");

/// Reads a file of the shared real data, or says why the test is skipped.
fn data(rel: &str) -> Option<Vec<u8>> {
    let p = Path::new(DATA).join(rel);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipping: shared data {} is absent ({e})", p.display());
            None
        }
    }
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(rel)).unwrap()
}

fn by_id<'a>(p: &'a Parsed, id: &str) -> &'a Record {
    p.records
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no record {id}"))
}

// ---------------------------------------------------------------------------------------------
// Parsers on real responses
// ---------------------------------------------------------------------------------------------

#[test]
fn real_set_of_121_articles() {
    let Some(bytes) = data("efetch_pubmedarticleset_121.xml") else {
        return;
    };
    let p = parse_efetch(&bytes, "pubmed").unwrap();
    assert_eq!(p.records.len(), 121);
    assert!(p.rejected.is_empty(), "{:?}", p.rejected);
    assert!(p.deleted.is_empty());
    let ids: HashSet<_> = p.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 121);

    // Every MeshHeading of the file is one descriptor of one record (none from elsewhere).
    assert_eq!(
        p.records.iter().map(|r| r.mesh_terms.len()).sum::<usize>(),
        1292
    );
    assert_eq!(
        p.records
            .iter()
            .filter(|r| r.abstract_text.is_some())
            .count(),
        102
    );
    assert!(p
        .records
        .iter()
        .all(|r| r.published.is_some() && r.journal.is_some() && !r.title.is_empty()));
    assert!(p
        .records
        .iter()
        .all(|r| r.identifiers.pmid.as_deref() == r.id.strip_prefix("pubmed:")));
    assert!(p.records.iter().all(|r| !r.retracted));

    let r = by_id(&p, "pubmed:31045810");
    assert_eq!(
        r.title,
        "Cerebral arterial air embolism after computed tomography-guided hook-wire localization of a pulmonary nodule: A case report."
    );
    assert_eq!(r.source, "pubmed");
    assert_eq!(r.journal.as_deref(), Some("Medicine"));
    assert_eq!(
        r.published.map(|d| d.to_string()).as_deref(),
        Some("2019-05")
    );
    assert_eq!(
        r.identifiers.doi.as_deref(),
        Some("10.1097/md.0000000000015437")
    );
    assert_eq!(r.identifiers.pmcid.as_deref(), Some("PMC6504259"));
    assert_eq!(r.identifiers.pmid.as_deref(), Some("31045810"));
    assert_eq!(r.language.as_deref(), Some("eng"));
    assert_eq!(r.country.as_deref(), Some("United States"));
    assert_eq!(
        r.url.as_deref(),
        Some("https://pubmed.ncbi.nlm.nih.gov/31045810/")
    );
    assert_eq!(
        r.authors,
        ["Wang MY", "Liu YS", "An XB", "Li K", "Liu YJ", "Wang F"]
    );
    assert_eq!(r.publication_types, ["Case Reports", "Journal Article"]);
    assert_eq!(r.evidence_level, Some(EvidenceLevel::CaseReport));
    assert_eq!(
        r.mesh_terms,
        [
            "Cerebral Arterial Diseases",
            "Embolism, Air",
            "Humans",
            "Hyperbaric Oxygenation",
            "Male",
            "Middle Aged",
            "Platelet Aggregation Inhibitors",
            "Radiography, Interventional",
            "Solitary Pulmonary Nodule",
        ]
    );
    // Major through a qualifier (etiology, adverse effects, surgery).
    assert_eq!(
        r.mesh_major,
        [
            "Cerebral Arterial Diseases",
            "Embolism, Air",
            "Radiography, Interventional",
            "Solitary Pulmonary Nodule"
        ]
    );
    let abs = r.abstract_text.as_deref().unwrap();
    assert!(
        abs.starts_with("RATIONALE: Cranial arterial air embolism is a rare"),
        "{abs}"
    );
    assert!(
        abs.contains(" PATIENT CONCERNS: A 64-year-old man"),
        "{abs}"
    );
    assert!(
        abs.ends_with("remain vigilant against air embolism."),
        "{abs}"
    );
}

#[test]
fn biopython_samples_of_several_dtd_years() {
    // (file, records, a PMID in it, its expected title)
    let cases = [
        ("biopython/efetch_pubmed1.xml", 2, None),
        ("biopython/efetch_pubmed2.xml", 2, None),
        (
            "biopython/efetch_pubmed4.xml",
            1,
            Some("Leucocyte telomere length, genetic variants at the TERT gene region and risk of pancreatic cancer."),
        ),
        ("biopython/efetch_pubmed5.xml", 1, None),
        (
            "biopython/efetch_pubmed6.xml",
            1,
            Some("A \"Blood Relationship\" Between the Overlooked Minimum Lactate Equivalent and Maximal Lactate Steady State in Trained Runners. Back to the Old Days?"),
        ),
        ("biopython/efetch_pubmed7.xml", 1, None),
        ("biomcp/efetch_citation_22663011.xml", 1, None),
        ("ncbi_samples/efetch.pubmed.xml", 2, None),
    ];
    for (file, n, title) in cases {
        let Some(bytes) = data(file) else { return };
        let p = parse_efetch(&bytes, "pubmed").unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(p.records.len(), n, "{file}");
        assert!(p.rejected.is_empty(), "{file}: {:?}", p.rejected);
        for r in &p.records {
            assert!(!r.title.contains('<'), "{file}: {}", r.title);
            assert!(r.published.is_some(), "{file}: {} has no date", r.id);
        }
        if let Some(t) = title {
            assert_eq!(p.records[0].title, t, "{file}");
        }
    }

    let Some(bytes) = data("biopython/efetch_pubmed7.xml") else {
        return;
    };
    let r = &parse_efetch(&bytes, "pubmed").unwrap().records[0];
    let abs = r.abstract_text.as_deref().unwrap();
    assert!(
        abs.contains("(1) inhaled He 3 / Xe 129 MRI ventilation"),
        "MathML flattened: {abs}"
    );
    assert!(r.authors.iter().any(|a| a.contains(' ') && !a.is_empty()));

    let Some(bytes) = data("biomcp/efetch_citation_22663011.xml") else {
        return;
    };
    let r = &parse_efetch(&bytes, "pubmed").unwrap().records[0];
    assert_eq!(
        r.title,
        "Improved survival with MEK inhibition in BRAF-mutated melanoma."
    );
    assert_eq!(r.authors.first().map(String::as_str), Some("Flaherty KT"));
    assert_eq!(
        r.authors.last().map(String::as_str),
        Some("METRIC Study Group")
    );
    assert_eq!(r.authors.len(), 26, "investigators are not authors");
    assert_eq!(r.evidence_level, Some(EvidenceLevel::Rct));
    // ArticleDate 2012-06-04 is earlier than the issue (2012 Jul 12).
    assert_eq!(
        r.published.map(|d| d.to_string()).as_deref(),
        Some("2012-06-04")
    );
    assert!(r.mesh_major.contains(&"Melanoma".to_string()));
    assert!(!r.mesh_major.contains(&"Humans".to_string()));
    assert!(r
        .abstract_text
        .as_deref()
        .unwrap()
        .contains("0.63; P<0.001)"));
    assert_eq!(r.identifiers.doi.as_deref(), Some("10.1056/nejmoa1203421"));
}

#[test]
fn ncbi_contrived_example_with_a_book() {
    let Some(bytes) = data("ncbi_samples/efetch.pubmedexample.xml") else {
        return;
    };
    let p = parse_efetch(&bytes, "pubmed").unwrap();
    assert_eq!(p.records.len(), 2, "{:?}", p.rejected);
    let a = by_id(&p, "pubmed:17284678");
    assert_eq!(a.title, "Sequencing and analysis of chromosome 1 of Eimeria tenella reveals a unique segmental organization.");
    assert_eq!(
        a.abstract_text.as_deref(),
        Some("dummy-label: Lorem ipsum and ipsum lorem.")
    );
    assert_eq!(a.keywords, ["Krazy Kool", "The Snap!"]);
    assert_eq!(a.identifiers.doi.as_deref(), Some("10.1101/gr.5823007"));
    assert_eq!(a.identifiers.pmcid.as_deref(), Some("PMC1800922"));
    assert_eq!(
        a.published.map(|d| d.to_string()).as_deref(),
        Some("2007-02-06")
    );
    assert_eq!(a.mesh_terms.len(), 11);
    assert_eq!(a.mesh_terms[9], "Polymorphism, Restriction Fragment Length");
    assert_eq!(
        a.mesh_major,
        [
            "Chromosome Structures",
            "Eimeria tenella",
            "Genes, Protozoan"
        ]
    );
    assert_eq!(a.authors, ["Ling KH", "Rajandream MA"]);
    let b = by_id(&p, "pubmed:20301295");
    assert_eq!(b.title, "GeneReviews™");
    assert_eq!(
        b.publisher.as_deref(),
        Some("University of Washington, Seattle")
    );
    assert_eq!(b.published.map(|d| d.to_string()).as_deref(), Some("1993"));
    assert_eq!(
        b.url.as_deref(),
        Some("https://www.ncbi.nlm.nih.gov/books/NBK1116/")
    );
    assert!(
        b.authors.is_empty(),
        "editors are not authors: {:?}",
        b.authors
    );
}

#[test]
fn esearch_responses() {
    let Some(bytes) = data("ncbi_samples/esearch.pubmed.xml") else {
        return;
    };
    let es = parse_esearch(&bytes).unwrap();
    assert_eq!(es.count, 15169);
    assert_eq!(es.ret_max, 100);
    assert_eq!(es.ids.len(), 100);
    assert_eq!(es.ids[0], "23175848");
    assert_eq!(es.query_key.as_deref(), Some("1"));
    assert_eq!(
        es.webenv.as_deref(),
        Some("NCID_1_18991374_130.14.18.48_5555_1353814292_87026138")
    );
    assert!(es.errors.is_empty());

    let Some(bytes) = data("biopython/esearch2.xml") else {
        return;
    };
    let es = parse_esearch(&bytes).unwrap();
    assert_eq!((es.count, es.ids.len()), (42249, 100));
    assert_eq!(es.webenv.as_deref(), Some("MCID_6927d6e7fee3e90f880ec190"));

    let Some(bytes) = data("biopython/esearch3.xml") else {
        return;
    };
    let es = parse_esearch(&bytes).unwrap();
    assert_eq!((es.count, es.ret_start, es.ids.len()), (2651, 6, 6));
    assert_eq!(es.webenv, None);

    // A query with a phrase PubMed did not find: results plus a non-fatal error.
    let Some(bytes) = data("ncbi_samples/esearch.error.xml") else {
        return;
    };
    let es = parse_esearch(&bytes).unwrap();
    assert_eq!(es.count, 5163);
    assert_eq!(es.errors, ["PhraseNotFound: fleegle[MeSH Terms]"]);
}

#[test]
fn eutils_error_documents_are_clear_errors() {
    let Some(bytes) = data("ncbi_samples/esearch.baderror.xml") else {
        return;
    };
    let e = parse_esearch(&bytes).unwrap_err();
    assert!(
        matches!(&e, ParseError::Unexpected(m) if m == "e-utilities error: Invalid db name specified: fleegle"),
        "{e}"
    );

    let Some(bytes) = data("ncbi_samples/einfo.error.xml") else {
        return;
    };
    let e = parse_efetch(&bytes, "pubmed").unwrap_err();
    assert!(
        e.to_string()
            .contains("Can not retrieve DbInfo for db=fleegle"),
        "{e}"
    );
    let e = parse_esearch(&bytes).unwrap_err();
    assert!(
        e.to_string()
            .contains("Can not retrieve DbInfo for db=fleegle"),
        "{e}"
    );

    // Not a PubmedArticleSet: a PMC JATS set and an esearch answer.
    let Some(bytes) = data("biopython/efetch_pmc.xml") else {
        return;
    };
    let e = parse_efetch(&bytes, "pubmed").unwrap_err();
    assert!(
        matches!(&e, ParseError::Unexpected(m) if m.contains("<pmc-articleset>")),
        "{e}"
    );
    let Some(bytes) = data("ncbi_samples/esearch.pubmed.xml") else {
        return;
    };
    let e = parse_efetch(&bytes, "pubmed").unwrap_err();
    assert!(matches!(e, ParseError::Unexpected(_)), "{e}");
}

#[test]
fn truncated_and_malformed_xml_give_the_position() {
    let Some(bytes) = data("efetch_pubmedarticleset_121.xml") else {
        return;
    };
    for cut in [bytes.len() / 2, bytes.len() - 30, 200_001] {
        match parse_efetch(&bytes[..cut], "pubmed") {
            Err(ParseError::Xml { position, message }) => {
                assert!(
                    position > 0 && position <= cut as u64,
                    "cut {cut}: position {position}: {message}"
                );
            }
            other => panic!("cut {cut}: expected an xml error, got {other:?}"),
        }
    }
    // A mismatched end tag in the middle: the position points at it.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = text.find("</ArticleTitle>").unwrap();
    let broken = format!(
        "{}</Journal>{}",
        &text[..at],
        &text[at + "</ArticleTitle>".len()..]
    );
    match parse_efetch(broken.as_bytes(), "pubmed") {
        Err(ParseError::Xml { position, message }) => {
            assert!(
                (position as usize).abs_diff(at) < 20,
                "position {position}, tag at {at}: {message}"
            );
        }
        other => panic!("expected an xml error, got {other:?}"),
    }
}

#[test]
fn html_and_empty_bodies_are_unexpected() {
    let html = b"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>503</title></head><body><h1>Service unavailable<br></h1></body></html>";
    assert!(
        matches!(parse_efetch(html, "pubmed"), Err(ParseError::Unexpected(m)) if m.contains("html"))
    );
    assert!(matches!(parse_esearch(html), Err(ParseError::Unexpected(m)) if m.contains("html")));
    assert!(matches!(
        parse_efetch(b"", "pubmed"),
        Err(ParseError::Unexpected(_))
    ));
    assert!(matches!(
        parse_efetch(b"  \n", "pubmed"),
        Err(ParseError::Unexpected(_))
    ));
    let empty = parse_efetch(
        b"<?xml version=\"1.0\"?><PubmedArticleSet></PubmedArticleSet>",
        "pubmed",
    )
    .unwrap();
    assert_eq!(empty, Parsed::default());
}

#[test]
fn own_fixture_structured_abstract_dates_retractions_deletions_books() {
    let p = parse_efetch(&fixture("efetch_mixed.xml"), "pm").unwrap();
    let ids: Vec<_> = p.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["pm:90000001", "pm:90000002", "pm:90000003", "pm:90000006"]
    );
    assert_eq!(p.deleted, ["pm:90000007", "pm:90000008"]);
    assert_eq!(p.rejected.len(), 2, "{:?}", p.rejected);
    assert_eq!(p.rejected[0].source_id, None);
    assert!(
        p.rejected[0].reason.contains("missing pmid"),
        "{:?}",
        p.rejected[0]
    );
    assert_eq!(p.rejected[1].source_id.as_deref(), Some("90000005"));
    assert_eq!(p.rejected[1].reason, "missing title");

    let a = by_id(&p, "pm:90000001");
    assert_eq!(
        a.abstract_text.as_deref(),
        Some("BACKGROUND: Asthma is common in children. METHODS: We randomly assigned 200 children to budesonide or placebo. RESULTS: Exacerbations fell (P<0.01) with FEV1 up 5%. CONCLUSIONS: Budesonide helps.")
    );
    assert_eq!(
        a.published.map(|d| d.to_string()).as_deref(),
        Some("1998-12")
    );
    assert_eq!(
        a.authors,
        ["Okafor AN", "Müller J", "Invented Paediatric Asthma Group"]
    );
    assert_eq!(a.mesh_terms, ["Asthma", "Budesonide", "Child", "Humans"]);
    assert_eq!(a.mesh_major, ["Asthma", "Budesonide"]);
    assert_eq!(a.keywords, ["paediatric asthma", "inhaled steroids"]);
    assert_eq!(
        a.identifiers.doi.as_deref(),
        Some("10.5555/invent.1998.101")
    );
    assert_eq!(a.identifiers.pmcid.as_deref(), Some("PMC9000001"));
    assert_eq!(a.country.as_deref(), Some("England"));
    assert_eq!(a.evidence_level, Some(EvidenceLevel::Rct));
    assert!(!a.retracted);

    let b = by_id(&p, "pm:90000002");
    assert!(b.retracted, "RetractionIn marks the article retracted");
    assert_eq!(
        b.identifiers.doi.as_deref(),
        Some("10.5555/invent.2021.002"),
        "ELocationID, not a reference's DOI"
    );
    assert_eq!(
        b.published.map(|d| d.to_string()).as_deref(),
        Some("2021-01-15")
    );
    assert_eq!(
        b.abstract_text.as_deref(),
        Some("An unstructured abstract about vitamin X.")
    );

    let c = by_id(&p, "pm:90000003");
    assert!(c.retracted);
    assert_eq!(
        c.title,
        "Fabricated results on Helicobacter pylori eradication."
    );
    assert_eq!(
        c.published.map(|d| d.to_string()).as_deref(),
        Some("2015-07-04")
    );

    let d = by_id(&p, "pm:90000006");
    assert_eq!(d.title, "Asthma in adults: diagnosis and management.");
    assert_eq!(d.journal.as_deref(), Some("Invented Clinical Guidelines"));
    assert_eq!(d.publisher.as_deref(), Some("Invented Guideline Centre"));
    assert_eq!(d.authors, ["Invented Guideline Development Group"]);
    assert_eq!(
        d.abstract_text.as_deref(),
        Some("SCOPE: Adults with asthma in primary care.")
    );
    assert_eq!(d.evidence_level, Some(EvidenceLevel::Guideline));
    assert_eq!(
        d.url.as_deref(),
        Some("https://www.ncbi.nlm.nih.gov/books/NBK900006/")
    );
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

fn collect_xml(path: &Path, batch: usize) -> (Vec<Parsed>, harvest::files::FileStats) {
    let mut batches = Vec::new();
    let stats = read_pubmed_xml(path, "pubmed", batch, |p| -> Result<(), HarvestError> {
        batches.push(p);
        Ok(())
    })
    .unwrap();
    (batches, stats)
}

#[test]
fn gzip_and_plain_files_give_the_same_records() {
    let plain = Path::new(DATA).join("efetch_pubmedarticleset_121.xml");
    let Some(bytes) = data("efetch_pubmedarticleset_121.xml") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("set.xml.gz");
    // Two gzip members, as concatenated update files are: MultiGzDecoder reads both.
    let mut out = std::fs::File::create(&gz).unwrap();
    let (head, tail) = bytes.split_at(bytes.len() / 3);
    for part in [head, tail] {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(part).unwrap();
        out.write_all(&enc.finish().unwrap()).unwrap();
    }
    drop(out);

    let (a, sa) = collect_xml(&plain, 50);
    let (b, sb) = collect_xml(&gz, 50);
    assert_eq!(sa, sb);
    assert_eq!(
        (sa.records, sa.batches, sa.rejected, sa.deleted),
        (121, 3, 0, 0)
    );
    assert_eq!(
        a.iter().map(|p| p.records.len()).collect::<Vec<_>>(),
        [50, 50, 21]
    );
    assert_eq!(a, b);
    let whole = parse_efetch(&bytes, "pubmed").unwrap();
    let streamed: Vec<Record> = a.into_iter().flat_map(|p| p.records).collect();
    assert_eq!(streamed, whole.records);
}

#[test]
fn file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.xml");
    let e = read_pubmed_xml(&missing, "pubmed", 10, |_| -> Result<(), HarvestError> {
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(e, HarvestError::Io { .. }), "{e}");
    let bad_gz = dir.path().join("bad.xml.gz");
    std::fs::write(&bad_gz, b"\x1f\x8b\x08\x00garbage that is not deflate").unwrap();
    let e = read_pubmed_xml(&bad_gz, "pubmed", 10, |_| -> Result<(), HarvestError> {
        Ok(())
    })
    .unwrap_err();
    assert!(
        matches!(e, HarvestError::Io { .. } | HarvestError::Parse { .. }),
        "{e}"
    );
    let truncated = dir.path().join("t.xml");
    std::fs::write(
        &truncated,
        b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID>",
    )
    .unwrap();
    let e = read_pubmed_xml(&truncated, "pubmed", 10, |_| -> Result<(), HarvestError> {
        Ok(())
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            HarvestError::Parse {
                error: ParseError::Xml { .. },
                ..
            }
        ),
        "{e}"
    );
    // The callback's own error stops the read.
    let fixture_path = Path::new(FIXTURES).join("efetch_mixed.xml");
    let mut calls = 0;
    let e = read_pubmed_xml(&fixture_path, "pm", 1, |_| {
        calls += 1;
        Err(HarvestError::Cancelled)
    })
    .unwrap_err();
    assert!(matches!(e, HarvestError::Cancelled));
    assert_eq!(calls, 1);
}

#[test]
fn jsonl_with_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("records.jsonl");
    let lines = [
        r#"{"id":"sample:1","source":"sample","title":"Asthma in adults","identifiers":{"doi":"https://doi.org/10.5555/ABC"}}"#,
        "",
        r#"{"id":"sample:2","title":"Croup in children","audience":"patient"}"#,
        r#"{"id":"sample:3","title": "broken"#,
        r#"{"id":"sample:4","title":"   "}"#,
        r#"{"id":"sample:5","source":"sample","title":"Sepsis"}"#,
    ];
    std::fs::write(&p, lines.join("\n")).unwrap();
    let mut batches = Vec::new();
    let stats = read_jsonl(&p, 2, |b| -> Result<(), HarvestError> {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        (stats.records, stats.rejected, stats.lines, stats.batches),
        (3, 2, 6, 3)
    );
    let records: Vec<_> = batches.iter().flat_map(|b| &b.records).collect();
    assert_eq!(
        records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["sample:1", "sample:2", "sample:5"]
    );
    assert_eq!(
        records[0].identifiers.doi.as_deref(),
        Some("10.5555/abc"),
        "normalised"
    );
    assert_eq!(records[1].source, "sample", "source taken from the id");
    assert_eq!(
        records[1].evidence_level,
        Some(EvidenceLevel::PatientInformation)
    );
    let rejected: Vec<_> = batches.iter().flat_map(|b| &b.rejected).collect();
    assert!(
        rejected[0].reason.starts_with("line 4: "),
        "{:?}",
        rejected[0]
    );
    assert_eq!(rejected[0].source_id, None);
    assert!(
        rejected[1].reason.starts_with("line 5: "),
        "{:?}",
        rejected[1]
    );
    assert_eq!(rejected[1].source_id.as_deref(), Some("sample:4"));
}

// ---------------------------------------------------------------------------------------------
// The harvester against a fake E-utilities
// ---------------------------------------------------------------------------------------------

/// A fake PubMed: records with an Entrez date, esearch counting a date range and handing out a WebEnv
/// that names it, efetch paging through it. WebEnvs older than `valid_from` have "expired".
struct Fake {
    records: Vec<(u32, Date)>,
    searches: AtomicUsize,
    valid_from: AtomicUsize,
}

fn day(s: &str) -> Date {
    pubmed::parse_day(s).unwrap()
}

fn param(req: &Request, key: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl Fake {
    fn new(records: Vec<(u32, Date)>) -> Arc<Self> {
        Arc::new(Fake {
            records,
            searches: AtomicUsize::new(0),
            valid_from: AtomicUsize::new(0),
        })
    }

    /// Record ids in a range, newest first as PubMed lists them.
    fn in_range(&self, min: Date, max: Date) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .records
            .iter()
            .filter(|(_, d)| *d >= min && *d <= max)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids
    }

    fn esearch(&self, req: &Request) -> ResponseTemplate {
        let (Some(min), Some(max)) = (param(req, "mindate"), param(req, "maxdate")) else {
            return ResponseTemplate::new(400).set_body_string("mindate and maxdate please");
        };
        let generation = self.searches.fetch_add(1, Ordering::SeqCst);
        let count = self.in_range(day(&min), day(&max)).len();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE eSearchResult PUBLIC \"-//NLM//DTD esearch 20060628//EN\" \"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd\">\n\
             <eSearchResult><Count>{count}</Count><RetMax>0</RetMax><RetStart>0</RetStart><QueryKey>1</QueryKey>\
             <WebEnv>MCID_{generation}_{min}_{max}</WebEnv><IdList></IdList><TranslationSet/></eSearchResult>"
        );
        ResponseTemplate::new(200).set_body_raw(body, "text/xml")
    }

    fn efetch(&self, req: &Request) -> ResponseTemplate {
        let webenv = param(req, "WebEnv").unwrap_or_default();
        let parts: Vec<&str> = webenv.split('_').collect();
        let [_, generation, min, max] = parts[..] else {
            return ResponseTemplate::new(400).set_body_string("bad WebEnv");
        };
        if generation.parse::<usize>().unwrap() < self.valid_from.load(Ordering::SeqCst) {
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<eFetchResult>\n\t<ERROR>Unable to obtain query #1</ERROR>\n</eFetchResult>";
            return ResponseTemplate::new(200).set_body_raw(body, "text/xml");
        }
        let start: usize = param(req, "retstart").unwrap().parse().unwrap();
        let max_n: usize = param(req, "retmax").unwrap().parse().unwrap();
        let mut body = String::from("<?xml version=\"1.0\" ?>\n<PubmedArticleSet>\n");
        for id in self
            .in_range(day(min), day(max))
            .into_iter()
            .skip(start)
            .take(max_n)
        {
            body.push_str(&format!(
                "<PubmedArticle><MedlineCitation Status=\"MEDLINE\" Owner=\"NLM\"><PMID Version=\"1\">{id}</PMID>\
                 <Article><Journal><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue><Title>J</Title></Journal>\
                 <ArticleTitle>Article {id}</ArticleTitle></Article></MedlineCitation></PubmedArticle>\n"
            ));
        }
        body.push_str("</PubmedArticleSet>\n");
        ResponseTemplate::new(200).set_body_raw(body, "text/xml")
    }
}

async fn serve(fake: &Arc<Fake>) -> MockServer {
    let server = MockServer::start().await;
    let f = Arc::clone(fake);
    Mock::given(method("GET"))
        .and(path("/entrez/eutils/esearch.fcgi"))
        .respond_with(move |r: &Request| f.esearch(r))
        .mount(&server)
        .await;
    let f = Arc::clone(fake);
    Mock::given(method("GET"))
        .and(path("/entrez/eutils/efetch.fcgi"))
        .respond_with(move |r: &Request| f.efetch(r))
        .mount(&server)
        .await;
    server
}

fn source(server: &MockServer, page_size: u32) -> SourceConfig {
    let mut cfg = SourceConfig::new(
        "pubmed",
        SourceKind::Pubmed,
        &format!("{}/entrez/eutils/", server.uri()),
    );
    cfg.query = Some("asthma[mesh]".into());
    cfg.from = Some("2020-01-01".into());
    cfg.email = Some("library@example.org".into());
    cfg.page_size = Some(page_size);
    cfg
}

fn fetcher() -> Fetcher {
    Fetcher::new(FetchConfig {
        rate_per_s: 0.0,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_secs(2),
        ..FetchConfig::default()
    })
    .unwrap()
}

fn today() -> String {
    pubmed::format_day(time::OffsetDateTime::now_utc().date())
}

async fn drain(h: &mut PubmedHarvester, f: &Fetcher) -> Vec<Page> {
    let mut pages = Vec::new();
    while let Some(p) = h.next_page(f).await.unwrap() {
        pages.push(p);
        assert!(pages.len() < 10_000, "runaway harvest");
    }
    pages
}

fn ids_of(pages: &[Page]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.parsed.records.iter().map(|r| r.id.clone()))
        .collect()
}

fn five_records() -> Vec<(u32, Date)> {
    (1..=5)
        .map(|i| {
            (
                100 + i,
                Date::from_calendar_date(2020, Month::March, i as u8).unwrap(),
            )
        })
        .collect()
}

async fn requests(server: &MockServer, endpoint: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with(endpoint))
        .collect()
}

#[tokio::test]
async fn multi_batch_harvest_over_the_history_server() {
    let fake = Fake::new(five_records());
    let server = serve(&fake).await;
    let mut cfg = source(&server, 2);
    cfg.api_key_env = Some("HARVEST_TEST_PUBMED_API_KEY".into());
    // Edition 2021: set_var is safe; the variable is unique to this test.
    std::env::set_var("HARVEST_TEST_PUBMED_API_KEY", "sekrit");
    assert_eq!(pubmed::default_rate(&cfg), 10.0);
    let f = fetcher();
    let mut h = PubmedHarvester::new(&cfg, None, false).unwrap();
    assert!(
        !format!("{h:?}").contains("sekrit"),
        "the key stays out of Debug"
    );
    let pages = drain(&mut h, &f).await;

    assert_eq!(pages.len(), 3, "5 records in pages of 2");
    assert_eq!(
        ids_of(&pages),
        [
            "pubmed:105",
            "pubmed:104",
            "pubmed:103",
            "pubmed:102",
            "pubmed:101"
        ]
    );
    assert!(pages.iter().all(|p| p.total == Some(5)));
    assert_eq!(
        pages[2].checkpoint,
        serde_json::json!({"completed_through": today(), "query": "asthma[mesh]"})
    );
    assert!(
        pages
            .iter()
            .all(|p| !p.url.contains("sekrit") && p.url.contains("efetch.fcgi")),
        "{:?}",
        pages[0].url
    );
    assert!(h.next_page(&f).await.unwrap().is_none(), "stays done");

    let searches = requests(&server, "esearch.fcgi").await;
    assert_eq!(searches.len(), 1);
    let s = &searches[0];
    for (k, v) in [
        ("db", "pubmed"),
        ("term", "asthma[mesh]"),
        ("usehistory", "y"),
        ("datetype", "edat"),
        ("mindate", "2020/01/01"),
        ("tool", "evidence-search"),
        ("email", "library@example.org"),
        ("api_key", "sekrit"),
    ] {
        assert_eq!(param(s, k).as_deref(), Some(v), "esearch {k}");
    }
    assert_eq!(param(s, "maxdate"), Some(today()));
    let fetches = requests(&server, "efetch.fcgi").await;
    let offsets: Vec<_> = fetches
        .iter()
        .map(|r| (param(r, "retstart").unwrap(), param(r, "retmax").unwrap()))
        .collect();
    assert_eq!(
        offsets,
        [
            ("0".into(), "2".into()),
            ("2".into(), "2".into()),
            ("4".into(), "1".into())
        ]
    );
    for r in &fetches {
        assert_eq!(
            param(r, "WebEnv").as_deref(),
            Some(format!("MCID_0_2020/01/01_{}", today()).as_str())
        );
        assert_eq!(param(r, "query_key").as_deref(), Some("1"));
        assert_eq!(param(r, "retmode").as_deref(), Some("xml"));
        assert_eq!(param(r, "api_key").as_deref(), Some("sekrit"));
        assert!(r
            .headers
            .get("user-agent")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("evidence-search/"));
    }
}

#[tokio::test]
async fn ranges_over_the_esearch_limit_are_split_into_a_partition() {
    // 20,000 records over 2020: more than one esearch can page through.
    let start = day("2020-01-01");
    let records: Vec<(u32, Date)> = (0..20_000u32)
        .map(|i| {
            (
                1_000_000 + i,
                Date::from_julian_day(start.to_julian_day() + (i % 366) as i32).unwrap(),
            )
        })
        .collect();
    let fake = Fake::new(records);
    let server = serve(&fake).await;
    let cfg = source(&server, 5_000);
    let f = fetcher();
    let mut h = PubmedHarvester::new(&cfg, None, false).unwrap();
    let pages = drain(&mut h, &f).await;

    let ids = ids_of(&pages);
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), 20_000, "no record fetched twice");
    assert_eq!(unique.len(), 20_000, "no record missed");
    assert_eq!(
        pages.last().unwrap().checkpoint["completed_through"],
        today()
    );

    // The searched ranges that were not split (count within the limit) partition the span exactly.
    let mut leaves = BTreeSet::new();
    for r in requests(&server, "esearch.fcgi").await {
        let (min, max) = (
            day(&param(&r, "mindate").unwrap()),
            day(&param(&r, "maxdate").unwrap()),
        );
        if fake.in_range(min, max).len() as u64 <= pubmed::SLICE_LIMIT {
            leaves.insert((min, max));
        }
    }
    let leaves: Vec<_> = leaves.into_iter().collect();
    assert!(leaves.len() >= 3, "{leaves:?}");
    assert_eq!(leaves[0].0, start);
    assert_eq!(pubmed::format_day(leaves.last().unwrap().1), today());
    for w in leaves.windows(2) {
        assert_eq!(
            w[0].1.next_day(),
            Some(w[1].0),
            "gap or overlap between {:?} and {:?}",
            w[0],
            w[1]
        );
    }
    // No efetch reached past the limit.
    for r in requests(&server, "efetch.fcgi").await {
        let s: u64 = param(&r, "retstart").unwrap().parse().unwrap();
        let n: u64 = param(&r, "retmax").unwrap().parse().unwrap();
        assert!(s + n <= pubmed::SLICE_LIMIT);
    }
}

#[tokio::test]
async fn resumes_from_the_checkpoint_after_page_one() {
    let fake = Fake::new(five_records());
    let server = serve(&fake).await;
    let cfg = source(&server, 2);
    let f = fetcher();
    let mut first = PubmedHarvester::new(&cfg, None, false).unwrap();
    let page1 = first.next_page(&f).await.unwrap().unwrap();
    drop(first);
    assert_eq!(
        ids_of(std::slice::from_ref(&page1)),
        ["pubmed:105", "pubmed:104"]
    );
    assert_eq!(page1.checkpoint["current"]["retstart"], 2);

    // A new process: rebuilt from the stored checkpoint, JSON round trip included.
    let stored: serde_json::Value = serde_json::from_str(&page1.checkpoint.to_string()).unwrap();
    let mut second = PubmedHarvester::new(&cfg, Some(&stored), false).unwrap();
    let rest = drain(&mut second, &f).await;
    assert_eq!(ids_of(&rest), ["pubmed:103", "pubmed:102", "pubmed:101"]);
    assert_eq!(
        requests(&server, "esearch.fcgi").await.len(),
        1,
        "the stored WebEnv is reused"
    );

    // The next run is incremental from the completed date; `full` starts over.
    let done = rest.last().unwrap().checkpoint.clone();
    let mut incremental = PubmedHarvester::new(&cfg, Some(&done), false).unwrap();
    let pages = drain(&mut incremental, &f).await;
    assert!(ids_of(&pages).is_empty());
    let mut full = PubmedHarvester::new(&cfg, Some(&done), true).unwrap();
    assert_eq!(ids_of(&drain(&mut full, &f).await).len(), 5);
    let searches = requests(&server, "esearch.fcgi").await;
    assert_eq!(param(&searches[1], "mindate"), Some(today()));
    assert_eq!(
        param(&searches[2], "mindate").as_deref(),
        Some("2020/01/01")
    );
}

#[tokio::test]
async fn an_expired_webenv_is_searched_again() {
    let fake = Fake::new(five_records());
    let server = serve(&fake).await;
    let cfg = source(&server, 2);
    let f = fetcher();
    let mut h = PubmedHarvester::new(&cfg, None, false).unwrap();
    let page1 = h.next_page(&f).await.unwrap().unwrap();
    fake.valid_from.store(1, Ordering::SeqCst);
    let rest = drain(&mut h, &f).await;
    let mut ids = ids_of(std::slice::from_ref(&page1));
    ids.extend(ids_of(&rest));
    assert_eq!(
        ids,
        [
            "pubmed:105",
            "pubmed:104",
            "pubmed:103",
            "pubmed:102",
            "pubmed:101"
        ]
    );
    assert_eq!(requests(&server, "esearch.fcgi").await.len(), 2);
    let retstarts: Vec<_> = requests(&server, "efetch.fcgi")
        .await
        .iter()
        .map(|r| param(r, "retstart").unwrap())
        .collect();
    assert_eq!(
        retstarts,
        ["0", "2", "2", "4"],
        "the failed offset is fetched again, nothing repeated"
    );
}

#[tokio::test]
async fn an_eutils_error_that_persists_is_a_protocol_error() {
    let server = MockServer::start().await;
    Mock::given(path("/entrez/eutils/esearch.fcgi"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>",
            "text/xml",
        ))
        .mount(&server)
        .await;
    let cfg = source(&server, 2);
    let mut h = PubmedHarvester::new(&cfg, None, false).unwrap();
    let e = h.next_page(&fetcher()).await.unwrap_err();
    assert!(
        matches!(&e, HarvestError::Protocol { message, .. } if message == "Invalid query"),
        "{e}"
    );
}

#[tokio::test]
async fn a_503_with_retry_after_then_success() {
    let fake = Fake::new(five_records());
    let server = MockServer::start().await;
    Mock::given(path("/entrez/eutils/efetch.fcgi"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let f1 = Arc::clone(&fake);
    Mock::given(path("/entrez/eutils/esearch.fcgi"))
        .respond_with(move |r: &Request| f1.esearch(r))
        .mount(&server)
        .await;
    let f2 = Arc::clone(&fake);
    Mock::given(path("/entrez/eutils/efetch.fcgi"))
        .respond_with(move |r: &Request| f2.efetch(r))
        .mount(&server)
        .await;
    let cfg = source(&server, 10);
    let f = fetcher();
    let mut h = PubmedHarvester::new(&cfg, None, false).unwrap();
    let started = std::time::Instant::now();
    let pages = drain(&mut h, &f).await;
    assert_eq!(ids_of(&pages).len(), 5);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(requests(&server, "efetch.fcgi").await.len(), 2);
}

#[test]
fn config_problems_are_reported() {
    let cfg = SourceConfig::new("pm", SourceKind::Pubmed, "http://127.0.0.1:9/");
    assert!(matches!(
        PubmedHarvester::new(&cfg, None, false),
        Err(HarvestError::Config { .. })
    ));
    let mut cfg = cfg;
    cfg.query = Some("asthma".into());
    cfg.from = Some("last tuesday".into());
    assert!(matches!(
        PubmedHarvester::new(&cfg, None, false),
        Err(HarvestError::Config { .. })
    ));
    cfg.from = None;
    let bogus = serde_json::json!({"cursor": 3});
    assert!(matches!(
        PubmedHarvester::new(&cfg, Some(&bogus), false),
        Err(HarvestError::Config { .. })
    ));
    assert!(PubmedHarvester::new(&cfg, Some(&serde_json::json!({})), false).is_ok());
    assert!(PubmedHarvester::new(&cfg, Some(&serde_json::Value::Null), false).is_ok());
    assert!(
        PubmedHarvester::new(&cfg, Some(&bogus), true).is_ok(),
        "full ignores the checkpoint"
    );
    assert_eq!(pubmed::default_rate(&cfg), 3.0);
    cfg.rate_per_s = Some(1.5);
    assert_eq!(pubmed::default_rate(&cfg), 1.5);
}

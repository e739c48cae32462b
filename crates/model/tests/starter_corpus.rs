//! Checks the invented starter corpus in `fixtures/starter/records.jsonl` (written by
//! `fixtures/starter/generate.py`): that it parses, that it can never pass for real evidence
//! (source `sample`, example.org links, identifiers only in invented ranges), and that it holds the
//! cases the search and ranking tests rely on.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use model::evidence::{classify, classify_title};
use model::{Audience, EvidenceLevel, Record};

fn corpus_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/starter/records.jsonl")
}

/// Every non-empty line with its parsed record.
fn load() -> Vec<(String, Record)> {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let r: Record = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line {} is not a Record: {e}", i + 1));
            (l.to_string(), r)
        })
        .collect()
}

fn records() -> Vec<Record> {
    load().into_iter().map(|(_, r)| r).collect()
}

/// Title, abstract, keywords and MeSH terms, lower-cased.
fn text_of(r: &Record) -> String {
    let mut t = format!("{} {}", r.title, r.abstract_text.as_deref().unwrap_or(""));
    for k in r.keywords.iter().chain(&r.mesh_terms) {
        t.push(' ');
        t.push_str(k);
    }
    t.to_lowercase()
}

/// Whether `word` starts a word in `text` (both lower-case).
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

fn is_nct9(s: &str) -> bool {
    let digits = s.strip_prefix("NCT9");
    digits.is_some_and(|d| d.len() == 7 && d.chars().all(|c| c.is_ascii_digit()))
}

fn is_pmc9(s: &str) -> bool {
    let digits = s.strip_prefix("PMC9");
    digits.is_some_and(|d| d.len() == 7 && d.chars().all(|c| c.is_ascii_digit()))
}

#[test]
fn every_line_parses_validates_and_is_canonical() {
    let lines = load();
    assert!(
        lines.len() >= 300,
        "the starter corpus has only {} records",
        lines.len()
    );
    for (line, r) in &lines {
        r.validate()
            .unwrap_or_else(|e| panic!("{}: invalid: {e}", r.id));
        // Keys in the struct's order, nothing unknown or misspelt: re-serialising gives the line back.
        let again = serde_json::to_string(r).expect("serialise");
        assert_eq!(
            &again, line,
            "{}: the line is not in canonical form (unknown key, key order, or a Record field change: \
             rerun fixtures/starter/generate.py after updating it)",
            r.id
        );
    }
}

#[test]
fn ids_are_sample_n_in_order_and_titles_unique() {
    let recs = records();
    let mut titles = HashSet::new();
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(
            r.id,
            format!("sample:{}", i + 1),
            "ids must be sample:1, sample:2, ..."
        );
        assert_eq!(r.source, model::SAMPLE_SOURCE, "{}", r.id);
        assert!(r.is_sample());
        assert!(
            titles.insert(r.title.to_lowercase()),
            "duplicate title: {}",
            r.title
        );
    }
}

#[test]
fn nothing_can_pass_for_real_evidence() {
    for r in records() {
        let url = r
            .url
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no url", r.id));
        assert!(
            url.starts_with("https://example.org/"),
            "{}: url {url}",
            r.id
        );
        let ids = &r.identifiers;
        if let Some(pmid) = &ids.pmid {
            let n: u64 = pmid
                .parse()
                .unwrap_or_else(|_| panic!("{}: pmid {pmid}", r.id));
            assert!(
                n >= 90_000_000,
                "{}: pmid {pmid} is in the real range",
                r.id
            );
        }
        if let Some(doi) = &ids.doi {
            assert!(
                doi.starts_with("10.5555/"),
                "{}: doi {doi} is not under the test prefix",
                r.id
            );
        }
        if let Some(nct) = &ids.nct {
            assert!(is_nct9(nct), "{}: nct {nct} is not NCT9xxxxxxx", r.id);
        }
        if let Some(pmcid) = &ids.pmcid {
            assert!(is_pmc9(pmcid), "{}: pmcid {pmcid} is not PMC9xxxxxxx", r.id);
        }
        // Normalising must not change or drop any identifier.
        let mut normalised = ids.clone();
        normalised.normalise();
        assert_eq!(
            &normalised, ids,
            "{}: identifiers are not in normal form",
            r.id
        );
        let venue = r
            .journal
            .as_deref()
            .or(r.publisher.as_deref())
            .unwrap_or_default();
        assert!(
            venue.contains("Sample") || venue.contains("Example"),
            "{}: journal or publisher {venue:?} could be taken for a real one",
            r.id
        );
    }
}

#[test]
fn identifiers_are_spread_like_a_real_mix() {
    let recs = records();
    let n = recs.len() as f64;
    let share = |f: &dyn Fn(&Record) -> bool| recs.iter().filter(|r| f(r)).count() as f64 / n;
    let pmid = share(&|r| r.identifiers.pmid.is_some());
    let doi = share(&|r| r.identifiers.doi.is_some());
    assert!(
        (0.5..=0.7).contains(&pmid),
        "{pmid:.2} of records have a PMID"
    );
    assert!((0.4..=0.6).contains(&doi), "{doi:.2} of records have a DOI");
    assert!(recs.iter().any(|r| r.identifiers.is_empty()));
    for r in &recs {
        if r.trial.is_some() {
            assert!(
                matches!(r.level(), EvidenceLevel::Rct | EvidenceLevel::Observational),
                "{}: a trial record must be an rct or observational",
                r.id
            );
            assert!(
                r.identifiers.nct.is_some(),
                "{}: trial without an NCT id",
                r.id
            );
        }
        if r.level() == EvidenceLevel::Rct {
            assert!(r.trial.is_some(), "{}: rct without trial details", r.id);
        }
    }
}

#[test]
fn every_evidence_level_is_well_represented_and_consistent() {
    let recs = records();
    let mut counts: HashMap<EvidenceLevel, usize> = HashMap::new();
    for r in &recs {
        let level = r
            .evidence_level
            .unwrap_or_else(|| panic!("{}: evidence_level must be explicit", r.id));
        *counts.entry(level).or_default() += 1;
        if let Some(from_types) = classify(&r.publication_types, &r.title) {
            assert_eq!(
                from_types, level,
                "{}: publication types say otherwise",
                r.id
            );
        } else {
            assert!(
                matches!(
                    level,
                    EvidenceLevel::Other | EvidenceLevel::PatientInformation
                ),
                "{}: {level} has no supporting publication type",
                r.id
            );
        }
        if let Some(from_title) = classify_title(&r.title) {
            assert_eq!(
                from_title, level,
                "{}: the title suggests {from_title}",
                r.id
            );
        }
        let patient = level == EvidenceLevel::PatientInformation;
        assert_eq!(
            r.audience == Audience::Patient,
            patient,
            "{}: audience",
            r.id
        );
    }
    for level in EvidenceLevel::ALL {
        let n = counts.get(&level).copied().unwrap_or(0);
        assert!(n >= 15, "only {n} records of level {level}");
    }
}

#[test]
fn records_are_abstract_sized_and_complete() {
    for r in records() {
        let words = r
            .abstract_text
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .count();
        assert!(
            (60..=200).contains(&words),
            "{}: abstract of {words} words",
            r.id
        );
        assert!(
            (1..=6).contains(&r.authors.len()),
            "{}: {} authors",
            r.id,
            r.authors.len()
        );
        assert!(
            r.journal.is_some() != r.publisher.is_some(),
            "{}: journal xor publisher",
            r.id
        );
        let year = r.published.map(|d| d.year).unwrap_or(0);
        assert!((1998..=2026).contains(&year), "{}: published {year}", r.id);
        assert_eq!(r.language.as_deref(), Some("eng"), "{}", r.id);
        assert!(r.open_access.is_some(), "{}: open_access unset", r.id);
        assert!(!r.publication_types.is_empty(), "{}", r.id);
        assert!(
            !r.mesh_terms.is_empty() && !r.keywords.is_empty(),
            "{}",
            r.id
        );
        assert!(
            r.mesh_major.iter().all(|m| r.mesh_terms.contains(m)),
            "{}",
            r.id
        );
        assert_eq!(
            r.retracted,
            r.publication_types
                .iter()
                .any(|t| t == "Retracted Publication"),
            "{}: retracted flag and publication type disagree",
            r.id
        );
    }
}

#[test]
fn superseded_guidelines_point_at_newer_versions() {
    let recs = records();
    let by_id: HashMap<&str, &Record> = recs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut pairs = 0;
    for r in &recs {
        let Some(new_id) = &r.superseded_by else {
            continue;
        };
        let new = by_id
            .get(new_id.as_str())
            .unwrap_or_else(|| panic!("{}: superseded_by {new_id} does not exist", r.id));
        assert!(
            new.published > r.published,
            "{}: superseded by {new_id}, which is not newer",
            r.id
        );
        assert_eq!(r.level(), EvidenceLevel::Guideline, "{}", r.id);
        assert_eq!(new.level(), EvidenceLevel::Guideline, "{new_id}");
        let stem = |t: &str| t.split(" (").next().unwrap_or(t).to_string();
        assert_eq!(
            stem(&r.title),
            stem(&new.title),
            "{}: the new version should have a similar title",
            r.id
        );
        pairs += 1;
    }
    assert!(pairs >= 3, "only {pairs} superseded guidelines");
}

#[test]
fn retracted_records_sit_beside_sound_ones() {
    let recs = records();
    let retracted: Vec<&Record> = recs.iter().filter(|r| r.retracted).collect();
    assert!(
        retracted.len() >= 3,
        "only {} retracted records",
        retracted.len()
    );
    for r in retracted {
        // Each retracted record shares a MeSH major topic with a sound record.
        assert!(
            recs.iter()
                .any(|o| !o.retracted && o.mesh_major.iter().any(|m| r.mesh_major.contains(m))),
            "{}: no sound record on the same topic",
            r.id
        );
    }
}

#[test]
fn ranking_trios_exist_for_asthma_sepsis_and_heart_failure() {
    let recs = records();
    for phrase in [
        "management of acute asthma in a",
        "management of sepsis in a",
        "management of acute heart failure in a",
    ] {
        for level in [
            EvidenceLevel::Guideline,
            EvidenceLevel::SystematicReview,
            EvidenceLevel::CaseReport,
        ] {
            assert!(
                recs.iter()
                    .any(|r| r.level() == level && r.title.to_lowercase().contains(phrase)),
                "no {level} titled like {phrase:?}"
            );
        }
    }
}

#[test]
fn spellings_terms_and_clinical_areas_are_covered() {
    let recs = records();
    let texts: Vec<String> = recs.iter().map(text_of).collect();
    let count = |words: &[&str]| {
        texts
            .iter()
            .filter(|t| words.iter().any(|w| has_word(t, w)))
            .count()
    };
    // UK and US spellings, each in several records of their own.
    for (uk, us) in [
        ("anaemia", "anemia"),
        ("paediatric", "pediatric"),
        ("haemorrhage", "hemorrhage"),
        ("oedema", "edema"),
        ("oesophag", "esophag"),
        ("tumour", "tumor"),
        ("randomised", "randomized"),
        ("haemoglobin", "hemoglobin"),
        ("ischaemic", "ischemic"),
    ] {
        let (a, b) = (count(&[uk]), count(&[us]));
        assert!(a >= 2 && b >= 2, "{uk}: {a} records, {us}: {b} records");
    }
    assert!(count(&["anaemia"]) >= 5 && count(&["anemia"]) >= 5);
    // Hyphenated and alphanumeric terms.
    for term in [
        "covid-19",
        "sars-cov-2",
        "il-6",
        "hba1c",
        "type 2 diabetes",
        "sglt2 inhibitors",
        "beta-blockers",
        "non-small cell",
    ] {
        assert!(
            count(&[term]) >= 3,
            "{term:?} appears in {} records",
            count(&[term])
        );
    }
    // Clinical areas.
    for (area, words) in [
        ("asthma", &["asthma"][..]),
        ("anaemia", &["anaemia", "anemia"][..]),
        ("diabetes", &["diabet"][..]),
        ("heart failure", &["heart failure"][..]),
        ("stroke", &["stroke"][..]),
        ("sepsis", &["sepsis", "septic"][..]),
        ("depression", &["depress"][..]),
        ("COVID-19", &["covid-19"][..]),
        ("paediatrics", &["paediatric", "pediatric"][..]),
    ] {
        let n = count(words);
        assert!(n >= 20, "only {n} records on {area}");
    }
    for (area, word) in [
        ("IL-6", "il-6"),
        ("hypertension", "hypertension"),
        ("atrial fibrillation", "atrial fibrillation"),
        ("COPD", "copd"),
    ] {
        let n = count(&[word]);
        assert!(n >= 5, "only {n} records on {area}");
    }
    let patient = recs
        .iter()
        .filter(|r| r.audience == Audience::Patient)
        .count();
    assert!(patient >= 15, "only {patient} patient records");
}

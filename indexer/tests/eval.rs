//! Relevance gate: `indexer::eval::evaluate` on the NFCorpus dev split (real data, beside the repo
//! in `../shared/data/beir/nfcorpus`) must not fall more than 0.005 nDCG@10 below the figure
//! recorded in `benches/RELEVANCE.md` on the line `<!-- ndcg@10: X -->`. Updating that line
//! updates the gate. Skips with a message when the data is absent.

use std::path::{Path, PathBuf};

use indexer::eval::{evaluate, EvalOptions};
use search::RankingParams;

/// How far below the recorded figure nDCG@10 may fall.
const TOLERANCE: f64 = 0.005;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/beir/nfcorpus")
}

fn relevance_doc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/RELEVANCE.md")
}

/// The figure on the marked line `<!-- <key>: <value> -->` of RELEVANCE.md.
fn recorded(key: &str) -> f64 {
    let text = std::fs::read_to_string(relevance_doc()).expect("benches/RELEVANCE.md is readable");
    let marker = format!("<!-- {key}:");
    text.lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix(&marker)?;
            rest.trim().strip_suffix("-->")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no `<!-- {key}: X -->` line in benches/RELEVANCE.md"))
}

#[test]
fn nfcorpus_dev_does_not_regress() {
    let dir = data_dir();
    if !dir.join("corpus.jsonl").exists() {
        eprintln!(
            "skipping: NFCorpus not found at {} (real data lives in ../shared/data beside the repo)",
            dir.display()
        );
        return;
    }
    let run = std::env::temp_dir().join(format!("nfcorpus-dev-{}.run", std::process::id()));
    let mut opts = EvalOptions::new(&dir, "dev");
    opts.run_file = Some(run.clone());
    let started = std::time::Instant::now();
    let report = evaluate(&opts).expect("evaluation runs");
    eprintln!(
        "nfcorpus dev, default ranking: {} in {:.1}s",
        serde_json::to_string(&report).unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    let floor = recorded("ndcg@10") - TOLERANCE;
    assert_eq!(report.queries, 324);
    assert!(
        report.ndcg_at_10 >= floor,
        "nDCG@10 {:.4} fell below {:.4} (recorded in benches/RELEVANCE.md minus {TOLERANCE})",
        report.ndcg_at_10,
        floor
    );
    let recall_floor = recorded("recall@100") - TOLERANCE;
    assert!(
        report.recall_at_100 >= recall_floor,
        "recall@100 {:.4} fell below {:.4}",
        report.recall_at_100,
        recall_floor
    );

    // The run file is a well-formed TREC run: `qid Q0 docid rank score tag`, ranks from 1.
    let text = std::fs::read_to_string(&run).expect("run file written");
    let _ = std::fs::remove_file(&run);
    let first: Vec<&str> = text.lines().next().unwrap_or("").split(' ').collect();
    assert_eq!(first.len(), 6, "{first:?}");
    assert_eq!(
        (first[1], first[3], first[5]),
        ("Q0", "1", "evidence-search")
    );
    assert!(first[4].parse::<f32>().is_ok());
    assert!(text.lines().count() > 300 * 50);
}

#[test]
fn plain_bm25_baseline_is_reproduced() {
    let dir = data_dir();
    if !dir.join("corpus.jsonl").exists() {
        eprintln!("skipping: NFCorpus not found at {}", dir.display());
        return;
    }
    let mut opts = EvalOptions::new(&dir, "dev");
    opts.params = RankingParams::plain_bm25();
    let report = evaluate(&opts).expect("evaluation runs");
    let baseline = recorded("baseline ndcg@10");
    // The baseline is deterministic (one indexing thread, corpus order): any drift means the
    // analyser or the BM25 path changed, which RELEVANCE.md must then record.
    assert!(
        (report.ndcg_at_10 - baseline).abs() < 0.002,
        "plain BM25 nDCG@10 {:.4}, recorded {baseline:.4}",
        report.ndcg_at_10
    );
}

#[test]
fn missing_folder_is_an_error_not_a_panic() {
    let opts = EvalOptions::new("/nonexistent/beir", "dev");
    let err = evaluate(&opts).expect_err("no such folder");
    assert!(err.to_string().contains("/nonexistent/beir"), "{err}");
}

/// The MeSH parser on NLM's own descriptor XML (real data beside the repo).
#[test]
fn mesh_descriptor_samples_parse_into_entry_terms() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mesh/xml_samples");
    let desc = dir.join("mesh_desc_sample.xml");
    if !desc.exists() {
        eprintln!("skipping: MeSH samples not found at {}", dir.display());
        return;
    }
    let d = indexer::mesh::read_descriptors(&desc).expect("descriptor sample parses");
    let uis: Vec<&str> = d.iter().map(|d| d.ui.as_str()).collect();
    assert_eq!(uis.len(), 5, "{uis:?}");
    assert_eq!(uis[0], "D000001");
    let calcimycin = &d[0];
    assert_eq!(calcimycin.name, "Calcimycin");
    // Pharmacological actions and qualifiers name other descriptors; they are not entry terms.
    assert!(
        calcimycin.entry_terms.is_empty(),
        "{:?}",
        calcimycin.entry_terms
    );
    assert_eq!(
        calcimycin.other_concept_terms,
        ["A-23187", "A 23187", "A23187", "Antibiotic A23187"]
    );
    let abattoirs = d.iter().find(|d| d.name == "Abattoirs").expect("Abattoirs");
    assert_eq!(
        abattoirs.entry_terms,
        [
            "Abattoir",
            "Slaughter Houses",
            "Slaughter House",
            "Slaughterhouses",
            "Slaughterhouse"
        ]
    );
    // Descriptors whose entry terms all analyse like the heading (Calcimycin has none, Hematoma
    // only "Hematomas") make no synonym group.
    let t = indexer::mesh::thesaurus(&d);
    assert!(t.len() >= 2, "{t:?}");
    assert!(t.terms().any(|x| x == "Slaughter Houses"));
    // Files of another kind are refused, not misread.
    for other in [
        "mesh_qual_sample.xml",
        "mesh_supp_sample.xml",
        "mesh_pa_sample.xml",
    ] {
        assert!(
            indexer::mesh::read_descriptors(&dir.join(other)).is_err(),
            "{other}"
        );
    }
}

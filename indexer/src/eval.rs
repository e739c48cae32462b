//! Relevance evaluation on a BEIR folder: build a temporary in-memory index with the engine's real
//! analysers, run every judged query through the same [`SearchIndex::search`] path as the API, and
//! score the rankings with nDCG@10, recall@100 and MRR@10 (computed as trec_eval computes them).
//!
//! A BEIR folder holds `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`)
//! and `qrels/<split>.tsv` (a header line, then `query-id corpus-id score`).
//!
//! Queries are free text: [`search::query::free_text`] neutralises the query language's syntax
//! (quotes, brackets, field tags, a leading `-`, upper-case `AND`/`OR`/`NOT`, `*`), so a judged
//! query is never read as a boolean expression by accident.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use model::Record;
use rayon::prelude::*;
use search::{RankingParams, SearchIndex, SearchRequest, Thesaurus};
use serde::{Deserialize, Serialize};

/// Indexing memory of an evaluation: one writer thread, for a reproducible document order.
pub const EVAL_MEMORY_BYTES: usize = 16 << 20;

/// The ranking depth of a run: recall is measured at 100.
pub const RUN_DEPTH: usize = 100;

/// Title given to corpus documents without one. It holds no word, so it adds no term to the index
/// and changes no score; the model requires a title.
const NO_TITLE: &str = "\u{2014}";

/// The word that joins title and abstract in a preprocessed dump with an empty `title` (NFCorpus:
/// `"statin breast cancer survival nationwide cohort study finland abstract recent studies …"`).
const TITLE_MARKER: &str = "abstract";

/// How far into the text the marker may stand and still end a title, in words.
const TITLE_MARKER_WITHIN: usize = 40;

/// Splits a preprocessed document whose title was folded into its text back into title and text:
/// the words before the first [`TITLE_MARKER`] among the first [`TITLE_MARKER_WITHIN`] words are
/// the title. `None` when there is no such marker, or nothing stands before or after it.
///
/// Without it every field weight is invisible to the evaluation: all the words sit in one field,
/// whereas real records (and BEIR's raw corpora) keep the title apart.
pub fn recover_title(text: &str) -> Option<(String, String)> {
    let mut words = text.split_whitespace();
    let mut title: Vec<&str> = Vec::new();
    for w in words.by_ref().take(TITLE_MARKER_WITHIN) {
        if w == TITLE_MARKER {
            let rest: Vec<&str> = words.collect();
            if title.is_empty() || rest.is_empty() {
                return None;
            }
            return Some((title.join(" "), rest.join(" ")));
        }
        title.push(w);
    }
    None
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The BEIR folder (with `corpus.jsonl`, `queries.jsonl`, `qrels/`).
    pub beir_dir: PathBuf,
    /// The qrels split: `dev` or `test` (any name with a `qrels/<split>.tsv` works).
    pub split: String,
    /// Where to write a TREC run file (`qid Q0 docid rank score tag`), if anywhere.
    pub run_file: Option<PathBuf>,
    /// The tag in the run file's last column.
    pub run_tag: String,
    /// The ranking parameters to evaluate.
    pub params: RankingParams,
    /// A thesaurus for query expansion (MeSH entry terms, see [`crate::mesh`]), if any.
    pub thesaurus: Option<Thesaurus>,
    /// Indexing memory budget in bytes. The default (16 MiB) indexes on one thread, so that
    /// documents keep the corpus order and score ties break the same way on every run.
    pub memory_bytes: usize,
    /// Recover titles folded into the text of documents with an empty title (see
    /// [`recover_title`]); on by default.
    pub recover_titles: bool,
    /// A sentence-embedding model: the corpus is embedded and searches re-rank by meaning, as
    /// the engine does with `[index] semantic_model`.
    pub encoder: Option<std::sync::Arc<search::semantic::Encoder>>,
}

impl EvalOptions {
    /// Options for a folder and split with the default ranking and no run file.
    pub fn new(beir_dir: impl Into<PathBuf>, split: &str) -> Self {
        EvalOptions {
            beir_dir: beir_dir.into(),
            split: split.to_string(),
            run_file: None,
            run_tag: "evidence-search".into(),
            params: RankingParams::default(),
            thesaurus: None,
            memory_bytes: EVAL_MEMORY_BYTES,
            recover_titles: true,
            encoder: None,
        }
    }
}

/// The scores of one evaluation, averaged over the judged queries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Mean nDCG at rank 10 (graded gains).
    #[serde(rename = "ndcg@10")]
    pub ndcg_at_10: f64,
    /// Mean recall at rank 100 (relevant = grade above 0).
    #[serde(rename = "recall@100")]
    pub recall_at_100: f64,
    /// Mean reciprocal rank of the first relevant document within the top 10.
    #[serde(rename = "mrr@10")]
    pub mrr_at_10: f64,
    /// Queries evaluated (those with at least one judgement and text).
    pub queries: usize,
}

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("io error on {0}: {1}")]
    Io(String, std::io::Error),
    /// A line of an input file is malformed.
    #[error("{file} line {line}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Nothing to evaluate.
    #[error("{0}")]
    Empty(String),
    /// The search core failed.
    #[error(transparent)]
    Search(#[from] search::SearchError),
}

/// Relevance judgements: query id → document id → grade.
pub type Qrels = HashMap<String, HashMap<String, i32>>;

/// A ranking: document ids with scores, best first.
pub type Ranking = Vec<(String, f32)>;

/// One BEIR corpus document.
#[derive(Debug, Clone, Deserialize)]
struct CorpusDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

/// One BEIR query.
#[derive(Debug, Clone, Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    text: String,
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>, EvalError> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|e| EvalError::Io(path.display().to_string(), e))
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let mut out = Vec::new();
    for (i, line) in open(path)?.lines().enumerate() {
        let line = line.map_err(|e| EvalError::Io(path.display().to_string(), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(&line).map_err(|e| EvalError::Parse {
            file: path.display().to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(v);
    }
    Ok(out)
}

/// Reads a BEIR qrels file (`query-id corpus-id score`, tab or space separated, with or without a
/// header line).
pub fn read_qrels(path: &Path) -> Result<Qrels, EvalError> {
    let mut qrels: Qrels = HashMap::new();
    for (i, line) in open(path)?.lines().enumerate() {
        let line = line.map_err(|e| EvalError::Io(path.display().to_string(), e))?;
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        let bad = |message: String| EvalError::Parse {
            file: path.display().to_string(),
            line: i + 1,
            message,
        };
        // TREC qrels have four columns (`qid iter docid rel`), BEIR three.
        let (q, d, rel) = match cols.as_slice() {
            [q, d, r] => (*q, *d, *r),
            [q, _, d, r] => (*q, *d, *r),
            _ => return Err(bad(format!("expected 3 columns, found {}", cols.len()))),
        };
        let rel: i32 = match rel.parse() {
            Ok(r) => r,
            Err(_) if i == 0 => continue, // The header line.
            Err(_) => return Err(bad(format!("score {rel:?} is not an integer"))),
        };
        qrels
            .entry(q.to_string())
            .or_default()
            .insert(d.to_string(), rel);
    }
    Ok(qrels)
}

/// nDCG at `k` as trec_eval computes it: gain = grade, discount log2(rank + 1), the ideal ranking
/// made of every judged document of the query sorted by grade. Negative grades count as 0.
pub fn ndcg_at(ranking: &[String], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| {
            let g = judged.get(d).copied().unwrap_or(0).max(0) as f64;
            g / ((i + 2) as f64).log2()
        })
        .sum();
    let mut ideal: Vec<i32> = judged.values().map(|g| (*g).max(0)).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| *g as f64 / ((i + 2) as f64).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// Recall at `k`: the share of the query's relevant documents (grade above 0) in the top `k`.
pub fn recall_at(ranking: &[String], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let relevant = judged.values().filter(|g| **g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranking
        .iter()
        .take(k)
        .filter(|d| judged.get(*d).is_some_and(|g| *g > 0))
        .count();
    found as f64 / relevant as f64
}

/// Reciprocal rank of the first relevant document (grade above 0) within the top `k`, else 0.
pub fn reciprocal_rank_at(ranking: &[String], judged: &HashMap<String, i32>, k: usize) -> f64 {
    ranking
        .iter()
        .take(k)
        .position(|d| judged.get(d).is_some_and(|g| *g > 0))
        .map(|i| 1.0 / (i + 1) as f64)
        .unwrap_or(0.0)
}

/// Scores rankings against judgements. Every judged query counts (one with no ranking scores 0),
/// as trec_eval does with `-c`; rankings of unjudged queries are ignored.
pub fn score_runs(runs: &BTreeMap<String, Ranking>, qrels: &Qrels) -> EvalReport {
    let empty = Vec::new();
    let mut n = 0usize;
    let (mut ndcg, mut recall, mut mrr) = (0.0, 0.0, 0.0);
    for (q, judged) in qrels {
        let ids: Vec<String> = runs
            .get(q)
            .unwrap_or(&empty)
            .iter()
            .map(|(d, _)| d.clone())
            .collect();
        ndcg += ndcg_at(&ids, judged, 10);
        recall += recall_at(&ids, judged, 100);
        mrr += reciprocal_rank_at(&ids, judged, 10);
        n += 1;
    }
    let mean = |s: f64| if n > 0 { s / n as f64 } else { 0.0 };
    EvalReport {
        ndcg_at_10: mean(ndcg),
        recall_at_100: mean(recall),
        mrr_at_10: mean(mrr),
        queries: n,
    }
}

/// Writes rankings as a TREC run file: `qid Q0 docid rank score tag`, ranks from 1.
pub fn write_run(
    path: &Path,
    runs: &BTreeMap<String, Ranking>,
    tag: &str,
) -> Result<(), EvalError> {
    let err = |e| EvalError::Io(path.display().to_string(), e);
    let file = std::fs::File::create(path).map_err(err)?;
    let mut w = std::io::BufWriter::new(file);
    for (q, ranking) in runs {
        for (i, (d, s)) in ranking.iter().enumerate() {
            writeln!(w, "{q} Q0 {d} {} {s:.6} {tag}", i + 1).map_err(err)?;
        }
    }
    w.flush().map_err(err)
}

/// A BEIR data set loaded in memory, indexed once so that several rankings can be evaluated on it.
pub struct BeirSet {
    index: SearchIndex,
    queries: Vec<(String, String)>,
    qrels: Qrels,
}

impl std::fmt::Debug for BeirSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeirSet")
            .field("queries", &self.queries.len())
            .finish_non_exhaustive()
    }
}

impl BeirSet {
    /// Reads the corpus, the queries and the split's judgements, and indexes the corpus in memory
    /// with the engine's analysers. With `recover_titles`, a document with an empty title whose
    /// text starts with a title ended by the word `abstract` gets that title back
    /// ([`recover_title`]).
    pub fn load(
        beir_dir: &Path,
        split: &str,
        memory_bytes: usize,
        recover_titles: bool,
    ) -> Result<Self, EvalError> {
        Self::load_with(beir_dir, split, memory_bytes, recover_titles, None)
    }

    /// [`BeirSet::load`], embedding the corpus with `encoder` when given.
    pub fn load_with(
        beir_dir: &Path,
        split: &str,
        memory_bytes: usize,
        recover_titles: bool,
        encoder: Option<std::sync::Arc<search::semantic::Encoder>>,
    ) -> Result<Self, EvalError> {
        let qrels = read_qrels(&beir_dir.join("qrels").join(format!("{split}.tsv")))?;
        if qrels.is_empty() {
            return Err(EvalError::Empty(format!("no judgements in split {split}")));
        }
        let queries: Vec<QueryLine> = read_jsonl(&beir_dir.join("queries.jsonl"))?;
        let queries: Vec<(String, String)> = queries
            .into_iter()
            .filter(|q| qrels.contains_key(&q.id))
            .map(|q| (q.id, q.text))
            .collect();
        let corpus: Vec<CorpusDoc> = read_jsonl(&beir_dir.join("corpus.jsonl"))?;
        let records: Vec<Record> = corpus
            .into_iter()
            .map(|d| {
                let (title, text) = if !d.title.trim().is_empty() {
                    (d.title, d.text)
                } else if let Some(split) = recover_titles.then(|| recover_title(&d.text)).flatten()
                {
                    split
                } else {
                    (NO_TITLE.to_string(), d.text)
                };
                let mut r = Record::new("beir", &d.id, &title);
                // The judgements name the corpus ids, so the record id is the bare corpus id.
                r.id = d.id;
                r.abstract_text = (!text.trim().is_empty()).then_some(text);
                r
            })
            .collect();
        let mut index = SearchIndex::create_in_ram(RankingParams::default())?;
        index.set_encoder(encoder);
        let mut builder = index.builder(memory_bytes)?;
        let (_, rejected) = builder.add(records, false)?;
        if let Some((id, why)) = rejected.first() {
            tracing::warn!(count = rejected.len(), first = %id, reason = %why, "corpus documents rejected");
        }
        builder.finish()?;
        index.reload()?;
        Ok(BeirSet {
            index,
            queries,
            qrels,
        })
    }

    /// The in-memory index of the corpus.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Documents indexed.
    pub fn num_docs(&self) -> u64 {
        self.index.num_docs()
    }

    /// The judged queries with text, `(id, text)`.
    pub fn queries(&self) -> &[(String, String)] {
        &self.queries
    }

    /// The judgements.
    pub fn qrels(&self) -> &Qrels {
        &self.qrels
    }

    /// Runs every judged query with `params` (and `thesaurus`, when given) and returns the top
    /// [`RUN_DEPTH`] of each.
    pub fn run(
        &mut self,
        params: &RankingParams,
        thesaurus: Option<&Thesaurus>,
    ) -> Result<BTreeMap<String, Ranking>, EvalError> {
        self.index.set_params(params.clone());
        self.index.set_thesaurus(thesaurus.cloned());
        let index = &self.index;
        let results: Vec<Result<(String, Ranking), EvalError>> = self
            .queries
            .par_iter()
            .map(|(qid, text)| {
                let req = SearchRequest {
                    q: search::query::free_text(text),
                    limit: RUN_DEPTH,
                    facets: false,
                    highlight: false,
                    ..Default::default()
                };
                let res = index.search(&req)?;
                let ranking = res
                    .hits
                    .into_iter()
                    .map(|h| (h.record.id, h.score))
                    .collect();
                Ok((qid.clone(), ranking))
            })
            .collect();
        let mut runs = BTreeMap::new();
        for r in results {
            let (q, ranking) = r?;
            runs.insert(q, ranking);
        }
        Ok(runs)
    }

    /// Runs and scores one setting.
    pub fn evaluate(
        &mut self,
        params: &RankingParams,
        thesaurus: Option<&Thesaurus>,
    ) -> Result<EvalReport, EvalError> {
        let runs = self.run(params, thesaurus)?;
        Ok(score_runs(&runs, &self.qrels))
    }
}

/// Evaluates one ranking setting on a BEIR folder; writes the run file when asked.
///
/// This is what `indexer eval --beir DIR [--split dev|test] [--run FILE] [--json]` calls.
pub fn evaluate(opts: &EvalOptions) -> Result<EvalReport, EvalError> {
    let mut set = BeirSet::load_with(
        &opts.beir_dir,
        &opts.split,
        opts.memory_bytes,
        opts.recover_titles,
        opts.encoder.clone(),
    )?;
    let runs = set.run(&opts.params, opts.thesaurus.as_ref())?;
    if let Some(path) = &opts.run_file {
        write_run(path, &runs, &opts.run_tag)?;
    }
    let judged_without_text: HashSet<&String> = set
        .qrels
        .keys()
        .filter(|q| !set.queries.iter().any(|(id, _)| id == *q))
        .collect();
    if !judged_without_text.is_empty() {
        tracing::warn!(
            count = judged_without_text.len(),
            "judged queries missing from queries.jsonl score 0"
        );
    }
    Ok(score_runs(&runs, &set.qrels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_recovered_only_from_a_marker_near_the_start() {
        let check = |text: &str, expect: Option<(&str, &str)>| {
            let got = recover_title(text);
            let got = got.as_ref().map(|(t, a)| (t.as_str(), a.as_str()));
            assert_eq!(got, expect, "{text:?}");
        };
        check(
            "statin breast cancer survival abstract recent studies suggested",
            Some(("statin breast cancer survival", "recent studies suggested")),
        );
        // Only the first marker ends the title; later ones stay in the text.
        check("a b abstract c abstract d", Some(("a b", "c abstract d")));
        // Whitespace of any kind separates words.
        check(" a\tb \n abstract  c ", Some(("a b", "c")));
        // No marker, a marker with nothing before or after it, or one too far in: no split.
        check("no marker in this text", None);
        check("abstract leading marker", None);
        check("trailing marker abstract", None);
        check(
            &format!("{} abstract text", "w ".repeat(TITLE_MARKER_WITHIN)),
            None,
        );
        check(
            &format!("{}abstract text", "w ".repeat(TITLE_MARKER_WITHIN - 1)),
            Some(("w ".repeat(TITLE_MARKER_WITHIN - 1).trim_end(), "text")),
        );
        // A word that merely contains the marker is not it.
        check("abstracts of talks abstractly put", None);
    }

    fn judged(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ndcg_matches_hand_computation() {
        // Judged: a=2, b=1, c=0, d=2 (d never retrieved). Ranking: x, a, c, b.
        // DCG  = 0/log2(2) + 2/log2(3) + 0/log2(4) + 1/log2(5)
        //      = 0 + 2/1.5849625 + 0 + 1/2.3219281 = 1.2618595 + 0.4306766 = 1.6925361.
        // Ideal = 2, 2, 1, 0: IDCG = 2/1 + 2/1.5849625 + 1/2 = 2 + 1.2618595 + 0.5 = 3.7618595.
        // nDCG = 1.6925361 / 3.7618595 = 0.4499202.
        let j = judged(&[("a", 2), ("b", 1), ("c", 0), ("d", 2)]);
        let r = ids(&["x", "a", "c", "b"]);
        assert!((ndcg_at(&r, &j, 10) - 0.4499202).abs() < 1e-6);
        // At k = 2 only x and a count: DCG = 1.2618595; IDCG@2 = 2 + 1.2618595 = 3.2618595;
        // nDCG@2 = 0.3868528.
        assert!((ndcg_at(&r, &j, 2) - 0.3868528).abs() < 1e-6);
        // A perfect ranking scores 1; no relevant documents scores 0.
        assert!((ndcg_at(&ids(&["a", "d", "b"]), &j, 10) - 1.0).abs() < 1e-12);
        assert_eq!(ndcg_at(&r, &judged(&[("a", 0)]), 10), 0.0);
    }

    #[test]
    fn recall_and_rr_match_hand_computation() {
        // Relevant (grade > 0): a, b, d — three. Ranking x, a, c, b finds a and b: recall 2/3.
        // The first relevant document is a, at rank 2: reciprocal rank 1/2.
        let j = judged(&[("a", 2), ("b", 1), ("c", 0), ("d", 2)]);
        let r = ids(&["x", "a", "c", "b"]);
        assert!((recall_at(&r, &j, 100) - 2.0 / 3.0).abs() < 1e-12);
        assert!((recall_at(&r, &j, 3) - 1.0 / 3.0).abs() < 1e-12);
        assert!((reciprocal_rank_at(&r, &j, 10) - 0.5).abs() < 1e-12);
        assert_eq!(reciprocal_rank_at(&r, &j, 1), 0.0);
    }

    #[test]
    fn means_over_every_judged_query() {
        // q1 is ranked perfectly (1, 1, 1); q2 has no ranking at all (0, 0, 0): means 0.5.
        let mut qrels = Qrels::new();
        qrels.insert("q1".into(), judged(&[("a", 1)]));
        qrels.insert("q2".into(), judged(&[("b", 2)]));
        let mut runs = BTreeMap::new();
        runs.insert("q1".to_string(), vec![("a".to_string(), 3.0f32)]);
        runs.insert("unjudged".to_string(), vec![("b".to_string(), 1.0f32)]);
        let r = score_runs(&runs, &qrels);
        assert_eq!(r.queries, 2);
        assert!((r.ndcg_at_10 - 0.5).abs() < 1e-12);
        assert!((r.recall_at_100 - 0.5).abs() < 1e-12);
        assert!((r.mrr_at_10 - 0.5).abs() < 1e-12);
        let json = serde_json::to_value(r).unwrap_or_default();
        for key in ["ndcg@10", "recall@100", "mrr@10", "queries"] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
    }
}

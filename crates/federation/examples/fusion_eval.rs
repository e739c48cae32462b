//! Chooses the fusion of local and remote results by measurement (see `benches/FEDERATION.md`).
//!
//! The NFCorpus dev set (`../shared/data/beir/nfcorpus`) is split in two halves by document: one
//! half is the local index, the other stands for a remote source that answers its own BM25 order
//! (ranks only, no scores, as PubMed or Europe PMC do). For every judged query the first `depth`
//! of each side are fused by each strategy, and nDCG@10 of the fused list is compared with the
//! single index over the whole corpus (the ranking a perfect federation would reproduce).
//!
//! ```sh
//! cargo run --release -p federation --example fusion_eval -- [--depth 10] [--split odd-even|hash]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use federation::{merge, Fusion, MergeInput, RemoteList};
use model::Record;
use search::{RankingParams, SearchIndex, SearchRequest, Sort};

fn ndcg_at(ranking: &[String], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| judged.get(d).copied().unwrap_or(0).max(0) as f64 / ((i + 2) as f64).log2())
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

fn index_of(records: Vec<Record>, params: &RankingParams) -> SearchIndex {
    let index = SearchIndex::create_in_ram(params.clone()).expect("index");
    let mut b = index.builder(128 << 20).expect("builder");
    b.add(records, false).expect("add");
    b.finish().expect("finish");
    index.reload().expect("reload");
    index
}

fn search(index: &SearchIndex, q: &str, limit: usize) -> Vec<search::Hit> {
    index
        .search(&SearchRequest {
            q: q.to_string(),
            limit,
            facets: false,
            highlight: false,
            ..Default::default()
        })
        .map(|r| r.hits)
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let depth: usize = arg("--depth").and_then(|d| d.parse().ok()).unwrap_or(10);
    let split = arg("--split").unwrap_or_else(|| "odd-even".into());
    let plain = args.iter().any(|a| a == "--plain-bm25");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/beir/nfcorpus");
    if !dir.exists() {
        eprintln!(
            "skipping: {} is absent (shared data not available)",
            dir.display()
        );
        return;
    }
    let params = if plain {
        RankingParams::plain_bm25()
    } else {
        RankingParams::default()
    };

    let read = |name: &str| -> Vec<serde_json::Value> {
        let f = std::fs::File::open(dir.join(name)).expect("open");
        std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    };
    let mut qrels: HashMap<String, HashMap<String, i32>> = HashMap::new();
    let tsv = std::fs::read_to_string(dir.join("qrels/dev.tsv")).expect("qrels");
    for line in tsv.lines().skip(1) {
        let mut it = line.split('\t');
        if let (Some(q), Some(d), Some(g)) = (it.next(), it.next(), it.next()) {
            if let Ok(g) = g.trim().parse::<i32>() {
                qrels
                    .entry(q.to_string())
                    .or_default()
                    .insert(d.to_string(), g);
            }
        }
    }
    let queries: Vec<(String, String)> = read("queries.jsonl")
        .into_iter()
        .filter_map(|v| {
            Some((
                v["_id"].as_str()?.to_string(),
                v["text"].as_str()?.to_string(),
            ))
        })
        .filter(|(id, _)| qrels.contains_key(id))
        .collect();
    let corpus: Vec<Record> = read("corpus.jsonl")
        .into_iter()
        .filter_map(|v| {
            let id = v["_id"].as_str()?.to_string();
            let title = v["title"].as_str().unwrap_or("").trim().to_string();
            let mut r = Record::new(
                "beir",
                &id,
                if title.is_empty() { "\u{2014}" } else { &title },
            );
            r.id = id;
            r.abstract_text = v["text"]
                .as_str()
                .map(str::to_string)
                .filter(|t| !t.trim().is_empty());
            Some(r)
        })
        .collect();
    let in_local = |i: usize, id: &str| match split.as_str() {
        "hash" => {
            id.bytes()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                % 2
                == 0
        }
        _ => i & 1 == 0,
    };
    let (mut local_docs, mut remote_docs) = (Vec::new(), Vec::new());
    for (i, r) in corpus.iter().enumerate() {
        if in_local(i, &r.id) {
            local_docs.push(r.clone());
        } else {
            let mut r = r.clone();
            r.source = "remote".into();
            remote_docs.push(r);
        }
    }
    println!(
        "nfcorpus dev: {} queries, {} docs ({} local, {} remote), split {split}, depth {depth} per side, params {}",
        queries.len(),
        corpus.len(),
        local_docs.len(),
        remote_docs.len(),
        if plain { "plain_bm25" } else { "default" }
    );
    let full = index_of(corpus, &params);
    let local = index_of(local_docs, &params);
    let remote = index_of(remote_docs, &params);

    // (name, fusion, calibrated, remote depth as a multiple of the page depth)
    let rescore = |rank_floor| {
        Some(Fusion::Rescore {
            k: 60.0,
            rank_floor,
        })
    };
    let strategies: Vec<(&str, Option<Fusion>, bool, usize)> = vec![
        ("local half only (no federation)", None, false, 1),
        ("round-robin", Some(Fusion::RoundRobin), false, 1),
        (
            "reciprocal rank fusion (k = 60)",
            Some(Fusion::Rrf { k: 60.0 }),
            false,
            1,
        ),
        ("re-scoring, uncalibrated", rescore(0), false, 1),
        ("re-scoring, calibrated, no rank floor", rescore(0), true, 1),
        (
            "re-scoring, calibrated, no rank floor, remote depth 2x",
            rescore(0),
            true,
            2,
        ),
        (
            "re-scoring, calibrated, rank floor 1 (remote depth 1x)",
            rescore(1),
            true,
            1,
        ),
        (
            "re-scoring, calibrated, rank floor 2 (remote depth 2x)",
            rescore(2),
            true,
            2,
        ),
        (
            "re-scoring, calibrated, rank floor 3 (remote depth 3x)",
            rescore(3),
            true,
            3,
        ),
    ];
    let max_mult = strategies.iter().map(|s| s.3).max().unwrap_or(1);
    let mut sums: BTreeMap<usize, f64> = BTreeMap::new();
    let mut full_sum = 0.0;
    let mut rescore_time = std::time::Duration::ZERO;
    let mut rescored = 0usize;
    for (qid, text) in &queries {
        let q = search::query::free_text(text);
        let judged = &qrels[qid];
        let full_ids: Vec<String> = search(&full, &q, 10)
            .into_iter()
            .map(|h| h.record.id)
            .collect();
        full_sum += ndcg_at(&full_ids, judged, 10);
        let local_hits = search(&local, &q, depth.max(federation::merge::CALIBRATION_HITS));
        let remote_records: Vec<Record> = search(&remote, &q, depth * max_mult)
            .into_iter()
            .map(|h| h.record)
            .collect();
        let t = Instant::now();
        let local_records: Vec<Record> = local_hits
            .iter()
            .take(federation::merge::CALIBRATION_HITS)
            .map(|h| h.record.clone())
            .collect();
        let local_ext = local.score_external(&q, &local_records);
        let remote_ext = local.score_external(&q, &remote_records);
        rescore_time += t.elapsed();
        rescored += local_records.len() + remote_records.len();
        for (i, (_, fusion, calibrated, mult)) in strategies.iter().enumerate() {
            let remote_n = (depth * mult).min(remote_records.len());
            let ids: Vec<String> = match fusion {
                None => local_hits
                    .iter()
                    .take(10)
                    .map(|h| h.record.id.clone())
                    .collect(),
                Some(f) => {
                    let input = MergeInput {
                        local: local_hits.iter().take(depth.max(10)).cloned().collect(),
                        local_external: if *calibrated {
                            local_ext.clone()
                        } else {
                            Vec::new()
                        },
                        remote: vec![RemoteList {
                            source: "remote".into(),
                            records: remote_records[..remote_n].to_vec(),
                        }],
                        remote_external: vec![remote_ext[..remote_n].to_vec()],
                    };
                    merge(input, *f, Sort::Relevance)
                        .hits
                        .into_iter()
                        .map(|h| h.record.id)
                        .collect()
                }
            };
            *sums.entry(i).or_default() += ndcg_at(&ids, judged, 10);
        }
    }
    let n = queries.len().max(1) as f64;
    let full_mean = full_sum / n;
    println!();
    println!("| ranking | nDCG@10 | share of single-index nDCG@10 |");
    println!("|---|---|---|");
    println!("| single index over the whole corpus (reference) | {full_mean:.4} | 100.0% |");
    for (i, (name, _, _, _)) in strategies.iter().enumerate() {
        let m = sums.get(&i).copied().unwrap_or(0.0) / n;
        println!(
            "| {name} | {m:.4} | {:.1}% |",
            100.0 * m / full_mean.max(1e-9)
        );
    }
    println!();
    println!(
        "score_external: {rescored} records in {:.1} ms ({:.1} µs per record)",
        rescore_time.as_secs_f64() * 1e3,
        rescore_time.as_secs_f64() * 1e6 / rescored.max(1) as f64
    );
}

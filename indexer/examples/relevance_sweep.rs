//! Scratch: evaluate ranking settings on a BEIR folder (`cargo run --release -p indexer --example
//! relevance_sweep -- DIR [SETTINGS_JSON...]`). Each argument after DIR is a JSON object of
//! `RankingParams` overrides applied to `plain_bm25()` when it starts with `plain:`, else to the
//! defaults. `TITLES=0` keeps the text of untitled documents whole (no title recovery).
use indexer::eval::BeirSet;
use search::RankingParams;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "../shared/data/beir/nfcorpus".into());
    let t = std::time::Instant::now();
    let mut set = BeirSet::load(
        std::path::Path::new(&dir),
        "dev",
        indexer::eval::EVAL_MEMORY_BYTES,
        std::env::var("TITLES").map_or(true, |v| v != "0"),
    )?;
    eprintln!("indexed {} docs in {:?}", set.num_docs(), t.elapsed());
    let mut settings: Vec<String> = args.collect();
    if settings.is_empty() {
        settings.push("plain:{}".into());
    }
    for s in settings {
        let (base, json) = match s.strip_prefix("plain:") {
            Some(j) => (RankingParams::plain_bm25(), j.to_string()),
            None => (RankingParams::default(), s.clone()),
        };
        let mut v = serde_json::to_value(&base)?;
        let over: serde_json::Value = serde_json::from_str(&json)?;
        if let (Some(m), Some(o)) = (v.as_object_mut(), over.as_object()) {
            for (k, x) in o {
                m.insert(k.clone(), x.clone());
            }
        }
        let p: RankingParams = serde_json::from_value(v)?;
        let t = std::time::Instant::now();
        let thesaurus = match std::env::var("MESH_XML") {
            Ok(path) => Some(indexer::mesh::load_thesaurus(std::path::Path::new(&path))?),
            Err(_) => None,
        };
        let r = set.evaluate(&p, thesaurus.as_ref())?;
        println!(
            "{:<60} ndcg@10 {:.4}  recall@100 {:.4}  mrr@10 {:.4}  q {}  ({:.1}s)",
            s,
            r.ndcg_at_10,
            r.recall_at_100,
            r.mrr_at_10,
            r.queries,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

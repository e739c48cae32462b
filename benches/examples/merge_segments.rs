//! Merges every segment of a tantivy index folder into one, to measure what the segment count
//! costs a search (benches/RESULTS.md, "segments"):
//!
//! ```sh
//! ./target/release/compare build --data /tmp/h1m --docs 1m --seed 2026
//! cp -r /tmp/h1m /tmp/h1m-merged
//! cargo run --release -p benches --example merge_segments -- /tmp/h1m-merged/index/gen-000001
//! ./target/release/compare profile --data /tmp/h1m-merged --shape 2-4_terms
//! ```
//!
//! A measuring tool only: the engine's builds keep tantivy's merge policy (a forced merge to one
//! segment costs 25 s of a 1M build, and takes a 100k build below 10,000 records/s).

use anyhow::Context;
use tantivy::Index;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .context("usage: merge_segments INDEX_DIR (a generation folder)")?;
    let index = Index::open_in_dir(&dir)?;
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 256 << 20)?;
    let ids = index.searchable_segment_ids()?;
    println!("merging {} segments", ids.len());
    let t = std::time::Instant::now();
    if ids.len() > 1 {
        writer.merge(&ids).wait()?;
    }
    writer.wait_merging_threads()?;
    println!("merged in {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}

//! `indexer compact`: merges the live generation into one segment, keeps every record, and says
//! clearly when there is nothing to compact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::Command;

use search::{Generations, RankingParams, SearchIndex, SearchRequest};

fn indexer(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_indexer"));
    c.arg("--data").arg(data).args(args).env("RUST_LOG", "warn");
    c
}

#[test]
fn compact_merges_the_live_generation_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // Nothing built yet: a clear error, not a panic.
    let out = indexer(&data, &["compact"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no index generation is live"), "{err}");

    let file = dir.path().join("records.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..3000 {
        let r = serde_json::json!({
            "id": format!("bulk:{i}"),
            "source": "bulk",
            "title": format!("Record {i} on asthma and sepsis in cohort {}", i % 97),
            "abstract": format!("A cohort of {} adults with asthma was followed for outcomes.", i % 1000),
        });
        writeln!(f, "{r}").unwrap();
    }
    drop(f);
    let imported = indexer(
        &data,
        &["import", "--format", "jsonl", file.to_str().unwrap()],
    )
    .status()
    .unwrap();
    assert!(imported.success());
    // A build that leaves its segments as written (two indexing threads: up to two segments).
    let config = dir.path().join("evidence.toml");
    std::fs::write(&config, "[index]\ncompact_after_build = false\n").unwrap();
    let unmerged = |n| {
        let out = indexer(&data, &["--config", config.to_str().unwrap(), "build"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("merged into"));
        let gens = Generations::open(&data.join("index")).unwrap();
        assert_eq!(gens.live().unwrap(), Some(n));
    };
    unmerged(1);

    let out = indexer(&data, &["compact"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("merged into 1 in"), "{said}");
    assert!(said.contains("(3000 documents)"), "{said}");

    let gens = Generations::open(&data.join("index")).unwrap();
    let live = gens.live().unwrap().unwrap();
    let index = SearchIndex::open(&gens.path(live), RankingParams::default()).unwrap();
    assert_eq!(index.segments(), 1);
    let res = index
        .search(&SearchRequest {
            q: "asthma cohort".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(res.total, 3000);

    // By default a build merges its new generation once it is live.
    unmerged(2);
    let out = indexer(&data, &["build"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let gens = Generations::open(&data.join("index")).unwrap();
    let live = gens.live().unwrap().unwrap();
    assert_eq!(live, 3);
    let index = SearchIndex::open(&gens.path(live), RankingParams::default()).unwrap();
    assert_eq!(index.segments(), 1);
    assert_eq!(index.num_docs(), 3000);
}

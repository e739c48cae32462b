//! Kill `indexer build` in the middle of a build (SIGKILL, no chance to clean up): the previous
//! generation stays live, the store is intact, and the next build cleans the half-built
//! generation and succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use search::Generations;

fn indexer(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_indexer"));
    c.arg("--data").arg(data).args(args).env("RUST_LOG", "warn");
    c
}

fn write_records(path: &Path, from: usize, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in from..from + n {
        let r = serde_json::json!({
            "id": format!("bulk:{i}"),
            "source": "bulk",
            "title": format!("Record {i} on asthma, sepsis and heart failure outcomes in cohort {}", i % 97),
            "abstract": format!("Background: record {i}. Methods: a cohort of {} adults with asthma, anaemia and heart failure was followed for outcomes. Results: mortality and admissions were recorded in every group over several years. Conclusions: further randomised trials are needed.", i % 1000),
            "published": format!("{}", 2000 + (i % 25)),
        });
        writeln!(f, "{r}").unwrap();
    }
}

#[test]
#[allow(
    clippy::zombie_processes,
    reason = "every path that leaves the loop waits on the child, or it already exited"
)]
fn killed_build_leaves_the_live_generation_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let small = dir.path().join("small.jsonl");
    write_records(&small, 0, 50);
    assert!(indexer(
        &data,
        &["import", "--format", "jsonl", small.to_str().unwrap()]
    )
    .status()
    .unwrap()
    .success());
    assert!(indexer(&data, &["build"]).status().unwrap().success());
    let gens = Generations::open(&data.join("index")).unwrap();
    let first = gens.live().unwrap().expect("a live generation");

    let big = dir.path().join("big.jsonl");
    write_records(&big, 50, 40_000);
    assert!(indexer(
        &data,
        &["import", "--format", "jsonl", big.to_str().unwrap()]
    )
    .status()
    .unwrap()
    .success());

    // Start a build and kill it once its generation directory exists and is still marked as
    // building.
    let mut child = indexer(&data, &["build"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_mid_build = false;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the build finished ({status}) before it could be killed; make the store larger"
            );
        }
        let building = gens
            .list()
            .unwrap()
            .into_iter()
            .any(|n| n != first && !gens.is_complete(n));
        if building {
            std::thread::sleep(Duration::from_millis(300));
            child.kill().unwrap();
            child.wait().unwrap();
            killed_mid_build = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !killed_mid_build {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(killed_mid_build, "the build never started");

    // The previous generation is still the live one, and it opens and serves.
    assert_eq!(gens.live().unwrap(), Some(first));
    let index =
        search::SearchIndex::open(&gens.path(first), search::RankingParams::default()).unwrap();
    assert_eq!(index.num_docs(), 50);
    // The store is intact.
    let store = store::Store::open(&data.join("store.sqlite")).unwrap();
    assert_eq!(store.count_live().unwrap(), 40_050);
    drop(store);

    // A new build cleans the half-built generation up and succeeds.
    let out = indexer(&data, &["build"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live = gens.live().unwrap().unwrap();
    assert_ne!(live, first);
    assert!(
        gens.list().unwrap().iter().all(|n| gens.is_complete(*n)),
        "no half-built generation left"
    );
    let index =
        search::SearchIndex::open(&gens.path(live), search::RankingParams::default()).unwrap();
    assert_eq!(index.num_docs(), 40_050);
}

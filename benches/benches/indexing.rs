//! Indexing throughput (records/s) of the builder the indexer uses, on generated abstract-sized
//! records, into an on-disk index. Records per iteration from `EVIDENCE_BENCH_INDEX_DOCS`
//! (default 20k). The full ≥ 100k build with its peak memory is measured by `compare` (see
//! `benches/compare.sh`).

use std::hint::black_box;

use benches::corpus::Generator;
use benches::engines::build_evidence_index;
use benches::vocab::Vocab;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let n = std::env::var("EVIDENCE_BENCH_INDEX_DOCS")
        .ok()
        .and_then(|s| benches::parse_size(&s))
        .unwrap_or(20_000);
    let gen = Generator::new(2026, Vocab::load_default());
    let records = gen.records(0..n as u64);
    let mut g = c.benchmark_group("indexing");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(format!("build_{}", benches::size_label(n)), |b| {
        b.iter_batched(
            || (records.clone(), tempfile::tempdir()),
            |(recs, dir)| {
                let dir = match dir {
                    Ok(d) => d,
                    Err(e) => panic!("no temporary directory: {e}"),
                };
                let built = build_evidence_index(
                    Some(dir.path()),
                    recs,
                    indexer::config::default_memory_mb() << 20,
                );
                black_box(built.map(|(i, _)| i.num_docs()).unwrap_or(0))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("generate");
    g.throughput(Throughput::Elements(1000));
    let mut start = 0u64;
    g.bench_function("records_1k", |b| {
        b.iter(|| {
            start += 1000;
            black_box(gen.records(start..start + 1000).len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Search latency per query shape at each corpus size, what snippets and facets cost, and what
//! autocomplete and spelling correction cost per keystroke.
//!
//! Sizes come from `EVIDENCE_BENCH_SIZES` (`10k,100k,1m`; default `10k,100k`), so a CI-like run
//! stays small: `EVIDENCE_BENCH_SIZES=10k cargo bench -p benches --bench search`.

use std::hint::black_box;

use benches::corpus::Generator;
use benches::engines::build_evidence_index;
use benches::queries::{query_set, BenchQuery, Shape};
use benches::vocab::Vocab;
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let sizes = benches::sizes_from_env(&[10_000, 100_000]);
    let gen = Generator::new(2026, Vocab::load_default());
    let queries = query_set(&gen, 2026, 50);
    for n in sizes {
        let label = benches::size_label(n);
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("skipping {label}: no temporary directory: {e}");
                continue;
            }
        };
        eprintln!("building a {label} document index for the search benches...");
        let (index, secs) = match build_evidence_index(
            Some(dir.path()),
            gen.records(0..n as u64),
            indexer::config::default_memory_mb() << 20,
        ) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("skipping {label}: build failed: {e:#}");
                continue;
            }
        };
        eprintln!("built in {secs:.1}s ({:.0} records/s)", n as f64 / secs);
        // Searched as served: merged into one segment after the build (`compact_after_build`).
        match indexer::compact(&index) {
            Ok(c) => eprintln!(
                "merged {} segment(s) in {:.1}s",
                c.segments_before, c.seconds
            ),
            Err(e) => eprintln!("{label}: not merged ({e}); searching the build's segments"),
        }

        // The comparison task: top 10, facets only for the faceted shape, no snippets.
        let mut g = c.benchmark_group(format!("search/{label}"));
        for shape in Shape::ALL {
            let qs: Vec<&BenchQuery> = queries.iter().filter(|q| q.shape == shape).collect();
            let reqs: Vec<search::SearchRequest> =
                qs.iter().map(|q| q.request(false, None)).collect();
            let mut i = 0usize;
            g.bench_function(shape.as_str(), |b| {
                b.iter(|| {
                    let r = &reqs[i % reqs.len()];
                    i += 1;
                    black_box(index.search(r).map(|r| r.hits.len()).unwrap_or(0))
                })
            });
        }
        g.finish();

        // Cost of snippets and facets on 2-4 term queries.
        let few: Vec<&BenchQuery> = queries
            .iter()
            .filter(|q| q.shape == Shape::FewTerms)
            .collect();
        let mut g = c.benchmark_group(format!("search_cost/{label}"));
        for (name, highlight, facets) in [
            ("bare", false, false),
            ("facets", false, true),
            ("snippets", true, false),
            ("facets+snippets", true, true),
        ] {
            let reqs: Vec<search::SearchRequest> = few
                .iter()
                .map(|q| q.request(highlight, Some(facets)))
                .collect();
            let mut i = 0usize;
            g.bench_function(name, |b| {
                b.iter(|| {
                    let r = &reqs[i % reqs.len()];
                    i += 1;
                    black_box(index.search(r).map(|r| r.hits.len()).unwrap_or(0))
                })
            });
        }
        g.finish();

        bench_suggest(c, &label, &index, &few);
    }
}

/// `GET /suggest` is called on each keystroke: completions of 1-, 2-, 3- and 5-letter prefixes
/// and of a whole word and a space, from the real words of the 2-4 term queries; and the
/// spelling correction a first page runs (a known query, and one with a letter dropped).
fn bench_suggest(c: &mut Criterion, label: &str, index: &search::SearchIndex, few: &[&BenchQuery]) {
    let started = std::time::Instant::now();
    let suggester = match index.suggester() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping suggest/{label}: vocabulary not built: {e}");
            return;
        }
    };
    eprintln!(
        "suggestion vocabulary built in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let words: Vec<String> = few
        .iter()
        .filter_map(|q| q.text.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()) && w.len() >= 6)
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        eprintln!("skipping suggest/{label}: no words to complete");
        return;
    }
    let mut g = c.benchmark_group(format!("suggest/{label}"));
    for len in [1usize, 2, 3, 5] {
        let prefixes: Vec<String> = words.iter().map(|w| w[..len].to_string()).collect();
        let mut i = 0usize;
        g.bench_function(format!("complete_{len}_letters"), |b| {
            b.iter(|| {
                let p = &prefixes[i % prefixes.len()];
                i += 1;
                black_box(suggester.complete(p, 8).len())
            })
        });
    }
    let spaced: Vec<String> = words.iter().map(|w| format!("{w} ")).collect();
    let mut i = 0usize;
    g.bench_function("complete_word_and_space", |b| {
        b.iter(|| {
            let p = &spaced[i % spaced.len()];
            i += 1;
            black_box(suggester.complete(p, 8).len())
        })
    });
    let typos: Vec<String> = few
        .iter()
        .map(|q| {
            let mut t = q.text.clone();
            if let Some(at) = t.find(|c: char| c.is_ascii_alphabetic()).map(|a| a + 2) {
                if t.is_char_boundary(at) && t.is_char_boundary(at + 1) && at + 1 < t.len() {
                    t.remove(at);
                }
            }
            t
        })
        .collect();
    for (name, qs) in [
        (
            "correct_known",
            few.iter().map(|q| q.text.clone()).collect::<Vec<_>>(),
        ),
        ("correct_typo", typos),
    ] {
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let q = &qs[i % qs.len()];
                i += 1;
                black_box(suggester.correct_query(q).is_some())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

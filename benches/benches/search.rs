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
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

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
            cycle(&mut g, shape.as_str(), &reqs, |r| {
                index.search(r).map(|r| r.hits.len()).unwrap_or(0)
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
            cycle(&mut g, name, &reqs, |r| {
                index.search(r).map(|r| r.hits.len()).unwrap_or(0)
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
        cycle(&mut g, &format!("complete_{len}_letters"), &prefixes, |p| {
            suggester.complete(p, 8).len()
        });
    }
    let spaced: Vec<String> = words.iter().map(|w| format!("{w} ")).collect();
    cycle(&mut g, "complete_word_and_space", &spaced, |p| {
        suggester.complete(p, 8).len()
    });
    // Each query with its third character dropped ("asthma inhalers" -> "ashma inhalers").
    let typos: Vec<String> = few
        .iter()
        .filter(|q| q.text.is_ascii() && q.text.len() > 3)
        .map(|q| format!("{}{}", &q.text[..2], &q.text[3..]))
        .collect();
    let known: Vec<String> = few.iter().map(|q| q.text.clone()).collect();
    // A typo met for the first time (the vocabulary remembers corrections: forgotten before
    // each), then one met before.
    for (name, qs) in [("correct_known", &known), ("correct_typo", &typos)] {
        cycle(&mut g, name, qs, |q| {
            suggester.forget_corrections();
            suggester.correct_query(q).is_some()
        });
    }
    cycle(&mut g, "correct_typo_remembered", &typos, |q| {
        suggester.correct_query(q).is_some()
    });
    g.finish();
}

/// Benchmarks `f` over `inputs` in turn, so that no single input is measured warm.
fn cycle<T, R>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    inputs: &[T],
    mut f: impl FnMut(&T) -> R,
) {
    if inputs.is_empty() {
        eprintln!("skipping {name}: no inputs");
        return;
    }
    let mut i = 0usize;
    g.bench_function(name, |b| {
        b.iter(|| {
            let x = &inputs[i % inputs.len()];
            i += 1;
            black_box(f(x))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! One search on both cores: a large segment's documents searched as two halves of its doc-id
//! range, the second on a helper thread, when no other search is running.
//!
//! tantivy parallelises a search by segment only, and a compacted index is one segment, so a
//! lone search would leave the second core idle however large the index. Lucene 10 added the same
//! answer ("intra-segment concurrency": doc-id partitions of a segment). Each half builds its own
//! scorer over the same weight (so the same BM25 statistics and scores), seeks to its first
//! document and stops at its last; the collector's per-segment fruits merge as if they came from
//! two segments. The merge orders hits by score, then by doc address, so the page, the total and
//! the facet counts are the ones a single pass gives (tests compare the two).
//!
//! Splitting costs a hand-over to the helper thread and a second scorer, and buys nothing when
//! every core already has a search: it is done only while this search is the only one running in
//! the process, and only for segments of at least [`MIN_SPLIT_DOCS`] documents in which the
//! query's terms hold at least [`MIN_SPLIT_POSTINGS`] postings. At 1M records this took one
//! user's 2-4 word searches from a p50 of 1.5-1.8 ms to 1.1 ms and their p99 from 8.0-8.6 to 4.8 ms,
//! with no change at 32 concurrent clients (benches/RESULTS.md, 2026-12-06).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::fastfield::AliveBitSet;
use tantivy::query::{EnableScoring, Query, Scorer, Weight};
use tantivy::{DocId, Searcher, SegmentReader, TantivyError, TERMINATED};

/// When a search may split, and how much work a segment must hold to be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Split {
    /// Never: one pass per segment, as `Searcher::search`.
    Never,
    /// When this search is the only one running and a segment's work is worth a second thread
    /// ([`MIN_SPLIT_DOCS`], [`MIN_SPLIT_POSTINGS`]).
    #[default]
    WhenAlone,
    /// Every segment of two documents or more, whatever else runs (for tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Always,
}

/// Segments smaller than this are searched in one pass: the halves would save less than the
/// handing over costs.
pub(crate) const MIN_SPLIT_DOCS: u32 = 50_000;

/// Nor is a segment in which the query's terms have fewer postings than this (about 0.1 ms of
/// matching on this project's 2-core benchmark machine). Counting them looks each term up in the
/// segment's dictionary again (the weight did once for its statistics): a few microseconds, paid
/// only by a search that is alone, on a segment large enough to split.
pub(crate) const MIN_SPLIT_POSTINGS: u64 = 20_000;

/// Segments searched as two halves since the process started.
static SPLITS: AtomicU64 = AtomicU64::new(0);

/// Segments searched as two halves since the process started.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn splits() -> u64 {
    SPLITS.load(Ordering::Relaxed)
}

/// Searches running in this process now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Marks a search as running for as long as it lives.
pub(crate) struct Running(());

impl Running {
    /// Registers a search until the guard is dropped.
    pub(crate) fn start() -> Running {
        RUNNING.fetch_add(1, Ordering::AcqRel);
        Running(())
    }

    /// Whether this search is the only one running in the process, on a machine of two cores
    /// or more.
    pub(crate) fn alone(&self) -> bool {
        RUNNING.load(Ordering::Acquire) == 1 && cores() >= 2
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The helper thread that searches second halves, started on first use (or by
/// [`start_helper`]) at the priority of the thread that starts it; `None` if no thread could be
/// started, and then searches run in one pass.
fn helper() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "search-half".into())
            .build()
            .map_err(|e| tracing::warn!("no helper thread for split searches: {e}"))
            .ok()
    })
    .as_ref()
}

/// Starts the helper thread now, from the calling thread: it takes that thread's CPU priority
/// (Linux threads inherit their creator's nice value), so a server calls this from one of its
/// search threads.
pub fn start_helper() {
    helper();
}

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `searcher.search(query, collector)`, with large segments searched as two halves in parallel
/// as `split` allows (`running` is this search's registration).
pub(crate) fn search<C: Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    collector: &C,
    split: Split,
    running: &Running,
) -> tantivy::Result<C::Fruit> {
    if !may_split(split, running) || !collector.requires_scoring() {
        return searcher.search(query, collector);
    }
    let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
    let weight = &*weight;
    let mut fruits = Vec::with_capacity(searcher.segment_readers().len() + 1);
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as u32;
        let Some(helper) = helper_for(split, running, reader, || postings(query, reader)) else {
            fruits.push(collector.collect_segment(weight, ord, reader)?);
            continue;
        };
        let mid = reader.max_doc() / 2;
        // The second half on the helper thread, the first on this one.
        let mut second = Err(TantivyError::InternalError(
            "the second half of a split search did not run".into(),
        ));
        let first = helper.in_place_scope(|s| {
            s.spawn(|_| second = collect_range(collector, weight, ord, reader, mid, TERMINATED));
            collect_range(collector, weight, ord, reader, 0, mid)
        });
        fruits.push(first?);
        fruits.push(second?);
    }
    collector.merge_fruits(fruits)
}

/// Whether `split` lets this search split any segment now.
fn may_split(split: Split, running: &Running) -> bool {
    match split {
        Split::Never => false,
        Split::WhenAlone => running.alone(),
        Split::Always => true,
    }
}

/// The thread to search the second half of `reader` on, if `split` lets this search split it
/// now (`postings`: the work a pass over the segment would do, asked only when the segment is
/// large enough); counts the split.
pub(crate) fn helper_for(
    split: Split,
    running: &Running,
    reader: &SegmentReader,
    postings: impl FnOnce() -> u64,
) -> Option<&'static rayon::ThreadPool> {
    if !may_split(split, running) {
        return None;
    }
    let (min_docs, min_postings) = match split {
        Split::Always => (2, 0),
        _ => (MIN_SPLIT_DOCS, MIN_SPLIT_POSTINGS),
    };
    if reader.max_doc() < min_docs || postings() < min_postings {
        return None;
    }
    let helper = helper()?;
    SPLITS.fetch_add(1, Ordering::Relaxed);
    Some(helper)
}

/// The postings of the query's terms in the segment, the work a pass over it will do; a query
/// of no terms (every record, or filters alone) may visit every document.
fn postings(query: &dyn Query, reader: &SegmentReader) -> u64 {
    let mut terms = 0;
    let mut total = 0u64;
    query.query_terms(&mut |term, _| {
        terms += 1;
        if let Ok(index) = reader.inverted_index(term.field()) {
            total += u64::from(index.doc_freq(term).unwrap_or(0));
        }
    });
    if terms == 0 {
        u64::from(reader.max_doc())
    } else {
        total
    }
}

/// The collector's fruit for the live documents of `reader` in `from..to` that match `weight`.
fn collect_range<C: Collector>(
    collector: &C,
    weight: &dyn Weight,
    ord: u32,
    reader: &SegmentReader,
    from: DocId,
    to: DocId,
) -> tantivy::Result<<C::Child as SegmentCollector>::Fruit> {
    let mut child = collector.for_segment(ord, reader)?;
    let mut scorer = weight.scorer(reader, 1.0)?;
    let alive = reader.alive_bitset();
    collect_docs(scorer.as_mut(), from, to, alive, &mut child);
    Ok(child.harvest())
}

fn collect_docs<T: SegmentCollector>(
    scorer: &mut dyn Scorer,
    from: DocId,
    to: DocId,
    alive: Option<&AliveBitSet>,
    child: &mut T,
) {
    let mut doc = scorer.doc();
    if doc < from {
        doc = scorer.seek(from);
    }
    match alive {
        Some(alive) => {
            while doc < to {
                if alive.is_alive(doc) {
                    child.collect(doc, scorer.score());
                }
                doc = scorer.advance();
            }
        }
        None => {
            while doc < to {
                child.collect(doc, scorer.score());
                doc = scorer.advance();
            }
        }
    }
}

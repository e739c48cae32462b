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
//!
//! The second half goes to the one helper thread of [`crate::handoff`], which a search wakes as
//! it starts (so that the helper is ready when the matching begins, rather than tens of
//! microseconds after) and tells to stop spinning ([`relax`]) when it will not split after all.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::fastfield::AliveBitSet;
use tantivy::query::{EnableScoring, Query, Scorer, Weight};
use tantivy::{DocId, Searcher, SegmentReader, TantivyError, TERMINATED};

use crate::handoff::Handoff;

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

/// Starts the helper thread now, from the calling thread: it takes that thread's CPU priority
/// (Linux threads inherit their creator's nice value), so a server calls this from one of its
/// search threads.
pub fn start_helper() {
    Handoff::get();
}

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `searcher.search(query, collector)`, with large segments searched as two halves in parallel
/// as `split` allows (`running` is this search's registration).
pub(crate) fn search<C: Collector + 'static>(
    searcher: &Searcher,
    query: &dyn Query,
    collector: Arc<C>,
    split: Split,
    running: &Running,
) -> tantivy::Result<C::Fruit> {
    if !may_split(split, running) || !collector.requires_scoring() {
        relax();
        return searcher.search(query, &*collector);
    }
    let weight: Arc<dyn Weight> =
        Arc::from(query.weight(EnableScoring::enabled_from_searcher(searcher))?);
    let mut fruits = Vec::with_capacity(searcher.segment_readers().len() + 1);
    let readers = searcher.segment_readers();
    // Decided once per segment: counting a segment's postings looks its terms up.
    let splits: Vec<bool> = readers
        .iter()
        .map(|r| may_split_segment(split, running, r, || postings(query, r)))
        .collect();
    let handoff = splits.contains(&true).then(Handoff::get).flatten();
    if handoff.is_none() {
        relax();
    }
    for (ord, reader) in readers.iter().enumerate() {
        let handoff = handoff.filter(|_| splits[ord]);
        let ord = ord as u32;
        let Some(handoff) = handoff else {
            fruits.push(collector.collect_segment(&*weight, ord, reader)?);
            continue;
        };
        count_split();
        let mid = reader.max_doc() / 2;
        // The second half on the helper thread, the first on this one.
        let second = {
            let (collector, weight, reader) =
                (Arc::clone(&collector), Arc::clone(&weight), reader.clone());
            handoff.run(move || collect_range(&*collector, &*weight, ord, &reader, mid, TERMINATED))
        };
        let first = collect_range(&*collector, &*weight, ord, reader, 0, mid);
        let second = second.wait().unwrap_or_else(|| {
            Err(TantivyError::InternalError(
                "the second half of a split search failed".into(),
            ))
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

/// Whether `split` lets this search split `reader` now (`postings`: the work a pass over the
/// segment would do, asked only when the segment is large enough).
pub(crate) fn may_split_segment(
    split: Split,
    running: &Running,
    reader: &SegmentReader,
    postings: impl FnOnce() -> u64,
) -> bool {
    if !may_split(split, running) {
        return false;
    }
    let (min_docs, min_postings) = match split {
        Split::Always => (2, 0),
        _ => (MIN_SPLIT_DOCS, MIN_SPLIT_POSTINGS),
    };
    reader.max_doc() >= min_docs && postings() >= min_postings
}

/// Counts a segment searched as two halves.
pub(crate) fn count_split() {
    SPLITS.fetch_add(1, Ordering::Relaxed);
}

/// Wakes the thread that takes the second half of a split word search, if this search may split
/// one of `searcher`'s segments: it wakes while the query is analysed and planned, and is
/// checking for work by the time the matching hands it a half ([`crate::handoff`]).
pub(crate) fn wake_for(split: Split, running: &Running, searcher: &Searcher) {
    let large = |r: &SegmentReader| match split {
        Split::Always => r.max_doc() >= 2,
        _ => r.max_doc() >= MIN_SPLIT_DOCS,
    };
    if may_split(split, running) && searcher.segment_readers().iter().any(large) {
        if let Some(handoff) = Handoff::get() {
            handoff.wake();
        }
    }
}

/// The helper thread to read part of a search's page of records on, if this search may: one
/// that is alone, while the helper still checks for work after the search's half (handing
/// over then costs microseconds rather than a wake-up), or always under [`Split::Always`].
pub(crate) fn helper_for_reads(split: Split, running: &Running) -> Option<&'static Handoff> {
    match split {
        Split::Never => None,
        Split::WhenAlone => Handoff::started().filter(|h| running.alone() && h.awake()),
        Split::Always => Handoff::get(),
    }
}

/// Pages whose records were read on both threads since the process started.
static SHARED_READS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count_shared_read() {
    SHARED_READS.fetch_add(1, Ordering::Relaxed);
}

/// Pages whose records were read on both threads since the process started.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn shared_reads() -> u64 {
    SHARED_READS.load(Ordering::Relaxed)
}

/// Lets the helper woken by [`wake_for`] stop spinning (it dozes): this search will not split.
pub(crate) fn relax() {
    if let Some(handoff) = Handoff::started() {
        handoff.relax();
    }
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

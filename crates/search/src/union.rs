//! A search of plain words, matched without scoring every match: MaxScore over windows of
//! 4,096 doc ids, in the same pass that counts every match, applies the filters and tallies the
//! facets.
//!
//! A search of a few words over the default fields is a union of 8-16 `(field, word)` terms,
//! ranked by the sum of their BM25 scores times the record's prior, with the page, an exact
//! total and the facets of every match. tantivy's union scores every document it visits, and
//! the collector then weighs every score against the page. Here the terms are sorted by the
//! largest score each can give; once the page is full, the terms whose maxima together cannot
//! lift a record (at the largest prior in the window) above the last record on the page are
//! "non-essential": their documents are only counted (a bit in the window), and scored only when
//! an essential term also matched them. Only documents matched by an essential term are
//! candidates for the page, and a candidate whose text score cannot reach the page at the
//! window's largest prior is dropped before its prior is read (Turtle and Flood's MaxScore, in
//! the windowed form Lucene 10 uses). The two halves of a split segment each keep their own
//! page but prune against the higher of their two bars ([`SharedBar`]), and a segment starts
//! from the bar of the page the segments before it filled. Filters are bitsets of the documents
//! they let through, kept per segment and filter ([`filter_bits`]), and'ed into each window's
//! matches.
//!
//! The page, the total and the facets are those of the exhaustive pass, with one difference by
//! design: a record's text score is the sum of its terms' scores added in `f64` and rounded once
//! to `f32`, where tantivy adds them in `f32` in whatever order its scorers are in, so the two
//! can differ in the last bit. The terms are always added in the same order (by bound, largest
//! first: essential terms are read before the others, and each group largest first), so the sum
//! does not depend on which terms were essential: pruning and splitting never change a score.
//! A test compares every page with an unpruned pass of the same code and with tantivy's
//! (`index::tests::word_searches_skip_scores_but_answer_as_tantivy`).
//!
//! At 1M records, one core, 2-4 word searches took a mean of 1.55 ms against 2.10 through
//! tantivy, question-length ones 6.7 ms against 10.7, and filtered ones 1.4 ms against 6.9
//! (benches/RESULTS.md, 2026-12-06).

use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::fieldnorm::FieldNormReader;
use tantivy::index::SegmentId;
use tantivy::postings::BlockSegmentPostings;
use tantivy::postings::TermInfo;
use tantivy::query::{Bm25StatisticsProvider, Bm25Weight, EnableScoring, Query};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocId, Searcher, SegmentReader, TantivyError, Term, TERMINATED};

use crate::facets::{Counts, FacetCollector, FacetSegment, Facets};
use crate::handoff::Handoff;
use crate::split::{self, Running, Split};

/// Doc ids per window: each window's matches are marked in a bitset of this many bits and its
/// candidates' scores summed in an array of this many slots.
pub(crate) const WINDOW: u32 = 4096;
const WORDS: usize = (WINDOW / 64) as usize;

/// Searches matched here since the process started.
static SEARCHES: AtomicU64 = AtomicU64::new(0);

/// Searches matched here since the process started.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn searches() -> u64 {
    SEARCHES.load(Ordering::Relaxed)
}

/// Upper bounds are raised by this factor, so that no rounding can prune a record that would
/// have reached the page.
const MARGIN: f64 = 1.0 + 1e-4;

/// The terms of a word search with their BM25 weights (the collection's statistics, times the
/// term's boost: the weights tantivy's `TermQuery` would use).
pub(crate) struct Plan {
    terms: Vec<PlanTerm>,
    /// The segments the terms were looked up in, in the searcher's order.
    segments: Vec<SegmentId>,
}

struct PlanTerm {
    term: Term,
    weight: Bm25Weight,
    /// The term's postings in each of `segments` (`None` where it does not occur).
    infos: Vec<Option<TermInfo>>,
}

impl Plan {
    /// A plan for a union of `terms` (term, boost), or `None` if one of its fields does not
    /// record term frequencies (then the query is matched by tantivy).
    pub(crate) fn new(
        searcher: &Searcher,
        terms: Vec<(Term, f32)>,
    ) -> tantivy::Result<Option<Plan>> {
        let schema = searcher.schema();
        let readers = searcher.segment_readers();
        // The statistics tantivy's `Bm25Weight::for_terms` reads, each term looked up once per
        // segment (its postings are opened from the same lookup) and without the explanation
        // tantivy builds for every weight.
        let total_docs = searcher.total_num_docs()?;
        let mut tokens: Vec<(Field, u64)> = Vec::new();
        let mut out = Vec::with_capacity(terms.len());
        for (term, boost) in terms {
            let field = term.field();
            let freqs = schema
                .get_field_entry(field)
                .field_type()
                .get_index_record_option()
                .is_some_and(|o| o.has_freq());
            if !freqs {
                return Ok(None);
            }
            let total_tokens = match tokens.iter().find(|(f, _)| *f == field) {
                Some(&(_, n)) => n,
                None => {
                    let n = searcher.total_num_tokens(field)?;
                    tokens.push((field, n));
                    n
                }
            };
            let mut infos = Vec::with_capacity(readers.len());
            let mut doc_freq = 0u64;
            for reader in readers {
                let info = reader.inverted_index(field)?.get_term_info(&term)?;
                doc_freq += info.as_ref().map_or(0, |i| u64::from(i.doc_freq));
                infos.push(info);
            }
            let average = total_tokens as f32 / total_docs as f32;
            let weight = Bm25Weight::for_one_term_without_explain(doc_freq, total_docs, average)
                .boost_by(boost);
            out.push(PlanTerm {
                term,
                weight,
                infos,
            });
        }
        Ok(Some(Plan {
            terms: out,
            segments: readers.iter().map(|r| r.segment_id()).collect(),
        }))
    }

    /// Whether [`search`] will split one of `searcher`'s segments (the one the plan was made
    /// with) into halves.
    pub(crate) fn splits(&self, searcher: &Searcher, split: Split, running: &Running) -> bool {
        searcher
            .segment_readers()
            .iter()
            .enumerate()
            .any(|(ord, reader)| {
                split::may_split_segment(split, running, reader, || {
                    self.terms
                        .iter()
                        .filter_map(|t| t.infos.get(ord).cloned().flatten())
                        .map(|i| u64::from(i.doc_freq))
                        .sum()
                })
            })
    }
}

/// The largest prior in each window of a segment's prior table (windows aligned on multiples
/// of [`WINDOW`]).
pub(crate) fn window_bounds(priors: &[f32]) -> Arc<[f32]> {
    priors
        .chunks(WINDOW as usize)
        .map(|w| w.iter().copied().fold(0.0f32, f32::max))
        .collect()
}

/// The documents of one segment a filter lets through, one bit per doc id.
pub(crate) type FilterBits = Arc<[u64]>;

/// The documents of `reader` that `filter` matches (deleted ones included).
pub(crate) fn filter_bits(
    filter: &dyn Query,
    searcher: &Searcher,
    reader: &SegmentReader,
) -> tantivy::Result<FilterBits> {
    let weight = filter.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut bits = vec![0u64; (reader.max_doc() as usize).div_ceil(64)];
    weight.for_each_no_score(reader, &mut |docs| {
        for &doc in docs {
            if let Some(word) = bits.get_mut((doc / 64) as usize) {
                *word |= 1 << (doc % 64);
            }
        }
    })?;
    Ok(bits.into())
}

/// What a search of plain words gives: the page (score and address, best first, as tantivy's
/// `TopDocs` cuts it), the number of matches and, when asked, their facets.
pub(crate) type Answer = (Vec<(f64, DocAddress)>, usize, Option<Facets>);

/// Matches `plan` in every segment of `searcher`: the records ranked `offset..offset + limit`
/// by text score times prior (`priors`, with `bounds` from [`window_bounds`]), ties in doc
/// address order as tantivy's `TopDocs` breaks them, every match counted, and the facets
/// tallied when `facets` is given. A large segment is split into two halves of its doc ids as
/// [`split::search`] would. `prune: false` scores every match (for tests).
#[allow(clippy::too_many_arguments)]
pub(crate) fn search(
    searcher: &Searcher,
    plan: &Plan,
    limit: usize,
    offset: usize,
    facets: Option<&FacetCollector>,
    priors: &HashMap<SegmentId, Arc<[f32]>>,
    bounds: &HashMap<SegmentId, Arc<[f32]>>,
    filters: &HashMap<SegmentId, Vec<FilterBits>>,
    split: Split,
    running: &Running,
    prune: bool,
) -> tantivy::Result<Answer> {
    SEARCHES.fetch_add(1, Ordering::Relaxed);
    if !plan.splits(searcher, split, running) {
        // The helper woken as the search started may sleep again.
        split::relax();
    }
    let k = limit + offset;
    let mut page: Vec<(f64, DocAddress)> = Vec::new();
    let mut counts: Vec<Counts> = Vec::new();
    let mut total = 0usize;
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as u32;
        // The page's bar so far (the segments before this one fill it first): a record of this
        // segment below it cannot reach the page. The halves of a split raise it as they go.
        keep_best(&mut page, k);
        let shared = SharedBar::new(match page.get(k.wrapping_sub(1)) {
            Some(last) if prune && page.len() >= k => last.0,
            _ => f64::NEG_INFINITY,
        });
        let seg = reader.segment_id();
        // Owned (the tables shared by `Arc`), so that the helper thread can take a half.
        let data = Arc::new(RangeData {
            lists: SegmentLists::open(plan, reader, ord as usize)?,
            reader: reader.clone(),
            k,
            priors: priors.get(&seg).cloned(),
            bounds: bounds.get(&seg).cloned(),
            filters: filters.get(&seg).cloned().unwrap_or_default(),
            prune,
            shared,
        });
        let max_doc = reader.max_doc();
        let mut halves = Vec::with_capacity(2);
        let handoff = split::may_split_segment(split, running, reader, || data.lists.postings())
            .then(Handoff::get)
            .flatten();
        match handoff {
            Some(handoff) => {
                split::count_split();
                let mid = max_doc / 2;
                let second = {
                    let data = Arc::clone(&data);
                    let facets = facets.cloned();
                    handoff.run(move || data.range().run(mid, max_doc, facets.as_ref(), ord))
                };
                let first = data.range().run(0, mid, facets, ord);
                let second = second.wait().unwrap_or_else(|| {
                    Err(TantivyError::InternalError(
                        "the second half of a split search failed".into(),
                    ))
                });
                halves.push(first?);
                halves.push(second?);
            }
            None => halves.push(data.range().run(0, max_doc, facets, ord)?),
        }
        for half in halves {
            total += half.count;
            page.extend(
                half.top
                    .into_iter()
                    .map(|e| (e.score, DocAddress::new(ord, e.doc))),
            );
            counts.extend(half.facets);
        }
    }
    keep_best(&mut page, k);
    let page = page.split_off(offset.min(page.len()));
    let facets = match facets {
        Some(f) => Some(f.merge_fruits(counts)?),
        None => None,
    };
    Ok((page, total, facets))
}

/// Keeps the best `k` of `page`, best first (ties in doc address order, as `TopDocs`).
fn keep_best(page: &mut Vec<(f64, DocAddress)>, k: usize) {
    page.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    page.truncate(k);
}

/// The segment's postings of each term of a plan that occurs in it, with its weight and the
/// field's lengths.
struct SegmentLists {
    lists: Vec<SegmentList>,
}

struct SegmentList {
    info: TermInfo,
    index: Arc<tantivy::InvertedIndexReader>,
    weight: Bm25Weight,
    norms: FieldNormReader,
    /// An upper bound of the term's score in any record (times [`MARGIN`]).
    max: f64,
}

impl SegmentLists {
    /// The lists of `reader`, the segment `ord` of the searcher the plan was made with.
    fn open(plan: &Plan, reader: &SegmentReader, ord: usize) -> tantivy::Result<Self> {
        let planned = plan.segments.get(ord) == Some(&reader.segment_id());
        let mut lists = Vec::with_capacity(plan.terms.len());
        for PlanTerm {
            term,
            weight,
            infos,
        } in &plan.terms
        {
            let index = reader.inverted_index(term.field())?;
            let info = match infos.get(ord) {
                Some(info) if planned => info.clone(),
                _ => index.get_term_info(term)?,
            };
            let Some(info) = info else {
                continue;
            };
            let norms = reader
                .fieldnorms_readers()
                .get_field(term.field())?
                .unwrap_or_else(|| FieldNormReader::constant(reader.max_doc(), 1));
            // BM25's term-frequency factor tf / (tf + norm) is below 1 and largest for the
            // shortest field (fieldnorm id 0) and the largest frequency.
            let max = f64::from(weight.score(0, u32::MAX)) * MARGIN;
            lists.push(SegmentList {
                info,
                index,
                weight: weight.clone(),
                norms,
                max,
            });
        }
        // Smallest bound first: the terms that become non-essential first.
        lists.sort_by(|a, b| a.max.total_cmp(&b.max));
        Ok(SegmentLists { lists })
    }

    fn postings(&self) -> u64 {
        self.lists.iter().map(|l| u64::from(l.info.doc_freq)).sum()
    }
}

/// One term's postings being read, block by block.
struct Cursor<'a> {
    list: &'a SegmentList,
    postings: BlockSegmentPostings,
    /// Index of the next document in the loaded block.
    pos: usize,
}

impl Cursor<'_> {
    /// The next document, or `TERMINATED`.
    fn doc(&self) -> DocId {
        self.postings
            .docs()
            .get(self.pos)
            .copied()
            .unwrap_or(TERMINATED)
    }

    /// Moves past the block if it is used up.
    fn settle(&mut self) {
        while self.pos >= self.postings.block_len() && self.postings.block_len() > 0 {
            self.postings.advance();
            self.pos = 0;
        }
    }
}

/// An entry of a best-`k` heap; the heap's greatest entry is the one to leave first: the lowest
/// score, and of equal scores the highest doc (the order of tantivy's `TopDocs`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ranked<D> {
    pub(crate) score: f64,
    pub(crate) doc: D,
}

type Entry = Ranked<DocId>;

impl<D: Ord> PartialEq for Ranked<D> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl<D: Ord> Eq for Ranked<D> {}
impl<D: Ord> PartialOrd for Ranked<D> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<D: Ord> Ord for Ranked<D> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.doc.cmp(&other.doc))
    }
}

/// What a search of one segment's doc-id ranges reads, owned so that the helper thread can
/// search one of them.
struct RangeData {
    lists: SegmentLists,
    reader: SegmentReader,
    k: usize,
    priors: Option<Arc<[f32]>>,
    bounds: Option<Arc<[f32]>>,
    filters: Vec<FilterBits>,
    prune: bool,
    shared: SharedBar,
}

impl RangeData {
    fn range(&self) -> Range<'_> {
        Range {
            lists: &self.lists,
            reader: &self.reader,
            k: self.k,
            priors: self.priors.as_deref(),
            bounds: self.bounds.as_deref(),
            filters: &self.filters,
            prune: self.prune,
            shared: &self.shared,
        }
    }
}

/// The segment-wide part of a search over a doc-id range.
struct Range<'a> {
    lists: &'a SegmentLists,
    reader: &'a SegmentReader,
    k: usize,
    priors: Option<&'a [f32]>,
    bounds: Option<&'a [f32]>,
    /// The filters' documents: a match counts only if every filter lets it through.
    filters: &'a [FilterBits],
    prune: bool,
    /// The best bar any part of the search has reached.
    shared: &'a SharedBar,
}

/// A page's bar shared by the parts of a search (the halves of a split segment, and the
/// segments after one another): the highest score that some part holds `k` records at or
/// above. A record strictly below it cannot reach the page; one at it may (it can win the tie
/// on its doc address), and is kept, as the pruning keeps records at its own bar. It only rises.
struct SharedBar(AtomicU64);

impl SharedBar {
    fn new(bar: f64) -> SharedBar {
        SharedBar(AtomicU64::new(ordered(bar)))
    }

    fn get(&self) -> f64 {
        unordered(self.0.load(Ordering::Relaxed))
    }

    fn raise(&self, bar: f64) {
        if !bar.is_nan() {
            self.0.fetch_max(ordered(bar), Ordering::Relaxed);
        }
    }
}

/// `x`'s bits, mapped so that they order as the numbers do (negative ones included).
fn ordered(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The inverse of [`ordered`].
fn unordered(bits: u64) -> f64 {
    f64::from_bits(if bits >> 63 == 1 {
        bits & !(1 << 63)
    } else {
        !bits
    })
}

/// A range's best records, its number of matches and their facets.
struct RangeAnswer {
    top: Vec<Entry>,
    count: usize,
    facets: Option<Counts>,
}

/// Per-window scratch space.
struct Window {
    matched: [u64; WORDS],
    candidate: [u64; WORDS],
    sums: Box<[f64; WINDOW as usize]>,
    /// The window's live matches, when their facets are tallied.
    live: Vec<DocId>,
}

impl Range<'_> {
    fn run(
        &self,
        from: DocId,
        to: DocId,
        facets: Option<&FacetCollector>,
        ord: u32,
    ) -> tantivy::Result<RangeAnswer> {
        let mut tally: Option<FacetSegment> = match facets {
            Some(f) => Some(f.for_segment(ord, self.reader)?),
            None => None,
        };
        let mut cursors = Vec::with_capacity(self.lists.lists.len());
        for list in &self.lists.lists {
            let mut postings = list
                .index
                .read_block_postings_from_terminfo(&list.info, IndexRecordOption::WithFreqs)?;
            postings.seek(from);
            let pos = postings.docs().partition_point(|&d| d < from);
            let mut c = Cursor {
                list,
                postings,
                pos,
            };
            c.settle();
            cursors.push(c);
        }
        // prefix[i]: the most the terms 0..=i can add to a record's text score.
        let prefix: Vec<f64> = cursors
            .iter()
            .scan(0.0, |acc, c| {
                *acc += c.list.max;
                Some(*acc)
            })
            .collect();
        let alive = self.reader.alive_bitset();
        let mut heap: BinaryHeap<Entry> = BinaryHeap::with_capacity(self.k + 1);
        let mut w = Window {
            matched: [0; WORDS],
            candidate: [0; WORDS],
            sums: Box::new([0.0; WINDOW as usize]),
            live: Vec::new(),
        };
        let mut count = 0usize;
        loop {
            let next = cursors.iter().map(Cursor::doc).min().unwrap_or(TERMINATED);
            if next >= to {
                break;
            }
            let start = next - next % WINDOW;
            let end = start.saturating_add(WINDOW).min(to);
            // The page's bar and the most a record in this window can be lifted by its prior.
            // The bar some other part of the search has reached, if higher.
            let shared = if self.prune {
                self.shared.get()
            } else {
                f64::NEG_INFINITY
            };
            let theta = self.bar(&heap).max(shared);
            // A record without a prior table scores with a prior of 1; a window without a
            // bound is not pruned.
            let lift = match (self.priors, self.bounds) {
                (Some(_), Some(b)) => b
                    .get((start / WINDOW) as usize)
                    .copied()
                    .unwrap_or(f32::INFINITY),
                (Some(_), None) => f32::INFINITY,
                (None, _) => 1.0,
            };
            let lift = f64::from(lift);
            // Terms 0..essential cannot lift a record to the bar on their own: a record only
            // they match is counted, not scored.
            let essential = prefix.iter().take_while(|&&p| p * lift < theta).count();
            for c in cursors[essential..].iter_mut().rev() {
                scan(c, start, end, &mut w, Role::Essential);
            }
            for c in cursors[..essential].iter_mut().rev() {
                scan(c, start, end, &mut w, Role::NonEssential);
            }
            let before = self.bar(&heap);
            count += self.harvest(
                start,
                &mut w,
                lift,
                shared,
                alive,
                tally.as_mut(),
                &mut heap,
            );
            let after = self.bar(&heap);
            if after > before && after > shared {
                self.shared.raise(after);
            }
        }
        let mut top = heap.into_vec();
        top.sort();
        Ok(RangeAnswer {
            top,
            count,
            facets: tally.map(|t| t.harvest()),
        })
    }

    /// The score a record must beat to reach the page: the last one's once the page is full
    /// (and pruning is on), else minus infinity.
    fn bar(&self, heap: &BinaryHeap<Entry>) -> f64 {
        match heap.peek() {
            Some(last) if self.prune && heap.len() >= self.k => last.score,
            _ => f64::NEG_INFINITY,
        }
    }

    /// Counts the window's live matches, tallies their facets, offers its candidates to the
    /// page, and clears the window (`lift`: the largest prior in it; `shared`: the bar another
    /// part of the search had reached when the window began).
    #[allow(clippy::too_many_arguments)]
    fn harvest(
        &self,
        start: DocId,
        w: &mut Window,
        lift: f64,
        shared: f64,
        alive: Option<&tantivy::fastfield::AliveBitSet>,
        tally: Option<&mut FacetSegment>,
        heap: &mut BinaryHeap<Entry>,
    ) -> usize {
        let mut count = 0;
        // The text score a candidate must reach to be lifted to the page's bar by the window's
        // largest prior (with the margin), kept in step with the page. With no bar yet and no
        // bound for the window (minus infinity over infinity) it is NaN, which prunes nothing.
        let mut cut = self.bar(heap).max(shared) / (lift * MARGIN);
        for word in 0..WORDS {
            let matched = std::mem::take(&mut w.matched[word]);
            let candidates = std::mem::take(&mut w.candidate[word]);
            if matched == 0 {
                continue;
            }
            let base = start + (word as u32) * 64;
            let mut live = matched;
            for f in self.filters {
                live &= f.get((base / 64) as usize).copied().unwrap_or(0);
            }
            if let Some(alive) = alive {
                let mut m = live;
                while m != 0 {
                    let bit = m.trailing_zeros();
                    m &= m - 1;
                    if !alive.is_alive(base + bit) {
                        live &= !(1 << bit);
                    }
                }
            }
            count += live.count_ones() as usize;
            if tally.is_some() {
                let mut m = live;
                while m != 0 {
                    w.live.push(base + m.trailing_zeros());
                    m &= m - 1;
                }
            }
            let mut m = candidates & live;
            while m != 0 {
                let doc = base + m.trailing_zeros();
                m &= m - 1;
                let text = w.sums[(doc - start) as usize] as f32;
                if f64::from(text) < cut {
                    // Below the page whatever its prior: its prior need not be read.
                    continue;
                }
                let prior = self
                    .priors
                    .and_then(|p| p.get(doc as usize))
                    .copied()
                    .unwrap_or(1.0);
                let entry = Entry {
                    score: f64::from(text * prior),
                    doc,
                };
                if heap.len() < self.k {
                    heap.push(entry);
                } else if heap.peek().is_some_and(|last| entry < *last) {
                    heap.pop();
                    heap.push(entry);
                } else {
                    continue;
                }
                cut = self.bar(heap).max(shared) / (lift * MARGIN);
            }
        }
        if let Some(t) = tally {
            t.collect_block(&w.live);
            w.live.clear();
        }
        count
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Its documents are candidates for the page: scored.
    Essential,
    /// Its documents are counted, and scored only if an essential term matched them.
    NonEssential,
}

/// Reads one term's documents in `start..end`: marks them matched and adds their scores as
/// `role` says (an essential term's documents all become candidates; a non-essential term's are
/// scored only if they are candidates).
fn scan(c: &mut Cursor, start: DocId, end: DocId, w: &mut Window, role: Role) {
    let list = c.list;
    loop {
        let docs = c.postings.docs();
        let len = docs.len();
        if len == 0 {
            return;
        }
        let freqs = c.postings.freqs();
        let mut i = c.pos;
        while i < len {
            let doc = docs[i];
            if doc >= end {
                c.pos = i;
                return;
            }
            let slot = (doc - start) as usize;
            let (word, bit) = (slot / 64, 1u64 << (slot % 64));
            w.matched[word] |= bit;
            let seen = w.candidate[word] & bit != 0;
            if role == Role::Essential || seen {
                let score = f64::from(list.weight.score(list.norms.fieldnorm_id(doc), freqs[i]));
                if seen {
                    w.sums[slot] += score;
                } else {
                    w.sums[slot] = score;
                    w.candidate[word] |= bit;
                }
            }
            i += 1;
        }
        c.postings.advance();
        c.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn shared_bars_order_as_scores(a in any::<f64>(), b in any::<f64>()) {
            prop_assume!(!a.is_nan() && !b.is_nan());
            prop_assert_eq!(unordered(ordered(a)).to_bits(), a.to_bits());
            if a < b {
                prop_assert!(ordered(a) < ordered(b));
            }
            let bar = SharedBar::new(a);
            bar.raise(b);
            bar.raise(f64::NAN);
            prop_assert_eq!(bar.get(), a.max(b));
        }
    }

    #[test]
    fn a_shared_bar_starts_below_every_score() {
        let bar = SharedBar::new(f64::NEG_INFINITY);
        assert_eq!(bar.get(), f64::NEG_INFINITY);
        bar.raise(-3.5);
        assert_eq!(bar.get(), -3.5);
        bar.raise(-7.0);
        assert_eq!(bar.get(), -3.5);
        bar.raise(0.25);
        assert_eq!(bar.get(), 0.25);
    }
}

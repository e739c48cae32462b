//! The search index: open or create, add records, search with filters, facets, snippets and
//! explanations, and look records up by id.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::{Audience, EvidenceLevel, Record};
use rayon::prelude::*;
use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, SegmentReader,
    TantivyDocument, Term,
};

use crate::analysis::Thesaurus;
use crate::facets::{FacetCollector, Facets};
use crate::query::{compile_with, Interpreted};
use crate::schema::{audience_ord, build_schema, evidence_ord, to_document, Fields};
use crate::snippet::Highlighter;
use crate::split::{self, Split};
use crate::suggest::Suggester;
use crate::{RankingParams, SearchError};

/// The deepest result a search may reach (`offset + limit`).
pub const MAX_RESULT_WINDOW: usize = 10_000;

/// How many of the best-ranked records of a relevance search get the proximity bonus. The order
/// is: these records re-ranked with the bonus, then every other match by its score without it;
/// the same on every page, since the window does not depend on the page asked for. Testing word
/// positions in every match was 45% of a 2-4 word search at 1M records. 20 rather than 100
/// (benches/RELEVANCE.md row 42): nDCG@10 0.3056 against 0.3064, recall@100 and MRR@10 the same,
/// and the page's bar is the 20th best record rather than the 100th, which prunes more: at 1M
/// records a 2-4 word search's p50 went from 0.65 to 0.55 ms and its p99 from 2.75 to 2.08.
pub const PROXIMITY_WINDOW: usize = 20;

/// Filters applied to a search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Any of these evidence levels (empty = any).
    pub evidence_levels: Vec<EvidenceLevel>,
    /// Published in or after this year.
    pub year_from: Option<u16>,
    /// Published in or before this year.
    pub year_to: Option<u16>,
    /// Any of these sources (empty = any).
    pub sources: Vec<String>,
    /// This audience only.
    pub audience: Option<Audience>,
    /// Open access only (`Some(true)`), or closed only (`Some(false)`).
    pub open_access: Option<bool>,
    /// Reading grade at most this (Flesch-Kincaid), for plain-language material.
    pub max_reading_grade: Option<f32>,
}

/// Result order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// By the ranking model.
    #[default]
    Relevance,
    /// Newest first, relevance breaking ties.
    Date,
}

/// A search to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The query, in the engine's query language.
    pub q: String,
    /// Filters.
    pub filters: Filters,
    /// Order.
    pub sort: Sort,
    /// Hits to skip.
    pub offset: usize,
    /// Hits to return.
    pub limit: usize,
    /// Whether to compute facet counts.
    pub facets: bool,
    /// Whether to highlight titles and build snippets.
    pub highlight: bool,
    /// Whether to explain each hit's score.
    pub explain: bool,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            q: String::new(),
            filters: Filters::default(),
            sort: Sort::Relevance,
            offset: 0,
            limit: 10,
            facets: true,
            highlight: true,
            explain: false,
        }
    }
}

/// One hit.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// The record as stored.
    pub record: Record,
    /// The final score (for `sort=date`, the relevance score all the same).
    pub score: f32,
    /// The title, HTML-escaped, query terms in `<mark>`.
    pub title_html: String,
    /// A passage of the abstract, HTML-escaped, query terms in `<mark>`.
    pub snippet_html: String,
    /// Flesch-Kincaid grade of title and abstract, when computable.
    pub reading_grade: Option<f32>,
    /// The score broken into its parts, when asked.
    pub explain: Option<Explanation>,
    /// Found by meaning alone (semantic search): the record contains none of the query's
    /// words, so it is shown as related, not as a match.
    pub by_meaning_only: bool,
}

/// On one page, a version of a guideline never stands above the version that replaced it: a
/// superseded hit whose successor stands lower on the page moves to just below it, chains
/// included (2009 → 2015 update → current reads current, 2015, 2009). Between two superseded
/// versions the trust factor is the same, so text alone would decide. Only the page's own hits
/// move, so pages still neither overlap nor skip; a moved hit keeps its score, so scores on a
/// page are in order except where a version moved below its successor. A cycle in bad data
/// stops at the move budget.
fn order_versions(hits: &mut Vec<Hit>) {
    let mut budget = hits.len() * hits.len();
    let mut i = 0;
    while i < hits.len() && budget > 0 {
        let successor = hits[i].record.superseded_by.as_deref().and_then(|next| {
            hits[i + 1..]
                .iter()
                .position(|h| h.record.id == next)
                .map(|p| i + 1 + p)
        });
        match successor {
            // Removing hit i moves the successor to j - 1, so inserting at j puts it just below.
            Some(j) => {
                let h = hits.remove(i);
                hits.insert(j, h);
                budget -= 1;
            }
            None => i += 1,
        }
    }
}

/// Why a hit scored what it did.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// BM25 over the weighted fields, with the proximity bonus for the best-ranked records
    /// (`PROXIMITY_WINDOW`, 20).
    pub text: f32,
    /// Re-ranking by meaning, for a record in the semantic window: the text score is then
    /// `(1 − weight) × text + weight × cosine × scale` before the priors multiply it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic: Option<SemanticPart>,
    /// The evidence-level multiplier.
    pub evidence_prior: f32,
    /// The recency multiplier.
    pub recency: f32,
    /// The trust multiplier (retracted, superseded).
    pub trust: f32,
    /// The product.
    pub total: f32,
    /// tantivy's explanation of the text score.
    pub text_details: serde_json::Value,
}

/// The semantic part of a hit's score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SemanticPart {
    /// Cosine similarity of the query's and the record's sentence embeddings.
    pub cosine: f32,
    /// The best text score in the re-ranked window, which puts the cosine on the text's scale.
    pub scale: f32,
    /// [`RankingParams::semantic_weight`].
    pub weight: f32,
    /// The record matches the query's words (false: found by meaning alone).
    pub words_matched: bool,
}

/// What a search returns.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// Matching records.
    pub total: u64,
    /// The requested page.
    pub hits: Vec<Hit>,
    /// Counts over all matching records.
    pub facets: Option<Facets>,
    /// How the query was understood.
    pub query: Interpreted,
}

/// An open index with its reader.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    params: Arc<RankingParams>,
    thesaurus: Option<Thesaurus>,
    /// The suggestion vocabulary and the [`commit_key`] of the records it was built from.
    suggester: std::sync::Mutex<Option<(u64, Arc<Suggester>)>>,
    /// A background build of the suggester is under way.
    suggester_building: std::sync::atomic::AtomicBool,
    /// A [`SearchIndex::compact`] is under way: the commit may change to one holding the same
    /// records, so a vocabulary built before it is still right.
    compacting: std::sync::atomic::AtomicBool,
    /// Commit keys a compaction replaced → the key of the merged commit (same records), so that a
    /// vocabulary built from the commit before a merge is kept after it.
    merged_keys: std::sync::Mutex<std::collections::HashMap<u64, u64>>,
    /// Each segment's per-document priors under `params` as of a day (see [`PriorTables`]).
    priors: std::sync::Mutex<PriorTables>,
    /// Each segment's facet values, one `u32` per document, read on its first faceted search.
    facet_codes: std::sync::Mutex<SegmentTables<crate::facets::FacetCodes>>,
    /// Each segment's reading-grade column, opened on its first search. Opening it reads the
    /// column's block index: done per search, it was 2.4% of a one-core search's profile at 1M
    /// records, and keeping it open made those searches 5–10% faster (benches/RESULTS.md).
    grade_columns: std::sync::Mutex<SegmentTables<Option<tantivy::columnar::Column<u64>>>>,
    /// The sentence-embedding model: records are embedded as they are indexed, and plain
    /// free-text searches re-rank their best matches by meaning ([`RankingParams::semantic_weight`]).
    encoder: Option<Arc<semantic::Encoder>>,
    /// Each segment's record vectors, read on its first search by meaning.
    vectors: std::sync::Mutex<SegmentTables<Arc<crate::meaning::SegmentVectors>>>,
    path: Option<PathBuf>,
    /// Whether a lone search may use a second core (see [`SearchIndex::set_split_searches`]).
    split: Split,
    /// How searches of plain words are matched (see [`SearchIndex::set_pruned_unions`]).
    unions: Unions,
    /// The documents each recent filter lets through, per segment, for searches of plain words.
    filter_cache: std::sync::Mutex<FilterCache>,
}

/// Per segment, the documents recent filters let through ([`crate::union::filter_bits`]), by the
/// filter's query: a library's searches repeat a few filters (evidence levels, years, sources),
/// and a filter's bits cost a pass over every record it lets through. Dropped with the segment;
/// a segment's filters are forgotten all at once when it holds [`FILTER_CACHE_ENTRIES`].
#[derive(Default)]
struct FilterCache {
    by_segment: std::collections::HashMap<
        tantivy::index::SegmentId,
        std::collections::HashMap<String, crate::union::FilterBits>,
    >,
}

/// Filters remembered per segment (each one bit per document: 125 KB at 1M records).
const FILTER_CACHE_ENTRIES: usize = 64;

/// How a search of plain words (a union of scored terms, ranked by relevance, with or without
/// filters and facets) is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Unions {
    /// By [`crate::union`], skipping the scores that cannot reach the page.
    #[default]
    Pruned,
    /// By [`crate::union`], scoring every match (for tests: the same answer).
    #[cfg_attr(not(test), allow(dead_code))]
    Unpruned,
    /// By tantivy's union, like any other query.
    Tantivy,
}

/// Per segment, every document's prior (evidence × recency × trust) as of `today`, so that
/// scoring a match reads one array slot instead of three columns and a power. Built on a
/// segment's first search of the day (about 3 ms per 100k documents), dropped for segments no
/// longer searched and whenever the ranking parameters change.
#[derive(Default)]
struct PriorTables {
    today: i64,
    tables: SegmentTables<Arc<[f32]>>,
    /// The largest prior in each window of [`crate::union::WINDOW`] documents of each table.
    bounds: SegmentTables<Arc<[f32]>>,
}

/// One table per segment of the commit searched (priors, facet codes, record vectors), built on
/// a segment's first use and dropped once it is no longer searched. `V` is a shared handle to a
/// table (an `Arc`), cloned out to each search.
pub(crate) struct SegmentTables<V> {
    by_segment: std::collections::HashMap<tantivy::index::SegmentId, V>,
}

impl<V> Default for SegmentTables<V> {
    fn default() -> Self {
        SegmentTables {
            by_segment: Default::default(),
        }
    }
}

impl<V: Clone> SegmentTables<V> {
    /// The tables of `searcher`'s segments, building the missing ones with `build`; tables of
    /// segments it no longer has are dropped.
    pub(crate) fn for_searcher(
        &mut self,
        searcher: &Searcher,
        mut build: impl FnMut(&SegmentReader) -> V,
    ) -> std::collections::HashMap<tantivy::index::SegmentId, V> {
        let live: std::collections::HashMap<_, _> = searcher
            .segment_readers()
            .iter()
            .map(|seg| {
                let table = match self.by_segment.get(&seg.segment_id()) {
                    Some(t) => t.clone(),
                    None => build(seg),
                };
                (seg.segment_id(), table)
            })
            .collect();
        self.by_segment.clone_from(&live);
        live
    }
}

/// Locks a table cache. A panic while building cannot leave a wrong table behind (tables are
/// inserted whole), so a poisoned cache is still sound.
fn lock_tables<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Up to this many documents the suggestion vocabulary is built inline when missing (well under
/// a second); above it, in the background (it reads every stored record: about 12 s at 100k
/// documents on a two-core machine).
pub const INLINE_SUGGESTER_DOCS: u64 = 20_000;

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Stored records are compressed in blocks of 1 KiB rather than tantivy's 16 KiB: a search reads
/// about ten records from as many blocks, and a record (about 3 KiB of JSON in the benchmark's
/// corpus) then fills its block alone, so a hit decompresses its own record and no neighbour's.
/// At 1M records, 4 KiB blocks had cost 5.2 µs a record (p50) and a 2-4 word search 20-30 µs
/// more than 1 KiB blocks, for a store 13% smaller (1.81 against 2.05 GB; benches/RESULTS.md,
/// 2026-12-06, sixth session).
fn index_settings() -> tantivy::IndexSettings {
    tantivy::IndexSettings {
        docstore_blocksize: 1024,
        ..Default::default()
    }
}

/// Identifies the commit a searcher reads: its segments and their deletions. Unlike tantivy's
/// searcher generation, which counts reloads (the reader reloads once just after opening, when
/// its file watcher first reads meta.json), it changes only when the content does, so caches
/// built from one commit survive a reload of the same commit.
pub(crate) fn commit_key(searcher: &Searcher) -> u64 {
    segments_key(
        searcher
            .segment_readers()
            .iter()
            .map(|seg| (seg.segment_id(), seg.num_deleted_docs())),
    )
}

/// [`commit_key`] of a commit made of these segments (id, deleted documents), in order.
fn segments_key(segments: impl Iterator<Item = (tantivy::index::SegmentId, u32)>) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
    for (id, deleted) in segments {
        id.hash(&mut h);
        deleted.hash(&mut h);
    }
    h.finish()
}

fn days_today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0)
}

impl SearchIndex {
    fn from_index(
        index: Index,
        path: Option<PathBuf>,
        params: RankingParams,
    ) -> Result<Self, SearchError> {
        crate::analysis::register(&index);
        let (_, fields) = build_schema();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
            params: Arc::new(params),
            thesaurus: None,
            suggester: std::sync::Mutex::new(None),
            suggester_building: std::sync::atomic::AtomicBool::new(false),
            compacting: std::sync::atomic::AtomicBool::new(false),
            merged_keys: Default::default(),
            priors: Default::default(),
            facet_codes: Default::default(),
            grade_columns: Default::default(),
            encoder: None,
            vectors: Default::default(),
            path,
            split: Split::default(),
            unions: Unions::default(),
            filter_cache: Default::default(),
        })
    }

    /// Creates an empty index in a new directory.
    pub fn create(dir: &Path, params: RankingParams) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Io(dir.display().to_string(), e))?;
        let (schema, _) = build_schema();
        let index = Index::builder()
            .schema(schema)
            .settings(index_settings())
            .create_in_dir(dir)?;
        Self::from_index(index, Some(dir.to_path_buf()), params)
    }

    /// Creates an empty index in memory (tests, evaluation).
    pub fn create_in_ram(params: RankingParams) -> Result<Self, SearchError> {
        let (schema, _) = build_schema();
        let index = Index::builder()
            .schema(schema)
            .settings(index_settings())
            .create_in_ram()?;
        Self::from_index(index, None, params)
    }

    /// Opens an existing index, checking that its schema is this version's.
    pub fn open(dir: &Path, params: RankingParams) -> Result<Self, SearchError> {
        let index = Index::open_in_dir(dir)?;
        let (expected, _) = build_schema();
        let names = |s: &tantivy::schema::Schema| {
            s.fields()
                .map(|(_, e)| e.name().to_string())
                .collect::<Vec<_>>()
        };
        if names(&index.schema()) != names(&expected) {
            return Err(SearchError::SchemaMismatch(dir.display().to_string()));
        }
        Self::from_index(index, Some(dir.to_path_buf()), params)
    }

    /// The directory, for an index on disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema's field handles.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The ranking parameters in use.
    pub fn params(&self) -> &RankingParams {
        &self.params
    }

    /// Replaces the ranking parameters (evaluation sweeps).
    pub fn set_params(&mut self, params: RankingParams) {
        self.params = Arc::new(params);
        *lock_tables(&self.priors) = PriorTables::default();
    }

    /// The prior tables of `searcher`'s segments as of `today`, building the missing ones.
    fn prior_tables(
        &self,
        searcher: &Searcher,
        today: i64,
    ) -> std::collections::HashMap<tantivy::index::SegmentId, Arc<[f32]>> {
        let build = |seg: &SegmentReader| -> Arc<[f32]> {
            let scorer = PriorScorer::new(seg, &self.params, today);
            (0..seg.max_doc())
                .map(|doc| {
                    let (ev, rec, trust, _) = scorer.parts(doc);
                    ev * rec * trust
                })
                .collect()
        };
        let mut guard = lock_tables(&self.priors);
        if guard.today != today {
            *guard = PriorTables {
                today,
                tables: SegmentTables::default(),
                bounds: SegmentTables::default(),
            };
        }
        guard.tables.for_searcher(searcher, build)
    }

    /// For each of `searcher`'s segments, the documents each of `filters` lets through, from the
    /// cache or worked out now.
    fn filter_bits(
        &self,
        searcher: &Searcher,
        filters: &[Box<dyn Query>],
    ) -> Result<
        std::collections::HashMap<tantivy::index::SegmentId, Vec<crate::union::FilterBits>>,
        SearchError,
    > {
        let mut out = std::collections::HashMap::new();
        if filters.is_empty() {
            return Ok(out);
        }
        let keys: Vec<String> = filters.iter().map(|f| format!("{f:?}")).collect();
        let mut cache = lock_tables(&self.filter_cache);
        let live: std::collections::HashSet<_> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        cache.by_segment.retain(|id, _| live.contains(id));
        for reader in searcher.segment_readers() {
            let seg = cache.by_segment.entry(reader.segment_id()).or_default();
            let mut bits = Vec::with_capacity(filters.len());
            for (f, key) in filters.iter().zip(&keys) {
                if let Some(b) = seg.get(key) {
                    bits.push(Arc::clone(b));
                    continue;
                }
                let b = crate::union::filter_bits(&**f, searcher, reader)?;
                if seg.len() >= FILTER_CACHE_ENTRIES {
                    seg.clear();
                }
                seg.insert(key.clone(), Arc::clone(&b));
                bits.push(b);
            }
            out.insert(reader.segment_id(), bits);
        }
        Ok(out)
    }

    /// The window bounds ([`crate::union::window_bounds`]) of `tables`, the prior tables of
    /// `searcher`'s segments as of `today`.
    fn prior_bounds(
        &self,
        searcher: &Searcher,
        today: i64,
        tables: &std::collections::HashMap<tantivy::index::SegmentId, Arc<[f32]>>,
    ) -> std::collections::HashMap<tantivy::index::SegmentId, Arc<[f32]>> {
        let mut guard = lock_tables(&self.priors);
        if guard.today != today {
            // The tables were rebuilt for another day meanwhile: bound these ones afresh.
            return tables
                .iter()
                .map(|(id, t)| (*id, crate::union::window_bounds(t)))
                .collect();
        }
        guard.bounds.for_searcher(searcher, |seg| {
            tables
                .get(&seg.segment_id())
                .map(|t| crate::union::window_bounds(t))
                .unwrap_or_else(|| Arc::from(Vec::new()))
        })
    }

    /// The [`crate::facets::FacetCodes`] of `searcher`'s segments, building the missing ones. A
    /// segment whose columns cannot be read gets none, and its facets are counted from the
    /// columns (which then say what is wrong).
    fn facet_codes(
        &self,
        searcher: &Searcher,
    ) -> std::collections::HashMap<tantivy::index::SegmentId, crate::facets::FacetCodes> {
        lock_tables(&self.facet_codes).for_searcher(searcher, |seg| {
            crate::facets::facet_codes(seg).unwrap_or_else(|_| Arc::from(Vec::new()))
        })
    }

    /// Whether a search may use a second core while it is the only one running (on by
    /// default): a large segment's documents are then matched as two halves in parallel, with
    /// the same answer. Off, every search runs on one thread.
    pub fn set_split_searches(&mut self, on: bool) {
        self.split = if on { Split::WhenAlone } else { Split::Never };
    }

    /// Whether searches of plain words skip scoring the matches that cannot reach the page (on
    /// by default; the page, total and facets are the same). Off, they are matched by
    /// tantivy's union, which scores every match.
    pub fn set_pruned_unions(&mut self, on: bool) {
        self.unions = if on { Unions::Pruned } else { Unions::Tantivy };
    }

    /// Sets or clears the sentence-embedding model. Records indexed from then on carry their
    /// embedding; searches re-rank by meaning only the records that have one.
    pub fn set_encoder(&mut self, encoder: Option<Arc<semantic::Encoder>>) {
        self.encoder = encoder;
    }

    /// The vector tables of `searcher`'s segments, reading the missing ones.
    fn vector_tables(&self, searcher: &Searcher) -> crate::meaning::VectorTables {
        lock_tables(&self.vectors).for_searcher(searcher, |seg| {
            Arc::new(crate::meaning::SegmentVectors::read(seg))
        })
    }

    /// Sets or clears the thesaurus used to expand free-text queries with synonyms (MeSH entry
    /// terms); expansion is off without one.
    pub fn set_thesaurus(&mut self, thesaurus: Option<Thesaurus>) {
        self.thesaurus = thesaurus.filter(|t| !t.is_empty());
        // Thesaurus terms are offered by autocomplete: rebuild the vocabulary on next use.
        if let Ok(mut cached) = self.suggester.lock() {
            *cached = None;
        }
    }

    /// The suggestion vocabulary (spelling and autocomplete, see [`crate::suggest`]) of the loaded
    /// commit: built from the stored records on first use and again after each reload, then
    /// shared. Building reads every record, so call this on a blocking thread after a reload to
    /// have it ready.
    pub fn suggester(&self) -> Result<Arc<Suggester>, SearchError> {
        let key = commit_key(&self.searcher());
        if let Some((k, s)) = self.cached_suggester() {
            if k == key {
                return Ok(s);
            }
        }
        let built = Arc::new(Suggester::build(self)?);
        self.keep_suggester(Arc::clone(&built));
        Ok(built)
    }

    /// Caches a vocabulary under the commit it was read from, or under the merged commit when a
    /// compaction replaced that commit while it was being built.
    fn keep_suggester(&self, built: Arc<Suggester>) {
        let key = self.merged_key(built.generation());
        if let Ok(mut cached) = self.suggester.lock() {
            *cached = Some((key, built));
        }
    }

    /// Where the suggestion vocabulary (spelling and autocomplete) of the loaded commit stands:
    /// `"ready"`, `"building"` (in the background, the previous one or none serving meanwhile)
    /// or `"not started"` (built on the first search that asks for it).
    pub fn suggestions_state(&self) -> &'static str {
        let key = commit_key(&self.searcher());
        match self.cached_suggester() {
            Some((k, _)) if k == key => "ready",
            _ if self
                .suggester_building
                .load(std::sync::atomic::Ordering::SeqCst) =>
            {
                "building"
            }
            _ => "not started",
        }
    }

    fn cached_suggester(&self) -> Option<(u64, Arc<Suggester>)> {
        self.suggester.lock().ok().and_then(|c| c.clone())
    }

    /// The key of the commit now holding the records of commit `key`: itself, unless
    /// compactions merged it (followed through each merge since).
    fn merged_key(&self, mut key: u64) -> u64 {
        if let Ok(merged) = self.merged_keys.lock() {
            // Each merge makes a new segment, so the chain has no cycle; the bound is a guard.
            for _ in 0..=merged.len() {
                match merged.get(&key) {
                    Some(&next) => key = next,
                    None => break,
                }
            }
        }
        key
    }

    /// The suggestion vocabulary without waiting for a build, for request paths: the current one
    /// when built; otherwise, for a small index, built now; for a large one, the last one built
    /// (a vocabulary that lags one update behind), or `None` at first, while one background
    /// thread builds the current one.
    pub fn suggester_nonblocking(self: &Arc<Self>) -> Option<Arc<Suggester>> {
        use std::sync::atomic::Ordering;
        let key = commit_key(&self.searcher());
        let cached = self.cached_suggester();
        if let Some((k, s)) = &cached {
            // While a compaction runs the commit may already be the merged one, with the same
            // records: the vocabulary stays, and the compaction re-keys it when done.
            if *k == key || self.compacting.load(Ordering::SeqCst) {
                return Some(Arc::clone(s));
            }
        }
        let cached = cached.map(|(_, s)| s);
        if self.num_docs() <= INLINE_SUGGESTER_DOCS {
            return self.suggester().ok();
        }
        if !self.suggester_building.swap(true, Ordering::SeqCst) {
            let me = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("suggester".into())
                .spawn(move || {
                    let started = std::time::Instant::now();
                    match me.suggester() {
                        Ok(_) => tracing::info!(
                            docs = me.num_docs(),
                            took_ms = started.elapsed().as_millis() as u64,
                            "suggestion vocabulary built"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "suggestion vocabulary could not be built")
                        }
                    }
                    me.suggester_building.store(false, Ordering::SeqCst);
                });
            if spawned.is_err() {
                self.suggester_building.store(false, Ordering::SeqCst);
            }
        }
        cached
    }

    /// The thesaurus in use, if any.
    pub fn thesaurus(&self) -> Option<&Thesaurus> {
        self.thesaurus.as_ref()
    }

    /// The underlying tantivy index.
    pub fn tantivy(&self) -> &Index {
        &self.index
    }

    /// A searcher on the latest loaded commit. Searches hold it to the end, so they finish on the
    /// commit they started on.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Loads the latest commit now (the reader also follows commits by itself, shortly after).
    pub fn reload(&self) -> Result<(), SearchError> {
        Ok(self.reader.reload()?)
    }

    /// Live documents in the loaded commit.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// How many segments the loaded commit has. Every search visits each one.
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Merges every segment into one, dropping deleted documents, commits, and reloads: a
    /// search then looks each term up once and collects one top list (at 1M records, 2-4 word
    /// searches ran at p50 1.43 ms on one segment against 2.2 ms on nine). Returns the number of
    /// segments before. It needs the index's writer lock, so it fails with tantivy's lock
    /// error while a build or update is writing to this index; readers elsewhere (a running
    /// server) pick up the merged segment on their next reload.
    pub fn compact(&self) -> Result<usize, SearchError> {
        use std::sync::atomic::Ordering;
        let metas = self.index.searchable_segment_metas()?;
        let ids: Vec<_> = metas.iter().map(|m| m.id()).collect();
        if ids.len() > 1 || metas.iter().any(|m| m.has_deletes()) {
            let before = segments_key(metas.iter().map(|m| (m.id(), m.num_deleted_docs())));
            self.compacting.store(true, Ordering::SeqCst);
            let merged = (|| -> Result<_, SearchError> {
                let mut writer: IndexWriter = self.index.writer_with_num_threads(1, 32 << 20)?;
                let merged = writer.merge(&ids).wait()?;
                writer.wait_merging_threads()?;
                Ok(merged)
            })();
            let reloaded = if let Ok(merged) = &merged {
                // The merged commit holds the records of the one before: the suggestion
                // vocabulary built from that one is kept (it reads every record: about two
                // minutes at 1M documents).
                let after = segments_key(merged.iter().map(|m| (m.id(), m.num_deleted_docs())));
                if let Ok(mut keys) = self.merged_keys.lock() {
                    keys.insert(before, after);
                }
                if let Ok(mut cached) = self.suggester.lock() {
                    if let Some((k, _)) = cached.as_mut().filter(|(k, _)| *k == before) {
                        *k = after;
                    }
                }
                self.reload()
            } else {
                Ok(())
            };
            // Cleared once this reader reads the merged commit, whose key the vocabulary has now.
            self.compacting.store(false, Ordering::SeqCst);
            merged?;
            reloaded?;
            // The merged segment's priors and facet values, ready before the first search.
            let searcher = self.searcher();
            self.prior_tables(&searcher, days_today());
            self.facet_codes(&searcher);
        }
        Ok(ids.len())
    }

    /// A writer with `memory_bytes` of indexing memory, on up to two threads.
    pub fn builder(&self, memory_bytes: usize) -> Result<IndexBuilder, SearchError> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let per_thread_min = 16 * 1024 * 1024;
        let threads = threads.min((memory_bytes / per_thread_min).max(1));
        let writer: IndexWriter = self
            .index
            .writer_with_num_threads(threads, memory_bytes.max(per_thread_min))?;
        Ok(IndexBuilder {
            writer,
            fields: self.fields,
            encoder: self.encoder.clone(),
        })
    }

    /// Looks a record up by id.
    pub fn get(&self, id: &str) -> Result<Option<Record>, SearchError> {
        let searcher = self.searcher();
        let q = TermQuery::new(
            Term::from_field_text(self.fields.id, id),
            IndexRecordOption::Basic,
        );
        let top = searcher.search(&q, &TopDocs::with_limit(1))?;
        match top.first() {
            Some((_, addr)) => Ok(Some(self.load(&searcher, *addr)?.0)),
            None => Ok(None),
        }
    }

    fn load(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
    ) -> Result<(Record, Option<f32>), SearchError> {
        let grades = self.grade_columns(searcher);
        let column = grades
            .get(addr.segment_ord as usize)
            .and_then(Option::as_ref);
        self.load_with(searcher, addr, column)
    }

    /// The reading-grade column of each of `searcher`'s segments, in segment order (`None` for a
    /// segment without one), opened on a segment's first use.
    fn grade_columns(&self, searcher: &Searcher) -> Vec<Option<tantivy::columnar::Column<u64>>> {
        let by_segment = lock_tables(&self.grade_columns)
            .for_searcher(searcher, |seg| seg.fast_fields().u64("reading_grade").ok());
        searcher
            .segment_readers()
            .iter()
            .map(|seg| by_segment.get(&seg.segment_id()).cloned().flatten())
            .collect()
    }

    /// [`SearchIndex::load`] with the segment's reading-grade column already open (opening a
    /// column per hit was 4% of a search).
    fn load_with(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
        grades: Option<&tantivy::columnar::Column<u64>>,
    ) -> Result<(Record, Option<f32>), SearchError> {
        read_record(searcher, self.fields.record, addr, grades)
    }

    /// The records at `addrs` with their reading grades, in order (`grades`: each segment's
    /// column, from [`SearchIndex::grade_columns`]); the second half of them read on `helper`
    /// meanwhile, when given ([`split::helper_for_reads`]) and the page is large enough.
    fn load_page(
        &self,
        searcher: &Searcher,
        addrs: &[DocAddress],
        grades: &[Option<tantivy::columnar::Column<u64>>],
        helper: Option<&'static crate::handoff::Handoff>,
    ) -> Result<Vec<(Record, Option<f32>)>, SearchError> {
        let field = self.fields.record;
        let helper = helper.filter(|_| addrs.len() >= MIN_SHARED_READS);
        let Some(handoff) = helper else {
            return read_records(searcher, field, addrs, grades);
        };
        split::count_shared_read();
        let (mine, theirs) = addrs.split_at(addrs.len().div_ceil(2));
        let pending = {
            let (searcher, theirs, grades) = (searcher.clone(), theirs.to_vec(), grades.to_vec());
            handoff.run(move || read_records(&searcher, field, &theirs, &grades))
        };
        let mut out = read_records(searcher, field, mine, grades)?;
        let theirs = pending.wait().ok_or_else(|| {
            SearchError::Corrupt("reading the page's records failed on the helper thread".into())
        })??;
        out.extend(theirs);
        Ok(out)
    }

    fn filter_queries(&self, f: &Filters) -> Vec<Box<dyn Query>> {
        let fl = &self.fields;
        let mut out: Vec<Box<dyn Query>> = Vec::new();
        if !f.evidence_levels.is_empty() {
            let terms = f
                .evidence_levels
                .iter()
                .map(|l| Term::from_field_u64(fl.evidence, evidence_ord(*l)));
            out.push(any_of(terms));
        }
        if f.year_from.is_some() || f.year_to.is_some() {
            let lo = Term::from_field_u64(fl.year, f.year_from.map(u64::from).unwrap_or(1));
            let hi = Term::from_field_u64(fl.year, f.year_to.map(u64::from).unwrap_or(9999));
            out.push(Box::new(RangeQuery::new(
                std::ops::Bound::Included(lo),
                std::ops::Bound::Included(hi),
            )));
        }
        if !f.sources.is_empty() {
            out.push(any_of(
                f.sources
                    .iter()
                    .map(|s| Term::from_field_text(fl.source, s)),
            ));
        }
        if let Some(a) = f.audience {
            out.push(Box::new(TermQuery::new(
                Term::from_field_u64(fl.audience, audience_ord(a)),
                IndexRecordOption::Basic,
            )));
        }
        if let Some(oa) = f.open_access {
            out.push(Box::new(TermQuery::new(
                Term::from_field_u64(fl.open_access, if oa { 1 } else { 2 }),
                IndexRecordOption::Basic,
            )));
        }
        if let Some(g) = f.max_reading_grade {
            let hi = (g.max(0.0) * 10.0).round() as u64;
            out.push(Box::new(RangeQuery::new(
                std::ops::Bound::Included(Term::from_field_u64(fl.reading_grade, 1)),
                std::ops::Bound::Included(Term::from_field_u64(fl.reading_grade, hi.max(1))),
            )));
        }
        out
    }

    /// Runs a search.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults, SearchError> {
        let running = split::Running::start();
        if req.offset.saturating_add(req.limit) > MAX_RESULT_WINDOW {
            return Err(SearchError::TooDeep {
                max: MAX_RESULT_WINDOW,
            });
        }
        let searcher = self.searcher();
        // A search may hand half its matching to the helper thread: woken now, it is ready by
        // the time the matching starts (`handoff`), and told to stop spinning if the search
        // does not split after all.
        split::wake_for(self.split, &running, &searcher);
        let compiled = compile_with(&req.q, &self.fields, &self.params, self.thesaurus.as_ref());
        let text_query = compiled.query;
        let proximity = compiled.proximity.filter(|_| req.sort == Sort::Relevance);
        let mut interpreted = compiled.interpreted;
        // Re-ranking by meaning: plain free text ranked by relevance, with a model configured.
        let semantic_query = match &self.encoder {
            Some(enc)
                if req.sort == Sort::Relevance
                    && self.params.semantic_weight > 0.0
                    && self.params.semantic_window > 0
                    && !compiled.plain_terms.is_empty() =>
            {
                match enc.embed(&req.q) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::warn!(error = %e, "query not embedded: ranked by its words only");
                        None
                    }
                }
            }
            _ => None,
        };
        // The query that ranks: the typed one, or with pseudo-relevance feedback terms added. The
        // typed one alone builds the snippets.
        let rank_query: Option<Box<dyn Query>> = match &text_query {
            Some(q)
                if self.params.prf_docs > 0
                    && req.sort == Sort::Relevance
                    && !compiled.plain_terms.is_empty() =>
            {
                let (q, terms) =
                    self.feedback(&searcher, &**q, compiled.plain_terms.len(), &req.filters)?;
                if !terms.is_empty() {
                    interpreted.expansions.push(crate::query::Expansion {
                        term: req.q.clone(),
                        variants: terms,
                        reason: "relevance feedback",
                    });
                }
                Some(q)
            }
            other => other.as_ref().map(|q| q.box_clone()),
        };
        // The records closest in meaning join the matches (with a text score of 0).
        let vectors = semantic_query
            .as_ref()
            .map(|_| self.vector_tables(&searcher));
        let neighbours = match (&semantic_query, &vectors) {
            (Some(qv), Some(tables)) => crate::meaning::nearest(
                &searcher,
                tables,
                qv,
                self.params.semantic_neighbours.min(MAX_RESULT_WINDOW),
                self.params.semantic_min_similarity,
            ),
            _ => Vec::new(),
        };
        let rank_query = match rank_query {
            Some(q) if !neighbours.is_empty() => {
                let docs: Box<dyn Query> =
                    Box::new(crate::meaning::DocsQuery::new(&searcher, &neighbours));
                Some(Box::new(BooleanQuery::new(vec![
                    (Occur::Should, q),
                    (Occur::Should, docs),
                ])) as Box<dyn Query>)
            }
            other => other,
        };
        let filters = self.filter_queries(&req.filters);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        match rank_query.as_ref() {
            Some(q) => clauses.push((Occur::Must, q.box_clone())),
            None => clauses.push((Occur::Must, Box::new(tantivy::query::AllQuery))),
        }
        for f in &filters {
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(f.box_clone(), 0.0)),
            ));
        }
        let query: Box<dyn Query> = if clauses.len() == 1 {
            clauses.remove(0).1
        } else {
            Box::new(BooleanQuery::new(clauses))
        };

        let sort = req.sort;
        let today = days_today();
        // Shared by the collector and the re-ranking of the proximity window.
        let tables = Arc::new(self.prior_tables(&searcher, today));
        let rerank_tables = Arc::clone(&tables);
        // With a proximity bonus or re-ranking by meaning, the window (or the whole page, if
        // deeper) is collected from the top, re-ranked, and the page cut from it.
        let proximity_window = if proximity.is_some() {
            PROXIMITY_WINDOW
        } else {
            0
        };
        let semantic_window = if semantic_query.is_some() {
            self.params.semantic_window.min(MAX_RESULT_WINDOW)
        } else {
            0
        };
        let window = proximity_window.max(semantic_window);
        let (collect, skip) = match window {
            0 => (req.limit.max(1), req.offset),
            w => ((req.offset + req.limit).max(w), 0),
        };
        let top = TopDocs::with_limit(collect).and_offset(skip).tweak_score(
            move |seg: &SegmentReader| {
                let prior = tables.get(&seg.segment_id()).cloned();
                let dates = match sort {
                    Sort::Relevance => None,
                    Sort::Date => seg.fast_fields().i64("date").ok(),
                };
                move |doc, score: f32| -> f64 {
                    let p = prior
                        .as_ref()
                        .and_then(|t| t.get(doc as usize))
                        .copied()
                        .unwrap_or(1.0);
                    let s = (score * p) as f64;
                    match &dates {
                        None => s,
                        Some(col) => {
                            let date = col.first(doc).filter(|d| *d != i64::MIN);
                            date.map(|d| d as f64).unwrap_or(-1e9) + s.min(1e6) / 1e7
                        }
                    }
                }
            },
        );
        // A search of plain words by relevance: matched without scoring what cannot reach the page.
        let union = match (self.unions, sort) {
            (Unions::Pruned | Unions::Unpruned, Sort::Relevance) => {
                match rank_query.as_deref().and_then(crate::query::term_union) {
                    Some(terms) => crate::union::Plan::new(&searcher, terms)?,
                    None => None,
                }
            }
            _ => None,
        };
        let (mut top_docs, total, facets) = if let Some(plan) = union {
            let bounds = self.prior_bounds(&searcher, today, &rerank_tables);
            let filter_bits = self.filter_bits(&searcher, &filters)?;
            let facets = req
                .facets
                .then(|| FacetCollector::with_codes(Arc::new(self.facet_codes(&searcher))));
            crate::union::search(
                &searcher,
                &plan,
                collect,
                skip,
                facets.as_ref(),
                &rerank_tables,
                &bounds,
                &filter_bits,
                self.split,
                &running,
                self.unions == Unions::Pruned,
            )?
        } else if req.facets {
            let facets = FacetCollector::with_codes(Arc::new(self.facet_codes(&searcher)));
            let all = Arc::new((top, Count, facets));
            let (t, c, f) = split::search(&searcher, &*query, all, self.split, &running)?;
            (t, c, Some(f))
        } else {
            let all = Arc::new((top, Count));
            let (t, c) = split::search(&searcher, &*query, all, self.split, &running)?;
            (t, c, None)
        };
        // The first page's records are read while the bonus re-ranks the window, on the helper
        // as it would be read after ([`EarlyReads`]).
        let grades = self.grade_columns(&searcher);
        let helper = split::helper_for_reads(self.split, &running);
        let early = match helper {
            Some(handoff)
                if proximity.is_some()
                    && semantic_window == 0
                    && req.offset == 0
                    && req.limit >= MIN_SHARED_READS
                    && top_docs.len() >= MIN_SHARED_READS =>
            {
                let candidates = &top_docs[..top_docs.len().min(req.limit.max(PROXIMITY_WINDOW))];
                Some(EarlyReads::start(
                    handoff,
                    &searcher,
                    self.fields.record,
                    candidates,
                    &grades,
                ))
            }
            _ => None,
        };
        // The query that explains a hit's text score: with the bonus inside the window.
        let mut with_bonus = None;
        if let Some(bonus) = &proximity {
            let window = top_docs.len().min(PROXIMITY_WINDOW);
            add_bonus(&searcher, bonus, &rerank_tables, &mut top_docs[..window])?;
            if req.explain {
                with_bonus = rank_query
                    .as_ref()
                    .map(|q| crate::query::with_bonus(q.box_clone(), bonus.clone()));
            }
        }
        let mut semantic_parts = std::collections::HashMap::new();
        if let (Some(qv), Some(vectors)) = (&semantic_query, &vectors) {
            // The window, with the neighbours that match (pass the filters) but were not
            // collected in it, moved up from deeper or scored now.
            let w = top_docs.len().min(semantic_window);
            let in_window: std::collections::HashSet<DocAddress> =
                top_docs[..w].iter().map(|(_, a)| *a).collect();
            let near: Vec<DocAddress> = neighbours.iter().map(|(a, _)| *a).collect();
            // Every neighbour that passes the filters, with its text score (0: none of the words).
            let passing =
                crate::meaning::score_matching(&searcher, &*query, &rerank_tables, &near)?;
            let without_words = passing.iter().filter(|(s, _)| *s == 0.0).count();
            if !passing.is_empty() {
                interpreted.expansions.push(crate::query::Expansion {
                    term: req.q.clone(),
                    variants: vec![format!(
                        "{} records close in meaning, {without_words} of them without the words",
                        passing.len()
                    )],
                    reason: "semantic search",
                });
            }
            let joining: Vec<(f64, DocAddress)> = passing
                .into_iter()
                .filter(|(_, a)| !in_window.contains(a))
                .collect();
            let joined: std::collections::HashSet<DocAddress> =
                joining.iter().map(|(_, a)| *a).collect();
            let rest: Vec<(f64, DocAddress)> = top_docs
                .drain(w..)
                .filter(|(_, a)| !joined.contains(a))
                .collect();
            top_docs.extend(joining);
            semantic_parts = crate::meaning::rerank(
                &searcher,
                vectors,
                &rerank_tables,
                qv,
                self.params.semantic_weight,
                &mut top_docs,
            );
            top_docs.extend(rest);
        }
        if window > 0 {
            top_docs = top_docs.into_iter().skip(req.offset).collect();
        }
        let bonus_until = PROXIMITY_WINDOW.saturating_sub(req.offset);

        let highlighter = |field, max_bytes| -> Option<Highlighter> {
            let q = text_query.as_ref()?;
            Highlighter::new(&searcher, &**q, field, max_bytes)
        };
        let (mut title_hl, mut abstract_hl) = if req.highlight {
            (
                highlighter(self.fields.title, 2000),
                highlighter(self.fields.abstract_text, 280),
            )
        } else {
            (None, None)
        };

        top_docs.truncate(req.limit);
        let addrs: Vec<DocAddress> = top_docs.iter().map(|(_, a)| *a).collect();
        let records = match early {
            Some(early) => early.finish(&searcher, self.fields.record, &addrs, &grades)?,
            None => self.load_page(&searcher, &addrs, &grades, helper)?,
        };
        let mut hits = Vec::with_capacity(top_docs.len());
        for (rank, ((tweaked, addr), (record, reading_grade))) in
            top_docs.into_iter().zip(records).enumerate()
        {
            // The title's fragment runs from its first to its last marked token's fragment, so
            // what lies outside it ("(2024 update)") is put back around it.
            let title_html = match title_hl.as_mut().and_then(|h| h.fragment(&record.title)) {
                Some(f) => format!(
                    "{}{}{}",
                    escape_html(&record.title[..f.start]),
                    f.to_html(),
                    escape_html(&record.title[f.start + f.text.len()..])
                ),
                None => escape_html(&record.title),
            };
            let abs = record.abstract_text.as_deref().unwrap_or("");
            let snippet_html = match abstract_hl.as_mut().and_then(|h| h.fragment(abs)) {
                Some(f) => f.to_html(),
                None => lead(abs, 280),
            };
            let (score, explain) = if req.explain || req.sort == Sort::Date {
                let explaining = match &with_bonus {
                    Some(q) if rank < bonus_until => Some(q),
                    _ => rank_query.as_ref(),
                };
                let text = match explaining {
                    Some(q) => q.explain(&searcher, addr).ok(),
                    None => None,
                };
                // A record found by meaning alone matches none of the words: text score 0.
                let no_words = if semantic_parts.contains_key(&addr) {
                    0.0
                } else {
                    1.0
                };
                let text_score = text.as_ref().map(|e| e.value()).unwrap_or(no_words);
                let (ev, rec, trust, _) = PriorScorer::new(
                    searcher.segment_reader(addr.segment_ord),
                    &self.params,
                    today,
                )
                .parts(addr.doc_id);
                let semantic = semantic_parts.get(&addr).copied();
                let relevance = match semantic {
                    Some(s) => (1.0 - s.weight) * text_score + s.weight * s.cosine * s.scale,
                    None => text_score,
                };
                let total = relevance * (ev * rec * trust);
                let ex = req.explain.then(|| Explanation {
                    text: text_score,
                    semantic,
                    evidence_prior: ev,
                    recency: rec,
                    trust,
                    total,
                    text_details: text
                        .and_then(|e| serde_json::to_value(&e).ok())
                        .unwrap_or_default(),
                });
                (total, ex)
            } else {
                (tweaked as f32, None)
            };
            let by_meaning_only = semantic_parts.get(&addr).is_some_and(|p| !p.words_matched);
            hits.push(Hit {
                by_meaning_only,
                record,
                score,
                title_html,
                snippet_html,
                reading_grade,
                explain,
            });
        }
        if req.sort == Sort::Relevance {
            order_versions(&mut hits);
        }
        Ok(SearchResults {
            total: total as u64,
            hits,
            facets,
            query: interpreted,
        })
    }

    /// Pseudo-relevance feedback (RM3): ranks a first pass of `query`, takes the
    /// [`RankingParams::prf_docs`] best records, weighs each word of their title, abstract, MeSH
    /// terms and keywords by its share of the record's words times the record's share of the
    /// first-pass score, keeps the [`RankingParams::prf_terms`] heaviest after multiplying by idf,
    /// and returns them (for the answer's `expansions`) with the original
    /// query (weight λ, spread over its `query_terms` words as RM3 does) or'ed with those terms
    /// (weight 1 − λ, in proportion to their weights) over the default fields.
    fn feedback(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        query_terms: usize,
        filters: &Filters,
    ) -> Result<(Box<dyn Query>, Vec<String>), SearchError> {
        let p = &*self.params;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, query.box_clone())];
        for f in self.filter_queries(filters) {
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(f, 0.0))));
        }
        let first = BooleanQuery::new(clauses);
        let top = searcher.search(&first, &TopDocs::with_limit(p.prf_docs))?;
        let total: f32 = top.iter().map(|(s, _)| s.max(0.0)).sum();
        if top.is_empty() || total <= 0.0 || p.prf_terms == 0 {
            return Ok((query.box_clone(), Vec::new()));
        }
        let mut bio = crate::analysis::bio_analyzer();
        let mut weights: std::collections::HashMap<String, f32> = Default::default();
        for (score, addr) in &top {
            let (record, _) = self.load(searcher, *addr)?;
            let mut text = record.title.clone();
            for part in record
                .abstract_text
                .iter()
                .chain(&record.mesh_terms)
                .chain(&record.keywords)
            {
                text.push_str(" . ");
                text.push_str(part);
            }
            let toks = crate::analysis::single_tokens(&mut bio, &text);
            if toks.is_empty() {
                continue;
            }
            let share = score.max(0.0) / total / toks.len() as f32;
            for t in toks {
                *weights.entry(t).or_default() += share;
            }
        }
        // Words are chosen by feedback weight times idf, so that words common to every record
        // (such as "study" or "patient") do not crowd out the topical ones.
        let n_docs = searcher.num_docs().max(1) as f32;
        let mut ranked: Vec<(String, f32)> = weights
            .into_iter()
            .filter(|(t, _)| t.chars().count() > 1 && !t.chars().all(|c| c.is_ascii_digit()))
            .map(|(t, w)| {
                let df = searcher
                    .doc_freq(&Term::from_field_text(self.fields.abstract_text, &t))
                    .unwrap_or(0)
                    .max(
                        searcher
                            .doc_freq(&Term::from_field_text(self.fields.title, &t))
                            .unwrap_or(0),
                    ) as f32;
                let idf = (1.0 + n_docs / (df + 1.0)).ln();
                (t, w * idf)
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(p.prf_terms);
        let sum: f32 = ranked.iter().map(|(_, w)| w).sum();
        if ranked.is_empty() || sum <= 0.0 {
            return Ok((query.box_clone(), Vec::new()));
        }
        let lambda = p.prf_weight.clamp(0.0, 1.0);
        let fields = [
            (self.fields.title, p.title_weight),
            (self.fields.abstract_text, p.abstract_weight),
            (self.fields.mesh, p.mesh_weight),
            (self.fields.keywords, p.keywords_weight),
        ];
        let mut expansion: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (t, w) in &ranked {
            for (field, fw) in fields {
                if fw <= 0.0 {
                    continue;
                }
                let tq = TermQuery::new(
                    Term::from_field_text(field, t),
                    IndexRecordOption::WithFreqs,
                );
                expansion.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(tq), (1.0 - lambda) * w / sum * fw)),
                ));
            }
        }
        let original: Box<dyn Query> = Box::new(BoostQuery::new(
            query.box_clone(),
            lambda / query_terms.max(1) as f32,
        ));
        let expanded: Box<dyn Query> = Box::new(BooleanQuery::new(expansion));
        let terms = ranked.into_iter().map(|(t, _)| t).collect();
        Ok((
            Box::new(BooleanQuery::new(vec![
                (
                    if p.prf_widen_min_terms > 0 && query_terms >= p.prf_widen_min_terms {
                        Occur::Should
                    } else {
                        Occur::Must
                    },
                    original,
                ),
                (Occur::Should, expanded),
            ])),
            terms,
        ))
    }

    /// Every term of `field` in the index that starts with `prefix`, with its document frequency,
    /// most frequent first (for suggestions and spelling).
    pub fn terms_with_prefix(
        &self,
        field: tantivy::schema::Field,
        prefix: &str,
        limit: usize,
    ) -> Vec<(String, u64)> {
        let searcher = self.searcher();
        let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for seg in searcher.segment_readers() {
            let Ok(inv) = seg.inverted_index(field) else {
                continue;
            };
            let dict = inv.terms();
            let Ok(mut stream) = dict.range().ge(prefix.as_bytes()).into_stream() else {
                continue;
            };
            while stream.advance() {
                let key = stream.key();
                if !key.starts_with(prefix.as_bytes()) {
                    break;
                }
                if let Ok(k) = std::str::from_utf8(key) {
                    *counts.entry(k.to_string()).or_default() += u64::from(stream.value().doc_freq);
                }
            }
        }
        let mut v: Vec<(String, u64)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(limit);
        v
    }
}

/// Pages of fewer records are read on the searching thread alone: handing over would cost more
/// than the records it saves reading.
const MIN_SHARED_READS: usize = 4;

/// The records of a search's first page, read on the helper thread while the searching thread
/// adds the proximity bonus, before the page is known: the helper takes the best-ranked records
/// in rank order (most of the page), the searching thread then the page's records the helper
/// has not begun, from the bottom of the page up. The page's records are each read once; a
/// record the helper begins before the page is known and that falls off it is read for nothing,
/// on the core that would otherwise spin. At 1M records, 2-4 word searches 3-4% faster at the
/// p50 among the other query shapes, and 2-5% run alone (benches/RESULTS.md, eleventh session).
struct EarlyReads {
    /// The candidates, best first (before the bonus).
    addrs: Arc<[DocAddress]>,
    slots: Arc<[ReadSlot]>,
    pending: crate::handoff::Pending<()>,
}

/// One candidate's record: who reads it, and what the helper read.
#[derive(Default)]
struct ReadSlot {
    /// [`FREE`], [`HELPER`], [`SEARCHER`] or [`UNWANTED`].
    state: std::sync::atomic::AtomicU8,
    read: std::sync::Mutex<Option<RecordRead>>,
}

/// A stored record and its reading grade, or why it could not be read.
type RecordRead = Result<(Record, Option<f32>), SearchError>;

const FREE: u8 = 0;
const HELPER: u8 = 1;
const SEARCHER: u8 = 2;
const UNWANTED: u8 = 3;

impl ReadSlot {
    /// Claims the slot for `who` if no one has.
    fn claim(&self, who: u8) -> bool {
        use std::sync::atomic::Ordering;
        self.state
            .compare_exchange(FREE, who, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

impl EarlyReads {
    /// Starts reading the records of `candidates` (best first) on `handoff`'s helper.
    fn start(
        handoff: &crate::handoff::Handoff,
        searcher: &Searcher,
        field: tantivy::schema::Field,
        candidates: &[(f64, DocAddress)],
        grades: &[Option<tantivy::columnar::Column<u64>>],
    ) -> EarlyReads {
        split::count_shared_read();
        let addrs: Arc<[DocAddress]> = candidates.iter().map(|(_, a)| *a).collect();
        let slots: Arc<[ReadSlot]> = addrs.iter().map(|_| ReadSlot::default()).collect();
        let pending = {
            let (searcher, grades) = (searcher.clone(), grades.to_vec());
            let (addrs, slots) = (Arc::clone(&addrs), Arc::clone(&slots));
            handoff.run(move || {
                for (addr, slot) in addrs.iter().zip(slots.iter()) {
                    if slot.claim(HELPER) {
                        let column = grades
                            .get(addr.segment_ord as usize)
                            .and_then(Option::as_ref);
                        let read = read_record(&searcher, field, *addr, column);
                        *lock_slot(&slot.read) = Some(read);
                    }
                }
            })
        };
        EarlyReads {
            addrs,
            slots,
            pending,
        }
    }

    /// The records of `page` (addresses among the candidates), in its order.
    fn finish(
        self,
        searcher: &Searcher,
        field: tantivy::schema::Field,
        page: &[DocAddress],
        grades: &[Option<tantivy::columnar::Column<u64>>],
    ) -> Result<Vec<(Record, Option<f32>)>, SearchError> {
        let at: Vec<Option<usize>> = page
            .iter()
            .map(|a| self.addrs.iter().position(|b| b == a))
            .collect();
        // The helper begins no record off the page from now on.
        for (i, slot) in self.slots.iter().enumerate() {
            if !at.contains(&Some(i)) {
                slot.claim(UNWANTED);
            }
        }
        let mut mine: Vec<Option<RecordRead>> = (0..page.len()).map(|_| None).collect();
        for (p, i) in at.iter().enumerate().rev() {
            if i.is_none_or(|i| self.slots[i].claim(SEARCHER)) {
                let column = grades
                    .get(page[p].segment_ord as usize)
                    .and_then(Option::as_ref);
                mine[p] = Some(read_record(searcher, field, page[p], column));
            }
        }
        self.pending.wait().ok_or_else(|| {
            SearchError::Corrupt("reading the page's records failed on the helper thread".into())
        })?;
        mine.into_iter()
            .zip(&at)
            .map(|(read, i)| {
                read.or_else(|| i.and_then(|i| lock_slot(&self.slots[i].read).take()))
                    .unwrap_or_else(|| {
                        Err(SearchError::Corrupt(
                            "a record of the page was read by neither thread".into(),
                        ))
                    })
            })
            .collect()
    }
}

fn lock_slot<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The stored records at `addrs` with their reading grades, in order (`grades`: each segment's
/// column).
fn read_records(
    searcher: &Searcher,
    field: tantivy::schema::Field,
    addrs: &[DocAddress],
    grades: &[Option<tantivy::columnar::Column<u64>>],
) -> Result<Vec<(Record, Option<f32>)>, SearchError> {
    addrs
        .iter()
        .map(|addr| {
            let column = grades
                .get(addr.segment_ord as usize)
                .and_then(Option::as_ref);
            read_record(searcher, field, *addr, column)
        })
        .collect()
}

/// The stored record at `addr` and its reading grade (`grades`: the segment's column).
fn read_record(
    searcher: &Searcher,
    field: tantivy::schema::Field,
    addr: DocAddress,
    grades: Option<&tantivy::columnar::Column<u64>>,
) -> Result<(Record, Option<f32>), SearchError> {
    let doc: TantivyDocument = searcher.doc(addr)?;
    let json = doc
        .get_first(field)
        .and_then(|v| v.as_str())
        .ok_or_else(|| SearchError::Corrupt("document without stored record".into()))?;
    let record: Record = serde_json::from_str(json)
        .map_err(|e| SearchError::Corrupt(format!("stored record: {e}")))?;
    let grade = grades
        .and_then(|c| c.first(addr.doc_id))
        .filter(|g| *g > 0)
        .map(|g| g as f32 / 10.0);
    Ok((record, grade))
}

/// Reads the fast fields behind the priors for one segment.
struct PriorScorer {
    evidence: Option<tantivy::columnar::Column<u64>>,
    date: Option<tantivy::columnar::Column<i64>>,
    flags: Option<tantivy::columnar::Column<u64>>,
    priors: [f32; 8],
    params: RankingParams,
    today: i64,
}

impl PriorScorer {
    fn new(seg: &SegmentReader, params: &RankingParams, today: i64) -> Self {
        let ff = seg.fast_fields();
        PriorScorer {
            evidence: ff.u64("evidence").ok(),
            date: ff.i64("date").ok(),
            flags: ff.u64("flags").ok(),
            priors: params.evidence.as_array(),
            params: params.clone(),
            today,
        }
    }

    /// (evidence prior, recency, trust, date in days).
    fn parts(&self, doc: tantivy::DocId) -> (f32, f32, f32, Option<i64>) {
        let ev = self
            .evidence
            .as_ref()
            .and_then(|c| c.first(doc))
            .and_then(|o| self.priors.get(o as usize).copied())
            .unwrap_or(1.0);
        let date = self
            .date
            .as_ref()
            .and_then(|c| c.first(doc))
            .filter(|d| *d != i64::MIN);
        let rec = self.params.recency(date.map(|d| self.today - d));
        let trust = self
            .params
            .trust(self.flags.as_ref().and_then(|c| c.first(doc)).unwrap_or(0));
        (ev, rec, trust, date)
    }
}

/// Escapes text for HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    // The five characters are ASCII, so they are found byte by byte and the text between them
    // copied whole.
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        out.push_str(entity);
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out
}

/// The first `max` characters of `text`, cut at a word boundary, escaped.
fn lead(text: &str, max: usize) -> String {
    // The byte offset of character `max`: none when the text is no longer than that.
    let Some((end, _)) = text.char_indices().nth(max) else {
        return escape_html(text);
    };
    let cut = &text[..end];
    let cut = match cut.rfind(' ') {
        Some(i) if i > max / 2 => &cut[..i],
        _ => cut,
    };
    format!("{}…", escape_html(cut))
}

/// Adds records to an index; one per index at a time.
pub struct IndexBuilder {
    writer: IndexWriter,
    fields: Fields,
    encoder: Option<Arc<semantic::Encoder>>,
}

impl IndexBuilder {
    /// Normalises, validates and converts a batch of records on the rayon pool, then feeds them to
    /// the writer (whose own threads do the analysis). Records replace any earlier version with the
    /// same id when `replace` is set. Returns the records added and those rejected as invalid.
    pub fn add(
        &mut self,
        records: Vec<Record>,
        replace: bool,
    ) -> Result<(u64, Vec<(String, String)>), SearchError> {
        let fields = self.fields;
        let encoder = self.encoder.as_deref();
        let converted: Vec<Result<TantivyDocument, (String, String)>> = records
            .into_par_iter()
            .map(|mut r| {
                r.normalise();
                r.validate().map_err(|e| (r.id.clone(), e.to_string()))?;
                let mut doc = to_document(&fields, &r);
                if let Some(enc) = encoder {
                    // A record the model cannot embed is still indexed and found by its words;
                    // it is only left out of re-ranking by meaning.
                    match enc.embed(&crate::schema::embedding_text(&r)) {
                        Ok(v) => doc.add_bytes(fields.embedding, &semantic::quantize(&v)),
                        Err(e) => tracing::warn!(id = %r.id, error = %e, "record not embedded"),
                    }
                }
                Ok(doc)
            })
            .collect();
        let mut added = 0;
        let mut rejected = Vec::new();
        for c in converted {
            match c {
                Ok(doc) => {
                    if replace {
                        if let Some(id) = doc.get_first(fields.id).and_then(|v| v.as_str()) {
                            self.writer
                                .delete_term(Term::from_field_text(fields.id, id));
                        }
                    }
                    self.writer.add_document(doc)?;
                    added += 1;
                }
                Err(e) => rejected.push(e),
            }
        }
        Ok((added, rejected))
    }

    /// Deletes a record by id.
    pub fn delete(&mut self, id: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.fields.id, id));
    }

    /// Deletes every document (the start of an in-place full rebuild).
    pub fn delete_all(&mut self) -> Result<(), SearchError> {
        self.writer.delete_all_documents()?;
        Ok(())
    }

    /// Commits what was added, making it durable and visible to readers.
    pub fn commit(&mut self) -> Result<(), SearchError> {
        self.writer.commit()?;
        Ok(())
    }

    /// Drops uncommitted changes.
    pub fn rollback(&mut self) -> Result<(), SearchError> {
        self.writer.rollback()?;
        Ok(())
    }

    /// Commits, then waits for merges to finish so the directory is compact.
    pub fn finish(mut self) -> Result<(), SearchError> {
        self.writer.commit()?;
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

/// Adds the proximity `bonus` (times the record's prior, as the text score is multiplied) to the
/// scores of `hits`, then re-sorts them: best first, ties by address as tantivy orders them.
fn add_bonus(
    searcher: &Searcher,
    bonus: &crate::query::Proximity,
    tables: &std::collections::HashMap<tantivy::index::SegmentId, Arc<[f32]>>,
    hits: &mut [(f64, DocAddress)],
) -> Result<(), SearchError> {
    hits.sort_unstable_by_key(|&(_, addr)| addr);
    let addrs: Vec<DocAddress> = hits.iter().map(|&(_, a)| a).collect();
    crate::proximity::score_sorted(searcher, bonus, tables, &addrs, |i, s| hits[i].0 += s)?;
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(())
}

/// Records holding any of `terms` (a filter: scores are ignored). A union of term queries rather
/// than tantivy's `TermSetQuery`, which builds an FST of its terms for every search: 3% of a
/// served search under load, for the handful of evidence levels or sources a filter names.
fn any_of(terms: impl Iterator<Item = Term>) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = terms
        .map(|t| {
            let q: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::Basic));
            (Occur::Should, q)
        })
        .collect();
    if clauses.len() == 1 {
        clauses.remove(0).1
    } else {
        Box::new(BooleanQuery::new(clauses))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The escaping and the abstract's lead are those of the plain character-by-character
        /// definitions, on any text (multi-byte characters, the five escaped ones, spaces).
        #[test]
        fn escaping_and_leads_are_the_plain_definitions(
            text in "[a-z &<>\"'é😀]{0,80}",
            max in 0usize..60,
        ) {
            let plain_escape = |s: &str| -> String {
                s.chars()
                    .map(|c| match c {
                        '&' => "&amp;".to_string(),
                        '<' => "&lt;".to_string(),
                        '>' => "&gt;".to_string(),
                        '"' => "&quot;".to_string(),
                        '\'' => "&#39;".to_string(),
                        c => c.to_string(),
                    })
                    .collect()
            };
            proptest::prop_assert_eq!(escape_html(&text), plain_escape(&text));
            let plain_lead = if text.chars().count() <= max {
                plain_escape(&text)
            } else {
                let cut: String = text.chars().take(max).collect();
                let cut = match cut.rfind(' ') {
                    Some(i) if i > max / 2 => cut[..i].to_string(),
                    _ => cut,
                };
                format!("{}…", plain_escape(&cut))
            };
            proptest::prop_assert_eq!(lead(&text, max), plain_lead);
        }
    }

    fn index(params: RankingParams) -> SearchIndex {
        let index = SearchIndex::create_in_ram(params).unwrap();
        let mut b = index.builder(16 << 20).unwrap();
        let rec = |id: &str, title: &str, abs: &str| {
            let mut r = Record::new("t", id, title);
            r.abstract_text = Some(abs.into());
            r
        };
        b.add(
            vec![
                rec(
                    "1",
                    "Statins after myocardial infarction",
                    "Statin therapy lowers cholesterol and mortality after infarction.",
                ),
                rec(
                    "2",
                    "Heart attack in women",
                    "Symptoms of heart attack differ in women; statin use was low.",
                ),
                rec(
                    "3",
                    "Cholesterol lowering with statins",
                    "Statin trials show lower LDL cholesterol and fewer infarctions.",
                ),
                rec("4", "Asthma in children", "Inhaled steroids for asthma."),
            ],
            false,
        )
        .unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        index
    }

    fn ids(index: &SearchIndex, q: &str) -> Vec<String> {
        let req = SearchRequest {
            q: q.into(),
            limit: 10,
            ..Default::default()
        };
        let res = index.search(&req).unwrap();
        res.hits.into_iter().map(|h| h.record.id).collect()
    }

    #[test]
    fn feedback_expands_plain_queries_only() {
        let plain = index(RankingParams {
            prf_docs: 0,
            ..Default::default()
        });
        let mut found = ids(&plain, "statin");
        found.sort();
        assert_eq!(found, ["t:1", "t:2", "t:3"]);
        // Feedback from the records about statins brings in cholesterol and infarction, so the
        // records share words beyond the one typed; the asthma record stays out.
        let prf = index(RankingParams {
            prf_docs: 2,
            prf_terms: 5,
            ..Default::default()
        });
        let res = prf
            .search(&SearchRequest {
                q: "statin".into(),
                explain: true,
                ..Default::default()
            })
            .unwrap();
        let fb = res
            .query
            .expansions
            .iter()
            .find(|e| e.reason == "relevance feedback")
            .map(|e| e.variants.clone())
            .unwrap_or_default();
        assert!(fb.iter().any(|t| t == "cholesterol"), "{fb:?}");
        assert!(res.hits.iter().all(|h| h.record.id != "t:4"));
        assert!(res.hits.iter().all(|h| h.explain.is_some()));
        // Boolean and fielded searches are never expanded.
        for q in ["statin AND cholesterol", "title:statin", "\"heart attack\""] {
            let r = prf
                .search(&SearchRequest {
                    q: q.into(),
                    ..Default::default()
                })
                .unwrap();
            assert!(
                r.query
                    .expansions
                    .iter()
                    .all(|e| e.reason != "relevance feedback"),
                "{q}"
            );
        }
    }

    #[test]
    fn thesaurus_synonyms_find_records_without_the_typed_words() {
        let mut index = index(RankingParams {
            prf_docs: 0,
            ..Default::default()
        });
        assert_eq!(ids(&index, "heart attack"), ["t:2"]);
        index.set_thesaurus(Some(Thesaurus::from_groups([[
            "Myocardial Infarction",
            "Heart Attack",
        ]])));
        let found = ids(&index, "heart attack");
        assert_eq!(found[0], "t:2", "the typed words rank first");
        assert!(found.contains(&"t:1".to_string()), "{found:?}");
        index.set_thesaurus(None);
        assert_eq!(ids(&index, "heart attack"), ["t:2"]);
    }

    #[test]
    fn versions_never_stand_above_their_successor_on_a_page() {
        let hit = |id: &str, next: Option<&str>| {
            let mut r = Record::new("t", id, "Guideline");
            r.id = id.into();
            r.superseded_by = next.map(String::from);
            Hit {
                record: r,
                score: 1.0,
                title_html: String::new(),
                snippet_html: String::new(),
                reading_grade: None,
                explain: None,
                by_meaning_only: false,
            }
        };
        let check = |page: &[(&str, Option<&str>)], expect: &[&str]| {
            let mut hits: Vec<Hit> = page.iter().map(|(id, n)| hit(id, *n)).collect();
            order_versions(&mut hits);
            let ids: Vec<&str> = hits.iter().map(|h| h.record.id.as_str()).collect();
            assert_eq!(ids, expect, "{page:?}");
        };
        // A chain in the worst order comes out newest first; others keep their places.
        check(
            &[
                ("x", None),
                ("v1", Some("v2")),
                ("v2", Some("v3")),
                ("v3", None),
                ("y", None),
            ],
            &["x", "v3", "v2", "v1", "y"],
        );
        // Already in order, or the successor is on another page: nothing moves.
        check(&[("v2", None), ("v1", Some("v2"))], &["v2", "v1"]);
        check(&[("v1", Some("elsewhere")), ("y", None)], &["v1", "y"]);
        // The superseded version moves to just below its successor, not to the bottom.
        check(
            &[("v1", Some("v2")), ("a", None), ("v2", None), ("b", None)],
            &["a", "v2", "v1", "b"],
        );
        // A cycle in bad data ends.
        let mut cyc: Vec<Hit> = vec![hit("a", Some("b")), hit("b", Some("a"))];
        order_versions(&mut cyc);
        assert_eq!(cyc.len(), 2);
        let mut empty: Vec<Hit> = Vec::new();
        order_versions(&mut empty);
    }

    #[test]
    fn prior_tables_score_as_the_explained_priors() {
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        let mut b = index.builder(16 << 20).unwrap();
        let levels = [
            EvidenceLevel::Guideline,
            EvidenceLevel::Rct,
            EvidenceLevel::CaseReport,
        ];
        let records: Vec<Record> = (0..30)
            .map(|i| {
                let mut r = Record::new("t", &i.to_string(), "Sepsis fluids");
                r.abstract_text = Some(format!("sepsis {}", "fluids ".repeat(i % 5 + 1)));
                r.evidence_level = Some(levels[i % 3]);
                r.published = (i % 4 != 0).then(|| model::PartialDate::year(1990 + i as i32));
                r.retracted = i % 7 == 0;
                r.superseded_by = (i % 11 == 0).then(|| "t:1".to_string());
                r
            })
            .collect();
        b.add(records, false).unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        let scores = |index: &SearchIndex, explain: bool| -> Vec<(String, f32)> {
            let res = index
                .search(&SearchRequest {
                    q: "sepsis fluids".into(),
                    limit: 30,
                    explain,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(res.total, 30);
            let mut v: Vec<(String, f32)> = res
                .hits
                .into_iter()
                .map(|h| (h.record.id, h.score))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        // The score from the table equals the explained product, record by record.
        let ranked = scores(&index, false);
        let explained = scores(&index, true);
        for ((id, a), (_, b)) in ranked.iter().zip(&explained) {
            assert!((a - b).abs() <= 1e-4 * b.abs(), "{id}: {a} vs {b}");
        }
        // New parameters drop the tables: a retraction weighed differently changes the score.
        let mut index = index;
        let before = ranked.iter().find(|(id, _)| id == "t:7").unwrap().1;
        let mut params = RankingParams::default();
        params.retracted_factor /= 2.0;
        index.set_params(params);
        let after = scores(&index, false);
        let after7 = after.iter().find(|(id, _)| id == "t:7").unwrap().1;
        assert!(
            (after7 - before / 2.0).abs() <= 1e-4 * before,
            "{before} → {after7}"
        );
    }

    #[test]
    fn proximity_window_reranks_the_best_and_pages_agree() {
        // 150 records with the same words and lengths, so every text score ties without the
        // bonus; the even ones have the two words side by side.
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        let mut b = index.builder(16 << 20).unwrap();
        let filler = "patients ".repeat(12);
        let records: Vec<Record> = (0..150)
            .map(|i| {
                let mut r = Record::new("t", &format!("{i:03}"), "Record");
                r.abstract_text = Some(if i % 2 == 0 {
                    format!("sepsis fluids {filler}")
                } else {
                    format!("sepsis {filler} fluids")
                });
                r
            })
            .collect();
        b.add(records, false).unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        let page = |offset: usize, limit: usize, explain: bool| {
            index
                .search(&SearchRequest {
                    q: "sepsis fluids".into(),
                    offset,
                    limit,
                    explain,
                    ..Default::default()
                })
                .unwrap()
        };
        let all = page(0, 150, true);
        assert_eq!(all.total, 150);
        let ids: Vec<usize> = all
            .hits
            .iter()
            .map(|h| h.record.id[2..].parse().unwrap())
            .collect();
        // The window is the first PROXIMITY_WINDOW records by text score (ties in index
        // order): its adjacent ones first, then its others, then the rest without the bonus, in
        // order.
        let w = PROXIMITY_WINDOW;
        assert!(w.is_multiple_of(2) && w < 150);
        let mut expected: Vec<usize> = (0..w).step_by(2).collect();
        expected.extend((1..w).step_by(2));
        expected.extend(w..150);
        assert_eq!(ids, expected);
        // Every score is the explained one: with the bonus inside the window, without after.
        for h in &all.hits {
            let ex = h.explain.as_ref().unwrap();
            assert!(
                (h.score - ex.total).abs() <= 1e-4 * ex.total,
                "{} vs {}",
                h.score,
                ex.total
            );
        }
        let (first_apart, after) = (w / 2, w + 10);
        assert!(all.hits[0].score > all.hits[first_apart].score);
        let (a, b) = (all.hits[first_apart].score, all.hits[after].score);
        assert!((a - b).abs() <= 1e-4 * a);
        // Pages of any size, explained or not, cut the same order.
        for size in [7, 10, 33] {
            let mut paged = Vec::new();
            let mut offset = 0;
            while offset < 150 {
                let p = page(offset, size, false);
                paged.extend(
                    p.hits
                        .iter()
                        .map(|h| h.record.id[2..].parse::<usize>().unwrap()),
                );
                offset += size;
            }
            assert_eq!(paged, expected, "pages of {size}");
        }
    }

    /// An index of 60 records in three commits, three segments.
    fn three_segments() -> SearchIndex {
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        for part in 0..3 {
            let mut b = index.builder(16 << 20).unwrap();
            let records: Vec<Record> = (0..20)
                .map(|i| {
                    let n = part * 20 + i;
                    let mut r = Record::new("t", &n.to_string(), "Sepsis and fluids");
                    r.abstract_text =
                        Some(format!("sepsis {} fluids", "resuscitation ".repeat(n % 7)));
                    r
                })
                .collect();
            b.add(records, false).unwrap();
            b.finish().unwrap();
        }
        index.reload().unwrap();
        assert_eq!(index.segments(), 3);
        index
    }

    /// Each hit carries its own record's reading grade, as stored at indexing time, when the
    /// grade columns are cached per segment: across a commit that adds a segment (whose doc ids
    /// repeat the first's) and a compaction that replaces both.
    #[test]
    fn hits_carry_their_segments_reading_grades() {
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        let plain = "Patients with sepsis were treated with fluids and antibiotics in hospital. \
            Most of them recovered within a week after the infection had cleared.";
        let hard = "Pharmacokinetic heterogeneity complicates individualised antimicrobial \
            dosing considerations, necessitating therapeutic monitoring, physiologically \
            sophisticated modelling and interdisciplinary pharmacological collaboration \
            throughout hospitalisation.";
        let add = |id: &str, abs: &str| {
            let mut b = index.builder(16 << 20).unwrap();
            let mut r = Record::new("t", id, "Sepsis");
            r.abstract_text = Some(abs.into());
            b.add(vec![r], false).unwrap();
            b.finish().unwrap();
            index.reload().unwrap();
        };
        let stored = |abs: &str| {
            crate::readability::flesch_kincaid_grade("Sepsis", abs)
                .map(|g| crate::readability::grade_tenths(g) as f32 / 10.0)
        };
        // The hits for "sepsis" under `filters`, by id, with their grades.
        let graded = |index: &SearchIndex, filters: Filters| -> Vec<(String, Option<f32>)> {
            let res = index
                .search(&SearchRequest {
                    q: "sepsis".into(),
                    limit: 10,
                    filters,
                    ..Default::default()
                })
                .unwrap();
            let mut v: Vec<_> = res
                .hits
                .into_iter()
                .map(|h| (h.record.id, h.reading_grade))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let grades = |index: &SearchIndex| graded(index, Filters::default());
        add("a", plain);
        let a = stored(plain);
        assert!(a.is_some());
        assert_eq!(grades(&index), vec![("t:a".to_string(), a)]);
        add("b", hard);
        let b = stored(hard);
        assert!(b.is_some() && b != a, "{a:?} {b:?}");
        assert_eq!(index.segments(), 2);
        let both = vec![("t:a".to_string(), a), ("t:b".to_string(), b)];
        assert_eq!(grades(&index), both);
        index.compact().unwrap();
        assert_eq!(index.segments(), 1);
        assert_eq!(grades(&index), both);
        // Too few words to judge: no grade.
        add("c", "Short.");
        assert_eq!(grades(&index)[2], ("t:c".to_string(), None));
        // The easiest text has grade 0 by the formula; it still has a grade (0.1, the least
        // stored) and passes a reading-level filter.
        let easy = "We ate. We ran. We sat. We slept. I read. I wrote. You swam. You sang. \
            They ate. They ran.";
        assert!(crate::readability::flesch_kincaid_grade("Sepsis", easy).is_some_and(|g| g <= 0.0));
        add("e", easy);
        assert_eq!(grades(&index)[3], ("t:e".to_string(), Some(0.1)));
        let up_to_8 = Filters {
            max_reading_grade: Some(8.0),
            ..Default::default()
        };
        let ids: Vec<String> = graded(&index, up_to_8)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["t:a", "t:e"]);
    }

    /// A search's total, its hits (id and score) and its facets.
    fn page(index: &SearchIndex, req: &SearchRequest) -> (u64, Vec<(String, f32)>, Option<Facets>) {
        let r = index.search(req).unwrap();
        let hits = r
            .hits
            .iter()
            .map(|h| (h.record.id.clone(), h.score))
            .collect();
        (r.total, hits, r.facets)
    }

    #[test]
    fn compact_merges_to_one_segment_and_keeps_every_answer() {
        let index = three_segments();
        let answer = |index: &SearchIndex| {
            page(
                index,
                &SearchRequest {
                    q: "sepsis fluids resuscitation".into(),
                    limit: 100,
                    ..Default::default()
                },
            )
        };
        let before = answer(&index);
        assert_eq!(before.0, 60);
        assert_eq!(index.compact().unwrap(), 3);
        assert_eq!(index.segments(), 1);
        assert_eq!(index.num_docs(), 60);
        // Same total, facets, records, order and scores (BM25 statistics are index-wide).
        let after = answer(&index);
        assert_eq!(before.0, after.0);
        assert_eq!(before.2, after.2);
        assert_eq!(before.1.len(), after.1.len());
        for ((a, sa), (b, sb)) in before.1.iter().zip(&after.1) {
            assert_eq!(a, b);
            assert!((sa - sb).abs() <= 1e-5 * sa.abs(), "{a}: {sa} vs {sb}");
        }
        // A deletion leaves one segment with a deleted document: compacting drops it.
        let mut b = index.builder(16 << 20).unwrap();
        b.delete("t:5");
        b.finish().unwrap();
        index.reload().unwrap();
        assert_eq!(index.segments(), 1);
        assert_eq!(index.compact().unwrap(), 1);
        let metas = index.index.searchable_segment_metas().unwrap();
        assert_eq!(metas.len(), 1);
        assert!(!metas[0].has_deletes());
        assert_eq!(metas[0].max_doc(), 59);
        assert!(!answer(&index).1.iter().any(|(id, _)| id == "t:5"));
        // Nothing left to do: no merge, no commit.
        assert_eq!(index.compact().unwrap(), 1);
    }

    /// Five evidence levels from the top to the bottom of the hierarchy.
    const FIVE_LEVELS: [EvidenceLevel; 5] = [
        EvidenceLevel::Guideline,
        EvidenceLevel::SystematicReview,
        EvidenceLevel::Rct,
        EvidenceLevel::Observational,
        EvidenceLevel::CaseReport,
    ];

    /// A search split into halves of each segment's doc ids answers exactly as one pass does:
    /// the page and its order, the scores, the total and the facet counts, over two segments
    /// with deleted documents, tied scores, filters, phrases, exclusions, dates and deep pages.
    #[test]
    fn split_searches_answer_as_one_pass() {
        let words = [
            "sepsis",
            "fluids",
            "septic shock",
            "children",
            "lactate",
            "antibiotics",
        ];
        let levels = FIVE_LEVELS;
        let mut index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        for part in 0..2 {
            let mut b = index.builder(16 << 20).unwrap();
            let records: Vec<Record> = (0..300)
                .map(|i| {
                    let n = part * 300 + i;
                    // Every seventh record repeats the one before (tied scores across the halves).
                    let k = if n % 7 == 0 { n.max(1) - 1 } else { n };
                    let title = format!("{} in {}", words[k % 6], words[(k / 6) % 6]);
                    let mut r = Record::new("t", &n.to_string(), &title);
                    // Zinc only in the second half of each segment: a split's first half has
                    // nothing, and its second starts past the middle.
                    let zinc = if i >= 200 { " zinc" } else { "" };
                    r.abstract_text = Some(format!(
                        "{} {} and {}{zinc}",
                        words[(k * 5) % 6],
                        "resuscitation ".repeat(k % 5),
                        words[(k / 3) % 6]
                    ));
                    r.evidence_level = Some(levels[n % 5]);
                    r.published = Some(model::PartialDate::year(2000 + (n % 25) as i32));
                    r
                })
                .collect();
            b.add(records, false).unwrap();
            // Deleted documents in both halves of the first segment, and in the second.
            if part == 1 {
                for n in [3, 149, 152, 299, 310, 449, 598] {
                    b.delete(&format!("t:{n}"));
                }
            }
            b.finish().unwrap();
        }
        index.reload().unwrap();
        assert_eq!(index.segments(), 2);
        assert_eq!(index.num_docs(), 593);

        let requests = [
            ("sepsis fluids", Filters::default(), Sort::Relevance, 0, 100),
            ("sepsis", Filters::default(), Sort::Relevance, 0, 10),
            ("zinc", Filters::default(), Sort::Relevance, 0, 100),
            (
                "resuscitation children",
                Filters::default(),
                Sort::Relevance,
                20,
                10,
            ),
            (
                "\"septic shock\" lactate",
                Filters::default(),
                Sort::Relevance,
                0,
                50,
            ),
            (
                "antibiotics -children",
                Filters::default(),
                Sort::Relevance,
                0,
                100,
            ),
            (
                "title:sepsis OR lactate",
                Filters::default(),
                Sort::Relevance,
                0,
                30,
            ),
            ("fluids", Filters::default(), Sort::Date, 0, 100),
            (
                "sepsis fluids lactate",
                Filters {
                    evidence_levels: vec![EvidenceLevel::Rct, EvidenceLevel::Guideline],
                    year_from: Some(2010),
                    ..Default::default()
                },
                Sort::Relevance,
                0,
                100,
            ),
            ("", Filters::default(), Sort::Relevance, 0, 100),
        ];
        let answer = |index: &SearchIndex, req: &SearchRequest| {
            let r = index.search(req).unwrap();
            let hits: Vec<(String, u32)> = r
                .hits
                .iter()
                .map(|h| (h.record.id.clone(), h.score.to_bits()))
                .collect();
            (r.total, hits, r.facets)
        };
        for (q, filters, sort, offset, limit) in requests {
            let req = SearchRequest {
                q: q.into(),
                filters,
                sort,
                offset,
                limit,
                facets: true,
                ..Default::default()
            };
            index.split = Split::Never;
            let one_pass = answer(&index, &req);
            index.split = Split::Always;
            let splits = split::splits();
            let reads = split::shared_reads();
            let split = answer(&index, &req);
            assert!(split::splits() >= splits + 2, "{q}: not split");
            if split.1.len() >= MIN_SHARED_READS {
                assert!(
                    split::shared_reads() > reads,
                    "{q}: records not read on both threads"
                );
            }
            assert!(one_pass.0 > 0 && !one_pass.1.is_empty(), "{q}: no hits");
            assert_eq!(one_pass, split, "{q}");
            for (id, _) in &split.1 {
                let n: usize = id.trim_start_matches("t:").parse().unwrap();
                assert!(
                    ![3, 149, 152, 299, 310, 449, 598].contains(&n),
                    "{q}: deleted {id}"
                );
            }
        }
    }

    #[test]
    fn early_reads_give_the_page_whatever_reorders_it() {
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        let mut b = index.builder(16 << 20).unwrap();
        let records: Vec<Record> = (0..40)
            .map(|n| Record::new("t", &n.to_string(), &format!("record {n}")))
            .collect();
        b.add(records, false).unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        let searcher = index.searcher();
        let grades = index.grade_columns(&searcher);
        let field = index.fields.record;
        let all: Vec<DocAddress> = (0..40).map(|d| DocAddress::new(0, d)).collect();
        let candidates: Vec<(f64, DocAddress)> = all[..20].iter().map(|a| (1.0, *a)).collect();
        let handoff = crate::handoff::Handoff::get().expect("a helper thread");
        let pages: [Vec<DocAddress>; 4] = [
            // The best candidates, in order: what the helper reads first.
            all[..10].to_vec(),
            // Reordered, with candidates from the bottom of the list and one that is not a
            // candidate at all.
            vec![all[19], all[0], all[7], all[33], all[15], all[3]],
            // None of the first candidates.
            all[12..20].iter().rev().copied().collect(),
            Vec::new(),
        ];
        for page in pages {
            for pause in [0, 200] {
                let early = EarlyReads::start(handoff, &searcher, field, &candidates, &grades);
                // Without a pause the searching thread takes most records; with one, the helper.
                std::thread::sleep(std::time::Duration::from_micros(pause));
                let got = early.finish(&searcher, field, &page, &grades).unwrap();
                let want = read_records(&searcher, field, &page, &grades).unwrap();
                let ids = |r: &[(Record, Option<f32>)]| -> Vec<String> {
                    r.iter().map(|(rec, _)| rec.id.clone()).collect()
                };
                assert_eq!(ids(&got), ids(&want), "page {page:?}, pause {pause} µs");
            }
        }
    }

    /// 12,000 records compacted into one segment (three windows of `union::WINDOW`), then 500
    /// more in a second segment and deletions in both; words of varied frequency, records of
    /// every evidence level and many years.
    fn word_corpus() -> SearchIndex {
        let words = [
            "sepsis",
            "fluids",
            "lactate",
            "children",
            "antibiotics",
            "shock",
            "insulin",
            "stroke",
            "aspirin",
            "asthma",
            "steroids",
            "zinc",
            "oxygen",
            "delirium",
            "falls",
            "dementia",
            "fracture",
            "anaemia",
            "iron",
            "vitamin",
        ];
        let levels = FIVE_LEVELS;
        // A fixed linear congruential sequence: the same corpus every run.
        let mut x: u64 = 42;
        let mut next = |n: usize| -> usize {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as usize) % n
        };
        // Zipf-like: low word indexes far more often than high ones.
        let word =
            |next: &mut dyn FnMut(usize) -> usize| words[next(words.len()).min(next(words.len()))];
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        for (part, size) in [(0, 12_000), (1, 500)] {
            let mut b = index.builder(32 << 20).unwrap();
            let records: Vec<Record> = (0..size)
                .map(|i| {
                    let n = part * 12_000 + i;
                    let title = format!("{} and {}", word(&mut next), word(&mut next));
                    let mut r = Record::new("t", &n.to_string(), &title);
                    let len = 3 + next(40);
                    let body: Vec<&str> = (0..len).map(|_| word(&mut next)).collect();
                    r.abstract_text = Some(body.join(" "));
                    r.evidence_level = Some(levels[next(5)]);
                    r.published = Some(model::PartialDate::year(1990 + next(36) as i32));
                    r
                })
                .collect();
            b.add(records, false).unwrap();
            if part == 1 {
                for n in [7, 4095, 4096, 5999, 6000, 9000, 11_999, 12_003] {
                    b.delete(&format!("t:{n}"));
                }
            }
            b.finish().unwrap();
            if part == 0 {
                index.reload().unwrap();
                index.compact().unwrap();
            }
        }
        index.reload().unwrap();
        let sizes: Vec<u32> = index
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .map(|s| s.max_doc())
            .collect();
        assert!(sizes.contains(&12_000) && sizes.len() >= 2, "{sizes:?}");
        assert_eq!(index.num_docs(), 12_492);
        index
    }

    #[test]
    fn proximity_bonus_is_tantivys() {
        // Every record of the word corpus, through tantivy's phrase scorers and through
        // `proximity::score_sorted`: the same records get a bonus, with the same score to the
        // bit, for phrases of two to four words (repeated ones, gaps), with and without slop.
        let index = word_corpus();
        let searcher = index.reader.searcher();
        let addrs: Vec<DocAddress> = searcher
            .segment_readers()
            .iter()
            .enumerate()
            .flat_map(|(ord, r)| (0..r.max_doc()).map(move |d| DocAddress::new(ord as u32, d)))
            .collect();
        let mut priors = std::collections::HashMap::new();
        for r in searcher.segment_readers() {
            let table: Vec<f32> = (0..r.max_doc())
                .map(|d| 0.9 + (d % 7) as f32 * 0.05)
                .collect();
            priors.insert(r.segment_id(), Arc::<[f32]>::from(table));
        }
        let mut bio = crate::analysis::bio_analyzer();
        let mut stem = |w: &str| {
            let mut out = String::new();
            bio.token_stream(w).process(&mut |t| out = t.text.clone());
            out
        };
        let phrases: [&[(usize, &str)]; 6] = [
            &[(0, "sepsis"), (1, "fluids")],
            &[(0, "zinc"), (2, "oxygen")],
            &[(0, "sepsis"), (1, "fluids"), (2, "lactate")],
            &[(0, "children"), (1, "sepsis"), (2, "children")],
            &[(0, "sepsis"), (1, "sepsis")],
            &[(0, "fluids"), (1, "shock"), (3, "sepsis"), (4, "children")],
        ];
        for words in phrases {
            for slop in [0, 1, 3, 8] {
                let proximity = crate::query::Proximity {
                    phrases: [index.fields.title, index.fields.abstract_text]
                        .into_iter()
                        .map(|f| {
                            words
                                .iter()
                                .map(|&(o, w)| (o, Term::from_field_text(f, &stem(w))))
                                .collect()
                        })
                        .collect(),
                    slop,
                    boost: 1.7,
                };
                let scoring = tantivy::query::EnableScoring::enabled_from_searcher(&searcher);
                let weight = proximity.weight(scoring).unwrap();
                let mut tantivy = Vec::new();
                crate::meaning::score_sorted(&searcher, &*weight, &priors, &addrs, |i, s| {
                    tantivy.push((i, s))
                })
                .unwrap();
                let mut ours = Vec::new();
                crate::proximity::score_sorted(&searcher, &proximity, &priors, &addrs, |i, s| {
                    ours.push((i, s))
                })
                .unwrap();
                let what = format!("{words:?} within {slop}");
                assert_eq!(ours, tantivy, "{what}");
                let distinct: std::collections::BTreeSet<u64> =
                    ours.iter().map(|(_, s)| s.to_bits()).collect();
                assert!(
                    ours.len() >= 20 && distinct.len() >= 5,
                    "{what}: {}",
                    ours.len()
                );
            }
        }
    }

    #[test]
    fn word_searches_skip_scores_but_answer_as_tantivy() {
        let mut index = word_corpus();
        index.split = Split::Never;
        let queries = [
            "sepsis fluids",
            "vitamin",
            "zinc oxygen delirium",
            "iron anaemia falls fracture",
            "children with sepsis given fluids and antibiotics for shock in the emergency room",
        ];
        let filtered = Filters {
            evidence_levels: vec![EvidenceLevel::Rct, EvidenceLevel::Guideline],
            year_from: Some(2000),
            ..Default::default()
        };
        for q in queries {
            for (offset, limit, facets, filters) in [
                (0, 10, true, Filters::default()),
                (0, 100, false, Filters::default()),
                (150, 20, true, Filters::default()),
                (0, 10, true, filtered.clone()),
                (30, 100, false, filtered.clone()),
            ] {
                let req = SearchRequest {
                    q: q.into(),
                    offset,
                    limit,
                    facets,
                    filters,
                    ..Default::default()
                };
                let what = format!("{q:?} from {offset}, {limit}, {:?}", req.filters);
                index.unions = Unions::Tantivy;
                let before = crate::union::searches();
                let tantivy = page(&index, &req);
                assert_eq!(crate::union::searches(), before, "{what}");
                index.unions = Unions::Unpruned;
                let unpruned = page(&index, &req);
                index.unions = Unions::Pruned;
                let pruned = page(&index, &req);
                // Split into two halves, each with its own page: the same answer.
                index.split = Split::Always;
                let splits = split::splits();
                assert_eq!(page(&index, &req), pruned, "{what}: split");
                assert!(split::splits() >= splits + 2, "{what}: not split");
                index.split = Split::Never;
                assert_eq!(
                    crate::union::searches(),
                    before + 3,
                    "{what}: not a word union"
                );
                assert!(tantivy.0 > 150, "{what}: {} matches", tantivy.0);
                assert_eq!(tantivy.1.len(), limit, "{what}");
                // Pruning changes nothing, to the bit.
                assert_eq!(pruned, unpruned, "{what}");
                // tantivy counts and tallies the same matches, and ranks them the same way: the
                // scores differ at most in rounding (tantivy sums in f32), so records swap
                // places only where their scores tie to that precision.
                assert_eq!(pruned.0, tantivy.0, "{what}");
                assert_eq!(pruned.2, tantivy.2, "{what}");
                let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(b.abs());
                for (i, ((id, s), (tid, ts))) in pruned.1.iter().zip(&tantivy.1).enumerate() {
                    assert!(close(*s, *ts), "{what}: {i}: {s} against {ts}");
                    if id != tid {
                        let tied = tantivy.1.iter().any(|(o, os)| o == id && close(*os, *s));
                        assert!(tied, "{what}: {i}: {id} where tantivy has {tid}");
                    }
                }
            }
        }
        // Not a union of words: phrases, exclusions and date order go through tantivy.
        for req in [
            SearchRequest {
                q: "\"sepsis fluids\"".into(),
                ..Default::default()
            },
            SearchRequest {
                q: "sepsis -fluids".into(),
                ..Default::default()
            },
            SearchRequest {
                q: "sepsis fluids".into(),
                sort: Sort::Date,
                ..Default::default()
            },
        ] {
            let before = crate::union::searches();
            assert!(index.search(&req).unwrap().total > 0, "{}", req.q);
            assert_eq!(crate::union::searches(), before, "{}", req.q);
        }
    }

    #[test]
    fn compact_keeps_the_suggestion_vocabulary_and_a_change_rebuilds_it() {
        let index = Arc::new(three_segments());
        let vocab = index.suggester().unwrap();
        assert_eq!(vocab.docs(), 60);
        // One built from the commit before the merge but kept after it (a build that was still
        // running while the compaction ran).
        let late = Arc::new(Suggester::build(&index).unwrap());
        assert_eq!(index.compact().unwrap(), 3);
        assert_eq!(index.segments(), 1);
        // The merged commit holds the same records: the same vocabulary, not a rebuild.
        assert!(Arc::ptr_eq(&vocab, &index.suggester().unwrap()));
        assert!(Arc::ptr_eq(&vocab, &index.suggester_nonblocking().unwrap()));
        index.keep_suggester(Arc::clone(&late));
        assert!(Arc::ptr_eq(&late, &index.suggester().unwrap()));
        // A real change does rebuild it.
        let mut b = index.builder(16 << 20).unwrap();
        b.delete("t:5");
        b.finish().unwrap();
        index.reload().unwrap();
        let changed = index.suggester().unwrap();
        assert!(!Arc::ptr_eq(&late, &changed));
        assert_eq!(changed.docs(), 59);
        // Compacting that away (the deleted record dropped) keeps the 59-record vocabulary.
        assert_eq!(index.compact().unwrap(), 1);
        assert!(Arc::ptr_eq(&changed, &index.suggester().unwrap()));
    }
}

//! Full index builds into a new generation: stream records in batches, convert them on rayon, feed
//! one writer, validate the result (document count, a smoke query), merge it into one segment,
//! then switch the live pointer.
//! A failed, cancelled or interrupted build never goes live.

use std::time::Instant;

use model::Record;
use search::{Generations, RankingParams, SearchIndex, SearchRequest};
use serde::Serialize;

use crate::progress::Progress;

/// Settings of a build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Indexing memory budget in bytes.
    pub memory_bytes: usize,
    /// Complete generations to keep, live included.
    pub keep_generations: usize,
    /// Merge the new generation into one segment before it goes live (see
    /// `IndexConfig::compact_after_build`).
    pub compact: bool,
    /// The sentence-embedding model (`[index] semantic_model`): each record is embedded as it
    /// is indexed, for re-ranking by meaning. `None` builds a text-only index.
    pub encoder: Option<std::sync::Arc<search::semantic::Encoder>>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            memory_bytes: crate::config::default_memory_mb() << 20,
            keep_generations: 3,
            compact: true,
            encoder: None,
        }
    }
}

/// What a build did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BuildReport {
    /// The generation built and made live.
    pub generation: u64,
    /// Documents in it.
    pub documents: u64,
    /// Records rejected as invalid, with the reason.
    pub rejected: Vec<(String, String)>,
    /// Wall time of the indexing, in seconds (from the first record to a validated index; the
    /// merge is timed apart, as `compact`).
    pub seconds: f64,
    /// Records indexed per second over `seconds`.
    pub records_per_s: f64,
    /// The merge into one segment before going live, when asked for and done.
    pub compact: Option<CompactReport>,
    /// Why that merge failed: the generation went live unmerged, whole and valid.
    pub compact_error: Option<String>,
}

/// What a compaction did (see [`compact`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CompactReport {
    /// Segments before the merge.
    pub segments_before: usize,
    /// Segments after it (one, or none for an empty index).
    pub segments: usize,
    /// Documents in the index.
    pub documents: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Merges `index`'s segments into one, dropping deleted documents ([`SearchIndex::compact`]),
/// and says what it did. Searches go on meanwhile; it fails while another writer holds the
/// index's lock.
pub fn compact(index: &SearchIndex) -> Result<CompactReport, search::SearchError> {
    let started = Instant::now();
    let segments_before = index.compact()?;
    Ok(CompactReport {
        segments_before,
        segments: index.segments(),
        documents: index.num_docs(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The search core failed.
    #[error(transparent)]
    Search(#[from] search::SearchError),
    /// Reading the records failed.
    #[error("reading records failed: {0}")]
    Source(String),
    /// The built generation did not validate.
    #[error("validation failed: {0}")]
    Invalid(String),
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Builds a new generation from batches of records, merges it into one segment when
/// `opts.compact`, and makes it live.
///
/// `batches` yields record batches (a store stream, a file, the starter corpus); `expected`, when
/// known, is checked against the document count.
pub fn build_generation<I, E>(
    gens: &Generations,
    params: &RankingParams,
    opts: &BuildOptions,
    batches: I,
    expected: Option<u64>,
    progress: &Progress,
) -> Result<BuildReport, BuildError>
where
    I: IntoIterator<Item = Result<Vec<Record>, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    gens.clean_incomplete()?;
    let (generation, dir) = gens.begin()?;
    let result = (|| {
        let mut index = SearchIndex::create(&dir, params.clone())?;
        index.set_encoder(opts.encoder.clone());
        let mut builder = index.builder(opts.memory_bytes)?;
        progress.phase("build", expected.unwrap_or(0));
        let mut added = 0u64;
        let mut rejected = Vec::new();
        for batch in batches {
            if progress.is_cancelled() {
                return Err(BuildError::Cancelled);
            }
            let batch = batch.map_err(|e| BuildError::Source(e.to_string()))?;
            let n = batch.len() as u64;
            let (a, mut r) = builder.add(batch, false)?;
            added += a;
            rejected.append(&mut r);
            progress.advance(n);
        }
        if progress.is_cancelled() {
            return Err(BuildError::Cancelled);
        }
        progress.phase("commit", 0);
        builder.finish()?;
        index.reload()?;
        progress.phase("validate", 0);
        let docs = index.num_docs();
        if docs != added {
            return Err(BuildError::Invalid(format!(
                "{docs} documents in the index, {added} added"
            )));
        }
        if let Some(expected) = expected {
            if docs + rejected.len() as u64 != expected {
                return Err(BuildError::Invalid(format!(
                    "{docs} documents and {} rejected, but the source holds {expected}",
                    rejected.len()
                )));
            }
        }
        let smoke = index.search(&SearchRequest {
            q: "*".into(),
            limit: 1,
            facets: false,
            highlight: false,
            ..Default::default()
        })?;
        if smoke.total != docs || (docs > 0 && smoke.hits.is_empty()) {
            return Err(BuildError::Invalid(format!(
                "smoke query found {} of {docs} documents",
                smoke.total
            )));
        }
        let seconds = started.elapsed().as_secs_f64();
        // One segment to search instead of one per indexing thread and budget-full: the
        // generation is not live yet, so searches stay on the previous one meanwhile, and the
        // server builds its suggestion vocabulary once, from the merged index.
        let compact = if opts.compact {
            progress.phase("compact", 0);
            Some(compact(&index).map_err(|e| e.to_string()))
        } else {
            None
        };
        // A cancel that came during the commit, the checks or the merge still stops it going
        // live (the job reports it cancelled).
        if progress.is_cancelled() {
            return Err(BuildError::Cancelled);
        }
        Ok((docs, rejected, seconds, compact))
    })();
    match result {
        Ok((documents, rejected, seconds, compacted)) => {
            let (compact, compact_error) = match compacted {
                Some(Ok(c)) => (Some(c), None),
                Some(Err(e)) => {
                    tracing::warn!(generation, error = %e, "merging the new generation's segments failed; it goes live unmerged");
                    (None, Some(e))
                }
                None => (None, None),
            };
            progress.phase("swap", 0);
            gens.complete(generation)?;
            gens.promote(generation)?;
            gens.prune(opts.keep_generations)?;
            Ok(BuildReport {
                generation,
                documents,
                rejected,
                seconds,
                records_per_s: if seconds > 0.0 {
                    documents as f64 / seconds
                } else {
                    0.0
                },
                compact,
                compact_error,
            })
        }
        Err(e) => {
            // The half-built generation is never promoted; remove it now rather than at the next
            // build.
            let _ = std::fs::remove_dir_all(gens.path(generation));
            Err(e)
        }
    }
}

//! Full index builds into a new generation: stream records in batches, convert them on rayon, feed
//! one writer, validate the result (document count, a smoke query), then switch the live pointer.
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
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            memory_bytes: crate::config::default_memory_mb() << 20,
            keep_generations: 3,
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
    /// Wall time in seconds.
    pub seconds: f64,
    /// Records per second.
    pub records_per_s: f64,
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

/// Builds a new generation from batches of records and makes it live.
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
        let index = SearchIndex::create(&dir, params.clone())?;
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
        Ok((docs, rejected))
    })();
    match result {
        Ok((documents, rejected)) => {
            progress.phase("swap", 0);
            gens.complete(generation)?;
            gens.promote(generation)?;
            gens.prune(opts.keep_generations)?;
            let seconds = started.elapsed().as_secs_f64();
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

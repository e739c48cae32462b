//! Federated search: `GET /api/v1/search?...&federate=name1,name2|all|none`.
//!
//! When a search fans out (the `federate` parameter, else `[federation] default`, else the sources
//! marked `federated = true`), the local search and the remote searches run at once; the remote
//! answers come back within `[federation] timeout_ms` whatever the sources do. Then, on the
//! search threads, remote records are scored by the local ranking model and fused with the local
//! hits into one ranking, duplicates merged (see the `federation` crate).
//!
//! Paging: page `p` of `n` fuses the first `p × n` local hits with the first
//! `RANK_FLOOR × p × n` records of each source (`federation::merge::remote_depth`) and returns
//! positions `(p − 1) × n` to `p × n`. Remote answers are cached for five minutes, so the pages of
//! one query are cut from the same remote answers, and the fusion never moves a hit across a page
//! boundary when deeper lists are merged.
//!
//! What `total` and `facets` count, in a federated answer: every local match (as without
//! federation), plus each remote record in the fused lists that no local hit in them duplicates,
//! counted once under its remote source. Remote records merged into a local hit add nothing (the
//! local record is already counted). The sources' own totals are in `sources[].total`.
//!
//! A search that fans out to no source takes the local path unchanged and never touches a remote
//! client.

use std::time::Instant;

use federation::merge::{remote_depth, CALIBRATION_HITS};
use federation::{
    add_to_facets, merge, Fusion, Highlighter, MergeInput, RemoteQuery, SourceReport, SourceStatus,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::params::SearchParams;
use crate::state::AppState;

/// One source's part of a search.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceOut {
    /// Source name; `local` for the local index.
    pub name: String,
    /// `ok`, `timeout`, `error` or `skipped`.
    pub status: String,
    /// Time spent on it, in milliseconds.
    pub took_ms: u64,
    /// How many records the source says match, when it says.
    pub total: Option<u64>,
    /// Why it failed or was skipped, what it could not search, or that the answer came from the
    /// cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl SourceOut {
    /// The local index's entry.
    pub fn local(took_ms: u64, total: u64) -> Self {
        SourceOut {
            name: "local".into(),
            status: "ok".into(),
            took_ms,
            total: Some(total),
            message: None,
        }
    }

    fn remote(r: &SourceReport) -> Self {
        SourceOut {
            name: r.name.clone(),
            status: match r.status {
                SourceStatus::Ok => "ok",
                SourceStatus::Timeout => "timeout",
                SourceStatus::Error => "error",
                SourceStatus::Skipped => "skipped",
            }
            .into(),
            took_ms: r.took_ms,
            total: r.total,
            message: r.message.clone(),
        }
    }
}

/// The remote sources a search fans out to; empty for a local search. Reads only the config: no
/// remote client is built here.
pub fn sources_for(state: &AppState, p: &SearchParams) -> Result<Vec<String>, ApiError> {
    let c = state.config();
    federation::resolve(&c.sources, &c.federation.default, p.federate.as_deref()).map_err(|e| {
        if e.is_user_error() {
            ApiError::param(e.to_string())
        } else {
            ApiError::internal(e)
        }
    })
}

/// A fused page.
pub struct FederatedPage {
    /// How the query was understood.
    pub query: search::Interpreted,
    /// Local matches plus the remote-only records fused.
    pub total: u64,
    /// The page, each hit with every source that had it.
    pub hits: Vec<(search::Hit, Vec<String>)>,
    /// Local facets plus the remote-only records fused.
    pub facets: search::Facets,
    /// The local index first, then each remote source asked.
    pub sources: Vec<SourceOut>,
}

/// Runs a federated search over `names` and fuses the page asked for.
pub async fn run(
    state: &AppState,
    p: &SearchParams,
    names: &[String],
) -> Result<FederatedPage, ApiError> {
    let live = state.live()?;
    let federator = state.federator()?;
    let page_depth = p.page.saturating_mul(p.per_page);
    let req = search::SearchRequest {
        q: p.q.clone(),
        filters: p.filters.clone(),
        sort: p.sort,
        offset: 0,
        limit: page_depth.max(CALIBRATION_HITS),
        facets: true,
        highlight: true,
        explain: p.explain,
    };
    let index = std::sync::Arc::clone(&live.index);
    let local = state.run_blocking(move || {
        let started = Instant::now();
        index.search(&req).map(|r| (r, started.elapsed()))
    });
    let remote_query = RemoteQuery {
        q: p.q.clone(),
        filters: p.filters.clone(),
        depth: remote_depth(page_depth),
    };
    let (local, remote) = tokio::join!(local, federator.search(names, &remote_query));
    let (res, local_took) = local??;

    let index = std::sync::Arc::clone(&live.index);
    let generation = live.generation;
    let state = state.clone();
    let q = p.q.clone();
    let (offset, per_page, sort) = (p.offset(), p.per_page, p.sort);
    let mut sources = vec![SourceOut::local(local_took.as_millis() as u64, res.total)];
    sources.extend(remote.reports.iter().map(SourceOut::remote));
    let lists = remote.lists;
    let runner = state.clone();
    runner
        .run_blocking(move || {
            // Scoring is for placing remote records: with none, the local order stands as it is.
            let (local_external, remote_external) = if lists.iter().all(|l| l.records.is_empty()) {
                (Vec::new(), Vec::new())
            } else {
                let federator = state.federator()?;
                let key = index_key(&index, generation);
                let score = |records: &[model::Record]| {
                    federator.scores_with(&q, key, records, |todo| index.score_external(&q, todo))
                };
                let local_records: Vec<model::Record> = res
                    .hits
                    .iter()
                    .take(CALIBRATION_HITS)
                    .map(|h| h.record.clone())
                    .collect();
                let local_external = score(&local_records);
                let remote_external: Vec<Vec<Option<f32>>> =
                    lists.iter().map(|l| score(&l.records)).collect();
                (local_external, remote_external)
            };
            let merged = merge(
                MergeInput {
                    local: res.hits,
                    local_external,
                    remote: lists,
                    remote_external,
                },
                Fusion::default(),
                sort,
            );
            let mut facets = res.facets.unwrap_or_default();
            add_to_facets(&mut facets, merged.remote_only().map(|h| &h.record));
            let total = res.total + merged.remote_only().count() as u64;
            let mut highlighter = Highlighter::new(&q);
            let hits = merged
                .hits
                .into_iter()
                .skip(offset)
                .take(per_page)
                .map(|h| {
                    let sources = h.sources.clone();
                    (highlighter.hit(h), sources)
                })
                .collect();
            Ok(FederatedPage {
                query: res.query,
                total,
                hits,
                facets,
                sources,
            })
        })
        .await?
}

/// A key that changes when the index's statistics may have: the generation, and the segments of
/// the loaded commit with their deletions (an incremental update inside a generation).
fn index_key(index: &search::SearchIndex, generation: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    generation.hash(&mut h);
    for seg in index.searcher().segment_readers() {
        seg.segment_id().uuid_string().hash(&mut h);
        seg.num_deleted_docs().hash(&mut h);
    }
    h.finish()
}

//! Search and record handlers and their response types (the wire format lives here, converted by
//! hand from the search core's types).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use model::Record;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiCode, ApiError};
use crate::params::SearchParams;
use crate::state::AppState;

/// Said in every answer that includes starter-corpus records.
pub const SAMPLE_NOTICE: &str = "Some results are invented sample records from the starter corpus (source \"sample\"). They are for demonstration only and are not evidence: do not use them for clinical decisions.";
/// Said in every answer that includes retracted records.
pub const RETRACTED_NOTICE: &str = "Some results have been retracted by their publishers. They are marked and ranked lower; do not rely on them.";
/// Said in every answer that includes superseded guidance.
pub const SUPERSEDED_NOTICE: &str = "Some results are guidance that a newer version replaces. They are marked, ranked lower, and link to the newer version.";

/// Said in every answer that shows a record found by meaning alone (semantic search).
pub const MEANING_NOTICE: &str = "Some results contain none of your words: semantic search found them as related in meaning. They are marked; check that they answer your question.";

/// The answer of `GET /api/v1/search`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// How the query was understood.
    #[schema(value_type = Object)]
    pub query: search::Interpreted,
    /// Matching records.
    pub total: u64,
    /// The page returned, from 1.
    pub page: usize,
    /// Hits per page.
    pub per_page: usize,
    /// Server time spent, in milliseconds.
    pub took_ms: u64,
    /// Warnings to show with the results (sample records, retractions, superseded guidance).
    pub notices: Vec<String>,
    /// A corrected query to offer when a word of the query looks misspelt against the index's
    /// vocabulary ("Did you mean ...?"); first pages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
    /// The hits of this page.
    pub hits: Vec<HitOut>,
    /// Counts by evidence level, source, year, audience and open access over all matches (in a
    /// federated search, plus the remote-only records fused; see `federated.rs`).
    #[schema(value_type = Object)]
    pub facets: search::Facets,
    /// Each source searched: the local index (`local`) first, then the remote sources asked, with
    /// status `ok`, `timeout`, `error` or `skipped`.
    pub sources: Vec<crate::federated::SourceOut>,
}

/// One hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct HitOut {
    /// Record id, `source:source-id`.
    pub id: String,
    /// Title, plain text.
    pub title: String,
    /// Title, HTML-escaped, query terms in `<mark>`.
    pub title_html: String,
    /// A passage of the abstract, HTML-escaped, query terms in `<mark>`.
    pub snippet: String,
    /// Authors.
    pub authors: Vec<String>,
    /// Journal or publisher.
    pub journal: Option<String>,
    /// Publication date, `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub published: Option<String>,
    /// DOI, PMID, PMCID, NCT.
    #[schema(value_type = Object)]
    pub identifiers: model::Identifiers,
    /// Evidence level.
    pub evidence_level: String,
    /// Evidence level, for people.
    pub evidence_label: String,
    /// Publication types.
    pub publication_types: Vec<String>,
    /// MeSH terms.
    pub mesh_terms: Vec<String>,
    /// Source name.
    pub source: String,
    /// Every source that had the record: its own, then those of the duplicates merged into it
    /// (harvested or found live).
    pub sources: Vec<String>,
    /// Link to the record.
    pub url: Option<String>,
    /// Ranking score (hits sorted by relevance come by score, except that a superseded version
    /// is placed below the version that replaced it when both are on the page).
    pub score: f32,
    /// `professional` or `patient`.
    pub audience: String,
    /// Free to read.
    pub open_access: Option<bool>,
    /// Retracted by its publisher.
    pub retracted: bool,
    /// Id of the newer version that replaces it.
    pub superseded_by: Option<String>,
    /// An invented starter-corpus record, not evidence.
    pub sample: bool,
    /// Flesch-Kincaid grade of title and abstract, in tenths from 0.1 (the easiest texts) to
    /// 30; absent when there are too few words (under 20) to judge.
    pub reading_grade: Option<f32>,
    /// Found by meaning alone (semantic search, when a model is configured): the record
    /// contains none of the query's words and is shown as related, not as a match.
    pub by_meaning_only: bool,
    /// The score's parts, when `explain=true`.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<search::Explanation>,
}

/// Every source of a record: its own, then those of the records merged into it.
pub fn record_sources(r: &Record) -> Vec<String> {
    let mut out = vec![r.source.clone()];
    for id in &r.merged_from {
        if let Some((src, _)) = id.split_once(':') {
            if !out.iter().any(|s| s == src) {
                out.push(src.to_string());
            }
        }
    }
    out
}

impl HitOut {
    fn from_hit(h: search::Hit) -> Self {
        let sources = record_sources(&h.record);
        Self::with_sources(h, sources)
    }

    /// A hit with the sources that had it.
    pub fn with_sources(h: search::Hit, sources: Vec<String>) -> Self {
        let r = h.record;
        let level = r.level();
        HitOut {
            sample: r.is_sample(),
            id: r.id,
            title: r.title,
            title_html: h.title_html,
            snippet: h.snippet_html,
            authors: r.authors,
            journal: r.journal.or(r.publisher),
            published: r.published.map(|d| d.to_string()),
            identifiers: r.identifiers,
            evidence_level: level.as_str().to_string(),
            evidence_label: level.label().to_string(),
            publication_types: r.publication_types,
            mesh_terms: r.mesh_terms,
            source: r.source,
            sources,
            url: r.url,
            score: h.score,
            audience: r.audience.as_str().to_string(),
            open_access: r.open_access,
            retracted: r.retracted,
            superseded_by: r.superseded_by,
            reading_grade: h.reading_grade,
            explain: h.explain,
            by_meaning_only: h.by_meaning_only,
        }
    }
}

/// The notices an answer must carry, given its hits.
pub fn notices<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<String> {
    notices_from(
        records
            .into_iter()
            .map(|r| (r.is_sample(), r.retracted, r.superseded_by.is_some())),
    )
}

/// The notices of a page of hits.
pub fn notices_of(hits: &[HitOut]) -> Vec<String> {
    let mut out = notices_from(
        hits.iter()
            .map(|h| (h.sample, h.retracted, h.superseded_by.is_some())),
    );
    if hits.iter().any(|h| h.by_meaning_only) {
        out.push(MEANING_NOTICE.to_string());
    }
    out
}

/// Notices from (sample, retracted, superseded) flags.
fn notices_from(flags: impl Iterator<Item = (bool, bool, bool)>) -> Vec<String> {
    let (mut sample, mut retracted, mut superseded) = (false, false, false);
    for (a, b, c) in flags {
        sample |= a;
        retracted |= b;
        superseded |= c;
    }
    let mut out = Vec::new();
    if sample {
        out.push(SAMPLE_NOTICE.to_string());
    }
    if retracted {
        out.push(RETRACTED_NOTICE.to_string());
    }
    if superseded {
        out.push(SUPERSEDED_NOTICE.to_string());
    }
    out
}

/// Extracts query-string pairs, answering our error body on a malformed query string.
pub fn pairs(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|e| ApiError::param(format!("malformed query string: {}", e.body_text())))
}

/// Runs a local search on a search thread, with the spelling suggestion for its first page
/// worked out in the same turn (one hop to the search threads per search, not two).
pub async fn run_search(
    state: &AppState,
    p: &SearchParams,
) -> Result<(search::SearchResults, Option<String>), ApiError> {
    let live = state.live()?;
    let req = search::SearchRequest {
        q: p.q.clone(),
        filters: p.filters.clone(),
        sort: p.sort,
        offset: p.offset(),
        limit: p.per_page,
        facets: true,
        highlight: true,
        explain: p.explain,
    };
    let page = p.page;
    let (res, did_you_mean) = state
        .run_blocking(move || {
            let res = live.index.search(&req)?;
            let suggested = correction(&live.index, &req.q, page, res.total);
            Ok::<_, search::SearchError>((res, suggested))
        })
        .await?
        .map_err(ApiError::from)?;
    Ok((res, did_you_mean))
}

/// The filters of a search as JSON, for the query log.
pub fn filters_json(f: &search::Filters) -> serde_json::Value {
    serde_json::json!({
        "evidence_level": f.evidence_levels.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        "year_from": f.year_from,
        "year_to": f.year_to,
        "source": f.sources,
        "audience": f.audience.map(|a| a.as_str()),
        "open_access": f.open_access,
        "reading_grade_max": f.max_reading_grade,
    })
}

/// Search the evidence.
#[utoipa::path(
    get,
    path = "/api/v1/search",
    params(
        ("q" = Option<String>, Query, description = "Query: free text, AND/OR/NOT, \"phrases\", field tags (title:, mesh:, author:, [ti], [tiab], [mh], [au]), prefix*, or an identifier (PMID, DOI, NCT). Empty or * browses everything."),
        ("page" = Option<usize>, Query, description = "Page, from 1"),
        ("per_page" = Option<usize>, Query, description = "Hits per page, 1 to 100 (default 10)"),
        ("sort" = Option<String>, Query, description = "relevance (default) or date. By relevance, hits come by score, except that a superseded version never stands above the version that replaced it on the same page"),
        ("evidence_level" = Option<String>, Query, description = "Comma list: guideline, systematic_review, rct, observational, case_report, opinion, patient_information, other"),
        ("year_from" = Option<u16>, Query, description = "Published in or after this year"),
        ("year_to" = Option<u16>, Query, description = "Published in or before this year"),
        ("source" = Option<String>, Query, description = "Comma list of source names"),
        ("audience" = Option<String>, Query, description = "professional or patient"),
        ("open_access" = Option<bool>, Query, description = "Only free-to-read records"),
        ("reading_grade_max" = Option<f32>, Query, description = "Only records at or below this Flesch-Kincaid grade"),
        ("explain" = Option<bool>, Query, description = "Break each score into its parts"),
        ("federate" = Option<String>, Query, description = "Also search live remote sources and fuse their answers with the local results: a comma list of source names, all, or none (default: [federation] default in the config, else the sources marked federated)"),
    ),
    responses(
        (status = 200, description = "Ranked hits with facets", body = SearchResponse),
        (status = 400, description = "A parameter is invalid", body = crate::error::ErrorBody),
        (status = 503, description = "The index is being prepared", body = crate::error::ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let p = SearchParams::parse(&pairs(q)?)?;
    let remote = crate::federated::sources_for(&state, &p)?;
    let (query, total, hits, facets, sources, did_you_mean) = if remote.is_empty() {
        let (res, did_you_mean) = run_search(&state, &p).await?;
        let local =
            crate::federated::SourceOut::local(started.elapsed().as_millis() as u64, res.total);
        let hits: Vec<HitOut> = res.hits.into_iter().map(HitOut::from_hit).collect();
        (
            res.query,
            res.total,
            hits,
            res.facets.unwrap_or_default(),
            vec![local],
            did_you_mean,
        )
    } else {
        let fed = crate::federated::run(&state, &p, &remote).await?;
        let hits = fed
            .hits
            .into_iter()
            .map(|(h, sources)| HitOut::with_sources(h, sources))
            .collect();
        let local_total = fed
            .sources
            .first()
            .and_then(|s| s.total)
            .unwrap_or(fed.total);
        let did_you_mean = suggestion(&state, &p, local_total).await;
        (
            fed.query,
            fed.total,
            hits,
            fed.facets,
            fed.sources,
            did_you_mean,
        )
    };
    if p.page == 1 {
        state.querylog().log(crate::querylog::Entry {
            q: p.q.clone(),
            filters: filters_json(&p.filters),
            total,
            took_ms: started.elapsed().as_millis() as u64,
        });
    }
    Ok(Json(SearchResponse {
        query,
        total,
        page: p.page,
        per_page: p.per_page,
        took_ms: started.elapsed().as_millis() as u64,
        notices: notices_of(&hits),
        did_you_mean,
        hits,
        facets,
        sources,
    }))
}

/// Below this many local matches, words in one or two records are also checked for a far more
/// common neighbour.
pub const RARE_WORDS_BELOW: u64 = 20;

/// A corrected query for the first page of a search with a misspelt-looking word (absent from the
/// index's vocabulary, or very rare beside a far more common word one edit away): `None` when
/// the words are all known, on later pages, or while the vocabulary of a large index is still
/// being built in the background. Words in
/// more than a couple of records are never corrected, so the common case costs a few lookups;
/// when the search already finds [`RARE_WORDS_BELOW`] or more, only words absent from the index
/// are (a rare real word is then likelier than a typo). Runs on the search threads.
async fn suggestion(state: &AppState, p: &SearchParams, local_total: u64) -> Option<String> {
    if !wants_correction(&p.q, p.page) {
        return None;
    }
    let live = state.live().ok()?;
    let q = p.q.clone();
    let page = p.page;
    state
        .run_blocking(move || correction(&live.index, &q, page, local_total))
        .await
        .ok()
        .flatten()
}

/// Only the first page of a search with words gets a spelling suggestion.
fn wants_correction(q: &str, page: usize) -> bool {
    page == 1 && !q.trim().is_empty()
}

/// [`suggestion`]'s answer, worked out on the calling thread.
fn correction(
    index: &Arc<search::SearchIndex>,
    q: &str,
    page: usize,
    local_total: u64,
) -> Option<String> {
    if !wants_correction(q, page) {
        return None;
    }
    let s = index.suggester_nonblocking()?;
    let fixed = if local_total < RARE_WORDS_BELOW {
        s.correct_query(q)
    } else {
        s.correct_unknown_words(q)
    };
    fixed.filter(|f| f.trim() != q.trim())
}

/// A record with the notices that apply to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordResponse {
    /// The record as stored.
    #[schema(value_type = Object)]
    pub record: Record,
    /// Evidence level, for people.
    pub evidence_label: String,
    /// Warnings (sample, retracted, superseded).
    pub notices: Vec<String>,
}

/// One record by id.
#[utoipa::path(
    get,
    path = "/api/v1/records/{id}",
    params(("id" = String, Path, description = "Record id, e.g. sample:1 or pubmed:31978945")),
    responses(
        (status = 200, description = "The record", body = RecordResponse),
        (status = 404, description = "No record with that id", body = crate::error::ErrorBody),
    )
)]
pub async fn record(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RecordResponse>, ApiError> {
    if id.len() > 512 {
        return Err(ApiError::param("record ids are at most 512 characters"));
    }
    let live = state.live()?;
    let lookup = id.clone();
    let found = state
        .run_blocking(move || live.index.get(&lookup))
        .await??;
    match found {
        Some(mut r) => {
            r.classify();
            Ok(Json(RecordResponse {
                evidence_label: r.level().label().to_string(),
                notices: notices([&r]),
                record: r,
            }))
        }
        None => Err(ApiError::new(
            ApiCode::NotFound,
            format!("no record with id {id:?}"),
        )),
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: an index is loaded and searchable. `suggestions` says where the spelling and
/// autocomplete vocabulary stands (`ready`, `building`, `not started`): searches are served
/// meanwhile, without spelling suggestions until it is ready.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "Ready: {status, generation, documents, suggestions}"), (status = 503, description = "Preparing the index", body = crate::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let live = state.live()?;
    Ok(Json(serde_json::json!({
        "status": "ready",
        "generation": live.generation,
        "documents": live.index.num_docs(),
        "suggestions": live.index.suggestions_state(),
    })))
}

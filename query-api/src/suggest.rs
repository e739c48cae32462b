//! `GET /api/v1/suggest?q=<prefix>&limit=<n>`: autocomplete from the index's own titles, MeSH
//! terms and keywords, cheap enough to call on every keystroke (the vocabulary is built once per
//! index generation and kept in memory).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use search::suggest::MAX_COMPLETIONS;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::pairs;
use crate::error::ApiError;
use crate::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/suggest", get(suggest))
}

/// Completions for a prefix.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestResponse {
    /// The prefix as received.
    pub q: String,
    /// Completions, most used first.
    #[schema(value_type = Vec<Object>)]
    pub suggestions: Vec<search::suggest::Suggestion>,
}

/// Autocomplete.
#[utoipa::path(
    get,
    path = "/api/v1/suggest",
    params(
        ("q" = String, Query, description = "What has been typed so far (at least one letter, at most 100 characters)"),
        ("limit" = Option<usize>, Query, description = "At most this many suggestions, 1 to 20 (default 8)"),
    ),
    responses(
        (status = 200, description = "Completions from titles, MeSH terms and keywords", body = SuggestResponse),
        (status = 400, description = "A parameter is invalid", body = crate::error::ErrorBody),
    )
)]
pub async fn suggest(
    State(state): State<AppState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<SuggestResponse>, ApiError> {
    let mut prefix = String::new();
    let mut limit = 8usize;
    for (k, v) in pairs(q)? {
        match k.as_str() {
            "q" => prefix = v,
            "limit" => {
                limit = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_COMPLETIONS).contains(n))
                    .ok_or_else(|| {
                        ApiError::param(format!(
                            "limit must be a whole number from 1 to {MAX_COMPLETIONS}, not {v:?}"
                        ))
                    })?
            }
            _ => {}
        }
    }
    if prefix.chars().count() > 100 {
        return Err(ApiError::param(
            "q is at most 100 characters for suggestions",
        ));
    }
    let live = state.live()?;
    let p = prefix.clone();
    let suggestions = state
        .run_blocking(move || {
            if p.trim().is_empty() {
                Vec::new()
            } else {
                // Empty while a large index's vocabulary is built in the background.
                live.index
                    .suggester_nonblocking()
                    .map(|s| s.complete(&p, limit))
                    .unwrap_or_default()
            }
        })
        .await?;
    Ok(Json(SuggestResponse {
        q: prefix,
        suggestions,
    }))
}

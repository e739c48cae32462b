//! The admin API under `/api/v1/admin`: jobs, sources, stats. Every request needs
//! `Authorization: Bearer <token>` matching `EVIDENCE_ADMIN_TOKEN`, compared in constant time.
//! Without a configured token the admin API answers 403 and says how to enable it.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::error::{ApiCode, ApiError};
use crate::jobs::{JobKind, JobSpec, SubmitError};
use crate::AppState;

/// The admin routes, behind the bearer-token check.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/jobs", get(list_jobs).post(create_job))
        .route("/api/v1/admin/jobs/{id}", get(get_job).delete(cancel_job))
        .route("/api/v1/admin/sources", get(sources))
        .route("/api/v1/admin/stats", get(stats))
        .route_layer(middleware::from_fn_with_state(state, auth))
}

async fn auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.admin_token() else {
        return ApiError::new(
            ApiCode::AdminDisabled,
            "the admin API is disabled: set the EVIDENCE_ADMIN_TOKEN environment variable and restart the server",
        )
        .into_response();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())));
    if !ok {
        let mut resp = ApiError::new(
            ApiCode::Unauthorized,
            "send Authorization: Bearer <admin token>",
        )
        .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    next.run(req).await
}

/// The body of `POST /api/v1/admin/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobBody {
    /// `harvest`, `reindex` or `compact`.
    kind: String,
    /// Sources to harvest; all configured when absent.
    #[serde(default)]
    sources: Option<Vec<String>>,
    /// Start harvests over and rebuild in full.
    #[serde(default)]
    full: Option<bool>,
}

/// Start a harvest, reindex or compact job.
#[utoipa::path(post, path = "/api/v1/admin/jobs", tag = "admin", security(("bearer" = [])),
    request_body(content = Object, description = "{\"kind\": \"harvest\" | \"reindex\" | \"compact\", \"sources\": [names]?, \"full\": bool?}; compact merges the live index into one segment"),
    responses(
        (status = 202, description = "Queued; poll the job's url", body = Object),
        (status = 400, description = "Malformed body, unknown kind or source", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = crate::error::ErrorBody),
        (status = 403, description = "Admin API disabled (no EVIDENCE_ADMIN_TOKEN)", body = crate::error::ErrorBody),
        (status = 409, description = "The same job is already queued or running", body = crate::error::ErrorBody),
    ))]
pub async fn create_job(
    State(state): State<AppState>,
    body: Result<Json<JobBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::new(
            ApiCode::InvalidBody,
            format!("invalid job body: {}", e.body_text()),
        )
    })?;
    let kind = match body.kind.as_str() {
        "harvest" => JobKind::Harvest,
        "reindex" => JobKind::Reindex,
        "compact" => JobKind::Compact,
        other => {
            return Err(ApiError::new(
                ApiCode::InvalidBody,
                format!(
                    "field kind must be \"harvest\", \"reindex\" or \"compact\", not {other:?}"
                ),
            ))
        }
    };
    let sources = body.sources.unwrap_or_default();
    let known: Vec<&str> = state
        .config()
        .sources
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    for s in &sources {
        if !known.contains(&s.as_str()) {
            return Err(ApiError::new(
                ApiCode::InvalidBody,
                format!(
                    "field sources: unknown source {s:?}; configured sources: [{}]",
                    known.join(", ")
                ),
            ));
        }
    }
    if kind == JobKind::Harvest && known.is_empty() {
        return Err(ApiError::new(
            ApiCode::InvalidBody,
            "no sources are configured to harvest; add [[sources]] to the config",
        ));
    }
    if kind != JobKind::Harvest && !sources.is_empty() {
        return Err(ApiError::new(
            ApiCode::InvalidBody,
            "field sources applies to harvest jobs only",
        ));
    }
    if kind == JobKind::Compact && body.full.is_some() {
        return Err(ApiError::new(
            ApiCode::InvalidBody,
            "field full applies to harvest and reindex jobs only",
        ));
    }
    let spec = JobSpec {
        kind,
        sources,
        full: body.full.unwrap_or(false),
        trigger: "admin".into(),
    };
    match state.jobs().submit(spec) {
        Ok(r) => {
            let location = format!("/api/v1/admin/jobs/{}", r.id);
            let mut resp = (
                StatusCode::ACCEPTED,
                Json(
                    json!({"id": r.id, "state": r.state.as_str(), "kind": r.kind, "url": location}),
                ),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        Err(SubmitError::Duplicate(id)) => Err(ApiError::new(
            ApiCode::Conflict,
            format!("the same job is already queued or running as {id}"),
        )),
        Err(SubmitError::Store(e)) => Err(ApiError::internal(e)),
    }
}

/// Recent jobs, newest first.
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "{\"jobs\": [...]}", body = Object), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list_jobs(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let jobs = state.jobs().list(100).map_err(ApiError::internal)?;
    Ok(Json(json!({ "jobs": jobs })))
}

/// One job: state (queued, running, succeeded, failed, cancelled, interrupted), progress (phase,
/// done, total, rate), counts (added, updated, deleted, failed, and `index`: what the indexing
/// did; a full build's `index.compact` says how its segments were merged before it went live),
/// errors and timings.
#[utoipa::path(get, path = "/api/v1/admin/jobs/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match state.jobs().get(&id).map_err(ApiError::internal)? {
        Some(j) => Ok(Json(j)),
        None => Err(ApiError::new(ApiCode::NotFound, format!("no job {id:?}"))),
    }
}

/// Cancel a queued or running job (checked between pages and batches; a cancelled build never goes live).
#[utoipa::path(delete, path = "/api/v1/admin/jobs/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, body = Object), (status = 404, body = crate::error::ErrorBody), (status = 409, description = "Already finished", body = crate::error::ErrorBody)))]
pub async fn cancel_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.jobs().cancel(&id).map_err(ApiError::internal)? {
        Some(true) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"id": id, "state": "cancelling"})),
        )
            .into_response()),
        Some(false) => Err(ApiError::new(
            ApiCode::Conflict,
            format!("job {id:?} has already finished"),
        )),
        None => Err(ApiError::new(ApiCode::NotFound, format!("no job {id:?}"))),
    }
}

/// Configured sources with their record counts and last harvest.
#[utoipa::path(get, path = "/api/v1/admin/sources", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody)))]
pub async fn sources(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let st = state.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let counts = st.store().count_by_source().map_err(|e| e.to_string())?;
        let mut list = Vec::new();
        for s in &st.config().sources {
            let last = st
                .store()
                .last_harvest(&s.name)
                .map_err(|e| e.to_string())?;
            list.push(json!({
                "name": s.name,
                "kind": s.kind.as_str(),
                "base_url": s.base_url,
                "schedule": s.schedule,
                "federated": s.federated,
                "records": counts.get(&s.name).copied().unwrap_or(0),
                "last_harvest": last,
            }));
        }
        Ok(json!({ "sources": list }))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(out))
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Index size, documents per source and evidence level, live generation, top and zero-result queries.
#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody)))]
pub async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let live = state.live()?;
    let st = state.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let facets = live
            .index
            .search(&search::SearchRequest {
                q: String::new(),
                limit: 1,
                highlight: false,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?
            .facets
            .unwrap_or_default();
        let since = "1970-01-01";
        let store = st.store();
        Ok(json!({
            "live_generation": live.generation,
            "generations": st.generations().list().map_err(|e| e.to_string())?,
            "documents": live.index.num_docs(),
            "index_bytes": live.index.path().map(dir_size).unwrap_or(0),
            "documents_by_source": facets.source,
            "documents_by_evidence_level": facets.evidence_level,
            "store_records": store.count_live().map_err(|e| e.to_string())?,
            "store_records_by_source": store.count_by_source().map_err(|e| e.to_string())?,
            "queries": {
                "top": store.top_queries(since, 20).map_err(|e| e.to_string())?,
                "zero_results": store.zero_result_queries(since, 20).map_err(|e| e.to_string())?,
                "top_clicked": store.top_clicked(since, 20).map_err(|e| e.to_string())?,
            },
        }))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(out))
}

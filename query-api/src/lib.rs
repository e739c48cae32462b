//! The HTTP server: `GET /api/v1/search`, `GET /api/v1/records/{id}`, health and readiness,
//! the OpenAPI document, and (with later work) the admin jobs API and the web page.
//!
//! [`app`] builds the router for a state, so tests drive it in memory with tower's `oneshot`;
//! [`run`] serves it on a listener until a shutdown future resolves.
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod error;
pub mod export;
pub mod federated;
pub mod jobs;
pub mod params;
pub mod pool;
pub mod querylog;
pub mod state;
pub mod suggest;
pub mod web;

use std::future::Future;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::error::{ApiCode, ApiError};
pub use crate::state::AppState;

/// The OpenAPI description of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Evidence search API",
        description = "Ranked, evidence-graded search over harvested health literature, guidelines and trials."
    ),
    paths(
        api::search, api::record, api::healthz, api::readyz, export::export, export::feed, suggest::suggest,
        admin::create_job, admin::list_jobs, admin::get_job, admin::cancel_job, admin::sources, admin::stats
    ),
    components(schemas(
        api::SearchResponse,
        api::HitOut,
        federated::SourceOut,
        api::RecordResponse,
        error::ErrorBody,
        error::ErrorDetail
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Declares the admin API's bearer-token security scheme.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the EVIDENCE_ADMIN_TOKEN of the server"))
                    .build(),
            ),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::new(ApiCode::NotFound, "no such endpoint; see /openapi.json")
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        ApiCode::Internal,
        "internal error; the details are in the server log",
    )
    .into_response()
}

/// The router with every route and layer.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/search", get(api::search))
        .route("/api/v1/records/{id}", get(api::record))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/openapi.json", get(openapi))
        .merge(web::routes())
        .merge(export::routes())
        .merge(suggest::routes())
        .merge(admin::routes(state.clone()))
        .fallback(not_found)
        .with_state(state)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Serves the app on `listener` until `shutdown` resolves, preparing the index in the background
/// (`/readyz` answers 503 until it is searchable).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let prep = state.clone();
    tokio::spawn(async move {
        if let Err(e) = prep.prepare().await {
            tracing::error!(error = %e, "could not prepare the index");
        }
        prep.spawn_follower(Duration::from_secs(2));
        if prep.admin_token().is_some()
            || prep.config().sources.iter().any(|s| s.schedule.is_some())
        {
            // Start the runner (marking jobs a dead server left running as interrupted) and the
            // scheduler of periodic harvests.
            let _ = prep.jobs();
            jobs::spawn_scheduler(prep.clone(), Duration::from_secs(30));
        }
    });
    let last = state.clone();
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    // However serving ended, what the query log holds is written.
    last.flush_querylog(Duration::from_secs(5)).await;
    Ok(served?)
}

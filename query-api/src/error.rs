//! API errors: one code enum owns the status and the stable string, and every library error maps
//! onto it. The body is always `{"error": {"code": "...", "message": "..."}}`; 5xx bodies hide
//! internal detail (it is logged instead).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Stable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCode {
    /// A parameter is malformed or out of range.
    InvalidParameter,
    /// The query is longer than allowed.
    QueryTooLong,
    /// The page asked for is past the deepest allowed result.
    PageTooDeep,
    /// The JSON body is malformed or misses a field.
    InvalidBody,
    /// Nothing at that id or path.
    NotFound,
    /// No or wrong bearer token.
    Unauthorized,
    /// The admin API is disabled (no token configured).
    AdminDisabled,
    /// Another job holds the resource.
    Conflict,
    /// The index is still being built.
    NotReady,
    /// An unexpected failure.
    Internal,
}

impl ApiCode {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ApiCode::InvalidParameter
            | ApiCode::QueryTooLong
            | ApiCode::PageTooDeep
            | ApiCode::InvalidBody => StatusCode::BAD_REQUEST,
            ApiCode::NotFound => StatusCode::NOT_FOUND,
            ApiCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiCode::AdminDisabled => StatusCode::FORBIDDEN,
            ApiCode::Conflict => StatusCode::CONFLICT,
            ApiCode::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable string.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiCode::InvalidParameter => "invalid_parameter",
            ApiCode::QueryTooLong => "query_too_long",
            ApiCode::PageTooDeep => "page_too_deep",
            ApiCode::InvalidBody => "invalid_body",
            ApiCode::NotFound => "not_found",
            ApiCode::Unauthorized => "unauthorized",
            ApiCode::AdminDisabled => "admin_disabled",
            ApiCode::Conflict => "conflict",
            ApiCode::NotReady => "not_ready",
            ApiCode::Internal => "internal",
        }
    }
}

/// Maps a library error to its API code.
pub trait ToApiCode {
    /// The code.
    fn api_code(&self) -> ApiCode;
}

impl ToApiCode for search::SearchError {
    fn api_code(&self) -> ApiCode {
        match self {
            search::SearchError::TooDeep { .. } => ApiCode::PageTooDeep,
            search::SearchError::NoIndex => ApiCode::NotReady,
            _ => ApiCode::Internal,
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The code.
    pub code: ApiCode,
    /// What to tell the caller.
    pub message: String,
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error's code and message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `invalid_parameter`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ApiCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// A 400 for a bad parameter.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(ApiCode::InvalidParameter, message)
    }

    /// A 500 whose detail is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            ApiCode::Internal,
            "internal error; the details are in the server log",
        )
    }

    /// From a library error.
    pub fn from_lib<E: ToApiCode + std::fmt::Display>(e: E) -> Self {
        match e.api_code() {
            ApiCode::Internal => Self::internal(&e),
            code => Self::new(code, e.to_string()),
        }
    }
}

impl From<search::SearchError> for ApiError {
    fn from(e: search::SearchError) -> Self {
        ApiError::from_lib(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_string(),
                message: self.message,
            },
        };
        let mut resp = (self.code.status(), axum::Json(body)).into_response();
        if self.code == ApiCode::NotReady {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        resp
    }
}

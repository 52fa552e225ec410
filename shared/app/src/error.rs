//! API errors and their JSON form: `{"error":{"code","message","field"}}`.

use affnet_core::InputError;
use affnet_store::{RepoError, StoreError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    MalformedJson(String),
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0} not found")]
    NotFound(String),
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("the item kept changing concurrently; try again")]
    Conflict,
    /// Storage could not be reached: 503, so that callers (networks) retry and nothing is lost.
    #[error("storage unavailable")]
    Storage(String),
    /// A defect or a state no retry fixes (a catalogue mismatch, a failing random source, a
    /// corrupt item): 500. The detail, with its source chain, goes to the log only.
    #[error("internal error")]
    Internal(String),
    /// Any other refusal with its own status and code (`sync_in_progress` 409, `tune_error`
    /// 502, `schedule_unavailable` 503...). The message is shown to the caller.
    #[error("{message}")]
    Failed {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Conflict => ApiError::Conflict,
            RepoError::NotFound => ApiError::NotFound("item".into()),
            RepoError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Retried under the repository already: busy, try again later.
            StoreError::Unavailable(_) | StoreError::TransactionConflict => {
                ApiError::Storage(e.to_string())
            }
            StoreError::ConditionFailed { .. } => ApiError::Conflict,
            StoreError::Corrupt(_) | StoreError::Invalid(_) => ApiError::internal("storage", &e),
        }
    }
}

impl ApiError {
    /// An internal error: `context` and the whole source chain of `error`, for the log.
    pub fn internal(context: &str, error: &dyn std::error::Error) -> ApiError {
        let mut detail = format!("{context}: {error}");
        let mut source = error.source();
        while let Some(e) = source {
            detail.push_str(&format!(": {e}"));
            source = e.source();
        }
        ApiError::Internal(detail)
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Input(_) | ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Conflict => StatusCode::CONFLICT,
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Failed { status, .. } => *status,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Input(e) => e.code,
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::TooLarge(_) => "body_too_large",
            ApiError::NotFound(_) => "not_found",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Conflict => "conflict",
            ApiError::Storage(_) => "storage_unavailable",
            ApiError::Internal(_) => "internal_error",
            ApiError::Failed { code, .. } => code,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Storage(detail) => tracing::error!(%detail, "storage failure"),
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            _ => {}
        }
        let field = match &self {
            ApiError::Input(e) => e.field.clone(),
            _ => None,
        };
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        if let Some(field) = field {
            error["field"] = json!(field);
        }
        let mut response = (self.status(), Json(json!({ "error": error }))).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

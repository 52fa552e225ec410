//! Why a postback is refused, and the two reply dialects: ours on `/postback` (HTTP status +
//! `{"error":{...}}`), AlterCPA's on `/api/*/status.json` (200 + `{"status":"error"}` for what a
//! retry cannot fix, 5xx only when storage failed).

use super::record::Recorded;
use affnet_core::postback::PostbackError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A refusal a retry cannot fix (bad token, bad parameters...).
#[derive(Debug, Clone)]
pub struct Rejection {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// The code AlterCPA's dialect answers (`key`, `orderid`, `status`...).
    pub altercpa: String,
}

impl Rejection {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Rejection {
        Rejection {
            status,
            code,
            message: message.into(),
            field: None,
            altercpa: code.to_string(),
        }
    }

    pub fn altercpa(mut self, code: &str) -> Rejection {
        self.altercpa = code.to_string();
        self
    }

    pub fn bad_key(status: StatusCode, code: &'static str, message: &str) -> Rejection {
        Rejection::new(status, code, message).altercpa("key")
    }
}

impl From<PostbackError> for Rejection {
    fn from(e: PostbackError) -> Rejection {
        let field = e.param().map(str::to_string);
        let altercpa = match (&e, field.as_deref()) {
            (
                PostbackError::Missing { .. } | PostbackError::Unsubstituted { .. },
                Some("oid" | "eid"),
            ) => "orderid".to_string(),
            (_, Some(param)) => param.to_string(),
            _ => e.code().to_string(),
        };
        Rejection {
            status: StatusCode::BAD_REQUEST,
            code: e.code(),
            message: e.to_string(),
            field,
            altercpa,
        }
    }
}

/// What became of one postback.
pub enum Answer {
    Accepted(Box<Recorded>),
    Rejected(Rejection),
    /// Storage failed: nothing was stored, the network must retry.
    Unavailable,
}

impl Answer {
    /// The HTTP status of the `/postback` dialect.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Answer::Accepted(_) => StatusCode::OK,
            Answer::Rejected(r) => r.status,
            Answer::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn accepted_body(recorded: &Recorded) -> Value {
        let mut body = json!({
            "status": "ok",
            "outcome": recorded.outcome.as_str(),
            "conversion_id": recorded.conversion.id,
            "conversion_status": recorded.conversion.status,
            "matched": recorded.conversion.matched,
        });
        if !recorded.unsubstituted.is_empty() {
            body["unsubstituted"] = json!(recorded.unsubstituted);
        }
        body
    }

    /// `/postback/{integration_id}`.
    pub fn into_native(self) -> Response {
        let status = self.http_status();
        let body = match &self {
            Answer::Accepted(recorded) => Self::accepted_body(recorded),
            Answer::Rejected(r) => {
                let mut error = json!({"code": r.code, "message": r.message});
                if let Some(field) = &r.field {
                    error["field"] = json!(field);
                }
                json!({ "error": error })
            }
            Answer::Unavailable => json!({"error": {
                "code": "storage_unavailable",
                "message": "the postback could not be stored; retry later",
            }}),
        };
        (status, Json(body)).into_response()
    }

    /// AlterCPA's `/api/sale/status.json` and `/api/comp/status.json`.
    pub fn into_altercpa(self) -> Response {
        match self {
            Answer::Accepted(recorded) => {
                (StatusCode::OK, Json(Self::accepted_body(&recorded))).into_response()
            }
            Answer::Rejected(r) => (
                StatusCode::OK,
                Json(json!({"status": "error", "error": r.altercpa, "message": r.message})),
            )
                .into_response(),
            Answer::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "error", "error": "storage_unavailable"})),
            )
                .into_response(),
        }
    }
}

//! Input errors: what a caller sent that we refuse, with the field that is wrong.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// Machine-readable: `missing_field`, `unknown_field`, `wrong_type`, `out_of_range`,
    /// `unknown_network`, `invalid_value`, `immutable_field`.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl InputError {
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn missing(field: &str) -> Self {
        Self::new("missing_field", field, format!("`{field}` is required"))
    }

    pub fn unknown(field: &str) -> Self {
        Self::new(
            "unknown_field",
            field,
            format!("`{field}` is not a known field"),
        )
    }

    pub fn wrong_type(field: &str, expected: &str) -> Self {
        Self::new("wrong_type", field, format!("`{field}` must be {expected}"))
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new("invalid_value", field, message)
    }

    pub fn out_of_range(field: &str, message: impl Into<String>) -> Self {
        Self::new("out_of_range", field, message)
    }
}

//! Postback receipt: `/postback/{integration_id}` and the AlterCPA-compatible routes.

use crate::error::ApiError;

pub async fn receive() -> ApiError {
    ApiError::NotImplemented("postbacks are being built")
}

pub async fn receive_altercpa() -> ApiError {
    ApiError::NotImplemented("postbacks are being built")
}

pub async fn postback_url() -> ApiError {
    ApiError::NotImplemented("postbacks are being built")
}

pub async fn list_logs() -> ApiError {
    ApiError::NotImplemented("postbacks are being built")
}

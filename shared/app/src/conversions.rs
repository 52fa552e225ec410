//! `GET /conversions` and `GET /conversions/{id}`.

use crate::error::ApiError;

pub async fn list() -> ApiError {
    ApiError::NotImplemented("conversions are being built")
}

pub async fn get() -> ApiError {
    ApiError::NotImplemented("conversions are being built")
}

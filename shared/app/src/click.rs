//! `GET /c/{offer_id}`: records a click and redirects to the offer's tracking URL.

use crate::error::ApiError;

pub async fn click() -> ApiError {
    ApiError::NotImplemented("clicks are being built")
}

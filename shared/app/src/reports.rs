//! `GET /reports?group_by=offer|message|creative|day&from=&to=`.

use crate::error::ApiError;

pub async fn report() -> ApiError {
    ApiError::NotImplemented("reports are being built")
}

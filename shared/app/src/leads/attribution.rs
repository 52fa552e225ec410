//! The one place a lead's click ID is checked: it authorizes `POST /leads` (the route is
//! public) and says which offer, message and creative the lead counts for.

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::clickid::{ClickClaims, ClickId};
use axum::http::StatusCode;

/// Verifies the click ID and returns its attribution; a forged, altered or foreign one is 403.
pub fn verify_click_id(state: &AppState, click_id: &str) -> Result<ClickClaims, ApiError> {
    ClickId::verify(&state.config.click_key, click_id).map_err(|e| ApiError::Failed {
        status: StatusCode::FORBIDDEN,
        code: "invalid_click_id",
        message: format!("`click_id` is not a click ID affnet issued ({e})"),
    })
}

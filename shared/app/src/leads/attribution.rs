//! The one place a lead's click ID is checked: it authorizes `POST /leads` (the route is
//! public) and says which offer, message and creative the lead counts for.

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::clickid::{ClickClaims, ClickId, Labels};
use axum::http::StatusCode;

/// Verifies the click ID (no read); a forged, altered or foreign one is 403. Format 2 claims
/// still carry a labels handle: see [`resolve_labels`].
pub fn verify_click_id(state: &AppState, click_id: &str) -> Result<ClickClaims, ApiError> {
    ClickId::verify(&state.config.click_key, click_id).map_err(|e| ApiError::Failed {
        status: StatusCode::FORBIDDEN,
        code: "invalid_click_id",
        message: format!("`click_id` is not a click ID affnet issued ({e})"),
    })
}

/// A new lead needs a click still kept (`AFFNET_CLICK_TTL_DAYS`): a click ID from an older
/// click (or one dated ahead of this clock by more than a day) is refused, as its click and its
/// attribution are gone. A lead posted before answers from what was stored.
pub fn check_fresh(state: &AppState, claims: &ClickClaims) -> Result<(), ApiError> {
    let kept_days = i64::from(state.config.click_ttl_days);
    let age = state.clock.now().timestamp() - i64::try_from(claims.time).unwrap_or(i64::MAX);
    if age > kept_days * 86_400 || age < -86_400 {
        return Err(ApiError::Failed {
            status: StatusCode::FORBIDDEN,
            code: "expired_click_id",
            message: format!(
                "`click_id` is from a click {} days ago; clicks are kept {kept_days} days \
                 (AFFNET_CLICK_TTL_DAYS): the visitor must click again",
                age / 86_400
            ),
        });
    }
    Ok(())
}

/// Fills in message and creative behind the claims' handle (cached, else one read), so the
/// lead and its conversion count for them as a postback's would.
pub async fn resolve_labels(state: &AppState, claims: &mut ClickClaims) -> Result<(), ApiError> {
    Ok(crate::click_labels::resolve(state, claims).await?)
}

/// [`verify_click_id`], then [`resolve_labels`].
pub async fn attributed(state: &AppState, click_id: &str) -> Result<ClickClaims, ApiError> {
    let mut claims = verify_click_id(state, click_id)?;
    resolve_labels(state, &mut claims).await?;
    Ok(claims)
}

/// Message and creative of resolved claims (empty when absent, or when the handle is not
/// stored: the lead then counts for its offer and click only).
pub fn labels_of(claims: &ClickClaims) -> Labels {
    claims.labels().cloned().unwrap_or_default()
}

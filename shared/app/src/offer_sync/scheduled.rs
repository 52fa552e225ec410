//! A run started by a schedule (EventBridge Scheduler or the local scheduler), which only knows
//! the integration id.

use super::run::{RunError, SyncRequest, run_sync};
use crate::error::ApiError;
use crate::schedule::wanted;
use crate::state::AppState;
use affnet_core::sync_log::{SyncLog, SyncStatus, SyncTrigger};
use chrono::Utc;
use std::time::Instant;

/// Syncs `integration_id` if it still wants automatic sync. A deleted integration's schedule is
/// removed (`Ok(None)`); an inactive or no longer auto-synced one gets a `skipped` log and its
/// schedule removed; a run already in progress gives a `skipped` log.
pub async fn run_scheduled(
    state: &AppState,
    integration_id: &str,
    deadline: Option<Instant>,
) -> Result<Option<SyncLog>, ApiError> {
    let Some(integration) = state.repo.get_integration(integration_id).await? else {
        tracing::info!(
            integration = integration_id,
            "scheduled sync of a deleted integration: removing its schedule"
        );
        crate::schedule::forget(state, integration_id).await;
        return Ok(None);
    };
    if wanted(&integration).is_none() {
        // Only the sync schedule: a reconciliation schedule has its own setting.
        if let Err(e) = state.scheduler().remove(integration_id).await {
            tracing::warn!(integration = integration_id, error = %e, "sync schedule not removed yet");
        }
        let reason = if integration.active {
            "automatic sync is disabled for this integration; its schedule was removed"
        } else {
            "the integration is inactive; its schedule was removed"
        };
        return skipped(state, integration_id, reason).await.map(Some);
    }
    let request = SyncRequest {
        trigger: SyncTrigger::Scheduled,
        offer_ids: None,
        deadline,
    };
    match run_sync(state, &integration, request).await {
        Ok(log) => Ok(Some(log)),
        Err(RunError::Busy { run_id, .. }) => {
            let reason = format!("another sync of this integration is running (run {run_id})");
            skipped(state, integration_id, &reason).await.map(Some)
        }
        Err(RunError::Store(e)) => Err(e.into()),
    }
}

async fn skipped(
    state: &AppState,
    integration_id: &str,
    reason: &str,
) -> Result<SyncLog, ApiError> {
    let now = Utc::now();
    let mut log = SyncLog::start(
        affnet_core::ids::new_id(),
        integration_id,
        SyncTrigger::Scheduled,
        None,
        now,
    );
    log.status = SyncStatus::Skipped;
    log.finished_at = Some(now);
    log.message = Some(reason.to_string());
    tracing::info!(
        integration = integration_id,
        reason,
        "scheduled sync skipped"
    );
    Ok(state.repo.record_sync_log(&log).await?)
}

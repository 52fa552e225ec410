//! A reconciliation started by a schedule (EventBridge Scheduler or the local scheduler), which
//! only knows the integration id: the last `reconcile.lookback_days` days, applied.

use super::run::{RunError, RunRequest, run_reconcile};
use crate::error::ApiError;
use crate::schedule::{Job, wanted_reconcile};
use crate::state::AppState;
use affnet_core::reconcile::{ReconRun, RunRange, RunStatus, Trigger};
use chrono::Utc;
use std::time::{Duration, Instant};

/// How long a scheduled run waits for a sync (or another run) of its integration to end before
/// it gives up for this time: both daily schedules may fire together.
pub const BUSY_WAIT: Duration = Duration::from_secs(120);
const BUSY_POLL: Duration = Duration::from_secs(5);

/// Reconciles `integration_id` if it still wants scheduled reconciliation. A deleted
/// integration's schedule is removed (`Ok(None)`); an inactive or no longer reconciled one gets
/// a `skipped` record and its schedule removed; a lease held past [`BUSY_WAIT`] gives a
/// `skipped` record.
pub async fn run_scheduled_reconcile(
    state: &AppState,
    integration_id: &str,
    deadline: Option<Instant>,
) -> Result<Option<ReconRun>, ApiError> {
    let Some(integration) = state.repo.get_integration(integration_id).await? else {
        tracing::info!(
            integration = integration_id,
            "scheduled reconciliation of a deleted integration: removing its schedule"
        );
        crate::schedule::forget(state, integration_id).await;
        return Ok(None);
    };
    if wanted_reconcile(&integration).is_none() {
        let _ = state
            .scheduler()
            .remove_job(Job::Reconcile, integration_id)
            .await;
        let reason = if integration.active {
            "scheduled reconciliation is disabled for this integration; its schedule was removed"
        } else {
            "the integration is inactive; its schedule was removed"
        };
        return skipped(state, &integration, reason).await.map(Some);
    }
    let days = integration.tune().map_or(7, |t| t.reconcile.lookback_days);
    let give_up = Instant::now() + BUSY_WAIT;
    loop {
        let request = RunRequest {
            trigger: Trigger::Scheduled,
            range: None,
            days,
            apply: true,
            deadline,
        };
        match run_reconcile(state, &integration, request).await {
            Ok(run) => return Ok(Some(run)),
            Err(RunError::Busy { run_id, .. }) => {
                let next = Instant::now() + BUSY_POLL;
                if next > give_up || deadline.is_some_and(|d| next + Duration::from_secs(30) > d) {
                    let reason = format!(
                        "a sync or reconciliation of this integration kept running (run {run_id})"
                    );
                    return skipped(state, &integration, &reason).await.map(Some);
                }
                tokio::time::sleep(BUSY_POLL).await;
            }
            Err(RunError::Store(e)) => return Err(e.into()),
        }
    }
}

async fn skipped(
    state: &AppState,
    integration: &affnet_core::Integration,
    reason: &str,
) -> Result<ReconRun, ApiError> {
    let now = Utc::now();
    let tz = integration.tune().map_or(chrono_tz::UTC, |t| t.timezone);
    let today = affnet_core::reconcile::row::network_day(now, tz);
    let range = RunRange {
        from: today,
        to: today,
        tz,
    };
    let mut run = ReconRun::start(
        affnet_core::ids::new_id(),
        &integration.id,
        Trigger::Scheduled,
        true,
        range,
        now,
    );
    run.status = RunStatus::Skipped;
    run.finished_at = Some(now);
    run.message = Some(reason.to_string());
    tracing::info!(integration = %integration.id, reason, "scheduled reconciliation skipped");
    Ok(state.repo.record_recon_run(&run).await?)
}

//! Automatic offer sync: the scheduling port and how integrations drive it.
//!
//! One schedule per TUNE integration, named `affnet-sync-<integration id>`, exists exactly when
//! the integration is active and `settings.auto_sync.enabled` is true. Adapters: EventBridge
//! Scheduler on AWS ([`crate::schedule_aws`]), tokio tasks in the local server
//! ([`crate::schedule_local`]). Creating, patching or deleting an integration reconciles its
//! schedule; a scheduled run that finds its integration gone, inactive or no longer
//! auto-synced removes the schedule itself, so a failed reconcile heals on the next tick.

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::Integration;
use async_trait::async_trait;
use axum::http::StatusCode;

pub use affnet_core::settings::SyncFrequency as Frequency;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// What a schedule runs: offer sync, or reconciliation with TUNE's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    Sync,
    Reconcile,
}

impl Job {
    /// The schedule's name (EventBridge Scheduler allows 64 characters; ids are 26). Both start
    /// `affnet-sync-`, the prefix the template's grants are limited to.
    pub fn schedule_name(self, integration_id: &str) -> String {
        match self {
            Job::Sync => schedule_name(integration_id),
            Job::Reconcile => format!("affnet-sync-reconcile-{integration_id}"),
        }
    }

    /// The `job` of the scheduled invocation's payload (absent means sync).
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Sync => "sync",
            Job::Reconcile => "reconcile",
        }
    }
}

#[async_trait]
pub trait SyncScheduler: Send + Sync + 'static {
    /// Creates the integration's schedule, or changes its frequency.
    async fn upsert(&self, integration_id: &str, frequency: Frequency)
    -> Result<(), ScheduleError>;
    /// Deletes the integration's schedule; having none is not an error.
    async fn remove(&self, integration_id: &str) -> Result<(), ScheduleError>;
    /// The integration's schedule, if there is one.
    async fn get(&self, integration_id: &str) -> Result<Option<Frequency>, ScheduleError>;
    fn name(&self) -> &'static str;

    /// [`SyncScheduler::upsert`] for `job`. Adapters that run reconciliations override the
    /// `job` methods; by default only sync is scheduled (a reconciliation schedule is logged
    /// and not kept).
    async fn upsert_job(
        &self,
        job: Job,
        integration_id: &str,
        frequency: Frequency,
    ) -> Result<(), ScheduleError> {
        match job {
            Job::Sync => self.upsert(integration_id, frequency).await,
            Job::Reconcile => {
                tracing::warn!(
                    integration = integration_id,
                    scheduler = self.name(),
                    "this scheduler keeps no reconciliation schedules"
                );
                Ok(())
            }
        }
    }

    async fn remove_job(&self, job: Job, integration_id: &str) -> Result<(), ScheduleError> {
        match job {
            Job::Sync => self.remove(integration_id).await,
            Job::Reconcile => Ok(()),
        }
    }

    async fn get_job(
        &self,
        job: Job,
        integration_id: &str,
    ) -> Result<Option<Frequency>, ScheduleError> {
        match job {
            Job::Sync => self.get(integration_id).await,
            Job::Reconcile => Ok(None),
        }
    }
}

/// The sync schedule's name (EventBridge Scheduler allows 64 characters; ids are 26).
pub fn schedule_name(integration_id: &str) -> String {
    format!("affnet-sync-{integration_id}")
}

/// A host without scheduling (functions that never manage integrations, tests that do not
/// look at schedules): accepts and keeps nothing.
pub struct NoScheduler;

#[async_trait]
impl SyncScheduler for NoScheduler {
    async fn upsert(
        &self,
        integration_id: &str,
        frequency: Frequency,
    ) -> Result<(), ScheduleError> {
        tracing::warn!(
            integration = integration_id,
            ?frequency,
            "no scheduler on this host: automatic sync is not scheduled"
        );
        Ok(())
    }

    async fn remove(&self, _integration_id: &str) -> Result<(), ScheduleError> {
        Ok(())
    }

    async fn get(&self, _integration_id: &str) -> Result<Option<Frequency>, ScheduleError> {
        Ok(None)
    }

    fn name(&self) -> &'static str {
        "none"
    }
}

/// The schedule `integration` should have: TUNE, active, and `auto_sync.enabled`.
pub fn wanted(integration: &Integration) -> Option<Frequency> {
    integration.active.then(|| integration.tune()?.auto_sync)?
}

/// The reconciliation schedule `integration` should have: TUNE, active, `reconcile.enabled`.
pub fn wanted_reconcile(integration: &Integration) -> Option<Frequency> {
    integration
        .active
        .then(|| integration.tune()?.reconcile.schedule())?
}

/// After `integration` was stored: makes its schedules (sync and reconciliation) match. A
/// failure answers 503 and says that the integration itself was saved, so repeating the request
/// fixes the schedule.
pub async fn reconcile(state: &AppState, integration: &Integration) -> Result<(), ApiError> {
    if !integration.is_tune() {
        return Ok(());
    }
    let scheduler = state.scheduler();
    let mut result = Ok(());
    for (job, wanted) in [
        (Job::Sync, wanted(integration)),
        (Job::Reconcile, wanted_reconcile(integration)),
    ] {
        let step = match wanted {
            Some(frequency) => scheduler.upsert_job(job, &integration.id, frequency).await,
            None => scheduler.remove_job(job, &integration.id).await,
        };
        result = result.and(step);
    }
    result.map_err(|e| {
        tracing::error!(integration = %integration.id, error = %e, "schedule not updated");
        ApiError::Failed {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "schedule_unavailable",
            message: format!(
                "the integration was saved, but its automatic-sync schedule could not be updated ({e}); send the request again"
            ),
        }
    })
}

/// After an integration was deleted: removes its schedules. A failure is only logged: an
/// orphan schedule removes itself on its next run.
pub async fn forget(state: &AppState, integration_id: &str) {
    for job in [Job::Sync, Job::Reconcile] {
        if let Err(e) = state.scheduler().remove_job(job, integration_id).await {
            tracing::warn!(integration = integration_id, job = job.as_str(), error = %e, "schedule of a deleted integration not removed yet");
        }
    }
}

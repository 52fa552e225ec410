//! Scheduled work per integration: the scheduling port and how integrations drive it.
//!
//! Three jobs ([`Job`]), each one schedule per integration that wants it:
//! - offer sync, `affnet-sync-<integration id>`: a TUNE integration, active, with
//!   `settings.auto_sync.enabled` (hourly or daily);
//! - reconciliation, `affnet-sync-reconcile-<integration id>`: a TUNE integration, active, with
//!   `settings.reconcile.enabled` (daily);
//! - status loading, `affnet-sync-status-<integration id>`: an active CPA integration whose
//!   network has a status API, with `settings.status_sync.enabled` (every
//!   `status_sync.every_minutes`, 5–1440).
//!
//! Adapters: EventBridge Scheduler on AWS ([`crate::schedule_aws`]), tokio tasks in the local
//! server ([`crate::schedule_local`]). Creating, patching or deleting an integration reconciles
//! its schedules; a scheduled run that finds its integration gone or no longer wanting the job
//! removes the schedule itself, so a failed reconcile heals on the next tick.

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::Integration;
use affnet_core::settings::SyncFrequency;
use async_trait::async_trait;
use axum::http::StatusCode;
use std::time::Duration;

/// How often a schedule runs: offer sync's `hourly`/`daily` (the public `auto_sync.frequency`
/// stays [`SyncFrequency`]), or every N minutes (status loading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    Hourly,
    Daily,
    /// Every this many minutes (at least 1).
    Minutes(u32),
}

impl From<SyncFrequency> for Frequency {
    fn from(frequency: SyncFrequency) -> Frequency {
        match frequency {
            SyncFrequency::Hourly => Frequency::Hourly,
            SyncFrequency::Daily => Frequency::Daily,
        }
    }
}

impl Frequency {
    pub fn period(self) -> Duration {
        match self {
            Frequency::Hourly => Duration::from_secs(3600),
            Frequency::Daily => Duration::from_secs(24 * 3600),
            Frequency::Minutes(n) => Duration::from_secs(60 * u64::from(n.max(1))),
        }
    }

    /// The EventBridge Scheduler expression: `rate(1 hour)`, `rate(1 day)`, `rate(N minutes)`
    /// (`rate(1 minute)`: the unit is singular for a value of 1, plural otherwise).
    pub fn rate_expression(self) -> String {
        match self {
            Frequency::Hourly => "rate(1 hour)".into(),
            Frequency::Daily => "rate(1 day)".into(),
            Frequency::Minutes(n) if n <= 1 => "rate(1 minute)".into(),
            Frequency::Minutes(n) => format!("rate({n} minutes)"),
        }
    }

    /// The frequency of a stored expression: the ones [`Frequency::rate_expression`] makes.
    pub fn from_rate_expression(expression: &str) -> Option<Frequency> {
        let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
        let (value, unit) = inner.trim().split_once(' ')?;
        let value: u32 = value.parse().ok()?;
        match (value, unit.trim()) {
            (1, "hour") => Some(Frequency::Hourly),
            (1, "day") => Some(Frequency::Daily),
            (1, "minute") => Some(Frequency::Minutes(1)),
            (n, "minutes") if n > 1 => Some(Frequency::Minutes(n)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// What a schedule runs: offer sync, reconciliation with TUNE's reports, or loading lead
/// statuses from a CPA network's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    Sync,
    Reconcile,
    StatusSync,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Sync, Job::Reconcile, Job::StatusSync];

    /// The schedule's name (EventBridge Scheduler allows 64 characters; ids are 26). All start
    /// `affnet-sync-`, the prefix the template's grants are limited to.
    pub fn schedule_name(self, integration_id: &str) -> String {
        match self {
            Job::Sync => schedule_name(integration_id),
            Job::Reconcile => format!("affnet-sync-reconcile-{integration_id}"),
            Job::StatusSync => format!("affnet-sync-status-{integration_id}"),
        }
    }

    /// The `job` of the scheduled invocation's payload (absent means sync).
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Sync => "sync",
            Job::Reconcile => "reconcile",
            Job::StatusSync => "status_sync",
        }
    }

    /// The job a payload's `job` names; `None` for one this build does not know.
    pub fn parse(job: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|j| j.as_str() == job)
    }

    /// The schedule of this job `integration` should have ([`wanted`], [`wanted_reconcile`],
    /// [`wanted_status_sync`]).
    pub fn wanted(self, integration: &Integration) -> Option<Frequency> {
        match self {
            Job::Sync => wanted(integration),
            Job::Reconcile => wanted_reconcile(integration),
            Job::StatusSync => wanted_status_sync(integration),
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

    /// [`SyncScheduler::upsert`] for `job`. Adapters that run reconciliations and status loads
    /// override the `job` methods; by default only sync is scheduled (another job's schedule is
    /// logged and not kept).
    async fn upsert_job(
        &self,
        job: Job,
        integration_id: &str,
        frequency: Frequency,
    ) -> Result<(), ScheduleError> {
        match job {
            Job::Sync => self.upsert(integration_id, frequency).await,
            Job::Reconcile | Job::StatusSync => {
                tracing::warn!(
                    integration = integration_id,
                    scheduler = self.name(),
                    job = job.as_str(),
                    "this scheduler keeps no schedules of this job"
                );
                Ok(())
            }
        }
    }

    async fn remove_job(&self, job: Job, integration_id: &str) -> Result<(), ScheduleError> {
        match job {
            Job::Sync => self.remove(integration_id).await,
            Job::Reconcile | Job::StatusSync => Ok(()),
        }
    }

    async fn get_job(
        &self,
        job: Job,
        integration_id: &str,
    ) -> Result<Option<Frequency>, ScheduleError> {
        match job {
            Job::Sync => self.get(integration_id).await,
            Job::Reconcile | Job::StatusSync => Ok(None),
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
    integration
        .active
        .then(|| integration.tune()?.auto_sync.map(Frequency::from))?
}

/// The reconciliation schedule `integration` should have: TUNE, active, `reconcile.enabled`.
pub fn wanted_reconcile(integration: &Integration) -> Option<Frequency> {
    integration.active.then(|| {
        integration
            .tune()?
            .reconcile
            .schedule()
            .map(Frequency::from)
    })?
}

/// Whether `integration`'s network has a status API (statuses can be loaded, not only pushed
/// by postback).
pub fn has_status_api(integration: &Integration) -> bool {
    affnet_networks::spec::of(&integration.network).is_some_and(|api| api.statuses.is_some())
}

/// The status-loading schedule `integration` should have: CPA, active, its network with a
/// status API, `status_sync.enabled`; every `status_sync.every_minutes`.
pub fn wanted_status_sync(integration: &Integration) -> Option<Frequency> {
    if !integration.active || !has_status_api(integration) {
        return None;
    }
    let minutes = integration.cpa()?.status_sync_minutes?;
    Some(Frequency::Minutes(minutes))
}

/// After `integration` was stored: makes its schedules (sync, reconciliation, status loading)
/// match. A failure answers 503 and says that the integration itself was saved, so repeating
/// the request fixes the schedule.
pub async fn reconcile(state: &AppState, integration: &Integration) -> Result<(), ApiError> {
    let scheduler = state.scheduler();
    let mut result = Ok(());
    // A TUNE integration never has a status schedule, nor a CPA one a sync or reconciliation
    // schedule (the kind of an integration's network does not change): only its own jobs are
    // asked for, so a CPA integration costs no sync-schedule calls.
    let jobs: &[Job] = if integration.is_tune() {
        &[Job::Sync, Job::Reconcile]
    } else {
        &[Job::StatusSync]
    };
    for &job in jobs {
        let step = match job.wanted(integration) {
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
                "the integration was saved, but its schedule could not be updated ({e}); send the request again"
            ),
        }
    })
}

/// After an integration was deleted: removes its schedules. A failure is only logged: an
/// orphan schedule removes itself on its next run.
pub async fn forget(state: &AppState, integration_id: &str) {
    for job in Job::ALL {
        if let Err(e) = state.scheduler().remove_job(job, integration_id).await {
            tracing::warn!(integration = integration_id, job = job.as_str(), error = %e, "schedule of a deleted integration not removed yet");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn integration(network: &str, active: bool, settings: serde_json::Value) -> Integration {
        serde_json::from_value(json!({
            "id": "01J9ZQ5ZK6F3H2M8N4P7R1S0TV", "network": network, "name": "N",
            "active": active, "timeout_ms": 1000, "settings": settings, "credentials": {},
            "postback_token": "t", "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
        }))
        .expect("an integration")
    }

    #[test]
    fn status_schedule_name_and_rates() {
        let id = "01J9ZQ5ZK6F3H2M8N4P7R1S0TV";
        let name = Job::StatusSync.schedule_name(id);
        assert_eq!(name, format!("affnet-sync-status-{id}"));
        assert!(
            name.starts_with(&schedule_name("")),
            "under the granted prefix"
        );
        assert!(name.len() <= 64, "{} characters", name.len());
        assert_eq!(Job::StatusSync.as_str(), "status_sync");
        for job in Job::ALL {
            assert_eq!(Job::parse(job.as_str()), Some(job));
        }
        assert_eq!(Job::parse("lead_jobs"), None);
        for (minutes, expression) in [
            (5, "rate(5 minutes)"),
            (15, "rate(15 minutes)"),
            (1440, "rate(1440 minutes)"),
            (1, "rate(1 minute)"),
        ] {
            let frequency = Frequency::Minutes(minutes);
            assert_eq!(frequency.rate_expression(), expression);
            assert_eq!(Frequency::from_rate_expression(expression), Some(frequency));
            assert_eq!(
                frequency.period(),
                Duration::from_secs(60 * u64::from(minutes))
            );
        }
        // The offer-sync expressions stay what existing schedules have.
        assert_eq!(Frequency::Hourly.rate_expression(), "rate(1 hour)");
        assert_eq!(Frequency::Daily.rate_expression(), "rate(1 day)");
        assert_eq!(
            Frequency::from_rate_expression("rate(1 hour)"),
            Some(Frequency::Hourly)
        );
        assert_eq!(
            Frequency::from_rate_expression("rate(1 day)"),
            Some(Frequency::Daily)
        );
        for odd in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "cron(0 * * * ? *)",
            "rate(x minutes)",
        ] {
            assert_eq!(Frequency::from_rate_expression(odd), None, "{odd}");
        }
        assert_eq!(Frequency::from(SyncFrequency::Hourly), Frequency::Hourly);
    }

    #[test]
    fn a_status_schedule_is_wanted_by_active_enabled_cpa_integrations_with_a_status_api() {
        let every = |m: u32| json!({"status_sync": {"enabled": true, "every_minutes": m}});
        assert_eq!(
            wanted_status_sync(&integration("webvork", true, every(20))),
            Some(Frequency::Minutes(20))
        );
        // Defaults: enabled, every 15 minutes.
        assert_eq!(
            wanted_status_sync(&integration("webvork", true, json!({}))),
            Some(Frequency::Minutes(15))
        );
        assert_eq!(
            Job::StatusSync.wanted(&integration("webvork", true, every(1440))),
            Some(Frequency::Minutes(1440))
        );
        assert_eq!(
            wanted_status_sync(&integration("webvork", false, every(20))),
            None,
            "inactive"
        );
        assert_eq!(
            wanted_status_sync(&integration(
                "webvork",
                true,
                json!({"status_sync": {"enabled": false, "every_minutes": 20}})
            )),
            None,
            "disabled"
        );
        assert!(!has_status_api(&integration("leadbit", true, json!({}))));
        assert_eq!(
            wanted_status_sync(&integration("leadbit", true, every(20))),
            None,
            "no status API"
        );
        let tune = integration(
            "tune",
            true,
            json!({"network_id": "n", "auto_sync": {"enabled": true, "frequency": "hourly"}}),
        );
        assert_eq!(wanted_status_sync(&tune), None, "TUNE");
        assert_eq!(wanted(&tune), Some(Frequency::Hourly));
        // And a CPA integration never wants TUNE's jobs.
        let cpa = integration("webvork", true, every(20));
        assert_eq!((wanted(&cpa), wanted_reconcile(&cpa)), (None, None));
    }
}

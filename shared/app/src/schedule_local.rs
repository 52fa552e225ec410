//! The local server's scheduler: one tokio task per scheduled integration and job (sync,
//! reconciliation, status loading), behind the same
//! [`SyncScheduler`] port as EventBridge Scheduler. Schedules live in memory, so
//! [`LocalScheduler::start`] rebuilds them from the stored integrations at startup.

use crate::offer_sync::run_scheduled;
use crate::reconcile::run_scheduled_reconcile;
use crate::schedule::{Frequency, Job, ScheduleError, SyncScheduler};
use crate::state::AppState;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// A scheduled integration: its frequency, and the handle whose drop stops its task (once its
/// current run, if any, ends); no handle before [`LocalScheduler::start`].
type Entry = (Frequency, Option<watch::Sender<()>>);

pub struct LocalScheduler {
    /// The state runs use; set by [`LocalScheduler::start`] (the state holds this scheduler).
    state: OnceLock<AppState>,
    tasks: Mutex<HashMap<(Job, String), Entry>>,
    hourly: Duration,
    daily: Duration,
    /// One minute of a [`Frequency::Minutes`] period.
    minute: Duration,
}

impl LocalScheduler {
    pub fn new() -> Arc<LocalScheduler> {
        Self::with_periods(Frequency::Hourly.period(), Frequency::Daily.period())
    }

    /// Shorter periods, for tests.
    pub fn with_periods(hourly: Duration, daily: Duration) -> Arc<LocalScheduler> {
        Self::with_periods_and_minute(hourly, daily, Duration::from_secs(60))
    }

    /// Shorter periods, for tests, `minute` included: `Minutes(n)` runs every `n * minute`.
    pub fn with_periods_and_minute(
        hourly: Duration,
        daily: Duration,
        minute: Duration,
    ) -> Arc<LocalScheduler> {
        Arc::new(LocalScheduler {
            state: OnceLock::new(),
            tasks: Mutex::new(HashMap::new()),
            hourly,
            daily,
            minute,
        })
    }

    /// How often a schedule of `frequency` runs here.
    pub fn period_of(&self, frequency: Frequency) -> Duration {
        match frequency {
            Frequency::Hourly => self.hourly,
            Frequency::Daily => self.daily,
            Frequency::Minutes(n) => self.minute * n.max(1),
        }
    }

    /// Starts running schedules with `state` (whose scheduler is this one) and schedules every
    /// job each stored integration wants (sync, reconciliation, status loading).
    pub async fn start(&self, state: AppState) -> Result<usize, ScheduleError> {
        let _ = self.state.set(state.clone());
        let mut cursor = None;
        let mut scheduled = 0;
        loop {
            let (page, next) = state
                .repo
                .list_integrations(100, cursor)
                .await
                .map_err(|e| ScheduleError(e.to_string()))?;
            for integration in &page {
                for job in Job::ALL {
                    if let Some(frequency) = job.wanted(integration) {
                        self.upsert_job(job, &integration.id, frequency).await?;
                        scheduled += 1;
                    }
                }
            }
            if next.is_none() {
                break;
            }
            cursor = next;
        }
        // Schedules set before start (none in practice) get their tasks now.
        let pending: Vec<((Job, String), Frequency)> = self
            .lock()
            .iter()
            .filter(|(_, (_, task))| task.is_none())
            .map(|(key, (f, _))| (key.clone(), *f))
            .collect();
        for ((job, id), frequency) in pending {
            self.upsert_job(job, &id, frequency).await?;
        }
        tracing::info!(scheduled, "local scheduler started");
        Ok(scheduled)
    }

    /// Integrations with a sync schedule, for tests and diagnostics.
    pub fn scheduled(&self) -> HashMap<String, Frequency> {
        self.scheduled_jobs(Job::Sync)
    }

    /// Integrations with a schedule of `job`.
    pub fn scheduled_jobs(&self, job: Job) -> HashMap<String, Frequency> {
        self.lock()
            .iter()
            .filter(|((j, _), _)| *j == job)
            .map(|((_, id), (f, _))| (id.clone(), *f))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Job, String), Entry>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(
        &self,
        job: Job,
        integration_id: &str,
        frequency: Frequency,
    ) -> Option<watch::Sender<()>> {
        let state = self.state.get()?.clone();
        let (stop, mut stopped) = watch::channel(());
        let period = self.period_of(frequency);
        let id = integration_id.to_string();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            // A run longer than the period delays the next one instead of stacking them.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopped.changed() => return,
                }
                // Not cancelled mid-run: a run removing its own schedule still logs.
                let result = match job {
                    Job::Sync => run_scheduled(&state, &id, None).await.map(|_| ()),
                    Job::Reconcile => run_scheduled_reconcile(&state, &id, None).await.map(|_| ()),
                    Job::StatusSync => {
                        match crate::leads::status_sync::run_scheduled(&state, &id).await {
                            Ok(crate::leads::status_sync::Scheduled::Failed(message)) => {
                                tracing::error!(integration = %id, job = job.as_str(), error = %message, "scheduled run failed");
                                Ok(())
                            }
                            other => other.map(|_| ()),
                        }
                    }
                };
                if let Err(e) = result {
                    tracing::error!(integration = %id, job = job.as_str(), error = %e, "scheduled run failed");
                }
            }
        });
        Some(stop)
    }
}

#[async_trait]
impl SyncScheduler for LocalScheduler {
    async fn upsert(
        &self,
        integration_id: &str,
        frequency: Frequency,
    ) -> Result<(), ScheduleError> {
        self.upsert_job(Job::Sync, integration_id, frequency).await
    }

    async fn remove(&self, integration_id: &str) -> Result<(), ScheduleError> {
        self.remove_job(Job::Sync, integration_id).await
    }

    async fn get(&self, integration_id: &str) -> Result<Option<Frequency>, ScheduleError> {
        self.get_job(Job::Sync, integration_id).await
    }

    fn name(&self) -> &'static str {
        "local"
    }

    async fn upsert_job(
        &self,
        job: Job,
        integration_id: &str,
        frequency: Frequency,
    ) -> Result<(), ScheduleError> {
        let key = (job, integration_id.to_string());
        let mut tasks = self.lock();
        if let Some((current, Some(_))) = tasks.get(&key)
            && *current == frequency
        {
            return Ok(());
        }
        tasks.remove(&key);
        let task = self.spawn(job, integration_id, frequency);
        tasks.insert(key, (frequency, task));
        Ok(())
    }

    async fn remove_job(&self, job: Job, integration_id: &str) -> Result<(), ScheduleError> {
        // Dropping the stop handle ends the task; a run in progress finishes first.
        self.lock().remove(&(job, integration_id.to_string()));
        Ok(())
    }

    async fn get_job(
        &self,
        job: Job,
        integration_id: &str,
    ) -> Result<Option<Frequency>, ScheduleError> {
        Ok(self
            .lock()
            .get(&(job, integration_id.to_string()))
            .map(|(f, _)| *f))
    }
}

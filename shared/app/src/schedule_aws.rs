//! EventBridge Scheduler adapter: per integration in the `default` group, the sync schedule
//! `affnet-sync-<integration id>` (`rate(1 hour)` or `rate(1 day)`, invoking the offer-sync
//! function with `{"integration_id": "<id>"}`), the reconciliation schedule
//! `affnet-sync-reconcile-<integration id>` (`rate(1 day)`, `{"integration_id": "<id>", "job":
//! "reconcile"}`) and the status-loading schedule `affnet-sync-status-<integration id>`
//! (`rate(N minutes)`, `{"integration_id": "<id>", "job": "status_sync"}`), all through the
//! scheduler's role.
//!
//! Configuration (template.yaml sets them): `AFFNET_SYNC_FUNCTION_ARN` (the target),
//! `AFFNET_SCHEDULER_ROLE_ARN` (the role EventBridge Scheduler assumes to invoke it) and
//! `AFFNET_SCHEDULE_DLQ_ARN` (the SQS queue that gets an invocation the scheduler gave up on).

use crate::schedule::{Frequency, Job, ScheduleError, SyncScheduler};
use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::config::retry::RetryConfig;
use aws_sdk_scheduler::config::timeout::TimeoutConfig;
use aws_sdk_scheduler::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_scheduler::types::{
    DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, ScheduleState,
    Target,
};
use std::sync::OnceLock;

/// The AWS host's scheduler: [`EventBridgeScheduler`], its client built at first use from the
/// host's SDK configuration (no AWS call either way). Only code that manages schedules reaches
/// it (through [`crate::AppState::scheduler`]: the `api` and `offer-sync` handlers), so the other
/// functions do not link the Scheduler client.
pub struct LazyEventBridgeScheduler {
    aws: aws_config::SdkConfig,
    target_arn: Option<String>,
    role_arn: Option<String>,
    dlq_arn: Option<String>,
    bounds: Option<(TimeoutConfig, RetryConfig)>,
    built: OnceLock<EventBridgeScheduler>,
}

impl LazyEventBridgeScheduler {
    pub fn new(
        aws: &aws_config::SdkConfig,
        target_arn: Option<String>,
        role_arn: Option<String>,
    ) -> Self {
        LazyEventBridgeScheduler {
            aws: aws.clone(),
            target_arn,
            role_arn,
            dlq_arn: None,
            bounds: None,
            built: OnceLock::new(),
        }
    }

    /// The client's timeouts and retries.
    pub fn with_bounds(mut self, timeouts: TimeoutConfig, retries: RetryConfig) -> Self {
        self.bounds = Some((timeouts, retries));
        self
    }

    /// The dead-letter queue of every schedule's target.
    pub fn with_dead_letter_queue(mut self, dlq_arn: Option<String>) -> Self {
        self.dlq_arn = dlq_arn;
        self
    }

    pub fn get(&self) -> &EventBridgeScheduler {
        self.built.get_or_init(|| {
            let mut config = aws_sdk_scheduler::config::Builder::from(&self.aws);
            if let Some((timeouts, retries)) = &self.bounds {
                config = config
                    .timeout_config(timeouts.clone())
                    .retry_config(retries.clone());
            }
            EventBridgeScheduler::new(
                Client::from_conf(config.build()),
                self.target_arn.clone(),
                self.role_arn.clone(),
            )
            .with_dead_letter_queue(self.dlq_arn.clone())
        })
    }
}

pub const TARGET_ARN_VAR: &str = "AFFNET_SYNC_FUNCTION_ARN";
pub const ROLE_ARN_VAR: &str = "AFFNET_SCHEDULER_ROLE_ARN";
pub const DLQ_ARN_VAR: &str = "AFFNET_SCHEDULE_DLQ_ARN";
const GROUP: &str = "default";

pub struct EventBridgeScheduler {
    client: Client,
    target_arn: Option<String>,
    role_arn: Option<String>,
    dlq_arn: Option<String>,
}

fn failed<E: std::error::Error + 'static>(what: &str, e: E) -> ScheduleError {
    ScheduleError(format!("{what}: {}", DisplayErrorContext(e)))
}

impl EventBridgeScheduler {
    pub fn new(client: Client, target_arn: Option<String>, role_arn: Option<String>) -> Self {
        EventBridgeScheduler {
            client,
            target_arn: target_arn.filter(|a| !a.is_empty()),
            role_arn: role_arn.filter(|a| !a.is_empty()),
            dlq_arn: None,
        }
    }

    /// Targets get this dead-letter queue (`AFFNET_SCHEDULE_DLQ_ARN`); without one, an
    /// invocation the scheduler gives up on is dropped.
    pub fn with_dead_letter_queue(mut self, dlq_arn: Option<String>) -> Self {
        self.dlq_arn = dlq_arn.filter(|a| !a.is_empty());
        self
    }

    fn target(
        &self,
        job: Job,
        integration_id: &str,
        frequency: Frequency,
    ) -> Result<Target, ScheduleError> {
        let missing = |var: &str| ScheduleError(format!("{var} is not set on this function"));
        let input = match job {
            Job::Sync => serde_json::json!({ "integration_id": integration_id }),
            Job::Reconcile | Job::StatusSync => {
                serde_json::json!({ "integration_id": integration_id, "job": job.as_str() })
            }
        }
        .to_string();
        Target::builder()
            .arn(
                self.target_arn
                    .clone()
                    .ok_or_else(|| missing(TARGET_ARN_VAR))?,
            )
            .role_arn(self.role_arn.clone().ok_or_else(|| missing(ROLE_ARN_VAR))?)
            .input(input)
            // A run lost to an error is made up by the next tick; two retries cover throttling.
            // An invocation is not kept past the next tick (EventBridge allows 60 s to 24 h).
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(2)
                    .maximum_event_age_in_seconds(max_event_age(frequency))
                    .build(),
            )
            .set_dead_letter_config(
                self.dlq_arn
                    .as_ref()
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(|e| failed("schedule target", e))
    }
}

/// How long EventBridge Scheduler keeps retrying an invocation: an hour, or one period of a
/// shorter schedule (at least the minimum, 60 s), so a retried run does not meet the next one.
pub fn max_event_age(frequency: Frequency) -> i32 {
    let period = i32::try_from(frequency.period().as_secs()).unwrap_or(i32::MAX);
    period.clamp(60, 3600)
}

fn window() -> Result<FlexibleTimeWindow, ScheduleError> {
    FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
        .map_err(|e| failed("schedule window", e))
}

fn is_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, code: &str) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some(code)
}

#[async_trait]
impl SyncScheduler for EventBridgeScheduler {
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
        "eventbridge-scheduler"
    }

    async fn upsert_job(
        &self,
        job: Job,
        integration_id: &str,
        frequency: Frequency,
    ) -> Result<(), ScheduleError> {
        let name = job.schedule_name(integration_id);
        let description = match job {
            Job::Sync => format!("affnet offer sync of integration {integration_id}"),
            Job::Reconcile => {
                format!("affnet reconciliation of integration {integration_id} with TUNE's reports")
            }
            Job::StatusSync => {
                format!("affnet lead status loading of integration {integration_id}")
            }
        };
        let created = self
            .client
            .create_schedule()
            .name(&name)
            .group_name(GROUP)
            .description(&description)
            .schedule_expression(frequency.rate_expression())
            .flexible_time_window(window()?)
            .target(self.target(job, integration_id, frequency)?)
            .state(ScheduleState::Enabled)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // It exists: update replaces the whole definition.
            Err(e) if is_code(&e, "ConflictException") => self
                .client
                .update_schedule()
                .name(&name)
                .group_name(GROUP)
                .description(&description)
                .schedule_expression(frequency.rate_expression())
                .flexible_time_window(window()?)
                .target(self.target(job, integration_id, frequency)?)
                .state(ScheduleState::Enabled)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| failed("update schedule", e)),
            Err(e) => Err(failed("create schedule", e)),
        }
    }

    async fn remove_job(&self, job: Job, integration_id: &str) -> Result<(), ScheduleError> {
        let deleted = self
            .client
            .delete_schedule()
            .name(job.schedule_name(integration_id))
            .group_name(GROUP)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(()),
            Err(e) => Err(failed("delete schedule", e)),
        }
    }

    async fn get_job(
        &self,
        job: Job,
        integration_id: &str,
    ) -> Result<Option<Frequency>, ScheduleError> {
        let found = self
            .client
            .get_schedule()
            .name(job.schedule_name(integration_id))
            .group_name(GROUP)
            .send()
            .await;
        match found {
            Ok(schedule) => Ok(schedule
                .schedule_expression()
                .and_then(Frequency::from_rate_expression)),
            Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(None),
            Err(e) => Err(failed("get schedule", e)),
        }
    }
}

//! The offer-sync Lambda's handler. It gets two kinds of events: API Gateway requests for its
//! routes (served by the same axum router as everywhere), and EventBridge Scheduler's direct
//! invocations `{"integration_id": "..."}`, which run a scheduled sync, or
//! `{"integration_id": "...", "job": "reconcile"}`, a scheduled reconciliation, or
//! `{"integration_id": "...", "job": "status_sync"}`, a scheduled status load, or
//! `{"job": "lead_jobs"}`, the lead jobs.

use crate::offer_sync::run_scheduled;
use crate::reconcile::run_scheduled_reconcile;
use crate::router;
use crate::schedule::Job;
use crate::state::AppState;
use affnet_core::reconcile::RunStatus;
use affnet_core::sync_log::SyncStatus;
use lambda_http::lambda_runtime::Diagnostic;
use lambda_http::lambda_runtime::{self, Context, LambdaEvent, service_fn};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Error, Service};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Time kept back from the invocation's deadline to write the log and release the lease.
const FINISH_MARGIN: Duration = Duration::from_secs(10);

/// Serves the offer-sync function until the Lambda runtime stops.
pub async fn run(state: AppState) -> Result<(), Error> {
    let router = router::for_routes(crate::routes::OFFER_SYNC, state.clone());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        // Each failure is reported with its own error type (see `InvocationError`).
        handle(state.clone(), router.clone(), event)
    }))
    .await
}

/// The integration id of a scheduler invocation; `None` for anything else (HTTP events).
pub fn scheduled_integration_id(payload: &Value) -> Option<String> {
    let map = payload.as_object()?;
    let http = ["requestContext", "httpMethod", "routeKey", "rawPath"];
    if http.iter().any(|k| map.contains_key(*k)) {
        return None;
    }
    map.get("integration_id")?
        .as_str()
        .map(str::to_string)
        .filter(|id| !id.is_empty())
}

/// The lead jobs' schedule (`{"job": "lead_jobs"}`, every minute): retries, erasure of
/// personal data, the silence watch (see [`crate::leads::jobs`]).
pub fn is_lead_jobs(payload: &Value) -> bool {
    payload.get("job").and_then(Value::as_str) == Some(LEAD_JOBS)
}

/// The `job` of the lead jobs' scheduler input.
pub const LEAD_JOBS: &str = "lead_jobs";

/// The job of a scheduler invocation: `"job": "reconcile"` or `"status_sync"`, else sync.
pub fn scheduled_job(payload: &Value) -> Job {
    payload
        .get("job")
        .and_then(Value::as_str)
        .and_then(Job::parse)
        .unwrap_or(Job::Sync)
}

/// The instant to stop by: the invocation's deadline (Unix milliseconds; 0 = unknown) less
/// `margin`.
pub(crate) fn deadline_before(context: &Context, margin: Duration) -> Option<Instant> {
    if context.deadline == 0 {
        return None;
    }
    let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let left = Duration::from_millis(context.deadline.saturating_sub(now_ms));
    Some(Instant::now() + left.saturating_sub(margin))
}

fn deadline_of(context: &Context) -> Option<Instant> {
    deadline_before(context, FINISH_MARGIN)
}

/// Why an invocation failed. Lambda reports the variant's name as the error type (not the
/// `&Box<dyn Error>` of a boxed error), so a failed scheduled sync reads as `SyncFailed` in the
/// invocation result, the logs and the metrics.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The scheduled run ran and failed (its log, with the reason, is stored).
    #[error("scheduled sync of {integration_id} failed (run {run_id}): {message}")]
    SyncFailed {
        integration_id: String,
        run_id: String,
        message: String,
    },
    /// The scheduled run could not start or finish (the store failed).
    #[error("scheduled sync of {integration_id} could not run: {message}")]
    SyncNotRun {
        integration_id: String,
        message: String,
    },
    /// The scheduled reconciliation ran and failed (its record says why).
    #[error("scheduled reconciliation of {integration_id} failed (run {run_id}): {message}")]
    ReconcileFailed {
        integration_id: String,
        run_id: String,
        message: String,
    },
    /// The scheduled status load failed as a whole (it could not run, or every request to the
    /// network failed).
    #[error("scheduled status load of {integration_id} failed: {message}")]
    StatusSyncFailed {
        integration_id: String,
        message: String,
    },
    /// The payload was neither a scheduler event nor an HTTP event.
    #[error("neither a scheduler event nor an HTTP event: {0}")]
    UnknownEvent(String),
    /// The HTTP response could not be serialized.
    #[error("HTTP response: {0}")]
    Response(String),
}

impl InvocationError {
    pub fn error_type(&self) -> &'static str {
        match self {
            InvocationError::SyncFailed { .. } => "SyncFailed",
            InvocationError::SyncNotRun { .. } => "SyncNotRun",
            InvocationError::ReconcileFailed { .. } => "ReconcileFailed",
            InvocationError::StatusSyncFailed { .. } => "StatusSyncFailed",
            InvocationError::UnknownEvent(_) => "UnknownEvent",
            InvocationError::Response(_) => "ResponseError",
        }
    }
}

impl From<InvocationError> for Diagnostic {
    fn from(error: InvocationError) -> Diagnostic {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

/// One invocation: a scheduled sync, or an HTTP request for the router. A scheduled run that
/// failed fails the invocation; a skipped or partial one (it continues next time) does not.
pub async fn handle(
    state: AppState,
    router: axum::Router,
    event: LambdaEvent<Value>,
) -> Result<Value, InvocationError> {
    let LambdaEvent { payload, context } = event;
    if is_lead_jobs(&payload) {
        return Ok(crate::leads::jobs::run_lead_jobs(&state).await);
    }
    if let Some(integration_id) = scheduled_integration_id(&payload) {
        match scheduled_job(&payload) {
            Job::Reconcile => {
                return reconcile_scheduled(&state, integration_id, deadline_of(&context)).await;
            }
            Job::StatusSync => return status_sync_scheduled(&state, integration_id).await,
            Job::Sync => {}
        }
        let log = run_scheduled(&state, &integration_id, deadline_of(&context))
            .await
            .map_err(|e| InvocationError::SyncNotRun {
                integration_id: integration_id.clone(),
                message: e.to_string(),
            })?;
        if let Some(log) = log.as_ref().filter(|l| l.status == SyncStatus::Failed) {
            return Err(InvocationError::SyncFailed {
                integration_id,
                run_id: log.id.clone(),
                message: log
                    .message
                    .clone()
                    .or_else(|| log.errors.first().map(|e| e.message.clone()))
                    .unwrap_or_else(|| "no message".into()),
            });
        }
        return Ok(json!({ "integration_id": integration_id, "log": log }));
    }
    let request: LambdaRequest = serde_json::from_value(payload)
        .map_err(|e| InvocationError::UnknownEvent(e.to_string()))?;
    let mut http = Adapter::from(router);
    let response = http
        .call(LambdaEvent::new(request, context))
        .await
        .map_err(|never| match never {})?;
    serde_json::to_value(response).map_err(|e| InvocationError::Response(e.to_string()))
}

/// A scheduled reconciliation; a failed run fails the invocation.
async fn reconcile_scheduled(
    state: &AppState,
    integration_id: String,
    deadline: Option<Instant>,
) -> Result<Value, InvocationError> {
    let run = run_scheduled_reconcile(state, &integration_id, deadline)
        .await
        .map_err(|e| InvocationError::SyncNotRun {
            integration_id: integration_id.clone(),
            message: e.to_string(),
        })?;
    if let Some(run) = run.as_ref().filter(|r| r.status == RunStatus::Failed) {
        return Err(InvocationError::ReconcileFailed {
            integration_id,
            run_id: run.id.clone(),
            message: run.message.clone().unwrap_or_else(|| "no message".into()),
        });
    }
    Ok(json!({ "integration_id": integration_id, "job": "reconcile", "run": run }))
}

/// A scheduled status load; one that failed as a whole fails the invocation, a skipped one (or
/// one of a deleted integration) does not.
async fn status_sync_scheduled(
    state: &AppState,
    integration_id: String,
) -> Result<Value, InvocationError> {
    use crate::leads::status_sync::{Scheduled, run_scheduled};
    let outcome =
        run_scheduled(state, &integration_id)
            .await
            .map_err(|e| InvocationError::SyncNotRun {
                integration_id: integration_id.clone(),
                message: e.to_string(),
            })?;
    let job = Job::StatusSync.as_str();
    Ok(match outcome {
        Scheduled::Gone => {
            json!({ "integration_id": integration_id, "job": job, "status": "skipped",
                                   "message": "the integration was deleted; its schedules were removed" })
        }
        Scheduled::Skipped(reason) => json!({ "integration_id": integration_id, "job": job,
                                              "status": "skipped", "message": reason }),
        Scheduled::Ran(run) => json!({ "integration_id": integration_id, "job": job,
                                       "status": "succeeded", "run": run }),
        Scheduled::Failed(message) => {
            return Err(InvocationError::StatusSyncFailed {
                integration_id,
                message,
            });
        }
    })
}

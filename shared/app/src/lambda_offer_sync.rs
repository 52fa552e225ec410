//! The offer-sync Lambda's handler. It gets two kinds of events: API Gateway requests for its
//! routes (served by the same axum router as everywhere), and EventBridge Scheduler's direct
//! invocations `{"integration_id": "..."}`, which run a scheduled sync.

use crate::offer_sync::run_scheduled;
use crate::router;
use crate::state::AppState;
use lambda_http::lambda_runtime::{self, Context, LambdaEvent, service_fn};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Error, Service};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Time kept back from the invocation's deadline to write the log and release the lease.
const FINISH_MARGIN: Duration = Duration::from_secs(10);

/// Serves the offer-sync function until the Lambda runtime stops.
pub async fn run(state: AppState) -> Result<(), Error> {
    let router = router::for_function(crate::routes::Function::OfferSync, state.clone());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
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

/// The instant to stop by, from the invocation's deadline (Unix milliseconds; 0 = unknown).
fn deadline_of(context: &Context) -> Option<Instant> {
    if context.deadline == 0 {
        return None;
    }
    let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let left = Duration::from_millis(context.deadline.saturating_sub(now_ms));
    Some(Instant::now() + left.saturating_sub(FINISH_MARGIN))
}

/// One invocation: a scheduled sync, or an HTTP request for the router.
pub async fn handle(
    state: AppState,
    router: axum::Router,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let LambdaEvent { payload, context } = event;
    if let Some(integration_id) = scheduled_integration_id(&payload) {
        let log = run_scheduled(&state, &integration_id, deadline_of(&context))
            .await
            .map_err(|e| Error::from(format!("scheduled sync of {integration_id}: {e}")))?;
        return Ok(json!({ "integration_id": integration_id, "log": log }));
    }
    let request: LambdaRequest = serde_json::from_value(payload)
        .map_err(|e| Error::from(format!("neither a scheduler event nor an HTTP event: {e}")))?;
    let mut http = Adapter::from(router);
    let response = http
        .call(LambdaEvent::new(request, context))
        .await
        .map_err(|never| match never {})?;
    Ok(serde_json::to_value(response)?)
}

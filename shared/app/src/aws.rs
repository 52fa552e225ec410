//! The AWS host's wiring: DynamoDB store and configuration from the Lambda environment.

use crate::state::{AppState, Config};
use std::sync::Arc;

/// Builds the state once per Lambda container (cold start); every invocation reuses it.
pub async fn state_from_env() -> Result<AppState, Box<dyn std::error::Error + Send + Sync>> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = affnet_store::DynamoStore::from_config(&aws);
    // Automatic offer sync: EventBridge Scheduler (see crate::schedule_aws for its variables).
    let scheduler = Arc::new(crate::schedule_aws::EventBridgeScheduler::from_env(&aws));
    Ok(AppState::new(Arc::new(store), Config::from_env()?).with_scheduler(scheduler))
}

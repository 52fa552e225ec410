//! The AWS host's wiring: DynamoDB store and configuration from the Lambda environment.

use crate::{AppState, Config};
use std::sync::Arc;

/// Builds the state once per Lambda container (cold start); every invocation reuses it.
pub async fn state_from_env() -> Result<AppState, Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = affnet_store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.aws.table.clone(),
    );
    // Automatic offer sync: EventBridge Scheduler, its client built at first use (only the
    // functions that manage schedules link it; see AppState::scheduler).
    let scheduler = crate::schedule_aws::LazyEventBridgeScheduler::new(
        &aws,
        config.aws.sync_function_arn.clone(),
        config.aws.scheduler_role_arn.clone(),
    );
    Ok(AppState::new(Arc::new(store), config).with_aws_scheduler(scheduler))
}

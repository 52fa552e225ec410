//! Integration health and the silence watch on the DynamoDB adapter against moto (started by
//! the test command, or by `affnet_store::testing`).

mod health_cases;
mod pb_support;
mod support;

use affnet_store::ItemStore;
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(affnet_store::testing::fresh_dynamo_store().await)
}

health_suite!(fresh());

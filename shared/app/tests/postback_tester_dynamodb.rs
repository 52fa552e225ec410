//! The postback tester on the DynamoDB adapter against moto (started by the test command, or by
//! `affnet_store::testing`), through a real server on a loopback port.

mod tester_cases;

use affnet_store::ItemStore;
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(affnet_store::testing::fresh_dynamo_store().await)
}

tester_suite!(fresh());

//! Integration health and the silence watch on the DynamoDB adapter against moto (started by
//! the test command, or by `affnet_store::testing`).

mod health_cases;
mod pb_support;
mod support;

use affnet_store::ItemStore;
use std::sync::Arc;

/// As the AWS host builds it: shared counters deferred to the ledger, folded when read.
async fn fresh() -> Arc<dyn ItemStore> {
    let store: Arc<dyn ItemStore> = Arc::new(affnet_store::testing::fresh_dynamo_store().await);
    affnet_store::ledger::CounterLedger::around(store)
}

health_suite!(fresh());

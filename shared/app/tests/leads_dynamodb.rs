//! Lead cases on the DynamoDB adapter against moto (started by the test command).

mod lead_cases;
mod pb_support;
mod support;

use affnet_store::ItemStore;
use std::sync::Arc;

/// As the AWS host builds it: shared counters deferred to the ledger, folded when read.
async fn fresh() -> Arc<dyn ItemStore> {
    let store: Arc<dyn ItemStore> = Arc::new(affnet_store::testing::fresh_dynamo_store().await);
    affnet_store::ledger::CounterLedger::around(store)
}

lead_suite!(fresh());

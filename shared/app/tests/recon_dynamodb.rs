//! Reconciliation with TUNE's reports on the DynamoDB adapter, against moto (started by the test
//! command, or by `affnet_store::testing` when AFFNET_TEST_DYNAMODB_ENDPOINT is unset). Without
//! moto these tests fail; they never skip.

mod recon_cases;
mod support;

use affnet_store::ItemStore;
use std::sync::Arc;

/// As the AWS host builds it: shared counters deferred to the ledger, folded when read.
async fn fresh() -> Arc<dyn ItemStore> {
    let store: Arc<dyn ItemStore> = Arc::new(affnet_store::testing::fresh_dynamo_store().await);
    affnet_store::ledger::CounterLedger::around(store)
}

recon_suite!(fresh());

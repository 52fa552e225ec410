//! The postback tester on the DynamoDB adapter against moto (started by the test command, or by
//! `affnet_store::testing`), through a real server on a loopback port.

mod tester_cases;

use affnet_store::ItemStore;
use std::sync::Arc;

/// As the AWS host builds it: shared counters deferred to the ledger, folded when read.
async fn fresh() -> Arc<dyn ItemStore> {
    let store: Arc<dyn ItemStore> = Arc::new(affnet_store::testing::fresh_dynamo_store().await);
    affnet_store::ledger::CounterLedger::around(store)
}

tester_suite!(fresh());

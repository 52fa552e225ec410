//! The postback concurrency cases (200 concurrent duplicates, interleaved status changes) with
//! DynamoDB's transaction conflicts injected under the store ([`ContendedStore`]), on both
//! adapters: the repository retries them, and still one conversion, its totals counted once.

mod pb_support;
#[allow(dead_code)]
mod postback_cases;
#[allow(dead_code)]
mod support;

use affnet_store::contention::ContendedStore;
use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;
use std::time::Duration;

/// Items stay held this long from a batch's start.
const WINDOW: Duration = Duration::from_millis(1);

async fn sqlite() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

async fn dynamodb() -> Arc<dyn ItemStore> {
    Arc::new(affnet_store::testing::fresh_dynamo_store().await)
}

macro_rules! contended_cases {
    ($store:ident) => {
        mod $store {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_deliveries_record_once() {
                let contended = Arc::new(ContendedStore::new(super::$store().await, WINDOW));
                postback_cases::concurrent_deliveries_record_once(contended.clone()).await;
                assert!(contended.conflicts() > 0, "no conflict was injected");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interleaved_status_changes_settle_consistently() {
                let contended = Arc::new(ContendedStore::new(super::$store().await, WINDOW));
                postback_cases::interleaved_status_changes_settle_consistently(contended.clone())
                    .await;
                assert!(contended.conflicts() > 0, "no conflict was injected");
            }
        }
    };
}

contended_cases!(sqlite);
contended_cases!(dynamodb);

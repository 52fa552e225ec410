//! The postback concurrency cases (200 concurrent duplicates, interleaved status changes) with
//! DynamoDB's transaction conflicts injected under the store ([`ContendedStore`]), on both
//! adapters: the repository retries them, and still one conversion, its totals counted once.

mod pb_support;
#[allow(dead_code)]
mod postback_cases;
mod support;

use affnet_store::contention::ContendedStore;
use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;
use std::time::Duration;

/// Items stay held this long from a batch's start: on SQLite a batch takes well under that; the
/// DynamoDB test client sends one request at a time, so batches reach moto milliseconds apart
/// and are held longer there to collide at all.
const SQLITE_WINDOW: Duration = Duration::from_millis(1);
const DYNAMODB_WINDOW: Duration = Duration::from_millis(10);

async fn sqlite() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

async fn dynamodb() -> Arc<dyn ItemStore> {
    Arc::new(affnet_store::testing::fresh_dynamo_store().await)
}

macro_rules! contended_cases {
    ($store:ident, $window:expr) => {
        mod $store {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_deliveries_record_once() {
                let contended = Arc::new(ContendedStore::new(super::$store().await, $window));
                postback_cases::concurrent_deliveries_record_once(contended.clone()).await;
                let conflicts = contended.conflicts();
                eprintln!("conflicts injected: {conflicts}");
                assert!(conflicts > 0, "no conflict was injected");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interleaved_status_changes_settle_consistently() {
                let contended = Arc::new(ContendedStore::new(super::$store().await, $window));
                postback_cases::interleaved_status_changes_settle_consistently(contended.clone())
                    .await;
                let conflicts = contended.conflicts();
                eprintln!("conflicts injected: {conflicts}");
                assert!(conflicts > 0, "no conflict was injected");
            }
        }
    };
}

contended_cases!(sqlite, SQLITE_WINDOW);
contended_cases!(dynamodb, DYNAMODB_WINDOW);

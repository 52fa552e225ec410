//! The postback concurrency cases (200 concurrent duplicates, interleaved status changes) with
//! DynamoDB's transaction conflicts injected under the store ([`ContendedStore`]), on both
//! adapters: the repository retries them, and still one conversion, its totals counted once.

mod pb_support;
#[allow(dead_code, unused_imports)]
mod postback_cases;
mod support;

use affnet_store::contention::ContendedStore;
use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;
use std::time::Duration;

/// Items stay held this long from a batch's start: on SQLite a batch takes well under that; the
/// DynamoDB test client sends one request at a time, so batches reach moto milliseconds apart
/// and are held longer there. However the machine's timing falls, transactions wait for a rival
/// until the first conflict ([`ContendedStore::guarantee_a_conflict`]), so one is always injected.
/// A held item takes at most one batch per window: at 10 ms (100 a second) the 200 deliveries of
/// one postback needed 2 s of the item, more than the repository's retries wait (15 attempts,
/// about 1 s of pauses), and on a machine where moto answered within 10 ms some gave up (503).
const SQLITE_WINDOW: Duration = Duration::from_millis(1);
const DYNAMODB_WINDOW: Duration = Duration::from_millis(2);

async fn sqlite() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

async fn dynamodb() -> Arc<dyn ItemStore> {
    Arc::new(affnet_store::testing::fresh_dynamo_store().await)
}

/// The local host: the embedded store as it is.
fn as_local(contended: Arc<ContendedStore>) -> Arc<dyn ItemStore> {
    contended
}

/// As the AWS host builds it: shared counters deferred to the ledger (so the conflicts are
/// injected on the batches DynamoDB would see), folded when read.
fn as_on_aws(contended: Arc<ContendedStore>) -> Arc<dyn ItemStore> {
    affnet_store::ledger::CounterLedger::around(contended)
}

/// A transaction waits this long at most for a rival (the setup's transactions, which have
/// none, each wait it whole).
const PATIENCE: Duration = Duration::from_secs(1);

fn contended(inner: Arc<dyn ItemStore>, window: Duration) -> ContendedStore {
    ContendedStore::new(inner, window).guarantee_a_conflict(PATIENCE)
}

macro_rules! contended_cases {
    ($store:ident, $window:expr, $host:ident) => {
        mod $store {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_deliveries_record_once() {
                let contended = Arc::new(contended(super::$store().await, $window));
                postback_cases::concurrent_deliveries_record_once($host(contended.clone())).await;
                let conflicts = contended.conflicts();
                eprintln!("conflicts injected: {conflicts}");
                assert!(conflicts > 0, "no conflict was injected");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interleaved_status_changes_settle_consistently() {
                let contended = Arc::new(contended(super::$store().await, $window));
                postback_cases::interleaved_status_changes_settle_consistently($host(
                    contended.clone(),
                ))
                .await;
                let conflicts = contended.conflicts();
                eprintln!("conflicts injected: {conflicts}");
                assert!(conflicts > 0, "no conflict was injected");
            }
        }
    };
}

contended_cases!(sqlite, SQLITE_WINDOW, as_local);
contended_cases!(dynamodb, DYNAMODB_WINDOW, as_on_aws);

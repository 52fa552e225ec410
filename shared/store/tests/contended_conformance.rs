//! The conformance suite's concurrency cases with DynamoDB's transaction conflicts injected
//! ([`ContendedStore`]) and retried ([`RetryConflicts`], as under every `Repo`), on both
//! adapters: nothing lost, nothing counted twice, and conflicts did happen.

use affnet_store::contention::ContendedStore;
use affnet_store::retrying::RetryConflicts;
use affnet_store::{ItemStore, SqliteStore, conformance};
use std::sync::Arc;
use std::time::Duration;

/// Items stay held this long from a batch's start: concurrent batches started together collide.
const WINDOW: Duration = Duration::from_millis(2);

async fn sqlite() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

async fn dynamodb() -> Arc<dyn ItemStore> {
    Arc::new(affnet_store::testing::fresh_dynamo_store().await)
}

/// Runs `case` on `inner` behind the conflicts and their retries; the conflicts injected.
async fn contended<F, Fut>(inner: Arc<dyn ItemStore>, case: F) -> u64
where
    F: FnOnce(Arc<dyn ItemStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let contended = Arc::new(ContendedStore::new(inner, WINDOW));
    case(RetryConflicts::around(contended.clone())).await;
    contended.conflicts()
}

macro_rules! contended_cases {
    ($store:ident) => {
        mod $store {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn racing_batches_count_once() {
                let inner = super::$store().await;
                let conflicts = contended(inner, conformance::racing_batches_count_once).await;
                assert!(conflicts > 0, "no conflict was injected");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_updates_lose_nothing() {
                let inner = super::$store().await;
                contended(inner, conformance::concurrent_updates_lose_nothing).await;
            }

            /// Lone adds never conflict with one another (DynamoDB serializes them).
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_counter_adds_are_exact() {
                let inner = super::$store().await;
                let conflicts =
                    contended(inner, conformance::concurrent_counter_adds_are_exact).await;
                assert_eq!(conflicts, 0);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn batch_is_all_or_nothing() {
                let inner = super::$store().await;
                contended(inner, conformance::batch_is_all_or_nothing).await;
            }

            /// Folds racing on one partition (each a transaction on its counters) conflict
            /// and retry: still every add counted once.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn ledger_folds_racing_with_conflicts_count_once() {
                let inner = super::$store().await;
                contended(
                    inner,
                    conformance::ledger_adds_count_once_under_racing_folds,
                )
                .await;
            }
        }
    };
}

contended_cases!(sqlite);
contended_cases!(dynamodb);

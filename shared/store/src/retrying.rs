//! Retrying transaction conflicts: DynamoDB cancels a transaction when another one is writing
//! one of its items at that moment (`TransactionConflict`), applying nothing. The same batch is
//! then sent again after a jittered pause that doubles with each attempt (up to 2, 4, 8 ... ms,
//! capped at 250 ms; [`ATTEMPTS`] in all, at most 2 s of pauses, half that on average: enough
//! for 200 writers racing on one item), so racing writers spread
//! out instead of colliding again.
//!
//! Sending the same batch again is exactly-once by construction: a cancelled batch wrote
//! nothing, and its conditions (a conversion's `Absent` or `Version`) are evaluated afresh, so a
//! retry that finds the conversion created meanwhile fails its condition like any late
//! duplicate. Still in conflict after the last attempt: [`StoreError::TransactionConflict`],
//! which callers answer as "busy, try again" (503), never as "changed concurrently".

use crate::port::{Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Attempts of one batch before the conflict is returned.
pub const ATTEMPTS: u32 = 15;
/// Longest pause between two attempts.
const MAX_PAUSE_MS: u64 = 250;

/// A store whose transaction conflicts are retried.
pub struct RetryConflicts {
    inner: Arc<dyn ItemStore>,
}

impl RetryConflicts {
    pub fn around(inner: Arc<dyn ItemStore>) -> Arc<dyn ItemStore> {
        Arc::new(RetryConflicts { inner })
    }
}

/// A pause of 1 ms up to `2^attempt` ms (capped), chosen at random.
pub fn pause(attempt: u32) -> Duration {
    let ceiling = (1u64 << attempt.min(16)).min(MAX_PAUSE_MS);
    let random = ulid::Ulid::new().random() as u64;
    Duration::from_micros(1_000 + random % (ceiling * 1_000))
}

impl RetryConflicts {
    async fn retried(&self, writes: Vec<Write>, sync: bool) -> Result<(), StoreError> {
        let write = |writes| match sync {
            true => self.inner.write(writes),
            false => self.inner.write_unsynced(writes),
        };
        for attempt in 1..ATTEMPTS {
            match write(writes.clone()).await {
                Err(StoreError::TransactionConflict) => {
                    tokio::time::sleep(pause(attempt)).await;
                }
                other => return other,
            }
        }
        write(writes).await
    }
}

#[async_trait]
impl ItemStore for RetryConflicts {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.retried(writes, true).await
    }

    async fn write_unsynced(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.retried(writes, false).await
    }

    async fn settle(&self) -> Result<(), StoreError> {
        self.inner.settle().await
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers conflicts for the first `conflicts` writes, then records the batch (and whether
    /// it came unsynced).
    struct Busy {
        conflicts: Mutex<u32>,
        applied: Mutex<Vec<Vec<Write>>>,
        unsynced: Mutex<u32>,
    }

    #[async_trait]
    impl ItemStore for Busy {
        async fn get(&self, _: &Key) -> Result<Option<Item>, StoreError> {
            Ok(None)
        }
        async fn query(&self, _: &Query) -> Result<Page, StoreError> {
            Ok(Page::default())
        }
        async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
            let mut left = self.conflicts.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::TransactionConflict);
            }
            self.applied.lock().unwrap().push(writes);
            Ok(())
        }
        async fn write_unsynced(&self, writes: Vec<Write>) -> Result<(), StoreError> {
            *self.unsynced.lock().unwrap() += 1;
            self.write(writes).await
        }
        fn name(&self) -> &'static str {
            "busy"
        }
    }

    fn busy(conflicts: u32) -> Arc<Busy> {
        Arc::new(Busy {
            conflicts: Mutex::new(conflicts),
            applied: Mutex::new(Vec::new()),
            unsynced: Mutex::new(0),
        })
    }

    #[tokio::test]
    async fn an_unsynced_batch_stays_unsynced_through_its_retries() {
        let inner = busy(2);
        RetryConflicts::around(inner.clone())
            .write_unsynced(batch())
            .await
            .unwrap();
        assert_eq!(*inner.applied.lock().unwrap(), vec![batch()]);
        assert_eq!(*inner.unsynced.lock().unwrap(), 3, "every attempt unsynced");
    }

    fn batch() -> Vec<Write> {
        vec![Write::Check {
            key: Key::new("P", "S"),
            when: crate::Condition::Always,
        }]
    }

    #[tokio::test]
    async fn conflicts_are_retried_until_the_batch_goes_through_once() {
        let inner = busy(ATTEMPTS - 1);
        RetryConflicts::around(inner.clone())
            .write(batch())
            .await
            .unwrap();
        assert_eq!(*inner.applied.lock().unwrap(), vec![batch()]);
    }

    #[tokio::test]
    async fn a_conflict_outlasting_the_attempts_is_returned() {
        let inner = busy(ATTEMPTS);
        let result = RetryConflicts::around(inner.clone()).write(batch()).await;
        assert!(matches!(result, Err(StoreError::TransactionConflict)));
        assert!(inner.applied.lock().unwrap().is_empty());
        assert_eq!(
            *inner.conflicts.lock().unwrap(),
            0,
            "tried {ATTEMPTS} times"
        );
    }

    #[test]
    fn pauses_are_jittered_and_capped() {
        for attempt in 1..20 {
            let p = pause(attempt);
            assert!(p >= Duration::from_millis(1) && p <= Duration::from_millis(MAX_PAUSE_MS + 1));
        }
        let first: Vec<_> = (0..50).map(|_| pause(5)).collect();
        assert!(first.iter().any(|p| *p != first[0]), "jittered");
    }
}

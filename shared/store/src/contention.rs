//! A decorator that makes concurrent batches touching the same key fail as DynamoDB does: a
//! batch holds its items for `window` from its start (DynamoDB's own time in a transaction,
//! whatever the inner store's), and a batch that starts while another one holds one of its
//! items is cancelled with [`StoreError::TransactionConflict`] without reaching
//! the inner store (nothing written), when either of the two is a transaction (2 writes or
//! more). Two lone writes on one item do not conflict: DynamoDB serializes them.
//!
//! Under a [`crate::Repo`] the conflicts are retried ([`crate::retrying`]); the concurrency
//! suites run through this decorator to prove a retried conflict never loses nor doubles a write.

use crate::port::{Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A batch's hold on an item.
struct Hold {
    until: Instant,
    transaction: bool,
}

pub struct ContendedStore {
    inner: Arc<dyn ItemStore>,
    window: Duration,
    held: Mutex<HashMap<Key, Hold>>,
    conflicts: AtomicU64,
}

impl ContendedStore {
    pub fn new(inner: Arc<dyn ItemStore>, window: Duration) -> ContendedStore {
        ContendedStore {
            inner,
            window,
            held: Mutex::new(HashMap::new()),
            conflicts: AtomicU64::new(0),
        }
    }

    /// Batches cancelled so far.
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::SeqCst)
    }

    /// Takes the batch's items, or says it conflicts with a batch holding one.
    fn take(&self, writes: &[Write]) -> bool {
        let now = Instant::now();
        let transaction = writes.len() > 1;
        let Ok(mut held) = self.held.lock() else {
            return true;
        };
        held.retain(|_, h| h.until > now);
        let conflict = writes.iter().any(|w| {
            held.get(w.key())
                .is_some_and(|h| transaction || h.transaction)
        });
        if conflict {
            return false;
        }
        for w in writes {
            let until = now + self.window;
            held.insert(w.key().clone(), Hold { until, transaction });
        }
        true
    }
}

#[async_trait]
impl ItemStore for ContendedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if !self.take(&writes) {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::TransactionConflict);
        }
        self.inner.write(writes).await
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use rust_decimal::Decimal;

    fn add(sk: &str) -> Write {
        Write::Add {
            key: Key::new("T", sk),
            deltas: vec![("n".into(), Decimal::ONE)],
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn a_batch_on_a_held_item_is_cancelled_until_the_window_ends() {
        let inner = Arc::new(SqliteStore::in_memory().unwrap());
        let store = ContendedStore::new(inner.clone(), Duration::from_millis(200));
        store.write(vec![add("a"), add("b")]).await.unwrap();
        let second = store.write(vec![add("b"), add("c")]).await;
        assert!(matches!(second, Err(StoreError::TransactionConflict)));
        // Cancelled whole: nothing of it was written.
        assert!(inner.get(&Key::new("T", "c")).await.unwrap().is_none());
        // A lone write conflicts with the transaction, not with another lone write.
        assert!(store.write(vec![add("a")]).await.is_err());
        store.write(vec![add("z")]).await.unwrap();
        store.write(vec![add("z")]).await.unwrap();
        assert_eq!(store.conflicts(), 2);
        tokio::time::sleep(Duration::from_millis(250)).await;
        store.write(vec![add("b"), add("c")]).await.unwrap();
    }
}

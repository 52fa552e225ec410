//! A decorator that makes concurrent batches touching the same key fail as DynamoDB does: a
//! batch holds its items for `window` from its start (DynamoDB's own time in a transaction,
//! whatever the inner store's), and a batch that starts while another one holds one of its
//! items is cancelled with [`StoreError::TransactionConflict`] without reaching
//! the inner store (nothing written), when either of the two is a transaction (2 writes or
//! more). Two lone writes on one item do not conflict: DynamoDB serializes them.
//!
//! Whether two batches meet inside a window depends on the machine's timing. A test that must
//! see a conflict asks for one ([`ContendedStore::guarantee_a_conflict`]): until the first
//! conflict, each transaction keeps its items until a rival batch has collided with it (or the
//! patience ran out); then it holds them for a window, as any batch, and goes on.
//!
//! Under a [`crate::Repo`] the conflicts are retried ([`crate::retrying`]); the concurrency
//! suites run through this decorator to prove a retried conflict never loses nor doubles a write.

use crate::port::{Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A batch's hold on an item; `until: None` while a waiting transaction keeps it, and `rival`
/// wakes that transaction.
struct Hold {
    until: Option<Instant>,
    transaction: bool,
    batch: u64,
    rival: Option<Arc<Notify>>,
}

pub struct ContendedStore {
    inner: Arc<dyn ItemStore>,
    window: Duration,
    held: Mutex<HashMap<Key, Hold>>,
    conflicts: AtomicU64,
    batches: AtomicU64,
    /// How long a transaction waits for a rival until the first conflict; `None`: none waits.
    patience: Option<Duration>,
}

/// What [`ContendedStore::take`] decided for a batch.
enum Taken {
    Go,
    WaitForRival(Arc<Notify>),
    Conflict,
}

impl ContendedStore {
    pub fn new(inner: Arc<dyn ItemStore>, window: Duration) -> ContendedStore {
        ContendedStore {
            inner,
            window,
            held: Mutex::new(HashMap::new()),
            conflicts: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            patience: None,
        }
    }

    /// Until the first conflict, each transaction keeps its items until another batch collides
    /// with it, at most `patience`: a conflict happens whenever two batches share an item,
    /// however far apart the machine's timing puts them. (Setup transactions that nothing
    /// rivals each wait the whole patience: keep it short.)
    pub fn guarantee_a_conflict(mut self, patience: Duration) -> ContendedStore {
        self.patience = Some(patience);
        self
    }

    /// Batches cancelled so far.
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::SeqCst)
    }

    /// Takes the batch's items, or says it conflicts with a batch holding one.
    fn take(&self, batch: u64, writes: &[Write]) -> Taken {
        let now = Instant::now();
        let transaction = writes.len() > 1;
        let Ok(mut held) = self.held.lock() else {
            return Taken::Conflict;
        };
        held.retain(|_, h| h.until.is_none_or(|until| until > now));
        let rival = writes
            .iter()
            .filter_map(|w| held.get(w.key()))
            .find(|h| transaction || h.transaction);
        if let Some(rival) = rival {
            if let Some(waiting) = &rival.rival {
                waiting.notify_one();
            }
            return Taken::Conflict;
        }
        let wait = (self.patience.is_some() && transaction && self.conflicts() == 0)
            .then(|| Arc::new(Notify::new()));
        let until = wait.is_none().then_some(now + self.window);
        for w in writes {
            let hold = Hold {
                until,
                transaction,
                batch,
                rival: wait.clone(),
            };
            held.insert(w.key().clone(), hold);
        }
        match wait {
            Some(rival) => Taken::WaitForRival(rival),
            None => Taken::Go,
        }
    }

    /// Gives a waiting transaction's items the window of any batch, from now.
    fn release(&self, batch: u64) {
        let until = Instant::now() + self.window;
        if let Ok(mut held) = self.held.lock() {
            for hold in held.values_mut().filter(|h| h.batch == batch) {
                hold.until = Some(until);
                hold.rival = None;
            }
        }
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
        let batch = self.batches.fetch_add(1, Ordering::SeqCst);
        match self.take(batch, &writes) {
            Taken::Conflict => {
                self.conflicts.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::TransactionConflict)
            }
            Taken::Go => self.inner.write(writes).await,
            Taken::WaitForRival(rival) => {
                let patience = self.patience.unwrap_or_default();
                let _ = tokio::time::timeout(patience, rival.notified()).await;
                // From here on a window like any batch's: held until the inner store answers,
                // 200 racing writers would exhaust their retries behind a slow test client.
                self.release(batch);
                self.inner.write(writes).await
            }
        }
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

    #[tokio::test]
    async fn a_guaranteed_conflict_waits_for_a_rival_however_late() {
        let inner = Arc::new(SqliteStore::in_memory().unwrap());
        let store = Arc::new(
            ContendedStore::new(inner.clone(), Duration::from_millis(1))
                .guarantee_a_conflict(Duration::from_secs(10)),
        );
        let first = tokio::spawn({
            let store = store.clone();
            async move { store.write(vec![add("a"), add("b")]).await }
        });
        // Far beyond the window: without the guarantee the two would never meet.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(inner.get(&Key::new("T", "a")).await.unwrap().is_none());
        let rival = store.write(vec![add("b")]).await;
        assert!(matches!(rival, Err(StoreError::TransactionConflict)));
        first.await.unwrap().unwrap();
        assert!(inner.get(&Key::new("T", "a")).await.unwrap().is_some());
        assert_eq!(store.conflicts(), 1);
        // After the first conflict, transactions go at once.
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        store.write(vec![add("c"), add("d")]).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

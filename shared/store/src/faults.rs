//! A decorator that makes an [`ItemStore`] fail on purpose, for fault tests: the next N write
//! batches (or reads) return [`StoreError::Unavailable`] without reaching the inner store, as a
//! dropped connection or a throttled table would; or (the ambiguous failure) reach it, are
//! applied, and still return [`StoreError::Unavailable`], as a reply lost on the way back would.
//!
//! A batch applied in part is not simulated: both adapters apply a batch whole or not at all
//! (one SQLite transaction; one `TransactWriteItems`, or a lone conditional request), and the
//! conversion and click writes rely on exactly that. [`FaultyStore::reject_in_store`] proves it:
//! the batch reaches the inner store with one more check that cannot hold, so the adapter
//! itself must throw the whole batch away.

use crate::port::{Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct FaultyStore {
    inner: Arc<dyn ItemStore>,
    /// Write batches left to fail.
    failing_writes: AtomicU64,
    /// Reads (get and query) left to fail.
    failing_reads: AtomicU64,
    /// Write batches let through before the failing ones start.
    skip_writes: AtomicU64,
    /// Write batches left that are applied but answered as failed.
    lost_replies: AtomicU64,
    /// Write batches left that reach the inner store with a condition that fails.
    rejected: AtomicU64,
}

/// The key the check added by [`FaultyStore::reject_in_store`] requires to exist (it never does).
pub const NEVER_PRESENT: (&str, &str) = ("FAULT", "never-present");

impl FaultyStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> FaultyStore {
        FaultyStore {
            inner,
            failing_writes: AtomicU64::new(0),
            failing_reads: AtomicU64::new(0),
            skip_writes: AtomicU64::new(0),
            lost_replies: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// The next `n` write batches reach the inner store with one more write, a check that an
    /// item which never exists does: the inner store refuses the batch
    /// ([`StoreError::ConditionFailed`] at the last index) and must keep none of it.
    pub fn reject_in_store(&self, n: u64) {
        self.rejected.store(n, Ordering::SeqCst);
    }

    /// The next `n` write batches are applied by the inner store, but their success is lost:
    /// the caller sees [`StoreError::Unavailable`].
    pub fn lose_replies(&self, n: u64) {
        self.lost_replies.store(n, Ordering::SeqCst);
    }

    /// The next `n` write batches fail.
    pub fn fail_writes(&self, n: u64) {
        self.skip_writes.store(0, Ordering::SeqCst);
        self.failing_writes.store(n, Ordering::SeqCst);
    }

    /// After `skip` more batches succeed (or fail on their own conditions), `n` batches fail.
    pub fn fail_writes_after(&self, skip: u64, n: u64) {
        self.skip_writes.store(skip, Ordering::SeqCst);
        self.failing_writes.store(n, Ordering::SeqCst);
    }

    /// The next `n` reads fail.
    pub fn fail_reads(&self, n: u64) {
        self.failing_reads.store(n, Ordering::SeqCst);
    }

    /// Takes one from `counter` if it is positive.
    fn take(counter: &AtomicU64) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn read_fault(&self) -> Result<(), StoreError> {
        match Self::take(&self.failing_reads) {
            true => Err(StoreError::Unavailable("injected read fault".into())),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl ItemStore for FaultyStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.read_fault()?;
        self.inner.get(key).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.read_fault()?;
        self.inner.query(query).await
    }

    async fn write(&self, mut writes: Vec<Write>) -> Result<(), StoreError> {
        if Self::take(&self.rejected) {
            writes.push(Write::Check {
                key: Key::new(NEVER_PRESENT.0, NEVER_PRESENT.1),
                when: crate::port::Condition::Exists,
            });
        }
        if self.failing_writes.load(Ordering::SeqCst) > 0
            && !Self::take(&self.skip_writes)
            && Self::take(&self.failing_writes)
        {
            return Err(StoreError::Unavailable("injected write fault".into()));
        }
        self.inner.write(writes).await?;
        match Self::take(&self.lost_replies) {
            true => Err(StoreError::Unavailable("injected lost reply".into())),
            false => Ok(()),
        }
    }

    async fn settle(&self) -> Result<(), StoreError> {
        self.inner.settle().await
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

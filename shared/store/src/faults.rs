//! A decorator that makes an [`ItemStore`] fail on purpose, for fault tests: the next N write
//! batches (or reads) return [`StoreError::Unavailable`] without reaching the inner store, as a
//! dropped connection or a throttled table would.

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
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> FaultyStore {
        FaultyStore {
            inner,
            failing_writes: AtomicU64::new(0),
            failing_reads: AtomicU64::new(0),
            skip_writes: AtomicU64::new(0),
        }
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

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if self.failing_writes.load(Ordering::SeqCst) > 0
            && !Self::take(&self.skip_writes)
            && Self::take(&self.failing_writes)
        {
            return Err(StoreError::Unavailable("injected write fault".into()));
        }
        self.inner.write(writes).await
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

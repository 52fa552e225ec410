//! A decorator that counts what goes through an [`ItemStore`]: how many write batches and
//! written items, by kind of item. Tests and the sync benchmark use it to prove that an
//! unchanged re-sync writes no offer.

use crate::port::{Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    batches: AtomicU64,
    reads: AtomicU64,
    by_kind: Mutex<BTreeMap<String, u64>>,
}

/// The kind of an item, from its partition key: `OFFER`, `INTEGRATION`, or for per-integration
/// partitions (`INT#<id>#REMOTE`) the last segment: `REMOTE`, `SYNCLOG`, `LEASE`...
pub fn kind_of(key: &Key) -> String {
    let pk = key.pk.as_str();
    let kind = if pk.starts_with("INT#") {
        pk.rsplit('#').next()
    } else {
        pk.split('#').next()
    };
    kind.unwrap_or(pk).to_string()
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> CountingStore {
        CountingStore {
            inner,
            batches: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            by_kind: Mutex::new(BTreeMap::new()),
        }
    }

    /// Write batches (transactions) since the last reset.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Gets and queries since the last reset.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Items written (put, deleted, incremented, checked), by [`kind_of`].
    pub fn written(&self) -> BTreeMap<String, u64> {
        self.by_kind.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Items written of one kind.
    pub fn written_of(&self, kind: &str) -> u64 {
        self.written().get(kind).copied().unwrap_or(0)
    }

    pub fn reset(&self) {
        self.batches.store(0, Ordering::Relaxed);
        self.reads.store(0, Ordering::Relaxed);
        if let Ok(mut m) = self.by_kind.lock() {
            m.clear();
        }
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.query(query).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.by_kind.lock() {
            for w in &writes {
                *m.entry(kind_of(w.key())).or_default() += 1;
            }
        }
        self.inner.write(writes).await
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

    #[test]
    fn kinds() {
        assert_eq!(kind_of(&Key::new("OFFER#01A", "META")), "OFFER");
        assert_eq!(kind_of(&Key::new("INTEGRATION", "01A")), "INTEGRATION");
        assert_eq!(kind_of(&Key::new("INT#01A#REMOTE", "7")), "REMOTE");
        assert_eq!(kind_of(&Key::new("INT#01A#SYNCLOG", "01B")), "SYNCLOG");
    }
}

//! The storage port: a small item store shaped like one DynamoDB table.
//!
//! Items live under a partition key and a sort key, carry a JSON document, decimal counters, an
//! optimistic version, an optional expiry and an optional secondary-index key. Writes are batches
//! applied atomically with per-item conditions. The typed repositories in [`crate::repo`] are
//! written once on top of this; each adapter only maps these few operations.

use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Key {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    /// Set by the caller: 1 on create, previous + 1 on update (checked with [`Condition::Version`]).
    pub version: u64,
    pub data: serde_json::Value,
    /// Decimal counters, changed only by [`Write::Add`] (atomic increments).
    pub counters: BTreeMap<String, Decimal>,
    /// Unix seconds after which the item is gone (DynamoDB TTL); reads hide expired items.
    pub expires_at: Option<i64>,
    /// Key in the one secondary index (GSI1).
    pub index_key: Option<Key>,
}

impl Item {
    pub fn new(key: Key, data: serde_json::Value) -> Item {
        Item {
            key,
            version: 1,
            data,
            counters: BTreeMap::new(),
            expires_at: None,
            index_key: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No live item has this key.
    Absent,
    /// A live item has this key.
    Exists,
    /// The item exists with exactly this version.
    Version(u64),
}

impl Condition {
    /// Whether the condition holds for the live item's version (`None`: no live item).
    pub fn holds(self, live_version: Option<u64>) -> bool {
        match self {
            Condition::Always => true,
            Condition::Absent => live_version.is_none(),
            Condition::Exists => live_version.is_some(),
            Condition::Version(v) => live_version == Some(v),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        when: Condition,
    },
    Delete {
        key: Key,
        when: Condition,
    },
    /// Adds each delta to a counter of the item, creating item and counters as needed.
    Add {
        key: Key,
        deltas: Vec<(String, Decimal)>,
        expires_at: Option<i64>,
    },
    /// Only checks a condition (part of a transaction).
    Check {
        key: Key,
        when: Condition,
    },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { item, .. } => &item.key,
            Write::Delete { key, .. } | Write::Add { key, .. } | Write::Check { key, .. } => key,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Index {
    /// The table's own keys.
    #[default]
    Table,
    /// The secondary index GSI1 (eventually consistent on DynamoDB).
    Gsi1,
}

#[derive(Debug, Clone, Default)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    /// Only sort keys starting with this.
    pub sk_prefix: String,
    /// Inclusive sort-key bounds, applied with the prefix.
    pub sk_from: Option<String>,
    pub sk_to: Option<String>,
    pub descending: bool,
    pub limit: usize,
    /// Opaque cursor from a previous [`Page::next`].
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Query {
        Query {
            pk: pk.into(),
            limit: 100,
            ..Query::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write at this position of the batch did not meet its condition; nothing was written.
    #[error("condition failed on write #{index}")]
    ConditionFailed { index: usize },
    /// A concurrent transaction held one of the items (DynamoDB's `TransactionConflict`): nothing
    /// was written, and the same batch may be sent again ([`crate::retrying`] does, jittered
    /// and bounded, under every [`crate::Repo`]).
    #[error("transaction conflict: a concurrent transaction was writing one of the items")]
    TransactionConflict,
    /// The store could not be reached or refused the operation; the caller may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be read back as expected.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    #[error("invalid request to the store: {0}")]
    Invalid(String),
}

/// Most writes a batch may hold (DynamoDB's TransactWriteItems limit).
pub const MAX_BATCH: usize = 100;

#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    /// A strongly consistent read of one live item.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Items of one partition in sort-key order, one page at a time.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;
    /// Applies every write or none. Two writes on one key in a batch are invalid.
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    /// [`ItemStore::write`] for a batch nobody has been told of yet, which a later `write` of
    /// the same caller confirms (a lead stored before it is sent): an adapter may answer before
    /// it reaches the disk. It is as atomic and as visible as a `write`, survives a crashed
    /// process, and is made durable by the next `write`; a power loss before that may lose it.
    /// A decorator in the production path forwards it (`RetryConflicts` does).
    async fn write_unsynced(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.write(writes).await
    }
    /// Applies what the store deferred (counters kept in a ledger, [`crate::ledger`]) so that
    /// the reads that follow see every write acknowledged before this call. Readers of counters
    /// call it first; stores that defer nothing do nothing. Decorators in the production path
    /// forward it.
    async fn settle(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// A short name for logs (`dynamodb`, `sqlite`).
    fn name(&self) -> &'static str;
}

/// What every adapter checks before writing: 1 to [`MAX_BATCH`] writes on distinct keys (as
/// DynamoDB requires).
pub fn check_batch(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() || writes.len() > MAX_BATCH {
        return Err(StoreError::Invalid(format!(
            "a batch holds 1 to {MAX_BATCH} writes, not {}",
            writes.len()
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(writes.len());
    if !writes.iter().all(|w| seen.insert(w.key())) {
        return Err(StoreError::Invalid(
            "two writes on one key in a batch".into(),
        ));
    }
    Ok(())
}

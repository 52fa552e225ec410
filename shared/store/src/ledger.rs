//! Deferred counters (DynamoDB): the shared counter items (report totals, health's accepted
//! postbacks) leave the click's and the conversion's transactions.
//!
//! A sharded totals item still takes ~47 writes/s at 10,000 clicks/s, and with batches in flight
//! for ~10 ms a third of those writes meet another transaction on it (`TransactionConflict`). So
//! [`CounterLedger`] replaces each `Write::Add` on such an item with one ledger entry per
//! partition, `LEDGER#<p>` / `<ULID>` (put if absent, a key nobody else writes), in the same
//! atomic batch: exactly once, as before. A fold then moves the entries of one partition into
//! the counters: one transaction deletes a set of entries (each `Exists`) and adds their merged
//! deltas; a fold that lost the race to another fails its condition and reads again, so nothing
//! is counted twice or lost. Every counter item belongs to one partition ([`partition_of`]), so
//! folds of different partitions never write one item, and one partition's folds run one at a
//! time (the table's stream hands one shard's records to one invocation at a time).
//!
//! Reads of counters call [`ItemStore::settle`] first, which folds every partition up to that
//! moment: a report right after a click counts it. Entries are never expired: one that is not
//! yet folded is a count not yet in the totals.

use crate::port::{Condition, Item, ItemStore, Key, MAX_BATCH, Page, Query, StoreError, Write};
use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Ledger partitions: one per narrow totals shard (a wide shard `s` folds in `s % 64`).
pub const PARTITIONS: u32 = crate::totals::NARROW_SHARDS;
const PK_PREFIX: &str = "LEDGER#";
/// Entries read per query of a fold.
const PAGE: usize = 100;
/// Tries of one fold transaction before its error is returned.
const ATTEMPTS: u32 = crate::retrying::ATTEMPTS;

pub fn ledger_pk(partition: u32) -> String {
    format!("{PK_PREFIX}{partition}")
}

/// The partition of a ledger entry's partition key (`LEDGER#<p>`).
pub fn partition_of_pk(pk: &str) -> Option<u32> {
    pk.strip_prefix(PK_PREFIX)?
        .parse()
        .ok()
        .filter(|p| *p < PARTITIONS)
}

/// The partition that folds the counter item `key`, if its adds are deferred: sharded totals
/// (`TOT#<dimension>#<shard>`) and accepted-postback counters (`INT#<id>#ACCEPTED#<shard>`).
/// Others (a click's own totals, refusal counters, the unsharded layout) stay in their batch.
pub fn partition_of(key: &Key) -> Option<u32> {
    let pk = &key.pk;
    let shard = if let Some(rest) = pk.strip_prefix("TOT#") {
        rest.split_once('#')?.1
    } else if pk.starts_with("INT#") {
        let (head, shard) = pk.rsplit_once('#')?;
        head.ends_with("#ACCEPTED").then_some(shard)?
    } else {
        return None;
    };
    let shard: u32 = shard.parse().ok()?;
    Some(shard % PARTITIONS)
}

/// One deferred `Write::Add`, as a ledger entry stores it (decimals as text: exact).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct DeferredAdd {
    pk: String,
    sk: String,
    deltas: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    adds: Vec<DeferredAdd>,
}

/// An `Add` of a read entry, its deltas parsed.
type Parsed = (Key, Vec<(String, Decimal)>, Option<i64>);

fn parse_entry(item: &Item) -> Result<Vec<Parsed>, String> {
    let entry: Entry = serde_json::from_value(item.data.clone()).map_err(|e| e.to_string())?;
    entry
        .adds
        .into_iter()
        .map(|add| {
            let deltas = add
                .deltas
                .into_iter()
                .map(|(name, d)| Ok((name, d.parse::<Decimal>().map_err(|e| e.to_string())?)))
                .collect::<Result<_, String>>()?;
            Ok((Key::new(add.pk, add.sk), deltas, add.expires_at))
        })
        .collect()
}

/// `writes` with the deferrable adds replaced by one entry per partition, and for each write
/// of the result the position it came from (to name a failed condition as the caller wrote it).
fn defer(writes: Vec<Write>) -> (Vec<Write>, Vec<usize>) {
    let mut kept = Vec::with_capacity(writes.len());
    let mut from = Vec::with_capacity(writes.len());
    let mut entries: BTreeMap<u32, (usize, Vec<DeferredAdd>)> = BTreeMap::new();
    for (i, write) in writes.into_iter().enumerate() {
        let partition = match &write {
            Write::Add { key, .. } => partition_of(key),
            _ => None,
        };
        match (write, partition) {
            (
                Write::Add {
                    key,
                    deltas,
                    expires_at,
                },
                Some(partition),
            ) => {
                let slot = entries.entry(partition).or_insert((i, Vec::new()));
                slot.1.push(DeferredAdd {
                    pk: key.pk,
                    sk: key.sk,
                    deltas: deltas
                        .into_iter()
                        .map(|(n, d)| (n, d.to_string()))
                        .collect(),
                    expires_at,
                });
            }
            (other, _) => {
                kept.push(other);
                from.push(i);
            }
        }
    }
    for (partition, (i, adds)) in entries {
        let data = serde_json::to_value(Entry { adds }).unwrap_or_default();
        let key = Key::new(ledger_pk(partition), ulid::Ulid::new().to_string());
        kept.push(Write::Put {
            item: Item::new(key, data),
            when: Condition::Absent,
        });
        from.push(i);
    }
    (kept, from)
}

/// What one fold did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    /// Entries moved into the counters by this fold.
    pub entries: usize,
    /// Transactions written.
    pub batches: usize,
    /// Entries left where they are because they could not be read (logged).
    pub unreadable: usize,
}

/// A store whose shared counters are kept in a ledger and folded (see the module).
pub struct CounterLedger {
    /// Where batches go as written (conflicts are retried by the `Repo` above).
    inner: Arc<dyn ItemStore>,
}

impl CounterLedger {
    pub fn around(inner: Arc<dyn ItemStore>) -> Arc<CounterLedger> {
        Arc::new(CounterLedger { inner })
    }

    /// Folds the entries of `partition` written up to now.
    pub async fn fold(&self, partition: u32) -> Result<Folded, StoreError> {
        // Entries whose ULID time is past the start were written after it: the next fold's.
        let until = ulid::Ulid::from_parts(now_ms() + 1, 0).to_string();
        let mut folded = Folded::default();
        let mut cursor = None;
        let mut attempt = 0;
        loop {
            let page = self
                .inner
                .query(&Query {
                    limit: PAGE,
                    cursor: cursor.clone(),
                    sk_to: Some(until.clone()),
                    ..Query::partition(ledger_pk(partition))
                })
                .await?;
            match self.fold_page(&page, &mut folded).await {
                Ok(()) => {
                    attempt = 0;
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => return Ok(folded),
                    }
                }
                // Another fold took some of these entries, or was writing the same counters:
                // read the page again.
                Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict)
                    if attempt + 1 < ATTEMPTS =>
                {
                    attempt += 1;
                    tokio::time::sleep(crate::retrying::pause(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Folds every partition (at once) up to now.
    pub async fn fold_all(&self) -> Result<Folded, StoreError> {
        let folds = (0..PARTITIONS).map(|p| self.fold(p));
        let mut all = Folded::default();
        for result in futures::future::join_all(folds).await {
            let f = result?;
            all.entries += f.entries;
            all.batches += f.batches;
            all.unreadable += f.unreadable;
        }
        Ok(all)
    }

    /// Folds `page`'s entries in transactions of at most [`MAX_BATCH`] writes.
    async fn fold_page(&self, page: &Page, folded: &mut Folded) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for item in &page.items {
            let adds = match parse_entry(item) {
                Ok(adds) => adds,
                Err(e) => {
                    tracing::error!(pk = %item.key.pk, sk = %item.key.sk, error = %e,
                        "ledger entry unreadable: left unfolded");
                    folded.unreadable += 1;
                    continue;
                }
            };
            if !batch.fits(&adds) {
                self.write(std::mem::take(&mut batch), folded).await?;
            }
            batch.take(item.key.clone(), adds);
        }
        self.write(batch, folded).await
    }

    async fn write(&self, batch: Batch, folded: &mut Folded) -> Result<(), StoreError> {
        if batch.entries.is_empty() {
            return Ok(());
        }
        let entries = batch.entries.len();
        self.inner.write(batch.into_writes()).await?;
        folded.entries += entries;
        folded.batches += 1;
        Ok(())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Entries to delete and the merged adds they make.
#[derive(Default)]
struct Batch {
    entries: Vec<Key>,
    adds: BTreeMap<Key, (BTreeMap<String, Decimal>, Option<i64>)>,
}

impl Batch {
    fn fits(&self, adds: &[Parsed]) -> bool {
        let new_keys = adds
            .iter()
            .filter(|(k, _, _)| !self.adds.contains_key(k))
            .count();
        self.entries.len() + 1 + self.adds.len() + new_keys <= MAX_BATCH
    }

    fn take(&mut self, entry: Key, adds: Vec<Parsed>) {
        self.entries.push(entry);
        for (key, deltas, expires_at) in adds {
            let slot = self.adds.entry(key).or_default();
            for (name, d) in deltas {
                *slot.0.entry(name).or_default() += d;
            }
            slot.1 = slot.1.max(expires_at);
        }
    }

    fn into_writes(self) -> Vec<Write> {
        let deletes = self.entries.into_iter().map(|key| Write::Delete {
            key,
            when: Condition::Exists,
        });
        let adds = self
            .adds
            .into_iter()
            .filter_map(|(key, (deltas, expires_at))| {
                let deltas: Vec<_> = deltas.into_iter().filter(|(_, d)| !d.is_zero()).collect();
                (!deltas.is_empty()).then_some(Write::Add {
                    key,
                    deltas,
                    expires_at,
                })
            });
        deletes.chain(adds).collect()
    }
}

#[async_trait]
impl ItemStore for CounterLedger {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let (writes, from) = defer(writes);
        self.inner
            .write(writes)
            .await
            .map_err(|e| renumber(e, &from))
    }

    async fn write_unsynced(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let (writes, from) = defer(writes);
        let result = self.inner.write_unsynced(writes).await;
        result.map_err(|e| renumber(e, &from))
    }

    async fn settle(&self) -> Result<(), StoreError> {
        self.fold_all().await.map(|_| ())
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

fn renumber(e: StoreError, from: &[usize]) -> StoreError {
    match e {
        StoreError::ConditionFailed { index } => StoreError::ConditionFailed {
            index: from.get(index).copied().unwrap_or(index),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(pk: &str, sk: &str, n: i64) -> Write {
        Write::Add {
            key: Key::new(pk, sk),
            deltas: vec![("clicks".into(), Decimal::from(n))],
            expires_at: None,
        }
    }

    #[test]
    fn shared_counters_have_a_partition_and_the_rest_none() {
        let key = |pk: &str| Key::new(pk, "2026-12-01");
        assert_eq!(partition_of(&key("TOT#day#200")), Some(200 % 64));
        assert_eq!(partition_of(&key("TOT#offer#7")), Some(7));
        assert_eq!(partition_of(&key("INT#01J#ACCEPTED#63")), Some(63));
        assert_eq!(partition_of(&key("INT#01J#REFUSED")), None);
        assert_eq!(partition_of(&key("TOT#day")), None, "the unsharded layout");
        assert_eq!(partition_of(&Key::new("CLICK#c1", "TOTALS")), None);
        assert_eq!(partition_of_pk("LEDGER#12"), Some(12));
        assert_eq!(partition_of_pk("LEDGER#64"), None);
    }

    #[test]
    fn adds_become_one_entry_per_partition_and_conditions_keep_their_numbers() {
        let conversion = Write::Put {
            item: Item::new(Key::new("CONV", "cv1"), serde_json::json!({})),
            when: Condition::Absent,
        };
        let writes = vec![
            add("TOT#day#65", "d", 1),
            conversion,
            add("TOT#offer#1", "d#o", 2),
            add("TOT#offer#2", "d#o", 3),
            add("CLICK#c", "TOTALS", 1),
        ];
        let (deferred, from) = defer(writes);
        assert_eq!(deferred.len(), 4, "{deferred:?}");
        assert_eq!(deferred[0].key(), &Key::new("CONV", "cv1"));
        assert_eq!(deferred[1].key(), &Key::new("CLICK#c", "TOTALS"));
        assert_eq!(from, vec![1, 4, 0, 3]);
        let Write::Put { item, when } = &deferred[2] else {
            panic!("{deferred:?}")
        };
        assert_eq!(
            (item.key.pk.as_str(), *when),
            ("LEDGER#1", Condition::Absent)
        );
        let adds = parse_entry(item).unwrap();
        assert_eq!(
            adds.len(),
            2,
            "TOT#day#65 and TOT#offer#1 fold in partition 1"
        );
        assert_eq!(adds[1].1, vec![("clicks".to_string(), Decimal::from(2))]);
        let renumbered = renumber(StoreError::ConditionFailed { index: 0 }, &from);
        assert!(matches!(
            renumbered,
            StoreError::ConditionFailed { index: 1 }
        ));
    }

    #[test]
    fn a_fold_batch_stays_within_the_transaction_limit() {
        let mut batch = Batch::default();
        let mut taken = 0;
        for i in 0..200 {
            let adds: Vec<Parsed> = (0..3)
                .map(|j| (Key::new("TOT#offer#1", format!("{i}#{j}")), vec![], None))
                .collect();
            if !batch.fits(&adds) {
                break;
            }
            batch.take(Key::new("LEDGER#1", format!("{i:03}")), adds);
            taken += 1;
        }
        assert_eq!(taken, 25, "25 entries and 75 adds");
        assert!(batch.fits(&[]) || batch.entries.len() + batch.adds.len() == MAX_BATCH);
    }
}

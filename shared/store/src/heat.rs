//! A decorator that records key heat in simulated time, for the key-heat measurement
//! (`examples/key_heat.rs`): writes per item key, per table partition and per index partition in
//! each second of a [`SimClock`], and how often a batch writes an item that another batch still
//! in flight writes too — what DynamoDB cancels with `TransactionConflict`.
//!
//! A batch is in flight from its start (the clock when it is written) for `window`: the time a
//! `TransactWriteItems` holds its items. Two batches overlap on an item when the later one starts
//! before the earlier one's window ends.

use crate::port::{Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Simulated time in microseconds, set by the load generator before each write.
#[derive(Debug, Default)]
pub struct SimClock(AtomicU64);

impl SimClock {
    pub fn set(&self, micros: u64) {
        self.0.store(micros, Ordering::Relaxed);
    }

    pub fn micros(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The busiest second of the busiest key of a kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peak {
    pub key: String,
    pub writes: u32,
    pub second: u64,
}

/// What a run came to.
#[derive(Debug, Clone, Default)]
pub struct HeatReport {
    pub batches: u64,
    pub item_writes: u64,
    /// Items by writes in their busiest second, hottest first (the first few).
    pub hottest_items: Vec<Peak>,
    pub hottest_partition: Peak,
    pub hottest_index_partition: Peak,
    /// Batches that wrote an item another in-flight batch wrote.
    pub overlapped_batches: u64,
    pub overlapped_item_writes: u64,
    /// The item with the largest share of its writes overlapped: (key, writes, overlapped).
    pub worst_item_overlap: Option<(String, u64, u64)>,
    /// Overlapped item writes by kind of item (see [`kind_of`]).
    pub overlapped_by_kind: std::collections::BTreeMap<String, u64>,
}

/// An item's kind: its partition key's first part and, when the sort key is a fixed word
/// (`META`, `TOTALS`), that word (`CLICK/TOTALS`, `TOT`, `LEDGER`).
pub fn kind_of(key: &Key) -> String {
    let head = key.pk.split('#').next().unwrap_or_default();
    match key.sk.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !key.sk.is_empty() {
        true => format!("{head}/{}", key.sk),
        false => head.to_string(),
    }
}

#[derive(Default)]
struct ItemHeat {
    writes: u64,
    overlapped: u64,
    /// End of the in-flight window of the latest batch that wrote it.
    busy_until: u64,
    second: u64,
    this_second: u32,
    peak: Peak,
}

#[derive(Default)]
struct Heat {
    report: HeatReport,
    items: HashMap<Key, ItemHeat>,
    /// Partition key to (second, writes in it).
    partitions: HashMap<String, (u64, u32)>,
    index_partitions: HashMap<String, (u64, u32)>,
    pruned_at: u64,
}

fn count_in(map: &mut HashMap<String, (u64, u32)>, pk: &str, second: u64, peak: &mut Peak) {
    let slot = map.entry(pk.to_string()).or_insert((second, 0));
    if slot.0 != second {
        *slot = (second, 0);
    }
    slot.1 += 1;
    if slot.1 > peak.writes {
        *peak = Peak {
            key: pk.to_string(),
            writes: slot.1,
            second,
        };
    }
}

/// Index keys a write sets: a put of an item with one (an update rewrites its index entry).
fn index_pk(write: &Write) -> Option<&str> {
    match write {
        Write::Put { item, .. } => item.index_key.as_ref().map(|k| k.pk.as_str()),
        _ => None,
    }
}

impl Heat {
    fn record(&mut self, writes: &[Write], start: u64, window: u64) {
        let second = start / 1_000_000;
        self.prune(second, start);
        self.report.batches += 1;
        let mut overlapped = false;
        for write in writes {
            let key = write.key();
            self.report.item_writes += 1;
            let heat = self.items.entry(key.clone()).or_default();
            heat.writes += 1;
            if heat.busy_until > start {
                heat.overlapped += 1;
                overlapped = true;
                self.report.overlapped_item_writes += 1;
                *self
                    .report
                    .overlapped_by_kind
                    .entry(kind_of(key))
                    .or_default() += 1;
            }
            heat.busy_until = heat.busy_until.max(start + window);
            if heat.second != second {
                (heat.second, heat.this_second) = (second, 0);
            }
            heat.this_second += 1;
            if heat.this_second > heat.peak.writes {
                heat.peak = Peak {
                    key: format!("{} / {}", key.pk, key.sk),
                    writes: heat.this_second,
                    second,
                };
            }
            let peak = &mut self.report.hottest_partition;
            count_in(&mut self.partitions, &key.pk, second, peak);
            if let Some(pk) = index_pk(write) {
                let peak = &mut self.report.hottest_index_partition;
                count_in(&mut self.index_partitions, pk, second, peak);
            }
        }
        self.report.overlapped_batches += u64::from(overlapped);
    }

    /// Once a simulated second, forgets items written once and idle (they cannot be hot), to
    /// keep memory bounded over millions of unique keys.
    fn prune(&mut self, second: u64, now: u64) {
        if second == self.pruned_at {
            return;
        }
        self.pruned_at = second;
        self.items
            .retain(|_, h| h.writes > 1 || h.overlapped > 0 || h.busy_until > now);
        self.partitions.retain(|_, (s, _)| *s == second);
        self.index_partitions.retain(|_, (s, _)| *s == second);
    }

    fn report(&self, top: usize) -> HeatReport {
        let mut report = self.report.clone();
        let mut peaks: Vec<&Peak> = self.items.values().map(|h| &h.peak).collect();
        peaks.sort_by(|a, b| b.writes.cmp(&a.writes).then(a.key.cmp(&b.key)));
        report.hottest_items = peaks.into_iter().take(top).cloned().collect();
        report.worst_item_overlap = self
            .items
            .iter()
            .filter(|(_, h)| h.overlapped > 0)
            .max_by(|(_, a), (_, b)| {
                (u128::from(a.overlapped) * u128::from(b.writes))
                    .cmp(&(u128::from(b.overlapped) * u128::from(a.writes)))
                    .then(a.writes.cmp(&b.writes))
            })
            .map(|(k, h)| (format!("{} / {}", k.pk, k.sk), h.writes, h.overlapped));
        report
    }
}

pub struct HeatRecorder {
    inner: Arc<dyn ItemStore>,
    clock: Arc<SimClock>,
    window_micros: u64,
    heat: Mutex<Heat>,
}

impl HeatRecorder {
    /// Records the writes to `inner` at `clock`'s time, each batch in flight for
    /// `window_micros`.
    pub fn new(inner: Arc<dyn ItemStore>, clock: Arc<SimClock>, window_micros: u64) -> Self {
        HeatRecorder {
            inner,
            clock,
            window_micros,
            heat: Mutex::new(Heat::default()),
        }
    }

    /// The figures so far, with the `top` hottest items.
    pub fn report(&self, top: usize) -> HeatReport {
        self.heat.lock().map(|h| h.report(top)).unwrap_or_default()
    }
}

#[async_trait]
impl ItemStore for HeatRecorder {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if let Ok(mut heat) = self.heat.lock() {
            heat.record(&writes, self.clock.micros(), self.window_micros);
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
    use rust_decimal::Decimal;

    fn add(pk: &str, sk: &str) -> Write {
        Write::Add {
            key: Key::new(pk, sk),
            deltas: vec![("n".into(), Decimal::ONE)],
            expires_at: None,
        }
    }

    #[test]
    fn counts_writes_per_second_and_overlaps_within_the_window() {
        let mut heat = Heat::default();
        // Three batches on T/a in second 0: the second starts 5 ms after the first (inside
        // its 10 ms window), the third 50 ms after.
        heat.record(&[add("T", "a"), add("C", "1")], 0, 10_000);
        heat.record(&[add("T", "a"), add("C", "2")], 5_000, 10_000);
        heat.record(&[add("T", "a")], 60_000, 10_000);
        heat.record(&[add("T", "a")], 1_000_000, 10_000);
        let report = heat.report(2);
        assert_eq!((report.batches, report.item_writes), (4, 6));
        assert_eq!(report.hottest_items[0].key, "T / a");
        assert_eq!(report.hottest_items[0].writes, 3);
        assert_eq!(report.hottest_items[0].second, 0);
        assert_eq!(report.hottest_partition.writes, 3);
        assert_eq!(
            (report.overlapped_batches, report.overlapped_item_writes),
            (1, 1)
        );
        assert_eq!(report.worst_item_overlap, Some(("T / a".into(), 4, 1)));
    }
}

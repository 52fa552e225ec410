//! Report reads: every shard partition of a dimension's totals queried at once for a day range
//! (one round of parallel queries, each paged), summed per value.

use crate::port::{Item, Query, StoreError};
use crate::repo::{Repo, RepoError};
use crate::totals::{Dimension, day_string, dimension_shards, totals_keys, totals_pk};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counters by name (`clicks`, `count.approved`, `revenue.approved.USD`...).
pub type Counters = BTreeMap<String, Decimal>;

/// A dimension's totals over a day range, summed per value.
#[derive(Debug, Default)]
pub struct GroupTotals {
    /// Value (offer, message or creative id; [`crate::totals::NONE`] for none; the day for the
    /// day dimension) to its summed counters, in value order.
    pub groups: BTreeMap<String, Counters>,
    /// False when `max_items` was reached before the range ended: the sums are partial.
    pub complete: bool,
}

/// Largest page asked of the store (both adapters cap a page at 1000).
const PAGE: usize = 1000;

/// The value a totals item counts for.
fn value_of(dimension: Dimension, item: &Item) -> Result<String, StoreError> {
    match dimension {
        Dimension::Day => Ok(item.key.sk.clone()),
        _ => match item.key.sk.split_once('#') {
            Some((_, value)) => Ok(value.to_string()),
            None => Err(StoreError::Corrupt(format!(
                "totals key {}/{} has no value",
                item.key.pk, item.key.sk
            ))),
        },
    }
}

impl Repo {
    /// Sums the totals of `dimension` from `from` to `to` (inclusive), reading at most
    /// `max_items` items: every shard partition queried at once, each paged.
    pub async fn group_totals(
        &self,
        dimension: Dimension,
        from: NaiveDate,
        to: NaiveDate,
        max_items: usize,
    ) -> Result<GroupTotals, RepoError> {
        self.items().settle().await?;
        let budget = AtomicUsize::new(max_items);
        let reads = (0..dimension_shards(dimension))
            .map(|shard| self.shard_totals(totals_pk(dimension, shard), from, to, &budget));
        let mut totals = GroupTotals {
            complete: true,
            ..GroupTotals::default()
        };
        for read in futures::future::join_all(reads).await {
            let (items, complete) = read?;
            totals.complete &= complete;
            for item in items {
                let sums = totals
                    .groups
                    .entry(value_of(dimension, &item)?)
                    .or_default();
                for (name, delta) in item.counters {
                    *sums.entry(name).or_default() += delta;
                }
            }
        }
        Ok(totals)
    }

    /// One shard partition's items in the range, taking each from `budget`; false when the
    /// budget ran out first.
    async fn shard_totals(
        &self,
        pk: String,
        from: NaiveDate,
        to: NaiveDate,
        budget: &AtomicUsize,
    ) -> Result<(Vec<Item>, bool), RepoError> {
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .items()
                .query(&Query {
                    sk_from: Some(day_string(from)),
                    // `~` sorts after `#` and every id character: includes all of `to`'s values.
                    sk_to: Some(format!("{}~", day_string(to))),
                    limit: PAGE,
                    cursor,
                    ..Query::partition(pk.clone())
                })
                .await?;
            for item in page.items {
                let taken =
                    budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                if taken.is_err() {
                    return Ok((items, false));
                }
                items.push(item);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok((items, true)),
            }
        }
    }

    /// The counters of one value of `dimension` on `day` (`None`: no message or creative),
    /// summed over its shards: one read of each, at once.
    pub async fn value_totals(
        &self,
        dimension: Dimension,
        day: NaiveDate,
        value: Option<&str>,
    ) -> Result<Counters, RepoError> {
        self.items().settle().await?;
        let keys = totals_keys(dimension, day, value);
        let reads = keys.iter().map(|key| self.items().get(key));
        let mut sums = Counters::new();
        for read in futures::future::join_all(reads).await {
            for (name, delta) in read?.map(|item| item.counters).unwrap_or_default() {
                *sums.entry(name).or_default() += delta;
            }
        }
        Ok(sums)
    }
}

//! Report reads: one query over a dimension's totals partition for a day range, summed per value.

use crate::port::{Query, StoreError};
use crate::repo::{Repo, RepoError};
use crate::totals::{Dimension, day_string, totals_pk};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

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

impl Repo {
    /// Sums the totals of `dimension` from `from` to `to` (inclusive), reading at most
    /// `max_items` items. One query, paged.
    pub async fn group_totals(
        &self,
        dimension: Dimension,
        from: NaiveDate,
        to: NaiveDate,
        max_items: usize,
    ) -> Result<GroupTotals, RepoError> {
        let mut totals = GroupTotals {
            complete: true,
            ..GroupTotals::default()
        };
        let mut read = 0;
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
                    ..Query::partition(totals_pk(dimension))
                })
                .await?;
            for item in page.items {
                if read == max_items {
                    totals.complete = false;
                    return Ok(totals);
                }
                read += 1;
                let value = match dimension {
                    Dimension::Day => item.key.sk.clone(),
                    _ => match item.key.sk.split_once('#') {
                        Some((_, value)) => value.to_string(),
                        None => {
                            return Err(StoreError::Corrupt(format!(
                                "totals key {}/{} has no value",
                                item.key.pk, item.key.sk
                            ))
                            .into());
                        }
                    },
                };
                let sums = totals.groups.entry(value).or_default();
                for (name, delta) in item.counters {
                    *sums.entry(name).or_default() += delta;
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(totals),
            }
        }
    }
}

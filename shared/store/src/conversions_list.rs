//! Listing conversions newest first: the index shards (`CONVS#<shard>`) merged by their sort
//! key, creation time then id. Each shard is read in pages, all at once first and then again
//! only when its page ran out before the list was full; the cursor stays the sort key of the
//! last item given, so it continues in every shard.

use crate::conversions::{
    ConversionPage, INDEX_SHARDS, TimeRange, conversion_from, conversions_index_pk,
};
use crate::port::{Index, Item, Query};
use crate::repo::{Repo, RepoError};
use affnet_core::Conversion;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::VecDeque;

/// At most this many items are read to fill one filtered page; the cursor then continues.
const MAX_SCANNED: usize = 1_000;
/// Largest page asked of one shard.
const MAX_SHARD_PAGE: usize = 200;

/// What is known of one shard: the items read and not yet merged, and where it continues.
struct Shard {
    pk: String,
    buffered: VecDeque<Item>,
    next: Option<String>,
    done: bool,
}

/// The index sort key bounds of a list: from `range.from`, up to `range.to` or the cursor.
fn bounds(range: &TimeRange, cursor: Option<&String>) -> (Option<String>, Option<String>) {
    let millis = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    // `~` sorts after every id character, so the bound includes ids at that instant.
    let mut upper = range.to.map(|t| format!("{}#~", millis(t)));
    if let Some(c) = cursor {
        upper = Some(match upper {
            Some(u) if u < *c => u,
            _ => c.clone(),
        });
    }
    (range.from.map(millis), upper)
}

fn index_sk(item: &Item) -> Option<&str> {
    item.index_key.as_ref().map(|k| k.sk.as_str())
}

impl Repo {
    /// Reads the next page of `shard` (`limit` items) into its buffer, leaving out the cursor
    /// item (it was on the previous page).
    async fn fill(
        &self,
        shard: &mut Shard,
        bounds: &(Option<String>, Option<String>),
        cursor: Option<&String>,
        limit: usize,
    ) -> Result<(), RepoError> {
        let page = self
            .items()
            .query(&Query {
                index: Index::Gsi1,
                sk_from: bounds.0.clone(),
                sk_to: bounds.1.clone(),
                descending: true,
                limit,
                cursor: shard.next.take(),
                ..Query::partition(shard.pk.clone())
            })
            .await?;
        let skip = |item: &Item| cursor.is_some_and(|c| index_sk(item) == Some(c.as_str()));
        shard
            .buffered
            .extend(page.items.into_iter().filter(|i| !skip(i)));
        shard.done = page.next.is_none();
        shard.next = page.next;
        Ok(())
    }

    /// Fills every shard whose buffer is empty and that has more, at once, until each has an
    /// item or is done.
    async fn fill_empty(
        &self,
        shards: &mut [Shard],
        bounds: &(Option<String>, Option<String>),
        cursor: Option<&String>,
        limit: usize,
    ) -> Result<(), RepoError> {
        loop {
            let empty = shards
                .iter_mut()
                .filter(|s| s.buffered.is_empty() && !s.done);
            let fills: Vec<_> = empty.map(|s| self.fill(s, bounds, cursor, limit)).collect();
            if fills.is_empty() {
                return Ok(());
            }
            for filled in futures::future::join_all(fills).await {
                filled?;
            }
        }
    }

    /// Conversions newest first within `range`, keeping those `keep` accepts. `cursor` is the
    /// index sort key of the last item of the previous page. A page may come back short with a
    /// cursor when the filter skipped many items.
    pub async fn list_conversions(
        &self,
        range: &TimeRange,
        keep: impl Fn(&Conversion) -> bool,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<ConversionPage, RepoError> {
        let bounds = bounds(range, cursor.as_ref());
        let mut shards: Vec<Shard> = (0..INDEX_SHARDS)
            .map(|shard| Shard {
                pk: conversions_index_pk(shard),
                buffered: VecDeque::new(),
                next: None,
                done: false,
            })
            .collect();
        // First round: a share of the page from each shard (they fill evenly), all at once.
        let share = (limit + 1).div_ceil(INDEX_SHARDS as usize) + 2;
        self.fill_empty(&mut shards, &bounds, cursor.as_ref(), share)
            .await?;
        let refill = (limit + 1).clamp(1, MAX_SHARD_PAGE);
        let mut items = Vec::new();
        let mut scanned = 0;
        loop {
            let newest = shards
                .iter_mut()
                .filter(|s| !s.buffered.is_empty())
                .max_by(|a, b| index_sk(&a.buffered[0]).cmp(&index_sk(&b.buffered[0])));
            let Some(shard) = newest else {
                return Ok(ConversionPage { items, next: None });
            };
            let item = shard.buffered.pop_front().expect("non-empty");
            let refill_needed = shard.buffered.is_empty() && !shard.done;
            scanned += 1;
            let conversion = conversion_from(&item)?;
            if keep(&conversion) {
                items.push(conversion);
            }
            if items.len() == limit || scanned >= MAX_SCANNED {
                let more =
                    items.len() < limit || shards.iter().any(|s| !s.buffered.is_empty() || !s.done);
                let next = more.then(|| index_sk(&item).map(str::to_string)).flatten();
                return Ok(ConversionPage { items, next });
            }
            if refill_needed {
                self.fill_empty(&mut shards, &bounds, cursor.as_ref(), refill)
                    .await?;
            }
        }
    }
}

//! Reading sharded partitions as one list: the shards' items merged by their sort key (the
//! table's or the index's), ascending or descending. Each shard is read in pages, all at once
//! first (a share of the list each) and then again only when its page ran out before the list
//! was done.

use crate::port::{Index, Item, ItemStore, Query, StoreError};
use std::collections::VecDeque;

/// Largest page asked of one shard.
const MAX_SHARD_PAGE: usize = 200;

/// What is known of one shard: the items read and not yet given, and where it continues.
struct Shard {
    pk: String,
    buffered: VecDeque<Item>,
    next: Option<String>,
    done: bool,
}

/// The merged list of some partitions, read lazily.
pub(crate) struct Merged<'a> {
    store: &'a dyn ItemStore,
    shards: Vec<Shard>,
    /// Index, bounds and direction of every shard's query (its `pk`, `limit` and `cursor` are
    /// set per shard).
    shape: Query,
    /// A sort key to leave out: the cursor item, given on the previous page.
    skip: Option<String>,
    /// Items asked of a shard the first time, and when refilled.
    first: usize,
    refill: usize,
    started: bool,
}

impl<'a> Merged<'a> {
    /// The merge of partitions `pks` read with `shape`, for a list of about `wanted` items.
    pub fn new(
        store: &'a dyn ItemStore,
        pks: impl IntoIterator<Item = String>,
        shape: Query,
        skip: Option<String>,
        wanted: usize,
    ) -> Merged<'a> {
        let shards: Vec<Shard> = pks
            .into_iter()
            .map(|pk| Shard {
                pk,
                buffered: VecDeque::new(),
                next: None,
                done: false,
            })
            .collect();
        let count = shards.len().max(1);
        Merged {
            store,
            first: (wanted + 1).div_ceil(count) + 2,
            refill: (wanted + 1).clamp(1, MAX_SHARD_PAGE),
            shards,
            shape,
            skip,
            started: false,
        }
    }

    fn sort_key<'i>(&self, item: &'i Item) -> Option<&'i str> {
        match self.shape.index {
            Index::Table => Some(item.key.sk.as_str()),
            Index::Gsi1 => item.index_key.as_ref().map(|k| k.sk.as_str()),
        }
    }

    /// Reads the next page of shard `i` into its buffer.
    async fn fill(
        &self,
        i: usize,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page, StoreError> {
        let page = self
            .store
            .query(&Query {
                pk: self.shards[i].pk.clone(),
                limit,
                cursor,
                ..self.shape.clone()
            })
            .await?;
        Ok(Page {
            shard: i,
            items: page.items,
            next: page.next,
        })
    }

    /// Fills every shard whose buffer is empty and that has more, at once, until each has an
    /// item or is done.
    async fn fill_empty(&mut self, limit: usize) -> Result<(), StoreError> {
        loop {
            let empty: Vec<(usize, Option<String>)> = self
                .shards
                .iter_mut()
                .enumerate()
                .filter(|(_, s)| s.buffered.is_empty() && !s.done)
                .map(|(i, s)| (i, s.next.take()))
                .collect();
            if empty.is_empty() {
                return Ok(());
            }
            let fills = empty
                .into_iter()
                .map(|(i, cursor)| self.fill(i, limit, cursor));
            let pages = futures::future::try_join_all(fills).await?;
            for page in pages {
                let skip = self.skip.clone();
                let kept: Vec<Item> = page
                    .items
                    .into_iter()
                    .filter(|item| skip.is_none() || self.sort_key(item) != skip.as_deref())
                    .collect();
                let shard = &mut self.shards[page.shard];
                shard.buffered.extend(kept);
                shard.done = page.next.is_none();
                shard.next = page.next;
            }
        }
    }

    /// The next item of the merged list, `None` once every shard is read.
    pub async fn next(&mut self) -> Result<Option<Item>, StoreError> {
        let limit = match self.started {
            false => self.first,
            true => self.refill,
        };
        self.started = true;
        self.fill_empty(limit).await?;
        let descending = self.shape.descending;
        let heads = self
            .shards
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, self.sort_key(s.buffered.front()?))));
        let pick = heads
            .min_by(|(_, a), (_, b)| match descending {
                false => a.cmp(b),
                true => b.cmp(a),
            })
            .map(|(i, _)| i);
        Ok(pick.and_then(|i| self.shards[i].buffered.pop_front()))
    }

    /// Whether any shard may still hold an item not given.
    pub fn more(&self) -> bool {
        self.shards
            .iter()
            .any(|s| !s.buffered.is_empty() || !s.done)
    }
}

/// One shard's page, before it is filed into the shard.
struct Page {
    shard: usize,
    items: Vec<Item>,
    next: Option<String>,
}

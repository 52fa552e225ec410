//! Listing conversions newest first: the index shards (`CONVS#<shard>`) merged by their sort
//! key, creation time then id ([`crate::merge`]); the cursor stays the sort key of the last item
//! given, so it continues in every shard.

use crate::conversions::{
    ConversionPage, INDEX_SHARDS, TimeRange, conversion_from, conversions_index_pk,
};
use crate::merge::Merged;
use crate::port::{Index, Item, Query};
use crate::repo::{Repo, RepoError};
use affnet_core::Conversion;
use chrono::{DateTime, SecondsFormat, Utc};

/// At most this many items are read to fill one filtered page; the cursor then continues.
const MAX_SCANNED: usize = 1_000;

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
        let (sk_from, sk_to) = bounds(range, cursor.as_ref());
        let shape = Query {
            index: Index::Gsi1,
            sk_from,
            sk_to,
            descending: true,
            ..Query::partition("")
        };
        let pks = (0..INDEX_SHARDS).map(conversions_index_pk);
        let mut merged = Merged::new(self.items().as_ref(), pks, shape, cursor, limit);
        let mut items = Vec::new();
        let mut scanned = 0;
        loop {
            let Some(item) = merged.next().await? else {
                return Ok(ConversionPage { items, next: None });
            };
            scanned += 1;
            let conversion = conversion_from(&item)?;
            if keep(&conversion) {
                items.push(conversion);
            }
            if items.len() == limit || scanned >= MAX_SCANNED {
                let more = items.len() < limit || merged.more();
                let next = more.then(|| index_sk(&item).map(str::to_string)).flatten();
                return Ok(ConversionPage { items, next });
            }
        }
    }
}

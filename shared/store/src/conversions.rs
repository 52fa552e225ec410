//! Conversions: one item per conversion, `CONV#<id>` / `META`, listed newest first through GSI1
//! (`CONVS#<shard>` / `<created_at RFC3339 millis>#<id>`, the shard picked by the id: every
//! conversion write rewrites its index entry, so one index partition for all would take every
//! postback). A list merges the shards newest first ([`crate::conversions_list`]).
//!
//! A conversion is created and changed only together with its totals, its events (the outbox,
//! [`crate::events`]) and the postback log entry that caused it, in one atomic batch:
//! [`Repo::create_conversion`] and [`Repo::change_conversion`] are the only writers, whoever
//! the caller (postbacks, reconciliation).

use crate::events::event_write;
use crate::port::{Condition, Item, Key, Query, StoreError, Write};
use crate::postback_logs::postback_log_write;
use crate::repo::{Repo, RepoError, decode, encode};
use crate::totals::{conversion_moves, shard_of};
use affnet_core::{Conversion, Event, PostbackLog};
use chrono::{DateTime, SecondsFormat, Utc};

/// GSI1 partition of every conversion before the index was sharded (read by the migration only).
pub const UNSHARDED_INDEX_PK: &str = "CONVS";

/// Shards of the conversions index: 2,000 conversion writes/s put 125/s on each partition,
/// and a page reads a few items more than it returns from each.
pub const INDEX_SHARDS: u32 = 16;

/// The index partition of shard `shard`, sorted by creation time.
pub fn conversions_index_pk(shard: u32) -> String {
    format!("CONVS#{shard}")
}

/// Links a click to its conversions: `CLICK#<click id>` / `CONV#<cv_id>`, beside the click's
/// own items, so that a lookup by click is one keyed query. Click IDs longer than this (not
/// ours: ours are far shorter) get no link and are not found by click.
const MAX_LINKED_CLICK_LEN: usize = 512;

fn click_link_key(click_id: &str, conversion_id: &str) -> Key {
    Key::new(format!("CLICK#{click_id}"), format!("CONV#{conversion_id}"))
}

/// The link write when `next` has a click ID that `previous` did not.
fn click_link(previous: Option<&Conversion>, next: &Conversion) -> Option<Write> {
    let click = next.click_id.as_deref()?;
    if click.len() > MAX_LINKED_CLICK_LEN
        || previous.and_then(|p| p.click_id.as_deref()) == Some(click)
    {
        return None;
    }
    Some(Write::Put {
        item: Item::new(click_link_key(click, &next.id), serde_json::json!({})),
        when: Condition::Always,
    })
}

pub fn conversion_key(id: &str) -> Key {
    Key::new(format!("CONV#{id}"), "META")
}

/// Sort key in the index: creation time to the millisecond, then the id (unique).
pub fn conversion_index_sk(created_at: DateTime<Utc>, id: &str) -> String {
    format!(
        "{}#{id}",
        created_at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

pub fn conversion_item(conversion: &Conversion, version: u64) -> Result<Item, StoreError> {
    let mut item = Item::new(conversion_key(&conversion.id), encode(conversion)?);
    item.version = version;
    item.index_key = Some(Key::new(
        conversions_index_pk(shard_of(&conversion.id, INDEX_SHARDS)),
        conversion_index_sk(conversion.created_at, &conversion.id),
    ));
    Ok(item)
}

pub fn conversion_from(item: &Item) -> Result<Conversion, StoreError> {
    let mut conversion: Conversion = decode(item)?;
    conversion.version = item.version;
    Ok(conversion)
}

/// The outbox writes of a conversion's write (see [`Event::for_conversion`]).
fn conversion_events(
    previous: Option<&Conversion>,
    next: &Conversion,
) -> Result<Vec<Write>, StoreError> {
    Event::for_conversion(previous, next, affnet_core::ids::new_id)
        .iter()
        .map(event_write)
        .collect()
}

/// A time window over the creation time, both ends inclusive.
#[derive(Debug, Clone, Default)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of conversions: `next` is the index sort key to continue below.
pub struct ConversionPage {
    pub items: Vec<Conversion>,
    pub next: Option<String>,
}

/// What a conversion's batch holds besides the conversion and its totals.
#[derive(Debug, Clone, Copy)]
pub struct ConversionWrite<'a> {
    /// The postback that caused the write, logged in the same batch until the Unix second given.
    pub postback_log: Option<(&'a PostbackLog, i64)>,
    /// How long clicks live: a click's totals item expires with its click.
    pub click_ttl_secs: i64,
    /// Creates only: the order's other names (see [`OtherNames`]).
    pub names: OtherNames<'a>,
    /// `false`: a later write of the caller confirms this one (a sent lead's conversion, then
    /// the lead's update), so it may be answered before it reaches the disk (see
    /// [`ItemStore::write_unsynced`](crate::ItemStore::write_unsynced)).
    pub sync: bool,
    /// The caller's own writes, made in the same batch (a sent lead's update, see
    /// [`Repo::lead_update_writes`]): their conditions failing is a [`RepoError::Conflict`]
    /// too, and nothing is written.
    pub along: &'a [Write],
}

/// A sent lead's order can have two names, our click ID and the network's order id, and both
/// must reach one conversion (see `affnet_core::lead::twin`). A create checks, in its batch,
/// that other names are free, and may make aliases: other ids that lead to this conversion. A
/// name taken is a [`RepoError::Conflict`] like the id itself: the caller reads to tell which.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtherNames<'a> {
    /// Conversion ids that must not exist.
    pub conversions_absent: &'a [&'a str],
    /// Ids that must not be aliases.
    pub aliases_absent: &'a [&'a str],
    /// Ids to make aliases of this conversion (none of them may be one yet).
    pub aliases: &'a [&'a str],
}

impl OtherNames<'_> {
    /// The writes, after the conversion's own: each one's failure is a conflict.
    fn writes(&self, conversion_id: &str) -> Vec<Write> {
        let absent = |key| Write::Check {
            key,
            when: Condition::Absent,
        };
        let mut writes: Vec<Write> = self
            .conversions_absent
            .iter()
            .map(|id| absent(conversion_key(id)))
            .collect();
        writes.extend(self.aliases_absent.iter().map(|id| absent(alias_key(id))));
        writes.extend(self.aliases.iter().map(|id| Write::Put {
            item: Item::new(
                alias_key(id),
                serde_json::json!({ "conversion_id": conversion_id }),
            ),
            when: Condition::Absent,
        }));
        writes
    }
}

/// An alias: `CONVNAME#<conversion id>` / `ALIAS`, holding the id of the conversion it leads to.
fn alias_key(id: &str) -> Key {
    Key::new(format!("CONVNAME#{id}"), "ALIAS")
}

impl Repo {
    /// Stores a new conversion (version 1) with its totals and log in one atomic batch.
    /// [`RepoError::Conflict`] when a conversion with its id exists: nothing was written.
    pub async fn create_conversion(
        &self,
        conversion: &Conversion,
        with: ConversionWrite<'_>,
    ) -> Result<Conversion, RepoError> {
        let mut writes = vec![Write::Put {
            item: conversion_item(conversion, 1)?,
            when: Condition::Absent,
        }];
        // Right after, so that their failures read as conflicts too (see `write_conversion`).
        let names = with.names.writes(&conversion.id);
        let conditional = 1 + names.len();
        writes.extend(names);
        writes.extend(conversion_moves(
            None,
            Some(conversion),
            with.click_ttl_secs,
        ));
        writes.extend(click_link(None, conversion));
        writes.extend(conversion_events(None, conversion)?);
        self.write_conversion(writes, with, conditional, !conversion.matched)
            .await?;
        Ok(Conversion {
            version: 1,
            ..conversion.clone()
        })
    }

    /// Replaces `current` (as read, with its version) by `next`, moving its totals from what
    /// `current` counted to what `next` counts, with the log, in one atomic batch.
    /// [`RepoError::Conflict`] when it changed since it was read: nothing was written.
    pub async fn change_conversion(
        &self,
        current: &Conversion,
        next: &Conversion,
        with: ConversionWrite<'_>,
    ) -> Result<Conversion, RepoError> {
        if current.id != next.id {
            return Err(StoreError::Invalid(
                "a change cannot move a conversion to another id".into(),
            )
            .into());
        }
        let version = current.version + 1;
        let mut writes = vec![Write::Put {
            item: conversion_item(next, version)?,
            when: Condition::Version(current.version),
        }];
        writes.extend(conversion_moves(
            Some(current),
            Some(next),
            with.click_ttl_secs,
        ));
        writes.extend(click_link(Some(current), next));
        writes.extend(conversion_events(Some(current), next)?);
        self.write_conversion(writes, with, 1, !next.matched)
            .await?;
        Ok(Conversion {
            version,
            ..next.clone()
        })
    }

    /// The conversion's own write is first, then (creates) its other names: only the first
    /// `conditional` writes' conditions can fail. A postback's log entry is counted in its
    /// integration's accepted postbacks (`unmatched`: the conversion has no click of ours).
    async fn write_conversion(
        &self,
        mut writes: Vec<Write>,
        with: ConversionWrite<'_>,
        conditional: usize,
        unmatched: bool,
    ) -> Result<(), RepoError> {
        if let Some((log, expires_at)) = with.postback_log {
            writes.push(postback_log_write(log, expires_at)?);
            writes.push(crate::health::accepted_count_write(log, unmatched));
        }
        let along = writes.len()..writes.len() + with.along.len();
        writes.extend(with.along.iter().cloned());
        let written = match with.sync {
            true => self.items().write(writes).await,
            false => self.items().write_unsynced(writes).await,
        };
        written.map_err(|e| match e {
            StoreError::ConditionFailed { index }
                if index < conditional || along.contains(&index) =>
            {
                RepoError::Conflict
            }
            other => RepoError::Store(other),
        })
    }

    /// Makes each of `aliases` lead to an existing conversion, outside its batches: for a
    /// conversion that got another name after it was created (a lead adopting a postback's
    /// conversion). An alias already taken stays as it is (the first name wins).
    pub async fn name_conversion(
        &self,
        conversion_id: &str,
        aliases: &[&str],
    ) -> Result<(), RepoError> {
        for alias in aliases {
            let names = OtherNames {
                aliases: std::slice::from_ref(alias),
                ..OtherNames::default()
            };
            match self.items().write(names.writes(conversion_id)).await {
                Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The conversion an alias leads to (see [`OtherNames::aliases`]).
    pub async fn conversion_alias(&self, id: &str) -> Result<Option<String>, RepoError> {
        let item = self.items().get(&alias_key(id)).await?;
        Ok(item.and_then(|i| i.data.get("conversion_id")?.as_str().map(str::to_owned)))
    }

    /// The conversions of one click (one keyed query, then a read of each), newest first,
    /// `limit` links a page; `next` continues with the links.
    pub async fn conversions_of_click(
        &self,
        click_id: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<ConversionPage, RepoError> {
        if click_id.len() > MAX_LINKED_CLICK_LEN {
            return Ok(ConversionPage {
                items: Vec::new(),
                next: None,
            });
        }
        let page = self
            .items()
            .query(&Query {
                sk_prefix: "CONV#".into(),
                limit,
                cursor,
                ..Query::partition(format!("CLICK#{click_id}"))
            })
            .await?;
        let reads = page
            .items
            .iter()
            .filter_map(|link| link.key.sk.strip_prefix("CONV#"));
        let mut items = Vec::new();
        for read in futures::future::join_all(reads.map(|id| self.get_conversion(id))).await {
            items.extend(read?);
        }
        items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(ConversionPage {
            items,
            next: page.next,
        })
    }

    pub async fn get_conversion(&self, id: &str) -> Result<Option<Conversion>, RepoError> {
        match self.items().get(&conversion_key(id)).await? {
            Some(item) => Ok(Some(conversion_from(&item)?)),
            None => Ok(None),
        }
    }
}

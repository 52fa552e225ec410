//! The outbox: every domain event is an item written in the same atomic batch as the change it
//! describes (a conversion's, a finished run's), so a stored change always has its event and an
//! event always describes a stored change. The feed, the webhooks and (on AWS, through the
//! table's stream) the EventBridge publisher read these items.
//!
//! Keys: `EVENT#<shard>` / `<event id>`, the shard (of [`EVENT_SHARDS`]) picked by the id, so
//! the outbox spreads over partitions like the conversions it follows; event ids are ULIDs, so
//! each shard lists oldest first and the feed merges the shards by id. Items expire after
//! [`EVENT_TTL_DAYS`]. A consumer's position (the local webhook deliveries) is one item,
//! `EVENTCURSOR` / `<consumer>`.

use crate::merge::Merged;
use crate::port::{Condition, Item, Key, Query, StoreError, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use crate::totals::shard_of;
use affnet_core::Event;

/// Shards of the outbox: 2,000 conversion writes/s put 125 event writes/s on each partition.
pub const EVENT_SHARDS: u32 = 16;
/// How long the outbox keeps an event (the feed's reach back).
pub const EVENT_TTL_DAYS: i64 = 14;
/// Every outbox partition key starts with this (the stream's filter on AWS says so too).
pub const EVENTS_PK_PREFIX: &str = "EVENT#";
/// At most this many events are read to fill one filtered page; the cursor then continues.
const MAX_SCANNED: usize = 1_000;

const CURSORS_PK: &str = "EVENTCURSOR";

pub fn events_pk(shard: u32) -> String {
    format!("{EVENTS_PK_PREFIX}{shard}")
}

pub fn event_key(id: &str) -> Key {
    Key::new(events_pk(shard_of(id, EVENT_SHARDS)), id)
}

/// The write that puts `event` in the outbox: part of its change's batch.
pub fn event_write(event: &Event) -> Result<Write, StoreError> {
    let mut item = Item::new(event_key(&event.id), encode(event)?);
    item.expires_at = Some(event.time.timestamp() + EVENT_TTL_DAYS * 86_400);
    Ok(Write::Put {
        item,
        when: Condition::Absent,
    })
}

/// The outbox write of `event`, if there is one.
pub(crate) fn outbox(event: Option<Event>) -> Result<Option<Write>, StoreError> {
    event.map(|e| event_write(&e)).transpose()
}

pub fn event_from(item: &Item) -> Result<Event, StoreError> {
    decode(item)
}

/// One page of the feed: `next` is the id of the last event looked at (given or filtered out),
/// `None` when nothing was looked at.
#[derive(Debug, Default)]
pub struct EventPage {
    pub items: Vec<Event>,
    pub next: Option<String>,
}

impl Repo {
    /// Events after the id `after`, up to the id `until` (inclusive; later ones are left for a
    /// later read), oldest first, those `keep` accepts, at most `limit`. A page may come back
    /// short when the filter skipped many events: continue from its `next`.
    pub async fn events_after(
        &self,
        after: Option<&str>,
        until: &str,
        keep: impl Fn(&Event) -> bool,
        limit: usize,
    ) -> Result<EventPage, RepoError> {
        let shape = Query {
            sk_from: after.map(str::to_string),
            sk_to: Some(until.to_string()),
            ..Query::partition("")
        };
        let pks = (0..EVENT_SHARDS).map(events_pk);
        let store = self.items().as_ref();
        let mut merged = Merged::new(store, pks, shape, after.map(str::to_string), limit);
        let mut page = EventPage::default();
        let mut scanned = 0;
        while page.items.len() < limit && scanned < MAX_SCANNED {
            let Some(item) = merged.next().await? else {
                break;
            };
            scanned += 1;
            let event = event_from(&item)?;
            page.next = Some(event.id.clone());
            if keep(&event) {
                page.items.push(event);
            }
        }
        Ok(page)
    }

    pub async fn get_event(&self, id: &str) -> Result<Option<Event>, RepoError> {
        match self.items().get(&event_key(id)).await? {
            Some(item) => Ok(Some(event_from(&item)?)),
            None => Ok(None),
        }
    }

    /// Where `consumer` is in the feed (the last event id it handled) and the item's version.
    pub async fn event_cursor(&self, consumer: &str) -> Result<Option<(String, u64)>, RepoError> {
        match self.items().get(&Key::new(CURSORS_PK, consumer)).await? {
            Some(item) => Ok(Some((decode::<String>(&item)?, item.version))),
            None => Ok(None),
        }
    }

    /// Moves `consumer` to `after`, from the cursor's `version` (0: none yet); the new version.
    /// [`RepoError::Conflict`] when another process moved it meanwhile.
    pub async fn save_event_cursor(
        &self,
        consumer: &str,
        after: &str,
        version: u64,
    ) -> Result<u64, RepoError> {
        let mut item = Item::new(Key::new(CURSORS_PK, consumer), encode(&after)?);
        item.version = version + 1;
        let when = match version {
            0 => Condition::Absent,
            v => Condition::Version(v),
        };
        self.items()
            .write(vec![Write::Put { item, when }])
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => RepoError::Conflict,
                other => RepoError::Store(other),
            })?;
        Ok(version + 1)
    }
}

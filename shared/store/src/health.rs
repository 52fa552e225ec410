//! What integration health reads and the silence watch keeps.
//!
//! Keys (hours are `YYYY-MM-DDTHH`, UTC):
//! - `INT#<id>#ACCEPTED#<shard>` / `<hour>`: accepted postbacks per hour, counters `<outcome>`
//!   (`created`, `changed`, `attributed`, `duplicate`, `stale`) and `unmatched` (accepted on a
//!   conversion without a click of ours). One `Add` in the postback's own batch; the shard (of
//!   [`ACCEPTED_SHARDS`]) is picked by the log entry's id, so one busy integration spreads like
//!   an offer's totals. Kept [`COUNTS_DAYS`] days.
//! - `INT#<id>#REFUSED` / `<hour>`: refusals by reason (written by the postback route; see
//!   [`crate::postback_logs`]).
//! - `INT#<id>#CLICKHOURS` / `<hour>`: hours in which the integration's offers got clicks, one
//!   `Add` per process, integration and hour (the click route's budget decides), never in the
//!   click's batch. Kept [`COUNTS_DAYS`] days.
//! - `INT#<id>#HEALTH` / `SILENCE`: the silence watch's state, changed on its version with its
//!   event in the same batch (so each transition is emitted once); `/ CONNECTION_TEST`: the last
//!   connection test's result.

use crate::events::event_write;
use crate::port::{Condition, Item, Key, Query, StoreError, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use crate::reports::Counters;
use crate::totals::{NARROW_SHARDS, shard_of};
use affnet_core::health::SilenceState;
use affnet_core::{Event, PostbackLog};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Shards of an integration's accepted-postback counters: 2,000 postbacks/s on one integration
/// put about 31 writes/s on each.
pub const ACCEPTED_SHARDS: u32 = NARROW_SHARDS;
/// How long hourly counters are kept: longer than the longest silence window (720 hours).
pub const COUNTS_DAYS: i64 = 31;
/// Counter of accepted postbacks whose conversion has no click of ours.
pub const UNMATCHED: &str = "unmatched";
/// Largest page asked of the store.
const PAGE: usize = 1000;

pub fn hour_string(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

pub fn accepted_pk(integration_id: &str, shard: u32) -> String {
    format!("INT#{integration_id}#ACCEPTED#{shard}")
}

fn refused_pk(integration_id: &str) -> String {
    format!("INT#{integration_id}#REFUSED")
}

fn click_hours_pk(integration_id: &str) -> String {
    format!("INT#{integration_id}#CLICKHOURS")
}

fn health_key(integration_id: &str, what: &str) -> Key {
    Key::new(format!("INT#{integration_id}#HEALTH"), what)
}

/// The `Add` that counts an accepted postback (its log entry `log`, whose `outcome` is set) in
/// its integration's hour: part of the postback's batch.
pub(crate) fn accepted_count_write(log: &PostbackLog, unmatched: bool) -> Write {
    let mut deltas = vec![(log.outcome.clone(), Decimal::ONE)];
    if unmatched {
        deltas.push((UNMATCHED.to_string(), Decimal::ONE));
    }
    let shard = shard_of(&log.id, ACCEPTED_SHARDS);
    Write::Add {
        key: Key::new(
            accepted_pk(&log.integration_id, shard),
            hour_string(log.time),
        ),
        deltas,
        expires_at: Some(log.time.timestamp() + COUNTS_DAYS * 86_400),
    }
}

/// Counters per hour, in hour order.
pub type HourCounts = BTreeMap<String, Counters>;

fn add_into(hours: &mut HourCounts, item: Item) {
    let sums = hours.entry(item.key.sk).or_default();
    for (name, delta) in item.counters {
        *sums.entry(name).or_default() += delta;
    }
}

impl Repo {
    /// Hourly items of `pk` from the hour of `from` on, at most `limit` (`None`: all, paged).
    async fn hours_of(
        &self,
        pk: String,
        from: DateTime<Utc>,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, RepoError> {
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .items()
                .query(&Query {
                    sk_from: Some(hour_string(from)),
                    limit: limit.unwrap_or(PAGE),
                    cursor,
                    ..Query::partition(pk.clone())
                })
                .await?;
            items.extend(page.items);
            match (page.next, limit) {
                (Some(next), None) => cursor = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Accepted postbacks per hour from the hour of `from` on, summed over the shards (one
    /// round of parallel queries).
    pub async fn accepted_hours(
        &self,
        integration_id: &str,
        from: DateTime<Utc>,
    ) -> Result<HourCounts, RepoError> {
        self.items().settle().await?;
        let reads = (0..ACCEPTED_SHARDS)
            .map(|shard| self.hours_of(accepted_pk(integration_id, shard), from, None));
        let mut hours = HourCounts::new();
        for read in futures::future::join_all(reads).await {
            for item in read? {
                add_into(&mut hours, item);
            }
        }
        Ok(hours)
    }

    /// Whether any postback was accepted in or after the hour of `from` (one item asked of
    /// each shard).
    pub async fn accepted_since(
        &self,
        integration_id: &str,
        from: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        self.items().settle().await?;
        let reads = (0..ACCEPTED_SHARDS)
            .map(|shard| self.hours_of(accepted_pk(integration_id, shard), from, Some(1)));
        let mut any = false;
        for read in futures::future::join_all(reads).await {
            any |= !read?.is_empty();
        }
        Ok(any)
    }

    /// Refused postbacks per hour (`refused.<reason>` counters) from the hour of `from` on.
    pub async fn refused_hours(
        &self,
        integration_id: &str,
        from: DateTime<Utc>,
    ) -> Result<HourCounts, RepoError> {
        let mut hours = HourCounts::new();
        for item in self
            .hours_of(refused_pk(integration_id), from, None)
            .await?
        {
            add_into(&mut hours, item);
        }
        Ok(hours)
    }

    /// Notes that the integration's offers got a click in the hour of `at`.
    pub async fn note_click_hour(
        &self,
        integration_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let write = Write::Add {
            key: Key::new(click_hours_pk(integration_id), hour_string(at)),
            deltas: vec![("noted".to_string(), Decimal::ONE)],
            expires_at: Some(at.timestamp() + COUNTS_DAYS * 86_400),
        };
        self.items().write(vec![write]).await?;
        Ok(())
    }

    /// The hours (`YYYY-MM-DDTHH`) with clicks from the hour of `from` on, oldest first, at most
    /// `limit`.
    pub async fn click_hours(
        &self,
        integration_id: &str,
        from: DateTime<Utc>,
        limit: Option<usize>,
    ) -> Result<Vec<String>, RepoError> {
        let items = self
            .hours_of(click_hours_pk(integration_id), from, limit)
            .await?;
        Ok(items.into_iter().map(|i| i.key.sk).collect())
    }

    /// The silence watch's state (`None`: never checked into a transition).
    pub async fn silence_state(
        &self,
        integration_id: &str,
    ) -> Result<Option<SilenceState>, RepoError> {
        let Some(item) = self
            .items()
            .get(&health_key(integration_id, "SILENCE"))
            .await?
        else {
            return Ok(None);
        };
        let mut state: SilenceState = decode(&item)?;
        state.version = item.version;
        Ok(Some(state))
    }

    /// Replaces the silence state read as `current` (`None`: none stored) by `next`, with
    /// `event` in the same batch. [`RepoError::Conflict`] when another check changed it first:
    /// nothing was written, so a transition is emitted once.
    pub async fn change_silence_state(
        &self,
        integration_id: &str,
        current: Option<&SilenceState>,
        next: &SilenceState,
        event: &Event,
    ) -> Result<SilenceState, RepoError> {
        let version = current.map_or(0, |c| c.version);
        let mut item = Item::new(health_key(integration_id, "SILENCE"), encode(next)?);
        item.version = version + 1;
        let when = match current {
            None => Condition::Absent,
            Some(_) => Condition::Version(version),
        };
        let writes = vec![Write::Put { item, when }, event_write(event)?];
        self.items().write(writes).await.map_err(|e| match e {
            StoreError::ConditionFailed { index: 0 } => RepoError::Conflict,
            other => RepoError::Store(other),
        })?;
        Ok(SilenceState {
            version: version + 1,
            ..next.clone()
        })
    }

    /// Keeps `result` as the integration's last connection test.
    pub async fn put_connection_test(
        &self,
        integration_id: &str,
        result: &serde_json::Value,
    ) -> Result<(), RepoError> {
        let item = Item::new(
            health_key(integration_id, "CONNECTION_TEST"),
            result.clone(),
        );
        self.put_unconditionally(item).await
    }

    /// The last connection test's result, as kept by [`Repo::put_connection_test`].
    pub async fn last_connection_test(
        &self,
        integration_id: &str,
    ) -> Result<Option<serde_json::Value>, RepoError> {
        let key = health_key(integration_id, "CONNECTION_TEST");
        Ok(self.items().get(&key).await?.map(|i| i.data))
    }
}

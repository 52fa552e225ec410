//! A group of batches applied in memory over one transaction, then written once.
//!
//! Each key a group touches is read once; every batch of the group applies to that in-memory
//! state, and at the end each changed key is written once. Hot items (the day's and an offer's
//! totals, which every conversion adds to) cost one read and one write per group instead of
//! one per batch. A batch is all or nothing: its changes are undone in memory when one of its
//! conditions fails, and nothing reaches SQLite before the group is flushed.
//!
//! Item bodies arrive already serialized ([`Prepared`], done on the caller's task): the writer
//! thread, which every write passes through, never touches an item's JSON data.

use super::ops::unavailable;
use crate::port::{Condition, Item, Key, StoreError, Write};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A write whose item body is serialized.
pub(super) enum Prepared {
    Put {
        key: Key,
        live: Live,
        when: Condition,
    },
    Delete {
        key: Key,
        when: Condition,
    },
    Add {
        key: Key,
        deltas: Vec<(String, Decimal)>,
        expires_at: Option<i64>,
    },
    Check {
        key: Key,
        when: Condition,
    },
}

impl Prepared {
    /// Serializes `write`'s item body (on the caller's task).
    pub(super) fn new(write: Write) -> Result<Prepared, StoreError> {
        Ok(match write {
            Write::Put { item, when } => {
                let Item {
                    key,
                    version,
                    data,
                    counters,
                    expires_at,
                    index_key,
                } = item;
                let data =
                    serde_json::to_string(&data).map_err(|e| StoreError::Invalid(e.to_string()))?;
                let live = Live {
                    version,
                    counters,
                    expires_at,
                    body: Some(Body { data, index_key }),
                };
                Prepared::Put { key, live, when }
            }
            Write::Delete { key, when } => Prepared::Delete { key, when },
            Write::Add {
                key,
                deltas,
                expires_at,
            } => Prepared::Add {
                key,
                deltas,
                expires_at,
            },
            Write::Check { key, when } => Prepared::Check { key, when },
        })
    }

    fn key(&self) -> &Key {
        match self {
            Prepared::Put { key, .. }
            | Prepared::Delete { key, .. }
            | Prepared::Add { key, .. }
            | Prepared::Check { key, .. } => key,
        }
    }
}

/// A live item as the group sees it.
#[derive(Clone)]
pub(super) struct Live {
    version: u64,
    counters: BTreeMap<String, Decimal>,
    expires_at: Option<i64>,
    /// `None`: as stored (only the counters and expiry of a stored item changed).
    body: Option<Body>,
}

#[derive(Clone)]
struct Body {
    data: String,
    index_key: Option<Key>,
}

/// What a batch changed, to undo it: the key's previous state, and whether the batch made it dirty.
type Undo = (Key, Option<Live>, bool);

pub(super) struct Group<'c> {
    conn: &'c Connection,
    now: i64,
    /// Every key read or written so far; `None` = no live item.
    state: HashMap<Key, Option<Live>>,
    dirty: HashSet<Key>,
}

const LOAD: &str = "SELECT version, counters, expires_at FROM items WHERE pk = ?1 AND sk = ?2";
const REPLACE: &str = "INSERT INTO items \
    (pk, sk, version, data, counters, expires_at, gsi1pk, gsi1sk) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
    ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version, data = excluded.data, \
    counters = excluded.counters, expires_at = excluded.expires_at, \
    gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk";
const UPDATE_COUNTERS: &str =
    "UPDATE items SET version = ?3, counters = ?4, expires_at = ?5 WHERE pk = ?1 AND sk = ?2";
const DELETE: &str = "DELETE FROM items WHERE pk = ?1 AND sk = ?2";

fn holds(current: Option<&Live>, when: Condition) -> bool {
    when.holds(current.map(|c| c.version))
}

impl<'c> Group<'c> {
    /// A group over `conn`, whose transaction the caller has begun.
    pub(super) fn new(conn: &'c Connection, now: i64) -> Group<'c> {
        Group {
            conn,
            now,
            state: HashMap::new(),
            dirty: HashSet::new(),
        }
    }

    /// Applies one batch: all of it, or (on an error) none of it.
    pub(super) fn apply(&mut self, batch: &[Prepared]) -> Result<(), StoreError> {
        let mut undo: Vec<Undo> = Vec::with_capacity(batch.len());
        for (index, write) in batch.iter().enumerate() {
            if let Err(e) = self.apply_one(index, write, &mut undo) {
                for (key, previous, made_dirty) in undo.into_iter().rev() {
                    if made_dirty {
                        self.dirty.remove(&key);
                    }
                    self.state.insert(key, previous);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn apply_one(
        &mut self,
        index: usize,
        write: &Prepared,
        undo: &mut Vec<Undo>,
    ) -> Result<(), StoreError> {
        let key = write.key();
        let current = self.current(key)?;
        let refused = Err(StoreError::ConditionFailed { index });
        let next = match write {
            Prepared::Check { when, .. } => {
                return if holds(current, *when) {
                    Ok(())
                } else {
                    refused
                };
            }
            Prepared::Put { live, when, .. } => {
                if !holds(current, *when) {
                    return refused;
                }
                // Counters belong to Add; a Put keeps the ones already there.
                let mut next = live.clone();
                for (name, value) in current.map(|c| &c.counters).into_iter().flatten() {
                    next.counters.entry(name.clone()).or_insert(*value);
                }
                Some(next)
            }
            Prepared::Delete { when, .. } => {
                if !holds(current, *when) {
                    return refused;
                }
                None
            }
            Prepared::Add {
                deltas, expires_at, ..
            } => {
                let mut next = current.cloned().unwrap_or_else(|| Live {
                    version: 0,
                    counters: BTreeMap::new(),
                    expires_at: None,
                    body: Some(Body {
                        data: "null".into(),
                        index_key: None,
                    }),
                });
                for (name, delta) in deltas {
                    let slot = next.counters.entry(name.clone()).or_default();
                    *slot = slot
                        .checked_add(*delta)
                        .ok_or_else(|| StoreError::Invalid(format!("counter `{name}` overflow")))?;
                }
                if expires_at.is_some() {
                    next.expires_at = *expires_at;
                }
                Some(next)
            }
        };
        let made_dirty = self.dirty.insert(key.clone());
        let previous = self.state.insert(key.clone(), next).flatten();
        undo.push((key.clone(), previous, made_dirty));
        Ok(())
    }

    /// The live item under `key`, read from SQLite the first time the group needs it.
    fn current(&mut self, key: &Key) -> Result<Option<&Live>, StoreError> {
        if !self.state.contains_key(key) {
            let loaded = load(self.conn, key, self.now)?;
            self.state.insert(key.clone(), loaded);
        }
        Ok(self.state.get(key).and_then(Option::as_ref))
    }

    /// Writes every changed key; the caller commits (or rolls back on an error).
    pub(super) fn flush(self) -> Result<(), StoreError> {
        for key in &self.dirty {
            match self.state.get(key).and_then(Option::as_ref) {
                None => {
                    self.conn
                        .prepare_cached(DELETE)
                        .map_err(unavailable)?
                        .execute(params![key.pk, key.sk])
                        .map_err(unavailable)?;
                }
                Some(live) => write_live(self.conn, key, live)?,
            }
        }
        Ok(())
    }
}

fn write_live(conn: &Connection, key: &Key, live: &Live) -> Result<(), StoreError> {
    let counters =
        serde_json::to_string(&live.counters).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let version = live.version as i64;
    match &live.body {
        Some(body) => conn
            .prepare_cached(REPLACE)
            .map_err(unavailable)?
            .execute(params![
                key.pk,
                key.sk,
                version,
                body.data,
                counters,
                live.expires_at,
                body.index_key.as_ref().map(|k| &k.pk),
                body.index_key.as_ref().map(|k| &k.sk),
            ]),
        None => conn
            .prepare_cached(UPDATE_COUNTERS)
            .map_err(unavailable)?
            .execute(params![key.pk, key.sk, version, counters, live.expires_at]),
    }
    .map_err(unavailable)?;
    Ok(())
}

/// Version, counters and expiry of the live item under `key` (its body stays unread).
fn load(conn: &Connection, key: &Key, now: i64) -> Result<Option<Live>, StoreError> {
    let row = conn
        .prepare_cached(LOAD)
        .map_err(unavailable)?
        .query_row(params![key.pk, key.sk], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<i64>>(2)?,
            ))
        })
        .optional()
        .map_err(unavailable)?;
    let Some((version, counters, expires_at)) = row else {
        return Ok(None);
    };
    if expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    let counters =
        serde_json::from_str(&counters).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(Live {
        version: version as u64,
        counters,
        expires_at,
        body: None,
    }))
}

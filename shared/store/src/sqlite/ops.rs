//! The SQL of the embedded adapter: loading, writing and querying items on one connection,
//! every statement prepared once per connection (`prepare_cached`).

use crate::port::{Condition, Index, Item, Key, Page, Query, StoreError, Write};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

pub(super) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(super) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

macro_rules! columns {
    () => {
        "pk, sk, version, data, counters, expires_at, gsi1pk, gsi1sk"
    };
}
const COLUMNS: &str = columns!();
const LOAD: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM items WHERE pk = ?1 AND sk = ?2"
);
const PUT: &str = concat!(
    "INSERT OR REPLACE INTO items (",
    columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
);
const DELETE: &str = "DELETE FROM items WHERE pk = ?1 AND sk = ?2";

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Item, StoreError>> {
    let pk: String = row.get(0)?;
    let sk: String = row.get(1)?;
    let version: i64 = row.get(2)?;
    let data: String = row.get(3)?;
    let counters: String = row.get(4)?;
    let expires_at: Option<i64> = row.get(5)?;
    let gsi1pk: Option<String> = row.get(6)?;
    let gsi1sk: Option<String> = row.get(7)?;
    Ok((|| {
        let data = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let counters: BTreeMap<String, Decimal> =
            serde_json::from_str(&counters).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Item {
            key: Key { pk, sk },
            version: version as u64,
            data,
            counters,
            expires_at,
            index_key: gsi1pk.zip(gsi1sk).map(|(pk, sk)| Key { pk, sk }),
        })
    })())
}

/// The live item under `key` (expired items count as absent).
pub(super) fn load(conn: &Connection, key: &Key, now: i64) -> Result<Option<Item>, StoreError> {
    let item = conn
        .prepare_cached(LOAD)
        .map_err(unavailable)?
        .query_row(params![key.pk, key.sk], row_to_item)
        .optional()
        .map_err(unavailable)?
        .transpose()?;
    Ok(item.filter(|i| i.expires_at.is_none_or(|t| t > now)))
}

fn holds(current: Option<&Item>, when: Condition) -> bool {
    match when {
        Condition::Always => true,
        Condition::Absent => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::Version(v) => current.is_some_and(|i| i.version == v),
    }
}

fn put(conn: &Connection, item: &Item) -> Result<(), StoreError> {
    let data = serde_json::to_string(&item.data).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let counters =
        serde_json::to_string(&item.counters).map_err(|e| StoreError::Invalid(e.to_string()))?;
    conn.prepare_cached(PUT)
        .map_err(unavailable)?
        .execute(params![
            item.key.pk,
            item.key.sk,
            item.version as i64,
            data,
            counters,
            item.expires_at,
            item.index_key.as_ref().map(|k| &k.pk),
            item.index_key.as_ref().map(|k| &k.sk),
        ])
        .map_err(unavailable)?;
    Ok(())
}

/// Applies one batch inside the caller's transaction (or savepoint); on error the caller rolls
/// it back.
pub(super) fn apply(conn: &Connection, writes: &[Write]) -> Result<(), StoreError> {
    let now = now_secs();
    for (index, write) in writes.iter().enumerate() {
        let current = load(conn, write.key(), now)?;
        match write {
            Write::Put { item, when } => {
                if !holds(current.as_ref(), *when) {
                    return Err(StoreError::ConditionFailed { index });
                }
                // Counters belong to Add; a Put keeps the ones already there.
                let mut item = item.clone();
                if let Some(current) = current {
                    for (name, value) in current.counters {
                        item.counters.entry(name).or_insert(value);
                    }
                }
                put(conn, &item)?;
            }
            Write::Delete { key, when } => {
                if !holds(current.as_ref(), *when) {
                    return Err(StoreError::ConditionFailed { index });
                }
                conn.prepare_cached(DELETE)
                    .map_err(unavailable)?
                    .execute(params![key.pk, key.sk])
                    .map_err(unavailable)?;
            }
            Write::Check { when, .. } => {
                if !holds(current.as_ref(), *when) {
                    return Err(StoreError::ConditionFailed { index });
                }
            }
            Write::Add {
                key,
                deltas,
                expires_at,
            } => {
                let mut item = current.unwrap_or_else(|| Item {
                    version: 0,
                    ..Item::new(key.clone(), serde_json::Value::Null)
                });
                for (name, delta) in deltas {
                    let slot = item.counters.entry(name.clone()).or_default();
                    *slot = slot
                        .checked_add(*delta)
                        .ok_or_else(|| StoreError::Invalid(format!("counter `{name}` overflow")))?;
                }
                if expires_at.is_some() {
                    item.expires_at = *expires_at;
                }
                put(conn, &item)?;
            }
        }
    }
    Ok(())
}

pub(super) fn run_query(conn: &Connection, q: &Query) -> Result<Page, StoreError> {
    let (pk_col, sk_col) = match q.index {
        Index::Table => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
    };
    let order = if q.descending { "DESC" } else { "ASC" };
    // Cursor = the last returned item's index sort key, then its table key (ties on GSI1).
    let cursor: Option<(String, String, String)> = match &q.cursor {
        None => None,
        Some(c) => {
            Some(serde_json::from_str(c).map_err(|_| StoreError::Invalid("bad cursor".into()))?)
        }
    };
    let cmp = if q.descending { "<" } else { ">" };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM items WHERE {pk_col} = ?1 AND {sk_col} >= ?2 AND {sk_col} <= ?3 \
         AND (expires_at IS NULL OR expires_at > ?4)"
    );
    if cursor.is_some() {
        sql.push_str(&format!(" AND ({sk_col}, pk, sk) {cmp} (?5, ?6, ?7)"));
    }
    sql.push_str(&format!(
        " ORDER BY {sk_col} {order}, pk {order}, sk {order} LIMIT ?8"
    ));
    let lower = q
        .sk_from
        .clone()
        .map_or(q.sk_prefix.clone(), |f| f.max(q.sk_prefix.clone()));
    let prefix_end = format!("{}\u{10FFFF}", q.sk_prefix);
    let upper = q
        .sk_to
        .clone()
        .map_or(prefix_end.clone(), |t| t.min(prefix_end));
    let limit = q.limit.clamp(1, 1000);
    let (c1, c2, c3) = cursor.unwrap_or_default();
    let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(
            params![
                q.pk,
                lower,
                upper,
                now_secs(),
                c1,
                c2,
                c3,
                (limit + 1) as i64
            ],
            row_to_item,
        )
        .map_err(unavailable)?;
    let mut items = Vec::with_capacity(limit);
    for row in rows {
        items.push(row.map_err(unavailable)??);
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        let last = items.last().expect("limit >= 1");
        let sort = match q.index {
            Index::Table => last.key.sk.clone(),
            Index::Gsi1 => last
                .index_key
                .as_ref()
                .map(|k| k.sk.clone())
                .unwrap_or_default(),
        };
        Some(serde_json::to_string(&(sort, &last.key.pk, &last.key.sk)).expect("cursor"))
    } else {
        None
    };
    Ok(Page { items, next })
}

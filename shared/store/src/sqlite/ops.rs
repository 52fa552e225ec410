//! The reads of the embedded adapter: loading and querying items on one connection, every
//! statement prepared once per connection (`prepare_cached`). Writes are in [`super::group`].

use crate::port::{Index, Item, Key, Page, Query, StoreError};
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

//! The embedded adapter: one SQLite file (WAL), one table shaped like the DynamoDB one.
//! It survives restarts and needs no server: the local server's default.

use crate::port::{Condition, Index, Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    counters TEXT NOT NULL DEFAULT '{}',
    expires_at INTEGER,
    gsi1pk TEXT,
    gsi1sk TEXT,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
";

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, its folder included.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
        }
        let conn = Connection::open(path).map_err(unavailable)?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<SqliteStore, StoreError> {
        // WAL + NORMAL: durable across process crashes, fsync at checkpoints.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        conn.execute(
            "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            params![now_secs()],
        )
        .map_err(unavailable)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| unavailable("store lock poisoned"))?;
            f(&mut guard)
        })
        .await
        .map_err(unavailable)?
    }
}

const COLUMNS: &str = "pk, sk, version, data, counters, expires_at, gsi1pk, gsi1sk";

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

fn load(conn: &Connection, key: &Key, now: i64) -> Result<Option<Item>, StoreError> {
    let item = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2"),
            params![key.pk, key.sk],
            row_to_item,
        )
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
    conn.execute(
        &format!(
            "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ),
        params![
            item.key.pk,
            item.key.sk,
            item.version as i64,
            data,
            counters,
            item.expires_at,
            item.index_key.as_ref().map(|k| &k.pk),
            item.index_key.as_ref().map(|k| &k.sk),
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn apply(conn: &Connection, writes: &[Write]) -> Result<(), StoreError> {
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
                conn.execute(
                    "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                    params![key.pk, key.sk],
                )
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

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| load(conn, &key, now_secs()))
            .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.clone();
        self.with_conn(move |conn| run_query(conn, &query)).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        crate::port::check_batch(&writes)?;
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            apply(&tx, &writes)?; // dropping `tx` on error rolls back
            tx.commit().map_err(unavailable)
        })
        .await
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }
}

fn run_query(conn: &Connection, q: &Query) -> Result<Page, StoreError> {
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

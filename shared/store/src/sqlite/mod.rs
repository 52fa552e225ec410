//! The embedded adapter: one SQLite file (WAL), one table shaped like the DynamoDB one.
//! It survives restarts and needs no server: the local server's default.
//!
//! One connection writes, on its own thread, committing waiting batches together
//! ([`writer`]); reads use a small pool of other connections, which WAL lets read while the
//! writer writes. A read sees every acknowledged write: a write is answered after its commit.
//! A third connection copies the WAL into the database in the background ([`checkpoint`]).

mod checkpoint;
mod group;
mod ops;
#[cfg(test)]
mod tests;
mod writer;

use crate::port::{Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use checkpoint::Checkpoints;
use ops::{now_secs, unavailable};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use writer::{Job, Writer};

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Writer,
    /// `None` for the in-memory store: its reads go through the writer's connection.
    readers: Option<Readers>,
}

/// Read connections of a file store, opened when needed and kept for reuse.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Idle read connections kept at most.
const MAX_IDLE_READERS: usize = 8;
/// Read statements are few (a point read and the query shapes); room for all of them.
const STATEMENT_CACHE: usize = 32;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    counters TEXT NOT NULL DEFAULT '{}',
    expires_at INTEGER,
    gsi1pk TEXT,
    gsi1sk TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS items_key ON items (pk, sk);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
";

/// Database bytes the writer reads through a memory map instead of `pread` (writes still use
/// `pwrite`).
const MMAP_SIZE: i64 = 1 << 30;
/// Read connections map nothing: they read pages with `pread` into SQLite's own page cache
/// (bounded: `cache_size`, 2 MiB by default, per connection). A mapped page stays resident in the
/// process for as long as the mapping, so one scan of a partition whose rows are spread through
/// the file (a sync's remote ids, stored next to their offers) made the process's RSS as large as
/// the database: 103 MB of 130 MB at the peak of an unchanged 100,000-offer re-sync.
const READER_MMAP_SIZE: i64 = 0;

const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl SqliteStore {
    /// Opens (creating if needed) the database file, its folder included.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, checkpoint::WRITER_LIMIT)
    }

    /// [`Self::open`], the writer checkpointing itself past `wal_limit` WAL frames.
    fn open_with(path: &Path, wal_limit: i64) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
        }
        let conn = Connection::open(path).map_err(unavailable)?;
        let readers = Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        Self::init(conn, Some(readers), wal_limit)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(
            Connection::open_in_memory().map_err(unavailable)?,
            None,
            checkpoint::WRITER_LIMIT,
        )
    }

    fn init(
        conn: Connection,
        readers: Option<Readers>,
        wal_limit: i64,
    ) -> Result<SqliteStore, StoreError> {
        // WAL + FULL: each commit syncs the WAL before the writer answers, so an acknowledged
        // write survives a power loss too, not only a crashed process (NORMAL syncs only at
        // checkpoints). The group commit pays one sync for every batch waiting together.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(unavailable)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "mmap_size", MMAP_SIZE)
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        conn.execute(
            "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            params![now_secs()],
        )
        .map_err(unavailable)?;
        let checkpoints = match &readers {
            Some(readers) => {
                let checkpointer = connect(&readers.path)?;
                conn.pragma_update(None, "wal_autocheckpoint", 0)
                    .map_err(unavailable)?;
                Some(Checkpoints::start(checkpointer, wal_limit)?)
            }
            None => None,
        };
        let writer = Writer::start(conn, checkpoints)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner { writer, readers }),
        })
    }

    /// Runs `f` on a read connection: a pooled one right here for a file store (WAL reads do
    /// not wait for the writer), the writer's own between its transactions for the in-memory one.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &self.inner.readers {
            Some(readers) => readers.with(f),
            None => {
                let (reply, answer) = oneshot::channel();
                self.inner.writer.send(Job::Read(Box::new(move |conn| {
                    let _ = reply.send(f(conn));
                })))?;
                answer.await.map_err(|_| writer::stopped())?
            }
        }
    }
}

impl SqliteStore {
    async fn write_synced(&self, writes: Vec<Write>, sync: bool) -> Result<(), StoreError> {
        crate::port::check_batch(&writes)?;
        let prepared = writes
            .into_iter()
            .map(group::Prepared::new)
            .collect::<Result<Vec<_>, _>>()?;
        self.inner.writer.write(prepared, sync).await
    }
}

#[cfg(test)]
impl SqliteStore {
    /// Runs `f` on the writer's connection, between its transactions, on its thread.
    async fn on_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> T + Send + 'static,
    ) -> T {
        let (reply, answer) = oneshot::channel();
        self.inner
            .writer
            .send(Job::Read(Box::new(move |conn| {
                let _ = reply.send(f(conn));
            })))
            .expect("the writer runs");
        answer.await.expect("the writer answers")
    }
}

impl Readers {
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
        result
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = connect(&self.path)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(unavailable)?;
        conn.pragma_update(None, "mmap_size", READER_MMAP_SIZE)
            .map_err(unavailable)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

/// Another connection to the database file (which the writer has set up).
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    Ok(conn)
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.read(move |conn| ops::load(conn, &key, now_secs()))
            .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.clone();
        self.read(move |conn| ops::run_query(conn, &query)).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.write_synced(writes, true).await
    }

    async fn write_unsynced(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.write_synced(writes, false).await
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }
}

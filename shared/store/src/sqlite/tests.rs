//! The file store's promises the conformance suite cannot reach: its sync setting.

use super::SqliteStore;
use std::path::PathBuf;

/// A file store in a folder of its own (kept while the returned `TempDir` lives).
fn file_store() -> (SqliteStore, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("affnet.db");
    (SqliteStore::open(&path).unwrap(), dir, path)
}

#[tokio::test]
async fn the_writer_syncs_the_wal_at_every_commit() {
    let (store, _dir, _) = file_store();
    let (journal, synchronous) = store
        .on_writer(|conn| {
            let journal: String = conn
                .query_row("PRAGMA journal_mode", [], |row| row.get(0))
                .unwrap();
            let synchronous: i64 = conn
                .query_row("PRAGMA synchronous", [], |row| row.get(0))
                .unwrap();
            (journal, synchronous)
        })
        .await;
    assert_eq!(journal, "wal");
    assert_eq!(
        synchronous, 2,
        "synchronous=FULL (2): the WAL synced at each commit"
    );
}

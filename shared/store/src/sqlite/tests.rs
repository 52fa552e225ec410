//! The file store's promises the conformance suite cannot reach: its sync setting, the writer's
//! failure paths (nothing half-written, every caller answered), corrupt rows, the WAL reset.

use super::SqliteStore;
use super::group::Prepared;
use super::writer::{BEGIN, COMMIT, FAIL_NEXT, Job};
use crate::port::{Condition, Item, ItemStore, Key, Query, StoreError, Write};
use rust_decimal::Decimal;
use serde_json::json;
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;

/// A file store in a folder of its own (kept while the returned `TempDir` lives).
fn file_store() -> (SqliteStore, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("affnet.db");
    (SqliteStore::open(&path).unwrap(), dir, path)
}

/// Both kinds of store: the in-memory one reads on the writer's connection, so it would see
/// an uncommitted (half-written) transaction left open there.
fn both_stores() -> Vec<(SqliteStore, Option<tempfile::TempDir>)> {
    let (file, dir, _) = file_store();
    vec![(file, Some(dir)), (SqliteStore::in_memory().unwrap(), None)]
}

/// Commits `batches` as one group: the writer is held until all of them are queued.
async fn one_group(store: &SqliteStore, batches: Vec<Vec<Write>>) -> Vec<Result<(), StoreError>> {
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let writer = &store.inner.writer;
    writer
        .send(Job::Read(Box::new(move |_| {
            let _ = hold.recv();
        })))
        .unwrap();
    let answers: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let prepared = batch.into_iter().map(|w| Prepared::new(w).unwrap());
            let (reply, answer) = oneshot::channel();
            writer.send(Job::Write(prepared.collect(), reply)).unwrap();
            answer
        })
        .collect();
    release.send(()).unwrap();
    let mut results = Vec::new();
    for answer in answers {
        results.push(answer.await.unwrap());
    }
    results
}

/// Makes the writer's next `statement` fail (without running it).
async fn fail_next(store: &SqliteStore, statement: &'static str) {
    store
        .on_writer(move |_| FAIL_NEXT.with(|next| next.set(Some(statement))))
        .await;
}

fn put(pk: &str, sk: &str) -> Write {
    Write::Put {
        item: Item::new(Key::new(pk, sk), json!({"sk": sk})),
        when: Condition::Absent,
    }
}

fn add(pk: &str, sk: &str, delta: Decimal) -> Write {
    Write::Add {
        key: Key::new(pk, sk),
        deltas: vec![("n".into(), delta)],
        expires_at: None,
    }
}

async fn counter(store: &SqliteStore, pk: &str, sk: &str) -> Decimal {
    store
        .get(&Key::new(pk, sk))
        .await
        .unwrap()
        .unwrap()
        .counters["n"]
}

async fn absent(store: &SqliteStore, pk: &str, sk: &str) -> bool {
    store.get(&Key::new(pk, sk)).await.unwrap().is_none()
}

fn assert_unavailable(results: &[Result<(), StoreError>]) {
    for result in results {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "every batch of the group fails as retryable, got {result:?}"
        );
    }
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

/// The writer's `synchronous` setting, read between its transactions.
async fn synchronous(store: &SqliteStore) -> i64 {
    store
        .on_writer(|conn| {
            conn.query_row("PRAGMA synchronous", [], |row| row.get(0))
                .unwrap()
        })
        .await
}

#[tokio::test]
async fn an_unsynced_write_commits_without_syncing_and_the_next_write_syncs() {
    let (store, _dir, path) = file_store();
    store
        .write_unsynced(vec![add("P", "a", Decimal::ONE)])
        .await
        .unwrap();
    assert_eq!(
        synchronous(&store).await,
        1,
        "committed with synchronous=NORMAL"
    );
    // Visible and atomic like any write.
    let read = store.get(&Key::new("P", "a")).await.unwrap();
    assert!(read.is_some());
    store
        .write(vec![add("P", "b", Decimal::ONE)])
        .await
        .unwrap();
    assert_eq!(
        synchronous(&store).await,
        2,
        "committed with synchronous=FULL"
    );
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    for sk in ["a", "b"] {
        assert!(
            reopened.get(&Key::new("P", sk)).await.unwrap().is_some(),
            "{sk}"
        );
    }
}

#[tokio::test]
async fn a_failing_commit_fails_its_whole_group_and_writes_nothing() {
    for (store, _dir) in both_stores() {
        store
            .write(vec![add("P", "hot", Decimal::ONE)])
            .await
            .unwrap();
        fail_next(&store, COMMIT).await;
        let results = one_group(
            &store,
            vec![
                vec![put("P", "a"), add("P", "hot", Decimal::ONE)],
                vec![put("P", "b")],
            ],
        )
        .await;
        assert_unavailable(&results);
        assert!(absent(&store, "P", "a").await && absent(&store, "P", "b").await);
        assert_eq!(counter(&store, "P", "hot").await, Decimal::ONE);
        // The transaction was rolled back: the writer goes on with the next group.
        store.write(vec![put("P", "a")]).await.unwrap();
        assert!(!absent(&store, "P", "a").await && absent(&store, "P", "b").await);
    }
}

#[tokio::test]
async fn a_failing_begin_fails_its_whole_group_and_writes_nothing() {
    for (store, _dir) in both_stores() {
        fail_next(&store, BEGIN).await;
        let results = one_group(&store, vec![vec![put("P", "a")], vec![put("P", "b")]]).await;
        assert_unavailable(&results);
        assert!(absent(&store, "P", "a").await && absent(&store, "P", "b").await);
        store.write(vec![put("P", "b")]).await.unwrap();
        assert!(absent(&store, "P", "a").await && !absent(&store, "P", "b").await);
    }
}

#[tokio::test]
async fn a_counter_overflow_refuses_its_batch_only() {
    let (store, _dir, _) = file_store();
    store
        .write(vec![add("P", "hot", Decimal::from(5))])
        .await
        .unwrap();
    store
        .write(vec![add("P", "full", Decimal::MAX)])
        .await
        .unwrap();
    let results = one_group(
        &store,
        vec![
            vec![
                add("P", "hot", Decimal::ONE),
                put("P", "a"),
                add("P", "full", Decimal::ONE),
            ],
            vec![add("P", "hot", Decimal::ONE), put("P", "b")],
        ],
    )
    .await;
    match &results[0] {
        Err(StoreError::Invalid(message)) => {
            assert!(message.contains("`n` overflow"), "{message}")
        }
        other => panic!("an overflow is refused as invalid, got {other:?}"),
    }
    assert!(results[1].is_ok(), "{:?}", results[1]);
    // The refused batch's add to `hot` was undone; the other batch's stays.
    assert_eq!(counter(&store, "P", "hot").await, Decimal::from(6));
    assert_eq!(counter(&store, "P", "full").await, Decimal::MAX);
    assert!(absent(&store, "P", "a").await && !absent(&store, "P", "b").await);
}

#[tokio::test]
async fn a_corrupt_counter_in_the_file_reads_as_corrupt() {
    let (store, _dir, path) = file_store();
    store
        .write(vec![add("P", "bad", Decimal::ONE)])
        .await
        .unwrap();
    let corrupt = r#"{"n":"not a number"}"#;
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    raw.execute(
        "UPDATE items SET counters = ?1 WHERE pk = 'P' AND sk = 'bad'",
        [corrupt],
    )
    .unwrap();

    let got = store.get(&Key::new("P", "bad")).await;
    assert!(matches!(got, Err(StoreError::Corrupt(_))), "{got:?}");
    let listed = store.query(&Query::partition("P")).await;
    assert!(matches!(listed, Err(StoreError::Corrupt(_))), "{listed:?}");
    // A write on top of it is refused; the other batch of its group is not.
    let results = one_group(
        &store,
        vec![
            vec![add("P", "bad", Decimal::ONE)],
            vec![add("P", "good", Decimal::ONE)],
        ],
    )
    .await;
    assert!(
        matches!(results[0], Err(StoreError::Corrupt(_))),
        "{results:?}"
    );
    assert!(results[1].is_ok(), "{results:?}");
    assert_eq!(counter(&store, "P", "good").await, Decimal::ONE);
    let stored: String = raw
        .query_row(
            "SELECT counters FROM items WHERE pk = 'P' AND sk = 'bad'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored, corrupt, "the corrupt row is left as it was");
}

/// The WAL header's checkpoint sequence number, which SQLite increments each time it starts the
/// WAL over from its beginning.
fn wal_restarts(db: &Path) -> u32 {
    let header = std::fs::read(db.with_extension("db-wal")).unwrap();
    u32::from_be_bytes(header[12..16].try_into().unwrap())
}

fn wal_bytes(db: &Path) -> u64 {
    std::fs::metadata(db.with_extension("db-wal"))
        .unwrap()
        .len()
}

#[tokio::test]
async fn past_its_limit_the_writer_checkpoints_and_the_wal_starts_over() {
    const LIMIT: i64 = 64;
    const PAGE: u64 = 4096;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("affnet.db");
    let store = SqliteStore::open_with(&path, LIMIT).unwrap();
    store.write(vec![put("P", "first")]).await.unwrap();

    // A reader holding its snapshot keeps every checkpoint from finishing: the WAL grows past
    // the limit, and the background checkpointer sees it.
    let pin = rusqlite::Connection::open(&path).unwrap();
    pin.execute_batch("BEGIN").unwrap();
    let _: i64 = pin
        .query_row("SELECT count(*) FROM items", [], |row| row.get(0))
        .unwrap();
    let body = "x".repeat(3000);
    let mut written = 0;
    while wal_bytes(&path) < 4 * LIMIT as u64 * PAGE {
        let item = Item::new(Key::new("P", format!("{written:05}")), json!({ "b": body }));
        let when = Condition::Absent;
        store.write(vec![Write::Put { item, when }]).await.unwrap();
        written += 1;
    }
    // Long enough for the checkpointer's pass after the last commit (it runs 5 ms after one).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    pin.execute_batch("COMMIT").unwrap();
    let restarts = wal_restarts(&path);
    let grown = wal_bytes(&path);

    // The commit after the reader left checkpoints on the writer's thread, before the next
    // group (queued right behind it, a read between them ending the first group): that one
    // writes at the WAL's beginning. The background checkpointer waits 5 ms after a commit, so
    // it is the writer's checkpoint that lets the next group start the WAL over.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let writer = &store.inner.writer;
    writer
        .send(Job::Read(Box::new(move |_| {
            let _ = hold.recv();
        })))
        .unwrap();
    let mut answers = Vec::new();
    for sk in ["1", "2"] {
        let (reply, answer) = oneshot::channel();
        let batch = vec![Prepared::new(put("Q", sk)).unwrap()];
        writer.send(Job::Write(batch, reply)).unwrap();
        writer.send(Job::Read(Box::new(|_| ()))).unwrap();
        answers.push(answer);
    }
    release.send(()).unwrap();
    for answer in answers {
        answer.await.unwrap().unwrap();
    }
    assert!(wal_restarts(&path) > restarts, "the WAL started over");
    // Later commits reuse the file from its beginning (SQLite keeps its size: no truncation).
    let grown = wal_bytes(&path).max(grown);
    for sk in 0..20 {
        store.write(vec![put("R", &sk.to_string())]).await.unwrap();
    }
    assert_eq!(wal_bytes(&path), grown, "the WAL file did not grow further");

    // Everything is still there, read through the store and checked by SQLite.
    let mut query = Query::partition("P");
    query.limit = 1000;
    assert_eq!(store.query(&query).await.unwrap().items.len(), written + 1);
    assert!(!absent(&store, "Q", "1").await && !absent(&store, "Q", "2").await);
    let check: String = pin
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

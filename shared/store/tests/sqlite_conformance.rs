//! The conformance suite on the embedded adapter: in memory, on a file (with its reader pool
//! and checkpointer), and on a file that is reopened.

use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

affnet_store::conformance_suite!(fresh());

/// The cases that count, with every shared counter deferred to the ledger and folded on read.
mod deferred {
    use super::fresh;
    affnet_store::deferred_counters_suite!(fresh());
}

/// The same cases on a file store: reads on the pooled read connections, commits checkpointed
/// in the background, as the local server runs.
mod file {
    use affnet_store::{Item, ItemStore, Key, Page, Query, SqliteStore, StoreError, Write};
    use async_trait::async_trait;
    use std::sync::Arc;

    /// A store on `affnet.db` in a folder of its own, removed when the case drops the store.
    struct FileStore {
        store: SqliteStore,
        // Dropped after `store` (fields drop in order).
        _dir: tempfile::TempDir,
    }

    async fn fresh() -> Arc<dyn ItemStore> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("affnet.db")).expect("file sqlite");
        Arc::new(FileStore { store, _dir: dir })
    }

    #[async_trait]
    impl ItemStore for FileStore {
        async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
            self.store.get(key).await
        }
        async fn query(&self, query: &Query) -> Result<Page, StoreError> {
            self.store.query(query).await
        }
        async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
            self.store.write(writes).await
        }
        fn name(&self) -> &'static str {
            self.store.name()
        }
    }

    affnet_store::conformance_suite!(fresh());
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("affnet.db");
    let integration = {
        let repo = affnet_store::Repo::new(Arc::new(SqliteStore::open(&path).unwrap()));
        let now = chrono::Utc::now();
        let integration = affnet_core::Integration {
            id: "01KEEP".into(),
            network: "leadbit".into(),
            name: "kept".into(),
            active: true,
            timeout_ms: 10_000,
            settings: Default::default(),
            credentials: [("api_key".to_string(), "k".to_string())].into(),
            postback_token: "t".into(),
            created_at: now,
            updated_at: now,
            version: 0,
            typed: Default::default(),
        };
        repo.create_integration(&integration).await.unwrap()
    };
    let reopened = affnet_store::Repo::new(Arc::new(SqliteStore::open(&path).unwrap()));
    let got = reopened.get_integration("01KEEP").await.unwrap().unwrap();
    assert_eq!(got, integration);
}

/// A file made by an earlier version (items in a `WITHOUT ROWID` table) opens, reads and takes
/// writes and counter adds as before.
#[tokio::test]
async fn a_file_with_the_earlier_layout_keeps_working() {
    use affnet_store::{Condition, Item, Key, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("affnet.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE items (pk TEXT NOT NULL, sk TEXT NOT NULL, version INTEGER NOT NULL,
                data TEXT NOT NULL, counters TEXT NOT NULL DEFAULT '{}', expires_at INTEGER,
                gsi1pk TEXT, gsi1sk TEXT, PRIMARY KEY (pk, sk)) WITHOUT ROWID;
             INSERT INTO items VALUES ('P', 'old', 1, '{\"v\":1}', '{\"n\":\"2\"}', NULL, NULL, NULL);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let old = Key::new("P", "old");
    assert_eq!(
        store.get(&old).await.unwrap().unwrap().data,
        serde_json::json!({"v": 1})
    );
    store
        .write(vec![
            Write::Add {
                key: old.clone(),
                deltas: vec![("n".into(), rust_decimal::Decimal::ONE)],
                expires_at: None,
            },
            Write::Put {
                item: Item::new(Key::new("P", "new"), serde_json::json!({"v": 2})),
                when: Condition::Absent,
            },
        ])
        .await
        .unwrap();
    let got = store.get(&old).await.unwrap().unwrap();
    assert_eq!(got.counters["n"], rust_decimal::Decimal::from(3));
    assert_eq!(got.data, serde_json::json!({"v": 1}));
    assert!(store.get(&Key::new("P", "new")).await.unwrap().is_some());
}

//! The conformance suite on the embedded adapter: in memory, and on a file that is reopened.

use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

affnet_store::conformance_suite!(fresh());

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
        };
        repo.create_integration(&integration).await.unwrap()
    };
    let reopened = affnet_store::Repo::new(Arc::new(SqliteStore::open(&path).unwrap()));
    let got = reopened.get_integration("01KEEP").await.unwrap().unwrap();
    assert_eq!(got, integration);
}

//! The postback tester on the embedded (SQLite) store, through a real server on a loopback port.

mod tester_cases;

use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

tester_suite!(fresh());

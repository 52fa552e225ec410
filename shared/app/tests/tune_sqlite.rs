//! Connection testing and offer sync on the embedded (SQLite) store.

mod support;
mod tune_cases;

use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

tune_suite!(fresh());

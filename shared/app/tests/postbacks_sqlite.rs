//! Postback concurrency and fault cases on the embedded (SQLite) store.

mod pb_support;
mod postback_cases;
mod support;

use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

postback_suite!(fresh());

//! Domain events on the embedded (SQLite) store.

mod events_cases;
mod pb_support;
mod support;

use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

events_suite!(fresh());

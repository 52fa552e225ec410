//! Reconciliation with TUNE's reports on the embedded (SQLite) store.

mod recon_cases;
mod support;

use affnet_store::{ItemStore, SqliteStore};
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

recon_suite!(fresh());

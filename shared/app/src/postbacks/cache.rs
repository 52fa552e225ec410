//! A short-lived in-process cache of integrations for the postback routes: a warm host then
//! records a new conversion with a single storage request (the batch write) instead of two.
//! Entries are shared (`Arc`): a hit costs a reference count, not a copy of the integration's
//! settings and typed views.

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::Integration;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries kept at most; the cache is cleared when full (ids are user-chosen in requests).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct IntegrationCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Integration>)>>,
}

impl IntegrationCache {
    fn fresh(&self, id: &str, ttl: Duration) -> Option<Arc<Integration>> {
        let entries = self.entries.lock().ok()?;
        let (at, integration) = entries.get(id)?;
        (at.elapsed() < ttl).then(|| integration.clone())
    }

    fn put(&self, integration: &Arc<Integration>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                integration.id.clone(),
                (Instant::now(), Arc::clone(integration)),
            );
        }
    }
}

/// The integration `id`, from the cache when fresh. Unknown ids are not cached, so a new
/// integration works at once.
pub async fn integration(state: &AppState, id: &str) -> Result<Option<Arc<Integration>>, ApiError> {
    let ttl = Duration::from_secs(state.config.integration_cache_secs);
    if ttl.is_zero() {
        return Ok(state.repo.get_integration(id).await?.map(Arc::new));
    }
    if let Some(hit) = state.integration_cache.fresh(id, ttl) {
        return Ok(Some(hit));
    }
    let found = state.repo.get_integration(id).await?.map(Arc::new);
    if let Some(integration) = &found {
        state.integration_cache.put(integration);
    }
    Ok(found)
}

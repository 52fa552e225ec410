//! What every handler gets: storage, the catalogue and the configuration, built once per process.

use crate::config::Config;
use affnet_core::Catalogue;
use affnet_store::{ItemStore, Repo};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub repo: Repo,
    pub catalogue: &'static Catalogue,
    pub config: Arc<Config>,
    /// Automatic offer sync: EventBridge Scheduler on AWS, tokio tasks locally.
    pub scheduler: Arc<dyn crate::schedule::SyncScheduler>,
    /// Integrations recently read by the postback routes (see [`Config::integration_cache_secs`]).
    pub integration_cache: Arc<crate::postbacks::cache::IntegrationCache>,
    /// How many refused postbacks' logs this process still keeps this hour.
    pub refusal_budget: Arc<crate::postbacks::refusals::RefusalBudget>,
}

impl AppState {
    pub fn new(store: Arc<dyn ItemStore>, config: Config) -> AppState {
        AppState {
            repo: Repo::new(store),
            catalogue: Catalogue::embedded(),
            config: Arc::new(config),
            scheduler: Arc::new(crate::schedule::NoScheduler),
            integration_cache: Arc::default(),
            refusal_budget: Arc::default(),
        }
    }

    /// Uses `scheduler` for automatic offer sync (the default keeps no schedules).
    pub fn with_scheduler(
        mut self,
        scheduler: Arc<dyn crate::schedule::SyncScheduler>,
    ) -> AppState {
        self.scheduler = scheduler;
        self
    }
}

impl AppState {
    /// The catalogue entry of an integration's network.
    pub fn network_of(
        &self,
        integration: &affnet_core::Integration,
    ) -> Result<&'static affnet_core::Network, crate::ApiError> {
        self.catalogue.network(&integration.network).ok_or_else(|| {
            crate::ApiError::Internal(format!(
                "integration {} names network `{}`, which the catalogue no longer has",
                integration.id, integration.network
            ))
        })
    }
}

//! What every handler gets: storage, the catalogue and the configuration, built once per process.

use affnet_core::Catalogue;
use affnet_store::{ItemStore, Repo};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Config {
    /// When set, management routes require `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    /// Lets integrations point at private/loopback hosts (local runs and tests only).
    pub allow_private_network: bool,
    /// TUNE calls and offer sync: retries, page size, time budgets.
    pub tune: crate::tune_client::TuneOptions,
}

impl Config {
    pub fn from_env() -> Config {
        Config {
            admin_token: std::env::var("AFFNET_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            allow_private_network: env_flag("AFFNET_ALLOW_PRIVATE_NETWORK"),
            tune: crate::tune_client::TuneOptions::from_env(),
        }
    }

    /// Defaults for tests: no admin token, private network allowed.
    pub fn for_tests() -> Config {
        Config {
            admin_token: None,
            allow_private_network: true,
            tune: crate::tune_client::TuneOptions::for_tests(),
        }
    }
}

pub fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1" | "true" | "yes" | "on")
    )
}

#[derive(Clone)]
pub struct AppState {
    pub repo: Repo,
    pub catalogue: &'static Catalogue,
    pub config: Arc<Config>,
    /// Automatic offer sync: EventBridge Scheduler on AWS, tokio tasks locally.
    pub scheduler: Arc<dyn crate::schedule::SyncScheduler>,
}

impl AppState {
    pub fn new(store: Arc<dyn ItemStore>, config: Config) -> AppState {
        AppState {
            repo: Repo::new(store),
            catalogue: Catalogue::embedded(),
            config: Arc::new(config),
            scheduler: Arc::new(crate::schedule::NoScheduler),
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
            crate::ApiError::Storage(format!(
                "integration {} names network `{}`, which the catalogue no longer has",
                integration.id, integration.network
            ))
        })
    }
}

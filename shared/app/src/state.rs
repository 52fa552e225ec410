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
    /// Automatic offer sync: EventBridge Scheduler on AWS, tokio tasks locally (read it with
    /// [`AppState::scheduler`]).
    scheduler: Scheduling,
    /// Integrations recently read by the postback routes (see [`Config::integration_cache_secs`]).
    pub integration_cache: Arc<crate::postbacks::cache::IntegrationCache>,
    /// How many refused postbacks' logs this process still keeps this hour.
    pub refusal_budget: Arc<crate::postbacks::refusals::RefusalBudget>,
    /// Click label handles seen by this process, both ways (see [`crate::click_labels`]).
    pub label_cache: Arc<crate::click_labels::LabelCache>,
    /// The time clicks, postbacks and the silence watch read (tests move it by hand).
    pub clock: crate::clock::Clock,
    /// The hours this process has noted clicks in, per integration (see [`crate::health`]).
    pub click_hours: Arc<crate::health::activity::ClickHours>,
    /// This server's own base URL, once it has bound (the local server): where the postback
    /// tester sends (see [`crate::postback_tester`]).
    own_url: Option<Arc<str>>,
    /// The counter ledger under `repo`, when the store defers shared counters (DynamoDB): what
    /// the stream's ledger records are folded with.
    pub ledger: Option<Arc<affnet_store::ledger::CounterLedger>>,
}

impl AppState {
    pub fn new(store: Arc<dyn ItemStore>, config: Config) -> AppState {
        AppState {
            repo: Repo::new(store),
            catalogue: Catalogue::embedded(),
            config: Arc::new(config),
            scheduler: Scheduling::Given(Arc::new(crate::schedule::NoScheduler)),
            integration_cache: Arc::default(),
            refusal_budget: Arc::default(),
            label_cache: Arc::default(),
            clock: crate::clock::Clock::system(),
            click_hours: Arc::default(),
            own_url: None,
            ledger: None,
        }
    }

    /// Storage on `ledger`: shared counters deferred to it, folded when read and from the
    /// table's stream (the DynamoDB host).
    pub fn with_ledger(
        ledger: Arc<affnet_store::ledger::CounterLedger>,
        config: Config,
    ) -> AppState {
        AppState {
            ledger: Some(ledger.clone()),
            ..AppState::new(ledger, config)
        }
    }

    /// Reads time from `clock` (tests).
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> AppState {
        self.clock = clock;
        self
    }

    /// Records the address this server listens on (`0.0.0.0` and `::` are called on loopback).
    pub fn with_own_address(mut self, addr: std::net::SocketAddr) -> AppState {
        let ip = match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        let addr = std::net::SocketAddr::new(ip, addr.port());
        self.own_url = Some(format!("http://{addr}").into());
        self
    }

    /// The base URL [`AppState::with_own_address`] recorded.
    pub fn own_url(&self) -> Option<&str> {
        self.own_url.as_deref()
    }

    /// Uses `scheduler` for automatic offer sync (the default keeps no schedules).
    pub fn with_scheduler(
        mut self,
        scheduler: Arc<dyn crate::schedule::SyncScheduler>,
    ) -> AppState {
        self.scheduler = Scheduling::Given(scheduler);
        self
    }

    /// Uses EventBridge Scheduler for automatic offer sync (the AWS host).
    pub fn with_aws_scheduler(
        mut self,
        scheduler: crate::schedule_aws::LazyEventBridgeScheduler,
    ) -> AppState {
        self.scheduler = Scheduling::Aws(Arc::new(scheduler));
        self
    }

    /// The scheduler of automatic offer sync. On AWS its client is built here, at first use: a
    /// function whose handlers never call this (click, postback, connection-test) does not link
    /// the Scheduler SDK.
    pub fn scheduler(&self) -> &dyn crate::schedule::SyncScheduler {
        match &self.scheduler {
            Scheduling::Given(scheduler) => scheduler.as_ref(),
            Scheduling::Aws(scheduler) => scheduler.get(),
        }
    }
}

/// Where [`AppState::scheduler`] comes from. Not a `dyn SyncScheduler` made at startup on AWS:
/// that would put the EventBridge adapter in every function's binary.
#[derive(Clone)]
enum Scheduling {
    Given(Arc<dyn crate::schedule::SyncScheduler>),
    Aws(Arc<crate::schedule_aws::LazyEventBridgeScheduler>),
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

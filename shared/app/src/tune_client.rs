//! A TUNE client per integration, built from its settings (`network_id`, `api_domain`,
//! `api_mode`, `timeout_ms`) and the host's [`TuneOptions`].

use affnet_core::Integration;
use affnet_core::settings::{ApiMode, TuneSettings};
use affnet_tune::guard::HostLookup;
use affnet_tune::{Mode, RetryPolicy, TuneClient, TuneConfig, TuneError};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How this host talks to TUNE and runs syncs. Tests shorten the delays.
#[derive(Clone)]
pub struct TuneOptions {
    /// Retries of sync calls (5xx, timeouts, rate limits).
    pub sync_retry: RetryPolicy,
    /// Retries of interactive calls (connection test, remote-offer listing): small, so the
    /// answer comes before API Gateway's 30 s limit.
    pub interactive_retry: RetryPolicy,
    /// Interactive calls wait at most this long per attempt, whatever `timeout_ms` says.
    pub interactive_timeout_cap: Duration,
    /// Offers per TUNE page during sync.
    pub sync_page_limit: u32,
    /// Least time between two page requests of one run: TUNE allows 50 calls per 10 s per
    /// network, so 250 ms keeps a run at 40 and leaves room for other callers.
    pub page_interval: Duration,
    /// Offers of one page written concurrently.
    pub write_concurrency: usize,
    /// A sync started over HTTP stops after this long (API Gateway cuts HTTP answers at 30 s);
    /// `None` runs to the end (local server).
    pub http_sync_budget: Option<Duration>,
    /// How long a sync lease lasts without renewal (a run renews it halfway).
    pub lease_ttl: Duration,
    /// Name resolution for TUNE hosts (the system resolver unless a test injects one).
    pub lookup: Option<Arc<dyn HostLookup>>,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions {
            sync_retry: RetryPolicy::default(),
            interactive_retry: RetryPolicy {
                max_retries: 1,
                base_delay: Duration::from_millis(300),
                max_delay: Duration::from_secs(1),
                rate_limit_delay: Duration::from_secs(2),
            },
            interactive_timeout_cap: Duration::from_secs(12),
            sync_page_limit: affnet_tune::DEFAULT_PAGE_LIMIT,
            page_interval: Duration::from_millis(250),
            write_concurrency: 8,
            http_sync_budget: None,
            lease_ttl: Duration::from_secs(15 * 60),
            lookup: None,
        }
    }
}

impl TuneOptions {
    /// Defaults, with the HTTP sync budget set when running on Lambda.
    pub fn for_host(on_lambda: bool) -> TuneOptions {
        TuneOptions {
            http_sync_budget: on_lambda.then(|| Duration::from_secs(25)),
            ..TuneOptions::default()
        }
    }

    /// Millisecond retries for tests against the mock server.
    pub fn for_tests() -> TuneOptions {
        let fast = RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            rate_limit_delay: Duration::from_millis(20),
        };
        TuneOptions {
            sync_retry: fast.clone(),
            interactive_retry: RetryPolicy {
                max_retries: 1,
                ..fast
            },
            page_interval: Duration::ZERO,
            ..TuneOptions::default()
        }
    }
}

impl fmt::Debug for TuneOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TuneOptions")
            .field("sync_retry", &self.sync_retry)
            .field("interactive_retry", &self.interactive_retry)
            .field("interactive_timeout_cap", &self.interactive_timeout_cap)
            .field("sync_page_limit", &self.sync_page_limit)
            .field("page_interval", &self.page_interval)
            .field("write_concurrency", &self.write_concurrency)
            .field("http_sync_budget", &self.http_sync_budget)
            .field("lease_ttl", &self.lease_ttl)
            .field("custom_lookup", &self.lookup.is_some())
            .finish()
    }
}

/// What the client is for: syncs retry patiently, interactive calls answer fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Sync,
    Interactive,
}

/// The TUNE API mode of the client.
pub fn mode_of(tune: &TuneSettings) -> Mode {
    match tune.api_mode {
        ApiMode::Affiliate => Mode::Affiliate,
        ApiMode::Network => Mode::Network,
    }
}

/// The client configuration for `integration`; [`TuneError::InvalidConfig`] when a setting or
/// the key is unusable. The timeout is the integration's `timeout_ms`, capped for interactive
/// calls.
pub fn config_for(
    integration: &Integration,
    options: &TuneOptions,
    allow_private_network: bool,
    purpose: Purpose,
) -> Result<TuneConfig, TuneError> {
    let tune = integration
        .tune()
        .ok_or_else(|| TuneError::InvalidConfig("the integration is not a TUNE account".into()))?;
    let key = integration
        .credentials
        .get("api_key")
        .ok_or_else(|| TuneError::InvalidConfig("the integration has no API key".into()))?;
    let mut timeout = Duration::from_millis(integration.timeout_ms.into());
    let retry = match purpose {
        Purpose::Sync => options.sync_retry.clone(),
        Purpose::Interactive => {
            timeout = timeout.min(options.interactive_timeout_cap);
            options.interactive_retry.clone()
        }
    };
    let mut config = TuneConfig::new(mode_of(tune), tune.network_id.as_str(), key.as_str())
        .with_api_domain(tune.api_domain.as_str())
        .with_timeout_ms(timeout.as_millis() as u64)
        .with_retry(retry)
        .with_allow_private_network(allow_private_network);
    if let Some(lookup) = &options.lookup {
        config = config.with_lookup(lookup.clone());
    }
    Ok(config)
}

pub fn client_for(
    integration: &Integration,
    options: &TuneOptions,
    allow_private_network: bool,
    purpose: Purpose,
) -> Result<TuneClient, TuneError> {
    TuneClient::new(config_for(
        integration,
        options,
        allow_private_network,
        purpose,
    )?)
}

//! Client configuration: where to call, with which key, how long to wait, how often to retry.

use crate::guard::HostLookup;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which TUNE API the key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Network API: `NetworkToken=`; offers via `Offer::findAll`.
    Network,
    /// Affiliate (partner) API: `api_key=`; offers via `Affiliate_Offer::findMyApprovedOffers`.
    Affiliate,
}

impl Mode {
    /// The query parameter carrying the key.
    pub fn auth_param(self) -> &'static str {
        match self {
            Mode::Network => "NetworkToken",
            Mode::Affiliate => "api_key",
        }
    }
}

/// Bounded retries with exponential backoff and jitter, for 5xx, timeouts, connection failures
/// and rate limiting. Delays are fields so tests can make them tiny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Extra attempts after the first (0 = no retry).
    pub max_retries: u32,
    /// First backoff; doubles each retry, capped at `max_delay`, then jittered to 50–100 %.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Wait after a rate-limit answer. TUNE counts 50 calls per 10 s window, so the default is
    /// 10 s (plus up to 10 % jitter).
    pub rate_limit_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            rate_limit_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (e.g. an interactive connection test that must answer fast).
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (0-based); `jitter` is a random number in [0, 1).
    pub fn delay(&self, retry: u32, rate_limited: bool, jitter: f64) -> Duration {
        let jitter = jitter.clamp(0.0, 1.0);
        if rate_limited {
            return self.rate_limit_delay + self.rate_limit_delay.mul_f64(0.1 * jitter);
        }
        let factor = 2u32.saturating_pow(retry.min(16));
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        full.mul_f64(0.5 + 0.5 * jitter)
    }
}

/// Everything needed to build a [`crate::TuneClient`].
#[derive(Clone)]
pub struct TuneConfig {
    pub mode: Mode,
    /// The network id (`demo` in `demo.api.hasoffers.com`).
    pub network_id: String,
    /// `api.hasoffers.com` by default. With `allow_private_network`, may also be a full base URL
    /// (`http://127.0.0.1:8080`), used as is.
    pub api_domain: String,
    /// NetworkToken or affiliate api_key. Never shown by `Debug`.
    pub api_key: String,
    /// Bounds every attempt (connect, send, read), from the integration's `timeout_ms`.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The server runs with `AFFNET_ALLOW_PRIVATE_NETWORK=1`: no SSRF address checks.
    pub allow_private_network: bool,
    /// Bodies larger than this are refused as malformed (protects the Lambda's memory).
    pub max_response_bytes: usize,
    /// Name resolution (the system resolver unless a test injects one). Results are still
    /// checked in strict mode.
    pub lookup: Option<Arc<dyn HostLookup>>,
}

impl TuneConfig {
    pub const DEFAULT_API_DOMAIN: &'static str = "api.hasoffers.com";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

    pub fn new(mode: Mode, network_id: impl Into<String>, api_key: impl Into<String>) -> Self {
        TuneConfig {
            mode,
            network_id: network_id.into(),
            api_domain: Self::DEFAULT_API_DOMAIN.to_string(),
            api_key: api_key.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            allow_private_network: false,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            lookup: None,
        }
    }

    /// Sets the API domain; blank keeps the default.
    pub fn with_api_domain(mut self, api_domain: impl Into<String>) -> Self {
        let d = api_domain.into();
        if !d.trim().is_empty() {
            self.api_domain = d;
        }
        self
    }

    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout = Duration::from_millis(timeout_ms);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_allow_private_network(mut self, allow: bool) -> Self {
        self.allow_private_network = allow;
        self
    }

    pub fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    pub fn with_lookup(mut self, lookup: Arc<dyn HostLookup>) -> Self {
        self.lookup = Some(lookup);
        self
    }
}

impl fmt::Debug for TuneConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TuneConfig")
            .field("mode", &self.mode)
            .field("network_id", &self.network_id)
            .field("api_domain", &self.api_domain)
            .field("api_key", &affnet_netguard::redact::MARKER)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("allow_private_network", &self.allow_private_network)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("custom_lookup", &self.lookup.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_key() {
        let c = TuneConfig::new(Mode::Network, "demo", "NETsupersecret");
        let s = format!("{c:?}");
        assert!(!s.contains("NETsupersecret"));
        assert!(s.contains("***"));
    }

    #[test]
    fn backoff_is_exponential_capped_and_jittered() {
        let r = RetryPolicy::default();
        assert_eq!(r.delay(0, false, 1.0), Duration::from_millis(500));
        assert_eq!(r.delay(0, false, 0.0), Duration::from_millis(250));
        assert_eq!(r.delay(2, false, 1.0), Duration::from_secs(2));
        assert_eq!(r.delay(10, false, 1.0), Duration::from_secs(8));
        assert_eq!(r.delay(40, false, 1.0), Duration::from_secs(8));
        // Rate limits wait at least the whole 10 s window.
        assert_eq!(r.delay(0, true, 0.0), Duration::from_secs(10));
        assert_eq!(r.delay(0, true, 1.0), Duration::from_secs(11));
        assert_eq!(RetryPolicy::none().max_retries, 0);
    }

    #[test]
    fn builder() {
        let c = TuneConfig::new(Mode::Affiliate, "demo", "k")
            .with_api_domain("  ")
            .with_timeout_ms(2500);
        assert_eq!(c.api_domain, "api.hasoffers.com");
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.mode.auth_param(), "api_key");
    }
}

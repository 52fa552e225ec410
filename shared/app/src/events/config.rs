//! The events settings of [`crate::Config`]: the bus, the webhooks and the feed's settle time.

use crate::config::ConfigError;
use std::time::Duration;
use url::{Host, Url};

/// `AFFNET_WEBHOOK_URLS`: comma-separated URLs each event is POSTed to.
pub const WEBHOOK_URLS_VAR: &str = "AFFNET_WEBHOOK_URLS";
/// `AFFNET_WEBHOOK_SECRET`: the HMAC key of the signatures (locally; on AWS the events function
/// reads it from the Secrets Manager secret `AFFNET_WEBHOOK_SECRET_ARN` names).
pub const WEBHOOK_SECRET_VAR: &str = "AFFNET_WEBHOOK_SECRET";
pub const WEBHOOK_SECRET_ARN_VAR: &str = "AFFNET_WEBHOOK_SECRET_ARN";
/// `AFFNET_EVENT_BUS_NAME`: the EventBridge bus the events function publishes to.
pub const BUS_NAME_VAR: &str = "AFFNET_EVENT_BUS_NAME";
/// `AFFNET_EVENTS_SETTLE_SECS`: how old an event must be before the feed shows it.
pub const SETTLE_VAR: &str = "AFFNET_EVENTS_SETTLE_SECS";

/// Shortest webhook secret accepted.
pub const MIN_WEBHOOK_SECRET_LEN: usize = 16;
pub const DEFAULT_SETTLE_SECS: u64 = 5;

/// The webhook signing key; never shown (`Debug` hides it).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn new(value: &str, source: &str) -> Result<WebhookSecret, ConfigError> {
        let value = value.trim();
        if value.len() < MIN_WEBHOOK_SECRET_LEN {
            return Err(ConfigError(format!(
                "{source}: the webhook secret must be at least {MIN_WEBHOOK_SECRET_LEN} bytes"
            )));
        }
        Ok(WebhookSecret(value.to_string()))
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// How a webhook delivery is tried: `attempts` in all, waiting `first_backoff`, then twice as
/// long each time up to `max_backoff`; each attempt bounded by `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookRetry {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub timeout: Duration,
}

impl WebhookRetry {
    /// Locally a delivery may wait minutes for its receiver (about 17 minutes over 10
    /// attempts); on Lambda it must end within the invocation, and the stream retries the
    /// record after that.
    pub fn for_host(lambda: bool) -> WebhookRetry {
        match lambda {
            false => WebhookRetry {
                attempts: 10,
                first_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(300),
                timeout: Duration::from_secs(10),
            },
            true => WebhookRetry {
                attempts: 3,
                first_backoff: Duration::from_millis(500),
                max_backoff: Duration::from_secs(2),
                timeout: Duration::from_secs(5),
            },
        }
    }

    /// The wait before attempt `n + 1` (after `n` failures, `n` ≥ 1).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doubled = self
            .first_backoff
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        doubled.min(self.max_backoff)
    }
}

#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// The EventBridge bus (the events function on AWS).
    pub bus_name: Option<String>,
    pub webhook_urls: Vec<Url>,
    /// Required when there are webhook URLs (on AWS, read at the events function's init).
    pub webhook_secret: Option<WebhookSecret>,
    /// The Secrets Manager secret holding the webhook secret (AWS).
    pub webhook_secret_arn: Option<String>,
    pub webhook_retry: WebhookRetry,
    /// The feed shows an event once it is this old, so that a change committed a moment after
    /// a later one (their batches raced) is never passed by a reader's cursor.
    pub feed_settle: Duration,
    /// How often the local webhook deliveries look for new events.
    pub poll_interval: Duration,
}

impl EventsConfig {
    /// From the environment; `allow_private` lets webhook URLs be plain http and private hosts.
    pub fn from_env(allow_private: bool, lambda: bool) -> Result<EventsConfig, ConfigError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Self::from_vars(var, allow_private, lambda)
    }

    /// [`EventsConfig::from_env`] over any variables (`text` gives a trimmed, non-empty value).
    pub fn from_vars(
        text: impl Fn(&str) -> Option<String>,
        allow_private: bool,
        lambda: bool,
    ) -> Result<EventsConfig, ConfigError> {
        let webhook_urls = match text(WEBHOOK_URLS_VAR) {
            None => Vec::new(),
            Some(list) => webhook_urls(&list, allow_private)?,
        };
        let webhook_secret = text(WEBHOOK_SECRET_VAR)
            .map(|s| WebhookSecret::new(&s, WEBHOOK_SECRET_VAR))
            .transpose()?;
        let webhook_secret_arn = text(WEBHOOK_SECRET_ARN_VAR);
        if !webhook_urls.is_empty() && webhook_secret.is_none() && webhook_secret_arn.is_none() {
            return Err(ConfigError(format!(
                "{WEBHOOK_URLS_VAR} is set but {WEBHOOK_SECRET_VAR} is not: deliveries are signed \
                 with it (at least {MIN_WEBHOOK_SECRET_LEN} random bytes)"
            )));
        }
        let feed_settle = match text(SETTLE_VAR) {
            None => Duration::from_secs(DEFAULT_SETTLE_SECS),
            Some(v) => {
                Duration::from_secs(v.parse().ok().filter(|s| *s <= 60).ok_or_else(|| {
                    ConfigError(format!("{SETTLE_VAR} must be 0 to 60 seconds, not `{v}`"))
                })?)
            }
        };
        Ok(EventsConfig {
            bus_name: text(BUS_NAME_VAR),
            webhook_urls,
            webhook_secret,
            webhook_secret_arn,
            webhook_retry: WebhookRetry::for_host(lambda),
            feed_settle,
            poll_interval: Duration::from_secs(1),
        })
    }

    /// No bus, no webhooks, no settle time, quick retries (tests).
    pub fn for_tests() -> EventsConfig {
        EventsConfig {
            bus_name: None,
            webhook_urls: Vec::new(),
            webhook_secret: None,
            webhook_secret_arn: None,
            webhook_retry: WebhookRetry {
                attempts: 3,
                first_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
                timeout: Duration::from_secs(5),
            },
            feed_settle: Duration::ZERO,
            poll_interval: Duration::from_millis(20),
        }
    }
}

/// The webhook URLs of a comma-separated list: http(s) with a host, no user info; `https` and
/// no private IP literal unless `allow_private` (names are checked when resolved, at delivery).
pub fn webhook_urls(list: &str, allow_private: bool) -> Result<Vec<Url>, ConfigError> {
    let refuse = |url: &str, why: &str| {
        ConfigError(format!("{WEBHOOK_URLS_VAR}: `{}` {why}", redacted(url)))
    };
    let mut urls = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let url = Url::parse(raw).map_err(|_| refuse(raw, "is not a URL"))?;
        match (url.scheme(), allow_private) {
            ("https", _) | ("http", true) => {}
            _ => return Err(refuse(raw, "must be https")),
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(refuse(raw, "must have no user info and no fragment"));
        }
        let private_literal = match url.host() {
            None => return Err(refuse(raw, "has no host")),
            Some(Host::Ipv4(ip)) => affnet_tune::guard::is_forbidden_ip(ip.into()),
            Some(Host::Ipv6(ip)) => affnet_tune::guard::is_forbidden_ip(ip.into()),
            Some(Host::Domain(_)) => false,
        };
        if private_literal && !allow_private {
            return Err(refuse(raw, "points at a private or reserved address"));
        }
        // One delivery task (and cursor) per URL, however often it is listed.
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

/// A URL for messages and logs: scheme, host, port and path only (a query may carry a token).
pub fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "<not a URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_https_public_and_shown_without_their_query() {
        let ok = webhook_urls(
            " https://hooks.example.com/a?token=s3cret , https://1.2.3.4/b",
            false,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let twice = webhook_urls("https://h.example.com/a,https://h.example.com/a", false);
        assert_eq!(twice.unwrap().len(), 1);
        for (bad, why) in [
            ("http://hooks.example.com/a", "https"),
            ("https://127.0.0.1/a", "private"),
            ("https://[::1]/a", "private"),
            ("https://169.254.169.254/latest", "private"),
            ("https://u:p@hooks.example.com/a", "user info"),
            ("not a url", "not a URL"),
        ] {
            let e = webhook_urls(bad, false).unwrap_err().0;
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(webhook_urls("http://127.0.0.1:9/a", true).is_ok());
        let e = webhook_urls("ftp://x.example.com/?token=s3cret", false)
            .unwrap_err()
            .0;
        assert!(!e.contains("s3cret"), "{e}");
        assert_eq!(
            redacted("https://h.example.com:8443/p?token=x"),
            "https://h.example.com:8443/p"
        );
    }

    fn vars(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs = pairs.to_vec();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn webhooks_need_a_secret_and_the_settle_time_is_bounded() {
        let url = (WEBHOOK_URLS_VAR, "https://hooks.example.com/a");
        let e = EventsConfig::from_vars(vars(&[url]), false, false)
            .unwrap_err()
            .0;
        assert!(e.contains(WEBHOOK_SECRET_VAR), "{e}");
        let secret = (WEBHOOK_SECRET_VAR, "0123456789abcdef0123");
        let ok = EventsConfig::from_vars(vars(&[url, secret]), false, false).unwrap();
        assert_eq!(ok.webhook_urls.len(), 1);
        assert_eq!(ok.feed_settle, Duration::from_secs(DEFAULT_SETTLE_SECS));
        // On AWS the secret's ARN stands for it (read at the events function's init).
        let arn = (
            WEBHOOK_SECRET_ARN_VAR,
            "arn:aws:secretsmanager:us-east-1:1:secret:w",
        );
        assert!(EventsConfig::from_vars(vars(&[url, arn]), false, true).is_ok());
        for bad in ["61", "-1", "soon"] {
            let settle = vars(&[(SETTLE_VAR, bad)]);
            let e = EventsConfig::from_vars(settle, false, false).unwrap_err().0;
            assert!(e.contains(SETTLE_VAR), "{e}");
        }
        let none = EventsConfig::from_vars(vars(&[]), false, false).unwrap();
        assert!(none.webhook_urls.is_empty() && none.bus_name.is_none());
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let r = WebhookRetry::for_host(false);
        assert_eq!(r.backoff(1), Duration::from_secs(1));
        assert_eq!(r.backoff(2), Duration::from_secs(2));
        assert_eq!(r.backoff(5), Duration::from_secs(16));
        assert_eq!(r.backoff(30), Duration::from_secs(300));
        assert!(
            format!(
                "{:?}",
                WebhookSecret::new("0123456789abcdefXYZ", "s").unwrap()
            )
            .ends_with("(..)")
        );
        assert!(WebhookSecret::new("short", "AFFNET_WEBHOOK_SECRET").is_err());
    }
}

//! Webhook deliveries: each event POSTed as its JSON (`{id, type, version, time, data}`) to each
//! configured URL, signed (`Affnet-Signature`, see [`affnet_core::event::signature`]), with
//! `Affnet-Event-Id` and `Affnet-Event-Type`. A 2xx answer is a delivery; anything else is tried
//! again with backoff. Calls go through the SSRF guard of the TUNE client (no redirects, no
//! proxy; on a strict host only public addresses and https).

use super::config::{EventsConfig, WebhookRetry, WebhookSecret, redacted};
use affnet_core::Event;
use affnet_core::event::signature;
use url::Url;

pub const EVENT_ID_HEADER: &str = "affnet-event-id";
pub const EVENT_TYPE_HEADER: &str = "affnet-event-type";

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The guard refused the host (a private address): never retried.
    #[error("refused: {0}")]
    Refused(String),
    #[error("the receiver answered {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(String),
}

/// The webhooks of a deployment, with one HTTP client.
pub struct Webhooks {
    http: reqwest::Client,
    urls: Vec<Url>,
    secret: WebhookSecret,
    retry: WebhookRetry,
}

impl Webhooks {
    /// The configured webhooks; `None` when there are none. `secret` is the configuration's,
    /// or the one the events function read at init.
    pub fn new(
        config: &EventsConfig,
        secret: Option<WebhookSecret>,
        allow_private: bool,
    ) -> Result<Option<Webhooks>, String> {
        if config.webhook_urls.is_empty() {
            return Ok(None);
        }
        let secret = secret
            .or_else(|| config.webhook_secret.clone())
            .ok_or("webhook URLs are set but no webhook secret")?;
        let http = affnet_tune::guard::guarded_client_builder(!allow_private)
            .timeout(config.webhook_retry.timeout)
            .connect_timeout(config.webhook_retry.timeout)
            .user_agent(concat!("affnet-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(Some(Webhooks {
            http,
            urls: config.webhook_urls.clone(),
            secret,
            retry: config.webhook_retry,
        }))
    }

    pub fn urls(&self) -> &[Url] {
        &self.urls
    }

    /// One attempt: POST the event, signed now.
    pub async fn send(&self, url: &Url, event: &Event) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(event).expect("events serialize");
        let signed = signature::sign(self.secret.bytes(), chrono::Utc::now().timestamp(), &body);
        let answer = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, signed)
            .header(EVENT_ID_HEADER, &event.id)
            .header(EVENT_TYPE_HEADER, &event.event_type)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let e = e.without_url();
                match affnet_tune::guard::refusal(&e) {
                    Some(why) => DeliveryError::Refused(why),
                    None => DeliveryError::Transport(error_chain(&e)),
                }
            })?;
        match answer.status().is_success() {
            true => Ok(()),
            false => Err(DeliveryError::Status(answer.status().as_u16())),
        }
    }

    /// Delivers `event` to `url`, trying again with backoff; the last failure when every
    /// attempt failed (or the guard refused the host).
    pub async fn deliver(&self, url: &Url, event: &Event) -> Result<(), DeliveryError> {
        let mut failures = 0;
        loop {
            let error = match self.send(url, event).await {
                Ok(()) => return Ok(()),
                Err(e @ DeliveryError::Refused(_)) => return Err(e),
                Err(e) => e,
            };
            failures += 1;
            tracing::warn!(url = %redacted(url.as_str()), event = %event.id, attempt = failures, error = %error, "webhook delivery failed");
            if failures >= self.retry.attempts {
                return Err(error);
            }
            tokio::time::sleep(self.retry.backoff(failures)).await;
        }
    }
}

/// An error and its sources on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

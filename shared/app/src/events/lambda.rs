//! The events function: built once per container (configuration, the EventBridge client with
//! the function's timeouts, the webhook secret from Secrets Manager), then each invocation is
//! one batch of the table's stream ([`super::stream::handle`]).

use super::config::{BUS_NAME_VAR, WebhookSecret};
use super::publish::Publisher;
use super::stream::{Targets, handle};
use super::webhooks::Webhooks;
use crate::aws::{InitError, lambda_sdk_config, retries, secret_string, started, timeouts};
use crate::config::{ConfigError, SdkPolicy};
use crate::routes::Function;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The service-specific endpoint variable of the AWS SDKs, honoured for EventBridge (tests
/// point it at moto or a stand-in; unset on Lambda).
pub const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_EVENTBRIDGE";

/// What every invocation of a container uses.
pub struct EventsFunction {
    pub publisher: Publisher,
    pub webhooks: Option<Webhooks>,
    pub ledger: Option<Arc<affnet_store::ledger::CounterLedger>>,
}

/// Serves the events function until the Lambda runtime stops.
pub async fn run() -> Result<(), lambda_http::Error> {
    let state = crate::aws::start(Function::Events).await?;
    let function = Arc::new(started(init(&state).await).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = function.clone();
        async move {
            let targets = Targets {
                bus: Some(&function.publisher),
                webhooks: function.webhooks.as_ref(),
                ledger: function.ledger.as_deref(),
            };
            // When to stop waiting for webhook deliveries.
            let deadline = crate::lambda_offer_sync::deadline_before(&event.context, ANSWER_MARGIN)
                .map(Instant::from_std);
            handle(&event.payload, &targets, deadline)
                .await
                .map_err(InvalidEvent)
        }
    }))
    .await
}

/// Time kept back from the invocation's deadline to answer.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// The payload was not a stream batch: the invocation fails as `InvalidEvent`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEvent(String);

impl From<InvalidEvent> for lambda_http::lambda_runtime::Diagnostic {
    fn from(error: InvalidEvent) -> Self {
        lambda_http::lambda_runtime::Diagnostic {
            error_type: "InvalidEvent".into(),
            error_message: error.0,
        }
    }
}

async fn init(state: &crate::AppState) -> Result<EventsFunction, InitError> {
    let config = &state.config;
    let bus = config.events.bus_name.clone().ok_or_else(|| {
        ConfigError(format!(
            "{BUS_NAME_VAR} is not set: the events function publishes to that EventBridge bus"
        ))
    })?;
    let aws = lambda_sdk_config()?;
    let policy = SdkPolicy::for_function(Function::Events);
    let mut builder = aws_sdk_eventbridge::config::Builder::from(&aws)
        .timeout_config(timeouts(&policy))
        .retry_config(retries(&policy));
    if let Some(endpoint) = std::env::var(ENDPOINT_VAR)
        .ok()
        .filter(|e| !e.trim().is_empty())
    {
        builder = builder.endpoint_url(endpoint.trim());
    }
    let client = aws_sdk_eventbridge::Client::from_conf(builder.build());
    let secret = match (
        &config.events.webhook_secret_arn,
        config.events.webhook_urls.is_empty(),
    ) {
        (Some(arn), false) => {
            let failed = |message| InitError::WebhookSecret {
                arn: arn.clone(),
                message,
            };
            let value = secret_string(&aws, arn, failed).await?;
            Some(WebhookSecret::new(&value, &format!("the secret {arn}"))?)
        }
        _ => None,
    };
    let webhooks =
        Webhooks::new(&config.events, secret, config.allow_private_network).map_err(ConfigError)?;
    Ok(EventsFunction {
        publisher: Publisher::new(client, bus),
        webhooks,
        ledger: state.ledger.clone(),
    })
}

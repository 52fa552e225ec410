//! The AWS host's wiring: configuration from the Lambda environment, the click secret from
//! Secrets Manager, SDK clients with each function's timeouts and retries, and init failures
//! reported to the Lambda Runtime API (`/runtime/init/error`) before the process exits.

use crate::config::ConfigError;
use crate::config::{SdkPolicy, click_key_from_secret};
use crate::routes::{Function, HttpFunction};
use crate::{AppState, Config};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use lambda_http::lambda_runtime::Diagnostic;
use std::sync::Arc;
use std::time::Duration;

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// What Lambda always sets is missing (region, credentials).
    #[error("{0}")]
    Environment(String),
    /// The click secret could not be read from Secrets Manager.
    #[error("click secret {arn}: {message}")]
    ClickSecret { arn: String, message: String },
    /// The webhook secret could not be read from Secrets Manager (the events function).
    #[error("webhook secret {arn}: {message}")]
    WebhookSecret { arn: String, message: String },
}

impl InitError {
    /// The error type Lambda shows for the failed init.
    pub fn error_type(&self) -> &'static str {
        match self {
            InitError::Config(_) | InitError::Environment(_) => "ConfigError",
            InitError::ClickSecret { .. } => "ClickSecretError",
            InitError::WebhookSecret { .. } => "WebhookSecretError",
        }
    }
}

impl From<&InitError> for Diagnostic {
    fn from(error: &InitError) -> Diagnostic {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

/// Runs the HTTP function `F`: builds its state once per container (an init failure is reported
/// to the Runtime API and ends the process), then serves API Gateway events through its routes
/// until the runtime stops. `F` is a type so that the binary links only its own handlers.
pub async fn run_http<F: HttpFunction>() -> Result<(), lambda_http::Error> {
    let state = start(F::FUNCTION).await?;
    lambda_http::run(crate::router::for_routes(F::ROUTES, state)).await
}

/// Runs the offer-sync function: its routes and EventBridge Scheduler's invocations.
pub async fn run_offer_sync() -> Result<(), lambda_http::Error> {
    let state = start(Function::OfferSync).await?;
    crate::lambda_offer_sync::run(state).await
}

/// The function's state, built once per container; an init failure is reported to the Runtime
/// API (and returned: the process then ends).
pub async fn start(function: Function) -> Result<AppState, lambda_http::Error> {
    started(state_for(function).await).await
}

/// `result` of an init step, its failure reported to the Runtime API.
pub(crate) async fn started<T>(result: Result<T, InitError>) -> Result<T, lambda_http::Error> {
    match result {
        Ok(value) => Ok(value),
        Err(error) => {
            report_init_error(&error).await;
            Err(error.into())
        }
    }
}

/// The state of one function's container (cold start); every invocation reuses it.
pub async fn state_for(function: Function) -> Result<AppState, InitError> {
    let arn = std::env::var(crate::config::CLICK_SECRET_ARN_VAR)
        .ok()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    let aws = lambda_sdk_config()?;
    let mut config = match arn {
        Some(arn) => {
            let secret = click_secret(&aws, &arn).await?;
            let key = click_key_from_secret(&secret, &format!("the secret {arn}"))?;
            Config::from_env_with_click_key(key)?
        }
        None => Config::from_env()?,
    };
    config.aws.dynamodb = SdkPolicy::for_function(function);
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(&aws)
        .timeout_config(timeouts(&config.aws.dynamodb))
        .retry_config(retries(&config.aws.dynamodb))
        .build();
    let store = affnet_store::DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(dynamodb),
        config.aws.table.clone(),
    );
    // Automatic offer sync: EventBridge Scheduler, its client built at first use (only the
    // functions that manage schedules link it; see AppState::scheduler), with the management
    // calls' bounds and the schedules' dead-letter queue.
    let policy = SdkPolicy::for_function(Function::Api);
    let scheduler = crate::schedule_aws::LazyEventBridgeScheduler::new(
        &aws,
        config.aws.sync_function_arn.clone(),
        config.aws.scheduler_role_arn.clone(),
    )
    .with_bounds(timeouts(&policy), retries(&policy))
    .with_dead_letter_queue(config.aws.schedule_dlq_arn.clone());
    // Shared counters are deferred to the ledger and folded from the table's stream (the events
    // function) and before every read of them: no click or conversion transaction writes one.
    let store = affnet_store::ledger::CounterLedger::around(Arc::new(store));
    Ok(AppState::with_ledger(store, config).with_aws_scheduler(scheduler))
}

/// The SDK configuration as Lambda gives it: region and credentials from the environment the
/// runtime sets (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
/// `AWS_ENDPOINT_URL` if set. Not `aws_config::load_defaults`: its provider chain (profile files,
/// SSO, STS web identity, IMDS, ECS) never applies in Lambda, and linking it cost every package
/// the STS and SSO clients.
pub(crate) fn lambda_sdk_config() -> Result<SdkConfig, InitError> {
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|r| !r.trim().is_empty()))
        .ok_or_else(|| InitError::Environment("AWS_REGION is not set".into()))?;
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        return Err(InitError::Environment(
            "AWS_ACCESS_KEY_ID is not set (Lambda sets the function role's credentials)".into(),
        ));
    }
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut builder = SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.trim().to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        // Every client made from this configuration: the one TLS stack (rustls on ring).
        .http_client(affnet_netguard::aws_http::aws_http_client());
    if let Some(endpoint) = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.trim().is_empty())
    {
        builder = builder.endpoint_url(endpoint.trim());
    }
    Ok(builder.build())
}

pub(crate) fn timeouts(policy: &SdkPolicy) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(policy.connect_timeout)
        .operation_attempt_timeout(policy.attempt_timeout)
        .operation_timeout(policy.operation_timeout)
        .build()
}

pub(crate) fn retries(policy: &SdkPolicy) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(policy.max_attempts)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(500))
}

/// The click secret's value (`GetSecretValue` once, at init).
async fn click_secret(aws: &SdkConfig, arn: &str) -> Result<String, InitError> {
    secret_string(aws, arn, |message| InitError::ClickSecret {
        arn: arn.to_string(),
        message,
    })
    .await
}

/// A secret's string value (`GetSecretValue` once, at init); `failed` says which secret failed.
pub(crate) async fn secret_string(
    aws: &SdkConfig,
    arn: &str,
    failed: impl Fn(String) -> InitError,
) -> Result<String, InitError> {
    let policy = SdkPolicy::for_function(Function::Api);
    let config = aws_sdk_secretsmanager::config::Builder::from(aws)
        .timeout_config(timeouts(&policy))
        .retry_config(retries(&policy))
        .build();
    let out = aws_sdk_secretsmanager::Client::from_conf(config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            failed(format!(
                "GetSecretValue: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))
        })?;
    out.secret_string
        .ok_or_else(|| failed("the secret has no string value (SecretString)".into()))
}

/// Posts the init failure to the Runtime API (`POST /2018-06-01/runtime/init/error`), so Lambda
/// shows its type and message for the failed init, and logs it.
async fn report_init_error(error: &InitError) {
    tracing::error!(error_type = error.error_type(), error = %error, "init failed");
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    if let Err(e) = post_init_error(Diagnostic::from(error)).await {
        tracing::error!(error = %e, "could not report the init failure to the Runtime API");
    }
}

async fn post_init_error(diagnostic: Diagnostic) -> Result<(), lambda_http::Error> {
    let client = lambda_runtime_api_client::Client::builder().build()?;
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(
            serde_json::to_vec(&diagnostic)?,
        ))?;
    let response = client.call(request).await?;
    match response.status().is_success() {
        true => Ok(()),
        false => Err(format!("the Runtime API answered {}", response.status()).into()),
    }
}

//! The one configuration type, read from the environment once per host (a Lambda container or
//! the local server) and handed to every handler through [`crate::AppState`].

use affnet_core::clickid::ClickKey;
use std::ops::RangeInclusive;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// When set, management routes require `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    /// Lets integrations point at private/loopback hosts (local runs and tests only).
    pub allow_private_network: bool,
    /// TUNE calls and offer sync: retries, page size, time budgets.
    pub tune: crate::tune_client::TuneOptions,
    /// Signs and verifies click IDs (`AFFNET_CLICK_SECRET`, or on Lambda the Secrets Manager
    /// secret `AFFNET_CLICK_SECRET_ARN` names; see [`click_key_from_secret`]).
    pub click_key: ClickKey,
    /// How long clicks are kept (`AFFNET_CLICK_TTL_DAYS`, default 90).
    pub click_ttl_days: u32,
    /// How long postback logs are kept (`AFFNET_POSTBACK_LOG_TTL_DAYS`, default 30).
    pub postback_log_ttl_days: u32,
    /// How long a lead's personal data is kept (`AFFNET_LEAD_PII_DAYS`, default 90); the lead,
    /// its attempts and its conversion stay.
    pub lead_pii_days: u32,
    /// Base of the postback URLs we hand out (`AFFNET_PUBLIC_URL`, e.g. `https://track.example.com`);
    /// when unset, taken from the request's `Host` and `X-Forwarded-Proto`.
    pub public_url: Option<String>,
    /// How long a postback host keeps an integration in memory (`AFFNET_INTEGRATION_CACHE_SECS`,
    /// default 10; 0 reads it for every postback). A token rotation or deactivation takes at most
    /// this long to reach a warm host; in exchange a new conversion costs one DynamoDB request.
    pub integration_cache_secs: u64,
    /// Domain events: the bus, webhooks and the feed ([`crate::events::EventsConfig`]).
    pub events: crate::events::EventsConfig,
    /// What only the AWS host uses.
    pub aws: AwsConfig,
    /// What only the local server uses.
    pub local: LocalConfig,
}

/// The local server's address, data directory and connection limits.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// `AFFNET_LISTEN`, default `127.0.0.1:3000`.
    pub listen: String,
    /// `AFFNET_DATA_DIR`, default `./.affnet` (as given: the server logs it made absolute).
    pub data_dir: std::path::PathBuf,
    /// How long a client has to send a whole request head, from the connection's accept or the
    /// first byte of a later request (`AFFNET_HEADER_TIMEOUT_SECS`, 1 to 300, default 10).
    pub header_timeout: Duration,
    /// How long a connection may wait between requests (`AFFNET_IDLE_TIMEOUT_SECS`, 1 to 3600,
    /// default 60).
    pub idle_timeout: Duration,
    /// At most this many connections open at once (`AFFNET_MAX_CONNECTIONS`, 1 to 1000000);
    /// `None`: derived from the file-descriptor limit.
    pub max_connections: Option<usize>,
}

pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;

impl LocalConfig {
    pub fn from_env() -> Result<LocalConfig, ConfigError> {
        let secs = |name, default, max| {
            env_whole(name, default, 1..=max, "seconds").map(Duration::from_secs)
        };
        Ok(LocalConfig {
            listen: env_text("AFFNET_LISTEN").unwrap_or_else(|| "127.0.0.1:3000".into()),
            data_dir: env_text("AFFNET_DATA_DIR")
                .unwrap_or_else(|| ".affnet".into())
                .into(),
            header_timeout: secs(
                "AFFNET_HEADER_TIMEOUT_SECS",
                DEFAULT_HEADER_TIMEOUT_SECS,
                300,
            )?,
            idle_timeout: secs("AFFNET_IDLE_TIMEOUT_SECS", DEFAULT_IDLE_TIMEOUT_SECS, 3600)?,
            max_connections: match env_text("AFFNET_MAX_CONNECTIONS") {
                None => None,
                Some(v) => {
                    Some(
                        parse_whole("AFFNET_MAX_CONNECTIONS", &v, 1..=1_000_000, "connections")?
                            as usize,
                    )
                }
            },
        })
    }
}

/// The AWS host's names (template.yaml sets them on each function).
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    /// DynamoDB table (`AFFNET_TABLE`, default `affnet`).
    pub table: String,
    /// The offer-sync function that automatic-sync schedules invoke (`AFFNET_SYNC_FUNCTION_ARN`).
    pub sync_function_arn: Option<String>,
    /// The role EventBridge Scheduler assumes to invoke it (`AFFNET_SCHEDULER_ROLE_ARN`).
    pub scheduler_role_arn: Option<String>,
    /// Where the scheduler puts invocations it could not deliver (`AFFNET_SCHEDULE_DLQ_ARN`).
    pub schedule_dlq_arn: Option<String>,
    /// The Secrets Manager secret holding the click secret (`AFFNET_CLICK_SECRET_ARN`), read
    /// once at init.
    pub click_secret_arn: Option<String>,
    /// Timeouts and retries of DynamoDB calls (set per function: [`SdkPolicy::for_function`]).
    pub dynamodb: SdkPolicy,
}

/// How long an AWS SDK call may take and how often it is tried. Without this a hanging
/// DynamoDB request held a click for 30 s and more, past its function's 5 s timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkPolicy {
    /// Connecting to the service.
    pub connect_timeout: Duration,
    /// One attempt (request and answer).
    pub attempt_timeout: Duration,
    /// The whole call, retries and backoff included.
    pub operation_timeout: Duration,
    /// Attempts in all (1: no retry).
    pub max_attempts: u32,
}

impl Default for SdkPolicy {
    fn default() -> Self {
        SdkPolicy::for_function(crate::routes::Function::Api)
    }
}

impl SdkPolicy {
    /// Each function's bounds, under its Lambda timeout (template.yaml: click 5 s, postback and
    /// the management API 10 s, offer sync over HTTP API Gateway's 30 s).
    pub fn for_function(function: crate::routes::Function) -> SdkPolicy {
        use crate::routes::Function;
        let ms = Duration::from_millis;
        match function {
            // A click must answer fast: one quick retry, then redirect without storing (two calls
            // at most: the offer read and the click write, 1.2 s each).
            Function::Click => SdkPolicy {
                connect_timeout: ms(300),
                attempt_timeout: ms(500),
                operation_timeout: ms(1_200),
                max_attempts: 2,
            },
            // A postback may retry a little, then answers 503 (the network retries it).
            Function::Postback => SdkPolicy {
                connect_timeout: ms(500),
                attempt_timeout: ms(1_000),
                operation_timeout: ms(2_500),
                max_attempts: 3,
            },
            // Management calls and sync: patient, but each call well inside API Gateway's 30 s
            // (an HTTP sync's 25 s deadline leaves room for its closing write).
            // Publishing a stream batch: each PutEvents well inside the function's timeout.
            Function::Events => SdkPolicy {
                connect_timeout: ms(1_000),
                attempt_timeout: ms(2_000),
                operation_timeout: ms(5_000),
                max_attempts: 3,
            },
            Function::Api | Function::OfferSync | Function::ConnectionTest | Function::Lead => {
                SdkPolicy {
                    connect_timeout: ms(1_000),
                    attempt_timeout: ms(2_000),
                    operation_timeout: ms(4_000),
                    max_attempts: 3,
                }
            }
        }
    }
}

/// The variable naming the Secrets Manager secret of the click key.
pub const CLICK_SECRET_ARN_VAR: &str = "AFFNET_CLICK_SECRET_ARN";

/// The click key from a secret's value: a plain string (at least 16 bytes), or JSON
/// `{"current": "...", "previous": ["...", ...]}` to rotate (click IDs are minted with
/// `current` and verified with it, then with each `previous`). `source` names where the value
/// came from, for messages (never the value).
pub fn click_key_from_secret(value: &str, source: &str) -> Result<ClickKey, ConfigError> {
    let value = value.trim();
    if !value.starts_with('{') {
        return ClickKey::new(value.as_bytes()).map_err(|e| ConfigError(format!("{source}: {e}")));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rotating {
        current: String,
        #[serde(default)]
        previous: Vec<String>,
    }
    // serde's message may quote the value (`invalid type: string "..."`): only its position.
    let rotating: Rotating = serde_json::from_str(value).map_err(|e| {
        ConfigError(format!(
            "{source}: a JSON click secret must be {{\"current\": \"...\", \"previous\": [\"...\"]}} \
             (not so at line {} column {})",
            e.line(),
            e.column()
        ))
    })?;
    let previous: Vec<&[u8]> = rotating
        .previous
        .iter()
        .map(|p| p.trim().as_bytes())
        .collect();
    ClickKey::with_previous(rotating.current.trim().as_bytes(), previous)
        .map_err(|e| ConfigError(format!("{source}: {e} (current and every previous secret)")))
}

pub const DEFAULT_TABLE: &str = "affnet";

/// A configuration the process cannot start with.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

pub const DEFAULT_CLICK_TTL_DAYS: u32 = 90;
pub const DEFAULT_POSTBACK_LOG_TTL_DAYS: u32 = 30;
pub const DEFAULT_LEAD_PII_DAYS: u32 = 90;
pub const DEFAULT_INTEGRATION_CACHE_SECS: u64 = 10;

impl Config {
    /// The configuration from the environment; `AFFNET_CLICK_SECRET` is required.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_env_or(|| {
            Err(ConfigError(
                "AFFNET_CLICK_SECRET is not set (at least 16 random bytes)".into(),
            ))
        })
    }

    /// Like [`Config::from_env`]; without `AFFNET_CLICK_SECRET`, the secret comes from
    /// `fallback` (the local server keeps one in its data directory).
    pub fn from_env_or(
        fallback: impl FnOnce() -> Result<String, ConfigError>,
    ) -> Result<Config, ConfigError> {
        match std::env::var("AFFNET_CLICK_SECRET") {
            Ok(secret) => Config::from_env_with_click_secret(&secret),
            Err(_) => Config::from_env_with_click_secret(&fallback()?),
        }
    }

    /// Like [`Config::from_env`], with the click secret given (the local server keeps one in its
    /// data directory).
    pub fn from_env_with_click_secret(secret: &str) -> Result<Config, ConfigError> {
        Config::from_env_with_click_key(click_key_from_secret(secret, "AFFNET_CLICK_SECRET")?)
    }

    /// Like [`Config::from_env`], with the click key given (on Lambda, from Secrets Manager).
    /// On Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), settings that contradict the deployment are
    /// refused (see [`lambda_contradictions`]).
    pub fn from_env_with_click_key(click_key: ClickKey) -> Result<Config, ConfigError> {
        let lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
        if lambda {
            lambda_contradictions()?;
        }
        let allow_private_network = env_flag("AFFNET_ALLOW_PRIVATE_NETWORK");
        Ok(Config {
            admin_token: std::env::var("AFFNET_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            allow_private_network,
            tune: crate::tune_client::TuneOptions::for_host(lambda),
            click_key,
            click_ttl_days: env_days("AFFNET_CLICK_TTL_DAYS", DEFAULT_CLICK_TTL_DAYS)?,
            postback_log_ttl_days: env_days(
                "AFFNET_POSTBACK_LOG_TTL_DAYS",
                DEFAULT_POSTBACK_LOG_TTL_DAYS,
            )?,
            lead_pii_days: env_days("AFFNET_LEAD_PII_DAYS", DEFAULT_LEAD_PII_DAYS)?,
            public_url: std::env::var("AFFNET_PUBLIC_URL")
                .ok()
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty()),
            integration_cache_secs: match std::env::var("AFFNET_INTEGRATION_CACHE_SECS") {
                Err(_) => DEFAULT_INTEGRATION_CACHE_SECS,
                Ok(v) if v.trim().is_empty() => DEFAULT_INTEGRATION_CACHE_SECS,
                Ok(v) => v.trim().parse().ok().filter(|s| *s <= 300).ok_or_else(|| {
                    ConfigError(format!(
                        "AFFNET_INTEGRATION_CACHE_SECS must be 0 to 300 seconds, not `{v}`"
                    ))
                })?,
            },
            events: crate::events::EventsConfig::from_env(allow_private_network, lambda)?,
            aws: AwsConfig {
                table: env_text("AFFNET_TABLE").unwrap_or_else(|| DEFAULT_TABLE.to_string()),
                sync_function_arn: env_text(crate::schedule_aws::TARGET_ARN_VAR),
                scheduler_role_arn: env_text(crate::schedule_aws::ROLE_ARN_VAR),
                schedule_dlq_arn: env_text(crate::schedule_aws::DLQ_ARN_VAR),
                click_secret_arn: env_text(CLICK_SECRET_ARN_VAR),
                dynamodb: SdkPolicy::default(),
            },
            local: LocalConfig::from_env()?,
        })
    }

    /// Defaults for tests: no admin token, private network allowed, a fixed click secret.
    pub fn for_tests() -> Config {
        Config {
            admin_token: None,
            allow_private_network: true,
            tune: crate::tune_client::TuneOptions::for_tests(),
            click_key: ClickKey::new(TEST_CLICK_SECRET.as_bytes()).expect("test secret"),
            click_ttl_days: DEFAULT_CLICK_TTL_DAYS,
            postback_log_ttl_days: DEFAULT_POSTBACK_LOG_TTL_DAYS,
            lead_pii_days: DEFAULT_LEAD_PII_DAYS,
            public_url: None,
            integration_cache_secs: 0,
            events: crate::events::EventsConfig::for_tests(),
            aws: AwsConfig {
                table: DEFAULT_TABLE.to_string(),
                ..AwsConfig::default()
            },
            local: LocalConfig {
                listen: "127.0.0.1:0".into(),
                data_dir: ".affnet".into(),
                header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
                idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
                max_connections: None,
            },
        }
    }
}

/// Settings that contradict a Lambda deployment, where API Gateway's IAM authorizer guards the
/// management routes and the click secret comes from Secrets Manager: refused at init, so the
/// function fails to start with the reason instead of misbehaving on every request.
pub fn lambda_contradictions() -> Result<(), ConfigError> {
    contradictions(env_text)
}

/// [`lambda_contradictions`] over any variables (`var` gives a trimmed, non-empty value).
fn contradictions(var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    if var("AFFNET_ADMIN_TOKEN").is_some() {
        problems.push(
            "AFFNET_ADMIN_TOKEN is set, but on Lambda IAM authorizes the management routes \
             (API Gateway's AWS_IAM authorizer) and a bearer token would turn every signed request \
             away with 401: unset it"
                .to_string(),
        );
    }
    if var("AFFNET_ALLOW_PRIVATE_NETWORK")
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"))
    {
        problems.push(
            "AFFNET_ALLOW_PRIVATE_NETWORK is for local runs and tests; on Lambda integrations must \
             not reach private hosts: unset it"
                .to_string(),
        );
    }
    if var("AFFNET_CLICK_SECRET").is_some() && var(CLICK_SECRET_ARN_VAR).is_some() {
        problems.push(format!(
            "both AFFNET_CLICK_SECRET and {CLICK_SECRET_ARN_VAR} are set: keep only the secret's ARN"
        ));
    }
    if let Some(store) = var("AFFNET_STORE").filter(|s| s != "dynamodb") {
        problems.push(format!(
            "AFFNET_STORE is `{store}`, but Lambda functions use DynamoDB: set it to dynamodb or unset it"
        ));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(ConfigError(problems.join("; "))),
    }
}

/// The click secret of [`Config::for_tests`].
pub const TEST_CLICK_SECRET: &str = "affnet-test-click-secret-0123456789";

/// A whole number of days from 1 to 3650, or the default when unset.
fn env_days(name: &str, default: u32) -> Result<u32, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) if v.trim().is_empty() => Ok(default),
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| {
                ConfigError(format!(
                    "{name} must be a number of days from 1 to 3650, not `{v}`"
                ))
            }),
    }
}

/// A whole number in `range` (of `unit`), or the default when unset or empty.
fn env_whole(
    name: &str,
    default: u64,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, ConfigError> {
    match env_text(name) {
        None => Ok(default),
        Some(v) => parse_whole(name, &v, range, unit),
    }
}

/// `value` of the variable `name` as a whole number in `range`; the error names the variable.
fn parse_whole(
    name: &str,
    value: &str,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ConfigError(format!(
                "{name} must be a whole number of {unit} from {} to {}, not `{value}`",
                range.start(),
                range.end()
            ))
        })
}

/// A variable's trimmed value; unset and empty are the same.
fn env_text(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1" | "true" | "yes" | "on")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use affnet_core::clickid::{ClickId, ClickIdError, LabelHandle};
    use std::collections::HashMap;
    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn an_admin_token_on_lambda_is_refused_saying_iam_authorizes() {
        let err = contradictions(vars(&[("AFFNET_ADMIN_TOKEN", "t0ken")])).unwrap_err();
        assert!(err.0.contains("AFFNET_ADMIN_TOKEN"), "{err}");
        assert!(err.0.contains("IAM authorizes"), "{err}");
        assert!(contradictions(vars(&[("AFFNET_STORE", "dynamodb")])).is_ok());
        let err = contradictions(vars(&[
            ("AFFNET_ALLOW_PRIVATE_NETWORK", "1"),
            ("AFFNET_CLICK_SECRET", "x"),
            (CLICK_SECRET_ARN_VAR, "arn:aws:secretsmanager:..."),
            ("AFFNET_STORE", "sqlite"),
        ]))
        .unwrap_err();
        for name in [
            "AFFNET_ALLOW_PRIVATE_NETWORK",
            CLICK_SECRET_ARN_VAR,
            "AFFNET_STORE",
        ] {
            assert!(err.0.contains(name), "{err}");
        }
    }

    #[test]
    fn click_secrets_are_plain_or_json_with_previous_keys() {
        const CURRENT: &str = "the current click secret, 32 bytes";
        const OLD: &str = "the previous click secret, rotated";
        let old = click_key_from_secret(OLD, "s").unwrap();
        let old_id = ClickId::mint(
            &old,
            "01HZX3V9Q8W7E6R5T4Y3M2K1N0",
            LabelHandle::NONE,
            1,
            [1; 8],
        );
        let old_id = old_id.unwrap();
        let json = format!(r#"{{"current": "{CURRENT}", "previous": ["{OLD}"]}}"#);
        let rotated = click_key_from_secret(&json, "s").unwrap();
        assert_eq!(rotated.previous_count(), 1);
        assert!(ClickId::verify(&rotated, &old_id).is_ok());
        let plain = click_key_from_secret(&format!("  {CURRENT}\n"), "s").unwrap();
        assert_eq!(plain.previous_count(), 0);
        assert_eq!(
            ClickId::verify(&plain, &old_id),
            Err(ClickIdError::Signature)
        );
        let short = click_key_from_secret("short", "AFFNET_CLICK_SECRET").unwrap_err();
        assert!(short.0.starts_with("AFFNET_CLICK_SECRET: "), "{short}");
        let bad = click_key_from_secret(r#"{"curent": "x"}"#, "the secret A").unwrap_err();
        assert!(bad.0.contains("the secret A"), "{bad}");
        let weak = format!(r#"{{"current": "{CURRENT}", "previous": ["short"]}}"#);
        assert!(click_key_from_secret(&weak, "s").is_err());
    }

    #[test]
    fn whole_numbers_in_range_are_read_and_others_name_the_variable() {
        assert_eq!(parse_whole("V", " 10 ", 1..=300, "seconds").unwrap(), 10);
        for bad in ["0", "301", "-1", "1.5", "ten"] {
            let e = parse_whole("AFFNET_HEADER_TIMEOUT_SECS", bad, 1..=300, "seconds")
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!(
                    "configuration: AFFNET_HEADER_TIMEOUT_SECS must be a whole number of seconds from 1 to 300, not `{bad}`"
                )
            );
        }
    }
}

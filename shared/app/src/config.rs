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
    /// Signs and verifies click IDs (`AFFNET_CLICK_SECRET`).
    pub click_key: ClickKey,
    /// How long clicks are kept (`AFFNET_CLICK_TTL_DAYS`, default 90).
    pub click_ttl_days: u32,
    /// How long postback logs are kept (`AFFNET_POSTBACK_LOG_TTL_DAYS`, default 30).
    pub postback_log_ttl_days: u32,
    /// Base of the postback URLs we hand out (`AFFNET_PUBLIC_URL`, e.g. `https://track.example.com`);
    /// when unset, taken from the request's `Host` and `X-Forwarded-Proto`.
    pub public_url: Option<String>,
    /// How long a postback host keeps an integration in memory (`AFFNET_INTEGRATION_CACHE_SECS`,
    /// default 10; 0 reads it for every postback). A token rotation or deactivation takes at most
    /// this long to reach a warm host; in exchange a new conversion costs one DynamoDB request.
    pub integration_cache_secs: u64,
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
}

pub const DEFAULT_TABLE: &str = "affnet";

/// A configuration the process cannot start with.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

pub const DEFAULT_CLICK_TTL_DAYS: u32 = 90;
pub const DEFAULT_POSTBACK_LOG_TTL_DAYS: u32 = 30;
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
        let click_key = ClickKey::new(secret.trim().as_bytes())
            .map_err(|e| ConfigError(format!("AFFNET_CLICK_SECRET: {e}")))?;
        Ok(Config {
            admin_token: std::env::var("AFFNET_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            allow_private_network: env_flag("AFFNET_ALLOW_PRIVATE_NETWORK"),
            tune: crate::tune_client::TuneOptions::for_host(
                std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
            ),
            click_key,
            click_ttl_days: env_days("AFFNET_CLICK_TTL_DAYS", DEFAULT_CLICK_TTL_DAYS)?,
            postback_log_ttl_days: env_days(
                "AFFNET_POSTBACK_LOG_TTL_DAYS",
                DEFAULT_POSTBACK_LOG_TTL_DAYS,
            )?,
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
            aws: AwsConfig {
                table: env_text("AFFNET_TABLE").unwrap_or_else(|| DEFAULT_TABLE.to_string()),
                sync_function_arn: env_text(crate::schedule_aws::TARGET_ARN_VAR),
                scheduler_role_arn: env_text(crate::schedule_aws::ROLE_ARN_VAR),
                schedule_dlq_arn: env_text(crate::schedule_aws::DLQ_ARN_VAR),
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
            public_url: None,
            integration_cache_secs: 0,
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
    use super::parse_whole;

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

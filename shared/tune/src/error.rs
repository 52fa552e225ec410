//! Errors, classified so a connection test can tell the user exactly what is wrong.
//!
//! TUNE answers almost every failure with HTTP 200 and an in-band message, and the exact wording
//! of several messages is not documented (an invalid key or a non-whitelisted IP, for example).
//! [`classify_message`]
//! therefore matches case-insensitive substrings and every variant keeps TUNE's own text.
//!
//! No message ever contains the API key: TUNE's texts pass through [`redact`] first.

use serde::Serialize;

/// What went wrong, as a stable machine-readable code (`kind.as_str()`), without the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The configuration is unusable (empty key, bad network id, bad api domain...).
    InvalidConfig,
    /// The SSRF guard refused the host or one of its addresses.
    AddressRefused,
    Dns,
    Connect,
    Tls,
    Timeout,
    /// HTTP 5xx from TUNE (or whatever sits in front of it).
    ServerError,
    /// Any other unexpected HTTP status that did not carry a TUNE envelope.
    HttpStatus,
    RateLimited,
    BadCredentials,
    WrongNetworkId,
    ApiDisabled,
    IpNotWhitelisted,
    /// Any other in-band TUNE error; the message is TUNE's text.
    Api,
    /// The body was not JSON or not a TUNE envelope.
    Malformed,
    /// `call_read_only` refused a method that may have side effects.
    NotReadOnly,
    /// The call does not exist in the client's mode (e.g. advertisers in affiliate mode).
    WrongMode,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::AddressRefused => "address_refused",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ServerError => "server_error",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::BadCredentials => "bad_credentials",
            ErrorKind::WrongNetworkId => "wrong_network_id",
            ErrorKind::ApiDisabled => "api_disabled",
            ErrorKind::IpNotWhitelisted => "ip_not_whitelisted",
            ErrorKind::Api => "api_error",
            ErrorKind::Malformed => "malformed_response",
            ErrorKind::NotReadOnly => "not_read_only",
            ErrorKind::WrongMode => "wrong_mode",
        }
    }
}

/// An error from the TUNE client. `Display` is a user-facing sentence; TUNE's own text is kept
/// verbatim (minus the redacted key) in `message` where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TuneError {
    #[error("invalid TUNE configuration: {0}")]
    InvalidConfig(String),
    #[error("refused to connect to {host}: {reason}")]
    AddressRefused { host: String, reason: String },
    #[error("could not resolve {host} (DNS failure): {detail}")]
    Dns { host: String, detail: String },
    #[error("could not connect to {host}: {detail}")]
    Connect { host: String, detail: String },
    #[error("TLS handshake with {host} failed: {detail}")]
    Tls { host: String, detail: String },
    #[error("TUNE did not answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("TUNE answered HTTP {status} (server error)")]
    ServerError { status: u16 },
    #[error("TUNE answered unexpected HTTP {status}")]
    HttpStatus { status: u16 },
    #[error("TUNE rate limit exceeded: {message}")]
    RateLimited { message: String },
    #[error("TUNE rejected the API key: {message}")]
    BadCredentials { message: String },
    #[error("TUNE does not know this network id: {message}")]
    WrongNetworkId { message: String },
    #[error("API access is disabled on this TUNE network: {message}")]
    ApiDisabled { message: String },
    #[error("TUNE refused this server's IP address (API IP whitelist): {message}")]
    IpNotWhitelisted { message: String },
    #[error("TUNE error: {message}")]
    Api { message: String },
    #[error("malformed TUNE response: {0}")]
    Malformed(String),
    #[error("`{target}::{method}` is not a read-only method: {reason}")]
    NotReadOnly {
        target: String,
        method: String,
        reason: String,
    },
    #[error("{0}")]
    WrongMode(String),
}

impl TuneError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TuneError::InvalidConfig(_) => ErrorKind::InvalidConfig,
            TuneError::AddressRefused { .. } => ErrorKind::AddressRefused,
            TuneError::Dns { .. } => ErrorKind::Dns,
            TuneError::Connect { .. } => ErrorKind::Connect,
            TuneError::Tls { .. } => ErrorKind::Tls,
            TuneError::Timeout { .. } => ErrorKind::Timeout,
            TuneError::ServerError { .. } => ErrorKind::ServerError,
            TuneError::HttpStatus { .. } => ErrorKind::HttpStatus,
            TuneError::RateLimited { .. } => ErrorKind::RateLimited,
            TuneError::BadCredentials { .. } => ErrorKind::BadCredentials,
            TuneError::WrongNetworkId { .. } => ErrorKind::WrongNetworkId,
            TuneError::ApiDisabled { .. } => ErrorKind::ApiDisabled,
            TuneError::IpNotWhitelisted { .. } => ErrorKind::IpNotWhitelisted,
            TuneError::Api { .. } => ErrorKind::Api,
            TuneError::Malformed(_) => ErrorKind::Malformed,
            TuneError::NotReadOnly { .. } => ErrorKind::NotReadOnly,
            TuneError::WrongMode(_) => ErrorKind::WrongMode,
        }
    }

    /// Whether another attempt may succeed: 5xx, timeouts, connection failures, rate limits.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::ServerError
                | ErrorKind::Timeout
                | ErrorKind::Connect
                | ErrorKind::RateLimited
        )
    }

    /// TUNE's own text for in-band errors (already redacted), if this error carries one.
    pub fn tune_message(&self) -> Option<&str> {
        match self {
            TuneError::RateLimited { message }
            | TuneError::BadCredentials { message }
            | TuneError::WrongNetworkId { message }
            | TuneError::ApiDisabled { message }
            | TuneError::IpNotWhitelisted { message }
            | TuneError::Api { message } => Some(message),
            _ => None,
        }
    }
}

/// Turns an in-band TUNE error text into the matching variant, keeping the text.
///
/// Order matters: the most specific patterns come first (an IP-whitelist message may also say
/// "not authorized", a disabled API may mention the key).
pub fn classify_message(message: String) -> TuneError {
    let lower = message.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let word = |w: &str| words.contains(&w);

    if has("rate limit") || has("rate-limit") || has("too many requests") {
        return TuneError::RateLimited { message };
    }
    if (has("network id") || has("networkid") || has("network_id"))
        && (has("not valid") || has("invalid") || has("not found") || has("does not exist"))
    {
        return TuneError::WrongNetworkId { message };
    }
    if has("whitelist")
        || has("white list")
        || has("allowlist")
        || ((word("ip") || word("ips") || has("ip address"))
            && (has("not allowed")
                || has("not authorized")
                || has("not permitted")
                || has("denied")
                || has("blocked")
                || has("restricted")
                || has("unauthorized")
                || has("invalid")))
    {
        return TuneError::IpNotWhitelisted { message };
    }
    if word("api") && (has("disabled") || has("not enabled") || has("deactivated") || has("is off"))
    {
        return TuneError::ApiDisabled { message };
    }
    if has("not authenticated")
        || has("authentication")
        || has("unauthorized")
        || has("not authorized")
        || has("networktoken")
        || has("network token")
        || has("api_key")
        || has("api key")
        || has("apikey")
        || (has("invalid") && (word("token") || word("key")))
    {
        return TuneError::BadCredentials { message };
    }
    TuneError::Api { message }
}

/// The product's one redaction of secrets from network text ([`affnet_netguard::redact`]):
/// every form of the key TUNE or a proxy may echo (raw, percent-, JSON- or HTML-escaped) becomes
/// `***`.
pub use affnet_netguard::redact::{redact, redact_value};

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(msg: &str) -> ErrorKind {
        classify_message(msg.to_string()).kind()
    }

    #[test]
    fn classifies_known_and_guessed_tune_texts() {
        let cases = [
            (
                "API usage exceeded rate limit.  Configured: 50/10s window; Your usage: 51.  See https://help.tune.com/hasoffers/rate-limit-error/ for guidance.",
                ErrorKind::RateLimited,
            ),
            ("Network id is not valid", ErrorKind::WrongNetworkId),
            ("Invalid NetworkId", ErrorKind::WrongNetworkId),
            (
                "NetworkToken *** is not authenticated",
                ErrorKind::BadCredentials,
            ),
            ("Invalid API key", ErrorKind::BadCredentials),
            ("api_key is invalid", ErrorKind::BadCredentials),
            ("Invalid token", ErrorKind::BadCredentials),
            ("Affiliate API feature is disabled", ErrorKind::ApiDisabled),
            (
                "API access disabled for this network",
                ErrorKind::ApiDisabled,
            ),
            ("The Network API is not enabled", ErrorKind::ApiDisabled),
            (
                "IP 203.0.113.9 is not whitelisted",
                ErrorKind::IpNotWhitelisted,
            ),
            (
                "Your IP address is not allowed to access the API",
                ErrorKind::IpNotWhitelisted,
            ),
            ("Request from unauthorized IP", ErrorKind::IpNotWhitelisted),
            ("Row id is negative", ErrorKind::Api),
            ("Failed to hydrate rows: 21", ErrorKind::Api),
            // "ip" inside other words must not count as an IP message.
            ("Shipping description is invalid", ErrorKind::Api),
            ("Unsupported output format in URL", ErrorKind::Api),
        ];
        for (msg, expected) in cases {
            assert_eq!(kind(msg), expected, "{msg}");
        }
    }

    #[test]
    fn keeps_tune_text_verbatim() {
        let e = classify_message("Affiliate API feature is disabled".into());
        assert_eq!(e.tune_message(), Some("Affiliate API feature is disabled"));
        assert_eq!(
            e.to_string(),
            "API access is disabled on this TUNE network: Affiliate API feature is disabled"
        );
    }

    #[test]
    fn redacts_secrets() {
        assert_eq!(
            redact("NetworkToken NETabc123 is not authenticated", "NETabc123"),
            "NetworkToken *** is not authenticated"
        );
        assert_eq!(redact("keep me", "k"), "keep me");
    }

    #[test]
    fn retryable_kinds() {
        assert!(TuneError::Timeout { timeout_ms: 1 }.is_retryable());
        assert!(TuneError::ServerError { status: 502 }.is_retryable());
        assert!(
            TuneError::RateLimited {
                message: "x".into()
            }
            .is_retryable()
        );
        assert!(
            !TuneError::BadCredentials {
                message: "x".into()
            }
            .is_retryable()
        );
        assert!(
            !TuneError::Dns {
                host: "h".into(),
                detail: "d".into()
            }
            .is_retryable()
        );
        assert_eq!(ErrorKind::IpNotWhitelisted.as_str(), "ip_not_whitelisted");
    }
}

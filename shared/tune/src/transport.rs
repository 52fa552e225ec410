//! One HTTP attempt: send, read a bounded body, interpret the status, classify failures.

use crate::envelope::parse_body;
use crate::error::{TuneError, redact};
use crate::guard::{LookupFailed, RefusedAddress};
use reqwest::StatusCode;
use serde_json::Value;
use std::error::Error as StdError;
use std::time::Duration;
use url::Url;

pub(crate) struct Attempt<'a> {
    pub http: &'a reqwest::Client,
    pub host: &'a str,
    pub secret: &'a str,
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl Attempt<'_> {
    /// Sends one GET and returns `response.data`, bounded by the timeout as a whole.
    pub async fn run(&self, url: Url) -> Result<Value, TuneError> {
        let work = async {
            let mut resp = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|e| self.transport_error(e))?;
            let status = resp.status();
            if resp.content_length().unwrap_or(0) > self.max_bytes as u64 {
                return Err(self.too_large());
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(e))? {
                if body.len() + chunk.len() > self.max_bytes {
                    return Err(self.too_large());
                }
                body.extend_from_slice(&chunk);
            }
            interpret(status, &body, self.secret)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(self.timeout_error()),
        }
    }

    fn too_large(&self) -> TuneError {
        TuneError::Malformed(format!("response larger than {} bytes", self.max_bytes))
    }

    fn timeout_error(&self) -> TuneError {
        TuneError::Timeout {
            timeout_ms: self.timeout.as_millis().try_into().unwrap_or(u64::MAX),
        }
    }

    /// Classifies a reqwest failure. The URL (with the key) is stripped first; the remaining
    /// chain comes from hyper/rustls/io and our resolver, and is redacted anyway.
    fn transport_error(&self, err: reqwest::Error) -> TuneError {
        let err = err.without_url();
        if err.is_timeout() {
            return self.timeout_error();
        }
        let host = self.host.to_string();
        let mut texts: Vec<String> = Vec::new();
        let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(refused) = e.downcast_ref::<RefusedAddress>() {
                return TuneError::AddressRefused {
                    host,
                    reason: refused.to_string(),
                };
            }
            if let Some(failed) = e.downcast_ref::<LookupFailed>() {
                return TuneError::Dns {
                    host,
                    detail: redact(&failed.detail, self.secret),
                };
            }
            let io_timeout = e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
            if io_timeout {
                return self.timeout_error();
            }
            let text = e.to_string();
            if texts.last() != Some(&text) {
                texts.push(text);
            }
            source = e.source();
        }
        // The first text is reqwest's generic "error sending request"; the causes say more.
        if texts.len() > 1 {
            texts.remove(0);
        }
        let detail = redact(&texts.join(": "), self.secret);
        let lower = detail.to_ascii_lowercase();
        let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
        if any(&[
            "dns error",
            "failed to lookup address",
            "name or service not known",
            "no such host",
        ]) {
            return TuneError::Dns { host, detail };
        }
        if any(&[
            "certificate",
            "tls",
            "handshake",
            "corrupt message",
            "invalidcontenttype",
            "peer sent",
            "alert",
        ]) {
            return TuneError::Tls { host, detail };
        }
        if err.is_body() || err.is_decode() {
            return TuneError::Connect {
                host,
                detail: format!("connection broken while reading the answer: {detail}"),
            };
        }
        TuneError::Connect { host, detail }
    }
}

/// Maps an HTTP status and body to data or an error. TUNE errors arrive with 200; a TUNE
/// envelope error sent with another status is still reported as the TUNE error.
pub(crate) fn interpret(status: StatusCode, body: &[u8], secret: &str) -> Result<Value, TuneError> {
    if status.is_success() {
        return parse_body(body, secret);
    }
    if status.is_server_error() {
        return Err(TuneError::ServerError {
            status: status.as_u16(),
        });
    }
    match parse_body(body, secret) {
        Err(e) if e.kind() != crate::ErrorKind::Malformed => Err(e),
        _ if status == StatusCode::TOO_MANY_REQUESTS => Err(TuneError::RateLimited {
            message: "HTTP 429 Too Many Requests".into(),
        }),
        _ => Err(TuneError::HttpStatus {
            status: status.as_u16(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn statuses() {
        let ok = br#"{"response":{"status":1,"data":[]}}"#;
        assert_eq!(
            interpret(StatusCode::OK, ok, "").unwrap(),
            serde_json::json!([])
        );
        assert_eq!(
            interpret(StatusCode::BAD_GATEWAY, b"<html>", "").unwrap_err(),
            TuneError::ServerError { status: 502 }
        );
        assert_eq!(
            interpret(StatusCode::TOO_MANY_REQUESTS, b"", "")
                .unwrap_err()
                .kind(),
            ErrorKind::RateLimited
        );
        assert_eq!(
            interpret(StatusCode::FORBIDDEN, b"denied", "").unwrap_err(),
            TuneError::HttpStatus { status: 403 }
        );
        let tune = br#"{"response":{"status":-1,"errors":[{"publicMessage":"Invalid API key"}]}}"#;
        assert_eq!(
            interpret(StatusCode::UNAUTHORIZED, tune, "")
                .unwrap_err()
                .kind(),
            ErrorKind::BadCredentials
        );
    }
}

//! What the adapters take and give back.

use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::time::Duration;

/// The integration's side of a call: its credentials, base URL override and timeout.
#[derive(Clone)]
pub struct Account<'a> {
    pub credentials: &'a BTreeMap<String, String>,
    /// The `api_url` setting: replaces the documented base.
    pub api_url: Option<&'a str>,
    /// Every call's whole time (connect, send, answer).
    pub timeout: Duration,
    /// `AFFNET_ALLOW_PRIVATE_NETWORK=1`: private and loopback targets are allowed.
    pub allow_private: bool,
}

impl std::fmt::Debug for Account<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never reach a log: only their names.
        f.debug_struct("Account")
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("api_url", &self.api_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One lead as the adapter sends it, with the offer's parameters.
#[derive(Clone, Default)]
pub struct LeadFields {
    pub lead_id: String,
    pub click_id: String,
    pub name: String,
    pub phone: String,
    pub country: String,
    pub email: Option<String>,
    pub address: Option<String>,
    pub comment: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub language: Option<String>,
    pub quantity: Option<u32>,
    pub price: Option<Decimal>,
    pub params: BTreeMap<String, String>,
}

impl std::fmt::Debug for LeadFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data never reaches a log.
        f.debug_struct("LeadFields")
            .field("lead_id", &self.lead_id)
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}

/// Why a call is worth repeating later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    Timeout,
    Connection,
    /// HTTP 5xx.
    Server,
    /// HTTP 429.
    RateLimited,
    /// A bad key or a refused IP: fixable by the user, so the lead waits.
    Authentication,
}

impl Transient {
    pub fn as_str(self) -> &'static str {
        match self {
            Transient::Timeout => "timeout",
            Transient::Connection => "connection",
            Transient::Server => "server",
            Transient::RateLimited => "rate_limited",
            Transient::Authentication => "authentication",
        }
    }
}

/// What the network did with a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent {
        order_id: Option<String>,
    },
    /// The network has this order already (its duplicate code or words).
    Duplicate {
        order_id: Option<String>,
        code: Option<String>,
        message: String,
    },
    /// Refused for good: bad phone, closed offer, bad parameters.
    Rejected {
        code: Option<String>,
        message: String,
    },
    /// Not delivered, or no answer that says: try again later.
    Retry {
        kind: Transient,
        message: String,
    },
}

/// One call and its result, for the lead's attempt log.
#[derive(Debug, Clone)]
pub struct Exchange<T> {
    pub result: T,
    /// `None` when no HTTP answer came.
    pub http_status: Option<u16>,
    /// The reply (or our error text), secrets masked, at most [`crate::mask::MAX_REPLY`] bytes.
    pub reply: String,
    pub duration: Duration,
}

/// A lead whose status is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadRef {
    pub order_id: Option<String>,
    pub click_id: String,
}

/// One status the network reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStatus {
    /// The id the network keyed it by (order id or click ID, per the spec's `by`).
    pub id: String,
    pub raw_status: String,
    pub payout: Option<Decimal>,
    pub currency: Option<String>,
}

/// A status run's network side.
#[derive(Debug, Clone, Default)]
pub struct StatusReport {
    pub statuses: Vec<RemoteStatus>,
    pub requests: u32,
    /// Failed requests, with the network's (masked) text.
    pub errors: Vec<String>,
}

/// What a connection test found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    Ok {
        detail: String,
    },
    /// DNS, TLS, timeout, refused address, 5xx.
    Connection {
        detail: String,
    },
    /// The network refused the key or the server's IP: its text and what to fix.
    Authentication {
        detail: String,
        fix: String,
    },
}

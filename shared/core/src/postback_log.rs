//! The log entry of one postback an integration received, accepted or refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostbackLog {
    /// ULID: time-ordered, so the partition lists newest first when read backwards.
    pub id: String,
    pub integration_id: String,
    pub time: DateTime<Utc>,
    pub method: String,
    /// `/postback/{integration_id}`, `/api/sale/status.json`, `/api/comp/status.json`.
    pub route: String,
    /// The raw query string with the token masked.
    pub query: String,
    /// The raw body (form or JSON) with the token masked; `None` when empty.
    pub body: Option<String>,
    pub remote_ip: Option<String>,
    /// `created`, `changed`, `attributed`, `duplicate`, `stale`, or the error code.
    pub outcome: String,
    /// The HTTP status answered.
    pub http_status: u16,
    pub conversion_id: Option<String>,
    /// The error message for rejected postbacks.
    pub message: Option<String>,
}

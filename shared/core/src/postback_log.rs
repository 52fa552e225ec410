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

/// Most bytes of a refused postback's query, and of its body, that are kept: anyone who knows
/// an integration id can send refused postbacks, so they keep an excerpt only.
pub const REFUSED_EXCERPT: usize = 1024;

impl PostbackLog {
    /// This log with its query and body cut to [`REFUSED_EXCERPT`] bytes each (marked `…`).
    pub fn excerpt(mut self) -> PostbackLog {
        self.query = cut(self.query, REFUSED_EXCERPT);
        self.body = self.body.map(|b| cut(b, REFUSED_EXCERPT));
        self
    }
}

fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_bounded_and_cut_on_a_char_boundary() {
        let log = PostbackLog {
            id: "x".into(),
            integration_id: "i".into(),
            time: chrono::Utc::now(),
            method: "GET".into(),
            route: "/postback".into(),
            query: "é".repeat(5_000),
            body: Some("b".repeat(20_000)),
            remote_ip: None,
            outcome: "bad_token".into(),
            http_status: 403,
            conversion_id: None,
            message: None,
        }
        .excerpt();
        assert!(log.query.len() <= REFUSED_EXCERPT + '…'.len_utf8());
        assert!(log.query.ends_with('…'));
        assert_eq!(log.body.unwrap().len(), REFUSED_EXCERPT + '…'.len_utf8());
    }
}

//! Leads: orders a landing page posts (`POST /leads`), stored before they are sent to the
//! offer's network, then sent (with retries) and followed through the network's statuses.
//!
//! A lead is `queued` until the network took it (`sent`, with the network's order id), or
//! refused it for good (`rejected`, `trash` for a duplicate order). Its personal data
//! ([`Contact`]) is kept apart so that it can be erased while the lead, its attempts and its
//! conversion stay.

mod input;
pub mod twin;

pub use input::{LeadInput, MAX_BODY_BYTES, is_country};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Stored, not yet accepted by the network: the retry job sends it.
    Queued,
    /// The network accepted it.
    Sent,
    /// The network refused it for good (bad phone, closed offer, bad parameters), or every
    /// attempt failed.
    Rejected,
    /// The network called it a duplicate order.
    Trash,
}

impl LeadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::Queued => "queued",
            LeadStatus::Sent => "sent",
            LeadStatus::Rejected => "rejected",
            LeadStatus::Trash => "trash",
        }
    }

    pub fn parse(s: &str) -> Option<LeadStatus> {
        [
            LeadStatus::Queued,
            LeadStatus::Sent,
            LeadStatus::Rejected,
            LeadStatus::Trash,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// The buyer's personal data: never logged, shown to the admin only, erased after the
/// configured number of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// What the network refused, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadError {
    /// Our classification: `duplicate`, `rejected`, `authentication`, `timeout`, `server`,
    /// `rate_limited`, `connection`, `gave_up`.
    pub kind: String,
    /// The network's own code (`438`, `8`...), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The network's text (secrets masked), or ours.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// `ld_` + a ULID.
    pub id: String,
    pub integration_id: String,
    pub network: String,
    pub offer_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub creative_id: String,
    /// Our click ID: attributes the lead and travels in the network's sub-ID field.
    pub click_id: String,
    pub status: LeadStatus,
    /// `None` once erased (see [`Lead::erase_contact`]).
    pub contact: Option<Contact>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    /// The network's order id (`eid`).
    pub network_order_id: Option<String>,
    /// The conversion the lead became once sent.
    pub conversion_id: Option<String>,
    pub error: Option<LeadError>,
    /// Whether status loading still asks the network about it: sent, and its conversion not
    /// final yet.
    #[serde(default)]
    pub open: bool,
    /// Sending attempts so far.
    pub attempts: u32,
    /// When the retry job may send it next (queued leads only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_erased_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version, kept by the store.
    #[serde(skip)]
    pub version: u64,
}

/// What the retry job waits after each failed attempt: at least 5 attempts over at least an
/// hour (here 8 attempts over 2 h 18 min), then the lead is given up as `rejected`.
pub const RETRY_DELAYS_MINUTES: [i64; 7] = [1, 2, 5, 10, 20, 40, 60];

/// Attempts before a lead is given up.
pub const MAX_ATTEMPTS: u32 = RETRY_DELAYS_MINUTES.len() as u32 + 1;

impl Lead {
    /// The delay before the next attempt after `attempts` failed ones; `None` to give up.
    pub fn retry_delay(attempts: u32) -> Option<chrono::Duration> {
        let i = usize::try_from(attempts.checked_sub(1)?).ok()?;
        RETRY_DELAYS_MINUTES
            .get(i)
            .map(|m| chrono::Duration::minutes(*m))
    }

    /// Whether a later status can still change it (sent leads follow their conversion).
    pub fn is_final(&self) -> bool {
        matches!(self.status, LeadStatus::Rejected | LeadStatus::Trash)
    }

    /// Drops the personal data; the rest stays.
    pub fn erase_contact(&mut self, now: DateTime<Utc>) {
        if self.contact.take().is_some() {
            self.contact_erased_at = Some(now);
            self.updated_at = now;
        }
    }
}

/// One sending attempt, as `GET /leads/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadAttempt {
    pub lead_id: String,
    /// 1 for the first.
    pub number: u32,
    pub at: DateTime<Utc>,
    /// The network's HTTP status; `None` when no answer came (timeout, connection).
    pub http_status: Option<u16>,
    /// `sent`, `duplicate`, `rejected`, `retry`.
    pub outcome: String,
    /// The network's reply (or our error), secrets masked, at most 2 KiB.
    pub reply: String,
    pub duration_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_cover_at_least_five_attempts_over_an_hour() {
        let mut total = chrono::Duration::zero();
        let mut attempts = 1;
        while let Some(delay) = Lead::retry_delay(attempts) {
            total += delay;
            attempts += 1;
        }
        assert_eq!(attempts, MAX_ATTEMPTS);
        assert!(attempts >= 5);
        assert!(total >= chrono::Duration::hours(1), "{total}");
        assert_eq!(Lead::retry_delay(0), None);
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["queued", "sent", "rejected", "trash"] {
            assert_eq!(LeadStatus::parse(s).unwrap().as_str(), s);
        }
        assert!(LeadStatus::parse("pending").is_none());
    }
}

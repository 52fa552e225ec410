//! `integration.silent` and `integration.recovered`: the silence watch's transitions (see
//! [`crate::health`]).

use super::{Event, EventType, Subject};
use crate::health::{Cause, SilenceState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

fn subject(integration_id: &str) -> Subject {
    Subject {
        integration_id: integration_id.to_string(),
        offer_id: None,
        message_id: None,
        creative_id: None,
    }
}

/// `integration.silent`: clicks, and no postback accepted for `silence_hours`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationSilent {
    #[serde(flatten)]
    pub subject: Subject,
    pub network: String,
    pub silence_hours: u32,
    /// When the check found it silent.
    pub silent_since: DateTime<Utc>,
    /// The first hour of the window read (no postback accepted from then on).
    pub no_postback_since: DateTime<Utc>,
    /// The troubleshooting cause the window's postbacks look like.
    pub cause: Cause,
}

/// `integration.recovered`: a postback was accepted again after `integration.silent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationRecovered {
    #[serde(flatten)]
    pub subject: Subject,
    pub network: String,
    pub silent_since: DateTime<Utc>,
    pub recovered_at: DateTime<Utc>,
}

impl Event {
    /// `integration.silent` for the state `silent` entered.
    pub fn integration_silent(
        id: String,
        integration_id: &str,
        network: &str,
        silence_hours: u32,
        no_postback_since: DateTime<Utc>,
        silent: &SilenceState,
    ) -> Event {
        let data = IntegrationSilent {
            subject: subject(integration_id),
            network: network.to_string(),
            silence_hours,
            silent_since: silent.since,
            no_postback_since,
            cause: silent.cause.unwrap_or(Cause::NoPostbacks),
        };
        Event::new(id, EventType::IntegrationSilent, silent.since, data)
    }

    /// `integration.recovered` for the silence `was` ending at `at`.
    pub fn integration_recovered(
        id: String,
        integration_id: &str,
        network: &str,
        was: &SilenceState,
        at: DateTime<Utc>,
    ) -> Event {
        let data = IntegrationRecovered {
            subject: subject(integration_id),
            network: network.to_string(),
            silent_since: was.since,
            recovered_at: at,
        };
        Event::new(id, EventType::IntegrationRecovered, at, data)
    }
}

//! Domain events: what changed, as one stable JSON envelope for the feed (`GET /events`), the
//! EventBridge bus and webhooks.
//!
//! `{id, type, version, time, data}`: `id` is a ULID (time-ordered; consumers dedupe on it, as
//! delivery is at least once), `type` names the schema of `data`, `version` is that schema's
//! version ([`SCHEMA_VERSION`]; fields are only ever added within a version). Every `data` has
//! `integration_id`, `offer_id`, `message_id` and `creative_id` (null when not known), and never
//! a credential, a postback token or a visitor's data (no sub values, IPs, comments).
//!
//! The type is open: [`Event::event_type`] is a string, so a reader meets kinds added later
//! as plain events; [`EventType`] lists the kinds this build writes.

mod data;
mod lead;
pub mod signature;
mod silence;

pub use data::{
    ChangeSource, ConversionAttributed, ConversionFacts, ConversionRecorded,
    ConversionStatusChanged, OfferSyncFinished, ReconciliationFinished, Subject,
};
pub use lead::{LeadFacts, LeadFailed, LeadSent};
pub use silence::{IntegrationRecovered, IntegrationSilent};

use crate::conversion::{ChangeKind, Conversion};
use crate::reconcile::{ReconRun, RunStatus};
use crate::sync_log::{SyncLog, SyncStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The version of every `data` schema this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The EventBridge `Source` of affnet's events.
pub const BUS_SOURCE: &str = "affnet";

/// The greatest event id that can have been made at or before `at` (ids are ULIDs): the
/// feed's upper bound.
pub fn last_id_at(at: DateTime<Utc>) -> String {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    ulid::Ulid::from_parts(millis, u128::MAX).to_string()
}

/// The kinds of events this build writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    ConversionRecorded,
    ConversionStatusChanged,
    ConversionAttributed,
    OfferSyncFinished,
    ReconciliationFinished,
    IntegrationSilent,
    IntegrationRecovered,
    LeadSent,
    LeadFailed,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::ConversionRecorded,
        EventType::ConversionStatusChanged,
        EventType::ConversionAttributed,
        EventType::OfferSyncFinished,
        EventType::ReconciliationFinished,
        EventType::IntegrationSilent,
        EventType::IntegrationRecovered,
        EventType::LeadSent,
        EventType::LeadFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConversionRecorded => "conversion.recorded",
            EventType::ConversionStatusChanged => "conversion.status_changed",
            EventType::ConversionAttributed => "conversion.attributed",
            EventType::OfferSyncFinished => "offer_sync.finished",
            EventType::ReconciliationFinished => "reconciliation.finished",
            EventType::IntegrationSilent => "integration.silent",
            EventType::IntegrationRecovered => "integration.recovered",
            EventType::LeadSent => "lead.sent",
            EventType::LeadFailed => "lead.failed",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event, as stored in the outbox and as every consumer gets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// A ULID: unique, and ordered by the time it was made.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    /// When the change happened.
    pub time: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl Event {
    /// An event of `event_type` with `data` (a payload of this module, so it serializes).
    pub fn new(
        id: String,
        event_type: EventType,
        time: DateTime<Utc>,
        data: impl Serialize,
    ) -> Event {
        Event {
            id,
            event_type: event_type.as_str().to_string(),
            version: SCHEMA_VERSION,
            time,
            data: serde_json::to_value(data).expect("event payloads serialize"),
        }
    }

    /// The kind, when this build knows it.
    pub fn kind(&self) -> Option<EventType> {
        EventType::parse(&self.event_type)
    }

    /// The events of a conversion's write: `previous` is the stored conversion it replaces
    /// (`None` for a new one). A change of status or payout is `conversion.status_changed`; a
    /// click attached to an unmatched conversion is `conversion.attributed` (both when one
    /// postback does both). `new_id` mints each event's id.
    pub fn for_conversion(
        previous: Option<&Conversion>,
        next: &Conversion,
        mut new_id: impl FnMut() -> String,
    ) -> Vec<Event> {
        let facts = ConversionFacts::of(next);
        let time = next.updated_at;
        let Some(previous) = previous else {
            let source = next.history.first().map(|e| e.source).unwrap_or_default();
            let data = ConversionRecorded::new(facts, next, source.into());
            return vec![Event::new(
                new_id(),
                EventType::ConversionRecorded,
                time,
                data,
            )];
        };
        let mut events = Vec::new();
        let entry = next
            .history
            .last()
            .filter(|_| next.history.len() > previous.history.len())
            .filter(|e| e.kind != ChangeKind::Created);
        if let Some(entry) = entry {
            let data = ConversionStatusChanged::new(facts.clone(), entry);
            events.push(Event::new(
                new_id(),
                EventType::ConversionStatusChanged,
                time,
                data,
            ));
        }
        if next.matched && !previous.matched {
            let data = ConversionAttributed::new(facts, next);
            events.push(Event::new(
                new_id(),
                EventType::ConversionAttributed,
                time,
                data,
            ));
        }
        events
    }

    /// `offer_sync.finished` for a sync log that has finished (`None` while it runs).
    pub fn offer_sync_finished(id: String, log: &SyncLog) -> Option<Event> {
        if log.status == SyncStatus::Running {
            return None;
        }
        let time = log.finished_at.unwrap_or(log.heartbeat_at);
        let data = OfferSyncFinished::of(log);
        Some(Event::new(id, EventType::OfferSyncFinished, time, data))
    }

    /// `reconciliation.finished` for a run that has finished (`None` while it runs).
    pub fn reconciliation_finished(id: String, run: &ReconRun) -> Option<Event> {
        if run.status == RunStatus::Running {
            return None;
        }
        let time = run.finished_at.unwrap_or(run.heartbeat_at);
        let data = ReconciliationFinished::of(run);
        Some(Event::new(
            id,
            EventType::ReconciliationFinished,
            time,
            data,
        ))
    }
}

#[cfg(test)]
mod tests;

//! `lead.sent` and `lead.failed`: a lead left the queue. Ids, the network's order id and its
//! refusal code only: never the buyer's data, nor the network's refusal text (networks echo
//! the phone or name they refused in it).

use super::{Event, EventType, Subject};
use crate::lead::{Lead, LeadStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What both lead events say of the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadFacts {
    #[serde(flatten)]
    pub subject: Subject,
    pub lead_id: String,
    pub network: String,
    /// Sending attempts it took.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

impl LeadFacts {
    fn of(lead: &Lead) -> LeadFacts {
        let known = |id: &str| Some(id.to_string()).filter(|s| !s.is_empty());
        LeadFacts {
            subject: Subject {
                integration_id: lead.integration_id.clone(),
                offer_id: known(&lead.offer_id),
                message_id: known(&lead.message_id),
                creative_id: known(&lead.creative_id),
            },
            lead_id: lead.id.clone(),
            network: lead.network.clone(),
            attempts: lead.attempts,
            created_at: lead.created_at,
        }
    }
}

/// `lead.sent`: the network took the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadSent {
    #[serde(flatten)]
    pub lead: LeadFacts,
    /// The network's order id (the conversion's `transaction_id`).
    pub network_order_id: Option<String>,
    /// The conversion the lead became (`pending`; its `conversion.*` events follow it).
    pub conversion_id: Option<String>,
}

/// `lead.failed`: the network refused the order for good, or every attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadFailed {
    #[serde(flatten)]
    pub lead: LeadFacts,
    /// `rejected`, or `trash` for a duplicate order.
    pub status: LeadStatus,
    /// Our classification of the last refusal (`rejected`, `duplicate`, `authentication`,
    /// `gave_up`...).
    pub reason: Option<String>,
    /// The network's own code, when it gave one (`438`, `8`...).
    pub code: Option<String>,
}

impl Event {
    /// The event of a lead's update from `current` to `next`: `lead.sent` or `lead.failed` when
    /// it leaves `queued`, nothing otherwise (a retry scheduled, contact erased, status loaded).
    pub fn for_lead(current: &Lead, next: &Lead, id: String) -> Option<Event> {
        if current.status != LeadStatus::Queued || next.status == LeadStatus::Queued {
            return None;
        }
        let lead = LeadFacts::of(next);
        let time = next.updated_at;
        Some(match next.status {
            LeadStatus::Sent => Event::new(
                id,
                EventType::LeadSent,
                time,
                LeadSent {
                    lead,
                    network_order_id: next.network_order_id.clone(),
                    conversion_id: next.conversion_id.clone(),
                },
            ),
            status => Event::new(
                id,
                EventType::LeadFailed,
                time,
                LeadFailed {
                    lead,
                    status,
                    reason: next.error.as_ref().map(|e| e.kind.clone()),
                    code: next.error.as_ref().and_then(|e| e.code.clone()),
                },
            ),
        })
    }
}

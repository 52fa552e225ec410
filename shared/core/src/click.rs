//! A stored click. The click ID already carries offer, message, creative and time (signed); the
//! record adds what the ID does not: integration, subs, IP and user agent.

use crate::conversion::Attribution;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Click {
    pub id: String,
    pub offer_id: String,
    pub integration_id: String,
    pub message_id: Option<String>,
    pub creative_id: Option<String>,
    /// `sub1`..`sub5` as sent; absent ones are left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subs: BTreeMap<String, String>,
    /// Whole seconds: the time inside the click ID.
    pub time: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Unix seconds after which the click (and its totals item) is gone.
    pub expires_at: i64,
}

impl Click {
    /// A click counts for its offer, message, creative and itself.
    pub fn attribution(&self) -> Attribution {
        Attribution {
            offer_id: Some(self.offer_id.clone()),
            message_id: self.message_id.clone(),
            creative_id: self.creative_id.clone(),
            click_id: Some(self.id.clone()),
        }
    }
}

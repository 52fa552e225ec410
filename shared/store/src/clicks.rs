//! Clicks: one item per click, `CLICK#<click id>` / `META`, expiring with the click TTL. The
//! click and its `clicks` counters (offer, message, creative, day, and the click's own totals)
//! are one atomic batch, so a report never counts a click that was not stored, nor the reverse.

use crate::port::{Condition, Item, Key, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use crate::totals::{Attribution, counter, totals_writes};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub fn click_key(click_id: &str) -> Key {
    Key::new(format!("CLICK#{click_id}"), "META")
}

/// One click as stored. The click ID already carries offer, message, creative and time (signed);
/// the record adds what the ID does not: integration, subs, IP and user agent.
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
    fn attribution(&self) -> Attribution {
        Attribution {
            offer_id: Some(self.offer_id.clone()),
            message_id: self.message_id.clone(),
            creative_id: self.creative_id.clone(),
            click_id: Some(self.id.clone()),
        }
    }
}

impl Repo {
    /// Stores a new click and counts it, in one batch. [`RepoError::Conflict`] if a click with
    /// this id exists (a click ID holds 64 random bits, so only a replayed write gets there).
    pub async fn record_click(&self, click: &Click) -> Result<(), RepoError> {
        let mut item = Item::new(click_key(&click.id), encode(click)?);
        item.expires_at = Some(click.expires_at);
        let mut writes = vec![Write::Put {
            item,
            when: Condition::Absent,
        }];
        writes.extend(totals_writes(
            &click.attribution(),
            click.time.date_naive(),
            &[(counter::CLICKS.to_string(), Decimal::ONE)],
            Some(click.expires_at),
        ));
        self.items().write(writes).await.map_err(|e| match e {
            crate::StoreError::ConditionFailed { .. } => RepoError::Conflict,
            other => RepoError::Store(other),
        })
    }

    /// The click, if stored and not expired.
    pub async fn get_click(&self, click_id: &str) -> Result<Option<Click>, RepoError> {
        match self.items().get(&click_key(click_id)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }
}

//! Clicks: one item per click, `CLICK#<click id>` / `META`, expiring with the click TTL. The
//! click and its `clicks` counters (offer, message, creative, day, and the click's own totals)
//! are one atomic batch, so a report never counts a click that was not stored, nor the reverse.

use crate::port::{Condition, Item, Key, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use crate::totals::{counter, totals_writes};
use affnet_core::Click;
use rust_decimal::Decimal;

pub fn click_key(click_id: &str) -> Key {
    Key::new(format!("CLICK#{click_id}"), "META")
}

impl Repo {
    /// Stores a new click and counts it, in one batch. [`RepoError::Conflict`] if a click with
    /// this id exists (a click ID holds 64 random bits, so only a replayed write gets there).
    pub async fn record_click(&self, click: &Click) -> Result<(), RepoError> {
        let writes = click_writes(click)?;
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

/// The click's put (if absent, first in the batch) and its counters.
pub(crate) fn click_writes(click: &Click) -> Result<Vec<Write>, RepoError> {
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
    Ok(writes)
}

//! Recording a postback: the conversion, its totals and the postback's log entry in one atomic
//! batch, exactly once however often and however concurrently the network delivers it.
//!
//! - **New conversion** (the common case): one batch of `Put conversion (absent)` + the totals
//!   `Add`s + the log entry. On DynamoDB that is one `TransactWriteItems`: one request.
//! - **Known conversion** (the put found the id taken): read it, [`decide`], then write the
//!   change as `Put conversion (version v)` + totals deltas (`leave(old) + enter(new)`) + log;
//!   a version conflict (a concurrent change) reads again, a bounded number of times. A
//!   duplicate or stale postback writes its log entry only.
//!
//! The id is derived from the identity key, so concurrent deliveries race on one item and the
//! store's condition picks exactly one winner; totals move only with a winning write.
//!
//! Attribution needs no read of the click: the click ID is signed and carries offer, message,
//! creative and time, so a postback that races ahead of the click write (or whose click record
//! has expired) is still attributed. A click ID that does not verify (or none) leaves the
//! conversion **unmatched**: kept, counted in the day's totals only. If a later postback for the
//! same identity carries a verified click, the conversion is attributed then and its counts move
//! to the offer, message, creative and click totals in the same batch.

use crate::state::AppState;
use affnet_core::Integration;
use affnet_core::conversion::{ChangeKind, Current, Incoming, NoOp, Outcome, decide};
use affnet_core::postback::{ClickCheck, Decision};
use affnet_store::conversions::{Conversion, conversion_item};
use affnet_store::postback_logs::{PostbackLog, postback_log_write};
use affnet_store::totals::{self, Attribution, counter};
use affnet_store::{Condition, Key, StoreError, Write};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Reads and writes tried for a known conversion before giving up (503: the network retries).
const MAX_ATTEMPTS: u32 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Created,
    /// Status or payout changed.
    Changed(ChangeKind),
    /// Only the click was attached to a so far unmatched conversion.
    Attributed,
    Duplicate,
    Stale,
}

impl RecordOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordOutcome::Created => "created",
            RecordOutcome::Changed(_) => "changed",
            RecordOutcome::Attributed => "attributed",
            RecordOutcome::Duplicate => "duplicate",
            RecordOutcome::Stale => "stale",
        }
    }
}

pub struct Recorded {
    pub conversion: Conversion,
    pub outcome: RecordOutcome,
    /// Parameters ignored because the network left its macro in place.
    pub unsubstituted: Vec<&'static str>,
}

/// `cv_` + the first 32 hex digits of SHA-256 of the identity key.
pub fn conversion_id(identity: &str) -> String {
    let digest = Sha256::digest(identity.as_bytes());
    format!("cv_{}", &hex::encode(digest)[..32])
}

/// Records `decision` for `integration`, with `log` (its outcome and conversion id are filled
/// here) in the same batch. Errors are storage failures: nothing of this postback was stored.
pub async fn record(
    state: &AppState,
    integration: &Integration,
    decision: &Decision,
    mut log: PostbackLog,
    now: DateTime<Utc>,
) -> Result<Recorded, StoreError> {
    let items = state.repo.items();
    let id = conversion_id(&decision.identity);
    let log_expiry = now.timestamp() + i64::from(state.config.postback_log_ttl_days) * 86_400;
    let click_ttl = i64::from(state.config.click_ttl_days) * 86_400;
    let currency = currency_of(integration, decision);
    let incoming = Incoming {
        currency: currency.as_deref(),
        ..Incoming::from(decision)
    };
    log.conversion_id = Some(id.clone());

    let Outcome::Create(entry) = decide(None, incoming, now) else {
        unreachable!("nothing stored decides a create")
    };
    let created = new_conversion(id.clone(), integration, decision, entry, now);
    let mut writes = vec![Write::Put {
        item: conversion_item(&created, 1)?,
        when: Condition::Absent,
    }];
    writes.extend(totals_move(None, Some(&created), click_ttl));
    writes.push(log_write(&log, RecordOutcome::Created, log_expiry)?);
    match items.write(writes).await {
        Ok(()) => {
            return Ok(Recorded {
                conversion: Conversion {
                    version: 1,
                    ..created
                },
                outcome: RecordOutcome::Created,
                unsubstituted: decision.unsubstituted.clone(),
            });
        }
        Err(StoreError::ConditionFailed { index: 0 }) => {}
        Err(e) => return Err(e),
    }

    for _ in 0..MAX_ATTEMPTS {
        let Some(current) = state.repo.get_conversion(&id).await.map_err(repo_error)? else {
            return Err(StoreError::Unavailable(format!(
                "conversion {id} was reported present but cannot be read"
            )));
        };
        let outcome = decide(
            Some(Current {
                status: current.status,
                payout: current.payout,
                currency: current.currency.as_deref(),
            }),
            incoming,
            now,
        );
        let attach = !current.matched && matches!(decision.click, ClickCheck::Verified(_));
        let (next, label) = match (&outcome, attach) {
            (Outcome::NoOp(noop), false) => {
                let label = match noop {
                    NoOp::Duplicate => RecordOutcome::Duplicate,
                    NoOp::Stale => RecordOutcome::Stale,
                };
                items
                    .write(vec![log_write(&log, label, log_expiry)?])
                    .await?;
                return Ok(Recorded {
                    conversion: current,
                    outcome: label,
                    unsubstituted: decision.unsubstituted.clone(),
                });
            }
            (Outcome::NoOp(_), true) => (
                changed(&current, decision, None, now),
                RecordOutcome::Attributed,
            ),
            (o, _) => {
                let entry = o.entry().cloned();
                let kind = entry.as_ref().map_or(ChangeKind::Payout, |e| e.kind);
                (
                    changed(&current, decision, entry, now),
                    RecordOutcome::Changed(kind),
                )
            }
        };
        let mut writes = vec![Write::Put {
            item: conversion_item(&next, current.version + 1)?,
            when: Condition::Version(current.version),
        }];
        writes.extend(totals_move(Some(&current), Some(&next), click_ttl));
        writes.push(log_write(&log, label, log_expiry)?);
        match items.write(writes).await {
            Ok(()) => {
                return Ok(Recorded {
                    conversion: Conversion {
                        version: current.version + 1,
                        ..next
                    },
                    outcome: label,
                    unsubstituted: decision.unsubstituted.clone(),
                });
            }
            // Changed concurrently: read it again.
            Err(StoreError::ConditionFailed { index: 0 }) => {
                let jitter = u64::from(Utc::now().timestamp_subsec_nanos() % 8);
                tokio::time::sleep(std::time::Duration::from_millis(2 + jitter)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable(format!(
        "conversion {id} kept changing concurrently ({MAX_ATTEMPTS} attempts)"
    )))
}

fn repo_error(e: affnet_store::RepoError) -> StoreError {
    match e {
        affnet_store::RepoError::Store(e) => e,
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// The postback's currency; a TUNE postback without one is in the integration's
/// `default_currency` (TUNE's null currency means the network's default). CPA networks: `None`
/// (the offer is not read on this path: a payout without currency is kept but not summed).
fn currency_of(integration: &Integration, decision: &Decision) -> Option<String> {
    if let Some(c) = decision.currency {
        return Some(c.to_string());
    }
    if integration.network == "tune" && decision.payout.is_some() {
        return integration
            .setting_str("default_currency")
            .and_then(affnet_core::money::currency)
            .map(str::to_string);
    }
    None
}

fn log_write(
    log: &PostbackLog,
    outcome: RecordOutcome,
    expires_at: i64,
) -> Result<Write, StoreError> {
    let log = PostbackLog {
        outcome: outcome.as_str().to_string(),
        ..log.clone()
    };
    postback_log_write(&log, expires_at).map_err(repo_error)
}

fn new_conversion(
    id: String,
    integration: &Integration,
    decision: &Decision,
    entry: affnet_core::conversion::HistoryEntry,
    now: DateTime<Utc>,
) -> Conversion {
    let mut conversion = Conversion {
        id,
        integration_id: integration.id.clone(),
        network: integration.network.clone(),
        identity: decision.identity.clone(),
        transaction_id: decision.transaction_id.clone(),
        click_id: decision.click_id.clone(),
        matched: false,
        unmatched_reason: None,
        offer_id: None,
        message_id: None,
        creative_id: None,
        click_time: None,
        goal_id: decision.goal_id.clone(),
        remote_offer_id: decision.remote_offer_id.clone(),
        status: entry.to,
        raw_status: decision.raw_status.clone(),
        payout: entry.payout_after,
        currency: entry.currency_after.clone(),
        sale_amount: decision.sale_amount,
        reason: decision.reason,
        duplicate: decision.duplicate,
        comment: decision.comment.clone(),
        test: decision.test,
        day: now.date_naive(),
        created_at: now,
        updated_at: now,
        history: vec![entry],
        version: 0,
    };
    attribute(&mut conversion, decision);
    conversion
}

/// Sets offer, message, creative and click from a verified click ID, or says why not.
fn attribute(conversion: &mut Conversion, decision: &Decision) {
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    match &decision.click {
        ClickCheck::Verified(claims) => {
            conversion.matched = true;
            conversion.unmatched_reason = None;
            conversion.click_id = decision.click_id.clone();
            conversion.offer_id = Some(claims.offer_id.to_string());
            conversion.message_id = nonempty(&claims.message_id);
            conversion.creative_id = nonempty(&claims.creative_id);
            conversion.click_time = i64::try_from(claims.time)
                .ok()
                .and_then(|t| DateTime::from_timestamp(t, 0));
        }
        ClickCheck::Invalid(e) => conversion.unmatched_reason = Some(e.code().to_string()),
        ClickCheck::Absent => conversion.unmatched_reason = Some("click_absent".to_string()),
    }
}

/// `current` after `decision`: the new state from `entry` (when the status or payout changed),
/// and the click attached when `current` was unmatched and the decision's click verifies.
fn changed(
    current: &Conversion,
    decision: &Decision,
    entry: Option<affnet_core::conversion::HistoryEntry>,
    now: DateTime<Utc>,
) -> Conversion {
    let mut next = current.clone();
    if let Some(entry) = entry {
        next.status = entry.to;
        next.payout = entry.payout_after;
        next.currency = entry.currency_after.clone();
        next.raw_status = decision.raw_status.clone();
        next.reason = decision.reason.or(current.reason);
        next.duplicate = decision.duplicate;
        next.comment = decision.comment.clone().or(next.comment);
        next.sale_amount = decision.sale_amount.or(next.sale_amount);
        next.history.push(entry);
    }
    if !current.matched && matches!(decision.click, ClickCheck::Verified(_)) {
        attribute(&mut next, decision);
    }
    next.updated_at = now;
    next
}

/// The totals `Add`s that take `old` out and put `new` in (either may be absent), merged per
/// item so that a batch never holds two writes on one key.
fn totals_move(old: Option<&Conversion>, new: Option<&Conversion>, click_ttl: i64) -> Vec<Write> {
    let mut writes = Vec::new();
    for (conversion, sign) in [(old, -Decimal::ONE), (new, Decimal::ONE)] {
        let Some(c) = conversion else { continue };
        let Some(attribution) = c.attribution() else {
            continue;
        };
        let mut deltas = totals::enter(c.status, c.payout, c.currency.as_deref());
        deltas.push((counter::CONVERSIONS.to_string(), Decimal::ONE));
        let deltas: Vec<_> = deltas.into_iter().map(|(n, d)| (n, d * sign)).collect();
        let expires = click_expiry(c, &attribution, click_ttl);
        writes.extend(totals::totals_writes(&attribution, c.day, &deltas, expires));
    }
    merge_adds(writes)
}

/// A click's totals expire with the click: its time plus the click TTL.
fn click_expiry(c: &Conversion, attribution: &Attribution, click_ttl: i64) -> Option<i64> {
    attribution.click_id.as_ref()?;
    c.click_time.map(|t| t.timestamp() + click_ttl)
}

/// Deltas gathered for one totals item, and its expiry.
type Merged = (Vec<(String, Decimal)>, Option<i64>);

fn merge_adds(writes: Vec<Write>) -> Vec<Write> {
    let mut order: Vec<Key> = Vec::new();
    let mut merged: BTreeMap<Key, Merged> = BTreeMap::new();
    for write in writes {
        if let Write::Add {
            key,
            deltas,
            expires_at,
        } = write
        {
            let slot = merged.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                (Vec::new(), None)
            });
            slot.0.extend(deltas);
            slot.1 = slot.1.max(expires_at);
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let (deltas, expires_at) = merged.remove(&key)?;
            let deltas = totals::combine(deltas);
            (!deltas.is_empty()).then_some(Write::Add {
                key,
                deltas,
                expires_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_short() {
        let a = conversion_id("INT|t|123|");
        assert_eq!(a, conversion_id("INT|t|123|"));
        assert_ne!(a, conversion_id("INT|t|124|"));
        assert_eq!(a.len(), 35);
        assert!(a.starts_with("cv_"));
    }
}

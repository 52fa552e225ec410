//! Conversions: the entity, who it counts for, and what a postback does to it.
//!
//! The status machine itself (ranks, stale, reversal...) is in [`machine`]; this module builds
//! and changes the stored record from a postback's [`Decision`].

mod machine;

pub use machine::*;

use crate::clickid::ClickClaims;
use crate::postback::{ClickCheck, Decision};
use crate::status::Status;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One conversion as stored. Money is decimal; `currency` is the postback's (TUNE: else the
/// integration's `default_currency`), `None` when the network sent none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    /// `cv_` + 32 hex of SHA-256 of `identity`: the same postback always lands on one id.
    pub id: String,
    pub integration_id: String,
    pub network: String,
    /// The exactly-once key ([`Decision::identity`]).
    pub identity: String,
    /// The network's id of the conversion (`eid`, TUNE `transaction_id`).
    pub transaction_id: Option<String>,
    /// The click ID as sent, verified or not.
    pub click_id: Option<String>,
    /// Whether `click_id` verified as ours: attributed to offer, message and creative.
    pub matched: bool,
    /// Why it is unmatched (`click_id_signature`, `click_absent`...).
    pub unmatched_reason: Option<String>,
    pub offer_id: Option<String>,
    pub message_id: Option<String>,
    pub creative_id: Option<String>,
    /// When the click happened (from the signed click ID).
    pub click_time: Option<DateTime<Utc>>,
    pub goal_id: Option<String>,
    pub remote_offer_id: Option<String>,
    pub status: Status,
    pub raw_status: String,
    pub payout: Option<Decimal>,
    pub currency: Option<String>,
    pub sale_amount: Option<Decimal>,
    pub reason: Option<u32>,
    pub duplicate: bool,
    pub comment: Option<String>,
    /// TUNE's test conversions: kept, never counted in totals.
    pub test: bool,
    /// UTC day of creation: the conversion's totals stay on this day whatever happens later.
    pub day: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub history: Vec<HistoryEntry>,
    /// Optimistic-concurrency version, kept by the store.
    #[serde(skip)]
    pub version: u64,
}

/// Who a click or conversion counts for. An unmatched conversion has no offer and no click: it
/// counts only in the day's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    pub offer_id: Option<String>,
    pub message_id: Option<String>,
    pub creative_id: Option<String>,
    pub click_id: Option<String>,
}

/// `cv_` + the first 32 hex digits of SHA-256 of the identity key.
pub fn conversion_id(identity: &str) -> String {
    let digest = Sha256::digest(identity.as_bytes());
    format!("cv_{}", &hex::encode(digest)[..32])
}

/// What a postback does to a stored conversion (see [`Conversion::apply`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Nothing changes: a duplicate or a stale postback.
    Unchanged(NoOp),
    /// Status or payout changed (the click may have been attached too).
    Changed(Conversion, ChangeKind),
    /// Only the click was attached to a so far unmatched conversion.
    Attributed(Conversion),
}

impl Conversion {
    /// A new conversion from a postback's decision, in `currency` (the decision's, or the
    /// integration's default), with its `Created` history entry.
    pub fn create(
        integration_id: &str,
        network: &str,
        decision: &Decision,
        currency: Option<&str>,
        now: DateTime<Utc>,
    ) -> Conversion {
        let incoming = Incoming {
            currency,
            ..Incoming::from(decision)
        };
        let Outcome::Create(entry) = decide(None, incoming, now) else {
            unreachable!("nothing stored decides a create")
        };
        let mut conversion = Conversion {
            id: conversion_id(&decision.identity),
            integration_id: integration_id.to_string(),
            network: network.to_string(),
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
        conversion.attribute(&decision.click, decision.click_id.as_deref());
        conversion
    }

    /// What `decision` (in `currency`) does to this stored conversion: the status machine, plus
    /// attaching a verified click to an unmatched conversion.
    pub fn apply(
        &self,
        decision: &Decision,
        currency: Option<&str>,
        now: DateTime<Utc>,
    ) -> Applied {
        let incoming = Incoming {
            currency,
            ..Incoming::from(decision)
        };
        let current = Current {
            status: self.status,
            payout: self.payout,
            currency: self.currency.as_deref(),
        };
        let attach = !self.matched && matches!(decision.click, ClickCheck::Verified(_));
        let outcome = decide(Some(current), incoming, now);
        let entry = match (outcome, attach) {
            (Outcome::NoOp(noop), false) => return Applied::Unchanged(noop),
            (Outcome::NoOp(_), true) => None,
            (o, _) => o.entry().cloned(),
        };
        let mut next = self.clone();
        let kind = entry.as_ref().map(|e| e.kind);
        if let Some(entry) = entry {
            next.status = entry.to;
            next.payout = entry.payout_after;
            next.currency = entry.currency_after.clone();
            next.raw_status = decision.raw_status.clone();
            next.reason = decision.reason.or(self.reason);
            next.duplicate = decision.duplicate;
            next.comment = decision.comment.clone().or(next.comment);
            next.sale_amount = decision.sale_amount.or(next.sale_amount);
            next.history.push(entry);
        }
        if attach {
            next.attribute(&decision.click, decision.click_id.as_deref());
        }
        next.updated_at = now;
        match kind {
            Some(kind) => Applied::Changed(next, kind),
            None => Applied::Attributed(next),
        }
    }

    /// Sets offer, message, creative and click from a verified click ID, or says why not.
    fn attribute(&mut self, click: &ClickCheck, click_id: Option<&str>) {
        match click {
            ClickCheck::Verified(claims) => self.attach(claims, click_id),
            ClickCheck::Invalid(e) => self.unmatched_reason = Some(e.code().to_string()),
            ClickCheck::Absent => self.unmatched_reason = Some("click_absent".to_string()),
        }
    }

    fn attach(&mut self, claims: &ClickClaims, click_id: Option<&str>) {
        let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        self.matched = true;
        self.unmatched_reason = None;
        self.click_id = click_id.map(str::to_string);
        self.offer_id = Some(claims.offer_id.to_string());
        // A handle that could not be resolved counts for the offer and the click only.
        let labels = claims.labels();
        self.message_id = labels.and_then(|l| nonempty(&l.message_id));
        self.creative_id = labels.and_then(|l| nonempty(&l.creative_id));
        self.click_time = i64::try_from(claims.time)
            .ok()
            .and_then(|t| DateTime::from_timestamp(t, 0));
    }

    /// Who this conversion counts for: nobody for a test, the day only while unmatched.
    pub fn attribution(&self) -> Option<Attribution> {
        if self.test {
            return None;
        }
        if !self.matched {
            return Some(Attribution::default());
        }
        Some(Attribution {
            offer_id: self.offer_id.clone(),
            message_id: self.message_id.clone(),
            creative_id: self.creative_id.clone(),
            click_id: self.click_id.clone(),
        })
    }
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

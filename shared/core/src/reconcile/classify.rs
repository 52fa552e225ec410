//! The pure part of classification: a TUNE conversion against the ledger's, and pairs of TUNE
//! conversions for one click and goal.
//!
//! **Pairs.** Seed 002 says of TUNE: failed syncs are retried and leave several copies of one
//! conversion, and late corrections reject the old conversion and create a new one with new
//! attribution. Both show as two TUNE conversions (two transaction IDs) for one click and goal:
//! both live is a **duplicate at TUNE** (counted once), one rejected and one live is **rejected
//! and recreated** (linked; the revenue is counted on the live one, since the rejected one earns
//! nothing). [`Pairs`] remembers, per click and goal seen in a run, a 64-bit hash of the first
//! transaction ID and whether it is rejected: a 16-byte entry per TUNE conversion with a click ID
//! (in a table sized once from the report's row count), the part of a run's memory that grows
//! with the number of conversions, with the 8-byte ids of the ledger conversions TUNE reported.

use super::Class;
use super::row::TuneConversion;
use crate::conversion::Conversion;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// How the ledger's conversion compares with TUNE's: `Matched`, `StatusDiffers` (the status,
/// maybe the payout too) or `PayoutDiffers` (same status; payout or currency). `currency` is the
/// one the conversion would be stored in (TUNE's, else the integration's default). TUNE sending
/// no payout compares equal on payout.
pub fn compare(ours: &Conversion, tune: &TuneConversion, currency: Option<&str>) -> Class {
    if ours.status != tune.status {
        return Class::StatusDiffers;
    }
    let payout_same = match tune.payout {
        None => true,
        Some(p) => ours.payout == Some(p) && ours.currency.as_deref() == currency,
    };
    if payout_same {
        Class::Matched
    } else {
        Class::PayoutDiffers
    }
}

/// What a TUNE conversion is to an earlier one of the same click and goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Both live (or both rejected): a copy.
    Duplicate,
    /// One rejected, one live.
    Recreated,
}

/// One of the two, for a ledger conversion and a TUNE one (or two TUNE ones).
pub fn pairing(first_rejected: bool, second_rejected: bool) -> Pairing {
    if first_rejected == second_rejected {
        Pairing::Duplicate
    } else {
        Pairing::Recreated
    }
}

/// The first transaction of a click and goal: a 64-bit hash of its id with the lowest bit
/// replaced by "rejected", so an entry of [`Pairs`] is 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen(u64);

impl Seen {
    fn new(transaction: u64, rejected: bool) -> Seen {
        Seen((transaction & !1) | u64::from(rejected))
    }

    fn rejected(self) -> bool {
        self.0 & 1 == 1
    }

    fn same_transaction(self, transaction: u64) -> bool {
        (self.0 ^ transaction) & !1 == 0
    }
}

/// The keys of [`Pairs`] are already 64-bit hashes: hashing them again would only cost time.
#[derive(Debug, Default, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The TUNE conversions with a click ID seen so far in a run, by click and goal.
#[derive(Debug, Default)]
pub struct Pairs {
    seen: HashMap<u64, Seen, BuildHasherDefault<PreHashed>>,
}

/// A 64-bit hash with fixed keys (`DefaultHasher::new`), so a run's pairs do not depend on a
/// random seed.
fn hash_of(parts: &[&str]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

impl Pairs {
    /// Room for `additional` more click and goal pairs without growing (TUNE says how many
    /// rows a report has on its first page: one allocation instead of doubling).
    pub fn reserve(&mut self, additional: usize) {
        self.seen.reserve(additional);
    }

    /// Records `tune` and says what it is to the first conversion seen for its click and goal
    /// (`None`: the first, itself, or no click ID). A recreated pair then remembers the live one.
    pub fn observe(&mut self, tune: &TuneConversion) -> Option<Pairing> {
        let click = tune.click_id.as_deref()?;
        let key = hash_of(&[click, tune.goal_id.as_deref().unwrap_or("")]);
        let transaction = hash_of(&[tune.transaction_id.as_deref().unwrap_or("")]);
        let rejected = tune.is_rejected();
        let Some(first) = self.seen.get_mut(&key) else {
            self.seen.insert(key, Seen::new(transaction, rejected));
            return None;
        };
        if first.same_transaction(transaction) {
            return None;
        }
        let pairing = pairing(first.rejected(), rejected);
        if pairing == Pairing::Recreated && first.rejected() {
            *first = Seen::new(transaction, rejected);
        }
        Some(pairing)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    fn tune(txn: &str, click: Option<&str>, status: Status) -> TuneConversion {
        TuneConversion {
            transaction_id: Some(txn.into()),
            event_id: None,
            click_id: click.map(str::to_string),
            goal_id: None,
            remote_offer_id: Some("26".into()),
            status,
            raw_status: status.as_str().into(),
            payout: Some("15".parse().unwrap()),
            currency: Some("USD"),
            sale_amount: None,
            at: chrono::Utc::now(),
            local: chrono::Utc::now().naive_utc(),
        }
    }

    #[test]
    fn retry_copies_and_recreations() {
        let mut pairs = Pairs::default();
        assert_eq!(
            pairs.observe(&tune("A", Some("c1"), Status::Approved)),
            None
        );
        // The same conversion again (e.g. on a later page) is not a pair.
        assert_eq!(
            pairs.observe(&tune("A", Some("c1"), Status::Approved)),
            None
        );
        assert_eq!(
            pairs.observe(&tune("B", Some("c1"), Status::Approved)),
            Some(Pairing::Duplicate)
        );
        // Rejected, then recreated: linked; a later copy of the new one is a duplicate of it.
        assert_eq!(
            pairs.observe(&tune("R", Some("c2"), Status::Rejected)),
            None
        );
        assert_eq!(
            pairs.observe(&tune("N", Some("c2"), Status::Pending)),
            Some(Pairing::Recreated)
        );
        assert_eq!(
            pairs.observe(&tune("N2", Some("c2"), Status::Approved)),
            Some(Pairing::Duplicate)
        );
        // Without a click ID nothing pairs.
        assert_eq!(pairs.observe(&tune("X", None, Status::Approved)), None);
        assert_eq!(pairs.len(), 2);
    }
}

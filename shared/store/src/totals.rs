//! Totals: decimal counters per (dimension, day, value) and per click, changed only by atomic
//! `Write::Add`s inside the same batch as the click or conversion that causes them.
//!
//! Keys: `TOT#<dimension>#<shard>` / `<YYYY-MM-DD>#<value>`, and `CLICK#<click id>` / `TOTALS`
//! for a click's own totals. A missing message or creative is counted under [`NONE`].
//!
//! Sharding: DynamoDB serves about 1,000 writes/s per item and partition, and cancels a
//! transaction that finds one of its items in another transaction, so no counter may take every
//! click. A click counts in the shard its id picks ([`shard_of`]), a conversion in the shard of
//! its id (both its leave and enter deltas: one shard, merged into one write per item). An item
//! that takes a share of *all* traffic (the day, a `~` value) has [`WIDE_SHARDS`]; an offer's,
//! message's or creative's has [`NARROW_SHARDS`]. A report queries every shard partition of the
//! dimension at once and sums (see [`crate::reports`]).
//!
//! Counters (see [`counter`]): `clicks`, `conversions`, `count.<status>` and
//! `revenue.<status>.<CURRENCY>` (revenue is kept per currency: amounts in different currencies
//! are never added together).

use crate::port::{Key, Write};
use affnet_core::{Attribution, Conversion, Status};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The value counted when a click or conversion has no message or creative. Not a valid id
/// (ids are `[A-Za-z0-9_-]`), so it never collides with one.
pub const NONE: &str = "~";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Offer,
    Message,
    Creative,
    Day,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Offer,
        Dimension::Message,
        Dimension::Creative,
        Dimension::Day,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Offer => "offer",
            Dimension::Message => "message",
            Dimension::Creative => "creative",
            Dimension::Day => "day",
        }
    }

    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

pub mod counter {
    use affnet_core::Status;

    pub const CLICKS: &str = "clicks";
    pub const CONVERSIONS: &str = "conversions";

    pub fn count(status: Status) -> String {
        format!("count.{}", status.as_str())
    }

    pub fn revenue(status: Status, currency: &str) -> String {
        format!("revenue.{}.{currency}", status.as_str())
    }
}

pub fn day_string(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Shards of an item that takes a share of all traffic (the day; `~`, no message or creative):
/// at 12,000 writes/s in all (10,000 clicks and 2,000 postbacks), about 47 a second each, so the
/// busiest second of the busiest shard stays under 100 (see the README's key-heat figures).
pub const WIDE_SHARDS: u32 = 256;
/// Shards of an offer's, message's or creative's item: an offer taking 20% of that traffic puts
/// about 38 writes/s on each. Fewer than wide: a report reads up to this many items per value
/// and day.
pub const NARROW_SHARDS: u32 = 64;

/// The shard (below `shards`) that `id` picks: FNV-1a, stable across builds and platforms.
pub fn shard_of(id: &str, shards: u32) -> u32 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % u64::from(shards.max(1))) as u32
}

/// Shards of the item of `value` in `dimension`.
fn shards_for(dimension: Dimension, value: &str) -> u32 {
    match (dimension, value) {
        (Dimension::Day, _) | (_, NONE) => WIDE_SHARDS,
        _ => NARROW_SHARDS,
    }
}

/// Shard partitions a report on `dimension` reads: offers are never `~`.
pub fn dimension_shards(dimension: Dimension) -> u32 {
    match dimension {
        Dimension::Offer => NARROW_SHARDS,
        _ => WIDE_SHARDS,
    }
}

pub fn totals_pk(dimension: Dimension, shard: u32) -> String {
    format!("TOT#{}#{shard}", dimension.as_str())
}

/// The partition key of the unsharded layout (before sharding), read only by the migration.
pub fn unsharded_totals_pk(dimension: Dimension) -> String {
    format!("TOT#{}", dimension.as_str())
}

fn totals_sk(dimension: Dimension, day: NaiveDate, value: Option<&str>) -> (String, &str) {
    let day = day_string(day);
    match dimension {
        Dimension::Day => (day, NONE),
        _ => {
            let value = value.filter(|v| !v.is_empty()).unwrap_or(NONE);
            (format!("{day}#{value}"), value)
        }
    }
}

/// The totals item of `dimension` for `day` in the shard `shard_by` (a click or conversion id)
/// picks; `value` is ignored for [`Dimension::Day`].
pub fn totals_key(
    dimension: Dimension,
    day: NaiveDate,
    value: Option<&str>,
    shard_by: &str,
) -> Key {
    let (sk, value) = totals_sk(dimension, day, value);
    let shard = shard_of(shard_by, shards_for(dimension, value));
    Key::new(totals_pk(dimension, shard), sk)
}

/// Every shard's item of `dimension`, `day` and `value`: what one value's totals are summed from.
pub fn totals_keys(dimension: Dimension, day: NaiveDate, value: Option<&str>) -> Vec<Key> {
    let (sk, value) = totals_sk(dimension, day, value);
    (0..shards_for(dimension, value))
        .map(|shard| Key::new(totals_pk(dimension, shard), sk.clone()))
        .collect()
}

pub fn click_totals_key(click_id: &str) -> Key {
    Key::new(format!("CLICK#{click_id}"), "TOTALS")
}

/// The `Add` writes that count `deltas` for `attribution` on `day`: the day always; offer,
/// message and creative when the offer is known; the click's own totals when the click is. The
/// shared items are the shards `shard_by` (the click or conversion id) picks. Empty `deltas`
/// give no writes.
pub fn totals_writes(
    attribution: &Attribution,
    day: NaiveDate,
    deltas: &[(String, Decimal)],
    expires_at: Option<i64>,
    shard_by: &str,
) -> Vec<Write> {
    let deltas: Vec<(String, Decimal)> = deltas
        .iter()
        .filter(|(_, d)| !d.is_zero())
        .cloned()
        .collect();
    if deltas.is_empty() {
        return Vec::new();
    }
    let add = |key: Key, expires_at: Option<i64>| Write::Add {
        key,
        deltas: deltas.clone(),
        expires_at,
    };
    let key = |dimension, value: Option<&str>| totals_key(dimension, day, value, shard_by);
    let mut writes = vec![add(key(Dimension::Day, None), None)];
    if let Some(offer) = &attribution.offer_id {
        writes.push(add(key(Dimension::Offer, Some(offer)), None));
        let message = attribution.message_id.as_deref();
        writes.push(add(key(Dimension::Message, message), None));
        let creative = attribution.creative_id.as_deref();
        writes.push(add(key(Dimension::Creative, creative), None));
    }
    if let Some(click) = &attribution.click_id {
        // A click's totals expire with the click.
        writes.push(add(click_totals_key(click), expires_at));
    }
    writes
}

/// Counter deltas for a conversion entering `status` with `payout` in `currency`.
pub fn enter(
    status: Status,
    payout: Option<Decimal>,
    currency: Option<&str>,
) -> Vec<(String, Decimal)> {
    let mut deltas = vec![(counter::count(status), Decimal::ONE)];
    if let (Some(payout), Some(currency)) = (payout, currency) {
        deltas.push((counter::revenue(status, currency), payout));
    }
    deltas
}

/// Counter deltas for a conversion leaving `status` (the negation of [`enter`]).
pub fn leave(
    status: Status,
    payout: Option<Decimal>,
    currency: Option<&str>,
) -> Vec<(String, Decimal)> {
    negate(enter(status, payout, currency))
}

fn negate(deltas: Vec<(String, Decimal)>) -> Vec<(String, Decimal)> {
    deltas.into_iter().map(|(name, d)| (name, -d)).collect()
}

/// Sums deltas by counter name (a status change within one status gives +x and -y on one name).
pub fn combine(parts: impl IntoIterator<Item = (String, Decimal)>) -> Vec<(String, Decimal)> {
    let mut sums = BTreeMap::<String, Decimal>::new();
    for (name, d) in parts {
        *sums.entry(name).or_default() += d;
    }
    sums.into_iter().filter(|(_, d)| !d.is_zero()).collect()
}

/// The deltas of a conversion entering (or leaving) the totals: one conversion, its status
/// count and its revenue.
fn conversion_deltas(c: &Conversion, leaving: bool) -> Vec<(String, Decimal)> {
    let (mut deltas, one) = match leaving {
        false => (
            enter(c.status, c.payout, c.currency.as_deref()),
            Decimal::ONE,
        ),
        true => (
            leave(c.status, c.payout, c.currency.as_deref()),
            -Decimal::ONE,
        ),
    };
    deltas.push((counter::CONVERSIONS.to_string(), one));
    deltas
}

/// The totals `Add`s that take `old` out (`leave`) and put `new` in (`enter`); either may be
/// absent. Merged per item, so a batch never holds two writes on one key, and a change that nets
/// out on an item writes nothing there. A click's totals expire with the click (its time plus
/// `click_ttl_secs`).
pub fn conversion_moves(
    old: Option<&Conversion>,
    new: Option<&Conversion>,
    click_ttl_secs: i64,
) -> Vec<Write> {
    let mut writes = Vec::new();
    for (conversion, leaving) in [(old, true), (new, false)] {
        let Some(c) = conversion else { continue };
        let Some(attribution) = c.attribution() else {
            continue;
        };
        let deltas = conversion_deltas(c, leaving);
        let expires = attribution
            .click_id
            .as_ref()
            .and(c.click_time)
            .map(|t| t.timestamp() + click_ttl_secs);
        writes.extend(totals_writes(&attribution, c.day, &deltas, expires, &c.id));
    }
    merge_adds(writes)
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
            let deltas = combine(deltas);
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

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    #[test]
    fn keys_put_each_dimension_shard_in_its_own_partition_sorted_by_day() {
        let by = "C1";
        let narrow = shard_of(by, NARROW_SHARDS);
        let wide = shard_of(by, WIDE_SHARDS);
        assert_eq!(
            totals_key(Dimension::Offer, day(), Some("01ABC"), by),
            Key::new(format!("TOT#offer#{narrow}"), "2026-11-30#01ABC")
        );
        assert_eq!(
            totals_key(Dimension::Message, day(), None, by),
            Key::new(format!("TOT#message#{wide}"), "2026-11-30#~")
        );
        assert_eq!(
            totals_key(Dimension::Day, day(), Some("ignored"), by),
            Key::new(format!("TOT#day#{wide}"), "2026-11-30")
        );
        let keys = totals_keys(Dimension::Offer, day(), Some("01ABC"));
        assert_eq!(keys.len(), NARROW_SHARDS as usize);
        assert!(keys.contains(&totals_key(Dimension::Offer, day(), Some("01ABC"), by)));
        assert_eq!(totals_keys(Dimension::Day, day(), None).len(), 256);
    }

    #[test]
    fn shards_are_stable_and_spread() {
        // FNV-1a of "C1": fixed forever (stored keys depend on it).
        assert_eq!((shard_of("C1", 256), shard_of("C1", 64)), (57, 57));
        let mut hits = vec![0u32; WIDE_SHARDS as usize];
        for i in 0..25_600 {
            hits[shard_of(&format!("cv_{i:032x}"), WIDE_SHARDS) as usize] += 1;
        }
        assert!(hits.iter().all(|&n| (50..=150).contains(&n)), "{hits:?}");
    }

    #[test]
    fn unmatched_conversions_count_only_in_the_day() {
        let deltas = enter(Status::Approved, Some(Decimal::TEN), Some("USD"));
        let writes = totals_writes(&Attribution::default(), day(), &deltas, None, "cv");
        assert_eq!(writes.len(), 1);
        let full = Attribution {
            offer_id: Some("O".into()),
            message_id: Some("m".into()),
            creative_id: None,
            click_id: Some("C".into()),
        };
        assert_eq!(totals_writes(&full, day(), &deltas, Some(5), "C").len(), 5);
        assert!(totals_writes(&full, day(), &[], None, "C").is_empty());
    }

    #[test]
    fn a_payout_change_within_a_status_nets_out() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let deltas = combine(
            leave(Status::Approved, Some(d("10")), Some("USD"))
                .into_iter()
                .chain(enter(Status::Approved, Some(d("12.5")), Some("USD"))),
        );
        assert_eq!(deltas, vec![("revenue.approved.USD".to_string(), d("2.5"))]);
    }
}

//! Totals: decimal counters per (dimension, day, value) and per click, changed only by atomic
//! `Write::Add`s inside the same batch as the click or conversion that causes them.
//!
//! Keys: `TOT#<dimension>` / `<YYYY-MM-DD>#<value>` (one partition per dimension, so a report
//! over a date range is one query on a sort-key range), and `CLICK#<click id>` / `TOTALS` for a
//! click's own totals. A missing message or creative is counted under [`NONE`].
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

pub fn totals_pk(dimension: Dimension) -> String {
    format!("TOT#{}", dimension.as_str())
}

/// The totals item of `dimension` for `day`; `value` is ignored for [`Dimension::Day`].
pub fn totals_key(dimension: Dimension, day: NaiveDate, value: Option<&str>) -> Key {
    let day = day_string(day);
    let sk = match dimension {
        Dimension::Day => day,
        _ => format!("{day}#{}", value.filter(|v| !v.is_empty()).unwrap_or(NONE)),
    };
    Key::new(totals_pk(dimension), sk)
}

pub fn click_totals_key(click_id: &str) -> Key {
    Key::new(format!("CLICK#{click_id}"), "TOTALS")
}

/// The `Add` writes that count `deltas` for `attribution` on `day`: the day always; offer,
/// message and creative when the offer is known; the click's own totals when the click is.
/// Empty `deltas` give no writes.
pub fn totals_writes(
    attribution: &Attribution,
    day: NaiveDate,
    deltas: &[(String, Decimal)],
    expires_at: Option<i64>,
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
    let mut writes = vec![add(totals_key(Dimension::Day, day, None), None)];
    if let Some(offer) = &attribution.offer_id {
        writes.push(add(totals_key(Dimension::Offer, day, Some(offer)), None));
        writes.push(add(
            totals_key(Dimension::Message, day, attribution.message_id.as_deref()),
            None,
        ));
        writes.push(add(
            totals_key(Dimension::Creative, day, attribution.creative_id.as_deref()),
            None,
        ));
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
        writes.extend(totals_writes(&attribution, c.day, &deltas, expires));
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
    fn keys_put_each_dimension_in_its_own_partition_sorted_by_day() {
        assert_eq!(
            totals_key(Dimension::Offer, day(), Some("01ABC")),
            Key::new("TOT#offer", "2026-11-30#01ABC")
        );
        assert_eq!(
            totals_key(Dimension::Message, day(), None),
            Key::new("TOT#message", "2026-11-30#~")
        );
        assert_eq!(
            totals_key(Dimension::Day, day(), Some("ignored")),
            Key::new("TOT#day", "2026-11-30")
        );
    }

    #[test]
    fn unmatched_conversions_count_only_in_the_day() {
        let deltas = enter(Status::Approved, Some(Decimal::TEN), Some("USD"));
        let writes = totals_writes(&Attribution::default(), day(), &deltas, None);
        assert_eq!(writes.len(), 1);
        let full = Attribution {
            offer_id: Some("O".into()),
            message_id: Some("m".into()),
            creative_id: None,
            click_id: Some("C".into()),
        };
        assert_eq!(totals_writes(&full, day(), &deltas, Some(5)).len(), 5);
        assert!(totals_writes(&full, day(), &[], None).is_empty());
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

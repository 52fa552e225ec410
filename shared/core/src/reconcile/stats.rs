//! `getStats` against the ledger: per TUNE offer, network-time day and currency, the approved
//! conversions and their payout. TUNE counts approved conversions; the ledger's side counts
//! approved and hold (approved, not yet paid) conversions of the integration, by the network-time
//! day they were recorded on, test conversions excluded. Amounts in different currencies are
//! never added: the currency is part of the key.

use crate::conversion::Conversion;
use crate::money;
use crate::status::Status;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Stats differences kept in a run record; more are only counted.
pub const MAX_LISTED: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StatsKey {
    /// TUNE's offer id (`""` when unknown).
    pub remote_offer_id: String,
    /// The day in the network's time zone.
    pub date: NaiveDate,
    pub currency: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub conversions: u64,
    pub payout: Decimal,
}

impl Figures {
    pub fn add(&mut self, other: Figures) {
        self.conversions += other.conversions;
        self.payout += other.payout;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsDifference {
    #[serde(flatten)]
    pub key: StatsKey,
    pub tune: Figures,
    pub ours: Figures,
}

/// A `getStats` row's key and figures; `default_currency` stands in for an empty currency.
pub fn read_stats_row(
    offer: Option<&str>,
    date: Option<&str>,
    currency: Option<&str>,
    conversions: Option<&str>,
    payout: Option<&str>,
    default_currency: &str,
) -> Result<(StatsKey, Figures), String> {
    let date = date
        .and_then(|d| NaiveDate::from_str(d).ok())
        .ok_or_else(|| format!("stats row without a valid Stat.date ({date:?})"))?;
    let currency = match currency {
        None => default_currency.to_string(),
        Some(c) => money::currency(c)
            .ok_or_else(|| format!("stats row with an unknown currency `{c}`"))?
            .to_string(),
    };
    let conversions = conversions
        .unwrap_or("0")
        .parse::<u64>()
        .map_err(|_| format!("stats row with a bad Stat.conversions ({conversions:?})"))?;
    let payout = payout
        .map(|p| {
            Decimal::from_str(p.trim())
                .map_err(|_| format!("stats row with a bad Stat.payout `{p}`"))
        })
        .transpose()?
        .unwrap_or_default();
    Ok((
        StatsKey {
            remote_offer_id: offer.unwrap_or("").to_string(),
            date,
            currency,
        },
        Figures {
            conversions,
            payout: payout.normalize(),
        },
    ))
}

/// What a ledger conversion adds to its stats row: `None` when it does not count (a test, or
/// not approved or hold).
pub fn figures_of(c: &Conversion) -> Option<Figures> {
    if c.test || !matches!(c.status, Status::Approved | Status::Hold) {
        return None;
    }
    Some(Figures {
        conversions: 1,
        payout: c.payout.unwrap_or_default(),
    })
}

/// The rows where TUNE and the ledger disagree (a row missing on one side counts as zero).
pub fn compare_stats(
    tune: &BTreeMap<StatsKey, Figures>,
    ours: &BTreeMap<StatsKey, Figures>,
) -> Vec<StatsDifference> {
    let mut keys: Vec<&StatsKey> = tune.keys().chain(ours.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let t = tune.get(key).copied().unwrap_or_default();
            let o = ours.get(key).copied().unwrap_or_default();
            let same =
                t.conversions == o.conversions && t.payout.normalize() == o.payout.normalize();
            (!same).then(|| StatsDifference {
                key: key.clone(),
                tune: t,
                ours: o,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_compare_per_currency_and_missing_sides_count_zero() {
        let (k1, f1) = read_stats_row(
            Some("26"),
            Some("2026-11-30"),
            None,
            Some("2"),
            Some("30.00000"),
            "USD",
        )
        .unwrap();
        let (k2, f2) = read_stats_row(
            Some("26"),
            Some("2026-11-30"),
            Some("eur"),
            Some("1"),
            Some("9.5"),
            "USD",
        )
        .unwrap();
        assert_eq!(k1.currency, "USD");
        assert_eq!(k2.currency, "EUR");
        let tune = BTreeMap::from([(k1.clone(), f1), (k2.clone(), f2)]);
        let mut ours = BTreeMap::new();
        ours.insert(
            k1.clone(),
            Figures {
                conversions: 2,
                payout: "30".parse().unwrap(),
            },
        );
        let diffs = compare_stats(&tune, &ours);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].key, k2);
        assert_eq!(diffs[0].ours, Figures::default());
        assert!(read_stats_row(None, Some("x"), None, None, None, "USD").is_err());
    }
}

//! The report methods reconciliation reads: `Report::getConversions` / `Report::getStats`
//! (network API) and `Affiliate_Report::getConversions` / `Affiliate_Report::getStats`
//! (affiliate API).
//!
//! Report `data` is `{page, current, count, pageCount, data: [{"Stat": {...}, "<Model>":
//! {...}}, ...]}`: an **array** of rows, each a map of models. Scalars are strings
//! (`"15.00000"`) or sometimes numbers; both are kept as their text here, never as floats, and
//! the caller parses them (a row it cannot parse is its own kind of difference).
//!
//! Dates are the network's time zone's (`Stat.date`, `Stat.datetime`); the range filter is
//! `filters[Stat.date][conditional]=BETWEEN&filters[Stat.date][values][]=FROM&..[]=TO` with
//! `data_start`/`data_end` matching it, as TUNE asks.

use crate::envelope::{Paged, parse_paged};
use crate::error::TuneError;
use crate::params::{Params, SortDir};
use chrono::NaiveDate;
use serde_json::Value;

/// An inclusive range of days in the network's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    pub fn new(from: NaiveDate, to: NaiveDate) -> DateRange {
        DateRange { from, to }
    }

    /// Days in the range (at least 1).
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The two halves of a range of two or more days; `None` for a single day.
    pub fn split(&self) -> Option<(DateRange, DateRange)> {
        let days = self.days();
        if days < 2 {
            return None;
        }
        let first_end = self.from + chrono::Duration::days(days / 2 - 1);
        Some((
            DateRange::new(self.from, first_end),
            DateRange::new(first_end.succ_opt()?, self.to),
        ))
    }

    fn text(day: NaiveDate) -> String {
        day.format("%Y-%m-%d").to_string()
    }

    /// The `Stat.date` BETWEEN filter, plus `data_start`/`data_end`.
    pub fn params(&self) -> Params {
        let (from, to) = (Self::text(self.from), Self::text(self.to));
        Params::new()
            .raw("filters[Stat.date][conditional]", "BETWEEN")
            .raw("filters[Stat.date][values][]", from.clone())
            .raw("filters[Stat.date][values][]", to.clone())
            .raw("data_start", from)
            .raw("data_end", to)
    }
}

impl std::fmt::Display for DateRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", Self::text(self.from), Self::text(self.to))
    }
}

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Conversions,
    Stats,
}

/// The fields reconciliation asks of `getConversions`.
pub const CONVERSION_FIELDS: &[&str] = &[
    "Stat.ad_id",
    "Stat.tune_event_id",
    "Stat.datetime",
    "Stat.date",
    "Stat.conversion_status",
    "Stat.payout",
    "Stat.approved_payout",
    "Stat.sale_amount",
    "Stat.currency",
    "Stat.offer_id",
    "Stat.goal_id",
    "ConversionsMobile.affiliate_click_id",
];

/// The fields (and groups) of `getStats`: per offer, day and currency.
pub const STATS_GROUPS: &[&str] = &["Stat.offer_id", "Stat.date", "Stat.currency"];
pub const STATS_FIELDS: &[&str] = &[
    "Stat.offer_id",
    "Stat.date",
    "Stat.currency",
    "Stat.conversions",
    "Stat.payout",
];

/// The parameters of one report page.
pub fn report_params(report: Report, range: &DateRange, limit: u32, page: u32) -> Params {
    let mut p = Params::new();
    match report {
        Report::Conversions => {
            p = p.fields(CONVERSION_FIELDS.iter().copied());
            // Oldest first, so the first copy of a conversion is met before its retries.
            p = p
                .sort("Stat.datetime", SortDir::Asc)
                .sort("Stat.ad_id", SortDir::Asc);
        }
        Report::Stats => {
            p = p.fields(STATS_FIELDS.iter().copied());
            for g in STATS_GROUPS {
                p = p.raw("groups[]", *g);
            }
            p = p.sort("Stat.date", SortDir::Asc);
        }
    }
    for (k, v) in range.params().pairs() {
        p = p.raw(k.clone(), v.clone());
    }
    p.limit(limit.max(1)).page(page.max(1))
}

/// One row of `getConversions`, every field as TUNE's text (`None`: absent, null or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConversionRow {
    /// `Stat.ad_id`: the transaction id (the postback's `{transaction_id}`).
    pub ad_id: Option<String>,
    /// `Stat.tune_event_id` (replaces the deprecated `Stat.id`), where the network has it.
    pub tune_event_id: Option<String>,
    /// `ConversionsMobile.affiliate_click_id`: the `aff_click_id` we sent on the click.
    pub click_id: Option<String>,
    pub offer_id: Option<String>,
    pub goal_id: Option<String>,
    /// `Stat.conversion_status`: approved, pending, rejected.
    pub status: Option<String>,
    /// `Stat.payout`, else `Stat.approved_payout`.
    pub payout: Option<String>,
    pub currency: Option<String>,
    pub sale_amount: Option<String>,
    /// `Stat.datetime`, `YYYY-MM-DD HH:MM:SS` in the network's time zone.
    pub datetime: Option<String>,
}

/// One row of `getStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatsRow {
    pub offer_id: Option<String>,
    pub date: Option<String>,
    pub currency: Option<String>,
    pub conversions: Option<String>,
    pub payout: Option<String>,
}

/// One page of a report over one range.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPage<T> {
    pub range: DateRange,
    pub page: u32,
    pub page_count: u32,
    pub count: u64,
    pub rows: Vec<T>,
    /// Ranges split (after a 504) since the previous page.
    pub splits: u32,
}

/// A scalar as text: strings trimmed, numbers as JSON wrote them; null and `""` are `None`.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

fn field(row: &Value, model: &str, name: &str) -> Option<String> {
    text(row.get(model).and_then(|m| m.get(name)))
}

pub fn conversion_row(row: &Value) -> ConversionRow {
    let stat = |name: &str| field(row, "Stat", name);
    ConversionRow {
        ad_id: stat("ad_id"),
        tune_event_id: stat("tune_event_id"),
        click_id: field(row, "ConversionsMobile", "affiliate_click_id"),
        offer_id: stat("offer_id"),
        goal_id: stat("goal_id"),
        status: stat("conversion_status"),
        payout: stat("payout").or_else(|| stat("approved_payout")),
        currency: stat("currency"),
        sale_amount: stat("sale_amount"),
        datetime: stat("datetime"),
    }
}

pub fn stats_row(row: &Value) -> StatsRow {
    let stat = |name: &str| field(row, "Stat", name);
    StatsRow {
        offer_id: stat("offer_id"),
        date: stat("date"),
        currency: stat("currency"),
        conversions: stat("conversions"),
        payout: stat("payout"),
    }
}

/// Maps a report page's `data` with `map` (rows that are not objects map to empty rows, which
/// the caller lists as bad).
pub fn parse_report<T>(
    data: Value,
    range: DateRange,
    map: fn(&Value) -> T,
) -> Result<ReportPage<T>, TuneError> {
    let Paged {
        page,
        page_count,
        count,
        rows,
    } = parse_paged(data)?;
    Ok(ReportPage {
        range,
        page,
        page_count,
        count,
        rows: rows.iter().map(|(_, row)| map(row)).collect(),
        splits: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_split_in_halves_down_to_one_day() {
        let r = DateRange::new(day("2026-11-01"), day("2026-11-07"));
        assert_eq!(r.days(), 7);
        let (a, b) = r.split().unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            (
                "2026-11-01..2026-11-03".into(),
                "2026-11-04..2026-11-07".into()
            )
        );
        let one = DateRange::new(day("2026-11-01"), day("2026-11-01"));
        assert!(one.split().is_none());
        let (a, b) = DateRange::new(day("2026-11-01"), day("2026-11-02"))
            .split()
            .unwrap();
        assert_eq!((a.days(), b.days()), (1, 1));
    }

    #[test]
    fn params_carry_the_range_twice_as_tune_asks() {
        let r = DateRange::new(day("2026-11-01"), day("2026-11-07"));
        let p = report_params(Report::Stats, &r, 1000, 2);
        let has = |k: &str, v: &str| p.pairs().iter().any(|(a, b)| a == k && b == v);
        assert!(has("filters[Stat.date][conditional]", "BETWEEN"));
        assert!(has("filters[Stat.date][values][]", "2026-11-01"));
        assert!(has("filters[Stat.date][values][]", "2026-11-07"));
        assert!(has("data_start", "2026-11-01") && has("data_end", "2026-11-07"));
        assert!(has("groups[]", "Stat.currency") && has("page", "2") && has("limit", "1000"));
    }

    #[test]
    fn rows_keep_numbers_as_text() {
        let data = json!({"page": 1, "current": 100, "count": 2, "pageCount": 1, "data": [
            {"Stat": {"ad_id": "102abc", "payout": "15.00000", "conversion_status": "approved",
                      "datetime": "2026-11-01 23:30:00", "goal_id": "0", "sale_amount": 12.5},
             "ConversionsMobile": {"affiliate_click_id": ""}},
            {"Stat": {"approved_payout": 3, "currency": null}}
        ]});
        let r = DateRange::new(day("2026-11-01"), day("2026-11-01"));
        let page = parse_report(data, r, conversion_row).unwrap();
        assert_eq!(page.rows.len(), 2);
        let first = &page.rows[0];
        assert_eq!(first.ad_id.as_deref(), Some("102abc"));
        assert_eq!(first.payout.as_deref(), Some("15.00000"));
        assert_eq!(first.sale_amount.as_deref(), Some("12.5"));
        assert_eq!(first.click_id, None);
        assert_eq!(page.rows[1].payout.as_deref(), Some("3"));
        assert_eq!(page.rows[1].currency, None);
        let empty = parse_report(
            json!({"page": 1, "current": 0, "count": 0, "pageCount": 0, "data": []}),
            r,
            stats_row,
        )
        .unwrap();
        assert!(empty.rows.is_empty());
    }
}

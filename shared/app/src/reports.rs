//! `GET /reports?group_by=offer|message|creative|day&from=YYYY-MM-DD&to=YYYY-MM-DD`: clicks,
//! conversions by status and revenue per group, from the totals counters (one query per report).

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::{InputError, Status};
use affnet_store::reports::Counters;
use affnet_store::totals::{Dimension, NONE, counter};
use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{Duration, NaiveDate, Utc};
use futures::StreamExt;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

/// Default range: this many days up to today (UTC).
pub const DEFAULT_DAYS: i64 = 30;
/// Longest range, in days (both ends counted).
pub const MAX_DAYS: i64 = 366;
/// Most totals items one report reads (a bigger range/offer count must be narrowed).
pub const MAX_ITEMS: usize = 200_000;
/// Offers whose names are looked up (`group_by=offer`); rows beyond have `name: null`.
pub const MAX_NAMED_OFFERS: usize = 500;
/// Revenue is reported for these statuses (rejected and trash earn nothing).
const REVENUE_STATUSES: [Status; 3] = [Status::Approved, Status::Hold, Status::Pending];

#[derive(Debug, PartialEq, Eq)]
pub struct ReportQuery {
    pub group_by: Dimension,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

fn date(field: &str, value: &str) -> Result<NaiveDate, InputError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| InputError::invalid(field, format!("`{field}` must be a date YYYY-MM-DD")))
}

/// Parses and checks the query; `today` is the UTC date.
pub fn parse_query(query: Option<&str>, today: NaiveDate) -> Result<ReportQuery, InputError> {
    let (mut group_by, mut from, mut to) = (None, None, None);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match &*name {
            "group_by" => &mut group_by,
            "from" => &mut from,
            "to" => &mut to,
            other => {
                return Err(InputError::new(
                    "unknown_field",
                    other,
                    format!("unknown query parameter `{other}` (known: group_by, from, to)"),
                ));
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(InputError::invalid(
                &name,
                format!("`{name}` is given twice"),
            ));
        }
    }
    let group_by = group_by.ok_or_else(|| InputError::missing("group_by"))?;
    let group_by = Dimension::parse(&group_by).ok_or_else(|| {
        InputError::invalid(
            "group_by",
            format!("`group_by` must be offer, message, creative or day, not `{group_by}`"),
        )
    })?;
    let to = to.map(|t| date("to", &t)).transpose()?.unwrap_or(today);
    let from = match from {
        Some(f) => date("from", &f)?,
        None => to - Duration::days(DEFAULT_DAYS - 1),
    };
    if from > to {
        return Err(InputError::out_of_range(
            "from",
            "`from` must not be after `to`",
        ));
    }
    if (to - from).num_days() + 1 > MAX_DAYS {
        return Err(InputError::out_of_range(
            "from",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    Ok(ReportQuery { group_by, from, to })
}

fn count(counters: &Counters, name: &str) -> i64 {
    counters.get(name).and_then(|d| d.to_i64()).unwrap_or(0)
}

/// Clicks, conversions, counts by status and revenue by status and currency (decimal strings).
pub fn figures(counters: &Counters) -> Map<String, Value> {
    let by_status: Map<String, Value> = Status::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().into(),
                json!(count(counters, &counter::count(*s))),
            )
        })
        .collect();
    let revenue: Map<String, Value> = REVENUE_STATUSES
        .iter()
        .map(|s| {
            let prefix = counter::revenue(*s, "");
            let amounts: Map<String, Value> = counters
                .iter()
                .filter_map(|(name, amount)| {
                    let currency = name.strip_prefix(&prefix)?;
                    (!amount.is_zero())
                        .then(|| (currency.into(), json!(amount.normalize().to_string())))
                })
                .collect();
            (s.as_str().into(), Value::Object(amounts))
        })
        .collect();
    let mut out = Map::new();
    out.insert("clicks".into(), json!(count(counters, counter::CLICKS)));
    out.insert(
        "conversions".into(),
        json!(count(counters, counter::CONVERSIONS)),
    );
    out.insert("by_status".into(), Value::Object(by_status));
    out.insert("revenue".into(), Value::Object(revenue));
    out
}

fn key_field(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Offer => "offer_id",
        Dimension::Message => "message_id",
        Dimension::Creative => "creative_id",
        Dimension::Day => "day",
    }
}

/// Offer names by id, looked up concurrently for the first [`MAX_NAMED_OFFERS`] offers.
async fn offer_names(state: &AppState, ids: Vec<String>) -> Result<Map<String, Value>, ApiError> {
    let found: Vec<_> = futures::stream::iter(ids.into_iter().take(MAX_NAMED_OFFERS))
        .map(|id| async move { (id.clone(), state.repo.get_offer(&id).await) })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut names = Map::new();
    for (id, offer) in found {
        if let Some(offer) = offer? {
            names.insert(id, json!(offer.name));
        }
    }
    Ok(names)
}

pub async fn report(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = parse_query(query.as_deref(), Utc::now().date_naive())?;
    let totals = state
        .repo
        .group_totals(q.group_by, q.from, q.to, MAX_ITEMS)
        .await?;
    if !totals.complete {
        return Err(ApiError::Failed {
            status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            code: "report_too_large",
            message: format!(
                "this report would read more than {MAX_ITEMS} totals items; narrow `from`/`to`"
            ),
        });
    }
    let names = match q.group_by {
        Dimension::Offer => {
            let ids = totals
                .groups
                .keys()
                .filter(|v| *v != NONE)
                .cloned()
                .collect();
            offer_names(&state, ids).await?
        }
        _ => Map::new(),
    };
    let mut all = Counters::new();
    let mut rows = Vec::with_capacity(totals.groups.len());
    // BTreeMap order: days ascending, ids in byte order, NONE (`~`) last.
    for (value, counters) in &totals.groups {
        for (name, d) in counters {
            *all.entry(name.clone()).or_insert(Decimal::ZERO) += d;
        }
        let mut row = Map::new();
        let key = (value != NONE).then(|| value.clone());
        row.insert(key_field(q.group_by).into(), json!(key));
        if q.group_by == Dimension::Offer {
            row.insert(
                "name".into(),
                names.get(value).cloned().unwrap_or(Value::Null),
            );
        }
        row.extend(figures(counters));
        rows.push(Value::Object(row));
    }
    Ok(Json(json!({
        "group_by": q.group_by.as_str(),
        "from": q.from.to_string(),
        "to": q.to.to_string(),
        "rows": rows,
        "totals": figures(&all),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn query_defaults_and_limits() {
        let today = day("2026-03-31");
        let q = parse_query(Some("group_by=day"), today).unwrap();
        assert_eq!((q.from, q.to), (day("2026-03-02"), today));
        let q = parse_query(Some("group_by=offer&from=2025-03-31&to=2026-03-31"), today).unwrap();
        assert_eq!(q.group_by, Dimension::Offer);
        let field = |query: &str| parse_query(Some(query), today).unwrap_err().field.unwrap();
        assert_eq!(field("group_by=campaign"), "group_by");
        assert_eq!(field("from=2026-01-01"), "group_by");
        assert_eq!(field("group_by=day&from=2026-02-30"), "from");
        assert_eq!(field("group_by=day&from=2026-03-02&to=2026-03-01"), "from");
        assert_eq!(field("group_by=day&from=2025-03-30&to=2026-03-31"), "from");
        assert_eq!(field("group_by=day&limit=3"), "limit");
        assert_eq!(field("group_by=day&group_by=offer"), "group_by");
    }

    #[test]
    fn figures_split_counts_and_revenue() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let counters: Counters = [
            ("clicks", d("3")),
            ("conversions", d("2")),
            ("count.approved", d("1")),
            ("count.rejected", d("1")),
            ("revenue.approved.USD", d("12.50")),
            ("revenue.rejected.USD", d("4")),
            ("revenue.hold.EUR", d("0")),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
        let f = Value::Object(figures(&counters));
        assert_eq!(f["clicks"], 3);
        assert_eq!(f["by_status"]["approved"], 1);
        assert_eq!(f["by_status"]["trash"], 0);
        assert_eq!(f["revenue"]["approved"], json!({"USD": "12.5"}));
        assert_eq!(f["revenue"]["hold"], json!({}));
        assert!(f["revenue"].get("rejected").is_none());
    }
}

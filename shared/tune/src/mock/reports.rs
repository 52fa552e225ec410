//! The mock's report methods: `Report::getConversions` / `Report::getStats` (network key) and
//! `Affiliate_Report::getConversions` / `getStats` (affiliate key), shaped like the recorded
//! samples in the reference (an affiliate `getConversions` page of `{"Stat": {...},
//! "ConversionsMobile": {...}, "Offer": {...}, "Goal": {...}}` rows; a network `getStats` page):
//! `data` is `{page, current, count, pageCount, data: [...]}`, numbers are strings, only the
//! requested `fields[]` come back, `data: []` when empty.
//!
//! Like TUNE: rows are filtered by the `Stat.date` BETWEEN filter, sorted by
//! `sort[Stat.datetime]`, paged by `limit`/`page`; a range longer than the configured number of
//! days answers HTTP 504 (TUNE documents 504s on long report ranges). `getStats` groups the
//! same rows by the requested `groups[]` and counts approved conversions and their payout, so a
//! duplicate at TUNE is counted twice there, as TUNE does; tests may mount their own stats.

use super::{API_PATH, MockTune, auth_failure, get, ok_with_echo, query};
use crate::config::Mode;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// A conversion row as `getConversions` returns it with every field reconciliation asks for:
/// transaction `ad_id`, at `datetime` (network time, `YYYY-MM-DD HH:MM:SS`), offer 26, the
/// default goal (`"0"`), approved, `15.00000` USD, no click ID. Change fields with [`set_stat`].
pub fn report_conversion(ad_id: &str, datetime: &str) -> Value {
    let date: String = datetime.chars().take(10).collect();
    json!({
        "Stat": {
            "ad_id": ad_id,
            "tune_event_id": format!("evt-{ad_id}"),
            "datetime": datetime,
            "date": date,
            "conversion_status": "approved",
            "payout": "15.00000",
            "approved_payout": "15.00000",
            "sale_amount": "0.00000",
            "currency": "USD",
            "offer_id": "26",
            "goal_id": "0",
        },
        "ConversionsMobile": {"affiliate_click_id": ""},
        "Offer": {"name": "Offer 26"},
        "Goal": {"name": "Default"},
    })
}

/// Sets `Model.field` of a report row (`set_stat(&mut row, "Stat", "payout", "12.00000")`).
pub fn set_stat(row: &mut Value, model: &str, field: &str, value: &str) {
    row[model][field] = Value::from(value);
}

fn stat<'a>(row: &'a Value, name: &str) -> &'a str {
    row["Stat"][name].as_str().unwrap_or("")
}

/// What the report responders serve; shared so tests can change it between runs.
#[derive(Default)]
pub struct ReportData {
    /// Conversion rows, kept sorted by (`Stat.datetime`, `Stat.ad_id`).
    rows: Vec<Value>,
    /// Stats rows to serve instead of the ones computed from `rows`.
    stats: Option<Vec<Value>>,
    /// Ranges longer than this many days answer 504.
    max_days: Option<i64>,
}

/// A handle on the data the mounted report methods serve.
#[derive(Clone, Default)]
pub struct Reports(Arc<Mutex<ReportData>>);

impl Reports {
    /// Replaces the conversion rows.
    pub fn set_conversions(&self, mut rows: Vec<Value>) {
        rows.sort_by(|a, b| {
            (stat(a, "datetime"), stat(a, "ad_id")).cmp(&(stat(b, "datetime"), stat(b, "ad_id")))
        });
        self.lock().rows = rows;
    }

    /// Serves these stats rows instead of computing them (`None`: computed again).
    pub fn set_stats(&self, rows: Option<Vec<Value>>) {
        self.lock().stats = rows;
    }

    /// Ranges longer than `days` answer 504 (`None`: any range).
    pub fn set_max_days(&self, days: Option<i64>) {
        self.lock().max_days = days;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReportData> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MockTune {
    /// Mounts `getConversions` and `getStats` of `mode` (`Report` or `Affiliate_Report`)
    /// serving `rows` (see [`report_conversion`]); returns the handle to change them later.
    pub async fn mount_reports(&self, mode: Mode, rows: Vec<Value>) -> Reports {
        let reports = Reports::default();
        reports.set_conversions(rows);
        let target = match mode {
            Mode::Network => "Report",
            Mode::Affiliate => "Affiliate_Report",
        };
        for (meth, stats) in [("getConversions", false), ("getStats", true)] {
            Mock::given(method("GET"))
                .and(path(API_PATH))
                .and(query_param("Target", target))
                .and(query_param("Method", meth))
                .respond_with(ReportResponder {
                    mode,
                    stats,
                    data: reports.clone(),
                })
                .mount(self.server())
                .await;
        }
        reports
    }
}

struct ReportResponder {
    mode: Mode,
    stats: bool,
    data: Reports,
}

/// The BETWEEN range of the `Stat.date` filter, if the request has one.
fn range(q: &[(String, String)]) -> Option<(String, String)> {
    let values: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "filters[Stat.date][values][]")
        .map(|(_, v)| v.as_str())
        .collect();
    match values.as_slice() {
        [from, to] => Some((from.to_string(), to.to_string())),
        _ => None,
    }
}

fn days(from: &str, to: &str) -> Option<i64> {
    let from = chrono::NaiveDate::from_str(from).ok()?;
    let to = chrono::NaiveDate::from_str(to).ok()?;
    Some((to - from).num_days() + 1)
}

/// Only the requested `Model.field`s of a row (the whole row without `fields[]`).
fn select(row: &Value, fields: &[&str]) -> Value {
    if fields.is_empty() {
        return row.clone();
    }
    let mut out = Map::new();
    for f in fields {
        let Some((model, name)) = f.split_once('.') else {
            continue;
        };
        let value = row[model][name].clone();
        let entry = out
            .entry(model.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[name] = value;
    }
    Value::Object(out)
}

/// Stats rows: `groups` of the rows in range, approved conversions counted and paid.
fn stats_of(rows: &[&Value], groups: &[&str]) -> Vec<Value> {
    let mut sums: BTreeMap<Vec<String>, (u64, Decimal)> = BTreeMap::new();
    for row in rows {
        let key: Vec<String> = groups
            .iter()
            .map(|g| {
                let (model, name) = g.split_once('.').unwrap_or(("Stat", g));
                row[model][name].as_str().unwrap_or("").to_string()
            })
            .collect();
        let slot = sums.entry(key).or_default();
        if stat(row, "conversion_status") == "approved" {
            slot.0 += 1;
            slot.1 += Decimal::from_str(stat(row, "payout")).unwrap_or_default();
        }
    }
    sums.into_iter()
        .map(|(key, (count, payout))| {
            let mut row = json!({"Stat": {"conversions": count.to_string(),
                "payout": format!("{:.5}", payout)}});
            for (g, v) in groups.iter().zip(key) {
                let (model, name) = g.split_once('.').unwrap_or(("Stat", g));
                row[model][name] = Value::from(v);
            }
            row
        })
        .collect()
}

impl Respond for ReportResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = query(req);
        if let Some(fail) = auth_failure(self.mode, &q) {
            return fail;
        }
        let data = self.data.lock();
        let range = range(&q);
        let too_long = match (data.max_days, &range) {
            (Some(max), Some((from, to))) => days(from, to).is_some_and(|d| d > max),
            _ => false,
        };
        if too_long {
            return ResponseTemplate::new(504).set_body_raw(
                "<html><body><h1>504 Gateway Time-out</h1></body></html>",
                "text/html",
            );
        }
        let in_range = |row: &&Value| {
            range
                .as_ref()
                .is_none_or(|(from, to)| (from.as_str()..=to.as_str()).contains(&stat(row, "date")))
        };
        let fields: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "fields[]")
            .map(|(_, v)| v.as_str())
            .collect();
        let mut rows: Vec<Value> = if self.stats {
            let groups: Vec<&str> = q
                .iter()
                .filter(|(k, _)| k == "groups[]")
                .map(|(_, v)| v.as_str())
                .collect();
            match &data.stats {
                Some(rows) => rows.iter().filter(in_range).cloned().collect(),
                None => stats_of(
                    &data.rows.iter().filter(in_range).collect::<Vec<_>>(),
                    &groups,
                ),
            }
        } else {
            Vec::new()
        };
        let descending = get(&q, "sort[Stat.datetime]") == Some("desc");
        let limit = get(&q, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(50);
        let page = get(&q, "page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let (count, slice): (usize, Vec<Value>) = if self.stats {
            let count = rows.len();
            let slice = rows.drain(..).skip((page - 1) * limit).take(limit);
            (count, slice.map(|r| select(&r, &fields)).collect())
        } else {
            let matching: Vec<&Value> = data.rows.iter().filter(in_range).collect();
            let count = matching.len();
            let ordered: Box<dyn Iterator<Item = &&Value>> = if descending {
                Box::new(matching.iter().rev())
            } else {
                Box::new(matching.iter())
            };
            let slice = ordered.skip((page - 1) * limit).take(limit);
            (count, slice.map(|r| select(r, &fields)).collect())
        };
        let body = json!({
            "page": page,
            "current": limit,
            "count": count,
            "pageCount": count.div_ceil(limit),
            "data": slice,
            "dbSource": "branddb",
        });
        ok_with_echo(&q, body)
    }
}

//! `GET /reports`: sums of the totals counters over a day range, per group.

use super::Env;
use affnet_core::Attribution;
use affnet_core::Status;
use affnet_store::ItemStore;
use affnet_store::totals::{self, counter};
use axum::http::StatusCode;
use chrono::{Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::sync::Arc;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn attribution(offer: &str, message: Option<&str>, creative: Option<&str>) -> Attribution {
    Attribution {
        offer_id: Some(offer.into()),
        message_id: message.map(Into::into),
        creative_id: creative.map(Into::into),
        click_id: None,
    }
}

/// Adds `deltas` to the totals of `who` on `on`, as a click or a conversion would (a new id
/// each time, so the adds land in different shards).
async fn add(env: &Env, who: &Attribution, on: &str, deltas: &[(String, Decimal)]) {
    let id = affnet_core::ids::new_id();
    let writes = totals::totals_writes(who, day(on), deltas, None, &id);
    env.state.repo.items().write(writes).await.unwrap();
}

fn clicks(n: i64) -> Vec<(String, Decimal)> {
    vec![(counter::CLICKS.into(), Decimal::from(n))]
}

/// A conversion entering `status`, with its `conversions` count, as the postback use case writes.
fn conversion(
    status: Status,
    payout: Option<&str>,
    currency: Option<&str>,
) -> Vec<(String, Decimal)> {
    let mut deltas = totals::enter(status, payout.map(|p| p.parse().unwrap()), currency);
    deltas.push((counter::CONVERSIONS.into(), Decimal::ONE));
    deltas
}

fn row<'a>(report: &'a Value, field: &str, value: Value) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[field] == value)
        .unwrap_or_else(|| panic!("no row {field}={value} in {report}"))
}

fn keys(report: &Value, field: &str) -> Vec<Value> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].clone())
        .collect()
}

/// Offer A: 2 clicks on day 1 (m1/c1), 1 on day 2 (m2, no creative); offer B (not stored): 1 on
/// day 2 (no message); and 5 clicks of A the day after the range.
async fn three_days(env: &Env) -> (String, String) {
    let a = env.offer("Keto").await;
    let b = ulid::Ulid::new().to_string();
    add(
        env,
        &attribution(&a, Some("m1"), Some("c1")),
        "2026-03-01",
        &clicks(2),
    )
    .await;
    add(
        env,
        &attribution(&a, Some("m2"), None),
        "2026-03-02",
        &clicks(1),
    )
    .await;
    add(env, &attribution(&b, None, None), "2026-03-02", &clicks(1)).await;
    add(
        env,
        &attribution(&a, Some("m1"), Some("c1")),
        "2026-03-03",
        &clicks(5),
    )
    .await;
    (a, b)
}

const RANGE: &str = "from=2026-03-01&to=2026-03-02";

pub async fn clicks_sum_across_days_and_values(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let (a, b) = three_days(&env).await;

    let by_offer = env.report(&format!("group_by=offer&{RANGE}")).await;
    assert_eq!(by_offer["group_by"], "offer");
    assert_eq!(
        (by_offer["from"].as_str(), by_offer["to"].as_str()),
        (Some("2026-03-01"), Some("2026-03-02"))
    );
    let mut expected = vec![json!(a), json!(b)];
    expected.sort_by_key(|v| v.as_str().unwrap().to_string());
    assert_eq!(keys(&by_offer, "offer_id"), expected);
    let ra = row(&by_offer, "offer_id", json!(a));
    assert_eq!(ra["clicks"], 3);
    assert_eq!(ra["name"], "Keto");
    assert_eq!(ra["conversions"], 0);
    assert_eq!(
        ra["by_status"],
        json!({"pending":0,"hold":0,"approved":0,"rejected":0,"trash":0})
    );
    assert_eq!(ra["revenue"], json!({"approved":{},"hold":{},"pending":{}}));
    let rb = row(&by_offer, "offer_id", json!(b));
    assert_eq!(
        (rb["clicks"].as_i64(), &rb["name"]),
        (Some(1), &Value::Null)
    );
    assert_eq!(by_offer["totals"]["clicks"], 4);
    assert!(by_offer["totals"].get("offer_id").is_none());

    let by_message = env.report(&format!("group_by=message&{RANGE}")).await;
    assert_eq!(
        keys(&by_message, "message_id"),
        vec![json!("m1"), json!("m2"), Value::Null]
    );
    assert_eq!(row(&by_message, "message_id", json!("m1"))["clicks"], 2);
    assert_eq!(row(&by_message, "message_id", Value::Null)["clicks"], 1);

    let by_creative = env.report(&format!("group_by=creative&{RANGE}")).await;
    assert_eq!(
        keys(&by_creative, "creative_id"),
        vec![json!("c1"), Value::Null]
    );
    assert_eq!(row(&by_creative, "creative_id", Value::Null)["clicks"], 2);

    let by_day = env.report(&format!("group_by=day&{RANGE}")).await;
    assert_eq!(
        keys(&by_day, "day"),
        vec![json!("2026-03-01"), json!("2026-03-02")]
    );
    assert_eq!(row(&by_day, "day", json!("2026-03-02"))["clicks"], 2);
    assert_eq!(by_day["totals"]["clicks"], 4);
}

pub async fn from_and_to_are_honoured(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let (a, _) = three_days(&env).await;
    let one = env
        .report("group_by=offer&from=2026-03-03&to=2026-03-03")
        .await;
    assert_eq!(keys(&one, "offer_id"), vec![json!(a)]);
    assert_eq!(one["totals"]["clicks"], 5);
    let all = env
        .report("group_by=day&from=2026-02-01&to=2026-03-31")
        .await;
    assert_eq!(all["totals"]["clicks"], 9);
    assert_eq!(keys(&all, "day").len(), 3);
    let none = env
        .report("group_by=message&from=2026-03-04&to=2026-03-10")
        .await;
    assert_eq!(none["rows"], json!([]));
    assert_eq!(none["totals"]["clicks"], 0);
}

pub async fn conversions_appear_by_status_and_revenue(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let (a, _) = three_days(&env).await;
    let who = attribution(&a, Some("m1"), Some("c1"));
    add(
        &env,
        &who,
        "2026-03-01",
        &conversion(Status::Approved, Some("12.50"), Some("USD")),
    )
    .await;
    add(
        &env,
        &who,
        "2026-03-02",
        &conversion(Status::Approved, Some("0.25"), Some("USD")),
    )
    .await;
    add(
        &env,
        &who,
        "2026-03-02",
        &conversion(Status::Hold, Some("7"), Some("EUR")),
    )
    .await;
    add(
        &env,
        &who,
        "2026-03-02",
        &conversion(Status::Pending, None, None),
    )
    .await;
    add(
        &env,
        &who,
        "2026-03-02",
        &conversion(Status::Rejected, Some("3"), Some("USD")),
    )
    .await;
    // An unmatched conversion counts in the day only.
    let nobody = Attribution::default();
    add(
        &env,
        &nobody,
        "2026-03-02",
        &conversion(Status::Trash, None, None),
    )
    .await;

    let report = env.report(&format!("group_by=offer&{RANGE}")).await;
    let r = row(&report, "offer_id", json!(a));
    assert_eq!(r["conversions"], 5);
    assert_eq!(
        r["by_status"],
        json!({"pending":1,"hold":1,"approved":2,"rejected":1,"trash":0})
    );
    assert_eq!(
        r["revenue"],
        json!({"approved":{"USD":"12.75"},"hold":{"EUR":"7"},"pending":{}})
    );
    assert_eq!(report["totals"]["conversions"], 5);

    let by_day = env.report(&format!("group_by=day&{RANGE}")).await;
    assert_eq!(by_day["totals"]["conversions"], 6);
    assert_eq!(by_day["totals"]["by_status"]["trash"], 1);
    let d2 = row(&by_day, "day", json!("2026-03-02"));
    assert_eq!(d2["revenue"]["approved"], json!({"USD":"0.25"}));
    assert_eq!(d2["clicks"], 2);
}

pub async fn default_range_ends_today(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    env.click(&offer, "msg=m1").await;
    let today = Utc::now().date_naive();
    let report = env.report("group_by=message").await;
    assert_eq!(report["to"], today.to_string());
    assert_eq!(report["from"], (today - Duration::days(29)).to_string());
    assert_eq!(keys(&report, "message_id"), vec![json!("m1")]);
    assert_eq!(report["totals"]["clicks"], 1);
}

pub async fn bad_queries_are_400(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    for (query, field) in [
        ("group_by=campaign", "group_by"),
        ("", "group_by"),
        ("group_by=day&from=2026-03-02&to=2026-03-01", "from"),
        ("group_by=day&from=2024-01-01&to=2026-03-01", "from"),
        ("group_by=day&to=03/01/2026", "to"),
        ("group_by=day&page=2", "page"),
    ] {
        let reply =
            crate::support::call(&env.router, "GET", &format!("/reports?{query}"), None).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.text
        );
        assert_eq!(reply.json["error"]["field"], field, "{query}");
    }
}

//! `GET /integrations/{id}/health`: what an integration's postbacks, clicks, syncs, connection
//! tests and leads look like, and whether (and why) it is silent. Everything is read from what
//! the routes already store (hourly counters, logs, the watch's state), in bounded queries run
//! at once; see the README's "Integration health".

pub mod activity;
pub mod silence;

use crate::error::ApiError;
use crate::integrations::load as load_integration;
use crate::state::AppState;
use affnet_core::health::{Received, Watch, hour_of};
use affnet_core::{Integration, PostbackLog};
use affnet_store::health::{HourCounts, UNMATCHED};
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

/// Days of per-day figures.
pub const DAYS: i64 = 7;
/// Newest postback log entries searched for the last accepted and the last refused one.
pub const LOGS_SEARCHED: usize = 200;
/// Newest leads searched for the integration's last sent one.
pub const LEADS_SEARCHED: usize = 1_000;

pub(crate) fn whole(n: &Decimal) -> u64 {
    n.trunc().to_u64().unwrap_or(0)
}

/// `count / total` with 4 decimals, as a string (`"0"` when nothing was received).
fn rate(count: u64, total: u64) -> String {
    match total {
        0 => "0".into(),
        _ => (Decimal::from(count) / Decimal::from(total))
            .round_dp(4)
            .normalize()
            .to_string(),
    }
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let integration = load_integration(&state, &id).await?;
    let now = state.clock.now();
    let from = hour_of(now - Duration::hours(DAYS * 24));
    let repo = &state.repo;
    let (accepted, refused, clicks, logs, current) = tokio::join!(
        repo.accepted_hours(&id, from),
        repo.refused_hours(&id, from),
        repo.click_hours(&id, from, None),
        last_logs(&state, &id),
        repo.silence_state(&id),
    );
    let (accepted, refused, clicks, current) = (accepted?, refused?, clicks?, current?);
    let hours = integration.typed.silence_hours.0;
    let silence = silence_view(
        &state,
        &id,
        hours,
        current.as_ref(),
        (&clicks, &accepted),
        now,
    )
    .await?;
    let window = hours.min(silence::CAUSE_HOURS);
    let cause_from = hour_of(now - Duration::hours(i64::from(window)));
    let diagnosed = received_in(&accepted, &refused, cause_from);
    let week = received_in(&accepted, &refused, from);
    let mut body = json!({
        "integration_id": id,
        "active": integration.active,
        "generated_at": now,
        "postbacks": {
            "last_accepted": logs.0,
            "last_refused": logs.1,
            "logs_searched": LOGS_SEARCHED,
            "days": days(&accepted, &refused, now.date_naive()),
            "refused_rate": refused_rate(&week),
        },
        "clicks": {
            "last_click_hour": clicks.last(),
            "hours_with_clicks": clicks.len(),
        },
        "silence": silence,
        "diagnosis": {
            "cause": diagnosed.cause(),
            "hint": diagnosed.cause().hint(),
            "window_hours": window,
            "received": diagnosed,
        },
    });
    let others = others(&state, &integration).await?;
    body.as_object_mut().expect("an object").extend(others);
    Ok(Json(body))
}

/// The watch as health shows it: the stored state, and whether the window (from the hour
/// `silence_hours` ago) has clicks and an accepted postback, from the week's reads when it
/// fits in them.
async fn silence_view(
    state: &AppState,
    id: &str,
    hours: u32,
    current: Option<&affnet_core::health::SilenceState>,
    (clicks, accepted): (&[String], &HourCounts),
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let window_start = Watch::window_start(now, hours);
    let week_start = hour_of(now - Duration::hours(DAYS * 24));
    let (clicks_in_window, accepted_in_window) = match window_start >= week_start {
        true => {
            let start = affnet_store::health::hour_string(window_start);
            let clicked = clicks.last().is_some_and(|h| *h >= start);
            (clicked, accepted.range(start..).next().is_some())
        }
        false => (
            !state
                .repo
                .click_hours(id, window_start, Some(1))
                .await?
                .is_empty(),
            state.repo.accepted_since(id, window_start).await?,
        ),
    };
    Ok(json!({
        "silence_hours": hours,
        "silent": current.is_some_and(|s| s.silent),
        "since": current.map(|s| s.since),
        "cause": current.and_then(|s| s.cause),
        "window_start": window_start,
        "clicks_in_window": clicks_in_window,
        "accepted_in_window": accepted_in_window,
    }))
}

/// The last sync, connection test, lead sent and status load.
async fn others(
    state: &AppState,
    integration: &Integration,
) -> Result<Map<String, Value>, ApiError> {
    let id = &integration.id;
    let repo = &state.repo;
    let sent_here = |l: &affnet_core::lead::Lead| l.integration_id == *id && l.sent_at.is_some();
    let (sync, test, leads, status_load) = tokio::join!(
        repo.list_sync_logs(id, 1, None),
        repo.last_connection_test(id),
        repo.list_leads(None, None, sent_here, 1, None),
        repo.status_sync_last_run(id),
    );
    let sync = sync?.0.first().map(|log| {
        let view = crate::offer_sync::api::log_view(state, log);
        json!({
            "run_id": log.id,
            "trigger": view["trigger"],
            "status": view["status"],
            "started_at": log.started_at,
            "finished_at": log.finished_at,
            "counts": view["counts"],
            "message": log.message,
            "errors": log.errors.len() as u64 + log.errors_dropped,
        })
    });
    let last_sent = leads?.0.first().map(|l| {
        json!({"lead_id": l.id, "offer_id": l.offer_id, "sent_at": l.sent_at, "status": l.status})
    });
    let mut out = Map::new();
    out.insert("offer_sync".into(), json!({ "last": sync }));
    out.insert("connection_test".into(), json!({ "last": test? }));
    out.insert(
        "leads".into(),
        json!({
            "last_sent": last_sent,
            "leads_searched": LEADS_SEARCHED,
            "last_status_load_at": status_load?,
        }),
    );
    Ok(out)
}

/// Keeps what a connection test answered (`answer`: its `{integration_id, ok, checks,
/// latency_ms}`) as the integration's last one: when, whether it passed, the failed checks.
/// Best effort: the test's answer stands when this cannot be stored.
pub async fn keep_connection_test(state: &AppState, answer: &Value) {
    let Some(id) = answer["integration_id"].as_str() else {
        return;
    };
    let failed: Vec<Value> = answer["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] != json!(true))
        .map(|c| json!({"name": c["name"], "code": c["code"], "detail": c["detail"]}))
        .collect();
    let kept = json!({
        "at": state.clock.now(),
        "ok": answer["ok"],
        "latency_ms": answer["latency_ms"],
        "failed_checks": failed,
    });
    if let Err(e) = state.repo.put_connection_test(id, &kept).await {
        tracing::warn!(integration = %id, error = %e, "connection test result not kept");
    }
}

/// The newest accepted and the newest refused log entries among the newest [`LOGS_SEARCHED`].
async fn last_logs(state: &AppState, id: &str) -> (Value, Value) {
    let (mut accepted, mut refused) = (Value::Null, Value::Null);
    let mut cursor = None;
    let mut searched = 0;
    while searched < LOGS_SEARCHED && (accepted.is_null() || refused.is_null()) {
        let Ok((page, next)) = state.repo.list_postback_logs(id, 100, cursor).await else {
            break;
        };
        searched += page.len();
        for log in &page {
            let slot = match is_accepted(log) {
                true => &mut accepted,
                false => &mut refused,
            };
            if slot.is_null() {
                *slot = log_summary(log);
            }
        }
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    (accepted, refused)
}

fn is_accepted(log: &PostbackLog) -> bool {
    matches!(
        log.outcome.as_str(),
        "created" | "changed" | "attributed" | "duplicate" | "stale"
    )
}

fn log_summary(log: &PostbackLog) -> Value {
    let mut v = json!({
        "log_id": log.id,
        "time": log.time,
        "outcome": log.outcome,
        "http_status": log.http_status,
        "conversion_id": log.conversion_id,
    });
    if !is_accepted(log) {
        v["reason"] = json!(log.outcome);
        v["message"] = json!(log.message);
    }
    v
}

/// Postbacks from the hour of `from` on, by reason group.
fn received_in(accepted: &HourCounts, refused: &HourCounts, from: DateTime<Utc>) -> Received {
    let from = affnet_store::health::hour_string(from);
    let mut received = Received::default();
    for counters in accepted.range(from.clone()..).map(|(_, c)| c) {
        for (name, n) in counters {
            match name.as_str() {
                UNMATCHED => received.unknown_click += whole(n),
                _ => received.accepted += whole(n),
            }
        }
    }
    for counters in refused.range(from..).map(|(_, c)| c) {
        for (name, n) in counters {
            if let Some(code) = name.strip_prefix("refused.") {
                received.add_refused(code, whole(n));
            }
        }
    }
    received
}

/// One day's counters (`prefix`: `YYYY-MM-DD`), summed over its hours.
fn of_day(hours: &HourCounts, prefix: &str) -> std::collections::BTreeMap<String, u64> {
    let mut sums = std::collections::BTreeMap::new();
    for (_, counters) in hours.iter().filter(|(h, _)| h.starts_with(prefix)) {
        for (name, n) in counters {
            *sums.entry(name.clone()).or_default() += whole(n);
        }
    }
    sums
}

/// The last [`DAYS`] days (UTC), newest first: accepted, unmatched and refused counts, and every
/// outcome's count (accepted outcomes and refusal codes).
fn days(accepted: &HourCounts, refused: &HourCounts, today: NaiveDate) -> Vec<Value> {
    (0..DAYS)
        .map(|back| {
            let day = today - Duration::days(back);
            let prefix = day.format("%Y-%m-%d").to_string();
            let (a, r) = (of_day(accepted, &prefix), of_day(refused, &prefix));
            let unmatched = a.get(UNMATCHED).copied().unwrap_or(0);
            let mut outcomes = Map::new();
            for (name, n) in a.iter().filter(|(name, _)| name.as_str() != UNMATCHED) {
                outcomes.insert(name.clone(), json!(n));
            }
            for (name, n) in &r {
                let code = name.strip_prefix("refused.").unwrap_or(name);
                outcomes.insert(code.to_string(), json!(n));
            }
            let accepted_n: u64 = a
                .iter()
                .filter(|(k, _)| k.as_str() != UNMATCHED)
                .map(|(_, n)| n)
                .sum();
            json!({
                "day": prefix,
                "accepted": accepted_n,
                "unknown_click": unmatched,
                "refused": r.values().sum::<u64>(),
                "by_outcome": outcomes,
            })
        })
        .collect()
}

/// The last [`DAYS`] days' postbacks by refusal reason, as counts and shares of all received
/// (`unknown_click`: accepted, but on a conversion without a click of ours).
fn refused_rate(week: &Received) -> Value {
    let total = week.total();
    let entry = |n: u64| json!({"count": n, "rate": rate(n, total)});
    json!({
        "received": total,
        "bad_token": entry(week.bad_token),
        "ip_not_allowed": entry(week.ip_not_allowed),
        "unknown_click": entry(week.unknown_click),
        "bad_input": entry(week.bad_input),
        "inactive": entry(week.inactive),
        "other": entry(week.other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_exact_decimals() {
        assert_eq!(rate(1, 3), "0.3333");
        assert_eq!(rate(1, 4), "0.25");
        assert_eq!(rate(0, 0), "0");
    }
}

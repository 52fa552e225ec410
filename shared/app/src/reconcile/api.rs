//! The reconciliation routes (function `offer-sync`, the one that talks to TUNE):
//! `POST /integrations/{id}/reconcile`, `GET /integrations/{id}/reconciliations` and
//! `GET /integrations/{id}/reconciliations/{run_id}`.
//!
//! A run started over HTTP answers its finished record (200), synchronously: on Lambda it is
//! bounded by the same 25 s budget as an HTTP offer sync (under API Gateway's 30 s), after which
//! it stops at a page boundary and answers `partial` with `stopped_at`; what it read is applied,
//! and running the same range again is idempotent. Scheduled runs have the function's 300 s.

use super::run::{RunError, RunRequest, run_reconcile};
use crate::error::ApiError;
use crate::http::{OptionalJsonBody, page_body, page_params_with};
use crate::integrations::load as load_integration;
use crate::state::AppState;
use affnet_core::reconcile::row::network_day;
use affnet_core::reconcile::{ReconRun, Trigger};
use affnet_core::{InputError, Integration};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde_json::Value;
use std::time::Instant;

/// Longest range one run may cover, in days.
pub const MAX_RANGE_DAYS: i64 = 93;
/// TUNE's conversion report covers only the last 25 months (762 days).
pub const TUNE_WINDOW_DAYS: i64 = 762;
/// The default range: the last 7 days, today included.
pub const DEFAULT_DAYS: u32 = 7;

/// The body of `POST /integrations/{id}/reconcile`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct ReconcileBody {
    from: Option<String>,
    to: Option<String>,
    apply: Option<bool>,
}

fn day(field: &str, text: &str) -> Result<NaiveDate, InputError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        InputError::invalid(
            field,
            format!("`{field}` must be a day like 2026-11-30, not `{text}`"),
        )
    })
}

/// The range asked for, checked against today in the network's time zone: `from` ≤ `to`, at
/// most [`MAX_RANGE_DAYS`] days, within TUNE's window, not in the future.
fn requested_range(
    body: &ReconcileBody,
    today: NaiveDate,
) -> Result<Option<(NaiveDate, NaiveDate)>, InputError> {
    let from = body.from.as_deref().map(|t| day("from", t)).transpose()?;
    let to = body.to.as_deref().map(|t| day("to", t)).transpose()?;
    let (from, to) = match (from, to) {
        (None, None) => return Ok(None),
        (Some(f), None) => (f, today),
        (None, Some(t)) => (t - chrono::Duration::days(i64::from(DEFAULT_DAYS) - 1), t),
        (Some(f), Some(t)) => (f, t),
    };
    if from > to {
        return Err(InputError::invalid("from", "`from` must not be after `to`"));
    }
    if to > today {
        return Err(InputError::out_of_range(
            "to",
            format!("`to` is in the future (today is {today} in the network's time zone)"),
        ));
    }
    if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return Err(InputError::out_of_range(
            "to",
            format!("a run covers at most {MAX_RANGE_DAYS} days; split the range"),
        ));
    }
    if (today - from).num_days() >= TUNE_WINDOW_DAYS {
        return Err(InputError::out_of_range(
            "from",
            format!(
                "TUNE's conversion report covers only the last 25 months ({TUNE_WINDOW_DAYS} days)"
            ),
        ));
    }
    Ok(Some((from, to)))
}

/// The integration, if it is an active TUNE one.
async fn load_tune(state: &AppState, id: &str) -> Result<Integration, ApiError> {
    let integration = load_integration(state, id).await?;
    if !integration.is_tune() {
        return Err(InputError::new(
            "unsupported_network",
            "network",
            format!(
                "reconciliation reads TUNE's reports; `{}` is not a TUNE integration",
                integration.network
            ),
        )
        .into());
    }
    Ok(integration)
}

/// A record as the API shows it: a run that died while running reads as failed.
pub fn run_view(state: &AppState, run: &ReconRun) -> Value {
    let mut view = serde_json::to_value(run).unwrap_or_default();
    let shown = run.shown_status(chrono::Utc::now(), state.config.tune.lease_ttl);
    view["status"] = serde_json::to_value(shown).unwrap_or_default();
    view
}

pub fn busy(run_id: &str, expires_at: i64) -> ApiError {
    ApiError::Failed {
        status: StatusCode::CONFLICT,
        code: "run_in_progress",
        message: format!(
            "an offer sync or a reconciliation of this integration is running (run {run_id}, lease until {}); they never overlap: try again when it ends",
            chrono::DateTime::from_timestamp(expires_at, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        ),
    }
}

/// `POST /integrations/{id}/reconcile {from?, to?, apply?}`: runs now and answers the record.
pub async fn reconcile_now(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Json<Value>, ApiError> {
    let body: ReconcileBody = match &body {
        Some(b) => crate::http::from_body(b)?,
        None => ReconcileBody::default(),
    };
    let integration = load_tune(&state, &id).await?;
    let tz = integration.tune().map_or(chrono_tz::UTC, |t| t.timezone);
    let range = requested_range(&body, network_day(chrono::Utc::now(), tz))?;
    if !integration.active {
        return Err(InputError::new(
            "integration_inactive",
            "active",
            "the integration is inactive: set `active` to true to reconcile it",
        )
        .into());
    }
    let request = RunRequest {
        trigger: Trigger::Manual,
        range,
        days: DEFAULT_DAYS,
        apply: body.apply.unwrap_or(true),
        deadline: state
            .config
            .tune
            .http_sync_budget
            .map(|b| Instant::now() + b),
    };
    match run_reconcile(&state, &integration, request).await {
        Ok(run) => Ok(Json(run_view(&state, &run))),
        Err(RunError::Busy { run_id, expires_at }) => Err(busy(&run_id, expires_at)),
        Err(RunError::Store(e)) => Err(e.into()),
    }
}

/// `GET /integrations/{id}/reconciliations`: runs, newest first (`limit`, `cursor`).
pub async fn list_runs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let paging = page_params_with(query, &[])?;
    load_integration(&state, &id).await?;
    let (runs, next) = state
        .repo
        .list_recon_runs(&id, paging.limit, paging.cursor)
        .await?;
    let items: Vec<Value> = runs.iter().map(|r| run_view(&state, r)).collect();
    Ok(page_body(items, next))
}

/// `GET /integrations/{id}/reconciliations/{run_id}`: the record, with one page of its
/// differences (`limit`, `cursor`) under `differences`.
pub async fn get_run(
    State(state): State<AppState>,
    Path((id, run_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let paging = page_params_with(query, &[])?;
    load_integration(&state, &id).await?;
    let run = state
        .repo
        .get_recon_run(&id, &run_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("reconciliation run {run_id}")))?;
    let (differences, next) = state
        .repo
        .list_differences(&run_id, paging.limit, paging.cursor)
        .await?;
    let mut view = run_view(&state, &run);
    view["differences"] = page_body(differences, next).0;
    Ok(Json(view))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(from: Option<&str>, to: Option<&str>) -> ReconcileBody {
        ReconcileBody {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            apply: None,
        }
    }

    #[test]
    fn ranges_are_checked_against_the_network_day() {
        let today: NaiveDate = "2026-11-30".parse().unwrap();
        let r = |f, t| requested_range(&body(f, t), today);
        assert_eq!(r(None, None).unwrap(), None);
        let (f, t) = r(Some("2026-11-01"), None).unwrap().unwrap();
        assert_eq!(
            (f.to_string(), t.to_string()),
            ("2026-11-01".into(), "2026-11-30".into())
        );
        let (f, _) = r(None, Some("2026-11-10")).unwrap().unwrap();
        assert_eq!(f.to_string(), "2026-11-04");
        assert_eq!(
            r(Some("2026-11-10"), Some("2026-11-01"))
                .unwrap_err()
                .field
                .as_deref(),
            Some("from")
        );
        assert_eq!(
            r(None, Some("2026-12-01")).unwrap_err().field.as_deref(),
            Some("to")
        );
        assert_eq!(
            r(Some("2026-01-01"), None).unwrap_err().field.as_deref(),
            Some("to")
        );
        assert_eq!(
            r(Some("2024-01-01"), Some("2024-01-05"))
                .unwrap_err()
                .field
                .as_deref(),
            Some("from")
        );
        assert_eq!(
            r(Some("30.11.2026"), None).unwrap_err().field.as_deref(),
            Some("from")
        );
    }
}

//! `GET /conversions` (filters: integration, status, click, offer, from, to; newest first) and
//! `GET /conversions/{id}` (with its history).

use crate::error::ApiError;
use crate::http::page_params_with;
use crate::state::AppState;
use affnet_core::{InputError, Status};
use affnet_store::conversions::TimeRange;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, Utc};

const FILTERS: &[&str] = &["integration", "status", "click", "offer", "from", "to"];

pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let paging = page_params_with(query, FILTERS)?;
    let f = &paging.filters;
    let status = match f.get("status") {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            InputError::invalid(
                "status",
                "`status` must be one of pending, hold, approved, rejected, trash",
            )
        })?),
    };
    let range = TimeRange {
        from: f.get("from").map(|v| time(v, "from", false)).transpose()?,
        to: f.get("to").map(|v| time(v, "to", true)).transpose()?,
    };
    let (integration, click, offer) = (f.get("integration"), f.get("click"), f.get("offer"));
    let keep = |c: &affnet_core::Conversion| {
        integration.is_none_or(|i| *i == c.integration_id)
            && status.is_none_or(|s| s == c.status)
            && click.is_none_or(|k| Some(k) == c.click_id.as_ref())
            && offer.is_none_or(|o| Some(o) == c.offer_id.as_ref())
            && range.from.is_none_or(|t| c.created_at >= t)
            && range.to.is_none_or(|t| c.created_at <= t)
    };
    let page = match click {
        // A click has few conversions: one keyed query, never a scan of the index.
        Some(click) => {
            let mut page = state
                .repo
                .conversions_of_click(click, paging.limit, paging.cursor)
                .await?;
            page.items.retain(keep);
            page
        }
        None => {
            state
                .repo
                .list_conversions(&range, keep, paging.limit, paging.cursor)
                .await?
        }
    };
    Ok(crate::http::page_body(page.items, page.next))
}

/// RFC 3339, or a day (`YYYY-MM-DD`: its first instant for `from`, its last for `to`).
pub(crate) fn time(value: &str, field: &str, end: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        InputError::invalid(
            field,
            format!("`{field}` must be a date (2026-05-01) or an RFC 3339 time"),
        )
    })?;
    let t = match end {
        false => day.and_hms_opt(0, 0, 0),
        true => day.and_hms_milli_opt(23, 59, 59, 999),
    };
    Ok(t.expect("valid time").and_utc())
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let conversion = state
        .repo
        .get_conversion(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversion `{id}`")))?;
    Ok(Json(conversion))
}

//! `GET /events?after=<cursor>&type=<type>&limit=`: the outbox, oldest first, as
//! `{items: [{id, type, version, time, data}], next_cursor}`. `next_cursor` is where the page
//! ended (the `after` of the next call; the one given when nothing was new), so a consumer polls
//! with it forever. Only events older than the settle time are shown.

use crate::error::ApiError;
use crate::http::{decode_cursor_of, page_body, page_params_with};
use crate::state::AppState;
use affnet_core::event::last_id_at;
use affnet_core::{Event, EventType, InputError};
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use chrono::Utc;

const FILTERS: &[&str] = &["after", "type"];

pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let paging = page_params_with(query, FILTERS)?;
    let after = match paging.filters.get("after").filter(|a| !a.is_empty()) {
        Some(after) => Some(decode_cursor_of("after", after)?),
        None => paging.cursor,
    };
    let types = match paging.filters.get("type") {
        Some(list) => Some(event_types(list)?),
        None => None,
    };
    let page = state
        .repo
        .events_after(
            after.as_deref(),
            &settled_bound(&state),
            |e: &Event| {
                types
                    .as_ref()
                    .is_none_or(|t| e.kind().is_some_and(|k| t.contains(&k)))
            },
            paging.limit,
        )
        .await?;
    Ok(page_body(page.items, page.next.or(after)))
}

/// The newest event id the feed may show now (see `EventsConfig::feed_settle`).
pub fn settled_bound(state: &AppState) -> String {
    let settle = chrono::Duration::from_std(state.config.events.feed_settle)
        .unwrap_or(chrono::Duration::zero());
    last_id_at(Utc::now() - settle)
}

/// `type=`: one or more event types, comma-separated.
fn event_types(list: &str) -> Result<Vec<EventType>, ApiError> {
    list.split(',')
        .map(str::trim)
        .map(|name| {
            EventType::parse(name).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                InputError::invalid(
                    "type",
                    format!(
                        "`type` must be one of {} (comma-separated)",
                        known.join(", ")
                    ),
                )
                .into()
            })
        })
        .collect()
}

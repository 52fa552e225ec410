//! The offer-sync routes (function `offer-sync`): the "select offers to import" listing, a sync
//! now, and the sync logs.

use super::mapping::MapContext;
use super::run::{RunError, SyncRequest, run_sync};
use crate::connection_test::diagnose;
use crate::error::ApiError;
use crate::http::{OptionalJsonBody, page_params_with};
use crate::integrations::load as load_integration;
use crate::state::AppState;
use crate::tune_client::{Purpose, client_for};
use affnet_core::sync_log::{SyncLog, SyncTrigger};
use affnet_core::{InputError, Integration};
use affnet_tune::OfferQuery;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// Most offer ids one sync request may name.
pub const MAX_SELECTED: usize = 500;
const MAX_REMOTE_PAGE: u32 = 500;

/// The integration, if it is a TUNE one.
async fn load_tune(state: &AppState, id: &str) -> Result<Integration, ApiError> {
    let integration = load_integration(state, id).await?;
    if !integration.is_tune() {
        return Err(InputError::new(
            "unsupported_network",
            "network",
            format!(
                "offer sync is available for TUNE integrations; `{}` is not one",
                integration.network
            ),
        )
        .into());
    }
    Ok(integration)
}

/// A log as the API shows it: a run that died while running reads as failed.
pub fn log_view(state: &AppState, log: &SyncLog) -> Value {
    let mut view = serde_json::to_value(log).unwrap_or_default();
    let shown = log.shown_status(chrono::Utc::now(), state.config.tune.lease_ttl);
    view["status"] = serde_json::to_value(shown).unwrap_or_default();
    view
}

/// `GET /integrations/{id}/remote-offers?page=&limit=`: one page of TUNE's offers, each marked
/// imported or not.
pub async fn remote_offers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (page, limit) = remote_page_params(query)?;
    let integration = load_tune(&state, &id).await?;
    let tune_error = |e: affnet_tune::TuneError| {
        let (_, code, message) = diagnose(&integration, &e);
        ApiError::Failed {
            status: StatusCode::BAD_GATEWAY,
            code,
            message,
        }
    };
    let config = &state.config;
    let client = client_for(
        &integration,
        &config.tune,
        config.allow_private_network,
        Purpose::Interactive,
    )
    .map_err(tune_error)?;
    let query = OfferQuery {
        start_page: page,
        ..OfferQuery::default().with_limit(limit)
    };
    let mut pages = std::pin::pin!(client.offer_pages(query));
    let Some(fetched) = pages.next().await else {
        return Ok(Json(
            json!({"page": page, "page_count": 0, "count": 0, "limit": limit, "items": [], "skipped": []}),
        ));
    };
    let fetched = fetched.map_err(tune_error)?;
    let ctx = MapContext::new(&integration, BTreeMap::new())
        .map_err(|m| InputError::invalid("settings.default_currency", m))?;
    let remote_ids: Vec<String> = fetched.offers.iter().map(|o| o.remote_id.clone()).collect();
    let imported: Vec<Option<String>> = futures::stream::iter(remote_ids)
        .map(|remote_id| {
            let (repo, integration_id) = (state.repo.clone(), integration.id.clone());
            async move {
                repo.remote_entry(&integration_id, &remote_id)
                    .await
                    .map(|e| e.map(|e| e.offer_id))
            }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let items: Vec<Value> = fetched
        .offers
        .iter()
        .zip(imported)
        .map(|(remote, offer_id)| {
            let mapped = ctx.map(remote);
            json!({
                "remote_id": remote.remote_id,
                "name": remote.name,
                "preview_url": remote.preview_url,
                "payout": remote.default_payout,
                "currency": remote.currency,
                "payout_type": remote.payout_type,
                "advertiser_id": remote.advertiser_id,
                "status": remote.status,
                "imported": offer_id.is_some(),
                "offer_id": offer_id,
                "importable": mapped.is_ok(),
                "problem": mapped.err(),
            })
        })
        .collect();
    Ok(Json(json!({
        "page": fetched.page,
        "page_count": fetched.page_count,
        "count": fetched.count,
        "limit": limit,
        "items": items,
        "skipped": fetched.skipped,
    })))
}

fn remote_page_params(query: Option<String>) -> Result<(u32, u32), ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|e| InputError::invalid("query", format!("bad query string: {e}")))?;
    let (mut page, mut limit) = (1u32, 100u32);
    for (key, value) in pairs {
        let number = value.parse::<u32>().ok();
        match key.as_str() {
            "page" => {
                page = number.filter(|p| *p >= 1).ok_or_else(|| {
                    InputError::out_of_range("page", "`page` must be a whole number from 1")
                })?;
            }
            "limit" => {
                limit = number
                    .filter(|l| (1..=MAX_REMOTE_PAGE).contains(l))
                    .ok_or_else(|| {
                        InputError::out_of_range(
                            "limit",
                            format!("`limit` must be between 1 and {MAX_REMOTE_PAGE}"),
                        )
                    })?;
            }
            _ => {
                return Err(InputError::new(
                    "unknown_field",
                    key.clone(),
                    format!("unknown query parameter `{key}` (known: page, limit)"),
                )
                .into());
            }
        }
    }
    Ok((page, limit))
}

/// `POST /integrations/{id}/sync {"offer_ids": [...]}`: imports the chosen offers now (every
/// offer when `offer_ids` is absent) and answers the run's log.
pub async fn sync_now(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Json<Value>, ApiError> {
    let offer_ids = selected_ids(body.as_ref())?;
    let integration = load_tune(&state, &id).await?;
    if !integration.active {
        return Err(InputError::new(
            "integration_inactive",
            "active",
            "the integration is inactive: set `active` to true to sync its offers",
        )
        .into());
    }
    let request = SyncRequest {
        trigger: SyncTrigger::Manual,
        offer_ids,
        deadline: state
            .config
            .tune
            .http_sync_budget
            .map(|b| Instant::now() + b),
    };
    match run_sync(&state, &integration, request).await {
        Ok(log) => Ok(Json(log_view(&state, &log))),
        Err(RunError::Busy { run_id, expires_at }) => Err(ApiError::Failed {
            status: StatusCode::CONFLICT,
            code: "sync_in_progress",
            message: format!(
                "a sync of this integration is already running (run {run_id}, lease until {}); try again when it ends",
                chrono::DateTime::from_timestamp(expires_at, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            ),
        }),
        Err(RunError::Store(e)) => Err(e.into()),
    }
}

/// `offer_ids` of a sync body: 1 to [`MAX_SELECTED`] TUNE ids (strings or whole numbers),
/// duplicates dropped; `None` when absent.
fn selected_ids(body: Option<&Value>) -> Result<Option<Vec<String>>, ApiError> {
    /// Ids are checked one by one below, so each bad one is named by its index.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, expecting = "a JSON object")]
    struct SyncBody {
        offer_ids: Option<Vec<Value>>,
    }
    let Some(body) = body else {
        return Ok(None);
    };
    let Some(list) = crate::http::from_body::<SyncBody>(body)?.offer_ids else {
        return Ok(None);
    };
    if list.is_empty() || list.len() > MAX_SELECTED {
        return Err(InputError::out_of_range(
            "offer_ids",
            format!("`offer_ids` must hold 1 to {MAX_SELECTED} ids; omit it to sync every offer"),
        )
        .into());
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::with_capacity(list.len());
    for (i, value) in list.iter().enumerate() {
        let text = match value {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) if n.is_u64() => n.to_string(),
            _ => String::new(),
        };
        let valid = !text.is_empty()
            && text.len() <= 32
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(InputError::invalid(
                &format!("offer_ids[{i}]"),
                "offer ids are TUNE ids like \"62\" (letters, digits, - and _; at most 32)",
            )
            .into());
        }
        if seen.insert(text.clone()) {
            ids.push(text);
        }
    }
    Ok(Some(ids))
}

/// `GET /integrations/{id}/sync-logs`: newest first (`limit`, `cursor`).
pub async fn sync_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let paging = page_params_with(query, &[])?;
    load_integration(&state, &id).await?;
    let (logs, next) = state
        .repo
        .list_sync_logs(&id, paging.limit, paging.cursor)
        .await?;
    let items: Vec<Value> = logs.iter().map(|l| log_view(&state, l)).collect();
    Ok(crate::http::page_body(items, next))
}

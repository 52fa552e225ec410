//! The offers API (management): offers made by hand; sync writes the same records.

use crate::error::ApiError;
use crate::http::{JsonBody, page_params_with};
use crate::integrations::load as load_integration;
use crate::state::AppState;
use crate::update::modify_with;
use affnet_core::InputError;
use affnet_core::offer::Offer;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;

fn object(body: &Value) -> Result<&serde_json::Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| InputError::wrong_type("body", "a JSON object").into())
}

pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let map = object(&body)?;
    let integration_id = match map.get("integration_id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Null) | None => return Err(InputError::missing("integration_id").into()),
        Some(_) => return Err(InputError::wrong_type("integration_id", "a string").into()),
    };
    let integration = match load_integration(&state, &integration_id).await {
        Err(ApiError::NotFound(_)) => {
            return Err(InputError::invalid(
                "integration_id",
                format!("no integration `{integration_id}`"),
            )
            .into());
        }
        other => other?,
    };
    let network = state.network_of(&integration)?;
    let offer = Offer::create(network, map, affnet_core::ids::new_id(), chrono::Utc::now())?;
    let stored = state.repo.create_offer(&offer, None).await?;
    tracing::info!(id = %stored.id, integration = %stored.integration_id, "offer created");
    Ok((StatusCode::CREATED, Json(stored)))
}

pub async fn load(state: &AppState, id: &str) -> Result<Offer, ApiError> {
    state
        .repo
        .get_offer(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("offer `{id}`")))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(load(&state, &id).await?))
}

pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let paging = page_params_with(query, &["integration_id"])?;
    let integration = paging.filters.get("integration_id").map(String::as_str);
    let (items, next) = state
        .repo
        .list_offers(integration, paging.limit, paging.cursor)
        .await?;
    Ok(crate::http::page_body(items, next))
}

pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let map = object(&body)?.clone();
    let current = load(&state, &id).await?;
    let integration = load_integration(&state, &current.integration_id).await?;
    let network = state.network_of(&integration)?;
    let stored = modify_with(
        || load(&state, &id),
        |current: &Offer| Ok(current.patch(network, &map, chrono::Utc::now())?),
        |next: Offer| {
            let repo = state.repo.clone();
            async move { repo.update_offer(&next, None).await }
        },
    )
    .await?;
    Ok(Json(stored))
}

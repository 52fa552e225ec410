//! The management API of integrations and the network catalogue (function `api`).

use crate::error::ApiError;
use crate::http::{JsonBody, page_params_with};
use crate::state::AppState;
use crate::update::modify_with;
use affnet_core::{Integration, ids};
use affnet_store::RepoError;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

pub async fn list_networks(State(state): State<AppState>) -> impl IntoResponse {
    let networks: Vec<serde_json::Value> = state
        .catalogue
        .networks
        .iter()
        .map(|network| {
            let mut v = serde_json::to_value(network).unwrap_or_default();
            if network.kind == affnet_core::NetworkKind::Cpa {
                let api = affnet_networks::capabilities(&network.slug);
                v["api"] = json!(api);
                if let Some(why) = affnet_networks::why_no_send(&network.slug) {
                    v["api"]["no_send"] = json!(why);
                }
                if !api.send && !api.statuses {
                    let note = match network.postbacks.is_empty() {
                        false => "postbacks only",
                        true => "no public API and no postbacks: nothing to send or receive",
                    };
                    v["api"]["note"] = json!(note);
                }
            }
            v
        })
        .collect();
    Json(json!({
        "networks": networks,
        "common_settings": affnet_core::integration::common_settings(),
        "cpa_settings": affnet_core::integration::cpa_settings(),
    }))
}

pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let integration = Integration::create(
        state.catalogue,
        &body,
        ids::new_id(),
        ids::new_token(),
        chrono::Utc::now(),
    )?;
    check_reachable(&state, &integration)?;
    let stored = state.repo.create_integration(&integration).await?;
    tracing::info!(id = %stored.id, network = %stored.network, "integration created");
    crate::schedule::reconcile(&state, &stored).await?;
    Ok((StatusCode::CREATED, Json(stored.view())))
}

pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let paging = page_params_with(query, &[])?;
    let (items, next) = state
        .repo
        .list_integrations(paging.limit, paging.cursor)
        .await?;
    let items: Vec<_> = items.iter().map(Integration::view).collect();
    Ok(crate::http::page_body(items, next))
}

pub async fn load(state: &AppState, id: &str) -> Result<Integration, ApiError> {
    state
        .repo
        .get_integration(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("integration `{id}`")))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(load(&state, &id).await?.view()))
}

/// Reads, changes and writes an integration, retrying when a concurrent writer won the race.
pub async fn modify(
    state: &AppState,
    id: &str,
    change: impl Fn(&Integration) -> Result<Integration, ApiError>,
) -> Result<Integration, ApiError> {
    modify_with(
        || load(state, id),
        change,
        |next: Integration| {
            let repo = state.repo.clone();
            async move { repo.update_integration(&next).await }
        },
    )
    .await
}

pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let catalogue = state.catalogue;
    let stored = modify(&state, &id, |current| {
        let next = current.patch(catalogue, &body, chrono::Utc::now())?;
        check_reachable(&state, &next)?;
        Ok(next)
    })
    .await?;
    tracing::info!(id = %stored.id, "integration updated");
    crate::schedule::reconcile(&state, &stored).await?;
    Ok(Json(stored.view()))
}

/// Refuses, at create and patch, a TUNE address that calls would refuse later (private and
/// loopback addresses, user info, paths, ports), with the guard the TUNE client uses.
fn check_reachable(state: &AppState, integration: &Integration) -> Result<(), ApiError> {
    let Some(tune) = integration.tune() else {
        return Ok(());
    };
    let network_id = affnet_tune::guard::normalize_network_id(&tune.network_id)
        .map_err(|e| affnet_core::InputError::invalid("settings.network_id", e.to_string()))?;
    affnet_tune::guard::endpoint(
        &network_id,
        &tune.api_domain,
        state.config.allow_private_network,
    )
    .map_err(|e| affnet_core::InputError::invalid("settings.api_domain", e.to_string()))?;
    Ok(())
}

pub async fn rotate_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let token = ids::new_token();
    let stored = modify(&state, &id, |current| {
        Ok(Integration {
            postback_token: token.clone(),
            updated_at: chrono::Utc::now(),
            ..current.clone()
        })
    })
    .await?;
    tracing::info!(id = %stored.id, "postback token rotated");
    Ok(Json(stored.view()))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    match state.repo.delete_integration(&id).await {
        Ok(()) => {
            tracing::info!(%id, "integration deleted");
            crate::schedule::forget(&state, &id).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Err(RepoError::NotFound) => Err(ApiError::NotFound(format!("integration `{id}`"))),
        Err(e) => Err(e.into()),
    }
}

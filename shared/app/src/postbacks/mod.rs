//! Postback receipt: `/postback/{integration_id}` and the AlterCPA-compatible routes, the
//! postback URL to hand to a network, and the postback logs.
//!
//! A postback is accepted (2xx) only once it is durably stored with its totals and log entry
//! (see [`record`]); storage failures answer 503 so that the network retries.

pub mod cache;
pub mod params;
pub mod receive;
pub mod record;
pub mod refusals;
pub mod reply;
pub mod url;

use crate::error::ApiError;
use crate::http::page_params_with;
use crate::integrations::load as load_integration;
use crate::state::AppState;
use axum::Json;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use params::RawPostback;
use receive::Dialect;

/// `GET|POST /postback/{integration_id}?token=...`
pub async fn receive(
    State(state): State<AppState>,
    Path(integration_id): Path<String>,
    request: Request,
) -> Response {
    let raw = RawPostback::read(request, "/postback/{integration_id}").await;
    receive::handle(&state, raw, Dialect::Native, Some(&integration_id))
        .await
        .into_native()
}

/// `GET|POST /api/sale/status.json?id={integration_id}-{token}&...` and `/api/comp/status.json`.
pub async fn receive_altercpa(
    State(state): State<AppState>,
    path: MatchedPath,
    request: Request,
) -> Response {
    let route = path.as_str().to_string();
    let raw = RawPostback::read(request, &route).await;
    receive::handle(&state, raw, Dialect::AlterCpa, None)
        .await
        .into_altercpa()
}

/// `GET /integrations/{id}/postback-url`
pub async fn postback_url(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let integration = load_integration(&state, &id).await?;
    let network = state.network_of(&integration)?;
    let base = url::base_url(state.config.public_url.as_deref(), &headers).ok_or_else(|| {
        ApiError::Failed {
            status: axum::http::StatusCode::BAD_REQUEST,
            code: "public_url_unknown",
            message: "set AFFNET_PUBLIC_URL, or call with a valid Host header".into(),
        }
    })?;
    Ok(Json(url::describe(&integration, network, &base)))
}

/// `GET /integrations/{id}/postbacks?limit=&cursor=`: newest first.
pub async fn list_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let paging = page_params_with(query, &[])?;
    load_integration(&state, &id).await?;
    let (items, next) = state
        .repo
        .list_postback_logs(&id, paging.limit, paging.cursor)
        .await?;
    Ok(crate::http::page_body(items, next))
}

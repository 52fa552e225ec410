//! `POST /integrations/{id}/test-postback {event?, status?, payout?}` (function
//! `connection-test`): sends the integration's own postback, with sample values and a click ID
//! minted for one of its active offers, over HTTP to this service's public route, so that
//! routing, the token and the parameters are exercised as a network's call would; answers
//! `{url, event, status, offer_id, click_id, http_status, outcome, conversion_id, reply, log}`.
//!
//! The postback carries `test=1`: the conversion is kept and listed (`GET /conversions`,
//! `"test": true`) and counts in no totals, so reports do not move; its events carry
//! `"test": true` too. The click ID's labels (message `postback-test`) are registered as a
//! click's would be, but no click is recorded (a click would count in reports).
//!
//! Everything is checked before anything is written or sent ([`plan`]): an unknown event, a
//! status the network's postback cannot send, a payout it does not carry, an inactive
//! integration or one without an active offer is a 4xx naming the problem.

pub mod plan;
pub mod send;

use crate::error::ApiError;
use crate::http::OptionalJsonBody;
use crate::integrations::load as load_integration;
use crate::state::AppState;
use affnet_core::clickid::{ClickId, LabelHandle, Labels, RANDOM_LEN};
use affnet_core::offer::{Offer, OfferStatus};
use affnet_core::{Integration, PostbackLog};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use plan::{Plan, Sample, TestRequest};
use serde_json::{Value, json};

/// The message of every test click ID: a test conversion says where it came from.
pub const TEST_MESSAGE: &str = "postback-test";
/// Offers looked at, at most, for an active one.
const MAX_OFFER_PAGES: usize = 10;

pub async fn test_postback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    extensions: Extensions,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Json<Value>, ApiError> {
    let request = plan::parse(body.as_ref())?;
    let integration = load_integration(&state, &id).await?;
    if !integration.active {
        return Err(conflict(
            "integration_inactive",
            format!("integration {id} is inactive and refuses postbacks: activate it first"),
        ));
    }
    let base = send::base_url(&state, &extensions)?;
    let offer = active_offer(&state, &integration).await?;
    let transaction_id = format!("test-{}", affnet_core::ids::random_hex(8));
    // Checked with a click ID of the same form before the labels are written.
    let probe = mint(&state, &offer, LabelHandle::NONE)?;
    plan_for(
        &state,
        &integration,
        &request,
        &offer,
        &probe,
        &transaction_id,
    )?;
    let labels = Labels::new(TEST_MESSAGE, "");
    let handle = crate::click_labels::register(&state, &labels)
        .await
        .map_err(|e| match e {
            crate::click_labels::LabelError::Repo(e) => ApiError::from(e),
            e => ApiError::internal("registering the test click's labels", &e),
        })?;
    let click_id = mint(&state, &offer, handle)?;
    let plan = plan_for(
        &state,
        &integration,
        &request,
        &offer,
        &click_id,
        &transaction_id,
    )?;
    let url = plan.url(&base);
    let reply = send::get(&url).await?;
    let log = find_log(&state, &integration.id, &click_id).await?;
    tracing::info!(integration = %integration.id, http_status = reply.http_status, "test postback sent");
    Ok(Json(answer(&plan, url, &offer, &click_id, reply, log)))
}

fn conflict(code: &'static str, message: String) -> ApiError {
    ApiError::Failed {
        status: StatusCode::CONFLICT,
        code,
        message,
    }
}

fn plan_for(
    state: &AppState,
    integration: &Integration,
    request: &TestRequest,
    offer: &Offer,
    click_id: &str,
    transaction_id: &str,
) -> Result<Plan, ApiError> {
    let network = state.network_of(integration)?;
    let sample = Sample {
        click_id,
        transaction_id,
        payout: request.payout.unwrap_or(offer.payout).normalize(),
        currency: &offer.currency,
        remote_offer_id: offer.remote_id.as_deref(),
    };
    Ok(plan::plan(
        network,
        integration,
        request,
        &sample,
        &state.config.click_key,
    )?)
}

/// The integration's first active offer (a click can only be made on an active one).
async fn active_offer(state: &AppState, integration: &Integration) -> Result<Offer, ApiError> {
    let mut cursor = None;
    for _ in 0..MAX_OFFER_PAGES {
        let (offers, next) = state
            .repo
            .list_offers(Some(&integration.id), 100, cursor)
            .await?;
        if let Some(offer) = offers.into_iter().find(|o| o.status == OfferStatus::Active) {
            return Ok(offer);
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Err(conflict(
        "no_active_offer",
        format!(
            "integration {} has no active offer to mint a click ID for: create or sync one first",
            integration.id
        ),
    ))
}

fn mint(state: &AppState, offer: &Offer, handle: LabelHandle) -> Result<String, ApiError> {
    let mut random = [0u8; RANDOM_LEN];
    getrandom::fill(&mut random).map_err(|e| ApiError::internal("OS random source", &e))?;
    let now = chrono::Utc::now().timestamp() as u64;
    ClickId::mint(&state.config.click_key, &offer.id, handle, now, random)
        .map_err(|e| ApiError::internal(&format!("minting a click ID for offer {}", offer.id), &e))
}

/// The log entry of our postback (its query holds our fresh click ID), among the newest.
async fn find_log(
    state: &AppState,
    integration_id: &str,
    click_id: &str,
) -> Result<Option<PostbackLog>, ApiError> {
    let (logs, _) = state
        .repo
        .list_postback_logs(integration_id, 20, None)
        .await?;
    Ok(logs.into_iter().find(|l| l.query.contains(click_id)))
}

fn answer(
    plan: &Plan,
    url: String,
    offer: &Offer,
    click_id: &str,
    reply: send::Reply,
    log: Option<PostbackLog>,
) -> Value {
    let body = &reply.body;
    // The log has our own code for a refusal; AlterCPA's reply only its short one.
    let outcome = log
        .as_ref()
        .map(|l| l.outcome.clone())
        .or_else(|| body["outcome"].as_str().map(str::to_string))
        .or_else(|| body["error"]["code"].as_str().map(str::to_string))
        .or_else(|| body["error"].as_str().map(str::to_string));
    let conversion_id = body["conversion_id"]
        .as_str()
        .map(str::to_string)
        .or_else(|| log.as_ref().and_then(|l| l.conversion_id.clone()));
    json!({
        "url": url,
        "event": plan.event,
        "status": plan.status,
        "offer_id": offer.id,
        "click_id": click_id,
        "http_status": reply.http_status,
        "outcome": outcome,
        "conversion_id": conversion_id,
        "reply": reply.body,
        "log": log,
    })
}

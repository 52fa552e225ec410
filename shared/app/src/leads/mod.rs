//! Leads: `POST /leads` (public: the landing page posts the order; the signed click ID
//! authorizes and attributes it), `GET /leads` and `GET /leads/{id}` (admin), the retry job,
//! status loading and the erasure of personal data. See the README's "Leads" section.

pub mod attribution;
pub mod connection;
pub mod conversion;
pub mod jobs;
pub mod send;
pub mod status_sync;

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::lead::{Contact, Lead, LeadInput, LeadStatus, MAX_BODY_BYTES};
use affnet_core::offer::{Offer, OfferStatus};
use affnet_core::{InputError, Integration, Network};
use affnet_networks::NetworkApi;
use affnet_store::leads::CreateLeadError;
use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use std::time::Duration;

/// The first attempt is made while the landing page waits, within this (API Gateway answers
/// within 30 s); past it the lead is queued and the retry job sends it.
pub const FIRST_ATTEMPT_MAX: Duration = Duration::from_secs(20);
const MAX_IDEMPOTENCY_KEY: usize = 255;

fn refuse(status: StatusCode, code: &'static str, message: String) -> ApiError {
    ApiError::Failed {
        status,
        code,
        message,
    }
}

/// Where a lead for `offer_id` goes: the offer (active), its integration (active) and the
/// network's lead API with every offer parameter it needs; 409 or 422 otherwise.
pub async fn target_of(
    state: &AppState,
    offer_id: &str,
) -> Result<(Offer, Integration, &'static Network, &'static NetworkApi), ApiError> {
    let conflict = |code, message| refuse(StatusCode::CONFLICT, code, message);
    let offer = state.repo.get_offer(offer_id).await?.ok_or_else(|| {
        conflict(
            "offer_unavailable",
            format!("offer `{offer_id}` no longer exists"),
        )
    })?;
    if offer.status == OfferStatus::Paused {
        return Err(conflict(
            "offer_paused",
            format!("offer `{offer_id}` is paused"),
        ));
    }
    let integration = crate::integrations::load(state, &offer.integration_id).await?;
    if !integration.active {
        return Err(conflict(
            "integration_inactive",
            format!("integration `{}` is not active", integration.id),
        ));
    }
    let network = state.network_of(&integration)?;
    let unprocessable = |code, message| refuse(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    let api = affnet_networks::spec::of(&network.slug)
        .filter(|api| api.send.is_some())
        .ok_or_else(|| unprocessable("no_lead_api", no_lead_api(network)))?;
    // Only what the catalogue calls required: optional ones (OmniCPA's special price) are sent
    // when the offer has them.
    let required = |p: &String| {
        network
            .params
            .iter()
            .find(|np| np.key == *p)
            .is_none_or(|np| np.required)
    };
    let missing: Vec<String> = affnet_networks::params_needed(api)
        .into_iter()
        .filter(|p| required(p) && !offer.params.contains_key(p))
        .collect();
    if !missing.is_empty() {
        return Err(unprocessable(
            "missing_offer_params",
            format!(
                "offer `{offer_id}` lacks params {} that {} needs: PATCH /offers/{offer_id}",
                missing
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                network.name
            ),
        ));
    }
    Ok((offer, integration, network, api))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(InputError::invalid(
            "Idempotency-Key",
            format!("the Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        )
        .into());
    }
    Ok(Some(key.to_string()))
}

/// What the landing page gets: 201 (sent, rejected, trash), 202 (queued), 200 (posted before).
fn answer(lead: &Lead, repeated: bool) -> Response {
    let code = match (repeated, lead.status) {
        (true, _) => StatusCode::OK,
        (false, LeadStatus::Queued) => StatusCode::ACCEPTED,
        (false, _) => StatusCode::CREATED,
    };
    let mut body = json!({
        "lead_id": lead.id,
        "status": lead.status.as_str(),
        "network_order_id": lead.network_order_id,
    });
    if let Some(e) = lead.error.as_ref().filter(|_| lead.is_final()) {
        body["error"] = json!({ "kind": e.kind, "code": e.code, "message": e.message });
    }
    (code, Json(body)).into_response()
}

async fn body_of(request: Request) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            InputError::out_of_range(
                "body",
                format!("the body must be at most {MAX_BODY_BYTES} bytes"),
            )
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::MalformedJson(format!("malformed JSON: {e}")))
}

fn new_lead(
    input: LeadInput,
    claims: &affnet_core::clickid::ClickClaims,
    integration: &Integration,
    now: chrono::DateTime<Utc>,
) -> Lead {
    let labels = attribution::labels_of(claims);
    Lead {
        id: format!("ld_{}", affnet_core::ids::new_id()),
        integration_id: integration.id.clone(),
        network: integration.network.clone(),
        offer_id: claims.offer_id.to_string(),
        message_id: labels.message_id,
        creative_id: labels.creative_id,
        click_id: input.click_id,
        status: LeadStatus::Queued,
        contact: Some(Contact {
            name: input.name,
            phone: input.phone,
            email: input.email,
            address: input.address,
            comment: input.comment,
            ip: input.ip,
            user_agent: input.user_agent,
        }),
        country: input.country,
        referrer: input.referrer,
        language: input.language,
        quantity: input.quantity,
        price: input.price,
        network_order_id: None,
        conversion_id: None,
        error: None,
        open: false,
        attempts: 0,
        // Kept from the retry job while this request sends it.
        next_attempt_at: Some(now + send::lease(FIRST_ATTEMPT_MAX)),
        created_at: now,
        updated_at: now,
        sent_at: None,
        contact_erased_at: None,
        version: 0,
    }
}

/// The lead posted before with this key or click ID, if any.
async fn earlier(
    state: &AppState,
    key: Option<&str>,
    click_id: &str,
) -> Result<Option<Lead>, ApiError> {
    if let Some(key) = key
        && let Some(lead) = state.repo.lead_by_idempotency_key(key).await?
    {
        return Ok(Some(lead));
    }
    Ok(state.repo.lead_by_click(click_id).await?)
}

/// A lead taken in: posted before (answered as it is), or stored now and ready to send.
pub enum Accepted {
    Repeated(Lead),
    New(Lead, Box<Ready>),
}

/// Where a newly stored lead goes.
pub struct Ready {
    pub offer: Offer,
    pub integration: Integration,
    pub network: &'static Network,
    pub api: &'static NetworkApi,
    pub claims: affnet_core::clickid::ClickClaims,
}

/// Checks a lead and stores it (queued) before anything is sent; a lead posted before with the
/// same click ID or Idempotency-Key comes back as it is.
pub async fn accept(
    state: &AppState,
    input: LeadInput,
    key: Option<String>,
) -> Result<Accepted, ApiError> {
    let mut claims = attribution::verify_click_id(state, &input.click_id)?;
    if let Some(lead) = earlier(state, key.as_deref(), &input.click_id).await? {
        return Ok(Accepted::Repeated(lead));
    }
    attribution::check_fresh(state, &claims)?;
    attribution::resolve_labels(state, &mut claims).await?;
    let (offer, integration, network, api) = target_of(state, &claims.offer_id.to_string()).await?;
    let lead = new_lead(input, &claims, &integration, Utc::now());
    match state.repo.create_lead(&lead, key.as_deref()).await {
        Ok(stored) => Ok(Accepted::New(
            stored,
            Box::new(Ready {
                offer,
                integration,
                network,
                api,
                claims,
            }),
        )),
        Err(CreateLeadError::Exists) => earlier(state, key.as_deref(), &lead.click_id)
            .await?
            .map(Accepted::Repeated)
            .ok_or(ApiError::Conflict),
        Err(CreateLeadError::Repo(e)) => Err(e.into()),
    }
}

/// `POST /leads`: checks, stores (before anything is sent), sends once, answers.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let input = LeadInput::parse(&body_of(request).await?)?;
    let key = idempotency_key(&headers)?;
    let (stored, ready) = match accept(&state, input, key).await? {
        Accepted::Repeated(lead) => return Ok(answer(&lead, true)),
        Accepted::New(lead, ready) => (lead, *ready),
    };
    let target = send::Target {
        integration: &ready.integration,
        network: ready.network,
        offer: &ready.offer,
        api: ready.api,
        claims: ready.claims,
    };
    let timeout =
        Duration::from_millis(u64::from(ready.integration.timeout_ms)).min(FIRST_ATTEMPT_MAX);
    let lead = send::attempt(&state, stored, &target, timeout).await?;
    Ok(answer(&lead, false))
}

/// The 422 of a network whose leads cannot be sent: why, and what still works.
fn no_lead_api(network: &Network) -> String {
    let why = affnet_networks::why_no_send(&network.slug).unwrap_or_default();
    let then = match network.postbacks.is_empty() {
        true => {
            "affnet can neither send its leads nor receive its statuses; ask the network for its API documentation"
        }
        false => {
            "its conversions reach affnet by postback only: send leads on the network's own pages"
        }
    };
    format!(
        "{} has no lead API affnet can call: {why}; {then}",
        network.name
    )
}

/// A lead for the admin; its personal data only with `contact` (single lead view).
fn view(lead: &Lead, contact: bool) -> Value {
    let mut v = serde_json::to_value(lead).unwrap_or_default();
    if !contact && let Some(map) = v.as_object_mut() {
        map.remove("contact");
    }
    v
}

const FILTERS: &[&str] = &["integration", "offer", "status", "from", "to"];

/// `GET /leads`: newest first, filtered, paged; without personal data.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let paging = crate::http::page_params_with(query, FILTERS)?;
    let f = &paging.filters;
    let status = match f.get("status") {
        None => None,
        Some(s) => Some(LeadStatus::parse(s).ok_or_else(|| {
            InputError::invalid(
                "status",
                "`status` must be one of queued, sent, rejected, trash",
            )
        })?),
    };
    let from = f
        .get("from")
        .map(|v| crate::conversions::time(v, "from", false))
        .transpose()?;
    let to = f
        .get("to")
        .map(|v| crate::conversions::time(v, "to", true))
        .transpose()?;
    let (integration, offer) = (f.get("integration"), f.get("offer"));
    let keep = |l: &Lead| {
        integration.is_none_or(|i| *i == l.integration_id)
            && offer.is_none_or(|o| *o == l.offer_id)
            && status.is_none_or(|s| s == l.status)
    };
    let (items, next) = state
        .repo
        .list_leads(from, to, keep, paging.limit, paging.cursor)
        .await?;
    let items: Vec<Value> = items.iter().map(|l| view(l, false)).collect();
    Ok(crate::http::page_body(items, next))
}

/// `GET /leads/{id}`: the lead with its personal data, its attempts and its conversion.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let lead = state
        .repo
        .get_lead(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lead `{id}`")))?;
    let attempts = state.repo.lead_attempts(&id).await?;
    let conversion = match &lead.conversion_id {
        Some(cv) => state.repo.get_conversion(cv).await?,
        None => None,
    };
    let mut body = view(&lead, true);
    body["attempts"] = json!(attempts);
    body["conversion"] = json!(conversion);
    Ok(Json(body))
}

//! One sending attempt of a stored lead: the network's adapter, the attempt's record, the
//! lead's next state (sent, rejected, trash, or queued again with backoff) and, once sent, its
//! conversion. Used by `POST /leads` (the first attempt) and the retry job (the others).

use super::conversion::open_conversion;
use crate::error::ApiError;
use crate::retry;
use crate::state::AppState;
use affnet_core::clickid::ClickClaims;
use affnet_core::lead::{Lead, LeadAttempt, LeadError, LeadStatus, MAX_ATTEMPTS};
use affnet_core::offer::Offer;
use affnet_core::{Integration, Network};
use affnet_networks::{Account, ConfigError, Exchange, LeadFields, NetworkApi, SendOutcome};
use affnet_store::RepoError;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What an attempt needs besides the lead.
pub struct Target<'a> {
    pub integration: &'a Integration,
    pub network: &'a Network,
    pub offer: &'a Offer,
    pub api: &'static NetworkApi,
    pub claims: ClickClaims,
}

/// The integration's account as the adapters take it.
pub fn account<'a>(
    state: &AppState,
    integration: &'a Integration,
    timeout: Duration,
) -> Account<'a> {
    Account {
        credentials: &integration.credentials,
        api_url: integration.api_url(),
        timeout,
        allow_private: state.config.allow_private_network,
    }
}

fn fields(lead: &Lead, offer: &Offer) -> Option<LeadFields> {
    let contact = lead.contact.as_ref()?;
    Some(LeadFields {
        lead_id: lead.id.clone(),
        click_id: lead.click_id.clone(),
        name: contact.name.clone(),
        phone: contact.phone.clone(),
        country: lead.country.clone(),
        email: contact.email.clone(),
        address: contact.address.clone(),
        comment: contact.comment.clone(),
        ip: contact.ip.clone(),
        user_agent: contact.user_agent.clone(),
        referrer: lead.referrer.clone(),
        language: lead.language.clone(),
        quantity: lead.quantity,
        price: lead.price,
        params: offer.params.clone(),
    })
}

fn error(kind: &str, code: Option<String>, message: String) -> Option<LeadError> {
    Some(LeadError {
        kind: kind.into(),
        code,
        message,
    })
}

/// The lead after `outcome` of attempt number `lead.attempts + 1`.
fn next_state(lead: &Lead, outcome: &SendOutcome, now: DateTime<Utc>) -> Lead {
    let mut next = lead.clone();
    next.attempts = lead.attempts + 1;
    next.updated_at = now;
    next.next_attempt_at = None;
    let sent = |next: &mut Lead, order_id: &Option<String>| {
        next.status = LeadStatus::Sent;
        next.network_order_id = order_id.clone();
        next.sent_at = Some(now);
        next.error = None;
    };
    match outcome {
        SendOutcome::Sent { order_id } => sent(&mut next, order_id),
        // After an attempt that may have reached the network, its duplicate answer means that
        // attempt got through: the lead is sent.
        SendOutcome::Duplicate { order_id, .. } if lead.attempts > 0 => sent(&mut next, order_id),
        SendOutcome::Duplicate { code, message, .. } => {
            next.status = LeadStatus::Trash;
            next.error = error("duplicate", code.clone(), message.clone());
        }
        SendOutcome::Rejected { code, message } => {
            next.status = LeadStatus::Rejected;
            next.error = error("rejected", code.clone(), message.clone());
        }
        SendOutcome::Retry { kind, message } => match Lead::retry_delay(next.attempts) {
            Some(delay) if next.attempts < MAX_ATTEMPTS => {
                next.status = LeadStatus::Queued;
                next.next_attempt_at = Some(now + delay);
                next.error = error(kind.as_str(), None, message.clone());
            }
            _ => {
                next.status = LeadStatus::Rejected;
                next.error = error(
                    "gave_up",
                    None,
                    format!(
                        "not delivered after {} attempts; last: {message}",
                        next.attempts
                    ),
                );
            }
        },
    }
    next
}

fn attempt_record(
    lead: &Lead,
    exchange: &Exchange<SendOutcome>,
    now: DateTime<Utc>,
) -> LeadAttempt {
    LeadAttempt {
        lead_id: lead.id.clone(),
        number: lead.attempts + 1,
        at: now,
        http_status: exchange.http_status,
        outcome: match &exchange.result {
            SendOutcome::Sent { .. } => "sent",
            SendOutcome::Duplicate { .. } => "duplicate",
            SendOutcome::Rejected { .. } => "rejected",
            SendOutcome::Retry { .. } => "retry",
        }
        .into(),
        reply: exchange.reply.clone(),
        duration_ms: u64::try_from(exchange.duration.as_millis()).unwrap_or(u64::MAX),
    }
}

/// A configuration the user must fix (a missing credential, a bad `api_url`): the lead waits.
fn configuration(e: ConfigError) -> Exchange<SendOutcome> {
    Exchange {
        result: SendOutcome::Retry {
            kind: affnet_networks::Transient::Authentication,
            message: format!("configuration: {e}"),
        },
        http_status: None,
        reply: format!("not sent: {e}"),
        duration: Duration::ZERO,
    }
}

/// Sends `lead` (as stored, queued) once and stores what came of it. `timeout` bounds the call.
pub async fn attempt(
    state: &AppState,
    lead: Lead,
    target: &Target<'_>,
    timeout: Duration,
) -> Result<Lead, ApiError> {
    let exchange = match fields(&lead, target.offer) {
        Some(fields) => {
            let account = account(state, target.integration, timeout);
            affnet_networks::adapter(target.api)
                .send_lead(target.api, &account, &fields)
                .await
                .unwrap_or_else(configuration)
        }
        None => Exchange {
            result: SendOutcome::Rejected {
                code: None,
                message: "the lead's personal data was erased before it could be sent".into(),
            },
            http_status: None,
            reply: String::new(),
            duration: Duration::ZERO,
        },
    };
    let now = Utc::now();
    let record = attempt_record(&lead, &exchange, now);
    let mut next = next_state(&lead, &exchange.result, now);
    let mut stored = None;
    if next.status == LeadStatus::Sent {
        next.open = target.api.statuses.is_some();
        // The lead's result as `store` would write it first, in its conversion's batch.
        let number = lead.attempts + 1;
        let sent = |conversion_id: &str| Lead {
            conversion_id: Some(conversion_id.to_string()),
            attempts: number,
            version: lead.version,
            ..next.clone()
        };
        let record = LeadAttempt {
            number,
            ..record.clone()
        };
        let update = |conversion_id: &str| {
            let sent = sent(conversion_id);
            state.repo.lead_update_writes(&lead, &sent, Some(&record))
        };
        let opened = open_conversion(
            state,
            target.integration,
            target.network,
            &next,
            target.claims.clone(),
            now,
            &update,
        )
        .await?;
        if opened.lead_stored {
            stored = Some(Lead {
                version: lead.version + 1,
                ..sent(&opened.id)
            });
        }
        next.conversion_id = Some(opened.id);
    }
    tracing::info!(
        lead = %lead.id,
        integration = %target.integration.id,
        attempt = record.number,
        outcome = %record.outcome,
        status = next.status.as_str(),
        http_status = ?record.http_status,
        "lead attempt"
    );
    match stored {
        Some(stored) => Ok(stored),
        None => store(state, &lead, next, &record).await,
    }
}

/// Writes the attempt's result on the lead as read. If the lead changed meanwhile (a worker
/// took it over), the result goes on the fresh copy while that is still queued.
async fn store(
    state: &AppState,
    read: &Lead,
    next: Lead,
    record: &LeadAttempt,
) -> Result<Lead, ApiError> {
    let mut current = read.clone();
    for _ in 0..retry::ATTEMPTS {
        let number = current.attempts + 1;
        let next = Lead {
            version: current.version,
            attempts: number,
            ..next.clone()
        };
        let record = LeadAttempt {
            number,
            ..record.clone()
        };
        match state.repo.update_lead(&current, &next, Some(&record)).await {
            Ok(stored) => return Ok(stored),
            Err(RepoError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        current = match state.repo.get_lead(&read.id).await? {
            Some(fresh) if fresh.status == LeadStatus::Queued => fresh,
            Some(finished) => return Ok(finished),
            None => return Err(ApiError::NotFound(format!("lead `{}`", read.id))),
        };
    }
    Err(ApiError::Conflict)
}

/// How long a lead being sent is kept from the retry job: the call's timeout and a margin.
pub fn lease(timeout: Duration) -> chrono::Duration {
    chrono::Duration::from_std(timeout).unwrap_or_default() + chrono::Duration::seconds(60)
}

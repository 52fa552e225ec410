//! The scheduled lead work, one tick at a time (every minute: EventBridge Scheduler invokes the
//! offer-sync function with `{"job": "lead_jobs"}` on AWS; a tokio task locally): queued leads
//! whose time has come are sent again, and personal data older than `AFFNET_LEAD_PII_DAYS` is
//! erased. The integrations' silence watch runs on the same tick ([`crate::health::silence`]).
//! Status loading is not on this tick: each CPA integration has its own schedule,
//! `affnet-sync-status-<id>` ([`crate::schedule`], [`super::status_sync::run_scheduled`]).

use super::send::{Target, attempt, lease};
use super::{attribution, target_of};
use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::lead::{Lead, LeadStatus};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::time::Duration;

/// Queued leads one tick sends at most.
pub const RETRIES_PER_TICK: usize = 200;
/// Leads one tick erases at most.
const ERASED_PER_TICK: usize = 500;

/// Takes a due lead for this worker: moves its next attempt past the call's lease, on its
/// version, so a concurrent worker skips it. `None` when someone else took it.
async fn claim(
    state: &AppState,
    id: &str,
    now: DateTime<Utc>,
    timeout: Duration,
) -> Result<Option<Lead>, ApiError> {
    let Some(lead) = state.repo.get_lead(id).await? else {
        return Ok(None);
    };
    if lead.status != LeadStatus::Queued || lead.next_attempt_at.is_some_and(|t| t > now) {
        return Ok(None);
    }
    let claimed = Lead {
        next_attempt_at: Some(now + lease(timeout)),
        ..lead.clone()
    };
    match state.repo.update_lead(&lead, &claimed, None).await {
        Ok(stored) => Ok(Some(stored)),
        Err(affnet_store::RepoError::Conflict) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What a retry pass did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct RetryRun {
    pub due: usize,
    pub sent: usize,
    pub queued: usize,
    pub refused: usize,
    /// Leads whose offer or integration cannot take them now (paused, inactive): they wait.
    pub waiting: usize,
}

/// Sends the queued leads due at `now` once more.
pub async fn run_retries(state: &AppState, now: DateTime<Utc>) -> Result<RetryRun, ApiError> {
    let due = state.repo.due_leads(now, RETRIES_PER_TICK).await?;
    let mut run = RetryRun {
        due: due.len(),
        ..RetryRun::default()
    };
    for id in due {
        let Some(peek) = state.repo.get_lead(&id).await? else {
            continue;
        };
        let target = target_of(state, &peek.offer_id).await;
        let timeout = match &target {
            Ok((_, integration, _, _)) => Duration::from_millis(u64::from(integration.timeout_ms)),
            Err(_) => Duration::from_secs(15 * 60),
        };
        // A lead its target cannot take yet waits a lease (15 minutes) and is asked again.
        let Some(lead) = claim(state, &id, now, timeout).await? else {
            continue;
        };
        let (offer, integration, network, api) = match target {
            Ok(t) => t,
            Err(e) => {
                tracing::info!(lead = %lead.id, reason = %e, "queued lead waits");
                run.waiting += 1;
                continue;
            }
        };
        let claims = attribution::attributed(state, &lead.click_id).await?;
        let target = Target {
            integration: &integration,
            network,
            offer: &offer,
            api,
            claims,
        };
        match attempt(state, lead, &target, timeout).await?.status {
            LeadStatus::Sent => run.sent += 1,
            LeadStatus::Queued => run.queued += 1,
            LeadStatus::Rejected | LeadStatus::Trash => run.refused += 1,
        }
    }
    Ok(run)
}

/// Erases the personal data of leads created more than `AFFNET_LEAD_PII_DAYS` ago.
pub async fn erase_contacts(state: &AppState, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let before = now - chrono::Duration::days(i64::from(state.config.lead_pii_days));
    let ids = state
        .repo
        .leads_with_contact_before(before, ERASED_PER_TICK)
        .await?;
    let mut erased = 0;
    for id in ids {
        let done = crate::retry::on_conflict(|| async {
            let Some(lead) = state.repo.get_lead(&id).await? else {
                return Ok(false);
            };
            let mut next = lead.clone();
            next.erase_contact(now);
            if next == lead {
                return Ok(false);
            }
            state
                .repo
                .update_lead(&lead, &next, None)
                .await
                .map(|_| true)
        })
        .await?;
        erased += usize::from(done);
    }
    Ok(erased)
}

/// One tick of every lead job; each part's failure is reported, not fatal to the others.
pub async fn run_lead_jobs(state: &AppState) -> Value {
    let now = state.clock.now();
    let part = |r: Result<Value, ApiError>| r.unwrap_or_else(|e| json!({"error": e.to_string()}));
    let retries = part(run_retries(state, now).await.map(|r| json!(r)));
    let erased = part(erase_contacts(state, now).await.map(|n| json!(n)));
    // Not a lead job, but on the same every-minute tick (see `crate::health::silence`).
    let silence = part(crate::health::silence::run_checks(state, now).await);
    json!({"retries": retries, "erased": erased, "silence": silence})
}

/// The local server's ticker: the same jobs every `period`, until the process ends.
pub fn spawn_local(state: AppState, period: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let summary = run_lead_jobs(&state).await;
            tracing::debug!(%summary, "lead jobs ran");
        }
    })
}

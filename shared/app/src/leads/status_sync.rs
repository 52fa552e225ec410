//! Loading lead statuses from a network's API: the integration's open leads (sent within the
//! last [`WINDOW_DAYS`], conversion not final) are asked for in the network's pages and pace,
//! each word is mapped through the API's codes, the catalogue's status map and the default
//! dictionary, and each change goes through the status machine and the atomic conversion write
//! (history source `api`), so a status already applied by postback changes nothing.
//!
//! Runs come on demand (`POST /integrations/{id}/status-sync`) and from the integration's own
//! schedule, `affnet-sync-status-<id>` every `status_sync.every_minutes` ([`run_scheduled`],
//! see [`crate::schedule`]).

use super::conversion::{Loaded, apply_loaded};
use super::send::account;
use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::lead::Lead;
use affnet_core::postback::default_stage;
use affnet_core::status::Stage;
use affnet_core::{Integration, Network, Status, money};
use affnet_networks::spec::{LeadRef as By, StatusCall};
use affnet_networks::{LeadRef, RemoteStatus};
use affnet_store::leads::OpenLead;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Leads sent longer ago are no longer asked for.
pub const WINDOW_DAYS: i64 = 60;

/// What one run did (the answer of `POST /integrations/{id}/status-sync`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StatusRun {
    pub integration_id: String,
    pub leads_asked: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub errors: Vec<String>,
    pub requests: u32,
    pub duration_ms: u64,
    /// Requests to the network that failed (each also in `errors`).
    #[serde(skip)]
    pub failed_requests: usize,
}

impl StatusRun {
    /// The network was asked and every request failed: nothing could be loaded.
    pub fn failed_as_a_whole(&self) -> bool {
        self.requests > 0 && self.failed_requests >= self.requests as usize
    }
}

/// The network's word as our status: the API's own codes, the catalogue's map, the default.
pub fn status_of(call: &StatusCall, network: &Network, raw: &str) -> Option<Status> {
    let word = raw.trim().to_lowercase();
    let mapped = call
        .status_codes
        .get(&word)
        .or_else(|| network.status_map.get(&word))
        .and_then(|s| Stage::parse(s));
    mapped.or_else(|| default_stage(&word)).map(Stage::status)
}

async fn open_leads(
    state: &AppState,
    integration_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<OpenLead>, ApiError> {
    let (mut all, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = state
            .repo
            .open_leads(integration_id, since, 1_000, cursor)
            .await?;
        all.extend(page);
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(all),
        }
    }
}

/// Marks a lead whose conversion became final as closed: it is asked for no more.
async fn close(state: &AppState, lead_id: &str) -> Result<(), ApiError> {
    crate::retry::on_conflict(|| async {
        let Some(lead) = state.repo.get_lead(lead_id).await? else {
            return Ok(());
        };
        if !lead.open {
            return Ok(());
        }
        let next = Lead {
            open: false,
            updated_at: Utc::now(),
            ..lead.clone()
        };
        state.repo.update_lead(&lead, &next, None).await.map(|_| ())
    })
    .await
    .map_err(Into::into)
}

async fn apply(
    state: &AppState,
    lead: &OpenLead,
    status: Status,
    remote: &RemoteStatus,
    run: &mut StatusRun,
) -> Result<(), ApiError> {
    let Some(conversion_id) = &lead.conversion_id else {
        return Ok(());
    };
    let loaded = Loaded {
        status,
        raw: &remote.raw_status,
        payout: remote.payout.and_then(|p| money::check_amount(p).ok()),
        currency: remote.currency.as_deref().and_then(money::currency),
    };
    match apply_loaded(state, conversion_id, &loaded, Utc::now()).await? {
        Some(conversion) => {
            run.changed += 1;
            if affnet_core::conversion::rank(conversion.status) == 2 {
                close(state, &lead.lead_id).await?;
            }
        }
        None => run.unchanged += 1,
    }
    Ok(())
}

/// One run for `integration`: every open lead asked once.
pub async fn run(state: &AppState, integration: &Integration) -> Result<StatusRun, ApiError> {
    let started = Instant::now();
    let network = state.network_of(integration)?;
    let api = affnet_networks::spec::of(&network.slug)
        .filter(|a| a.statuses.is_some())
        .ok_or_else(|| ApiError::Failed {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "no_status_api",
            message: format!(
                "{} has no public status API: its statuses come by postback",
                network.name
            ),
        })?;
    let call = api.statuses.as_ref().expect("filtered");
    let since = Utc::now() - chrono::Duration::days(WINDOW_DAYS);
    let open = open_leads(state, &integration.id, since).await?;
    let mut run = StatusRun {
        integration_id: integration.id.clone(),
        leads_asked: open.len(),
        ..StatusRun::default()
    };
    if !open.is_empty() {
        let refs: Vec<LeadRef> = open
            .iter()
            .map(|l| LeadRef {
                order_id: l.order_id.clone(),
                click_id: l.click_id.clone(),
            })
            .collect();
        let timeout = Duration::from_millis(u64::from(integration.timeout_ms));
        let report = affnet_networks::adapter(api)
            .load_statuses(api, &account(state, integration, timeout), &refs, since)
            .await
            .map_err(|e| ApiError::Failed {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "status_sync_config",
                message: e.to_string(),
            })?;
        run.requests = report.requests;
        run.failed_requests = report.errors.len();
        run.errors = report.errors;
        let by_id: HashMap<&str, &OpenLead> = open
            .iter()
            .filter_map(|l| match call.by {
                By::OrderId => l.order_id.as_deref().map(|id| (id, l)),
                By::ClickId => Some((l.click_id.as_str(), l)),
            })
            .collect();
        for remote in &report.statuses {
            let Some(lead) = by_id.get(remote.id.as_str()) else {
                continue;
            };
            match status_of(call, network, &remote.raw_status) {
                Some(status) => apply(state, lead, status, remote, &mut run).await?,
                None => run.errors.push(format!(
                    "lead {}: unknown status `{}`",
                    lead.lead_id,
                    remote.raw_status.chars().take(40).collect::<String>()
                )),
            }
        }
    }
    run.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        integration = %integration.id,
        asked = run.leads_asked,
        changed = run.changed,
        errors = run.errors.len(),
        requests = run.requests,
        "lead statuses loaded"
    );
    Ok(run)
}

/// How long the last run's time is kept (`health`'s `last_status_load_at`).
const LAST_RUN_KEEP_SECS: i64 = 2 * 24 * 3600;

/// What a scheduled status load did.
#[derive(Debug)]
pub enum Scheduled {
    /// The integration is gone; its schedules were removed.
    Gone,
    /// The integration no longer wants status loading (the reason); its schedule was removed.
    Skipped(String),
    /// The run, which may have per-lead or per-request errors.
    Ran(StatusRun),
    /// The run failed as a whole: it could not run, or every request to the network failed.
    Failed(String),
}

/// Loads the statuses of `integration_id` if it still wants scheduled status loading (see
/// [`crate::schedule::wanted_status_sync`]). A deleted integration's schedules are removed; an
/// inactive one, one with status loading disabled or whose network has no status API is
/// skipped and its status schedule removed. `Err` only when the integration cannot be read.
pub async fn run_scheduled(state: &AppState, integration_id: &str) -> Result<Scheduled, ApiError> {
    let Some(integration) = state.repo.get_integration(integration_id).await? else {
        tracing::info!(
            integration = integration_id,
            "scheduled status load of a deleted integration: removing its schedules"
        );
        crate::schedule::forget(state, integration_id).await;
        return Ok(Scheduled::Gone);
    };
    if crate::schedule::wanted_status_sync(&integration).is_none() {
        if let Err(e) = state
            .scheduler()
            .remove_job(crate::schedule::Job::StatusSync, integration_id)
            .await
        {
            tracing::warn!(integration = integration_id, error = %e, "status schedule not removed yet");
        }
        let reason = if !integration.active {
            "the integration is inactive; its schedule was removed"
        } else if !crate::schedule::has_status_api(&integration) {
            "the network has no status API; its schedule was removed"
        } else {
            "status loading is disabled for this integration; its schedule was removed"
        };
        tracing::info!(
            integration = integration_id,
            reason,
            "scheduled status load skipped"
        );
        return Ok(Scheduled::Skipped(reason.to_string()));
    }
    let result = run(state, &integration).await;
    if let Err(e) = state
        .repo
        .set_status_sync_last_run(&integration.id, Utc::now(), LAST_RUN_KEEP_SECS)
        .await
    {
        tracing::warn!(integration = integration_id, error = %e, "last status load time not kept");
    }
    Ok(match result {
        Ok(run) if run.failed_as_a_whole() => Scheduled::Failed(format!(
            "all {} requests to the network failed: {}",
            run.requests,
            run.errors.first().map_or("no message", String::as_str)
        )),
        Ok(run) => Scheduled::Ran(run),
        Err(e) => Scheduled::Failed(e.to_string()),
    })
}

/// `POST /integrations/{id}/status-sync`: one run now, answered with what it did.
pub async fn sync_now(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StatusRun>, ApiError> {
    let integration = crate::integrations::load(&state, &id).await?;
    let run = run(&state, &integration).await?;
    state
        .repo
        .set_status_sync_last_run(&integration.id, Utc::now(), LAST_RUN_KEEP_SECS)
        .await?;
    Ok(Json(run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use affnet_core::Catalogue;

    /// Each status network's own words and codes, as the reference records them, read as ours.
    #[test]
    fn each_networks_words_map_to_our_statuses() {
        use Status::*;
        let cases: &[(&str, &[(&str, Status)])] = &[
            // 0 Pending, 1 Approved, 2 Rejected, 3 Spam, 4 Double.
            (
                "whocpa",
                &[
                    ("0", Pending),
                    ("1", Approved),
                    ("2", Rejected),
                    ("3", Trash),
                    ("4", Trash),
                ],
            ),
            (
                "webvork",
                &[
                    ("confirmed", Approved),
                    ("rejected", Rejected),
                    ("trash", Trash),
                ],
            ),
            (
                "monsterleads",
                &[("approved", Approved), ("aborted", Rejected)],
            ),
            (
                "terraleads",
                &[
                    ("accept", Pending),
                    ("expect", Pending),
                    ("confirm", Approved),
                    ("reject", Rejected),
                    ("fail", Rejected),
                    ("trash", Trash),
                ],
            ),
            // Its templates' 1 / 2 / 3, 4.
            (
                "cpatl",
                &[
                    ("1", Pending),
                    ("2", Approved),
                    ("3", Rejected),
                    ("4", Rejected),
                ],
            ),
            (
                "limonad",
                &[
                    ("approve", Approved),
                    ("cancel", Rejected),
                    ("trash", Trash),
                ],
            ),
        ];
        for (slug, words) in cases {
            let network = Catalogue::embedded().network(slug).unwrap();
            let call = affnet_networks::spec::of(slug)
                .and_then(|a| a.statuses.as_ref())
                .unwrap_or_else(|| panic!("{slug} loads statuses"));
            for (word, want) in *words {
                assert_eq!(
                    status_of(call, network, word),
                    Some(*want),
                    "{slug}: {word}"
                );
                let shouted = word.to_uppercase();
                assert_eq!(
                    status_of(call, network, &shouted),
                    Some(*want),
                    "{slug}: {shouted}"
                );
            }
            assert_eq!(status_of(call, network, "no-such-word"), None, "{slug}");
        }
    }
}

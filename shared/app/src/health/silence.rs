//! The silence watch, one check at a time (every minute with the lead jobs: EventBridge
//! Scheduler's `{"job": "lead_jobs"}` on AWS, the local server's ticker locally): an active
//! integration whose offers got clicks within its `silence_hours` while no postback was accepted
//! becomes silent (`integration.silent`), and recovers (`integration.recovered`) at the first
//! accepted postback after. The state is one item changed on its version with the event in the
//! same batch, so each transition is emitted once however many checks run at once.

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::health::{Received, SilenceState, Transition, Watch, hour_of, transition};
use affnet_core::{Event, Integration};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// The refusals read to name a silence's cause cover at most this many hours.
pub const CAUSE_HOURS: u32 = 168;

/// What the watch sees of `integration` at `now`, reading only what the state needs: while
/// silent, whether a postback was accepted since; else the clicks, then the postbacks of the
/// window (none of it for an integration younger than its window).
pub async fn observe(
    state: &AppState,
    integration: &Integration,
    current: Option<&SilenceState>,
    now: DateTime<Utc>,
) -> Result<Watch, ApiError> {
    let hours = integration.typed.silence_hours.0;
    let mut watch = Watch {
        now,
        silence_hours: hours,
        created_at: integration.created_at,
        clicks: false,
        accepted: false,
        accepted_since_silent: false,
    };
    let repo = &state.repo;
    if let Some(silent) = current.filter(|s| s.silent) {
        watch.accepted_since_silent = repo
            .accepted_since(&integration.id, hour_of(silent.since))
            .await?;
        return Ok(watch);
    }
    if now - integration.created_at < Duration::hours(i64::from(hours)) {
        return Ok(watch);
    }
    let from = Watch::window_start(now, hours);
    watch.clicks = !repo
        .click_hours(&integration.id, from, Some(1))
        .await?
        .is_empty();
    if watch.clicks {
        watch.accepted = repo.accepted_since(&integration.id, from).await?;
    }
    Ok(watch)
}

/// Refused (and accepted) postbacks from the hour of `from` on, by reason group.
pub async fn received_since(
    state: &AppState,
    integration_id: &str,
    from: DateTime<Utc>,
) -> Result<Received, ApiError> {
    let (accepted, refused) = tokio::join!(
        state.repo.accepted_hours(integration_id, from),
        state.repo.refused_hours(integration_id, from),
    );
    Ok(super::received_in(&accepted?, &refused?, from))
}

/// Checks one integration at `now`; the transition it stored, if any.
pub async fn check(
    state: &AppState,
    integration: &Integration,
    now: DateTime<Utc>,
) -> Result<Option<Transition>, ApiError> {
    let id = &integration.id;
    let current = state.repo.silence_state(id).await?;
    let watch = observe(state, integration, current.as_ref(), now).await?;
    let Some(step) = transition(current.as_ref(), &watch) else {
        return Ok(None);
    };
    let event_id = affnet_core::ids::new_id();
    let (next, event) = match step {
        Transition::Silent => {
            let from = Watch::window_start(now, watch.silence_hours);
            let cause_from = from.max(hour_of(now - Duration::hours(i64::from(CAUSE_HOURS))));
            let cause = received_since(state, id, cause_from).await?.cause();
            let next = SilenceState {
                silent: true,
                since: now,
                cause: Some(cause),
                version: 0,
            };
            let hours = watch.silence_hours;
            let event =
                Event::integration_silent(event_id, id, &integration.network, hours, from, &next);
            (next, event)
        }
        Transition::Recovered => {
            let Some(was) = current.as_ref() else {
                return Ok(None);
            };
            let next = SilenceState {
                silent: false,
                since: now,
                cause: None,
                version: 0,
            };
            let event = Event::integration_recovered(event_id, id, &integration.network, was, now);
            (next, event)
        }
    };
    match state
        .repo
        .change_silence_state(id, current.as_ref(), &next, &event)
        .await
    {
        Ok(_) => Ok(Some(step)),
        // Another check made this transition first: it emitted the event.
        Err(affnet_store::RepoError::Conflict) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks every active integration at `now`: `{checked, silent: [ids], recovered: [ids],
/// errors: [{integration_id, error}]}`. One integration's failure does not stop the others.
pub async fn run_checks(state: &AppState, now: DateTime<Utc>) -> Result<Value, ApiError> {
    let (mut checked, mut silent, mut recovered, mut errors) = (0, vec![], vec![], vec![]);
    let mut cursor = None;
    loop {
        let (page, next) = state.repo.list_integrations(100, cursor).await?;
        for integration in page.iter().filter(|i| i.active) {
            checked += 1;
            match check(state, integration, now).await {
                Ok(Some(Transition::Silent)) => silent.push(integration.id.clone()),
                Ok(Some(Transition::Recovered)) => recovered.push(integration.id.clone()),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(integration = %integration.id, error = %e, "silence check failed");
                    errors.push(json!({"integration_id": integration.id, "error": e.to_string()}));
                }
            }
        }
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    Ok(json!({"checked": checked, "silent": silent, "recovered": recovered, "errors": errors}))
}

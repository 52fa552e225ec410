//! The bodies of the integration-health conformance cases (listed in [`crate::conformance`]).

use crate::conformance_events::{all_events, conversion};
use crate::conversions::{ConversionWrite, OtherNames};
use crate::port::ItemStore;
use crate::repo::{Repo, RepoError};
use affnet_core::health::{Cause, SilenceState};
use affnet_core::{Event, EventType, PostbackLog, Status};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;

fn log(integration_id: &str, outcome: &str, time: DateTime<Utc>) -> PostbackLog {
    PostbackLog {
        id: affnet_core::ids::new_id(),
        integration_id: integration_id.into(),
        time,
        method: "GET".into(),
        route: "/postback/{integration_id}".into(),
        query: "token=***".into(),
        body: None,
        remote_ip: None,
        outcome: outcome.into(),
        http_status: 200,
        conversion_id: None,
        message: None,
    }
}

fn with(log: &PostbackLog) -> ConversionWrite<'_> {
    ConversionWrite {
        sync: true,
        along: &[],
        postback_log: Some((log, log.time.timestamp() + 86_400)),
        click_ttl_secs: 86_400,
        names: OtherNames::default(),
    }
}

fn n(v: u64) -> Decimal {
    Decimal::from(v)
}

/// Accepted postbacks count in their batch, per hour and outcome, over the shards (a create
/// whose id is taken counts nothing); refusals count per hour and reason.
pub async fn accepted_and_refused_postbacks_count_per_hour(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let now = Utc::now();
    let hour = affnet_core::health::hour_of(now);
    let created = conversion("T-1", Status::Pending);
    let first = log("I1", "created", now);
    repo.create_conversion(&created, with(&first))
        .await
        .unwrap();
    let again = log("I1", "created", now);
    let replay = repo.create_conversion(&created, with(&again)).await;
    assert!(matches!(replay, Err(RepoError::Conflict)), "{replay:?}");
    let stored = repo.get_conversion(&created.id).await.unwrap().unwrap();
    let mut approved = stored.clone();
    approved.status = Status::Approved;
    let changed = log("I1", "changed", now);
    repo.change_conversion(&stored, &approved, with(&changed))
        .await
        .unwrap();
    for _ in 0..3 {
        let duplicate = log("I1", "duplicate", now);
        repo.put_postback_log(&duplicate, now.timestamp() + 86_400, false)
            .await
            .unwrap();
    }
    let earlier = log("I1", "created", now - Duration::hours(2));
    repo.put_postback_log(&earlier, now.timestamp() + 86_400, true)
        .await
        .unwrap();
    let hours = repo
        .accepted_hours("I1", now - Duration::hours(5))
        .await
        .unwrap();
    assert_eq!(hours.len(), 2, "{hours:?}");
    let this = &hours[&crate::health::hour_string(now)];
    assert_eq!(
        (this["created"], this["changed"], this["duplicate"]),
        (n(1), n(1), n(3))
    );
    // The conversion has no click of ours: its create and change count as unmatched.
    assert_eq!(this[crate::health::UNMATCHED], n(2));
    assert!(repo.accepted_since("I1", hour).await.unwrap());
    assert!(
        !repo
            .accepted_since("I1", hour + Duration::hours(1))
            .await
            .unwrap()
    );
    assert!(!repo.accepted_since("I2", hour).await.unwrap());
    assert_eq!(repo.accepted_hours("I1", now).await.unwrap().len(), 1);

    for code in ["bad_token", "bad_token", "ip_not_allowed"] {
        let refused = log("I1", code, now);
        repo.record_refused_postback(refused, false, now.timestamp() + 86_400)
            .await
            .unwrap();
    }
    let refused = repo.refused_hours("I1", hour).await.unwrap();
    let this = &refused[&crate::health::hour_string(now)];
    assert_eq!(
        (this["refused.bad_token"], this["refused.ip_not_allowed"]),
        (n(2), n(1))
    );
}

/// The silence state changes on its version with its event in the batch: a second check that
/// read the same state conflicts and adds no event.
pub async fn silence_transitions_happen_once_with_their_event(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let now = Utc::now();
    assert_eq!(repo.silence_state("I1").await.unwrap(), None);
    let silent = SilenceState {
        silent: true,
        since: now,
        cause: Some(Cause::RefusedForToken),
        version: 0,
    };
    let event = |s: &SilenceState| {
        Event::integration_silent(affnet_core::ids::new_id(), "I1", "tune", 24, now, s)
    };
    let stored = repo
        .change_silence_state("I1", None, &silent, &event(&silent))
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    let late = repo
        .change_silence_state("I1", None, &silent, &event(&silent))
        .await;
    assert!(matches!(late, Err(RepoError::Conflict)), "{late:?}");
    let read = repo.silence_state("I1").await.unwrap().unwrap();
    assert_eq!(read, stored);
    let back = SilenceState {
        silent: false,
        since: now + Duration::hours(1),
        cause: None,
        version: 0,
    };
    let recovered =
        |at| Event::integration_recovered(affnet_core::ids::new_id(), "I1", "tune", &read, at);
    repo.change_silence_state("I1", Some(&read), &back, &recovered(back.since))
        .await
        .unwrap();
    let stale = repo
        .change_silence_state("I1", Some(&read), &back, &recovered(back.since))
        .await;
    assert!(matches!(stale, Err(RepoError::Conflict)), "{stale:?}");
    let events = all_events(&repo).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            Some(EventType::IntegrationSilent),
            Some(EventType::IntegrationRecovered)
        ]
    );
    assert_eq!(events[0].data["cause"], "refused_for_token");
    let state = repo.silence_state("I1").await.unwrap().unwrap();
    assert!(!state.silent && state.version == 2);
}

/// Click hours are noted once per hour however often; a connection test's result is kept.
pub async fn click_hours_and_connection_tests_are_kept(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let now = Utc::now();
    let earlier = now - Duration::hours(3);
    for at in [earlier, now, now, earlier] {
        repo.note_click_hour("I1", at).await.unwrap();
    }
    let all = repo.click_hours("I1", now - Duration::hours(4), None).await;
    let expected = vec![
        crate::health::hour_string(earlier),
        crate::health::hour_string(now),
    ];
    assert_eq!(all.unwrap(), expected);
    let first = repo
        .click_hours("I1", now - Duration::hours(4), Some(1))
        .await;
    assert_eq!(first.unwrap(), expected[..1]);
    let recent = repo.click_hours("I1", now - Duration::hours(1), None).await;
    assert_eq!(recent.unwrap(), expected[1..]);
    assert!(
        repo.click_hours("I2", earlier, None)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(repo.last_connection_test("I1").await.unwrap(), None);
    for ok in [false, true] {
        let result = serde_json::json!({"at": now, "ok": ok, "failed_checks": []});
        repo.put_connection_test("I1", &result).await.unwrap();
    }
    let kept = repo.last_connection_test("I1").await.unwrap().unwrap();
    assert_eq!(kept["ok"], true);
}

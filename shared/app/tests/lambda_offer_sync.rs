//! The offer-sync Lambda handler: a scheduler invocation runs a scheduled sync; an API Gateway
//! event goes to the same router as everywhere.

mod lead_cases;
mod pb_support;
mod support;

use affnet_app::lambda_offer_sync::{handle, scheduled_integration_id, scheduled_job};
use affnet_app::routes::Function;
use affnet_app::schedule::Job;
use affnet_app::{Config, router};
use affnet_tune::Mode;
use affnet_tune::mock::{MockTune, NETWORK_ID, fixtures, key_for};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use support::{call, sqlite_state};

fn http_event(path: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "GET /integrations/{id}/sync-logs",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r1", "routeKey": "GET /integrations/{id}/sync-logs",
            "stage": "$default", "time": "01/Jan/2025:00:00:00 +0000", "timeEpoch": 0,
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "test"}
        },
        "isBase64Encoded": false
    })
}

#[tokio::test]
async fn scheduler_payloads_and_http_events_are_told_apart() {
    assert_eq!(
        scheduled_integration_id(&json!({"integration_id": "01A"})).as_deref(),
        Some("01A")
    );
    assert_eq!(
        scheduled_integration_id(&json!({"integration_id": ""})),
        None
    );
    assert_eq!(scheduled_integration_id(&http_event("/x")), None);
    let sneaky = {
        let mut e = http_event("/x");
        e["integration_id"] = json!("01A");
        e
    };
    assert_eq!(
        scheduled_integration_id(&sneaky),
        None,
        "HTTP callers cannot trigger a scheduled run"
    );
}

#[tokio::test]
async fn one_handler_serves_schedules_and_http() {
    let tune = MockTune::start().await;
    tune.mount_advertisers(&[("100", "Acme")]).await;
    tune.mount_offers(
        Mode::Network,
        (1..=2).map(fixtures::network_offer_row).collect(),
    )
    .await;
    let state = sqlite_state(Config::for_tests());
    let app = router::for_function(Function::OfferSync, state.clone());
    let created = call(&router::local(state.clone()), "POST", "/integrations", Some(json!({
        "network": "tune", "name": "T", "credentials": {"api_key": key_for(Mode::Network)},
        "settings": {"network_id": NETWORK_ID, "api_domain": tune.uri(), "auto_sync": {"enabled": true}},
    })))
    .await;
    let id = created.json["id"].as_str().unwrap().to_string();

    let scheduled = LambdaEvent::new(json!({"integration_id": id}), Context::default());
    let out = handle(state.clone(), app.clone(), scheduled).await.unwrap();
    assert_eq!(out["log"]["trigger"], "scheduled");
    assert_eq!(out["log"]["status"], "succeeded");
    assert_eq!(out["log"]["counts"]["created"], 2);

    let path = format!("/integrations/{id}/sync-logs");
    let http = LambdaEvent::new(http_event(&path), Context::default());
    let out = handle(state.clone(), app, http).await.unwrap();
    assert_eq!(out["statusCode"], 200, "{out}");
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["items"][0]["id"], out_log_id(&state, &id).await);

    // A scheduled invocation for an integration that is gone is a no-op, not an error.
    let gone = LambdaEvent::new(
        json!({"integration_id": "01GONE0000000000000000000"}),
        Context::default(),
    );
    let out = handle(
        state.clone(),
        router::for_function(Function::OfferSync, state),
        gone,
    )
    .await
    .unwrap();
    assert_eq!(out["log"], Value::Null);
}

/// Issue #9: a scheduled run that failed fails the invocation, with a readable error type; a
/// skipped one does not.
#[tokio::test]
async fn a_failed_scheduled_sync_fails_the_invocation_and_a_skipped_one_does_not() {
    let tune = MockTune::start().await;
    tune.mount_status(None, 500, None).await;
    let state = sqlite_state(Config::for_tests());
    let app = router::for_function(Function::OfferSync, state.clone());
    let local = router::local(state.clone());
    let created = call(&local, "POST", "/integrations", Some(json!({
        "network": "tune", "name": "T", "credentials": {"api_key": key_for(Mode::Network)},
        "settings": {"network_id": NETWORK_ID, "api_domain": tune.uri(), "auto_sync": {"enabled": true}},
    })))
    .await;
    let id = created.json["id"].as_str().unwrap().to_string();

    let scheduled = LambdaEvent::new(json!({"integration_id": id}), Context::default());
    let error = handle(state.clone(), app.clone(), scheduled)
        .await
        .expect_err("a failed run fails the invocation");
    let diagnostic = lambda_http::lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "SyncFailed");
    assert!(
        diagnostic.error_message.contains(&id),
        "{}",
        diagnostic.error_message
    );
    let (logs, _) = state.repo.list_sync_logs(&id, 1, None).await.unwrap();
    assert_eq!(logs[0].status, affnet_core::sync_log::SyncStatus::Failed);

    let patched = call(
        &local,
        "PATCH",
        &format!("/integrations/{id}"),
        Some(json!({"active": false})),
    )
    .await;
    assert!(patched.status.is_success(), "{}", patched.text);
    let scheduled = LambdaEvent::new(json!({"integration_id": id}), Context::default());
    let out = handle(state.clone(), app, scheduled)
        .await
        .expect("a skipped run is a successful invocation");
    assert_eq!(out["log"]["status"], "skipped");
}

async fn out_log_id(state: &affnet_app::AppState, id: &str) -> Value {
    let (logs, _) = state.repo.list_sync_logs(id, 1, None).await.unwrap();
    json!(logs[0].id)
}

/// A scheduler invocation with `"job": "reconcile"` runs a scheduled reconciliation; a failed
/// one fails the invocation as `ReconcileFailed`.
#[tokio::test]
async fn a_reconcile_job_runs_a_scheduled_reconciliation() {
    let tune = MockTune::start().await;
    let reports = tune.mount_reports(Mode::Network, Vec::new()).await;
    let state = sqlite_state(Config::for_tests());
    let app = router::for_function(Function::OfferSync, state.clone());
    let created = call(
        &router::local(state.clone()),
        "POST",
        "/integrations",
        Some(json!({
            "network": "tune", "name": "T", "credentials": {"api_key": key_for(Mode::Network)},
            "settings": {"network_id": NETWORK_ID, "api_domain": tune.uri(),
                         "reconcile": {"enabled": true, "lookback_days": 2}},
        })),
    )
    .await;
    let id = created.json["id"].as_str().unwrap().to_string();
    assert_eq!(
        scheduled_job(&json!({"integration_id": id, "job": "reconcile"})),
        Job::Reconcile
    );
    assert_eq!(scheduled_job(&json!({"integration_id": id})), Job::Sync);

    let event = LambdaEvent::new(
        json!({"integration_id": id, "job": "reconcile"}),
        Context::default(),
    );
    let out = handle(state.clone(), app.clone(), event).await.unwrap();
    assert_eq!(
        (out["job"].as_str(), out["run"]["trigger"].as_str()),
        (Some("reconcile"), Some("scheduled")),
        "{out}"
    );
    assert_eq!(out["run"]["status"], "succeeded", "{out}");
    assert!(
        state
            .repo
            .list_sync_logs(&id, 10, None)
            .await
            .unwrap()
            .0
            .is_empty(),
        "not a sync"
    );

    // TUNE failing: the run is recorded failed, and the invocation fails with its type.
    reports.set_max_days(Some(0));
    let event = LambdaEvent::new(
        json!({"integration_id": id, "job": "reconcile"}),
        Context::default(),
    );
    let error = handle(state.clone(), app, event)
        .await
        .expect_err("a failed run fails the invocation");
    let diagnostic = lambda_http::lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "ReconcileFailed");
    let (runs, _) = state.repo.list_recon_runs(&id, 1, None).await.unwrap();
    assert_eq!(runs[0].status, affnet_core::reconcile::RunStatus::Failed);
}

/// Issue #10: `{"job": "status_sync"}` loads the integration's lead statuses (the mock network
/// answers); a load whose every request failed fails the invocation as `StatusSyncFailed`; one
/// for a disabled integration, or a deleted one, is skipped and removes its schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_sync_job_loads_statuses_and_a_gone_or_disabled_one_is_skipped() {
    use affnet_app::schedule::{Frequency, SyncScheduler};
    use affnet_app::schedule_local::LocalScheduler;
    use std::time::Duration;
    tokio::task::unconstrained(async {
        // Not started: it only records schedules.
        let scheduler = LocalScheduler::new();
        let store: std::sync::Arc<dyn affnet_store::ItemStore> =
            std::sync::Arc::new(affnet_store::SqliteStore::in_memory().unwrap());
        let pb = pb_support::Pb::with_scheduler(store, scheduler.clone());
        let env =
            lead_cases::Env::webvork_on(pb, json!({"status_sync": {"every_minutes": 20}})).await;
        let state = env.pb.state.clone();
        let id = env.integration.id.clone();
        assert_eq!(
            scheduler.get_job(Job::StatusSync, &id).await.unwrap(),
            Some(Frequency::Minutes(20))
        );
        let payload = json!({"integration_id": id, "job": "status_sync"});
        assert_eq!(scheduled_job(&payload), Job::StatusSync);
        env.answer(
            "GET",
            "/v1/new-lead",
            200,
            r#"{"status":"ok","guid":"G-9"}"#,
            Duration::ZERO,
            None,
        )
        .await;
        env.answer(
            "GET",
            "/v1/get-lead-status",
            503,
            "down",
            Duration::ZERO,
            Some(1),
        )
        .await;
        env.answer(
            "GET",
            "/v1/get-lead-status",
            200,
            r#"[{"guid":"G-9","status":"confirmed"}]"#,
            Duration::ZERO,
            None,
        )
        .await;
        let sent = env.post_lead(&env.body(&env.click().await), None).await;
        assert_eq!(sent.json["status"], "sent", "{}", sent.text);
        let lead_id = sent.json["lead_id"].as_str().unwrap().to_string();
        let invoke = |payload: Value| {
            let state = state.clone();
            let app = router::for_function(Function::OfferSync, state.clone());
            async move { handle(state, app, LambdaEvent::new(payload, Context::default())).await }
        };

        // The every-minute lead jobs no longer load statuses: the schedule alone does.
        let tick = affnet_app::leads::jobs::run_lead_jobs(&state).await;
        assert!(tick.get("status_syncs").is_none(), "{tick}");
        assert_eq!(env.sent_to_network("/v1/get-lead-status").await, 0);

        // The network down: the load failed as a whole.
        let error = invoke(payload.clone())
            .await
            .expect_err("a failed load fails the invocation");
        let diagnostic = lambda_http::lambda_runtime::Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "StatusSyncFailed");
        assert!(
            diagnostic.error_message.contains(&id),
            "{}",
            diagnostic.error_message
        );
        assert_eq!(env.lead(&lead_id).await["conversion"]["status"], "pending");

        let out = invoke(payload.clone()).await.unwrap();
        assert_eq!(
            (out["job"].as_str(), out["status"].as_str()),
            (Some("status_sync"), Some("succeeded")),
            "{out}"
        );
        assert_eq!(
            (
                out["run"]["leads_asked"].as_u64(),
                out["run"]["changed"].as_u64()
            ),
            (Some(1), Some(1)),
            "{out}"
        );
        let lead = env.lead(&lead_id).await;
        assert_eq!(lead["conversion"]["status"], "approved");
        assert_eq!(
            lead["conversion"]["history"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()["source"],
            "api"
        );
        assert!(
            state
                .repo
                .status_sync_last_run(&id)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            state
                .repo
                .list_sync_logs(&id, 10, None)
                .await
                .unwrap()
                .0
                .is_empty(),
            "not an offer sync"
        );

        // Disabled behind the schedule's back (the schedule left over): skipped, removed.
        let local = router::local(state.clone());
        let mut settings = env.integration.settings.clone();
        settings.insert(
            "status_sync".into(),
            json!({"enabled": false, "every_minutes": 20}),
        );
        let current = state.repo.get_integration(&id).await.unwrap().unwrap();
        let disabled = affnet_core::Integration {
            settings,
            ..current.clone()
        }
        .retype()
        .unwrap();
        state.repo.update_integration(&disabled).await.unwrap();
        assert!(
            scheduler
                .get_job(Job::StatusSync, &id)
                .await
                .unwrap()
                .is_some()
        );
        let out = invoke(payload.clone())
            .await
            .expect("a skipped load succeeds");
        assert_eq!(out["status"], "skipped", "{out}");
        assert!(
            out["message"].as_str().unwrap().contains("disabled"),
            "{out}"
        );
        assert_eq!(scheduler.get_job(Job::StatusSync, &id).await.unwrap(), None);

        // Deleted, its schedule left over (a failed removal): the run removes it.
        let deleted = call(&local, "DELETE", &format!("/integrations/{id}"), None).await;
        assert_eq!(deleted.status, axum::http::StatusCode::NO_CONTENT);
        scheduler
            .upsert_job(Job::StatusSync, &id, Frequency::Minutes(20))
            .await
            .unwrap();
        let asked = env.sent_to_network("/v1/get-lead-status").await;
        let out = invoke(payload)
            .await
            .expect("a deleted integration's run succeeds");
        assert_eq!(out["status"], "skipped", "{out}");
        assert_eq!(scheduler.get_job(Job::StatusSync, &id).await.unwrap(), None);
        assert_eq!(env.sent_to_network("/v1/get-lead-status").await, asked);
    })
    .await;
}

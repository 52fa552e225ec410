//! The offer-sync Lambda handler: a scheduler invocation runs a scheduled sync; an API Gateway
//! event goes to the same router as everywhere.

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

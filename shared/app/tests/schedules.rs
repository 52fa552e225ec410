//! The two scheduler adapters: the local server's tokio scheduler really runs syncs and follows
//! integration changes; the EventBridge Scheduler adapter creates, updates and deletes
//! schedules on moto's Scheduler API (moto is required: these tests fail, never skip, without
//! it).

mod support;

use affnet_app::schedule::{Frequency, Job, SyncScheduler, schedule_name};
use affnet_app::schedule_aws::EventBridgeScheduler;
use affnet_app::schedule_local::LocalScheduler;
use affnet_app::{AppState, Config, router};
use affnet_store::{ItemStore, SqliteStore};
use affnet_tune::Mode;
use affnet_tune::mock::{MockTune, NETWORK_ID, fixtures, key_for};
use aws_sdk_scheduler::config::{BehaviorVersion, Credentials, Region};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::call;

async fn tune_with_offers() -> MockTune {
    let tune = MockTune::start().await;
    tune.mount_advertisers(&[("100", "Acme")]).await;
    tune.mount_offers(
        Mode::Network,
        (1..=3).map(fixtures::network_offer_row).collect(),
    )
    .await;
    tune
}

fn tune_integration(tune: &MockTune, auto_sync: Value) -> Value {
    json!({
        "network": "tune", "name": "T", "credentials": {"api_key": key_for(Mode::Network)},
        "settings": {"network_id": NETWORK_ID, "api_domain": tune.uri(), "auto_sync": auto_sync},
    })
}

async fn scheduled_logs(router: &axum::Router, id: &str) -> usize {
    let reply = call(
        router,
        "GET",
        &format!("/integrations/{id}/sync-logs?limit=100"),
        None,
    )
    .await;
    reply.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["trigger"] == "scheduled")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_scheduler_runs_syncs_and_follows_changes() {
    let tune = tune_with_offers().await;
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let scheduler =
        LocalScheduler::with_periods(Duration::from_millis(150), Duration::from_secs(3600));
    let state = AppState::new(store, Config::for_tests()).with_scheduler(scheduler.clone());
    assert_eq!(scheduler.start(state.clone()).await.unwrap(), 0);
    let app = router::local(state);

    let created = call(
        &app,
        "POST",
        "/integrations",
        Some(tune_integration(
            &tune,
            json!({"enabled": true, "frequency": "hourly"}),
        )),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_string();
    assert_eq!(scheduler.scheduled().get(&id), Some(&Frequency::Hourly));

    // Every 150 ms: two runs come within 700 ms on an idle machine; wait up to 20 s for them.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut runs = scheduled_logs(&app, &id).await;
    while runs < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        runs = scheduled_logs(&app, &id).await;
    }
    assert!(runs >= 2, "the schedule ran {runs} times");
    let offers = call(&app, "GET", &format!("/offers?integration_id={id}"), None).await;
    assert_eq!(offers.json["items"].as_array().unwrap().len(), 3);

    let off = call(
        &app,
        "PATCH",
        &format!("/integrations/{id}"),
        Some(json!({"settings": {"auto_sync": {"enabled": false}}})),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK);
    assert!(scheduler.scheduled().is_empty());
    // A run already in flight may still finish: let it, then see that no new one starts.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let settled = scheduled_logs(&app, &id).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        scheduled_logs(&app, &id).await,
        settled,
        "no runs after the schedule was removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_scheduler_restores_schedules_at_start() {
    let tune = tune_with_offers().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("affnet.db");
    let id = {
        let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(&path).unwrap());
        let app = router::local(AppState::new(store, Config::for_tests()));
        let daily = call(
            &app,
            "POST",
            "/integrations",
            Some(tune_integration(&tune, json!({"enabled": true}))),
        )
        .await;
        call(
            &app,
            "POST",
            "/integrations",
            Some(tune_integration(&tune, json!({"enabled": false}))),
        )
        .await;
        daily.json["id"].as_str().unwrap().to_string()
    };
    // A restart: a new process state on the same file.
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(&path).unwrap());
    let scheduler = LocalScheduler::new();
    let state = AppState::new(store, Config::for_tests()).with_scheduler(scheduler.clone());
    assert_eq!(scheduler.start(state).await.unwrap(), 1);
    assert_eq!(
        scheduler.scheduled().into_iter().collect::<Vec<_>>(),
        [(id, Frequency::Daily)]
    );
}

fn moto_scheduler_client(endpoint: &str) -> aws_sdk_scheduler::Client {
    let config = aws_sdk_scheduler::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .http_client(affnet_netguard::aws_http::aws_http_client())
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "affnet-test"))
        .build();
    aws_sdk_scheduler::Client::from_conf(config)
}

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:affnet-offer-sync";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/affnet-scheduler";
const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:affnet-sync-dlq";

#[tokio::test]
async fn eventbridge_schedules_are_created_updated_and_deleted() {
    let client = moto_scheduler_client(&affnet_store::testing::moto_endpoint().await);
    let scheduler = EventBridgeScheduler::new(
        client.clone(),
        Some(FUNCTION_ARN.into()),
        Some(ROLE_ARN.into()),
    )
    .with_dead_letter_queue(Some(DLQ_ARN.into()));
    let id = affnet_core::ids::new_id();
    let name = schedule_name(&id);

    assert_eq!(scheduler.get(&id).await.unwrap(), None);
    scheduler.upsert(&id, Frequency::Hourly).await.unwrap();
    assert_eq!(scheduler.get(&id).await.unwrap(), Some(Frequency::Hourly));
    let stored = client
        .get_schedule()
        .name(&name)
        .group_name("default")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.schedule_expression(), Some("rate(1 hour)"));
    let target = stored.target().unwrap();
    assert_eq!(target.arn(), FUNCTION_ARN);
    assert_eq!(target.role_arn(), ROLE_ARN);
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some(DLQ_ARN)
    );
    let retry = target.retry_policy().expect("a retry policy");
    assert_eq!(retry.maximum_retry_attempts(), Some(2));
    let input: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(input, json!({"integration_id": id}));

    // Upsert of an existing schedule updates it.
    scheduler.upsert(&id, Frequency::Daily).await.unwrap();
    assert_eq!(scheduler.get(&id).await.unwrap(), Some(Frequency::Daily));
    let stored = client
        .get_schedule()
        .name(&name)
        .group_name("default")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.schedule_expression(), Some("rate(1 day)"));
    assert_eq!(stored.target().unwrap().arn(), FUNCTION_ARN);
    assert_eq!(
        stored
            .target()
            .unwrap()
            .dead_letter_config()
            .and_then(|d| d.arn()),
        Some(DLQ_ARN),
        "the update keeps the dead-letter queue"
    );

    scheduler.remove(&id).await.unwrap();
    assert_eq!(scheduler.get(&id).await.unwrap(), None);
    scheduler
        .remove(&id)
        .await
        .expect("removing what is gone is fine");

    // Without the target and role (a function the template did not configure): a clear error.
    let unconfigured = EventBridgeScheduler::new(client, None, None);
    let err = unconfigured
        .upsert(&id, Frequency::Daily)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("AFFNET_SYNC_FUNCTION_ARN"),
        "{err}"
    );
}

#[tokio::test]
async fn integration_changes_drive_eventbridge_schedules() {
    let client = moto_scheduler_client(&affnet_store::testing::moto_endpoint().await);
    let scheduler = Arc::new(EventBridgeScheduler::new(
        client,
        Some(FUNCTION_ARN.into()),
        Some(ROLE_ARN.into()),
    ));
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let app =
        router::local(AppState::new(store, Config::for_tests()).with_scheduler(scheduler.clone()));
    let tune = MockTune::start().await;

    let created = call(
        &app,
        "POST",
        "/integrations",
        Some(tune_integration(
            &tune,
            json!({"enabled": true, "frequency": "hourly"}),
        )),
    )
    .await;
    let id = created.json["id"].as_str().unwrap().to_string();
    assert_eq!(scheduler.get(&id).await.unwrap(), Some(Frequency::Hourly));
    call(
        &app,
        "PATCH",
        &format!("/integrations/{id}"),
        Some(json!({"settings": {"auto_sync": {"frequency": "daily"}}})),
    )
    .await;
    assert_eq!(scheduler.get(&id).await.unwrap(), Some(Frequency::Daily));
    call(
        &app,
        "PATCH",
        &format!("/integrations/{id}"),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(scheduler.get(&id).await.unwrap(), None);
    call(
        &app,
        "PATCH",
        &format!("/integrations/{id}"),
        Some(json!({"active": true})),
    )
    .await;
    assert_eq!(scheduler.get(&id).await.unwrap(), Some(Frequency::Daily));
    let deleted = call(&app, "DELETE", &format!("/integrations/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(scheduler.get(&id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_scheduler_runs_reconciliations_and_follows_changes() {
    let tune = MockTune::start().await;
    tune.mount_reports(Mode::Network, Vec::new()).await;
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    // Daily, shortened to 150 ms; offer sync stays off.
    let scheduler =
        LocalScheduler::with_periods(Duration::from_secs(3600), Duration::from_millis(150));
    let state = AppState::new(store, Config::for_tests()).with_scheduler(scheduler.clone());
    scheduler.start(state.clone()).await.unwrap();
    let app = router::local(state);
    let mut body = tune_integration(&tune, json!({"enabled": false}));
    body["settings"]["reconcile"] = json!({"enabled": true, "every": "daily", "lookback_days": 3});
    let created = call(&app, "POST", "/integrations", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_string();
    assert!(scheduler.scheduled().is_empty(), "no offer-sync schedule");
    assert_eq!(
        scheduler.scheduled_jobs(Job::Reconcile).get(&id),
        Some(&Frequency::Daily)
    );
    let runs = |app: axum::Router, id: String| async move {
        let reply = call(
            &app,
            "GET",
            &format!("/integrations/{id}/reconciliations?limit=100"),
            None,
        )
        .await;
        reply.json["items"].as_array().unwrap().clone()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let finished = |runs: &[Value]| runs.iter().find(|r| r["status"] != "running").cloned();
    let mut seen = runs(app.clone(), id.clone()).await;
    while finished(&seen).is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        seen = runs(app.clone(), id.clone()).await;
    }
    let run = &finished(&seen).expect("a scheduled reconciliation ran");
    assert_eq!(
        (run["trigger"].as_str(), run["status"].as_str()),
        (Some("scheduled"), Some("succeeded")),
        "{run}"
    );
    // lookback_days: 3 days, today included.
    let (from, to): (chrono::NaiveDate, chrono::NaiveDate) = (
        run["from"].as_str().unwrap().parse().unwrap(),
        run["to"].as_str().unwrap().parse().unwrap(),
    );
    assert_eq!((to - from).num_days(), 2);

    let off = call(
        &app,
        "PATCH",
        &format!("/integrations/{id}"),
        Some(json!({"settings": {"reconcile": {"enabled": false}}})),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    assert!(scheduler.scheduled_jobs(Job::Reconcile).is_empty());
}

#[tokio::test]
async fn eventbridge_reconciliation_schedules_invoke_offer_sync_with_the_job() {
    let client = moto_scheduler_client(&affnet_store::testing::moto_endpoint().await);
    let scheduler = EventBridgeScheduler::new(
        client.clone(),
        Some(FUNCTION_ARN.into()),
        Some(ROLE_ARN.into()),
    );
    let id = affnet_core::ids::new_id();
    scheduler
        .upsert_job(Job::Reconcile, &id, Frequency::Daily)
        .await
        .unwrap();
    assert_eq!(
        scheduler.get_job(Job::Reconcile, &id).await.unwrap(),
        Some(Frequency::Daily)
    );
    // The sync schedule of the same integration is another one.
    assert_eq!(scheduler.get(&id).await.unwrap(), None);
    let stored = client
        .get_schedule()
        .name(Job::Reconcile.schedule_name(&id))
        .group_name("default")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.schedule_expression(), Some("rate(1 day)"));
    assert!(stored.name().unwrap().starts_with(&schedule_name("")));
    let input: Value = serde_json::from_str(stored.target().unwrap().input().unwrap()).unwrap();
    assert_eq!(input, json!({"integration_id": id, "job": "reconcile"}));
    scheduler.remove_job(Job::Reconcile, &id).await.unwrap();
    assert_eq!(scheduler.get_job(Job::Reconcile, &id).await.unwrap(), None);
}

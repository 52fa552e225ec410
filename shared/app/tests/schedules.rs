//! The two scheduler adapters: the local server's tokio scheduler really runs syncs, status
//! loads and reconciliations and follows integration changes; the EventBridge Scheduler adapter
//! creates, updates and deletes schedules on moto's Scheduler API (moto is required: these
//! tests fail, never skip, without it).

mod lead_cases;
mod pb_support;
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

fn webvork_integration(status_sync: Value) -> Value {
    json!({"network": "webvork", "name": "W", "credentials": {"api_key": "k"},
           "settings": {"status_sync": status_sync}})
}

async fn status_schedule(
    client: &aws_sdk_scheduler::Client,
    id: &str,
) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
    match client
        .get_schedule()
        .name(Job::StatusSync.schedule_name(id))
        .group_name("default")
        .send()
        .await
    {
        Ok(found) => Some(found),
        Err(e) => {
            let code = aws_sdk_scheduler::error::ProvideErrorMetadata::code(&e).map(str::to_string);
            assert_eq!(code.as_deref(), Some("ResourceNotFoundException"), "{e:?}");
            None
        }
    }
}

/// Issue #10: a CPA integration with a status API gets `affnet-sync-status-<id>` every
/// `status_sync.every_minutes`, invoking offer sync with `{"integration_id", "job":
/// "status_sync"}`; patching the interval changes it; disabling, deactivating and deleting
/// remove it. A network without a status API, and TUNE, get none.
#[tokio::test]
async fn integration_changes_drive_eventbridge_status_schedules() {
    let client = moto_scheduler_client(&affnet_store::testing::moto_endpoint().await);
    let scheduler = Arc::new(
        EventBridgeScheduler::new(
            client.clone(),
            Some(FUNCTION_ARN.into()),
            Some(ROLE_ARN.into()),
        )
        .with_dead_letter_queue(Some(DLQ_ARN.into())),
    );
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let app =
        router::local(AppState::new(store, Config::for_tests()).with_scheduler(scheduler.clone()));

    let created = call(
        &app,
        "POST",
        "/integrations",
        Some(webvork_integration(
            json!({"enabled": true, "every_minutes": 20}),
        )),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_string();
    let stored = status_schedule(&client, &id)
        .await
        .expect("a status schedule");
    assert_eq!(
        stored.name(),
        Some(format!("affnet-sync-status-{id}").as_str())
    );
    assert_eq!(stored.schedule_expression(), Some("rate(20 minutes)"));
    let target = stored.target().unwrap();
    assert_eq!((target.arn(), target.role_arn()), (FUNCTION_ARN, ROLE_ARN));
    let input: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(input, json!({"integration_id": id, "job": "status_sync"}));
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some(DLQ_ARN)
    );
    let retry = target.retry_policy().expect("a retry policy");
    assert_eq!(
        (
            retry.maximum_retry_attempts(),
            retry.maximum_event_age_in_seconds()
        ),
        (Some(2), Some(1200)),
        "retried for one period at most"
    );
    assert_eq!(
        scheduler.get_job(Job::StatusSync, &id).await.unwrap(),
        Some(Frequency::Minutes(20))
    );
    // No offer-sync or reconciliation schedule for a CPA integration.
    assert_eq!(scheduler.get(&id).await.unwrap(), None);
    assert_eq!(scheduler.get_job(Job::Reconcile, &id).await.unwrap(), None);

    let path = format!("/integrations/{id}");
    let patch = |body: Value| {
        let (app, path) = (app.clone(), path.clone());
        async move {
            let reply = call(&app, "PATCH", &path, Some(body)).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        }
    };
    patch(json!({"settings": {"status_sync": {"every_minutes": 30}}})).await;
    let stored = status_schedule(&client, &id).await.expect("still there");
    assert_eq!(stored.schedule_expression(), Some("rate(30 minutes)"));
    assert_eq!(
        stored
            .target()
            .unwrap()
            .input()
            .map(|i| serde_json::from_str::<Value>(i).unwrap()),
        Some(json!({"integration_id": id, "job": "status_sync"}))
    );

    patch(json!({"settings": {"status_sync": {"enabled": false}}})).await;
    assert!(status_schedule(&client, &id).await.is_none(), "disabled");
    patch(json!({"settings": {"status_sync": {"enabled": true}}})).await;
    assert_eq!(
        status_schedule(&client, &id)
            .await
            .and_then(|s| s.schedule_expression().map(str::to_string))
            .as_deref(),
        Some("rate(30 minutes)")
    );
    patch(json!({"active": false})).await;
    assert!(status_schedule(&client, &id).await.is_none(), "inactive");
    patch(json!({"active": true})).await;
    assert!(
        status_schedule(&client, &id).await.is_some(),
        "active again"
    );
    let deleted = call(&app, "DELETE", &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(status_schedule(&client, &id).await.is_none(), "deleted");

    // LeadBit has no status API; TUNE loads no lead statuses.
    let leadbit = call(
        &app,
        "POST",
        "/integrations",
        Some(
            json!({"network": "leadbit", "name": "L", "credentials": {"api_key": "k"},
                    "settings": {"status_sync": {"enabled": true, "every_minutes": 20}}}),
        ),
    )
    .await;
    assert_eq!(leadbit.status, StatusCode::CREATED, "{}", leadbit.text);
    let leadbit = leadbit.json["id"].as_str().unwrap().to_string();
    assert!(status_schedule(&client, &leadbit).await.is_none());
    let tune = MockTune::start().await;
    let tune = call(
        &app,
        "POST",
        "/integrations",
        Some(tune_integration(&tune, json!({"enabled": true}))),
    )
    .await;
    let tune = tune.json["id"].as_str().unwrap().to_string();
    assert!(status_schedule(&client, &tune).await.is_none());
    assert_eq!(scheduler.get(&tune).await.unwrap(), Some(Frequency::Daily));
}

/// The local scheduler loads a WebVork integration's statuses every `every_minutes` (a minute
/// shortened to 20 ms), including a schedule made before `start`; a patched interval replaces
/// the task, disabling removes it and no load runs after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_scheduler_loads_statuses_on_its_period_and_follows_changes() {
    tokio::task::unconstrained(async {
        let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
        let scheduler = LocalScheduler::with_periods_and_minute(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
            Duration::from_millis(20),
        );
        let pb = pb_support::Pb::with_scheduler(store, scheduler.clone());
        let env = lead_cases::Env::webvork_on(
            pb,
            json!({"status_sync": {"enabled": true, "every_minutes": 10}}),
        )
        .await;
        let id = env.integration.id.clone();
        assert_eq!(
            scheduler.scheduled_jobs(Job::StatusSync).get(&id),
            Some(&Frequency::Minutes(10))
        );
        assert_eq!(
            scheduler.period_of(Frequency::Minutes(10)),
            Duration::from_millis(200)
        );
        env.answer(
            "GET",
            "/v1/new-lead",
            200,
            r#"{"status":"ok","guid":"G-7"}"#,
            Duration::ZERO,
            None,
        )
        .await;
        env.answer(
            "GET",
            "/v1/get-lead-status",
            200,
            r#"[{"guid":"G-7","status":"confirmed"}]"#,
            Duration::ZERO,
            None,
        )
        .await;
        let sent = env.post_lead(&env.body(&env.click().await), None).await;
        assert_eq!(sent.json["status"], "sent", "{}", sent.text);
        let lead_id = sent.json["lead_id"].as_str().unwrap().to_string();
        assert_eq!(env.sent_to_network("/v1/get-lead-status").await, 0);

        // Nothing ran before start; start gives the schedule its task.
        assert_eq!(scheduler.start(env.pb.state.clone()).await.unwrap(), 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut lead = env.lead(&lead_id).await;
        while lead["conversion"]["status"] != "approved" && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            lead = env.lead(&lead_id).await;
        }
        assert_eq!(lead["conversion"]["status"], "approved", "{lead}");
        let history = lead["conversion"]["history"].as_array().unwrap();
        assert_eq!(history.last().unwrap()["source"], "api");
        assert_eq!(env.sent_to_network("/v1/get-lead-status").await, 1);
        let last = || async { env.pb.state.repo.status_sync_last_run(&id).await.unwrap() };
        // It keeps running (the final lead is asked no more: the time of the last run moves).
        let first = last().await.expect("the run's time is kept for health");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while last().await == Some(first) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(last().await > Some(first), "a second run on the period");

        env.patch(
            &format!("/integrations/{id}"),
            json!({"settings": {"status_sync": {"every_minutes": 30}}}),
        )
        .await;
        assert_eq!(
            scheduler.scheduled_jobs(Job::StatusSync).get(&id),
            Some(&Frequency::Minutes(30))
        );
        env.patch(
            &format!("/integrations/{id}"),
            json!({"settings": {"status_sync": {"enabled": false}}}),
        )
        .await;
        assert!(scheduler.scheduled_jobs(Job::StatusSync).is_empty());
        // A run in flight may finish; then none starts.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let settled = last().await;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            last().await,
            settled,
            "no runs after the schedule was removed"
        );
        assert!(scheduler.scheduled().is_empty(), "no offer-sync schedule");
    })
    .await;
}

/// At boot the local scheduler re-creates status schedules of the stored integrations.
#[tokio::test]
async fn local_scheduler_restores_status_schedules_at_start() {
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let app = router::local(AppState::new(store.clone(), Config::for_tests()));
    let mut ids = Vec::new();
    for status_sync in [json!({"every_minutes": 45}), json!({"enabled": false})] {
        let created = call(
            &app,
            "POST",
            "/integrations",
            Some(webvork_integration(status_sync)),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        ids.push(created.json["id"].as_str().unwrap().to_string());
    }
    let scheduler = LocalScheduler::new();
    let state = AppState::new(store, Config::for_tests()).with_scheduler(scheduler.clone());
    assert_eq!(scheduler.start(state).await.unwrap(), 1);
    assert_eq!(
        scheduler
            .scheduled_jobs(Job::StatusSync)
            .into_iter()
            .collect::<Vec<_>>(),
        [(ids[0].clone(), Frequency::Minutes(45))]
    );
    assert_eq!(
        scheduler.period_of(Frequency::Minutes(45)),
        Duration::from_secs(45 * 60)
    );
}

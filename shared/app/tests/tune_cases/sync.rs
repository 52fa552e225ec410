//! Offer sync: every rule of the issue, through the HTTP API (and `run_scheduled` for
//! scheduled runs), against the mock TUNE server.

use super::{Harness, ODD_KEY, assert_no_form, assert_no_key, proxy_page, row};
use affnet_app::Config;
use affnet_app::offer_sync::run_scheduled;
use affnet_app::schedule::Frequency;
use affnet_core::sync_log::{SyncLog, SyncStatus, SyncTrigger};
use affnet_store::ItemStore;
use affnet_tune::Mode;
use affnet_tune::mock::{API_PATH, MockTune, fixtures, key_for};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn rows(ids: impl IntoIterator<Item = u64>) -> Vec<Value> {
    ids.into_iter().map(fixtures::network_offer_row).collect()
}

fn counts(log: &Value) -> Value {
    log["counts"].clone()
}

fn expect_counts(log: &Value, expected: Value) {
    let mut want = json!({"seen": 0, "created": 0, "updated": 0, "unchanged": 0, "paused": 0, "not_imported": 0, "skipped": 0});
    for (k, v) in expected.as_object().unwrap() {
        want[k] = v.clone();
    }
    assert_eq!(counts(log), want, "{log}");
}

pub async fn maps_seed_table_and_imports_active_offers(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    let mut offers = rows(1..=5);
    offers.push(row(6, json!({"status": "paused"})));
    offers.push(row(7, json!({"payout_type": "cpa_weird"})));
    h.serve_network_offers(offers).await;
    let id = h
        .integration(
            Mode::Network,
            json!({"offer_name_prefix": "[Main] ", "default_currency": "gbp"}),
        )
        .await;
    let log = h.sync_ok(&id).await;
    assert_eq!(log["trigger"], "manual");
    assert_eq!(
        log["status"], "partial",
        "one offer could not be mapped: {log}"
    );
    expect_counts(
        &log,
        json!({"seen": 7, "created": 5, "not_imported": 1, "skipped": 1}),
    );
    assert_eq!(log["pages_fetched"], 1);
    assert_eq!(log["errors"][0]["remote_id"], "7");
    assert_eq!(log["errors"][0]["code"], "invalid_offer");
    assert!(
        log["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cpa_weird")
    );
    assert!(log["finished_at"].is_string() && log["started_at"].is_string());

    let offers = h.offers(&id).await;
    assert_eq!(offers.keys().collect::<Vec<_>>(), ["1", "2", "3", "4", "5"]);
    let one = &offers["1"];
    assert_eq!(one["name"], "[Main] Offer 1");
    assert_eq!(
        one["tracking_url"],
        "https://shop.example/offer-1?aff_click_id={click_id}"
    );
    assert_eq!(one["payout"], "2.0025");
    assert_eq!(
        one["currency"], "GBP",
        "TUNE's null currency is the default_currency"
    );
    assert_eq!(offers["2"]["currency"], "EUR");
    assert_eq!(one["payout_type"], "cpa_flat");
    assert_eq!(one["advertiser"], "Globex", "advertiser 101's company");
    assert_eq!(one["status"], "active");
    assert_eq!(one["integration_id"], id.as_str());
    assert!(
        one["payout_history"]
            .as_array()
            .is_none_or(|h| h.is_empty())
    );
}

pub async fn unchanged_resync_writes_nothing(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.serve_network_offers(rows(1..=20)).await;
    let id = h.integration(Mode::Network, json!({})).await;
    let first = h.sync_ok(&id).await;
    expect_counts(&first, json!({"seen": 20, "created": 20}));
    h.store.reset();
    let second = h.sync_ok(&id).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    expect_counts(&second, json!({"seen": 20, "unchanged": 20}));
    assert_eq!(h.store.written_of("OFFER"), 0, "{:?}", h.store.written());
    assert_eq!(h.store.written_of("REMOTE"), 0, "{:?}", h.store.written());
    assert_eq!(
        h.store.batches(),
        2,
        "start and finish only: {:?}",
        h.store.written()
    );
}

pub async fn payout_change_is_kept_with_history(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.serve_network_offers(rows(1..=4)).await;
    let id = h.integration(Mode::Network, json!({})).await;
    h.sync_ok(&id).await;
    let before = h.offers(&id).await["3"].clone();
    assert_eq!(before["payout"], "4.0075");

    let mut changed = rows([1, 2, 4]);
    changed.push(row(
        3,
        json!({"default_payout": "9.50000", "name": "Offer 3 v2"}),
    ));
    h.serve_network_offers(changed).await;
    h.store.reset();
    let log = h.sync_ok(&id).await;
    expect_counts(&log, json!({"seen": 4, "updated": 1, "unchanged": 3}));
    assert_eq!(h.store.written_of("OFFER"), 1);
    let after = &h.offers(&id).await["3"];
    assert_eq!(after["id"], before["id"], "the same offer, updated");
    assert_eq!(after["payout"], "9.5");
    assert_eq!(after["name"], "Offer 3 v2");
    let history = after["payout_history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["from"], "4.0075");
    assert_eq!(history[0]["to"], "9.5");
    assert_eq!(history[0]["source"], "sync");
}

pub async fn paused_and_vanished_offers_are_paused_not_deleted(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.serve_network_offers(rows(1..=4)).await;
    let id = h.integration(Mode::Network, json!({})).await;
    h.sync_ok(&id).await;
    let ids: Vec<String> = h
        .offers(&id)
        .await
        .values()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();

    // 2 paused at TUNE, 3 gone from TUNE, 4 deleted at TUNE.
    h.serve_network_offers(vec![
        fixtures::network_offer_row(1),
        row(2, json!({"status": "paused"})),
        row(4, json!({"status": "deleted"})),
    ])
    .await;
    let log = h.sync_ok(&id).await;
    expect_counts(&log, json!({"seen": 3, "unchanged": 1, "paused": 3}));
    let offers = h.offers(&id).await;
    assert_eq!(offers.len(), 4, "nothing deleted");
    for remote in ["2", "3", "4"] {
        assert_eq!(offers[remote]["status"], "paused", "{remote}");
    }
    assert_eq!(offers["1"]["status"], "active");
    for offer_id in &ids {
        assert_eq!(
            h.call("GET", &format!("/offers/{offer_id}"), None)
                .await
                .status,
            StatusCode::OK
        );
    }

    // Nothing changed since: no writes, and the vanished offer is not paused again.
    h.store.reset();
    let log = h.sync_ok(&id).await;
    expect_counts(&log, json!({"seen": 3, "unchanged": 3}));
    assert_eq!(
        h.store.written_of("OFFER") + h.store.written_of("REMOTE"),
        0
    );

    // Offer 3 comes back active: the same offer is active again.
    h.serve_network_offers(vec![
        fixtures::network_offer_row(1),
        row(2, json!({"status": "paused"})),
        fixtures::network_offer_row(3),
        row(4, json!({"status": "deleted"})),
    ])
    .await;
    let log = h.sync_ok(&id).await;
    expect_counts(&log, json!({"seen": 4, "unchanged": 3, "updated": 1}));
    let three = &h.offers(&id).await["3"];
    assert_eq!(three["status"], "active");
    assert_eq!(three["id"], offers["3"]["id"]);
}

pub async fn selected_offers_only(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    let mut all = rows(1..=10);
    all.push(row(11, json!({"status": "paused"})));
    h.serve_network_offers(all).await;
    let id = h.integration(Mode::Network, json!({})).await;
    let reply = h
        .sync(&id, Some(json!({"offer_ids": ["2", 4, "11", "999", "2"]})))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let log = &reply.json;
    assert_eq!(log["offer_ids"], json!(["2", "4", "11", "999"]));
    assert_eq!(log["status"], "partial", "{log}");
    expect_counts(log, json!({"seen": 3, "created": 3, "skipped": 1}));
    assert_eq!(log["errors"][0]["remote_id"], "999");
    assert_eq!(log["errors"][0]["code"], "not_found");
    let offers = h.offers(&id).await;
    assert_eq!(offers.keys().collect::<Vec<_>>(), ["11", "2", "4"]);
    assert_eq!(
        offers["11"]["status"], "paused",
        "selected, so imported, as paused"
    );
    let asked: Vec<Vec<(String, String)>> = h.tune.request_queries().await;
    assert!(
        asked
            .iter()
            .any(|q| q.contains(&("filters[id][]".into(), "999".into()))),
        "the selection is sent to TUNE as an id filter"
    );

    // A selected offer that vanished is paused; the others are not touched.
    h.serve_network_offers(rows([1, 3, 4])).await;
    let log = h.sync(&id, Some(json!({"offer_ids": ["2"]}))).await.json;
    expect_counts(&log, json!({"paused": 1}));
    let offers = h.offers(&id).await;
    assert_eq!(offers["2"]["status"], "paused");
    assert_eq!(offers["4"]["status"], "active");
}

pub async fn remote_offers_marks_imported(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    let mut all = rows(1..=4);
    all.push(row(5, json!({"preview_url": null})));
    h.serve_network_offers(all).await;
    let id = h.integration(Mode::Network, json!({})).await;
    h.sync(&id, Some(json!({"offer_ids": ["1", "3"]}))).await;
    let imported = h.offers(&id).await;

    let page1 = h
        .call(
            "GET",
            &format!("/integrations/{id}/remote-offers?limit=2"),
            None,
        )
        .await;
    assert_eq!(page1.status, StatusCode::OK, "{}", page1.text);
    assert_no_key(&page1);
    assert_eq!(
        (
            page1.json["page"].clone(),
            page1.json["page_count"].clone(),
            page1.json["count"].clone()
        ),
        (json!(1), json!(3), json!(5))
    );
    let items = page1.json["items"].as_array().unwrap();
    assert_eq!(items[0]["remote_id"], "1");
    assert_eq!(items[0]["imported"], true);
    assert_eq!(items[0]["offer_id"], imported["1"]["id"]);
    assert_eq!(items[1]["imported"], false);
    assert_eq!(items[1]["offer_id"], Value::Null);
    assert_eq!(items[0]["payout"], "2.0025");

    let page3 = h
        .call(
            "GET",
            &format!("/integrations/{id}/remote-offers?page=3&limit=2"),
            None,
        )
        .await;
    let five = &page3.json["items"][0];
    assert_eq!(five["remote_id"], "5");
    assert_eq!(five["importable"], false);
    assert!(five["problem"].as_str().unwrap().contains("preview URL"));

    for bad in ["limit=0", "limit=501", "page=0", "page=x", "sort=id"] {
        let reply = h
            .call(
                "GET",
                &format!("/integrations/{id}/remote-offers?{bad}"),
                None,
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text
        );
    }

    // TUNE errors are a 502 with the diagnosis.
    h.tune.server().reset().await;
    h.tune
        .mount_body(None, fixtures::api_disabled_error(), None)
        .await;
    let reply = h
        .call("GET", &format!("/integrations/{id}/remote-offers"), None)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json["error"]["code"], "api_disabled");
}

pub async fn failed_page_keeps_imported_and_says_where(store: Arc<dyn ItemStore>) {
    let mut config = Config::for_tests();
    config.tune.sync_page_limit = 2;
    let h = Harness::with_config(store, config).await;
    h.serve_network_offers(rows(1..=6)).await;
    let id = h.integration(Mode::Network, json!({})).await;
    let log = h.sync_ok(&id).await;
    assert_eq!(
        (log["pages_fetched"].clone(), log["page_count"].clone()),
        (json!(3), json!(3))
    );

    // Offers 5 and 6 leave TUNE, and page 2 fails every time (TUNE 503).
    h.serve_network_offers(rows(1..=4)).await;
    wiremock::Mock::given(wiremock::matchers::path(API_PATH))
        .and(wiremock::matchers::query_param("Target", "Offer"))
        .and(wiremock::matchers::query_param("page", "2"))
        .respond_with(wiremock::ResponseTemplate::new(503))
        .with_priority(1)
        .mount(h.tune.server())
        .await;
    let log = h.sync_ok(&id).await;
    assert_eq!(log["status"], "failed", "{log}");
    assert_eq!(log["pages_fetched"], 1);
    assert_eq!(log["stopped_at_page"], 2);
    assert_eq!(log["errors"][0]["page"], 2);
    assert_eq!(log["errors"][0]["code"], "server_error");
    assert!(log["message"].as_str().unwrap().contains("page 2"), "{log}");
    let offers = h.offers(&id).await;
    assert_eq!(offers.len(), 6);
    assert!(
        offers.values().all(|o| o["status"] == "active"),
        "an unfinished run pauses nothing"
    );
}

pub async fn tune_error_text_is_logged(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.tune.mount_advertisers(&[("100", "Acme")]).await;
    h.tune
        .mount_body(
            Some(("Offer", "findAll")),
            fixtures::api_disabled_error(),
            None,
        )
        .await;
    let id = h.integration(Mode::Network, json!({})).await;
    let reply = h.sync(&id, None).await;
    assert_no_key(&reply);
    let log = &reply.json;
    assert_eq!(log["status"], "failed");
    assert_eq!(log["stopped_at_page"], 1);
    assert_eq!(log["errors"][0]["code"], "api_disabled");
    assert!(
        log["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(fixtures::AFFILIATE_API_DISABLED_MESSAGE)
    );

    // A wrong key fails before any page, with TUNE's text and without the key.
    let wrong = "NETwrongwrongwrongwrongwrong0";
    let bad = h
        .integration_on(&h.tune, Mode::Network, wrong, json!({}))
        .await;
    h.tune.server().reset().await;
    h.tune.mount_advertisers(&[("100", "Acme")]).await;
    let reply = h.sync(&bad, None).await;
    assert!(!reply.text.contains(wrong), "{}", reply.text);
    assert_eq!(reply.json["status"], "failed");
    assert_eq!(reply.json["errors"][0]["code"], "bad_credentials");
    assert!(
        reply.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is not authenticated")
    );
    let logs = h
        .call("GET", &format!("/integrations/{bad}/sync-logs"), None)
        .await;
    assert_eq!(
        logs.json["items"][0]["status"], "failed",
        "failed runs are logged too"
    );
}

/// A proxy's HTML page (not JSON, longer than the 80 characters quoted) echoing the key
/// percent-encoded, HTML- and JSON-escaped: `/test`, `/remote-offers` and `/sync` answer no form
/// of it, nor do the stored sync log and connection test.
pub async fn proxy_pages_echoing_the_key_never_leak(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    let id = h
        .integration_on(&h.tune, Mode::Network, ODD_KEY, json!({}))
        .await;
    let page = proxy_page(ODD_KEY);
    assert!(page.len() > 80);
    for status in [200, 403] {
        h.tune.server().reset().await;
        let template =
            wiremock::ResponseTemplate::new(status).set_body_raw(page.clone(), "text/html");
        h.tune.mount_template(None, template, None).await;
        let what = |route: &str| format!("{route} (HTTP {status})");

        let test = h
            .call("POST", &format!("/integrations/{id}/test"), None)
            .await;
        assert_eq!(test.json["ok"], false, "{}", test.text);
        assert_no_form(&test.text, ODD_KEY, &what("/test"));
        if status == 200 {
            // The quoted start of the page is there, the key replaced.
            assert!(test.text.contains("NetworkToken=***"), "{}", test.text);
        }

        let remote = h
            .call("GET", &format!("/integrations/{id}/remote-offers"), None)
            .await;
        assert_eq!(remote.status, StatusCode::BAD_GATEWAY, "{}", remote.text);
        assert_no_form(&remote.text, ODD_KEY, &what("/remote-offers"));

        let sync = h.sync(&id, None).await;
        assert_eq!(sync.json["status"], "failed", "{}", sync.text);
        assert_no_form(&sync.text, ODD_KEY, &what("/sync"));

        let logs = h
            .call("GET", &format!("/integrations/{id}/sync-logs"), None)
            .await;
        assert_eq!(logs.json["items"][0]["status"], "failed", "{}", logs.text);
        assert_no_form(&logs.text, ODD_KEY, &what("sync-logs"));
        let health = h
            .call("GET", &format!("/integrations/{id}/health"), None)
            .await;
        assert_no_form(&health.text, ODD_KEY, &what("health"));
    }
    // What TUNE itself answers echoing the key: its error text and a test query's data.
    h.tune.server().reset().await;
    let echo = proxy_page(ODD_KEY);
    h.tune
        .mount_body(
            None,
            fixtures::error(&format!("Invalid NetworkToken: {echo}")),
            None,
        )
        .await;
    let test = h
        .call("POST", &format!("/integrations/{id}/test"), None)
        .await;
    assert_no_form(&test.text, ODD_KEY, "/test, TUNE's error");
    let sync = h.sync(&id, None).await;
    assert_no_form(&sync.text, ODD_KEY, "/sync, TUNE's error");
}

pub async fn two_accounts_never_mix(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.serve_network_offers(rows(1..=3)).await;
    let other = MockTune::start().await;
    other.mount_advertisers(&[("100", "B Corp")]).await;
    let b_rows: Vec<Value> = (1..=3)
        .map(|i| row(i, json!({"name": format!("B offer {i}")})))
        .collect();
    other.mount_offers(Mode::Network, b_rows).await;
    let a = h
        .integration(Mode::Network, json!({"offer_name_prefix": "[A] "}))
        .await;
    let b = h
        .integration_on(
            &other,
            Mode::Network,
            key_for(Mode::Network),
            json!({"offer_name_prefix": "[B] "}),
        )
        .await;
    h.sync_ok(&a).await;
    h.sync_ok(&b).await;
    let (oa, ob) = (h.offers(&a).await, h.offers(&b).await);
    assert_eq!((oa.len(), ob.len()), (3, 3));
    assert_eq!(oa["2"]["name"], "[A] Offer 2");
    assert_eq!(ob["2"]["name"], "[B] B offer 2");
    assert_ne!(oa["2"]["id"], ob["2"]["id"]);

    // B drops offer 2: only B's copy is paused.
    other.server().reset().await;
    other.mount_advertisers(&[("100", "B Corp")]).await;
    other
        .mount_offers(
            Mode::Network,
            vec![
                row(1, json!({"name": "B offer 1"})),
                row(3, json!({"name": "B offer 3"})),
            ],
        )
        .await;
    expect_counts(
        &h.sync_ok(&b).await,
        json!({"seen": 2, "unchanged": 2, "paused": 1}),
    );
    assert_eq!(h.offers(&b).await["2"]["status"], "paused");
    assert_eq!(h.offers(&a).await["2"]["status"], "active");
    expect_counts(&h.sync_ok(&a).await, json!({"seen": 3, "unchanged": 3}));
}

pub async fn runs_never_overlap(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store.clone()).await;
    h.tune.mount_advertisers(&[("100", "Acme")]).await;
    let page = fixtures::success(fixtures::paged(1, 1, 1, &[fixtures::network_offer_row(1)]));
    h.tune
        .mount_delayed(
            Some(("Offer", "findAll")),
            page,
            Duration::from_millis(800),
            None,
        )
        .await;
    let id = h.integration(Mode::Network, json!({})).await;
    let (one, two) = tokio::join!(h.sync(&id, None), h.sync(&id, None));
    let mut statuses = [one.status.as_u16(), two.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", one.text, two.text);
    let busy = if one.status == StatusCode::CONFLICT {
        &one
    } else {
        &two
    };
    assert_eq!(busy.json["error"]["code"], "sync_in_progress");
    assert_eq!(
        h.sync(&id, None).await.status,
        StatusCode::OK,
        "the lease is released"
    );

    // A lease that expired (its run died) no longer blocks; the late run still saves its log.
    let repo = affnet_store::Repo::new(store);
    let stale = SyncLog::start(
        "01STALE".into(),
        &id,
        SyncTrigger::Manual,
        None,
        chrono::Utc::now(),
    );
    let (stale_lease, stale_log) = repo
        .begin_sync(&stale, Duration::from_secs(2))
        .await
        .unwrap();
    let fresh = SyncLog::start(
        "01FRESH".into(),
        &id,
        SyncTrigger::Manual,
        None,
        chrono::Utc::now(),
    );
    assert!(
        repo.begin_sync(&fresh, Duration::from_secs(60))
            .await
            .is_err(),
        "held"
    );
    // Expiry is kept in whole seconds, rounded up: 2 s taken at t expire by t + 3 s.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let (fresh_lease, _) = repo
        .begin_sync(&fresh, Duration::from_secs(60))
        .await
        .unwrap();
    let (saved, held) = repo.finish_sync(&stale_lease, &stale_log).await.unwrap();
    assert!(!held, "the expired lease is not released by its late run");
    assert_eq!(saved.version, 2);
    assert_eq!(
        repo.sync_lease_holder(&id).await.unwrap().unwrap().0,
        fresh_lease.run_id
    );
}

pub async fn scheduled_runs_skip_inactive_and_deleted(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.serve_network_offers(rows(1..=2)).await;
    let id = h
        .integration(
            Mode::Network,
            json!({"auto_sync": {"enabled": true, "frequency": "hourly"}}),
        )
        .await;
    let log = run_scheduled(&h.state, &id, None).await.unwrap().unwrap();
    assert_eq!(
        (log.trigger, log.status),
        (SyncTrigger::Scheduled, SyncStatus::Succeeded)
    );
    assert_eq!(log.counts.created, 2);

    // Inactive: the schedule goes; a tick that still comes is skipped and logged.
    h.call(
        "PATCH",
        &format!("/integrations/{id}"),
        Some(json!({"active": false})),
    )
    .await;
    assert!(h.scheduler.schedules.lock().unwrap().is_empty());
    h.scheduler
        .schedules
        .lock()
        .unwrap()
        .insert(id.clone(), Frequency::Hourly);
    let log = run_scheduled(&h.state, &id, None).await.unwrap().unwrap();
    assert_eq!(log.status, SyncStatus::Skipped);
    assert!(log.message.as_deref().unwrap().contains("inactive"));
    assert!(
        h.scheduler.schedules.lock().unwrap().is_empty(),
        "removed by the run"
    );
    let logs = h
        .call("GET", &format!("/integrations/{id}/sync-logs"), None)
        .await;
    assert_eq!(logs.json["items"][0]["status"], "skipped");
    assert_eq!(logs.json["items"][0]["trigger"], "scheduled");

    // Deleted: the run removes the schedule and writes nothing; offers stay.
    let offer_id = h.offers(&id).await["1"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        h.call("DELETE", &format!("/integrations/{id}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    h.scheduler.removals.lock().unwrap().clear();
    h.store.reset();
    assert!(run_scheduled(&h.state, &id, None).await.unwrap().is_none());
    assert_eq!(*h.scheduler.removals.lock().unwrap(), vec![id]);
    assert_eq!(h.store.batches(), 0);
    assert_eq!(
        h.call("GET", &format!("/offers/{offer_id}"), None)
            .await
            .status,
        StatusCode::OK
    );
}

pub async fn schedules_follow_integration_changes(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    let schedule = |id: &str| h.scheduler.schedules.lock().unwrap().get(id).copied();
    let id = h
        .integration(
            Mode::Network,
            json!({"auto_sync": {"enabled": true, "frequency": "hourly"}}),
        )
        .await;
    assert_eq!(
        schedule(&id),
        Some(Frequency::Hourly),
        "created with the integration"
    );
    let path = format!("/integrations/{id}");
    let patch = |body: Value| h.call("PATCH", &path, Some(body));
    assert_eq!(
        patch(json!({"settings": {"auto_sync": {"frequency": "daily"}}}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(schedule(&id), Some(Frequency::Daily));
    let bad = patch(json!({"settings": {"auto_sync": {"frequency": "weekly"}}})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        schedule(&id),
        Some(Frequency::Daily),
        "a refused patch changes nothing"
    );
    patch(json!({"settings": {"auto_sync": {"enabled": false}}})).await;
    assert_eq!(schedule(&id), None);
    patch(json!({"settings": {"auto_sync": {"enabled": true}}})).await;
    assert_eq!(schedule(&id), Some(Frequency::Daily));
    patch(json!({"active": false})).await;
    assert_eq!(
        schedule(&id),
        None,
        "inactive integrations have no schedule"
    );
    patch(json!({"active": true})).await;
    assert_eq!(schedule(&id), Some(Frequency::Daily));
    h.call("DELETE", &format!("/integrations/{id}"), None).await;
    assert_eq!(schedule(&id), None, "deleted with the integration");

    // Other networks never touch the scheduler.
    h.scheduler.removals.lock().unwrap().clear();
    let leadbit = h
        .call(
            "POST",
            "/integrations",
            Some(
                json!({"network": "leadbit", "name": "LB", "credentials": {"api_key": "k-123456"}}),
            ),
        )
        .await;
    let lb = leadbit.json["id"].as_str().unwrap();
    h.call(
        "PATCH",
        &format!("/integrations/{lb}"),
        Some(json!({"name": "LB2"})),
    )
    .await;
    assert!(h.scheduler.removals.lock().unwrap().is_empty());
    assert!(h.scheduler.schedules.lock().unwrap().is_empty());
}

pub async fn bad_sync_requests_change_nothing(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.serve_network_offers(rows(1..=2)).await;
    let id = h.integration(Mode::Network, json!({})).await;
    let inactive = h.integration(Mode::Network, json!({})).await;
    h.call(
        "PATCH",
        &format!("/integrations/{inactive}"),
        Some(json!({"active": false})),
    )
    .await;
    let leadbit = h
        .call(
            "POST",
            "/integrations",
            Some(
                json!({"network": "leadbit", "name": "LB", "credentials": {"api_key": "k-123456"}}),
            ),
        )
        .await;
    let lb = leadbit.json["id"].as_str().unwrap().to_string();
    let too_many: Vec<String> = (1..=501).map(|i| i.to_string()).collect();
    h.store.reset();
    let cases: Vec<(String, Value, StatusCode, &str)> = vec![
        (
            id.clone(),
            json!({"offer_ids": []}),
            StatusCode::BAD_REQUEST,
            "out_of_range",
        ),
        (
            id.clone(),
            json!({"offer_ids": too_many}),
            StatusCode::BAD_REQUEST,
            "out_of_range",
        ),
        (
            id.clone(),
            json!({"offer_ids": "1"}),
            StatusCode::BAD_REQUEST,
            "wrong_type",
        ),
        (
            id.clone(),
            json!({"offer_ids": [{"id": 1}]}),
            StatusCode::BAD_REQUEST,
            "invalid_value",
        ),
        (
            id.clone(),
            json!({"offer_ids": ["1&Method=delete"]}),
            StatusCode::BAD_REQUEST,
            "invalid_value",
        ),
        (
            id.clone(),
            json!({"offer_ids": [-1]}),
            StatusCode::BAD_REQUEST,
            "invalid_value",
        ),
        (
            id.clone(),
            json!({"ids": ["1"]}),
            StatusCode::BAD_REQUEST,
            "unknown_field",
        ),
        (
            id.clone(),
            json!([1]),
            StatusCode::BAD_REQUEST,
            "wrong_type",
        ),
        (
            inactive.clone(),
            json!({}),
            StatusCode::BAD_REQUEST,
            "integration_inactive",
        ),
        (
            lb.clone(),
            json!({}),
            StatusCode::BAD_REQUEST,
            "unsupported_network",
        ),
        (
            "01NOSUCHINTEGRATION000000".into(),
            json!({}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (target, body, status, code) in cases {
        let reply = h.sync(&target, Some(body.clone())).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert_eq!(reply.json["error"]["code"], code, "{body}: {}", reply.text);
    }
    assert_eq!(h.store.batches(), 0, "refused requests write nothing");
    assert!(h.tune.requests().await.is_empty(), "and call nothing");
    let empty = h
        .call("POST", &format!("/integrations/{id}/sync"), None)
        .await;
    assert_eq!(
        empty.status,
        StatusCode::OK,
        "an empty body syncs everything"
    );
    h.store.reset();
    let before = h.tune.requests().await.len();
    let bad_currency = h
        .call(
            "PATCH",
            &format!("/integrations/{id}"),
            Some(json!({"settings": {"default_currency": "XYZ"}})),
        )
        .await;
    assert_eq!(bad_currency.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad_currency.json["error"]["field"],
        "settings.default_currency"
    );
    assert_eq!(h.store.batches(), 0, "refused requests write nothing");
    assert_eq!(h.tune.requests().await.len(), before, "and call nothing");
}

pub async fn sync_logs_newest_first(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.serve_network_offers(rows(1..=2)).await;
    let id = h.integration(Mode::Network, json!({})).await;
    let mut run_ids = vec![];
    for _ in 0..3 {
        run_ids.push(h.sync_ok(&id).await["id"].as_str().unwrap().to_string());
    }
    let first = h
        .call(
            "GET",
            &format!("/integrations/{id}/sync-logs?limit=2"),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let items = first.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], run_ids[2].as_str());
    assert_eq!(items[1]["id"], run_ids[1].as_str());
    expect_counts(&items[0], json!({"seen": 2, "unchanged": 2}));
    let cursor = first.json["next_cursor"].as_str().unwrap();
    let rest = h
        .call(
            "GET",
            &format!(
                "/integrations/{id}/sync-logs?limit=2&cursor={}",
                super::urlencode(cursor)
            ),
            None,
        )
        .await;
    let items = rest.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], run_ids[0].as_str());
    expect_counts(&items[0], json!({"seen": 2, "created": 2}));
    let unknown = h
        .call(
            "GET",
            "/integrations/01NOSUCHINTEGRATION000000/sync-logs",
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

pub async fn pages_are_paced_under_the_rate_limit(store: Arc<dyn ItemStore>) {
    let mut config = Config::for_tests();
    config.tune.sync_page_limit = 1;
    config.tune.page_interval = Duration::from_millis(150);
    let h = Harness::with_config(store, config).await;
    h.serve_network_offers(rows(1..=3)).await;
    let id = h.integration(Mode::Network, json!({})).await;
    let started = std::time::Instant::now();
    let log = h.sync_ok(&id).await;
    assert_eq!(log["pages_fetched"], 3);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "3 pages at least 150 ms apart took {:?}",
        started.elapsed()
    );
}

/// Issue #9: a sync started over HTTP ends within its budget (API Gateway cuts answers at 30 s)
/// however slow TUNE is: the budget bounds every attempt and retry, not only the gaps between
/// pages. Here one page would take three attempts of `timeout_ms` each (3 s) without the bound.
pub async fn http_sync_ends_within_its_budget_retries_included(store: Arc<dyn ItemStore>) {
    let mut config = affnet_app::Config::for_tests();
    let budget = Duration::from_millis(1_500);
    config.tune.http_sync_budget = Some(budget);
    let h = Harness::with_config(store, config).await;
    h.tune.mount_advertisers(&[("100", "Acme")]).await;
    let page = fixtures::success(fixtures::paged(1, 1, 1, &[fixtures::network_offer_row(1)]));
    h.tune
        .mount_delayed(
            Some(("Offer", "findAll")),
            page,
            Duration::from_secs(5),
            None,
        )
        .await;
    let id = h.integration(Mode::Network, json!({})).await;
    let patched = h
        .call(
            "PATCH",
            &format!("/integrations/{id}"),
            Some(json!({"timeout_ms": 1000})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let started = std::time::Instant::now();
    let reply = h.sync(&id, None).await;
    let took = started.elapsed();
    // Unbounded, the page alone takes 3 s (three 1 s attempts); the margin is for a loaded CI
    // machine's store writes.
    assert!(
        took < budget + Duration::from_millis(1_300),
        "the sync answered after {took:?}, past its {budget:?} budget"
    );
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["status"], "partial", "{}", reply.json);
    assert_eq!(reply.json["stopped_at_page"], 1, "{}", reply.json);
    assert!(
        reply.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("time budget")),
        "{}",
        reply.json
    );
}

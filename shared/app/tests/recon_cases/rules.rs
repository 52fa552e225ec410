//! The rules around the classes: idempotence, dry run, time zones, currencies, 504 splitting,
//! the affiliate API, overlap, bad requests, listing.

use super::{Rc, count, of_class};
use affnet_core::sync_log::{SyncLog, SyncTrigger};
use affnet_store::ItemStore;
use affnet_tune::Mode;
use affnet_tune::mock::{report_conversion, set_stat};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// One of each: matched, missing, status differs, payout differs.
async fn mixed(rc: &Rc) {
    let (a, b, c, d) = (
        rc.click().await,
        rc.click().await,
        rc.click().await,
        rc.click().await,
    );
    rc.postback("102a", &a, "15.00", None).await;
    rc.postback("102c", &c, "15.00", None).await;
    rc.postback("102d", &d, "15.00", None).await;
    let mut rc_row = rc.row("102c", Some(&c));
    set_stat(&mut rc_row, "Stat", "conversion_status", "rejected");
    let mut rd_row = rc.row("102d", Some(&d));
    set_stat(&mut rd_row, "Stat", "payout", "9.00000");
    rc.reports.set_conversions(vec![
        rc.row("102a", Some(&a)),
        rc.row("102b", Some(&b)),
        rc_row,
        rd_row,
    ]);
}

pub async fn applied_twice_changes_nothing_the_second_time(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    mixed(&rc).await;
    let first = rc.run(true).await;
    assert_eq!(
        (
            count(&first, "matched"),
            count(&first, "missing"),
            count(&first, "status_differs"),
            count(&first, "payout_differs")
        ),
        (1, 1, 1, 1),
        "{first}"
    );
    assert_eq!(
        first["changed"],
        json!({"created": 1, "status_changed": 1, "payout_changed": 1, "attributed": 0})
    );
    let before = rc.conversions().await;
    rc.store.reset();
    let second = rc.run(true).await;
    assert_eq!(count(&second, "matched"), 4, "{second}");
    assert_eq!(
        second["changed"],
        json!({"created": 0, "status_changed": 0, "payout_changed": 0, "attributed": 0})
    );
    assert_eq!(rc.ledger_writes(), 0, "{:?}", rc.store.written());
    assert_eq!(rc.conversions().await, before);
}

pub async fn dry_run_changes_nothing(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    mixed(&rc).await;
    let before = rc.conversions().await;
    rc.store.reset();
    let dry = rc.run(false).await;
    assert_eq!(dry["apply"], false);
    assert_eq!(
        (
            count(&dry, "missing"),
            count(&dry, "status_differs"),
            count(&dry, "payout_differs")
        ),
        (1, 1, 1),
        "{dry}"
    );
    assert_eq!(dry["changed"]["created"], 0);
    assert_eq!(rc.ledger_writes(), 0, "{:?}", rc.store.written());
    assert_eq!(rc.conversions().await, before);
    let diffs = rc.differences(dry["id"].as_str().unwrap()).await;
    assert_eq!(of_class(&diffs, "missing")[0]["action"], "would_create");
    assert_eq!(
        of_class(&diffs, "status_differs")[0]["action"],
        "would_change"
    );
    // Applying afterwards does what the dry run said.
    let applied = rc.run(true).await;
    assert_eq!(applied["changed"]["created"], 1);
}

pub async fn half_past_eleven_network_time_lands_on_the_right_utc_day(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "America/New_York").await;
    // Yesterday in New York, 23:30: the next day in UTC (04:30, or 03:30 in summer time).
    let day = chrono::Utc::now().with_timezone(&rc.tz).date_naive() - chrono::Duration::days(1);
    let click = rc.click().await;
    let mut row = report_conversion("102tz", &format!("{day} 23:30:00"));
    set_stat(&mut row, "ConversionsMobile", "affiliate_click_id", &click);
    rc.reports.set_conversions(vec![row]);
    let run = rc
        .reconcile(json!({"from": day.to_string(), "to": day.to_string()}))
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    let run = run.json;
    assert_eq!(
        (count(&run, "missing"), run["timezone"].as_str()),
        (1, Some("America/New_York")),
        "{run}"
    );
    // The run's UTC window is the New York day.
    assert!(
        run["from_utc"]
            .as_str()
            .unwrap()
            .starts_with(&day.to_string()),
        "{run}"
    );
    let diffs = rc.differences(run["id"].as_str().unwrap()).await;
    let c = rc
        .conversion(diffs[0]["conversion_id"].as_str().unwrap())
        .await;
    let utc_day = day + chrono::Duration::days(1);
    assert_eq!(c["day"], utc_day.to_string(), "{c}");
    assert!(
        c["created_at"]
            .as_str()
            .unwrap()
            .starts_with(&utc_day.to_string()),
        "{c}"
    );
    assert_eq!(
        diffs[0]["tune"]["local_datetime"],
        format!("{day} 23:30:00")
    );
    // Our report puts it on the UTC day; TUNE's stats (New York day) agree with the ledger's
    // side read in New York time.
    let report = rc
        .call(
            "GET",
            &format!("/reports?group_by=day&from={utc_day}&to={utc_day}"),
            None,
        )
        .await;
    assert_eq!(report.json["totals"]["conversions"], 1, "{}", report.text);
    assert_eq!(run["stats_differences"], 0, "{run}");
    // Again: the same conversion is now matched, not missing on another day.
    let again = rc
        .reconcile(json!({"from": day.to_string(), "to": day.to_string()}))
        .await
        .json;
    assert_eq!(
        (count(&again, "matched"), count(&again, "only_here")),
        (1, 0),
        "{again}"
    );
}

pub async fn other_currencies_are_stored_in_their_own(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let (usd, eur) = (rc.click().await, rc.click().await);
    rc.postback("102usd", &usd, "15.00", None).await;
    let mut row = rc.row("102eur", Some(&eur));
    set_stat(&mut row, "Stat", "currency", "EUR");
    set_stat(&mut row, "Stat", "payout", "11.00000");
    rc.reports
        .set_conversions(vec![rc.row("102usd", Some(&usd)), row]);
    let run = rc.run(true).await;
    assert_eq!(count(&run, "missing"), 1, "{run}");
    let today = rc.today();
    let report = rc
        .call(
            "GET",
            &format!("/reports?group_by=day&from={today}&to={today}"),
            None,
        )
        .await;
    assert_eq!(
        report.json["totals"]["revenue"]["approved"],
        json!({"EUR": "11", "USD": "15"}),
        "{}",
        report.text
    );
    assert_eq!(run["stats_differences"], 0, "{run}");
}

pub async fn long_ranges_are_split_after_a_504(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    rc.reports.set_max_days(Some(2));
    let today = chrono::Utc::now().date_naive();
    let rows: Vec<Value> = (0..7)
        .map(|i| {
            report_conversion(
                &format!("102d{i}"),
                &format!("{} 12:00:00", today - chrono::Duration::days(i)),
            )
        })
        .collect();
    rc.reports.set_conversions(rows);
    let run = rc.run(false).await;
    assert_eq!(
        (run["rows"].as_u64(), count(&run, "missing")),
        (Some(7), 7),
        "{run}"
    );
    // 7 days → 3 + 4 → (1 + 2) + (2 + 2), for each of the two reports.
    assert_eq!(run["range_splits"], 6, "{run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    // Every request TUNE answered had a range of at most 2 days.
    let mut long = 0;
    for q in rc.tune.request_queries().await {
        let days: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "filters[Stat.date][values][]")
            .map(|(_, v)| v.as_str())
            .collect();
        if let [from, to] = days.as_slice() {
            let (f, t): (chrono::NaiveDate, chrono::NaiveDate) =
                (from.parse().unwrap(), to.parse().unwrap());
            if (t - f).num_days() + 1 > 2 {
                long += 1;
            }
        }
    }
    assert_eq!(
        long, 6,
        "each 504 answered a range of more than 2 days, and was split"
    );
}

pub async fn affiliate_mode_reads_affiliate_reports(store: Arc<dyn ItemStore>) {
    let rc = Rc::with_mode(store, Mode::Affiliate, "UTC").await;
    let click = rc.click().await;
    rc.postback("102aff", &click, "15.00", None).await;
    rc.reports
        .set_conversions(vec![rc.row("102aff", Some(&click))]);
    let run = rc.run(true).await;
    assert_eq!(count(&run, "matched"), 1, "{run}");
    let targets: Vec<String> = rc
        .tune
        .request_queries()
        .await
        .iter()
        .filter_map(|q| {
            q.iter()
                .find(|(k, _)| k == "Target")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert!(
        targets.iter().all(|t| t == "Affiliate_Report"),
        "{targets:?}"
    );
    // The key goes as api_key and never comes back.
    let text = rc
        .call(
            "GET",
            &format!("/integrations/{}/reconciliations", rc.id),
            None,
        )
        .await
        .text;
    assert!(!text.contains(affnet_tune::mock::AFFILIATE_KEY));
}

pub async fn runs_never_overlap_with_a_sync(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let sync = SyncLog::start(
        affnet_core::ids::new_id(),
        &rc.id,
        SyncTrigger::Manual,
        None,
        chrono::Utc::now(),
    );
    let (lease, started) = rc
        .state
        .repo
        .begin_sync(&sync, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let busy = rc.reconcile(json!({})).await;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{}", busy.text);
    assert_eq!(busy.json["error"]["code"], "run_in_progress");
    assert!(busy.text.contains(&sync.id));
    let list = rc
        .call(
            "GET",
            &format!("/integrations/{}/reconciliations", rc.id),
            None,
        )
        .await;
    assert!(list.json["items"].as_array().unwrap().is_empty());
    let (_, held) = rc.state.repo.finish_sync(&lease, &started).await.unwrap();
    assert!(held);
    rc.reports.set_conversions(vec![]);
    assert_eq!(rc.reconcile(json!({})).await.status, StatusCode::OK);
}

pub async fn bad_requests_change_nothing(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let path = format!("/integrations/{}/reconcile", rc.id);
    let cases = [
        (json!({"from": "2026-13-01"}), "from"),
        (json!({"from": "2026-11-10", "to": "2026-11-01"}), "from"),
        (json!({"to": "2999-01-01"}), "to"),
        (json!({"apply": "yes"}), "apply"),
        (json!({"range": 7}), "range"),
    ];
    for (body, field) in cases {
        let reply = rc.call("POST", &path, Some(body.clone())).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert_eq!(
            reply.json["error"]["field"], field,
            "{body}: {}",
            reply.text
        );
    }
    let unknown = rc
        .call(
            "POST",
            "/integrations/01J9ZQ5ZK6F3H2M8N4P7R1S0TV/reconcile",
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let cpa = rc
        .call(
            "POST",
            "/integrations",
            Some(json!({"network": "leadbit", "name": "LB", "credentials": {"api_key": "k"}})),
        )
        .await;
    let cpa_id = cpa.json["id"].as_str().unwrap();
    let reply = rc
        .call("POST", &format!("/integrations/{cpa_id}/reconcile"), None)
        .await;
    assert_eq!(
        (reply.status, reply.json["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_network"))
    );
    // Settings are checked at create and patch, naming the field.
    let patch = |settings: Value| json!({"settings": settings});
    for (settings, field) in [
        (json!({"timezone": "Mars/Olympus"}), "settings.timezone"),
        (
            json!({"reconcile": {"lookback_days": 0}}),
            "settings.reconcile.lookback_days",
        ),
        (
            json!({"reconcile": {"lookback_days": "7"}}),
            "settings.reconcile.lookback_days",
        ),
        (
            json!({"reconcile": {"every": "hourly"}}),
            "settings.reconcile.every",
        ),
    ] {
        let reply = rc
            .call(
                "PATCH",
                &format!("/integrations/{}", rc.id),
                Some(patch(settings.clone())),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{settings}: {}",
            reply.text
        );
        assert_eq!(
            reply.json["error"]["field"], field,
            "{settings}: {}",
            reply.text
        );
    }
    let list = rc
        .call(
            "GET",
            &format!("/integrations/{}/reconciliations", rc.id),
            None,
        )
        .await;
    assert!(
        list.json["items"].as_array().unwrap().is_empty(),
        "{}",
        list.text
    );
    assert!(
        rc.tune.requests().await.is_empty(),
        "nothing was sent to TUNE"
    );
}

pub async fn runs_are_listed_newest_first_with_paged_differences(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let rows: Vec<Value> = (0..130)
        .map(|i| rc.row(&format!("102r{i:03}"), None))
        .collect();
    rc.reports.set_conversions(rows);
    let first = rc.run(false).await;
    let second = rc.run(false).await;
    assert_eq!(second["differences"], 130, "{second}");
    let page = rc
        .call(
            "GET",
            &format!("/integrations/{}/reconciliations?limit=1", rc.id),
            None,
        )
        .await;
    assert_eq!(page.json["items"][0]["id"], second["id"]);
    let next = page.json["next_cursor"].as_str().unwrap();
    let page = rc
        .call(
            "GET",
            &format!(
                "/integrations/{}/reconciliations?limit=1&cursor={next}",
                rc.id
            ),
            None,
        )
        .await;
    assert_eq!(page.json["items"][0]["id"], first["id"]);
    let diffs = rc.differences(second["id"].as_str().unwrap()).await;
    assert_eq!(diffs.len(), 130);
    let seqs: Vec<u64> = diffs.iter().map(|d| d["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let missing = rc
        .call(
            "GET",
            &format!(
                "/integrations/{}/reconciliations/01J9ZQ5ZK6F3H2M8N4P7R1S0TV",
                rc.id
            ),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

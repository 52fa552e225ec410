//! One case per class of difference.

use super::{Rc, count, of_class};
use affnet_store::ItemStore;
use affnet_tune::mock::set_stat;
use serde_json::json;
use std::sync::Arc;

pub async fn matched_rows_write_nothing(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let (c1, c2) = (rc.click().await, rc.click().await);
    rc.postback("102aaa", &c1, "15.00", None).await;
    rc.postback("102bbb", &c2, "15.00", None).await;
    rc.reports.set_conversions(vec![
        rc.row("102aaa", Some(&c1)),
        rc.row("102bbb", Some(&c2)),
    ]);
    rc.store.reset();
    let run = rc.run(true).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (
            count(&run, "matched"),
            run["counts"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>()
        ),
        (2, 2)
    );
    assert_eq!(rc.ledger_writes(), 0, "{:?}", rc.store.written());
    assert_eq!(run["differences"], 0);
    // TUNE's stats (computed from the same rows) agree with the ledger's.
    assert_eq!(run["stats_differences"], 0, "{run}");
    assert_eq!(
        (run["pages"].as_u64(), run["requests"].as_u64()),
        (Some(2), Some(2))
    );
}

pub async fn missing_is_recorded_and_its_late_postback_is_a_duplicate(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let click = rc.click().await;
    let mut row = rc.row("102miss", Some(&click));
    set_stat(&mut row, "Stat", "payout", "12.50000");
    rc.reports.set_conversions(vec![row]);
    let run = rc.run(true).await;
    assert_eq!(
        (count(&run, "missing"), run["changed"]["created"].as_u64()),
        (1, Some(1)),
        "{run}"
    );
    let diffs = rc.differences(run["id"].as_str().unwrap()).await;
    let missing = of_class(&diffs, "missing");
    assert_eq!(missing[0]["action"], "created");
    let id = missing[0]["conversion_id"].as_str().unwrap();
    let c = rc.conversion(id).await;
    // Attributed by its click ID, like its postback would have been.
    assert_eq!(
        (
            c["matched"].as_bool(),
            c["offer_id"].as_str(),
            c["message_id"].as_str()
        ),
        (Some(true), Some(super::OFFER), Some("m1"))
    );
    assert_eq!(
        (
            c["status"].as_str(),
            c["payout"].as_str(),
            c["currency"].as_str()
        ),
        (Some("approved"), Some("12.5"), Some("USD"))
    );
    assert_eq!(c["history"][0]["source"], "reconciliation");
    // The postback that finally comes is a duplicate of it: one conversion.
    let late = rc.postback("102miss", &click, "12.50", None).await;
    assert_eq!(late.json["outcome"], "duplicate", "{}", late.text);
    assert_eq!(late.json["conversion_id"].as_str(), Some(id));
    assert_eq!(rc.conversions().await.len(), 1);
}

pub async fn status_differs_goes_through_the_status_machine(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let (rejected, pending) = (rc.click().await, rc.click().await);
    let a = rc.postback("102rej", &rejected, "15.00", None).await;
    let b = rc.postback("102pen", &pending, "15.00", None).await;
    let mut r1 = rc.row("102rej", Some(&rejected));
    set_stat(&mut r1, "Stat", "conversion_status", "rejected");
    let mut r2 = rc.row("102pen", Some(&pending));
    set_stat(&mut r2, "Stat", "conversion_status", "pending");
    rc.reports.set_conversions(vec![r1, r2]);
    let run = rc.run(true).await;
    assert_eq!(
        (
            count(&run, "status_differs"),
            run["changed"]["status_changed"].as_u64()
        ),
        (2, Some(1)),
        "{run}"
    );
    // TUNE rejected what we held approved: a reversal, kept in the history.
    let c = rc
        .conversion(a.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(c["status"], "rejected");
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["source"].as_str()),
        (Some("reversal"), Some("reconciliation"))
    );
    // A final status is never overwritten by pending: listed, kept.
    let c = rc
        .conversion(b.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(c["status"], "approved");
    let diffs = rc.differences(run["id"].as_str().unwrap()).await;
    let kept = diffs
        .iter()
        .find(|d| d["transaction_id"] == "102pen")
        .unwrap();
    assert_eq!(
        (kept["class"].as_str(), kept["action"].as_str()),
        (Some("status_differs"), Some("none"))
    );
    assert_eq!(
        (
            kept["tune"]["status"].as_str(),
            kept["ours"]["status"].as_str()
        ),
        (Some("pending"), Some("approved"))
    );
    assert!(kept["note"].as_str().unwrap().contains("never overwritten"));
}

pub async fn payout_differs_tune_wins_with_history(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let click = rc.click().await;
    let pb = rc.postback("102pay", &click, "15.00", None).await;
    let mut row = rc.row("102pay", Some(&click));
    set_stat(&mut row, "Stat", "payout", "12.50000");
    rc.reports.set_conversions(vec![row]);
    let run = rc.run(true).await;
    assert_eq!(
        (
            count(&run, "payout_differs"),
            run["changed"]["payout_changed"].as_u64()
        ),
        (1, Some(1)),
        "{run}"
    );
    let c = rc
        .conversion(pb.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(c["payout"], "12.5");
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["source"].as_str()),
        (Some("payout"), Some("reconciliation"))
    );
    assert_eq!(
        (
            last["payout_before"].as_str(),
            last["payout_after"].as_str()
        ),
        (Some("15"), Some("12.5"))
    );
    // The report's revenue follows.
    let today = rc.today();
    let report = rc
        .call(
            "GET",
            &format!("/reports?group_by=offer&from={today}&to={today}"),
            None,
        )
        .await;
    assert_eq!(
        report.json["totals"]["revenue"]["approved"]["USD"], "12.5",
        "{}",
        report.text
    );
}

pub async fn duplicate_at_tune_is_counted_once(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let click = rc.click().await;
    rc.postback("102first", &click, "15.00", None).await;
    // TUNE retried its own sync and holds a second copy (another transaction ID) a second later.
    let first = rc.row("102first", Some(&click));
    let mut copy = rc.row("102copy", Some(&click));
    let later = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    set_stat(&mut copy, "Stat", "datetime", &later);
    rc.reports.set_conversions(vec![first, copy]);
    let run = rc.run(true).await;
    assert_eq!(
        (count(&run, "matched"), count(&run, "duplicate_at_tune")),
        (1, 1),
        "{run}"
    );
    assert_eq!(run["changed"]["created"], 0);
    assert_eq!(rc.conversions().await.len(), 1);
    let diffs = rc.differences(run["id"].as_str().unwrap()).await;
    let dup = of_class(&diffs, "duplicate_at_tune");
    assert_eq!(
        (dup[0]["transaction_id"].as_str(), dup[0]["action"].as_str()),
        (Some("102copy"), Some("none"))
    );
    assert_eq!(dup[0]["linked_transaction_id"], "102first");
    // TUNE's stats count both copies; ours one: listed with both figures.
    assert_eq!(run["stats_differences"], 1, "{run}");
    let stats = &run["stats"][0];
    assert_eq!(
        (
            stats["tune"]["conversions"].as_u64(),
            stats["ours"]["conversions"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(
        (
            stats["remote_offer_id"].as_str(),
            stats["currency"].as_str()
        ),
        (Some("26"), Some("USD"))
    );
}

pub async fn rejected_and_recreated_are_linked_and_counted_once(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let click = rc.click().await;
    let old = rc.postback("102old", &click, "15.00", None).await;
    // TUNE rejected the old conversion and created a new one with a new transaction ID.
    let mut rejected = rc.row("102old", Some(&click));
    set_stat(&mut rejected, "Stat", "conversion_status", "rejected");
    let mut new = rc.row("102new", Some(&click));
    let later = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    set_stat(&mut new, "Stat", "datetime", &later);
    rc.reports.set_conversions(vec![rejected, new]);
    let run = rc.run(true).await;
    assert_eq!(
        (
            count(&run, "status_differs"),
            count(&run, "rejected_recreated")
        ),
        (1, 1),
        "{run}"
    );
    let diffs = rc.differences(run["id"].as_str().unwrap()).await;
    let linked = of_class(&diffs, "rejected_recreated");
    assert_eq!(
        (
            linked[0]["transaction_id"].as_str(),
            linked[0]["action"].as_str()
        ),
        (Some("102new"), Some("created"))
    );
    assert_eq!(linked[0]["linked_transaction_id"], "102old");
    let c = rc
        .conversion(old.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(c["status"], "rejected");
    // The revenue is counted once, on the new one.
    let today = rc.today();
    let report = rc
        .call(
            "GET",
            &format!("/reports?group_by=day&from={today}&to={today}"),
            None,
        )
        .await;
    assert_eq!(
        report.json["totals"]["revenue"]["approved"]["USD"], "15",
        "{}",
        report.text
    );
    assert_eq!(
        report.json["totals"]["by_status"]["approved"], 1,
        "{}",
        report.text
    );
}

pub async fn only_here_is_listed_never_deleted(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let click = rc.click().await;
    let pb = rc.postback("102here", &click, "15.00", None).await;
    rc.reports.set_conversions(vec![]);
    let run = rc.run(true).await;
    assert_eq!(count(&run, "only_here"), 1, "{run}");
    let diffs = rc.differences(run["id"].as_str().unwrap()).await;
    let here = of_class(&diffs, "only_here");
    assert_eq!(
        (
            here[0]["transaction_id"].as_str(),
            here[0]["action"].as_str()
        ),
        (Some("102here"), Some("none"))
    );
    assert_eq!(here[0]["ours"]["status"], "approved");
    let id = pb.json["conversion_id"].as_str().unwrap();
    assert_eq!(rc.conversion(id).await["status"], "approved");
}

pub async fn bad_rows_are_listed_and_change_nothing(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let mut anonymous = rc.row("", None);
    set_stat(&mut anonymous, "Stat", "ad_id", "");
    let mut bad_payout = rc.row("102pay", Some(&rc.click().await));
    set_stat(&mut bad_payout, "Stat", "payout", "12,50");
    let mut bad_date = rc.row("102date", None);
    set_stat(&mut bad_date, "Stat", "datetime", "0000-00-00 00:00:00");
    set_stat(&mut bad_date, "Stat", "date", &rc.today());
    rc.reports
        .set_conversions(vec![anonymous, bad_payout, bad_date]);
    rc.store.reset();
    let run = rc.run(true).await;
    assert_eq!(count(&run, "bad_row"), 3, "{run}");
    assert_eq!(rc.ledger_writes(), 0);
    assert!(rc.conversions().await.is_empty());
    let diffs = rc.differences(run["id"].as_str().unwrap()).await;
    let notes: Vec<&str> = diffs.iter().map(|d| d["note"].as_str().unwrap()).collect();
    assert!(
        notes.iter().any(|n| n.contains("no transaction ID")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n.contains("Stat.payout")), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("Stat.datetime")),
        "{notes:?}"
    );
    assert!(json!(diffs).to_string().contains("12,50"));
}

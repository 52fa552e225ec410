//! Reconciliation's events: a conversion it changes is `conversion.status_changed` with source
//! `reconciliation`, one it creates is `conversion.recorded` likewise, and every run ends with
//! `reconciliation.finished` (a dry run too, changing nothing else).

use super::{Rc, count};
use crate::support::events;
use affnet_store::ItemStore;
use affnet_tune::mock::set_stat;
use serde_json::Value;
use std::sync::Arc;

fn of<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|e| e["type"] == kind).collect()
}

pub async fn changes_and_runs_are_events_with_their_source(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let click = rc.click().await;
    let ours = rc.postback("102rev", &click, "15.00", None).await;
    let conversion_id = ours.json["conversion_id"].as_str().unwrap().to_string();
    let mut reversed = rc.row("102rev", Some(&click));
    set_stat(&mut reversed, "Stat", "conversion_status", "rejected");
    let missing = rc.row("102new", None);
    rc.reports.set_conversions(vec![reversed, missing]);

    let dry = rc.run(false).await;
    let after_dry = events(&rc.router, None).await;
    assert_eq!(
        of(&after_dry, "conversion.status_changed").len(),
        0,
        "{after_dry:?}"
    );
    let finished = of(&after_dry, "reconciliation.finished");
    assert_eq!(finished.len(), 1, "{after_dry:?}");
    assert_eq!(finished[0]["data"]["run_id"], dry["id"]);
    assert_eq!(finished[0]["data"]["apply"], false);

    let run = rc.run(true).await;
    assert_eq!(count(&run, "status_differs"), 1, "{run}");
    let all = events(&rc.router, None).await;
    let recorded = of(&all, "conversion.recorded");
    assert_eq!(
        recorded.len(),
        2,
        "the postback's and the missing one's: {all:?}"
    );
    assert_eq!(recorded[0]["data"]["conversion_id"], conversion_id.as_str());
    assert_eq!(recorded[0]["data"]["source"], "postback");
    assert_eq!(recorded[0]["data"]["offer_id"], super::OFFER);
    assert_eq!(recorded[0]["data"]["message_id"], "m1");
    assert_eq!(recorded[0]["data"]["creative_id"], "c1");
    assert_eq!(recorded[1]["data"]["source"], "reconciliation");
    assert_eq!(recorded[1]["data"]["transaction_id"], "102new");
    let changed = of(&all, "conversion.status_changed");
    assert_eq!(changed.len(), 1, "{all:?}");
    let d = &changed[0]["data"];
    assert_eq!(d["conversion_id"], conversion_id.as_str());
    assert_eq!(
        (d["old_status"].as_str(), d["new_status"].as_str()),
        (Some("approved"), Some("rejected"))
    );
    assert_eq!(
        (d["change"].as_str(), d["source"].as_str()),
        (Some("reversal"), Some("reconciliation"))
    );
    let payout: rust_decimal::Decimal = d["new_payout"].as_str().unwrap().parse().unwrap();
    assert_eq!(payout, rust_decimal::Decimal::from(15), "{d}");
    let finished = of(&all, "reconciliation.finished");
    assert_eq!(finished.len(), 2);
    let last = &finished[1]["data"];
    assert_eq!(last["run_id"], run["id"]);
    assert_eq!(last["status"], run["status"]);
    assert_eq!(last["changed"]["status_changed"], 1);
    assert_eq!(last["changed"]["created"], 1);
    assert_eq!(last["counts"]["missing"], 1);
    assert!(
        all.windows(2)
            .all(|w| w[0]["id"].as_str() < w[1]["id"].as_str())
    );
}

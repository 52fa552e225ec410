//! Revenue sync: conversions TUNE paid another payout than their offer's default (custom payouts
//! per affiliate) are reported, and nothing changes for them.

use super::{Rc, count, of_class};
use affnet_store::ItemStore;
use affnet_tune::Mode;
use affnet_tune::mock::{fixtures, set_stat};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// Imports TUNE offer 26 (default payout 15 USD, flat) through offer sync.
async fn sync_offer_26(rc: &Rc) -> Value {
    let mut offer = fixtures::network_offer(26);
    offer["default_payout"] = json!("15.00000");
    offer["currency"] = json!("USD");
    rc.tune.mount_advertisers(&[("101", "Globex")]).await;
    rc.tune
        .mount_offers(Mode::Network, vec![json!({ "Offer": offer })])
        .await;
    let log = rc
        .call("POST", &format!("/integrations/{}/sync", rc.id), None)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    assert_eq!(log.json["counts"]["created"], 1, "{}", log.text);
    let offers = rc
        .call("GET", &format!("/offers?integration_id={}", rc.id), None)
        .await;
    offers.json["items"][0].clone()
}

pub async fn custom_payouts_are_reported_and_change_nothing(store: Arc<dyn ItemStore>) {
    let rc = Rc::new(store, "UTC").await;
    let offer = sync_offer_26(&rc).await;
    assert_eq!(
        (offer["payout"].as_str(), offer["remote_id"].as_str()),
        (Some("15"), Some("26"))
    );
    let (c1, c2, c3) = (rc.click().await, rc.click().await, rc.click().await);
    rc.postback("102def", &c1, "15.00", None).await;
    let custom = rc.postback("102cus", &c2, "18.50", None).await;
    // A conversion of an offer we do not hold (TUNE offer 99), paid another amount.
    let path = format!(
        "/postback/{}?token={}&aff_click_id={c3}&transaction_id=102unk&offer_id=99&payout=40&currency=USD",
        rc.id, rc.token
    );
    assert_eq!(rc.call("GET", &path, None).await.status, StatusCode::OK);
    let mut custom_row = rc.row("102cus", Some(&c2));
    set_stat(&mut custom_row, "Stat", "payout", "18.50000");
    let mut unknown_row = rc.row("102unk", Some(&c3));
    set_stat(&mut unknown_row, "Stat", "offer_id", "99");
    set_stat(&mut unknown_row, "Stat", "payout", "40.00000");
    rc.reports
        .set_conversions(vec![rc.row("102def", Some(&c1)), custom_row, unknown_row]);
    for apply in [true, false] {
        rc.store.reset();
        let run = rc.run(apply).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        // Every row keeps its own class; the custom payout is counted beside them.
        assert_eq!(
            (count(&run, "matched"), run["custom_payouts"].as_u64()),
            (3, Some(1)),
            "{run}"
        );
        assert!(run["counts"].get("custom_payout").is_none(), "{run}");
        // Nothing written: not the ledger, not the offer.
        assert_eq!(rc.ledger_writes(), 0, "{:?}", rc.store.written());
        assert_eq!(
            (rc.store.written_of("OFFER"), rc.store.written_of("REMOTE")),
            (0, 0)
        );
        let diffs = rc.differences(run["id"].as_str().unwrap()).await;
        let listed = of_class(&diffs, "custom_payout");
        assert_eq!(listed.len(), 1, "{diffs:?}");
        let d = listed[0];
        assert_eq!(
            (
                d["transaction_id"].as_str(),
                d["action"].as_str(),
                d["remote_offer_id"].as_str()
            ),
            (Some("102cus"), Some("none"), Some("26"))
        );
        assert_eq!(
            (d["tune"]["payout"].as_str(), d["tune"]["currency"].as_str()),
            (Some("18.5"), Some("USD"))
        );
        assert_eq!(
            (d["ours"]["payout"].as_str(), d["ours"]["currency"].as_str()),
            (Some("15"), Some("USD"))
        );
        assert_eq!(d["conversion_id"], custom.json["conversion_id"]);
        assert!(
            d["note"]
                .as_str()
                .unwrap()
                .contains(offer["id"].as_str().unwrap()),
            "{d}"
        );
        assert_eq!(
            diffs.len(),
            1,
            "the other rows are plain matches: {diffs:?}"
        );
    }
    // The offer keeps TUNE's default payout, the conversion TUNE's own payout.
    let after = rc
        .call(
            "GET",
            &format!("/offers/{}", offer["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(after.json["payout"], "15", "{}", after.text);
    assert!(after.json.get("payout_history").is_none(), "{}", after.text);
    let c = rc
        .conversion(custom.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (c["payout"].as_str(), c["history"].as_array().map(Vec::len)),
        (Some("18.5"), Some(1))
    );
}

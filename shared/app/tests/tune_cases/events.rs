//! Offer sync's event: `offer_sync.finished`, with the run's figures, for a finished, a failed
//! and a skipped run.

use super::Harness;
use crate::support::events;
use affnet_store::ItemStore;
use affnet_tune::Mode;
use affnet_tune::mock::fixtures;
use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;

pub async fn every_finished_run_has_an_offer_sync_finished_event(store: Arc<dyn ItemStore>) {
    let h = Harness::new(store).await;
    h.serve_network_offers((1..=20).map(fixtures::network_offer_row).collect())
        .await;
    let id = h.integration(Mode::Network, json!({})).await;
    let log = h.sync_ok(&id).await;
    let found = events(&h.router, Some("offer_sync.finished")).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    assert_eq!(
        (e["type"].as_str(), e["version"].as_u64()),
        (Some("offer_sync.finished"), Some(1))
    );
    let d = &e["data"];
    assert_eq!(d["integration_id"], json!(id));
    assert_eq!(d["run_id"], log["id"]);
    assert_eq!(d["status"], "succeeded");
    assert_eq!(d["trigger"], "manual");
    assert_eq!(d["counts"]["created"], 20);
    assert_eq!(d["finished_at"], log["finished_at"]);
    for key in ["offer_id", "message_id", "creative_id"] {
        assert!(d[key].is_null(), "{key}: {d}");
    }
    assert!(
        !e.to_string()
            .contains(affnet_tune::mock::key_for(Mode::Network))
    );

    // A run whose page fails: its event says failed, with the problem counted.
    h.tune.server().reset().await;
    let failed = h.sync(&id, None).await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.text);
    let found = events(&h.router, Some("offer_sync.finished")).await;
    assert_eq!(found.len(), 2, "{found:?} after {}", failed.text);
    assert_eq!(found[1]["data"]["run_id"], failed.json["id"]);
    assert_eq!(found[1]["data"]["status"], failed.json["status"]);
    assert_ne!(found[1]["data"]["status"], "succeeded");
    assert!(
        found[1]["data"]["errors"].as_u64() >= Some(1),
        "{}",
        found[1]
    );
    // Nothing but sync events came of it.
    assert_eq!(events(&h.router, None).await.len(), 2);
}

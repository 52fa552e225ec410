//! Domain event cases, written once and run on every store: each test file calls
//! [`events_suite!`] with an async expression giving a fresh `Arc<dyn ItemStore>`. Postbacks go
//! through the real router, events are read back through `GET /events`.

use crate::pb_support::{Pb, click};
use crate::support::{call, events};
use affnet_store::ItemStore;
use axum::http::StatusCode;
use serde_json::Value;
use std::sync::Arc;

#[macro_export]
macro_rules! events_suite {
    ($factory:expr) => {
        $crate::events_suite!(@cases $factory;
            postbacks_are_recorded_changed_and_attributed_as_events,
            the_feed_pages_in_order_filters_and_refuses_bad_input,
            a_failed_batch_leaves_neither_the_conversion_nor_its_event,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn affnet_store::ItemStore> = $factory.await;
                events_cases::$case(store).await;
            }
        )*
    };
}

fn of<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|e| e["type"] == kind).collect()
}

/// A CPA postback without a click (recorded, unmatched), the same conversion with its click
/// and a new status (changed and attributed, one batch), a duplicate (nothing).
pub async fn postbacks_are_recorded_changed_and_attributed_as_events(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store);
    let i = pb.integration("monadlead", serde_json::json!({})).await;
    let first = pb
        .altercpa(&i, "eid=E-1&status=new&pay=5&cc=USD&comment=call+me")
        .await;
    assert_eq!(first.json["outcome"], "created", "{}", first.text);
    let id = first.json["conversion_id"].as_str().unwrap().to_string();
    let recorded = events(&pb.router, None).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let e = &recorded[0];
    assert_eq!(
        (e["type"].as_str(), e["version"].as_u64()),
        (Some("conversion.recorded"), Some(1))
    );
    assert_eq!(e["id"].as_str().map(str::len), Some(26), "a ULID: {e}");
    let d = &e["data"];
    assert_eq!(d["conversion_id"], id.as_str());
    assert_eq!(d["integration_id"], i.id.as_str());
    assert_eq!(
        (d["status"].as_str(), d["payout"].as_str()),
        (Some("pending"), Some("5"))
    );
    assert_eq!(
        (d["source"].as_str(), d["matched"].as_bool()),
        (Some("postback"), Some(false))
    );
    assert!(d["offer_id"].is_null() && d["message_id"].is_null() && d["creative_id"].is_null());
    let text = e.to_string();
    assert!(
        !text.contains(&i.postback_token) && !text.contains("call me"),
        "{text}"
    );

    let c = click(&pb.state).await;
    let tail = format!("oid={c}&eid=E-1&status=approve&pay=7.50&cc=USD");
    let changed = pb.altercpa(&i, &tail).await;
    assert_eq!(changed.json["outcome"], "changed", "{}", changed.text);
    assert_eq!(pb.altercpa(&i, &tail).await.json["outcome"], "duplicate");
    let all = events(&pb.router, None).await;
    assert_eq!(all.len(), 3, "{all:?}");
    let status = of(&all, "conversion.status_changed");
    assert_eq!(status.len(), 1);
    let d = &status[0]["data"];
    assert_eq!(
        (d["old_status"].as_str(), d["new_status"].as_str()),
        (Some("pending"), Some("approved"))
    );
    assert_eq!(
        (d["old_payout"].as_str(), d["new_payout"].as_str()),
        (Some("5"), Some("7.5"))
    );
    assert_eq!(
        (d["change"].as_str(), d["source"].as_str()),
        (Some("progress"), Some("postback"))
    );
    assert_eq!(d["offer_id"], crate::pb_support::OFFER);
    let attributed = of(&all, "conversion.attributed");
    assert_eq!(attributed.len(), 1);
    assert_eq!(
        attributed[0]["data"]["message_id"],
        crate::pb_support::MESSAGE
    );
    assert_eq!(
        attributed[0]["data"]["creative_id"],
        crate::pb_support::CREATIVE
    );
    assert_eq!(attributed[0]["data"]["conversion_id"], id.as_str());
}

/// 30 conversions: pages of 7 give each event once, oldest first; `type` filters; a cursor
/// polled at the end gives nothing and stays; bad input is a 400 naming the parameter.
pub async fn the_feed_pages_in_order_filters_and_refuses_bad_input(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store);
    let i = pb.integration("monadlead", serde_json::json!({})).await;
    for n in 0..30 {
        let r = pb
            .altercpa(&i, &format!("eid=E-{n}&status=new&pay=1&cc=USD"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let all = events(&pb.router, None).await;
    assert_eq!(all.len(), 30);
    let mut paged = Vec::new();
    let mut after = String::new();
    let last_cursor = loop {
        let page = pb.get(&format!("/events?limit=7{after}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.json["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        let cursor = page.json["next_cursor"].as_str().unwrap().to_string();
        if items.is_empty() {
            break cursor;
        }
        paged.extend(items.iter().cloned());
        after = format!("&after={cursor}");
    };
    assert_eq!(paged, all);
    let ids: Vec<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first");
    // Caught up: the same cursor comes back until something new happens.
    let again = pb.get(&format!("/events?after={last_cursor}")).await;
    assert_eq!(again.json["next_cursor"], last_cursor.as_str());
    let none = pb
        .get("/events?type=offer_sync.finished,reconciliation.finished")
        .await;
    assert_eq!(none.json["items"], serde_json::json!([]));
    assert!(
        none.json["next_cursor"].is_string(),
        "it scanned past the 30: {}",
        none.text
    );
    let only = pb.get("/events?type=conversion.recorded&limit=100").await;
    assert_eq!(only.json["items"].as_array().unwrap().len(), 30);

    for (query, field) in [
        ("type=conversion.deleted", "type"),
        ("after=%25%25", "after"),
        ("limit=0", "limit"),
        ("since=1", "since"),
    ] {
        let r = pb.get(&format!("/events?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.json["error"]["field"], field, "{query}: {}", r.text);
    }
    // A management route: with an admin token set, only its bearer reads the feed.
    let config = affnet_app::Config {
        admin_token: Some("s3cret-admin-token".into()),
        ..crate::pb_support::config()
    };
    let guarded = Pb::with_config(pb.state.repo.items().clone(), config);
    let refused = call(&guarded.router, "GET", "/events", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    let request = axum::http::Request::builder()
        .uri("/events")
        .header("authorization", "Bearer s3cret-admin-token")
        .body(axum::body::Body::empty())
        .unwrap();
    let allowed = crate::support::send(&guarded.router, request).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
}

/// The postback's batch fails before the store and inside it: 503, no conversion, no event,
/// and the network's retry records both once.
pub async fn a_failed_batch_leaves_neither_the_conversion_nor_its_event(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store);
    let i = pb.integration("monadlead", serde_json::json!({})).await;
    let tail = "eid=F-1&status=new&pay=5&cc=USD";
    pb.faults.fail_writes(1);
    let refused = pb.altercpa(&i, tail).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    pb.faults.reject_in_store(1);
    let refused = pb.altercpa(&i, tail).await;
    assert!(refused.status.is_server_error(), "{}", refused.text);
    assert!(pb.conversions("").await.is_empty());
    assert!(events(&pb.router, None).await.is_empty());

    let stored = pb.altercpa(&i, tail).await;
    assert_eq!(stored.json["outcome"], "created", "{}", stored.text);
    let id = stored.json["conversion_id"].as_str().unwrap();
    let all = events(&pb.router, None).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["data"]["conversion_id"], id);

    // A change whose batch the store rejects (the postback's create attempt, which finds the
    // conversion, and then its change) leaves the conversion and the feed as they were; the
    // network's retry changes it, with one event.
    pb.faults.reject_in_store(2);
    let approve = "eid=F-1&status=approve&pay=5&cc=USD";
    let change = pb.altercpa(&i, approve).await;
    assert!(change.status.is_server_error(), "{}", change.text);
    assert_eq!(pb.conversion(id).await["status"], "pending");
    assert_eq!(events(&pb.router, None).await, all);
    let retried = pb.altercpa(&i, approve).await;
    assert_eq!(retried.json["outcome"], "changed", "{}", retried.text);
    let after = events(&pb.router, None).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[1]["type"], "conversion.status_changed");
}

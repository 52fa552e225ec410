//! Postback concurrency and fault cases on the DynamoDB adapter against moto (started by the
//! test command, or by `affnet_store::testing`), plus the DynamoDB requests one postback costs.

mod pb_support;
mod postback_cases;
mod support;

use affnet_app::Config;
use affnet_store::{DynamoStore, ItemStore};
use axum::http::StatusCode;
use pb_support::{Pb, click};
use serde_json::json;
use std::sync::Arc;

/// As the AWS host builds it: shared counters deferred to the ledger, folded when read.
async fn fresh() -> Arc<dyn ItemStore> {
    let store: Arc<dyn ItemStore> = Arc::new(affnet_store::testing::fresh_dynamo_store().await);
    affnet_store::ledger::CounterLedger::around(store)
}

postback_suite!(fresh());

/// One request (one TransactWriteItems) records a new conversion with a verified click, its
/// totals and its log entry, once the integration is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_requests_per_postback() {
    let dynamo: DynamoStore = affnet_store::testing::fresh_dynamo_store().await;
    let config = Config {
        integration_cache_secs: 60,
        ..pb_support::config()
    };
    let pb = Pb::with_config(Arc::new(dynamo.clone()), config);
    let i = pb.integration("everad", json!({})).await;
    let cost = |before: u64| dynamo.request_count() - before;
    let send = |tail: String| {
        let pb = &pb;
        let i = &i;
        async move {
            let r = pb.altercpa(i, &tail).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.json["outcome"].as_str().unwrap().to_string()
        }
    };
    // Cold: the integration is read once (the click's labels are cached: its click made them).
    let first_click = click(&pb.state).await;
    let before = dynamo.request_count();
    let first = send(format!("oid={first_click}&status=pending&pay=5&cc=USD")).await;
    assert_eq!((first.as_str(), cost(before)), ("created", 2));

    let c = click(&pb.state).await;
    let before = dynamo.request_count();
    assert_eq!(
        send(format!("oid={c}&status=pending&pay=5&cc=USD")).await,
        "created"
    );
    let new = cost(before);
    let before = dynamo.request_count();
    assert_eq!(
        send(format!("oid={c}&status=pending&pay=5&cc=USD")).await,
        "duplicate"
    );
    let duplicate = cost(before);
    let before = dynamo.request_count();
    assert_eq!(
        send(format!("oid={c}&status=approved&pay=5&cc=USD")).await,
        "changed"
    );
    let change = cost(before);
    println!(
        "DynamoDB requests: new conversion {new}, duplicate {duplicate}, status change {change}"
    );
    assert_eq!(new, 1);
    // Failed create (1) + read (1) + log-only put (1); a change writes its transaction instead.
    assert_eq!(duplicate, 3);
    assert_eq!(change, 3);
}

/// A process that has not seen a click's labels (the postback function is not the click
/// function) reads them once by key, then never again: attribution stays read-free when warm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_requests_to_resolve_click_labels() {
    let dynamo: DynamoStore = affnet_store::testing::fresh_dynamo_store().await;
    let config = Config {
        integration_cache_secs: 60,
        ..pb_support::config()
    };
    let clicks = Pb::with_config(Arc::new(dynamo.clone()), config.clone());
    let (a, b) = (click(&clicks.state).await, click(&clicks.state).await);
    let pb = Pb::with_config(Arc::new(dynamo.clone()), config);
    let i = pb.integration("everad", json!({})).await;
    let warm = format!("oid={}&status=pending&pay=5&cc=USD", click(&pb.state).await);
    assert_eq!(pb.altercpa(&i, &warm).await.status, StatusCode::OK);
    let cost = |before: u64| dynamo.request_count() - before;

    let before = dynamo.request_count();
    let r = pb
        .altercpa(&i, &format!("oid={a}&status=pending&pay=5&cc=USD"))
        .await;
    assert_eq!(r.json["outcome"], "created", "{}", r.text);
    assert_eq!(cost(before), 1, "labels cached by this process's own click");

    let fresh = Pb::with_config(Arc::new(dynamo.clone()), pb_support::config());
    let i_cached = fresh
        .state
        .repo
        .get_integration(&i.id)
        .await
        .unwrap()
        .unwrap();
    let before = dynamo.request_count();
    let r = fresh
        .altercpa(&i_cached, &format!("oid={b}&status=pending&pay=5&cc=USD"))
        .await;
    assert_eq!(r.json["outcome"], "created", "{}", r.text);
    // Integration (no cache in this config) + labels + the batch.
    assert_eq!(cost(before), 3);
    let c = fresh
        .conversion(r.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(c["message_id"], pb_support::MESSAGE);
    assert_eq!(c["creative_id"], pb_support::CREATIVE);
    let again = format!("oid={b}&eid=other&status=pending&pay=5&cc=USD");
    let before = dynamo.request_count();
    assert_eq!(
        fresh.altercpa(&i_cached, &again).await.json["outcome"],
        "created"
    );
    assert_eq!(cost(before), 2, "labels now cached: integration + batch");
}

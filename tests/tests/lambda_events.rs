//! The events function at the Lambda boundary: the real binary under the Runtime API emulator,
//! invoked with what the table's stream (moto's) recorded of a real postback's writes, kept by
//! the event source mapping's filter from template.yaml; it publishes to a stand-in bus and
//! reports the record the bus refused, making no DynamoDB call for the outbox. The counter
//! ledger's records (the second mapping) it folds into the table, within its grants. See
//! tests/lambda_harness/.
//!
//! Needs moto like the other DynamoDB tests (`AFFNET_TEST_DYNAMODB_ENDPOINT`, or `.venv`).

mod lambda_harness;

use affnet_app::events::stand_in::StandInBus;
use affnet_store::testing::fresh_dynamo_store;
use lambda_harness::events::postback_event;
use lambda_harness::runtime_api::Outcome;
use lambda_harness::stream;
use lambda_harness::{EVENT_BUS, Function, click_id_of, ledger_filter, seed, stream_filter};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A fresh table with its stream on, and the functions that write to it, seeded.
struct Streamed {
    moto: String,
    table: String,
    api: Function,
    click_fn: Function,
    postback: Function,
    seeded: lambda_harness::Seeded,
}

impl Streamed {
    async fn start() -> Streamed {
        let moto = affnet_store::testing::moto_endpoint().await;
        let table = fresh_dynamo_store().await.table().to_string();
        stream::enable(&moto, &table).await;
        let api = Function::start("api", &moto, &table, &[]).await;
        let click_fn = Function::start("click", &moto, &table, &[]).await;
        let postback = Function::start("postback", &moto, &table, &[]).await;
        let seeded = seed(&api).await;
        Streamed {
            moto,
            table,
            api,
            click_fn,
            postback,
            seeded,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_function_publishes_the_streamed_outbox_and_reports_what_failed() {
    let Streamed {
        moto,
        table,
        api: _api,
        click_fn,
        postback,
        seeded,
    } = Streamed::start().await;
    let click_event = lambda_harness::events::http(
        "GET",
        "/c/{offer_id}",
        &format!("/c/{}", seeded.offer),
        "msg=m1&cr=c1",
        lambda_harness::events::Body::None,
    );
    let (redirect, _) = click_fn.http(click_event).await;
    let click = click_id_of(redirect.header("location").unwrap());
    for status in ["pending", "approved"] {
        let form = format!(
            "token={}&aff_click_id={click}&transaction_id=T-9&payout=15.00&currency=USD&status={status}",
            seeded.token
        );
        let (answer, _) = postback
            .http(postback_event(&seeded.integration, &form))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    // What Lambda's poller would pass on: the stream's records, kept by the template's filter.
    let filter = stream_filter();
    let all = stream::records(&moto, &table).await;
    let kept: Vec<Value> = all
        .iter()
        .filter(|r| stream::matches(&filter, r))
        .cloned()
        .collect();
    assert!(all.len() > kept.len(), "the filter keeps only the outbox");
    let types: Vec<String> = kept
        .iter()
        .map(|r| {
            r["dynamodb"]["NewImage"]["d"]["M"]["type"]["S"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        types,
        ["conversion.recorded", "conversion.status_changed"],
        "{kept:?}"
    );
    let changed_id = kept[1]["dynamodb"]["NewImage"]["sk"]["S"]
        .as_str()
        .unwrap()
        .to_string();

    let bus = Arc::new(StandInBus {
        refused: [changed_id].into(),
        ..StandInBus::default()
    });
    let url = bus.serve().await;
    let env = [("AWS_ENDPOINT_URL_EVENTBRIDGE", Some(url.as_str()))];
    let events = Function::start("events", &moto, &table, &env).await;
    let (outcome, _) = events.invoke(json!({ "Records": kept })).await;
    let Some(Outcome::Response(answer)) = outcome else {
        panic!("{outcome:?}\n{}", events.output())
    };
    let sequence = kept[1]["dynamodb"]["SequenceNumber"].clone();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": sequence}]}),
        "{}",
        events.output()
    );
    let entries = bus.entries.lock().unwrap().clone();
    assert!(entries.len() >= 2, "{entries:?}");
    for entry in &entries {
        assert_eq!(entry["Source"], "affnet");
        assert_eq!(entry["EventBusName"], EVENT_BUS);
        let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(entry["DetailType"], detail["type"]);
        assert_eq!(detail["data"]["offer_id"], json!(seeded.offer));
        assert_eq!(detail["data"]["message_id"], "m1");
        assert!(
            !entry.to_string().contains(&seeded.token),
            "no postback token in events"
        );
    }
    assert!(
        events.dynamodb.asked().is_empty(),
        "{:?}",
        events.dynamodb.asked()
    );
}

/// Clicks and a postback write no shared counter item, only ledger entries (the stream shows
/// every write); the events function folds the entries the ledger mapping keeps, with only
/// what the template grants it, and the counters are in the table for a report to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_function_folds_the_streamed_counter_ledger() {
    let Streamed {
        moto,
        table,
        api,
        click_fn,
        postback,
        seeded,
    } = Streamed::start().await;
    let mut clicks = vec![];
    for _ in 0..2 {
        let click_event = lambda_harness::events::http(
            "GET",
            "/c/{offer_id}",
            &format!("/c/{}", seeded.offer),
            "msg=m1",
            lambda_harness::events::Body::None,
        );
        let (redirect, _) = click_fn.http(click_event).await;
        clicks.push(click_id_of(redirect.header("location").unwrap()));
    }
    let form = format!(
        "token={}&aff_click_id={}&transaction_id=T-7&payout=15.00&currency=USD&status=approved",
        seeded.token, clicks[0]
    );
    let (answer, _) = postback
        .http(postback_event(&seeded.integration, &form))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let pk = |r: &Value| {
        r["dynamodb"]["Keys"]["pk"]["S"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let all = stream::records(&moto, &table).await;
    let written: Vec<String> = all.iter().map(pk).collect();
    assert!(
        !written
            .iter()
            .any(|pk| pk.starts_with("TOT#") || pk.contains("#ACCEPTED#")),
        "no shared counter in a click's or postback's transaction: {written:?}"
    );
    let filter = ledger_filter();
    let kept: Vec<Value> = all
        .iter()
        .filter(|r| stream::matches(&filter, r))
        .cloned()
        .collect();
    assert!(
        kept.len() >= 3 && kept.iter().all(|r| pk(r).starts_with("LEDGER#")),
        "two clicks' and a conversion's entries: {kept:?}"
    );

    let events = Function::start("events", &moto, &table, &[]).await;
    let (outcome, _) = events.invoke(json!({ "Records": kept })).await;
    let Some(Outcome::Response(answer)) = outcome else {
        panic!("{outcome:?}\n{}", events.output())
    };
    assert_eq!(
        answer,
        json!({ "batchItemFailures": [] }),
        "{}",
        events.output()
    );
    assert!(
        events.dynamodb.denied().is_empty(),
        "{:?}",
        events.dynamodb.denied()
    );
    assert!(
        events.dynamodb.asked().contains("dynamodb:Query"),
        "{:?}",
        events.dynamodb.asked()
    );
    let after = stream::records(&moto, &table).await;
    let folded: Vec<String> = after[all.len()..].iter().map(pk).collect();
    assert!(
        folded.iter().any(|pk| pk.starts_with("TOT#day#"))
            && folded.iter().any(|pk| pk.contains("#ACCEPTED#")),
        "the fold wrote the counters: {folded:?}"
    );
    let removed = after[all.len()..]
        .iter()
        .filter(|r| r["eventName"] == "REMOVE" && pk(r).starts_with("LEDGER#"))
        .count();
    assert_eq!(removed, kept.len(), "every folded entry deleted");

    let report = lambda_harness::events::http(
        "GET",
        "/reports",
        "/reports",
        "group_by=offer",
        lambda_harness::events::Body::None,
    );
    let (answer, _) = api.http(report).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    let row = &body["rows"][0];
    assert_eq!(row["clicks"], json!(2), "{body}");
    assert_eq!(row["conversions"], json!(1), "{body}");
}

/// Without its bus the events function cannot start, and says so to the Runtime API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_function_needs_its_bus() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let unset = [("AFFNET_EVENT_BUS_NAME", None)];
    let mut events = Function::start("events", &moto, "affnet-unused", &unset).await;
    let failure = events
        .init_failure(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no init error reported\n{}", events.output()));
    assert_eq!(failure.error_type, "ConfigError", "{failure:?}");
    assert!(
        failure.message.contains("AFFNET_EVENT_BUS_NAME"),
        "{failure:?}"
    );
    assert!(events.exit_status(Duration::from_secs(10)).await.is_some());
}

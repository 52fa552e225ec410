//! The EventBridge publisher and the stream handler of the events function:
//! - against moto's EventBridge (a bus, a rule and an SQS target: what the rule delivered is
//!   read back from the queue);
//! - against a stand-in that speaks PutEvents' JSON protocol and fails the first attempt of
//!   some entries (partial failures: `FailedEntryCount`, per-entry `ErrorCode`) and every
//!   attempt of one, to see the retries and what is reported;
//! - the stream handler on a batch made of the store's own outbox items, as the table's stream
//!   shows them, with the records it could not send reported as batch item failures.

mod pb_support;
mod support;

use affnet_app::events::publish::{ATTEMPTS, MAX_ENTRIES, Publisher};
use affnet_app::events::stand_in::StandInBus;
use affnet_app::events::stream::{Targets, handle};
use affnet_app::events::webhooks::Webhooks;
use affnet_app::events::{EventsConfig, WebhookSecret};
use affnet_core::{Event, EventType};
use affnet_store::dynamo::stream::stream_image;
use affnet_store::events::event_write;
use affnet_store::{SqliteStore, Write};
use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .http_client(affnet_netguard::aws_http::aws_http_client())
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "affnet-test"))
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let data = json!({"integration_id": "I1", "offer_id": null, "message_id": null,
                "creative_id": null, "conversion_id": format!("cv_{i}"), "payout": "1.50"});
            Event::new(
                affnet_core::ids::new_id(),
                EventType::ConversionRecorded,
                chrono::Utc::now(),
                data,
            )
        })
        .collect()
}

/// moto's SQS, through its JSON protocol (no SQS client in the workspace).
async fn sqs(moto: &str, action: &str, body: Value) -> Value {
    let reply = affnet_netguard::tls::client_builder().build().unwrap()
        .post(moto)
        .header("x-amz-target", format!("AmazonSQS.{action}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        reply.status().is_success(),
        "SQS {action}: {}",
        reply.status()
    );
    reply.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_rule_target_on_motos_eventbridge() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let eventbridge = client(&moto);
    let name = format!(
        "affnet-test-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    eventbridge
        .create_event_bus()
        .name(&name)
        .send()
        .await
        .unwrap();
    let queue = sqs(&moto, "CreateQueue", json!({"QueueName": name})).await;
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let attributes = sqs(
        &moto,
        "GetQueueAttributes",
        json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
    )
    .await;
    let queue_arn = attributes["Attributes"]["QueueArn"].as_str().unwrap();
    eventbridge
        .put_rule()
        .name("all-affnet")
        .event_bus_name(&name)
        .event_pattern(json!({"source": ["affnet"]}).to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(queue_arn)
        .build()
        .unwrap();
    eventbridge
        .put_targets()
        .rule("all-affnet")
        .event_bus_name(&name)
        .targets(target)
        .send()
        .await
        .unwrap();

    let sent = events(23);
    let publisher = Publisher::new(eventbridge, &name);
    assert_eq!(publisher.publish(&sent).await, vec![]);

    let mut got: BTreeMap<String, Value> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < sent.len() && Instant::now() < deadline {
        let messages = sqs(
            &moto,
            "ReceiveMessage",
            json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
        )
        .await;
        for message in messages["Messages"].as_array().cloned().unwrap_or_default() {
            let body: Value = serde_json::from_str(message["Body"].as_str().unwrap()).unwrap();
            got.insert(body["detail"]["id"].as_str().unwrap().to_string(), body);
        }
    }
    assert_eq!(got.len(), sent.len(), "delivered: {:?}", got.keys());
    for event in &sent {
        let message = &got[&event.id];
        assert_eq!(message["source"], "affnet");
        assert_eq!(message["detail-type"], "conversion.recorded");
        let detail: Event = serde_json::from_value(message["detail"].clone()).unwrap();
        assert_eq!(&detail, event, "the whole event is the detail");
    }
}

#[tokio::test]
async fn partial_failures_are_sent_again_and_what_never_goes_is_reported() {
    let sent = events(25);
    let bus = Arc::new(StandInBus {
        flaky: sent.iter().step_by(3).map(|e| e.id.clone()).collect(),
        refused: BTreeSet::from([sent[7].id.clone()]),
        ..StandInBus::default()
    });
    let publisher = Publisher::new(client(&bus.serve().await), "affnet-test");
    let unpublished = publisher.publish(&sent).await;
    assert_eq!(unpublished.len(), 1, "{unpublished:?}");
    assert_eq!(unpublished[0].index, 7);
    assert!(
        unpublished[0].reason.contains("ThrottlingException"),
        "{unpublished:?}"
    );

    let accepted = bus.accepted.lock().unwrap().clone();
    let expected: BTreeSet<String> = sent
        .iter()
        .filter(|e| e.id != sent[7].id)
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(accepted.len(), expected.len(), "each accepted once");
    assert_eq!(accepted.into_iter().collect::<BTreeSet<_>>(), expected);
    let attempts = bus.attempts.lock().unwrap().clone();
    assert_eq!(attempts[&sent[7].id], ATTEMPTS);
    assert_eq!(attempts[&sent[3].id], 2, "failed once, sent again");
    assert_eq!(attempts[&sent[4].id], 1);
    let requests = bus.requests.lock().unwrap().clone();
    assert!(
        requests.iter().all(|(n, _)| (1..=MAX_ENTRIES).contains(n)),
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|(_, t)| t == "AWSEvents.PutEvents"),
        "{requests:?}"
    );
    // Batches of 10, 10 and 5 (sent at once); each batch's failed entries sent again in one
    // request: the first batch's 5 (4 flaky, 1 poison), then the poison one alone.
    let mut sizes: Vec<usize> = requests.iter().map(|(n, _)| *n).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2, 3, 5, 5, 10, 10]);
}

/// A stream batch made of the store's outbox items: published and delivered; the record of the
/// event the bus refuses, and an unreadable one, come back as batch item failures.
#[tokio::test]
async fn a_stream_batch_reports_the_records_it_could_not_send() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let pb = pb_support::Pb::new(store);
    let i = pb.integration("monadlead", json!({})).await;
    for n in 0..4 {
        let r = pb
            .altercpa(&i, &format!("eid=S-{n}&status=new&pay=2&cc=USD"))
            .await;
        assert_eq!(r.json["outcome"], "created", "{}", r.text);
    }
    let feed = support::events(&pb.router, None).await;
    let outbox: Vec<Event> = feed
        .iter()
        .map(|e| serde_json::from_value(e.clone()).unwrap())
        .collect();
    assert_eq!(outbox.len(), 4);
    let image = |event: &Event| {
        let Write::Put { item, .. } = event_write(event).unwrap() else {
            unreachable!()
        };
        stream_image(&item).unwrap()
    };
    let record = |name: &str, sequence: &str, image: Value| {
        json!({"eventID": sequence, "eventName": name, "eventSource": "aws:dynamodb",
               "dynamodb": {"SequenceNumber": sequence, "NewImage": image, "StreamViewType": "NEW_IMAGE"}})
    };
    let mut records: Vec<Value> = outbox
        .iter()
        .enumerate()
        .map(|(n, e)| record("INSERT", &format!("10{n}"), image(e)))
        .collect();
    records.push(record(
        "INSERT",
        "200",
        json!({"pk": {"S": "EVENT#3"}, "sk": {"S": "01X"}}),
    ));
    records.push(record(
        "INSERT",
        "201",
        json!({"pk": {"S": "CONV#cv_1"}, "sk": {"S": "META"}}),
    ));
    records.push(record("REMOVE", "202", image(&outbox[0])));

    let bus = Arc::new(StandInBus {
        refused: BTreeSet::from([outbox[2].id.clone()]),
        ..StandInBus::default()
    });
    let publisher = Publisher::new(client(&bus.serve().await), "affnet-test");
    let receiver = affnet_app::events::receiver::Receiver::start(0).await;
    let config = EventsConfig {
        webhook_urls: vec![receiver.url.clone()],
        webhook_secret: Some(WebhookSecret::new("whsec-test-0123456789abcdef", "test").unwrap()),
        ..EventsConfig::for_tests()
    };
    let webhooks = Webhooks::new(&config, None, true).unwrap().unwrap();
    let targets = Targets {
        bus: Some(&publisher),
        webhooks: Some(&webhooks),
        ledger: None,
    };
    let answer = handle(&json!({ "Records": records }), &targets, None)
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "200"}, {"itemIdentifier": "102"}]})
    );
    let accepted: BTreeSet<String> = bus.accepted.lock().unwrap().iter().cloned().collect();
    let expected: BTreeSet<String> = [0, 1, 3].iter().map(|&n| outbox[n].id.clone()).collect();
    assert_eq!(accepted, expected);
    let delivered: BTreeSet<String> = receiver
        .accepted()
        .iter()
        .map(|d| d.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(delivered, outbox.iter().map(|e| e.id.clone()).collect());

    // Webhook deliveries still running at the invocation's deadline fail their records.
    let late = json!({ "Records": &records[..2] });
    let now = Some(tokio::time::Instant::now());
    let answer = handle(&late, &targets, now).await.unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "100"}, {"itemIdentifier": "101"}]})
    );

    let unreadable = json!({"Records": [{"eventName": "INSERT"}]});
    assert!(handle(&unreadable, &targets, None).await.is_err());
    let empty = handle(&json!({"Records": []}), &targets, None)
        .await
        .unwrap();
    assert_eq!(empty, json!({"batchItemFailures": []}));
}

/// Ledger entries' records (the second mapping) are folded, each partition once: the counters
/// appear in the table, the entries are gone, and a batch without a ledger to fold with reports
/// its records as failures (sent again) instead of dropping them.
#[tokio::test]
async fn the_stream_handler_folds_the_ledger_partitions_it_is_told_of() {
    use affnet_store::ledger::{CounterLedger, PARTITIONS, ledger_pk};
    use affnet_store::{ItemStore, Key, Query};
    use rust_decimal::Decimal;
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let ledger = CounterLedger::around(store.clone());
    for shard in [3u32, 67, 9] {
        let add = Write::Add {
            key: Key::new(format!("TOT#day#{shard}"), "2026-12-01"),
            deltas: vec![("clicks".into(), Decimal::ONE)],
            expires_at: None,
        };
        ledger.write(vec![add]).await.unwrap();
    }
    let mut records = vec![];
    for p in 0..PARTITIONS {
        let page = store.query(&Query::partition(ledger_pk(p))).await.unwrap();
        for item in page.items {
            records.push(json!({
                "eventName": "INSERT",
                "dynamodb": {
                    "NewImage": stream_image(&item).unwrap(),
                    "SequenceNumber": format!("{}", 100 + records.len()),
                },
            }));
        }
    }
    assert_eq!(records.len(), 3, "one entry per batch");
    let payload = json!({ "Records": records });
    let unfolded = Targets {
        bus: None,
        webhooks: None,
        ledger: None,
    };
    let answer = handle(&payload, &unfolded, None).await.unwrap();
    assert_eq!(
        answer["batchItemFailures"].as_array().map(Vec::len),
        Some(3),
        "{answer}"
    );
    let targets = Targets {
        bus: None,
        webhooks: None,
        ledger: Some(&ledger),
    };
    let answer = handle(&payload, &targets, None).await.unwrap();
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    for shard in [3u32, 67, 9] {
        let item = store
            .get(&Key::new(format!("TOT#day#{shard}"), "2026-12-01"))
            .await
            .unwrap()
            .expect("folded");
        assert_eq!(item.counters["clicks"], Decimal::ONE, "shard {shard}");
    }
    for p in [3, 9] {
        let left = store.query(&Query::partition(ledger_pk(p))).await.unwrap();
        assert!(left.items.is_empty(), "partition {p}: {:?}", left.items);
    }
    // Sent again (at-least-once): nothing counted twice.
    let again = handle(&payload, &targets, None).await.unwrap();
    assert_eq!(again, json!({ "batchItemFailures": [] }));
    let item = store
        .get(&Key::new("TOT#day#67", "2026-12-01"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.counters["clicks"], Decimal::ONE);
}

//! A batch of the table's stream (`{"Records": [...]}`, the event source mapping keeps only
//! inserted outbox items): each record's event is published to the bus and delivered to every
//! webhook. A record whose event could not be read, published or delivered is reported back
//! (`{"batchItemFailures": [{"itemIdentifier": <its SequenceNumber>}]}`, with
//! ReportBatchItemFailures), so Lambda sends it again (and, past MaximumRetryAttempts, records
//! the batch in the dead-letter queue). Sent again means sent twice to what had succeeded:
//! consumers dedupe on the event id.
//!
//! Inserted counter-ledger entries (a second event source mapping) are folded instead: each
//! partition named in the batch once, all at once ([`affnet_store::ledger`]). A record is only
//! the trigger: the fold reads the partition from the table, so a record sent again folds
//! nothing twice, and a record lost leaves its entry for the partition's next fold (or the next
//! read of the counters).

use super::publish::Publisher;
use super::webhooks::Webhooks;
use affnet_core::Event;
use affnet_store::ledger::CounterLedger;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio::time::Instant;

/// Webhook deliveries in flight at once within a batch.
const DELIVERIES_AT_ONCE: usize = 8;

#[derive(Debug, Deserialize)]
struct Batch {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: Option<String>,
    dynamodb: Change,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(rename = "NewImage", default)]
    new_image: Option<Value>,
    #[serde(rename = "SequenceNumber")]
    sequence_number: String,
}

/// Where a batch's events go.
pub struct Targets<'a> {
    pub bus: Option<&'a Publisher>,
    pub webhooks: Option<&'a Webhooks>,
    /// Where ledger entries are folded (the table's shared counters).
    pub ledger: Option<&'a CounterLedger>,
}

/// Handles one stream batch; the answer Lambda reads (its failed records). Webhook deliveries
/// still running at `deadline` count as failed (the invocation must answer before its timeout).
pub async fn handle(
    payload: &Value,
    targets: &Targets<'_>,
    deadline: Option<Instant>,
) -> Result<Value, String> {
    let batch: Batch = serde_json::from_value(payload.clone())
        .map_err(|e| format!("not a DynamoDB stream batch: {e}"))?;
    let mut failed: Vec<&str> = Vec::new();
    let mut events: Vec<(Event, &str)> = Vec::new();
    let mut partitions: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for record in &batch.records {
        let sequence = record.dynamodb.sequence_number.as_str();
        if let Some(p) = ledger_partition(record) {
            partitions.entry(p).or_default().push(sequence);
            continue;
        }
        match read(record) {
            Ok(Some(event)) => events.push((event, sequence)),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(sequence, error = %e, "stream record is not a readable event");
                failed.push(sequence);
            }
        }
    }
    let mut sent_ok = vec![true; events.len()];
    if let Some(bus) = targets.bus {
        let list: Vec<Event> = events.iter().map(|(e, _)| e.clone()).collect();
        for unpublished in bus.publish(&list).await {
            let (event, _) = &events[unpublished.index];
            tracing::error!(event = %event.id, reason = %unpublished.reason, "event not published");
            sent_ok[unpublished.index] = false;
        }
    }
    if let Some(webhooks) = targets.webhooks {
        for index in undelivered(webhooks, &events, deadline).await {
            sent_ok[index] = false;
        }
    }
    failed.extend(unfolded(targets.ledger, partitions).await);
    failed.extend(
        events
            .iter()
            .zip(&sent_ok)
            .filter(|(_, ok)| !**ok)
            .map(|((_, sequence), _)| *sequence),
    );
    let failures: Vec<Value> = failed
        .iter()
        .map(|s| json!({ "itemIdentifier": s }))
        .collect();
    Ok(json!({ "batchItemFailures": failures }))
}

/// The ledger partition of an inserted entry's record.
fn ledger_partition(record: &Record) -> Option<u32> {
    if record.event_name.as_deref() != Some("INSERT") {
        return None;
    }
    affnet_store::dynamo::stream::ledger_partition(record.dynamodb.new_image.as_ref()?)
}

/// Folds each partition; the records of those that failed (all of them without a ledger).
async fn unfolded<'a>(
    ledger: Option<&CounterLedger>,
    partitions: BTreeMap<u32, Vec<&'a str>>,
) -> Vec<&'a str> {
    let Some(ledger) = ledger else {
        if !partitions.is_empty() {
            tracing::error!("ledger entries in the batch but no table to fold them in");
        }
        return partitions.into_values().flatten().collect();
    };
    let folds = partitions.into_iter().map(|(partition, records)| async move {
        match ledger.fold(partition).await {
            Ok(folded) => {
                tracing::debug!(partition, entries = folded.entries, batches = folded.batches, "ledger folded");
                Vec::new()
            }
            Err(error) => {
                tracing::error!(partition, error = %error, "ledger fold failed; its records are sent again");
                records
            }
        }
    });
    futures::future::join_all(folds)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The outbox event of an inserted record (`None`: not an insert of an outbox item).
fn read(record: &Record) -> Result<Option<Event>, String> {
    if record.event_name.as_deref().is_some_and(|n| n != "INSERT") {
        return Ok(None);
    }
    let image = record
        .dynamodb
        .new_image
        .as_ref()
        .ok_or("the record has no NewImage (the stream must show new images)")?;
    affnet_store::dynamo::stream::outbox_event(image).map_err(|e| e.to_string())
}

/// The indexes of the events some webhook did not take (by `deadline`).
async fn undelivered(
    webhooks: &Webhooks,
    events: &[(Event, &str)],
    deadline: Option<Instant>,
) -> Vec<usize> {
    let jobs = events.iter().enumerate().flat_map(|(index, (event, _))| {
        webhooks.urls().iter().map(move |url| async move {
            let result = webhooks.deliver(url, event).await;
            (index, result)
        })
    });
    let mut results =
        std::pin::pin!(futures::stream::iter(jobs).buffer_unordered(DELIVERIES_AT_ONCE));
    // Deliveries each event still lacks.
    let mut lacking = vec![webhooks.urls().len(); events.len()];
    let collect = async {
        while let Some((index, result)) = results.next().await {
            match result {
                Ok(()) => lacking[index] -= 1,
                Err(error) => {
                    tracing::error!(event = %events[index].0.id, error = %error, "webhook delivery failed; the record is sent again");
                }
            }
        }
    };
    match deadline {
        Some(deadline) => {
            if tokio::time::timeout_at(deadline, collect).await.is_err() {
                tracing::error!(
                    "webhook deliveries still running at the invocation's deadline; their records are sent again"
                );
            }
        }
        None => collect.await,
    }
    (0..events.len()).filter(|&i| lacking[i] > 0).collect()
}

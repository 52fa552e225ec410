//! Publishing events to the EventBridge bus: `PutEvents` in batches of up to 10 entries
//! (Source `affnet`, DetailType the event type, Detail the whole event JSON), each entry that
//! came back with an `ErrorCode` (a partial failure: `FailedEntryCount` > 0) sent again, with
//! backoff, up to [`ATTEMPTS`] times. What still failed is returned, so the stream handler can
//! report those records as batch item failures.

use affnet_core::Event;
use affnet_core::event::BUS_SOURCE;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::time::Duration;

/// Most entries one `PutEvents` takes.
pub const MAX_ENTRIES: usize = 10;
/// Times an entry is sent before it counts as not published (the SDK also retries a request
/// that failed as a whole, under its own policy).
pub const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// An event that could not be published, by its index in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublished {
    pub index: usize,
    pub reason: String,
}

/// The bus of a deployment and the client that reaches it.
#[derive(Clone)]
pub struct Publisher {
    client: Client,
    bus: String,
}

impl Publisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Publisher {
        Publisher {
            client,
            bus: bus.into(),
        }
    }

    fn entry(&self, event: &Event) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(BUS_SOURCE)
            .detail_type(&event.event_type)
            .detail(serde_json::to_string(event).expect("events serialize"))
            .time(DateTime::from_millis(event.time.timestamp_millis()))
            .build()
    }

    /// Publishes `events` (the batches at once); those that could not be published, with the
    /// last reason.
    pub async fn publish(&self, events: &[Event]) -> Vec<Unpublished> {
        let indexes: Vec<usize> = (0..events.len()).collect();
        let batches = indexes
            .chunks(MAX_ENTRIES)
            .map(|batch| self.publish_batch(events, batch));
        let mut unpublished: Vec<Unpublished> = futures::future::join_all(batches)
            .await
            .into_iter()
            .flatten()
            .collect();
        unpublished.sort_by_key(|u| u.index);
        unpublished
    }

    /// One batch of at most [`MAX_ENTRIES`], its failed entries sent again.
    async fn publish_batch(&self, events: &[Event], batch: &[usize]) -> Vec<Unpublished> {
        let mut pending: Vec<Unpublished> = batch
            .iter()
            .map(|&index| Unpublished {
                index,
                reason: String::new(),
            })
            .collect();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 2)).await;
            }
            let entries = pending.iter().map(|p| self.entry(&events[p.index]));
            let sent = self
                .client
                .put_events()
                .set_entries(Some(entries.collect()))
                .send()
                .await;
            pending = match sent {
                Err(e) => {
                    let reason = format!("PutEvents: {}", DisplayErrorContext(&e));
                    fail_all(pending, &reason)
                }
                Ok(out) if out.entries().len() != pending.len() => {
                    let reason = format!(
                        "PutEvents answered {} entries for {}",
                        out.entries().len(),
                        pending.len()
                    );
                    fail_all(pending, &reason)
                }
                Ok(out) => pending
                    .into_iter()
                    .zip(out.entries())
                    .filter_map(|(p, result)| {
                        let code = result.error_code()?;
                        let message = result.error_message().unwrap_or_default();
                        Some(Unpublished {
                            index: p.index,
                            reason: format!("{code}: {message}"),
                        })
                    })
                    .collect(),
            };
            if pending.is_empty() {
                break;
            }
            tracing::warn!(attempt, failed = pending.len(), reason = %pending[0].reason, "PutEvents: entries failed");
        }
        pending
    }
}

fn fail_all(pending: Vec<Unpublished>, reason: &str) -> Vec<Unpublished> {
    pending
        .into_iter()
        .map(|p| Unpublished {
            index: p.index,
            reason: reason.to_string(),
        })
        .collect()
}

//! Domain events out of the outbox ([`affnet_store::events`]): the feed (`GET /events`), the
//! webhook deliveries (signed, retried; locally a task per URL drains the feed, on AWS the
//! events function delivers from the stream) and the EventBridge publisher of the events
//! function. Delivery is at least once everywhere: consumers dedupe on the event id.

pub mod config;
pub mod drain;
pub mod feed;
pub mod lambda;
pub mod publish;
#[cfg(feature = "testing")]
pub mod receiver;
#[cfg(feature = "testing")]
pub mod stand_in;
pub mod stream;
pub mod webhooks;

pub use config::{EventsConfig, WebhookRetry, WebhookSecret};

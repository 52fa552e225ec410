//! Webhook deliveries of the local server: each event POSTed to a local receiver, signed
//! (verified here with the documented scheme), retried after a failed attempt, and resumed
//! after a restart from the cursor kept in the store; the SSRF guard refuses private hosts.

mod pb_support;
mod support;

use affnet_app::Config;
use affnet_app::events::receiver::Receiver;
use affnet_app::events::webhooks::{DeliveryError, EVENT_ID_HEADER, EVENT_TYPE_HEADER, Webhooks};
use affnet_app::events::{EventsConfig, WebhookSecret, drain};
use affnet_core::Event;
use affnet_core::event::signature;
use affnet_store::{ItemStore, SqliteStore};
use pb_support::Pb;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "whsec-test-0123456789abcdef";

fn config(url: url::Url) -> Config {
    Config {
        events: EventsConfig {
            webhook_urls: vec![url],
            webhook_secret: Some(WebhookSecret::new(SECRET, "test").unwrap()),
            ..EventsConfig::for_tests()
        },
        ..pb_support::config()
    }
}

fn event() -> Event {
    Event::new(
        affnet_core::ids::new_id(),
        affnet_core::EventType::ConversionRecorded,
        chrono::Utc::now(),
        json!({"integration_id": "I1"}),
    )
}

/// Waits (at most 20 s) until the webhook's cursor is stored: deliveries have started.
async fn started(pb: &Pb, url: &url::Url) {
    let consumer = drain::consumer_of(url);
    let deadline = Instant::now() + Duration::from_secs(20);
    while pb
        .state
        .repo
        .event_cursor(&consumer)
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "deliveries never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_resume_after_a_restart() {
    let receiver = Receiver::start(1).await;
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let pb = Pb::with_config(store, config(receiver.url.clone()));
    let i = pb.integration("monadlead", json!({})).await;
    let deliveries = drain::start(&pb.state).unwrap().expect("a webhook is set");
    started(&pb, &receiver.url).await;

    for n in 1..=2 {
        let r = pb
            .altercpa(&i, &format!("eid=W-{n}&status=new&pay=5&cc=USD"))
            .await;
        assert_eq!(r.json["outcome"], "created", "{}", r.text);
    }
    let accepted = receiver.wait_for(2).await;
    assert_eq!(accepted.len(), 2, "{:?}", receiver.received());
    let all = receiver.received();
    // The first attempt got a 500 and was tried again with the same event.
    assert_eq!(all[0].status, 500);
    assert_eq!(
        all[0].header(EVENT_ID_HEADER),
        all[1].header(EVENT_ID_HEADER)
    );
    let now = chrono::Utc::now().timestamp();
    for delivery in &accepted {
        let header = delivery.header(signature::HEADER);
        assert_eq!(
            signature::verify(SECRET.as_bytes(), header, &delivery.body, now, 300),
            Ok(()),
            "{header}"
        );
        assert_eq!(
            signature::verify(b"another-secret-0123456", header, &delivery.body, now, 300),
            Err(signature::SignatureError::Mismatch)
        );
        let event: Event = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(delivery.header(EVENT_ID_HEADER), event.id);
        assert_eq!(delivery.header(EVENT_TYPE_HEADER), "conversion.recorded");
        assert_eq!(delivery.header("content-type"), "application/json");
        assert_eq!(event.data["integration_id"], i.id.as_str());
    }
    let transactions: Vec<_> = accepted
        .iter()
        .map(|d| d.json()["data"]["transaction_id"].clone())
        .collect();
    assert_eq!(transactions, [json!("W-1"), json!("W-2")], "in order");

    // Stopped; an event happens meanwhile; started again: only the new one is delivered.
    drop(deliveries);
    let r = pb.altercpa(&i, "eid=W-3&status=new&pay=5&cc=USD").await;
    assert_eq!(r.json["outcome"], "created");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        receiver.accepted().len(),
        2,
        "nothing delivered while stopped"
    );
    let _deliveries = drain::start(&pb.state).unwrap().unwrap();
    let accepted = receiver.wait_for(3).await;
    assert_eq!(accepted.len(), 3);
    assert_eq!(accepted[2].json()["data"]["transaction_id"], "W-3");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.accepted().len(), 3, "nothing delivered twice");
}

/// A delivery that keeps failing is tried `attempts` times with backoff, then given up.
#[tokio::test]
async fn a_failing_receiver_is_tried_again_then_given_up() {
    let receiver = Receiver::start(100).await;
    let config = config(receiver.url.clone());
    let webhooks = Webhooks::new(&config.events, None, true).unwrap().unwrap();
    let event = event();
    let started = Instant::now();
    let result = webhooks.deliver(&receiver.url, &event).await;
    assert_eq!(result, Err(DeliveryError::Status(500)));
    let attempts = config.events.webhook_retry.attempts as usize;
    assert_eq!(receiver.received().len(), attempts);
    let waits: Duration = (1..attempts as u32)
        .map(|n| config.events.webhook_retry.backoff(n))
        .sum();
    assert!(
        started.elapsed() >= waits,
        "{:?} < {waits:?}",
        started.elapsed()
    );
}

/// On a host where private networks are not allowed, a webhook whose name resolves to a
/// loopback address is refused before any connection (the SSRF guard of the TUNE client).
#[tokio::test]
async fn a_private_webhook_host_is_refused_by_the_guard() {
    let receiver = Receiver::start(0).await;
    let port = receiver.url.port().unwrap();
    let url: url::Url = format!("https://localhost:{port}/hooks/affnet")
        .parse()
        .unwrap();
    let strict = Config {
        allow_private_network: false,
        ..config(url.clone())
    };
    let webhooks = Webhooks::new(&strict.events, None, false).unwrap().unwrap();
    let event = event();
    match webhooks.deliver(&url, &event).await {
        Err(DeliveryError::Refused(why)) => assert!(why.contains("non-public"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(receiver.received().is_empty());
}

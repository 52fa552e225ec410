//! Local webhook deliveries: one tokio task per URL reads the feed after its cursor, delivers
//! each event in order (retried with backoff), and stores its cursor after each delivery, so a
//! restart resumes where it stopped (an event whose delivery was cut off is sent again: at least
//! once). A graceful stop ([`Deliveries::stop`]) lets each task finish the delivery in hand and
//! store its cursor first, so a restart sends nothing twice. A URL seen for the first time starts
//! with the events from then on. An event whose every attempt failed is logged as given up, and
//! the URL moves on.

use super::feed::settled_bound;
use super::webhooks::Webhooks;
use crate::state::AppState;
use affnet_store::RepoError;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use url::Url;

/// Events read from the feed at a time.
const PAGE: usize = 100;

/// The cursor's name of a URL: a digest, since the URL may carry a token.
pub fn consumer_of(url: &Url) -> String {
    let digest = Sha256::digest(url.as_str().as_bytes());
    format!("webhook:{}", &hex::encode(digest)[..32])
}

/// The running deliveries; dropping this stops them at once (see [`Deliveries::stop`]).
pub struct Deliveries {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stopping: watch::Sender<bool>,
}

impl Deliveries {
    /// Asks every task to stop after the delivery in hand and its cursor, and waits for them
    /// up to `patience` (then drops them where they are: the event is sent again on restart).
    pub async fn stop(mut self, patience: Duration) {
        let _ = self.stopping.send(true);
        let tasks = std::mem::take(&mut self.tasks);
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(patience, all).await.is_err() {
            tracing::warn!(
                "webhook deliveries did not stop in time; the events in flight will be sent again"
            );
        }
    }
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts a delivery task per configured webhook URL; `None` when there are none.
pub fn start(state: &AppState) -> Result<Option<Deliveries>, String> {
    let config = &state.config;
    let Some(webhooks) = Webhooks::new(&config.events, None, config.allow_private_network)? else {
        return Ok(None);
    };
    let webhooks = Arc::new(webhooks);
    let (stopping, stop) = watch::channel(false);
    let tasks = (0..webhooks.urls().len())
        .map(|i| {
            let task = deliver_forever(state.clone(), webhooks.clone(), i, stop.clone());
            tokio::spawn(task)
        })
        .collect();
    Ok(Some(Deliveries { tasks, stopping }))
}

/// Where a URL's deliveries stand: the last event handled, and the cursor item's version.
struct Position {
    after: String,
    version: u64,
}

async fn deliver_forever(
    state: AppState,
    webhooks: Arc<Webhooks>,
    index: usize,
    mut stop: watch::Receiver<bool>,
) {
    let url = webhooks.urls()[index].clone();
    let consumer = consumer_of(&url);
    let poll = state.config.events.poll_interval;
    let mut position = None;
    // Each wait ends early when a stop is asked for.
    let pause = async |stop: &mut watch::Receiver<bool>| {
        let _ = tokio::time::timeout(poll, stop.wait_for(|s| *s)).await;
    };
    while !*stop.borrow() {
        if position.is_none() {
            match load(&state, &consumer).await {
                Ok(loaded) => position = Some(loaded),
                Err(e) => {
                    tracing::warn!(consumer = %consumer, error = %e, "webhook deliveries: the store failed; trying again");
                    pause(&mut stop).await;
                    continue;
                }
            }
        }
        let at = position.as_mut().expect("loaded above");
        match deliver_page(&state, &webhooks, &url, &consumer, at, &stop).await {
            Ok(0) => pause(&mut stop).await,
            Ok(_) => {}
            // Another process moved the cursor: read it again.
            Err(RepoError::Conflict) => position = None,
            Err(e) => {
                tracing::warn!(consumer = %consumer, error = %e, "webhook deliveries: the store failed; trying again");
                pause(&mut stop).await;
            }
        }
    }
}

/// The stored position, or (first run) the current end of the feed, stored.
async fn load(state: &AppState, consumer: &str) -> Result<Position, RepoError> {
    if let Some((after, version)) = state.repo.event_cursor(consumer).await? {
        return Ok(Position { after, version });
    }
    let after = settled_bound(state);
    let version = state.repo.save_event_cursor(consumer, &after, 0).await?;
    Ok(Position { after, version })
}

/// Delivers the next page of events (up to a stop); how many it handled.
async fn deliver_page(
    state: &AppState,
    webhooks: &Webhooks,
    url: &Url,
    consumer: &str,
    at: &mut Position,
    stop: &watch::Receiver<bool>,
) -> Result<usize, RepoError> {
    let bound = settled_bound(state);
    let page = state
        .repo
        .events_after(Some(&at.after), &bound, |_| true, PAGE)
        .await?;
    for event in &page.items {
        if *stop.borrow() {
            break;
        }
        if let Err(e) = webhooks.deliver(url, event).await {
            tracing::error!(consumer = %consumer, event = %event.id, event_type = %event.event_type, error = %e, "webhook delivery given up");
        }
        at.version = state
            .repo
            .save_event_cursor(consumer, &event.id, at.version)
            .await?;
        at.after = event.id.clone();
    }
    Ok(page.items.len())
}

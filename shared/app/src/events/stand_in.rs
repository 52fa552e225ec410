//! A stand-in EventBridge for tests (feature `testing`): answers `PutEvents` in its JSON
//! protocol (awsJson1_1, `X-Amz-Target: AWSEvents.PutEvents`), records what it was sent, and
//! refuses chosen events (a partial failure: `FailedEntryCount`, per-entry `ErrorCode`) on
//! their first attempt (`flaky`) or on every one (`refused`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct StandInBus {
    /// Event ids refused on their first attempt, then accepted.
    pub flaky: BTreeSet<String>,
    /// Event ids refused on every attempt.
    pub refused: BTreeSet<String>,
    /// Attempts per event id.
    pub attempts: Mutex<BTreeMap<String, u32>>,
    /// Event ids accepted, in order.
    pub accepted: Mutex<Vec<String>>,
    /// Every entry sent, as sent.
    pub entries: Mutex<Vec<Value>>,
    /// Per request: its number of entries and its `X-Amz-Target`.
    pub requests: Mutex<Vec<(usize, String)>>,
}

impl StandInBus {
    /// Serves the bus on a loopback port; its URL (an `endpoint_url` for the SDK).
    pub async fn serve(self: &Arc<Self>) -> String {
        let app = Router::new()
            .fallback(axum::routing::post(put_events))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// The answer to one entry, counting its attempt.
    fn answer(&self, entry: &Value) -> Value {
        let detail: Value = entry["Detail"]
            .as_str()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        let id = detail["id"].as_str().unwrap_or_default().to_string();
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let n = attempts.entry(id.clone()).or_default();
            *n += 1;
            *n
        };
        if self.refused.contains(&id) || (self.flaky.contains(&id) && attempt == 1) {
            return json!({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"});
        }
        self.accepted.lock().unwrap().push(id);
        json!({"EventId": affnet_core::ids::new_id()})
    }
}

async fn put_events(
    State(bus): State<Arc<StandInBus>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    bus.requests.lock().unwrap().push((entries.len(), target));
    let results: Vec<Value> = entries.iter().map(|e| bus.answer(e)).collect();
    let failed = results
        .iter()
        .filter(|r| r.get("ErrorCode").is_some())
        .count();
    bus.entries.lock().unwrap().extend(entries);
    (
        [("content-type", "application/x-amz-json-1.1")],
        json!({"FailedEntryCount": failed, "Entries": results}).to_string(),
    )
}
